//! [`Buffer`]: batches lines per target and keeps every one of them until the database has it.
//!
//! Per target, the queue of sealed batches is, oldest first: the batch being sent, the spool
//! on disk, then batches in memory. Memory pressure moves the *oldest* in-memory batches to the
//! spool tail, which keeps that order, so batches reach the database in the order they were
//! sealed even across outages and restarts.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use bytes::Bytes;
use md_core::{DataPacket, Payload};
use tokio::sync::mpsc::Receiver;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::config::{InfluxConfig, OverflowPolicy};
use crate::deadletter::DeadLetters;
use crate::encode::{LineEncoder, Target};
use crate::error::SinkError;
use crate::metrics::{SinkMetrics, SinkStats};
use crate::spool::Spool;
use crate::write::{Batch, Writer};

/// Packets taken from the channel per wake-up before looking at timers and sends again.
const DRAIN: usize = 1024;

/// The target a payload is stored in, `None` for kinds that are not stored.
pub fn target_of(payload: &Payload) -> Option<Target> {
    match payload {
        Payload::Trade(_) | Payload::BookDelta(_) => Some(Target::Incremental),
        Payload::BookSnapshot(_) => Some(Target::Snapshot),
        _ => None,
    }
}

type Delivery = Pin<Box<dyn Future<Output = ()> + Send>>;

struct Inflight {
    batch: Batch,
    /// The batch is also the spool's front record (ack it when done).
    spooled: bool,
    failing: Arc<AtomicBool>,
    fut: Delivery,
    done: bool,
}

struct Lane {
    target: Target,
    open: Vec<u8>,
    open_lines: u32,
    first_at: Option<Instant>,
    mem: VecDeque<Batch>,
    mem_bytes: usize,
    inflight: Option<Inflight>,
    spool: Spool,
    pool: Vec<Vec<u8>>,
}

impl Lane {
    fn is_idle(&self) -> bool {
        self.open.is_empty() && self.mem.is_empty() && self.inflight.is_none() && self.spool.is_empty()
    }

    fn bytes(&self) -> usize {
        let inflight = self.inflight.as_ref().filter(|i| !i.spooled).map_or(0, |i| i.batch.body.len());
        self.mem_bytes + self.open.len() + inflight
    }
}

/// At shutdown, how long a target whose writes are failing keeps retrying before its batches
/// are spooled.
const FAILING_GRACE: Duration = Duration::from_secs(2);

/// The sink task: owns the encoder, the batches of both targets, the spool and the writer.
pub struct Buffer {
    cfg: InfluxConfig,
    encoder: LineEncoder,
    metrics: Arc<SinkMetrics>,
    dead: Arc<DeadLetters>,
    writer: Arc<Writer>,
}

impl std::fmt::Debug for Buffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Buffer").field("cfg", &self.cfg).finish_non_exhaustive()
    }
}

impl Buffer {
    /// Checks the config and prepares the encoder, the HTTP client and the dead-letter directory.
    pub fn new(cfg: InfluxConfig) -> Result<Self, SinkError> {
        cfg.validate()?;
        let encoder = LineEncoder::new(&cfg.schema)?;
        let metrics = Arc::new(SinkMetrics::default());
        let dead = Arc::new(DeadLetters::new(&cfg.dead_letter_dir)?);
        let writer = Arc::new(Writer::new(&cfg, metrics.clone(), dead.clone())?);
        Ok(Self { cfg, encoder, metrics, dead, writer })
    }

    /// The live counters, for another task to read while `run` goes on.
    pub fn metrics(&self) -> Arc<SinkMetrics> {
        self.metrics.clone()
    }

    /// Runs until `rx` is closed or `cancel` fires, then flushes: everything still in memory is
    /// written to the database, or to the spool if the database does not take it within
    /// `shutdown_timeout`. Batches spooled by an earlier run are delivered first.
    pub async fn run(
        mut self,
        mut rx: Receiver<DataPacket>,
        cancel: CancellationToken,
    ) -> Result<SinkStats, SinkError> {
        let mut lanes = Vec::with_capacity(2);
        for target in Target::ALL {
            let dir = self.cfg.spool_dir.join(target.as_str());
            let (spool, report) = Spool::open(&dir, target, &self.dead)?;
            if report.lines > 0 || report.corrupt > 0 {
                tracing::info!(
                    target = target.as_str(),
                    lines = report.lines,
                    corrupt = report.corrupt,
                    "spool from a previous run will be delivered first"
                );
            }
            SinkMetrics::add(&self.metrics.lines_replayed, report.lines);
            SinkMetrics::add(&self.metrics.spool_corrupt_records, report.corrupt);
            let open = Vec::with_capacity(self.cfg.batch_bytes.min(1 << 20));
            lanes.push(Lane {
                target,
                open,
                open_lines: 0,
                first_at: None,
                mem: VecDeque::new(),
                mem_bytes: 0,
                inflight: None,
                spool,
                pool: Vec::new(),
            });
        }
        // In the background: an unreachable server must not hold up reading input.
        let writer = self.writer.clone();
        tokio::spawn(async move {
            if let Err(e) = writer.create_databases().await {
                tracing::warn!(error = %e, "cannot create databases now; will retry on write");
            }
        });

        let mut input_done = false;
        let mut cancelled = false;
        let mut backpressure = false;
        let mut deadline: Option<Instant> = None;
        let mut grace: Option<Instant> = None;
        let mut escalated = false;
        let mut unflushed = 0u64;
        loop {
            for lane in lanes.iter_mut() {
                self.start_next(lane);
            }
            let over = self.enforce_memory(&mut lanes);
            if over != backpressure {
                backpressure = over;
                if over {
                    SinkMetrics::add(&self.metrics.overflow_backpressure, 1);
                    tracing::warn!("memory limit reached and spool unavailable: pausing input");
                }
            }
            if input_done {
                if lanes.iter().all(Lane::is_idle) {
                    break;
                }
                // A target whose writes are failing gets a short grace of retries (one transient
                // error must not leave data in the spool), then is spooled; every target is
                // spooled at the deadline, or at once when the caller cancels after the input
                // closed (it is out of time).
                let now = Instant::now();
                let expired = escalated || deadline.is_some_and(|d| now >= d);
                let grace_over = grace.is_some_and(|g| now >= g);
                for lane in lanes.iter_mut() {
                    let failing = lane.inflight.as_ref().is_some_and(|i| i.failing.load(Relaxed));
                    if expired || (failing && grace_over) {
                        unflushed += self.spill_all(lane);
                    }
                }
                if lanes.iter().all(|l| l.inflight.is_none() && l.mem.is_empty() && l.open.is_empty()) {
                    break;
                }
            }
            let linger_at = lanes.iter().filter_map(|l| l.first_at).min().map(|t| t + self.cfg.linger);
            tokio::select! {
                biased;
                () = cancel.cancelled(), if !cancelled => {
                    cancelled = true;
                    escalated = input_done;
                    // Keep what is already queued: close, then drain until recv gives None.
                    rx.close();
                }
                i = next_done(&mut lanes) => self.finish(&mut lanes[i]),
                () = sleep_until(linger_at) => {
                    let now = Instant::now();
                    for lane in lanes.iter_mut() {
                        if lane.first_at.is_some_and(|t| t + self.cfg.linger <= now) {
                            self.seal(lane);
                        }
                    }
                }
                () = sleep_until(if grace.is_some_and(|g| g > Instant::now()) { grace } else { deadline }), if input_done => {}
                msg = rx.recv(), if !input_done && (!backpressure || cancelled) => match msg {
                    Some(packet) => {
                        self.accept(&mut lanes, &packet);
                        for _ in 0..DRAIN {
                            let Ok(packet) = rx.try_recv() else { break };
                            self.accept(&mut lanes, &packet);
                        }
                    }
                    None => {
                        input_done = true;
                        deadline = Some(Instant::now() + self.cfg.shutdown_timeout);
                        grace = Some(Instant::now() + self.cfg.shutdown_timeout.min(FAILING_GRACE));
                        for lane in lanes.iter_mut() {
                            self.seal(lane);
                        }
                    }
                },
            }
        }
        let stats = self.metrics.snapshot();
        if unflushed > 0 {
            return Err(SinkError::Unflushed { lines: unflushed });
        }
        Ok(stats)
    }

    fn accept(&mut self, lanes: &mut [Lane], packet: &DataPacket) {
        let Some(target) = target_of(&packet.data) else {
            SinkMetrics::add(&self.metrics.packets_skipped, 1);
            return;
        };
        let lane = &mut lanes[target.index()];
        let bumps = self.encoder.bumps();
        match self.encoder.encode(packet, &mut lane.open) {
            Ok(Some(_)) => {
                SinkMetrics::add(&self.metrics.lines_buffered, 1);
                lane.open_lines += 1;
                if lane.first_at.is_none() {
                    lane.first_at = Some(Instant::now());
                }
                if lane.open_lines as usize >= self.cfg.batch_lines || lane.open.len() >= self.cfg.batch_bytes
                {
                    self.seal(lane);
                }
            }
            Ok(None) => SinkMetrics::add(&self.metrics.packets_skipped, 1),
            Err(e) => self.reject(target, packet, &e),
        }
        SinkMetrics::add(&self.metrics.timestamp_bumps, self.encoder.bumps() - bumps);
    }

    /// An unencodable packet goes to the dead-letter directory as JSON with the reason.
    fn reject(&self, target: Target, packet: &DataPacket, e: &SinkError) {
        SinkMetrics::add(&self.metrics.packets_rejected, 1);
        SinkMetrics::add(&self.metrics.lines_dead_lettered, 1);
        let json = serde_json::to_vec(packet).unwrap_or_else(|_| format!("{packet:?}").into_bytes());
        match self.dead.write(target.as_str(), "rejected", &e.to_string(), &json, "json") {
            Ok(path) => {
                tracing::error!(error = %e, path = %path.display(), "packet cannot be encoded; set aside")
            }
            Err(w) => {
                tracing::error!(error = %e, write_error = %w, packet = ?packet, "packet cannot be encoded")
            }
        }
    }

    fn seal(&self, lane: &mut Lane) {
        if lane.open_lines == 0 {
            return;
        }
        let fresh = lane.pool.pop().unwrap_or_else(|| Vec::with_capacity(lane.open.capacity()));
        let body = Bytes::from(std::mem::replace(&mut lane.open, fresh));
        lane.mem_bytes += body.len();
        lane.mem.push_back(Batch { target: lane.target, lines: lane.open_lines, body });
        lane.open_lines = 0;
        lane.first_at = None;
    }

    /// Starts sending the oldest waiting batch when nothing is in flight.
    fn start_next(&self, lane: &mut Lane) {
        while lane.inflight.is_none() {
            let (batch, spooled) = if let Some(rec) = lane.spool.front() {
                match lane.spool.read(rec) {
                    Ok(batch) => (batch, true),
                    Err(e) => {
                        tracing::error!(error = %e, lines = rec.lines, "unreadable spool record skipped");
                        SinkMetrics::add(&self.metrics.spool_corrupt_records, 1);
                        if let Err(e) = lane.spool.ack_front() {
                            tracing::error!(error = %e, "spool ack failed");
                        }
                        continue;
                    }
                }
            } else if let Some(batch) = lane.mem.pop_front() {
                lane.mem_bytes -= batch.body.len();
                (batch, false)
            } else {
                return;
            };
            let failing = Arc::new(AtomicBool::new(false));
            let fut = Box::pin(self.writer.clone().deliver(batch.clone(), failing.clone()));
            lane.inflight = Some(Inflight { batch, spooled, failing, fut, done: false });
        }
    }

    /// A delivery finished: every line is in the database or a dead-letter file.
    fn finish(&self, lane: &mut Lane) {
        let Some(inflight) = lane.inflight.take() else {
            return;
        };
        if inflight.spooled {
            if let Err(e) = lane.spool.ack_front() {
                tracing::error!(error = %e, "spool ack failed; the batch may be sent again (harmless)");
            }
        }
        drop(inflight.fut);
        if lane.pool.len() < 2 {
            let mut buf = Vec::from(inflight.batch.body);
            buf.clear();
            lane.pool.push(buf);
        }
    }

    /// Applies the overflow policy; true when input must pause.
    fn enforce_memory(&self, lanes: &mut [Lane]) -> bool {
        let limit = self.cfg.memory_limit_bytes;
        let total = |lanes: &[Lane]| lanes.iter().map(Lane::bytes).sum::<usize>();
        if total(lanes) <= limit {
            return false;
        }
        if self.cfg.overflow == OverflowPolicy::Backpressure {
            return true;
        }
        SinkMetrics::add(&self.metrics.overflow_spills, 1);
        while total(lanes) > limit {
            let spillable = |l: &Lane| l.inflight.as_ref().is_some_and(|i| !i.spooled) || !l.mem.is_empty();
            if !lanes.iter().any(spillable) {
                // Only open batches are left: seal them so that they can move too.
                if !lanes.iter().any(|l| l.open_lines > 0) {
                    return true;
                }
                for lane in lanes.iter_mut() {
                    self.seal(lane);
                }
            }
            let Some(lane) = lanes.iter_mut().filter(|l| spillable(l)).max_by_key(|l| l.bytes()) else {
                return true;
            };
            if lane.spool.bytes() >= self.cfg.spool_limit_bytes || self.spill_one(lane).is_err() {
                return true;
            }
        }
        false
    }

    /// Moves the oldest in-memory batch of a lane to the spool tail (the in-flight one first).
    fn spill_one(&self, lane: &mut Lane) -> Result<(), SinkError> {
        if let Some(inflight) = lane.inflight.as_mut().filter(|i| !i.spooled) {
            self.spool_append(&mut lane.spool, &inflight.batch)?;
            inflight.spooled = true;
            return Ok(());
        }
        if let Some(batch) = lane.mem.front() {
            self.spool_append(&mut lane.spool, batch)?;
            lane.mem_bytes -= batch.body.len();
            lane.mem.pop_front();
        }
        Ok(())
    }

    fn spool_append(&self, spool: &mut Spool, batch: &Batch) -> Result<(), SinkError> {
        match spool.append(batch) {
            Ok(()) => {
                SinkMetrics::add(&self.metrics.lines_spooled, u64::from(batch.lines));
                Ok(())
            }
            Err(e) => {
                tracing::error!(error = %e, "spool append failed");
                Err(e)
            }
        }
    }

    /// Shutdown: the in-flight batch and everything in memory go to the spool. Returns lines lost.
    fn spill_all(&self, lane: &mut Lane) -> u64 {
        self.seal(lane);
        let mut lost = 0;
        if let Some(inflight) = lane.inflight.take() {
            if !inflight.spooled && self.spool_append(&mut lane.spool, &inflight.batch).is_err() {
                lost += u64::from(inflight.batch.lines);
            }
        }
        while let Some(batch) = lane.mem.pop_front() {
            lane.mem_bytes -= batch.body.len();
            if self.spool_append(&mut lane.spool, &batch).is_err() {
                lost += u64::from(batch.lines);
            }
        }
        if lost > 0 {
            tracing::error!(
                target = lane.target.as_str(),
                lost,
                "lines neither written nor spooled at shutdown"
            );
        }
        lost
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Resolves with the index of a lane whose delivery finished.
async fn next_done(lanes: &mut [Lane]) -> usize {
    std::future::poll_fn(|cx| {
        for (i, lane) in lanes.iter_mut().enumerate() {
            if let Some(inflight) = lane.inflight.as_mut() {
                if inflight.done || inflight.fut.as_mut().poll(cx).is_ready() {
                    inflight.done = true;
                    return Poll::Ready(i);
                }
            }
        }
        Poll::Pending
    })
    .await
}
