//! `hashguard scan`: bulk scan of seized media into a signed, resumable report directory.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use hashguard::containers::ContainerLimits;
use hashguard::matcher::Matcher;
use hashguard::media::Limits;
use hashguard::scan::{self, Outcome, ScanOptions, manifest};
use hashguard::store::Store;

use super::exit::{Code, Failure};

/// Arguments of `hashguard scan`.
#[derive(Args, Debug)]
#[command(
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true,
    after_help = "Examples:
  hashguard scan /mnt/seized --case 2026-0413 --out report-0413
  hashguard scan /mnt/seized --case 2026-0413 --out report-0413 --resume   (after an interruption)
  hashguard scan verify report-0413 --public-key data/keys/scan-signing.key.pub

Every entry under PATH gets one line in DIR/files.jsonl with exactly one outcome: match, clean,
decode_failed, unreadable, too_large or skipped (symlinks are recorded, not followed; FIFOs,
sockets and devices are skipped), with size, SHA-256, SHA-1, MD5 and, for media, perceptual
hashes. Hard links and identical files are hashed once; every path is recorded. DIR also gets
matches.jsonl, summary.json (totals, lists and versions, tool version, times, host, case,
operator), matches.csv, vics.json (VICS 2.0) and manifest.json: the SHA-256 of each output
and hash chains over the records, signed with ed25519. `hashguard scan verify DIR --public-key
FILE` checks it against the signer's key, written beside the signing key as
scan-signing.key.pub; without --public-key it fails, printing the signer, unless
--trust-signer accepts whichever key signed it.
Lists come from --data, opened read-only, so a scan runs beside a server.

Decoders (images, HEIF, video) run in sandboxed worker processes: a file whose decoder crashes,
hangs past --decode-timeout or exceeds --decoder-memory is decode_failed with fault
decoder_crashed, decoder_timeout or decoder_out_of_memory, keeps its digests, and the scan goes on.

Containers are opened, found by their content, never extracted or mounted: archives through
libarchive (ZIP, 7z, RAR, TAR with gz/bz2/xz/zstd, ISO 9660, CPIO), nested to --max-depth, and
disk images through The Sleuth Kit (raw, split raw from its first segment, E01; DOS/GPT
partitions; FAT, exFAT, NTFS, ext2/3/4, HFS+, ISO 9660), deleted files included (deleted:
true). Every entry inside is a record addressed CONTAINER!/PATH (disk.E01!/p5/home/a.jpg,
photos.zip!/inner.tar!/b.png) with its chain of containers; encrypted members are encrypted,
and a container stopped by a cap or damage ends with one not_opened record for its rest.

Exit status: 0 nothing matched, 1 matches found, 2 some entries not processed (decode_failed,
unreadable, too_large, encrypted, not_opened), 3 both; 64 bad arguments or output directory, 74 output could not be
written, 78 no lists in --data."
)]
pub struct ScanArgs {
    #[command(subcommand)]
    verify: Option<ScanCommand>,

    /// Files or directories to scan.
    #[arg(value_name = "PATH", required = true)]
    paths: Vec<PathBuf>,

    /// Case identifier, written into every report.
    #[arg(long = "case", value_name = "ID", required = true)]
    case_id: Option<String>,

    /// Output directory (new or empty, or an unfinished scan with --resume).
    #[arg(long, value_name = "DIR", required = true)]
    out: Option<PathBuf>,

    /// Continue an interrupted scan in --out (same case, paths and options).
    #[arg(long)]
    resume: bool,

    /// Worker threads (default: one per CPU).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    threads: Option<u16>,

    /// Digests only: skip PDQ, pHash, dHash and video frames.
    #[arg(long)]
    no_perceptual: bool,

    /// Name of the person running the scan, for the summary.
    #[arg(long, value_name = "NAME", env = "HASHGUARD_OPERATOR")]
    operator: Option<String>,

    /// ed25519 signing key (64 hex characters), created when missing.
    /// Default: DATA/keys/scan-signing.key.
    #[arg(long, value_name = "FILE", env = "HASHGUARD_SIGNING_KEY")]
    signing_key: Option<PathBuf>,

    /// No progress output.
    #[arg(long, short)]
    quiet: bool,

    /// Entries per checkpoint.
    #[arg(long, default_value_t = 256, hide = true)]
    batch: usize,

    /// Do not open containers (archives, disk images): each is scanned as one file.
    #[arg(long)]
    no_containers: bool,

    /// Containers inside containers are opened to this depth (1: only the inputs themselves).
    #[arg(long, value_name = "N", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=64))]
    max_depth: u32,

    /// An archive stops once it has expanded past this many times its own size (and past
    /// 64 MiB); its rest is recorded `not_opened`.
    #[arg(long, value_name = "N", default_value_t = 200)]
    max_ratio: u64,

    /// Bytes one input may expand to over all its nested containers.
    #[arg(long, value_name = "BYTES", default_value_t = 64 << 30)]
    max_expanded: u64,

    /// Members one container may hold before its rest is recorded `not_opened`.
    #[arg(long, value_name = "N", default_value_t = 1_000_000)]
    max_members: u64,

    /// Bytes carved (JPEG, PNG, GIF, by their signatures) from each disk image's unallocated
    /// space and unrecognised volumes; 0 turns carving off.
    #[arg(long, value_name = "BYTES", default_value_t = 4 << 30)]
    max_carved: u64,

    /// Open the files named as inputs as disk images even when no partition table or file
    /// system is recognised in them (a wiped or unknown medium), carving them whole.
    #[arg(long)]
    disk_image: bool,

    #[command(flatten)]
    decoders: super::DecoderArgs,
}

#[derive(Subcommand, Debug)]
enum ScanCommand {
    /// Check a finished scan's outputs against its signed manifest.
    Verify {
        /// The scan's output directory.
        #[arg(value_name = "DIR")]
        dir: PathBuf,
        /// The signer the manifest must be signed by: 64 hex characters, or a file holding
        /// them (the scanning machine's DATA/keys/scan-signing.key.pub).
        #[arg(long, value_name = "HEX|FILE")]
        public_key: Option<String>,
        /// Accept whichever key signed the manifest (its fingerprint is printed): only for a
        /// report whose signer is checked another way.
        #[arg(long, conflicts_with = "public_key")]
        trust_signer: bool,
    },
}

/// Runs `scan` or `scan verify`.
pub fn run(args: ScanArgs, data: &Path) -> Result<Code, Failure> {
    if let Some(ScanCommand::Verify {
        dir,
        public_key,
        trust_signer,
    }) = args.verify
    {
        return verify(&dir, public_key.as_deref(), trust_signer);
    }
    super::no_core_dumps();
    let (Some(case_id), Some(out)) = (args.case_id.clone(), args.out.clone()) else {
        return Err(Failure::usage(
            "scan needs --case and --out (see hashguard scan --help)",
        ));
    };
    if case_id.trim().is_empty() {
        return Err(Failure::usage("--case must not be empty"));
    }
    let store = Store::open_read_only(data).map_err(|e| {
        Failure::config(format!(
            "no hash lists to scan against in {}: {e} (import lists with `hashguard lists import`, or give --data)",
            data.display()
        ))
    })?;
    let lists = Matcher::load_all(std::sync::Arc::new(store))
        .map_err(|e| Failure::config(format!("loading lists: {e}")))?;
    let key_path = args
        .signing_key
        .clone()
        .unwrap_or_else(|| data.join("keys/scan-signing.key"));
    let key = manifest::load_or_create_key(&key_path)
        .map_err(|e| Failure::usage(format!("signing key: {e}")))?;
    // The public half beside it, for those who verify the reports (`scan verify --public-key`).
    let public = hex::encode(key.verifying_key().as_bytes());
    let pub_path = key_path.with_extension("key.pub");
    if std::fs::read_to_string(&pub_path)
        .map(|t| t.trim().to_string())
        .ok()
        != Some(public.clone())
    {
        std::fs::write(&pub_path, format!("{public}\n"))
            .map_err(|e| Failure::io(format!("writing {}: {e}", pub_path.display())))?;
    }
    let opts = ScanOptions {
        case_id,
        operator: args.operator.clone(),
        out,
        resume: args.resume,
        perceptual: !args.no_perceptual,
        limits: Limits::default(),
        batch: args.batch,
        containers: ContainerLimits {
            open: !args.no_containers,
            max_depth: args.max_depth,
            max_ratio: args.max_ratio,
            max_expanded_bytes: args.max_expanded,
            max_members: args.max_members,
            max_carved_bytes: args.max_carved,
            force_disk: args.disk_image,
            ..ContainerLimits::default()
        },
        decoding: args
            .decoders
            .decoding(args.threads.map(usize::from), args.threads.map(usize::from))?,
    };
    let pool = super::worker_pool(args.threads.map_or(0, usize::from))?;

    let mut reporter = Reporter::new(args.quiet, &args.paths);
    let result = pool.install(|| {
        scan::scan(&args.paths, &lists, &opts, &key, &mut |p| {
            reporter.update(p)
        })
    });
    reporter.finish();
    let done = result?;
    let t = &done.totals;
    if !args.quiet {
        eprintln!(
            "hashguard: scanned {} entries ({}) into {}",
            t.found,
            Outcome::ALL
                .iter()
                .filter(|o| t.count(**o) > 0 || matches!(o, Outcome::Match | Outcome::Clean))
                .map(|o| format!("{} {}", t.count(*o), o.code()))
                .collect::<Vec<_>>()
                .join(", "),
            opts.out.display()
        );
    }
    let matched = t.count(Outcome::Match) > 0;
    let incomplete = Outcome::ALL
        .iter()
        .any(|o| o.is_incomplete() && t.count(*o) > 0);
    Ok(match (matched, incomplete) {
        (false, false) => Code::OK,
        (true, false) => Code::MATCHES,
        (false, true) => Code::INCOMPLETE,
        (true, true) => Code::MATCHES_INCOMPLETE,
    })
}

/// A signer's short fingerprint: the first 16 hex characters of the SHA-256 of its key.
fn fingerprint(public_key_hex: &str) -> String {
    use sha2::{Digest, Sha256};
    let bytes = hex::decode(public_key_hex).unwrap_or_default();
    hex::encode(&Sha256::digest(bytes)[..8])
}

fn verify(dir: &Path, public_key: Option<&str>, trust_signer: bool) -> Result<Code, Failure> {
    let expected = match public_key {
        None => None,
        Some(given) => {
            // A file of the key, else the key itself.
            let text = match std::fs::read_to_string(given) {
                Ok(t) => t,
                Err(_) => given.to_string(),
            };
            let parsed = hex::decode(text.trim())
                .ok()
                .and_then(|b| <[u8; 32]>::try_from(b).ok())
                .and_then(|b| ed25519_dalek::VerifyingKey::from_bytes(&b).ok());
            Some(parsed.ok_or_else(|| {
                Failure::usage(
                    "--public-key must be 64 hex characters of an ed25519 key, or a file of them",
                )
            })?)
        }
    };
    let m = manifest::verify(dir, expected.as_ref())?;
    if expected.is_none() && !trust_signer {
        // Any key can sign a manifest: without the expected one, a verification proves nothing
        // about who made the report.
        return Err(Failure::new(
            Code::DATA_ERR,
            format!(
                "the outputs match the manifest, but no signer was given: it is signed by {} (fingerprint {}); pass --public-key, or --trust-signer",
                m.public_key,
                fingerprint(&m.public_key)
            ),
        ));
    }
    if trust_signer {
        eprintln!(
            "hashguard: trusting the signer of {} as asked: key {} (fingerprint {})",
            dir.display(),
            m.public_key,
            fingerprint(&m.public_key)
        );
    }
    let records = m.chains.first().map_or(0, |c| c.records);
    println!(
        "verified: case {}, {} records, {} outputs, signed by {}",
        m.case_id,
        records,
        m.files.len() + 1,
        fingerprint(&m.public_key)
    );
    Ok(Code::OK)
}

/// A progress bar on a terminal, a summary line every 10 s otherwise, nothing with --quiet.
struct Reporter {
    bar: Option<ProgressBar>,
    quiet: bool,
    started: Instant,
    last_line: Instant,
}

impl Reporter {
    fn new(quiet: bool, paths: &[PathBuf]) -> Self {
        let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
            // Counting first gives the bar a length and an ETA; it only lists directories.
            let total = hashguard::files::walk(paths.iter().cloned()).count() as u64;
            let bar = ProgressBar::new(total);
            bar.set_style(
                ProgressStyle::with_template(
                    "{bar:30} {pos}/{len} files {per_sec} {msg} eta {eta}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar
        });
        Reporter {
            bar,
            quiet,
            started: Instant::now(),
            last_line: Instant::now(),
        }
    }

    fn update(&mut self, p: scan::Progress) {
        let mb_s = p.bytes as f64 / 1e6 / self.started.elapsed().as_secs_f64().max(1e-3);
        if let Some(bar) = &self.bar {
            bar.set_position(p.files);
            bar.set_message(format!("{mb_s:.1} MB/s, {} matched", p.matched));
        } else if !self.quiet && self.last_line.elapsed() >= Duration::from_secs(10) {
            self.last_line = Instant::now();
            eprintln!(
                "hashguard: scan: {} entries, {:.1} MB ({mb_s:.1} MB/s), {} matched",
                p.files,
                p.bytes as f64 / 1e6,
                p.matched
            );
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
