//! Counters of what each simulated venue did, read by tests through [`SimStats`].

use std::sync::atomic::{AtomicU64, Ordering};

/// What one simulated venue has done since it started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SimStats {
    /// WebSocket connections accepted (handshake completed).
    pub connections_accepted: u64,
    /// WebSocket connections open now.
    pub connections_open: u64,
    /// Subscribe requests received (Binance `SUBSCRIBE`, Bybit `op:subscribe`, HTX `sub`,
    /// Bitstamp `bts:subscribe`), valid or not.
    pub subscribe_messages: u64,
    /// Unsubscribe requests received (Binance `UNSUBSCRIBE`, Bybit `op:unsubscribe`, HTX `unsub`,
    /// Bitstamp `bts:unsubscribe`), valid or not.
    pub unsubscribe_messages: u64,
    /// Server heartbeats sent (Binance and Bitstamp ping frames, HTX `{"ping":n}`).
    pub pings_sent: u64,
    /// Client answers that matched an outstanding server heartbeat.
    pub pongs_received: u64,
    /// Client-initiated heartbeats answered (Bybit `{"op":"ping"}`, HTX client `{"ping":n}`,
    /// Bitstamp `{"event":"bts:heartbeat"}`).
    pub client_pings_received: u64,
    /// Book images handed out: Binance and Bitstamp REST depth answers, Bybit WS snapshots, HTX
    /// `req` replies.
    pub snapshots_served: u64,
    /// Snapshot requests refused with 429 by the [`crate::Faults::snapshot_429`] fault.
    pub snapshot_429s: u64,
    /// Snapshot requests refused by the [`crate::Faults::refuse_snapshots`] fault.
    pub snapshots_refused: u64,
    /// WebSocket messages written to sockets (data, replies and heartbeats).
    pub frames_sent: u64,
    /// Connections dropped because their outgoing queue overflowed (slow or stalled client).
    pub queue_overflows: u64,
    /// HTX connections closed after two unanswered pings.
    pub ping_timeouts: u64,
    /// REST requests answered (any status).
    pub rest_requests: u64,
    /// Faults injected, by kind.
    pub faults: FaultStats,
}

/// Faults injected, by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct FaultStats {
    /// Connections closed by [`crate::Faults::drop_connections`].
    pub dropped_connections: u64,
    /// Incrementals withheld by [`crate::Faults::skip_sequence`].
    pub skipped_updates: u64,
    /// Malformed frames written by [`crate::Faults::send_malformed`].
    pub malformed_frames: u64,
    /// Connections stalled by [`crate::Faults::stall`].
    pub stalled_connections: u64,
    /// Shutdown notices sent by [`crate::Faults::shutdown_notice`].
    pub shutdown_notices: u64,
}

/// The live counters behind [`SimStats`].
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub connections_accepted: AtomicU64,
    pub connections_open: AtomicU64,
    pub subscribe_messages: AtomicU64,
    pub unsubscribe_messages: AtomicU64,
    pub pings_sent: AtomicU64,
    pub pongs_received: AtomicU64,
    pub client_pings_received: AtomicU64,
    pub snapshots_served: AtomicU64,
    pub snapshot_429s: AtomicU64,
    pub snapshots_refused: AtomicU64,
    pub frames_sent: AtomicU64,
    pub queue_overflows: AtomicU64,
    pub ping_timeouts: AtomicU64,
    pub rest_requests: AtomicU64,
    pub dropped_connections: AtomicU64,
    pub skipped_updates: AtomicU64,
    pub malformed_frames: AtomicU64,
    pub stalled_connections: AtomicU64,
    pub shutdown_notices: AtomicU64,
}

/// Adds one to a counter.
pub(crate) fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// Adds `n` to a counter.
pub(crate) fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

impl Counters {
    /// A consistent-enough copy (each counter read once).
    pub(crate) fn snapshot(&self) -> SimStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        SimStats {
            connections_accepted: get(&self.connections_accepted),
            connections_open: get(&self.connections_open),
            subscribe_messages: get(&self.subscribe_messages),
            unsubscribe_messages: get(&self.unsubscribe_messages),
            pings_sent: get(&self.pings_sent),
            pongs_received: get(&self.pongs_received),
            client_pings_received: get(&self.client_pings_received),
            snapshots_served: get(&self.snapshots_served),
            snapshot_429s: get(&self.snapshot_429s),
            snapshots_refused: get(&self.snapshots_refused),
            frames_sent: get(&self.frames_sent),
            queue_overflows: get(&self.queue_overflows),
            ping_timeouts: get(&self.ping_timeouts),
            rest_requests: get(&self.rest_requests),
            faults: FaultStats {
                dropped_connections: get(&self.dropped_connections),
                skipped_updates: get(&self.skipped_updates),
                malformed_frames: get(&self.malformed_frames),
                stalled_connections: get(&self.stalled_connections),
                shutdown_notices: get(&self.shutdown_notices),
            },
        }
    }
}
