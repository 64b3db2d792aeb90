//! [`CaptureMetrics`]: a writer's live counters; [`CaptureHealth`]: what an operator's health
//! check reads from them.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::{Mutex, PoisonError};

use md_core::{now_ns, UnixNanos};

/// How long a writer stays [`CaptureHealth::Lossy`] after it last dropped a record.
pub const LOSSY_HOLD_NS: i64 = 60_000_000_000;

/// A writer's counters, updated as it goes (relaxed atomics: each is exact, a snapshot of
/// several is not one instant).
#[derive(Debug, Default)]
pub struct CaptureMetrics {
    records_received: AtomicU64,
    records_flushed: AtomicU64,
    records_dropped: AtomicU64,
    blocks_written: AtomicU64,
    bytes_raw: AtomicU64,
    bytes_written: AtomicU64,
    files_opened: AtomicU64,
    files_deleted: AtomicU64,
    write_errors: AtomicU64,
    failing_since_ns: AtomicI64,
    last_drop_ns: AtomicI64,
    last_error: Mutex<String>,
}

/// The counters at one moment (see [`CaptureMetrics::snapshot`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CaptureStats {
    /// Events handed to `record()`, every one (stored, waiting or dropped).
    pub records_received: u64,
    /// Events in blocks whose write(2) returned: a SIGKILL cannot lose them (a power loss
    /// can, unless `sync` is on).
    pub records_flushed: u64,
    /// Events that will never be written: the queue or the memory budget was full, the event
    /// could not be encoded, or the disk still refused them when the writer finished.
    pub records_dropped: u64,
    /// Blocks of events written (file header blocks not counted).
    pub blocks_written: u64,
    /// Bytes of those blocks' records, uncompressed.
    pub bytes_raw: u64,
    /// Bytes appended to capture and index files (headers included).
    pub bytes_written: u64,
    /// Capture files created.
    pub files_opened: u64,
    /// Capture files deleted by retention.
    pub files_deleted: u64,
    /// Failed attempts to write (each retry that fails counts).
    pub write_errors: u64,
    /// Since when writes fail (ns since the epoch), while they do.
    pub failing_since_ns: Option<UnixNanos>,
}

/// Whether a writer is keeping up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CaptureHealth {
    /// Writing, nothing dropped lately.
    Healthy,
    /// Writing works, but records were dropped in the last minute ([`LOSSY_HOLD_NS`]): the
    /// queue or the memory budget overflowed. Red.
    Lossy {
        /// Records dropped since the start.
        dropped: u64,
        /// When the last was dropped (ns since the epoch).
        last_drop_ns: UnixNanos,
    },
    /// Writes fail (a full disk, a read-only file system): the writer holds blocks in memory
    /// up to its budget and retries every flush interval; nothing else stops. Red.
    Failing {
        /// Since when (ns since the epoch).
        since_ns: UnixNanos,
        /// The last error.
        error: String,
    },
}

impl CaptureHealth {
    /// Whether this is [`CaptureHealth::Healthy`] (green).
    pub fn is_healthy(&self) -> bool {
        matches!(self, Self::Healthy)
    }

    /// `healthy`, `lossy` or `failing`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Healthy => "healthy",
            Self::Lossy { .. } => "lossy",
            Self::Failing { .. } => "failing",
        }
    }
}

impl CaptureMetrics {
    /// Every counter, read now.
    pub fn snapshot(&self) -> CaptureStats {
        let since = self.failing_since_ns.load(Relaxed);
        CaptureStats {
            records_received: self.records_received.load(Relaxed),
            records_flushed: self.records_flushed.load(Relaxed),
            records_dropped: self.records_dropped.load(Relaxed),
            blocks_written: self.blocks_written.load(Relaxed),
            bytes_raw: self.bytes_raw.load(Relaxed),
            bytes_written: self.bytes_written.load(Relaxed),
            files_opened: self.files_opened.load(Relaxed),
            files_deleted: self.files_deleted.load(Relaxed),
            write_errors: self.write_errors.load(Relaxed),
            failing_since_ns: (since != 0).then_some(since),
        }
    }

    /// Failing (writes fail) before lossy (records dropped in the last minute) before healthy.
    pub fn health(&self) -> CaptureHealth {
        let since_ns = self.failing_since_ns.load(Relaxed);
        if since_ns != 0 {
            let error = self.last_error.lock().unwrap_or_else(PoisonError::into_inner).clone();
            return CaptureHealth::Failing { since_ns, error };
        }
        let last_drop_ns = self.last_drop_ns.load(Relaxed);
        if last_drop_ns != 0 && now_ns().saturating_sub(last_drop_ns) < LOSSY_HOLD_NS {
            return CaptureHealth::Lossy { dropped: self.records_dropped.load(Relaxed), last_drop_ns };
        }
        CaptureHealth::Healthy
    }

    pub(crate) fn received(&self) {
        self.records_received.fetch_add(1, Relaxed);
    }

    pub(crate) fn dropped(&self, n: u64) {
        if n > 0 {
            self.records_dropped.fetch_add(n, Relaxed);
            self.last_drop_ns.store(now_ns().max(1), Relaxed);
        }
    }

    pub(crate) fn block_written(&self, records: u64, raw: u64, written: u64) {
        self.records_flushed.fetch_add(records, Relaxed);
        self.blocks_written.fetch_add(1, Relaxed);
        self.bytes_raw.fetch_add(raw, Relaxed);
        self.bytes_written.fetch_add(written, Relaxed);
    }

    pub(crate) fn file_opened(&self, written: u64) {
        self.files_opened.fetch_add(1, Relaxed);
        self.bytes_written.fetch_add(written, Relaxed);
    }

    pub(crate) fn files_deleted(&self, n: u64) {
        self.files_deleted.fetch_add(n, Relaxed);
    }

    /// A write failed: failing from now, unless already.
    pub(crate) fn write_failed(&self, error: String) {
        self.write_errors.fetch_add(1, Relaxed);
        *self.last_error.lock().unwrap_or_else(PoisonError::into_inner) = error;
        let _ = self.failing_since_ns.compare_exchange(0, now_ns().max(1), Relaxed, Relaxed);
    }

    /// Writes work again; whether they had failed.
    pub(crate) fn write_recovered(&self) -> bool {
        self.failing_since_ns.swap(0, Relaxed) != 0
    }
}
