//! Binance spot: combined streams on `/stream`, `SUBSCRIBE` control messages, `@depth@100ms`
//! diffs and `@trade` events, REST `exchangeInfo` and `depth`. Prices and sizes are strings
//! with 8 decimals, as Binance writes them.

use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

use super::{
    json_str, levels_json, query_get, Heartbeat, Protocol, SeqStep, ServerHeartbeat, SimTrade, StartIds,
};
use crate::book::{Instrument, Levels, QTY_SCALE};
use crate::http::{parse_query, HttpResponse};
use crate::hub::{now_ms, Outbound, Sub, SubKind, Venue};
use crate::num::fixed;
use crate::rng::SplitMix64;
use crate::stats::bump;

/// Binance spot's protocol.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Binance;

impl Protocol for Binance {
    fn ws_path(&self) -> &'static str {
        "/stream"
    }

    fn native(&self, inst: &Instrument) -> String {
        inst.upper()
    }

    fn start_ids(&self, rng: &mut SplitMix64) -> StartIds {
        StartIds { seq: 1_000_000 + rng.below(1_000_000), trade: 100_000_000 }
    }

    fn seq_step(&self, rng: &mut SplitMix64) -> u64 {
        // One event covers several update ids, U..=u.
        rng.below(3) + 1
    }

    fn delta(
        &self,
        inst: &Instrument,
        topic: &str,
        bids: &Levels,
        asks: &Levels,
        seq: &SeqStep,
        ts: i64,
    ) -> Message {
        delta(inst, topic, bids, asks, seq, ts)
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

    fn malformed(&self, inst: &Instrument) -> Vec<Message> {
        malformed(inst)
    }

    fn shutdown_notice(&self) -> Option<Message> {
        Some(shutdown_notice())
    }

    fn server_heartbeat(&self) -> Option<ServerHeartbeat> {
        // Ping frames whose payload the client's pong echoes.
        Some(ServerHeartbeat { ping: |n| Message::Ping(n.to_string().into()), close_after_unanswered: None })
    }

    fn url_subscriptions(&self, venue: &Venue, query: &str) -> Vec<Sub> {
        // `/stream?streams=a/b`: subscribed from the URL, no message needed.
        parse_query(query)
            .into_iter()
            .filter(|(k, _)| k == "streams")
            .flat_map(|(_, v)| v.split('/').filter_map(|s| parse_stream(venue, s)).collect::<Vec<_>>())
            .collect()
    }

    fn on_text(&self, venue: &Venue, conn_id: u64, text: &str, _heartbeat: &mut Heartbeat) {
        on_text(venue, conn_id, text);
    }

    fn rest(&self, venue: &Venue, path: &str, query: &[(String, String)]) -> HttpResponse {
        rest(venue, path, query)
    }
}

/// Binance writes every price and size with 8 decimals.
const DECIMALS: u32 = 8;

fn levels(inst: &Instrument, levels: &Levels) -> String {
    levels_json(
        levels,
        |p| format!("\"{}\"", fixed(p, inst.price_scale, DECIMALS)),
        |q| format!("\"{}\"", fixed(q, QTY_SCALE, DECIMALS)),
    )
}

/// `{"stream":"btcusdt@depth@100ms","data":{"e":"depthUpdate",...}}`.
fn delta(inst: &Instrument, topic: &str, bids: &Levels, asks: &Levels, seq: &SeqStep, ts: i64) -> Message {
    Message::text(format!(
        r#"{{"stream":{},"data":{{"e":"depthUpdate","E":{ts},"s":"{}","U":{},"u":{},"b":{},"a":{}}}}}"#,
        json_str(topic),
        inst.upper(),
        seq.first,
        seq.last,
        levels(inst, bids),
        levels(inst, asks),
    ))
}

/// `{"stream":"btcusdt@trade","data":{"e":"trade",...}}`; `m` is "buyer is maker".
fn trade(inst: &Instrument, topic: &str, t: &SimTrade) -> Message {
    Message::text(format!(
        r#"{{"stream":{},"data":{{"e":"trade","E":{},"s":"{}","t":{},"p":"{}","q":"{}","T":{},"m":{},"M":true}}}}"#,
        json_str(topic),
        t.ts,
        inst.upper(),
        t.id,
        fixed(t.price, inst.price_scale, DECIMALS),
        fixed(t.qty, QTY_SCALE, DECIMALS),
        t.ts,
        !t.buy,
    ))
}

/// A frame cut short in the middle of its JSON.
fn malformed(inst: &Instrument) -> Vec<Message> {
    vec![Message::text(format!(r#"{{"stream":"{}@trade","data":{{"e":"trade","E":"#, inst.lower()))]
}

/// The `serverShutdown` notice of a combined-stream connection.
fn shutdown_notice() -> Message {
    Message::text(format!(
        r#"{{"stream":"!serverShutdown","data":{{"e":"serverShutdown","E":{}}}}}"#,
        now_ms()
    ))
}

/// The subscription a stream name asks for, if the simulator has it.
fn parse_stream(venue: &Venue, stream: &str) -> Option<Sub> {
    let (market, kind) = stream.split_once('@')?;
    if market.bytes().any(|b| b.is_ascii_uppercase()) {
        // Binance stream names are lower case.
        return None;
    }
    let sym = venue.find_native(market)?;
    let kind = match kind {
        "trade" => SubKind::Trades,
        "depth" | "depth@100ms" => SubKind::Book(None),
        _ => return None,
    };
    Some(Sub { sym, kind, topic: stream.to_owned() })
}

fn reply(venue: &Venue, conn_id: u64, text: String) {
    let mut hub = venue.lock();
    venue.send(&mut hub.conns, conn_id, Outbound::Frame(Message::text(text)));
}

fn error(venue: &Venue, conn_id: u64, code: i64, msg: &str, id: &Value) {
    reply(venue, conn_id, format!(r#"{{"error":{{"code":{code},"msg":{}}},"id":{id}}}"#, json_str(msg)));
}

/// `SUBSCRIBE`, `UNSUBSCRIBE`, `LIST_SUBSCRIPTIONS`; anything else is answered with an error.
fn on_text(venue: &Venue, conn_id: u64, text: &str) {
    let Ok(request) = serde_json::from_str::<Value>(text) else {
        error(venue, conn_id, 3, "Invalid JSON: expected value", &Value::Null);
        return;
    };
    let id = request.get("id").cloned().unwrap_or(Value::Null);
    let method = request.get("method").and_then(Value::as_str).unwrap_or_default();
    let params: Vec<&str> = request
        .get("params")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    match method {
        "SUBSCRIBE" => {
            bump(&venue.counters.subscribe_messages);
            let subs: Option<Vec<Sub>> = params.iter().map(|s| parse_stream(venue, s)).collect();
            match subs {
                Some(subs) if !subs.is_empty() => {
                    venue.add_subs(conn_id, subs);
                    reply(venue, conn_id, format!(r#"{{"result":null,"id":{id}}}"#));
                }
                _ => error(venue, conn_id, 2, "Invalid request: unknown stream", &id),
            }
        }
        "UNSUBSCRIBE" => {
            // Binance answers `{"result":null,"id":N}` also for streams the connection did not
            // have: unsubscribing is idempotent there.
            bump(&venue.counters.unsubscribe_messages);
            let mut hub = venue.lock();
            if let Some(conn) = hub.conns.get_mut(&conn_id) {
                conn.subs.retain(|s| !params.contains(&s.topic.as_str()));
            }
            drop(hub);
            reply(venue, conn_id, format!(r#"{{"result":null,"id":{id}}}"#));
        }
        "LIST_SUBSCRIPTIONS" => {
            let hub = venue.lock();
            let topics: Vec<String> = hub
                .conns
                .get(&conn_id)
                .map(|c| c.subs.iter().map(|s| s.topic.clone()).collect())
                .unwrap_or_default();
            drop(hub);
            reply(venue, conn_id, format!(r#"{{"result":{},"id":{id}}}"#, Value::from(topics)));
        }
        _ => error(venue, conn_id, 2, "Invalid request: unknown method", &id),
    }
}

/// `exchangeInfo` and `depth`.
fn rest(venue: &Venue, path: &str, query: &[(String, String)]) -> HttpResponse {
    match path {
        "/api/v3/exchangeInfo" => {
            let symbols: Vec<Value> = venue
                .listed()
                .map(|(_, inst)| {
                    serde_json::json!({
                        "symbol": inst.upper(), "status": "TRADING",
                        "baseAsset": inst.base, "quoteAsset": inst.quote,
                    })
                })
                .collect();
            HttpResponse::ok(serde_json::json!({ "timezone": "UTC", "symbols": symbols }).to_string())
        }
        "/api/v3/depth" => depth(venue, query),
        _ => HttpResponse::new(404, r#"{"code":-1,"msg":"Not found."}"#.into()),
    }
}

/// `GET /api/v3/depth?symbol=BTCUSDT&limit=N`: the top N levels at the current update id.
fn depth(venue: &Venue, query: &[(String, String)]) -> HttpResponse {
    if venue.take_429() {
        return HttpResponse::new(
            429,
            r#"{"code":-1003,"msg":"Too many requests; current limit is 6000 request weight per 1 MINUTE."}"#
                .into(),
        )
        .retry_after(1);
    }
    let sym = query_get(query, "symbol").and_then(|s| {
        // REST symbols are upper case.
        (!s.bytes().any(|b| b.is_ascii_lowercase())).then(|| venue.find_native(s))?
    });
    let invalid = || HttpResponse::new(400, r#"{"code":-1121,"msg":"Invalid symbol."}"#.into());
    let Some(sym) = sym else { return invalid() };
    if venue.take_refusal(&venue.lock(), sym) {
        // As Binance answers for a symbol it no longer has.
        return invalid();
    }
    let limit = match query_get(query, "limit").map(str::parse::<usize>) {
        None => 100,
        Some(Ok(n)) if (1..=5000).contains(&n) => n,
        Some(_) => {
            return HttpResponse::new(
                400,
                r#"{"code":-1100,"msg":"Illegal characters found in parameter 'limit'."}"#.into(),
            )
        }
    };
    let inst = &venue.instruments[sym];
    let hub = venue.lock();
    let state = &hub.syms[sym];
    let body = format!(
        r#"{{"lastUpdateId":{},"bids":{},"asks":{}}}"#,
        state.seq,
        levels(inst, &state.book.top(crate::book::BookSide::Bid, limit)),
        levels(inst, &state.book.top(crate::book::BookSide::Ask, limit)),
    );
    drop(hub);
    bump(&venue.counters.snapshots_served);
    HttpResponse::ok(body)
}
