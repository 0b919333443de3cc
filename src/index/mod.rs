//! Matching: every list entry within a Hamming radius of a query hash, with full recall, and
//! exact lookups for digests.
//!
//! [`HammingIndex`] keeps each distinct hash once (a *node*) in a flat array and layers three
//! search strategies over it, chosen per query by estimated cost ([`Strategy`]):
//! - a BK-tree (first-child / next-sibling links, 9 bytes a node), the update-friendly form the
//!   store persists; it is fast at small radii but at PDQ's radius 31 it visits most nodes;
//! - multi-index hashing ([`mih`]), rebuilt in memory over the array, sub-linear at radius 31
//!   with guaranteed recall;
//! - a linear scan, best for small lists and very large radii.
//!
//! Nodes inserted since the tables were built are scanned linearly until the next rebuild.
//! Removing an entry clears it from its node; a node without entries never matches, so a
//! removal can never leave a stale match.

pub mod bits;
pub mod mih;

use std::collections::{BTreeSet, HashMap};

use rayon::prelude::*;

pub use bits::{Bits256, HashBits};
use mih::Mih;

/// A list entry's dense id, assigned by the list store.
pub type EntryId = u32;

const NONE: u32 = u32::MAX;

/// One entry found within the radius.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Match {
    /// The matching entry.
    pub entry: EntryId,
    /// Hamming distance from the query.
    pub distance: u32,
}

/// How a query was answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// Walked the BK-tree.
    BkTree,
    /// Probed the multi-index hash tables.
    Mih,
    /// Compared with every node.
    Scan,
}

/// Why an index operation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Degenerate hashes (all zero, all one) would match unrelated content.
    #[error("degenerate hash (all bits equal) is never indexed")]
    Degenerate,
    /// The entry is not in the index under that hash.
    #[error("entry {entry} is not indexed under the given hash")]
    NotFound {
        /// The entry.
        entry: EntryId,
    },
    /// A persisted chunk does not decode.
    #[error("persisted index chunk {chunk} is corrupt: {what}")]
    CorruptChunk {
        /// Chunk number.
        chunk: u32,
        /// What was wrong.
        what: &'static str,
    },
}

/// Nodes per persisted chunk: about 40 KB of PDQ records, so loading 10M nodes reads ~10K
/// values sequentially while an update rewrites only the chunks it touches.
pub const CHUNK: u32 = 1024;

/// Relative costs used to choose a strategy, in rough nanoseconds on this project's machine
/// (only their ratios matter; not calibrated per machine).
#[derive(Debug, Clone, Copy)]
pub struct CostModel {
    /// Comparing one node in a linear scan.
    pub scan_node: f64,
    /// One multi-index probe (a bucket lookup).
    pub mih_probe: f64,
    /// Checking one multi-index candidate (a random access into the hash array).
    pub mih_candidate: f64,
}

impl Default for CostModel {
    fn default() -> Self {
        CostModel {
            scan_node: 1.0,
            mih_probe: 8.0,
            mih_candidate: 6.0,
        }
    }
}

/// Hashes of one kind and the entries that carry them.
pub struct HammingIndex<H: HashBits> {
    hashes: Vec<H>,
    first_child: Vec<u32>,
    next_sibling: Vec<u32>,
    parent: Vec<u32>,
    parent_distance: Vec<u16>,
    /// First entry of each node (`NONE` when it has none); further entries in `more`.
    entry: Vec<EntryId>,
    more: HashMap<u32, Vec<EntryId>>,
    live_entries: usize,
    mih: Option<Mih>,
    costs: CostModel,
    /// Chunks and extra-entry lists changed since the last [`HammingIndex::take_dirty`].
    dirty_chunks: BTreeSet<u32>,
    dirty_extras: BTreeSet<u32>,
}

impl<H: HashBits> Default for HammingIndex<H> {
    fn default() -> Self {
        Self::new()
    }
}

/// Asks the CPU to start loading `v` into cache; a hint only, never a fault.
#[inline(always)]
fn prefetch<T>(v: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: prefetching is a hint that never faults; the pointer comes from a reference.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
            (v as *const T).cast(),
        );
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = v;
}

impl<H: HashBits> HammingIndex<H> {
    /// An empty index.
    pub fn new() -> Self {
        HammingIndex {
            hashes: Vec::new(),
            first_child: Vec::new(),
            next_sibling: Vec::new(),
            parent: Vec::new(),
            parent_distance: Vec::new(),
            entry: Vec::new(),
            more: HashMap::new(),
            live_entries: 0,
            mih: None,
            costs: CostModel::default(),
            dirty_chunks: BTreeSet::new(),
            dirty_extras: BTreeSet::new(),
        }
    }

    /// Builds an index from `(hash, entry)` pairs and its multi-index tables. Degenerate hashes
    /// are skipped and counted in the second return value.
    ///
    /// The BK-tree is built by partitioning rather than one descent per hash: the first hash of
    /// a group becomes a node, the rest are sorted by their distance to it, and each run of equal
    /// distance becomes that node's child subtree. The tree obeys the same rule as one built by
    /// [`HammingIndex::insert`] (a child at distance d from its parent), with sequential memory
    /// access instead of pointer chasing (10M PDQ hashes: seconds instead of a minute).
    pub fn build(entries: impl IntoIterator<Item = (H, EntryId)>) -> (Self, usize) {
        let mut items: Vec<(H, EntryId)> = Vec::new();
        let mut skipped = 0;
        for (h, e) in entries {
            if h.is_degenerate() {
                skipped += 1;
            } else {
                items.push((h, e));
            }
        }
        let mut idx = Self::new();
        idx.reserve(items.len());
        // Groups still to place: (parent node, distance to it, range of `items`).
        let mut groups: Vec<(u32, u16, std::ops::Range<usize>)> = vec![(NONE, 0, 0..items.len())];
        while let Some((parent, pd, range)) = groups.pop() {
            if range.is_empty() {
                continue;
            }
            let (root, root_entry) = items[range.start];
            let node = idx.push_node(root, root_entry, parent, pd);
            let rest = &mut items[range.start + 1..range.end];
            rest.sort_by_cached_key(|(h, _)| h.distance(&root));
            let mut i = 0;
            while i < rest.len() {
                let d = rest[i].0.distance(&root);
                let mut j = i + 1;
                while j < rest.len() && rest[j].0.distance(&root) == d {
                    j += 1;
                }
                if d == 0 {
                    let dups: Vec<EntryId> = rest[i..j].iter().map(|(_, e)| *e).collect();
                    for e in dups {
                        idx.add_entry(node, e);
                    }
                } else {
                    let base = range.start + 1;
                    groups.push((node, d as u16, base + i..base + j));
                }
                i = j;
            }
        }
        drop(items);
        idx.dirty_chunks = (0..idx.chunks()).collect();
        idx.rebuild_tables();
        (idx, skipped)
    }

    /// Number of distinct hashes (nodes), including ones whose entries were all removed.
    pub fn nodes(&self) -> usize {
        self.hashes.len()
    }

    /// Number of entries that can match.
    pub fn len(&self) -> usize {
        self.live_entries
    }

    /// True when no entry can match.
    pub fn is_empty(&self) -> bool {
        self.live_entries == 0
    }

    /// Approximate bytes of memory used.
    pub fn memory_bytes(&self) -> usize {
        let per_node = std::mem::size_of::<H>() + 4 + 4 + 4 + 2 + 4;
        self.hashes.capacity().max(self.hashes.len()) * per_node
            + self.more.len() * 48
            + self.mih.as_ref().map_or(0, Mih::memory_bytes)
    }

    /// Adds `entry` under `hash`. The same entry id may be added under several hashes; adding
    /// an identical (hash, entry) pair twice keeps one.
    pub fn insert(&mut self, hash: H, entry: EntryId) -> Result<(), Error> {
        if hash.is_degenerate() {
            return Err(Error::Degenerate);
        }
        self.insert_walk(hash, entry);
        Ok(())
    }

    /// Removes `entry` from `hash`; afterwards no query returns it under that hash.
    pub fn remove(&mut self, hash: &H, entry: EntryId) -> Result<(), Error> {
        let node = self.find(hash).ok_or(Error::NotFound { entry })?;
        let n = node as usize;
        self.dirty_chunks.insert(node / CHUNK);
        self.dirty_extras.insert(node);
        if self.entry[n] == entry {
            self.entry[n] = match self.more.get_mut(&node) {
                Some(rest) => {
                    let next = rest.remove(0);
                    if rest.is_empty() {
                        self.more.remove(&node);
                    }
                    next
                }
                None => NONE,
            };
        } else {
            let rest = self.more.get_mut(&node).ok_or(Error::NotFound { entry })?;
            let pos = rest
                .iter()
                .position(|e| *e == entry)
                .ok_or(Error::NotFound { entry })?;
            rest.remove(pos);
            if rest.is_empty() {
                self.more.remove(&node);
            }
        }
        self.live_entries -= 1;
        Ok(())
    }

    /// Makes room for `additional` more nodes (bulk loads know their size).
    pub fn reserve(&mut self, additional: usize) {
        self.hashes.reserve(additional);
        self.first_child.reserve(additional);
        self.next_sibling.reserve(additional);
        self.parent.reserve(additional);
        self.parent_distance.reserve(additional);
        self.entry.reserve(additional);
    }

    /// Rebuilds the multi-index tables over every node (after bulk changes) and releases the
    /// spare capacity that growth left behind.
    pub fn rebuild_tables(&mut self) {
        self.hashes.shrink_to_fit();
        self.first_child.shrink_to_fit();
        self.next_sibling.shrink_to_fit();
        self.parent.shrink_to_fit();
        self.parent_distance.shrink_to_fit();
        self.entry.shrink_to_fit();
        self.mih = (!self.hashes.is_empty()).then(|| Mih::build(&self.hashes));
    }

    /// Every entry within `radius` of `query`, each once at its smallest distance, sorted by
    /// distance then entry.
    pub fn query(&self, query: &H, radius: u32) -> Vec<Match> {
        self.query_with(query, radius, self.choose(radius))
    }

    /// Like [`HammingIndex::query`] with a forced strategy (for measurement and tests).
    pub fn query_with(&self, query: &H, radius: u32, strategy: Strategy) -> Vec<Match> {
        let mut found: Vec<(u32, u32)> = Vec::new();
        match strategy {
            Strategy::Scan => self.scan(query, radius, 0, &mut found),
            Strategy::BkTree => self.walk(query, radius, &mut found),
            Strategy::Mih => match &self.mih {
                Some(mih) => {
                    let plan = mih.plan(radius);
                    // Gather first, then check with the hash of a candidate a few places ahead
                    // already on its way from memory: the checks are random reads into the hash
                    // array, and overlapping their cache misses is most of the speed.
                    let mut cands: Vec<u32> = Vec::with_capacity(plan.candidates as usize + 64);
                    mih.candidates(query, &plan, |node| cands.push(node));
                    const AHEAD: usize = 12;
                    for (i, &node) in cands.iter().enumerate() {
                        if let Some(&next) = cands.get(i + AHEAD) {
                            prefetch(&self.hashes[next as usize]);
                        }
                        let d = self.hashes[node as usize].distance(query);
                        if d <= radius && self.entry[node as usize] != NONE {
                            found.push((node, d));
                        }
                    }
                    // Candidates can repeat across tables.
                    found.sort_unstable();
                    found.dedup();
                    self.scan(query, radius, mih.len(), &mut found);
                }
                None => self.scan(query, radius, 0, &mut found),
            },
        }
        self.expand(found)
    }

    /// Entries within `radius` of any of `variants` (for PDQ, the 8 dihedral hashes of one image
    /// in [`crate::hashing::Dihedral::ALL`] order), each once, with its smallest distance and the
    /// index of the variant that gave it (the first such variant on a tie).
    pub fn query_variants(&self, variants: &[H], radius: u32) -> Vec<(Match, usize)> {
        let mut best: HashMap<EntryId, (u32, usize)> = HashMap::new();
        for (v, q) in variants.iter().enumerate() {
            for m in self.query(q, radius) {
                let slot = best.entry(m.entry).or_insert((m.distance, v));
                if m.distance < slot.0 {
                    *slot = (m.distance, v);
                }
            }
        }
        let mut out: Vec<(Match, usize)> = best
            .into_iter()
            .map(|(entry, (distance, v))| (Match { entry, distance }, v))
            .collect();
        out.sort_unstable_by_key(|(m, v)| (m.distance, m.entry, *v));
        out
    }

    /// Queries many hashes in parallel (rayon), answers in query order.
    pub fn query_batch(&self, queries: &[H], radius: u32) -> Vec<Vec<Match>> {
        queries.par_iter().map(|q| self.query(q, radius)).collect()
    }

    /// The strategy expected to be cheapest for `radius` on this index.
    pub fn choose(&self, radius: u32) -> Strategy {
        let n = self.hashes.len() as f64;
        let scan = n * self.costs.scan_node;
        if radius <= 2 && n > 1.0 {
            // A BK-tree descends a handful of children per level at tiny radii.
            return Strategy::BkTree;
        }
        let Some(mih) = &self.mih else {
            return Strategy::Scan;
        };
        let plan = mih.plan(radius);
        let tail = (self.hashes.len() - mih.len()) as f64 * self.costs.scan_node;
        let cost = plan.probes as f64 * self.costs.mih_probe
            + plan.candidates * self.costs.mih_candidate
            + tail;
        if cost < scan {
            Strategy::Mih
        } else {
            Strategy::Scan
        }
    }

    /// Nodes a BK-tree walk visits for this query (to measure the tree).
    pub fn bktree_visits(&self, query: &H, radius: u32) -> usize {
        let mut visits = 0;
        self.walk_nodes(query, radius, |_, _| visits += 1);
        visits
    }

    fn scan(&self, query: &H, radius: u32, from: usize, found: &mut Vec<(u32, u32)>) {
        for (i, h) in self.hashes.iter().enumerate().skip(from) {
            let d = h.distance(query);
            if d <= radius && self.entry[i] != NONE {
                found.push((i as u32, d));
            }
        }
    }

    fn walk(&self, query: &H, radius: u32, found: &mut Vec<(u32, u32)>) {
        self.walk_nodes(query, radius, |node, d| {
            if d <= radius && self.entry[node as usize] != NONE {
                found.push((node, d));
            }
        });
    }

    /// Visits nodes the BK-tree cannot rule out, calling `visit(node, distance)` for each.
    fn walk_nodes(&self, query: &H, radius: u32, mut visit: impl FnMut(u32, u32)) {
        if self.hashes.is_empty() {
            return;
        }
        let mut stack = vec![0u32];
        while let Some(node) = stack.pop() {
            let d = self.hashes[node as usize].distance(query);
            visit(node, d);
            let (lo, hi) = (d.saturating_sub(radius), d + radius);
            let mut child = self.first_child[node as usize];
            while child != NONE {
                let cd = u32::from(self.parent_distance[child as usize]);
                if cd >= lo && cd <= hi {
                    stack.push(child);
                }
                child = self.next_sibling[child as usize];
            }
        }
    }

    /// The node holding exactly `hash`, if any (a BK-tree descent along distance-0 paths).
    fn find(&self, hash: &H) -> Option<u32> {
        if self.hashes.is_empty() {
            return None;
        }
        let mut node = 0u32;
        loop {
            let d = self.hashes[node as usize].distance(hash);
            if d == 0 {
                return Some(node);
            }
            node = self.child_at(node, d)?;
        }
    }

    fn child_at(&self, node: u32, d: u32) -> Option<u32> {
        let mut child = self.first_child[node as usize];
        while child != NONE {
            if u32::from(self.parent_distance[child as usize]) == d {
                return Some(child);
            }
            child = self.next_sibling[child as usize];
        }
        None
    }

    /// One descent of the BK-tree: adds `entry` to the node that holds `hash`, or attaches a new
    /// node where the descent ends.
    fn insert_walk(&mut self, hash: H, entry: EntryId) {
        let id = self.hashes.len() as u32;
        let (mut parent, mut parent_d) = (NONE, 0u16);
        if !self.hashes.is_empty() {
            let mut node = 0u32;
            loop {
                let d = self.hashes[node as usize].distance(&hash);
                if d == 0 {
                    return self.add_entry(node, entry);
                }
                match self.child_at(node, d) {
                    Some(c) => node = c,
                    None => {
                        (parent, parent_d) = (node, d as u16);
                        break;
                    }
                }
            }
        }
        self.push_node(hash, entry, parent, parent_d);
        self.dirty_chunks.insert(id / CHUNK);
    }

    /// Appends a node holding `entry` (`NONE` for none), as a child of `parent` at distance
    /// `parent_d` (or as the root when `parent` is `NONE`), and returns its id.
    fn push_node(&mut self, hash: H, entry: EntryId, parent: u32, parent_d: u16) -> u32 {
        let id = self.hashes.len() as u32;
        // Prepend to the parent's child list.
        if parent == NONE {
            self.next_sibling.push(NONE);
        } else {
            self.next_sibling.push(self.first_child[parent as usize]);
            self.first_child[parent as usize] = id;
        }
        self.hashes.push(hash);
        self.first_child.push(NONE);
        self.parent.push(parent);
        self.parent_distance.push(parent_d);
        self.entry.push(entry);
        // A persisted node may hold no entry (all removed): it still routes the tree.
        self.live_entries += usize::from(entry != NONE);
        id
    }

    fn add_entry(&mut self, node: u32, entry: EntryId) {
        let n = node as usize;
        self.dirty_chunks.insert(node / CHUNK);
        self.dirty_extras.insert(node);
        if self.entry[n] == NONE {
            self.entry[n] = entry;
        } else if self.entry[n] != entry {
            let rest = self.more.entry(node).or_default();
            if rest.contains(&entry) {
                return;
            }
            rest.push(entry);
        } else {
            return;
        }
        self.live_entries += 1;
    }

    /// Bytes of one persisted node record.
    const RECORD: usize = (H::BITS / 8) as usize + 4 + 2 + 4;

    /// Number of persisted chunks.
    pub fn chunks(&self) -> u32 {
        (self.hashes.len() as u32).div_ceil(CHUNK)
    }

    /// Chunk `c` as packed records: hash, parent node (u32), distance to parent (u16), first
    /// entry (u32), all big-endian. Children are implied by their parent field.
    pub fn encode_chunk(&self, c: u32) -> Vec<u8> {
        let start = (c * CHUNK) as usize;
        let end = (start + CHUNK as usize).min(self.hashes.len());
        let mut out = Vec::with_capacity((end - start) * Self::RECORD);
        for n in start..end {
            out.extend_from_slice(&self.hashes[n].to_bytes());
            out.extend_from_slice(&self.parent[n].to_be_bytes());
            out.extend_from_slice(&self.parent_distance[n].to_be_bytes());
            out.extend_from_slice(&self.entry[n].to_be_bytes());
        }
        out
    }

    /// Entries of `node` beyond its first, packed as big-endian u32 (empty when none).
    pub fn encode_extras(&self, node: u32) -> Vec<u8> {
        self.more.get(&node).map_or_else(Vec::new, |v| {
            v.iter().flat_map(|e| e.to_be_bytes()).collect()
        })
    }

    /// Chunks and nodes with extra entries changed since the last call, to persist
    /// incrementally; clears the record.
    pub fn take_dirty(&mut self) -> (Vec<u32>, Vec<u32>) {
        (
            std::mem::take(&mut self.dirty_chunks).into_iter().collect(),
            std::mem::take(&mut self.dirty_extras).into_iter().collect(),
        )
    }

    /// Rebuilds an index from its chunks (in order) and extra-entry lists, then its tables.
    pub fn from_persisted(
        chunks: impl IntoIterator<Item = Vec<u8>>,
        extras: impl IntoIterator<Item = (u32, Vec<u8>)>,
    ) -> Result<Self, Error> {
        let mut idx = Self::new();
        let u32_at = |b: &[u8], i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        for (c, chunk) in chunks.into_iter().enumerate() {
            let c = c as u32;
            if chunk.len() % Self::RECORD != 0 || chunk.is_empty() {
                return Err(Error::CorruptChunk {
                    chunk: c,
                    what: "length is not a whole number of records",
                });
            }
            if (idx.hashes.len() as u32) != c * CHUNK {
                return Err(Error::CorruptChunk {
                    chunk: c,
                    what: "an earlier chunk is short",
                });
            }
            let hb = (H::BITS / 8) as usize;
            for rec in chunk.chunks_exact(Self::RECORD) {
                let id = idx.hashes.len() as u32;
                let hash = H::from_bytes(&rec[..hb]).ok_or(Error::CorruptChunk {
                    chunk: c,
                    what: "hash",
                })?;
                let parent = u32_at(rec, hb);
                let pdist = u16::from_be_bytes([rec[hb + 4], rec[hb + 5]]);
                let entry = u32_at(rec, hb + 6);
                if (parent == NONE) != (id == 0) || (parent != NONE && parent >= id) {
                    return Err(Error::CorruptChunk {
                        chunk: c,
                        what: "parent link",
                    });
                }
                idx.push_node(hash, entry, parent, pdist);
            }
        }
        for (node, bytes) in extras {
            if node as usize >= idx.hashes.len() || bytes.len() % 4 != 0 {
                return Err(Error::CorruptChunk {
                    chunk: node / CHUNK,
                    what: "extra entries",
                });
            }
            let list: Vec<EntryId> = bytes.chunks_exact(4).map(|b| u32_at(b, 0)).collect();
            idx.live_entries += list.len();
            if !list.is_empty() {
                idx.more.insert(node, list);
            }
        }
        idx.rebuild_tables();
        Ok(idx)
    }

    /// Entries of the found nodes, each entry once at its smallest distance (an entry listed
    /// under several hashes can be reached through more than one node).
    fn expand(&self, found: Vec<(u32, u32)>) -> Vec<Match> {
        let mut out = Vec::with_capacity(found.len());
        for (node, d) in found {
            let n = node as usize;
            if self.entry[n] != NONE {
                out.push(Match {
                    entry: self.entry[n],
                    distance: d,
                });
            }
            if let Some(rest) = self.more.get(&node) {
                out.extend(rest.iter().map(|&e| Match {
                    entry: e,
                    distance: d,
                }));
            }
        }
        out.sort_unstable_by_key(|m| (m.entry, m.distance));
        out.dedup_by_key(|m| m.entry);
        out.sort_unstable_by_key(|m| (m.distance, m.entry));
        out
    }
}

/// Exact lookups for digests (and exact PDQ): hash bytes → entries, O(1).
#[derive(Debug, Default)]
pub struct ExactIndex<K: std::hash::Hash + Eq> {
    map: HashMap<K, Vec<EntryId>>,
    entries: usize,
}

impl<K: std::hash::Hash + Eq> ExactIndex<K> {
    /// An empty index.
    pub fn new() -> Self {
        ExactIndex {
            map: HashMap::new(),
            entries: 0,
        }
    }

    /// Adds `entry` under `key` (idempotent).
    pub fn insert(&mut self, key: K, entry: EntryId) {
        let v = self.map.entry(key).or_default();
        if !v.contains(&entry) {
            v.push(entry);
            self.entries += 1;
        }
    }

    /// Removes `entry` from `key`; true if it was there.
    pub fn remove(&mut self, key: &K, entry: EntryId) -> bool {
        let Some(v) = self.map.get_mut(key) else {
            return false;
        };
        let Some(pos) = v.iter().position(|e| *e == entry) else {
            return false;
        };
        v.swap_remove(pos);
        if v.is_empty() {
            self.map.remove(key);
        }
        self.entries -= 1;
        true
    }

    /// Entries under `key`.
    pub fn get(&self, key: &K) -> &[EntryId] {
        self.map.get(key).map_or(&[], Vec::as_slice)
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.entries == 0
    }
}

#[cfg(test)]
mod tests;
