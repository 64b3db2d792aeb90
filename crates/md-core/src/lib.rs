//! md-core: the normalized market-data model of md and the traits every venue implements.
//!
//! - [`DataPacket`]: one normalized event (trade, book snapshot, book incremental, status),
//!   carrying the venue, the canonical [`Symbol`], the venue's timestamp and the local receive
//!   time in nanoseconds.
//! - [`decimal`]: exact decimals parsed from the venue's text, never through `f64`.
//! - [`OrderBook`] / [`BookSync`]: an L2 book that enforces the venue's sequence rule and
//!   refuses gaps and crossed states with a typed [`BookError`].
//! - [`BookSet`] / [`SharedBook`]: verified books shared between the driver that applies
//!   updates and every reader; [`TopSampler`]: top-N snapshots on the stream's own clock.
//! - [`Status`]: connection and book state with typed reasons, per connection and symbol.
//! - [`RawEvent`] / [`RawTap`]: what a connection read and sent, before parsing.
//! - [`Exchange`], [`Listener`], [`Parser`], [`SymbolHandler`], [`Symbols`]: the venue traits.
#![forbid(unsafe_code)]

pub mod book;
pub mod book_set;
pub mod decimal;
pub mod error;
pub mod fault;
pub mod packet;
pub mod raw;
pub mod sample;
pub mod status;
pub mod symbol;
pub mod time;
pub mod venue;

/// A hash map with a fast, non-cryptographic hasher (FxHash), for the per-packet lookups by
/// symbol (listing, books, line series): SipHash cost more than the lookup itself. Its keys
/// are venue symbol names, not attacker-chosen input at a scale where flooding matters.
pub type FastMap<K, V> = std::collections::HashMap<K, V, rustc_hash::FxBuildHasher>;

pub use book::{
    Applied, BookRead, BookSync, CheckDiff, CheckOutcome, OrderBook, PendingUpdate, SeqRule, UndoBound,
};
pub use book_set::{BookKey, BookSet, BookState, SharedBook, Stamp};
pub use decimal::{parse_decimal, Decimal};
pub use error::{BookError, ParseError, SymbolError};
pub use fault::WriteFault;
pub use packet::{ms_to_ns, now_ns};
pub use packet::{
    BookDelta, BookSnapshot, DataPacket, ExchangeId, Level, Payload, Sequence, Side, Trade, TradeId,
    UnixNanos,
};
pub use raw::{mono_ns, RawEvent, RawKind, RawTap, WsMessage};
pub use sample::TopSampler;
pub use status::{ConnId, DisconnectReason, Gap, Removal, Status};
pub use symbol::{Symbol, SymbolInfo, Symbols};
pub use venue::{
    Channel, ConnectionLimits, Control, Exchange, Frame, Heartbeat, Listener, ListingParser, ParseFn, Parser,
    RestLimits, RestResponse, SnapshotSource, SymbolHandler,
};
