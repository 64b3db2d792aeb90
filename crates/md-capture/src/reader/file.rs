//! One capture file, read block by block into items, surviving whatever the bytes are.
//!
//! The first block must hold the file's header (checked: format version, venue). After it,
//! blocks are walked by their headers; with `from`/`to` the index lets the walk jump over
//! blocks outside the range. A block whose header fails its checks is reported `Damaged` and
//! the walk resumes at the next magic whose header verifies; a block cut short by the end of
//! the file is a `TornTail`, and the file ends there.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;

use bytes::Bytes;
use md_core::{ExchangeId, UnixNanos};

use crate::block::{self, BlockHeader, HeaderFault, HEADER_LEN, MAGIC};
use crate::error::CaptureError;
use crate::format::{CaptureHeader, FORMAT_VERSION};
use crate::index::{read_index, IndexEntry};
use crate::naming::{exchange_from_name, index_path};
use crate::reader::{CaptureItem, ReadOptions};
use crate::record::{decode, HeaderRecord, Record, Records};

type Item = Result<CaptureItem, CaptureError>;

/// Reads one file.
#[derive(Debug)]
pub(crate) struct FileCursor {
    path: PathBuf,
    file: File,
    len: u64,
    /// Where the next block header is expected.
    offset: u64,
    /// The venue the file should be of (its directory's, or its name's).
    expected: Option<ExchangeId>,
    /// The venues asked for.
    asked: Option<Vec<ExchangeId>>,
    from: Option<UnixNanos>,
    to: Option<UnixNanos>,
    index: Option<Vec<IndexEntry>>,
    idx_pos: usize,
    /// An index jump under way: where the walk was, and the entry jumped to.
    jump: Option<(u64, IndexEntry)>,
    /// The venue events are given (the header's, once read).
    exchange: Option<ExchangeId>,
    /// The file's header, yielded just before its first event.
    header: Option<CaptureHeader>,
    /// The header record was read and accepted.
    header_ok: bool,
    out: VecDeque<Item>,
    started: bool,
    done: bool,
}

impl FileCursor {
    /// Opens `path`; its index is used only when `options` has a range.
    pub fn open(
        path: PathBuf,
        expected: Option<ExchangeId>,
        options: &ReadOptions,
    ) -> Result<Self, CaptureError> {
        let file = File::open(&path).map_err(|e| CaptureError::io(&path, e))?;
        let len = file.metadata().map_err(|e| CaptureError::io(&path, e))?.len();
        let ranged = options.from.is_some() || options.to.is_some();
        let index = if ranged { read_index(&index_path(&path)) } else { None };
        Ok(Self {
            path,
            file,
            len,
            offset: 0,
            expected,
            asked: options.exchanges.clone(),
            from: options.from,
            to: options.to,
            index,
            idx_pos: 0,
            jump: None,
            exchange: expected,
            header: None,
            header_ok: false,
            out: VecDeque::new(),
            started: false,
            done: false,
        })
    }

    fn damaged(&mut self, offset: u64, detail: impl Into<String>) {
        self.out.push_back(Err(CaptureError::Damaged {
            file: self.path.clone(),
            offset,
            detail: detail.into(),
        }));
    }

    fn fail(&mut self, error: CaptureError) {
        self.out.push_back(Err(error));
        self.done = true;
    }

    /// Reads `buf.len()` bytes at `offset`; an IO error ends the file.
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> bool {
        let read = self.file.seek(SeekFrom::Start(offset)).and_then(|_| self.file.read_exact(buf));
        if let Err(e) = read {
            let error = CaptureError::io(&self.path, e);
            self.fail(error);
            return false;
        }
        true
    }

    /// Reads and checks the file's first block.
    fn start(&mut self) {
        self.started = true;
        if self.len < HEADER_LEN as u64 {
            let error = CaptureError::TornTail { file: self.path.clone(), offset: 0 };
            return self.fail(error);
        }
        let mut b = [0u8; HEADER_LEN];
        if !self.read_at(0, &mut b) {
            return;
        }
        match BlockHeader::parse(&b) {
            Err(HeaderFault::Version(version)) => {
                // Another version, or a damaged version field? A header that verifies, or a
                // file with no block of this version after it, is another version.
                let path = self.path.clone();
                let unknown = || CaptureError::UnknownVersion {
                    file: path,
                    version: version.into(),
                    known: FORMAT_VERSION,
                };
                if BlockHeader::checksum_ok(&b) {
                    return self.fail(unknown());
                }
                self.resync(1);
                if self.done {
                    return self.fail(unknown());
                }
                self.damaged(
                    0,
                    format!(
                        "block of format version {version} whose checksum fails (the file's header block)"
                    ),
                );
            }
            Err(fault) => {
                // The header block is lost; the blocks after it may not be.
                self.damaged(0, format!("{fault} (the file's header block)"));
                self.resync(1);
            }
            Ok(header) => {
                if let Some(data) = self.block_data(0, &header) {
                    self.first_block(&header, data);
                }
            }
        }
        if self.done || self.header_ok {
            return;
        }
        // No header: the directory or the name says whose events these are, if anything does.
        match (self.exchange, &self.asked) {
            (None, _) => {
                self.damaged(0, "no venue: neither the file's name nor its header block says one");
                self.done = true;
            }
            (Some(venue), Some(asked)) if !asked.contains(&venue) => {
                let error = wrong_venue(&self.path, asked, venue.as_str());
                self.fail(error);
            }
            _ => {}
        }
    }

    /// The first block: its header record, checked, then any events in it.
    fn first_block(&mut self, header: &BlockHeader, data: Bytes) {
        let mut records = Records::new(&data);
        match records.next() {
            Some(Ok(body)) => match decode(&data, body, ExchangeId::Custom) {
                Ok(Record::Header(h)) => {
                    if self.accept_header(h) {
                        self.push_records(0, header, &data, records, 1);
                    }
                }
                _ => {
                    self.damaged(0, "the file's first block holds no header record");
                    // It may still hold events: read it all as such.
                    self.push_records(0, header, &data, Records::new(&data), 0);
                }
            },
            Some(Err(fault)) => {
                self.damaged(0, format!("record {}: {} (the header record)", fault.index, fault.detail));
                self.push_records(0, header, &data, records, 1);
            }
            None => self.damaged(0, "the file's first block is empty"),
        }
    }

    /// Checks a header record against the format, the directory and the venues asked for.
    fn accept_header(&mut self, h: HeaderRecord) -> bool {
        if h.format_version != FORMAT_VERSION {
            let error = CaptureError::UnknownVersion {
                file: self.path.clone(),
                version: h.format_version,
                known: FORMAT_VERSION,
            };
            self.fail(error);
            return false;
        }
        let found = exchange_from_name(&h.exchange);
        let expected = self.expected.or(found);
        let Some(exchange) = found.filter(|f| Some(*f) == expected) else {
            let expected =
                expected.map_or_else(|| "a venue md knows".to_string(), |e| e.as_str().to_string());
            let error = CaptureError::WrongVenue { file: self.path.clone(), expected, found: h.exchange };
            self.fail(error);
            return false;
        };
        if let Some(asked) = &self.asked {
            if !asked.contains(&exchange) {
                let error = wrong_venue(&self.path, asked, exchange.as_str());
                self.fail(error);
                return false;
            }
        }
        self.exchange = Some(exchange);
        self.header_ok = true;
        self.header = Some(CaptureHeader {
            exchange,
            format_version: h.format_version,
            md_version: h.md_version,
            started_ns: h.started_ns,
            config: h.config,
        });
        true
    }

    /// The verified, inflated data of the block at `offset`, and the walk moved past it; `None`
    /// (with the error queued) if it is torn or damaged.
    fn block_data(&mut self, offset: u64, header: &BlockHeader) -> Option<Bytes> {
        let end = offset.saturating_add(header.block_len());
        if end > self.len {
            let error = CaptureError::TornTail { file: self.path.clone(), offset };
            self.fail(error);
            return None;
        }
        let mut stored = vec![0u8; header.stored_len as usize];
        if !self.read_at(offset + HEADER_LEN as u64, &mut stored) {
            return None;
        }
        self.offset = end;
        match block::open(header, &stored) {
            Ok(raw) => Some(Bytes::from(raw)),
            Err(detail) => {
                self.damaged(offset, detail);
                None
            }
        }
    }

    /// Queues the events of a block that are in range (the file's header before the first);
    /// `skipped` records of the block were taken off `records` before.
    fn push_records(
        &mut self,
        offset: u64,
        header: &BlockHeader,
        data: &Bytes,
        records: Records<'_>,
        skipped: u32,
    ) {
        let exchange = self.exchange.unwrap_or(ExchangeId::Custom);
        let mut seen = skipped;
        for record in records {
            let i = seen;
            seen = seen.saturating_add(1);
            let body = match record {
                Ok(body) => body,
                Err(fault) => {
                    self.damaged(offset, format!("record {i}: {}", fault.detail));
                    continue;
                }
            };
            match decode(data, body, exchange) {
                Ok(Record::Event(event)) => {
                    let in_range = self.from.is_none_or(|f| event.local_ts >= f)
                        && self.to.is_none_or(|t| event.local_ts < t);
                    if in_range {
                        if let Some(header) = self.header.take() {
                            self.out.push_back(Ok(CaptureItem::Header { file: self.path.clone(), header }));
                        }
                        self.out.push_back(Ok(CaptureItem::Event(event)));
                    }
                }
                Ok(Record::Header(_)) => {
                    self.damaged(offset, format!("record {i}: a header record after the file's first"));
                }
                Err(detail) => self.damaged(offset, format!("record {i}: {detail}")),
            }
        }
        if seen != header.records {
            self.damaged(offset, format!("block holds {seen} records, its header says {}", header.records));
        }
    }

    /// Moves the walk to the next offset at or after `from` where a block header verifies;
    /// the file is done if there is none.
    fn resync(&mut self, from: u64) {
        const CHUNK: usize = 64 << 10;
        let mut pos = from;
        let mut buf = vec![0u8; CHUNK + HEADER_LEN];
        while pos.saturating_add(HEADER_LEN as u64) <= self.len {
            let n = usize::try_from((self.len - pos).min(buf.len() as u64)).unwrap_or(buf.len());
            if !self.read_at(pos, &mut buf[..n]) {
                return;
            }
            for i in 0..n.saturating_sub(HEADER_LEN - 1) {
                if buf[i..i + 4] != MAGIC {
                    continue;
                }
                let mut candidate = [0u8; HEADER_LEN];
                candidate.copy_from_slice(&buf[i..i + HEADER_LEN]);
                if BlockHeader::parse(&candidate).is_ok() {
                    self.offset = pos + i as u64;
                    return;
                }
            }
            pos += n.saturating_sub(HEADER_LEN - 1).max(1) as u64;
        }
        self.done = true;
    }

    /// With a range and an index: jumps over the blocks the index says are outside it
    /// (never over the last entry, whose block's end only its header tells).
    fn jump_by_index(&mut self) {
        let Some(index) = &self.index else {
            return;
        };
        while self.idx_pos < index.len() && index[self.idx_pos].offset < self.offset {
            self.idx_pos += 1;
        }
        if self.idx_pos >= index.len() || index[self.idx_pos].offset != self.offset {
            return;
        }
        let overlaps =
            |e: &IndexEntry| self.from.is_none_or(|f| e.max_ts >= f) && self.to.is_none_or(|t| e.min_ts < t);
        let mut j = self.idx_pos;
        while j + 1 < index.len() && !overlaps(&index[j]) {
            j += 1;
        }
        if j > self.idx_pos {
            self.jump = Some((self.offset, index[j]));
            self.offset = index[j].offset;
            self.idx_pos = j;
        }
    }

    /// The next block in range, walking (and jumping) from `offset`.
    fn next_block(&mut self) -> Option<(u64, BlockHeader, Bytes)> {
        while !self.done {
            if self.offset >= self.len {
                self.done = true;
                return None;
            }
            self.jump_by_index();
            let offset = self.offset;
            if self.len - offset < HEADER_LEN as u64 {
                let error = CaptureError::TornTail { file: self.path.clone(), offset };
                self.fail(error);
                return None;
            }
            let mut b = [0u8; HEADER_LEN];
            if !self.read_at(offset, &mut b) {
                return None;
            }
            let parsed = BlockHeader::parse(&b);
            if let Some((back, entry)) = self.jump.take() {
                if !parsed.as_ref().is_ok_and(|h| entry.matches(h)) {
                    // The index is stale or damaged: walk the headers from where we were.
                    self.index = None;
                    self.offset = back;
                    continue;
                }
            }
            let header = match parsed {
                Ok(header) => header,
                Err(fault) => {
                    self.damaged(offset, fault.to_string());
                    self.resync(offset + 1);
                    continue;
                }
            };
            if !header.overlaps(self.from, self.to) {
                let end = offset.saturating_add(header.block_len());
                if end > self.len {
                    let error = CaptureError::TornTail { file: self.path.clone(), offset };
                    self.fail(error);
                    return None;
                }
                self.offset = end;
                continue;
            }
            if let Some(data) = self.block_data(offset, &header) {
                return Some((offset, header, data));
            }
        }
        None
    }
}

fn wrong_venue(path: &std::path::Path, asked: &[ExchangeId], found: &str) -> CaptureError {
    let names: Vec<&str> = asked.iter().map(|e| e.as_str()).collect();
    CaptureError::WrongVenue {
        file: path.to_path_buf(),
        expected: names.join(" or "),
        found: found.to_string(),
    }
}

impl Iterator for FileCursor {
    type Item = Item;

    fn next(&mut self) -> Option<Item> {
        loop {
            if let Some(item) = self.out.pop_front() {
                return Some(item);
            }
            if self.done {
                return None;
            }
            if !self.started {
                self.start();
                continue;
            }
            match self.next_block() {
                Some((offset, header, data)) => {
                    self.push_records(offset, &header, &data, Records::new(&data), 0)
                }
                None => self.done = true,
            }
        }
    }
}
