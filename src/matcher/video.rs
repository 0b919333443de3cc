//! Videos matched as videos: a query video against every listed video of a list, as Meta's vPDQ
//! compares two videos (the share of the query's frames found in the listed video and the
//! share of the listed video's frames found in the query), plus excerpts: a stretch of a
//! listed video found in order inside a longer query, which whole-video shares miss.
//!
//! Shares follow Meta's vPDQ matcher as HMA runs it (python-threatexchange's `vpdq_index`):
//! frames below the quality floor are left out on both sides, repeated hashes count once, and
//! two frames match within the radius inclusive. The listed frames of a list live in one
//! multi-index table ([`Mih`]) over their hashes, each frame knowing its video by position.
//!
//! Finding the listed videos a query may match costs one radius search per query frame, which
//! at tens of millions of listed frames is the whole cost. The discovery radius bounds that
//! search: a listed video becomes a candidate when some query frame lies within it of one of its
//! frames, and every candidate's shares and ranges are then computed exactly, frame against
//! frame, at the full radius. At the full radius discovery is exhaustive; by default it is the
//! widest radius whose search stays within [`DISCOVERY_BUDGET`] per query frame, which is the
//! full radius for small lists and 12 at 33 million listed frames (a copy of a listed video is
//! missed only if none of its frames lies within 12 bits of the original's).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::hashing::PdqHash;
use crate::hashing::vpdq::VideoFrame;
use crate::index::mih::Mih;
use crate::index::{Bits256, EntryId, HashBits};
use crate::lists::video::{VideoEntry, VideoSettings};

/// The cost (substring values probed plus expected candidates) one query frame may spend on
/// discovery when the list does not set a radius: at 33 million listed frames it allows radius
/// 12, 87 ms for a 1-hour query at 1 frame a second on one core (docs/performance.md); small
/// lists are searched at the full radius.
const DISCOVERY_BUDGET: f64 = 200.0;

/// A query frame is at most this far (ms) from the previous matched one for a run to go on:
/// two frame steps at 1 frame per second, so one frame that fails to match does not cut it.
const RUN_GAP_MS: u64 = 2_500;

/// A run's listed time may step back this much (ms) and still be "in order": repeated hashes
/// are kept at their first time.
const RUN_BACKSTEP_MS: u64 = 1_000;

/// How a listed video matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VideoMatchKind {
    /// Both shares reached the list's thresholds.
    Match,
    /// A stretch of at least the list's excerpt length appears in the query in order.
    Excerpt,
}

impl VideoMatchKind {
    /// `match` or `excerpt`.
    pub fn name(self) -> &'static str {
        match self {
            VideoMatchKind::Match => "match",
            VideoMatchKind::Excerpt => "excerpt",
        }
    }
}

/// A stretch of the query matched to a stretch of the listed video, seconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MatchedRange {
    /// `[start, end]` in the query.
    pub query: [f64; 2],
    /// `[start, end]` in the listed video.
    pub listed: [f64; 2],
}

/// What a listed video's match says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VideoMatch {
    /// `match` or `excerpt`.
    #[serde(rename = "match")]
    pub kind: VideoMatchKind,
    /// Share (0–1) of the query's distinct frames with a near frame in the listed video.
    pub query_share: f64,
    /// Share (0–1) of the listed video's distinct frames with a near frame in the query.
    pub listed_share: f64,
    /// The stretches matched in order (for an excerpt: those at least the excerpt length).
    pub ranges: Vec<MatchedRange>,
}

/// One listed video that matched, before its entry is read.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoHit {
    /// The list entry.
    pub entry: EntryId,
    /// Smallest frame distance over the matched pairs.
    pub distance: u32,
    /// Query frames (of sufficient quality) with a near frame in the listed video.
    pub frames_matched: u32,
    /// Shares, kind and ranges.
    pub video: VideoMatch,
}

/// Nearest listed frames kept per distinct query hash while comparing with one listed video.
const NEAR_KEPT: usize = 8;

/// A run of query frames matched in order: its range (listed: from where it started to the
/// furthest point it reached) and how many query frames it holds.
struct Run {
    range: MatchedRange,
    frames: u32,
}

/// A listed video: its entry and its frames' slots.
struct Listed {
    entry: EntryId,
    start: u32,
    end: u32,
    /// Typical time between its frames, ms (to turn a run's span into a length).
    step_ms: u32,
}

/// The listed videos of one list, ready for matching.
pub struct VideoIndex {
    /// Distinct frame hashes of sufficient quality, grouped by video.
    hashes: Vec<Bits256>,
    /// Each slot's (first) time in its video, ms.
    ts_ms: Vec<u32>,
    videos: Vec<Listed>,
    mih: Mih,
    settings: VideoSettings,
    radius: u32,
    /// The discovery radius in force (the setting's, else the widest within the budget).
    discovery: u32,
}

/// A query's frames reduced as the matcher uses them.
struct PreparedQuery {
    /// Distinct hashes of frames of sufficient quality.
    distinct: Vec<Bits256>,
    /// Each usable frame in time order: (time ms, its distinct hash).
    frames: Vec<(u64, u32)>,
}

impl VideoIndex {
    /// Indexes `videos` (entry id, frames) for matching at frame radius `radius`.
    pub fn build<V: std::borrow::Borrow<VideoEntry>>(
        videos: impl IntoIterator<Item = (EntryId, V)>,
        settings: VideoSettings,
        radius: u32,
    ) -> Self {
        let mut hashes = Vec::new();
        let mut ts_ms = Vec::new();
        let mut listed = Vec::new();
        let mut seen: HashMap<Bits256, ()> = HashMap::new();
        for (entry, v) in videos {
            let v = v.borrow();
            seen.clear();
            let start = hashes.len() as u32;
            let mut steps: Vec<u64> = v
                .frames
                .windows(2)
                .map(|w| w[1].ts_ms.saturating_sub(w[0].ts_ms))
                .filter(|d| *d > 0)
                .collect();
            for f in v
                .frames
                .iter()
                .filter(|f| f.quality >= settings.min_quality)
            {
                let w = f.pdq.words();
                if seen.insert(w, ()).is_none() {
                    hashes.push(w);
                    ts_ms.push(f.ts_ms.min(u64::from(u32::MAX)) as u32);
                }
            }
            let end = hashes.len() as u32;
            if end == start {
                // Nothing of sufficient quality: it can never match.
                continue;
            }
            steps.sort_unstable();
            let step_ms = steps
                .get(steps.len() / 2)
                .copied()
                .unwrap_or(1000)
                .min(60_000) as u32;
            listed.push(Listed {
                entry,
                start,
                end,
                step_ms,
            });
        }
        hashes.shrink_to_fit();
        ts_ms.shrink_to_fit();
        // Buckets of ~2 frames rather than the usual ~4: a query video probes once per frame,
        // thousands of times, so fewer candidates per probe pay for the wider tables (about
        // 13 more bytes a frame at 33 million frames).
        let log2 = usize::BITS - hashes.len().max(1).leading_zeros();
        let mih = Mih::build_with_bits(&hashes, log2.saturating_sub(1));
        let discovery = match settings.discovery_radius {
            Some(r) => r.min(radius),
            None => (0..=radius)
                .take_while(|&r| {
                    let p = mih.plan(r);
                    p.probes as f64 + p.candidates <= DISCOVERY_BUDGET
                })
                .last()
                .unwrap_or(0),
        };
        VideoIndex {
            hashes,
            ts_ms,
            videos: listed,
            mih,
            settings,
            radius,
            discovery,
        }
    }

    /// The discovery radius in force.
    pub fn discovery_radius(&self) -> u32 {
        self.discovery
    }

    /// Listed videos that can match.
    pub fn len(&self) -> usize {
        self.videos.len()
    }

    /// True when no video can match.
    pub fn is_empty(&self) -> bool {
        self.videos.is_empty()
    }

    /// Distinct listed frames indexed.
    pub fn frames(&self) -> usize {
        self.hashes.len()
    }

    /// Bytes held in memory (hashes, times, tables, videos).
    pub fn memory_bytes(&self) -> usize {
        self.hashes.capacity() * 32
            + self.ts_ms.capacity() * 4
            + self.videos.capacity() * std::mem::size_of::<Listed>()
            + self.mih.memory_bytes()
    }

    /// The settings it matches with.
    pub fn settings(&self) -> &VideoSettings {
        &self.settings
    }

    /// Changes the discovery radius (capped at the full radius), for measuring its cost.
    pub fn set_discovery_radius(&mut self, r: u32) {
        self.discovery = r.min(self.radius);
    }

    fn prepare(&self, query: &[VideoFrame]) -> PreparedQuery {
        let mut ids: HashMap<Bits256, u32> = HashMap::new();
        let mut distinct = Vec::new();
        let mut frames = Vec::new();
        for f in query
            .iter()
            .filter(|f| f.quality >= self.settings.min_quality)
        {
            let w = f.pdq.words();
            let id = *ids.entry(w).or_insert_with(|| {
                distinct.push(w);
                distinct.len() as u32 - 1
            });
            frames.push((f.ts_ms, id));
        }
        // Runs follow time: a query given out of order (a hand-made vPDQ file) is put in order.
        frames.sort_by_key(|(t, _)| *t);
        PreparedQuery { distinct, frames }
    }

    /// The video (position in `videos`) a slot belongs to.
    fn video_of(&self, slot: u32) -> usize {
        self.videos.partition_point(|v| v.start <= slot) - 1
    }

    /// Listed videos with a frame within the discovery radius of a query frame.
    fn candidates(&self, q: &PreparedQuery) -> Vec<usize> {
        let r = self.discovery;
        let plan = self.mih.plan(r);
        let mut found = std::collections::BTreeSet::new();
        for h in &q.distinct {
            self.mih.candidates(h, &plan, |node| {
                if self.hashes[node as usize].distance(h) <= r {
                    found.insert(self.video_of(node));
                }
            });
        }
        found.into_iter().collect()
    }

    /// Every listed video the query matches (`match`) or holds an excerpt of (`excerpt`), in
    /// entry order.
    pub fn matches(&self, query: &[VideoFrame]) -> Vec<VideoHit> {
        if self.videos.is_empty() {
            return Vec::new();
        }
        let q = self.prepare(query);
        if q.distinct.is_empty() {
            return Vec::new();
        }
        let mut out: Vec<VideoHit> = self
            .candidates(&q)
            .into_iter()
            .filter_map(|v| self.compare(&q, &self.videos[v]))
            .collect();
        out.sort_by_key(|h| h.entry);
        out
    }

    /// The exact comparison of a query with one listed video at the full radius.
    fn compare(&self, q: &PreparedQuery, v: &Listed) -> Option<VideoHit> {
        let slots = v.start as usize..v.end as usize;
        let mut listed_hit = vec![false; slots.len()];
        // Per distinct query hash: its nearest matching slots with their distances (a few are
        // enough to chain runs; the shares need only whether there is one). Bounded, so a
        // near-static query against a near-static listed video cannot take every pair.
        let mut near: Vec<Vec<(u32, u32)>> = vec![Vec::new(); q.distinct.len()];
        let mut best = u32::MAX;
        for (qi, h) in q.distinct.iter().enumerate() {
            let n = &mut near[qi];
            for (k, slot) in slots.clone().enumerate() {
                let d = self.hashes[slot].distance(h);
                if d <= self.radius {
                    listed_hit[k] = true;
                    best = best.min(d);
                    n.push((slot as u32, d));
                    if n.len() > NEAR_KEPT {
                        // Drop the farthest (the latest of equals).
                        let worst = (0..n.len()).max_by_key(|&i| (n[i].1, n[i].0)).unwrap_or(0);
                        n.swap_remove(worst);
                    }
                }
            }
        }
        let q_hits = near.iter().filter(|n| !n.is_empty()).count();
        if q_hits == 0 {
            return None;
        }
        let query_share = q_hits as f64 / q.distinct.len() as f64;
        let listed_share =
            listed_hit.iter().filter(|h| **h).count() as f64 / listed_hit.len() as f64;
        let runs = self.runs(q, &near);
        let s = &self.settings;
        // Shares are compared with a hair of slack so that 4 of 5 frames reach 0.8.
        let kind = if query_share + 1e-9 >= s.query_threshold
            && listed_share + 1e-9 >= s.listed_threshold
        {
            VideoMatchKind::Match
        } else if runs.iter().any(|r| self.is_excerpt(r, v)) {
            VideoMatchKind::Excerpt
        } else {
            return None;
        };
        let ranges = runs
            .iter()
            .filter(|r| kind == VideoMatchKind::Match || self.is_excerpt(r, v))
            .map(|r| r.range)
            .collect();
        let frames_matched = q
            .frames
            .iter()
            .filter(|(_, id)| !near[*id as usize].is_empty())
            .count() as u32;
        Some(VideoHit {
            entry: v.entry,
            distance: best,
            frames_matched,
            video: VideoMatch {
                kind,
                query_share,
                listed_share,
                ranges,
            },
        })
    }

    /// True when a run covers at least the excerpt length of the listed video, going forward:
    /// its forward span plus one frame step (at most a second), over two frames or more.
    fn is_excerpt(&self, r: &Run, v: &Listed) -> bool {
        let step = f64::from(v.step_ms.min(1000)) / 1000.0;
        let length = r.range.listed[1] - r.range.listed[0] + step;
        r.frames >= 2 && length + 1e-9 >= self.settings.excerpt_seconds
    }

    /// The query's matched frames, in time order, chained into runs that go forward through the
    /// listed video: each frame takes the near listed frame closest to where the run should
    /// be by now; a gap longer than [`RUN_GAP_MS`] or a jump out of order starts a new run.
    fn runs(&self, q: &PreparedQuery, near: &[Vec<(u32, u32)>]) -> Vec<Run> {
        let ms = |t: u64| t as f64 / 1000.0;
        let mut runs: Vec<Run> = Vec::new();
        // Query ms of the open run's last frame, and the furthest listed ms it has reached.
        let mut last: Option<(u64, u64)> = None;
        for &(qt, id) in &q.frames {
            let options = &near[id as usize];
            if options.is_empty() {
                continue;
            }
            let ts = |slot: u32| u64::from(self.ts_ms[slot as usize]);
            let follow = last.filter(|(lq, _)| qt.saturating_sub(*lq) <= RUN_GAP_MS);
            // Never more than a small step behind the furthest point reached, so a reversed or
            // shuffled clip cannot walk backwards one small step at a time.
            let next = follow.and_then(|(lq, far)| {
                let expect = far + qt.saturating_sub(lq);
                options
                    .iter()
                    .map(|&(s, _)| ts(s))
                    .filter(|&t| t + RUN_BACKSTEP_MS >= far && t <= expect + RUN_GAP_MS)
                    .min_by_key(|&t| t.abs_diff(expect))
            });
            match next {
                Some(t) => {
                    let r = runs.last_mut().expect("a run is open when `last` is set");
                    let far = last.map_or(t, |(_, f)| f.max(t));
                    r.range.query[1] = ms(qt);
                    r.range.listed[1] = ms(far);
                    r.frames += 1;
                    last = Some((qt, far));
                }
                None => {
                    // A new run starts at the nearest listed frame (ties: the earliest).
                    let t = options
                        .iter()
                        .min_by_key(|&&(s, d)| (d, ts(s)))
                        .map(|&(s, _)| ts(s))
                        .unwrap_or(0);
                    runs.push(Run {
                        range: MatchedRange {
                            query: [ms(qt), ms(qt)],
                            listed: [ms(t), ms(t)],
                        },
                        frames: 1,
                    });
                    last = Some((qt, t));
                }
            }
        }
        runs
    }
}

/// A query's frames from hashes and times (frames of quality 100), for callers that hold no
/// quality (the floor then keeps them all).
pub fn frames_of(hashes: &[(PdqHash, f64)]) -> Vec<VideoFrame> {
    hashes
        .iter()
        .enumerate()
        .map(|(i, (pdq, ts))| VideoFrame {
            number: i as u64,
            ts_ms: (ts.max(0.0) * 1000.0).round() as u64,
            pdq: *pdq,
            quality: 100,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(seed: u64) -> PdqHash {
        let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let mut bytes = [0u8; 32];
        for b in &mut bytes {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *b = x as u8;
        }
        PdqHash(bytes)
    }

    fn flip(h: PdqHash, bits: usize) -> PdqHash {
        let mut b = h.0;
        for i in 0..bits {
            b[(i * 7) % 32] ^= 1 << (i % 8);
        }
        PdqHash(b)
    }

    /// A clip of `secs` frames at 1 fps whose frame k has hash `seed + k`.
    fn clip(seed: u64, secs: u64) -> Vec<VideoFrame> {
        (0..secs)
            .map(|k| VideoFrame {
                number: k,
                ts_ms: k * 1000,
                pdq: hash(seed + k),
                quality: 100,
            })
            .collect()
    }

    fn index(videos: &[Vec<VideoFrame>], settings: VideoSettings) -> VideoIndex {
        let entries: Vec<VideoEntry> = videos
            .iter()
            .map(|f| VideoEntry::new(f.clone(), None).unwrap())
            .collect();
        VideoIndex::build(
            entries.iter().enumerate().map(|(i, v)| (i as u32, v)),
            settings,
            31,
        )
    }

    #[test]
    fn a_copy_matches_its_original_only() {
        let listed = [clip(1_000, 30), clip(2_000, 30), clip(3_000, 30)];
        let idx = index(&listed, VideoSettings::default());
        let copy: Vec<_> = clip(2_000, 30)
            .into_iter()
            .map(|f| VideoFrame {
                pdq: flip(f.pdq, 12),
                ..f
            })
            .collect();
        let hits = idx.matches(&copy);
        assert_eq!(hits.len(), 1, "{hits:?}");
        let h = &hits[0];
        assert_eq!((h.entry, h.distance, h.frames_matched), (1, 12, 30));
        assert_eq!(h.video.kind, VideoMatchKind::Match);
        assert_eq!((h.video.query_share, h.video.listed_share), (1.0, 1.0));
        assert_eq!(
            h.video.ranges,
            vec![MatchedRange {
                query: [0.0, 29.0],
                listed: [0.0, 29.0]
            }]
        );
        assert!(idx.matches(&clip(9_000, 30)).is_empty());
    }

    #[test]
    fn the_radius_is_inclusive_and_discovery_can_be_narrowed() {
        let listed = [clip(1_000, 10)];
        let at = |bits| -> Vec<VideoFrame> {
            clip(1_000, 10)
                .into_iter()
                .map(|f| VideoFrame {
                    pdq: flip(f.pdq, bits),
                    ..f
                })
                .collect()
        };
        let idx = index(&listed, VideoSettings::default());
        assert_eq!(idx.matches(&at(31)).len(), 1);
        assert!(idx.matches(&at(32)).is_empty());
        // Discovery at 16 does not see a copy whose every frame is 20 bits away...
        assert_eq!(
            idx.discovery_radius(),
            31,
            "a small list is searched exhaustively"
        );
        let narrow = index(
            &listed,
            VideoSettings {
                discovery_radius: Some(16),
                ..Default::default()
            },
        );
        assert!(narrow.matches(&at(20)).is_empty());
        // ...but once one frame is within it, the shares are exact at the full radius.
        let mut q = at(20);
        q[3].pdq = flip(listed[0][3].pdq, 5);
        let hits = narrow.matches(&q);
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].video.query_share, 1.0);
    }

    #[test]
    fn an_excerpt_inside_a_longer_video_is_located() {
        // Listed: 20 s. Query: 30 s of other material, listed 4..=13 s, 30 s more.
        let listed = [clip(5_000, 20)];
        let idx = index(&listed, VideoSettings::default());
        let mut q = clip(70_000, 30);
        q.extend((4..14).map(|k| VideoFrame {
            number: 30 + k - 4,
            ts_ms: (30 + k - 4) * 1000,
            pdq: flip(hash(5_000 + k), 6),
            quality: 100,
        }));
        q.extend(clip(80_000, 30).into_iter().map(|f| VideoFrame {
            number: f.number + 40,
            ts_ms: f.ts_ms + 40_000,
            ..f
        }));
        let hits = idx.matches(&q);
        assert_eq!(hits.len(), 1, "{hits:?}");
        let v = &hits[0].video;
        assert_eq!(v.kind, VideoMatchKind::Excerpt);
        assert!((v.query_share - 10.0 / 70.0).abs() < 1e-9);
        assert!((v.listed_share - 0.5).abs() < 1e-9);
        assert_eq!(
            v.ranges,
            vec![MatchedRange {
                query: [30.0, 39.0],
                listed: [4.0, 13.0]
            }]
        );
        // Four seconds are not an excerpt of five.
        let short: Vec<_> = q
            .iter()
            .filter(|f| f.ts_ms < 30_000 || f.ts_ms >= 36_000)
            .copied()
            .collect();
        assert!(idx.matches(&short).is_empty());
    }

    #[test]
    fn frames_out_of_order_are_not_an_excerpt() {
        let listed = [clip(5_000, 20)];
        let idx = index(&listed, VideoSettings::default());
        // 60 s of other material around 12 listed frames (so the query share stays low and only
        // an excerpt could be reported): in order, reversed, and jumping back and forth.
        let around = |inner: Vec<u64>| -> Vec<VideoFrame> {
            let mut hashes: Vec<PdqHash> = (0..30).map(|k| hash(90_000 + k)).collect();
            hashes.extend(inner.iter().map(|&k| hash(5_000 + k)));
            hashes.extend((30..60).map(|k| hash(90_000 + k)));
            hashes
                .into_iter()
                .enumerate()
                .map(|(k, pdq)| VideoFrame {
                    number: k as u64,
                    ts_ms: k as u64 * 1000,
                    pdq,
                    quality: 100,
                })
                .collect()
        };
        let excerpt = |q: Vec<VideoFrame>| {
            idx.matches(&q)
                .iter()
                .any(|h| h.video.kind == VideoMatchKind::Excerpt)
        };
        assert!(excerpt(around((2..14).collect())), "in order: an excerpt");
        assert!(!excerpt(around((2..14).rev().collect())), "reversed");
        let zigzag: Vec<u64> = (0..12)
            .map(|k| if k % 2 == 0 { 2 + k } else { 16 - k })
            .collect();
        assert!(!excerpt(around(zigzag)), "back and forth");
        // One matched frame is never an excerpt, whatever the listed video's frame spacing.
        assert!(!excerpt(around(vec![3])));
    }

    #[test]
    fn low_quality_and_repeated_frames_count_as_vpdq_counts_them() {
        // Listed: 4 distinct good frames, the last repeated 6 times, and 10 flat frames.
        let mut listed = clip(1_000, 4);
        listed.extend((4..10).map(|k| VideoFrame {
            number: k,
            ts_ms: k * 1000,
            pdq: hash(1_003),
            quality: 100,
        }));
        listed.extend((10..20).map(|k| VideoFrame {
            number: k,
            ts_ms: k * 1000,
            pdq: PdqHash([0; 32]),
            quality: 0,
        }));
        let idx = index(std::slice::from_ref(&listed), VideoSettings::default());
        assert_eq!(idx.frames(), 4);
        // The same flat frames in a query count on neither side.
        let mut q: Vec<_> = (0..10)
            .map(|k| VideoFrame {
                number: k,
                ts_ms: k * 1000,
                pdq: PdqHash([0; 32]),
                quality: 0,
            })
            .collect();
        assert!(idx.matches(&q).is_empty(), "flat frames never match");
        // One good frame, found: shares 1 of 1 and 1 of 4, a match at vPDQ's defaults (query
        // 80%, listed 0%) and none at a listed threshold of 50%.
        q.push(VideoFrame {
            number: 10,
            ts_ms: 10_000,
            pdq: hash(1_000),
            quality: 100,
        });
        let hits = idx.matches(&q);
        assert_eq!(hits.len(), 1, "{hits:?}");
        assert_eq!(
            (hits[0].video.query_share, hits[0].video.listed_share),
            (1.0, 0.25)
        );
        let strict = VideoSettings {
            listed_threshold: 0.5,
            ..Default::default()
        };
        assert!(index(&[listed], strict).matches(&q).is_empty());
        // The whole listed clip: shares over distinct frames are 100%.
        let hits = idx.matches(&clip(1_000, 4));
        assert_eq!(
            (hits[0].video.query_share, hits[0].video.listed_share),
            (1.0, 1.0)
        );
    }
}
