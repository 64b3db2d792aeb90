//! The replay as a source of the spine: recorded events, read on a thread of their own, through
//! one [`md_driver::Replay`] per venue, published in batches like a live driver's.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use md_capture::foreign::ForeignReader;
use md_capture::{CaptureError, CaptureItem, ReadOptions};
use md_core::{BookSet, DataPacket, ExchangeId, RawEvent, Symbol, UnixNanos};
use md_driver::{DriverConfig, RecordedConfig, Replay, ReplayStats, SampleConfig};
use md_exchanges::{build, Endpoints};
use md_pipeline::{BoxError, Publisher, Source};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::replay::settings::{Input, Speed};

/// Events read ahead of the replay, per chunk: the reader thread stays a few chunks ahead.
const CHUNK: usize = 1024;

/// How far the replay got, for the progress line.
#[derive(Debug, Default)]
pub struct Progress {
    /// Events replayed.
    pub events: AtomicU64,
    /// The recorded time of the last event (ns since the epoch).
    pub reached: AtomicI64,
}

/// What the replay did, per venue, and what it could not read.
#[derive(Debug, Default)]
pub struct Summary {
    /// Per venue.
    pub venues: BTreeMap<ExchangeId, ReplayStats>,
    /// Problems reading the input (damaged blocks, bad lines), each naming file and offset.
    pub problems: Vec<String>,
    /// Torn tails (what a crash leaves at a file's end; the rest was read).
    pub torn_tails: u64,
}

/// One item off the reader thread.
enum Item {
    Header { exchange: ExchangeId, started_ns: UnixNanos, config: String, file: String },
    Event(RawEvent),
    Problem { text: String, torn: bool },
}

/// The replay source.
#[derive(Debug)]
pub struct ReplaySource {
    input: Input,
    exchanges: Option<Vec<ExchangeId>>,
    symbols: Option<Vec<Symbol>>,
    from: Option<UnixNanos>,
    to: Option<UnixNanos>,
    speed: Speed,
    progress: Arc<Progress>,
    summary: Arc<Mutex<Summary>>,
}

impl ReplaySource {
    /// A source replaying `input`; progress and the summary are shared with the caller.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        input: Input,
        exchanges: Option<Vec<ExchangeId>>,
        symbols: Option<Vec<Symbol>>,
        (from, to): (Option<UnixNanos>, Option<UnixNanos>),
        speed: Speed,
        progress: Arc<Progress>,
        summary: Arc<Mutex<Summary>>,
    ) -> Self {
        Self { input, exchanges, symbols, from, to, speed, progress, summary }
    }
}

#[async_trait]
impl Source for ReplaySource {
    fn name(&self) -> String {
        "replay".into()
    }

    async fn run(self: Box<Self>, out: Publisher, cancel: CancellationToken) -> Result<(), BoxError> {
        let (tx, mut rx) = mpsc::channel::<Vec<Item>>(4);
        let (input, exchanges, to) = (self.input.clone(), self.exchanges.clone(), self.to);
        let reader = std::thread::Builder::new()
            .name("md-replay-read".into())
            .spawn(move || read(input, exchanges, to, &tx))?;
        let mut venues = Venues::new(self.input.clone());
        let mut pace = Pace::new(self.speed);
        let mut batch: Vec<DataPacket> = Vec::with_capacity(CHUNK * 2);
        'chunks: while let Some(chunk) = tokio::select! {
            chunk = rx.recv() => chunk,
            () = cancel.cancelled() => None,
        } {
            for item in chunk {
                match item {
                    Item::Header { exchange, started_ns, config, file } => {
                        venues.header(exchange, started_ns, &config, &file, &self.summary)
                    }
                    Item::Problem { text, torn } => {
                        tracing::warn!("{text}");
                        let mut summary = lock(&self.summary);
                        if torn {
                            summary.torn_tails += 1;
                        } else {
                            summary.problems.push(text);
                        }
                    }
                    Item::Event(event) => {
                        if self.to.is_some_and(|to| event.local_ts > to) {
                            break 'chunks;
                        }
                        if let Some(wait) = pace.wait_for(event.local_ts) {
                            out.publish(std::mem::take(&mut batch)).await;
                            tokio::select! {
                                () = tokio::time::sleep(wait) => {}
                                () = cancel.cancelled() => break 'chunks,
                            }
                        }
                        let start = batch.len();
                        venues.apply(&event, &mut batch);
                        self.keep(&mut batch, start);
                        self.progress.events.fetch_add(1, Relaxed);
                        self.progress.reached.store(event.local_ts, Relaxed);
                    }
                }
            }
            if !batch.is_empty() {
                out.publish(std::mem::take(&mut batch)).await;
            }
        }
        if !batch.is_empty() {
            out.publish(batch).await;
        }
        drop(rx);
        let _ = reader.join();
        venues.finish(&self.summary);
        Ok(())
    }
}

impl ReplaySource {
    /// Drops, of the packets from `start` on, those outside the time range or the symbols asked.
    fn keep(&self, batch: &mut Vec<DataPacket>, start: usize) {
        if self.from.is_none() && self.symbols.is_none() {
            return;
        }
        let tail = batch.split_off(start);
        batch.extend(tail.into_iter().filter(|p| {
            self.from.is_none_or(|from| p.local_ts >= from)
                && self.symbols.as_ref().is_none_or(|s| s.contains(&p.symbol))
        }));
    }
}

fn lock(summary: &Mutex<Summary>) -> std::sync::MutexGuard<'_, Summary> {
    summary.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// One replay per venue and recording process: created from the first capture header of each
/// md-ingest run (a header with a new start time is a restarted process, which started from
/// nothing and perhaps with other settings, so the replay does too), or, for another tool's
/// capture, from md-ingest's defaults.
struct Venues {
    input: Input,
    books: Arc<BookSet>,
    replays: BTreeMap<ExchangeId, (UnixNanos, Replay)>,
    /// What the replays of earlier recording processes did.
    finished: BTreeMap<ExchangeId, ReplayStats>,
    /// Events of a venue whose capture header could not be read: nothing to replay them with.
    orphaned: BTreeMap<ExchangeId, u64>,
}

impl Venues {
    fn new(input: Input) -> Self {
        let (replays, finished, orphaned) = (BTreeMap::new(), BTreeMap::new(), BTreeMap::new());
        Self { input, books: Arc::new(BookSet::new()), replays, finished, orphaned }
    }

    fn header(
        &mut self,
        exchange: ExchangeId,
        started_ns: UnixNanos,
        config: &str,
        file: &str,
        summary: &Mutex<Summary>,
    ) {
        if self.replays.get(&exchange).is_some_and(|(started, _)| *started == started_ns) {
            return;
        }
        let recorded: RecordedConfig = match serde_json::from_str(config) {
            Ok(recorded) => recorded,
            Err(e) => {
                let text = format!(
                    "{file}: the header's venue config is not md's ({e}); using md-ingest's defaults"
                );
                tracing::warn!("{text}");
                lock(summary).problems.push(text);
                RecordedConfig::of(&default_config(), None, None)
            }
        };
        let endpoints = Endpoints { ws_url: recorded.ws_url.clone(), rest_url: recorded.rest_url.clone() };
        self.start(exchange, started_ns, &endpoints, recorded.driver_config());
    }

    fn start(
        &mut self,
        exchange: ExchangeId,
        started_ns: UnixNanos,
        endpoints: &Endpoints,
        config: DriverConfig,
    ) {
        let Some(venue) = build(exchange, endpoints) else { return };
        let replay = Replay::new(Arc::from(venue), config, Arc::clone(&self.books));
        if let Some((_, earlier)) = self.replays.insert(exchange, (started_ns, replay)) {
            add_stats(self.finished.entry(exchange).or_default(), &earlier.stats());
        }
    }

    fn apply(&mut self, event: &RawEvent, out: &mut Vec<DataPacket>) {
        if !self.replays.contains_key(&event.exchange) && !matches!(self.input, Input::Capture(_)) {
            // Another tool's capture has no header: md-ingest's defaults.
            self.start(event.exchange, 0, &Endpoints::default(), default_config());
        }
        match self.replays.get_mut(&event.exchange) {
            Some((_, replay)) => replay.apply(event, out),
            None => *self.orphaned.entry(event.exchange).or_default() += 1,
        }
    }

    /// Every venue's totals; events that had no replay are reported as a problem.
    fn finish(self, summary: &Mutex<Summary>) {
        let mut summary = lock(summary);
        let mut venues = self.finished;
        for (id, (_, replay)) in &self.replays {
            add_stats(venues.entry(*id).or_default(), &replay.stats());
        }
        for (id, events) in self.orphaned {
            let text = format!("{id}: {events} events skipped: no readable capture header before them");
            tracing::warn!("{text}");
            summary.problems.push(text);
            venues.entry(id).or_default().skipped += events;
        }
        summary.venues = venues;
    }
}

fn add_stats(total: &mut ReplayStats, more: &ReplayStats) {
    total.events += more.events;
    total.frames += more.frames;
    total.snapshots += more.snapshots;
    total.packets += more.packets;
    total.snapshots_unanswered += more.snapshots_unanswered;
    total.skipped += more.skipped;
}

/// md-ingest's defaults: both channels, a top-5 snapshot every second.
fn default_config() -> DriverConfig {
    DriverConfig {
        sample: Some(SampleConfig { interval: Duration::from_secs(1), depth: 5 }),
        ..DriverConfig::default()
    }
}

/// Paces events at N times their recorded spacing.
struct Pace {
    speed: Speed,
    start: Option<(tokio::time::Instant, UnixNanos)>,
}

impl Pace {
    fn new(speed: Speed) -> Self {
        Self { speed, start: None }
    }

    /// How long to wait before the event recorded at `ts`, if at all.
    fn wait_for(&mut self, ts: UnixNanos) -> Option<Duration> {
        let Speed::Times(factor) = self.speed else { return None };
        let (start, first) = *self.start.get_or_insert((tokio::time::Instant::now(), ts));
        let offset =
            Duration::from_nanos(u64::try_from(ts.saturating_sub(first)).unwrap_or(0)).div_f64(factor);
        let due = start + offset;
        let now = tokio::time::Instant::now();
        (due > now + Duration::from_millis(1)).then(|| due - now)
    }
}

/// The reader thread: the input's items, in chunks, until the end or the replay stops.
fn read(
    input: Input,
    exchanges: Option<Vec<ExchangeId>>,
    to: Option<UnixNanos>,
    tx: &mpsc::Sender<Vec<Item>>,
) {
    let mut chunk = Vec::with_capacity(CHUNK);
    let mut send = |item: Item, chunk: &mut Vec<Item>| -> bool {
        chunk.push(item);
        chunk.len() < CHUNK || tx.blocking_send(std::mem::replace(chunk, Vec::with_capacity(CHUNK))).is_ok()
    };
    match input {
        Input::Capture(path) => {
            let options = ReadOptions { exchanges, from: None, to };
            match md_capture::read(&path, options) {
                Ok(reader) => {
                    for item in reader {
                        let item = match item {
                            Ok(CaptureItem::Header { file, header }) => Item::Header {
                                exchange: header.exchange,
                                started_ns: header.started_ns,
                                config: header.config,
                                file: file.display().to_string(),
                            },
                            Ok(CaptureItem::Event(event)) => Item::Event(event),
                            Err(e) => problem(&e),
                        };
                        if !send(item, &mut chunk) {
                            return;
                        }
                    }
                }
                Err(e) => {
                    let _ = send(problem(&e), &mut chunk);
                }
            }
        }
        Input::Tardis { path, exchange } => {
            foreign(md_capture::foreign::read_tardis(&path, exchange), &mut chunk, &mut send)
        }
        Input::Cryptofeed(paths) => {
            foreign(md_capture::foreign::read_cryptofeed(&paths), &mut chunk, &mut send)
        }
    }
    if !chunk.is_empty() {
        let _ = tx.blocking_send(chunk);
    }
}

fn foreign(
    reader: Result<ForeignReader, md_capture::foreign::ForeignError>,
    chunk: &mut Vec<Item>,
    send: &mut impl FnMut(Item, &mut Vec<Item>) -> bool,
) {
    let reader = match reader {
        Ok(reader) => reader,
        Err(e) => {
            send(Item::Problem { text: e.to_string(), torn: false }, chunk);
            return;
        }
    };
    for item in reader {
        let item = match item {
            Ok(event) => Item::Event(event),
            Err(e) => Item::Problem { text: e.to_string(), torn: false },
        };
        if !send(item, chunk) {
            return;
        }
    }
}

fn problem(e: &CaptureError) -> Item {
    Item::Problem { text: e.to_string(), torn: matches!(e, CaptureError::TornTail { .. }) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn paced_replay_waits_the_recorded_gap_divided_by_the_factor() {
        let mut pace = Pace::new(Speed::Times(10.0));
        assert_eq!(pace.wait_for(1_000_000_000), None, "the first event sets the start");
        let wait = pace.wait_for(3_000_000_000).unwrap();
        assert_eq!(wait, Duration::from_millis(200), "2 s recorded at ×10");
        tokio::time::advance(Duration::from_millis(300)).await;
        assert_eq!(pace.wait_for(3_000_000_000), None, "already late: no wait");
        assert_eq!(Pace::new(Speed::Max).wait_for(5), None);
    }
}
