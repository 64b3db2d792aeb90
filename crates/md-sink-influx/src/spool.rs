//! The disk spool: batches waiting for the database, kept in append-only segment files so they
//! survive an outage longer than memory allows and a restart.
//!
//! A record is `len: u32 LE | crc32: u32 LE | target: u8 | lines: u32 LE | body`, where `len`
//! counts the bytes after the CRC and the CRC covers them. Each append is fsynced. On open,
//! every existing segment is scanned: a record with a bad CRC is copied to the dead-letter
//! directory and skipped; a torn tail (a record cut short by a crash) is copied there too and
//! ends the scan of that segment. Neither is fatal. New appends always go to a new segment, and
//! a segment is deleted only once every record in it was acknowledged by the database.
//! Records of a segment that was partly acknowledged before a restart are sent again; points
//! have deterministic keys, so that re-delivery overwrites them with themselves.

use std::collections::{BTreeMap, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use bytes::Bytes;

use crate::deadletter::DeadLetters;
use crate::encode::Target;
use crate::error::SinkError;
use crate::write::Batch;

const HEADER: usize = 8;
const SEGMENT_MAX: u64 = 64 << 20;

#[derive(Debug, Clone, Copy)]
pub(crate) struct Record {
    segment: u64,
    offset: u64,
    /// Bytes after the CRC.
    len: u32,
    pub(crate) lines: u32,
}

#[derive(Debug)]
pub(crate) struct Spool {
    dir: PathBuf,
    target: Target,
    pending: VecDeque<Record>,
    /// Unacknowledged records per segment.
    segments: BTreeMap<u64, usize>,
    active: Option<(u64, File, u64)>,
    next_segment: u64,
    bytes: u64,
}

/// What `open` found.
#[derive(Debug, Default)]
pub(crate) struct OpenReport {
    pub(crate) lines: u64,
    pub(crate) corrupt: u64,
}

fn seg_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id:012}.seg"))
}

impl Spool {
    /// Opens (creating) `<dir>` and indexes what previous runs left there.
    pub(crate) fn open(
        dir: &Path,
        target: Target,
        dead: &DeadLetters,
    ) -> Result<(Self, OpenReport), SinkError> {
        std::fs::create_dir_all(dir).map_err(|e| SinkError::io(dir, e))?;
        let mut ids: Vec<u64> = std::fs::read_dir(dir)
            .map_err(|e| SinkError::io(dir, e))?
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().to_str()?.strip_suffix(".seg")?.parse().ok())
            .collect();
        ids.sort_unstable();
        let mut spool = Self {
            dir: dir.to_owned(),
            target,
            pending: VecDeque::new(),
            segments: BTreeMap::new(),
            active: None,
            next_segment: ids.last().map_or(1, |id| id + 1),
            bytes: 0,
        };
        let mut report = OpenReport::default();
        for id in ids {
            let path = seg_path(dir, id);
            let data = std::fs::read(&path).map_err(|e| SinkError::io(&path, e))?;
            let found = spool.scan(id, &data, dead, &mut report);
            if found == 0 {
                std::fs::remove_file(&path).map_err(|e| SinkError::io(&path, e))?;
            } else {
                spool.segments.insert(id, found);
            }
        }
        Ok((spool, report))
    }

    fn scan(&mut self, id: u64, data: &[u8], dead: &DeadLetters, report: &mut OpenReport) -> usize {
        let mut pos = 0usize;
        let mut found = 0;
        while pos < data.len() {
            let rest = &data[pos..];
            let len = rest.get(..4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize);
            let Some(len) = len.filter(|&len| len >= 5 && rest.len() >= HEADER + len) else {
                tracing::warn!(segment = id, offset = pos, bytes = rest.len(), "spool: torn tail skipped");
                self.set_aside(dead, id, pos, rest, "torn-tail", report);
                break;
            };
            let crc = u32::from_le_bytes([rest[4], rest[5], rest[6], rest[7]]);
            let payload = &rest[HEADER..HEADER + len];
            if crc32fast::hash(payload) != crc || payload[0] != self.target as u8 {
                tracing::warn!(segment = id, offset = pos, "spool: corrupt record skipped");
                self.set_aside(dead, id, pos, &rest[..HEADER + len], "corrupt", report);
            } else {
                let lines = u32::from_le_bytes([payload[1], payload[2], payload[3], payload[4]]);
                self.pending.push_back(Record { segment: id, offset: pos as u64, len: len as u32, lines });
                self.bytes += (HEADER + len) as u64;
                report.lines += u64::from(lines);
                found += 1;
            }
            pos += HEADER + len;
        }
        found
    }

    fn set_aside(
        &self,
        dead: &DeadLetters,
        id: u64,
        pos: usize,
        raw: &[u8],
        why: &str,
        report: &mut OpenReport,
    ) {
        report.corrupt += 1;
        let msg = format!("spool segment {id} offset {pos}: {why}");
        if let Err(e) = dead.write(self.target.as_str(), why, &msg, raw, "spool.bin") {
            tracing::error!(error = %e, "cannot copy a bad spool record to dead-letter");
        }
    }

    /// Bytes of unacknowledged records.
    pub(crate) fn bytes(&self) -> u64 {
        self.bytes
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Appends and fsyncs a batch.
    pub(crate) fn append(&mut self, batch: &Batch) -> Result<(), SinkError> {
        let needs_new = self.active.as_ref().is_none_or(|(_, _, size)| *size >= SEGMENT_MAX);
        if needs_new {
            let id = self.next_segment;
            let path = seg_path(&self.dir, id);
            let file = OpenOptions::new()
                .append(true)
                .create_new(true)
                .open(&path)
                .map_err(|e| SinkError::io(&path, e))?;
            // The new directory entry must survive a crash too.
            if let Ok(d) = File::open(&self.dir) {
                let _ = d.sync_all();
            }
            self.next_segment += 1;
            self.active = Some((id, file, 0));
        }
        let Some((id, file, size)) = self.active.as_mut() else {
            return Err(SinkError::Config("spool has no active segment".into()));
        };
        let len = 5 + batch.body.len();
        let mut record = Vec::with_capacity(HEADER + len);
        record.extend_from_slice(&(len as u32).to_le_bytes());
        record.extend_from_slice(&[0; 4]);
        record.push(batch.target as u8);
        record.extend_from_slice(&batch.lines.to_le_bytes());
        record.extend_from_slice(&batch.body);
        let crc = crc32fast::hash(&record[HEADER..]);
        record[4..HEADER].copy_from_slice(&crc.to_le_bytes());
        let path = seg_path(&self.dir, *id);
        let offset = *size;
        let written = file.write_all(&record).and_then(|()| file.sync_data());
        if let Err(e) = written {
            // A partial record would hide everything appended after it: start a fresh segment.
            self.active = None;
            return Err(SinkError::io(path, e));
        }
        *size += record.len() as u64;
        *self.segments.entry(*id).or_default() += 1;
        self.pending.push_back(Record { segment: *id, offset, len: len as u32, lines: batch.lines });
        self.bytes += record.len() as u64;
        Ok(())
    }

    /// The oldest unacknowledged record.
    pub(crate) fn front(&self) -> Option<Record> {
        self.pending.front().copied()
    }

    /// Reads a record back, checking its CRC again (the disk may have changed since).
    pub(crate) fn read(&self, rec: Record) -> Result<Batch, SinkError> {
        let path = seg_path(&self.dir, rec.segment);
        let mut buf = vec![0u8; HEADER + rec.len as usize];
        let mut f = File::open(&path).map_err(|e| SinkError::io(&path, e))?;
        f.seek(SeekFrom::Start(rec.offset))
            .and_then(|_| f.read_exact(&mut buf))
            .map_err(|e| SinkError::io(&path, e))?;
        let crc = u32::from_le_bytes([buf[4], buf[5], buf[6], buf[7]]);
        if crc32fast::hash(&buf[HEADER..]) != crc {
            let e = std::io::Error::new(std::io::ErrorKind::InvalidData, "spool record CRC changed on disk");
            return Err(SinkError::io(path, e));
        }
        let target = Target::from_byte(buf[HEADER]).unwrap_or(self.target);
        let mut body = Bytes::from(buf);
        let body = body.split_off(HEADER + 5);
        Ok(Batch { target, lines: rec.lines, body })
    }

    /// Marks the oldest record delivered; deletes its segment once nothing in it is pending.
    pub(crate) fn ack_front(&mut self) -> Result<(), SinkError> {
        let Some(rec) = self.pending.pop_front() else {
            return Ok(());
        };
        self.bytes = self.bytes.saturating_sub(HEADER as u64 + u64::from(rec.len));
        let left = self.segments.get_mut(&rec.segment).map(|n| {
            *n = n.saturating_sub(1);
            *n
        });
        if left == Some(0) {
            self.segments.remove(&rec.segment);
            if self.active.as_ref().is_some_and(|(id, _, _)| *id == rec.segment) {
                self.active = None;
            }
            let path = seg_path(&self.dir, rec.segment);
            std::fs::remove_file(&path).map_err(|e| SinkError::io(path, e))?;
        }
        Ok(())
    }
}
