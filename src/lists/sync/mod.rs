//! Syncing a list from its source: a local file, the newest file of a drop directory, or an
//! HTTP(S) URL. A sync fetches, builds a staged version (in full or as a delta), verifies it,
//! and publishes it in one batch together with what it needs to ask "anything newer?" next
//! time; a failure leaves the previous version serving and is recorded for `lists status`.

pub mod http;
pub mod hub;
pub mod paged;

use std::collections::BTreeMap;
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::format::{self, ListFormat, ReadOptions};
use super::version::{self, Builder, Expect, LastAttempt, Mode, Settings, Staged, now_secs};
use super::{Error, check_name};
use crate::hashing::HashKind;
use crate::store::{self, Cf, Key, Store};

/// Where a list comes from and how to read it (`[lists.NAME]` in the server's configuration).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ListSource {
    /// `file:PATH`, `dir:PATH` (the newest file in the directory, by name), an `http://` /
    /// `https://` URL, or `hub+http(s)://HOST:PORT` (another hashguard server).
    pub source: String,
    /// The format of the file: plain, jsonl, te-csv, vpdq, ncmec-xml, stopncii, vics, icse.
    pub format: String,
    /// Hash kind of bare hex lines (plain files).
    pub kind: Option<HashKind>,
    /// `full` (the file is the whole list) or `delta` (it changes the active version).
    pub mode: Mode,
    /// The investigating unit its matches go to.
    pub unit: Option<String>,
    /// Category for matches of entries that have none.
    pub category: Option<String>,
    /// Match radius per perceptual kind, e.g. `{ pdq = 31 }`.
    pub radius: BTreeMap<HashKind, u32>,
    /// Largest share of malformed rows (percent) that still publishes.
    pub max_bad_pct: f64,
    /// Environment variable holding the bearer token for the source (never the token itself).
    pub token_env: Option<String>,
    /// Deadline for one sync's download, seconds.
    pub deadline_secs: u64,
    /// Retries of a failed request.
    pub retries: u32,
    /// First wait before a retry, milliseconds; doubled per retry up to a minute, with jitter.
    pub backoff_ms: u64,
    /// The source is a paged API (each page names the next): pages are checkpointed and the
    /// rows applied as a delta when the last page is in.
    pub paged: bool,
    /// Query parameter that carries a page token when a page names the next one by token.
    pub page_param: String,
    /// Hub sources: the list's name on the hub (default: the same name).
    pub hub_list: Option<String>,
    /// CA certificate (PEM) to trust for an `https` hub.
    pub ca_file: Option<PathBuf>,
}

impl Default for ListSource {
    fn default() -> Self {
        ListSource {
            source: String::new(),
            format: "jsonl".into(),
            kind: None,
            mode: Mode::Full,
            unit: None,
            category: None,
            radius: BTreeMap::new(),
            max_bad_pct: 1.0,
            token_env: None,
            deadline_secs: 30 * 60,
            retries: 8,
            backoff_ms: 500,
            paged: false,
            page_param: "next".into(),
            hub_list: None,
            ca_file: None,
        }
    }
}

/// `deadline_secs` from now, capped so that no configured value can overflow the clock.
pub(super) fn deadline(deadline_secs: u64) -> std::time::Instant {
    let d = Duration::from_secs(deadline_secs.clamp(1, 7 * 24 * 3600));
    std::time::Instant::now() + d
}

/// Parses a format name as the CLI and configuration write it.
pub fn parse_format(name: &str) -> Result<ListFormat, String> {
    match name.trim().to_ascii_lowercase().as_str() {
        "plain" => Ok(ListFormat::Plain),
        "jsonl" => Ok(ListFormat::Jsonl),
        "te-csv" => Ok(ListFormat::TeCsv),
        "vpdq" => Ok(ListFormat::Vpdq),
        "ncmec-xml" => Ok(ListFormat::NcmecXml),
        "stopncii" => Ok(ListFormat::StopNcii),
        "vics" => Ok(ListFormat::Vics),
        "icse" => Ok(ListFormat::Icse),
        other => Err(format!(
            "unknown list format {other:?} (plain, jsonl, te-csv, vpdq, ncmec-xml, stopncii, vics, icse)"
        )),
    }
}

/// Checks a configured source without fetching it (for `config check`): the list name, the
/// source form, the format, and that the token variable is set.
pub fn check_source(name: &str, src: &ListSource) -> Result<(), String> {
    check_name(name).map_err(|e| e.to_string())?;
    parse_format(&src.format).map_err(|e| format!("lists.{name}: {e}"))?;
    let s = src.source.as_str();
    let known = [
        "file:",
        "dir:",
        "http://",
        "https://",
        "hub+http://",
        "hub+https://",
    ];
    if !known.iter().any(|k| s.starts_with(k)) {
        return Err(format!(
            "lists.{name}: source {s:?}: use file:PATH, dir:PATH, an http(s) URL or hub+http(s)://HOST:PORT"
        ));
    }
    if s.starts_with("hub+") && src.token_env.is_none() {
        return Err(format!(
            "lists.{name}: a hub source needs token_env (a mirror token)"
        ));
    }
    if src.paged && !s.starts_with("http") {
        return Err(format!(
            "lists.{name}: a paged source must be an http(s) URL"
        ));
    }
    if let Some(var) = &src.token_env
        && std::env::var_os(var).is_none()
    {
        return Err(format!("lists.{name}: the token variable {var} is not set"));
    }
    if !(0.0..=100.0).contains(&src.max_bad_pct) {
        return Err(format!("lists.{name}: max_bad_pct must be 0-100"));
    }
    Ok(())
}

/// What a sync remembers between runs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SyncState {
    /// HTTP validators of the published version.
    #[serde(default)]
    pub validators: http::Validators,
    /// For file and directory sources: the file, its size and modification time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<(String, u64, u64)>,
}

pub(crate) fn state_key(name: &str) -> Key {
    Key::new(b'Y').str(name)
}

/// The sync state of list `name`.
pub fn state(store: &Store, name: &str) -> Result<SyncState, Error> {
    match store.get(Cf::Meta, state_key(name).bytes())? {
        Some(v) => serde_json::from_slice(&v)
            .map_err(|e| Error::Corrupt(format!("sync state of list {name}: {e}"))),
        None => Ok(SyncState::default()),
    }
}

/// What a sync did.
#[derive(Debug)]
pub enum Outcome {
    /// A new version was published.
    Published(Box<Staged>),
    /// The source has not changed since the last sync.
    Unchanged,
}

/// Where partial downloads are kept: beside the store, so they survive a restart.
pub(super) fn download_path(store: &Store, name: &str) -> Result<PathBuf, Error> {
    let dir = store.path().join("downloads");
    std::fs::create_dir_all(&dir).map_err(|e| Error::Sync(format!("{}: {e}", dir.display())))?;
    Ok(dir.join(format!("{name}.download")))
}

/// A private file beside the store for list data in transit (an uploaded list, a bundle
/// being verified), with a random name so concurrent users never share one; deleted when
/// dropped, however the work ends.
pub struct Spool(PathBuf);

impl Spool {
    /// A new, not yet created, spool path under `DATA/downloads/` named after `stem`.
    pub fn new(store: &Store, stem: &str, ext: &str) -> std::io::Result<Spool> {
        use rand_core::RngCore;
        let dir = store.path().join("downloads");
        std::fs::create_dir_all(&dir)?;
        let tag = rand_core::OsRng.next_u64();
        Ok(Spool(dir.join(format!("{stem}.{tag:016x}.{ext}"))))
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

pub(super) fn settings(src: &ListSource, described: String) -> Settings {
    Settings {
        radii: src.radius.iter().map(|(k, r)| (*k, *r)).collect(),
        category: src.category.clone(),
        unit: src.unit.clone(),
        source: described,
        max_bad_pct: src.max_bad_pct,
    }
}

/// A file's size and modification time (seconds), to notice that it changed.
fn stamp(path: &Path) -> Result<(u64, u64), Error> {
    let m = std::fs::metadata(path).map_err(|e| Error::Sync(format!("{}: {e}", path.display())))?;
    let mtime = m
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs());
    Ok((m.len(), mtime))
}

/// The files of a drop directory, by name (drops are named by date or sequence); hidden and
/// partial (`.tmp`, `.part`) files are still being written and are left alone.
fn drops_in(dir: &Path) -> Result<Vec<PathBuf>, Error> {
    let err = |e: std::io::Error| Error::Sync(format!("{}: {e}", dir.display()));
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(err)?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .filter(|p| {
            let n = p.file_name().and_then(|n| n.to_str()).unwrap_or(".");
            !n.starts_with('.') && !n.ends_with(".tmp") && !n.ends_with(".part")
        })
        .collect();
    names.sort();
    if names.is_empty() {
        return Err(Error::Sync(format!(
            "{}: no list file to import",
            dir.display()
        )));
    }
    Ok(names)
}

/// Syncs list `name` from `src`: fetches, builds and verifies a new version, and publishes it
/// with the sync state in one batch. Failures are recorded for `lists status` and leave the
/// active version serving.
pub fn sync(store: &Store, name: &str, src: &ListSource) -> Result<Outcome, Error> {
    check_name(name)?;
    let mut result = sync_inner(store, name, src);
    // A drop directory of deltas: apply every new drop, in name order.
    if src.mode == Mode::Delta && src.source.starts_with("dir:") {
        while let Ok(Outcome::Published(_)) = &result {
            match sync_inner(store, name, src) {
                // Nothing left: the last publication is the outcome.
                Ok(Outcome::Unchanged) => break,
                other => result = other,
            }
        }
    }
    if let Err(e) = &result
        && !matches!(e, Error::Store(store::Error::Locked { .. }))
        // `Builder::finish` records its own failures, with their malformed rows.
        && !matches!(e, Error::TooManyBadRows { .. } | Error::Verify { .. })
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

fn sync_inner(store: &Store, name: &str, src: &ListSource) -> Result<Outcome, Error> {
    if src.paged {
        return paged::sync(store, name, src);
    }
    if src.source.starts_with("hub+") {
        return hub::sync(store, name, src);
    }
    let format = parse_format(&src.format).map_err(Error::Sync)?;
    let read = ReadOptions { kind: src.kind };
    let mut st = state(store, name)?;
    let (path, described, upstream) = if let Some(p) = src.source.strip_prefix("file:") {
        let path = PathBuf::from(p);
        let (len, mtime) = stamp(&path)?;
        let seen = (path.display().to_string(), len, mtime);
        if st.file.as_ref() == Some(&seen) && super::get(store, name).is_ok() {
            return Ok(Outcome::Unchanged);
        }
        st.file = Some(seen);
        (path, src.source.clone(), None)
    } else if let Some(d) = src.source.strip_prefix("dir:") {
        let drops = drops_in(Path::new(d))?;
        // Full loads: the newest file is the list. Deltas: every drop counts, so the oldest
        // one after the last applied comes next (`sync` goes on until none is left).
        let last = st.file.as_ref().map(|f| PathBuf::from(&f.0));
        let path = match src.mode {
            Mode::Full => drops.last().cloned(),
            Mode::Delta => drops
                .iter()
                .find(|p| last.as_ref().is_none_or(|l| p.file_name() > l.file_name()))
                .cloned(),
        };
        let Some(path) = path else {
            return Ok(Outcome::Unchanged);
        };
        let (len, mtime) = stamp(&path)?;
        let seen = (path.display().to_string(), len, mtime);
        if st.file.as_ref() == Some(&seen) && super::get(store, name).is_ok() {
            return Ok(Outcome::Unchanged);
        }
        st.file = Some(seen);
        let file_name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        (path, src.source.clone(), file_name)
    } else if src.source.starts_with("http://") || src.source.starts_with("https://") {
        let token = match &src.token_env {
            Some(var) => Some(
                std::env::var(var)
                    .map_err(|_| Error::Sync(format!("the token variable {var} is not set")))?,
            ),
            None => None,
        };
        let opts = http::HttpOptions {
            token,
            deadline: Duration::from_secs(src.deadline_secs.clamp(1, 7 * 24 * 3600)),
            retries: src.retries,
            backoff: Duration::from_millis(src.backoff_ms),
            ..http::HttpOptions::default()
        };
        let dest = download_path(store, name)?;
        // A list that is not active (never published, or lost) is fetched in full.
        let known = if super::get(store, name).is_ok() {
            st.validators.clone()
        } else {
            http::Validators::default()
        };
        match http::download(&src.source, &dest, &known, &opts)
            .map_err(|e| Error::Sync(e.to_string()))?
        {
            http::Fetched::NotModified => return Ok(Outcome::Unchanged),
            http::Fetched::File {
                path, validators, ..
            } => {
                let upstream = validators.etag.clone().or(validators.last_modified.clone());
                st.validators = validators;
                (path, redact(&src.source), upstream)
            }
        }
    } else {
        return Err(Error::Sync(format!(
            "unknown source {:?}: use file:PATH, dir:PATH, an http(s) URL or hub+http(s)://HOST:PORT",
            src.source
        )));
    };
    let input = File::open(&path).map_err(|e| Error::Sync(format!("{}: {e}", path.display())))?;
    let mut b = Builder::new(store, name, src.mode, settings(src, described))?;
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
    let json = serde_json::to_vec(&st).map_err(|e| Error::Corrupt(e.to_string()))?;
    let mut published = staged.clone();
    published.meta = version::publish_with(
        store,
        staged,
        &[(Cf::Meta, state_key(name).bytes().to_vec(), json)],
    )?;
    if path.starts_with(store.path()) {
        // A finished download is not kept: the store holds the list now.
        let _ = std::fs::remove_file(&path);
    }
    Ok(Outcome::Published(Box::new(published)))
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
        sync(&store, "l", &src).unwrap();
        // Two drops arrive between syncs: both are applied, in name order.
        std::fs::write(drop.join("002.jsonl"), add("b", '2')).unwrap();
        std::fs::write(drop.join("003.jsonl"), "{\"id\":\"a\",\"op\":\"remove\"}\n").unwrap();
        let Outcome::Published(s) = sync(&store, "l", &src).unwrap() else {
            panic!("the new drops publish");
        };
        assert_eq!((s.meta.version, s.meta.entries), (3, 1));
        assert!(matches!(
            sync(&store, "l", &src).unwrap(),
            Outcome::Unchanged
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
        let Outcome::Published(s) = sync(&store, "l", &src).unwrap() else {
            panic!("first sync publishes");
        };
        assert_eq!((s.meta.version, s.meta.entries), (1, 1));
        assert_eq!(s.meta.upstream_version.as_deref(), Some("2026-11-01.jsonl"));
        assert!(matches!(
            sync(&store, "l", &src).unwrap(),
            Outcome::Unchanged
        ));
        let two = row("a", &"1".repeat(32)) + &row("b", &"2".repeat(32));
        std::fs::write(drop.join("2026-11-02.jsonl"), two).unwrap();
        let Outcome::Published(s) = sync(&store, "l", &src).unwrap() else {
            panic!("a new drop publishes");
        };
        assert_eq!((s.meta.version, s.meta.entries), (2, 2));

        // A source that cannot be read is recorded and the list stays as it was.
        let gone = ListSource {
            source: format!("file:{}", tmp.path().join("missing").display()),
            ..ListSource::default()
        };
        assert!(matches!(sync(&store, "l", &gone), Err(Error::Sync(_))));
        let attempt = version::last_attempt(&store, "l").unwrap().unwrap();
        assert!(!attempt.ok && attempt.error.unwrap().contains("missing"));
        assert_eq!(super::super::get(&store, "l").unwrap().version, 2);
    }
}
