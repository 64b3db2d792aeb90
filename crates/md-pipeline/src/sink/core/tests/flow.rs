//! Lanes, flush triggers, what is not stored, and the shutdown: grace for failing lanes,
//! deadline, cancel.

use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::*;
use crate::sink::SinkHealth;

#[tokio::test]
async fn each_lane_gets_its_records_in_order_and_finish_is_called() {
    let dir = tempfile::tempdir().unwrap();
    let script = Script::new();
    let mut packets = Vec::new();
    for i in 0..500 {
        packets.push(trade(i));
        if i % 5 == 0 {
            packets.push(book(i));
        }
    }
    let stats = run(config(dir.path()), &script, packets).await;
    assert_eq!((stats.packets_received, stats.records_encoded, stats.records_written), (600, 600, 600));
    assert_eq!(script.ids(), (0..500).collect::<Vec<_>>());
    assert_eq!(script.lines(BOOKS), (0..500).step_by(5).map(|i| format!("snap {i}")).collect::<Vec<_>>());
    assert!(script.finished.load(Relaxed));
    assert_eq!((stats.records_in_memory, stats.records_on_disk, stats.records_lost), (0, 0, 0));
}

#[tokio::test]
async fn batch_record_limit_seals_batches() {
    let dir = tempfile::tempdir().unwrap();
    let script = Script::new();
    let mut cfg = config(dir.path());
    cfg.batch_records = 10;
    let stats = run(cfg, &script, trades(0..35)).await;
    assert_eq!((stats.records_written, stats.batches_written), (35, 4));
    let sizes: Vec<u32> = script.attempts().iter().map(|(_, n)| *n).collect();
    assert_eq!(sizes, vec![10, 10, 10, 5]);
}

#[tokio::test]
async fn batch_byte_limit_seals_batches() {
    let dir = tempfile::tempdir().unwrap();
    let script = Script::new();
    let mut cfg = config(dir.path());
    cfg.batch_bytes = 20; // ids 100..=109 are 4 bytes each: 5 per batch
    let stats = run(cfg, &script, trades(100..110)).await;
    assert_eq!((stats.records_written, stats.batches_written), (10, 2));
}

#[tokio::test]
async fn linger_flushes_a_small_batch() {
    let dir = tempfile::tempdir().unwrap();
    let script = Script::new();
    let mut cfg = config(dir.path());
    cfg.linger = Duration::from_millis(200);
    let sink = core(cfg, &script);
    let metrics = sink.metrics();
    let (publisher, sub) = input(16);
    let task = tokio::spawn(sink.run(sub, CancellationToken::new()));
    publisher.publish(vec![trade(1)]).await;
    let started = Instant::now();
    while metrics.snapshot().records_written == 0 {
        assert!(started.elapsed() < Duration::from_secs(3), "linger did not flush");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(started.elapsed() >= Duration::from_millis(150));
    drop(publisher);
    task.await.unwrap().unwrap();
}

#[tokio::test]
async fn skipped_unknown_and_unencodable_packets_are_counted_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let script = Script::new();
    let mut delta = trade(0);
    delta.data = md_core::Payload::BookDelta(md_core::BookDelta::default());
    let packets = vec![trade(1), delta, status(), unencodable(), status(), trade(2)];
    let stats = run(config(dir.path()), &script, packets).await;
    assert_eq!(stats.packets_received, 6);
    assert_eq!((stats.packets_skipped, stats.unknown_kinds, stats.packets_rejected), (1, 2, 1));
    assert_eq!((stats.records_written, stats.records_dead_lettered), (2, 1));
    assert_eq!(script.ids(), [1, 2], "a refused packet leaves no fragment in the batch");
    let dead = files(&dir.path().join("dead-letter"));
    assert_eq!(dead.len(), 1);
    assert!(dead[0].to_str().unwrap().ends_with("-trades-rejected.json"), "{dead:?}");
    let letter: serde_json::Value = serde_json::from_slice(&std::fs::read(&dead[0]).unwrap()).unwrap();
    assert_eq!(letter["reason"], "trade id is bad");
    let packet: DataPacket = serde_json::from_value(letter["packet"].clone()).unwrap();
    assert_eq!(packet, unencodable(), "the packet is kept whole, loadable again");
}

#[tokio::test]
async fn cancel_flushes_what_was_queued() {
    let dir = tempfile::tempdir().unwrap();
    let script = Script::new();
    let (publisher, sub) = input(1024);
    feed(&publisher, trades(0..50)).await;
    let cancel = CancellationToken::new();
    cancel.cancel();
    let stats = core(config(dir.path()), &script).run(sub, cancel).await.unwrap();
    assert_eq!(stats.records_written, 50);
    assert!(!publisher.has_subscribers(), "after a cancel the sink reads no more");
}

/// One transient failure right before shutdown must not leave the batch in the spool.
#[tokio::test]
async fn a_transient_error_at_shutdown_is_retried_not_spooled() {
    let dir = tempfile::tempdir().unwrap();
    let script = Script::new();
    script.answer([Outcome::Retry { after: None, error: "503".into() }]);
    let stats = run(config(dir.path()), &script, trades(0..300)).await;
    assert_eq!(
        (stats.records_written, stats.records_spooled, stats.batches_retried),
        (300, 0, 1),
        "{stats:?}"
    );
}

/// A cancel after the input closed means the caller is out of time: spool at once, lose nothing.
#[tokio::test]
async fn cancel_after_input_closed_spools_what_is_left_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let script = Script::new();
    script.set_down(TRADES, true);
    let mut cfg = config(dir.path());
    cfg.shutdown_timeout = Duration::from_secs(60);
    let (publisher, sub) = input(1024);
    let cancel = CancellationToken::new();
    let task = tokio::spawn(core(cfg, &script).run(sub, cancel.clone()));
    feed(&publisher, trades(0..200)).await;
    drop(publisher);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    cancel.cancel();
    let stats = tokio::time::timeout(Duration::from_secs(5), task).await.unwrap().unwrap().unwrap();
    assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
    assert_eq!((stats.records_written, stats.records_spooled), (0, 200), "{stats:?}");
    assert_eq!(stats.records_on_disk, 200);
}

/// At shutdown, a lane that keeps failing is spooled after the grace; the others finish.
#[tokio::test]
async fn a_failing_lane_is_spooled_after_the_grace_while_the_other_delivers() {
    let dir = tempfile::tempdir().unwrap();
    let script = Script::new();
    script.set_down(BOOKS, true);
    let mut cfg = config(dir.path());
    cfg.shutdown_timeout = Duration::from_secs(60);
    let mut packets = trades(0..100);
    packets.extend((0..10).map(book));
    let started = Instant::now();
    let stats = run(cfg, &script, packets).await;
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(1900) && took < Duration::from_secs(10), "{took:?}");
    assert_eq!((stats.records_written, stats.records_spooled), (100, 10), "{stats:?}");
    assert_eq!(script.ids(), (0..100).collect::<Vec<_>>());
}

/// Without a spool, giving up is losing: a failing lane keeps trying past the grace, until
/// the shutdown timeout, and a target that comes back in time loses nothing.
#[tokio::test]
async fn without_a_spool_a_failing_lane_keeps_trying_until_the_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let script = Script::new();
    script.set_down(TRADES, true);
    let mut cfg = config(dir.path());
    cfg.spool_dir = None;
    cfg.shutdown_timeout = Duration::from_secs(30);
    let back = Arc::clone(&script);
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(3)).await;
        back.set_down(TRADES, false);
    });
    let stats = run(cfg, &script, trades(0..100)).await;
    assert_eq!((stats.records_written, stats.records_lost), (100, 0), "{stats:?}");
}

/// Records neither delivered nor spooled by the deadline are lost, and said so.
#[tokio::test]
async fn records_that_cannot_be_kept_are_reported_lost() {
    let dir = tempfile::tempdir().unwrap();
    let script = Script::new();
    script.set_down(TRADES, true);
    let mut cfg = config(dir.path());
    cfg.spool_dir = None;
    cfg.shutdown_timeout = Duration::from_millis(500);
    let (publisher, sub) = input(1024);
    let sink = core(cfg, &script);
    let metrics = sink.metrics();
    let task = tokio::spawn(sink.run(sub, CancellationToken::new()));
    feed(&publisher, trades(0..40)).await;
    drop(publisher);
    let result = tokio::time::timeout(Duration::from_secs(10), task).await.unwrap().unwrap();
    assert!(matches!(result, Err(SinkError::Lost { records: 40 })), "{result:?}");
    assert_eq!(metrics.health(), SinkHealth::Lost { records: 40 });
}
