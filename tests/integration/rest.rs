//! The HMA-compatible REST facade of a started `hashguard serve`: every endpoint answers in the
//! shape HMA's own code returns (OpenMediaMatch's blueprints and their tests: `distance` a
//! string in lookups and an integer in comparisons, banks in upper case, errors as
//! `{"message"}`), an operator's lookup files its report, details stay hidden unless a role
//! may see them, and the listener keeps the gRPC listener's TLS and loopback rules.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::{ADMIN, OPERATOR, TestServer, UNIT_A, UNIT_B, hashguard, md5_hex, testdata};
use crate::server::{append, first_reports, setup};

/// An answer: status, the report id header, and the body (JSON when it parses, else a string).
struct Answer {
    status: u16,
    report: Option<String>,
    body: Value,
}

/// A blocking HTTP client that returns error statuses as answers.
fn agent(ca: Option<&Path>) -> ureq::Agent {
    let mut config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)));
    if let Some(ca) = ca {
        let roots = hashguard::lists::sync::http::read_ca(ca).unwrap();
        config = config.tls_config(
            ureq::tls::TlsConfig::builder()
                .root_certs(ureq::tls::RootCerts::new_with_certs(&roots))
                .build(),
        );
    }
    config.build().into()
}

fn read(mut r: ureq::http::Response<ureq::Body>) -> Answer {
    let status = r.status().as_u16();
    let report = r
        .headers()
        .get("x-hashguard-report-id")
        .map(|v| v.to_str().unwrap().to_string());
    let text = r.body_mut().read_to_string().unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Answer {
        status,
        report,
        body,
    }
}

/// The facade of a started server.
struct Rest {
    base: String,
    agent: ureq::Agent,
}

impl Rest {
    fn of(server: &TestServer) -> Self {
        Rest {
            base: format!("http://{}", server.rest.expect("the REST facade is on")),
            agent: agent(None),
        }
    }

    fn get(&self, token: Option<&str>, path: &str) -> Answer {
        let mut req = self.agent.get(format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.header("Authorization", format!("Bearer {t}"));
        }
        read(req.call().unwrap())
    }

    fn post_json(&self, token: &str, path: &str, body: &Value) -> Answer {
        read(
            self.agent
                .post(format!("{}{path}", self.base))
                .header("Authorization", format!("Bearer {token}"))
                .header("Content-Type", "application/json")
                .send(body.to_string().as_bytes())
                .unwrap(),
        )
    }

    /// POSTs one file as HMA's clients do: multipart, the field named after the content type.
    fn post_file(&self, token: &str, path: &str, field: &str, bytes: &[u8]) -> Answer {
        let boundary = "hashguard-test-boundary-7d1f";
        let mut body = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; \
             filename=\"upload.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n"
        )
        .into_bytes();
        body.extend_from_slice(bytes);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        read(
            self.agent
                .post(format!("{}{path}", self.base))
                .header("Authorization", format!("Bearer {token}"))
                .header(
                    "Content-Type",
                    format!("multipart/form-data; boundary={boundary}"),
                )
                .send(&body[..])
                .unwrap(),
        )
    }
}

/// True when `v` is HMA's error body: exactly `{"message": "<text>"}`.
fn is_error_body(v: &Value) -> bool {
    v.as_object()
        .is_some_and(|o| o.len() == 1 && o["message"].as_str().is_some_and(|m| !m.is_empty()))
}

/// A server with the two lists of the server tests (police-md5 routed to unit-a, intl-pdq
/// to unit-b, a synced list source) and the facade on: (dir, server, listed MD5, scene PDQ).
fn serve_rest(rest_section: &str) -> (tempfile::TempDir, TestServer, String, String) {
    let tmp = tempfile::tempdir().unwrap();
    let (data, config, md5, pdq) = setup(tmp.path());
    append(
        &config,
        &format!(
            "\n[sync]\nenabled = false\n\n[lists.police-md5]\nsource = \"file:{}\"\n\
             format = \"plain\"\nkind = \"md5\"\n\n{rest_section}",
            tmp.path().join("md5.txt").display()
        ),
    );
    let server = TestServer::start(&data, &config);
    (tmp, server, md5, pdq)
}

#[test]
fn lookups_answer_in_hma_shapes_and_file_reports_without_details() {
    let (_tmp, server, md5, pdq) = serve_rest("[rest]\nlisten = \"127.0.0.1:0\"\n");
    let rest = Rest::of(&server);

    // Probes need no token and answer HMA's text.
    let live = rest.get(None, "/status/live");
    assert_eq!((live.status, live.body), (200, json!("I-AM-ALIVE")));
    let status = rest.get(None, "/status");
    assert_eq!((status.status, status.body), (200, json!("I-AM-ALIVE")));

    // Every other endpoint needs a token of the right role.
    let lookup = format!("/m/lookup?signal={pdq}&signal_type=pdq");
    let a = rest.get(None, &lookup);
    assert_eq!(a.status, 401);
    assert!(is_error_body(&a.body), "{}", a.body);
    assert_eq!(rest.get(Some("wrong"), &lookup).status, 401);
    let a = rest.get(Some(UNIT_A), &lookup);
    assert_eq!(a.status, 403);
    assert!(is_error_body(&a.body), "{}", a.body);
    assert_eq!(rest.get(Some(OPERATOR), "/c/banks").status, 403);

    // GET /m/lookup by signal: {BANK: [{bank_content_id, distance}]}, no signal-type wrapper;
    // the operator sees no entry id (0) and no distance ("-"), as over gRPC, and the category.
    let before_b = server.block_on(first_reports(&server, UNIT_B)).len();
    let a = rest.get(Some(OPERATOR), &lookup);
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(
        a.body,
        json!({"INTL_PDQ": [{"bank_content_id": 0, "distance": "-", "category": "A1"}]})
    );
    // ... and filed its report for unit B before answering, with the id in a header.
    let id = a.report.expect("a report id header");
    let reports = server.block_on(first_reports(&server, UNIT_B));
    assert_eq!(reports.len(), before_b + 1);
    assert_eq!(reports.last().unwrap().id, id);
    assert_eq!(reports.last().unwrap().matches[0].entry_id, "scene-p00");

    // HMA's video_md5 is the file's MD5: it finds the MD5 list (unit A's).
    let a = rest.get(
        Some(OPERATOR),
        &format!("/m/lookup?signal={md5}&signal_type=video_md5&reference=case-9"),
    );
    assert_eq!(
        a.body,
        json!({"POLICE_MD5": [{"bank_content_id": 0, "distance": "-", "category": "1"}]})
    );
    let reports = server.block_on(first_reports(&server, UNIT_A));
    assert_eq!(reports.last().unwrap().id, a.report.unwrap());
    assert_eq!(reports.last().unwrap().tenant_reference, "case-9");

    // Nothing found: {} and no report.
    let a = rest.get(
        Some(OPERATOR),
        &format!("/m/lookup?signal={}&signal_type=md5", "0".repeat(32)),
    );
    assert_eq!((a.status, &a.body, a.report), (200, &json!({}), None));
    // banks narrows the answer (the report is filed all the same: a match is a match).
    let a = rest.get(Some(OPERATOR), &format!("{lookup}&banks=POLICE_MD5"));
    assert_eq!(a.body, json!({}));

    // raw_lookup: {"matches": [ids]}, or [{bank_content_id, distance}] with include_distance.
    let raw = format!("/m/raw_lookup?signal={pdq}&signal_type=pdq");
    assert_eq!(rest.get(Some(OPERATOR), &raw).body, json!({"matches": [0]}));
    assert_eq!(
        rest.get(Some(OPERATOR), &format!("{raw}&include_distance=true"))
            .body,
        json!({"matches": [{"bank_content_id": 0, "distance": "-"}]})
    );
    // A missing parameter is 422 with pydantic's list, as flask-openapi3 answers.
    let a = rest.get(Some(OPERATOR), "/m/raw_lookup?signal_type=pdq");
    assert_eq!(a.status, 422);
    assert_eq!(a.body[0]["loc"], json!(["signal"]));
    assert_eq!(a.body[0]["type"], "missing");

    // HMA's 400s, with its messages.
    let a = rest.get(Some(OPERATOR), "/m/lookup?signal=abc&signal_type=pdq");
    assert_eq!(a.status, 400);
    assert!(
        a.body["message"]
            .as_str()
            .unwrap()
            .starts_with("invalid signal: "),
        "{}",
        a.body
    );
    let a = rest.get(Some(OPERATOR), "/m/lookup?signal=abc&signal_type=tmk");
    assert_eq!(
        (a.status, a.body),
        (400, json!({"message": "No such SignalType 'tmk'"}))
    );
    let a = rest.get(Some(OPERATOR), "/m/lookup?signal_type=pdq");
    assert_eq!(
        (a.status, a.body),
        (
            400,
            json!({"message": "Either url or both signal and signal_type are required"})
        )
    );
    // hashguard never fetches a URL.
    let a = rest.get(Some(OPERATOR), "/m/lookup?url=http://example.org/a.jpg");
    assert_eq!(a.status, 400);
    assert!(
        a.body["message"]
            .as_str()
            .unwrap()
            .contains("never fetches URLs")
    );
    let a = rest.get(Some(OPERATOR), "/h/hash?url=http://example.org/a.jpg");
    assert_eq!(a.status, 405);
    assert!(is_error_body(&a.body));

    // POST /h/hash: {"pdq": hex, ...} for a photo, near the listed scene.
    let image = std::fs::read(testdata("images/variants/p00_480x360_resize50.png")).unwrap();
    let a = rest.post_file(OPERATOR, "/h/hash", "photo", &image);
    assert_eq!(a.status, 200, "{}", a.body);
    let hashed: hashguard::hashing::PdqHash = a.body["pdq"].as_str().unwrap().parse().unwrap();
    assert!(hashed.distance(&pdq.parse().unwrap()) <= 31);
    assert_eq!(a.body["md5"], md5_hex(&image));
    for t in ["sha1", "sha256", "phash", "dhash"] {
        assert!(a.body[t].is_string(), "{t} in {}", a.body);
    }
    let a = rest.post_file(OPERATOR, "/h/hash?types=pdq", "photo", &image);
    assert_eq!(a.body.as_object().unwrap().len(), 1, "{}", a.body);
    // A video: HMA's video_md5.
    let video = std::fs::read(testdata("video/cellauto.mp4")).unwrap();
    let a = rest.post_file(OPERATOR, "/h/hash?types=video_md5", "video", &video);
    assert_eq!(a.body, json!({"video_md5": md5_hex(&video)}));
    // HMA's upload errors.
    let a = rest.post_file(OPERATOR, "/h/hash", "file", &image);
    assert_eq!(
        (a.status, a.body),
        (400, json!({"message": "no such content_type: 'file'"}))
    );
    let a = rest.post_json(OPERATOR, "/h/hash", &json!({}));
    assert_eq!(
        (a.status, a.body),
        (
            400,
            json!({"message": "Missing multipart/form-data file upload"})
        )
    );

    // POST /m/lookup with a photo: {signal_type: {BANK: [...]}}, and a report like MatchMedia.
    let before_b = server.block_on(first_reports(&server, UNIT_B)).len();
    let a = rest.post_file(OPERATOR, "/m/lookup", "photo", &image);
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(
        a.body["pdq"],
        json!({"INTL_PDQ": [{"bank_content_id": 0, "distance": "-", "category": "A1"}]})
    );
    assert_eq!(a.body["md5"], json!({}));
    let reports = server.block_on(first_reports(&server, UNIT_B));
    assert_eq!(reports.len(), before_b + 1);
    assert_eq!(reports.last().unwrap().id, a.report.unwrap());
    assert_eq!(
        reports.last().unwrap().sha256,
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&image))
    );

    // /m/compare: [matched, {"distance": n}] with an integer distance; {} for digests.
    let far = format!("{}{}", &pdq[..32], "0".repeat(32));
    let a = rest.post_json(
        OPERATOR,
        "/m/compare",
        &json!({"pdq": [pdq, hashed.to_hex()], "video_md5": [md5, md5]}),
    );
    assert_eq!(a.status, 200, "{}", a.body);
    let d = u64::from(hashed.distance(&pdq.parse().unwrap()));
    assert_eq!(
        a.body,
        json!({"pdq": [true, {"distance": d}], "video_md5": [true, {}]})
    );
    let a = rest.post_json(OPERATOR, "/m/compare", &json!({"pdq": [pdq, far]}));
    assert_eq!(a.body["pdq"][0], false);
    for (body, message) in [
        (json!([1]), "Request input was not a dict"),
        (
            json!({"pdq": "x"}),
            "Comparison hashes for pdq was not a list",
        ),
        (
            json!({"pdq": [pdq]}),
            "Comparison hash list length must be exactly 2",
        ),
        (json!({"tmk": ["a", "b"]}), "No such SignalType 'tmk'"),
    ] {
        let a = rest.post_json(OPERATOR, "/m/compare", &body);
        assert_eq!((a.status, a.body), (400, json!({"message": message})));
    }
    let a = rest.post_json(OPERATOR, "/m/compare", &json!({"pdq": ["ab", pdq]}));
    assert_eq!(a.status, 400);
    assert!(
        a.body["message"]
            .as_str()
            .unwrap()
            .starts_with("Invalid pdq hash: ")
    );

    // Admin endpoints: the index status per signal type, banks, types, exchanges.
    let a = rest.get(Some(ADMIN), "/m/index/status");
    assert_eq!(a.status, 200, "{}", a.body);
    let o = a.body.as_object().unwrap();
    assert!(
        o.contains_key("pdq") && o.contains_key("video_md5"),
        "{}",
        a.body
    );
    for (t, v) in o {
        let s = v.as_object().unwrap();
        assert_eq!(s.len(), 3, "{t}: {v}");
        assert!(s["built_to"].is_i64() && s["present"].is_boolean() && s["size"].is_u64());
    }
    assert_eq!(a.body["pdq"]["size"], 1);
    assert_eq!(a.body["pdq"]["present"], true);
    assert!(a.body["pdq"]["built_to"].as_i64().unwrap() > 1_700_000_000);
    assert_eq!(
        a.body["sha1"],
        json!({"built_to": -1, "present": false, "size": 0})
    );
    assert_eq!(
        rest.get(Some(ADMIN), "/m/index/status?signal_type=video_md5")
            .body,
        json!({"video_md5": a.body["video_md5"]})
    );
    assert_eq!(
        rest.get(Some(ADMIN), "/m/index/status?signal_type=x").body,
        json!({"message": "No such signal type 'x'"})
    );
    assert_eq!(rest.get(Some(OPERATOR), "/m/index/status").status, 403);
    assert_eq!(
        rest.get(Some(ADMIN), "/c/banks").body,
        json!([
            {"matching_enabled_ratio": 1.0, "name": "INTL_PDQ"},
            {"matching_enabled_ratio": 1.0, "name": "POLICE_MD5"},
        ])
    );
    assert_eq!(
        rest.get(Some(ADMIN), "/c/bank/POLICE_MD5").body,
        json!({"matching_enabled_ratio": 1.0, "name": "POLICE_MD5"})
    );
    let a = rest.get(Some(ADMIN), "/c/bank/NOPE");
    assert_eq!(
        (a.status, a.body),
        (404, json!({"message": "bank 'NOPE' not found"}))
    );
    let types = rest.get(Some(ADMIN), "/c/signal_type").body;
    let names: Vec<&str> = types
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            assert_eq!(t["enabled_ratio"], 1.0);
            assert_eq!(t.as_object().unwrap().len(), 2);
            t["name"].as_str().unwrap()
        })
        .collect();
    assert!(names.starts_with(&["pdq", "video_md5"]), "{names:?}");
    assert_eq!(
        rest.get(Some(ADMIN), "/c/content_type").body,
        json!([{"enabled": true, "name": "photo"}, {"enabled": true, "name": "video"}])
    );
    assert_eq!(
        rest.get(Some(ADMIN), "/c/exchanges").body,
        json!(["POLICE_MD5"])
    );
    let a = rest.get(Some(ADMIN), "/c/exchange/POLICE_MD5/status");
    assert_eq!(a.status, 200, "{}", a.body);
    let keys: Vec<&String> = a.body.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "checkpoint_ts",
            "fetched_items",
            "last_fetch_complete_ts",
            "last_fetch_succeeded",
            "running_fetch_start_ts",
            "up_to_date"
        ]
    );
    assert_eq!(a.body["fetched_items"], 1);
    assert!(a.body["checkpoint_ts"].is_u64() && a.body["up_to_date"].is_boolean());
    let a = rest.get(Some(ADMIN), "/c/exchange/NOPE/status");
    assert_eq!(
        (a.status, a.body),
        (404, json!({"message": "Exchange 'NOPE' not found"}))
    );
    let a = rest.get(Some(ADMIN), "/nowhere");
    assert_eq!(a.status, 404);
    assert!(is_error_body(&a.body));
}

#[test]
fn a_role_in_detail_roles_sees_entries_and_distances_and_admins_file_nothing() {
    let (_tmp, server, md5, pdq) =
        serve_rest("[rest]\nlisten = \"127.0.0.1:0\"\ndetail_roles = [\"admin\"]\n");
    let rest = Rest::of(&server);
    let before = server.block_on(first_reports(&server, UNIT_B)).len();
    let a = rest.get(
        Some(ADMIN),
        &format!("/m/lookup?signal={pdq}&signal_type=pdq"),
    );
    assert_eq!(a.status, 200, "{}", a.body);
    let found = &a.body["INTL_PDQ"][0];
    // The list's own id is not an integer, so it stays a string; the distance is HMA's string.
    assert_eq!(found["bank_content_id"], "scene-p00");
    assert_eq!(found["entry_id"], "scene-p00");
    assert_eq!(found["distance"], "0");
    assert_eq!(found["list"], "intl-pdq");
    // An admin checks hashes; nothing was submitted for a tenant, so nothing is filed.
    assert_eq!(a.report, None);
    assert_eq!(
        server.block_on(first_reports(&server, UNIT_B)).len(),
        before
    );
    // An integer id (a plain list numbers its lines) is HMA's integer bank_content_id.
    let l = rest.get(
        Some(ADMIN),
        &format!("/m/lookup?signal={md5}&signal_type=md5"),
    );
    let entry = l.body["POLICE_MD5"][0]["entry_id"]
        .as_str()
        .unwrap()
        .to_string();
    let id: u64 = entry.parse().expect("a plain list's ids are line numbers");
    let a = rest.get(
        Some(ADMIN),
        &format!("/m/raw_lookup?signal={md5}&signal_type=md5&include_distance=1"),
    );
    assert_eq!(
        a.body,
        json!({"matches": [{"bank_content_id": id, "distance": "-"}]})
    );
    // Operators still see nothing more than over gRPC.
    let a = rest.get(
        Some(OPERATOR),
        &format!("/m/raw_lookup?signal={md5}&signal_type=md5"),
    );
    assert_eq!(a.body, json!({"matches": [0]}));
}

/// Starts `serve` with `config` and waits for the REST facade line: (child, REST address).
fn start_raw(data: &Path, config: &Path) -> (std::process::Child, SocketAddr) {
    let mut child = hashguard()
        .args(["--data", data.to_str().unwrap(), "serve", "--config"])
        .arg(config)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in stderr.lines().map_while(Result::ok) {
            if let Some(a) = line.strip_prefix("hashguard: REST facade (HMA API) on ") {
                let _ = tx.send(a.parse::<SocketAddr>().unwrap());
            }
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("no REST line");
    (child, addr)
}

#[test]
fn the_facade_speaks_tls_with_the_servers_files_and_plaintext_only_on_loopback() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, config, md5, _) = setup(tmp.path());
    // Plaintext off loopback is refused before anything is served.
    let open = tmp.path().join("open.toml");
    std::fs::copy(&config, &open).unwrap();
    append(&open, "\n[rest]\nlisten = \"0.0.0.0:0\"\n");
    let out = hashguard()
        .args(["--data", data.to_str().unwrap(), "serve", "--config"])
        .arg(&open)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("REST facade in plaintext on 0.0.0.0"), "{err}");

    // With [tls], the facade answers HTTPS with the server's certificate.
    let (ca, cert, key) = crate::common::test_tls(tmp.path());
    append(
        &config,
        &format!(
            "\n[tls]\ncert = \"{}\"\nkey = \"{}\"\n\n[rest]\nlisten = \"127.0.0.1:0\"\n",
            cert.display(),
            key.display()
        ),
    );
    let (mut child, addr) = start_raw(&data, &config);
    let https = agent(Some(&ca));
    let base = format!("https://localhost:{}", addr.port());
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        let a = read(https.get(format!("{base}/status")).call().unwrap());
        if a.status == 200 || Instant::now() > deadline {
            break a;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.body, json!("I-AM-ALIVE"));
    let a = read(
        https
            .get(format!("{base}/m/lookup?signal={md5}&signal_type=md5"))
            .header("Authorization", format!("Bearer {OPERATOR}"))
            .call()
            .unwrap(),
    );
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(a.body["POLICE_MD5"].is_array(), "{}", a.body);
    // Plain HTTP on the TLS port gets no answer.
    assert!(
        agent(None)
            .get(format!("http://127.0.0.1:{}/status", addr.port()))
            .call()
            .is_err()
    );
    let _ = child.kill();
    let _ = child.wait();
}
