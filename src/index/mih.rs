//! Multi-index hashing (Norouzi, Punjani and Fleet, CVPR 2012) with full recall at any radius.
//!
//! The hash is cut into `m` substrings and each gets a table from substring value to nodes. By
//! the generalised pigeonhole principle, if two hashes differ in at most `r` bits and the
//! per-table radii `t_i` (−1 meaning "table not probed") satisfy Σ(t_i + 1) ≥ r + 1, then some
//! substring differs by at most its `t_i`. So probing every table at its `t_i` finds every hash
//! within `r`: recall is guaranteed by construction, not by luck, whatever the data.
//!
//! Written by hand because no crate offers exact-radius multi-index hashing over a shared hash
//! array; faiss's `IndexBinaryMultiHash` probes one fixed flip count per table, which misses
//! hashes whose differences fall two to a substring unless its flips are raised everywhere.

use rayon::prelude::*;

use super::bits::{HashBits, ball_size, for_each_within};

/// One substring table in CSR form: nodes whose substring is `k` are
/// `nodes[offsets[k]..offsets[k + 1]]`.
struct Table {
    start: u32,
    bits: u32,
    offsets: Vec<u32>,
    nodes: Vec<u32>,
}

/// Substring tables over nodes `0..len` of a hash array.
pub struct Mih {
    tables: Vec<Table>,
    len: usize,
    /// Plans for radii 0..=64, computed once when the tables are built.
    plans: Vec<Plan>,
}

/// Radii whose plans are computed at build time.
const CACHED_PLANS: u32 = 64;

/// Per-table probe radii for one query radius, and the estimated cost of probing them.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Radius per table; −1 skips the table.
    pub radii: Vec<i32>,
    /// Number of substring values probed.
    pub probes: u64,
    /// Expected candidate hashes to check, if substrings were uniform.
    pub candidates: f64,
}

impl Mih {
    /// Substring width for `n` hashes of `bits` bits: about log2(n) − 2 bits (so buckets hold
    /// ~4 hashes), at least 8, at most 24 (a 2^24-entry offset table is 64 MiB).
    pub fn substring_bits(n: usize, bits: u32) -> u32 {
        let log2 = usize::BITS - n.max(1).leading_zeros();
        log2.saturating_sub(2).clamp(8, 24).min(bits)
    }

    /// Builds tables over `hashes` (one node per hash), tables in parallel.
    pub fn build<H: HashBits>(hashes: &[H]) -> Self {
        Self::build_with_bits(hashes, Self::substring_bits(hashes.len(), H::BITS))
    }

    /// [`Mih::build`] with substrings of about `target` bits (8 to 24): wider substrings give
    /// fewer tables and smaller buckets, for more memory.
    pub fn build_with_bits<H: HashBits>(hashes: &[H], target: u32) -> Self {
        let n = hashes.len();
        let target = target.clamp(8, 24).min(H::BITS);
        let m = H::BITS.div_ceil(target);
        // Spread the bits as evenly as possible over m substrings.
        let (base, extra) = (H::BITS / m, H::BITS % m);
        let mut layout = Vec::with_capacity(m as usize);
        let mut start = 0;
        for i in 0..m {
            let bits = base + u32::from(i < extra);
            layout.push((start, bits));
            start += bits;
        }
        let tables = layout
            .into_par_iter()
            .map(|(start, bits)| {
                let size = 1usize << bits;
                let mut offsets = vec![0u32; size + 1];
                for h in hashes {
                    offsets[h.substring(start, bits) as usize + 1] += 1;
                }
                for k in 0..size {
                    offsets[k + 1] += offsets[k];
                }
                let mut fill = offsets.clone();
                let mut nodes = vec![0u32; n];
                for (node, h) in hashes.iter().enumerate() {
                    let k = h.substring(start, bits) as usize;
                    nodes[fill[k] as usize] = node as u32;
                    fill[k] += 1;
                }
                Table {
                    start,
                    bits,
                    offsets,
                    nodes,
                }
            })
            .collect();
        let mut mih = Mih {
            tables,
            len: n,
            plans: Vec::new(),
        };
        mih.plans = (0..=CACHED_PLANS).map(|r| mih.compute_plan(r)).collect();
        mih
    }

    /// Nodes covered (the hash array's length when built).
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when built over no hashes.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes of memory the tables use.
    pub fn memory_bytes(&self) -> usize {
        self.tables
            .iter()
            .map(|t| 4 * (t.offsets.len() + t.nodes.len()))
            .sum()
    }

    /// Cheapest per-table radii that guarantee recall at `radius` (cached for common radii).
    pub fn plan(&self, radius: u32) -> std::borrow::Cow<'_, Plan> {
        match self.plans.get(radius as usize) {
            Some(p) => std::borrow::Cow::Borrowed(p),
            None => std::borrow::Cow::Owned(self.compute_plan(radius)),
        }
    }

    /// Raises, one step at a time, the table whose next step adds the fewest probes and
    /// candidates, until the pigeonhole bound holds for `radius`.
    fn compute_plan(&self, radius: u32) -> Plan {
        let m = self.tables.len();
        let mut radii = vec![-1i32; m];
        let step_cost = |t: &Table, r: i32| -> f64 {
            // Values at exactly distance r+1 from the key, each a probe plus its bucket.
            let k = (r + 1) as u32;
            let count =
                (ball_size(t.bits, k) - if k == 0 { 0 } else { ball_size(t.bits, k - 1) }) as f64;
            count * (1.0 + self.len as f64 / (1u64 << t.bits) as f64)
        };
        let need = radius as i64 + 1;
        let mut have = 0i64;
        while have < need {
            let Some((best, _)) = self
                .tables
                .iter()
                .enumerate()
                .filter(|(i, t)| radii[*i] < t.bits as i32)
                .map(|(i, t)| (i, step_cost(t, radii[i])))
                .min_by(|a, b| a.1.total_cmp(&b.1))
            else {
                break; // every table at full radius: probes cover everything
            };
            radii[best] += 1;
            have += 1;
        }
        let mut probes = 0u64;
        let mut candidates = 0f64;
        for (t, &r) in self.tables.iter().zip(&radii) {
            if r >= 0 {
                let p = ball_size(t.bits, r as u32);
                probes += p;
                candidates += p as f64 * self.len as f64 / (1u64 << t.bits) as f64;
            }
        }
        Plan {
            radii,
            probes,
            candidates,
        }
    }

    /// Calls `f(node)` for every candidate node whose substrings are within the plan's radii of
    /// the query's (a node may come more than once, from different tables).
    pub fn candidates<H: HashBits>(&self, query: &H, plan: &Plan, mut f: impl FnMut(u32)) {
        for (t, &r) in self.tables.iter().zip(&plan.radii) {
            if r < 0 {
                continue;
            }
            let key = query.substring(t.start, t.bits);
            for_each_within(key, t.bits, r as u32, |k| {
                let (a, b) = (
                    t.offsets[k as usize] as usize,
                    t.offsets[k as usize + 1] as usize,
                );
                for &node in &t.nodes[a..b] {
                    f(node);
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_satisfy_the_pigeonhole_bound() {
        let hashes: Vec<[u64; 4]> = (0..5000u64)
            .map(|i| [i.wrapping_mul(0x9E37_79B9_7F4A_7C15); 4])
            .collect();
        let mih = Mih::build(&hashes);
        for r in 0..=80 {
            let plan = mih.plan(r);
            let slack: i64 = plan.radii.iter().map(|&t| i64::from(t) + 1).sum();
            assert!(slack > i64::from(r), "r={r}: {plan:?}");
        }
    }

    #[test]
    fn layout_covers_every_bit_once() {
        let mih = Mih::build(&[0u64; 10]);
        let mut next = 0;
        for t in &mih.tables {
            assert_eq!(t.start, next);
            next += t.bits;
        }
        assert_eq!(next, 64);
    }
}
