//! Both write APIs against a mock server: headers, query, gzip, 429 + Retry-After, 413 split,
//! 400 dead-letter, linger.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::Read;
use std::time::{Duration, Instant};

use common::{feed, input, snapshot, trade};
use md_core::DataPacket;
use md_sink_influx::{Api, Buffer, InfluxConfig, Secret, SinkStats};
use tokio_util::sync::CancellationToken;
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

fn v1() -> Api {
    Api::V1 { user: Some("md".into()), password: Some(Secret::new("pw")), create_databases: false }
}

fn config(url: &str, api: Api, dir: &std::path::Path) -> InfluxConfig {
    let mut cfg = InfluxConfig::new(url, api, dir);
    cfg.retry.initial_backoff = Duration::from_millis(10);
    cfg.retry.max_backoff = Duration::from_millis(50);
    cfg.shutdown_timeout = Duration::from_secs(5);
    cfg
}

async fn run(cfg: InfluxConfig, packets: Vec<DataPacket>) -> SinkStats {
    let (publisher, sub) = input(1024);
    let task = tokio::spawn(Buffer::new(cfg).unwrap().run(sub, CancellationToken::new()));
    feed(&publisher, packets).await;
    drop(publisher);
    tokio::time::timeout(Duration::from_secs(30), task).await.unwrap().unwrap().unwrap()
}

fn body_text(req: &Request) -> String {
    if req.headers.get("content-encoding").is_some_and(|v| v == "gzip") {
        let mut out = String::new();
        flate2::read::GzDecoder::new(&req.body[..]).read_to_string(&mut out).unwrap();
        out
    } else {
        String::from_utf8(req.body.clone()).unwrap()
    }
}

fn trades(n: u64) -> Vec<DataPacket> {
    (0..n)
        .map(|i| trade("BTC-USDT", 1_700_000_000_000 + (i / 3) as i64, 100 + i, "65000.10", "0.001"))
        .collect()
}

#[tokio::test]
async fn v1_headers_query_and_gzip_body() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/write"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(&server.uri(), v1(), dir.path());
    cfg.incremental.retention_policy = Some("autogen".into());
    let mut packets = trades(3);
    packets.push(snapshot("BTC-USDT", 1_700_000_000_000, 9, 5));
    let stats = run(cfg, packets).await;
    assert_eq!((stats.records_encoded, stats.records_written), (4, 4));

    let reqs = server.received_requests().await.unwrap();
    assert_eq!(reqs.len(), 2);
    for req in &reqs {
        let q: std::collections::HashMap<_, _> = req.url.query_pairs().into_owned().collect();
        assert_eq!(q["precision"], "ns");
        assert_eq!(req.headers["content-encoding"], "gzip");
        assert_eq!(req.headers["authorization"], "Basic bWQ6cHc="); // md:pw
        let body = body_text(req);
        if q["db"] == "md_incremental" {
            assert_eq!(q["rp"], "autogen");
            assert_eq!(body.lines().count(), 3);
            assert!(body
                .lines()
                .all(|l| l.starts_with("trade,exchange=binance,symbol=BTC-USDT price=65000.10,")));
        } else {
            assert_eq!(q["db"], "md_snapshot");
            assert!(!q.contains_key("rp"));
            assert!(body.starts_with("book_snapshot,exchange=bybit,symbol=BTC-USDT bid_0_price=100.00,"));
        }
    }
}

#[tokio::test]
async fn v2_token_header_org_bucket() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v2/write"))
        .and(header("authorization", "Token s3cr3t"))
        .and(query_param("org", "acme"))
        .and(query_param("bucket", "md_incremental"))
        .and(query_param("precision", "ns"))
        .and(header("content-encoding", "gzip"))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let api = Api::V2 { org: "acme".into(), token: Secret::new("s3cr3t") };
    let stats = run(config(&server.uri(), api, dir.path()), trades(10)).await;
    assert_eq!(stats.records_written, 10);
    let reqs = server.received_requests().await.unwrap();
    assert_eq!(body_text(&reqs[0]).lines().count(), 10);
}

#[tokio::test]
async fn retries_429_after_retry_after() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "1"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(204)).mount(&server).await;
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let stats = run(config(&server.uri(), v1(), dir.path()), trades(20)).await;
    assert!(started.elapsed() >= Duration::from_secs(1), "Retry-After honoured");
    assert_eq!((stats.records_written, stats.batches_retried, stats.records_dead_lettered), (20, 1, 0));
    let reqs = server.received_requests().await.unwrap();
    assert_eq!(reqs.len(), 2);
    assert_eq!(body_text(&reqs[0]), body_text(&reqs[1]));
}

#[tokio::test]
async fn retries_503_and_network_errors_until_success() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(3)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(204)).mount(&server).await;
    let dir = tempfile::tempdir().unwrap();
    let stats = run(config(&server.uri(), v1(), dir.path()), trades(5)).await;
    assert_eq!((stats.records_written, stats.batches_retried), (5, 3));
}

struct MoreLinesThan(usize);
impl wiremock::Match for MoreLinesThan {
    fn matches(&self, req: &Request) -> bool {
        body_text(req).lines().count() > self.0
    }
}

#[tokio::test]
async fn too_large_splits_until_accepted_nothing_lost() {
    let server = MockServer::start().await;
    Mock::given(MoreLinesThan(3))
        .respond_with(ResponseTemplate::new(413).set_body_string("request entity too large"))
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(204)).mount(&server).await;
    let dir = tempfile::tempdir().unwrap();
    let packets = trades(13);
    let stats = run(config(&server.uri(), v1(), dir.path()), packets).await;
    assert_eq!((stats.records_written, stats.records_dead_lettered), (13, 0));
    assert!(stats.batches_split >= 3);
    let accepted: Vec<String> = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(body_text)
        .filter(|b| b.lines().count() <= 3)
        .flat_map(|b| b.lines().map(str::to_owned).collect::<Vec<_>>())
        .collect();
    assert_eq!(accepted.len(), 13);
    let unique: std::collections::HashSet<_> = accepted.iter().collect();
    assert_eq!(unique.len(), 13, "each line accepted exactly once, in order");
}

#[tokio::test]
async fn bad_request_goes_to_dead_letter_without_retry() {
    let server = MockServer::start().await;
    let message = r#"{"error":"partial write: field type conflict"}"#;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(400).set_body_string(message))
        .expect(1)
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let stats = run(config(&server.uri(), v1(), dir.path()), trades(7)).await;
    assert_eq!((stats.records_written, stats.records_dead_lettered, stats.batches_retried), (0, 7, 0));
    let files: Vec<_> =
        std::fs::read_dir(dir.path().join("dead-letter")).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(files.len(), 1);
    let text = std::fs::read_to_string(&files[0]).unwrap();
    assert!(text.contains("# status: 400") && text.contains("field type conflict"), "{text}");
    let points = common::lp::parse(&text).unwrap();
    assert_eq!(points.len(), 7, "the file holds the whole batch, postable as is");
}

#[tokio::test]
async fn linger_flushes_a_small_batch() {
    let server = MockServer::start().await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(204)).mount(&server).await;
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(&server.uri(), v1(), dir.path());
    cfg.linger = Duration::from_millis(200);
    let buffer = Buffer::new(cfg).unwrap();
    let metrics = buffer.metrics();
    let (publisher, sub) = input(16);
    let task = tokio::spawn(buffer.run(sub, CancellationToken::new()));
    publisher.publish(trades(1)).await;
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
async fn batch_line_limit_seals_batches() {
    let server = MockServer::start().await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(204)).mount(&server).await;
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(&server.uri(), v1(), dir.path());
    cfg.batch_lines = 10;
    cfg.gzip = false;
    let stats = run(cfg, trades(35)).await;
    assert_eq!((stats.records_written, stats.batches_written), (35, 4));
    let sizes: Vec<usize> =
        server.received_requests().await.unwrap().iter().map(|r| body_text(r).lines().count()).collect();
    assert_eq!(sizes, vec![10, 10, 10, 5]);
}

#[tokio::test]
async fn cancel_flushes_what_was_queued() {
    let server = MockServer::start().await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(204)).mount(&server).await;
    let dir = tempfile::tempdir().unwrap();
    let (publisher, sub) = input(1024);
    feed(&publisher, trades(50)).await;
    let cancel = CancellationToken::new();
    cancel.cancel();
    let stats = Buffer::new(config(&server.uri(), v1(), dir.path())).unwrap().run(sub, cancel).await.unwrap();
    assert_eq!(stats.records_written, 50);
    drop(publisher);
}

/// One transient failure right before shutdown must not leave the batch in the spool.
#[tokio::test]
async fn a_transient_error_at_shutdown_is_retried_not_spooled() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(204)).mount(&server).await;
    let dir = tempfile::tempdir().unwrap();
    let stats = run(config(&server.uri(), v1(), dir.path()), trades(300)).await;
    assert_eq!(
        (stats.records_written, stats.records_spooled, stats.batches_retried),
        (300, 0, 1),
        "{stats:?}"
    );
}

/// A cancel after the input closed means the caller is out of time: spool at once, lose nothing.
#[tokio::test]
async fn cancel_after_input_closed_spools_what_is_left_at_once() {
    let server = MockServer::start().await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(503)).mount(&server).await;
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(&server.uri(), v1(), dir.path());
    cfg.shutdown_timeout = Duration::from_secs(60);
    let (publisher, sub) = input(1024);
    let cancel = CancellationToken::new();
    let task = tokio::spawn(Buffer::new(cfg).unwrap().run(sub, cancel.clone()));
    feed(&publisher, trades(200)).await;
    drop(publisher);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    cancel.cancel();
    let stats = tokio::time::timeout(Duration::from_secs(5), task).await.unwrap().unwrap().unwrap();
    assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
    assert_eq!((stats.records_written, stats.records_spooled), (0, 200), "{stats:?}");
}

/// One line the server finds too large cannot be split: it is a dead letter with the
/// server's words, not retried.
#[tokio::test]
async fn a_single_line_too_large_is_a_dead_letter() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(413).set_body_string("request entity too large"))
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let stats = run(config(&server.uri(), v1(), dir.path()), trades(2)).await;
    assert_eq!((stats.records_written, stats.records_dead_lettered, stats.batches_split), (0, 2, 1));
    assert_eq!(server.received_requests().await.unwrap().len(), 3, "the pair, then each line once");
    let files: Vec<_> =
        std::fs::read_dir(dir.path().join("dead-letter")).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(files.len(), 2);
    for file in files {
        assert!(file.to_str().unwrap().ends_with("-incremental-413.lp"), "{file:?}");
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(text.contains("# status: 413\n# message: request entity too large\n"), "{text}");
        assert_eq!(common::lp::parse(&text).unwrap().len(), 1);
    }
}

/// v1: a write answered "database not found" creates the database, then is retried.
#[tokio::test]
async fn database_not_found_creates_it_and_retries() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/write"))
        .respond_with(
            ResponseTemplate::new(404)
                .set_body_string(r#"{"error":"database not found: \"md_incremental\""}"#),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/write"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/query"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let api = Api::V1 { user: None, password: None, create_databases: true };
    let stats = run(config(&server.uri(), api, dir.path()), trades(4)).await;
    assert_eq!((stats.records_written, stats.batches_retried, stats.records_dead_lettered), (4, 1, 0));
    let creates: Vec<String> = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == "/query")
        .map(|r| String::from_utf8(r.body.clone()).unwrap())
        .collect();
    // At start (both databases, in the background) and once more after the 404.
    assert!(creates.iter().filter(|q| q.contains("md_incremental")).count() >= 2, "{creates:?}");
    assert!(creates.iter().all(|q| q.starts_with("q=CREATE+DATABASE")), "{creates:?}");
}

/// Status packets are stored in the incremental target; a failing write shows in `health()`.
#[tokio::test]
async fn status_packets_are_stored_and_failures_show_in_health() {
    use md_core::{ConnId, Payload, Status};
    use md_sink_influx::SinkHealth;
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503).set_body_string("busy"))
        .up_to_n_times(3)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(204)).mount(&server).await;
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(&server.uri(), v1(), dir.path());
    cfg.gzip = false;
    cfg.retry.initial_backoff = Duration::from_millis(200);
    cfg.retry.max_backoff = Duration::from_millis(200);
    let buffer = Buffer::new(cfg).unwrap();
    let metrics = buffer.metrics();
    let (publisher, sub) = input(16);
    let task = tokio::spawn(buffer.run(sub, CancellationToken::new()));
    let mut status = trade("BTC-USDT", 1, 1, "1", "1");
    status.local_ts = 1_700_000_000_000_000_042;
    status.data = Payload::Status(Status::Connected { conn: ConnId(3) });
    publisher.publish(vec![status]).await;
    drop(publisher);
    let started = Instant::now();
    loop {
        if let SinkHealth::Failing { error, .. } = metrics.health() {
            assert!(error.contains("503") && error.contains("busy"), "{error}");
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(5), "never failing");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let stats = tokio::time::timeout(Duration::from_secs(10), task).await.unwrap().unwrap().unwrap();
    assert_eq!((stats.records_written, stats.packets_skipped, stats.batches_retried), (1, 0, 3));
    assert_eq!(metrics.health(), SinkHealth::Ok);
    let reqs = server.received_requests().await.unwrap();
    let last = reqs.last().unwrap();
    assert_eq!(last.url.query_pairs().find(|(k, _)| k == "db").unwrap().1, "md_incremental");
    assert_eq!(
        body_text(last),
        "status,exchange=binance,symbol=BTC-USDT event=\"connected\",conn=3i,local_ts=1700000000000000042i \
         1700000000000000042\n"
    );
}
