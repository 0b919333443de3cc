//! The last attempt to change a list, kept for `lists status`.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::lists::Error;
use crate::lists::format::BadRow;
use crate::store::{Cf, Store, keys};

/// The result of the last attempt to change a list, for `lists status`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LastAttempt {
    /// When it ended (seconds since the Unix epoch).
    pub at: u64,
    /// Whether a version was published.
    pub ok: bool,
    /// The version published, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u32>,
    /// Why it failed, if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Rows read.
    pub rows: u64,
    /// Malformed rows.
    pub bad: u64,
    /// The first malformed rows, with line numbers.
    #[serde(default)]
    pub bad_rows: Vec<BadRow>,
}

/// The last attempt to change list `name`, if one was recorded.
pub fn last_attempt(store: &Store, name: &str) -> Result<Option<LastAttempt>, Error> {
    match store.get(Cf::Meta, keys::last_attempt(name).bytes())? {
        Some(v) => serde_json::from_slice(&v)
            .map(Some)
            .map_err(|e| Error::corrupt(format!("last attempt of list {name}: {e}"))),
        None => Ok(None),
    }
}

/// Records the outcome of an attempt (synced), for `lists status`.
pub fn record_attempt(store: &Store, name: &str, attempt: &LastAttempt) -> Result<(), Error> {
    let json = serde_json::to_vec(attempt).map_err(|e| Error::corrupt(e.to_string()))?;
    let mut b = store.batch();
    b.put(store, Cf::Meta, keys::last_attempt(name).bytes(), &json)?;
    store.write(b)?;
    Ok(())
}

pub(crate) fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
