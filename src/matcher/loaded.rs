//! A list loaded for matching: one in-memory index per hash kind, built from the store (the
//! persisted BK-trees for perceptual kinds, the entries for exact digests).

use crate::hashing::{AnyHash, HashKind, PdqHash};
use crate::index::{Bits256, ExactIndex, HammingIndex, HashBits, Match};
use crate::lists::{Error, KindMeta, ListMeta, entry};
use crate::matcher::video::VideoIndex;
use crate::store::{Cf, Store, keys};

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
    /// An index per kind, in the order of `meta.kinds` (videos apart, in `videos`).
    pub indexes: Vec<KindIndex>,
    /// Its listed videos (kind `vpdq`), matched as whole videos.
    pub videos: Option<VideoIndex>,
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
        self.indexes.iter().map(|k| k.index.len()).sum::<usize>()
            + self.videos.as_ref().map_or(0, VideoIndex::len)
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
        let extras_prefix = keys::index_extras_of(&meta.name, meta.version, kind.kind);
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
                keys::index_chunks_of(&meta.name, meta.version, kind.kind).bytes(),
            )?
            .map_while(|r| match r {
                Ok((_, v)) => Some(v.into_vec()),
                Err(e) => {
                    read_error = Some(e);
                    None
                }
            });
        let idx = HammingIndex::from_persisted(chunks, extras)
            .map_err(|e| Error::corrupt(format!("list {}: {e}", meta.name)))?;
        if let Some(e) = read_error {
            return Err(e.into());
        }
        if idx.nodes() as u64 > kind.entries {
            return Err(Error::corrupt(format!(
                "list {} has more {} index nodes than entries",
                meta.name, kind.kind
            )));
        }
        Ok(idx)
    }
    let mut indexes = Vec::with_capacity(meta.kinds.len());
    let mut exact: Vec<(HashKind, ExactIndex<Vec<u8>>)> = Vec::new();
    let video_kind = meta.kind(HashKind::Vpdq);
    for k in &meta.kinds {
        let index = match k.kind {
            // Read from the entries below, with the exact kinds.
            HashKind::Vpdq => continue,
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
        let prefix = keys::entries(&meta.name, meta.version);
        let at = prefix.bytes().len();
        for r in store.scan_prefix(Cf::Entries, prefix.bytes())? {
            let (k, v) = r?;
            // The entry id is the key's last part, not the position in the scan.
            let id = k
                .get(at..at + 4)
                .and_then(|b| b.try_into().ok())
                .map(u32::from_be_bytes);
            let (Some(id), Some(e)) = (id, entry::decode(&v)) else {
                return Err(Error::corrupt(format!("an entry of list {}", meta.name)));
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
    indexes.sort_by_key(|k| keys::kind_tag(k.meta.kind));
    let videos = match video_kind {
        Some(k) => Some(load_videos(store, meta, k.radius)?),
        None => None,
    };
    Ok(LoadedList {
        meta: meta.clone(),
        indexes,
        videos,
    })
}

/// The list's videos, streamed from the entries into a [`VideoIndex`] (one decoded video in
/// memory at a time besides the index).
fn load_videos(store: &Store, meta: &ListMeta, radius: u32) -> Result<VideoIndex, Error> {
    let prefix = keys::entries(&meta.name, meta.version);
    let at = prefix.bytes().len();
    let mut failure: Option<Error> = None;
    let videos = store
        .scan_prefix(Cf::Entries, prefix.bytes())?
        .map_while(|r| {
            let decoded = r.map_err(Error::from).and_then(|(k, v)| {
                let id = k
                    .get(at..at + 4)
                    .and_then(|b| b.try_into().ok())
                    .map(u32::from_be_bytes);
                match (id, entry::decode(&v)) {
                    (Some(id), Some(e)) => Ok((id, e.video)),
                    _ => Err(Error::corrupt(format!("an entry of list {}", meta.name))),
                }
            });
            match decoded {
                Ok(x) => Some(x),
                Err(e) => {
                    failure = Some(e);
                    None
                }
            }
        })
        .filter_map(|(id, v)| v.map(|v| (id, v)));
    let index = VideoIndex::build(videos, meta.video.unwrap_or_default(), radius);
    match failure {
        Some(e) => Err(e),
        None => Ok(index),
    }
}
