//! [`LineFiles`]: the no-database default storage, line-protocol files on disk.
//!
//! Each target (incremental, snapshot) gets its own series of files under the directory,
//! `md_incremental-<unix-ns>.lp` and so on, rotated by size. Every file starts with the
//! `# DML` / `# CONTEXT-DATABASE:` header that `influx -import -path=FILE -precision=ns` reads,
//! so the data loads into InfluxDB later unchanged.
//!
//! The sink core batches (a sealed batch is at most `linger` old, so data reaches the OS at
//! least that often); [`FileDelivery`] appends one sealed batch at a time with `write_all`, and
//! fsyncs at rotation and at the end. A full disk loses nothing: a failed write is cut back
//! (no torn line stays in the file) and answered `Retry`; the core keeps the batch, holds at
//! most `memory_limit_bytes`, then stops reading input (the fan-out's `Block` holds the
//! sources); the sink's health says failing since when and why, and writing resumes by
//! itself when space returns. There is no spool: it would sit on the same full disk.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use md_core::now_ns;
use md_pipeline::sink::core::{self, CoreConfig, Delivery, MemoryOverflow, Outcome, SinkCore};
use md_pipeline::{BoxError, Sink, SinkError, SinkMetrics, SinkStats, Subscription};
use tokio_util::sync::CancellationToken;

use crate::delivery::dead_letter_header;
use crate::encode::{SchemaConfig, Target};
use crate::encoder::InfluxEncoder;
use crate::error::InfluxError;

/// Where and how line-protocol files are written.
#[derive(Debug, Clone)]
pub struct LineFilesConfig {
    /// The directory of the files (created if missing).
    pub dir: PathBuf,
    /// Database name written into the incremental files' import header.
    pub incremental_database: String,
    /// Database name written into the snapshot files' import header.
    pub snapshot_database: String,
    /// Measurement names and snapshot depth.
    pub schema: SchemaConfig,
    /// A new file is started (the old one fsynced) when the next batch would take the current
    /// one past this size; batches are at most this size too (and at most 1 MiB), so a file
    /// exceeds it only by less than one line.
    pub rotate_bytes: u64,
    /// Lines reach the file at least this often.
    pub linger: Duration,
    /// Bytes held in memory while the disk refuses writes, before input stops. Default 64 MiB.
    pub memory_limit_bytes: usize,
    /// Packets that cannot be encoded are kept here as JSON. Default `<dir>/dead-letter`.
    pub dead_letter_dir: PathBuf,
    /// Test and operations hook: while set and switched on, writes fail as on a full disk
    /// (to test the disk-full path, or rehearse the alert). `None` in normal use.
    pub fault: Option<Arc<WriteFault>>,
}

impl LineFilesConfig {
    /// Defaults: databases `md_incremental` / `md_snapshot`, 256 MiB files, 1 s linger,
    /// 64 MiB in memory while the disk is full.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        let dir = dir.into();
        Self {
            dead_letter_dir: dir.join("dead-letter"),
            dir,
            incremental_database: "md_incremental".into(),
            snapshot_database: "md_snapshot".into(),
            schema: SchemaConfig::default(),
            rotate_bytes: 256 << 20,
            linger: Duration::from_secs(1),
            memory_limit_bytes: 64 << 20,
            fault: None,
        }
    }

    /// The sink core's settings: no spool (it would be on the same disk), backpressure above
    /// the memory limit, retries every 2 s at most.
    fn core_config(&self) -> CoreConfig {
        let mut core = CoreConfig::new(&self.dead_letter_dir);
        core.batch_bytes = usize::try_from(self.rotate_bytes).unwrap_or(usize::MAX).clamp(1, 1 << 20);
        core.linger = self.linger;
        core.retry =
            core::RetryConfig { max_backoff: Duration::from_secs(2), ..core::RetryConfig::default() };
        core.spool_dir = None;
        core.memory_limit_bytes = self.memory_limit_bytes;
        core.overflow = MemoryOverflow::Backpressure;
        core
    }
}

/// The disk-full hook (md-core's, shared by every file writer); see [`LineFilesConfig::fault`].
pub use md_core::WriteFault;

/// Writes packets as line protocol into rotated files: the sink core with an
/// [`InfluxEncoder`] and a [`FileDelivery`].
#[derive(Debug)]
pub struct LineFiles {
    core: SinkCore<InfluxEncoder, FileDelivery>,
}

impl LineFiles {
    /// A sink writing under `config.dir`.
    pub fn new(config: LineFilesConfig) -> Result<Self, InfluxError> {
        Self::named("files", config)
    }

    /// [`LineFiles::new`] with a name of its own (metrics, logs), for several file sinks.
    pub fn named(name: impl Into<String>, config: LineFilesConfig) -> Result<Self, InfluxError> {
        std::fs::create_dir_all(&config.dir).map_err(|e| InfluxError::io(&config.dir, e))?;
        let encoder = InfluxEncoder::new(&config.schema)?;
        let core = SinkCore::new(name, encoder, FileDelivery::new(&config), config.core_config())
            .map_err(InfluxError::Core)?;
        Ok(Self { core })
    }

    /// Its counters and state, live (`records_written` counts lines handed to the files).
    pub fn metrics(&self) -> Arc<SinkMetrics> {
        self.core.metrics()
    }

    /// Writes every packet of `input` until it ends or `cancel` fires, then syncs the files.
    pub async fn run(self, input: Subscription, cancel: CancellationToken) -> Result<SinkStats, SinkError> {
        self.core.run(input, cancel).await
    }
}

#[async_trait]
impl Sink for LineFiles {
    fn name(&self) -> &str {
        self.core.name()
    }

    fn metrics(&self) -> Arc<SinkMetrics> {
        self.core.metrics()
    }

    async fn run(
        self: Box<Self>,
        input: Subscription,
        cancel: CancellationToken,
    ) -> Result<SinkStats, SinkError> {
        self.core.run(input, cancel).await
    }
}

/// Appends sealed batches of lines to the rotated files of each target.
///
/// Writes (and the fsyncs of rotation) run on tokio's blocking pool, off the workers that the
/// drivers share: a slow or full disk must not stall reading the venues.
#[derive(Debug, Clone)]
pub struct FileDelivery {
    state: Arc<FileState>,
}

#[derive(Debug)]
struct FileState {
    dir: PathBuf,
    databases: [String; 2],
    rotate_bytes: u64,
    fault: Option<Arc<WriteFault>>,
    /// One lane delivers at a time (the core's rule), so these locks are never contended.
    files: [Mutex<Option<OpenFile>>; 2],
}

#[derive(Debug)]
struct OpenFile {
    path: PathBuf,
    file: File,
    /// Length of the complete lines (and header) in the file.
    bytes: u64,
    /// Length of the import header.
    header: u64,
    /// A write failed and its part may still be in the file past `bytes`.
    torn: bool,
}

impl OpenFile {
    /// Appends a batch; on failure the file is cut back to where the batch started.
    fn append(&mut self, data: &[u8], fault: Option<&WriteFault>) -> Result<(), InfluxError> {
        self.cut_torn_tail()?;
        let written = match fault {
            Some(fault) => fault.write(&mut self.file, data),
            None => self.file.write_all(data),
        };
        if let Err(e) = written {
            self.torn = true;
            // Best now; if it fails too, the next append tries again before writing anything.
            let _ = self.cut_torn_tail();
            return Err(InfluxError::io(&self.path, e));
        }
        self.bytes += data.len() as u64;
        Ok(())
    }

    /// No torn line may stay in a file `influx -import` will read: cut a failed write's part.
    fn cut_torn_tail(&mut self) -> Result<(), InfluxError> {
        if self.torn {
            self.file.set_len(self.bytes).map_err(|e| InfluxError::io(&self.path, e))?;
            self.torn = false;
        }
        Ok(())
    }

    fn sync(&mut self) -> Result<(), InfluxError> {
        self.cut_torn_tail()?;
        self.file.sync_all().map_err(|e| InfluxError::io(&self.path, e))
    }
}

impl FileDelivery {
    /// Files under `config.dir`, none opened yet.
    pub fn new(config: &LineFilesConfig) -> Self {
        let state = FileState {
            dir: config.dir.clone(),
            databases: [config.incremental_database.clone(), config.snapshot_database.clone()],
            rotate_bytes: config.rotate_bytes,
            fault: config.fault.clone(),
            files: [Mutex::new(None), Mutex::new(None)],
        };
        Self { state: Arc::new(state) }
    }
}

impl FileState {
    fn write(&self, lane: usize, body: &[u8]) -> Result<(), InfluxError> {
        let mut slot = self.files[lane].lock().unwrap_or_else(PoisonError::into_inner);
        let full = |f: &OpenFile| f.bytes > f.header && f.bytes + body.len() as u64 > self.rotate_bytes;
        if slot.as_ref().is_none_or(full) {
            self.rotate(lane, &mut slot)?;
        }
        match slot.as_mut() {
            Some(file) => file.append(body, self.fault.as_deref()),
            None => Err(InfluxError::Config("no open file after rotation".into())),
        }
    }

    /// Syncs and closes the current file (kept if the sync fails: nothing is lost by trying
    /// again), then starts a new one with the import header.
    fn rotate(&self, lane: usize, slot: &mut Option<OpenFile>) -> Result<(), InfluxError> {
        if let Some(old) = slot.as_mut() {
            old.sync()?;
        }
        *slot = None;
        let database = &self.databases[lane];
        let path = self.dir.join(format!("{database}-{}.lp", now_ns()));
        let mut file = OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(&path)
            .map_err(|e| InfluxError::io(&path, e))?;
        let header = format!("# DML\n# CONTEXT-DATABASE: {database}\n");
        let written = match self.fault.as_deref() {
            Some(fault) => fault.write(&mut file, header.as_bytes()),
            None => file.write_all(header.as_bytes()),
        };
        if let Err(e) = written {
            // A file without its whole header would not import: it goes, and is made again.
            drop(file);
            let _ = std::fs::remove_file(&path);
            return Err(InfluxError::io(&path, e));
        }
        // The new directory entry must survive a crash too.
        if let Ok(dir) = File::open(&self.dir) {
            let _ = dir.sync_all();
        }
        tracing::info!(path = %path.display(), "writing line protocol");
        let header = header.len() as u64;
        *slot = Some(OpenFile { path, file, bytes: header, header, torn: false });
        Ok(())
    }
}

#[async_trait]
impl Delivery for FileDelivery {
    fn lanes(&self) -> Vec<String> {
        Target::ALL.iter().map(|t| t.as_str().to_owned()).collect()
    }

    async fn deliver(&self, lane: usize, body: &Bytes, _records: u32) -> Outcome {
        if lane >= self.state.files.len() {
            return Outcome::Reject { status: "lane".into(), message: format!("no files for lane {lane}") };
        }
        let (state, body) = (Arc::clone(&self.state), body.clone());
        match tokio::task::spawn_blocking(move || state.write(lane, &body)).await {
            Ok(Ok(())) => Outcome::Done,
            // Disk full, quota, EIO: nothing was kept of this batch, so it can go again.
            Ok(Err(e)) => Outcome::Retry { after: None, error: e.to_string() },
            Err(e) => Outcome::Retry { after: None, error: format!("write task: {e}") },
        }
    }

    fn split(&self, _body: &Bytes) -> Option<(Bytes, Bytes)> {
        None
    }

    fn count(&self, body: &[u8]) -> u32 {
        u32::try_from(crate::delivery::count_lines(body)).unwrap_or(u32::MAX)
    }

    async fn finish(&self) -> Result<(), BoxError> {
        for slot in &self.state.files {
            let mut slot = slot.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(file) = slot.as_mut() {
                file.sync()?;
            }
        }
        Ok(())
    }

    fn dead_letter_format(&self, lane: &str, status: &str, message: &str) -> (Vec<u8>, &'static str) {
        (dead_letter_header(lane, status, message), "lp")
    }
}

/// The `.lp` files of a directory, oldest first (for tests and tools).
pub fn line_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "lp"))
        .collect();
    files.sort();
    Ok(files)
}
