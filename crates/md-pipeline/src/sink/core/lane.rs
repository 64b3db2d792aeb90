//! One lane: its open batch, the sealed batches waiting in memory, the one in flight, its spool.
//!
//! The lane's queue of sealed batches is, oldest first: the batch in flight, the spool on disk,
//! then batches in memory. Memory pressure moves the *oldest* in-memory batches to the spool
//! tail, which keeps that order, so batches reach the target in the order they were sealed,
//! across outages and restarts.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;

use bytes::Bytes;
use tokio::time::Instant;

use super::deliver::Deliverer;
use super::spool::Spool;
use super::Delivery;
use crate::sink::SinkMetrics;

type DeliveryFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A sealed batch.
struct Sealed {
    records: u32,
    body: Bytes,
}

struct Inflight {
    records: u32,
    body: Bytes,
    /// The batch is also the spool's front record (acknowledge it there when done).
    spooled: bool,
    fut: DeliveryFuture,
    done: bool,
}

pub(super) struct Lane {
    pub(super) index: usize,
    pub(super) name: String,
    open: Vec<u8>,
    open_records: u32,
    /// When the open batch got its first record (the linger timer).
    first_at: Option<Instant>,
    sealed: VecDeque<Sealed>,
    sealed_bytes: usize,
    sealed_records: u64,
    inflight: Option<Inflight>,
    spool: Option<Spool>,
    /// Buffers of delivered batches, reused for the next open batch.
    pool: Vec<Vec<u8>>,
    /// Spooled at shutdown: deliver nothing more in this run.
    parked: bool,
}

impl Lane {
    pub(super) fn new(index: usize, name: String, spool: Option<Spool>, batch_bytes: usize) -> Self {
        Self {
            index,
            name,
            open: Vec::with_capacity(batch_bytes.min(1 << 20)),
            open_records: 0,
            first_at: None,
            sealed: VecDeque::new(),
            sealed_bytes: 0,
            sealed_records: 0,
            inflight: None,
            spool,
            pool: Vec::new(),
            parked: false,
        }
    }

    /// The open batch, for the encoder to append to.
    pub(super) fn open_mut(&mut self) -> &mut Vec<u8> {
        &mut self.open
    }

    /// One record was appended; true when the batch is now full and was sealed.
    pub(super) fn appended(&mut self, batch_records: usize, batch_bytes: usize) -> bool {
        self.open_records += 1;
        if self.first_at.is_none() {
            self.first_at = Some(Instant::now());
        }
        let full = self.open_records as usize >= batch_records || self.open.len() >= batch_bytes;
        if full {
            self.seal();
        }
        full
    }

    /// When the open batch started waiting.
    pub(super) fn first_at(&self) -> Option<Instant> {
        self.first_at
    }

    pub(super) fn seal(&mut self) {
        if self.open_records == 0 {
            return;
        }
        let fresh = self.pool.pop().unwrap_or_else(|| Vec::with_capacity(self.open.capacity()));
        let body = Bytes::from(std::mem::replace(&mut self.open, fresh));
        self.sealed_bytes += body.len();
        self.sealed_records += u64::from(self.open_records);
        self.sealed.push_back(Sealed { records: self.open_records, body });
        self.open_records = 0;
        self.first_at = None;
    }

    pub(super) fn has_open(&self) -> bool {
        self.open_records > 0
    }

    pub(super) fn has_spool(&self) -> bool {
        self.spool.is_some()
    }

    pub(super) fn spool_bytes(&self) -> u64 {
        self.spool.as_ref().map_or(0, Spool::bytes)
    }

    /// Nothing anywhere: memory, flight or spool.
    pub(super) fn is_idle(&self) -> bool {
        !self.holds_memory() && self.spool.as_ref().is_none_or(Spool::is_empty)
    }

    /// Something in memory or in flight (which may also be in the spool).
    pub(super) fn holds_memory(&self) -> bool {
        self.open_records > 0 || !self.sealed.is_empty() || self.inflight.is_some()
    }

    /// Bytes held in memory and not also in the spool.
    pub(super) fn bytes(&self) -> usize {
        let inflight = self.inflight.as_ref().filter(|i| !i.spooled).map_or(0, |i| i.body.len());
        self.sealed_bytes + self.open.len() + inflight
    }

    /// Records held in memory and not also in the spool.
    pub(super) fn records_in_memory(&self) -> u64 {
        let inflight = self.inflight.as_ref().filter(|i| !i.spooled).map_or(0, |i| i.records);
        self.sealed_records + u64::from(self.open_records) + u64::from(inflight)
    }

    pub(super) fn records_on_disk(&self) -> u64 {
        self.spool.as_ref().map_or(0, Spool::records)
    }

    /// Starts sending the oldest waiting batch when nothing is in flight: the spool first.
    pub(super) fn start_next<D: Delivery>(&mut self, deliverer: &Arc<Deliverer<D>>, metrics: &SinkMetrics) {
        while self.inflight.is_none() && !self.parked {
            let Some((records, body, spooled)) = self.next_batch(metrics) else {
                return;
            };
            let fut = Box::pin(Arc::clone(deliverer).deliver(self.index, records, body.clone()));
            self.inflight = Some(Inflight { records, body, spooled, fut, done: false });
        }
    }

    fn next_batch(&mut self, metrics: &SinkMetrics) -> Option<(u32, Bytes, bool)> {
        if let Some(spool) = self.spool.as_mut() {
            while let Some(rec) = spool.front() {
                match spool.read(rec) {
                    Ok(body) => return Some((rec.records, body, true)),
                    Err(e) => {
                        tracing::error!(lane = %self.name, error = %e, records = rec.records,
                            "unreadable spool record skipped");
                        SinkMetrics::add(&metrics.spool_corrupt_records, 1);
                        if let Err(e) = spool.ack_front() {
                            tracing::error!(lane = %self.name, error = %e, "spool ack failed");
                        }
                    }
                }
            }
        }
        let batch = self.sealed.pop_front()?;
        self.sealed_bytes -= batch.body.len();
        self.sealed_records -= u64::from(batch.records);
        Some((batch.records, batch.body, false))
    }

    /// Polls the delivery in flight; ready once it finished.
    fn poll_done(&mut self, cx: &mut std::task::Context<'_>) -> bool {
        match self.inflight.as_mut() {
            Some(inflight) => {
                if !inflight.done && inflight.fut.as_mut().poll(cx).is_ready() {
                    inflight.done = true;
                }
                inflight.done
            }
            None => false,
        }
    }

    /// The delivery in flight finished: every record is stored or in a dead-letter file.
    pub(super) fn on_delivered(&mut self) {
        let Some(inflight) = self.inflight.take() else {
            return;
        };
        if inflight.spooled {
            if let Some(spool) = self.spool.as_mut() {
                if let Err(e) = spool.ack_front() {
                    tracing::error!(lane = %self.name, error = %e,
                        "spool ack failed; the batch may be sent again after a restart");
                }
            }
        }
        drop(inflight.fut);
        // The future held the last other reference, so this takes the buffer back without a copy.
        if self.pool.len() < 2 {
            let mut buf = Vec::from(inflight.body);
            buf.clear();
            self.pool.push(buf);
        }
    }

    /// Whether something in memory could move to the spool.
    pub(super) fn spillable(&self) -> bool {
        self.spool.is_some()
            && (self.inflight.as_ref().is_some_and(|i| !i.spooled) || !self.sealed.is_empty())
    }

    /// Moves the oldest in-memory batch to the spool tail (the one in flight first). False
    /// when the spool cannot take it.
    pub(super) fn spill_one(&mut self, metrics: &SinkMetrics) -> bool {
        let Some(spool) = self.spool.as_mut() else {
            return false;
        };
        if let Some(inflight) = self.inflight.as_mut().filter(|i| !i.spooled) {
            if !append(spool, &self.name, inflight.records, &inflight.body, metrics) {
                return false;
            }
            inflight.spooled = true;
            return true;
        }
        if let Some(batch) = self.sealed.front() {
            if !append(spool, &self.name, batch.records, &batch.body, metrics) {
                return false;
            }
            self.sealed_bytes -= batch.body.len();
            self.sealed_records -= u64::from(batch.records);
            self.sealed.pop_front();
        }
        true
    }

    /// Shutdown: the batch in flight and everything in memory go to the spool, and the lane
    /// delivers nothing more in this run. Returns the records that could not be kept.
    pub(super) fn spill_all(&mut self, metrics: &SinkMetrics) -> u64 {
        self.seal();
        self.parked = true;
        let mut lost = 0;
        if let Some(inflight) = self.inflight.take() {
            if !inflight.spooled && !self.keep(inflight.records, &inflight.body, metrics) {
                lost += u64::from(inflight.records);
            }
        }
        while let Some(batch) = self.sealed.pop_front() {
            self.sealed_bytes -= batch.body.len();
            self.sealed_records -= u64::from(batch.records);
            if !self.keep(batch.records, &batch.body, metrics) {
                lost += u64::from(batch.records);
            }
        }
        if lost > 0 {
            tracing::error!(lane = %self.name, lost, "records neither delivered nor spooled at shutdown");
        }
        lost
    }

    fn keep(&mut self, records: u32, body: &[u8], metrics: &SinkMetrics) -> bool {
        match self.spool.as_mut() {
            Some(spool) => append(spool, &self.name, records, body, metrics),
            None => false,
        }
    }
}

fn append(spool: &mut Spool, lane: &str, records: u32, body: &[u8], metrics: &SinkMetrics) -> bool {
    match spool.append(records, body) {
        Ok(()) => {
            SinkMetrics::add(&metrics.records_spooled, u64::from(records));
            true
        }
        Err(e) => {
            tracing::error!(lane, error = %e, "spool append failed");
            false
        }
    }
}

/// Resolves with the index of a lane whose delivery finished.
pub(super) async fn next_done(lanes: &mut [Lane]) -> usize {
    std::future::poll_fn(|cx| {
        for (i, lane) in lanes.iter_mut().enumerate() {
            if lane.poll_done(cx) {
                return Poll::Ready(i);
            }
        }
        Poll::Pending
    })
    .await
}
