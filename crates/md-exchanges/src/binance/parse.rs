//! Pure Binance frame → [`DataPacket`] functions. No clock, no I/O.

use md_core::{
    ms_to_ns, BookDelta, BookSnapshot, Control, DataPacket, ExchangeId, ParseError, Payload, Sequence, Side,
    Symbol, Symbols, Trade, TradeId, UnixNanos,
};

use super::wire::{AggTradeEvent, DepthSnapshot, DepthUpdate, Envelope, ErrorBody, TradeEvent};
use crate::common::levels::{Dec, Levels};
use crate::common::scan::{self, once, Scan};
use crate::common::{from_json, peek_first_string, DataField};

/// Parses one text frame of a combined (`/stream`) or raw (`/ws`) connection.
pub fn parse_text(
    text: &str,
    symbols: &Symbols,
    local_ts: UnixNanos,
    out: &mut Vec<DataPacket>,
) -> Result<Control, ParseError> {
    if let Some(stream) = peek_first_string(text, "stream") {
        if let Some(result) = parse_combined_data(stream, text, symbols, local_ts, out) {
            return result;
        }
    }
    let envelope: Envelope<'_> = from_json(text)?;
    if let (Some(stream), Some(data)) = (envelope.stream, envelope.data) {
        return parse_stream(stream, data.get(), symbols, local_ts, out);
    }
    if let Some(event) = envelope.event {
        return parse_event(event, text, symbols, local_ts, out);
    }
    if let Some(error) = envelope.error {
        return Ok(rejected(error));
    }
    if envelope.code.is_some() || envelope.msg.is_some() {
        return Ok(rejected(ErrorBody { code: envelope.code, msg: envelope.msg }));
    }
    if envelope.result.is_some() || envelope.id.is_some() {
        let topic = envelope.id.map_or_else(String::new, |id| id.get().trim_matches('"').to_owned());
        return Ok(Control::Subscribed { topic });
    }
    Err(ParseError::unknown(text))
}

/// The hot path: a combined-stream depth diff or trade, deserialized in one pass.
/// `None` for other streams, which take the general path.
fn parse_combined_data(
    stream: &str,
    text: &str,
    symbols: &Symbols,
    local_ts: UnixNanos,
    out: &mut Vec<DataPacket>,
) -> Option<Result<Control, ParseError>> {
    let kind = stream.split_once('@').map(|(_, kind)| kind)?;
    if let Some(packet) = scan_combined(kind, text, symbols, local_ts) {
        out.push(packet);
        return Some(Ok(Control::Data));
    }
    let packet = match kind {
        "depth@100ms" | "depth" | "depth@0ms" => {
            from_json::<DataField<DepthUpdate<'_>>>(text).map(|f| depth_update(f.data, symbols, local_ts))
        }
        "trade" => from_json::<DataField<TradeEvent<'_>>>(text).map(|f| trade(f.data, symbols, local_ts)),
        _ => return None,
    };
    Some(packet.map(|packet| {
        out.push(packet);
        Control::Data
    }))
}

/// The hotter path: a combined depth diff or trade read by the strict scanner, without serde.
/// `None` for anything the scanner does not expect; serde then reads the frame (and names
/// what is wrong with it), so both paths give the same packets.
fn scan_combined(kind: &str, text: &str, symbols: &Symbols, local_ts: UnixNanos) -> Option<DataPacket> {
    if !scan::enabled() {
        return None;
    }
    let depth = matches!(kind, "depth@100ms" | "depth" | "depth@0ms");
    if !depth && kind != "trade" {
        return None;
    }
    let mut scan = Scan::new(text);
    let mut packet = None;
    scan.object(|scan, key| match key {
        "data" if depth => once(&mut packet, scan_depth(scan).map(|u| depth_update(u, symbols, local_ts))),
        "data" => once(&mut packet, scan_trade(scan).map(|t| trade(t, symbols, local_ts))),
        _ => scan.skip(),
    })?;
    scan.end()?;
    scan::hit(packet)
}

fn scan_depth<'a>(scan: &mut Scan<'a>) -> Option<DepthUpdate<'a>> {
    let (mut event_time, mut symbol, mut first, mut last, mut prev) = (None, None, None, None, None);
    let (mut bids, mut asks) = (None, None);
    scan.object(|scan, key| match key {
        "E" => once(&mut event_time, scan.i64()),
        "s" => once(&mut symbol, scan.string()),
        "U" => once(&mut first, scan.u64()),
        "u" => once(&mut last, scan.u64()),
        "pu" => once(&mut prev, scan.opt_u64()),
        "b" => once(&mut bids, scan.levels()),
        "a" => once(&mut asks, scan.levels()),
        _ => scan.skip(),
    })?;
    Some(DepthUpdate {
        event_time: event_time?,
        symbol: symbol?,
        first: first?,
        last: last?,
        prev: prev.flatten(),
        bids: Levels(bids?),
        asks: Levels(asks?),
    })
}

fn scan_trade<'a>(scan: &mut Scan<'a>) -> Option<TradeEvent<'a>> {
    let (mut symbol, mut trade_id, mut price, mut qty, mut trade_time, mut maker) =
        (None, None, None, None, None, None);
    scan.object(|scan, key| match key {
        "s" => once(&mut symbol, scan.string()),
        "t" => once(&mut trade_id, scan.u64()),
        "p" => once(&mut price, scan.decimal()),
        "q" => once(&mut qty, scan.decimal()),
        "T" => once(&mut trade_time, scan.i64()),
        "m" => once(&mut maker, scan.boolean()),
        _ => scan.skip(),
    })?;
    Some(TradeEvent {
        symbol: symbol?,
        trade_id: trade_id?,
        price: Dec(price?),
        qty: Dec(qty?),
        trade_time: trade_time?,
        buyer_is_maker: maker?,
    })
}

fn rejected(error: ErrorBody<'_>) -> Control {
    let code = error.code.map_or_else(|| "?".to_owned(), |c| c.to_string());
    Control::Rejected { message: format!("code {code}: {}", error.msg.unwrap_or_default()) }
}

/// A combined-stream payload, dispatched on its stream name (`nknusdt@depth@100ms`).
fn parse_stream(
    stream: &str,
    data: &str,
    symbols: &Symbols,
    local_ts: UnixNanos,
    out: &mut Vec<DataPacket>,
) -> Result<Control, ParseError> {
    let (market, kind) = stream.split_once('@').unwrap_or(("", stream));
    match kind {
        "depth@100ms" | "depth" | "depth@0ms" | "depth@250ms" | "depth@500ms" => {
            out.push(depth_update(from_json(data)?, symbols, local_ts));
            Ok(Control::Data)
        }
        "trade" => {
            out.push(trade(from_json(data)?, symbols, local_ts));
            Ok(Control::Data)
        }
        "aggTrade" => {
            out.push(agg_trade(from_json(data)?, symbols, local_ts));
            Ok(Control::Data)
        }
        _ if stream == "!serverShutdown" => Ok(Control::Shutdown),
        _ if kind.starts_with("depth5") || kind.starts_with("depth10") || kind.starts_with("depth20") => {
            // Partial-book pushes carry no symbol: the stream name is the only place it is named.
            let native = market.to_ascii_uppercase();
            let symbol = symbols.canonical_or_guess(&native);
            out.push(snapshot(from_json(data)?, symbol, local_ts));
            Ok(Control::Data)
        }
        _ => Err(ParseError::unknown(stream)),
    }
}

/// A raw-stream (`/ws/<stream>`) event, dispatched on its `e` field.
fn parse_event(
    event: &str,
    text: &str,
    symbols: &Symbols,
    local_ts: UnixNanos,
    out: &mut Vec<DataPacket>,
) -> Result<Control, ParseError> {
    match event {
        "depthUpdate" => out.push(depth_update(from_json(text)?, symbols, local_ts)),
        "trade" => out.push(trade(from_json(text)?, symbols, local_ts)),
        "aggTrade" => out.push(agg_trade(from_json(text)?, symbols, local_ts)),
        "serverShutdown" => return Ok(Control::Shutdown),
        _ => return Err(ParseError::unknown(text)),
    }
    Ok(Control::Data)
}

fn packet(symbol: Symbol, exchange_ts: UnixNanos, local_ts: UnixNanos, data: Payload) -> DataPacket {
    DataPacket { exchange: ExchangeId::Binance, symbol, exchange_ts, local_ts, data }
}

fn depth_update(update: DepthUpdate<'_>, symbols: &Symbols, local_ts: UnixNanos) -> DataPacket {
    let delta = BookDelta {
        bids: update.bids.0,
        asks: update.asks.0,
        seq: Sequence { first: Some(update.first), last: update.last, prev: update.prev },
    };
    let symbol = symbols.canonical_or_guess(update.symbol);
    packet(symbol, ms_to_ns(update.event_time), local_ts, Payload::BookDelta(delta))
}

fn taker_side(buyer_is_maker: bool) -> Side {
    // The maker bought, so the taker sold.
    if buyer_is_maker {
        Side::Sell
    } else {
        Side::Buy
    }
}

fn trade(event: TradeEvent<'_>, symbols: &Symbols, local_ts: UnixNanos) -> DataPacket {
    let TradeEvent { symbol, trade_id, price, qty, trade_time, buyer_is_maker } = event;
    trade_packet(
        symbols.canonical_or_guess(symbol),
        trade_id,
        (price, qty),
        trade_time,
        buyer_is_maker,
        local_ts,
    )
}

/// An aggregate trade is recorded as one trade, identified by its aggregate id.
fn agg_trade(event: AggTradeEvent<'_>, symbols: &Symbols, local_ts: UnixNanos) -> DataPacket {
    let AggTradeEvent { symbol, agg_id, price, qty, trade_time, buyer_is_maker } = event;
    trade_packet(
        symbols.canonical_or_guess(symbol),
        agg_id,
        (price, qty),
        trade_time,
        buyer_is_maker,
        local_ts,
    )
}

fn trade_packet(
    symbol: Symbol,
    id: u64,
    (price, qty): (Dec, Dec),
    trade_time: i64,
    buyer_is_maker: bool,
    local_ts: UnixNanos,
) -> DataPacket {
    let trade =
        Trade { price: price.0, qty: qty.0, side: taker_side(buyer_is_maker), trade_id: TradeId::Number(id) };
    packet(symbol, ms_to_ns(trade_time), local_ts, Payload::Trade(trade))
}

fn snapshot(body: DepthSnapshot, symbol: Symbol, local_ts: UnixNanos) -> DataPacket {
    // Spot snapshots carry no time; the receive time stands in for it.
    let exchange_ts = body.event_time.map_or(local_ts, ms_to_ns);
    let snap = BookSnapshot { bids: body.bids.0, asks: body.asks.0, seq: body.last_update_id };
    packet(symbol, exchange_ts, local_ts, Payload::BookSnapshot(snap))
}

/// Parses a REST `/api/v3/depth` (or USD-M `/fapi/v1/depth`) body into a snapshot packet.
pub fn parse_depth_snapshot(
    body: &str,
    symbol: Symbol,
    local_ts: UnixNanos,
) -> Result<DataPacket, ParseError> {
    Ok(snapshot(from_json(body)?, symbol, local_ts))
}
