//! The audit log, kept by the report-log backend beside the reports: who read, followed,
//! acknowledged or exported which unit's reports (and from which cursor), every list import,
//! sync, rollback and forced change, and refused tokens.
//!
//! It is append-only and hash-chained. Each record holds:
//! - its entry as the exact JSON text that was hashed,
//! - the hash of the record before it,
//! - `SHA-256(prev || "\n" || entry)`.
//!
//! [`verify`] recomputes the chain, so an edited entry, or one removed from the middle, is
//! found. Cutting entries off the end leaves a shorter chain that is still valid: keep the head
//! hash that `verify` prints somewhere else, and compare it later.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{Error, ReportLog};

/// The `prev` of the first record.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What happened: who did what, with its details.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Position in the log, from 1, without gaps.
    pub seq: u64,
    /// When, seconds since the Unix epoch.
    pub at: u64,
    /// Who: `investigator:UNIT`, `admin:NAME`, `operator:TENANT`, `mirror:NAME`, or `server`
    /// for the server's own schedule.
    pub actor: String,
    /// What: `reports.list`, `reports.follow`, `reports.ack`, `lists.import`, `lists.sync`,
    /// `lists.rollback`, `auth.refused`, `reports.purge`, `reports.migrate`.
    pub action: String,
    /// The details (unit, cursors, list, version, counts).
    pub detail: serde_json::Value,
}

/// One stored record of the chain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// The entry's sequence number (also inside `entry`).
    pub seq: u64,
    /// The hash of the record before (hex); [`GENESIS`] for the first.
    pub prev: String,
    /// `SHA-256(prev || "\n" || entry)`, hex.
    pub hash: String,
    /// The entry as the JSON text that was hashed.
    pub entry: String,
}

impl AuditRecord {
    /// The record that follows `prev` (the hash of the record before, or [`GENESIS`]).
    pub fn chain(prev: &str, entry: &AuditEntry) -> Result<Self, Error> {
        let text = serde_json::to_string(entry).map_err(|e| Error::Corrupt(e.to_string()))?;
        Ok(AuditRecord {
            seq: entry.seq,
            prev: prev.to_string(),
            hash: link(prev, &text),
            entry: text,
        })
    }

    /// The entry, parsed.
    pub fn parse(&self) -> Result<AuditEntry, Error> {
        serde_json::from_str(&self.entry).map_err(|e| Error::Corrupt(format!("audit entry: {e}")))
    }
}

/// The chain's link: `SHA-256(prev || "\n" || entry)`, hex.
fn link(prev: &str, entry: &str) -> String {
    let mut h = Sha256::new();
    h.update(prev.as_bytes());
    h.update(b"\n");
    h.update(entry.as_bytes());
    hex::encode(h.finalize())
}

/// A verified chain: how many records and the head's hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// Records checked.
    pub records: u64,
    /// The last record's hash ([`GENESIS`] when the log is empty).
    pub head: String,
}

/// Where a chain breaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("audit log broken at record {seq}: {why}")]
pub struct Broken {
    /// The first record that does not follow.
    pub seq: u64,
    /// What is wrong with it.
    pub why: String,
}

/// Walks the whole log and checks every link.
pub fn verify(log: &dyn ReportLog) -> Result<Result<Verified, Broken>, Error> {
    let (mut prev, mut expect, mut records) = (GENESIS.to_string(), 1u64, 0u64);
    loop {
        let page = log.audit_page(expect - 1, 1000)?;
        if page.is_empty() {
            return Ok(Ok(Verified {
                records,
                head: prev,
            }));
        }
        for r in page {
            let broken = |why: String| Ok(Err(Broken { seq: r.seq, why }));
            if r.seq != expect {
                return broken(format!("expected record {expect}: records were removed"));
            }
            if r.prev != prev {
                return broken("it does not follow the record before it".into());
            }
            if link(&r.prev, &r.entry) != r.hash {
                return broken("its entry was changed after it was written".into());
            }
            match r.parse() {
                Ok(e) if e.seq == r.seq => {}
                _ => return broken("its entry does not carry its sequence number".into()),
            }
            prev = r.hash;
            expect += 1;
            records += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_cover_the_previous_hash_and_the_exact_text() {
        let e = AuditEntry {
            seq: 1,
            at: 5,
            actor: "admin:a".into(),
            action: "lists.import".into(),
            detail: serde_json::json!({"list": "x"}),
        };
        let r = AuditRecord::chain(GENESIS, &e).unwrap();
        assert_eq!(r.parse().unwrap(), e);
        assert_ne!(link(GENESIS, &r.entry.replace('x', "y")), r.hash);
        assert_ne!(link(&"1".repeat(64), &r.entry), r.hash);
    }
}
