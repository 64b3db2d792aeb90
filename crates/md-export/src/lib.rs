//! md-export: trades and top-N book snapshots of a replay (or a live run) as CSV or Parquet
//! files, the formats research notebooks load directly.
//!
//! [`Export`] is an [`md_pipeline::Sink`]: give it an [`ExportConfig`] and a subscription and
//! it writes two tables into one directory,
//!
//! - `trades`: `exchange, symbol, exchange_ts_ns, local_ts_ns, side, price, qty, trade_id`;
//! - `snapshots`: `exchange, symbol, exchange_ts_ns, local_ts_ns`, then `bid_price_1,
//!   bid_qty_1, … bid_price_N, bid_qty_N, ask_price_1, ask_qty_1, … ask_price_N, ask_qty_N`
//!   (N = [`ExportConfig::depth`]; empty, or null in Parquet, where a side has fewer levels),
//!
//! as `DIR/trades-000000.csv`, `DIR/trades-000001.csv`, … (`.parquet` for Parquet), a new
//! file every [`ExportConfig::rows_per_file`] rows. Book deltas and status packets are counted
//! as skipped (`SinkMetrics::packets_skipped`), never dropped silently.
//!
//! **Exact values.** Prices and quantities are written as the exact text of their decimal
//! (`0.000000012345678900` stays that, trailing zeros and all), never through `f64`. Parquet's
//! DECIMAL type needs one fixed scale per column, which venues do not have (a symbol's tick
//! changes, two symbols share a file), so in Parquet they are UTF8 strings too: lossless, and
//! parsed with `decimal.Decimal` (pandas) or `pl.Decimal` (polars) when exact math is wanted.
//! Both clocks are integer nanoseconds since the Unix epoch: CSV integers, Parquet INT64 with
//! the TIMESTAMP(NANOS, UTC) logical type (pandas and polars read them as UTC datetimes with
//! nanosecond precision, still exact).
//!
//! Files are written as `NAME.partial` and renamed when complete (synced; for Parquet the
//! footer written), so a file under its final name is always readable. All file IO runs on a
//! blocking thread (`tokio::task::spawn_blocking`), never on the runtime's workers. A write
//! error ends the sink with [`ExportError`] naming the file: an offline export fails loudly.
#![forbid(unsafe_code)]

mod csv;
mod files;
mod pq;
mod table;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use md_core::Payload;
use md_pipeline::{Batch, Sink, SinkError, SinkMetrics, SinkStats, Subscription};
use tokio_util::sync::CancellationToken;

pub use table::Table;

/// The file format of an export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// CSV: a header row, RFC 4180 quoting where a field needs it, `\n` line ends.
    Csv,
    /// Parquet: UTF8 text and decimals, INT64 TIMESTAMP(NANOS, UTC) clocks, SNAPPY pages.
    Parquet,
}

impl Format {
    /// Both formats, for "valid: ..." messages.
    pub const ALL: [Format; 2] = [Format::Csv, Format::Parquet];

    /// `csv` or `parquet`: the sink's name and the files' extension.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Csv => "csv",
            Self::Parquet => "parquet",
        }
    }

    /// Parses [`Format::as_str`]'s spelling, in any case.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.as_str().eq_ignore_ascii_case(text.trim()))
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What to export where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportConfig {
    /// The directory the files go into (created if missing). It must hold no earlier export
    /// of the same format: md never overwrites one.
    pub dir: PathBuf,
    /// CSV or Parquet.
    pub format: Format,
    /// Levels per side in snapshot rows (1 to [`ExportConfig::MAX_DEPTH`]; default 5).
    pub depth: usize,
    /// Rows per file before the next file of that table is started (at least 1).
    pub rows_per_file: u64,
    /// Parquet: rows per row group, the unit written and held in memory (at least 1). CSV
    /// files ignore it.
    pub row_group_rows: usize,
}

impl ExportConfig {
    /// The default levels per side.
    pub const DEFAULT_DEPTH: usize = 5;
    /// The most levels per side (`4 * MAX_DEPTH` level columns).
    pub const MAX_DEPTH: usize = 1000;
    /// The default rows per file.
    pub const DEFAULT_ROWS_PER_FILE: u64 = 1_000_000;
    /// The default rows per Parquet row group.
    pub const DEFAULT_ROW_GROUP_ROWS: usize = 65_536;

    /// An export into `dir` in `format`, with the default depth, file and row-group sizes.
    pub fn new(dir: impl Into<PathBuf>, format: Format) -> Self {
        Self {
            dir: dir.into(),
            format,
            depth: Self::DEFAULT_DEPTH,
            rows_per_file: Self::DEFAULT_ROWS_PER_FILE,
            row_group_rows: Self::DEFAULT_ROW_GROUP_ROWS,
        }
    }

    /// The same, with `depth` levels per side.
    pub fn depth(mut self, depth: usize) -> Self {
        self.depth = depth;
        self
    }

    /// The same, with a new file every `rows` rows.
    pub fn rows_per_file(mut self, rows: u64) -> Self {
        self.rows_per_file = rows;
        self
    }

    /// The same, with a Parquet row group every `rows` rows.
    pub fn row_group_rows(mut self, rows: usize) -> Self {
        self.row_group_rows = rows;
        self
    }
}

/// Why an export could not start or stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    /// A config value out of range.
    #[error("invalid export config: {0}")]
    Config(String),
    /// The export directory could not be created.
    #[error("cannot create export directory {}: {source}", dir.display())]
    CreateDir {
        /// The directory.
        dir: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The directory already holds an export file of this format.
    #[error("{} exists: export into an empty directory (md never overwrites an export)", path.display())]
    Exists {
        /// The file found.
        path: PathBuf,
    },
    /// Reading or writing a file failed.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What was being done (`creating`, `writing`, `syncing`, `renaming`, `listing`).
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The Parquet writer failed on a file.
    #[error("writing Parquet file {}: {source}", path.display())]
    Parquet {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: parquet::errors::ParquetError,
    },
    /// The blocking writer thread ended without an answer (it panicked or was cancelled).
    #[error("the export writer thread stopped abnormally: {0}")]
    Writer(String),
    /// A broken internal invariant (a bug in md-export), reported instead of panicking.
    #[error("md-export internal error: {0}")]
    Internal(&'static str),
}

impl ExportError {
    fn io(action: &'static str, path: &Path, source: std::io::Error) -> Self {
        Self::Io { action, path: path.to_path_buf(), source }
    }
}

/// The export sink: see the [crate docs](crate).
#[derive(Debug)]
pub struct Export {
    config: ExportConfig,
    metrics: Arc<SinkMetrics>,
}

impl Export {
    /// Checks the config, creates the directory and makes sure it holds no earlier export of
    /// this format. No file is created until the first row of its table.
    pub fn new(config: ExportConfig) -> Result<Export, ExportError> {
        if config.depth == 0 || config.depth > ExportConfig::MAX_DEPTH {
            return Err(ExportError::Config(format!(
                "depth {} (levels per side) must be 1 to {}",
                config.depth,
                ExportConfig::MAX_DEPTH
            )));
        }
        if config.rows_per_file == 0 {
            return Err(ExportError::Config("rows_per_file must be at least 1".into()));
        }
        if config.row_group_rows == 0 {
            return Err(ExportError::Config("row_group_rows must be at least 1".into()));
        }
        std::fs::create_dir_all(&config.dir)
            .map_err(|source| ExportError::CreateDir { dir: config.dir.clone(), source })?;
        if let Some(path) = files::earlier_export(&config.dir, config.format.as_str())? {
            return Err(ExportError::Exists { path });
        }
        Ok(Export { config, metrics: Arc::default() })
    }

    /// Its config.
    pub fn config(&self) -> &ExportConfig {
        &self.config
    }
}

/// Batches queued between the runtime and the writer thread.
const QUEUED_BATCHES: usize = 8;

#[async_trait]
impl Sink for Export {
    fn name(&self) -> &str {
        self.config.format.as_str()
    }

    fn metrics(&self) -> Arc<SinkMetrics> {
        Arc::clone(&self.metrics)
    }

    async fn run(
        self: Box<Self>,
        mut input: Subscription,
        cancel: CancellationToken,
    ) -> Result<SinkStats, SinkError> {
        let (tx, rx) = tokio::sync::mpsc::channel::<Batch>(QUEUED_BATCHES);
        let metrics = Arc::clone(&self.metrics);
        let config = self.config.clone();
        let writer = tokio::task::spawn_blocking(move || write_all(&config, rx, &metrics));
        loop {
            let batch = tokio::select! {
                biased;
                // Past the shutdown deadline: close the files with what they hold, at once.
                () = cancel.cancelled() => break,
                batch = input.recv() => batch,
            };
            let Some(batch) = batch else { break };
            SinkMetrics::add(&self.metrics.packets_received, batch.len() as u64);
            if tx.send(batch).await.is_err() {
                break; // the writer stopped on an error: it is reported below
            }
        }
        drop(tx);
        let result = match writer.await {
            Ok(result) => result,
            Err(join) => Err(ExportError::Writer(join.to_string())),
        };
        match result {
            Ok(()) => Ok(self.metrics.snapshot()),
            Err(e) => {
                tracing::error!(sink = self.name(), error = %e, "export failed");
                self.metrics.set_failing(e.to_string());
                Err(SinkError::Failed(Box::new(e)))
            }
        }
    }
}

/// The two tables of one format.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // one value per export, on the writer thread's stack
enum Tables {
    Csv { trades: csv::CsvTable, snapshots: csv::CsvTable },
    Parquet { trades: pq::ParquetTable, snapshots: pq::ParquetTable },
}

impl Tables {
    fn new(config: &ExportConfig, metrics: &Arc<SinkMetrics>) -> Result<Self, ExportError> {
        let (dir, depth, rows) = (&config.dir, config.depth, config.rows_per_file);
        Ok(match config.format {
            Format::Csv => Tables::Csv {
                trades: csv::CsvTable::new(Table::Trades, dir, depth, rows, Arc::clone(metrics)),
                snapshots: csv::CsvTable::new(Table::Snapshots, dir, depth, rows, Arc::clone(metrics)),
            },
            Format::Parquet => {
                let table = |table| {
                    let metrics = Arc::clone(metrics);
                    pq::ParquetTable::new(table, dir, depth, rows, config.row_group_rows, metrics)
                };
                Tables::Parquet { trades: table(Table::Trades)?, snapshots: table(Table::Snapshots)? }
            }
        })
    }

    fn write(
        &mut self,
        table: Table,
        cells: impl FnOnce(&mut dyn FnMut(table::Cell<'_>)),
    ) -> Result<(), ExportError> {
        match (self, table) {
            (Tables::Csv { trades, .. }, Table::Trades) => trades.write_row(cells),
            (Tables::Csv { snapshots, .. }, Table::Snapshots) => snapshots.write_row(cells),
            (Tables::Parquet { trades, .. }, Table::Trades) => trades.write_row(cells),
            (Tables::Parquet { snapshots, .. }, Table::Snapshots) => snapshots.write_row(cells),
        }
    }

    /// Closes both tables' open files; the first error wins, the other table is still closed.
    fn close(&mut self) -> Result<(), ExportError> {
        let (a, b) = match self {
            Tables::Csv { trades, snapshots } => (trades.close(), snapshots.close()),
            Tables::Parquet { trades, snapshots } => (trades.close(), snapshots.close()),
        };
        a.and(b)
    }
}

/// The writer thread: every batch's trades and snapshots into their tables, then the files
/// closed. On an error the other table's file is still closed, so what it holds stays readable.
fn write_all(
    config: &ExportConfig,
    mut rx: tokio::sync::mpsc::Receiver<Batch>,
    metrics: &Arc<SinkMetrics>,
) -> Result<(), ExportError> {
    let name = config.format.as_str();
    let depth = config.depth;
    let mut tables = Tables::new(config, metrics)?;
    let mut written = || -> Result<(), ExportError> {
        while let Some(batch) = rx.blocking_recv() {
            for packet in batch.iter() {
                match &packet.data {
                    Payload::Trade(trade) => {
                        tables.write(Table::Trades, |out| table::trade_cells(packet, trade, out))?;
                    }
                    Payload::BookSnapshot(snapshot) => {
                        tables.write(Table::Snapshots, |out| {
                            table::snapshot_cells(packet, snapshot, depth, out)
                        })?;
                    }
                    Payload::BookDelta(_) | Payload::Status(_) => {
                        SinkMetrics::add(&metrics.packets_skipped, 1)
                    }
                    other => metrics.unknown_kind(name, other.kind_name()),
                }
            }
        }
        Ok(())
    };
    let result = written();
    let closed = tables.close();
    result.and(closed)
}
