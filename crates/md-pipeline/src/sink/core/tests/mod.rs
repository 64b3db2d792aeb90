//! Tests of the sink core, with an in-memory [`Script`] delivery whose answers the tests set.
#![allow(clippy::unwrap_used)]

mod crash;
mod flow;
mod memory;
mod retry;
mod spool;

use std::collections::VecDeque;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use md_core::{BookSnapshot, DataPacket, ExchangeId, Payload, Side, Status, Symbol, Trade, TradeId};
use tokio_util::sync::CancellationToken;

use super::{CoreConfig, Delivery, Encoder, Outcome, Route, SinkCore};
use crate::fanout::{FanOut, Overflow, Publisher, SubscriberConfig, Subscription};
use crate::sink::{BoxError, SinkError, SinkStats};

/// Lane 0.
pub(super) const TRADES: usize = 0;
/// Lane 1.
pub(super) const BOOKS: usize = 1;

pub(super) fn trade(id: u64) -> DataPacket {
    DataPacket {
        exchange: ExchangeId::Binance,
        symbol: Symbol::new("BTC", "USDT"),
        exchange_ts: 1_700_000_000_000_000_000 + id as i64,
        local_ts: 1,
        data: Payload::Trade(Trade {
            price: md_core::Decimal::ONE,
            qty: md_core::Decimal::ONE,
            side: Side::Buy,
            trade_id: TradeId::Number(id),
        }),
    }
}

pub(super) fn trades(range: std::ops::Range<u64>) -> Vec<DataPacket> {
    range.map(trade).collect()
}

pub(super) fn book(seq: u64) -> DataPacket {
    let mut p = trade(0);
    p.data = Payload::BookSnapshot(BookSnapshot { bids: vec![], asks: vec![], seq });
    p
}

/// A packet [`TestEncoder`] refuses.
pub(super) fn unencodable() -> DataPacket {
    let mut p = trade(0);
    if let Payload::Trade(t) = &mut p.data {
        t.trade_id = TradeId::Text("bad".into());
    }
    p
}

/// Trades → lane 0 as `<id>\n`, snapshots → lane 1 as `snap <seq>\n`, deltas skipped, status
/// unknown; the trade id `bad` cannot be encoded.
#[derive(Debug, Default)]
pub(super) struct TestEncoder;

impl Encoder for TestEncoder {
    fn route(&self, packet: &DataPacket) -> Route {
        match &packet.data {
            Payload::Trade(_) => Route::Lane(TRADES),
            Payload::BookSnapshot(_) => Route::Lane(BOOKS),
            Payload::BookDelta(_) => Route::Skip,
            _ => Route::Unknown,
        }
    }

    fn encode(&mut self, packet: &DataPacket, _lane: usize, out: &mut Vec<u8>) -> Result<bool, BoxError> {
        match &packet.data {
            Payload::Trade(t) if t.trade_id == TradeId::Text("bad".into()) => Err("trade id is bad".into()),
            Payload::Trade(t) => {
                out.extend_from_slice(format!("{}\n", t.trade_id).as_bytes());
                Ok(true)
            }
            Payload::BookSnapshot(s) => {
                out.extend_from_slice(format!("snap {}\n", s.seq).as_bytes());
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}

/// What a [`Script`] says to a delivery.
#[derive(Debug)]
pub(super) struct Script {
    /// Answers used first, in order (for any lane).
    pub answers: Mutex<VecDeque<Outcome>>,
    /// Per lane: answer `Retry` ("connection refused") while set.
    pub down: [AtomicBool; 2],
    /// Answer `Split` to batches of more records than this.
    pub split_above: AtomicUsize,
    /// Accepted bodies, per lane, in order.
    pub stored: Mutex<Vec<(usize, Bytes)>>,
    /// Every attempt: lane and records.
    pub attempts: Mutex<Vec<(usize, u32)>>,
    /// `finish` was called.
    pub finished: AtomicBool,
}

impl Default for Script {
    fn default() -> Self {
        Self {
            answers: Mutex::default(),
            down: [AtomicBool::new(false), AtomicBool::new(false)],
            split_above: AtomicUsize::new(usize::MAX),
            stored: Mutex::default(),
            attempts: Mutex::default(),
            finished: AtomicBool::new(false),
        }
    }
}

impl Script {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Queues answers.
    pub fn answer(&self, outcomes: impl IntoIterator<Item = Outcome>) {
        self.answers.lock().unwrap().extend(outcomes);
    }

    pub fn set_down(&self, lane: usize, down: bool) {
        self.down[lane].store(down, Relaxed);
    }

    /// Every stored record of a lane, in the order stored.
    pub fn lines(&self, lane: usize) -> Vec<String> {
        let stored = self.stored.lock().unwrap();
        stored
            .iter()
            .filter(|(l, _)| *l == lane)
            .flat_map(|(_, b)| std::str::from_utf8(b).unwrap().lines().map(str::to_owned).collect::<Vec<_>>())
            .collect()
    }

    /// Stored trade ids, in order.
    pub fn ids(&self) -> Vec<u64> {
        self.lines(TRADES).iter().map(|l| l.parse().unwrap()).collect()
    }

    pub fn attempts(&self) -> Vec<(usize, u32)> {
        self.attempts.lock().unwrap().clone()
    }
}

/// The [`Delivery`] of a shared [`Script`].
#[derive(Debug, Clone)]
pub(super) struct Scripted(pub Arc<Script>);

fn line_ends(body: &[u8]) -> Vec<usize> {
    body.iter().enumerate().filter(|(_, b)| **b == b'\n').map(|(i, _)| i + 1).collect()
}

#[async_trait]
impl Delivery for Scripted {
    fn lanes(&self) -> Vec<String> {
        vec!["trades".into(), "books".into()]
    }

    async fn deliver(&self, lane: usize, body: &Bytes, records: u32) -> Outcome {
        let script = &self.0;
        script.attempts.lock().unwrap().push((lane, records));
        assert_eq!(records, self.count(body), "the core's record count matches the body");
        let scripted = script.answers.lock().unwrap().pop_front();
        let outcome = match scripted {
            Some(outcome) => outcome,
            None if script.down[lane].load(Relaxed) => {
                Outcome::Retry { after: None, error: "connection refused".into() }
            }
            None if records as usize > script.split_above.load(Relaxed) => Outcome::Split,
            None => Outcome::Done,
        };
        if outcome == Outcome::Done {
            script.stored.lock().unwrap().push((lane, body.clone()));
        }
        outcome
    }

    fn split(&self, body: &Bytes) -> Option<(Bytes, Bytes)> {
        let ends = line_ends(body);
        let cut = *ends.get((ends.len() / 2).checked_sub(1)?)?;
        (cut < body.len()).then(|| (body.slice(..cut), body.slice(cut..)))
    }

    fn count(&self, body: &[u8]) -> u32 {
        line_ends(body).len() as u32
    }

    async fn finish(&self) -> Result<(), BoxError> {
        self.0.finished.store(true, Relaxed);
        Ok(())
    }

    fn dead_letter_format(&self, lane: &str, status: &str, message: &str) -> (Vec<u8>, &'static str) {
        (format!("# lane: {lane}\n# status: {status}\n# message: {message}\n").into_bytes(), "txt")
    }
}

/// Defaults with fast retries, dead letters and spool under `dir`.
pub(super) fn config(dir: &Path) -> CoreConfig {
    let mut config = CoreConfig::new(dir.join("dead-letter"));
    config.spool_dir = Some(dir.join("spool"));
    config.retry.initial_backoff = Duration::from_millis(10);
    config.retry.max_backoff = Duration::from_millis(50);
    config.shutdown_timeout = Duration::from_secs(5);
    config
}

pub(super) fn core(config: CoreConfig, script: &Arc<Script>) -> SinkCore<TestEncoder, Scripted> {
    SinkCore::new("test", TestEncoder, Scripted(Arc::clone(script)), config).unwrap()
}

/// A fan-out with one `Block` storage queue of `capacity` packets.
pub(super) fn input(capacity: usize) -> (Publisher, Subscription) {
    let mut fanout = FanOut::new();
    let sub = fanout.subscribe(SubscriberConfig::new("storage", Overflow::Block, capacity));
    (fanout.publisher(), sub)
}

/// Publishes in bursts of 10, as a source reading frames would.
pub(super) async fn feed(publisher: &Publisher, packets: Vec<DataPacket>) {
    let mut packets = packets.into_iter().peekable();
    while packets.peek().is_some() {
        publisher.publish(packets.by_ref().take(10).collect()).await;
    }
}

/// Runs a core over `packets` to the input's end.
pub(super) async fn run(config: CoreConfig, script: &Arc<Script>, packets: Vec<DataPacket>) -> SinkStats {
    try_run(config, script, packets).await.unwrap()
}

pub(super) async fn try_run(
    config: CoreConfig,
    script: &Arc<Script>,
    packets: Vec<DataPacket>,
) -> Result<SinkStats, SinkError> {
    let (publisher, sub) = input(1024);
    let task = tokio::spawn(core(config, script).run(sub, CancellationToken::new()));
    feed(&publisher, packets).await;
    drop(publisher);
    tokio::time::timeout(Duration::from_secs(60), task).await.unwrap().unwrap()
}

/// Files in a directory (empty if it does not exist), sorted.
pub(super) fn files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = match std::fs::read_dir(dir) {
        Ok(rd) => rd.map(|e| e.unwrap().path()).collect(),
        Err(_) => Vec::new(),
    };
    v.sort();
    v
}

/// A status packet (an unknown kind for [`TestEncoder`]).
pub(super) fn status() -> DataPacket {
    let mut p = trade(0);
    p.data = Payload::Status(Status::Connected { conn: md_core::ConnId(1) });
    p
}
