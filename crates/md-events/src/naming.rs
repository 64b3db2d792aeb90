//! File names: `<EXCHANGE>_<BASE>_<QUOTE>_<start>[-<n>].mdev`, built and parsed in one place.
//!
//! `BINANCE_BTC_USDT_20261201T100000Z.mdev`: the venue upper-case, the canonical symbol's base
//! and quote, the UTC second of the file's first packet's `local_ts`, and `-1`, `-2`, ... when
//! another file of the same stream already has that name (size rotation within a second). The
//! writer and the reader share [`EventFileName`], so the names the one writes are the names
//! the other looks for (the seed's replayer looked for names without the start time).
//!
//! A symbol that is not `BASE-QUOTE` (the wildcard `*` of connection-wide status packets)
//! is written as `x` and the hex of its text, with an empty quote: `BINANCE_x2a__...`.

use md_core::{ExchangeId, Symbol, UnixNanos};

use crate::format::{exchange_from_name, symbol_from_text};

/// The file extension.
pub const EXTENSION: &str = "mdev";

/// The parts of an event file's name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EventFileName {
    /// The venue.
    pub exchange: ExchangeId,
    /// The symbol.
    pub symbol: Symbol,
    /// The start, whole seconds (ns since the epoch, a multiple of 1e9).
    pub start: UnixNanos,
    /// The disambiguating suffix (0: none).
    pub n: u32,
}

impl EventFileName {
    /// The name of a file whose first packet has `local_ts` `start` (truncated to the second).
    pub fn new(exchange: ExchangeId, symbol: Symbol, start: UnixNanos, n: u32) -> Self {
        Self { exchange, symbol, start: start.div_euclid(1_000_000_000) * 1_000_000_000, n }
    }

    /// The file name.
    pub fn to_file_name(&self) -> String {
        let (base, quote) = symbol_parts(&self.symbol);
        let suffix = if self.n == 0 { String::new() } else { format!("-{}", self.n) };
        format!(
            "{}_{}_{}_{}{}.{EXTENSION}",
            self.exchange.as_str().to_ascii_uppercase(),
            base,
            quote,
            format_compact(self.start),
            suffix
        )
    }

    /// Parses a file name as [`EventFileName::to_file_name`] writes it; `None` for any other.
    pub fn parse(name: &str) -> Option<Self> {
        let stem = name.strip_suffix(EXTENSION)?.strip_suffix('.')?;
        let mut parts = stem.splitn(4, '_');
        let exchange_text = parts.next()?;
        let base = parts.next()?;
        let quote = parts.next()?;
        let rest = parts.next()?;
        if exchange_text.is_empty() || exchange_text.bytes().any(|b| b.is_ascii_lowercase()) {
            return None;
        }
        let exchange = exchange_from_name(exchange_text)?;
        let symbol = parse_symbol_parts(base, quote)?;
        let (time, n) = match rest.split_once('-') {
            Some((time, n)) => {
                let n: u32 = n.parse().ok().filter(|&n| n > 0)?;
                (n.to_string() == rest[time.len() + 1..]).then_some((time, n))?
            }
            None => (rest, 0),
        };
        let start = parse_compact(time)?;
        Some(Self { exchange, symbol, start, n })
    }

    /// The order files of one stream are read in: start, then suffix.
    pub fn sort_key(&self) -> (UnixNanos, u32) {
        (self.start, self.n)
    }
}

fn symbol_parts(symbol: &Symbol) -> (String, String) {
    match Symbol::parse(symbol.as_str()) {
        Some(canonical) if canonical.as_str() == symbol.as_str() => {
            (canonical.base().to_owned(), canonical.quote().to_owned())
        }
        _ => {
            let hex: String = symbol.as_str().bytes().map(|b| format!("{b:02x}")).collect();
            (format!("x{hex}"), String::new())
        }
    }
}

fn parse_symbol_parts(base: &str, quote: &str) -> Option<Symbol> {
    if quote.is_empty() {
        let hex = base.strip_prefix('x')?;
        if hex.len() % 2 != 0 || hex.is_empty() {
            return None;
        }
        let bytes: Option<Vec<u8>> =
            (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok()).collect();
        let text = String::from_utf8(bytes?).ok()?;
        let symbol = symbol_from_text(&text)?;
        // Only names this module writes: a canonical symbol is never hex-encoded.
        return (Symbol::parse(&text).is_none_or(|s| s.as_str() != text)).then_some(symbol);
    }
    let symbol = Symbol::parse(&format!("{base}-{quote}"))?;
    (symbol.base() == base && symbol.quote() == quote).then_some(symbol)
}

/// `YYYYMMDDTHHMMSSZ` of a time (UTC, truncated to the second).
pub fn format_compact(ns: UnixNanos) -> String {
    let secs = ns.div_euclid(1_000_000_000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// Parses `YYYYMMDDTHHMMSSZ` (UTC) to ns since the epoch.
pub fn parse_compact(text: &str) -> Option<UnixNanos> {
    let b = text.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let num = |from: usize, to: usize| -> Option<i64> {
        let s = text.get(from..to)?;
        s.bytes().all(|c| c.is_ascii_digit()).then(|| s.parse().ok())?
    };
    civil_to_ns(num(0, 4)?, num(4, 6)?, num(6, 8)?, num(9, 11)?, num(11, 13)?, num(13, 15)?, 0)
}

/// Parses a time given on a command line: integer ns since the epoch, or ISO 8601 UTC
/// `YYYY-MM-DDTHH:MM:SS[.fffffffff]Z`.
pub fn parse_time(text: &str) -> Option<UnixNanos> {
    if let Ok(ns) = text.parse::<i64>() {
        return Some(ns);
    }
    let b = text.as_bytes();
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || (b[10] != b'T' && b[10] != b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let num = |from: usize, to: usize| -> Option<i64> {
        let s = text.get(from..to)?;
        s.bytes().all(|c| c.is_ascii_digit()).then(|| s.parse().ok())?
    };
    let rest = text.get(19..)?.strip_suffix('Z')?;
    let frac = match rest.strip_prefix('.') {
        Some(f) if !f.is_empty() && f.len() <= 9 && f.bytes().all(|c| c.is_ascii_digit()) => {
            f.parse::<i64>().ok()? * 10i64.pow(9 - f.len() as u32)
        }
        None if rest.is_empty() => 0,
        _ => return None,
    };
    civil_to_ns(num(0, 4)?, num(5, 7)?, num(8, 10)?, num(11, 13)?, num(14, 16)?, num(17, 19)?, frac)
}

fn civil_to_ns(y: i64, m: i64, d: i64, hh: i64, mm: i64, ss: i64, frac: i64) -> Option<UnixNanos> {
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let month_days = [31, if leap { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    if !(1..=12).contains(&m) || d < 1 || d > month_days[(m - 1) as usize] || hh > 23 || mm > 59 || ss > 59 {
        return None;
    }
    let secs = days_from_civil(y, m, d) * 86_400 + hh * 3600 + mm * 60 + ss;
    secs.checked_mul(1_000_000_000)?.checked_add(frac)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}
