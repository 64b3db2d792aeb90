//! The undo log and the comparison: match, mismatch, deferred, inconclusive, dropped, and a
//! property test (random updates, then undo to any time equals the book as it was then).
#![allow(clippy::unwrap_used)]

use proptest::prelude::*;

use super::super::{Applied, SeqRule};
use super::*;
use crate::packet::{BookDelta, Sequence};

fn d(text: &str) -> Decimal {
    crate::decimal::parse_decimal(text).unwrap()
}

fn lv(price: &str, qty: &str) -> Level {
    Level::new(d(price), d(qty))
}

fn at(seq: u64, bids: &[(&str, &str)], asks: &[(&str, &str)]) -> BookDelta {
    BookDelta {
        bids: bids.iter().map(|(p, q)| lv(p, q)).collect(),
        asks: asks.iter().map(|(p, q)| lv(p, q)).collect(),
        seq: Sequence { first: None, last: seq, prev: None },
    }
}

/// A synced, checked book at 1000: bids 100×1, 99×2; asks 101×1, 102×2.
fn synced() -> BookSync {
    let mut sync = BookSync::new(SeqRule::Timestamped, 100).with_cross_checks(UndoBound::default());
    let snap = BookSnapshot {
        bids: vec![lv("100", "1"), lv("99", "2")],
        asks: vec![lv("101", "1"), lv("102", "2")],
        seq: 1_000,
    };
    sync.on_snapshot(&snap).unwrap();
    sync
}

/// The book as a snapshot stamped `seq`.
fn image(sync: &BookSync, seq: u64) -> BookSnapshot {
    BookSnapshot { seq, ..sync.book().top(usize::MAX) }
}

fn outcomes(sync: &mut BookSync) -> Vec<CheckOutcome> {
    sync.take_check_outcomes().collect()
}

#[test]
fn a_snapshot_older_than_the_book_is_compared_with_the_book_turned_back() {
    let mut sync = synced();
    sync.on_delta(at(1_005, &[("100", "3"), ("98", "1")], &[])).unwrap();
    let then = image(&sync, 1_005);
    // Later updates: one changes a level the check covers, one removes a level, one adds.
    sync.on_delta(at(1_010, &[("100", "0"), ("99", "5")], &[("101", "4")])).unwrap();
    sync.on_delta(at(1_010, &[("97", "1")], &[("100.5", "1")])).unwrap();
    // Zero quantities and another order in the venue's image change nothing.
    let mut venue = then.clone();
    venue.bids.reverse();
    venue.asks.push(lv("103", "0"));
    sync.cross_check(&venue).unwrap();
    assert_eq!(outcomes(&mut sync), [CheckOutcome::Passed]);
    assert!(sync.is_synced());
    assert_eq!(sync.book().seq(), 1_010, "the book itself is not turned back");
    // The book's own snapshot time is within reach too.
    let start = BookSnapshot {
        bids: vec![lv("100", "1"), lv("99", "2")],
        asks: vec![lv("101", "1"), lv("102", "2")],
        seq: 1_000,
    };
    sync.cross_check(&start).unwrap();
    assert_eq!(outcomes(&mut sync), [CheckOutcome::Passed]);
}

#[test]
fn a_lost_update_fails_the_check_and_the_book_resyncs() {
    let mut sync = synced();
    sync.on_delta(at(1_005, &[("100", "3")], &[])).unwrap();
    // The venue also sent 1_007 (bid 98×4, ask 101 gone); it never arrived.
    let venue = BookSnapshot {
        bids: vec![lv("100", "3"), lv("99", "2"), lv("98", "4")],
        asks: vec![lv("102", "2.0")],
        seq: 1_008,
    };
    sync.on_delta(at(1_009, &[("99", "1.5")], &[])).unwrap();
    let err = sync.cross_check(&venue).unwrap_err();
    let diff = CheckDiff { snapshot_seq: 1_008, book_seq: 1_009, missing: 1, extra: 1, differing: 0 };
    assert_eq!(err, BookError::Mismatch(diff));
    assert_eq!(outcomes(&mut sync), [CheckOutcome::Failed(diff)]);
    assert!(!sync.is_synced());
    // Updates queue until the fresh snapshot, which aligns them as after any gap.
    assert_eq!(sync.on_delta(at(1_012, &[("99", "7")], &[])), Err(BookError::NotSynced));
    let fresh = BookSnapshot { seq: 1_010, ..venue };
    assert_eq!(sync.on_snapshot(&fresh).unwrap(), 1);
    assert!(sync.is_synced());
    assert_eq!(sync.book().bids().nth(1), Some(&lv("99", "7")));
}

#[test]
fn a_snapshot_not_older_than_the_book_passes_at_once_or_waits_for_the_next_later_update() {
    let mut sync = synced();
    sync.on_delta(at(1_005, &[("100", "3")], &[])).unwrap();
    // A quiet book: the venue's image at a later time is the book, whatever may still come.
    sync.cross_check(&image(&sync, 1_010)).unwrap();
    assert_eq!(outcomes(&mut sync), [CheckOutcome::Passed]);
    assert!(!sync.has_deferred_check());
    // The snapshot at 1_010 holds an update at 1_010 the socket has not delivered yet.
    let mut venue = image(&sync, 1_010);
    venue.asks[0] = lv("101", "6");
    sync.cross_check(&venue).unwrap();
    assert_eq!(outcomes(&mut sync), [CheckOutcome::Deferred]);
    assert!(sync.has_deferred_check());
    // Equal times may still follow, so 1_010 is applied, not compared.
    sync.on_delta(at(1_010, &[], &[("101", "6")])).unwrap();
    assert!(outcomes(&mut sync).is_empty());
    // The first later update: compared before it is applied.
    sync.on_delta(at(1_011, &[("100", "9")], &[])).unwrap();
    assert_eq!(outcomes(&mut sync), [CheckOutcome::Passed]);
    assert!(!sync.has_deferred_check());
    assert_eq!(sync.book().best_bid(), Some(&lv("100", "9")));
}

#[test]
fn a_deferred_check_that_differs_refuses_the_update_and_queues_it() {
    let mut sync = synced();
    let mut venue = image(&sync, 1_004);
    venue.bids.remove(1);
    sync.cross_check(&venue).unwrap();
    sync.on_delta(at(1_003, &[("100", "2")], &[])).unwrap();
    let err = sync.on_delta(at(1_006, &[("100", "3")], &[])).unwrap_err();
    assert!(matches!(err, BookError::Mismatch(CheckDiff { extra: 1, book_seq: 1_003, .. })), "{err:?}");
    assert_eq!(outcomes(&mut sync).len(), 2, "deferred, then failed");
    assert!(!sync.is_synced());
    assert_eq!(sync.pending(), 1, "the refused update waits for the fresh snapshot");
}

#[test]
fn a_log_that_does_not_reach_back_is_inconclusive() {
    let bound = UndoBound { max_changes: 3, max_span: 1_000_000 };
    let mut sync = BookSync::new(SeqRule::Timestamped, 100).with_cross_checks(bound);
    sync.on_snapshot(&BookSnapshot { bids: vec![lv("100", "1")], asks: vec![lv("101", "1")], seq: 1_000 })
        .unwrap();
    for (i, seq) in (1_001..=1_004).enumerate() {
        sync.on_delta(at(seq, &[("99", &(i + 1).to_string())], &[])).unwrap();
    }
    // Changes at 1_002..=1_004 are kept: the book can go back to 1_001, not to 1_000.
    let old = BookSnapshot { bids: vec![lv("100", "1")], asks: vec![lv("101", "1")], seq: 1_000 };
    sync.cross_check(&old).unwrap();
    assert_eq!(outcomes(&mut sync), [CheckOutcome::Inconclusive]);
    let reachable = BookSnapshot { bids: vec![lv("100", "1"), lv("99", "1")], ..old };
    sync.cross_check(&BookSnapshot { seq: 1_001, ..reachable }).unwrap();
    assert_eq!(outcomes(&mut sync), [CheckOutcome::Passed]);
    // The span bound: a change 2 s after the others forgets them all; the book can go back to
    // the last forgotten one's time, no further.
    sync.on_delta(at(2_000_500, &[("98", "1")], &[])).unwrap();
    sync.cross_check(&BookSnapshot { seq: 1_003, bids: vec![], asks: vec![] }).unwrap();
    assert_eq!(outcomes(&mut sync), [CheckOutcome::Inconclusive]);
    let at_1004 =
        BookSnapshot { bids: vec![lv("100", "1"), lv("99", "4")], asks: vec![lv("101", "1")], seq: 1_004 };
    sync.cross_check(&at_1004).unwrap();
    assert_eq!(outcomes(&mut sync), [CheckOutcome::Passed]);
    // Before the book's snapshot nothing is known; a book without checks enabled knows nothing.
    let mut plain = BookSync::<BookDelta>::new(SeqRule::Timestamped, 10);
    plain.on_snapshot(&BookSnapshot { bids: vec![], asks: vec![], seq: 5 }).unwrap();
    plain.on_delta(at(6, &[("1", "1")], &[])).unwrap();
    plain.cross_check(&BookSnapshot { bids: vec![], asks: vec![], seq: 5 }).unwrap();
    assert_eq!(plain.take_check_outcomes().collect::<Vec<_>>(), [CheckOutcome::Inconclusive]);
}

#[test]
fn deferred_checks_are_dropped_when_replaced_reloaded_reset_or_gapped() {
    let mut sync = synced();
    // An image later than the book with one more level (at a price of its own), so that it
    // must wait for the updates before it.
    let later = |sync: &BookSync, seq: u64| {
        let mut image = image(sync, seq);
        image.asks.push(Level::new(Decimal::from(seq), Decimal::ONE));
        image
    };
    sync.cross_check(&later(&sync, 1_100)).unwrap();
    sync.cross_check(&later(&sync, 1_200)).unwrap();
    assert_eq!(outcomes(&mut sync), [CheckOutcome::Deferred, CheckOutcome::Dropped, CheckOutcome::Deferred]);
    // Time running backwards is a gap: the deferred check cannot be compared any more.
    sync.on_delta(at(1_010, &[], &[])).unwrap();
    assert!(matches!(sync.on_delta(at(1_001, &[], &[])), Err(BookError::Gap { .. })));
    assert_eq!(outcomes(&mut sync), [CheckOutcome::Dropped]);
    assert_eq!(sync.cross_check(&later(&sync, 1_300)), Err(BookError::NotSynced));
    sync.on_snapshot(&later(&sync, 1_400)).unwrap();
    sync.cross_check(&later(&sync, 1_500)).unwrap();
    sync.on_snapshot(&later(&sync, 1_600)).unwrap();
    sync.cross_check(&later(&sync, 1_700)).unwrap();
    sync.reset();
    assert_eq!(
        outcomes(&mut sync),
        [CheckOutcome::Deferred, CheckOutcome::Dropped, CheckOutcome::Deferred, CheckOutcome::Dropped]
    );
}

/// A price grid: bids on ticks 0..20, asks on 20..40, so no sequence can cross the book.
fn price(tick: u32) -> Decimal {
    Decimal::new(10_000 + i64::from(tick) * 25, 2)
}

fn levels(ticks: &[(u32, u32)], offset: u32) -> Vec<Level> {
    ticks.iter().map(|&(t, q)| Level::new(price(t % 20 + offset), Decimal::new(i64::from(q), 3))).collect()
}

type Side = Vec<(u32, u32)>;

proptest! {
    /// Random updates (equal times included) applied to a checked book; then the book turned
    /// back to any time since its snapshot equals the book as it was at that time, and a
    /// venue image with one level changed fails.
    #[test]
    fn undo_to_any_time_equals_the_book_as_it_was(
        initial in (prop::collection::vec((0u32..20, 1u32..50), 0..12), prop::collection::vec((0u32..20, 1u32..50), 0..12)),
        steps in prop::collection::vec(
            (0u64..3, prop::collection::vec((0u32..20, 0u32..50), 0..5), prop::collection::vec((0u32..20, 0u32..50), 0..5)),
            1..50,
        ),
        pick in any::<prop::sample::Index>(),
        tweak in (any::<bool>(), 0u32..20, 1u32..50),
    ) {
        let (bids, asks): (Side, Side) = initial;
        let mut sync = BookSync::new(SeqRule::Timestamped, 100).with_cross_checks(UndoBound::default());
        sync.on_snapshot(&BookSnapshot { bids: levels(&bids, 0), asks: levels(&asks, 20), seq: 1_000 }).unwrap();
        // The book after the last update at each time, the snapshot's time first.
        let mut history = vec![image(&sync, 1_000)];
        let mut seq = 1_000;
        for (step, b, a) in steps {
            // The first update must be later than the snapshot; later ones may share a time.
            seq += if seq == 1_000 { 1 + step } else { step };
            let up = BookDelta { bids: levels(&b, 0), asks: levels(&a, 20), seq: Sequence { first: None, last: seq, prev: None } };
            prop_assert_eq!(sync.on_delta(up).unwrap(), Applied::Updated);
            match history.last_mut() {
                Some(last) if last.seq == seq => *last = image(&sync, seq),
                _ => history.push(image(&sync, seq)),
            }
        }
        let then = pick.get(&history).clone();
        if then.seq < sync.book().seq() {
            sync.cross_check(&then).unwrap();
            prop_assert_eq!(outcomes(&mut sync), vec![CheckOutcome::Passed]);
            let (bid, tick, qty) = tweak;
            let mut wrong = then.clone();
            let side = if bid { &mut wrong.bids } else { &mut wrong.asks };
            let level = levels(&[(tick, qty)], if bid { 0 } else { 20 })[0];
            match side.iter_mut().find(|l| l.price == level.price) {
                Some(l) if l.qty == level.qty => l.qty = Decimal::ZERO,
                Some(l) => l.qty = level.qty,
                None => side.push(level),
            }
            prop_assert!(matches!(sync.cross_check(&wrong), Err(BookError::Mismatch(_))));
            prop_assert!(!sync.is_synced());
        }
    }
}
