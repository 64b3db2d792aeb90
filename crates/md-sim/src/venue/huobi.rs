//! HTX spot: `/ws` and `/feed`; every server message a binary frame of gzip-compressed JSON.
//! `sub`/`unsub`/`req`, server `{"ping":n}` answered by `{"pong":n}`, `mbp.N` incrementals
//! linked by `prevSeqNum` with non-consecutive `seqNum`s, `depth.step0` images and
//! `trade.detail`. Prices and sizes are bare JSON numbers, exponent form below 0.001.

use std::io::Write;
use std::time::Duration;

use flate2::write::GzEncoder;
use flate2::Compression;
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

use super::{json_str, levels_json, Heartbeat, Protocol, SeqStep, ServerHeartbeat, SimTrade, StartIds};
use crate::book::{BookSide, Instrument, Levels, QTY_SCALE};
use crate::http::HttpResponse;
use crate::hub::{now_ms, Hub, Outbound, Sub, SubKind, SymState, Venue};
use crate::num::htx;
use crate::rng::SplitMix64;
use crate::stats::bump;

/// HTX spot's protocol.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Huobi;

impl Protocol for Huobi {
    fn ws_path(&self) -> &'static str {
        "/ws"
    }

    fn accepts_path(&self, path: &str) -> bool {
        // `/feed` carries the mbp topics on the real venue; the simulator serves both alike.
        path == "/ws" || path == "/feed"
    }

    fn native(&self, inst: &Instrument) -> String {
        inst.lower()
    }

    fn start_ids(&self, rng: &mut SplitMix64) -> StartIds {
        StartIds { seq: 100_000_000_000 + rng.below(1_000_000_000), trade: 100_000_000_000 }
    }

    fn seq_step(&self, rng: &mut SplitMix64) -> u64 {
        // `seqNum` jumps; `prevSeqNum` links.
        rng.below(50) + 1
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

    fn trades(&self, inst: &Instrument, topic: &str, trades: &[SimTrade]) -> Message {
        trades_frame(inst, topic, trades)
    }

    fn image_period(&self) -> Option<Duration> {
        // HTX pushes `depth.step0` images about once a second.
        Some(Duration::from_secs(1))
    }

    fn image(&self, inst: &Instrument, topic: &str, state: &SymState) -> Option<Message> {
        Some(image(inst, topic, state))
    }

    fn malformed(&self, inst: &Instrument) -> Vec<Message> {
        malformed(inst)
    }

    fn server_heartbeat(&self) -> Option<ServerHeartbeat> {
        // `{"ping":n}`; HTX closes a connection after two consecutive unanswered pings.
        Some(ServerHeartbeat { ping, close_after_unanswered: Some(2) })
    }

    fn on_text(&self, venue: &Venue, conn_id: u64, text: &str, heartbeat: &mut Heartbeat) {
        on_text(venue, conn_id, text, heartbeat);
    }

    fn rest(&self, venue: &Venue, path: &str, query: &[(String, String)]) -> HttpResponse {
        rest(venue, path, query)
    }
}

/// Levels of a `depth.step0` image.
const STEP0_LEVELS: usize = 150;

/// Book sizes HTX offers for `mbp.N`.
const MBP_LEVELS: [usize; 3] = [5, 20, 150];

/// Gzip-compresses a message into a binary frame, as HTX sends everything.
fn gzip_frame(json: &str) -> Message {
    let mut encoder = GzEncoder::new(Vec::with_capacity(json.len() / 2 + 32), Compression::fast());
    // Writing to a Vec cannot fail.
    let bytes = encoder.write_all(json.as_bytes()).and_then(|()| encoder.finish()).unwrap_or_default();
    Message::binary(bytes)
}

fn levels(inst: &Instrument, levels: &Levels) -> String {
    levels_json(levels, |p| htx(p, inst.price_scale), |q| htx(q, QTY_SCALE))
}

/// `{"ch":"market.btcusdt.mbp.150","ts":..,"tick":{"seqNum":s,"prevSeqNum":p,"bids":..,"asks":..}}`.
fn delta(inst: &Instrument, topic: &str, bids: &Levels, asks: &Levels, seq: &SeqStep, ts: i64) -> Message {
    gzip_frame(&format!(
        r#"{{"ch":{},"ts":{ts},"tick":{{"seqNum":{},"prevSeqNum":{},"bids":{},"asks":{}}}}}"#,
        json_str(topic),
        seq.last,
        seq.prev,
        levels(inst, bids),
        levels(inst, asks),
    ))
}

/// `{"ch":"market.btcusdt.trade.detail","ts":..,"tick":{"id":..,"ts":..,"data":[..]}}`; the
/// legacy `id` is a 27-digit integer (beyond u64), `tradeId` the real id.
fn trades_frame(inst: &Instrument, topic: &str, trades: &[SimTrade]) -> Message {
    let ts = trades.iter().map(|t| t.ts).max().unwrap_or_else(now_ms);
    let data: Vec<String> = trades
        .iter()
        .map(|t| {
            format!(
                r#"{{"id":{}{:015},"ts":{},"tradeId":{},"amount":{},"price":{},"direction":"{}"}}"#,
                t.id,
                t.noise % 1_000_000_000_000_000,
                t.ts,
                t.id,
                htx(t.qty, QTY_SCALE),
                htx(t.price, inst.price_scale),
                if t.buy { "buy" } else { "sell" },
            )
        })
        .collect();
    let tick_id = trades.first().map_or(0, |t| t.id + 20_000_000_000);
    gzip_frame(&format!(
        r#"{{"ch":{},"ts":{},"tick":{{"id":{tick_id},"ts":{ts},"data":[{}]}}}}"#,
        json_str(topic),
        ts + 1,
        data.join(",")
    ))
}

/// A `depth.step0` image of the current book (`version` is the current `seqNum`).
fn image(inst: &Instrument, topic: &str, state: &SymState) -> Message {
    let ts = now_ms();
    gzip_frame(&format!(
        r#"{{"ch":{},"ts":{},"tick":{{"bids":{},"asks":{},"version":{},"ts":{ts}}}}}"#,
        json_str(topic),
        ts + 1,
        levels(inst, &state.book.top(BookSide::Bid, STEP0_LEVELS)),
        levels(inst, &state.book.top(BookSide::Ask, STEP0_LEVELS)),
        state.seq,
    ))
}

/// `{"ping":n}`.
fn ping(value: u64) -> Message {
    gzip_frame(&format!(r#"{{"ping":{value}}}"#))
}

/// A gzip frame of cut-short JSON, and a gzip frame whose deflate data is damaged.
fn malformed(inst: &Instrument) -> Vec<Message> {
    let cut = gzip_frame(&format!(r#"{{"ch":"market.{}.trade.detail","ts":"#, inst.lower()));
    let mut corrupt = match gzip_frame(r#"{"ping":1}"#) {
        Message::Binary(bytes) => bytes.to_vec(),
        _ => Vec::new(),
    };
    // Flip bits in the body and the CRC: the inflater or the checksum must refuse it.
    let len = corrupt.len();
    for i in [10, 11, len.saturating_sub(8)] {
        if let Some(b) = corrupt.get_mut(i) {
            *b ^= 0x5a;
        }
    }
    vec![cut, Message::binary(corrupt)]
}

/// `market.<native>.<kind>` → the subscription, or the error message HTX would give.
fn parse_topic(venue: &Venue, topic: &str) -> Result<Sub, String> {
    let invalid = || format!("invalid topic {topic}");
    let (native, kind) = topic.strip_prefix("market.").and_then(|t| t.split_once('.')).ok_or_else(invalid)?;
    let sym = venue
        .find_native(native)
        .filter(|_| !native.bytes().any(|b| b.is_ascii_uppercase()))
        .ok_or_else(|| format!("invalid symbol {native}"))?;
    let kind = match kind {
        "trade.detail" => SubKind::Trades,
        "depth.step0" => SubKind::Image,
        _ => {
            let levels: usize = kind
                .strip_prefix("mbp.")
                .and_then(|n| n.parse().ok())
                .filter(|n| MBP_LEVELS.contains(n))
                .ok_or_else(invalid)?;
            SubKind::Book(Some(levels))
        }
    };
    Ok(Sub { sym, kind, topic: topic.to_owned() })
}

fn id_field(id: Option<&Value>) -> String {
    id.map_or_else(String::new, |id| format!(r#""id":{id},"#))
}

fn error_text(id: Option<&Value>, msg: &str) -> String {
    format!(
        r#"{{"status":"error","ts":{},{}"err-code":"bad-request","err-msg":{}}}"#,
        now_ms(),
        id_field(id),
        json_str(msg)
    )
}

fn send_text(venue: &Venue, hub: &mut Hub, conn_id: u64, text: &str) {
    venue.send(&mut hub.conns, conn_id, Outbound::Frame(gzip_frame(text)));
}

/// `{"sub":..}` → ack (and for `depth.step0` the current image right after, as HTX does).
fn sub(venue: &Venue, hub: &mut Hub, conn_id: u64, topic: &str, id: Option<&Value>) {
    bump(&venue.counters.subscribe_messages);
    let sub = match parse_topic(venue, topic) {
        Ok(sub) => sub,
        Err(msg) => return send_text(venue, hub, conn_id, &error_text(id, &msg)),
    };
    let ack = format!(r#"{{{}"status":"ok","subbed":{},"ts":{}}}"#, id_field(id), json_str(topic), now_ms());
    send_text(venue, hub, conn_id, &ack);
    let Some(conn) = hub.conns.get_mut(&conn_id) else { return };
    if conn.subs.contains(&sub) {
        return;
    }
    conn.subs.push(sub.clone());
    if sub.kind == SubKind::Image {
        let frame = image(&venue.instruments[sub.sym], topic, &hub.syms[sub.sym]);
        venue.send(&mut hub.conns, conn_id, Outbound::Frame(frame));
    }
}

/// `{"req":"market.<native>.mbp.N"}` → the top N at the current `seqNum`, queued under the hub
/// lock so the next incremental's `prevSeqNum` is this `seqNum`.
fn req(venue: &Venue, hub: &mut Hub, conn_id: u64, topic: &str, id: Option<&Value>) {
    let book = match parse_topic(venue, topic) {
        Ok(Sub { sym, kind: SubKind::Book(Some(n)), .. }) => Some((sym, n)),
        Ok(_) => None,
        Err(msg) => return send_text(venue, hub, conn_id, &error_text(id, &msg)),
    };
    let Some((sym, n)) = book else {
        return send_text(venue, hub, conn_id, &error_text(id, &format!("invalid topic {topic}")));
    };
    if venue.take_429() {
        return send_text(venue, hub, conn_id, &error_text(id, "429 too many request"));
    }
    let inst = &venue.instruments[sym];
    if venue.take_refusal(hub, sym) {
        // As HTX answers for a symbol it does not have.
        let msg = format!("invalid symbol {}", inst.lower());
        return send_text(venue, hub, conn_id, &error_text(id, &msg));
    }
    let state = &hub.syms[sym];
    let text = format!(
        r#"{{{}"status":"ok","ts":{},"rep":{},"data":{{"seqNum":{},"bids":{},"asks":{}}}}}"#,
        id_field(id),
        now_ms(),
        json_str(topic),
        state.seq,
        levels(inst, &state.book.top(BookSide::Bid, n)),
        levels(inst, &state.book.top(BookSide::Ask, n)),
    );
    send_text(venue, hub, conn_id, &text);
    bump(&venue.counters.snapshots_served);
}

/// `{"unsub":..}` → `{"id":..,"status":"ok","unsubbed":..,"ts":..}`; a topic the connection
/// does not have is refused as HTX refuses it (`unsub with not subbed topic`).
fn unsub(venue: &Venue, hub: &mut Hub, conn_id: u64, topic: &str, id: Option<&Value>) {
    bump(&venue.counters.unsubscribe_messages);
    let Some(conn) = hub.conns.get_mut(&conn_id) else { return };
    let before = conn.subs.len();
    conn.subs.retain(|s| s.topic != topic);
    let text = if conn.subs.len() < before {
        format!(r#"{{{}"status":"ok","unsubbed":{},"ts":{}}}"#, id_field(id), json_str(topic), now_ms())
    } else {
        error_text(id, "unsub with not subbed topic")
    };
    send_text(venue, hub, conn_id, &text);
}

/// `pong`, `ping`, `sub`, `unsub`, `req`; anything else is answered with an error.
fn on_text(venue: &Venue, conn_id: u64, text: &str, heartbeat: &mut Heartbeat) {
    let request = serde_json::from_str::<Value>(text).unwrap_or(Value::Null);
    if let Some(pong) = request.get("pong").and_then(Value::as_u64) {
        if heartbeat.answered(pong) {
            bump(&venue.counters.pongs_received);
        }
        return;
    }
    let id = request.get("id");
    let mut hub = venue.lock();
    if let Some(ping) = request.get("ping").and_then(Value::as_u64) {
        bump(&venue.counters.client_pings_received);
        return send_text(venue, &mut hub, conn_id, &format!(r#"{{"pong":{ping}}}"#));
    }
    if let Some(topic) = request.get("sub").and_then(Value::as_str) {
        return sub(venue, &mut hub, conn_id, topic, id);
    }
    if let Some(topic) = request.get("req").and_then(Value::as_str) {
        return req(venue, &mut hub, conn_id, topic, id);
    }
    if let Some(topic) = request.get("unsub").and_then(Value::as_str) {
        return unsub(venue, &mut hub, conn_id, topic, id);
    }
    send_text(venue, &mut hub, conn_id, &error_text(id, "not json string"));
}

/// `GET /v1/common/symbols`.
fn rest(venue: &Venue, path: &str, _query: &[(String, String)]) -> HttpResponse {
    if path != "/v1/common/symbols" {
        return HttpResponse::new(
            404,
            r#"{"status":"error","err-code":"invalid-parameter","err-msg":"invalid url path"}"#.into(),
        );
    }
    let data: Vec<Value> = venue
        .listed()
        .map(|(_, inst)| {
            serde_json::json!({
                "base-currency": inst.base.to_ascii_lowercase(),
                "quote-currency": inst.quote.to_ascii_lowercase(),
                "price-precision": inst.price_scale, "amount-precision": QTY_SCALE,
                "symbol": inst.lower(), "state": "online", "api-trading": "enabled",
            })
        })
        .collect();
    HttpResponse::ok(serde_json::json!({ "status": "ok", "data": data }).to_string())
}
