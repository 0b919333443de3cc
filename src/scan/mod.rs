//! Bulk scan of seized media: every entry under the inputs gets exactly one record with one
//! outcome, matched against the loaded lists, written as it goes so that a killed scan resumes
//! where it stopped, and finished with signed, hash-chained outputs (see [`manifest`]).
//!
//! Files are processed in walk order, in batches hashed in parallel; after each batch the
//! records are appended and synced, then a checkpoint naming the byte lengths of the outputs is
//! replaced atomically. Resuming truncates the outputs to the checkpoint and skips the entries
//! it covers, so the finished outputs equal those of an uninterrupted run.

mod batch;
pub mod case;
pub mod manifest;
pub mod minisign;
pub mod outputs;
mod resume;

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::containers::{ContainerLimits, Expand, Item};
use crate::files::{self, Entry, io_detail};
use crate::fingerprint::{self, FileRecord, HashRequest, Reason};
use crate::hashing::{DigestSet, Sha256Digest};
use crate::lists;
use crate::matcher::{Hit, Matcher, Query};
use crate::media::{Limits, MediaKind};
use crate::sandbox::{Cancel, Decoding};
use batch::*;
use resume::*;

/// The one outcome of a scanned entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Hashed, and at least one list matched (also for a file that failed to decode but whose
    /// digests matched).
    Match,
    /// Hashed, and nothing matched (also files that are not media: their digests were checked).
    Clean,
    /// Media that could not be decoded (broken, truncated, or an image format not decoded);
    /// its digests were still checked.
    DecodeFailed,
    /// Could not be read (permission denied, removed during the scan, I/O error).
    Unreadable,
    /// Over a size or length limit; its digests were still checked.
    TooLarge,
    /// Not a regular file (symlink, FIFO, socket, device), by policy.
    Skipped,
    /// Encrypted inside a container: recorded, its content not readable without the key.
    Encrypted,
    /// A container, or the rest of one, that was not opened (nested past the depth cap, over
    /// an expansion cap, damaged); its own digests, when it has any, were still checked.
    NotOpened,
}

impl Outcome {
    /// Every outcome, in report order.
    pub const ALL: [Outcome; 8] = [
        Outcome::Match,
        Outcome::Clean,
        Outcome::DecodeFailed,
        Outcome::Unreadable,
        Outcome::TooLarge,
        Outcome::Skipped,
        Outcome::Encrypted,
        Outcome::NotOpened,
    ];

    /// The code written in records.
    pub fn code(self) -> &'static str {
        match self {
            Outcome::Match => "match",
            Outcome::Clean => "clean",
            Outcome::DecodeFailed => "decode_failed",
            Outcome::Unreadable => "unreadable",
            Outcome::TooLarge => "too_large",
            Outcome::Skipped => "skipped",
            Outcome::Encrypted => "encrypted",
            Outcome::NotOpened => "not_opened",
        }
    }

    /// True for outcomes that leave a file not (fully) processed.
    pub fn is_incomplete(self) -> bool {
        matches!(
            self,
            Outcome::DecodeFailed
                | Outcome::Unreadable
                | Outcome::TooLarge
                | Outcome::Encrypted
                | Outcome::NotOpened
        )
    }
}

/// One line of `files.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScanRecord {
    /// 0-based position in the walk.
    pub seq: u64,
    /// The outcome.
    pub outcome: Outcome,
    /// What was computed (path, kind, size, digests, perceptual hashes, error and detail).
    #[serde(flatten)]
    pub file: FileRecord,
    /// Device and inode (`dev:ino`) of a regular file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inode: Option<String>,
    /// A hard link to the file of this earlier record: not read again, same hashes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hard_link_of: Option<u64>,
    /// Same bytes (SHA-256) as this earlier record: its media was decoded once, there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub same_as: Option<u64>,
    /// The file's size or modification time changed while it was read.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub changed_during_scan: bool,
    /// Number of lines in `matches.jsonl` for this record.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub matches: u32,
    /// The containers this entry is in, outermost first (absent for a file of the walk).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub container: Vec<String>,
    /// This entry is a container and was opened as this format; its entries follow it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opened_as: Option<String>,
    /// Where it sits in a disk image (file system, metadata address, deleted).
    #[serde(flatten)]
    pub place: crate::containers::Place,
}

fn is_zero(v: &u32) -> bool {
    *v == 0
}

/// One line of `matches.jsonl`: a list entry that matched one file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MatchRecord {
    /// The file's record.
    pub seq: u64,
    /// The file's path.
    pub path: String,
    /// What matched.
    #[serde(flatten)]
    pub hit: Hit,
}

/// Why a scan could not run or finish.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The output directory holds a scan and `--resume` was not given (or the reverse).
    #[error("{0}")]
    Usage(String),
    /// The lists could not be loaded.
    #[error(transparent)]
    Lists(#[from] lists::Error),
    /// Writing an output failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being written.
        what: String,
        /// The I/O error.
        source: io::Error,
    },
    /// The checkpoint or outputs of the scan to resume are not usable.
    #[error("cannot resume: {0}")]
    Resume(String),
}

fn io_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> Error {
    let what = what.into();
    move |source| Error::Io { what, source }
}

/// Name, kind, version and entry count of each list a scan matched against.
fn lists_used(matcher: &Matcher) -> Vec<outputs::ListUsed> {
    matcher
        .lists()
        .iter()
        .map(|l| outputs::ListUsed {
            name: l.meta.name.clone(),
            version: l.meta.version,
            entries: l.meta.entries,
            digest: l.meta.digest.clone(),
            kinds: l.meta.kinds.clone(),
        })
        .collect()
}

/// Every match of a file's hashes (and its video frames), one per list entry.
fn matches_of(matcher: &Matcher, seq: u64, rec: &FileRecord) -> Result<Vec<MatchRecord>, Error> {
    Ok(matcher
        .matches(&Query::of_record(rec))?
        .into_iter()
        .map(|hit| MatchRecord {
            seq,
            path: rec.path.clone(),
            hit,
        })
        .collect())
}

/// How to scan.
#[derive(Debug, Clone)]
pub struct ScanOptions {
    /// Case identifier (required: it names the evidence).
    pub case_id: String,
    /// Who ran the scan, for the summary.
    pub operator: Option<String>,
    /// Output directory.
    pub out: PathBuf,
    /// Continue a scan killed earlier in `out`.
    pub resume: bool,
    /// Compute perceptual hashes (PDQ, pHash, dHash, video frames); off: digests only.
    pub perceptual: bool,
    /// Decoding limits.
    pub limits: Limits,
    /// Entries per checkpoint.
    pub batch: usize,
    /// Where files are decoded (`hashguard scan` uses sandboxed workers).
    pub decoding: Decoding,
    /// Which containers are opened, and their caps.
    pub containers: ContainerLimits,
}

/// Running totals, also the checkpoint's.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    /// Entries found.
    pub found: u64,
    /// Entries per outcome.
    pub outcomes: std::collections::BTreeMap<String, u64>,
    /// Bytes read.
    pub bytes: u64,
    /// Match lines written.
    pub match_lines: u64,
    /// The same counts per depth: 0 for the entries of the walk, 1 inside one container, and
    /// so on; `found` is the sum of the outcomes at every depth.
    #[serde(default)]
    pub depths: std::collections::BTreeMap<u32, DepthTotals>,
}

/// Entries found at one depth of containers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DepthTotals {
    /// Entries found.
    pub found: u64,
    /// Entries per outcome.
    pub outcomes: std::collections::BTreeMap<String, u64>,
}

impl Totals {
    fn add(&mut self, r: &ScanRecord, matches: usize) {
        self.found += 1;
        *self
            .outcomes
            .entry(r.outcome.code().to_string())
            .or_default() += 1;
        let depth = self.depths.entry(r.container.len() as u32).or_default();
        depth.found += 1;
        *depth
            .outcomes
            .entry(r.outcome.code().to_string())
            .or_default() += 1;
        if r.hard_link_of.is_none() {
            self.bytes += r.file.size.unwrap_or(0);
        }
        self.match_lines += matches as u64;
    }

    /// Entries with this outcome.
    pub fn count(&self, o: Outcome) -> u64 {
        self.outcomes.get(o.code()).copied().unwrap_or(0)
    }
}

/// Bytes of container members one batch may hold in memory before it is hashed.
const BATCH_MEMBER_BYTES: u64 = 1 << 30;

/// Output names.
pub const FILES: &str = "files.jsonl";
/// Output names.
pub const MATCHES: &str = "matches.jsonl";

/// Progress after each batch, for a progress bar or log line.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    /// Entries done.
    pub files: u64,
    /// Bytes read.
    pub bytes: u64,
    /// Matched files so far.
    pub matched: u64,
}

/// What a finished scan reports back.
#[derive(Debug, Clone)]
pub struct Finished {
    /// The totals.
    pub totals: Totals,
    /// The written summary.
    pub summary: outputs::Summary,
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Scans `inputs` into `opts.out`, then writes the reports and the signed manifest.
pub fn scan(
    inputs: &[PathBuf],
    matcher: &Matcher,
    opts: &ScanOptions,
    key: &ed25519_dalek::SigningKey,
    progress: &mut dyn FnMut(Progress),
) -> Result<Finished, Error> {
    let input_names: Vec<String> = inputs
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let (mut state, mut seen) = open_outputs(opts, &input_names)?;
    let files_path = opts.out.join(FILES);
    let matches_path = opts.out.join(MATCHES);
    let mut files_out = OpenOptions::new()
        .append(true)
        .open(&files_path)
        .map_err(io_err("opening files.jsonl"))?;
    let mut matches_out = OpenOptions::new()
        .append(true)
        .open(&matches_path)
        .map_err(io_err("opening matches.jsonl"))?;

    let mut req = if opts.perceptual {
        HashRequest::ALL
    } else {
        HashRequest {
            pdq: false,
            phash: false,
            dhash: false,
            ..HashRequest::ALL
        }
    };
    // Every digest, always: exact lists are MD5 and SHA-1 first, and records are evidence.
    req.digests = DigestSet::ALL;
    // Mirrored and rotated copies of listed images are matched too.
    req.pdq_dihedral = opts.perceptual;

    let done = state.totals.found;
    let mut walk = Expand::new(inputs, files::walk(inputs.iter().cloned()), opts.containers)
        .enumerate()
        .peekable();
    // Skip what the checkpoint covers, checking that the tree still lists the same way.
    if done > 0 {
        let mut last = None;
        for _ in 0..done {
            match walk.next() {
                Some((_, e)) => last = Some(e.path()),
                None => {
                    return Err(Error::Resume(
                        "the inputs now hold fewer entries than were scanned".into(),
                    ));
                }
            }
        }
        if last != state.last_path {
            return Err(Error::Resume(
                "the inputs changed since the scan began (the walk differs)".into(),
            ));
        }
    }
    while walk.peek().is_some() {
        // A batch ends at its entry count, or sooner once the container members it holds in
        // memory pass the byte budget.
        let mut batch: Vec<(usize, Item)> = Vec::new();
        let mut held = 0u64;
        while batch.len() < opts.batch.max(1) && held < BATCH_MEMBER_BYTES {
            let Some((seq, item)) = walk.next() else {
                break;
            };
            if let Item::Member(m) = &item
                && let crate::containers::Content::Bytes(b) = &m.content
            {
                held += b.len() as u64;
            }
            batch.push((seq, item));
        }
        let records = process_batch(batch, &req, &opts.limits, &opts.decoding, matcher, &seen)?;
        let mut files_buf = Vec::new();
        let mut matches_buf = Vec::new();
        for (rec, ms) in &records {
            let at = files_buf.len();
            serde_json::to_writer(&mut files_buf, rec).map_err(|e| Error::Io {
                what: "encoding a record".into(),
                source: e.into(),
            })?;
            seen.remember(rec, ms, state.files_len + at as u64, files_buf.len() - at);
            files_buf.push(b'\n');
            for m in ms {
                serde_json::to_writer(&mut matches_buf, m).map_err(|e| Error::Io {
                    what: "encoding a match".into(),
                    source: e.into(),
                })?;
                matches_buf.push(b'\n');
            }
            state.totals.add(rec, ms.len());
            state.last_path = Some(rec.file.path.clone());
        }
        files_out
            .write_all(&files_buf)
            .and_then(|_| files_out.sync_data())
            .map_err(io_err("writing files.jsonl"))?;
        matches_out
            .write_all(&matches_buf)
            .and_then(|_| matches_out.sync_data())
            .map_err(io_err("writing matches.jsonl"))?;
        state.files_len += files_buf.len() as u64;
        state.matches_len += matches_buf.len() as u64;
        write_checkpoint(&opts.out, &state)?;
        progress(Progress {
            files: state.totals.found,
            bytes: state.totals.bytes,
            matched: state.totals.count(Outcome::Match),
        });
    }
    drop(files_out);
    drop(matches_out);

    let summary = outputs::Summary {
        case_id: opts.case_id.clone(),
        operator: opts.operator.clone(),
        host: outputs::hostname(),
        tool: format!("hashguard {}", env!("CARGO_PKG_VERSION")),
        tool_revision: option_env!("HASHGUARD_GIT_REV")
            .unwrap_or("unknown")
            .to_string(),
        inputs: input_names,
        perceptual: opts.perceptual,
        started_at: state.started_at,
        finished_at: now_secs(),
        lists: lists_used(matcher),
        totals: state.totals.clone(),
    };
    outputs::write_all(&opts.out, &summary)?;
    case::write(&opts.out, &summary)?;
    manifest::write(&opts.out, &opts.case_id, key)?;
    // The scan is complete: the checkpoint has done its job.
    let _ = fs::remove_file(opts.out.join(CHECKPOINT));
    Ok(Finished {
        totals: state.totals,
        summary,
    })
}
