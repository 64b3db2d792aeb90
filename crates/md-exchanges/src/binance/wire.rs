//! Binance spot wire types, private to this venue. Field names are Binance's one-letter keys,
//! which are case-sensitive (`e`/`E`, `u`/`U`, `b`/`B` are different fields).

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::common::levels::{Dec, Levels};

/// Every frame, read once to decide what it is.
///
/// Combined stream: `{"stream":"nknusdt@depth@100ms","data":{...}}`.
/// Control replies: `{"result":null,"id":1}`; errors `{"code":2,"msg":"..."}` (documented) or
/// `{"error":{"code":2,"msg":"..."},"id":1}` (seen in clients); both are handled.
#[derive(Deserialize)]
pub(super) struct Envelope<'a> {
    #[serde(borrow)]
    pub stream: Option<&'a str>,
    #[serde(borrow)]
    pub data: Option<&'a RawValue>,
    #[serde(borrow, rename = "e")]
    pub event: Option<&'a str>,
    #[serde(borrow)]
    pub result: Option<&'a RawValue>,
    #[serde(borrow)]
    pub id: Option<&'a RawValue>,
    pub code: Option<i64>,
    #[serde(borrow)]
    pub msg: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub error: Option<ErrorBody<'a>>,
}

/// `{"code":2,"msg":"Invalid request: invalid stream"}`.
#[derive(Deserialize)]
pub(super) struct ErrorBody<'a> {
    pub code: Option<i64>,
    #[serde(borrow)]
    pub msg: Option<Cow<'a, str>>,
}

/// `<symbol>@depth@100ms` diff:
/// `{"e":"depthUpdate","E":1633935180066,"s":"NKNUSDT","U":499869750,"u":499869752,"b":[["0.35210000","0.00000000"]],"a":[]}`.
/// USD-M futures add `pu` (previous event's `u`) and `T`.
/// <https://developers.binance.com/docs/binance-spot-api-docs/web-socket-streams#diff-depth-stream>
#[derive(Deserialize)]
pub(super) struct DepthUpdate<'a> {
    #[serde(rename = "E")]
    pub event_time: i64,
    #[serde(borrow, rename = "s")]
    pub symbol: &'a str,
    #[serde(rename = "U")]
    pub first: u64,
    #[serde(rename = "u")]
    pub last: u64,
    #[serde(rename = "pu")]
    pub prev: Option<u64>,
    #[serde(rename = "b")]
    pub bids: Levels,
    #[serde(rename = "a")]
    pub asks: Levels,
}

/// `<symbol>@trade`:
/// `{"e":"trade","E":1672515782136,"s":"BNBBTC","t":12345,"p":"0.001","q":"100","T":1672515782136,"m":true,"M":true}`.
#[derive(Deserialize)]
pub(super) struct TradeEvent<'a> {
    #[serde(borrow, rename = "s")]
    pub symbol: &'a str,
    #[serde(rename = "t")]
    pub trade_id: u64,
    #[serde(rename = "p")]
    pub price: Dec,
    #[serde(rename = "q")]
    pub qty: Dec,
    #[serde(rename = "T")]
    pub trade_time: i64,
    #[serde(rename = "m")]
    pub buyer_is_maker: bool,
}

/// `<symbol>@aggTrade`: like a trade, with the aggregate id `a`.
#[derive(Deserialize)]
pub(super) struct AggTradeEvent<'a> {
    #[serde(borrow, rename = "s")]
    pub symbol: &'a str,
    #[serde(rename = "a")]
    pub agg_id: u64,
    #[serde(rename = "p")]
    pub price: Dec,
    #[serde(rename = "q")]
    pub qty: Dec,
    #[serde(rename = "T")]
    pub trade_time: i64,
    #[serde(rename = "m")]
    pub buyer_is_maker: bool,
}

/// REST `GET /api/v3/depth` body and the `@depth<N>` partial-book push (same shape):
/// `{"lastUpdateId":160,"bids":[["0.0024","10"]],"asks":[["0.0026","100"]]}`. USD-M adds `E`, `T`.
#[derive(Deserialize)]
pub(super) struct DepthSnapshot {
    #[serde(rename = "lastUpdateId")]
    pub last_update_id: u64,
    #[serde(rename = "E")]
    pub event_time: Option<i64>,
    pub bids: Levels,
    pub asks: Levels,
}

/// `GET /api/v3/exchangeInfo`: only the fields md needs.
#[derive(Deserialize)]
pub(super) struct ExchangeInfo {
    pub symbols: Vec<SymbolEntry>,
}

#[derive(Deserialize)]
pub(super) struct SymbolEntry {
    pub symbol: String,
    pub status: String,
    #[serde(rename = "baseAsset")]
    pub base: String,
    #[serde(rename = "quoteAsset")]
    pub quote: String,
}
