//! Shared harness: a venue served by md-sim, the driver on it, and a downstream consumer that
//! rebuilds books only from what the driver passed on.
#![allow(clippy::unwrap_used, dead_code)]

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use md_core::{
    DataPacket, Exchange, ExchangeId, OrderBook, Payload, SeqRule, Status, Symbol, SymbolInfo, TradeId,
};
use md_driver::{BackoffConfig, Driver, DriverConfig, DriverHandle, DriverMetrics, Selection};
use md_exchanges::{build, Endpoints};
use md_pipeline::{FanOut, Overflow, SubscriberConfig};
use md_sim::{SimConfig, Simulator};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Every wait in these tests is bounded by this.
pub const WAIT: Duration = Duration::from_secs(20);

pub fn symbol(text: &str) -> Symbol {
    Symbol::parse(text).unwrap()
}

/// What reached the consumer.
#[derive(Debug, Default)]
pub struct Downstream {
    pub books: HashMap<Symbol, OrderBook>,
    pub trades: HashSet<(Symbol, TradeId)>,
    pub duplicate_trades: usize,
    pub statuses: Vec<(Symbol, Status)>,
    pub snapshots: HashMap<Symbol, usize>,
    pub packets: usize,
    /// Deltas the consumer's own book refused: the driver passed on something inconsistent.
    pub inconsistent: usize,
    /// Market-data packets per symbol.
    pub per_symbol: HashMap<Symbol, usize>,
    /// Per symbol, `Unsubscribed` statuses seen and market-data packets after the last one.
    pub after_unsubscribe: HashMap<Symbol, (usize, usize)>,
}

impl Downstream {
    fn apply(&mut self, packet: DataPacket, rule: SeqRule) {
        self.packets += 1;
        let symbol = packet.symbol.clone();
        match &packet.data {
            Payload::Status(Status::Unsubscribed { .. }) => {
                let entry = self.after_unsubscribe.entry(symbol.clone()).or_default();
                *entry = (entry.0 + 1, 0);
            }
            Payload::Status(Status::Subscribed { .. }) => {
                self.after_unsubscribe.remove(&symbol);
            }
            Payload::Status(_) => {}
            _ => {
                *self.per_symbol.entry(symbol.clone()).or_default() += 1;
                if let Some(entry) = self.after_unsubscribe.get_mut(&symbol) {
                    entry.1 += 1;
                }
            }
        }
        match packet.data {
            Payload::Trade(trade) => {
                let fresh = self.trades.insert((symbol, trade.trade_id));
                self.duplicate_trades += usize::from(!fresh);
            }
            Payload::BookSnapshot(snapshot) => {
                *self.snapshots.entry(symbol.clone()).or_default() += 1;
                self.books
                    .entry(symbol)
                    .or_insert_with(|| OrderBook::new(rule))
                    .apply_snapshot(&snapshot)
                    .unwrap();
            }
            Payload::BookDelta(delta) => {
                let book = self.books.entry(symbol).or_insert_with(|| OrderBook::new(rule));
                if book.apply_delta(&delta).is_err() {
                    self.inconsistent += 1;
                }
            }
            Payload::Status(status) => self.statuses.push((symbol, status)),
            _ => {}
        }
    }

    pub fn count(&self, symbol: &Symbol, wanted: fn(&Status) -> bool) -> usize {
        self.statuses.iter().filter(|(s, status)| s == symbol && wanted(status)).count()
    }
}

pub struct Harness {
    pub venue: ExchangeId,
    pub sim: Simulator,
    pub exchange: Arc<dyn Exchange>,
    pub metrics: Arc<DriverMetrics>,
    pub downstream: Arc<std::sync::Mutex<Downstream>>,
    pub cancel: CancellationToken,
    pub driver: JoinHandle<()>,
    pub handle: DriverHandle,
    pub symbols: Vec<SymbolInfo>,
}

pub fn test_driver_config() -> DriverConfig {
    DriverConfig {
        backoff: BackoffConfig {
            first_retry: Duration::from_millis(20),
            initial: Duration::from_millis(100),
            max: Duration::from_secs(1),
            reset_after: Duration::from_secs(2),
            jitter: 0.1,
        },
        liveness_timeout: Some(Duration::from_millis(1500)),
        heartbeat_interval: Some(Duration::from_millis(200)),
        // Venues whose diffs carry no sequence (Bitstamp) see a lost diff only by a check:
        // within a test's waits, not the default minute. Sequenced venues are never checked.
        cross_check_interval: Some(Duration::from_secs(1)),
        ..DriverConfig::default()
    }
}

pub fn sim_config(venue: ExchangeId) -> SimConfig {
    SimConfig {
        venues: vec![venue],
        symbols: vec![("BTC".into(), "USDT".into()), ("ETH".into(), "USDT".into())],
        seed: 7,
        updates_per_sec: 50.0,
        trades_per_sec: 20.0,
        ping_interval: Duration::from_millis(200),
        ..SimConfig::default()
    }
}

impl Harness {
    pub async fn start(venue: ExchangeId) -> Self {
        Self::start_with(sim_config(venue), test_driver_config(), |_| {}).await
    }

    /// Starts md-sim and the driver on every listed symbol; `before` runs on the sim before
    /// the driver connects.
    pub async fn start_with(sim: SimConfig, config: DriverConfig, before: impl FnOnce(&Simulator)) -> Self {
        Self::start_selecting(sim, config, Selection::All, before).await
    }

    /// Starts md-sim and the driver with `selection`; the listing comes over REST from the
    /// simulator, as it would from the venue.
    pub async fn start_selecting(
        sim: SimConfig,
        config: DriverConfig,
        selection: Selection,
        before: impl FnOnce(&Simulator),
    ) -> Self {
        let venue = sim.venues[0];
        let sim = Simulator::start(sim).await.unwrap();
        before(&sim);
        let endpoints = Endpoints { ws_url: Some(sim.ws_url(venue)), rest_url: Some(sim.rest_url(venue)) };
        let exchange: Arc<dyn Exchange> = Arc::from(build(venue, &endpoints).unwrap());
        let symbols: Vec<SymbolInfo> = match &selection {
            Selection::All => sim.symbols(venue),
            Selection::Symbols(wanted) => {
                sim.symbols(venue).into_iter().filter(|i| wanted.contains(&i.symbol.to_string())).collect()
            }
            _ => Vec::new(),
        };
        let driver = Driver::new(Arc::clone(&exchange), selection, config);
        let (metrics, handle) = (driver.metrics(), driver.handle());
        let mut fanout = FanOut::new();
        let mut input = fanout.subscribe(SubscriberConfig::new("test", Overflow::Block, 4096));
        let publisher = fanout.publisher();
        let cancel = CancellationToken::new();
        let downstream = Arc::new(std::sync::Mutex::new(Downstream::default()));
        let sink = Arc::clone(&downstream);
        let rule = exchange.seq_rule();
        tokio::spawn(async move {
            while let Some(batch) = input.recv().await {
                let mut d = sink.lock().unwrap();
                for packet in batch.iter() {
                    d.apply(packet.clone(), rule);
                }
            }
        });
        let run = driver.run(publisher, cancel.clone());
        let driver = tokio::spawn(async move {
            run.await.unwrap();
        });
        Self { venue, sim, exchange, metrics, downstream, cancel, driver, handle, symbols }
    }

    /// Waits until `done` holds for the consumer's view, or fails the test after [`WAIT`].
    pub async fn wait_for(&self, what: &str, done: impl Fn(&Downstream) -> bool) {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if done(&self.downstream.lock().unwrap()) {
                return;
            }
            if tokio::time::Instant::now() > deadline {
                let d = self.downstream.lock().unwrap();
                panic!(
                    "{}: timed out waiting for {what}; metrics {:?}; statuses {:?}",
                    self.venue,
                    self.metrics.snapshot(),
                    d.statuses
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until every book is synced (in the driver's count) and the consumer has a book
    /// and a trade for every symbol.
    pub async fn wait_synced(&self) {
        let expected = self.symbols.len() as i64;
        let metrics = Arc::clone(&self.metrics);
        let symbols: Vec<Symbol> = self.symbols.iter().map(|s| s.symbol.clone()).collect();
        self.wait_for("every book in sync", move |d| {
            metrics.snapshot().books_in_sync == expected
                && symbols.iter().all(|s| d.books.get(s).is_some_and(OrderBook::is_synced))
                && symbols.iter().all(|s| d.trades.iter().any(|(t, _)| t == s))
        })
        .await;
    }

    /// Pauses the simulator and waits until the consumer's books have caught up with its
    /// books, then asserts they are equal level for level.
    pub async fn assert_books_match_sim(&self) {
        self.sim.pause(true);
        for info in &self.symbols {
            let truth = self.sim.book(self.venue, &info.symbol).unwrap();
            let symbol = info.symbol.clone();
            let seq = truth.seq;
            self.wait_for("the consumer's book to reach the simulator's sequence", move |d| {
                d.books.get(&symbol).is_some_and(|b| b.is_synced() && b.seq() >= seq)
            })
            .await;
            let d = self.downstream.lock().unwrap();
            let ours = d.books[&info.symbol].top(usize::MAX);
            let truth = self.sim.book(self.venue, &info.symbol).unwrap();
            assert_eq!(ours.bids, truth.bids, "{} {} bids", self.venue, info.symbol);
            assert_eq!(ours.asks, truth.asks, "{} {} asks", self.venue, info.symbol);
        }
        self.sim.pause(false);
    }

    /// Cancels the driver and asserts it returns within a second.
    pub async fn stop(self) -> Downstream {
        let started = std::time::Instant::now();
        self.cancel.cancel();
        tokio::time::timeout(Duration::from_secs(1), self.driver)
            .await
            .expect("the driver must return within 1 s of cancellation")
            .unwrap();
        let elapsed = started.elapsed();
        assert!(elapsed < Duration::from_secs(1), "{elapsed:?}");
        self.sim.shutdown().await;
        let mut downstream = self.downstream.lock().unwrap();
        std::mem::take(&mut *downstream)
    }
}
