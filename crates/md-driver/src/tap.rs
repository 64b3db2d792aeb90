//! The raw-frame tap as the connection sees it: nothing at all when no tap is set.

use std::sync::Arc;

use md_core::{mono_ns, ConnId, ExchangeId, RawEvent, RawKind, RawTap, UnixNanos};

/// A venue's optional tap, as one connection task (slot) sees it.
#[derive(Clone)]
pub(crate) struct Tap {
    exchange: ExchangeId,
    slot: u64,
    inner: Option<Arc<dyn RawTap>>,
}

impl Tap {
    /// The venue-wide tap (slot 0).
    pub(crate) fn new(exchange: ExchangeId, inner: Option<Arc<dyn RawTap>>) -> Self {
        Self { exchange, slot: 0, inner }
    }

    /// The same tap for one connection task.
    pub(crate) fn for_slot(&self, slot: u64) -> Self {
        Self { slot, ..self.clone() }
    }

    /// Shows an event to the tap; `kind` is only built when there is one, so an untapped
    /// driver copies no frame.
    #[inline]
    pub(crate) fn record(&self, conn: ConnId, local_ts: UnixNanos, kind: impl FnOnce() -> RawKind) {
        if let Some(tap) = &self.inner {
            tap.record(RawEvent {
                exchange: self.exchange,
                slot: self.slot,
                conn,
                local_ts,
                mono_ns: mono_ns(),
                kind: kind(),
            });
        }
    }
}
