//! What md-ingest and md-replay do alike as processes: flags (help exits 0, a bad flag 2 with
//! one line), logs on stderr, md's runtime, signals, and the exit code of a run's report.

use std::future::Future;

use md_pipeline::RunReport;
use tokio_util::sync::CancellationToken;

/// Parses the command line; `--help`/`--version` print and exit 0, a bad flag exits 2 with one
/// line naming it.
pub fn parse_args<A: clap::Parser>(name: &str) -> A {
    match A::try_parse() {
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
            eprintln!("{name}: {first} (see --help)");
            std::process::exit(2);
        }
    }
}

/// Exits 2 with `name: message` (bad settings).
pub fn usage_exit(name: &str, message: impl std::fmt::Display) -> ! {
    eprintln!("{name}: {message}");
    std::process::exit(2);
}

/// Logs to stderr (`RUST_LOG`, default info); colours only on a terminal, so that a log file
/// or journal holds no escape codes.
pub fn init_logging() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

/// Runs `job` on md's runtime until it ends or a signal cancels it, and exits: 0 when the
/// report is clean, 1 when the run failed, lost data or a sink failed, 130 on a second signal.
pub fn run_and_exit<F>(name: &str, job: impl FnOnce(CancellationToken) -> F) -> !
where
    F: Future<Output = Result<RunReport, String>>,
{
    let runtime = match md_pipeline::runtime() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("{name}: cannot start the runtime: {e}");
            std::process::exit(1);
        }
    };
    let code = runtime.block_on(async {
        let cancel = CancellationToken::new();
        tokio::spawn(signals(cancel.clone()));
        match job(cancel).await {
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

/// The first SIGINT or SIGTERM stops the sources and flushes every buffer; a second one exits
/// at once.
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
