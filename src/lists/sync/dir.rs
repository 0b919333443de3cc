//! `dir:PATH` sources, drop directories: files named by date or sequence. Full loads take the
//! newest file; deltas take every file after the last one applied, in name order.

use std::path::{Path, PathBuf};

use super::{FetchedFile, FileStamp, state};
use crate::lists::version::Mode;
use crate::lists::{Error, get};
use crate::store::Store;

/// The files of a drop directory, by name; hidden and partial (`.tmp`, `.part`) files are still
/// being written and are left alone.
fn drops_in(dir: &Path) -> Result<Vec<PathBuf>, Error> {
    let err = |source| Error::SourceFile {
        path: dir.to_path_buf(),
        source,
    };
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(err)?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .filter(|p| {
            let n = p.file_name().and_then(|n| n.to_str()).unwrap_or(".");
            !n.starts_with('.') && !n.ends_with(".tmp") && !n.ends_with(".part")
        })
        .collect();
    names.sort();
    if names.is_empty() {
        return Err(Error::NoDrop {
            dir: dir.to_path_buf(),
        });
    }
    Ok(names)
}

/// The drop to publish next; `None` when there is nothing new.
pub(super) fn fetch(
    store: &Store,
    name: &str,
    mode: Mode,
    dir: &Path,
) -> Result<Option<FetchedFile>, Error> {
    let mut st = state(store, name)?;
    let drops = drops_in(dir)?;
    // Full loads: the newest file is the list. Deltas: every drop counts, so the oldest one
    // after the last applied comes next (`sync` goes on until none is left).
    let last = st.file.as_ref().map(|f| PathBuf::from(&f.path));
    let path = match mode {
        Mode::Full => drops.last().cloned(),
        Mode::Delta => drops
            .iter()
            .find(|p| last.as_ref().is_none_or(|l| p.file_name() > l.file_name()))
            .cloned(),
    };
    let Some(path) = path else {
        return Ok(None);
    };
    let seen = FileStamp::of(&path)?;
    if st.file.as_ref() == Some(&seen) && get(store, name).is_ok() {
        return Ok(None);
    }
    st.file = Some(seen);
    let file_name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    Ok(Some(FetchedFile {
        path,
        described: format!("dir:{}", dir.display()),
        upstream: file_name,
        state: st,
    }))
}
