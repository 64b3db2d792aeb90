//! A measurement, not a check: bytes on disk per record and write throughput for 200k
//! Binance-like depth frames. `cargo test -p md-capture --test measure -- --ignored --nocapture`
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use md_capture::{CaptureItem, ReadOptions};
use md_core::{ExchangeId, RawTap};

#[test]
#[ignore = "a measurement: run with --ignored --nocapture"]
fn bytes_per_record_and_throughput_for_200k_depth_frames() {
    const N: u64 = 200_000;
    let dir = tempfile::tempdir().unwrap();
    let events: Vec<_> =
        (0..N).map(|i| frame_event(ExchangeId::Binance, i, T0 + i as i64 * 1_000_000)).collect();
    let frame_bytes: usize = (0..N).map(|i| depth_frame(i).len()).sum();
    let mut cfg = md_capture::CaptureConfig::new(dir.path());
    // Room for all of them: this measures the writer, not the overflow policy.
    cfg.queue_events = N as usize + 1;
    cfg.memory_bytes = 1 << 30;
    let writer = md_capture::CaptureWriter::start(cfg, header(ExchangeId::Binance)).unwrap();
    let start = Instant::now();
    for e in events {
        writer.record(e);
    }
    let queued = start.elapsed();
    let stats = writer.finish().unwrap();
    let took = start.elapsed();
    assert_eq!((stats.records_flushed, stats.records_dropped), (N, 0));
    let on_disk: u64 = std::fs::read_dir(dir.path().join("binance"))
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    let start = Instant::now();
    let read = md_capture::read(dir.path(), ReadOptions::default())
        .unwrap()
        .filter(|i| matches!(i, Ok(CaptureItem::Event(_))))
        .count();
    let read_took = start.elapsed();
    assert_eq!(read as u64, N);
    let per_s = |d: Duration| N as f64 / d.as_secs_f64();
    eprintln!(
        "{N} frames, {:.0} B/frame of JSON: {on_disk} B on disk = {:.1} B/record ({:.1}x smaller than the frames, \
         {:.1} B/record raw); {} blocks; record() x{N} {queued:?}; write {took:?} = {:.0} records/s; \
         read {read_took:?} = {:.0} records/s",
        frame_bytes as f64 / N as f64,
        on_disk as f64 / N as f64,
        frame_bytes as f64 / on_disk as f64,
        stats.bytes_raw as f64 / N as f64,
        stats.blocks_written,
        per_s(took),
        per_s(read_took),
    );
}
