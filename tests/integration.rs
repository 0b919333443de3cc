//! hashguard's integration tests: the library against Meta's reference vectors, and the
//! `hashguard` binary as a user runs it. One test binary (see README "Tests").

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::HashMap;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use hashguard::fingerprint::{FileRecord, HashRequest, Reason, fingerprint_file};
use hashguard::hashing::{PdqHash, PdqHasher};
use hashguard::media::{self, Limits};

use common::{hashguard, testdata};

// ---------------------------------------------------------------- allocation tracking
/// Counts the largest single allocation made by a thread that turned tracking on, so tests
/// running in parallel don't disturb the count.
struct Tracking;
thread_local! {
    // Const-initialised with no destructor: safe to read from inside the allocator.
    static TRACK: Cell<bool> = const { Cell::new(false) };
}
static LARGEST: AtomicUsize = AtomicUsize::new(0);

// SAFETY: delegates every call to the system allocator unchanged; only records sizes.
unsafe impl GlobalAlloc for Tracking {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if TRACK.try_with(Cell::get).unwrap_or(false) {
            LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        }
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOC: Tracking = Tracking;

#[path = "integration/common.rs"]
mod common;
#[path = "integration/media.rs"]
mod media_blind_spots;
#[path = "integration/postgres.rs"]
mod postgres;
#[path = "integration/rest.rs"]
mod rest;
#[path = "integration/sandbox.rs"]
mod sandbox;
#[path = "integration/scan.rs"]
mod scan;
#[path = "integration/seized.rs"]
mod seized;
#[path = "integration/server.rs"]
mod server;
#[path = "integration/sync.rs"]
mod sync;
#[path = "integration/video.rs"]
mod video;
#[path = "integration/video_lists.rs"]
mod video_lists;

// ---------------------------------------------------------------- test data
struct Reference {
    pdq: PdqHash,
    quality: u8,
    dihedral: Vec<PdqHash>,
}

/// testdata/pdq_reference.tsv, computed by testdata/refvectors.py with Meta's reference.
fn reference() -> HashMap<String, Reference> {
    let text = std::fs::read_to_string(testdata("pdq_reference.tsv")).expect("reference vectors");
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            let r = Reference {
                pdq: f[1].parse().unwrap(),
                quality: f[2].parse().unwrap(),
                dihedral: f[3].split(',').map(|h| h.parse().unwrap()).collect(),
            };
            (f[0].to_string(), r)
        })
        .collect()
}

struct ManifestRow {
    path: String,
    base: String,
    transform: String,
    expect_error: String,
}

fn manifest() -> Vec<ManifestRow> {
    let text = std::fs::read_to_string(testdata("images/manifest.csv")).unwrap();
    text.lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            ManifestRow {
                path: f[0].into(),
                base: f[1].into(),
                transform: f[2].into(),
                expect_error: f[3].into(),
            }
        })
        .collect()
}

fn hash_all(rows: &[ManifestRow]) -> HashMap<String, FileRecord> {
    use rayon::prelude::*;
    rows.par_iter()
        .map(|r| {
            (
                r.path.clone(),
                fingerprint_file(
                    &testdata("images").join(&r.path),
                    &HashRequest::ALL,
                    &Limits::default(),
                ),
            )
        })
        .collect()
}

// ---------------------------------------------------------------- PDQ vs the reference
#[test]
fn pdq_agrees_with_meta_reference() {
    let reference = reference();
    let rows: Vec<ManifestRow> = manifest()
        .into_iter()
        .filter(|r| r.expect_error.is_empty())
        .collect();
    assert_eq!(
        rows.len(),
        reference.len(),
        "every decodable test image has a reference vector"
    );
    let ours = hash_all(&rows);

    let (mut lossless, mut jpeg) = (Vec::new(), Vec::new());
    let mut worst_quality = 0i32;
    for r in &rows {
        let rec = &ours[&r.path];
        let want = &reference[&r.path];
        let got = rec
            .pdq
            .unwrap_or_else(|| panic!("{} not hashed: {:?}", r.path, rec.detail));
        let d = got.distance(&want.pdq);
        if r.path.ends_with(".jpg") {
            jpeg.push(d)
        } else {
            lossless.push(d)
        }
        worst_quality = worst_quality
            .max((i32::from(rec.pdq_quality.unwrap()) - i32::from(want.quality)).abs());
    }
    let identical = lossless.iter().filter(|d| **d == 0).count();
    let jpeg_mean = jpeg.iter().sum::<u32>() as f64 / jpeg.len() as f64;
    eprintln!(
        "PDQ vs reference: lossless {identical}/{} identical (max {} bits); JPEG {}/{} identical, mean {jpeg_mean:.2}, max {} bits; quality max diff {worst_quality}",
        lossless.len(),
        lossless.iter().max().unwrap(),
        jpeg.iter().filter(|d| **d == 0).count(),
        jpeg.len(),
        jpeg.iter().max().unwrap(),
    );
    assert!(
        identical * 100 >= lossless.len() * 99,
        "lossless identical on ≥ 99%"
    );
    assert!(
        *lossless.iter().max().unwrap() <= 2,
        "lossless never more than 2 bits off"
    );
    assert!(
        jpeg_mean <= 2.0 && *jpeg.iter().max().unwrap() <= 8,
        "JPEG ≤ 2 bits on average, ≤ 8 at most"
    );
    assert!(worst_quality <= 2, "quality within ±2");
}

#[test]
fn dihedral_hashes_agree_with_reference() {
    let reference = reference();
    let mut hasher = PdqHasher::new();
    let mut checked = 0;
    for r in manifest()
        .iter()
        .filter(|r| r.expect_error.is_empty() && r.transform == "base")
    {
        let bytes = std::fs::read(testdata("images").join(&r.path)).unwrap();
        let img = media::decode_image(&bytes, &Limits::default()).unwrap();
        let px = media::pixels_for_hashing(&img);
        let (ours, _) = hasher.hash_dihedral(&px.view()).unwrap();
        let want = &reference[&r.path].dihedral;
        for (i, (a, b)) in ours.iter().zip(want).enumerate() {
            assert_eq!(a, b, "{} dihedral variant {i}", r.path);
        }
        checked += 1;
    }
    assert!(checked >= 30);
}

// ---------------------------------------------------------------- robustness
#[test]
fn transformed_copies_stay_within_radius() {
    const RADIUS: u32 = 31;
    let rows = manifest();
    let ours = hash_all(&rows);
    let mut hasher = PdqHasher::new();
    let mut dihedral_of_base: HashMap<&str, [PdqHash; 8]> = HashMap::new();
    for r in rows.iter().filter(|r| r.transform == "base") {
        let bytes = std::fs::read(testdata("images").join(&r.path)).unwrap();
        let img = media::decode_image(&bytes, &Limits::default()).unwrap();
        dihedral_of_base.insert(
            &r.base,
            hasher
                .hash_dihedral(&media::pixels_for_hashing(&img).view())
                .unwrap()
                .0,
        );
    }
    let mut by_transform: HashMap<&str, Vec<u32>> = HashMap::new();
    for r in rows
        .iter()
        .filter(|r| dihedral_of_base.contains_key(r.base.as_str()) && r.transform != "base")
    {
        let h = ours[&r.path].pdq.unwrap();
        let variants = &dihedral_of_base[r.base.as_str()];
        let d = match r.transform.as_str() {
            // Rotations and mirrors are found through the base's dihedral variants.
            "rot90" | "mirror" => variants.iter().map(|v| v.distance(&h)).min().unwrap(),
            _ => variants[0].distance(&h),
        };
        by_transform.entry(&r.transform).or_default().push(d);
    }
    let mut report = Vec::new();
    for (t, ds) in &by_transform {
        let mut sorted = ds.clone();
        sorted.sort_unstable();
        let within = ds.iter().filter(|d| **d <= RADIUS).count();
        report.push(format!(
            "{t}: {within}/{} within {RADIUS}, median {}, max {}",
            ds.len(),
            sorted[ds.len() / 2],
            sorted[ds.len() - 1]
        ));
        if !t.starts_with("crop") {
            assert!(
                within * 100 >= ds.len() * 95,
                "{t}: {within}/{} within radius",
                ds.len()
            );
        }
    }
    report.sort();
    eprintln!(
        "PDQ robustness (distance to base):\n  {}",
        report.join("\n  ")
    );
    assert_eq!(by_transform.len(), 7, "every transform was measured");
}

#[test]
fn phash_dhash_survive_mild_edits_and_separate_unrelated_images() {
    const RADIUS: u32 = 10;
    let rows = manifest();
    let ours = hash_all(&rows);
    let base_path: HashMap<&str, &str> = rows
        .iter()
        .filter(|r| r.transform == "base")
        .map(|r| (r.base.as_str(), r.path.as_str()))
        .collect();
    for t in ["resize50", "jpeg_q50", "bright130"] {
        let (mut n, mut p_ok, mut d_ok) = (0, 0, 0);
        for r in rows.iter().filter(|r| r.transform == t) {
            let (b, v) = (&ours[base_path[r.base.as_str()]], &ours[&r.path]);
            n += 1;
            p_ok += usize::from(b.phash.unwrap().distance(&v.phash.unwrap()) <= RADIUS);
            d_ok += usize::from(b.dhash.unwrap().distance(&v.dhash.unwrap()) <= RADIUS);
        }
        eprintln!("{t}: pHash {p_ok}/{n}, dHash {d_ok}/{n} within {RADIUS}");
        assert!(p_ok * 100 >= n * 95 && d_ok * 100 >= n * 95, "{t}");
    }
    let bases: Vec<&FileRecord> = base_path.values().map(|p| &ours[*p]).collect();
    let (mut pairs, mut false_matches) = (0, 0);
    for (i, a) in bases.iter().enumerate() {
        for b in &bases[i + 1..] {
            pairs += 1;
            false_matches += usize::from(a.phash.unwrap().distance(&b.phash.unwrap()) <= RADIUS);
            false_matches += usize::from(a.dhash.unwrap().distance(&b.dhash.unwrap()) <= RADIUS);
        }
    }
    assert!(
        false_matches * 100 <= pairs,
        "{false_matches} false matches in {pairs} unrelated pairs"
    );
}

// ---------------------------------------------------------------- broken files and limits
#[test]
fn broken_files_get_reason_codes_and_digests() {
    let rows: Vec<ManifestRow> = manifest()
        .into_iter()
        .filter(|r| !r.expect_error.is_empty())
        .collect();
    assert!(rows.len() >= 8);
    for r in &rows {
        let rec = fingerprint_file(
            &testdata("images").join(&r.path),
            &HashRequest::ALL,
            &Limits::default(),
        );
        let code = rec.error.map(Reason::code).unwrap_or("none");
        assert_eq!(code, r.expect_error, "{}: {:?}", r.path, rec.detail);
        assert!(
            rec.md5.is_some() && rec.sha1.is_some() && rec.sha256.is_some(),
            "{} keeps its digests",
            r.path
        );
        assert!(rec.pdq.is_none() && rec.detail.as_deref().is_some_and(|d| !d.is_empty()));
    }
}

#[test]
fn dimension_bomb_is_refused_without_allocating() {
    let bomb = std::fs::read(testdata("images/broken/bomb_60000x60000.png")).unwrap();
    LARGEST.store(0, Ordering::Relaxed);
    TRACK.with(|t| t.set(true));
    let result = media::decode_image(&bomb, &Limits::default());
    TRACK.with(|t| t.set(false));
    assert!(
        matches!(
            result,
            Err(media::Error::TooLarge {
                width: 60_000,
                height: 60_000,
                ..
            })
        ),
        "{result:?}"
    );
    // The decoder keeps small buffers for the header; a pixel buffer would be 10.8 GB.
    let largest = LARGEST.load(Ordering::Relaxed);
    assert!(largest < 1 << 20, "largest allocation {largest} bytes");
    eprintln!("largest allocation while refusing the bomb: {largest} bytes");
}

// ---------------------------------------------------------------- the binary
/// Runs the binary with `args`: (exit code, stdout, stderr).
fn run(args: &[&str]) -> (i32, String, String) {
    let out = hashguard().args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn cli_hashes_in_input_order_with_every_field() {
    let dir = testdata("images");
    let a = dir.join("base/p00_480x360.png");
    let b = dir.join("special/s_grey.jpg");
    let (code, out, err) = run(&["hash", a.to_str().unwrap(), b.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let recs: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(recs.len(), 2);
    assert_eq!(recs[0]["path"], a.to_str().unwrap());
    assert_eq!(recs[1]["path"], b.to_str().unwrap());
    let reference = reference();
    for (rec, rel) in recs
        .iter()
        .zip(["base/p00_480x360.png", "special/s_grey.jpg"])
    {
        assert_eq!(rec["kind"], "image");
        assert_eq!(rec["pdq"], reference[rel].pdq.to_hex());
        for field in [
            "size",
            "md5",
            "sha1",
            "sha256",
            "pdq_quality",
            "phash",
            "dhash",
        ] {
            assert!(!rec[field].is_null(), "{field} present");
        }
        assert!(rec.get("error").is_none());
    }
    // Digests agree with an independent implementation.
    let sha = Command::new("sha256sum").arg(&a).output().unwrap();
    let want = String::from_utf8(sha.stdout).unwrap();
    assert_eq!(recs[0]["sha256"], want.split_whitespace().next().unwrap());
}

#[test]
fn cli_walks_directories_and_reports_every_entry() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    std::fs::create_dir(root.join("z")).unwrap();
    std::fs::copy(
        testdata("images/base/p01_384x288.png"),
        root.join("z/b.png"),
    )
    .unwrap();
    std::fs::copy(testdata("images/broken/truncated.jpg"), root.join("a.jpg")).unwrap();
    std::fs::write(root.join("notes.txt"), b"plain text").unwrap();
    std::os::unix::fs::symlink(root.join("z/b.png"), root.join("link.png")).unwrap();

    let (code, out, _) = run(&[
        "hash",
        "--format",
        "tsv",
        "--algo",
        "pdq,md5",
        root.to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "some files could not be hashed");
    let rows: Vec<Vec<&str>> = out.lines().map(|l| l.split('\t').collect()).collect();
    let names: Vec<&str> = rows
        .iter()
        .map(|r| r[0].rsplit('/').next().unwrap())
        .collect();
    assert_eq!(names, ["a.jpg", "link.png", "notes.txt", "b.png"]);
    let errors: Vec<&str> = rows.iter().map(|r| r[4]).collect();
    assert_eq!(
        errors,
        ["decode_failed", "skipped", "unsupported_format", ""]
    );
    assert_eq!(rows[3][1].len(), 64, "pdq column");
    assert_eq!(rows[2][3].len(), 32, "md5 still computed for the text file");

    // Only digests asked for: a text file is fully hashed.
    let (code, out, _) = run(&[
        "hash",
        "--algo",
        "sha256",
        root.join("notes.txt").to_str().unwrap(),
    ]);
    assert_eq!(code, 0);
    assert!(out.contains("\"kind\":\"other\"") && !out.contains("error"));
}

#[test]
fn cli_csv_and_paths_from() {
    let tmp = tempfile::tempdir().unwrap();
    let list = tmp.path().join("list.txt");
    let p = testdata("images/special/s_palette.png");
    std::fs::write(
        &list,
        format!(
            "{}\n\n{}\n",
            p.display(),
            tmp.path().join("missing.png").display()
        ),
    )
    .unwrap();
    let (code, out, _) = run(&[
        "hash",
        "--format",
        "csv",
        "--paths-from",
        list.to_str().unwrap(),
    ]);
    assert_eq!(code, 2);
    let mut rdr = csv::Reader::from_reader(out.as_bytes());
    let header = rdr.headers().unwrap().clone();
    assert_eq!(&header[0], "path");
    let rows: Vec<csv::StringRecord> = rdr.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 2);
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    assert_eq!(rows[0][col("pdq")].len(), 64);
    assert_eq!(&rows[1][col("error")], "unreadable");
}

#[test]
fn cli_csv_neutralises_formula_names() {
    // A file named like a formula, given by a relative path, as an analyst would.
    let dir = tempfile::tempdir().unwrap();
    let name = "=HYPERLINK(\"x\",\"open\").png";
    std::fs::copy(
        testdata("images/base/p00_480x360.png"),
        dir.path().join(name),
    )
    .unwrap();
    let out = hashguard()
        .current_dir(dir.path())
        .args(["hash", "--format", "csv", name])
        .output()
        .unwrap();
    assert!(out.status.success());
    let mut rows = csv::Reader::from_reader(out.stdout.as_slice());
    let row = rows.records().next().unwrap().unwrap();
    assert_eq!(&row[0], format!("'{name}"));
    // The other cells are untouched.
    assert_eq!(&row[1], "image");
}

#[test]
fn cli_usage_errors_use_sysexits() {
    assert_eq!(run(&["hash"]).0, 64, "no input");
    assert_eq!(
        run(&["hash", "--algo", "crc32", "x"]).0,
        64,
        "unknown algorithm"
    );
    assert_eq!(run(&["frobnicate"]).0, 64);
    assert_eq!(run(&["hash", "--paths-from", "/nonexistent/list"]).0, 66);
    let (code, out, _) = run(&["hash", "--help"]);
    assert_eq!(code, 0);
    assert!(out.contains("Exit status") && out.contains("Examples"));
}

#[test]
fn cli_reports_without_a_token_is_a_configuration_error() {
    let free = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap(); // closed again at once: nobody listens there
    let out = hashguard()
        .args(["reports", "list", "--server", &format!("http://{free}")])
        .env_remove("HASHGUARD_TOKEN")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(78), "EX_CONFIG: {err}");
    assert!(err.contains("HASHGUARD_TOKEN"), "{err}");
    assert_eq!(err.lines().count(), 1, "said once: {err}");
}

// ---------------------------------------------------------------- tokens
#[test]
fn cli_token_new_prints_a_table_the_server_accepts() {
    let (code, out, err) = run(&["token", "new", "--role", "operator", "--tenant", "acme"]);
    assert_eq!(code, 0, "{err}");
    // The token, on stderr only, after the line that says what to do with it.
    let token = err
        .lines()
        .find(|l| l.starts_with("hg_"))
        .unwrap_or_else(|| panic!("no token on stderr: {err}"));
    assert_eq!(token.len(), 3 + 64, "hg_ and 32 bytes in hex: {token}");
    assert!(token[3..].bytes().all(|b| b.is_ascii_hexdigit()), "{token}");
    assert!(err.contains("not stored"), "{err}");
    assert!(!out.contains(token), "the token itself stays off stdout");

    // Stdout is one [[token]] table: valid TOML, the token's SHA-256, role and tenant.
    let table: toml::Table = out.parse().unwrap_or_else(|e| panic!("{e}: {out}"));
    let rows = table["token"].as_array().expect("[[token]]");
    assert_eq!(rows.len(), 1, "{out}");
    assert_eq!(
        rows[0]["sha256"].as_str(),
        Some(hashguard::server::auth::token_hash(token).as_str())
    );
    assert_eq!(rows[0]["role"].as_str(), Some("operator"));
    assert_eq!(rows[0]["tenant"].as_str(), Some("acme"));

    // The server's own parser accepts it, and the token then authenticates as that operator.
    let tokens = hashguard::server::auth::Tokens::parse(&out).unwrap();
    assert_eq!(
        tokens.check(token),
        Some(hashguard::server::auth::Principal::Operator {
            tenant: "acme".into()
        })
    );
    assert_eq!(tokens.check(&format!("{token}x")), None);

    // Appended after another table (as `>> tokens.toml` does), both parse and both count.
    let (code, more, err) = run(&[
        "token",
        "new",
        "--role",
        "investigator",
        "--unit",
        "unit-a",
        "--name",
        "J. \"Q\" Doe",
    ]);
    assert_eq!(code, 0, "{err}");
    let second = err.lines().find(|l| l.starts_with("hg_")).unwrap();
    assert_ne!(second, token, "every token is new");
    let both = hashguard::server::auth::Tokens::parse(&format!("{out}{more}")).unwrap();
    assert_eq!(
        both.check(second),
        Some(hashguard::server::auth::Principal::Investigator {
            unit: "unit-a".into()
        })
    );
    assert!(both.check(token).is_some());
}

#[test]
fn cli_token_new_needs_the_roles_tenant_or_unit() {
    let (code, out, err) = run(&["token", "new", "--role", "operator"]);
    assert_eq!(code, 64, "an operator token needs --tenant: {err}");
    assert!(
        out.is_empty() && !err.contains("hg_"),
        "no token made: {out}{err}"
    );
    assert!(err.contains("--tenant"), "{err}");
    assert_eq!(
        run(&["token", "new", "--role", "investigator"]).0,
        64,
        "an investigator token needs --unit"
    );
    assert_eq!(
        run(&["token", "new", "--role", "admin", "--tenant", "acme"]).0,
        64,
        "a tenant is for operators only"
    );
    assert_eq!(
        run(&["token", "new", "--role", "operator", "--tenant", ""]).0,
        64
    );
    let (code, out, _) = run(&["token", "new", "--help"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("Examples") && out.contains(">> tokens.toml"),
        "{out}"
    );
}

// ---------------------------------------------------------------- lists and matching
#[test]
fn cli_imports_a_list_and_matches_against_it() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let data_arg = data.to_str().unwrap();
    // A list of the PDQ hashes of the PNG scene bases (as a central database would hold them).
    let reference = reference();
    let mut names: Vec<&String> = reference
        .keys()
        .filter(|p| p.starts_with("base/p"))
        .collect();
    names.sort();
    let list: String = names
        .iter()
        .map(|p| format!("{}\n", reference[*p].pdq))
        .collect();
    let list_path = tmp.path().join("list.txt");
    std::fs::write(&list_path, format!("{list}not-a-hash\n")).unwrap();

    let import = |extra: &[&str]| {
        let mut args = vec![
            "--data", data_arg, "lists", "import", "--list", "demo", "--kind", "pdq",
        ];
        args.extend_from_slice(extra);
        args.push(list_path.to_str().unwrap());
        run(&args)
    };
    let (code, out, err) = import(&["--max-bad-pct", "10"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("version 1") && out.contains(&format!("{} pdq (radius 31)", names.len())),
        "{out}"
    );
    assert!(
        err.contains(&format!("line {}: skipped", names.len() + 1)),
        "{err}"
    );

    // The resized copy of base 3 matches entry 3 of the list, within radius.
    let variant = testdata("images").join(
        names[3]
            .replace("base/", "variants/")
            .replace(".png", "_resize50.png"),
    );
    let rec = fingerprint_file(&variant, &HashRequest::ALL, &Limits::default());
    let q = format!("pdq:{}", rec.pdq.unwrap());
    let (code, out, err) = run(&["--data", data_arg, "match", &q]);
    assert_eq!(code, 0, "{err}");
    let hit: serde_json::Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    assert_eq!(
        (
            hit["list"].as_str(),
            hit["entry"].as_str(),
            hit["query"].as_u64()
        ),
        (Some("demo"), Some("3"), Some(0))
    );
    assert!(hit["distance"].as_u64().unwrap() <= 31);

    // No match: exit 1. A bad query: exit 2 with the query named.
    let unrelated = format!("pdq:{}", "5a".repeat(32));
    assert_eq!(run(&["--data", data_arg, "match", &unrelated]).0, 1);
    let (code, _, err) = run(&["--data", data_arg, "match", "pdq:abc"]);
    assert_eq!(code, 2);
    assert!(err.contains("query 0"), "{err}");

    // A writer is refused while another process holds the store; readers still work.
    let held = hashguard::store::Store::open(&data).unwrap();
    let (code, _, err) = import(&[]);
    assert_eq!(code, 75, "{err}");
    assert!(err.contains("in use by another hashguard process"), "{err}");
    assert_eq!(run(&["--data", data_arg, "match", &q]).0, 0);
    drop(held);
    let (code, out, _) = run(&["--data", data_arg, "lists", "status", "--bad-rows"]);
    assert_eq!(code, 0);
    assert!(out.contains("demo") && out.contains("pdq"), "{out}");
    assert!(
        out.contains(&format!("line {}: ", names.len() + 1)),
        "the last attempt's malformed row is listed: {out}"
    );

    // A delta removes entry 3, so the variant no longer matches; a rollback brings it back.
    let delta = tmp.path().join("delta.jsonl");
    std::fs::write(&delta, "{\"id\":\"3\",\"op\":\"remove\"}\n").unwrap();
    let (code, out, err) = run(&[
        "--data",
        data_arg,
        "lists",
        "import",
        "--list",
        "demo",
        "--format",
        "jsonl",
        "--delta",
        delta.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("version 2"), "{out}");
    assert_eq!(run(&["--data", data_arg, "match", &q]).0, 1);
    let (code, out, err) = run(&["--data", data_arg, "lists", "rollback", "demo"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("back at version 1"), "{out}");
    assert_eq!(run(&["--data", data_arg, "match", &q]).0, 0);
    let (code, _, err) = run(&["--data", data_arg, "lists", "rollback", "demo"]);
    assert_eq!(code, 65, "{err}");
    assert!(err.contains("no previous version"), "{err}");
    let (code, out, _) = run(&["--data", data_arg, "lists", "status", "demo", "--json"]);
    assert_eq!(code, 0);
    let status: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(status["list"]["version"], 1);
    assert_eq!(status["list"]["digest"].as_str().map(str::len), Some(64));
}

// ---------------------------------------------------------------- test data is reproducible
#[test]
fn generator_reproduces_committed_images() {
    let tmp = tempfile::tempdir().unwrap();
    let entries = hashguard::synth::write_image_set(tmp.path()).unwrap();
    assert_eq!(entries.len(), manifest().len());
    for e in &entries {
        let fresh = std::fs::read(tmp.path().join(&e.path)).unwrap();
        let committed = std::fs::read(testdata("images").join(&e.path)).unwrap();
        assert!(
            fresh == committed,
            "{} differs from the committed file: rerun `make testdata`",
            e.path
        );
    }
}

/// A file too large to hold is streamed through the descriptor the caller opened: replacing
/// its path with a symlink (or a FIFO) meanwhile changes nothing that is read.
#[test]
fn large_files_are_read_through_the_open_descriptor_not_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.bin");
    std::fs::write(&path, vec![7u8; 10_000]).unwrap();
    let elsewhere = dir.path().join("other.bin");
    std::fs::write(&elsewhere, b"outside the evidence").unwrap();
    let file = std::fs::File::open(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    std::os::unix::fs::symlink(&elsewhere, &path).unwrap();
    let limits = Limits {
        max_file_bytes: 1000,
        ..Limits::default()
    };
    let rec = hashguard::fingerprint::fingerprint_opened(&path, file, &HashRequest::ALL, &limits);
    assert_eq!(rec.size, Some(10_000));
    assert_eq!(
        rec.sha256,
        Some(hashguard::hashing::digest_bytes(&[7u8; 10_000]).sha256)
    );
    // A video past the in-memory size reaches FFmpeg through the same descriptor.
    let video = dir.path().join("clip.mp4");
    std::fs::copy(testdata("video/cellauto.mp4"), &video).unwrap();
    let file = std::fs::File::open(&video).unwrap();
    std::fs::remove_file(&video).unwrap();
    std::os::unix::fs::symlink(&elsewhere, &video).unwrap();
    let rec = hashguard::fingerprint::fingerprint_opened(&video, file, &HashRequest::ALL, &limits);
    assert_eq!(rec.error, None, "{:?}", rec.detail);
    assert_eq!(rec.frames.map(|f| f.len()), Some(10));
}

/// Shell completions and man pages come from the same definitions as the parser: every command
/// is in them, and the internal decoder worker is in neither.
#[test]
fn completions_and_man_pages_cover_every_command() {
    let out = hashguard().args(["completions", "bash"]).output().unwrap();
    assert!(out.status.success());
    let bash = String::from_utf8(out.stdout).unwrap();
    for cmd in [
        "hash", "lists", "match", "scan", "serve", "reports", "token", "man",
    ] {
        assert!(
            bash.contains(cmd),
            "{cmd} missing from the bash completions"
        );
    }
    assert!(!bash.contains("decode-worker"));
    for shell in ["zsh", "fish"] {
        let out = hashguard().args(["completions", shell]).output().unwrap();
        assert!(out.status.success() && !out.stdout.is_empty(), "{shell}");
    }
    let out = hashguard().arg("man").output().unwrap();
    let page = String::from_utf8(out.stdout).unwrap();
    assert!(page.contains(".TH hashguard 1"), "{page}");
    let dir = tempfile::tempdir().unwrap();
    let out = hashguard()
        .args(["man", "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    for page in [
        "hashguard.1",
        "hashguard-scan.1",
        "hashguard-lists-import.1",
    ] {
        assert!(dir.path().join(page).exists(), "{page}");
    }
    let help = hashguard().arg("--help").output().unwrap();
    assert!(!String::from_utf8_lossy(&help.stdout).contains("decode-worker"));
}
