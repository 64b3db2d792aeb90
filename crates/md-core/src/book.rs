//! A verified L2 order book.
//!
//! One [`OrderBook::apply`] takes a snapshot or an incremental, checks the incremental against
//! the venue's sequence rule and refuses with a typed [`BookError`] instead of drifting from
//! the exchange. Each side is a `Vec` sorted so that the best level is at the tail: most
//! updates touch the top of the book, where inserts and removals move few elements.
//!
//! Venues whose incrementals carry no sequence cannot show a lost update; their books are
//! cross-checked against fresh snapshots ([`BookSync::cross_check`], the `check` module).

use std::collections::VecDeque;
use std::sync::{Arc, RwLockReadGuard};

use serde::{Deserialize, Serialize};

use crate::book_set::{BookState, SharedBook, Stamp};
use crate::decimal::Decimal;
use crate::error::BookError;
use crate::packet::{BookDelta, BookSnapshot, Level, Sequence};

mod check;

pub use check::{CheckDiff, CheckOutcome, UndoBound};
use check::{Checks, UndoLog};

/// How a venue chains its incrementals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SeqRule {
    /// Binance spot: an event covers ids `U..=u`. Stale if `u <=` book id; a gap if `U >` book id + 1.
    UpdateIdRange,
    /// Each event names the previous event's last id (Binance futures `pu`, HTX `prevSeqNum`).
    /// Stale if its last id `<=` book id. The first after a snapshot may instead straddle the
    /// snapshot id (`U <= id < u`, Binance futures); after that `prev` must equal the book id.
    PrevLink,
    /// Bybit: each event's `u` is the previous `u` + 1. Stale if `u <=` book id.
    Consecutive,
    /// No sequence numbers; the venue's own clock orders updates (Bitstamp `microtimestamp`,
    /// in µs, carried as the sequence id). The first incremental after a snapshot is stale if
    /// its time is at or before the snapshot's; after that, one older than the last applied is
    /// a gap (the venue's clock never runs backwards, so frames were lost or reordered), and
    /// equal times apply. A lost incremental cannot be seen this way: such venues cross-check
    /// their books against fresh snapshots.
    Timestamped,
}

/// What [`OrderBook::apply_delta`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// The update changed the book.
    Updated,
    /// The update was older than the book and was ignored, as the venue's rule prescribes.
    Stale,
}

/// An L2 order book for one instrument.
#[derive(Debug, Clone)]
pub struct OrderBook {
    rule: SeqRule,
    /// Ascending by price: best (highest) bid last.
    bids: Vec<Level>,
    /// Descending by price: best (lowest) ask last.
    asks: Vec<Level>,
    seq: u64,
    synced: bool,
    /// Whether an incremental has been applied since the last snapshot (for [`SeqRule::PrevLink`]).
    linked: bool,
}

impl OrderBook {
    /// An empty book that waits for a snapshot.
    pub fn new(rule: SeqRule) -> Self {
        Self { rule, bids: Vec::new(), asks: Vec::new(), seq: 0, synced: false, linked: false }
    }

    /// The sequence rule this book enforces.
    pub fn rule(&self) -> SeqRule {
        self.rule
    }

    /// Whether the book holds a snapshot and every incremental since.
    pub fn is_synced(&self) -> bool {
        self.synced
    }

    /// The last applied sequence id.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// Replaces the book with a full image. Zero quantities are dropped; duplicate prices keep the last.
    pub fn apply_snapshot(&mut self, snapshot: &BookSnapshot) -> Result<(), BookError> {
        load_side(&mut self.bids, &snapshot.bids, cmp_price);
        load_side(&mut self.asks, &snapshot.asks, |a, b| cmp_price(b, a));
        self.seq = snapshot.seq;
        self.synced = true;
        self.linked = false;
        self.check_crossed()
    }

    /// Applies an incremental under the book's sequence rule.
    ///
    /// On a gap or a crossed result the book is marked unsynced and must be rebuilt from a
    /// fresh snapshot; until then every incremental is refused with [`BookError::NotSynced`].
    pub fn apply_delta(&mut self, delta: &BookDelta) -> Result<Applied, BookError> {
        self.apply_delta_with(delta, None)
    }

    /// [`OrderBook::apply_delta`], recording what each touched level held before in `log`.
    fn apply_delta_with(
        &mut self,
        delta: &BookDelta,
        mut log: Option<&mut UndoLog>,
    ) -> Result<Applied, BookError> {
        if !self.synced {
            return Err(BookError::NotSynced);
        }
        match self.verdict(&delta.seq) {
            Verdict::Stale => return Ok(Applied::Stale),
            Verdict::Gap => {
                self.synced = false;
                return Err(BookError::Gap { book_seq: self.seq, update: delta.seq });
            }
            Verdict::Apply => {}
        }
        let seq = delta.seq.last;
        for level in &delta.bids {
            let prev = upsert(&mut self.bids, *level, cmp_price);
            if let Some(log) = log.as_deref_mut() {
                log.record(seq, true, level.price, prev);
            }
        }
        for level in &delta.asks {
            let prev = upsert(&mut self.asks, *level, |a, b| cmp_price(b, a));
            if let Some(log) = log.as_deref_mut() {
                log.record(seq, false, level.price, prev);
            }
        }
        if let Some(log) = log {
            log.trim();
        }
        self.seq = seq;
        self.linked = true;
        self.check_crossed()?;
        Ok(Applied::Updated)
    }

    /// Marks the book unsynced (a failed cross-check): it waits for a snapshot.
    fn lose_sync(&mut self) {
        self.synced = false;
    }

    fn verdict(&self, seq: &Sequence) -> Verdict {
        let id = self.seq;
        match self.rule {
            SeqRule::Timestamped if self.linked => {
                if seq.last < id {
                    Verdict::Gap
                } else {
                    Verdict::Apply
                }
            }
            _ if seq.last <= id => Verdict::Stale,
            SeqRule::Timestamped => Verdict::Apply,
            SeqRule::UpdateIdRange => {
                if seq.first.unwrap_or(seq.last) > id.saturating_add(1) {
                    Verdict::Gap
                } else {
                    Verdict::Apply
                }
            }
            SeqRule::PrevLink => {
                let chained = seq.prev == Some(id);
                let straddles = !self.linked && seq.first.is_some_and(|first| first <= id);
                if chained || straddles {
                    Verdict::Apply
                } else {
                    Verdict::Gap
                }
            }
            SeqRule::Consecutive => {
                if seq.last == id.saturating_add(1) {
                    Verdict::Apply
                } else {
                    Verdict::Gap
                }
            }
        }
    }

    fn check_crossed(&mut self) -> Result<(), BookError> {
        if let (Some(bid), Some(ask)) = (self.bids.last(), self.asks.last()) {
            if bid.price >= ask.price {
                self.synced = false;
                return Err(BookError::Crossed { bid: bid.price, ask: ask.price });
            }
        }
        Ok(())
    }

    /// Best bid, if any.
    pub fn best_bid(&self) -> Option<&Level> {
        self.bids.last()
    }

    /// Best ask, if any.
    pub fn best_ask(&self) -> Option<&Level> {
        self.asks.last()
    }

    /// Bids, best first.
    pub fn bids(&self) -> impl ExactSizeIterator<Item = &Level> + DoubleEndedIterator {
        self.bids.iter().rev()
    }

    /// Asks, best first.
    pub fn asks(&self) -> impl ExactSizeIterator<Item = &Level> + DoubleEndedIterator {
        self.asks.iter().rev()
    }

    /// The top `n` levels of each side as a snapshot, best first.
    pub fn top(&self, n: usize) -> BookSnapshot {
        BookSnapshot {
            bids: self.bids().take(n).copied().collect(),
            asks: self.asks().take(n).copied().collect(),
            seq: self.seq,
        }
    }

    /// Number of bid and ask levels.
    pub fn depth(&self) -> (usize, usize) {
        (self.bids.len(), self.asks.len())
    }

    /// Drops every level and waits for a snapshot.
    pub fn clear(&mut self) {
        self.bids.clear();
        self.asks.clear();
        self.synced = false;
        self.linked = false;
    }
}

enum Verdict {
    Apply,
    Stale,
    Gap,
}

/// Orders two prices. A venue writes one symbol's prices at one scale almost always, and then
/// the mantissas compare exactly, several times faster than rust_decimal's general comparison
/// (which rescales); mixed scales take the general path.
#[inline]
fn cmp_price(a: &Decimal, b: &Decimal) -> std::cmp::Ordering {
    if a.scale() == b.scale() {
        a.mantissa().cmp(&b.mantissa())
    } else {
        a.cmp(b)
    }
}

/// Fills `side` from venue levels, sorted by `order` with the best level last.
fn load_side(
    side: &mut Vec<Level>,
    levels: &[Level],
    order: impl Fn(&Decimal, &Decimal) -> std::cmp::Ordering,
) {
    side.clear();
    side.extend(levels.iter().filter(|l| !l.qty.is_zero()).copied());
    // Stable sort keeps the venue's order among equal prices, so dedup keeps the last one sent.
    side.sort_by(|a, b| order(&a.price, &b.price));
    side.reverse();
    side.dedup_by(|later, earlier| later.price == earlier.price);
    side.reverse();
}

/// Sets one level: quantity zero removes it, otherwise inserts or replaces. Returns the
/// quantity the level had (zero if absent).
fn upsert(
    side: &mut Vec<Level>,
    level: Level,
    order: impl Fn(&Decimal, &Decimal) -> std::cmp::Ordering,
) -> Decimal {
    match side.binary_search_by(|probe| order(&probe.price, &level.price)) {
        Ok(i) if level.qty.is_zero() => side.remove(i).qty,
        Ok(i) => std::mem::replace(&mut side[i].qty, level.qty),
        Err(_) if level.qty.is_zero() => Decimal::ZERO,
        Err(i) => {
            side.insert(i, level);
            Decimal::ZERO
        }
    }
}

/// What waits in a [`BookSync`] queue: an incremental, and optionally when it happened (so
/// that the shared book can say when its last update was).
pub trait PendingUpdate: AsRef<BookDelta> {
    /// The update's venue and receive times, if the caller keeps them.
    fn stamp(&self) -> Option<Stamp> {
        None
    }
}

impl PendingUpdate for BookDelta {}

/// An [`OrderBook`] with the venue-independent half of every sync procedure: incrementals
/// that arrive before the snapshot (or after a gap) wait in a bounded queue; when the snapshot
/// comes, the stale ones are dropped and the rest applied under the book's rule.
///
/// The book itself is a [`SharedBook`] (see [`BookSync::shared`]): readers elsewhere (the
/// sampler, the merged-book server) see every update this sync applies, with no second copy.
///
/// `T` is what waits in the queue: a bare [`BookDelta`], or a caller's type that carries one
/// (the driver keeps each delta's packet timestamps so it can pass the applied ones on).
///
/// With [`BookSync::with_cross_checks`] it also keeps an undo log of recent changes, for
/// [`BookSync::cross_check`] against venue snapshots.
#[derive(Debug)]
pub struct BookSync<T = BookDelta> {
    shared: Arc<SharedBook>,
    pending: VecDeque<T>,
    max_pending: usize,
    pending_dropped: u64,
    /// Cross-check state; `None` unless enabled (the hot path then pays one branch).
    checks: Option<Box<Checks>>,
}

/// Read access to a [`BookSync`]'s book; derefs to the [`OrderBook`].
#[derive(Debug)]
pub struct BookRead<'a>(RwLockReadGuard<'a, BookState>);

impl std::ops::Deref for BookRead<'_> {
    type Target = OrderBook;

    fn deref(&self) -> &OrderBook {
        &self.0.book
    }
}

impl<T: PendingUpdate> BookSync<T> {
    /// A syncing book that holds at most `max_pending` incrementals while it waits.
    pub fn new(rule: SeqRule, max_pending: usize) -> Self {
        Self::with_shared(Arc::new(SharedBook::new(rule)), max_pending)
    }

    /// A syncing book that applies into `shared` (which should be empty and unsynced).
    pub fn with_shared(shared: Arc<SharedBook>, max_pending: usize) -> Self {
        Self { shared, pending: VecDeque::new(), max_pending, pending_dropped: 0, checks: None }
    }

    /// The book, for reading (a lock is held while the guard lives).
    pub fn book(&self) -> BookRead<'_> {
        BookRead(self.shared.read())
    }

    /// The shared book this sync applies into, for registering in a [`crate::BookSet`].
    pub fn shared(&self) -> &Arc<SharedBook> {
        &self.shared
    }

    /// Whether the book holds a snapshot and every incremental since.
    pub fn is_synced(&self) -> bool {
        self.shared.read().book.is_synced()
    }

    /// Incrementals waiting for a snapshot.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Incrementals dropped because the wait queue was full (oldest first). Harmless for
    /// correctness: a snapshot older than what remains is then refused as a gap.
    pub fn pending_dropped(&self) -> u64 {
        self.pending_dropped
    }

    /// Applies an incremental, or queues it while the book waits for a snapshot.
    ///
    /// A gap marks the book unsynced and queues the refused update, so that the next snapshot
    /// can be aligned with it; the caller fetches that snapshot.
    pub fn on_delta(&mut self, delta: T) -> Result<Applied, BookError> {
        self.feed(delta).map(|(applied, _)| applied)
    }

    /// [`BookSync::on_delta`] that hands an applied or stale incremental back, so the caller
    /// can pass it on without a copy.
    ///
    /// A deferred cross-check is compared first when this update is later than its snapshot;
    /// a mismatch errs with [`BookError::Mismatch`] and queues the update, as a gap does.
    pub fn feed(&mut self, delta: T) -> Result<(Applied, T), BookError> {
        let mut state = self.shared.write();
        if !state.book.is_synced() {
            drop(state);
            self.enqueue(delta);
            return Err(BookError::NotSynced);
        }
        if let Some(checks) = self.checks.as_deref_mut() {
            if let Some(diff) = checks.before_delta(&state.book, delta.as_ref().seq.last) {
                state.book.lose_sync();
                touch(&mut state, None);
                drop(state);
                self.enqueue(delta);
                return Err(BookError::Mismatch(diff));
            }
        }
        let log = self.checks.as_deref_mut().map(|c| &mut c.log);
        let result = state.book.apply_delta_with(delta.as_ref(), log);
        if result.is_err() {
            if let Some(checks) = self.checks.as_deref_mut() {
                checks.lost();
            }
        }
        match result {
            Ok(applied) => {
                if applied == Applied::Updated {
                    touch(&mut state, delta.stamp());
                }
                Ok((applied, delta))
            }
            Err(err @ BookError::Gap { .. }) => {
                touch(&mut state, None);
                drop(state);
                self.enqueue(delta);
                Err(err)
            }
            Err(err) => {
                touch(&mut state, None);
                Err(err)
            }
        }
    }

    /// Loads a snapshot and replays the queued incrementals. Returns how many applied.
    ///
    /// Errors with [`BookError::Gap`] when the snapshot is older than the queue (Binance step 4:
    /// fetch again); the later incrementals stay queued for the next snapshot.
    pub fn on_snapshot(&mut self, snapshot: &BookSnapshot) -> Result<usize, BookError> {
        self.on_snapshot_with(snapshot, None, |_| {})
    }

    /// [`BookSync::on_snapshot`] stamped with the snapshot's times, handing each queued
    /// incremental that applied to `applied`, in order.
    pub fn on_snapshot_with(
        &mut self,
        snapshot: &BookSnapshot,
        stamp: Option<Stamp>,
        mut applied: impl FnMut(T),
    ) -> Result<usize, BookError> {
        let mut state = self.shared.write();
        let loaded = state.book.apply_snapshot(snapshot);
        touch(&mut state, stamp);
        if let Some(checks) = self.checks.as_deref_mut() {
            checks.reloaded(snapshot.seq);
        }
        loaded?;
        let mut count = 0;
        while let Some(delta) = self.pending.pop_front() {
            let log = self.checks.as_deref_mut().map(|c| &mut c.log);
            match state.book.apply_delta_with(delta.as_ref(), log) {
                Ok(Applied::Updated) => {
                    count += 1;
                    touch(&mut state, delta.stamp());
                    applied(delta);
                }
                Ok(Applied::Stale) => {}
                Err(err) => {
                    if let Some(checks) = self.checks.as_deref_mut() {
                        checks.lost();
                    }
                    self.pending.push_front(delta);
                    return Err(err);
                }
            }
        }
        Ok(count)
    }

    /// Forgets the book and the queue (after a reconnect every book starts again).
    pub fn reset(&mut self) {
        let mut state = self.shared.write();
        state.book.clear();
        touch(&mut state, None);
        drop(state);
        self.pending.clear();
        if let Some(checks) = self.checks.as_deref_mut() {
            checks.lost();
        }
    }

    fn enqueue(&mut self, delta: T) {
        if self.pending.len() >= self.max_pending {
            self.pending.pop_front();
            self.pending_dropped += 1;
        }
        self.pending.push_back(delta);
    }
}

/// Records a change of the shared book.
fn touch(state: &mut BookState, stamp: Option<Stamp>) {
    state.version = state.version.wrapping_add(1);
    if let Some(stamp) = stamp {
        state.stamp = stamp;
    }
}

#[cfg(test)]
mod tests;
