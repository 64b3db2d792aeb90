//! Pure Bybit frame → [`DataPacket`] functions. No clock, no I/O.

use std::borrow::Cow;

use md_core::{
    ms_to_ns, BookDelta, BookSnapshot, Control, DataPacket, ExchangeId, ParseError, Payload, Sequence, Side,
    Symbols, Trade, TradeId, UnixNanos,
};

use super::wire::{BookData, BookFrame, Envelope, TradeData};
use crate::common::levels::{Dec, Levels};
use crate::common::scan::{self, once, Scan};
use crate::common::{from_json, peek_first_string, DataField};

/// Parses one text frame of a v5 public connection.
pub fn parse_text(
    text: &str,
    symbols: &Symbols,
    local_ts: UnixNanos,
    out: &mut Vec<DataPacket>,
) -> Result<Control, ParseError> {
    // Hot path: data frames start with their topic and are deserialized in one pass.
    if let Some(topic) = peek_first_string(text, "topic") {
        if topic.starts_with("orderbook.") {
            // Hotter still: the strict scanner, with serde behind it for anything unexpected.
            if let Some(frame) = scan_book_frame(text) {
                return book(frame.kind, frame.ts, frame.data, symbols, local_ts, out);
            }
            let frame: BookFrame<'_> = from_json(text)?;
            return book(frame.kind, frame.ts, frame.data, symbols, local_ts, out);
        }
        if topic.starts_with("publicTrade.") {
            if let Some(data) = scan_trade_frame(text) {
                return trades(data, symbols, local_ts, out);
            }
            let frame: DataField<Vec<TradeData<'_>>> = from_json(text)?;
            return trades(frame.data, symbols, local_ts, out);
        }
    }
    let envelope: Envelope<'_> = from_json(text)?;
    if let (Some(topic), Some(data)) = (envelope.topic, envelope.data) {
        if topic.starts_with("orderbook.") {
            let kind = envelope.kind.unwrap_or_default();
            return book(kind, envelope.ts, from_json(data.get())?, symbols, local_ts, out);
        }
        if topic.starts_with("publicTrade.") {
            return trades(from_json(data.get())?, symbols, local_ts, out);
        }
        return Err(ParseError::unknown(text));
    }
    match (envelope.op, envelope.success) {
        (Some("pong"), _) | (Some("ping"), Some(true)) => Ok(Control::Pong),
        (Some(op), Some(true)) => Ok(Control::Subscribed { topic: op.to_owned() }),
        (_, Some(false)) => Ok(Control::Rejected {
            message: envelope.ret_msg.map_or_else(|| "request failed".to_owned(), Cow::into_owned),
        }),
        _ => Err(ParseError::unknown(text)),
    }
}

/// `{"topic":…,"ts":…,"type":"delta","data":{"s":…,"b":[…],"a":[…],"u":…}}` without serde;
/// `None` for anything unexpected.
fn scan_book_frame(text: &str) -> Option<BookFrame<'_>> {
    if !scan::enabled() {
        return None;
    }
    let mut scan = Scan::new(text);
    let (mut ts, mut kind, mut data) = (None, None, None);
    scan.object(|scan, key| match key {
        "ts" => once(&mut ts, scan.opt_i64()),
        "type" => once(&mut kind, scan.string()),
        "data" => once(&mut data, scan_book_data(scan)),
        _ => scan.skip(),
    })?;
    scan.end()?;
    scan::hit(Some(BookFrame { ts: ts.flatten(), kind: kind?, data: data? }))
}

fn scan_book_data<'a>(scan: &mut Scan<'a>) -> Option<BookData<'a>> {
    let (mut symbol, mut bids, mut asks, mut update_id) = (None, None, None, None);
    scan.object(|scan, key| match key {
        "s" => once(&mut symbol, scan.string()),
        "b" => once(&mut bids, scan.levels()),
        "a" => once(&mut asks, scan.levels()),
        "u" => once(&mut update_id, scan.u64()),
        _ => scan.skip(),
    })?;
    Some(BookData { symbol: symbol?, bids: Levels(bids?), asks: Levels(asks?), update_id: update_id? })
}

/// `{"topic":"publicTrade.…",…,"data":[{…},…]}` without serde; `None` for anything unexpected.
fn scan_trade_frame(text: &str) -> Option<Vec<TradeData<'_>>> {
    if !scan::enabled() {
        return None;
    }
    let mut scan = Scan::new(text);
    let mut data = None;
    scan.object(|scan, key| match key {
        "data" => {
            let mut trades = Vec::with_capacity(4);
            scan.array(|scan| {
                trades.push(scan_trade_data(scan)?);
                Some(())
            })?;
            once(&mut data, Some(trades))
        }
        _ => scan.skip(),
    })?;
    scan.end()?;
    scan::hit(data)
}

fn scan_trade_data<'a>(scan: &mut Scan<'a>) -> Option<TradeData<'a>> {
    let (mut id, mut time, mut price, mut qty, mut side, mut symbol) = (None, None, None, None, None, None);
    scan.object(|scan, key| match key {
        "i" => once(&mut id, scan.string()),
        "T" => once(&mut time, scan.i64()),
        "p" => once(&mut price, scan.decimal()),
        "v" => once(&mut qty, scan.decimal()),
        "S" => once(&mut side, scan.string()),
        "s" => once(&mut symbol, scan.string()),
        _ => scan.skip(),
    })?;
    Some(TradeData {
        trade_id: id?,
        trade_time: time?,
        price: Dec(price?),
        qty: Dec(qty?),
        side: side?,
        symbol: symbol?,
    })
}

fn book(
    kind: &str,
    ts: Option<i64>,
    data: BookData<'_>,
    symbols: &Symbols,
    local_ts: UnixNanos,
    out: &mut Vec<DataPacket>,
) -> Result<Control, ParseError> {
    let snapshot = match kind {
        "snapshot" => true,
        "delta" => false,
        other => return Err(ParseError::InvalidField { field: "type", detail: other.to_owned() }),
    };
    let symbol = symbols.canonical_or_guess(data.symbol);
    // `u == 1` means Bybit restarted its service: the delta is a full image (wire-formats.md §2.4).
    let payload = if snapshot || data.update_id == 1 {
        Payload::BookSnapshot(BookSnapshot { bids: data.bids.0, asks: data.asks.0, seq: data.update_id })
    } else {
        Payload::BookDelta(BookDelta {
            bids: data.bids.0,
            asks: data.asks.0,
            seq: Sequence { first: None, last: data.update_id, prev: None },
        })
    };
    let exchange_ts = ts.map(ms_to_ns).unwrap_or(local_ts);
    out.push(DataPacket { exchange: ExchangeId::Bybit, symbol, exchange_ts, local_ts, data: payload });
    Ok(Control::Data)
}

/// All or nothing: a half-parsed message would hide the bad trade.
fn trades(
    trades: Vec<TradeData<'_>>,
    symbols: &Symbols,
    local_ts: UnixNanos,
    out: &mut Vec<DataPacket>,
) -> Result<Control, ParseError> {
    let start = out.len();
    for data in trades {
        match trade(data, symbols, local_ts) {
            Ok(packet) => out.push(packet),
            Err(err) => {
                out.truncate(start);
                return Err(err);
            }
        }
    }
    Ok(Control::Data)
}

fn trade(data: TradeData<'_>, symbols: &Symbols, local_ts: UnixNanos) -> Result<DataPacket, ParseError> {
    let side = match data.side {
        "Buy" => Side::Buy,
        "Sell" => Side::Sell,
        other => return Err(ParseError::InvalidField { field: "S", detail: other.to_owned() }),
    };
    let trade =
        Trade { price: data.price.0, qty: data.qty.0, side, trade_id: TradeId::from_text(data.trade_id) };
    Ok(DataPacket {
        exchange: ExchangeId::Bybit,
        symbol: symbols.canonical_or_guess(data.symbol),
        exchange_ts: ms_to_ns(data.trade_time),
        local_ts,
        data: Payload::Trade(trade),
    })
}
