//! Index benchmarks: queries per second at PDQ radius 31 and 64-bit radius 10, per strategy,
//! on random hashes with planted near-duplicates. `make bench` runs 1M entries; set
//! HASHGUARD_BENCH_N=10000000 for the 10M figures (build takes a few seconds, memory ~1.2 GB).

use std::hint::black_box;
use std::time::Instant;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hashguard::index::{Bits256, HammingIndex, HashBits, Strategy};
use hashguard::synth::SplitMix;

fn n() -> usize {
    // `cargo test` runs benches once as a smoke test: keep that quick.
    if !std::env::args().any(|a| a == "--bench") {
        return 20_000;
    }
    std::env::var("HASHGUARD_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000)
}

/// Flips `d` distinct pseudo-random bits of `h`.
fn flip<H: HashBits>(h: H, d: u32, rng: &mut SplitMix, set: impl Fn(&mut H, u32)) -> H {
    let mut out = h;
    let mut used = Vec::new();
    while used.len() < d as usize {
        let b = (rng.next_u64() % u64::from(H::BITS)) as u32;
        if !used.contains(&b) {
            used.push(b);
            set(&mut out, b);
        }
    }
    out
}

fn bench(c: &mut Criterion) {
    let n = n();
    let mut rng = SplitMix::new(42);
    let t = Instant::now();
    let hashes: Vec<Bits256> = (0..n)
        .map(|_| std::array::from_fn(|_| rng.next_u64()))
        .collect();
    let (idx, _) = HammingIndex::build(hashes.iter().copied().zip(0u32..));
    eprintln!(
        "built {n} PDQ entries in {:.2?}, ~{} MB",
        t.elapsed(),
        idx.memory_bytes() >> 20
    );
    // Half the queries are planted 29–33 bits from an entry, half are unrelated.
    let queries: Vec<Bits256> = (0..1000)
        .map(|i| {
            if i % 2 == 0 {
                let base = hashes[(rng.next_u64() % n as u64) as usize];
                flip(base, 29 + (i as u32 / 2) % 5, &mut rng, |h, b| {
                    h[(b / 64) as usize] ^= 1 << (b % 64)
                })
            } else {
                std::array::from_fn(|_| rng.next_u64())
            }
        })
        .collect();
    let mut g = c.benchmark_group(format!("pdq_{n}_r31"));
    g.throughput(Throughput::Elements(queries.len() as u64));
    g.sample_size(10);
    for s in [Strategy::Mih, Strategy::Scan] {
        g.bench_function(format!("{s:?}"), |b| {
            b.iter(|| {
                queries
                    .iter()
                    .map(|q| idx.query_with(black_box(q), 31, s).len())
                    .sum::<usize>()
            })
        });
    }
    let few = &queries[..20];
    g.throughput(Throughput::Elements(few.len() as u64));
    g.bench_function("BkTree", |b| {
        b.iter(|| {
            few.iter()
                .map(|q| idx.query_with(black_box(q), 31, Strategy::BkTree).len())
                .sum::<usize>()
        })
    });
    g.finish();
    let visits: usize = few.iter().map(|q| idx.bktree_visits(q, 31)).sum();
    eprintln!(
        "BK-tree at radius 31 visits {:.1}% of {n} nodes",
        100.0 * visits as f64 / (few.len() * n) as f64
    );
    drop(idx);

    let h64: Vec<u64> = (0..n).map(|_| rng.next_u64()).collect();
    let (idx64, _) = HammingIndex::build(h64.iter().copied().zip(0u32..));
    let q64: Vec<u64> = (0..1000)
        .map(|i| {
            if i % 2 == 0 {
                flip(h64[i * 7 % n], 8 + (i as u32 / 2) % 5, &mut rng, |h, b| {
                    *h ^= 1 << b
                })
            } else {
                rng.next_u64()
            }
        })
        .collect();
    let mut g = c.benchmark_group(format!("hash64_{n}_r10"));
    g.throughput(Throughput::Elements(q64.len() as u64));
    g.sample_size(10);
    for s in [Strategy::Mih, Strategy::Scan] {
        g.bench_function(format!("{s:?}"), |b| {
            b.iter(|| {
                q64.iter()
                    .map(|q| idx64.query_with(black_box(q), 10, s).len())
                    .sum::<usize>()
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
