//! The raw-frame tap as the connection sees it: nothing at all when no tap is set.

use std::sync::Arc;

use md_core::{mono_ns, ConnId, ExchangeId, RawEvent, RawKind, RawTap, UnixNanos};

/// A venue's optional tap.
#[derive(Clone)]
pub(crate) struct Tap {
    exchange: ExchangeId,
    inner: Option<Arc<dyn RawTap>>,
}

impl Tap {
    pub(crate) fn new(exchange: ExchangeId, inner: Option<Arc<dyn RawTap>>) -> Self {
        Self { exchange, inner }
    }

    /// Shows an event to the tap; `kind` is only built when there is one, so an untapped
    /// driver copies no frame.
    #[inline]
    pub(crate) fn record(&self, conn: ConnId, local_ts: UnixNanos, kind: impl FnOnce() -> RawKind) {
        if let Some(tap) = &self.inner {
            tap.record(RawEvent {
                exchange: self.exchange,
                conn,
                local_ts,
                mono_ns: mono_ns(),
                kind: kind(),
            });
        }
    }
}
