//! The books one connection keeps: verified, and resynced one symbol at a time.
//!
//! Incrementals flow on only after their book has applied them; while a book waits for a
//! snapshot (after subscribing, after a gap, after a reconnect) they wait in its queue and
//! flow on, in order, right after the snapshot that aligns them.

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use md_core::{
    Applied, BookDelta, BookError, BookSync, DataPacket, ExchangeId, Payload, SeqRule, Status, Symbol,
    SymbolInfo, UnixNanos,
};

use crate::metrics::{bump, DriverMetrics};

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
    /// The book lost sync after having had it (a gap), so its next snapshot is a resync.
    lost: bool,
}

/// What the connection must do after a packet went through the books.
#[derive(Debug, Default)]
pub(crate) struct Effects {
    /// Packets to pass downstream, in order.
    pub forward: Vec<DataPacket>,
    /// Books that need a fresh snapshot.
    pub request: Vec<SymbolInfo>,
}

/// Every book of one connection.
pub(crate) struct Books {
    books: HashMap<Symbol, BookState>,
}

impl Books {
    pub(crate) fn new(symbols: &[SymbolInfo], rule: SeqRule, max_pending: usize) -> Self {
        let books = symbols
            .iter()
            .map(|info| {
                let state = BookState {
                    info: info.clone(),
                    sync: BookSync::new(rule, max_pending),
                    requested: false,
                    lost: false,
                };
                (info.symbol.clone(), state)
            })
            .collect();
        Self { books }
    }

    /// Every book forgets its state: after a reconnect each is rebuilt from a fresh snapshot,
    /// and a book that was in sync reports `Resynced` once it is again.
    pub(crate) fn reset(&mut self, metrics: &DriverMetrics) {
        for state in self.books.values_mut() {
            if state.sync.book().is_synced() {
                metrics.books_in_sync.fetch_sub(1, Ordering::Relaxed);
                state.lost = true;
            }
            state.sync.reset();
            state.requested = false;
        }
    }

    /// Runs an incremental through its book.
    pub(crate) fn on_delta(&mut self, packet: DataPacket, metrics: &DriverMetrics, effects: &mut Effects) {
        let DataPacket { exchange, symbol, exchange_ts, local_ts, data } = packet;
        let Payload::BookDelta(delta) = data else { return };
        let Some(state) = self.books.get_mut(&symbol) else {
            // A book this connection did not subscribe: pass it on unverified would be a lie.
            return;
        };
        let was_synced = state.sync.book().is_synced();
        let pending = PendingDelta { exchange, symbol, exchange_ts, local_ts, delta };
        match state.sync.feed(pending) {
            Ok((Applied::Updated, pending)) => {
                bump(&metrics.book_deltas);
                effects.forward.push(pending.into_packet());
            }
            Ok((Applied::Stale, _)) => bump(&metrics.stale_deltas),
            Err(BookError::NotSynced) => {
                if !state.requested {
                    state.requested = true;
                    effects.request.push(state.info.clone());
                }
            }
            Err(err) => {
                bump(&metrics.gaps);
                if was_synced {
                    metrics.books_in_sync.fetch_sub(1, Ordering::Relaxed);
                }
                tracing::warn!(exchange = %exchange, symbol = %state.info.symbol, error = %err, "book lost sync; resyncing this symbol");
                state.lost = true;
                effects.forward.push(status(exchange, &state.info.symbol, local_ts, gap_status(&err)));
                if !state.requested {
                    state.requested = true;
                    effects.request.push(state.info.clone());
                }
            }
        }
    }

    /// Loads a snapshot into its book, and passes on the snapshot and the queued incrementals
    /// it aligned.
    pub(crate) fn on_snapshot(&mut self, packet: DataPacket, metrics: &DriverMetrics, effects: &mut Effects) {
        let Payload::BookSnapshot(snapshot) = &packet.data else { return };
        let Some(state) = self.books.get_mut(&packet.symbol) else { return };
        let was_synced = state.sync.book().is_synced();
        let mut aligned = Vec::new();
        let result = state.sync.on_snapshot_with(snapshot, |pending| aligned.push(pending.into_packet()));
        state.requested = false;
        match result {
            Ok(_) => {
                if !was_synced {
                    metrics.books_in_sync.fetch_add(1, Ordering::Relaxed);
                }
                bump(&metrics.book_snapshots);
                let (exchange, local_ts) = (packet.exchange, packet.local_ts);
                effects.forward.push(packet);
                metrics.book_deltas.fetch_add(aligned.len() as u64, Ordering::Relaxed);
                effects.forward.append(&mut aligned);
                if std::mem::take(&mut state.lost) {
                    bump(&metrics.resyncs);
                    effects.forward.push(status(exchange, &state.info.symbol, local_ts, Status::Resynced));
                }
            }
            Err(err) => {
                // The snapshot is older than the queued incrementals (or crossed): ask again.
                if was_synced {
                    metrics.books_in_sync.fetch_sub(1, Ordering::Relaxed);
                }
                tracing::debug!(symbol = %state.info.symbol, error = %err, "snapshot did not align; fetching another");
                state.requested = true;
                effects.request.push(state.info.clone());
            }
        }
    }
}

fn gap_status(err: &BookError) -> Status {
    Status::GapDetected { detail: err.to_string() }
}

/// A status packet about one symbol, or about a whole connection ([`Symbol::wildcard`]).
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
