//! The line-protocol file sink: every packet lands in a file `influx -import` can read,
//! rotation loses nothing, cancellation flushes what was queued, and a full disk holds data
//! (then the publisher) instead of losing it.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use common::{feed, input};
use md_core::{BookSnapshot, DataPacket, Decimal, ExchangeId, Level, Payload, Side, Symbol, Trade, TradeId};
use md_sink_influx::{line_files, LineFiles, LineFilesConfig, SinkHealth, SinkMetrics, WriteFault};
use tokio_util::sync::CancellationToken;

fn trade(i: u64) -> DataPacket {
    DataPacket {
        exchange: ExchangeId::Binance,
        symbol: Symbol::new("BTC", "USDT"),
        exchange_ts: 1_700_000_000_000_000_000 + (i / 10) as i64 * 1_000_000,
        local_ts: 1,
        data: Payload::Trade(Trade {
            price: Decimal::new(1_685_004 + i as i64, 2),
            qty: Decimal::new(15, 4),
            side: Side::Buy,
            trade_id: TradeId::Number(i),
        }),
    }
}

fn trades(range: std::ops::Range<u64>) -> Vec<DataPacket> {
    range.map(trade).collect()
}

fn snapshot() -> DataPacket {
    let level = |p: i64| Level::new(Decimal::new(p, 1), Decimal::ONE);
    DataPacket {
        exchange: ExchangeId::Bybit,
        symbol: Symbol::new("ETH", "USDT"),
        exchange_ts: 1_700_000_000_000_000_000,
        local_ts: 1,
        data: Payload::BookSnapshot(BookSnapshot { bids: vec![level(100)], asks: vec![level(101)], seq: 9 }),
    }
}

/// Reads every file back: each must start with the import header and parse whole (no torn
/// line). Returns how often each trade id was stored, and the snapshot count.
fn stored(dir: &Path) -> (HashMap<u64, u32>, usize) {
    let mut ids = HashMap::new();
    let mut snapshots = 0;
    for file in line_files(dir).unwrap() {
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(text.ends_with('\n'), "{} ends inside a line", file.display());
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some("# DML"), "{}", file.display());
        let context = lines.next().unwrap();
        let points = common::lp::parse(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        for p in points {
            if p.measurement == "trade" {
                assert_eq!(context, "# CONTEXT-DATABASE: md_incremental");
                let Some(common::lp::Value::Str(id)) = p.field("trade_id") else { panic!("{p:?}") };
                *ids.entry(id.parse().unwrap()).or_default() += 1;
            } else {
                assert_eq!(p.measurement, "book_snapshot");
                assert_eq!(context, "# CONTEXT-DATABASE: md_snapshot");
                snapshots += 1;
            }
        }
    }
    (ids, snapshots)
}

fn assert_each_once(ids: &HashMap<u64, u32>, n: u64) {
    assert_eq!(ids.len() as u64, n, "every trade stored");
    assert!(ids.values().all(|&c| c == 1), "and exactly once");
    assert!((0..n).all(|i| ids.contains_key(&i)));
}

async fn until(what: &str, mut cond: impl FnMut() -> bool) {
    let started = Instant::now();
    while !cond() {
        assert!(started.elapsed() < Duration::from_secs(15), "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn failing_with(metrics: &SinkMetrics, words: &str) -> bool {
    matches!(metrics.health(), SinkHealth::Failing { error, .. } if error.contains(words))
}

#[tokio::test]
async fn rotated_files_hold_every_line_with_import_headers() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = LineFilesConfig::new(dir.path());
    config.rotate_bytes = 4096;
    let sink = LineFiles::new(config).unwrap();
    let (publisher, sub) = input(64);
    let cancel = CancellationToken::new();
    let run = tokio::spawn(sink.run(sub, cancel.clone()));
    let mut packets = trades(0..1000);
    packets.push(snapshot());
    feed(&publisher, packets).await;
    drop(publisher);
    let stats = run.await.unwrap().unwrap();
    assert_eq!(stats.records_written, 1001);

    let files = line_files(dir.path()).unwrap();
    assert!(files.len() > 2, "4 KiB files must have rotated: {files:?}");
    let (ids, snapshots) = stored(dir.path());
    assert_each_once(&ids, 1000);
    assert_eq!(snapshots, 1);
}

#[tokio::test]
async fn cancel_writes_what_was_already_queued() {
    let dir = tempfile::tempdir().unwrap();
    let sink = LineFiles::new(LineFilesConfig::new(dir.path())).unwrap();
    let (publisher, sub) = input(256);
    feed(&publisher, trades(0..200)).await;
    let cancel = CancellationToken::new();
    cancel.cancel();
    let stats = sink.run(sub, cancel).await.unwrap();
    assert_eq!(stats.records_written, 200);
    let text = std::fs::read_to_string(&line_files(dir.path()).unwrap()[0]).unwrap();
    assert_eq!(text.lines().filter(|l| l.starts_with("trade,")).count(), 200);
    drop(publisher);
}

/// Disk full: writes fail (a part of each is written, then ENOSPC), the sink says it is
/// failing and why, holds the records, and once space returns every record lands exactly
/// once, with no torn line in any file.
#[tokio::test]
async fn a_full_disk_loses_nothing_and_writing_resumes_when_space_returns() {
    let dir = tempfile::tempdir().unwrap();
    let fault = WriteFault::new();
    let mut config = LineFilesConfig::new(dir.path());
    config.rotate_bytes = 4096;
    config.linger = Duration::from_millis(50);
    config.fault = Some(fault.clone());
    let sink = LineFiles::new(config).unwrap();
    let metrics = sink.metrics();
    let (publisher, sub) = input(1024);
    let run = tokio::spawn(sink.run(sub, CancellationToken::new()));
    feed(&publisher, trades(0..300)).await;
    until("the first 300 written", || metrics.records_written.load(Relaxed) == 300).await;

    fault.fail_with_enospc(true);
    feed(&publisher, trades(300..1000)).await;
    until("failing", || failing_with(&metrics, "No space left on device")).await;
    until("everything received", || metrics.packets_received.load(Relaxed) == 1000).await;
    tokio::time::sleep(Duration::from_millis(300)).await; // a few retries, with rotations
    let during = metrics.snapshot();
    assert!(during.records_in_memory > 0, "{during:?}");
    assert_eq!(during.records_written + during.records_in_memory, 1000, "{during:?}");
    assert_eq!(during.records_lost, 0);
    assert!(during.batches_retried > 0 && fault.injected() > 1, "{during:?}");
    let SinkHealth::Failing { since_ns, .. } = metrics.health() else { panic!("not failing") };
    assert!(since_ns > 0);

    fault.fail_with_enospc(false);
    until("written after space returned", || metrics.records_written.load(Relaxed) == 1000).await;
    assert_eq!(metrics.health(), SinkHealth::Ok);
    drop(publisher);
    let stats = run.await.unwrap().unwrap();
    assert_eq!((stats.records_written, stats.records_in_memory, stats.records_lost), (1000, 0, 0));
    let (ids, _) = stored(dir.path());
    assert_each_once(&ids, 1000);
}

/// Disk full long enough to fill the memory bound: the sink stops reading, so a `Block` queue
/// holds the publisher; nothing is dropped, and everything lands once space returns.
#[tokio::test]
async fn a_full_memory_bound_holds_the_publisher_instead_of_dropping() {
    const N: u64 = 5000;
    let dir = tempfile::tempdir().unwrap();
    let fault = WriteFault::new();
    fault.fail_with_enospc(true);
    let mut config = LineFilesConfig::new(dir.path());
    config.memory_limit_bytes = 8 << 10;
    config.fault = Some(fault.clone());
    let sink = LineFiles::new(config).unwrap();
    let metrics = sink.metrics();
    let (publisher, sub) = input(64);
    let queue = sub.metrics();
    let run = tokio::spawn(sink.run(sub, CancellationToken::new()));
    let producer = tokio::spawn(async move { feed(&publisher, trades(0..N)).await });

    until("backpressure", || metrics.overflow_backpressure.load(Relaxed) > 0).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!producer.is_finished(), "the publisher is held");
    let q = queue.snapshot();
    assert!(q.blocked > 0 && q.dropped == 0, "{q:?}");
    let held = metrics.snapshot();
    assert!(held.records_in_memory > 0 && held.records_in_memory < 300, "bounded: {held:?}");
    assert!(failing_with(&metrics, "No space left on device"));

    fault.fail_with_enospc(false);
    tokio::time::timeout(Duration::from_secs(30), producer).await.unwrap().unwrap();
    let stats = tokio::time::timeout(Duration::from_secs(30), run).await.unwrap().unwrap().unwrap();
    assert_eq!((stats.records_written, stats.records_lost, queue.snapshot().dropped), (N, 0, 0));
    let (ids, _) = stored(dir.path());
    assert_each_once(&ids, N);
}

/// Unmounts a tmpfs when dropped.
struct Tmpfs(std::path::PathBuf);

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

/// The real thing on a 256 KiB tmpfs (needs root: `cargo test -p md-sink-influx --test files
/// -- --ignored`): the disk fills, the sink waits, space is freed, nothing is lost.
#[tokio::test]
#[ignore = "mounts a tmpfs: needs root"]
async fn a_real_full_tmpfs_loses_nothing() {
    const N: u64 = 1000; // about 115 KiB of lines
    let mount_point = tempfile::tempdir().unwrap();
    let status = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=256k", "tmpfs"])
        .arg(mount_point.path())
        .status()
        .unwrap();
    assert!(status.success(), "mount failed (root needed)");
    let _mounted = Tmpfs(mount_point.path().to_owned());
    let dir = mount_point.path().join("lines");
    // Leave less room than the lines need.
    let filler = mount_point.path().join("filler");
    std::fs::write(&filler, vec![0u8; 200 << 10]).unwrap();

    let mut config = LineFilesConfig::new(&dir);
    config.linger = Duration::from_millis(50);
    let sink = LineFiles::new(config).unwrap();
    let metrics = sink.metrics();
    let (publisher, sub) = input(1024);
    let run = tokio::spawn(sink.run(sub, CancellationToken::new()));
    feed(&publisher, trades(0..N)).await;
    until("the disk is full", || failing_with(&metrics, "No space left on device")).await;
    assert!(metrics.snapshot().records_in_memory > 0);

    std::fs::remove_file(&filler).unwrap();
    drop(publisher);
    let stats = tokio::time::timeout(Duration::from_secs(30), run).await.unwrap().unwrap().unwrap();
    assert_eq!((stats.records_written, stats.records_lost), (N, 0));
    assert!(stats.batches_retried > 0);
    let (ids, _) = stored(&dir);
    assert_each_once(&ids, N);
}
