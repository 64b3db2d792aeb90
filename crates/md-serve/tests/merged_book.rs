//! The merged book end to end against md-sim: the levels equal the merge of md-sim's books,
//! a killed or silent venue leaves the summary marked and returns after its resync, and an
//! unknown symbol is refused without subscribing anything.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use common::{in_sync, rows, until, Stack, WAIT};
use md_core::{ExchangeId, Symbol};
use md_proto::orderbook::{Request, State};

const DEPTH: u32 = 10;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn summaries_equal_the_merge_of_md_sims_books_and_a_lost_venue_leaves_marked_and_returns() {
    let stack = Stack::start(Duration::from_secs(30), 40.0).await;
    let venues = common::venues();
    let btc = Symbol::new("BTC", "USDT");
    // The whole merged ladder, so that every venue's rows show whatever its prices.
    let mut stream = stack.stream("BTC-USDT", md_serve::MAX_DEPTH as u32).await;
    let first = stream.message().await.unwrap().unwrap();
    assert_eq!(first.symbol, "BTC-USDT");
    let all_in_sync = |s: &md_proto::orderbook::Summary| in_sync(s).len() == venues.len();
    until(&mut stream, "every venue in sync", all_in_sync).await;

    // Frozen, md-sim's books are the truth: a new stream's first summary is the current book.
    stack.sim.pause(true);
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let summary = stack.stream("btcusdt", DEPTH).await.message().await.unwrap().unwrap();
        let synced: Vec<ExchangeId> = in_sync(&summary).iter().filter_map(|v| ExchangeId::parse(v)).collect();
        let expected = stack.expected(&btc, DEPTH as usize, &synced);
        if synced.len() == venues.len() && rows(&summary) == expected {
            assert_eq!(summary.bids.len(), DEPTH as usize);
            // md-sim's venues walk their prices apart, so the merged book may be crossed: then
            // it says so, with a negative spread.
            let (bid, ask) = (&expected.0[0].1, &expected.1[0].1);
            assert_eq!(md_core::parse_decimal(&summary.spread).unwrap(), ask - bid);
            assert_eq!(summary.crossed, bid >= ask);
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "summary {summary:#?} never equalled md-sim's merge {expected:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stack.sim.pause(false);

    // Killed: the venue's rows leave at once, its state says why, and it comes back.
    let killed = venues[0];
    stack.sim.faults(killed).drop_connections();
    let name = killed.as_str();
    let gone = until(&mut stream, "the killed venue marked and out", |s| {
        let state = s.venues.iter().find(|v| v.exchange == name).unwrap();
        state.state != State::InSync as i32 && s.bids.iter().chain(&s.asks).all(|l| l.exchange != name)
    })
    .await;
    assert!(!gone.venues.iter().find(|v| v.exchange == name).unwrap().detail.is_empty(), "{gone:?}");
    until(&mut stream, "the killed venue back in sync, with rows", |s| {
        in_sync(s).iter().any(|v| v == name) && s.bids.iter().any(|l| l.exchange == name)
    })
    .await;

    // Silent (the socket stays open, nothing arrives): out within its liveness timeout, STALE.
    let silent = venues[1];
    let name = silent.as_str();
    let started = tokio::time::Instant::now();
    stack.sim.faults(silent).stall(stack.liveness * 3);
    let stale = until(&mut stream, "the silent venue stale and out", |s| {
        let state = s.venues.iter().find(|v| v.exchange == name).unwrap();
        state.state == State::Stale as i32 && s.bids.iter().chain(&s.asks).all(|l| l.exchange != name)
    })
    .await;
    assert!(started.elapsed() < stack.liveness * 3, "left only after {:?}", started.elapsed());
    assert!(
        stale.venues.iter().find(|v| v.exchange == name).unwrap().detail.contains("no frame"),
        "{stale:?}"
    );
    until(&mut stream, "the silent venue back in sync", |s| in_sync(s).iter().any(|v| v == name)).await;
    stack.cancel.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_symbol_is_refused_naming_the_accepted_forms_and_subscribes_nothing() {
    let stack = Stack::start(Duration::from_secs(30), 40.0).await;
    let mut client = stack.client().await;
    for bad in ["NOPE-USDT", "nopeusdt", ""] {
        let request = Request { symbol: bad.into(), depth: DEPTH, venues: vec![] };
        let status = client.book_summary(request).await.unwrap_err();
        assert_eq!(status.code(), tonic::Code::NotFound, "{bad:?}: {status:?}");
        assert!(status.message().contains("BTC-USDT") && status.message().contains("btcusdt"), "{status:?}");
    }
    let request = Request { symbol: "BTC-USDT".into(), depth: 1000, venues: vec![] };
    assert_eq!(client.book_summary(request).await.unwrap_err().code(), tonic::Code::InvalidArgument);
    let request = Request { symbol: "BTC-USDT".into(), depth: 0, venues: vec!["nasdaq".into()] };
    let status = client.book_summary(request).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    assert!(status.message().contains("binance"), "{status:?}");
    let metrics = stack.server.hub().metrics();
    assert_eq!(metrics.subscribes.load(Relaxed), 0);
    assert_eq!(metrics.streams_open.load(Relaxed), 0);
    for venue in common::venues() {
        for symbol in [Symbol::new("BTC", "USDT"), Symbol::new("ETH", "USDT")] {
            assert_eq!(stack.sim.subscribers(venue, &symbol), 0, "{venue} {symbol}");
        }
    }
    // The listing names what can be asked for; BTC-USD and BTC-USDT stay apart.
    let listed = client.symbols(md_proto::orderbook::SymbolsRequest {}).await.unwrap().into_inner();
    let names: Vec<&str> = listed.symbols.iter().map(|s| s.symbol.as_str()).collect();
    assert!(names.contains(&"BTC-USDT") && names.contains(&"BTC-USD"), "{names:?}");
    health_and_reflection(&stack).await;
    stack.cancel.cancel();
}

/// grpc.health.v1 says the service is serving; reflection lists it (for grpcurl and friends).
async fn health_and_reflection(stack: &Stack) {
    use tonic_health::pb::health_client::HealthClient;
    use tonic_health::pb::{health_check_response::ServingStatus, HealthCheckRequest};
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    use tonic_reflection::pb::v1::ServerReflectionRequest;

    let channel = tonic::transport::Channel::from_shared(format!("http://{}", stack.grpc))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let request = HealthCheckRequest { service: "orderbook.Aggregator".into() };
    let health = HealthClient::new(channel.clone()).check(request).await.unwrap().into_inner();
    assert_eq!(health.status, ServingStatus::Serving as i32);
    let ask = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut answers = ServerReflectionClient::new(channel)
        .server_reflection_info(futures::stream::iter([ask]))
        .await
        .unwrap()
        .into_inner();
    let Some(MessageResponse::ListServicesResponse(list)) =
        answers.message().await.unwrap().unwrap().message_response
    else {
        panic!("reflection did not list services");
    };
    let services: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    assert!(services.contains(&"orderbook.Aggregator".to_owned()), "{services:?}");
}
