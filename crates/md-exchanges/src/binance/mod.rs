//! Binance spot: combined streams (`/stream`), `@trade` and `@depth@100ms`, REST depth snapshots.
//!
//! Book sync (wire-formats.md §1.4, Binance's documented procedure): buffer diffs, fetch
//! `/api/v3/depth`, drop diffs with `u <= lastUpdateId`, then every diff must start at or
//! before book id + 1 ([`SeqRule::UpdateIdRange`]); `U > id + 1` is a gap.

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

pub use parse::{parse_depth_snapshot, parse_text};

use crate::common::{frame_text, rest};

/// Where and how to reach Binance. Every URL can point at a simulator, testnet or proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BinanceConfig {
    /// Combined-stream WebSocket endpoint.
    pub ws_url: String,
    /// REST base URL.
    pub rest_url: String,
    /// Levels per REST snapshot (`limit`, max 5000; 1000 costs weight 50).
    pub snapshot_limit: u32,
}

impl Default for BinanceConfig {
    fn default() -> Self {
        Self {
            ws_url: "wss://stream.binance.com:9443/stream".into(),
            rest_url: "https://api.binance.com".into(),
            snapshot_limit: 1000,
        }
    }
}

/// The Binance spot venue.
#[derive(Debug, Clone)]
pub struct Binance {
    config: BinanceConfig,
    client: reqwest::Client,
}

impl Binance {
    /// A venue with this config.
    pub fn new(config: BinanceConfig) -> Self {
        Self { config, client: rest::http_client() }
    }

    /// Its config.
    pub fn config(&self) -> &BinanceConfig {
        &self.config
    }
}

/// The request weight of `GET /api/v3/depth` at this `limit` (Binance REST docs).
fn depth_weight(limit: u32) -> u32 {
    match limit {
        0..=100 => 5,
        101..=500 => 25,
        501..=1000 => 50,
        _ => 250,
    }
}

/// Parses one Binance frame (text JSON; binary frames are read as UTF-8 JSON).
pub fn parse_frame(
    frame: Frame<'_>,
    symbols: &Symbols,
    local_ts: UnixNanos,
    out: &mut Vec<DataPacket>,
) -> Result<Control, ParseError> {
    parse_text(frame_text(frame)?, symbols, local_ts, out)
}

impl Listener for Binance {
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
        // Binance pings us (WebSocket ping frames every 20 s); answering them is the driver's job.
        None
    }

    fn limits(&self) -> ConnectionLimits {
        ConnectionLimits {
            max_streams_per_connection: 1024,
            max_topics_per_subscribe: subscribe::STREAMS_PER_MESSAGE,
            max_messages_per_second: 5,
            // Binance cuts connections at 24 h; leave before it does.
            max_lifetime: Some(Duration::from_secs(23 * 3600 + 30 * 60)),
            // Pings every 20 s reach even an idle connection.
            liveness_timeout: Duration::from_secs(60),
        }
    }
}

#[async_trait]
impl SymbolHandler for Binance {
    async fn get_symbols(&self) -> Result<Symbols, SymbolError> {
        let url = format!("{}/api/v3/exchangeInfo", self.config.rest_url);
        let info: wire::ExchangeInfo = rest::get_json(&self.client, &url).await?;
        let symbols = Symbols::new(info.symbols.into_iter().map(|s| SymbolInfo {
            symbol: Symbol::new(&s.base, &s.quote),
            trading: s.status == "TRADING",
            native: s.symbol,
        }));
        if symbols.is_empty() {
            return Err(SymbolError::Missing);
        }
        Ok(symbols)
    }
}

#[async_trait]
impl Exchange for Binance {
    fn id(&self) -> ExchangeId {
        ExchangeId::Binance
    }

    fn parser(&self, symbols: Arc<Symbols>) -> Box<dyn Parser> {
        Box::new(ListingParser::new(symbols, parse_frame))
    }

    fn seq_rule(&self) -> SeqRule {
        SeqRule::UpdateIdRange
    }

    fn snapshot_source(&self) -> SnapshotSource {
        SnapshotSource::Rest
    }

    fn rest_limits(&self) -> RestLimits {
        // 6000 weight per minute per IP; keep a fifth for other clients on the same address.
        RestLimits { weight_per_minute: 4800, snapshot_weight: depth_weight(self.config.snapshot_limit) }
    }

    async fn fetch_snapshot(&self, symbol: &SymbolInfo) -> Result<RestResponse, SymbolError> {
        let url = format!(
            "{}/api/v3/depth?symbol={}&limit={}",
            self.config.rest_url, symbol.native, self.config.snapshot_limit
        );
        let body = rest::get_text(&self.client, &url).await?;
        Ok(RestResponse { url, body })
    }

    fn parse_snapshot(
        &self,
        symbol: &SymbolInfo,
        body: &str,
        local_ts: UnixNanos,
    ) -> Result<DataPacket, ParseError> {
        parse_depth_snapshot(body, symbol.symbol.clone(), local_ts)
    }
}
