//! md-pipeline: the spine of md. Sources publish batches of normalized packets; a fan-out
//! gives every consumer its own bounded queue with a named overflow policy; sinks consume.
//!
//! ```text
//!  sources                 fan-out (one queue per subscriber)          sinks / servers
//!  venue drivers ─┐        ┌─ Block ──────► storage (InfluxDB, files: the sink core)
//!  a replay      ─┼─ Batch ┼─ DropOldest ─► network event streams
//!  a bus consumer ┘        └─ Conflate ───► merged book, alerts (latest per book)
//! ```
//!
//! - [`Batch`]: the packets of one read burst, shared by every subscriber.
//! - [`FanOut`], [`Publisher`], [`Subscription`], [`Overflow`]: the queues and their policies.
//! - [`Sink`], [`SinkMetrics`]: the consumer trait and the one metrics shape of every sink.
//! - [`sink::core`]: lanes, flush triggers, retry classes, spool and dead letters, behind a
//!   small [`sink::core::Delivery`] trait per target.
//! - [`Source`], [`Topology`]: wiring from values, and a run with an orderly shutdown.
//!
//! The verified books themselves are shared through [`md_core::BookSet`], not copied through
//! the stream.
#![forbid(unsafe_code)]

mod batch;
pub mod fanout;
pub mod sink;
mod topology;

pub use batch::Batch;
pub use fanout::{
    AbortHandle, FanOut, Overflow, Publisher, QueueMetrics, QueueStats, SubscriberConfig, Subscription,
};
pub use sink::{BoxError, Sink, SinkError, SinkHealth, SinkMetrics, SinkStats};
pub use topology::{RunReport, SinkInfo, SinkReport, Source, Topology};

/// The tokio runtime md's binaries ship with: multi-thread, one worker per core but one, and
/// at least one. One function so that md-ingest and the benchmark that judges it run on the
/// very same runtime.
///
/// Why one core fewer: a venue's frames arrive through the kernel's network stack, and the
/// sinks' heavy work (gzip, file writes, fsync) runs on the blocking pool; both need a core
/// that the workers do not spin or wake on. Measured with md-bench on 2 cores, two workers
/// handing every read burst from one to the other cost 0.3–0.9 CPU-s per million messages
/// more than one worker, for no more throughput.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cores.saturating_sub(1).max(1))
        .enable_all()
        .build()
}
