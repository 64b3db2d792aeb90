//! The file layout: a header naming the venue and symbol, then checksummed deflate chunks.
//!
//! File header (at byte 0):
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 4 | magic `MDEV` |
//! | 4 | 2 | format version (u16 LE) |
//! | 6 | 2 | `n`: bytes of the header body (u16 LE) |
//! | 8 | n | body: venue name (u8 length + ASCII, lower case), symbol (u8 length + UTF-8), start `local_ts` (i64 LE), writer (u8 length + `md-events <version>`) |
//! | 8 + n | 4 | crc32 of bytes `0 .. 8 + n` |
//!
//! Chunk (repeated to the end of the file):
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 4 | magic `MDEC` |
//! | 4 | 4 | stored (compressed) length (u32 LE) |
//! | 8 | 4 | raw (record bytes) length (u32 LE) |
//! | 12 | 4 | record count (u32 LE) |
//! | 16 | 8 | smallest `local_ts` (i64 LE) |
//! | 24 | 8 | largest `local_ts` |
//! | 32 | 8 | smallest `exchange_ts` |
//! | 40 | 8 | largest `exchange_ts` |
//! | 48 | 4 | crc32 of the stored bytes |
//! | 52 | 4 | crc32 of bytes 0..52 |
//! | 56 | stored | the records ([`crate::codec`]), raw deflate |

use std::io::Write;

use flate2::{Compression, Decompress, FlushDecompress};
use md_core::{ExchangeId, Symbol, UnixNanos};

use crate::FORMAT_VERSION;

/// The first bytes of every event file.
pub const FILE_MAGIC: [u8; 4] = *b"MDEV";
/// The first bytes of every chunk.
pub const CHUNK_MAGIC: [u8; 4] = *b"MDEC";
/// Bytes of a chunk header.
pub const CHUNK_HEADER_LEN: usize = 56;
/// The largest chunk (either length) a reader accepts.
pub const MAX_CHUNK_LEN: u32 = 64 << 20;

/// The header of an event file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileHeader {
    /// The format version the file is written in.
    pub version: u16,
    /// The venue of every packet in the file.
    pub exchange: ExchangeId,
    /// The symbol of every packet in the file.
    pub symbol: Symbol,
    /// The first packet's `local_ts` (the start in the file name, to the second).
    pub start: UnixNanos,
    /// What wrote it (`md-events 0.1.0`).
    pub writer: String,
}

/// Why bytes are not a file header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderError {
    /// Fewer bytes than the header needs (a file being created, or torn at its start).
    Short,
    /// Another format version.
    Version(u16),
    /// Damaged.
    Bad(String),
}

impl FileHeader {
    /// A header of the current version.
    pub fn new(exchange: ExchangeId, symbol: Symbol, start: UnixNanos) -> Self {
        let writer = format!("md-events {}", env!("CARGO_PKG_VERSION"));
        Self { version: FORMAT_VERSION, exchange, symbol, start, writer }
    }

    /// The header's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut body = Vec::with_capacity(64);
        let mut short = |s: &str| {
            let s = &s.as_bytes()[..s.len().min(255)];
            body.push(s.len() as u8);
            body.extend_from_slice(s);
        };
        short(self.exchange.as_str());
        short(self.symbol.as_str());
        body.extend_from_slice(&self.start.to_le_bytes());
        let mut tail = Vec::new();
        let w = &self.writer.as_bytes()[..self.writer.len().min(255)];
        tail.push(w.len() as u8);
        tail.extend_from_slice(w);
        body.extend_from_slice(&tail);
        let mut out = Vec::with_capacity(12 + body.len());
        out.extend_from_slice(&FILE_MAGIC);
        out.extend_from_slice(&self.version.to_le_bytes());
        out.extend_from_slice(&(body.len() as u16).to_le_bytes());
        out.extend_from_slice(&body);
        let crc = crc32fast::hash(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }

    /// Decodes a header from the start of `b`; returns it and its length.
    pub fn parse(b: &[u8]) -> Result<(Self, usize), HeaderError> {
        if b.len() < 8 {
            return Err(HeaderError::Short);
        }
        if b[..4] != FILE_MAGIC {
            return Err(HeaderError::Bad("no MDEV magic".into()));
        }
        let version = u16::from_le_bytes([b[4], b[5]]);
        if version != FORMAT_VERSION {
            return Err(HeaderError::Version(version));
        }
        let n = usize::from(u16::from_le_bytes([b[6], b[7]]));
        let len = 8 + n + 4;
        if b.len() < len {
            return Err(HeaderError::Short);
        }
        let crc = u32::from_le_bytes([b[8 + n], b[9 + n], b[10 + n], b[11 + n]]);
        if crc32fast::hash(&b[..8 + n]) != crc {
            return Err(HeaderError::Bad("file header checksum mismatch".into()));
        }
        let bad = |what: &str| HeaderError::Bad(format!("file header: {what}"));
        let body = &b[8..8 + n];
        let mut pos = 0usize;
        let mut short = || -> Result<&str, HeaderError> {
            let len = usize::from(*body.get(pos).ok_or_else(|| bad("short"))?);
            let s = body.get(pos + 1..pos + 1 + len).ok_or_else(|| bad("short"))?;
            pos += 1 + len;
            std::str::from_utf8(s).map_err(|_| bad("not UTF-8"))
        };
        let exchange_name = short()?.to_owned();
        let symbol_text = short()?.to_owned();
        let start_bytes: [u8; 8] =
            body.get(pos..pos + 8).and_then(|s| s.try_into().ok()).ok_or_else(|| bad("short"))?;
        pos += 8;
        let mut short = || -> Result<&str, HeaderError> {
            let len = usize::from(*body.get(pos).ok_or_else(|| bad("short"))?);
            let s = body.get(pos + 1..pos + 1 + len).ok_or_else(|| bad("short"))?;
            pos += 1 + len;
            std::str::from_utf8(s).map_err(|_| bad("not UTF-8"))
        };
        let writer = short()?.to_owned();
        let exchange = exchange_from_name(&exchange_name).ok_or_else(|| bad("unknown venue"))?;
        let symbol = symbol_from_text(&symbol_text).ok_or_else(|| bad("bad symbol"))?;
        Ok((Self { version, exchange, symbol, start: i64::from_le_bytes(start_bytes), writer }, len))
    }
}

/// A venue from its [`ExchangeId::as_str`] name, any case (`custom` included).
pub fn exchange_from_name(name: &str) -> Option<ExchangeId> {
    if name.eq_ignore_ascii_case("custom") {
        return Some(ExchangeId::Custom);
    }
    ExchangeId::parse(name).filter(|id| id.as_str().eq_ignore_ascii_case(name))
}

/// A symbol from its exact text (canonical `BTC-USDT`, the wildcard `*`, or a venue's name
/// that could not be split).
pub fn symbol_from_text(text: &str) -> Option<Symbol> {
    if text.is_empty() {
        return None;
    }
    serde_json::from_value(serde_json::Value::String(text.to_owned())).ok()
}

/// The time ranges and count of a chunk's records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkMeta {
    /// Records in it.
    pub records: u32,
    /// Smallest `local_ts`.
    pub min_local: UnixNanos,
    /// Largest `local_ts`.
    pub max_local: UnixNanos,
    /// Smallest `exchange_ts`.
    pub min_exchange: UnixNanos,
    /// Largest `exchange_ts`.
    pub max_exchange: UnixNanos,
}

impl ChunkMeta {
    /// The meta of an empty chunk (grow it with [`ChunkMeta::add`]).
    pub fn empty() -> Self {
        Self {
            records: 0,
            min_local: i64::MAX,
            max_local: i64::MIN,
            min_exchange: i64::MAX,
            max_exchange: i64::MIN,
        }
    }

    /// Counts one record with these clocks.
    pub fn add(&mut self, local: UnixNanos, exchange: UnixNanos) {
        self.records += 1;
        self.min_local = self.min_local.min(local);
        self.max_local = self.max_local.max(local);
        self.min_exchange = self.min_exchange.min(exchange);
        self.max_exchange = self.max_exchange.max(exchange);
    }
}

/// A chunk header, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkHeader {
    /// Bytes of the data on disk.
    pub stored_len: u32,
    /// Bytes of the records, uncompressed.
    pub raw_len: u32,
    /// Count and time ranges.
    pub meta: ChunkMeta,
    /// crc32 of the stored bytes.
    pub data_crc: u32,
}

impl ChunkHeader {
    /// The header's bytes, its own checksum included.
    pub fn to_bytes(&self) -> [u8; CHUNK_HEADER_LEN] {
        let mut b = [0u8; CHUNK_HEADER_LEN];
        b[0..4].copy_from_slice(&CHUNK_MAGIC);
        b[4..8].copy_from_slice(&self.stored_len.to_le_bytes());
        b[8..12].copy_from_slice(&self.raw_len.to_le_bytes());
        b[12..16].copy_from_slice(&self.meta.records.to_le_bytes());
        b[16..24].copy_from_slice(&self.meta.min_local.to_le_bytes());
        b[24..32].copy_from_slice(&self.meta.max_local.to_le_bytes());
        b[32..40].copy_from_slice(&self.meta.min_exchange.to_le_bytes());
        b[40..48].copy_from_slice(&self.meta.max_exchange.to_le_bytes());
        b[48..52].copy_from_slice(&self.data_crc.to_le_bytes());
        let crc = crc32fast::hash(&b[..52]);
        b[52..56].copy_from_slice(&crc.to_le_bytes());
        b
    }

    /// Decodes and verifies a header; the error says what is wrong.
    pub fn parse(b: &[u8; CHUNK_HEADER_LEN]) -> Result<Self, String> {
        if b[..4] != CHUNK_MAGIC {
            return Err("no chunk magic".into());
        }
        let u32_at = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let i64_at = |i: usize| {
            let mut a = [0u8; 8];
            a.copy_from_slice(&b[i..i + 8]);
            i64::from_le_bytes(a)
        };
        if crc32fast::hash(&b[..52]) != u32_at(52) {
            return Err("chunk header checksum mismatch".into());
        }
        let header = Self {
            stored_len: u32_at(4),
            raw_len: u32_at(8),
            meta: ChunkMeta {
                records: u32_at(12),
                min_local: i64_at(16),
                max_local: i64_at(24),
                min_exchange: i64_at(32),
                max_exchange: i64_at(40),
            },
            data_crc: u32_at(48),
        };
        if header.stored_len > MAX_CHUNK_LEN || header.raw_len > MAX_CHUNK_LEN {
            return Err("chunk lengths out of range".into());
        }
        Ok(header)
    }

    /// Bytes of the whole chunk on disk.
    pub fn chunk_len(&self) -> u64 {
        CHUNK_HEADER_LEN as u64 + u64::from(self.stored_len)
    }

    /// Whether any record can be in `[from, to)` by local time (`exchange == false`) or exchange time.
    pub fn overlaps(&self, exchange: bool, from: Option<UnixNanos>, to: Option<UnixNanos>) -> bool {
        let (min, max) = if exchange {
            (self.meta.min_exchange, self.meta.max_exchange)
        } else {
            (self.meta.min_local, self.meta.max_local)
        };
        from.is_none_or(|from| max >= from) && to.is_none_or(|to| min < to)
    }
}

/// Compresses a chunk's record bytes into a chunk (header and data), ready to append.
pub fn seal(raw: &[u8], meta: ChunkMeta, level: u32) -> std::io::Result<Vec<u8>> {
    let too_big = || std::io::Error::new(std::io::ErrorKind::InvalidInput, "chunk over 64 MiB");
    let raw_len = u32::try_from(raw.len()).ok().filter(|n| *n <= MAX_CHUNK_LEN).ok_or_else(too_big)?;
    let mut out = Vec::with_capacity(CHUNK_HEADER_LEN + raw.len() / 3 + 64);
    out.extend_from_slice(&[0; CHUNK_HEADER_LEN]);
    let mut encoder = flate2::write::DeflateEncoder::new(out, Compression::new(level.clamp(1, 9)));
    encoder.write_all(raw)?;
    let mut out = encoder.finish()?;
    let stored = &out[CHUNK_HEADER_LEN..];
    let stored_len = u32::try_from(stored.len()).ok().filter(|n| *n <= MAX_CHUNK_LEN).ok_or_else(too_big)?;
    let header = ChunkHeader { stored_len, raw_len, meta, data_crc: crc32fast::hash(stored) };
    out[..CHUNK_HEADER_LEN].copy_from_slice(&header.to_bytes());
    Ok(out)
}

/// Verifies and decompresses a chunk's data.
pub fn open(header: &ChunkHeader, stored: &[u8]) -> Result<Vec<u8>, String> {
    if stored.len() != header.stored_len as usize {
        return Err(format!("chunk data is {} bytes, header says {}", stored.len(), header.stored_len));
    }
    if crc32fast::hash(stored) != header.data_crc {
        return Err("chunk data checksum mismatch".into());
    }
    let mut out = Vec::with_capacity(header.raw_len as usize);
    let mut inflate = Decompress::new(false);
    let status = inflate
        .decompress_vec(stored, &mut out, FlushDecompress::Finish)
        .map_err(|e| format!("chunk data does not inflate: {e}"))?;
    if status != flate2::Status::StreamEnd || out.len() != header.raw_len as usize {
        return Err(format!("chunk data inflates to {} bytes, header says {}", out.len(), header.raw_len));
    }
    Ok(out)
}
