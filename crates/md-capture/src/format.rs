//! The capture format's version, its record kinds, and the header every file starts with.
//!
//! The README has the full table (kind byte, fields, when recorded); [`RecordKind`] is the
//! one list both the encoder and the decoder use.

use md_core::{ExchangeId, UnixNanos};

/// The format version this crate writes and reads, in every block header (as u16) and every
/// file's header record (as u32). A reader refuses other versions file by file.
pub const FORMAT_VERSION: u32 = 1;

/// What a record is: one byte at the start of its body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
#[non_exhaustive]
pub enum RecordKind {
    /// The file's header ([`CaptureHeader`]): alone in the first block of every file.
    Header = 0,
    /// [`md_core::RawKind::Listing`].
    Listing = 1,
    /// [`md_core::RawKind::Task`].
    Task = 2,
    /// [`md_core::RawKind::ListingAdopted`].
    ListingAdopted = 3,
    /// [`md_core::RawKind::Connected`].
    Connected = 4,
    /// A received text frame.
    ReceivedText = 5,
    /// A received binary frame.
    ReceivedBinary = 6,
    /// A received ping.
    ReceivedPing = 7,
    /// A received pong.
    ReceivedPong = 8,
    /// A received close frame.
    ReceivedClose = 9,
    /// A sent text frame.
    SentText = 10,
    /// A sent binary frame.
    SentBinary = 11,
    /// A sent ping.
    SentPing = 12,
    /// A sent pong.
    SentPong = 13,
    /// A sent close frame.
    SentClose = 14,
    /// [`md_core::RawKind::Rest`].
    Rest = 15,
    /// [`md_core::RawKind::Symbols`].
    Symbols = 16,
    /// [`md_core::RawKind::Unsubscribed`].
    Unsubscribed = 17,
    /// [`md_core::RawKind::Disconnected`].
    Disconnected,
}

impl RecordKind {
    /// Every kind, in byte order (the byte is the position).
    pub const ALL: [RecordKind; 19] = [
        Self::Header,
        Self::Listing,
        Self::Task,
        Self::ListingAdopted,
        Self::Connected,
        Self::ReceivedText,
        Self::ReceivedBinary,
        Self::ReceivedPing,
        Self::ReceivedPong,
        Self::ReceivedClose,
        Self::SentText,
        Self::SentBinary,
        Self::SentPing,
        Self::SentPong,
        Self::SentClose,
        Self::Rest,
        Self::Symbols,
        Self::Unsubscribed,
        Self::Disconnected,
    ];

    /// The byte on disk.
    pub fn byte(self) -> u8 {
        self as u8
    }

    /// The kind of a byte on disk; `None` for a byte this version does not know.
    pub fn from_byte(byte: u8) -> Option<Self> {
        Self::ALL.get(usize::from(byte)).copied()
    }

    /// The name in the README's table.
    pub fn name(self) -> &'static str {
        match self {
            Self::Header => "header",
            Self::Listing => "listing",
            Self::Task => "task",
            Self::ListingAdopted => "listing_adopted",
            Self::Connected => "connected",
            Self::ReceivedText => "received_text",
            Self::ReceivedBinary => "received_binary",
            Self::ReceivedPing => "received_ping",
            Self::ReceivedPong => "received_pong",
            Self::ReceivedClose => "received_close",
            Self::SentText => "sent_text",
            Self::SentBinary => "sent_binary",
            Self::SentPing => "sent_ping",
            Self::SentPong => "sent_pong",
            Self::SentClose => "sent_close",
            Self::Rest => "rest",
            Self::Symbols => "symbols",
            Self::Unsubscribed => "unsubscribed",
            Self::Disconnected => "disconnected",
        }
    }
}

/// What every capture file says about itself, in its first block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaptureHeader {
    /// The venue of every record in the file.
    pub exchange: ExchangeId,
    /// The format version ([`FORMAT_VERSION`] for what this crate writes).
    pub format_version: u32,
    /// The version of md that wrote the file (the caller's `CARGO_PKG_VERSION`).
    pub md_version: String,
    /// When the writer started (ns since the epoch).
    pub started_ns: UnixNanos,
    /// The venue's configuration as the caller gave it (opaque to this crate; JSON by
    /// convention), so a replay can rebuild the same connections.
    pub config: String,
}

impl CaptureHeader {
    /// A header of this format version, started now.
    pub fn new(exchange: ExchangeId, md_version: impl Into<String>, config: impl Into<String>) -> Self {
        Self {
            exchange,
            format_version: FORMAT_VERSION,
            md_version: md_version.into(),
            started_ns: md_core::now_ns(),
            config: config.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_bytes_are_stable_and_invertible() {
        for (i, kind) in RecordKind::ALL.iter().enumerate() {
            assert_eq!(usize::from(kind.byte()), i);
            assert_eq!(RecordKind::from_byte(kind.byte()), Some(*kind));
        }
        // The bytes are the on-disk format: these must never change.
        assert_eq!(RecordKind::Header.byte(), 0);
        assert_eq!(RecordKind::ReceivedText.byte(), 5);
        assert_eq!(RecordKind::Disconnected.byte(), 18);
        assert_eq!(RecordKind::from_byte(19), None);
    }
}
