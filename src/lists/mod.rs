//! Hash lists: metadata, versions, entries, and loading a list's indexes from the store.
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
pub mod sync;
pub mod version;

use serde::{Deserialize, Serialize};

use crate::hashing::{AnyHash, HashKind, PdqHash};
use crate::index::{Bits256, EntryId, ExactIndex, HammingIndex, HashBits, Match};
use crate::store::{self, Cf, Key, Store};
pub use entry::{Provenance, SetDigest, StoredEntry};
pub use format::{BadRow, ListFormat, ListRow, Op};
pub use version::{
    Builder, Expect, ImportOptions, LastAttempt, Mode, Settings, Staged, import, last_attempt,
    publish, rollback,
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
    /// A delta needs a version to apply to.
    #[error("list {name}: a delta needs an active version to apply to, and there is none")]
    NoBase {
        /// The list.
        name: String,
    },
    /// There is no previous version to go back to.
    #[error("list {name} has no previous version to roll back to")]
    NoPrevious {
        /// The list.
        name: String,
    },
    /// The source could not be fetched or read; nothing was published.
    #[error("sync failed: {0}")]
    Sync(String),
    /// A stored record does not decode.
    #[error("corrupt stored list data: {0}")]
    Corrupt(String),
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

/// Default match radius per kind (design §2).
pub fn default_radius(kind: HashKind) -> u32 {
    match kind {
        HashKind::Pdq => 31,
        HashKind::Phash | HashKind::Dhash => 10,
        _ => 0,
    }
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

// Key layout. Meta: 'L' name → ListMeta; 'S' name → SyncStatus. Entries: 'E' name version
// entry. Index: 'N' name version kind chunk, 'X' name version kind node (extra entries).
pub(crate) fn meta_key(name: &str) -> Key {
    Key::new(b'L').str(name)
}
pub(crate) fn entries_prefix(name: &str, version: u32) -> Key {
    Key::new(b'E').str(name).u32(version)
}
pub(crate) fn chunk_prefix(name: &str, version: u32, kind: HashKind) -> Key {
    Key::new(b'N').str(name).u32(version).u8(kind_tag(kind))
}
pub(crate) fn extras_prefix(name: &str, version: u32, kind: HashKind) -> Key {
    Key::new(b'X').str(name).u32(version).u8(kind_tag(kind))
}
fn kind_tag(kind: HashKind) -> u8 {
    HashKind::ALL.iter().position(|k| *k == kind).unwrap_or(0) as u8
}

/// Deletes every key of one version of a list (entries and indexes of every kind).
pub(crate) fn drop_version(store: &Store, name: &str, version: u32) -> Result<(), Error> {
    store.delete_prefix(Cf::Entries, entries_prefix(name, version).bytes())?;
    store.delete_prefix(Cf::Index, Key::new(b'N').str(name).u32(version).bytes())?;
    store.delete_prefix(Cf::Index, Key::new(b'X').str(name).u32(version).bytes())?;
    Ok(())
}

/// Every list's metadata, by name.
pub fn all(store: &Store) -> Result<Vec<ListMeta>, Error> {
    store
        .scan_prefix(Cf::Meta, Key::new(b'L').bytes())?
        .map(|r| {
            let (_, v) = r?;
            serde_json::from_slice(&v).map_err(|e| Error::Corrupt(format!("list metadata: {e}")))
        })
        .collect()
}

/// One list's metadata.
pub fn get(store: &Store, name: &str) -> Result<ListMeta, Error> {
    let v = store
        .get(Cf::Meta, meta_key(name).bytes())?
        .ok_or_else(|| Error::NoSuchList {
            name: name.to_string(),
        })?;
    serde_json::from_slice(&v).map_err(|e| Error::Corrupt(format!("list metadata: {e}")))
}

/// The in-memory index of one list.
pub enum ListIndex {
    /// PDQ, by Hamming distance.
    Pdq(HammingIndex<Bits256>),
    /// pHash or dHash, by Hamming distance.
    Hash64(HammingIndex<u64>),
    /// Digests, exact.
    Exact(ExactIndex<Vec<u8>>),
}

impl ListIndex {
    /// Entries within `radius` of `hash` (exactly equal for digests); empty for another kind.
    pub fn query(&self, hash: &AnyHash, radius: u32) -> Vec<Match> {
        match (self, hash) {
            (ListIndex::Pdq(i), AnyHash::Pdq(h)) => i.query(&h.words(), radius),
            (ListIndex::Hash64(i), AnyHash::Phash(h)) => i.query(&h.0, radius),
            (ListIndex::Hash64(i), AnyHash::Dhash(h)) => i.query(&h.0, radius),
            (ListIndex::Exact(i), h) if !h.kind().is_perceptual() => i
                .get(&entry::hash_bytes(h))
                .iter()
                .map(|&entry| Match { entry, distance: 0 })
                .collect(),
            _ => Vec::new(),
        }
    }

    /// Entries within `radius` of any of a PDQ hash's 8 dihedral variants, each once with its
    /// smallest distance and the variant's index; empty for lists of other kinds.
    pub fn query_pdq_variants(&self, variants: &[PdqHash; 8], radius: u32) -> Vec<(Match, usize)> {
        match self {
            ListIndex::Pdq(i) => {
                let words: Vec<Bits256> = variants.iter().map(PdqHash::words).collect();
                i.query_variants(&words, radius)
            }
            _ => Vec::new(),
        }
    }

    /// Entries that can match.
    pub fn len(&self) -> usize {
        match self {
            ListIndex::Pdq(i) => i.len(),
            ListIndex::Hash64(i) => i.len(),
            ListIndex::Exact(i) => i.len(),
        }
    }

    /// True when nothing can match.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One kind's index within a loaded list.
pub struct KindIndex {
    /// The kind and its radius.
    pub meta: KindMeta,
    /// Its index.
    pub index: ListIndex,
}

/// A list loaded for matching: one index per hash kind.
pub struct LoadedList {
    /// Its metadata.
    pub meta: ListMeta,
    /// An index per kind, in the order of `meta.kinds`.
    pub indexes: Vec<KindIndex>,
}

impl LoadedList {
    /// Entries within the kind's radius of `hash` (equal for digests); empty for a kind the
    /// list does not have.
    pub fn query(&self, hash: &AnyHash) -> Vec<Match> {
        self.query_radius(hash, None)
    }

    /// [`LoadedList::query`] with the radius overridden.
    pub fn query_radius(&self, hash: &AnyHash, radius: Option<u32>) -> Vec<Match> {
        match self.indexes.iter().find(|k| k.meta.kind == hash.kind()) {
            Some(k) => k.index.query(hash, radius.unwrap_or(k.meta.radius)),
            None => Vec::new(),
        }
    }

    /// PDQ entries within radius of any of a hash's 8 dihedral variants (see
    /// [`ListIndex::query_pdq_variants`]).
    pub fn query_pdq_variants(&self, variants: &[PdqHash; 8]) -> Vec<(Match, usize)> {
        match self.indexes.iter().find(|k| k.meta.kind == HashKind::Pdq) {
            Some(k) => k.index.query_pdq_variants(variants, k.meta.radius),
            None => Vec::new(),
        }
    }

    /// True when the list has entries of `kind`.
    pub fn has_kind(&self, kind: HashKind) -> bool {
        self.indexes.iter().any(|k| k.meta.kind == kind)
    }

    /// Entries that can match, over every kind.
    pub fn len(&self) -> usize {
        self.indexes.iter().map(|k| k.index.len()).sum()
    }

    /// True when nothing can match.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Loads a list's active version for matching: the persisted BK-trees for perceptual kinds
/// (then their multi-index tables), the entries for exact kinds.
pub fn load(store: &Store, meta: &ListMeta) -> Result<LoadedList, Error> {
    fn persisted<H: HashBits>(
        store: &Store,
        meta: &ListMeta,
        kind: &KindMeta,
    ) -> Result<HammingIndex<H>, Error> {
        // Extra-entry lists are few: read them first. Chunks then stream from the store into the
        // index; a read error stops the stream and is returned after it.
        let extras_prefix = extras_prefix(&meta.name, meta.version, kind.kind);
        let prefix_len = extras_prefix.bytes().len();
        let extras = store
            .scan_prefix(Cf::Index, extras_prefix.bytes())?
            .map(|r| {
                r.map(|(k, v)| {
                    let node = k
                        .get(prefix_len..prefix_len + 4)
                        .and_then(|b| b.try_into().ok())
                        .map_or(u32::MAX, u32::from_be_bytes);
                    (node, v.into_vec())
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut read_error = None;
        let chunks = store
            .scan_prefix(
                Cf::Index,
                chunk_prefix(&meta.name, meta.version, kind.kind).bytes(),
            )?
            .map_while(|r| match r {
                Ok((_, v)) => Some(v.into_vec()),
                Err(e) => {
                    read_error = Some(e);
                    None
                }
            });
        let idx = HammingIndex::from_persisted(chunks, extras)
            .map_err(|e| Error::Corrupt(format!("list {}: {e}", meta.name)))?;
        if let Some(e) = read_error {
            return Err(e.into());
        }
        if idx.nodes() as u64 > kind.entries {
            return Err(Error::Corrupt(format!(
                "list {} has more {} index nodes than entries",
                meta.name, kind.kind
            )));
        }
        Ok(idx)
    }
    let mut indexes = Vec::with_capacity(meta.kinds.len());
    let mut exact: Vec<(HashKind, ExactIndex<Vec<u8>>)> = Vec::new();
    for k in &meta.kinds {
        let index = match k.kind {
            HashKind::Pdq => ListIndex::Pdq(persisted(store, meta, k)?),
            HashKind::Phash | HashKind::Dhash => ListIndex::Hash64(persisted(store, meta, k)?),
            // Filled from the entries below, in one pass for every exact kind.
            _ => {
                exact.push((k.kind, ExactIndex::new()));
                continue;
            }
        };
        indexes.push(KindIndex {
            meta: k.clone(),
            index,
        });
    }
    if !exact.is_empty() {
        let prefix = entries_prefix(&meta.name, meta.version);
        let at = prefix.bytes().len();
        for r in store.scan_prefix(Cf::Entries, prefix.bytes())? {
            let (k, v) = r?;
            // The entry id is the key's last part, not the position in the scan.
            let id = k
                .get(at..at + 4)
                .and_then(|b| b.try_into().ok())
                .map(u32::from_be_bytes);
            let (Some(id), Some(e)) = (id, entry::decode(&v)) else {
                return Err(Error::Corrupt(format!("an entry of list {}", meta.name)));
            };
            if let Some((_, idx)) = exact.iter_mut().find(|(kind, _)| *kind == e.hash.kind()) {
                idx.insert(e.hash_bytes(), id);
            }
        }
    }
    for (kind, index) in exact {
        if let Some(k) = meta.kind(kind) {
            indexes.push(KindIndex {
                meta: k.clone(),
                index: ListIndex::Exact(index),
            });
        }
    }
    indexes.sort_by_key(|k| kind_tag(k.meta.kind));
    Ok(LoadedList {
        meta: meta.clone(),
        indexes,
    })
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
        .get(
            Cf::Entries,
            entries_prefix(name, version).u32(entry).bytes(),
        )?
        .ok_or_else(|| {
            Error::Corrupt(format!(
                "list {name} version {version} has no entry {entry}"
            ))
        })?;
    entry::decode(&v).ok_or_else(|| Error::Corrupt(format!("entry {entry} of list {name}")))
}

/// Every entry of one version, in entry order, with its entry id.
pub fn entries<'a>(
    store: &'a Store,
    name: &str,
    version: u32,
) -> Result<impl Iterator<Item = Result<(EntryId, StoredEntry), Error>> + use<'a>, Error> {
    let prefix = entries_prefix(name, version);
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
                _ => Err(Error::Corrupt(format!("an entry of list {name}"))),
            }
        }))
}

#[cfg(test)]
mod tests;
