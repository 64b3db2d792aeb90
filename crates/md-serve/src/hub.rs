//! The hub: one merged book per (symbol, venue set) with clients, subscribed on demand.
//!
//! The first client of a symbol subscribes it on every venue that lists it; the last one to
//! leave starts a grace period, after which the reaper releases the subscriptions the hub made
//! (never one another consumer made, such as md-ingest recording that symbol). A merged book
//! is a state, so it is published through a `watch` channel: a slow client always reads the
//! newest summary and never holds anyone back, and the sequence number says how many it
//! skipped.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use md_core::{now_ns, BookSet, DisconnectReason, ExchangeId, Status, Symbol, Symbols};
use md_driver::DriverHandle;
use tokio::sync::watch;

use crate::error::ServeError;
use crate::merge::{merge, Ladder, VenueBook, VenueStatus};
use crate::metrics::ServeMetrics;

/// The most rows per side a client may ask for.
pub const MAX_DEPTH: usize = 100;
/// Rows per side when a client asks for 0.
pub const DEFAULT_DEPTH: usize = 10;

/// The limits and timings of a hub.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubConfig {
    /// How long a symbol stays subscribed after its last client left (a client that reconnects
    /// at once finds its book in sync).
    pub grace: Duration,
    /// Client streams served at once, over every symbol and protocol.
    pub max_streams: usize,
    /// Whether a client may have symbols subscribed (md-serve). Beside a recording of chosen
    /// symbols (md-ingest `--symbols`), it may not: what the drivers carry is stored, and a
    /// symbol stored only while someone watched would be a recording full of holes.
    pub on_demand: bool,
}

impl Default for HubConfig {
    fn default() -> Self {
        Self { grace: Duration::from_secs(30), max_streams: 4096, on_demand: true }
    }
}

/// One merged summary, as published to every client of a symbol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BookView {
    /// The canonical symbol.
    pub symbol: Symbol,
    /// Counts the summaries produced for this symbol and venue set, from 1.
    pub sequence: u64,
    /// The merged ladder, [`MAX_DEPTH`] rows per side at most.
    pub ladder: Ladder,
    /// Every venue of the set, with its state (levels left out).
    pub venues: Vec<VenueBook>,
    /// The shapes clients were sent, built once per depth.
    pub shapes: crate::convert::Shapes,
}

impl BookView {
    /// The newest exchange and local times among the books merged.
    pub fn newest_stamps(&self) -> (i64, i64) {
        self.venues
            .iter()
            .filter(|v| v.status == VenueStatus::InSync)
            .fold((0, 0), |(e, l), v| (e.max(v.stamp.exchange_ts), l.max(v.stamp.local_ts)))
    }
}

/// What a client asked for, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ask {
    /// The symbol as typed.
    pub symbol: String,
    /// Rows per side (0: [`DEFAULT_DEPTH`]).
    pub depth: u32,
    /// Venue names; empty: every venue listing the symbol.
    pub venues: Vec<String>,
}

/// A client's place at a merged book: the newest summary, and a guard that counts the client
/// out when dropped.
#[derive(Debug)]
pub struct ClientStream {
    /// The summaries.
    pub receiver: watch::Receiver<Arc<BookView>>,
    /// Rows per side this client wants.
    pub depth: usize,
    /// Counts the client out when dropped.
    pub guard: ClientGuard,
}

/// Counts a client out of its topic when dropped, whatever ends the stream.
#[derive(Debug)]
pub struct ClientGuard {
    hub: Arc<Hub>,
    key: TopicKey,
    /// The sequence of the last summary this client was sent (to count skips).
    last_sent: Option<u64>,
}

impl ClientGuard {
    /// Notes that `view` was sent to this client, counting the summaries it skipped.
    pub fn sent(&mut self, view: &BookView) {
        ServeMetrics::bump(&self.hub.metrics.summaries_sent);
        if let Some(last) = self.last_sent {
            let skipped = view.sequence.saturating_sub(last).saturating_sub(1);
            self.hub.metrics.summaries_skipped.fetch_add(skipped, Relaxed);
        }
        self.last_sent = Some(view.sequence);
    }
}

impl Drop for ClientGuard {
    fn drop(&mut self) {
        ServeMetrics::drop_one(&self.hub.metrics.streams_open);
        ServeMetrics::bump(&self.hub.metrics.streams_closed);
        let mut topics = self.hub.topics();
        if let Some(topic) = topics.get_mut(&self.key) {
            topic.clients = topic.clients.saturating_sub(1);
            if topic.clients == 0 {
                topic.idle_since = Some(Instant::now());
            }
        }
    }
}

/// A merged book is kept per symbol and set of venues.
pub(crate) type TopicKey = (Symbol, Vec<ExchangeId>);

struct Topic {
    sender: watch::Sender<Arc<BookView>>,
    clients: usize,
    idle_since: Option<Instant>,
    /// Each venue's state and when it entered it.
    states: BTreeMap<ExchangeId, (VenueStatus, i64)>,
}

/// The latest status of one venue's book, as the spine reported it.
#[derive(Debug, Clone)]
struct Track {
    status: Status,
}

/// Every merged book of a server, the venue drivers it subscribes through, and the counters.
pub struct Hub {
    drivers: BTreeMap<ExchangeId, DriverHandle>,
    books: Arc<BookSet>,
    config: HubConfig,
    metrics: Arc<ServeMetrics>,
    topics: Mutex<HashMap<TopicKey, Topic>>,
    tracks: Mutex<HashMap<(ExchangeId, Symbol), Track>>,
    /// Subscriptions: serialised, since each is a round trip to a driver.
    subs: tokio::sync::Mutex<Subscriptions>,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("venues", &self.drivers.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// Which (venue, symbol) subscriptions the hub holds, and for how many topics.
#[derive(Debug, Default)]
struct Subscriptions {
    /// Made by the hub: released when no topic needs them.
    held: HashMap<(ExchangeId, Symbol), usize>,
    /// Made by someone else: used, never released.
    borrowed: HashMap<(ExchangeId, Symbol), usize>,
}

impl Hub {
    /// A hub subscribing through these drivers and reading their books from `books`.
    pub fn new(
        drivers: Vec<DriverHandle>,
        books: Arc<BookSet>,
        config: HubConfig,
        metrics: Arc<ServeMetrics>,
    ) -> Arc<Self> {
        Arc::new(Self {
            drivers: drivers.into_iter().map(|d| (d.exchange(), d)).collect(),
            books,
            config,
            metrics,
            topics: Mutex::default(),
            tracks: Mutex::default(),
            subs: tokio::sync::Mutex::default(),
        })
    }

    /// The counters.
    pub fn metrics(&self) -> &Arc<ServeMetrics> {
        &self.metrics
    }

    /// The venues the hub can merge.
    pub fn venues(&self) -> Vec<ExchangeId> {
        self.drivers.keys().copied().collect()
    }

    fn topics(&self) -> MutexGuard<'_, HashMap<TopicKey, Topic>> {
        self.topics.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn tracks(&self) -> MutexGuard<'_, HashMap<(ExchangeId, Symbol), Track>> {
        self.tracks.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Every trading symbol some venue lists, with the venues listing it, in symbol order.
    pub async fn symbols(&self) -> BTreeMap<Symbol, Vec<ExchangeId>> {
        let mut out: BTreeMap<Symbol, Vec<ExchangeId>> = BTreeMap::new();
        for (id, listing) in self.listings(&self.venues()).await {
            for info in listing.trading() {
                out.entry(info.symbol.clone()).or_default().push(id);
            }
        }
        for venues in out.values_mut() {
            venues.sort();
        }
        out
    }

    async fn listings(&self, venues: &[ExchangeId]) -> Vec<(ExchangeId, Arc<Symbols>)> {
        let mut out = Vec::new();
        for id in venues {
            if let Some(driver) = self.drivers.get(id) {
                if let Ok(Some(listing)) = driver.listing().await {
                    out.push((*id, listing));
                }
            }
        }
        out
    }

    /// Checks a request and resolves its symbol to a canonical one and the venues listing it.
    async fn resolve(&self, ask: &Ask) -> Result<(Symbol, Vec<ExchangeId>, usize), ServeError> {
        let depth = match ask.depth as usize {
            0 => DEFAULT_DEPTH,
            d if d > MAX_DEPTH => {
                return Err(ServeError::InvalidArgument(format!(
                    "depth {d} is out of range: give 1 to {MAX_DEPTH}, or 0 for {DEFAULT_DEPTH}"
                )))
            }
            d => d,
        };
        let venues = if ask.venues.is_empty() {
            self.venues()
        } else {
            let mut venues = Vec::new();
            for name in &ask.venues {
                match ExchangeId::parse(name.trim()).filter(|id| self.drivers.contains_key(id)) {
                    Some(id) if !venues.contains(&id) => venues.push(id),
                    Some(_) => {}
                    None => {
                        let valid: Vec<&str> = self.drivers.keys().map(|id| id.as_str()).collect();
                        return Err(ServeError::InvalidArgument(format!(
                            "unknown venue {name:?}: this server merges {}",
                            valid.join(", ")
                        )));
                    }
                }
            }
            venues.sort();
            venues
        };
        let listings = self.listings(&venues).await;
        let symbol = listings
            .iter()
            .find_map(|(_, listing)| {
                listing.resolve(ask.symbol.trim()).filter(|i| i.trading).map(|i| i.symbol.clone())
            })
            .or_else(|| self.resolve_concatenated(&listings, &ask.symbol));
        let Some(symbol) = symbol else {
            return Err(self.not_found(ask));
        };
        // Only identical canonical symbols merge: BTC-USDT never takes BTC-USD rows.
        let listing_it: Vec<ExchangeId> = listings
            .iter()
            .filter(|(_, listing)| listing.trading().any(|i| i.symbol == symbol))
            .map(|(id, _)| *id)
            .collect();
        if listing_it.is_empty() {
            return Err(self.not_found(ask));
        }
        if !self.config.on_demand {
            let mut carried = Vec::new();
            for id in listing_it {
                let subscribed = match self.drivers.get(&id) {
                    Some(driver) => driver.subscribed().await.map_err(ServeError::Driver)?,
                    None => Vec::new(),
                };
                if subscribed.iter().any(|i| i.symbol == symbol) {
                    carried.push(id);
                }
            }
            if carried.is_empty() {
                return Err(ServeError::NotRecorded { symbol: symbol.to_string() });
            }
            return Ok((symbol, carried, depth));
        }
        Ok((symbol, listing_it, depth))
    }

    /// `btcusdt` as typed for a venue whose native names are spelt otherwise.
    fn resolve_concatenated(&self, listings: &[(ExchangeId, Arc<Symbols>)], text: &str) -> Option<Symbol> {
        let wanted = text.trim().to_ascii_lowercase();
        listings.iter().find_map(|(_, listing)| {
            listing
                .trading()
                .find(|i| format!("{}{}", i.symbol.base(), i.symbol.quote()).eq_ignore_ascii_case(&wanted))
                .map(|i| i.symbol.clone())
        })
    }

    fn not_found(&self, ask: &Ask) -> ServeError {
        let venues =
            if ask.venues.is_empty() { String::new() } else { format!(" among {}", ask.venues.join(", ")) };
        ServeError::NotFound { symbol: ask.symbol.clone(), venues }
    }

    /// Opens a client stream: refuses a bad request before subscribing anything, subscribes
    /// the symbol on its venues if no client had it, and counts the client in.
    pub async fn open(self: &Arc<Self>, ask: &Ask) -> Result<ClientStream, ServeError> {
        let refused = |e: ServeError| {
            ServeMetrics::bump(&self.metrics.requests_refused);
            e
        };
        let (symbol, venues, depth) = self.resolve(ask).await.map_err(refused)?;
        if self.metrics.streams_open.load(Relaxed) as usize >= self.config.max_streams {
            ServeMetrics::bump(&self.metrics.requests_over_limit);
            return Err(ServeError::TooManyClients { limit: self.config.max_streams });
        }
        let key: TopicKey = (symbol, venues);
        let mut subs = self.subs.lock().await;
        let existing = self.topics().get(&key).map(|t| t.sender.subscribe());
        let receiver = match existing {
            Some(receiver) => receiver,
            None => {
                let mut taken = Vec::new();
                for &id in &key.1 {
                    if let Err(e) = self.take_subscription(&mut subs, id, &key.0).await {
                        // No topic holds them: give back what this request took.
                        for id in taken {
                            self.release_subscription(&mut subs, id, &key.0).await;
                        }
                        return Err(e);
                    }
                    taken.push(id);
                }
                let view = self.compute(&key, &mut BTreeMap::new(), 1);
                let (sender, receiver) = watch::channel(Arc::new(view));
                let states =
                    receiver.borrow().venues.iter().map(|v| (v.exchange, (v.status, v.since_ns))).collect();
                self.topics().insert(key.clone(), Topic { sender, clients: 0, idle_since: None, states });
                ServeMetrics::bump(&self.metrics.topics);
                receiver
            }
        };
        if let Some(topic) = self.topics().get_mut(&key) {
            topic.clients += 1;
            topic.idle_since = None;
        }
        drop(subs);
        ServeMetrics::bump(&self.metrics.streams_open);
        ServeMetrics::bump(&self.metrics.streams_opened);
        Ok(ClientStream {
            receiver,
            depth,
            guard: ClientGuard { hub: Arc::clone(self), key, last_sent: None },
        })
    }

    async fn take_subscription(
        &self,
        subs: &mut Subscriptions,
        id: ExchangeId,
        symbol: &Symbol,
    ) -> Result<(), ServeError> {
        let key = (id, symbol.clone());
        if let Some(n) = subs.held.get_mut(&key) {
            *n += 1;
            return Ok(());
        }
        if let Some(n) = subs.borrowed.get_mut(&key) {
            *n += 1;
            return Ok(());
        }
        let Some(driver) = self.drivers.get(&id) else { return Ok(()) };
        let already =
            driver.subscribed().await.map_err(ServeError::Driver)?.iter().any(|i| &i.symbol == symbol);
        if already {
            subs.borrowed.insert(key, 1);
        } else {
            driver.subscribe(symbol.as_str()).await.map_err(ServeError::Driver)?;
            subs.held.insert(key, 1);
            ServeMetrics::bump(&self.metrics.subscribes);
            ServeMetrics::bump(&self.metrics.subscriptions_held);
        }
        Ok(())
    }

    async fn release_subscription(&self, subs: &mut Subscriptions, id: ExchangeId, symbol: &Symbol) {
        let key = (id, symbol.clone());
        if let Some(n) = subs.borrowed.get_mut(&key) {
            *n -= 1;
            if *n == 0 {
                subs.borrowed.remove(&key);
            }
            return;
        }
        let Some(n) = subs.held.get_mut(&key) else { return };
        *n -= 1;
        if *n > 0 {
            return;
        }
        subs.held.remove(&key);
        if let Some(driver) = self.drivers.get(&id) {
            if let Err(e) = driver.unsubscribe(symbol.as_str()).await {
                tracing::warn!(exchange = %id, %symbol, error = %e, "could not unsubscribe");
            }
        }
        self.tracks().remove(&key);
        ServeMetrics::bump(&self.metrics.unsubscribes);
        ServeMetrics::drop_one(&self.metrics.subscriptions_held);
    }

    /// Removes the topics whose last client left more than the grace period ago, releasing
    /// their subscriptions. `all`: every topic without clients, grace or not (shutdown).
    pub async fn reap(&self, all: bool) {
        let mut subs = self.subs.lock().await;
        let expired: Vec<TopicKey> = self
            .topics()
            .iter()
            .filter(|(_, t)| {
                t.clients == 0 && t.idle_since.is_some_and(|at| all || at.elapsed() >= self.config.grace)
            })
            .map(|(k, _)| k.clone())
            .collect();
        for key in expired {
            self.topics().remove(&key);
            ServeMetrics::drop_one(&self.metrics.topics);
            for &id in &key.1 {
                self.release_subscription(&mut subs, id, &key.0).await;
            }
        }
    }

    /// Notes the latest status of a venue's book.
    pub(crate) fn on_status(&self, exchange: ExchangeId, symbol: &Symbol, status: &Status) {
        self.tracks().insert((exchange, symbol.clone()), Track { status: status.clone() });
    }

    /// Recomputes the merged books of these symbols (all when `None`) and publishes the ones
    /// that changed.
    pub(crate) fn refresh(&self, symbols: Option<&std::collections::HashSet<Symbol>>) {
        let keys: Vec<TopicKey> = self
            .topics()
            .keys()
            .filter(|(s, _)| symbols.is_none_or(|set| set.contains(s)))
            .cloned()
            .collect();
        for key in keys {
            let (mut states, previous) = match self.topics().get(&key) {
                Some(t) => (t.states.clone(), Arc::clone(&t.sender.borrow())),
                None => continue,
            };
            let mut view = self.compute(&key, &mut states, previous.sequence);
            if view.ladder == previous.ladder && same_states(&view.venues, &previous.venues) {
                continue;
            }
            view.sequence = previous.sequence + 1;
            if let Some(topic) = self.topics().get_mut(&key) {
                topic.states = states;
                topic.sender.send_replace(Arc::new(view));
                ServeMetrics::bump(&self.metrics.summaries_produced);
            }
        }
    }

    /// The merged book of a topic now, from the shared verified books.
    fn compute(
        &self,
        key: &TopicKey,
        states: &mut BTreeMap<ExchangeId, (VenueStatus, i64)>,
        sequence: u64,
    ) -> BookView {
        let (symbol, venues) = key;
        let now = now_ns();
        let tracks = self.tracks();
        let mut books = Vec::with_capacity(venues.len());
        for &id in venues {
            let mut venue = VenueBook {
                exchange: id,
                status: VenueStatus::Syncing,
                since_ns: now,
                detail: String::new(),
                bids: Vec::new(),
                asks: Vec::new(),
                stamp: Default::default(),
            };
            let shared = self.books.get(id, symbol);
            let in_sync = shared.as_ref().is_some_and(|book| {
                let state = book.read();
                venue.stamp = state.stamp;
                if state.book.is_synced() {
                    venue.bids = state.book.bids().take(MAX_DEPTH).copied().collect();
                    venue.asks = state.book.asks().take(MAX_DEPTH).copied().collect();
                }
                state.book.is_synced()
            });
            if in_sync {
                venue.status = VenueStatus::InSync;
            } else {
                let (status, detail) = not_in_sync(tracks.get(&(id, symbol.clone())), shared.is_some());
                venue.status = status;
                venue.detail = detail;
            }
            let entry = states.entry(id).or_insert((venue.status, now));
            if entry.0 != venue.status {
                *entry = (venue.status, now);
            }
            venue.since_ns = entry.1;
            books.push(venue);
        }
        drop(tracks);
        let ladder = merge(&books, MAX_DEPTH);
        for venue in &mut books {
            venue.bids = Vec::new();
            venue.asks = Vec::new();
        }
        BookView { symbol: symbol.clone(), sequence, ladder, venues: books, shapes: Default::default() }
    }
}

/// A venue's state when its book is not in sync, from its latest status.
fn not_in_sync(track: Option<&Track>, registered: bool) -> (VenueStatus, String) {
    match track.map(|t| &t.status) {
        Some(Status::Disconnected { reason: DisconnectReason::Silent { timeout_ms }, .. }) => {
            (VenueStatus::Stale, format!("no frame for {timeout_ms} ms"))
        }
        Some(Status::Disconnected { reason, .. }) => (VenueStatus::Disconnected, reason.to_string()),
        Some(Status::GapDetected { gap, .. }) => (VenueStatus::Syncing, format!("resyncing after {gap}")),
        _ if !registered => (VenueStatus::Syncing, "subscribing".into()),
        _ => (VenueStatus::Syncing, "waiting for a snapshot".into()),
    }
}

fn same_states(a: &[VenueBook], b: &[VenueBook]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| x.exchange == y.exchange && x.status == y.status && x.detail == y.detail)
}

impl Hub {
    /// Drops every merged book, ending every client stream (shutdown), and releases the
    /// subscriptions the hub made.
    pub async fn close_all(&self) {
        let keys: Vec<TopicKey> = self.topics().keys().cloned().collect();
        let mut subs = self.subs.lock().await;
        for key in keys {
            if self.topics().remove(&key).is_some() {
                ServeMetrics::drop_one(&self.metrics.topics);
            }
            for &id in &key.1 {
                self.release_subscription(&mut subs, id, &key.0).await;
            }
        }
    }
}
