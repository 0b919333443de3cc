//! The report log in PostgreSQL, shared by several `serve` replicas.
//!
//! - Each unit's cursor is a counter row (`hashguard_report_units`), raised in the same
//!   transaction that inserts the report. Its row lock makes a unit's filings commit one after
//!   the other, so cursors have no gaps and come in commit order, whichever replica filed them.
//! - A filing notifies the `hashguard_reports` channel when it commits. Every replica listens
//!   and wakes its followers, which then read after their cursors.
//! - A report is committed (`synchronous_commit`, PostgreSQL's default) before `file` returns.
//! - hashguard creates the schema itself and migrates it by version under an advisory lock, so
//!   that replicas starting together migrate once.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio::sync::{broadcast, mpsc};
use tokio_postgres::AsyncMessage;
use tokio_postgres_rustls::MakeRustlsConnect;

use super::{
    AuditRecord, Error, Filed, NewReport, Purged, Report, ReportLog, decode, new_id, next_audit,
    now,
};

/// The channel filings notify.
const CHANNEL: &str = "hashguard_reports";
/// The advisory lock migrations hold (any fixed number; "hg" in ASCII).
const MIGRATION_LOCK: i64 = 0x6867_0001;
/// The advisory lock that orders audit appends across replicas.
const AUDIT_LOCK: i64 = 0x6867_0002;
/// Each schema version's statements, in order: version N is `MIGRATIONS[N - 1]`.
const MIGRATIONS: &[&str] = &[
    "
    CREATE TABLE hashguard_report_units (
        unit text PRIMARY KEY,
        last_cursor bigint NOT NULL
    );
    CREATE TABLE hashguard_reports (
        unit text NOT NULL,
        cursor bigint NOT NULL,
        id text NOT NULL UNIQUE,
        created_at bigint NOT NULL,
        body text NOT NULL,
        acked boolean NOT NULL DEFAULT false,
        PRIMARY KEY (unit, cursor)
    );
    CREATE TABLE hashguard_probe (
        id integer PRIMARY KEY,
        at bigint NOT NULL
    );
",
    "
    CREATE TABLE hashguard_audit (
        seq bigint PRIMARY KEY,
        prev text NOT NULL,
        hash text NOT NULL,
        entry text NOT NULL
    );
",
    "
    CREATE INDEX hashguard_reports_by_age ON hashguard_reports (unit, created_at);
",
    "
    CREATE TABLE hashguard_quota (
        key text PRIMARY KEY,
        tokens float8 NOT NULL,
        updated_at float8 NOT NULL
    );
",
];

/// How to reach the database.
#[derive(Debug, Clone)]
pub struct PostgresOptions {
    /// A libpq-style URL or key=value string (`postgres://user:password@host:port/db`), with
    /// `sslmode` for TLS.
    pub url: String,
    /// CA certificates (PEM) that the database's certificate must chain to; the system's
    /// bundle when absent.
    pub ca_file: Option<PathBuf>,
    /// Connections in the pool.
    pub pool_size: usize,
}

/// The report log in PostgreSQL.
pub struct PostgresLog {
    pool: Pool,
    config: tokio_postgres::Config,
    tls: MakeRustlsConnect,
    /// The runtime whose workers drive the connections; blocking calls wait on it.
    handle: tokio::runtime::Handle,
}

/// A database error with its causes (tokio-postgres says only "db error" at the top; the
/// server's message is in the source).
fn db(e: impl std::error::Error) -> Error {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    Error::Database(text)
}

/// The rustls client configuration: the CA file's certificates, else the system's bundle.
fn tls(ca_file: Option<&std::path::Path>) -> Result<MakeRustlsConnect, Error> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let path = ca_file.map_or_else(
        || PathBuf::from("/etc/ssl/certs/ca-certificates.crt"),
        std::path::Path::to_path_buf,
    );
    let mut roots = rustls::RootCertStore::empty();
    match CertificateDer::pem_file_iter(&path) {
        Ok(certs) => {
            for c in certs {
                let c = c.map_err(|e| Error::Config(format!("{}: {e}", path.display())))?;
                // A system bundle may hold a certificate rustls cannot use; skip it there.
                if let Err(e) = roots.add(c)
                    && ca_file.is_some()
                {
                    return Err(Error::Config(format!("{}: {e}", path.display())));
                }
            }
        }
        Err(e) if ca_file.is_some() => {
            return Err(Error::Config(format!("ca_file {}: {e}", path.display())));
        }
        // No system bundle: TLS to the database then fails with a clear error.
        Err(_) => {}
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Config(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}

impl PostgresLog {
    /// Connects a pool, and creates or migrates the schema. Call it on the runtime whose
    /// workers will drive the connections.
    pub async fn connect(opts: &PostgresOptions) -> Result<Self, Error> {
        let mut config: tokio_postgres::Config = opts
            .url
            .parse()
            .map_err(|e| Error::Config(format!("the database URL does not parse: {e}")))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
        }
        if config.get_application_name().is_none() {
            config.application_name("hashguard");
        }
        if config.get_options().is_none() {
            // A stuck statement fails the call instead of holding a pooled connection.
            config.options("-c statement_timeout=15000");
        }
        let tls = tls(opts.ca_file.as_deref())?;
        let manager = Manager::from_config(
            config.clone(),
            tls.clone(),
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(opts.pool_size.max(1))
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(Duration::from_secs(15)))
            .create_timeout(Some(Duration::from_secs(15)))
            .build()
            .map_err(|e| Error::Config(e.to_string()))?;
        let log = PostgresLog {
            pool,
            config,
            tls,
            handle: tokio::runtime::Handle::current(),
        };
        log.migrate().await?;
        Ok(log)
    }

    /// Brings the schema to the newest version this build knows, once across replicas.
    async fn migrate(&self) -> Result<(), Error> {
        let mut c = self.pool.get().await.map_err(db)?;
        let tx = c.transaction().await.map_err(db)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .await
            .map_err(db)?;
        tx.batch_execute("CREATE TABLE IF NOT EXISTS hashguard_schema (version integer NOT NULL)")
            .await
            .map_err(db)?;
        let at: i32 = match tx
            .query_opt("SELECT version FROM hashguard_schema", &[])
            .await
            .map_err(db)?
        {
            Some(row) => row.get(0),
            None => {
                tx.execute("INSERT INTO hashguard_schema (version) VALUES (0)", &[])
                    .await
                    .map_err(db)?;
                0
            }
        };
        let known = MIGRATIONS.len();
        let at = usize::try_from(at).unwrap_or(usize::MAX);
        if at > known {
            return Err(Error::Config(format!(
                "the report database's schema is at version {at}, newer than this hashguard \
                 knows ({known}): upgrade hashguard"
            )));
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(at) {
            tx.batch_execute(sql).await.map_err(db)?;
            tracing::info!(version = i + 1, "report database schema migrated");
        }
        let version = i32::try_from(known).unwrap_or(i32::MAX);
        tx.execute("UPDATE hashguard_schema SET version = $1", &[&version])
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)
    }

    /// Copies reports filed elsewhere (a RocksDB report log) in, keeping their ids, cursors
    /// and acknowledgements, and raises each unit's counter past them, in one transaction per
    /// call. A report already here under the same id is skipped, so a migration that stopped
    /// can run again. Returns how many were copied and how many were here already; a
    /// different report at one of the cursors is an error, and nothing of the call is kept.
    pub fn import(&self, reports: &[Report]) -> Result<(u64, u64), Error> {
        // One statement for the whole call: the reports go in as arrays, and the rows that
        // were not inserted come back with the id already at their cursor.
        let (mut units, mut cursors, mut ids, mut created, mut bodies, mut acked) =
            (vec![], vec![], vec![], vec![], vec![], vec![]);
        for r in reports {
            let mut stored = r.clone();
            stored.acked = false;
            bodies.push(serde_json::to_string(&stored).map_err(|e| Error::Corrupt(e.to_string()))?);
            units.push(r.unit.clone());
            cursors.push(i64::try_from(r.cursor).unwrap_or(i64::MAX));
            ids.push(r.id.clone());
            created.push(i64::try_from(r.created_at).unwrap_or(i64::MAX));
            acked.push(r.acked);
        }
        self.run(async {
            let mut c = self.pool.get().await.map_err(db)?;
            let tx = c.transaction().await.map_err(db)?;
            let skipped = tx
                .query(
                    "WITH incoming AS (
                       SELECT * FROM unnest($1::text[], $2::int8[], $3::text[], $4::int8[],
                                            $5::text[], $6::bool[])
                         AS t(unit, cursor, id, created_at, body, acked)
                     ), ins AS (
                       INSERT INTO hashguard_reports (unit, cursor, id, created_at, body, acked)
                       SELECT * FROM incoming ON CONFLICT DO NOTHING RETURNING unit, cursor
                     )
                     SELECT i.unit, i.cursor, i.id, r.id
                     FROM incoming i
                     LEFT JOIN ins ON ins.unit = i.unit AND ins.cursor = i.cursor
                     LEFT JOIN hashguard_reports r ON r.unit = i.unit AND r.cursor = i.cursor
                     WHERE ins.cursor IS NULL",
                    &[&units, &cursors, &ids, &created, &bodies, &acked],
                )
                .await
                .map_err(db)?;
            for row in &skipped {
                let (unit, cursor, id, here): (String, i64, String, Option<String>) =
                    (row.get(0), row.get(1), row.get(2), row.get(3));
                if here.as_deref() != Some(id.as_str()) {
                    return Err(Error::Config(format!(
                        "unit {unit:?} cursor {cursor} holds another report in the database than \
                         in the store: the two logs diverged, nothing of this batch was copied"
                    )));
                }
            }
            tx.execute(
                "INSERT INTO hashguard_report_units (unit, last_cursor)
                 SELECT unit, max(cursor) FROM unnest($1::text[], $2::int8[]) AS t(unit, cursor)
                 GROUP BY unit
                 ON CONFLICT (unit) DO UPDATE
                 SET last_cursor = GREATEST(hashguard_report_units.last_cursor,
                                            EXCLUDED.last_cursor)",
                &[&units, &cursors],
            )
            .await
            .map_err(db)?;
            tx.commit().await.map_err(db)?;
            let present = skipped.len() as u64;
            Ok((reports.len() as u64 - present, present))
        })
    }

    /// Takes up to `want` tokens from the shared bucket `key` (refilled at `rate` a second up
    /// to `burst`, by the database's clock, so replicas' clocks do not matter); returns how
    /// many it got.
    pub async fn lease(&self, key: &str, rate: f64, burst: f64, want: f64) -> Result<f64, Error> {
        let mut c = self.pool.get().await.map_err(db)?;
        let tx = c.transaction().await.map_err(db)?;
        tx.execute(
            "INSERT INTO hashguard_quota (key, tokens, updated_at)
             VALUES ($1, $2, extract(epoch from clock_timestamp())::float8)
             ON CONFLICT (key) DO NOTHING",
            &[&key, &burst],
        )
        .await
        .map_err(db)?;
        let row = tx
            .query_one(
                "UPDATE hashguard_quota SET
                   tokens = LEAST($2, tokens
                     + (extract(epoch from clock_timestamp())::float8 - updated_at) * $3),
                   updated_at = extract(epoch from clock_timestamp())::float8
                 WHERE key = $1 RETURNING tokens",
                &[&key, &burst, &rate],
            )
            .await
            .map_err(db)?;
        let available: f64 = row.get(0);
        let granted = available.min(want).max(0.0);
        if granted > 0.0 {
            tx.execute(
                "UPDATE hashguard_quota SET tokens = tokens - $2 WHERE key = $1",
                &[&key, &granted],
            )
            .await
            .map_err(db)?;
        }
        tx.commit().await.map_err(db)?;
        Ok(granted)
    }

    /// Runs `fut` on the log's runtime from a blocking thread.
    fn run<T>(&self, fut: impl Future<Output = Result<T, Error>>) -> Result<T, Error> {
        self.handle.block_on(fut)
    }

    /// Wakes `followers` on every filing that any replica commits, for as long as the server
    /// runs. After a lost connection it reconnects (1 s, doubling to 30 s) and sends
    /// `Filed { unit: None }`, since notifications sent meanwhile are lost.
    pub async fn listen(&self, followers: broadcast::Sender<Filed>) {
        let mut backoff = Duration::from_secs(1);
        loop {
            match self.config.connect(self.tls.clone()).await {
                Ok((client, mut conn)) => {
                    let (tx, mut rx) = mpsc::unbounded_channel();
                    // The connection yields the notifications; it is polled by hand because
                    // tokio-postgres hands them out only through poll_message.
                    let driver = tokio::spawn(async move {
                        loop {
                            match std::future::poll_fn(|cx| conn.poll_message(cx)).await {
                                Some(Ok(AsyncMessage::Notification(n))) => {
                                    if tx.send(n.payload().to_string()).is_err() {
                                        return;
                                    }
                                }
                                Some(Ok(_)) => {}
                                Some(Err(e)) => {
                                    tracing::warn!("report notifications: {e}");
                                    return;
                                }
                                None => return,
                            }
                        }
                    });
                    match client.batch_execute(&format!("LISTEN {CHANNEL}")).await {
                        Ok(()) => {
                            backoff = Duration::from_secs(1);
                            let _ = followers.send(Filed {
                                unit: None,
                                cursor: 0,
                            });
                            while let Some(payload) = rx.recv().await {
                                // `cursor:unit`: the unit may hold a colon, the cursor not.
                                if let Some((c, unit)) = payload.split_once(':')
                                    && let Ok(cursor) = c.parse()
                                {
                                    let _ = followers.send(Filed {
                                        unit: Some(unit.to_string()),
                                        cursor,
                                    });
                                }
                            }
                        }
                        Err(e) => tracing::warn!("report notifications: LISTEN: {e}"),
                    }
                    driver.abort();
                    drop(client);
                }
                Err(e) => tracing::warn!("report notifications: cannot connect: {e}"),
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(30));
        }
    }
}

impl ReportLog for PostgresLog {
    fn units(&self) -> Result<Vec<String>, Error> {
        self.run(async {
            let c = self.pool.get().await.map_err(db)?;
            let rows = c
                .query("SELECT unit FROM hashguard_report_units ORDER BY unit", &[])
                .await
                .map_err(db)?;
            Ok(rows.into_iter().map(|r| r.get(0)).collect())
        })
    }

    fn purge(&self, unit: &str, before: u64) -> Result<Purged, Error> {
        self.run(async {
            let c = self.pool.get().await.map_err(db)?;
            let before = i64::try_from(before).unwrap_or(i64::MAX);
            let rows = c
                .query(
                    "DELETE FROM hashguard_reports WHERE unit = $1 AND created_at < $2
                     RETURNING cursor",
                    &[&unit, &before],
                )
                .await
                .map_err(db)?;
            let mut purged = Purged::default();
            for r in rows {
                purged.add(r.get::<_, i64>(0) as u64);
            }
            Ok(purged)
        })
    }

    fn audit(
        &self,
        actor: &str,
        action: &str,
        detail: serde_json::Value,
    ) -> Result<AuditRecord, Error> {
        self.run(async {
            let mut c = self.pool.get().await.map_err(db)?;
            let tx = c.transaction().await.map_err(db)?;
            // One append at a time across replicas: each links to the one before.
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&AUDIT_LOCK])
                .await
                .map_err(db)?;
            let head = tx
                .query_opt(
                    "SELECT seq, hash FROM hashguard_audit ORDER BY seq DESC LIMIT 1",
                    &[],
                )
                .await
                .map_err(db)?
                .map(|row| (row.get::<_, i64>(0) as u64, row.get::<_, String>(1)));
            let record = next_audit(head, actor, action, detail)?;
            let seq = i64::try_from(record.seq).unwrap_or(i64::MAX);
            tx.execute(
                "INSERT INTO hashguard_audit (seq, prev, hash, entry) VALUES ($1, $2, $3, $4)",
                &[&seq, &record.prev, &record.hash, &record.entry],
            )
            .await
            .map_err(db)?;
            tx.commit().await.map_err(db)?;
            Ok(record)
        })
    }

    fn audit_page(&self, after: u64, limit: usize) -> Result<Vec<AuditRecord>, Error> {
        self.run(async {
            let c = self.pool.get().await.map_err(db)?;
            let after = i64::try_from(after).unwrap_or(i64::MAX);
            let limit = i64::try_from(limit).unwrap_or(i64::MAX);
            let rows = c
                .query(
                    "SELECT seq, prev, hash, entry FROM hashguard_audit
                     WHERE seq > $1 ORDER BY seq LIMIT $2",
                    &[&after, &limit],
                )
                .await
                .map_err(db)?;
            Ok(rows
                .into_iter()
                .map(|r| AuditRecord {
                    seq: r.get::<_, i64>(0) as u64,
                    prev: r.get(1),
                    hash: r.get(2),
                    entry: r.get(3),
                })
                .collect())
        })
    }

    fn file(&self, new: NewReport) -> Result<Report, Error> {
        self.run(async {
            let mut c = self.pool.get().await.map_err(db)?;
            let tx = c.transaction().await.map_err(db)?;
            let row = tx
                .query_one(
                    "INSERT INTO hashguard_report_units (unit, last_cursor) VALUES ($1, 1)
                     ON CONFLICT (unit) DO UPDATE
                     SET last_cursor = hashguard_report_units.last_cursor + 1
                     RETURNING last_cursor",
                    &[&new.unit],
                )
                .await
                .map_err(db)?;
            let cursor: i64 = row.get(0);
            let report = Report::new(new, new_id(), cursor as u64, now());
            let body = serde_json::to_string(&report).map_err(|e| Error::Corrupt(e.to_string()))?;
            let created = i64::try_from(report.created_at).unwrap_or(i64::MAX);
            tx.execute(
                "INSERT INTO hashguard_reports (unit, cursor, id, created_at, body)
                 VALUES ($1, $2, $3, $4, $5)",
                &[&report.unit, &cursor, &report.id, &created, &body],
            )
            .await
            .map_err(db)?;
            // Delivered when the transaction commits, and only then.
            tx.execute(
                "SELECT pg_notify($1, $2)",
                &[&CHANNEL, &format!("{cursor}:{}", report.unit)],
            )
            .await
            .map_err(db)?;
            tx.commit().await.map_err(db)?;
            Ok(report)
        })
    }

    fn list(
        &self,
        unit: &str,
        cursor: u64,
        limit: usize,
        max_bytes: usize,
    ) -> Result<Vec<Report>, Error> {
        self.run(async {
            let c = self.pool.get().await.map_err(db)?;
            let after = i64::try_from(cursor).unwrap_or(i64::MAX);
            let limit = i64::try_from(limit).unwrap_or(i64::MAX);
            // The primary key (unit, cursor) makes this a range scan of the page.
            let rows = c
                .query(
                    "SELECT body, acked FROM hashguard_reports
                     WHERE unit = $1 AND cursor > $2 ORDER BY cursor LIMIT $3",
                    &[&unit, &after, &limit],
                )
                .await
                .map_err(db)?;
            let mut out = Vec::with_capacity(rows.len());
            let mut budget = super::PageBudget::new(max_bytes);
            for row in rows {
                let body: &str = row.get(0);
                if !budget.admits(body.len(), out.len()) {
                    break;
                }
                let mut r = decode(body.as_bytes())?;
                r.acked = row.get(1);
                out.push(r);
            }
            Ok(out)
        })
    }

    fn ack(&self, unit: &str, ids: &[String]) -> Result<u32, Error> {
        self.run(async {
            let c = self.pool.get().await.map_err(db)?;
            let n = c
                .execute(
                    "UPDATE hashguard_reports SET acked = true
                     WHERE unit = $1 AND id = ANY($2) AND NOT acked",
                    &[&unit, &ids],
                )
                .await
                .map_err(db)?;
            Ok(u32::try_from(n).unwrap_or(u32::MAX))
        })
    }

    fn probe(&self) -> Result<(), Error> {
        self.run(async {
            let c = self.pool.get().await.map_err(db)?;
            let at = i64::try_from(now()).unwrap_or(i64::MAX);
            c.execute(
                "INSERT INTO hashguard_probe (id, at) VALUES (1, $1)
                 ON CONFLICT (id) DO UPDATE SET at = EXCLUDED.at",
                &[&at],
            )
            .await
            .map_err(db)?;
            Ok(())
        })
    }
}
