//! Run-time subscriptions: unsubscribing one symbol stops exactly its data and is answered as
//! the venue answers, and the simulator reports who holds what.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{eventually, within, Client};
use md_core::{Channel, Control, ExchangeId, Symbol};
use md_sim::Simulator;

/// Subscribes everything, unsubscribes BTC with md-exchanges' own messages, and checks that
/// BTC's data stops after the ack while the others go on; then empties the connection and
/// closes it.
async fn unsubscribe_one_symbol(id: ExchangeId) {
    let sim = within(5, Simulator::start(common::config(id))).await.unwrap();
    let (btc, eth, sol) =
        (Symbol::new("BTC", "USDT"), Symbol::new("ETH", "USDT"), Symbol::new("SOL", "USDT"));
    let mut client = Client::connect(&sim, id, None).await;
    assert_eq!(sim.connections(id), 1, "{id}");
    assert_eq!(sim.subscribers(id, &btc), 0, "{id}");
    let listener = client.exchange.as_ref();
    let all: Vec<String> = client
        .infos
        .iter()
        .flat_map(|i| Channel::ALL.iter().flat_map(|c| listener.topics(i, *c)).collect::<Vec<_>>())
        .collect();
    let sub_acks = listener.subscribe_messages(&all).len();
    client.subscribe_all().await;
    let flowing = client.read_until(5, |c| [&btc, &eth, &sol].iter().all(|s| c.packets_for(s) > 5)).await;
    assert!(flowing, "{id}: no data for every symbol");
    assert!(client.read_until(5, |c| c.acks() == sub_acks).await, "{id}: subscribe acks");
    for symbol in [&btc, &eth, &sol] {
        assert_eq!(sim.subscribers(id, symbol), 1, "{id} {symbol}");
    }

    let unsub_acks = client.unsubscribe(&client.topics_of(&btc)).await;
    assert!(client.read_until(5, |c| c.acks() == sub_acks + unsub_acks).await, "{id}: no unsubscribe ack");
    assert_eq!(sim.subscribers(id, &btc), 0, "{id}");
    assert_eq!(sim.subscribers(id, &eth), 1, "{id}");
    // Everything BTC queued before the unsubscribe went out before its ack: nothing after.
    let (btc_then, eth_then) = (client.packets_for(&btc), client.packets_for(&eth));
    client.read_until(5, |c| c.packets_for(&eth) > eth_then + 30).await;
    assert!(client.packets_for(&eth) > eth_then + 30, "{id}: ETH stopped too");
    assert_eq!(client.packets_for(&btc), btc_then, "{id}: BTC data after its unsubscribe ack");
    assert!(client.parse_errors.is_empty(), "{id}: {:?}", client.parse_errors);
    assert!(
        !client.controls.iter().any(|c| matches!(c, Control::Rejected { .. })),
        "{id}: {:?}",
        client.controls
    );

    // Emptied, the connection stays open (closing it is the client's business) until closed.
    let mut rest = client.topics_of(&eth);
    rest.extend(client.topics_of(&sol));
    let more = client.unsubscribe(&rest).await;
    assert!(client.read_until(5, |c| c.acks() == sub_acks + unsub_acks + more).await, "{id}");
    assert_eq!(sim.subscribers(id, &eth) + sim.subscribers(id, &sol), 0, "{id}");
    assert_eq!(sim.connections(id), 1, "{id}");
    assert_eq!(sim.stats(id).unsubscribe_messages, (unsub_acks + more) as u64, "{id}");
    within(5, client.ws.close(None)).await.unwrap();
    assert!(eventually(5, || sim.connections(id) == 0).await, "{id}: connection not gone");
    within(5, sim.shutdown()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binance_unsubscribe_stops_one_symbol() {
    unsubscribe_one_symbol(ExchangeId::Binance).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bybit_unsubscribe_stops_one_symbol() {
    unsubscribe_one_symbol(ExchangeId::Bybit).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huobi_unsub_stops_one_symbol() {
    unsubscribe_one_symbol(ExchangeId::Huobi).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bitstamp_unsubscribe_stops_one_symbol() {
    unsubscribe_one_symbol(ExchangeId::Bitstamp).await;
}

/// The acks' exact shapes, read raw (the parsers reduce them to `Control::Subscribed`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsubscribe_acks_have_the_venues_shapes() {
    let mut config = common::config(ExchangeId::Binance);
    config.venues = ExchangeId::BUILT_IN.to_vec();
    config.updates_per_sec = 0.0;
    config.trades_per_sec = 0.0;
    config.ping_interval = Duration::ZERO;
    let sim = within(5, Simulator::start(config)).await.unwrap();

    let mut binance = Client::connect(&sim, ExchangeId::Binance, None).await;
    binance.send(r#"{"method":"SUBSCRIBE","params":["btcusdt@trade"],"id":1}"#.into()).await;
    binance.send(r#"{"method":"UNSUBSCRIBE","params":["btcusdt@trade"],"id":312}"#.into()).await;
    assert_eq!(raw(&mut binance, |t| t.contains("312")).await, r#"{"result":null,"id":312}"#);

    let mut bybit = Client::connect(&sim, ExchangeId::Bybit, None).await;
    bybit.send(r#"{"op":"subscribe","args":["publicTrade.BTCUSDT"]}"#.into()).await;
    bybit.send(r#"{"op":"unsubscribe","args":["publicTrade.BTCUSDT"],"req_id":"u1"}"#.into()).await;
    let ack: serde_json::Value =
        serde_json::from_str(&raw(&mut bybit, |t| t.contains(r#""op":"unsubscribe""#)).await).unwrap();
    assert_eq!(ack["success"], true);
    assert_eq!(ack["ret_msg"], "unsubscribe");
    assert_eq!(ack["req_id"], "u1");
    assert!(ack["conn_id"].as_str().is_some_and(|c| !c.is_empty()), "{ack}");

    let mut huobi = Client::connect(&sim, ExchangeId::Huobi, None).await;
    huobi.send(r#"{"sub":"market.btcusdt.trade.detail","id":"id1"}"#.into()).await;
    huobi.send(r#"{"unsub":"market.btcusdt.trade.detail","id":"id4"}"#.into()).await;
    let ack: serde_json::Value =
        serde_json::from_str(&raw(&mut huobi, |t| t.contains("unsubbed")).await).unwrap();
    assert_eq!(ack["id"], "id4");
    assert_eq!(ack["status"], "ok");
    assert_eq!(ack["unsubbed"], "market.btcusdt.trade.detail");
    assert!(ack["ts"].is_u64());
    // HTX refuses to unsub what the connection does not have.
    huobi.send(r#"{"unsub":"market.btcusdt.trade.detail","id":"id5"}"#.into()).await;
    let refusal: serde_json::Value =
        serde_json::from_str(&raw(&mut huobi, |t| t.contains("id5")).await).unwrap();
    assert_eq!(refusal["status"], "error");
    assert_eq!(refusal["err-code"], "bad-request");
    assert_eq!(refusal["err-msg"], "unsub with not subbed topic");
    let mut bitstamp = Client::connect(&sim, ExchangeId::Bitstamp, None).await;
    bitstamp.send(r#"{"event":"bts:subscribe","data":{"channel":"live_trades_btcusdt"}}"#.into()).await;
    bitstamp.send(r#"{"event":"bts:unsubscribe","data":{"channel":"live_trades_btcusdt"}}"#.into()).await;
    assert_eq!(
        raw(&mut bitstamp, |t| t.contains("unsubscription")).await,
        r#"{"event":"bts:unsubscription_succeeded","channel":"live_trades_btcusdt","data":{}}"#
    );
    for id in ExchangeId::BUILT_IN {
        assert_eq!(sim.subscribers(id, &Symbol::new("BTC", "USDT")), 0, "{id}");
    }
    assert_eq!(sim.stats(ExchangeId::Huobi).unsubscribe_messages, 2);
    within(5, sim.shutdown()).await;
}

/// The text of the first data frame (HTX's inflated) that satisfies `pred`, within 5 s.
async fn raw(client: &mut Client, pred: impl Fn(&str) -> bool) -> String {
    use std::io::Read;
    use tokio_tungstenite::tungstenite::Message;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let text = match common::next_event(&mut client.ws, left).await {
            common::Event::Data(Message::Text(text)) => text.to_string(),
            common::Event::Data(Message::Binary(bytes)) => {
                let mut text = String::new();
                flate2::read::GzDecoder::new(&bytes[..]).read_to_string(&mut text).unwrap();
                text
            }
            common::Event::Heartbeat | common::Event::Data(_) => continue,
            other => panic!("no matching frame: {other:?}"),
        };
        if pred(&text) {
            return text;
        }
    }
}
