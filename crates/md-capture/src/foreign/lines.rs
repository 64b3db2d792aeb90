//! Numbered text lines of a file, through gzip when the file starts with gzip's magic bytes.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::sync::Arc;

use flate2::read::MultiGzDecoder;

use super::ForeignError;

/// The longest line kept (the largest real ones, venue listings, are a few MiB); a longer
/// line is one error and is skipped, never buffered whole.
const MAX_LINE_BYTES: usize = 64 * 1024 * 1024;

/// gzip's first two bytes (RFC 1952).
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Lines of one file, numbered from 1, without their `\n` (nor a `\r` before it).
pub(crate) struct LineReader {
    path: Arc<Path>,
    inner: Box<dyn BufRead + Send>,
    line: u64,
    done: bool,
    buf: Vec<u8>,
}

impl LineReader {
    /// Opens `path`, inflating it when it is gzipped (every member: `cat a.gz b.gz` reads whole).
    pub(crate) fn open(path: &Path) -> Result<Self, ForeignError> {
        let io = |source| ForeignError::Io { path: path.to_owned(), source };
        let file = File::open(path).map_err(io)?;
        let mut raw = BufReader::with_capacity(256 * 1024, file);
        let gzipped = raw.fill_buf().map_err(io)?.starts_with(&GZIP_MAGIC);
        let inner: Box<dyn BufRead + Send> = if gzipped {
            Box::new(BufReader::with_capacity(256 * 1024, MultiGzDecoder::new(raw)))
        } else {
            Box::new(raw)
        };
        Ok(Self { path: Arc::from(path), inner, line: 0, done: false, buf: Vec::new() })
    }

    /// The file.
    pub(crate) fn path(&self) -> &Arc<Path> {
        &self.path
    }

    /// The next line with its number, `None` at the end. An `Err` is that line unreadable (not
    /// UTF-8, too long) — the next call reads on — or the file unreadable from here on
    /// ([`ForeignError::Io`], after which the reader is at its end).
    pub(crate) fn next_line(&mut self) -> Option<(u64, Result<String, ForeignError>)> {
        if self.done {
            return None;
        }
        self.buf.clear();
        let mut too_long = false;
        let mut saw_any = false;
        loop {
            let chunk = match self.inner.fill_buf() {
                Ok(chunk) => chunk,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(source) => {
                    self.done = true;
                    return Some((
                        self.line + 1,
                        Err(ForeignError::Io { path: self.path.to_path_buf(), source }),
                    ));
                }
            };
            if chunk.is_empty() {
                self.done = true;
                if !saw_any {
                    return None;
                }
                break;
            }
            saw_any = true;
            let (take, found) = match chunk.iter().position(|&b| b == b'\n') {
                Some(at) => (at, true),
                None => (chunk.len(), false),
            };
            if !too_long {
                if self.buf.len() + take > MAX_LINE_BYTES {
                    too_long = true;
                    self.buf.clear();
                } else {
                    self.buf.extend_from_slice(&chunk[..take]);
                }
            }
            self.inner.consume(if found { take + 1 } else { take });
            if found {
                break;
            }
        }
        self.line += 1;
        let line = self.line;
        if too_long {
            let detail = format!("line longer than {MAX_LINE_BYTES} bytes; skipped");
            return Some((line, Err(ForeignError::line_error(&self.path, line, detail))));
        }
        if self.buf.last() == Some(&b'\r') {
            self.buf.pop();
        }
        let bytes = std::mem::take(&mut self.buf);
        match String::from_utf8(bytes) {
            Ok(text) => Some((line, Ok(text))),
            Err(e) => {
                let at = e.utf8_error().valid_up_to();
                let detail = format!("not UTF-8 text (invalid byte at column {})", at + 1);
                Some((line, Err(ForeignError::line_error(&self.path, line, detail))))
            }
        }
    }
}
