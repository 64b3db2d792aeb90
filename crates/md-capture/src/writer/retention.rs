//! Retention: after each new file, the oldest files of the venue directory go, by age or by
//! total size. The current file is never deleted.

use std::path::Path;
use std::time::Duration;

use md_core::ExchangeId;

use crate::naming::{index_path, CaptureName};

/// How much capture a venue directory keeps (both limits apply when both are set).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Retention {
    /// A file goes once the file after it started more than this before the newest file
    /// started (so no record younger than this, by the files' names, is deleted).
    pub max_age: Option<Duration>,
    /// The oldest files go while the directory's capture and index files total more.
    pub max_bytes: Option<u64>,
}

impl Retention {
    /// Whether any limit is set.
    pub fn is_set(&self) -> bool {
        self.max_age.is_some() || self.max_bytes.is_some()
    }
}

/// Deletes what `retention` says must go from `dir` (files of `exchange` only), never
/// `current`; returns how many capture files were deleted.
pub(crate) fn apply(dir: &Path, exchange: ExchangeId, current: &Path, retention: &Retention) -> u64 {
    if !retention.is_set() {
        return 0;
    }
    let listing = match std::fs::read_dir(dir) {
        Ok(listing) => listing,
        Err(e) => {
            tracing::warn!(dir = %dir.display(), error = %e, "capture retention: cannot list");
            return 0;
        }
    };
    let mut files: Vec<(CaptureName, std::path::PathBuf, u64)> = listing
        .filter_map(|entry| {
            let path = entry.ok()?.path();
            let name = CaptureName::from_path(&path).filter(|n| n.exchange == exchange)?;
            let size = |p: &Path| std::fs::metadata(p).map_or(0, |m| m.len());
            let bytes = size(&path) + size(&index_path(&path));
            Some((name, path, bytes))
        })
        .collect();
    files.sort_by_key(|(name, _, _)| name.sort_key());
    let Some(newest) = files.last().map(|(name, _, _)| name.start_ns) else {
        return 0;
    };
    let mut doomed = vec![false; files.len()];
    if let Some(max_age) = retention.max_age {
        let cutoff = newest.saturating_sub(i64::try_from(max_age.as_nanos()).unwrap_or(i64::MAX));
        for i in 0..files.len().saturating_sub(1) {
            // A file's records end where the next file starts.
            doomed[i] = files[i + 1].0.start_ns <= cutoff;
        }
    }
    if let Some(max_bytes) = retention.max_bytes {
        let mut total: u64 = files.iter().zip(&doomed).filter(|(_, d)| !**d).map(|(f, _)| f.2).sum();
        for (i, (_, path, bytes)) in files.iter().enumerate() {
            if total <= max_bytes || path == current {
                break;
            }
            if !doomed[i] {
                doomed[i] = true;
                total -= bytes;
            }
        }
    }
    let mut deleted = 0;
    for ((_, path, _), doomed) in files.iter().zip(doomed) {
        if !doomed || path == current {
            continue;
        }
        match std::fs::remove_file(path) {
            Ok(()) => {
                deleted += 1;
                let _ = std::fs::remove_file(index_path(path));
                tracing::info!(path = %path.display(), "capture retention: deleted");
            }
            Err(e) => tracing::warn!(path = %path.display(), error = %e, "capture retention: cannot delete"),
        }
    }
    deleted
}
