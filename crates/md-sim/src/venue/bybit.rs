//! Bybit v5 spot: `/v5/public/spot`, `op:subscribe` with at most 10 args, `orderbook.{N}`
//! snapshot then deltas (`u` + 1 each), `publicTrade` arrays, `op:ping`, and the paginated
//! `instruments-info` listing. Prices and sizes are strings without trailing zeros.

use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

use md_core::TradeId;

use super::{json_str, levels_json, query_get, Heartbeat, Protocol, SeqStep, SimTrade, StartIds};
use crate::book::{BookSide, Instrument, Levels, QTY_SCALE};
use crate::http::HttpResponse;
use crate::hub::{now_ms, Hub, Outbound, Sub, SubKind, Venue};
use crate::num::plain;
use crate::rng::SplitMix64;
use crate::stats::bump;

/// Bybit v5 spot's protocol. The client pings (`op:ping`); the server never does.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bybit;

impl Protocol for Bybit {
    fn ws_path(&self) -> &'static str {
        "/v5/public/spot"
    }

    fn native(&self, inst: &Instrument) -> String {
        inst.upper()
    }

    fn start_ids(&self, rng: &mut SplitMix64) -> StartIds {
        StartIds { seq: 100_000 + rng.below(100_000), trade: 1 }
    }

    fn seq_step(&self, _rng: &mut SplitMix64) -> u64 {
        // `u` + 1 per message.
        1
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
        book_frame(inst, topic, "delta", (bids, asks), seq.last, seq.cross, ts)
    }

    fn trades(&self, inst: &Instrument, topic: &str, trades: &[SimTrade]) -> Message {
        trades_frame(inst, topic, trades)
    }

    fn trade_id(&self, trade: &SimTrade) -> TradeId {
        // Spot trade ids are numeric strings; the client keeps them as text.
        TradeId::from_text(&trade_id_text(trade.id))
    }

    fn malformed(&self, inst: &Instrument) -> Vec<Message> {
        malformed(inst)
    }

    fn on_text(&self, venue: &Venue, conn_id: u64, text: &str, _heartbeat: &mut Heartbeat) {
        on_text(venue, conn_id, text);
    }

    fn rest(&self, venue: &Venue, path: &str, query: &[(String, String)]) -> HttpResponse {
        rest(venue, path, query)
    }
}

/// Bybit spot refuses a subscribe request naming more than this many topics.
pub(crate) const MAX_ARGS: usize = 10;

/// Book depths Bybit spot offers.
const DEPTHS: [usize; 4] = [1, 50, 200, 1000];

/// Rows per `instruments-info` page: small, so that clients exercise the cursor.
const PAGE_SIZE: usize = 2;

fn levels(inst: &Instrument, levels: &Levels) -> String {
    levels_json(
        levels,
        |p| format!("\"{}\"", plain(p, inst.price_scale)),
        |q| format!("\"{}\"", plain(q, QTY_SCALE)),
    )
}

fn book_frame(
    inst: &Instrument,
    topic: &str,
    kind: &str,
    (bids, asks): (&Levels, &Levels),
    u: u64,
    seq: u64,
    ts: i64,
) -> Message {
    Message::text(format!(
        r#"{{"topic":{},"ts":{ts},"type":"{kind}","data":{{"s":"{}","b":{},"a":{},"u":{u},"seq":{seq}}},"cts":{}}}"#,
        json_str(topic),
        inst.upper(),
        levels(inst, bids),
        levels(inst, asks),
        ts - 2,
    ))
}

/// Spot trade ids are numeric strings like `2290000000090712222`.
fn trade_id_text(id: u64) -> String {
    format!("{}", 2_290_000_000_000_000_000_u64 + id)
}

/// `{"topic":"publicTrade.BTCUSDT","ts":..,"type":"snapshot","data":[{"i":..,"T":..,...}]}`.
fn trades_frame(inst: &Instrument, topic: &str, trades: &[SimTrade]) -> Message {
    let ts = trades.iter().map(|t| t.ts).max().unwrap_or_else(now_ms);
    let data: Vec<String> = trades
        .iter()
        .map(|t| {
            format!(
                r#"{{"i":"{}","T":{},"p":"{}","v":"{}","S":"{}","s":"{}","BT":false}}"#,
                trade_id_text(t.id),
                t.ts,
                plain(t.price, inst.price_scale),
                plain(t.qty, QTY_SCALE),
                if t.buy { "Buy" } else { "Sell" },
                inst.upper(),
            )
        })
        .collect();
    Message::text(format!(
        r#"{{"topic":{},"ts":{},"type":"snapshot","data":[{}]}}"#,
        json_str(topic),
        ts + 1,
        data.join(",")
    ))
}

/// A trade message cut short.
fn malformed(inst: &Instrument) -> Vec<Message> {
    vec![Message::text(format!(
        r#"{{"topic":"publicTrade.{}","ts":1,"type":"snapshot","data":[{{"i":"#,
        inst.upper()
    ))]
}

/// The subscription a topic asks for, if the simulator has it.
fn parse_topic(venue: &Venue, topic: &str) -> Option<Sub> {
    let (kind, native) = if let Some(rest) = topic.strip_prefix("orderbook.") {
        let (depth, native) = rest.split_once('.')?;
        let depth: usize = depth.parse().ok()?;
        DEPTHS.contains(&depth).then_some(())?;
        (SubKind::Book(Some(depth)), native)
    } else {
        (SubKind::Trades, topic.strip_prefix("publicTrade.")?)
    };
    // Bybit symbols are upper case.
    if native.bytes().any(|b| b.is_ascii_lowercase()) {
        return None;
    }
    Some(Sub { sym: venue.find_native(native)?, kind, topic: topic.to_owned() })
}

/// An ack or refusal: `{"success":..,"ret_msg":..,"conn_id":..,["req_id":..,]"op":..}`.
fn ack(hub: &Hub, conn_id: u64, success: bool, ret_msg: &str, req_id: Option<&Value>, op: &str) -> String {
    let conn = hub.conns.get(&conn_id).map_or("", |c| c.conn_id.as_str());
    let req_id = req_id.map_or_else(String::new, |v| format!(r#","req_id":{v}"#));
    format!(
        r#"{{"success":{success},"ret_msg":{},"conn_id":"{conn}"{req_id},"op":{}}}"#,
        json_str(ret_msg),
        json_str(op)
    )
}

/// Subscribes and queues, under one lock, the ack and then each book's snapshot, so that the
/// first delta the client sees is the snapshot's `u` + 1.
fn subscribe(venue: &Venue, hub: &mut Hub, conn_id: u64, args: &[&str], req_id: Option<&Value>) {
    bump(&venue.counters.subscribe_messages);
    let refuse = |hub: &mut Hub, msg: String| {
        let text = ack(hub, conn_id, false, &msg, req_id, "subscribe");
        venue.send(&mut hub.conns, conn_id, Outbound::Frame(Message::text(text)));
    };
    if args.len() > MAX_ARGS {
        refuse(hub, format!("args size >{MAX_ARGS}"));
        return;
    }
    let mut subs = Vec::new();
    for arg in args {
        match parse_topic(venue, arg) {
            Some(sub) => subs.push(sub),
            None => {
                refuse(hub, format!("Invalid symbol :[{arg}]"));
                return;
            }
        }
    }
    if subs.is_empty() {
        refuse(hub, "args is empty".into());
        return;
    }
    let text = ack(hub, conn_id, true, "subscribe", req_id, "subscribe");
    venue.send(&mut hub.conns, conn_id, Outbound::Frame(Message::text(text)));
    let ts = now_ms();
    for sub in subs {
        let Some(conn) = hub.conns.get_mut(&conn_id) else { return };
        if conn.subs.contains(&sub) {
            continue;
        }
        conn.subs.push(sub.clone());
        if let SubKind::Book(Some(n)) = sub.kind {
            let state = &hub.syms[sub.sym];
            let inst = &venue.instruments[sub.sym];
            let (bids, asks) = (state.book.top(BookSide::Bid, n), state.book.top(BookSide::Ask, n));
            let frame =
                book_frame(inst, &sub.topic, "snapshot", (&bids, &asks), state.seq, state.cross_seq, ts);
            venue.send(&mut hub.conns, conn_id, Outbound::Frame(frame));
            bump(&venue.counters.snapshots_served);
        }
    }
}

/// `subscribe`, `unsubscribe`, `ping`; anything else is refused.
fn on_text(venue: &Venue, conn_id: u64, text: &str) {
    let request = serde_json::from_str::<Value>(text).unwrap_or(Value::Null);
    let op = request.get("op").and_then(Value::as_str).unwrap_or_default();
    let req_id = request.get("req_id");
    let args: Vec<&str> = request
        .get("args")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut hub = venue.lock();
    let text = match op {
        "subscribe" => return subscribe(venue, &mut hub, conn_id, &args, req_id),
        "unsubscribe" => {
            bump(&venue.counters.unsubscribe_messages);
            if let Some(conn) = hub.conns.get_mut(&conn_id) {
                conn.subs.retain(|s| !args.contains(&s.topic.as_str()));
            }
            // Spot acks echo the op in `ret_msg`, as its subscribe ack does (wire-formats.md
            // §2.2 documents no unsubscribe ack; a spot capture quoted elsewhere shows this).
            ack(&hub, conn_id, true, "unsubscribe", req_id, "unsubscribe")
        }
        "ping" => {
            bump(&venue.counters.client_pings_received);
            ack(&hub, conn_id, true, "pong", req_id, "ping")
        }
        _ => ack(&hub, conn_id, false, &format!("Invalid op: {op}"), req_id, op),
    };
    venue.send(&mut hub.conns, conn_id, Outbound::Frame(Message::text(text)));
}

/// `GET /v5/market/instruments-info?category=spot[&limit=][&cursor=]`, [`PAGE_SIZE`] rows a page.
fn rest(venue: &Venue, path: &str, query: &[(String, String)]) -> HttpResponse {
    if path != "/v5/market/instruments-info" {
        return HttpResponse::new(404, r#"{"retCode":10404,"retMsg":"Not found"}"#.into());
    }
    if query_get(query, "category") != Some("spot") {
        return HttpResponse::ok(
            r#"{"retCode":10001,"retMsg":"params error: category is invalid","result":{},"retExtInfo":{},"time":0}"#
                .into(),
        );
    }
    let limit = query_get(query, "limit")
        .and_then(|l| l.parse::<usize>().ok())
        .unwrap_or(PAGE_SIZE)
        .clamp(1, PAGE_SIZE);
    let start = match query_get(query, "cursor").filter(|c| !c.is_empty()) {
        None => 0,
        Some(cursor) => match cursor.strip_prefix("page%3D").or_else(|| cursor.strip_prefix("page=")) {
            Some(n) => n.parse::<usize>().unwrap_or(usize::MAX),
            None => usize::MAX,
        },
    };
    if start == usize::MAX {
        return HttpResponse::ok(
            r#"{"retCode":10001,"retMsg":"params error: cursor is invalid","result":{}}"#.into(),
        );
    }
    // Pages of what is listed at this request: a listing change between pages shifts them,
    // as it can on a real venue.
    let listed: Vec<&Instrument> = venue.listed().map(|(_, inst)| inst).collect();
    let list: Vec<Value> = listed
        .iter()
        .skip(start)
        .take(limit)
        .map(|inst| {
            serde_json::json!({
                "symbol": inst.upper(), "baseCoin": inst.base, "quoteCoin": inst.quote,
                "innovation": "0", "status": "Trading", "marginTrading": "none",
            })
        })
        .collect();
    let end = start + list.len();
    let next = if end < listed.len() { format!("page%3D{end}") } else { String::new() };
    let body = serde_json::json!({
        "retCode": 0, "retMsg": "OK",
        "result": { "category": "spot", "list": list, "nextPageCursor": next },
        "retExtInfo": {}, "time": now_ms(),
    });
    HttpResponse::ok(body.to_string())
}
