//! `hashguard lists`: import hash lists into the store and show what is there.

use std::fs::File;
use std::io::{self, BufReader, Write};
use std::path::{Path, PathBuf};

use clap::builder::TypedValueParser as _;
use clap::{Args, Subcommand};

use hashguard::hashing::HashKind;
use hashguard::lists::format::{self, ReadOptions};
use hashguard::lists::video::VideoSettings;
use hashguard::lists::{self, ImportOptions, ListFormat, Mode, Settings};
use hashguard::store::{self, Store};

use super::exit::{Code, Failure};

/// List subcommands.
#[derive(Subcommand, Debug)]
pub enum ListsCommand {
    /// Import a list file as a new version of a list (in full, or as a delta), publishing it
    /// atomically.
    #[command(after_help = "Examples:
  hashguard lists import --list ncmec --kind pdq hashes.txt
  hashguard lists import --list vic --format jsonl vic.jsonl
  hashguard lists import --list vic --format jsonl --delta changes.jsonl

Formats:
  plain      one hex hash a line (id = 0-based line number, needs --kind), or
             `<kind> <hex>` a line
  jsonl      {\"id\",\"kind\",\"hash\",\"category\"?,\"series\"?,\"op\"?} a line; a video:
             {\"id\",\"kind\":\"vpdq\",\"duration\"?,\"frames\":[{\"ts\",\"quality\",\"pdq\"}]}
  te-csv     ThreatExchange CSV indicator,descriptor_id,added_on,labels (header
             optional; 64- and 16-hex indicators need --kind; vPDQ JSON-list
             indicators are videos), or the dataset export
             signal_type,signal_str,collab,category,tags
  vpdq       vPDQ frames frame_number,quality,pdq_hex,timestamp_sec: one file (or each
             file of a directory) is one video entry, its id a `# id: NAME` line or
             the file name without extension (`# md5: HEX` adds its video MD5)
  vpdq-frames  the same text, every frame a separate PDQ entry (id = frame number)
  ncmec-xml  NCMEC hash-sharing v2 XML (md5, sha1, pdq fingerprints; PhotoDNA skipped)
  stopncii   StopNCII FetchHashes JSON page
  vics       Project VIC VICS 1.x/2.0 JSON (MD5, SHA1, PDQ/SHA256 alternative hashes)
  icse       Interpol ICSE semicolon-separated export (MD5, SHA1; PhotoDNA skipped)

A full load replaces the list; --delta adds, replaces (same id and kind) and removes
(\"op\":\"remove\" in jsonl, tombstones in NCMEC XML, withdrawn StopNCII records)
entries of the active version. The new version is verified (count and digest read
back) before it is published; the previous version is kept for `lists rollback`.
Malformed rows are skipped and reported with their line numbers; when they exceed
--max-bad-pct of the rows, nothing is published and the old version stays active.

Exit status: 0 published, 65 too many malformed rows or a failed verification,
66 input missing, 75 the data directory is in use by a running server, 74 other
I/O errors.")]
    Import(ImportArgs),
    /// Export a list's active version as canonical JSON lines, or as a signed bundle (a full
    /// copy or the changes since a version) for an air-gapped network.
    #[command(after_help = "Examples:
  hashguard lists export ncmec --out ncmec.jsonl
  hashguard lists export ncmec --bundle --from 41 --key bundle.key --out ncmec-41-to-now.bundle
  # on the air-gapped side:
  hashguard lists import --list ncmec --bundle --public-key national.pub ncmec-41-to-now.bundle

A delta bundle applies only to a copy at exactly --from (the receiver's `lists status
--json` shows it as upstream_version); the receiver checks the signature, then the
entry count and digest of the result, before publishing.")]
    Export(ExportArgs),
    /// Show every list: kinds, version, entries, digest, and the last attempt to change it.
    #[command(after_help = "Examples:
  hashguard lists status
  hashguard lists status ncmec --bad-rows
  hashguard lists status --json")]
    Status(StatusArgs),
    /// Sync lists from the sources configured under [lists.NAME] in the config file.
    #[command(after_help = "Examples:
  hashguard lists sync --config hashguard.toml            every configured list
  hashguard lists sync ncmec --config hashguard.toml

A list is configured in the same file `hashguard serve` reads, e.g.
  [lists.ncmec]
  source = \"https://hashes.example.org/ncmec.jsonl\"   # or file:PATH, dir:PATH
  format = \"jsonl\"
  mode = \"full\"                                       # or delta
  unit = \"cyber-unit-1\"
  token_env = \"NCMEC_TOKEN\"                           # the token itself stays in the environment
HTTP sources are fetched with conditional requests (nothing is rebuilt when the
source has not changed), a cut download resumes where it stopped, failures are
retried with backoff until the deadline. A sync that fails leaves the previous
version serving and says why in `lists status`. The data directory allows one
writer: stop a running server or let it sync on its schedule.

Exit status: 0 every list synced or unchanged, 65 a list was refused (malformed
rows or pages, a delta that does not apply), 66 a source file or drop directory is
missing, 69 a source cannot be reached, 75 the data directory is in use, 78 the
configuration is wrong (a [lists.NAME] source, a token variable not set), 74 local
I/O failed.")]
    Sync(SyncArgs),
    /// Make a list's previous version active again (the current one is deleted).
    #[command(after_help = "Example:
  hashguard lists rollback ncmec

Exit status: 0 rolled back, 65 no previous version, 75 the data directory is in
use by a running server, 74 other I/O errors.")]
    Rollback {
        /// The list.
        name: String,
    },
}

/// Parses `--format` by the library's own table of formats (so the names exist once).
fn format_parser() -> impl clap::builder::TypedValueParser<Value = ListFormat> {
    clap::builder::PossibleValuesParser::new(ListFormat::ALL.map(ListFormat::name))
        .try_map(|s| s.parse::<ListFormat>())
}

/// Arguments of `lists import`.
#[derive(Args, Debug)]
pub struct ImportArgs {
    /// List name (letters, digits, '-', '_', '.').
    #[arg(long = "list", value_name = "NAME")]
    name: String,
    /// Input format.
    #[arg(long, value_parser = format_parser(), default_value = "plain")]
    format: ListFormat,
    /// Hash kind of bare hex lines (pdq, phash, dhash, md5, sha1, sha256).
    #[arg(long)]
    kind: Option<HashKind>,
    /// Match radius of perceptual kinds, as R (every perceptual kind) or KIND=R, repeatable
    /// (default: 31 for PDQ, 10 for pHash/dHash; digests always match exactly).
    #[arg(long, value_name = "[KIND=]R")]
    radius: Vec<String>,
    /// Category reported with this list's matches when an entry has none.
    #[arg(long)]
    category: Option<String>,
    /// Investigating unit this list's matches are routed to (the server's default if unset).
    #[arg(long)]
    unit: Option<String>,
    /// The file changes the active version instead of replacing it.
    #[arg(long)]
    delta: bool,
    /// Lists of videos: the share (0-1) of a query's frames that must be found in a listed
    /// video for a whole-video `match` (vPDQ's default 0.8).
    #[arg(long, value_name = "SHARE")]
    video_query_threshold: Option<f64>,
    /// Lists of videos: the share (0-1) of the listed video's frames that must be found in the
    /// query for a `match` (vPDQ's default 0).
    #[arg(long, value_name = "SHARE")]
    video_listed_threshold: Option<f64>,
    /// Lists of videos: seconds of a listed video that must appear in a query in order to be
    /// reported as an `excerpt`.
    #[arg(long, value_name = "SECONDS")]
    excerpt_seconds: Option<f64>,
    /// Lists of videos: frames below this PDQ quality count on neither side (vPDQ's 50).
    #[arg(long, value_name = "QUALITY")]
    video_min_quality: Option<u8>,
    /// Lists of videos: a listed video is compared with a query once a query frame lies within
    /// this distance of one of its frames; the full radius finds every one. Default: the widest
    /// radius within a fixed cost per query frame (the full radius for small lists, 12 at 33
    /// million listed frames; see docs/performance.md).
    #[arg(long, value_name = "BITS", value_parser = clap::value_parser!(u32).range(0..=64))]
    discovery_radius: Option<u32>,
    /// Largest share of malformed rows, in percent, that still publishes the list.
    #[arg(long, default_value_t = 1.0)]
    max_bad_pct: f64,
    /// Largest share, in percent, by which a full load may shrink the active version (an
    /// empty full load is always refused).
    #[arg(long, default_value_t = 50.0)]
    max_shrink_pct: f64,
    /// Publish a full load even when it is empty or shrinks the list past --max-shrink-pct
    /// (a list really withdrawn upstream). Without it such a load is refused and the active
    /// version keeps serving.
    #[arg(long)]
    allow_shrink: bool,
    /// The file is a signed bundle (`lists export --bundle`): its signature is checked with
    /// --public-key before anything is imported; format, mode and kinds come from the bundle.
    #[arg(long, requires = "public_key")]
    bundle: bool,
    /// The bundle signer's ed25519 public key (a file of 64 hex characters).
    #[arg(long, value_name = "FILE")]
    public_key: Option<PathBuf>,
    /// The list file ("-" for standard input); with --format vpdq, also a directory of vPDQ
    /// files, one video each.
    file: PathBuf,
}

/// Arguments of `lists export`.
#[derive(Args, Debug)]
pub struct ExportArgs {
    /// The list.
    name: String,
    /// Output file (default: standard output). Written beside and renamed when complete.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Write a signed bundle (header, rows, ed25519 signature) instead of plain JSON lines.
    #[arg(long, requires = "key")]
    bundle: bool,
    /// Bundles: the version of this list the receiver holds (see its `lists status`); the
    /// bundle then carries only the changes since. Without it, a full copy.
    #[arg(long, value_name = "VERSION")]
    from: Option<u32>,
    /// Bundles: the signing key (64 hex characters, the ed25519 seed); created with mode 0600
    /// when missing, and its public key printed for the receivers.
    #[arg(long, value_name = "FILE")]
    key: Option<PathBuf>,
}

/// Arguments of `lists sync`.
#[derive(Args, Debug)]
pub struct SyncArgs {
    /// Only this list (default: every configured list).
    name: Option<String>,
    /// Configuration file (TOML, as `hashguard serve` reads it).
    #[arg(long, env = "HASHGUARD_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
}

/// Arguments of `lists status`.
#[derive(Args, Debug)]
pub struct StatusArgs {
    /// Only this list.
    name: Option<String>,
    /// Also print the malformed rows of the last attempt, with their line numbers.
    #[arg(long)]
    bad_rows: bool,
    /// One JSON object a line (metadata and last attempt) instead of a table.
    #[arg(long)]
    json: bool,
}

/// `R` or `KIND=R`, for every perceptual kind or one kind.
fn parse_radii(args: &[String]) -> Result<Vec<(HashKind, u32)>, String> {
    let mut out = Vec::new();
    for a in args {
        let (kinds, r) = match a.split_once('=') {
            // A video's frames are PDQ hashes: its radius is a Hamming radius too.
            Some((k, r)) => (vec![k.parse::<HashKind>().map_err(|e| e.to_string())?], r),
            None => (
                HashKind::ALL
                    .into_iter()
                    .filter(|k| k.is_perceptual())
                    .collect(),
                a.as_str(),
            ),
        };
        let r: u32 = r
            .trim()
            .parse()
            .map_err(|_| format!("--radius {a:?}: expected a number or KIND=NUMBER"))?;
        for k in kinds {
            if !k.is_perceptual() && k != HashKind::Vpdq && r != 0 {
                return Err(format!("--radius {a:?}: {k} digests only match exactly"));
            }
            lists::check_radii(&[(k, r)]).map_err(|why| format!("--radius {a:?}: {why}"))?;
            out.retain(|(x, _)| *x != k);
            out.push((k, r));
        }
    }
    Ok(out)
}

/// Runs a `lists` subcommand against the store at `data`.
pub fn run(cmd: ListsCommand, data: &Path) -> Result<Code, Failure> {
    match cmd {
        ListsCommand::Import(args) => import(args, data),
        ListsCommand::Status(args) => status(args, data),
        ListsCommand::Sync(args) => sync(args, data),
        ListsCommand::Export(args) => export(args, data),
        ListsCommand::Rollback { name } => rollback(&name, data),
    }
}

/// Opens the store, read-only or for writing.
fn open_store(data: &Path, read_only: bool) -> Result<std::sync::Arc<Store>, Failure> {
    let opened = if read_only {
        Store::open_read_only(data)
    } else {
        Store::open(data)
    };
    opened.map(std::sync::Arc::new).map_err(Failure::from)
}

/// Writes a change made here to the data directory's audit log (`hashguard audit` reads it),
/// with the user who ran the command as the actor.
fn audit(
    store: &std::sync::Arc<Store>,
    action: &str,
    detail: serde_json::Value,
) -> Result<(), Failure> {
    use hashguard::report_log::{ReportLog, RocksLog};
    let actor = format!("cli:{}", std::env::var("USER").unwrap_or_default());
    RocksLog::new(store.clone())
        .audit(&actor, action, detail)
        .map(drop)
        .map_err(|e| {
            Failure::new(
                Code::IO,
                format!("the change was made, but writing it to the audit log failed: {e}"),
            )
        })
}

fn import_bundle(args: ImportArgs, data: &Path) -> Result<Code, Failure> {
    let Some(key_path) = &args.public_key else {
        return Err(Failure::usage("--bundle needs --public-key"));
    };
    // A key file that is missing or unreadable is the setup at fault, whatever the error.
    let key =
        lists::delta::read_public_key(key_path).map_err(|e| Failure::config(e.to_string()))?;
    let radii = parse_radii(&args.radius).map_err(Failure::usage)?;
    if !args.file.is_file() {
        return Err(Failure::new(
            Code::NO_INPUT,
            format!("cannot open {}", args.file.display()),
        ));
    }
    let store = open_store(data, false)?;
    let settings = Settings {
        radii,
        category: args.category,
        unit: args.unit,
        source: format!("bundle:{}", args.file.display()),
        max_bad_pct: 0.0,
        ..Settings::default()
    };
    let s = lists::delta::import_bundle(&store, &args.name, &args.file, &key, settings)?;
    audit(
        &store,
        "lists.import",
        serde_json::json!({
            "list": s.meta.name, "version": s.meta.version, "entries": s.meta.entries,
            "source": s.meta.source, "bundle": true,
        }),
    )?;
    println!(
        "published list {} version {} from the bundle (source version {}): {} entries, digest {} verified",
        s.meta.name,
        s.meta.version,
        s.meta.upstream_version.as_deref().unwrap_or("?"),
        s.meta.entries,
        &s.meta.digest[..16]
    );
    Ok(Code::OK)
}

fn export(args: ExportArgs, data: &Path) -> Result<Code, Failure> {
    let store = open_store(data, true)?;
    let key = match (&args.key, args.bundle) {
        (Some(p), true) => Some(
            hashguard::scan::manifest::load_or_create_key(p)
                .map_err(|e| Failure::config(e.to_string()))?,
        ),
        _ => None,
    };
    let partial = args.out.as_ref().map(|p| {
        let mut s = p.as_os_str().to_owned();
        s.push(".partial");
        PathBuf::from(s)
    });
    let mut out: Box<dyn Write> = match &partial {
        Some(p) => {
            let f = File::create(p)
                .map_err(|e| Failure::io(format!("cannot create {}: {e}", p.display())))?;
            Box::new(io::BufWriter::with_capacity(1 << 20, f))
        }
        None => Box::new(io::BufWriter::new(io::stdout().lock())),
    };
    let result = match &key {
        Some(k) => lists::delta::export_bundle(&store, &args.name, args.from, k, &mut out)
            .map(|h| (h.to, h.entries, h.full)),
        None => lists::delta::plan(&store, &args.name, None).and_then(|(h, v)| {
            lists::delta::write_rows(&store, &h, &v, &mut out).map(|_| (h.to, h.entries, true))
        }),
    };
    let flushed = out.flush();
    drop(out);
    let (to, entries, full) = match (result, flushed) {
        (Ok(done), Ok(())) => done,
        (Err(e), _) => {
            if let Some(p) = &partial {
                let _ = std::fs::remove_file(p);
            }
            return Err(e.into());
        }
        (_, Err(e)) => return Err(Failure::io(format!("writing the export failed: {e}"))),
    };
    if let (Some(p), Some(out)) = (&partial, &args.out) {
        std::fs::rename(p, out)
            .map_err(|e| Failure::io(format!("cannot rename {}: {e}", p.display())))?;
    }
    if let Some(k) = &key {
        eprintln!(
            "hashguard: bundle of list {} {} version {to} ({entries} entries), signed by public key {}",
            args.name,
            if full {
                "as a full copy of".to_string()
            } else {
                format!("from version {} to", args.from.unwrap_or(0))
            },
            hex::encode(k.verifying_key().as_bytes())
        );
    }
    Ok(Code::OK)
}

fn import(args: ImportArgs, data: &Path) -> Result<Code, Failure> {
    if args.bundle {
        return import_bundle(args, data);
    }
    let radii = parse_radii(&args.radius).map_err(Failure::usage)?;
    let source = if args.file.as_os_str() == "-" {
        "stdin".to_string()
    } else {
        format!("file:{}", args.file.display())
    };
    let dir = args.file.is_dir();
    if dir && args.format != ListFormat::Vpdq {
        return Err(Failure::usage(format!(
            "{} is a directory: only --format vpdq reads directories (one video a file)",
            args.file.display()
        )));
    }
    let input: Box<dyn io::BufRead> = if dir {
        // Read file by file below.
        Box::new(io::empty())
    } else if args.file.as_os_str() == "-" {
        Box::new(BufReader::new(io::stdin()))
    } else {
        let f = File::open(&args.file).map_err(|e| {
            Failure::new(
                Code::NO_INPUT,
                format!("cannot open {}: {e}", args.file.display()),
            )
        })?;
        // A progress bar by bytes read, drawn only when stderr is a terminal.
        let len = f.metadata().map_or(0, |m| m.len());
        let bar = indicatif::ProgressBar::new(len).with_style(
            indicatif::ProgressStyle::with_template(
                "{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        Box::new(BufReader::with_capacity(1 << 20, bar.wrap_read(f)))
    };
    let store = open_store(data, false)?;
    // Flags not given keep the list's own video settings (vPDQ's defaults for a new list).
    let base = lists::get(&store, &args.name)
        .ok()
        .and_then(|m| m.video)
        .unwrap_or_default();
    let video = VideoSettings {
        query_threshold: args.video_query_threshold.unwrap_or(base.query_threshold),
        listed_threshold: args.video_listed_threshold.unwrap_or(base.listed_threshold),
        min_quality: args.video_min_quality.unwrap_or(base.min_quality),
        excerpt_seconds: args.excerpt_seconds.unwrap_or(base.excerpt_seconds),
        discovery_radius: args.discovery_radius.or(base.discovery_radius),
    };
    video.check().map_err(Failure::usage)?;
    let opts = ImportOptions {
        format: args.format,
        read: ReadOptions {
            kind: args.kind,
            video_id: (args.file.as_os_str() != "-")
                .then(|| format::id_of_path(&args.file))
                .flatten(),
        },
        mode: if args.delta { Mode::Delta } else { Mode::Full },
        settings: Settings {
            radii,
            category: args.category,
            unit: args.unit,
            source,
            max_bad_pct: args.max_bad_pct,
            max_shrink_pct: args.max_shrink_pct,
            allow_shrink: args.allow_shrink,
            video,
        },
    };
    let started = std::time::Instant::now();
    let staged = if dir {
        let rows = format::read_vpdq_dir(&args.file).map_err(|e| {
            Failure::new(
                Code::NO_INPUT,
                format!("cannot read {}: {e}", args.file.display()),
            )
        })?;
        lists::import_rows(&store, &args.name, rows, &opts)?
    } else {
        lists::import(&store, &args.name, input, &opts)?
    };
    for b in &staged.bad_rows {
        eprintln!("hashguard: line {}: skipped: {}", b.line, b.reason);
    }
    if staged.meta.bad_rows > staged.bad_rows.len() as u64 {
        eprintln!(
            "hashguard: ... and {} more malformed rows",
            staged.meta.bad_rows - staged.bad_rows.len() as u64
        );
    }
    let m = &staged.meta;
    audit(
        &store,
        "lists.import",
        serde_json::json!({
            "list": m.name, "version": m.version, "entries": m.entries, "source": m.source,
            "delta": args.delta, "forced": args.allow_shrink, "bad_rows": m.bad_rows,
        }),
    )?;
    let kinds: Vec<String> = m
        .kinds
        .iter()
        .map(|k| format!("{} {} (radius {})", k.entries, k.kind, k.radius))
        .collect();
    println!(
        "published list {} version {}: {} entries ({}), {} malformed rows skipped, {} repeated ids replaced, digest {} ({:.1?})",
        m.name,
        m.version,
        m.entries,
        kinds.join(", "),
        m.bad_rows,
        staged.duplicates,
        &m.digest[..16],
        started.elapsed()
    );
    Ok(Code::OK)
}

fn status(args: StatusArgs, data: &Path) -> Result<Code, Failure> {
    let store = open_store(data, true)?;
    let metas = match &args.name {
        Some(n) => vec![lists::get(&store, n)?],
        None => lists::all(&store)?,
    };
    let cannot_write = |e: io::Error| Failure::io(format!("cannot write the output: {e}"));
    let mut out = io::stdout().lock();
    if !args.json {
        let _ = writeln!(
            out,
            "{:<20} {:<16} {:>8} {:>12} {:>9} {:<16}  last attempt",
            "list", "kinds", "version", "entries", "bad rows", "digest"
        );
    }
    for m in metas {
        let attempt = lists::last_attempt(&store, &m.name)?;
        if args.json {
            let rec = serde_json::json!({"list": m, "last_attempt": attempt});
            writeln!(out, "{rec}").map_err(cannot_write)?;
            continue;
        }
        let last = match &attempt {
            Some(a) if a.ok => format!("ok at {}", a.at),
            Some(a) => format!(
                "FAILED at {}: {}",
                a.at,
                a.error.as_deref().unwrap_or("unknown error")
            ),
            None => "-".into(),
        };
        writeln!(
            out,
            "{:<20} {:<16} {:>8} {:>12} {:>9} {:<16}  {last}",
            m.name,
            m.kind_names(),
            m.version,
            m.entries,
            m.bad_rows,
            &m.digest[..m.digest.len().min(16)]
        )
        .map_err(cannot_write)?;
        if args.bad_rows
            && let Some(a) = &attempt
        {
            for b in &a.bad_rows {
                writeln!(out, "    line {}: {}", b.line, b.reason).map_err(cannot_write)?;
            }
            if a.bad > a.bad_rows.len() as u64 {
                writeln!(out, "    ... and {} more", a.bad - a.bad_rows.len() as u64)
                    .map_err(cannot_write)?;
            }
        }
    }
    Ok(Code::OK)
}

fn sync(args: SyncArgs, data: &Path) -> Result<Code, Failure> {
    let config = hashguard::config::Config::load(args.config.as_deref(), std::env::vars())?;
    let names: Vec<String> = match args.name {
        Some(n) if config.lists.contains_key(&n) => vec![n],
        Some(n) => {
            return Err(Failure::config(format!(
                "no [lists.{n}] section in the configuration"
            )));
        }
        None => config.lists.keys().cloned().collect(),
    };
    if names.is_empty() {
        return Err(Failure::config(
            "no lists are configured ([lists.NAME] sections with a source)",
        ));
    }
    let store = Store::open(data).map(std::sync::Arc::new).map_err(|e| {
        let locked = matches!(e, store::Error::Locked { .. });
        let f = Failure::from(e);
        if locked {
            let message = format!(
                "{f}\nhashguard: a running server syncs its lists on its schedule; to sync now, \
                 call its Lists/SyncNow as admin, e.g. grpcurl -H \"authorization: Bearer $ADMIN_TOKEN\" \
                 -plaintext -d '{{}}' 127.0.0.1:50051 hashguard.v1.Lists/SyncNow"
            );
            Failure::new(f.code(), message)
        } else {
            f
        }
    })?;
    // A list that fails is reported at once and the others still sync; the first failure's
    // status is the command's.
    let mut code = Code::OK;
    for name in names {
        let started = std::time::Instant::now();
        match lists::sync::sync(
            &store,
            &name,
            &config.lists[&name],
            &hashguard::server::mirror_service::HubClient,
        ) {
            Ok(lists::sync::SyncOutcome::Unchanged) => {
                println!("list {name}: unchanged at the source");
                let detail = serde_json::json!({ "list": name, "outcome": "unchanged" });
                audit(&store, "lists.sync", detail)?;
            }
            Ok(lists::sync::SyncOutcome::Published(s)) => {
                println!(
                    "list {name}: published version {} with {} entries ({} malformed rows skipped, {:.1?})",
                    s.meta.version,
                    s.meta.entries,
                    s.meta.bad_rows,
                    started.elapsed()
                );
                let detail = serde_json::json!({
                    "list": name, "outcome": "published", "version": s.meta.version,
                    "entries": s.meta.entries,
                });
                audit(&store, "lists.sync", detail)?;
            }
            Err(e) => {
                eprintln!("hashguard: list {name}: {e}");
                if code == Code::OK {
                    code = Failure::from(e).code();
                }
            }
        }
    }
    Ok(code)
}

fn rollback(name: &str, data: &Path) -> Result<Code, Failure> {
    let store = open_store(data, false)?;
    let m = lists::rollback(&store, name)?;
    audit(
        &store,
        "lists.rollback",
        serde_json::json!({ "list": m.name, "version": m.version, "entries": m.entries }),
    )?;
    println!(
        "list {} is back at version {}: {} entries, digest {}",
        m.name,
        m.version,
        m.entries,
        &m.digest[..16]
    );
    Ok(Code::OK)
}
