//! Each venue end to end: subscribe like md-exchanges does, parse every frame with its
//! parser, keep verified books, and end with exactly the simulator's true books and trades.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::{within, Client};
use md_core::{Control, ExchangeId, Level, Payload};
use md_sim::Simulator;

/// Syncs, lets the books run, pauses, drains, and compares books and trades with the truth.
async fn round_trip(id: ExchangeId, url: Option<String>, sim: &Simulator) -> Client {
    let mut client = Client::connect(sim, id, url).await;
    client.sync_all().await;
    let before = client.data_frames;
    client.read_until(10, |c| c.data_frames >= before + 300).await;
    sim.pause(true);
    client.drain(Duration::from_millis(500)).await;
    assert!(!client.closed, "{id}: connection closed");
    assert!(client.parse_errors.is_empty(), "{id}: {:?}", client.parse_errors);
    assert!(client.book_errors.is_empty(), "{id}: {:?}", client.book_errors);
    assert!(client.packets > 300, "{id}: only {} packets", client.packets);
    for info in sim.symbols(id) {
        let truth = sim.book(id, &info.symbol).unwrap();
        let book = client.books[&info.symbol].book();
        assert!(book.is_synced(), "{id} {}", info.symbol);
        assert_eq!(book.seq(), truth.seq, "{id} {}", info.symbol);
        let bids: Vec<Level> = book.bids().copied().collect();
        let asks: Vec<Level> = book.asks().copied().collect();
        assert_eq!(bids, truth.bids, "{id} {} bids", info.symbol);
        assert_eq!(asks, truth.asks, "{id} {} asks", info.symbol);
        assert_eq!(truth.bids.len(), 20);
    }
    // Exactly once: one connection, so what it read is what the simulator wrote.
    let sent = sim.trades_sent(id);
    let unique: HashSet<_> = sent.iter().cloned().collect();
    assert_eq!(unique.len(), sent.len(), "{id}: a trade recorded twice");
    assert!(!sent.is_empty());
    assert_eq!(client.trades, sent, "{id}: trades read differ from trades sent");
    client
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binance_stream_and_rest_snapshot_rebuild_the_true_book() {
    let sim = within(5, Simulator::start(common::config(ExchangeId::Binance))).await.unwrap();
    let client = round_trip(ExchangeId::Binance, None, &sim).await;
    assert!(client.controls.contains(&Control::Subscribed { topic: "1".into() }));
    let stats = sim.stats(ExchangeId::Binance);
    assert_eq!(stats.connections_accepted, 1);
    assert_eq!(stats.subscribe_messages, 1);
    assert_eq!(stats.snapshots_served, 3);
    assert!(stats.pings_sent > 0);
    assert!(stats.pongs_received > 0, "{stats:?}");
    within(5, sim.shutdown()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bybit_snapshot_and_deltas_rebuild_the_true_book() {
    let sim = within(5, Simulator::start(common::config(ExchangeId::Bybit))).await.unwrap();
    let mut client = round_trip(ExchangeId::Bybit, None, &sim).await;
    assert!(client.controls.contains(&Control::Subscribed { topic: "subscribe".into() }));
    client.send(r#"{"req_id":"p1","op":"ping"}"#.into()).await;
    assert!(client.read_until(5, |c| c.controls.last() == Some(&Control::Pong)).await);
    let stats = sim.stats(ExchangeId::Bybit);
    assert_eq!(stats.client_pings_received, 1);
    assert_eq!(stats.snapshots_served, 3);
    assert_eq!(stats.pings_sent, 0, "Bybit servers do not ping");
    within(5, sim.shutdown()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bitstamp_diffs_and_rest_snapshot_rebuild_the_true_book() {
    let sim = within(5, Simulator::start(common::config(ExchangeId::Bitstamp))).await.unwrap();
    let mut client = round_trip(ExchangeId::Bitstamp, None, &sim).await;
    // One ack per channel, naming it.
    assert!(client.controls.contains(&Control::Subscribed { topic: "diff_order_book_btcusdt".into() }));
    assert_eq!(client.acks(), 6);
    client.send(r#"{"event":"bts:heartbeat"}"#.into()).await;
    assert!(client.read_until(5, |c| c.controls.last() == Some(&Control::Pong)).await);
    let stats = sim.stats(ExchangeId::Bitstamp);
    assert_eq!(stats.subscribe_messages, 6);
    assert_eq!(stats.client_pings_received, 1);
    assert_eq!(stats.snapshots_served, 3);
    assert!(stats.pings_sent > 0, "WebSocket pings as the real venue sends them");
    within(5, sim.shutdown()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bitstamp_acks_unknown_pairs_then_stays_silent_and_refuses_bad_requests() {
    let sim = within(5, Simulator::start(common::config(ExchangeId::Bitstamp))).await.unwrap();
    let mut client = Client::connect(&sim, ExchangeId::Bitstamp, None).await;
    // A pair the venue does not have: acked like any other, then nothing, forever.
    client.send(r#"{"event":"bts:subscribe","data":{"channel":"live_trades_dogeusdt"}}"#.into()).await;
    client.send(r#"{"event":"bts:subscribe","data":{"channel":"diff_order_book_dogeusdt"}}"#.into()).await;
    assert!(client.read_until(5, |c| c.acks() == 2).await);
    client.drain(Duration::from_millis(300)).await;
    assert_eq!(client.packets, 0);
    for bad in [
        r#"{"event":"bts:subscribe","data":{"channel":"live_trades_BTCUSDT"}}"#,
        r#"{"event":"bts:subscribe","data":{"channel":"kline_btcusdt"}}"#,
        r#"{"event":"bts:nothing"}"#,
        "{not json",
    ] {
        client.send(bad.into()).await;
    }
    let refused = |c: &Client| c.controls.iter().filter(|x| matches!(x, Control::Rejected { .. })).count();
    assert!(client.read_until(5, |c| refused(c) == 4).await, "{:?}", client.controls);
    let messages: Vec<&Control> =
        client.controls.iter().filter(|x| matches!(x, Control::Rejected { .. })).collect();
    assert_eq!(
        messages,
        [
            &Control::Rejected { message: "code 4009: Invalid channel provided.".into() },
            &Control::Rejected { message: "code 4009: Bad subscription string.".into() },
            &Control::Rejected { message: "code 4009: Bad subscription string.".into() },
            &Control::Rejected { message: "code null: Incorrect JSON format.".into() },
        ]
    );
    assert_eq!(client.packets, 0);
    // A client frame over 512 bytes: the venue drops the connection.
    let long =
        format!(r#"{{"event":"bts:subscribe","data":{{"channel":"live_trades_{}"}}}}"#, "x".repeat(480));
    assert!(long.len() > 512);
    client.send(long).await;
    assert!(client.read_until(5, |c| c.closed).await, "still open after a 513-byte frame");
    within(5, sim.shutdown()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bitstamp_rest_listing_and_full_depth_book() {
    let mut config = common::config(ExchangeId::Bitstamp);
    config.updates_per_sec = 0.0;
    let sim = within(5, Simulator::start(config)).await.unwrap();
    let rest = sim.rest_url(ExchangeId::Bitstamp);
    let (status, _, body) = common::http_get(&rest, "/api/v2/trading-pairs-info/").await;
    assert_eq!(status, 200);
    let pairs: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(pairs[0]["url_symbol"], "btcusdt");
    assert_eq!(pairs[0]["name"], "BTC/USDT");
    assert_eq!(pairs[0]["trading"], "Enabled");
    let (status, _, body) = common::http_get(&rest, "/api/v2/order_book/ethusdt/").await;
    assert_eq!(status, 200);
    let book: serde_json::Value = serde_json::from_str(&body).unwrap();
    let truth = sim.book(ExchangeId::Bitstamp, &md_core::Symbol::new("ETH", "USDT")).unwrap();
    assert_eq!(book["microtimestamp"], truth.seq.to_string());
    assert_eq!(book["timestamp"], (truth.seq / 1_000_000).to_string());
    assert_eq!(book["bids"].as_array().unwrap().len(), 20, "full depth");
    assert_eq!(book["asks"][0][1].as_str().unwrap().split('.').nth(1).unwrap().len(), 8);
    for path in ["/api/v2/order_book/dogeusdt/", "/api/v2/order_book/ETHUSDT/", "/api/v2/ticker/ethusdt/"] {
        assert_eq!(common::http_get(&rest, path).await.0, 404, "{path}");
    }
    within(5, sim.shutdown()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bybit_small_depth_topics_stay_exact_and_big_requests_are_refused() {
    let sim = within(5, Simulator::start(common::config(ExchangeId::Bybit))).await.unwrap();
    let mut client = Client::connect(&sim, ExchangeId::Bybit, None).await;
    client.send(r#"{"op":"subscribe","args":["orderbook.1.BTCUSDT"]}"#.into()).await;
    client.read_until(5, |c| c.data_frames > 200).await;
    sim.pause(true);
    client.drain(Duration::from_millis(400)).await;
    assert!(client.parse_errors.is_empty() && client.book_errors.is_empty());
    let truth = sim.book(ExchangeId::Bybit, &md_core::Symbol::new("BTC", "USDT")).unwrap();
    let book = client.books[&md_core::Symbol::new("BTC", "USDT")].book();
    assert_eq!(book.depth(), (1, 1));
    assert_eq!(book.best_bid(), truth.bids.first());
    assert_eq!(book.best_ask(), truth.asks.first());
    assert_eq!(book.seq(), truth.seq);
    drop(book);

    let args: Vec<String> = (0..11).map(|i| format!("\"publicTrade.X{i}\"")).collect();
    client.send(format!(r#"{{"req_id":"big","op":"subscribe","args":[{}]}}"#, args.join(","))).await;
    client.send(r#"{"op":"subscribe","args":["publicTrade.DOGEUSDT"]}"#.into()).await;
    client
        .read_until(5, |c| c.controls.iter().filter(|x| matches!(x, Control::Rejected { .. })).count() == 2)
        .await;
    let rejected: Vec<_> = client
        .controls
        .iter()
        .filter_map(|c| match c {
            Control::Rejected { message } => Some(message.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(rejected.len(), 2, "{rejected:?}");
    assert!(rejected[0].contains("args size"), "{rejected:?}");
    assert!(rejected[1].contains("DOGEUSDT"), "{rejected:?}");
    within(5, sim.shutdown()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huobi_mbp_feed_and_req_image_rebuild_the_true_book() {
    let sim = within(5, Simulator::start(common::config(ExchangeId::Huobi))).await.unwrap();
    let feed = sim.ws_url(ExchangeId::Huobi).replace("/ws", "/feed");
    assert!(feed.ends_with("/feed"));
    let client = round_trip(ExchangeId::Huobi, Some(feed), &sim).await;
    assert!(client.controls.iter().any(|c| matches!(c, Control::Reply(r) if r.starts_with("{\"pong\":"))));
    let stats = sim.stats(ExchangeId::Huobi);
    assert!(stats.pings_sent >= 3, "{stats:?}");
    assert!(stats.pongs_received >= 3, "{stats:?}");
    assert_eq!(stats.ping_timeouts, 0);
    assert_eq!(stats.snapshots_served, 3);
    within(5, sim.shutdown()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huobi_step0_images_equal_the_true_book_and_bad_topics_are_refused() {
    let sim = within(5, Simulator::start(common::config(ExchangeId::Huobi))).await.unwrap();
    let mut client = Client::connect(&sim, ExchangeId::Huobi, None).await;
    client.send(r#"{"sub":"market.ethusdt.depth.step0","id":7}"#.into()).await;
    client.send(r#"{"sub":"market.foousdt.trade.detail","id":"x"}"#.into()).await;
    client.send(r#"{"sub":"market.ethusdt.kline.1min","id":"y"}"#.into()).await;
    assert!(client.read_until(5, |c| c.books.values().any(|b| b.book().is_synced())).await);
    client
        .read_until(5, |c| c.controls.iter().filter(|x| matches!(x, Control::Rejected { .. })).count() == 2)
        .await;
    let rejected: Vec<String> = client
        .controls
        .iter()
        .filter_map(|c| match c {
            Control::Rejected { message } => Some(message.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(
        rejected,
        vec![
            "bad-request: invalid symbol foousdt (id x)".to_string(),
            "bad-request: invalid topic market.ethusdt.kline.1min (id y)".to_string(),
        ]
    );
    assert!(client.controls.contains(&Control::Subscribed { topic: "market.ethusdt.depth.step0".into() }));
    // Pause, then wait for the next periodic image: it must be the true book.
    sim.pause(true);
    let eth = md_core::Symbol::new("ETH", "USDT");
    let truth = sim.book(ExchangeId::Huobi, &eth).unwrap();
    assert!(client.read_until(5, |c| c.books[&eth].book().seq() == truth.seq).await);
    let book = client.books[&eth].book();
    assert_eq!(book.bids().copied().collect::<Vec<_>>(), truth.bids);
    assert_eq!(book.asks().copied().collect::<Vec<_>>(), truth.asks);
    assert!(client.parse_errors.is_empty());
    within(5, sim.shutdown()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binance_url_streams_and_unknown_streams() {
    let sim = within(5, Simulator::start(common::config(ExchangeId::Binance))).await.unwrap();
    let url = format!("{}?streams=ethusdt@trade/ethusdt@depth@100ms", sim.ws_url(ExchangeId::Binance));
    let mut client = Client::connect(&sim, ExchangeId::Binance, Some(url)).await;
    assert!(client.read_until(5, |c| !c.trades.is_empty() && c.packets > 20).await);
    client.send(r#"{"method":"SUBSCRIBE","params":["foousdt@trade"],"id":9}"#.into()).await;
    assert!(client.read_until(5, |c| c.controls.iter().any(|x| matches!(x, Control::Rejected { .. }))).await);
    assert!(client
        .controls
        .contains(&Control::Rejected { message: "code 2: Invalid request: unknown stream".into() }));
    assert!(client.trades.iter().all(|(s, _)| s.as_str() == "ETH-USDT"));
    // A request path that is no venue's: the handshake is refused.
    let bad = sim.ws_url(ExchangeId::Binance).replace("/stream", "/nope");
    assert!(within(5, tokio_tungstenite::connect_async(bad)).await.is_err());
    within(5, sim.shutdown()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_seed_same_books() {
    let mut config = common::config(ExchangeId::Bybit);
    config.updates_per_sec = 0.0;
    let a = within(5, Simulator::start(config.clone())).await.unwrap();
    let b = within(5, Simulator::start(config.clone())).await.unwrap();
    config.seed = 99;
    let c = within(5, Simulator::start(config)).await.unwrap();
    let btc = md_core::Symbol::new("BTC", "USDT");
    let book = |s: &Simulator| s.book(ExchangeId::Bybit, &btc).unwrap();
    assert_eq!(book(&a), book(&b));
    assert_ne!(book(&a), book(&c));
    let snap = book(&a);
    assert!(snap.bids[0].price < snap.asks[0].price);
    assert!(matches!(
        Payload::BookSnapshot(snap),
        Payload::BookSnapshot(s) if s.bids.len() == 20
    ));
    for sim in [a, b, c] {
        within(5, sim.shutdown()).await;
    }
}
