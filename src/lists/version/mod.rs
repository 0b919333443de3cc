//! Building, verifying, publishing and rolling back list versions.
//!
//! A [`Builder`] takes rows (a full load, or a delta of additions and removals on the active
//! version) and writes a complete new version under its own keys, invisible to readers. Its
//! [`Builder::finish`] builds the indexes, reads the version back to check its count and
//! digest (against the source's own figures too, when the source gives them), and returns a
//! [`Staged`] version; [`publish`] then flips the list's metadata to it in one synced batch and
//! prunes versions older than the previous one. Each part has its file: [`builder`],
//! [`publish`](mod@publish) (publish, prune, rollback), [`changelog`] (what each version
//! changed, for deltas) and [`attempt`] (the last attempt, for `lists status`).

pub mod attempt;
pub mod builder;
pub mod changelog;
pub mod publish;

use crate::lists::video::VideoSettings;
use serde::{Deserialize, Serialize};

use super::format::{self, BadRow, ListFormat, ReadOptions};
use super::{Error, ListMeta, default_radius, drop_version};
use crate::hashing::HashKind;
use crate::store::Store;
pub(crate) use attempt::now_secs;
pub use attempt::{LastAttempt, last_attempt, record_attempt};
pub use builder::Builder;
pub use changelog::{CHANGE_LOGS_KEPT, ChangeHeader, change_chain, change_header, change_log};
pub use publish::{publish, publish_with, rollback};

/// Whether rows replace the list or change the active version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// The rows are the whole list; removals are malformed rows.
    Full,
    /// The rows add, replace and remove entries of the active version.
    Delta,
}

/// A list's settings, stored with each version.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Match radius per kind, overriding the kind's default ([`default_radius`]).
    pub radii: Vec<(HashKind, u32)>,
    /// Category for matches of entries that have none.
    pub category: Option<String>,
    /// The investigating unit its matches go to.
    pub unit: Option<String>,
    /// Where the list comes from, recorded with the version and every new entry.
    pub source: String,
    /// Largest share of malformed rows (percent) that still publishes the version.
    pub max_bad_pct: f64,
    /// Largest share (percent) by which a full load may shrink the active version; an empty
    /// full load is always refused. A feed that breaks must not turn every lookup into "no
    /// match".
    pub max_shrink_pct: f64,
    /// Publish an empty or much smaller full load all the same: the administrator's explicit
    /// decision (a list really withdrawn), never a default.
    pub allow_shrink: bool,
    /// How its videos are matched (kept only when the list holds videos).
    pub video: VideoSettings,
}

/// A full load may lose at most this share (percent) of the active version's entries.
pub const DEFAULT_MAX_SHRINK_PCT: f64 = 50.0;

impl Default for Settings {
    fn default() -> Self {
        Settings {
            radii: Vec::new(),
            category: None,
            unit: None,
            source: String::new(),
            max_bad_pct: 1.0,
            max_shrink_pct: DEFAULT_MAX_SHRINK_PCT,
            allow_shrink: false,
            video: VideoSettings::default(),
        }
    }
}

impl Settings {
    /// The settings an existing list was published with.
    pub fn of(meta: &ListMeta) -> Self {
        Settings {
            radii: meta.kinds.iter().map(|k| (k.kind, k.radius)).collect(),
            category: meta.category.clone(),
            unit: meta.unit.clone(),
            source: meta.source.clone(),
            video: meta.video.unwrap_or_default(),
            ..Settings::default()
        }
    }

    fn radius(&self, kind: HashKind) -> u32 {
        self.radii
            .iter()
            .find(|(k, _)| *k == kind)
            .map_or_else(|| default_radius(kind), |(_, r)| *r)
    }
}

/// What the source says the finished version must be, when it says it.
#[derive(Debug, Clone, Default)]
pub struct Expect {
    /// Entry count.
    pub entries: Option<u64>,
    /// [`SetDigest`] in hex.
    pub digest: Option<String>,
}

/// A version written and verified but not yet published.
#[derive(Debug, Clone)]
pub struct Staged {
    /// The metadata it will be published with.
    pub meta: ListMeta,
    /// The version it was built on (the active one when the build started).
    pub base: Option<u32>,
    /// Rows read, good and bad.
    pub rows: u64,
    /// Malformed rows (their count is `meta.bad_rows`); the first ones, with line numbers.
    pub bad_rows: Vec<BadRow>,
    /// Rows that replaced an earlier row with the same id and kind in a full load.
    pub duplicates: u64,
    /// How the version's change log relates it to the one before.
    pub change: ChangeHeader,
}

/// How to import a list file.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// Its format.
    pub format: ListFormat,
    /// Format options (the kind of bare hex lines).
    pub read: ReadOptions,
    /// A full load or a delta.
    pub mode: Mode,
    /// The list's settings.
    pub settings: Settings,
}

/// Imports a whole file as a new version of `name` (a full load, or a delta on the active
/// version, or on an empty list when there is none) and publishes it; returns the version as published. A failed import leaves the
/// active version as it was and is recorded for `lists status`.
pub fn import(
    store: &Store,
    name: &str,
    input: impl std::io::BufRead,
    opts: &ImportOptions,
) -> Result<Staged, Error> {
    // A delta on a list with no active version applies to an empty one: a feed's first
    // download is often its whole history as changes (additions and tombstones interleaved),
    // and a removal of an id the list does not hold is a counted no-op.
    import_rows(
        store,
        name,
        format::read(opts.format, input, &opts.read),
        opts,
    )
}

/// [`import`] from rows already opened (a directory of vPDQ videos, [`format::read_vpdq_dir`]).
pub fn import_rows(
    store: &Store,
    name: &str,
    rows: format::Rows<'_>,
    opts: &ImportOptions,
) -> Result<Staged, Error> {
    let mut b = Builder::new(store, name, opts.mode, opts.settings.clone())?;
    if let Err(e) = b.push_rows(rows) {
        // Recording is best effort: the read error is the one to report.
        let _ = record_attempt(
            store,
            name,
            &LastAttempt {
                at: now_secs(),
                ok: false,
                version: None,
                error: Some(e.to_string()),
                rows: b.rows,
                bad: b.bad,
                bad_rows: b.bad_rows.clone(),
            },
        );
        drop_version(store, name, b.version)?;
        return Err(e);
    }
    // `finish` records its own failures.
    let mut staged = b.finish(&Expect::default())?;
    staged.meta = publish(store, staged.clone())?;
    Ok(staged)
}
