//! md-driver: the one WebSocket driver of md, generic over the venue, and a source of the
//! spine.
//!
//! For any [`md_core::Exchange`] it lists the venue's symbols (and refreshes the listing),
//! places the chosen symbols on connections within the venue's limits, and for each
//! connection, forever: connect, subscribe (paced at the venue's message rate), answer
//! heartbeats, parse every frame, verify every book incremental against its book, publish the
//! packets of each read burst as one [`md_pipeline::Batch`], and reconnect with backoff when
//! the connection fails or goes quiet.
//!
//! - Symbols can be added and removed while running ([`DriverHandle`]); an added book is synced
//!   before its incrementals flow; a removed symbol is unsubscribed and an emptied connection
//!   closed; a symbol the venue does not list is refused with a [`SubscribeError`].
//! - A gap (or a crossed book) resyncs that one symbol from a fresh snapshot, REST within a
//!   weight budget, in-band, or by resubscribing; the connection and the other books carry on.
//! - Books of venues whose incrementals carry no sequence (Bitstamp) are cross-checked against
//!   a fresh snapshot at an interval ([`DriverConfig::cross_check_interval`]); a mismatch is a
//!   gap and resyncs the book.
//! - Verified books live in a shared [`md_core::BookSet`]; top-N snapshots are sampled on the
//!   stream's own clock ([`SampleConfig`]).
//! - Connection and book state travel in-band as [`md_core::Status`] packets, one per symbol,
//!   naming the connection and the typed reason.
//! - An optional [`md_core::RawTap`] sees every frame and message before parsing.
//! - What a connection does with what it reads is the socket-free [`ConnectionCore`], which a
//!   replay of recorded frames and the in-process benchmark drive too.
//! - The WebSocket client (handshake, TLS verified against the Mozilla roots, framing) is md's
//!   own (`ws`): it hands each frame on as a slice of its read buffer, and every message md
//!   sends, pongs included, goes through the session, where the tap sees it.
#![forbid(unsafe_code)]

mod alloc;
mod backoff;
mod books;
mod connection;
mod core;
mod fetch;
mod limiter;
mod metrics;
mod pace;
pub mod replay;
mod supervisor;
mod tap;
mod ws;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use md_core::{BookSet, Channel, Exchange, ExchangeId, RawTap, SymbolInfo, Symbols};
use md_pipeline::{BoxError, Publisher, Source};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

pub use crate::core::{ConnectionCore, Effects, Fetch};
pub use backoff::{seed_for, Backoff, BackoffConfig};
pub use limiter::RestLimiter;
pub use metrics::{DriverMetrics, MetricsSnapshot};
pub use replay::{RecordedConfig, Replay, ReplayStats};

use supervisor::{Command, Supervisor};

/// Top-N snapshots of every verified book, on the stream's clock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SampleConfig {
    /// How often (stream time).
    pub interval: Duration,
    /// Levels per side.
    pub depth: usize,
}

/// How the driver behaves; every default is what a long unattended run wants.
#[derive(Debug, Clone, PartialEq)]
pub struct DriverConfig {
    /// What to subscribe for every symbol.
    pub channels: Vec<Channel>,
    /// Reconnect delays.
    pub backoff: BackoffConfig,
    /// Frames larger than this close the connection (a bad peer must not exhaust memory).
    pub max_frame_bytes: usize,
    /// Incrementals a book may queue while it waits for a snapshot.
    pub max_pending_deltas: usize,
    /// Time allowed to open a connection.
    pub connect_timeout: Duration,
    /// Time allowed for a clean close when cancelled.
    pub close_timeout: Duration,
    /// Overrides the venue's liveness timeout (no frame for this long: reconnect).
    pub liveness_timeout: Option<Duration>,
    /// Overrides the interval of the venue's client heartbeat (Bybit's 20 s ping).
    pub heartbeat_interval: Option<Duration>,
    /// Frames read from a socket before their packets are published as one batch, when more
    /// are already waiting. Larger batches cost less per packet; smaller ones wait less.
    pub max_burst: usize,
    /// Fetch the listing again this often: new symbols are subscribed when recording every
    /// symbol, delisted ones dropped. `None`: never.
    pub listing_refresh: Option<Duration>,
    /// Top-N snapshots of the books; `None`: none.
    pub sample: Option<SampleConfig>,
    /// How often each book is cross-checked against a fresh snapshot, on venues whose
    /// incrementals carry no sequence ([`md_core::SeqRule::Timestamped`], Bitstamp), where a
    /// lost incremental is seen no other way: a mismatch is a gap and resyncs the book. `None`:
    /// the venue's default ([`DEFAULT_CROSS_CHECK_INTERVAL`] for such venues);
    /// `Some(Duration::ZERO)`: never. Venues with sequence numbers see their gaps and are never
    /// checked, nor are venues whose snapshots come only with a resubscribe.
    pub cross_check_interval: Option<Duration>,
}

/// How often a venue whose incrementals carry no sequence has each book cross-checked, unless
/// [`DriverConfig::cross_check_interval`] says otherwise. A check is one snapshot request: at
/// 60 s, 200 Bitstamp books take 2,000 of its 8,000 requests per 10 minutes. Checks never take
/// the half of the REST budget kept for resyncs, and a book asks for its next check only once
/// its last one is answered, so too many books stretch the interval instead of earning a 429.
pub const DEFAULT_CROSS_CHECK_INTERVAL: Duration = Duration::from_secs(60);

/// The interval at which `exchange`'s books are cross-checked under `config`; `None`: never
/// (see [`DriverConfig::cross_check_interval`]).
pub fn cross_check_interval(config: &DriverConfig, exchange: &dyn Exchange) -> Option<Duration> {
    let unseen_gaps = exchange.seq_rule() == md_core::SeqRule::Timestamped;
    if !unseen_gaps || exchange.snapshot_source() == md_core::SnapshotSource::Stream {
        return None;
    }
    match config.cross_check_interval {
        None => Some(DEFAULT_CROSS_CHECK_INTERVAL),
        Some(every) if every.is_zero() => None,
        Some(every) => Some(every),
    }
}

impl Default for DriverConfig {
    fn default() -> Self {
        Self {
            channels: Channel::ALL.to_vec(),
            backoff: BackoffConfig::default(),
            max_frame_bytes: 16 << 20,
            max_pending_deltas: 10_000,
            connect_timeout: Duration::from_secs(10),
            close_timeout: Duration::from_millis(300),
            liveness_timeout: None,
            heartbeat_interval: None,
            max_burst: 16,
            listing_refresh: Some(Duration::from_secs(3600)),
            sample: None,
            cross_check_interval: None,
        }
    }
}

/// Which symbols a driver starts with.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Selection {
    /// None: symbols come through [`DriverHandle::subscribe`].
    #[default]
    None,
    /// Every symbol the venue lists as trading, kept up to date as the listing changes.
    All,
    /// These (canonical `BTC-USDT` or native `btcusdt`); ones the venue does not list or trade
    /// are refused, logged and counted.
    Symbols(Vec<String>),
}

/// A symbol could not be subscribed or unsubscribed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SubscribeError {
    /// The venue does not list it.
    #[error("{exchange} does not list {symbol:?} (give BTC-USDT or the venue's own name)")]
    NotListed {
        /// The venue.
        exchange: ExchangeId,
        /// What was asked for.
        symbol: String,
    },
    /// The venue lists it but does not trade it now.
    #[error("{exchange} lists {symbol} but does not trade it now")]
    NotTrading {
        /// The venue.
        exchange: ExchangeId,
        /// The symbol.
        symbol: String,
    },
    /// The venue's listing has not arrived yet (it is retried): ask again later.
    #[error("{exchange}'s listing is not available yet")]
    ListingUnavailable {
        /// The venue.
        exchange: ExchangeId,
    },
    /// Not subscribed, so nothing to remove.
    #[error("{exchange} is not subscribed to {symbol:?}")]
    NotSubscribed {
        /// The venue.
        exchange: ExchangeId,
        /// What was asked for.
        symbol: String,
    },
    /// The driver has stopped.
    #[error("the driver has stopped")]
    Stopped,
}

/// The driver could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DriverError {
    /// No channel to subscribe.
    #[error("{0}: no channel to subscribe")]
    NoChannels(ExchangeId),
}

/// Changes a running driver's symbols; cheap to clone.
#[derive(Debug, Clone)]
pub struct DriverHandle {
    exchange: ExchangeId,
    commands: mpsc::Sender<Command>,
}

impl DriverHandle {
    /// The venue.
    pub fn exchange(&self) -> ExchangeId {
        self.exchange
    }

    /// Subscribes a symbol (canonical or native), if the venue lists and trades it; its book
    /// flows once synced. Subscribing one already subscribed is a no-op.
    pub async fn subscribe(&self, symbol: &str) -> Result<SymbolInfo, SubscribeError> {
        self.ask(|reply| Command::Subscribe(symbol.to_owned(), reply)).await?
    }

    /// Unsubscribes a symbol and drops its book; no packet of it follows the `Unsubscribed`
    /// status.
    pub async fn unsubscribe(&self, symbol: &str) -> Result<SymbolInfo, SubscribeError> {
        self.ask(|reply| Command::Unsubscribe(symbol.to_owned(), reply)).await?
    }

    /// The symbols subscribed now.
    pub async fn subscribed(&self) -> Result<Vec<SymbolInfo>, SubscribeError> {
        self.ask(Command::Subscribed).await
    }

    /// The venue's current listing, once fetched.
    pub async fn listing(&self) -> Result<Option<Arc<Symbols>>, SubscribeError> {
        self.ask(Command::Listing).await
    }

    async fn ask<T>(&self, command: impl FnOnce(oneshot::Sender<T>) -> Command) -> Result<T, SubscribeError> {
        let (reply, answer) = oneshot::channel();
        self.commands.send(command(reply)).await.map_err(|_| SubscribeError::Stopped)?;
        answer.await.map_err(|_| SubscribeError::Stopped)
    }
}

/// Runs one venue.
pub struct Driver {
    exchange: Arc<dyn Exchange>,
    selection: Selection,
    listing: Option<Arc<Symbols>>,
    config: Arc<DriverConfig>,
    metrics: Arc<DriverMetrics>,
    book_set: Arc<BookSet>,
    tap: Option<Arc<dyn RawTap>>,
    commands: (mpsc::Sender<Command>, mpsc::Receiver<Command>),
}

impl std::fmt::Debug for Driver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Driver")
            .field("exchange", &self.exchange.id())
            .field("selection", &self.selection)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Driver {
    /// A driver for a venue, starting with `selection`.
    pub fn new(exchange: Arc<dyn Exchange>, selection: Selection, config: DriverConfig) -> Self {
        Self {
            exchange,
            selection,
            listing: None,
            config: Arc::new(config),
            metrics: Arc::default(),
            book_set: Arc::default(),
            tap: None,
            commands: mpsc::channel(64),
        }
    }

    /// Starts from this listing instead of fetching one (it is still refreshed, if configured).
    pub fn with_listing(mut self, listing: Arc<Symbols>) -> Self {
        self.listing = Some(listing);
        self
    }

    /// Keeps the verified books in this set (shared with other drivers and readers).
    pub fn with_books(mut self, book_set: Arc<BookSet>) -> Self {
        self.book_set = book_set;
        self
    }

    /// Shows every raw event to this tap.
    pub fn with_tap(mut self, tap: Arc<dyn RawTap>) -> Self {
        self.tap = Some(tap);
        self
    }

    /// The venue.
    pub fn exchange(&self) -> ExchangeId {
        self.exchange.id()
    }

    /// Its counters, live.
    pub fn metrics(&self) -> Arc<DriverMetrics> {
        Arc::clone(&self.metrics)
    }

    /// Its books.
    pub fn books(&self) -> Arc<BookSet> {
        Arc::clone(&self.book_set)
    }

    /// A handle to change its symbols while it runs.
    pub fn handle(&self) -> DriverHandle {
        DriverHandle { exchange: self.exchange.id(), commands: self.commands.0.clone() }
    }

    /// Runs until `cancel` fires (returns within about a second), publishing into `out`.
    pub async fn run(self, out: Publisher, cancel: CancellationToken) -> Result<(), DriverError> {
        let id = self.exchange.id();
        if self.config.channels.is_empty() {
            return Err(DriverError::NoChannels(id));
        }
        let (sender, receiver) = self.commands;
        drop(sender);
        let max_topics = self.exchange.limits().max_streams_per_connection;
        let fetcher = fetch::Fetcher {
            exchange: Arc::clone(&self.exchange),
            limiter: Arc::new(RestLimiter::new(self.exchange.rest_limits())),
            metrics: Arc::clone(&self.metrics),
            backoff: self.config.backoff.clone(),
        };
        let supervisor = Supervisor {
            tap: tap::Tap::new(id, self.tap),
            exchange: self.exchange,
            config: self.config,
            metrics: self.metrics,
            book_set: self.book_set,
            fetcher,
            out,
            cancel,
            selection: self.selection,
            listing: self.listing,
            subscribed: BTreeMap::new(),
            alloc: alloc::Allocator::new(max_topics),
            conns: HashMap::new(),
            tasks: JoinSet::new(),
        };
        supervisor.run(receiver).await;
        Ok(())
    }
}

#[async_trait]
impl Source for Driver {
    fn name(&self) -> String {
        self.exchange.id().to_string()
    }

    async fn run(self: Box<Self>, out: Publisher, cancel: CancellationToken) -> Result<(), BoxError> {
        Driver::run(*self, out, cancel).await.map_err(|e| Box::new(e) as BoxError)
    }
}

/// The connections a driver would open for `symbols` at start, as (URL, topics) — for tools
/// and benchmarks that want to know the plan.
pub fn plan(
    exchange: &dyn Exchange,
    symbols: &[SymbolInfo],
    channels: &[Channel],
) -> Vec<(String, Vec<String>)> {
    let mut allocator = alloc::Allocator::new(exchange.limits().max_streams_per_connection);
    let mut topics: BTreeMap<u64, (String, Vec<String>)> = BTreeMap::new();
    for info in symbols {
        let groups = alloc::groups(exchange, info, channels);
        for (placed, (url, _)) in allocator.place(&info.symbol, &groups).into_iter().zip(&groups) {
            let entry = topics.entry(placed.slot).or_insert_with(|| (url.clone(), Vec::new()));
            for &channel in channels {
                if exchange.ws_url(&[channel]) == *url {
                    entry.1.extend(exchange.topics(info, channel));
                }
            }
        }
    }
    topics.into_values().collect()
}
