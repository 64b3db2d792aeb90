//! `md-ingest --grpc-addr`: the merged book served from the recording process. A recorded
//! symbol is borrowed, never subscribed again nor unsubscribed by the server; a symbol the
//! recording does not hold is refused (a viewer must not add a patchy symbol to a recording);
//! the recording goes on and stores.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use md_e2e::{free_port, md_ingest, stored_lines, terminate, KillOnDrop};
use md_proto::orderbook::aggregator_client::AggregatorClient;
use md_proto::orderbook::{Request, State};

const WAIT: Duration = Duration::from_secs(60);

async fn metric(http: &str, name: &str) -> Option<u64> {
    let text = reqwest::get(format!("http://{http}/metrics")).await.ok()?.text().await.ok()?;
    text.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

async fn eventually_metric(http: &str, name: &str, wanted: u64) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let value = metric(http, name).await;
        if value == Some(wanted) {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "{name} stayed {value:?}, wanted {wanted}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn in_sync_summary(
    client: &mut AggregatorClient<tonic::transport::Channel>,
    symbol: &str,
    venues: usize,
) {
    let request = Request { symbol: symbol.into(), depth: 5, venues: vec![] };
    let mut stream = client.book_summary(request).await.unwrap().into_inner();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let summary = tokio::time::timeout_at(deadline, stream.message()).await.unwrap().unwrap().unwrap();
        let synced = summary.venues.iter().filter(|v| v.state == State::InSync as i32).count();
        if synced == venues && !summary.bids.is_empty() {
            assert_eq!(summary.symbol, symbol);
            return;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_recording_process_serves_the_merged_book_and_keeps_recording() {
    let data = tempfile::tempdir().unwrap();
    let (grpc, http) = (format!("127.0.0.1:{}", free_port()), format!("127.0.0.1:{}", free_port()));
    let mut command = md_ingest();
    command.args(["--simulate", "--exchanges", "binance,bybit,huobi", "--symbols", "BTC-USDT,ETH-USDT"]);
    command.args(["--grpc-addr", &grpc, "--http-addr", &http, "--grace", "500ms", "--status-interval", "0"]);
    command.arg("--data-dir").arg(data.path());
    let mut process = KillOnDrop::spawn(&mut command, false);
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut client = loop {
        if let Ok(client) = AggregatorClient::connect(format!("http://{grpc}")).await {
            break client;
        }
        if let Some(status) = process.child.try_wait().unwrap() {
            panic!("md-ingest exited before serving gRPC on {grpc}: {status}");
        }
        assert!(tokio::time::Instant::now() < deadline, "md-ingest never served gRPC on {grpc}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // Recorded symbols: merged at once, borrowed from the recording.
    in_sync_summary(&mut client, "BTC-USDT", 3).await;
    assert_eq!(
        metric(&http, "md_serve_subscribes_total").await,
        Some(0),
        "the recording's symbol was subscribed again"
    );
    eventually_metric(&http, "md_serve_topics", 0).await;
    let listed = client.symbols(md_proto::orderbook::SymbolsRequest {}).await.unwrap().into_inner();
    let unrecorded = listed
        .symbols
        .iter()
        .map(|s| s.symbol.clone())
        .find(|s| s != "BTC-USDT" && s != "ETH-USDT")
        .expect("md-sim lists a symbol md-ingest does not record");
    // A symbol the recording does not hold is refused: viewers do not change a recording.
    let request = Request { symbol: unrecorded.clone(), depth: 5, venues: vec![] };
    let status = client.book_summary(request).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::NotFound);
    assert!(status.message().contains("not recorded"), "{status:?}");
    assert_eq!(metric(&http, "md_serve_subscribes_total").await, Some(0));
    // The recording still holds both its symbols on every venue.
    let subscribed = reqwest::get(format!("http://{http}/metrics")).await.unwrap().text().await.unwrap();
    let symbols: Vec<&str> = subscribed.lines().filter(|l| l.starts_with("md_symbols_subscribed{")).collect();
    assert_eq!(symbols.len(), 3, "{subscribed}");
    assert!(symbols.iter().all(|l| l.ends_with(" 2")), "{symbols:?}");
    drop(client);
    terminate(process.id());
    let status = process.child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    let lines = stored_lines(&data.path().join("lines"));
    assert!(lines.iter().any(|l| l.starts_with("trade,")), "nothing recorded");
    let tag = format!("symbol={unrecorded}");
    assert!(
        lines.iter().all(|l| !l.contains(&format!("{tag},")) && !l.contains(&format!("{tag} "))),
        "the client's symbol was recorded"
    );
}
