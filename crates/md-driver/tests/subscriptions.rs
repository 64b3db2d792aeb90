//! Run-time subscriptions against md-sim, for every venue: a driver that starts with one
//! symbol takes another while running (its book synced and equal to md-sim's), refuses symbols
//! the venue does not list, drops a removed symbol (nothing of it after its `Unsubscribed`),
//! closes a connection left empty, and follows listing changes. Loopback only; bounded waits.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{symbol, Harness};
use md_core::{ExchangeId, Removal, Status};
use md_driver::{DriverConfig, Selection, SubscribeError};

/// Connections that carry one symbol: two where trades and books have URLs of their own (HTX's
/// `/ws` and `/feed`, unless one URL overrides both, as against md-sim).
fn connections_per_symbol(exchange: &dyn md_core::Exchange) -> usize {
    use md_core::Channel;
    if exchange.ws_url(&[Channel::Trades]) == exchange.ws_url(&[Channel::Book]) {
        1
    } else {
        2
    }
}

fn sim(venue: ExchangeId) -> md_sim::SimConfig {
    md_sim::SimConfig { unlisted: vec![("NEW".into(), "USDT".into())], ..common::sim_config(venue) }
}

async fn add_refuse_and_remove_at_run_time(venue: ExchangeId) {
    let selection = Selection::Symbols(vec!["BTC-USDT".into()]);
    let mut h = Harness::start_selecting(sim(venue), common::test_driver_config(), selection, |_| {}).await;
    assert_eq!(h.symbols.len(), 1);
    h.wait_synced().await;
    let (btc, eth) = (symbol("BTC-USDT"), symbol("ETH-USDT"));
    assert_eq!(h.sim.subscribers(venue, &eth), 0, "not subscribed before it is asked for");

    // Add: by the venue's own name, to show both forms work.
    let native = h.sim.symbols(venue).into_iter().find(|i| i.symbol == eth).unwrap().native;
    let added = h.handle.subscribe(&native).await.unwrap();
    assert_eq!(added.symbol, eth);
    h.symbols = h.sim.symbols(venue);
    h.wait_synced().await;
    h.assert_books_match_sim().await;
    assert_eq!(h.downstream.lock().unwrap().count(&eth, |s| matches!(s, Status::Subscribed { .. })), 1);
    let m = h.metrics.snapshot();
    assert_eq!((m.symbols_subscribed, m.books_in_sync), (2, 2), "{m:?}");

    // Refuse: unknown anywhere, and known to md-sim but not listed by the venue. Bitstamp would
    // ack a pair it does not have and then send nothing, so nothing may even be asked.
    let sent = h.sim.stats(venue).subscribe_messages;
    for unknown in ["DOGE-USDT", "NEW-USDT", "newusdt"] {
        let err = h.handle.subscribe(unknown).await.unwrap_err();
        assert!(matches!(err, SubscribeError::NotListed { .. }), "{unknown}: {err:?}");
    }
    assert_eq!(h.sim.subscribers(venue, &symbol("NEW-USDT")), 0, "nothing subscribed blindly");
    assert_eq!(h.sim.stats(venue).subscribe_messages, sent, "a refused symbol sent nothing");

    // Remove: unsubscribed at the venue, no packet of it after its Unsubscribed statuses.
    h.handle.unsubscribe("BTC-USDT").await.unwrap();
    let expected = connections_per_symbol(h.exchange.as_ref());
    let b = btc.clone();
    h.wait_for("BTC unsubscribed on every connection", move |d| {
        d.after_unsubscribe.get(&b).is_some_and(|(statuses, _)| *statuses == expected)
    })
    .await;
    let sim = h.sim.clone();
    let b = btc.clone();
    h.wait_for("md-sim to see BTC unsubscribed", move |_| sim.subscribers(venue, &b) == 0).await;
    let eth_packets = h.downstream.lock().unwrap().per_symbol[&eth];
    let e = eth.clone();
    h.wait_for("ETH to keep flowing", move |d| d.per_symbol[&e] > eth_packets + 20).await;
    {
        let d = h.downstream.lock().unwrap();
        assert_eq!(d.after_unsubscribe[&btc].1, 0, "packets of BTC after its Unsubscribed");
        assert!(d.statuses.iter().any(
            |(s, st)| *s == btc && matches!(st, Status::Unsubscribed { reason: Removal::Requested, .. })
        ));
    }
    assert!(h.sim.book(venue, &btc).is_some());
    assert!(matches!(h.handle.unsubscribe("BTC-USDT").await, Err(SubscribeError::NotSubscribed { .. })));
    assert_eq!(h.metrics.snapshot().books_in_sync, 1);

    // The last symbol gone: every connection closes.
    h.handle.unsubscribe("ETH-USDT").await.unwrap();
    let sim = h.sim.clone();
    h.wait_for("every connection closed", move |_| sim.connections(venue) == 0).await;
    assert_eq!(h.metrics.snapshot().connections_open, 0);
    // A symbol added again to an empty driver gets a new connection and a synced book.
    h.handle.subscribe("BTC-USDT").await.unwrap();
    h.symbols = vec![h.sim.symbols(venue).into_iter().find(|i| i.symbol == btc).unwrap()];
    h.wait_synced().await;
    h.assert_books_match_sim().await;
    let d = h.stop().await;
    assert_eq!(d.inconsistent, 0);
    assert_eq!(d.duplicate_trades, 0);
}

async fn follows_listing_changes_when_recording_everything(venue: ExchangeId) {
    let config =
        DriverConfig { listing_refresh: Some(Duration::from_millis(300)), ..common::test_driver_config() };
    let mut h = Harness::start_selecting(sim(venue), config, Selection::All, |_| {}).await;
    assert_eq!(h.symbols.len(), 2);
    h.wait_synced().await;
    let (btc, new) = (symbol("BTC-USDT"), symbol("NEW-USDT"));
    h.sim.set_listed(venue, &new, true);
    h.sim.set_listed(venue, &btc, false);
    h.symbols = h.sim.symbols(venue);
    assert!(h.symbols.iter().any(|i| i.symbol == new) && !h.symbols.iter().any(|i| i.symbol == btc));
    h.wait_synced().await;
    let b = btc.clone();
    h.wait_for("BTC dropped as delisted", move |d| {
        d.statuses
            .iter()
            .any(|(s, st)| *s == b && matches!(st, Status::Unsubscribed { reason: Removal::Delisted, .. }))
    })
    .await;
    let sim = h.sim.clone();
    h.wait_for("md-sim to see BTC unsubscribed", move |_| sim.subscribers(venue, &btc) == 0).await;
    h.assert_books_match_sim().await;
    assert!(h.metrics.snapshot().listings >= 2);
    let d = h.stop().await;
    assert_eq!(d.inconsistent, 0);
}

macro_rules! venue_tests {
    ($module:ident, $venue:expr) => {
        mod $module {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn add_refuse_and_remove_at_run_time() {
                super::add_refuse_and_remove_at_run_time($venue).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn follows_listing_changes_when_recording_everything() {
                super::follows_listing_changes_when_recording_everything($venue).await;
            }
        }
    };
}

venue_tests!(binance, ExchangeId::Binance);
venue_tests!(bybit, ExchangeId::Bybit);
venue_tests!(huobi, ExchangeId::Huobi);
venue_tests!(bitstamp, ExchangeId::Bitstamp);

#[tokio::test]
async fn a_driver_may_start_with_nothing_and_refuses_before_its_listing() {
    let sim = md_sim::Simulator::start(common::sim_config(ExchangeId::Bybit)).await.unwrap();
    let endpoints = md_exchanges::Endpoints { ws_url: Some(sim.ws_url(ExchangeId::Bybit)), rest_url: None };
    // No REST: the listing never arrives, so nothing can be checked, so nothing is subscribed.
    let endpoints = md_exchanges::Endpoints { rest_url: Some("http://127.0.0.1:9".into()), ..endpoints };
    let exchange = std::sync::Arc::from(md_exchanges::build(ExchangeId::Bybit, &endpoints).unwrap());
    let driver = md_driver::Driver::new(exchange, Selection::None, DriverConfig::default());
    let handle = driver.handle();
    let publisher = md_pipeline::FanOut::new().publisher();
    let cancel = tokio_util::sync::CancellationToken::new();
    let run = tokio::spawn(driver.run(publisher, cancel.clone()));
    let err = tokio::time::timeout(Duration::from_secs(5), handle.subscribe("BTC-USDT"))
        .await
        .unwrap()
        .unwrap_err();
    assert!(matches!(err, SubscribeError::ListingUnavailable { .. }), "{err:?}");
    assert_eq!(sim.connections(ExchangeId::Bybit), 0);
    cancel.cancel();
    tokio::time::timeout(Duration::from_secs(2), run).await.unwrap().unwrap().unwrap();
    assert!(matches!(handle.subscribe("BTC-USDT").await, Err(SubscribeError::Stopped)));
}
