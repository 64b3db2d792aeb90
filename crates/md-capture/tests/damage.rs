//! Damaged captures: torn tails, corrupt blocks, random bytes, unknown versions, other
//! venues. Each is reported naming the file and offset, the rest is read, nothing panics.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;
use md_capture::block::{BlockHeader, HEADER_LEN};
use md_capture::{CaptureError, ReadOptions};
use md_core::{ExchangeId, RawEvent};

/// A capture of one file with many small blocks; its path, events, and each block's
/// (offset, record count), the header block first.
fn small_capture(dir: &Path, n: u64) -> (PathBuf, Vec<RawEvent>, Vec<(u64, u32)>) {
    let mut cfg = config(dir);
    cfg.block_bytes = 2 << 10;
    cfg.flush_interval = Duration::from_secs(3600);
    let events: Vec<_> = (0..n).map(|i| frame_event(ExchangeId::Binance, i, T0 + i as i64 * 1000)).collect();
    write_all(cfg, ExchangeId::Binance, &events);
    let files = capture_files(&dir.join("binance"));
    assert_eq!(files.len(), 1);
    let bytes = std::fs::read(&files[0]).unwrap();
    let blocks = blocks_of(&bytes);
    assert!(blocks.len() > 4, "{blocks:?}");
    (files[0].clone(), events, blocks)
}

fn blocks_of(bytes: &[u8]) -> Vec<(u64, u32)> {
    let mut blocks = Vec::new();
    let mut at = 0usize;
    while at < bytes.len() {
        let h = BlockHeader::parse(bytes[at..at + HEADER_LEN].try_into().unwrap()).unwrap();
        blocks.push((at as u64, h.records));
        at += h.block_len() as usize;
    }
    blocks
}

/// `events` without block `k`'s (block 0 is the header block, holding no event).
fn without_block(events: &[RawEvent], blocks: &[(u64, u32)], k: usize) -> Vec<RawEvent> {
    let start: u32 = blocks[1..k.max(1)].iter().map(|b| b.1).sum();
    let len = if k == 0 { 0 } else { blocks[k].1 };
    let mut out = events.to_vec();
    out.drain(start as usize..(start + len) as usize);
    out
}

/// Writes `bytes` as a capture file of the same name under a fresh venue directory.
fn variant(root: &Path, original: &Path, bytes: &[u8]) -> PathBuf {
    let dir = root.join("binance");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(original.file_name().unwrap());
    std::fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn every_truncation_reads_a_prefix_ending_at_a_block_boundary_plus_one_torn_tail() {
    let dir = tempfile::tempdir().unwrap();
    let (path, events, blocks) = small_capture(dir.path(), 30);
    let bytes = std::fs::read(&path).unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let mut whole_blocks_seen = 0;
    // Every length within the last block, and (to bound the time in a debug build) every
    // fifth before it plus both sides of every block boundary.
    let last = blocks[blocks.len() - 1].0 as usize;
    let lengths = (0..bytes.len()).filter(|len| {
        *len >= last || len % 5 == 0 || blocks.iter().any(|(off, _)| (*off as usize).abs_diff(*len) <= 1)
    });
    for len in lengths {
        let file = variant(scratch.path(), &path, &bytes[..len]);
        let back = read_back(&file, ReadOptions::default());
        // Whole blocks before the cut are all read, nothing after.
        let whole = blocks.iter().filter(|(off, _)| *off < len as u64).count();
        // An empty file (a crash right after it was created) is a torn tail at 0 too.
        let boundary = len > 0 && blocks.iter().any(|(off, _)| *off == len as u64);
        let kept: u32 =
            blocks.iter().take(if boundary { whole } else { whole.saturating_sub(1) }).map(|b| b.1).sum();
        let kept = kept.saturating_sub(1) as usize; // the header record is no event
        assert_eq!(descriptions(&back.events), descriptions(&events[..kept]), "cut at {len}");
        if boundary {
            assert!(back.errors.is_empty(), "cut at block boundary {len}: {:?}", back.errors);
            whole_blocks_seen += 1;
        } else {
            assert_eq!(back.errors.len(), 1, "cut at {len}: {:?}", back.errors);
            let start = blocks[whole.max(1) - 1].0;
            match &back.errors[0] {
                CaptureError::TornTail { file: f, offset } => {
                    assert_eq!((f, *offset), (&file, start), "cut at {len}")
                }
                other => panic!("cut at {len}: {other}"),
            }
            assert!(back.errors[0].to_string().contains(&format!("offset {start}")));
        }
    }
    assert_eq!(whole_blocks_seen, blocks.len() - 1);
}

#[test]
fn a_corrupt_block_in_the_middle_is_reported_at_its_offset_and_every_other_block_read() {
    let dir = tempfile::tempdir().unwrap();
    let (path, events, blocks) = small_capture(dir.path(), 60);
    let bytes = std::fs::read(&path).unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let k = blocks.len() / 2;
    let (offset, _) = blocks[k];
    // In the data (its checksum), then in the header (resync to the next magic).
    for at in [offset as usize + HEADER_LEN + 10, offset as usize + 13, offset as usize] {
        let mut bad = bytes.clone();
        bad[at] ^= 0x40;
        let file = variant(scratch.path(), &path, &bad);
        let back = read_back(&file, ReadOptions::default());
        assert_eq!(
            descriptions(&back.events),
            descriptions(&without_block(&events, &blocks, k)),
            "flip at {at}"
        );
        assert_eq!(back.errors.len(), 1, "{:?}", back.errors);
        match &back.errors[0] {
            CaptureError::Damaged { file: f, offset: o, .. } => assert_eq!((f, *o), (&file, offset)),
            other => panic!("{other}"),
        }
        assert_eq!(back.headers.len(), 1);
    }
    // Garbage between two blocks: skipped, reported where it starts.
    let (next, _) = blocks[k + 1];
    let mut spliced = bytes[..next as usize].to_vec();
    spliced.extend_from_slice(b"MDCB garbage that looks like a block at first");
    spliced.extend_from_slice(&bytes[next as usize..]);
    let file = variant(scratch.path(), &path, &spliced);
    let back = read_back(&file, ReadOptions::default());
    assert_eq!(descriptions(&back.events), descriptions(&events));
    assert!(
        matches!(back.errors[..], [CaptureError::Damaged { offset, .. }] if offset == next),
        "{:?}",
        back.errors
    );
}

#[test]
fn a_damaged_header_block_loses_the_header_not_the_events() {
    let dir = tempfile::tempdir().unwrap();
    let (path, events, blocks) = small_capture(dir.path(), 30);
    let mut bad = std::fs::read(&path).unwrap();
    bad[HEADER_LEN + 3] ^= 1;
    let scratch = tempfile::tempdir().unwrap();
    let file = variant(scratch.path(), &path, &bad);
    let back = read_back(&file, ReadOptions::default());
    assert_eq!(descriptions(&back.events), descriptions(&events));
    assert!(back.headers.is_empty());
    assert!(matches!(back.errors[..], [CaptureError::Damaged { offset: 0, .. }]), "{:?}", back.errors);
    assert!(blocks.len() > 2);
}

#[test]
fn random_bit_flips_never_panic_and_spare_every_other_block() {
    let dir = tempfile::tempdir().unwrap();
    let (path, events, blocks) = small_capture(dir.path(), 40);
    let bytes = std::fs::read(&path).unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let mut rng = Rng(0x5eed_1234_abcd_ef01);
    for round in 0..300 {
        let at = rng.below(bytes.len() as u64) as usize;
        let mut bad = bytes.clone();
        bad[at] ^= 1 << rng.below(8);
        let file = variant(scratch.path(), &path, &bad);
        let back = read_back(&file, ReadOptions::default());
        let k = blocks.iter().rposition(|(off, _)| *off as usize <= at).unwrap();
        assert_eq!(
            descriptions(&back.events),
            descriptions(&without_block(&events, &blocks, k)),
            "round {round}: flip at {at} (block {k})"
        );
        assert!(!back.errors.is_empty(), "round {round}: a flip at {at} went unnoticed");
    }
}

#[test]
fn random_bytes_and_spliced_garbage_never_panic() {
    let scratch = tempfile::tempdir().unwrap();
    let original = PathBuf::from("binance-20240102T030000Z-0000.mdcap");
    let mut rng = Rng(42);
    for round in 0..200 {
        let len = rng.below(4096) as usize;
        let mut bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        // Sprinkle magics (and whole plausible header starts) so the resync path runs.
        for _ in 0..rng.below(8) {
            if len > 60 {
                let at = rng.below(len as u64 - 60) as usize;
                bytes[at..at + 6].copy_from_slice(b"MDCB\x01\x00");
            }
        }
        let file = variant(scratch.path(), &original, &bytes);
        let back = read_back(&file, ReadOptions::default());
        assert!(back.events.is_empty(), "round {round}");
        assert!(!back.errors.is_empty(), "round {round}: {len} random bytes read as a capture");
    }
}

/// Sets block `at`'s version field to `version`, optionally fixing its checksum.
fn set_version(bytes: &mut [u8], at: usize, version: u16, fix_crc: bool) {
    bytes[at + 4..at + 6].copy_from_slice(&version.to_le_bytes());
    if fix_crc {
        let crc = crc32fast::hash(&bytes[at..at + 48]);
        bytes[at + 48..at + 52].copy_from_slice(&crc.to_le_bytes());
    }
}

#[test]
fn an_unknown_format_version_skips_the_file_and_the_next_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.rotate_bytes = 8 << 10;
    cfg.block_bytes = 2 << 10;
    let events: Vec<_> = (0..100).map(|i| frame_event(ExchangeId::Binance, i, T0 + i as i64)).collect();
    write_all(cfg, ExchangeId::Binance, &events);
    let files = capture_files(&dir.path().join("binance"));
    assert!(files.len() >= 3);
    let whole = read_back(dir.path(), ReadOptions::default()).events;
    let first_file = read_back(&files[0], ReadOptions::default()).events;
    // A header of version 2 laid out as ours (its checksum verifies).
    let mut bytes = std::fs::read(&files[0]).unwrap();
    set_version(&mut bytes, 0, 2, true);
    std::fs::write(&files[0], &bytes).unwrap();
    let back = read_back(dir.path(), ReadOptions::default());
    assert_eq!(back.errors.len(), 1, "{:?}", back.errors);
    match &back.errors[0] {
        CaptureError::UnknownVersion { file, version: 2, known: 1 } => assert_eq!(file, &files[0]),
        other => panic!("{other}"),
    }
    assert!(back.errors[0].to_string().contains("offset 0"));
    assert_eq!(descriptions(&back.events), descriptions(&whole[first_file.len()..]));
    // A version 3 with another layout: every block's version differs, no checksum verifies.
    let blocks = blocks_of(&std::fs::read(&files[1]).unwrap());
    let mut bytes = std::fs::read(&files[1]).unwrap();
    for (off, _) in &blocks {
        set_version(&mut bytes, *off as usize, 3, false);
    }
    std::fs::write(&files[1], &bytes).unwrap();
    let back = read_back(&files[1], ReadOptions::default());
    assert!(back.events.is_empty());
    assert!(
        matches!(back.errors[..], [CaptureError::UnknownVersion { version: 3, .. }]),
        "{:?}",
        back.errors
    );
}

#[test]
fn a_flipped_version_field_in_our_file_is_damage_not_another_version() {
    let dir = tempfile::tempdir().unwrap();
    let (path, events, _) = small_capture(dir.path(), 30);
    let mut bytes = std::fs::read(&path).unwrap();
    set_version(&mut bytes, 0, 9, false);
    let scratch = tempfile::tempdir().unwrap();
    let back = read_back(&variant(scratch.path(), &path, &bytes), ReadOptions::default());
    assert_eq!(descriptions(&back.events), descriptions(&events));
    assert!(matches!(back.errors[..], [CaptureError::Damaged { offset: 0, .. }]), "{:?}", back.errors);
}

#[test]
fn a_file_of_another_venue_is_refused_and_the_rest_read() {
    let dir = tempfile::tempdir().unwrap();
    let bin: Vec<_> = (0..10).map(|i| frame_event(ExchangeId::Binance, i, T0 + i as i64)).collect();
    let byb: Vec<_> = (0..10).map(|i| frame_event(ExchangeId::Bybit, i, T0 + HOUR + i as i64)).collect();
    write_all(config(dir.path()), ExchangeId::Binance, &bin);
    write_all(config(dir.path()), ExchangeId::Bybit, &byb);
    // A binance file moved into bybit's directory, once under its name and once renamed.
    let src = capture_files(&dir.path().join("binance")).remove(0);
    let moved = dir.path().join("bybit").join(src.file_name().unwrap());
    std::fs::copy(&src, &moved).unwrap();
    let renamed = dir.path().join("bybit").join("bybit-20240102T050000Z-0000.mdcap");
    std::fs::copy(&src, &renamed).unwrap();
    let back = read_back(&dir.path().join("bybit"), ReadOptions::default());
    assert_eq!(descriptions(&back.events), descriptions(&byb));
    let mut refused: Vec<_> = back
        .errors
        .iter()
        .map(|e| match e {
            CaptureError::WrongVenue { file, expected, found } => {
                assert_eq!((expected.as_str(), found.as_str()), ("bybit", "binance"));
                assert!(e.to_string().contains("offset 0") && e.to_string().contains("bybit"));
                file.clone()
            }
            other => panic!("{other}"),
        })
        .collect();
    refused.sort();
    let mut want = vec![moved.clone(), renamed.clone()];
    want.sort();
    assert_eq!(refused, want);
    // Reading a venue's directory while asking for another: each file refused by name.
    let opts = ReadOptions { exchanges: Some(vec![ExchangeId::Huobi]), ..ReadOptions::default() };
    let back = read_back(&dir.path().join("binance"), opts);
    assert!(back.events.is_empty());
    assert!(
        matches!(&back.errors[..], [CaptureError::WrongVenue { expected, found, .. }] if expected == "huobi" && found == "binance"),
        "{:?}",
        back.errors
    );
}

#[test]
fn unparsable_names_and_empty_files_are_reported_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let events: Vec<_> = (0..5).map(|i| frame_event(ExchangeId::Binance, i, T0 + i as i64)).collect();
    write_all(config(dir.path()), ExchangeId::Binance, &events);
    let venue = dir.path().join("binance");
    std::fs::write(venue.join("notes.mdcap"), b"hello").unwrap();
    std::fs::write(venue.join("binance-20200101T000000Z-0000.mdcap"), b"").unwrap();
    std::fs::write(venue.join("README.txt"), b"ignored").unwrap();
    let back = read_back(dir.path(), ReadOptions::default());
    assert_eq!(descriptions(&back.events), descriptions(&events));
    assert_eq!(back.errors.len(), 2, "{:?}", back.errors);
    assert!(back.errors.iter().any(|e| matches!(e, CaptureError::BadName { .. })));
    assert!(back.errors.iter().any(|e| matches!(e, CaptureError::TornTail { offset: 0, .. })));
}
