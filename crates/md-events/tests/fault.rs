//! A full disk: health says failing with the records held in memory, writes retry, and after
//! recovery nothing is lost and no torn write is left in a file. Past the memory bound the
//! loss is counted and reported.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::time::Duration;

use common::*;
use md_events::{EventFiles, EventFilesConfig, EventQuery, EventReader, WriteFault};
use md_pipeline::{FanOut, Overflow, Sink, SinkError, SinkHealth, SubscriberConfig};
use tokio_util::sync::CancellationToken;

async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    tokio::time::timeout(Duration::from_secs(10), async {
        while !done() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("timed out waiting for {what}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disk_full_fails_then_recovers_losing_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let fault = WriteFault::new();
    let mut config = EventFilesConfig::new(dir.path());
    config.flush_interval = Duration::from_millis(30);
    config.chunk_bytes = 2000;
    config.fault = Some(fault.clone());
    let sink = EventFiles::new(config).unwrap();
    let metrics = sink.metrics();
    let mut fanout = FanOut::new();
    let sub = fanout.subscribe(SubscriberConfig::new("events", Overflow::Block, 16));
    let publisher = fanout.publisher();
    let task = tokio::spawn(Box::new(sink).run(sub, CancellationToken::new()));

    let mut sent = stream(&btc(), T0, 1_000_000, 600, 5);
    sent.extend(stream(&eth(), T0 + 600_000_000, 1_000_000, 300, 7));
    publisher.publish(sent[..200].to_vec()).await;
    wait_for("the first writes", || metrics.snapshot().records_written == 200).await;

    fault.fail_with_enospc(true);
    for chunk in sent[200..].chunks(50) {
        publisher.publish(chunk.to_vec()).await;
    }
    wait_for("failing health", || matches!(metrics.health(), SinkHealth::Failing { .. })).await;
    let SinkHealth::Failing { since_ns, error } = metrics.health() else { unreachable!() };
    assert!(since_ns > 0);
    assert!(error.contains("No space left") || error.contains("os error 28"), "{error}");
    wait_for("everything held", || metrics.snapshot().records_in_memory == 700).await;
    let injected = fault.injected();
    wait_for("retries", || fault.injected() > injected + 2).await;
    assert!(metrics.snapshot().batches_retried > 0);

    fault.fail_with_enospc(false);
    wait_for("recovery", || metrics.snapshot().records_written == 900).await;
    assert_eq!(metrics.health(), SinkHealth::Ok);
    assert_eq!(metrics.snapshot().records_in_memory, 0);
    drop(publisher);
    let stats = task.await.unwrap().unwrap();
    assert_eq!((stats.records_written, stats.records_lost), (900, 0));

    let mut reader = EventReader::open(dir.path(), EventQuery::default()).unwrap();
    let mut got: Vec<_> = reader.by_ref().map(Result::unwrap).collect();
    assert!(reader.issues().is_empty(), "{:?}", reader.issues());
    sent.sort_by_key(|p| p.local_ts);
    got.sort_by_key(|p| p.local_ts);
    assert_eq!(got, sent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_memory_bound_the_loss_is_counted_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let fault = WriteFault::new();
    fault.fail_with_enospc(true);
    let mut config = EventFilesConfig::new(dir.path());
    config.flush_interval = Duration::from_millis(20);
    config.chunk_bytes = 1000;
    config.memory_limit_bytes = 3000;
    config.fault = Some(fault.clone());
    let sink = EventFiles::new(config).unwrap();
    let metrics = sink.metrics();
    let mut fanout = FanOut::new();
    let sub = fanout.subscribe(SubscriberConfig::new("events", Overflow::Block, 16));
    let publisher = fanout.publisher();
    let cancel = CancellationToken::new();
    let task = tokio::spawn(Box::new(sink).run(sub, cancel.clone()));
    let sent = stream(&btc(), T0, 1_000_000, 1000, 5);
    for chunk in sent.chunks(100) {
        publisher.publish(chunk.to_vec()).await;
    }
    drop(publisher);
    wait_for("a loss", || metrics.snapshot().records_lost > 0).await;
    assert!(matches!(metrics.health(), SinkHealth::Lost { .. }));
    // The input ended; the sink keeps retrying until the shutdown deadline.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!task.is_finished());
    cancel.cancel();
    let result = task.await.unwrap();
    let Err(SinkError::Lost { records }) = result else { panic!("{result:?}") };
    assert_eq!(records, 1000, "every record is either written or counted lost");
    assert_eq!(metrics.snapshot().records_written, 0);
}
