//! Where files split (the events' UTC hour, the size limit), how they are named (also after
//! a clock step back and a restart), and which old ones retention deletes.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;
use md_capture::{CaptureName, ReadOptions, Retention};
use md_core::ExchangeId;

fn names(dir: &std::path::Path) -> Vec<String> {
    capture_files(dir).iter().map(|p| p.file_name().unwrap().to_str().unwrap().to_owned()).collect()
}

#[test]
fn files_rotate_when_the_events_hour_changes_and_names_follow_write_order() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.flush_interval = Duration::from_secs(3600);
    let ts = [
        T0 + 10 * SEC,
        T0 + 3599 * SEC + 999_999_999,
        T0 + HOUR,
        T0 + HOUR + SEC,
        T0 + 2 * HOUR + 5 * SEC,
        T0 + 2 * HOUR + SEC, // back a little within the hour: same file
        T0 + 30 * 60 * SEC,  // back across hours (a clock step): a new file, named after the last
        T0 + 30 * 60 * SEC + 1,
    ];
    let events: Vec<_> =
        ts.iter().enumerate().map(|(i, t)| frame_event(ExchangeId::Binance, i as u64, *t)).collect();
    let writer = write_all(cfg, ExchangeId::Binance, &events);
    assert_eq!(writer.metrics().snapshot().files_opened, 4);
    let venue = dir.path().join("binance");
    assert_eq!(
        names(&venue),
        [
            "binance-20240102T030010Z-0000.mdcap",
            "binance-20240102T040000Z-0000.mdcap",
            "binance-20240102T050005Z-0000.mdcap",
            "binance-20240102T050005Z-0001.mdcap",
        ]
    );
    let per_file: Vec<usize> =
        capture_files(&venue).iter().map(|f| read_back(f, ReadOptions::default()).events.len()).collect();
    assert_eq!(per_file, [2, 2, 2, 2]);
    // Read in name order = write order, whatever the clock did.
    let back = read_back(dir.path(), ReadOptions::default());
    assert_eq!(descriptions(&back.events), descriptions(&events));
}

#[test]
fn files_rotate_by_size_and_stay_under_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.block_bytes = 8 << 10;
    cfg.rotate_bytes = 20 << 10;
    cfg.flush_interval = Duration::from_secs(3600);
    let events: Vec<_> = (0..2000).map(|i| frame_event(ExchangeId::Bybit, i, T0 + i as i64)).collect();
    let writer = write_all(cfg, ExchangeId::Bybit, &events);
    let venue = dir.path().join("bybit");
    let files = capture_files(&venue);
    assert_eq!(files.len() as u64, writer.metrics().snapshot().files_opened);
    assert!(files.len() >= 5, "{}", files.len());
    for (i, f) in files.iter().enumerate() {
        let len = std::fs::metadata(f).unwrap().len();
        assert!(len <= 20 << 10, "{f:?}: {len}");
        assert!(len > 8 << 10 || i == files.len() - 1, "{f:?}: {len} (rotated early)");
    }
    // All in the same second: the counter orders them.
    let seqs: Vec<u32> = files.iter().map(|f| CaptureName::from_path(f).unwrap().seq).collect();
    assert_eq!(seqs, (0..files.len() as u32).collect::<Vec<_>>());
    assert_eq!(descriptions(&read_back(dir.path(), ReadOptions::default()).events), descriptions(&events));
}

#[test]
fn a_restarted_writer_names_its_files_after_the_ones_there() {
    let dir = tempfile::tempdir().unwrap();
    let first: Vec<_> =
        (0..5).map(|i| frame_event(ExchangeId::Binance, i, T0 + 5 * SEC + i as i64)).collect();
    write_all(config(dir.path()), ExchangeId::Binance, &first);
    // Same second, and then a clock that went back: both sort after the first run's file.
    let second: Vec<_> =
        (5..10).map(|i| frame_event(ExchangeId::Binance, i, T0 + 5 * SEC + i as i64)).collect();
    write_all(config(dir.path()), ExchangeId::Binance, &second);
    let third: Vec<_> = (10..15).map(|i| frame_event(ExchangeId::Binance, i, T0 + i as i64)).collect();
    write_all(config(dir.path()), ExchangeId::Binance, &third);
    assert_eq!(
        names(&dir.path().join("binance")),
        [
            "binance-20240102T030005Z-0000.mdcap",
            "binance-20240102T030005Z-0001.mdcap",
            "binance-20240102T030005Z-0002.mdcap",
        ]
    );
    let all: Vec<_> = first.iter().chain(&second).chain(&third).cloned().collect();
    assert_eq!(descriptions(&read_back(dir.path(), ReadOptions::default()).events), descriptions(&all));
}

#[test]
fn retention_by_bytes_keeps_the_newest_files_under_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.block_bytes = 4 << 10;
    cfg.rotate_bytes = 16 << 10;
    cfg.flush_interval = Duration::from_secs(3600);
    cfg.retention = Retention { max_age: None, max_bytes: Some(50 << 10) };
    let events: Vec<_> = (0..3000).map(|i| frame_event(ExchangeId::Binance, i, T0 + i as i64)).collect();
    let writer = write_all(cfg, ExchangeId::Binance, &events);
    let stats = writer.metrics().snapshot();
    let venue = dir.path().join("binance");
    let files = capture_files(&venue);
    assert!(stats.files_deleted > 3, "{stats:?}");
    assert_eq!(stats.files_opened - stats.files_deleted, files.len() as u64);
    let total: u64 = std::fs::read_dir(&venue).unwrap().map(|e| e.unwrap().metadata().unwrap().len()).sum();
    // At the last rotation the others fit in the limit; the current file grew since.
    assert!(total <= (50 << 10) + (16 << 10) + 1024, "{total}");
    // No index is left without its file.
    let idx = std::fs::read_dir(&venue)
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().extension().unwrap() == "mdidx")
        .count();
    assert_eq!(idx, files.len());
    // What is left is the newest events, whole and in order.
    let back = read_back(dir.path(), ReadOptions::default());
    assert!(back.errors.is_empty());
    let kept = back.events.len();
    assert!(kept > 0 && kept < events.len());
    assert_eq!(descriptions(&back.events), descriptions(&events[events.len() - kept..]));
}

#[test]
fn retention_by_age_deletes_files_whose_records_are_all_older() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.flush_interval = Duration::from_secs(3600);
    cfg.retention = Retention { max_age: Some(Duration::from_secs(2 * 3600)), max_bytes: None };
    // One event every 30 minutes over five hours: files at 03:00, 04:00, ... 07:00.
    let events: Vec<_> =
        (0..10).map(|i| frame_event(ExchangeId::Binance, i, T0 + i as i64 * 1800 * SEC)).collect();
    let writer = write_all(cfg, ExchangeId::Binance, &events);
    assert_eq!(writer.metrics().snapshot().files_deleted, 2);
    assert_eq!(
        names(&dir.path().join("binance")),
        [
            "binance-20240102T050000Z-0000.mdcap",
            "binance-20240102T060000Z-0000.mdcap",
            "binance-20240102T070000Z-0000.mdcap",
        ]
    );
    assert_eq!(
        descriptions(&read_back(dir.path(), ReadOptions::default()).events),
        descriptions(&events[4..])
    );
}
