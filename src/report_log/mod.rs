//! The report log: one durable record per match event, routed to the investigating unit of the
//! list that matched. Each unit has its own stream numbered by a cursor (1, 2, …) without gaps,
//! given in commit order, so an investigator can page through it or follow it from any point
//! without gaps or repeats.
//!
//! Two backends keep it ([`ReportLog`]): the server's own RocksDB ([`RocksLog`], the embedded
//! default, for one machine) and PostgreSQL ([`PostgresLog`], shared by several replicas).
//! Either way a report is durable before `file` returns.

pub mod audit;
mod postgres;
mod rocks;

use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::hashing::{Dihedral, HashKind};
use crate::store;
pub use audit::{AuditEntry, AuditRecord};
pub use postgres::{PostgresLog, PostgresOptions};
pub use rocks::RocksLog;

/// One matching list entry in a report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportMatch {
    /// List name.
    pub list: String,
    /// List version that matched.
    pub list_version: u32,
    /// The list's id of the entry.
    pub entry_id: String,
    /// The entry's hash, hex.
    pub entry_hash: String,
    /// Hamming distance (0 for digests).
    pub distance: u32,
    /// Hash kind.
    pub kind: HashKind,
    /// Rotation or flip of the submitted image that matched, when not the original.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dihedral: Option<Dihedral>,
    /// Category of the entry, else of the list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// For videos: the matching frame's time in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frame_ts: Option<f64>,
    /// For listed videos (kind `vpdq`): match or excerpt, both shares and the ranges.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub video: Option<crate::matcher::VideoMatch>,
}

/// A durable report of one match event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Unique id (random, says nothing about the unit or the list).
    pub id: String,
    /// Position in the unit's stream.
    pub cursor: u64,
    /// Creation time, seconds since the Unix epoch.
    pub created_at: u64,
    /// Submitting tenant.
    pub tenant: String,
    /// The tenant's reference for the submission.
    pub tenant_reference: String,
    /// Investigating unit.
    pub unit: String,
    /// SHA-256 of the media, hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// MD5 of the media, hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub md5: Option<String>,
    /// SHA-1 of the media, hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha1: Option<String>,
    /// The matches.
    pub matches: Vec<ReportMatch>,
    /// What was hashed, when not all of the media.
    #[serde(default, flatten)]
    pub coverage: Coverage,
    /// Acknowledged by the unit.
    #[serde(default)]
    pub acked: bool,
}

/// A report before it is filed (no id, cursor or time yet).
#[derive(Debug, Clone, PartialEq)]
pub struct NewReport {
    /// Submitting tenant.
    pub tenant: String,
    /// The tenant's reference.
    pub tenant_reference: String,
    /// Investigating unit.
    pub unit: String,
    /// Digests of the media, hex.
    pub sha256: Option<String>,
    /// MD5, hex.
    pub md5: Option<String>,
    /// SHA-1, hex.
    pub sha1: Option<String>,
    /// The matches.
    pub matches: Vec<ReportMatch>,
    /// What was hashed, when not all of the media.
    pub coverage: Coverage,
}

/// How much of the submitted media was hashed, so an investigator knows what a match (or the
/// absence of one) rests on.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Coverage {
    /// Set when only some frames were hashed: the cap or damage that cut the rest
    /// (`wall_clock`, `max_frames`, `max_duration`, `max_animation`, `damaged`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partial: Option<String>,
    /// The declared `[width, height]` of an image hashed from a reduced copy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reduced_from: Option<[u32; 2]>,
}

impl Report {
    /// A filed report: `new` with its id, cursor and time, not yet acknowledged.
    pub fn new(new: NewReport, id: String, cursor: u64, created_at: u64) -> Self {
        Report {
            id,
            cursor,
            created_at,
            tenant: new.tenant,
            tenant_reference: new.tenant_reference,
            unit: new.unit,
            sha256: new.sha256,
            md5: new.md5,
            sha1: new.sha1,
            matches: new.matches,
            coverage: new.coverage,
            acked: false,
        }
    }
}

/// Why a report operation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] store::Error),
    /// A stored report does not decode.
    #[error("corrupt stored report: {0}")]
    Corrupt(String),
    /// PostgreSQL failed or cannot be reached.
    #[error("report database: {0}")]
    Database(String),
    /// The PostgreSQL backend is configured wrongly (the operator must fix it).
    #[error("report database configuration: {0}")]
    Config(String),
}

/// A filed report, as followers learn of it: the unit and cursor, or `None` for "anything may
/// have been filed" (after a lost database notification), which makes every follower read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filed {
    /// The unit, `None` for every unit.
    pub unit: Option<String>,
    /// Its new last cursor.
    pub cursor: u64,
}

/// Files, lists and acknowledges reports. Calls block (a write is synced before it returns):
/// call them from blocking threads, never on an async worker.
pub trait ReportLog: Send + Sync {
    /// Files a report durably and returns it with its id, cursor and time.
    fn file(&self, new: NewReport) -> Result<Report, Error>;
    /// Up to `limit` reports of `unit` after `cursor`, oldest first, and no more than
    /// `max_bytes` of them as stored (at least one, whatever its size), at a cost of the page
    /// and not of the history before it.
    fn list(
        &self,
        unit: &str,
        cursor: u64,
        limit: usize,
        max_bytes: usize,
    ) -> Result<Vec<Report>, Error>;
    /// Marks the reports of `unit` with these ids as acknowledged; ids of other units are
    /// ignored (and not revealed). Returns how many were newly acknowledged.
    fn ack(&self, unit: &str, ids: &[String]) -> Result<u32, Error>;
    /// Checks that a report could be filed now, with one durable write that files nothing.
    fn probe(&self) -> Result<(), Error>;
    /// Appends an entry to the audit log (durably, chained to the one before); its sequence
    /// number and time are given here.
    fn audit(
        &self,
        actor: &str,
        action: &str,
        detail: serde_json::Value,
    ) -> Result<AuditRecord, Error>;
    /// Up to `limit` audit records after sequence number `after`, in order.
    fn audit_page(&self, after: u64, limit: usize) -> Result<Vec<AuditRecord>, Error>;
    /// Every unit that has had a report.
    fn units(&self) -> Result<Vec<String>, Error>;
    /// Deletes the reports of `unit` filed before `before` (seconds since the Unix epoch).
    /// Cursors are never given again: the unit's stream now starts later.
    fn purge(&self, unit: &str, before: u64) -> Result<Purged, Error>;
}

/// What a purge deleted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Purged {
    /// Reports deleted.
    pub reports: u64,
    /// The first and last cursor deleted, when any was.
    pub cursors: Option<(u64, u64)>,
}

impl Purged {
    /// Counts one deleted report at `cursor`.
    fn add(&mut self, cursor: u64) {
        self.reports += 1;
        self.cursors = Some(match self.cursors {
            Some((a, b)) => (a.min(cursor), b.max(cursor)),
            None => (cursor, cursor),
        });
    }
}

/// The audit entry that follows the record `head` (sequence number and hash; `None` for an
/// empty log).
pub(crate) fn next_audit(
    head: Option<(u64, String)>,
    actor: &str,
    action: &str,
    detail: serde_json::Value,
) -> Result<AuditRecord, Error> {
    let (seq, prev) = head.unwrap_or((0, audit::GENESIS.to_string()));
    AuditRecord::chain(
        &prev,
        &AuditEntry {
            seq: seq + 1,
            at: now(),
            actor: actor.to_string(),
            action: action.to_string(),
            detail,
        },
    )
}

/// Deletes every unit's reports older than its retention (`days_for(unit)`, `None`: kept),
/// as of `now`, and writes each purge to the audit log with `actor`. Returns what was purged.
pub fn purge_expired(
    log: &dyn ReportLog,
    days_for: impl Fn(&str) -> Option<u32>,
    now: u64,
    actor: &str,
) -> Result<Vec<(String, Purged)>, Error> {
    let mut done = Vec::new();
    for unit in log.units()? {
        let Some(days) = days_for(&unit) else {
            continue;
        };
        let before = now.saturating_sub(u64::from(days) * 86_400);
        let purged = log.purge(&unit, before)?;
        if let Some((first, last)) = purged.cursors {
            log.audit(
                actor,
                "reports.purge",
                serde_json::json!({
                    "unit": unit, "retention_days": days, "before": before,
                    "reports": purged.reports, "first_cursor": first, "last_cursor": last,
                }),
            )?;
            done.push((unit, purged));
        }
    }
    Ok(done)
}

/// A page's byte budget, shared by the backends: reports are taken while the page stays
/// within `max` bytes as stored, and the first is always taken, so a page always moves on.
pub(crate) struct PageBudget {
    max: usize,
    used: usize,
}

impl PageBudget {
    /// A budget of `max` bytes.
    pub(crate) fn new(max: usize) -> Self {
        PageBudget { max, used: 0 }
    }

    /// Counts a stored report of `len` bytes; true when it still belongs on a page that
    /// holds `taken` reports so far.
    pub(crate) fn admits(&mut self, len: usize, taken: usize) -> bool {
        self.used = self.used.saturating_add(len);
        taken == 0 || self.used <= self.max
    }
}

/// Seconds since the Unix epoch.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

pub(crate) fn new_id() -> String {
    let mut b = [0u8; 16];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut b);
    hex::encode(b)
}

/// A stored report from its bytes (as the store holds them).
pub fn decode(bytes: &[u8]) -> Result<Report, Error> {
    serde_json::from_slice(bytes).map_err(|e| Error::Corrupt(e.to_string()))
}
