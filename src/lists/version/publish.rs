//! Making a staged version active (one synced batch), pruning old versions, rolling back.

use std::collections::BTreeMap;

use super::changelog::drop_change_log;
use super::{CHANGE_LOGS_KEPT, LastAttempt, Staged, now_secs};
use crate::hashing::HashKind;
use crate::lists::entry::SetDigest;
use crate::lists::{Error, KindMeta, ListMeta, default_radius, drop_version, get};
use crate::store::{Cf, Store, keys};

/// Publishes a staged version: one synced batch makes it the active version, provided the
/// active version is still the one it was built on. Versions older than the new previous one
/// are then deleted.
pub fn publish(store: &Store, staged: Staged) -> Result<ListMeta, Error> {
    publish_with(store, staged, &[])
}

/// [`publish`], writing `extra` (column family, key, value) in the same batch: a sync's
/// checkpoint or validators change exactly when the version does.
pub fn publish_with(
    store: &Store,
    staged: Staged,
    extra: &[(Cf, Vec<u8>, Vec<u8>)],
) -> Result<ListMeta, Error> {
    let name = staged.meta.name.clone();
    let current = match get(store, &name) {
        Ok(m) => Some(m),
        Err(Error::NoSuchList { .. }) => None,
        Err(e) => return Err(e),
    };
    if current.as_ref().map(|m| m.version) != staged.base {
        // Its keys go, unless a version published meanwhile took the same number.
        let in_use = current.as_ref().is_some_and(|c| {
            c.version == staged.meta.version || c.previous == Some(staged.meta.version)
        });
        if !in_use {
            drop_version(store, &name, staged.meta.version)?;
        }
        return Err(Error::Verify {
            name,
            version: staged.meta.version,
            what: "another version was published while it was built".into(),
        });
    }
    let mut meta = staged.meta;
    meta.published_at = now_secs();
    let attempt = LastAttempt {
        at: meta.published_at,
        ok: true,
        version: Some(meta.version),
        error: None,
        rows: staged.rows,
        bad: meta.bad_rows,
        bad_rows: staged.bad_rows,
    };
    let mut flip = store.batch();
    let json = serde_json::to_vec(&meta).map_err(|e| Error::corrupt(e.to_string()))?;
    flip.put(store, Cf::Meta, keys::list_meta(&name).bytes(), &json)?;
    let json = serde_json::to_vec(&attempt).map_err(|e| Error::corrupt(e.to_string()))?;
    flip.put(store, Cf::Meta, keys::last_attempt(&name).bytes(), &json)?;
    for (cf, k, v) in extra {
        flip.put(store, *cf, k, v)?;
    }
    let header = serde_json::to_vec(&staged.change).map_err(|e| Error::corrupt(e.to_string()))?;
    flip.put(
        store,
        Cf::Meta,
        keys::change_header(&name, meta.version).bytes(),
        &header,
    )?;
    store.write(flip)?;
    prune(
        store,
        &name,
        &[meta.version, meta.previous.unwrap_or(meta.version)],
    )?;
    if let Some(old) = meta.version.checked_sub(CHANGE_LOGS_KEPT) {
        store.delete_prefix_range(
            Cf::Entries,
            keys::change_log(&name, 0).bytes(),
            keys::change_log(&name, old + 1).bytes(),
        )?;
        store.delete_prefix_range(
            Cf::Meta,
            keys::change_header(&name, 0).bytes(),
            keys::change_header(&name, old + 1).bytes(),
        )?;
    }
    Ok(meta)
}

/// The version numbers that have keys of list `name` (entries or indexes).
fn versions_present(store: &Store, name: &str) -> Result<Vec<u32>, Error> {
    let mut found = std::collections::BTreeSet::new();
    let spaces = [
        (Cf::Entries, keys::list_entries(name)),
        (Cf::Index, keys::list_index_chunks(name)),
        (Cf::Index, keys::list_index_extras(name)),
    ];
    for (cf, base) in spaces {
        let at = base.bytes().len();
        // One seek per version: the first key at or after `version` names the next one.
        let mut next = 0u32;
        loop {
            let start = base.clone().u32(next);
            let Some(r) = store.scan_from(cf, start.bytes(), base.bytes())?.next() else {
                break;
            };
            let (k, _) = r?;
            let Some(v) = k
                .get(at..at + 4)
                .and_then(|b| b.try_into().ok())
                .map(u32::from_be_bytes)
            else {
                break;
            };
            found.insert(v);
            match v.checked_add(1) {
                Some(n) => next = n,
                None => break,
            }
        }
    }
    Ok(found.into_iter().collect())
}

/// Deletes every version of `name` but `keep`: older versions, and leftovers of attempts that
/// were killed (a kill between publishing and pruning leaves one behind).
fn prune(store: &Store, name: &str, keep: &[u32]) -> Result<(), Error> {
    for v in versions_present(store, name)? {
        if !keep.contains(&v) {
            drop_version(store, name, v)?;
        }
    }
    Ok(())
}

/// Makes the previous version of `name` active again and deletes the one rolled back from.
pub fn rollback(store: &Store, name: &str) -> Result<ListMeta, Error> {
    let current = get(store, name)?;
    let Some(prev) = current.previous else {
        return Err(Error::NoPrevious {
            name: name.to_string(),
        });
    };
    // The previous version's own description: counts and digest are recomputed from its
    // entries, and its kinds from the indexes it has.
    let mut digest = SetDigest::default();
    let mut counts: BTreeMap<HashKind, u64> = BTreeMap::new();
    for r in crate::lists::entries(store, name, prev)? {
        let (_, e) = r?;
        digest.add(&e);
        *counts.entry(e.hash.kind()).or_default() += 1;
    }
    let radius = |kind| {
        current
            .kind(kind)
            .map_or_else(|| default_radius(kind), |k| k.radius)
    };
    let meta = ListMeta {
        kinds: counts
            .iter()
            .map(|(&kind, &entries)| KindMeta {
                kind,
                radius: radius(kind),
                entries,
            })
            .collect(),
        version: prev,
        previous: None,
        entries: counts.values().sum(),
        digest: digest.to_hex(),
        upstream_version: None,
        bad_rows: 0,
        published_at: now_secs(),
        ..current.clone()
    };
    let mut flip = store.batch();
    let json = serde_json::to_vec(&meta).map_err(|e| Error::corrupt(e.to_string()))?;
    flip.put(store, Cf::Meta, keys::list_meta(name).bytes(), &json)?;
    // What the sync remembered describes the version rolled back from: the next sync fetches
    // afresh instead of finding the source "unchanged".
    flip.delete(store, Cf::Meta, keys::sync_state(name).bytes())?;
    // A paged source's checkpoint is past the pages of the version rolled back from: the
    // next sync starts again from the source's first page rather than lose them.
    flip.delete(store, Cf::Meta, keys::paged_checkpoint(name).bytes())?;
    store.write(flip)?;
    prune(store, name, &[prev])?;
    // The version rolled back from is gone, so no reader can be led through it.
    drop_change_log(store, name, current.version)?;
    Ok(meta)
}
