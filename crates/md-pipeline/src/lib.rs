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

/// The tokio runtime md's binaries ship with: multi-thread, one worker per core. One function
/// so that md-ingest and the benchmark that judges it run on the very same runtime.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build()
}
