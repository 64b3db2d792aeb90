//! HTX (Huobi) spot wire types, private to this venue. Keys are HTX's own, some with dashes
//! (`err-code`); prices and sizes are JSON numbers, often in exponent form (`9.121E-7`), read
//! exactly through [`Dec`] / [`Levels`].

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::common::levels::{Dec, Levels};

/// Every frame, read once to decide what it is. Payloads stay raw until the kind is known.
///
/// Data push: `{"ch":"market.btcusdt.trade.detail","ts":1616243199157,"tick":{...}}`.
/// Heartbeat: `{"ping":1492420473027}`.
/// Sub ack: `{"id":"id1","status":"ok","subbed":"market.btcusdt.kline.1min","ts":1489474081631}`.
/// Unsub ack: `{"id":"id4","status":"ok","unsubbed":"market.btcusdt.trade.detail","ts":1494326028889}`.
/// Pull reply: `{"id":"1","status":"ok","ts":1593561601666,"rep":"market.btcusdt.mbp.150","data":{...}}`.
/// Error: `{"status":"error","ts":1684650798105,"id":"id488","err-code":"bad-request","err-msg":"invalid symbol lmrusdt"}`.
/// Depth pushes may also carry `"status":"ok"` next to `ch`; `ch` decides.
#[derive(Deserialize)]
pub(super) struct Envelope<'a> {
    #[serde(borrow)]
    pub ch: Option<&'a str>,
    pub ping: Option<u64>,
    pub ts: Option<i64>,
    #[serde(borrow)]
    pub tick: Option<&'a RawValue>,
    #[serde(borrow)]
    pub status: Option<&'a str>,
    #[serde(borrow)]
    pub subbed: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub unsubbed: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub rep: Option<&'a str>,
    #[serde(borrow)]
    pub data: Option<&'a RawValue>,
    /// Integer or string, as the client sent it.
    #[serde(borrow)]
    pub id: Option<&'a RawValue>,
    #[serde(borrow, rename = "err-code")]
    pub err_code: Option<Cow<'a, str>>,
    #[serde(borrow, rename = "err-msg")]
    pub err_msg: Option<Cow<'a, str>>,
}

/// `market.$symbol.trade.detail` tick:
/// `{"id":123140716701,"ts":1616243199156,"data":[{"id":123140716701236887569077664,"ts":1616243199156,"tradeId":102357140867,"amount":1.98E-4,"price":58911.07,"direction":"sell"}]}`.
#[derive(Deserialize)]
pub(super) struct TradeTick<'a> {
    #[serde(borrow)]
    pub data: Vec<TradeEntry<'a>>,
}

/// One trade of a `trade.detail` tick. The legacy `id` is a 24–27 digit integer that does not
/// fit a `u64` ("to be obsoleted"): it is kept as raw text, only as a fallback for `tradeId`.
#[derive(Deserialize)]
pub(super) struct TradeEntry<'a> {
    #[serde(borrow)]
    pub id: Option<&'a RawValue>,
    #[serde(rename = "tradeId")]
    pub trade_id: Option<u64>,
    pub ts: i64,
    pub price: Dec,
    pub amount: Dec,
    pub direction: Direction,
}

/// The taker's side of an HTX trade: `"buy"` or `"sell"`.
#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
pub(super) enum Direction {
    Buy,
    Sell,
}

/// `market.$symbol.depth.step0` (`step0`..`step5`) full-book push:
/// `{"bids":[[9.121E-7,92730.24]],"asks":[[9.2E-7,1520.0]],"version":155386874272,"ts":1653985338000}`.
#[derive(Deserialize)]
pub(super) struct DepthTick {
    pub bids: Option<Levels>,
    pub asks: Option<Levels>,
    pub version: u64,
    pub ts: Option<i64>,
}

/// `market.$symbol.mbp.150` (`.5`, `.20`) incremental; a side may be absent or `[]`:
/// `{"seqNum":140059393690,"prevSeqNum":140059393689,"asks":[[61945.07,5.33E-4]]}`.
#[derive(Deserialize)]
pub(super) struct MbpTick {
    #[serde(rename = "seqNum")]
    pub seq_num: u64,
    #[serde(rename = "prevSeqNum")]
    pub prev_seq_num: u64,
    pub bids: Option<Levels>,
    pub asks: Option<Levels>,
}

/// The `data` of a `req` reply for `market.$symbol.mbp.150` (and the `mbp.refresh.$levels` tick):
/// `{"seqNum":109409288160,"bids":[[9137.67,4.683547]],"asks":[[9137.68,0.190075]]}`.
#[derive(Deserialize)]
pub(super) struct MbpImage {
    #[serde(rename = "seqNum")]
    pub seq_num: u64,
    pub bids: Option<Levels>,
    pub asks: Option<Levels>,
}

/// `GET /v1/common/symbols`: only the fields md needs.
/// `{"status":"ok","data":[{"base-currency":"btc","quote-currency":"usdt","symbol":"btcusdt","state":"online",...}]}`;
/// errors: `{"status":"error","err-code":"...","err-msg":"..."}`.
#[derive(Deserialize)]
pub(super) struct SymbolsResponse {
    pub status: String,
    pub data: Option<Vec<SymbolEntry>>,
    #[serde(rename = "err-code")]
    pub err_code: Option<String>,
    #[serde(rename = "err-msg")]
    pub err_msg: Option<String>,
}

/// One `data[]` entry of `/v1/common/symbols`; `state` is `online`, `offline`, `suspend` or `pre-online`.
#[derive(Deserialize)]
pub(super) struct SymbolEntry {
    pub symbol: Option<String>,
    #[serde(rename = "base-currency")]
    pub base: Option<String>,
    #[serde(rename = "quote-currency")]
    pub quote: Option<String>,
    pub state: Option<String>,
}
