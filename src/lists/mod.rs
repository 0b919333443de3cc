//! Hash lists: metadata, entries, import, and loading a list's index from the store.
//!
//! Every import writes a complete new version of the list (entries and persisted index) under
//! version-numbered keys, and only then flips the list's metadata record, in one synced batch,
//! to name the new version. Readers see the old list or the new one, never a mix; a crash or
//! kill before the flip leaves the old version active, and the partial keys are cleared by the
//! next import.

pub mod format;

use std::io::BufRead;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::hashing::{AnyHash, HashKind, PdqHash};
use crate::index::{Bits256, EntryId, ExactIndex, HammingIndex, HashBits, Match};
use crate::store::{self, Cf, Key, Store};
pub use format::{BadRow, ListFormat, ListRow, Op};

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
    /// A stored record does not decode.
    #[error("corrupt stored list data: {0}")]
    Corrupt(String),
}

/// A list's metadata record (the active version's description).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ListMeta {
    /// Unique name.
    pub name: String,
    /// The hash kind of its entries.
    pub kind: HashKind,
    /// Match radius (0 for exact digests).
    pub radius: u32,
    /// Category its matches are reported under, when the list has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// Active version (increases with every import).
    pub version: u32,
    /// Entries in the active version.
    pub entries: u64,
    /// Malformed rows skipped when it was imported.
    pub bad_rows: u64,
    /// When the active version was published (seconds since the Unix epoch).
    pub published_at: u64,
}

/// How to import a list.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// Input format.
    pub format: ListFormat,
    /// Hash kind, for formats that do not say it (plain hex lines).
    pub kind: Option<HashKind>,
    /// Match radius; the kind's default when `None`.
    pub radius: Option<u32>,
    /// Category for matches.
    pub category: Option<String>,
    /// Largest share of malformed rows (percent) that still publishes the list.
    pub max_bad_pct: f64,
}

/// What an import did.
#[derive(Debug, Clone)]
pub struct ImportReport {
    /// The published list.
    pub meta: ListMeta,
    /// The first malformed rows (up to 100), with line numbers.
    pub bad_rows: Vec<BadRow>,
}

/// Default match radius per kind (design §2).
pub fn default_radius(kind: HashKind) -> u32 {
    match kind {
        HashKind::Pdq => 31,
        HashKind::Phash | HashKind::Dhash => 10,
        _ => 0,
    }
}

fn check_name(name: &str) -> Result<(), Error> {
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

// Key layout. Meta: 'L' name. Entries: 'E' name version entry. Index: 'N' name version chunk,
// 'X' name version node (extra entries).
fn meta_key(name: &str) -> Key {
    Key::new(b'L').str(name)
}
fn entries_prefix(name: &str, version: u32) -> Key {
    Key::new(b'E').str(name).u32(version)
}
fn chunk_prefix(name: &str, version: u32) -> Key {
    Key::new(b'N').str(name).u32(version)
}
fn extras_prefix(name: &str, version: u32) -> Key {
    Key::new(b'X').str(name).u32(version)
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

/// Stored form of an entry: external id, category, hash bytes.
fn encode_entry(id: &str, category: Option<&str>, hash: &AnyHash) -> Vec<u8> {
    let mut out = Vec::with_capacity(id.len() + 40);
    out.extend_from_slice(&(id.len() as u16).to_be_bytes());
    out.extend_from_slice(id.as_bytes());
    let cat = category.unwrap_or("");
    out.extend_from_slice(&(cat.len() as u16).to_be_bytes());
    out.extend_from_slice(cat.as_bytes());
    out.extend_from_slice(&hash_bytes(hash));
    out
}

/// A stored entry, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEntry {
    /// The list's own id for the entry.
    pub id: String,
    /// Entry category, if any.
    pub category: Option<String>,
    /// Hash bytes.
    pub hash: Vec<u8>,
}

fn decode_entry(b: &[u8]) -> Option<StoredEntry> {
    let take = |b: &[u8], at: usize| -> Option<(String, usize)> {
        let len = u16::from_be_bytes(b.get(at..at + 2)?.try_into().ok()?) as usize;
        let s = std::str::from_utf8(b.get(at + 2..at + 2 + len)?)
            .ok()?
            .to_string();
        Some((s, at + 2 + len))
    };
    let (id, at) = take(b, 0)?;
    let (cat, at) = take(b, at)?;
    Some(StoredEntry {
        id,
        category: (!cat.is_empty()).then_some(cat),
        hash: b[at..].to_vec(),
    })
}

fn hash_bytes(h: &AnyHash) -> Vec<u8> {
    match h {
        AnyHash::Pdq(p) => p.0.to_vec(),
        AnyHash::Phash(p) => p.0.to_be_bytes().to_vec(),
        AnyHash::Dhash(d) => d.0.to_be_bytes().to_vec(),
        AnyHash::Md5(d) => d.0.to_vec(),
        AnyHash::Sha1(d) => d.0.to_vec(),
        AnyHash::Sha256(d) => d.0.to_vec(),
    }
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

/// Hashes collected during an import; perceptual ones are indexed in one bulk build at the end.
enum Pending {
    Pdq(Vec<(Bits256, EntryId)>),
    Hash64(Vec<(u64, EntryId)>),
    Exact(ExactIndex<Vec<u8>>),
}

impl Pending {
    fn new(kind: HashKind) -> Self {
        match kind {
            HashKind::Pdq => Pending::Pdq(Vec::new()),
            HashKind::Phash | HashKind::Dhash => Pending::Hash64(Vec::new()),
            _ => Pending::Exact(ExactIndex::new()),
        }
    }

    fn push(&mut self, hash: &AnyHash, entry: EntryId) {
        match (self, hash) {
            (Pending::Pdq(v), AnyHash::Pdq(h)) => v.push((h.words(), entry)),
            (Pending::Hash64(v), AnyHash::Phash(h)) => v.push((h.0, entry)),
            (Pending::Hash64(v), AnyHash::Dhash(h)) => v.push((h.0, entry)),
            (Pending::Exact(i), h) => i.insert(hash_bytes(h), entry),
            // The caller checks that the row's kind is the list's.
            _ => {}
        }
    }

    /// The list's index. Degenerate hashes were refused by the parser, so none is skipped here.
    fn finish(self) -> ListIndex {
        match self {
            Pending::Pdq(v) => ListIndex::Pdq(HammingIndex::build(v).0),
            Pending::Hash64(v) => ListIndex::Hash64(HammingIndex::build(v).0),
            Pending::Exact(i) => ListIndex::Exact(i),
        }
    }
}

impl ListIndex {
    /// Entries within `radius` of `hash` (exactly equal for digests); empty for another kind.
    pub fn query(&self, hash: &AnyHash, radius: u32) -> Vec<Match> {
        match (self, hash) {
            (ListIndex::Pdq(i), AnyHash::Pdq(h)) => i.query(&h.words(), radius),
            (ListIndex::Hash64(i), AnyHash::Phash(h)) => i.query(&h.0, radius),
            (ListIndex::Hash64(i), AnyHash::Dhash(h)) => i.query(&h.0, radius),
            (ListIndex::Exact(i), h) if !h.kind().is_perceptual() => i
                .get(&hash_bytes(h))
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

/// A list loaded for matching.
pub struct LoadedList {
    /// Its metadata.
    pub meta: ListMeta,
    /// Its index.
    pub index: ListIndex,
}

/// Bytes of writes collected before a batch is flushed during a bulk load.
const BATCH_BYTES: usize = 16 << 20;

/// Imports `input` as a new version of list `name` and publishes it, replacing the previous
/// version atomically. Malformed rows are counted and reported with their line numbers; more
/// than `max_bad_pct` percent of them refuses the import and leaves the old version active.
pub fn import(
    store: &Store,
    name: &str,
    input: impl BufRead,
    opts: &ImportOptions,
) -> Result<ImportReport, Error> {
    check_name(name)?;
    let previous = match get(store, name) {
        Ok(m) => Some(m),
        Err(Error::NoSuchList { .. }) => None,
        Err(e) => return Err(e),
    };
    let version = previous.as_ref().map_or(1, |m| m.version + 1);
    // Leftovers of an import that died before publishing this version number.
    drop_version(store, name, version)?;

    let mut kind = opts.kind;
    let mut pending: Option<Pending> = kind.map(Pending::new);
    let mut batch = store.batch();
    let (mut entries, mut total, mut bad) = (0u32, 0u64, 0u64);
    let mut bad_rows = Vec::new();
    let read_opts = format::ReadOptions { kind: opts.kind };
    for row in format::read(opts.format, input, &read_opts) {
        let row = match row {
            Ok(r) => r,
            Err(format::RowError::Io { line, message }) => {
                return Err(Error::Read { line, message });
            }
            Err(format::RowError::Bad(b)) => {
                total += 1;
                bad += 1;
                if bad_rows.len() < 100 {
                    bad_rows.push(b);
                }
                continue;
            }
        };
        total += 1;
        let hash = match (row.op, &row.hash) {
            (Op::Add, Some(h)) => *h,
            _ => {
                bad += 1;
                if bad_rows.len() < 100 {
                    bad_rows.push(BadRow {
                        line: row.line,
                        reason: "a removal in a full import".into(),
                    });
                }
                continue;
            }
        };
        let row_kind = hash.kind();
        let k = *kind.get_or_insert(row_kind);
        if row_kind != k {
            bad += 1;
            if bad_rows.len() < 100 {
                bad_rows.push(BadRow {
                    line: row.line,
                    reason: format!("{row_kind} hash in a {k} list"),
                });
            }
            continue;
        }
        pending
            .get_or_insert_with(|| Pending::new(k))
            .push(&hash, entries);
        batch.put(
            store,
            Cf::Entries,
            entries_prefix(name, version).u32(entries).bytes(),
            &encode_entry(&row.id, row.category.as_deref(), &hash),
        )?;
        entries += 1;
        if batch.size_in_bytes() > BATCH_BYTES {
            store.write(std::mem::replace(&mut batch, store.batch()))?;
        }
    }
    if total > 0 && (bad as f64) * 100.0 > opts.max_bad_pct * total as f64 {
        let first = bad_rows.first().cloned().unwrap_or(BadRow {
            line: 0,
            reason: String::new(),
        });
        drop_version(store, name, version)?;
        return Err(Error::TooManyBadRows {
            bad,
            total,
            limit_pct: opts.max_bad_pct,
            first_line: first.line,
            first_reason: first.reason,
        });
    }
    let kind = kind.unwrap_or(HashKind::Pdq);
    let mut index = pending.unwrap_or_else(|| Pending::new(kind)).finish();
    persist_index(store, name, version, &mut index, &mut batch)?;
    store.write(batch)?;

    // Publish: one synced batch flips the active version.
    let meta = ListMeta {
        name: name.to_string(),
        kind,
        radius: opts.radius.unwrap_or_else(|| default_radius(kind)),
        category: opts.category.clone(),
        version,
        entries: u64::from(entries),
        bad_rows: bad,
        published_at: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
    };
    let mut flip = store.batch();
    let json = serde_json::to_vec(&meta).map_err(|e| Error::Corrupt(e.to_string()))?;
    flip.put(store, Cf::Meta, meta_key(name).bytes(), &json)?;
    store.write(flip)?;
    if let Some(prev) = previous {
        drop_version(store, name, prev.version)?;
    }
    Ok(ImportReport { meta, bad_rows })
}

fn drop_version(store: &Store, name: &str, version: u32) -> Result<(), Error> {
    store.delete_prefix(Cf::Entries, entries_prefix(name, version).bytes())?;
    store.delete_prefix(Cf::Index, chunk_prefix(name, version).bytes())?;
    store.delete_prefix(Cf::Index, extras_prefix(name, version).bytes())?;
    Ok(())
}

fn persist_index(
    store: &Store,
    name: &str,
    version: u32,
    index: &mut ListIndex,
    batch: &mut store::Batch,
) -> Result<(), Error> {
    fn write<H: HashBits>(
        store: &Store,
        name: &str,
        version: u32,
        idx: &mut HammingIndex<H>,
        batch: &mut store::Batch,
    ) -> Result<(), Error> {
        let (chunks, extras) = idx.take_dirty();
        for c in chunks {
            batch.put(
                store,
                Cf::Index,
                chunk_prefix(name, version).u32(c).bytes(),
                &idx.encode_chunk(c),
            )?;
            if batch.size_in_bytes() > BATCH_BYTES {
                store.write(std::mem::replace(batch, store.batch()))?;
            }
        }
        for node in extras {
            let key = extras_prefix(name, version).u32(node);
            let bytes = idx.encode_extras(node);
            if bytes.is_empty() {
                batch.delete(store, Cf::Index, key.bytes())?;
            } else {
                batch.put(store, Cf::Index, key.bytes(), &bytes)?;
            }
        }
        Ok(())
    }
    match index {
        ListIndex::Pdq(i) => write(store, name, version, i, batch),
        ListIndex::Hash64(i) => write(store, name, version, i, batch),
        ListIndex::Exact(_) => Ok(()),
    }
}

/// Loads a list's active version for matching: the persisted BK-tree for perceptual kinds
/// (then its multi-index tables), the entries for exact kinds.
pub fn load(store: &Store, meta: &ListMeta) -> Result<LoadedList, Error> {
    fn persisted<H: HashBits>(store: &Store, meta: &ListMeta) -> Result<HammingIndex<H>, Error> {
        // Extra-entry lists are few: read them first. Chunks then stream from the store into the
        // index; a read error stops the stream and is returned after it.
        let prefix_len = extras_prefix(&meta.name, meta.version).bytes().len();
        let extras = store
            .scan_prefix(Cf::Index, extras_prefix(&meta.name, meta.version).bytes())?
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
            .scan_prefix(Cf::Index, chunk_prefix(&meta.name, meta.version).bytes())?
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
        if idx.nodes() as u64 > meta.entries {
            return Err(Error::Corrupt(format!(
                "list {} has more index nodes than entries",
                meta.name
            )));
        }
        Ok(idx)
    }
    let index = match meta.kind {
        HashKind::Pdq => ListIndex::Pdq(persisted(store, meta)?),
        HashKind::Phash | HashKind::Dhash => ListIndex::Hash64(persisted(store, meta)?),
        _ => {
            let mut exact = ExactIndex::new();
            let prefix = entries_prefix(&meta.name, meta.version);
            let at = prefix.bytes().len();
            for r in store.scan_prefix(Cf::Entries, prefix.bytes())? {
                let (k, v) = r?;
                // The entry id is the key's last part, not the position in the scan.
                let id = k
                    .get(at..at + 4)
                    .and_then(|b| b.try_into().ok())
                    .map(u32::from_be_bytes);
                let (Some(id), Some(e)) = (id, decode_entry(&v)) else {
                    return Err(Error::Corrupt(format!("an entry of list {}", meta.name)));
                };
                exact.insert(e.hash, id);
            }
            ListIndex::Exact(exact)
        }
    };
    Ok(LoadedList {
        meta: meta.clone(),
        index,
    })
}

/// The stored entry `entry` of a list's active version.
pub fn entry(store: &Store, meta: &ListMeta, entry: EntryId) -> Result<StoredEntry, Error> {
    let v = store
        .get(
            Cf::Entries,
            entries_prefix(&meta.name, meta.version).u32(entry).bytes(),
        )?
        .ok_or_else(|| Error::Corrupt(format!("list {} has no entry {entry}", meta.name)))?;
    decode_entry(&v).ok_or_else(|| Error::Corrupt(format!("entry {entry} of list {}", meta.name)))
}

#[cfg(test)]
mod tests;
