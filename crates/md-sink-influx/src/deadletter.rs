//! Dead-letter files: what the database refused, kept with its reason instead of being dropped.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::encode::Target;
use crate::error::SinkError;

/// Writes `<dir>/<unix_ms>-<n>-<target>-<status>.lp`: `#` comment lines with the target, status
/// and server message, then the batch exactly as it was sent. Comment lines are valid line
/// protocol, so a fixed file can be posted back as it is.
#[derive(Debug)]
pub(crate) struct DeadLetters {
    dir: PathBuf,
    seq: AtomicU64,
}

impl DeadLetters {
    pub(crate) fn new(dir: &Path) -> Result<Self, SinkError> {
        std::fs::create_dir_all(dir).map_err(|e| SinkError::io(dir, e))?;
        Ok(Self { dir: dir.to_owned(), seq: AtomicU64::new(0) })
    }

    pub(crate) fn write(
        &self,
        target: &str,
        status: &str,
        message: &str,
        body: &[u8],
        ext: &str,
    ) -> Result<PathBuf, SinkError> {
        let ms = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0);
        let n = self.seq.fetch_add(1, Relaxed);
        let path = self.dir.join(format!("{ms}-{n}-{target}-{status}.{ext}"));
        let one_line: String =
            message.chars().map(|c| if c == '\n' || c == '\r' { ' ' } else { c }).collect();
        let write = || -> std::io::Result<()> {
            let mut f = std::fs::OpenOptions::new().write(true).create_new(true).open(&path)?;
            if ext == "lp" {
                write!(
                    f,
                    "# md dead letter\n# target: {target}\n# status: {status}\n# message: {one_line}\n"
                )?;
            }
            f.write_all(body)?;
            f.sync_data()
        };
        write().map_err(|e| SinkError::io(&path, e))?;
        Ok(path)
    }

    /// A batch the server refused.
    pub(crate) fn batch(
        &self,
        target: Target,
        status: u16,
        message: &str,
        body: &[u8],
    ) -> Result<PathBuf, SinkError> {
        self.write(target.as_str(), &status.to_string(), message, body, "lp")
    }
}
