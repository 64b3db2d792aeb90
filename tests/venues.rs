//! Every venue md lists as built in has every piece the workspace needs: a venue added to
//! `ExchangeId::BUILT_IN` without one fails here, by name, instead of being served another
//! venue's protocol or skipped by a benchmark.
#![allow(clippy::unwrap_used)]

use md_core::ExchangeId;

#[test]
fn every_built_in_venue_has_every_piece() {
    let mut missing = Vec::new();
    for venue in ExchangeId::BUILT_IN {
        if md_exchanges::build(venue, &md_exchanges::Endpoints::default()).is_none() {
            missing.push(format!("{venue}: no arm in md_exchanges::build (crates/md-exchanges/src/lib.rs)"));
        }
        if !md_sim::simulates(venue) {
            missing.push(format!("{venue}: no md-sim protocol (crates/md-sim/src/venue/)"));
        }
        if !md_bench::frames::writes(venue) {
            missing.push(format!("{venue}: no md-bench frame writer (crates/md-bench/src/frames.rs)"));
        }
        if ExchangeId::parse(venue.as_str()) != Some(venue) {
            missing.push(format!("{venue}: ExchangeId::parse does not read its own name"));
        }
        if !ExchangeId::built_in_names().contains(venue.as_str()) {
            missing.push(format!("{venue}: not in the names error messages list"));
        }
    }
    assert!(missing.is_empty(), "missing pieces:\n{}", missing.join("\n"));
}
