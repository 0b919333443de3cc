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

/// Why a hub call failed.
#[derive(Debug, thiserror::Error)]
pub enum HubError {
    /// Worth another attempt (the hub is unreachable, overloaded or restarting).
    #[error("{0}")]
    Transient(String),
    /// Another attempt will not help (refused, misconfigured, unusable answer).
    #[error("{0}")]
    Refused(String),
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
    let token = src
        .token(name)?
        .ok_or_else(|| Error::config(name, "a hub source needs token_env (a mirror token)"))?;
    let remote = src.hub_list.clone().unwrap_or_else(|| name.to_string());
    let held = get(store, name)
        .ok()
        .and_then(|m| delta::source_version(&m));
    let dest = download_path(store, name)?;
    let call = HubCall {
        url,
        token: &token,
        ca_file: src.ca_file.as_deref(),
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
