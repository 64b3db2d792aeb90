//! [`CaptureWriter`]: a [`RawTap`] that records one venue's raw events to disk.
//!
//! `record()` runs on the connection's task and only pushes onto a bounded queue
//! (`try_send`: it never blocks and never copies a frame); one background thread per writer
//! encodes, compresses and writes. Memory is bounded twice: the queue holds at most
//! `queue_events` events and `memory_bytes` of their frames, and the blocks waiting for a
//! disk that refuses writes hold at most `memory_bytes`; past either, events are dropped and
//! counted ([`CaptureStats::records_dropped`], health [`CaptureHealth::Lossy`]). A failing disk
//! turns health [`CaptureHealth::Failing`] and nothing else stops: the thread retries every
//! flush interval and writes what it held once the disk takes writes again.

mod fault;
mod files;
mod metrics;
mod retention;
mod worker;

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use md_core::{ExchangeId, RawEvent, RawTap};

pub use fault::WriteFault;
pub use metrics::{CaptureHealth, CaptureMetrics, CaptureStats, LOSSY_HOLD_NS};
pub use retention::Retention;

pub use crate::block::Codec;
use crate::error::CaptureError;
use crate::format::{CaptureHeader, FORMAT_VERSION};
use crate::record::approx_size;
use worker::{Shared, Worker};

/// Where and how a writer records.
#[derive(Debug, Clone)]
pub struct CaptureConfig {
    /// The capture directory; each venue writes to `<dir>/<venue>/` (created if missing).
    pub dir: PathBuf,
    /// A block is written at most this long after its first record (default 1 s): what a
    /// SIGKILL can lose.
    pub flush_interval: Duration,
    /// A block is written once its records reach this many bytes, uncompressed (1 MiB).
    pub block_bytes: usize,
    /// A new file starts before a block would take the current one past this size (256 MiB);
    /// files also rotate when the events' UTC hour changes.
    pub rotate_bytes: u64,
    /// How blocks are compressed: LZ4 (the default: cheap on the live path) or deflate at a
    /// level (smaller, several times the CPU; see the README). Readers take either.
    pub codec: Codec,
    /// Events the queue holds before `record()` drops (65,536).
    pub queue_events: usize,
    /// Bytes of frames the queue holds, and separately bytes of blocks held while the disk
    /// refuses writes, before events are dropped (64 MiB).
    pub memory_bytes: usize,
    /// Which old files of the venue are deleted after each new file.
    pub retention: Retention,
    /// fdatasync each block and index entry (a power loss then loses at most the block being
    /// written); off by default: a SIGKILL cannot lose what write(2) took.
    pub sync: bool,
    /// Test and operations hook: fail or hold writes (see [`WriteFault`]). `None` normally.
    pub fault: Option<Arc<WriteFault>>,
}

impl CaptureConfig {
    /// Defaults (see each field) under `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            flush_interval: Duration::from_secs(1),
            block_bytes: 1 << 20,
            rotate_bytes: 256 << 20,
            codec: Codec::Lz4,
            queue_events: 65_536,
            memory_bytes: 64 << 20,
            retention: Retention::default(),
            sync: false,
            fault: None,
        }
    }

    fn validate(&self) -> Result<(), CaptureError> {
        let bad = |detail: &str| Err(CaptureError::Config { detail: detail.into() });
        if self.flush_interval.is_zero() {
            return bad("flush_interval must be above zero");
        }
        if self.block_bytes == 0 || self.block_bytes > (256 << 20) {
            return bad("block_bytes must be between 1 and 256 MiB");
        }
        if let Codec::Deflate(level) = self.codec {
            if level > 9 {
                return bad("a deflate level must be 0 to 9");
            }
        }
        if self.queue_events == 0 || self.memory_bytes == 0 || self.rotate_bytes == 0 {
            return bad("queue_events, memory_bytes and rotate_bytes must be above zero");
        }
        Ok(())
    }
}

impl Default for CaptureConfig {
    /// Defaults under `./capture`.
    fn default() -> Self {
        Self::new("capture")
    }
}

/// Records one venue's [`RawEvent`]s into `<dir>/<venue>/` (see the crate's README).
#[derive(Debug)]
pub struct CaptureWriter {
    exchange: ExchangeId,
    dir: PathBuf,
    memory_bytes: usize,
    queue_events: usize,
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<Result<(), CaptureError>>>>,
}

impl CaptureWriter {
    /// Creates `<config.dir>/<venue>/` (an error if it cannot, or cannot create a file
    /// there) and starts the writer's thread. Files are created as events arrive (none before
    /// the first).
    pub fn start(config: CaptureConfig, header: CaptureHeader) -> Result<Arc<Self>, CaptureError> {
        config.validate()?;
        if header.format_version != FORMAT_VERSION {
            return Err(CaptureError::Config {
                detail: format!(
                    "header format_version {} (this writer writes {FORMAT_VERSION})",
                    header.format_version
                ),
            });
        }
        let exchange = header.exchange;
        let dir = config.dir.join(exchange.as_str());
        std::fs::create_dir_all(&dir).map_err(|e| CaptureError::io(&dir, e))?;
        // Fail now, clearly, rather than at the first block: a file can be created there.
        let probe = dir.join(format!(".probe-{}", std::process::id()));
        std::fs::write(&probe, b"").map_err(|e| CaptureError::io(&probe, e))?;
        let _ = std::fs::remove_file(&probe);
        let shared = Arc::new(Shared::default());
        let (memory_bytes, queue_events) = (config.memory_bytes, config.queue_events);
        let worker = Worker::new(dir.clone(), config, header, Arc::clone(&shared));
        let thread = std::thread::Builder::new()
            .name(format!("md-capture-{exchange}"))
            .spawn(move || worker.run())
            .map_err(|e| CaptureError::io(&dir, e))?;
        Ok(Arc::new(Self {
            exchange,
            dir,
            memory_bytes,
            queue_events,
            shared,
            thread: Mutex::new(Some(thread)),
        }))
    }

    /// The venue.
    pub fn exchange(&self) -> ExchangeId {
        self.exchange
    }

    /// The venue's directory, `<dir>/<venue>/`.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The live counters.
    pub fn metrics(&self) -> &CaptureMetrics {
        &self.shared.metrics
    }

    /// Failing, lossy or healthy (see [`CaptureHealth`]).
    pub fn health(&self) -> CaptureHealth {
        self.shared.metrics.health()
    }

    /// Writes everything queued and built, syncs the current file and stops the thread;
    /// records that `record()` gets afterwards are dropped. If the disk still refuses writes,
    /// what it refused is counted as dropped and the error returned. Idempotent: later calls
    /// return the counters.
    pub fn finish(&self) -> Result<CaptureStats, CaptureError> {
        let thread = self.thread.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(thread) = thread {
            self.shared.closed.store(true, Ordering::Release);
            self.shared.inbox().finish = true;
            self.shared.wake.notify_one();
            let result = thread.join().map_err(|_| CaptureError::Worker {
                venue: self.exchange.to_string(),
                detail: "the thread panicked".into(),
            })?;
            result?;
        }
        Ok(self.shared.metrics.snapshot())
    }
}

impl RawTap for CaptureWriter {
    /// Queues the event for the writer's thread, or drops and counts it; never blocks.
    fn record(&self, event: RawEvent) {
        let metrics = &self.shared.metrics;
        metrics.received();
        if self.shared.closed.load(Ordering::Acquire) {
            metrics.dropped(1);
            return;
        }
        let size = approx_size(&event);
        let queued = self.shared.queued_bytes.fetch_add(size, Ordering::Relaxed);
        // An event larger than the whole budget still goes through an empty queue.
        if queued > 0 && queued + size > self.memory_bytes {
            self.shared.queued_bytes.fetch_sub(size, Ordering::Relaxed);
            metrics.dropped(1);
            return;
        }
        let mut inbox = self.shared.inbox();
        if inbox.finish || inbox.events.len() >= self.queue_events {
            drop(inbox);
            self.shared.queued_bytes.fetch_sub(size, Ordering::Relaxed);
            metrics.dropped(1);
            return;
        }
        inbox.events.push((event, size));
        // Wake the thread early only when the inbox is a quarter full (of events or bytes);
        // otherwise it looks every POLL, and a frame costs no wake-up.
        let early = inbox.events.len() == self.queue_events / 4 || queued + size > self.memory_bytes / 4;
        drop(inbox);
        if early {
            self.shared.wake.notify_one();
        }
    }
}

impl Drop for CaptureWriter {
    fn drop(&mut self) {
        if let Err(e) = self.finish() {
            tracing::warn!(venue = %self.exchange, error = %e, "capture writer finished with an error");
        }
    }
}
