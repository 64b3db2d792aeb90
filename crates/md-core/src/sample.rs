//! [`TopSampler`]: top-N snapshots of verified books at a fixed interval of the stream's own
//! clock.
//!
//! The clock is the packets' receive time, not the wall clock: the sampler is told the receive
//! time of every event before the event is applied, and when that time crosses an interval
//! boundary it snapshots every changed book as it stood just before the boundary, stamped with
//! the boundary itself. The same events therefore give the same snapshots, whether they come
//! from a socket now or from a capture replayed a year later at any speed.

use std::sync::Arc;

use crate::book_set::SharedBook;
use crate::packet::{DataPacket, ExchangeId, Payload, UnixNanos};
use crate::symbol::Symbol;

/// Snapshots the books of one stream (one connection) every `interval_ns` of stream time.
#[derive(Debug, Clone)]
pub struct TopSampler {
    interval_ns: i64,
    depth: usize,
    /// The next boundary; `None` until the first event.
    next: Option<UnixNanos>,
    /// Each book's version when it was last sampled.
    sampled: Vec<(Symbol, u64)>,
}

impl TopSampler {
    /// A sampler of the top `depth` levels every `interval_ns` nanoseconds (at least 1).
    pub fn new(interval_ns: i64, depth: usize) -> Self {
        Self { interval_ns: interval_ns.max(1), depth, next: None, sampled: Vec::new() }
    }

    /// Levels per side in each snapshot.
    pub fn depth(&self) -> usize {
        self.depth
    }

    /// Tells the sampler that an event received at `local_ts` is about to be applied. If that
    /// crosses a boundary, appends a snapshot of every synced book that changed since its
    /// last one to `out`, stamped with the boundary, in `books` order.
    pub fn advance<'a>(
        &mut self,
        local_ts: UnixNanos,
        exchange: ExchangeId,
        books: impl IntoIterator<Item = (&'a Symbol, &'a Arc<SharedBook>)>,
        out: &mut Vec<DataPacket>,
    ) {
        let next = *self.next.get_or_insert_with(|| boundary_after(local_ts, self.interval_ns));
        if local_ts < next {
            return;
        }
        self.sample(next, exchange, books, out);
        self.next = Some(boundary_after(local_ts, self.interval_ns));
    }

    /// Snapshots every changed, synced book now, stamped `local_ts` (the end of a stream or a
    /// connection: its last event's time), so that what changed since the last boundary is kept.
    pub fn flush<'a>(
        &mut self,
        local_ts: UnixNanos,
        exchange: ExchangeId,
        books: impl IntoIterator<Item = (&'a Symbol, &'a Arc<SharedBook>)>,
        out: &mut Vec<DataPacket>,
    ) {
        self.sample(local_ts, exchange, books, out);
    }

    /// Forgets a book (its symbol was removed).
    pub fn forget(&mut self, symbol: &Symbol) {
        self.sampled.retain(|(s, _)| s != symbol);
    }

    fn sample<'a>(
        &mut self,
        at: UnixNanos,
        exchange: ExchangeId,
        books: impl IntoIterator<Item = (&'a Symbol, &'a Arc<SharedBook>)>,
        out: &mut Vec<DataPacket>,
    ) {
        for (symbol, shared) in books {
            let state = shared.read();
            if !state.book.is_synced() {
                continue;
            }
            let slot = match self.sampled.iter().position(|(s, _)| s == symbol) {
                Some(i) => i,
                None => {
                    self.sampled.push((symbol.clone(), u64::MAX));
                    self.sampled.len() - 1
                }
            };
            if self.sampled[slot].1 == state.version {
                continue;
            }
            self.sampled[slot].1 = state.version;
            out.push(DataPacket {
                exchange,
                symbol: symbol.clone(),
                exchange_ts: state.stamp.exchange_ts,
                local_ts: at,
                data: Payload::BookSnapshot(state.book.top(self.depth)),
            });
        }
    }
}

/// The first boundary strictly after `ts`.
fn boundary_after(ts: UnixNanos, interval: i64) -> UnixNanos {
    ts.div_euclid(interval).saturating_add(1).saturating_mul(interval)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::book::{BookSync, SeqRule};
    use crate::decimal::parse_decimal;
    use crate::packet::{BookDelta, BookSnapshot, Level, Sequence};

    fn level(p: &str, q: &str) -> Level {
        Level::new(parse_decimal(p).unwrap(), parse_decimal(q).unwrap())
    }

    #[test]
    fn samples_on_stream_time_boundaries_only_when_changed() {
        let btc = Symbol::new("BTC", "USDT");
        let mut sync: BookSync = BookSync::new(SeqRule::Consecutive, 10);
        let snap = BookSnapshot { bids: vec![level("1", "1")], asks: vec![level("2", "1")], seq: 1 };
        sync.on_snapshot(&snap).unwrap();
        let books = [(btc.clone(), Arc::clone(sync.shared()))];
        let iter = || books.iter().map(|(s, b)| (s, b));
        let mut sampler = TopSampler::new(1_000, 5);
        let mut out = Vec::new();
        sampler.advance(1_500, ExchangeId::Bybit, iter(), &mut out);
        assert!(out.is_empty(), "the first event only sets the clock");
        sampler.advance(2_000, ExchangeId::Bybit, iter(), &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].local_ts, 2_000, "stamped with the boundary");
        sampler.advance(3_700, ExchangeId::Bybit, iter(), &mut out);
        assert_eq!(out.len(), 1, "unchanged: not sampled again");
        let delta = BookDelta {
            bids: vec![level("1.5", "2")],
            asks: vec![],
            seq: Sequence { first: None, last: 2, prev: None },
        };
        sync.on_delta(delta).unwrap();
        sampler.advance(3_900, ExchangeId::Bybit, iter(), &mut out);
        assert_eq!(out.len(), 1, "no boundary crossed since 3,700");
        sampler.advance(9_100, ExchangeId::Bybit, iter(), &mut out);
        assert_eq!(out.len(), 2);
        assert_eq!(out[1].local_ts, 4_000, "the state as it stood at the first boundary crossed");
        let Payload::BookSnapshot(top) = &out[1].data else { panic!() };
        assert_eq!((top.seq, top.bids[0].price.to_string()), (2, "1.5".to_owned()));
    }
}
