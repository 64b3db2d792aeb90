//! Raw capture: what md's venue connections saw and did, before parsing, on disk; and readers
//! that give it back as [`md_core::RawEvent`]s — md's own captures, and other tools' (tardis,
//! cryptofeed) — so that `md-replay` feeds them through the same parsers, books and sinks as live.
//!
//! - [`CaptureWriter`]: a [`md_core::RawTap`] per venue, writing append-only, compressed,
//!   checksummed, indexed files under `<dir>/<venue>/`, rotated hourly and by size.
//! - [`read`]: a capture directory, a venue's directory or a file back as [`CaptureItem`]s,
//!   damage reported as items and skipped, never fatal.
//!
//! The on-disk format is documented, record kind by record kind, in this crate's README.
#![forbid(unsafe_code)]

pub mod block;
pub mod error;
pub mod foreign;
pub mod format;
pub mod index;
pub mod naming;
pub mod reader;
pub mod record;
pub mod wire;
pub mod writer;

pub use error::CaptureError;
pub use format::{CaptureHeader, RecordKind, FORMAT_VERSION};
pub use naming::CaptureName;
pub use reader::{read, CaptureItem, CaptureReader, ReadOptions};
pub use writer::{
    CaptureConfig, CaptureHealth, CaptureMetrics, CaptureStats, CaptureWriter, Codec, Retention, WriteFault,
};
