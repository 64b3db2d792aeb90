//! Bitstamp WebSocket v2 on `/`: `bts:subscribe`/`bts:unsubscribe` of one channel each, acked
//! with `bts:subscription_succeeded`; `diff_order_book_{pair}` diffs (full depth) and
//! `live_trades_{pair}` trades; `bts:heartbeat` answered; REST `/api/v2/order_book/{pair}/`
//! (full depth) and `/api/v2/trading-pairs-info/`. Book levels, `microtimestamp` (µs) and the
//! trades' `*_str` fields are strings; prices have the pair's decimals, amounts 8.
//!
//! As on the real venue: diffs carry no sequence number, only a strictly increasing
//! `microtimestamp` (the sequence id md-sim keeps for the book, so a REST snapshot names the
//! state it shows by it); a subscription to a pair the venue does not have is acked and then
//! silent; a client frame longer than 512 bytes closes the connection.

use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

use super::{json_str, levels_json, Heartbeat, Protocol, SeqStep, ServerHeartbeat, SimTrade, StartIds};
use crate::book::{BookSide, Instrument, Levels, QTY_SCALE};
use crate::http::HttpResponse;
use crate::hub::{Hub, Outbound, Sub, SubKind, Venue};
use crate::num::fixed;
use crate::rng::SplitMix64;
use crate::stats::bump;

/// Bitstamp's protocol.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bitstamp;

/// Decimals of every amount, as Bitstamp writes them (`"0.00000000"` deletes a level).
const AMOUNT_DECIMALS: u32 = 8;

/// The longest client frame Bitstamp reads ("read limited at 513 bytes").
const MAX_CLIENT_FRAME: usize = 512;

const TRADES_PREFIX: &str = "live_trades_";
const BOOK_PREFIX: &str = "diff_order_book_";
const BOOK_PATH: &str = "/api/v2/order_book/";
const PAIRS_PATH: &str = "/api/v2/trading-pairs-info/";

/// Microseconds since the Unix epoch.
fn now_us() -> u64 {
    u64::try_from(md_core::now_ns() / 1000).unwrap_or(0)
}

impl Protocol for Bitstamp {
    fn ws_path(&self) -> &'static str {
        "/"
    }

    fn native(&self, inst: &Instrument) -> String {
        inst.lower()
    }

    fn start_ids(&self, _rng: &mut SplitMix64) -> StartIds {
        // The book's sequence is the venue's clock; trade ids in 2024's range.
        StartIds { seq: now_us(), trade: 300_000_000 }
    }

    fn seq_step(&self, _rng: &mut SplitMix64) -> u64 {
        1
    }

    fn next_seq(&self, prev: u64, _rng: &mut SplitMix64) -> u64 {
        // Strictly increasing even when two updates fall in one microsecond.
        now_us().max(prev + 1)
    }

    fn delta(
        &self,
        inst: &Instrument,
        topic: &str,
        bids: &Levels,
        asks: &Levels,
        seq: &SeqStep,
        _ts: i64,
    ) -> Message {
        diff(inst, topic, bids, asks, seq.last)
    }

    fn trades_per_frame(&self) -> usize {
        1
    }

    fn trades(&self, inst: &Instrument, topic: &str, trades: &[SimTrade]) -> Message {
        // The generator hands over one trade at a time (`trades_per_frame`) and never none.
        match trades.first() {
            Some(t) => trade(inst, topic, t),
            None => Message::text(String::new()),
        }
    }

    fn malformed(&self, _inst: &Instrument) -> Vec<Message> {
        vec![Message::text(r#"{"data":{"id":3000,"timestamp":"17"#)]
    }

    fn shutdown_notice(&self) -> Option<Message> {
        Some(Message::text(r#"{"event":"bts:request_reconnect","channel":"","data":null}"#))
    }

    fn server_heartbeat(&self) -> Option<ServerHeartbeat> {
        // WebSocket pings (every ~54 s on the real venue, undocumented); never enforced.
        Some(ServerHeartbeat { ping: |n| Message::Ping(n.to_string().into()), close_after_unanswered: None })
    }

    fn on_text(&self, venue: &Venue, conn_id: u64, text: &str, _heartbeat: &mut Heartbeat) {
        on_text(venue, conn_id, text);
    }

    fn rest(&self, venue: &Venue, path: &str, _query: &[(String, String)]) -> HttpResponse {
        rest(venue, path)
    }
}

fn levels(inst: &Instrument, levels: &Levels) -> String {
    levels_json(
        levels,
        |p| format!("\"{}\"", fixed(p, inst.price_scale, inst.price_scale)),
        |q| format!("\"{}\"", fixed(q, QTY_SCALE, AMOUNT_DECIMALS)),
    )
}

/// `{"data":{"timestamp":"s","microtimestamp":"µs","bids":…,"asks":…},"channel":…,"event":"data"}`.
fn diff(inst: &Instrument, topic: &str, bids: &Levels, asks: &Levels, us: u64) -> Message {
    Message::text(format!(
        r#"{{"data":{{"timestamp":"{}","microtimestamp":"{us}","bids":{},"asks":{}}},"channel":{},"event":"data"}}"#,
        us / 1_000_000,
        levels(inst, bids),
        levels(inst, asks),
        json_str(topic),
    ))
}

/// A `trade` event: the numbers twice, as JSON numbers and as `*_str` strings; `type` 0 is a
/// buying taker.
fn trade(inst: &Instrument, topic: &str, t: &SimTrade) -> Message {
    let (price, amount) =
        (fixed(t.price, inst.price_scale, inst.price_scale), fixed(t.qty, QTY_SCALE, AMOUNT_DECIMALS));
    let order = 1_000_000_000_000_000 + t.noise % 1_000_000_000_000_000;
    Message::text(format!(
        r#"{{"data":{{"id":{id},"id_str":"{id}","timestamp":"{}","amount":{amount},"amount_str":"{amount}","price":{price},"price_str":"{price}","type":{},"microtimestamp":"{}","buy_order_id":{order},"sell_order_id":{}}},"channel":{},"event":"trade"}}"#,
        t.ts / 1000,
        u8::from(!t.buy),
        t.ts.saturating_mul(1000),
        order + 1,
        json_str(topic),
        id = t.id,
    ))
}

fn send(venue: &Venue, hub: &mut Hub, conn_id: u64, text: String) {
    venue.send(&mut hub.conns, conn_id, Outbound::Frame(Message::text(text)));
}

/// `bts:error` as Bitstamp writes it (code null for bad JSON, 4009 otherwise).
fn error(code: Option<u32>, message: &str) -> String {
    let code = code.map_or_else(|| "null".to_owned(), |c| c.to_string());
    format!(
        r#"{{"event":"bts:error","channel":"","data":{{"code":{code},"message":{}}}}}"#,
        json_str(message)
    )
}

fn ack(event: &str, channel: &str) -> String {
    format!(r#"{{"event":"{event}","channel":{},"data":{{}}}}"#, json_str(channel))
}

/// What a channel name asks for: `Ok(None)` for a well-formed channel of a pair md-sim does
/// not have, which the venue acks and then never feeds.
fn parse_channel(venue: &Venue, channel: &str) -> Result<Option<Sub>, &'static str> {
    if channel.bytes().any(|b| b.is_ascii_uppercase() || b == b'/') {
        return Err("Invalid channel provided.");
    }
    let (kind, pair) = if let Some(pair) = channel.strip_prefix(TRADES_PREFIX) {
        (SubKind::Trades, pair)
    } else if let Some(pair) = channel.strip_prefix(BOOK_PREFIX) {
        (SubKind::Book(None), pair)
    } else {
        return Err("Bad subscription string.");
    };
    if pair.is_empty() || !pair.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err("Bad subscription string.");
    }
    Ok(venue.find_native(pair).map(|sym| Sub { sym, kind, topic: channel.to_owned() }))
}

fn subscribe(venue: &Venue, hub: &mut Hub, conn_id: u64, channel: &str) {
    bump(&venue.counters.subscribe_messages);
    match parse_channel(venue, channel) {
        Err(message) => send(venue, hub, conn_id, error(Some(4009), message)),
        Ok(sub) => {
            if let (Some(sub), Some(conn)) = (sub, hub.conns.get_mut(&conn_id)) {
                if !conn.subs.contains(&sub) {
                    conn.subs.push(sub);
                }
            }
            send(venue, hub, conn_id, ack("bts:subscription_succeeded", channel));
        }
    }
}

/// `bts:subscribe`, `bts:unsubscribe`, `bts:heartbeat`; anything else is a `bts:error`.
fn on_text(venue: &Venue, conn_id: u64, text: &str) {
    let mut hub = venue.lock();
    if text.len() > MAX_CLIENT_FRAME {
        // Bitstamp closes with 1009 "read limited at 513 bytes"; md-sim just drops the socket.
        if let Some(conn) = hub.conns.remove(&conn_id) {
            conn.kill.cancel();
        }
        return;
    }
    let Ok(request) = serde_json::from_str::<Value>(text) else {
        return send(venue, &mut hub, conn_id, error(None, "Incorrect JSON format."));
    };
    let channel = request.pointer("/data/channel").and_then(Value::as_str);
    match (request.get("event").and_then(Value::as_str), channel) {
        (Some("bts:subscribe"), Some(channel)) => subscribe(venue, &mut hub, conn_id, channel),
        (Some("bts:unsubscribe"), Some(channel)) => {
            bump(&venue.counters.unsubscribe_messages);
            if let Some(conn) = hub.conns.get_mut(&conn_id) {
                conn.subs.retain(|s| s.topic != channel);
            }
            send(venue, &mut hub, conn_id, ack("bts:unsubscription_succeeded", channel));
        }
        (Some("bts:heartbeat"), _) => {
            bump(&venue.counters.client_pings_received);
            let reply = r#"{"event":"bts:heartbeat","channel":"","data":{"status":"success"}}"#;
            send(venue, &mut hub, conn_id, reply.to_owned());
        }
        _ => send(venue, &mut hub, conn_id, error(Some(4009), "Bad subscription string.")),
    }
}

/// `trading-pairs-info` and `order_book/{pair}` (trailing slashes optional).
fn rest(venue: &Venue, path: &str) -> HttpResponse {
    let path = path.trim_end_matches('/');
    if path == PAIRS_PATH.trim_end_matches('/') {
        return pairs(venue);
    }
    match path.strip_prefix(BOOK_PATH) {
        Some(pair) => order_book(venue, pair),
        None => not_found(),
    }
}

/// Bitstamp's answer to an unknown path (its body is an HTML page; md reads only the status).
fn not_found() -> HttpResponse {
    HttpResponse::new(404, r#"{"status":"error","reason":"Not found"}"#.into())
}

fn pairs(venue: &Venue) -> HttpResponse {
    let rows: Vec<Value> = venue
        .listed()
        .map(|(_, inst)| {
            serde_json::json!({
                "trading": "Enabled", "base_decimals": AMOUNT_DECIMALS, "url_symbol": inst.lower(),
                "name": format!("{}/{}", inst.base, inst.quote), "instant_and_market_orders": "Enabled",
                "minimum_order": format!("10.0 {}", inst.quote), "counter_decimals": inst.price_scale,
                "description": format!("{} / {}", inst.base, inst.quote),
            })
        })
        .collect();
    HttpResponse::ok(Value::from(rows).to_string())
}

/// `GET /api/v2/order_book/{pair}/`: every level, at the `microtimestamp` of the last update.
fn order_book(venue: &Venue, pair: &str) -> HttpResponse {
    if venue.take_429() {
        // Bitstamp's rate-limit answer is unrecorded; what md relies on is the status.
        return HttpResponse::new(429, r#"{"status":"error","reason":"Too many requests"}"#.into())
            .retry_after(1);
    }
    // Paths name pairs in lower case.
    let sym = (!pair.bytes().any(|b| b.is_ascii_uppercase())).then(|| venue.find_native(pair)).flatten();
    let Some(sym) = sym else { return not_found() };
    let hub = venue.lock();
    if venue.take_refusal(&hub, sym) {
        // As for a pair the venue no longer has.
        return not_found();
    }
    let (inst, state) = (&venue.instruments[sym], &hub.syms[sym]);
    let body = format!(
        r#"{{"timestamp":"{}","microtimestamp":"{}","bids":{},"asks":{}}}"#,
        state.seq / 1_000_000,
        state.seq,
        levels(inst, &state.book.top(BookSide::Bid, usize::MAX)),
        levels(inst, &state.book.top(BookSide::Ask, usize::MAX)),
    );
    drop(hub);
    bump(&venue.counters.snapshots_served);
    HttpResponse::ok(body)
}
