//! Between a venue's driver and its storage: passes every packet on, and keeps its own copy
//! of each verified book to store a top-N snapshot of it every `--snapshot-interval` (and one
//! last time at shutdown), as the original design stores top-5 snapshots beside incrementals.

use std::collections::HashMap;
use std::time::Duration;

use md_core::{now_ns, DataPacket, ExchangeId, OrderBook, Payload, SeqRule, Symbol};
use tokio::sync::mpsc;

struct Sampled {
    book: OrderBook,
    /// The venue time of the last update applied.
    exchange_ts: i64,
    /// The sequence last stored, so an unchanged book is not stored again.
    stored_seq: Option<u64>,
}

/// Runs until `rx` closes (the driver stopped), then stores final snapshots and returns,
/// which closes the storage's input.
pub async fn record(
    exchange: ExchangeId,
    mut rx: mpsc::Receiver<DataPacket>,
    tx: mpsc::Sender<DataPacket>,
    rule: SeqRule,
    depth: usize,
    interval: Option<Duration>,
) {
    let mut books: HashMap<Symbol, Sampled> = HashMap::new();
    let mut ticker = tokio::time::interval(interval.unwrap_or(Duration::from_secs(3600)));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            packet = rx.recv() => {
                let Some(packet) = packet else { break };
                if interval.is_some() {
                    track(&mut books, &packet, rule);
                }
                if tx.send(packet).await.is_err() {
                    return;
                }
            }
            _ = ticker.tick(), if interval.is_some() => {
                if !sample(exchange, &mut books, &tx, depth).await {
                    return;
                }
            }
        }
    }
    if interval.is_some() {
        sample(exchange, &mut books, &tx, depth).await;
    }
}

fn track(books: &mut HashMap<Symbol, Sampled>, packet: &DataPacket, rule: SeqRule) {
    let entry = || Sampled { book: OrderBook::new(rule), exchange_ts: 0, stored_seq: None };
    match &packet.data {
        Payload::BookSnapshot(snapshot) => {
            let sampled = books.entry(packet.symbol.clone()).or_insert_with(entry);
            // The driver already verified it; a refusal here would only mean a crossed image.
            let _ = sampled.book.apply_snapshot(snapshot);
            sampled.exchange_ts = packet.exchange_ts;
        }
        Payload::BookDelta(delta) => {
            if let Some(sampled) = books.get_mut(&packet.symbol) {
                if sampled.book.apply_delta(delta).is_ok() {
                    sampled.exchange_ts = packet.exchange_ts;
                }
            }
        }
        // No reset on a disconnect: a venue may have several connections, and the driver sends
        // a fresh snapshot for every book of the one that dropped before any of its deltas.
        _ => {}
    }
}

async fn sample(
    exchange: ExchangeId,
    books: &mut HashMap<Symbol, Sampled>,
    tx: &mpsc::Sender<DataPacket>,
    depth: usize,
) -> bool {
    let local_ts = now_ns();
    let mut due: Vec<DataPacket> = books
        .iter_mut()
        .filter(|(_, s)| s.book.is_synced() && s.stored_seq != Some(s.book.seq()))
        .map(|(symbol, sampled)| {
            sampled.stored_seq = Some(sampled.book.seq());
            DataPacket {
                exchange,
                symbol: symbol.clone(),
                exchange_ts: sampled.exchange_ts,
                local_ts,
                data: Payload::BookSnapshot(sampled.book.top(depth)),
            }
        })
        .collect();
    due.sort_by(|a, b| a.symbol.cmp(&b.symbol));
    for packet in due {
        if tx.send(packet).await.is_err() {
            return false;
        }
    }
    true
}
