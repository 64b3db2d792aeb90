//! Bybit v5 public wire types, private to this venue. Key order differs between spot and
//! derivatives (`ts` before or after `type`), so everything is read by key.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::common::levels::{Dec, Levels};

/// Every frame, read once to decide what it is.
///
/// Data: `{"topic":"orderbook.50.BTCUSDT","ts":1731035685326,"type":"snapshot","data":{...},"cts":...}`.
/// Control: `{"success":true,"ret_msg":"subscribe","conn_id":"…","op":"subscribe"}`, pongs
/// `{"success":true,"ret_msg":"pong","conn_id":"…","op":"ping"}` (spot) or
/// `{"op":"pong","args":["1753340040127"],"conn_id":"…"}` (option/private).
#[derive(Deserialize)]
pub(super) struct Envelope<'a> {
    #[serde(borrow)]
    pub topic: Option<&'a str>,
    #[serde(borrow, rename = "type")]
    pub kind: Option<&'a str>,
    pub ts: Option<i64>,
    #[serde(borrow)]
    pub data: Option<&'a RawValue>,
    #[serde(borrow)]
    pub op: Option<&'a str>,
    pub success: Option<bool>,
    #[serde(borrow)]
    pub ret_msg: Option<Cow<'a, str>>,
}

/// An `orderbook.*` frame read in one pass: `{"topic":…,"ts":…,"type":"delta","data":{…}}`.
#[derive(Deserialize)]
pub(super) struct BookFrame<'a> {
    pub ts: Option<i64>,
    #[serde(borrow, rename = "type")]
    pub kind: &'a str,
    #[serde(borrow)]
    pub data: BookData<'a>,
}

/// `orderbook.{depth}.{symbol}` data:
/// `{"s":"BTCUSDT","b":[["75848.62","0.014895"]],"a":[["75852.65","0"]],"u":2876701,"seq":47474967823}`.
/// <https://bybit-exchange.github.io/docs/v5/websocket/public/orderbook>
#[derive(Deserialize)]
pub(super) struct BookData<'a> {
    #[serde(borrow, rename = "s")]
    pub symbol: &'a str,
    #[serde(rename = "b")]
    pub bids: Levels,
    #[serde(rename = "a")]
    pub asks: Levels,
    #[serde(rename = "u")]
    pub update_id: u64,
}

/// One `publicTrade.{symbol}` entry:
/// `{"i":"2290000000090712222","T":1703430744102,"p":"43774","v":"0.0026","S":"Sell","s":"BTCUSDT","BT":false}`.
/// Spot ids are numeric strings, linear ids UUIDs. <https://bybit-exchange.github.io/docs/v5/websocket/public/trade>
#[derive(Deserialize)]
pub(super) struct TradeData<'a> {
    #[serde(borrow, rename = "i")]
    pub trade_id: &'a str,
    #[serde(rename = "T")]
    pub trade_time: i64,
    #[serde(rename = "p")]
    pub price: Dec,
    #[serde(rename = "v")]
    pub qty: Dec,
    #[serde(borrow, rename = "S")]
    pub side: &'a str,
    #[serde(borrow, rename = "s")]
    pub symbol: &'a str,
}

/// `GET /v5/market/instruments-info` envelope:
/// `{"retCode":0,"retMsg":"OK","result":{"category":"spot","list":[...],"nextPageCursor":""}}`.
#[derive(Deserialize)]
pub(super) struct InstrumentsResponse {
    #[serde(rename = "retCode")]
    pub ret_code: i64,
    #[serde(rename = "retMsg", default)]
    pub ret_msg: String,
    pub result: Option<InstrumentsResult>,
}

#[derive(Deserialize)]
pub(super) struct InstrumentsResult {
    #[serde(default)]
    pub list: Vec<Instrument>,
    #[serde(rename = "nextPageCursor", default)]
    pub next_page_cursor: String,
}

/// One instrument: `{"symbol":"BTCUSDT","baseCoin":"BTC","quoteCoin":"USDT","status":"Trading",...}`.
#[derive(Deserialize)]
pub(super) struct Instrument {
    pub symbol: String,
    #[serde(rename = "baseCoin")]
    pub base: String,
    #[serde(rename = "quoteCoin")]
    pub quote: String,
    pub status: String,
}
