//! The embedded default sink: line-protocol files on disk, for a first run with no database.
//!
//! Each target (incremental, snapshot) gets its own series of files under the directory,
//! `md_incremental-<unix-ns>.lp` and so on, rotated by size. Every file starts with the
//! `# DML` / `# CONTEXT-DATABASE:` header that `influx -import -path=FILE -precision=ns` reads,
//! so the data loads into InfluxDB later unchanged. Files are flushed on `linger` and synced
//! to disk on rotation and shutdown.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use md_core::{now_ns, DataPacket};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::encode::{LineEncoder, SchemaConfig, Target};
use crate::error::SinkError;
use crate::metrics::{SinkMetrics, SinkStats};

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
    /// A file is closed and a new one started past this size.
    pub rotate_bytes: u64,
    /// Buffered lines reach the file at least this often.
    pub linger: Duration,
}

impl LineFilesConfig {
    /// Defaults: databases `md_incremental` / `md_snapshot`, 256 MiB files, 1 s linger.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            incremental_database: "md_incremental".into(),
            snapshot_database: "md_snapshot".into(),
            schema: SchemaConfig::default(),
            rotate_bytes: 256 << 20,
            linger: Duration::from_secs(1),
        }
    }
}

/// Writes packets as line protocol into rotated files.
#[derive(Debug)]
pub struct LineFiles {
    config: LineFilesConfig,
    encoder: LineEncoder,
    files: [Option<OpenFile>; 2],
    metrics: Arc<SinkMetrics>,
}

#[derive(Debug)]
struct OpenFile {
    path: PathBuf,
    writer: BufWriter<File>,
    bytes: u64,
}

impl LineFiles {
    /// A sink writing under `config.dir`.
    pub fn new(config: LineFilesConfig) -> Result<Self, SinkError> {
        std::fs::create_dir_all(&config.dir).map_err(|e| SinkError::io(&config.dir, e))?;
        let encoder = LineEncoder::new(&config.schema)?;
        Ok(Self { config, encoder, files: [None, None], metrics: Arc::default() })
    }

    /// Its counters, live (`lines_written` counts lines handed to the file).
    pub fn metrics(&self) -> Arc<SinkMetrics> {
        Arc::clone(&self.metrics)
    }

    /// Writes every packet from `rx` until it closes or `cancel` fires, then flushes and syncs.
    pub async fn run(
        mut self,
        mut rx: mpsc::Receiver<DataPacket>,
        cancel: CancellationToken,
    ) -> Result<SinkStats, SinkError> {
        let mut line = Vec::with_capacity(1024);
        let mut flush = tokio::time::interval(self.config.linger);
        loop {
            tokio::select! {
                packet = rx.recv() => match packet {
                    Some(packet) => self.write(&packet, &mut line)?,
                    None => break,
                },
                _ = flush.tick() => self.flush(false)?,
                _ = cancel.cancelled() => {
                    // Take what is already queued: it was produced before the cancel.
                    while let Ok(packet) = rx.try_recv() {
                        self.write(&packet, &mut line)?;
                    }
                    break;
                }
            }
        }
        self.flush(true)?;
        Ok(self.metrics.snapshot())
    }

    fn write(&mut self, packet: &DataPacket, line: &mut Vec<u8>) -> Result<(), SinkError> {
        line.clear();
        let target = match self.encoder.encode(packet, line) {
            Ok(Some(target)) => target,
            Ok(None) => {
                self.metrics.packets_skipped.fetch_add(1, Ordering::Relaxed);
                return Ok(());
            }
            Err(err) => {
                self.metrics.packets_rejected.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(error = %err, "packet refused by the line encoder");
                return Ok(());
            }
        };
        self.metrics.lines_buffered.fetch_add(1, Ordering::Relaxed);
        let rotate_bytes = self.config.rotate_bytes;
        let needs_new = self.files[target.index()].as_ref().is_none_or(|f| f.bytes >= rotate_bytes);
        if needs_new {
            self.rotate(target)?;
        }
        if let Some(file) = self.files[target.index()].as_mut() {
            file.writer.write_all(line).map_err(|e| SinkError::io(&file.path, e))?;
            file.bytes += line.len() as u64;
            self.metrics.lines_written.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }

    fn rotate(&mut self, target: Target) -> Result<(), SinkError> {
        if let Some(old) = self.files[target.index()].take() {
            close(old)?;
        }
        let database = match target {
            Target::Incremental => &self.config.incremental_database,
            Target::Snapshot => &self.config.snapshot_database,
        };
        let path = self.config.dir.join(format!("{database}-{}.lp", now_ns()));
        let file = OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(&path)
            .map_err(|e| SinkError::io(&path, e))?;
        let mut writer = BufWriter::with_capacity(1 << 20, file);
        let header = format!("# DML\n# CONTEXT-DATABASE: {database}\n");
        writer.write_all(header.as_bytes()).map_err(|e| SinkError::io(&path, e))?;
        tracing::info!(path = %path.display(), "writing line protocol");
        self.files[target.index()] = Some(OpenFile { path, writer, bytes: header.len() as u64 });
        Ok(())
    }

    fn flush(&mut self, sync: bool) -> Result<(), SinkError> {
        for file in self.files.iter_mut().flatten() {
            file.writer.flush().map_err(|e| SinkError::io(&file.path, e))?;
            if sync {
                file.writer.get_ref().sync_all().map_err(|e| SinkError::io(&file.path, e))?;
            }
        }
        Ok(())
    }
}

fn close(mut file: OpenFile) -> Result<(), SinkError> {
    file.writer.flush().map_err(|e| SinkError::io(&file.path, e))?;
    file.writer.get_ref().sync_all().map_err(|e| SinkError::io(&file.path, e))
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
