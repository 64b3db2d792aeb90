#![allow(clippy::unwrap_used)]
use std::time::Duration;

use md_core::{DataPacket, ExchangeId, Payload, Side, Symbol, Trade, TradeId};

use super::*;

fn trade(symbol: &str, id: u64) -> DataPacket {
    let (base, quote) = symbol.split_once('-').unwrap();
    DataPacket {
        exchange: ExchangeId::Binance,
        symbol: Symbol::new(base, quote),
        exchange_ts: id as i64,
        local_ts: id as i64,
        data: Payload::Trade(Trade {
            price: md_core::Decimal::new(id as i64, 2),
            qty: md_core::Decimal::ONE,
            side: Side::Buy,
            trade_id: TradeId::Number(id),
        }),
    }
}

fn ids(batch: &Batch) -> Vec<u64> {
    batch
        .iter()
        .map(|p| match &p.data {
            Payload::Trade(t) => match t.trade_id {
                TradeId::Number(n) => n,
                TradeId::Text(_) => 0,
            },
            _ => 0,
        })
        .collect()
}

#[tokio::test]
async fn a_subscriber_that_never_reads_stalls_nothing_but_itself() {
    let mut fanout = FanOut::new();
    let mut storage = fanout.subscribe(SubscriberConfig::new("storage", Overflow::Block, 64));
    let idle = fanout.subscribe(SubscriberConfig::new("idle", Overflow::DropOldest, 10));
    let idle_conflate = fanout.subscribe(SubscriberConfig::new("idle-book", Overflow::Conflate, 4));
    let publisher = fanout.publisher();
    let producer = tokio::spawn(async move {
        for round in 0..1000u64 {
            publisher.publish(vec![trade("BTC-USDT", 2 * round), trade("ETH-USDT", 2 * round + 1)]).await;
        }
    });
    let mut seen = Vec::new();
    while let Some(batch) = tokio::time::timeout(Duration::from_secs(10), storage.recv()).await.unwrap() {
        seen.extend(ids(&batch));
    }
    producer.await.unwrap();
    assert_eq!(seen, (0..2000).collect::<Vec<_>>(), "storage got every packet, in order");
    let idle_stats = idle.metrics().snapshot();
    assert_eq!(idle_stats.offered, 2000);
    assert!(idle_stats.depth <= 10, "{idle_stats:?}");
    assert_eq!(idle_stats.dropped + idle_stats.depth, 2000, "every packet it missed is counted");
    let conflate_stats = idle_conflate.metrics().snapshot();
    assert_eq!(conflate_stats.depth, 2, "one per key");
    assert_eq!(conflate_stats.conflated, 1998);
}

#[tokio::test]
async fn conflate_keeps_only_the_latest_per_key_and_counts_the_rest() {
    let mut fanout = FanOut::new();
    let mut book = fanout.subscribe(SubscriberConfig::new("book", Overflow::Conflate, 100));
    let publisher = fanout.publisher();
    publisher.publish(vec![trade("BTC-USDT", 1), trade("ETH-USDT", 2), trade("BTC-USDT", 3)]).await;
    publisher.publish(vec![trade("SOL-USDT", 4), trade("BTC-USDT", 5)]).await;
    let batch = book.try_recv().unwrap();
    assert_eq!(ids(&batch), [5, 2, 4], "latest of each key, keys in first-seen order");
    assert_eq!(book.metrics().snapshot().conflated, 2);
    assert!(book.try_recv().is_none());
    publisher.publish(vec![trade("BTC-USDT", 6)]).await;
    drop(publisher);
    assert_eq!(ids(&book.recv().await.unwrap()), [6]);
    assert!(book.recv().await.is_none(), "ends once the publisher is gone and the queue is empty");
}

#[tokio::test]
async fn block_holds_the_publisher_until_the_reader_makes_room() {
    let mut fanout = FanOut::new();
    let mut storage = fanout.subscribe(SubscriberConfig::new("storage", Overflow::Block, 3));
    let publisher = fanout.publisher();
    publisher.publish(vec![trade("BTC-USDT", 1), trade("BTC-USDT", 2)]).await;
    let second = publisher.clone();
    let mut waiting =
        tokio::spawn(async move { second.publish(vec![trade("BTC-USDT", 3), trade("BTC-USDT", 4)]).await });
    assert!(
        tokio::time::timeout(Duration::from_millis(50), &mut waiting).await.is_err(),
        "no room: it waits"
    );
    assert_eq!(ids(&storage.recv().await.unwrap()), [1, 2]);
    tokio::time::timeout(Duration::from_secs(5), waiting).await.unwrap().unwrap();
    assert_eq!(ids(&storage.recv().await.unwrap()), [3, 4]);
    assert_eq!(storage.metrics().snapshot().blocked, 1);
}

#[tokio::test]
async fn a_dropped_subscription_or_an_abort_never_leaves_a_publisher_waiting() {
    let mut fanout = FanOut::new();
    let storage = fanout.subscribe(SubscriberConfig::new("storage", Overflow::Block, 1));
    let mut other = fanout.subscribe(SubscriberConfig::new("other", Overflow::Block, 1));
    let publisher = fanout.publisher();
    let abort = publisher.abort_handle();
    drop(storage);
    publisher.publish(vec![trade("BTC-USDT", 1)]).await;
    let second = publisher.clone();
    let waiting = tokio::spawn(async move { second.publish(vec![trade("BTC-USDT", 2)]).await });
    tokio::time::sleep(Duration::from_millis(20)).await;
    abort.abort();
    tokio::time::timeout(Duration::from_secs(5), waiting).await.unwrap().unwrap();
    assert_eq!(ids(&other.recv().await.unwrap()), [1]);
    assert_eq!(other.metrics().snapshot().dropped, 1, "the aborted batch is counted");
    assert!(publisher.has_subscribers());
}

#[test]
fn overflow_names_parse_back() {
    for policy in Overflow::ALL {
        assert_eq!(Overflow::parse(policy.as_str()), Some(policy));
    }
    assert_eq!(Overflow::parse("Drop-Oldest"), Some(Overflow::DropOldest));
    assert_eq!(Overflow::parse("lossy"), None);
}
