//! UTC calendar times from and to ns since the epoch, exactly, with no date library: the
//! file names of captures and event files (`YYYYMMDDTHHMMSSZ`), RFC 3339 on command lines,
//! in status lines and in other tools' captures.

use crate::packet::UnixNanos;

const NS_PER_SEC: i64 = 1_000_000_000;

/// `YYYYMMDDTHHMMSSZ` of a time, UTC, to the second.
pub fn utc_compact(ns: UnixNanos) -> String {
    let secs = ns.div_euclid(NS_PER_SEC);
    let (days, day_secs) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    let (hh, mm, ss) = (day_secs / 3600, day_secs / 60 % 60, day_secs % 60);
    format!("{y:04}{m:02}{d:02}T{hh:02}{mm:02}{ss:02}Z")
}

/// Parses [`utc_compact`]'s text back to nanoseconds; `None` for anything it would not print.
pub fn parse_utc_compact(text: &str) -> Option<UnixNanos> {
    let b = text.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let part = text.get(range)?;
        part.bytes().all(|c| c.is_ascii_digit()).then(|| part.parse().ok())?
    };
    let (y, m, d) = (num(0..4)?, num(4..6)?, num(6..8)?);
    let (hh, mm, ss) = (num(9..11)?, num(11..13)?, num(13..15)?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || hh > 23 || mm > 59 || ss > 59 {
        return None;
    }
    let secs = days_from_civil(y, m, d).checked_mul(86_400)?.checked_add(hh * 3600 + mm * 60 + ss)?;
    let ns = secs.checked_mul(NS_PER_SEC)?;
    // 31 February parses above; only a date that prints back the same is one.
    (utc_compact(ns) == text).then_some(ns)
}

/// Year, month, day of a count of days since 1970-01-01 (H. Hinnant's `civil_from_days`).
pub fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Days since 1970-01-01 of a date (H. Hinnant's `days_from_civil`).
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `YYYY-MM-DDTHH:MM:SSZ` of a time (UTC, to the second).
pub fn utc_rfc3339(ns: UnixNanos) -> String {
    let secs = ns.div_euclid(NS_PER_SEC);
    let (days, rest) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rest / 3600, rest % 3600 / 60, rest % 60)
}

/// Parses a UTC ISO 8601 time as tardis writes it, `2019-05-01T00:00:07.0130000Z`
/// (`YYYY-MM-DDTHH:MM:SS`, an optional `.` with 1 to 9 fractional digits, then `Z`), into ns
/// since the epoch, exactly (no float on the way). Times before 1970 or past 2262 (out of
/// `i64` ns), offsets other than `Z`, and invalid dates are refused, with the reason.
pub fn parse_rfc3339_ns(text: &str) -> Result<UnixNanos, String> {
    let bad = |why: &str| format!("bad timestamp {:?}: {why}", snippet(text));
    let b = text.as_bytes();
    if b.len() < 20 {
        return Err(bad("expected YYYY-MM-DDTHH:MM:SS[.fffffffff]Z"));
    }
    let shape_ok = b[4] == b'-' && b[7] == b'-' && b[10] == b'T' && b[13] == b':' && b[16] == b':';
    if !shape_ok {
        return Err(bad("expected YYYY-MM-DDTHH:MM:SS[.fffffffff]Z"));
    }
    let field = |from: usize, to: usize| {
        digits(&b[from..to]).ok_or_else(|| bad("a date or time field is not digits"))
    };
    let (year, month, day) = (field(0, 4)?, field(5, 7)?, field(8, 10)?);
    let (hour, minute, second) = (field(11, 13)?, field(14, 16)?, field(17, 19)?);
    let rest = &b[19..];
    let (frac, tail) = match rest.first() {
        Some(b'.') => {
            let n = rest[1..].iter().take_while(|c| c.is_ascii_digit()).count();
            if n == 0 || n > 9 {
                return Err(bad("1 to 9 fractional digits expected"));
            }
            (fraction_ns(&rest[1..=n]), &rest[1 + n..])
        }
        _ => (0, rest),
    };
    if tail != b"Z" {
        return Err(bad("must end in Z (UTC)"));
    }
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return Err(bad("no such date"));
    }
    if hour > 23 || minute > 59 || second > 59 {
        return Err(bad("no such time of day"));
    }
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second;
    if secs < 0 {
        return Err(bad("before 1970"));
    }
    secs.checked_mul(NS_PER_SEC).and_then(|ns| ns.checked_add(frac)).ok_or_else(|| bad("out of range"))
}

/// Parses decimal seconds since the epoch as cryptofeed writes them (Python's `str(float)`,
/// `1633998512.0633569`) into ns, exactly from the decimal text (not through `f64`): up to 9
/// fractional digits; signs, exponents and anything else are refused, with the reason.
pub fn parse_decimal_seconds_ns(text: &str) -> Result<UnixNanos, String> {
    let bad = |why: &str| format!("bad timestamp {:?}: {why}", snippet(text));
    let (int, frac) = match text.split_once('.') {
        Some((int, frac)) => (int, Some(frac)),
        None => (text, None),
    };
    if int.is_empty() || int.len() > 12 || !int.bytes().all(|c| c.is_ascii_digit()) {
        return Err(bad("expected decimal seconds since 1970, like 1633998512.0633569"));
    }
    let secs = digits(int.as_bytes()).ok_or_else(|| bad("not a number"))?;
    let frac_ns = match frac {
        None => 0,
        Some(f) if !f.is_empty() && f.len() <= 9 && f.bytes().all(|c| c.is_ascii_digit()) => {
            fraction_ns(f.as_bytes())
        }
        Some(_) => return Err(bad("1 to 9 fractional digits expected")),
    };
    secs.checked_mul(NS_PER_SEC).and_then(|ns| ns.checked_add(frac_ns)).ok_or_else(|| bad("out of range"))
}

/// The value of ASCII digits (at most 18 of them, so no overflow); `None` for anything else.
fn digits(b: &[u8]) -> Option<i64> {
    if b.is_empty() || b.len() > 18 {
        return None;
    }
    b.iter().try_fold(0i64, |acc, &c| c.is_ascii_digit().then(|| acc * 10 + i64::from(c - b'0')))
}

/// Fractional-second digits (1 to 9, checked by the caller) as ns: `0633569` → 63_356_900.
fn fraction_ns(b: &[u8]) -> i64 {
    let mut ns = 0i64;
    for i in 0..9 {
        ns = ns * 10 + b.get(i).map_or(0, |&c| i64::from(c - b'0'));
    }
    ns
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// The start of a text for an error message.
fn snippet(text: &str) -> &str {
    match text.char_indices().nth(80) {
        Some((at, _)) => &text[..at],
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_and_rfc3339_round_trip() {
        for ns in [0, 951_782_400_000_000_000, 1_764_585_600_000_000_000, 4_102_444_799_000_000_000] {
            assert_eq!(parse_utc_compact(&utc_compact(ns)), Some(ns));
            assert_eq!(parse_rfc3339_ns(&utc_rfc3339(ns)), Ok(ns));
        }
        assert_eq!(utc_rfc3339(1_764_585_600_000_000_000), "2025-12-01T10:40:00Z");
        assert_eq!(utc_compact(951_782_400_000_000_000), "20000229T000000Z");
        assert_eq!(parse_utc_compact("20250231T000000Z"), None);
        assert_eq!(parse_rfc3339_ns("2019-05-01T00:00:07.0130000Z"), Ok(1_556_668_807_013_000_000));
        assert!(parse_rfc3339_ns("2019-05-01T00:00:07+01:00").is_err());
        assert_eq!(parse_decimal_seconds_ns("1633998512.0633569"), Ok(1_633_998_512_063_356_900));
    }
}
