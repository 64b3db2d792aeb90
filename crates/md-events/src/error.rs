//! [`EventsError`]: everything that can go wrong writing or reading event files.

use std::path::{Path, PathBuf};

/// Why an event file could not be written or read (or a part of it was skipped).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EventsError {
    /// A file or directory operation failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// A chunk (or the file header) failed its checksum or does not decode; the reader
    /// skipped it and went on with the next good chunk.
    #[error("{}: damaged at byte {offset}: {detail}", file.display())]
    Damaged {
        /// The file.
        file: PathBuf,
        /// Where the damaged part starts.
        offset: u64,
        /// What is wrong.
        detail: String,
    },
    /// The file ends inside a chunk (a crash, or a writer still writing): everything before
    /// `offset` was read, the partial chunk was skipped.
    #[error("{}: torn tail at byte {offset} (partial chunk skipped)", file.display())]
    TornTail {
        /// The file.
        file: PathBuf,
        /// Where the partial chunk starts.
        offset: u64,
    },
    /// The file was written in a format version this build does not read.
    #[error("{}: format version {version} (this build reads {})", file.display(), crate::FORMAT_VERSION)]
    UnknownVersion {
        /// The file.
        file: PathBuf,
        /// The version its header says.
        version: u16,
    },
    /// A record's bytes do not decode (without file context: [`crate::codec`] level).
    #[error("record does not decode: {0}")]
    Decode(String),
    /// A packet of a kind this format version cannot encode (a `Payload` kind added to md later).
    #[error("packet kind {0} has no encoding in format version {ver}", ver = crate::FORMAT_VERSION)]
    Unencodable(&'static str),
    /// A bad setting or argument.
    #[error("{0}")]
    Config(String),
}

impl EventsError {
    /// An I/O error on `path`.
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io { path: path.to_path_buf(), source }
    }
}
