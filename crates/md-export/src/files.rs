//! File names and the write-then-rename step: a file is written as `NAME.partial` and renamed
//! to `NAME` only once it is complete (synced, and for Parquet with its footer), so a file
//! under a final name is always readable.

use std::fs::File;
use std::path::{Path, PathBuf};

use crate::table::Table;
use crate::ExportError;

/// The final and in-progress paths of one export file.
#[derive(Debug, Clone)]
pub(crate) struct FilePaths {
    done: PathBuf,
    partial: PathBuf,
}

impl FilePaths {
    /// `DIR/<table>-<index, 6 digits>.<ext>` and its `.partial` twin.
    pub(crate) fn new(dir: &Path, table: Table, index: u64, ext: &str) -> Self {
        let name = format!("{}-{index:06}.{ext}", table.as_str());
        Self { partial: dir.join(format!("{name}.partial")), done: dir.join(name) }
    }

    /// Where the file is written.
    pub(crate) fn partial(&self) -> &Path {
        &self.partial
    }
}

/// Creates the in-progress file; refuses to replace a finished file of that name.
pub(crate) fn create(paths: &FilePaths) -> Result<File, ExportError> {
    if paths.done.exists() {
        return Err(ExportError::Exists { path: paths.done.clone() });
    }
    File::create(&paths.partial).map_err(|e| ExportError::io("creating", &paths.partial, e))
}

/// Syncs a complete file to disk and gives it its final name.
pub(crate) fn publish(file: File, paths: &FilePaths) -> Result<(), ExportError> {
    file.sync_all().map_err(|e| ExportError::io("syncing", &paths.partial, e))?;
    drop(file);
    std::fs::rename(&paths.partial, &paths.done).map_err(|e| ExportError::io("renaming", &paths.partial, e))
}

/// The first file in `dir` an export of this extension would write or replace, if any:
/// `trades-*` or `snapshots-*` ending `.<ext>` or `.<ext>.partial`.
pub(crate) fn earlier_export(dir: &Path, ext: &str) -> Result<Option<PathBuf>, ExportError> {
    let entries = std::fs::read_dir(dir).map_err(|e| ExportError::io("listing", dir, e))?;
    let done = format!(".{ext}");
    let partial = format!(".{ext}.partial");
    for entry in entries {
        let entry = entry.map_err(|e| ExportError::io("listing", dir, e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let ours = [Table::Trades, Table::Snapshots]
            .iter()
            .any(|t| name.strip_prefix(t.as_str()).is_some_and(|rest| rest.starts_with('-')));
        if ours && (name.ends_with(&done) || name.ends_with(&partial)) {
            return Ok(Some(entry.path()));
        }
    }
    Ok(None)
}
