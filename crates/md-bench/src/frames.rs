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

/// The listing of `n` synthetic symbols `S0-USDT` …, natives as the venue spells them.
pub fn listing(venue: ExchangeId, n: usize) -> Vec<SymbolInfo> {
    (0..n)
        .map(|k| {
            let native = match venue {
                ExchangeId::Huobi => format!("s{k}usdt"),
                _ => format!("S{k}USDT"),
            };
            SymbolInfo { symbol: Symbol::new(&format!("S{k}"), "USDT"), native, trading: true }
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
            let qty = if x % 5 == 0 { "0".to_owned() } else { format!("{}.{:04}", x % 7, x % 10_000) };
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
pub fn traffic(venue: ExchangeId, symbols: usize, messages: usize) -> Traffic {
    let listing = listing(venue, symbols);
    // Bybit reads a delta with u == 1 as a service restart (a full image): start after it.
    let first = u64::from(venue == ExchangeId::Bybit);
    let mut seq = vec![first; symbols];
    let mut frames = Vec::with_capacity(messages + symbols);
    let mut symbol_of = Vec::with_capacity(messages + symbols);
    let ts = 1_700_000_000_000i64;
    if venue == ExchangeId::Bybit {
        for (k, info) in listing.iter().enumerate() {
            symbol_of.push(k);
            frames.push(Frame::Text(format!(
                r#"{{"topic":"orderbook.50.{n}","ts":{ts},"type":"snapshot","data":{{"s":"{n}","b":[],"a":[],"u":1,"seq":1}},"cts":{ts}}}"#,
                n = info.native
            )));
        }
    }
    for i in 0..messages {
        let k = i % symbols;
        let native = &listing[k].native;
        let lower = native.to_ascii_lowercase();
        let t = ts + (i / 1000) as i64;
        // Each symbol sees four incrementals, then a trade, round after round.
        let frame = if (i / symbols) % 5 == 4 {
            let (price, qty) = ("100.00", format!("0.{:04}", i % 10_000 + 1));
            match venue {
                ExchangeId::Binance => Frame::Text(format!(
                    r#"{{"stream":"{lower}@trade","data":{{"e":"trade","E":{t},"s":"{native}","t":{i},"p":"{price}","q":"{qty}","T":{t},"m":true,"M":true}}}}"#
                )),
                ExchangeId::Bybit => Frame::Text(format!(
                    r#"{{"topic":"publicTrade.{native}","ts":{t},"type":"snapshot","data":[{{"i":"{i}","T":{t},"p":"{price}","v":"{qty}","S":"Buy","s":"{native}","BT":false}}]}}"#
                )),
                _ => Frame::Binary(gzip(&format!(
                    r#"{{"ch":"market.{lower}.trade.detail","ts":{t},"tick":{{"id":{i},"ts":{t},"data":[{{"id":{i}00000000000000,"ts":{t},"tradeId":{i},"amount":{qty},"price":{price},"direction":"buy"}}]}}}}"#
                ))),
            }
        } else {
            seq[k] += 1;
            let s = seq[k];
            let (bids, asks) = (side_levels(i as u64, true), side_levels(i as u64 ^ 0x5555, false));
            match venue {
                ExchangeId::Binance => Frame::Text(format!(
                    r#"{{"stream":"{lower}@depth@100ms","data":{{"e":"depthUpdate","E":{t},"s":"{native}","U":{s},"u":{s},"b":{},"a":{}}}}}"#,
                    quoted(&bids),
                    quoted(&asks)
                )),
                ExchangeId::Bybit => Frame::Text(format!(
                    r#"{{"topic":"orderbook.50.{native}","ts":{t},"type":"delta","data":{{"s":"{native}","b":{},"a":{},"u":{s},"seq":{s}}},"cts":{t}}}"#,
                    quoted(&bids),
                    quoted(&asks)
                )),
                _ => Frame::Binary(gzip(&format!(
                    r#"{{"ch":"market.{lower}.mbp.150","ts":{t},"tick":{{"seqNum":{s},"prevSeqNum":{},"bids":{},"asks":{}}}}}"#,
                    s - 1,
                    bare(&bids),
                    bare(&asks)
                ))),
            }
        };
        frames.push(frame);
        symbol_of.push(k);
    }
    Traffic { venue, symbols: listing, frames, symbol_of }
}

/// The empty book image every synthetic symbol starts from (sequence 0), as the venue's
/// snapshot answer: Binance REST body, or HTX `rep` (gzip) for `native`.
pub fn snapshot_answer(venue: ExchangeId, native: &str, id: &str) -> Option<Frame> {
    match venue {
        ExchangeId::Binance => Some(Frame::Text(r#"{"lastUpdateId":0,"bids":[],"asks":[]}"#.to_owned())),
        ExchangeId::Huobi => Some(Frame::Binary(gzip(&format!(
            r#"{{"id":{id},"status":"ok","ts":1700000000000,"rep":"market.{native}.mbp.150","data":{{"seqNum":0,"bids":[],"asks":[]}}}}"#
        )))),
        _ => None,
    }
}
