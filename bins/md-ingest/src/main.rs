//! md-ingest: record crypto market data from several exchanges into InfluxDB.
//!
//! `md-ingest --exchanges huobi,bybit,binance` (see `--help`). Exit codes: 0 after a clean
//! shutdown with nothing lost, 1 when the run failed or any record a sink had accepted was lost,
//! 2 for bad flags, variables or config, 130 on a second signal.
#![forbid(unsafe_code)]

mod app;
mod cli;
mod metrics;
mod settings;
mod sinks;

use clap::Parser;
use tokio_util::sync::CancellationToken;

fn main() {
    let args = match cli::Args::try_parse() {
        Ok(args) => args,
        Err(e)
            if matches!(
                e.kind(),
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion
            ) =>
        {
            let _ = e.print();
            std::process::exit(0);
        }
        Err(e) => {
            let text = e.to_string();
            let first = text.lines().next().unwrap_or("bad arguments").trim_start_matches("error: ");
            eprintln!("md-ingest: {first} (see --help)");
            std::process::exit(2);
        }
    };
    let settings = match settings::Settings::resolve(args) {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("md-ingest: {e}");
            std::process::exit(2);
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        // Colours only on a terminal: a log file or journal should not hold escape codes.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let runtime = match md_pipeline::runtime() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("md-ingest: cannot start the runtime: {e}");
            std::process::exit(1);
        }
    };
    let code = runtime.block_on(async {
        let cancel = CancellationToken::new();
        tokio::spawn(signals(cancel.clone()));
        match app::run(settings, cancel).await {
            Ok(report) if report.is_clean() => 0,
            Ok(report) => {
                tracing::error!(
                    lost = report.lost(),
                    sink_failed = report.sink_failed_early,
                    "the run lost data or a sink failed; exiting 1"
                );
                1
            }
            Err(e) => {
                tracing::error!("{e}");
                1
            }
        }
    });
    std::process::exit(code);
}

/// The first SIGINT or SIGTERM stops the listeners and flushes every buffer; a second one
/// exits at once.
async fn signals(cancel: CancellationToken) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut interrupt), Ok(mut terminate)) =
        (signal(SignalKind::interrupt()), signal(SignalKind::terminate()))
    else {
        tracing::error!("cannot listen for signals");
        return;
    };
    tokio::select! {
        _ = interrupt.recv() => {}
        _ = terminate.recv() => {}
    }
    tracing::info!("stopping: flushing every buffer (a second signal exits at once)");
    cancel.cancel();
    tokio::select! {
        _ = interrupt.recv() => {}
        _ = terminate.recv() => {}
    }
    tracing::warn!("second signal: exiting now");
    std::process::exit(130);
}
