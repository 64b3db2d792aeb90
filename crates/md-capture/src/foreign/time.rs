//! Recorded receive times, parsed exactly from their text into ns since the epoch.

pub use md_core::time::{parse_decimal_seconds_ns, parse_rfc3339_ns as parse_iso8601_ns};

/// The start of a text for an error message.
pub(crate) fn snippet(text: &str) -> &str {
    match text.char_indices().nth(80) {
        Some((at, _)) => &text[..at],
        None => text,
    }
}
