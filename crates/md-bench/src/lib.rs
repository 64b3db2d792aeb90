//! md-bench: synthetic but valid venue traffic for md's benchmarks.
//!
//! [`frames`] pre-encodes a stream per venue (book incrementals with correct sequence chains,
//! trades, the snapshot answers), so a benchmark measures md, not the generator.
#![forbid(unsafe_code)]

pub mod frames;
pub mod measure;
pub mod sender;
