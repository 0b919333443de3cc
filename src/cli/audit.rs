//! `hashguard audit list|verify|export`: an administrator reads the audit log where the server
//! keeps it (its RocksDB, read-only while the server runs, or the PostgreSQL report log).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::{Args, Subcommand};

use super::exit::{Code, Failure};
use hashguard::config::Config;
use hashguard::report_log::audit::{self, AuditRecord};
use hashguard::report_log::{PostgresLog, ReportLog, RocksLog};
use hashguard::store::Store;

const AFTER_HELP: &str = "Examples:
  hashguard audit verify --config /etc/hashguard/serve.toml
  hashguard audit list --after 1200 --limit 50
  hashguard audit export > audit-2026-12.jsonl      every record, to archive

The log is kept where the reports are ([reports] backend): the server's data directory
(read-only here, so a running server is no obstacle) or PostgreSQL (the URL from the
variable [reports] url_env names).
`verify` recomputes the hash chain: an edited entry, or one removed from the middle, fails
it (exit 65). Record the head hash it prints somewhere else: cutting entries off the end
leaves a shorter chain that is still valid, and only a head kept elsewhere shows it.";

/// The audit commands.
#[derive(Subcommand, Debug)]
#[command(after_help = AFTER_HELP)]
pub enum AuditCommand {
    /// Print entries as JSON lines (sequence number, time, actor, action, details).
    List(ListArgs),
    /// Check the hash chain from the first record to the last.
    Verify(Where),
    /// Print every record as JSON lines with its chain fields (prev, hash), to archive.
    Export(Where),
}

/// Where the log is.
#[derive(Args, Debug)]
pub struct Where {
    /// The server's configuration file (its [reports] section says where the log is).
    #[arg(long, env = "HASHGUARD_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
}

/// `audit list`.
#[derive(Args, Debug)]
pub struct ListArgs {
    #[command(flatten)]
    at: Where,
    /// Only entries after this sequence number.
    #[arg(long, default_value_t = 0)]
    after: u64,
    /// At most this many entries.
    #[arg(long, default_value_t = 100)]
    limit: usize,
}

/// The log, and the runtime a PostgreSQL log needs kept alive.
struct Opened {
    log: Arc<dyn ReportLog>,
    _runtime: Option<tokio::runtime::Runtime>,
}

fn open(at: &Where, data: &Path) -> Result<Opened, Failure> {
    let config = Config::load(at.config.as_deref(), std::env::vars())?;
    let pg = config
        .reports
        .postgres()
        .map_err(|p| Failure::config(p.to_string()))?;
    match pg {
        Some(opts) => {
            let runtime = tokio::runtime::Runtime::new().map_err(|e| {
                Failure::new(Code::SOFTWARE, format!("cannot start a runtime: {e}"))
            })?;
            let log = runtime
                .block_on(PostgresLog::connect(&opts))
                .map_err(report_failure)?;
            Ok(Opened {
                log: Arc::new(log),
                _runtime: Some(runtime),
            })
        }
        None => Ok(Opened {
            log: Arc::new(RocksLog::new(Arc::new(Store::open_read_only(data)?))),
            _runtime: None,
        }),
    }
}

fn report_failure(e: hashguard::report_log::Error) -> Failure {
    use hashguard::report_log::Error;
    let code = match &e {
        Error::Config(_) => Code::CONFIG,
        Error::Database(_) => Code::UNAVAILABLE,
        Error::Corrupt(_) => Code::DATA_ERR,
        Error::Store(_) => Code::IO,
    };
    Failure::new(code, e.to_string())
}

fn out_err(e: std::io::Error) -> Failure {
    Failure::output("writing the audit log", &e)
}

/// Runs an audit command.
pub fn run(cmd: AuditCommand, data: &Path) -> Result<Code, Failure> {
    let mut out = std::io::stdout().lock();
    match cmd {
        AuditCommand::List(args) => {
            let opened = open(&args.at, data)?;
            let page = opened
                .log
                .audit_page(args.after, args.limit)
                .map_err(report_failure)?;
            for r in page {
                // The entry as it was hashed: already one JSON object on one line.
                writeln!(out, "{}", r.entry).map_err(out_err)?;
            }
            Ok(Code::OK)
        }
        AuditCommand::Export(at) => {
            let opened = open(&at, data)?;
            let mut after = 0;
            loop {
                let page: Vec<AuditRecord> =
                    opened.log.audit_page(after, 1000).map_err(report_failure)?;
                let Some(last) = page.last() else {
                    return Ok(Code::OK);
                };
                after = last.seq;
                for r in &page {
                    let line = serde_json::to_string(r).map_err(|e| {
                        Failure::new(Code::SOFTWARE, format!("encoding a record: {e}"))
                    })?;
                    writeln!(out, "{line}").map_err(out_err)?;
                }
            }
        }
        AuditCommand::Verify(at) => {
            let opened = open(&at, data)?;
            match audit::verify(opened.log.as_ref()).map_err(report_failure)? {
                Ok(v) => {
                    writeln!(
                        out,
                        "audit log intact: {} records, head {}",
                        v.records, v.head
                    )
                    .map_err(out_err)?;
                    Ok(Code::OK)
                }
                Err(broken) => Err(Failure::new(Code::DATA_ERR, broken.to_string())),
            }
        }
    }
}
