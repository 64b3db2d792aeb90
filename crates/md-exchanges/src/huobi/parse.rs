//! Pure HTX frame → [`DataPacket`] functions. No clock, no I/O.
//!
//! Server frames are binary, GZIP-compressed JSON: [`parse_binary`] inflates them (bounded by
//! [`MAX_DECOMPRESSED_BYTES`]) into a per-thread buffer it reuses, then hands the text to
//! [`parse_text`], which also takes plain JSON directly (tests, simulators).

use std::cell::RefCell;
use std::io::Read;

use flate2::bufread::GzDecoder;
use md_core::{
    ms_to_ns, BookDelta, BookSnapshot, Control, DataPacket, ExchangeId, ParseError, Payload, Sequence, Side,
    Symbol, Symbols, Trade, TradeId, UnixNanos,
};
use serde_json::value::RawValue;

use super::gzip::Inflater;
use super::wire::{DepthTick, Direction, Envelope, MbpImage, MbpTick, TradeTick};
use crate::common::from_json;

/// The largest decompressed frame accepted; a bigger one (a gzip bomb) is refused with
/// [`ParseError::FrameTooLarge`] before it can exhaust memory. The largest real HTX frames
/// (150-level books) inflate to a few tens of KiB.
pub const MAX_DECOMPRESSED_BYTES: usize = 16 * 1024 * 1024;

thread_local! {
    /// Each thread inflates with its own state and buffer: no locking, no allocation per frame.
    static INFLATER: RefCell<Inflater> = RefCell::new(Inflater::new());
}

/// Inflates one gzip member from `bytes` into `buf` (cleared first) and returns it as text,
/// with a fresh decoder: the simple reference that the reused [`Inflater`] is tested against.
///
/// A corrupt or truncated stream is [`ParseError::Decompress`], a result larger than
/// [`MAX_DECOMPRESSED_BYTES`] [`ParseError::FrameTooLarge`], non-UTF-8 text [`ParseError::Utf8`].
pub fn gunzip<'b>(bytes: &[u8], buf: &'b mut Vec<u8>) -> Result<&'b str, ParseError> {
    buf.clear();
    // Read one byte past the limit to tell "exactly at the limit" from "over it".
    let limit = u64::try_from(MAX_DECOMPRESSED_BYTES).unwrap_or(u64::MAX).saturating_add(1);
    GzDecoder::new(bytes).take(limit).read_to_end(buf).map_err(ParseError::Decompress)?;
    if buf.len() > MAX_DECOMPRESSED_BYTES {
        return Err(ParseError::FrameTooLarge { len: buf.len(), max: MAX_DECOMPRESSED_BYTES });
    }
    std::str::from_utf8(buf).map_err(ParseError::Utf8)
}

/// Parses one binary frame: GZIP-compressed JSON, as HTX sends every server message.
pub fn parse_binary(
    bytes: &[u8],
    symbols: &Symbols,
    local_ts: UnixNanos,
    out: &mut Vec<DataPacket>,
) -> Result<Control, ParseError> {
    let reused = INFLATER.try_with(|cell| {
        let mut inflater = cell.try_borrow_mut().ok()?;
        Some(inflater.inflate(bytes).and_then(|text| parse_text(text, symbols, local_ts, out)))
    });
    match reused {
        Ok(Some(result)) => result,
        // Thread-local storage torn down or (impossible today) re-entered: inflate afresh.
        _ => Inflater::new().inflate(bytes).and_then(|text| parse_text(text, symbols, local_ts, out)),
    }
}

/// Parses one frame's JSON text (already inflated, or sent as plain text by a simulator).
pub fn parse_text(
    text: &str,
    symbols: &Symbols,
    local_ts: UnixNanos,
    out: &mut Vec<DataPacket>,
) -> Result<Control, ParseError> {
    let envelope: Envelope<'_> = from_json(text)?;
    if let Some(ping) = envelope.ping {
        return Ok(Control::Reply(format!("{{\"pong\":{ping}}}")));
    }
    if let Some(ch) = envelope.ch {
        let tick = envelope.tick.ok_or_else(|| ParseError::unknown(text))?;
        return parse_push(ch, tick.get(), envelope.ts, text, symbols, local_ts, out);
    }
    if envelope.status == Some("error") || envelope.err_code.is_some() {
        return Ok(rejected(&envelope));
    }
    if let Some(rep) = envelope.rep {
        return parse_rep(rep, envelope.data, envelope.ts, text, symbols, local_ts, out);
    }
    if let Some(topic) = envelope.subbed.or(envelope.unsubbed) {
        // An unsub ack is a confirmed request too; md never unsubscribes, so it only shows in logs.
        return Ok(Control::Subscribed { topic: topic.into_owned() });
    }
    Err(ParseError::unknown(text))
}

fn rejected(envelope: &Envelope<'_>) -> Control {
    let code = envelope.err_code.as_deref().unwrap_or("?");
    let msg = envelope.err_msg.as_deref().unwrap_or_default();
    let message = match envelope.id {
        Some(id) => format!("{code}: {msg} (id {})", id.get().trim_matches('"')),
        None => format!("{code}: {msg}"),
    };
    Control::Rejected { message }
}

/// What a topic's suffix (after `market.<symbol>.`) carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// `trade.detail`.
    Trades,
    /// `depth.step0` .. `depth.step5`: full images.
    Depth,
    /// `mbp.5`, `mbp.20`, `mbp.150`: incrementals.
    Mbp,
    /// `mbp.refresh.5|10|20`: full images with `seqNum`.
    MbpRefresh,
}

fn is_digits(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())
}

fn classify(kind: &str) -> Option<Kind> {
    if kind == "trade.detail" {
        return Some(Kind::Trades);
    }
    if let Some(step) = kind.strip_prefix("depth.step") {
        return is_digits(step).then_some(Kind::Depth);
    }
    let levels = kind.strip_prefix("mbp.")?;
    match levels.strip_prefix("refresh.") {
        Some(refresh) => is_digits(refresh).then_some(Kind::MbpRefresh),
        None => is_digits(levels).then_some(Kind::Mbp),
    }
}

/// `market.btcusdt.trade.detail` → (`btcusdt`, `trade.detail`).
fn split_topic(topic: &str) -> Option<(&str, &str)> {
    let (native, kind) = topic.strip_prefix("market.")?.split_once('.')?;
    (!native.is_empty()).then_some((native, kind))
}

/// A `ch` push, dispatched on its topic.
fn parse_push(
    ch: &str,
    tick: &str,
    ts: Option<i64>,
    text: &str,
    symbols: &Symbols,
    local_ts: UnixNanos,
    out: &mut Vec<DataPacket>,
) -> Result<Control, ParseError> {
    let (native, kind) = split_topic(ch).ok_or_else(|| ParseError::unknown(text))?;
    let kind = classify(kind).ok_or_else(|| ParseError::unknown(text))?;
    match kind {
        Kind::Trades => trades(from_json(tick)?, symbols.canonical_or_guess(native), local_ts, out)?,
        Kind::Depth => out.push(depth(from_json(tick)?, ts, symbols.canonical_or_guess(native), local_ts)),
        Kind::Mbp => out.push(mbp_delta(from_json(tick)?, ts, symbols.canonical_or_guess(native), local_ts)),
        Kind::MbpRefresh => {
            out.push(mbp_image(from_json(tick)?, ts, symbols.canonical_or_guess(native), local_ts));
        }
    }
    Ok(Control::Data)
}

/// A `req` reply: only the mbp refresh image is a packet; md pulls nothing else.
fn parse_rep(
    rep: &str,
    data: Option<&RawValue>,
    ts: Option<i64>,
    text: &str,
    symbols: &Symbols,
    local_ts: UnixNanos,
    out: &mut Vec<DataPacket>,
) -> Result<Control, ParseError> {
    let (native, kind) = split_topic(rep).ok_or_else(|| ParseError::unknown(text))?;
    match (classify(kind), data) {
        (Some(Kind::Mbp), Some(data)) => {
            out.push(mbp_image(from_json(data.get())?, ts, symbols.canonical_or_guess(native), local_ts));
            Ok(Control::Data)
        }
        _ => Err(ParseError::unknown(text)),
    }
}

fn packet(symbol: Symbol, exchange_ts: UnixNanos, local_ts: UnixNanos, data: Payload) -> DataPacket {
    DataPacket { exchange: ExchangeId::Huobi, symbol, exchange_ts, local_ts, data }
}

/// The legacy `id` as text, for trades without `tradeId`: digits as sent (never through a
/// `u64`, which it overflows), or a string's contents.
fn legacy_id(raw: &RawValue) -> Option<String> {
    let text = raw.get();
    if let Some(inner) = text.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
        return (!inner.is_empty()).then(|| inner.to_owned());
    }
    is_digits(text).then(|| text.to_owned())
}

fn trades(
    tick: TradeTick<'_>,
    symbol: Symbol,
    local_ts: UnixNanos,
    out: &mut Vec<DataPacket>,
) -> Result<(), ParseError> {
    let start = out.len();
    out.reserve(tick.data.len());
    for entry in tick.data {
        let trade_id = match (entry.trade_id, entry.id.and_then(legacy_id)) {
            (Some(id), _) => TradeId::Number(id),
            (None, Some(text)) => TradeId::Text(text),
            (None, None) => {
                out.truncate(start);
                return Err(ParseError::InvalidField {
                    field: "tradeId",
                    detail: "neither tradeId nor id".into(),
                });
            }
        };
        let side = match entry.direction {
            Direction::Buy => Side::Buy,
            Direction::Sell => Side::Sell,
        };
        let trade = Trade { price: entry.price.0, qty: entry.amount.0, side, trade_id };
        out.push(packet(symbol.clone(), ms_to_ns(entry.ts), local_ts, Payload::Trade(trade)));
    }
    Ok(())
}

fn depth(tick: DepthTick, ts: Option<i64>, symbol: Symbol, local_ts: UnixNanos) -> DataPacket {
    // The image's own time; the push time when the tick has none.
    let exchange_ts = tick.ts.or(ts).map_or(local_ts, ms_to_ns);
    let snap = BookSnapshot {
        bids: tick.bids.unwrap_or_default().0,
        asks: tick.asks.unwrap_or_default().0,
        seq: tick.version,
    };
    packet(symbol, exchange_ts, local_ts, Payload::BookSnapshot(snap))
}

fn mbp_delta(tick: MbpTick, ts: Option<i64>, symbol: Symbol, local_ts: UnixNanos) -> DataPacket {
    let delta = BookDelta {
        bids: tick.bids.unwrap_or_default().0,
        asks: tick.asks.unwrap_or_default().0,
        seq: Sequence { first: None, last: tick.seq_num, prev: Some(tick.prev_seq_num) },
    };
    packet(symbol, ts.map_or(local_ts, ms_to_ns), local_ts, Payload::BookDelta(delta))
}

fn mbp_image(image: MbpImage, ts: Option<i64>, symbol: Symbol, local_ts: UnixNanos) -> DataPacket {
    let snap = BookSnapshot {
        bids: image.bids.unwrap_or_default().0,
        asks: image.asks.unwrap_or_default().0,
        seq: image.seq_num,
    };
    packet(symbol, ts.map_or(local_ts, ms_to_ns), local_ts, Payload::BookSnapshot(snap))
}
