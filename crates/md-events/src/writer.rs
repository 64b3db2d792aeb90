//! [`EventWriter`]: packets into per-symbol event files, chunk by chunk, without losing any on
//! a write failure it can outlast.
//!
//! The writer is synchronous (plain file I/O); [`crate::EventFiles`] runs it off the async
//! runtime. Each `(venue, symbol)` has an open chunk (records encoded, not yet compressed); a
//! chunk is sealed (compressed, checksummed) when it reaches `chunk_bytes`, when its first
//! record has waited `flush_interval`, when its records' UTC hour ends, or on
//! [`EventWriter::flush`]. Sealed chunks are appended to the stream's file in one write each;
//! a write that fails (a full disk) is cut back off the file, the chunk stays in memory with
//! every later one (up to `memory_limit_bytes`, past which the oldest are dropped and counted
//! lost) and is retried every `flush_interval` until the disk takes it.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use md_core::{DataPacket, ExchangeId, FastMap, Symbol, UnixNanos};
use md_pipeline::SinkMetrics;

use crate::codec::RecordEncoder;
use crate::format::{seal, ChunkMeta, FileHeader};
use crate::naming::EventFileName;
use crate::EventsError;

const HOUR_NS: i64 = 3_600_000_000_000;

/// Where and how event files are written.
#[derive(Debug, Clone)]
pub struct EventFilesConfig {
    /// The directory of the files (created if missing).
    pub dir: PathBuf,
    /// The longest a packet waits in memory before its chunk is written (and the retry period
    /// while writes fail).
    pub flush_interval: Duration,
    /// A chunk is sealed when its encoded records reach this many bytes.
    pub chunk_bytes: usize,
    /// A file is closed and the next one started when it reaches this many bytes (files also
    /// rotate at every UTC hour of the packets' `local_ts`).
    pub rotate_bytes: u64,
    /// Bytes of sealed chunks kept in memory while writes fail; beyond, the oldest are dropped
    /// and counted in `records_lost`.
    pub memory_limit_bytes: usize,
    /// Deflate level (1 fastest .. 9 smallest).
    pub level: u32,
    /// Test and operations hook: while switched on, writes fail as on a full disk.
    pub fault: Option<Arc<WriteFault>>,
}

impl EventFilesConfig {
    /// Defaults: 1 s flush, 256 KiB chunks, 256 MiB files, 64 MiB in memory while the disk
    /// is full, deflate level 1.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            flush_interval: Duration::from_secs(1),
            chunk_bytes: 256 << 10,
            rotate_bytes: 256 << 20,
            memory_limit_bytes: 64 << 20,
            level: 1,
            fault: None,
        }
    }
}

/// The disk-full hook (md-core's, shared by every file writer).
pub use md_core::WriteFault;

/// A sealed chunk waiting to be appended.
#[derive(Debug)]
struct Sealed {
    bytes: Vec<u8>,
    records: u32,
    hour: i64,
    first_local: UnixNanos,
}

#[derive(Debug)]
struct OpenFile {
    path: PathBuf,
    file: File,
    /// Bytes of whole chunks (and the header) in the file.
    len: u64,
    /// A write failed and part of it may be in the file past `len`.
    torn: bool,
    hour: i64,
}

impl OpenFile {
    fn append(&mut self, data: &[u8], fault: Option<&WriteFault>) -> Result<(), EventsError> {
        if self.torn {
            self.file.set_len(self.len).map_err(|e| EventsError::io(&self.path, e))?;
            self.torn = false;
        }
        let written = match fault {
            Some(fault) => fault.write(&mut self.file, data),
            None => self.file.write_all(data),
        };
        if let Err(e) = written {
            self.torn = true;
            // Best now; if it fails too, the next append cuts before writing anything.
            if self.file.set_len(self.len).is_ok() {
                self.torn = false;
            }
            return Err(EventsError::io(&self.path, e));
        }
        self.len += data.len() as u64;
        Ok(())
    }

    fn close(self) {
        if let Err(e) = self.file.sync_all() {
            tracing::warn!(file = %self.path.display(), error = %e, "event file sync failed");
        }
    }
}

#[derive(Debug)]
struct Stream {
    exchange: ExchangeId,
    symbol: Symbol,
    encoder: RecordEncoder,
    raw: Vec<u8>,
    meta: ChunkMeta,
    hour: i64,
    opened_at: Option<Instant>,
    sealed: VecDeque<Sealed>,
    file: Option<OpenFile>,
    last_start: UnixNanos,
}

impl Stream {
    fn new(exchange: ExchangeId, symbol: Symbol) -> Self {
        Self {
            exchange,
            symbol,
            encoder: RecordEncoder::new(),
            raw: Vec::new(),
            meta: ChunkMeta::empty(),
            hour: 0,
            opened_at: None,
            sealed: VecDeque::new(),
            file: None,
            last_start: i64::MIN,
        }
    }
}

/// Writes packets into per-symbol event files (see the module docs).
#[derive(Debug)]
pub struct EventWriter {
    config: EventFilesConfig,
    metrics: Arc<SinkMetrics>,
    streams: FastMap<(ExchangeId, Symbol), Stream>,
    /// Bytes of sealed chunks not yet written.
    sealed_bytes: usize,
    /// Records encoded and not yet written (open and sealed chunks).
    in_memory: u64,
    /// When the last write failed (retry after `flush_interval`).
    failed_at: Option<Instant>,
    /// Files written so far, in creation order.
    created: Vec<PathBuf>,
}

impl EventWriter {
    /// A writer into `config.dir` (created if missing), with metrics of its own.
    pub fn new(config: EventFilesConfig) -> Result<Self, EventsError> {
        Self::with_metrics(config, Arc::default())
    }

    /// A writer that counts into `metrics`.
    pub fn with_metrics(config: EventFilesConfig, metrics: Arc<SinkMetrics>) -> Result<Self, EventsError> {
        if config.chunk_bytes == 0 || config.rotate_bytes == 0 || config.flush_interval.is_zero() {
            return Err(EventsError::Config(
                "chunk_bytes, rotate_bytes and flush_interval must be > 0".into(),
            ));
        }
        std::fs::create_dir_all(&config.dir).map_err(|e| EventsError::io(&config.dir, e))?;
        Ok(Self {
            config,
            metrics,
            streams: FastMap::default(),
            sealed_bytes: 0,
            in_memory: 0,
            failed_at: None,
            created: Vec::new(),
        })
    }

    /// Its counters.
    pub fn metrics(&self) -> &Arc<SinkMetrics> {
        &self.metrics
    }

    /// Its settings.
    pub fn config(&self) -> &EventFilesConfig {
        &self.config
    }

    /// Records accepted and not yet written (in open chunks and in chunks waiting for the disk).
    pub fn records_in_memory(&self) -> u64 {
        self.in_memory
    }

    /// The files this writer created, in creation order.
    pub fn files_created(&self) -> &[PathBuf] {
        &self.created
    }

    /// Adds a packet to its stream's open chunk, writing the chunk if it is full. A write
    /// failure is not an error here: the records stay in memory and are retried (see
    /// [`SinkMetrics::health`]). Refuses only a packet kind the format cannot encode.
    pub fn write(&mut self, packet: &DataPacket) -> Result<(), EventsError> {
        SinkMetrics::add(&self.metrics.packets_received, 1);
        let key = (packet.exchange, packet.symbol.clone());
        let hour = packet.local_ts.div_euclid(HOUR_NS);
        let stream = self
            .streams
            .entry(key.clone())
            .or_insert_with(|| Stream::new(packet.exchange, packet.symbol.clone()));
        if stream.meta.records > 0 && hour > stream.hour {
            // A chunk never straddles an hour: files rotate at chunk boundaries.
            Self::seal_stream(&self.config, stream, &mut self.sealed_bytes)?;
            self.after_seal();
        }
        let Some(stream) = self.streams.get_mut(&key) else { return Ok(()) };
        let before = stream.raw.len();
        if let Err(e) = stream.encoder.encode(packet, &mut stream.raw) {
            stream.raw.truncate(before);
            if let EventsError::Unencodable(kind) = e {
                self.metrics.unknown_kind("events", kind);
            } else {
                SinkMetrics::add(&self.metrics.packets_rejected, 1);
            }
            return Err(e);
        }
        if stream.meta.records == 0 {
            stream.hour = hour;
            stream.opened_at = Some(Instant::now());
        }
        stream.meta.add(packet.local_ts, packet.exchange_ts);
        self.in_memory += 1;
        SinkMetrics::add(&self.metrics.records_encoded, 1);
        let full = stream.raw.len() >= self.config.chunk_bytes;
        if full {
            Self::seal_stream(&self.config, stream, &mut self.sealed_bytes)?;
            self.after_seal();
        }
        self.publish_gauges();
        Ok(())
    }

    /// Seals the chunks whose first record has waited `flush_interval`, and writes (or, while
    /// failing, retries once the retry period passed).
    pub fn poll(&mut self, now: Instant) {
        let interval = self.config.flush_interval;
        let mut sealed_any = false;
        for stream in self.streams.values_mut() {
            if stream.opened_at.is_some_and(|t| now.saturating_duration_since(t) >= interval) {
                if let Err(e) = Self::seal_stream(&self.config, stream, &mut self.sealed_bytes) {
                    tracing::error!(error = %e, "event chunk could not be compressed");
                }
                sealed_any = true;
            }
        }
        if sealed_any || self.sealed_bytes > 0 {
            if self.failed_at.is_none_or(|t| now.saturating_duration_since(t) >= interval) {
                let _ = self.write_sealed();
            }
            self.enforce_memory_limit();
        }
        self.publish_gauges();
    }

    /// When [`EventWriter::poll`] has something to do next: the oldest open chunk's flush
    /// time, or the next retry.
    pub fn next_deadline(&self) -> Option<Instant> {
        let interval = self.config.flush_interval;
        let flush = self.streams.values().filter_map(|s| s.opened_at).min().map(|t| t + interval);
        let retry =
            (self.sealed_bytes > 0).then(|| self.failed_at.map_or_else(Instant::now, |t| t + interval));
        match (flush, retry) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Seals every open chunk and writes everything; on failure the records stay in memory and
    /// the error is returned.
    pub fn flush(&mut self) -> Result<(), EventsError> {
        let mut result = Ok(());
        for stream in self.streams.values_mut() {
            if let Err(e) = Self::seal_stream(&self.config, stream, &mut self.sealed_bytes) {
                result = Err(e);
            }
        }
        let written = self.write_sealed();
        self.enforce_memory_limit();
        self.publish_gauges();
        result.and(written)
    }

    /// Flushes and closes (syncs) every file. Records a failure left in memory stay there;
    /// [`EventWriter::discard`] counts them lost.
    pub fn close(&mut self) -> Result<(), EventsError> {
        let result = self.flush();
        for stream in self.streams.values_mut() {
            if stream.sealed.is_empty() {
                if let Some(file) = stream.file.take() {
                    file.close();
                }
            }
        }
        result
    }

    /// Drops every record still in memory, counting it in `records_lost`; returns how many.
    pub fn discard(&mut self) -> u64 {
        let lost = self.in_memory;
        for stream in self.streams.values_mut() {
            stream.sealed.clear();
            stream.raw.clear();
            stream.meta = ChunkMeta::empty();
            stream.encoder.reset();
            stream.opened_at = None;
        }
        self.sealed_bytes = 0;
        self.in_memory = 0;
        if lost > 0 {
            SinkMetrics::add(&self.metrics.records_lost, lost);
            tracing::error!(records = lost, "event records could not be written and are lost");
        }
        self.publish_gauges();
        lost
    }

    fn publish_gauges(&self) {
        self.metrics.records_in_memory.store(self.in_memory, Relaxed);
    }

    fn after_seal(&mut self) {
        if self.failed_at.is_none() {
            let _ = self.write_sealed();
        }
        self.enforce_memory_limit();
    }

    fn seal_stream(
        config: &EventFilesConfig,
        stream: &mut Stream,
        sealed_bytes: &mut usize,
    ) -> Result<(), EventsError> {
        if stream.meta.records == 0 {
            return Ok(());
        }
        let bytes =
            seal(&stream.raw, stream.meta, config.level).map_err(|e| EventsError::io(&config.dir, e))?;
        *sealed_bytes += bytes.len();
        stream.sealed.push_back(Sealed {
            bytes,
            records: stream.meta.records,
            hour: stream.hour,
            first_local: stream.meta.min_local,
        });
        stream.raw.clear();
        stream.meta = ChunkMeta::empty();
        stream.encoder.reset();
        stream.opened_at = None;
        Ok(())
    }

    /// Appends every sealed chunk; stops at the first failure (the disk is shared).
    fn write_sealed(&mut self) -> Result<(), EventsError> {
        if self.sealed_bytes == 0 {
            return Ok(());
        }
        let fault = self.config.fault.clone();
        for stream in self.streams.values_mut() {
            let Stream { exchange, symbol, sealed, file, last_start, .. } = stream;
            while let Some(chunk) = sealed.front() {
                let started = Instant::now();
                let parts = StreamParts { exchange: *exchange, symbol, file, last_start };
                let result = write_chunk(&self.config, parts, chunk, fault.as_deref(), &mut self.created);
                match result {
                    Ok(()) => {
                        let records = u64::from(chunk.records);
                        self.sealed_bytes -= chunk.bytes.len();
                        self.in_memory -= records;
                        sealed.pop_front();
                        SinkMetrics::add(&self.metrics.records_written, records);
                        SinkMetrics::add(&self.metrics.batches_written, 1);
                        self.metrics.record_latency(started.elapsed());
                    }
                    Err(e) => {
                        if self.failed_at.is_some() {
                            SinkMetrics::add(&self.metrics.batches_retried, 1);
                        } else {
                            tracing::warn!(error = %e, "event file write failed; keeping chunks in memory and retrying");
                        }
                        self.failed_at = Some(Instant::now());
                        self.metrics.set_failing(e.to_string());
                        return Err(e);
                    }
                }
            }
        }
        if self.failed_at.take().is_some() {
            tracing::info!("event file writes recovered");
        }
        self.metrics.set_healthy();
        Ok(())
    }

    fn enforce_memory_limit(&mut self) {
        while self.sealed_bytes > self.config.memory_limit_bytes {
            // Drop the oldest chunk of the stream holding the most.
            let Some(stream) = self.streams.values_mut().max_by_key(|s| s.sealed.len()) else { return };
            let Some(chunk) = stream.sealed.pop_front() else { return };
            self.sealed_bytes -= chunk.bytes.len();
            let records = u64::from(chunk.records);
            self.in_memory -= records;
            SinkMetrics::add(&self.metrics.records_lost, records);
            tracing::error!(
                records,
                exchange = %stream.exchange,
                symbol = %stream.symbol,
                "event writes failing and memory full: oldest chunk dropped"
            );
        }
    }
}

struct StreamParts<'a> {
    exchange: ExchangeId,
    symbol: &'a Symbol,
    file: &'a mut Option<OpenFile>,
    last_start: &'a mut UnixNanos,
}

fn write_chunk(
    config: &EventFilesConfig,
    parts: StreamParts<'_>,
    chunk: &Sealed,
    fault: Option<&WriteFault>,
    created: &mut Vec<PathBuf>,
) -> Result<(), EventsError> {
    let rotate = match parts.file.as_ref() {
        None => true,
        Some(f) => chunk.hour > f.hour || f.len >= config.rotate_bytes,
    };
    if rotate {
        if let Some(old) = parts.file.take() {
            old.close();
        }
        // Names never go back in time within a stream, so files read in name order give the
        // packets in the order they were written even if the clock stepped back.
        let start = chunk.first_local.max(*parts.last_start);
        let header = FileHeader::new(parts.exchange, parts.symbol.clone(), start);
        let (path, file) = create_file(&config.dir, parts.exchange, parts.symbol, start)?;
        created.push(path.clone());
        *parts.last_start = start;
        *parts.file = Some(OpenFile { path, file, len: 0, torn: false, hour: chunk.hour });
        // The header goes out with the first chunk, in one write.
        let open = parts.file.as_mut().ok_or_else(|| EventsError::Config("no open file".into()))?;
        let mut data = header.to_bytes();
        data.extend_from_slice(&chunk.bytes);
        return open.append(&data, fault);
    }
    let open = parts.file.as_mut().ok_or_else(|| EventsError::Config("no open file".into()))?;
    if open.len == 0 {
        // The first write of this file failed: header and chunk again.
        let header = FileHeader::new(parts.exchange, parts.symbol.clone(), *parts.last_start);
        let mut data = header.to_bytes();
        data.extend_from_slice(&chunk.bytes);
        return open.append(&data, fault);
    }
    open.append(&chunk.bytes, fault)
}

fn create_file(
    dir: &Path,
    exchange: ExchangeId,
    symbol: &Symbol,
    start: UnixNanos,
) -> Result<(PathBuf, File), EventsError> {
    std::fs::create_dir_all(dir).map_err(|e| EventsError::io(dir, e))?;
    for n in 0..10_000 {
        let path = dir.join(EventFileName::new(exchange, symbol.clone(), start, n).to_file_name());
        match OpenOptions::new().append(true).create_new(true).open(&path) {
            Ok(file) => return Ok((path, file)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(EventsError::io(&path, e)),
        }
    }
    Err(EventsError::Config(format!("no free file name for {exchange} {symbol} in {}", dir.display())))
}
