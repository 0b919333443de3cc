//! `hashguard serve` as a separate process on an ephemeral loopback port, driven by tonic
//! clients: verdicts, every error path, unit isolation, durability across SIGKILL, and
//! FollowReports across a reconnect.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hashguard::proto::{
    self, HashKind, MatchHashesRequest, MediaChunk, MediaMetadata, TypedHash,
    matcher_client::MatcherClient, media_chunk::Part,
};
use hashguard::server::auth::token_hash;
use tonic::{Code, Request};

use crate::common::{
    ADMIN, OPERATOR, TestServer, UNIT_A, UNIT_B, hashguard, md5_hex, scene_pdq, testdata,
    write_server_config,
};

/// Runs the binary with `args`, which must succeed.
fn run_ok(args: &[&str]) {
    let out = hashguard().args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Data with two lists routed to two units, a tokens file and a config.
pub(crate) fn setup(dir: &Path) -> (PathBuf, PathBuf, String, String) {
    let data = dir.join("data");
    let secret: Vec<u8> = (0..4000).map(|i| (i * 13 % 251) as u8).collect();
    let md5 = md5_hex(&secret);
    std::fs::write(dir.join("secret.bin"), &secret).unwrap();
    std::fs::write(dir.join("md5.txt"), format!("{md5}\n")).unwrap();
    let d = data.to_str().unwrap();
    run_ok(&[
        "--data",
        d,
        "lists",
        "import",
        "--list",
        "police-md5",
        "--kind",
        "md5",
        "--category",
        "1",
        dir.join("md5.txt").to_str().unwrap(),
    ]);
    let scene = scene_pdq();
    std::fs::write(
        dir.join("pdq.jsonl"),
        format!(
            "{{\"id\":\"scene-p00\",\"kind\":\"pdq\",\"hash\":\"{scene}\",\"category\":\"A1\"}}\n"
        ),
    )
    .unwrap();
    run_ok(&[
        "--data",
        d,
        "lists",
        "import",
        "--list",
        "intl-pdq",
        "--format",
        "jsonl",
        dir.join("pdq.jsonl").to_str().unwrap(),
    ]);
    let config = write_server_config(dir);
    (data, config, md5, scene.to_hex())
}

/// `setup` in a new temporary directory and a server started on it: (dir, server, listed MD5).
fn serve_lists() -> (tempfile::TempDir, TestServer, String) {
    let tmp = tempfile::tempdir().unwrap();
    let (data, config, md5, _) = setup(tmp.path());
    let server = TestServer::start(&data, &config);
    (tmp, server, md5)
}

/// Appends `text` to the file at `path`.
pub(crate) fn append(path: &Path, text: &str) {
    let mut all = std::fs::read_to_string(path).unwrap();
    all.push_str(text);
    std::fs::write(path, all).unwrap();
}

/// Adds `lines` to the config's `[limits]` section.
fn set_limits(config: &Path, lines: &str) {
    let text = std::fs::read_to_string(config).unwrap();
    std::fs::write(
        config,
        text.replace("[limits]\n", &format!("[limits]\n{lines}\n")),
    )
    .unwrap();
}

/// Turns the metrics listener on, on an ephemeral loopback port.
fn enable_metrics(config: &Path) {
    append(config, "\n[metrics]\nlisten = \"127.0.0.1:0\"\n");
}

/// GET `path` from the metrics listener over plain HTTP/1.1: (status line, headers, body).
fn http_get(addr: SocketAddr, path: &str) -> (String, String, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let (status, headers) = head.split_once("\r\n").unwrap_or((head, ""));
    (status.to_string(), headers.to_lowercase(), body.to_string())
}

/// The value of one sample line (`name{labels}`) in a scrape, 0 when absent.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0.0)
}

/// A MatchHashes request for one hash, with tenant reference `upload-42`.
pub(crate) fn hashes(kind: HashKind, hex: &str) -> MatchHashesRequest {
    MatchHashesRequest {
        hashes: vec![TypedHash {
            kind: kind as i32,
            hex: hex.into(),
        }],
        tenant_reference: "upload-42".into(),
    }
}

/// An upload of `bytes` declaring `declared` bytes, with tenant reference `upload-7`.
fn upload(bytes: &[u8], declared: u64) -> Vec<MediaChunk> {
    let mut v = vec![MediaChunk {
        part: Some(Part::Metadata(MediaMetadata {
            tenant_reference: "upload-7".into(),
            content_type: String::new(),
            declared_size: declared,
        })),
    }];
    v.extend(bytes.chunks(64 * 1024).map(|c| MediaChunk {
        part: Some(Part::Data(c.to_vec())),
    }));
    v
}

/// A resized copy of the scene listed in intl-pdq.
fn resized_scene() -> Vec<u8> {
    std::fs::read(testdata("images/variants/p00_480x360_resize50.png")).unwrap()
}

/// The first 100 reports the investigator `token` may read.
pub(crate) async fn first_reports(server: &TestServer, token: &str) -> Vec<proto::Report> {
    server
        .reports(token)
        .list_reports(proto::ListReportsRequest {
            cursor: 0,
            limit: 100,
        })
        .await
        .unwrap()
        .into_inner()
        .reports
}

/// Files a report for unit A (an MD5 match); returns its id.
async fn file_md5(server: &TestServer, md5: &str) -> String {
    server
        .matcher(OPERATOR)
        .match_hashes(hashes(HashKind::Md5, md5))
        .await
        .unwrap()
        .into_inner()
        .verdicts[0]
        .report_id
        .clone()
}

/// Files an MD5 report for unit A (its id is returned), then an upload's report for unit B.
async fn file_a_report_for_each_unit(server: &TestServer, md5: &str) -> String {
    let id = file_md5(server, md5).await;
    let image = resized_scene();
    server
        .matcher(OPERATOR)
        .match_media(tokio_stream::iter(upload(&image, image.len() as u64)))
        .await
        .unwrap();
    id
}

// ---------------------------------------------------------------- MatchHashes
#[test]
fn match_hashes_reports_a_listed_md5_and_misses_an_unlisted_one() {
    let (_tmp, server, md5) = serve_lists();
    server.block_on(async {
        let mut matcher = server.matcher(OPERATOR);
        let v = matcher
            .match_hashes(hashes(HashKind::Md5, &md5))
            .await
            .unwrap()
            .into_inner();
        let hit = &v.verdicts[0];
        assert!(hit.matched && !hit.report_id.is_empty(), "{hit:?}");
        assert_eq!(hit.categories, vec!["1".to_string()]);
        let miss = matcher
            .match_hashes(hashes(HashKind::Md5, &"ab".repeat(16)))
            .await
            .unwrap()
            .into_inner();
        assert!(!miss.verdicts[0].matched && miss.verdicts[0].report_id.is_empty());
    });
}

#[test]
fn match_hashes_rejects_malformed_hashes_as_invalid_argument() {
    let (_tmp, server, md5) = serve_lists();
    server.block_on(async {
        let mut matcher = server.matcher(OPERATOR);
        let e = matcher
            .match_hashes(hashes(HashKind::Pdq, "abcd"))
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
        assert!(e.message().contains("hash 0"), "{}", e.message());
        let e = matcher
            .match_hashes(hashes(HashKind::Unspecified, &md5))
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument);
    });
}

#[test]
fn match_hashes_refuses_missing_and_unknown_tokens_and_investigators() {
    let (_tmp, server, md5) = serve_lists();
    server.block_on(async {
        let e = MatcherClient::new(server.channel())
            .match_hashes(hashes(HashKind::Md5, &md5))
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::Unauthenticated);
        let e = server
            .matcher("wrong-token")
            .match_hashes(hashes(HashKind::Md5, &md5))
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::Unauthenticated);
        let e = server
            .matcher(UNIT_A)
            .match_hashes(hashes(HashKind::Md5, &md5))
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
    });
}

// ---------------------------------------------------------------- uploads
#[test]
fn match_media_matches_a_resized_copy_and_a_heic_of_a_listed_scene() {
    let (_tmp, server, _) = serve_lists();
    // The listed scene p00 resized, and as an iPhone would store it.
    let heic = std::fs::read(testdata("heif/p00.heic")).unwrap();
    for image in [resized_scene(), heic] {
        server.block_on(async {
            let v = server
                .matcher(OPERATOR)
                .match_media(tokio_stream::iter(upload(&image, image.len() as u64)))
                .await
                .unwrap()
                .into_inner();
            let verdict = v.verdict.unwrap();
            assert!(verdict.matched, "{verdict:?}");
            assert_eq!(verdict.categories, vec!["A1".to_string()]);
            let f = v.fingerprint.unwrap();
            assert_eq!((f.kind.as_str(), f.error.as_str()), ("image", ""));
            assert!(!f.pdq.is_empty());
        });
    }
}

#[test]
fn hash_media_hashes_a_video_frame_by_frame() {
    let (_tmp, server, _) = serve_lists();
    let video = std::fs::read(testdata("video/testsrc2.avi")).unwrap();
    server.block_on(async {
        let f = server
            .matcher(OPERATOR)
            .hash_media(tokio_stream::iter(upload(&video, 0)))
            .await
            .unwrap()
            .into_inner();
        assert_eq!((f.kind.as_str(), f.frames.len()), ("video", 6));
    });
}

#[test]
fn uploads_declared_or_sent_over_the_limit_are_resource_exhausted() {
    let (_tmp, server, _) = serve_lists();
    let image = resized_scene();
    server.block_on(async {
        let mut matcher = server.matcher(OPERATOR);
        let e = matcher
            .hash_media(tokio_stream::iter(upload(&image, 3_000_000)))
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::ResourceExhausted, "{e:?}");
        let big = vec![7u8; 2_100_000];
        let e = matcher
            .hash_media(tokio_stream::iter(upload(&big, 0)))
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::ResourceExhausted, "{e:?}");
    });
}

#[test]
fn truncated_uploads_and_uploads_without_metadata_are_invalid_argument() {
    let (_tmp, server, _) = serve_lists();
    let image = resized_scene();
    server.block_on(async {
        let mut matcher = server.matcher(OPERATOR);
        let e = matcher
            .hash_media(tokio_stream::iter(upload(&image[..100], 5000)))
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
        assert!(e.message().contains("truncated"), "{}", e.message());
        let e = matcher
            .hash_media(tokio_stream::iter(vec![MediaChunk {
                part: Some(Part::Data(image.clone())),
            }]))
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument);
    });
}

// ---------------------------------------------------------------- reports and lists
#[test]
fn each_unit_sees_and_acknowledges_only_its_own_reports() {
    let (_tmp, server, md5) = serve_lists();
    server.block_on(async {
        let hit = file_a_report_for_each_unit(&server, &md5).await;
        // A miss and a plain hash file no report.
        let mut matcher = server.matcher(OPERATOR);
        matcher
            .match_hashes(hashes(HashKind::Md5, &"ab".repeat(16)))
            .await
            .unwrap();
        let video = std::fs::read(testdata("video/testsrc2.avi")).unwrap();
        matcher
            .hash_media(tokio_stream::iter(upload(&video, 0)))
            .await
            .unwrap();

        // Unit A sees the MD5 report, unit B the PDQ one; neither sees the other's.
        let mut reports = server.reports(UNIT_A);
        let a = reports
            .list_reports(proto::ListReportsRequest {
                cursor: 0,
                limit: 0,
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(a.reports.len(), 1);
        assert_eq!(a.reports[0].id, hit);
        let m = &a.reports[0].matches[0];
        assert_eq!(
            (m.list.as_str(), m.entry_id.as_str(), m.entry_hash.as_str()),
            ("police-md5", "0", md5.as_str())
        );
        assert_eq!(a.reports[0].tenant, "acme");
        assert_eq!(a.reports[0].tenant_reference, "upload-42");
        let b = server
            .reports(UNIT_B)
            .list_reports(proto::ListReportsRequest {
                cursor: 0,
                limit: 0,
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(b.reports.len(), 1);
        assert_eq!(b.reports[0].matches[0].list, "intl-pdq");
        let acked = reports
            .ack_reports(proto::AckReportsRequest {
                ids: vec![b.reports[0].id.clone()],
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(acked.acked, 0, "unit A cannot acknowledge unit B's report");
    });
}

#[test]
fn operators_cannot_list_reports() {
    let (_tmp, server, _) = serve_lists();
    server.block_on(async {
        let e = server
            .reports(OPERATOR)
            .list_reports(proto::ListReportsRequest::default())
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::PermissionDenied);
    });
}

#[test]
fn list_lists_shows_each_list_with_its_unit() {
    let (_tmp, server, _) = serve_lists();
    server.block_on(async {
        let l = server
            .lists(ADMIN)
            .list_lists(proto::ListListsRequest {})
            .await
            .unwrap()
            .into_inner();
        assert_eq!(l.lists.len(), 2);
        assert_eq!(
            l.lists
                .iter()
                .find(|x| x.name == "police-md5")
                .unwrap()
                .unit,
            "unit-a"
        );
    });
}

#[test]
fn follow_reports_replays_then_goes_live_and_resumes_from_a_cursor() {
    let (_tmp, server, md5) = serve_lists();
    server.block_on(async {
        let hit = file_a_report_for_each_unit(&server, &md5).await;
        let mut matcher = server.matcher(OPERATOR);
        let mut reports = server.reports(UNIT_A);

        // Replay, then live; reconnecting from the last cursor repeats nothing.
        let mut follow = reports
            .follow_reports(proto::FollowReportsRequest { cursor: 0 })
            .await
            .unwrap()
            .into_inner();
        let first = follow.message().await.unwrap().unwrap();
        assert_eq!(first.id, hit);
        for _ in 0..3 {
            matcher
                .match_hashes(hashes(HashKind::Md5, &md5))
                .await
                .unwrap();
        }
        let mut seen = vec![first.cursor];
        for _ in 0..2 {
            seen.push(follow.message().await.unwrap().unwrap().cursor);
        }
        drop(follow); // the investigator's connection drops after 3 of 4
        let mut follow = reports
            .follow_reports(proto::FollowReportsRequest {
                cursor: *seen.last().unwrap(),
            })
            .await
            .unwrap()
            .into_inner();
        matcher
            .match_hashes(hashes(HashKind::Md5, &md5))
            .await
            .unwrap();
        for _ in 0..2 {
            seen.push(follow.message().await.unwrap().unwrap().cursor);
        }
        assert_eq!(seen, vec![1, 2, 3, 4, 5], "no gap, no repeat");
    });
}

/// Concurrent filings broadcast their reports in either order; a follower that reconnects at
/// random points still sees every acknowledged report exactly once, in cursor order.
#[test]
fn concurrent_filings_reach_a_reconnecting_follower_exactly_once_in_order() {
    let (_tmp, server, md5) = serve_lists();
    const WRITERS: usize = 8;
    const CALLS: usize = 25;
    let total = WRITERS * CALLS;
    server.block_on(async {
        let writers: Vec<_> = (0..WRITERS)
            .map(|_| {
                let (mut matcher, md5) = (server.matcher(OPERATOR), md5.clone());
                tokio::spawn(async move {
                    let mut ids = Vec::new();
                    for _ in 0..CALLS {
                        let v = matcher
                            .match_hashes(hashes(HashKind::Md5, &md5))
                            .await
                            .unwrap()
                            .into_inner();
                        ids.push(v.verdicts[0].report_id.clone());
                    }
                    ids
                })
            })
            .collect();
        let seen =
            crate::common::follow_with_reconnects(server.reports(UNIT_A), total, 0x9e37_79b9, 17)
                .await;
        let mut acked: Vec<String> = Vec::new();
        for w in writers {
            acked.extend(w.await.unwrap());
        }
        crate::common::assert_each_once_in_order(seen, &acked);
    });
}

/// Report reads, follows and acknowledgements, and refused tokens, reach the audit log, which
/// `hashguard audit` reads (read-only, beside the running server) and verifies.
#[test]
fn reads_follows_acks_and_refused_tokens_are_audited() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, config, md5, _) = setup(tmp.path());
    let server = TestServer::start(&data, &config);
    server.block_on(async {
        let id = file_md5(&server, &md5).await;
        let mut reports = server.reports(UNIT_A);
        reports
            .list_reports(proto::ListReportsRequest {
                cursor: 0,
                limit: 10,
            })
            .await
            .unwrap();
        let mut follow = reports
            .follow_reports(proto::FollowReportsRequest { cursor: 0 })
            .await
            .unwrap()
            .into_inner();
        follow.message().await.unwrap().unwrap();
        drop(follow);
        reports
            .ack_reports(proto::AckReportsRequest { ids: vec![id] })
            .await
            .unwrap();
        for _ in 0..3 {
            let refused = server
                .matcher("not-a-token")
                .match_hashes(hashes(HashKind::Md5, &md5))
                .await
                .unwrap_err();
            assert_eq!(refused.code(), Code::Unauthenticated);
        }
    });
    let audit = |args: &[&str]| {
        hashguard()
            .args(["--data", data.to_str().unwrap(), "audit"])
            .args(args)
            .arg("--config")
            .arg(&config)
            .output()
            .unwrap()
    };
    // Refusals are written together every few seconds.
    let deadline = Instant::now() + Duration::from_secs(30);
    let entries = loop {
        let entries = json_lines(&audit(&["list", "--limit", "1000"]));
        let has_end = entries.iter().any(|e| e["detail"]["event"] == "end");
        if (entries.iter().any(|e| e["action"] == "auth.refused") && has_end)
            || Instant::now() > deadline
        {
            break entries;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let find = |action: &str| {
        entries
            .iter()
            .filter(|e| e["action"] == action)
            .cloned()
            .collect::<Vec<_>>()
    };
    let list = find("reports.list");
    assert_eq!(list.len(), 1, "{entries:?}");
    assert_eq!(list[0]["actor"], "investigator:unit-a");
    assert_eq!(
        (
            &list[0]["detail"]["unit"],
            &list[0]["detail"]["next_cursor"]
        ),
        (&serde_json::json!("unit-a"), &serde_json::json!(1))
    );
    let follow = find("reports.follow");
    assert_eq!(follow.len(), 2, "a start and an end: {entries:?}");
    assert_eq!(follow[1]["detail"]["last_cursor"], 1);
    assert_eq!(find("reports.ack")[0]["detail"]["acked"], 1);
    let refused: u64 = find("auth.refused")
        .iter()
        .map(|e| e["detail"]["refused"].as_u64().unwrap())
        .sum();
    assert_eq!(refused, 3);
    let seqs: Vec<u64> = entries.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>());
    let out = audit(&["verify"]);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && said.contains("audit log intact"),
        "{said}"
    );
    let out = audit(&["export"]);
    let first: serde_json::Value = serde_json::from_str(
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(first["prev"].as_str().unwrap(), "0".repeat(64));
}

/// List changes made with the CLI go to the data directory's audit log too.
#[test]
fn cli_list_changes_are_audited() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, _, _, _) = setup(tmp.path());
    let d = data.to_str().unwrap();
    let md5s = tmp.path().join("md5.txt");
    run_ok(&[
        "--data",
        d,
        "lists",
        "import",
        "--list",
        "police-md5",
        "--kind",
        "md5",
        md5s.to_str().unwrap(),
    ]);
    run_ok(&["--data", d, "lists", "rollback", "police-md5"]);
    let entries = json_lines(
        &hashguard()
            .args(["--data", d, "audit", "list"])
            .env_remove("HASHGUARD_CONFIG")
            .output()
            .unwrap(),
    );
    let actions: Vec<&str> = entries
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "lists.import",
            "lists.import",
            "lists.import",
            "lists.rollback"
        ],
        "{entries:?}"
    );
    assert!(entries[0]["actor"].as_str().unwrap().starts_with("cli:"));
    assert_eq!(entries[0]["detail"]["list"], "police-md5");
}

/// A hash repeated in one call is looked up and reported once; every copy gets the verdict.
#[test]
fn a_hash_repeated_in_one_call_files_one_report() {
    let (_tmp, server, md5) = serve_lists();
    server.block_on(async {
        let one = TypedHash {
            kind: HashKind::Md5 as i32,
            hex: md5.clone(),
        };
        let v = server
            .matcher(OPERATOR)
            .match_hashes(MatchHashesRequest {
                hashes: vec![one; 1000],
                tenant_reference: "bulk".into(),
            })
            .await
            .unwrap()
            .into_inner()
            .verdicts;
        assert_eq!(v.len(), 1000);
        assert!(v.iter().all(|x| x.matched && x.report_id == v[0].report_id));
        assert_eq!(first_reports(&server, UNIT_A).await.len(), 1);
    });
}

#[test]
fn a_report_acknowledged_to_the_operator_survives_sigkill_and_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, config, md5, _) = setup(tmp.path());
    let mut server = TestServer::start(&data, &config);
    // Five reports for unit A, then the one whose answer the operator got just before the kill.
    let before_kill = server.block_on(async {
        for _ in 0..5 {
            file_md5(&server, &md5).await;
        }
        file_md5(&server, &md5).await
    });
    server.kill(); // SIGKILL
    let server = TestServer::start(&data, &config);
    server.block_on(async {
        let a = server
            .reports(UNIT_A)
            .list_reports(proto::ListReportsRequest {
                cursor: 0,
                limit: 100,
            })
            .await
            .unwrap()
            .into_inner();
        assert!(a.reports.iter().any(|r| r.id == before_kill), "report lost");
        assert_eq!(a.reports.len(), 6);
    });
}

// ---------------------------------------------------------------- limits, metrics, deadlines
#[test]
fn tenant_quota_answers_resource_exhausted() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, config, _, _) = setup(tmp.path());
    set_limits(&config, "tenant_rate = 5.0");
    let server = TestServer::start(&data, &config);
    server.block_on(async {
        let mut matcher = server.matcher(OPERATOR);
        let mut codes = Vec::new();
        for _ in 0..20 {
            let r = matcher
                .match_hashes(hashes(HashKind::Md5, &"cd".repeat(16)))
                .await;
            codes.push(r.err().map(|e| e.code()));
        }
        let refused = codes
            .iter()
            .filter(|c| **c == Some(Code::ResourceExhausted))
            .count();
        assert!((10..=15).contains(&refused), "{codes:?}");
    });
}

/// A tenant's matches file at most `tenant_report_rate` reports a second (bursts of one
/// second's worth): past it the call is refused and files nothing.
#[test]
fn a_tenants_report_rate_is_limited_and_refused_calls_file_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, config, md5, _) = setup(tmp.path());
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replace("tenant_report_rate = 0.0", "tenant_report_rate = 5.0"),
    )
    .unwrap();
    let server = TestServer::start(&data, &config);
    server.block_on(async {
        let mut matcher = server.matcher(OPERATOR);
        let mut codes = Vec::new();
        for _ in 0..20 {
            let r = matcher.match_hashes(hashes(HashKind::Md5, &md5)).await;
            codes.push(r.err().map(|e| e.code()));
        }
        let filed = codes.iter().filter(|c| c.is_none()).count();
        assert!((5..=8).contains(&filed), "{codes:?}");
        assert!(
            codes
                .iter()
                .all(|c| c.is_none() || *c == Some(Code::ResourceExhausted))
        );
        assert_eq!(first_reports(&server, UNIT_A).await.len(), filed);
        // Lookups that match nothing file nothing and are not counted.
        for _ in 0..20 {
            matcher
                .match_hashes(hashes(HashKind::Md5, &"cd".repeat(16)))
                .await
                .unwrap();
        }
    });
}

#[test]
fn plaintext_off_loopback_is_refused_and_config_is_checked() {
    let tmp = tempfile::tempdir().unwrap();
    let tokens = tmp.path().join("tokens.toml");
    std::fs::write(
        &tokens,
        format!(
            "[[token]]\nsha256 = \"{}\"\nrole = \"admin\"\n",
            token_hash(ADMIN)
        ),
    )
    .unwrap();
    let out = hashguard()
        .args(["--data"])
        .arg(tmp.path().join("data"))
        .args(["serve", "--listen", "0.0.0.0:0", "--tokens"])
        .arg(&tokens)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78));
    assert!(String::from_utf8_lossy(&out.stderr).contains("loopback"));
    // The metrics listener has no authentication: loopback only, too.
    let out = hashguard()
        .args(["--data"])
        .arg(tmp.path().join("data"))
        .args(["serve", "--listen", "127.0.0.1:0", "--tokens"])
        .arg(&tokens)
        .env("HASHGUARD__METRICS__LISTEN", "0.0.0.0:9464")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("metrics") && err.contains("loopback"), "{err}");
    let out = hashguard()
        .args(["config", "check", "--tokens"])
        .arg(&tokens)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = hashguard()
        .args(["config", "show"])
        .env("HASHGUARD__LIMITS__MAX_JOBS", "3")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("max_jobs = 3"));
}

#[test]
fn metrics_count_calls_matches_and_rejections_on_loopback() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, config, md5, _) = setup(tmp.path());
    enable_metrics(&config);
    set_limits(&config, "max_message_bytes = 100000");
    let server = TestServer::start(&data, &config);
    let metrics = server.metrics.expect("no metrics line");
    assert!(metrics.ip().is_loopback());
    server.block_on(async {
        let mut matcher = server.matcher(OPERATOR);
        // A match, a miss, a bad token, a wrong role, an oversize upload.
        for hex in [md5.clone(), "ab".repeat(16)] {
            matcher
                .match_hashes(hashes(HashKind::Md5, &hex))
                .await
                .unwrap();
        }
        let e = server
            .matcher("wrong-token")
            .match_hashes(hashes(HashKind::Md5, &md5))
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::Unauthenticated);
        let e = server
            .matcher(UNIT_A)
            .match_hashes(hashes(HashKind::Md5, &md5))
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::PermissionDenied);
        let e = matcher
            .hash_media(tokio_stream::iter(upload(b"x", 3_000_000)))
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::ResourceExhausted);
        // A chunk over max_message_bytes.
        let mut big = upload(b"x", 0);
        big[1] = MediaChunk {
            part: Some(Part::Data(vec![0; 150_000])),
        };
        let e = matcher
            .hash_media(tokio_stream::iter(big))
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::OutOfRange, "{e:?}");
    });

    let (status, headers, text) = http_get(metrics, "/metrics");
    assert!(status.contains(" 200 "), "{status}");
    assert!(
        headers.contains("content-type: application/openmetrics-text"),
        "{headers}"
    );
    let mh = "service=\"hashguard.v1.Matcher\",method=\"MatchHashes\"";
    let count = |series: &str| sample(&text, series);
    assert_eq!(
        count(&format!(
            "hashguard_grpc_requests_total{{{mh},code=\"OK\"}}"
        )),
        2.0,
        "{text}"
    );
    assert_eq!(
        count(&format!(
            "hashguard_grpc_requests_total{{{mh},code=\"UNAUTHENTICATED\"}}"
        )),
        1.0
    );
    assert_eq!(
        count(
            "hashguard_grpc_requests_total{service=\"hashguard.v1.Matcher\",\
             method=\"HashMedia\",code=\"RESOURCE_EXHAUSTED\"}"
        ),
        1.0
    );
    assert_eq!(
        count(&format!(
            "hashguard_grpc_request_duration_seconds_count{{{mh}}}"
        )),
        4.0
    );
    assert_eq!(count("hashguard_matches_total{kind=\"md5\"}"), 1.0);
    assert_eq!(count("hashguard_matches_total{kind=\"pdq\"}"), 0.0);
    assert_eq!(count("hashguard_reports_filed_total"), 1.0);
    assert_eq!(count("hashguard_rejections_total{reason=\"auth\"}"), 2.0);
    assert_eq!(
        count("hashguard_rejections_total{reason=\"too_large\"}"),
        2.0
    );
    assert_eq!(
        count("hashguard_rejections_total{reason=\"overload\"}"),
        0.0
    );
    assert!(text.contains("hashguard_rejections_total{reason=\"deadline\"} 0"));
    assert_eq!(count("hashguard_report_failures_total"), 0.0);
    // Per list: its entries, active version and the age of its last success (just imported).
    assert_eq!(
        count("hashguard_list_entries{list=\"police-md5\"}"),
        1.0,
        "{text}"
    );
    assert_eq!(count("hashguard_list_entries{list=\"intl-pdq\"}"), 1.0);
    assert_eq!(count("hashguard_list_version{list=\"intl-pdq\"}"), 1.0);
    let age = count("hashguard_list_last_success_age_seconds{list=\"police-md5\"}");
    assert!(text.contains("hashguard_list_last_success_age_seconds{list=\"police-md5\"}"));
    assert!((0.0..600.0).contains(&age), "{age}");
    assert!(
        text.contains(&format!(
            "hashguard_build_info{{version=\"{}\",revision=\"{}\"}} 1",
            hashguard::VERSION,
            hashguard::GIT_REV
        )),
        "{text}"
    );
    assert!(!text.contains(&md5), "a hash leaked into the metrics");
    assert!(!text.contains("acme"), "a tenant leaked into the metrics");
    let (status, _, _) = http_get(metrics, "/other");
    assert!(status.contains(" 404 "), "{status}");
}

/// An upload that sends its metadata and a first chunk, then stalls without ending.
fn stalled_upload() -> impl tokio_stream::Stream<Item = MediaChunk> + Send + 'static {
    use tokio_stream::StreamExt;
    tokio_stream::iter(upload(&[1u8; 1000], 0)).chain(tokio_stream::pending())
}

#[test]
fn deadlines_answer_deadline_exceeded_and_free_the_slot() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, config, md5, _) = setup(tmp.path());
    set_limits(&config, "request_timeout_ms = 1500\nmax_jobs = 1");
    enable_metrics(&config);
    let server = TestServer::start(&data, &config);
    server.block_on(async {
        let mut matcher = server.matcher(OPERATOR);
        let mut reports = server.reports(UNIT_A);

        // The server's limit ends a stalled upload, and its hashing slot (the only one) is free
        // again afterwards.
        let t = Instant::now();
        let e = matcher.match_media(stalled_upload()).await.unwrap_err();
        assert_eq!(e.code(), Code::DeadlineExceeded, "{e:?}");
        assert!(
            e.message().contains("request_timeout_ms"),
            "{}",
            e.message()
        );
        assert!(
            t.elapsed() >= Duration::from_millis(1400),
            "{:?}",
            t.elapsed()
        );
        let image = std::fs::read(testdata("images/base/p00_480x360.png")).unwrap();
        let f = matcher
            .hash_media(tokio_stream::iter(upload(&image, image.len() as u64)))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(f.kind, "image");

        // A shorter client deadline (grpc-timeout) wins. tonic's client enforces it too, so
        // either side may end the call first (the server's own answer is unit-tested in
        // server::metrics).
        let t = Instant::now();
        let mut req = Request::new(stalled_upload());
        req.set_timeout(Duration::from_millis(200));
        let e = matcher.hash_media(req).await.unwrap_err();
        assert!(
            matches!(e.code(), Code::DeadlineExceeded | Code::Cancelled),
            "{e:?}"
        );
        assert!(
            t.elapsed() < Duration::from_millis(1400),
            "{:?}",
            t.elapsed()
        );

        // A follow outlives the server's limit: a report filed after it still arrives.
        let mut follow = reports
            .follow_reports(proto::FollowReportsRequest { cursor: 0 })
            .await
            .unwrap()
            .into_inner();
        tokio::time::sleep(Duration::from_millis(2000)).await;
        matcher
            .match_hashes(hashes(HashKind::Md5, &md5))
            .await
            .unwrap();
        let r = follow.message().await.unwrap().unwrap();
        assert_eq!(r.cursor, 1);
    });
    let (_, _, text) = http_get(server.metrics.unwrap(), "/metrics");
    let deadlines = sample(&text, "hashguard_rejections_total{reason=\"deadline\"}");
    assert!((1.0..=2.0).contains(&deadlines), "{text}");
    assert_eq!(
        sample(
            &text,
            "hashguard_grpc_requests_total{service=\"hashguard.v1.Matcher\",\
             method=\"MatchMedia\",code=\"DEADLINE_EXCEEDED\"}"
        ),
        1.0,
        "{text}"
    );
}

/// Runs `hashguard reports ARGS` against `addr` with `token` in the environment.
fn reports_cli(addr: SocketAddr, token: &str, args: &[&str]) -> std::process::Output {
    hashguard()
        .arg("reports")
        .args(args)
        .args(["--server", &format!("http://{addr}")])
        .env("HASHGUARD_TOKEN", token)
        .output()
        .unwrap()
}

/// The JSON lines of a command's stdout.
fn json_lines(out: &std::process::Output) -> Vec<serde_json::Value> {
    assert!(
        out.status.success(),
        "{:?}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// A spawned `reports follow` whose stdout lines arrive on a channel.
struct Follower {
    child: Child,
    lines: std::sync::mpsc::Receiver<String>,
}

impl Follower {
    fn spawn(addr: SocketAddr, token: &str, from: u64) -> Self {
        let mut child = hashguard()
            .args(["reports", "follow", "--from", &from.to_string()])
            .args(["--server", &format!("http://{addr}")])
            .env("HASHGUARD_TOKEN", token)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        Follower { child, lines }
    }

    fn next(&self) -> serde_json::Value {
        let line = self
            .lines
            .recv_timeout(Duration::from_secs(30))
            .expect("follow printed nothing");
        serde_json::from_str(&line).unwrap()
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn reports_cli_lists_exports_and_follows_across_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, config, md5, scene) = setup(tmp.path());
    let server = TestServer::start(&data, &config);
    let addr = server.addr;
    let ids = server.block_on(async {
        let mut ids = Vec::new();
        for _ in 0..3 {
            ids.push(file_md5(&server, &md5).await);
        }
        // And one for unit B, which unit A must not see.
        let v = server
            .matcher(OPERATOR)
            .match_hashes(hashes(HashKind::Pdq, &scene))
            .await
            .unwrap()
            .into_inner();
        assert!(v.verdicts[0].matched);
        ids
    });

    // export --format jsonl: every report of the unit, every field.
    let lines = json_lines(&reports_cli(addr, UNIT_A, &["export", "--format", "jsonl"]));
    assert_eq!(lines.len(), 3);
    for (i, r) in lines.iter().enumerate() {
        // Every field of the contract's Report (serde_json's map sorts the keys).
        let keys: Vec<&str> = r.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "acked",
                "created_at",
                "cursor",
                "id",
                "matches",
                "md5",
                "partial",
                "reduced_from",
                "sha1",
                "sha256",
                "tenant",
                "tenant_reference",
                "unit"
            ]
        );
        assert_eq!(r["id"], ids[i].as_str());
        assert_eq!(r["cursor"], i as u64 + 1);
        assert!(r["created_at"].as_u64().unwrap() > 1_600_000_000);
        assert_eq!(
            (&r["tenant"], &r["tenant_reference"], &r["unit"]),
            (&"acme".into(), &"upload-42".into(), &"unit-a".into())
        );
        assert_eq!(
            (&r["md5"], &r["sha256"], &r["sha1"]),
            (
                &md5.as_str().into(),
                &serde_json::Value::Null,
                &serde_json::Value::Null
            )
        );
        assert_eq!(r["acked"], false);
        assert_eq!(
            r["matches"],
            serde_json::json!([{
                "list": "police-md5", "list_version": 1, "entry_id": "0", "entry_hash": md5,
                "distance": 0, "kind": "md5", "dihedral": null, "category": "1", "frame_ts": null
            }])
        );
    }
    let b = json_lines(&reports_cli(addr, UNIT_B, &["export", "--format", "jsonl"]));
    assert_eq!(b.len(), 1);
    assert_eq!(b[0]["matches"][0]["kind"], "pdq");

    // export --format csv --from 1 --out FILE: a header, then the reports after cursor 1.
    let csv_path = tmp.path().join("unit-a.csv");
    let out = reports_cli(
        addr,
        UNIT_A,
        &[
            "export",
            "--format",
            "csv",
            "--from",
            "1",
            "--out",
            csv_path.to_str().unwrap(),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.is_empty());
    assert!(!tmp.path().join("unit-a.csv.partial").exists());
    let mut rows = csv::Reader::from_path(&csv_path).unwrap();
    assert_eq!(
        rows.headers().unwrap(),
        vec![
            "id",
            "cursor",
            "created_at",
            "tenant",
            "tenant_reference",
            "unit",
            "sha256",
            "md5",
            "sha1",
            "matches",
            "acked",
            "partial",
            "reduced_from"
        ]
    );
    let rows: Vec<csv::StringRecord> = rows.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 2);
    for (row, i) in rows.iter().zip(1..) {
        assert_eq!(
            (&row[0], &row[1]),
            (ids[i].as_str(), (i + 1).to_string().as_str())
        );
        assert_eq!(
            (&row[3], &row[5], &row[6], &row[7]),
            ("acme", "unit-a", "", md5.as_str())
        );
        let m: serde_json::Value = serde_json::from_str(&row[9]).unwrap();
        assert_eq!(m, lines[i]["matches"]);
        assert_eq!(&row[10], "false");
    }

    // list: one page, and where the next one starts.
    let out = reports_cli(addr, UNIT_A, &["list", "--limit", "2"]);
    let page = json_lines(&out);
    assert_eq!(page.len(), 2);
    assert!(String::from_utf8_lossy(&out.stderr).contains("--cursor 2"));
    let page = json_lines(&reports_cli(addr, UNIT_A, &["list", "--cursor", "2"]));
    assert_eq!(page.len(), 1);
    assert_eq!(page[0]["cursor"], 3);

    // Refused tokens exit 77 and never echo the token.
    for token in ["not-a-token", OPERATOR] {
        let out = reports_cli(addr, token, &["list"]);
        assert_eq!(out.status.code(), Some(77), "{out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains(token), "{err}");
    }

    // follow: a report filed after it started, then one filed after the server was killed
    // and restarted on the same address; nothing is missed or repeated.
    let follower = Follower::spawn(addr, UNIT_A, 3);
    std::thread::sleep(Duration::from_millis(500));
    let fourth = server.block_on(file_md5(&server, &md5));
    let r = follower.next();
    assert_eq!(
        (r["cursor"].as_u64(), r["id"].as_str()),
        (Some(4), Some(fourth.as_str()))
    );
    drop(server); // SIGKILL
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, text.replace("127.0.0.1:0", &addr.to_string())).unwrap();
    let server = TestServer::start(&data, &config);
    assert_eq!(server.addr, addr);
    let fifth = server.block_on(file_md5(&server, &md5));
    let r = follower.next();
    assert_eq!(
        (r["cursor"].as_u64(), r["id"].as_str()),
        (Some(5), Some(fifth.as_str()))
    );
    assert!(
        follower
            .lines
            .recv_timeout(Duration::from_millis(300))
            .is_err(),
        "a report was printed twice"
    );

    // SIGTERM stops the server although a follower is connected: its stream is ended.
    let mut server = server;
    let killed = Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let t = Instant::now();
    let status = loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            t.elapsed() < Duration::from_secs(15),
            "SIGTERM did not stop the server while a follower was connected"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");
}

#[test]
fn reports_cli_usage_and_unreachable_exit_codes() {
    let free = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap(); // closed again at once: nobody listens there
    for cmd in [
        &["list"][..],
        &["follow"][..],
        &["export", "--format", "jsonl"][..],
    ] {
        let out = reports_cli(free, UNIT_A, cmd);
        assert_eq!(out.status.code(), Some(69), "{cmd:?}: {out:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("cannot reach"));
    }
    let out = hashguard()
        .args(["reports", "list"])
        .env_remove("HASHGUARD_TOKEN")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78), "no token: EX_CONFIG");
    assert!(String::from_utf8_lossy(&out.stderr).contains("HASHGUARD_TOKEN"));
    let out = hashguard()
        .args(["reports", "list"])
        .env("HASHGUARD_TOKEN", "")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78), "an empty token is no token");
    let out = hashguard()
        .args(["reports", "list", "--server", "http://192.0.2.7:50051"])
        .env("HASHGUARD_TOKEN", UNIT_A)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&out.stderr).contains("plaintext"));
    let out = hashguard().args(["reports", "export"]).output().unwrap();
    assert_eq!(out.status.code(), Some(64), "--format is required");
    let out = hashguard()
        .args(["reports", "follow", "--help"])
        .env("HASHGUARD_TOKEN", UNIT_A)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(
        help.contains("Examples:") && help.contains("--from"),
        "{help}"
    );
    assert!(!help.contains(UNIT_A), "--help shows the token");
}

#[test]
fn sync_now_publishes_a_configured_list_and_swaps_it_in_while_serving() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, config, _, _) = setup(tmp.path());
    let drop = tmp.path().join("drop");
    std::fs::create_dir(&drop).unwrap();
    let fresh = "0123456789abcdef0123456789abcdef";
    append(
        &config,
        &format!(
            "\n[sync]\nenabled = false\n\n[lists.regional]\nsource = \"dir:{}\"\nformat = \"plain\"\nkind = \"md5\"\nunit = \"unit-a\"\n",
            drop.display()
        ),
    );
    let server = TestServer::start(&data, &config);
    server.block_on(async {
        let mut admin = server.lists(ADMIN);
        let mut matcher = server.matcher(OPERATOR);
        let verdict = |r: proto::MatchHashesResponse| r.verdicts[0].matched;
        let r = matcher
            .match_hashes(hashes(HashKind::Md5, fresh))
            .await
            .unwrap();
        assert!(!verdict(r.into_inner()));

        // Nothing dropped yet: the sync fails, says why, and the server goes on.
        let r = admin
            .sync_now(proto::SyncNowRequest {
                name: "regional".into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(r.results[0].outcome, "failed");
        assert!(
            r.results[0].error.contains("no list file"),
            "{:?}",
            r.results[0]
        );

        std::fs::write(drop.join("2026-11-23.txt"), format!("{fresh}\n")).unwrap();
        let r = admin
            .sync_now(proto::SyncNowRequest::default())
            .await
            .unwrap()
            .into_inner();
        assert_eq!(r.results.len(), 1);
        assert_eq!(
            (r.results[0].outcome.as_str(), r.results[0].entries),
            ("published", 1)
        );
        let r = matcher
            .match_hashes(hashes(HashKind::Md5, fresh))
            .await
            .unwrap();
        assert!(
            verdict(r.into_inner()),
            "the synced list is matched at once"
        );
        let r = admin
            .sync_now(proto::SyncNowRequest::default())
            .await
            .unwrap()
            .into_inner();
        assert_eq!(r.results[0].outcome, "unchanged");

        // Admin only; unknown lists are named.
        let e = server
            .lists(OPERATOR)
            .sync_now(proto::SyncNowRequest::default())
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::PermissionDenied);
        let e = admin
            .sync_now(proto::SyncNowRequest {
                name: "nope".into(),
            })
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::NotFound);
        let info = admin
            .list_status(proto::ListStatusRequest {
                name: "regional".into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!((info.unit.as_str(), info.version), ("unit-a", 1));
        assert!(info.source.starts_with("dir:"));
        assert!(info.last_attempt.unwrap().ok);
    });
    // A CLI sync against the directory the server holds fails, naming the cause.
    let out = hashguard()
        .args([
            "--data",
            data.to_str().unwrap(),
            "lists",
            "sync",
            "--config",
        ])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(75));
    assert!(String::from_utf8_lossy(&out.stderr).contains("SyncNow"));
}

#[test]
fn a_regional_server_mirrors_the_hubs_lists_with_verified_deltas() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, config, md5, _) = setup(tmp.path());
    // The hub: a mirror token, and police-md5 kept in sync from a drop file.
    let mirror = "mirror-token-region-7";
    append(
        &tmp.path().join("tokens.toml"),
        &format!(
            "\n[[token]]\nsha256 = \"{}\"\nrole = \"mirror\"\nname = \"region-7\"\n",
            token_hash(mirror)
        ),
    );
    let hub_file = tmp.path().join("hub-md5.txt");
    std::fs::write(&hub_file, format!("{md5}\n")).unwrap();
    append(
        &config,
        &format!(
            "\n[sync]\nenabled = false\n\n[lists.police-md5]\nsource = \"file:{}\"\nformat = \"plain\"\nkind = \"md5\"\n",
            hub_file.display()
        ),
    );
    let hub = TestServer::start(&data, &config);

    let region = tmp.path().join("region");
    let region_config = tmp.path().join("region.toml");
    std::fs::write(
        &region_config,
        format!(
            "[lists.national-md5]\nsource = \"hub+http://{}\"\nhub_list = \"police-md5\"\ntoken_env = \"HG_MIRROR_TOKEN\"\nretries = 1\nbackoff_ms = 10\n",
            hub.addr
        ),
    )
    .unwrap();
    let sync = |token: &str| {
        hashguard()
            .args([
                "--data",
                region.to_str().unwrap(),
                "lists",
                "sync",
                "--config",
            ])
            .arg(&region_config)
            .env("HG_MIRROR_TOKEN", token)
            .output()
            .unwrap()
    };
    let status = |data: &Path, name: &str| -> serde_json::Value {
        let out = hashguard()
            .args([
                "--data",
                data.to_str().unwrap(),
                "lists",
                "status",
                name,
                "--json",
            ])
            .output()
            .unwrap();
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let hub_digest = || {
        hub.block_on(async {
            let info = hub
                .lists(ADMIN)
                .list_status(proto::ListStatusRequest {
                    name: "police-md5".into(),
                })
                .await
                .unwrap()
                .into_inner();
            (info.version, info.digest)
        })
    };

    // First sync: a full copy, published only with the hub's digest.
    let out = sync(mirror);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (v1, d1) = hub_digest();
    let s = status(&region, "national-md5");
    assert_eq!(s["list"]["digest"], d1.as_str());
    assert_eq!(s["list"]["upstream_version"], v1.to_string());

    // The hub's list changes (one more hash); the mirror gets the change as a delta.
    let extra = "00112233445566778899aabbccddeeff";
    std::fs::write(&hub_file, format!("{md5}\n{extra}\n")).unwrap();
    hub.block_on(async {
        let r = hub
            .lists(ADMIN)
            .sync_now(proto::SyncNowRequest {
                name: "police-md5".into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(r.results[0].outcome, "published", "{:?}", r.results[0]);
    });
    let (v2, d2) = hub_digest();
    assert!(v2 > v1);
    let out = sync(mirror);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = status(&region, "national-md5");
    assert_eq!(
        (s["list"]["digest"].as_str(), s["list"]["entries"].as_u64()),
        (Some(d2.as_str()), Some(2))
    );
    assert_eq!(s["list"]["upstream_version"], v2.to_string());
    let out = sync(mirror);
    assert!(String::from_utf8_lossy(&out.stdout).contains("unchanged"));

    // Another role's token, or none that the hub knows, is refused and named.
    let out = sync(OPERATOR);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("mirror"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = sync("not-a-token");
    assert!(!out.status.success());
}

#[test]
fn import_list_streams_a_list_into_a_running_server() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, config, _, _) = setup(tmp.path());
    let server = TestServer::start(&data, &config);
    server.block_on(async {
        let mut admin = server.lists(ADMIN);
        let fresh = "fedcba9876543210fedcba9876543210";
        let file = format!(
            "{{\"id\":\"u1\",\"kind\":\"md5\",\"hash\":\"{fresh}\"}}\nnot a row\n{{\"id\":\"u2\",\"kind\":\"md5\",\"hash\":\"{}\"}}\n",
            "ab".repeat(16)
        );
        let upload = |settings: proto::ImportListSettings, file: String| {
            let mut chunks = vec![proto::ImportListChunk {
                part: Some(proto::import_list_chunk::Part::Settings(settings)),
            }];
            for piece in file.as_bytes().chunks(7) {
                chunks.push(proto::ImportListChunk {
                    part: Some(proto::import_list_chunk::Part::Data(piece.to_vec())),
                });
            }
            tokio_stream::iter(chunks)
        };
        let settings = proto::ImportListSettings {
            name: "uploaded".into(),
            format: "jsonl".into(),
            unit: "unit-a".into(),
            max_bad_pct: 50.0,
            ..Default::default()
        };
        let r = admin
            .import_list(upload(settings.clone(), file.clone()))
            .await
            .unwrap()
            .into_inner();
        let info = r.list.unwrap();
        assert_eq!((info.entries, info.version, info.unit.as_str()), (2, 1, "unit-a"));
        assert_eq!(r.bad_rows[0].line, 2);
        let v = server
            .matcher(OPERATOR)
            .match_hashes(hashes(HashKind::Md5, fresh))
            .await
            .unwrap()
            .into_inner();
        assert!(v.verdicts[0].matched, "matched at once after the import");
        // Too many malformed rows: refused with the reason, the list stays at version 1.
        let strict = proto::ImportListSettings {
            max_bad_pct: 0.0,
            ..settings
        };
        let e = admin
            .import_list(upload(strict, file))
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument);
        assert!(e.message().contains("malformed"), "{}", e.message());
        let e = server
            .lists(OPERATOR)
            .import_list(upload(proto::ImportListSettings::default(), String::new()))
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::PermissionDenied);
    });
    let left: Vec<_> = std::fs::read_dir(data.join("downloads"))
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "the spool files are gone: {left:?}");
}

/// The service names a reflection client of protocol version `$v` (`v1` or `v1alpha`) lists
/// on `$channel`, as `grpcurl ... list` and Python's grpcio-reflection ask.
macro_rules! reflected_services {
    ($v:ident, $channel:expr) => {{
        use tonic_reflection::pb::$v::{
            ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
            server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
        };
        let req = ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        };
        match ServerReflectionClient::new($channel)
            .server_reflection_info(tokio_stream::iter(vec![req]))
            .await
        {
            Err(e) => Err(e),
            Ok(answers) => {
                let answer = answers.into_inner().message().await.unwrap().unwrap();
                let Some(MessageResponse::ListServicesResponse(list)) = answer.message_response
                else {
                    panic!("not a service list: {answer:?}");
                };
                Ok::<Vec<String>, tonic::Status>(list.service.into_iter().map(|s| s.name).collect())
            }
        }
    }};
}

/// A channel to the plaintext probe listener at `probe`.
async fn probe_channel(probe: SocketAddr) -> tonic::transport::Channel {
    tonic::transport::Channel::from_shared(format!("http://{probe}"))
        .unwrap()
        .connect()
        .await
        .unwrap()
}

/// The health status `channel` reports for `service` ("" for the process as a whole).
async fn health_status(channel: &tonic::transport::Channel, service: &str) -> i32 {
    tonic_health::pb::health_client::HealthClient::new(channel.clone())
        .check(tonic_health::pb::HealthCheckRequest {
            service: service.into(),
        })
        .await
        .unwrap()
        .into_inner()
        .status
}

/// The plaintext probe listener answers health (overall and per service) and nothing else;
/// reflection v1alpha, which the stock Python client and older tools speak, lists the services.
#[test]
fn the_probe_listener_serves_only_health_and_reflection_speaks_v1alpha() {
    use tonic_health::pb::health_check_response::ServingStatus;
    let tmp = tempfile::tempdir().unwrap();
    let (data, config, md5, _) = setup(tmp.path());
    append(&config, "\n[health]\nlisten = \"127.0.0.1:0\"\n");
    let server = TestServer::start(&data, &config);
    let probe = server.health.expect("the health listener is announced");
    assert_ne!(probe, server.addr);
    server.block_on(async {
        let channel = probe_channel(probe).await;
        for service in ["", "hashguard.v1.Matcher"] {
            let status = health_status(&channel, service).await;
            assert_eq!(status, ServingStatus::Serving as i32, "{service:?}");
        }
        // Nothing else on the probe port: not the Matcher (even with a token), not reflection.
        let mut m = hashguard::proto::matcher_client::MatcherClient::with_interceptor(
            channel.clone(),
            |mut r: Request<()>| {
                r.metadata_mut().insert(
                    "authorization",
                    format!("Bearer {OPERATOR}").parse().unwrap(),
                );
                Ok(r)
            },
        );
        let e = m
            .match_hashes(hashes(HashKind::Md5, &md5))
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::Unimplemented, "{e:?}");
        let e = reflected_services!(v1alpha, channel).unwrap_err();
        assert_eq!(e.code(), Code::Unimplemented, "{e:?}");

        // v1alpha on the main listener.
        let names = reflected_services!(v1alpha, server.channel()).unwrap();
        assert!(
            names.iter().any(|n| n == "hashguard.v1.Matcher"),
            "{names:?}"
        );
    });
}

#[test]
fn reflection_lists_the_public_services() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, config, _, _) = setup(tmp.path());
    let server = TestServer::start(&data, &config);
    server.block_on(async {
        for names in [
            reflected_services!(v1, server.channel()).unwrap(),
            reflected_services!(v1alpha, server.channel()).unwrap(),
        ] {
            for want in [
                "hashguard.v1.Matcher",
                "hashguard.v1.Reports",
                "hashguard.v1.Lists",
            ] {
                assert!(
                    names.iter().any(|n| n == want),
                    "{want} missing from {names:?}"
                );
            }
        }
    });
}

/// Every string a call carries in is bounded: past its cap the call is INVALID_ARGUMENT,
/// naming the field, and nothing is filed.
#[test]
fn oversized_strings_in_calls_are_invalid_argument() {
    let (_tmp, server, md5) = serve_lists();
    server.block_on(async {
        let mut matcher = server.matcher(OPERATOR);
        let mut req = hashes(HashKind::Md5, &md5);
        req.tenant_reference = "r".repeat(257);
        let e = matcher.match_hashes(req).await.unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
        assert!(e.message().contains("tenant_reference"), "{}", e.message());
        let e = matcher
            .match_hashes(hashes(HashKind::Md5, &"0".repeat(100_000)))
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
        let mut chunks = upload(&resized_scene(), 0);
        if let Some(Part::Metadata(m)) = &mut chunks[0].part {
            m.content_type = "x".repeat(10_000);
        }
        let e = matcher
            .match_media(tokio_stream::iter(chunks))
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
        assert!(e.message().contains("content_type"), "{}", e.message());
        let e = server
            .reports(UNIT_A)
            .ack_reports(proto::AckReportsRequest {
                ids: vec!["a".repeat(65)],
            })
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
        assert!(
            first_reports(&server, UNIT_A).await.is_empty(),
            "nothing was filed"
        );
    });
}

/// When reports cannot be filed (the store refuses writes), the Matcher's health turns
/// NOT_SERVING, on the probe listener too, while the process stays SERVING (liveness); when
/// the store takes writes again it turns back, and reports are filed again.
#[test]
fn matcher_health_follows_the_report_store() {
    use tonic_health::pb::health_check_response::ServingStatus;
    let tmp = tempfile::tempdir().unwrap();
    let (data, config, md5, _) = setup(tmp.path());
    append(&config, "\n[health]\nlisten = \"127.0.0.1:0\"\n");
    let fault = tmp.path().join("store-fails");
    let server = TestServer::start_with_env(
        &data,
        &config,
        &[(
            hashguard::store::TEST_WRITE_FAULT_ENV,
            fault.to_str().unwrap(),
        )],
    );
    let probe = server.health.unwrap();
    server.block_on(async {
        let channel = probe_channel(probe).await;
        let status = async |service: &str| health_status(&channel, service).await;
        let serving = ServingStatus::Serving as i32;
        let not_serving = ServingStatus::NotServing as i32;
        assert_eq!(status("hashguard.v1.Matcher").await, serving);

        std::fs::write(&fault, b"").unwrap();
        let mut matcher = server.matcher(OPERATOR);
        let e = matcher
            .match_hashes(hashes(HashKind::Md5, &md5))
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::Internal, "{e:?}");
        let deadline = Instant::now() + Duration::from_secs(5);
        while status("hashguard.v1.Matcher").await != not_serving {
            assert!(Instant::now() < deadline, "the Matcher stayed SERVING");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(status("").await, serving, "the process is alive");
        // Still failing: a probe does not clear it.
        tokio::time::sleep(Duration::from_millis(2500)).await;
        assert_eq!(status("hashguard.v1.Matcher").await, not_serving);

        std::fs::remove_file(&fault).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while status("hashguard.v1.Matcher").await != serving {
            assert!(Instant::now() < deadline, "the Matcher did not recover");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let v = matcher
            .match_hashes(hashes(HashKind::Md5, &md5))
            .await
            .unwrap()
            .into_inner();
        assert!(v.verdicts[0].matched);
        assert!(!v.verdicts[0].report_id.is_empty());
    });
}

/// `hashguard submit`, the operator's client: typed hashes and files against a running server,
/// one verdict line per input, reports filed as for any other call.
#[test]
fn submit_sends_hashes_and_files_and_prints_a_verdict_each() {
    let (tmp, server, md5) = serve_lists();
    let scene = testdata("images/variants/p00_480x360_resize50.png");
    let run = |token: Option<&str>, args: &[&str]| {
        let mut c = hashguard();
        c.env_remove("HASHGUARD_TOKEN")
            .args([
                "submit",
                "--server",
                &server.url(),
                "--reference",
                "batch-9",
            ])
            .args(args);
        if let Some(t) = token {
            c.env("HASHGUARD_TOKEN", t);
        }
        c.output().unwrap()
    };
    let other = format!("md5:{}", "ab".repeat(16));
    let out = run(
        Some(OPERATOR),
        &[&format!("md5:{md5}"), &other, scene.to_str().unwrap()],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert_eq!(lines[0]["input"], format!("md5:{md5}"));
    assert_eq!(lines[0]["matched"], true);
    assert!(lines[0]["report_id"].is_string());
    assert_eq!(lines[1]["matched"], false);
    assert_eq!(lines[2]["matched"], true, "{:?}", lines[2]);
    assert_eq!(lines[2]["kind"], "image");
    // Nothing matched: 1. No token: 78. No server: 69.
    assert_eq!(run(Some(OPERATOR), &[&other]).status.code(), Some(1));
    assert_eq!(run(None, &[&other]).status.code(), Some(78));
    assert_eq!(
        run(Some(UNIT_A), &[&other]).status.code(),
        Some(77),
        "an investigator token may not submit"
    );
    let missing = tmp.path().join("missing.jpg");
    assert_eq!(
        run(Some(OPERATOR), &[missing.to_str().unwrap()])
            .status
            .code(),
        Some(66)
    );
    let out = hashguard()
        .env("HASHGUARD_TOKEN", OPERATOR)
        .args(["submit", "--server", "http://127.0.0.1:1", &other])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(69));
    // The report carries the reference.
    let listed = server.block_on(first_reports(&server, UNIT_A));
    assert!(
        listed.iter().any(|r| r.tenant_reference == "batch-9"),
        "{listed:?}"
    );
}
