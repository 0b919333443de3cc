//! Adapter for the peer harness's match benchmark (`bench_match.py ext`): reads its raw
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
    db_path: &str,
    queries: &[u8],
    radius: u32,
    maxq: usize,
    strategy: Option<Strategy>,
) {
    let width = (H::BITS / 8) as usize;
    let t0 = Instant::now();
    let (idx, skipped) = {
        // Streamed, so resident memory is the index's alone.
        use std::io::Read;
        let file = std::fs::File::open(db_path).unwrap_or_else(|e| panic!("{db_path}: {e}"));
        let len = file.metadata().map_or(0, |m| m.len() as usize);
        let mut reader = std::io::BufReader::with_capacity(1 << 20, file);
        let mut items = Vec::with_capacity(len / width);
        let mut rec = vec![0u8; width];
        let mut e = 0u32;
        while reader.read_exact(&mut rec).is_ok() {
            if let Some(h) = H::from_bytes(&rec) {
                items.push((h, e));
            }
            e += 1;
        }
        let (idx, skipped) = HammingIndex::<H>::build(items);
        (idx, skipped)
    };
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
    // Single-query latency: one query at a time, on a sample.
    let mut lat: Vec<f64> = qs
        .iter()
        .take(1000)
        .map(|q| {
            let t = Instant::now();
            std::hint::black_box(idx.query(q, radius));
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    lat.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0.0)
    };
    let (p50, p99) = (pct(0.50), pct(0.99));
    let mut out = BufWriter::new(std::io::stdout().lock());
    for (qi, ms) in results.iter().enumerate() {
        for m in ms {
            let _ = writeln!(out, "{qi}\t{}\t{}", m.entry, m.distance);
        }
    }
    let _ = out.flush();
    eprintln!(
        "{{\"build_s\":{build_s:.3},\"query_s\":{query_s:.4},\"query_cpu_s\":{query_cpu_s:.3},\"lat_ms_p50\":{p50:.3},\"lat_ms_p99\":{p99:.3},\"index_mb\":{},\"skipped_degenerate\":{skipped},\"strategy\":\"{:?}\"}}",
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
    let queries = std::fs::read(&a[2]).unwrap_or_else(|e| panic!("{}: {e}", a[2]));
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
        64 => run::<u64>(&a[1], &queries, radius, maxq, strategy),
        _ => run::<Bits256>(&a[1], &queries, radius, maxq, strategy),
    });
}
