//! The books one connection keeps: verified, shared through the [`BookSet`], and resynced one
//! symbol at a time.
//!
//! Incrementals flow on only after their book has applied them; while a book waits for a
//! snapshot (after subscribing, after a gap, after a reconnect) they wait in its queue and
//! flow on, in order, right after the snapshot that aligns them.
//!
//! Books of venues whose incrementals carry no sequence are also cross-checked against fresh
//! snapshots (the `checks` module): a snapshot that arrives for a book in sync is a check.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use md_core::{
    Applied, BookDelta, BookError, BookSet, BookSync, ConnId, DataPacket, ExchangeId, Gap, Payload,
    PendingUpdate, SeqRule, SharedBook, Stamp, Status, Symbol, SymbolInfo, TopSampler, UndoBound, UnixNanos,
};

use crate::metrics::{bump, DriverMetrics};

mod checks;

/// A queued incremental with what is needed to pass it on as a packet later.
#[derive(Debug)]
pub(crate) struct PendingDelta {
    exchange: ExchangeId,
    symbol: Symbol,
    exchange_ts: UnixNanos,
    local_ts: UnixNanos,
    delta: BookDelta,
}

impl AsRef<BookDelta> for PendingDelta {
    fn as_ref(&self) -> &BookDelta {
        &self.delta
    }
}

impl PendingUpdate for PendingDelta {
    fn stamp(&self) -> Option<Stamp> {
        Some(Stamp { exchange_ts: self.exchange_ts, local_ts: self.local_ts })
    }
}

impl PendingDelta {
    fn into_packet(self) -> DataPacket {
        DataPacket {
            exchange: self.exchange,
            symbol: self.symbol,
            exchange_ts: self.exchange_ts,
            local_ts: self.local_ts,
            data: Payload::BookDelta(self.delta),
        }
    }
}

struct BookState {
    info: SymbolInfo,
    sync: BookSync<PendingDelta>,
    /// A snapshot has been asked for and not yet answered.
    requested: bool,
    /// The book lost sync after having had it (a gap, a reconnect), so its next snapshot is a
    /// resync.
    lost: bool,
    /// A cross-check snapshot has been asked for and not yet answered.
    checking: bool,
    /// When the book was last checked or loaded from a snapshot (receive time, ns).
    last_check: UnixNanos,
}

/// Every book of one connection.
pub(crate) struct Books {
    exchange: ExchangeId,
    rule: SeqRule,
    max_pending: usize,
    book_set: Arc<BookSet>,
    books: md_core::FastMap<Symbol, BookState>,
    /// The shared books in symbol order, for the sampler (rebuilt when books come and go).
    sorted: Vec<(Symbol, Arc<SharedBook>)>,
    /// Whether the books are cross-checked (their snapshots while in sync are checks).
    checks: bool,
}

impl Books {
    pub(crate) fn new(
        exchange: ExchangeId,
        rule: SeqRule,
        max_pending: usize,
        book_set: Arc<BookSet>,
        checks: bool,
    ) -> Self {
        Self {
            exchange,
            rule,
            max_pending,
            book_set,
            books: md_core::FastMap::default(),
            sorted: Vec::new(),
            checks,
        }
    }

    /// Starts keeping a book (unsynced until its snapshot) and registers it in the book set.
    pub(crate) fn add(&mut self, info: &SymbolInfo) {
        if self.books.contains_key(&info.symbol) {
            return;
        }
        let shared = Arc::new(SharedBook::new(self.rule));
        self.book_set.insert(self.exchange, info.symbol.clone(), Arc::clone(&shared));
        let mut sync = BookSync::with_shared(shared, self.max_pending);
        if self.checks {
            sync = sync.with_cross_checks(UndoBound::default());
        }
        let state = BookState {
            info: info.clone(),
            sync,
            requested: false,
            lost: false,
            checking: false,
            last_check: 0,
        };
        self.books.insert(info.symbol.clone(), state);
        self.resort();
    }

    /// Stops keeping a book and unregisters it.
    pub(crate) fn remove(&mut self, symbol: &Symbol, metrics: &DriverMetrics) {
        if let Some(mut state) = self.books.remove(symbol) {
            if state.sync.is_synced() {
                metrics.books_in_sync.fetch_sub(1, Ordering::Relaxed);
            }
            state.abandon_checks(metrics);
            self.book_set.remove(self.exchange, symbol, state.sync.shared());
            self.resort();
        }
    }

    fn resort(&mut self) {
        self.sorted = self.books.iter().map(|(s, b)| (s.clone(), Arc::clone(b.sync.shared()))).collect();
        self.sorted.sort_by(|a, b| a.0.cmp(&b.0));
    }

    /// Lets the sampler look at every book, in symbol order, before an event at `local_ts`.
    pub(crate) fn sample(&self, sampler: &mut TopSampler, local_ts: UnixNanos, out: &mut Vec<DataPacket>) {
        sampler.advance(local_ts, self.exchange, self.sorted.iter().map(|(s, b)| (s, b)), out);
    }

    /// Snapshots every changed book now (the end of a connection or of the run).
    pub(crate) fn flush(&self, sampler: &mut TopSampler, local_ts: UnixNanos, out: &mut Vec<DataPacket>) {
        sampler.flush(local_ts, self.exchange, self.sorted.iter().map(|(s, b)| (s, b)), out);
    }

    /// Every book forgets its state: after a reconnect each is rebuilt from a fresh snapshot,
    /// and a book that was in sync reports `Resynced` once it is again.
    pub(crate) fn reset(&mut self, metrics: &DriverMetrics) {
        for state in self.books.values_mut() {
            if state.sync.is_synced() {
                metrics.books_in_sync.fetch_sub(1, Ordering::Relaxed);
                state.lost = true;
            }
            state.reset_sync(metrics);
            state.requested = false;
        }
    }

    /// Runs an incremental through its book; passes it on if applied, asks for a snapshot if
    /// the book needs one.
    pub(crate) fn on_delta(
        &mut self,
        conn: ConnId,
        packet: DataPacket,
        metrics: &DriverMetrics,
        requests: &mut Vec<SymbolInfo>,
        out: &mut Vec<DataPacket>,
    ) {
        let DataPacket { exchange, symbol, exchange_ts, local_ts, data } = packet;
        let Payload::BookDelta(delta) = data else { return };
        let Some(state) = self.books.get_mut(&symbol) else {
            // A book this connection does not keep: passing it on unverified would be a lie.
            return;
        };
        let pending = PendingDelta { exchange, symbol, exchange_ts, local_ts, delta };
        let was_synced = state.sync.is_synced();
        let result = state.sync.feed(pending);
        if self.checks {
            // A deferred check is compared by the first update later than its snapshot.
            state.count_check_outcomes(metrics);
        }
        match result {
            Ok((Applied::Updated, pending)) => {
                bump(&metrics.book_deltas);
                out.push(pending.into_packet());
            }
            Ok((Applied::Stale, _)) => bump(&metrics.stale_deltas),
            Err(BookError::NotSynced) => state.request(requests),
            Err(err) => {
                let at = Lost { conn, exchange, local_ts, was_synced };
                state.lose_sync(&err, at, metrics, requests, out);
            }
        }
    }

    /// Loads a snapshot into its book, and passes on the snapshot and the queued incrementals
    /// it aligned.
    pub(crate) fn on_snapshot(
        &mut self,
        conn: ConnId,
        packet: DataPacket,
        metrics: &DriverMetrics,
        requests: &mut Vec<SymbolInfo>,
        out: &mut Vec<DataPacket>,
    ) {
        let Payload::BookSnapshot(snapshot) = &packet.data else { return };
        let Some(state) = self.books.get_mut(&packet.symbol) else { return };
        let was_synced = state.sync.is_synced();
        if self.checks && was_synced {
            state.check(conn, &packet, metrics, requests, out);
            return;
        }
        if std::mem::take(&mut state.checking) {
            // Asked for as a check, but the book lost sync meanwhile: it rebuilds the book.
            bump(&metrics.cross_checks_dropped);
        }
        let mut aligned = Vec::new();
        let stamp = Stamp { exchange_ts: packet.exchange_ts, local_ts: packet.local_ts };
        let result =
            state.sync.on_snapshot_with(snapshot, Some(stamp), |pending| aligned.push(pending.into_packet()));
        state.requested = false;
        match result {
            Ok(_) => {
                if !was_synced {
                    metrics.books_in_sync.fetch_add(1, Ordering::Relaxed);
                }
                state.last_check = packet.local_ts;
                bump(&metrics.book_snapshots);
                let (exchange, local_ts) = (packet.exchange, packet.local_ts);
                out.push(packet);
                metrics.book_deltas.fetch_add(aligned.len() as u64, Ordering::Relaxed);
                out.append(&mut aligned);
                if std::mem::take(&mut state.lost) {
                    bump(&metrics.resyncs);
                    out.push(status(exchange, &state.info.symbol, local_ts, Status::Resynced { conn }));
                }
            }
            Err(err) => {
                // The snapshot is older than the queued incrementals (or crossed): ask again.
                if was_synced {
                    metrics.books_in_sync.fetch_sub(1, Ordering::Relaxed);
                }
                tracing::debug!(symbol = %state.info.symbol, error = %err, "snapshot did not align; fetching another");
                state.requested = true;
                requests.push(state.info.clone());
            }
        }
        if self.checks {
            // A reload drops a deferred check.
            state.count_check_outcomes(metrics);
        }
    }
}

/// Where and when a book lost sync.
#[derive(Debug, Clone, Copy)]
struct Lost {
    conn: ConnId,
    exchange: ExchangeId,
    local_ts: UnixNanos,
    was_synced: bool,
}

impl BookState {
    /// Asks for a snapshot, unless one is asked for already.
    fn request(&mut self, requests: &mut Vec<SymbolInfo>) {
        if !self.requested {
            self.requested = true;
            requests.push(self.info.clone());
        }
    }

    /// The book refused an update or failed a check: count the gap, report it, resync.
    fn lose_sync(
        &mut self,
        err: &BookError,
        at: Lost,
        metrics: &DriverMetrics,
        requests: &mut Vec<SymbolInfo>,
        out: &mut Vec<DataPacket>,
    ) {
        bump(&metrics.gaps);
        if at.was_synced {
            metrics.books_in_sync.fetch_sub(1, Ordering::Relaxed);
        }
        tracing::warn!(exchange = %at.exchange, symbol = %self.info.symbol, error = %err, "book lost sync; resyncing this symbol");
        self.lost = true;
        if let Some(gap) = Gap::from_book_error(err) {
            let gap = Status::GapDetected { conn: at.conn, gap };
            out.push(status(at.exchange, &self.info.symbol, at.local_ts, gap));
        }
        self.request(requests);
    }
}

impl Drop for Books {
    fn drop(&mut self) {
        for (symbol, state) in &self.books {
            self.book_set.remove(self.exchange, symbol, state.sync.shared());
        }
    }
}

/// A status packet about one symbol.
pub(crate) fn status(
    exchange: ExchangeId,
    symbol: &Symbol,
    local_ts: UnixNanos,
    status: Status,
) -> DataPacket {
    DataPacket {
        exchange,
        symbol: symbol.clone(),
        exchange_ts: local_ts,
        local_ts,
        data: Payload::Status(status),
    }
}
