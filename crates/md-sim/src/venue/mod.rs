//! The venue protocols: frame encoding, client message handling and REST routes, one module
//! per venue, dispatched on [`ExchangeId`].

pub(crate) mod binance;
pub(crate) mod bybit;
pub(crate) mod huobi;

use std::collections::VecDeque;

use md_core::{ExchangeId, TradeId};
use tokio_tungstenite::tungstenite::Message;

use crate::book::{Instrument, Levels};
use crate::http::HttpResponse;
use crate::hub::{SymState, Venue};

/// Where one update sits in the venue's sequence.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct SeqStep {
    /// First id covered (Binance `U`).
    pub first: u64,
    /// Last id covered (Binance `u`, Bybit `u`, HTX `seqNum`).
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

/// Advances an instrument's sequence for one update, the way the venue numbers it.
pub(crate) fn advance_seq(id: ExchangeId, sym: &mut SymState) -> SeqStep {
    let prev = sym.seq;
    let step = match id {
        // Binance: one event covers several update ids, U..=u.
        ExchangeId::Binance => sym.book_rng.below(3) + 1,
        // Bybit: u + 1 per message.
        ExchangeId::Bybit => 1,
        // HTX: seqNum jumps, prevSeqNum links.
        _ => sym.book_rng.below(50) + 1,
    };
    sym.seq += step;
    sym.cross_seq += sym.book_rng.below(20) + 1;
    SeqStep { first: prev + 1, last: sym.seq, prev, cross: sym.cross_seq }
}

/// An incremental for one topic.
pub(crate) fn delta_frame(
    id: ExchangeId,
    inst: &Instrument,
    topic: &str,
    bids: &Levels,
    asks: &Levels,
    seq: &SeqStep,
    ts: i64,
) -> Message {
    match id {
        ExchangeId::Binance => binance::delta(inst, topic, bids, asks, seq, ts),
        ExchangeId::Bybit => bybit::delta(inst, topic, bids, asks, seq, ts),
        _ => huobi::delta(inst, topic, bids, asks, seq, ts),
    }
}

/// The messages carrying these trades (Binance sends one event per trade).
pub(crate) fn trade_frames(
    id: ExchangeId,
    inst: &Instrument,
    topic: &str,
    trades: &[SimTrade],
) -> Vec<Message> {
    match id {
        ExchangeId::Binance => trades.iter().map(|t| binance::trade(inst, topic, t)).collect(),
        ExchangeId::Bybit => vec![bybit::trades(inst, topic, trades)],
        _ => vec![huobi::trades(inst, topic, trades)],
    }
}

/// The id a client's parser reads from a trade.
pub(crate) fn trade_id(id: ExchangeId, trade: &SimTrade) -> TradeId {
    match id {
        ExchangeId::Bybit => TradeId::from_text(&bybit::trade_id_text(trade.id)),
        _ => TradeId::Number(trade.id),
    }
}

/// Handles one text message from a client.
pub(crate) fn on_text(venue: &Venue, conn_id: u64, text: &str, heartbeat: &mut Heartbeat) {
    match venue.id {
        ExchangeId::Binance => binance::on_text(venue, conn_id, text),
        ExchangeId::Bybit => bybit::on_text(venue, conn_id, text),
        _ => huobi::on_text(venue, conn_id, text, heartbeat),
    }
}

/// Frames a client's parser must refuse without losing the stream.
pub(crate) fn malformed(id: ExchangeId, inst: &Instrument) -> Vec<Message> {
    match id {
        ExchangeId::Binance => binance::malformed(inst),
        ExchangeId::Bybit => bybit::malformed(inst),
        _ => huobi::malformed(inst),
    }
}

/// The WebSocket path of a venue's URL.
pub(crate) fn ws_path(id: ExchangeId) -> &'static str {
    match id {
        ExchangeId::Binance => "/stream",
        ExchangeId::Bybit => "/v5/public/spot",
        _ => "/ws",
    }
}

/// Whether a WebSocket request path is one the venue serves.
pub(crate) fn path_ok(id: ExchangeId, path: &str) -> bool {
    match id {
        ExchangeId::Huobi => path == "/ws" || path == "/feed",
        _ => path == ws_path(id),
    }
}

/// Answers one REST request.
pub(crate) fn rest(venue: &Venue, path: &str, query: &[(String, String)]) -> HttpResponse {
    match venue.id {
        ExchangeId::Binance => binance::rest(venue, path, query),
        ExchangeId::Bybit => bybit::rest(venue, path, query),
        _ => huobi::rest(venue, path, query),
    }
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
