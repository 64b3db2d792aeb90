//! Record and replay: md-ingest records three md-sim venues with faults (a sequence gap, a
//! killed connection, a malformed frame) into line files while capturing every raw frame; then
//! md-replay replays the capture into a second folder. The two sets of lines must be identical,
//! byte for byte — trades, verified book incrementals, sampled top-N snapshots and statuses —
//! so that replaying into a database holding the live run overwrites each point with itself.
#![allow(clippy::unwrap_used)]

use std::process::Stdio;
use std::time::Duration;

use md_core::{ExchangeId, Symbol};
use md_e2e::{md_ingest, md_replay, stored_lines, terminate};
use md_sim::{SimConfig, Simulator};

const VENUES: [ExchangeId; 3] = [ExchangeId::Binance, ExchangeId::Bybit, ExchangeId::Huobi];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_capture_stores_exactly_the_lines_of_the_live_run() {
    let root = tempfile::tempdir().unwrap();
    let (capture, live, replayed) =
        (root.path().join("capture"), root.path().join("live"), root.path().join("replayed"));
    let config = SimConfig {
        venues: VENUES.to_vec(),
        symbols: vec![("BTC".into(), "USDT".into()), ("ETH".into(), "USDT".into())],
        seed: 11,
        updates_per_sec: 40.0,
        trades_per_sec: 10.0,
        ..SimConfig::default()
    };
    let sim = Simulator::start(config).await.unwrap();
    let record = |interval: &str, data: &std::path::Path, log: &std::path::Path| {
        let mut command = md_ingest();
        command
            .args(["--exchanges", "binance,bybit,huobi", "--snapshot-interval", interval])
            .args(["--status-interval", "0"])
            .arg("--capture")
            .arg(&capture)
            .arg("--data-dir")
            .arg(data);
        for venue in VENUES {
            command.args(["--ws-url", &format!("{venue}={}", sim.ws_url(venue))]);
            command.args(["--rest-url", &format!("{venue}={}", sim.rest_url(venue))]);
        }
        command
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).unwrap())
            .spawn()
            .unwrap()
    };
    let stop = |child: std::process::Child, log: std::path::PathBuf| async move {
        terminate(child.id());
        let mut child = child;
        let exit = tokio::task::spawn_blocking(move || child.wait()).await.unwrap().unwrap();
        let text = std::fs::read_to_string(&log).unwrap();
        assert_eq!(exit.code(), Some(0), "md-ingest: {text}");
        text
    };
    let log = root.path().join("md-ingest.log");
    let child = record("250ms", &live, &log);

    // Faults while recording: each must show in what is stored, live and replayed alike.
    tokio::time::sleep(Duration::from_secs(3)).await;
    sim.faults(ExchangeId::Binance).skip_sequence(&Symbol::parse("BTC-USDT").unwrap());
    sim.faults(ExchangeId::Huobi).send_malformed();
    tokio::time::sleep(Duration::from_secs(1)).await;
    sim.faults(ExchangeId::Bybit).drop_connections();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let text = stop(child, log).await;
    // md-ingest restarted into the same capture with another sampling interval: the replay
    // must start that process's books afresh with its own settings, as the live run did.
    let (live2, log2) = (root.path().join("live2"), root.path().join("md-ingest-2.log"));
    let child = record("100ms", &live2, &log2);
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop(child, log2).await;
    sim.shutdown().await;

    let replay_log = root.path().join("md-replay.log");
    let status = md_replay()
        .arg("--capture")
        .arg(&capture)
        .arg("--data-dir")
        .arg(&replayed)
        .args(["--status-interval", "0"])
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&replay_log).unwrap())
        .status()
        .unwrap();
    let replay_text = std::fs::read_to_string(&replay_log).unwrap();
    assert_eq!(status.code(), Some(0), "md-replay: {replay_text}");

    let mut live = [stored_lines(&live.join("lines")), stored_lines(&live2.join("lines"))].concat();
    live.sort();
    let replayed = stored_lines(&replayed.join("lines"));
    assert!(live.len() > 500, "the live run stored only {} lines: {text}", live.len());
    for (what, needle) in [
        ("a trade", "trade,"),
        ("a sampled snapshot", "book_snapshot,"),
        ("a gap", "gap"),
        ("a disconnect", "disconnected"),
        ("a resync", "resynced"),
    ] {
        assert!(live.iter().any(|l| l.contains(needle)), "no {what} ({needle:?}) in the live lines");
    }
    assert!(text.contains("did not parse"), "the malformed frame was not seen: {text}");
    let only_live: Vec<&String> =
        live.iter().filter(|l| replayed.binary_search(l).is_err()).take(5).collect();
    let only_replayed: Vec<&String> =
        replayed.iter().filter(|l| live.binary_search(l).is_err()).take(5).collect();
    assert!(
        live == replayed,
        "{} lines live, {} replayed; only live: {only_live:#?}; only replayed: {only_replayed:#?}",
        live.len(),
        replayed.len()
    );
}

/// The fixtures folder (`MD_FIXTURES`, set by `.ci/run`).
fn fixtures() -> std::path::PathBuf {
    std::env::var_os("MD_FIXTURES").map_or_else(
        || std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures"),
        std::path::PathBuf::from,
    )
}

/// Another tool's history through md's own parser and verified books: cryptofeed's real
/// Binance capture (byte-exact prefix of its sample data) stored as line files by md-replay.
#[test]
fn a_cryptofeed_capture_replays_into_verified_books() {
    let root = tempfile::tempdir().unwrap();
    let dir = fixtures().join("cryptofeed_raw");
    let files = format!(
        "{},{}",
        dir.join("BINANCE.ws.prefix.txt").display(),
        dir.join("BINANCE.http.prefix.txt").display()
    );
    let output = md_replay()
        .args(["--cryptofeed", &files, "--status-interval", "0"])
        .arg("--data-dir")
        .arg(root.path())
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{log}");
    let lines = stored_lines(&root.path().join("lines"));
    let count = |kind: &str| lines.iter().filter(|l| l.starts_with(kind)).count();
    // The capture's 4 books: 172 diffs chain onto their REST snapshots (149 + 9 + 13 + 1, as
    // SOURCES.md counts them), and its 2 aggTrades.
    assert_eq!((count("book_delta,"), count("trade,")), (172, 2), "{log}");
    assert!(!lines.iter().any(|l| l.contains("gap")), "a gap in cryptofeed's capture: {log}");
}
