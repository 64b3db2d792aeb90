//! [`EventReader`]: packets from event files, over a time range, several symbols merged by
//! exchange time or local time.
//!
//! Files of one `(venue, symbol)` are read in name order (start, then suffix), which is the
//! order the writer wrote them; the streams of several symbols are merged k-way by the chosen
//! clock, ties going to the stream that sorts first by `(venue, symbol)`. The merge never
//! reorders one stream: if a venue's clock stepped back, its packets still come in the order
//! they were received. Chunks wholly outside the time range are skipped by their header
//! without being read.
//!
//! Damage never ends a read: a torn tail (a crash, or the writer still writing) is noted in
//! [`EventReader::issues`] and the next file follows; a damaged chunk is yielded as one
//! `Err(EventsError::Damaged { file, offset, .. })` and the read goes on at the next good chunk.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use md_core::{DataPacket, ExchangeId, Symbol, UnixNanos};

use crate::codec::{Cursor, RecordDecoder};
use crate::format::{open, ChunkHeader, FileHeader, HeaderError, CHUNK_HEADER_LEN, CHUNK_MAGIC};
use crate::naming::EventFileName;
use crate::EventsError;

/// The clock packets are ordered and filtered by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Order {
    /// `local_ts`: the order md received them in (what a backtest of md itself sees).
    #[default]
    LocalTime,
    /// `exchange_ts`: the venue's own clock.
    ExchangeTime,
}

impl Order {
    fn ts(self, packet: &DataPacket) -> UnixNanos {
        match self {
            Self::LocalTime => packet.local_ts,
            Self::ExchangeTime => packet.exchange_ts,
        }
    }
}

/// What to read.
#[derive(Debug, Clone, Default)]
pub struct EventQuery {
    /// Only this venue (`None`: every venue).
    pub exchange: Option<ExchangeId>,
    /// Only these symbols (`None`: every symbol).
    pub symbols: Option<Vec<Symbol>>,
    /// From this time on, inclusive, by the chosen clock.
    pub from: Option<UnixNanos>,
    /// Up to this time, exclusive, by the chosen clock.
    pub to: Option<UnixNanos>,
    /// The clock to order and filter by.
    pub order: Order,
}

impl EventQuery {
    fn wants(&self, exchange: ExchangeId, symbol: &Symbol) -> bool {
        self.exchange.is_none_or(|e| e == exchange)
            && self.symbols.as_ref().is_none_or(|s| s.contains(symbol))
    }

    fn in_range(&self, ts: UnixNanos) -> bool {
        self.from.is_none_or(|from| ts >= from) && self.to.is_none_or(|to| ts < to)
    }
}

/// Every event file in `dir` (by name), sorted by venue, symbol, then start.
pub fn list_files(dir: &Path) -> Result<Vec<(EventFileName, PathBuf)>, EventsError> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| EventsError::io(dir, e))? {
        let entry = entry.map_err(|e| EventsError::io(dir, e))?;
        let Some(name) = entry.file_name().to_str().and_then(EventFileName::parse) else { continue };
        files.push((name, entry.path()));
    }
    files.sort_by(|(a, _), (b, _)| {
        (a.exchange, &a.symbol, a.sort_key()).cmp(&(b.exchange, &b.symbol, b.sort_key()))
    });
    Ok(files)
}

/// Reads the chunks of one event file.
#[derive(Debug)]
pub struct FileReader {
    path: PathBuf,
    file: File,
    header: FileHeader,
    offset: u64,
    len: u64,
    done: bool,
}

/// What [`FileReader::open`] found.
#[derive(Debug)]
pub enum Opened {
    /// A file to read.
    File(FileReader),
    /// Nothing to read: the file ends inside its header (being created, or torn).
    Torn(EventsError),
}

impl FileReader {
    /// Opens a file and reads its header.
    pub fn open(path: &Path) -> Result<Opened, EventsError> {
        let mut file = File::open(path).map_err(|e| EventsError::io(path, e))?;
        let len = file.metadata().map_err(|e| EventsError::io(path, e))?.len();
        let mut head = Vec::with_capacity(1024);
        (&mut file).take(1024).read_to_end(&mut head).map_err(|e| EventsError::io(path, e))?;
        let (header, header_len) = match FileHeader::parse(&head) {
            Ok(h) => h,
            Err(HeaderError::Short) => {
                return Ok(Opened::Torn(EventsError::TornTail { file: path.to_path_buf(), offset: 0 }));
            }
            Err(HeaderError::Version(version)) => {
                return Err(EventsError::UnknownVersion { file: path.to_path_buf(), version });
            }
            Err(HeaderError::Bad(detail)) => {
                return Err(EventsError::Damaged { file: path.to_path_buf(), offset: 0, detail });
            }
        };
        Ok(Opened::File(Self {
            path: path.to_path_buf(),
            file,
            header,
            offset: header_len as u64,
            len,
            done: false,
        }))
    }

    /// The file's header.
    pub fn header(&self) -> &FileHeader {
        &self.header
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn io(&self, e: std::io::Error) -> EventsError {
        EventsError::io(&self.path, e)
    }

    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), EventsError> {
        self.file.seek(SeekFrom::Start(offset)).map_err(|e| self.io(e))?;
        self.file.read_exact(buf).map_err(|e| self.io(e))
    }

    /// The packets of the next chunk that may hold packets of `[from, to)` by the `order`
    /// clock (every chunk if both are `None`); `None` at the end of the file, or at a torn
    /// tail, which goes into `issues`.
    pub fn next_chunk(
        &mut self,
        order: Order,
        from: Option<UnixNanos>,
        to: Option<UnixNanos>,
        issues: &mut Vec<EventsError>,
    ) -> Option<Result<Vec<DataPacket>, EventsError>> {
        while !self.done {
            let offset = self.offset;
            let remaining = self.len.saturating_sub(offset);
            if remaining == 0 {
                self.done = true;
                return None;
            }
            if remaining < CHUNK_HEADER_LEN as u64 {
                self.done = true;
                issues.push(EventsError::TornTail { file: self.path.clone(), offset });
                return None;
            }
            let mut hb = [0u8; CHUNK_HEADER_LEN];
            if let Err(e) = self.read_at(offset, &mut hb) {
                self.done = true;
                return Some(Err(e));
            }
            let header = match ChunkHeader::parse(&hb) {
                Ok(h) => h,
                Err(detail) => return Some(Err(self.resync(offset, detail))),
            };
            if offset + header.chunk_len() > self.len {
                self.done = true;
                issues.push(EventsError::TornTail { file: self.path.clone(), offset });
                return None;
            }
            self.offset = offset + header.chunk_len();
            if !header.overlaps(order == Order::ExchangeTime, from, to) {
                continue;
            }
            let mut stored = vec![0u8; header.stored_len as usize];
            if let Err(e) = self.read_at(offset + CHUNK_HEADER_LEN as u64, &mut stored) {
                self.done = true;
                return Some(Err(e));
            }
            let damaged = |detail: String| EventsError::Damaged { file: self.path.clone(), offset, detail };
            let raw = match open(&header, &stored) {
                Ok(raw) => raw,
                Err(detail) => return Some(Err(damaged(detail))),
            };
            let mut decoder = RecordDecoder::new(self.header.exchange, self.header.symbol.clone());
            let mut cursor = Cursor::new(&raw);
            let mut packets = Vec::with_capacity(header.meta.records as usize);
            while !cursor.is_empty() {
                match decoder.decode(&mut cursor) {
                    Ok(p) => packets.push(p),
                    Err(e) => return Some(Err(damaged(e.to_string()))),
                }
            }
            if packets.len() != header.meta.records as usize {
                return Some(Err(damaged(format!(
                    "{} records decoded, header says {}",
                    packets.len(),
                    header.meta.records
                ))));
            }
            if from.is_some() || to.is_some() {
                let range = EventQuery { from, to, ..EventQuery::default() };
                packets.retain(|p| range.in_range(order.ts(p)));
            }
            return Some(Ok(packets));
        }
        None
    }

    /// After a chunk header at `offset` failed: finds the next good chunk header and goes on
    /// there (or ends the file); the damage is reported with where it starts.
    fn resync(&mut self, offset: u64, detail: String) -> EventsError {
        let damaged = EventsError::Damaged { file: self.path.clone(), offset, detail };
        let mut rest = vec![0u8; (self.len - offset) as usize];
        if let Err(e) = self.read_at(offset, &mut rest) {
            self.done = true;
            return e;
        }
        let mut at = 1;
        while let Some(found) = find(&rest[at..], &CHUNK_MAGIC) {
            let start = at + found;
            if let Some(hb) = rest.get(start..start + CHUNK_HEADER_LEN) {
                let mut b = [0u8; CHUNK_HEADER_LEN];
                b.copy_from_slice(hb);
                if ChunkHeader::parse(&b).is_ok() {
                    self.offset = offset + start as u64;
                    return damaged;
                }
            }
            at = start + 1;
        }
        self.done = true;
        damaged
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// One `(venue, symbol)`: its files in order.
#[derive(Debug)]
struct StreamReader {
    files: VecDeque<PathBuf>,
    current: Option<FileReader>,
    buffer: VecDeque<DataPacket>,
}

/// Packets of event files, merged by the query's clock (see the module docs).
#[derive(Debug)]
pub struct EventReader {
    query: EventQuery,
    files: Vec<PathBuf>,
    streams: Vec<StreamReader>,
    heads: Vec<Option<DataPacket>>,
    heap: BinaryHeap<Reverse<(UnixNanos, usize)>>,
    errors: VecDeque<EventsError>,
    issues: Vec<EventsError>,
    primed: bool,
}

impl EventReader {
    /// Lists the event files of `dir` the query wants; reading starts at the first `next`.
    pub fn open(dir: impl AsRef<Path>, query: EventQuery) -> Result<Self, EventsError> {
        let mut streams: Vec<((ExchangeId, Symbol), StreamReader)> = Vec::new();
        let mut files = Vec::new();
        for (name, path) in list_files(dir.as_ref())? {
            if !query.wants(name.exchange, &name.symbol) {
                continue;
            }
            files.push(path.clone());
            let key = (name.exchange, name.symbol);
            match streams.last_mut() {
                Some((k, stream)) if *k == key => stream.files.push_back(path),
                _ => streams.push((
                    key,
                    StreamReader { files: VecDeque::from([path]), current: None, buffer: VecDeque::new() },
                )),
            }
        }
        let streams: Vec<StreamReader> = streams.into_iter().map(|(_, s)| s).collect();
        Ok(Self {
            query,
            files,
            heads: (0..streams.len()).map(|_| None).collect(),
            streams,
            heap: BinaryHeap::new(),
            errors: VecDeque::new(),
            issues: Vec::new(),
            primed: false,
        })
    }

    /// The files it reads, in the order of their streams.
    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }

    /// Torn tails met so far (partial chunks at the end of a file, skipped).
    pub fn issues(&self) -> &[EventsError] {
        &self.issues
    }

    /// Puts stream `i`'s next packet at the head of the merge.
    fn refill(&mut self, i: usize) {
        let Self { query, streams, heads, heap, errors, issues, .. } = self;
        let stream = &mut streams[i];
        loop {
            if let Some(packet) = stream.buffer.pop_front() {
                heap.push(Reverse((query.order.ts(&packet), i)));
                heads[i] = Some(packet);
                return;
            }
            if let Some(file) = stream.current.as_mut() {
                match file.next_chunk(query.order, query.from, query.to, issues) {
                    Some(Ok(packets)) => {
                        let header = file.header();
                        if !query.wants(header.exchange, &header.symbol) {
                            continue;
                        }
                        stream.buffer.extend(packets);
                    }
                    Some(Err(e)) => errors.push_back(e),
                    None => stream.current = None,
                }
                continue;
            }
            let Some(path) = stream.files.pop_front() else { return };
            match FileReader::open(&path) {
                Ok(Opened::File(file)) => stream.current = Some(file),
                Ok(Opened::Torn(e)) => issues.push(e),
                Err(e) => errors.push_back(e),
            }
        }
    }
}

impl Iterator for EventReader {
    type Item = Result<DataPacket, EventsError>;

    fn next(&mut self) -> Option<Self::Item> {
        if !self.primed {
            self.primed = true;
            for i in 0..self.streams.len() {
                self.refill(i);
            }
        }
        if let Some(e) = self.errors.pop_front() {
            return Some(Err(e));
        }
        let Reverse((_, i)) = self.heap.pop()?;
        let packet = self.heads[i].take();
        self.refill(i);
        packet.map(Ok)
    }
}
