//! What a connection saw and did, before parsing: the raw-frame tap's events.
//!
//! A driver hands every [`RawEvent`] to a [`RawTap`] in the order it happened on that
//! connection: each frame read, each message sent (heartbeats and the pongs the WebSocket
//! library answers on its own included), connects and disconnects, each REST snapshot at the
//! moment the connection consumes it, and the symbol listing its parser was built from.
//! A recorder writes them to disk; a replay feeds them back through the same parser and books.

use std::sync::Arc;

use bytes::Bytes;

use crate::packet::{ExchangeId, UnixNanos};
use crate::status::{ConnId, DisconnectReason, Removal};
use crate::symbol::{Symbol, SymbolInfo, Symbols};

/// One WebSocket message, owned, sharing the socket's read buffer (no copy to tap a frame).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WsMessage {
    /// A text frame; always valid UTF-8 (see [`WsMessage::text`]).
    Text(Bytes),
    /// A binary frame (HTX's gzip JSON).
    Binary(Bytes),
    /// A protocol ping with its payload.
    Ping(Bytes),
    /// A protocol pong with its payload.
    Pong(Bytes),
    /// A close frame: code and reason, if any.
    Close(Option<(u16, String)>),
}

impl WsMessage {
    /// A text message from a string.
    pub fn from_text(text: impl Into<String>) -> Self {
        Self::Text(Bytes::from(text.into()))
    }

    /// A text message's text (`None` for other kinds, or bytes that are not UTF-8).
    pub fn text(&self) -> Option<&str> {
        match self {
            Self::Text(bytes) => std::str::from_utf8(bytes).ok(),
            _ => None,
        }
    }
}

/// What happened.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum RawKind {
    /// The venue's listing that parsers are built from from now on (connection 0: the venue).
    Listing(Arc<Symbols>),
    /// A WebSocket connection opened.
    Connected {
        /// The URL.
        url: String,
    },
    /// A message read from the socket.
    Received(WsMessage),
    /// A message written to the socket.
    Sent(WsMessage),
    /// A REST book snapshot, as the connection consumed it.
    Rest {
        /// Whose book.
        symbol: Symbol,
        /// The URL fetched.
        url: String,
        /// The body, exactly as received.
        body: String,
    },
    /// A connection task started for `url` (before its first symbols): a replay builds the
    /// same connection core, carrying the same channels, for this slot.
    Task {
        /// The WebSocket URL the task connects to.
        url: String,
    },
    /// The connection's parser now names symbols from the venue's latest [`RawKind::Listing`]
    /// (the listing was refreshed): recorded where the connection adopted it.
    ListingAdopted,
    /// Symbols were added to the connection (its first symbols, when its task starts, and every
    /// addition at run time, before the subscribe messages it causes), so a replay adds the same
    /// books at the same point.
    Symbols {
        /// Symbols added, as listed.
        added: Vec<SymbolInfo>,
        /// Whether the change was reported downstream (`Subscribed` statuses: run-time
        /// additions) or not (the symbols a driver starts with, reported by `Connected`).
        announced: bool,
    },
    /// Symbols were removed from the connection at run time (before the unsubscribe messages).
    Unsubscribed {
        /// Symbols removed.
        symbols: Vec<Symbol>,
        /// Why.
        reason: Removal,
    },
    /// The connection ended.
    Disconnected(DisconnectReason),
}

/// One event on one connection, with both clocks.
#[derive(Debug, Clone)]
pub struct RawEvent {
    /// The venue.
    pub exchange: ExchangeId,
    /// The connection's task, stable across its reconnects (0 for venue-wide events such as
    /// the listing): a replay keeps one parser, book set and sampler per slot, as the driver did.
    pub slot: u64,
    /// The socket session: a new id per connect ([`ConnId`] 0 before the first, and for
    /// venue-wide events).
    pub conn: ConnId,
    /// Wall-clock time of the event (ns since the epoch): the same value the packets made from
    /// it carry as `local_ts`.
    pub local_ts: UnixNanos,
    /// Monotonic time (ns since an arbitrary start), immune to wall-clock steps.
    pub mono_ns: u64,
    /// What happened.
    pub kind: RawKind,
}

/// Sees every raw event of a driver, in order per connection.
///
/// Called inline on the connection's task: an implementation must not block (queue the event
/// and return). When no tap is set, the driver builds no events at all.
pub trait RawTap: Send + Sync {
    /// Takes one event.
    fn record(&self, event: RawEvent);
}

/// Monotonic nanoseconds since the first call in this process.
pub fn mono_ns() -> u64 {
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    let start = START.get_or_init(std::time::Instant::now);
    u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX)
}
