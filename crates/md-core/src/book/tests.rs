use std::collections::BTreeMap;

use proptest::prelude::*;

use super::*;

fn d(text: &str) -> Decimal {
    crate::decimal::parse_decimal(text).unwrap()
}

fn lv(price: &str, qty: &str) -> Level {
    Level::new(d(price), d(qty))
}

fn snapshot(seq: u64) -> BookSnapshot {
    BookSnapshot {
        bids: vec![lv("100", "1"), lv("99", "2"), lv("98", "3")],
        asks: vec![lv("101", "1"), lv("102", "2")],
        seq,
    }
}

fn delta(first: Option<u64>, last: u64, prev: Option<u64>, bids: Vec<Level>, asks: Vec<Level>) -> BookDelta {
    BookDelta { bids, asks, seq: Sequence { first, last, prev } }
}

#[test]
fn snapshot_sorts_drops_zeros_and_keeps_last_duplicate() {
    let mut book = OrderBook::new(SeqRule::Consecutive);
    let snap = BookSnapshot {
        bids: vec![lv("98", "3"), lv("100", "1"), lv("99", "0"), lv("100", "5")],
        asks: vec![lv("102", "2"), lv("101", "1")],
        seq: 7,
    };
    book.apply_snapshot(&snap).unwrap();
    let bids: Vec<_> = book.bids().map(|l| (l.price.to_string(), l.qty.to_string())).collect();
    assert_eq!(bids, [("100".into(), "5".into()), ("98".to_string(), "3".to_string())]);
    assert_eq!(book.best_ask().unwrap().price, d("101"));
    assert_eq!(book.seq(), 7);
}

#[test]
fn delta_inserts_replaces_and_deletes() {
    let mut book = OrderBook::new(SeqRule::Consecutive);
    book.apply_snapshot(&snapshot(10)).unwrap();
    let up =
        delta(None, 11, None, vec![lv("100", "0"), lv("99.5", "4"), lv("98", "7")], vec![lv("101", "9")]);
    assert_eq!(book.apply_delta(&up).unwrap(), Applied::Updated);
    let top = book.top(2);
    assert_eq!(top.bids, vec![lv("99.5", "4"), lv("99", "2")]);
    assert_eq!(top.asks, vec![lv("101", "9"), lv("102", "2")]);
    assert_eq!(book.depth(), (3, 2));
}

#[test]
fn consecutive_rule_detects_gap_and_ignores_stale() {
    let mut book = OrderBook::new(SeqRule::Consecutive);
    book.apply_snapshot(&snapshot(10)).unwrap();
    assert_eq!(book.apply_delta(&delta(None, 9, None, vec![], vec![])).unwrap(), Applied::Stale);
    assert_eq!(book.apply_delta(&delta(None, 11, None, vec![], vec![])).unwrap(), Applied::Updated);
    let err = book.apply_delta(&delta(None, 13, None, vec![], vec![])).unwrap_err();
    assert!(matches!(err, BookError::Gap { book_seq: 11, .. }), "{err:?}");
    assert!(!book.is_synced());
    assert_eq!(book.apply_delta(&delta(None, 12, None, vec![], vec![])), Err(BookError::NotSynced));
}

#[test]
fn timestamped_rule_drops_at_or_before_the_snapshot_and_refuses_time_running_backwards() {
    let mut book = OrderBook::new(SeqRule::Timestamped);
    book.apply_snapshot(&snapshot(1_000)).unwrap();
    let at = |t: u64| delta(None, t, None, vec![lv("99", "1")], vec![]);
    assert_eq!(book.apply_delta(&at(999)).unwrap(), Applied::Stale);
    assert_eq!(book.apply_delta(&at(1_000)).unwrap(), Applied::Stale);
    assert_eq!(book.apply_delta(&at(1_005)).unwrap(), Applied::Updated);
    assert_eq!(book.apply_delta(&at(1_005)).unwrap(), Applied::Updated, "equal times apply");
    assert_eq!(book.seq(), 1_005);
    assert!(matches!(book.apply_delta(&at(1_004)), Err(BookError::Gap { book_seq: 1_005, .. })));
    assert!(!book.is_synced());
}

#[test]
fn update_id_range_rule_follows_binance_spot() {
    let mut book = OrderBook::new(SeqRule::UpdateIdRange);
    book.apply_snapshot(&snapshot(100)).unwrap();
    // u <= lastUpdateId: dropped.
    assert_eq!(book.apply_delta(&delta(Some(95), 100, None, vec![], vec![])).unwrap(), Applied::Stale);
    // Straddling the snapshot id: applied.
    assert_eq!(book.apply_delta(&delta(Some(99), 103, None, vec![], vec![])).unwrap(), Applied::Updated);
    assert_eq!(book.apply_delta(&delta(Some(104), 110, None, vec![], vec![])).unwrap(), Applied::Updated);
    assert!(book.apply_delta(&delta(Some(112), 115, None, vec![], vec![])).is_err());
}

#[test]
fn prev_link_rule_follows_htx_and_binance_futures() {
    // HTX: first increment's prevSeqNum equals the snapshot's seqNum; seqNums are sparse.
    let mut htx = OrderBook::new(SeqRule::PrevLink);
    htx.apply_snapshot(&snapshot(160)).unwrap();
    assert_eq!(htx.apply_delta(&delta(None, 150, Some(140), vec![], vec![])).unwrap(), Applied::Stale);
    assert_eq!(htx.apply_delta(&delta(None, 204, Some(160), vec![], vec![])).unwrap(), Applied::Updated);
    assert_eq!(htx.apply_delta(&delta(None, 230, Some(204), vec![], vec![])).unwrap(), Applied::Updated);
    assert!(matches!(
        htx.apply_delta(&delta(None, 300, Some(250), vec![], vec![])),
        Err(BookError::Gap { book_seq: 230, .. })
    ));

    // Binance futures: first event straddles lastUpdateId, then pu == previous u.
    let mut fut = OrderBook::new(SeqRule::PrevLink);
    fut.apply_snapshot(&snapshot(1000)).unwrap();
    assert_eq!(
        fut.apply_delta(&delta(Some(990), 1020, Some(980), vec![], vec![])).unwrap(),
        Applied::Updated
    );
    // Once linked, straddling is no excuse: pu must match.
    assert!(fut.apply_delta(&delta(Some(1000), 1040, Some(1010), vec![], vec![])).is_err());
}

#[test]
fn crossed_book_is_refused() {
    let mut book = OrderBook::new(SeqRule::Consecutive);
    book.apply_snapshot(&snapshot(1)).unwrap();
    let err = book.apply_delta(&delta(None, 2, None, vec![lv("101.5", "1")], vec![])).unwrap_err();
    assert_eq!(err, BookError::Crossed { bid: d("101.5"), ask: d("101") });
    assert!(!book.is_synced());
}

#[test]
fn sync_buffers_until_snapshot_and_drops_stale() {
    let mut sync = BookSync::new(SeqRule::UpdateIdRange, 100);
    for (first, last) in [(90, 99), (100, 105), (106, 108)] {
        assert_eq!(sync.on_delta(delta(Some(first), last, None, vec![], vec![])), Err(BookError::NotSynced));
    }
    // Snapshot at 102: the first event is stale, the second straddles, the third follows.
    assert_eq!(sync.on_snapshot(&snapshot(102)).unwrap(), 2);
    assert_eq!(sync.book().seq(), 108);
    assert_eq!(sync.pending(), 0);
}

#[test]
fn sync_refuses_a_snapshot_older_than_its_queue_and_keeps_the_queue() {
    let mut sync = BookSync::new(SeqRule::UpdateIdRange, 100);
    let _ = sync.on_delta(delta(Some(200), 210, None, vec![], vec![]));
    assert!(matches!(sync.on_snapshot(&snapshot(150)), Err(BookError::Gap { .. })));
    assert_eq!(sync.pending(), 1);
    assert_eq!(sync.on_snapshot(&snapshot(205)).unwrap(), 1);
    assert_eq!(sync.book().seq(), 210);
}

#[test]
fn sync_queue_is_bounded() {
    let mut sync = BookSync::new(SeqRule::Consecutive, 3);
    for seq in 1..=5 {
        let _ = sync.on_delta(delta(None, seq, None, vec![], vec![]));
    }
    assert_eq!(sync.pending(), 3);
    assert_eq!(sync.pending_dropped(), 2);
}

/// A price grid of 40 ticks: bids on the lower half, asks on the upper, so no valid
/// sequence can cross the book.
fn price(tick: u32) -> Decimal {
    Decimal::new(10_000 + i64::from(tick) * 25, 2)
}

fn side_levels(ticks: Vec<(u32, u32)>, offset: u32) -> Vec<Level> {
    ticks
        .into_iter()
        .map(|(t, q)| Level::new(price(t % 20 + offset), Decimal::new(i64::from(q), 3)))
        .collect()
}

proptest! {
    /// Random valid delta sequences applied to a book equal a reference model, and equal a
    /// book rebuilt from a snapshot of the model's final state.
    #[test]
    fn random_deltas_match_the_model(
        initial_bids in prop::collection::vec((0u32..20, 1u32..1000), 0..15),
        initial_asks in prop::collection::vec((0u32..20, 1u32..1000), 0..15),
        steps in prop::collection::vec(
            (prop::collection::vec((0u32..20, 0u32..1000), 0..6), prop::collection::vec((0u32..20, 0u32..1000), 0..6)),
            0..60,
        ),
    ) {
        let mut bids_model: BTreeMap<Decimal, Decimal> = BTreeMap::new();
        let mut asks_model: BTreeMap<Decimal, Decimal> = BTreeMap::new();
        let snap = BookSnapshot {
            bids: side_levels(initial_bids, 0),
            asks: side_levels(initial_asks, 20),
            seq: 1,
        };
        for l in &snap.bids { if !l.qty.is_zero() { bids_model.insert(l.price, l.qty); } }
        for l in &snap.asks { if !l.qty.is_zero() { asks_model.insert(l.price, l.qty); } }
        let mut book = OrderBook::new(SeqRule::Consecutive);
        book.apply_snapshot(&snap).unwrap();

        for (i, (b, a)) in steps.into_iter().enumerate() {
            let up = BookDelta {
                bids: side_levels(b, 0),
                asks: side_levels(a, 20),
                seq: Sequence { first: None, last: 2 + i as u64, prev: None },
            };
            for (model, levels) in [(&mut bids_model, &up.bids), (&mut asks_model, &up.asks)] {
                for l in levels {
                    if l.qty.is_zero() { model.remove(&l.price); } else { model.insert(l.price, l.qty); }
                }
            }
            prop_assert_eq!(book.apply_delta(&up).unwrap(), Applied::Updated);
        }

        let model_bids: Vec<Level> = bids_model.iter().rev().map(|(p, q)| Level::new(*p, *q)).collect();
        let model_asks: Vec<Level> = asks_model.iter().map(|(p, q)| Level::new(*p, *q)).collect();
        let top = book.top(usize::MAX);
        prop_assert_eq!(&top.bids, &model_bids);
        prop_assert_eq!(&top.asks, &model_asks);

        let mut rebuilt = OrderBook::new(SeqRule::Consecutive);
        rebuilt.apply_snapshot(&BookSnapshot { bids: model_bids, asks: model_asks, seq: book.seq() }).unwrap();
        prop_assert_eq!(rebuilt.top(usize::MAX), top);
    }

    /// Any sequence id that skips ahead is a gap, never silently applied.
    #[test]
    fn skipped_ids_are_always_gaps(start in 1u64..1_000_000, skip in 2u64..1000) {
        let mut book = OrderBook::new(SeqRule::Consecutive);
        book.apply_snapshot(&snapshot(start)).unwrap();
        let is_gap = matches!(
            book.apply_delta(&delta(None, start + skip, None, vec![], vec![])),
            Err(BookError::Gap { .. })
        );
        prop_assert!(is_gap);
    }
}
