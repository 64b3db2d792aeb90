//! The sink end to end: batches through a fan-out into a directory, read back as sent,
//! per symbol and merged, over hour and size rotations and time ranges.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use md_core::{DataPacket, ExchangeId, Symbol};
use md_events::{EventFiles, EventFilesConfig, EventQuery, EventReader, Order};
use md_pipeline::{FanOut, Overflow, Sink, SinkError, SinkMetrics, SinkStats, SubscriberConfig};
use tokio_util::sync::CancellationToken;

pub fn config(dir: &Path) -> EventFilesConfig {
    let mut config = EventFilesConfig::new(dir);
    config.flush_interval = Duration::from_millis(50);
    config.chunk_bytes = 4096;
    config
}

async fn run(
    config: EventFilesConfig,
    packets: &[DataPacket],
    batch: usize,
) -> (Result<SinkStats, SinkError>, Arc<SinkMetrics>) {
    let sink = EventFiles::new(config).unwrap();
    assert_eq!(sink.name(), "events");
    let metrics = sink.metrics();
    let mut fanout = FanOut::new();
    let sub = fanout.subscribe(SubscriberConfig::new("events", Overflow::Block, 16));
    let publisher = fanout.publisher();
    let task = tokio::spawn(Box::new(sink).run(sub, CancellationToken::new()));
    for chunk in packets.chunks(batch) {
        publisher.publish(chunk.to_vec()).await;
    }
    drop(publisher);
    let result = tokio::time::timeout(Duration::from_secs(30), task).await.unwrap().unwrap();
    (result, metrics)
}

fn read(dir: &Path, query: EventQuery) -> Vec<DataPacket> {
    let reader = EventReader::open(dir, query).unwrap();
    reader.map(Result::unwrap).collect()
}

fn query(symbols: Option<Vec<Symbol>>, order: Order, from: Option<i64>, to: Option<i64>) -> EventQuery {
    EventQuery { exchange: Some(ExchangeId::Binance), symbols, from, to, order }
}

/// Two symbols over 3 hours (from 10:30), ETH's venue clock 2 s behind BTC's, interleaved as
/// a live stream would be.
fn two_symbols() -> (Vec<DataPacket>, Vec<DataPacket>, Vec<DataPacket>) {
    let btc = stream(&btc(), T0 + 1800 * SEC, 3_600_000_000, 3000, 1_000_000);
    let eth = stream(&eth(), T0 + 1800 * SEC + 1_700_000_000, 3_600_000_000, 3000, 2_000_000_000);
    let mut all: Vec<DataPacket> = btc.iter().chain(eth.iter()).cloned().collect();
    all.sort_by_key(|p| p.local_ts);
    (btc, eth, all)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_was_sent_is_read_back_per_symbol_and_merged() {
    let dir = tempfile::tempdir().unwrap();
    let (btc_sent, eth_sent, all) = two_symbols();
    let (result, metrics) = run(config(dir.path()), &all, 7).await;
    let stats = result.unwrap();
    assert_eq!(stats.records_written, 6000);
    assert_eq!(stats.records_in_memory, 0);
    assert_eq!(metrics.health(), md_pipeline::SinkHealth::Ok);

    // Names carry the start; hourly rotation gives 4 files a symbol (10:30, 11, 12, 13).
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names.len(), 8, "{names:?}");
    assert_eq!(names[0], "BINANCE_BTC_USDT_20261201T103000Z.mdev");
    assert_eq!(names[1], "BINANCE_BTC_USDT_20261201T110000Z.mdev");
    assert_eq!(names[4], "BINANCE_ETH_USDT_20261201T103001Z.mdev");

    // Per symbol, in order, as one stream over its files.
    assert_eq!(read(dir.path(), query(Some(vec![btc()]), Order::LocalTime, None, None)), btc_sent);
    assert_eq!(read(dir.path(), query(Some(vec![eth()]), Order::ExchangeTime, None, None)), eth_sent);

    // Merged by local time: the live order.
    assert_eq!(read(dir.path(), EventQuery::default()), all);
    // Merged by exchange time: ETH's clock is 2 s behind, so the order differs.
    let mut by_exchange = all.clone();
    by_exchange.sort_by_key(|p| (p.exchange_ts, p.symbol.clone()));
    let got = read(dir.path(), query(None, Order::ExchangeTime, None, None));
    assert_ne!(got, all);
    assert_eq!(got, by_exchange);

    // Time ranges, half-open, by the chosen clock.
    let (from, to) = (T0 + 3590 * SEC, T0 + 7300 * SEC);
    let want: Vec<_> = all.iter().filter(|p| p.local_ts >= from && p.local_ts < to).cloned().collect();
    assert!(!want.is_empty() && want.len() < all.len());
    assert_eq!(read(dir.path(), query(None, Order::LocalTime, Some(from), Some(to))), want);
    let want: Vec<_> =
        by_exchange.iter().filter(|p| p.exchange_ts >= from && p.exchange_ts < to).cloned().collect();
    assert_eq!(read(dir.path(), query(None, Order::ExchangeTime, Some(from), Some(to))), want);
    assert!(read(dir.path(), query(None, Order::LocalTime, Some(T0 + 10 * HOUR), None)).is_empty());
    assert!(read(dir.path(), EventQuery { exchange: Some(ExchangeId::Bybit), ..EventQuery::default() })
        .is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn size_rotation_within_one_second_gets_suffixes_and_reads_as_one_stream() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path());
    config.chunk_bytes = 1000;
    config.rotate_bytes = 1;
    let sent = stream(&btc(), T0, 1000, 400, 5);
    let (result, _) = run(config, &sent, 50).await;
    assert_eq!(result.unwrap().records_written, 400);
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert!(names.len() > 10, "{names:?}");
    assert!(names.contains(&"BINANCE_BTC_USDT_20261201T100000Z.mdev".to_string()));
    assert!(names.contains(&"BINANCE_BTC_USDT_20261201T100000Z-10.mdev".to_string()));
    assert_eq!(read(dir.path(), EventQuery::default()), sent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn packets_reach_the_disk_within_the_flush_interval_while_the_stream_runs() {
    let dir = tempfile::tempdir().unwrap();
    let sink = EventFiles::named("events-test", config(dir.path())).unwrap();
    assert_eq!(sink.name(), "events-test");
    let metrics = sink.metrics();
    let mut fanout = FanOut::new();
    let sub = fanout.subscribe(SubscriberConfig::new("events", Overflow::Block, 16));
    let publisher = fanout.publisher();
    let task = tokio::spawn(Box::new(sink).run(sub, CancellationToken::new()));
    let sent = stream(&btc(), T0, 1000, 10, 5);
    publisher.publish(sent.clone()).await;
    tokio::time::timeout(Duration::from_secs(5), async {
        while metrics.snapshot().records_written < 10 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .unwrap();
    // Readable while the writer still has the file open.
    assert_eq!(read(dir.path(), EventQuery::default()), sent);
    drop(publisher);
    assert_eq!(task.await.unwrap().unwrap().records_written, 10);
}
