//! The fan-out: every published batch reaches every subscriber, through one bounded queue per
//! subscriber, each with its own named [`Overflow`] policy.
//!
//! - [`Overflow::Block`]: lossless. A full queue makes the publisher wait, so backpressure
//!   reaches the source (which then reads its socket more slowly): storage.
//! - [`Overflow::DropOldest`]: a full queue drops its oldest batches, counted: event streams to
//!   network clients, where a slow reader must never hold anyone else back.
//! - [`Overflow::Conflate`]: only the latest packet per (venue, symbol, kind) waits, the rest
//!   are counted as conflated: consumers of state (a merged book, alerts) that want the newest
//!   value, not every value.
//!
//! A subscriber that never reads can only ever stall the publishers if its policy is `Block`;
//! with the other two it loses (and counts) its own data and nothing else.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use md_core::{DataPacket, ExchangeId, Symbol};
use tokio::sync::{Notify, Semaphore};

use crate::batch::Batch;

/// What a subscriber's queue does when it is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Overflow {
    /// Make the publisher wait: nothing is lost, a slow subscriber slows the source.
    Block,
    /// Drop the oldest queued batches, counted.
    DropOldest,
    /// Keep only the latest packet per (venue, symbol, kind), counting the ones replaced.
    Conflate,
}

impl Overflow {
    /// Every policy, for "valid: ..." messages.
    pub const ALL: [Overflow; 3] = [Overflow::Block, Overflow::DropOldest, Overflow::Conflate];

    /// `block`, `drop_oldest` or `conflate`, as configs spell them.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Block => "block",
            Self::DropOldest => "drop_oldest",
            Self::Conflate => "conflate",
        }
    }

    /// Parses [`Overflow::as_str`]'s spelling (`-` for `_` accepted).
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.as_str() == text.trim().to_ascii_lowercase().replace('-', "_"))
    }
}

impl std::fmt::Display for Overflow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One subscriber's queue: its name, policy and bound.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriberConfig {
    /// Names it in metrics and logs.
    pub name: String,
    /// What a full queue does.
    pub overflow: Overflow,
    /// Packets the queue holds (for `Conflate`: distinct keys).
    pub capacity: usize,
}

impl SubscriberConfig {
    /// A subscriber queue of `capacity` packets (at least 1).
    pub fn new(name: impl Into<String>, overflow: Overflow, capacity: usize) -> Self {
        Self { name: name.into(), overflow, capacity: capacity.max(1) }
    }
}

/// Live counters of one subscriber queue.
#[derive(Debug, Default)]
pub struct QueueMetrics {
    /// Packets offered to the queue.
    pub offered: AtomicU64,
    /// Packets handed to the subscriber.
    pub delivered: AtomicU64,
    /// Packets dropped by `DropOldest`, or lost because the subscriber was gone or the
    /// fan-out was aborted at shutdown.
    pub dropped: AtomicU64,
    /// Packets replaced by a newer one of the same key (`Conflate`).
    pub conflated: AtomicU64,
    /// Packets waiting now.
    pub depth: AtomicU64,
    /// The most packets that ever waited.
    pub peak_depth: AtomicU64,
    /// Times a publisher had to wait for room (`Block`).
    pub blocked: AtomicU64,
    /// Every publisher is gone (or the queue was aborted): what is queued is all there will be.
    pub closed: AtomicBool,
}

/// A copy of [`QueueMetrics`] at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[allow(missing_docs)] // the fields mirror QueueMetrics one for one
pub struct QueueStats {
    pub offered: u64,
    pub delivered: u64,
    pub dropped: u64,
    pub conflated: u64,
    pub depth: u64,
    pub peak_depth: u64,
    pub blocked: u64,
}

impl QueueMetrics {
    /// Reads every counter.
    pub fn snapshot(&self) -> QueueStats {
        QueueStats {
            offered: self.offered.load(Relaxed),
            delivered: self.delivered.load(Relaxed),
            dropped: self.dropped.load(Relaxed),
            conflated: self.conflated.load(Relaxed),
            depth: self.depth.load(Relaxed),
            peak_depth: self.peak_depth.load(Relaxed),
            blocked: self.blocked.load(Relaxed),
        }
    }
}

/// The conflation key: venue, symbol and payload kind.
type Key = (ExchangeId, Symbol, &'static str);

#[derive(Debug, Default)]
struct State {
    /// `Block` and `DropOldest`: batches with the permits (packets) they hold.
    fifo: VecDeque<(Batch, usize)>,
    queued: usize,
    /// `Conflate`: the latest packet per key (a batch and an index into it), keys oldest first.
    latest: HashMap<Key, (Batch, usize)>,
    order: VecDeque<Key>,
    /// No publisher is left: deliver what is queued, then end.
    closed: bool,
}

/// One subscriber's queue, shared by the publishers and the subscription.
#[derive(Debug)]
pub(crate) struct Mailbox {
    config: SubscriberConfig,
    state: Mutex<State>,
    readable: Notify,
    /// `Block`: room in packets.
    room: Semaphore,
    /// The subscription was dropped: publishers skip this queue.
    gone: AtomicBool,
    metrics: Arc<QueueMetrics>,
}

impl Mailbox {
    fn new(config: SubscriberConfig) -> Self {
        let permits = if config.overflow == Overflow::Block { config.capacity } else { 0 };
        Self {
            room: Semaphore::new(permits),
            config,
            state: Mutex::default(),
            readable: Notify::new(),
            gone: AtomicBool::new(false),
            metrics: Arc::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues a batch under the policy; `Block` waits for room.
    async fn push(&self, batch: &Batch) {
        let n = batch.len();
        self.metrics.offered.fetch_add(n as u64, Relaxed);
        if self.gone.load(Relaxed) {
            self.metrics.dropped.fetch_add(n as u64, Relaxed);
            return;
        }
        match self.config.overflow {
            Overflow::Block => {
                // A batch larger than the queue takes all of it, so it still gets through alone.
                let permits = n.min(self.config.capacity);
                let permit = match self.room.try_acquire_many(permits as u32) {
                    Ok(permit) => permit,
                    Err(_) => {
                        self.metrics.blocked.fetch_add(1, Relaxed);
                        match self.room.acquire_many(permits as u32).await {
                            Ok(permit) => permit,
                            Err(_) => {
                                // Closed: the subscriber left, or the fan-out was aborted.
                                self.metrics.dropped.fetch_add(n as u64, Relaxed);
                                return;
                            }
                        }
                    }
                };
                permit.forget();
                let mut state = self.lock();
                state.fifo.push_back((batch.clone(), permits));
                state.queued += n;
                self.note_depth(state.queued);
            }
            Overflow::DropOldest => {
                let mut state = self.lock();
                state.fifo.push_back((batch.clone(), 0));
                state.queued += n;
                while state.queued > self.config.capacity && state.fifo.len() > 1 {
                    if let Some((old, _)) = state.fifo.pop_front() {
                        state.queued -= old.len();
                        self.metrics.dropped.fetch_add(old.len() as u64, Relaxed);
                    }
                }
                self.note_depth(state.queued);
            }
            Overflow::Conflate => {
                let mut state = self.lock();
                let State { latest, order, .. } = &mut *state;
                for (i, packet) in batch.iter().enumerate() {
                    let key = (packet.exchange, packet.symbol.clone(), packet.data.kind_name());
                    if let Some(slot) = latest.get_mut(&key) {
                        *slot = (batch.clone(), i);
                        self.metrics.conflated.fetch_add(1, Relaxed);
                        continue;
                    }
                    if latest.len() >= self.config.capacity {
                        if let Some(oldest) = order.pop_front() {
                            latest.remove(&oldest);
                            self.metrics.dropped.fetch_add(1, Relaxed);
                        }
                    }
                    order.push_back(key.clone());
                    latest.insert(key, (batch.clone(), i));
                }
                let depth = latest.len();
                self.note_depth(depth);
            }
        }
        self.readable.notify_one();
    }

    fn note_depth(&self, depth: usize) {
        self.metrics.depth.store(depth as u64, Relaxed);
        self.metrics.peak_depth.fetch_max(depth as u64, Relaxed);
    }

    /// Takes what is queued: one batch (FIFO policies) or every latest packet (`Conflate`).
    fn pop(&self) -> Option<Batch> {
        let mut state = self.lock();
        let batch = match self.config.overflow {
            Overflow::Block | Overflow::DropOldest => {
                let (batch, permits) = state.fifo.pop_front()?;
                state.queued -= batch.len();
                if permits > 0 {
                    self.room.add_permits(permits);
                }
                batch
            }
            Overflow::Conflate => {
                if state.order.is_empty() {
                    return None;
                }
                let State { latest, order, .. } = &mut *state;
                let packets: Vec<DataPacket> = order
                    .drain(..)
                    .filter_map(|key| latest.remove(&key))
                    .map(|(batch, i)| batch[i].clone())
                    .collect();
                Batch::new(packets)
            }
        };
        let depth =
            if self.config.overflow == Overflow::Conflate { state.latest.len() } else { state.queued };
        drop(state);
        self.metrics.depth.store(depth as u64, Relaxed);
        self.metrics.delivered.fetch_add(batch.len() as u64, Relaxed);
        Some(batch)
    }

    fn close(&self) {
        self.lock().closed = true;
        self.metrics.closed.store(true, Relaxed);
        self.readable.notify_one();
    }

    /// Unblocks every waiting publisher for good: what they hold is counted as dropped.
    fn abort(&self) {
        self.room.close();
        self.close();
    }
}

/// The receiving end of one subscriber queue.
#[derive(Debug)]
pub struct Subscription {
    mailbox: Arc<Mailbox>,
}

impl Subscription {
    /// The next batch; `None` once every publisher is gone and the queue is empty.
    pub async fn recv(&mut self) -> Option<Batch> {
        loop {
            // Registered before looking, so a push between the look and the wait still wakes us.
            let notified = self.mailbox.readable.notified();
            if let Some(batch) = self.mailbox.pop() {
                return Some(batch);
            }
            if self.mailbox.lock().closed {
                return self.mailbox.pop();
            }
            notified.await;
        }
    }

    /// A batch if one is queued now, without waiting.
    pub fn try_recv(&mut self) -> Option<Batch> {
        self.mailbox.pop()
    }

    /// The queue's name, policy and bound.
    pub fn config(&self) -> &SubscriberConfig {
        &self.mailbox.config
    }

    /// The queue's counters.
    pub fn metrics(&self) -> Arc<QueueMetrics> {
        Arc::clone(&self.mailbox.metrics)
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        // Nobody will read this queue again: publishers must not wait for it.
        self.mailbox.gone.store(true, Relaxed);
        self.mailbox.room.close();
        let mut state = self.mailbox.lock();
        let lost = state.queued + state.latest.len();
        state.fifo.clear();
        state.latest.clear();
        state.order.clear();
        state.queued = 0;
        drop(state);
        self.mailbox.metrics.dropped.fetch_add(lost as u64, Relaxed);
        self.mailbox.metrics.depth.store(0, Relaxed);
    }
}

#[derive(Debug)]
struct Shared {
    /// Non-blocking queues first: a `Block` queue that waits must not delay the others.
    mailboxes: Vec<Arc<Mailbox>>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        for mailbox in &self.mailboxes {
            mailbox.close();
        }
    }
}

/// The sending end: cloned by every source (every connection of every driver). When the last
/// clone is dropped, every subscription ends once drained.
#[derive(Debug, Clone)]
pub struct Publisher {
    shared: Arc<Shared>,
}

impl Publisher {
    /// Offers a batch to every subscriber under its policy. Returns once every `Block` queue
    /// took it (or was closed).
    pub async fn publish(&self, packets: Vec<DataPacket>) {
        if packets.is_empty() {
            return;
        }
        let batch = Batch::new(packets);
        for mailbox in &self.shared.mailboxes {
            mailbox.push(&batch).await;
        }
    }

    /// A handle that can abort every queue later (at a shutdown deadline).
    pub fn abort_handle(&self) -> AbortHandle {
        AbortHandle { mailboxes: self.shared.mailboxes.clone() }
    }

    /// Whether any subscriber is still reading.
    pub fn has_subscribers(&self) -> bool {
        self.shared.mailboxes.iter().any(|m| !m.gone.load(Relaxed))
    }
}

/// Builds a fan-out: add subscribers, then take the publisher.
#[derive(Debug, Default)]
pub struct FanOut {
    mailboxes: Vec<Arc<Mailbox>>,
}

/// Lets the owner of a fan-out unblock every publisher at a shutdown deadline.
#[derive(Debug, Clone)]
pub struct AbortHandle {
    mailboxes: Vec<Arc<Mailbox>>,
}

impl AbortHandle {
    /// Closes every queue: waiting publishers return, their batches counted as dropped.
    pub fn abort(&self) {
        for mailbox in &self.mailboxes {
            mailbox.abort();
        }
    }
}

impl FanOut {
    /// A fan-out with no subscribers yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a subscriber queue.
    pub fn subscribe(&mut self, config: SubscriberConfig) -> Subscription {
        let mailbox = Arc::new(Mailbox::new(config));
        self.mailboxes.push(Arc::clone(&mailbox));
        Subscription { mailbox }
    }

    /// The publisher (clone it for each source).
    pub fn publisher(self) -> Publisher {
        let mut mailboxes = self.mailboxes;
        mailboxes.sort_by_key(|m| m.config.overflow == Overflow::Block);
        Publisher { shared: Arc::new(Shared { mailboxes }) }
    }
}

#[cfg(test)]
mod tests;
