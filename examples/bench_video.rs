//! Video-list figures for docs/performance.md (scripts/bench-video-lists.sh runs it):
//! - import time of a list of VIDEOS synthetic videos of 60-600 frames each (1 frame a second,
//!   random PDQ hashes), from hashguard's JSON lines;
//! - load time and resident memory per listed frame once the list is loaded for matching;
//! - matching time per query video after hashing, one core: a 1-hour query at 1 frame a second
//!   that matches nothing, the same with a 60-second excerpt of a listed video inside, and a
//!   copy of a listed video; at the list's discovery radius and narrower ones.
//!
//!   bench_video DIR [VIDEOS]
//!
//! Prints one JSON line per figure.

use std::io::{BufWriter, Write};
use std::sync::Arc;
use std::time::Instant;

use hashguard::hashing::PdqHash;
use hashguard::hashing::vpdq::VideoFrame;
use hashguard::lists::{self, ImportOptions, ListFormat, Mode, Settings};
use hashguard::matcher::video::VideoIndex;
use hashguard::store::Store;
use hashguard::synth::SplitMix;

fn random_hash(rng: &mut SplitMix) -> PdqHash {
    let mut b = [0u8; 32];
    for c in b.chunks_exact_mut(8) {
        c.copy_from_slice(&rng.next_u64().to_le_bytes());
    }
    PdqHash(b)
}

/// `h` with `bits` of its bits flipped (spread over the hash).
fn flip(h: PdqHash, bits: usize) -> PdqHash {
    let mut b = h.0;
    for i in 0..bits {
        b[(i * 11) % 32] ^= 1 << (i % 8);
    }
    PdqHash(b)
}

/// Resident memory of this process, bytes.
fn rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// Frames of video `i`: its length and hashes come from the seed alone, so they can be
/// regenerated for the queries without keeping them.
fn video(i: u64) -> Vec<VideoFrame> {
    let mut rng = SplitMix::new(0x5EED_0000 + i);
    let n = 60 + rng.next_u64() % 541;
    (0..n)
        .map(|k| VideoFrame {
            number: k,
            ts_ms: k * 1000,
            pdq: random_hash(&mut rng),
            quality: 100,
        })
        .collect()
}

fn at_1fps(hashes: Vec<PdqHash>) -> Vec<VideoFrame> {
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
}

/// Median of `reps` timings of `f`, milliseconds, and its last result.
fn time<T>(reps: usize, mut f: impl FnMut() -> T) -> (f64, T) {
    let mut ms = Vec::new();
    let mut last = None;
    for _ in 0..reps {
        let t = Instant::now();
        last = Some(f());
        ms.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    ms.sort_by(f64::total_cmp);
    (ms[ms.len() / 2], last.expect("reps > 0"))
}

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = std::path::PathBuf::from(args.next().expect("usage: bench_video DIR [VIDEOS]"));
    let videos: u64 = args.next().map_or(100_000, |v| v.parse().expect("VIDEOS"));
    std::fs::create_dir_all(&dir).unwrap();

    // The list file, in hashguard's JSON lines.
    let list = dir.join("videos.jsonl");
    let t = Instant::now();
    let mut frames_total = 0u64;
    {
        let mut w = BufWriter::with_capacity(1 << 20, std::fs::File::create(&list).unwrap());
        for i in 0..videos {
            let v = video(i);
            frames_total += v.len() as u64;
            write!(w, "{{\"id\":\"v{i}\",\"kind\":\"vpdq\",\"frames\":[").unwrap();
            for (k, f) in v.iter().enumerate() {
                let sep = if k == 0 { "" } else { "," };
                write!(
                    w,
                    "{sep}{{\"ts\":{},\"quality\":{},\"pdq\":\"{}\"}}",
                    f.ts(),
                    f.quality,
                    f.pdq
                )
                .unwrap();
            }
            writeln!(w, "]}}").unwrap();
        }
        w.flush().unwrap();
    }
    let bytes = std::fs::metadata(&list).unwrap().len();
    println!(
        "{}",
        serde_json::json!({"figure": "list file", "videos": videos, "frames": frames_total,
            "bytes": bytes, "seconds": t.elapsed().as_secs_f64()})
    );

    // Import: parse, write every entry, build, verify by reading back, publish.
    let data = dir.join("data");
    let _ = std::fs::remove_dir_all(&data);
    let store = Arc::new(Store::open(&data).unwrap());
    let opts = ImportOptions {
        format: ListFormat::Jsonl,
        read: Default::default(),
        mode: Mode::Full,
        settings: Settings {
            source: "bench".into(),
            ..Settings::default()
        },
    };
    let t = Instant::now();
    let input = std::io::BufReader::with_capacity(1 << 20, std::fs::File::open(&list).unwrap());
    let staged = lists::import(&store, "videos", input, &opts).unwrap();
    let import_s = t.elapsed().as_secs_f64();
    println!(
        "{}",
        serde_json::json!({"figure": "import", "entries": staged.meta.entries,
            "seconds": import_s, "frames_per_second": frames_total as f64 / import_s})
    );
    let _ = std::fs::remove_file(&list);

    // Load for matching, and the memory it holds.
    let before = rss();
    let t = Instant::now();
    let meta = lists::get(&store, "videos").unwrap();
    let mut loaded = hashguard::matcher::load(&store, &meta).unwrap();
    let load_s = t.elapsed().as_secs_f64();
    let after = rss();
    let idx: &mut VideoIndex = loaded.videos.as_mut().expect("videos loaded");
    println!(
        "{}",
        serde_json::json!({"figure": "load", "seconds": load_s, "videos": idx.len(),
            "frames": idx.frames(), "auto_discovery_radius": idx.discovery_radius(),
            "rss_growth_bytes": after.saturating_sub(before),
            "rss_bytes_per_frame": after.saturating_sub(before) as f64 / idx.frames() as f64,
            "index_bytes_per_frame": idx.memory_bytes() as f64 / idx.frames() as f64})
    );

    // Queries: 1 hour at 1 fps.
    let mut rng = SplitMix::new(42);
    let unrelated: Vec<PdqHash> = (0..3600).map(|_| random_hash(&mut rng)).collect();
    let mut with_excerpt = unrelated.clone();
    let source = video(777);
    let excerpt: Vec<PdqHash> = source.iter().take(60).map(|f| flip(f.pdq, 10)).collect();
    with_excerpt.splice(1800..1800 + excerpt.len(), excerpt);
    let copy: Vec<PdqHash> = video(31_337 % videos)
        .iter()
        .map(|f| flip(f.pdq, 12))
        .collect();
    let queries = [
        ("1 h, no match", at_1fps(unrelated)),
        ("1 h with a 60 s excerpt", at_1fps(with_excerpt)),
        ("a copy of a listed video", at_1fps(copy)),
    ];
    let auto = idx.discovery_radius();
    for radius in [auto, 31, 16, 12, 10] {
        idx.set_discovery_radius(radius);
        for (name, q) in &queries {
            let (ms, hits) = time(3, || idx.matches(q));
            let found: Vec<String> = hits
                .iter()
                .map(|h| format!("{} {}", h.entry, h.video.kind.name()))
                .collect();
            println!(
                "{}",
                serde_json::json!({"figure": "match", "query": name, "query_frames": q.len(),
                    "discovery_radius": radius, "ms": ms, "found": found})
            );
        }
    }
}
