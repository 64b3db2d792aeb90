//! A measurement, not a test (ignored by default): venue frame → summary at the client, with
//! 1, 100 and 1,000 gRPC clients (each on its own connection) on one symbol; summaries fanned
//! out per second; process CPU per client. Run it on a release build:
//!
//! `cargo test -p md-serve --release --test fanout_bench -- --ignored --nocapture`
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::Stack;
use md_bench::measure::{cpu_seconds, Histogram};
use md_proto::orderbook::Request;

const WINDOW: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: run with --release --ignored --nocapture"]
async fn frame_to_client_latency_and_fan_out() {
    let stack = Stack::start(Duration::from_secs(60), 50.0).await;
    println!("| clients | summaries/s produced | summaries/s delivered | p50 µs | p99 µs | CPU % | CPU µs per delivered summary |");
    println!("|---|---|---|---|---|---|---|");
    for clients in [1usize, 100, 1000] {
        let histogram = Arc::new(Mutex::new(Histogram::default()));
        let stop = tokio_util::sync::CancellationToken::new();
        let measuring = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut tasks = Vec::new();
        for _ in 0..clients {
            let mut client = stack.client().await;
            let request = Request { symbol: "BTC-USDT".into(), depth: 10, venues: vec![] };
            let mut stream = client.book_summary(request).await.unwrap().into_inner();
            let (histogram, stop, measuring) = (Arc::clone(&histogram), stop.clone(), Arc::clone(&measuring));
            tasks.push(tokio::spawn(async move {
                let _keep = client;
                let mut local = Histogram::default();
                let mut received = 0u64;
                loop {
                    tokio::select! {
                        _ = stop.cancelled() => break,
                        message = stream.message() => match message {
                            Ok(Some(summary)) => {
                                if summary.local_ts_ns > 0 && measuring.load(std::sync::atomic::Ordering::Relaxed) {
                                    local.record(md_core::now_ns() - summary.local_ts_ns);
                                }
                                received += 1;
                            }
                            _ => break,
                        },
                    }
                }
                histogram.lock().unwrap().merge(&local);
                received
            }));
        }
        // Every venue in sync before measuring.
        tokio::time::sleep(Duration::from_secs(3)).await;
        measuring.store(true, std::sync::atomic::Ordering::Relaxed);
        let metrics = Arc::clone(stack.server.hub().metrics());
        let (produced0, sent0) = (load(&metrics.summaries_produced), load(&metrics.summaries_sent));
        let (cpu0, t0) = (cpu_seconds(), Instant::now());
        tokio::time::sleep(WINDOW).await;
        let (cpu, secs) = (cpu_seconds() - cpu0, t0.elapsed().as_secs_f64());
        let (produced, sent) =
            (load(&metrics.summaries_produced) - produced0, load(&metrics.summaries_sent) - sent0);
        stop.cancel();
        for task in tasks {
            task.await.unwrap();
        }
        let h = histogram.lock().unwrap();
        println!(
            "| {clients} | {:.0} | {:.0} | {} | {} | {:.0} | {:.1} |",
            produced as f64 / secs,
            sent as f64 / secs,
            h.quantile_us(0.5),
            h.quantile_us(0.99),
            100.0 * cpu / secs,
            cpu * 1e6 / sent.max(1) as f64,
        );
    }
    stack.cancel.cancel();
}

fn load(counter: &std::sync::atomic::AtomicU64) -> u64 {
    counter.load(std::sync::atomic::Ordering::Relaxed)
}
