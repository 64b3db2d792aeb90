//! Bitstamp WebSocket v2 and REST wire types, private to this venue.
//!
//! Every WebSocket frame is one JSON object `{"event":…,"channel":…,"data":…}`; key order
//! differs between captures (`data` first on the live venue, `channel` first in re-serialised
//! copies), so everything is read by key. Numbers that matter are strings: book levels,
//! `microtimestamp` (µs) and a trade's `price_str`/`amount_str`/`id_str`.
//! <https://www.bitstamp.net/websocket/v2/>

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::common::levels::Levels;

/// Every frame, read once to decide what it is.
///
/// Data: `{"data":{…},"channel":"diff_order_book_bateur","event":"data"}`.
/// Control: `{"event":"bts:subscription_succeeded","channel":"diff_order_book_ethusd","data":{}}`,
/// `{"event":"bts:heartbeat","channel":"","data":{"status":"success"}}`,
/// `{"event":"bts:error","channel":"","data":{"code":null,"message":"Incorrect JSON format."}}`,
/// `{"event":"bts:request_reconnect","channel":"","data":null}`.
#[derive(Deserialize)]
pub(super) struct Envelope<'a> {
    #[serde(borrow)]
    pub event: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub channel: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub data: Option<&'a RawValue>,
}

/// `diff_order_book_{pair}` data (event `data`): the levels that changed, full depth; an
/// amount of zero (`"0.00000000"`) deletes the level.
/// `{"timestamp":"1641343694","microtimestamp":"1641343694435337","bids":[["1.16133","1200.00000000"]],"asks":[]}`
#[derive(Deserialize)]
pub(super) struct BookData<'a> {
    #[serde(borrow)]
    pub microtimestamp: Cow<'a, str>,
    pub bids: Levels,
    pub asks: Levels,
}

/// `live_trades_{pair}` data (event `trade`). `amount`/`price`/`id` are also sent as JSON
/// numbers, which a float would round (`id` can exceed 2^53): only the `*_str` fields and the
/// id's own digits are read.
/// `{"id":216000477,"timestamp":"1641343699","amount":0.0792,"amount_str":"0.07920000","price":3805.44,"price_str":"3805.44","type":0,"microtimestamp":"1641343699596000","buy_order_id":1443875737346049,"sell_order_id":1443875731320832}`
#[derive(Deserialize)]
pub(super) struct TradeData<'a> {
    /// The id as text, when the venue sends it (newer frames).
    #[serde(borrow, default)]
    pub id_str: Option<Cow<'a, str>>,
    /// The id as the JSON number's own digits (older frames have no `id_str`).
    #[serde(borrow, default)]
    pub id: Option<&'a RawValue>,
    #[serde(borrow)]
    pub price_str: Cow<'a, str>,
    #[serde(borrow)]
    pub amount_str: Cow<'a, str>,
    /// 0: the taker bought, 1: the taker sold.
    #[serde(rename = "type")]
    pub side: u8,
    #[serde(borrow)]
    pub microtimestamp: Cow<'a, str>,
}

/// `bts:error` data: `{"code":null,"message":"Bad subscription string."}` (code null or 4009).
#[derive(Deserialize)]
pub(super) struct ErrorData<'a> {
    #[serde(default)]
    pub code: Option<i64>,
    #[serde(borrow, default)]
    pub message: Option<Cow<'a, str>>,
}

/// REST `GET /api/v2/order_book/{pair}/`: the full book at `microtimestamp`.
/// `{"timestamp":"1641343695","microtimestamp":"1641343695564720","bids":[["1.16134","3866.00000000"]],"asks":[…]}`
#[derive(Deserialize)]
pub(super) struct OrderBook<'a> {
    #[serde(borrow)]
    pub microtimestamp: Cow<'a, str>,
    pub bids: Levels,
    pub asks: Levels,
}

/// One row of REST `GET /api/v2/trading-pairs-info/`:
/// `{"trading":"Enabled","base_decimals":8,"url_symbol":"btcusd","name":"BTC/USD","instant_and_market_orders":"Enabled","minimum_order":"20.0 USD","counter_decimals":2,"description":"Bitcoin / U.S. dollar"}`.
#[derive(Deserialize)]
pub(super) struct TradingPair {
    /// `BTC/USD`: base and counter (quote) asset.
    pub name: String,
    /// `btcusd`: the name channels and REST paths use.
    pub url_symbol: String,
    /// `Enabled` or `Disabled`.
    pub trading: String,
}
