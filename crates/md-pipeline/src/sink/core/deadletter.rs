//! Dead-letter files: what the target refused or the encoder could not write, kept with its
//! reason instead of being dropped.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{SystemTime, UNIX_EPOCH};

/// An IO error with the path it happened on (the source is kept, not turned into a string).
#[derive(Debug, thiserror::Error)]
#[error("io on {path}: {source}")]
pub(crate) struct PathError {
    pub(crate) path: PathBuf,
    #[source]
    pub(crate) source: std::io::Error,
}

impl PathError {
    pub(crate) fn new(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self { path: path.into(), source }
    }
}

/// Writes `<dir>/<unix_ms>-<n>-<lane>-<status>.<ext>`: a header (the target's comment lines,
/// see `Delivery::dead_letter_format`), then the data exactly as it was sent, fsynced.
#[derive(Debug)]
pub(crate) struct DeadLetters {
    dir: PathBuf,
    seq: AtomicU64,
}

impl DeadLetters {
    /// Creates the directory now, so that a sink that cannot keep its refusals does not start.
    pub(crate) fn new(dir: &Path) -> Result<Self, PathError> {
        std::fs::create_dir_all(dir).map_err(|e| PathError::new(dir, e))?;
        Ok(Self { dir: dir.to_owned(), seq: AtomicU64::new(0) })
    }

    /// Writes one file; `create_new`, so two sinks sharing a directory never overwrite each
    /// other's files.
    pub(crate) fn write(
        &self,
        lane: &str,
        status: &str,
        header: &[u8],
        body: &[u8],
        ext: &str,
    ) -> Result<PathBuf, PathError> {
        let ms = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0);
        let n = self.seq.fetch_add(1, Relaxed);
        let status: String =
            status.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '-' }).collect();
        let path = self.dir.join(format!("{ms}-{n}-{lane}-{status}.{ext}"));
        let write = || -> std::io::Result<()> {
            let mut f = std::fs::OpenOptions::new().write(true).create_new(true).open(&path)?;
            f.write_all(header)?;
            f.write_all(body)?;
            f.sync_data()
        };
        if let Err(e) = write() {
            // A half-written file would look like a complete refusal: remove it.
            let _ = std::fs::remove_file(&path);
            return Err(PathError::new(&path, e));
        }
        Ok(path)
    }
}
