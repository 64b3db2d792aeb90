//! A sink of your own, to copy when md should store or forward packets somewhere new.
//!
//! A sink is one type implementing `md_pipeline::Sink` (a name, its metrics, and `run`, which
//! reads batches until the stream ends) plus one line where it is chosen: here,
//! `topology.add_sink(...)` with the overflow policy its queue gets. This one writes every
//! trade as a CSV row, with exact decimal text and both clocks; storage-like sinks that batch,
//! retry and spool should build on `md_pipeline::sink::core` instead (as md-sink-influx does).
//!
//! ```sh
//! cargo run -p md-examples --example custom_sink -- trades.csv    # 5 s of md-sim's Binance
//! ```
#![allow(missing_docs)]

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use md_core::{ExchangeId, Payload};
use md_driver::{Driver, DriverConfig, Selection};
use md_exchanges::{build, Endpoints};
use md_pipeline::{Overflow, Sink, SinkError, SinkMetrics, SinkStats, Subscription, Topology};
use tokio_util::sync::CancellationToken;

/// Trades as CSV: `exchange,symbol,exchange_ts,local_ts,side,price,qty,trade_id`.
struct CsvTrades {
    out: std::io::BufWriter<std::fs::File>,
    metrics: Arc<SinkMetrics>,
}

#[async_trait]
impl Sink for CsvTrades {
    fn name(&self) -> &str {
        "csv-trades"
    }

    fn metrics(&self) -> Arc<SinkMetrics> {
        Arc::clone(&self.metrics)
    }

    async fn run(
        mut self: Box<Self>,
        mut input: Subscription,
        _cancel: CancellationToken,
    ) -> Result<SinkStats, SinkError> {
        let failed = |e: std::io::Error| SinkError::Failed(Box::new(e));
        writeln!(self.out, "exchange,symbol,exchange_ts,local_ts,side,price,qty,trade_id").map_err(failed)?;
        // The stream ends when every source has stopped: then flush and report.
        while let Some(batch) = input.recv().await {
            for packet in batch.iter() {
                SinkMetrics::add(&self.metrics.packets_received, 1);
                let Payload::Trade(trade) = &packet.data else {
                    SinkMetrics::add(&self.metrics.packets_skipped, 1);
                    continue;
                };
                writeln!(
                    self.out,
                    "{},{},{},{},{},{},{},{}",
                    packet.exchange,
                    packet.symbol,
                    packet.exchange_ts,
                    packet.local_ts,
                    trade.side.as_str(),
                    trade.price,
                    trade.qty,
                    trade.trade_id
                )
                .map_err(failed)?;
                SinkMetrics::add(&self.metrics.records_written, 1);
            }
        }
        self.out.flush().map_err(failed)?;
        Ok(self.metrics.snapshot())
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).unwrap_or_else(|| "trades.csv".into());
    // Offline: Binance's protocol served by md-sim on loopback.
    let sim = md_sim::Simulator::start(md_sim::SimConfig::default()).await?;
    let venue = ExchangeId::Binance;
    let endpoints = Endpoints { ws_url: Some(sim.ws_url(venue)), rest_url: Some(sim.rest_url(venue)) };
    let exchange = Arc::from(build(venue, &endpoints).ok_or("unknown venue")?);

    let mut topology = Topology::new();
    topology.add_source(Box::new(Driver::new(exchange, Selection::All, DriverConfig::default())));
    let sink =
        CsvTrades { out: std::io::BufWriter::new(std::fs::File::create(&path)?), metrics: Arc::default() };
    // The one line that chooses the sink: a file loses nothing, so its queue blocks when full.
    let info = topology.add_sink(Box::new(sink), Overflow::Block, 65_536);

    let cancel = CancellationToken::new();
    let stop = cancel.clone();
    tokio::spawn(async move {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(5)) => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        stop.cancel();
    });
    let report = topology.run(cancel).await;
    let written = info.metrics.snapshot().records_written;
    sim.shutdown().await;
    println!("{written} trades written to {path}; lost: {}", report.lost());
    if !report.is_clean() {
        return Err("the run lost data".into());
    }
    Ok(())
}
