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

/// `YYYYMMDDTHHMMSSZ` of a time (UTC, truncated to the second): md-core's, as capture names.
pub use md_core::time::{parse_utc_compact as parse_compact, utc_compact as format_compact};

/// Parses a time given on a command line: integer ns since the epoch, or RFC 3339 UTC
/// `YYYY-MM-DDTHH:MM:SS[.fffffffff]Z`.
pub fn parse_time(text: &str) -> Option<UnixNanos> {
    text.parse::<i64>().ok().or_else(|| md_core::time::parse_rfc3339_ns(text).ok())
}
