//! A thousand client streams, each over its own connection, come and go: afterwards no
//! stream, merged book, venue subscription or task is left (all counted).
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use common::{Stack, WAIT};
use md_core::Symbol;
use md_proto::orderbook::Request;

const CLIENTS: usize = 1000;

async fn eventually(what: &str, done: impl Fn() -> bool, state: impl Fn() -> String) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !done() {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}: {}", state());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The soft limit on open files, from `/proc/self/limits` (1024, the usual default, if unread).
fn open_files_limit() -> usize {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|n| n.parse().ok())
        .unwrap_or(1024)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_clients_connect_and_leave_and_leak_no_stream_topic_subscription_or_task() {
    // Few updates: this is about connections and counting, not throughput (a debug build
    // encoding 1,000 streams' summaries would spend the test's time on that).
    let stack = Stack::start_with(Duration::from_millis(200), 1.0, |config| {
        // Should connections have to be shared (a low descriptor limit), they may carry many.
        config.max_symbols_per_client = CLIENTS as u32;
    })
    .await;
    let metrics = std::sync::Arc::clone(stack.server.hub().metrics());
    let runtime = tokio::runtime::Handle::current().metrics();
    let venues = common::venues();
    let symbols = ["BTC-USDT", "ETH-USDT"];
    // Settle the drivers' own tasks first, so the baseline is theirs alone.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let baseline = runtime.num_alive_tasks();

    // One connection per client where the descriptor limit allows (both ends are in this
    // process: two descriptors a connection); else clients share connections.
    let connections = CLIENTS.min(open_files_limit().saturating_sub(256) / 2).max(1);
    let mut clients = Vec::with_capacity(connections);
    for _ in 0..connections {
        clients.push(stack.client().await);
    }
    let mut streams = Vec::with_capacity(CLIENTS);
    for i in 0..CLIENTS {
        let mut client = clients[i % connections].clone();
        let request = Request { symbol: symbols[i % 2].into(), depth: 5, venues: vec![] };
        let mut stream = client.book_summary(request).await.unwrap().into_inner();
        let first = stream.message().await.unwrap().unwrap();
        assert_eq!(first.symbol, symbols[i % 2]);
        streams.push((client, stream));
    }
    assert_eq!(metrics.streams_open.load(Relaxed), CLIENTS as u64);
    assert_eq!(metrics.topics.load(Relaxed), 2);
    assert_eq!(metrics.subscriptions_held.load(Relaxed), (venues.len() * 2) as u64);
    for venue in &venues {
        for symbol in [Symbol::new("BTC", "USDT"), Symbol::new("ETH", "USDT")] {
            assert_eq!(
                stack.sim.subscribers(*venue, &symbol),
                1,
                "{venue} {symbol}: one subscription however many clients"
            );
        }
    }

    drop(streams);
    drop(clients);
    eventually("every stream closed", || metrics.streams_open.load(Relaxed) == 0, || metrics.render()).await;
    assert_eq!(metrics.streams_closed.load(Relaxed), CLIENTS as u64);
    eventually(
        "the grace period over and every subscription released",
        || metrics.topics.load(Relaxed) == 0 && metrics.subscriptions_held.load(Relaxed) == 0,
        || metrics.render(),
    )
    .await;
    assert_eq!(metrics.unsubscribes.load(Relaxed), (venues.len() * 2) as u64);
    eventually(
        "md-sim without subscribers",
        || {
            venues.iter().all(|v| {
                [Symbol::new("BTC", "USDT"), Symbol::new("ETH", "USDT")]
                    .iter()
                    .all(|s| stack.sim.subscribers(*v, s) == 0)
            })
        },
        String::new,
    )
    .await;
    eventually(
        "no task beyond the baseline",
        || runtime.num_alive_tasks() <= baseline,
        || format!("{} alive, baseline {baseline}", runtime.num_alive_tasks()),
    )
    .await;
    stack.cancel.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_and_streams_past_the_limits_are_refused_and_counted() {
    let stack = Stack::start_with(Duration::from_secs(5), 1.0, |config| {
        config.max_connections = 2;
        config.hub.max_streams = 3;
    })
    .await;
    let metrics = std::sync::Arc::clone(stack.server.hub().metrics());
    let request = || Request { symbol: "BTC-USDT".into(), depth: 1, venues: vec![] };
    let (mut a, mut b) = (stack.client().await, stack.client().await);
    let mut held = Vec::new();
    for on_a in [true, true, false] {
        let client = if on_a { &mut a } else { &mut b };
        held.push(client.book_summary(request()).await.unwrap().into_inner());
    }
    let status = b.book_summary(request()).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::ResourceExhausted, "{status:?}");
    assert_eq!(metrics.requests_over_limit.load(Relaxed), 1);
    // A third connection is closed on accept.
    let third =
        md_proto::orderbook::aggregator_client::AggregatorClient::connect(format!("http://{}", stack.grpc))
            .await;
    if let Ok(mut third) = third {
        assert!(third.book_summary(request()).await.is_err());
    }
    eventually(
        "the refused connection counted",
        || metrics.connections_refused.load(Relaxed) >= 1,
        || metrics.render(),
    )
    .await;
    drop(held);
    eventually("the streams closed", || metrics.streams_open.load(Relaxed) == 0, || metrics.render()).await;
    // Room again: a new stream is served.
    let mut stream = a.book_summary(request()).await.unwrap().into_inner();
    assert!(stream.message().await.unwrap().is_some());
    stack.cancel.cancel();
}
