//! The PostgreSQL report log against a real PostgreSQL 15 from Debian's packages, started on an
//! ephemeral loopback port in a temporary directory (as the `postgres` user when the tests run
//! as root) and stopped at the end: both backends pass one suite, and two `serve` replicas
//! share one log.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use hashguard::hashing::HashKind;
use hashguard::report_log::{
    AuditRecord, NewReport, PostgresLog, PostgresOptions, ReportLog, ReportMatch, RocksLog, audit,
};
use hashguard::store::Store;

/// Where Debian's PostgreSQL 15 server programs are.
const PG_BIN: &str = "/usr/lib/postgresql/15/bin";

/// A PostgreSQL server of the test's own, stopped (immediately) on drop.
pub struct Postgres {
    dir: tempfile::TempDir,
    /// The port it listens on, on 127.0.0.1.
    pub port: u16,
}

/// True when the tests run as root (CI does): PostgreSQL then runs as `postgres`.
fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

impl Postgres {
    /// A PostgreSQL program, run as the `postgres` user when this process is root (the server
    /// refuses to run as root).
    fn command(program: &str) -> Command {
        let path = Path::new(PG_BIN).join(program);
        assert!(
            path.exists(),
            "{} is missing: run scripts/setup.sh (it installs postgresql-15)",
            path.display()
        );
        if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        }
    }

    fn run(mut c: Command) {
        let out = c.output().unwrap();
        assert!(
            out.status.success(),
            "{c:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Creates a cluster in a new temporary directory and starts it.
    pub fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        if is_root() {
            let out = Command::new("chown")
                .arg("postgres:postgres")
                .arg(dir.path())
                .output()
                .unwrap();
            assert!(out.status.success());
        }
        let mut init = Self::command("initdb");
        init.arg("-D").arg(dir.path().join("data")).args([
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--no-sync",
        ]);
        Self::run(init);
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let pg = Postgres { dir, port };
        pg.start_again();
        pg
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Starts the (stopped) server again on its port, waiting until it accepts connections.
    pub fn start_again(&self) {
        let mut c = Self::command("pg_ctl");
        c.arg("-D")
            .arg(self.data())
            .arg("-l")
            .arg(self.dir.path().join("log"))
            .args(["-w", "-t", "60", "-o"])
            .arg(format!(
                "-p {} -c listen_addresses=127.0.0.1 -k {}",
                self.port,
                self.dir.path().display()
            ))
            .arg("start");
        Self::run(c);
    }

    /// Stops the server as a crash would (`pg_ctl -m immediate`): no checkpoint, recovery on
    /// the next start.
    pub fn stop_immediately(&self) {
        let mut c = Self::command("pg_ctl");
        c.arg("-D")
            .arg(self.data())
            .args(["-m", "immediate", "-w", "stop"]);
        Self::run(c);
    }

    /// A new database; its URL.
    pub fn database(&self, name: &str) -> String {
        let out = Command::new("psql")
            .args(["-h", "127.0.0.1", "-U", "postgres", "-p"])
            .arg(self.port.to_string())
            .args(["-d", "postgres", "-v", "ON_ERROR_STOP=1", "-c"])
            .arg(format!("CREATE DATABASE {name}"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let mut c = Self::command("pg_ctl");
        c.arg("-D")
            .arg(self.data())
            .args(["-m", "immediate", "-w", "stop"]);
        let _ = c.output();
    }
}

/// Runs one SQL statement in database `db`, as an intruder with database access would.
fn psql(pg: &Postgres, db: &str, sql: &str) {
    let out = Command::new("psql")
        .args(["-h", "127.0.0.1", "-U", "postgres", "-p"])
        .arg(pg.port.to_string())
        .args(["-d", db, "-v", "ON_ERROR_STOP=1", "-c", sql])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn report(unit: &str, entry: &str) -> NewReport {
    NewReport {
        tenant: "acme".into(),
        tenant_reference: format!("ref-{entry}"),
        unit: unit.into(),
        sha256: None,
        md5: Some("ab".repeat(16)),
        sha1: None,
        matches: vec![ReportMatch {
            list: "l".into(),
            list_version: 1,
            entry_id: entry.into(),
            entry_hash: "ab".repeat(16),
            distance: 0,
            kind: HashKind::Md5,
            dihedral: None,
            category: Some("A1".into()),
            frame_ts: None,
            video: None,
        }],
        coverage: Default::default(),
    }
}

/// What every backend must do: per-unit gapless cursors, pages after a cursor within a byte
/// budget, acknowledgements only within the unit, a probe, and concurrent filings that get
/// distinct, gapless cursors.
fn report_log_suite(log: Arc<dyn ReportLog>) {
    let a1 = log.file(report("unit-a", "e1")).unwrap();
    let b1 = log.file(report("unit-b", "e2")).unwrap();
    let a2 = log.file(report("unit-a", "e3")).unwrap();
    assert_eq!((a1.cursor, b1.cursor, a2.cursor), (1, 1, 2));
    assert_ne!(a1.id, a2.id);
    let page = log.list("unit-a", 0, 10, usize::MAX).unwrap();
    assert_eq!(page, vec![a1.clone(), a2.clone()], "stored as filed");
    assert_eq!(
        log.list("unit-a", 1, 10, usize::MAX).unwrap(),
        vec![a2.clone()]
    );
    assert_eq!(log.list("unit-a", 0, 1, usize::MAX).unwrap().len(), 1);
    assert_eq!(
        log.list("unit-a", 0, 10, 1).unwrap().len(),
        1,
        "a page smaller than one report still moves on"
    );
    assert!(log.list("unit-c", 0, 10, usize::MAX).unwrap().is_empty());
    // Acknowledgements stay in their unit and count once.
    let ids = vec![a1.id.clone(), b1.id.clone(), "nope".into()];
    assert_eq!(log.ack("unit-a", &ids).unwrap(), 1);
    assert_eq!(log.ack("unit-a", &ids).unwrap(), 0);
    assert!(log.list("unit-a", 0, 1, usize::MAX).unwrap()[0].acked);
    assert!(!log.list("unit-b", 0, 1, usize::MAX).unwrap()[0].acked);
    log.probe().unwrap();
    // 8 threads file 40 reports each for one unit: 320 distinct, gapless cursors.
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let log = log.clone();
            std::thread::spawn(move || {
                (0..40)
                    .map(|i| {
                        log.file(report("unit-c", &format!("{t}-{i}")))
                            .unwrap()
                            .cursor
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut cursors: Vec<u64> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    cursors.sort_unstable();
    assert_eq!(cursors, (1..=320).collect::<Vec<_>>());
    let all = log.list("unit-c", 0, 1000, usize::MAX).unwrap();
    assert_eq!(
        all.iter().map(|r| r.cursor).collect::<Vec<_>>(),
        (1..=320).collect::<Vec<_>>()
    );
    // The audit log: concurrent appends make one gapless chain that verifies.
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let log = log.clone();
            std::thread::spawn(move || {
                for i in 0..10 {
                    let detail = serde_json::json!({ "unit": "unit-a", "cursor": i, "t": t });
                    log.audit("investigator:unit-a", "reports.list", detail)
                        .unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let page = log.audit_page(0, 100).unwrap();
    assert_eq!(
        page.iter().map(|r| r.seq).collect::<Vec<_>>(),
        (1..=40).collect::<Vec<_>>()
    );
    assert_eq!(page[0].parse().unwrap().actor, "investigator:unit-a");
    assert_eq!(log.audit_page(38, 100).unwrap().len(), 2);
    let v = audit::verify(log.as_ref()).unwrap().unwrap();
    assert_eq!((v.records, v.head.as_str()), (40, page[39].hash.as_str()));
    // Retention: two days on, unit-a's one-day retention purges its reports (audited); unit-b
    // keeps its own; unit-a's cursors go on where they were.
    let mut units = log.units().unwrap();
    units.sort();
    assert_eq!(units, ["unit-a", "unit-b", "unit-c"]);
    let later = hashguard::report_log::now() + 2 * 86_400;
    let done = hashguard::report_log::purge_expired(
        log.as_ref(),
        |u| (u == "unit-a").then_some(1),
        later,
        "server",
    )
    .unwrap();
    assert_eq!(done.len(), 1);
    assert_eq!((done[0].1.reports, done[0].1.cursors), (2, Some((1, 2))));
    assert!(log.list("unit-a", 0, 10, usize::MAX).unwrap().is_empty());
    assert_eq!(log.list("unit-b", 0, 10, usize::MAX).unwrap().len(), 1);
    assert_eq!(
        log.ack("unit-a", std::slice::from_ref(&a2.id)).unwrap(),
        0,
        "gone"
    );
    let last = log.audit_page(40, 10).unwrap();
    assert_eq!(last.len(), 1);
    let entry = last[0].parse().unwrap();
    assert_eq!(
        (entry.action.as_str(), &entry.detail["reports"]),
        ("reports.purge", &serde_json::json!(2))
    );
    assert!(
        hashguard::report_log::purge_expired(
            log.as_ref(),
            |_| Some(1),
            later - 86_400 * 2,
            "server"
        )
        .unwrap()
        .is_empty(),
        "nothing is old enough yet"
    );
    assert_eq!(log.file(report("unit-a", "e4")).unwrap().cursor, 3);
}

#[test]
fn both_backends_pass_the_report_log_suite() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path()).unwrap());
    let rocks = Arc::new(RocksLog::new(store.clone()));
    report_log_suite(rocks.clone());
    // An edited record breaks the chain where it was edited.
    let key = |seq: u64| hashguard::store::keys::audit().u64(seq).bytes().to_vec();
    let cf = hashguard::store::Cf::Reports;
    let mut r: AuditRecord =
        serde_json::from_slice(&store.get(cf, &key(7)).unwrap().unwrap()).unwrap();
    let original = r.clone();
    r.entry = r.entry.replace("unit-a", "unit-x");
    store
        .put(cf, &key(7), &serde_json::to_vec(&r).unwrap())
        .unwrap();
    let broken = audit::verify(rocks.as_ref()).unwrap().unwrap_err();
    assert_eq!(broken.seq, 7);
    assert!(broken.why.contains("changed"), "{broken}");
    store
        .put(cf, &key(7), &serde_json::to_vec(&original).unwrap())
        .unwrap();
    assert!(audit::verify(rocks.as_ref()).unwrap().is_ok());

    let pg = Postgres::start();
    let url = pg.database("suite");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let opts = PostgresOptions {
        url: url.clone(),
        ca_file: None,
        pool_size: 8,
    };
    let log = Arc::new(rt.block_on(PostgresLog::connect(&opts)).unwrap());
    report_log_suite(log.clone());
    // A record removed from the middle breaks the chain there.
    psql(&pg, "suite", "DELETE FROM hashguard_audit WHERE seq = 12");
    let broken = audit::verify(log.as_ref()).unwrap().unwrap_err();
    assert_eq!(broken.seq, 13);
    assert!(broken.why.contains("removed"), "{broken}");
    // A shared bucket: full at first, then refilled at its rate by the database's clock.
    let got = rt
        .block_on(log.lease("calls:acme", 10.0, 10.0, 4.0))
        .unwrap();
    assert_eq!(got, 4.0);
    let got = rt
        .block_on(log.lease("calls:acme", 10.0, 10.0, 100.0))
        .unwrap();
    assert!((6.0..6.5).contains(&got), "{got}");
    let got = rt
        .block_on(log.lease("calls:acme", 10.0, 10.0, 100.0))
        .unwrap();
    assert!(got < 0.5, "{got}");
    // A second connection (another replica) migrates nothing and sees the same log.
    let other = rt.block_on(PostgresLog::connect(&opts)).unwrap();
    assert_eq!(other.list("unit-a", 0, 10, usize::MAX).unwrap().len(), 1);
    assert_eq!(other.file(report("unit-a", "e9")).unwrap().cursor, 4);
    // A crash of the database loses nothing committed; the log works again once it is back.
    pg.stop_immediately();
    assert!(log.file(report("unit-a", "down")).is_err());
    assert!(log.probe().is_err());
    pg.start_again();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while log.probe().is_err() {
        assert!(std::time::Instant::now() < deadline, "never back");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(log.file(report("unit-a", "back")).unwrap().cursor, 5);
    assert_eq!(log.list("unit-c", 0, 1000, usize::MAX).unwrap().len(), 320);
}

/// The suite's server setup, with the PostgreSQL backend on `url`.
pub fn postgres_config(config: &Path) {
    crate::server::append(
        config,
        "\n[reports]\nbackend = \"postgres\"\npool_size = 8\n",
    );
}

/// A `serve` replica with its own data directory (the same lists) on the shared log.
fn replica(dir: &Path, url: &str) -> crate::common::TestServer {
    let (data, config, _, _) = crate::server::setup(dir);
    postgres_config(&config);
    crate::common::TestServer::start_with_env(&data, &config, &[("HASHGUARD_POSTGRES_URL", url)])
}

#[test]
fn postgres_backend_without_its_url_is_a_configuration_error() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, config, _, _) = crate::server::setup(tmp.path());
    postgres_config(&config);
    let out = crate::common::hashguard()
        .args(["--data", data.to_str().unwrap(), "serve", "--config"])
        .arg(&config)
        .env_remove("HASHGUARD_POSTGRES_URL")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(78), "{err}");
    assert!(err.contains("HASHGUARD_POSTGRES_URL"), "{err}");
}

/// Two replicas on one PostgreSQL: concurrent filings through both while a follower on each
/// reconnects at random; each follower sees every acknowledged report exactly once, in order.
#[test]
fn two_replicas_share_one_log_and_their_followers_miss_nothing() {
    use hashguard::proto::HashKind as Kind;
    let pg = Postgres::start();
    let url = pg.database("replicas");
    let (t1, t2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let one = replica(t1.path(), &url);
    let two = replica(t2.path(), &url);
    let md5 = crate::common::md5_hex(&std::fs::read(t1.path().join("secret.bin")).unwrap());
    const WRITERS: usize = 4;
    const CALLS: usize = 25;
    let total = 2 * WRITERS * CALLS;
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let mut writers = Vec::new();
        for server in [&one, &two] {
            for _ in 0..WRITERS {
                let (mut m, md5) = (server.matcher(crate::common::OPERATOR), md5.clone());
                writers.push(tokio::spawn(async move {
                    let mut ids = Vec::new();
                    for _ in 0..CALLS {
                        let v = m
                            .match_hashes(crate::server::hashes(Kind::Md5, &md5))
                            .await
                            .unwrap()
                            .into_inner();
                        ids.push(v.verdicts[0].report_id.clone());
                    }
                    ids
                }));
            }
        }
        let followers: Vec<_> = [&one, &two]
            .into_iter()
            .enumerate()
            .map(|(n, server)| {
                let reports = server.reports(crate::common::UNIT_A);
                tokio::spawn(crate::common::follow_with_reconnects(
                    reports,
                    total,
                    0x9e37_79b9 + n as u32,
                    23,
                ))
            })
            .collect();
        let mut acked = Vec::new();
        for w in writers {
            acked.extend(w.await.unwrap());
        }
        for f in followers {
            crate::common::assert_each_once_in_order(f.await.unwrap(), &acked);
        }
    });
}

/// Files the listed MD5 through `server` until `stop` is set or the server stops answering;
/// returns the ids of the reports the server acknowledged.
async fn file_until(
    server: &crate::common::TestServer,
    md5: String,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> tokio::task::JoinHandle<Vec<String>> {
    use hashguard::proto::HashKind as Kind;
    let mut m = server.matcher(crate::common::OPERATOR);
    tokio::spawn(async move {
        let mut ids = Vec::new();
        let mut failures_in_a_row = 0;
        while !stop.load(std::sync::atomic::Ordering::Relaxed) && failures_in_a_row < 200 {
            let call = m.match_hashes(crate::server::hashes(Kind::Md5, &md5));
            match tokio::time::timeout(Duration::from_secs(20), call).await {
                Ok(Ok(v)) => {
                    failures_in_a_row = 0;
                    ids.push(v.into_inner().verdicts[0].report_id.clone());
                }
                // Refused while the database is down, or the replica is gone.
                _ => {
                    failures_in_a_row += 1;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
        ids
    })
}

/// Every report of unit A, read through `server` from cursor 0: (cursor, id) in order.
async fn all_reports(server: &crate::common::TestServer) -> Vec<(u64, String)> {
    let mut reports = server.reports(crate::common::UNIT_A);
    let (mut out, mut cursor) = (Vec::new(), 0);
    loop {
        // Right after the database restarts, a pooled connection may still be a dead one.
        let mut tries = 0;
        let page = loop {
            let req = hashguard::proto::ListReportsRequest {
                cursor,
                limit: 1000,
            };
            match reports.list_reports(req).await {
                Ok(p) => break p.into_inner(),
                Err(_) if tries < 100 => {
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("ListReports keeps failing: {e}"),
            }
        };
        if page.reports.is_empty() {
            return out;
        }
        for r in page.reports {
            cursor = r.cursor;
            out.push((r.cursor, r.id));
        }
    }
}

/// Under load, one replica is killed with SIGKILL and the database is stopped as a crash would
/// stop it and started again: every report a replica acknowledged is in the log once, cursors
/// have no gaps, and a follower resumes from its cursor and sees the reports filed after.
#[test]
fn a_killed_replica_and_a_crashed_database_lose_no_acknowledged_report() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let pg = Postgres::start();
    let url = pg.database("crash");
    let (t1, t2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut one = replica(t1.path(), &url);
    let two = replica(t2.path(), &url);
    let md5 = crate::common::md5_hex(&std::fs::read(t1.path().join("secret.bin")).unwrap());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    rt.block_on(async {
        for server in [&one, &two] {
            for _ in 0..3 {
                writers.push(file_until(server, md5.clone(), stop.clone()).await);
            }
        }
    });
    let count = || rt.block_on(all_reports(&two)).len();
    let wait_for = |n: usize| {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while count() < n {
            assert!(
                std::time::Instant::now() < deadline,
                "fewer than {n} reports filed"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    wait_for(60);
    one.kill();
    let before_crash = count();
    wait_for(before_crash + 30);
    // A follower on the surviving replica, part way through.
    let (first, mut cursor) = rt.block_on(async {
        let mut f = two
            .reports(crate::common::UNIT_A)
            .follow_reports(hashguard::proto::FollowReportsRequest { cursor: 0 })
            .await
            .unwrap()
            .into_inner();
        let r = f.message().await.unwrap().unwrap();
        (r.id, r.cursor)
    });
    pg.stop_immediately();
    std::thread::sleep(Duration::from_millis(500));
    pg.start_again();
    let after_restart = count();
    wait_for(after_restart + 30);
    stop.store(true, Ordering::Relaxed);
    let mut acked: Vec<String> = rt.block_on(async {
        let mut all = Vec::new();
        for w in writers {
            all.extend(w.await.unwrap());
        }
        all
    });
    let stored = rt.block_on(all_reports(&two));
    let cursors: Vec<u64> = stored.iter().map(|(c, _)| *c).collect();
    assert_eq!(
        cursors,
        (1..=stored.len() as u64).collect::<Vec<_>>(),
        "no gap"
    );
    let mut ids: Vec<String> = stored.iter().map(|(_, id)| id.clone()).collect();
    ids.sort();
    let n = ids.len();
    ids.dedup();
    assert_eq!(ids.len(), n, "no report twice");
    acked.sort();
    for id in &acked {
        assert!(
            ids.binary_search(id).is_ok(),
            "acknowledged report {id} is missing"
        );
    }
    assert!(acked.len() >= 120, "{} acknowledged", acked.len());
    // The follower reconnects from its cursor and gets everything after it, once, in order.
    assert_eq!(stored[0].1, first);
    let rest = rt.block_on(async {
        let mut f = two
            .reports(crate::common::UNIT_A)
            .follow_reports(hashguard::proto::FollowReportsRequest { cursor })
            .await
            .unwrap()
            .into_inner();
        let mut got = Vec::new();
        while got.len() + 1 < stored.len() {
            let r = tokio::time::timeout(Duration::from_secs(30), f.message())
                .await
                .expect("the follower stalled")
                .unwrap()
                .unwrap();
            assert_eq!(r.cursor, cursor + 1);
            cursor = r.cursor;
            got.push(r.id);
        }
        got
    });
    assert_eq!(rest.len(), stored.len() - 1);
}

/// `reports migrate` copies a RocksDB report log into PostgreSQL with its ids, cursors and
/// acknowledgements; it can run again; a server on PostgreSQL then goes on from the same
/// cursors.
#[test]
fn reports_migrate_keeps_ids_and_cursors_so_followers_go_on() {
    use hashguard::proto::{self, HashKind as Kind};
    let tmp = tempfile::tempdir().unwrap();
    let (data, config, md5, _) = crate::server::setup(tmp.path());
    let file = |server: &crate::common::TestServer| {
        server.block_on(async {
            server
                .matcher(crate::common::OPERATOR)
                .match_hashes(crate::server::hashes(Kind::Md5, &md5))
                .await
                .unwrap()
                .into_inner()
                .verdicts[0]
                .report_id
                .clone()
        })
    };
    let mut rocks = crate::common::TestServer::start(&data, &config);
    let ids: Vec<String> = (0..3).map(|_| file(&rocks)).collect();
    rocks.block_on(async {
        rocks
            .reports(crate::common::UNIT_A)
            .ack_reports(proto::AckReportsRequest {
                ids: vec![ids[0].clone()],
            })
            .await
            .unwrap();
    });
    let before = rocks.block_on(all_reports(&rocks));
    rocks.kill();

    let pg = Postgres::start();
    let url = pg.database("migrated");
    let pg_config = tmp.path().join("serve-pg.toml");
    std::fs::copy(&config, &pg_config).unwrap();
    postgres_config(&pg_config);
    let migrate = || {
        crate::common::hashguard()
            .args([
                "--data",
                data.to_str().unwrap(),
                "reports",
                "migrate",
                "--config",
            ])
            .arg(&pg_config)
            .env("HASHGUARD_POSTGRES_URL", &url)
            .output()
            .unwrap()
    };
    let out = migrate();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.contains("3 reports copied, 0 already there"), "{said}");
    let out = migrate();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("0 reports copied, 3 already there"),
        "run again: {}",
        String::from_utf8_lossy(&out.stdout)
    );

    let server = crate::common::TestServer::start_with_env(
        &data,
        &pg_config,
        &[("HASHGUARD_POSTGRES_URL", url.as_str())],
    );
    let after = server.block_on(all_reports(&server));
    assert_eq!(after, before, "the same ids at the same cursors");
    let acked = server.block_on(async {
        server
            .reports(crate::common::UNIT_A)
            .list_reports(proto::ListReportsRequest {
                cursor: 0,
                limit: 10,
            })
            .await
            .unwrap()
            .into_inner()
            .reports
            .iter()
            .map(|r| r.acked)
            .collect::<Vec<_>>()
    });
    assert_eq!(acked, [true, false, false]);
    // A follower that had read up to cursor 2 goes on with 3, then the next filing, 4.
    let id = file(&server);
    let seen = server.block_on(async {
        let mut f = server
            .reports(crate::common::UNIT_A)
            .follow_reports(proto::FollowReportsRequest { cursor: 2 })
            .await
            .unwrap()
            .into_inner();
        let a = f.message().await.unwrap().unwrap();
        let b = f.message().await.unwrap().unwrap();
        vec![(a.cursor, a.id), (b.cursor, b.id)]
    });
    assert_eq!(seen, vec![(3, ids[2].clone()), (4, id)]);
    // Logs that diverged (another report at a cursor) stop a migration: nothing is copied.
    psql(
        &pg,
        "migrated",
        "UPDATE hashguard_reports SET id = 'other' WHERE unit = 'unit-a' AND cursor = 1",
    );
    drop(server);
    let out = migrate();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(65), "{err}");
    assert!(err.contains("diverged"), "{err}");
}

/// Two replicas on one PostgreSQL enforce one tenant quota between them: calls admitted over a
/// few seconds stay within 10% of the shared rate (one replica alone would admit it twice).
#[test]
fn replicas_share_a_tenants_call_quota() {
    use hashguard::proto::HashKind as Kind;
    const RATE: f64 = 40.0;
    let pg = Postgres::start();
    let url = pg.database("quota");
    let servers: Vec<_> = (0..2)
        .map(|_| {
            let tmp = tempfile::tempdir().unwrap();
            let (data, config, _, _) = crate::server::setup(tmp.path());
            postgres_config(&config);
            let text = std::fs::read_to_string(&config).unwrap();
            std::fs::write(
                &config,
                text.replace("[limits]\n", &format!("[limits]\ntenant_rate = {RATE}\n")),
            )
            .unwrap();
            let s = crate::common::TestServer::start_with_env(
                &data,
                &config,
                &[("HASHGUARD_POSTGRES_URL", url.as_str())],
            );
            (tmp, s)
        })
        .collect();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let run_for = Duration::from_secs(3);
    let (admitted, elapsed) = rt.block_on(async {
        let start = std::time::Instant::now();
        let mut tasks = Vec::new();
        for (_, server) in &servers {
            for _ in 0..4 {
                let mut m = server.matcher(crate::common::OPERATOR);
                tasks.push(tokio::spawn(async move {
                    let mut ok = 0u64;
                    while start.elapsed() < run_for {
                        let r = m
                            .match_hashes(crate::server::hashes(Kind::Md5, &"cd".repeat(16)))
                            .await;
                        match r {
                            Ok(_) => ok += 1,
                            Err(e) => {
                                assert_eq!(e.code(), tonic::Code::ResourceExhausted, "{e:?}");
                                tokio::time::sleep(Duration::from_millis(2)).await;
                            }
                        }
                    }
                    ok
                }));
            }
        }
        let mut total = 0;
        for t in tasks {
            total += t.await.unwrap();
        }
        (total, start.elapsed())
    });
    // A full bucket (one second's worth), then the rate.
    let expected = RATE + RATE * elapsed.as_secs_f64();
    let off = (admitted as f64 - expected).abs() / expected;
    eprintln!(
        "shared quota: {admitted} calls admitted in {elapsed:?}, {expected:.0} expected ({:.1}% off)",
        off * 100.0
    );
    assert!(off <= 0.10, "{admitted} admitted, {expected:.0} expected");
}

/// TLS to the database: with `sslmode=require` the connection is encrypted and the server's
/// certificate must chain to `ca_file`; a certificate the CA did not sign is refused.
#[test]
fn the_report_log_reaches_postgres_over_tls_and_checks_its_certificate() {
    let pg = Postgres::start();
    let (ca, cert, key) = crate::common::test_tls(pg.dir.path());
    // PostgreSQL reads its key only when the file is its own and private.
    for f in [&cert, &key, &ca] {
        std::fs::set_permissions(f, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
        if is_root() {
            assert!(
                Command::new("chown")
                    .arg("postgres:postgres")
                    .arg(f)
                    .status()
                    .unwrap()
                    .success()
            );
        }
    }
    pg.stop_immediately();
    let conf = pg.data().join("postgresql.conf");
    let mut text = std::fs::read_to_string(&conf).unwrap();
    text.push_str(&format!(
        "\nssl = on\nssl_cert_file = '{}'\nssl_key_file = '{}'\n",
        cert.display(),
        key.display()
    ));
    std::fs::write(&conf, text).unwrap();
    // Only TLS connections from loopback are let in.
    std::fs::write(
        pg.data().join("pg_hba.conf"),
        "local all all trust\nhostssl all all 127.0.0.1/32 trust\n",
    )
    .unwrap();
    pg.start_again();
    let url = format!(
        "postgres://postgres@localhost:{}/postgres?sslmode=require",
        pg.port
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    let trusted = PostgresOptions {
        url: url.clone(),
        ca_file: Some(ca.clone()),
        pool_size: 2,
    };
    let log = rt.block_on(PostgresLog::connect(&trusted)).unwrap();
    assert_eq!(log.file(report("unit-a", "tls")).unwrap().cursor, 1);
    // Without TLS the server refuses (pg_hba), so the report above went over TLS.
    let plain = PostgresOptions {
        url: url.replace("sslmode=require", "sslmode=disable"),
        ..trusted.clone()
    };
    assert!(rt.block_on(PostgresLog::connect(&plain)).is_err());
    // A CA that did not sign the server's certificate: refused.
    let other = tempfile::tempdir().unwrap();
    let (other_ca, _, _) = crate::common::test_tls(other.path());
    let untrusted = PostgresOptions {
        ca_file: Some(other_ca),
        ..trusted
    };
    let err = match rt.block_on(PostgresLog::connect(&untrusted)) {
        Ok(_) => panic!("a certificate from another CA was accepted"),
        Err(e) => e.to_string(),
    };
    assert!(err.to_lowercase().contains("certificate"), "{err}");
}
