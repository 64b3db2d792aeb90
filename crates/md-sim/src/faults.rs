//! Fault injection: a handle per venue that breaks the simulator in the ways real venues do.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use md_core::Symbol;
use tokio::time::Instant;

use crate::hub::{lock, Outbound, Venue};
use crate::stats::{add, bump};

/// Injects faults into one simulated venue. Cheap to clone; every call acts at once.
#[derive(Debug, Clone)]
pub struct Faults {
    pub(crate) venue: Arc<Venue>,
}

impl Faults {
    /// Closes every open WebSocket of the venue abruptly: the TCP connection is dropped with
    /// no close frame, as when a venue or the network cuts it.
    pub fn drop_connections(&self) {
        let mut hub = self.venue.lock();
        let n = hub.conns.len() as u64;
        for (_, conn) in std::mem::take(&mut hub.conns) {
            conn.kill.cancel();
        }
        add(&self.venue.counters.dropped_connections, n);
    }

    /// Withholds the next incremental of `symbol` on every connection. The update is still
    /// applied to the true book and its sequence ids are consumed, so the client sees a gap.
    /// Bitstamp's diffs carry no sequence: there the diff is lost silently (the next one's
    /// later `microtimestamp` looks like any other), and only a comparison with a fresh REST
    /// snapshot shows the book is wrong. Unknown symbols are ignored.
    pub fn skip_sequence(&self, symbol: &Symbol) {
        let Some(sym) = self.venue.find_symbol(symbol) else { return };
        self.venue.lock().syms[sym].skip_next = true;
    }

    /// Sends malformed data frames on every open connection, after what is already queued:
    /// Binance, Bybit and Bitstamp one text frame of truncated JSON; HTX one gzip frame of truncated
    /// JSON and one of corrupt gzip. A parser must refuse each and keep the stream.
    pub fn send_malformed(&self) {
        let venue = &self.venue;
        let Some(inst) = venue.instruments.first() else { return };
        let frames = venue.protocol.malformed(inst);
        let mut hub = venue.lock();
        let ids: Vec<u64> = hub.conns.keys().copied().collect();
        for id in ids {
            for frame in &frames {
                venue.send(&mut hub.conns, id, Outbound::Frame(frame.clone()));
                bump(&venue.counters.malformed_frames);
            }
        }
    }

    /// Makes every open connection send nothing, neither data nor heartbeats, for `duration`,
    /// keeping the sockets open. Messages queue meanwhile and go out afterwards; a connection
    /// whose queue fills first is dropped (see [`crate::SimConfig::queue_capacity`]).
    pub fn stall(&self, duration: Duration) {
        let until = Instant::now() + duration;
        let hub = self.venue.lock();
        for conn in hub.conns.values() {
            *lock(&conn.stall_until) = Some(until);
            bump(&self.venue.counters.stalled_connections);
        }
    }

    /// Binance: sends `{"stream":"!serverShutdown","data":{"e":"serverShutdown","E":ms}}` on
    /// every open connection (the client should reconnect); Bitstamp:
    /// `{"event":"bts:request_reconnect","channel":"","data":null}` (maintenance). Bybit and
    /// HTX have no such notice: a no-op there, counted nowhere.
    pub fn shutdown_notice(&self) {
        let venue = &self.venue;
        let Some(frame) = venue.protocol.shutdown_notice() else { return };
        let mut hub = venue.lock();
        let ids: Vec<u64> = hub.conns.keys().copied().collect();
        for id in ids {
            venue.send(&mut hub.conns, id, Outbound::Frame(frame.clone()));
            bump(&venue.counters.shutdown_notices);
        }
    }

    /// While `refuse` is set, refuses every snapshot request for `symbol` as the venue
    /// refuses a symbol it does not have (a delisted one): Binance REST `/api/v3/depth`
    /// answers HTTP 400 `{"code":-1121,"msg":"Invalid symbol."}`; HTX `req` answers
    /// `{"status":"error","err-code":"bad-request","err-msg":"invalid symbol <native>"}`;
    /// Bitstamp REST `/api/v2/order_book/{pair}/` answers HTTP 404.
    /// Bybit sends its snapshots in-stream: no effect there. Each refusal is counted in
    /// [`crate::SimStats::snapshots_refused`]; [`Faults::snapshot_429`] takes precedence, as a
    /// rate limit comes before any look-up. Unknown symbols are ignored.
    pub fn refuse_snapshots(&self, symbol: &Symbol, refuse: bool) {
        let Some(sym) = self.venue.find_symbol(symbol) else { return };
        self.venue.lock().syms[sym].refuse_snapshots = refuse;
    }

    /// Refuses the next `n` snapshot requests: Binance REST `/api/v3/depth` and Bitstamp REST
    /// `/api/v2/order_book/{pair}/` answer HTTP 429 with `Retry-After: 1`; HTX `req` answers `{"status":"error","err-msg":"429 too many
    /// request"}`. Bybit sends its snapshots in-stream: no effect there.
    pub fn snapshot_429(&self, n: usize) {
        self.venue.snapshot_429.fetch_add(n, Ordering::AcqRel);
    }
}
