//! The simulator's true books: a seeded random walk of `depth` levels per side, never crossed.
//!
//! Prices are integer ticks and quantities integer lots of one [`Instrument`]; each side always
//! holds exactly `depth` levels, so a venue that keeps only its top N (Bybit, HTX mbp) sees
//! nothing outside its window when N >= depth, and [`window_diff`] covers N < depth.

use std::collections::BTreeMap;

use md_core::{BookSnapshot, Level, Symbol};

use crate::num::decimal;
use crate::rng::SplitMix64;

/// Decimal places of every quantity (lots of 0.000001).
pub(crate) const QTY_SCALE: u32 = 6;

/// One simulated instrument and how its numbers are scaled.
#[derive(Debug, Clone)]
pub(crate) struct Instrument {
    /// Canonical name.
    pub symbol: Symbol,
    /// Base asset, upper case.
    pub base: String,
    /// Quote asset, upper case.
    pub quote: String,
    /// Decimal places of a price (the tick is `10^-price_scale`).
    pub price_scale: u32,
    /// The starting mid price, in ticks.
    pub start_mid: i64,
}

impl Instrument {
    /// An instrument with a plausible price for well-known bases, a seeded one otherwise.
    pub(crate) fn new(base: &str, quote: &str, seed: u64) -> Self {
        let symbol = Symbol::new(base, quote);
        let (price_scale, start_mid) = match symbol.base() {
            "BTC" => (2, 3_000_000),
            "ETH" => (2, 200_000),
            _ => {
                let mut rng = SplitMix64::derive(seed, &["mid", symbol.as_str()]);
                (4, rng.range(10_000, 1_000_000))
            }
        };
        Self {
            base: symbol.base().to_owned(),
            quote: symbol.quote().to_owned(),
            symbol,
            price_scale,
            start_mid,
        }
    }

    /// `BTCUSDT`, as Binance and Bybit spell it.
    pub(crate) fn upper(&self) -> String {
        format!("{}{}", self.base, self.quote)
    }

    /// `btcusdt`, as HTX and Binance stream names spell it.
    pub(crate) fn lower(&self) -> String {
        self.upper().to_ascii_lowercase()
    }

    /// A price in ticks as an exact decimal.
    pub(crate) fn price(&self, ticks: i64) -> md_core::Decimal {
        decimal(ticks, self.price_scale)
    }
}

/// A side of a book.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum BookSide {
    /// Bids (best = highest).
    Bid,
    /// Asks (best = lowest).
    Ask,
}

/// Price levels, best first: `(ticks, lots)`.
pub(crate) type Levels = Vec<(i64, i64)>;

/// The changes of one update, per side, best first; quantity 0 deletes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Changes {
    /// Changed bids.
    pub bids: Levels,
    /// Changed asks.
    pub asks: Levels,
}

/// A true book.
#[derive(Debug, Clone)]
pub(crate) struct TrueBook {
    bids: BTreeMap<i64, i64>,
    asks: BTreeMap<i64, i64>,
    depth: usize,
}

/// A quantity: mostly 0.001 to 3, sometimes below 0.001 (HTX then writes exponent form).
fn random_qty(rng: &mut SplitMix64) -> i64 {
    if rng.chance(15) {
        rng.range(1, 999)
    } else {
        rng.range(1_000, 3_000_000)
    }
}

impl TrueBook {
    /// A book of `depth` levels per side around `mid` (ticks), one or two ticks apart.
    pub(crate) fn new(mid: i64, depth: usize, rng: &mut SplitMix64) -> Self {
        let mut book = Self { bids: BTreeMap::new(), asks: BTreeMap::new(), depth };
        let (mut bid, mut ask) = (mid, mid);
        for _ in 0..depth {
            bid -= rng.range(1, 2);
            ask += rng.range(1, 2);
            book.bids.insert(bid.max(1), random_qty(rng));
            book.asks.insert(ask, random_qty(rng));
        }
        book
    }

    fn side(&mut self, side: BookSide) -> &mut BTreeMap<i64, i64> {
        match side {
            BookSide::Bid => &mut self.bids,
            BookSide::Ask => &mut self.asks,
        }
    }

    /// Best bid price in ticks.
    pub(crate) fn best_bid(&self) -> Option<i64> {
        self.bids.keys().next_back().copied()
    }

    /// Best ask price in ticks.
    pub(crate) fn best_ask(&self) -> Option<i64> {
        self.asks.keys().next().copied()
    }

    /// The top `n` levels of a side, best first.
    pub(crate) fn top(&self, side: BookSide, n: usize) -> Levels {
        match side {
            BookSide::Bid => self.bids.iter().rev().take(n).map(|(p, q)| (*p, *q)).collect(),
            BookSide::Ask => self.asks.iter().take(n).map(|(p, q)| (*p, *q)).collect(),
        }
    }

    /// The top `n` levels of both sides as an md-core snapshot with sequence `seq`.
    pub(crate) fn snapshot(&self, inst: &Instrument, n: usize, seq: u64) -> BookSnapshot {
        let levels = |side| {
            self.top(side, n)
                .into_iter()
                .map(|(p, q)| Level::new(inst.price(p), decimal(q, QTY_SCALE)))
                .collect()
        };
        BookSnapshot { bids: levels(BookSide::Bid), asks: levels(BookSide::Ask), seq }
    }

    /// A free price for a new level of `side`, within `3 * depth` ticks of the opposite best,
    /// so that the book stays compact and never crosses.
    fn free_price(&self, side: BookSide, rng: &mut SplitMix64) -> i64 {
        let window = i64::try_from(self.depth).unwrap_or(i64::MAX / 8).saturating_mul(3).max(4);
        for _ in 0..16 {
            let price = match side {
                BookSide::Bid => {
                    let limit = self.best_ask().unwrap_or(window * 2) - 1;
                    rng.range((limit - window).max(1), limit)
                }
                BookSide::Ask => {
                    let floor = self.best_bid().unwrap_or(0) + 1;
                    rng.range(floor, floor + window)
                }
            };
            let taken = match side {
                BookSide::Bid => self.bids.contains_key(&price),
                BookSide::Ask => self.asks.contains_key(&price),
            };
            if !taken && price >= 1 {
                return price;
            }
        }
        // A crowded window: extend the side outwards instead.
        match side {
            BookSide::Bid => self.bids.keys().next().map_or(1, |worst| (worst - 1).max(1)),
            BookSide::Ask => self.asks.keys().next_back().map_or(1, |worst| worst + 1),
        }
    }

    /// One random update: one to three operations (change a size, move a level, or consume
    /// the best level and add one behind the worst, which walks the mid). Returns the final
    /// state of every touched price.
    pub(crate) fn step(&mut self, rng: &mut SplitMix64) -> Changes {
        let mut touched: BTreeMap<(BookSide, i64), i64> = BTreeMap::new();
        for _ in 0..rng.range(1, 3) {
            let side = if rng.chance(50) { BookSide::Bid } else { BookSide::Ask };
            let roll = rng.below(100);
            let len = self.side(side).len();
            if len == 0 {
                continue;
            }
            let removed = if roll < 50 {
                // Change a size in place.
                let index = usize::try_from(rng.below(len as u64)).unwrap_or(0);
                let qty = random_qty(rng);
                if let Some((price, slot)) = self.side(side).iter_mut().nth(index) {
                    *slot = qty;
                    touched.insert((side, *price), qty);
                }
                continue;
            } else if roll < 85 {
                let index = usize::try_from(rng.below(len as u64)).unwrap_or(0);
                self.side(side).keys().nth(index).copied()
            } else {
                match side {
                    BookSide::Bid => self.best_bid(),
                    BookSide::Ask => self.best_ask(),
                }
            };
            let Some(price) = removed else { continue };
            self.side(side).remove(&price);
            touched.insert((side, price), 0);
            let new_price = if roll < 85 {
                self.free_price(side, rng)
            } else {
                let step = rng.range(1, 3);
                match side {
                    BookSide::Bid => self.bids.keys().next().map_or(price - step, |w| w - step).max(1),
                    BookSide::Ask => self.asks.keys().next_back().map_or(price + step, |w| w + step),
                }
            };
            let qty = random_qty(rng);
            // Occupied only at the 1-tick clamp: then the removed price comes back instead,
            // so that the side keeps exactly `depth` levels.
            let target = if self.side(side).contains_key(&new_price) { price } else { new_price };
            self.side(side).insert(target, qty);
            touched.insert((side, target), qty);
        }
        let mut changes = Changes::default();
        for ((side, price), qty) in touched {
            match side {
                BookSide::Bid => changes.bids.push((price, qty)),
                BookSide::Ask => changes.asks.push((price, qty)),
            }
        }
        changes.bids.reverse();
        changes
    }

    /// A trade against the best level: `(price ticks, qty lots, taker buys)`.
    pub(crate) fn trade(&self, rng: &mut SplitMix64) -> Option<(i64, i64, bool)> {
        let buy = rng.chance(50);
        let price = if buy { self.best_ask()? } else { self.best_bid()? };
        Some((price, rng.range(1, 500_000), buy))
    }
}

/// The delta that turns a client's top-N view `old` into `new` (both best first): every price
/// whose size changed or that entered the window, and a zero for every price that left it.
pub(crate) fn window_diff(old: &[(i64, i64)], new: &[(i64, i64)]) -> Levels {
    let old_map: BTreeMap<i64, i64> = old.iter().copied().collect();
    let new_map: BTreeMap<i64, i64> = new.iter().copied().collect();
    let mut out = Vec::new();
    for (price, qty) in new {
        if old_map.get(price) != Some(qty) {
            out.push((*price, *qty));
        }
    }
    for (price, _) in old {
        if !new_map.contains_key(price) {
            out.push((*price, 0));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(view: &mut BTreeMap<i64, i64>, changes: &[(i64, i64)]) {
        for (p, q) in changes {
            if *q == 0 {
                view.remove(p);
            } else {
                view.insert(*p, *q);
            }
        }
    }

    #[test]
    fn walk_keeps_depth_never_crosses_and_changes_replay() {
        let mut rng = SplitMix64::new(3);
        let mut book = TrueBook::new(10_000, 20, &mut rng);
        let mut bids: BTreeMap<i64, i64> = book.bids.clone();
        let mut asks: BTreeMap<i64, i64> = book.asks.clone();
        let mut top5 = (book.top(BookSide::Bid, 5), book.top(BookSide::Ask, 5));
        for _ in 0..5000 {
            let changes = book.step(&mut rng);
            assert_eq!(book.bids.len(), 20);
            assert_eq!(book.asks.len(), 20);
            assert!(book.best_bid() < book.best_ask());
            apply(&mut bids, &changes.bids);
            apply(&mut asks, &changes.asks);
            assert_eq!(bids, book.bids);
            assert_eq!(asks, book.asks);
            let new5 = (book.top(BookSide::Bid, 5), book.top(BookSide::Ask, 5));
            let mut view: BTreeMap<i64, i64> = top5.0.iter().copied().collect();
            apply(&mut view, &window_diff(&top5.0, &new5.0));
            assert_eq!(view, new5.0.iter().copied().collect());
            top5 = new5;
        }
    }
}
