//! The report log: one durable record per match event, routed to the investigating unit of the
//! list that matched. Each unit has its own stream numbered by a cursor (1, 2, …), so an
//! investigator can page through it or follow it from any point without gaps or repeats.
//!
//! Keys in the `reports` column family: `R unit cursor` → the report (JSON), and
//! `I id` → `unit cursor`, to acknowledge by id. Every write is one synced batch: a report the
//! service acknowledged to an operator survives a crash.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::hashing::{Dihedral, HashKind};
use crate::store::{self, Cf, Store, keys};

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

/// Why a report operation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] store::Error),
    /// A stored report does not decode.
    #[error("corrupt stored report: {0}")]
    Corrupt(String),
}

/// Files, lists and acknowledges reports in a store.
pub struct ReportLog {
    /// Last cursor per unit, loaded lazily from the store; the lock also orders the writes of
    /// one unit's stream.
    last: Mutex<HashMap<String, u64>>,
}

impl Default for ReportLog {
    fn default() -> Self {
        Self::new()
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn new_id() -> String {
    let mut b = [0u8; 16];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut b);
    hex::encode(b)
}

/// The cursor at the end of a report's key.
fn cursor_of(key: &[u8]) -> Result<u64, Error> {
    let tail: [u8; 8] = key
        .get(key.len().saturating_sub(8)..)
        .and_then(|t| t.try_into().ok())
        .ok_or_else(|| Error::Corrupt("short report key".into()))?;
    Ok(u64::from_be_bytes(tail))
}

/// A stored report from its bytes (as the store holds them).
pub fn decode(bytes: &[u8]) -> Result<Report, Error> {
    serde_json::from_slice(bytes).map_err(|e| Error::Corrupt(e.to_string()))
}

impl ReportLog {
    /// A report log over whatever the store holds.
    pub fn new() -> Self {
        ReportLog {
            last: Mutex::new(HashMap::new()),
        }
    }

    /// The unit's last cursor (0 before its first report): one reverse seek.
    fn last_cursor(store: &Store, unit: &str) -> Result<u64, Error> {
        match store.last_with_prefix(Cf::Reports, keys::reports(unit).bytes())? {
            Some((k, _)) => cursor_of(&k),
            None => Ok(0),
        }
    }

    /// Files a report durably (synced) and returns it with its id, cursor and time.
    pub fn file(&self, store: &Store, new: NewReport) -> Result<Report, Error> {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        let cursor = match last.get(&new.unit) {
            Some(c) => *c + 1,
            None => Self::last_cursor(store, &new.unit)? + 1,
        };
        let report = Report {
            id: new_id(),
            cursor,
            created_at: now(),
            tenant: new.tenant,
            tenant_reference: new.tenant_reference,
            unit: new.unit,
            sha256: new.sha256,
            md5: new.md5,
            sha1: new.sha1,
            matches: new.matches,
            coverage: new.coverage,
            acked: false,
        };
        let body = serde_json::to_vec(&report).map_err(|e| Error::Corrupt(e.to_string()))?;
        let mut b = store.batch();
        b.put(
            store,
            Cf::Reports,
            keys::reports(&report.unit).u64(cursor).bytes(),
            &body,
        )?;
        b.put(
            store,
            Cf::Reports,
            keys::report_id(&report.id).bytes(),
            keys::report_location(&report.unit, cursor).bytes(),
        )?;
        store.write(b)?;
        last.insert(report.unit.clone(), cursor);
        Ok(report)
    }

    /// Checks that a report could be filed now: one durable write to the reports' column
    /// family (a key no report uses). The server probes with it after a failure.
    pub fn probe(store: &Store) -> Result<(), Error> {
        let mut b = store.batch();
        b.put(store, Cf::Reports, b"~probe", &now().to_be_bytes())?;
        store.write(b)?;
        Ok(())
    }

    /// Up to `limit` reports of `unit` after `cursor`, oldest first, and no more than
    /// `max_bytes` of them as stored (at least one, whatever its size). A page costs a seek
    /// to the cursor and the reports it returns, never the unit's history before them.
    pub fn list(
        store: &Store,
        unit: &str,
        cursor: u64,
        limit: usize,
        max_bytes: usize,
    ) -> Result<Vec<Report>, Error> {
        let prefix = keys::reports(unit);
        let start = keys::reports(unit).u64(cursor.saturating_add(1));
        let mut out = Vec::new();
        let mut bytes = 0usize;
        for kv in store.scan_from(Cf::Reports, start.bytes(), prefix.bytes())? {
            let (k, v) = kv?;
            if cursor_of(&k)? <= cursor {
                continue;
            }
            bytes = bytes.saturating_add(v.len());
            if !out.is_empty() && bytes > max_bytes {
                break;
            }
            out.push(decode(&v)?);
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }

    /// Marks the reports of `unit` with these ids as acknowledged; ids of other units are
    /// ignored (and not revealed). Returns how many were newly acknowledged.
    pub fn ack(&self, store: &Store, unit: &str, ids: &[String]) -> Result<u32, Error> {
        let _order = self.last.lock().unwrap_or_else(|p| p.into_inner());
        let mut b = store.batch();
        let mut n = 0;
        for id in ids {
            let Some(loc) = store.get(Cf::Reports, keys::report_id(id).bytes())? else {
                continue;
            };
            let key = keys::report_at(&loc);
            let Some(v) = store.get(Cf::Reports, &key)? else {
                continue;
            };
            let mut r = decode(&v)?;
            if r.unit != unit || r.acked {
                continue;
            }
            r.acked = true;
            let body = serde_json::to_vec(&r).map_err(|e| Error::Corrupt(e.to_string()))?;
            b.put(store, Cf::Reports, &key, &body)?;
            n += 1;
        }
        if n > 0 {
            store.write(b)?;
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new(unit: &str, entry: &str) -> NewReport {
        NewReport {
            tenant: "acme".into(),
            tenant_reference: "upload-1".into(),
            unit: unit.into(),
            sha256: Some("ab".repeat(32)),
            md5: None,
            sha1: None,
            matches: vec![ReportMatch {
                list: "l".into(),
                list_version: 1,
                entry_id: entry.into(),
                entry_hash: "cd".repeat(16),
                distance: 0,
                kind: HashKind::Md5,
                dihedral: None,
                category: Some("A1".into()),
                frame_ts: None,
            }],
            coverage: Default::default(),
        }
    }

    #[test]
    fn cursors_per_unit_survive_reopen_and_acks_stay_in_their_unit() {
        let dir = tempfile::tempdir().unwrap();
        let ids = {
            let store = Store::open(dir.path()).unwrap();
            let book = ReportLog::new();
            let a1 = book.file(&store, new("unit-a", "e1")).unwrap();
            let b1 = book.file(&store, new("unit-b", "e2")).unwrap();
            let a2 = book.file(&store, new("unit-a", "e3")).unwrap();
            assert_eq!((a1.cursor, b1.cursor, a2.cursor), (1, 1, 2));
            assert_ne!(a1.id, a2.id);
            vec![a1.id, b1.id, a2.id]
        };
        let store = Store::open(dir.path()).unwrap();
        let book = ReportLog::new();
        let a3 = book.file(&store, new("unit-a", "e4")).unwrap();
        assert_eq!(a3.cursor, 3, "the cursor continues after a restart");
        let page = ReportLog::list(&store, "unit-a", 1, 10, usize::MAX).unwrap();
        assert_eq!(
            page.iter().map(|r| r.cursor).collect::<Vec<_>>(),
            vec![2, 3]
        );
        // unit-a cannot acknowledge unit-b's report.
        assert_eq!(book.ack(&store, "unit-a", &ids).unwrap(), 2);
        assert_eq!(book.ack(&store, "unit-a", &ids).unwrap(), 0);
        let b = ReportLog::list(&store, "unit-b", 0, 10, usize::MAX).unwrap();
        assert!(!b[0].acked);
        assert!(ReportLog::list(&store, "unit-a", 0, 1, usize::MAX).unwrap()[0].acked);
    }

    #[test]
    fn pages_seek_to_the_cursor_and_stop_at_their_byte_budget() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path()).unwrap();
            let book = ReportLog::new();
            for i in 0..50 {
                book.file(&store, new("unit-a", &format!("e{i}"))).unwrap();
            }
            // Units whose names extend or follow unit-a's stay out of its pages and cursor.
            book.file(&store, new("unit-a2", "x")).unwrap();
            book.file(&store, new("unit-b", "y")).unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        let one = serde_json::to_vec(&ReportLog::list(&store, "unit-a", 0, 1, 0).unwrap()[0])
            .unwrap()
            .len();
        let page = ReportLog::list(&store, "unit-a", 10, 100, one * 3 + one / 2).unwrap();
        assert_eq!(
            page.iter().map(|r| r.cursor).collect::<Vec<_>>(),
            [11, 12, 13],
            "three reports fit the budget"
        );
        // A budget smaller than one report still returns that report: a page always moves on.
        assert_eq!(
            ReportLog::list(&store, "unit-a", 49, 100, 1).unwrap().len(),
            1
        );
        assert!(
            ReportLog::list(&store, "unit-a", 50, 100, usize::MAX)
                .unwrap()
                .is_empty()
        );
        let book = ReportLog::new();
        let next = book.file(&store, new("unit-a", "e50")).unwrap();
        assert_eq!(
            next.cursor, 51,
            "the last cursor is found past other units' keys"
        );
        assert_eq!(book.file(&store, new("unit-a2", "z")).unwrap().cursor, 2);
    }
}
