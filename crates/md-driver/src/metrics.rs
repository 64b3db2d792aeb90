//! Counters the driver keeps, read by the binary's metrics endpoint and status line.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// Live counters of one venue's driver. All relaxed atomics: each is a tally, not a lock.
#[derive(Debug, Default)]
pub struct DriverMetrics {
    /// Trade packets passed on.
    pub trades: AtomicU64,
    /// Book snapshot packets passed on.
    pub book_snapshots: AtomicU64,
    /// Book incrementals passed on (each verified against its book).
    pub book_deltas: AtomicU64,
    /// Incrementals older than their book, ignored as the venue's rule says.
    pub stale_deltas: AtomicU64,
    /// Control frames (acks, pongs, pings).
    pub control_frames: AtomicU64,
    /// Frames that did not parse (counted, logged at a bounded rate, never fatal).
    pub parse_errors: AtomicU64,
    /// Requests the venue refused (error replies).
    pub venue_rejections: AtomicU64,
    /// Bytes of frames received.
    pub bytes_received: AtomicU64,
    /// Connections lost or rotated, each followed by a reconnect.
    pub reconnects: AtomicU64,
    /// Books that found a sequence gap or a crossed state, or failed a cross-check.
    pub gaps: AtomicU64,
    /// Books rebuilt from a fresh snapshot after a gap or a reconnect.
    pub resyncs: AtomicU64,
    /// Snapshot requests made (REST or in-band).
    pub snapshot_requests: AtomicU64,
    /// Snapshot requests that failed (each retried).
    pub snapshot_failures: AtomicU64,
    /// Connections open now.
    pub connections_open: AtomicI64,
    /// Books in sync now.
    pub books_in_sync: AtomicI64,
    /// Symbols subscribed now.
    pub symbols_subscribed: AtomicI64,
    /// Packets handed downstream.
    pub packets_published: AtomicU64,
    /// Batches handed downstream (one per read burst): packets per batch is how well the
    /// per-hop cost is spread.
    pub batches_published: AtomicU64,
    /// Listings fetched (the first and every refresh).
    pub listings: AtomicU64,
    /// Symbols asked for that the venue does not list or trade: refused, never subscribed.
    pub subscribe_refusals: AtomicU64,
    /// Cross-check snapshots asked for (venues whose incrementals carry no sequence; live
    /// only: a replay checks the snapshots the capture holds). Each snapshot that arrives for
    /// a book in sync ends as exactly one of passed, failed, inconclusive or dropped.
    pub cross_checks_requested: AtomicU64,
    /// Checks whose book, turned back to the snapshot's time, equalled the snapshot.
    pub cross_checks_passed: AtomicU64,
    /// Checks that found the book different: each is also a gap, and the book resyncs.
    pub cross_checks_failed: AtomicU64,
    /// Checks that could not compare: the book's undo log did not reach back to the
    /// snapshot's time, or the snapshot body did not parse.
    pub cross_checks_inconclusive: AtomicU64,
    /// Checks whose snapshot was not older than the book: compared at the next later update
    /// (they end as passed, failed or dropped).
    pub cross_checks_deferred: AtomicU64,
    /// Checks never compared: replaced by a newer one, their book lost sync, reconnected or
    /// was removed first (a fetch in flight dies with its connection).
    pub cross_checks_dropped: AtomicU64,
}

/// A plain copy of [`DriverMetrics`] at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[allow(missing_docs)] // the fields mirror DriverMetrics one for one
pub struct MetricsSnapshot {
    pub trades: u64,
    pub book_snapshots: u64,
    pub book_deltas: u64,
    pub stale_deltas: u64,
    pub control_frames: u64,
    pub parse_errors: u64,
    pub venue_rejections: u64,
    pub bytes_received: u64,
    pub reconnects: u64,
    pub gaps: u64,
    pub resyncs: u64,
    pub snapshot_requests: u64,
    pub snapshot_failures: u64,
    pub connections_open: i64,
    pub books_in_sync: i64,
    pub symbols_subscribed: i64,
    pub packets_published: u64,
    pub batches_published: u64,
    pub listings: u64,
    pub subscribe_refusals: u64,
    pub cross_checks_requested: u64,
    pub cross_checks_passed: u64,
    pub cross_checks_failed: u64,
    pub cross_checks_inconclusive: u64,
    pub cross_checks_deferred: u64,
    pub cross_checks_dropped: u64,
}

impl DriverMetrics {
    /// Reads every counter.
    pub fn snapshot(&self) -> MetricsSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        MetricsSnapshot {
            trades: get(&self.trades),
            book_snapshots: get(&self.book_snapshots),
            book_deltas: get(&self.book_deltas),
            stale_deltas: get(&self.stale_deltas),
            control_frames: get(&self.control_frames),
            parse_errors: get(&self.parse_errors),
            venue_rejections: get(&self.venue_rejections),
            bytes_received: get(&self.bytes_received),
            reconnects: get(&self.reconnects),
            gaps: get(&self.gaps),
            resyncs: get(&self.resyncs),
            snapshot_requests: get(&self.snapshot_requests),
            snapshot_failures: get(&self.snapshot_failures),
            connections_open: self.connections_open.load(Ordering::Relaxed),
            books_in_sync: self.books_in_sync.load(Ordering::Relaxed),
            symbols_subscribed: self.symbols_subscribed.load(Ordering::Relaxed),
            packets_published: get(&self.packets_published),
            batches_published: get(&self.batches_published),
            listings: get(&self.listings),
            subscribe_refusals: get(&self.subscribe_refusals),
            cross_checks_requested: get(&self.cross_checks_requested),
            cross_checks_passed: get(&self.cross_checks_passed),
            cross_checks_failed: get(&self.cross_checks_failed),
            cross_checks_inconclusive: get(&self.cross_checks_inconclusive),
            cross_checks_deferred: get(&self.cross_checks_deferred),
            cross_checks_dropped: get(&self.cross_checks_dropped),
        }
    }
}

/// Adds one to a counter.
pub(crate) fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}
