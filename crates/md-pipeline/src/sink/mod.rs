//! The [`Sink`] trait every consumer that stores or forwards packets implements, its one
//! metrics shape, and the [`core`] that batching sinks are built on.

pub mod core;
mod metrics;

use std::sync::Arc;

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;

pub use metrics::{SinkHealth, SinkMetrics, SinkStats, LATENCY_BUCKETS_MS};

use crate::fanout::Subscription;

/// A boxed error of a sink's own crate, with its source chain kept.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Why a sink stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SinkError {
    /// Records the sink had accepted could be neither stored nor kept: they are lost, said so.
    #[error("{records} records could be neither stored nor kept")]
    Lost {
        /// How many.
        records: u64,
    },
    /// The sink could not start or run (bad config, a directory it cannot create).
    #[error("{0}")]
    Failed(#[source] BoxError),
}

/// A consumer of the packet stream: storage, a network server, a recorder.
///
/// A new sink is one type implementing this trait plus one line where it is chosen (see
/// `examples/custom_sink.rs`). The spine gives it a [`Subscription`] with the overflow policy
/// chosen for it; `run` reads until the subscription ends (every source stopped), stores what
/// it holds and returns its stats. `cancel` fires only if it overruns the shutdown deadline:
/// then it keeps what it can (a spool) and returns at once.
#[async_trait]
pub trait Sink: Send {
    /// Names it in metrics, logs and the status line.
    fn name(&self) -> &str;

    /// Its live counters and state.
    fn metrics(&self) -> Arc<SinkMetrics>;

    /// Consumes `input` until it ends.
    async fn run(
        self: Box<Self>,
        input: Subscription,
        cancel: CancellationToken,
    ) -> Result<SinkStats, SinkError>;
}
