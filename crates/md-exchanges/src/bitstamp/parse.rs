//! Pure Bitstamp frame → [`DataPacket`] functions. No clock, no I/O.

use md_core::{
    BookDelta, BookSnapshot, Control, DataPacket, ExchangeId, ParseError, Payload, Sequence, Side, Symbol,
    Symbols, Trade, TradeId, UnixNanos,
};

use super::subscribe::{BOOK_PREFIX, TRADES_PREFIX};
use super::wire::{BookData, Envelope, ErrorData, OrderBook, TradeData};
use crate::common::from_json;

/// Parses one text frame of a WebSocket v2 connection.
pub fn parse_text(
    text: &str,
    symbols: &Symbols,
    local_ts: UnixNanos,
    out: &mut Vec<DataPacket>,
) -> Result<Control, ParseError> {
    let envelope: Envelope<'_> = from_json(text)?;
    let (Some(event), Some(channel)) = (envelope.event.as_deref(), envelope.channel.as_deref()) else {
        return Err(ParseError::unknown(text));
    };
    let data = envelope.data.map_or("null", |raw| raw.get());
    match event {
        "data" => {
            // `order_book_` (top-100 images) and `detail_order_book_` are channels md does not
            // subscribe: a top-100 image is not the full-depth book the diffs maintain.
            let native = channel.strip_prefix(BOOK_PREFIX).ok_or_else(|| ParseError::unknown(text))?;
            out.push(diff(from_json(data)?, symbols.canonical_or_guess(native), local_ts)?);
            Ok(Control::Data)
        }
        "trade" => {
            let native = channel.strip_prefix(TRADES_PREFIX).ok_or_else(|| ParseError::unknown(text))?;
            out.push(trade(from_json(data)?, symbols.canonical_or_guess(native), local_ts)?);
            Ok(Control::Data)
        }
        "bts:subscription_succeeded" | "bts:unsubscription_succeeded" => {
            Ok(Control::Subscribed { topic: channel.to_owned() })
        }
        "bts:heartbeat" => Ok(Control::Pong),
        "bts:error" => Ok(rejected(from_json(data)?)),
        // Maintenance: "a few seconds to reconnect" before the venue closes the connection.
        "bts:request_reconnect" => Ok(Control::Shutdown),
        _ => Err(ParseError::unknown(text)),
    }
}

fn rejected(error: ErrorData<'_>) -> Control {
    let code = error.code.map_or_else(|| "null".to_owned(), |c| c.to_string());
    Control::Rejected { message: format!("code {code}: {}", error.message.unwrap_or_default()) }
}

/// A `microtimestamp` (µs since the epoch, as a string of digits).
pub(super) fn micros(field: &'static str, text: &str) -> Result<u64, ParseError> {
    let valid = !text.is_empty() && text.len() <= 19 && text.bytes().all(|b| b.is_ascii_digit());
    match text.parse::<u64>() {
        Ok(us) if valid => Ok(us),
        _ => Err(ParseError::InvalidField { field, detail: format!("{text:?} is not a µs timestamp") }),
    }
}

/// µs to ns, saturating on hostile input.
fn micros_to_ns(us: u64) -> UnixNanos {
    i64::try_from(us).unwrap_or(i64::MAX).saturating_mul(1000)
}

/// A diff: its sequence id is its `microtimestamp` ([`md_core::SeqRule::Timestamped`]).
fn diff(data: BookData<'_>, symbol: Symbol, local_ts: UnixNanos) -> Result<DataPacket, ParseError> {
    let us = micros("microtimestamp", &data.microtimestamp)?;
    Ok(DataPacket {
        exchange: ExchangeId::Bitstamp,
        symbol,
        exchange_ts: micros_to_ns(us),
        local_ts,
        data: Payload::BookDelta(BookDelta {
            bids: data.bids.0,
            asks: data.asks.0,
            seq: Sequence { first: None, last: us, prev: None },
        }),
    })
}

fn trade(data: TradeData<'_>, symbol: Symbol, local_ts: UnixNanos) -> Result<DataPacket, ParseError> {
    let side = match data.side {
        0 => Side::Buy,
        1 => Side::Sell,
        other => return Err(ParseError::InvalidField { field: "type", detail: other.to_string() }),
    };
    let us = micros("microtimestamp", &data.microtimestamp)?;
    let trade = Trade {
        price: md_core::parse_decimal(&data.price_str)?,
        qty: md_core::parse_decimal(&data.amount_str)?,
        side,
        trade_id: trade_id(&data)?,
    };
    Ok(DataPacket {
        exchange: ExchangeId::Bitstamp,
        symbol,
        exchange_ts: micros_to_ns(us),
        local_ts,
        data: Payload::Trade(trade),
    })
}

/// `id_str` if sent, else the digits of the JSON number `id` exactly as written.
fn trade_id(data: &TradeData<'_>) -> Result<TradeId, ParseError> {
    let text = match (&data.id_str, data.id) {
        (Some(text), _) => text.as_ref(),
        (None, Some(raw)) => raw.get(),
        (None, None) => return Err(ParseError::InvalidField { field: "id", detail: "missing".into() }),
    };
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ParseError::InvalidField { field: "id", detail: format!("{text:?} is not a trade id") });
    }
    Ok(TradeId::from_text(text))
}

/// Parses a REST `GET /api/v2/order_book/{pair}/` body into a snapshot packet; its sequence
/// id is the book's `microtimestamp`, so diffs at or before it are dropped as stale.
pub fn parse_order_book(body: &str, symbol: Symbol, local_ts: UnixNanos) -> Result<DataPacket, ParseError> {
    let book: OrderBook<'_> = from_json(body)?;
    let us = micros("microtimestamp", &book.microtimestamp)?;
    Ok(DataPacket {
        exchange: ExchangeId::Bitstamp,
        symbol,
        exchange_ts: micros_to_ns(us),
        local_ts,
        data: Payload::BookSnapshot(BookSnapshot { bids: book.bids.0, asks: book.asks.0, seq: us }),
    })
}
