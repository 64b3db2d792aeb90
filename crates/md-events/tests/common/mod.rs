//! Deterministic packet generators shared by the tests.
#![allow(dead_code, clippy::unwrap_used)]

use md_core::{
    BookDelta, BookSnapshot, ConnId, DataPacket, Decimal, DisconnectReason, ExchangeId, Gap, Level, Payload,
    Removal, Sequence, Side, Status, Symbol, Trade, TradeId,
};

/// 2026-12-01T10:00:00Z in ns.
pub const T0: i64 = 1_796_119_200_000_000_000;
pub const SEC: i64 = 1_000_000_000;
pub const HOUR: i64 = 3600 * SEC;

/// xorshift64*: deterministic and good enough for test data.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    pub fn decimal(&mut self) -> Decimal {
        match self.below(6) {
            0 => Decimal::new(self.below(10_000_000) as i64, self.below(9) as u32),
            1 => Decimal::from_i128_with_scale(
                (self.next() as i128) << self.below(32) | self.next() as i128 & 0xffff,
                self.below(29) as u32,
            ),
            2 => Decimal::new(-(self.below(1_000_000) as i64), self.below(12) as u32),
            3 => Decimal::new(0, self.below(29) as u32),
            4 => Decimal::MAX,
            _ => Decimal::new(self.next() as i64, 8),
        }
    }

    pub fn levels(&mut self, max: u64) -> Vec<Level> {
        (0..self.below(max + 1)).map(|_| Level::new(self.decimal(), self.decimal())).collect()
    }

    pub fn opt(&mut self) -> Option<u64> {
        (self.below(2) == 0).then(|| self.next())
    }

    pub fn status(&mut self) -> Status {
        let conn = ConnId(self.next());
        match self.below(10) {
            0 => Status::Connected { conn },
            1 => Status::Disconnected {
                conn,
                reason: DisconnectReason::ClosedByVenue {
                    close_code: Some(1006),
                    detail: "gone \"away\" ✓".into(),
                },
            },
            2 => Status::Disconnected { conn, reason: DisconnectReason::Silent { timeout_ms: self.next() } },
            3 => Status::GapDetected {
                conn,
                gap: Gap::Sequence {
                    book_seq: self.next(),
                    first: self.opt(),
                    last: self.next(),
                    prev: self.opt(),
                },
            },
            4 => Status::GapDetected { conn, gap: Gap::Crossed { bid: self.decimal(), ask: self.decimal() } },
            5 => Status::GapDetected { conn, gap: Gap::PendingOverflow { dropped: 12 } },
            6 => Status::Resynced { conn },
            7 => Status::Subscribed { conn },
            8 => Status::Unsubscribed { conn, reason: Removal::Delisted },
            _ => Status::Disconnected { conn, reason: DisconnectReason::Rotation },
        }
    }

    /// Any packet, any values (extremes included).
    pub fn packet(&mut self, exchange: ExchangeId, symbol: &Symbol) -> DataPacket {
        let data = match self.below(4) {
            0 => Payload::Trade(Trade {
                price: self.decimal(),
                qty: self.decimal(),
                side: if self.below(2) == 0 { Side::Buy } else { Side::Sell },
                trade_id: if self.below(3) == 0 {
                    TradeId::Text(format!("{:x}-ü", self.next()))
                } else {
                    TradeId::Number(self.next())
                },
            }),
            1 => Payload::BookSnapshot(BookSnapshot {
                bids: self.levels(20),
                asks: self.levels(20),
                seq: self.next(),
            }),
            2 => Payload::BookDelta(BookDelta {
                bids: self.levels(6),
                asks: self.levels(6),
                seq: Sequence { first: self.opt(), last: self.next(), prev: self.opt() },
            }),
            _ => Payload::Status(self.status()),
        };
        let ts = |r: &mut Self| match r.below(5) {
            0 => r.next() as i64,
            1 => i64::MIN,
            2 => i64::MAX,
            _ => T0 + r.below(1_000_000_000_000) as i64,
        };
        DataPacket { exchange, symbol: symbol.clone(), exchange_ts: ts(self), local_ts: ts(self), data }
    }
}

pub fn btc() -> Symbol {
    Symbol::new("BTC", "USDT")
}

pub fn eth() -> Symbol {
    Symbol::new("ETH", "USDT")
}

fn d(text: &str) -> Decimal {
    md_core::parse_decimal(text).unwrap()
}

/// A Binance-like depth update: 5 bids and 5 asks near a drifting mid, `U..u` ids.
pub fn binance_delta(i: u64, symbol: &Symbol, local_ts: i64, rng: &mut Rng) -> DataPacket {
    let mid = 9_000_000 + (i as i64 % 5000) - 2500;
    let level = |rng: &mut Rng, off: i64| {
        let qty = if rng.below(5) == 0 { 0 } else { rng.below(5_000_000) as i64 };
        Level::new(Decimal::new(mid + off, 2), Decimal::new(qty, 8))
    };
    let bids = (0..5)
        .map(|k| {
            let off = -(1 + k * rng.below(3) as i64);
            level(rng, off)
        })
        .collect();
    let asks = (0..5)
        .map(|k| {
            let off = 1 + k * rng.below(3) as i64;
            level(rng, off)
        })
        .collect();
    let last = 1_000_000 + i * 7;
    DataPacket {
        exchange: ExchangeId::Binance,
        symbol: symbol.clone(),
        exchange_ts: (local_ts / 1_000_000 - 3) * 1_000_000,
        local_ts,
        data: Payload::BookDelta(BookDelta {
            bids,
            asks,
            seq: Sequence { first: Some(last - 6), last, prev: None },
        }),
    }
}

/// A Binance-like trade.
pub fn binance_trade(i: u64, symbol: &Symbol, local_ts: i64, rng: &mut Rng) -> DataPacket {
    DataPacket {
        exchange: ExchangeId::Binance,
        symbol: symbol.clone(),
        exchange_ts: (local_ts / 1_000_000 - 2) * 1_000_000,
        local_ts,
        data: Payload::Trade(Trade {
            price: Decimal::new(9_000_000 + (i as i64 % 3000), 2),
            qty: Decimal::new(rng.below(100_000_000) as i64, 8),
            side: if rng.below(2) == 0 { Side::Buy } else { Side::Sell },
            trade_id: TradeId::Number(4_000_000_000 + i),
        }),
    }
}

/// A snapshot of `n` levels a side.
pub fn snapshot(symbol: &Symbol, local_ts: i64, seq: u64, n: i64) -> DataPacket {
    DataPacket {
        exchange: ExchangeId::Binance,
        symbol: symbol.clone(),
        exchange_ts: local_ts - 1000,
        local_ts,
        data: Payload::BookSnapshot(BookSnapshot {
            bids: (0..n).map(|k| Level::new(d("100") - Decimal::new(k, 1), d("1.5"))).collect(),
            asks: (0..n).map(|k| Level::new(d("100.1") + Decimal::new(k, 1), d("2.5"))).collect(),
            seq,
        }),
    }
}

/// A simple ordered stream: packets of `symbol` every `step` ns from `start`, trade and delta
/// alternating, exchange time `skew` ns behind local time.
pub fn stream(symbol: &Symbol, start: i64, step: i64, n: u64, skew: i64) -> Vec<DataPacket> {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ n);
    (0..n)
        .map(|i| {
            let local = start + i as i64 * step;
            let mut p = if i % 2 == 0 {
                binance_trade(i, symbol, local, &mut rng)
            } else {
                binance_delta(i, symbol, local, &mut rng)
            };
            p.exchange_ts = local - skew;
            p
        })
        .collect()
}

/// Every decimal of a packet as its exact 16 bytes, and the packet's Debug text: equal for
/// bit-identical packets only (`Decimal`'s `==` says `1.0 == 1.00`).
pub fn exact(p: &DataPacket) -> (String, Vec<[u8; 16]>) {
    let mut decimals = Vec::new();
    let mut levels = |ls: &[Level]| {
        for l in ls {
            decimals.push(l.price.serialize());
            decimals.push(l.qty.serialize());
        }
    };
    match &p.data {
        Payload::Trade(t) => {
            decimals.push(t.price.serialize());
            decimals.push(t.qty.serialize());
        }
        Payload::BookSnapshot(s) => {
            levels(&s.bids);
            levels(&s.asks);
        }
        Payload::BookDelta(s) => {
            levels(&s.bids);
            levels(&s.asks);
        }
        _ => {}
    }
    (format!("{p:?}"), decimals)
}
