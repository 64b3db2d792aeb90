//! Binance frames written from the documented shapes (wire-formats.md §1).
#![allow(clippy::unwrap_used)]

use md_core::{BookSync, Payload, SeqRule, Side, TradeId};

use super::*;

fn listing() -> Symbols {
    Symbols::new([SymbolInfo { symbol: Symbol::new("BNB", "BTC"), native: "BNBBTC".into(), trading: true }])
}

fn parse(text: &str) -> (Result<Control, ParseError>, Vec<DataPacket>) {
    let mut out = Vec::new();
    let result = parse_text(text, &listing(), 7, &mut out);
    (result, out)
}

fn delta_frame(first: u64, last: u64, bids: &str) -> String {
    format!(
        r#"{{"stream":"bnbbtc@depth@100ms","data":{{"e":"depthUpdate","E":1672515782136,"s":"BNBBTC","U":{first},"u":{last},"b":{bids},"a":[["0.0026","100"]]}}}}"#
    )
}

#[test]
fn depth_diff_parses_exactly() {
    let (control, out) = parse(&delta_frame(157, 160, r#"[["0.0024","10"],["0.0023","0.00000000"]]"#));
    assert_eq!(control.unwrap(), Control::Data);
    let packet = &out[0];
    assert_eq!(packet.symbol.as_str(), "BNB-BTC");
    assert_eq!(packet.exchange_ts, 1_672_515_782_136_000_000);
    assert_eq!(packet.local_ts, 7);
    let Payload::BookDelta(delta) = &packet.data else { panic!("{packet:?}") };
    assert_eq!(delta.seq, md_core::Sequence { first: Some(157), last: 160, prev: None });
    assert_eq!(delta.bids[0].price.to_string(), "0.0024");
    assert!(delta.bids[1].qty.is_zero());
}

#[test]
fn raw_stream_events_parse_too() {
    let text = r#"{"e":"trade","E":1672515782136,"s":"BNBBTC","t":12345,"p":"0.001","q":"100","T":1672515782135,"m":true,"M":true}"#;
    let (control, out) = parse(text);
    assert_eq!(control.unwrap(), Control::Data);
    let Payload::Trade(trade) = &out[0].data else { panic!() };
    assert_eq!(trade.side, Side::Sell);
    assert_eq!(trade.trade_id, TradeId::Number(12345));
    assert_eq!(trade.price.to_string(), "0.001");
    assert_eq!(out[0].exchange_ts, 1_672_515_782_135_000_000);
}

#[test]
fn combined_trade_buyer_taker() {
    let text = r#"{"stream":"bnbbtc@trade","data":{"e":"trade","E":1,"s":"BNBBTC","t":9,"p":"0.5","q":"2","T":2,"m":false,"M":true}}"#;
    let (_, out) = parse(text);
    let Payload::Trade(trade) = &out[0].data else { panic!() };
    assert_eq!(trade.side, Side::Buy);
}

#[test]
fn control_frames() {
    assert_eq!(parse(r#"{"result":null,"id":1}"#).0.unwrap(), Control::Subscribed { topic: "1".into() });
    assert_eq!(
        parse(r#"{"result":["btcusdt@trade"],"id":"ab"}"#).0.unwrap(),
        Control::Subscribed { topic: "ab".into() }
    );
    let flat = parse(r#"{"code":2,"msg":"Invalid request: unknown stream"}"#).0.unwrap();
    assert_eq!(flat, Control::Rejected { message: "code 2: Invalid request: unknown stream".into() });
    let nested = parse(r#"{"error":{"code":3,"msg":"Invalid JSON: \"x\""},"id":1}"#).0.unwrap();
    assert_eq!(nested, Control::Rejected { message: r#"code 3: Invalid JSON: "x""#.into() });
    assert_eq!(parse(r#"{"e":"serverShutdown","E":1770123456789}"#).0.unwrap(), Control::Shutdown);
    let combined = r#"{"stream":"!serverShutdown","data":{"e":"serverShutdown","E":1770123456789}}"#;
    assert_eq!(parse(combined).0.unwrap(), Control::Shutdown);
}

#[test]
fn partial_depth_is_a_snapshot_named_by_its_stream() {
    let text = r#"{"stream":"bnbbtc@depth5@100ms","data":{"lastUpdateId":160,"bids":[["0.0024","10"]],"asks":[["0.0026","100"]]}}"#;
    let (_, out) = parse(text);
    assert_eq!(out[0].symbol.as_str(), "BNB-BTC");
    let Payload::BookSnapshot(snap) = &out[0].data else { panic!() };
    assert_eq!(snap.seq, 160);
}

#[test]
fn malformed_and_unknown_frames_are_errors_not_panics() {
    for bad in [
        "",
        "not json",
        "{}",
        "[1,2]",
        r#"{"stream":"bnbbtc@bookTicker","data":{}}"#,
        r#"{"stream":"bnbbtc@depth@100ms","data":{"e":"depthUpdate"}}"#,
        r#"{"stream":"bnbbtc@depth@100ms","data":{"E":1,"s":"X","U":1,"u":2,"b":[["x","1"]],"a":[]}}"#,
        r#"{"e":"kline","E":1}"#,
        r#"{"stream":"bnbbtc@trade","data":{"s":"BNBBTC","t":-1,"p":"1","q":"1","T":1,"m":true}}"#,
    ] {
        let (result, out) = parse(bad);
        assert!(result.is_err(), "{bad:?} gave {result:?}");
        assert!(out.is_empty());
    }
    assert!(md_core::ListingParser::new(Arc::new(listing()), super::parse_frame)
        .parse(Frame::Binary(&[0xff, 0xfe]), 0, &mut Vec::new())
        .is_err());
}

#[test]
fn snapshot_then_diffs_sync_and_a_gap_is_detected() {
    let body = r#"{"lastUpdateId":160,"bids":[["0.0024","10"]],"asks":[["0.0026","100"]]}"#;
    let snapshot = parse_depth_snapshot(body, Symbol::new("BNB", "BTC"), 5).unwrap();
    let Payload::BookSnapshot(snapshot) = snapshot.data else { panic!() };
    let mut sync = BookSync::new(SeqRule::UpdateIdRange, 1000);
    for (first, last) in [(150, 160), (157, 162), (163, 170)] {
        let (_, out) = parse(&delta_frame(first, last, r#"[["0.0025","1"]]"#));
        let Payload::BookDelta(delta) = out.into_iter().next().unwrap().data else { panic!() };
        let _ = sync.on_delta(delta);
    }
    assert_eq!(sync.on_snapshot(&snapshot).unwrap(), 2);
    assert_eq!(sync.book().seq(), 170);
    let (_, out) = parse(&delta_frame(175, 180, "[]"));
    let Payload::BookDelta(gap) = out.into_iter().next().unwrap().data else { panic!() };
    assert!(matches!(sync.on_delta(gap), Err(md_core::BookError::Gap { book_seq: 170, .. })));
}

#[test]
fn subscribe_messages_chunk_streams() {
    let binance = Binance::new(BinanceConfig::default());
    let info = &listing().iter().next().unwrap().clone();
    assert_eq!(binance.topics(info, Channel::Book), vec!["bnbbtc@depth@100ms".to_string()]);
    let topics: Vec<String> = (0..450).map(|i| format!("s{i}@trade")).collect();
    let messages = binance.subscribe_messages(&topics);
    assert_eq!(messages.len(), 3);
    let first: serde_json::Value = serde_json::from_str(&messages[0]).unwrap();
    assert_eq!(first["method"], "SUBSCRIBE");
    assert_eq!(first["params"].as_array().unwrap().len(), 200);
    assert_eq!(first["id"], 1);
}
