//! The shared state of one simulated venue: its true books, its open connections with their
//! subscriptions, counters and fault switches.
//!
//! Everything that must be ordered against the book (an incremental, a Bybit snapshot on
//! subscribe, an HTX `req` image, a Binance REST snapshot) is produced under the one [`Hub`]
//! lock and queued to the connections in that order, so a client never sees an image that
//! disagrees with the incrementals around it.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use md_core::{ExchangeId, Symbol, TradeId};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

use crate::book::{Instrument, TrueBook};
use crate::config::SimConfig;
use crate::rng::SplitMix64;
use crate::stats::{bump, Counters};
use crate::venue::{Protocol, StartIds};

/// Locks a mutex, shrugging off poisoning: the data are counters and books that a panicking
/// holder cannot leave half-written in a way that matters to a simulator.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Milliseconds since the Unix epoch, as venues stamp their messages.
pub(crate) fn now_ms() -> i64 {
    md_core::now_ns() / 1_000_000
}

/// What a subscription delivers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SubKind {
    /// Book incrementals (Bybit also sends its snapshot on subscribe); `Some(n)`: the venue
    /// keeps the client's top `n` exact (Bybit `orderbook.n`, HTX `mbp.n`).
    Book(Option<usize>),
    /// Periodic full images (HTX `depth.step0`).
    Image,
    /// Trades.
    Trades,
}

/// One subscription of one connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Sub {
    /// Index of the instrument.
    pub sym: usize,
    /// What it delivers.
    pub kind: SubKind,
    /// The topic as the client named it: the frames carry it back.
    pub topic: String,
}

/// Trades written in one message; recorded in `trades_sent` by the first socket that takes it.
#[derive(Debug)]
pub(crate) struct TradeBatch {
    /// The trades of the message.
    pub trades: Vec<(Symbol, TradeId)>,
    /// Whether a socket already took it.
    pub recorded: AtomicBool,
}

/// A message queued for one connection.
#[derive(Debug)]
pub(crate) enum Outbound {
    /// Any frame.
    Frame(Message),
    /// A frame carrying trades.
    Trades(Message, Arc<TradeBatch>),
}

/// One open connection as the hub sees it.
#[derive(Debug)]
pub(crate) struct Conn {
    /// Its outgoing queue.
    pub tx: mpsc::Sender<Outbound>,
    /// Its subscriptions.
    pub subs: Vec<Sub>,
    /// Cancelled to close the socket abruptly.
    pub kill: CancellationToken,
    /// Until when the connection sends nothing ([`crate::Faults::stall`]).
    pub stall_until: Arc<Mutex<Option<Instant>>>,
    /// Bybit's `conn_id`.
    pub conn_id: String,
}

/// The state of one instrument's book and sequences.
#[derive(Debug)]
pub(crate) struct SymState {
    /// The true book.
    pub book: TrueBook,
    /// Drives book updates and sequence steps.
    pub book_rng: SplitMix64,
    /// Drives trades.
    pub trade_rng: SplitMix64,
    /// The venue's book sequence: Binance update id, Bybit `u`, HTX `seqNum`, Bitstamp
    /// `microtimestamp` (µs) of the last update.
    pub seq: u64,
    /// Bybit's cross sequence `seq`.
    pub cross_seq: u64,
    /// The next trade id.
    pub next_trade: u64,
    /// Withhold the next incremental ([`crate::Faults::skip_sequence`]).
    pub skip_next: bool,
    /// Refuse snapshot requests ([`crate::Faults::refuse_snapshots`]).
    pub refuse_snapshots: bool,
}

/// Books and connections, under one lock.
#[derive(Debug)]
pub(crate) struct Hub {
    /// Per instrument, in [`Venue::instruments`] order.
    pub syms: Vec<SymState>,
    /// Open connections by id.
    pub conns: BTreeMap<u64, Conn>,
}

/// One simulated venue.
#[derive(Debug)]
pub(crate) struct Venue {
    /// Which venue.
    pub id: ExchangeId,
    /// How it speaks: everything venue-specific goes through this.
    pub protocol: &'static dyn Protocol,
    /// The simulator's configuration.
    pub config: SimConfig,
    /// Its instruments: [`SimConfig::symbols`], then [`SimConfig::unlisted`].
    pub instruments: Vec<Instrument>,
    /// Per instrument: whether the REST listing shows it ([`crate::Simulator::set_listed`]).
    /// Only the listing reads it; data, subscriptions and snapshots ignore it.
    pub listed: Vec<AtomicBool>,
    /// Books and connections.
    pub hub: Mutex<Hub>,
    /// Counters.
    pub counters: Counters,
    /// Every trade written to at least one socket, in write order.
    pub trades_sent: Mutex<Vec<(Symbol, TradeId)>>,
    /// REST snapshot requests still to refuse with 429.
    pub snapshot_429: AtomicUsize,
    /// WebSocket listener address.
    pub ws_addr: SocketAddr,
    /// REST listener address.
    pub rest_addr: SocketAddr,
    /// Cancelled when the simulator shuts down.
    pub cancel: CancellationToken,
    /// The next connection id.
    pub next_conn: AtomicU64,
    /// Shared by all venues: no book updates or trades while set.
    pub paused: Arc<AtomicBool>,
}

impl Venue {
    /// A venue with fresh books seeded from the config.
    pub(crate) fn new(
        id: ExchangeId,
        protocol: &'static dyn Protocol,
        config: &SimConfig,
        ws_addr: SocketAddr,
        rest_addr: SocketAddr,
        cancel: CancellationToken,
        paused: Arc<AtomicBool>,
    ) -> Self {
        let instruments: Vec<Instrument> = config
            .symbols
            .iter()
            .chain(&config.unlisted)
            .map(|(b, q)| Instrument::new(b, q, config.seed))
            .collect();
        let listed = (0..instruments.len()).map(|i| AtomicBool::new(i < config.symbols.len())).collect();
        let syms = instruments
            .iter()
            .map(|inst| {
                let name = inst.symbol.as_str();
                let mut book_rng = SplitMix64::derive(config.seed, &[id.as_str(), name, "book"]);
                let trade_rng = SplitMix64::derive(config.seed, &[id.as_str(), name, "trade"]);
                let book = TrueBook::new(inst.start_mid, config.depth, &mut book_rng);
                let StartIds { seq, trade: next_trade } = protocol.start_ids(&mut book_rng);
                SymState {
                    book,
                    book_rng,
                    trade_rng,
                    seq,
                    cross_seq: 4_000_000_000 + seq,
                    next_trade,
                    skip_next: false,
                    refuse_snapshots: false,
                }
            })
            .collect();
        Self {
            id,
            protocol,
            config: config.clone(),
            instruments,
            listed,
            hub: Mutex::new(Hub { syms, conns: BTreeMap::new() }),
            counters: Counters::default(),
            trades_sent: Mutex::new(Vec::new()),
            snapshot_429: AtomicUsize::new(0),
            ws_addr,
            rest_addr,
            cancel,
            next_conn: AtomicU64::new(1),
            paused,
        }
    }

    /// Locks books and connections.
    pub(crate) fn lock(&self) -> MutexGuard<'_, Hub> {
        lock(&self.hub)
    }

    /// The instruments the REST listing shows now, with their indices, in config order.
    pub(crate) fn listed(&self) -> impl Iterator<Item = (usize, &Instrument)> {
        self.instruments.iter().enumerate().filter(|(i, _)| self.is_listed(*i))
    }

    /// Whether the REST listing shows this instrument now.
    pub(crate) fn is_listed(&self, sym: usize) -> bool {
        self.listed.get(sym).is_some_and(|l| l.load(Ordering::Acquire))
    }

    /// The instrument with this native name, in any case (`BTCUSDT`, `btcusdt`).
    pub(crate) fn find_native(&self, native: &str) -> Option<usize> {
        self.instruments.iter().position(|inst| inst.upper().eq_ignore_ascii_case(native))
    }

    /// The instrument with this canonical name.
    pub(crate) fn find_symbol(&self, symbol: &Symbol) -> Option<usize> {
        self.instruments.iter().position(|inst| &inst.symbol == symbol)
    }

    /// Queues a message for one connection. A full queue means the client cannot keep up:
    /// the connection is dropped (never the simulator blocked) and counted.
    pub(crate) fn send(&self, conns: &mut BTreeMap<u64, Conn>, conn_id: u64, out: Outbound) {
        let Some(conn) = conns.get(&conn_id) else { return };
        match conn.tx.try_send(out) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                conn.kill.cancel();
                bump(&self.counters.queue_overflows);
                conns.remove(&conn_id);
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                conns.remove(&conn_id);
            }
        }
    }

    /// Adds subscriptions to a connection, skipping ones it already has.
    pub(crate) fn add_subs(&self, conn_id: u64, subs: Vec<Sub>) {
        let mut hub = self.lock();
        if let Some(conn) = hub.conns.get_mut(&conn_id) {
            for sub in subs {
                if !conn.subs.contains(&sub) {
                    conn.subs.push(sub);
                }
            }
        }
    }

    /// Whether snapshots of this instrument are refused now (and counts the refusal).
    pub(crate) fn take_refusal(&self, hub: &Hub, sym: usize) -> bool {
        let refused = hub.syms.get(sym).is_some_and(|s| s.refuse_snapshots);
        if refused {
            bump(&self.counters.snapshots_refused);
        }
        refused
    }

    /// Whether this snapshot request is one the 429 fault refuses (and counts it).
    pub(crate) fn take_429(&self) -> bool {
        let taken =
            self.snapshot_429.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1)).is_ok();
        if taken {
            bump(&self.counters.snapshot_429s);
        }
        taken
    }

    /// Records the trades of a batch the first time a socket takes it.
    pub(crate) fn record_trades(&self, batch: &TradeBatch) {
        if !batch.recorded.swap(true, Ordering::AcqRel) {
            lock(&self.trades_sent).extend(batch.trades.iter().cloned());
        }
    }
}
