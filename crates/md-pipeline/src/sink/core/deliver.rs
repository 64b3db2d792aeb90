//! One batch to the target, until every record is stored or set aside: the retry loop driven
//! by the target's [`Outcome`]s.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use tokio::time::Instant;

use super::deadletter::DeadLetters;
use super::{Delivery, Outcome, RetryConfig};
use crate::sink::SinkMetrics;

/// Between two warnings about one lane's failing deliveries: a target that is down for an
/// hour must not write a line per attempt, nor go quiet for the whole hour.
const WARN_EVERY: Duration = Duration::from_secs(10);

/// What every delivery of one sink shares: the target, its lanes' health, the dead letters.
pub(super) struct Deliverer<D> {
    pub(super) delivery: D,
    pub(super) lanes: Vec<String>,
    pub(super) retry: RetryConfig,
    pub(super) metrics: Arc<SinkMetrics>,
    pub(super) dead: DeadLetters,
    /// Per lane: its last attempt failed (read by the shutdown grace).
    failing: Vec<AtomicBool>,
    warned: Vec<Mutex<Warned>>,
}

#[derive(Debug, Default)]
struct Warned {
    at: Option<Instant>,
    suppressed: u64,
}

/// How one piece of a batch ended.
enum Piece {
    /// Stored or set aside.
    Done,
    /// To be sent as these two halves, in this order.
    Halves((u32, Bytes), (u32, Bytes)),
}

impl<D: Delivery> Deliverer<D> {
    pub(super) fn new(delivery: D, retry: RetryConfig, metrics: Arc<SinkMetrics>, dead: DeadLetters) -> Self {
        let lanes = delivery.lanes();
        Self {
            failing: lanes.iter().map(|_| AtomicBool::new(false)).collect(),
            warned: lanes.iter().map(|_| Mutex::default()).collect(),
            lanes,
            delivery,
            retry,
            metrics,
            dead,
        }
    }

    /// Whether the lane's last attempt failed.
    pub(super) fn is_failing(&self, lane: usize) -> bool {
        self.failing[lane].load(Relaxed)
    }

    /// Delivers a batch: every record ends up acknowledged by the target or in a dead-letter
    /// file. Retryable failures are retried until they succeed (the caller drops this future
    /// to stop, e.g. to spool the batch at shutdown); split halves go in order.
    pub(super) async fn deliver(self: Arc<Self>, lane: usize, records: u32, body: Bytes) {
        let mut pieces = VecDeque::from([(records, body)]);
        while let Some((records, piece)) = pieces.pop_front() {
            if let Piece::Halves(a, b) = self.deliver_piece(lane, records, &piece).await {
                pieces.push_front(b);
                pieces.push_front(a);
            }
        }
    }

    async fn deliver_piece(&self, lane: usize, records: u32, piece: &Bytes) -> Piece {
        let mut attempt = 0u32;
        loop {
            let started = Instant::now();
            match self.delivery.deliver(lane, piece, records).await {
                Outcome::Done => {
                    self.metrics.record_latency(started.elapsed());
                    SinkMetrics::add(&self.metrics.records_written, u64::from(records));
                    SinkMetrics::add(&self.metrics.batches_written, 1);
                    self.mark_ok(lane);
                    return Piece::Done;
                }
                Outcome::Retry { after, error } => {
                    let wait = self.backoff(attempt, after);
                    self.mark_failing(lane, &error, wait, attempt);
                    SinkMetrics::add(&self.metrics.batches_retried, 1);
                    attempt = attempt.saturating_add(1);
                    tokio::time::sleep(wait).await;
                }
                Outcome::Split => {
                    if let Some(halves) = self.split(records, piece) {
                        SinkMetrics::add(&self.metrics.batches_split, 1);
                        return Piece::Halves(halves.0, halves.1);
                    }
                    // One record the target finds too large will never fit: keep it aside.
                    let message = "the target found a single record too large to store";
                    self.dead_letter(lane, "too_large", message, piece, records).await;
                    return Piece::Done;
                }
                Outcome::Reject { status, message } => {
                    self.dead_letter(lane, &status, &message, piece, records).await;
                    return Piece::Done;
                }
            }
        }
    }

    /// Two non-empty halves that together hold every record, or `None`.
    fn split(&self, records: u32, piece: &Bytes) -> Option<((u32, Bytes), (u32, Bytes))> {
        if records <= 1 {
            return None;
        }
        let (a, b) = self.delivery.split(piece)?;
        let (na, nb) = (self.delivery.count(&a), self.delivery.count(&b));
        let whole = a.len() + b.len() == piece.len() && na > 0 && nb > 0;
        whole.then_some(((na, a), (nb, b)))
    }

    /// Writes the dead-letter file, trying again for as long as it takes: a refused batch is
    /// never dropped, even when the disk fails for a while.
    async fn dead_letter(&self, lane: usize, status: &str, message: &str, body: &[u8], records: u32) {
        let name = &self.lanes[lane];
        let (header, ext) = self.delivery.dead_letter_format(name, status, message);
        let mut attempt = 0u32;
        loop {
            match self.dead.write(name, status, &header, body, ext) {
                Ok(path) => {
                    tracing::error!(lane = %name, status, message, records, path = %path.display(),
                        "batch refused by the target; set aside in a dead-letter file");
                    SinkMetrics::add(&self.metrics.records_dead_lettered, u64::from(records));
                    self.mark_ok(lane);
                    return;
                }
                Err(e) => {
                    let wait = self.backoff(attempt, None);
                    self.mark_failing(lane, &format!("cannot write a dead-letter file: {e}"), wait, attempt);
                    attempt = attempt.saturating_add(1);
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    fn mark_ok(&self, lane: usize) {
        if self.failing[lane].swap(false, Relaxed) {
            tracing::info!(lane = %self.lanes[lane], "deliveries succeed again");
            let mut warned = self.warned[lane].lock().unwrap_or_else(PoisonError::into_inner);
            *warned = Warned::default();
        }
        // The sink is healthy only once no lane is failing.
        if !self.failing.iter().any(|f| f.load(Relaxed)) {
            self.metrics.set_healthy();
        }
    }

    fn mark_failing(&self, lane: usize, error: &str, wait: Duration, attempt: u32) {
        let name = &self.lanes[lane];
        self.failing[lane].store(true, Relaxed);
        self.metrics.set_failing(format!("{name}: {error}"));
        let mut warned = self.warned[lane].lock().unwrap_or_else(PoisonError::into_inner);
        if warned.at.is_some_and(|at| at.elapsed() < WARN_EVERY) {
            warned.suppressed += 1;
            return;
        }
        let suppressed = std::mem::take(&mut warned.suppressed);
        warned.at = Some(Instant::now());
        drop(warned);
        tracing::warn!(lane = %name, error, ?wait, attempt, suppressed, "delivery failed; will retry");
    }

    /// The target's own delay (capped), or exponential backoff with jitter.
    fn backoff(&self, attempt: u32, after: Option<Duration>) -> Duration {
        if let Some(after) = after {
            return after.min(self.retry.max_retry_after);
        }
        let base =
            self.retry.initial_backoff.saturating_mul(1u32 << attempt.min(20)).min(self.retry.max_backoff);
        // Jitter in [base/2, base] keeps many writers from retrying in lockstep.
        base.mul_f64(0.5 + fastrand::f64() / 2.0)
    }
}
