//! Paged API sources (NCMEC-like): each page names the next one. Every page's rows are staged
//! in the store together with the checkpoint (the next page to fetch) in one write batch, so a
//! killed sync resumes from the last page it committed, never from zero. The checkpoint only
//! ever moves to a cursor the source itself handed out, so it never rewinds and never skips;
//! records that arrive out of order within a time window are safe because every row is an
//! idempotent add or remove keyed by its id. When the source says there are no more pages,
//! the staged rows are applied as one delta, verified and published, and the checkpoint is
//! set, in the same batch, to where the next sync starts.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::http::{self, HttpOptions};
use super::{SyncOutcome, redact};
use crate::lists::source::ListSource;
use std::collections::HashMap;

use crate::hashing::HashKind;
use crate::lists::format::{self, BadRow, ListRow, Op, ReadOptions, RowError};
use crate::lists::version::{self, Builder, Expect, Mode};
use crate::lists::{Error, drop_version};
use crate::store::{Cf, Store, keys};

/// Where a paged sync is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The next page to fetch (the start of the next sync when none is running).
    pub next: Option<String>,
    /// Whether a sync is part-way: its pages so far are staged.
    pub running: bool,
    /// Pages staged by the running sync.
    pub pages: u64,
    /// Items staged by the running sync (rows and malformed rows).
    pub staged: u64,
    /// Bytes of the pages fetched by the running sync (bounded by `max_download_mb`).
    #[serde(default)]
    pub bytes: u64,
}

/// The checkpoint of list `name`'s paged sync.
pub fn checkpoint(store: &Store, name: &str) -> Result<Checkpoint, Error> {
    match store.get(Cf::Meta, keys::paged_checkpoint(name).bytes())? {
        Some(v) => serde_json::from_slice(&v)
            .map_err(|e| Error::corrupt(format!("checkpoint of list {name}: {e}"))),
        None => Ok(Checkpoint::default()),
    }
}

/// A staged item: a row in canonical JSON lines, or a malformed row.
#[derive(Serialize, Deserialize)]
enum StagedItem {
    Row(String),
    Bad(BadRow),
}

/// `scheme://host:port` of a URL.
fn origin(url: &str) -> &str {
    let after = url.find("://").map_or(0, |s| s + 3);
    let end = url[after..].find('/').map_or(url.len(), |p| after + p);
    &url[..end]
}

/// The URL of the page a cursor names: a URL (on the source's own origin: the bearer token is
/// never sent elsewhere), a path against the source's origin, else a token passed as the
/// `page_param` query parameter of the source URL.
fn page_url(source: &str, cursor: &str, page_param: &str) -> Result<String, Error> {
    if cursor.starts_with("http://") || cursor.starts_with("https://") {
        if origin(cursor) != origin(source) {
            return Err(Error::bad_input(
                "the paged source",
                format!(
                    "a page names its next page on another server ({}); refused",
                    origin(cursor)
                ),
            ));
        }
        return Ok(cursor.to_string());
    }
    if let Some(path) = cursor.strip_prefix('/') {
        return Ok(format!("{}/{path}", origin(source)));
    }
    let sep = if source.contains('?') { '&' } else { '?' };
    let token: String = cursor
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    Ok(format!("{source}{sep}{page_param}={token}"))
}

/// Runs (or resumes) a paged sync of `name`.
pub(super) fn sync(
    store: &Store,
    name: &str,
    src: &ListSource,
    source: &str,
) -> Result<SyncOutcome, Error> {
    let format = src.format(name)?;
    let read = ReadOptions {
        kind: src.kind,
        ..Default::default()
    };
    let token = src.token(name)?;
    let opts = HttpOptions {
        token,
        retries: src.retries,
        backoff: Duration::from_millis(src.backoff_ms),
        max_bytes: src.max_download_mb.saturating_mul(1 << 20),
        ca_file: src.ca_file.clone(),
        ..HttpOptions::default()
    };
    let deadline = super::deadline(src.deadline_secs);
    let mut cp = checkpoint(store, name)?;
    if !cp.running {
        // Rows staged by a run that published but died before clearing them are stale.
        store.delete_prefix(Cf::Meta, keys::paged_staged(name).bytes())?;
        cp = Checkpoint {
            running: true,
            bytes: 0,
            ..cp
        };
    }
    // The cursor of the page being read; `None`: the source URL itself.
    let mut cursor = cp.next.clone();
    loop {
        let url = match &cursor {
            Some(c) => page_url(source, c, &src.page_param)?,
            None => source.to_string(),
        };
        let shown = redact(&url);
        let body = http::get_page(&url, &opts, deadline).map_err(|e| e.for_list(name))?;
        cp.bytes = cp.bytes.saturating_add(body.len() as u64);
        if cp.bytes > opts.max_bytes {
            return Err(Error::bad_input(
                format!("page {shown}"),
                format!(
                    "the pages of this sync exceed max_download_mb ({} MiB); the sync stays on \
                     this page",
                    opts.max_bytes >> 20
                ),
            ));
        }
        let mut rows = format::read(format, body.as_slice(), &read);
        let mut items: Vec<StagedItem> = Vec::new();
        for r in rows.by_ref() {
            match r {
                Ok(row) => items.push(StagedItem::Row(canonical(&row)?)),
                Err(RowError::Bad(mut b)) => {
                    b.reason = format!("page {}: {}", cp.pages + 1, b.reason);
                    items.push(StagedItem::Bad(b));
                }
                // A page that does not parse is not committed: the checkpoint stays on it,
                // and the sync fails loudly instead of skipping it.
                Err(RowError::Io { line, message }) => {
                    return Err(Error::bad_input(
                        format!("page {shown}"),
                        format!("malformed at line {line}: {message}; the sync stays on this page"),
                    ));
                }
            }
        }
        let paging = rows.paging();
        let next = paging.next.filter(|n| !n.trim().is_empty());
        if paging.has_more == Some(true) && next.is_none() {
            return Err(Error::bad_input(
                format!("page {shown}"),
                "it says more pages follow but names none; the sync stays on this page",
            ));
        }
        if next.is_some() && next == cursor {
            return Err(Error::bad_input(
                format!("page {shown}"),
                "it names itself as the next page; the sync stays on this page",
            ));
        }
        let more = paging.has_more.unwrap_or(next.is_some()) && next.is_some();
        // Commit the page: its items and the checkpoint, in one batch.
        let mut batch = store.batch();
        for item in &items {
            let key = keys::paged_staged(name).u64(cp.staged);
            let json = serde_json::to_vec(item).map_err(|e| Error::corrupt(e.to_string()))?;
            batch.put(store, Cf::Meta, key.bytes(), &json)?;
            cp.staged += 1;
        }
        cp.pages += 1;
        // The next sync starts from the next cursor, or re-reads this last page (its rows are
        // idempotent) when the source names none. Cursors, not URLs, are kept: a URL may
        // carry a credential.
        cp.next = next.clone().or(cursor.clone());
        if more {
            let json = serde_json::to_vec(&cp).map_err(|e| Error::corrupt(e.to_string()))?;
            batch.put(store, Cf::Meta, keys::paged_checkpoint(name).bytes(), &json)?;
            store.write(batch)?;
            cursor = next;
            continue;
        }
        // The last page is staged in the same batch as the checkpoint still saying "running".
        let json = serde_json::to_vec(&cp).map_err(|e| Error::corrupt(e.to_string()))?;
        batch.put(store, Cf::Meta, keys::paged_checkpoint(name).bytes(), &json)?;
        store.write(batch)?;
        break;
    }
    apply(store, name, src, source, cp)
}

fn canonical(row: &ListRow) -> Result<String, Error> {
    let mut line = Vec::new();
    format::write_jsonl(&mut line, row).map_err(|e| Error::corrupt(e.to_string()))?;
    String::from_utf8(line).map_err(|e| Error::corrupt(e.to_string()))
}

/// Applies every staged item as one delta, publishes it with the finished checkpoint, then
/// clears the staged items.
fn apply(
    store: &Store,
    name: &str,
    src: &ListSource,
    source: &str,
    cp: Checkpoint,
) -> Result<SyncOutcome, Error> {
    // A list's first sync reads the source's whole history: a delta on nothing. It is built
    // as a full load of the additions no later row removes, so its size in memory does not
    // grow with the history (a delta keeps its additions in memory until they are applied).
    let first = matches!(
        crate::lists::get(store, name),
        Err(Error::NoSuchList { .. })
    );
    let mode = if first { Mode::Full } else { Mode::Delta };
    let mut b = Builder::new(store, name, mode, src.settings(redact(source)))?;
    let prefix = keys::paged_staged(name);
    // Malformed rows first; then the rows, streamed through the JSONL reader (each staged
    // row is one line, so a row's line number is its place in the history).
    for r in store.scan_prefix(Cf::Meta, prefix.bytes())? {
        let (_, v) = r?;
        if let Ok(StagedItem::Bad(bad)) = serde_json::from_slice::<StagedItem>(&v) {
            b.push_bad(bad);
        }
    }
    let staged_rows = || -> Result<format::Rows<'_>, Error> {
        let rows = StagedRows {
            items: Box::new(store.scan_prefix(Cf::Meta, prefix.bytes())?),
            buf: Vec::new(),
            at: 0,
        };
        Ok(format::read(
            format::ListFormat::Jsonl,
            std::io::BufReader::new(rows),
            &ReadOptions::default(),
        ))
    };
    let fed = if first {
        // The last removal of each (id, kind) and of each whole id: only the removals are kept.
        let mut removed: HashMap<(String, Option<HashKind>), u64> = HashMap::new();
        let corrupt = |e: RowError| Error::corrupt(format!("a staged row of list {name}: {e:?}"));
        for r in staged_rows()? {
            let row = r.map_err(corrupt)?;
            if row.op == Op::Remove {
                removed.insert((row.id, row.hash.map(|h| h.kind())), row.line);
            }
        }
        let mut fed = Ok(());
        for r in staged_rows()? {
            let row = r.map_err(corrupt)?;
            let Some(kind) = row.hash.map(|h| h.kind()) else {
                continue;
            };
            if row.op == Op::Remove {
                continue;
            }
            let later =
                |k: &(String, Option<HashKind>)| removed.get(k).is_some_and(|&at| at > row.line);
            if later(&(row.id.clone(), Some(kind))) || later(&(row.id.clone(), None)) {
                continue;
            }
            fed = b.push(row);
            if fed.is_err() {
                break;
            }
        }
        fed
    } else {
        b.push_rows(staged_rows()?).map(|_| ())
    };
    if let Err(e) = fed {
        drop_version(store, name, b.version())?;
        return Err(e);
    }
    b.set_upstream_version(cp.next.clone());
    let staged = b.finish(&Expect::default())?;
    let done = Checkpoint {
        next: cp.next,
        running: false,
        pages: 0,
        staged: 0,
        bytes: 0,
    };
    let json = serde_json::to_vec(&done).map_err(|e| Error::corrupt(e.to_string()))?;
    let mut published = staged.clone();
    published.meta = version::publish_with(
        store,
        staged,
        &[(
            Cf::Meta,
            keys::paged_checkpoint(name).bytes().to_vec(),
            json,
        )],
    )?;
    store.delete_prefix(Cf::Meta, prefix.bytes())?;
    Ok(SyncOutcome::Published(Box::new(published)))
}

/// The staged rows as one JSON-lines stream.
struct StagedRows<'a> {
    items: Box<dyn Iterator<Item = Result<crate::store::KeyValue, crate::store::Error>> + 'a>,
    buf: Vec<u8>,
    at: usize,
}

impl std::io::Read for StagedRows<'_> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.at >= self.buf.len() {
            let Some(item) = self.items.next() else {
                return Ok(0);
            };
            let (_, v) = item.map_err(std::io::Error::other)?;
            match serde_json::from_slice::<StagedItem>(&v) {
                Ok(StagedItem::Row(line)) => {
                    self.buf = line.into_bytes();
                    self.at = 0;
                }
                Ok(StagedItem::Bad(_)) => {}
                Err(e) => return Err(std::io::Error::other(format!("a staged row: {e}"))),
            }
        }
        let n = out.len().min(self.buf.len() - self.at);
        out[..n].copy_from_slice(&self.buf[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_become_page_urls() {
        let s = "https://api.example.org/v2/images?from=2026-11-01";
        let u = |c: &str, p: &str| page_url(s, c, p).unwrap();
        assert_eq!(
            u("https://api.example.org/v2/images?z=1", "next"),
            "https://api.example.org/v2/images?z=1"
        );
        assert!(page_url(s, "https://elsewhere.example/x", "next").is_err());
        assert_eq!(
            u("/v2/images?cursor=7", "next"),
            "https://api.example.org/v2/images?cursor=7"
        );
        assert_eq!(
            u("ab c+/=", "pageToken"),
            "https://api.example.org/v2/images?from=2026-11-01&pageToken=ab%20c%2B%2F%3D"
        );
        assert_eq!(
            page_url("http://h/p", "t1", "next").unwrap(),
            "http://h/p?next=t1"
        );
    }
}
