//! The error types of md-core: parsing, symbol listings and order books.
//!
//! Every error keeps its source and says whether retrying can help, so the driver can tell
//! a passing network fault from a bug or a venue that refuses us.

use std::error::Error as StdError;

use crate::packet::Sequence;

/// A frame or a field could not be turned into a [`crate::DataPacket`].
///
/// Parse errors are counted and logged by the caller, never fatal: one bad frame must not
/// stop a stream that carries thousands of good ones.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// The frame is not the JSON we expected.
    #[error("invalid JSON: {source} in {snippet}")]
    Json {
        /// The serde_json error.
        #[source]
        source: serde_json::Error,
        /// The start of the offending frame.
        snippet: String,
    },
    /// A decimal field holds text that is not an exact decimal.
    #[error("invalid decimal {text:?}: {reason}")]
    Decimal {
        /// The offending text.
        text: String,
        /// Why it was refused.
        reason: String,
    },
    /// A compressed frame (HTX gzip) could not be inflated.
    #[error("cannot decompress frame: {0}")]
    Decompress(#[source] std::io::Error),
    /// A text payload is not UTF-8.
    #[error("frame is not UTF-8: {0}")]
    Utf8(#[source] std::str::Utf8Error),
    /// Valid JSON of a shape this venue's parser does not know.
    #[error("unknown frame: {snippet}")]
    UnknownFrame {
        /// The start of the offending frame.
        snippet: String,
    },
    /// A field holds a value outside what the venue documents.
    #[error("invalid field {field}: {detail}")]
    InvalidField {
        /// Field name as on the wire.
        field: &'static str,
        /// What was wrong.
        detail: String,
    },
    /// A frame larger than the configured maximum.
    #[error("frame of {len} bytes exceeds the {max}-byte limit")]
    FrameTooLarge {
        /// Frame length.
        len: usize,
        /// Configured maximum.
        max: usize,
    },
}

/// How much of a bad frame an error message quotes.
const SNIPPET_LEN: usize = 160;

/// The first [`SNIPPET_LEN`] bytes of `text`, cut on a character boundary.
pub fn snippet(text: &str) -> String {
    if text.len() <= SNIPPET_LEN {
        return text.to_owned();
    }
    let mut end = SNIPPET_LEN;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

impl ParseError {
    /// A refused decimal.
    pub fn decimal(text: &str, reason: impl Into<String>) -> Self {
        Self::Decimal { text: snippet(text), reason: reason.into() }
    }

    /// A JSON error, quoting the frame it came from.
    pub fn json(source: serde_json::Error, frame: &str) -> Self {
        Self::Json { source, snippet: snippet(frame) }
    }

    /// A frame of an unknown shape.
    pub fn unknown(frame: &str) -> Self {
        Self::UnknownFrame { snippet: snippet(frame) }
    }
}

/// A REST request to a venue (symbol listing, book snapshot) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SymbolError {
    /// The request did not complete (DNS, TCP, TLS, timeout).
    #[error("REST request failed: {0}")]
    Transport(#[source] Box<dyn StdError + Send + Sync>),
    /// The venue answered with an HTTP error status.
    #[error("REST request answered HTTP {status}: {body}")]
    Status {
        /// HTTP status code.
        status: u16,
        /// Start of the body.
        body: String,
        /// The venue's `Retry-After`, in seconds, when it sent one (429, 418, 503).
        retry_after: Option<u64>,
    },
    /// The body is not the documented shape.
    #[error("REST body is not the documented shape: {0}")]
    Decode(#[source] serde_json::Error),
    /// The venue answered with its own error envelope (`retCode != 0`, `status: error`).
    #[error("venue refused the request: {0}")]
    Venue(String),
    /// The listing was empty: never subscribe to nothing silently.
    #[error("the venue listed no trading symbols")]
    Missing,
}

impl SymbolError {
    /// How long the venue asked us to wait, if it did.
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            Self::Status { retry_after: Some(secs), .. } => Some(std::time::Duration::from_secs(*secs)),
            _ => None,
        }
    }

    /// Whether the same request may succeed later.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Transport(_) => true,
            // 418 is Binance's IP ban for ignoring 429s: retryable, after its Retry-After.
            Self::Status { status, .. } => matches!(*status, 408 | 418 | 429) || *status >= 500,
            Self::Decode(_) | Self::Venue(_) | Self::Missing => false,
        }
    }
}

/// An order book refused an update; the book must be rebuilt from a fresh snapshot.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BookError {
    /// An incremental does not continue the book's sequence: updates were missed.
    #[error("sequence gap: book at {book_seq}, update {update:?}")]
    Gap {
        /// The book's last applied sequence.
        book_seq: u64,
        /// The refused update's sequence fields.
        update: Sequence,
    },
    /// An incremental arrived before any snapshot.
    #[error("incremental before snapshot")]
    NotSynced,
    /// After an update the best bid is at or above the best ask.
    #[error("crossed book: best bid {bid} >= best ask {ask}")]
    Crossed {
        /// Best bid price.
        bid: crate::decimal::Decimal,
        /// Best ask price.
        ask: crate::decimal::Decimal,
    },
    /// The buffer of incrementals waiting for a snapshot is full.
    #[error("{0} incrementals waited for a snapshot; dropped them")]
    PendingOverflow(usize),
    /// A cross-check found the book different from a fresh venue snapshot (venues whose
    /// incrementals carry no sequence, where a lost one is seen no other way).
    #[error("cross-check failed: {0}")]
    Mismatch(crate::book::CheckDiff),
}

impl BookError {
    /// Every book error is repaired by a fresh snapshot, never by retrying the same update.
    pub fn needs_resync(&self) -> bool {
        true
    }
}
