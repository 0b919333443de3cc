//! Hashing benchmarks: decode and PDQ separately, at 512×512 and 1920×1080, plus the other hashes,
//! the committed HEIC/AVIF and animated files, and the bomb refusal. Run with `make bench` (or `cargo bench --bench hashing`).
//!
//! Inputs are the project's synthetic scenes, encoded in memory as JPEG q90 and PNG, so the
//! benchmark needs no files and measures the same pixels on every machine.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hashguard::fingerprint::{FileRecord, HashRequest, fingerprint_bytes};
use hashguard::hashing::{PdqHasher, digest_bytes, perceptual};
use hashguard::media::{self, Limits};
use hashguard::synth::{self, Pattern};
use image::DynamicImage;

fn inputs() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for (w, h) in [(512, 512), (1920, 1080)] {
        let img = DynamicImage::ImageRgb8(synth::render(Pattern::Scene, w, h, 7, 2));
        out.push((format!("{w}x{h}_jpeg"), synth::jpeg_bytes(&img, 90)));
        out.push((format!("{w}x{h}_png"), synth::png_bytes(&img)));
    }
    out
}

/// The committed test files in `dir` with one of `extensions`, read into memory.
fn committed(dir: &str, extensions: &[&str]) -> Vec<Vec<u8>> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .expect("committed test data")
        .map(|e| e.expect("readable test data").path())
        .filter(|p| {
            p.extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| extensions.contains(&e))
        })
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|p| std::fs::read(p).expect("readable test data"))
        .collect()
}

fn bench(c: &mut Criterion) {
    let limits = Limits::default();
    let mut hasher = PdqHasher::new();
    for (name, bytes) in inputs() {
        let img = media::decode_image(&bytes, &limits).expect("synthetic image decodes");
        let mut g = c.benchmark_group(name.as_str());
        g.throughput(Throughput::Elements(1));
        g.bench_function("decode", |b| {
            b.iter(|| media::decode_image(black_box(&bytes), &limits).unwrap())
        });
        let px = media::pixels_for_hashing(&img);
        g.bench_function("pdq_hash", |b| {
            b.iter(|| hasher.hash(black_box(&px.view())).unwrap())
        });
        g.bench_function("pdq_dihedral", |b| {
            b.iter(|| hasher.hash_dihedral(black_box(&px.view())).unwrap())
        });
        g.bench_function("phash_dhash", |b| {
            b.iter(|| perceptual::phash_dhash(black_box(&img)))
        });
        g.bench_function("digests", |b| b.iter(|| digest_bytes(black_box(&bytes))));
        let pdq_only = HashRequest {
            pdq: true,
            phash: false,
            dhash: false,
            digests: hashguard::hashing::DigestSet::NONE,
            ..HashRequest::ALL
        };
        g.bench_function("file_to_pdq", |b| {
            b.iter(|| {
                let mut rec = FileRecord::new(std::path::Path::new(&name));
                fingerprint_bytes(black_box(&bytes), &pdq_only, &limits, &mut rec);
                rec
            })
        });
        g.bench_function("file_to_all", |b| {
            b.iter(|| {
                let mut rec = FileRecord::new(std::path::Path::new(&name));
                fingerprint_bytes(black_box(&bytes), &HashRequest::ALL, &limits, &mut rec);
                rec
            })
        });
        g.finish();
    }
    // The committed HEIC/AVIF fixtures, all of them per iteration: the figure to set beside
    // scripts/bench-heif-peer.py (pillow-heif + pdqhash on the same files).
    let heif = committed("testdata/heif", &["heic", "avif"]);
    let animated = committed("testdata/animated", &["gif", "webp", "png"]);
    for (group, files) in [("heif_set", &heif), ("animated_set", &animated)] {
        let mut g = c.benchmark_group(group);
        g.throughput(Throughput::Elements(files.len() as u64));
        let pdq_only = HashRequest {
            phash: false,
            dhash: false,
            digests: hashguard::hashing::DigestSet::NONE,
            ..HashRequest::ALL
        };
        g.bench_function("files_to_pdq", |b| {
            b.iter(|| {
                for bytes in files {
                    let mut rec = FileRecord::new(std::path::Path::new("f"));
                    fingerprint_bytes(black_box(bytes), &pdq_only, &limits, &mut rec);
                    assert!(rec.error.is_none());
                }
            })
        });
        g.finish();
    }
    let bomb = synth::png_bomb_bytes(60_000, 60_000);
    c.bench_function("refuse_60000x60000_png", |b| {
        b.iter(|| media::decode_image(black_box(&bomb), &limits).unwrap_err())
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(std::time::Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
