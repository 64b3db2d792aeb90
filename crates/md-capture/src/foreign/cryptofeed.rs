//! cryptofeed's `raw_data_collection` files (`AsyncFileCallback`, cryptofeed @ce58c2a0).
//!
//! Documented by its source (`cryptofeed/raw_data_collection.py`): one text file per
//! connection id, `<path>/<uuid>.<rotation>`, lines
//! `f"{timestamp}: {data}"` (received), `f"{send} <- {timestamp}: {data}"` (sent),
//! `f"{connect} <-> {timestamp}"` (connect), `f"{endpoint} -> {timestamp}: {data}"` or
//! `… header: {json.dumps(header)}` (REST), and `configuration: {data}` written into
//! `<feed>.0`; `timestamp` is Python's `str(float)` of `time.time()`, binary frames are
//! `str(bytes)`, i.e. the `b'…'` repr. cryptofeed's own `playback` tells files apart by name
//! (`.ws.` connection, `http` REST, neither: listing and configuration); so does this reader,
//! and a file with a connect line is a connection whatever its name.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use md_core::{
    Channel, ConnId, DisconnectReason, ExchangeId, RawEvent, RawKind, SymbolInfo, Symbols, UnixNanos,
    WsMessage,
};
use serde::de::IgnoredAny;
use serde_json::Value;

use super::lines::LineReader;
use super::pybytes::parse_python_bytes;
use super::time::{parse_decimal_seconds_ns, snippet};
use super::venue::{self, Namer, CRYPTOFEED_NAMES};
use super::{Events, ForeignError};

/// One line of a cryptofeed file.
#[derive(Debug, PartialEq, Eq)]
enum CfLine<'a> {
    Blank,
    Config(&'a str),
    Connect { url: &'a str, ts: UnixNanos },
    Sent { ts: UnixNanos, data: &'a str },
    Received { ts: UnixNanos, data: &'a str },
    Rest { url: &'a str, ts: UnixNanos, body: &'a str },
}

fn parse_line(line: &str) -> Result<CfLine<'_>, String> {
    if line.trim().is_empty() {
        return Ok(CfLine::Blank);
    }
    if let Some(config) = line.strip_prefix("configuration: ") {
        return Ok(CfLine::Config(config));
    }
    if line.starts_with(|c: char| c.is_ascii_digit()) {
        let Some((ts, data)) = line.split_once(": ") else {
            return Err(format!("a received line is \"<ts>: <message>\"; got {:?}", snippet(line)));
        };
        return Ok(CfLine::Received { ts: parse_decimal_seconds_ns(ts)?, data });
    }
    let not_cryptofeed = || format!("not a cryptofeed raw line: {:?}", snippet(line));
    let (url, rest) = line.split_once(' ').ok_or_else(not_cryptofeed)?;
    if !url.contains("://") {
        return Err(not_cryptofeed());
    }
    if let Some(ts) = rest.strip_prefix("<-> ") {
        return Ok(CfLine::Connect { url, ts: parse_decimal_seconds_ns(ts)? });
    }
    let timed = |rest| -> Result<(UnixNanos, &str), String> {
        let (ts, data) = split_timed(rest).ok_or_else(not_cryptofeed)?;
        Ok((parse_decimal_seconds_ns(ts)?, data))
    };
    if let Some(rest) = rest.strip_prefix("<- ") {
        let (ts, data) = timed(rest)?;
        return Ok(CfLine::Sent { ts, data });
    }
    if let Some(rest) = rest.strip_prefix("-> ") {
        let (ts, body) = timed(rest)?;
        return Ok(CfLine::Rest { url, ts, body: strip_header(body) });
    }
    Err(not_cryptofeed())
}

/// `<ts>: <rest>` split at its first `: `.
fn split_timed(text: &str) -> Option<(&str, &str)> {
    text.split_once(": ")
}

/// A REST line's body without the ` header: {json}` cryptofeed may append: the JSON body ends
/// where its first value does; a body that is no JSON loses only a trailing header.
fn strip_header(text: &str) -> &str {
    let mut values = serde_json::Deserializer::from_str(text).into_iter::<IgnoredAny>();
    if let Some(Ok(_)) = values.next() {
        let end = values.byte_offset();
        let rest = &text[end..];
        if rest.trim().is_empty() {
            return text;
        }
        if rest.starts_with(" header: ") {
            return &text[..end];
        }
    }
    match text.rsplit_once(" header: ") {
        Some((body, header)) if header.trim_start().starts_with('{') => body,
        _ => text,
    }
}

/// Whether a line is one of cryptofeed's (used by [`super::detect`]).
pub(crate) fn looks_like(line: &str) -> bool {
    matches!(parse_line(line), Ok(line) if line != CfLine::Blank)
}

/// A received or sent message: a Python bytes literal is a binary frame of exactly its bytes,
/// anything else a text frame.
fn message(data: &str) -> Result<WsMessage, String> {
    if data.starts_with("b'") || data.starts_with("b\"") || data.starts_with("B'") || data.starts_with("B\"")
    {
        return parse_python_bytes(data).map(|bytes| WsMessage::Binary(Bytes::from(bytes)));
    }
    Ok(WsMessage::Text(Bytes::copy_from_slice(data.as_bytes())))
}

fn message_symbols(exchange: ExchangeId, data: &str, out: &mut Vec<String>) {
    match message(data) {
        Ok(WsMessage::Binary(bytes)) => venue::binary_symbols(exchange, &bytes, out),
        _ => venue::text_symbols(exchange, data, out),
    }
}

/// The venue of the files, from the names cryptofeed gives them (`<FEED>.ws.1.0`).
pub(crate) fn venue_of(paths: &[PathBuf]) -> Result<ExchangeId, ForeignError> {
    let supported =
        || CRYPTOFEED_NAMES.iter().map(|(name, id)| format!("{name} ({id})")).collect::<Vec<_>>().join(", ");
    let mut venue: Option<(ExchangeId, &Path)> = None;
    for path in paths {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        let feed = name.split('.').next().unwrap_or_default();
        let looks_like_feed = !feed.is_empty() && feed.bytes().all(|b| b.is_ascii_uppercase() || b == b'_');
        if !looks_like_feed {
            return Err(ForeignError::Input {
                detail: format!(
                    "{}: cannot tell the venue from the file name (cryptofeed names files <FEED>.ws.<n>.<k>, \
                     <FEED>.http.<n>.<k>, <FEED>.0); say it with read_cryptofeed_as",
                    path.display()
                ),
            });
        }
        let Some(&(_, id)) = CRYPTOFEED_NAMES.iter().find(|(n, _)| *n == feed) else {
            return Err(ForeignError::Unsupported {
                what: format!("cryptofeed feed {feed} ({})", path.display()),
                supported: supported(),
            });
        };
        match venue {
            Some((other, other_path)) if other != id => {
                return Err(ForeignError::Input {
                    detail: format!(
                        "files of two venues: {} is {other}, {} is {id}; read them one venue at a time",
                        other_path.display(),
                        path.display()
                    ),
                });
            }
            _ => venue = Some((id, path)),
        }
    }
    venue.map(|(id, _)| id).ok_or_else(|| ForeignError::Input { detail: "no cryptofeed file given".into() })
}

/// What [`open`] gives the reader.
pub(crate) struct Opened {
    pub(crate) listing: Arc<Symbols>,
    pub(crate) channels: Vec<Channel>,
    pub(crate) events: Events,
}

/// The files of one connection (its rotated parts in order), or one REST/listing file.
struct Group {
    files: Vec<PathBuf>,
    ws: bool,
}

/// A file's connection and its rotation number: `BINANCE.ws.1.3[.gz]` → (`BINANCE.ws.1`, 3).
fn rotation(path: &Path) -> (PathBuf, u64) {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    let name = name.strip_suffix(".gz").unwrap_or(name);
    if let Some((stem, k)) = name.rsplit_once('.') {
        if let Ok(k) = k.parse::<u64>() {
            return (path.with_file_name(stem), k);
        }
    }
    (path.with_file_name(name), 0)
}

fn groups(paths: &[PathBuf]) -> Vec<Group> {
    let mut groups: Vec<(PathBuf, Vec<(u64, PathBuf)>)> = Vec::new();
    for path in paths {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if !name.contains(".ws.") {
            groups.push((path.clone(), vec![(0, path.clone())]));
            continue;
        }
        let (stem, k) = rotation(path);
        match groups.iter_mut().find(|(s, _)| *s == stem) {
            Some((_, files)) => files.push((k, path.clone())),
            None => groups.push((stem, vec![(k, path.clone())])),
        }
    }
    groups
        .into_iter()
        .map(|(_, mut files)| {
            files.sort_by_key(|(k, _)| *k);
            let ws = files
                .iter()
                .any(|(_, p)| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.contains(".ws.")));
            Group { files: files.into_iter().map(|(_, p)| p).collect(), ws }
        })
        .collect()
}

/// What the first pass learns of one group.
#[derive(Default)]
struct Scan {
    natives: BTreeSet<String>,
    url: Option<String>,
    connects: bool,
    first_ts: Option<UnixNanos>,
}

fn channel(name: &str) -> Option<Channel> {
    match name {
        "trades" => Some(Channel::Trades),
        "l2_book" | "l3_book" | "book" => Some(Channel::Book),
        _ => None,
    }
}

/// The first pass: symbols, names, URLs, channels; then the reader.
pub(crate) fn open(paths: &[PathBuf], exchange: ExchangeId) -> Result<Opened, ForeignError> {
    let mut groups = groups(paths);
    let mut namer = Namer::new(exchange);
    let mut channels = BTreeSet::new();
    let mut scans = Vec::with_capacity(groups.len());
    let mut rest_natives = Vec::new();
    let mut listing_lines = HashSet::new();
    let mut first_ts: Option<UnixNanos> = None;
    let mut found = Vec::new();
    for group in &groups {
        let mut scan = Scan::default();
        for path in &group.files {
            let mut lines = LineReader::open(path)?;
            while let Some((number, line)) = lines.next_line() {
                let Ok(line) = line else { continue };
                let Ok(parsed) = parse_line(&line) else { continue };
                found.clear();
                let ts = match parsed {
                    CfLine::Blank => None,
                    CfLine::Config(text) => {
                        if let Ok(config) = serde_json::from_str::<Value>(text) {
                            namer.add_config(&config);
                            if let Value::Object(map) = &config {
                                channels.extend(map.keys().filter_map(|k| channel(k)));
                            }
                        }
                        None
                    }
                    CfLine::Connect { url, ts } => {
                        scan.connects = true;
                        scan.url.get_or_insert_with(|| url.to_owned());
                        venue::url_symbols(exchange, url, &mut found);
                        Some(ts)
                    }
                    CfLine::Sent { ts, data } => {
                        message_symbols(exchange, data, &mut found);
                        Some(ts)
                    }
                    CfLine::Received { ts, data } if group.ws => {
                        message_symbols(exchange, data, &mut found);
                        Some(ts)
                    }
                    CfLine::Received { data, .. } => {
                        // A listing/configuration file's symbol data, written without an endpoint
                        // (its symbols count in case a connect line makes it a connection file).
                        if !namer.add_listing(data) {
                            message_symbols(exchange, data, &mut found);
                        }
                        None
                    }
                    CfLine::Rest { url, ts, body } => match venue::rest_symbol(exchange, url) {
                        Some(native) => {
                            rest_natives.push(native);
                            Some(ts)
                        }
                        None => {
                            if namer.add_listing(body) {
                                listing_lines.insert((path.clone(), number));
                            }
                            None
                        }
                    },
                };
                if let Some(ts) = ts {
                    scan.first_ts.get_or_insert(ts);
                    first_ts = Some(first_ts.map_or(ts, |t| t.min(ts)));
                }
                scan.natives.extend(found.drain(..));
            }
        }
        scans.push(scan);
    }
    for (group, scan) in groups.iter_mut().zip(&scans) {
        group.ws |= scan.connects;
    }

    // Slots: one per connection, in the order the files were given.
    let mut slots: Vec<Slot> = Vec::new();
    let mut slot_of_group = vec![None; groups.len()];
    for (i, (group, scan)) in groups.iter().zip(&scans).enumerate() {
        if group.ws {
            slot_of_group[i] = Some(slots.len());
            slots.push(Slot::new(slots.len() as u64 + 1, scan.url.clone(), scan.natives.clone(), true));
            if exchange == ExchangeId::Bybit {
                if let Some(url) = scan.url.as_deref().filter(|u| !u.contains("/v5/public/spot")) {
                    tracing::warn!(
                        %url,
                        "cryptofeed BYBIT connection to a non-spot or pre-v5 endpoint: md's Bybit parser reads \
                         v5 spot frames, it will refuse these"
                    );
                }
            }
        }
    }
    // REST snapshots go to the connection carrying their symbol, else to the first one.
    let mut rest_slot = HashMap::new();
    for native in rest_natives {
        if rest_slot.contains_key(&native) {
            continue;
        }
        let index = match slots.iter().position(|s| s.natives.contains(&native)) {
            Some(index) => index,
            None => {
                if slots.is_empty() {
                    slots.push(Slot::new(1, None, BTreeSet::new(), false));
                }
                slots[0].natives.insert(native.clone());
                0
            }
        };
        rest_slot.insert(native, index);
    }
    for slot in &mut slots {
        slot.infos = slot
            .natives
            .iter()
            .map(|native| SymbolInfo { symbol: namer.name(native), native: native.clone(), trading: true })
            .collect();
    }
    let listing = Arc::new(Symbols::new(slots.iter().flat_map(|s| s.infos.iter().cloned())));
    let sources = groups
        .into_iter()
        .zip(slot_of_group)
        .map(|(group, slot)| Source {
            files: group.files.into(),
            reader: None,
            slot,
            head: None,
            done: false,
        })
        .collect();
    let stream = CryptofeedStream {
        exchange,
        listing: Arc::clone(&listing),
        first_ts,
        sources,
        slots,
        rest_slot,
        listing_lines,
        next_conn: 1,
        started: false,
        finished: false,
        out: VecDeque::new(),
    };
    Ok(Opened { listing, channels: channels.into_iter().collect(), events: Box::new(stream) })
}

/// One connection's state.
struct Slot {
    id: u64,
    url: Option<String>,
    natives: BTreeSet<String>,
    infos: Vec<SymbolInfo>,
    /// Whether a connection file backs it (else it only carries REST snapshots).
    ws: bool,
    task_done: bool,
    session: Option<ConnId>,
    last_ts: UnixNanos,
    pending: Vec<(UnixNanos, RawKind)>,
}

impl Slot {
    fn new(id: u64, url: Option<String>, natives: BTreeSet<String>, ws: bool) -> Self {
        Self {
            id,
            url,
            natives,
            infos: Vec::new(),
            ws,
            task_done: false,
            session: None,
            last_ts: 0,
            pending: Vec::new(),
        }
    }
}

/// A line read ahead from a source, waiting for its turn in time.
struct Timed {
    ts: UnixNanos,
    path: Arc<Path>,
    line: u64,
    item: Item,
}

enum Item {
    Connect { url: String },
    Sent(WsMessage),
    Received(WsMessage),
    Rest { native: String, url: String, body: String },
}

/// One group's files, read line by line.
struct Source {
    files: VecDeque<PathBuf>,
    reader: Option<LineReader>,
    /// The slot of a connection group; `None` for REST/listing files.
    slot: Option<usize>,
    head: Option<Timed>,
    done: bool,
}

struct CryptofeedStream {
    exchange: ExchangeId,
    listing: Arc<Symbols>,
    first_ts: Option<UnixNanos>,
    sources: Vec<Source>,
    slots: Vec<Slot>,
    rest_slot: HashMap<String, usize>,
    listing_lines: HashSet<(PathBuf, u64)>,
    next_conn: u64,
    started: bool,
    finished: bool,
    out: VecDeque<Result<RawEvent, ForeignError>>,
}

impl CryptofeedStream {
    fn push(&mut self, slot: u64, conn: ConnId, local_ts: UnixNanos, kind: RawKind) {
        let mono_ns = u64::try_from(local_ts).unwrap_or_default();
        self.out.push_back(Ok(RawEvent { exchange: self.exchange, slot, conn, local_ts, mono_ns, kind }));
    }

    fn error(&mut self, path: &Path, line: u64, detail: impl Into<String>) {
        self.out.push_back(Err(ForeignError::line_error(path, line, detail)));
    }

    /// Reads the source's next timed line into its head (errors go out as they are met).
    fn advance(&mut self, index: usize) {
        let ws = self.sources[index].slot.is_some();
        loop {
            let source = &mut self.sources[index];
            if source.done {
                return;
            }
            if source.reader.is_none() {
                let Some(path) = source.files.pop_front() else {
                    source.done = true;
                    return;
                };
                match LineReader::open(&path) {
                    Ok(reader) => source.reader = Some(reader),
                    Err(e) => self.out.push_back(Err(e)),
                }
                continue;
            }
            let Some(reader) = source.reader.as_mut() else { continue };
            let path = Arc::clone(reader.path());
            let (number, line) = match reader.next_line() {
                None => {
                    source.reader = None;
                    continue;
                }
                Some((_, Err(e))) => {
                    self.out.push_back(Err(e));
                    continue;
                }
                Some((number, Ok(line))) => (number, line),
            };
            let parsed = match parse_line(&line) {
                Ok(parsed) => parsed,
                Err(detail) => {
                    self.error(&path, number, detail);
                    continue;
                }
            };
            let timed = |ts, item| Some(Timed { ts, path: Arc::clone(&path), line: number, item });
            let head = match parsed {
                CfLine::Blank | CfLine::Config(_) => None,
                CfLine::Connect { url, ts } if ws => timed(ts, Item::Connect { url: url.to_owned() }),
                CfLine::Sent { ts, data } if ws => match message(data) {
                    Ok(msg) => timed(ts, Item::Sent(msg)),
                    Err(detail) => {
                        self.error(&path, number, detail);
                        None
                    }
                },
                CfLine::Received { ts, data } if ws => match message(data) {
                    Ok(msg) => timed(ts, Item::Received(msg)),
                    Err(detail) => {
                        self.error(&path, number, detail);
                        None
                    }
                },
                // A listing file's own lines: read for names in the first pass.
                CfLine::Connect { .. } | CfLine::Sent { .. } | CfLine::Received { .. } => None,
                CfLine::Rest { url, ts, body } => match venue::rest_symbol(self.exchange, url) {
                    Some(native) => {
                        timed(ts, Item::Rest { native, url: url.to_owned(), body: body.to_owned() })
                    }
                    None if self.listing_lines.contains(&(path.to_path_buf(), number)) => None,
                    None => {
                        let detail = format!(
                            "REST response for {url} names no symbol (no symbol= in the URL) and is no \
                             listing: not a book snapshot md can use; skipped"
                        );
                        self.error(&path, number, detail);
                        None
                    }
                },
            };
            if let Some(head) = head {
                self.sources[index].head = Some(head);
                return;
            }
        }
    }

    fn ensure_task(&mut self, index: usize, ts: UnixNanos) {
        if self.slots[index].task_done {
            return;
        }
        self.slots[index].task_done = true;
        let slot = &self.slots[index];
        let (id, url, added) = (slot.id, slot.url.clone().unwrap_or_default(), slot.infos.clone());
        self.push(id, ConnId(0), ts, RawKind::Task { url });
        self.push(id, ConnId(0), ts, RawKind::Symbols { added, announced: false });
    }

    /// Opens a session on the slot (closing the open one, a reconnect) and flushes what waited.
    fn connect(&mut self, index: usize, ts: UnixNanos, url: String, why: Option<String>) -> ConnId {
        if let (Some(conn), Some(detail)) = (self.slots[index].session, why) {
            let (id, last) = (self.slots[index].id, self.slots[index].last_ts);
            self.push(
                id,
                conn,
                last,
                RawKind::Disconnected(DisconnectReason::ClosedByVenue { close_code: None, detail }),
            );
        }
        self.ensure_task(index, ts);
        let conn = ConnId(self.next_conn);
        self.next_conn += 1;
        let id = self.slots[index].id;
        self.slots[index].session = Some(conn);
        self.slots[index].last_ts = ts;
        self.push(id, conn, ts, RawKind::Connected { url });
        for (ts, kind) in std::mem::take(&mut self.slots[index].pending) {
            self.slots[index].last_ts = self.slots[index].last_ts.max(ts);
            self.push(id, conn, ts, kind);
        }
        conn
    }

    /// The slot's open session, opening one (with the slot's URL) when none is.
    fn session(&mut self, index: usize, ts: UnixNanos) -> ConnId {
        match self.slots[index].session {
            Some(conn) => conn,
            None => {
                let url = self.slots[index].url.clone().unwrap_or_default();
                self.connect(index, ts, url, None)
            }
        }
    }

    fn emit(&mut self, index: usize, ts: UnixNanos, kind: RawKind) {
        let conn = self.session(index, ts);
        let slot = &mut self.slots[index];
        slot.last_ts = slot.last_ts.max(ts);
        let id = slot.id;
        self.push(id, conn, ts, kind);
    }

    fn handle(&mut self, source: usize, timed: Timed) {
        let Timed { ts, path, line, item } = timed;
        match item {
            Item::Connect { url } => {
                let Some(index) = self.sources[source].slot else { return };
                let why = format!("reconnected (cryptofeed connect line {}:{line})", path.display());
                self.connect(index, ts, url, Some(why));
            }
            Item::Sent(msg) => {
                if let Some(index) = self.sources[source].slot {
                    self.emit(index, ts, RawKind::Sent(msg));
                }
            }
            Item::Received(msg) => {
                if let Some(index) = self.sources[source].slot {
                    self.emit(index, ts, RawKind::Received(msg));
                }
            }
            Item::Rest { native, url, body } => {
                let Some(&index) = self.rest_slot.get(&native) else { return };
                let symbol = self.listing.canonical_or_guess(&native);
                let kind = RawKind::Rest { symbol, url, body };
                let slot = &mut self.slots[index];
                if slot.session.is_some() || !slot.ws {
                    self.emit(index, ts, kind);
                } else {
                    slot.pending.push((ts, kind));
                }
            }
        }
    }

    fn finish(&mut self) {
        for index in 0..self.slots.len() {
            if !self.slots[index].pending.is_empty() {
                let ts = self.slots[index].pending.iter().map(|(ts, _)| *ts).min().unwrap_or_default();
                self.session(index, ts);
            }
            if let Some(conn) = self.slots[index].session.take() {
                let (id, last) = (self.slots[index].id, self.slots[index].last_ts);
                self.push(id, conn, last, RawKind::Disconnected(DisconnectReason::Cancelled));
            }
        }
        self.finished = true;
    }
}

impl Iterator for CryptofeedStream {
    type Item = Result<RawEvent, ForeignError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(item) = self.out.pop_front() {
                return Some(item);
            }
            if self.finished {
                return None;
            }
            if !self.started {
                self.started = true;
                if let Some(ts) = self.first_ts {
                    self.push(0, ConnId(0), ts, RawKind::Listing(Arc::clone(&self.listing)));
                }
                for index in 0..self.sources.len() {
                    self.advance(index);
                }
                continue;
            }
            let next =
                self.sources.iter().enumerate().filter_map(|(i, s)| s.head.as_ref().map(|h| (h.ts, i))).min();
            let Some((_, index)) = next else {
                self.finish();
                continue;
            };
            if let Some(timed) = self.sources[index].head.take() {
                self.handle(index, timed);
            }
            self.advance(index);
        }
    }
}
