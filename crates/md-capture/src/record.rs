//! Records: how one [`RawEvent`] (or a file's header) is laid out inside a block.
//!
//! A record is `u32 len | u32 crc32(body) | body` (little-endian), and a body is
//! `kind u8 | slot varint | conn varint | local_ts i64 | mono u64 | payload`, the payload's
//! fields per kind as in the README's table. Readers ignore bytes after the fields they know,
//! so a later version can append a field to a kind without breaking older readers.

use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use md_core::{
    ConnId, ExchangeId, RawEvent, RawKind, Removal, Symbol, SymbolInfo, Symbols, UnixNanos, WsMessage,
};

use serde::de::value::StrDeserializer;
use serde::Deserialize;

use crate::error::CaptureError;
use crate::format::{CaptureHeader, RecordKind};
use crate::wire::{put_bytes, put_varint, Cursor};

/// Bytes before a record's body: its length and checksum.
pub const RECORD_PREFIX: usize = 8;

/// A file's header record as read, before its venue name is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderRecord {
    /// The format version it names.
    pub format_version: u32,
    /// The venue's name as written.
    pub exchange: String,
    /// md's version.
    pub md_version: String,
    /// When the writer started.
    pub started_ns: UnixNanos,
    /// The caller's config.
    pub config: String,
}

/// One decoded record.
#[derive(Debug)]
pub enum Record {
    /// A file header.
    Header(HeaderRecord),
    /// An event.
    Event(RawEvent),
}

/// Appends the header record of a file whose first event has `local_ts` and `mono`.
pub fn encode_header(buf: &mut Vec<u8>, header: &CaptureHeader, local_ts: UnixNanos, mono: u64) {
    let start = begin(buf, RecordKind::Header, 0, 0, local_ts, mono);
    buf.extend_from_slice(&header.format_version.to_le_bytes());
    put_bytes(buf, header.exchange.as_str().as_bytes());
    put_bytes(buf, header.md_version.as_bytes());
    buf.extend_from_slice(&header.started_ns.to_le_bytes());
    put_bytes(buf, header.config.as_bytes());
    // A header is a few KiB at most: it cannot pass u32::MAX, so finishing cannot fail.
    let _ = finish(buf, start);
}

/// Appends one record for `event`; on error `buf` is left as it was.
pub fn encode_event(buf: &mut Vec<u8>, event: &RawEvent) -> Result<(), CaptureError> {
    let kind = kind_of(&event.kind)?;
    let start = begin(buf, kind, event.slot, event.conn.0, event.local_ts, event.mono_ns);
    if let Err(e) = payload(buf, &event.kind) {
        buf.truncate(start);
        return Err(e);
    }
    finish(buf, start)
}

/// The record kind of an event; an error for a [`RawKind`] this version does not know.
fn kind_of(kind: &RawKind) -> Result<RecordKind, CaptureError> {
    let ws = |m: &WsMessage, received: bool| match (m, received) {
        (WsMessage::Text(_), true) => RecordKind::ReceivedText,
        (WsMessage::Binary(_), true) => RecordKind::ReceivedBinary,
        (WsMessage::Ping(_), true) => RecordKind::ReceivedPing,
        (WsMessage::Pong(_), true) => RecordKind::ReceivedPong,
        (WsMessage::Close(_), true) => RecordKind::ReceivedClose,
        (WsMessage::Text(_), false) => RecordKind::SentText,
        (WsMessage::Binary(_), false) => RecordKind::SentBinary,
        (WsMessage::Ping(_), false) => RecordKind::SentPing,
        (WsMessage::Pong(_), false) => RecordKind::SentPong,
        (WsMessage::Close(_), false) => RecordKind::SentClose,
    };
    Ok(match kind {
        RawKind::Listing(_) => RecordKind::Listing,
        RawKind::Task { .. } => RecordKind::Task,
        RawKind::ListingAdopted => RecordKind::ListingAdopted,
        RawKind::Connected { .. } => RecordKind::Connected,
        RawKind::Received(m) => ws(m, true),
        RawKind::Sent(m) => ws(m, false),
        RawKind::Rest { .. } => RecordKind::Rest,
        RawKind::Symbols { .. } => RecordKind::Symbols,
        RawKind::Unsubscribed { .. } => RecordKind::Unsubscribed,
        RawKind::Disconnected(_) => RecordKind::Disconnected,
        // RawKind is non-exhaustive: a kind added to md-core after this encoder is refused, so
        // that it is counted and reported instead of written as something it is not.
        other => return Err(CaptureError::Encode { detail: format!("unknown raw event kind {other:?}") }),
    })
}

/// Writes the length/crc placeholder and the common fields; returns where the record starts.
fn begin(buf: &mut Vec<u8>, kind: RecordKind, slot: u64, conn: u64, ts: UnixNanos, mono: u64) -> usize {
    let start = buf.len();
    buf.extend_from_slice(&[0; RECORD_PREFIX]);
    buf.push(kind.byte());
    put_varint(buf, slot);
    put_varint(buf, conn);
    buf.extend_from_slice(&ts.to_le_bytes());
    buf.extend_from_slice(&mono.to_le_bytes());
    start
}

/// Fills in the length and checksum of the record that starts at `start`.
fn finish(buf: &mut Vec<u8>, start: usize) -> Result<(), CaptureError> {
    let body = start + RECORD_PREFIX;
    let Ok(len) = u32::try_from(buf.len() - body) else {
        let len = buf.len() - body;
        buf.truncate(start);
        return Err(CaptureError::Encode {
            detail: format!("record of {len} bytes is over the 4 GiB limit"),
        });
    };
    let crc = crc32fast::hash(&buf[body..]);
    buf[start..start + 4].copy_from_slice(&len.to_le_bytes());
    buf[start + 4..body].copy_from_slice(&crc.to_le_bytes());
    Ok(())
}

fn json<T: serde::Serialize + ?Sized>(buf: &mut Vec<u8>, value: &T) -> Result<(), CaptureError> {
    let text = serde_json::to_vec(value).map_err(|e| CaptureError::Encode { detail: e.to_string() })?;
    put_bytes(buf, &text);
    Ok(())
}

fn payload(buf: &mut Vec<u8>, kind: &RawKind) -> Result<(), CaptureError> {
    match kind {
        RawKind::Listing(symbols) => {
            // Sorted, so that the same listing always makes the same bytes.
            let mut infos: Vec<&SymbolInfo> = symbols.iter().collect();
            infos.sort_by(|a, b| a.native.cmp(&b.native));
            json(buf, &infos)?;
        }
        RawKind::Task { url } | RawKind::Connected { url } => put_bytes(buf, url.as_bytes()),
        RawKind::ListingAdopted => {}
        RawKind::Received(m) | RawKind::Sent(m) => match m {
            WsMessage::Text(b) | WsMessage::Binary(b) | WsMessage::Ping(b) | WsMessage::Pong(b) => {
                put_bytes(buf, b);
            }
            WsMessage::Close(None) => buf.push(0),
            WsMessage::Close(Some((code, reason))) => {
                buf.push(1);
                buf.extend_from_slice(&code.to_le_bytes());
                put_bytes(buf, reason.as_bytes());
            }
        },
        RawKind::Rest { symbol, url, body } => {
            put_bytes(buf, symbol.as_str().as_bytes());
            put_bytes(buf, url.as_bytes());
            put_bytes(buf, body.as_bytes());
        }
        RawKind::Symbols { added, announced } => {
            buf.push(u8::from(*announced));
            json(buf, added)?;
        }
        RawKind::Unsubscribed { symbols, reason } => {
            json(buf, reason)?;
            json(buf, symbols)?;
        }
        RawKind::Disconnected(reason) => json(buf, reason)?,
        other => return Err(CaptureError::Encode { detail: format!("unknown raw event kind {other:?}") }),
    }
    Ok(())
}

/// Roughly how many bytes an event holds (its frames and strings): what the writer's queue
/// counts against its memory budget. Cheap: no traversal beyond lengths.
pub fn approx_size(event: &RawEvent) -> usize {
    const FIXED: usize = 64;
    FIXED
        + match &event.kind {
            RawKind::Listing(symbols) => symbols.len() * 64,
            RawKind::Task { url } | RawKind::Connected { url } => url.len(),
            RawKind::Received(m) | RawKind::Sent(m) => match m {
                WsMessage::Text(b) | WsMessage::Binary(b) | WsMessage::Ping(b) | WsMessage::Pong(b) => {
                    b.len()
                }
                WsMessage::Close(c) => c.as_ref().map_or(0, |(_, r)| r.len()),
            },
            RawKind::Rest { url, body, .. } => url.len() + body.len(),
            RawKind::Symbols { added, .. } => added.len() * 64,
            RawKind::Unsubscribed { symbols, .. } => symbols.len() * 16,
            _ => 0,
        }
}

/// The records of an uncompressed block, each as the range of its body, checksum verified.
#[derive(Debug)]
pub struct Records<'a> {
    data: &'a [u8],
    pos: usize,
    index: u32,
}

/// A record that failed its framing or checksum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordFault {
    /// Its position in the block (0-based).
    pub index: u32,
    /// What failed.
    pub detail: String,
}

impl<'a> Records<'a> {
    /// The records of `data` (a whole uncompressed block).
    pub fn new(data: &'a [u8]) -> Self {
        Self { data, pos: 0, index: 0 }
    }
}

impl Iterator for Records<'_> {
    type Item = Result<Range<usize>, RecordFault>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.pos >= self.data.len() {
            return None;
        }
        let index = self.index;
        self.index += 1;
        let mut cursor = Cursor::new(&self.data[self.pos..]);
        let (Some(len), Some(crc)) = (cursor.u32(), cursor.u32()) else {
            self.pos = self.data.len();
            return Some(Err(RecordFault { index, detail: "record prefix cut short".into() }));
        };
        let start = self.pos + RECORD_PREFIX;
        let end = start.checked_add(len as usize).filter(|end| *end <= self.data.len());
        let Some(end) = end else {
            // The length is wrong, so nothing after it can be found: the rest of the block goes.
            self.pos = self.data.len();
            return Some(Err(RecordFault {
                index,
                detail: format!("record length {len} runs past the block"),
            }));
        };
        self.pos = end;
        if crc32fast::hash(&self.data[start..end]) != crc {
            return Some(Err(RecordFault { index, detail: "record checksum mismatch".into() }));
        }
        Some(Ok(start..end))
    }
}

/// Decodes the record whose body is `block[body]`; frames are slices of `block` (no copy).
/// `exchange` is the venue the file is of (records do not repeat it).
pub fn decode(block: &Bytes, body: Range<usize>, exchange: ExchangeId) -> Result<Record, String> {
    let data = block.get(body.clone()).ok_or("record outside the block")?;
    let mut c = Cursor::new(data);
    let cut = || "record cut short".to_string();
    let byte = c.u8().ok_or_else(cut)?;
    let kind = RecordKind::from_byte(byte).ok_or_else(|| format!("unknown record kind {byte}"))?;
    let slot = c.varint().ok_or_else(cut)?;
    let conn = ConnId(c.varint().ok_or_else(cut)?);
    let local_ts = c.i64().ok_or_else(cut)?;
    let mono_ns = c.u64().ok_or_else(cut)?;
    if kind == RecordKind::Header {
        return decode_header(&mut c).map(Record::Header).ok_or_else(cut);
    }
    let text = |c: &mut Cursor<'_>| c.str().map(str::to_owned).ok_or_else(cut);
    let raw = match kind {
        RecordKind::Header => return Err("unreachable header".into()),
        RecordKind::Listing => {
            let infos: Vec<SymbolInfo> = from_json(&mut c, "listing")?;
            RawKind::Listing(Arc::new(Symbols::new(infos)))
        }
        RecordKind::Task => RawKind::Task { url: text(&mut c)? },
        RecordKind::ListingAdopted => RawKind::ListingAdopted,
        RecordKind::Connected => RawKind::Connected { url: text(&mut c)? },
        RecordKind::ReceivedText
        | RecordKind::ReceivedBinary
        | RecordKind::ReceivedPing
        | RecordKind::ReceivedPong
        | RecordKind::ReceivedClose => RawKind::Received(decode_ws(kind, &mut c, block, body.start)?),
        RecordKind::SentText
        | RecordKind::SentBinary
        | RecordKind::SentPing
        | RecordKind::SentPong
        | RecordKind::SentClose => RawKind::Sent(decode_ws(kind, &mut c, block, body.start)?),
        RecordKind::Rest => {
            // As written, not re-validated: a guessed symbol (`XYZ`) must come back the same.
            let name = c.str().ok_or_else(cut)?;
            let symbol = Symbol::deserialize(StrDeserializer::<serde::de::value::Error>::new(name))
                .map_err(|e| format!("rest record: symbol: {e}"))?;
            RawKind::Rest { symbol, url: text(&mut c)?, body: text(&mut c)? }
        }
        RecordKind::Symbols => {
            let announced = match c.u8().ok_or_else(cut)? {
                0 => false,
                1 => true,
                other => return Err(format!("symbols record: announced flag {other}")),
            };
            RawKind::Symbols { added: from_json(&mut c, "symbols")?, announced }
        }
        RecordKind::Unsubscribed => {
            let reason: Removal = from_json(&mut c, "removal reason")?;
            RawKind::Unsubscribed { reason, symbols: from_json(&mut c, "symbols")? }
        }
        RecordKind::Disconnected => RawKind::Disconnected(from_json(&mut c, "disconnect reason")?),
    };
    Ok(Record::Event(RawEvent { exchange, slot, conn, local_ts, mono_ns, kind: raw }))
}

/// A WebSocket message of a `received_*` or `sent_*` kind. Frames are sliced out of the shared
/// block buffer (`base` is where the body starts in it), as the driver's frames share the
/// socket's read buffer.
fn decode_ws(kind: RecordKind, c: &mut Cursor<'_>, block: &Bytes, base: usize) -> Result<WsMessage, String> {
    let cut = || "record cut short".to_string();
    let mut frame = || -> Result<Bytes, String> {
        let range = c.bytes_range().ok_or_else(cut)?;
        Ok(block.slice(base + range.start..base + range.end))
    };
    Ok(match kind {
        RecordKind::ReceivedText | RecordKind::SentText => {
            let text = frame()?;
            std::str::from_utf8(&text).map_err(|_| "text frame is not UTF-8".to_string())?;
            WsMessage::Text(text)
        }
        RecordKind::ReceivedBinary | RecordKind::SentBinary => WsMessage::Binary(frame()?),
        RecordKind::ReceivedPing | RecordKind::SentPing => WsMessage::Ping(frame()?),
        RecordKind::ReceivedPong | RecordKind::SentPong => WsMessage::Pong(frame()?),
        _ => match c.u8().ok_or_else(cut)? {
            0 => WsMessage::Close(None),
            1 => {
                let code = c.u16().ok_or_else(cut)?;
                WsMessage::Close(Some((code, c.str().ok_or_else(cut)?.to_owned())))
            }
            other => return Err(format!("close flag {other}")),
        },
    })
}

fn decode_header(c: &mut Cursor<'_>) -> Option<HeaderRecord> {
    Some(HeaderRecord {
        format_version: c.u32()?,
        exchange: c.str()?.to_owned(),
        md_version: c.str()?.to_owned(),
        started_ns: c.i64()?,
        config: c.str()?.to_owned(),
    })
}

fn from_json<T: serde::de::DeserializeOwned>(c: &mut Cursor<'_>, what: &str) -> Result<T, String> {
    let bytes = c.bytes().ok_or_else(|| format!("{what}: cut short"))?;
    serde_json::from_slice(bytes).map_err(|e| format!("{what}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: RawKind) -> RawEvent {
        RawEvent { exchange: ExchangeId::Bybit, slot: 3, conn: ConnId(9), local_ts: -5, mono_ns: 77, kind }
    }

    #[test]
    fn a_record_is_length_checksum_body() {
        let mut buf = Vec::new();
        encode_event(&mut buf, &event(RawKind::Received(WsMessage::from_text("hi")))).unwrap();
        let len = u32::from_le_bytes(buf[0..4].try_into().unwrap()) as usize;
        assert_eq!(len + RECORD_PREFIX, buf.len());
        assert_eq!(u32::from_le_bytes(buf[4..8].try_into().unwrap()), crc32fast::hash(&buf[8..]));
        assert_eq!(buf[8], RecordKind::ReceivedText.byte());
        let block = Bytes::from(buf);
        let bodies: Vec<_> = Records::new(&block).collect();
        assert_eq!(bodies.len(), 1);
        let Record::Event(e) = decode(&block, bodies[0].clone().unwrap(), ExchangeId::Bybit).unwrap() else {
            panic!("not an event");
        };
        assert_eq!((e.slot, e.conn, e.local_ts, e.mono_ns), (3, ConnId(9), -5, 77));
        assert!(matches!(e.kind, RawKind::Received(WsMessage::Text(ref t)) if &t[..] == b"hi"));
    }

    #[test]
    fn a_bad_checksum_skips_one_record_and_a_bad_length_the_rest() {
        let mut buf = Vec::new();
        for text in ["a", "b", "c"] {
            encode_event(&mut buf, &event(RawKind::Sent(WsMessage::from_text(text)))).unwrap();
        }
        let one = buf.len() / 3;
        let mut flipped = buf.clone();
        flipped[one + 12] ^= 1;
        let results: Vec<_> = Records::new(&flipped).map(|r| r.map_err(|f| f.index)).collect();
        assert_eq!(results.len(), 3);
        assert!(results[0].is_ok() && results[2].is_ok());
        assert_eq!(results[1], Err(1));
        let mut long = buf.clone();
        long[one] = 0xff;
        let results: Vec<_> = Records::new(&long).collect();
        assert_eq!(results.len(), 2);
        assert!(results[0].is_ok() && results[1].is_err());
    }

    #[test]
    fn garbage_bodies_are_errors_not_panics() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for len in 0..200 {
            let data: Vec<u8> = (0..len)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    (seed % 21) as u8
                })
                .collect();
            let block = Bytes::from(data);
            let _ = decode(&block, 0..block.len(), ExchangeId::Binance);
        }
    }
}
