//! What each version changed, logged as it was published, so that a mirror or a bundle some
//! versions behind gets a delta instead of the whole list.

use serde::{Deserialize, Serialize};

use crate::lists::Error;
use crate::store::{Cf, Store, keys};

/// How a version relates to the one it was built on, for serving deltas (the hub, bundles).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeHeader {
    /// The version it was built on.
    pub base: Option<u32>,
    /// Its change log holds every change from `base` (false: no log; only a full copy of the
    /// version can bring a reader to it).
    pub logged: bool,
}

/// Versions whose change logs are kept, so readers that many versions behind still get a
/// delta instead of the whole list.
pub const CHANGE_LOGS_KEPT: u32 = 30;

/// Deletes one version's change log and its header.
pub(super) fn drop_change_log(store: &Store, name: &str, version: u32) -> Result<(), Error> {
    store.delete_prefix(Cf::Entries, keys::change_log(name, version).bytes())?;
    let mut b = store.batch();
    b.delete(store, Cf::Meta, keys::change_header(name, version).bytes())?;
    store.write(b)?;
    Ok(())
}

/// The change header of one version, when its log is kept.
pub fn change_header(
    store: &Store,
    name: &str,
    version: u32,
) -> Result<Option<ChangeHeader>, Error> {
    match store.get(Cf::Meta, keys::change_header(name, version).bytes())? {
        Some(v) => serde_json::from_slice(&v)
            .map(Some)
            .map_err(|e| Error::corrupt(format!("change header of list {name}: {e}"))),
        None => Ok(None),
    }
}

/// The logged changes of one version, as canonical JSON lines in order.
pub fn change_log<'a>(
    store: &'a Store,
    name: &str,
    version: u32,
) -> Result<impl Iterator<Item = Result<Vec<u8>, Error>> + use<'a>, Error> {
    Ok(store
        .scan_prefix(Cf::Entries, keys::change_log(name, version).bytes())?
        .map(|r| r.map(|(_, v)| v.into_vec()).map_err(Error::from)))
}

/// The versions whose logs lead from `from` to `to` (oldest first), or `None` when the chain
/// is broken (a full load, a rollback, or logs pruned): then only a full copy will do.
pub fn change_chain(
    store: &Store,
    name: &str,
    from: u32,
    to: u32,
) -> Result<Option<Vec<u32>>, Error> {
    let mut chain = Vec::new();
    let mut v = to;
    while v != from {
        match change_header(store, name, v)? {
            Some(ChangeHeader {
                base: Some(b),
                logged: true,
            }) if b < v => {
                chain.push(v);
                v = b;
            }
            _ => return Ok(None),
        }
    }
    chain.reverse();
    Ok(Some(chain))
}
