//! Where a list comes from (`[lists.NAME]` in the service's configuration): the settings as
//! written, and the source string parsed once into a [`Source`]. The transport rules live here
//! too: a bearer token never goes in plaintext to a host other than this machine.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::format::ListFormat;
use super::version::{Mode, Settings};
use super::{Error, check_name};
use crate::hashing::HashKind;

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
    /// Largest share (percent) by which a full load may shrink the list; an empty full load is
    /// always refused. Forced only by `lists import --allow-shrink`.
    pub max_shrink_pct: f64,
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
    /// CA certificate (PEM) to trust for an `https` hub or HTTPS source (a private CA);
    /// without it, HTTPS sources are checked against the built-in web roots.
    pub ca_file: Option<PathBuf>,
    /// Largest download of one sync (one file, or all pages of a paged source), MiB; past it
    /// the sync fails and the active version keeps serving.
    pub max_download_mb: u64,
    /// Lists of videos: the shares (0–1) both sides must reach for a `match`, the quality
    /// floor, and the seconds that make an `excerpt` (`[lists.NAME.video]`).
    pub video: crate::lists::video::VideoSettings,
}

/// The default cap on one sync's download: 16 GiB (the largest national lists are a few GB).
pub const DEFAULT_MAX_DOWNLOAD_MB: u64 = 16 << 10;

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
            max_shrink_pct: crate::lists::version::DEFAULT_MAX_SHRINK_PCT,
            token_env: None,
            deadline_secs: 30 * 60,
            retries: 8,
            backoff_ms: 500,
            paged: false,
            page_param: "next".into(),
            hub_list: None,
            ca_file: None,
            max_download_mb: DEFAULT_MAX_DOWNLOAD_MB,
            video: Default::default(),
        }
    }
}

/// A source, parsed from its configured string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// `file:PATH`: the file is the list (or the delta).
    File(PathBuf),
    /// `dir:PATH`: a drop directory; the newest file is the list (deltas: every new file).
    Dir(PathBuf),
    /// An `http://` or `https://` URL of one file.
    Http(String),
    /// An `http(s)` URL of a paged API (`paged = true`).
    Paged(String),
    /// `hub+http(s)://HOST:PORT`: another hashguard server; the value is the server's URL.
    Hub(String),
}

/// The host of a URL, without port, brackets or credentials.
fn host_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if let Some(v6) = authority.strip_prefix('[') {
        return v6.split(']').next().unwrap_or("");
    }
    authority.split(':').next().unwrap_or("")
}

/// True for `localhost` and loopback IP literals (with or without IPv6 brackets): the hosts a
/// token may reach in plaintext.
pub fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

impl ListSource {
    /// The source string parsed, with the rules every source must follow.
    pub fn parse_source(&self, list: &str) -> Result<Source, Error> {
        let s = self.source.trim();
        let bad = |problem: String| Error::config(list, problem);
        let source = if let Some(p) = s.strip_prefix("file:") {
            Source::File(PathBuf::from(p))
        } else if let Some(p) = s.strip_prefix("dir:") {
            Source::Dir(PathBuf::from(p))
        } else if let Some(url) = s.strip_prefix("hub+") {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(bad(format!("source {s:?}: use hub+http(s)://HOST:PORT")));
            }
            Source::Hub(url.to_string())
        } else if s.starts_with("http://") || s.starts_with("https://") {
            if self.paged {
                Source::Paged(s.to_string())
            } else {
                Source::Http(s.to_string())
            }
        } else {
            return Err(bad(format!(
                "source {s:?}: use file:PATH, dir:PATH, an http(s) URL or hub+http(s)://HOST:PORT"
            )));
        };
        if self.paged && !matches!(source, Source::Paged(_)) {
            return Err(bad("a paged source must be an http(s) URL".into()));
        }
        match &source {
            Source::Hub(_) if self.token_env.is_none() => {
                return Err(bad("a hub source needs token_env (a mirror token)".into()));
            }
            Source::Hub(url) if url.starts_with("https://") && self.ca_file.is_none() => {
                return Err(bad(
                    "a hub+https source needs ca_file (the CA that signed the hub's certificate)"
                        .into(),
                ));
            }
            Source::Http(url) | Source::Paged(url) | Source::Hub(url)
                if self.token_env.is_some()
                    && url.starts_with("http://")
                    && !is_loopback_host(host_of(url)) =>
            {
                return Err(bad(format!(
                    "refusing to send the token in plaintext to {}: use https://, or a loopback \
                     address",
                    host_of(url)
                )));
            }
            _ => {}
        }
        Ok(source)
    }

    /// The configured format.
    pub fn format(&self, list: &str) -> Result<ListFormat, Error> {
        self.format
            .parse()
            .map_err(|e: Error| Error::config(list, e.to_string()))
    }

    /// The bearer token from the environment variable `token_env` names, if one is named.
    pub fn token(&self, list: &str) -> Result<Option<String>, Error> {
        match &self.token_env {
            Some(var) => std::env::var(var)
                .map(Some)
                .map_err(|_| Error::config(list, format!("the token variable {var} is not set"))),
            None => Ok(None),
        }
    }

    /// Checks the source without fetching it (for `config check` and `serve`): the list name,
    /// the source form and its transport rules, the format, that the token variable is set,
    /// and the share of malformed rows.
    pub fn check(&self, list: &str) -> Result<(), Error> {
        check_name(list)?;
        self.format(list)?;
        self.parse_source(list)?;
        self.token(list)?;
        if !(0.0..=100.0).contains(&self.max_bad_pct) {
            return Err(Error::config(list, "max_bad_pct must be 0-100"));
        }
        let radii: Vec<(HashKind, u32)> = self.radius.iter().map(|(k, r)| (*k, *r)).collect();
        crate::lists::check_radii(&radii).map_err(|why| Error::config(list, why))?;
        if !(0.0..=100.0).contains(&self.max_shrink_pct) {
            return Err(Error::config(list, "max_shrink_pct must be 0-100"));
        }
        if self.max_download_mb == 0 {
            return Err(Error::config(list, "max_download_mb must be at least 1"));
        }
        if let Some(ca) = &self.ca_file {
            crate::lists::sync::http::read_ca(ca).map_err(|e| Error::config(list, e))?;
        }
        Ok(())
    }

    /// The settings a version synced from this source is published with; `described` is the
    /// source as the list's metadata records it.
    pub fn settings(&self, described: String) -> Settings {
        Settings {
            radii: self.radius.iter().map(|(k, r)| (*k, *r)).collect(),
            category: self.category.clone(),
            unit: self.unit.clone(),
            source: described,
            max_bad_pct: self.max_bad_pct,
            max_shrink_pct: self.max_shrink_pct,
            allow_shrink: false,
            video: self.video,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src(source: &str, token: bool) -> ListSource {
        ListSource {
            source: source.into(),
            token_env: token.then(|| "PATH".into()),
            ..ListSource::default()
        }
    }

    #[test]
    fn sources_parse_once_into_their_kind() {
        assert_eq!(
            src("file:/l.txt", false).parse_source("l").unwrap(),
            Source::File("/l.txt".into())
        );
        assert_eq!(
            src("dir:/drop", false).parse_source("l").unwrap(),
            Source::Dir("/drop".into())
        );
        assert_eq!(
            src("https://h.example/l", false).parse_source("l").unwrap(),
            Source::Http("https://h.example/l".into())
        );
        assert_eq!(
            ListSource {
                ca_file: Some("/etc/hub-ca.pem".into()),
                ..src("hub+https://hub.example:50051", true)
            }
            .parse_source("l")
            .unwrap(),
            Source::Hub("https://hub.example:50051".into())
        );
        let paged = ListSource {
            paged: true,
            ..src("https://api.example/v2", false)
        };
        assert_eq!(
            paged.parse_source("l").unwrap(),
            Source::Paged("https://api.example/v2".into())
        );
        assert!(src("ftp://h/l", false).parse_source("l").is_err());
        assert!(
            src("hub+https://h:1", false).parse_source("l").is_err(),
            "a hub needs a token"
        );
        let paged_file = ListSource {
            paged: true,
            ..src("file:/l", false)
        };
        assert!(paged_file.parse_source("l").is_err());
    }

    #[test]
    fn a_token_never_goes_in_plaintext_off_this_machine() {
        for url in ["http://feeds.example/l", "hub+http://10.1.2.3:50051"] {
            let e = src(url, true).parse_source("l").unwrap_err();
            assert!(e.to_string().contains("plaintext"), "{url}: {e}");
        }
        for url in [
            "http://127.0.0.1:8080/l",
            "http://localhost/l",
            "http://[::1]:8080/l",
            "hub+http://127.0.0.1:50051",
            "https://feeds.example/l",
        ] {
            assert!(src(url, true).parse_source("l").is_ok(), "{url}");
        }
        // Without a token nothing secret travels.
        assert!(
            src("http://feeds.example/l", false)
                .parse_source("l")
                .is_ok()
        );
    }
}
