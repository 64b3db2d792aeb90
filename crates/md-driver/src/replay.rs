//! Replay: recorded raw events through the same connection cores as live.
//!
//! A [`Replay`] takes a venue's [`RawEvent`]s in the order they were recorded and drives one
//! [`ConnectionCore`] per connection task (slot) with them, exactly as the live socket loop
//! did: the same parser, book verification, sampler (on the recorded clock) and statuses, so
//! the same events give the same packets. Messages md sent and fetches the core asks for are
//! not acted on: what the venue answered is in the recording. A snapshot the replay's core asks
//! for that the recording never consumed leaves that book waiting for the next recorded one;
//! such requests are counted ([`ReplayStats::snapshots_unanswered`]).

use std::collections::BTreeSet;
use std::sync::Arc;

use md_core::{BookSet, Channel, DataPacket, Exchange, Frame, RawEvent, RawKind, Symbol, Symbols, WsMessage};
use serde::{Deserialize, Serialize};

use crate::core::{ConnectionCore, Effects};
use crate::metrics::DriverMetrics;
use crate::{DriverConfig, SampleConfig};

/// What a capture records of a venue's driver settings, so that a replay rebuilds the same
/// connection cores (stored as JSON in each capture file's header).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedConfig {
    /// The channels subscribed (`trades`, `book`).
    pub channels: Vec<String>,
    /// Incrementals a book could queue while waiting for its snapshot.
    pub max_pending_deltas: usize,
    /// Top-N sampling interval in ns, if sampling.
    pub sample_interval_ns: Option<u64>,
    /// Top-N sampling depth.
    pub sample_depth: usize,
    /// The WebSocket URL override the venue ran with (md-sim's, in tests).
    pub ws_url: Option<String>,
    /// The REST URL override.
    pub rest_url: Option<String>,
    /// [`DriverConfig::cross_check_interval`] in ns (`Some(0)`: off; absent in captures of
    /// earlier versions: the venue's default). A replay checks the snapshots the capture holds
    /// exactly when the live run did: only whether checks were on matters to it.
    #[serde(default)]
    pub cross_check_interval_ns: Option<u64>,
}

impl RecordedConfig {
    /// What `config` (with these endpoint overrides) records.
    pub fn of(config: &DriverConfig, ws_url: Option<String>, rest_url: Option<String>) -> Self {
        Self {
            channels: config.channels.iter().map(|c| c.as_str().to_owned()).collect(),
            max_pending_deltas: config.max_pending_deltas,
            sample_interval_ns: config
                .sample
                .as_ref()
                .map(|s| u64::try_from(s.interval.as_nanos()).unwrap_or(u64::MAX)),
            sample_depth: config.sample.as_ref().map_or(0, |s| s.depth),
            ws_url,
            rest_url,
            cross_check_interval_ns: config
                .cross_check_interval
                .map(|every| u64::try_from(every.as_nanos()).unwrap_or(u64::MAX)),
        }
    }

    /// The driver settings a replay runs with.
    pub fn driver_config(&self) -> DriverConfig {
        let channels = self
            .channels
            .iter()
            .filter_map(|name| Channel::ALL.into_iter().find(|c| c.as_str() == name))
            .collect();
        DriverConfig {
            channels,
            max_pending_deltas: self.max_pending_deltas,
            sample: self.sample_interval_ns.map(|ns| SampleConfig {
                interval: std::time::Duration::from_nanos(ns),
                depth: self.sample_depth,
            }),
            cross_check_interval: self.cross_check_interval_ns.map(std::time::Duration::from_nanos),
            ..DriverConfig::default()
        }
    }
}

/// What a replay did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplayStats {
    /// Events taken.
    pub events: u64,
    /// Frames parsed.
    pub frames: u64,
    /// REST snapshot bodies applied.
    pub snapshots: u64,
    /// Packets produced.
    pub packets: u64,
    /// Snapshots the replay's books asked for that the recording never held (each such book
    /// waited for the next recorded one).
    pub snapshots_unanswered: u64,
    /// Events that could not be applied (a frame before its connection's task, text that is
    /// not UTF-8, a snapshot for a symbol the connection does not carry).
    pub skipped: u64,
}

/// One recorded connection task.
struct Slot {
    core: ConnectionCore,
    /// Snapshots asked for and not yet seen in the recording.
    waiting: BTreeSet<Symbol>,
}

/// Replays one venue's recorded events.
pub struct Replay {
    exchange: Arc<dyn Exchange>,
    config: Arc<DriverConfig>,
    listing: Arc<Symbols>,
    books: Arc<BookSet>,
    metrics: Arc<DriverMetrics>,
    slots: std::collections::BTreeMap<u64, Slot>,
    stats: ReplayStats,
    fx: Effects,
}

impl std::fmt::Debug for Replay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replay")
            .field("exchange", &self.exchange.id())
            .field("slots", &self.slots.len())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl Replay {
    /// A replay of `exchange`'s events with the recorded driver settings; verified books go
    /// into `books`.
    pub fn new(exchange: Arc<dyn Exchange>, config: DriverConfig, books: Arc<BookSet>) -> Self {
        Self {
            exchange,
            config: Arc::new(config),
            listing: Arc::new(Symbols::default()),
            books,
            metrics: Arc::default(),
            slots: std::collections::BTreeMap::new(),
            stats: ReplayStats::default(),
            fx: Effects::default(),
        }
    }

    /// The driver counters (books in sync, gaps, parse errors…), as live.
    pub fn metrics(&self) -> Arc<DriverMetrics> {
        Arc::clone(&self.metrics)
    }

    /// What the replay did so far.
    pub fn stats(&self) -> ReplayStats {
        let waiting: usize = self.slots.values().map(|s| s.waiting.len()).sum();
        ReplayStats {
            snapshots_unanswered: self.stats.snapshots_unanswered + waiting as u64,
            ..self.stats.clone()
        }
    }

    /// Applies one event; the packets it causes are appended to `out`, in order.
    pub fn apply(&mut self, event: &RawEvent, out: &mut Vec<DataPacket>) {
        self.stats.events += 1;
        let ts = event.local_ts;
        match &event.kind {
            RawKind::Listing(listing) => self.listing = Arc::clone(listing),
            RawKind::Task { url } => {
                let core = self.core_for(url);
                self.slots.insert(event.slot, Slot { core, waiting: BTreeSet::new() });
            }
            kind => {
                let Some(slot) = self.slots.get_mut(&event.slot) else {
                    self.stats.skipped += 1;
                    return;
                };
                let fx = &mut self.fx;
                match kind {
                    RawKind::ListingAdopted => slot.core.adopt_listing(Arc::clone(&self.listing)),
                    RawKind::Symbols { added, announced } => slot.core.add(added, *announced, ts, fx),
                    RawKind::Unsubscribed { symbols, reason } => {
                        for symbol in symbols {
                            slot.waiting.remove(symbol);
                        }
                        slot.core.remove(symbols, *reason, ts, fx);
                    }
                    RawKind::Connected { .. } => slot.core.on_connected(event.conn, ts, fx),
                    RawKind::Received(WsMessage::Text(bytes)) => match std::str::from_utf8(bytes) {
                        Ok(text) => {
                            self.stats.frames += 1;
                            slot.core.on_frame(Frame::Text(text), ts, fx);
                        }
                        Err(_) => self.stats.skipped += 1,
                    },
                    RawKind::Received(WsMessage::Binary(bytes)) => {
                        self.stats.frames += 1;
                        slot.core.on_frame(Frame::Binary(bytes), ts, fx);
                    }
                    RawKind::Rest { symbol, body, .. } => {
                        let info = slot.core.symbols().find(|i| &i.symbol == symbol).cloned();
                        match info {
                            Some(info) => {
                                slot.waiting.remove(symbol);
                                self.stats.snapshots += 1;
                                slot.core.on_snapshot_body(&info, body, ts, fx);
                            }
                            None => self.stats.skipped += 1,
                        }
                    }
                    RawKind::Disconnected(reason) => {
                        // Live, the fetches a session had in flight die with it.
                        self.stats.snapshots_unanswered += slot.waiting.len() as u64;
                        slot.waiting.clear();
                        slot.core.on_disconnected(reason, ts, fx);
                    }
                    // What md sent, pings and pongs: the recording holds the venue's answers.
                    _ => {}
                }
                for fetch in fx.fetches.drain(..) {
                    slot.waiting.insert(fetch.symbol.symbol);
                }
            }
        }
        self.stats.packets += self.fx.packets.len() as u64;
        out.append(&mut self.fx.packets);
        self.fx.replies.clear();
        self.fx.outbox.clear();
        self.fx.end = None;
    }

    /// A connection core for a task recorded with `url`: the channels md puts on that URL, or
    /// every configured channel when none maps to it (another tool's recording, whose URLs are
    /// its own, or one that names no URL).
    fn core_for(&self, url: &str) -> ConnectionCore {
        let (exchange, config) = (Arc::clone(&self.exchange), Arc::clone(&self.config));
        let mut channels: Vec<Channel> =
            config.channels.iter().copied().filter(|&c| exchange.ws_url(&[c]) == url).collect();
        if channels.is_empty() {
            channels = config.channels.clone();
        }
        let (listing, books, metrics) =
            (Arc::clone(&self.listing), Arc::clone(&self.books), Arc::clone(&self.metrics));
        ConnectionCore::for_channels(exchange, config, channels, listing, books, metrics)
    }
}
