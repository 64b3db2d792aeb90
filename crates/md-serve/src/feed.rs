//! The server's place on the spine: it reads which books changed (a `Conflate` queue: only
//! the newest packet per book waits, so a burst costs one merge, not one per packet), notes
//! each venue's status, and re-merges the symbols that have clients.

use std::collections::HashSet;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use md_core::{Payload, Symbol};
use md_pipeline::Subscription;
use tokio_util::sync::CancellationToken;

use crate::hub::Hub;

/// How often every merged book is looked at even without packets (states, grace periods).
const TICK: Duration = Duration::from_millis(250);

/// Reads the spine until it ends or `cancel` fires.
pub async fn run(hub: Arc<Hub>, mut feed: Subscription, cancel: CancellationToken) {
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut changed: HashSet<Symbol> = HashSet::new();
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = tick.tick() => {
                hub.refresh(None);
                hub.reap(false).await;
            }
            batch = feed.recv() => {
                let Some(batch) = batch else { break };
                note(&hub, &batch, &mut changed);
                // Whatever else is queued already: one merge for all of it.
                while let Some(batch) = feed.try_recv() {
                    note(&hub, &batch, &mut changed);
                }
                hub.refresh(Some(&changed));
                changed.clear();
            }
        }
    }
}

fn note(hub: &Hub, batch: &md_pipeline::Batch, changed: &mut HashSet<Symbol>) {
    hub.metrics().packets_seen.fetch_add(batch.packets().len() as u64, Relaxed);
    for packet in batch.packets() {
        match &packet.data {
            Payload::Status(status) => hub.on_status(packet.exchange, &packet.symbol, status),
            Payload::BookSnapshot(_) | Payload::BookDelta(_) => {}
            _ => continue,
        }
        if !changed.contains(&packet.symbol) {
            changed.insert(packet.symbol.clone());
        }
    }
}
