//! List sync against real HTTP servers started on loopback ports: a feed file that changes
//! between runs (additions, removals, a malformed version, a burst of 500s, a connection cut
//! mid-body), a paged API with a malformed page, and sync processes killed at random moments.

use std::collections::{BTreeSet, VecDeque};
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use hashguard::lists::ListSource;
use hashguard::lists::sync::{NoHub, SyncOutcome};
use hashguard::lists::{self, Error, Mode};
use hashguard::store::Store;

use crate::common::hashguard;

/// A scripted failure for the next request.
#[derive(Debug, Clone)]
enum Fault {
    /// Answer with this status and no body.
    Status(u16),
    /// Send the headers of the whole body, then this many bytes, then close.
    CutAfter(usize),
}

/// A request as the test server saw it: path, Range, If-None-Match, If-Range.
type Seen = (String, Option<String>, Option<String>, Option<String>);

/// What the test server serves: one resource, or pages by path and query.
#[derive(Default)]
struct Feed {
    body: Vec<u8>,
    etag: String,
    pages: Vec<(String, Vec<u8>)>,
    faults: VecDeque<Fault>,
    /// Requests seen: (path, range, if-none-match, if-range).
    log: Vec<Seen>,
}

fn respond(stream: &mut TcpStream, status: &str, headers: &[(String, String)], body: &[u8]) {
    let mut head = format!("HTTP/1.1 {status}\r\nConnection: close\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(body);
}

fn handle(mut stream: TcpStream, feed: &Mutex<Feed>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request = String::new();
    if reader.read_line(&mut request).is_err() {
        return;
    }
    let path = request.split_whitespace().nth(1).unwrap_or("/").to_string();
    let (mut range, mut inm, mut if_range) = (None, None, None);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            let v = Some(v.trim().to_string());
            match k.trim().to_ascii_lowercase().as_str() {
                "range" => range = v,
                "if-none-match" => inm = v,
                "if-range" => if_range = v,
                _ => {}
            }
        }
    }
    let mut f = feed.lock().unwrap();
    f.log
        .push((path.clone(), range.clone(), inm.clone(), if_range.clone()));
    let fault = f.faults.pop_front();
    let body = match f.pages.iter().find(|(p, _)| *p == path) {
        Some((_, b)) => b.clone(),
        None => f.body.clone(),
    };
    let etag = f.etag.clone();
    drop(f);
    let len = body.len();
    let mut headers = vec![("ETag".to_string(), etag.clone())];
    match fault {
        Some(Fault::Status(s)) => {
            respond(
                &mut stream,
                &format!("{s} Injected"),
                &[("Content-Length".into(), "0".into())],
                b"",
            );
            return;
        }
        Some(Fault::CutAfter(n)) => {
            headers.push(("Content-Length".into(), len.to_string()));
            respond(&mut stream, "200 OK", &headers, &body[..n.min(len)]);
            return;
        }
        None => {}
    }
    if inm.as_deref() == Some(etag.as_str()) {
        respond(&mut stream, "304 Not Modified", &headers, b"");
        return;
    }
    let start = range
        .as_deref()
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.trim_end_matches('-').parse::<usize>().ok())
        .filter(|_| if_range.as_deref().is_none_or(|t| t == etag));
    match start {
        Some(s) if s < len => {
            headers.push(("Content-Length".into(), (len - s).to_string()));
            headers.push((
                "Content-Range".into(),
                format!("bytes {s}-{}/{len}", len - 1),
            ));
            respond(&mut stream, "206 Partial Content", &headers, &body[s..]);
        }
        _ => {
            headers.push(("Content-Length".into(), len.to_string()));
            respond(&mut stream, "200 OK", &headers, &body);
        }
    }
}

/// Serves `feed` on an ephemeral loopback port; returns the base URL.
fn serve(feed: Arc<Mutex<Feed>>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let feed = feed.clone();
            std::thread::spawn(move || handle(stream, &feed));
        }
    });
    format!("http://{addr}")
}

/// A synthetic, non-degenerate MD5-length hash for entry `i`.
fn md5_of(i: u32) -> String {
    format!(
        "{:032x}",
        (u128::from(i) + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835)
    )
}

fn jsonl(ids: impl IntoIterator<Item = u32>) -> Vec<u8> {
    ids.into_iter()
        .map(|i| {
            format!(
                "{{\"id\":\"e{i}\",\"kind\":\"md5\",\"hash\":\"{}\"}}\n",
                md5_of(i)
            )
        })
        .collect::<String>()
        .into_bytes()
}

/// The active version as a set of (id, hash).
fn active(store: &Store, name: &str) -> BTreeSet<(String, String)> {
    let meta = lists::get(store, name).unwrap();
    lists::entries(store, name, meta.version)
        .unwrap()
        .map(|r| {
            let (_, e) = r.unwrap();
            (e.id, e.hash.to_string())
        })
        .collect()
}

fn expected(ids: impl IntoIterator<Item = u32>) -> BTreeSet<(String, String)> {
    ids.into_iter()
        .map(|i| (format!("e{i}"), md5_of(i)))
        .collect()
}

fn source(url: &str) -> ListSource {
    ListSource {
        source: url.to_string(),
        format: "jsonl".into(),
        retries: 5,
        backoff_ms: 10,
        deadline_secs: 30,
        ..ListSource::default()
    }
}

/// Polls the active version while a sync runs: its loaded index must always hold the entry
/// count of one of the `allowed` versions (never a mix), and agree with its own metadata.
fn watch(
    store: Arc<Store>,
    allowed: Vec<u64>,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let mut polls = 0;
        while !stop.load(Ordering::Relaxed) {
            let meta = lists::get(&store, "feed").unwrap();
            let loaded = hashguard::matcher::load(&store, &meta).unwrap();
            assert!(
                allowed.contains(&meta.entries),
                "count {} is neither version",
                meta.entries
            );
            assert_eq!(
                loaded.len() as u64,
                meta.entries,
                "index and metadata disagree"
            );
            polls += 1;
        }
        polls
    })
}

#[test]
fn http_feed_changes_faults_and_a_concurrent_reader() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(&tmp.path().join("data")).unwrap());
    let feed = Arc::new(Mutex::new(Feed {
        body: jsonl(0..2000),
        etag: "\"v1\"".into(),
        faults: [Fault::Status(500), Fault::Status(503), Fault::Status(500)].into(),
        ..Feed::default()
    }));
    let base = serve(feed.clone());
    let src = source(&format!("{base}/list.jsonl"));

    // Run 1: a burst of 500s, then the list.
    let SyncOutcome::Published(s) = lists::sync::sync(&store, "feed", &src, &NoHub).unwrap() else {
        panic!("run 1 publishes")
    };
    assert_eq!((s.meta.version, s.meta.entries), (1, 2000));
    assert_eq!(s.meta.upstream_version.as_deref(), Some("\"v1\""));
    assert_eq!(active(&store, "feed"), expected(0..2000));
    assert_eq!(feed.lock().unwrap().log.len(), 4);

    // Run 2: nothing changed; the conditional request says so.
    assert!(matches!(
        lists::sync::sync(&store, "feed", &src, &NoHub).unwrap(),
        SyncOutcome::Unchanged
    ));
    assert_eq!(
        feed.lock().unwrap().log.last().unwrap().2.as_deref(),
        Some("\"v1\"")
    );

    // Run 3: 100 removed, 150 added; the connection is cut a third of the way in, and the
    // download resumes with a range request. A reader polls throughout.
    let v2: Vec<u32> = (100..2150).collect();
    {
        let mut f = feed.lock().unwrap();
        f.body = jsonl(v2.iter().copied());
        f.etag = "\"v2\"".into();
        let cut = f.body.len() / 3;
        f.faults = [Fault::CutAfter(cut)].into();
        f.log.clear();
    }
    let stop = Arc::new(AtomicBool::new(false));
    let reader = watch(store.clone(), vec![2000, 2050], stop.clone());
    let SyncOutcome::Published(s) = lists::sync::sync(&store, "feed", &src, &NoHub).unwrap() else {
        panic!("run 3 publishes")
    };
    stop.store(true, Ordering::Relaxed);
    assert!(reader.join().unwrap() > 0);
    assert_eq!((s.meta.version, s.meta.entries), (2, 2050));
    assert_eq!(active(&store, "feed"), expected(v2.iter().copied()));
    {
        let f = feed.lock().unwrap();
        let resumed = f
            .log
            .iter()
            .find(|l| l.1.is_some())
            .expect("a range request");
        let cut = f.body.len() / 3;
        assert_eq!(resumed.1.as_deref(), Some(format!("bytes={cut}-").as_str()));
        assert_eq!(resumed.3.as_deref(), Some("\"v2\""));
    }

    // Run 4: a damaged version (half its rows malformed) is refused; v2 keeps serving and
    // the status says why.
    {
        let mut f = feed.lock().unwrap();
        let mut body = jsonl(0..10);
        body.extend(b"{\"id\":\"x\",\"kind\":\"md5\",\"hash\":\"zz\"}\n".repeat(10));
        f.body = body;
        f.etag = "\"v3\"".into();
    }
    assert!(matches!(
        lists::sync::sync(&store, "feed", &src, &NoHub),
        Err(Error::TooManyBadRows { .. })
    ));
    assert_eq!(active(&store, "feed"), expected(v2.iter().copied()));
    let attempt = lists::last_attempt(&store, "feed").unwrap().unwrap();
    assert!(!attempt.ok && attempt.bad == 10, "{attempt:?}");
    assert_eq!(attempt.bad_rows[0].line, 11);

    // Run 4b: an empty body, then a list 90% smaller: a broken feed, refused; v2 keeps
    // serving and the status says why.
    for (body, etag) in [(Vec::new(), "\"empty\""), (jsonl(100..305), "\"shrunk\"")] {
        {
            let mut f = feed.lock().unwrap();
            f.body = body;
            f.etag = etag.into();
        }
        let err = lists::sync::sync(&store, "feed", &src, &NoHub).unwrap_err();
        assert!(
            matches!(err, Error::EmptyLoad { .. } | Error::Shrinks { .. }),
            "{err}"
        );
        assert_eq!(active(&store, "feed"), expected(v2.iter().copied()));
        let attempt = lists::last_attempt(&store, "feed").unwrap().unwrap();
        assert!(!attempt.ok && attempt.error.is_some_and(|e| e.contains("refused")));
    }

    // Run 5: the source goes on failing: the sync gives up by its retries, v2 stays.
    feed.lock().unwrap().faults = std::iter::repeat_n(Fault::Status(502), 20).collect();
    let err = lists::sync::sync(&store, "feed", &src, &NoHub).unwrap_err();
    assert!(
        err.to_string().contains("gave up after 6 attempts"),
        "{err}"
    );
    assert_eq!(lists::get(&store, "feed").unwrap().version, 2);
    feed.lock().unwrap().faults.clear();

    // Run 6: a delta feed removes and adds.
    {
        let mut f = feed.lock().unwrap();
        let mut body = b"{\"id\":\"e100\",\"op\":\"remove\"}\n".to_vec();
        body.extend(jsonl(5000..5003));
        f.body = body;
        f.etag = "\"d1\"".into();
    }
    let delta = ListSource {
        mode: Mode::Delta,
        ..src.clone()
    };
    let SyncOutcome::Published(s) = lists::sync::sync(&store, "feed", &delta, &NoHub).unwrap()
    else {
        panic!("the delta publishes")
    };
    assert_eq!(s.meta.entries, 2052);
    let want: Vec<u32> = (101..2150).chain(5000..5003).collect();
    assert_eq!(active(&store, "feed"), expected(want));
    // Only the active and the previous version are kept.
    let meta = lists::get(&store, "feed").unwrap();
    assert_eq!((meta.version, meta.previous), (3, Some(2)));
}

fn stopncii_page(records: &[(u32, &str)], next: Option<&str>) -> Vec<u8> {
    let recs: Vec<String> = records
        .iter()
        .map(|(i, status)| {
            format!(
                "{{\"hashValue\":\"{}\",\"signalType\":\"MD5\",\"hashStatus\":\"{status}\"}}",
                md5_of(*i)
            )
        })
        .collect();
    let paging = match next {
        Some(n) => format!("\"nextPageToken\":\"{n}\",\"hasMoreRecords\":true"),
        None => "\"hasMoreRecords\":false".into(),
    };
    format!("{{\"hashRecords\":[{}],{paging}}}", recs.join(",")).into_bytes()
}

#[test]
fn paged_source_checkpoints_each_page_and_never_skips_a_malformed_one() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(&tmp.path().join("data")).unwrap();
    let page1 = stopncii_page(&[(1, "Active"), (2, "Active")], Some("p2"));
    let page2 = stopncii_page(&[(3, "Active"), (1, "Deleted")], Some("p3"));
    let mut page3 = stopncii_page(&[(4, "Active")], None);
    let good3 = page3.clone();
    page3.truncate(page3.len() / 2);
    let feed = Arc::new(Mutex::new(Feed {
        pages: vec![
            ("/hashes".into(), page1),
            ("/hashes?next=p2".into(), page2),
            ("/hashes?next=p3".into(), page3),
        ],
        ..Feed::default()
    }));
    let base = serve(feed.clone());
    let src = ListSource {
        format: "stopncii".into(),
        paged: true,
        ..source(&format!("{base}/hashes"))
    };

    // Page 3 is malformed: the sync fails, nothing is published, and the checkpoint stays on
    // page 3 with pages 1 and 2 staged.
    let err = lists::sync::sync(&store, "ncii", &src, &NoHub).unwrap_err();
    assert!(err.to_string().contains("malformed"), "{err}");
    assert!(matches!(
        lists::get(&store, "ncii"),
        Err(Error::NoSuchList { .. })
    ));
    let cp = lists::sync::paged::checkpoint(&store, "ncii").unwrap();
    assert_eq!(
        (cp.running, cp.pages, cp.next.as_deref()),
        (true, 2, Some("p3"))
    );

    // Fixed at the source: the next sync resumes at page 3 (pages 1-2 are not fetched again)
    // and publishes every page's changes.
    {
        let mut f = feed.lock().unwrap();
        f.pages[2].1 = good3;
        f.log.clear();
    }
    let SyncOutcome::Published(s) = lists::sync::sync(&store, "ncii", &src, &NoHub).unwrap() else {
        panic!("the resumed sync publishes")
    };
    let fetched: Vec<String> = feed
        .lock()
        .unwrap()
        .log
        .iter()
        .map(|l| l.0.clone())
        .collect();
    assert_eq!(fetched, vec!["/hashes?next=p3".to_string()]);
    let ids: BTreeSet<String> = active(&store, "ncii").into_iter().map(|(_, h)| h).collect();
    assert_eq!(ids, [2, 3, 4].iter().map(|i| md5_of(*i)).collect());
    assert_eq!(s.meta.entries, 3);
    let cp = lists::sync::paged::checkpoint(&store, "ncii").unwrap();
    // The cursor is kept, never a URL (which may carry a credential).
    assert_eq!((cp.running, cp.next.as_deref()), (false, Some("p3")));

    // The next night starts from the last page, which now has more.
    feed.lock().unwrap().pages[2].1 =
        stopncii_page(&[(4, "Active"), (2, "Withdrawn"), (9, "Active")], None);
    lists::sync::sync(&store, "ncii", &src, &NoHub).unwrap();
    let ids: BTreeSet<String> = active(&store, "ncii").into_iter().map(|(_, h)| h).collect();
    assert_eq!(ids, [3, 4, 9].iter().map(|i| md5_of(*i)).collect());
}

/// A sync process killed at random moments leaves the old version active and consistent,
/// and the next sync completes to exactly the state of an uninterrupted one. Set
/// `HASHGUARD_KILL_TRIALS` for a longer run (see README).
#[test]
fn killed_syncs_leave_a_consistent_list_and_the_next_one_completes() {
    let trials: usize = std::env::var("HASHGUARD_KILL_TRIALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let a = tmp.path().join("a.jsonl");
    let b = tmp.path().join("b.jsonl");
    std::fs::write(&a, jsonl(0..30_000)).unwrap();
    std::fs::write(&b, jsonl(10_000..50_000)).unwrap();
    let feed = tmp.path().join("feed.jsonl");
    let config = tmp.path().join("hashguard.toml");
    std::fs::write(
        &config,
        format!(
            "[lists.k]\nsource = \"file:{}\"\nformat = \"jsonl\"\n",
            feed.display()
        ),
    )
    .unwrap();
    let run = || {
        let mut c = hashguard();
        c.args([
            "--data",
            data.to_str().unwrap(),
            "lists",
            "sync",
            "k",
            "--config",
        ])
        .arg(&config)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
        c
    };
    // The digests of both contents, from uninterrupted syncs, and how long one takes.
    let mut digests = Vec::new();
    let mut took = std::time::Duration::ZERO;
    for src in [&b, &a] {
        std::fs::copy(src, &feed).unwrap();
        let started = std::time::Instant::now();
        let out = run().output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        took = took.max(started.elapsed());
        let store = Store::open_read_only(&data).unwrap();
        digests.push(lists::get(&store, "k").unwrap().digest);
    }
    let (digest_b, digest_a) = (digests[0].clone(), digests[1].clone());
    let mut rng = 0x2545_f491_4f6c_dd1d_u64;
    let mut completed = 0;
    for trial in 0..trials {
        // Sync towards whichever content is not active.
        let store = Store::open_read_only(&data).unwrap();
        let before = lists::get(&store, "k").unwrap().digest;
        drop(store);
        let (target, want) = if before == digest_a {
            (&b, &digest_b)
        } else {
            (&a, &digest_a)
        };
        std::fs::copy(target, &feed).unwrap();
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let delay = took.mul_f64((rng % 1000) as f64 / 1000.0 * 1.1);
        let mut child = run().spawn().unwrap();
        std::thread::sleep(delay);
        let _ = child.kill();
        let status = child.wait().unwrap();
        let store = Store::open_read_only(&data).unwrap();
        let meta = lists::get(&store, "k").unwrap();
        assert!(
            meta.digest == before || meta.digest == *want,
            "trial {trial}: the active version is neither the old nor the new one"
        );
        if meta.digest == *want {
            completed += 1;
        }
        // Consistent: the index loads with the metadata's count, and the entries' digest is
        // the recorded one.
        let loaded = hashguard::matcher::load(&store, &meta).unwrap();
        assert_eq!(
            loaded.len() as u64,
            meta.entries,
            "trial {trial} ({status})"
        );
        let mut d = lists::SetDigest::default();
        for r in lists::entries(&store, "k", meta.version).unwrap() {
            d.add(&r.unwrap().1);
        }
        assert_eq!(d.to_hex(), meta.digest, "trial {trial}");
    }
    // At least some kills landed mid-sync; then an uninterrupted sync finishes the job.
    eprintln!(
        "{trials} syncs killed: {} before publishing, {completed} after",
        trials - completed
    );
    assert!(
        completed < trials,
        "every sync finished before its kill: the test proved nothing"
    );
    let store = Store::open_read_only(&data).unwrap();
    let before = lists::get(&store, "k").unwrap().digest;
    drop(store);
    let (target, want) = if before == digest_a {
        (&b, &digest_b)
    } else {
        (&a, &digest_a)
    };
    std::fs::copy(target, &feed).unwrap();
    let out = run().output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let store = Store::open_read_only(&data).unwrap();
    let meta = lists::get(&store, "k").unwrap();
    assert_eq!(meta.digest, *want);
    assert_eq!(
        hashguard::matcher::load(&store, &meta).unwrap().len() as u64,
        meta.entries
    );
}

/// Offline bundles through the CLI: export signed, import verified, tampering refused.
#[test]
fn cli_bundles_carry_a_list_across_an_air_gap() {
    let tmp = tempfile::tempdir().unwrap();
    let (hub, gap) = (tmp.path().join("hub"), tmp.path().join("gap"));
    let list = tmp.path().join("l.jsonl");
    std::fs::write(&list, jsonl(0..500)).unwrap();
    let hg = |args: &[&str]| hashguard().args(args).output().unwrap();
    let s = |p: &std::path::Path| p.to_str().unwrap().to_string();
    let import = |file: &std::path::Path| {
        hg(&[
            "--data",
            &s(&hub),
            "lists",
            "import",
            "--list",
            "n",
            "--format",
            "jsonl",
            &s(file),
        ])
    };
    assert!(import(&list).status.success());
    let key = tmp.path().join("bundle.key");
    let bundle = tmp.path().join("n.bundle");
    let out = hg(&[
        "--data",
        &s(&hub),
        "lists",
        "export",
        "n",
        "--bundle",
        "--key",
        &s(&key),
        "--out",
        &s(&bundle),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    let public = err.rsplit("public key ").next().unwrap().trim().to_string();
    let pubfile = tmp.path().join("hub.pub");
    std::fs::write(&pubfile, &public).unwrap();
    let take = |b: &std::path::Path| {
        hg(&[
            "--data",
            &s(&gap),
            "lists",
            "import",
            "--list",
            "n",
            "--bundle",
            "--public-key",
            &s(&pubfile),
            &s(b),
        ])
    };
    let out = take(&bundle);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The hub's list changes; a delta bundle from version 1 brings the copy along.
    std::fs::write(&list, jsonl(100..650)).unwrap();
    assert!(import(&list).status.success());
    let out = hg(&[
        "--data",
        &s(&hub),
        "lists",
        "export",
        "n",
        "--bundle",
        "--from",
        "1",
        "--key",
        &s(&key),
        "--out",
        &s(&bundle),
    ]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("from version 1 to version 2"));
    let mut tampered = std::fs::read(&bundle).unwrap();
    let at = tampered.len() / 2;
    tampered[at] ^= 0x20;
    let bad = tmp.path().join("bad.bundle");
    std::fs::write(&bad, tampered).unwrap();
    let out = take(&bad);
    assert_eq!(out.status.code(), Some(65));
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not verify"));
    assert!(take(&bundle).status.success());
    let hub_store = Store::open_read_only(&hub).unwrap();
    let gap_store = Store::open_read_only(&gap).unwrap();
    assert_eq!(active(&gap_store, "n"), active(&hub_store, "n"));
    assert_eq!(
        lists::get(&gap_store, "n").unwrap().digest,
        lists::get(&hub_store, "n").unwrap().digest
    );
}

/// A first paged sync replays the source's history in order: a hash added, withdrawn and
/// added again is present; one added then withdrawn is not.
#[test]
fn a_first_paged_sync_replays_the_history_in_order() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(&tmp.path().join("data")).unwrap();
    let feed = Arc::new(Mutex::new(Feed {
        pages: vec![
            (
                "/h".into(),
                stopncii_page(&[(5, "Active"), (6, "Active"), (5, "Deleted")], Some("b")),
            ),
            (
                "/h?next=b".into(),
                stopncii_page(&[(5, "Active"), (6, "Withdrawn")], None),
            ),
        ],
        ..Feed::default()
    }));
    let base = serve(feed);
    let src = ListSource {
        format: "stopncii".into(),
        paged: true,
        ..source(&format!("{base}/h"))
    };
    lists::sync::sync(&store, "h", &src, &NoHub).unwrap();
    let hashes: BTreeSet<String> = active(&store, "h").into_iter().map(|(_, h)| h).collect();
    assert_eq!(hashes, [md5_of(5)].into_iter().collect());
}

/// A download past the source's `max_download_mb` fails (declared or not: a server may send
/// more than its Content-Length says nothing about) and the active version keeps serving.
#[test]
fn a_download_past_its_cap_fails_and_the_list_keeps_serving() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(&tmp.path().join("data")).unwrap());
    let feed = Arc::new(Mutex::new(Feed {
        body: jsonl(0..100),
        etag: "\"v1\"".into(),
        ..Feed::default()
    }));
    let base = serve(feed.clone());
    let src = ListSource {
        max_download_mb: 1,
        ..source(&format!("{base}/list.jsonl"))
    };
    let SyncOutcome::Published(_) = lists::sync::sync(&store, "feed", &src, &NoHub).unwrap() else {
        panic!("the small list publishes")
    };
    // About 2.8 MB: over the 1 MiB cap.
    {
        let mut f = feed.lock().unwrap();
        f.body = jsonl(0..40_000);
        f.etag = "\"v2\"".into();
    }
    let err = lists::sync::sync(&store, "feed", &src, &NoHub).unwrap_err();
    assert!(err.to_string().contains("max_download_mb"), "{err}");
    assert_eq!(active(&store, "feed"), expected(0..100));
    // The partial download is not kept for a resume.
    let dl = hashguard::lists::spool::download_path(&store, "feed").unwrap();
    assert!(!dl.exists(), "{}", dl.display());
}
