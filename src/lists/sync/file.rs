//! `file:PATH` sources: the file is the list (or the delta), published again when its size or
//! modification time changes.

use std::path::Path;

use super::{FetchedFile, FileStamp, state};
use crate::lists::{Error, get};
use crate::store::Store;

/// The file when it changed since the last publication; `None` when it did not.
pub(super) fn fetch(store: &Store, name: &str, path: &Path) -> Result<Option<FetchedFile>, Error> {
    let mut st = state(store, name)?;
    let seen = FileStamp::of(path)?;
    if st.file.as_ref() == Some(&seen) && get(store, name).is_ok() {
        return Ok(None);
    }
    st.file = Some(seen);
    Ok(Some(FetchedFile {
        path: path.to_path_buf(),
        described: format!("file:{}", path.display()),
        upstream: None,
        state: st,
    }))
}
