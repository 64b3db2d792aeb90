//! Pre-encoded, valid venue frames: per symbol, sequence numbers chain exactly as the venue's
//! rule requires, bids stay below 100 and asks above, so books never cross or gap.

use std::io::Write;

use md_core::{ExchangeId, Symbol, SymbolInfo, Symbols};

/// A venue's frame stream for `symbols` symbols.
#[derive(Debug, Clone)]
pub struct Traffic {
    /// The venue.
    pub venue: ExchangeId,
    /// The listing the parser uses.
    pub symbols: Vec<SymbolInfo>,
    /// Frames in send order (text, or gzip bytes for HTX).
    pub frames: Vec<Frame>,
    /// The symbol index of each frame (a connection is sent only its own symbols' frames).
    pub symbol_of: Vec<usize>,
}

/// One frame on the wire.
#[derive(Debug, Clone)]
pub enum Frame {
    /// A text frame.
    Text(String),
    /// A binary frame.
    Binary(Vec<u8>),
}

impl Frame {
    /// Its length in bytes.
    pub fn len(&self) -> usize {
        match self {
            Self::Text(t) => t.len(),
            Self::Binary(b) => b.len(),
        }
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Traffic {
    /// Frames before the timed part on a connection carrying `books` books: Bybit's snapshots
    /// and one round of each book's updates.
    pub fn warm_up_frames(&self, books: usize) -> usize {
        let snapshots = if self.venue == ExchangeId::Bybit { books } else { 0 };
        (snapshots + books).min(self.frames.len())
    }
}

/// How one venue's synthetic frames are written. One implementation per venue: a venue md
/// adds without one has no benchmark traffic, and [`writer`] says so instead of serving it
/// another venue's protocol.
trait Writer: Sync {
    /// The native name of synthetic symbol `k`.
    fn native(&self, k: usize) -> String;
    /// Frames sent before any update (Bybit's snapshots).
    fn opening(&self, _listing: &[SymbolInfo], _ts: i64) -> Vec<Frame> {
        Vec::new()
    }
    /// The first sequence an update follows.
    fn first_seq(&self) -> u64 {
        0
    }
    /// A trade frame.
    fn trade(&self, native: &str, i: usize, t: i64, price: &str, qty: &str) -> Frame;
    /// A book incremental with sequence `s`.
    fn delta(
        &self,
        native: &str,
        s: u64,
        t: i64,
        bids: &[(String, String)],
        asks: &[(String, String)],
    ) -> Frame;
    /// The venue's answer to a snapshot request: the empty image at sequence 0.
    fn snapshot_answer(&self, native: &str, id: &str) -> Option<Frame>;
}

struct BinanceFrames;
struct BybitFrames;
struct HuobiFrames;
struct BitstampFrames;

impl Writer for BinanceFrames {
    fn native(&self, k: usize) -> String {
        format!("S{k}USDT")
    }

    fn trade(&self, native: &str, i: usize, t: i64, price: &str, qty: &str) -> Frame {
        let lower = native.to_ascii_lowercase();
        Frame::Text(format!(
            r#"{{"stream":"{lower}@trade","data":{{"e":"trade","E":{t},"s":"{native}","t":{i},"p":"{price}","q":"{qty}","T":{t},"m":true,"M":true}}}}"#
        ))
    }

    fn delta(
        &self,
        native: &str,
        s: u64,
        t: i64,
        bids: &[(String, String)],
        asks: &[(String, String)],
    ) -> Frame {
        let lower = native.to_ascii_lowercase();
        Frame::Text(format!(
            r#"{{"stream":"{lower}@depth@100ms","data":{{"e":"depthUpdate","E":{t},"s":"{native}","U":{s},"u":{s},"b":{},"a":{}}}}}"#,
            quoted(bids),
            quoted(asks)
        ))
    }

    fn snapshot_answer(&self, _native: &str, _id: &str) -> Option<Frame> {
        Some(Frame::Text(r#"{"lastUpdateId":0,"bids":[],"asks":[]}"#.to_owned()))
    }
}

impl Writer for BybitFrames {
    fn native(&self, k: usize) -> String {
        format!("S{k}USDT")
    }

    fn opening(&self, listing: &[SymbolInfo], ts: i64) -> Vec<Frame> {
        listing
            .iter()
            .map(|info| {
                Frame::Text(format!(
                    r#"{{"topic":"orderbook.50.{n}","ts":{ts},"type":"snapshot","data":{{"s":"{n}","b":[],"a":[],"u":1,"seq":1}},"cts":{ts}}}"#,
                    n = info.native
                ))
            })
            .collect()
    }

    /// Bybit reads a delta with u == 1 as a service restart (a full image): start after it.
    fn first_seq(&self) -> u64 {
        1
    }

    fn trade(&self, native: &str, i: usize, t: i64, price: &str, qty: &str) -> Frame {
        Frame::Text(format!(
            r#"{{"topic":"publicTrade.{native}","ts":{t},"type":"snapshot","data":[{{"i":"{i}","T":{t},"p":"{price}","v":"{qty}","S":"Buy","s":"{native}","BT":false}}]}}"#
        ))
    }

    fn delta(
        &self,
        native: &str,
        s: u64,
        t: i64,
        bids: &[(String, String)],
        asks: &[(String, String)],
    ) -> Frame {
        Frame::Text(format!(
            r#"{{"topic":"orderbook.50.{native}","ts":{t},"type":"delta","data":{{"s":"{native}","b":{},"a":{},"u":{s},"seq":{s}}},"cts":{t}}}"#,
            quoted(bids),
            quoted(asks)
        ))
    }

    fn snapshot_answer(&self, _native: &str, _id: &str) -> Option<Frame> {
        None
    }
}

impl Writer for HuobiFrames {
    fn native(&self, k: usize) -> String {
        format!("s{k}usdt")
    }

    fn trade(&self, native: &str, i: usize, t: i64, price: &str, qty: &str) -> Frame {
        Frame::Binary(gzip(&format!(
            r#"{{"ch":"market.{native}.trade.detail","ts":{t},"tick":{{"id":{i},"ts":{t},"data":[{{"id":{i}00000000000000,"ts":{t},"tradeId":{i},"amount":{qty},"price":{price},"direction":"buy"}}]}}}}"#
        )))
    }

    fn delta(
        &self,
        native: &str,
        s: u64,
        t: i64,
        bids: &[(String, String)],
        asks: &[(String, String)],
    ) -> Frame {
        Frame::Binary(gzip(&format!(
            r#"{{"ch":"market.{native}.mbp.150","ts":{t},"tick":{{"seqNum":{s},"prevSeqNum":{},"bids":{},"asks":{}}}}}"#,
            s - 1,
            bare(bids),
            bare(asks)
        )))
    }

    fn snapshot_answer(&self, native: &str, id: &str) -> Option<Frame> {
        Some(Frame::Binary(gzip(&format!(
            r#"{{"id":{id},"status":"ok","ts":1700000000000,"rep":"market.{native}.mbp.150","data":{{"seqNum":0,"bids":[],"asks":[]}}}}"#
        ))))
    }
}

/// Bitstamp's `microtimestamp` of sequence 0: a diff's is this plus its sequence, so it
/// increases strictly per symbol and stays near [`TS`].
const BITSTAMP_BASE_US: u64 = TS as u64 * 1000;

impl Writer for BitstampFrames {
    fn native(&self, k: usize) -> String {
        format!("s{k}usdt")
    }

    fn trade(&self, native: &str, i: usize, t: i64, price: &str, qty: &str) -> Frame {
        Frame::Text(format!(
            r#"{{"data":{{"id":{i},"id_str":"{i}","timestamp":"{}","amount":{qty},"amount_str":"{qty}","price":{price},"price_str":"{price}","type":0,"microtimestamp":"{}","buy_order_id":1,"sell_order_id":2}},"channel":"live_trades_{native}","event":"trade"}}"#,
            t / 1000,
            t * 1000
        ))
    }

    fn delta(
        &self,
        native: &str,
        s: u64,
        _t: i64,
        bids: &[(String, String)],
        asks: &[(String, String)],
    ) -> Frame {
        let us = BITSTAMP_BASE_US + s;
        Frame::Text(format!(
            r#"{{"data":{{"timestamp":"{}","microtimestamp":"{us}","bids":{},"asks":{}}},"channel":"diff_order_book_{native}","event":"data"}}"#,
            us / 1_000_000,
            quoted(bids),
            quoted(asks)
        ))
    }

    fn snapshot_answer(&self, _native: &str, _id: &str) -> Option<Frame> {
        // The REST body of the empty book, older than every diff.
        Some(Frame::Text(r#"{"timestamp":"0","microtimestamp":"0","bids":[],"asks":[]}"#.to_owned()))
    }
}

/// The frame writer of a venue; `None` for a venue md-bench has none for.
fn writer(venue: ExchangeId) -> Option<&'static dyn Writer> {
    match venue {
        ExchangeId::Binance => Some(&BinanceFrames),
        ExchangeId::Bybit => Some(&BybitFrames),
        ExchangeId::Huobi => Some(&HuobiFrames),
        ExchangeId::Bitstamp => Some(&BitstampFrames),
        _ => None,
    }
}

/// Whether md-bench can write this venue's traffic.
pub fn writes(venue: ExchangeId) -> bool {
    writer(venue).is_some()
}

fn expect_writer(venue: ExchangeId) -> &'static dyn Writer {
    match writer(venue) {
        Some(writer) => writer,
        None => panic!("md-bench has no frame writer for {venue}: add one in crates/md-bench/src/frames.rs"),
    }
}

/// The listing of `n` synthetic symbols `S0-USDT` …, natives as the venue spells them.
///
/// # Panics
/// For a venue md-bench has no frame writer for.
pub fn listing(venue: ExchangeId, n: usize) -> Vec<SymbolInfo> {
    let writer = expect_writer(venue);
    (0..n)
        .map(|k| SymbolInfo {
            symbol: Symbol::new(&format!("S{k}"), "USDT"),
            native: writer.native(k),
            trading: true,
        })
        .collect()
}

/// The listing as a [`Symbols`] map.
pub fn symbols(venue: ExchangeId, n: usize) -> Symbols {
    Symbols::new(listing(venue, n))
}

/// Prices from a small deterministic walk: bids 99.00–99.99, asks 100.01–101.00.
fn side_levels(seed: u64, bid: bool) -> Vec<(String, String)> {
    (0..5u64)
        .map(|i| {
            let x = seed.wrapping_mul(6364136223846793005).wrapping_add(i * 1442695040888963407) >> 33;
            let ticks = x % 100;
            let price = if bid {
                format!("99.{ticks:02}")
            } else {
                format!("{}.{:02}", 100 + (ticks + 1) / 100, (ticks + 1) % 100)
            };
            // One level in five is deleted: books stay bounded.
            let qty =
                if x.is_multiple_of(5) { "0".to_owned() } else { format!("{}.{:04}", x % 7, x % 10_000) };
            (price, qty)
        })
        .collect()
}

fn quoted(levels: &[(String, String)]) -> String {
    let inner: Vec<String> = levels.iter().map(|(p, q)| format!("[\"{p}\",\"{q}\"]")).collect();
    format!("[{}]", inner.join(","))
}

fn bare(levels: &[(String, String)]) -> String {
    let inner: Vec<String> = levels.iter().map(|(p, q)| format!("[{p},{q}]")).collect();
    format!("[{}]", inner.join(","))
}

fn gzip(text: &str) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let _ = encoder.write_all(text.as_bytes());
    encoder.finish().unwrap_or_default()
}

/// `messages` frames over `symbols` symbols: four book incrementals to one trade, like a busy
/// venue. Bybit streams start with one snapshot per symbol.
///
/// # Panics
/// For a venue md-bench has no frame writer for.
pub fn traffic(venue: ExchangeId, symbols: usize, messages: usize) -> Traffic {
    let mut generator = Generator::new(venue, symbols);
    let mut frames = std::mem::take(&mut generator.opening);
    let mut symbol_of: Vec<usize> = (0..frames.len()).collect();
    frames.reserve(messages);
    symbol_of.reserve(messages);
    for _ in 0..messages {
        let (k, frame) = generator.next_frame();
        frames.push(frame);
        symbol_of.push(k);
    }
    Traffic { venue, symbols: generator.listing, frames, symbol_of }
}

/// The frames of [`traffic`], one at a time: a benchmark that wants them hot in cache, as
/// frames just read from a socket are, generates a small chunk, feeds it, and goes on.
#[derive(Debug)]
pub struct Generator {
    writer: &'static dyn Writer,
    /// The listing the frames name.
    pub listing: Vec<SymbolInfo>,
    /// Frames to send before any update (Bybit's snapshots), taken by whoever sends first.
    pub opening: Vec<Frame>,
    seq: Vec<u64>,
    next: usize,
}

impl std::fmt::Debug for dyn Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Writer")
    }
}

impl Generator {
    /// A generator for `symbols` synthetic symbols.
    ///
    /// # Panics
    /// For a venue md-bench has no frame writer for.
    pub fn new(venue: ExchangeId, symbols: usize) -> Self {
        let writer = expect_writer(venue);
        let listing = listing(venue, symbols);
        let opening = writer.opening(&listing, TS);
        Self { writer, seq: vec![writer.first_seq(); symbols], listing, opening, next: 0 }
    }

    /// The next frame and the index of its symbol.
    pub fn next_frame(&mut self) -> (usize, Frame) {
        let (i, symbols) = (self.next, self.listing.len());
        self.next += 1;
        let k = i % symbols;
        let native = &self.listing[k].native;
        let t = TS + (i / 1000) as i64;
        // Each symbol sees four incrementals, then a trade, round after round.
        let frame = if (i / symbols) % 5 == 4 {
            self.writer.trade(native, i, t, "100.00", &format!("0.{:04}", i % 10_000 + 1))
        } else {
            self.seq[k] += 1;
            let (bids, asks) = (side_levels(i as u64, true), side_levels(i as u64 ^ 0x5555, false));
            self.writer.delta(native, self.seq[k], t, &bids, &asks)
        };
        (k, frame)
    }
}

/// The venue time of the first frame (ms).
const TS: i64 = 1_700_000_000_000;

/// The empty book image every synthetic symbol starts from (sequence 0), as the venue's
/// snapshot answer: Binance or Bitstamp REST body, or HTX `rep` (gzip) for `native`; `None`
/// for venues whose stream sends its own snapshots.
pub fn snapshot_answer(venue: ExchangeId, native: &str, id: &str) -> Option<Frame> {
    writer(venue)?.snapshot_answer(native, id)
}
