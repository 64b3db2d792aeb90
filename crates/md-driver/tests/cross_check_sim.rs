//! Bitstamp against md-sim, end to end: its diffs carry no sequence, so a diff the simulator
//! silently withholds is found only by a cross-check against a fresh REST snapshot (1 s
//! interval here); the driver counts it as a gap, resyncs that one book, and every book ends
//! equal to the simulator's. Loopback only; every wait is bounded.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::Harness;
use md_core::{ExchangeId, Gap, Status};

const VENUE: ExchangeId = ExchangeId::Bitstamp;

fn is_cross_check_gap(status: &Status) -> bool {
    matches!(status, Status::GapDetected { gap: Gap::CrossCheck { .. }, .. })
}

fn is_resynced(status: &Status) -> bool {
    matches!(status, Status::Resynced { .. })
}

/// Polls `done` every 20 ms for at most `limit`; whether it came true.
async fn within(limit: Duration, done: impl Fn() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    while tokio::time::Instant::now() < deadline {
        if done() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    done()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silently_lost_diff_is_found_by_a_cross_check_and_resynced() {
    // Few updates a second, so that later diffs seldom rewrite every level the lost one
    // touched before a check sees the difference.
    let sim = md_sim::SimConfig { updates_per_sec: 10.0, ..common::sim_config(VENUE) };
    let h = Harness::start_with(sim, common::test_driver_config(), |_| {}).await;
    h.wait_synced().await;
    let metrics = h.metrics.clone();
    // An intact stream passes its checks.
    h.wait_for("a passed check of every book", move |_| metrics.snapshot().cross_checks_passed >= 4).await;
    assert_eq!(h.metrics.snapshot().gaps, 0, "{:?}", h.metrics.snapshot());

    let (gapped, other) = (h.symbols[0].symbol.clone(), h.symbols[1].symbol.clone());
    let mut injected = 0;
    loop {
        // Later diffs can heal the book (they set absolute quantities) before a check looks:
        // then there is nothing to find, and the diff is withheld again.
        h.sim.faults(VENUE).skip_sequence(&gapped);
        injected += 1;
        let metrics = h.metrics.clone();
        if within(Duration::from_secs(4), || metrics.snapshot().gaps >= 1).await {
            break;
        }
        assert!(injected < 5, "{injected} lost diffs, none found: {:?}", h.metrics.snapshot());
    }
    let g = gapped.clone();
    h.wait_for("the gap reported and that book resynced", move |d| {
        d.count(&g, is_cross_check_gap) == 1 && d.count(&g, is_resynced) == 1
    })
    .await;
    let m = h.metrics.snapshot();
    assert_eq!((m.gaps, m.cross_checks_failed, m.resyncs, m.reconnects), (1, 1, 1, 0), "{m:?}");
    assert!(h.sim.stats(VENUE).faults.skipped_updates >= injected, "{:?}", h.sim.stats(VENUE));
    {
        let d = h.downstream.lock().unwrap();
        assert_eq!(d.count(&other, is_cross_check_gap), 0, "the other book was left alone");
        let detail = d.statuses.iter().find(|(s, st)| *s == gapped && is_cross_check_gap(st)).unwrap();
        eprintln!("{}: {} lost diff(s) injected; {}", gapped, injected, detail.1.detail());
    }
    h.assert_books_match_sim().await;
    let d = h.stop().await;
    assert_eq!(d.inconsistent, 0, "everything passed on follows from a verified book");
    eprintln!("metrics {m:?}");
}
