//! The generator: one task per venue that walks every book and makes trades at the configured
//! rates, and fans each incremental out to the subscribed connections.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

use crate::book::{window_diff, BookSide, Levels};
use crate::hub::{now_ms, Hub, Outbound, SubKind, TradeBatch, Venue};
use crate::stats::bump;
use crate::venue::{self, SimTrade};

/// How often the generator wakes; rates are met on average by carrying fractions over.
const TICK: Duration = Duration::from_millis(5);

/// At most this many events of one kind per symbol per tick (a stalled runtime must not
/// come back with an unbounded burst).
const MAX_PER_TICK: f64 = 10_000.0;

/// Runs until the venue shuts down.
pub(crate) async fn run(venue: Arc<Venue>) {
    let n = venue.instruments.len();
    let (mut updates, mut trades) = (vec![0.0_f64; n], vec![0.0_f64; n]);
    let mut timer = tokio::time::interval(TICK);
    timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last = Instant::now();
    let image_period = venue.protocol.image_period();
    let mut next_image = image_period.map(|period| last + period);
    loop {
        tokio::select! {
            () = venue.cancel.cancelled() => return,
            _ = timer.tick() => {}
        }
        let now = Instant::now();
        let dt = now.duration_since(last).min(Duration::from_secs(1)).as_secs_f64();
        last = now;
        let mut hub = venue.lock();
        // Periodic images (HTX depth.step0) go on while paused: they only show the true book,
        // which is what a client must converge to at the quiescent point.
        if let (Some(at), Some(period)) = (next_image, image_period) {
            if now >= at {
                next_image = Some(now + period);
                images(&venue, &mut hub);
            }
        }
        if is_paused(&venue.paused) {
            continue;
        }
        for sym in 0..n {
            updates[sym] = (updates[sym] + venue.config.updates_per_sec * dt).min(MAX_PER_TICK);
            trades[sym] = (trades[sym] + venue.config.trades_per_sec * dt).min(MAX_PER_TICK);
            while updates[sym] >= 1.0 {
                updates[sym] -= 1.0;
                update(&venue, &mut hub, sym);
            }
            let count = trades[sym].floor();
            if count >= 1.0 {
                trades[sym] -= count;
                trade(&venue, &mut hub, sym, count as usize);
            }
        }
    }
}

fn is_paused(paused: &AtomicBool) -> bool {
    paused.load(Ordering::Acquire)
}

/// One book update of one symbol: applied to the true book, then sent as the venue's
/// incremental on every subscribed connection (unless a skip fault withholds it).
fn update(venue: &Venue, hub: &mut Hub, sym: usize) {
    let Hub { syms, conns } = hub;
    let depth = venue.config.depth;
    // Top-N views that are smaller than the book need their own diff (Bybit, HTX mbp).
    let windows: BTreeSet<usize> = conns
        .values()
        .flat_map(|c| c.subs.iter())
        .filter(|s| s.sym == sym)
        .filter_map(|s| match s.kind {
            SubKind::Book(Some(n)) if n < depth => Some(n),
            _ => None,
        })
        .collect();
    let state = &mut syms[sym];
    let before: HashMap<usize, (Levels, Levels)> = windows
        .iter()
        .map(|&n| (n, (state.book.top(BookSide::Bid, n), state.book.top(BookSide::Ask, n))))
        .collect();
    let changes = state.book.step(&mut state.book_rng);
    let seq = venue::advance_seq(venue.protocol, state);
    if std::mem::take(&mut state.skip_next) {
        bump(&venue.counters.skipped_updates);
        return;
    }
    let inst = &venue.instruments[sym];
    let ts = now_ms();
    let mut frames: HashMap<String, Message> = HashMap::new();
    let mut targets = Vec::new();
    for (id, conn) in conns.iter() {
        for sub in conn.subs.iter().filter(|s| s.sym == sym) {
            let SubKind::Book(levels) = sub.kind else { continue };
            let frame = frames.entry(sub.topic.clone()).or_insert_with(|| match levels {
                Some(n) if n < depth => {
                    let (old_bids, old_asks) = &before[&n];
                    let bids = window_diff(old_bids, &state.book.top(BookSide::Bid, n));
                    let asks = window_diff(old_asks, &state.book.top(BookSide::Ask, n));
                    venue.protocol.delta(inst, &sub.topic, &bids, &asks, &seq, ts)
                }
                _ => venue.protocol.delta(inst, &sub.topic, &changes.bids, &changes.asks, &seq, ts),
            });
            targets.push((*id, frame.clone()));
        }
    }
    for (id, frame) in targets {
        venue.send(conns, id, Outbound::Frame(frame));
    }
}

/// `count` trades of one symbol against its best levels, sent on every subscribed connection.
fn trade(venue: &Venue, hub: &mut Hub, sym: usize, count: usize) {
    let Hub { syms, conns } = hub;
    let state = &mut syms[sym];
    let ts = now_ms();
    let mut made = Vec::with_capacity(count);
    for _ in 0..count.min(1000) {
        let Some((price, qty, buy)) = state.book.trade(&mut state.trade_rng) else { break };
        made.push(SimTrade { id: state.next_trade, price, qty, buy, ts, noise: state.trade_rng.next_u64() });
        state.next_trade += 1;
    }
    let inst = &venue.instruments[sym];
    let mut targets = Vec::new();
    let mut encoded: HashMap<String, Vec<(Message, Arc<TradeBatch>)>> = HashMap::new();
    for (id, conn) in conns.iter() {
        for sub in conn.subs.iter().filter(|s| s.sym == sym && s.kind == SubKind::Trades) {
            let frames = encoded.entry(sub.topic.clone()).or_insert_with(|| {
                // One message per group: Binance writes one event per trade, the others one
                // message for all. Each message records its own trades when a socket takes it.
                let protocol = venue.protocol;
                made.chunks(protocol.trades_per_frame().max(1))
                    .map(|group| {
                        let batch = Arc::new(TradeBatch {
                            trades: group
                                .iter()
                                .map(|t| (inst.symbol.clone(), protocol.trade_id(t)))
                                .collect(),
                            recorded: AtomicBool::new(false),
                        });
                        (protocol.trades(inst, &sub.topic, group), batch)
                    })
                    .collect()
            });
            for (message, batch) in frames.iter() {
                targets.push((*id, Outbound::Trades(message.clone(), batch.clone())));
            }
        }
    }
    for (id, out) in targets {
        venue.send(conns, id, out);
    }
}

/// Periodic images (HTX `depth.step0`): the current image to every subscriber.
fn images(venue: &Venue, hub: &mut Hub) {
    let mut targets = Vec::new();
    let mut frames: HashMap<String, Option<Message>> = HashMap::new();
    for (id, conn) in hub.conns.iter() {
        for sub in conn.subs.iter().filter(|s| s.kind == SubKind::Image) {
            let frame = frames.entry(sub.topic.clone()).or_insert_with(|| {
                venue.protocol.image(&venue.instruments[sub.sym], &sub.topic, &hub.syms[sub.sym])
            });
            if let Some(frame) = frame {
                targets.push((*id, frame.clone()));
            }
        }
    }
    for (id, frame) in targets {
        venue.send(&mut hub.conns, id, Outbound::Frame(frame));
    }
}
