//! The merge itself, pure: each venue's verified levels in, one merged ladder out.
//!
//! A row is one venue's level at one price (as the original design's `Level{exchange, price,
//! amount}`), never a venue's individual orders. Only venues in sync contribute rows; the
//! rest are still listed with their state, so a client sees what is missing instead of a
//! book that silently shrank.

use std::cmp::Ordering;

use md_core::{Decimal, ExchangeId, Level, Stamp};

/// Whether a venue's book can be trusted now (the proto's `State`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VenueStatus {
    /// Verified and current: its levels are merged.
    InSync,
    /// Waiting for its first snapshot or resyncing after a gap.
    Syncing,
    /// Its connection went silent for the liveness timeout.
    Stale,
    /// Its connection is down.
    Disconnected,
}

impl VenueStatus {
    /// `IN_SYNC`, `SYNCING`, `STALE` or `DISCONNECTED`, as the proto spells them.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InSync => "IN_SYNC",
            Self::Syncing => "SYNCING",
            Self::Stale => "STALE",
            Self::Disconnected => "DISCONNECTED",
        }
    }
}

/// One venue's part of a merge: its state and, when in sync, its best levels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VenueBook {
    /// The venue.
    pub exchange: ExchangeId,
    /// Its state.
    pub status: VenueStatus,
    /// When it entered that state (local clock, ns).
    pub since_ns: i64,
    /// Why it is not in sync; empty when it is.
    pub detail: String,
    /// Bids, best first (empty unless in sync).
    pub bids: Vec<Level>,
    /// Asks, best first (empty unless in sync).
    pub asks: Vec<Level>,
    /// When its last update happened.
    pub stamp: Stamp,
}

/// One row of the merged ladder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Row {
    /// The venue.
    pub exchange: ExchangeId,
    /// The price.
    pub price: Decimal,
    /// That venue's amount at that price.
    pub amount: Decimal,
}

/// A merged ladder.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Ladder {
    /// Bids, best (highest) first; equal prices by larger amount, then venue.
    pub bids: Vec<Row>,
    /// Asks, best (lowest) first; ties as for bids.
    pub asks: Vec<Row>,
    /// Best ask minus best bid; `None` when a side is empty. Negative when crossed.
    pub spread: Option<Decimal>,
    /// The best bid is at or above the best ask: venues disagree (real, and reported).
    pub crossed: bool,
}

/// Merges the in-sync venues' levels into at most `depth` rows per side.
pub fn merge(venues: &[VenueBook], depth: usize) -> Ladder {
    let in_sync = || venues.iter().filter(|v| v.status == VenueStatus::InSync);
    let rows = |side: fn(&VenueBook) -> &[Level]| -> Vec<Row> {
        in_sync()
            .flat_map(|v| {
                side(v).iter().take(depth).map(|l| Row {
                    exchange: v.exchange,
                    price: l.price,
                    amount: l.qty,
                })
            })
            .collect()
    };
    let mut bids = rows(|v| &v.bids);
    let mut asks = rows(|v| &v.asks);
    bids.sort_by(|a, b| b.price.cmp(&a.price).then_with(|| by_amount_then_venue(a, b)));
    asks.sort_by(|a, b| a.price.cmp(&b.price).then_with(|| by_amount_then_venue(a, b)));
    bids.truncate(depth);
    asks.truncate(depth);
    let (spread, crossed) = match (bids.first(), asks.first()) {
        (Some(bid), Some(ask)) => (Some(ask.price - bid.price), bid.price >= ask.price),
        _ => (None, false),
    };
    Ladder { bids, asks, spread, crossed }
}

fn by_amount_then_venue(a: &Row, b: &Row) -> Ordering {
    b.amount.cmp(&a.amount).then_with(|| a.exchange.as_str().cmp(b.exchange.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(text: &str) -> Decimal {
        md_core::parse_decimal(text).unwrap()
    }

    fn lv(price: &str, qty: &str) -> Level {
        Level { price: d(price), qty: d(qty) }
    }

    fn venue(exchange: ExchangeId, status: VenueStatus, bids: Vec<Level>, asks: Vec<Level>) -> VenueBook {
        VenueBook {
            exchange,
            status,
            since_ns: 0,
            detail: String::new(),
            bids,
            asks,
            stamp: Stamp::default(),
        }
    }

    #[test]
    fn rows_sort_by_price_then_larger_amount_and_keep_one_row_per_venue_and_price() {
        let a = venue(
            ExchangeId::Binance,
            VenueStatus::InSync,
            vec![lv("100", "1"), lv("99", "2")],
            vec![lv("101", "1"), lv("102", "5")],
        );
        let b = venue(ExchangeId::Bybit, VenueStatus::InSync, vec![lv("100", "3")], vec![lv("100.5", "1")]);
        let ladder = merge(&[a, b], 10);
        let bids: Vec<(ExchangeId, String)> =
            ladder.bids.iter().map(|r| (r.exchange, r.price.to_string())).collect();
        assert_eq!(
            bids,
            [
                (ExchangeId::Bybit, "100".into()),
                (ExchangeId::Binance, "100".into()),
                (ExchangeId::Binance, "99".into())
            ]
        );
        assert_eq!(ladder.asks[0].price, d("100.5"));
        assert_eq!(ladder.spread, Some(d("0.5")));
        assert!(!ladder.crossed);
    }

    #[test]
    fn venues_out_of_sync_give_no_rows_and_depth_bounds_each_side() {
        let a = venue(ExchangeId::Binance, VenueStatus::InSync, vec![lv("10", "1"), lv("9", "1")], vec![]);
        let b = venue(ExchangeId::Huobi, VenueStatus::Disconnected, vec![lv("11", "1")], vec![lv("12", "1")]);
        let ladder = merge(&[a, b], 1);
        assert_eq!(ladder.bids.len(), 1);
        assert_eq!(ladder.bids[0].exchange, ExchangeId::Binance);
        assert!(ladder.asks.is_empty());
        assert_eq!(ladder.spread, None, "an empty side has no spread");
    }

    #[test]
    fn a_bid_on_one_venue_at_or_above_an_ask_on_another_is_reported_crossed() {
        let a = venue(ExchangeId::Binance, VenueStatus::InSync, vec![lv("101", "1")], vec![lv("102", "1")]);
        let b = venue(ExchangeId::Bybit, VenueStatus::InSync, vec![lv("99", "1")], vec![lv("100", "1")]);
        let ladder = merge(&[a, b], 5);
        assert!(ladder.crossed);
        assert_eq!(ladder.spread, Some(d("-1")));
    }
}
