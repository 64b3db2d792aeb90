//! The writer's one background thread: takes events off the queue, encodes them into the
//! block being built, seals (compresses) it when full or old, and appends sealed blocks to
//! the current file, rotating and retrying as needed.
//!
//! The producers and the thread share only the inbox: producers push under its lock and
//! return; the thread takes the whole inbox at once (a swap under the lock) and does all its
//! work — encoding, compression, writes — outside it, so it never waits for a producer nor a
//! producer for the disk (other recorders deadlocked on their first full buffer by flushing
//! under the lock that filled it). The thread wakes every [`POLL`], or at once when the inbox
//! fills up: not once per event, which on a live feed cost a futex wake-up per frame.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use md_core::{RawEvent, UnixNanos};

use crate::block::{self, BlockMeta};
use crate::error::CaptureError;
use crate::format::CaptureHeader;
use crate::naming::{CaptureName, HOUR_NS};
use crate::record::encode_event;
use crate::writer::files::{newest_name, OpenFile};
use crate::writer::metrics::CaptureMetrics;
use crate::writer::{retention, CaptureConfig};

/// How often the thread looks at the inbox when nobody wakes it.
pub(crate) const POLL: Duration = Duration::from_millis(10);

/// Events waiting for the thread.
#[derive(Debug, Default)]
pub(crate) struct Inbox {
    /// Each event and the bytes it counts against the queue's budget.
    pub events: Vec<(RawEvent, usize)>,
    /// Write everything and stop.
    pub finish: bool,
}

/// What the producers and the thread share.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    pub metrics: CaptureMetrics,
    /// Bytes of the events in the inbox (see [`crate::record::approx_size`]).
    pub queued_bytes: AtomicUsize,
    /// `finish` was called: `record` drops from now on.
    pub closed: AtomicBool,
    pub inbox: Mutex<Inbox>,
    /// Wakes the thread before its next poll (the inbox is filling up, or finish).
    pub wake: Condvar,
}

impl Shared {
    pub(crate) fn inbox(&self) -> MutexGuard<'_, Inbox> {
        self.inbox.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The block being built.
#[derive(Debug)]
struct Building {
    raw: Vec<u8>,
    meta: Option<BlockMeta>,
    first_ts: UnixNanos,
    since: Instant,
    /// The block is the first of a new file (the hour changed).
    new_file: bool,
}

/// A compressed block waiting to be written.
#[derive(Debug)]
struct Sealed {
    bytes: Vec<u8>,
    meta: BlockMeta,
    first_ts: UnixNanos,
    raw_len: usize,
    new_file: bool,
}

/// The thread's state.
#[derive(Debug)]
pub(crate) struct Worker {
    dir: PathBuf,
    config: CaptureConfig,
    header: CaptureHeader,
    shared: Arc<Shared>,
    building: Building,
    /// The UTC hour of the file events go to now.
    hour: Option<i64>,
    /// The next block started goes to a new file.
    next_new_file: bool,
    pending: VecDeque<Sealed>,
    pending_bytes: usize,
    current: Option<OpenFile>,
    /// The last file name used (or found in the directory at start).
    last_name: Option<CaptureName>,
    /// When writing may be tried again after a failure.
    retry_at: Option<Instant>,
    last_error: Option<CaptureError>,
}

impl Worker {
    pub fn new(dir: PathBuf, config: CaptureConfig, header: CaptureHeader, shared: Arc<Shared>) -> Self {
        let last_name = newest_name(&dir, header.exchange);
        let raw = Vec::with_capacity(config.block_bytes.min(16 << 20) + 4096);
        Self {
            dir,
            config,
            header,
            shared,
            building: Building { raw, meta: None, first_ts: 0, since: Instant::now(), new_file: false },
            hour: None,
            next_new_file: true,
            pending: VecDeque::new(),
            pending_bytes: 0,
            current: None,
            last_name,
            retry_at: None,
            last_error: None,
        }
    }

    /// The thread's body: until `finish` (or the writer is dropped).
    pub fn run(mut self) -> Result<(), CaptureError> {
        let mut batch = Vec::new();
        loop {
            let finish = {
                let mut inbox = self.shared.inbox();
                if inbox.events.is_empty() && !inbox.finish {
                    let wait = self.timeout(Instant::now()).map_or(POLL, |due| due.min(POLL));
                    inbox =
                        self.shared.wake.wait_timeout(inbox, wait).unwrap_or_else(PoisonError::into_inner).0;
                }
                std::mem::swap(&mut inbox.events, &mut batch);
                inbox.finish
            };
            self.take(&mut batch);
            if finish {
                return self.shutdown();
            }
            self.tick(Instant::now());
        }
    }

    /// Encodes a batch taken from the inbox.
    fn take(&mut self, batch: &mut Vec<(RawEvent, usize)>) {
        for (event, size) in batch.drain(..) {
            self.shared.queued_bytes.fetch_sub(size, Ordering::Relaxed);
            self.on_event(event);
        }
    }

    /// How long to wait for the next event before a flush or a retry is due.
    fn timeout(&self, now: Instant) -> Option<Duration> {
        let flush = self.building.meta.map(|_| self.building.since + self.config.flush_interval);
        let retry = (!self.pending.is_empty()).then(|| self.retry_at.unwrap_or(now));
        let due = match (flush, retry) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        due.map(|due| due.saturating_duration_since(now))
    }

    /// Seals the block if its first record is a flush interval old; writes if writing is due.
    fn tick(&mut self, now: Instant) {
        if self.building.meta.is_some() && now >= self.building.since + self.config.flush_interval {
            self.seal();
        }
        if !self.pending.is_empty() && self.retry_at.is_none_or(|at| now >= at) {
            self.write_pending(now);
        }
    }

    fn on_event(&mut self, event: RawEvent) {
        let metrics = &self.shared.metrics;
        if event.exchange != self.header.exchange {
            metrics.dropped(1);
            tracing::warn!(
                venue = %self.header.exchange,
                event_venue = %event.exchange,
                "capture: event of another venue dropped"
            );
            return;
        }
        // Rotation follows the events' clock, not the thread's, so where files split is
        // deterministic (and a replay of a capture re-recorded splits the same way).
        let hour = event.local_ts.div_euclid(HOUR_NS);
        if self.hour != Some(hour) {
            if self.hour.is_some() {
                self.seal();
                self.next_new_file = true;
            }
            self.hour = Some(hour);
        }
        let before = self.building.raw.len();
        if let Err(e) = encode_event(&mut self.building.raw, &event) {
            self.shared.metrics.dropped(1);
            tracing::warn!(venue = %self.header.exchange, error = %e, "capture: event dropped");
            return;
        }
        // While the disk is behind, what waits for it is bounded: the newest event goes.
        if !self.pending.is_empty() && self.pending_bytes + self.building.raw.len() > self.config.memory_bytes
        {
            self.building.raw.truncate(before);
            self.shared.metrics.dropped(1);
            return;
        }
        let b = &mut self.building;
        match &mut b.meta {
            Some(meta) => {
                meta.records += 1;
                meta.min_ts = meta.min_ts.min(event.local_ts);
                meta.max_ts = meta.max_ts.max(event.local_ts);
            }
            None => {
                b.meta = Some(BlockMeta {
                    records: 1,
                    min_ts: event.local_ts,
                    max_ts: event.local_ts,
                    first_mono: event.mono_ns,
                });
                b.first_ts = event.local_ts;
                b.since = Instant::now();
                b.new_file = std::mem::take(&mut self.next_new_file);
            }
        }
        if b.raw.len() >= self.config.block_bytes {
            self.seal();
        }
    }

    /// Compresses the block being built and queues it for writing.
    fn seal(&mut self) {
        let Some(meta) = self.building.meta.take() else {
            return;
        };
        let raw_len = self.building.raw.len();
        match block::seal(&self.building.raw, meta, self.config.codec) {
            Ok(bytes) => {
                self.pending_bytes += bytes.len();
                let (first_ts, new_file) = (self.building.first_ts, self.building.new_file);
                self.pending.push_back(Sealed { bytes, meta, first_ts, raw_len, new_file });
            }
            Err(e) => {
                self.shared.metrics.dropped(u64::from(meta.records));
                tracing::warn!(venue = %self.header.exchange, error = %e, "capture: block dropped");
            }
        }
        self.building.raw.clear();
    }

    /// Writes the waiting blocks in order until one fails.
    fn write_pending(&mut self, now: Instant) {
        while let Some(block) = self.pending.front_mut() {
            if let Err(e) = append(
                &mut self.current,
                block,
                &self.dir,
                &self.config,
                &self.header,
                &self.shared,
                &mut self.last_name,
            ) {
                if self.retry_at.is_none() {
                    tracing::warn!(venue = %self.header.exchange, error = %e, "capture: writes fail; holding blocks in memory and retrying");
                }
                self.shared.metrics.write_failed(e.to_string());
                self.retry_at = Some(now + self.config.flush_interval);
                self.last_error = Some(e);
                return;
            }
            if let Some(done) = self.pending.pop_front() {
                self.pending_bytes -= done.bytes.len();
                let m = &self.shared.metrics;
                m.block_written(
                    u64::from(done.meta.records),
                    done.raw_len as u64,
                    done.bytes.len() as u64 + 32,
                );
            }
        }
        self.retry_at = None;
        self.last_error = None;
        if self.shared.metrics.write_recovered() {
            tracing::info!(venue = %self.header.exchange, "capture: writes work again");
        }
    }

    /// Writes what is queued and built, once more if writes fail; what still cannot be
    /// written is counted as dropped and its error returned.
    fn shutdown(mut self) -> Result<(), CaptureError> {
        let mut rest = std::mem::take(&mut self.shared.inbox().events);
        self.take(&mut rest);
        self.seal();
        self.write_pending(Instant::now());
        if !self.pending.is_empty() {
            let lost: u64 = self.pending.iter().map(|b| u64::from(b.meta.records)).sum();
            self.shared.metrics.dropped(lost);
            return Err(self.last_error.take().unwrap_or_else(|| CaptureError::Worker {
                venue: self.header.exchange.to_string(),
                detail: format!("{lost} records not written"),
            }));
        }
        match self.current.as_mut() {
            Some(file) => file.sync(),
            None => Ok(()),
        }
    }
}

/// Appends one block, starting a new file first when the block asks for one (the hour
/// changed), the current file is full or broken, or there is none.
fn append(
    current: &mut Option<OpenFile>,
    block: &mut Sealed,
    dir: &std::path::Path,
    config: &CaptureConfig,
    header: &CaptureHeader,
    shared: &Shared,
    last_name: &mut Option<CaptureName>,
) -> Result<(), CaptureError> {
    let fault = config.fault.as_deref();
    let full = |f: &OpenFile| !f.is_fresh() && f.len + block.bytes.len() as u64 > config.rotate_bytes;
    if block.new_file || current.as_ref().is_none_or(|f| f.broken || full(f)) {
        if let Some(mut old) = current.take() {
            // The old file is complete: its data to the disk before the next one starts.
            if let Err(e) = old.sync() {
                tracing::warn!(path = %old.path.display(), error = %e, "capture: sync at rotation failed");
            }
        }
        let file = create(dir, header, (block.first_ts, block.meta.first_mono), fault, last_name)?;
        shared.metrics.file_opened(file.created_bytes());
        tracing::info!(path = %file.path.display(), "capture: writing");
        let deleted = retention::apply(dir, header.exchange, &file.path, &config.retention);
        shared.metrics.files_deleted(deleted);
        *current = Some(file);
        block.new_file = false;
    }
    match current.as_mut() {
        Some(file) => file.append(&block.bytes, &block.meta, fault, config.sync),
        None => {
            Err(CaptureError::Worker { venue: header.exchange.to_string(), detail: "no open file".into() })
        }
    }
}

/// Creates the next file: named at its first record's time, but never before the last file
/// (a clock stepped back must not sort a later file first), with a counter after the last
/// file's within the same second.
fn create(
    dir: &std::path::Path,
    header: &CaptureHeader,
    first: (UnixNanos, u64),
    fault: Option<&crate::WriteFault>,
    last_name: &mut Option<CaptureName>,
) -> Result<OpenFile, CaptureError> {
    let mut name = CaptureName::new(header.exchange, first.0, 0);
    if let Some(last) = last_name {
        if name.start_ns <= last.start_ns {
            name.start_ns = last.start_ns;
            name.seq = last.seq.saturating_add(1);
        }
    }
    let mut tries = 0;
    loop {
        match OpenFile::create(dir, &name, header, first, fault) {
            Ok(file) => {
                *last_name = Some(name);
                return Ok(file);
            }
            // Another writer (or process) took the name: the next counter.
            Err(CaptureError::Io { source, .. })
                if source.kind() == std::io::ErrorKind::AlreadyExists && tries < 10_000 =>
            {
                tries += 1;
                name.seq = name.seq.saturating_add(1);
            }
            Err(e) => return Err(e),
        }
    }
}
