//! Time to recover from a killed connection, per venue: md-sim drops every socket, and the
//! clock runs until every book has been rebuilt from a fresh snapshot and reported `Resynced`.
//! Default driver settings (first retry after ~100 ms) except that a connection counts as
//! healthy after 1 s instead of 60 s, and kills are 1.5 s apart: each kill is then an
//! independent drop, not a flapping connection (which the backoff rightly slows down).
//! Prints the median of 20 kills.
//!
//! `cargo run --release -p md-driver --example recovery`
#![allow(clippy::unwrap_used, missing_docs)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use md_core::{ExchangeId, Payload, Status};
use md_driver::{Driver, DriverConfig, Selection};
use md_exchanges::{build, Endpoints};
use md_pipeline::{FanOut, Overflow, SubscriberConfig, Subscription};
use md_sim::{SimConfig, Simulator};
use tokio_util::sync::CancellationToken;

const KILLS: usize = 20;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    for venue in ExchangeId::BUILT_IN {
        let mut samples = measure(venue).await;
        samples.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        println!(
            "{venue:8} kills {KILLS}: median {:.1} ms, p90 {:.1} ms, min {:.1} ms, max {:.1} ms",
            ms(samples[KILLS / 2]),
            ms(samples[KILLS * 9 / 10]),
            ms(samples[0]),
            ms(samples[KILLS - 1])
        );
    }
}

async fn measure(venue: ExchangeId) -> Vec<Duration> {
    let config = SimConfig { venues: vec![venue], seed: 3, updates_per_sec: 50.0, ..SimConfig::default() };
    let sim = Simulator::start(config).await.unwrap();
    let endpoints = Endpoints { ws_url: Some(sim.ws_url(venue)), rest_url: Some(sim.rest_url(venue)) };
    let exchange: Arc<dyn md_core::Exchange> = Arc::from(build(venue, &endpoints).unwrap());
    let books = sim.symbols(venue).len();
    let mut config = DriverConfig::default();
    config.backoff.reset_after = Duration::from_secs(1);
    let driver = Driver::new(exchange, Selection::All, config);
    let mut fanout = FanOut::new();
    let mut rx = fanout.subscribe(SubscriberConfig::new("recovery", Overflow::Block, 4096));
    let cancel = CancellationToken::new();
    let run = tokio::spawn(driver.run(fanout.publisher(), cancel.clone()));

    // Wait for the first full sync: one snapshot per book.
    let synced = count(&mut rx, books, |p| matches!(p, Payload::BookSnapshot(_))).await;
    assert_eq!(synced, books);
    let mut samples = Vec::with_capacity(KILLS);
    for _ in 0..KILLS {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        while rx.try_recv().is_some() {}
        let killed = Instant::now();
        sim.faults(venue).drop_connections();
        count(&mut rx, books, |p| matches!(p, Payload::Status(Status::Resynced { .. }))).await;
        samples.push(killed.elapsed());
    }
    cancel.cancel();
    run.await.unwrap().unwrap();
    sim.shutdown().await;
    samples
}

/// Reads until `wanted` packets matched `which`.
async fn count(rx: &mut Subscription, wanted: usize, which: fn(&Payload) -> bool) -> usize {
    let mut seen = 0;
    while seen < wanted {
        let batch = tokio::time::timeout(Duration::from_secs(30), rx.recv()).await.unwrap().unwrap();
        seen += batch.iter().filter(|p| which(&p.data)).count();
    }
    seen
}
