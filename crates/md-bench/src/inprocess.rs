//! The in-process path: the same frames through the driver's own [`ConnectionCore`] (parse,
//! verify books, route) and the line encoder, with no socket, no runtime and no channel hop.
//! What md does per message, against which the end-to-end rate is judged.

use std::sync::Arc;

use md_core::{now_ns, BookSet, ConnId, ExchangeId, UnixNanos};
use md_driver::{ConnectionCore, DriverConfig, DriverMetrics, Effects};
use md_exchanges::{build, Endpoints};
use md_sink_influx::{LineEncoder, SchemaConfig};

use crate::frames::{self, snapshot_answer, Frame};

/// One connection's worth of the driver's work on synthetic frames, encoded into line protocol.
pub struct InProcess {
    venue: ExchangeId,
    core: ConnectionCore,
    fx: Effects,
    encoder: LineEncoder,
    batch: Vec<u8>,
    lines: u64,
}

impl std::fmt::Debug for InProcess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InProcess").field("venue", &self.venue).field("lines", &self.lines).finish()
    }
}

/// Frame as the parser sees it.
pub fn as_frame(frame: &Frame) -> md_core::Frame<'_> {
    match frame {
        Frame::Text(t) => md_core::Frame::Text(t),
        Frame::Binary(b) => md_core::Frame::Binary(b),
    }
}

impl InProcess {
    /// A connected core carrying every one of `symbols` synthetic symbols.
    ///
    /// # Panics
    /// If md-exchanges does not build `venue`.
    pub fn new(venue: ExchangeId, symbols: usize) -> Self {
        let exchange: Arc<dyn md_core::Exchange> = match build(venue, &Endpoints::default()) {
            Some(exchange) => Arc::from(exchange),
            None => panic!("md-exchanges does not build {venue}"),
        };
        let listing = frames::listing(venue, symbols);
        let url = exchange.ws_url(&[md_core::Channel::Book]);
        let config = Arc::new(DriverConfig::default());
        let metrics = Arc::new(DriverMetrics::default());
        let mut core = ConnectionCore::new(
            Arc::clone(&exchange),
            config,
            &url,
            Arc::new(md_core::Symbols::new(listing.clone())),
            Arc::new(BookSet::new()),
            metrics,
        );
        let mut fx = Effects::default();
        core.add(&listing, false, 0, &mut fx);
        core.on_connected(ConnId(1), 0, &mut fx);
        fx.outbox.clear();
        fx.packets.clear();
        let encoder = LineEncoder::new(&SchemaConfig::default()).unwrap_or_else(|e| panic!("{e}"));
        Self { venue, core, fx, encoder, batch: Vec::with_capacity(4 << 20), lines: 0 }
    }

    /// Feeds one frame received now, as the socket loop does.
    pub fn feed(&mut self, frame: &Frame) {
        self.feed_at(frame, now_ns());
    }

    /// Feeds one frame received at `local_ts`, answers the snapshot requests it caused as the
    /// venue would, and encodes every packet.
    pub fn feed_at(&mut self, frame: &Frame, local_ts: UnixNanos) {
        self.core.on_frame(as_frame(frame), local_ts, &mut self.fx);
        if self.fx.has_actions() {
            self.answer(local_ts);
        }
        for packet in self.fx.packets.drain(..) {
            if let Ok(Some(_)) = self.encoder.encode(&packet, &mut self.batch) {
                self.lines += 1;
                // A batch of 5000 lines, as a sink seals them (and as the end-to-end run does).
                if self.lines.is_multiple_of(5000) {
                    self.batch.clear();
                }
            }
        }
    }

    /// Lines encoded so far.
    pub fn lines(&self) -> u64 {
        self.lines
    }

    /// The encoded lines not yet discarded (for inspection).
    pub fn batch(&self) -> &[u8] {
        &self.batch
    }

    fn answer(&mut self, local_ts: UnixNanos) {
        answer_requests(self.venue, &mut self.core, &mut self.fx, local_ts, |_| {});
    }
}

/// A venue's answer to a request the core made, as the connection consumes it.
#[derive(Debug)]
pub enum Answer<'a> {
    /// A REST snapshot body for this symbol.
    Rest(&'a md_core::SymbolInfo, &'a str),
    /// A frame answering an in-band request (HTX's `req`).
    Frame(&'a Frame),
}

/// Answers the snapshot requests a frame caused (REST fetches, in-band requests) as the
/// venue would, feeding each answer back into `core`; `seen` is shown each one first (the
/// replay benchmark records them, as the live tap does).
pub fn answer_requests(
    venue: ExchangeId,
    core: &mut ConnectionCore,
    fx: &mut Effects,
    local_ts: UnixNanos,
    mut seen: impl FnMut(Answer<'_>),
) {
    fx.replies.clear();
    for fetch in std::mem::take(&mut fx.fetches) {
        if let Some(Frame::Text(body)) = snapshot_answer(venue, &fetch.symbol.native, "0") {
            seen(Answer::Rest(&fetch.symbol, &body));
            core.on_snapshot_body(&fetch.symbol, &body, local_ts, fx);
        }
    }
    for request in std::mem::take(&mut fx.outbox) {
        let Ok(value) = serde_json::from_str::<serde_json::Value>(&request) else { continue };
        let Some(native) = value["req"].as_str().and_then(|t| t.split('.').nth(1)) else { continue };
        if let Some(answer) = snapshot_answer(venue, native, &value["id"].to_string()) {
            seen(Answer::Frame(&answer));
            core.on_frame(as_frame(&answer), local_ts, fx);
        }
    }
    fx.end = None;
}
