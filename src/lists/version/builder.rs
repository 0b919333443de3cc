//! Writing one new version of a list: rows in, a verified [`Staged`] version out.

use std::collections::{BTreeMap, HashMap};

use sha2::{Digest as _, Sha256};

use super::changelog::drop_change_log;
use super::{ChangeHeader, Expect, LastAttempt, Mode, Settings, Staged, now_secs, record_attempt};
use crate::hashing::{AnyHash, HashKind};
use crate::index::{Bits256, EntryId, HammingIndex, HashBits};
use crate::lists::entry::{self, Provenance, SetDigest, StoredEntry};
use crate::lists::format::{self, BadRow, ListRow, Op, RowError};
use crate::lists::{Error, KindMeta, ListMeta, check_name, drop_version, get};
use crate::store::{Batch, Cf, Store, keys};

/// Bytes of writes collected before a batch is flushed during a bulk load.
const BATCH_BYTES: usize = 16 << 20;

/// Longest id, category or series accepted, bytes.
const MAX_LABEL: usize = 1024;

/// Malformed rows kept with their line numbers (the count is always complete).
const BAD_ROWS_KEPT: usize = 100;

/// A perceptual kind's index, built in memory to be persisted.
enum BuiltIndex {
    /// PDQ.
    Pdq(HammingIndex<Bits256>),
    /// pHash or dHash.
    Hash64(HammingIndex<u64>),
}

impl BuiltIndex {
    /// Entries indexed.
    fn len(&self) -> usize {
        match self {
            BuiltIndex::Pdq(i) => i.len(),
            BuiltIndex::Hash64(i) => i.len(),
        }
    }
}

/// Hashes collected while a version is built; indexed in one bulk build per kind at the end.
enum Pending {
    Pdq(Vec<(Bits256, EntryId)>),
    Hash64(Vec<(u64, EntryId)>),
    Exact,
}

impl Pending {
    fn new(kind: HashKind) -> Self {
        match kind {
            HashKind::Pdq => Pending::Pdq(Vec::new()),
            HashKind::Phash | HashKind::Dhash => Pending::Hash64(Vec::new()),
            _ => Pending::Exact,
        }
    }

    fn push(&mut self, hash: &AnyHash, entry: EntryId) {
        match (self, hash) {
            (Pending::Pdq(v), AnyHash::Pdq(h)) => v.push((h.words(), entry)),
            (Pending::Hash64(v), AnyHash::Phash(h)) => v.push((h.0, entry)),
            (Pending::Hash64(v), AnyHash::Dhash(h)) => v.push((h.0, entry)),
            // Exact kinds are indexed from the stored entries when the list is loaded.
            _ => {}
        }
    }

    fn retain(&mut self, keep: impl Fn(EntryId) -> bool) {
        match self {
            Pending::Pdq(v) => v.retain(|(_, e)| keep(*e)),
            Pending::Hash64(v) => v.retain(|(_, e)| keep(*e)),
            Pending::Exact => {}
        }
    }

    fn finish(self) -> Option<BuiltIndex> {
        match self {
            Pending::Pdq(v) => Some(BuiltIndex::Pdq(HammingIndex::build(v).0)),
            Pending::Hash64(v) => Some(BuiltIndex::Hash64(HammingIndex::build(v).0)),
            Pending::Exact => None,
        }
    }
}

/// What a delta does to one id.
#[derive(Default)]
struct IdChange {
    /// Every entry of the base version under this id goes.
    remove_all: bool,
    /// Entries of these kinds under this id go.
    removed: Vec<HashKind>,
    /// Indices into `Builder::adds` of the additions under this id, one per kind.
    adds: Vec<usize>,
}

/// The identity of an entry within a version: its kind and id (128 bits of SHA-256, so a
/// 10M-entry load deduplicates in 240 MB instead of holding every id string).
fn identity(kind: HashKind, id: &str) -> [u64; 2] {
    let d = Sha256::new()
        .chain_update(kind.name())
        .chain_update([0])
        .chain_update(id)
        .finalize();
    let w = |i: usize| u64::from_le_bytes(d[i..i + 8].try_into().unwrap_or([0; 8]));
    [w(0), w(8)]
}

/// Writes one new version of a list; see the module docs.
pub struct Builder<'s> {
    store: &'s Store,
    name: String,
    pub(super) version: u32,
    base: Option<ListMeta>,
    mode: Mode,
    settings: Settings,
    provenance: Provenance,
    upstream_version: Option<String>,
    batch: Batch,
    next_entry: EntryId,
    digest: SetDigest,
    counts: BTreeMap<HashKind, u64>,
    pending: BTreeMap<HashKind, Pending>,
    /// Full loads: (identity, entry) of every entry written, to find repeated ids.
    keys: Vec<([u64; 2], EntryId)>,
    /// Full loads: tombstones, as (identity, entries written before it). A removal takes out
    /// the earlier additions of its id in the same load; of an id the load does not hold, it
    /// is a counted no-op (real feeds interleave additions and tombstones).
    tombstones: Vec<([u64; 2], EntryId)>,
    /// Deltas: the changes by id, and the additions in row order (`None` once superseded).
    changes: HashMap<String, IdChange>,
    adds: Vec<Option<StoredEntry>>,
    pub(super) rows: u64,
    pub(super) bad: u64,
    pub(super) bad_rows: Vec<BadRow>,
    /// Entries of the change log written so far.
    log_seq: u64,
}

impl<'s> Builder<'s> {
    /// Starts a new version of list `name`: a full load, or a delta on the active version.
    pub fn new(
        store: &'s Store,
        name: &str,
        mode: Mode,
        settings: Settings,
    ) -> Result<Self, Error> {
        check_name(name)?;
        // Every way in (import, sync, ImportList, mirrors, bundles) comes through here.
        crate::lists::check_radii(&settings.radii).map_err(|why| Error::BadInput {
            what: format!("the radii of list {name:?}"),
            why,
        })?;
        settings.video.check().map_err(|why| Error::BadInput {
            what: format!("the video settings of list {name:?}"),
            why,
        })?;
        let base = match get(store, name) {
            Ok(m) => Some(m),
            Err(Error::NoSuchList { .. }) => None,
            Err(e) => return Err(e),
        };
        let version = base.as_ref().map_or(1, |m| m.latest + 1);
        // Leftovers of an attempt that died before publishing this version number.
        drop_version(store, name, version)?;
        drop_change_log(store, name, version)?;
        Ok(Builder {
            store,
            name: name.to_string(),
            version,
            provenance: Provenance {
                source: settings.source.clone(),
                fetched_version: version,
                fetched_at: now_secs(),
            },
            base,
            mode,
            settings,
            upstream_version: None,
            batch: store.batch(),
            next_entry: 0,
            digest: SetDigest::default(),
            counts: BTreeMap::new(),
            pending: BTreeMap::new(),
            keys: Vec::new(),
            tombstones: Vec::new(),
            changes: HashMap::new(),
            adds: Vec::new(),
            rows: 0,
            bad: 0,
            bad_rows: Vec::new(),
            log_seq: 0,
        })
    }

    /// Appends a row to the version's change log.
    fn log(&mut self, row: &ListRow) -> Result<(), Error> {
        let mut line = Vec::with_capacity(128);
        format::write_jsonl(&mut line, row).map_err(|e| Error::corrupt(e.to_string()))?;
        let key = keys::change_log(&self.name, self.version).u64(self.log_seq);
        self.log_seq += 1;
        self.batch
            .put(self.store, Cf::Entries, key.bytes(), &line)?;
        self.flush_if_full()
    }

    /// The version number being built.
    pub fn version(&self) -> u32 {
        self.version
    }

    /// The active version it builds on, if any.
    pub fn base(&self) -> Option<&ListMeta> {
        self.base.as_ref()
    }

    /// Records the source's own label for this version (an ETag, a cursor, a hub version).
    pub fn set_upstream_version(&mut self, v: Option<String>) {
        self.upstream_version = v;
    }

    /// Counts a malformed row.
    pub fn push_bad(&mut self, bad: BadRow) {
        self.rows += 1;
        self.bad += 1;
        if self.bad_rows.len() < BAD_ROWS_KEPT {
            self.bad_rows.push(bad);
        }
    }

    /// Adds one row.
    pub fn push(&mut self, row: ListRow) -> Result<(), Error> {
        // Labels are stored with 16-bit lengths and must read back exactly; anything this long
        // is damage, not a label.
        let long = [Some(&row.id), row.category.as_ref(), row.series.as_ref()]
            .into_iter()
            .flatten()
            .any(|s| s.len() > MAX_LABEL);
        if long {
            self.push_bad(BadRow {
                line: row.line,
                reason: format!("an id, category or series over {MAX_LABEL} bytes"),
            });
            return Ok(());
        }
        // A video's frames travel with its row; its digest alone cannot be matched.
        let frameless = matches!(row.hash, Some(AnyHash::Vpdq(d)) if row.video.as_ref().is_none_or(|v| v.digest() != d));
        if row.op == Op::Add && frameless {
            self.push_bad(BadRow {
                line: row.line,
                reason: "a vpdq addition without the frames its digest names".into(),
            });
            return Ok(());
        }
        let floor = self.settings.video.min_quality;
        if let (Op::Add, Some(v)) = (row.op, &row.video)
            && !v.frames.iter().any(|f| f.quality >= floor)
        {
            self.push_bad(BadRow {
                line: row.line,
                reason: format!(
                    "video {:?}: no frame of quality {floor} or more, so it could never match",
                    row.id
                ),
            });
            return Ok(());
        }
        match (self.mode, row.op, row.hash) {
            (Mode::Full, Op::Add, Some(hash)) => {
                self.rows += 1;
                let e = StoredEntry {
                    id: row.id,
                    hash,
                    category: row.category,
                    series: row.series,
                    provenance: self.provenance.clone(),
                    video: row.video,
                };
                self.keys
                    .push((identity(hash.kind(), &e.id), self.next_entry));
                self.write_entry(&e, None)
            }
            (Mode::Full, Op::Remove, hash) => {
                self.rows += 1;
                // Without a hash, the removal names the id whatever its kind.
                let kinds: Vec<HashKind> = match hash {
                    Some(h) => vec![h.kind()],
                    None => HashKind::ALL.to_vec(),
                };
                for kind in kinds {
                    self.tombstones
                        .push((identity(kind, &row.id), self.next_entry));
                }
                Ok(())
            }
            (Mode::Full, Op::Add, None) => {
                self.push_bad(BadRow {
                    line: row.line,
                    reason: "an addition without a hash".into(),
                });
                Ok(())
            }
            (Mode::Delta, op, hash) => {
                self.rows += 1;
                if hash.is_some() || op == Op::Remove {
                    self.log(&ListRow {
                        line: row.line,
                        op,
                        id: row.id.clone(),
                        hash,
                        category: row.category.clone(),
                        series: row.series.clone(),
                        video: row.video.clone(),
                    })?;
                }
                let change = self.changes.entry(row.id.clone()).or_default();
                let adds = &mut self.adds;
                // Whatever this row says about (id, kind) replaces what earlier rows said.
                let mut drop_adds = |change: &mut IdChange, kind: Option<HashKind>| {
                    change.adds.retain(|&i| {
                        let same = adds[i]
                            .as_ref()
                            .is_some_and(|e| kind.is_none_or(|k| e.hash.kind() == k));
                        if same {
                            adds[i] = None;
                        }
                        !same
                    });
                };
                match (op, hash) {
                    (Op::Add, Some(hash)) => {
                        drop_adds(change, Some(hash.kind()));
                        change.adds.push(adds.len());
                        adds.push(Some(StoredEntry {
                            id: row.id,
                            hash,
                            category: row.category,
                            series: row.series,
                            provenance: self.provenance.clone(),
                            video: row.video,
                        }));
                    }
                    (Op::Remove, Some(hash)) => {
                        drop_adds(change, Some(hash.kind()));
                        change.removed.push(hash.kind());
                    }
                    (Op::Remove, None) => {
                        drop_adds(change, None);
                        change.remove_all = true;
                    }
                    (Op::Add, None) => {
                        self.rows -= 1;
                        self.push_bad(BadRow {
                            line: row.line,
                            reason: "an addition without a hash".into(),
                        });
                    }
                }
                Ok(())
            }
        }
    }

    /// Reads every row of `rows` into the version; an unreadable input stops with
    /// [`Error::Read`]. Returns the paging information of the input.
    pub fn push_rows(&mut self, mut rows: format::Rows<'_>) -> Result<format::Paging, Error> {
        for r in rows.by_ref() {
            match r {
                Ok(row) => self.push(row)?,
                Err(RowError::Bad(b)) => self.push_bad(b),
                Err(RowError::Io { line, message }) => return Err(Error::Read { line, message }),
            }
        }
        Ok(rows.paging())
    }

    /// Writes an entry of the new version; `raw` is its stored form when it is copied as is.
    fn write_entry(&mut self, e: &StoredEntry, raw: Option<&[u8]>) -> Result<(), Error> {
        let id = self.next_entry;
        self.next_entry = id.checked_add(1).ok_or_else(|| Error::Verify {
            name: self.name.clone(),
            version: self.version,
            what: "more than 4,294,967,295 entries".into(),
        })?;
        let kind = e.hash.kind();
        self.pending
            .entry(kind)
            .or_insert_with(|| Pending::new(kind))
            .push(&e.hash, id);
        *self.counts.entry(kind).or_default() += 1;
        self.digest.add(e);
        let key = keys::entries(&self.name, self.version).u32(id);
        match raw {
            Some(bytes) => self
                .batch
                .put(self.store, Cf::Entries, key.bytes(), bytes)?,
            None => self
                .batch
                .put(self.store, Cf::Entries, key.bytes(), &entry::encode(e))?,
        }
        self.flush_if_full()
    }

    fn flush_if_full(&mut self) -> Result<(), Error> {
        if self.batch.size_in_bytes() > BATCH_BYTES {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), Error> {
        let full = std::mem::replace(&mut self.batch, self.store.batch());
        self.store.write(full)?;
        Ok(())
    }

    /// Full loads: the later of two rows with the same id and kind wins; the earlier entry is
    /// taken out of the version again.
    fn drop_repeated_ids(&mut self) -> Result<(Vec<bool>, u64), Error> {
        let mut keys = std::mem::take(&mut self.keys);
        keys.sort_unstable();
        let mut dead = Vec::new();
        for w in keys.windows(2) {
            if w[0].0 == w[1].0 {
                dead.push(w[0].1);
            }
        }
        let repeated = dead.len() as u64;
        // A tombstone takes out its id's entries written before it (the last of them, if any,
        // is not yet in `dead`: earlier ones already are, as repeats).
        for (ident, before) in std::mem::take(&mut self.tombstones) {
            let from = keys.partition_point(|k| k.0 < ident);
            let last_before = keys[from..]
                .iter()
                .take_while(|k| k.0 == ident)
                .filter(|k| k.1 < before)
                .map(|k| k.1)
                .max();
            let last = keys[from..]
                .iter()
                .take_while(|k| k.0 == ident)
                .map(|k| k.1)
                .max();
            if let Some(e) = last_before
                && last == Some(e)
            {
                dead.push(e);
            }
        }
        drop(keys);
        dead.sort_unstable();
        dead.dedup();
        if dead.is_empty() {
            return Ok((Vec::new(), 0));
        }
        self.flush()?;
        let mut is_dead = vec![false; self.next_entry as usize];
        for &id in &dead {
            let e = crate::lists::entry_of_version(self.store, &self.name, self.version, id)?;
            self.digest.remove(&e);
            if let Some(c) = self.counts.get_mut(&e.hash.kind()) {
                *c -= 1;
            }
            let key = keys::entries(&self.name, self.version).u32(id);
            self.batch.delete(self.store, Cf::Entries, key.bytes())?;
            is_dead[id as usize] = true;
        }
        Ok((is_dead, repeated))
    }

    /// Deltas: the base version's entries that stay, then the additions.
    fn apply_delta(&mut self) -> Result<(), Error> {
        // A delta on a list that has no version yet applies to the empty list (a paged source's
        // first sync reads its whole history as changes).
        let base = self.base.clone();
        let prefix = base
            .as_ref()
            .map(|b| keys::entries(&b.name, b.version).bytes().to_vec());
        let scan = match &prefix {
            Some(p) => Some(self.store.scan_prefix(Cf::Entries, p)?),
            None => None,
        };
        for r in scan.into_iter().flatten() {
            let (_, raw) = r?;
            let e = entry::decode(&raw)
                .ok_or_else(|| Error::corrupt(format!("an entry of list {}", self.name)))?;
            if let Some(c) = self.changes.get(&e.id) {
                let kind = e.hash.kind();
                let replaced = c
                    .adds
                    .iter()
                    .any(|&i| self.adds[i].as_ref().is_some_and(|a| a.hash.kind() == kind));
                if c.remove_all || c.removed.contains(&kind) || replaced {
                    continue;
                }
            }
            self.write_entry(&e, Some(&raw))?;
        }
        for e in std::mem::take(&mut self.adds).into_iter().flatten() {
            self.write_entry(&e, None)?;
        }
        self.changes.clear();
        Ok(())
    }

    /// Builds the indexes, verifies the version by reading it back (and against `expect`),
    /// and returns it staged for [`publish`]. On any failure the staged keys are deleted and
    /// the active version is untouched.
    pub fn finish(mut self, expect: &Expect) -> Result<Staged, Error> {
        let (name, version) = (self.name.clone(), self.version);
        let store = self.store;
        match self.finish_inner(expect) {
            Ok(s) => Ok(s),
            Err(e) => {
                // Never a version that is in use (a concurrent writer with the same number
                // would have published it): only this build's own leftovers.
                let in_use = get(store, &name)
                    .ok()
                    .is_some_and(|m| m.version == version || m.previous == Some(version));
                if !in_use {
                    drop_version(store, &name, version)?;
                    drop_change_log(store, &name, version)?;
                }
                let attempt = LastAttempt {
                    at: now_secs(),
                    ok: false,
                    version: None,
                    error: Some(e.to_string()),
                    rows: self.rows,
                    bad: self.bad,
                    bad_rows: std::mem::take(&mut self.bad_rows),
                };
                record_attempt(store, &name, &attempt)?;
                Err(e)
            }
        }
    }

    /// Refuses a full load that is empty or loses more than `max_shrink_pct` of the active
    /// version, unless the settings force it.
    fn check_shrink(&self, entries: u64) -> Result<(), Error> {
        if self.mode != Mode::Full || self.settings.allow_shrink {
            return Ok(());
        }
        if entries == 0 {
            return Err(Error::EmptyLoad {
                name: self.name.clone(),
            });
        }
        if let Some(base) = &self.base {
            let lost = base.entries.saturating_sub(entries);
            if lost as f64 * 100.0 > self.settings.max_shrink_pct * base.entries as f64 {
                return Err(Error::Shrinks {
                    name: self.name.clone(),
                    before: base.entries,
                    after: entries,
                    limit_pct: self.settings.max_shrink_pct,
                });
            }
        }
        Ok(())
    }

    fn finish_inner(&mut self, expect: &Expect) -> Result<Staged, Error> {
        if self.rows > 0 && (self.bad as f64) * 100.0 > self.settings.max_bad_pct * self.rows as f64
        {
            let first = self.bad_rows.first().cloned().unwrap_or(BadRow {
                line: 0,
                reason: String::new(),
            });
            return Err(Error::TooManyBadRows {
                bad: self.bad,
                total: self.rows,
                limit_pct: self.settings.max_bad_pct,
                first_line: first.line,
                first_reason: first.reason,
            });
        }
        let duplicates = match self.mode {
            Mode::Full => {
                let (is_dead, n) = self.drop_repeated_ids()?;
                if !is_dead.is_empty() {
                    for p in self.pending.values_mut() {
                        p.retain(|e| !is_dead[e as usize]);
                    }
                }
                n
            }
            Mode::Delta => {
                self.apply_delta()?;
                0
            }
        };
        let mut kinds = Vec::new();
        for kind in HashKind::ALL {
            let Some(&count) = self.counts.get(&kind) else {
                continue;
            };
            if count == 0 {
                continue;
            }
            if let Some(p) = self.pending.remove(&kind)
                && let Some(mut index) = p.finish()
            {
                if index.len() as u64 != count {
                    return Err(self.verify_error(format!(
                        "the {kind} index holds {} entries, {count} were written",
                        index.len()
                    )));
                }
                self.persist_index(kind, &mut index)?;
            }
            kinds.push(KindMeta {
                kind,
                radius: self.settings.radius(kind),
                entries: count,
            });
        }
        self.flush()?;
        let entries: u64 = kinds.iter().map(|k| k.entries).sum();
        self.check_shrink(entries)?;
        self.verify_stored(entries, expect)?;
        let logged = match (self.mode, self.base.is_some()) {
            (Mode::Delta, _) => true,
            (Mode::Full, true) => {
                self.log_full_diff()?;
                true
            }
            // A first version has nothing to be a change of.
            (Mode::Full, false) => false,
        };
        self.flush()?;
        let base = self.base.as_ref();
        let has_video = kinds.iter().any(|k: &KindMeta| k.kind == HashKind::Vpdq);
        let meta = ListMeta {
            name: self.name.clone(),
            kinds,
            category: self.settings.category.clone(),
            unit: self.settings.unit.clone(),
            source: self.settings.source.clone(),
            version: self.version,
            previous: base.map(|b| b.version),
            latest: self.version,
            entries,
            digest: self.digest.to_hex(),
            upstream_version: self.upstream_version.clone(),
            bad_rows: self.bad,
            published_at: 0,
            video: has_video.then_some(self.settings.video),
        };
        Ok(Staged {
            meta,
            base: base.map(|b| b.version),
            rows: self.rows,
            bad_rows: std::mem::take(&mut self.bad_rows),
            duplicates,
            change: ChangeHeader {
                base: base.map(|b| b.version),
                logged,
            },
        })
    }

    /// Full loads on a base: logs the difference (additions, changes and removals), so a
    /// reader of the base version can follow with a delta. Three streaming passes; the only
    /// memory is a map of the base's entry identities (about 40 bytes an entry).
    fn log_full_diff(&mut self) -> Result<(), Error> {
        let Some(base) = self.base.clone() else {
            return Ok(());
        };
        let content = |e: &StoredEntry| -> u64 {
            let d = Sha256::new()
                .chain_update(entry::hash_bytes(&e.hash))
                .chain_update([0])
                .chain_update(e.category.as_deref().unwrap_or(""))
                .chain_update([0])
                .chain_update(e.series.as_deref().unwrap_or(""))
                .finalize();
            u64::from_le_bytes(d[..8].try_into().unwrap_or([0; 8]))
        };
        let mut old: HashMap<[u64; 2], u64> = HashMap::new();
        for r in crate::lists::entries(self.store, &base.name, base.version)? {
            let (_, e) = r?;
            old.insert(identity(e.hash.kind(), &e.id), content(&e));
        }
        let row = |op, e: StoredEntry| ListRow {
            line: 0,
            op,
            id: e.id,
            hash: Some(e.hash),
            category: e.category,
            series: e.series,
            video: e.video,
        };
        for r in crate::lists::entries(self.store, &self.name, self.version)? {
            let (_, e) = r?;
            let id = identity(e.hash.kind(), &e.id);
            if old.remove(&id) != Some(content(&e)) {
                self.log(&row(Op::Add, e))?;
            }
        }
        if !old.is_empty() {
            for r in crate::lists::entries(self.store, &base.name, base.version)? {
                let (_, e) = r?;
                if old.contains_key(&identity(e.hash.kind(), &e.id)) {
                    self.log(&row(Op::Remove, e))?;
                }
            }
        }
        Ok(())
    }

    fn verify_error(&self, what: String) -> Error {
        Error::Verify {
            name: self.name.clone(),
            version: self.version,
            what,
        }
    }

    /// Reads the written version back: every entry decodes, and the count and digest are the
    /// ones computed while writing (and the source's, when it gave them).
    fn verify_stored(&self, entries: u64, expect: &Expect) -> Result<(), Error> {
        let mut digest = SetDigest::default();
        let mut count = 0u64;
        for r in crate::lists::entries(self.store, &self.name, self.version)? {
            let (_, e) = r?;
            digest.add(&e);
            count += 1;
        }
        if count != entries || digest != self.digest {
            return Err(self.verify_error(format!(
                "read back {count} entries with digest {}, wrote {entries} with {}",
                digest.to_hex(),
                self.digest.to_hex()
            )));
        }
        if let Some(n) = expect.entries
            && n != count
        {
            return Err(self.verify_error(format!("the source says {n} entries, got {count}")));
        }
        if let Some(d) = &expect.digest
            && !d.eq_ignore_ascii_case(&digest.to_hex())
        {
            return Err(self.verify_error(format!(
                "the source's digest is {d}, the version's is {}",
                digest.to_hex()
            )));
        }
        Ok(())
    }

    fn persist_index(&mut self, kind: HashKind, index: &mut BuiltIndex) -> Result<(), Error> {
        fn write<H: HashBits>(
            b: &mut Builder<'_>,
            kind: HashKind,
            idx: &mut HammingIndex<H>,
        ) -> Result<(), Error> {
            let (chunks, extras) = idx.take_dirty();
            for c in chunks {
                let key = keys::index_chunks_of(&b.name, b.version, kind).u32(c);
                b.batch
                    .put(b.store, Cf::Index, key.bytes(), &idx.encode_chunk(c))?;
                b.flush_if_full()?;
            }
            for node in extras {
                let key = keys::index_extras_of(&b.name, b.version, kind).u32(node);
                let bytes = idx.encode_extras(node);
                if !bytes.is_empty() {
                    b.batch.put(b.store, Cf::Index, key.bytes(), &bytes)?;
                }
            }
            Ok(())
        }
        match index {
            BuiltIndex::Pdq(i) => write(self, kind, i),
            BuiltIndex::Hash64(i) => write(self, kind, i),
        }
    }
}
