//! md-sink-influx: InfluxDB storage for md. Stores every [`md_core::DataPacket`] in InfluxDB
//! exactly once, through database outages and restarts, or in files `influx -import` loads.
//!
//! - [`LineEncoder`]: packet → line protocol, exact decimal text, unique deterministic timestamps
//!   (trades, book snapshots and deltas, status events).
//! - [`LineBuilder`] and the `escape_*` functions: per-position escaping with refusals.
//! - [`Buffer`]: the md-pipeline sink core (batches per target, flush triggers, retry, spool,
//!   dead letters) with an [`InfluxEncoder`] and an [`InfluxDelivery`] (v1 or v2 API, gzip,
//!   413 → split, 408/429/5xx → retry, other 4xx → dead letter).
//! - [`LineFiles`]: the same lines into rotated files through a [`FileDelivery`], for a run
//!   with no database; a full disk holds data in memory, then backpressure, never loses it.
//! - [`SinkMetrics`], [`SinkStats`], [`SinkHealth`]: md-pipeline's one metrics shape of every
//!   sink, re-exported.
//!
//! The README of this crate documents the schema, the timestamp scheme and the escaping rules.
#![forbid(unsafe_code)]

mod buffer;
mod config;
mod delivery;
mod encode;
mod encoder;
mod error;
mod escape;
mod files;
mod numfmt;

pub use buffer::Buffer;
pub use config::{
    Api, InfluxConfig, OverflowPolicy, RetryConfig, Secret, TargetConfig, ENV_PASSWORD, ENV_PASSWORD_FILE,
    ENV_TOKEN, ENV_TOKEN_FILE, ENV_USER,
};
pub use delivery::InfluxDelivery;
pub use encode::{natural_ts, trade_identity, LineEncoder, SchemaConfig, Target};
pub use encoder::{target_of, InfluxEncoder};
pub use error::InfluxError;
pub use escape::{escape_key, escape_measurement, escape_string_field, DecimalMode, LineBuilder};
pub use files::{line_files, FileDelivery, LineFiles, LineFilesConfig, WriteFault};
pub use md_pipeline::sink::{SinkHealth, SinkMetrics, SinkStats, LATENCY_BUCKETS_MS};
