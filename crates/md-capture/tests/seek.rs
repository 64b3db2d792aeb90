//! `from`/`to`: the index jumps to the blocks in range; without it (or with a wrong one) the
//! reader walks block headers and gives the same events.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;
use md_capture::ReadOptions;
use md_core::ExchangeId;

fn capture(dir: &std::path::Path) -> Vec<md_core::RawEvent> {
    let mut cfg = config(dir);
    cfg.block_bytes = 4 << 10;
    cfg.rotate_bytes = 32 << 10;
    cfg.flush_interval = Duration::from_secs(3600);
    // Two hours of events, 1 per 2 s: several files per hour, many blocks per file.
    let events: Vec<_> =
        (0..3600).map(|i| frame_event(ExchangeId::Binance, i, T0 + i as i64 * 2 * SEC)).collect();
    write_all(cfg, ExchangeId::Binance, &events);
    events
}

fn range(events: &[md_core::RawEvent], from: i64, to: i64) -> Vec<String> {
    descriptions(
        &events.iter().filter(|e| e.local_ts >= from && e.local_ts < to).cloned().collect::<Vec<_>>(),
    )
}

#[test]
fn from_and_to_give_exactly_the_events_in_range_with_or_without_the_index() {
    let dir = tempfile::tempdir().unwrap();
    let events = capture(dir.path());
    let venue = dir.path().join("binance");
    let files = capture_files(&venue);
    assert!(files.len() > 4);
    let windows = [
        (T0 + 1234 * SEC, T0 + 1300 * SEC),
        (T0 - HOUR, T0 + 10 * SEC),
        (T0 + HOUR - 3 * SEC, T0 + HOUR + 3 * SEC),
        (T0 + 7000 * SEC, T0 + 9 * HOUR),
        (T0 + 5 * HOUR, T0 + 6 * HOUR),
        (T0 + 2 * SEC, T0 + 2 * SEC + 1),
    ];
    let read = |from, to| {
        let back =
            read_back(dir.path(), ReadOptions { from: Some(from), to: Some(to), ..ReadOptions::default() });
        assert!(back.errors.is_empty(), "{:?}", back.errors);
        // A header only for a file that yields events, just before its first.
        assert!(back.headers.len() <= files.len());
        descriptions(&back.events)
    };
    for (from, to) in windows {
        assert_eq!(read(from, to), range(&events, from, to), "with index {from}..{to}");
    }
    let only_from = read_back(&venue, ReadOptions { from: Some(T0 + 7000 * SEC), ..ReadOptions::default() });
    assert_eq!(descriptions(&only_from.events), range(&events, T0 + 7000 * SEC, i64::MAX));
    assert!(!only_from.headers.is_empty() && only_from.headers.len() < files.len() / 2);
    // Without indexes, and with every index cut short or made wrong: the same events.
    for (i, f) in files.iter().enumerate() {
        let idx = f.with_extension("mdidx");
        match i % 3 {
            0 => std::fs::remove_file(&idx).unwrap(),
            1 => {
                let bytes = std::fs::read(&idx).unwrap();
                std::fs::write(&idx, &bytes[..bytes.len() / 2 + 5]).unwrap();
            }
            _ => {
                let mut bytes = std::fs::read(&idx).unwrap();
                // Wrong times in every entry after the first: jumps land where the index says,
                // the header there disagrees, and the reader walks.
                for e in bytes.chunks_exact_mut(32).skip(1) {
                    e[8..16].copy_from_slice(&(T0 + 9 * HOUR).to_le_bytes());
                    e[16..24].copy_from_slice(&(T0 + 9 * HOUR).to_le_bytes());
                }
                std::fs::write(&idx, &bytes).unwrap();
            }
        }
    }
    for (from, to) in windows {
        assert_eq!(read(from, to), range(&events, from, to), "without a good index {from}..{to}");
    }
}

#[test]
fn the_index_has_one_entry_per_block_matching_its_header() {
    let dir = tempfile::tempdir().unwrap();
    capture(dir.path());
    for f in capture_files(&dir.path().join("binance")) {
        let bytes = std::fs::read(&f).unwrap();
        let idx = md_capture::index::read_index(&f.with_extension("mdidx")).unwrap();
        let mut at = 0usize;
        let mut n = 0;
        while at < bytes.len() {
            let h = md_capture::block::BlockHeader::parse(bytes[at..at + 52].try_into().unwrap()).unwrap();
            assert_eq!(idx[n].offset, at as u64);
            assert!(idx[n].matches(&h));
            at += h.block_len() as usize;
            n += 1;
        }
        assert_eq!(n, idx.len());
    }
}

#[test]
fn the_index_jumps_over_blocks_out_of_range_without_reading_them() {
    let dir = tempfile::tempdir().unwrap();
    let events = capture(dir.path());
    let file = capture_files(&dir.path().join("binance")).remove(0);
    let idx = md_capture::index::read_index(&file.with_extension("mdidx")).unwrap();
    assert!(idx.len() > 4);
    // Damage the header of block 2; read only what is in the last block.
    let mut bytes = std::fs::read(&file).unwrap();
    bytes[idx[2].offset as usize + 8] ^= 0xff;
    std::fs::write(&file, &bytes).unwrap();
    let last = idx[idx.len() - 1];
    let opts = ReadOptions { from: Some(last.min_ts), to: Some(last.max_ts + 1), ..ReadOptions::default() };
    let back = read_back(&file, opts.clone());
    assert!(back.errors.is_empty(), "the index jumped over the damage: {:?}", back.errors);
    assert_eq!(descriptions(&back.events), range(&events, last.min_ts, last.max_ts + 1));
    // Without the index the walk meets the damage, reports it, and still finds the range.
    std::fs::remove_file(file.with_extension("mdidx")).unwrap();
    let back = read_back(&file, opts);
    assert!(
        matches!(back.errors[..], [md_capture::CaptureError::Damaged { offset, .. }] if offset == idx[2].offset),
        "{:?}",
        back.errors
    );
    assert_eq!(descriptions(&back.events), range(&events, last.min_ts, last.max_ts + 1));
}
