//! The venue protocols: one module per venue, each a [`Protocol`] implementation, and
//! [`protocol`], the one place that maps an [`ExchangeId`] to its protocol.
//!
//! Nothing outside this module matches on a venue id: a [`Venue`] holds its protocol, and a
//! venue without a module here is refused by [`crate::SimConfig::validate`] instead of being
//! served another venue's protocol.

pub(crate) mod binance;
pub(crate) mod bitstamp;
pub(crate) mod bybit;
pub(crate) mod huobi;

use std::collections::VecDeque;
use std::fmt::Debug;
use std::time::Duration;

use md_core::{ExchangeId, TradeId};
use tokio_tungstenite::tungstenite::Message;

use crate::book::{Instrument, Levels};
use crate::http::HttpResponse;
use crate::hub::{Sub, SymState, Venue};
use crate::rng::SplitMix64;

/// Everything one venue does its own way: paths, numbering, frames, client messages, REST
/// routes and heartbeats. The generator, the connection tasks and the REST responder are
/// generic and ask the venue's protocol at each of these points.
pub(crate) trait Protocol: Send + Sync + Debug {
    /// The path of the venue's WebSocket URL ([`crate::Simulator::ws_url`]).
    fn ws_path(&self) -> &'static str;

    /// Whether a WebSocket request path is one the venue serves (the handshake of any other
    /// is refused with 404).
    fn accepts_path(&self, path: &str) -> bool {
        path == self.ws_path()
    }

    /// The instrument's name as the venue's listing spells it (`BTCUSDT`, `btcusdt`).
    fn native(&self, inst: &Instrument) -> String;

    /// An instrument's first book sequence id and first trade id, in the ranges the venue's
    /// real ids have (so that clients see plausible magnitudes).
    fn start_ids(&self, rng: &mut SplitMix64) -> StartIds;

    /// How far the book sequence advances with one update: Binance covers several update
    /// ids per event (`U..=u`), Bybit counts `u + 1`, HTX's `seqNum` jumps.
    fn seq_step(&self, rng: &mut SplitMix64) -> u64;

    /// The book sequence after one update that follows `prev`: `prev` + [`Protocol::seq_step`],
    /// except for a venue whose sequence is its clock (Bitstamp's `microtimestamp`).
    fn next_seq(&self, prev: u64, rng: &mut SplitMix64) -> u64 {
        prev + self.seq_step(rng)
    }

    /// A book incremental for one topic.
    fn delta(
        &self,
        inst: &Instrument,
        topic: &str,
        bids: &Levels,
        asks: &Levels,
        seq: &SeqStep,
        ts: i64,
    ) -> Message;

    /// At most this many trades go in one message (Binance sends one event per trade).
    fn trades_per_frame(&self) -> usize {
        usize::MAX
    }

    /// The message carrying these trades (at most [`Protocol::trades_per_frame`], at least one).
    fn trades(&self, inst: &Instrument, topic: &str, trades: &[SimTrade]) -> Message;

    /// The id the venue's client parser reads from a trade.
    fn trade_id(&self, trade: &SimTrade) -> TradeId {
        TradeId::Number(trade.id)
    }

    /// How often the venue pushes full images to [`crate::hub::SubKind::Image`] subscribers
    /// (HTX `depth.step0`); `None` for a venue without such topics.
    fn image_period(&self) -> Option<Duration> {
        None
    }

    /// A full image of the instrument's current book for an image topic.
    fn image(&self, _inst: &Instrument, _topic: &str, _state: &SymState) -> Option<Message> {
        None
    }

    /// Frames the venue's client parser must refuse without losing the stream.
    fn malformed(&self, inst: &Instrument) -> Vec<Message>;

    /// The notice the venue sends before it closes a connection for maintenance (Binance
    /// `serverShutdown`); `None` for a venue that has none.
    fn shutdown_notice(&self) -> Option<Message> {
        None
    }

    /// Whether and how the server pings its clients; `None`: the client pings (Bybit).
    fn server_heartbeat(&self) -> Option<ServerHeartbeat> {
        None
    }

    /// Subscriptions named by the query of the WebSocket URL (Binance `?streams=a/b`).
    fn url_subscriptions(&self, _venue: &Venue, _query: &str) -> Vec<Sub> {
        Vec::new()
    }

    /// Handles one text message from a client (subscribe, unsubscribe, heartbeats, requests).
    fn on_text(&self, venue: &Venue, conn_id: u64, text: &str, heartbeat: &mut Heartbeat);

    /// Answers one REST GET.
    fn rest(&self, venue: &Venue, path: &str, query: &[(String, String)]) -> HttpResponse;
}

/// The protocol md-sim speaks for a venue, or `None` for a venue it does not simulate.
///
/// The only place a venue id picks behaviour: a new [`ExchangeId`] has no protocol until a
/// module for it is added here, so it is refused rather than served another venue's frames.
pub(crate) fn protocol(id: ExchangeId) -> Option<&'static dyn Protocol> {
    match id {
        ExchangeId::Binance => Some(&binance::Binance),
        ExchangeId::Bybit => Some(&bybit::Bybit),
        ExchangeId::Huobi => Some(&huobi::Huobi),
        ExchangeId::Bitstamp => Some(&bitstamp::Bitstamp),
        // Custom and whatever comes next: no simulator yet.
        _ => None,
    }
}

/// An instrument's first ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct StartIds {
    /// The book sequence before the first update (Binance update id, Bybit `u`, HTX `seqNum`,
    /// Bitstamp `microtimestamp`).
    pub seq: u64,
    /// The first trade's id.
    pub trade: u64,
}

/// How a venue's server pings.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ServerHeartbeat {
    /// The ping carrying this payload (unique per connection, echoed by the client).
    pub ping: fn(u64) -> Message,
    /// The server closes a connection once this many consecutive pings went unanswered
    /// (HTX: 2); `None`: it never does (Binance's one-minute rule is not simulated).
    pub close_after_unanswered: Option<u32>,
}

/// Where one update sits in the venue's sequence.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct SeqStep {
    /// First id covered (Binance `U`).
    pub first: u64,
    /// Last id covered (Binance `u`, Bybit `u`, HTX `seqNum`, Bitstamp `microtimestamp`).
    pub last: u64,
    /// The previous update's last id (HTX `prevSeqNum`).
    pub prev: u64,
    /// Bybit's cross sequence.
    pub cross: u64,
}

/// One simulated trade.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SimTrade {
    /// The venue's trade id (Binance `t`, Bybit `i`, HTX `tradeId`).
    pub id: u64,
    /// Price in ticks.
    pub price: i64,
    /// Quantity in lots.
    pub qty: i64,
    /// The taker bought.
    pub buy: bool,
    /// Trade time, ms.
    pub ts: i64,
    /// Random digits of HTX's legacy 27-digit `id`.
    pub noise: u64,
}

/// Per-connection heartbeat state: the server pings not yet answered.
#[derive(Debug, Default)]
pub(crate) struct Heartbeat {
    /// Payloads of recent server pings, oldest first.
    pub outstanding: VecDeque<u64>,
    /// Consecutive server pings without a matching answer.
    pub unanswered: u32,
}

impl Heartbeat {
    /// Remembers a ping just sent.
    pub(crate) fn sent(&mut self, value: u64) {
        self.outstanding.push_back(value);
        if self.outstanding.len() > 8 {
            self.outstanding.pop_front();
        }
        self.unanswered += 1;
    }

    /// A client answer: whether it matched a ping we sent (then the count of unanswered resets).
    pub(crate) fn answered(&mut self, value: u64) -> bool {
        match self.outstanding.iter().position(|v| *v == value) {
            Some(i) => {
                self.outstanding.drain(..=i);
                self.unanswered = 0;
                true
            }
            None => false,
        }
    }
}

/// Advances an instrument's sequence for one update, the way its venue numbers it.
pub(crate) fn advance_seq(protocol: &dyn Protocol, sym: &mut SymState) -> SeqStep {
    let prev = sym.seq;
    sym.seq = protocol.next_seq(prev, &mut sym.book_rng);
    sym.cross_seq += sym.book_rng.below(20) + 1;
    SeqStep { first: prev + 1, last: sym.seq, prev, cross: sym.cross_seq }
}

/// `[[p,q],...]` with each number written by `price` and `qty`.
pub(crate) fn levels_json(
    levels: &Levels,
    price: impl Fn(i64) -> String,
    qty: impl Fn(i64) -> String,
) -> String {
    let mut out = String::with_capacity(levels.len() * 32 + 2);
    out.push('[');
    for (i, (p, q)) in levels.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push('[');
        out.push_str(&price(*p));
        out.push(',');
        out.push_str(&qty(*q));
        out.push(']');
    }
    out.push(']');
    out
}

/// A JSON string literal.
pub(crate) fn json_str(text: &str) -> String {
    serde_json::Value::from(text).to_string()
}

/// The value of a query parameter.
pub(crate) fn query_get<'a>(query: &'a [(String, String)], key: &str) -> Option<&'a str> {
    query.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}
