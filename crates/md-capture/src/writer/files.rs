//! The files of one venue directory as the writer appends to them: the current capture file
//! and its index, created, appended, cut back after a failed write, rotated.
//!
//! Every append is one block (one `write(2)` of a buffer made beforehand) and then its index
//! entry. If either fails, both files are cut back to their last whole block, so a file never
//! holds a torn block in the middle: a full disk leaves, at worst, a torn tail (where the cut
//! itself failed, the file is abandoned and the next block starts a new one).

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use md_core::{ExchangeId, UnixNanos};

use crate::block::{self, BlockMeta};
use crate::error::CaptureError;
use crate::format::CaptureHeader;
use crate::index::{IndexEntry, ENTRY_LEN};
use crate::naming::{index_path, CaptureName};
use crate::record::encode_header;
use crate::writer::fault::{write_all, WriteFault};

/// One capture file being written, with its index.
#[derive(Debug)]
pub(crate) struct OpenFile {
    pub path: PathBuf,
    idx_path: PathBuf,
    file: File,
    idx: File,
    /// Bytes of whole blocks in the file.
    pub len: u64,
    /// Bytes of whole entries in the index.
    idx_len: u64,
    /// Bytes of the header block: a file holding only that has no events yet.
    header_len: u64,
    /// A write failed and part of it may be in a file past `len` / `idx_len`.
    torn: bool,
    /// Cutting a torn write back failed: no more appends to this file.
    pub broken: bool,
}

impl OpenFile {
    /// Creates `dir/<name>` and its index, and writes the header block (whose record carries
    /// the first event's clocks). A file whose header cannot be written is removed.
    pub fn create(
        dir: &Path,
        name: &CaptureName,
        header: &CaptureHeader,
        first: (UnixNanos, u64),
        fault: Option<&WriteFault>,
    ) -> Result<Self, CaptureError> {
        let path = dir.join(name.file_name());
        let idx_path = index_path(&path);
        let file = OpenOptions::new().append(true).create_new(true).open(&path);
        let mut file = file.map_err(|e| CaptureError::io(&path, e))?;
        let result = (|| {
            // An index left by a capture file that was since removed belongs to nothing.
            match std::fs::remove_file(&idx_path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(CaptureError::io(&idx_path, e))
                }
                _ => {}
            }
            let idx = OpenOptions::new().append(true).create_new(true).open(&idx_path);
            let mut idx = idx.map_err(|e| CaptureError::io(&idx_path, e))?;
            let mut raw = Vec::with_capacity(256 + header.config.len());
            encode_header(&mut raw, header, first.0, first.1);
            let meta = BlockMeta { records: 1, min_ts: first.0, max_ts: first.0, first_mono: first.1 };
            let bytes = block::seal(&raw, meta, block::Codec::Lz4).map_err(|e| CaptureError::io(&path, e))?;
            write_all(fault, &mut file, &bytes).map_err(|e| CaptureError::io(&path, e))?;
            let entry = entry_of(0, &meta);
            write_all(fault, &mut idx, &entry).map_err(|e| CaptureError::io(&idx_path, e))?;
            Ok((idx, bytes.len() as u64))
        })();
        match result {
            Ok((idx, len)) => Ok(Self {
                path,
                idx_path,
                file,
                idx,
                len,
                idx_len: ENTRY_LEN as u64,
                header_len: len,
                torn: false,
                broken: false,
            }),
            Err(e) => {
                // A file without its whole header would only be skipped by readers: it goes.
                drop(file);
                let _ = std::fs::remove_file(&path);
                let _ = std::fs::remove_file(&idx_path);
                Err(e)
            }
        }
    }

    /// Whether the file holds only its header block.
    pub fn is_fresh(&self) -> bool {
        self.len <= self.header_len
    }

    /// Bytes written at creation (header block and its entry).
    pub fn created_bytes(&self) -> u64 {
        self.header_len + ENTRY_LEN as u64
    }

    /// Appends one sealed block and its index entry (and syncs both, if asked); on failure
    /// both are cut back to where they were.
    pub fn append(
        &mut self,
        bytes: &[u8],
        meta: &BlockMeta,
        fault: Option<&WriteFault>,
        sync: bool,
    ) -> Result<(), CaptureError> {
        self.cut_torn_tail()?;
        let entry = entry_of(self.len, meta);
        let written = write_all(fault, &mut self.file, bytes)
            .map_err(|e| CaptureError::io(&self.path, e))
            .and_then(|()| {
                write_all(fault, &mut self.idx, &entry).map_err(|e| CaptureError::io(&self.idx_path, e))
            })
            .and_then(|()| if sync { self.sync() } else { Ok(()) });
        if let Err(e) = written {
            self.torn = true;
            // Best now; if it fails, the next append tries again before writing anything.
            let _ = self.cut_torn_tail();
            return Err(e);
        }
        self.len += bytes.len() as u64;
        self.idx_len += ENTRY_LEN as u64;
        Ok(())
    }

    /// Cuts a failed write's part off both files.
    fn cut_torn_tail(&mut self) -> Result<(), CaptureError> {
        if self.torn {
            let cut =
                self.file.set_len(self.len).map_err(|e| CaptureError::io(&self.path, e)).and_then(|()| {
                    self.idx.set_len(self.idx_len).map_err(|e| CaptureError::io(&self.idx_path, e))
                });
            if let Err(e) = cut {
                self.broken = true;
                return Err(e);
            }
            self.torn = false;
        }
        Ok(())
    }

    /// Data of both files to the disk.
    pub fn sync(&mut self) -> Result<(), CaptureError> {
        self.file.sync_data().map_err(|e| CaptureError::io(&self.path, e))?;
        self.idx.sync_data().map_err(|e| CaptureError::io(&self.idx_path, e))
    }
}

/// The index entry of a block written at `offset`.
fn entry_of(offset: u64, meta: &BlockMeta) -> [u8; ENTRY_LEN] {
    IndexEntry { offset, min_ts: meta.min_ts, max_ts: meta.max_ts, first_mono: meta.first_mono }.to_bytes()
}

/// The newest capture name of `exchange` in `dir`, so a writer started again names its files
/// after the ones there (name order stays write order across restarts).
pub(crate) fn newest_name(dir: &Path, exchange: ExchangeId) -> Option<CaptureName> {
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| CaptureName::from_path(&e.ok()?.path()))
        .filter(|n| n.exchange == exchange)
        .max_by_key(CaptureName::sort_key)
}
