//! `hashguard scan` over a generated evidence tree: every entry accounted for, planted matches
//! found, the signed manifest checked, and SIGKILL at random moments followed by --resume.

use std::collections::{BTreeSet, HashMap};
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use hashguard::synth::SplitMix;

use crate::common::{hashguard, scan_records as records, testdata};

/// Runs the binary with `args`: (exit code, stdout, stderr).
fn run(args: &[&OsStr]) -> (i32, String, String) {
    let out = hashguard().args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn os(s: &str) -> &OsStr {
    OsStr::new(s)
}

/// The planted facts a scan of the tree must report.
struct Tree {
    root: PathBuf,
    data: PathBuf,
    /// Paths (relative) that must be reported as matches.
    planted: Vec<String>,
}

/// A tree of a few thousand entries: random small files, images, videos, planted exact and
/// near matches, duplicates, hard links, and every special entry that can be made here.
fn make_tree(base: &Path) -> Tree {
    let root = base.join("evidence");
    let data = base.join("data");
    std::fs::create_dir_all(&root).unwrap();
    let mut rng = SplitMix::new(42);
    for d in 0..20 {
        let dir = root.join(format!("dir{d:02}"));
        std::fs::create_dir_all(&dir).unwrap();
        for f in 0..120 {
            let len = rng.range(0, 6000) as usize;
            let bytes: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
            std::fs::write(dir.join(format!("f{f:03}.bin")), bytes).unwrap();
        }
    }
    // Images: the scenes' variants (near copies) and some bases.
    let media = root.join("media");
    std::fs::create_dir_all(&media).unwrap();
    let variants = testdata("images/variants");
    let mut names: Vec<_> = std::fs::read_dir(&variants)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    for n in names.iter().take(60) {
        std::fs::copy(variants.join(n), media.join(n)).unwrap();
    }
    for v in [
        "mandelbrot_reencoded.mp4",
        "life.webm",
        "broken_truncated.mp4",
    ] {
        std::fs::copy(testdata("video").join(v), media.join(v)).unwrap();
    }
    for b in ["truncated.png", "random.jpg"] {
        let src = testdata("images/broken").join(b);
        if src.exists() {
            std::fs::copy(&src, media.join(b)).unwrap();
        }
    }
    // Exact match: a file whose MD5 is on the md5 list.
    let secret: Vec<u8> = (0..5000).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(root.join("dir03/planted_exact.dat"), &secret).unwrap();
    // Duplicates and a hard link of the planted file.
    std::fs::write(root.join("dir07/copy_of_planted.dat"), &secret).unwrap();
    std::fs::hard_link(
        root.join("dir03/planted_exact.dat"),
        root.join("dir09/hardlink_of_planted.dat"),
    )
    .unwrap();
    // Special entries.
    let special = root.join("special");
    std::fs::create_dir_all(&special).unwrap();
    std::os::unix::fs::symlink(root.join("dir00/f000.bin"), special.join("link_to_file")).unwrap();
    std::os::unix::fs::symlink(&special, special.join("loop")).unwrap();
    std::os::unix::fs::symlink(special.join("nowhere"), special.join("dangling")).unwrap();
    let fifo = std::ffi::CString::new(special.join("fifo").as_os_str().as_bytes()).unwrap();
    // SAFETY: mkfifo with a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0);
    let _sock = std::os::unix::net::UnixListener::bind(special.join("socket")).unwrap();
    std::mem::forget(_sock);
    let non_utf8 = OsStr::from_bytes(b"name-\xff\xfe.bin");
    std::fs::write(special.join(non_utf8), b"not utf-8 name").unwrap();
    std::fs::write(special.join("l".repeat(250)), b"long name").unwrap();
    let locked = special.join("no_permission.bin");
    std::fs::write(&locked, b"secret").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000)).unwrap();

    // Lists: the planted file's MD5, and the PDQ of the scene the first image variants come
    // from plus a frame of the original mandelbrot clip.
    let md5 = {
        use md5::{Digest, Md5};
        hex::encode(Md5::digest(&secret))
    };
    std::fs::write(base.join("md5.txt"), format!("{md5}\n")).unwrap();
    import(
        &data,
        &["--list", "police-md5", "--kind", "md5", "--category", "1"],
        &base.join("md5.txt"),
    );
    let first_variant = names[0].to_string_lossy().into_owned();
    let scene = first_variant.split('_').next().unwrap().to_string();
    let base_img = std::fs::read_dir(testdata("images/base"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(&format!("{scene}_"))
        })
        .unwrap();
    let pdq_of = |p: &Path| {
        hashguard::fingerprint::fingerprint_file(
            p,
            &hashguard::fingerprint::HashRequest::ALL,
            &hashguard::media::Limits::default(),
        )
    };
    let scene_pdq = pdq_of(&base_img).pdq.unwrap();
    let video = pdq_of(&testdata("video/mandelbrot.mp4"));
    let frame_pdq = video.frames.unwrap()[6].pdq;
    std::fs::write(
        base.join("pdq.jsonl"),
        format!(
            "{{\"id\":\"scene-{scene}\",\"kind\":\"pdq\",\"hash\":\"{scene_pdq}\",\"category\":\"A1\"}}\n\
             {{\"id\":\"clip-mandelbrot-6s\",\"kind\":\"pdq\",\"hash\":\"{frame_pdq}\"}}\n"
        ),
    )
    .unwrap();
    import(
        &data,
        &["--list", "intl-pdq", "--format", "jsonl"],
        &base.join("pdq.jsonl"),
    );
    let mut planted = vec![
        "dir03/planted_exact.dat".to_string(),
        "dir07/copy_of_planted.dat".to_string(),
        "dir09/hardlink_of_planted.dat".to_string(),
        "media/mandelbrot_reencoded.mp4".to_string(),
    ];
    planted.extend(
        names
            .iter()
            .take(60)
            .map(|n| n.to_string_lossy().into_owned())
            // Near copies within PDQ's radius: rescaled, recompressed, brightened, mirrored
            // and rotated (through the dihedral variants). Crops go beyond it.
            .filter(|n| {
                n.starts_with(&format!("{scene}_"))
                    && ["resize50", "jpeg_q50", "bright130", "mirror", "rot90"]
                        .iter()
                        .any(|t| n.contains(t))
            })
            .map(|n| format!("media/{n}")),
    );
    Tree {
        root,
        data,
        planted,
    }
}

/// `hashguard --data DATA lists import OPTIONS FILE`, which must succeed.
fn import(data: &Path, options: &[&str], file: &Path) {
    let mut args = vec![os("--data"), data.as_os_str(), os("lists"), os("import")];
    args.extend(options.iter().map(|o| os(o)));
    args.push(file.as_os_str());
    let (code, _, err) = run(&args);
    assert_eq!(code, 0, "{err}");
}

fn scan_args<'a>(tree: &'a Tree, out: &'a Path, extra: &[&'a str]) -> Vec<&'a OsStr> {
    let mut a = vec![
        os("--data"),
        tree.data.as_os_str(),
        os("scan"),
        tree.root.as_os_str(),
        os("--case"),
        os("CASE-2026-001"),
        os("--out"),
        out.as_os_str(),
        os("--operator"),
        os("test"),
    ];
    a.extend(extra.iter().map(|s| os(s)));
    a
}

#[test]
fn scan_accounts_for_every_file_and_finds_planted_matches() {
    let tmp = tempfile::tempdir().unwrap();
    let tree = make_tree(tmp.path());
    let out = tmp.path().join("report");
    let (code, _, err) = run(&scan_args(&tree, &out, &[]));
    // Matches and broken files: 3.
    assert_eq!(code, 3, "{err}");

    let recs = records(&out);
    // Every entry once, in walk order.
    let seqs: Vec<u64> = recs.iter().map(|r| r["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (0..recs.len() as u64).collect::<Vec<_>>());
    let walk: Vec<PathBuf> = hashguard::files::walk([tree.root.clone()])
        .map(|e| match e {
            hashguard::files::Entry::File(p)
            | hashguard::files::Entry::Skipped(p, _)
            | hashguard::files::Entry::Unreadable(p, _) => p,
        })
        .collect();
    assert_eq!(walk.len(), recs.len());
    assert!(recs.len() > 2400, "{} entries", recs.len());

    // Totals identity, from the records and from the summary.
    let mut by_outcome: HashMap<String, u64> = HashMap::new();
    for r in &recs {
        *by_outcome
            .entry(r["outcome"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    let totals = &summary["totals"];
    assert_eq!(totals["found"].as_u64().unwrap(), recs.len() as u64);
    let sum: u64 = [
        "match",
        "clean",
        "decode_failed",
        "unreadable",
        "too_large",
        "skipped",
    ]
    .iter()
    .map(|o| {
        let n = totals["outcomes"][o].as_u64().unwrap_or(0);
        assert_eq!(n, by_outcome.get(*o).copied().unwrap_or(0), "{o}");
        n
    })
    .sum();
    assert_eq!(sum, recs.len() as u64);
    assert_eq!(summary["case_id"], "CASE-2026-001");
    assert_eq!(summary["operator"], "test");
    assert_eq!(summary["lists"].as_array().unwrap().len(), 2);

    // The per-file SHA-256 set equals an independent one: find + sha256sum over readable files.
    let listing = Command::new("sh")
        .arg("-c")
        .arg("find . -type f -print0 | xargs -0 sha256sum 2>/dev/null; true")
        .current_dir(&tree.root)
        .stderr(Stdio::null())
        .output()
        .unwrap();
    let independent: BTreeSet<String> = String::from_utf8_lossy(&listing.stdout)
        .lines()
        .map(|l| l[..64].to_string())
        .collect();
    let ours: BTreeSet<String> = recs
        .iter()
        .filter_map(|r| r["sha256"].as_str().map(str::to_string))
        .collect();
    assert_eq!(ours, independent);

    // Special entries: recorded with the right outcome, not crashed on.
    let by_name = |suffix: &str| {
        recs.iter()
            .find(|r| r["path"].as_str().unwrap().ends_with(suffix))
            .unwrap_or_else(|| panic!("no record for {suffix}"))
    };
    for s in [
        "special/link_to_file",
        "special/loop",
        "special/dangling",
        "special/fifo",
        "special/socket",
    ] {
        assert_eq!(by_name(s)["outcome"], "skipped", "{s}");
    }
    let odd = recs
        .iter()
        .find(|r| r.get("path_hex").is_some())
        .expect("non-UTF-8 name recorded with its raw bytes");
    assert_eq!(odd["outcome"], "clean");
    assert_eq!(by_name(&"l".repeat(250))["outcome"], "clean");
    let locked = by_name("special/no_permission.bin");
    // Root reads any file; anyone else gets permission denied.
    let root = unsafe { libc::geteuid() } == 0;
    assert_eq!(locked["outcome"], if root { "clean" } else { "unreadable" });
    assert_eq!(
        by_name("media/broken_truncated.mp4")["outcome"],
        "decode_failed"
    );

    // Duplicates: hashed once, every path recorded.
    let hard = by_name("dir09/hardlink_of_planted.dat");
    let first = by_name("dir03/planted_exact.dat");
    assert_eq!(hard["hard_link_of"], first["seq"]);
    assert_eq!(
        by_name("dir07/copy_of_planted.dat")["same_as"],
        first["seq"]
    );

    // Planted matches.
    let matches: Vec<serde_json::Value> = std::fs::read_to_string(out.join("matches.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    for p in &tree.planted {
        assert!(
            matches
                .iter()
                .any(|m| m["path"].as_str().unwrap().ends_with(p.as_str())),
            "planted {p} not reported"
        );
        assert_eq!(by_name(p)["outcome"], "match", "{p}");
    }
    let video = matches
        .iter()
        .find(|m| {
            m["path"]
                .as_str()
                .unwrap()
                .ends_with("mandelbrot_reencoded.mp4")
        })
        .unwrap();
    assert_eq!(video["list"], "intl-pdq");
    assert_eq!(video["entry"], "clip-mandelbrot-6s");
    assert!(
        (video["frame_ts"].as_f64().unwrap() - 6.0).abs() <= 1.0,
        "{video}"
    );
    let mirrored = matches
        .iter()
        .find(|m| m["path"].as_str().unwrap().contains("_mirror"))
        .expect("the mirrored copy matches");
    assert_eq!(mirrored["dihedral"], "flip_y", "{mirrored}");
    let exact = matches
        .iter()
        .find(|m| m["path"].as_str().unwrap().ends_with("planted_exact.dat"))
        .unwrap();
    assert_eq!(
        (exact["list"].as_str(), exact["distance"].as_u64()),
        (Some("police-md5"), Some(0))
    );
    assert_eq!(exact["category"], "1");

    // Exports: CSV rows and VICS media for the matched files.
    let csv = std::fs::read_to_string(out.join("matches.csv")).unwrap();
    assert_eq!(csv.lines().count(), matches.len() + 1);
    let vics: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("vics.json")).unwrap()).unwrap();
    let media = vics["value"][0]["Media"].as_array().unwrap();
    assert_eq!(vics["value"][0]["CaseNumber"], "CASE-2026-001");
    assert!(
        media
            .iter()
            .any(|m| m["Category"] == 1 && m["MD5"].as_str().is_some())
    );

    // The signed manifest verifies against the scanning machine's public key (written beside
    // its signing key), and a one-byte edit to any output fails it.
    let public = tree.data.join("keys/scan-signing.key.pub");
    let verify = [
        os("scan"),
        os("verify"),
        out.as_os_str(),
        os("--public-key"),
        public.as_os_str(),
    ];
    let (code, stdout, err) = run(&verify);
    assert_eq!(code, 0, "{err}");
    assert!(stdout.contains("verified"), "{stdout}");
    // Without the expected signer it fails, naming the key that signed it; trusting whatever
    // key signed it is an explicit choice; another key fails.
    let key = std::fs::read_to_string(&public).unwrap();
    let (code, _, err) = run(&[os("scan"), os("verify"), out.as_os_str()]);
    assert_eq!(code, 65, "{err}");
    assert!(
        err.contains(key.trim()) && err.contains("--trust-signer"),
        "{err}"
    );
    let (code, _, err) = run(&[
        os("scan"),
        os("verify"),
        out.as_os_str(),
        os("--trust-signer"),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("trusting the signer"), "{err}");
    let other = "11".repeat(32);
    let (code, _, err) = run(&[
        os("scan"),
        os("verify"),
        out.as_os_str(),
        os("--public-key"),
        os(&other),
    ]);
    assert_eq!(code, 65, "another signer: {err}");
    // Debian's minisign verifies the detached signature with the key written beside it, and
    // refuses the manifest with one byte appended.
    let minisign = |manifest: &std::path::Path| {
        std::process::Command::new("minisign")
            .args(["-V", "-m"])
            .arg(manifest)
            .arg("-x")
            .arg(out.join("manifest.json.minisig"))
            .arg("-p")
            .arg(out.join("minisign.pub"))
            .output()
            .expect("minisign is installed by scripts/setup.sh")
    };
    let checked = minisign(&out.join("manifest.json"));
    assert!(
        checked.status.success(),
        "{}",
        String::from_utf8_lossy(&checked.stderr)
    );
    assert!(
        String::from_utf8_lossy(&checked.stdout).contains("CASE-2026-001"),
        "the trusted comment names the case: {checked:?}"
    );
    let appended = tree.data.join("manifest-appended.json");
    let mut body = std::fs::read(out.join("manifest.json")).unwrap();
    body.push(b' ');
    std::fs::write(&appended, body).unwrap();
    assert!(!minisign(&appended).status.success());
    for name in [
        "files.jsonl",
        "matches.jsonl",
        "summary.json",
        "matches.csv",
        "vics.json",
        "manifest.json",
        "manifest.json.minisig",
    ] {
        let path = out.join(name);
        let original = std::fs::read(&path).unwrap();
        let mut edited = original.clone();
        let at = edited.len() / 2;
        edited[at] = if edited[at] == b'0' { b'1' } else { b'0' };
        std::fs::write(&path, &edited).unwrap();
        let (code, _, err) = run(&verify);
        assert_eq!(code, 65, "{name} edited: {err}");
        assert!(err.contains("FAILED"), "{err}");
        std::fs::write(&path, &original).unwrap();
    }
    let (code, _, _) = run(&verify);
    assert_eq!(code, 0);

    // A second scan into the same directory is refused; a missing case is a usage error.
    let (code, _, err) = run(&scan_args(&tree, &out, &[]));
    assert_eq!(code, 64, "{err}");
    assert!(err.contains("not empty"), "{err}");
    let (code, _, _) = run(&[
        os("--data"),
        tree.data.as_os_str(),
        os("scan"),
        tree.root.as_os_str(),
    ]);
    assert_eq!(code, 64);
}

#[test]
fn killed_scans_resume_to_the_uninterrupted_result() {
    let tmp = tempfile::tempdir().unwrap();
    let tree = make_tree(tmp.path());
    let reference = tmp.path().join("reference");
    let (code, _, err) = run(&scan_args(&tree, &reference, &["--batch", "32", "--quiet"]));
    assert_eq!(code, 3, "{err}");
    let expect_files = std::fs::read(reference.join("files.jsonl")).unwrap();
    let expect_matches = std::fs::read(reference.join("matches.jsonl")).unwrap();

    let mut rng = SplitMix::new(7);
    let mut killed_midway = 0;
    for trial in 0..5 {
        let out = tmp.path().join(format!("trial{trial}"));
        let args = scan_args(&tree, &out, &["--batch", "32", "--quiet"]);
        let mut child = hashguard()
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let delay = Duration::from_millis(rng.range(30, 900) as u64);
        let started = Instant::now();
        let finished = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break Some(status);
            }
            if started.elapsed() >= delay {
                break None;
            }
            std::thread::sleep(Duration::from_millis(2));
        };
        if finished.is_none() {
            // SIGKILL: no chance to clean up.
            child.kill().unwrap();
            child.wait().unwrap();
            if out.join(".checkpoint.json").exists() {
                killed_midway += 1;
                let (code, _, err) = run(&scan_args(
                    &tree,
                    &out,
                    &["--batch", "32", "--quiet", "--resume"],
                ));
                assert_eq!(code, 3, "trial {trial}: {err}");
            } else {
                // Killed before the first checkpoint: start over, as a user would.
                std::fs::remove_dir_all(&out).ok();
                let (code, _, err) = run(&args);
                assert_eq!(code, 3, "trial {trial}: {err}");
            }
        }
        assert_eq!(
            std::fs::read(out.join("files.jsonl")).unwrap(),
            expect_files,
            "trial {trial}: files.jsonl differs"
        );
        assert_eq!(
            std::fs::read(out.join("matches.jsonl")).unwrap(),
            expect_matches,
            "trial {trial}: matches.jsonl differs"
        );
        let (code, _, err) = run(&[
            os("scan"),
            os("verify"),
            out.as_os_str(),
            os("--trust-signer"),
        ]);
        assert_eq!(code, 0, "trial {trial}: {err}");
    }
    assert!(
        killed_midway >= 2,
        "only {killed_midway} trials were killed mid-scan"
    );
}
