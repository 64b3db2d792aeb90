//! Which venues md-sim speaks, and the configurations it refuses.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::within;
use md_core::ExchangeId;
use md_sim::{simulates, ConfigError, SimConfig, Simulator};

#[test]
fn every_built_in_venue_is_simulated_and_others_are_refused() {
    for id in ExchangeId::BUILT_IN {
        assert!(simulates(id), "{id}");
        assert_eq!(SimConfig { venues: vec![id], ..SimConfig::default() }.validate(), Ok(()), "{id}");
    }
    // A venue without a protocol module is refused, never served another venue's protocol.
    let id = ExchangeId::Custom;
    assert!(!simulates(id), "{id}");
    let config = SimConfig { venues: vec![ExchangeId::Binance, id], ..SimConfig::default() };
    assert_eq!(config.validate(), Err(ConfigError::UnsupportedVenue(id)));
    assert_eq!(SimConfig::default().validate(), Ok(()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_refuses_a_venue_it_does_not_speak() {
    let config = SimConfig { venues: vec![ExchangeId::Custom], ..SimConfig::default() };
    let err = within(5, Simulator::start(config)).await.unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    assert!(err.to_string().contains("custom"), "{err}");
}

#[test]
fn unlisted_instruments_must_be_valid_and_named_once() {
    let pair = |b: &str, q: &str| (b.to_owned(), q.to_owned());
    let with = |unlisted| SimConfig { unlisted, ..SimConfig::default() };
    assert_eq!(with(vec![pair("DOGE", "USDT")]).validate(), Ok(()));
    assert_eq!(
        with(vec![pair("DO-GE", "USDT")]).validate(),
        Err(ConfigError::InvalidSymbol("DO-GE-USDT".into()))
    );
    // Also in `symbols`, in another case: one name, one instrument.
    assert_eq!(
        with(vec![pair("btc", "usdt")]).validate(),
        Err(ConfigError::DuplicateSymbol("BTC-USDT".into()))
    );
    assert_eq!(
        with(vec![pair("DOGE", "USDT"), pair("DOGE", "USDT")]).validate(),
        Err(ConfigError::DuplicateSymbol("DOGE-USDT".into()))
    );
}
