//! md-exchanges: the venues of md, one folder each.
//!
//! Each venue folder holds its config (URLs default to the public endpoints and can be
//! overridden), private wire types, pure parsers, subscribe messages and its book sync rule,
//! and implements the [`md_core`] traits. [`build`] picks venues at run time.
#![forbid(unsafe_code)]

pub mod binance;
pub mod bitstamp;
pub mod bybit;
mod common;
pub mod huobi;

pub use common::rest::http_client;

use md_core::{Exchange, ExchangeId};

/// Endpoint overrides for [`build`]; `None` keeps the venue's public default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Endpoints {
    /// WebSocket URL.
    pub ws_url: Option<String>,
    /// REST base URL.
    pub rest_url: Option<String>,
}

/// Builds a built-in venue by id, applying endpoint overrides; `None` for venues md does not implement.
pub fn build(id: ExchangeId, endpoints: &Endpoints) -> Option<Box<dyn Exchange>> {
    let Endpoints { ws_url, rest_url } = endpoints.clone();
    match id {
        ExchangeId::Binance => {
            let mut config = binance::BinanceConfig::default();
            config.ws_url = ws_url.unwrap_or(config.ws_url);
            config.rest_url = rest_url.unwrap_or(config.rest_url);
            Some(Box::new(binance::Binance::new(config)))
        }
        ExchangeId::Bybit => {
            let mut config = bybit::BybitConfig::default();
            config.ws_url = ws_url.unwrap_or(config.ws_url);
            config.rest_url = rest_url.unwrap_or(config.rest_url);
            Some(Box::new(bybit::Bybit::new(config)))
        }
        ExchangeId::Bitstamp => {
            let mut config = bitstamp::BitstampConfig::default();
            config.ws_url = ws_url.unwrap_or(config.ws_url);
            config.rest_url = rest_url.unwrap_or(config.rest_url);
            Some(Box::new(bitstamp::Bitstamp::new(config)))
        }
        ExchangeId::Huobi => {
            let mut config = huobi::HuobiConfig::default();
            // One override serves both HTX endpoints, or book connections would bypass it.
            if let Some(url) = ws_url {
                config.set_single_ws_url(url);
            }
            config.rest_url = rest_url.unwrap_or(config.rest_url);
            Some(Box::new(huobi::Huobi::new(config)))
        }
        _ => None,
    }
}
