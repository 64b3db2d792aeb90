//! [`CaptureError`]: the one error type of md's capture writer and reader.
//!
//! Every variant that concerns a file names it, and where it concerns a place in it, the byte
//! offset, so that a damaged capture can be looked at with a hex dump. The reader yields these
//! as items and reads on: a torn tail is what every crash leaves, so a caller may treat
//! [`CaptureError::TornTail`] as a warning.

use std::path::PathBuf;

/// Everything that can go wrong writing or reading a capture.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CaptureError {
    /// Creating, listing, opening, writing or reading a file or directory failed.
    #[error("io on {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The IO error.
        #[source]
        source: std::io::Error,
    },
    /// The file ends inside a block: what a crash (or a copy still being written) leaves. Every
    /// block before `offset` was read; the caller may treat this as a warning.
    #[error("{file}: torn tail at offset {offset} (the file ends inside a block; the rest was read)")]
    TornTail {
        /// The file.
        file: PathBuf,
        /// Where the incomplete block starts.
        offset: u64,
    },
    /// A block or record failed its checks (magic, checksum, length, decoding); it was
    /// skipped and reading resumed at the next block that verifies.
    #[error("{file}: damaged at offset {offset}: {detail}")]
    Damaged {
        /// The file.
        file: PathBuf,
        /// Where the damaged block starts.
        offset: u64,
        /// What failed (and which record of the block, for a record).
        detail: String,
    },
    /// The file is of a format version this reader does not know; it was skipped.
    #[error("{file}: unknown capture format version {version} at offset 0 (this reader knows {known})")]
    UnknownVersion {
        /// The file.
        file: PathBuf,
        /// The version the file says it is.
        version: u32,
        /// The version this reader knows.
        known: u32,
    },
    /// The file's header names another venue than its directory, its name, or the venues
    /// asked for; it was skipped.
    #[error("{file}: header at offset 0 is of venue {found:?}, expected {expected}")]
    WrongVenue {
        /// The file.
        file: PathBuf,
        /// The venue (or venues) expected.
        expected: String,
        /// The venue the header names.
        found: String,
    },
    /// A file with the capture extension whose name does not parse; it was skipped.
    #[error("{file}: not a capture file name (expected <venue>-<YYYYMMDDTHHMMSSZ>-<nnnn>.mdcap)")]
    BadName {
        /// The file.
        file: PathBuf,
    },
    /// No capture file was found where one was asked for.
    #[error("{path}: no capture files (*.mdcap){asked}")]
    NoCapture {
        /// The path given.
        path: PathBuf,
        /// Which venues were asked for, if any (for the message).
        asked: String,
    },
    /// An event cannot be encoded (a [`md_core::RawKind`] this version does not know, an event
    /// of another venue, a value too large for the format).
    #[error("cannot encode event: {detail}")]
    Encode {
        /// What was refused.
        detail: String,
    },
    /// The configuration is unusable.
    #[error("invalid capture config: {detail}")]
    Config {
        /// What is wrong.
        detail: String,
    },
    /// The writer's background thread ended abnormally.
    #[error("capture writer thread for {venue}: {detail}")]
    Worker {
        /// The venue.
        venue: String,
        /// What happened.
        detail: String,
    },
}

impl CaptureError {
    /// An IO error on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io { path: path.into(), source }
    }

    /// The file (or directory) the error concerns, if any.
    pub fn path(&self) -> Option<&std::path::Path> {
        match self {
            Self::Io { path, .. } | Self::NoCapture { path, .. } => Some(path),
            Self::TornTail { file, .. }
            | Self::Damaged { file, .. }
            | Self::UnknownVersion { file, .. }
            | Self::WrongVenue { file, .. }
            | Self::BadName { file } => Some(file),
            Self::Encode { .. } | Self::Config { .. } | Self::Worker { .. } => None,
        }
    }
}
