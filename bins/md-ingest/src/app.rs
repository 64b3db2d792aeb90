//! md-ingest as composition of library stages: one driver per venue as sources, the sinks the
//! settings name, and the spine between them (md-pipeline's `Topology`).

use std::sync::Arc;
use std::time::Duration;

use md_capture::{CaptureConfig, CaptureHeader, CaptureWriter};
use md_core::{BookSet, Channel};
use md_driver::{Driver, DriverConfig, RecordedConfig, SampleConfig, Selection};
use md_exchanges::{build, Endpoints};
use md_pipeline::{RunReport, Topology};
use tokio_util::sync::CancellationToken;

use crate::metrics::{Registry, VenueMetrics};
use crate::settings::Settings;

/// How long sinks may take to drain after the signal: the whole shutdown must fit in 10 s.
const FLUSH_DEADLINE: Duration = Duration::from_millis(9_000);

/// Runs until `cancel` fires, then lets every sink drain; the report says what was stored and
/// whether anything was lost.
pub async fn run(mut settings: Settings, cancel: CancellationToken) -> Result<RunReport, String> {
    let simulator = if settings.simulate { Some(start_simulator(&mut settings).await?) } else { None };
    let registry: Arc<Registry> = Arc::default();
    if let Some(addr) = settings.metrics_addr {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| format!("cannot serve metrics on {addr}: {e}"))?;
        tracing::info!(%addr, "serving /metrics and /healthz");
        tokio::spawn(crate::metrics::serve(listener, Arc::clone(&registry), cancel.clone()));
    }
    if let Some(every) = settings.status_interval {
        tokio::spawn(crate::metrics::status_lines(Arc::clone(&registry), every, cancel.clone()));
    }

    let (mut topology, captures, handles) = compose(&settings, &registry)?;
    let server = match &settings.serve {
        Some(config) => {
            let on_demand = settings.symbols.is_none() || settings.sinks.is_empty();
            Some(start_server(config, on_demand, &mut topology, handles, &registry, &cancel).await?)
        }
        None => None,
    };
    let mut report = topology.run(cancel).await;
    if let Some(server) = server {
        server.stopped().await;
    }
    for capture in captures {
        // After the drivers stopped: every raw event they saw is in the writer's queue.
        match capture.finish() {
            Ok(stats) => tracing::info!(
                exchange = %capture.exchange(),
                flushed = stats.records_flushed,
                dropped = stats.records_dropped,
                "capture closed"
            ),
            Err(e) => tracing::error!(exchange = %capture.exchange(), error = %e, "capture failed"),
        }
        report.lost_elsewhere += capture.metrics().snapshot().records_dropped;
    }
    for sink in &report.sinks {
        match &sink.result {
            Ok(stats) => tracing::info!(
                sink = %sink.name,
                written = stats.records_written,
                spooled = stats.records_spooled,
                dead_lettered = stats.records_dead_lettered,
                lost = stats.records_lost,
                "storage flushed"
            ),
            Err(e) => tracing::error!(sink = %sink.name, error = %e, "storage failed"),
        }
    }
    if let Some(simulator) = simulator {
        simulator.shutdown().await;
    }
    Ok(report)
}

/// The spine md-ingest runs: a driver per venue (sharing one book set), then each sink with
/// the queue its settings give it.
fn compose(settings: &Settings, registry: &Registry) -> Result<Composed, String> {
    let mut captures = Vec::new();
    let mut handles = Vec::new();
    let mut topology = Topology::new().drain_deadline(FLUSH_DEADLINE);
    let books = Arc::new(BookSet::new());
    let selection = match &settings.symbols {
        // md-serve records nothing: its symbols come on demand, from its clients.
        None if settings.serve_on_demand() => Selection::None,
        None => Selection::All,
        Some(symbols) => Selection::Symbols(symbols.clone()),
    };
    let config = DriverConfig {
        channels: settings.channels.clone(),
        sample: settings.snapshot_interval.map(|interval| SampleConfig { interval, depth: settings.depth }),
        cross_check_interval: settings.cross_check_interval,
        liveness_timeout: settings.liveness_timeout,
        ..DriverConfig::default()
    };
    for &id in &settings.exchanges {
        let endpoints = settings.endpoints.get(&id).cloned().unwrap_or_default();
        let exchange = build(id, &endpoints).ok_or_else(|| format!("md-exchanges does not build {id}"))?;
        let mut driver = Driver::new(Arc::from(exchange), selection.clone(), config.clone())
            .with_books(Arc::clone(&books));
        if let Some(dir) = &settings.capture {
            let writer = start_capture(dir, id, &config, &endpoints, settings.capture_retention)?;
            driver = driver.with_tap(Arc::clone(&writer) as Arc<dyn md_core::RawTap>);
            registry.add_capture(Arc::clone(&writer));
            captures.push(writer);
        }
        registry.add_venue(VenueMetrics {
            exchange: id,
            driver: driver.metrics(),
            books: settings.channels.contains(&Channel::Book),
        });
        handles.push(driver.handle());
        topology.add_source(Box::new(driver));
    }
    for spec in &settings.sinks {
        let sink = crate::sinks::build(spec)?;
        if spec.overflow != md_pipeline::Overflow::Block {
            tracing::warn!(sink = %spec.name, overflow = %spec.overflow, "a storage sink that may drop packets");
        }
        registry.add_sink(topology.add_sink(sink, spec.overflow, spec.capacity), spec.capacity);
    }
    Ok((topology, captures, (handles, books)))
}

/// The spine, the capture writers, and the drivers' handles with their book set (for the
/// book server).
type Composed = (Topology, Vec<Arc<CaptureWriter>>, (Vec<md_driver::DriverHandle>, Arc<BookSet>));

/// How many books the book server's queue holds: it keeps the newest packet per book, so
/// this bounds the distinct books waiting, not a backlog.
const BOOK_SERVER_QUEUE: usize = 65_536;

/// Starts the merged-book server as one more consumer on the spine.
async fn start_server(
    config: &md_serve::ServeConfig,
    on_demand: bool,
    topology: &mut Topology,
    (handles, books): (Vec<md_driver::DriverHandle>, Arc<BookSet>),
    registry: &Arc<Registry>,
    cancel: &CancellationToken,
) -> Result<md_serve::BookServer, String> {
    let feed = topology.subscribe(md_pipeline::SubscriberConfig::new(
        "book-server",
        md_pipeline::Overflow::Conflate,
        BOOK_SERVER_QUEUE,
    ));
    let process = Arc::clone(registry) as Arc<dyn md_serve::ProcessHealth>;
    let mut config = config.clone();
    // Recording every symbol, or md-serve's clients choosing: on demand. Recording chosen
    // symbols: those only, so that the recording holds what was asked for and nothing patchy.
    config.hub.on_demand = on_demand;
    let server = md_serve::BookServer::start(config, handles, books, feed, Some(process), cancel.clone())
        .await
        .map_err(|e| e.to_string())?;
    registry.add_book_server(Arc::clone(server.hub().metrics()));
    Ok(server)
}

/// A venue's raw capture under `dir`, its header holding what a replay needs to rebuild the
/// same connections.
fn start_capture(
    dir: &std::path::Path,
    id: md_core::ExchangeId,
    config: &DriverConfig,
    endpoints: &Endpoints,
    retention: md_capture::Retention,
) -> Result<Arc<CaptureWriter>, String> {
    let recorded = RecordedConfig::of(config, endpoints.ws_url.clone(), endpoints.rest_url.clone());
    let json = serde_json::to_string(&recorded).map_err(|e| format!("capture header: {e}"))?;
    let header = CaptureHeader::new(id, env!("CARGO_PKG_VERSION"), json);
    let config = CaptureConfig { retention, ..CaptureConfig::new(dir) };
    CaptureWriter::start(config, header)
        .map_err(|e| format!("cannot capture {id} under {}: {e}", dir.display()))
}

async fn start_simulator(settings: &mut Settings) -> Result<md_sim::Simulator, String> {
    let mut config = md_sim::SimConfig { venues: settings.exchanges.clone(), ..md_sim::SimConfig::default() };
    if let Some(symbols) = &settings.symbols {
        let parsed: Vec<(String, String)> = symbols
            .iter()
            .filter_map(|s| md_core::Symbol::parse(s))
            .map(|s| (s.base().to_owned(), s.quote().to_owned()))
            .collect();
        // The simulated venues list their usual symbols as well as the ones asked for, as a
        // real venue does: the book server may be asked for a symbol that is not recorded.
        for pair in parsed {
            if !config.symbols.contains(&pair) {
                config.symbols.push(pair);
            }
        }
    }
    let simulator =
        md_sim::Simulator::start(config).await.map_err(|e| format!("cannot start the simulator: {e}"))?;
    for &id in &settings.exchanges {
        let endpoints =
            Endpoints { ws_url: Some(simulator.ws_url(id)), rest_url: Some(simulator.rest_url(id)) };
        tracing::info!(exchange = %id, ws = ?endpoints.ws_url, rest = ?endpoints.rest_url, "simulated");
        settings.endpoints.insert(id, endpoints);
    }
    Ok(simulator)
}
