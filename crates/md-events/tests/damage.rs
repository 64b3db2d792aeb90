//! Torn tails are skipped (never fatal) at every cut; damage in the middle costs its chunk
//! only, reported with file and offset; another format version is named, not misread.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;
use md_core::DataPacket;
use md_events::format::{ChunkHeader, FileHeader, CHUNK_HEADER_LEN};
use md_events::{EventFilesConfig, EventQuery, EventReader, EventWriter, EventsError};

/// One file of 6 chunks of 20 packets each; returns the packets, the file and chunk offsets.
fn write_file(dir: &Path) -> (Vec<DataPacket>, PathBuf, Vec<u64>) {
    let mut config = EventFilesConfig::new(dir);
    config.flush_interval = Duration::from_secs(3600);
    let mut writer = EventWriter::new(config).unwrap();
    let sent = stream(&btc(), T0, 1000, 120, 5);
    for chunk in sent.chunks(20) {
        for p in chunk {
            writer.write(p).unwrap();
        }
        writer.flush().unwrap();
    }
    writer.close().unwrap();
    let path = writer.files_created()[0].clone();
    let bytes = std::fs::read(&path).unwrap();
    let (_, mut at) = FileHeader::parse(&bytes).unwrap();
    let mut offsets = Vec::new();
    while at < bytes.len() {
        offsets.push(at as u64);
        let h = ChunkHeader::parse(bytes[at..at + CHUNK_HEADER_LEN].try_into().unwrap()).unwrap();
        assert_eq!(h.meta.records, 20);
        at += h.chunk_len() as usize;
    }
    assert_eq!(offsets.len(), 6);
    (sent, path, offsets)
}

fn read_all(dir: &Path) -> (Vec<DataPacket>, Vec<EventsError>, Vec<String>) {
    let mut reader = EventReader::open(dir, EventQuery::default()).unwrap();
    let mut packets = Vec::new();
    let mut errors = Vec::new();
    for item in reader.by_ref() {
        match item {
            Ok(p) => packets.push(p),
            Err(e) => errors.push(e),
        }
    }
    (packets, errors, reader.issues().iter().map(ToString::to_string).collect())
}

#[test]
fn a_torn_tail_is_skipped_at_every_cut() {
    let dir = tempfile::tempdir().unwrap();
    let (sent, path, offsets) = write_file(dir.path());
    let bytes = std::fs::read(&path).unwrap();
    let last = offsets[5] as usize;
    let cut_dir = tempfile::tempdir().unwrap();
    let cut_path = cut_dir.path().join(path.file_name().unwrap());
    for cut in last..bytes.len() {
        std::fs::write(&cut_path, &bytes[..cut]).unwrap();
        let (packets, errors, issues) = read_all(cut_dir.path());
        assert!(errors.is_empty(), "cut {cut}: {errors:?}");
        assert_eq!(packets, sent[..100], "cut {cut}");
        if cut == last {
            assert!(issues.is_empty());
        } else {
            assert_eq!(issues.len(), 1, "cut {cut}");
            assert!(issues[0].contains(&format!("torn tail at byte {last}")), "{}", issues[0]);
        }
    }
    // A file cut inside its header (being created) reads as empty, not as an error.
    for cut in [0, 3, 20] {
        std::fs::write(&cut_path, &bytes[..cut]).unwrap();
        let (packets, errors, issues) = read_all(cut_dir.path());
        assert!(packets.is_empty() && errors.is_empty() && issues.len() == 1);
    }
}

#[test]
fn damage_in_the_middle_costs_that_chunk_only() {
    let dir = tempfile::tempdir().unwrap();
    let (sent, path, offsets) = write_file(dir.path());
    let good = std::fs::read(&path).unwrap();
    let expected: Vec<DataPacket> = sent[..40].iter().chain(&sent[60..]).cloned().collect();
    // In the data, in the header's time range, in the magic: each found, reported, skipped.
    for (at, what) in [(offsets[2] + 60, "checksum"), (offsets[2] + 20, "checksum"), (offsets[2], "magic")] {
        let mut bytes = good.clone();
        bytes[at as usize] ^= 0x55;
        std::fs::write(&path, &bytes).unwrap();
        let (packets, errors, issues) = read_all(dir.path());
        assert_eq!(packets, expected, "byte {at}");
        assert_eq!(errors.len(), 1, "{errors:?}");
        match &errors[0] {
            EventsError::Damaged { file, offset, detail } => {
                assert_eq!((file, *offset), (&path, offsets[2]));
                assert!(detail.contains(what), "{detail}");
            }
            other => panic!("{other:?}"),
        }
        assert!(issues.is_empty());
    }
    // Two damaged chunks, and a damaged last chunk: the rest still read.
    let mut bytes = good.clone();
    bytes[offsets[1] as usize + 70] ^= 1;
    bytes[offsets[5] as usize + 1] ^= 1;
    std::fs::write(&path, &bytes).unwrap();
    let (packets, errors, _) = read_all(dir.path());
    let expected: Vec<DataPacket> = sent[..20].iter().chain(&sent[40..100]).cloned().collect();
    assert_eq!(packets, expected);
    assert_eq!(errors.len(), 2);
}

#[test]
fn another_format_version_is_named_and_other_files_still_read() {
    let dir = tempfile::tempdir().unwrap();
    let (sent, path, _) = write_file(dir.path());
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[4] = 9;
    let other = dir.path().join("BINANCE_ETH_USDT_20261201T100000Z.mdev");
    std::fs::write(&other, &bytes).unwrap();
    let (packets, errors, _) = read_all(dir.path());
    assert_eq!(packets, sent);
    assert!(
        matches!(&errors[..], [EventsError::UnknownVersion { file, version: 9 }] if *file == other),
        "{errors:?}"
    );
}
