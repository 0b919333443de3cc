//! Seized media as police hold it: `hashguard scan` over disk images (GPT raw, split raw, E01,
//! FAT card, NTFS, ext4, exFAT), archives nested in them, deleted files, encrypted members, a
//! zip bomb and an archive nested past the depth cap, made by scripts/make-seized-fixtures.sh
//! from the project's synthetic images, without root or mounting. Checked against The Sleuth
//! Kit's own fls/icat, CASE's own validator and Debian's minisign.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::common::{hashguard, md5_hex, scan_records as records, testdata};

fn sh(cmd: &mut Command) -> std::process::Output {
    let out = cmd.output().expect("command runs");
    assert!(
        out.status.success(),
        "{cmd:?}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Listed and unlisted synthetic images, the fixtures made from them, and a data directory
/// whose MD5 list holds the listed ones.
fn fixtures(base: &Path) -> (PathBuf, PathBuf, Vec<String>) {
    let listed = base.join("listed");
    let unlisted = base.join("unlisted");
    std::fs::create_dir_all(&listed).unwrap();
    std::fs::create_dir_all(&unlisted).unwrap();
    let images = testdata("images/base");
    let mut names: Vec<_> = std::fs::read_dir(&images)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("512x512") || n.contains("800x600"))
        .collect();
    names.sort();
    assert!(names.len() >= 5, "{names:?}");
    let mut md5s = Vec::new();
    for (i, n) in names.iter().take(5).enumerate() {
        let bytes = std::fs::read(images.join(n)).unwrap();
        if i < 3 {
            md5s.push(md5_hex(&bytes));
            std::fs::write(listed.join(n), bytes).unwrap();
        } else {
            std::fs::write(unlisted.join(n), bytes).unwrap();
        }
    }
    let out = base.join("seized");
    sh(Command::new("bash")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/scripts/make-seized-fixtures.sh"
        ))
        .arg(&out)
        .arg(&listed)
        .arg(&unlisted));
    let data = base.join("data");
    std::fs::write(base.join("md5.txt"), md5s.join("\n") + "\n").unwrap();
    sh(hashguard()
        .arg("--data")
        .arg(&data)
        .args(["lists", "import", "--list", "police", "--kind", "md5"])
        .args(["--category", "1"])
        .arg(base.join("md5.txt")));
    (out, data, md5s)
}

#[test]
fn seized_disk_images_and_archives_are_opened_and_every_entry_accounted_for() {
    let tmp = tempfile::tempdir().unwrap();
    let (seized, data, listed) = fixtures(tmp.path());
    let out = tmp.path().join("report");
    let scan = hashguard()
        .arg("--data")
        .arg(&data)
        .arg("scan")
        .arg(&seized)
        .args(["--case", "SEIZED-1", "--operator", "test", "-q"])
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    // Exit 3: matches found, and entries not fully processed (encrypted, bomb, depth cap).
    assert!(
        scan.status.code() == Some(3),
        "{}",
        String::from_utf8_lossy(&scan.stderr)
    );
    let recs = records(&out);
    let root = format!("{}/", seized.display());
    let rel = |r: &serde_json::Value| r["path"].as_str().unwrap().replacen(&root, "", 1);
    let found = |pred: &dyn Fn(&str, &serde_json::Value) -> bool| -> Vec<String> {
        recs.iter()
            .filter(|r| {
                r["outcome"] == "match"
                    && r["md5"]
                        .as_str()
                        .is_some_and(|m| listed.contains(&m.to_string()))
                    && pred(&rel(r), r)
            })
            .map(|r| r["md5"].as_str().unwrap().to_string())
            .collect()
    };
    let every = |what: &str, got: Vec<String>| {
        for m in &listed {
            assert!(got.contains(m), "{what}: listed {m} not found in {got:?}");
        }
    };
    // In a ZIP inside a TAR inside the ext4 partition of a GPT disk image, raw, split and E01.
    for image in ["disk.img", "disk.raw.000", "disk.E01"] {
        every(
            image,
            found(&|p, _| {
                p.starts_with(&format!("{image}!/p5/bundle.tar!/")) && p.contains("/nested.zip!/")
            }),
        );
    }
    // The containers' chain is in the record, outermost first.
    let nested = recs
        .iter()
        .find(|r| {
            rel(r).starts_with("disk.E01!/p5/bundle.tar!/") && rel(r).contains("nested.zip!/")
        })
        .unwrap();
    let chain: Vec<String> = nested["container"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().replacen(&root, "", 1))
        .collect();
    assert_eq!(chain.len(), 3, "{chain:?}");
    assert_eq!(chain[0], "disk.E01");
    assert_eq!(chain[1], "disk.E01!/p5/bundle.tar");
    assert!(chain[2].ends_with("nested.zip"), "{chain:?}");
    // A file of a disk image says where it is, as icat would take it.
    let tar = recs
        .iter()
        .find(|r| rel(r) == "disk.E01!/p5/bundle.tar")
        .unwrap();
    assert_eq!(tar["fs_type"], "ext4");
    assert_eq!(tar["fs_offset"], 18432 * 512);
    assert!(tar["meta_addr"].as_u64().is_some());
    // On the FAT card, allocated and deleted (flagged, and said to be possibly overwritten).
    every(
        "card",
        found(&|p, r| p.starts_with("card.img!/") && r["deleted"].is_null()),
    );
    let deleted: Vec<&serde_json::Value> = recs
        .iter()
        .filter(|r| rel(r).starts_with("card.img!/") && r["deleted"] == true)
        .collect();
    assert!(!deleted.is_empty());
    for r in &deleted {
        assert_eq!(r["outcome"], "match", "{r}");
        assert!(r["recovered"].as_str().unwrap().contains("overwritten"));
    }
    every("ntfs", found(&|p, _| p.starts_with("ntfs.img!/")));
    // Carved from unallocated space after the file records were wiped, with their offsets.
    every(
        "carved",
        found(&|p, r| {
            p.starts_with("wiped.img!/$Carved/@")
                && r["offset"]
                    .as_u64()
                    .is_some_and(|o| p.contains(&format!("@{o}.")))
        }),
    );
    // Encrypted members are recorded, never skipped.
    for (path, outcome) in [
        ("enc.zip!/", "encrypted"),
        ("enc.7z!/", "encrypted"),
        ("enchdr.7z!/", "encrypted"),
    ] {
        assert!(
            recs.iter()
                .any(|r| rel(r).starts_with(path) && r["outcome"] == outcome),
            "{path}"
        );
    }
    // The bomb stops at its cap with a clear outcome for the member and the rest.
    let bomb: Vec<_> = recs
        .iter()
        .filter(|r| rel(r).starts_with("bomb.zip!/"))
        .collect();
    assert!(
        bomb.iter().any(|r| r["outcome"] == "too_large"
            && r["detail"].as_str().unwrap().contains("expansion cap")),
        "{bomb:?}"
    );
    // Nested past the depth cap: the innermost archive is recorded, not opened.
    let deep: Vec<_> = recs
        .iter()
        .filter(|r| rel(r).starts_with("deep.zip!/"))
        .collect();
    assert!(
        deep.iter()
            .any(|r| r["outcome"] == "not_opened"
                && r["detail"].as_str().unwrap().contains("depth cap")),
        "{deep:?}"
    );
    // The totals add up at every depth, and match the records.
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    let totals = &summary["totals"];
    assert_eq!(totals["found"].as_u64().unwrap() as usize, recs.len());
    let mut by_depth: BTreeMap<usize, u64> = BTreeMap::new();
    for r in &recs {
        *by_depth
            .entry(r["container"].as_array().map_or(0, Vec::len))
            .or_default() += 1;
    }
    assert!(by_depth.len() >= 4, "{by_depth:?}");
    let mut sum = 0;
    for (depth, t) in totals["depths"].as_object().unwrap() {
        let found = t["found"].as_u64().unwrap();
        let outcomes: u64 = t["outcomes"]
            .as_object()
            .unwrap()
            .values()
            .map(|v| v.as_u64().unwrap())
            .sum();
        assert_eq!(found, outcomes, "depth {depth}");
        assert_eq!(Some(&found), by_depth.get(&depth.parse().unwrap()));
        sum += found;
    }
    assert_eq!(sum, totals["found"].as_u64().unwrap());

    // The Sleuth Kit's own tools give the same SHA-256 for every allocated file.
    for image in ["disk.img", "disk.E01", "card.img", "ntfs.img", "ext4.img"] {
        let out = sh(Command::new("bash")
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/scripts/tsk-agreement.sh"
            ))
            .arg(seized.join(image))
            .arg(&out));
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("agree"), "{image}: {text}");
    }
    // The CASE/UCO export validates with the CASE project's own validator.
    sh(Command::new("bash")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/scripts/case-validate.sh"
        ))
        .arg(&out));
    // And the signed manifest verifies.
    sh(hashguard()
        .args(["scan", "verify", "--trust-signer"])
        .arg(&out));
}

#[test]
fn a_killed_scan_of_containers_resumes_to_the_same_records() {
    let tmp = tempfile::tempdir().unwrap();
    let (seized, data, _) = fixtures(tmp.path());
    let scan = |out: &Path, extra: &[&str]| {
        hashguard()
            .arg("--data")
            .arg(&data)
            .arg("scan")
            .arg(&seized)
            .args(["--case", "SEIZED-2", "-q", "--batch", "7"])
            .arg("--out")
            .arg(out)
            .args(extra)
            .output()
            .unwrap()
    };
    let whole = tmp.path().join("whole");
    assert_eq!(scan(&whole, &[]).status.code(), Some(3));
    // Interrupt after a few batches (the checkpoint is inside a container by then), resume.
    let cut = tmp.path().join("cut");
    let mut child = hashguard()
        .arg("--data")
        .arg(&data)
        .arg("scan")
        .arg(&seized)
        .args(["--case", "SEIZED-2", "-q", "--batch", "7"])
        .arg("--out")
        .arg(&cut)
        .spawn()
        .unwrap();
    loop {
        let lines = std::fs::read_to_string(cut.join("files.jsonl"))
            .map(|t| t.lines().count())
            .unwrap_or(0);
        if lines >= 30 || child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        !cut.join("summary.json").exists(),
        "the scan finished before it could be interrupted"
    );
    assert_eq!(scan(&cut, &["--resume"]).status.code(), Some(3));
    let strip = |recs: Vec<serde_json::Value>| -> Vec<(String, String, String)> {
        recs.into_iter()
            .map(|r| {
                (
                    r["path"].as_str().unwrap().to_string(),
                    r["outcome"].as_str().unwrap().to_string(),
                    r["sha256"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect()
    };
    assert_eq!(strip(records(&whole)), strip(records(&cut)));
}
