//! Listed videos matched as videos, end to end through the binary: vPDQ files of the project's
//! synthetic clips imported as a list of whole videos, then copies, an excerpt inside a longer
//! clip, unrelated clips and flat frames matched with `match --kind vpdq`, `scan` and
//! `MatchMedia`.

use std::path::{Path, PathBuf};

use hashguard::proto;
use hashguard::proto::media_chunk::Part;
use hashguard::proto::{MediaChunk, MediaMetadata};

use crate::common::{OPERATOR, TestServer, UNIT_A, hashguard, testdata, write_server_config};

/// The listed originals (entry id = file stem).
const LISTED: [&str; 5] = [
    "mandelbrot.mp4",
    "cellauto.mp4",
    "life.webm",
    "testsrc2.avi",
    "flat_listed.mp4",
];

fn run(args: &[&str]) -> (i32, String, String) {
    let out = hashguard().args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `hashguard hash --format vpdq` of a clip into `dir/STEM.vpdq`.
fn vpdq_file(clip: &str, dir: &Path) -> PathBuf {
    let src = testdata("video").join(clip);
    let (code, out, err) = run(&["hash", "--format", "vpdq", src.to_str().unwrap()]);
    assert_eq!(code, 0, "{clip}: {err}");
    let stem = Path::new(clip).file_stem().unwrap().to_str().unwrap();
    let path = dir.join(format!("{stem}.vpdq"));
    std::fs::write(&path, out).unwrap();
    path
}

/// A data directory with list `known-videos` holding the listed clips as whole videos.
fn listed(dir: &Path) -> PathBuf {
    let listed = dir.join("listed");
    std::fs::create_dir_all(&listed).unwrap();
    for clip in LISTED {
        vpdq_file(clip, &listed);
    }
    let data = dir.join("data");
    let (code, out, err) = run(&[
        "--data",
        data.to_str().unwrap(),
        "lists",
        "import",
        "--list",
        "known-videos",
        "--format",
        "vpdq",
        "--category",
        "A1",
        "--unit",
        "unit-a",
        "--radius",
        "vpdq=31",
        listed.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("5 vpdq"), "{out}");
    data
}

/// The JSON lines `match --kind vpdq` prints for one query clip, and its exit status.
fn match_clip(data: &Path, clip: &str, dir: &Path) -> (i32, Vec<serde_json::Value>) {
    let q = vpdq_file(clip, dir);
    let (code, out, err) = run(&[
        "--data",
        data.to_str().unwrap(),
        "match",
        "--kind",
        "vpdq",
        q.to_str().unwrap(),
    ]);
    assert!(code == 0 || code == 1, "{clip}: {code} {err}");
    let lines = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (code, lines)
}

#[test]
fn copies_match_an_excerpt_is_located_and_unrelated_or_flat_clips_do_not() {
    let tmp = tempfile::tempdir().unwrap();
    let data = listed(tmp.path());
    let queries = tmp.path().join("queries");
    std::fs::create_dir_all(&queries).unwrap();

    // Re-encoded, resized and frame-rate-changed copies: `match`, both shares ≥ 95%.
    for clip in [
        "mandelbrot_reencoded.mp4",
        "mandelbrot_resized.mp4",
        "mandelbrot_15fps.mp4",
    ] {
        let (code, hits) = match_clip(&data, clip, &queries);
        assert_eq!((code, hits.len()), (0, 1), "{clip}: {hits:?}");
        let h = &hits[0];
        eprintln!("{clip}: {h}");
        assert_eq!(h["entry"], "mandelbrot", "{clip}");
        assert_eq!(h["match"], "match", "{clip}");
        assert_eq!(h["category"], "A1");
        for share in ["query_share", "listed_share"] {
            let s = h[share].as_f64().unwrap();
            assert!((0.95..=1.0).contains(&s), "{clip}: {share} {s}");
        }
        let r = &h["ranges"][0];
        assert!(r["query"][0].as_f64().unwrap() <= 1.0, "{clip}: {r}");
        assert!(r["listed"][1].as_f64().unwrap() >= 10.0, "{clip}: {r}");
    }

    // 10 s of mandelbrot (1-11 s) at 25-35 s of a 60 s clip: an excerpt, not a match.
    let (code, hits) = match_clip(&data, "splice60.mp4", &queries);
    assert_eq!((code, hits.len()), (0, 1), "{hits:?}");
    let h = &hits[0];
    eprintln!("splice60: {h}");
    assert_eq!(
        (h["entry"].as_str(), h["match"].as_str()),
        (Some("mandelbrot"), Some("excerpt"))
    );
    assert!(h["query_share"].as_f64().unwrap() < 0.25, "{h}");
    let ranges = h["ranges"].as_array().unwrap();
    assert_eq!(ranges.len(), 1, "{h}");
    let near = |v: &serde_json::Value, want: f64| (v.as_f64().unwrap() - want).abs() <= 1.0;
    let r = &ranges[0];
    assert!(
        near(&r["query"][0], 25.0) && near(&r["query"][1], 34.0),
        "{r}"
    );
    assert!(
        near(&r["listed"][0], 1.0) && near(&r["listed"][1], 10.0),
        "{r}"
    );

    // Unrelated clips match only themselves; black frames shared with a listed clip do not
    // match (they are below the quality floor on both sides).
    for clip in ["cellauto.mp4", "life.webm", "testsrc2.avi"] {
        let (_, hits) = match_clip(&data, clip, &queries);
        let entries: Vec<&str> = hits.iter().map(|h| h["entry"].as_str().unwrap()).collect();
        let stem = Path::new(clip).file_stem().unwrap().to_str().unwrap();
        assert_eq!(entries, vec![stem], "{clip}: {hits:?}");
    }
    let (code, hits) = match_clip(&data, "flat_query.mp4", &queries);
    assert_eq!((code, hits.len()), (1, 0), "{hits:?}");
}

#[test]
fn scans_and_uploads_report_the_listed_video_with_shares_and_ranges() {
    let tmp = tempfile::tempdir().unwrap();
    let data = listed(tmp.path());

    // A scan's matches.jsonl names the listed video, the kind of match and the ranges.
    let evidence = tmp.path().join("evidence");
    std::fs::create_dir_all(&evidence).unwrap();
    for clip in ["splice60.mp4", "mandelbrot_resized.mp4", "flat_query.mp4"] {
        std::fs::copy(testdata("video").join(clip), evidence.join(clip)).unwrap();
    }
    let out = tmp.path().join("out");
    let (code, _, err) = run(&[
        "--data",
        data.to_str().unwrap(),
        "scan",
        evidence.to_str().unwrap(),
        "--case",
        "CASE-V",
        "--out",
        out.to_str().unwrap(),
        "--operator",
        "test",
    ]);
    assert!(code == 0 || code == 1, "{code}: {err}");
    let matches = std::fs::read_to_string(out.join("matches.jsonl")).unwrap();
    let videos: Vec<serde_json::Value> = matches
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|m| m.to_string().contains("\"vpdq\""))
        .collect();
    let by_file = |name: &str| {
        videos
            .iter()
            .find(|m| m.to_string().contains(name))
            .unwrap_or_else(|| panic!("{name}: {matches}"))
            .clone()
    };
    let splice = by_file("splice60.mp4");
    assert!(
        splice.to_string().contains("\"match\":\"excerpt\""),
        "{splice}"
    );
    let resized = by_file("mandelbrot_resized.mp4");
    assert!(
        resized.to_string().contains("\"match\":\"match\""),
        "{resized}"
    );
    assert!(
        !videos.iter().any(|m| m.to_string().contains("flat_query")),
        "{matches}"
    );

    // MatchMedia: the verdict says how the upload matched (no entry id), the report says which
    // listed video, with both shares and the ranges.
    let config = write_server_config(tmp.path());
    crate::server::append(&config, "\n[rest]\nlisten = \"127.0.0.1:0\"\n");
    let server = TestServer::start(&data, &config);
    let clip = std::fs::read(testdata("video/splice60.mp4")).unwrap();
    server.block_on(async {
        let mut chunks = vec![MediaChunk {
            part: Some(Part::Metadata(MediaMetadata {
                tenant_reference: "upload-v".into(),
                content_type: "video/mp4".into(),
                declared_size: clip.len() as u64,
            })),
        }];
        chunks.extend(clip.chunks(64 * 1024).map(|c| MediaChunk {
            part: Some(Part::Data(c.to_vec())),
        }));
        let v = server
            .matcher(OPERATOR)
            .match_media(tokio_stream::iter(chunks))
            .await
            .unwrap()
            .into_inner()
            .verdict
            .unwrap();
        assert!(v.matched, "{v:?}");
        assert_eq!(v.videos.len(), 1, "{v:?}");
        let vv = &v.videos[0];
        assert_eq!(
            (vv.r#match.as_str(), vv.category.as_str()),
            ("excerpt", "A1")
        );
        assert!((vv.ranges[0].start - 25.0).abs() <= 1.0, "{vv:?}");
        assert!(
            !format!("{v:?}").contains("mandelbrot"),
            "no entry id: {v:?}"
        );
        let reports = crate::server::first_reports(&server, UNIT_A).await;
        let m = reports
            .iter()
            .flat_map(|r| &r.matches)
            .find(|m| m.kind == proto::HashKind::Vpdq as i32)
            .unwrap_or_else(|| panic!("{reports:?}"));
        assert_eq!(
            (m.entry_id.as_str(), m.video_match.as_str()),
            ("mandelbrot", "excerpt")
        );
        assert!(m.listed_share > 0.7 && m.query_share < 0.25, "{m:?}");
        let r = m.ranges[0].listed.unwrap();
        assert!(
            (r.start - 1.0).abs() <= 1.0 && (r.end - 10.0).abs() <= 1.0,
            "{m:?}"
        );
    });

    // The investigator's CLI prints the listed video's match with its shares and ranges.
    let out = hashguard()
        .args([
            "reports",
            "list",
            "--server",
            &format!("http://{}", server.addr),
        ])
        .env("HASHGUARD_TOKEN", UNIT_A)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let printed = String::from_utf8(out.stdout).unwrap();
    let report: serde_json::Value = serde_json::from_str(printed.lines().next().unwrap()).unwrap();
    let video = &report["matches"][0]["video"];
    assert_eq!(video["match"], "excerpt", "{printed}");
    assert!(
        video["ranges"][0]["query"][0].as_f64().unwrap() >= 24.0,
        "{printed}"
    );

    // HMA's lookup by a vPDQ signal (python-threatexchange's JSON list of
    // "pdq_hex,quality,timestamp") finds the listed video in its bank and files a report.
    let frames = hashguard::media::hash_video_file(
        &testdata("video/mandelbrot_resized.mp4"),
        &hashguard::media::VideoOptions::default(),
    )
    .unwrap()
    .frames;
    let signal: Vec<String> = frames
        .iter()
        .map(|f| format!("{},{},{:.3}", f.pdq, f.quality, f.ts()))
        .collect();
    let signal = serde_json::to_string(&signal).unwrap();
    let url = format!("http://{}/m/lookup", server.rest.expect("the facade is on"));
    let mut answer = ureq::get(&url)
        .header("Authorization", format!("Bearer {OPERATOR}"))
        .query("signal_type", "vpdq")
        .query("signal", &signal)
        .call()
        .unwrap();
    assert!(answer.headers().contains_key("x-hashguard-report-id"));
    let body: serde_json::Value =
        serde_json::from_str(&answer.body_mut().read_to_string().unwrap()).unwrap();
    assert_eq!(
        body["KNOWN_VIDEOS"].as_array().map(Vec::len),
        Some(1),
        "{body}"
    );
    let bad = ureq::get(&url)
        .header("Authorization", format!("Bearer {OPERATOR}"))
        .query("signal_type", "vpdq")
        .query("signal", "[\"nothex,100,0.0\"]")
        .config()
        .http_status_as_error(false)
        .build()
        .call()
        .unwrap();
    assert_eq!(bad.status(), 400);
}
