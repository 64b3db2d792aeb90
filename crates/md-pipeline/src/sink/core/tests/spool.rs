//! The disk spool: a core whose target is down spools everything; a new core on the same
//! directory delivers it all, in order, even with a torn tail or a corrupt record.
//! (Ported from md-sink-influx's `tests/spool.rs`.)

use std::path::Path;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::*;

const N: u64 = 1000;

fn spool_config(dir: &Path) -> CoreConfig {
    let mut cfg = config(dir);
    cfg.batch_records = 100;
    cfg.memory_limit_bytes = 1; // every sealed batch overflows to disk
    cfg.retry.max_backoff = Duration::from_millis(100);
    cfg.shutdown_timeout = Duration::from_secs(2);
    cfg
}

/// Phase 1: the target is down; cancel after sending everything.
async fn fill_spool(dir: &Path) -> SinkStats {
    let script = Script::new();
    script.set_down(TRADES, true);
    let (publisher, sub) = input(4096);
    let cancel = CancellationToken::new();
    let task = tokio::spawn(core(spool_config(dir), &script).run(sub, cancel.clone()));
    feed(&publisher, trades(0..N)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    cancel.cancel();
    let stats = tokio::time::timeout(Duration::from_secs(20), task).await.unwrap().unwrap().unwrap();
    drop(publisher);
    assert!(script.lines(TRADES).is_empty());
    stats
}

/// Phase 2: a new core on the same directory, the target up, no input.
async fn deliver(dir: &Path) -> (SinkStats, Vec<u64>) {
    let script = Script::new();
    let (publisher, sub) = input(16);
    drop(publisher);
    let run = core(spool_config(dir), &script).run(sub, CancellationToken::new());
    let stats = tokio::time::timeout(Duration::from_secs(20), run).await.unwrap().unwrap();
    (stats, script.ids())
}

pub(super) fn segments(dir: &Path) -> Vec<std::path::PathBuf> {
    files(&dir.join("spool/trades"))
}

#[tokio::test]
async fn full_spool_survives_restart_and_is_delivered_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let stats = fill_spool(dir.path()).await;
    assert_eq!(stats.records_written, 0);
    assert_eq!(stats.records_spooled, N);
    assert_eq!(stats.records_on_disk, N);
    assert_eq!(stats.records_in_memory, 0);
    assert!(stats.overflow_spills > 0);
    assert!(!segments(dir.path()).is_empty());

    let (stats, ids) = deliver(dir.path()).await;
    assert_eq!((stats.records_replayed, stats.records_written), (N, N));
    assert_eq!(stats.records_on_disk, 0);
    assert_eq!(ids, (0..N).collect::<Vec<_>>(), "every record once, in order");
    assert!(segments(dir.path()).is_empty(), "acknowledged segments are deleted");
}

#[tokio::test]
async fn torn_tail_is_skipped_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    fill_spool(dir.path()).await;
    let segs = segments(dir.path());
    let last = segs.last().unwrap();
    let len = std::fs::metadata(last).unwrap().len();
    // Cut the last record in the middle, as a crash during an append would.
    std::fs::OpenOptions::new().write(true).open(last).unwrap().set_len(len - 5).unwrap();

    let (stats, ids) = deliver(dir.path()).await;
    assert_eq!(stats.spool_corrupt_records, 1);
    // Everything before the torn record arrives, in order; only the torn record is missing.
    assert!(stats.records_written < N && stats.records_written >= N - 200, "{}", stats.records_written);
    assert_eq!(ids, (0..stats.records_written).collect::<Vec<_>>());
    let dead = files(&dir.path().join("dead-letter"));
    assert_eq!(dead.len(), 1, "the torn bytes are kept for inspection");
    assert!(dead[0].to_str().unwrap().ends_with("-trades-torn-tail.spool.bin"), "{dead:?}");
}

#[tokio::test]
async fn corrupt_record_in_the_middle_is_skipped() {
    let dir = tempfile::tempdir().unwrap();
    fill_spool(dir.path()).await;
    let first = segments(dir.path())[0].clone();
    let mut data = std::fs::read(&first).unwrap();
    data[13] ^= 0xff; // the first byte of the first record's body
    std::fs::write(&first, data).unwrap();

    let (stats, ids) = deliver(dir.path()).await;
    assert_eq!(stats.spool_corrupt_records, 1);
    let skipped = N - ids.len() as u64;
    assert!(skipped > 0 && skipped <= 200, "{skipped}");
    assert_eq!(ids, (skipped..N).collect::<Vec<_>>(), "only the damaged first record is missing");
}

#[tokio::test]
async fn each_lane_has_its_own_spool_folder_named_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let script = Script::new();
    script.set_down(TRADES, true);
    script.set_down(BOOKS, true);
    let (publisher, sub) = input(1024);
    let cancel = CancellationToken::new();
    let task = tokio::spawn(core(spool_config(dir.path()), &script).run(sub, cancel.clone()));
    let mut packets = trades(0..50);
    packets.extend((0..30).map(book));
    feed(&publisher, packets).await;
    drop(publisher);
    tokio::time::sleep(Duration::from_millis(100)).await;
    cancel.cancel();
    let stats = task.await.unwrap().unwrap();
    assert_eq!(stats.records_spooled, 80);
    assert!(!files(&dir.path().join("spool/trades")).is_empty());
    assert!(!files(&dir.path().join("spool/books")).is_empty());

    let script = Script::new();
    let (publisher, sub) = input(16);
    drop(publisher);
    let stats = core(spool_config(dir.path()), &script).run(sub, CancellationToken::new()).await.unwrap();
    assert_eq!((stats.records_replayed, stats.records_written), (80, 80));
    assert_eq!(script.ids(), (0..50).collect::<Vec<_>>());
    assert_eq!(script.lines(BOOKS), (0..30).map(|i| format!("snap {i}")).collect::<Vec<_>>());
}
