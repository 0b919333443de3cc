//! HTTP(S) URL sources: one file, fetched with conditional requests (nothing is downloaded when
//! it has not changed) and resumed by range after a cut ([`super::http`]).

use std::time::Duration;

use super::http::{self, Fetched as Download, HttpOptions, Validators};
use super::{FetchedFile, redact, state};
use crate::lists::source::ListSource;
use crate::lists::spool::download_path;
use crate::lists::{Error, get};
use crate::store::Store;

/// The file at `url` when it changed since the last publication; `None` when it did not.
pub(super) fn fetch(
    store: &Store,
    name: &str,
    src: &ListSource,
    url: &str,
) -> Result<Option<FetchedFile>, Error> {
    let mut st = state(store, name)?;
    let opts = HttpOptions {
        token: src.token(name)?,
        deadline: super::deadline_duration(src.deadline_secs),
        retries: src.retries,
        backoff: Duration::from_millis(src.backoff_ms),
        max_bytes: src.max_download_mb.saturating_mul(1 << 20),
        ca_file: src.ca_file.clone(),
        ..HttpOptions::default()
    };
    let dest = download_path(store, name)?;
    // A list that is not active (never published, or lost) is fetched in full.
    let known = if get(store, name).is_ok() {
        st.validators.clone()
    } else {
        Validators::default()
    };
    match http::download(url, &dest, &known, &opts).map_err(|e| e.for_list(name))? {
        Download::NotModified => Ok(None),
        Download::File {
            path, validators, ..
        } => {
            let upstream = validators.etag.clone().or(validators.last_modified.clone());
            st.validators = validators;
            Ok(Some(FetchedFile {
                path,
                described: redact(url),
                upstream,
                state: st,
            }))
        }
    }
}
