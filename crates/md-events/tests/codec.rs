//! Every packet kind round-trips bit for bit, extremes included; garbage never panics.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use common::*;
use md_core::{
    BookDelta, ConnId, DataPacket, Decimal, DisconnectReason, ExchangeId, Level, Payload, Sequence, Side,
    Status, Symbol, Trade, TradeId,
};
use md_events::codec::{put_decimal, Cursor, RecordDecoder, RecordEncoder};

fn round_trip(packets: &[DataPacket]) {
    let mut enc = RecordEncoder::new();
    let mut buf = Vec::new();
    for p in packets {
        enc.encode(p, &mut buf).unwrap();
    }
    let first = &packets[0];
    let mut dec = RecordDecoder::new(first.exchange, first.symbol.clone());
    let mut c = Cursor::new(&buf);
    for p in packets {
        let got = dec.decode(&mut c).unwrap();
        assert_eq!(&got, p);
        assert_eq!(exact(&got), exact(p));
    }
    assert!(c.is_empty());
}

fn trade(price: Decimal, qty: Decimal) -> DataPacket {
    DataPacket {
        exchange: ExchangeId::Huobi,
        symbol: btc(),
        exchange_ts: 1,
        local_ts: 2,
        data: Payload::Trade(Trade { price, qty, side: Side::Buy, trade_id: TradeId::Number(u64::MAX) }),
    }
}

#[test]
fn extreme_decimals_are_exact() {
    let negative_zero = {
        let mut b = Decimal::ZERO.serialize();
        b[3] = 0x80;
        b[2] = 8;
        Decimal::deserialize(b)
    };
    assert!(negative_zero.is_sign_negative());
    let cases = [
        Decimal::ZERO,
        Decimal::new(0, 8),
        negative_zero,
        Decimal::MAX,
        Decimal::MIN,
        Decimal::from_parts(u32::MAX, u32::MAX, u32::MAX, true, 28),
        Decimal::from_parts(1, 0, 0, false, 28),
        md_core::parse_decimal("26.755973959140651643").unwrap(),
        md_core::parse_decimal("1234567890123456789012345678").unwrap(),
        md_core::parse_decimal("0.000000000000000000000000001").unwrap(),
        md_core::parse_decimal("9.121E-7").unwrap(),
        md_core::parse_decimal("1.50").unwrap(),
        md_core::parse_decimal("1.5E+3").unwrap(),
    ];
    for d in cases {
        let mut buf = Vec::new();
        put_decimal(&mut buf, &d);
        let back = Cursor::new(&buf).decimal().unwrap();
        assert_eq!(back.serialize(), d.serialize(), "{d:?}");
        assert_eq!(back.to_string(), d.to_string());
        round_trip(&[trade(d, d)]);
    }
    // 1.50 and 1.5 are == as numbers but stay distinct in the file.
    let mut buf = Vec::new();
    put_decimal(&mut buf, &md_core::parse_decimal("1.50").unwrap());
    assert_eq!(Cursor::new(&buf).decimal().unwrap().to_string(), "1.50");
}

#[test]
fn every_payload_kind_round_trips() {
    let s = btc();
    let status = |st: Status| DataPacket {
        exchange: ExchangeId::Binance,
        symbol: Symbol::wildcard(),
        exchange_ts: i64::MIN,
        local_ts: i64::MAX,
        data: Payload::Status(st),
    };
    round_trip(&[
        snapshot(&s, T0, 42, 20),
        binance_delta(1, &s, T0 + 5, &mut Rng(3)),
        binance_trade(2, &s, T0 + 9, &mut Rng(4)),
        DataPacket {
            exchange: ExchangeId::Binance,
            symbol: s.clone(),
            exchange_ts: 0,
            local_ts: -5,
            data: Payload::BookDelta(BookDelta {
                bids: vec![],
                asks: vec![Level::new(Decimal::MAX, Decimal::MIN)],
                seq: Sequence { first: Some(u64::MAX), last: 0, prev: Some(0) },
            }),
        },
        DataPacket {
            exchange: ExchangeId::Binance,
            symbol: s.clone(),
            exchange_ts: i64::MAX,
            local_ts: i64::MIN,
            data: Payload::Trade(Trade {
                price: Decimal::ONE,
                qty: Decimal::ONE,
                side: Side::Sell,
                trade_id: TradeId::Text("4c7b6bdc-b4a3-ü".into()),
            }),
        },
    ]);
    round_trip(&[
        status(Status::Connected { conn: ConnId(u64::MAX) }),
        status(Status::Disconnected {
            conn: ConnId(1),
            reason: DisconnectReason::ConnectFailed { detail: "tls: \u{0}\n".into() },
        }),
        status(Status::Disconnected { conn: ConnId(1), reason: DisconnectReason::VenueShutdown }),
    ]);
}

#[test]
fn generated_packets_round_trip() {
    let mut rng = Rng(0xDEAD_BEEF);
    for exchange in
        [ExchangeId::Binance, ExchangeId::Bybit, ExchangeId::Huobi, ExchangeId::Bitstamp, ExchangeId::Custom]
    {
        for _ in 0..40 {
            let n = 1 + rng.below(60) as usize;
            let packets: Vec<_> = (0..n).map(|_| rng.packet(exchange, &eth())).collect();
            round_trip(&packets);
        }
    }
}

#[test]
fn garbage_never_panics() {
    let mut rng = Rng(77);
    let mut enc = RecordEncoder::new();
    let mut good = Vec::new();
    for _ in 0..50 {
        enc.encode(&rng.packet(ExchangeId::Bybit, &btc()), &mut good).unwrap();
    }
    for round in 0..2000 {
        let mut buf = good.clone();
        if round % 2 == 0 {
            for _ in 0..1 + rng.below(8) {
                let i = rng.below(buf.len() as u64) as usize;
                buf[i] = rng.next() as u8;
            }
        } else {
            buf = (0..rng.below(300)).map(|_| rng.next() as u8).collect();
        }
        let mut dec = RecordDecoder::new(ExchangeId::Bybit, btc());
        let mut c = Cursor::new(&buf);
        while !c.is_empty() {
            if dec.decode(&mut c).is_err() {
                break;
            }
        }
    }
}
