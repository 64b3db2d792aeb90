//! The memory bound: spill the oldest batches to the spool, or stop reading input so that the
//! fan-out's `Block` queue holds the publisher; never drop.

use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::*;
use crate::sink::core::MemoryOverflow;

const N: u64 = 2000;

/// Waits until `cond` holds (at most 10 s).
async fn until(what: &str, mut cond: impl FnMut() -> bool) {
    let started = Instant::now();
    while !cond() {
        assert!(started.elapsed() < Duration::from_secs(10), "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Feeds N trades into a small `Block` queue with the target down; checks the publisher is
/// held, then brings the target back and checks every record arrived once, in order.
async fn held_then_delivered(cfg: CoreConfig) -> SinkStats {
    let script = Script::new();
    script.set_down(TRADES, true);
    let sink = core(cfg, &script);
    let metrics = sink.metrics();
    let (publisher, sub) = input(20);
    let queue = sub.metrics();
    let task = tokio::spawn(sink.run(sub, CancellationToken::new()));
    let producer = tokio::spawn(async move { feed(&publisher, trades(0..N)).await });
    until("backpressure", || metrics.overflow_backpressure.load(Relaxed) > 0).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!producer.is_finished(), "the publisher is held, not dropped");
    let q = queue.snapshot();
    assert!(q.blocked > 0 && q.dropped == 0, "{q:?}");
    let held = metrics.records_in_memory.load(Relaxed);
    assert!(held > 0 && held < 200, "memory stays near its bound: {held} records");
    script.set_down(TRADES, false);
    tokio::time::timeout(Duration::from_secs(20), producer).await.unwrap().unwrap();
    let stats = tokio::time::timeout(Duration::from_secs(20), task).await.unwrap().unwrap().unwrap();
    assert_eq!(queue.snapshot().dropped, 0);
    assert_eq!((stats.records_written, stats.records_lost), (N, 0));
    assert_eq!(script.ids(), (0..N).collect::<Vec<_>>(), "every record once, in order");
    stats
}

#[tokio::test]
async fn backpressure_holds_the_publisher_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.memory_limit_bytes = 200; // ids 0..2000 are 2 to 5 bytes each
    cfg.overflow = MemoryOverflow::Backpressure;
    let stats = held_then_delivered(cfg).await;
    assert_eq!(stats.records_spooled, 0, "Backpressure never spools");
    assert!(files(&dir.path().join("spool/trades")).is_empty());
}

#[tokio::test]
async fn without_a_spool_spilling_becomes_backpressure() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.memory_limit_bytes = 200;
    cfg.spool_dir = None;
    let stats = held_then_delivered(cfg).await;
    assert_eq!(stats.records_spooled, 0);
}

#[tokio::test]
async fn a_full_spool_becomes_backpressure() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.memory_limit_bytes = 200;
    cfg.batch_records = 10;
    cfg.spool_limit_bytes = 300;
    let stats = held_then_delivered(cfg).await;
    assert!(stats.records_spooled > 0 && stats.overflow_spills > 0, "{stats:?}");
}

#[tokio::test]
async fn spilling_keeps_memory_bounded_and_order_kept() {
    let dir = tempfile::tempdir().unwrap();
    let script = Script::new();
    script.set_down(TRADES, true);
    let mut cfg = config(dir.path());
    cfg.memory_limit_bytes = 400;
    cfg.batch_records = 50;
    let sink = core(cfg, &script);
    let metrics = sink.metrics();
    let (publisher, sub) = input(100);
    let task = tokio::spawn(sink.run(sub, CancellationToken::new()));
    feed(&publisher, trades(0..N)).await;
    until("everything encoded", || metrics.records_encoded.load(Relaxed) == N).await;
    let stats = metrics.snapshot();
    assert!(stats.records_in_memory < 200, "{stats:?}");
    assert_eq!(stats.records_in_memory + stats.records_on_disk, N, "{stats:?}");
    assert_eq!(stats.overflow_backpressure, 0, "the spool took it all");
    script.set_down(TRADES, false);
    drop(publisher);
    let stats = tokio::time::timeout(Duration::from_secs(20), task).await.unwrap().unwrap().unwrap();
    assert_eq!((stats.records_written, stats.records_on_disk, stats.records_in_memory), (N, 0, 0));
    assert_eq!(script.ids(), (0..N).collect::<Vec<_>>());
}
