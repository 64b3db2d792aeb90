//! md-bench: synthetic but valid venue traffic for md's benchmarks.
//!
//! [`frames`] pre-encodes a stream per venue (book incrementals with correct sequence chains,
//! trades, the snapshot answers), so a benchmark measures md, not the generator; [`inprocess`]
//! runs them through the driver's own connection core with no socket, the in-process rate the
//! end-to-end rate is judged against.
#![forbid(unsafe_code)]

pub mod frames;
pub mod inprocess;
pub mod measure;
pub mod replay;
pub mod sender;

pub use md_pipeline::runtime as ingest_runtime;
