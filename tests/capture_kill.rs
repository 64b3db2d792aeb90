//! A SIGKILL mid-capture: what is on disk reads back with no error beyond the torn tail, holds
//! at least every raw event the recorder had confirmed written (its flushed counter, read from
//! `/metrics` just before the kill), and is an exact prefix of what was received: in order per
//! connection, and replayed through the same parser and books it chains without a single gap
//! (a frame missing or out of order in the middle would break Binance's `U`/`u` chain).
#![allow(clippy::unwrap_used)]

use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use md_capture::{CaptureError, CaptureItem, ReadOptions};
use md_core::{BookSet, ExchangeId, RawKind};
use md_driver::{RecordedConfig, Replay};
use md_e2e::{free_port, get, md_ingest};
use md_exchanges::{build, Endpoints};
use md_sim::{SimConfig, Simulator};

/// `md_capture_records_flushed_total{exchange="binance"}` from a `/metrics` body.
fn flushed(body: &str) -> Option<u64> {
    body.lines()
        .find(|l| l.starts_with("md_capture_records_flushed_total{exchange=\"binance\"}"))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_recorder_leaves_a_readable_prefix_holding_every_confirmed_flush() {
    let root = tempfile::tempdir().unwrap();
    let capture = root.path().join("capture");
    let venue = ExchangeId::Binance;
    let config = SimConfig {
        venues: vec![venue],
        symbols: ["BTC", "ETH", "SOL", "XRP"].iter().map(|b| ((*b).into(), "USDT".into())).collect(),
        seed: 3,
        updates_per_sec: 60.0,
        trades_per_sec: 20.0,
        ..SimConfig::default()
    };
    let sim = Simulator::start(config).await.unwrap();
    let metrics = format!("127.0.0.1:{}", free_port());
    let mut child = md_ingest()
        .args(["--exchanges", "binance", "--status-interval", "0", "--metrics-addr", &metrics])
        .args(["--ws-url", &format!("binance={}", sim.ws_url(venue))])
        .args(["--rest-url", &format!("binance={}", sim.rest_url(venue))])
        .arg("--capture")
        .arg(&capture)
        .arg("--data-dir")
        .arg(root.path().join("data"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();

    // Wait for a few flushes, then kill right after reading the confirmed count.
    let url = format!("http://{metrics}/metrics");
    let deadline = Instant::now() + Duration::from_secs(60);
    let confirmed = loop {
        assert!(Instant::now() < deadline, "the capture never flushed 1000 events");
        if let Some(n) = flushed(&get(&url).await.1).filter(|&n| n >= 1000) {
            break n;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    child.kill().unwrap();
    child.wait().unwrap();
    sim.shutdown().await;

    let mut events = Vec::new();
    let mut header = None;
    for item in md_capture::read(&capture, ReadOptions::default()).unwrap() {
        match item {
            Ok(CaptureItem::Header { header: h, .. }) => header = header.or(Some(h)),
            Ok(CaptureItem::Event(event)) => events.push(event),
            Err(CaptureError::TornTail { .. }) => {}
            Err(e) => panic!("more than a torn tail: {e}"),
        }
    }
    assert!(
        events.len() as u64 >= confirmed,
        "{} events on disk, fewer than the {confirmed} the recorder confirmed",
        events.len()
    );
    // In order per connection, on both clocks.
    let mut last: std::collections::HashMap<u64, (i64, u64)> = std::collections::HashMap::new();
    for e in &events {
        let previous = last.insert(e.slot, (e.local_ts, e.mono_ns)).unwrap_or((0, 0));
        assert!(e.local_ts >= previous.0 && e.mono_ns >= previous.1, "slot {} out of order", e.slot);
    }
    // Replayed through the same parser and books: every frame chains.
    let header = header.unwrap();
    let recorded: RecordedConfig = serde_json::from_str(&header.config).unwrap();
    let endpoints = Endpoints { ws_url: recorded.ws_url.clone(), rest_url: recorded.rest_url.clone() };
    let exchange = Arc::from(build(venue, &endpoints).unwrap());
    let mut replay = Replay::new(exchange, recorded.driver_config(), Arc::new(BookSet::new()));
    let mut packets = Vec::new();
    for event in &events {
        replay.apply(event, &mut packets);
    }
    let m = replay.metrics().snapshot();
    let frames = events.iter().filter(|e| matches!(e.kind, RawKind::Received(_))).count();
    assert!(frames > 500, "{frames} frames");
    assert_eq!((m.gaps, m.parse_errors), (0, 0), "the capture is not a clean prefix: {m:?}");
    assert!(m.book_deltas > 300 && m.trades > 50, "{m:?}");
}
