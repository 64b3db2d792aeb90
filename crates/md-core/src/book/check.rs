//! Cross-checks of a book against a fresh venue snapshot, for venues whose incrementals carry
//! no sequence ([`super::SeqRule::Timestamped`], Bitstamp): a lost incremental is invisible in
//! such a stream, so the driver fetches a snapshot now and then and compares.
//!
//! A snapshot S stamped T usually arrives after the book has applied updates later than T (the
//! REST round trip is slower than the socket). An [`UndoLog`] keeps, for every recently applied
//! incremental, the quantity each level it touched had before, so that a copy of the book can
//! be turned back to T and compared with S level by level. A snapshot at or after the book's
//! last update is compared with the book as it is: equal, the check passes (updates still on
//! their way set absolute quantities S already holds, so they cannot make the book wrong);
//! different, it waits until the first update later than T arrives (only then has every
//! update up to T arrived) and is compared again before that update is applied. A quiet book
//! (Bitstamp's stay silent for up to 49 s) is so checked at once.

use std::cmp::Ordering;
use std::collections::VecDeque;
use std::fmt;

use super::{cmp_price, load_side, touch, upsert, BookSync, OrderBook, PendingUpdate};
use crate::decimal::Decimal;
use crate::error::BookError;
use crate::packet::{BookSnapshot, Level};

/// How far back a book's undo log reaches. Older changes are forgotten; a snapshot older than
/// what remains cannot be checked (an [`CheckOutcome::Inconclusive`] check).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UndoBound {
    /// Level changes kept at most (48 bytes each): caps the memory of a busy book.
    pub max_changes: usize,
    /// Sequence span kept, newest minus oldest change (µs under `Timestamped`). A snapshot lags
    /// the book by about one REST round trip, far less than the default 30 s.
    pub max_span: u64,
}

impl Default for UndoBound {
    fn default() -> Self {
        Self { max_changes: 50_000, max_span: 30_000_000 }
    }
}

/// How a book differed from the venue's snapshot (prices and quantities compared exactly;
/// a zero quantity is an absent level).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CheckDiff {
    /// The snapshot's sequence (its time, under `Timestamped`).
    pub snapshot_seq: u64,
    /// The book's last applied sequence when it was compared.
    pub book_seq: u64,
    /// Levels the venue has and the book lacks.
    pub missing: usize,
    /// Levels the book has and the venue lacks.
    pub extra: usize,
    /// Levels at the same price with another quantity.
    pub differing: usize,
}

impl CheckDiff {
    /// Whether the book equalled the snapshot.
    pub fn is_match(&self) -> bool {
        self.missing == 0 && self.extra == 0 && self.differing == 0
    }
}

impl fmt::Display for CheckDiff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "book (at {}) differs from the venue's snapshot at {}; levels: {} missing, {} extra, {} with another quantity",
            self.book_seq, self.snapshot_seq, self.missing, self.extra, self.differing
        )
    }
}

/// What became of one cross-check, drained with [`BookSync::take_check_outcomes`]. Every check
/// snapshot ends as exactly one of `Passed`, `Failed`, `Inconclusive` or `Dropped`; `Deferred`
/// is reported on the way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckOutcome {
    /// The book, turned back to the snapshot's time, equalled the snapshot.
    Passed,
    /// It differed: the book lost sync and must be rebuilt from a fresh snapshot.
    Failed(CheckDiff),
    /// The undo log does not reach back to the snapshot's time (or the snapshot predates the
    /// book's own snapshot): nothing can be said.
    Inconclusive,
    /// The snapshot is not older than the book's last update and differs from it: updates up
    /// to its time may still be on their way, so it is compared again when the first later
    /// update arrives.
    Deferred,
    /// A deferred check was never compared: a newer check replaced it, or the book lost sync,
    /// was reloaded or reset first.
    Dropped,
}

/// One level change of an applied incremental: what the level held before.
#[derive(Debug, Clone, Copy)]
struct Change {
    seq: u64,
    bid: bool,
    price: Decimal,
    prev: Decimal,
}

/// The recent level changes of a book, to turn a copy of it back in time.
#[derive(Debug, Clone)]
pub(crate) struct UndoLog {
    bound: UndoBound,
    changes: VecDeque<Change>,
    /// The book's sequence before the oldest change kept: the log can turn the book back to any
    /// sequence at or after it. `u64::MAX` while the book has no snapshot.
    floor: u64,
}

impl UndoLog {
    fn new(bound: UndoBound) -> Self {
        Self { bound, changes: VecDeque::new(), floor: u64::MAX }
    }

    /// The book was loaded from a snapshot at `seq`: nothing before it can be undone.
    pub(crate) fn restart(&mut self, seq: u64) {
        self.changes.clear();
        self.floor = seq;
    }

    /// The book lost sync: it can be turned back to nothing until its next snapshot.
    fn forget(&mut self) {
        self.changes.clear();
        self.floor = u64::MAX;
    }

    /// A level of an incremental at `seq` held `prev` before it.
    pub(crate) fn record(&mut self, seq: u64, bid: bool, price: Decimal, prev: Decimal) {
        self.changes.push_back(Change { seq, bid, price, prev });
    }

    /// Forgets the oldest changes beyond the bound (after each incremental).
    pub(crate) fn trim(&mut self) {
        let Some(newest) = self.changes.back().map(|c| c.seq) else { return };
        while let Some(oldest) = self.changes.front() {
            let over = self.changes.len() > self.bound.max_changes
                || newest.saturating_sub(oldest.seq) > self.bound.max_span;
            if !over {
                break;
            }
            self.floor = self.floor.max(oldest.seq);
            self.changes.pop_front();
        }
    }

    fn reaches(&self, seq: u64) -> bool {
        seq >= self.floor
    }

    /// Undoes, newest first, every change later than `seq` on copies of the book's sides.
    fn undo_to(&self, seq: u64, bids: &mut Vec<Level>, asks: &mut Vec<Level>) {
        for change in self.changes.iter().rev().take_while(|c| c.seq > seq) {
            let level = Level::new(change.price, change.prev);
            if change.bid {
                upsert(bids, level, cmp_price);
            } else {
                upsert(asks, level, |a, b| cmp_price(b, a));
            }
        }
    }
}

/// A book's cross-check state, kept by its [`BookSync`] when checks are enabled.
#[derive(Debug)]
pub(crate) struct Checks {
    pub(crate) log: UndoLog,
    deferred: Option<BookSnapshot>,
    outcomes: Vec<CheckOutcome>,
}

impl Checks {
    fn new(bound: UndoBound) -> Self {
        Self { log: UndoLog::new(bound), deferred: None, outcomes: Vec::new() }
    }

    fn drop_deferred(&mut self) {
        if self.deferred.take().is_some() {
            self.outcomes.push(CheckOutcome::Dropped);
        }
    }

    /// The book lost sync or was reset: no deferred check can be compared, nothing undone.
    pub(crate) fn lost(&mut self) {
        self.drop_deferred();
        self.log.forget();
    }

    /// The book was loaded from a snapshot at `seq`.
    pub(crate) fn reloaded(&mut self, seq: u64) {
        self.drop_deferred();
        self.log.restart(seq);
    }

    /// Before an update at `seq` is applied to the synced `book`: compares the deferred
    /// snapshot, if this update is later than it. `Some` when the book differed.
    pub(crate) fn before_delta(&mut self, book: &OrderBook, seq: u64) -> Option<CheckDiff> {
        if self.deferred.as_ref().is_none_or(|s| seq <= s.seq) {
            return None;
        }
        let snapshot = self.deferred.take()?;
        self.settle(compare(&book.bids, &book.asks, &snapshot, book.seq))
    }

    fn settle(&mut self, diff: CheckDiff) -> Option<CheckDiff> {
        if diff.is_match() {
            self.outcomes.push(CheckOutcome::Passed);
            None
        } else {
            self.log.forget();
            self.outcomes.push(CheckOutcome::Failed(diff));
            Some(diff)
        }
    }
}

/// Compares a book's sides (in the book's order, best last) with a venue snapshot.
fn compare(bids: &[Level], asks: &[Level], snapshot: &BookSnapshot, book_seq: u64) -> CheckDiff {
    let mut diff = CheckDiff { snapshot_seq: snapshot.seq, book_seq, ..CheckDiff::default() };
    let (mut venue_bids, mut venue_asks) = (Vec::new(), Vec::new());
    load_side(&mut venue_bids, &snapshot.bids, cmp_price);
    load_side(&mut venue_asks, &snapshot.asks, |a, b| cmp_price(b, a));
    diff_side(bids, &venue_bids, cmp_price, &mut diff);
    diff_side(asks, &venue_asks, |a, b| cmp_price(b, a), &mut diff);
    diff
}

/// Walks two sides sorted by `order`, counting what differs.
fn diff_side(
    ours: &[Level],
    venue: &[Level],
    order: impl Fn(&Decimal, &Decimal) -> Ordering,
    diff: &mut CheckDiff,
) {
    let (mut i, mut j) = (0, 0);
    while let (Some(a), Some(b)) = (ours.get(i), venue.get(j)) {
        match order(&a.price, &b.price) {
            Ordering::Less => {
                diff.extra += 1;
                i += 1;
            }
            Ordering::Greater => {
                diff.missing += 1;
                j += 1;
            }
            Ordering::Equal => {
                diff.differing += usize::from(a.qty != b.qty);
                i += 1;
                j += 1;
            }
        }
    }
    diff.extra += ours.len() - i;
    diff.missing += venue.len() - j;
}

impl<T: PendingUpdate> BookSync<T> {
    /// Keeps an undo log of the book's recent changes (within `bound`), so that
    /// [`BookSync::cross_check`] can compare it with snapshots older than its last update.
    pub fn with_cross_checks(mut self, bound: UndoBound) -> Self {
        let mut checks = Checks::new(bound);
        let book = self.shared.read();
        if book.book.is_synced() {
            checks.log.restart(book.book.seq());
        }
        drop(book);
        self.checks = Some(Box::new(checks));
        self
    }

    /// Compares the synced book with a fresh venue snapshot (see the module doc); the outcome
    /// is reported through [`BookSync::take_check_outcomes`]. A mismatch marks the book
    /// unsynced and errs with [`BookError::Mismatch`]: the caller fetches a snapshot to rebuild
    /// it, and incrementals queue meanwhile. Without [`BookSync::with_cross_checks`] there is no
    /// log: the check is inconclusive, and checks run with the default bound from the next
    /// snapshot on.
    pub fn cross_check(&mut self, snapshot: &BookSnapshot) -> Result<(), BookError> {
        let checks = self.checks.get_or_insert_with(|| Box::new(Checks::new(UndoBound::default())));
        let state = self.shared.read();
        let book = &state.book;
        if !book.is_synced() {
            return Err(BookError::NotSynced);
        }
        checks.drop_deferred();
        if book.seq() <= snapshot.seq {
            if compare(&book.bids, &book.asks, snapshot, book.seq).is_match() {
                checks.outcomes.push(CheckOutcome::Passed);
            } else {
                checks.deferred = Some(snapshot.clone());
                checks.outcomes.push(CheckOutcome::Deferred);
            }
            return Ok(());
        }
        if !checks.log.reaches(snapshot.seq) {
            checks.outcomes.push(CheckOutcome::Inconclusive);
            return Ok(());
        }
        let (mut bids, mut asks) = (book.bids.clone(), book.asks.clone());
        checks.log.undo_to(snapshot.seq, &mut bids, &mut asks);
        let diff = compare(&bids, &asks, snapshot, book.seq());
        drop(state);
        match checks.settle(diff) {
            None => Ok(()),
            Some(diff) => {
                let mut state = self.shared.write();
                state.book.lose_sync();
                touch(&mut state, None);
                Err(BookError::Mismatch(diff))
            }
        }
    }

    /// Whether a check waits for the first update later than its snapshot.
    pub fn has_deferred_check(&self) -> bool {
        self.checks.as_ref().is_some_and(|c| c.deferred.is_some())
    }

    /// The outcomes of cross-checks since the last call, in order.
    pub fn take_check_outcomes(&mut self) -> impl Iterator<Item = CheckOutcome> + '_ {
        self.checks.iter_mut().flat_map(|c| c.outcomes.drain(..))
    }
}

#[cfg(test)]
mod tests;
