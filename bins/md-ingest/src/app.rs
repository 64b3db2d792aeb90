//! Wires venues, drivers, recorders and storage together, as the original design's "How it
//! works": per venue, one task listens (the driver) and one background task holds its
//! buffers (the storage), joined by a bounded channel.

use std::sync::Arc;
use std::time::Duration;

use md_core::{Exchange, ExchangeId, SymbolInfo, Symbols};
use md_driver::{Driver, DriverConfig};
use md_exchanges::{build, Endpoints};
use md_sink_influx::{Buffer, LineFiles, LineFilesConfig, SinkMetrics};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::metrics::{Registry, VenueMetrics};
use crate::recorder::record;
use crate::settings::{Settings, Storage};

/// Packets in flight between a driver and its storage. When storage falls behind, the driver
/// waits (backpressure) rather than drop anything.
const CHANNEL: usize = 8192;

/// How long storage may take to flush after the signal: the whole shutdown must fit in 10 s.
const FLUSH_DEADLINE: Duration = Duration::from_millis(9_000);

/// Runs until `cancel` fires, then flushes every venue's storage.
pub async fn run(mut settings: Settings, cancel: CancellationToken) -> Result<(), String> {
    let simulator = if settings.simulate { Some(start_simulator(&mut settings).await?) } else { None };
    let registry: Registry = Arc::default();
    if let Some(addr) = settings.metrics_addr {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| format!("cannot serve metrics on {addr}: {e}"))?;
        tracing::info!(%addr, "serving /metrics and /healthz");
        tokio::spawn(crate::metrics::serve(listener, Arc::clone(&registry), cancel.clone()));
    }
    tokio::spawn(crate::metrics::status_lines(
        Arc::clone(&registry),
        Duration::from_secs(10),
        cancel.clone(),
    ));

    let settings = Arc::new(settings);
    let mut venues = tokio::task::JoinSet::new();
    for &id in &settings.exchanges {
        let endpoints = settings.endpoints.get(&id).cloned().unwrap_or_default();
        let Some(exchange) = build(id, &endpoints) else { continue };
        let (settings, registry, cancel) = (Arc::clone(&settings), Arc::clone(&registry), cancel.clone());
        venues.spawn(async move {
            if let Err(e) = run_venue(Arc::from(exchange), &settings, &registry, cancel).await {
                tracing::error!(exchange = %id, error = %e, "venue stopped");
            }
        });
    }
    while venues.join_next().await.is_some() {}
    if let Some(simulator) = simulator {
        simulator.shutdown().await;
    }
    Ok(())
}

async fn start_simulator(settings: &mut Settings) -> Result<md_sim::Simulator, String> {
    let mut config = md_sim::SimConfig { venues: settings.exchanges.clone(), ..md_sim::SimConfig::default() };
    if let Some(symbols) = &settings.symbols {
        let parsed: Vec<(String, String)> = symbols
            .iter()
            .filter_map(|s| md_core::Symbol::parse(s))
            .map(|s| (s.base().to_owned(), s.quote().to_owned()))
            .collect();
        if !parsed.is_empty() {
            config.symbols = parsed;
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

async fn run_venue(
    exchange: Arc<dyn Exchange>,
    settings: &Settings,
    registry: &Registry,
    cancel: CancellationToken,
) -> Result<(), String> {
    let id = exchange.id();
    let Some(listing) = list_symbols(exchange.as_ref(), &cancel).await else { return Ok(()) };
    let subscriptions = choose(id, &listing, settings.symbols.as_deref());
    if subscriptions.is_empty() {
        tracing::warn!(exchange = %id, "no symbols to record");
        return Ok(());
    }
    tracing::info!(exchange = %id, symbols = subscriptions.len(), "recording");
    let books = if settings.channels.contains(&md_core::Channel::Book) { subscriptions.len() } else { 0 };
    let config = DriverConfig { channels: settings.channels.clone(), ..DriverConfig::default() };
    let driver = Driver::new(Arc::clone(&exchange), Arc::new(listing), subscriptions, config);

    // Storage gets its own token: it must drain everything the driver passed on, and is
    // cancelled (spooling what is left) only if it misses the shutdown deadline.
    let storage_cancel = CancellationToken::new();
    let (storage_tx, storage_rx) = mpsc::channel(CHANNEL);
    let (sink_metrics, storage) = spawn_storage(id, settings, storage_rx, storage_cancel.clone())?;
    if let Ok(mut venues) = registry.lock() {
        venues.push(VenueMetrics { exchange: id, driver: driver.metrics(), sink: sink_metrics, books });
    }
    let (driver_tx, driver_rx) = mpsc::channel(CHANNEL);
    let recorder = tokio::spawn(record(
        id,
        driver_rx,
        storage_tx,
        exchange.seq_rule(),
        settings.depth,
        settings.snapshot_interval,
    ));
    driver.run(driver_tx, cancel.clone()).await.map_err(|e| e.to_string())?;
    // The driver returned (cancelled): the recorder drains, stores last snapshots and closes
    // the storage's input; the storage flushes.
    let deadline = tokio::time::Instant::now() + FLUSH_DEADLINE;
    let _ = tokio::time::timeout_at(deadline, recorder).await;
    let mut storage = storage;
    match tokio::time::timeout_at(deadline, &mut storage).await {
        Ok(result) => report(id, result),
        Err(_) => {
            tracing::warn!(exchange = %id, "storage missed the shutdown deadline; spooling the rest");
            storage_cancel.cancel();
            if let Ok(result) = tokio::time::timeout(Duration::from_millis(800), storage).await {
                report(id, result);
            }
        }
    }
    Ok(())
}

type StorageTask = tokio::task::JoinHandle<Result<md_sink_influx::SinkStats, md_sink_influx::SinkError>>;

fn spawn_storage(
    id: ExchangeId,
    settings: &Settings,
    rx: mpsc::Receiver<md_core::DataPacket>,
    cancel: CancellationToken,
) -> Result<(Arc<SinkMetrics>, StorageTask), String> {
    match &settings.storage {
        Storage::Files => {
            let mut config = LineFilesConfig::new(settings.data_dir.join("lines").join(id.as_str()));
            config.schema.snapshot_levels = settings.depth;
            let sink = LineFiles::new(config).map_err(|e| e.to_string())?;
            Ok((sink.metrics(), tokio::spawn(sink.run(rx, cancel))))
        }
        Storage::Influx(config) => {
            let mut config = (**config).clone();
            // Each venue's Buffer owns its own spool and dead-letter folders.
            let venue_dir = settings.data_dir.join("influx").join(id.as_str());
            config.spool_dir = venue_dir.join("spool");
            config.dead_letter_dir = venue_dir.join("dead-letter");
            let buffer = Buffer::new(config).map_err(|e| e.to_string())?;
            Ok((buffer.metrics(), tokio::spawn(buffer.run(rx, cancel))))
        }
    }
}

fn report(
    id: ExchangeId,
    result: Result<Result<md_sink_influx::SinkStats, md_sink_influx::SinkError>, tokio::task::JoinError>,
) {
    match result {
        Ok(Ok(stats)) => tracing::info!(
            exchange = %id,
            written = stats.lines_written,
            spooled = stats.lines_spooled,
            dead_lettered = stats.lines_dead_lettered,
            "storage flushed"
        ),
        Ok(Err(e)) => tracing::error!(exchange = %id, error = %e, "storage failed"),
        Err(e) => tracing::error!(exchange = %id, error = %e, "storage task failed"),
    }
}

/// The venue's listing, retried with backoff until it arrives or the run is cancelled: a venue
/// that is down at start-up must not keep the others from recording.
async fn list_symbols(exchange: &dyn Exchange, cancel: &CancellationToken) -> Option<Symbols> {
    let mut delay = Duration::from_secs(1);
    loop {
        match exchange.symbol_handler().get_symbols().await {
            Ok(symbols) => return Some(symbols),
            Err(e) => {
                tracing::warn!(exchange = %exchange.id(), error = %e, ?delay, "cannot list symbols; retrying");
                let wait = e.retry_after().unwrap_or(delay);
                tokio::select! {
                    _ = cancel.cancelled() => return None,
                    _ = tokio::time::sleep(wait) => {}
                }
                delay = (delay * 2).min(Duration::from_secs(60));
            }
        }
    }
}

/// The symbols to record: every trading one, or those asked for that the venue lists and
/// trades (the rest are warned about and skipped, never subscribed blindly).
fn choose(id: ExchangeId, listing: &Symbols, wanted: Option<&[String]>) -> Vec<SymbolInfo> {
    let Some(wanted) = wanted else {
        let mut all: Vec<SymbolInfo> = listing.trading().cloned().collect();
        all.sort_by(|a, b| a.symbol.cmp(&b.symbol));
        return all;
    };
    let mut chosen: Vec<SymbolInfo> = Vec::new();
    for text in wanted {
        match listing.resolve(text) {
            Some(info) if !info.trading => {
                tracing::warn!(exchange = %id, symbol = %text, "listed but not trading; skipped")
            }
            Some(info) if chosen.iter().any(|c| c.native == info.native) => {}
            Some(info) => chosen.push(info.clone()),
            None => tracing::warn!(exchange = %id, symbol = %text, "the venue does not list it; skipped"),
        }
    }
    chosen
}
