//! md-sink-influx: the md Buffer. Stores every [`md_core::DataPacket`] in InfluxDB exactly once,
//! through database outages and restarts.
//!
//! - [`LineEncoder`]: packet → line protocol, exact decimal text, unique deterministic timestamps.
//! - [`LineBuilder`] and the `escape_*` functions: per-position escaping with refusals.
//! - [`Buffer`]: batches per target (incremental / snapshot), flushes on size, `linger` and
//!   shutdown, writes with retry and backoff (v1 or v2 API), splits on 413, dead-letters other
//!   4xx, spills to a crash-safe disk spool when the database is away longer than memory allows.
//! - [`LineFiles`]: the same lines into rotated files that `influx -import` loads, for a run
//!   with no database.
//! - [`SinkMetrics`]: live counters.
//!
//! The README of this crate documents the schema, the timestamp scheme and the escaping rules.
#![forbid(unsafe_code)]

mod buffer;
mod config;
mod deadletter;
mod encode;
mod error;
mod escape;
mod files;
mod metrics;
mod numfmt;
mod spool;
mod write;

pub use buffer::{target_of, Buffer};
pub use config::{
    Api, InfluxConfig, OverflowPolicy, RetryConfig, Secret, TargetConfig, ENV_PASSWORD, ENV_PASSWORD_FILE,
    ENV_TOKEN, ENV_TOKEN_FILE, ENV_USER,
};
pub use encode::{natural_ts, trade_identity, LineEncoder, SchemaConfig, Target};
pub use error::SinkError;
pub use escape::{escape_key, escape_measurement, escape_string_field, DecimalMode, LineBuilder};
pub use files::{line_files, LineFiles, LineFilesConfig};
pub use metrics::{SinkMetrics, SinkStats, LATENCY_BUCKETS_MS};
