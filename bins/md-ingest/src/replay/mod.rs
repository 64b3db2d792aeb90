//! md-replay as composition of library stages: a replay source (recorded raw events through the
//! same connection cores as live) feeding the sinks md-ingest's storage flags name.

pub mod cli;
pub mod settings;
pub mod source;

use std::io::Write;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use md_pipeline::{RunReport, Topology};
use tokio_util::sync::CancellationToken;

use crate::metrics::Registry;
use settings::ReplaySettings;
use source::{Progress, ReplaySource, Summary};

/// Sinks may take this long to drain at the end.
const FLUSH_DEADLINE: Duration = Duration::from_secs(30);

/// Replays until the input ends (or `cancel` fires), then lets every sink drain.
pub async fn run(settings: ReplaySettings, cancel: CancellationToken) -> Result<RunReport, String> {
    let registry: Arc<Registry> = Arc::default();
    if let Some(addr) = settings.storage.metrics_addr {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| format!("cannot serve metrics on {addr}: {e}"))?;
        tokio::spawn(crate::metrics::serve(listener, Arc::clone(&registry), cancel.clone()));
    }
    if let Some(every) = settings.storage.status_interval {
        // The sinks' lines (written, in memory, on disk, failing since): a long replay into a
        // database that goes away says so as md-ingest does.
        tokio::spawn(crate::metrics::status_lines(Arc::clone(&registry), every, cancel.clone()));
    }
    let progress: Arc<Progress> = Arc::default();
    let summary: Arc<Mutex<Summary>> = Arc::default();
    let mut topology = Topology::new().drain_deadline(FLUSH_DEADLINE);
    topology.add_source(Box::new(ReplaySource::new(
        settings.input.clone(),
        settings.exchanges.clone(),
        settings.symbols.clone(),
        (settings.from, settings.to),
        settings.speed,
        Arc::clone(&progress),
        Arc::clone(&summary),
    )));
    for spec in &settings.storage.sinks {
        let sink = crate::sinks::build(spec)?;
        registry.add_sink(topology.add_sink(sink, spec.overflow, spec.capacity), spec.capacity);
    }
    let done = CancellationToken::new();
    let shown = settings.progress.then(|| tokio::spawn(show_progress(Arc::clone(&progress), done.clone())));
    let started = Instant::now();
    let report = topology.run(cancel).await;
    done.cancel();
    if let Some(task) = shown {
        let _ = task.await;
    }
    log_summary(&summary, &progress, started.elapsed(), &report);
    Ok(report)
}

/// One line on stderr, redrawn each second: messages, rate, recorded time reached.
async fn show_progress(progress: Arc<Progress>, done: CancellationToken) {
    let started = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        let last = tokio::select! {
            _ = tick.tick() => false,
            () = done.cancelled() => true,
        };
        let events = progress.events.load(Relaxed);
        let rate = events as f64 / started.elapsed().as_secs_f64().max(1e-3);
        let reached = md_core::time::utc_rfc3339(progress.reached.load(Relaxed));
        let mut err = std::io::stderr();
        let _ = write!(err, "\r\x1b[2Kmd-replay: {events} messages, {rate:.0}/s, recorded time {reached}");
        if last {
            let _ = writeln!(err);
            return;
        }
        let _ = err.flush();
    }
}

fn log_summary(summary: &Mutex<Summary>, progress: &Progress, took: Duration, report: &RunReport) {
    let summary = summary.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let events = progress.events.load(Relaxed);
    for (venue, stats) in &summary.venues {
        tracing::info!(
            exchange = %venue,
            events = stats.events,
            frames = stats.frames,
            snapshots = stats.snapshots,
            packets = stats.packets,
            snapshots_unanswered = stats.snapshots_unanswered,
            skipped = stats.skipped,
            "replayed"
        );
    }
    if summary.torn_tails > 0 {
        tracing::info!(
            files = summary.torn_tails,
            "torn tails skipped (what a crash leaves; everything before was read)"
        );
    }
    if !summary.problems.is_empty() {
        tracing::warn!(count = summary.problems.len(), first = %summary.problems[0], "parts of the input could not be read; the rest was replayed");
    }
    let rate = events as f64 / took.as_secs_f64().max(1e-3);
    tracing::info!(
        events,
        seconds = took.as_secs_f64(),
        rate = rate as u64,
        lost = report.lost(),
        "replay done"
    );
}

/// The snapshot depth the recording was sampled at (its first header's), so a replay encodes
/// snapshots as the live run did; md-ingest's default (5) for other tools' captures.
pub fn recorded_depth(input: &settings::Input) -> usize {
    const DEFAULT: usize = 5;
    let settings::Input::Capture(path) = input else { return DEFAULT };
    let Ok(reader) = md_capture::read(path, md_capture::ReadOptions::default()) else { return DEFAULT };
    reader
        .take(1_000)
        .find_map(|item| match item {
            Ok(md_capture::CaptureItem::Header { header, .. }) => {
                serde_json::from_str::<md_driver::RecordedConfig>(&header.config).ok()
            }
            _ => None,
        })
        .map_or(DEFAULT, |c| if c.sample_depth > 0 { c.sample_depth } else { DEFAULT })
}
