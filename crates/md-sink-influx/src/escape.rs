//! Line-protocol escaping per position, and [`LineBuilder`], which writes one checked line.
//!
//! InfluxDB's escapes differ by position: measurement (comma, space), tag keys, tag values and
//! field keys (comma, equals sign, space), string field values (double quote, backslash).
//! Some text cannot be written unambiguously in a name or tag position at all, so it is
//! refused instead of being altered: a newline or carriage return (ends the line; line
//! protocol has no escape for it), a backslash (parsers disagree on `\\` there, and a trailing
//! one swallows the separator), an empty name, the key `time`, and a measurement starting with
//! `#` (the line would be a comment). String field values accept every character.

use md_core::Decimal;

use crate::error::InfluxError;
use crate::numfmt;

/// How prices and quantities are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DecimalMode {
    /// Unquoted numeric field with the venue's exact text (`price=65000.10`). InfluxDB stores it
    /// as float64, so values with more than 15 significant digits are rounded by the database.
    #[default]
    Numeric,
    /// Quoted string field (`price="65000.10"`): bit-exact, but not usable with `mean()`.
    String,
}

fn check_name(what: &'static str, s: &str) -> Result<(), InfluxError> {
    if s.is_empty() {
        return Err(InfluxError::encode(what, s, "empty"));
    }
    if s.bytes().any(|b| b == b'\n' || b == b'\r' || b == b'\\') {
        return Err(InfluxError::encode(what, s, "contains a newline, carriage return or backslash"));
    }
    Ok(())
}

/// Appends an escaped measurement name.
pub fn escape_measurement(s: &str, out: &mut Vec<u8>) -> Result<(), InfluxError> {
    check_name("measurement", s)?;
    if s.starts_with('#') {
        return Err(InfluxError::encode("measurement", s, "starts with '#' (a comment line)"));
    }
    push_escaped(s.as_bytes(), out, |b| b == b',' || b == b' ');
    Ok(())
}

/// Appends an escaped tag key, tag value or field key (`what` names the position in errors).
pub fn escape_key(what: &'static str, s: &str, out: &mut Vec<u8>) -> Result<(), InfluxError> {
    check_name(what, s)?;
    if what != "tag value" && s == "time" {
        return Err(InfluxError::encode(what, s, "`time` is reserved"));
    }
    push_escaped(s.as_bytes(), out, |b| b == b',' || b == b'=' || b == b' ');
    Ok(())
}

/// Appends a quoted string field value; every input is representable.
pub fn escape_string_field(s: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    push_escaped(s.as_bytes(), out, |b| b == b'"' || b == b'\\');
    out.push(b'"');
}

#[inline]
fn push_escaped(s: &[u8], out: &mut Vec<u8>, special: impl Fn(u8) -> bool) {
    // Fast path: names are almost always plain ASCII without specials.
    if !s.iter().any(|&b| special(b)) {
        out.extend_from_slice(s);
        return;
    }
    for &b in s {
        if special(b) {
            out.push(b'\\');
        }
        out.push(b);
    }
}

/// Writes one line into a buffer: measurement, tags, fields, timestamp.
///
/// On any error the buffer is truncated back to where the line started, so a refused line
/// never leaves a fragment in a batch.
#[derive(Debug)]
pub struct LineBuilder<'a> {
    out: &'a mut Vec<u8>,
    start: usize,
    fields: usize,
}

impl<'a> LineBuilder<'a> {
    /// Starts a line with an escaped measurement.
    pub fn new(out: &'a mut Vec<u8>, measurement: &str) -> Result<Self, InfluxError> {
        let start = out.len();
        let mut builder = Self { out, start, fields: 0 };
        let r = escape_measurement(measurement, builder.out);
        builder.check(r)?;
        Ok(builder)
    }

    /// Starts a line from an already escaped `measurement[,tags]` key.
    pub(crate) fn with_series_key(out: &'a mut Vec<u8>, key: &[u8]) -> Self {
        let start = out.len();
        out.extend_from_slice(key);
        Self { out, start, fields: 0 }
    }

    fn check<T>(&mut self, r: Result<T, InfluxError>) -> Result<T, InfluxError> {
        if r.is_err() {
            self.out.truncate(self.start);
        }
        r
    }

    /// Adds a tag. Tags must come before the first field.
    pub fn tag(&mut self, key: &str, value: &str) -> Result<&mut Self, InfluxError> {
        if self.fields > 0 {
            self.out.truncate(self.start);
            return Err(InfluxError::encode("tag key", key, "tag after a field"));
        }
        self.out.push(b',');
        let r = escape_key("tag key", key, self.out);
        self.check(r)?;
        self.out.push(b'=');
        let r = escape_key("tag value", value, self.out);
        self.check(r)?;
        Ok(self)
    }

    fn key(&mut self, key: &str) -> Result<(), InfluxError> {
        self.out.push(if self.fields == 0 { b' ' } else { b',' });
        self.fields += 1;
        let r = escape_key("field key", key, self.out);
        self.check(r)?;
        self.out.push(b'=');
        Ok(())
    }

    /// Field key known to be valid and free of specials (the encoder's own keys).
    #[inline]
    pub(crate) fn raw_key(&mut self, key: &[u8]) {
        self.out.push(if self.fields == 0 { b' ' } else { b',' });
        self.fields += 1;
        self.out.extend_from_slice(key);
        self.out.push(b'=');
    }

    /// Adds a string field.
    pub fn field_str(&mut self, key: &str, value: &str) -> Result<&mut Self, InfluxError> {
        self.key(key)?;
        escape_string_field(value, self.out);
        Ok(self)
    }

    /// Adds an integer field (`42i`).
    pub fn field_i64(&mut self, key: &str, value: i64) -> Result<&mut Self, InfluxError> {
        self.key(key)?;
        self.raw_i64(value);
        Ok(self)
    }

    /// Adds a float field; NaN and infinities are refused.
    pub fn field_f64(&mut self, key: &str, value: f64) -> Result<&mut Self, InfluxError> {
        if !value.is_finite() {
            self.out.truncate(self.start);
            return Err(InfluxError::NonFinite { field: key.to_owned() });
        }
        self.key(key)?;
        // `{:?}` prints the shortest text that round-trips, always with a `.` or exponent.
        use std::io::Write;
        let r = write!(self.out, "{value:?}").map_err(|_| InfluxError::NonFinite { field: key.to_owned() });
        self.check(r)?;
        Ok(self)
    }

    /// Adds a decimal field with its exact text, numeric or quoted per `mode`.
    pub fn field_decimal(
        &mut self,
        key: &str,
        value: &Decimal,
        mode: DecimalMode,
    ) -> Result<&mut Self, InfluxError> {
        self.key(key)?;
        self.raw_decimal(value, mode);
        Ok(self)
    }

    #[inline]
    pub(crate) fn raw_decimal(&mut self, value: &Decimal, mode: DecimalMode) {
        match mode {
            DecimalMode::Numeric => numfmt::push_decimal(value, self.out),
            DecimalMode::String => {
                self.out.push(b'"');
                numfmt::push_decimal(value, self.out);
                self.out.push(b'"');
            }
        }
    }

    #[inline]
    pub(crate) fn raw_i64(&mut self, value: i64) {
        self.out.extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
        self.out.push(b'i');
    }

    #[inline]
    pub(crate) fn raw_str(&mut self, value: &str) {
        escape_string_field(value, self.out);
    }

    #[inline]
    pub(crate) fn raw_bytes(&mut self, value: &[u8]) {
        self.out.extend_from_slice(value);
    }

    /// Ends the line with a nanosecond timestamp and a newline. Refuses a line without fields.
    pub fn finish(self, timestamp_ns: i64) -> Result<(), InfluxError> {
        if self.fields == 0 {
            self.out.truncate(self.start);
            return Err(InfluxError::NoFields);
        }
        self.out.push(b' ');
        self.out.extend_from_slice(itoa::Buffer::new().format(timestamp_ns).as_bytes());
        self.out.push(b'\n');
        Ok(())
    }

    /// Abandons the line, removing what was written of it.
    pub fn abort(self) {
        self.out.truncate(self.start);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn escapes_per_position() {
        let mut out = Vec::new();
        let mut line = LineBuilder::new(&mut out, "a b,c=d").unwrap();
        line.tag("k ey", "v=a,l ue").unwrap().field_str("f,k", "say \"hi\" \\ ok").unwrap();
        line.finish(7).unwrap();
        assert_eq!(out, b"a\\ b\\,c=d,k\\ ey=v\\=a\\,l\\ ue f\\,k=\"say \\\"hi\\\" \\\\ ok\" 7\n");
    }

    #[test]
    fn refusals_leave_no_fragment() {
        let mut out = b"keep\n".to_vec();
        let mut line = LineBuilder::new(&mut out, "m").unwrap();
        assert!(line.tag("t", "a\nb").is_err());
        assert_eq!(out, b"keep\n");
        let line = LineBuilder::new(&mut out, "m").unwrap();
        assert!(matches!(line.finish(1), Err(InfluxError::NoFields)));
        let mut line = LineBuilder::new(&mut out, "m").unwrap();
        assert!(matches!(line.field_f64("x", f64::NAN), Err(InfluxError::NonFinite { .. })));
        let mut line = LineBuilder::new(&mut out, "m").unwrap();
        assert!(line.field_f64("x", f64::INFINITY).is_err());
        assert!(LineBuilder::new(&mut out, "#m").is_err());
        assert!(LineBuilder::new(&mut out, "").is_err());
        let mut line = LineBuilder::new(&mut out, "m").unwrap();
        assert!(line.tag("t", "a\\").is_err());
        assert_eq!(out, b"keep\n");
    }

    #[test]
    fn floats_and_ints() {
        let mut out = Vec::new();
        let mut line = LineBuilder::new(&mut out, "m").unwrap();
        line.field_f64("f", 1.0).unwrap().field_i64("i", -3).unwrap();
        line.finish(-1).unwrap();
        assert_eq!(out, b"m f=1.0,i=-3i -1\n");
    }
}
