//! md-ingest: record crypto market data from several exchanges into InfluxDB.
//!
//! `md-ingest --exchanges huobi,bybit,binance` (see `--help`). Exit codes: 0 after a clean
//! shutdown with nothing lost, 1 when the run failed or any record a sink had accepted was lost,
//! 2 for bad flags, variables or config, 130 on a second signal.
#![forbid(unsafe_code)]

use md_ingest::{app, cli, process, settings};

fn main() {
    let args: cli::Args = process::parse_args("md-ingest");
    let settings = settings::Settings::resolve(args).unwrap_or_else(|e| process::usage_exit("md-ingest", e));
    process::init_logging();
    process::run_and_exit("md-ingest", |cancel| app::run(settings, cancel));
}
