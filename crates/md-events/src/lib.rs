//! md-events: per-symbol event files of normalized packets, for backtests and research.
//!
//! - [`EventFiles`]: a [`md_pipeline::Sink`] writing every `(venue, symbol)` of the stream
//!   into `DIR/<EXCHANGE>_<BASE>_<QUOTE>_<start>.mdev` files ([`naming`]), rotated hourly
//!   and by size; [`EventWriter`] is the same writer without the async loop (for a replay or
//!   a conversion tool).
//! - [`format`](mod@format) and [`codec`]: a versioned file header, then checksummed raw-deflate chunks
//!   (each with both clocks' time ranges) of compact, exact records (varints, decimals as
//!   scale + mantissa).
//! - [`EventReader`]: an iterator of packets over a time range, several files and symbols
//!   merged by local or exchange time; torn tails and damaged chunks are skipped, never fatal.
//!
//! The layout tables are in the crate's README.md and in [`format`](mod@format) and [`codec`].
#![forbid(unsafe_code)]

pub mod codec;
mod error;
pub mod format;
pub mod naming;
pub mod reader;
mod sink;
pub mod writer;

pub use error::EventsError;
pub use naming::{parse_time, EventFileName};
pub use reader::{list_files, EventQuery, EventReader, Order};
pub use sink::EventFiles;
pub use writer::{EventFilesConfig, EventWriter, WriteFault};

/// The format version this build writes and reads (in every file header).
pub const FORMAT_VERSION: u16 = 1;
