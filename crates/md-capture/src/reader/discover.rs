//! Which files a path stands for: a capture directory (venue subdirectories), one venue's
//! directory, or one file. Files are found by listing and parsing names with
//! [`CaptureName`], the type the writer names them with.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use md_core::ExchangeId;

use crate::error::CaptureError;
use crate::naming::{exchange_from_name, CaptureName, CAPTURE_EXT};

/// The files of one venue, in the order they were written, each with the venue it must be
/// of (its directory's, else its name's), if known.
#[derive(Debug)]
pub(crate) struct Group {
    pub files: Vec<(PathBuf, Option<ExchangeId>)>,
}

/// The groups `path` stands for, and the errors about names met on the way; an error if it
/// holds no capture file (of the venues asked for).
pub(crate) fn discover(
    path: &Path,
    asked: Option<&[ExchangeId]>,
) -> Result<(Vec<Group>, Vec<CaptureError>), CaptureError> {
    let meta = std::fs::metadata(path).map_err(|e| CaptureError::io(path, e))?;
    let mut errors = Vec::new();
    let mut groups = Vec::new();
    if meta.is_file() {
        let expected = CaptureName::from_path(path).map(|n| n.exchange);
        groups.push(Group { files: vec![(path.to_path_buf(), expected)] });
    } else {
        let subdirs = scan(path, &mut groups, &mut errors)?;
        // Venue subdirectories: the capture root. Venues not asked for are not read at all.
        for (venue, dir) in subdirs {
            if asked.is_none_or(|asked| asked.contains(&venue)) {
                scan(&dir, &mut groups, &mut errors)?;
            }
        }
    }
    if groups.is_empty() {
        let asked = asked.map_or_else(String::new, |a| {
            format!(" for {}", a.iter().map(|e| e.as_str()).collect::<Vec<_>>().join(", "))
        });
        return Err(CaptureError::NoCapture { path: path.to_path_buf(), asked });
    }
    Ok((groups, errors))
}

/// Adds the capture files right in `dir` as groups (one per venue); returns its venue
/// subdirectories, sorted.
fn scan(
    dir: &Path,
    groups: &mut Vec<Group>,
    errors: &mut Vec<CaptureError>,
) -> Result<Vec<(ExchangeId, PathBuf)>, CaptureError> {
    let dir_venue = dir.file_name().and_then(|n| n.to_str()).and_then(exchange_from_name);
    let mut by_venue: BTreeMap<ExchangeId, Vec<(CaptureName, PathBuf)>> = BTreeMap::new();
    let mut subdirs = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| CaptureError::io(dir, e))? {
        let child = entry.map_err(|e| CaptureError::io(dir, e))?.path();
        if child.is_dir() {
            if let Some(venue) = child.file_name().and_then(|n| n.to_str()).and_then(exchange_from_name) {
                subdirs.push((venue, child));
            }
            continue;
        }
        if child.extension().is_none_or(|x| x != CAPTURE_EXT) {
            continue;
        }
        match CaptureName::from_path(&child) {
            // A file named for one venue in another's directory is read as the directory's:
            // its header must name that venue.
            Some(name) => by_venue.entry(dir_venue.unwrap_or(name.exchange)).or_default().push((name, child)),
            None => errors.push(CaptureError::BadName { file: child }),
        }
    }
    for (venue, mut files) in by_venue {
        files.sort_by_key(|(name, _)| name.sort_key());
        groups.push(Group { files: files.into_iter().map(|(_, path)| (path, Some(venue))).collect() });
    }
    subdirs.sort();
    Ok(subdirs)
}
