//! A private influxd is killed for more than 10 s in the middle of a stream and started again on
//! the same data: every trade is stored exactly once with its exact values, and memory stays
//! bounded because the waiting batches go to the spool.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use common::{input, query, rows, trade, Influxd};
use md_sink_influx::{Api, Buffer, InfluxConfig};
use tokio_util::sync::CancellationToken;

const N: u64 = 100_000;
const PER_TICK: u64 = 500;
const TICK: Duration = Duration::from_millis(100);

fn price(i: u64) -> String {
    format!("{}.{:03}", 30_000 + i % 7919, i % 1000)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outage_of_ten_seconds_loses_nothing() {
    let Some(bin) = common::influxd_bin("outage") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut server = Influxd::new(&bin, dir.path());
    server.start().await;
    let url = server.url();

    let api = Api::V1 { user: None, password: None, create_databases: true };
    let mut cfg = InfluxConfig::new(&url, api, dir.path().join("sink"));
    cfg.linger = Duration::from_millis(200);
    cfg.memory_limit_bytes = 2 << 20;
    cfg.retry.max_backoff = Duration::from_secs(2);
    cfg.retry.request_timeout = Duration::from_secs(5);
    cfg.shutdown_timeout = Duration::from_secs(60);
    let buffer = Buffer::new(cfg).unwrap();
    let metrics = buffer.metrics();
    let (publisher, sub) = input(10_000);
    let sink = tokio::spawn(buffer.run(sub, CancellationToken::new()));

    // 5000 trades/s for 20 s, 100 sharing each millisecond.
    let producer = tokio::spawn(async move {
        let mut i = 0;
        while i < N {
            // One tick's trades in bursts of 50, as a driver publishes what one read gave it.
            for _ in 0..PER_TICK / 50 {
                let burst = (i..i + 50)
                    .map(|i| {
                        trade(
                            "BTC-USDT",
                            1_700_000_000_000 + (i / 100) as i64,
                            50_000_000 + i,
                            &price(i),
                            "0.125",
                        )
                    })
                    .collect();
                publisher.publish(burst).await;
                i += 50;
            }
            tokio::time::sleep(TICK).await;
        }
    });

    tokio::time::sleep(Duration::from_secs(4)).await;
    let written_before = metrics.snapshot().records_written;
    server.stop();
    let down = Instant::now();
    tokio::time::sleep(Duration::from_secs(11)).await;
    let during = metrics.snapshot();
    server.start().await;
    eprintln!("outage of {:?}: written before {written_before}, during {during:?}", down.elapsed());
    assert!(during.records_spooled > 0, "the outage outgrew memory and used the spool");

    producer.await.unwrap();
    let stats = tokio::time::timeout(Duration::from_secs(120), sink).await.unwrap().unwrap().unwrap();
    eprintln!("final stats: {stats:?}");
    assert_eq!(stats.records_encoded, N);
    assert_eq!(stats.records_dead_lettered, 0);
    assert!(stats.batches_retried > 0);

    let v = query(&url, "md_incremental", "SELECT count(price) FROM trade").await;
    assert_eq!(rows(&v).1[0][1], N, "{v}");
    let (_, values) = rows(&query(&url, "md_incremental", "SELECT price, trade_id FROM trade").await);
    assert_eq!(values.len() as u64, N);
    let mut ids = HashSet::new();
    for row in &values {
        let id: u64 = row[2].as_str().unwrap().parse().unwrap();
        assert!(ids.insert(id), "trade {id} stored twice");
        let i = id - 50_000_000;
        assert_eq!(row[1].as_f64().unwrap(), price(i).parse::<f64>().unwrap(), "trade {id}");
    }
    assert!(
        std::fs::read_dir(dir.path().join("sink/spool/incremental")).unwrap().next().is_none(),
        "spool drained"
    );
    let hwm = common::vm_hwm_kb();
    eprintln!("peak RSS (VmHWM) of the outage test process: {hwm:?} kB");
    println!("outage peak RSS: {} kB", hwm.unwrap_or(0));
}
