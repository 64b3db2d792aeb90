//! Pieces every venue shares.

pub(crate) mod levels;
pub mod rest;
pub(crate) mod scan;
#[cfg(test)]
mod scan_equivalence;

use md_core::ParseError;

/// Deserializes a frame's JSON, quoting the frame in the error.
pub(crate) fn from_json<'a, T: serde::Deserialize<'a>>(text: &'a str) -> Result<T, ParseError> {
    serde_json::from_str(text).map_err(|e| ParseError::json(e, text))
}

/// The text of a frame: text frames as they are, binary frames if they are UTF-8 JSON.
pub(crate) fn frame_text<'a>(frame: md_core::Frame<'a>) -> Result<&'a str, ParseError> {
    match frame {
        md_core::Frame::Text(text) => Ok(text),
        md_core::Frame::Binary(bytes) => std::str::from_utf8(bytes).map_err(ParseError::Utf8),
    }
}

/// The string value of the first key when a frame starts `{"<key>":"<value>"`: the venue's
/// stream or topic name, read without parsing the frame, so that the frame can then be
/// deserialized once, straight into the right type. `None` for any other layout (including
/// escaped names); callers fall back to their general path.
pub(crate) fn peek_first_string<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    let rest = text.strip_prefix("{\"")?.strip_prefix(key)?.strip_prefix("\":\"")?;
    let name = &rest[..rest.find('"')?];
    (!name.contains('\\')).then_some(name)
}

/// A frame whose only field of interest is `data`; the rest (stream name, topic) is skipped.
#[derive(serde::Deserialize)]
pub(crate) struct DataField<T> {
    pub data: T,
}
