//! Byte-level primitives of the format: little-endian integers, LEB128 varints,
//! length-prefixed byte strings, and a bounds-checked cursor that reads them back.
//!
//! The cursor never panics: every read checks the remaining length and answers `None`, which
//! the callers turn into a `Damaged` error naming the file and offset.

/// Appends `v` as an unsigned LEB128 varint (1 byte below 128, at most 10).
pub fn put_varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

/// Appends a varint length and the bytes.
pub fn put_bytes(buf: &mut Vec<u8>, bytes: &[u8]) {
    put_varint(buf, bytes.len() as u64);
    buf.extend_from_slice(bytes);
}

/// Reads back what the `put_*` functions wrote.
#[derive(Debug)]
pub struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    /// A cursor at the start of `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    /// Bytes read so far.
    pub fn pos(&self) -> usize {
        self.pos
    }

    /// The next `n` bytes.
    pub fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let slice = self.buf.get(self.pos..end)?;
        self.pos = end;
        Some(slice)
    }

    /// A fixed-size array.
    pub fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }

    /// One byte.
    pub fn u8(&mut self) -> Option<u8> {
        self.array::<1>().map(|[b]| b)
    }

    /// A little-endian u16.
    pub fn u16(&mut self) -> Option<u16> {
        self.array().map(u16::from_le_bytes)
    }

    /// A little-endian u32.
    pub fn u32(&mut self) -> Option<u32> {
        self.array().map(u32::from_le_bytes)
    }

    /// A little-endian u64.
    pub fn u64(&mut self) -> Option<u64> {
        self.array().map(u64::from_le_bytes)
    }

    /// A little-endian i64.
    pub fn i64(&mut self) -> Option<i64> {
        self.array().map(i64::from_le_bytes)
    }

    /// A LEB128 varint; `None` past 10 bytes or 64 bits.
    pub fn varint(&mut self) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.u8()?;
            let part = u64::from(b & 0x7f);
            if shift == 63 && part > 1 {
                return None;
            }
            v |= part << shift;
            if b & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }

    /// A varint length and that many bytes, as a range of the buffer (so a caller holding
    /// the buffer as `Bytes` can slice it without a copy).
    pub fn bytes_range(&mut self) -> Option<std::ops::Range<usize>> {
        let len = usize::try_from(self.varint()?).ok()?;
        let start = self.pos;
        self.take(len)?;
        Some(start..self.pos)
    }

    /// A varint length and that many bytes.
    pub fn bytes(&mut self) -> Option<&'a [u8]> {
        let range = self.bytes_range()?;
        self.buf.get(range)
    }

    /// A length-prefixed UTF-8 string.
    pub fn str(&mut self) -> Option<&'a str> {
        std::str::from_utf8(self.bytes()?).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip_and_refuse_overlong() {
        for v in [0, 1, 127, 128, 300, u64::from(u32::MAX), u64::MAX - 1, u64::MAX] {
            let mut buf = Vec::new();
            put_varint(&mut buf, v);
            let mut c = Cursor::new(&buf);
            assert_eq!(c.varint(), Some(v));
            assert_eq!(c.pos(), buf.len());
        }
        assert_eq!(Cursor::new(&[0xff; 11]).varint(), None);
        assert_eq!(Cursor::new(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02]).varint(), None);
        assert_eq!(Cursor::new(&[0x80]).varint(), None);
    }

    #[test]
    fn reads_past_the_end_answer_none() {
        let mut buf = Vec::new();
        put_bytes(&mut buf, b"hello");
        assert_eq!(Cursor::new(&buf).str(), Some("hello"));
        assert_eq!(Cursor::new(&buf[..4]).bytes(), None);
        assert_eq!(Cursor::new(&[0xff, 0xff, 0xff, 0xff, 0x0f]).bytes(), None);
        assert_eq!(Cursor::new(&[1, 2, 3]).u32(), None);
        assert_eq!(Cursor::new(&[]).u8(), None);
    }
}
