//! The Buffer's spool: with the database unreachable everything goes to
//! `<data_dir>/spool/<target>/`; a new Buffer on the same data directory delivers it all, in
//! order. (Torn tails, corrupt records and SIGKILL are tested on the sink core, in md-pipeline.)
#![allow(clippy::unwrap_used)]

mod common;

use std::io::Read;
use std::path::Path;
use std::time::Duration;

use common::{feed, input, trade};
use md_sink_influx::{Api, Buffer, InfluxConfig, SinkStats};
use tokio_util::sync::CancellationToken;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

const N: u64 = 1000;

fn config(url: &str, dir: &Path) -> InfluxConfig {
    let api = Api::V1 { user: None, password: None, create_databases: false };
    let mut cfg = InfluxConfig::new(url, api, dir);
    cfg.batch_lines = 100;
    cfg.memory_limit_bytes = 1; // every sealed batch overflows to disk
    cfg.retry.initial_backoff = Duration::from_millis(10);
    cfg.retry.max_backoff = Duration::from_millis(100);
    cfg.retry.request_timeout = Duration::from_secs(2);
    cfg.shutdown_timeout = Duration::from_secs(2);
    cfg
}

/// Phase 1: a dead port; cancel after sending everything. Returns the stats.
async fn fill_spool(dir: &Path) -> SinkStats {
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", dead.local_addr().unwrap());
    drop(dead);
    let (publisher, sub) = input(4096);
    let cancel = CancellationToken::new();
    let task = tokio::spawn(Buffer::new(config(&url, dir)).unwrap().run(sub, cancel.clone()));
    feed(
        &publisher,
        (0..N).map(|i| trade("BTC-USDT", 1_700_000_000_000 + i as i64, i, "1.5", "2")).collect(),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    cancel.cancel();
    let stats = tokio::time::timeout(Duration::from_secs(20), task).await.unwrap().unwrap().unwrap();
    drop(publisher);
    stats
}

async fn deliver(dir: &Path) -> (SinkStats, Vec<String>) {
    let server = MockServer::start().await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(204)).mount(&server).await;
    let (publisher, sub) = input(16);
    drop(publisher);
    let run = Buffer::new(config(&server.uri(), dir)).unwrap().run(sub, CancellationToken::new());
    let stats = tokio::time::timeout(Duration::from_secs(20), run).await.unwrap().unwrap();
    let mut lines = Vec::new();
    for req in server.received_requests().await.unwrap() {
        let mut text = String::new();
        flate2::read::GzDecoder::new(&req.body[..]).read_to_string(&mut text).unwrap();
        lines.extend(text.lines().map(str::to_owned));
    }
    (stats, lines)
}

fn ids(lines: &[String]) -> Vec<u64> {
    lines
        .iter()
        .map(|l| {
            let p = &common::lp::parse(&format!("{l}\n")).unwrap()[0];
            match p.field("trade_id") {
                Some(common::lp::Value::Str(s)) => s.parse().unwrap(),
                other => panic!("{other:?}"),
            }
        })
        .collect()
}

fn segments(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> =
        std::fs::read_dir(dir.join("spool/incremental")).unwrap().map(|e| e.unwrap().path()).collect();
    v.sort();
    v
}

#[tokio::test]
async fn full_spool_survives_restart_and_is_delivered_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let stats = fill_spool(dir.path()).await;
    assert_eq!(stats.records_written, 0);
    assert_eq!(stats.records_spooled, N);
    assert!(stats.overflow_spills > 0);
    assert!(!segments(dir.path()).is_empty());

    let (stats, lines) = deliver(dir.path()).await;
    assert_eq!((stats.records_replayed, stats.records_written), (N, N));
    assert_eq!(ids(&lines), (0..N).collect::<Vec<_>>(), "every point once, in order");
    assert!(segments(dir.path()).is_empty(), "acknowledged segments are deleted");
}
