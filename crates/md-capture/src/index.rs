//! The `.mdidx` sidecar: one fixed 32-byte entry per block of its capture file, appended
//! after the block, so a reader seeks to a time without reading the blocks before it.
//!
//! Entry: `offset u64 | min local_ts i64 | max local_ts i64 | first mono u64`, little-endian.
//! The index is a hint only: the reader checks the block header at every offset it jumps to,
//! ignores a torn last entry, and walks block headers past the end of a short (or missing)
//! index, so a stale or damaged index can slow a seek but never lose or invent a record.

use std::path::Path;

use md_core::UnixNanos;

use crate::block::BlockHeader;

/// Bytes of one entry.
pub const ENTRY_LEN: usize = 32;

/// One block, as the index knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexEntry {
    /// Where the block starts in the capture file.
    pub offset: u64,
    /// Its smallest `local_ts`.
    pub min_ts: UnixNanos,
    /// Its largest `local_ts`.
    pub max_ts: UnixNanos,
    /// Its first record's monotonic time.
    pub first_mono: u64,
}

impl IndexEntry {
    /// The entry of the block at `offset` with `header`.
    pub fn of(offset: u64, header: &BlockHeader) -> Self {
        Self { offset, min_ts: header.min_ts, max_ts: header.max_ts, first_mono: header.first_mono }
    }

    /// The entry's bytes.
    pub fn to_bytes(&self) -> [u8; ENTRY_LEN] {
        let mut b = [0u8; ENTRY_LEN];
        b[0..8].copy_from_slice(&self.offset.to_le_bytes());
        b[8..16].copy_from_slice(&self.min_ts.to_le_bytes());
        b[16..24].copy_from_slice(&self.max_ts.to_le_bytes());
        b[24..32].copy_from_slice(&self.first_mono.to_le_bytes());
        b
    }

    /// Decodes one entry.
    pub fn from_bytes(b: &[u8; ENTRY_LEN]) -> Self {
        let word = |i: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&b[i..i + 8]);
            w
        };
        Self {
            offset: u64::from_le_bytes(word(0)),
            min_ts: i64::from_le_bytes(word(8)),
            max_ts: i64::from_le_bytes(word(16)),
            first_mono: u64::from_le_bytes(word(24)),
        }
    }

    /// Whether the block header at this entry's offset is the block it describes.
    pub fn matches(&self, header: &BlockHeader) -> bool {
        self.min_ts == header.min_ts && self.max_ts == header.max_ts && self.first_mono == header.first_mono
    }
}

/// The entries of an index file, in file order, as far as they are whole and their offsets
/// increase; `None` if there is no index (or it cannot be read: the reader walks headers).
pub fn read_index(path: &Path) -> Option<Vec<IndexEntry>> {
    let bytes = std::fs::read(path).ok()?;
    let mut entries: Vec<IndexEntry> = Vec::with_capacity(bytes.len() / ENTRY_LEN);
    for chunk in bytes.chunks_exact(ENTRY_LEN) {
        let mut b = [0u8; ENTRY_LEN];
        b.copy_from_slice(chunk);
        let entry = IndexEntry::from_bytes(&b);
        if entries.last().is_some_and(|last| entry.offset <= last.offset) {
            break;
        }
        entries.push(entry);
    }
    Some(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_and_a_torn_or_backwards_tail_is_dropped() {
        let e = |offset| IndexEntry { offset, min_ts: -3, max_ts: 9, first_mono: 42 };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.mdidx");
        let mut bytes = Vec::new();
        for offset in [0, 100, 250, 90] {
            bytes.extend_from_slice(&e(offset).to_bytes());
        }
        bytes.extend_from_slice(&[1, 2, 3]);
        std::fs::write(&path, &bytes).unwrap();
        assert_eq!(read_index(&path).unwrap(), vec![e(0), e(100), e(250)]);
        assert_eq!(read_index(&dir.path().join("missing.mdidx")), None);
    }
}
