//! Bulk scan of seized media: every entry under the inputs gets exactly one record with one
//! outcome, matched against the loaded lists, written as it goes so that a killed scan resumes
//! where it stopped, and finished with signed, hash-chained outputs (see [`manifest`]).
//!
//! Files are processed in walk order, in batches hashed in parallel; after each batch the
//! records are appended and synced, then a checkpoint naming the byte lengths of the outputs is
//! replaced atomically. Resuming truncates the outputs to the checkpoint and skips the entries
//! it covers, so the finished outputs equal those of an uninterrupted run.

pub mod manifest;
pub mod report;

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::files::{self, Entry, io_detail};
use crate::fingerprint::{self, FileRecord, HashRequest, Reason};
use crate::hashing::{AnyHash, DigestSet, Dihedral, HashKind, Sha256Digest};
use crate::lists::{self, LoadedList};
use crate::media::{Limits, MediaKind};
use crate::store::Store;

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
}

impl Outcome {
    /// Every outcome, in report order.
    pub const ALL: [Outcome; 6] = [
        Outcome::Match,
        Outcome::Clean,
        Outcome::DecodeFailed,
        Outcome::Unreadable,
        Outcome::TooLarge,
        Outcome::Skipped,
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
        }
    }

    /// True for outcomes that leave a file not (fully) processed.
    pub fn is_incomplete(self) -> bool {
        matches!(
            self,
            Outcome::DecodeFailed | Outcome::Unreadable | Outcome::TooLarge
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
}

fn is_zero(v: &u32) -> bool {
    *v == 0
}

/// One line of `matches.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MatchRecord {
    /// The file's record.
    pub seq: u64,
    /// The file's path.
    pub path: String,
    /// List name.
    pub list: String,
    /// List version used.
    pub list_version: u32,
    /// The list's id of the matching entry.
    pub entry: String,
    /// Hash kind that matched.
    pub kind: HashKind,
    /// The entry's hash, hex.
    pub entry_hash: String,
    /// Hamming distance (0 for digests).
    pub distance: u32,
    /// Category of the entry, else of the list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// For videos: the first matching frame's time, seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frame_ts: Option<f64>,
    /// For videos: how many frames matched this entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frames_matched: Option<u32>,
    /// For images: the rotation or flip of the file that matched, when not the original.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dihedral: Option<Dihedral>,
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

/// The lists a scan matches against.
pub struct Lists {
    store: Arc<Store>,
    lists: Vec<LoadedList>,
}

impl Lists {
    /// Every list in the store, loaded.
    pub fn load_all(store: Arc<Store>) -> Result<Self, lists::Error> {
        let metas = lists::all(&store)?;
        let lists = metas
            .iter()
            .map(|m| lists::load(&store, m))
            .collect::<Result<_, _>>()?;
        Ok(Lists { store, lists })
    }

    /// The loaded lists.
    pub fn loaded(&self) -> &[LoadedList] {
        &self.lists
    }

    /// Name, kind, version and entry count of each list.
    pub fn used(&self) -> Vec<report::ListUsed> {
        self.lists
            .iter()
            .map(|l| report::ListUsed {
                name: l.meta.name.clone(),
                version: l.meta.version,
                entries: l.meta.entries,
                digest: l.meta.digest.clone(),
                kinds: l.meta.kinds.clone(),
            })
            .collect()
    }

    /// Every match of a file's hashes (and its video frames), one per list entry.
    pub fn matches(&self, seq: u64, rec: &FileRecord) -> Result<Vec<MatchRecord>, Error> {
        let mut queries: Vec<(AnyHash, Option<f64>)> = Vec::new();
        // With its rotations and flips at hand, an image's PDQ is queried through them below.
        let plain_pdq = rec.pdq.filter(|_| rec.pdq_variants.is_none());
        let digests = [
            rec.md5.map(AnyHash::Md5),
            rec.sha1.map(AnyHash::Sha1),
            rec.sha256.map(AnyHash::Sha256),
            plain_pdq.map(AnyHash::Pdq),
            rec.phash.map(AnyHash::Phash),
            rec.dhash.map(AnyHash::Dhash),
        ];
        queries.extend(digests.into_iter().flatten().map(|h| (h, None)));
        for f in rec.frames.iter().flatten() {
            queries.push((AnyHash::Pdq(f.pdq), Some(f.ts)));
        }
        let mut found: HashMap<(usize, u32), Found> = HashMap::new();
        for (li, l) in self.lists.iter().enumerate() {
            if let (true, Some(variants)) = (l.has_kind(HashKind::Pdq), &rec.pdq_variants) {
                for (m, v) in l.query_pdq_variants(variants) {
                    found.insert((li, m.entry), (m.distance, None, 0, v));
                }
            }
            for (q, ts) in &queries {
                for m in l.query(q) {
                    let e = found
                        .entry((li, m.entry))
                        .or_insert((m.distance, *ts, 0, 0));
                    e.0 = e.0.min(m.distance);
                    if ts.is_some() {
                        e.2 += 1;
                    }
                }
            }
        }
        let mut keys: Vec<_> = found.into_iter().collect();
        keys.sort_by_key(|((li, entry), _)| (*li, *entry));
        let mut out = Vec::with_capacity(keys.len());
        for ((li, entry), (distance, frame_ts, frames, variant)) in keys {
            let l = &self.lists[li];
            let stored = lists::entry(&self.store, &l.meta, entry)?;
            out.push(MatchRecord {
                seq,
                path: rec.path.clone(),
                list: l.meta.name.clone(),
                list_version: l.meta.version,
                entry_hash: hex::encode(stored.hash_bytes()),
                kind: stored.hash.kind(),
                entry: stored.id,
                distance,
                category: stored.category.or_else(|| l.meta.category.clone()),
                frame_ts,
                frames_matched: (frames > 0).then_some(frames),
                dihedral: (variant > 0).then(|| Dihedral::ALL[variant]),
            });
        }
        Ok(out)
    }
}

/// One list entry's best hit for a file: (distance, first frame time, frames matched,
/// dihedral variant index).
type Found = (u32, Option<f64>, u32, usize);

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
}

impl Totals {
    fn add(&mut self, r: &ScanRecord, matches: usize) {
        self.found += 1;
        *self
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

/// What the checkpoint records after each batch.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Checkpoint {
    format: u32,
    case_id: String,
    inputs: Vec<String>,
    perceptual: bool,
    started_at: u64,
    files_len: u64,
    matches_len: u64,
    last_path: Option<String>,
    totals: Totals,
}

const CHECKPOINT: &str = ".checkpoint.json";
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
    pub summary: report::Summary,
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Scans `inputs` into `opts.out`, then writes the reports and the signed manifest.
pub fn scan(
    inputs: &[PathBuf],
    lists: &Lists,
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
    let mut walk = files::walk(inputs.iter().cloned()).enumerate().peekable();
    // Skip what the checkpoint covers, checking that the tree still lists the same way.
    if done > 0 {
        let mut last = None;
        for _ in 0..done {
            match walk.next() {
                Some((_, e)) => last = Some(entry_path(&e).to_string_lossy().into_owned()),
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
        let batch: Vec<(usize, Entry)> = walk.by_ref().take(opts.batch.max(1)).collect();
        let records = process_batch(batch, &req, &opts.limits, lists, &seen)?;
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

    let summary = report::Summary {
        case_id: opts.case_id.clone(),
        operator: opts.operator.clone(),
        host: report::hostname(),
        tool: format!("hashguard {}", env!("CARGO_PKG_VERSION")),
        tool_revision: option_env!("HASHGUARD_GIT_REV")
            .unwrap_or("unknown")
            .to_string(),
        inputs: input_names,
        perceptual: opts.perceptual,
        started_at: state.started_at,
        finished_at: now_secs(),
        lists: lists.used(),
        totals: state.totals.clone(),
    };
    report::write_all(&opts.out, &summary)?;
    manifest::write(&opts.out, &opts.case_id, key)?;
    // The scan is complete: the checkpoint has done its job.
    let _ = fs::remove_file(opts.out.join(CHECKPOINT));
    Ok(Finished {
        totals: state.totals,
        summary,
    })
}

/// Remembered across batches: which inodes and contents were already seen, and where their
/// records are in `files.jsonl` (read back when a duplicate needs them, so memory holds a few
/// dozen bytes per file rather than whole records).
struct Seen {
    files: PathBuf,
    inodes: HashMap<(u64, u64), u64>,
    contents: HashMap<Sha256Digest, u64>,
    /// seq -> (offset, length) of the record's line in files.jsonl.
    lines: HashMap<u64, (u64, u32)>,
    /// Matches of matched first records, by seq.
    matched: HashMap<u64, Vec<MatchRecord>>,
}

impl Seen {
    fn new(files: PathBuf) -> Self {
        Seen {
            files,
            inodes: HashMap::new(),
            contents: HashMap::new(),
            lines: HashMap::new(),
            matched: HashMap::new(),
        }
    }

    fn remember(&mut self, rec: &ScanRecord, ms: &[MatchRecord], offset: u64, len: usize) {
        if rec.hard_link_of.is_some() || rec.same_as.is_some() {
            return;
        }
        let mut first = false;
        if let Some(ino) = rec.inode.as_deref().and_then(parse_inode) {
            first |= self.inodes.insert(ino, rec.seq).is_none();
        }
        if let Some(sha) = rec.file.sha256 {
            first |= self.contents.insert(sha, rec.seq).is_none();
        }
        if first {
            self.lines.insert(rec.seq, (offset, len as u32));
            if !ms.is_empty() {
                self.matched.insert(rec.seq, ms.to_vec());
            }
        }
    }

    /// An earlier batch's first record and its matches.
    fn load(&self, seq: u64) -> Result<Option<(ScanRecord, Vec<MatchRecord>)>, Error> {
        use std::io::{Seek, SeekFrom};
        let Some(&(offset, len)) = self.lines.get(&seq) else {
            return Ok(None);
        };
        let mut f = File::open(&self.files).map_err(io_err(FILES))?;
        let mut line = vec![0u8; len as usize];
        f.seek(SeekFrom::Start(offset))
            .and_then(|_| f.read_exact(&mut line))
            .map_err(io_err(FILES))?;
        let rec: ScanRecord = serde_json::from_slice(&line)
            .map_err(|e| Error::Resume(format!("files.jsonl record {seq}: {e}")))?;
        let ms = self.matched.get(&seq).cloned().unwrap_or_default();
        Ok(Some((rec, ms)))
    }
}

fn parse_inode(s: &str) -> Option<(u64, u64)> {
    let (d, i) = s.split_once(':')?;
    Some((d.parse().ok()?, i.parse().ok()?))
}

fn entry_path(e: &Entry) -> &Path {
    match e {
        Entry::File(p) | Entry::Skipped(p, _) | Entry::Unreadable(p, _) => p,
    }
}

/// An entry after the parallel step: its plan and, when it was read, its record, whether it
/// changed while read, and its matches (looked up in parallel too; unused for a duplicate).
type Hashed = (
    u64,
    Plan,
    Option<(FileRecord, bool, Result<Vec<MatchRecord>, Error>)>,
);

/// What one entry needs before it is hashed.
enum Plan {
    Hash {
        path: PathBuf,
        inode: (u64, u64),
        before: (u64, i64, i64),
    },
    HardLink {
        path: PathBuf,
        inode: (u64, u64),
        first: u64,
    },
    Done(Box<FileRecord>),
}

fn process_batch(
    batch: Vec<(usize, Entry)>,
    req: &HashRequest,
    limits: &Limits,
    lists: &Lists,
    seen: &Seen,
) -> Result<Vec<(ScanRecord, Vec<MatchRecord>)>, Error> {
    // Sequential: hard links are decided in walk order so every run decides the same way.
    let mut batch_inodes: HashMap<(u64, u64), u64> = HashMap::new();
    let plans: Vec<(u64, Plan)> = batch
        .into_iter()
        .map(|(seq, entry)| {
            let seq = seq as u64;
            let plan = match entry {
                Entry::Skipped(p, why) => {
                    Plan::Done(Box::new(FileRecord::failed(&p, Reason::Skipped, why)))
                }
                Entry::Unreadable(p, why) => {
                    Plan::Done(Box::new(FileRecord::failed(&p, Reason::Unreadable, why)))
                }
                Entry::File(p) => match fs::metadata(&p) {
                    Err(e) => {
                        let detail = removed_detail(&e);
                        Plan::Done(Box::new(FileRecord::failed(&p, Reason::Unreadable, detail)))
                    }
                    Ok(m) => {
                        let inode = (m.dev(), m.ino());
                        let earlier = seen
                            .inodes
                            .get(&inode)
                            .or_else(|| batch_inodes.get(&inode))
                            .copied();
                        match earlier {
                            Some(first) if m.nlink() > 1 => Plan::HardLink {
                                path: p,
                                inode,
                                first,
                            },
                            _ => {
                                batch_inodes.insert(inode, seq);
                                Plan::Hash {
                                    path: p,
                                    inode,
                                    before: (m.len(), m.mtime(), m.mtime_nsec()),
                                }
                            }
                        }
                    }
                },
            };
            (seq, plan)
        })
        .collect();

    let contents = &seen.contents;
    let hashed: Vec<Hashed> = plans
        .into_par_iter()
        .map(|(seq, plan)| match plan {
            Plan::Hash {
                ref path, before, ..
            } => {
                let (file, changed) = hash_file(path, before, req, limits, contents);
                let ms = lists.matches(seq, &file);
                (seq, plan, Some((file, changed, ms)))
            }
            other => (seq, other, None),
        })
        .collect();

    let mut out = Vec::with_capacity(hashed.len());
    let mut batch_firsts: HashMap<Sha256Digest, u64> = HashMap::new();
    for (seq, plan, result) in hashed {
        let (mut rec, ms) = match (plan, result) {
            (Plan::Done(file), _) => {
                let rec = ScanRecord {
                    seq,
                    outcome: outcome_of(&file, 0),
                    file: *file,
                    inode: None,
                    hard_link_of: None,
                    same_as: None,
                    changed_during_scan: false,
                    matches: 0,
                };
                (rec, Vec::new())
            }
            (Plan::HardLink { path, inode, first }, _) => {
                let earlier = earlier_record(seen, &out, first)?;
                match earlier {
                    Some((orig, ms)) => copy_of(seq, &path, inode, &orig, &ms, true),
                    // The first link was not hashable (removed meanwhile): read this one.
                    None => {
                        let rec = hash_file(&path, (0, 0, 0), req, limits, contents).0;
                        let ms = lists.matches(seq, &rec)?;
                        let rec = ScanRecord {
                            seq,
                            outcome: outcome_of(&rec, ms.len()),
                            file: rec,
                            inode: Some(format!("{}:{}", inode.0, inode.1)),
                            hard_link_of: None,
                            same_as: None,
                            changed_during_scan: false,
                            matches: ms.len() as u32,
                        };
                        (rec, ms)
                    }
                }
            }
            (Plan::Hash { path, inode, .. }, Some((file, changed, ms))) => {
                let earlier = file.sha256.and_then(|sha| {
                    seen.contents
                        .get(&sha)
                        .or_else(|| batch_firsts.get(&sha))
                        .copied()
                });
                let dup = match earlier {
                    Some(first) => earlier_record(seen, &out, first)?,
                    None => None,
                };
                match dup {
                    // Same bytes as an earlier file: reuse its hashes and matches.
                    Some((orig, ms)) => {
                        let (mut rec, ms) = copy_of(seq, &path, inode, &orig, &ms, false);
                        rec.changed_during_scan = changed;
                        (rec, ms)
                    }
                    _ => {
                        if let Some(sha) = file.sha256 {
                            batch_firsts.entry(sha).or_insert(seq);
                        }
                        let ms = ms?;
                        let rec = ScanRecord {
                            seq,
                            outcome: outcome_of(&file, ms.len()),
                            file,
                            inode: Some(format!("{}:{}", inode.0, inode.1)),
                            hard_link_of: None,
                            same_as: None,
                            changed_during_scan: changed,
                            matches: ms.len() as u32,
                        };
                        (rec, ms)
                    }
                }
            }
            (Plan::Hash { .. }, None) => unreachable!("every Hash plan is hashed"),
        };
        rec.matches = ms.len() as u32;
        out.push((rec, ms));
    }
    Ok(out)
}

/// The record of `seq`, from this batch or an earlier one.
fn earlier_record(
    seen: &Seen,
    batch: &[(ScanRecord, Vec<MatchRecord>)],
    seq: u64,
) -> Result<Option<(ScanRecord, Vec<MatchRecord>)>, Error> {
    if let Some(found) = batch.iter().find(|(r, _)| r.seq == seq) {
        return Ok(Some(found.clone()));
    }
    seen.load(seq)
}

/// A record for `path` repeating `orig`'s hashes and matches (a hard link or a duplicate).
fn copy_of(
    seq: u64,
    path: &Path,
    inode: (u64, u64),
    orig: &ScanRecord,
    ms: &[MatchRecord],
    hard_link: bool,
) -> (ScanRecord, Vec<MatchRecord>) {
    let fresh = FileRecord::new(path);
    let mut file = orig.file.clone();
    file.path = fresh.path;
    file.path_hex = fresh.path_hex;
    // Video frames are in the first record only; the reference says where.
    file.frames = None;
    let ms: Vec<MatchRecord> = ms
        .iter()
        .map(|m| MatchRecord {
            seq,
            path: file.path.clone(),
            ..m.clone()
        })
        .collect();
    let rec = ScanRecord {
        seq,
        outcome: orig.outcome,
        file,
        inode: Some(format!("{}:{}", inode.0, inode.1)),
        hard_link_of: hard_link.then_some(orig.seq),
        same_as: (!hard_link).then_some(orig.seq),
        changed_during_scan: false,
        matches: ms.len() as u32,
    };
    (rec, ms)
}

fn removed_detail(e: &io::Error) -> String {
    if e.kind() == io::ErrorKind::NotFound {
        "removed during the scan (not found)".to_string()
    } else {
        io_detail(e)
    }
}

/// Reads a file once: digests always; perceptual hashes unless the same bytes were already
/// decoded in an earlier batch. Returns the record and whether the file changed while read.
fn hash_file(
    path: &Path,
    before: (u64, i64, i64),
    req: &HashRequest,
    limits: &Limits,
    decoded_before: &HashMap<Sha256Digest, u64>,
) -> (FileRecord, bool) {
    // Non-blocking and not following links: an entry swapped for a FIFO or a symlink since it
    // was listed must not hang the scan or lead it outside the evidence.
    use std::os::unix::fs::OpenOptionsExt;
    let opened = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW)
        .open(path);
    let mut file = match opened {
        Ok(f) => f,
        Err(e) => {
            return (
                FileRecord::failed(path, Reason::Unreadable, removed_detail(&e)),
                false,
            );
        }
    };
    match file.metadata() {
        Ok(m) if m.is_file() => {}
        Ok(_) => {
            let rec = FileRecord::failed(
                path,
                Reason::Skipped,
                "replaced by a non-regular file during the scan",
            );
            return (rec, true);
        }
        Err(e) => {
            return (
                FileRecord::failed(path, Reason::Unreadable, io_detail(&e)),
                false,
            );
        }
    }
    if before.0 > limits.max_file_bytes {
        // Too big to hold: streamed for digests (videos are decoded from the path).
        let rec = fingerprint::fingerprint_file(path, req, limits);
        return (rec, changed(path, before));
    }
    let mut bytes = Vec::with_capacity(before.0 as usize);
    if let Err(e) = file.read_to_end(&mut bytes) {
        return (
            FileRecord::failed(path, Reason::Unreadable, io_detail(&e)),
            false,
        );
    }
    let mut rec = FileRecord::new(path);
    let digests_only = HashRequest {
        pdq: false,
        phash: false,
        dhash: false,
        ..*req
    };
    fingerprint::fingerprint_bytes(&bytes, &digests_only, limits, &mut rec);
    let already = rec.sha256.is_some_and(|s| decoded_before.contains_key(&s));
    if req.needs_decode() && !already {
        let perceptual = HashRequest {
            digests: DigestSet::NONE,
            ..*req
        };
        fingerprint::fingerprint_bytes(&bytes, &perceptual, limits, &mut rec);
    }
    let changed = changed(path, before) || bytes.len() as u64 != before.0;
    (rec, changed)
}

fn changed(path: &Path, before: (u64, i64, i64)) -> bool {
    match fs::metadata(path) {
        Ok(m) => (m.len(), m.mtime(), m.mtime_nsec()) != before,
        Err(_) => true,
    }
}

fn outcome_of(rec: &FileRecord, matches: usize) -> Outcome {
    if matches > 0 {
        return Outcome::Match;
    }
    match rec.error {
        None => Outcome::Clean,
        Some(Reason::DecodeFailed) => Outcome::DecodeFailed,
        // Not media at all: its digests were checked, nothing else applies.
        Some(Reason::UnsupportedFormat) if rec.kind == MediaKind::Other => Outcome::Clean,
        // Media hashguard recognises but does not decode (HEIF, AVIF).
        Some(Reason::UnsupportedFormat) => Outcome::DecodeFailed,
        Some(Reason::TooLarge | Reason::TooLong) => Outcome::TooLarge,
        Some(Reason::Unreadable) => Outcome::Unreadable,
        Some(Reason::Skipped) => Outcome::Skipped,
    }
}

/// Prepares `opts.out`: a fresh scan needs an empty or new directory; a resume needs a
/// checkpoint for the same case and inputs, and truncates the outputs to it.
fn open_outputs(opts: &ScanOptions, inputs: &[String]) -> Result<(Checkpoint, Seen), Error> {
    let dir = &opts.out;
    let checkpoint_path = dir.join(CHECKPOINT);
    if !opts.resume {
        if dir.exists()
            && fs::read_dir(dir)
                .map_err(io_err(format!("reading {}", dir.display())))?
                .next()
                .is_some()
        {
            let hint = if checkpoint_path.exists() {
                "it holds an unfinished scan: add --resume to continue it"
            } else {
                "it is not empty: choose a new --out directory"
            };
            return Err(Error::Usage(format!(
                "output directory {}: {hint}",
                dir.display()
            )));
        }
        fs::create_dir_all(dir).map_err(io_err(format!("creating {}", dir.display())))?;
        let state = Checkpoint {
            format: 1,
            case_id: opts.case_id.clone(),
            inputs: inputs.to_vec(),
            perceptual: opts.perceptual,
            started_at: now_secs(),
            files_len: 0,
            matches_len: 0,
            last_path: None,
            totals: Totals::default(),
        };
        for name in [FILES, MATCHES] {
            File::create(dir.join(name)).map_err(io_err(format!("creating {name}")))?;
        }
        write_checkpoint(dir, &state)?;
        return Ok((state, Seen::new(dir.join(FILES))));
    }
    let text = fs::read_to_string(&checkpoint_path).map_err(|e| {
        Error::Usage(format!(
            "--resume: no unfinished scan in {} ({})",
            dir.display(),
            io_detail(&e)
        ))
    })?;
    let state: Checkpoint = serde_json::from_str(&text)
        .map_err(|e| Error::Resume(format!("checkpoint unreadable: {e}")))?;
    if state.case_id != opts.case_id
        || state.inputs != inputs
        || state.perceptual != opts.perceptual
    {
        return Err(Error::Usage(format!(
            "--resume: the scan in {} was for case {:?} over {:?}; give the same case, inputs and options",
            dir.display(),
            state.case_id,
            state.inputs
        )));
    }
    // Drop anything written after the last checkpoint.
    for (name, len) in [(FILES, state.files_len), (MATCHES, state.matches_len)] {
        let f = OpenOptions::new()
            .write(true)
            .open(dir.join(name))
            .map_err(io_err(format!("opening {name}")))?;
        let actual = f.metadata().map_err(io_err(name))?.len();
        if actual < len {
            return Err(Error::Resume(format!(
                "{name} is shorter than its checkpoint ({actual} < {len} bytes)"
            )));
        }
        f.set_len(len)
            .map_err(io_err(format!("truncating {name}")))?;
        f.sync_all().map_err(io_err(name))?;
    }
    let seen = rebuild_seen(dir)?;
    Ok((state, seen))
}

/// The duplicate maps from the records already written.
fn rebuild_seen(dir: &Path) -> Result<Seen, Error> {
    let mut by_seq: HashMap<u64, Vec<MatchRecord>> = HashMap::new();
    for line in BufReader::new(File::open(dir.join(MATCHES)).map_err(io_err(MATCHES))?).lines() {
        let line = line.map_err(io_err(MATCHES))?;
        let m: MatchRecord = serde_json::from_str(&line)
            .map_err(|e| Error::Resume(format!("matches.jsonl: {e}")))?;
        by_seq.entry(m.seq).or_default().push(m);
    }
    let mut seen = Seen::new(dir.join(FILES));
    let mut offset = 0u64;
    for line in BufReader::new(File::open(dir.join(FILES)).map_err(io_err(FILES))?).lines() {
        let line = line.map_err(io_err(FILES))?;
        let r: ScanRecord =
            serde_json::from_str(&line).map_err(|e| Error::Resume(format!("files.jsonl: {e}")))?;
        let ms = by_seq.remove(&r.seq).unwrap_or_default();
        seen.remember(&r, &ms, offset, line.len());
        offset += line.len() as u64 + 1;
    }
    Ok(seen)
}

fn write_checkpoint(dir: &Path, state: &Checkpoint) -> Result<(), Error> {
    let tmp = dir.join(".checkpoint.tmp");
    let body = serde_json::to_vec(state).map_err(|e| Error::Io {
        what: "encoding the checkpoint".into(),
        source: e.into(),
    })?;
    write_synced(&tmp, &body)?;
    fs::rename(&tmp, dir.join(CHECKPOINT)).map_err(io_err("replacing the checkpoint"))?;
    sync_dir(dir)
}

/// Writes `path` and syncs it to disk.
pub(crate) fn write_synced(path: &Path, body: &[u8]) -> Result<(), Error> {
    let mut f = File::create(path).map_err(io_err(format!("creating {}", path.display())))?;
    f.write_all(body)
        .and_then(|_| f.sync_all())
        .map_err(io_err(format!("writing {}", path.display())))
}

/// Syncs a directory, so renames and new files in it survive a crash.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), Error> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(format!("syncing {}", dir.display())))
}
