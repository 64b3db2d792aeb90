//! Bitstamp frames written from the documented and recorded shapes (wire-formats.md §4,
//! next-capabilities.md §1).
#![allow(clippy::unwrap_used)]

use md_core::{BookError, BookSync, Payload, SeqRule, Side, TradeId};

use super::*;

fn listing() -> Symbols {
    Symbols::new([SymbolInfo { symbol: Symbol::new("BTC", "USD"), native: "btcusd".into(), trading: true }])
}

fn parse(text: &str) -> (Result<Control, ParseError>, Vec<DataPacket>) {
    let mut out = Vec::new();
    let result = parse_text(text, &listing(), 3, &mut out);
    (result, out)
}

fn diff_frame(us: u64, bids: &str, asks: &str) -> String {
    format!(
        r#"{{"data":{{"timestamp":"{}","microtimestamp":"{us}","bids":{bids},"asks":{asks}}},"channel":"diff_order_book_btcusd","event":"data"}}"#,
        us / 1_000_000
    )
}

fn delta(text: &str) -> md_core::BookDelta {
    let (result, out) = parse(text);
    assert_eq!(result.unwrap(), Control::Data);
    let Payload::BookDelta(delta) = out.into_iter().next().unwrap().data else { panic!() };
    delta
}

fn trade_frame(data: &str) -> String {
    format!(r#"{{"data":{{{data}}},"channel":"live_trades_btcusd","event":"trade"}}"#)
}

#[test]
fn a_diff_is_named_by_its_channel_and_sequenced_by_its_microtimestamp() {
    let text = diff_frame(
        1_641_343_694_435_337,
        r#"[["36653.62","0.75000000"],["36650.00","0"]]"#,
        r#"[["36665.20","0.00000000"],["36669.76","0.00000"]]"#,
    );
    let (result, out) = parse(&text);
    assert_eq!(result.unwrap(), Control::Data);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].symbol.as_str(), "BTC-USD");
    assert_eq!(out[0].exchange, ExchangeId::Bitstamp);
    assert_eq!(out[0].exchange_ts, 1_641_343_694_435_337_000);
    assert_eq!(out[0].local_ts, 3);
    let Payload::BookDelta(delta) = &out[0].data else { panic!() };
    assert_eq!(delta.seq, md_core::Sequence { first: None, last: 1_641_343_694_435_337, prev: None });
    assert_eq!(delta.bids[0].price.to_string(), "36653.62");
    // Every spelling of zero deletes: compared as numbers, not text.
    assert!(delta.bids[1].qty.is_zero() && delta.asks[0].qty.is_zero() && delta.asks[1].qty.is_zero());
}

#[test]
fn snapshot_drops_diffs_at_or_before_it_and_applies_the_rest() {
    let body = r#"{"timestamp":"1641343695","microtimestamp":"1641343695000000","bids":[["100.00","1.00000000"],["99.00","2.00000000"]],"asks":[["101.00","1.00000000"]]}"#;
    let packet = parse_order_book(body, Symbol::new("BTC", "USD"), 9).unwrap();
    assert_eq!((packet.exchange_ts, packet.local_ts), (1_641_343_695_000_000_000, 9));
    let Payload::BookSnapshot(snapshot) = packet.data else { panic!() };
    assert_eq!(snapshot.seq, 1_641_343_695_000_000);

    let mut sync = BookSync::new(SeqRule::Timestamped, 100);
    for us in [1_641_343_694_999_999, 1_641_343_695_000_000, 1_641_343_695_000_001, 1_641_343_695_000_002] {
        let d = delta(&diff_frame(us, r#"[["99.00","0.00000000"]]"#, &format!(r#"[["102.00","{us}"]]"#)));
        assert_eq!(sync.on_delta(d), Err(BookError::NotSynced));
    }
    // The first two are at or before the snapshot: dropped; the other two apply.
    assert_eq!(sync.on_snapshot(&snapshot).unwrap(), 2);
    assert_eq!(sync.book().seq(), 1_641_343_695_000_002);
    assert_eq!(sync.book().depth(), (1, 2));
    // The same time again applies; time running backwards means frames were lost or reordered.
    sync.on_delta(delta(&diff_frame(1_641_343_695_000_002, "[]", r#"[["103.00","1"]]"#))).unwrap();
    let backwards = delta(&diff_frame(1_641_343_695_000_001, "[]", "[]"));
    assert!(matches!(sync.on_delta(backwards), Err(BookError::Gap { .. })));
}

#[test]
fn trades_read_the_string_fields_exactly() {
    let text = trade_frame(
        r#""amount":1e-08,"amount_str":"1E-8","buy_order_id":1341285759094784,"id":158457579,"microtimestamp":"1616297318187000","price":57748.8,"price_str":"57748.80","sell_order_id":1341285698236416,"timestamp":"1616297318","type":0"#,
    );
    let (result, out) = parse(&text);
    assert_eq!(result.unwrap(), Control::Data);
    let Payload::Trade(trade) = &out[0].data else { panic!() };
    assert_eq!(trade.qty, md_core::parse_decimal("0.00000001").unwrap());
    assert_eq!(trade.price.to_string(), "57748.80");
    assert_eq!(trade.side, Side::Buy);
    assert_eq!(trade.trade_id, TradeId::Number(158_457_579));
    assert_eq!(out[0].exchange_ts, 1_616_297_318_187_000_000);

    // An id beyond 2^53 is read from `id_str` (the number's digits agree, a float would not).
    let big = trade_frame(
        r#""id":9007199254740993,"id_str":"9007199254740993","amount_str":"0.5","price_str":"1.5","type":1,"microtimestamp":"1700000000000001","timestamp":"1700000000""#,
    );
    let (_, out) = parse(&big);
    let Payload::Trade(trade) = &out[0].data else { panic!() };
    assert_eq!(trade.trade_id, TradeId::Number(9_007_199_254_740_993));
    assert_eq!(trade.side, Side::Sell);
    // Without `id_str`, the JSON number's own digits, never through a float.
    let raw = trade_frame(
        r#""id":9007199254740993,"amount_str":"0.5","price_str":"1.5","type":1,"microtimestamp":"1","timestamp":"0""#,
    );
    let (_, out) = parse(&raw);
    let Payload::Trade(trade) = &out[0].data else { panic!() };
    assert_eq!(trade.trade_id.to_string(), "9007199254740993");
}

#[test]
fn control_frames() {
    let ack = r#"{"event":"bts:subscription_succeeded","channel":"diff_order_book_ethusd","data":{}}"#;
    assert_eq!(parse(ack).0.unwrap(), Control::Subscribed { topic: "diff_order_book_ethusd".into() });
    let unack = r#"{"event":"bts:unsubscription_succeeded","channel":"live_trades_btcusd","data":{}}"#;
    assert_eq!(parse(unack).0.unwrap(), Control::Subscribed { topic: "live_trades_btcusd".into() });
    let pong = r#"{"event":"bts:heartbeat","channel":"","data":{"status":"success"}}"#;
    assert_eq!(parse(pong).0.unwrap(), Control::Pong);
    let error =
        r#"{"event":"bts:error","channel":"","data":{"code":null,"message":"Incorrect JSON format."}}"#;
    assert_eq!(
        parse(error).0.unwrap(),
        Control::Rejected { message: "code null: Incorrect JSON format.".into() }
    );
    let coded =
        r#"{"event":"bts:error","channel":"","data":{"code":4009,"message":"Bad subscription string."}}"#;
    assert_eq!(
        parse(coded).0.unwrap(),
        Control::Rejected { message: "code 4009: Bad subscription string.".into() }
    );
    let reconnect = r#"{"event":"bts:request_reconnect","channel":"","data":null}"#;
    assert_eq!(parse(reconnect).0.unwrap(), Control::Shutdown);
    assert_eq!(
        parse(r#"{"event":"bts:request_reconnect","channel":"","data":""}"#).0.unwrap(),
        Control::Shutdown
    );
}

#[test]
fn malformed_and_unknown_frames_are_errors_not_panics() {
    for bad in [
        "",
        "not json",
        "{}",
        "[1,2]",
        r#"{"event":"data","data":{}}"#,
        r#"{"event":"bts:nope","channel":"","data":{}}"#,
        // Channels md does not subscribe: a top-100 image is not the full-depth book.
        r#"{"data":{"timestamp":"1","microtimestamp":"1","bids":[],"asks":[]},"channel":"order_book_btcusd","event":"data"}"#,
        r#"{"data":{"id":1,"id_str":"1","order_type":0,"datetime":"1","microtimestamp":"1","amount":1,"amount_str":"1","price":1,"price_str":"1"},"channel":"live_orders_btcusd","event":"order_created"}"#,
        r#"{"data":{"timestamp":"1","microtimestamp":"-5","bids":[],"asks":[]},"channel":"diff_order_book_btcusd","event":"data"}"#,
        r#"{"data":{"timestamp":"1","microtimestamp":"1.5","bids":[],"asks":[]},"channel":"diff_order_book_btcusd","event":"data"}"#,
        r#"{"data":{"timestamp":"1","microtimestamp":"1","bids":[["1"]],"asks":[]},"channel":"diff_order_book_btcusd","event":"data"}"#,
        r#"{"data":{"timestamp":"1","microtimestamp":"1","bids":[["1","-1"]],"asks":[]},"channel":"diff_order_book_btcusd","event":"data"}"#,
        r#"{"data":null,"channel":"diff_order_book_btcusd","event":"data"}"#,
        &trade_frame(r#""id":1,"amount_str":"1","price_str":"1","type":2,"microtimestamp":"1""#),
        &trade_frame(r#""id":1,"amount":1,"price":1,"type":0,"microtimestamp":"1""#),
        &trade_frame(r#""id":1.5,"amount_str":"1","price_str":"1","type":0,"microtimestamp":"1""#),
        &trade_frame(r#""amount_str":"1","price_str":"1","type":0,"microtimestamp":"1""#),
        &trade_frame(r#""id":1,"amount_str":"NaN","price_str":"1","type":0,"microtimestamp":"1""#),
        r#"{"event":"bts:error","channel":"","data":null}"#,
    ] {
        let (result, out) = parse(bad);
        assert!(result.is_err(), "{bad:?} gave {result:?}");
        assert!(out.is_empty(), "{bad:?} left packets behind");
    }
    let parser = ListingParser::new(Arc::new(listing()), parse_frame);
    assert!(parser.parse(Frame::Binary(&[0xff, 0xfe]), 0, &mut Vec::new()).is_err());
}

#[test]
fn one_channel_per_message_and_every_frame_below_512_bytes() {
    let bitstamp = Bitstamp::new(BitstampConfig::default());
    let info = listing().iter().next().unwrap().clone();
    assert_eq!(bitstamp.topics(&info, Channel::Trades), vec!["live_trades_btcusd".to_string()]);
    assert_eq!(bitstamp.topics(&info, Channel::Book), vec!["diff_order_book_btcusd".to_string()]);
    let topics = vec!["diff_order_book_btcusd".to_string(), "live_trades_btcusd".to_string()];
    assert_eq!(
        bitstamp.subscribe_messages(&topics),
        vec![
            r#"{"event":"bts:subscribe","data":{"channel":"diff_order_book_btcusd"}}"#.to_string(),
            r#"{"event":"bts:subscribe","data":{"channel":"live_trades_btcusd"}}"#.to_string(),
        ]
    );
    assert_eq!(
        bitstamp.unsubscribe_messages(&topics[..1]),
        vec![r#"{"event":"bts:unsubscribe","data":{"channel":"diff_order_book_btcusd"}}"#.to_string()]
    );
    assert_eq!(bitstamp.limits().max_topics_per_subscribe, 1);
    assert_eq!(bitstamp.limits().max_streams_per_connection, 1024);
    assert!(bitstamp.limits().liveness_timeout >= Duration::from_secs(60));
    let beat = bitstamp.heartbeat().unwrap();
    assert_eq!(
        (beat.message.as_str(), beat.interval),
        (r#"{"event":"bts:heartbeat"}"#, Duration::from_secs(20))
    );
    // Every client frame md can send, for names far longer than any pair (the longest listed
    // `url_symbol` is under 20 characters).
    let long = SymbolInfo { symbol: Symbol::new("X", "Y"), native: "a".repeat(64), trading: true };
    let mut frames = vec![beat.message];
    for channel in Channel::ALL {
        let topics = bitstamp.topics(&long, channel);
        frames.extend(bitstamp.subscribe_messages(&topics));
        frames.extend(bitstamp.unsubscribe_messages(&topics));
    }
    for frame in &frames {
        assert!(frame.len() < subscribe::MAX_CLIENT_FRAME, "{} bytes: {frame}", frame.len());
        serde_json::from_str::<serde_json::Value>(frame).unwrap();
    }
}

#[test]
fn the_listing_names_pairs_and_says_which_trade() {
    let body = r#"[{"trading":"Enabled","base_decimals":8,"url_symbol":"btcusd","name":"BTC/USD","instant_and_market_orders":"Enabled","minimum_order":"20.0 USD","counter_decimals":2,"description":"Bitcoin / U.S. dollar"},
        {"trading":"Disabled","base_decimals":5,"url_symbol":"gbpeur","name":"GBP/EUR","counter_decimals":5},
        {"trading":"Enabled","url_symbol":"btcusd-perp","name":"BTC/USD-PERP"}]"#;
    let symbols = parse_trading_pairs(body).unwrap();
    assert_eq!(symbols.len(), 2, "the perpetual is not a spot pair");
    assert_eq!(symbols.resolve("BTC-USD").unwrap().native, "btcusd");
    assert_eq!(symbols.canonical("gbpeur").unwrap().as_str(), "GBP-EUR");
    assert_eq!(symbols.trading().count(), 1);
    assert!(matches!(parse_trading_pairs("[]"), Err(SymbolError::Missing)));
    assert!(matches!(parse_trading_pairs(r#"{"error":"x"}"#), Err(SymbolError::Decode(_))));
}

#[test]
fn bad_snapshot_bodies_are_errors() {
    for bad in [
        "",
        r#"{"status":"error","reason":"Invalid currency pair"}"#,
        r#"{"timestamp":"1","microtimestamp":"x","bids":[],"asks":[]}"#,
        r#"{"timestamp":"1","microtimestamp":"1","bids":[["1","x"]],"asks":[]}"#,
    ] {
        assert!(parse_order_book(bad, Symbol::new("BTC", "USD"), 0).is_err(), "{bad}");
    }
}
