//! md-core: the normalized market-data model of md and the traits every venue implements.
//!
//! - [`DataPacket`]: one normalized event (trade, book snapshot, book incremental, status),
//!   carrying the venue, the canonical [`Symbol`], the venue's timestamp and the local receive
//!   time in nanoseconds.
//! - [`decimal`]: exact decimals parsed from the venue's text, never through `f64`.
//! - [`OrderBook`] / [`BookSync`]: an L2 book that enforces the venue's sequence rule and
//!   refuses gaps and crossed states with a typed [`BookError`].
//! - [`Exchange`], [`Listener`], [`Parser`], [`SymbolHandler`], [`Symbols`]: the venue traits.
#![forbid(unsafe_code)]

pub mod book;
pub mod decimal;
pub mod error;
pub mod packet;
pub mod symbol;
pub mod venue;

pub use book::{Applied, BookSync, OrderBook, SeqRule};
pub use decimal::{parse_decimal, Decimal};
pub use error::{BookError, ParseError, SymbolError};
pub use packet::{ms_to_ns, now_ns};
pub use packet::{
    BookDelta, BookSnapshot, DataPacket, ExchangeId, Level, Payload, Sequence, Side, Status, Trade, TradeId,
    UnixNanos,
};
pub use symbol::{Symbol, SymbolInfo, Symbols};
pub use venue::{
    Channel, ConnectionLimits, Control, Exchange, Frame, Heartbeat, Listener, Parser, RestLimits,
    SnapshotSource, SymbolHandler,
};
