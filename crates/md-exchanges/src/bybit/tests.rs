//! Bybit frames written from the documented shapes (wire-formats.md §2).
#![allow(clippy::unwrap_used)]

use md_core::{BookError, BookSync, Payload, SeqRule, Side, TradeId};

use super::*;

fn listing() -> Symbols {
    Symbols::new([SymbolInfo { symbol: Symbol::new("BTC", "USDT"), native: "BTCUSDT".into(), trading: true }])
}

fn parse(text: &str) -> (Result<Control, ParseError>, Vec<DataPacket>) {
    let mut out = Vec::new();
    let result = parse_text(text, &listing(), 3, &mut out);
    (result, out)
}

fn book_frame(kind: &str, u: u64, bids: &str, asks: &str) -> String {
    format!(
        r#"{{"topic":"orderbook.50.BTCUSDT","ts":1731035685326,"type":"{kind}","data":{{"s":"BTCUSDT","b":{bids},"a":{asks},"u":{u},"seq":47474967823}},"cts":1731035685320}}"#
    )
}

fn book_packet(text: &str) -> Payload {
    let (result, out) = parse(text);
    assert_eq!(result.unwrap(), Control::Data);
    out.into_iter().next().unwrap().data
}

#[test]
fn snapshot_and_delta_parse() {
    let snap =
        book_packet(&book_frame("snapshot", 100, r#"[["75848.74","0.067669"]]"#, r#"[["75848.89","1"]]"#));
    let Payload::BookSnapshot(snap) = snap else { panic!() };
    assert_eq!(snap.seq, 100);
    assert_eq!(snap.bids[0].price.to_string(), "75848.74");
    let delta = book_packet(&book_frame("delta", 101, r#"[["75837.13","0"]]"#, "[]"));
    let Payload::BookDelta(delta) = delta else { panic!() };
    assert_eq!(delta.seq.last, 101);
    assert!(delta.bids[0].qty.is_zero());
}

#[test]
fn update_id_one_is_a_restart_snapshot() {
    assert!(matches!(book_packet(&book_frame("delta", 1, "[]", "[]")), Payload::BookSnapshot(_)));
}

#[test]
fn book_sequence_applies_and_gap_is_detected() {
    let mut sync = BookSync::new(SeqRule::Consecutive, 100);
    let Payload::BookSnapshot(snap) =
        book_packet(&book_frame("snapshot", 10, r#"[["100","1"],["99","2"]]"#, r#"[["101","1"]]"#))
    else {
        panic!()
    };
    sync.on_snapshot(&snap).unwrap();
    let Payload::BookDelta(d) =
        book_packet(&book_frame("delta", 11, r#"[["100","0"]]"#, r#"[["100.5","3"]]"#))
    else {
        panic!()
    };
    sync.on_delta(d).unwrap();
    assert_eq!(sync.book().best_bid().unwrap().price.to_string(), "99");
    assert_eq!(sync.book().best_ask().unwrap().price.to_string(), "100.5");
    let Payload::BookDelta(gap) = book_packet(&book_frame("delta", 13, "[]", "[]")) else { panic!() };
    assert!(matches!(sync.on_delta(gap), Err(BookError::Gap { book_seq: 11, .. })));
}

#[test]
fn trades_spot_and_linear_ids() {
    let text = r#"{"topic":"publicTrade.BTCUSDT","ts":1680652847526,"type":"snapshot","data":[{"i":"2290000000050703789","T":1680652847524,"p":"28165.38","v":"0.041732","S":"Sell","s":"BTCUSDT","BT":false},{"i":"4c7b6bdc-b4a3-5716-9c7b-bbe01dc7072f","T":1680652847525,"p":"28165.39","v":"0.1","S":"Buy","s":"BTCUSDT","BT":false,"RPI":false,"seq":1}]}"#;
    let (result, out) = parse(text);
    assert_eq!(result.unwrap(), Control::Data);
    assert_eq!(out.len(), 2);
    let Payload::Trade(first) = &out[0].data else { panic!() };
    assert_eq!(first.trade_id, TradeId::Number(2_290_000_000_050_703_789));
    assert_eq!(first.side, Side::Sell);
    assert_eq!(out[0].exchange_ts, 1_680_652_847_524_000_000);
    let Payload::Trade(second) = &out[1].data else { panic!() };
    assert_eq!(second.trade_id, TradeId::Text("4c7b6bdc-b4a3-5716-9c7b-bbe01dc7072f".into()));
    assert_eq!(second.side, Side::Buy);
}

#[test]
fn control_frames() {
    let ack =
        r#"{"success":true,"ret_msg":"subscribe","conn_id":"4492c76f","req_id":"sub-1","op":"subscribe"}"#;
    assert_eq!(parse(ack).0.unwrap(), Control::Subscribed { topic: "subscribe".into() });
    assert_eq!(
        parse(r#"{"success":true,"ret_msg":"pong","conn_id":"8c20","op":"ping"}"#).0.unwrap(),
        Control::Pong
    );
    assert_eq!(parse(r#"{"op":"pong","args":["1753340040127"],"conn_id":"d157"}"#).0.unwrap(), Control::Pong);
    let failed =
        r#"{"success":false,"ret_msg":"Invalid symbol :[orderbook.50.NOPE]","conn_id":"x","op":"subscribe"}"#;
    assert_eq!(
        parse(failed).0.unwrap(),
        Control::Rejected { message: "Invalid symbol :[orderbook.50.NOPE]".into() }
    );
}

#[test]
fn malformed_and_unknown_frames_are_errors_not_panics() {
    for bad in [
        "",
        "{",
        "{}",
        r#"{"topic":"tickers.BTCUSDT","type":"snapshot","data":{}}"#,
        r#"{"topic":"orderbook.50.BTCUSDT","type":"weird","data":{"s":"BTCUSDT","b":[],"a":[],"u":1}}"#,
        r#"{"topic":"orderbook.50.BTCUSDT","type":"delta","data":{"s":"BTCUSDT","b":[["1"]],"a":[],"u":2}}"#,
        r#"{"topic":"publicTrade.BTCUSDT","type":"snapshot","data":[{"i":"1","T":1,"p":"1","v":"1","S":"Buy","s":"BTCUSDT"},{"i":"2","T":1,"p":"1","v":"1","S":"Up","s":"BTCUSDT"}]}"#,
    ] {
        let (result, out) = parse(bad);
        assert!(result.is_err(), "{bad:?} gave {result:?}");
        assert!(out.is_empty(), "{bad:?} left packets behind");
    }
}

#[test]
fn subscribe_messages_hold_at_most_ten_args() {
    let bybit = Bybit::new(BybitConfig::default());
    let info = listing().iter().next().unwrap().clone();
    assert_eq!(bybit.topics(&info, Channel::Book), vec!["orderbook.50.BTCUSDT".to_string()]);
    let topics: Vec<String> = (0..25).map(|i| format!("publicTrade.S{i}")).collect();
    let messages = bybit.subscribe_messages(&topics);
    assert_eq!(messages.len(), 3);
    let last: serde_json::Value = serde_json::from_str(&messages[2]).unwrap();
    assert_eq!(last["op"], "subscribe");
    assert_eq!(last["args"].as_array().unwrap().len(), 5);
    assert_eq!(bybit.heartbeat().unwrap().message, r#"{"op":"ping"}"#);
}
