//! `DataPacket`: the one normalized event every venue's frames become.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::decimal::Decimal;
use crate::status::Status;
use crate::symbol::Symbol;

/// Nanoseconds since the Unix epoch.
pub type UnixNanos = i64;

/// The wall clock now, in nanoseconds since the Unix epoch (0 if the clock is before 1970).
pub fn now_ns() -> UnixNanos {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

/// Milliseconds to nanoseconds, saturating instead of overflowing on hostile input.
pub fn ms_to_ns(ms: i64) -> UnixNanos {
    ms.saturating_mul(1_000_000)
}

/// The venues md knows. `#[non_exhaustive]`: the roadmap adds more.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum ExchangeId {
    /// Binance spot.
    Binance,
    /// Bybit v5 spot.
    Bybit,
    /// HTX (formerly Huobi) spot; named `huobi` on the command line as in the original design.
    Huobi,
    /// Bitstamp spot (WebSocket API v2).
    Bitstamp,
    /// A venue added by a user of the crates (see `examples/new_venue.rs`).
    Custom,
}

impl ExchangeId {
    /// Every venue md-exchanges implements: the one list that flags, configs, the simulator's
    /// checks and error messages name venues from.
    pub const BUILT_IN: [ExchangeId; 4] =
        [ExchangeId::Binance, ExchangeId::Bybit, ExchangeId::Huobi, ExchangeId::Bitstamp];

    /// The built-in venues' names, `binance, bybit, huobi, bitstamp`, for "valid: ..." messages.
    pub fn built_in_names() -> String {
        Self::BUILT_IN.iter().map(|id| id.as_str()).collect::<Vec<_>>().join(", ")
    }

    /// Parses a built-in venue's name (see [`ExchangeId::parse`]); `None` for names md does
    /// not implement.
    pub fn parse_built_in(name: &str) -> Option<Self> {
        Self::parse(name).filter(|id| Self::BUILT_IN.contains(id))
    }

    /// The lower-case name used in configs, tags and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Binance => "binance",
            Self::Bybit => "bybit",
            Self::Huobi => "huobi",
            Self::Bitstamp => "bitstamp",
            Self::Custom => "custom",
        }
    }

    /// Parses a name as [`ExchangeId::as_str`] prints it; `htx` is accepted for `huobi`.
    pub fn parse(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "binance" => Some(Self::Binance),
            "bybit" => Some(Self::Bybit),
            "huobi" | "htx" => Some(Self::Huobi),
            "bitstamp" => Some(Self::Bitstamp),
            _ => None,
        }
    }
}

impl fmt::Display for ExchangeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One normalized market-data event.
///
/// Every packet says where it came from and carries both clocks: the venue's own timestamp
/// and the local receive time, in nanoseconds, so latency and clock skew stay measurable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataPacket {
    /// Source venue.
    pub exchange: ExchangeId,
    /// Canonical symbol.
    pub symbol: Symbol,
    /// The venue's event time (ns). Venues that send ms give `ms * 1_000_000`.
    pub exchange_ts: UnixNanos,
    /// When the frame was read from the socket (ns).
    pub local_ts: UnixNanos,
    /// What happened.
    pub data: Payload,
}

/// The kinds of event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Payload {
    /// A trade.
    Trade(Trade),
    /// A full order-book image (replaces the book).
    BookSnapshot(BookSnapshot),
    /// Changed order-book levels.
    BookDelta(BookDelta),
    /// Connection or book state (emitted by the driver, never by a parser).
    Status(Status),
}

impl Payload {
    /// The kind's name as serialized (`trade`, `book_snapshot`, `book_delta`, `status`): sinks
    /// name a kind they do not know by it when they count and log it.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Self::Trade(_) => "trade",
            Self::BookSnapshot(_) => "book_snapshot",
            Self::BookDelta(_) => "book_delta",
            Self::Status(_) => "status",
        }
    }
}

/// The taker's side of a trade.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// The taker bought (lifted the ask).
    Buy,
    /// The taker sold (hit the bid).
    Sell,
}

impl Side {
    /// `buy` or `sell`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Buy => "buy",
            Self::Sell => "sell",
        }
    }
}

/// A venue's trade identifier: numeric where the venue uses integers, text otherwise
/// (Bybit linear sends UUIDs). Serialized as a string either way.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum TradeId {
    /// An integer id (Binance `t`, HTX `tradeId`, Bybit spot `i`).
    Number(u64),
    /// Any other id.
    Text(String),
}

impl TradeId {
    /// A numeric id when the text is a u64 written canonically (so printing it gives the same
    /// text back: no sign, no leading zeros), text otherwise.
    pub fn from_text(text: &str) -> Self {
        let canonical = text == "0" || (!text.starts_with('0') && text.bytes().all(|b| b.is_ascii_digit()));
        match text.parse() {
            Ok(n) if canonical => Self::Number(n),
            _ => Self::Text(text.to_owned()),
        }
    }
}

impl fmt::Display for TradeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Number(n) => write!(f, "{n}"),
            Self::Text(t) => f.write_str(t),
        }
    }
}

/// A trade.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trade {
    /// Price, exact.
    pub price: Decimal,
    /// Base-asset quantity, exact.
    pub qty: Decimal,
    /// Taker side.
    pub side: Side,
    /// The venue's trade id.
    pub trade_id: TradeId,
}

impl AsRef<BookDelta> for BookDelta {
    fn as_ref(&self) -> &BookDelta {
        self
    }
}

/// One price level: the total quantity resting at a price. Quantity zero in a delta deletes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Level {
    /// Price.
    pub price: Decimal,
    /// Quantity at that price (absolute, not a change).
    pub qty: Decimal,
}

impl Level {
    /// A level.
    pub fn new(price: Decimal, qty: Decimal) -> Self {
        Self { price, qty }
    }
}

/// A full book image: bids best (highest) first, asks best (lowest) first.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct BookSnapshot {
    /// Bid levels, best first.
    pub bids: Vec<Level>,
    /// Ask levels, best first.
    pub asks: Vec<Level>,
    /// The venue's sequence of this image (Binance `lastUpdateId`, Bybit `u`, HTX `seqNum`/`version`).
    pub seq: u64,
}

/// The sequence fields of an incremental, as the venue gives them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Sequence {
    /// First update id covered (Binance `U`).
    pub first: Option<u64>,
    /// Last update id covered (Binance `u`, Bybit `u`, HTX `seqNum`).
    pub last: u64,
    /// The previous message's last id (Binance futures `pu`, HTX `prevSeqNum`).
    pub prev: Option<u64>,
}

/// Changed levels of a book; quantity zero deletes the level.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct BookDelta {
    /// Changed bid levels.
    pub bids: Vec<Level>,
    /// Changed ask levels.
    pub asks: Vec<Level>,
    /// Where this update sits in the venue's sequence.
    pub seq: Sequence,
}

#[cfg(test)]
mod tests {
    use super::TradeId;

    #[test]
    fn trade_ids_print_back_as_sent() {
        for text in ["0", "2290000000090712222", "007", "+5", "4c7b6bdc-b4a3", "", "18446744073709551616"] {
            assert_eq!(TradeId::from_text(text).to_string(), text);
        }
        assert_eq!(TradeId::from_text("42"), TradeId::Number(42));
        assert_eq!(TradeId::from_text("042"), TradeId::Text("042".into()));
    }
}
