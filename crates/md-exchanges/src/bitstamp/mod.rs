//! Bitstamp spot, WebSocket API v2: `live_trades_{pair}` and `diff_order_book_{pair}`, REST
//! full-depth snapshots, the `trading-pairs-info` listing.
//!
//! Book sync (next-capabilities §1): Bitstamp's diffs carry no sequence number and no
//! checksum, only the venue's clock, `microtimestamp` (µs), which never runs backwards. It is
//! the sequence id of each diff and of the REST snapshot (`GET /api/v2/order_book/{pair}/`,
//! full depth): buffer diffs, fetch the snapshot, drop diffs at or before its
//! `microtimestamp`, apply the rest, an amount of zero deleting the level
//! ([`SeqRule::Timestamped`]). A lost diff cannot be seen this way, so the driver also
//! cross-checks in-sync books against fresh REST snapshots.
//!
//! Listing: Bitstamp acknowledges a subscription to a pair it does not have and then sends
//! nothing, forever; the listing (`GET /api/v2/trading-pairs-info/`) is what refuses unknown
//! pairs, and the driver never subscribes a symbol its listing lacks.

mod parse;
mod subscribe;
#[cfg(test)]
mod tests;
mod wire;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use md_core::{
    Channel, ConnectionLimits, Control, DataPacket, Exchange, ExchangeId, Frame, Heartbeat, Listener,
    ListingParser, ParseError, Parser, RestLimits, RestResponse, SeqRule, SnapshotSource, Symbol,
    SymbolError, SymbolHandler, SymbolInfo, Symbols, UnixNanos,
};

pub use parse::{parse_order_book, parse_text};
pub use subscribe::MAX_CLIENT_FRAME;

use crate::common::{frame_text, rest};

/// Where and how to reach Bitstamp. Every URL can point at a simulator or a proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BitstampConfig {
    /// WebSocket v2 endpoint (one for every channel).
    pub ws_url: String,
    /// REST base URL.
    pub rest_url: String,
}

impl Default for BitstampConfig {
    fn default() -> Self {
        Self { ws_url: "wss://ws.bitstamp.net".into(), rest_url: "https://www.bitstamp.net".into() }
    }
}

/// The Bitstamp spot venue.
#[derive(Debug, Clone)]
pub struct Bitstamp {
    config: BitstampConfig,
    client: reqwest::Client,
}

impl Bitstamp {
    /// A venue with this config.
    pub fn new(config: BitstampConfig) -> Self {
        Self { config, client: rest::http_client() }
    }

    /// Its config.
    pub fn config(&self) -> &BitstampConfig {
        &self.config
    }
}

/// Parses one Bitstamp frame (text JSON; binary frames are read as UTF-8 JSON).
pub fn parse_frame(
    frame: Frame<'_>,
    symbols: &Symbols,
    local_ts: UnixNanos,
    out: &mut Vec<DataPacket>,
) -> Result<Control, ParseError> {
    parse_text(frame_text(frame)?, symbols, local_ts, out)
}

/// Parses a `GET /api/v2/trading-pairs-info/` body: `url_symbol` is the native name, `name`
/// (`BTC/USD`) gives base and quote, `trading == "Enabled"` says it trades. Rows whose name is
/// not `BASE/QUOTE` of two alphanumeric parts (no spot pair md could name) are left out.
pub fn parse_trading_pairs(body: &str) -> Result<Symbols, SymbolError> {
    let rows: Vec<wire::TradingPair> = serde_json::from_str(body).map_err(SymbolError::Decode)?;
    let alphanumeric = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric());
    let symbols = Symbols::new(rows.into_iter().filter_map(|row| {
        let (base, quote) = row.name.split_once('/')?;
        (alphanumeric(base) && alphanumeric(quote) && alphanumeric(&row.url_symbol)).then(|| SymbolInfo {
            symbol: Symbol::new(base, quote),
            trading: row.trading == "Enabled",
            native: row.url_symbol.to_ascii_lowercase(),
        })
    }));
    if symbols.is_empty() {
        return Err(SymbolError::Missing);
    }
    Ok(symbols)
}

impl Listener for Bitstamp {
    fn ws_url(&self, _channels: &[Channel]) -> String {
        self.config.ws_url.clone()
    }

    fn topics(&self, symbol: &SymbolInfo, channel: Channel) -> Vec<String> {
        subscribe::topics(symbol, channel)
    }

    fn subscribe_messages(&self, topics: &[String]) -> Vec<String> {
        subscribe::subscribe_messages(topics)
    }

    fn unsubscribe_messages(&self, topics: &[String]) -> Vec<String> {
        subscribe::unsubscribe_messages(topics)
    }

    fn heartbeat(&self) -> Option<Heartbeat> {
        // A quiet book is silent for up to 49 s and the venue's own WebSocket pings come only
        // every ~54 s: our heartbeat every 20 s keeps a reply arriving well inside the
        // liveness timeout.
        Some(Heartbeat { interval: Duration::from_secs(20), message: subscribe::HEARTBEAT.into() })
    }

    fn limits(&self) -> ConnectionLimits {
        ConnectionLimits {
            // "The 1025th subscription is silently closed."
            max_streams_per_connection: 1024,
            // One channel per `bts:subscribe`.
            max_topics_per_subscribe: 1,
            // Bitstamp documents no client message rate (only the channel and frame-size
            // limits), so stay modest: 10 a second is twice Binance's documented 5, and a full
            // listing (140 pairs in the 2022 capture, two channels each) still subscribes in
            // about half a minute, once per connection.
            max_messages_per_second: 10,
            // Connections live at most 90 days; leave a day early.
            max_lifetime: Some(Duration::from_secs(89 * 86_400)),
            // Heartbeat replies every 20 s reach even a connection whose books are quiet.
            liveness_timeout: Duration::from_secs(60),
        }
    }
}

#[async_trait]
impl SymbolHandler for Bitstamp {
    async fn get_symbols(&self) -> Result<Symbols, SymbolError> {
        let url = format!("{}/api/v2/trading-pairs-info/", self.config.rest_url);
        parse_trading_pairs(&rest::get_text(&self.client, &url).await?)
    }
}

#[async_trait]
impl Exchange for Bitstamp {
    fn id(&self) -> ExchangeId {
        ExchangeId::Bitstamp
    }

    fn parser(&self, symbols: Arc<Symbols>) -> Box<dyn Parser> {
        Box::new(ListingParser::new(symbols, parse_frame))
    }

    fn seq_rule(&self) -> SeqRule {
        SeqRule::Timestamped
    }

    fn snapshot_source(&self) -> SnapshotSource {
        SnapshotSource::Rest
    }

    fn rest_limits(&self) -> RestLimits {
        // 8,000 requests per 10 minutes per IP (800 a minute), every request weighing one;
        // keep a quarter for the listing and other clients on the same address. Resyncs and
        // the driver's cross-check snapshots share this budget.
        RestLimits { weight_per_minute: 600, snapshot_weight: 1 }
    }

    async fn fetch_snapshot(&self, symbol: &SymbolInfo) -> Result<RestResponse, SymbolError> {
        // Without `group`, the book is grouped by price (`group=1`): one row per level, full depth.
        let url = format!("{}/api/v2/order_book/{}/", self.config.rest_url, symbol.native);
        let body = rest::get_text(&self.client, &url).await?;
        Ok(RestResponse { url, body })
    }

    fn parse_snapshot(
        &self,
        symbol: &SymbolInfo,
        body: &str,
        local_ts: UnixNanos,
    ) -> Result<DataPacket, ParseError> {
        parse_order_book(body, symbol.symbol.clone(), local_ts)
    }
}
