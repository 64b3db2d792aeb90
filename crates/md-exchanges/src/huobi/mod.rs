//! HTX (formerly Huobi) spot: `trade.detail` trades and `mbp.150` or `depth.step0` books.
//!
//! Every server frame is GZIP-compressed JSON in a binary frame; the server pings with
//! `{"ping":n}` every 5 s and drops the connection after two unanswered pings, so the parser
//! answers each with [`Control::Reply`] `{"pong":n}` (wire-formats.md §3).
//!
//! Book modes ([`HuobiBook`]):
//! - [`HuobiBook::Mbp150`] (default): `market.$symbol.mbp.150` incrementals on the `/feed`
//!   endpoint, aligned to a `req` refresh image sent on the same connection
//!   ([`SnapshotSource::InBand`]). Each incremental names the previous one's `seqNum` in
//!   `prevSeqNum` ([`SeqRule::PrevLink`]); `seqNum`s are not consecutive integers. The first
//!   increment to apply is the one whose `prevSeqNum` equals the image's `seqNum`.
//! - [`HuobiBook::Step0`]: `market.$symbol.depth.step0` full images (≤150 levels, about one a
//!   second) on `/ws` ([`SnapshotSource::Stream`]); simpler, no incrementals.

mod gzip;
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

pub use parse::{gunzip, parse_binary, parse_text, MAX_DECOMPRESSED_BYTES};

use crate::common::rest;

/// Which HTX book feed to record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum HuobiBook {
    /// `mbp.150` incrementals on `/feed` plus an in-band `req` refresh image (tick-level, verified).
    #[default]
    Mbp150,
    /// `depth.step0` full images on `/ws`, about one a second.
    Step0,
}

/// Where and how to reach HTX. Every URL can point at a simulator, testnet or proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HuobiConfig {
    /// Market-data WebSocket endpoint (`/ws`): trades, `depth.step0`.
    pub ws_url: String,
    /// Market-by-price WebSocket endpoint (`/feed`), used for book connections in
    /// [`HuobiBook::Mbp150`] mode. Empty: [`HuobiConfig::ws_url`] carries everything.
    pub feed_url: String,
    /// REST base URL.
    pub rest_url: String,
    /// Which book feed to record.
    pub book: HuobiBook,
}

impl Default for HuobiConfig {
    fn default() -> Self {
        Self {
            ws_url: "wss://api.huobi.pro/ws".into(),
            feed_url: "wss://api.huobi.pro/feed".into(),
            rest_url: "https://api.huobi.pro".into(),
            book: HuobiBook::default(),
        }
    }
}

impl HuobiConfig {
    /// Points every WebSocket connection at `url` (a simulator or proxy): sets `ws_url` and
    /// clears `feed_url`, so that book connections cannot keep reaching the public `/feed`.
    pub fn set_single_ws_url(&mut self, url: String) {
        self.ws_url = url;
        self.feed_url.clear();
    }
}

/// The HTX spot venue.
#[derive(Debug, Clone)]
pub struct Huobi {
    config: HuobiConfig,
    client: reqwest::Client,
}

impl Huobi {
    /// A venue with this config.
    pub fn new(config: HuobiConfig) -> Self {
        Self { config, client: rest::http_client() }
    }

    /// Its config.
    pub fn config(&self) -> &HuobiConfig {
        &self.config
    }
}

/// Parses one HTX frame: gzip JSON in binary frames, or plain text JSON.
pub fn parse_frame(
    frame: Frame<'_>,
    symbols: &Symbols,
    local_ts: UnixNanos,
    out: &mut Vec<DataPacket>,
) -> Result<Control, ParseError> {
    match frame {
        Frame::Text(text) => parse_text(text, symbols, local_ts, out),
        Frame::Binary(bytes) => parse_binary(bytes, symbols, local_ts, out),
    }
}

impl Listener for Huobi {
    fn ws_url(&self, channels: &[Channel]) -> String {
        // mbp incrementals exist only on /feed, and their `req` must share the connection.
        let feed = self.config.book == HuobiBook::Mbp150 && channels.contains(&Channel::Book);
        if feed && !self.config.feed_url.is_empty() {
            self.config.feed_url.clone()
        } else {
            self.config.ws_url.clone()
        }
    }

    fn topics(&self, symbol: &SymbolInfo, channel: Channel) -> Vec<String> {
        subscribe::topics(symbol, channel, self.config.book)
    }

    fn subscribe_messages(&self, topics: &[String]) -> Vec<String> {
        subscribe::subscribe_messages(topics)
    }

    fn unsubscribe_messages(&self, topics: &[String]) -> Vec<String> {
        subscribe::unsubscribe_messages(topics)
    }

    fn heartbeat(&self) -> Option<Heartbeat> {
        // HTX pings us in-band ({"ping":n}); the parser's Control::Reply answers.
        None
    }

    fn limits(&self) -> ConnectionLimits {
        ConnectionLimits {
            // HTX documents no per-connection topic cap (2021 docs). 100 keeps one connection's
            // gzip + JSON load small enough that pongs go out within the server's 2-ping (10 s)
            // grace even during bursts, and limits what one disconnect interrupts.
            max_streams_per_connection: 100,
            max_topics_per_subscribe: subscribe::TOPICS_PER_MESSAGE,
            // Pulls (`req`) are documented at one per 100 ms per connection; sub limits are not
            // documented, so every client message is paced at that rate.
            max_messages_per_second: 10,
            max_lifetime: None,
            // Server pings every 5 s reach even an idle connection.
            liveness_timeout: Duration::from_secs(30),
        }
    }
}

#[async_trait]
impl SymbolHandler for Huobi {
    async fn get_symbols(&self) -> Result<Symbols, SymbolError> {
        let url = format!("{}/v1/common/symbols", self.config.rest_url);
        let body: wire::SymbolsResponse = rest::get_json(&self.client, &url).await?;
        if body.status != "ok" {
            return Err(SymbolError::Venue(format!(
                "status {}: {}: {}",
                body.status,
                body.err_code.unwrap_or_default(),
                body.err_msg.unwrap_or_default()
            )));
        }
        let symbols = Symbols::new(body.data.unwrap_or_default().into_iter().filter_map(|entry| {
            let (native, base, quote) = (entry.symbol?, entry.base?, entry.quote?);
            Some(SymbolInfo {
                symbol: Symbol::new(&base, &quote),
                trading: entry.state.as_deref() == Some("online"),
                native,
            })
        }));
        if symbols.is_empty() {
            return Err(SymbolError::Missing);
        }
        Ok(symbols)
    }
}

#[async_trait]
impl Exchange for Huobi {
    fn id(&self) -> ExchangeId {
        ExchangeId::Huobi
    }

    fn parser(&self, symbols: Arc<Symbols>) -> Box<dyn Parser> {
        Box::new(ListingParser::new(symbols, parse_frame))
    }

    fn seq_rule(&self) -> SeqRule {
        // Only mbp incrementals chain; step0 sends full images only and never meets the rule.
        SeqRule::PrevLink
    }

    fn snapshot_source(&self) -> SnapshotSource {
        match self.config.book {
            HuobiBook::Mbp150 => SnapshotSource::InBand,
            HuobiBook::Step0 => SnapshotSource::Stream,
        }
    }

    fn snapshot_request(&self, symbol: &SymbolInfo) -> Option<String> {
        match self.config.book {
            HuobiBook::Mbp150 => Some(subscribe::snapshot_request(symbol)),
            HuobiBook::Step0 => None,
        }
    }
}
