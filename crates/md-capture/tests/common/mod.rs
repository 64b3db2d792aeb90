//! Helpers shared by the capture tests: events of every kind, a writer config for tests,
//! reading a capture back into events, errors and headers.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use md_capture::{read, CaptureConfig, CaptureError, CaptureHeader, CaptureItem, CaptureWriter, ReadOptions};
use md_core::{
    ConnId, DisconnectReason, ExchangeId, RawEvent, RawKind, RawTap, Removal, Symbol, SymbolInfo, Symbols,
    WsMessage,
};

/// 2024-01-02T03:00:00Z.
pub const T0: i64 = 1_704_164_400_000_000_000;
pub const SEC: i64 = 1_000_000_000;
pub const HOUR: i64 = 3600 * SEC;

pub fn event(exchange: ExchangeId, slot: u64, conn: u64, ts: i64, mono: u64, kind: RawKind) -> RawEvent {
    RawEvent { exchange, slot, conn: ConnId(conn), local_ts: ts, mono_ns: mono, kind }
}

pub fn info(base: &str, native: &str, trading: bool) -> SymbolInfo {
    SymbolInfo { symbol: Symbol::new(base, "USDT"), native: native.into(), trading }
}

/// One event of every kind md-core has.
pub fn every_kind() -> Vec<RawKind> {
    let listing = Symbols::new([info("BTC", "BTCUSDT", true), info("ETH", "ETHUSDT", false)]);
    let ws = |m: fn(Bytes) -> WsMessage, b: &'static [u8]| m(Bytes::from_static(b));
    vec![
        RawKind::Listing(Arc::new(listing)),
        RawKind::Task { url: "wss://stream.example/ws".into() },
        RawKind::Symbols { added: vec![info("BTC", "BTCUSDT", true)], announced: false },
        RawKind::Connected { url: "wss://stream.example/ws".into() },
        RawKind::Sent(WsMessage::from_text(r#"{"method":"SUBSCRIBE","params":["btcusdt@depth"]}"#)),
        RawKind::Received(WsMessage::from_text(r#"{"result":null,"id":1}"#)),
        RawKind::Received(ws(WsMessage::Binary, b"\x1f\x8b\x00\xff binary")),
        RawKind::Received(ws(WsMessage::Ping, b"ping!")),
        RawKind::Sent(ws(WsMessage::Pong, b"ping!")),
        RawKind::Sent(ws(WsMessage::Ping, b"")),
        RawKind::Received(ws(WsMessage::Pong, b"")),
        RawKind::Sent(ws(WsMessage::Binary, b"\x00\x01\x02")),
        RawKind::Rest {
            symbol: Symbol::new("BTC", "USDT"),
            url: "https://api.example/depth?symbol=BTCUSDT".into(),
            body: r#"{"lastUpdateId":1,"bids":[],"asks":[]}"#.into(),
        },
        RawKind::ListingAdopted,
        RawKind::Rest {
            symbol: md_core::symbol::guess_symbol("XYZ"),
            url: String::new(),
            body: String::new(),
        },
        RawKind::Symbols {
            added: vec![info("SOL", "SOLUSDT", true), info("XRP", "XRPUSDT", true)],
            announced: true,
        },
        RawKind::Unsubscribed { symbols: vec![Symbol::new("SOL", "USDT")], reason: Removal::Delisted },
        RawKind::Unsubscribed { symbols: vec![], reason: Removal::Requested },
        RawKind::Received(WsMessage::Close(Some((1000, "bye ✓".into())))),
        RawKind::Sent(WsMessage::Close(None)),
        RawKind::Disconnected(DisconnectReason::ClosedByVenue {
            close_code: Some(1000),
            detail: "bye".into(),
        }),
        RawKind::Disconnected(DisconnectReason::Silent { timeout_ms: 1500 }),
        RawKind::Disconnected(DisconnectReason::Cancelled),
    ]
}

/// A stable description of an event (a listing's hash maps have no stable order).
pub fn describe(e: &RawEvent) -> String {
    let kind = match &e.kind {
        RawKind::Listing(symbols) => {
            let mut infos: Vec<String> = symbols.iter().map(|i| format!("{i:?}")).collect();
            infos.sort();
            format!("Listing({infos:?})")
        }
        other => format!("{other:?}"),
    };
    format!("{} slot={} conn={} ts={} mono={} {kind}", e.exchange, e.slot, e.conn, e.local_ts, e.mono_ns)
}

/// A Binance-like diff-depth frame of about 450 bytes (combined-stream form, 8-decimal
/// prices and quantities as Binance sends them, levels near a drifting mid).
pub fn depth_frame(i: u64) -> String {
    let mut rng = Rng(i.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let mid = 4_200_000 + (i / 50) % 2000; // in cents
    let mut side = |sign: i64| {
        let levels = 4 + rng.below(3);
        let mut out = String::new();
        for l in 0..levels {
            let cents = mid as i64 + sign * (1 + l as i64 + rng.below(20) as i64);
            let qty = if rng.below(4) == 0 { 0 } else { rng.below(300_000_000) };
            let sep = if l == 0 { "" } else { "," };
            out.push_str(&format!(
                r#"{sep}["{}.{:02}000000","{}.{:08}"]"#,
                cents / 100,
                cents % 100,
                qty / 100_000_000,
                qty % 100_000_000
            ));
        }
        out
    };
    let (bids, asks) = (side(-1), side(1));
    let first = 40_000_000 + i * 11;
    format!(
        r#"{{"stream":"btcusdt@depth@100ms","data":{{"e":"depthUpdate","E":{},"s":"BTCUSDT","U":{first},"u":{},"b":[{bids}],"a":[{asks}]}}}}"#,
        1_704_164_400_000 + i * 100,
        first + 10,
    )
}

pub fn frame_event(exchange: ExchangeId, i: u64, ts: i64) -> RawEvent {
    event(exchange, 1, 1, ts, i * 1000, RawKind::Received(WsMessage::from_text(depth_frame(i))))
}

/// A config for tests: short flushes, small blocks.
pub fn config(dir: &Path) -> CaptureConfig {
    let mut config = CaptureConfig::new(dir);
    config.flush_interval = Duration::from_millis(50);
    config
}

pub fn header(exchange: ExchangeId) -> CaptureHeader {
    CaptureHeader::new(exchange, "0.1.0-test", r#"{"symbols":["BTC-USDT"]}"#)
}

/// Writes `events` with `config` and finishes.
pub fn write_all(config: CaptureConfig, exchange: ExchangeId, events: &[RawEvent]) -> Arc<CaptureWriter> {
    let writer = CaptureWriter::start(config, header(exchange)).unwrap();
    for e in events {
        writer.record(e.clone());
    }
    writer.finish().unwrap();
    writer
}

/// What a capture reads back as.
#[derive(Debug, Default)]
pub struct ReadBack {
    pub events: Vec<RawEvent>,
    pub errors: Vec<CaptureError>,
    pub headers: Vec<(PathBuf, CaptureHeader)>,
}

pub fn read_back(path: &Path, options: ReadOptions) -> ReadBack {
    let mut out = ReadBack::default();
    for item in read(path, options).unwrap() {
        match item {
            Ok(CaptureItem::Event(e)) => out.events.push(e),
            Ok(CaptureItem::Header { file, header }) => out.headers.push((file, header)),
            Err(e) => out.errors.push(e),
        }
    }
    out
}

pub fn descriptions(events: &[RawEvent]) -> Vec<String> {
    events.iter().map(describe).collect()
}

/// The capture files of a venue directory, in name order.
pub fn capture_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "mdcap"))
        .collect();
    files.sort_by_key(|p| md_capture::CaptureName::from_path(p).unwrap().sort_key());
    files
}

/// Waits (polling) until `done`, at most `limit`.
pub fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    done()
}

/// A small deterministic PRNG (xorshift64*).
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}
