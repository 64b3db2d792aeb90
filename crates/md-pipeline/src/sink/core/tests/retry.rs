//! The delivery loop, driven by the target's answers: retry with backoff or the target's own
//! delay, split, reject to a dead-letter file; health while failing.

use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::*;
use crate::sink::SinkHealth;

fn retry(after: Option<Duration>, error: &str) -> Outcome {
    Outcome::Retry { after, error: error.into() }
}

#[tokio::test]
async fn retries_until_done_and_says_failing_meanwhile() {
    let dir = tempfile::tempdir().unwrap();
    let script = Script::new();
    script.set_down(TRADES, true);
    let sink = core(config(dir.path()), &script);
    let metrics = sink.metrics();
    let (publisher, sub) = input(1024);
    let task = tokio::spawn(sink.run(sub, CancellationToken::new()));
    feed(&publisher, trades(0..5)).await;
    let started = Instant::now();
    loop {
        if let SinkHealth::Failing { since_ns, error } = metrics.health() {
            assert!(since_ns > 0);
            assert_eq!(error, "trades: connection refused");
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(5), "never failing");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(metrics.records_in_memory.load(Relaxed) >= 1);
    script.set_down(TRADES, false);
    drop(publisher);
    let stats = task.await.unwrap().unwrap();
    assert_eq!(metrics.health(), SinkHealth::Ok);
    assert_eq!(stats.records_written, 5);
    assert!(stats.batches_retried >= 1);
    assert_eq!(stats.failing_since_ns, 0);
    assert_eq!(script.ids(), (0..5).collect::<Vec<_>>());
}

#[tokio::test]
async fn the_targets_own_delay_is_honoured() {
    let dir = tempfile::tempdir().unwrap();
    let script = Script::new();
    script.answer([retry(Some(Duration::from_millis(600)), "429 slow down")]);
    let started = Instant::now();
    let stats = run(config(dir.path()), &script, trades(0..20)).await;
    assert!(started.elapsed() >= Duration::from_millis(600), "Retry-After honoured");
    assert_eq!((stats.records_written, stats.batches_retried, stats.records_dead_lettered), (20, 1, 0));
    let attempts = script.attempts();
    assert_eq!(attempts, vec![(TRADES, 20), (TRADES, 20)], "the same batch again");
}

#[tokio::test]
async fn the_targets_own_delay_is_capped() {
    let dir = tempfile::tempdir().unwrap();
    let script = Script::new();
    script.answer([retry(Some(Duration::from_secs(3600)), "come back in an hour")]);
    let mut cfg = config(dir.path());
    cfg.retry.max_retry_after = Duration::from_millis(100);
    let started = Instant::now();
    let stats = run(cfg, &script, trades(0..3)).await;
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(stats.records_written, 3);
}

#[tokio::test]
async fn backoff_grows_but_stays_under_its_cap() {
    let dir = tempfile::tempdir().unwrap();
    let script = Script::new();
    script.answer((0..6).map(|_| retry(None, "503")));
    let mut cfg = config(dir.path());
    cfg.retry.initial_backoff = Duration::from_millis(20);
    cfg.retry.max_backoff = Duration::from_millis(100);
    let started = Instant::now();
    let stats = run(cfg, &script, trades(0..3)).await;
    // Jittered [base/2, base]: 20, 40, 80, 100, 100, 100 ms → at least 220 ms, at most 440 ms.
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(220) && took < Duration::from_secs(2), "{took:?}");
    assert_eq!((stats.records_written, stats.batches_retried), (3, 6));
}

#[tokio::test]
async fn too_large_splits_until_accepted_nothing_lost() {
    let dir = tempfile::tempdir().unwrap();
    let script = Script::new();
    script.split_above.store(3, Relaxed);
    let stats = run(config(dir.path()), &script, trades(0..13)).await;
    assert_eq!((stats.records_written, stats.records_dead_lettered), (13, 0));
    assert!(stats.batches_split >= 3);
    assert_eq!(script.ids(), (0..13).collect::<Vec<_>>(), "each record accepted exactly once, in order");
}

#[tokio::test]
async fn a_single_record_too_large_is_a_dead_letter() {
    let dir = tempfile::tempdir().unwrap();
    let script = Script::new();
    script.split_above.store(0, Relaxed);
    let stats = run(config(dir.path()), &script, trades(7..9)).await;
    assert_eq!((stats.records_written, stats.records_dead_lettered, stats.batches_split), (0, 2, 1));
    let dead = files(&dir.path().join("dead-letter"));
    assert_eq!(dead.len(), 2);
    let text = std::fs::read_to_string(&dead[0]).unwrap();
    assert_eq!(text, "# lane: trades\n# status: too_large\n# message: the target found a single record too large to store\n7\n");
}

#[tokio::test]
async fn a_refused_batch_goes_to_a_dead_letter_without_retry() {
    let dir = tempfile::tempdir().unwrap();
    let script = Script::new();
    script.answer([Outcome::Reject { status: "400".into(), message: "field type conflict".into() }]);
    let stats = run(config(dir.path()), &script, trades(0..7)).await;
    assert_eq!((stats.records_written, stats.records_dead_lettered, stats.batches_retried), (0, 7, 0));
    assert_eq!(script.attempts().len(), 1);
    let dead = files(&dir.path().join("dead-letter"));
    assert_eq!(dead.len(), 1);
    assert!(dead[0].to_str().unwrap().ends_with("-trades-400.txt"), "{dead:?}");
    let text = std::fs::read_to_string(&dead[0]).unwrap();
    assert!(text.starts_with("# lane: trades\n# status: 400\n# message: field type conflict\n"), "{text}");
    assert_eq!(text.lines().skip(3).collect::<Vec<_>>(), ["0", "1", "2", "3", "4", "5", "6"]);
}

/// A dead letter that cannot be written is retried until it can: never dropped.
#[tokio::test]
async fn a_dead_letter_the_disk_refuses_is_retried_not_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let script = Script::new();
    script.answer([Outcome::Reject { status: "400".into(), message: "bad".into() }]);
    let mut cfg = config(dir.path());
    cfg.spool_dir = None;
    let dead_dir = dir.path().join("dead-letter");
    let sink = core(cfg, &script);
    let metrics = sink.metrics();
    // The directory exists (checked at start); now something breaks it: a file in its place.
    std::fs::remove_dir(&dead_dir).unwrap();
    std::fs::write(&dead_dir, b"not a directory").unwrap();
    let (publisher, sub) = input(64);
    let task = tokio::spawn(sink.run(sub, CancellationToken::new()));
    feed(&publisher, trades(0..4)).await;
    drop(publisher);
    let started = Instant::now();
    while !matches!(metrics.health(), SinkHealth::Failing { .. }) {
        assert!(started.elapsed() < Duration::from_secs(5), "never failing");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let SinkHealth::Failing { error, .. } = metrics.health() else { unreachable!() };
    assert!(error.contains("cannot write a dead-letter file"), "{error}");
    std::fs::remove_file(&dead_dir).unwrap();
    std::fs::create_dir(&dead_dir).unwrap();
    let stats = tokio::time::timeout(Duration::from_secs(10), task).await.unwrap().unwrap().unwrap();
    assert_eq!((stats.records_dead_lettered, stats.records_lost), (4, 0));
    assert_eq!(files(&dead_dir).len(), 1);
    assert_eq!(metrics.health(), SinkHealth::Ok);
}

/// One lane failing keeps the sink failing even while another lane succeeds.
#[tokio::test]
async fn health_is_failing_while_any_lane_fails() {
    let dir = tempfile::tempdir().unwrap();
    let script = Script::new();
    script.set_down(BOOKS, true);
    let sink = core(config(dir.path()), &script);
    let metrics = sink.metrics();
    let (publisher, sub) = input(64);
    let task = tokio::spawn(sink.run(sub, CancellationToken::new()));
    publisher.publish(vec![book(1)]).await;
    let started = Instant::now();
    while !matches!(metrics.health(), SinkHealth::Failing { .. }) {
        assert!(started.elapsed() < Duration::from_secs(5), "never failing");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    publisher.publish(trades(0..3)).await;
    while metrics.snapshot().records_written < 3 {
        assert!(started.elapsed() < Duration::from_secs(5), "trades not written");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(matches!(metrics.health(), SinkHealth::Failing { .. }), "books still fail");
    script.set_down(BOOKS, false);
    drop(publisher);
    task.await.unwrap().unwrap();
    assert_eq!(metrics.health(), SinkHealth::Ok);
}
