//! `/metrics` (Prometheus text exposition) and `/healthz`, from the drivers' and sinks' counters,
//! plus the status line logged every 10 s per venue.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use md_core::ExchangeId;
use md_driver::{DriverMetrics, MetricsSnapshot};
use md_sink_influx::{SinkMetrics, SinkStats};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

/// One venue's counters.
#[derive(Debug, Clone)]
pub struct VenueMetrics {
    /// The venue.
    pub exchange: ExchangeId,
    /// Its driver's counters.
    pub driver: Arc<DriverMetrics>,
    /// Its storage's counters.
    pub sink: Arc<SinkMetrics>,
    /// Books it was asked to keep.
    pub books: usize,
}

/// Every venue's counters, shared with the HTTP endpoint and the status line.
pub type Registry = Arc<std::sync::Mutex<Vec<VenueMetrics>>>;

fn venues(registry: &Registry) -> Vec<VenueMetrics> {
    registry.lock().map(|v| v.clone()).unwrap_or_default()
}

/// A driver counter: name, type, help, reader.
type DriverSeries = (&'static str, &'static str, &'static str, fn(&MetricsSnapshot) -> i64);
/// A storage counter: name, help, reader.
type SinkSeries = (&'static str, &'static str, fn(&SinkStats) -> u64);

/// The Prometheus text exposition of every counter.
pub fn render(registry: &Registry) -> String {
    let venues = venues(registry);
    let mut out = String::with_capacity(4096);
    let driver: Vec<(ExchangeId, MetricsSnapshot)> =
        venues.iter().map(|v| (v.exchange, v.driver.snapshot())).collect();
    let sink: Vec<(ExchangeId, SinkStats)> = venues.iter().map(|v| (v.exchange, v.sink.snapshot())).collect();
    let driver_series: [DriverSeries; 15] = [
        ("md_trades_total", "counter", "Trades passed on", |m| m.trades as i64),
        ("md_book_snapshots_total", "counter", "Book snapshots passed on", |m| m.book_snapshots as i64),
        ("md_book_deltas_total", "counter", "Verified book incrementals passed on", |m| m.book_deltas as i64),
        ("md_stale_deltas_total", "counter", "Incrementals older than their book, ignored", |m| {
            m.stale_deltas as i64
        }),
        ("md_control_frames_total", "counter", "Control frames (acks, pings, pongs)", |m| {
            m.control_frames as i64
        }),
        ("md_parse_errors_total", "counter", "Frames that did not parse", |m| m.parse_errors as i64),
        ("md_venue_rejections_total", "counter", "Requests the venue refused", |m| m.venue_rejections as i64),
        ("md_bytes_received_total", "counter", "Bytes of frames received", |m| m.bytes_received as i64),
        ("md_reconnects_total", "counter", "Connections lost and reopened", |m| m.reconnects as i64),
        ("md_gaps_total", "counter", "Sequence gaps or crossed books detected", |m| m.gaps as i64),
        ("md_resyncs_total", "counter", "Books rebuilt from a fresh snapshot", |m| m.resyncs as i64),
        ("md_snapshot_requests_total", "counter", "Snapshot requests", |m| m.snapshot_requests as i64),
        ("md_snapshot_failures_total", "counter", "Failed snapshot requests", |m| m.snapshot_failures as i64),
        ("md_connections_open", "gauge", "Open venue connections", |m| m.connections_open),
        ("md_books_in_sync", "gauge", "Books in sync", |m| m.books_in_sync),
    ];
    for (name, kind, help, get) in driver_series {
        series(&mut out, name, kind, help, driver.iter().map(|(id, m)| (*id, get(m))));
    }
    let sink_series: [SinkSeries; 9] = [
        ("md_lines_buffered_total", "Lines encoded for storage", |s| s.lines_buffered),
        ("md_lines_written_total", "Lines acknowledged by storage", |s| s.lines_written),
        ("md_batches_retried_total", "Write batches retried", |s| s.batches_retried),
        ("md_lines_spooled_total", "Lines spilled to the disk spool", |s| s.lines_spooled),
        ("md_lines_replayed_total", "Lines delivered from the disk spool", |s| s.lines_replayed),
        ("md_lines_dead_lettered_total", "Lines set aside in dead-letter files", |s| s.lines_dead_lettered),
        ("md_packets_rejected_total", "Packets the line encoder refused", |s| s.packets_rejected),
        ("md_timestamp_bumps_total", "Points moved 1 ns to stay distinct", |s| s.timestamp_bumps),
        ("md_spool_corrupt_records_total", "Spool records skipped as damaged", |s| s.spool_corrupt_records),
    ];
    for (name, help, get) in sink_series {
        series(&mut out, name, "counter", help, sink.iter().map(|(id, s)| (*id, get(s) as i64)));
    }
    series(
        &mut out,
        "md_write_latency_max_milliseconds",
        "gauge",
        "Slowest storage write so far",
        sink.iter().map(|(id, s)| (*id, s.write_latency_max.as_millis() as i64)),
    );
    out
}

fn series(
    out: &mut String,
    name: &str,
    kind: &str,
    help: &str,
    values: impl Iterator<Item = (ExchangeId, i64)>,
) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    for (id, value) in values {
        let _ = writeln!(out, "{name}{{exchange=\"{id}\"}} {value}");
    }
}

/// Healthy when every venue has a connection open.
pub fn health(registry: &Registry) -> Result<(), String> {
    let venues = venues(registry);
    let down: Vec<String> = venues
        .iter()
        .filter(|v| v.driver.snapshot().connections_open == 0)
        .map(|v| v.exchange.to_string())
        .collect();
    if venues.is_empty() {
        return Err("starting".into());
    }
    if down.is_empty() {
        Ok(())
    } else {
        Err(format!("no connection: {}", down.join(", ")))
    }
}

/// Serves `/metrics` and `/healthz` until cancelled.
pub async fn serve(listener: TcpListener, registry: Registry, cancel: CancellationToken) {
    loop {
        let stream = tokio::select! {
            _ = cancel.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::warn!(error = %e, "metrics endpoint accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let registry = Arc::clone(&registry);
        tokio::spawn(async move {
            let _ = tokio::time::timeout(Duration::from_secs(5), respond(stream, &registry)).await;
        });
    }
}

async fn respond(mut stream: TcpStream, registry: &Registry) -> std::io::Result<()> {
    // Read at most one small request head; anything longer is not a metrics scrape.
    let mut head = vec![0u8; 2048];
    let mut len = 0;
    while len < head.len() && !head[..len].windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut head[len..]).await?;
        if n == 0 {
            break;
        }
        len += n;
    }
    let request = String::from_utf8_lossy(&head[..len]);
    let path = request.split_whitespace().nth(1).unwrap_or("/");
    let (status, body, content_type) = match path {
        "/metrics" => ("200 OK", render(registry), "text/plain; version=0.0.4"),
        "/healthz" => match health(registry) {
            Ok(()) => ("200 OK", "ok\n".to_owned(), "text/plain"),
            Err(why) => ("503 Service Unavailable", format!("{why}\n"), "text/plain"),
        },
        _ => ("404 Not Found", "try /metrics or /healthz\n".to_owned(), "text/plain"),
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
}

/// Logs one status line per venue every `every`, until cancelled.
pub async fn status_lines(registry: Registry, every: Duration, cancel: CancellationToken) {
    let mut previous: Vec<(ExchangeId, u64)> = Vec::new();
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = ticker.tick() => {}
        }
        for venue in venues(&registry) {
            let d = venue.driver.snapshot();
            let s = venue.sink.snapshot();
            let messages = d.trades + d.book_deltas + d.book_snapshots;
            let before = previous.iter().find(|(id, _)| *id == venue.exchange).map_or(0, |(_, n)| *n);
            previous.retain(|(id, _)| *id != venue.exchange);
            previous.push((venue.exchange, messages));
            tracing::info!(
                "{}: connections {}, {:.0} msg/s, books in sync {}/{}, gaps {}, resyncs {}, parse errors {}, lines written {}, spooled {}",
                venue.exchange,
                d.connections_open,
                (messages - before.min(messages)) as f64 / every.as_secs_f64(),
                d.books_in_sync,
                venue.books,
                d.gaps,
                d.resyncs,
                d.parse_errors,
                s.lines_written,
                s.lines_spooled.saturating_sub(s.lines_replayed),
            );
        }
    }
}
