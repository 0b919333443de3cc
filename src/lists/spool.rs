//! Files beside the store for list data in transit: partial downloads (kept across restarts so
//! they resume) and private spool files (uploaded lists, bundles being verified). They live in
//! `DATA/downloads/`, never next to the inputs.

use std::path::{Path, PathBuf};

use super::Error;
use crate::store::Store;

/// The directory for list data in transit, created when missing.
fn downloads(store: &Store) -> std::io::Result<PathBuf> {
    let dir = store.path().join("downloads");
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// Where a list's partial download is kept: beside the store, so it survives a restart.
pub fn download_path(store: &Store, name: &str) -> Result<PathBuf, Error> {
    let dir = downloads(store).map_err(|source| Error::Io {
        what: format!("{}/downloads", store.path().display()),
        source,
    })?;
    Ok(dir.join(format!("{name}.download")))
}

/// A private file beside the store for list data in transit, with a random name so concurrent
/// users never share one; deleted when dropped, however the work ends.
pub struct Spool(PathBuf);

impl Spool {
    /// A new, not yet created, spool path under `DATA/downloads/` named after `stem`.
    pub fn new(store: &Store, stem: &str, ext: &str) -> std::io::Result<Spool> {
        use rand_core::RngCore;
        let dir = downloads(store)?;
        let tag = rand_core::OsRng.next_u64();
        Ok(Spool(dir.join(format!("{stem}.{tag:016x}.{ext}"))))
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
