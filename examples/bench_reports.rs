//! Report-log figures for docs/performance.md, one backend per run (scripts/bench-reports.sh
//! runs both on the same machine):
//! - filings per second sustained by 16 threads over 10 units, each report durable;
//! - the cost of one audit append;
//! - paging through a unit of 1,000,000 reports, 1,000 a page: the first and last 100 pages
//!   cost the same when paging is linear.
//!
//!   bench_reports rocksdb DIR [REPORTS]
//!   HASHGUARD_POSTGRES_URL=postgres://… bench_reports postgres [REPORTS]
//!
//! Prints one JSON line per figure.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hashguard::hashing::HashKind;
use hashguard::report_log::{
    NewReport, PostgresLog, PostgresOptions, Report, ReportLog, ReportMatch, RocksLog,
};

fn new_report(unit: &str, i: u64) -> NewReport {
    NewReport {
        tenant: "bench".into(),
        tenant_reference: format!("upload-{i}"),
        unit: unit.into(),
        sha256: Some(format!("{i:064x}")),
        md5: None,
        sha1: None,
        matches: vec![ReportMatch {
            list: "bench-pdq".into(),
            list_version: 1,
            entry_id: format!("{i}"),
            entry_hash: format!("{i:064x}"),
            distance: 8,
            kind: HashKind::Pdq,
            dihedral: None,
            category: Some("A1".into()),
            frame_ts: None,
            video: None,
        }],
        coverage: Default::default(),
    }
}

/// Files from 16 threads over 10 units for `secs`: reports per second.
fn filings(log: &Arc<dyn ReportLog>, secs: u64) -> f64 {
    let start = Instant::now();
    let threads: Vec<_> = (0..16)
        .map(|t| {
            let log = log.clone();
            std::thread::spawn(move || {
                let mut n = 0u64;
                while start.elapsed() < Duration::from_secs(secs) {
                    log.file(new_report(&format!("unit-{}", t % 10), n))
                        .unwrap();
                    n += 1;
                }
                n
            })
        })
        .collect();
    let n: u64 = threads.into_iter().map(|t| t.join().unwrap()).sum();
    n as f64 / start.elapsed().as_secs_f64()
}

/// Microseconds per audit append, one caller.
fn audit_cost(log: &Arc<dyn ReportLog>, n: u32) -> f64 {
    let start = Instant::now();
    for i in 0..n {
        log.audit(
            "investigator:unit-0",
            "reports.list",
            serde_json::json!({"unit": "unit-0", "cursor": i, "next_cursor": i + 100}),
        )
        .unwrap();
    }
    start.elapsed().as_secs_f64() * 1e6 / f64::from(n)
}

/// Pages through `unit` 1,000 at a time: (pages, total seconds, ms per page over the first and
/// over the last 100 pages).
fn paging(log: &Arc<dyn ReportLog>, unit: &str) -> (usize, f64, f64, f64) {
    let (mut cursor, mut times) = (0u64, Vec::new());
    let start = Instant::now();
    loop {
        let t = Instant::now();
        let page = log.list(unit, cursor, 1000, 2 << 20).unwrap();
        times.push(t.elapsed().as_secs_f64() * 1e3);
        let Some(last) = page.last() else { break };
        cursor = last.cursor;
    }
    times.pop();
    let avg = |s: &[f64]| s.iter().sum::<f64>() / s.len().max(1) as f64;
    let k = times.len().min(100);
    (
        times.len(),
        start.elapsed().as_secs_f64(),
        avg(&times[..k]),
        avg(&times[times.len() - k..]),
    )
}

/// Bulk copy into the backend under test.
type Import = Box<dyn Fn(&[Report])>;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let backend = args.get(1).map(String::as_str).unwrap_or("rocksdb");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (log, import): (Arc<dyn ReportLog>, Import) = match backend {
        "postgres" => {
            let opts = PostgresOptions {
                url: std::env::var("HASHGUARD_POSTGRES_URL").expect("HASHGUARD_POSTGRES_URL"),
                ca_file: None,
                pool_size: 16,
            };
            let pg = Arc::new(rt.block_on(PostgresLog::connect(&opts)).unwrap());
            let p = pg.clone();
            (pg, Box::new(move |r| assert!(p.import(r).is_ok())))
        }
        _ => {
            let dir = args.get(2).expect("bench_reports rocksdb DIR");
            let store = Arc::new(hashguard::store::Store::open(std::path::Path::new(dir)).unwrap());
            let rocks = Arc::new(RocksLog::new(store));
            let r = rocks.clone();
            (rocks, Box::new(move |x| assert!(r.import(x).is_ok())))
        }
    };
    let total: u64 = args
        .get(if backend == "postgres" { 2 } else { 3 })
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000_000);
    let per_s = filings(&log, 10);
    println!("{{\"backend\":\"{backend}\",\"filings_per_s\":{per_s:.0},\"threads\":16}}");
    let us = audit_cost(&log, 2000);
    println!("{{\"backend\":\"{backend}\",\"audit_append_us\":{us:.0}}}");
    // A unit of `total` reports, copied in bulk (as `reports migrate` does).
    let t = Instant::now();
    let mut batch = Vec::with_capacity(1000);
    for c in 1..=total {
        let mut r = Report::new(
            new_report("big", c),
            format!("big-{c:016x}"),
            c,
            1_700_000_000,
        );
        r.acked = false;
        batch.push(r);
        if batch.len() == 1000 {
            import(&batch);
            batch.clear();
        }
    }
    if !batch.is_empty() {
        import(&batch);
    }
    let loaded = t.elapsed().as_secs_f64();
    let (pages, secs, first, last) = paging(&log, "big");
    println!(
        "{{\"backend\":\"{backend}\",\"reports\":{total},\"load_s\":{loaded:.1},\"pages\":{pages},\
         \"paging_s\":{secs:.2},\"first_100_pages_ms\":{first:.2},\"last_100_pages_ms\":{last:.2}}}"
    );
}
