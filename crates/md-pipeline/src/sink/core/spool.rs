//! The disk spool of one lane: sealed batches waiting for the target, kept in append-only
//! segment files so they survive an outage longer than memory allows, and a restart.
//!
//! A record is `len: u32 LE | crc32: u32 LE | lane: u8 | records: u32 LE | body`, where `len`
//! counts the bytes after the CRC and the CRC covers them. Each append is fsynced. On open,
//! every existing segment is scanned: a record with a bad CRC (or another lane's index) is
//! copied to the dead-letter directory and skipped; a torn tail (a record cut short by a crash)
//! is copied there too and ends the scan of that segment. Neither is fatal. New appends always
//! go to a new segment, and a segment is deleted only once every record in it was acknowledged.
//! Records of a segment that was partly acknowledged before a crash are sent again: a target
//! that needs exactly-once must make re-delivery idempotent (InfluxDB points have
//! deterministic keys, so they overwrite themselves).

use std::collections::{BTreeMap, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use bytes::Bytes;

use super::deadletter::{DeadLetters, PathError};

/// `len` and `crc`.
const HEADER: usize = 8;
/// `lane` and `records`, covered by the CRC.
const META: usize = 5;
const SEGMENT_MAX: u64 = 64 << 20;

/// Where one record lies.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Record {
    segment: u64,
    offset: u64,
    /// Bytes after the CRC.
    len: u32,
    pub(crate) records: u32,
}

/// One lane's spool directory.
#[derive(Debug)]
pub(crate) struct Spool {
    dir: PathBuf,
    lane: u8,
    lane_name: String,
    pending: VecDeque<Record>,
    /// Unacknowledged records per segment.
    segments: BTreeMap<u64, usize>,
    active: Option<(u64, File, u64)>,
    next_segment: u64,
    bytes: u64,
    records: u64,
}

/// What `open` found.
#[derive(Debug, Default)]
pub(crate) struct OpenReport {
    pub(crate) records: u64,
    pub(crate) corrupt: u64,
}

fn seg_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id:012}.seg"))
}

fn le32(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

impl Spool {
    /// Opens (creating) `dir` and indexes what earlier runs left there.
    pub(crate) fn open(
        dir: &Path,
        lane: u8,
        lane_name: &str,
        dead: &DeadLetters,
    ) -> Result<(Self, OpenReport), PathError> {
        std::fs::create_dir_all(dir).map_err(|e| PathError::new(dir, e))?;
        let mut ids: Vec<u64> = std::fs::read_dir(dir)
            .map_err(|e| PathError::new(dir, e))?
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().to_str()?.strip_suffix(".seg")?.parse().ok())
            .collect();
        ids.sort_unstable();
        let mut spool = Self {
            dir: dir.to_owned(),
            lane,
            lane_name: lane_name.to_owned(),
            pending: VecDeque::new(),
            segments: BTreeMap::new(),
            active: None,
            next_segment: ids.last().map_or(1, |id| id + 1),
            bytes: 0,
            records: 0,
        };
        let mut report = OpenReport::default();
        for id in ids {
            let path = seg_path(dir, id);
            let data = std::fs::read(&path).map_err(|e| PathError::new(&path, e))?;
            let found = spool.scan(id, &data, dead, &mut report);
            if found == 0 {
                std::fs::remove_file(&path).map_err(|e| PathError::new(&path, e))?;
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
            let len = rest.get(..4).map(|b| le32(b) as usize);
            let Some(len) = len.filter(|&len| len >= META && rest.len() >= HEADER + len) else {
                tracing::warn!(lane = %self.lane_name, segment = id, offset = pos, bytes = rest.len(),
                    "spool: torn tail skipped");
                self.set_aside(dead, id, pos, rest, "torn-tail", report);
                break;
            };
            let crc = le32(&rest[4..HEADER]);
            let payload = &rest[HEADER..HEADER + len];
            if crc32fast::hash(payload) != crc || payload[0] != self.lane {
                tracing::warn!(lane = %self.lane_name, segment = id, offset = pos, "spool: corrupt record skipped");
                self.set_aside(dead, id, pos, &rest[..HEADER + len], "corrupt", report);
            } else {
                let records = le32(&payload[1..META]);
                self.pending.push_back(Record { segment: id, offset: pos as u64, len: len as u32, records });
                self.bytes += (HEADER + len) as u64;
                self.records += u64::from(records);
                report.records += u64::from(records);
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
        // The raw bytes as they were, for inspection; the file name says why.
        match dead.write(&self.lane_name, why, &[], raw, "spool.bin") {
            Ok(path) => {
                tracing::warn!(segment = id, offset = pos, path = %path.display(), "bad spool bytes copied")
            }
            Err(e) => tracing::error!(error = %e, "cannot copy a bad spool record to dead-letter"),
        }
    }

    /// Bytes of unacknowledged records.
    pub(crate) fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Records (of the target's kind: lines, rows) waiting in the spool.
    pub(crate) fn records(&self) -> u64 {
        self.records
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Appends and fsyncs a batch.
    pub(crate) fn append(&mut self, records: u32, body: &[u8]) -> Result<(), PathError> {
        let needs_new = self.active.as_ref().is_none_or(|(_, _, size)| *size >= SEGMENT_MAX);
        if needs_new {
            let id = self.next_segment;
            let path = seg_path(&self.dir, id);
            let file = OpenOptions::new()
                .append(true)
                .create_new(true)
                .open(&path)
                .map_err(|e| PathError::new(&path, e))?;
            // The new directory entry must survive a crash too.
            if let Ok(d) = File::open(&self.dir) {
                let _ = d.sync_all();
            }
            self.next_segment += 1;
            self.active = Some((id, file, 0));
        }
        let Some((id, file, size)) = self.active.as_mut() else {
            let e = std::io::Error::other("spool has no active segment");
            return Err(PathError::new(&self.dir, e));
        };
        let len = META + body.len();
        let mut record = Vec::with_capacity(HEADER + len);
        record.extend_from_slice(&(len as u32).to_le_bytes());
        record.extend_from_slice(&[0; 4]);
        record.push(self.lane);
        record.extend_from_slice(&records.to_le_bytes());
        record.extend_from_slice(body);
        let crc = crc32fast::hash(&record[HEADER..]);
        record[4..HEADER].copy_from_slice(&crc.to_le_bytes());
        let path = seg_path(&self.dir, *id);
        let offset = *size;
        let written = file.write_all(&record).and_then(|()| file.sync_data());
        if let Err(e) = written {
            // A partial record would hide everything appended after it: start a fresh segment
            // (on open, the partial one is a torn tail, set aside).
            self.active = None;
            return Err(PathError::new(path, e));
        }
        *size += record.len() as u64;
        *self.segments.entry(*id).or_default() += 1;
        self.pending.push_back(Record { segment: *id, offset, len: len as u32, records });
        self.bytes += record.len() as u64;
        self.records += u64::from(records);
        Ok(())
    }

    /// The oldest unacknowledged record.
    pub(crate) fn front(&self) -> Option<Record> {
        self.pending.front().copied()
    }

    /// Reads a record's body back, checking its CRC again (the disk may have changed since).
    pub(crate) fn read(&self, rec: Record) -> Result<Bytes, PathError> {
        let path = seg_path(&self.dir, rec.segment);
        let mut buf = vec![0u8; HEADER + rec.len as usize];
        let mut f = File::open(&path).map_err(|e| PathError::new(&path, e))?;
        f.seek(SeekFrom::Start(rec.offset))
            .and_then(|_| f.read_exact(&mut buf))
            .map_err(|e| PathError::new(&path, e))?;
        if crc32fast::hash(&buf[HEADER..]) != le32(&buf[4..HEADER]) {
            let e = std::io::Error::new(std::io::ErrorKind::InvalidData, "spool record CRC changed on disk");
            return Err(PathError::new(path, e));
        }
        Ok(Bytes::from(buf).split_off(HEADER + META))
    }

    /// Marks the oldest record delivered; deletes its segment once nothing in it is pending.
    pub(crate) fn ack_front(&mut self) -> Result<(), PathError> {
        let Some(rec) = self.pending.pop_front() else {
            return Ok(());
        };
        self.bytes = self.bytes.saturating_sub(HEADER as u64 + u64::from(rec.len));
        self.records = self.records.saturating_sub(u64::from(rec.records));
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
            std::fs::remove_file(&path).map_err(|e| PathError::new(path, e))?;
        }
        Ok(())
    }
}
