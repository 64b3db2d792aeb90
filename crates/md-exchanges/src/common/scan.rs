//! A strict, allocation-light reader for the few JSON shapes that make up nearly every frame a
//! venue sends (depth diffs and trades), used before serde.
//!
//! serde_json reads a depth diff of 5 + 5 levels in about a microsecond, most of it spent
//! scanning each decimal twice (once as a raw value, once as a number) and in generic visitor
//! calls. This reader walks the bytes once and hands each decimal's text straight to
//! [`parse_decimal`]. It is deliberately narrow: anything it does not expect — an escape in a
//! string, a duplicate key, a number where a string was expected, a leading zero, trailing
//! characters — makes it return `None`, and the caller parses the frame with serde as before.
//! So its answer is always serde's answer, only faster, and every error message still comes
//! from serde.

use md_core::decimal::{parse_decimal, plain_prefix, Decimal};
use md_core::Level;

#[cfg(test)]
thread_local! {
    /// Tests turn the scanner off to compare its answers with serde's.
    pub(crate) static OFF: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// Frames the scanner read (so a comparison can show it was not vacuous).
    pub(crate) static HITS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Whether the scanner may be used (always, outside tests).
#[inline]
pub(crate) fn enabled() -> bool {
    #[cfg(test)]
    {
        !OFF.with(std::cell::Cell::get)
    }
    #[cfg(not(test))]
    {
        true
    }
}

/// Passes a scanner result through, counting it in tests.
#[inline]
pub(crate) fn hit<T>(read: Option<T>) -> Option<T> {
    #[cfg(test)]
    if read.is_some() {
        HITS.with(|h| h.set(h.get() + 1));
    }
    read
}

/// A cursor over one JSON text.
pub(crate) struct Scan<'a> {
    bytes: &'a [u8],
    text: &'a str,
    pos: usize,
}

impl<'a> Scan<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        Self { bytes: text.as_bytes(), text, pos: 0 }
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.bytes.get(self.pos) {
            self.pos += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.bytes.get(self.pos).copied()
    }

    fn eat(&mut self, byte: u8) -> Option<()> {
        (self.peek()? == byte).then(|| self.pos += 1)
    }

    /// Only whitespace is left.
    pub(crate) fn end(&mut self) -> Option<()> {
        self.ws();
        (self.pos == self.bytes.len()).then_some(())
    }

    /// A string without escapes, borrowed.
    pub(crate) fn string(&mut self) -> Option<&'a str> {
        self.eat(b'"')?;
        let start = self.pos;
        let rest = self.bytes.get(start..)?;
        let mut len = 0;
        loop {
            match *rest.get(len)? {
                b'"' => break,
                // Escapes and raw control characters: serde's business.
                b'\\' | 0..=0x1f => return None,
                _ => len += 1,
            }
        }
        let s = self.text.get(start..start + len)?;
        self.pos = start + len + 1;
        Some(s)
    }

    /// The text of a number token, as JSON spells it.
    fn number_text(&mut self) -> Option<&'a str> {
        self.ws();
        let start = self.pos;
        while let Some(b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E') = self.bytes.get(self.pos) {
            self.pos += 1;
        }
        (self.pos > start).then(|| self.text.get(start..self.pos)).flatten()
    }

    /// An unsigned integer written with digits only (no sign, fraction or exponent).
    pub(crate) fn u64(&mut self) -> Option<u64> {
        let text = self.number_text()?;
        let canonical = text == "0" || (!text.starts_with('0') && text.bytes().all(|b| b.is_ascii_digit()));
        if !canonical || text.len() > 20 {
            return None;
        }
        text.parse().ok()
    }

    /// A signed integer written with digits only.
    pub(crate) fn i64(&mut self) -> Option<i64> {
        self.ws();
        let negative = self.bytes.get(self.pos) == Some(&b'-');
        if negative {
            self.pos += 1;
            // "-" followed by whitespace is not a number.
            if !self.bytes.get(self.pos).is_some_and(u8::is_ascii_digit) {
                return None;
            }
        }
        let magnitude = i64::try_from(self.u64()?).ok()?;
        match (negative, magnitude) {
            // serde_json reads `-0` as a float, which an integer field refuses.
            (true, 0) => None,
            (true, m) => Some(-m),
            (false, m) => Some(m),
        }
    }

    /// `true` or `false`.
    pub(crate) fn boolean(&mut self) -> Option<bool> {
        self.ws();
        let rest = self.bytes.get(self.pos..)?;
        if rest.starts_with(b"true") {
            self.pos += 4;
            Some(true)
        } else if rest.starts_with(b"false") {
            self.pos += 5;
            Some(false)
        } else {
            None
        }
    }

    /// `null`: true (and consumed) if it is one.
    pub(crate) fn null(&mut self) -> bool {
        self.ws();
        let is_null = self.bytes.get(self.pos..).is_some_and(|r| r.starts_with(b"null"));
        if is_null {
            self.pos += 4;
        }
        is_null
    }

    /// An optional unsigned integer: `null` or digits.
    pub(crate) fn opt_u64(&mut self) -> Option<Option<u64>> {
        if self.null() {
            return Some(None);
        }
        self.u64().map(Some)
    }

    /// An optional signed integer: `null` or digits.
    pub(crate) fn opt_i64(&mut self) -> Option<Option<i64>> {
        if self.null() {
            return Some(None);
        }
        self.i64().map(Some)
    }

    /// A decimal given as a JSON string (`"0.35210000"`) or a bare number (`9.121E-7`).
    pub(crate) fn decimal(&mut self) -> Option<Decimal> {
        if self.peek()? == b'"' {
            // One pass: digits straight into the mantissa, then the closing quote.
            let after_quote = self.pos + 1;
            if let Some((value, used)) = self.bytes.get(after_quote..).and_then(plain_prefix) {
                if self.bytes.get(after_quote + used) == Some(&b'"') {
                    self.pos = after_quote + used + 1;
                    return Some(value);
                }
            }
        }
        // A bare number in one pass too, when it is plainly a JSON number: no leading zero
        // before other digits, a digit on both sides of the dot, no exponent.
        if let Some((value, used)) = self.bytes.get(self.pos..).and_then(plain_prefix) {
            let token = &self.bytes[self.pos..self.pos + used];
            let digits = token.strip_prefix(b"-").unwrap_or(token);
            let next = self.bytes.get(self.pos + used).copied();
            let plain_json = digits.first().is_some_and(u8::is_ascii_digit)
                && digits.last().is_some_and(u8::is_ascii_digit)
                && !(digits.len() > 1 && digits[0] == b'0' && digits[1] != b'.')
                && !matches!(next, Some(b'e' | b'E' | b'.' | b'0'..=b'9'));
            if plain_json {
                self.pos += used;
                return Some(value);
            }
        }
        let text = if self.peek()? == b'"' {
            self.string()?
        } else {
            // A bare number must be one JSON accepts (`01` is not), as serde would insist.
            self.number_text().filter(|t| is_json_number(t))?
        };
        parse_decimal(text).ok()
    }

    /// Any JSON value, skipped: strings (without escapes), numbers, literals, nested arrays
    /// and objects up to a small depth. What it cannot tell is valid JSON, it gives up on.
    pub(crate) fn skip(&mut self) -> Option<()> {
        self.skip_depth(0)
    }

    fn skip_depth(&mut self, depth: u32) -> Option<()> {
        if depth > 32 {
            return None;
        }
        match self.peek()? {
            b'"' => self.string().map(|_| ()),
            b'{' => {
                self.pos += 1;
                if self.eat(b'}').is_some() {
                    return Some(());
                }
                loop {
                    self.skip_depth(depth + 1)?;
                    self.eat(b':')?;
                    self.skip_depth(depth + 1)?;
                    match self.peek()? {
                        b',' => self.pos += 1,
                        b'}' => {
                            self.pos += 1;
                            return Some(());
                        }
                        _ => return None,
                    }
                }
            }
            b'[' => {
                self.pos += 1;
                if self.eat(b']').is_some() {
                    return Some(());
                }
                loop {
                    self.skip_depth(depth + 1)?;
                    match self.peek()? {
                        b',' => self.pos += 1,
                        b']' => {
                            self.pos += 1;
                            return Some(());
                        }
                        _ => return None,
                    }
                }
            }
            b't' | b'f' => self.boolean().map(|_| ()),
            b'n' => self.null().then_some(()),
            _ => self.number_text().filter(|text| is_json_number(text)).map(|_| ()),
        }
    }

    /// Any JSON value, skipped, as its raw text (for fields kept verbatim, like HTX's legacy
    /// trade `id`).
    pub(crate) fn raw(&mut self) -> Option<&'a str> {
        self.ws();
        let start = self.pos;
        self.skip()?;
        self.text.get(start..self.pos)
    }

    /// An object: calls `field` with each key, positioned at its value, which `field` must
    /// read (or skip). `field` returns `None` to give up.
    pub(crate) fn object(&mut self, mut field: impl FnMut(&mut Self, &'a str) -> Option<()>) -> Option<()> {
        self.eat(b'{')?;
        if self.eat(b'}').is_some() {
            return Some(());
        }
        loop {
            let key = self.string()?;
            self.eat(b':')?;
            field(self, key)?;
            match self.peek()? {
                b',' => self.pos += 1,
                b'}' => {
                    self.pos += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// An array: calls `item` positioned at each element, which `item` must read.
    pub(crate) fn array(&mut self, mut item: impl FnMut(&mut Self) -> Option<()>) -> Option<()> {
        self.eat(b'[')?;
        if self.eat(b']').is_some() {
            return Some(());
        }
        loop {
            item(self)?;
            match self.peek()? {
                b',' => self.pos += 1,
                b']' => {
                    self.pos += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// Book levels: `[[price, qty, ...], ...]` with decimals as strings or numbers; extra
    /// elements are skipped; a negative quantity gives up (serde's path refuses it by name).
    pub(crate) fn levels(&mut self) -> Option<Vec<Level>> {
        let mut levels = Vec::with_capacity(8);
        self.array(|scan| {
            scan.eat(b'[')?;
            let price = scan.decimal()?;
            scan.eat(b',')?;
            let qty = scan.decimal()?;
            if qty.is_sign_negative() {
                return None;
            }
            loop {
                match scan.peek()? {
                    b',' => {
                        scan.pos += 1;
                        scan.skip()?;
                    }
                    b']' => {
                        scan.pos += 1;
                        break;
                    }
                    _ => return None,
                }
            }
            levels.push(Level::new(price, qty));
            Some(())
        })?;
        Some(levels)
    }
}

/// JSON's number grammar: `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`.
fn is_json_number(text: &str) -> bool {
    let b = text.as_bytes();
    let mut i = usize::from(b.first() == Some(&b'-'));
    let digits = |i: &mut usize| {
        let start = *i;
        while b.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
        *i - start
    };
    match b.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => {
            digits(&mut i);
        }
        _ => return false,
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    }
    if let Some(b'e' | b'E') = b.get(i) {
        i += 1;
        if let Some(b'+' | b'-') = b.get(i) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

/// Sets a field once: a second value for the same key gives up (serde refuses duplicates).
pub(crate) fn once<T>(slot: &mut Option<T>, value: Option<T>) -> Option<()> {
    if slot.is_some() {
        return None;
    }
    *slot = Some(value?);
    Some(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn reads_what_it_knows_and_gives_up_on_the_rest() {
        let mut scan = Scan::new(
            r#" { "a" : [ ["1.5", 2.0E-4, 3], [9.121E-7,"0"] ] , "b": -12, "c": null, "d": {"x":[1,{"y":"z"}, -0.5e3]} } "#,
        );
        let (mut levels, mut b, mut c) = (None, None, None);
        scan.object(|s, key| match key {
            "a" => once(&mut levels, s.levels()),
            "b" => once(&mut b, s.i64()),
            "c" => once(&mut c, s.opt_u64()),
            _ => s.skip(),
        })
        .unwrap();
        scan.end().unwrap();
        let levels = levels.unwrap();
        assert_eq!(levels.len(), 2);
        assert_eq!(levels[0].qty.to_string(), "0.00020");
        assert_eq!(levels[1].price.to_string(), "0.0000009121");
        assert_eq!((b, c), (Some(-12), Some(None)));
        for bad in [r#""a\"b""#, "01", "1.0", "-", r#"{"a":1,"a":2}"#, "[1,]", "{} x", "[1.e5]", "[nullx]"] {
            let mut scan = Scan::new(bad);
            let mut seen = None;
            let read = match bad.as_bytes()[0] {
                b'"' => scan.string().map(|_| ()),
                b'{' => scan.object(|s, _| once(&mut seen, s.u64())),
                b'[' => scan.array(|s| s.skip()),
                _ => scan.u64().map(|_| ()),
            };
            assert!(read.and_then(|()| scan.end()).is_none(), "{bad} was accepted");
        }
    }

    #[test]
    fn never_panics_on_truncations() {
        let text = r#"{"stream":"x@depth","data":{"E":1,"b":[["1","2"]],"z":[{"q":"\u00e9"}]}}"#;
        for end in 0..text.len() {
            let Some(prefix) = text.get(..end) else { continue };
            let mut scan = Scan::new(prefix);
            let _ = scan.skip();
        }
    }
}
