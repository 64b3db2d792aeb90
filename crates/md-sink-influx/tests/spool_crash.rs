//! A process killed (SIGKILL, no shutdown) with a full spool: a new process on the same data
//! directory delivers every spooled point exactly once, in order.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use md_sink_influx::{Api, Buffer, InfluxConfig};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

const N: u64 = 2000;
const CHILD_ENV: &str = "MD_SPOOL_CRASH_CHILD_DIR";

fn config(url: &str, dir: &Path) -> InfluxConfig {
    let api = Api::V1 { user: None, password: None, create_databases: false };
    let mut cfg = InfluxConfig::new(url, api, dir);
    cfg.batch_lines = 100;
    cfg.memory_limit_bytes = 1;
    cfg.retry.initial_backoff = Duration::from_millis(10);
    cfg.retry.max_backoff = Duration::from_millis(100);
    cfg
}

/// The child process: spools everything against a dead port, says READY, waits to be killed.
#[tokio::test]
#[ignore = "run by spool_survives_sigkill in a child process"]
async fn spool_crash_child() {
    let Ok(dir) = std::env::var(CHILD_ENV) else { return };
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", dead.local_addr().unwrap());
    drop(dead);
    let buffer = Buffer::new(config(&url, Path::new(&dir))).unwrap();
    let metrics = buffer.metrics();
    let (tx, rx) = mpsc::channel(4096);
    tokio::spawn(buffer.run(rx, CancellationToken::new()));
    for i in 0..N {
        tx.send(common::trade("BTC-USDT", 1_700_000_000_000 + i as i64, i, "2.50", "1")).await.unwrap();
    }
    while metrics.snapshot().lines_spooled < N {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    println!("READY");
    tokio::time::sleep(Duration::from_secs(600)).await;
}

#[tokio::test]
async fn spool_survives_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--ignored", "--exact", "spool_crash_child", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, dir.path())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let ready = std::thread::spawn(move || {
        BufReader::new(stdout).lines().map_while(Result::ok).any(|l| l.ends_with("READY"))
    });
    let ready = tokio::task::spawn_blocking(move || ready.join().unwrap());
    let ok = tokio::time::timeout(Duration::from_secs(60), ready).await;
    child.kill().unwrap(); // SIGKILL: no flush, no shutdown
    child.wait().unwrap();
    assert!(matches!(ok, Ok(Ok(true))), "child never reported a full spool");

    let server = MockServer::start().await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(204)).mount(&server).await;
    let (tx, rx) = mpsc::channel(1);
    drop(tx);
    let stats = Buffer::new(config(&server.uri(), dir.path()))
        .unwrap()
        .run(rx, CancellationToken::new())
        .await
        .unwrap();
    assert_eq!((stats.lines_replayed, stats.lines_written, stats.spool_corrupt_records), (N, N, 0));
    let mut ids = Vec::new();
    for req in server.received_requests().await.unwrap() {
        let mut text = String::new();
        flate2::read::GzDecoder::new(&req.body[..]).read_to_string(&mut text).unwrap();
        for p in common::lp::parse(&text).unwrap() {
            match p.field("trade_id") {
                Some(common::lp::Value::Str(s)) => ids.push(s.parse::<u64>().unwrap()),
                other => panic!("{other:?}"),
            }
        }
    }
    assert_eq!(ids, (0..N).collect::<Vec<_>>(), "every spooled point once, in order");
}
