//! Hub sources: a central hashguard server. A regional server asks it for what brings its copy
//! from the hub version it holds to the hub's active version (the logged changes, or a full copy
//! when the chain is broken) and publishes the result only if its entry count and digest equal
//! the hub's. The call itself goes through the [`Hub`] trait, which the service layer
//! implements over gRPC: the list code knows nothing of the transport.

use std::io::BufReader;
use std::path::Path;
use std::time::{Duration, Instant};

use super::{SyncOutcome, redact};
use crate::lists::delta::{self, DeltaHeader};
use crate::lists::source::ListSource;
use crate::lists::spool::download_path;
use crate::lists::{Error, get};
use crate::store::Store;

/// One call to a hub.
#[derive(Debug)]
pub struct HubCall<'a> {
    /// The hub's URL (`http://` or `https://`, loopback for plaintext).
    pub url: &'a str,
    /// The mirror token.
    pub token: &'a str,
    /// The CA that signed an `https` hub's certificate.
    pub ca_file: Option<&'a Path>,
    /// The list's name on the hub.
    pub list: &'a str,
    /// The hub version this copy holds, if any.
    pub held: Option<u32>,
    /// When the whole sync must be done.
    pub deadline: Instant,
    /// Where the rows go.
    pub dest: &'a Path,
}

/// Why a hub call failed, by what fixes it.
#[derive(Debug, thiserror::Error)]
pub enum HubError {
    /// Worth another attempt (the hub is unreachable, overloaded or restarting).
    #[error("{0}")]
    Transient(String),
    /// The hub refused for good (an error another attempt will not fix).
    #[error("{0}")]
    Refused(String),
    /// The configuration is wrong: the token refused, no such list on the hub, TLS settings.
    #[error("{0}")]
    Config(String),
    /// The hub answered something unusable.
    #[error("{0}")]
    BadAnswer(String),
    /// The rows could not be written here.
    #[error("{what}: {source}")]
    Local {
        /// What was being written.
        what: String,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// How hubs are reached.
pub trait Hub: Send + Sync {
    /// Fetches what brings `call.held` to the hub's active version of `call.list` into
    /// `call.dest` and returns its header; `None` when the copy is up to date.
    fn fetch_delta(&self, call: &HubCall<'_>) -> Result<Option<DeltaHeader>, HubError>;
}

/// For callers that have no way to reach a hub: every hub source fails, saying so.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoHub;

impl Hub for NoHub {
    fn fetch_delta(&self, _: &HubCall<'_>) -> Result<Option<DeltaHeader>, HubError> {
        Err(HubError::Refused(
            "hub sources need the service layer's client".into(),
        ))
    }
}

/// Syncs `name` from the hub at `url`.
pub(super) fn sync(
    store: &Store,
    name: &str,
    src: &ListSource,
    url: &str,
    hub: &dyn Hub,
) -> Result<SyncOutcome, Error> {
    // `ListSource::parse_source` made sure a hub has a token variable.
    let token = src.token(name)?.unwrap_or_default();
    let remote = src.hub_list.clone().unwrap_or_else(|| name.to_string());
    let held = get(store, name)
        .ok()
        .and_then(|m| delta::source_version(&m));
    let dest = download_path(store, name)?;
    let call = HubCall {
        url,
        token: &token,
        // The CA matters for an https hub only (a plaintext hub is on this machine).
        ca_file: src
            .ca_file
            .as_deref()
            .filter(|_| url.starts_with("https://")),
        list: &remote,
        held,
        deadline: super::deadline(src.deadline_secs),
        dest: &dest,
    };
    let mut attempts = 0;
    let header = loop {
        attempts += 1;
        match hub.fetch_delta(&call) {
            Ok(h) => break h,
            Err(HubError::Refused(message)) => return Err(Error::Fetch { message }),
            Err(HubError::Config(problem)) => return Err(Error::config(name, problem)),
            Err(HubError::BadAnswer(why)) => {
                return Err(Error::bad_input(format!("hub {}", redact(url)), why));
            }
            Err(HubError::Local { what, source }) => return Err(Error::Io { what, source }),
            Err(HubError::Transient(e)) => {
                let now = Instant::now();
                if attempts > src.retries || now >= call.deadline {
                    return Err(Error::Fetch {
                        message: format!(
                            "hub {}: gave up after {attempts} attempts: {e}",
                            redact(url)
                        ),
                    });
                }
                let wait = Duration::from_millis(src.backoff_ms)
                    .saturating_mul(1 << (attempts - 1).min(16))
                    .min(Duration::from_secs(60));
                std::thread::sleep(wait.min(call.deadline - now));
            }
        }
    };
    let Some(header) = header else {
        return Ok(SyncOutcome::Unchanged);
    };
    let rows = std::fs::File::open(&dest).map_err(|source| Error::Io {
        what: format!("reading {}", dest.display()),
        source,
    })?;
    let described = format!("hub:{}/{remote}", redact(url));
    let result = delta::apply(
        store,
        name,
        &header,
        BufReader::with_capacity(1 << 20, rows),
        src.settings(described),
    );
    let _ = std::fs::remove_file(&dest);
    result.map(|s| SyncOutcome::Published(Box::new(s)))
}
