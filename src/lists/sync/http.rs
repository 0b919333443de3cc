//! Downloading a list over HTTP(S) into a file: conditional requests (ETag / Last-Modified),
//! resuming a cut download with a range request, retries with capped exponential backoff and
//! jitter, and one deadline over the whole download.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// How to fetch.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// Bearer token sent as `Authorization` (from the environment, never from a file).
    pub token: Option<String>,
    /// Deadline for the whole download, retries included.
    pub deadline: Duration,
    /// Attempts after the first.
    pub retries: u32,
    /// First backoff; doubled per attempt, up to `max_backoff`, with jitter.
    pub backoff: Duration,
    /// Largest backoff.
    pub max_backoff: Duration,
    /// Largest body accepted, bytes (a download past it fails and is deleted).
    pub max_bytes: u64,
    /// CA certificates (PEM) trusted instead of the built-in web roots.
    pub ca_file: Option<PathBuf>,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            token: None,
            deadline: Duration::from_secs(30 * 60),
            retries: 8,
            backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(60),
            max_bytes: crate::lists::source::DEFAULT_MAX_DOWNLOAD_MB << 20,
            ca_file: None,
        }
    }
}

/// What the server said a version of the resource was, to ask "anything newer?" next time.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Validators {
    /// The `ETag`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    /// The `Last-Modified` date, as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_modified: Option<String>,
}

/// The outcome of a download.
#[derive(Debug)]
pub enum Fetched {
    /// The server says the resource has not changed since `validators`.
    NotModified,
    /// The whole resource is in `path`.
    File {
        /// Where it is.
        path: PathBuf,
        /// Its validators.
        validators: Validators,
        /// Its size.
        bytes: u64,
        /// Attempts it took (1 when nothing failed).
        attempts: u32,
    },
}

/// Why a download failed.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The server refused in a way retrying will not fix.
    #[error("{url}: HTTP {status}{}", if .body.is_empty() { String::new() } else { format!(": {}", .body) })]
    Status {
        /// The URL.
        url: String,
        /// The status code.
        status: u16,
        /// The start of the response body, for the operator.
        body: String,
    },
    /// Every attempt failed, or the deadline passed.
    #[error("{url}: gave up after {attempts} attempts in {elapsed:.0?}: {last}")]
    GaveUp {
        /// The URL.
        url: String,
        /// Attempts made.
        attempts: u32,
        /// Time spent.
        elapsed: Duration,
        /// The last failure.
        last: String,
    },
    /// The body is larger than the source's cap.
    #[error("{url}: the download exceeds the cap of {max} bytes (max_download_mb)")]
    TooLarge {
        /// The URL.
        url: String,
        /// The cap, bytes.
        max: u64,
    },
    /// The configured CA file cannot be used.
    #[error("{0}")]
    Ca(String),
    /// The local download file could not be written.
    #[error("download file {path}: {source}")]
    Local {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
}

impl HttpError {
    /// The list error this download failure of list `list` is: a refused token is the
    /// configuration's to fix, a local file the machine's, anything else the source's.
    pub(crate) fn for_list(self, list: &str) -> crate::lists::Error {
        use crate::lists::Error;
        match self {
            HttpError::Status {
                status: 401 | 403, ..
            } => Error::config(list, format!("the source refused the token: {self}")),
            HttpError::Local { path, source } => Error::Io {
                what: format!("download file {}", path.display()),
                source,
            },
            e => Error::Fetch {
                message: e.to_string(),
            },
        }
    }
}

/// The partial download's description, kept beside it so a later attempt (or a later process)
/// resumes only a download of the same URL and the same resource version.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Partial {
    url: String,
    validators: Validators,
}

fn partial_meta(dest: &Path) -> PathBuf {
    let mut p = dest.as_os_str().to_owned();
    p.push(".meta");
    PathBuf::from(p)
}

/// A random factor in [0.5, 1): "equal jitter", so retries of many regional servers after an
/// outage spread out instead of arriving together.
fn jitter() -> f64 {
    use rand_core::RngCore;
    let r = rand_core::OsRng.next_u32();
    0.5 + f64::from(r) / f64::from(u32::MAX) / 2.0
}

/// The HTTP client for `url`: statuses are answers to look at, not errors; 30 s to connect.
/// A list fetched over HTTPS is never followed to plain HTTP by a redirect, where anyone on the
/// path could replace it (ureq never forwards the Authorization header on a redirect either).
/// With a CA file, only certificates it signed are trusted (a private CA of a police network).
fn agent(url: &str, ca_file: Option<&Path>) -> Result<ureq::Agent, HttpError> {
    let mut config = ureq::Agent::config_builder()
        .https_only(url.starts_with("https://"))
        .http_status_as_error(false)
        .timeout_connect(Some(Duration::from_secs(30)))
        .user_agent(concat!("hashguard/", env!("CARGO_PKG_VERSION")));
    if let Some(ca) = ca_file {
        let roots = read_ca(ca).map_err(HttpError::Ca)?;
        config = config.tls_config(
            ureq::tls::TlsConfig::builder()
                .root_certs(ureq::tls::RootCerts::new_with_certs(&roots))
                .build(),
        );
    }
    Ok(config.build().into())
}

/// The certificates of a PEM CA file (at least one).
pub fn read_ca(path: &Path) -> Result<Vec<ureq::tls::Certificate<'static>>, String> {
    let pem = std::fs::read(path).map_err(|e| format!("ca_file {}: {e}", path.display()))?;
    let certs: Vec<_> = ureq::tls::parse_pem(&pem)
        .filter_map(|item| match item {
            Ok(ureq::tls::PemItem::Certificate(c)) => Some(c),
            _ => None,
        })
        .collect();
    if certs.is_empty() {
        return Err(format!(
            "ca_file {}: no PEM certificate in it",
            path.display()
        ));
    }
    Ok(certs)
}

/// Attempts of one request: capped exponential backoff with jitter between them, within the
/// retries and the deadline.
struct Tries<'a> {
    url: &'a str,
    opts: &'a HttpOptions,
    started: Instant,
    deadline: Instant,
    attempts: u32,
}

impl<'a> Tries<'a> {
    fn new(url: &'a str, opts: &'a HttpOptions, started: Instant, deadline: Instant) -> Self {
        Tries {
            url,
            opts,
            started,
            deadline,
            attempts: 0,
        }
    }

    /// Waits before the next attempt, or gives up (`last`: why the previous one failed).
    fn next(&mut self, last: String) -> Result<(), HttpError> {
        let give_up = |attempts| HttpError::GaveUp {
            url: super::redact(self.url),
            attempts,
            elapsed: self.started.elapsed(),
            last: last.clone(),
        };
        let now = Instant::now();
        if self.attempts > self.opts.retries || now >= self.deadline {
            return Err(give_up(self.attempts));
        }
        if self.attempts > 0 {
            let exp = self.opts.backoff.as_secs_f64() * 2f64.powi(self.attempts as i32 - 1);
            let cap = exp.min(self.opts.max_backoff.as_secs_f64());
            let wait = Duration::from_secs_f64(cap * jitter());
            std::thread::sleep(wait.min(self.deadline.saturating_duration_since(now)));
            if Instant::now() >= self.deadline {
                return Err(give_up(self.attempts));
            }
        }
        self.attempts += 1;
        Ok(())
    }
}

/// A failure worth retrying.
struct Retry(String);

/// Downloads `url` to `dest`: a conditional request against `known` (the validators of the
/// version already published), resuming a partial `dest` left by an earlier attempt when the
/// server still has the same version of it.
pub fn download(
    url: &str,
    dest: &Path,
    known: &Validators,
    opts: &HttpOptions,
) -> Result<Fetched, HttpError> {
    let local = |source| HttpError::Local {
        path: dest.to_path_buf(),
        source,
    };
    let started = Instant::now();
    let deadline = started + opts.deadline.min(Duration::from_secs(7 * 24 * 3600));
    let agent = agent(url, opts.ca_file.as_deref())?;
    let mut tries = Tries::new(url, opts, started, deadline);
    let mut last = String::new();
    loop {
        tries.next(std::mem::take(&mut last))?;
        match attempt(&agent, url, dest, known, opts, deadline) {
            Ok(Some((validators, bytes))) => {
                // The download is whole: its description is no longer needed.
                let _ = std::fs::remove_file(partial_meta(dest));
                return Ok(Fetched::File {
                    path: dest.to_path_buf(),
                    validators,
                    bytes,
                    attempts: tries.attempts,
                });
            }
            Ok(None) => {
                let _ = std::fs::remove_file(dest);
                let _ = std::fs::remove_file(partial_meta(dest));
                return Ok(Fetched::NotModified);
            }
            Err(Attempt::Retry(Retry(why))) => last = why,
            Err(Attempt::Fatal(e)) => return Err(e),
            Err(Attempt::Local(e)) => return Err(local(e)),
        }
    }
}

enum Attempt {
    Retry(Retry),
    Fatal(HttpError),
    Local(io::Error),
}

impl From<io::Error> for Attempt {
    fn from(e: io::Error) -> Self {
        Attempt::Local(e)
    }
}

fn header(resp: &ureq::http::Response<ureq::Body>, name: &str) -> Option<String> {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// `bytes START-END/TOTAL` as (start, end, total); `None` for anything else (`*` totals too).
fn parse_content_range(v: &str) -> Option<(u64, u64, u64)> {
    let (range, total) = v.trim().strip_prefix("bytes ")?.split_once('/')?;
    let (start, end) = range.split_once('-')?;
    let (start, end, total): (u64, u64, u64) = (
        start.trim().parse().ok()?,
        end.trim().parse().ok()?,
        total.trim().parse().ok()?,
    );
    (start <= end && end < total).then_some((start, end, total))
}

/// One request. `Ok(None)`: not modified.
fn attempt(
    agent: &ureq::Agent,
    url: &str,
    dest: &Path,
    known: &Validators,
    opts: &HttpOptions,
    deadline: Instant,
) -> Result<Option<(Validators, u64)>, Attempt> {
    // Resume only what an earlier attempt fetched of this URL, of a version with an ETag.
    let partial: Option<Partial> = std::fs::read(partial_meta(dest))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .filter(|p: &Partial| p.url == url && p.validators.etag.is_some());
    let have = match (&partial, std::fs::metadata(dest)) {
        (Some(_), Ok(m)) => m.len(),
        _ => 0,
    };
    let mut req = agent
        .get(url)
        .config()
        .timeout_global(Some(deadline.saturating_duration_since(Instant::now())))
        .build();
    if let Some(t) = &opts.token {
        req = req.header("Authorization", &format!("Bearer {t}"));
    }
    if let (true, Some(p)) = (have > 0, &partial) {
        req = req.header("Range", &format!("bytes={have}-"));
        if let Some(etag) = &p.validators.etag {
            req = req.header("If-Range", etag);
        }
    } else {
        if let Some(etag) = &known.etag {
            req = req.header("If-None-Match", etag);
        }
        if let Some(lm) = &known.last_modified {
            req = req.header("If-Modified-Since", lm);
        }
    }
    let mut resp = match req.call() {
        Ok(r) => r,
        Err(e) => return Err(Attempt::Retry(Retry(e.to_string()))),
    };
    let status = resp.status().as_u16();
    let validators = Validators {
        etag: header(&resp, "etag"),
        last_modified: header(&resp, "last-modified"),
    };
    let (mut file, offset) = match status {
        304 => return Ok(None),
        200 => {
            let f = File::create(dest)?;
            let p = Partial {
                url: super::redact(url),
                validators: validators.clone(),
            };
            std::fs::write(
                partial_meta(dest),
                serde_json::to_vec(&p).map_err(io::Error::other)?,
            )?;
            (f, 0)
        }
        206 => {
            // The range must be the rest of the same version of the resource: start where the
            // file ends, run to its last byte, and carry the ETag the first part had (a proxy
            // that ignores If-Range must not splice two versions). Anything else starts over.
            let range = header(&resp, "content-range").and_then(|r| parse_content_range(&r));
            let same_version = match (&validators.etag, partial.as_ref()) {
                (Some(now), Some(p)) => p.validators.etag.as_ref() == Some(now),
                (None, _) => true,
                (Some(_), None) => false,
            };
            let whole_rest =
                matches!(range, Some((start, end, total)) if start == have && end + 1 == total);
            if !whole_rest || !same_version {
                let _ = std::fs::remove_file(partial_meta(dest));
                return Err(Attempt::Retry(Retry(format!(
                    "the server's range {range:?} does not continue the {have} bytes held \
                     (same version: {same_version}); starting over"
                ))));
            }
            let mut f = OpenOptions::new().write(true).open(dest)?;
            f.seek(SeekFrom::Start(have))?;
            f.set_len(have)?;
            (f, have)
        }
        416 => {
            let _ = std::fs::remove_file(partial_meta(dest));
            return Err(Attempt::Retry(Retry("the server refused the range".into())));
        }
        429 | 500..=599 => {
            return Err(Attempt::Retry(Retry(format!("HTTP {status}"))));
        }
        _ => {
            let mut body = String::new();
            let _ = resp
                .body_mut()
                .as_reader()
                .take(512)
                .read_to_string(&mut body);
            return Err(Attempt::Fatal(HttpError::Status {
                url: super::redact(url),
                status,
                body: body.trim().chars().filter(|c| !c.is_control()).collect(),
            }));
        }
    };
    let expected = header(&resp, "content-length").and_then(|l| l.parse::<u64>().ok());
    let too_large = || {
        let _ = std::fs::remove_file(dest);
        let _ = std::fs::remove_file(partial_meta(dest));
        Attempt::Fatal(HttpError::TooLarge {
            url: super::redact(url),
            max: opts.max_bytes,
        })
    };
    if expected.is_some_and(|len| offset.saturating_add(len) > opts.max_bytes) {
        return Err(too_large());
    }
    // The cap is checked as the bytes arrive (a server may send more than it declared).
    let mut reader = resp.body_mut().with_config().limit(u64::MAX).reader();
    let mut buf = vec![0u8; 1 << 16];
    let mut got = 0u64;
    loop {
        match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if offset + got + n as u64 > opts.max_bytes {
                    drop(file);
                    return Err(too_large());
                }
                file.write_all(&buf[..n])?;
                got += n as u64;
            }
            Err(e) => {
                // Keep what arrived: the next attempt asks for the rest.
                file.sync_data()?;
                return Err(Attempt::Retry(Retry(format!(
                    "the body was cut after {} bytes: {e}",
                    offset + got
                ))));
            }
        }
    }
    file.sync_data()?;
    if let Some(len) = expected
        && len != got
    {
        return Err(Attempt::Retry(Retry(format!(
            "the body ended after {got} of {len} bytes"
        ))));
    }
    let validators = if status == 206 {
        partial.map(|p| p.validators).unwrap_or(validators)
    } else {
        validators
    };
    Ok(Some((validators, offset + got)))
}

/// Fetches one page of a paged API into memory (pages are small), with the same retries,
/// backoff and deadline as [`download`]. `deadline` is shared by every page of one sync.
pub fn get_page(url: &str, opts: &HttpOptions, deadline: Instant) -> Result<Vec<u8>, HttpError> {
    let agent = agent(url, opts.ca_file.as_deref())?;
    let mut tries = Tries::new(url, opts, Instant::now(), deadline);
    let mut last = String::new();
    loop {
        tries.next(std::mem::take(&mut last))?;
        let mut req = agent
            .get(url)
            .config()
            .timeout_global(Some(deadline.saturating_duration_since(Instant::now())))
            .build();
        if let Some(t) = &opts.token {
            req = req.header("Authorization", &format!("Bearer {t}"));
        }
        let mut resp = match req.call() {
            Ok(r) => r,
            Err(e) => {
                last = e.to_string();
                continue;
            }
        };
        let status = resp.status().as_u16();
        match status {
            200 => {
                let mut body = Vec::new();
                // A page over 256 MiB is not a page: refuse it rather than exhaust memory.
                let read = resp
                    .body_mut()
                    .with_config()
                    .limit(256 << 20)
                    .reader()
                    .read_to_end(&mut body);
                match read {
                    Ok(_) => return Ok(body),
                    Err(e) => last = format!("the page was cut: {e}"),
                }
            }
            429 | 500..=599 => last = format!("HTTP {status}"),
            _ => {
                let mut body = String::new();
                let _ = resp
                    .body_mut()
                    .as_reader()
                    .take(512)
                    .read_to_string(&mut body);
                return Err(HttpError::Status {
                    url: super::redact(url),
                    status,
                    body: body.trim().chars().filter(|c| !c.is_control()).collect(),
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{agent, parse_content_range};

    #[test]
    fn an_https_source_never_reaches_plain_http() {
        // The client made for an https:// list refuses any http:// URL, a redirect's target
        // included, before connecting: nothing reaches the listener.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let plain = format!("http://{}/list.jsonl", listener.local_addr().unwrap());
        let err = agent("https://lists.example/list.jsonl", None)
            .unwrap()
            .get(&plain)
            .call()
            .unwrap_err();
        assert!(matches!(err, ureq::Error::RequireHttpsOnly(_)), "{err}");
        assert!(listener.accept().is_err(), "nothing connected");
        // An http:// source itself (no token; the source check refuses tokens) still works.
        assert!(!agent(&plain, None).unwrap().config().https_only());
    }

    #[test]
    fn content_ranges() {
        assert_eq!(
            parse_content_range("bytes 100-199/200"),
            Some((100, 199, 200))
        );
        assert_eq!(
            parse_content_range("bytes 100-149/200"),
            Some((100, 149, 200))
        );
        assert_eq!(parse_content_range("bytes 100-199/*"), None);
        assert_eq!(parse_content_range("bytes 5-1/200"), None);
        assert_eq!(parse_content_range("bytes 0-200/200"), None);
        assert_eq!(parse_content_range("items 0-1/2"), None);
    }
}
