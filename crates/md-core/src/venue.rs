//! The venue traits: what each exchange implements so that one generic driver can run it.
//!
//! The shapes follow the original design (`Exchange`, `Listener`, `Parser`, `SymbolHandler`,
//! `Symbols`) with two changes: every method takes `&self`, so a venue is a value built from a
//! config whose URLs can point at a simulator, a testnet or a proxy; and the traits are
//! object-safe, so the binary picks venues at run time as `Box<dyn Exchange>`.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::book::SeqRule;
use crate::error::{ParseError, SymbolError};
use crate::packet::{DataPacket, ExchangeId, UnixNanos};
use crate::symbol::{SymbolInfo, Symbols};

/// One WebSocket message as read from the socket, borrowed.
#[derive(Debug, Clone, Copy)]
pub enum Frame<'a> {
    /// A text frame.
    Text(&'a str),
    /// A binary frame (HTX sends gzip-compressed JSON this way).
    Binary(&'a [u8]),
}

/// What a frame meant, besides the packets it produced.
///
/// Control frames are handled by the driver; only data and status leave it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Control {
    /// A data frame; its packets (zero or more) were appended to the output.
    Data,
    /// The venue expects this text back now (HTX `{"ping":n}` → `{"pong":n}`).
    Reply(String),
    /// The venue answered our heartbeat.
    Pong,
    /// The venue confirmed a subscription (or another request).
    Subscribed {
        /// The topic or request id confirmed.
        topic: String,
    },
    /// The venue refused a request; the driver logs it and counts it.
    Rejected {
        /// The venue's own words.
        message: String,
    },
    /// The venue announced it will close this connection (Binance `serverShutdown`): reconnect now.
    Shutdown,
}

/// A kind of market data to subscribe to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Channel {
    /// Every trade.
    Trades,
    /// The L2 order book (snapshot plus incrementals, or periodic snapshots).
    Book,
}

impl Channel {
    /// Both channels.
    pub const ALL: [Channel; 2] = [Channel::Trades, Channel::Book];

    /// `trades` or `book`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Trades => "trades",
            Self::Book => "book",
        }
    }
}

/// A heartbeat the client must send on its own (Bybit's `{"op":"ping"}` every 20 s).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heartbeat {
    /// How often.
    pub interval: Duration,
    /// The text frame to send.
    pub message: String,
}

/// Per-connection limits the venue documents; the driver shards and paces by them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Streams (topics) one connection may carry (Binance 1024).
    pub max_streams_per_connection: usize,
    /// Topics one subscribe message may name (Bybit spot 10).
    pub max_topics_per_subscribe: usize,
    /// Client messages per second (Binance 5, pings included).
    pub max_messages_per_second: u32,
    /// The venue closes connections older than this (Binance 24 h): reconnect before.
    pub max_lifetime: Option<Duration>,
    /// No frame for this long means the connection is dead.
    pub liveness_timeout: Duration,
}

/// A venue's REST request budget, so that resyncing hundreds of books does not earn a 429 or
/// an IP ban (Binance answers 418 to clients that ignore its 429s).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestLimits {
    /// Request weight the venue allows per minute and IP.
    pub weight_per_minute: u32,
    /// The weight of one snapshot request.
    pub snapshot_weight: u32,
}

impl Default for RestLimits {
    fn default() -> Self {
        Self { weight_per_minute: 600, snapshot_weight: 1 }
    }
}

/// Where a venue's book snapshots come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnapshotSource {
    /// The stream sends them itself (Bybit `snapshot`, HTX `depth.step0`).
    Stream,
    /// A REST request per symbol ([`Exchange::fetch_snapshot`], [`Exchange::parse_snapshot`];
    /// Binance `/api/v3/depth`).
    Rest,
    /// A request sent on the same connection ([`Exchange::snapshot_request`]; HTX mbp `req`).
    InBand,
}

/// Turns the frames of one venue into [`DataPacket`]s.
///
/// Parsers are pure: the receive time comes in as an argument, so the same frames always give
/// the same packets (tests, replay). They never panic on any input.
pub trait Parser: Send + Sync {
    /// Parses one frame, appending any packets to `out`.
    fn parse(
        &self,
        frame: Frame<'_>,
        local_ts: UnixNanos,
        out: &mut Vec<DataPacket>,
    ) -> Result<Control, ParseError>;
}

/// Lists a venue's instruments over REST.
#[async_trait]
pub trait SymbolHandler: Send + Sync {
    /// Every spot instrument the venue lists, with native and canonical names.
    async fn get_symbols(&self) -> Result<Symbols, SymbolError>;
}

/// The WebSocket side of a venue: where to connect and what to send.
pub trait Listener: Send + Sync {
    /// The WebSocket URL for a connection carrying these channels.
    fn ws_url(&self, channels: &[Channel]) -> String;

    /// The topics (stream names) for one symbol and channel, as the venue spells them.
    fn topics(&self, symbol: &SymbolInfo, channel: Channel) -> Vec<String>;

    /// The subscribe messages for a set of topics, each within
    /// [`ConnectionLimits::max_topics_per_subscribe`].
    fn subscribe_messages(&self, topics: &[String]) -> Vec<String>;

    /// The unsubscribe messages for a set of topics. The driver resyncs a book whose snapshots
    /// come only from the stream (Bybit) by unsubscribing and subscribing its topic again.
    fn unsubscribe_messages(&self, topics: &[String]) -> Vec<String>;

    /// A heartbeat the client must send, if the venue wants one.
    fn heartbeat(&self) -> Option<Heartbeat>;

    /// The venue's documented connection limits.
    fn limits(&self) -> ConnectionLimits;
}

/// A REST response body, fetched raw: the driver stamps its receive time, shows it to the
/// raw-frame tap, and parses it with the venue's pure [`Exchange::parse_snapshot`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestResponse {
    /// The URL fetched.
    pub url: String,
    /// The body as received.
    pub body: String,
}

/// A parse function of the shape every venue's frame parser has.
pub type ParseFn = fn(Frame<'_>, &Symbols, UnixNanos, &mut Vec<DataPacket>) -> Result<Control, ParseError>;

/// A [`Parser`] from a venue's pure parse function and the listing that names its symbols:
/// what most venues need, so that they write a function rather than a type.
#[derive(Debug, Clone)]
pub struct ListingParser {
    symbols: Arc<Symbols>,
    parse: ParseFn,
}

impl ListingParser {
    /// A parser calling `parse` with `symbols`.
    pub fn new(symbols: Arc<Symbols>, parse: ParseFn) -> Self {
        Self { symbols, parse }
    }
}

impl Parser for ListingParser {
    fn parse(
        &self,
        frame: Frame<'_>,
        local_ts: UnixNanos,
        out: &mut Vec<DataPacket>,
    ) -> Result<Control, ParseError> {
        (self.parse)(frame, &self.symbols, local_ts, out)
    }
}

/// One venue: its identity, its WebSocket side ([`Listener`]), its listing
/// ([`SymbolHandler`]), its parser and its book rules.
#[async_trait]
pub trait Exchange: Listener + SymbolHandler + Send + Sync {
    /// Which venue.
    fn id(&self) -> ExchangeId;

    /// A parser naming packets with this listing.
    fn parser(&self, symbols: Arc<Symbols>) -> Box<dyn Parser>;

    /// How its book incrementals chain.
    fn seq_rule(&self) -> SeqRule;

    /// Where its book snapshots come from.
    fn snapshot_source(&self) -> SnapshotSource;

    /// Its REST budget.
    fn rest_limits(&self) -> RestLimits {
        RestLimits::default()
    }

    /// Fetches a book snapshot over REST ([`SnapshotSource::Rest`] venues), raw: the body is
    /// parsed by [`Exchange::parse_snapshot`] where the connection consumes it.
    async fn fetch_snapshot(&self, symbol: &SymbolInfo) -> Result<RestResponse, SymbolError> {
        let _ = symbol;
        Err(SymbolError::Venue(format!("{} has no REST snapshot", self.id())))
    }

    /// Parses a REST snapshot body into a snapshot packet received at `local_ts`. Pure: the
    /// same body and time always give the same packet (live, and in a replay).
    fn parse_snapshot(
        &self,
        symbol: &SymbolInfo,
        body: &str,
        local_ts: UnixNanos,
    ) -> Result<DataPacket, ParseError> {
        let _ = (body, local_ts);
        Err(ParseError::InvalidField {
            field: "snapshot",
            detail: format!("{} has no REST snapshot of {}", self.id(), symbol.native),
        })
    }

    /// The text that asks for a snapshot on the stream ([`SnapshotSource::InBand`] venues).
    fn snapshot_request(&self, symbol: &SymbolInfo) -> Option<String> {
        let _ = symbol;
        None
    }
}
