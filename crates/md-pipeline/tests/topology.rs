//! Topology runs: everything reaches a sink and the run is clean; a sink that fails stops the
//! run (never leaving sources publishing into nothing); a sink stuck at shutdown is released at
//! the deadline and the loss is reported.
#![allow(clippy::unwrap_used, missing_docs)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use md_core::{DataPacket, ExchangeId, Payload, Side, Symbol, Trade, TradeId};
use md_pipeline::{
    BoxError, Overflow, Publisher, Sink, SinkError, SinkMetrics, SinkStats, Source, Subscription, Topology,
};
use tokio_util::sync::CancellationToken;

fn trade(id: u64) -> DataPacket {
    DataPacket {
        exchange: ExchangeId::Bybit,
        symbol: Symbol::new("BTC", "USDT"),
        exchange_ts: id as i64,
        local_ts: id as i64,
        data: Payload::Trade(Trade {
            price: md_core::Decimal::ONE,
            qty: md_core::Decimal::ONE,
            side: Side::Sell,
            trade_id: TradeId::Number(id),
        }),
    }
}

/// Publishes `count` trades in batches of 10, then waits for cancellation (like a driver).
struct Counter {
    count: u64,
    stopped: Arc<AtomicU64>,
}

#[async_trait]
impl Source for Counter {
    fn name(&self) -> String {
        "counter".into()
    }

    async fn run(self: Box<Self>, out: Publisher, cancel: CancellationToken) -> Result<(), BoxError> {
        for start in (0..self.count).step_by(10) {
            out.publish((start..(start + 10).min(self.count)).map(trade).collect()).await;
        }
        cancel.cancelled().await;
        self.stopped.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

#[derive(Clone, Copy)]
enum Behaviour {
    Count,
    FailAtOnce,
    NeverRead,
}

struct TestSink {
    behaviour: Behaviour,
    metrics: Arc<SinkMetrics>,
}

#[async_trait]
impl Sink for TestSink {
    fn name(&self) -> &str {
        "test"
    }

    fn metrics(&self) -> Arc<SinkMetrics> {
        Arc::clone(&self.metrics)
    }

    async fn run(
        self: Box<Self>,
        mut input: Subscription,
        cancel: CancellationToken,
    ) -> Result<SinkStats, SinkError> {
        match self.behaviour {
            Behaviour::Count => {
                while let Some(batch) = input.recv().await {
                    SinkMetrics::add(&self.metrics.records_written, batch.len() as u64);
                }
            }
            Behaviour::FailAtOnce => return Err(SinkError::Failed("the disk is gone".into())),
            Behaviour::NeverRead => cancel.cancelled().await,
        }
        Ok(self.metrics.snapshot())
    }
}

fn topology(
    count: u64,
    behaviour: Behaviour,
    overflow: Overflow,
    capacity: usize,
) -> (Topology, Arc<SinkMetrics>, Arc<AtomicU64>) {
    let mut topology = Topology::new().drain_deadline(Duration::from_millis(300));
    let stopped = Arc::new(AtomicU64::new(0));
    topology.add_source(Box::new(Counter { count, stopped: Arc::clone(&stopped) }));
    let metrics = Arc::new(SinkMetrics::default());
    topology.add_sink(Box::new(TestSink { behaviour, metrics: Arc::clone(&metrics) }), overflow, capacity);
    (topology, metrics, stopped)
}

#[tokio::test]
async fn every_packet_reaches_the_sink_and_the_run_is_clean() {
    let (topology, metrics, stopped) = topology(1000, Behaviour::Count, Overflow::Block, 64);
    let cancel = CancellationToken::new();
    let run = tokio::spawn(topology.run(cancel.clone()));
    tokio::time::timeout(Duration::from_secs(5), async {
        while metrics.snapshot().records_written < 1000 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .unwrap();
    cancel.cancel();
    let report = tokio::time::timeout(Duration::from_secs(5), run).await.unwrap().unwrap();
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(report.sinks[0].result.as_ref().unwrap().records_written, 1000);
    assert_eq!(stopped.load(Ordering::Relaxed), 1);
}

#[tokio::test]
async fn a_sink_that_fails_stops_the_run_and_says_so() {
    let (topology, _, stopped) = topology(100, Behaviour::FailAtOnce, Overflow::Block, 64);
    // Nobody cancels: the failed sink must end the run by itself.
    let report =
        tokio::time::timeout(Duration::from_secs(5), topology.run(CancellationToken::new())).await.unwrap();
    assert!(report.sink_failed_early);
    assert!(!report.is_clean());
    assert!(matches!(report.sinks[0].result, Err(SinkError::Failed(_))));
    assert_eq!(stopped.load(Ordering::Relaxed), 1, "the source was stopped");
}

#[tokio::test]
async fn a_stuck_lossless_sink_is_released_at_the_deadline_and_the_loss_counted() {
    let (topology, _, _) = topology(100, Behaviour::NeverRead, Overflow::Block, 20);
    let cancel = CancellationToken::new();
    let run = tokio::spawn(topology.run(cancel.clone()));
    tokio::time::sleep(Duration::from_millis(100)).await;
    cancel.cancel();
    let report = tokio::time::timeout(Duration::from_secs(5), run).await.unwrap().unwrap();
    assert!(report.lost() > 0, "{report:?}");
    assert!(!report.is_clean());
}

#[tokio::test]
async fn a_lossy_subscriber_that_never_reads_costs_a_clean_run_nothing() {
    let (mut topology, metrics, _) = topology(1000, Behaviour::Count, Overflow::Block, 64);
    let idle = topology.subscribe(md_pipeline::SubscriberConfig::new("idle", Overflow::DropOldest, 10));
    let cancel = CancellationToken::new();
    let run = tokio::spawn(topology.run(cancel.clone()));
    tokio::time::timeout(Duration::from_secs(5), async {
        while metrics.snapshot().records_written < 1000 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .unwrap();
    cancel.cancel();
    let report = tokio::time::timeout(Duration::from_secs(5), run).await.unwrap().unwrap();
    assert!(report.is_clean(), "{report:?}");
    assert!(idle.metrics().snapshot().dropped >= 990);
}
