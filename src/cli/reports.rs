//! `hashguard reports list|follow|export`: an investigator's client of a running server's
//! Reports service. It prints one line per report with every field the contract
//! carries; the token is sent only in the `authorization` header and never printed.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use clap::{Args, Subcommand, ValueEnum};
use serde::Serialize;

use hashguard::proto;
use hashguard::server::client::{CallError, ClientError, Connection, ReadError, ReportsReader};

use super::exit::{Code, Failure};

const AFTER_HELP: &str = "Examples:
  export HASHGUARD_TOKEN=…           an investigator token (the environment keeps it out of `ps`)
  hashguard reports list --limit 20                  the first 20 reports of the unit
  hashguard reports list --cursor 20 --limit 20      the next 20
  hashguard reports follow                           every report, then new ones until Ctrl-C
  hashguard reports follow --from 1200 >> reports.jsonl
  hashguard reports export --format csv --out unit-reports.csv
  hashguard reports follow --server https://hashguard.example:50051 --ca unit-ca.pem

Each report is one JSON object a line (or a CSV row under a header, its matches as a JSON array
in the `matches` column): id, cursor, created_at (Unix seconds), tenant, tenant_reference,
unit, sha256, md5, sha1, matches (list, list_version, entry_id, entry_hash, distance, kind,
dihedral, category, frame_ts, and for listed videos video: {match, query_share, listed_share,
ranges}), acked. Absent values are null (empty in CSV). A report's cursor
is its place in the unit's stream: pass the last one seen to --cursor or --from to go on after
it. `follow` reconnects by itself with backoff from the last report it printed, so nothing is
missed or repeated.

Exit status: 0 done, 64 bad usage, 69 the server cannot be reached, 70 the server failed the
call, 74 the output cannot be written, 77 the token was refused, 78 no token.";

/// `hashguard reports` subcommands.
#[derive(Subcommand, Debug)]
#[command(after_help = AFTER_HELP)]
pub enum ReportsCommand {
    /// Print one page of the unit's reports after a cursor, oldest first.
    #[command(after_help = AFTER_HELP)]
    List {
        #[command(flatten)]
        conn: Conn,
        /// Start after this cursor (0: from the first report).
        #[arg(long, default_value_t = 0, value_name = "N")]
        cursor: u64,
        /// At most this many reports.
        #[arg(long, default_value_t = 100, value_name = "N",
              value_parser = clap::value_parser!(u32).range(1..=1000))]
        limit: u32,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Jsonl)]
        format: Format,
    },
    /// Print the unit's reports after a cursor, then each new one as it is filed, until Ctrl-C.
    #[command(after_help = AFTER_HELP)]
    Follow {
        #[command(flatten)]
        conn: Conn,
        /// Start after this cursor (0: replay every report first).
        #[arg(long, default_value_t = 0, value_name = "N")]
        from: u64,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Jsonl)]
        format: Format,
    },
    /// Copy the reports of a RocksDB data directory into the PostgreSQL report log (admins):
    /// ids, cursors and acknowledgements kept, so followers go on from their cursors.
    #[command(after_help = MIGRATE_HELP)]
    Migrate {
        /// The configuration with [reports] backend = "postgres" (the URL from its url_env).
        #[arg(long, env = "HASHGUARD_CONFIG", value_name = "FILE")]
        config: PathBuf,
    },
    /// Write every report of the unit after a cursor, to stdout or a file.
    #[command(after_help = AFTER_HELP)]
    Export {
        #[command(flatten)]
        conn: Conn,
        /// Output format.
        #[arg(long, value_enum)]
        format: Format,
        /// Start after this cursor (0: every report).
        #[arg(long, default_value_t = 0, value_name = "N")]
        from: u64,
        /// Write here (complete or not at all) instead of stdout.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
}

const MIGRATE_HELP: &str = "Examples:
  systemctl stop hashguard
  HASHGUARD_POSTGRES_URL=postgres://… hashguard --data /var/lib/hashguard reports migrate \\
      --config /etc/hashguard/serve-postgres.toml
  then start the replicas with [reports] backend = \"postgres\"

Stop the server first: reports it files during the copy would stay behind. A migration that
stopped can run again; reports already copied are skipped. A unit whose cursors hold other
reports in the database than in the store (the two logs diverged) stops the migration with
nothing of that batch copied (exit 65).
The store's audit log stays in the data directory (hashguard audit verify reads it there); the
migration's own entry in the database's audit log records its head hash, linking the two.";

/// Copies every report of the store in `data` into PostgreSQL.
fn migrate(config: &std::path::Path, data: &std::path::Path) -> Result<(), Failure> {
    use hashguard::report_log::{Error, PostgresLog, ReportLog, RocksLog, audit};
    let conf = hashguard::config::Config::load(Some(config), std::env::vars())?;
    let opts = conf
        .reports
        .postgres()
        .map_err(|p| Failure::config(p.to_string()))?
        .ok_or_else(|| {
            Failure::config(format!(
                "{}: [reports] backend is not \"postgres\": nothing to migrate to",
                config.display()
            ))
        })?;
    let failed = |e: Error| {
        let code = match &e {
            Error::Config(_) | Error::Corrupt(_) => Code::DATA_ERR,
            Error::Database(_) => Code::UNAVAILABLE,
            Error::Store(_) => Code::IO,
        };
        Failure::new(code, e.to_string())
    };
    let store = std::sync::Arc::new(hashguard::store::Store::open_read_only(data)?);
    let rocks = RocksLog::new(store);
    let runtime = tokio::runtime::Runtime::new()
        .map_err(|e| Failure::new(Code::SOFTWARE, format!("cannot start a runtime: {e}")))?;
    let pg = runtime
        .block_on(PostgresLog::connect(&opts))
        .map_err(failed)?;
    let chain = audit::verify(&rocks)
        .map_err(failed)?
        .map_err(|b| Failure::new(Code::DATA_ERR, format!("the store's {b}")))?;
    let (mut copied, mut present) = (0u64, 0u64);
    let mut units = std::collections::BTreeSet::new();
    rocks
        .for_each_page(1000, |page| {
            units.extend(page.iter().map(|r| r.unit.clone()));
            let (c, p) = pg.import(&page)?;
            copied += c;
            present += p;
            eprint!(
                "\rhashguard: {} reports copied, {} already there",
                copied, present
            );
            Ok(())
        })
        .map_err(failed)?;
    eprintln!();
    pg.audit(
        &format!("cli:{}", std::env::var("USER").unwrap_or_default()),
        "reports.migrate",
        serde_json::json!({
            "from": data.display().to_string(),
            "units": units,
            "copied": copied,
            "present": present,
            "store_audit_records": chain.records,
            "store_audit_head": chain.head,
        }),
    )
    .map_err(failed)?;
    println!(
        "migrated {} units: {copied} reports copied, {present} already there; the store's \
         audit log ({} records) ends at {}",
        units.len(),
        chain.records,
        chain.head
    );
    Ok(())
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// One JSON object a line.
    Jsonl,
    /// CSV with a header.
    Csv,
}

/// A token that never shows in debug output.
#[derive(Clone)]
pub struct Secret(String);

impl FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Secret(s.to_string()))
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<token>")
    }
}

/// How to reach the server (shared by `reports` and `submit`).
#[derive(Args, Debug)]
pub(super) struct Conn {
    /// Server URL: http:// on loopback only, else https:// with --ca.
    #[arg(
        long,
        env = "HASHGUARD_SERVER",
        default_value = "http://127.0.0.1:50051",
        value_name = "URL"
    )]
    server: String,
    /// Token: an investigator's for `reports`, an operator's for `submit` (prefer the
    /// environment variable: arguments show in `ps`).
    #[arg(
        long,
        env = "HASHGUARD_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    token: Option<Secret>,
    /// CA certificate (PEM) that signed an https:// server's certificate.
    #[arg(long, value_name = "FILE")]
    ca: Option<PathBuf>,
}

/// Writing the output failed (or its reader went away, which ends the command quietly).
pub(super) fn cannot_write(e: std::io::Error) -> Failure {
    Failure::output(format!("cannot write the output: {e}"), &e)
}

/// The checked connection of `conn`: a token, an http:// server on loopback only, an https://
/// one with the CA that signed its certificate.
pub(super) fn connection(conn: &Conn, role: &str) -> Result<Connection, Failure> {
    // An empty variable (`HASHGUARD_TOKEN=`) is no token either.
    let Some(token) = conn.token.as_ref().filter(|t| !t.0.trim().is_empty()) else {
        return Err(Failure::config(format!(
            "no token: set HASHGUARD_TOKEN (or pass --token) to an {role} token"
        )));
    };
    Connection::new(&conn.server, &token.0, conn.ca.as_deref()).map_err(|e| match e {
        ClientError::BadUrl { .. } => Failure::usage(format!("--server: {e}")),
        ClientError::NeedsCa => Failure::usage(
            "an https:// server needs --ca FILE (the CA that signed its certificate)",
        ),
        ClientError::CaWithoutTls => Failure::usage("--ca needs an https:// server"),
        ClientError::Ca { .. } => Failure::usage(format!("--ca: {e}")),
        e => Failure::usage(e.to_string()),
    })
}

/// A reader of the server's reports.
fn reader(conn: &Conn) -> Result<ReportsReader, Failure> {
    ReportsReader::new(connection(conn, "investigator")?)
        .map_err(|e| Failure::io(format!("cannot start the client: {e}")))
}

/// A failed call, by what the user can do about it.
pub(super) fn call_failed(e: CallError) -> Failure {
    let code = match &e {
        CallError::Client(ClientError::Unreachable { .. }) | CallError::Lost(_) => {
            Code::UNAVAILABLE
        }
        CallError::Client(_) => Code::USAGE,
        CallError::Unauthenticated(_) | CallError::PermissionDenied(_) => Code::NO_PERM,
        CallError::Failed { .. } => Code::SOFTWARE,
    };
    Failure::new(code, e.to_string())
}

/// A failed read: the call, or the output.
fn read_failed(e: ReadError) -> Failure {
    match e {
        ReadError::Call(e) => call_failed(e),
        ReadError::Output(e) => cannot_write(e),
    }
}

/// A report as printed: every field of the contract's, absent values as null.
#[derive(Serialize)]
struct ReportOut<'a> {
    id: &'a str,
    cursor: u64,
    created_at: u64,
    tenant: &'a str,
    tenant_reference: &'a str,
    unit: &'a str,
    sha256: Option<&'a str>,
    md5: Option<&'a str>,
    sha1: Option<&'a str>,
    matches: Vec<MatchOut<'a>>,
    acked: bool,
    partial: Option<&'a str>,
    reduced_from: Option<&'a [u32]>,
}

/// One match of a report as printed.
#[derive(Serialize)]
struct MatchOut<'a> {
    list: &'a str,
    list_version: u32,
    entry_id: &'a str,
    entry_hash: &'a str,
    distance: u32,
    kind: &'static str,
    dihedral: Option<&'a str>,
    category: Option<&'a str>,
    frame_ts: Option<f64>,
    /// Listed videos: "match" or "excerpt", both shares and the ranges.
    #[serde(skip_serializing_if = "Option::is_none")]
    video: Option<VideoOut<'a>>,
}

/// How a query video matched a listed video, as printed.
#[derive(Serialize)]
struct VideoOut<'a> {
    #[serde(rename = "match")]
    kind: &'a str,
    query_share: f64,
    listed_share: f64,
    ranges: Vec<RangeOut>,
}

/// A matched range: `[start, end]` seconds in the query and in the listed video.
#[derive(Serialize)]
struct RangeOut {
    query: [f64; 2],
    listed: [f64; 2],
}

fn video_out(m: &proto::ReportMatch) -> Option<VideoOut<'_>> {
    let span = |s: &Option<proto::TimeSpan>| s.as_ref().map_or([0.0; 2], |s| [s.start, s.end]);
    some(&m.video_match).map(|kind| VideoOut {
        kind,
        query_share: m.query_share,
        listed_share: m.listed_share,
        ranges: m
            .ranges
            .iter()
            .map(|r| RangeOut {
                query: span(&r.query),
                listed: span(&r.listed),
            })
            .collect(),
    })
}

fn some(s: &str) -> Option<&str> {
    (!s.is_empty()).then_some(s)
}

fn kind_name(k: i32) -> &'static str {
    hashguard::server::convert::kind_of(k).map_or("unspecified", |k| k.name())
}

fn report_out(r: &proto::Report) -> ReportOut<'_> {
    ReportOut {
        id: &r.id,
        cursor: r.cursor,
        created_at: r.created_at,
        tenant: &r.tenant,
        tenant_reference: &r.tenant_reference,
        unit: &r.unit,
        sha256: some(&r.sha256),
        md5: some(&r.md5),
        sha1: some(&r.sha1),
        matches: r
            .matches
            .iter()
            .map(|m| MatchOut {
                list: &m.list,
                list_version: m.list_version,
                entry_id: &m.entry_id,
                entry_hash: &m.entry_hash,
                distance: m.distance,
                kind: kind_name(m.kind),
                dihedral: some(&m.dihedral),
                category: some(&m.category),
                // The contract marks "not a video" with a negative time.
                frame_ts: (m.frame_ts >= 0.0).then_some(m.frame_ts),
                video: video_out(m),
            })
            .collect(),
        acked: r.acked,
        partial: some(&r.partial),
        reduced_from: (!r.reduced_from.is_empty()).then_some(r.reduced_from.as_slice()),
    }
}

/// CSV columns, in the order of the JSON fields.
const CSV_HEADER: [&str; 13] = [
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
    "reduced_from",
];

/// The I/O error inside a CSV error (so a closed pipe is still recognised), else the error.
fn csv_io(e: csv::Error) -> std::io::Error {
    match e.into_kind() {
        csv::ErrorKind::Io(e) => e,
        other => std::io::Error::other(format!("{other:?}")),
    }
}

/// Where reports are written, in the chosen format.
enum Sink {
    Jsonl(Box<dyn Write>),
    Csv(Box<csv::Writer<Box<dyn Write>>>),
}

impl Sink {
    fn new(format: Format, w: Box<dyn Write>) -> Result<Self, std::io::Error> {
        Ok(match format {
            Format::Jsonl => Sink::Jsonl(w),
            Format::Csv => {
                let mut c = Box::new(csv::Writer::from_writer(w));
                c.write_record(CSV_HEADER).map_err(csv_io)?;
                Sink::Csv(c)
            }
        })
    }

    fn write(&mut self, r: &proto::Report) -> Result<(), std::io::Error> {
        let out = report_out(r);
        match self {
            Sink::Jsonl(w) => {
                serde_json::to_writer(&mut *w, &out)?;
                w.write_all(b"\n")
            }
            Sink::Csv(c) => {
                let matches = serde_json::to_string(&out.matches)?;
                let (cursor, created_at) = (out.cursor.to_string(), out.created_at.to_string());
                let reduced = out
                    .reduced_from
                    .map(|d| format!("{}x{}", d[0], d[1]))
                    .unwrap_or_default();
                let row = [
                    out.id,
                    &cursor,
                    &created_at,
                    out.tenant,
                    out.tenant_reference,
                    out.unit,
                    out.sha256.unwrap_or(""),
                    out.md5.unwrap_or(""),
                    out.sha1.unwrap_or(""),
                    &matches,
                    if out.acked { "true" } else { "false" },
                    out.partial.unwrap_or(""),
                    &reduced,
                ];
                // Tenants' references are free text: never a formula in a spreadsheet.
                c.write_record(
                    row.iter()
                        .map(|v| hashguard::csv_cell::safe(v).into_owned()),
                )
                .map_err(csv_io)
            }
        }
    }

    fn flush(&mut self) -> Result<(), std::io::Error> {
        match self {
            Sink::Jsonl(w) => w.flush(),
            Sink::Csv(c) => c.flush(),
        }
    }
}

fn stdout_sink(format: Format) -> Result<Sink, Failure> {
    let out = Box::new(std::io::BufWriter::new(std::io::stdout().lock()));
    Sink::new(format, out).map_err(cannot_write)
}

fn list(conn: &Conn, cursor: u64, limit: u32, format: Format) -> Result<(), Failure> {
    let page = reader(conn)?.list(cursor, limit).map_err(call_failed)?;
    let mut sink = stdout_sink(format)?;
    for r in &page.reports {
        sink.write(r).map_err(cannot_write)?;
    }
    sink.flush().map_err(cannot_write)?;
    if page.reports.len() == limit as usize {
        eprintln!("hashguard: more may follow: --cursor {}", page.next_cursor);
    }
    Ok(())
}

fn follow(conn: &Conn, from: u64, format: Format) -> Result<(), Failure> {
    let reader = reader(conn)?;
    // Line by line: each report is on stdout as soon as it arrives.
    let out: Box<dyn Write> = Box::new(std::io::stdout().lock());
    let mut sink = Sink::new(format, out).map_err(cannot_write)?;
    sink.flush().map_err(cannot_write)?;
    reader
        .follow(
            from,
            |r| {
                sink.write(r)?;
                sink.flush()
            },
            |why, backoff, cursor| {
                eprintln!(
                    "hashguard: {why}; reconnecting in {:.1} s, after cursor {cursor}",
                    backoff.as_secs_f64()
                );
            },
        )
        .map_err(read_failed)
}

/// `FILE.partial` beside `FILE`: an export is written there and renamed when complete.
fn partial_path(out: &Path) -> PathBuf {
    let mut name = out.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    out.with_file_name(name)
}

fn export(conn: &Conn, format: Format, from: u64, out: Option<&Path>) -> Result<(), Failure> {
    let reader = reader(conn)?;
    let mut sink = match out {
        None => stdout_sink(format)?,
        Some(path) => {
            let partial = partial_path(path);
            let file = std::fs::File::create(&partial)
                .map_err(|e| Failure::io(format!("cannot create {}: {e}", partial.display())))?;
            Sink::new(format, Box::new(std::io::BufWriter::new(file))).map_err(cannot_write)?
        }
    };
    let result = reader
        .export(from, |r| sink.write(r))
        .map_err(read_failed)
        .and_then(|done| sink.flush().map(|()| done).map_err(cannot_write));
    drop(sink);
    if let Some(path) = out {
        let partial = partial_path(path);
        if result.is_err() {
            let _ = std::fs::remove_file(&partial);
        } else {
            std::fs::rename(&partial, path)
                .map_err(|e| Failure::io(format!("cannot write {}: {e}", path.display())))?;
        }
    }
    let (n, cursor) = result?;
    eprintln!("hashguard: exported {n} reports; the next export can start with --from {cursor}");
    Ok(())
}

/// Runs a `reports` subcommand.
pub fn run(cmd: ReportsCommand, data: &std::path::Path) -> Result<Code, Failure> {
    match &cmd {
        ReportsCommand::Migrate { config } => migrate(config, data),
        ReportsCommand::List {
            conn,
            cursor,
            limit,
            format,
        } => list(conn, *cursor, *limit, *format),
        ReportsCommand::Follow { conn, from, format } => follow(conn, *from, *format),
        ReportsCommand::Export {
            conn,
            format,
            from,
            out,
        } => export(conn, *format, *from, out.as_deref()),
    }?;
    Ok(Code::OK)
}
