//! Matching, the one way the scan, the server and `hashguard match` look hashes up: the active
//! version of every list loaded into memory ([`Matcher`]), queried with a set of typed hashes
//! ([`Query`]: digests, perceptual hashes, an image's PDQ with its rotations and flips, a video's
//! frames), answering one [`Hit`] per matching list entry with its best distance. A video's
//! frames are looked up one by one in PDQ lists (a frame of a listed image), and as a whole
//! against listed videos ([`video`]).

use crate::hashing::vpdq::VideoFrame;
pub use video::{MatchedRange, VideoMatch, VideoMatchKind};

mod loaded;
pub mod video;

use std::collections::HashMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::fingerprint::FileRecord;
use crate::hashing::{AnyHash, Dihedral, HashKind, PdqHash};
use crate::index::Match;
use crate::lists::{self, Error, ListMeta};
use crate::store::Store;
pub use loaded::{KindIndex, ListIndex, LoadedList, load};

/// What to look up: hashes of one submission or file.
#[derive(Debug, Clone, Default)]
pub struct Query {
    /// Digests and perceptual hashes, each matched against the lists of its kind.
    pub hashes: Vec<AnyHash>,
    /// An image's PDQ hash with its 8 rotations and flips (index 0 is the image as it is),
    /// matched through all of them.
    pub pdq_variants: Option<[PdqHash; 8]>,
    /// A video's frames (hash, quality, time), in time order.
    pub frames: Vec<VideoFrame>,
}

impl Query {
    /// One submitted hash.
    pub fn of_hash(hash: AnyHash) -> Self {
        Query {
            hashes: vec![hash],
            ..Query::default()
        }
    }

    /// Every hash of a file's record: its digests, its perceptual hashes (an image's PDQ
    /// through its rotations and flips when they were computed) and its video frames.
    pub fn of_record(rec: &FileRecord) -> Self {
        let plain_pdq = rec.pdq.filter(|_| rec.pdq_variants.is_none());
        let hashes = [
            rec.md5.map(AnyHash::Md5),
            rec.sha1.map(AnyHash::Sha1),
            rec.sha256.map(AnyHash::Sha256),
            plain_pdq.map(AnyHash::Pdq),
            rec.phash.map(AnyHash::Phash),
            rec.dhash.map(AnyHash::Dhash),
        ];
        Query {
            hashes: hashes.into_iter().flatten().collect(),
            pdq_variants: rec.pdq_variants,
            frames: rec.frames.iter().flatten().map(VideoFrame::from).collect(),
        }
    }
}

/// One list entry that matched a query.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hit {
    /// List name.
    pub list: String,
    /// List version used.
    pub list_version: u32,
    /// The list's id of the matching entry.
    pub entry: String,
    /// Hash kind that matched.
    pub kind: HashKind,
    /// The entry's hash, hex.
    pub entry_hash: String,
    /// Hamming distance (0 for digests): the smallest over everything queried.
    pub distance: u32,
    /// Category of the entry, else of the list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// For videos: the first matching frame's time, seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frame_ts: Option<f64>,
    /// For videos: how many frames matched this entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frames_matched: Option<u32>,
    /// For images: the rotation or flip of the file that matched, when not the original.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dihedral: Option<Dihedral>,
    /// For listed videos (kind `vpdq`): how the query matched it, both shares and the ranges.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub video: Option<VideoMatch>,
}

/// A hit with its (list position, entry) key, for merging hits in list and entry order.
type KeyedHit = ((usize, u32), Hit);

/// One list entry's best hit while a query runs.
#[derive(Debug, Clone, Copy)]
struct Best {
    distance: u32,
    first_frame_ts: Option<f64>,
    frames: u32,
    variant: usize,
}

/// The lists, loaded for matching.
pub struct Matcher {
    store: Arc<Store>,
    lists: Vec<LoadedList>,
}

impl Matcher {
    /// Every list in the store, loaded.
    pub fn load_all(store: Arc<Store>) -> Result<Self, Error> {
        let metas = lists::all(&store)?;
        Self::load_metas(store, &metas)
    }

    /// The lists named (every list when `names` is empty) that hold one of `kinds`.
    pub fn load_some(
        store: Arc<Store>,
        names: &[String],
        kinds: &[HashKind],
    ) -> Result<Self, Error> {
        let metas = if names.is_empty() {
            lists::all(&store)?
        } else {
            names
                .iter()
                .map(|n| lists::get(&store, n))
                .collect::<Result<_, _>>()?
        };
        let wanted: Vec<ListMeta> = metas
            .into_iter()
            .filter(|m| m.kinds.iter().any(|k| kinds.contains(&k.kind)))
            .collect();
        Self::load_metas(store, &wanted)
    }

    fn load_metas(store: Arc<Store>, metas: &[ListMeta]) -> Result<Self, Error> {
        let lists = metas
            .iter()
            .map(|m| load(&store, m))
            .collect::<Result<_, _>>()?;
        Ok(Matcher { store, lists })
    }

    /// The loaded lists.
    pub fn lists(&self) -> &[LoadedList] {
        &self.lists
    }

    /// Every list entry that matches the query, once each with its best distance, in list
    /// order and then entry order.
    pub fn matches(&self, q: &Query) -> Result<Vec<Hit>, Error> {
        let mut found: HashMap<(usize, u32), Best> = HashMap::new();
        let queries = q
            .hashes
            .iter()
            .map(|h| (*h, None))
            .chain(q.frames.iter().map(|f| (AnyHash::Pdq(f.pdq), Some(f.ts()))));
        let queries: Vec<(AnyHash, Option<f64>)> = queries.collect();
        for (li, l) in self.lists.iter().enumerate() {
            if let (true, Some(variants)) = (l.has_kind(HashKind::Pdq), &q.pdq_variants) {
                for (m, v) in l.query_pdq_variants(variants) {
                    found.insert(
                        (li, m.entry),
                        Best {
                            distance: m.distance,
                            first_frame_ts: None,
                            frames: 0,
                            variant: v,
                        },
                    );
                }
            }
            for (h, ts) in &queries {
                for m in l.query(h) {
                    let best = found.entry((li, m.entry)).or_insert(Best {
                        distance: m.distance,
                        first_frame_ts: *ts,
                        frames: 0,
                        variant: 0,
                    });
                    best.distance = best.distance.min(m.distance);
                    if ts.is_some() {
                        best.frames += 1;
                    }
                }
            }
        }
        let mut keys: Vec<_> = found.into_iter().collect();
        keys.sort_by_key(|((li, entry), _)| (*li, *entry));
        let mut hits: Vec<KeyedHit> = keys
            .into_iter()
            .map(|((li, entry), best)| Ok(((li, entry), self.hit(li, entry, best)?)))
            .collect::<Result<_, Error>>()?;
        if !q.frames.is_empty() {
            hits.extend(self.video_hits(&q.frames)?);
        }
        hits.sort_by_key(|(k, _)| *k);
        Ok(hits.into_iter().map(|(_, h)| h).collect())
    }

    /// Listed videos (kind `vpdq`) a query video matches or holds an excerpt of, in list and
    /// entry order: the lookup of `hashguard match --kind vpdq`.
    pub fn video_matches(&self, frames: &[VideoFrame]) -> Result<Vec<Hit>, Error> {
        Ok(self
            .video_hits(frames)?
            .into_iter()
            .map(|(_, h)| h)
            .collect())
    }

    /// Listed videos matched by `frames`, keyed by (list, entry), in that order.
    fn video_hits(&self, frames: &[VideoFrame]) -> Result<Vec<KeyedHit>, Error> {
        let mut out = Vec::new();
        for (li, l) in self.lists.iter().enumerate() {
            let Some(v) = &l.videos else { continue };
            for vh in v.matches(frames) {
                let best = Best {
                    distance: vh.distance,
                    first_frame_ts: vh.video.ranges.first().map(|r| r.query[0]),
                    frames: vh.frames_matched,
                    variant: 0,
                };
                let mut hit = self.hit(li, vh.entry, best)?;
                hit.video = Some(vh.video);
                out.push(((li, vh.entry), hit));
            }
        }
        Ok(out)
    }

    /// Entries of every list within `radius` of one hash (each list's own radius when `None`;
    /// equal for digests), without collapsing: the lookup of `hashguard match`.
    pub fn lookup(&self, hash: &AnyHash, radius: Option<u32>) -> Result<Vec<Hit>, Error> {
        let mut out = Vec::new();
        for (li, l) in self.lists.iter().enumerate() {
            for Match { entry, distance } in l.query_radius(hash, radius) {
                let best = Best {
                    distance,
                    first_frame_ts: None,
                    frames: 0,
                    variant: 0,
                };
                out.push(self.hit(li, entry, best)?);
            }
        }
        Ok(out)
    }

    /// A hit with its entry read from the store.
    fn hit(&self, li: usize, entry: u32, best: Best) -> Result<Hit, Error> {
        let l = &self.lists[li];
        let stored = lists::entry(&self.store, &l.meta, entry)?;
        Ok(Hit {
            list: l.meta.name.clone(),
            list_version: l.meta.version,
            entry_hash: hex::encode(stored.hash_bytes()),
            kind: stored.hash.kind(),
            entry: stored.id,
            distance: best.distance,
            category: stored.category.or_else(|| l.meta.category.clone()),
            frame_ts: best.first_frame_ts,
            frames_matched: (best.frames > 0).then_some(best.frames),
            dihedral: (best.variant > 0).then(|| Dihedral::ALL[best.variant]),
            video: None,
        })
    }
}
