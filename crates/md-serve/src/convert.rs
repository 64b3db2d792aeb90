//! A published [`BookView`] in the two shapes clients read: the protobuf `Summary` and the
//! web page's JSON. Both cut the ladder to the client's depth and spell every number as the
//! exact decimal string, never a float.

use md_proto::orderbook as pb;
use serde_json::{json, Value};

use crate::hub::BookView;
use crate::merge::{Row, VenueBook, VenueStatus};

fn state(status: VenueStatus) -> pb::State {
    match status {
        VenueStatus::InSync => pb::State::InSync,
        VenueStatus::Syncing => pb::State::Syncing,
        VenueStatus::Stale => pb::State::Stale,
        VenueStatus::Disconnected => pb::State::Disconnected,
    }
}

fn lag(venue: &VenueBook) -> i64 {
    if venue.stamp.exchange_ts == 0 {
        0
    } else {
        venue.stamp.local_ts - venue.stamp.exchange_ts
    }
}

fn level(row: &Row) -> pb::Level {
    pb::Level {
        exchange: row.exchange.as_str().to_owned(),
        price: row.price.to_string(),
        amount: row.amount.to_string(),
    }
}

/// The protobuf summary of `view`, `depth` rows per side.
pub fn summary(view: &BookView, depth: usize) -> pb::Summary {
    let (exchange_ts, local_ts) = view.newest_stamps();
    pb::Summary {
        spread: view.ladder.spread.map(|s| s.to_string()).unwrap_or_default(),
        bids: view.ladder.bids.iter().take(depth).map(level).collect(),
        asks: view.ladder.asks.iter().take(depth).map(level).collect(),
        symbol: view.symbol.to_string(),
        sequence: view.sequence,
        crossed: view.ladder.crossed,
        venues: view
            .venues
            .iter()
            .map(|v| pb::VenueState {
                exchange: v.exchange.as_str().to_owned(),
                state: state(v.status) as i32,
                since_ns: v.since_ns,
                lag_ns: lag(v),
                exchange_ts_ns: v.stamp.exchange_ts,
                local_ts_ns: v.stamp.local_ts,
                detail: v.detail.clone(),
            })
            .collect(),
        exchange_ts_ns: exchange_ts,
        local_ts_ns: local_ts,
    }
}

fn json_row(row: &Row) -> Value {
    json!({"exchange": row.exchange.as_str(), "price": row.price.to_string(), "amount": row.amount.to_string()})
}

/// The web page's JSON of `view`, `depth` rows per side: the protobuf fields under the same
/// names, with nanosecond times as strings (they exceed a JavaScript number's 2^53).
pub fn json(view: &BookView, depth: usize) -> Value {
    let (exchange_ts, local_ts) = view.newest_stamps();
    json!({
        "symbol": view.symbol.to_string(),
        "sequence": view.sequence,
        "spread": view.ladder.spread.map(|s| s.to_string()).unwrap_or_default(),
        "crossed": view.ladder.crossed,
        "bids": view.ladder.bids.iter().take(depth).map(json_row).collect::<Vec<_>>(),
        "asks": view.ladder.asks.iter().take(depth).map(json_row).collect::<Vec<_>>(),
        "venues": view.venues.iter().map(|v| json!({
            "exchange": v.exchange.as_str(),
            "state": v.status.as_str(),
            "since_ns": v.since_ns.to_string(),
            "lag_ns": lag(v).to_string(),
            "exchange_ts_ns": v.stamp.exchange_ts.to_string(),
            "local_ts_ns": v.stamp.local_ts.to_string(),
            "detail": v.detail,
        })).collect::<Vec<_>>(),
        "exchange_ts_ns": exchange_ts.to_string(),
        "local_ts_ns": local_ts.to_string(),
    })
}

/// Each depth's shape of one summary, built by the first client that asks for it and cloned
/// for the others: with many clients on one symbol, formatting a summary's decimals once
/// instead of once per client is most of the fan-out's cost.
#[derive(Default)]
pub struct Shapes {
    grpc: ShapeCache<pb::Summary>,
    json: ShapeCache<String>,
}

impl std::fmt::Debug for Shapes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Shapes")
    }
}

/// A copy starts empty: the cache belongs to one published summary.
impl Clone for Shapes {
    fn clone(&self) -> Self {
        Self::default()
    }
}

/// Caches never make two summaries differ.
impl PartialEq for Shapes {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for Shapes {}

struct ShapeCache<T>(std::sync::Mutex<Vec<(usize, std::sync::Arc<T>)>>);

impl<T> Default for ShapeCache<T> {
    fn default() -> Self {
        Self(std::sync::Mutex::new(Vec::new()))
    }
}

impl<T> ShapeCache<T> {
    fn get_or_build(&self, depth: usize, build: impl FnOnce() -> T) -> std::sync::Arc<T> {
        let mut cache = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((_, shape)) = cache.iter().find(|(d, _)| *d == depth) {
            return std::sync::Arc::clone(shape);
        }
        let shape = std::sync::Arc::new(build());
        cache.push((depth, std::sync::Arc::clone(&shape)));
        shape
    }
}

/// [`summary`], built once per depth for every client of a summary.
pub fn shared_summary(view: &BookView, depth: usize) -> pb::Summary {
    view.shapes.grpc.get_or_build(depth, || summary(view, depth)).as_ref().clone()
}

/// [`json`] as text, built once per depth for every client of a summary.
pub fn shared_json(view: &BookView, depth: usize) -> String {
    view.shapes.json.get_or_build(depth, || json(view, depth).to_string()).as_ref().clone()
}
