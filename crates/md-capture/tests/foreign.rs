//! Other tools' captures (tardis.dev, cryptofeed) read as md's raw events, on the real captures
//! in `../shared/fixtures` (see its `SOURCES.md`), and through md's own parsers and books.
//!
//! The folder comes from `MD_FIXTURES` (set by `.ci/run`), else `../../../shared/fixtures` from
//! this crate. Under CI a missing folder fails the run; elsewhere the fixture tests say so and
//! pass. Fixtures are read in place, never copied into the repository; files the tests build
//! (tardis wrappers, damaged copies) go to temporary directories.
//!
//! What is real and what is built here:
//! - `cryptofeed_raw/*`: byte-exact prefixes of cryptofeed's own capture files, read as they are.
//! - `tardis_raw/*`: tardis-format lines of venues md does not read (BitMEX, Coinbase, OKX):
//!   used for the framing and for the "not supported" error. None of them has an empty-line
//!   disconnect, so the disconnect test inserts one where tardis-machine documents it.
//! - No public tardis capture of Binance, Bybit or HTX exists (SOURCES.md), so the tests build
//!   tardis wrappers from tardis' documentation around real venue messages from
//!   `binance/`, `bybit/`, `huobi/`. Documented: the `{"localTimestamp":…,"message":…}`
//!   envelope with the exchange message verbatim and 7-digit UTC timestamps (tardis-machine),
//!   the `<timestamp> <message>` line form of the HTTP API and cache (tardis-node `replay.ts`),
//!   the empty line for a disconnect, Binance REST snapshots stored as
//!   `{"stream":"<symbol>@depthSnapshot","generated":true,"data":…}` (docs.tardis.dev, Binance;
//!   tardis-node's recorder puts the parsed REST body in `data`), HTX `depth` diffs marked
//!   `"update":true` (docs.tardis.dev, Huobi). Assumed: the timestamps themselves (made up
//!   here, 100 ms apart), the lower-case `<symbol>` of the snapshot stream (tardis-node
//!   lower-cases it), and the shape of the HTX diff beyond its `update` flag.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use md_capture::foreign::{
    self, parse_decimal_seconds_ns, parse_iso8601_ns, parse_python_bytes, ForeignError, ForeignFormat,
    ForeignReader,
};
use md_core::{
    Applied, BookDelta, BookError, BookSync, Channel, ConnId, Control, DisconnectReason, ExchangeId, Frame,
    ParseError, Payload, RawEvent, RawKind, SeqRule, Symbol, SymbolInfo, Symbols, WsMessage,
};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

fn fixtures() -> Option<PathBuf> {
    let dir = match std::env::var_os("MD_FIXTURES") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures"),
    };
    if dir.is_dir() {
        return Some(dir);
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("MD_FIXTURES must name the shared fixtures folder under CI (got {dir:?})");
    }
    eprintln!("fixtures folder {dir:?} missing: skipping this foreign-capture test");
    None
}

macro_rules! fixtures_or_skip {
    () => {
        match fixtures() {
            Some(dir) => dir,
            None => return,
        }
    };
}

fn read_all(reader: ForeignReader) -> (Vec<RawEvent>, Vec<ForeignError>) {
    let (mut events, mut errors) = (Vec::new(), Vec::new());
    for item in reader {
        match item {
            Ok(event) => events.push(event),
            Err(e) => errors.push(e),
        }
    }
    (events, errors)
}

/// The lines of a file as written (without the final newline's empty remainder).
fn file_lines(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut lines: Vec<String> = text.split('\n').map(str::to_owned).collect();
    if lines.last().is_some_and(String::is_empty) {
        lines.pop();
    }
    lines
}

/// A cryptofeed received line's message (`<ts>: <message>`), `None` for other lines.
fn received_data(line: &str) -> Option<&str> {
    line.starts_with(|c: char| c.is_ascii_digit()).then(|| line.split_once(": ").map(|(_, d)| d)).flatten()
}

#[derive(Debug)]
struct Session {
    conn: ConnId,
    url: String,
    connected_ts: i64,
    received: Vec<(i64, WsMessage)>,
    sent: Vec<(i64, WsMessage)>,
    rest: Vec<(i64, Symbol, String, String)>,
    /// Every event of the session in order, by kind name (for order checks).
    order: Vec<&'static str>,
    end: DisconnectReason,
    end_ts: i64,
}

#[derive(Debug, Default)]
struct Slot {
    url: String,
    symbols: Vec<SymbolInfo>,
    sessions: Vec<Session>,
}

impl Slot {
    fn received(&self) -> Vec<&(i64, WsMessage)> {
        self.sessions.iter().flat_map(|s| &s.received).collect()
    }
    fn sent(&self) -> Vec<&(i64, WsMessage)> {
        self.sessions.iter().flat_map(|s| &s.sent).collect()
    }
    fn rest(&self) -> Vec<&(i64, Symbol, String, String)> {
        self.sessions.iter().flat_map(|s| &s.rest).collect()
    }
}

/// Checks the event stream against the output contract and returns it by slot.
fn shape(events: &[RawEvent]) -> (Arc<Symbols>, BTreeMap<u64, Slot>) {
    let first = events.first().expect("no events");
    let RawKind::Listing(listing) = &first.kind else { panic!("first event is not the listing: {first:?}") };
    assert_eq!((first.slot, first.conn), (0, ConnId(0)), "the listing is venue-wide");
    let exchange = first.exchange;
    let mut slots: BTreeMap<u64, Slot> = BTreeMap::new();
    let mut stage: HashMap<u64, u8> = HashMap::new(); // 0 new, 1 task seen, 2 symbols seen
    let mut open: HashMap<u64, Session> = HashMap::new();
    let mut conns = HashSet::new();
    for event in events {
        assert_eq!(event.exchange, exchange);
        assert!(event.local_ts >= 0);
        assert_eq!(event.mono_ns, event.local_ts as u64, "mono_ns is local_ts");
        if std::ptr::eq(event, first) {
            continue;
        }
        assert!(event.slot >= 1, "only the listing is on slot 0: {event:?}");
        assert!(!matches!(event.kind, RawKind::Listing(_)), "one listing only");
        let slot = slots.entry(event.slot).or_default();
        let st = stage.entry(event.slot).or_insert(0);
        match &event.kind {
            RawKind::Task { url } => {
                assert_eq!((*st, event.conn), (0, ConnId(0)), "task first, on conn 0");
                slot.url = url.clone();
                *st = 1;
            }
            RawKind::Symbols { added, announced } => {
                assert_eq!((*st, event.conn), (1, ConnId(0)), "symbols after the task, on conn 0");
                assert!(!announced);
                for info in added {
                    assert_eq!(
                        listing.canonical(&info.native),
                        Some(&info.symbol),
                        "{info:?} not in the listing"
                    );
                }
                slot.symbols = added.clone();
                *st = 2;
            }
            RawKind::Connected { url } => {
                assert_eq!(*st, 2, "connected before task and symbols");
                assert!(!open.contains_key(&event.slot), "connected twice without a disconnect");
                assert!(
                    event.conn.0 >= 1 && conns.insert(event.conn),
                    "conn ids are fresh: {:?}",
                    event.conn
                );
                open.insert(
                    event.slot,
                    Session {
                        conn: event.conn,
                        url: url.clone(),
                        connected_ts: event.local_ts,
                        received: Vec::new(),
                        sent: Vec::new(),
                        rest: Vec::new(),
                        order: vec!["connected"],
                        end: DisconnectReason::Cancelled,
                        end_ts: 0,
                    },
                );
            }
            RawKind::Disconnected(reason) => {
                let mut session = open.remove(&event.slot).expect("disconnected without a session");
                assert_eq!(session.conn, event.conn);
                session.order.push("disconnected");
                session.end = reason.clone();
                session.end_ts = event.local_ts;
                slot.sessions.push(session);
            }
            other => {
                let session =
                    open.get_mut(&event.slot).unwrap_or_else(|| panic!("outside a session: {event:?}"));
                assert_eq!(session.conn, event.conn);
                match other {
                    RawKind::Received(m) => {
                        session.received.push((event.local_ts, m.clone()));
                        session.order.push("received");
                    }
                    RawKind::Sent(m) => {
                        session.sent.push((event.local_ts, m.clone()));
                        session.order.push("sent");
                    }
                    RawKind::Rest { symbol, url, body } => {
                        session.rest.push((event.local_ts, symbol.clone(), url.clone(), body.clone()));
                        session.order.push("rest");
                    }
                    _ => panic!("unexpected event {event:?}"),
                }
            }
        }
    }
    assert!(open.is_empty(), "every session ends: {:?}", open.keys());
    (Arc::clone(listing), slots)
}

fn natives(symbols: &[SymbolInfo]) -> Vec<&str> {
    symbols.iter().map(|s| s.native.as_str()).collect()
}

fn text(message: &WsMessage) -> &str {
    message.text().expect("a text frame")
}

fn gunzip(bytes: &[u8]) -> String {
    let mut out = String::new();
    flate2::read::GzDecoder::new(bytes).read_to_string(&mut out).expect("gzip JSON");
    out
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// A tardis timestamp (7 fractional digits, `Z`) of ns since the epoch.
fn iso(ns: i64) -> String {
    let (secs, frac) = (ns.div_euclid(1_000_000_000), ns.rem_euclid(1_000_000_000));
    let (days, tod) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // H. Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:07}Z", tod / 3600, tod / 60 % 60, tod % 60, frac / 100)
}

fn write(dir: &Path, name: &str, content: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    path
}

/// The NDJSON line tardis-machine writes for one message.
fn tardis_line(ts: i64, message: &str) -> String {
    format!("{{\"localTimestamp\":\"{}\",\"message\":{message}}}", iso(ts))
}

fn venue(id: ExchangeId) -> Box<dyn md_core::Exchange> {
    md_exchanges::build(id, &md_exchanges::Endpoints::default()).unwrap()
}

// ---------------------------------------------------------------------------------------------
// Timestamps and Python bytes literals
// ---------------------------------------------------------------------------------------------

#[test]
fn timestamps_parse_exactly() {
    assert_eq!(parse_iso8601_ns("1970-01-01T00:00:00Z"), Ok(0));
    assert_eq!(parse_iso8601_ns("2019-05-01T00:09:42.2760012Z"), Ok(1_556_669_382_276_001_200));
    assert_eq!(parse_iso8601_ns("2000-02-29T23:59:59.123456789Z"), Ok(951_868_799_123_456_789));
    assert_eq!(parse_iso8601_ns("2024-12-31T12:00:00.5Z"), Ok(1_735_646_400_500_000_000));
    for bad in [
        "2019-05-01T00:00:07.0130000",
        "2019-05-01T00:00:07.0130000+00:00",
        "2019-02-29T00:00:00Z",
        "2019-13-01T00:00:00Z",
        "2019-05-01T24:00:00Z",
        "2019-05-01T00:00:07.Z",
        "2019-05-01T00:00:07.0123456789Z",
        "1969-12-31T23:59:59Z",
        "9999-12-31T23:59:59Z",
        "2019-05-01 00:00:07Z",
        "2019-05-01T00:00:07ZZ",
        "20x9-05-01T00:00:07Z",
        "",
        "é",
        "2019-05-01T00:00:07.01é0000Z",
    ] {
        assert!(parse_iso8601_ns(bad).is_err(), "{bad}");
    }
    for ns in [0, 1_556_669_382_276_001_200, 1_633_998_512_063_356_900, 4_102_444_799_999_999_900] {
        assert_eq!(parse_iso8601_ns(&iso(ns)), Ok(ns), "{}", iso(ns));
    }

    // Python's str(float) of time.time(): exact from the decimal digits, not through f64
    // (1633998512.0633569 as f64 is 1633998512.0633568763…).
    assert_eq!(parse_decimal_seconds_ns("1633998512.0633569"), Ok(1_633_998_512_063_356_900));
    assert_eq!(parse_decimal_seconds_ns("1641343691.06795"), Ok(1_641_343_691_067_950_000));
    assert_eq!(parse_decimal_seconds_ns("1633998511"), Ok(1_633_998_511_000_000_000));
    assert_eq!(parse_decimal_seconds_ns("0.000000001"), Ok(1));
    for bad in
        ["", ".5", "1.", "-1.0", "1e9", "1.0000000001", "16339985x2.06", "999999999999.0", " 1.0", "1.5 "]
    {
        assert!(parse_decimal_seconds_ns(bad).is_err(), "{bad}");
    }
}

#[test]
fn python_bytes_literals_decode_exactly() {
    assert_eq!(parse_python_bytes(r"b'\x1f\x8b\x08\x00'").unwrap(), vec![0x1f, 0x8b, 8, 0]);
    assert_eq!(parse_python_bytes(r#"b'a\'b"c\\d\n\r\t'"#).unwrap(), b"a'b\"c\\d\n\r\t".to_vec());
    assert_eq!(parse_python_bytes(r#"b"it's""#).unwrap(), b"it's".to_vec());
    assert_eq!(parse_python_bytes(r"b'\0\12\377\a\b\f\v'").unwrap(), vec![0, 10, 255, 7, 8, 12, 11]);
    assert_eq!(parse_python_bytes(r"b'\q'").unwrap(), b"\\q".to_vec(), "Python keeps unknown escapes");
    assert_eq!(parse_python_bytes("b''").unwrap(), Vec::<u8>::new());
    for bad in
        ["", "b", "b'", "'abc'", r"b'\x1'", r"b'\xzz'", r"b'\400'", "b'a'b'", "b'\u{e9}'", r"b'\'", "b'abc"]
    {
        assert!(parse_python_bytes(bad).is_err(), "{bad}");
    }
    // Every byte value round-trips through Python's repr rules.
    let all: Vec<u8> = (0..=255).collect();
    let mut repr = String::from("b'");
    for &b in &all {
        match b {
            b'\\' => repr.push_str("\\\\"),
            b'\'' => repr.push_str("\\'"),
            b'\t' => repr.push_str("\\t"),
            b'\n' => repr.push_str("\\n"),
            b'\r' => repr.push_str("\\r"),
            0x20..=0x7e => repr.push(char::from(b)),
            _ => repr.push_str(&format!("\\x{b:02x}")),
        }
    }
    repr.push('\'');
    assert_eq!(parse_python_bytes(&repr).unwrap(), all);
}

// ---------------------------------------------------------------------------------------------
// cryptofeed
// ---------------------------------------------------------------------------------------------

#[test]
fn cryptofeed_binance_ws_and_http_merge_into_one_connection() {
    let dir = fixtures_or_skip!().join("cryptofeed_raw");
    let (ws, http) = (dir.join("BINANCE.ws.prefix.txt"), dir.join("BINANCE.http.prefix.txt"));
    let reader = foreign::read_cryptofeed(&[ws.clone(), http.clone()]).unwrap();
    assert_eq!((reader.exchange(), reader.format()), (ExchangeId::Binance, ForeignFormat::Cryptofeed));
    assert!(reader.channels().is_empty(), "no configuration file given");
    let (events, errors) = read_all(reader);
    assert!(errors.is_empty(), "{errors:?}");
    let (listing, slots) = shape(&events);

    // Symbols: the URL's combined streams, as the Binance parser looks them up (upper case).
    let expected =
        [("BLZETH", "BLZ-ETH"), ("LRCBTC", "LRC-BTC"), ("NKNUSDT", "NKN-USDT"), ("RUNEEUR", "RUNE-EUR")];
    assert_eq!(listing.len(), 4);
    for (native, canonical) in expected {
        assert_eq!(listing.canonical(native).map(Symbol::as_str), Some(canonical));
    }
    assert_eq!(slots.len(), 1);
    let slot = &slots[&1];
    let ws_lines = file_lines(&ws);
    let url = ws_lines[0].split_once(" <-> ").unwrap().0;
    assert!(url.starts_with("wss://stream.binance.com:9443/stream?streams=nknusdt@depth@100ms/"));
    assert_eq!(slot.url, url, "the task carries the recorded URL");
    assert_eq!(natives(&slot.symbols), ["BLZETH", "LRCBTC", "NKNUSDT", "RUNEEUR"]);

    // One session: line 1 connects, 265 frames, no sent line, the 4 REST lines; the file's end
    // ends it.
    assert_eq!(slot.sessions.len(), 1);
    let session = &slot.sessions[0];
    assert_eq!(session.url, url);
    assert_eq!(session.connected_ts, 1_633_998_511_159_679_000);
    assert_eq!((session.received.len(), session.sent.len(), session.rest.len()), (265, 0, 4));
    assert_eq!(session.end, DisconnectReason::Cancelled);
    assert_eq!(session.end_ts, 1_633_998_542_077_861_800, "ends at the last recorded line");

    // Every frame is its line's message, byte for byte, at its line's time.
    let frames: Vec<&str> = ws_lines.iter().filter_map(|l| received_data(l)).collect();
    assert_eq!(frames.len(), 265);
    for ((_, msg), line) in session.received.iter().zip(&frames) {
        assert!(matches!(msg, WsMessage::Text(_)));
        assert_eq!(text(msg), *line);
    }
    assert_eq!(session.received[0].0, 1_633_998_512_063_356_900, "line 2: 1633998512.0633569");
    assert_eq!(session.received[264].0, 1_633_998_542_077_861_800, "line 266: 1633998542.0778618");

    // REST: the body exactly as recorded, for the symbol of its URL, at its time.
    let http_lines = file_lines(&http);
    let rest: Vec<_> = session.rest.iter().map(|(ts, s, u, _)| (*ts, s.as_str(), u.as_str())).collect();
    assert_eq!(
        rest,
        [
            (
                1_633_998_512_320_639_000,
                "NKN-USDT",
                "https://api.binance.com/api/v3/depth?symbol=NKNUSDT&limit=1000"
            ),
            (
                1_633_998_514_646_289_800,
                "BLZ-ETH",
                "https://api.binance.com/api/v3/depth?symbol=BLZETH&limit=1000"
            ),
            (
                1_633_998_516_844_380_900,
                "LRC-BTC",
                "https://api.binance.com/api/v3/depth?symbol=LRCBTC&limit=1000"
            ),
            (
                1_633_998_522_743_208_000,
                "RUNE-EUR",
                "https://api.binance.com/api/v3/depth?symbol=RUNEEUR&limit=1000"
            ),
        ]
    );
    for ((_, _, _, body), line) in session.rest.iter().zip(&http_lines) {
        assert_eq!(body, line.split_once(": ").unwrap().1);
        assert!(body.starts_with("{\"lastUpdateId\":"));
    }

    // Merged by time: each REST event sits among the frames at its timestamp.
    let times: Vec<i64> = events.iter().filter(|e| e.slot == 1 && e.conn.0 > 0).map(|e| e.local_ts).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "this capture's lines are in time order");
    let nkn_snapshot = session.order.iter().position(|k| *k == "rest").unwrap();
    // Line 2 (…512.063) comes before the NKNUSDT snapshot (…512.320), line 3 (…512.565) after.
    assert_eq!(session.order[..nkn_snapshot].iter().filter(|k| **k == "received").count(), 1);

    // The WebSocket file alone: the same frames, no REST; the REST file alone: a connection
    // of its own (no URL recorded) carrying the 4 snapshots.
    let (events, errors) = read_all(foreign::read_cryptofeed(&[ws]).unwrap());
    assert!(errors.is_empty());
    let (_, slots) = shape(&events);
    assert_eq!((slots[&1].received().len(), slots[&1].rest().len()), (265, 0));
    let (events, errors) = read_all(foreign::read_cryptofeed(&[http]).unwrap());
    assert!(errors.is_empty());
    let (listing, slots) = shape(&events);
    assert_eq!((slots.len(), slots[&1].url.as_str(), slots[&1].rest().len()), (1, "", 4));
    assert_eq!(natives(&slots[&1].symbols), ["BLZETH", "LRCBTC", "NKNUSDT", "RUNEEUR"]);
    assert_eq!(listing.len(), 4);
}

#[test]
fn cryptofeed_binance_replays_through_md_parser_into_verified_books() {
    let dir = fixtures_or_skip!().join("cryptofeed_raw");
    let reader =
        foreign::read_cryptofeed(&[dir.join("BINANCE.ws.prefix.txt"), dir.join("BINANCE.http.prefix.txt")])
            .unwrap();
    let venue = venue(ExchangeId::Binance);
    let parser = venue.parser(Arc::clone(reader.listing()));
    let listing = Arc::clone(reader.listing());
    let (events, errors) = read_all(reader);
    assert!(errors.is_empty());

    let mut books: HashMap<Symbol, BookSync> = HashMap::new();
    let mut applied: HashMap<Symbol, usize> = HashMap::new();
    let mut last_u: HashMap<Symbol, u64> = HashMap::new();
    let (mut parsed, mut unknown, mut trades) = (0, BTreeMap::<String, usize>::new(), 0);
    for event in &events {
        match &event.kind {
            RawKind::Received(WsMessage::Text(bytes)) => {
                let frame = std::str::from_utf8(bytes).unwrap();
                let mut out = Vec::new();
                match parser.parse(Frame::Text(frame), event.local_ts, &mut out) {
                    Ok(Control::Data) => parsed += 1,
                    Ok(other) => panic!("unexpected control {other:?}"),
                    // md parses the streams it subscribes (trades, diffs); these captures also
                    // hold bookTicker and kline streams, which md's parser names as unknown.
                    Err(ParseError::UnknownFrame { snippet }) => {
                        let stream = snippet.split('@').nth(1).unwrap_or(&snippet).to_owned();
                        *unknown.entry(stream).or_default() += 1;
                    }
                    Err(e) => panic!("parse error on {frame}: {e}"),
                }
                for packet in out {
                    assert_eq!(packet.local_ts, event.local_ts);
                    assert!(
                        listing.native(&packet.symbol).is_some(),
                        "{} named from the listing",
                        packet.symbol
                    );
                    match packet.data {
                        Payload::BookDelta(delta) => {
                            last_u.insert(packet.symbol.clone(), delta.seq.last);
                            let book = books
                                .entry(packet.symbol.clone())
                                .or_insert_with(|| BookSync::new(SeqRule::UpdateIdRange, 10_000));
                            match book.on_delta(delta) {
                                Ok(Applied::Updated) => *applied.entry(packet.symbol).or_default() += 1,
                                Ok(Applied::Stale) | Err(BookError::NotSynced) => {}
                                Err(e) => panic!("{}: {e}", packet.symbol),
                            }
                        }
                        Payload::Trade(_) => trades += 1,
                        other => panic!("unexpected payload {other:?}"),
                    }
                }
            }
            RawKind::Rest { symbol, body, .. } => {
                let info = listing.resolve(symbol.as_str()).unwrap();
                let packet = venue.parse_snapshot(info, body, event.local_ts).unwrap();
                let Payload::BookSnapshot(snapshot) = packet.data else { panic!("not a snapshot") };
                let book = books
                    .entry(symbol.clone())
                    .or_insert_with(|| BookSync::new(SeqRule::UpdateIdRange, 10_000));
                let n = book.on_snapshot(&snapshot).unwrap();
                *applied.entry(symbol.clone()).or_default() += n;
            }
            _ => {}
        }
    }
    assert_eq!(parsed, 177 + 2, "177 depth diffs and 2 aggTrades parse");
    assert_eq!(trades, 2);
    assert_eq!(unknown, BTreeMap::from([("bookTicker".to_owned(), 84), ("kline_1m".to_owned(), 2)]));
    // The books rebuild as SOURCES.md says: synced, no gap, every diff after the snapshot applied.
    let expected =
        [("NKN-USDT", 149, 499_870_179), ("BLZ-ETH", 9, 0), ("LRC-BTC", 13, 0), ("RUNE-EUR", 1, 15_602_513)];
    for (name, count, seq) in expected {
        let symbol = Symbol::parse(name).unwrap();
        let book = &books[&symbol];
        assert!(book.is_synced(), "{name}");
        assert_eq!(applied[&symbol], count, "{name}");
        assert_eq!(book.book().seq(), last_u[&symbol], "{name}");
        if seq != 0 {
            assert_eq!(book.book().seq(), seq, "{name}");
        }
        let (bid, ask) = (book.book().best_bid().unwrap().price, book.book().best_ask().unwrap().price);
        assert!(bid < ask, "{name} uncrossed");
    }
}

#[test]
fn cryptofeed_bybit_two_connections_with_listing_and_configuration() {
    let dir = fixtures_or_skip!().join("cryptofeed_raw");
    let paths =
        [dir.join("BYBIT.ws.prefix.txt"), dir.join("BYBIT.ws.26.prefix.txt"), dir.join("BYBIT.0.prefix.txt")];
    let reader = foreign::read_cryptofeed(&paths).unwrap();
    assert_eq!(reader.exchange(), ExchangeId::Bybit);
    assert_eq!(reader.channels(), [Channel::Trades, Channel::Book], "from the configuration line");
    let (events, errors) = read_all(reader);
    assert!(errors.is_empty(), "{errors:?}");
    let (listing, slots) = shape(&events);
    assert_eq!(slots.len(), 2, "one slot per connection file; the .0 file is no connection");

    let linear = &slots[&1];
    assert_eq!(linear.url, "wss://stream.bybit.com/realtime_public");
    assert_eq!(
        natives(&linear.symbols),
        ["ADAUSDT", "BCHUSDT", "DOTUSDT", "ETHUSDT", "LINKUSDT", "LTCUSDT", "UNIUSDT", "XTZUSDT"]
    );
    assert_eq!(linear.sessions.len(), 1);
    assert_eq!((linear.received().len(), linear.sent().len(), linear.rest().len()), (361, 16, 0));
    assert_eq!(linear.sessions[0].connected_ts, 1_618_677_785_482_746_800);
    assert_eq!(linear.sent()[0].0, 1_618_677_786_460_905_000);
    assert_eq!(text(&linear.sent()[0].1), r#"{"op":"subscribe","args":["trade.BCHUSDT"]}"#);
    assert_eq!(linear.received()[0].0, 1_618_677_786_799_668_000, "line 18");
    assert_eq!(linear.received()[360].0, 1_618_677_787_870_250_000, "line 378");
    let lines = file_lines(&paths[0]);
    assert_eq!(text(&linear.received()[360].1), received_data(&lines[377]).unwrap());

    let inverse = &slots[&2];
    assert_eq!(inverse.url, "wss://stream.bybit.com/realtime");
    assert_eq!(natives(&inverse.symbols), ["BTCUSD", "EOSUSD"]);
    assert_eq!((inverse.received().len(), inverse.sent().len()), (223, 4));
    assert_eq!(inverse.received()[0].0, 1_618_677_786_801_375_000, "line 6");
    assert_eq!(inverse.received()[222].0, 1_618_677_790_361_554_000, "line 228");

    // Canonical names from the venue listing in BYBIT.0 (base_currency/quote_currency).
    assert_eq!(listing.len(), 10);
    assert_eq!(listing.canonical("BTCUSD").map(Symbol::as_str), Some("BTC-USD"));
    assert_eq!(listing.canonical("LINKUSDT").map(Symbol::as_str), Some("LINK-USDT"));
    // The two connections interleave by time in one stream.
    let slot_order: Vec<u64> =
        events.iter().filter(|e| matches!(e.kind, RawKind::Received(_))).map(|e| e.slot).collect();
    assert!(slot_order.windows(2).any(|w| w[0] != w[1]));
}

#[test]
fn cryptofeed_huobi_bytes_literals_are_the_gzip_frames() {
    let root = fixtures_or_skip!();
    let path = root.join("cryptofeed_raw/HUOBI.ws.prefix.txt");
    let (events, errors) = read_all(foreign::read_cryptofeed(std::slice::from_ref(&path)).unwrap());
    assert!(errors.is_empty(), "{errors:?}");
    let (listing, slots) = shape(&events);
    let slot = &slots[&1];
    assert_eq!(slot.url, "wss://api.huobi.pro/ws");
    let expected = [
        "borusdt",
        "dogeeth",
        "fil3susdt",
        "nesteth",
        "omgbtc",
        "propyeth",
        "trioeth",
        "xvgeth",
        "yfihusd",
        "zeneth",
    ];
    assert_eq!(natives(&slot.symbols), expected, "HTX natives are lower case, as ch names them");
    assert_eq!(listing.canonical("yfihusd").map(Symbol::as_str), Some("YFI-HUSD"));
    assert_eq!(listing.canonical("fil3susdt").map(Symbol::as_str), Some("FIL3S-USDT"));
    assert_eq!((slot.received().len(), slot.sent().len(), slot.sessions.len()), (89, 21, 1));
    assert_eq!(slot.sessions[0].connected_ts, 1_618_678_069_699_580_000);
    assert_eq!(slot.received()[0].0, 1_618_678_070_733_454_000, "line 22");
    assert_eq!(slot.received()[88].0, 1_618_678_075_429_499_000, "line 111");
    assert_eq!(text(&slot.sent()[20].1), r#"{"pong":1618678073643}"#, "line 94");
    assert_eq!(slot.sent()[20].0, 1_618_678_073_713_456_900);

    // Every frame is binary gzip that inflates to JSON.
    let lines = file_lines(&path);
    let mut by_line = HashMap::new();
    let received_lines = (1..=lines.len()).filter(|&n| received_data(&lines[n - 1]).is_some());
    for (number, (_, msg)) in received_lines.zip(slot.received()) {
        let WsMessage::Binary(bytes) = msg else { panic!("line {number} is not binary") };
        assert!(bytes.starts_with(&[0x1f, 0x8b]), "line {number} is gzip");
        let json = gunzip(bytes);
        serde_json::from_str::<serde_json::Value>(&json).unwrap();
        by_line.insert(number, (bytes.clone(), json));
    }
    // The decoded twin file (gunzipped by SOURCES.md's author with Python) matches line by line.
    let twin = file_lines(&root.join("huobi/spot_ws_decoded_cryptofeed.jsonl"));
    let twin_lines = [22, 23, 24, 25, 26, 27, 29, 43, 45, 47, 49, 51, 53, 55, 57, 93];
    for (json, number) in twin.iter().zip(twin_lines) {
        assert_eq!(&by_line[&number].1, json, "line {number}");
    }
    // And the raw gzip frames kept as base64 are these exact bytes (ping, subbed, trade.detail).
    let b64 = file_lines(&root.join("huobi/spot_ws_raw_gzip_frames_cryptofeed.b64.txt"));
    for (encoded, number) in b64.iter().zip([93, 22, 43]) {
        assert_eq!(by_line[&number].0.as_ref(), base64_decode(encoded), "line {number}");
    }

    // md's own HTX parser reads every frame: 20 acks, 55 full books and 13 trade pushes, 1 ping.
    let parser = venue(ExchangeId::Huobi).parser(Arc::clone(&listing));
    let (mut data, mut subscribed, mut replies) = (0, 0, 0);
    for (ts, msg) in slot.received() {
        let WsMessage::Binary(bytes) = msg else { unreachable!() };
        let mut out = Vec::new();
        match parser.parse(Frame::Binary(bytes), *ts, &mut out).unwrap() {
            Control::Data => data += 1,
            Control::Subscribed { .. } => subscribed += 1,
            Control::Reply(reply) => {
                assert_eq!(reply, r#"{"pong":1618678073643}"#, "what cryptofeed sent back");
                replies += 1;
            }
            other => panic!("{other:?}"),
        }
        for packet in out {
            assert!(listing.native(&packet.symbol).is_some(), "{}", packet.symbol);
        }
    }
    assert_eq!((data, subscribed, replies), (68, 20, 1));
}

/// Standard base64 (the fixture's encoding), decoded here to keep the dependencies as they are.
fn base64_decode(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("not base64: {c}"),
    };
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0);
    for c in text.bytes().filter(|&c| c != b'=') {
        acc = (acc << 6) | u32::from(value(c));
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

#[test]
fn cryptofeed_venues_md_does_not_read_are_refused_clearly() {
    let dir = fixtures_or_skip!().join("cryptofeed_raw");
    for file in ["BITSTAMP.ws.prefix.txt", "BITSTAMP.http.prefix.txt", "BITSTAMP.0.prefix.txt"] {
        let err = foreign::read_cryptofeed(&[dir.join(file)]).unwrap_err();
        assert!(matches!(err, ForeignError::Unsupported { .. }), "{err}");
        let message = err.to_string();
        assert!(message.contains("BITSTAMP") && message.contains(file), "{message}");
        assert!(message.contains("BINANCE (binance), BYBIT (bybit), HUOBI (huobi)"), "{message}");
    }
    // Venue ids md has no parser for are refused whatever the names say.
    let err =
        foreign::read_cryptofeed_as(&[dir.join("BITSTAMP.ws.prefix.txt")], ExchangeId::Bitstamp).unwrap_err();
    assert_eq!(err.to_string(), "venue bitstamp is not supported; md reads: binance, bybit, huobi");
    // Two venues at once, or names that say nothing, are input errors.
    let err = foreign::read_cryptofeed(&[dir.join("BINANCE.ws.prefix.txt"), dir.join("HUOBI.ws.prefix.txt")]);
    assert!(matches!(err, Err(ForeignError::Input { .. })), "{err:?}");
    let tmp = tempfile::tempdir().unwrap();
    let renamed = write(tmp.path(), "capture.txt", b"wss://x/ws <-> 1.0\n");
    let err = foreign::read_cryptofeed(std::slice::from_ref(&renamed)).unwrap_err();
    assert!(err.to_string().contains("read_cryptofeed_as"), "{err}");
    let (events, errors) = read_all(foreign::read_cryptofeed_as(&[renamed], ExchangeId::Huobi).unwrap());
    assert!(errors.is_empty());
    assert_eq!(shape(&events).1[&1].sessions.len(), 1);
    assert!(matches!(foreign::read_cryptofeed(&[]), Err(ForeignError::Input { .. })));
    let missing = foreign::read_cryptofeed(&[tmp.path().join("BINANCE.ws.9.0")]).unwrap_err();
    assert!(
        matches!(&missing, ForeignError::Io { path, .. } if path.ends_with("BINANCE.ws.9.0")),
        "{missing}"
    );
}

#[test]
fn cryptofeed_rotated_parts_and_reconnects() {
    let dir = fixtures_or_skip!().join("cryptofeed_raw");
    let lines = file_lines(&dir.join("BINANCE.ws.prefix.txt"));
    let tmp = tempfile::tempdir().unwrap();
    // Rotated parts of one connection (given out of order, the second gzipped): one slot,
    // one session, every frame.
    let (head, tail) = lines.split_at(100);
    let part0 = write(tmp.path(), "BINANCE.ws.1.0", (head.join("\n") + "\n").as_bytes());
    let part1 = write(tmp.path(), "BINANCE.ws.1.1.gz", &gzip((tail.join("\n") + "\n").as_bytes()));
    let (events, errors) = read_all(foreign::read_cryptofeed(&[part1, part0]).unwrap());
    assert!(errors.is_empty(), "{errors:?}");
    let (_, slots) = shape(&events);
    assert_eq!((slots.len(), slots[&1].sessions.len(), slots[&1].received().len()), (1, 1, 265));

    // A second connect line in the file: the same slot, a new session and a new ConnId; the
    // first session ends as the venue's doing at its last line's time.
    let mut reconnected = lines[..100].to_vec();
    reconnected.push(lines[0].replace("1633998511.159679", "1633998520.5"));
    reconnected.extend_from_slice(&lines[100..]);
    let path = write(tmp.path(), "BINANCE.ws.2.0", (reconnected.join("\n") + "\n").as_bytes());
    let (events, errors) = read_all(foreign::read_cryptofeed(&[path]).unwrap());
    assert!(errors.is_empty(), "{errors:?}");
    let (_, slots) = shape(&events);
    let sessions = &slots[&1].sessions;
    assert_eq!(sessions.len(), 2);
    assert_eq!((sessions[0].received.len(), sessions[1].received.len()), (99, 166));
    assert_ne!(sessions[0].conn, sessions[1].conn);
    assert!(matches!(&sessions[0].end, DisconnectReason::ClosedByVenue { close_code: None, detail }
        if detail.contains("BINANCE.ws.2.0:101")));
    assert_eq!(sessions[0].end_ts, sessions[0].received[98].0);
    assert_eq!(sessions[1].connected_ts, 1_633_998_520_500_000_000);
    assert_eq!(sessions[1].end, DisconnectReason::Cancelled);
}

#[test]
fn cryptofeed_bad_lines_name_file_and_line_and_the_rest_is_read() {
    let tmp = tempfile::tempdir().unwrap();
    let ws = [
        "wss://api.huobi.pro/ws <-> 1618678069.69958",
        r#"wss://api.huobi.pro/ws <- 1618678070.5: {"sub":"market.btcusdt.trade.detail","id":1}"#,
        r#"1618678070.6: {"ch":"market.btcusdt.trade.detail","ts":1,"tick":{"data":[]}}"#,
        "this is not a cryptofeed line",
        r#"16186x8070.7: {"ping":1}"#,
        r"1618678070.8: b'\x1f\x8b\xzz'",
        r#"wss://api.huobi.pro/ws <- soon: {"pong":1}"#,
        "1618678070.9",
        r"1618678071.0: b'\x1f\x8b'",
    ];
    let ws_path = write(tmp.path(), "HUOBI.ws.1.0", (ws.join("\n") + "\n").as_bytes());
    let http = [
        "https://api.huobi.pro/market/depth?symbol=ethusdt&type=step0 -> 1618678070.65: {\"status\":\"ok\"}",
        "https://api.huobi.pro/v1/common/timestamp -> 1618678070.66: {\"status\":\"ok\",\"data\":1}",
    ];
    let http_path = write(tmp.path(), "HUOBI.http.1.0", http.join("\n").as_bytes());
    let (events, errors) = read_all(foreign::read_cryptofeed(&[ws_path.clone(), http_path.clone()]).unwrap());
    let located: Vec<(PathBuf, u64)> =
        errors.iter().map(|e| (e.path().unwrap().to_owned(), e.line().unwrap())).collect();
    let mut expected: Vec<(PathBuf, u64)> = [4, 5, 6, 7, 8].iter().map(|&n| (ws_path.clone(), n)).collect();
    expected.push((http_path.clone(), 2));
    let mut sorted = located.clone();
    sorted.sort();
    expected.sort();
    assert_eq!(sorted, expected, "{errors:#?}");
    for e in &errors {
        let message = e.to_string();
        assert!(message.starts_with(&format!("{}:", e.path().unwrap().display())), "{message}");
    }
    // The good lines still read, the REST snapshot of the other symbol included.
    let (listing, slots) = shape(&events);
    let slot = &slots[&1];
    assert_eq!((slot.sent().len(), slot.received().len(), slot.rest().len()), (1, 2, 1));
    assert!(matches!(&slot.received()[1].1, WsMessage::Binary(b) if b.as_ref() == [0x1f, 0x8b]));
    assert_eq!(natives(&slot.symbols), ["btcusdt", "ethusdt"], "the REST symbol rides the only connection");
    assert_eq!(listing.len(), 2);
}

// ---------------------------------------------------------------------------------------------
// tardis
// ---------------------------------------------------------------------------------------------

const TARDIS_FILES: [(&str, usize, i64, i64); 4] = [
    (
        "bitmex_XBTUSD_orderBookL2_trade_readme_tardis-machine.ndjson",
        5,
        1_556_669_382_276_001_200,
        1_556_669_382_458_315_500,
    ),
    (
        "coinbase_match_ZEC-USDC_replay_tardis-node_CONVERTED.ndjson",
        4,
        1_559_347_210_426_000_000,
        1_559_347_266_557_000_000,
    ),
    (
        "okex-swap_index-tickers_tickers_BTC-USDC-SWAP_tardis-node_CONVERTED.ndjson",
        6,
        1_681_041_600_340_000_000,
        1_681_992_004_362_000_000,
    ),
    (
        "okex-futures_index-tickers_funding-rate_XPERP_tardis-node_CONVERTED.ndjson",
        2,
        1_785_870_840_033_000_000,
        1_785_870_855_773_000_000,
    ),
];

#[test]
fn tardis_venues_md_does_not_read_are_refused_clearly() {
    for name in
        ["bitmex", "coinbase", "okex-swap", "okex-futures", "binance-futures", "bybit", "huobi-dm-swap"]
    {
        let err = foreign::tardis_exchange(name).unwrap_err();
        assert!(matches!(err, ForeignError::Unsupported { .. }));
        assert_eq!(
            err.to_string(),
            format!("tardis exchange {name:?} is not supported; md reads: binance (binance), bybit-spot (bybit), huobi (huobi)")
        );
    }
    assert_eq!(foreign::tardis_exchange("binance").unwrap(), ExchangeId::Binance);
    assert_eq!(foreign::tardis_exchange("bybit-spot").unwrap(), ExchangeId::Bybit);
    assert_eq!(foreign::tardis_exchange("HUOBI").unwrap(), ExchangeId::Huobi);
    let dir = fixtures_or_skip!().join("tardis_raw");
    let err = foreign::read_tardis(&dir.join(TARDIS_FILES[0].0), ExchangeId::Bitstamp).unwrap_err();
    assert!(matches!(err, ForeignError::Unsupported { .. }), "{err}");
}

#[test]
fn tardis_fixtures_frame_into_one_session_each() {
    let dir = fixtures_or_skip!().join("tardis_raw");
    for (file, count, first_ts, last_ts) in TARDIS_FILES {
        let path = dir.join(file);
        assert_eq!(foreign::detect(&path), Some(ForeignFormat::Tardis), "{file}");
        // The venue is not md's: read the framing as if it were (nothing names a Binance symbol).
        let reader = foreign::read_tardis(&path, ExchangeId::Binance).unwrap();
        assert_eq!(reader.format(), ForeignFormat::Tardis);
        let (events, errors) = read_all(reader);
        assert!(errors.is_empty(), "{file}: {errors:?}");
        let (listing, slots) = shape(&events);
        assert!(listing.is_empty(), "{file}");
        let slot = &slots[&1];
        assert_eq!((slot.url.as_str(), slot.sessions.len()), ("", 1), "{file}");
        let session = &slot.sessions[0];
        assert_eq!((session.url.as_str(), session.received.len()), ("", count), "{file}");
        assert_eq!(session.received[0].0, first_ts, "{file}");
        assert_eq!(session.received[count - 1].0, last_ts, "{file}");
        assert_eq!((session.connected_ts, session.end_ts), (first_ts, last_ts), "{file}");
        assert_eq!(session.end, DisconnectReason::Cancelled);
        // Each frame is the message's JSON exactly as it stands in the line.
        for ((_, msg), line) in session.received.iter().zip(file_lines(&path)) {
            let message =
                line.strip_prefix("{\"localTimestamp\":\"").unwrap().split_once("\",\"message\":").unwrap().1;
            assert_eq!(text(msg), message.strip_suffix('}').unwrap(), "{file}");
        }
    }
}

#[test]
fn tardis_empty_line_is_a_disconnect_and_gzip_and_cache_lines_read_the_same() {
    let dir = fixtures_or_skip!().join("tardis_raw");
    let lines = file_lines(&dir.join(TARDIS_FILES[0].0));
    let tmp = tempfile::tempdir().unwrap();
    // tardis-machine writes a bare newline where its recorder's connection dropped; doubled
    // (and leading) empty lines make no empty session.
    let mut with_gap = vec![String::new()];
    with_gap.extend_from_slice(&lines[..2]);
    with_gap.extend([String::new(), String::new()]);
    with_gap.extend_from_slice(&lines[2..]);
    with_gap.push(String::new()); // a disconnect as the file's last line
    let text_form = (with_gap.join("\n") + "\n").into_bytes();
    let plain = write(tmp.path(), "bitmex.ndjson", &text_form);
    let gzipped = write(tmp.path(), "bitmex.ndjson.gz", &gzip(&text_form));
    // The HTTP API / tardis-node cache form of the same lines: `<timestamp> <message>`.
    let cache: Vec<String> = with_gap
        .iter()
        .map(|l| match l.strip_prefix("{\"localTimestamp\":\"") {
            Some(rest) => {
                let (ts, message) = rest.split_once("\",\"message\":").unwrap();
                format!("{ts} {}", message.strip_suffix('}').unwrap())
            }
            None => String::new(),
        })
        .collect();
    let cache = write(tmp.path(), "2019-05-01T00-09.json.gz", &gzip((cache.join("\n") + "\n").as_bytes()));
    let mut seen = Vec::new();
    for path in [&plain, &gzipped, &cache] {
        assert_eq!(foreign::detect(path), Some(ForeignFormat::Tardis), "{}", path.display());
        let (events, errors) = read_all(foreign::read_tardis(path, ExchangeId::Huobi).unwrap());
        assert!(errors.is_empty(), "{errors:?}");
        let (_, slots) = shape(&events);
        let sessions = &slots[&1].sessions;
        assert_eq!(sessions.len(), 2, "{}", path.display());
        assert_eq!((sessions[0].received.len(), sessions[1].received.len()), (2, 3));
        assert_ne!(sessions[0].conn, sessions[1].conn);
        assert!(matches!(&sessions[0].end, DisconnectReason::ClosedByVenue { close_code: None, detail }
            if detail.contains("empty line") && detail.contains(":4")));
        assert_eq!(sessions[0].end_ts, 1_556_669_382_293_282_600, "the last message before the gap");
        assert_eq!(sessions[1].connected_ts, 1_556_669_382_424_930_400);
        assert!(
            matches!(&sessions[1].end, DisconnectReason::ClosedByVenue { detail, .. } if detail.contains(":9"))
        );
        assert_eq!(sessions[1].end_ts, 1_556_669_382_458_315_500);
        let frames: Vec<(i64, String)> =
            sessions.iter().flat_map(|s| &s.received).map(|(ts, m)| (*ts, text(m).to_owned())).collect();
        seen.push(frames);
    }
    assert!(seen.windows(2).all(|w| w[0] == w[1]), "NDJSON, gzip and cache lines give the same frames");

    // Consecutive files read as one capture: a file boundary is no disconnect.
    let first = write(tmp.path(), "a.ndjson", (lines[..2].join("\n") + "\n").as_bytes());
    let second = write(tmp.path(), "b.ndjson", (lines[2..].join("\n") + "\n").as_bytes());
    let (events, errors) =
        read_all(foreign::read_tardis_files(&[first, second], ExchangeId::Binance).unwrap());
    assert!(errors.is_empty());
    let (_, slots) = shape(&events);
    assert_eq!((slots[&1].sessions.len(), slots[&1].received().len()), (1, 5));
}

/// A tardis file of Binance built, as documented, around the real messages of `binance/`: the
/// REST snapshot as a generated depthSnapshot, then the 30 recorded NKNUSDT diffs, an aggTrade,
/// a disconnect, and the rest.
#[test]
fn tardis_binance_wrapper_reads_into_rest_and_frames_and_verified_books() {
    let root = fixtures_or_skip!();
    let body = file_lines(&root.join("binance/spot_rest_depth_snapshot_NKNUSDT.jsonl")).remove(0);
    let diffs = file_lines(&root.join("binance/spot_ws_depth100ms_nknusdt_combined.jsonl"));
    let trades = file_lines(&root.join("binance/spot_ws_aggtrade_combined.jsonl"));
    assert_eq!(diffs.len(), 30);
    // Assumed times: 100 ms apart from the REST snapshot's cryptofeed receive time.
    let t0 = 1_633_998_512_320_639_000;
    let at = |i: i64| t0 + i * 100_000_000 + 12_300; // 100 ns resolution, as tardis stores it
    let snapshot = format!("{{\"stream\":\"nknusdt@depthSnapshot\",\"generated\":true,\"data\":{body}}}");
    let mut lines = vec![tardis_line(at(0), &snapshot)];
    for (i, diff) in diffs.iter().enumerate().take(20) {
        lines.push(tardis_line(at(1 + i as i64), diff));
    }
    lines.push(tardis_line(at(21), &trades[0]));
    lines.push(String::new());
    for (i, diff) in diffs.iter().enumerate().skip(20) {
        lines.push(tardis_line(at(2 + i as i64), diff));
    }
    let tmp = tempfile::tempdir().unwrap();
    let path = write(tmp.path(), "binance_2021-10-12.ndjson.gz", &gzip((lines.join("\n") + "\n").as_bytes()));
    assert_eq!(foreign::detect(&path), Some(ForeignFormat::Tardis));

    let reader = foreign::read_tardis(&path, foreign::tardis_exchange("binance").unwrap()).unwrap();
    let venue = venue(ExchangeId::Binance);
    let parser = venue.parser(Arc::clone(reader.listing()));
    let (events, errors) = read_all(reader);
    assert!(errors.is_empty(), "{errors:?}");
    let (listing, slots) = shape(&events);
    assert_eq!(listing.len(), 1);
    assert_eq!(listing.canonical("NKNUSDT").map(Symbol::as_str), Some("NKN-USDT"));
    let slot = &slots[&1];
    assert_eq!((slot.url.as_str(), natives(&slot.symbols)), ("", vec!["NKNUSDT"]));
    assert_eq!(slot.sessions.len(), 2);
    let (first, second) = (&slot.sessions[0], &slot.sessions[1]);
    assert_eq!(first.order[..3], ["connected", "rest", "received"]);
    assert_eq!((first.rest.len(), first.received.len(), second.received.len()), (1, 21, 10));
    let (ts, symbol, url, rest_body) = &first.rest[0];
    assert_eq!((*ts, symbol.as_str()), (at(0), "NKN-USDT"));
    assert_eq!(url, "https://api.binance.com/api/v3/depth?symbol=NKNUSDT&limit=1000");
    assert_eq!(rest_body, &body, "the REST body, byte for byte");
    assert_eq!(text(&first.received[0].1), diffs[0]);
    assert_eq!(first.received[0].0, at(1));
    assert_eq!(text(&first.received[20].1), trades[0]);
    assert!(matches!(first.end, DisconnectReason::ClosedByVenue { .. }));
    assert_eq!(second.received[9].0, at(31));
    assert_eq!(second.end, DisconnectReason::Cancelled);

    // Through md's parser and book: the snapshot syncs the book, diff 1 (u == lastUpdateId)
    // is stale, the next 19 apply; after the disconnect the book starts again (a replay
    // resyncs) — here it is only checked that the later diffs still chain.
    let mut book = BookSync::<BookDelta>::new(SeqRule::UpdateIdRange, 1000);
    let info = listing.resolve("NKN-USDT").unwrap();
    let snapshot = venue.parse_snapshot(info, rest_body, *ts).unwrap();
    let Payload::BookSnapshot(snapshot) = snapshot.data else { panic!() };
    assert_eq!(snapshot.seq, 499_869_752);
    book.on_snapshot(&snapshot).unwrap();
    let mut applied = 0;
    for (ts, msg) in &first.received {
        let mut out = Vec::new();
        assert_eq!(parser.parse(Frame::Text(text(msg)), *ts, &mut out).unwrap(), Control::Data);
        for packet in out {
            if let Payload::BookDelta(delta) = packet.data {
                if book.on_delta(delta).unwrap() == Applied::Updated {
                    applied += 1;
                }
            }
        }
    }
    assert_eq!(applied, 19);
    for (ts, msg) in &second.received {
        let mut out = Vec::new();
        parser.parse(Frame::Text(text(msg)), *ts, &mut out).unwrap();
        for packet in out {
            let Payload::BookDelta(delta) = packet.data else { panic!() };
            assert_eq!(book.on_delta(delta).unwrap(), Applied::Updated);
        }
    }
}

/// tardis wrappers (documented envelope, assumed times) around real Bybit v5 spot and HTX spot
/// messages; HTX `depth` diffs tardis made (`"update":true`) are skipped with one error.
#[test]
fn tardis_bybit_and_huobi_wrappers_read_through_md_parsers() {
    let root = fixtures_or_skip!();
    let t0 = 1_731_035_685_326_000_000;
    let tmp = tempfile::tempdir().unwrap();

    let mut bybit = file_lines(&root.join("bybit/spot_publicTrade_BTCUSDT_rbot.jsonl"));
    bybit.extend(file_lines(&root.join("bybit/spot_orderbook50_BTCUSDT_gocryptotrader.jsonl")));
    let lines: Vec<String> =
        bybit.iter().enumerate().map(|(i, m)| tardis_line(t0 + i as i64 * 1000, m)).collect();
    let path = write(tmp.path(), "bybit-spot.ndjson", (lines.join("\n") + "\n").as_bytes());
    let reader = foreign::read_tardis(&path, foreign::tardis_exchange("bybit-spot").unwrap()).unwrap();
    let parser = venue(ExchangeId::Bybit).parser(Arc::clone(reader.listing()));
    let (events, errors) = read_all(reader);
    assert!(errors.is_empty(), "{errors:?}");
    let (listing, slots) = shape(&events);
    assert_eq!(listing.canonical("BTCUSDT").map(Symbol::as_str), Some("BTC-USDT"));
    let frames = slots[&1].received();
    assert_eq!(frames.len(), 5);
    let mut kinds = Vec::new();
    for (ts, msg) in frames {
        let mut out = Vec::new();
        kinds.push(match parser.parse(Frame::Text(text(msg)), *ts, &mut out).unwrap() {
            Control::Subscribed { .. } => "ack".to_owned(),
            Control::Data => out.iter().map(|p| p.data.kind_name()).collect::<Vec<_>>().join("+"),
            other => format!("{other:?}"),
        });
    }
    assert_eq!(kinds[0], "ack");
    assert_eq!(kinds[3..], ["book_snapshot", "book_delta"]);

    let mut huobi = file_lines(&root.join("huobi/spot_ws_decoded_cryptofeed.jsonl"));
    huobi.extend(file_lines(&root.join("huobi/spot_ws_mbp150_and_bbo_tardis_CONVERTED.jsonl")));
    let mut lines: Vec<String> =
        huobi.iter().enumerate().map(|(i, m)| tardis_line(t0 + i as i64 * 1000, m)).collect();
    // As docs.tardis.dev describes them (the flag documented, the rest of the shape assumed).
    let diff = r#"{"ch":"market.trioeth.depth.step0","ts":1618678071870,"update":true,"tick":{"bids":[[9.12E-7,0]],"asks":[]}}"#;
    lines.insert(2, tardis_line(t0 + 1500, diff));
    lines.insert(4, tardis_line(t0 + 2500, diff));
    let path = write(tmp.path(), "huobi.ndjson", (lines.join("\n") + "\n").as_bytes());
    let reader = foreign::read_tardis(&path, ExchangeId::Huobi).unwrap();
    let parser = venue(ExchangeId::Huobi).parser(Arc::clone(reader.listing()));
    let (events, errors) = read_all(reader);
    assert_eq!(errors.len(), 1, "one word for the skipped diffs: {errors:?}");
    assert_eq!(errors[0].line(), Some(3));
    assert!(errors[0].to_string().contains("HTX depth diff of market.trioeth.depth.step0"), "{}", errors[0]);
    let (listing, slots) = shape(&events);
    assert!(listing.canonical("btcusdt").is_some() && listing.canonical("trioeth").is_some());
    let frames = slots[&1].received();
    assert_eq!(frames.len(), huobi.len(), "every real message, no made-up diff");
    let mut bbo = 0;
    for (ts, msg) in frames {
        let mut out = Vec::new();
        match parser.parse(Frame::Text(text(msg)), *ts, &mut out) {
            Ok(_) => {}
            // md subscribes mbp and trades; the tardis sample's `bbo` push is not md's.
            Err(ParseError::UnknownFrame { .. }) if text(msg).contains(".bbo\"") => bbo += 1,
            Err(e) => panic!("{e}: {}", text(msg)),
        }
    }
    assert_eq!(bbo, 2);
}

#[test]
fn tardis_bad_lines_name_file_and_line_and_the_rest_is_read() {
    let tmp = tempfile::tempdir().unwrap();
    let good =
        |i: i64| tardis_line(1_633_998_512_000_000_000 + i, r#"{"stream":"nknusdt@aggTrade","data":{}}"#);
    let mut content = Vec::new();
    for line in [
        good(1),
        "not json at all".to_owned(),
        r#"{"localTimestamp":"2021-10-12T00:28:32.0000000Z"}"#.to_owned(),
        r#"{"message":{"a":1}}"#.to_owned(),
        r#"{"localTimestamp":"yesterday","message":{"a":1}}"#.to_owned(),
        r#"{"localTimestamp":"2021-13-12T00:28:32Z","message":{"a":1}}"#.to_owned(),
        r#"{"localTimestamp":"2021-10-12T00:28:32Z","message":{"a":1"#.to_owned(),
        "2021-10-12T00:28:32.0000000Z {not json}".to_owned(),
        good(2),
    ] {
        content.extend_from_slice(line.as_bytes());
        content.push(b'\n');
    }
    content.extend_from_slice(b"\xff\xfe not utf-8\n");
    content.extend_from_slice(good(3).as_bytes());
    let path = write(tmp.path(), "bad.ndjson", &content);
    let (events, errors) = read_all(foreign::read_tardis(&path, ExchangeId::Binance).unwrap());
    let lines: Vec<u64> = errors.iter().map(|e| e.line().unwrap()).collect();
    assert_eq!(lines, [2, 3, 4, 5, 6, 7, 8, 10]);
    for e in &errors {
        assert_eq!(e.path(), Some(path.as_path()));
        assert!(e.to_string().starts_with(&format!("{}:{}: ", path.display(), e.line().unwrap())), "{e}");
    }
    assert!(errors[1].to_string().contains("message"), "{}", errors[1]);
    assert!(errors[3].to_string().contains("bad timestamp"), "{}", errors[3]);
    let (_, slots) = shape(&events);
    let received = slots[&1].received();
    assert_eq!(received.iter().map(|(ts, _)| *ts - 1_633_998_512_000_000_000).collect::<Vec<_>>(), [0, 0, 0]);
    assert_eq!(slots[&1].sessions.len(), 1, "bad lines are no disconnects");
}

// ---------------------------------------------------------------------------------------------
// Damage and noise
// ---------------------------------------------------------------------------------------------

#[test]
fn random_bytes_never_panic() {
    let tmp = tempfile::tempdir().unwrap();
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let alphabet = b"{}[]\":,.0123456789 -<>bx\\'\nabcTZ";
    for round in 0..40 {
        let len = (next() % 20_000) as usize;
        let mut bytes: Vec<u8> = if round % 2 == 0 {
            (0..len).map(|_| next() as u8).collect()
        } else {
            (0..len).map(|_| alphabet[(next() % alphabet.len() as u64) as usize]).collect()
        };
        if round % 5 == 0 {
            bytes.splice(0..0, [0x1f, 0x8b]);
        }
        if round % 7 == 0 {
            bytes = gzip(&bytes);
        }
        for name in ["BINANCE.ws.1.0", "HUOBI.ws.1.0", "BYBIT.http.1.0"] {
            let path = write(tmp.path(), name, &bytes);
            let _ = foreign::detect(&path);
            for exchange in ExchangeId::BUILT_IN {
                if let Ok(reader) = foreign::read_tardis(&path, exchange) {
                    let (events, _) = read_all(reader);
                    if !events.is_empty() {
                        shape(&events);
                    }
                }
            }
            if let Ok(reader) = foreign::read_cryptofeed(&[path]) {
                let (events, _) = read_all(reader);
                if !events.is_empty() {
                    shape(&events);
                }
            }
        }
    }
}

#[test]
fn truncated_gzip_yields_what_was_read_then_an_io_error() {
    let dir = fixtures_or_skip!().join("cryptofeed_raw");
    let full = std::fs::read(dir.join("BINANCE.ws.prefix.txt")).unwrap();
    let compressed = gzip(&full);
    let tmp = tempfile::tempdir().unwrap();
    let path = write(tmp.path(), "BINANCE.ws.1.0.gz", &compressed[..compressed.len() / 2]);
    let (events, errors) = read_all(foreign::read_cryptofeed(std::slice::from_ref(&path)).unwrap());
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(matches!(&errors[0], ForeignError::Io { path: p, .. } if *p == path), "{:?}", errors[0]);
    let (_, slots) = shape(&events);
    let received = slots[&1].received().len();
    assert!(received > 50 && received < 265, "{received}");
    assert_eq!(slots[&1].sessions[0].end, DisconnectReason::Cancelled);
}

#[test]
fn detect_tells_the_formats_apart() {
    let root = fixtures_or_skip!();
    for file in [
        "BINANCE.ws.prefix.txt",
        "BINANCE.http.prefix.txt",
        "BYBIT.0.prefix.txt",
        "HUOBI.ws.prefix.txt",
        "BITSTAMP.ws.prefix.txt",
    ] {
        assert_eq!(
            foreign::detect(&root.join("cryptofeed_raw").join(file)),
            Some(ForeignFormat::Cryptofeed),
            "{file}"
        );
    }
    assert_eq!(foreign::detect(&root.join("huobi/spot_ws_decoded_cryptofeed.jsonl")), None, "bare messages");
    assert_eq!(foreign::detect(&root.join("SOURCES.md")), None);
    assert_eq!(foreign::detect(&root.join("no such file")), None);
    fn send<T: Send>() {}
    send::<ForeignReader>(); // md-replay may read on another thread
    let names: BTreeSet<&str> =
        [ForeignFormat::Tardis, ForeignFormat::Cryptofeed].iter().map(|f| f.as_str()).collect();
    assert_eq!(names, BTreeSet::from(["cryptofeed", "tardis"]));
}
