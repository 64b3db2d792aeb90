//! Writing and reading back: every kind, exact clocks and ids; many blocks and files; two
//! venues merged by time.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use md_capture::{CaptureItem, ReadOptions, FORMAT_VERSION};
use md_core::{ExchangeId, RawTap};

#[test]
fn every_raw_kind_round_trips_with_both_clocks_and_ids_exact() {
    let dir = tempfile::tempdir().unwrap();
    let events: Vec<_> = every_kind()
        .into_iter()
        .enumerate()
        .map(|(i, kind)| {
            let i = i as u64;
            // Slots and conns past one varint byte, clocks with nanoseconds, mono unrelated.
            event(
                ExchangeId::Binance,
                i * 1000,
                u64::MAX - i,
                T0 + i as i64 * 1_234_567 + 1,
                u64::MAX / 3 + i,
                kind,
            )
        })
        .collect();
    let writer = write_all(config(dir.path()), ExchangeId::Binance, &events);
    let stats = writer.metrics().snapshot();
    let n = events.len() as u64;
    assert_eq!((stats.records_received, stats.records_flushed, stats.records_dropped), (n, n, 0));
    let back = read_back(dir.path(), ReadOptions::default());
    assert!(back.errors.is_empty(), "{:?}", back.errors);
    assert_eq!(descriptions(&back.events), descriptions(&events));
    assert_eq!(back.headers.len(), 1);
    let (file, header) = &back.headers[0];
    assert_eq!(file.parent().unwrap(), dir.path().join("binance"));
    assert_eq!(header.exchange, ExchangeId::Binance);
    assert_eq!(header.format_version, FORMAT_VERSION);
    assert_eq!(header.md_version, "0.1.0-test");
    assert_eq!(header.config, r#"{"symbols":["BTC-USDT"]}"#);
    assert!(header.started_ns > T0);
    // The first file is named at its first record's time.
    assert_eq!(file.file_name().unwrap(), "binance-20240102T030000Z-0000.mdcap");
    assert!(file.with_extension("mdidx").exists());
}

#[test]
fn frames_read_back_share_one_block_buffer() {
    let dir = tempfile::tempdir().unwrap();
    let events: Vec<_> = (0..3).map(|i| frame_event(ExchangeId::Bybit, i, T0 + i as i64)).collect();
    write_all(config(dir.path()), ExchangeId::Bybit, &events);
    let back = read_back(&dir.path().join("bybit"), ReadOptions::default());
    let frames: Vec<&[u8]> = back
        .events
        .iter()
        .map(|e| match &e.kind {
            md_core::RawKind::Received(md_core::WsMessage::Text(b)) => &b[..],
            other => panic!("{other:?}"),
        })
        .collect();
    // Adjacent in memory: slices of the one inflated block, not copies.
    let gap = frames[1].as_ptr() as usize - (frames[0].as_ptr() as usize + frames[0].len());
    assert!(gap < 64, "frames {gap} bytes apart");
}

#[test]
fn many_records_across_blocks_and_files_come_back_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.block_bytes = 16 << 10;
    cfg.rotate_bytes = 64 << 10;
    let events: Vec<_> =
        (0..5000).map(|i| frame_event(ExchangeId::Binance, i, T0 + i as i64 * 1_000_000)).collect();
    let writer = write_all(cfg, ExchangeId::Binance, &events);
    let stats = writer.metrics().snapshot();
    assert_eq!(stats.records_flushed, 5000);
    assert!(stats.blocks_written > 50, "{stats:?}");
    assert!(stats.files_opened > 3, "{stats:?}");
    let files = capture_files(&dir.path().join("binance"));
    assert_eq!(files.len() as u64, stats.files_opened);
    for f in &files {
        assert!(std::fs::metadata(f).unwrap().len() <= 64 << 10, "{f:?} over rotate_bytes");
    }
    let back = read_back(dir.path(), ReadOptions::default());
    assert!(back.errors.is_empty(), "{:?}", back.errors);
    assert_eq!(back.headers.len(), files.len());
    assert_eq!(descriptions(&back.events), descriptions(&events));
    // Reading one file gives exactly that file's events.
    let one = read_back(&files[1], ReadOptions::default());
    assert!(one.errors.is_empty() && !one.events.is_empty());
    assert!(one.events.iter().all(|e| e.exchange == ExchangeId::Binance));
}

#[test]
fn two_venues_merge_by_local_ts_and_each_stays_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let a: Vec<_> = (0..300).map(|i| frame_event(ExchangeId::Binance, i, T0 + i as i64 * 10)).collect();
    let b: Vec<_> = (0..300).map(|i| frame_event(ExchangeId::Bybit, i, T0 + 5 + i as i64 * 7)).collect();
    let mut cfg = config(dir.path());
    cfg.block_bytes = 8 << 10;
    let wa = md_capture::CaptureWriter::start(cfg.clone(), header(ExchangeId::Binance)).unwrap();
    let wb = md_capture::CaptureWriter::start(cfg, header(ExchangeId::Bybit)).unwrap();
    for (x, y) in a.iter().zip(&b) {
        wa.record(x.clone());
        wb.record(y.clone());
    }
    wa.finish().unwrap();
    wb.finish().unwrap();
    let items: Vec<_> =
        md_capture::read(dir.path(), ReadOptions::default()).unwrap().map(Result::unwrap).collect();
    let headers = items.iter().filter(|i| matches!(i, CaptureItem::Header { .. })).count();
    assert_eq!(headers, 2);
    let events: Vec<_> = items
        .into_iter()
        .filter_map(|i| match i {
            CaptureItem::Event(e) => Some(e),
            CaptureItem::Header { .. } => None,
        })
        .collect();
    assert_eq!(events.len(), 600);
    assert!(events.windows(2).all(|w| w[0].local_ts <= w[1].local_ts), "merged by time");
    let only = |x: ExchangeId| events.iter().filter(move |e| e.exchange == x).cloned().collect::<Vec<_>>();
    assert_eq!(descriptions(&only(ExchangeId::Binance)), descriptions(&a));
    assert_eq!(descriptions(&only(ExchangeId::Bybit)), descriptions(&b));
    // Asking for one venue reads only its directory.
    let opts = ReadOptions { exchanges: Some(vec![ExchangeId::Bybit]), ..ReadOptions::default() };
    let back = read_back(dir.path(), opts);
    assert!(back.errors.is_empty());
    assert_eq!(descriptions(&back.events), descriptions(&b));
}

#[test]
fn a_missing_or_empty_capture_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let err = md_capture::read(dir.path(), ReadOptions::default()).unwrap_err();
    assert!(err.to_string().contains("no capture files"), "{err}");
    let err = md_capture::read(&dir.path().join("nope"), ReadOptions::default()).unwrap_err();
    assert!(err.to_string().contains("nope"), "{err}");
    write_all(config(dir.path()), ExchangeId::Binance, &[frame_event(ExchangeId::Binance, 0, T0)]);
    let opts = ReadOptions { exchanges: Some(vec![ExchangeId::Huobi]), ..ReadOptions::default() };
    let err = md_capture::read(dir.path(), opts).unwrap_err();
    assert!(err.to_string().contains("for huobi"), "{err}");
}

#[test]
fn events_of_another_venue_are_dropped_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let events = [frame_event(ExchangeId::Binance, 0, T0), frame_event(ExchangeId::Bybit, 1, T0 + 1)];
    let writer = write_all(config(dir.path()), ExchangeId::Binance, &events);
    let stats = writer.metrics().snapshot();
    assert_eq!((stats.records_flushed, stats.records_dropped), (1, 1));
    assert_eq!(read_back(dir.path(), ReadOptions::default()).events.len(), 1);
}
