//! Cross-checks of the books of venues whose incrementals carry no sequence (Bitstamp): a
//! snapshot that arrives for a book in sync is compared with the book as it was at the
//! snapshot's time ([`md_core::BookSync::cross_check`]); a mismatch is a gap like any other
//! (counted, reported as [`md_core::Gap::CrossCheck`], resynced).
//!
//! Whether a snapshot is a check depends only on the book's state when the snapshot is
//! consumed, never on who asked for it or when, so a replay of a capture makes the same checks
//! with the same outcomes. Only asking for checks runs on the live clock ([`Books::due_checks`]).

use md_core::{CheckOutcome, ConnId, DataPacket, Payload, Symbol, SymbolInfo, UnixNanos};

use super::{BookState, Books, Lost};
use crate::metrics::{bump, DriverMetrics};

impl Books {
    /// The books in sync whose last check (or load) is `interval_ns` or more before `now`, and
    /// that wait for no snapshot: each is marked as being checked, and listed in `out`.
    pub(crate) fn due_checks(&mut self, now: UnixNanos, interval_ns: i64, out: &mut Vec<SymbolInfo>) {
        for (symbol, _) in &self.sorted {
            let Some(state) = self.books.get_mut(symbol) else { continue };
            let due = now.saturating_sub(state.last_check) >= interval_ns;
            if due && !state.requested && !state.checking && state.sync.is_synced() {
                state.checking = true;
                state.last_check = now;
                out.push(state.info.clone());
            }
        }
    }

    /// A snapshot body for `symbol` could not be parsed. True when it was a check (the book is
    /// in sync): counted as inconclusive, and not fetched again (the next check will be).
    pub(crate) fn check_unusable(&mut self, symbol: &Symbol, metrics: &DriverMetrics) -> bool {
        match self.books.get_mut(symbol) {
            Some(state) if self.checks && state.sync.is_synced() => {
                state.checking = false;
                bump(&metrics.cross_checks_inconclusive);
                true
            }
            _ => false,
        }
    }
}

impl BookState {
    /// A snapshot for this book while it is in sync: a check. The snapshot is not passed on:
    /// consumers' books (rebuilt from what the driver passes on) are ahead of it.
    pub(super) fn check(
        &mut self,
        conn: ConnId,
        packet: &DataPacket,
        metrics: &DriverMetrics,
        requests: &mut Vec<SymbolInfo>,
        out: &mut Vec<DataPacket>,
    ) {
        let Payload::BookSnapshot(snapshot) = &packet.data else { return };
        self.checking = false;
        let result = self.sync.cross_check(snapshot);
        self.count_check_outcomes(metrics);
        if let Err(err) = result {
            let at = Lost { conn, exchange: packet.exchange, local_ts: packet.local_ts, was_synced: true };
            self.lose_sync(&err, at, metrics, requests, out);
        }
    }

    /// Counts the outcomes of this book's checks since the last call.
    pub(super) fn count_check_outcomes(&mut self, metrics: &DriverMetrics) {
        for outcome in self.sync.take_check_outcomes() {
            let counter = match outcome {
                CheckOutcome::Passed => &metrics.cross_checks_passed,
                CheckOutcome::Failed(_) => &metrics.cross_checks_failed,
                CheckOutcome::Inconclusive => &metrics.cross_checks_inconclusive,
                CheckOutcome::Deferred => &metrics.cross_checks_deferred,
                CheckOutcome::Dropped => &metrics.cross_checks_dropped,
            };
            bump(counter);
        }
    }

    /// Forgets the book (a reconnect), counting the checks that drops: one in flight (its
    /// fetch dies with the session) and one deferred.
    pub(super) fn reset_sync(&mut self, metrics: &DriverMetrics) {
        self.sync.reset();
        self.abandon_checks(metrics);
    }

    /// The book goes (or was reset): its checks in flight or deferred are counted as dropped.
    pub(super) fn abandon_checks(&mut self, metrics: &DriverMetrics) {
        if std::mem::take(&mut self.checking) {
            bump(&metrics.cross_checks_dropped);
        }
        if self.sync.has_deferred_check() {
            bump(&metrics.cross_checks_dropped);
        }
        self.count_check_outcomes(metrics);
    }
}
