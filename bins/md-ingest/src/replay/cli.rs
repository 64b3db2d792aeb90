//! md-replay's flags: what to replay (md's captures, or another tool's), which part of it, how
//! fast, and the same storage flags as md-ingest.

use std::path::PathBuf;

use clap::Parser;

use crate::cli::StorageArgs;

/// Replay recorded raw frames through md's parsers, verified books and sinks, exactly as live:
/// md's own captures (`md-ingest --capture DIR`), tardis.dev NDJSON or cryptofeed raw files.
#[derive(Debug, Default, Parser)]
#[command(name = "md-replay", version, after_help = AFTER_HELP)]
pub struct ReplayArgs {
    /// A capture folder written by `md-ingest --capture` (or one venue's folder, or one file).
    #[arg(long, env = "MD_REPLAY_CAPTURE", value_name = "DIR")]
    pub capture: Option<PathBuf>,

    /// A tardis.dev / tardis-machine raw NDJSON file (`.gz` too); needs --exchange.
    #[arg(long, value_name = "FILE")]
    pub tardis: Option<PathBuf>,

    /// cryptofeed raw_data_collection files of one venue (`BINANCE.ws…`, `BINANCE.http…`).
    #[arg(long, value_name = "FILE", value_delimiter = ',')]
    pub cryptofeed: Vec<PathBuf>,

    /// The venue of a --tardis file (binance, bybit, huobi; tardis names such as bybit-spot too).
    #[arg(long, value_name = "VENUE")]
    pub exchange: Option<String>,

    /// Venues to replay from a capture (default: every venue in it).
    #[arg(long, env = "MD_EXCHANGES", value_name = "LIST")]
    pub exchanges: Option<String>,

    /// Symbols to store (canonical BTC-USDT); default: all. Every book is still rebuilt.
    #[arg(long, env = "MD_SYMBOLS", value_name = "LIST")]
    pub symbols: Option<String>,

    /// Store nothing recorded before this time (RFC 3339 UTC, e.g. 2026-12-01T10:00:00Z, or ns
    /// since the epoch). Books are rebuilt from the capture's start all the same.
    #[arg(long, value_name = "TIME")]
    pub from: Option<String>,

    /// Stop at this time (RFC 3339 UTC or ns since the epoch).
    #[arg(long, value_name = "TIME")]
    pub to: Option<String>,

    /// `max` (as fast as possible, the default) or N: N times the recorded pace (1 = real time).
    #[arg(long, value_name = "max|N")]
    pub speed: Option<String>,

    /// Show progress (messages, rate, recorded time reached) on stderr: auto (on a terminal),
    /// always, never.
    #[arg(long, value_name = "WHEN", default_value = "auto")]
    pub progress: String,

    /// Export trades and top-N snapshots as CSV files under this folder (exact decimals, both
    /// clocks).
    #[arg(long, value_name = "DIR")]
    pub csv: Option<PathBuf>,

    /// Export trades and top-N snapshots as Parquet files under this folder.
    #[arg(long, value_name = "DIR")]
    pub parquet: Option<PathBuf>,

    /// Where and how to store (the same flags as md-ingest).
    #[command(flatten)]
    pub storage: StorageArgs,
}

const AFTER_HELP: &str = "\
Examples:
  md-ingest --simulate --exchanges binance --capture capture --data-dir live
  md-replay --capture capture --data-dir replayed
  md-replay --capture capture --influx-url http://127.0.0.1:8086 --influx-db md_incremental,md_snapshot
  md-replay --tardis binance-2026-11-30.ndjson.gz --exchange binance --data-dir replayed

The same capture replayed into the same storage stores the same lines, byte for byte, as the
live run did. Exit codes: 0 when every packet was stored, 1 when a sink lost data or failed,
2 for bad flags or config.";
