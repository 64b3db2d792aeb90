//! tardis.dev captures: tardis-machine `/replay` NDJSON and the tardis HTTP API / cache lines.
//!
//! Documented (tardis-machine `src/http/replay.ts`, README; tardis-node `src/replay.ts`):
//! `/replay` writes `{"localTimestamp":"<ISO 8601, 100 ns>","message":<the message as the
//! exchange sent it>}` per line and a bare newline where the recorder's connection dropped; the
//! HTTP API and tardis-node's gzipped cache slices hold `<28-character ISO 8601 time> <message>`
//! lines with the same empty-line disconnects. Binance REST snapshots are stored in the stream as
//! `{"stream":"<symbol>@depthSnapshot","generated":true,"data":{…}}` (docs.tardis.dev,
//! historical data details, Binance); tardis-node builds them as `data: <the parsed REST body>`,
//! so `data` is the REST body of `GET /api/v3/depth`. HTX full-image `depth` pushes are stored
//! as an initial image and then diffs tardis computed, marked `"update":true` (docs.tardis.dev,
//! Huobi).

use std::collections::{BTreeSet, HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use md_core::{
    ConnId, DisconnectReason, ExchangeId, RawEvent, RawKind, SymbolInfo, Symbols, UnixNanos, WsMessage,
};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::lines::LineReader;
use super::time::{parse_iso8601_ns, snippet};
use super::venue::{self, Namer};
use super::{Events, ForeignError};

/// Whether a line is one of tardis' (used by [`super::detect`]).
pub(crate) fn looks_like(line: &str) -> bool {
    split(line).is_ok()
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(rename = "localTimestamp")]
    local_timestamp: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    message: &'a RawValue,
}

/// One non-empty line: its receive time and the message's exact text.
fn split(line: &str) -> Result<(UnixNanos, &str), String> {
    if line.starts_with('{') {
        let envelope: Envelope<'_> = serde_json::from_str(line)
            .map_err(|e| format!("not a tardis line ({{\"localTimestamp\":…,\"message\":…}}): {e}"))?;
        let ts = parse_iso8601_ns(&envelope.local_timestamp)?;
        return Ok((ts, envelope.message.get()));
    }
    let Some((time, message)) = line.split_once(' ') else {
        return Err(format!(
            "not a tardis line (neither NDJSON nor \"<ISO time> <message>\"): {:?}",
            snippet(line)
        ));
    };
    let ts = parse_iso8601_ns(time)?;
    serde_json::from_str::<&RawValue>(message).map_err(|e| format!("the message is not JSON: {e}"))?;
    Ok((ts, message))
}

/// The fields of a message that say tardis made it up.
#[derive(Deserialize)]
struct Generated<'a> {
    #[serde(default)]
    generated: bool,
    #[serde(default, borrow)]
    stream: Option<std::borrow::Cow<'a, str>>,
    #[serde(default, borrow)]
    data: Option<&'a RawValue>,
    #[serde(default)]
    update: Option<serde_json::Value>,
    #[serde(default, borrow)]
    ch: Option<std::borrow::Cow<'a, str>>,
}

/// What one message becomes.
enum Message<'a> {
    /// A frame as the venue sent it.
    Frame,
    /// A Binance REST snapshot tardis stored in the stream.
    Snapshot { native: String, body: &'a str },
    /// Made up by tardis with no wire form md parses: skipped (`kind` names it once).
    Skipped { kind: String },
}

fn classify(exchange: ExchangeId, message: &str) -> Message<'_> {
    let maybe_generated = message.contains("\"generated\"");
    let maybe_diff = exchange == ExchangeId::Huobi && message.contains("\"update\"");
    if !maybe_generated && !maybe_diff {
        return Message::Frame;
    }
    let Ok(meta) = serde_json::from_str::<Generated<'_>>(message) else {
        return Message::Frame;
    };
    if meta.generated {
        let stream = meta.stream.as_deref().unwrap_or_default();
        if exchange == ExchangeId::Binance {
            if let (Some(market), Some(data)) = (stream.strip_suffix("@depthSnapshot"), meta.data) {
                if let Some(native) = venue::native(exchange, market) {
                    return Message::Snapshot { native, body: data.get() };
                }
            }
        }
        let kind = stream.split_once('@').map_or(stream, |(_, kind)| kind);
        return Message::Skipped { kind: format!("generated message {kind:?}") };
    }
    if maybe_diff && meta.update.as_ref().and_then(serde_json::Value::as_bool) == Some(true) {
        if let Some(ch) = meta.ch.as_deref().filter(|ch| ch.contains(".depth.")) {
            return Message::Skipped { kind: format!("HTX depth diff of {ch}") };
        }
    }
    Message::Frame
}

/// Symbols of a message: those its frame names, and a generated snapshot's.
fn symbols_of(exchange: ExchangeId, message: &str, out: &mut Vec<String>) {
    match classify(exchange, message) {
        Message::Snapshot { native, .. } => out.push(native),
        _ => venue::text_symbols(exchange, message, out),
    }
}

/// Opens the files for reading: the first pass (the symbols) is done here.
pub(crate) fn open(paths: &[PathBuf], exchange: ExchangeId) -> Result<(Arc<Symbols>, Events), ForeignError> {
    let mut natives = BTreeSet::new();
    let mut first_ts = None;
    let mut found = Vec::new();
    for path in paths {
        let mut lines = LineReader::open(path)?;
        while let Some((_, line)) = lines.next_line() {
            let Ok(line) = line else { continue };
            if line.is_empty() {
                continue;
            }
            if let Ok((ts, message)) = split(&line) {
                first_ts.get_or_insert(ts);
                found.clear();
                symbols_of(exchange, message, &mut found);
                natives.extend(found.drain(..));
            }
        }
    }
    let namer = Namer::new(exchange);
    let infos: Vec<SymbolInfo> = natives
        .into_iter()
        .map(|native| SymbolInfo { symbol: namer.name(&native), native, trading: true })
        .collect();
    let listing = Arc::new(Symbols::new(infos.iter().cloned()));
    let stream = TardisStream {
        exchange,
        paths: paths.to_vec(),
        next_path: 0,
        lines: None,
        listing: Arc::clone(&listing),
        infos,
        first_ts,
        started: false,
        session: None,
        next_conn: 1,
        last_ts: 0,
        skipped_kinds: HashSet::new(),
        out: VecDeque::new(),
        finished: false,
    };
    Ok((listing, Box::new(stream)))
}

/// The tardis slot: one connection.
const SLOT: u64 = 1;

/// The Binance REST request tardis' recorder makes for a snapshot (tardis-node's real-time
/// feed: `/depth?symbol=<SYMBOL>&limit=1000`): the URL is not stored, this stands in for it.
fn snapshot_url(native: &str) -> String {
    format!("https://api.binance.com/api/v3/depth?symbol={native}&limit=1000")
}

struct TardisStream {
    exchange: ExchangeId,
    paths: Vec<PathBuf>,
    next_path: usize,
    lines: Option<LineReader>,
    listing: Arc<Symbols>,
    infos: Vec<SymbolInfo>,
    first_ts: Option<UnixNanos>,
    started: bool,
    session: Option<ConnId>,
    next_conn: u64,
    last_ts: UnixNanos,
    skipped_kinds: HashSet<String>,
    out: VecDeque<Result<RawEvent, ForeignError>>,
    finished: bool,
}

impl TardisStream {
    fn push(&mut self, slot: u64, conn: ConnId, local_ts: UnixNanos, kind: RawKind) {
        let mono_ns = u64::try_from(local_ts).unwrap_or_default();
        self.out.push_back(Ok(RawEvent { exchange: self.exchange, slot, conn, local_ts, mono_ns, kind }));
    }

    fn start(&mut self) {
        self.started = true;
        let Some(ts) = self.first_ts else {
            return;
        };
        self.push(0, ConnId(0), ts, RawKind::Listing(Arc::clone(&self.listing)));
        self.push(SLOT, ConnId(0), ts, RawKind::Task { url: String::new() });
        let added = self.infos.clone();
        self.push(SLOT, ConnId(0), ts, RawKind::Symbols { added, announced: false });
    }

    fn disconnect(&mut self, reason: DisconnectReason) {
        if let Some(conn) = self.session.take() {
            self.push(SLOT, conn, self.last_ts, RawKind::Disconnected(reason));
        }
    }

    fn session(&mut self, ts: UnixNanos) -> ConnId {
        if let Some(conn) = self.session {
            return conn;
        }
        let conn = ConnId(self.next_conn);
        self.next_conn += 1;
        self.session = Some(conn);
        self.push(SLOT, conn, ts, RawKind::Connected { url: String::new() });
        conn
    }

    fn line(&mut self, path: &Path, number: u64, line: &str) {
        if line.is_empty() {
            let detail = format!("disconnect recorded by tardis (empty line) at {}:{number}", path.display());
            self.disconnect(DisconnectReason::ClosedByVenue { close_code: None, detail });
            return;
        }
        let (ts, message) = match split(line) {
            Ok(parsed) => parsed,
            Err(detail) => {
                self.out.push_back(Err(ForeignError::line_error(path, number, detail)));
                return;
            }
        };
        let kind = match classify(self.exchange, message) {
            Message::Frame => RawKind::Received(WsMessage::Text(Bytes::copy_from_slice(message.as_bytes()))),
            Message::Snapshot { native, body } => {
                let symbol = self.listing.canonical_or_guess(&native);
                RawKind::Rest { symbol, url: snapshot_url(&native), body: body.to_owned() }
            }
            Message::Skipped { kind } => {
                if self.skipped_kinds.insert(kind.clone()) {
                    let detail = format!(
                        "{kind}: made up by tardis, with no wire form md's parser reads; skipped \
                         (further ones are skipped without a word)"
                    );
                    self.out.push_back(Err(ForeignError::line_error(path, number, detail)));
                }
                return;
            }
        };
        let conn = self.session(ts);
        self.last_ts = ts;
        self.push(SLOT, conn, ts, kind);
    }
}

impl Iterator for TardisStream {
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
                self.start();
                continue;
            }
            if self.lines.is_none() {
                let Some(path) = self.paths.get(self.next_path) else {
                    self.disconnect(DisconnectReason::Cancelled);
                    self.finished = true;
                    continue;
                };
                self.next_path += 1;
                match LineReader::open(path) {
                    Ok(lines) => self.lines = Some(lines),
                    Err(e) => self.out.push_back(Err(e)),
                }
                continue;
            }
            let next = self.lines.as_mut().and_then(|lines| {
                let path = Arc::clone(lines.path());
                lines.next_line().map(|(number, line)| (path, number, line))
            });
            match next {
                None => self.lines = None,
                Some((_, _, Err(e))) => self.out.push_back(Err(e)),
                Some((path, number, Ok(line))) => self.line(&path, number, &line),
            }
        }
    }
}
