//! The index against brute force, on random, clustered and duplicate-heavy lists, after any mix
//! of inserts and removals, with every strategy.

use super::Strategy;
use super::*;
use proptest::prelude::{
    Just, ProptestConfig, TestCaseError, any, prop, prop_assert, prop_assert_eq, prop_oneof,
    proptest,
};
use proptest::strategy::Strategy as Gen;

/// The brute-force answer over live (hash, entry) pairs.
fn brute<H: HashBits>(live: &[(H, EntryId)], q: &H, r: u32) -> Vec<Match> {
    let mut out: Vec<Match> = live
        .iter()
        .filter_map(|(h, e)| {
            let d = h.distance(q);
            (d <= r).then_some(Match {
                entry: *e,
                distance: d,
            })
        })
        .collect();
    out.sort_unstable_by_key(|m| (m.entry, m.distance));
    out.dedup_by_key(|m| m.entry);
    out.sort_unstable_by_key(|m| (m.distance, m.entry));
    out
}

#[derive(Debug, Clone)]
enum Op {
    Insert(usize, EntryId),
    Remove(usize),
    Rebuild,
}

/// Hashes near a few centres (clusters), some exact duplicates, some uniform.
fn pool256() -> impl Gen<Value = Vec<Bits256>> {
    (
        prop::collection::vec(any::<[u64; 4]>(), 1..4),
        prop::collection::vec((0usize..4, any::<u64>(), 0u32..40), 1..120),
    )
        .prop_map(|(centres, specs)| {
            specs
                .into_iter()
                .map(|(c, seed, flips)| {
                    let mut h = centres[c % centres.len()];
                    let mut s = seed;
                    for _ in 0..flips {
                        s = s
                            .wrapping_mul(6364136223846793005)
                            .wrapping_add(1442695040888963407);
                        let b = (s >> 56) as usize;
                        h[b / 64] ^= 1 << (b % 64);
                    }
                    if seed % 7 == 0 {
                        [seed, seed.rotate_left(17), !seed, seed ^ 0x5555]
                    } else {
                        h
                    }
                })
                .collect()
        })
}

fn ops(n: usize) -> impl Gen<Value = Vec<Op>> {
    prop::collection::vec(
        prop_oneof![
            6 => (0..n, 0u32..50).prop_map(|(i, e)| Op::Insert(i, e)),
            2 => (0..1000usize).prop_map(Op::Remove),
            1 => Just(Op::Rebuild),
        ],
        1..150,
    )
}

fn run_and_check<H: HashBits>(
    pool: &[H],
    ops: &[Op],
    queries: &[(usize, u32)],
) -> Result<(), TestCaseError> {
    let mut idx = HammingIndex::<H>::new();
    let mut live: Vec<(H, EntryId)> = Vec::new();
    for op in ops {
        match *op {
            Op::Insert(i, e) => {
                let h = pool[i % pool.len()];
                match idx.insert(h, e) {
                    Ok(()) => {
                        if !live.contains(&(h, e)) {
                            live.push((h, e));
                        }
                    }
                    Err(Error::Degenerate) => prop_assert!(h.is_degenerate()),
                    Err(other) => return Err(TestCaseError::fail(format!("{other}"))),
                }
            }
            Op::Remove(k) if !live.is_empty() => {
                let (h, e) = live.swap_remove(k % live.len());
                idx.remove(&h, e)
                    .map_err(|err| TestCaseError::fail(err.to_string()))?;
                prop_assert!(idx.remove(&h, e).is_err(), "second removal must fail");
            }
            Op::Remove(_) => {}
            Op::Rebuild => idx.rebuild_tables(),
        }
    }
    prop_assert_eq!(idx.len(), live.len());
    // Close and reopen: the persisted form must answer exactly as the live index.
    let reopened = reopen(&idx);
    prop_assert_eq!(reopened.len(), live.len());
    // The bulk builder must give the same answers as incremental inserts.
    let (bulk, skipped) = HammingIndex::build(live.iter().copied());
    prop_assert_eq!((bulk.len(), skipped), (live.len(), 0));
    for &(qi, r) in queries {
        let q = pool[qi % pool.len()];
        let want = brute(&live, &q, r);
        prop_assert_eq!(idx.query(&q, r), want.clone(), "chosen strategy, r={}", r);
        prop_assert_eq!(reopened.query(&q, r), want.clone(), "reopened, r={}", r);
        prop_assert_eq!(
            reopen(&bulk).query(&q, r),
            want.clone(),
            "bulk-built and reopened, r={}",
            r
        );
        prop_assert_eq!(
            bulk.query_with(&q, r, Strategy::BkTree),
            want.clone(),
            "bulk BK-tree, r={}",
            r
        );
        for s in [Strategy::Scan, Strategy::BkTree, Strategy::Mih] {
            prop_assert_eq!(idx.query_with(&q, r, s), want.clone(), "{:?} r={}", s, r);
        }
    }
    Ok(())
}

/// Encodes every chunk and extra-entry list and decodes them, as a store round trip does.
fn reopen<H: HashBits>(idx: &HammingIndex<H>) -> HammingIndex<H> {
    let chunks: Vec<Vec<u8>> = (0..idx.chunks()).map(|c| idx.encode_chunk(c)).collect();
    let extras: Vec<(u32, Vec<u8>)> = (0..idx.nodes() as u32)
        .map(|n| (n, idx.encode_extras(n)))
        .filter(|(_, b)| !b.is_empty())
        .collect();
    HammingIndex::from_persisted(chunks, extras).expect("round trip")
}

#[test]
fn persistence_spans_chunks_and_rejects_damage() {
    let mut s = 7u64;
    let mut next = || {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        s
    };
    let mut idx = HammingIndex::<u64>::new();
    for e in 0..5000u32 {
        idx.insert(next(), e).unwrap();
    }
    let again = reopen(&idx);
    assert_eq!(idx.chunks(), 5);
    assert_eq!((again.nodes(), again.len()), (5000, 5000));
    let mut chunks: Vec<Vec<u8>> = (0..idx.chunks()).map(|c| idx.encode_chunk(c)).collect();
    chunks[2].truncate(100);
    assert!(matches!(
        HammingIndex::<u64>::from_persisted(chunks, []),
        Err(Error::CorruptChunk { .. })
    ));
    // Incremental persistence: only the touched chunks are dirty.
    idx.take_dirty();
    let h = idx.hashes[1500];
    idx.remove(&h, 1500).unwrap();
    idx.insert(next(), 9999).unwrap();
    let (chunks, _) = idx.take_dirty();
    assert_eq!(chunks, vec![1, 4]);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn pdq_index_equals_brute_force(pool in pool256(), ops in ops(120), queries in prop::collection::vec((0usize..1000, 0u32..=64), 1..12)) {
        run_and_check(&pool, &ops, &queries)?;
    }

    #[test]
    fn hash64_index_equals_brute_force(seeds in prop::collection::vec(any::<u64>(), 1..80), ops in ops(80), queries in prop::collection::vec((0usize..1000, 0u32..=64), 1..12)) {
        // Near-duplicates: each seed also appears with a few low bits flipped.
        let pool: Vec<u64> = seeds.iter().flat_map(|s| [*s, s ^ 0b1011, s ^ (1 << 63)]).collect();
        run_and_check(&pool, &ops, &queries)?;
    }
}

#[test]
fn single_entry_list_matches() {
    // HMA once shipped a bug where a one-hash bank never matched.
    let h: Bits256 = [1, 2, 3, 4];
    let (idx, skipped) = HammingIndex::build([(h, 7)]);
    assert_eq!(skipped, 0);
    for s in [Strategy::Scan, Strategy::BkTree, Strategy::Mih] {
        assert_eq!(
            idx.query_with(&h, 0, s),
            vec![Match {
                entry: 7,
                distance: 0
            }]
        );
    }
    let mut near = h;
    near[3] ^= 0b111;
    assert_eq!(
        idx.query(&near, 31),
        vec![Match {
            entry: 7,
            distance: 3
        }]
    );
    assert!(idx.query(&near, 2).is_empty());
}

#[test]
fn degenerate_hashes_are_refused() {
    let mut idx = HammingIndex::<Bits256>::new();
    assert_eq!(idx.insert([0; 4], 1), Err(Error::Degenerate));
    assert_eq!(idx.insert([u64::MAX; 4], 1), Err(Error::Degenerate));
    let mut idx64 = HammingIndex::<u64>::new();
    assert_eq!(idx64.insert(0, 1), Err(Error::Degenerate));
    assert!(idx.is_empty() && idx64.is_empty());
}

#[test]
fn pigeonhole_worst_case_is_found() {
    // 31 differences spread two per substring: what a fixed one-flip multi-index table misses.
    let mut s = 0x1234_5678_9abc_def0u64;
    let mut next = || {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        s
    };
    let hashes: Vec<(Bits256, EntryId)> = (0..50_000)
        .map(|i| ([next(), next(), next(), next()], i))
        .collect();
    let (idx, _) = HammingIndex::build(hashes.iter().copied());
    let target = hashes[12_345].0;
    for d in 29..=33u32 {
        let mut q = target;
        // Flip bits 0,1 then 16,17 then 32,33 …: two per 16-bit window, and d in total.
        for k in 0..d {
            let bit = (k / 2) * 16 + (k % 2);
            let bit = if bit >= 256 { 8 } else { bit };
            q[(bit / 64) as usize] ^= 1 << (63 - bit % 64);
        }
        assert_eq!(q.distance(&target), d);
        let found = idx
            .query_with(&q, 31, Strategy::Mih)
            .iter()
            .any(|m| m.entry == 12_345);
        assert_eq!(found, d <= 31, "distance {d}");
    }
}

#[test]
fn exact_index_inserts_and_removes() {
    let mut x = ExactIndex::new();
    x.insert([1u8; 16], 3);
    x.insert([1u8; 16], 3);
    x.insert([1u8; 16], 4);
    assert_eq!(x.get(&[1u8; 16]), &[3, 4]);
    assert!(x.remove(&[1u8; 16], 3));
    assert!(!x.remove(&[1u8; 16], 3));
    assert_eq!(x.get(&[1u8; 16]), &[4]);
    assert_eq!(x.len(), 1);
}

#[test]
fn rotated_image_is_found_through_its_dihedral_variant() {
    use crate::hashing::{Dihedral, PdqHasher, PixelLayout, PixelView};
    let img = crate::synth::render(crate::synth::Pattern::Scene, 300, 300, 5, 0);
    let rotated = image::imageops::rotate90(&img);
    let view = |i: &image::RgbImage| -> Vec<u8> { i.as_raw().clone() };
    let mut hasher = PdqHasher::new();
    let (variants, _) = hasher
        .hash_dihedral(&PixelView {
            width: 300,
            height: 300,
            layout: PixelLayout::Rgb8,
            data: &view(&img),
        })
        .unwrap();
    // The list holds the rotated copy; the query is the original's eight variants.
    let listed = hasher
        .hash(&PixelView {
            width: 300,
            height: 300,
            layout: PixelLayout::Rgb8,
            data: &view(&rotated),
        })
        .unwrap();
    let (idx, _) = HammingIndex::build([(listed.hash.words(), 42)]);
    let words: Vec<Bits256> = variants.iter().map(|h| h.words()).collect();
    let found = idx.query_variants(&words, 31);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].0.entry, 42);
    // imageops::rotate90 turns clockwise; the reference's Rotate90 is counter-clockwise.
    assert_eq!(Dihedral::ALL[found[0].1], Dihedral::Rotate270);
    assert_eq!(
        found[0].0.distance, 0,
        "an odd filter window makes the variant exact"
    );
    assert!(
        idx.query(&words[0], 31).is_empty(),
        "the unrotated hash alone does not match"
    );
}
