//! [`read`]: a capture back as [`RawEvent`]s, venue by venue merged by `local_ts`.
//!
//! Damage is reported, never fatal: a torn tail, a damaged block, a file of an unknown
//! version or of another venue each comes out as one `Err` item naming the file and offset,
//! and reading goes on with the next block or file. Nothing in a file's bytes can make the
//! reader panic or allocate more than one block's worth (a block is at most 1 GiB, and a
//! block header must pass its checksum before its lengths are used).

mod discover;
mod file;

use std::collections::VecDeque;
use std::path::{Path, PathBuf};

use md_core::{ExchangeId, RawEvent, UnixNanos};

use crate::error::CaptureError;
use crate::format::CaptureHeader;
use discover::discover;
use file::FileCursor;

/// What to read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadOptions {
    /// Only these venues (`None`: every venue found). Under a capture directory, other
    /// venues' subdirectories are not read; a venue directory or file of another venue is an
    /// error ([`CaptureError::WrongVenue`]) for each file.
    pub exchanges: Option<Vec<ExchangeId>>,
    /// Only events with `local_ts >= from` (the index finds the first block to read).
    pub from: Option<UnixNanos>,
    /// Only events with `local_ts < to`.
    pub to: Option<UnixNanos>,
}

/// One item of a capture.
#[derive(Debug, Clone)]
pub enum CaptureItem {
    /// A file's header: comes before the file's first event (a file with no event in the
    /// range asked for yields none).
    Header {
        /// The file.
        file: PathBuf,
        /// Its header.
        header: CaptureHeader,
    },
    /// An event, as recorded (clocks, slot and connection exact).
    Event(RawEvent),
}

/// Opens the capture at `path`: a capture directory (`<dir>/<venue>/…`), one venue's
/// directory, or one file. Fails only if `path` cannot be listed or holds no capture file;
/// everything wrong inside the files comes out as items.
pub fn read(path: &Path, options: ReadOptions) -> Result<CaptureReader, CaptureError> {
    let (groups, errors) = discover(path, options.exchanges.as_deref())?;
    let streams = groups
        .into_iter()
        .map(|g| VenueStream { files: g.files.into(), options: options.clone(), current: None })
        .collect::<Vec<_>>();
    let heads = streams.iter().map(|_| None).collect();
    let live = vec![true; streams.len()];
    Ok(CaptureReader { errors: errors.into(), streams, heads, live })
}

/// The items of a capture: within a venue, files in name order and records in file order;
/// across venues, merged by `local_ts` (the earlier first, ties to the venue listed first).
/// Headers and errors come out as soon as they are reached.
#[derive(Debug)]
pub struct CaptureReader {
    errors: VecDeque<CaptureError>,
    streams: Vec<VenueStream>,
    heads: Vec<Option<Result<CaptureItem, CaptureError>>>,
    live: Vec<bool>,
}

impl Iterator for CaptureReader {
    type Item = Result<CaptureItem, CaptureError>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(error) = self.errors.pop_front() {
            return Some(Err(error));
        }
        for i in 0..self.streams.len() {
            if self.heads[i].is_none() && self.live[i] {
                self.heads[i] = self.streams[i].next();
                self.live[i] = self.heads[i].is_some();
            }
        }
        // A header or an error first (it has no time), else the earliest event.
        let mut pick: Option<(usize, UnixNanos)> = None;
        for (i, head) in self.heads.iter().enumerate() {
            match head {
                Some(Ok(CaptureItem::Event(event))) if pick.is_none_or(|(_, ts)| event.local_ts < ts) => {
                    pick = Some((i, event.local_ts));
                }
                Some(Ok(CaptureItem::Event(_))) | None => {}
                Some(_) => {
                    pick = Some((i, UnixNanos::MIN));
                    break;
                }
            }
        }
        let (i, _) = pick?;
        self.heads[i].take()
    }
}

/// One venue's files, one after another.
#[derive(Debug)]
struct VenueStream {
    files: VecDeque<(PathBuf, Option<ExchangeId>)>,
    options: ReadOptions,
    current: Option<FileCursor>,
}

impl Iterator for VenueStream {
    type Item = Result<CaptureItem, CaptureError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(item) = self.current.as_mut().and_then(Iterator::next) {
                return Some(item);
            }
            let (path, expected) = self.files.pop_front()?;
            match FileCursor::open(path, expected, &self.options) {
                Ok(cursor) => self.current = Some(cursor),
                Err(e) => {
                    self.current = None;
                    return Some(Err(e));
                }
            }
        }
    }
}
