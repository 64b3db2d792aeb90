//! [`SinkMetrics`]: counters shared with other tasks through an `Arc`.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// Upper bounds (ms) of the write-latency histogram buckets; the last bucket is open.
pub const LATENCY_BUCKETS_MS: [u64; 10] = [1, 2, 5, 10, 25, 50, 100, 250, 1000, 5000];

/// Live counters of a [`crate::Buffer`]. All counts are cumulative since start.
#[derive(Debug, Default)]
pub struct SinkMetrics {
    /// Lines encoded into batches.
    pub lines_buffered: AtomicU64,
    /// Lines the database acknowledged.
    pub lines_written: AtomicU64,
    /// Batches (or batch halves) the database acknowledged.
    pub batches_written: AtomicU64,
    /// Write attempts that failed retryably and were retried.
    pub batches_retried: AtomicU64,
    /// Batches split in two after a 413.
    pub batches_split: AtomicU64,
    /// Lines written to the disk spool.
    pub lines_spooled: AtomicU64,
    /// Lines found in the spool at start (from a previous run).
    pub lines_replayed: AtomicU64,
    /// Lines set aside in dead-letter files (rejected by the server or unencodable).
    pub lines_dead_lettered: AtomicU64,
    /// Packets that could not be encoded (also counted in `lines_dead_lettered`).
    pub packets_rejected: AtomicU64,
    /// Packets not stored by design (status and unknown kinds).
    pub packets_skipped: AtomicU64,
    /// Timestamps bumped by 1 ns to avoid overwriting another point.
    pub timestamp_bumps: AtomicU64,
    /// Times the overflow policy moved batches from memory to the spool.
    pub overflow_spills: AtomicU64,
    /// Times input reading was paused because memory (and spool) were full.
    pub overflow_backpressure: AtomicU64,
    /// Spool records skipped because their CRC or length was bad (copied to dead-letter).
    pub spool_corrupt_records: AtomicU64,
    /// Latency of the last successful write request (ns).
    pub write_latency_last_ns: AtomicU64,
    /// Largest successful write latency (ns).
    pub write_latency_max_ns: AtomicU64,
    /// Sum of successful write latencies (ns); divide by `batches_written` for the mean.
    pub write_latency_sum_ns: AtomicU64,
    /// Successful writes per latency bucket (see [`LATENCY_BUCKETS_MS`]; one extra open bucket).
    pub write_latency_hist: [AtomicU64; 11],
}

impl SinkMetrics {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Relaxed);
    }

    pub(crate) fn record_latency(&self, d: Duration) {
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.write_latency_last_ns.store(ns, Relaxed);
        self.write_latency_max_ns.fetch_max(ns, Relaxed);
        self.write_latency_sum_ns.fetch_add(ns, Relaxed);
        let ms = ns / 1_000_000;
        let bucket = LATENCY_BUCKETS_MS.iter().position(|&b| ms < b).unwrap_or(LATENCY_BUCKETS_MS.len());
        self.write_latency_hist[bucket].fetch_add(1, Relaxed);
    }

    /// A plain copy of every counter.
    pub fn snapshot(&self) -> SinkStats {
        let g = |c: &AtomicU64| c.load(Relaxed);
        let batches_written = g(&self.batches_written);
        SinkStats {
            lines_buffered: g(&self.lines_buffered),
            lines_written: g(&self.lines_written),
            batches_written,
            batches_retried: g(&self.batches_retried),
            batches_split: g(&self.batches_split),
            lines_spooled: g(&self.lines_spooled),
            lines_replayed: g(&self.lines_replayed),
            lines_dead_lettered: g(&self.lines_dead_lettered),
            packets_rejected: g(&self.packets_rejected),
            packets_skipped: g(&self.packets_skipped),
            timestamp_bumps: g(&self.timestamp_bumps),
            overflow_spills: g(&self.overflow_spills),
            overflow_backpressure: g(&self.overflow_backpressure),
            spool_corrupt_records: g(&self.spool_corrupt_records),
            write_latency_max: Duration::from_nanos(g(&self.write_latency_max_ns)),
            write_latency_mean: Duration::from_nanos(
                g(&self.write_latency_sum_ns).checked_div(batches_written).unwrap_or(0),
            ),
        }
    }
}

/// A copy of [`SinkMetrics`] at one moment (what `Buffer::run` returns).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SinkStats {
    /// Lines encoded into batches.
    pub lines_buffered: u64,
    /// Lines the database acknowledged.
    pub lines_written: u64,
    /// Batches (or batch halves) the database acknowledged.
    pub batches_written: u64,
    /// Write attempts that failed retryably and were retried.
    pub batches_retried: u64,
    /// Batches split in two after a 413.
    pub batches_split: u64,
    /// Lines written to the disk spool.
    pub lines_spooled: u64,
    /// Lines found in the spool at start (from a previous run).
    pub lines_replayed: u64,
    /// Lines set aside in dead-letter files (rejected by the server or unencodable).
    pub lines_dead_lettered: u64,
    /// Packets that could not be encoded (also counted in `lines_dead_lettered`).
    pub packets_rejected: u64,
    /// Packets not stored by design (status and unknown kinds).
    pub packets_skipped: u64,
    /// Timestamps bumped by 1 ns to avoid overwriting another point.
    pub timestamp_bumps: u64,
    /// Times the overflow policy moved batches from memory to the spool.
    pub overflow_spills: u64,
    /// Times input reading was paused because memory (and spool) were full.
    pub overflow_backpressure: u64,
    /// Spool records skipped because their CRC or length was bad (copied to dead-letter).
    pub spool_corrupt_records: u64,
    /// Largest successful write latency.
    pub write_latency_max: Duration,
    /// Mean successful write latency.
    pub write_latency_mean: Duration,
}
