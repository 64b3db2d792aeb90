//! Verified books shared between the task that applies updates and the tasks that read them.
//!
//! A driver applies every incremental once, into a [`SharedBook`]; the sampler that stores
//! top-N snapshots, the merged-book server and any other reader look at that same book
//! through the [`BookSet`] instead of keeping a second copy fed by a second pass over the
//! stream. The writer holds the lock for one update (tens of nanoseconds); a reader holds it
//! while it copies the levels it needs.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::book::{OrderBook, SeqRule};
use crate::packet::{ExchangeId, UnixNanos};
use crate::symbol::Symbol;

/// When the last update applied to a book happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stamp {
    /// The venue's time of the update (ns).
    pub exchange_ts: UnixNanos,
    /// When its frame was received (ns).
    pub local_ts: UnixNanos,
}

/// A book and what readers need to know about it.
#[derive(Debug, Clone)]
pub struct BookState {
    /// The verified book; [`OrderBook::is_synced`] says whether it can be trusted now.
    pub book: OrderBook,
    /// Times of the last applied snapshot or incremental.
    pub stamp: Stamp,
    /// Counts every change (snapshot, applied incremental, reset): a reader that remembers it
    /// can tell whether the book moved since it last looked.
    pub version: u64,
}

/// One verified book behind a lock: written by its driver, read by anyone.
#[derive(Debug)]
pub struct SharedBook {
    state: RwLock<BookState>,
}

impl SharedBook {
    /// An empty book that waits for a snapshot.
    pub fn new(rule: SeqRule) -> Self {
        Self {
            state: RwLock::new(BookState { book: OrderBook::new(rule), stamp: Stamp::default(), version: 0 }),
        }
    }

    /// Read access: hold the guard only while copying what is needed.
    pub fn read(&self) -> RwLockReadGuard<'_, BookState> {
        // A writer that panicked mid-update leaves a book its next snapshot replaces anyway.
        self.state.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// Write access, for the one task that applies updates (crate-internal: through `BookSync`).
    pub(crate) fn write(&self) -> RwLockWriteGuard<'_, BookState> {
        self.state.write().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Which book: a venue and a canonical symbol.
pub type BookKey = (ExchangeId, Symbol);

/// Every verified book of a process, keyed by venue and symbol.
///
/// Drivers register the books they keep (and remove them when a symbol is unsubscribed);
/// readers look them up. Lookups are rare next to updates (a reader keeps the `Arc`), so one
/// lock around the map costs nothing on the hot path.
#[derive(Debug, Default)]
pub struct BookSet {
    books: RwLock<HashMap<BookKey, Arc<SharedBook>>>,
}

impl BookSet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a book, replacing any earlier one of the same venue and symbol.
    pub fn insert(&self, exchange: ExchangeId, symbol: Symbol, book: Arc<SharedBook>) {
        self.books.write().unwrap_or_else(PoisonError::into_inner).insert((exchange, symbol), book);
    }

    /// Unregisters a book, if `book` is still the one registered (a symbol removed and added
    /// again must not lose its new book to the old one's removal).
    pub fn remove(&self, exchange: ExchangeId, symbol: &Symbol, book: &Arc<SharedBook>) {
        let mut books = self.books.write().unwrap_or_else(PoisonError::into_inner);
        let key = (exchange, symbol.clone());
        if books.get(&key).is_some_and(|current| Arc::ptr_eq(current, book)) {
            books.remove(&key);
        }
    }

    /// The book of a venue and symbol.
    pub fn get(&self, exchange: ExchangeId, symbol: &Symbol) -> Option<Arc<SharedBook>> {
        self.read().get(&(exchange, symbol.clone())).cloned()
    }

    /// Every venue's book of one symbol, in venue order.
    pub fn of_symbol(&self, symbol: &Symbol) -> Vec<(ExchangeId, Arc<SharedBook>)> {
        let mut books: Vec<_> = self
            .read()
            .iter()
            .filter(|((_, s), _)| s == symbol)
            .map(|((e, _), b)| (*e, Arc::clone(b)))
            .collect();
        books.sort_by_key(|(exchange, _)| *exchange);
        books
    }

    /// Every registered key, sorted.
    pub fn keys(&self) -> Vec<BookKey> {
        let mut keys: Vec<BookKey> = self.read().keys().cloned().collect();
        keys.sort();
        keys
    }

    /// Books registered now.
    pub fn len(&self) -> usize {
        self.read().len()
    }

    /// Whether no book is registered.
    pub fn is_empty(&self) -> bool {
        self.read().is_empty()
    }

    fn read(&self) -> RwLockReadGuard<'_, HashMap<BookKey, Arc<SharedBook>>> {
        self.books.read().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_removed_and_re_added_book_survives_the_old_removal() {
        let set = BookSet::new();
        let btc = Symbol::new("BTC", "USDT");
        let old = Arc::new(SharedBook::new(SeqRule::Consecutive));
        let new = Arc::new(SharedBook::new(SeqRule::Consecutive));
        set.insert(ExchangeId::Bybit, btc.clone(), Arc::clone(&old));
        set.insert(ExchangeId::Bybit, btc.clone(), Arc::clone(&new));
        set.remove(ExchangeId::Bybit, &btc, &old);
        assert!(set.get(ExchangeId::Bybit, &btc).is_some_and(|b| Arc::ptr_eq(&b, &new)));
        set.remove(ExchangeId::Bybit, &btc, &new);
        assert!(set.is_empty());
    }

    #[test]
    fn of_symbol_lists_every_venue_in_order() {
        let set = BookSet::new();
        let btc = Symbol::new("BTC", "USDT");
        for id in [ExchangeId::Huobi, ExchangeId::Binance] {
            set.insert(id, btc.clone(), Arc::new(SharedBook::new(SeqRule::Consecutive)));
        }
        set.insert(
            ExchangeId::Binance,
            Symbol::new("ETH", "USDT"),
            Arc::new(SharedBook::new(SeqRule::Consecutive)),
        );
        let venues: Vec<ExchangeId> = set.of_symbol(&btc).into_iter().map(|(e, _)| e).collect();
        assert_eq!(venues, [ExchangeId::Binance, ExchangeId::Huobi]);
        assert_eq!(set.len(), 3);
    }
}
