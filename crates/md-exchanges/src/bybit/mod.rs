//! Bybit v5 spot: `publicTrade.{symbol}` and `orderbook.{depth}.{symbol}`.
//!
//! Book sync (wire-formats.md §2.4): the stream sends a `snapshot` after subscribing (and may
//! resend one at any time, which resets the book), then `delta`s whose `u` is the previous
//! `u` + 1 ([`SeqRule::Consecutive`]); `u == 1` is a service restart and overwrites the book.

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
    ListingParser, ParseError, Parser, SeqRule, SnapshotSource, Symbol, SymbolError, SymbolHandler,
    SymbolInfo, Symbols, UnixNanos,
};

pub use parse::parse_text;

use crate::common::{frame_text, rest};

/// Where and how to reach Bybit. Every URL can point at a simulator, testnet or proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BybitConfig {
    /// Public spot WebSocket endpoint.
    pub ws_url: String,
    /// REST base URL.
    pub rest_url: String,
    /// Book depth to subscribe: 1, 50, 200 or 1000 for spot.
    pub depth: u32,
}

impl Default for BybitConfig {
    fn default() -> Self {
        Self {
            ws_url: "wss://stream.bybit.com/v5/public/spot".into(),
            rest_url: "https://api.bybit.com".into(),
            depth: 50,
        }
    }
}

/// The Bybit spot venue.
#[derive(Debug, Clone)]
pub struct Bybit {
    config: BybitConfig,
    client: reqwest::Client,
}

impl Bybit {
    /// A venue with this config.
    pub fn new(config: BybitConfig) -> Self {
        Self { config, client: rest::http_client() }
    }

    /// Its config.
    pub fn config(&self) -> &BybitConfig {
        &self.config
    }
}

/// Parses one Bybit frame (text JSON; binary frames are read as UTF-8 JSON).
pub fn parse_frame(
    frame: Frame<'_>,
    symbols: &Symbols,
    local_ts: UnixNanos,
    out: &mut Vec<DataPacket>,
) -> Result<Control, ParseError> {
    parse_text(frame_text(frame)?, symbols, local_ts, out)
}

impl Listener for Bybit {
    fn ws_url(&self, _channels: &[Channel]) -> String {
        self.config.ws_url.clone()
    }

    fn topics(&self, symbol: &SymbolInfo, channel: Channel) -> Vec<String> {
        subscribe::topics(symbol, channel, self.config.depth)
    }

    fn subscribe_messages(&self, topics: &[String]) -> Vec<String> {
        subscribe::subscribe_messages(topics)
    }

    fn unsubscribe_messages(&self, topics: &[String]) -> Vec<String> {
        subscribe::unsubscribe_messages(topics)
    }

    fn heartbeat(&self) -> Option<Heartbeat> {
        // Bybit cuts connections idle for 10 minutes and recommends a ping every 20 s.
        Some(Heartbeat { interval: Duration::from_secs(20), message: r#"{"op":"ping"}"#.into() })
    }

    fn limits(&self) -> ConnectionLimits {
        ConnectionLimits {
            // No per-connection topic cap on spot other than 21,000 characters of args; 200
            // topics of ~25 characters stay well inside it.
            max_streams_per_connection: 200,
            max_topics_per_subscribe: subscribe::ARGS_PER_SUBSCRIBE,
            max_messages_per_second: 10,
            max_lifetime: None,
            // Our own 20 s pings are answered, so silence for 60 s means a dead connection.
            liveness_timeout: Duration::from_secs(60),
        }
    }
}

/// Pages beyond this mean the venue is looping its cursor.
const MAX_PAGES: usize = 100;

#[async_trait]
impl SymbolHandler for Bybit {
    async fn get_symbols(&self) -> Result<Symbols, SymbolError> {
        let mut symbols = Symbols::default();
        let mut cursor = String::new();
        for _ in 0..MAX_PAGES {
            let mut url =
                format!("{}/v5/market/instruments-info?category=spot&limit=1000", self.config.rest_url);
            if !cursor.is_empty() {
                url.push_str("&cursor=");
                url.push_str(&cursor);
            }
            let page: wire::InstrumentsResponse = rest::get_json(&self.client, &url).await?;
            if page.ret_code != 0 {
                return Err(SymbolError::Venue(format!("retCode {}: {}", page.ret_code, page.ret_msg)));
            }
            let result = page.result.ok_or(SymbolError::Missing)?;
            for item in result.list {
                symbols.insert(SymbolInfo {
                    symbol: Symbol::new(&item.base, &item.quote),
                    trading: item.status == "Trading",
                    native: item.symbol,
                });
            }
            if result.next_page_cursor.is_empty() || result.next_page_cursor == cursor {
                break;
            }
            cursor = result.next_page_cursor;
        }
        if symbols.is_empty() {
            return Err(SymbolError::Missing);
        }
        Ok(symbols)
    }
}

#[async_trait]
impl Exchange for Bybit {
    fn id(&self) -> ExchangeId {
        ExchangeId::Bybit
    }

    fn parser(&self, symbols: Arc<Symbols>) -> Box<dyn Parser> {
        Box::new(ListingParser::new(symbols, parse_frame))
    }

    fn seq_rule(&self) -> SeqRule {
        SeqRule::Consecutive
    }

    fn snapshot_source(&self) -> SnapshotSource {
        SnapshotSource::Stream
    }
}
