//! Fault injection: each fault is seen by a client the way the real failure would be.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{http_get, next_event, within, Client, Event};
use md_core::{BookError, Control, ExchangeId, Symbol, SymbolError};
use md_sim::Simulator;

async fn synced(id: ExchangeId) -> (Simulator, Client) {
    let sim = within(5, Simulator::start(common::config(id))).await.unwrap();
    let mut client = Client::connect(&sim, id, None).await;
    client.sync_all().await;
    (sim, client)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skip_sequence_is_a_gap_for_every_rule() {
    for id in [ExchangeId::Binance, ExchangeId::Bybit, ExchangeId::Huobi] {
        let (sim, mut client) = synced(id).await;
        let eth = Symbol::new("ETH", "USDT");
        sim.faults(id).skip_sequence(&eth);
        assert!(client.read_until(5, |c| !c.book_errors.is_empty()).await, "{id}: no gap");
        let (symbol, error) = &client.book_errors[0];
        assert_eq!(symbol, &eth, "{id}");
        assert!(matches!(error, BookError::Gap { .. }), "{id}: {error:?}");
        assert_eq!(client.book_errors.len(), 1, "{id}: only ETH broke");
        assert_eq!(sim.stats(id).faults.skipped_updates, 1);
        assert!(client.parse_errors.is_empty());
        within(5, sim.shutdown()).await;
    }
}

/// Bitstamp's diffs have no sequence: a withheld diff is lost without a trace in the stream,
/// and only the book (against the truth, or a fresh REST snapshot) shows it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bitstamp_skip_sequence_is_lost_silently() {
    let (sim, mut client) = synced(ExchangeId::Bitstamp).await;
    let eth = Symbol::new("ETH", "USDT");
    sim.pause(true);
    client.drain(Duration::from_millis(200)).await;
    sim.faults(ExchangeId::Bitstamp).skip_sequence(&eth);
    sim.pause(false);
    // Stop right after the withheld update, so that later ones are unlikely to repair it.
    assert!(common::eventually(5, || sim.stats(ExchangeId::Bitstamp).faults.skipped_updates == 1).await);
    sim.pause(true);
    client.drain(Duration::from_millis(300)).await;
    assert!(client.book_errors.is_empty(), "{:?}", client.book_errors);
    let truth = sim.book(ExchangeId::Bitstamp, &eth).unwrap();
    let book = client.books[&eth].book();
    assert!(book.is_synced());
    let ours = (book.bids().copied().collect::<Vec<_>>(), book.asks().copied().collect::<Vec<_>>());
    assert_ne!(ours, (truth.bids, truth.asks), "the lost diff must leave the book wrong");
    drop(book);
    within(5, sim.shutdown()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_frames_fail_to_parse_and_the_stream_goes_on() {
    for (id, bad) in
        [(ExchangeId::Binance, 1), (ExchangeId::Bybit, 1), (ExchangeId::Huobi, 2), (ExchangeId::Bitstamp, 1)]
    {
        let (sim, mut client) = synced(id).await;
        sim.faults(id).send_malformed();
        assert!(client.read_until(5, |c| c.parse_errors.len() == bad).await, "{id}");
        let packets = client.packets;
        assert!(client.read_until(5, |c| c.packets > packets + 20).await, "{id}: stream stopped");
        assert_eq!(client.parse_errors.len(), bad, "{id}: {:?}", client.parse_errors);
        if id == ExchangeId::Huobi {
            let kinds: Vec<String> = client.parse_errors.iter().map(|e| format!("{e:?}")).collect();
            assert!(kinds.iter().any(|k| k.starts_with("Json")), "{kinds:?}");
            assert!(kinds.iter().any(|k| k.starts_with("Decompress")), "{kinds:?}");
        }
        assert!(client.book_errors.is_empty());
        assert_eq!(sim.stats(id).faults.malformed_frames, bad as u64);
        within(5, sim.shutdown()).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drop_connections_closes_the_socket() {
    for id in ExchangeId::BUILT_IN {
        let (sim, mut client) = synced(id).await;
        assert_eq!(sim.stats(id).connections_open, 1);
        sim.faults(id).drop_connections();
        assert!(client.read_until(5, |c| c.closed).await, "{id}: still open");
        let stats = sim.stats(id);
        assert_eq!(stats.faults.dropped_connections, 1);
        // A new connection works.
        let mut again = Client::connect(&sim, id, None).await;
        again.sync_all().await;
        within(5, sim.shutdown()).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stall_sends_nothing_for_a_while_then_resumes_on_the_same_socket() {
    let (sim, mut client) = synced(ExchangeId::Binance).await;
    sim.faults(ExchangeId::Binance).stall(Duration::from_millis(700));
    // Frames already on the wire may still arrive at once.
    client.drain(Duration::from_millis(100)).await;
    let quiet_from = tokio::time::Instant::now();
    let mut first_after = None;
    while first_after.is_none() {
        match next_event(&mut client.ws, Duration::from_secs(5)).await {
            Event::Data(m) => {
                first_after = Some(quiet_from.elapsed());
                let _ = client.handle(&m).await;
            }
            Event::Heartbeat => {
                let at = quiet_from.elapsed();
                assert!(at >= Duration::from_millis(500), "a ping during the stall, after {at:?}");
            }
            other => panic!("{other:?}"),
        }
    }
    let gap = first_after.unwrap();
    assert!(gap >= Duration::from_millis(400), "data after {gap:?}");
    let packets = client.packets;
    assert!(client.read_until(5, |c| c.packets > packets + 50).await);
    assert!(client.book_errors.is_empty() && client.parse_errors.is_empty());
    assert_eq!(sim.stats(ExchangeId::Binance).faults.stalled_connections, 1);
    within(5, sim.shutdown()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_connection_whose_queue_overflows_is_dropped_and_others_go_on() {
    let mut config = common::config(ExchangeId::Bybit);
    // Small enough that the stalled connection overflows within a second, large enough that a
    // reader delayed by a loaded machine (400 messages/s here) never does.
    config.queue_capacity = 256;
    config.updates_per_sec = 200.0;
    let sim = within(5, Simulator::start(config)).await.unwrap();
    let mut slow = Client::connect(&sim, ExchangeId::Bybit, None).await;
    slow.sync_all().await;
    sim.faults(ExchangeId::Bybit).stall(Duration::from_secs(30));
    let mut fast = Client::connect(&sim, ExchangeId::Bybit, None).await;
    fast.sync_all().await;
    assert!(slow.read_until(5, |c| c.closed).await, "stalled connection not dropped");
    let packets = fast.packets;
    assert!(fast.read_until(5, |c| c.packets > packets + 100).await);
    assert!(!fast.closed && fast.book_errors.is_empty());
    let stats = sim.stats(ExchangeId::Bybit);
    assert_eq!(stats.queue_overflows, 1);
    assert_eq!(stats.connections_open, 1);
    within(5, sim.shutdown()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huobi_drops_a_client_that_never_answers_after_two_pings() {
    let mut config = common::config(ExchangeId::Huobi);
    config.ping_interval = Duration::from_millis(150);
    let sim = within(5, Simulator::start(config)).await.unwrap();
    let mut client = Client::connect(&sim, ExchangeId::Huobi, None).await;
    client.answer_pings = false;
    assert!(client.read_until(5, |c| c.closed).await, "not disconnected");
    let pings = client.controls.iter().filter(|c| matches!(c, Control::Reply(_))).count();
    assert_eq!(pings, 2);
    let stats = sim.stats(ExchangeId::Huobi);
    assert_eq!(stats.ping_timeouts, 1);
    assert_eq!(stats.pongs_received, 0);
    within(5, sim.shutdown()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_429_answers_too_many_requests_with_retry_after() {
    let sim = within(5, Simulator::start(common::config(ExchangeId::Binance))).await.unwrap();
    let rest = sim.rest_url(ExchangeId::Binance);
    sim.faults(ExchangeId::Binance).snapshot_429(2);
    let (status, head, body) = http_get(&rest, "/api/v3/depth?symbol=BTCUSDT&limit=5").await;
    assert_eq!(status, 429);
    assert!(head.contains("\r\nretry-after: 1"), "{head}");
    assert!(body.contains("-1003"));
    let client = Client::connect(&sim, ExchangeId::Binance, None).await;
    let info = sim.symbols(ExchangeId::Binance).remove(0);
    let err = within(10, client.exchange.fetch_snapshot(&info)).await.unwrap_err();
    assert!(matches!(err, SymbolError::Status { status: 429, .. }), "{err:?}");
    assert!(err.is_retryable());
    let (status, _, _) = http_get(&rest, "/api/v3/depth?symbol=BTCUSDT&limit=5").await;
    assert_eq!(status, 200);
    assert_eq!(sim.stats(ExchangeId::Binance).snapshot_429s, 2);
    within(5, sim.shutdown()).await;

    // HTX refuses the in-band `req` the way it refuses pulls that come too fast.
    let sim = within(5, Simulator::start(common::config(ExchangeId::Huobi))).await.unwrap();
    let mut client = Client::connect(&sim, ExchangeId::Huobi, None).await;
    sim.faults(ExchangeId::Huobi).snapshot_429(1);
    client.send(r#"{"req":"market.btcusdt.mbp.150","id":"r1"}"#.into()).await;
    assert!(client.read_until(5, |c| c.controls.iter().any(|x| matches!(x, Control::Rejected { .. }))).await);
    assert!(client
        .controls
        .contains(&Control::Rejected { message: "bad-request: 429 too many request (id r1)".into() }));
    within(5, sim.shutdown()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_notices_parse_as_shutdown() {
    // Binance `serverShutdown`, Bitstamp `bts:request_reconnect`.
    for id in [ExchangeId::Binance, ExchangeId::Bitstamp] {
        let (sim, mut client) = synced(id).await;
        sim.faults(id).shutdown_notice();
        assert!(client.read_until(5, |c| c.controls.contains(&Control::Shutdown)).await, "{id}");
        assert_eq!(sim.stats(id).faults.shutdown_notices, 1);
        within(5, sim.shutdown()).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bitstamp_snapshot_faults_answer_429_then_404() {
    let sim = within(5, Simulator::start(common::config(ExchangeId::Bitstamp))).await.unwrap();
    let rest = sim.rest_url(ExchangeId::Bitstamp);
    let eth = Symbol::new("ETH", "USDT");
    let faults = sim.faults(ExchangeId::Bitstamp);
    faults.snapshot_429(1);
    faults.refuse_snapshots(&eth, true);
    let (status, head, _) = http_get(&rest, "/api/v2/order_book/ethusdt/").await;
    assert_eq!(status, 429);
    assert!(head.contains("\r\nretry-after: 1"), "{head}");
    let client = Client::connect(&sim, ExchangeId::Bitstamp, None).await;
    let info = sim.symbols(ExchangeId::Bitstamp).into_iter().find(|i| i.symbol == eth).unwrap();
    let err = within(10, client.exchange.fetch_snapshot(&info)).await.unwrap_err();
    assert!(matches!(err, SymbolError::Status { status: 404, .. }) && !err.is_retryable(), "{err:?}");
    faults.refuse_snapshots(&eth, false);
    let response = within(10, client.exchange.fetch_snapshot(&info)).await.unwrap();
    assert!(client.exchange.parse_snapshot(&info, &response.body, 0).is_ok());
    let stats = sim.stats(ExchangeId::Bitstamp);
    assert_eq!((stats.snapshot_429s, stats.snapshots_refused, stats.snapshots_served), (1, 1, 1));
    within(5, sim.shutdown()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_snapshots_answer_invalid_symbol_until_allowed_again() {
    let sim = within(5, Simulator::start(common::config(ExchangeId::Binance))).await.unwrap();
    let rest = sim.rest_url(ExchangeId::Binance);
    let (btc, eth) = (Symbol::new("BTC", "USDT"), Symbol::new("ETH", "USDT"));
    let faults = sim.faults(ExchangeId::Binance);
    faults.refuse_snapshots(&eth, true);
    let (status, _, body) = http_get(&rest, "/api/v3/depth?symbol=ETHUSDT&limit=5").await;
    assert_eq!(status, 400);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).unwrap(),
        serde_json::json!({"code":-1121,"msg":"Invalid symbol."})
    );
    // Only that symbol.
    let (status, _, _) = http_get(&rest, "/api/v3/depth?symbol=BTCUSDT&limit=5").await;
    assert_eq!(status, 200);
    // md-exchanges sees a refusal that is not worth retrying at once.
    let client = Client::connect(&sim, ExchangeId::Binance, None).await;
    let info = sim.symbols(ExchangeId::Binance).into_iter().find(|i| i.symbol == eth).unwrap();
    let err = within(10, client.exchange.fetch_snapshot(&info)).await.unwrap_err();
    assert!(matches!(err, SymbolError::Status { status: 400, .. }), "{err:?}");
    // A rate limit comes first.
    faults.snapshot_429(1);
    assert_eq!(http_get(&rest, "/api/v3/depth?symbol=ETHUSDT").await.0, 429);
    assert_eq!(http_get(&rest, "/api/v3/depth?symbol=ETHUSDT").await.0, 400);
    faults.refuse_snapshots(&eth, false);
    let (status, _, body) = http_get(&rest, "/api/v3/depth?symbol=ETHUSDT&limit=5").await;
    assert_eq!(status, 200, "{body}");
    let stats = sim.stats(ExchangeId::Binance);
    assert_eq!(stats.snapshots_refused, 3);
    assert_eq!(stats.snapshot_429s, 1);
    assert_eq!(stats.snapshots_served, 2);
    // The listing is not touched: refusing snapshots and delisting are separate switches.
    assert!(sim.symbols(ExchangeId::Binance).iter().any(|i| i.symbol == eth));
    assert!(sim.book(ExchangeId::Binance, &btc).is_some());
    within(5, sim.shutdown()).await;

    // HTX refuses the in-band `req` as it refuses a symbol it does not have.
    let sim = within(5, Simulator::start(common::config(ExchangeId::Huobi))).await.unwrap();
    let mut client = Client::connect(&sim, ExchangeId::Huobi, None).await;
    sim.faults(ExchangeId::Huobi).refuse_snapshots(&eth, true);
    let info = sim.symbols(ExchangeId::Huobi).into_iter().find(|i| i.symbol == eth).unwrap();
    client.send(client.exchange.snapshot_request(&info).unwrap()).await;
    assert!(client.read_until(5, |c| c.controls.iter().any(|x| matches!(x, Control::Rejected { .. }))).await);
    assert!(
        client.controls.contains(&Control::Rejected {
            message: "bad-request: invalid symbol ethusdt (id ethusdt)".into()
        }),
        "{:?}",
        client.controls
    );
    assert_eq!(sim.stats(ExchangeId::Huobi).snapshots_refused, 1);
    within(5, sim.shutdown()).await;
}
