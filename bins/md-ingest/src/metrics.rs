//! `/metrics` (Prometheus text exposition) and `/healthz`, from the drivers' and sinks'
//! counters, plus the status lines logged every 10 s: one per venue and one per sink.

use std::fmt::Write as _;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use md_capture::{CaptureHealth, CaptureWriter};
use md_core::ExchangeId;
use md_driver::{DriverMetrics, MetricsSnapshot};
use md_pipeline::{SinkHealth, SinkInfo, SinkStats};
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
    /// Whether it keeps books (the book channel is recorded).
    pub books: bool,
}

/// Every venue's and sink's counters, shared with the HTTP endpoint and the status lines.
#[derive(Debug, Default)]
pub struct Registry {
    venues: Mutex<Vec<VenueMetrics>>,
    sinks: Mutex<Vec<(SinkInfo, usize)>>,
    captures: Mutex<Vec<Arc<CaptureWriter>>>,
    book_server: Mutex<Option<Arc<md_serve::ServeMetrics>>>,
}

impl Registry {
    /// Adds a venue.
    pub fn add_venue(&self, venue: VenueMetrics) {
        self.venues.lock().unwrap_or_else(PoisonError::into_inner).push(venue);
    }

    /// Adds a sink and its queue's bound.
    pub fn add_sink(&self, sink: SinkInfo, capacity: usize) {
        self.sinks.lock().unwrap_or_else(PoisonError::into_inner).push((sink, capacity));
    }

    /// Adds a venue's raw-capture writer.
    pub fn add_capture(&self, writer: Arc<CaptureWriter>) {
        self.captures.lock().unwrap_or_else(PoisonError::into_inner).push(writer);
    }

    /// Adds the merged-book server's counters (its status line).
    pub fn add_book_server(&self, metrics: Arc<md_serve::ServeMetrics>) {
        *self.book_server.lock().unwrap_or_else(PoisonError::into_inner) = Some(metrics);
    }

    fn book_server(&self) -> Option<Arc<md_serve::ServeMetrics>> {
        self.book_server.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    fn captures(&self) -> Vec<Arc<CaptureWriter>> {
        self.captures.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    fn venues(&self) -> Vec<VenueMetrics> {
        self.venues.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    fn sinks(&self) -> Vec<(SinkInfo, usize)> {
        self.sinks.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

/// A driver counter: name, type, help, reader.
type DriverSeries = (&'static str, &'static str, &'static str, fn(&MetricsSnapshot) -> i64);
/// A sink counter: name, type, help, reader.
type SinkSeries = (&'static str, &'static str, &'static str, fn(&SinkStats) -> i64);

/// The Prometheus text exposition of every counter.
pub fn render(registry: &Registry) -> String {
    let mut out = String::with_capacity(8192);
    let driver: Vec<(ExchangeId, MetricsSnapshot)> =
        registry.venues().iter().map(|v| (v.exchange, v.driver.snapshot())).collect();
    let driver_series: [DriverSeries; 25] = [
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
        ("md_gaps_total", "counter", "Sequence gaps, crossed books or failed cross-checks detected", |m| {
            m.gaps as i64
        }),
        ("md_resyncs_total", "counter", "Books rebuilt from a fresh snapshot", |m| m.resyncs as i64),
        (
            "md_cross_checks_requested_total",
            "counter",
            "Cross-check snapshots asked for (venues without sequence numbers)",
            |m| m.cross_checks_requested as i64,
        ),
        (
            "md_cross_checks_passed_total",
            "counter",
            "Cross-checks: the book equalled the venue's snapshot",
            |m| m.cross_checks_passed as i64,
        ),
        (
            "md_cross_checks_failed_total",
            "counter",
            "Cross-checks that found the book different (each also a gap)",
            |m| m.cross_checks_failed as i64,
        ),
        (
            "md_cross_checks_inconclusive_total",
            "counter",
            "Cross-checks that could not compare (snapshot too old or unreadable)",
            |m| m.cross_checks_inconclusive as i64,
        ),
        (
            "md_cross_checks_deferred_total",
            "counter",
            "Cross-checks compared at the next later update (snapshot newer than the book)",
            |m| m.cross_checks_deferred as i64,
        ),
        (
            "md_cross_checks_dropped_total",
            "counter",
            "Cross-checks never compared (replaced, or the book lost sync or its connection)",
            |m| m.cross_checks_dropped as i64,
        ),
        ("md_snapshot_requests_total", "counter", "Snapshot requests", |m| m.snapshot_requests as i64),
        ("md_snapshot_failures_total", "counter", "Failed snapshot requests", |m| m.snapshot_failures as i64),
        ("md_packets_published_total", "counter", "Packets handed to the spine", |m| {
            m.packets_published as i64
        }),
        ("md_batches_published_total", "counter", "Batches handed to the spine (one per read burst)", |m| {
            m.batches_published as i64
        }),
        ("md_subscribe_refusals_total", "counter", "Symbols refused: not listed or not trading", |m| {
            m.subscribe_refusals as i64
        }),
        ("md_connections_open", "gauge", "Open venue connections", |m| m.connections_open),
        ("md_books_in_sync", "gauge", "Books in sync", |m| m.books_in_sync),
        ("md_symbols_subscribed", "gauge", "Symbols subscribed", |m| m.symbols_subscribed),
    ];
    for (name, kind, help, get) in driver_series {
        let values = driver.iter().map(|(id, m)| (format!("exchange=\"{id}\""), get(m)));
        series(&mut out, name, kind, help, values);
    }
    let sinks = registry.sinks();
    let stats: Vec<(String, SinkStats)> =
        sinks.iter().map(|(s, _)| (s.name.clone(), s.metrics.snapshot())).collect();
    let sink_series: [SinkSeries; 14] = [
        ("md_sink_packets_received_total", "counter", "Packets taken from the sink's queue", |s| {
            s.packets_received as i64
        }),
        ("md_sink_records_written_total", "counter", "Records the target acknowledged", |s| {
            s.records_written as i64
        }),
        ("md_sink_batches_retried_total", "counter", "Deliveries retried", |s| s.batches_retried as i64),
        ("md_sink_records_spooled_total", "counter", "Records spilled to the disk spool", |s| {
            s.records_spooled as i64
        }),
        ("md_sink_records_replayed_total", "counter", "Records found in the spool at start", |s| {
            s.records_replayed as i64
        }),
        ("md_sink_records_dead_lettered_total", "counter", "Records set aside in dead-letter files", |s| {
            s.records_dead_lettered as i64
        }),
        ("md_sink_records_lost_total", "counter", "Records accepted and lost", |s| s.records_lost as i64),
        ("md_sink_packets_rejected_total", "counter", "Packets the encoder refused", |s| {
            s.packets_rejected as i64
        }),
        ("md_sink_unknown_kinds_total", "counter", "Packets of a kind the sink does not know", |s| {
            s.unknown_kinds as i64
        }),
        ("md_sink_adjustments_total", "counter", "Records adjusted to stay distinct (1 ns bumps)", |s| {
            s.adjustments as i64
        }),
        ("md_sink_spool_corrupt_records_total", "counter", "Spool records skipped as damaged", |s| {
            s.spool_corrupt_records as i64
        }),
        ("md_sink_records_in_memory", "gauge", "Records held in memory", |s| s.records_in_memory as i64),
        ("md_sink_records_on_disk", "gauge", "Records waiting in the spool", |s| s.records_on_disk as i64),
        (
            "md_sink_failing_since_seconds",
            "gauge",
            "Unix time deliveries started failing, 0 when healthy",
            |s| s.failing_since_ns / 1_000_000_000,
        ),
    ];
    for (name, kind, help, get) in sink_series {
        series(&mut out, name, kind, help, stats.iter().map(|(n, s)| (format!("sink=\"{n}\""), get(s))));
    }
    let queues: Vec<(String, md_pipeline::QueueStats)> = sinks
        .iter()
        .map(|(s, _)| (format!("sink=\"{}\",policy=\"{}\"", s.name, s.overflow), s.queue.snapshot()))
        .collect();
    series(
        &mut out,
        "md_queue_depth",
        "gauge",
        "Packets waiting in the queue",
        queues.iter().map(|(l, q)| (l.clone(), q.depth as i64)),
    );
    series(
        &mut out,
        "md_queue_dropped_total",
        "counter",
        "Packets the queue's policy dropped",
        queues.iter().map(|(l, q)| (l.clone(), q.dropped as i64)),
    );
    series(
        &mut out,
        "md_queue_conflated_total",
        "counter",
        "Packets replaced by a newer one (conflate)",
        queues.iter().map(|(l, q)| (l.clone(), q.conflated as i64)),
    );
    series(
        &mut out,
        "md_sink_write_latency_max_milliseconds",
        "gauge",
        "Slowest delivery so far",
        stats.iter().map(|(n, s)| (format!("sink=\"{n}\""), s.write_latency_max.as_millis() as i64)),
    );
    render_captures(&mut out, registry);
    out
}

/// A capture counter: name, type, help, reader.
type CaptureSeries = (&'static str, &'static str, &'static str, fn(&md_capture::CaptureStats) -> i64);

fn render_captures(out: &mut String, registry: &Registry) {
    let captures: Vec<(ExchangeId, md_capture::CaptureStats)> =
        registry.captures().iter().map(|w| (w.exchange(), w.metrics().snapshot())).collect();
    if captures.is_empty() {
        return;
    }
    let capture_series: [CaptureSeries; 6] = [
        ("md_capture_records_received_total", "counter", "Raw events handed to the capture", |c| {
            c.records_received as i64
        }),
        ("md_capture_records_flushed_total", "counter", "Raw events written (safe from a SIGKILL)", |c| {
            c.records_flushed as i64
        }),
        ("md_capture_records_dropped_total", "counter", "Raw events the capture could not keep", |c| {
            c.records_dropped as i64
        }),
        ("md_capture_bytes_written_total", "counter", "Bytes appended to capture files", |c| {
            c.bytes_written as i64
        }),
        ("md_capture_write_errors_total", "counter", "Failed capture writes", |c| c.write_errors as i64),
        ("md_capture_failing", "gauge", "1 while capture writes fail", |c| {
            i64::from(c.failing_since_ns.is_some())
        }),
    ];
    for (name, kind, help, get) in capture_series {
        let values = captures.iter().map(|(id, c)| (format!("exchange=\"{id}\""), get(c)));
        series(out, name, kind, help, values);
    }
}

fn series(out: &mut String, name: &str, kind: &str, help: &str, values: impl Iterator<Item = (String, i64)>) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    for (labels, value) in values {
        let _ = writeln!(out, "{name}{{{labels}}} {value}");
    }
}

/// Healthy when every venue with symbols has a connection open and every sink delivers.
pub fn health(registry: &Registry) -> Result<(), String> {
    let venues = registry.venues();
    if venues.is_empty() {
        return Err("starting".into());
    }
    let mut problems: Vec<String> = venues
        .iter()
        .filter(|v| {
            let m = v.driver.snapshot();
            m.symbols_subscribed > 0 && m.connections_open == 0
        })
        .map(|v| format!("{}: no connection", v.exchange))
        .collect();
    for (sink, _) in registry.sinks() {
        match sink.metrics.health() {
            SinkHealth::Ok => {}
            SinkHealth::Failing { since_ns, error } => {
                problems.push(format!("{}: failing for {}: {error}", sink.name, ago(since_ns)))
            }
            SinkHealth::Lost { records } => problems.push(format!("{}: lost {records} records", sink.name)),
        }
    }
    for capture in registry.captures() {
        match capture.health() {
            CaptureHealth::Healthy => {}
            CaptureHealth::Failing { since_ns, error } => problems.push(format!(
                "capture {}: failing for {}: {error}",
                capture.exchange(),
                ago(since_ns)
            )),
            CaptureHealth::Lossy { dropped, .. } => {
                problems.push(format!("capture {}: dropped {dropped} raw events", capture.exchange()))
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}

/// How long ago a time (ns since the epoch) was, in seconds.
fn ago(since_ns: i64) -> String {
    format!("{:.0} s", (md_core::now_ns() - since_ns).max(0) as f64 / 1e9)
}

/// Serves `/metrics` and `/healthz` until cancelled.
pub async fn serve(listener: TcpListener, registry: Arc<Registry>, cancel: CancellationToken) {
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

/// Logs one status line per venue and one per sink every `every`, until cancelled.
pub async fn status_lines(registry: Arc<Registry>, every: Duration, cancel: CancellationToken) {
    let mut previous: Vec<(ExchangeId, u64)> = Vec::new();
    let mut sent_before = 0;
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = ticker.tick() => {}
        }
        for venue in registry.venues() {
            let d = venue.driver.snapshot();
            let messages = d.trades + d.book_deltas + d.book_snapshots;
            let before = previous.iter().find(|(id, _)| *id == venue.exchange).map_or(0, |(_, n)| *n);
            previous.retain(|(id, _)| *id != venue.exchange);
            previous.push((venue.exchange, messages));
            let books = if venue.books { d.symbols_subscribed } else { 0 };
            tracing::info!(
                "{}: connections {}, {:.0} msg/s, symbols {}, books in sync {}/{}, gaps {}, resyncs {}, parse errors {}",
                venue.exchange,
                d.connections_open,
                (messages - before.min(messages)) as f64 / every.as_secs_f64(),
                d.symbols_subscribed,
                d.books_in_sync,
                books,
                d.gaps,
                d.resyncs,
                d.parse_errors,
            );
        }
        for (sink, capacity) in registry.sinks() {
            tracing::info!("{}", sink_line(&sink, capacity));
        }
        for capture in registry.captures() {
            tracing::info!("{}", capture_line(&capture));
        }
        if let Some(server) = registry.book_server() {
            let sent = server.summaries_sent.load(std::sync::atomic::Ordering::Relaxed);
            let rate = (sent - sent_before.min(sent)) as f64 / every.as_secs_f64();
            sent_before = sent;
            tracing::info!("{}", book_server_line(&server, rate));
        }
    }
}

/// The book server's status line: clients, symbols, subscriptions it holds, summaries sent.
fn book_server_line(server: &md_serve::ServeMetrics, sent_per_sec: f64) -> String {
    let load = |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
    format!(
        "book server: clients {}, symbols {}, venue subscriptions held {}, {:.0} summaries/s sent, {} skipped by slow clients, {} requests refused, {} over the limits",
        load(&server.streams_open),
        load(&server.topics),
        load(&server.subscriptions_held),
        sent_per_sec,
        load(&server.summaries_skipped),
        load(&server.requests_refused),
        load(&server.requests_over_limit) + load(&server.connections_refused),
    )
}

/// `influx: written 12034, 5000 records in memory, 0 on disk, queue 12/65536 (block); FAILING
/// for 25 s (since 2026-12-01T10:00:00Z): connection refused`.
fn sink_line(sink: &SinkInfo, capacity: usize) -> String {
    let s = sink.metrics.snapshot();
    let q = sink.queue.snapshot();
    let mut line = format!(
        "{}: written {}, {} records in memory, {} on disk, queue {}/{} ({})",
        sink.name,
        s.records_written,
        s.records_in_memory,
        s.records_on_disk,
        q.depth,
        capacity,
        sink.overflow
    );
    if q.dropped > 0 || q.conflated > 0 {
        let _ = write!(line, ", queue dropped {} conflated {}", q.dropped, q.conflated);
    }
    if s.records_dead_lettered > 0 {
        let _ = write!(line, ", dead letters {}", s.records_dead_lettered);
    }
    match sink.metrics.health() {
        SinkHealth::Ok => {}
        SinkHealth::Failing { since_ns, error } => {
            let _ = write!(
                line,
                "; FAILING for {} (since {}): {error}",
                ago(since_ns),
                md_core::time::utc_rfc3339(since_ns)
            );
        }
        SinkHealth::Lost { records } => {
            let _ = write!(line, "; LOST {records} records");
        }
    }
    line
}

/// `capture binance: flushed 120034 of 120040 raw events, 18.2 MiB; FAILING for 25 s (since …): …`.
fn capture_line(capture: &CaptureWriter) -> String {
    let c = capture.metrics().snapshot();
    let mut line = format!(
        "capture {}: flushed {} of {} raw events, {:.1} MiB",
        capture.exchange(),
        c.records_flushed,
        c.records_received,
        c.bytes_written as f64 / (1024.0 * 1024.0)
    );
    if c.records_dropped > 0 {
        let _ = write!(line, ", DROPPED {}", c.records_dropped);
    }
    if let CaptureHealth::Failing { since_ns, error } = capture.health() {
        let _ = write!(
            line,
            "; FAILING for {} (since {}): {error}",
            ago(since_ns),
            md_core::time::utc_rfc3339(since_ns)
        );
    }
    line
}

/// The book server's `/metrics` and `/healthz` show the process's venues and sinks too.
impl md_serve::ProcessHealth for Registry {
    fn metrics(&self) -> String {
        render(self)
    }

    fn health(&self) -> Result<(), String> {
        health(self)
    }
}
