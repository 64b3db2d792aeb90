//! md-ingest and md-replay, as a library of their parts: flags and settings, the sinks they
//! store into, metrics and status lines, and the two compositions of the spine — live venue
//! drivers ([`app`]) and a replay of recorded frames ([`replay`]) — feeding the same sinks.
#![forbid(unsafe_code)]

pub mod app;
pub mod cli;
pub mod metrics;
pub mod process;
pub mod replay;
pub mod serve;
pub mod settings;
pub mod sinks;
