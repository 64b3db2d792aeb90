//! Other tools' captures, read as md's raw events.
//!
//! People already hold history recorded by other tools. These readers turn two such formats
//! into the same [`RawEvent`] stream a live md driver records, so `md-replay` feeds them
//! through md's own parsers and verified books exactly as it replays md's own captures:
//!
//! - **tardis.dev** ([`read_tardis`], [`read_tardis_files`]): tardis-machine's `/replay` NDJSON
//!   (`{"localTimestamp":"<ISO 8601>","message":<the exchange's message>}` per line) and the
//!   line form of the tardis HTTP API and of tardis-node's gzipped cache slices
//!   (`<ISO 8601> <message>`); in both an empty line marks a disconnect. The lines do not name
//!   the venue: the caller does ([`tardis_exchange`] maps tardis' exchange names).
//! - **cryptofeed** ([`read_cryptofeed`]): the text files of its `raw_data_collection`
//!   (`AsyncFileCallback`): `<url> <-> <ts>` (connect), `<url> <- <ts>: <msg>` (sent),
//!   `<ts>: <msg>` (received), `<url> -> <ts>: <body>[ header: <json>]` (REST) and
//!   `configuration: <json>`, one file per connection (`<VENUE>.ws.<n>.<rotation>`), REST
//!   responses in `<VENUE>.http.<n>.<rotation>`, the listing and configuration in `<VENUE>.0`.
//!
//! # The event stream
//!
//! Per reader, one venue; events in this order (the contract `md-replay` consumes):
//!
//! 1. one [`RawKind::Listing`] (slot 0, [`ConnId`] 0) holding every symbol seen anywhere in the
//!    capture (a first pass reads the whole input for it);
//! 2. per connection a slot `>= 1`, stable across the connection's reconnects: a
//!    [`RawKind::Task`] (the recorded URL, or an empty string when the format records none —
//!    the engine then uses all configured channels) and [`RawKind::Symbols`]
//!    (`announced: false`) with the connection's symbols, both on [`ConnId`] 0 as the driver
//!    records them;
//! 3. per session a [`RawKind::Connected`] with a fresh [`ConnId`] (unique per session within
//!    the reader, counting from 1), then [`RawKind::Received`] per frame,
//!    [`RawKind::Sent`] per recorded sent message, [`RawKind::Rest`] per REST book snapshot,
//!    and a [`RawKind::Disconnected`]: [`DisconnectReason::ClosedByVenue`] (no close code)
//!    where the capture records a disconnect (a tardis empty line, a new cryptofeed connect
//!    line), [`DisconnectReason::Cancelled`] where the capture ends.
//!
//! `local_ts` is the recorded receive time in ns since the epoch, parsed exactly from the text
//! ([`parse_iso8601_ns`], [`parse_decimal_seconds_ns`]); captures carry no monotonic clock, so
//! `mono_ns` is `local_ts` as `u64` (never negative: earlier times are refused). Events md makes
//! up carry recorded times too: the listing the capture's earliest, a task and its symbols
//! that of the connection's first line, a disconnect that of its session's last event. Within
//! a file events keep the file's order; cryptofeed's files are merged by timestamp.
//!
//! # Bad input
//!
//! A line that cannot be read yields one `Err` ([`ForeignError::Line`], naming the file and
//! the 1-based line number) and reading goes on with the next line; a file that cannot be read
//! any further (a truncated gzip stream) yields [`ForeignError::Io`] and reading goes on with the
//! next file. Nothing panics, whatever the bytes. Gzip input (`.gz`, tardis caches) is
//! recognised by its magic bytes and inflated transparently ([`flate2::read::MultiGzDecoder`]).
//!
//! # Venues
//!
//! md reads binance, bybit and huobi captures (not yet Bitstamp's, although md implements it:
//! [`ExchangeId::BUILT_IN`]); any other venue is refused up front with
//! [`ForeignError::Unsupported`], which names what md reads. `SymbolInfo::native` is exactly
//! what the venue's parser looks up: Binance upper case (`NKNUSDT`, as `s` and the REST URL
//! carry it), Bybit as its topics carry it (`BTCUSDT`), HTX lower case (`btcusdt`, as `ch`
//! carries it). The canonical name comes from a listing in the capture when there is one
//! (cryptofeed's `<VENUE>.0` REST listing), else from the cryptofeed configuration's
//! `BASE-QUOTE` names, else from [`Symbols::canonical_or_guess`].
//!
//! # Limits
//!
//! The readers hand md's parsers what the capture holds; they do not make a capture of
//! something md does not parse parseable. cryptofeed's `BYBIT` feed recorded Bybit's legacy
//! derivatives endpoints (`/realtime_public`, `/realtime`), which md's v5 spot parser refuses
//! (a warning is logged); Binance captures hold streams md does not parse (`@bookTicker`,
//! `@kline_1m`), which its parser names as unknown frames.
//!
//! [`ConnId`]: md_core::ConnId
//! [`DisconnectReason::Cancelled`]: md_core::DisconnectReason::Cancelled
//! [`DisconnectReason::ClosedByVenue`]: md_core::DisconnectReason::ClosedByVenue
//! [`RawKind::Connected`]: md_core::RawKind::Connected
//! [`RawKind::Disconnected`]: md_core::RawKind::Disconnected
//! [`RawKind::Listing`]: md_core::RawKind::Listing
//! [`RawKind::Received`]: md_core::RawKind::Received
//! [`RawKind::Rest`]: md_core::RawKind::Rest
//! [`RawKind::Sent`]: md_core::RawKind::Sent
//! [`RawKind::Symbols`]: md_core::RawKind::Symbols
//! [`RawKind::Task`]: md_core::RawKind::Task

mod cryptofeed;
mod lines;
mod pybytes;
mod tardis;
mod time;
mod venue;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use md_core::{Channel, ExchangeId, RawEvent, Symbols};

pub use pybytes::parse_python_bytes;
pub use time::{parse_decimal_seconds_ns, parse_iso8601_ns};

/// A reader's events, boxed.
pub(crate) type Events = Box<dyn Iterator<Item = Result<RawEvent, ForeignError>> + Send>;

/// Another tool's capture format that md reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ForeignFormat {
    /// tardis.dev: tardis-machine `/replay` NDJSON, or the `<ISO 8601> <message>` lines of the
    /// tardis HTTP API and tardis-node's cache.
    Tardis,
    /// cryptofeed's `raw_data_collection` text files.
    Cryptofeed,
}

impl ForeignFormat {
    /// `tardis` or `cryptofeed`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tardis => "tardis",
            Self::Cryptofeed => "cryptofeed",
        }
    }
}

impl fmt::Display for ForeignFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What went wrong reading another tool's capture.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ForeignError {
    /// A file could not be opened or read on (for a truncated gzip stream: every line before
    /// the damage was read).
    #[error("io on {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The IO error.
        #[source]
        source: std::io::Error,
    },
    /// One line could not be read; the reader goes on with the next.
    #[error("{path}:{line}: {detail}")]
    Line {
        /// The file.
        path: PathBuf,
        /// The line number, from 1.
        line: u64,
        /// What is wrong with it.
        detail: String,
    },
    /// The capture is of a venue md does not read.
    #[error("{what} is not supported; md reads: {supported}")]
    Unsupported {
        /// The venue as the capture or the caller named it (`tardis exchange "bitmex"`).
        what: String,
        /// The names md reads, in the same naming scheme.
        supported: String,
    },
    /// The inputs do not make one capture (no file, files of different venues, a venue that
    /// cannot be told from the file names).
    #[error("{detail}")]
    Input {
        /// What is wrong.
        detail: String,
    },
}

impl ForeignError {
    /// The 1-based line number, for [`ForeignError::Line`].
    pub fn line(&self) -> Option<u64> {
        match self {
            Self::Line { line, .. } => Some(*line),
            _ => None,
        }
    }

    /// The file concerned, for [`ForeignError::Io`] and [`ForeignError::Line`].
    pub fn path(&self) -> Option<&Path> {
        match self {
            Self::Io { path, .. } | Self::Line { path, .. } => Some(path),
            _ => None,
        }
    }

    pub(crate) fn line_error(path: &Path, line: u64, detail: impl Into<String>) -> Self {
        Self::Line { path: path.to_owned(), line, detail: detail.into() }
    }
}

/// The events of one foreign capture, in the order of the contract in the module
/// documentation; an `Err` item is one unreadable line (or file), and the iteration goes on.
pub struct ForeignReader {
    exchange: ExchangeId,
    format: ForeignFormat,
    listing: Arc<Symbols>,
    channels: Vec<Channel>,
    events: Events,
}

impl ForeignReader {
    /// The venue every event belongs to.
    pub fn exchange(&self) -> ExchangeId {
        self.exchange
    }

    /// The format read.
    pub fn format(&self) -> ForeignFormat {
        self.format
    }

    /// The listing the first event carries: every symbol seen in the capture.
    pub fn listing(&self) -> &Arc<Symbols> {
        &self.listing
    }

    /// The channels the capture's configuration names (cryptofeed `trades` → [`Channel::Trades`],
    /// `l2_book`/`l3_book` → [`Channel::Book`]); empty when the capture does not say.
    pub fn channels(&self) -> &[Channel] {
        &self.channels
    }
}

impl Iterator for ForeignReader {
    type Item = Result<RawEvent, ForeignError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.events.next()
    }
}

impl fmt::Debug for ForeignReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ForeignReader")
            .field("exchange", &self.exchange)
            .field("format", &self.format)
            .field("symbols", &self.listing.len())
            .field("channels", &self.channels)
            .finish_non_exhaustive()
    }
}

/// Tells the format of a file from its first non-empty line (through gzip when the file is
/// gzipped); `None` when it is neither format, or cannot be read.
pub fn detect(path: &Path) -> Option<ForeignFormat> {
    let mut lines = lines::LineReader::open(path).ok()?;
    for _ in 0..64 {
        let (_, line) = lines.next_line()?;
        let line = line.ok()?;
        if line.is_empty() {
            continue;
        }
        if tardis::looks_like(&line) {
            return Some(ForeignFormat::Tardis);
        }
        if cryptofeed::looks_like(&line) {
            return Some(ForeignFormat::Cryptofeed);
        }
        return None;
    }
    None
}

/// The md venue of a tardis.dev exchange name: `binance` (spot), `bybit-spot`, `huobi`
/// (Huobi Global spot). Any other name (tardis' derivatives feeds such as `binance-futures` or
/// `bybit` included) is [`ForeignError::Unsupported`], naming the ones md reads.
pub fn tardis_exchange(name: &str) -> Result<ExchangeId, ForeignError> {
    venue::tardis_exchange(name)
}

/// Reads one tardis file (NDJSON or `<ISO 8601> <message>` lines, gzipped or not) of `exchange`.
///
/// One connection (slot 1): each disconnect-delimited segment is one session. Binance
/// `"generated":true` `<symbol>@depthSnapshot` messages (tardis' REST snapshots) become
/// [`Rest`](md_core::RawKind::Rest) events whose body is the `data` object, byte for byte,
/// i.e. the body of `GET /api/v3/depth`; every other message is a
/// [`Received`](md_core::RawKind::Received) text frame, except the messages tardis made up
/// that have no wire form md could parse (other generated messages, HTX `depth` diffs marked
/// `"update":true`), which are skipped: the first of each kind yields an `Err` that says so.
///
/// Errors up front: [`ForeignError::Unsupported`] for a venue md does not read,
/// [`ForeignError::Io`] when the file cannot be opened.
pub fn read_tardis(path: &Path, exchange: ExchangeId) -> Result<ForeignReader, ForeignError> {
    read_tardis_files(&[path.to_owned()], exchange)
}

/// Reads consecutive tardis files (tardis-node's one-minute cache slices, daily files) as one
/// capture: [`read_tardis`] over their concatenation, a file boundary being no disconnect.
pub fn read_tardis_files(paths: &[PathBuf], exchange: ExchangeId) -> Result<ForeignReader, ForeignError> {
    venue::check_supported(exchange)?;
    if paths.is_empty() {
        return Err(ForeignError::Input { detail: "no tardis file given".into() });
    }
    let (listing, events) = tardis::open(paths, exchange)?;
    Ok(ForeignReader { exchange, format: ForeignFormat::Tardis, listing, channels: Vec::new(), events })
}

/// Reads a set of cryptofeed raw files of one venue: any mix of its `<VENUE>.ws.*` connection
/// files, `<VENUE>.http.*` REST files and the `<VENUE>.0` listing/configuration file.
///
/// The venue is the file names' prefix before the first `.` (`BINANCE`, `BYBIT`, `HUOBI`, as
/// cryptofeed names its feeds; the configuration line itself names no venue, only channels
/// and symbols, so the configuration file's name is what names it). Other venues (`BITSTAMP`,
/// `BINANCE_FUTURES`, …) are [`ForeignError::Unsupported`]. Files whose names do not say use
/// [`read_cryptofeed_as`].
///
/// Each `.ws.` file group is one connection (rotated parts `….<k>` of one connection are read
/// in order as one), each connect line in it one session. REST lines (`?symbol=` in the URL)
/// become [`Rest`](md_core::RawKind::Rest) events on the connection carrying that symbol
/// (else on the first connection), merged with the WebSocket events by timestamp (a REST line
/// recorded before its connection's first connect follows that connect). Listing REST lines and
/// the configuration are read for names and channels, not replayed. HTX frames, which
/// cryptofeed stores as Python `b'…'` reprs of the gzip bytes, become
/// [`md_core::WsMessage::Binary`] with exactly those bytes.
pub fn read_cryptofeed(paths: &[PathBuf]) -> Result<ForeignReader, ForeignError> {
    let exchange = cryptofeed::venue_of(paths)?;
    read_cryptofeed_as(paths, exchange)
}

/// [`read_cryptofeed`] for files whose names do not name the venue: `exchange` says it.
pub fn read_cryptofeed_as(paths: &[PathBuf], exchange: ExchangeId) -> Result<ForeignReader, ForeignError> {
    venue::check_supported(exchange)?;
    if paths.is_empty() {
        return Err(ForeignError::Input { detail: "no cryptofeed file given".into() });
    }
    let opened = cryptofeed::open(paths, exchange)?;
    Ok(ForeignReader {
        exchange,
        format: ForeignFormat::Cryptofeed,
        listing: opened.listing,
        channels: opened.channels,
        events: opened.events,
    })
}
