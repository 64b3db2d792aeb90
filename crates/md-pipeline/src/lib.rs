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

/// The tokio runtime md's binaries ship with: one worker per core but one, and at least one;
/// with one worker, tokio's current-thread runtime. One function so that md-ingest and the
/// benchmark that judges it run on the very same runtime.
///
/// Why one core fewer: a venue's frames arrive through the kernel's network stack, and the
/// sinks' heavy work (gzip, file writes, fsync) runs on the blocking pool; both need a core
/// that the workers do not spin or wake on. Measured with md-bench on 2 cores, two workers
/// handing every read burst from one to the other cost 0.3–0.9 CPU-s per million messages
/// more than one worker, for no more throughput.
///
/// Why current-thread for one worker: a multi-thread scheduler with a single worker runs
/// nothing in parallel that the current-thread one does not (the blocking pool serves both).
/// In five md-bench rounds on 2 cores it was the slower for Binance in every round, by
/// 0.6–3.1% (BENCHMARKS.md), though it also always ran second there, which later runs show
/// can cost as much by itself: the reason is the first, the measurement only agrees.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    runtime_with_workers(workers_for(
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get),
    ))
}

/// Workers on a machine of `cores` cores: all but one, at least one.
pub fn workers_for(cores: usize) -> usize {
    cores.saturating_sub(1).max(1)
}

/// md's runtime with `workers` workers (current-thread for one).
pub fn runtime_with_workers(workers: usize) -> std::io::Result<tokio::runtime::Runtime> {
    let mut builder = if workers <= 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        builder.worker_threads(workers);
        builder
    };
    builder.enable_all().build()
}

#[cfg(test)]
mod tests {
    use tokio::runtime::RuntimeFlavor;

    use super::*;

    #[test]
    fn one_worker_is_the_current_thread_runtime_and_more_are_multi_thread() {
        assert_eq!((workers_for(1), workers_for(2), workers_for(8)), (1, 1, 7));
        let flavor = |workers| runtime_with_workers(workers).unwrap().handle().runtime_flavor();
        assert_eq!(flavor(1), RuntimeFlavor::CurrentThread);
        assert_eq!(flavor(3), RuntimeFlavor::MultiThread);
    }
}
