//! [`ConnectionCore`]: everything one connection does with what it reads, without the socket.
//!
//! The core takes events — connected, a frame, a REST snapshot body, disconnected, symbols
//! added or removed — each with its receive time, and answers with [`Effects`]: packets for
//! downstream, replies to send at once, paced messages (subscriptions, snapshot requests),
//! snapshots to fetch, or the end of the connection. It never reads a clock and never does
//! I/O, so the live socket loop, a replay of a capture and the in-process benchmark drive the
//! same parser, the same book verification and the same sampler, and the same events give the
//! same packets. (It reads the clock only to rate-limit its log lines.)

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use md_core::{
    BookSet, Channel, ConnId, Control, DataPacket, DisconnectReason, Exchange, Frame, ParseError, Parser,
    Payload, Removal, SnapshotSource, Status, Symbol, SymbolInfo, Symbols, TopSampler, UnixNanos,
};

use crate::books::{status, Books};
use crate::metrics::{bump, DriverMetrics};
use crate::DriverConfig;

/// A REST snapshot the connection needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetch {
    /// Whose book.
    pub symbol: SymbolInfo,
    /// The last body for it could not be used: wait before asking again, so that a venue
    /// that keeps refusing does not spend the REST budget every other book needs.
    pub after_refusal: bool,
    /// A cross-check of a book in sync, not a resync: it waits while resyncs need the REST
    /// budget.
    pub check: bool,
}

/// What the connection must do after an event.
#[derive(Debug, Default)]
pub struct Effects {
    /// Packets for downstream, in order.
    pub packets: Vec<DataPacket>,
    /// Texts to send now, ahead of anything paced (HTX's pong within its grace).
    pub replies: Vec<String>,
    /// Texts to send at the venue's message rate (subscriptions, snapshot requests).
    pub outbox: Vec<String>,
    /// REST snapshots to fetch.
    pub fetches: Vec<Fetch>,
    /// The connection must end, and why.
    pub end: Option<DisconnectReason>,
}

impl Effects {
    /// Whether anything but packets is to be done.
    pub fn has_actions(&self) -> bool {
        !self.replies.is_empty() || !self.outbox.is_empty() || !self.fetches.is_empty() || self.end.is_some()
    }
}

/// One symbol on this connection: its topics here, and whether its book is kept here.
#[derive(Debug, Clone)]
struct Entry {
    info: SymbolInfo,
    topics: Vec<String>,
    book: bool,
}

/// The state of one connection, across reconnects: its symbols, parser, books and sampler.
pub struct ConnectionCore {
    exchange: Arc<dyn Exchange>,
    /// The channels this connection's URL carries.
    channels: Vec<Channel>,
    conn: ConnId,
    up: bool,
    /// A `Disconnected` was already reported for the current outage.
    reported_down: bool,
    entries: BTreeMap<Symbol, Entry>,
    parser: Box<dyn Parser>,
    books: Books,
    sampler: Option<TopSampler>,
    /// Symbols removed at run time whose frames may still be in flight: dropped on arrival.
    removed: HashSet<Symbol>,
    scratch: Vec<DataPacket>,
    requests: Vec<SymbolInfo>,
    metrics: Arc<DriverMetrics>,
    parse_log: RateLimitedLog,
    /// How often each book is cross-checked (`None`: never).
    check_every: Option<Duration>,
}

impl std::fmt::Debug for ConnectionCore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectionCore")
            .field("exchange", &self.exchange.id())
            .field("conn", &self.conn)
            .field("symbols", &self.entries.len())
            .finish_non_exhaustive()
    }
}

impl ConnectionCore {
    /// The core of a connection to `url`, naming symbols from `listing` and keeping its books in
    /// `book_set`.
    pub fn new(
        exchange: Arc<dyn Exchange>,
        config: Arc<DriverConfig>,
        url: &str,
        listing: Arc<Symbols>,
        book_set: Arc<BookSet>,
        metrics: Arc<DriverMetrics>,
    ) -> Self {
        let channels = config.channels.iter().copied().filter(|&c| exchange.ws_url(&[c]) == url).collect();
        Self::for_channels(exchange, config, channels, listing, book_set, metrics)
    }

    /// The core of a connection carrying `channels` (a replay of another tool's capture, which
    /// does not say which URL a connection used).
    pub fn for_channels(
        exchange: Arc<dyn Exchange>,
        config: Arc<DriverConfig>,
        channels: Vec<Channel>,
        listing: Arc<Symbols>,
        book_set: Arc<BookSet>,
        metrics: Arc<DriverMetrics>,
    ) -> Self {
        let check_every = crate::cross_check_interval(&config, exchange.as_ref());
        let books = Books::new(
            exchange.id(),
            exchange.seq_rule(),
            config.max_pending_deltas,
            book_set,
            check_every.is_some(),
        );
        let sampler = config.sample.as_ref().map(|s| TopSampler::new(nanos(s.interval), s.depth));
        Self {
            parser: exchange.parser(listing),
            exchange,
            channels,
            conn: ConnId(0),
            up: false,
            reported_down: false,
            entries: BTreeMap::new(),
            books,
            sampler,
            removed: HashSet::new(),
            scratch: Vec::with_capacity(64),
            requests: Vec::new(),
            metrics,
            parse_log: RateLimitedLog::default(),
            check_every,
        }
    }

    /// The current (or last) connection id.
    pub fn conn(&self) -> ConnId {
        self.conn
    }

    /// Whether no symbol is left on the connection.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The symbols on this connection.
    pub fn symbols(&self) -> impl Iterator<Item = &SymbolInfo> {
        self.entries.values().map(|e| &e.info)
    }

    /// Names symbols from a new listing from now on.
    pub fn adopt_listing(&mut self, listing: Arc<Symbols>) {
        self.parser = self.exchange.parser(listing);
    }

    /// The connection `conn` is open: subscribe everything, report each symbol connected.
    pub fn on_connected(&mut self, conn: ConnId, local_ts: UnixNanos, fx: &mut Effects) {
        self.conn = conn;
        self.up = true;
        self.reported_down = false;
        let topics: Vec<String> = self.entries.values().flat_map(|e| e.topics.iter().cloned()).collect();
        fx.outbox.extend(self.exchange.subscribe_messages(&topics));
        for symbol in self.entries.keys() {
            fx.packets.push(status(self.exchange.id(), symbol, local_ts, Status::Connected { conn }));
        }
    }

    /// One frame read at `local_ts`.
    pub fn on_frame(&mut self, frame: Frame<'_>, local_ts: UnixNanos, fx: &mut Effects) {
        self.sample(local_ts, fx);
        let len = match frame {
            Frame::Text(t) => t.len(),
            Frame::Binary(b) => b.len(),
        };
        self.metrics.bytes_received.fetch_add(len as u64, std::sync::atomic::Ordering::Relaxed);
        match self.parser.parse(frame, local_ts, &mut self.scratch) {
            Ok(Control::Data) => {}
            Ok(Control::Reply(text)) => {
                bump(&self.metrics.control_frames);
                fx.replies.push(text);
            }
            Ok(Control::Rejected { message }) => {
                bump(&self.metrics.venue_rejections);
                tracing::warn!(exchange = %self.exchange.id(), %message, "the venue refused a request");
            }
            Ok(Control::Shutdown) => {
                bump(&self.metrics.control_frames);
                fx.end = Some(DisconnectReason::VenueShutdown);
            }
            Ok(_) => bump(&self.metrics.control_frames),
            Err(err) => self.parse_error(&err),
        }
        self.route(fx);
    }

    /// A REST snapshot body for `symbol`, consumed at `local_ts`.
    pub fn on_snapshot_body(
        &mut self,
        symbol: &SymbolInfo,
        body: &str,
        local_ts: UnixNanos,
        fx: &mut Effects,
    ) {
        if !self.entries.contains_key(&symbol.symbol) {
            return;
        }
        self.sample(local_ts, fx);
        match self.exchange.parse_snapshot(symbol, body, local_ts) {
            Ok(packet) => {
                self.scratch.push(packet);
                self.route(fx);
            }
            Err(err) => {
                self.parse_error(&err);
                if !self.books.check_unusable(&symbol.symbol, &self.metrics) {
                    fx.fetches.push(Fetch { symbol: symbol.clone(), after_refusal: true, check: false });
                }
            }
        }
    }

    /// How often each book of this connection is cross-checked against a fresh snapshot
    /// (`None`: never; see [`crate::DriverConfig::cross_check_interval`]).
    pub fn cross_check_interval(&self) -> Option<Duration> {
        self.check_every
    }

    /// Asks for a cross-check snapshot of every book in sync last checked (or loaded) one
    /// interval or more before `local_ts`. The live loop calls it on a timer; it produces no
    /// packets (the sampler does not advance), so a replay, which never calls it, gives the same
    /// packets: the snapshots it asked for are in the capture, and they are what is checked.
    pub fn due_checks(&mut self, local_ts: UnixNanos, fx: &mut Effects) {
        let Some(every) = self.check_every else { return };
        if !self.up {
            return;
        }
        let mut due = Vec::new();
        self.books.due_checks(local_ts, nanos(every), &mut due);
        for info in due {
            bump(&self.metrics.cross_checks_requested);
            match self.exchange.snapshot_source() {
                SnapshotSource::Rest => {
                    fx.fetches.push(Fetch { symbol: info, after_refusal: false, check: true })
                }
                SnapshotSource::InBand => fx.outbox.extend(self.exchange.snapshot_request(&info)),
                // Never checked (see `cross_check_interval`): a resubscribe would disturb the stream.
                SnapshotSource::Stream => {}
            }
        }
    }

    /// The connection ended at `local_ts`: keep the last samples, report every symbol
    /// disconnected (once per outage), forget every book.
    pub fn on_disconnected(&mut self, reason: &DisconnectReason, local_ts: UnixNanos, fx: &mut Effects) {
        if let Some(sampler) = &mut self.sampler {
            self.books.flush(sampler, local_ts, &mut fx.packets);
        }
        if !self.reported_down {
            self.reported_down = true;
            for symbol in self.entries.keys() {
                let lost = Status::Disconnected { conn: self.conn, reason: reason.clone() };
                fx.packets.push(status(self.exchange.id(), symbol, local_ts, lost));
            }
        }
        self.up = false;
        self.books.reset(&self.metrics);
    }

    /// Adds symbols (as listed). `announce`: report each `Subscribed` (run-time additions; the
    /// symbols a driver starts with are reported by `Connected`).
    pub fn add(&mut self, infos: &[SymbolInfo], announce: bool, local_ts: UnixNanos, fx: &mut Effects) {
        self.sample(local_ts, fx);
        let mut topics = Vec::new();
        for info in infos {
            if self.entries.contains_key(&info.symbol) {
                continue;
            }
            let mine: Vec<String> =
                self.channels.iter().flat_map(|&c| self.exchange.topics(info, c)).collect();
            let book = self.channels.contains(&Channel::Book)
                && !self.exchange.topics(info, Channel::Book).is_empty();
            if book {
                self.books.add(info);
            }
            topics.extend(mine.iter().cloned());
            self.removed.remove(&info.symbol);
            self.entries.insert(info.symbol.clone(), Entry { info: info.clone(), topics: mine, book });
            if announce {
                fx.packets.push(status(
                    self.exchange.id(),
                    &info.symbol,
                    local_ts,
                    Status::Subscribed { conn: self.conn },
                ));
            }
        }
        if self.up && !topics.is_empty() {
            fx.outbox.extend(self.exchange.subscribe_messages(&topics));
        }
    }

    /// Removes symbols: unsubscribes them, drops their books, reports each `Unsubscribed`.
    /// Frames of theirs still in flight are dropped on arrival.
    pub fn remove(&mut self, symbols: &[Symbol], reason: Removal, local_ts: UnixNanos, fx: &mut Effects) {
        self.sample(local_ts, fx);
        let mut topics = Vec::new();
        for symbol in symbols {
            let Some(entry) = self.entries.remove(symbol) else { continue };
            topics.extend(entry.topics);
            if entry.book {
                self.books.remove(symbol, &self.metrics);
            }
            if let Some(sampler) = &mut self.sampler {
                sampler.forget(symbol);
            }
            self.removed.insert(symbol.clone());
            fx.packets.push(status(
                self.exchange.id(),
                symbol,
                local_ts,
                Status::Unsubscribed { conn: self.conn, reason },
            ));
        }
        if self.up && !topics.is_empty() {
            fx.outbox.extend(self.exchange.unsubscribe_messages(&topics));
        }
    }

    fn sample(&mut self, local_ts: UnixNanos, fx: &mut Effects) {
        if let Some(sampler) = &mut self.sampler {
            self.books.sample(sampler, local_ts, &mut fx.packets);
        }
    }

    fn parse_error(&mut self, err: &ParseError) {
        bump(&self.metrics.parse_errors);
        self.parse_log.log(self.exchange.id(), err);
    }

    /// Passes parsed packets through the books and downstream; asks for the snapshots the
    /// books need.
    fn route(&mut self, fx: &mut Effects) {
        let conn = self.conn;
        let mut scratch = std::mem::take(&mut self.scratch);
        for packet in scratch.drain(..) {
            if !self.removed.is_empty() && self.removed.contains(&packet.symbol) {
                continue;
            }
            match &packet.data {
                Payload::BookDelta(_) => {
                    self.books.on_delta(conn, packet, &self.metrics, &mut self.requests, &mut fx.packets)
                }
                Payload::BookSnapshot(_) => {
                    self.books.on_snapshot(conn, packet, &self.metrics, &mut self.requests, &mut fx.packets)
                }
                Payload::Trade(_) => {
                    bump(&self.metrics.trades);
                    fx.packets.push(packet);
                }
                _ => fx.packets.push(packet),
            }
        }
        self.scratch = scratch;
        for info in std::mem::take(&mut self.requests) {
            self.request_snapshot(info, fx);
        }
    }

    /// Asks the venue for a fresh image of one book, the way the venue provides them.
    fn request_snapshot(&mut self, info: SymbolInfo, fx: &mut Effects) {
        bump(&self.metrics.snapshot_requests);
        match self.exchange.snapshot_source() {
            SnapshotSource::Rest => {
                fx.fetches.push(Fetch { symbol: info, after_refusal: false, check: false })
            }
            SnapshotSource::InBand => fx.outbox.extend(self.exchange.snapshot_request(&info)),
            SnapshotSource::Stream => {
                // The venue sends a snapshot after every subscribe: subscribe this book again.
                let topics = self.exchange.topics(&info, Channel::Book);
                fx.outbox.extend(self.exchange.unsubscribe_messages(&topics));
                fx.outbox.extend(self.exchange.subscribe_messages(&topics));
            }
        }
    }
}

fn nanos(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

/// Logs parse errors at a bounded rate: the first few, then one line per interval with a count.
#[derive(Debug, Default)]
struct RateLimitedLog {
    logged: u32,
    suppressed: u64,
    window_start: Option<std::time::Instant>,
}

impl RateLimitedLog {
    const BURST: u32 = 5;
    const WINDOW: Duration = Duration::from_secs(10);

    fn log(&mut self, exchange: md_core::ExchangeId, err: &ParseError) {
        let now = std::time::Instant::now();
        if self.window_start.is_none_or(|start| now.duration_since(start) >= Self::WINDOW) {
            if self.suppressed > 0 {
                tracing::warn!(%exchange, suppressed = self.suppressed, "more frames did not parse");
            }
            self.window_start = Some(now);
            self.logged = 0;
            self.suppressed = 0;
        }
        if self.logged < Self::BURST {
            self.logged += 1;
            tracing::warn!(%exchange, error = %err, "frame did not parse; skipped");
        } else {
            self.suppressed += 1;
        }
    }
}
