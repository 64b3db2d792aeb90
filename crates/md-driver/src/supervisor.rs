//! The venue-level task of a driver: the listing (fetched, refreshed, shown to the tap), which
//! symbols are subscribed, which connection carries each, and the commands that change that
//! while running.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use md_core::{now_ns, BookSet, ConnId, Exchange, RawKind, Removal, Symbol, SymbolInfo, Symbols};
use md_pipeline::Publisher;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::alloc::{groups, Allocator};
use crate::connection::{self, ConnCommand, Context};
use crate::core::ConnectionCore;
use crate::fetch::Fetcher;
use crate::metrics::{bump, DriverMetrics};
use crate::tap::Tap;
use crate::{DriverConfig, Selection, SubscribeError};

/// A request from a [`crate::DriverHandle`].
#[derive(Debug)]
pub(crate) enum Command {
    Subscribe(String, oneshot::Sender<Result<SymbolInfo, SubscribeError>>),
    Unsubscribe(String, oneshot::Sender<Result<SymbolInfo, SubscribeError>>),
    Subscribed(oneshot::Sender<Vec<SymbolInfo>>),
    Listing(oneshot::Sender<Option<Arc<Symbols>>>),
}

/// Everything the supervisor owns.
pub(crate) struct Supervisor {
    pub exchange: Arc<dyn Exchange>,
    pub config: Arc<DriverConfig>,
    pub metrics: Arc<DriverMetrics>,
    pub book_set: Arc<BookSet>,
    pub tap: Tap,
    pub fetcher: Fetcher,
    pub out: Publisher,
    pub cancel: CancellationToken,
    pub selection: Selection,
    pub listing: Option<Arc<Symbols>>,
    pub subscribed: BTreeMap<Symbol, SymbolInfo>,
    pub alloc: Allocator,
    pub conns: HashMap<u64, mpsc::Sender<ConnCommand>>,
    pub tasks: JoinSet<()>,
}

impl Supervisor {
    /// Runs until cancelled, then waits for every connection to finish.
    pub(crate) async fn run(mut self, mut commands: mpsc::Receiver<Command>) {
        let id = self.exchange.id();
        if self.listing.is_none() {
            match self.first_listing(&mut commands).await {
                Some(listing) => self.adopt(listing),
                None => return,
            }
        } else if let Some(listing) = self.listing.clone() {
            self.adopt(listing);
        }
        let initial = self.initial_selection();
        tracing::info!(exchange = %id, symbols = initial.len(), "subscribing");
        self.add(initial, false).await;
        let refresh = self.config.listing_refresh.unwrap_or(Duration::from_secs(86_400 * 365));
        let mut refreshes = tokio::time::interval_at(tokio::time::Instant::now() + refresh, refresh);
        refreshes.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = self.cancel.cancelled() => break,
                command = commands.recv() => match command {
                    Some(command) => self.on_command(command).await,
                    // Every handle is gone: keep running what is subscribed.
                    None => self.cancel.cancelled().await,
                },
                _ = refreshes.tick(), if self.config.listing_refresh.is_some() => self.refresh().await,
                Some(_) = self.tasks.join_next() => {}
            }
        }
        self.conns.clear();
        while self.tasks.join_next().await.is_some() {}
    }

    /// The listing, retried with backoff until it arrives or the run is cancelled: a venue that
    /// is down at start-up must not keep the others from recording.
    async fn first_listing(&mut self, commands: &mut mpsc::Receiver<Command>) -> Option<Arc<Symbols>> {
        let mut delay = Duration::from_secs(1);
        loop {
            match self.exchange.get_symbols().await {
                Ok(symbols) => return Some(Arc::new(symbols)),
                Err(e) => {
                    tracing::warn!(exchange = %self.exchange.id(), error = %e, ?delay, "cannot list symbols; retrying");
                    let until = tokio::time::Instant::now() + e.retry_after().unwrap_or(delay);
                    loop {
                        tokio::select! {
                            _ = self.cancel.cancelled() => return None,
                            () = tokio::time::sleep_until(until) => break,
                            Some(command) = commands.recv() => self.on_command(command).await,
                        }
                    }
                    delay = (delay * 2).min(Duration::from_secs(60));
                }
            }
        }
    }

    /// Takes a listing: shown to the tap, handed to every connection's parser.
    fn adopt(&mut self, listing: Arc<Symbols>) {
        bump(&self.metrics.listings);
        self.tap.record(ConnId(0), now_ns(), || RawKind::Listing(Arc::clone(&listing)));
        for conn in self.conns.values() {
            let _ = conn.try_send(ConnCommand::Listing(Arc::clone(&listing)));
        }
        self.listing = Some(listing);
    }

    /// What the driver starts with: every trading symbol, or those asked for that the venue
    /// lists and trades (the rest are refused and counted, never subscribed blindly).
    fn initial_selection(&mut self) -> Vec<SymbolInfo> {
        let Some(listing) = self.listing.clone() else { return Vec::new() };
        let id = self.exchange.id();
        match &self.selection {
            Selection::None => Vec::new(),
            Selection::All => {
                let mut all: Vec<SymbolInfo> = listing.trading().cloned().collect();
                all.sort_by(|a, b| a.symbol.cmp(&b.symbol));
                all
            }
            Selection::Symbols(wanted) => {
                let mut chosen: Vec<SymbolInfo> = Vec::new();
                for text in wanted.clone() {
                    match resolve(id, &listing, &text) {
                        Ok(info) if chosen.iter().any(|c| c.native == info.native) => {}
                        Ok(info) => chosen.push(info),
                        Err(e) => {
                            bump(&self.metrics.subscribe_refusals);
                            tracing::warn!(exchange = %id, error = %e, "skipped");
                        }
                    }
                }
                chosen
            }
        }
    }

    async fn on_command(&mut self, command: Command) {
        match command {
            Command::Subscribe(text, reply) => {
                let result = self.subscribe(&text).await;
                if result.is_err() {
                    bump(&self.metrics.subscribe_refusals);
                }
                let _ = reply.send(result);
            }
            Command::Unsubscribe(text, reply) => {
                let found = self.subscribed.values().find(|i| matches(i, &text)).cloned();
                let result = match found {
                    Some(info) => {
                        self.remove(std::slice::from_ref(&info.symbol), Removal::Requested).await;
                        Ok(info)
                    }
                    None => Err(SubscribeError::NotSubscribed { exchange: self.exchange.id(), symbol: text }),
                };
                let _ = reply.send(result);
            }
            Command::Subscribed(reply) => {
                let _ = reply.send(self.subscribed.values().cloned().collect());
            }
            Command::Listing(reply) => {
                let _ = reply.send(self.listing.clone());
            }
        }
    }

    async fn subscribe(&mut self, text: &str) -> Result<SymbolInfo, SubscribeError> {
        let id = self.exchange.id();
        let Some(listing) = self.listing.clone() else {
            return Err(SubscribeError::ListingUnavailable { exchange: id });
        };
        let info = resolve(id, &listing, text)?;
        if !self.subscribed.contains_key(&info.symbol) {
            self.add(vec![info.clone()], true).await;
        }
        Ok(info)
    }

    /// Places symbols on connections with room (or new ones) and tells each connection.
    async fn add(&mut self, infos: Vec<SymbolInfo>, announce: bool) {
        let channels = self.config.channels.clone();
        let mut per_slot: BTreeMap<u64, (bool, Vec<SymbolInfo>)> = BTreeMap::new();
        for info in infos {
            if self.subscribed.contains_key(&info.symbol) {
                continue;
            }
            let groups = groups(self.exchange.as_ref(), &info, &channels);
            for placed in self.alloc.place(&info.symbol, &groups) {
                let entry = per_slot.entry(placed.slot).or_insert((placed.new, Vec::new()));
                entry.1.push(info.clone());
            }
            self.subscribed.insert(info.symbol.clone(), info);
        }
        for (slot, (new, infos)) in per_slot {
            if new {
                self.spawn(slot, infos, announce);
            } else if let Some(conn) = self.conns.get(&slot) {
                let _ = conn.send(ConnCommand::Add(infos)).await;
            }
        }
        self.metrics
            .symbols_subscribed
            .store(self.subscribed.len() as i64, std::sync::atomic::Ordering::Relaxed);
    }

    /// Takes symbols off their connections; a connection left empty is closed.
    async fn remove(&mut self, symbols: &[Symbol], reason: Removal) {
        let mut per_slot: BTreeMap<u64, (bool, Vec<Symbol>)> = BTreeMap::new();
        for symbol in symbols {
            if self.subscribed.remove(symbol).is_none() {
                continue;
            }
            for (slot, emptied) in self.alloc.release(symbol) {
                let entry = per_slot.entry(slot).or_insert((false, Vec::new()));
                entry.0 |= emptied;
                entry.1.push(symbol.clone());
            }
        }
        for (slot, (emptied, symbols)) in per_slot {
            if let Some(conn) = self.conns.get(&slot) {
                let _ = conn.send(ConnCommand::Remove(symbols, reason)).await;
            }
            if emptied {
                // Dropping the sender ends the connection once it has taken the removal.
                self.conns.remove(&slot);
            }
        }
        self.metrics
            .symbols_subscribed
            .store(self.subscribed.len() as i64, std::sync::atomic::Ordering::Relaxed);
    }

    fn spawn(&mut self, slot: u64, infos: Vec<SymbolInfo>, announce: bool) {
        let (Some(url), Some(listing)) = (self.alloc.url(slot).map(str::to_owned), self.listing.clone())
        else {
            return;
        };
        let core = ConnectionCore::new(
            Arc::clone(&self.exchange),
            Arc::clone(&self.config),
            &url,
            listing,
            Arc::clone(&self.book_set),
            Arc::clone(&self.metrics),
        );
        let (tx, rx) = mpsc::channel(64);
        self.conns.insert(slot, tx);
        let ctx = Context {
            exchange: Arc::clone(&self.exchange),
            config: Arc::clone(&self.config),
            metrics: Arc::clone(&self.metrics),
            fetcher: self.fetcher.clone(),
            out: self.out.clone(),
            cancel: self.cancel.clone(),
            tap: self.tap.for_slot(slot),
        };
        self.tasks.spawn(connection::run(ctx, slot, url, core, infos, announce, rx));
    }

    /// Fetches the listing again: new listings are subscribed when recording every symbol,
    /// delisted ones dropped in any case.
    async fn refresh(&mut self) {
        let fetched = tokio::time::timeout(Duration::from_secs(30), self.exchange.get_symbols()).await;
        let listing = match fetched {
            Ok(Ok(listing)) => Arc::new(listing),
            Ok(Err(e)) => {
                tracing::warn!(exchange = %self.exchange.id(), error = %e, "listing refresh failed; keeping the last one");
                return;
            }
            Err(_) => {
                tracing::warn!(exchange = %self.exchange.id(), "listing refresh timed out; keeping the last one");
                return;
            }
        };
        self.adopt(Arc::clone(&listing));
        let trading = |symbol: &Symbol| {
            listing.native(symbol).and_then(|n| listing.resolve(n)).is_some_and(|i| i.trading)
        };
        let delisted: Vec<Symbol> = self.subscribed.keys().filter(|s| !trading(s)).cloned().collect();
        if !delisted.is_empty() {
            tracing::info!(exchange = %self.exchange.id(), symbols = ?delisted, "delisted: unsubscribing");
            self.remove(&delisted, Removal::Delisted).await;
        }
        if self.selection == Selection::All {
            let mut fresh: Vec<SymbolInfo> =
                listing.trading().filter(|i| !self.subscribed.contains_key(&i.symbol)).cloned().collect();
            fresh.sort_by(|a, b| a.symbol.cmp(&b.symbol));
            if !fresh.is_empty() {
                tracing::info!(exchange = %self.exchange.id(), symbols = fresh.len(), "newly listed: subscribing");
                self.add(fresh, true).await;
            }
        }
    }
}

/// What a user typed (canonical `BTC-USDT` or native `btcusdt`), checked against the listing.
pub(crate) fn resolve(
    exchange: md_core::ExchangeId,
    listing: &Symbols,
    text: &str,
) -> Result<SymbolInfo, SubscribeError> {
    match listing.resolve(text) {
        Some(info) if info.trading => Ok(info.clone()),
        Some(info) => Err(SubscribeError::NotTrading { exchange, symbol: info.symbol.to_string() }),
        None => Err(SubscribeError::NotListed { exchange, symbol: text.to_owned() }),
    }
}

/// Whether a subscribed symbol is the one the text names.
fn matches(info: &SymbolInfo, text: &str) -> bool {
    info.symbol.as_str().eq_ignore_ascii_case(text) || info.native.eq_ignore_ascii_case(text)
}
