//! md-sim: a loopback exchange simulator for md's tests, examples and benchmarks.
//!
//! It speaks the Binance spot, Bybit v5 spot, HTX spot and Bitstamp WebSocket v2 protocols —
//! WebSocket plus the REST endpoints md uses — from seeded synthetic books and trades, with
//! fault injection:
//!
//! | venue | WebSocket | REST |
//! |---|---|---|
//! | Binance | `/stream` (combined; `SUBSCRIBE`/`UNSUBSCRIBE`, or `?streams=a/b`) | `/api/v3/exchangeInfo`, `/api/v3/depth` |
//! | Bybit | `/v5/public/spot` (`op:subscribe`/`op:unsubscribe`) | `/v5/market/instruments-info` (2 rows a page) |
//! | HTX | `/ws` and `/feed` (same behaviour, gzip binary frames; `sub`/`unsub`/`req`) | `/v1/common/symbols` |
//! | Bitstamp | `/` (`bts:subscribe`/`bts:unsubscribe`, one channel each; `bts:heartbeat`) | `/api/v2/trading-pairs-info/`, `/api/v2/order_book/{pair}/` |
//!
//! Each venue is one protocol module; [`simulates`] says whether md-sim has one for a venue,
//! and [`SimConfig::validate`] refuses a venue it has none for (never serving it another
//! venue's protocol).
//!
//! Each venue keeps a true book per symbol (exactly `depth` levels a side, never crossed),
//! updated `updates_per_sec` times a second; every update is applied to the true book and
//! sent as the venue's incremental, numbered as the venue numbers them (Binance `U..=u`,
//! Bybit `u + 1`, HTX `seqNum` jumps linked by `prevSeqNum`, Bitstamp none: a strictly
//! increasing `microtimestamp`, which md-sim keeps as the book's sequence). Images (Binance
//! and Bitstamp REST depth, Bybit subscribe snapshot, HTX `req`) are taken under the same lock
//! as the incrementals, so they always line up with the stream. [`Simulator::pause`] stops updates and trades, giving
//! a quiescent point at which [`Simulator::book`] is what a correct client must hold.
//!
//! Listings and subscriptions can be watched and changed at run time, for tests of clients
//! that subscribe and unsubscribe symbols as a venue lists and delists them:
//!
//! - [`SimConfig::unlisted`] instruments tick like the others but are absent from the REST
//!   listing; [`Simulator::set_listed`] lists or delists any instrument on one venue's
//!   listing (its data keeps flowing to connections subscribed to it).
//!   [`Simulator::symbols`] is the listing now, [`Simulator::all_symbols`] every instrument.
//! - [`Simulator::subscribers`] counts the open connections holding any topic of an
//!   instrument, [`Simulator::connections`] the open WebSocket connections.
//! - [`Faults::refuse_snapshots`] makes one symbol's snapshots answer as a delisted
//!   symbol's do (Binance HTTP 400 `-1121 Invalid symbol.`).
//!
//! Contents are deterministic for a seed (book walks and sequence steps per venue and
//! symbol; Bitstamp's sequence is the wall clock); timing is wall-clock, so how many updates
//! happen before a given moment is not.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use md_core::{ExchangeId, Symbol};
//! let config = md_sim::SimConfig { unlisted: vec![("DOGE".into(), "USDT".into())], ..Default::default() };
//! let sim = md_sim::Simulator::start(config).await?;
//! println!("{}", sim.ws_url(ExchangeId::Binance)); // ws://127.0.0.1:PORT/stream
//! sim.set_listed(ExchangeId::Binance, &Symbol::new("DOGE", "USDT"), true);
//! assert_eq!(sim.subscribers(ExchangeId::Binance, &Symbol::new("BTC", "USDT")), 0);
//! sim.faults(ExchangeId::Binance).drop_connections();
//! sim.shutdown().await;
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]

mod book;
mod config;
mod faults;
mod gen;
mod http;
mod hub;
mod num;
mod port;
mod rng;
mod stats;
mod venue;
mod ws;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use md_core::{BookSnapshot, ExchangeId, Symbol, SymbolInfo, TradeId};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use config::{ConfigError, SimConfig};
pub use faults::Faults;
pub use port::free_port;
pub use stats::{FaultStats, SimStats};

use hub::{lock, Venue};

/// Whether md-sim speaks this venue's protocol (and [`Simulator::start`] can serve it).
pub fn simulates(id: ExchangeId) -> bool {
    venue::protocol(id).is_some()
}

/// A running simulator. Cheap to clone: clones share the same venues.
///
/// Dropping the last clone stops every task, as [`Simulator::shutdown`] does without waiting.
#[derive(Debug, Clone)]
pub struct Simulator {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    venues: Vec<Arc<Venue>>,
    paused: Arc<AtomicBool>,
    cancel: CancellationToken,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

impl Simulator {
    /// Binds a WebSocket and a REST listener on `127.0.0.1:0` for each venue and starts
    /// serving. Must run inside a Tokio runtime. An invalid config is
    /// [`std::io::ErrorKind::InvalidInput`].
    pub async fn start(config: SimConfig) -> std::io::Result<Simulator> {
        config.validate().map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        let cancel = CancellationToken::new();
        let paused = Arc::new(AtomicBool::new(false));
        let mut venues = Vec::new();
        let mut tasks = Vec::new();
        let mut seen = Vec::new();
        for &id in &config.venues {
            if seen.contains(&id) {
                continue;
            }
            seen.push(id);
            let ws_listener = TcpListener::bind("127.0.0.1:0").await?;
            let rest_listener = TcpListener::bind("127.0.0.1:0").await?;
            // Checked by `validate`; a venue without a protocol is never started.
            let protocol = venue::protocol(id).ok_or_else(|| {
                std::io::Error::new(std::io::ErrorKind::InvalidInput, ConfigError::UnsupportedVenue(id))
            })?;
            let venue = Arc::new(Venue::new(
                id,
                protocol,
                &config,
                ws_listener.local_addr()?,
                rest_listener.local_addr()?,
                cancel.child_token(),
                paused.clone(),
            ));
            tasks.push(tokio::spawn(ws::serve(venue.clone(), ws_listener)));
            tasks.push(tokio::spawn(http::serve(venue.clone(), rest_listener)));
            tasks.push(tokio::spawn(gen::run(venue.clone())));
            venues.push(venue);
        }
        Ok(Simulator { inner: Arc::new(Inner { venues, paused, cancel, tasks: Mutex::new(tasks) }) })
    }

    fn venue(&self, id: ExchangeId) -> Option<&Arc<Venue>> {
        self.inner.venues.iter().find(|v| v.id == id)
    }

    fn expect_venue(&self, id: ExchangeId) -> &Arc<Venue> {
        match self.venue(id) {
            Some(venue) => venue,
            None => panic!("md-sim is not simulating {id}"),
        }
    }

    /// The venues being simulated.
    pub fn venues(&self) -> Vec<ExchangeId> {
        self.inner.venues.iter().map(|v| v.id).collect()
    }

    /// The venue's WebSocket URL: `ws://127.0.0.1:PORT/stream` (Binance),
    /// `.../v5/public/spot` (Bybit), `.../ws` (HTX; `/feed` on the same port works too),
    /// `.../` (Bitstamp).
    ///
    /// # Panics
    /// If the venue is not simulated.
    pub fn ws_url(&self, venue: ExchangeId) -> String {
        let v = self.expect_venue(venue);
        format!("ws://{}{}", v.ws_addr, v.protocol.ws_path())
    }

    /// The venue's REST base URL, `http://127.0.0.1:PORT`.
    ///
    /// # Panics
    /// If the venue is not simulated.
    pub fn rest_url(&self, venue: ExchangeId) -> String {
        format!("http://{}", self.expect_venue(venue).rest_addr)
    }

    /// The venue's listing as its REST endpoints show it now, native names spelled as the
    /// venue does (`BTCUSDT`, `btcusdt`). Empty for a venue not simulated.
    pub fn symbols(&self, venue: ExchangeId) -> Vec<SymbolInfo> {
        self.all_symbols(venue).into_iter().filter(|info| info.trading).collect()
    }

    /// Every instrument the venue simulates, listed or not ([`SimConfig::unlisted`],
    /// [`Simulator::set_listed`]); `trading` says whether the listing shows it now. A client
    /// that must parse an instrument before it is listed builds its symbol table from this.
    pub fn all_symbols(&self, venue: ExchangeId) -> Vec<SymbolInfo> {
        let Some(v) = self.venue(venue) else { return Vec::new() };
        v.instruments
            .iter()
            .enumerate()
            .map(|(i, inst)| SymbolInfo {
                symbol: inst.symbol.clone(),
                native: v.protocol.native(inst),
                trading: v.is_listed(i),
            })
            .collect()
    }

    /// Lists (`true`) or delists (`false`) an instrument on the venue's REST listing
    /// endpoints (Binance `exchangeInfo`, Bybit `instruments-info`, HTX `common/symbols`,
    /// Bitstamp `trading-pairs-info`),
    /// from the next request on. Only the listing changes: the instrument keeps ticking,
    /// connections subscribed to it keep receiving its data and new subscriptions and
    /// snapshots of it still work. A real venue stops trading a delisted instrument; for
    /// tests of listing refreshes a quiet instrument would prove less (a test sees that
    /// data keeps flowing until the client unsubscribes). [`Faults::refuse_snapshots`]
    /// refuses its snapshots where a test needs that too. Unknown symbols are ignored.
    ///
    /// # Panics
    /// If the venue is not simulated.
    pub fn set_listed(&self, venue: ExchangeId, symbol: &Symbol, listed: bool) {
        let v = self.expect_venue(venue);
        if let Some(flag) = v.find_symbol(symbol).and_then(|sym| v.listed.get(sym)) {
            flag.store(listed, Ordering::Release);
        }
    }

    /// The true current book, full depth, best first, with the venue's current sequence id
    /// (Binance last update id, Bybit `u`, HTX `seqNum`, Bitstamp `microtimestamp`).
    pub fn book(&self, venue: ExchangeId, symbol: &Symbol) -> Option<BookSnapshot> {
        let v = self.venue(venue)?;
        let sym = v.find_symbol(symbol)?;
        let hub = v.lock();
        let state = &hub.syms[sym];
        Some(state.book.snapshot(&v.instruments[sym], usize::MAX, state.seq))
    }

    /// How many open WebSocket connections of the venue hold at least one subscription (any
    /// topic) for this instrument now: 0 once every connection unsubscribed it. Zero for a
    /// venue not simulated or an unknown symbol.
    pub fn subscribers(&self, venue: ExchangeId, symbol: &Symbol) -> usize {
        let Some(v) = self.venue(venue) else { return 0 };
        let Some(sym) = v.find_symbol(symbol) else { return 0 };
        v.lock().conns.values().filter(|c| c.subs.iter().any(|s| s.sym == sym)).count()
    }

    /// The venue's open WebSocket connections now (handshake done, not yet closed by either
    /// side or a fault); zero for a venue not simulated. A connection the client closed leaves
    /// as soon as the simulator reads the close, so poll briefly after closing one.
    pub fn connections(&self, venue: ExchangeId) -> usize {
        self.venue(venue).map_or(0, |v| v.lock().conns.len())
    }

    /// Every trade written to at least one socket of the venue, in write order, each once.
    pub fn trades_sent(&self, venue: ExchangeId) -> Vec<(Symbol, TradeId)> {
        self.venue(venue).map(|v| lock(&v.trades_sent).clone()).unwrap_or_default()
    }

    /// The venue's counters (all zero for a venue not simulated).
    pub fn stats(&self, venue: ExchangeId) -> SimStats {
        self.venue(venue).map(|v| v.counters.snapshot()).unwrap_or_default()
    }

    /// The venue's fault injector.
    ///
    /// # Panics
    /// If the venue is not simulated.
    pub fn faults(&self, venue: ExchangeId) -> Faults {
        Faults { venue: self.expect_venue(venue).clone() }
    }

    /// Stops (`true`) or resumes (`false`) book updates and trades on every venue.
    /// Connections, heartbeats, REST and faults keep working, so a paused simulator is a
    /// quiescent point: once a client has read what was queued, its book must equal
    /// [`Simulator::book`].
    pub fn pause(&self, paused: bool) {
        self.inner.paused.store(paused, Ordering::Release);
    }

    /// Whether updates and trades are paused.
    pub fn is_paused(&self) -> bool {
        self.inner.paused.load(Ordering::Acquire)
    }

    /// Stops every listener, generator and connection (sockets close without a close frame)
    /// and waits, at most a few seconds, for the tasks to end.
    pub async fn shutdown(self) {
        self.inner.cancel.cancel();
        let tasks = std::mem::take(&mut *lock(&self.inner.tasks));
        for task in tasks {
            let _ = tokio::time::timeout(Duration::from_secs(2), task).await;
        }
    }
}
