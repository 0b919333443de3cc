//! `hashguard reports list|follow|export`: an investigator's client of a running server's
//! Reports service. It prints one line per report with every field the contract
//! carries; the token is sent only in the `authorization` header and never printed.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use clap::{Args, Subcommand, ValueEnum};
use serde::Serialize;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};

use hashguard::proto;
use hashguard::proto::reports_client::ReportsClient;

use super::exit::{Code, Failure, with_sources};

/// Longest pause between reconnections of `follow`.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// First pause before `follow` reconnects.
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
/// Reports per ListReports call when exporting (the server's maximum).
const PAGE: u32 = 1000;

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
dihedral, category, frame_ts), acked. Absent values are null (empty in CSV). A report's cursor
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

/// How to reach the server.
#[derive(Args, Debug)]
pub struct Conn {
    /// Server URL: http:// on loopback only, else https:// with --ca.
    #[arg(
        long,
        env = "HASHGUARD_SERVER",
        default_value = "http://127.0.0.1:50051",
        value_name = "URL"
    )]
    server: String,
    /// Investigator token (prefer the environment variable: arguments show in `ps`).
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
fn cannot_write(e: std::io::Error) -> Failure {
    Failure::output(format!("cannot write the output: {e}"), &e)
}

/// True for `localhost` and loopback IP literals.
fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The checked connection settings: an endpoint and the authorization header.
struct Client {
    endpoint: Endpoint,
    auth: MetadataValue<Ascii>,
    server: String,
}

impl Client {
    fn new(conn: &Conn) -> Result<Self, Failure> {
        let Some(token) = &conn.token else {
            return Err(Failure::config(
                "no token: set HASHGUARD_TOKEN (or pass --token) to an investigator token",
            ));
        };
        let mut auth: MetadataValue<Ascii> = format!("Bearer {}", token.0.trim())
            .parse()
            .map_err(|_| Failure::usage("the token holds characters a header cannot carry"))?;
        // Kept out of header compression tables and debug output.
        auth.set_sensitive(true);
        let server = conn.server.trim().to_string();
        let uri: http::Uri = server
            .parse()
            .map_err(|e| Failure::usage(format!("--server {server:?}: {e}")))?;
        let host = uri.host().unwrap_or("");
        let mut endpoint = Endpoint::from_shared(server.clone())
            .map_err(|e| Failure::usage(format!("--server {server:?}: {e}")))?
            .connect_timeout(Duration::from_secs(10))
            // Notices a server that vanished without closing the connection.
            .http2_keep_alive_interval(Duration::from_secs(30))
            .keep_alive_timeout(Duration::from_secs(10))
            .keep_alive_while_idle(true);
        match (uri.scheme_str(), &conn.ca) {
            (Some("https"), Some(ca)) => {
                let pem = std::fs::read(ca)
                    .map_err(|e| Failure::usage(format!("--ca {}: {e}", ca.display())))?;
                let tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(pem));
                endpoint = endpoint
                    .tls_config(tls)
                    .map_err(|e| Failure::usage(format!("TLS: {}", with_sources("", &e))))?;
            }
            (Some("https"), None) => {
                return Err(Failure::usage(
                    "an https:// server needs --ca FILE (the CA that signed its certificate)",
                ));
            }
            (Some("http"), None) if is_loopback_host(host) => {}
            (Some("http"), None) => {
                return Err(Failure::usage(format!(
                    "refusing to send the token in plaintext to {host}: use https:// and \
                         --ca, or a loopback address"
                )));
            }
            (Some("http"), Some(_)) => {
                return Err(Failure::usage("--ca needs an https:// server"));
            }
            _ => {
                return Err(Failure::usage(format!(
                    "--server {server:?}: the URL must start with http:// or https://"
                )));
            }
        }
        Ok(Client {
            endpoint,
            auth,
            server,
        })
    }

    async fn connect(&self) -> Result<ReportsClient<Channel>, Failure> {
        let channel = self.endpoint.connect().await.map_err(|e| {
            Failure::new(
                Code::UNAVAILABLE,
                with_sources(&format!("cannot reach the server at {}", self.server), &e),
            )
        })?;
        Ok(ReportsClient::new(channel))
    }

    fn request<T>(&self, msg: T) -> tonic::Request<T> {
        let mut r = tonic::Request::new(msg);
        r.metadata_mut().insert("authorization", self.auth.clone());
        r
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
            })
            .collect(),
        acked: r.acked,
    }
}

/// CSV columns, in the order of the JSON fields.
const CSV_HEADER: [&str; 11] = [
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
                c.write_record([
                    out.id,
                    &out.cursor.to_string(),
                    &out.created_at.to_string(),
                    out.tenant,
                    out.tenant_reference,
                    out.unit,
                    out.sha256.unwrap_or(""),
                    out.md5.unwrap_or(""),
                    out.sha1.unwrap_or(""),
                    &matches,
                    if out.acked { "true" } else { "false" },
                ])
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

async fn list(conn: &Conn, cursor: u64, limit: u32, format: Format) -> Result<(), Failure> {
    let client = Client::new(conn)?;
    let mut reports = client.connect().await?;
    let page = reports
        .list_reports(client.request(proto::ListReportsRequest { cursor, limit }))
        .await?
        .into_inner();
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

/// One connection of `follow`: prints reports after `cursor` (advancing it) until the stream
/// ends or fails. `connected` is set once the server has accepted the stream.
async fn follow_once(
    client: &Client,
    cursor: &mut u64,
    sink: &mut Sink,
    connected: &mut bool,
) -> Result<(), Failure> {
    let mut reports = client.connect().await?;
    let mut stream = reports
        .follow_reports(client.request(proto::FollowReportsRequest { cursor: *cursor }))
        .await?
        .into_inner();
    *connected = true;
    while let Some(r) = stream.message().await? {
        // The server replays after the cursor; this only guards against printing one twice.
        if r.cursor <= *cursor {
            continue;
        }
        sink.write(&r).map_err(cannot_write)?;
        sink.flush().map_err(cannot_write)?;
        *cursor = r.cursor;
    }
    Ok(())
}

async fn follow(conn: &Conn, from: u64, format: Format) -> Result<(), Failure> {
    let client = Client::new(conn)?;
    // Line by line: each report is on stdout as soon as it arrives.
    let out: Box<dyn Write> = Box::new(std::io::stdout().lock());
    let mut sink = Sink::new(format, out).map_err(cannot_write)?;
    sink.flush().map_err(cannot_write)?;
    let mut cursor = from;
    let mut backoff = FIRST_BACKOFF;
    let mut ever_connected = false;
    loop {
        let mut connected = false;
        let result = tokio::select! {
            r = follow_once(&client, &mut cursor, &mut sink, &mut connected) => r,
            _ = hashguard::server::shutdown_signal() => return Ok(()),
        };
        if connected {
            ever_connected = true;
            backoff = FIRST_BACKOFF;
        }
        let why = match result {
            Ok(()) => "the server ended the stream".to_string(),
            // Refused tokens, bad settings and a dead stdout do not heal by retrying.
            Err(f)
                if matches!(
                    f.code(),
                    Code::NO_PERM | Code::USAGE | Code::CONFIG | Code::IO
                ) =>
            {
                return Err(f);
            }
            // Never connected: the server is not there (or not this one); say so at once.
            Err(f) if !ever_connected => return Err(f),
            Err(f) => f.to_string(),
        };
        eprintln!(
            "hashguard: {why}; reconnecting in {:.1} s, after cursor {cursor}",
            backoff.as_secs_f64()
        );
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = hashguard::server::shutdown_signal() => return Ok(()),
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// `FILE.partial` beside `FILE`: an export is written there and renamed when complete.
fn partial_path(out: &Path) -> PathBuf {
    let mut name = out.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    out.with_file_name(name)
}

async fn export(conn: &Conn, format: Format, from: u64, out: Option<&Path>) -> Result<(), Failure> {
    let client = Client::new(conn)?;
    let mut reports = client.connect().await?;
    let mut sink = match out {
        None => stdout_sink(format)?,
        Some(path) => {
            let partial = partial_path(path);
            let file = std::fs::File::create(&partial)
                .map_err(|e| Failure::io(format!("cannot create {}: {e}", partial.display())))?;
            Sink::new(format, Box::new(std::io::BufWriter::new(file))).map_err(cannot_write)?
        }
    };
    let mut cursor = from;
    let mut n = 0u64;
    let result: Result<(), Failure> = async {
        loop {
            let page = reports
                .list_reports(client.request(proto::ListReportsRequest {
                    cursor,
                    limit: PAGE,
                }))
                .await?
                .into_inner();
            if page.reports.is_empty() {
                break;
            }
            for r in &page.reports {
                sink.write(r).map_err(cannot_write)?;
                cursor = r.cursor;
                n += 1;
            }
        }
        sink.flush().map_err(cannot_write)
    }
    .await;
    drop(sink);
    if let Some(path) = out {
        let partial = partial_path(path);
        if let Err(f) = result {
            let _ = std::fs::remove_file(&partial);
            return Err(f);
        }
        std::fs::rename(&partial, path)
            .map_err(|e| Failure::io(format!("cannot write {}: {e}", path.display())))?;
    }
    result?;
    eprintln!("hashguard: exported {n} reports; the next export can start with --from {cursor}");
    Ok(())
}

/// Runs a `reports` subcommand.
pub fn run(cmd: ReportsCommand) -> Result<Code, Failure> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::io(format!("cannot start the runtime: {e}")))?;
    rt.block_on(async {
        match &cmd {
            ReportsCommand::List {
                conn,
                cursor,
                limit,
                format,
            } => list(conn, *cursor, *limit, *format).await,
            ReportsCommand::Follow { conn, from, format } => follow(conn, *from, *format).await,
            ReportsCommand::Export {
                conn,
                format,
                from,
                out,
            } => export(conn, *format, *from, out.as_deref()).await,
        }
    })?;
    Ok(Code::OK)
}
