//! One batch of a scan: every entry hashed in parallel (identical files and hard links decoded
//! once), matched, and given its one outcome.

use super::*;
use crate::containers::Content;

pub(super) fn parse_inode(s: &str) -> Option<(u64, u64)> {
    let (d, i) = s.split_once(':')?;
    Some((d.parse().ok()?, i.parse().ok()?))
}

/// An entry after the parallel step: its plan and, when it was read, its record, whether it
/// changed while read, and its matches (looked up in parallel too; unused for a duplicate).
pub(super) type Hashed = (
    u64,
    Plan,
    Extra,
    Option<(FileRecord, bool, Result<Vec<MatchRecord>, Error>)>,
);

/// Where an entry sits among containers, copied into its record.
#[derive(Default)]
pub(super) struct Extra {
    container: Vec<String>,
    opened_as: Option<String>,
    not_opened: Option<String>,
    place: crate::containers::Place,
}

/// What one entry needs before it is hashed.
pub(super) enum Plan {
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
    /// A container member held in memory.
    Member {
        path: String,
        bytes: std::sync::Arc<[u8]>,
    },
    Done(Box<FileRecord>),
}

pub(super) fn process_batch(
    batch: Vec<(usize, Item)>,
    req: &HashRequest,
    limits: &Limits,
    decoding: &Decoding,
    matcher: &Matcher,
    seen: &Seen,
) -> Result<Vec<(ScanRecord, Vec<MatchRecord>)>, Error> {
    // Sequential: hard links are decided in walk order so every run decides the same way.
    let mut batch_inodes: HashMap<(u64, u64), u64> = HashMap::new();
    let plans: Vec<(u64, Plan, Extra)> = batch
        .into_iter()
        .map(|(seq, item)| {
            let seq = seq as u64;
            let (entry, extra) = match item {
                Item::Walked(entry, opened_as, not_opened) => (
                    entry,
                    Extra {
                        opened_as,
                        not_opened,
                        ..Extra::default()
                    },
                ),
                Item::Member(m) => {
                    let m = *m;
                    let extra = Extra {
                        container: m.container,
                        opened_as: m.opened_as,
                        not_opened: m.not_opened,
                        place: m.place,
                    };
                    let plan = match m.content {
                        Content::Bytes(bytes) => Plan::Member {
                            path: m.path,
                            bytes,
                        },
                        Content::Record(rec) => Plan::Done(rec),
                    };
                    return (seq, plan, extra);
                }
            };
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
            (seq, plan, extra)
        })
        .collect();

    let contents = &seen.contents;
    let hashed: Vec<Hashed> = plans
        .into_par_iter()
        .map(|(seq, plan, extra)| match plan {
            Plan::Hash {
                ref path, before, ..
            } => {
                let (mut file, changed) = hash_file(path, before, req, limits, decoding, contents);
                not_opened(&mut file, &extra);
                let ms = matches_of(matcher, seq, &file);
                (seq, plan, extra, Some((file, changed, ms)))
            }
            Plan::Member {
                ref path,
                ref bytes,
            } => {
                let mut file = hash_read(
                    FileRecord::new(Path::new(path)),
                    bytes,
                    req,
                    limits,
                    decoding,
                    contents,
                );
                not_opened(&mut file, &extra);
                let ms = matches_of(matcher, seq, &file);
                (seq, plan, extra, Some((file, false, ms)))
            }
            other => (seq, other, extra, None),
        })
        .collect();

    let mut out = Vec::with_capacity(hashed.len());
    let mut batch_firsts: HashMap<Sha256Digest, u64> = HashMap::new();
    for (seq, plan, extra, result) in hashed {
        let (mut rec, ms) = match (plan, result) {
            (Plan::Done(file), _) => (fresh_record(seq, *file, None, 0), Vec::new()),
            (Plan::HardLink { path, inode, first }, _) => {
                let earlier = earlier_record(seen, &out, first)?;
                match earlier {
                    Some((orig, ms)) => copy_of(seq, &path, Some(inode), &orig, &ms, true),
                    // The first link was not hashable (removed meanwhile): read this one.
                    None => {
                        let rec = hash_file(&path, (0, 0, 0), req, limits, decoding, contents).0;
                        let ms = matches_of(matcher, seq, &rec)?;
                        (fresh_record(seq, rec, Some(inode), ms.len()), ms)
                    }
                }
            }
            (Plan::Member { path, .. }, Some((file, changed, ms))) => fresh_or_copy(
                seq,
                Path::new(&path),
                None,
                file,
                changed,
                ms,
                seen,
                &out,
                &mut batch_firsts,
            )?,
            (Plan::Hash { path, inode, .. }, Some((file, changed, ms))) => fresh_or_copy(
                seq,
                &path,
                Some(inode),
                file,
                changed,
                ms,
                seen,
                &out,
                &mut batch_firsts,
            )?,
            (Plan::Hash { .. } | Plan::Member { .. }, None) => {
                unreachable!("every Hash and Member plan is hashed")
            }
        };
        rec.matches = ms.len() as u32;
        rec.container = extra.container;
        rec.opened_as = extra.opened_as;
        rec.place = extra.place;
        out.push((rec, ms));
    }
    Ok(out)
}

/// A container not opened says so, unless something worse happened to it.
fn not_opened(file: &mut FileRecord, extra: &Extra) {
    if let Some(why) = &extra.not_opened
        && matches!(file.error, None | Some(Reason::UnsupportedFormat))
    {
        file.fail(Reason::NotOpened, why.clone());
    }
}

/// The record of a hashed entry, or a copy of an earlier record with the same bytes (its media
/// decoded once, there).
#[allow(clippy::too_many_arguments)]
fn fresh_or_copy(
    seq: u64,
    path: &Path,
    inode: Option<(u64, u64)>,
    file: FileRecord,
    changed: bool,
    ms: Result<Vec<MatchRecord>, Error>,
    seen: &Seen,
    out: &[(ScanRecord, Vec<MatchRecord>)],
    batch_firsts: &mut HashMap<Sha256Digest, u64>,
) -> Result<(ScanRecord, Vec<MatchRecord>), Error> {
    let earlier = file.sha256.and_then(|sha| {
        seen.contents
            .get(&sha)
            .or_else(|| batch_firsts.get(&sha))
            .copied()
    });
    let dup = match earlier {
        Some(first) => earlier_record(seen, out, first)?,
        None => None,
    };
    Ok(match dup {
        // Same bytes as an earlier file: reuse its hashes and matches.
        Some((orig, ms)) => {
            let (mut rec, ms) = copy_of(seq, path, inode, &orig, &ms, false);
            rec.changed_during_scan = changed;
            (rec, ms)
        }
        _ => {
            if let Some(sha) = file.sha256 {
                batch_firsts.entry(sha).or_insert(seq);
            }
            let ms = ms?;
            let mut rec = fresh_record(seq, file, inode, ms.len());
            rec.changed_during_scan = changed;
            (rec, ms)
        }
    })
}

/// The record of `seq`, from this batch or an earlier one.
pub(super) fn earlier_record(
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
pub(super) fn copy_of(
    seq: u64,
    path: &Path,
    inode: Option<(u64, u64)>,
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
    let mut rec = fresh_record(seq, file, inode, ms.len());
    rec.outcome = orig.outcome;
    rec.hard_link_of = hard_link.then_some(orig.seq);
    rec.same_as = (!hard_link).then_some(orig.seq);
    (rec, ms)
}

/// The record of an entry hashed on its own, with its outcome from its hashes and matches;
/// where it sits among containers is set by the caller.
fn fresh_record(
    seq: u64,
    file: FileRecord,
    inode: Option<(u64, u64)>,
    matches: usize,
) -> ScanRecord {
    ScanRecord {
        seq,
        outcome: outcome_of(&file, matches),
        file,
        inode: inode.map(|i| format!("{}:{}", i.0, i.1)),
        hard_link_of: None,
        same_as: None,
        changed_during_scan: false,
        matches: matches as u32,
        container: Vec::new(),
        opened_as: None,
        place: Default::default(),
    }
}

pub(super) fn removed_detail(e: &io::Error) -> String {
    if e.kind() == io::ErrorKind::NotFound {
        "removed during the scan (not found)".to_string()
    } else {
        io_detail(e)
    }
}

/// Reads a file once: digests always; perceptual hashes unless the same bytes were already
/// decoded in an earlier batch. Returns the record and whether the file changed while read.
pub(super) fn hash_file(
    path: &Path,
    before: (u64, i64, i64),
    req: &HashRequest,
    limits: &Limits,
    decoding: &Decoding,
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
        // Too big to hold: streamed for digests (videos decoded) through the descriptor just
        // opened, never by opening the path again.
        let rec = decoding
            .fingerprint_opened(path, file, req, limits, &NEVER_CANCELLED)
            .unwrap_or_else(|_| FileRecord::failed(path, Reason::DecodeFailed, CANCELLED));
        return (rec, changed(path, before));
    }
    let mut bytes = Vec::with_capacity(before.0 as usize);
    if let Err(e) = file.read_to_end(&mut bytes) {
        return (
            FileRecord::failed(path, Reason::Unreadable, io_detail(&e)),
            false,
        );
    }
    let rec = hash_read(
        FileRecord::new(path),
        &bytes,
        req,
        limits,
        decoding,
        decoded_before,
    );
    let changed = changed(path, before) || bytes.len() as u64 != before.0;
    (rec, changed)
}

/// Hashes bytes already read: digests always; perceptual hashes unless the same bytes were
/// already decoded in an earlier batch.
pub(super) fn hash_read(
    mut rec: FileRecord,
    bytes: &[u8],
    req: &HashRequest,
    limits: &Limits,
    decoding: &Decoding,
    decoded_before: &HashMap<Sha256Digest, u64>,
) -> FileRecord {
    let digests_only = HashRequest {
        pdq: false,
        phash: false,
        dhash: false,
        ..*req
    };
    fingerprint::fingerprint_bytes(bytes, &digests_only, limits, &mut rec);
    let already = rec.sha256.is_some_and(|s| decoded_before.contains_key(&s));
    if req.needs_decode() && !already {
        let perceptual = HashRequest {
            digests: DigestSet::NONE,
            ..*req
        };
        // A decoder that crashes or hangs costs this file only (in a sandboxed worker); the
        // digests above stay.
        if decoding
            .fingerprint_bytes(bytes, &perceptual, limits, &mut rec, &NEVER_CANCELLED)
            .is_err()
        {
            rec.fail(Reason::DecodeFailed, CANCELLED.into());
        }
    }
    rec
}

/// A scan has no caller that goes away, so its jobs are never cancelled; the outcome stays
/// total all the same.
static NEVER_CANCELLED: std::sync::LazyLock<Cancel> = std::sync::LazyLock::new(Cancel::new);
const CANCELLED: &str = "decoding was cancelled";

pub(super) fn changed(path: &Path, before: (u64, i64, i64)) -> bool {
    match fs::metadata(path) {
        Ok(m) => (m.len(), m.mtime(), m.mtime_nsec()) != before,
        Err(_) => true,
    }
}

pub(super) fn outcome_of(rec: &FileRecord, matches: usize) -> Outcome {
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
        Some(Reason::Encrypted) => Outcome::Encrypted,
        Some(Reason::NotOpened) => Outcome::NotOpened,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A large file listed by the walk, then swapped for a symlink or a FIFO before it is read:
    /// the link is not followed and the FIFO does not block the scan. (The swap is simulated by
    /// handing `hash_file` the listed size of a regular file for an entry that is no longer one.)
    #[test]
    fn a_large_file_swapped_for_a_symlink_or_fifo_is_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("elsewhere.bin");
        fs::write(&target, vec![7u8; 8192]).unwrap();
        let limits = Limits {
            max_file_bytes: 1024,
            ..Limits::default()
        };
        let listed = (8192, 0, 0);
        let none = HashMap::new();

        let link = dir.path().join("was-a-large-file");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let (rec, _) = hash_file(
            &link,
            listed,
            &HashRequest::ALL,
            &limits,
            &Decoding::InProcess,
            &none,
        );
        assert_eq!(rec.error, Some(Reason::Unreadable), "{rec:?}");
        assert!(
            rec.md5.is_none() && rec.size.is_none(),
            "the link was followed"
        );

        let fifo = dir.path().join("now-a-fifo");
        let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: mkfifo with a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
        let t = std::time::Instant::now();
        let (rec, changed) = hash_file(
            &fifo,
            listed,
            &HashRequest::ALL,
            &limits,
            &Decoding::InProcess,
            &none,
        );
        assert!(
            t.elapsed() < std::time::Duration::from_secs(5),
            "blocked on the FIFO"
        );
        assert_eq!(rec.error, Some(Reason::Skipped), "{rec:?}");
        assert!(changed);
    }
}
