//! The REST side of each venue against a local mock: symbol listings (with Bybit's paging),
//! Binance and Bitstamp depth snapshots, and how HTTP failures are classified.
#![allow(clippy::unwrap_used)]

use md_core::{ExchangeId, Payload, Symbol, SymbolError};
use md_exchanges::{build, Endpoints};
use wiremock::matchers::{method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn venue(id: ExchangeId, server: &MockServer) -> Box<dyn md_core::Exchange> {
    build(id, &Endpoints { ws_url: None, rest_url: Some(server.uri()) }).unwrap()
}

#[tokio::test]
async fn binance_lists_symbols_and_fetches_snapshots() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v3/exchangeInfo"))
        .respond_with(ResponseTemplate::new(200).set_body_string(
            r#"{"timezone":"UTC","symbols":[
                {"symbol":"BTCUSDT","status":"TRADING","baseAsset":"BTC","quoteAsset":"USDT","filters":[]},
                {"symbol":"LUNABUSD","status":"BREAK","baseAsset":"LUNA","quoteAsset":"BUSD"}]}"#,
        ))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v3/depth"))
        .and(query_param("symbol", "BTCUSDT"))
        .and(query_param("limit", "1000"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_string(r#"{"lastUpdateId":42,"bids":[["100.10","1.5"]],"asks":[["100.20","2"]]}"#),
        )
        .mount(&server)
        .await;
    let binance = venue(ExchangeId::Binance, &server);
    let symbols = binance.get_symbols().await.unwrap();
    assert_eq!(symbols.len(), 2);
    assert_eq!(symbols.trading().count(), 1);
    let btc = symbols.resolve("BTC-USDT").unwrap().clone();
    assert_eq!(btc.native, "BTCUSDT");
    assert_eq!(symbols.canonical("LUNABUSD"), Some(&Symbol::new("LUNA", "BUSD")));

    let response = binance.fetch_snapshot(&btc).await.unwrap();
    assert!(response.url.ends_with("/api/v3/depth?symbol=BTCUSDT&limit=1000"), "{}", response.url);
    let packet = binance.parse_snapshot(&btc, &response.body, 77).unwrap();
    assert_eq!((packet.symbol.as_str(), packet.local_ts), ("BTC-USDT", 77));
    let Payload::BookSnapshot(snapshot) = packet.data else { panic!() };
    assert_eq!(snapshot.seq, 42);
    assert_eq!(snapshot.bids[0].price.to_string(), "100.10");
}

#[tokio::test]
async fn bybit_follows_the_page_cursor() {
    let server = MockServer::start().await;
    let row = |s: &str, base: &str| {
        format!(
            r#"{{"symbol":"{s}","baseCoin":"{base}","quoteCoin":"USDT","status":"Trading","lotSizeFilter":{{}}}}"#
        )
    };
    Mock::given(method("GET"))
        .and(path("/v5/market/instruments-info"))
        .and(query_param("category", "spot"))
        .and(query_param_is_missing("cursor"))
        .respond_with(ResponseTemplate::new(200).set_body_string(format!(
            r#"{{"retCode":0,"retMsg":"OK","result":{{"category":"spot","list":[{}],"nextPageCursor":"page2"}}}}"#,
            row("BTCUSDT", "BTC")
        )))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v5/market/instruments-info"))
        .and(query_param("cursor", "page2"))
        .respond_with(ResponseTemplate::new(200).set_body_string(format!(
            r#"{{"retCode":0,"retMsg":"OK","result":{{"category":"spot","list":[{}],"nextPageCursor":""}}}}"#,
            row("ETHUSDT", "ETH")
        )))
        .expect(1)
        .mount(&server)
        .await;
    let symbols = venue(ExchangeId::Bybit, &server).get_symbols().await.unwrap();
    assert_eq!(symbols.len(), 2);
    assert_eq!(symbols.resolve("ethusdt").unwrap().symbol.as_str(), "ETH-USDT");
}

#[tokio::test]
async fn bybit_error_envelope_is_a_venue_error() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200).set_body_string(r#"{"retCode":10001,"retMsg":"params error"}"#),
        )
        .mount(&server)
        .await;
    let err = venue(ExchangeId::Bybit, &server).get_symbols().await.unwrap_err();
    assert!(matches!(&err, SymbolError::Venue(msg) if msg.contains("10001")), "{err}");
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn htx_lists_online_symbols() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/common/symbols"))
        .respond_with(ResponseTemplate::new(200).set_body_string(
            r#"{"status":"ok","data":[
                {"base-currency":"btc","quote-currency":"usdt","price-precision":2,"symbol":"btcusdt","state":"online"},
                {"base-currency":"lmr","quote-currency":"usdt","symbol":"lmrusdt","state":"offline"}]}"#,
        ))
        .mount(&server)
        .await;
    let symbols = venue(ExchangeId::Huobi, &server).get_symbols().await.unwrap();
    assert_eq!(symbols.len(), 2);
    assert_eq!(symbols.trading().count(), 1);
    assert_eq!(symbols.resolve("BTC-USDT").unwrap().native, "btcusdt");
}

#[tokio::test]
async fn bitstamp_lists_pairs_and_fetches_full_depth_snapshots() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v2/trading-pairs-info/"))
        .respond_with(ResponseTemplate::new(200).set_body_string(
            r#"[{"trading":"Enabled","base_decimals":8,"url_symbol":"btcusd","name":"BTC/USD","counter_decimals":2},
                {"trading":"Disabled","base_decimals":8,"url_symbol":"sgbeur","name":"SGB/EUR","counter_decimals":5}]"#,
        ))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v2/order_book/btcusd/"))
        .and(query_param_is_missing("group"))
        .respond_with(ResponseTemplate::new(200).set_body_string(
            r#"{"timestamp":"1641343695","microtimestamp":"1641343695564720","bids":[["100.10","1.50000000"]],"asks":[["100.20","2.00000000"]]}"#,
        ))
        .mount(&server)
        .await;
    let bitstamp = venue(ExchangeId::Bitstamp, &server);
    let symbols = bitstamp.get_symbols().await.unwrap();
    assert_eq!((symbols.len(), symbols.trading().count()), (2, 1));
    let btc = symbols.resolve("BTC-USD").unwrap().clone();
    assert_eq!(btc.native, "btcusd");
    assert!(!symbols.resolve("sgbeur").unwrap().trading);

    let response = bitstamp.fetch_snapshot(&btc).await.unwrap();
    assert!(response.url.ends_with("/api/v2/order_book/btcusd/"), "{}", response.url);
    let packet = bitstamp.parse_snapshot(&btc, &response.body, 77).unwrap();
    assert_eq!((packet.symbol.as_str(), packet.local_ts), ("BTC-USD", 77));
    assert_eq!(packet.exchange_ts, 1_641_343_695_564_720_000);
    let Payload::BookSnapshot(snapshot) = packet.data else { panic!() };
    assert_eq!(snapshot.seq, 1_641_343_695_564_720);
    assert_eq!(bitstamp.rest_limits().snapshot_weight, 1);
}

#[tokio::test]
async fn http_failures_are_classified() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v3/exchangeInfo"))
        .respond_with(
            ResponseTemplate::new(429).insert_header("Retry-After", "3").set_body_string("slow down"),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/common/symbols"))
        .respond_with(ResponseTemplate::new(400))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v5/market/instruments-info"))
        .respond_with(ResponseTemplate::new(200).set_body_string("<html>maintenance</html>"))
        .mount(&server)
        .await;
    let limited = venue(ExchangeId::Binance, &server).get_symbols().await.unwrap_err();
    assert!(matches!(limited, SymbolError::Status { status: 429, .. }) && limited.is_retryable());
    let bad = venue(ExchangeId::Huobi, &server).get_symbols().await.unwrap_err();
    assert!(matches!(bad, SymbolError::Status { status: 400, .. }) && !bad.is_retryable());
    let garbled = venue(ExchangeId::Bybit, &server).get_symbols().await.unwrap_err();
    assert!(matches!(garbled, SymbolError::Decode(_)));

    // Nothing listens on this port: a transport error, worth retrying.
    let dead =
        build(ExchangeId::Binance, &Endpoints { ws_url: None, rest_url: Some("http://127.0.0.1:9".into()) })
            .unwrap();
    let err = dead.get_symbols().await.unwrap_err();
    assert!(matches!(err, SymbolError::Transport(_)) && err.is_retryable(), "{err}");
}
