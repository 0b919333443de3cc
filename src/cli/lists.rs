//! `hashguard lists`: import hash lists into the store and show what is there.

use std::fs::File;
use std::io::{self, BufReader};
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand, ValueEnum};

use hashguard::hashing::HashKind;
use hashguard::lists::{self, ImportOptions, ListFormat};
use hashguard::store::{self, Store};

use super::exit;

/// List subcommands.
#[derive(Subcommand, Debug)]
pub enum ListsCommand {
    /// Import a list file as a new version of a list, replacing the old one atomically.
    #[command(after_help = "Examples:
  hashguard lists import --list ncmec --kind pdq hashes.txt
  hashguard lists import --list vic --format jsonl vic.jsonl

Formats:
  plain      one hex hash a line (id = 0-based line number, needs --kind), or
             `<kind> <hex>` a line
  jsonl      {\"id\",\"kind\",\"hash\",\"category\"?,\"series\"?,\"op\"?} a line
  te-csv     ThreatExchange CSV indicator,descriptor_id,added_on,labels (header
             optional; 64- and 16-hex indicators need --kind)
  vpdq       vPDQ frames frame_number,quality,pdq_hex,timestamp_sec (id = frame)
  ncmec-xml  NCMEC hash-sharing v2 XML (md5, sha1, pdq fingerprints; PhotoDNA skipped)
  stopncii   StopNCII FetchHashes JSON page
  vics       Project VIC VICS 1.x/2.0 JSON (MD5, SHA1, PDQ/SHA256 alternative hashes)
  icse       Interpol ICSE semicolon-separated export (MD5, SHA1; PhotoDNA skipped)

Malformed rows are skipped and reported with their line numbers; when they exceed
--max-bad-pct of the rows, nothing is published and the old version stays active.

Exit status: 0 published, 65 too many malformed rows, 66 input missing,
75 the data directory is in use by a running server, 74 other I/O errors.")]
    Import(ImportArgs),
    /// Show every list: kind, radius, version, entries, malformed rows, publication time.
    Status,
}

/// Formats `lists import` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    /// One hex hash a line, or `<kind> <hex>` a line.
    Plain,
    /// hashguard's canonical JSON lines.
    Jsonl,
    /// ThreatExchange CSV: indicator,descriptor_id,added_on,labels.
    TeCsv,
    /// vPDQ frame hashes, one frame a line.
    Vpdq,
    /// NCMEC hash-sharing API v2 XML.
    NcmecXml,
    /// StopNCII FetchHashes JSON.
    Stopncii,
    /// Project VIC VICS JSON.
    Vics,
    /// Interpol ICSE semicolon-separated export.
    Icse,
}

/// Arguments of `lists import`.
#[derive(Args, Debug)]
pub struct ImportArgs {
    /// List name (letters, digits, '-', '_', '.').
    #[arg(long = "list", value_name = "NAME")]
    name: String,
    /// Input format.
    #[arg(long, value_enum, default_value_t = FormatArg::Plain)]
    format: FormatArg,
    /// Hash kind of bare hex lines (pdq, phash, dhash, md5, sha1, sha256).
    #[arg(long)]
    kind: Option<HashKind>,
    /// Match radius (default: 31 for PDQ, 10 for pHash/dHash, 0 for digests).
    #[arg(long)]
    radius: Option<u32>,
    /// Category reported with this list's matches.
    #[arg(long)]
    category: Option<String>,
    /// Largest share of malformed rows, in percent, that still publishes the list.
    #[arg(long, default_value_t = 1.0)]
    max_bad_pct: f64,
    /// The list file ("-" for standard input).
    file: PathBuf,
}

/// Runs a `lists` subcommand against the store at `data`.
pub fn run(cmd: ListsCommand, data: &Path) -> i32 {
    match cmd {
        ListsCommand::Import(args) => import(args, data),
        ListsCommand::Status => status(data),
    }
}

pub(super) fn store_exit(e: &store::Error) -> i32 {
    match e {
        store::Error::Locked { .. } => exit::TEMP_FAIL,
        store::Error::Missing { .. } => exit::NO_INPUT,
        _ => exit::IO,
    }
}

fn import(args: ImportArgs, data: &Path) -> i32 {
    let input: Box<dyn io::BufRead> = if args.file.as_os_str() == "-" {
        Box::new(BufReader::new(io::stdin()))
    } else {
        match File::open(&args.file) {
            Ok(f) => Box::new(BufReader::with_capacity(1 << 20, f)),
            Err(e) => {
                eprintln!("hashguard: cannot open {}: {e}", args.file.display());
                return exit::NO_INPUT;
            }
        }
    };
    let store = match Store::open(data) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("hashguard: {e}");
            return store_exit(&e);
        }
    };
    let opts = ImportOptions {
        format: match args.format {
            FormatArg::Plain => ListFormat::Plain,
            FormatArg::Jsonl => ListFormat::Jsonl,
            FormatArg::TeCsv => ListFormat::TeCsv,
            FormatArg::Vpdq => ListFormat::Vpdq,
            FormatArg::NcmecXml => ListFormat::NcmecXml,
            FormatArg::Stopncii => ListFormat::StopNcii,
            FormatArg::Vics => ListFormat::Vics,
            FormatArg::Icse => ListFormat::Icse,
        },
        kind: args.kind,
        radius: args.radius,
        category: args.category,
        max_bad_pct: args.max_bad_pct,
    };
    let started = std::time::Instant::now();
    match lists::import(&store, &args.name, input, &opts) {
        Ok(report) => {
            for b in &report.bad_rows {
                eprintln!("hashguard: line {}: skipped: {}", b.line, b.reason);
            }
            let m = &report.meta;
            println!(
                "published list {} version {}: {} {} entries, radius {}, {} malformed rows skipped ({:.1?})",
                m.name,
                m.version,
                m.entries,
                m.kind,
                m.radius,
                m.bad_rows,
                started.elapsed()
            );
            exit::OK
        }
        Err(lists::Error::Store(e)) => {
            eprintln!("hashguard: {e}");
            store_exit(&e)
        }
        Err(e @ lists::Error::TooManyBadRows { .. }) => {
            eprintln!("hashguard: {e}");
            exit::DATA_ERR
        }
        Err(e @ (lists::Error::BadName { .. } | lists::Error::Read { .. })) => {
            eprintln!("hashguard: {e}");
            if matches!(e, lists::Error::BadName { .. }) {
                exit::USAGE
            } else {
                exit::IO
            }
        }
        Err(e) => {
            eprintln!("hashguard: {e}");
            exit::IO
        }
    }
}

fn status(data: &Path) -> i32 {
    let store = match Store::open_read_only(data) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("hashguard: {e}");
            return store_exit(&e);
        }
    };
    match lists::all(&store) {
        Ok(all) => {
            println!(
                "{:<24} {:<7} {:>6} {:>8} {:>12} {:>9}  published",
                "list", "kind", "radius", "version", "entries", "bad rows"
            );
            for m in all {
                println!(
                    "{:<24} {:<7} {:>6} {:>8} {:>12} {:>9}  {}",
                    m.name, m.kind, m.radius, m.version, m.entries, m.bad_rows, m.published_at
                );
            }
            exit::OK
        }
        Err(e) => {
            eprintln!("hashguard: {e}");
            exit::IO
        }
    }
}
