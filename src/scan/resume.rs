//! What lets a killed scan resume where it stopped: the checkpoint (the outputs' lengths,
//! replaced atomically after each synced batch), and what the outputs so far already hold.

use super::*;

/// What the checkpoint records after each batch.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Checkpoint {
    pub(super) format: u32,
    pub(super) case_id: String,
    pub(super) inputs: Vec<String>,
    pub(super) perceptual: bool,
    pub(super) started_at: u64,
    pub(super) files_len: u64,
    pub(super) matches_len: u64,
    pub(super) last_path: Option<String>,
    pub(super) totals: Totals,
}

pub(super) const CHECKPOINT: &str = ".checkpoint.json";

/// Remembered across batches: which inodes and contents were already seen, and where their
/// records are in `files.jsonl` (read back when a duplicate needs them, so memory holds a few
/// dozen bytes per file rather than whole records).
pub(super) struct Seen {
    pub(super) files: PathBuf,
    pub(super) inodes: HashMap<(u64, u64), u64>,
    pub(super) contents: HashMap<Sha256Digest, u64>,
    /// seq -> (offset, length) of the record's line in files.jsonl.
    pub(super) lines: HashMap<u64, (u64, u32)>,
    /// Matches of matched first records, by seq.
    pub(super) matched: HashMap<u64, Vec<MatchRecord>>,
}

impl Seen {
    pub(super) fn new(files: PathBuf) -> Self {
        Seen {
            files,
            inodes: HashMap::new(),
            contents: HashMap::new(),
            lines: HashMap::new(),
            matched: HashMap::new(),
        }
    }

    pub(super) fn remember(
        &mut self,
        rec: &ScanRecord,
        ms: &[MatchRecord],
        offset: u64,
        len: usize,
    ) {
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
    pub(super) fn load(&self, seq: u64) -> Result<Option<(ScanRecord, Vec<MatchRecord>)>, Error> {
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

/// Prepares `opts.out`: a fresh scan needs an empty or new directory; a resume needs a
/// checkpoint for the same case and inputs, and truncates the outputs to it.
pub(super) fn open_outputs(
    opts: &ScanOptions,
    inputs: &[String],
) -> Result<(Checkpoint, Seen), Error> {
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
pub(super) fn rebuild_seen(dir: &Path) -> Result<Seen, Error> {
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

pub(super) fn write_checkpoint(dir: &Path, state: &Checkpoint) -> Result<(), Error> {
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
