//! Adapter for the peer benchmark `../shared/bench/peers/bench_match.py ext`: reads its raw
//! hash files, builds a [`HammingIndex`], answers every query, prints `qi<TAB>dbi<TAB>dist`
//! lines and a last stderr line of JSON timings.
//!
//! cargo run --release --example bench_match -- DB QUERIES BITS RADIUS MAXQ THREADS [STRATEGY]

use std::io::{BufWriter, Write};
use std::time::Instant;

use hashguard::index::{Bits256, HammingIndex, HashBits, Strategy};
use rayon::prelude::*;

fn cpu_seconds() -> f64 {
    // Process CPU time (user + system) from /proc, so the figure counts every thread.
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

fn run<H: HashBits>(
    db: &[u8],
    queries: &[u8],
    radius: u32,
    maxq: usize,
    strategy: Option<Strategy>,
) {
    let width = (H::BITS / 8) as usize;
    let t0 = Instant::now();
    let hashes = db.chunks_exact(width).filter_map(H::from_bytes).zip(0u32..);
    let (idx, skipped) = HammingIndex::<H>::build(hashes);
    let build_s = t0.elapsed().as_secs_f64();
    let qs: Vec<H> = queries
        .chunks_exact(width)
        .take(maxq)
        .filter_map(H::from_bytes)
        .collect();
    let (c0, t1) = (cpu_seconds(), Instant::now());
    let results: Vec<Vec<hashguard::index::Match>> = qs
        .par_iter()
        .map(|q| match strategy {
            Some(s) => idx.query_with(q, radius, s),
            None => idx.query(q, radius),
        })
        .collect();
    let (query_s, query_cpu_s) = (t1.elapsed().as_secs_f64(), cpu_seconds() - c0);
    let mut out = BufWriter::new(std::io::stdout().lock());
    for (qi, ms) in results.iter().enumerate() {
        for m in ms {
            let _ = writeln!(out, "{qi}\t{}\t{}", m.entry, m.distance);
        }
    }
    let _ = out.flush();
    eprintln!(
        "{{\"build_s\":{build_s:.3},\"query_s\":{query_s:.4},\"query_cpu_s\":{query_cpu_s:.3},\"index_mb\":{},\"skipped_degenerate\":{skipped},\"strategy\":\"{:?}\"}}",
        idx.memory_bytes() >> 20,
        strategy.unwrap_or_else(|| idx.choose(radius))
    );
}

fn main() {
    let a: Vec<String> = std::env::args().collect();
    if a.len() < 7 {
        eprintln!("usage: bench_match DB QUERIES BITS RADIUS MAXQ THREADS [mih|scan|bktree]");
        std::process::exit(64);
    }
    let read = |p: &str| std::fs::read(p).unwrap_or_else(|e| panic!("{p}: {e}"));
    let (db, queries) = (read(&a[1]), read(&a[2]));
    let (bits, radius): (u32, u32) = (a[3].parse().unwrap_or(256), a[4].parse().unwrap_or(31));
    let maxq: usize = a[5].parse().unwrap_or(usize::MAX);
    let threads: usize = a[6].parse().unwrap_or(1);
    let strategy = a.get(7).map(|s| match s.as_str() {
        "scan" => Strategy::Scan,
        "bktree" => Strategy::BkTree,
        _ => Strategy::Mih,
    });
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("thread pool");
    pool.install(|| match bits {
        64 => run::<u64>(&db, &queries, radius, maxq, strategy),
        _ => run::<Bits256>(&db, &queries, radius, maxq, strategy),
    });
}
