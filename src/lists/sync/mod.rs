//! Syncing a list from its [`Source`]: a local file, a drop directory, an HTTP(S) URL, a paged
//! API or a hub. A sync fetches, builds a staged version (in full or as a delta), verifies it,
//! and publishes it in one batch together with what it needs to ask "anything newer?" next
//! time; a failure leaves the previous version serving and is recorded for `lists status`.
//! One file per source ([`file`], [`dir`], [`url`], [`paged`], [`hub`]); [`http`] is the
//! transport that URLs and paged APIs share.

pub mod dir;
pub mod file;
pub mod http;
pub mod hub;
pub mod paged;
pub mod url;

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::format::{self, ReadOptions};
use super::source::{ListSource, Source};
use super::version::{self, Builder, Expect, LastAttempt, Mode, Staged, now_secs};
use super::{Error, check_name};
use crate::store::{self, Cf, Store, keys};
pub use hub::{Hub, HubCall, HubError, NoHub};

/// A configured deadline, capped so that no configured value can overflow the clock.
pub(super) fn deadline_duration(deadline_secs: u64) -> Duration {
    Duration::from_secs(deadline_secs.clamp(1, 7 * 24 * 3600))
}

/// `deadline_secs` from now (see [`deadline_duration`]).
pub(super) fn deadline(deadline_secs: u64) -> std::time::Instant {
    std::time::Instant::now() + deadline_duration(deadline_secs)
}

/// A source file as last seen, to notice that it changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "(String, u64, u64)", into = "(String, u64, u64)")]
pub struct FileStamp {
    /// The file.
    pub path: String,
    /// Its size, bytes.
    pub len: u64,
    /// Its modification time, Unix seconds.
    pub mtime: u64,
}

// Stored as a `[path, len, mtime]` array, as earlier versions wrote it.
impl From<(String, u64, u64)> for FileStamp {
    fn from((path, len, mtime): (String, u64, u64)) -> Self {
        FileStamp { path, len, mtime }
    }
}

impl From<FileStamp> for (String, u64, u64) {
    fn from(s: FileStamp) -> Self {
        (s.path, s.len, s.mtime)
    }
}

impl FileStamp {
    /// The stamp of `path` now.
    pub fn of(path: &Path) -> Result<Self, Error> {
        let m = std::fs::metadata(path).map_err(|source| Error::SourceFile {
            path: path.to_path_buf(),
            source,
        })?;
        let mtime = m
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_secs());
        Ok(FileStamp {
            path: path.display().to_string(),
            len: m.len(),
            mtime,
        })
    }
}

/// What a sync remembers between runs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SyncState {
    /// HTTP validators of the published version.
    #[serde(default)]
    pub validators: http::Validators,
    /// For file and directory sources: the file as last published.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<FileStamp>,
}

/// The sync state of list `name`.
pub fn state(store: &Store, name: &str) -> Result<SyncState, Error> {
    match store.get(Cf::Meta, keys::sync_state(name).bytes())? {
        Some(v) => serde_json::from_slice(&v)
            .map_err(|e| Error::corrupt(format!("sync state of list {name}: {e}"))),
        None => Ok(SyncState::default()),
    }
}

/// What a sync did.
#[derive(Debug)]
pub enum SyncOutcome {
    /// A new version was published.
    Published(Box<Staged>),
    /// The source has not changed since the last sync.
    Unchanged,
}

/// A file fetched from a source, ready to be read into a new version.
pub(super) struct FetchedFile {
    /// Where the file is.
    pub path: PathBuf,
    /// The source as the list's metadata records it.
    pub described: String,
    /// The source's own version of it (an ETag, a file name), when it has one.
    pub upstream: Option<String>,
    /// The sync state to publish with the version.
    pub state: SyncState,
}

/// Syncs list `name` from `src`: fetches, builds and verifies a new version, and publishes it
/// with the sync state in one batch. Failures are recorded for `lists status` and leave the
/// active version serving. `hub` reaches hub sources.
pub fn sync(
    store: &Store,
    name: &str,
    src: &ListSource,
    hub: &dyn Hub,
) -> Result<SyncOutcome, Error> {
    check_name(name)?;
    // The format is checked before anything is fetched.
    let result = src
        .format(name)
        .and_then(|_| src.parse_source(name))
        .and_then(|source| {
            let mut result = sync_once(store, name, src, &source, hub);
            // A drop directory of deltas: apply every new drop, in name order.
            if src.mode == Mode::Delta && matches!(source, Source::Dir(_)) {
                while let Ok(SyncOutcome::Published(_)) = &result {
                    match sync_once(store, name, src, &source, hub) {
                        // Nothing left: the last publication is the outcome.
                        Ok(SyncOutcome::Unchanged) => break,
                        other => result = other,
                    }
                }
            }
            result
        });
    if let Err(e) = &result
        && !matches!(e, Error::Store(store::Error::Locked { .. }))
        // `Builder::finish` records its own failures, with their malformed rows.
        && !matches!(
            e,
            Error::TooManyBadRows { .. }
                | Error::Verify { .. }
                | Error::EmptyLoad { .. }
                | Error::Shrinks { .. }
        )
    {
        let attempt = LastAttempt {
            at: now_secs(),
            ok: false,
            error: Some(e.to_string()),
            ..LastAttempt::default()
        };
        // Best effort: the sync's own error is the one to report.
        let _ = version::record_attempt(store, name, &attempt);
    }
    result
}

fn sync_once(
    store: &Store,
    name: &str,
    src: &ListSource,
    source: &Source,
    hub: &dyn Hub,
) -> Result<SyncOutcome, Error> {
    let fetched = match source {
        Source::Paged(url) => return paged::sync(store, name, src, url),
        Source::Hub(url) => return hub::sync(store, name, src, url, hub),
        Source::File(path) => file::fetch(store, name, path)?,
        Source::Dir(dir) => dir::fetch(store, name, src.mode, dir)?,
        Source::Http(url) => url::fetch(store, name, src, url)?,
    };
    let Some(fetched) = fetched else {
        return Ok(SyncOutcome::Unchanged);
    };
    publish_file(store, name, src, fetched)
}

/// Reads a fetched file into a new version and publishes it with the sync state.
fn publish_file(
    store: &Store,
    name: &str,
    src: &ListSource,
    fetched: FetchedFile,
) -> Result<SyncOutcome, Error> {
    let format = src.format(name)?;
    // A vPDQ video file without an `# id` line is named by its file.
    let read = ReadOptions {
        kind: src.kind,
        video_id: format::id_of_path(&fetched.path),
    };
    let FetchedFile {
        path,
        described,
        upstream,
        state,
    } = fetched;
    let input = File::open(&path).map_err(|source| Error::SourceFile {
        path: path.clone(),
        source,
    })?;
    let mut b = Builder::new(store, name, src.mode, src.settings(described))?;
    b.set_upstream_version(upstream);
    if let Err(e) = b.push_rows(format::read(
        format,
        BufReader::with_capacity(1 << 20, input),
        &read,
    )) {
        super::drop_version(store, name, b.version())?;
        return Err(e);
    }
    let staged = b.finish(&Expect::default())?;
    let json = serde_json::to_vec(&state).map_err(|e| Error::corrupt(e.to_string()))?;
    let mut published = staged.clone();
    published.meta = version::publish_with(
        store,
        staged,
        &[(Cf::Meta, keys::sync_state(name).bytes().to_vec(), json)],
    )?;
    if path.starts_with(store.path()) {
        // A finished download is not kept: the store holds the list now.
        let _ = std::fs::remove_file(&path);
    }
    Ok(SyncOutcome::Published(Box::new(published)))
}

/// A URL without its query string and credentials, for the record (tokens sometimes travel
/// in query strings).
pub(super) fn redact(url: &str) -> String {
    let no_query = url.split(['?', '#']).next().unwrap_or(url);
    match no_query.split_once("://") {
        Some((scheme, rest)) => {
            let rest = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
            format!("{scheme}://{rest}")
        }
        None => no_query.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_recorded_without_secrets() {
        assert_eq!(
            redact("https://user:pw@h.example/l.jsonl?token=x"),
            "https://h.example/l.jsonl"
        );
        assert_eq!(redact("http://h/l"), "http://h/l");
    }

    #[test]
    fn a_drop_directory_of_deltas_applies_every_drop_in_order() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(&tmp.path().join("data")).unwrap();
        let drop = tmp.path().join("drop");
        std::fs::create_dir(&drop).unwrap();
        let add = |id: &str, h: char| {
            format!(
                "{{\"id\":\"{id}\",\"kind\":\"md5\",\"hash\":\"{}\"}}\n",
                h.to_string().repeat(32)
            )
        };
        let src = ListSource {
            source: format!("dir:{}", drop.display()),
            mode: Mode::Delta,
            ..ListSource::default()
        };
        std::fs::write(drop.join("001.jsonl"), add("a", '1')).unwrap();
        sync(&store, "l", &src, &NoHub).unwrap();
        // Two drops arrive between syncs: both are applied, in name order.
        std::fs::write(drop.join("002.jsonl"), add("b", '2')).unwrap();
        std::fs::write(drop.join("003.jsonl"), "{\"id\":\"a\",\"op\":\"remove\"}\n").unwrap();
        let SyncOutcome::Published(s) = sync(&store, "l", &src, &NoHub).unwrap() else {
            panic!("the new drops publish");
        };
        assert_eq!((s.meta.version, s.meta.entries), (3, 1));
        assert!(matches!(
            sync(&store, "l", &src, &NoHub).unwrap(),
            SyncOutcome::Unchanged
        ));
    }

    #[test]
    fn file_and_dir_sources_publish_once_per_change() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(&tmp.path().join("data")).unwrap();
        let drop = tmp.path().join("drop");
        std::fs::create_dir(&drop).unwrap();
        let row =
            |id: &str, h: &str| format!("{{\"id\":\"{id}\",\"kind\":\"md5\",\"hash\":\"{h}\"}}\n");
        std::fs::write(drop.join("2026-11-01.jsonl"), row("a", &"1".repeat(32))).unwrap();
        std::fs::write(drop.join(".2026-11-03.jsonl"), "partial").unwrap();
        let src = ListSource {
            source: format!("dir:{}", drop.display()),
            ..ListSource::default()
        };
        let SyncOutcome::Published(s) = sync(&store, "l", &src, &NoHub).unwrap() else {
            panic!("first sync publishes");
        };
        assert_eq!((s.meta.version, s.meta.entries), (1, 1));
        assert_eq!(s.meta.upstream_version.as_deref(), Some("2026-11-01.jsonl"));
        assert!(matches!(
            sync(&store, "l", &src, &NoHub).unwrap(),
            SyncOutcome::Unchanged
        ));
        let two = row("a", &"1".repeat(32)) + &row("b", &"2".repeat(32));
        std::fs::write(drop.join("2026-11-02.jsonl"), two).unwrap();
        let SyncOutcome::Published(s) = sync(&store, "l", &src, &NoHub).unwrap() else {
            panic!("a new drop publishes");
        };
        assert_eq!((s.meta.version, s.meta.entries), (2, 2));

        // A source that cannot be read is recorded and the list stays as it was.
        let gone = ListSource {
            source: format!("file:{}", tmp.path().join("missing").display()),
            ..ListSource::default()
        };
        assert!(matches!(
            sync(&store, "l", &gone, &NoHub),
            Err(Error::SourceFile { .. })
        ));
        let attempt = version::last_attempt(&store, "l").unwrap().unwrap();
        assert!(!attempt.ok && attempt.error.unwrap().contains("missing"));
        assert_eq!(crate::lists::get(&store, "l").unwrap().version, 2);
    }
}
