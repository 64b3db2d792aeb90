//! Inflating HTX's gzip frames with one reused inflate state per thread.
//!
//! `GzDecoder::new` builds a fresh inflate state (tens of KiB, zeroed) for every frame, which
//! cost more than parsing the JSON inside. Here the RFC 1952 header and trailer are read by
//! hand and the raw deflate body goes through a `Decompress` that is reset, not rebuilt. The
//! trailer's CRC-32 and length are verified, so a damaged frame is refused, never half-read.

use flate2::{Crc, Decompress, FlushDecompress, Status};
use md_core::ParseError;

use super::parse::MAX_DECOMPRESSED_BYTES;

/// A reusable gzip inflater: the deflate state and the output buffer live across frames.
#[derive(Debug)]
pub(super) struct Inflater {
    state: Decompress,
    buf: Vec<u8>,
}

/// A buffer that grew past this (after an unusually large frame) is released.
const KEEP_BUFFER_BYTES: usize = 1024 * 1024;

impl Inflater {
    pub(super) fn new() -> Self {
        // `false`: a raw deflate stream, the gzip wrapper is handled here.
        Self { state: Decompress::new(false), buf: Vec::new() }
    }

    /// Inflates one gzip member and returns its text.
    pub(super) fn inflate(&mut self, bytes: &[u8]) -> Result<&str, ParseError> {
        if self.buf.capacity() > KEEP_BUFFER_BYTES {
            self.buf = Vec::new();
        }
        let member = Member::split(bytes)?;
        if member.size > MAX_DECOMPRESSED_BYTES {
            return Err(ParseError::FrameTooLarge { len: member.size, max: MAX_DECOMPRESSED_BYTES });
        }
        self.buf.clear();
        // One spare byte tells a stream longer than its trailer claims from an exact fit.
        self.buf.reserve(member.size + 1);
        self.state.reset(false);
        let status = self
            .state
            .decompress_vec(member.deflate, &mut self.buf, FlushDecompress::Finish)
            .map_err(|e| corrupt(&e.to_string()))?;
        if status != Status::StreamEnd || self.buf.len() != member.size {
            return Err(corrupt("length does not match the gzip trailer"));
        }
        let mut crc = Crc::new();
        crc.update(&self.buf);
        if crc.sum() != member.crc {
            return Err(corrupt("CRC-32 mismatch"));
        }
        std::str::from_utf8(&self.buf).map_err(ParseError::Utf8)
    }
}

fn corrupt(why: &str) -> ParseError {
    ParseError::Decompress(std::io::Error::new(std::io::ErrorKind::InvalidData, why.to_owned()))
}

/// The parts of one gzip member (RFC 1952 §2.3).
struct Member<'a> {
    deflate: &'a [u8],
    crc: u32,
    size: usize,
}

const FHCRC: u8 = 0x02;
const FEXTRA: u8 = 0x04;
const FNAME: u8 = 0x08;
const FCOMMENT: u8 = 0x10;

impl<'a> Member<'a> {
    fn split(bytes: &'a [u8]) -> Result<Self, ParseError> {
        if bytes.len() < 18 || bytes[0] != 0x1f || bytes[1] != 0x8b || bytes[2] != 8 {
            return Err(corrupt("not a gzip member"));
        }
        let flags = bytes[3];
        let body_end = bytes.len() - 8;
        let mut pos = 10;
        if flags & FEXTRA != 0 {
            let len = bytes.get(pos..pos + 2).ok_or_else(|| corrupt("truncated header"))?;
            pos += 2 + usize::from(u16::from_le_bytes([len[0], len[1]]));
        }
        for flag in [FNAME, FCOMMENT] {
            if flags & flag != 0 {
                let rest = bytes.get(pos..body_end).ok_or_else(|| corrupt("truncated header"))?;
                pos += rest.iter().position(|&b| b == 0).ok_or_else(|| corrupt("truncated header"))? + 1;
            }
        }
        if flags & FHCRC != 0 {
            pos += 2;
        }
        let deflate = bytes.get(pos..body_end).ok_or_else(|| corrupt("truncated header"))?;
        let trailer = &bytes[body_end..];
        let crc = u32::from_le_bytes([trailer[0], trailer[1], trailer[2], trailer[3]]);
        let size = u32::from_le_bytes([trailer[4], trailer[5], trailer[6], trailer[7]]);
        Ok(Self { deflate, crc, size: size as usize })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::io::Write;

    use super::*;

    fn gzip(text: &[u8], level: u32) -> Vec<u8> {
        let mut encoder = flate2::GzBuilder::new()
            .filename("frame.json")
            .comment("c")
            .extra(vec![1, 2, 3])
            .write(Vec::new(), flate2::Compression::new(level));
        encoder.write_all(text).unwrap();
        encoder.finish().unwrap()
    }

    #[test]
    fn reuse_gives_the_same_text_as_a_fresh_decoder() {
        let mut inflater = Inflater::new();
        for (i, text) in ["{\"ping\":1}", "", &"x".repeat(100_000), "{\"ch\":\"market.btcusdt.mbp.150\"}"]
            .iter()
            .enumerate()
        {
            let frame = gzip(text.as_bytes(), (i % 10) as u32);
            assert_eq!(inflater.inflate(&frame).unwrap(), *text);
            let plain = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            let mut plain = plain;
            plain.write_all(text.as_bytes()).unwrap();
            assert_eq!(inflater.inflate(&plain.finish().unwrap()).unwrap(), *text);
        }
    }

    #[test]
    fn damaged_frames_are_refused_and_the_inflater_recovers() {
        let mut inflater = Inflater::new();
        let good = gzip(b"{\"ping\":1492420473027}", 6);
        let mut bad_crc = good.clone();
        let n = bad_crc.len();
        bad_crc[n - 8] ^= 0xff;
        let mut lying_size = good.clone();
        lying_size[n - 4] ^= 0x01;
        let mut bomb = good.clone();
        bomb[n - 1] = 0x7f;
        let truncated = &good[..good.len() - 3];
        let mut flipped = good.clone();
        flipped[30] ^= 0x55;
        for bad in [&bad_crc[..], &lying_size, truncated, &flipped, &[0x1f, 0x8b], b"{\"ping\":1}", &[]] {
            assert!(inflater.inflate(bad).is_err(), "{bad:?}");
        }
        assert!(matches!(inflater.inflate(&bomb), Err(ParseError::FrameTooLarge { .. })));
        assert_eq!(inflater.inflate(&good).unwrap(), "{\"ping\":1492420473027}");
    }
}
