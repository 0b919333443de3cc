//! Decoders in sandboxed worker processes: a decoder that crashes, hangs or runs out of memory
//! costs its own file (decode_failed with a fault, digests kept) and nothing else, in the scan
//! and in the server; a cancelled call kills its worker. The faults come from the test-only
//! marker files the worker honours when HASHGUARD_TEST_DECODER_FAULTS=1.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use hashguard::proto::{MediaChunk, MediaMetadata, media_chunk::Part};
use hashguard::sandbox::{TEST_FAULT_MARKER, TEST_FAULTS_ENV};
use tonic::{Code, Request};

use crate::common::{
    OPERATOR, TestServer, hashguard, md5_hex, scene_pdq, testdata, write_server_config,
};

/// A fault file: the marker, the fault, and some bytes that differ per name.
fn fault_file(fault: &str, salt: &str) -> Vec<u8> {
    let mut b = TEST_FAULT_MARKER.to_vec();
    b.extend_from_slice(fault.as_bytes());
    b.extend_from_slice(format!("\n{salt}\n").as_bytes());
    b
}

/// Lists in `dir/data`: the scene p00 (PDQ) and the MD5 of the crash file.
fn lists(dir: &Path, crash: &[u8]) -> PathBuf {
    let data = dir.join("data");
    let scene = scene_pdq();
    std::fs::write(dir.join("pdq.txt"), format!("{scene}\n")).unwrap();
    std::fs::write(dir.join("md5.txt"), format!("{}\n", md5_hex(crash))).unwrap();
    for (list, kind, file) in [("scenes", "pdq", "pdq.txt"), ("exact", "md5", "md5.txt")] {
        let out = hashguard()
            .arg("--data")
            .arg(&data)
            .args(["lists", "import", "--list", list, "--kind", kind])
            .arg(dir.join(file))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    data
}

#[test]
fn a_scan_goes_on_past_decoders_that_crash_hang_or_run_out_of_memory() {
    let tmp = tempfile::tempdir().unwrap();
    let crash = fault_file("crash", "a");
    let data = lists(tmp.path(), &crash);
    let ev = tmp.path().join("evidence");
    std::fs::create_dir_all(&ev).unwrap();
    std::fs::write(ev.join("crash.bin"), &crash).unwrap();
    std::fs::write(ev.join("hang.bin"), fault_file("hang", "b")).unwrap();
    std::fs::write(ev.join("oom.bin"), fault_file("oom", "c")).unwrap();
    for (name, src) in [
        ("listed.png", "images/base/p00_480x360.png"),
        ("other.png", "images/base/p01_384x288.png"),
        ("clip.mp4", "video/cellauto.mp4"),
    ] {
        std::fs::copy(testdata(src), ev.join(name)).unwrap();
    }
    let out_dir = tmp.path().join("report");
    let t = Instant::now();
    let out = hashguard()
        .env(TEST_FAULTS_ENV, "1")
        .arg("--data")
        .arg(&data)
        .args(["scan", "--case", "sandbox", "-q", "--decode-timeout", "3"])
        .args(["--decoder-memory", "1024", "--out"])
        .arg(&out_dir)
        .arg(&ev)
        .output()
        .unwrap();
    let elapsed = t.elapsed();
    // Matches, and files not fully processed.
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let files = std::fs::read_to_string(out_dir.join("files.jsonl")).unwrap();
    let by_name: std::collections::HashMap<String, serde_json::Value> = files
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .map(|r| {
            let path = r["path"].as_str().unwrap().to_string();
            let name = Path::new(&path)
                .file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .to_string();
            (name, r)
        })
        .collect();
    assert_eq!(by_name.len(), 6, "{files}");
    let fault = |name: &str| by_name[name]["fault"].as_str().unwrap_or("").to_string();
    // The crashed file still matched by its MD5.
    assert_eq!(fault("crash.bin"), "decoder_crashed", "{files}");
    assert_eq!(by_name["crash.bin"]["outcome"], "match", "{files}");
    assert_eq!(by_name["crash.bin"]["error"], "decode_failed", "{files}");
    assert_eq!(fault("hang.bin"), "decoder_timeout", "{files}");
    assert_eq!(by_name["hang.bin"]["outcome"], "decode_failed", "{files}");
    assert_eq!(fault("oom.bin"), "decoder_out_of_memory", "{files}");
    for name in ["crash.bin", "hang.bin", "oom.bin"] {
        assert!(by_name[name]["sha256"].is_string(), "digests kept: {files}");
        let detail = by_name[name]["detail"].as_str().unwrap();
        assert!(detail.starts_with(&fault(name)), "{detail}");
    }
    // Everything else as without faults.
    assert_eq!(by_name["listed.png"]["outcome"], "match", "{files}");
    assert_eq!(by_name["other.png"]["outcome"], "clean", "{files}");
    assert_eq!(by_name["clip.mp4"]["outcome"], "clean", "{files}");
    assert!(by_name["clip.mp4"]["frames"].as_array().unwrap().len() > 5);
    assert!(elapsed < Duration::from_secs(60), "{elapsed:?}");
    // The report verifies as any other.
    let v = hashguard()
        .args(["scan", "verify", "--trust-signer"])
        .arg(&out_dir)
        .output()
        .unwrap();
    assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stderr));
}

/// An upload of `bytes`.
fn upload(bytes: &[u8]) -> Vec<MediaChunk> {
    let mut v = vec![MediaChunk {
        part: Some(Part::Metadata(MediaMetadata {
            tenant_reference: "sandbox".into(),
            content_type: String::new(),
            declared_size: bytes.len() as u64,
        })),
    }];
    v.extend(bytes.chunks(64 * 1024).map(|c| MediaChunk {
        part: Some(Part::Data(c.to_vec())),
    }));
    v
}

/// A server over lists made for `crash`, with test faults on and `decoders` settings.
fn server(dir: &Path, crash: &[u8], limits: &str, decoders: &str) -> TestServer {
    let data = lists(dir, crash);
    let config = write_server_config(dir);
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replace("[limits]\n", &format!("[limits]\n{limits}\n"))
            + &format!("\n[decoders]\n{decoders}\n"),
    )
    .unwrap();
    TestServer::start_with_env(&data, &config, &[(TEST_FAULTS_ENV, "1")])
}

/// The pids of the server's decoder workers.
fn workers(server: &TestServer) -> Vec<u32> {
    let parent = server.child.id();
    let mut pids = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let after = &stat[stat.rfind(')').unwrap() + 2..];
        let fields: Vec<&str> = after.split(' ').collect();
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if fields[1].parse::<u32>().ok() == Some(parent)
            && fields[0] != "Z"
            && String::from_utf8_lossy(&cmdline).contains("decode-worker")
        {
            pids.push(pid);
        }
    }
    pids
}

async fn serving(server: &TestServer) -> bool {
    let mut health = tonic_health::pb::health_client::HealthClient::new(server.channel());
    let r = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: "hashguard.v1.Matcher".into(),
        })
        .await
        .unwrap()
        .into_inner();
    r.status == tonic_health::pb::health_check_response::ServingStatus::Serving as i32
}

#[test]
fn a_decoder_that_crashes_or_hangs_costs_one_upload_and_the_server_keeps_serving() {
    let tmp = tempfile::tempdir().unwrap();
    let crash = fault_file("crash", "upload");
    let server = server(
        tmp.path(),
        &crash,
        "max_jobs = 8",
        "timeout_ms = 2000\nmemory_mib = 768",
    );
    let scene = std::fs::read(testdata("images/variants/p00_480x360_resize50.png")).unwrap();
    server.block_on(async {
        let m = server.matcher(OPERATOR);
        let send = |bytes: Vec<u8>| {
            let mut m = m.clone();
            async move { m.match_media(tokio_stream::iter(upload(&bytes))).await }
        };
        let t = Instant::now();
        let (crashed, hung, oom, normal) = tokio::join!(
            send(crash.clone()),
            send(fault_file("hang", "upload")),
            send(fault_file("oom", "upload")),
            send(scene.clone()),
        );
        let crashed = crashed.unwrap().into_inner();
        let f = crashed.fingerprint.unwrap();
        assert_eq!(f.error, "decode_failed");
        assert_eq!(f.fault, "decoder_crashed");
        assert_eq!(f.md5, md5_hex(&crash));
        // Its digest is still matched, and reported.
        assert!(crashed.verdict.unwrap().matched);
        let f = hung.unwrap().into_inner().fingerprint.unwrap();
        assert_eq!(f.fault, "decoder_timeout");
        assert!(
            t.elapsed() >= Duration::from_millis(1900),
            "{:?}",
            t.elapsed()
        );
        let f = oom.unwrap().into_inner().fingerprint.unwrap();
        assert_eq!(f.fault, "decoder_out_of_memory");
        let normal = normal.unwrap().into_inner();
        assert!(
            normal.verdict.unwrap().matched,
            "the concurrent upload matched"
        );
        assert_eq!(normal.fingerprint.unwrap().fault, "");

        // Still serving, and decoding: the broken workers were replaced.
        assert!(serving(&server).await);
        let again = send(scene.clone()).await.unwrap().into_inner();
        assert!(again.verdict.unwrap().matched);
    });
}

#[test]
fn a_cancelled_call_kills_its_worker_and_frees_its_slot() {
    let tmp = tempfile::tempdir().unwrap();
    let crash = fault_file("crash", "x");
    // One slot, and a decoder deadline far beyond the test: only the cancel can end the job.
    let server = server(tmp.path(), &crash, "max_jobs = 1", "timeout_ms = 600000");
    let scene = std::fs::read(testdata("images/variants/p00_480x360_resize50.png")).unwrap();
    server.block_on(async {
        let mut m = server.matcher(OPERATOR);
        let hang = fault_file("hang", "cancelled");
        let mut req = Request::new(tokio_stream::iter(upload(&hang)));
        req.set_timeout(Duration::from_millis(4000));
        let mut m2 = m.clone();
        let call = tokio::spawn(async move { m2.match_media(req).await });
        // The worker is busy with the hanging file meanwhile (started on demand: on a loaded
        // machine that takes a moment).
        let started = Instant::now();
        let busy = loop {
            let w = workers(&server);
            if !w.is_empty() || started.elapsed() > Duration::from_millis(3500) {
                break w;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert_eq!(busy.len(), 1, "{busy:?}");
        let e = call.await.unwrap().unwrap_err();
        assert!(
            matches!(e.code(), Code::DeadlineExceeded | Code::Cancelled),
            "{e:?}"
        );
        // The slot comes free (the only one) and the hung worker is gone.
        let deadline = Instant::now() + Duration::from_secs(5);
        let verdict = loop {
            match m.match_media(tokio_stream::iter(upload(&scene))).await {
                Ok(v) => break v.into_inner(),
                Err(e) if e.code() == Code::ResourceExhausted && Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("{e:?}"),
            }
        };
        assert!(verdict.verdict.unwrap().matched);
        let now = workers(&server);
        assert!(
            busy.iter().all(|p| !now.contains(p)),
            "the hung worker {busy:?} still runs: {now:?}"
        );
    });
}
