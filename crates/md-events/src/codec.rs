//! The record encoding: one normalized packet as a few varints and exact decimals.
//!
//! A chunk's records are encoded against the chunk's own running state ([`RecordEncoder`] /
//! [`RecordDecoder`], reset at every chunk), so every chunk decodes on its own: timestamps,
//! sequence numbers and numeric trade ids are written as differences from the previous record
//! of the chunk. The venue and symbol are not repeated: they are the file's (see
//! [`crate::format::FileHeader`]). Every value round-trips exactly: the clocks as i64
//! nanoseconds (differences wrap, so any pair of values works), decimals as their sign, scale
//! and 96-bit mantissa (so `1.50` stays `1.50`, bit for bit), a [`Status`] as its serde JSON.
//!
//! | record part | encoding |
//! |---|---|
//! | kind | u8: 1 trade, 2 book snapshot, 3 book delta, 4 status |
//! | `local_ts` | zigzag varint of `local_ts - previous local_ts` (the first: `- 0`) |
//! | `exchange_ts` | zigzag varint of `exchange_ts - local_ts` |
//! | trade | u8 flags (bit 0: sell; bit 1: text id), price, qty, id: zigzag varint of `id - previous numeric id`, or varint length + UTF-8 |
//! | book snapshot | zigzag varint `seq - previous seq`, varint bid count, bids, varint ask count, asks |
//! | book delta | u8 flags (bit 0: `first` present; bit 1: `prev` present), zigzag varint `last - previous seq`, [varint `last - first`], [varint `last - prev`], varint bid count, bids, varint ask count, asks |
//! | status | varint length + the `Status` as serde JSON |
//! | level | price, qty; the price as u8 `scale \| 0x40` + zigzag varint of `mantissa - previous price's mantissa` when the side's previous price (in this chunk) has the same scale, else as a decimal |
//! | decimal | u8 `scale \| sign << 7`, varint of the unsigned 96-bit mantissa |
//!
//! Varints are LEB128 (7 bits a byte, low first); zigzag maps `0, -1, 1, -2` to `0, 1, 2, 3`.

use md_core::{
    BookDelta, BookSnapshot, DataPacket, Decimal, ExchangeId, Level, Payload, Sequence, Side, Status, Symbol,
    Trade, TradeId,
};

use crate::EventsError;

const KIND_TRADE: u8 = 1;
const KIND_SNAPSHOT: u8 = 2;
const KIND_DELTA: u8 = 3;
const KIND_STATUS: u8 = 4;

/// Largest count of levels or bytes one record field may claim (a bound on what damaged bytes
/// whose checksum still matched could make the decoder allocate).
const MAX_COUNT: u64 = 1 << 24;

/// Appends `v` as an LEB128 varint.
pub fn put_varint(out: &mut Vec<u8>, mut v: u128) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Appends `v` zigzag-encoded as a varint.
pub fn put_zigzag(out: &mut Vec<u8>, v: i64) {
    put_varint(out, u128::from(((v << 1) ^ (v >> 63)) as u64));
}

/// Appends a decimal exactly: `scale | sign << 7`, then the unsigned mantissa as a varint.
pub fn put_decimal(out: &mut Vec<u8>, d: &Decimal) {
    let bytes = d.serialize();
    let flags = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    let scale = ((flags >> 16) & 0xff) as u8;
    let negative = flags >> 31 == 1;
    let mut mantissa = [0u8; 16];
    mantissa[..12].copy_from_slice(&bytes[4..16]);
    out.push(scale | (u8::from(negative) << 7));
    put_varint(out, u128::from_le_bytes(mantissa));
}

/// A read position in a record buffer.
#[derive(Debug)]
pub struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    /// A cursor at the start of `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    /// Bytes read so far.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Whether every byte was read.
    pub fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    fn bad(&self, what: &str) -> EventsError {
        EventsError::Decode(format!("{what} at record byte {}", self.pos))
    }

    /// One byte.
    pub fn u8(&mut self) -> Result<u8, EventsError> {
        let b = *self.buf.get(self.pos).ok_or_else(|| self.bad("unexpected end"))?;
        self.pos += 1;
        Ok(b)
    }

    /// `n` bytes.
    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8], EventsError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .ok_or_else(|| self.bad("unexpected end"))?;
        let b = &self.buf[self.pos..end];
        self.pos = end;
        Ok(b)
    }

    /// An LEB128 varint of at most 128 bits.
    pub fn varint(&mut self) -> Result<u128, EventsError> {
        let mut v: u128 = 0;
        for shift in (0..128).step_by(7) {
            let b = self.u8()?;
            let part = u128::from(b & 0x7f);
            if shift == 126 && part > 3 {
                return Err(self.bad("varint overflows 128 bits"));
            }
            v |= part << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(self.bad("varint too long"))
    }

    /// A varint that must fit a u64.
    pub fn u64(&mut self) -> Result<u64, EventsError> {
        let v = self.varint()?;
        u64::try_from(v).map_err(|_| self.bad("varint overflows 64 bits"))
    }

    /// A zigzag varint.
    pub fn zigzag(&mut self) -> Result<i64, EventsError> {
        let v = self.u64()?;
        Ok(((v >> 1) as i64) ^ -((v & 1) as i64))
    }

    fn count(&mut self) -> Result<usize, EventsError> {
        let n = self.u64()?;
        if n > MAX_COUNT || n as usize > self.buf.len() - self.pos.min(self.buf.len()) {
            return Err(self.bad("count larger than the record"));
        }
        Ok(n as usize)
    }

    /// A decimal as [`put_decimal`] wrote it.
    pub fn decimal(&mut self) -> Result<Decimal, EventsError> {
        let head = self.u8()?;
        let scale = u32::from(head & 0x7f);
        if scale > 28 {
            return Err(self.bad("decimal scale over 28"));
        }
        let mantissa = self.varint()?;
        if mantissa >> 96 != 0 {
            return Err(self.bad("decimal mantissa over 96 bits"));
        }
        let mut bytes = [0u8; 16];
        let flags = (scale << 16) | (u32::from(head >> 7) << 31);
        bytes[..4].copy_from_slice(&flags.to_le_bytes());
        bytes[4..16].copy_from_slice(&mantissa.to_le_bytes()[..12]);
        Ok(Decimal::deserialize(bytes))
    }
}

/// The running state records of one chunk are encoded against.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct State {
    local_ts: i64,
    seq: u64,
    trade_id: u64,
    /// The last price written of each side (bids, asks): the base of the next level's price.
    price: [Option<Decimal>; 2],
}

/// Encodes the records of one chunk (create a new one, or [`RecordEncoder::reset`], per chunk).
#[derive(Debug, Default)]
pub struct RecordEncoder {
    state: State,
}

impl RecordEncoder {
    /// An encoder at the start of a chunk.
    pub fn new() -> Self {
        Self::default()
    }

    /// Back to the start-of-chunk state.
    pub fn reset(&mut self) {
        self.state = State::default();
    }

    /// Appends `packet` (its venue and symbol excepted: they are the file's) to `out`. A
    /// payload kind this format cannot encode is refused and nothing is appended.
    pub fn encode(&mut self, packet: &DataPacket, out: &mut Vec<u8>) -> Result<(), EventsError> {
        let kind = match &packet.data {
            Payload::Trade(_) => KIND_TRADE,
            Payload::BookSnapshot(_) => KIND_SNAPSHOT,
            Payload::BookDelta(_) => KIND_DELTA,
            Payload::Status(_) => KIND_STATUS,
            other => return Err(EventsError::Unencodable(other.kind_name())),
        };
        let status_json = match &packet.data {
            Payload::Status(status) => {
                Some(serde_json::to_vec(status).map_err(|e| EventsError::Decode(format!("status: {e}")))?)
            }
            _ => None,
        };
        out.push(kind);
        put_zigzag(out, packet.local_ts.wrapping_sub(self.state.local_ts));
        put_zigzag(out, packet.exchange_ts.wrapping_sub(packet.local_ts));
        self.state.local_ts = packet.local_ts;
        match &packet.data {
            Payload::Trade(trade) => {
                let (text, id) = match &trade.trade_id {
                    TradeId::Number(n) => (false, *n),
                    TradeId::Text(_) => (true, 0),
                };
                out.push(u8::from(trade.side == Side::Sell) | (u8::from(text) << 1));
                put_decimal(out, &trade.price);
                put_decimal(out, &trade.qty);
                match &trade.trade_id {
                    TradeId::Number(_) => {
                        put_zigzag(out, id.wrapping_sub(self.state.trade_id) as i64);
                        self.state.trade_id = id;
                    }
                    TradeId::Text(t) => {
                        put_varint(out, t.len() as u128);
                        out.extend_from_slice(t.as_bytes());
                    }
                }
            }
            Payload::BookSnapshot(snapshot) => {
                put_zigzag(out, snapshot.seq.wrapping_sub(self.state.seq) as i64);
                self.state.seq = snapshot.seq;
                put_levels(out, &snapshot.bids, &mut self.state.price[0]);
                put_levels(out, &snapshot.asks, &mut self.state.price[1]);
            }
            Payload::BookDelta(delta) => {
                let seq = delta.seq;
                out.push(u8::from(seq.first.is_some()) | (u8::from(seq.prev.is_some()) << 1));
                put_zigzag(out, seq.last.wrapping_sub(self.state.seq) as i64);
                if let Some(first) = seq.first {
                    put_varint(out, u128::from(seq.last.wrapping_sub(first)));
                }
                if let Some(prev) = seq.prev {
                    put_varint(out, u128::from(seq.last.wrapping_sub(prev)));
                }
                self.state.seq = seq.last;
                put_levels(out, &delta.bids, &mut self.state.price[0]);
                put_levels(out, &delta.asks, &mut self.state.price[1]);
            }
            _ => {
                let json = status_json.unwrap_or_default();
                put_varint(out, json.len() as u128);
                out.extend_from_slice(&json);
            }
        }
        Ok(())
    }
}

fn put_levels(out: &mut Vec<u8>, levels: &[Level], prev: &mut Option<Decimal>) {
    put_varint(out, levels.len() as u128);
    for level in levels {
        put_price(out, &level.price, prev);
        put_decimal(out, &level.qty);
    }
}

/// Bit 6 of a decimal's head byte: the mantissa is a zigzag difference from the previous
/// price of the side (same scale).
const DELTA_FLAG: u8 = 0x40;

/// A level's price: as a difference from the side's previous price when both have the same
/// scale (and the price is not a negative zero), else as a plain decimal.
fn put_price(out: &mut Vec<u8>, price: &Decimal, prev: &mut Option<Decimal>) {
    let negative_zero = price.mantissa() == 0 && price.is_sign_negative();
    match prev {
        Some(p) if p.scale() == price.scale() && !negative_zero => {
            out.push(price.scale() as u8 | DELTA_FLAG);
            let diff = price.mantissa() - p.mantissa();
            put_varint(out, ((diff << 1) ^ (diff >> 127)) as u128);
        }
        _ => put_decimal(out, price),
    }
    *prev = Some(*price);
}

/// Decodes the records of one chunk of one file.
#[derive(Debug)]
pub struct RecordDecoder {
    exchange: ExchangeId,
    symbol: Symbol,
    state: State,
}

impl RecordDecoder {
    /// A decoder at the start of a chunk of the file of `exchange` / `symbol`.
    pub fn new(exchange: ExchangeId, symbol: Symbol) -> Self {
        Self { exchange, symbol, state: State::default() }
    }

    /// Back to the start-of-chunk state.
    pub fn reset(&mut self) {
        self.state = State::default();
    }

    /// The next record at `cursor`.
    pub fn decode(&mut self, c: &mut Cursor<'_>) -> Result<DataPacket, EventsError> {
        let kind = c.u8()?;
        let local_ts = self.state.local_ts.wrapping_add(c.zigzag()?);
        let exchange_ts = local_ts.wrapping_add(c.zigzag()?);
        let data = match kind {
            KIND_TRADE => {
                let flags = c.u8()?;
                if flags & !3 != 0 {
                    return Err(c.bad("unknown trade flags"));
                }
                let price = c.decimal()?;
                let qty = c.decimal()?;
                let trade_id = if flags & 2 == 0 {
                    let id = self.state.trade_id.wrapping_add(c.zigzag()? as u64);
                    self.state.trade_id = id;
                    TradeId::Number(id)
                } else {
                    let n = c.count()?;
                    let text = std::str::from_utf8(c.bytes(n)?).map_err(|_| c.bad("trade id not UTF-8"))?;
                    TradeId::Text(text.to_owned())
                };
                let side = if flags & 1 == 1 { Side::Sell } else { Side::Buy };
                Payload::Trade(Trade { price, qty, side, trade_id })
            }
            KIND_SNAPSHOT => {
                let seq = self.state.seq.wrapping_add(c.zigzag()? as u64);
                self.state.seq = seq;
                let bids = levels(c, &mut self.state.price[0])?;
                let asks = levels(c, &mut self.state.price[1])?;
                Payload::BookSnapshot(BookSnapshot { bids, asks, seq })
            }
            KIND_DELTA => {
                let flags = c.u8()?;
                if flags & !3 != 0 {
                    return Err(c.bad("unknown delta flags"));
                }
                let last = self.state.seq.wrapping_add(c.zigzag()? as u64);
                let first = if flags & 1 == 1 { Some(last.wrapping_sub(c.u64()?)) } else { None };
                let prev = if flags & 2 == 2 { Some(last.wrapping_sub(c.u64()?)) } else { None };
                self.state.seq = last;
                let bids = levels(c, &mut self.state.price[0])?;
                let asks = levels(c, &mut self.state.price[1])?;
                Payload::BookDelta(BookDelta { bids, asks, seq: Sequence { first, last, prev } })
            }
            KIND_STATUS => {
                let n = c.count()?;
                let status: Status =
                    serde_json::from_slice(c.bytes(n)?).map_err(|e| c.bad(&format!("status JSON: {e}")))?;
                Payload::Status(status)
            }
            other => return Err(c.bad(&format!("unknown record kind {other}"))),
        };
        self.state.local_ts = local_ts;
        Ok(DataPacket { exchange: self.exchange, symbol: self.symbol.clone(), exchange_ts, local_ts, data })
    }
}

fn levels(c: &mut Cursor<'_>, prev: &mut Option<Decimal>) -> Result<Vec<Level>, EventsError> {
    let n = c.count()?;
    let mut levels = Vec::with_capacity(n);
    for _ in 0..n {
        let price = price(c, prev)?;
        let qty = c.decimal()?;
        levels.push(Level { price, qty });
    }
    Ok(levels)
}

fn price(c: &mut Cursor<'_>, prev: &mut Option<Decimal>) -> Result<Decimal, EventsError> {
    let head = c.buf.get(c.pos).copied().ok_or_else(|| c.bad("unexpected end"))?;
    if head & DELTA_FLAG == 0 {
        let price = c.decimal()?;
        *prev = Some(price);
        return Ok(price);
    }
    c.pos += 1;
    let scale = u32::from(head & 0x1f);
    let base = prev.ok_or_else(|| c.bad("price difference without a previous price"))?;
    if head & 0xa0 != 0 || scale != base.scale() {
        return Err(c.bad("bad price difference head"));
    }
    let z = c.varint()?;
    let diff = ((z >> 1) as i128) ^ -((z & 1) as i128);
    let mantissa = base.mantissa().checked_add(diff).ok_or_else(|| c.bad("price out of range"))?;
    let price =
        Decimal::try_from_i128_with_scale(mantissa, scale).map_err(|_| c.bad("price out of range"))?;
    *prev = Some(price);
    Ok(price)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn varints_round_trip_at_the_edges() {
        for v in [0u128, 1, 127, 128, 300, u128::from(u64::MAX), u128::MAX] {
            let mut out = Vec::new();
            put_varint(&mut out, v);
            assert_eq!(Cursor::new(&out).varint().unwrap(), v);
        }
        for v in [0i64, -1, 1, i64::MIN, i64::MAX] {
            let mut out = Vec::new();
            put_zigzag(&mut out, v);
            assert_eq!(Cursor::new(&out).zigzag().unwrap(), v);
        }
        assert!(Cursor::new(&[0xff; 20]).varint().is_err());
    }
}
