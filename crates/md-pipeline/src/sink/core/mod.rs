//! The sink core: everything a batching sink needs that is not about its database.
//!
//! A sink built on it supplies an [`Encoder`] (packet → record bytes in a lane) and a
//! [`Delivery`] (one batch of records → the target, answered [`Outcome::Done`],
//! [`Outcome::Retry`], [`Outcome::Split`] or [`Outcome::Reject`]). The core does the rest:
//!
//! - **lanes**: one open batch per lane (InfluxDB: the incremental and snapshot databases),
//!   one delivery in flight per lane, so batches reach the target in the order they were sealed;
//! - **three flush triggers**: a batch is sealed when full (records or bytes), when its first
//!   record has waited `linger`, and when the input ends;
//! - **retry classes**: `Retry` waits the target's `Retry-After` or an exponential backoff with
//!   jitter and tries again, forever while running; `Split` halves a batch at record
//!   boundaries; `Reject` sets the batch aside as a dead letter with the target's words;
//! - **memory bound and spool**: above `memory_limit_bytes`, the oldest sealed batches move to a
//!   crash-safe spool (CRC per record, fsynced, torn tail skipped on open), or, without a spool
//!   or when it is full or unwritable, input stops (backpressure, which the fan-out's `Block`
//!   passes on to the source);
//! - **state**: records in memory and on disk, failing since when and why, records lost — in
//!   the one [`SinkMetrics`](crate::SinkMetrics) shape the status line and `/healthz` read.

mod deadletter;
mod deliver;
mod lane;
mod run;
mod spool;
#[cfg(test)]
mod tests;

pub use run::SinkCore;

use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use md_core::DataPacket;

use super::BoxError;

/// Where a packet goes, as its [`Encoder`] decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// Encoded into the open batch of this lane (an index into [`Delivery::lanes`]).
    Lane(usize),
    /// Not stored by design (counted in `packets_skipped`).
    Skip,
    /// A kind of packet this encoder does not know (md-core's `Payload` is
    /// `#[non_exhaustive]`): counted in `unknown_kinds` and logged once per kind, so a kind
    /// added to md later is never skipped silently.
    Unknown,
}

/// Turns packets into records, appended to the open batch of their lane.
pub trait Encoder: Send + 'static {
    /// The lane a packet is stored in, or why it is not stored.
    fn route(&self, packet: &DataPacket) -> Route;

    /// Appends exactly one record for `packet` to `out` (the open batch of `lane`) and returns
    /// `Ok(true)`, or `Ok(false)` to skip it. On error `out` must be left as it was.
    fn encode(&mut self, packet: &DataPacket, lane: usize, out: &mut Vec<u8>) -> Result<bool, BoxError>;

    /// Records adjusted so far to stay distinct (InfluxDB: timestamps moved by 1 ns).
    fn adjustments(&self) -> u64 {
        0
    }
}

/// What the target said about one batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Stored.
    Done,
    /// Not now: try the same batch again, after `after` if the target said so (`Retry-After`),
    /// else after the core's backoff.
    Retry {
        /// The target's own delay.
        after: Option<Duration>,
        /// What failed, in words (shown in the status line and `/healthz`).
        error: String,
    },
    /// Too large: the core splits it in two at a record boundary and sends each half.
    Split,
    /// Refused for good: set aside as a dead letter, never retried.
    Reject {
        /// The target's status (an HTTP code, an SQLSTATE).
        status: String,
        /// The target's words.
        message: String,
    },
}

/// Sends batches of records to a target.
#[async_trait]
pub trait Delivery: Send + Sync + 'static {
    /// One name per lane: spool folders and dead-letter files are named after them.
    fn lanes(&self) -> Vec<String>;

    /// Sends one batch of `records` records to a lane.
    async fn deliver(&self, lane: usize, body: &Bytes, records: u32) -> Outcome;

    /// Splits a batch into two non-empty halves at a record boundary (for [`Outcome::Split`]);
    /// `None` if it cannot be split.
    fn split(&self, body: &Bytes) -> Option<(Bytes, Bytes)>;

    /// Records in a batch body (for the halves of a split).
    fn count(&self, body: &[u8]) -> u32;

    /// Work before the first delivery that must not hold up input (InfluxDB v1: create the
    /// databases). Run in the background; an error is logged and deliveries go on.
    async fn prepare(&self) -> Result<(), BoxError> {
        Ok(())
    }

    /// Called once when the run ends, after the last delivery (files: fsync). An error makes
    /// the run fail with [`crate::SinkError::Failed`].
    async fn finish(&self) -> Result<(), BoxError> {
        Ok(())
    }

    /// How a dead-letter file of this target starts (its format's comment lines), and its
    /// extension: a refused batch should be fixable and sendable again as it is.
    fn dead_letter_format(&self, lane: &str, status: &str, message: &str) -> (Vec<u8>, &'static str) {
        let _ = (lane, status, message);
        (Vec::new(), "bin")
    }
}

/// What happens when sealed batches exceed the memory limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MemoryOverflow {
    /// Move the oldest batches to the disk spool; when the spool is full or unwritable, stop
    /// taking input.
    #[default]
    SpillToDisk,
    /// Never spool: stop taking input until memory is below the limit.
    Backpressure,
}

/// Retry timing for [`Outcome::Retry`]. Retries never stop while running.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryConfig {
    /// First backoff; doubles per attempt, with jitter. Default 100 ms.
    pub initial_backoff: Duration,
    /// Backoff cap. Default 30 s.
    pub max_backoff: Duration,
    /// Cap on a target's own delay. Default 300 s.
    pub max_retry_after: Duration,
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(300),
        }
    }
}

/// How the core batches, bounds and keeps records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoreConfig {
    /// A batch is sealed at this many records. Default 5000.
    pub batch_records: usize,
    /// A batch is sealed when it reaches this many bytes. Default 4 MiB.
    pub batch_bytes: usize,
    /// A batch is sealed when its first record has waited this long. Default 1 s.
    pub linger: Duration,
    /// Retry timing.
    pub retry: RetryConfig,
    /// The spool folder (one subfolder per lane); `None`: no spool.
    pub spool_dir: Option<PathBuf>,
    /// Dead-letter files go here.
    pub dead_letter_dir: PathBuf,
    /// Bytes held in memory before the overflow policy applies. Default 256 MiB.
    pub memory_limit_bytes: usize,
    /// Spool size limit. Default 64 GiB.
    pub spool_limit_bytes: u64,
    /// What to do above the memory limit.
    pub overflow: MemoryOverflow,
    /// After input ends, how long to keep delivering before spooling the rest. Default 10 s.
    pub shutdown_timeout: Duration,
}

impl CoreConfig {
    /// Defaults (see each field) with dead letters under `dead_letter_dir` and no spool.
    pub fn new(dead_letter_dir: impl Into<PathBuf>) -> Self {
        Self {
            batch_records: 5000,
            batch_bytes: 4 << 20,
            linger: Duration::from_secs(1),
            retry: RetryConfig::default(),
            spool_dir: None,
            dead_letter_dir: dead_letter_dir.into(),
            memory_limit_bytes: 256 << 20,
            spool_limit_bytes: 64 << 30,
            overflow: MemoryOverflow::SpillToDisk,
            shutdown_timeout: Duration::from_secs(10),
        }
    }

    /// Checks the limits.
    pub fn validate(&self) -> Result<(), String> {
        if self.batch_records == 0 || self.batch_bytes == 0 {
            return Err("batch_records and batch_bytes must be > 0".into());
        }
        if self.memory_limit_bytes == 0 {
            return Err("memory_limit_bytes must be > 0".into());
        }
        Ok(())
    }
}
