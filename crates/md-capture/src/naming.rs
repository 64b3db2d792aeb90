//! Capture file names: `<venue>-<YYYYMMDDTHHMMSSZ>-<nnnn>.mdcap`, with a `.mdidx` sidecar.
//!
//! One type, [`CaptureName`], both makes the names the writer creates and parses the names the
//! reader lists, so the two cannot drift apart (other tools' replayers looked for file names
//! their recorders never wrote).

use std::path::{Path, PathBuf};

use md_core::{ExchangeId, UnixNanos};

/// Extension of capture files.
pub const CAPTURE_EXT: &str = "mdcap";
/// Extension of their time-index sidecars.
pub const INDEX_EXT: &str = "mdidx";

const NS_PER_SEC: i64 = 1_000_000_000;
/// One hour in nanoseconds: files rotate when an event's hour (UTC) differs from the file's.
pub const HOUR_NS: i64 = 3600 * NS_PER_SEC;

/// The parts of a capture file's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CaptureName {
    /// The venue.
    pub exchange: ExchangeId,
    /// The file's time: its first record's `local_ts`, truncated to the second (UTC).
    pub start_ns: UnixNanos,
    /// A counter of the writer, so that two files of the same second get different names
    /// (and sort in the order they were written).
    pub seq: u32,
}

impl CaptureName {
    /// The name for a file whose first record has `local_ts` `ts`.
    pub fn new(exchange: ExchangeId, ts: UnixNanos, seq: u32) -> Self {
        Self { exchange, start_ns: ts.div_euclid(NS_PER_SEC) * NS_PER_SEC, seq }
    }

    /// `binance-20240102T030405Z-0001.mdcap`.
    pub fn file_name(&self) -> String {
        format!("{}-{}-{:04}.{CAPTURE_EXT}", self.exchange.as_str(), utc_stamp(self.start_ns), self.seq)
    }

    /// Parses what [`Self::file_name`] makes (a bare file name, or a path's last component);
    /// `None` for anything else, including the `.mdidx` sidecars.
    pub fn parse(name: &str) -> Option<Self> {
        let name = name.rsplit(['/', '\\']).next()?;
        let stem = name.strip_suffix(CAPTURE_EXT)?.strip_suffix('.')?;
        let (rest, seq) = stem.rsplit_once('-')?;
        let (venue, stamp) = rest.rsplit_once('-')?;
        if seq.len() < 4 || !seq.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let exchange = exchange_from_name(venue)?;
        Some(Self { exchange, start_ns: parse_utc_stamp(stamp)?, seq: seq.parse().ok()? })
    }

    /// Parses a path's file name (see [`Self::parse`]).
    pub fn from_path(path: &Path) -> Option<Self> {
        Self::parse(path.file_name()?.to_str()?)
    }

    /// The order files of one venue were written in: time, then counter.
    pub fn sort_key(&self) -> (UnixNanos, u32) {
        (self.start_ns, self.seq)
    }
}

/// The `.mdidx` sidecar of a capture file.
pub fn index_path(capture: &Path) -> PathBuf {
    capture.with_extension(INDEX_EXT)
}

/// The venue a directory or file name stands for: exactly [`ExchangeId::as_str`] (so `htx`,
/// which [`ExchangeId::parse`] accepts, is not a capture directory: the writer never makes it).
pub fn exchange_from_name(name: &str) -> Option<ExchangeId> {
    let id = ExchangeId::parse(name)
        .or_else(|| (name == ExchangeId::Custom.as_str()).then_some(ExchangeId::Custom))?;
    (id.as_str() == name).then_some(id)
}

/// `YYYYMMDDTHHMMSSZ` of a time (UTC, to the second) and back: md-core's, shared with event files.
pub use md_core::time::{parse_utc_compact as parse_utc_stamp, utc_compact as utc_stamp};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_the_one_parser() {
        let ts = 1_704_164_645_123_456_789; // 2024-01-02T03:04:05.123456789Z
        let name = CaptureName::new(ExchangeId::Binance, ts, 7);
        assert_eq!(name.file_name(), "binance-20240102T030405Z-0007.mdcap");
        let parsed = CaptureName::parse(&name.file_name()).unwrap();
        assert_eq!(parsed, name);
        assert_eq!(parsed.start_ns, 1_704_164_645_000_000_000);
        assert_eq!(CaptureName::parse("/x/y/huobi-20240102T030405Z-12345.mdcap").unwrap().seq, 12345);
        for id in [ExchangeId::Bybit, ExchangeId::Huobi, ExchangeId::Bitstamp, ExchangeId::Custom] {
            let name = CaptureName::new(id, 0, 0);
            assert_eq!(CaptureName::parse(&name.file_name()), Some(name));
        }
    }

    #[test]
    fn refuses_other_names() {
        for bad in [
            "binance-20240102T030405Z-0001.mdidx",
            "binance-20240102T030405Z-01.mdcap",
            "binance-20240230T030405Z-0001.mdcap",
            "binance-20240102T250405Z-0001.mdcap",
            "htx-20240102T030405Z-0001.mdcap",
            "BINANCE-20240102T030405Z-0001.mdcap",
            "binance-20240102030405Z-0001.mdcap",
            "binance-20240102T030405Z-00x1.mdcap",
            "20240102T030405Z-0001.mdcap",
            "binance.mdcap",
            "",
        ] {
            assert!(CaptureName::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn stamps_cover_leap_days_and_times_before_1970() {
        for (ns, text) in [
            (0, "19700101T000000Z"),
            (-1, "19691231T235959Z"),
            (951_782_400 * NS_PER_SEC, "20000229T000000Z"),
            (4_102_444_799 * NS_PER_SEC, "20991231T235959Z"),
        ] {
            assert_eq!(utc_stamp(ns), text);
            assert_eq!(parse_utc_stamp(text), Some(ns.div_euclid(NS_PER_SEC) * NS_PER_SEC));
        }
        let mut day = -800_000;
        while day < 100_000 {
            let (y, m, d) = md_core::time::civil_from_days(day);
            assert_eq!(md_core::time::days_from_civil(y, m, d), day);
            day += 37;
        }
    }

    #[test]
    fn name_order_is_time_then_counter() {
        let a = CaptureName::new(ExchangeId::Bybit, 5 * NS_PER_SEC, 9);
        let b = CaptureName::new(ExchangeId::Bybit, 5 * NS_PER_SEC + 1, 10);
        let c = CaptureName::new(ExchangeId::Bybit, 6 * NS_PER_SEC, 0);
        assert!(a.sort_key() < b.sort_key() && b.sort_key() < c.sort_key());
        assert_eq!(index_path(Path::new("/d/x.mdcap")), PathBuf::from("/d/x.mdidx"));
    }
}
