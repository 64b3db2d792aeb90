//! Command-line flags. Every flag can also come from an `MD_…` environment variable and from
//! the `--config` TOML file; precedence is CLI > environment > file > defaults.
//!
//! Values are taken as text here and checked in [`crate::settings`], so that every bad value
//! gets one line that says what is wrong and what is valid.

use std::path::PathBuf;

use clap::Parser;

/// Record crypto market data (trades, verified L2 books) from several exchanges into InfluxDB,
/// or into line-protocol files when no database is given.
#[derive(Debug, Default, Parser)]
#[command(name = "md-ingest", version, after_help = AFTER_HELP)]
pub struct Args {
    /// Venues to record: binance, bybit, huobi, bitstamp (default: all four).
    #[arg(long, env = "MD_EXCHANGES", value_name = "LIST")]
    pub exchanges: Option<String>,

    /// Symbols, canonical (BTC-USDT) or venue-native (btcusdt); default: every trading spot symbol.
    #[arg(long, env = "MD_SYMBOLS", value_name = "LIST")]
    pub symbols: Option<String>,

    /// Channels: trades, book (default: both).
    #[arg(long, env = "MD_CHANNELS", value_name = "LIST")]
    pub channels: Option<String>,

    /// Levels per side in stored book snapshots (default 5).
    #[arg(long, env = "MD_DEPTH", value_name = "N")]
    pub depth: Option<String>,

    /// Also store a top-N snapshot of every verified book this often, e.g. 1s, 500ms, 1m
    /// (default 1s; 0 turns it off).
    #[arg(long, env = "MD_SNAPSHOT_INTERVAL", value_name = "DURATION")]
    pub snapshot_interval: Option<String>,

    /// WebSocket URL override, VENUE=URL (repeatable).
    #[arg(long = "ws-url", env = "MD_WS_URL", value_name = "VENUE=URL", value_delimiter = ',')]
    pub ws_url: Vec<String>,

    /// REST base URL override, VENUE=URL (repeatable).
    #[arg(long = "rest-url", env = "MD_REST_URL", value_name = "VENUE=URL", value_delimiter = ',')]
    pub rest_url: Vec<String>,

    /// Where and how to store (shared with md-replay).
    #[command(flatten)]
    pub storage: StorageArgs,

    /// Record every raw frame, message, connect, disconnect and REST snapshot to this folder
    /// (append-only, compressed, hourly files per venue) for md-replay.
    #[arg(long, env = "MD_CAPTURE", value_name = "DIR")]
    pub capture: Option<PathBuf>,

    /// Delete capture files older than this, e.g. 7d, 48h (default: keep all).
    #[arg(long, env = "MD_CAPTURE_MAX_AGE", value_name = "DURATION")]
    pub capture_max_age: Option<String>,

    /// Delete the oldest capture files of a venue beyond this total, e.g. 500G (default: keep all).
    #[arg(long, env = "MD_CAPTURE_MAX_SIZE", value_name = "SIZE")]
    pub capture_max_size: Option<String>,

    /// Cross-check each book of a venue whose book diffs carry no sequence (Bitstamp) against a
    /// fresh REST snapshot this often: seconds, or e.g. 90s, 2m (default 60; 0 turns it off).
    /// A mismatch counts as a gap and rebuilds the book.
    #[arg(long, env = "MD_CROSS_CHECK_INTERVAL", value_name = "SECS")]
    pub cross_check_interval: Option<String>,

    /// Reconnect a connection that sent no frame for this long, e.g. 30s (default: the venue's,
    /// 60 s for most; Bitstamp's quiet books are silent for up to ~49 s, so keep it above that).
    #[arg(long, env = "MD_LIVENESS_TIMEOUT", value_name = "DURATION")]
    pub liveness_timeout: Option<String>,

    /// Serve every chosen venue from an in-process simulator: an offline demo, no network.
    #[arg(long, env = "MD_SIMULATE")]
    pub simulate: bool,

    /// Also serve the merged order book (gRPC, web page) from this process.
    #[command(flatten)]
    pub serve: crate::serve::ServeArgs,

    /// Which program parses these flags (md-serve serves by default).
    #[arg(skip = crate::serve::ServeMode::BesideRecording)]
    pub serve_mode: crate::serve::ServeMode,
}

/// The storage flags md-ingest and md-replay share: the same flags store a live run and its
/// replay.
#[derive(Debug, Default, clap::Args)]
pub struct StorageArgs {
    /// InfluxDB base URL, e.g. http://127.0.0.1:8086; without it, line-protocol files go under --data-dir.
    #[arg(long, env = "MD_INFLUX_URL", value_name = "URL")]
    pub influx_url: Option<String>,

    /// InfluxDB 2 organisation: selects the v2 API (token from MD_INFLUX_TOKEN or MD_INFLUX_TOKEN_FILE).
    #[arg(long, env = "MD_INFLUX_ORG", value_name = "ORG")]
    pub influx_org: Option<String>,

    /// InfluxDB 2 buckets: INCREMENTAL,SNAPSHOT (default md_incremental,md_snapshot).
    #[arg(long, env = "MD_INFLUX_BUCKETS", value_name = "INCR,SNAP")]
    pub influx_buckets: Option<String>,

    /// InfluxDB 1 databases: INCREMENTAL,SNAPSHOT (default md_incremental,md_snapshot); user and
    /// password from MD_INFLUX_USER and MD_INFLUX_PASSWORD (or MD_INFLUX_PASSWORD_FILE).
    #[arg(long, env = "MD_INFLUX_DB", value_name = "INCR,SNAP")]
    pub influx_db: Option<String>,

    /// Where line-protocol files, the spool and dead letters live (default ./data).
    #[arg(long, env = "MD_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// Also write every packet into per-symbol event files (`BINANCE_BTC_USDT_<start>.mdev`)
    /// under this folder, for backtests (md-events' reader).
    #[arg(long, env = "MD_EVENTS", value_name = "DIR")]
    pub events: Option<PathBuf>,

    /// A TOML file with any of these settings (keys as the flags, with underscores).
    #[arg(long, env = "MD_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Serve Prometheus metrics on /metrics and a health check on /healthz at this address.
    #[arg(long, env = "MD_METRICS_ADDR", value_name = "ADDR")]
    pub metrics_addr: Option<String>,

    /// Log one status line per venue and per sink this often, e.g. 10s (default 10s; 0 = never).
    #[arg(long, env = "MD_STATUS_INTERVAL", value_name = "DURATION")]
    pub status_interval: Option<String>,
}

const AFTER_HELP: &str = "\
Examples:
  md-ingest --exchanges huobi,bybit,binance
  md-ingest --simulate --exchanges binance --symbols BTC-USDT,ETH-USDT
  MD_INFLUX_TOKEN=... md-ingest --influx-url http://127.0.0.1:8086 --influx-org research

Logs go to stderr (RUST_LOG=info by default). SIGINT/SIGTERM flush everything and exit 0;
a second signal exits at once.";
