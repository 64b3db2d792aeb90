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
use super::wire::{DepthTick, Direction, Envelope, MbpImage, MbpTick, TradeEntry, TradeTick};
use crate::common::from_json;
use crate::common::levels::{Dec, Levels};
use crate::common::scan::{self, once, Scan};

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
    if let Some(result) = scan_push(text, symbols, local_ts, out) {
        return result;
    }
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

/// The hot path without serde: an `mbp` incremental or a `trade.detail` push read by the strict
/// scanner in one pass (`ch` first, then the tick). `None` for any other frame or anything the
/// scanner does not expect; serde then reads it, so both paths give the same packets.
fn scan_push(
    text: &str,
    symbols: &Symbols,
    local_ts: UnixNanos,
    out: &mut Vec<DataPacket>,
) -> Option<Result<Control, ParseError>> {
    if !scan::enabled() {
        return None;
    }
    let mut scan = Scan::new(text);
    let (mut ch, mut ts, mut tick) = (None, None, None);
    scan.object(|scan, key| match key {
        "ch" => once(&mut ch, scan.string()),
        "ts" => once(&mut ts, scan.opt_i64()),
        "tick" => {
            // The topic says what the tick is; HTX always sends it first.
            let (native, kind) = split_topic(ch?)?;
            let read = match classify(kind)? {
                Kind::Mbp => ScannedTick::Mbp(native, scan_mbp(scan)?),
                Kind::Trades => ScannedTick::Trades(native, scan_trades(scan)?),
                Kind::Depth | Kind::MbpRefresh => return None,
            };
            once(&mut tick, Some(read))
        }
        // The other envelope keys (ping, status, rep, ...) change what the frame is: serde's.
        "ping" | "status" | "subbed" | "unsubbed" | "rep" | "data" | "id" | "err-code" | "err-msg" => None,
        _ => scan.skip(),
    })?;
    scan.end()?;
    let ts = ts.flatten();
    let result = match scan::hit(tick)? {
        ScannedTick::Mbp(native, tick) => {
            out.push(mbp_delta(tick, ts, symbols.canonical_or_guess(native), local_ts));
            Ok(Control::Data)
        }
        ScannedTick::Trades(native, tick) => {
            trades(tick, symbols.canonical_or_guess(native), local_ts, out).map(|()| Control::Data)
        }
    };
    Some(result)
}

enum ScannedTick<'a> {
    Mbp(&'a str, MbpTick),
    Trades(&'a str, TradeTick<'a>),
}

fn scan_sides(levels: Option<Option<Vec<md_core::Level>>>) -> Option<Levels> {
    levels.flatten().map(Levels)
}

fn scan_mbp(scan: &mut Scan<'_>) -> Option<MbpTick> {
    let (mut seq, mut prev, mut bids, mut asks) = (None, None, None, None);
    scan.object(|scan, key| match key {
        "seqNum" => once(&mut seq, scan.u64()),
        "prevSeqNum" => once(&mut prev, scan.u64()),
        "bids" => once(&mut bids, if scan.null() { Some(None) } else { scan.levels().map(Some) }),
        "asks" => once(&mut asks, if scan.null() { Some(None) } else { scan.levels().map(Some) }),
        _ => scan.skip(),
    })?;
    Some(MbpTick { seq_num: seq?, prev_seq_num: prev?, bids: scan_sides(bids), asks: scan_sides(asks) })
}

fn scan_trades<'a>(scan: &mut Scan<'a>) -> Option<TradeTick<'a>> {
    let mut data = None;
    scan.object(|scan, key| match key {
        "data" => {
            let mut entries = Vec::with_capacity(2);
            scan.array(|scan| {
                entries.push(scan_trade_entry(scan)?);
                Some(())
            })?;
            once(&mut data, Some(entries))
        }
        _ => scan.skip(),
    })?;
    Some(TradeTick { data: data? })
}

fn scan_trade_entry<'a>(scan: &mut Scan<'a>) -> Option<TradeEntry<'a>> {
    let (mut id, mut trade_id, mut ts, mut price, mut amount, mut direction) =
        (None, None, None, None, None, None);
    scan.object(|scan, key| match key {
        "id" => once(&mut id, scan.raw().and_then(|raw| serde_json::from_str::<&RawValue>(raw).ok())),
        "tradeId" => once(&mut trade_id, scan.opt_u64()),
        "ts" => once(&mut ts, scan.i64()),
        "price" => once(&mut price, scan.decimal()),
        "amount" => once(&mut amount, scan.decimal()),
        "direction" => once(
            &mut direction,
            match scan.string()? {
                "buy" => Some(Direction::Buy),
                "sell" => Some(Direction::Sell),
                _ => None,
            },
        ),
        _ => scan.skip(),
    })?;
    Some(TradeEntry {
        id,
        trade_id: trade_id.flatten(),
        ts: ts?,
        price: Dec(price?),
        amount: Dec(amount?),
        direction: direction?,
    })
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
