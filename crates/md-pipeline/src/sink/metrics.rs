//! [`SinkMetrics`]: the one counter and state shape every sink reports, whatever it stores
//! into (InfluxDB lines, files, PostgreSQL rows, NATS messages: all "records").

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

/// Upper bounds (ms) of the write-latency histogram buckets; the last bucket is open.
pub const LATENCY_BUCKETS_MS: [u64; 10] = [1, 2, 5, 10, 25, 50, 100, 250, 1000, 5000];

/// Live counters and state of one sink, shared with the metrics endpoint and status line.
#[derive(Debug, Default)]
pub struct SinkMetrics {
    /// Packets taken from the sink's queue.
    pub packets_received: AtomicU64,
    /// Packets not stored by design.
    pub packets_skipped: AtomicU64,
    /// Packets the encoder refused (set aside as dead letters).
    pub packets_rejected: AtomicU64,
    /// Packets of a kind the sink does not know (counted, logged once per kind).
    pub unknown_kinds: AtomicU64,
    /// Records encoded into batches.
    pub records_encoded: AtomicU64,
    /// Records the target acknowledged.
    pub records_written: AtomicU64,
    /// Batches (or batch halves) the target acknowledged.
    pub batches_written: AtomicU64,
    /// Delivery attempts that failed retryably and were retried.
    pub batches_retried: AtomicU64,
    /// Batches split in two because the target found them too large.
    pub batches_split: AtomicU64,
    /// Records written to the disk spool.
    pub records_spooled: AtomicU64,
    /// Records found in the spool at start (left by an earlier run).
    pub records_replayed: AtomicU64,
    /// Records set aside in dead-letter files (refused by the target, or unencodable).
    pub records_dead_lettered: AtomicU64,
    /// Records the sink had accepted and could neither store nor keep: a loss, said so.
    pub records_lost: AtomicU64,
    /// Records adjusted to stay distinct (timestamps moved by 1 ns).
    pub adjustments: AtomicU64,
    /// Times the overflow policy moved batches from memory to the spool.
    pub overflow_spills: AtomicU64,
    /// Times the sink stopped taking input because memory (and spool) were full.
    pub overflow_backpressure: AtomicU64,
    /// Spool records skipped because they were damaged (copied to dead letters).
    pub spool_corrupt_records: AtomicU64,
    /// Records held in memory now (open, sealed, in flight).
    pub records_in_memory: AtomicU64,
    /// Records waiting in the disk spool now.
    pub records_on_disk: AtomicU64,
    /// When deliveries started failing (ns since the epoch); 0 while the target takes them.
    pub failing_since_ns: AtomicI64,
    /// Latency of the last successful delivery (ns).
    pub write_latency_last_ns: AtomicU64,
    /// Largest successful delivery latency (ns).
    pub write_latency_max_ns: AtomicU64,
    /// Sum of successful delivery latencies (ns); divide by `batches_written` for the mean.
    pub write_latency_sum_ns: AtomicU64,
    /// Successful deliveries per latency bucket ([`LATENCY_BUCKETS_MS`], one extra open bucket).
    pub write_latency_hist: [AtomicU64; 11],
    last_error: Mutex<Option<String>>,
    unknown_seen: Mutex<Vec<&'static str>>,
}

impl SinkMetrics {
    /// Adds `n` to a counter.
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Relaxed);
    }

    /// Records a successful delivery's latency.
    pub fn record_latency(&self, d: Duration) {
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.write_latency_last_ns.store(ns, Relaxed);
        self.write_latency_max_ns.fetch_max(ns, Relaxed);
        self.write_latency_sum_ns.fetch_add(ns, Relaxed);
        let ms = ns / 1_000_000;
        let bucket = LATENCY_BUCKETS_MS.iter().position(|&b| ms < b).unwrap_or(LATENCY_BUCKETS_MS.len());
        self.write_latency_hist[bucket].fetch_add(1, Relaxed);
    }

    /// Marks the target failing since now (kept if it already was), with the error in words.
    pub fn set_failing(&self, error: impl Into<String>) {
        let _ = self.failing_since_ns.compare_exchange(0, md_core::now_ns().max(1), Relaxed, Relaxed);
        *self.last_error.lock().unwrap_or_else(PoisonError::into_inner) = Some(error.into());
    }

    /// Marks the target healthy again.
    pub fn set_healthy(&self) {
        if self.failing_since_ns.swap(0, Relaxed) != 0 {
            *self.last_error.lock().unwrap_or_else(PoisonError::into_inner) = None;
        }
    }

    /// The last delivery error, while failing.
    pub fn last_error(&self) -> Option<String> {
        self.last_error.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Counts a packet of a kind the sink does not store, logging the first of each kind: a
    /// kind added to md later must never be skipped silently.
    pub fn unknown_kind(&self, sink: &str, kind: &'static str) {
        self.unknown_kinds.fetch_add(1, Relaxed);
        let mut seen = self.unknown_seen.lock().unwrap_or_else(PoisonError::into_inner);
        if !seen.contains(&kind) {
            seen.push(kind);
            tracing::warn!(sink, kind, "this sink does not know this kind of packet; counting, not storing");
        }
    }

    /// A plain copy of every counter.
    pub fn snapshot(&self) -> SinkStats {
        let g = |c: &AtomicU64| c.load(Relaxed);
        let batches_written = g(&self.batches_written);
        SinkStats {
            packets_received: g(&self.packets_received),
            packets_skipped: g(&self.packets_skipped),
            packets_rejected: g(&self.packets_rejected),
            unknown_kinds: g(&self.unknown_kinds),
            records_encoded: g(&self.records_encoded),
            records_written: g(&self.records_written),
            batches_written,
            batches_retried: g(&self.batches_retried),
            batches_split: g(&self.batches_split),
            records_spooled: g(&self.records_spooled),
            records_replayed: g(&self.records_replayed),
            records_dead_lettered: g(&self.records_dead_lettered),
            records_lost: g(&self.records_lost),
            adjustments: g(&self.adjustments),
            overflow_spills: g(&self.overflow_spills),
            overflow_backpressure: g(&self.overflow_backpressure),
            spool_corrupt_records: g(&self.spool_corrupt_records),
            records_in_memory: g(&self.records_in_memory),
            records_on_disk: g(&self.records_on_disk),
            failing_since_ns: self.failing_since_ns.load(Relaxed),
            write_latency_max: Duration::from_nanos(g(&self.write_latency_max_ns)),
            write_latency_mean: Duration::from_nanos(
                g(&self.write_latency_sum_ns).checked_div(batches_written).unwrap_or(0),
            ),
        }
    }

    /// Whether the sink is doing its job, and if not, why (for `/healthz` and the status line).
    pub fn health(&self) -> SinkHealth {
        let stats = self.snapshot();
        if stats.records_lost > 0 {
            return SinkHealth::Lost { records: stats.records_lost };
        }
        if stats.failing_since_ns != 0 {
            return SinkHealth::Failing {
                since_ns: stats.failing_since_ns,
                error: self.last_error().unwrap_or_else(|| "delivery failing".into()),
            };
        }
        SinkHealth::Ok
    }
}

/// A sink's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SinkHealth {
    /// Delivering.
    Ok,
    /// Deliveries fail and are retried; records wait in memory or on disk meanwhile.
    Failing {
        /// Since when (ns since the epoch).
        since_ns: i64,
        /// The last error.
        error: String,
    },
    /// Records the sink had accepted were lost.
    Lost {
        /// How many.
        records: u64,
    },
}

/// A copy of [`SinkMetrics`] at one moment (what [`crate::Sink::run`] returns).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[allow(missing_docs)] // the fields mirror SinkMetrics one for one
pub struct SinkStats {
    pub packets_received: u64,
    pub packets_skipped: u64,
    pub packets_rejected: u64,
    pub unknown_kinds: u64,
    pub records_encoded: u64,
    pub records_written: u64,
    pub batches_written: u64,
    pub batches_retried: u64,
    pub batches_split: u64,
    pub records_spooled: u64,
    pub records_replayed: u64,
    pub records_dead_lettered: u64,
    pub records_lost: u64,
    pub adjustments: u64,
    pub overflow_spills: u64,
    pub overflow_backpressure: u64,
    pub spool_corrupt_records: u64,
    pub records_in_memory: u64,
    pub records_on_disk: u64,
    pub failing_since_ns: i64,
    /// Largest successful delivery latency.
    pub write_latency_max: Duration,
    /// Mean successful delivery latency.
    pub write_latency_mean: Duration,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_says_failing_then_recovers() {
        let metrics = SinkMetrics::default();
        assert_eq!(metrics.health(), SinkHealth::Ok);
        metrics.set_failing("No space left on device");
        let SinkHealth::Failing { since_ns, error } = metrics.health() else { panic!("not failing") };
        assert!(since_ns > 0);
        assert_eq!(error, "No space left on device");
        metrics.set_failing("still full");
        assert!(matches!(metrics.health(), SinkHealth::Failing { since_ns: s, .. } if s == since_ns));
        metrics.set_healthy();
        assert_eq!(metrics.health(), SinkHealth::Ok);
        SinkMetrics::add(&metrics.records_lost, 3);
        assert_eq!(metrics.health(), SinkHealth::Lost { records: 3 });
    }
}
