//! Hash lists: metadata, versions and entries in the store (loading them for matching is
//! [`crate::matcher`]'s).
//!
//! A list holds entries of one or more hash kinds (an NCMEC record carries an MD5, a SHA-1 and a
//! PDQ under one id), each kind with its own match radius. Every change (a full load or a delta
//! of additions and removals on the active version) is written as a complete new version under
//! version-numbered keys, verified by reading it back, and only then published by flipping the
//! list's metadata record in one synced batch ([`version`]). Readers see the old list or the
//! new one, never a mix; a crash or kill before the flip leaves the old version active, and the
//! partial keys are cleared by the next attempt. The previous version is kept for rollback;
//! older ones are pruned.

pub mod delta;
pub mod entry;
pub mod format;
pub mod source;
pub mod spool;
pub mod sync;
pub mod version;
pub mod video;

use serde::{Deserialize, Serialize};

use crate::hashing::HashKind;
use crate::index::EntryId;
use crate::store::{self, Cf, Store, keys};
pub use entry::{Provenance, SetDigest, StoredEntry};
pub use format::{BadRow, ListFormat, ListRow, Op};
pub use source::{ListSource, Source};
pub use version::{
    Builder, Expect, ImportOptions, LastAttempt, Mode, Settings, Staged, import, import_rows,
    last_attempt, publish, rollback,
};

/// Why a list operation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] store::Error),
    /// The input could not be read.
    #[error("reading the list failed at line {line}: {message}")]
    Read {
        /// 1-based line.
        line: u64,
        /// The I/O error.
        message: String,
    },
    /// Too many rows were malformed to publish the list.
    #[error(
        "{bad} of {total} rows are malformed (limit {limit_pct}%): list not published; first: line {first_line}: {first_reason}"
    )]
    TooManyBadRows {
        /// Malformed rows.
        bad: u64,
        /// All rows.
        total: u64,
        /// The configured limit.
        limit_pct: f64,
        /// Line of the first malformed row.
        first_line: u64,
        /// Why it was malformed.
        first_reason: String,
    },
    /// A full load with no entries at all, refused (a broken feed, not an empty list).
    #[error(
        "the full load of {name:?} holds no entries: refused, the active version keeps serving (an administrator can force it with --allow-shrink)"
    )]
    EmptyLoad {
        /// The list.
        name: String,
    },
    /// A full load that would shrink the list by more than the limit, refused.
    #[error(
        "the full load of {name:?} has {after} entries where the active version has {before}: more than {limit_pct}% fewer, refused; the active version keeps serving (an administrator can force it with --allow-shrink)"
    )]
    Shrinks {
        /// The list.
        name: String,
        /// Entries of the active version.
        before: u64,
        /// Entries of the refused load.
        after: u64,
        /// The configured limit.
        limit_pct: f64,
    },
    /// No list by that name.
    #[error("no list named {name:?}")]
    NoSuchList {
        /// The name asked for.
        name: String,
    },
    /// The list name is unusable.
    #[error("invalid list name {name:?}: use 1-64 letters, digits, '-', '_' or '.'")]
    BadName {
        /// The name given.
        name: String,
    },
    /// A staged version is not what it should be; nothing was published.
    #[error("list {name}: staged version {version} failed verification: {what}; not published")]
    Verify {
        /// The list.
        name: String,
        /// The staged version.
        version: u32,
        /// What differed.
        what: String,
    },
    /// There is no previous version to go back to.
    #[error("list {name} has no previous version to roll back to")]
    NoPrevious {
        /// The list.
        name: String,
    },
    /// A list format name that does not exist.
    #[error(
        "unknown list format {name:?} (plain, jsonl, te-csv, vpdq, ncmec-xml, stopncii, vics, icse)"
    )]
    UnknownFormat {
        /// The name given.
        name: String,
    },
    /// A `[lists.NAME]` source is configured wrongly (the administrator must fix it).
    #[error("lists.{list}: {problem}")]
    Config {
        /// The list.
        list: String,
        /// What is wrong.
        problem: String,
    },
    /// A list was named for a sync that has no `[lists.NAME]` source.
    #[error("no [lists.{name}] in the configuration")]
    NotConfigured {
        /// The list.
        name: String,
    },
    /// A source file or directory cannot be read.
    #[error("{}: {source}", .path.display())]
    SourceFile {
        /// The file or directory.
        path: std::path::PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A drop directory holds no list file.
    #[error("{}: no list file to import", .dir.display())]
    NoDrop {
        /// The directory.
        dir: std::path::PathBuf,
    },
    /// The source could not be fetched (HTTP, a paged API or a hub); nothing was published.
    #[error("sync failed: {message}")]
    Fetch {
        /// What failed, with the source's URL (without credentials).
        message: String,
    },
    /// The source sent something unusable (a malformed page, a delta that does not apply, a
    /// bundle that does not verify); nothing was published.
    #[error("{what}: {why}")]
    BadInput {
        /// What was read.
        what: String,
        /// What is wrong with it.
        why: String,
    },
    /// Local I/O failed (a download, a bundle or a delta being written).
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A stored record does not decode.
    #[error("corrupt stored list data: {what}")]
    Corrupt {
        /// Which record.
        what: String,
    },
}

impl Error {
    /// Stored data that does not decode.
    pub(crate) fn corrupt(what: impl Into<String>) -> Self {
        Error::Corrupt { what: what.into() }
    }

    /// A configuration problem of list `list`.
    pub(crate) fn config(list: &str, problem: impl Into<String>) -> Self {
        Error::Config {
            list: list.to_string(),
            problem: problem.into(),
        }
    }

    /// Unusable input.
    pub(crate) fn bad_input(what: impl Into<String>, why: impl Into<String>) -> Self {
        Error::BadInput {
            what: what.into(),
            why: why.into(),
        }
    }

    /// True when something went wrong inside (the store, stored data, local I/O, a version
    /// that fails its own check) rather than in the configuration, the input or the source:
    /// what front ends log and do not show their callers in detail.
    pub fn is_internal(&self) -> bool {
        matches!(
            self,
            Error::Store(_) | Error::Corrupt { .. } | Error::Io { .. } | Error::Verify { .. }
        )
    }
}

/// One hash kind of a list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KindMeta {
    /// The kind.
    pub kind: HashKind,
    /// Match radius (0 for exact digests).
    pub radius: u32,
    /// Entries of this kind in the active version.
    pub entries: u64,
}

/// A list's metadata record: its settings and the active version's description.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ListMeta {
    /// Unique name.
    pub name: String,
    /// The hash kinds of its entries, in [`HashKind::ALL`] order.
    pub kinds: Vec<KindMeta>,
    /// Category its matches are reported under when an entry has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// The investigating unit its matches are routed to (the server's default when `None`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// Where the list comes from (a file, URL, paged API or hub), as configured.
    #[serde(default)]
    pub source: String,
    /// Active version.
    pub version: u32,
    /// The version before it, kept for rollback.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<u32>,
    /// The highest version number ever staged: numbers are never reused.
    pub latest: u32,
    /// Entries in the active version.
    pub entries: u64,
    /// Order-independent digest of the active version's entries ([`SetDigest`]).
    pub digest: String,
    /// The source's own version label of the active version (an ETag, a cursor, a hub version).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream_version: Option<String>,
    /// Malformed rows skipped when the active version was built.
    pub bad_rows: u64,
    /// When the active version was published (seconds since the Unix epoch).
    pub published_at: u64,
    /// How its videos are matched, when it holds videos (kind `vpdq`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub video: Option<video::VideoSettings>,
}

impl ListMeta {
    /// The settings of one of its kinds.
    pub fn kind(&self, kind: HashKind) -> Option<&KindMeta> {
        self.kinds.iter().find(|k| k.kind == kind)
    }

    /// The kinds' names, joined with '+' ("md5+sha1+pdq").
    pub fn kind_names(&self) -> String {
        let names: Vec<&str> = self.kinds.iter().map(|k| k.kind.name()).collect();
        names.join("+")
    }
}

/// Default match radius per kind.
pub fn default_radius(kind: HashKind) -> u32 {
    match kind {
        HashKind::Pdq | HashKind::Vpdq => 31,
        HashKind::Phash | HashKind::Dhash => 10,
        _ => 0,
    }
}

/// The largest match radius a list may have for `kind`. Past it a radius matches unrelated
/// media and floods the reports: PDQ 64 (unrelated images lie 86 bits or more apart, and Meta
/// recommends 31), 64-bit hashes 16 (of 64), digests 0 (exact only).
pub fn max_radius(kind: HashKind) -> u32 {
    match kind {
        HashKind::Pdq | HashKind::Vpdq => 64,
        HashKind::Phash | HashKind::Dhash => 16,
        _ => 0,
    }
}

/// Checks radii against [`max_radius`]; the error names the first one past it.
pub fn check_radii<'a>(radii: impl IntoIterator<Item = &'a (HashKind, u32)>) -> Result<(), String> {
    for (kind, r) in radii {
        if *r > max_radius(*kind) {
            return Err(format!(
                "a {kind} radius of {r} is past the bound of {} (it would match unrelated media)",
                max_radius(*kind)
            ));
        }
    }
    Ok(())
}

/// Checks a list name: 1-64 letters, digits, '-', '_' or '.'.
pub fn check_name(name: &str) -> Result<(), Error> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
    if ok {
        Ok(())
    } else {
        Err(Error::BadName {
            name: name.to_string(),
        })
    }
}

/// Deletes every key of one version of a list (entries and indexes of every kind).
pub(crate) fn drop_version(store: &Store, name: &str, version: u32) -> Result<(), Error> {
    store.delete_prefix(Cf::Entries, keys::entries(name, version).bytes())?;
    store.delete_prefix(Cf::Index, keys::index_chunks(name, version).bytes())?;
    store.delete_prefix(Cf::Index, keys::index_extras(name, version).bytes())?;
    Ok(())
}

/// Every list's metadata, by name.
pub fn all(store: &Store) -> Result<Vec<ListMeta>, Error> {
    store
        .scan_prefix(Cf::Meta, keys::list_metas().bytes())?
        .map(|r| {
            let (_, v) = r?;
            serde_json::from_slice(&v).map_err(|e| Error::corrupt(format!("list metadata: {e}")))
        })
        .collect()
}

/// One list's metadata.
pub fn get(store: &Store, name: &str) -> Result<ListMeta, Error> {
    let v = store
        .get(Cf::Meta, keys::list_meta(name).bytes())?
        .ok_or_else(|| Error::NoSuchList {
            name: name.to_string(),
        })?;
    serde_json::from_slice(&v).map_err(|e| Error::corrupt(format!("list metadata: {e}")))
}

/// The stored entry `entry` of a list's active version.
pub fn entry(store: &Store, meta: &ListMeta, entry: EntryId) -> Result<StoredEntry, Error> {
    entry_of_version(store, &meta.name, meta.version, entry)
}

/// The stored entry `entry` of one version of a list.
pub fn entry_of_version(
    store: &Store,
    name: &str,
    version: u32,
    entry: EntryId,
) -> Result<StoredEntry, Error> {
    let v = store
        .get(Cf::Entries, keys::entries(name, version).u32(entry).bytes())?
        .ok_or_else(|| {
            Error::corrupt(format!(
                "list {name} version {version} has no entry {entry}"
            ))
        })?;
    entry::decode(&v).ok_or_else(|| Error::corrupt(format!("entry {entry} of list {name}")))
}

/// Every entry of one version, in entry order, with its entry id.
pub fn entries<'a>(
    store: &'a Store,
    name: &str,
    version: u32,
) -> Result<impl Iterator<Item = Result<(EntryId, StoredEntry), Error>> + use<'a>, Error> {
    let prefix = keys::entries(name, version);
    let at = prefix.bytes().len();
    let name = name.to_string();
    Ok(store
        .scan_prefix(Cf::Entries, prefix.bytes())?
        .map(move |r| {
            let (k, v) = r?;
            let id = k
                .get(at..at + 4)
                .and_then(|b| b.try_into().ok())
                .map(u32::from_be_bytes);
            match (id, entry::decode(&v)) {
                (Some(id), Some(e)) => Ok((id, e)),
                _ => Err(Error::corrupt(format!("an entry of list {name}"))),
            }
        }))
}

#[cfg(test)]
mod tests;
