//! HTX frames written from the documented shapes (wire-formats.md §3).
#![allow(clippy::unwrap_used)]

use std::io::Write;

use flate2::write::GzEncoder;
use flate2::Compression;
use md_core::{BookError, BookSync, Payload, SeqRule, Sequence, Side, TradeId};

use super::*;

fn listing() -> Symbols {
    Symbols::new([SymbolInfo { symbol: Symbol::new("BTC", "USDT"), native: "btcusdt".into(), trading: true }])
}

fn parse(text: &str) -> (Result<Control, ParseError>, Vec<DataPacket>) {
    let mut out = Vec::new();
    let result = parse_text(text, &listing(), 7, &mut out);
    (result, out)
}

fn parse_bytes(bytes: &[u8]) -> (Result<Control, ParseError>, Vec<DataPacket>) {
    let mut out = Vec::new();
    let result = md_core::ListingParser::new(Arc::new(listing()), super::parse_frame).parse(
        Frame::Binary(bytes),
        7,
        &mut out,
    );
    (result, out)
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

const TRADES: &str = r#"{"ch":"market.btcusdt.trade.detail","ts":1616243199157,"tick":{"id":123140716701,"ts":1616243199156,"data":[{"id":123140716701236887569077664,"ts":1616243199156,"tradeId":102357140867,"amount":1.98E-4,"price":58911.07,"direction":"sell"},{"id":123140716701236887569077665,"ts":1616243199157,"tradeId":102357140868,"amount":0.5,"price":5.8911E4,"direction":"buy"}]}}"#;

fn mbp_frame(seq: u64, prev: u64, bids: &str, asks: &str) -> String {
    format!(
        r#"{{"ch":"market.btcusdt.mbp.150","ts":1593561600691,"tick":{{"seqNum":{seq},"prevSeqNum":{prev},"bids":{bids},"asks":{asks}}}}}"#
    )
}

fn rep_frame(seq: u64) -> String {
    format!(
        r#"{{"id":"btcusdt","status":"ok","ts":1593561601666,"rep":"market.btcusdt.mbp.150","data":{{"seqNum":{seq},"bids":[[100.5,1.0],[100.4,2.0]],"asks":[[101.0,1.5],[101.2,0.25]]}}}}"#
    )
}

#[test]
fn trade_detail_gives_one_packet_per_trade() {
    let (control, out) = parse(TRADES);
    assert_eq!(control.unwrap(), Control::Data);
    assert_eq!(out.len(), 2);
    let first = &out[0];
    assert_eq!(first.exchange, ExchangeId::Huobi);
    assert_eq!(first.symbol.as_str(), "BTC-USDT");
    assert_eq!(first.exchange_ts, 1_616_243_199_156_000_000);
    assert_eq!(first.local_ts, 7);
    let Payload::Trade(trade) = &first.data else { panic!("{first:?}") };
    assert_eq!(trade.side, Side::Sell);
    assert_eq!(trade.trade_id, TradeId::Number(102_357_140_867));
    assert_eq!(trade.price.to_string(), "58911.07");
    assert_eq!(trade.qty.to_string(), "0.000198");
    let Payload::Trade(second) = &out[1].data else { panic!() };
    assert_eq!(second.side, Side::Buy);
    assert_eq!(second.price.to_string(), "58911");
    assert_eq!(out[1].exchange_ts, 1_616_243_199_157_000_000);
}

#[test]
fn trade_without_trade_id_keeps_the_27_digit_id_as_text() {
    let text = r#"{"ch":"market.trioeth.trade.detail","ts":1618678027942,"tick":{"id":100182534526,"ts":1618678027940,"data":[{"id":100182534526255757567432481,"ts":1618678027940,"amount":20995.88,"price":9.2E-7,"direction":"buy"}]}}"#;
    let (control, out) = parse(text);
    assert_eq!(control.unwrap(), Control::Data);
    assert_eq!(out[0].symbol.as_str(), "TRIO-ETH", "unlisted natives get a guessed name");
    let Payload::Trade(trade) = &out[0].data else { panic!() };
    assert_eq!(trade.trade_id, TradeId::Text("100182534526255757567432481".into()));
    assert_eq!(trade.price.to_string(), "0.00000092");

    // A trade with neither id fails the whole frame and leaves the output untouched.
    let text = r#"{"ch":"market.btcusdt.trade.detail","ts":1,"tick":{"data":[{"id":1,"ts":1,"tradeId":5,"amount":1,"price":1,"direction":"buy"},{"ts":1,"amount":1,"price":1,"direction":"buy"}]}}"#;
    let (result, out) = parse(text);
    assert!(matches!(result, Err(ParseError::InvalidField { field: "tradeId", .. })), "{result:?}");
    assert!(out.is_empty());
}

#[test]
fn depth_step0_is_a_full_snapshot_with_exact_exponent_numbers() {
    let text = r#"{"ch":"market.trioeth.depth.step0","ts":1618678069870,"tick":{"bids":[[9.121E-7,92730.24],[9.12E-7,2.0E-4]],"asks":[[9.2E-7,1520.0],[26.755973959140651643,1]],"version":100374372402,"ts":1618678069800}}"#;
    let (control, out) = parse(text);
    assert_eq!(control.unwrap(), Control::Data);
    assert_eq!(out[0].exchange_ts, 1_618_678_069_800_000_000, "the image's own ts");
    let Payload::BookSnapshot(snap) = &out[0].data else { panic!("{:?}", out[0]) };
    assert_eq!(snap.seq, 100_374_372_402);
    assert_eq!(snap.bids[0].price.to_string(), "0.0000009121");
    assert_eq!(snap.bids[1].qty.to_string(), "0.00020");
    assert_eq!(snap.asks[0].qty.to_string(), "1520.0");
    assert_eq!(snap.asks[1].price.to_string(), "26.755973959140651643");

    // `status` next to `ch`, another step, no tick ts: the push ts stands in.
    let text = r#"{"ch":"market.btcusdt.depth.step1","status":"ok","ts":1654253117316,"tick":{"bids":[[29805.62,0.309487]],"asks":[[29805.63,1.650216]],"version":155671698426}}"#;
    let (_, out) = parse(text);
    assert_eq!(out[0].exchange_ts, 1_654_253_117_316_000_000);
    let Payload::BookSnapshot(snap) = &out[0].data else { panic!() };
    assert_eq!(snap.seq, 155_671_698_426);
}

#[test]
fn mbp_incrementals_with_absent_or_empty_sides() {
    let (control, out) =
        parse(&mbp_frame(109_409_288_130, 109_409_288_078, "[[9137.67,4.129547],[9135.96,0]]", "[]"));
    assert_eq!(control.unwrap(), Control::Data);
    assert_eq!(out[0].exchange_ts, 1_593_561_600_691_000_000);
    let Payload::BookDelta(delta) = &out[0].data else { panic!() };
    assert_eq!(delta.seq, Sequence { first: None, last: 109_409_288_130, prev: Some(109_409_288_078) });
    assert_eq!(delta.bids.len(), 2);
    assert!(delta.bids[1].qty.is_zero());
    assert!(delta.asks.is_empty());

    let one_sided = r#"{"ch":"market.btcusdt.mbp.20","ts":1634601197516,"tick":{"seqNum":140059393690,"prevSeqNum":140059393689,"asks":[[61945.07,5.33E-4]]}}"#;
    let (_, out) = parse(one_sided);
    let Payload::BookDelta(delta) = &out[0].data else { panic!() };
    assert!(delta.bids.is_empty());
    assert_eq!(delta.asks[0].qty.to_string(), "0.000533");

    let (_, out) = parse(&mbp_frame(11, 10, "[]", "[]"));
    let Payload::BookDelta(delta) = &out[0].data else { panic!() };
    assert!(delta.bids.is_empty() && delta.asks.is_empty());
    assert_eq!(delta.seq.last, 11);
}

#[test]
fn req_reply_and_refresh_push_are_snapshots() {
    let (control, out) = parse(&rep_frame(109_409_288_160));
    assert_eq!(control.unwrap(), Control::Data);
    assert_eq!(out[0].symbol.as_str(), "BTC-USDT");
    assert_eq!(out[0].exchange_ts, 1_593_561_601_666_000_000);
    let Payload::BookSnapshot(snap) = &out[0].data else { panic!() };
    assert_eq!(snap.seq, 109_409_288_160);
    assert_eq!(snap.bids.len(), 2);
    assert_eq!(snap.asks[1].qty.to_string(), "0.25");

    let int_id = r#"{"id":1,"status":"ok","ts":1,"rep":"market.btcusdt.mbp.150","data":{"seqNum":5,"bids":[],"asks":[]}}"#;
    assert_eq!(parse(int_id).0.unwrap(), Control::Data);

    let refresh =
        r#"{"ch":"market.btcusdt.mbp.refresh.20","ts":1,"tick":{"seqNum":42,"bids":[[1,1]],"asks":[[2,1]]}}"#;
    let (_, out) = parse(refresh);
    let Payload::BookSnapshot(snap) = &out[0].data else { panic!() };
    assert_eq!(snap.seq, 42);
}

#[test]
fn control_frames() {
    assert_eq!(
        parse(r#"{"ping":1492420473027}"#).0.unwrap(),
        Control::Reply(r#"{"pong":1492420473027}"#.into())
    );
    let subbed = r#"{"id":"id1","status":"ok","subbed":"market.btcusdt.trade.detail","ts":1489474081631}"#;
    assert_eq!(parse(subbed).0.unwrap(), Control::Subscribed { topic: "market.btcusdt.trade.detail".into() });
    let int_id = r#"{"id":1,"status":"ok","subbed":"market.trioeth.depth.step0","ts":1618678070653}"#;
    assert_eq!(parse(int_id).0.unwrap(), Control::Subscribed { topic: "market.trioeth.depth.step0".into() });
    let unsubbed =
        r#"{"id":"id4","status":"ok","unsubbed":"market.btcusdt.trade.detail","ts":1494326028889}"#;
    assert_eq!(
        parse(unsubbed).0.unwrap(),
        Control::Subscribed { topic: "market.btcusdt.trade.detail".into() }
    );

    let error = r#"{"status":"error","ts":1684650798105,"id":"id488","err-code":"bad-request","err-msg":"invalid symbol lmrusdt"}"#;
    let message = "bad-request: invalid symbol lmrusdt (id id488)".to_owned();
    assert_eq!(parse(error).0.unwrap(), Control::Rejected { message });
    let no_id = r#"{"status":"error","err-code":"bad-request","err-msg":"429 too many request","ts":1}"#;
    let message = "bad-request: 429 too many request".to_owned();
    assert_eq!(parse(no_id).0.unwrap(), Control::Rejected { message });
}

#[test]
fn gzip_frames_round_trip_and_reuse_the_buffer() {
    let (control, out) = parse_bytes(&gzip(br#"{"ping":1618678073643}"#));
    assert_eq!(control.unwrap(), Control::Reply(r#"{"pong":1618678073643}"#.into()));
    assert!(out.is_empty());

    // A large frame, then a small one on the same thread: the reused buffer holds no stale bytes.
    let bids: Vec<String> = (0..5000).map(|i| format!("[{}.5,1]", 1000 + i)).collect();
    let big = mbp_frame(2, 1, &format!("[{}]", bids.join(",")), "[]");
    let (_, out) = parse_bytes(&gzip(big.as_bytes()));
    let Payload::BookDelta(delta) = &out[0].data else { panic!() };
    assert_eq!(delta.bids.len(), 5000);

    let (control, from_binary) = parse_bytes(&gzip(TRADES.as_bytes()));
    assert_eq!(control.unwrap(), Control::Data);
    assert_eq!(from_binary, parse(TRADES).1);

    // Text frames are plain JSON.
    let mut out = Vec::new();
    let control = md_core::ListingParser::new(Arc::new(listing()), super::parse_frame)
        .parse(Frame::Text(TRADES), 7, &mut out)
        .unwrap();
    assert_eq!((control, out.len()), (Control::Data, 2));
}

#[test]
fn bad_binary_frames_are_typed_errors() {
    let valid = gzip(TRADES.as_bytes());
    let corrupt: Vec<u8> =
        valid.iter().enumerate().map(|(i, b)| if i > 12 { b ^ 0x5a } else { *b }).collect();
    for bad in [&corrupt[..], &valid[..valid.len() / 2], &[0x1f, 0x8b], b"{\"ping\":1}", &[0xff, 0xfe, 0x00]]
    {
        let (result, out) = parse_bytes(bad);
        assert!(
            // A damaged trailer may claim an absurd size: refused before inflating.
            matches!(result, Err(ParseError::Decompress(_) | ParseError::FrameTooLarge { .. })),
            "{bad:?} gave {result:?}"
        );
        assert!(out.is_empty());
    }
    assert!(parse_bytes(&[]).0.is_err());
    assert!(matches!(parse_bytes(&gzip(&[0xff, 0xfe, 0x41])).0, Err(ParseError::Utf8(_))));
    assert!(matches!(parse_bytes(&gzip(b"not json")).0, Err(ParseError::Json { .. })));
}

#[test]
fn gzip_bomb_is_refused() {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::best());
    encoder.write_all(&vec![b' '; MAX_DECOMPRESSED_BYTES + 1]).unwrap();
    let bomb = encoder.finish().unwrap();
    assert!(bomb.len() < 100 * 1024);
    let (result, out) = parse_bytes(&bomb);
    assert!(
        matches!(result, Err(ParseError::FrameTooLarge { max: MAX_DECOMPRESSED_BYTES, .. })),
        "{result:?}"
    );
    assert!(out.is_empty());
    // The thread's buffer was released, and the parser still works.
    assert_eq!(parse_bytes(&gzip(br#"{"ping":5}"#)).0.unwrap(), Control::Reply(r#"{"pong":5}"#.into()));
}

#[test]
fn malformed_and_unknown_frames_are_errors_not_panics() {
    for bad in [
        "",
        "not json",
        "{}",
        "[1,2]",
        "null",
        r#"{"ping":"x"}"#,
        r#"{"ping":-1}"#,
        r#"{"status":"ok","ts":1}"#,
        r#"{"ch":"market.btcusdt.kline.1min","ts":1,"tick":{"id":1654081320,"open":31545.71,"close":31545.72,"low":31545.71,"high":31545.72,"amount":0.015,"vol":487.18,"count":4}}"#,
        r#"{"ch":"market.btcusdt.bbo","ts":1,"tick":{"seqId":1,"ask":1,"askSize":1,"bid":1,"bidSize":1,"quoteTime":1,"symbol":"btcusdt"}}"#,
        r#"{"ch":"market.btcusdt.detail","ts":1,"tick":{"id":1,"low":1,"high":1,"open":1,"close":1,"vol":8.18E8,"amount":1,"version":1,"count":1}}"#,
        r#"{"ch":"market.btcusdt.depth.step","ts":1,"tick":{"bids":[],"asks":[],"version":1}}"#,
        r#"{"ch":"market.btcusdt.mbp.x","ts":1,"tick":{"seqNum":2,"prevSeqNum":1}}"#,
        r#"{"ch":"market..trade.detail","ts":1,"tick":{"data":[]}}"#,
        r#"{"ch":"btcusdt.trade.detail","ts":1,"tick":{"data":[]}}"#,
        r#"{"ch":"market.btcusdt.trade.detail","ts":1}"#,
        r#"{"ch":"market.btcusdt.trade.detail","ts":1,"tick":{"data":[{"tradeId":1,"ts":1,"amount":1,"price":1,"direction":"hold"}]}}"#,
        r#"{"ch":"market.btcusdt.trade.detail","ts":1,"tick":{"data":[{"tradeId":-1,"ts":1,"amount":1,"price":1,"direction":"buy"}]}}"#,
        r#"{"ch":"market.btcusdt.trade.detail","ts":1,"tick":{"data":[{"tradeId":1,"ts":1,"amount":"x","price":1,"direction":"buy"}]}}"#,
        r#"{"ch":"market.btcusdt.depth.step0","ts":1,"tick":{"bids":[[1,1]],"asks":[]}}"#,
        r#"{"ch":"market.btcusdt.mbp.150","ts":1,"tick":{"seqNum":2,"bids":[]}}"#,
        r#"{"ch":"market.btcusdt.mbp.150","ts":1,"tick":{"seqNum":2,"prevSeqNum":1,"bids":[[1,-1]]}}"#,
        r#"{"ch":"market.btcusdt.mbp.150","ts":1,"tick":{"seqNum":2,"prevSeqNum":1,"bids":[[1]]}}"#,
        r#"{"id":"1","status":"ok","ts":1,"rep":"market.btcusdt.mbp.150"}"#,
        r#"{"id":"1","status":"ok","ts":1,"rep":"market.btcusdt.trade.detail","data":[]}"#,
        r#"{"action":"ping","data":{"ts":1575537778295}}"#,
    ] {
        let (result, out) = parse(bad);
        assert!(result.is_err(), "{bad:?} gave {result:?}");
        assert!(out.is_empty(), "{bad:?}");
    }
}

#[test]
fn mbp_sequence_syncs_from_a_req_snapshot_and_detects_a_gap() {
    let delta = |seq: u64, prev: u64, bids: &str| {
        let (result, out) = parse(&mbp_frame(seq, prev, bids, "[[101.0,0.5]]"));
        result.unwrap();
        let Payload::BookDelta(delta) = out.into_iter().next().unwrap().data else { panic!() };
        delta
    };
    let mut sync = BookSync::new(SeqRule::PrevLink, 100);
    // Increments arrive before the `req` reply and are queued; seqNums jump by more than one.
    for (seq, prev) in [(109_409_288_130, 109_409_288_078), (109_409_288_160, 109_409_288_130)] {
        assert_eq!(sync.on_delta(delta(seq, prev, "[[100.1,3]]")), Err(BookError::NotSynced));
    }
    for (seq, prev) in [(109_409_288_204, 109_409_288_160), (109_409_288_226, 109_409_288_204)] {
        assert_eq!(sync.on_delta(delta(seq, prev, "[[100.5,0],[100.2,7]]")), Err(BookError::NotSynced));
    }
    let (_, out) = parse(&rep_frame(109_409_288_160));
    let Payload::BookSnapshot(snapshot) = &out[0].data else { panic!() };
    assert_eq!(sync.on_snapshot(snapshot).unwrap(), 2, "the two increments after seqNum 160 apply");
    assert_eq!(sync.book().seq(), 109_409_288_226);
    assert_eq!(sync.book().best_bid().unwrap().price.to_string(), "100.4");
    assert_eq!(sync.book().best_ask().unwrap().qty.to_string(), "0.5");

    assert_eq!(sync.on_delta(delta(109_409_288_300, 109_409_288_226, "[]")), Ok(md_core::Applied::Updated));
    let gap = sync.on_delta(delta(109_409_288_576, 109_409_288_500, "[]"));
    assert!(matches!(gap, Err(BookError::Gap { book_seq: 109_409_288_300, .. })), "{gap:?}");
}

fn info(native: &str) -> SymbolInfo {
    SymbolInfo { symbol: guess(native), native: native.into(), trading: true }
}

fn guess(native: &str) -> Symbol {
    Symbols::default().canonical_or_guess(native)
}

#[test]
fn mbp_mode_topics_urls_and_snapshot_request() {
    let htx = Huobi::new(HuobiConfig::default());
    let btc = info("btcusdt");
    assert_eq!(htx.topics(&btc, Channel::Trades), vec!["market.btcusdt.trade.detail".to_string()]);
    assert_eq!(htx.topics(&btc, Channel::Book), vec!["market.btcusdt.mbp.150".to_string()]);
    assert_eq!(htx.ws_url(&[Channel::Book]), "wss://api.huobi.pro/feed");
    assert_eq!(htx.ws_url(&[Channel::Trades]), "wss://api.huobi.pro/ws");
    assert_eq!(htx.snapshot_source(), SnapshotSource::InBand);
    assert_eq!(htx.seq_rule(), SeqRule::PrevLink);
    assert_eq!(htx.snapshot_request(&btc).unwrap(), r#"{"req":"market.btcusdt.mbp.150","id":"btcusdt"}"#);
    assert_eq!(htx.id(), ExchangeId::Huobi);
    assert!(htx.heartbeat().is_none());
    assert_eq!(htx.limits().max_topics_per_subscribe, 1);

    let topics = vec!["market.btcusdt.trade.detail".to_string(), "market.btcusdt.mbp.150".to_string()];
    assert_eq!(
        htx.subscribe_messages(&topics),
        vec![
            r#"{"sub":"market.btcusdt.trade.detail","id":"market.btcusdt.trade.detail"}"#.to_string(),
            r#"{"sub":"market.btcusdt.mbp.150","id":"market.btcusdt.mbp.150"}"#.to_string(),
        ]
    );

    let mut config = HuobiConfig::default();
    config.set_single_ws_url("ws://127.0.0.1:9000/sim".into());
    let sim = Huobi::new(config);
    assert_eq!(sim.ws_url(&[Channel::Book]), "ws://127.0.0.1:9000/sim");
    assert_eq!(sim.ws_url(&[Channel::Trades]), "ws://127.0.0.1:9000/sim");
}

#[test]
fn step0_mode_streams_full_images_on_ws() {
    let htx = Huobi::new(HuobiConfig { book: HuobiBook::Step0, ..HuobiConfig::default() });
    let btc = info("BTCUSDT");
    assert_eq!(htx.topics(&btc, Channel::Book), vec!["market.btcusdt.depth.step0".to_string()]);
    assert_eq!(htx.ws_url(&[Channel::Book, Channel::Trades]), "wss://api.huobi.pro/ws");
    assert_eq!(htx.snapshot_source(), SnapshotSource::Stream);
    assert!(htx.snapshot_request(&btc).is_none());
}

mod listing {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    use super::*;

    async fn listing_from(body: &str) -> Result<Symbols, SymbolError> {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/v1/common/symbols"))
            .respond_with(ResponseTemplate::new(200).set_body_string(body))
            .mount(&server)
            .await;
        let htx = Huobi::new(HuobiConfig { rest_url: server.uri(), ..HuobiConfig::default() });
        htx.get_symbols().await
    }

    #[tokio::test]
    async fn symbols_are_listed_with_their_state() {
        let body = r#"{"status":"ok","data":[
            {"base-currency":"btc","quote-currency":"usdt","price-precision":2,"symbol":"btcusdt","state":"online","min-order-amt":0.0001,"api-trading":"enabled"},
            {"base-currency":"trio","quote-currency":"eth","symbol":"trioeth","state":"offline"},
            {"base-currency":"eth","quote-currency":"btc","symbol":"ethbtc","state":"suspend"}]}"#;
        let symbols = listing_from(body).await.unwrap();
        assert_eq!(symbols.len(), 3);
        assert_eq!(symbols.trading().count(), 1);
        assert_eq!(symbols.canonical("trioeth").unwrap().as_str(), "TRIO-ETH");
        assert_eq!(symbols.resolve("BTC-USDT").unwrap().native, "btcusdt");
    }

    #[tokio::test]
    async fn venue_errors_and_empty_listings_are_refused() {
        let error = r#"{"status":"error","err-code":"invalid-parameter","err-msg":"bad","data":null}"#;
        assert!(
            matches!(listing_from(error).await, Err(SymbolError::Venue(m)) if m.contains("invalid-parameter"))
        );
        assert!(matches!(listing_from(r#"{"status":"ok","data":[]}"#).await, Err(SymbolError::Missing)));
        assert!(matches!(listing_from("<html>").await, Err(SymbolError::Decode(_))));
    }
}
