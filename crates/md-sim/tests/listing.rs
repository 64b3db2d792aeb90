//! Listing changes at run time: unlisted instruments tick before they are listed, a delisted
//! one leaves the REST listing but keeps its data flowing to those subscribed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{exchange, http_get, within, Client};
use md_core::{ExchangeId, Symbol};
use md_sim::{SimConfig, Simulator};

fn doge() -> Symbol {
    Symbol::new("DOGE", "USDT")
}

fn config() -> SimConfig {
    SimConfig {
        unlisted: vec![("DOGE".into(), "USDT".into())],
        updates_per_sec: 100.0,
        trades_per_sec: 20.0,
        depth: 20,
        ..SimConfig::default()
    }
}

/// The venue's listing as md-exchanges reads it over REST (Bybit's through every page).
async fn listed(sim: &Simulator, id: ExchangeId) -> Vec<Symbol> {
    let listing = within(10, exchange(sim, id).get_symbols()).await.unwrap();
    let mut symbols: Vec<Symbol> = sim
        .all_symbols(id)
        .into_iter()
        .map(|i| i.symbol)
        .filter(|s| listing.resolve(s.as_str()).is_some())
        .collect();
    symbols.sort();
    assert_eq!(listing.len(), symbols.len(), "{id}: the listing names an instrument md-sim does not have");
    symbols
}

fn sorted(symbols: &[&str]) -> Vec<Symbol> {
    let mut out: Vec<Symbol> = symbols.iter().map(|s| Symbol::parse(s).unwrap()).collect();
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_and_delisting_change_every_venues_rest_listing() {
    let sim = within(5, Simulator::start(config())).await.unwrap();
    let btc = Symbol::new("BTC", "USDT");
    for id in ExchangeId::BUILT_IN {
        assert_eq!(listed(&sim, id).await, sorted(&["BTC-USDT", "ETH-USDT", "SOL-USDT"]), "{id}");
        assert_eq!(sim.symbols(id).len(), 3, "{id}");
        let all = sim.all_symbols(id);
        assert_eq!(all.len(), 4, "{id}");
        assert!(all.iter().any(|i| i.symbol == doge() && !i.trading), "{id}: {all:?}");
        // Unlisted, it still has a book.
        assert!(sim.book(id, &doge()).is_some(), "{id}");

        sim.set_listed(id, &doge(), true);
        assert_eq!(
            listed(&sim, id).await,
            sorted(&["BTC-USDT", "DOGE-USDT", "ETH-USDT", "SOL-USDT"]),
            "{id}"
        );
        assert!(sim.symbols(id).iter().any(|i| i.symbol == doge() && i.trading), "{id}");

        sim.set_listed(id, &btc, false);
        assert_eq!(listed(&sim, id).await, sorted(&["DOGE-USDT", "ETH-USDT", "SOL-USDT"]), "{id}");
        assert!(!sim.symbols(id).iter().any(|i| i.symbol == btc), "{id}");
        // Unknown symbols are ignored.
        sim.set_listed(id, &Symbol::new("XRP", "USDT"), true);
        assert_eq!(sim.all_symbols(id).len(), 4, "{id}");
    }
    // Each venue has its own listing.
    sim.set_listed(ExchangeId::Binance, &btc, true);
    assert!(sim.symbols(ExchangeId::Binance).iter().any(|i| i.symbol == btc));
    assert!(!sim.symbols(ExchangeId::Bybit).iter().any(|i| i.symbol == btc));
    let (_, _, body) = http_get(&sim.rest_url(ExchangeId::Huobi), "/v1/common/symbols").await;
    assert!(body.contains("dogeusdt") && !body.contains("btcusdt"), "{body}");
    within(5, sim.shutdown()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unlisted_instruments_tick_and_delisted_ones_keep_flowing_to_subscribers() {
    for id in ExchangeId::BUILT_IN {
        let mut config = config();
        config.venues = vec![id];
        let sim = within(5, Simulator::start(config)).await.unwrap();
        let btc = Symbol::new("BTC", "USDT");
        let mut client = Client::connect_with(&sim, id, None, sim.all_symbols(id)).await;
        // Subscribed before it is listed: its data flows like any other's.
        client.subscribe_all().await;
        assert!(client.read_until(5, |c| c.packets_for(&doge()) > 20).await, "{id}: no data for DOGE");
        assert_eq!(sim.subscribers(id, &doge()), 1, "{id}");

        sim.set_listed(id, &btc, false);
        assert!(!sim.symbols(id).iter().any(|i| i.symbol == btc), "{id}");
        let before = client.packets_for(&btc);
        assert!(client.read_until(5, |c| c.packets_for(&btc) > before + 20).await, "{id}: BTC stopped");
        assert!(client.parse_errors.is_empty(), "{id}: {:?}", client.parse_errors);
        within(5, sim.shutdown()).await;
    }
}
