//! [`SinkCore`]: the run loop shared by every batching sink, split along its events: a batch
//! of input, a linger timer, a finished delivery, the input's end, a cancel.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use md_core::DataPacket;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::deadletter::DeadLetters;
use super::deliver::Deliverer;
use super::lane::{next_done, Lane};
use super::spool::Spool;
use super::{CoreConfig, Delivery, Encoder, MemoryOverflow, Route};
use crate::batch::Batch;
use crate::fanout::Subscription;
use crate::sink::{BoxError, Sink, SinkError, SinkMetrics, SinkStats};

/// Packets taken from the input per wake-up (after the first batch) before timers and
/// finished deliveries are looked at again.
const DRAIN: usize = 1024;

/// At shutdown, how long a lane whose deliveries are failing keeps retrying before its
/// batches are spooled (one transient error must not leave data in the spool). Lanes without
/// a spool keep trying until `shutdown_timeout`: for them, giving up means losing.
const FAILING_GRACE: Duration = Duration::from_secs(2);

/// A batching sink: an [`Encoder`] and a [`Delivery`] with lanes, flush triggers, retries,
/// memory bound, spool and dead letters around them (see the [module](super) docs).
pub struct SinkCore<E: Encoder, D: Delivery> {
    name: String,
    encoder: E,
    deliverer: Arc<Deliverer<D>>,
    config: CoreConfig,
    metrics: Arc<SinkMetrics>,
}

impl<E: Encoder, D: Delivery> std::fmt::Debug for SinkCore<E, D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SinkCore")
            .field("name", &self.name)
            .field("lanes", &self.deliverer.lanes)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// A lane name is a directory and file-name part: keep it to letters, digits, `-` and `_`.
fn check_lanes(lanes: &[String]) -> Result<(), String> {
    if lanes.is_empty() || lanes.len() > usize::from(u8::MAX) + 1 {
        return Err(format!("a delivery needs 1 to 256 lanes, not {}", lanes.len()));
    }
    for name in lanes {
        let plain = name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if name.is_empty() || !plain {
            return Err(format!("lane name {name:?} must be letters, digits, '-' or '_'"));
        }
    }
    Ok(())
}

impl<E: Encoder, D: Delivery> SinkCore<E, D> {
    /// Checks the config and the lanes and creates the dead-letter directory. Spools are
    /// opened (and what earlier runs left in them indexed) when `run` starts.
    pub fn new(
        name: impl Into<String>,
        encoder: E,
        delivery: D,
        config: CoreConfig,
    ) -> Result<Self, SinkError> {
        let failed = |msg: String| SinkError::Failed(BoxError::from(msg));
        config.validate().map_err(failed)?;
        check_lanes(&delivery.lanes()).map_err(failed)?;
        let dead = DeadLetters::new(&config.dead_letter_dir).map_err(|e| SinkError::Failed(Box::new(e)))?;
        let metrics = Arc::new(SinkMetrics::default());
        let deliverer = Arc::new(Deliverer::new(delivery, config.retry.clone(), Arc::clone(&metrics), dead));
        Ok(Self { name: name.into(), encoder, deliverer, config, metrics })
    }

    /// The live counters and state, for another task to read while `run` goes on.
    pub fn metrics(&self) -> Arc<SinkMetrics> {
        Arc::clone(&self.metrics)
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Consumes `input` until it ends or `cancel` fires, then flushes: everything still in
    /// memory is delivered, or spooled if the target does not take it within
    /// `shutdown_timeout` (a lane that is failing gets a short grace first); a cancel after
    /// the input ended spools at once. Batches spooled by an earlier run are delivered first.
    /// Records that could be neither delivered nor spooled make it return
    /// [`SinkError::Lost`].
    pub async fn run(self, input: Subscription, cancel: CancellationToken) -> Result<SinkStats, SinkError> {
        let mut run = Run::start(self, input)?;
        run.event_loop(&cancel).await;
        run.finish().await
    }
}

#[async_trait]
impl<E: Encoder, D: Delivery> Sink for SinkCore<E, D> {
    fn name(&self) -> &str {
        &self.name
    }

    fn metrics(&self) -> Arc<SinkMetrics> {
        Arc::clone(&self.metrics)
    }

    async fn run(
        self: Box<Self>,
        input: Subscription,
        cancel: CancellationToken,
    ) -> Result<SinkStats, SinkError> {
        SinkCore::run(*self, input, cancel).await
    }
}

/// The input ended (or was cut by a cancel): what is left is being flushed.
#[derive(Debug, Clone, Copy)]
struct Ending {
    /// Everything still in memory is spooled at this point.
    deadline: Instant,
    /// Failing lanes with a spool are spooled at this point.
    grace: Instant,
    /// A cancel came after the input ended: the caller is out of time, spool at once.
    out_of_time: bool,
}

enum Event {
    Cancel,
    Delivered(usize),
    Linger,
    Input(Option<Batch>),
    Wake,
}

/// One run of a sink core.
struct Run<E: Encoder, D: Delivery> {
    name: String,
    encoder: E,
    deliverer: Arc<Deliverer<D>>,
    config: CoreConfig,
    metrics: Arc<SinkMetrics>,
    lanes: Vec<Lane>,
    /// `None` once the input ended (or was given up at a cancel).
    input: Option<Subscription>,
    ending: Option<Ending>,
    cancelled: bool,
    /// Input is not read: memory (and spool) are full.
    paused: bool,
    lost: u64,
}

impl<E: Encoder, D: Delivery> Run<E, D> {
    /// Opens every lane's spool and starts the target's preparation in the background.
    fn start(core: SinkCore<E, D>, input: Subscription) -> Result<Self, SinkError> {
        let SinkCore { name, encoder, deliverer, config, metrics } = core;
        let mut lanes = Vec::with_capacity(deliverer.lanes.len());
        for (index, lane) in deliverer.lanes.iter().enumerate() {
            let spool = match &config.spool_dir {
                Some(dir) => Some(open_spool(&dir.join(lane), index, lane, &deliverer.dead, &metrics)?),
                None => None,
            };
            lanes.push(Lane::new(index, lane.clone(), spool, config.batch_bytes));
        }
        // In the background: an unreachable target must not hold up reading input.
        let prepare = Arc::clone(&deliverer);
        let sink = name.clone();
        tokio::spawn(async move {
            if let Err(e) = prepare.delivery.prepare().await {
                tracing::warn!(sink, error = %e, "cannot prepare the target now; deliveries will retry");
            }
        });
        Ok(Self {
            name,
            encoder,
            deliverer,
            config,
            metrics,
            lanes,
            input: Some(input),
            ending: None,
            cancelled: false,
            paused: false,
            lost: 0,
        })
    }

    async fn event_loop(&mut self, cancel: &CancellationToken) {
        loop {
            // Memory first: it may seal batches, which must then start at once.
            self.enforce_memory();
            for lane in &mut self.lanes {
                lane.start_next(&self.deliverer, &self.metrics);
            }
            if self.ending.is_some() && self.flush_step() {
                break;
            }
            self.publish_gauges();
            let event = self.next_event(cancel).await;
            match event {
                Event::Cancel => self.on_cancel(),
                Event::Delivered(i) => self.lanes[i].on_delivered(),
                Event::Linger => self.on_linger(),
                Event::Input(Some(batch)) => self.on_batch(&batch),
                Event::Input(None) => self.on_input_end(),
                Event::Wake => {}
            }
        }
        self.publish_gauges();
    }

    async fn next_event(&mut self, cancel: &CancellationToken) -> Event {
        let linger = self.config.linger;
        let linger_at = self.lanes.iter().filter_map(Lane::first_at).min().map(|t| t + linger);
        let wake_at = self.ending.map(|e| if e.grace > Instant::now() { e.grace } else { e.deadline });
        let reading = self.ending.is_none() && !self.paused;
        let cancelled = self.cancelled;
        let (lanes, input) = (&mut self.lanes, &mut self.input);
        tokio::select! {
            biased;
            () = cancel.cancelled(), if !cancelled => Event::Cancel,
            i = next_done(lanes) => Event::Delivered(i),
            () = sleep_until(linger_at) => Event::Linger,
            () = sleep_until(wake_at) => Event::Wake,
            batch = recv(input), if reading => Event::Input(batch),
        }
    }

    /// A batch of input, and whatever else is queued now (up to [`DRAIN`] packets).
    fn on_batch(&mut self, batch: &Batch) {
        self.accept(batch);
        let mut taken = 0;
        while taken < DRAIN && !self.paused {
            let Some(more) = self.input.as_mut().and_then(Subscription::try_recv) else {
                break;
            };
            taken += more.len();
            self.accept(&more);
        }
    }

    fn accept(&mut self, batch: &Batch) {
        SinkMetrics::add(&self.metrics.packets_received, batch.len() as u64);
        let adjusted = self.encoder.adjustments();
        for packet in batch.iter() {
            self.accept_packet(packet);
        }
        SinkMetrics::add(&self.metrics.adjustments, self.encoder.adjustments().saturating_sub(adjusted));
    }

    fn accept_packet(&mut self, packet: &DataPacket) {
        let lane = match self.encoder.route(packet) {
            Route::Lane(lane) if lane < self.lanes.len() => lane,
            Route::Lane(lane) => {
                let e = BoxError::from(format!("the encoder chose lane {lane} of {}", self.lanes.len()));
                self.reject(0, packet, &e);
                return;
            }
            Route::Skip => return SinkMetrics::add(&self.metrics.packets_skipped, 1),
            Route::Unknown => return self.metrics.unknown_kind(&self.name, packet.data.kind_name()),
        };
        let (batch_records, batch_bytes) = (self.config.batch_records, self.config.batch_bytes);
        let target = &mut self.lanes[lane];
        let before = target.open_mut().len();
        match self.encoder.encode(packet, lane, target.open_mut()) {
            Ok(true) => {
                SinkMetrics::add(&self.metrics.records_encoded, 1);
                target.appended(batch_records, batch_bytes);
            }
            Ok(false) => {
                target.open_mut().truncate(before);
                SinkMetrics::add(&self.metrics.packets_skipped, 1);
            }
            Err(e) => {
                // The contract says the encoder leaves the batch as it was; make sure of it,
                // since a fragment would corrupt every record after it.
                target.open_mut().truncate(before);
                self.reject(lane, packet, &e);
            }
        }
    }

    /// An unencodable packet goes to the dead-letter directory as JSON with the reason.
    fn reject(&self, lane: usize, packet: &DataPacket, e: &BoxError) {
        SinkMetrics::add(&self.metrics.packets_rejected, 1);
        SinkMetrics::add(&self.metrics.records_dead_lettered, 1);
        let reason = e.to_string();
        let letter = serde_json::json!({ "sink": self.name, "reason": reason, "packet": packet });
        let json = serde_json::to_vec_pretty(&letter).unwrap_or_else(|_| format!("{packet:?}").into_bytes());
        let lane_name = &self.lanes[lane].name;
        match self.deliverer.dead.write(lane_name, "rejected", &[], &json, "json") {
            Ok(path) => tracing::error!(sink = %self.name, error = %e, path = %path.display(),
                "packet cannot be encoded; set aside"),
            Err(w) => tracing::error!(sink = %self.name, error = %e, write_error = %w, packet = ?packet,
                "packet cannot be encoded, and the dead-letter file failed; the packet is in this log line"),
        }
    }

    /// Seals every batch whose first record has waited `linger`.
    fn on_linger(&mut self) {
        let now = Instant::now();
        for lane in &mut self.lanes {
            if lane.first_at().is_some_and(|t| t + self.config.linger <= now) {
                lane.seal();
            }
        }
    }

    /// The caller wants the run to end. Before the input ended: take what is already queued
    /// and flush as at the input's end. After: the caller is out of time, spool at once.
    fn on_cancel(&mut self) {
        self.cancelled = true;
        if let Some(ending) = self.ending.as_mut() {
            ending.out_of_time = true;
            return;
        }
        // What is queued now was produced before the cancel; bounded by the queue's size, so
        // a publisher that keeps going cannot keep this loop busy.
        let mut budget = self.input.as_ref().map_or(0, |i| i.config().capacity);
        while budget > 0 {
            let Some(batch) = self.input.as_mut().and_then(Subscription::try_recv) else {
                break;
            };
            budget = budget.saturating_sub(batch.len().max(1));
            self.accept(&batch);
        }
        self.on_input_end();
    }

    /// Every publisher is gone (or a cancel cut the input): seal everything and start the
    /// shutdown clock.
    fn on_input_end(&mut self) {
        // Dropping the subscription tells publishers that nobody reads it any more.
        self.input = None;
        for lane in &mut self.lanes {
            lane.seal();
        }
        let now = Instant::now();
        let timeout = self.config.shutdown_timeout;
        self.ending = Some(Ending {
            deadline: now + timeout,
            grace: now + timeout.min(FAILING_GRACE),
            out_of_time: false,
        });
    }

    /// After the input ended: spools lanes whose time is up. True when the run is done.
    fn flush_step(&mut self) -> bool {
        let Some(ending) = self.ending else {
            return false;
        };
        if self.lanes.iter().all(Lane::is_idle) {
            return true;
        }
        let now = Instant::now();
        let expired = ending.out_of_time || now >= ending.deadline;
        let grace_over = now >= ending.grace;
        for lane in &mut self.lanes {
            let failing = self.deliverer.is_failing(lane.index);
            if lane.holds_memory() && (expired || (grace_over && failing && lane.has_spool())) {
                let lost = lane.spill_all(&self.metrics);
                self.lost += lost;
                SinkMetrics::add(&self.metrics.records_lost, lost);
            }
        }
        !self.lanes.iter().any(Lane::holds_memory)
    }

    /// Applies the memory limit: spill the oldest batches, or pause input.
    fn enforce_memory(&mut self) {
        let over = self.memory_bytes() > self.config.memory_limit_bytes;
        let paused = over && (self.config.overflow == MemoryOverflow::Backpressure || !self.spill_to_disk());
        if paused {
            // No input comes until memory frees up, so waiting for the linger would only stall
            // the deliveries: hand the open batches over now.
            for lane in &mut self.lanes {
                lane.seal();
            }
        }
        if paused != self.paused {
            self.paused = paused;
            if paused {
                SinkMetrics::add(&self.metrics.overflow_backpressure, 1);
                tracing::warn!(sink = %self.name, limit = self.config.memory_limit_bytes,
                    "memory limit reached and no spool can take more: pausing input");
            } else {
                tracing::info!(sink = %self.name, "below the memory limit again: reading input");
            }
        }
    }

    fn memory_bytes(&self) -> usize {
        self.lanes.iter().map(Lane::bytes).sum()
    }

    /// Moves the oldest batches to the spools until memory is below the limit; false when the
    /// spools cannot take enough (none, full or unwritable).
    fn spill_to_disk(&mut self) -> bool {
        SinkMetrics::add(&self.metrics.overflow_spills, 1);
        while self.memory_bytes() > self.config.memory_limit_bytes {
            if !self.lanes.iter().any(Lane::spillable) {
                // Only open batches are left: seal them so that they can move too.
                let sealable = self.lanes.iter().any(|l| l.has_open() && l.has_spool());
                if !sealable {
                    return false;
                }
                for lane in self.lanes.iter_mut().filter(|l| l.has_spool()) {
                    lane.seal();
                }
            }
            let Some(lane) = self.lanes.iter_mut().filter(|l| l.spillable()).max_by_key(|l| l.bytes()) else {
                return false;
            };
            if lane.spool_bytes() >= self.config.spool_limit_bytes || !lane.spill_one(&self.metrics) {
                return false;
            }
        }
        true
    }

    fn publish_gauges(&self) {
        let memory = self.lanes.iter().map(Lane::records_in_memory).sum();
        let disk = self.lanes.iter().map(Lane::records_on_disk).sum();
        self.metrics.records_in_memory.store(memory, std::sync::atomic::Ordering::Relaxed);
        self.metrics.records_on_disk.store(disk, std::sync::atomic::Ordering::Relaxed);
    }

    /// Lets the target finish (files: fsync), then reports.
    async fn finish(self) -> Result<SinkStats, SinkError> {
        let finished = self.deliverer.delivery.finish().await;
        if self.lost > 0 {
            return Err(SinkError::Lost { records: self.lost });
        }
        finished.map_err(SinkError::Failed)?;
        Ok(self.metrics.snapshot())
    }
}

fn open_spool(
    dir: &std::path::Path,
    index: usize,
    lane: &str,
    dead: &DeadLetters,
    metrics: &SinkMetrics,
) -> Result<Spool, SinkError> {
    let index = u8::try_from(index).map_err(|_| SinkError::Failed(BoxError::from("too many lanes")))?;
    let (spool, report) = Spool::open(dir, index, lane, dead).map_err(|e| SinkError::Failed(Box::new(e)))?;
    if report.records > 0 || report.corrupt > 0 {
        tracing::info!(
            lane,
            records = report.records,
            corrupt = report.corrupt,
            "spool from an earlier run will be delivered first"
        );
    }
    SinkMetrics::add(&metrics.records_replayed, report.records);
    SinkMetrics::add(&metrics.spool_corrupt_records, report.corrupt);
    Ok(spool)
}

async fn recv(input: &mut Option<Subscription>) -> Option<Batch> {
    match input {
        Some(input) => input.recv().await,
        None => std::future::pending().await,
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
