//! The REST endpoints: listings (with Bybit paging), Binance depth snapshots, errors.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{exchange, http_get, within};
use md_core::{ExchangeId, Symbol};
use md_sim::{SimConfig, Simulator};
use serde_json::Value;

fn json(body: &str) -> Value {
    serde_json::from_str(body).unwrap()
}

async fn sim() -> Simulator {
    let config = SimConfig { updates_per_sec: 0.0, trades_per_sec: 0.0, depth: 10, ..SimConfig::default() };
    within(5, Simulator::start(config)).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listings_match_the_simulated_symbols() {
    let sim = sim().await;
    for id in ExchangeId::BUILT_IN {
        let listing = within(10, exchange(&sim, id).get_symbols()).await.unwrap();
        assert_eq!(listing.len(), 3, "{id}");
        for info in sim.symbols(id) {
            assert_eq!(listing.canonical(&info.native), Some(&info.symbol), "{id}");
            assert!(listing.resolve(info.symbol.as_str()).unwrap().trading);
        }
    }
    let (status, head, body) = http_get(&sim.rest_url(ExchangeId::Binance), "/api/v3/exchangeInfo").await;
    assert_eq!(status, 200);
    assert!(head.contains("content-type: application/json") && head.contains("connection: close"));
    assert_eq!(
        json(&body)["symbols"][0],
        serde_json::json!({"symbol":"BTCUSDT","status":"TRADING","baseAsset":"BTC","quoteAsset":"USDT"})
    );
    let (_, _, body) = http_get(&sim.rest_url(ExchangeId::Huobi), "/v1/common/symbols").await;
    let body = json(&body);
    assert_eq!(body["status"], "ok");
    assert_eq!(body["data"][2]["symbol"], "solusdt");
    assert_eq!(body["data"][2]["base-currency"], "sol");
    within(5, sim.shutdown()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bybit_instruments_are_paged_with_a_cursor() {
    let sim = sim().await;
    let rest = sim.rest_url(ExchangeId::Bybit);
    let (status, _, first) = http_get(&rest, "/v5/market/instruments-info?category=spot&limit=1000").await;
    assert_eq!(status, 200);
    let first = json(&first);
    assert_eq!(first["retCode"], 0);
    assert_eq!(first["result"]["list"].as_array().unwrap().len(), 2);
    let cursor = first["result"]["nextPageCursor"].as_str().unwrap().to_owned();
    assert!(!cursor.is_empty());
    let (_, _, second) =
        http_get(&rest, &format!("/v5/market/instruments-info?category=spot&cursor={cursor}")).await;
    let second = json(&second);
    assert_eq!(second["result"]["list"][0]["symbol"], "SOLUSDT");
    assert_eq!(second["result"]["list"][0]["status"], "Trading");
    assert_eq!(second["result"]["nextPageCursor"], "");
    let (_, _, bad) = http_get(&rest, "/v5/market/instruments-info?category=linear").await;
    assert_ne!(json(&bad)["retCode"], 0);
    within(5, sim.shutdown()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binance_depth_is_the_true_book_and_errors_have_binance_codes() {
    let sim = sim().await;
    let rest = sim.rest_url(ExchangeId::Binance);
    let (status, _, body) = http_get(&rest, "/api/v3/depth?symbol=ETHUSDT&limit=5").await;
    assert_eq!(status, 200);
    let body = json(&body);
    let truth = sim.book(ExchangeId::Binance, &Symbol::new("ETH", "USDT")).unwrap();
    assert_eq!(body["lastUpdateId"], truth.seq);
    let bids = body["bids"].as_array().unwrap();
    assert_eq!(bids.len(), 5);
    assert_eq!(body["asks"].as_array().unwrap().len(), 5);
    let price = md_core::parse_decimal(bids[0][0].as_str().unwrap()).unwrap();
    assert_eq!(price, truth.bids[0].price);
    assert_eq!(bids[0][0].as_str().unwrap().split('.').nth(1).unwrap().len(), 8);
    let (status, _, body) = http_get(&rest, "/api/v3/depth?symbol=ETHUSDT").await;
    assert_eq!(status, 200);
    assert_eq!(json(&body)["bids"].as_array().unwrap().len(), 10, "default 100, book has 10");

    let (status, _, body) = http_get(&rest, "/api/v3/depth?symbol=FOOUSDT&limit=5").await;
    assert_eq!(status, 400);
    assert_eq!(json(&body), serde_json::json!({"code":-1121,"msg":"Invalid symbol."}));
    let (status, _, _) = http_get(&rest, "/api/v3/depth?symbol=ethusdt").await;
    assert_eq!(status, 400);
    let (status, _, _) = http_get(&rest, "/api/v3/nothing").await;
    assert_eq!(status, 404);
    assert_eq!(sim.stats(ExchangeId::Binance).snapshots_served, 2);
    within(5, sim.shutdown()).await;
}
