//! The replay benchmark: md-bench's frames written as a real capture (what the live tap would
//! record: listing, task, symbols, connect, every frame, every REST snapshot the books asked
//! for), then read back and replayed through the driver's connection core into a counting sink —
//! md-replay's path without the sinks. Reports messages per second on one core, and bytes on
//! disk per message.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use md_capture::{CaptureConfig, CaptureHeader, CaptureItem, CaptureWriter, ReadOptions};
use md_core::{BookSet, Channel, ConnId, ExchangeId, RawEvent, RawKind, RawTap, Symbols, WsMessage};
use md_driver::{ConnectionCore, DriverConfig, DriverMetrics, Effects, RecordedConfig, Replay};
use md_exchanges::{build, Endpoints};

use crate::frames::{self, Frame};
use crate::inprocess::{answer_requests, as_frame, Answer};

/// What one replay measurement found.
#[derive(Debug, Clone, Copy)]
pub struct ReplayRun {
    /// Frames replayed.
    pub frames: u64,
    /// Packets the replay produced.
    pub packets: u64,
    /// Wall time of read + replay.
    pub elapsed: Duration,
    /// Bytes of capture files on disk.
    pub bytes_on_disk: u64,
}

impl ReplayRun {
    /// Frames per second.
    pub fn rate(&self) -> f64 {
        self.frames as f64 / self.elapsed.as_secs_f64()
    }
}

/// Writes `messages` frames of `symbols` books as `venue`'s capture under `dir`, as the live
/// tap would have recorded them; the frames the books asked snapshots for are answered as the
/// venue would and recorded too.
///
/// # Panics
/// If md-exchanges does not build `venue` or the capture cannot be written.
pub fn write_capture(dir: &Path, venue: ExchangeId, symbols: usize, messages: usize) {
    let exchange: Arc<dyn md_core::Exchange> = Arc::from(build(venue, &Endpoints::default()).expect("venue"));
    let config = DriverConfig::default();
    let recorded = serde_json::to_string(&RecordedConfig::of(&config, None, None)).expect("json");
    let mut capture = CaptureConfig::new(dir);
    capture.queue_events = 1 << 20;
    capture.memory_bytes = 1 << 30;
    let writer =
        CaptureWriter::start(capture, CaptureHeader::new(venue, env!("CARGO_PKG_VERSION"), recorded))
            .expect("capture writer");
    let listing = frames::listing(venue, symbols);
    let url = exchange.ws_url(&[Channel::Book]);
    let mut core = ConnectionCore::new(
        Arc::clone(&exchange),
        Arc::new(config),
        &url,
        Arc::new(Symbols::new(listing.clone())),
        Arc::new(BookSet::new()),
        Arc::new(DriverMetrics::default()),
    );
    let mut ts = 1_800_000_000_000_000_000i64;
    let event = |slot: u64, conn: u64, ts: i64, kind: RawKind| RawEvent {
        exchange: venue,
        slot,
        conn: ConnId(conn),
        local_ts: ts,
        mono_ns: u64::try_from(ts).unwrap_or(0),
        kind,
    };
    writer.record(event(0, 0, ts, RawKind::Listing(Arc::new(Symbols::new(listing.clone())))));
    writer.record(event(1, 0, ts, RawKind::Task { url: url.clone() }));
    writer.record(event(1, 0, ts, RawKind::Symbols { added: listing.clone(), announced: false }));
    writer.record(event(1, 1, ts, RawKind::Connected { url }));
    let mut fx = Effects::default();
    core.add(&listing, false, ts, &mut fx);
    core.on_connected(ConnId(1), ts, &mut fx);
    let mut generator = frames::Generator::new(venue, symbols);
    let opening = std::mem::take(&mut generator.opening);
    for frame in &opening {
        writer.record(event(1, 1, ts, RawKind::Received(message(frame))));
        core.on_frame(as_frame(frame), ts, &mut fx);
        answer(venue, &writer, &mut core, &mut fx, ts, &event);
    }
    for i in 0..messages {
        ts += 1_000;
        let (_, frame) = generator.next_frame();
        writer.record(event(1, 1, ts, RawKind::Received(message(&frame))));
        core.on_frame(as_frame(&frame), ts, &mut fx);
        answer(venue, &writer, &mut core, &mut fx, ts, &event);
        fx.packets.clear();
        if i % 16_384 == 0 {
            // Let the writer keep up: its queue is bounded (and drops, never blocks, live).
            while writer.metrics().snapshot().records_received - writer.metrics().snapshot().records_flushed
                > 200_000
            {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }
    let stats = writer.finish().expect("capture finish");
    assert_eq!(stats.records_dropped, 0, "the benchmark capture dropped events");
}

/// Answers the requests a frame caused, recording each answer as the live tap would.
fn answer(
    venue: ExchangeId,
    writer: &CaptureWriter,
    core: &mut ConnectionCore,
    fx: &mut Effects,
    ts: i64,
    event: &impl Fn(u64, u64, i64, RawKind) -> RawEvent,
) {
    answer_requests(venue, core, fx, ts, |answer| {
        let kind = match answer {
            Answer::Rest(info, body) => {
                RawKind::Rest { symbol: info.symbol.clone(), url: String::new(), body: body.to_owned() }
            }
            Answer::Frame(frame) => RawKind::Received(message(frame)),
        };
        writer.record(event(1, 1, ts, kind));
    });
}

fn message(frame: &Frame) -> WsMessage {
    match frame {
        Frame::Text(t) => WsMessage::Text(Bytes::from(t.clone())),
        Frame::Binary(b) => WsMessage::Binary(Bytes::from(b.clone())),
    }
}

/// Reads the capture under `dir` and replays it through the driver's connection core into a
/// counting sink, on this thread.
///
/// # Panics
/// If the capture cannot be read.
pub fn replay_capture(dir: &Path) -> ReplayRun {
    let started = Instant::now();
    let reader = md_capture::read(dir, ReadOptions::default()).expect("capture");
    let mut replay: Option<Replay> = None;
    let (mut frames, mut packets) = (0u64, 0u64);
    let mut out = Vec::with_capacity(1024);
    for item in reader {
        match item.expect("capture item") {
            CaptureItem::Header { header, .. } => {
                if replay.is_none() {
                    let recorded: RecordedConfig = serde_json::from_str(&header.config).expect("config");
                    let exchange = build(header.exchange, &Endpoints::default()).expect("venue");
                    replay = Some(Replay::new(
                        Arc::from(exchange),
                        recorded.driver_config(),
                        Arc::new(BookSet::new()),
                    ));
                }
            }
            CaptureItem::Event(event) => {
                if matches!(event.kind, RawKind::Received(_)) {
                    frames += 1;
                }
                if let Some(replay) = &mut replay {
                    replay.apply(&event, &mut out);
                }
                packets += out.len() as u64;
                out.clear();
            }
        }
    }
    ReplayRun { frames, packets, elapsed: started.elapsed(), bytes_on_disk: dir_bytes(dir) }
}

/// Only reads the capture under `dir` (decompress, verify, decode every record): the reader's
/// share of a replay. Events per second.
///
/// # Panics
/// If the capture cannot be read.
pub fn read_only(dir: &Path) -> f64 {
    let started = Instant::now();
    let mut events = 0u64;
    for item in md_capture::read(dir, ReadOptions::default()).expect("capture") {
        if let CaptureItem::Event(_) = item.expect("capture item") {
            events += 1;
        }
    }
    events as f64 / started.elapsed().as_secs_f64()
}

/// Bytes of every file under `dir`.
pub fn dir_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .flatten()
        .map(|e| {
            let path = e.path();
            if path.is_dir() {
                dir_bytes(&path)
            } else {
                e.metadata().map_or(0, |m| m.len())
            }
        })
        .sum()
}
