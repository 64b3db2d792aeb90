//! md-serve: the merged order book alone — venue connections, verified books, and one book per
//! symbol merged across venues, streamed over gRPC (127.0.0.1:9051) and to a web page
//! (http://127.0.0.1:9052/), subscribed on demand. Stores nothing (md-ingest --grpc-addr serves
//! the same book beside a recording). Exit codes: 0 after a clean shutdown, 1 when the run
//! failed, 2 for bad flags, variables or config, 130 on a second signal.
#![forbid(unsafe_code)]

use std::path::PathBuf;

use clap::Parser;
use md_ingest::cli::{Args, StorageArgs};
use md_ingest::serve::{ServeArgs, ServeMode};
use md_ingest::{app, process, settings};

/// Serve the merged order book of several exchanges over gRPC and a web page; symbols are
/// subscribed when the first client asks for them.
#[derive(Debug, Parser)]
#[command(name = "md-serve", version, after_help = AFTER_HELP)]
struct ServeCli {
    /// Venues to merge: binance, bybit, huobi, bitstamp (default: all).
    #[arg(long, env = "MD_EXCHANGES", value_name = "LIST")]
    exchanges: Option<String>,

    /// WebSocket URL override, VENUE=URL (repeatable).
    #[arg(long = "ws-url", env = "MD_WS_URL", value_name = "VENUE=URL", value_delimiter = ',')]
    ws_url: Vec<String>,

    /// REST base URL override, VENUE=URL (repeatable).
    #[arg(long = "rest-url", env = "MD_REST_URL", value_name = "VENUE=URL", value_delimiter = ',')]
    rest_url: Vec<String>,

    /// Serve every chosen venue from an in-process simulator: an offline demo, no network.
    #[arg(long, env = "MD_SIMULATE")]
    simulate: bool,

    /// A TOML file with any of these settings (keys as the flags, with underscores; the server's
    /// under `[serve]`).
    #[arg(long, env = "MD_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,

    /// Log one status line per venue this often, e.g. 10s (default 10s; 0 = never).
    #[arg(long, env = "MD_STATUS_INTERVAL", value_name = "DURATION")]
    status_interval: Option<String>,

    /// Cross-check each Bitstamp book against a fresh REST snapshot this often: seconds, or
    /// e.g. 90s, 2m (default 60; 0 = off). A mismatch takes that venue out until it resynced.
    #[arg(long, env = "MD_CROSS_CHECK_INTERVAL", value_name = "SECS")]
    cross_check_interval: Option<String>,

    /// A venue whose connection sends no frame for this long is marked STALE, left out of the
    /// merged book and reconnected, e.g. 30s (default: the venue's, 60 s for most).
    #[arg(long, env = "MD_LIVENESS_TIMEOUT", value_name = "DURATION")]
    liveness_timeout: Option<String>,

    /// The server.
    #[command(flatten)]
    serve: ServeArgs,
}

const AFTER_HELP: &str = "\
Examples:
  md-serve --simulate                      then: md-book BTC-USDT, or open http://127.0.0.1:9052/
  md-serve --exchanges binance,bitstamp --grpc-addr 127.0.0.1:9051
  MD_SERVE_TOKEN=... md-serve --grpc-addr 0.0.0.0:9051 --tls-cert cert.pem --tls-key key.pem

Logs go to stderr (RUST_LOG=info by default). SIGINT/SIGTERM stop it and exit 0.";

fn main() {
    let cli: ServeCli = process::parse_args("md-serve");
    let args = Args {
        exchanges: cli.exchanges,
        // The merged book needs books only, and no stored snapshots.
        channels: Some("book".into()),
        snapshot_interval: Some("0".into()),
        ws_url: cli.ws_url,
        rest_url: cli.rest_url,
        storage: StorageArgs {
            config: cli.config,
            status_interval: cli.status_interval,
            ..StorageArgs::default()
        },
        simulate: cli.simulate,
        cross_check_interval: cli.cross_check_interval,
        liveness_timeout: cli.liveness_timeout,
        serve: cli.serve,
        serve_mode: ServeMode::Alone,
        ..Args::default()
    };
    let mut settings =
        settings::Settings::resolve(args).unwrap_or_else(|e| process::usage_exit("md-serve", e));
    // md-serve stores nothing: storage settings of a shared config file are md-ingest's.
    settings.sinks.clear();
    process::init_logging();
    process::run_and_exit("md-serve", |cancel| app::run(settings, cancel));
}
