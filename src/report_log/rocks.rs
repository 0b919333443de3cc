//! The report log in the server's own RocksDB: the embedded default, for one machine.
//!
//! Keys in the `reports` column family: `R unit cursor` → the report (JSON), and
//! `I id` → `unit cursor`, to acknowledge by id. Every write is one synced batch: a report the
//! service acknowledged to an operator survives a crash. One lock orders the filings, so
//! cursors are given in commit order.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::{
    AuditRecord, Error, NewReport, Purged, Report, ReportLog, decode, new_id, next_audit, now,
};
use crate::store::{Cf, Store, keys};

/// The report log in a RocksDB store.
pub struct RocksLog {
    store: Arc<Store>,
    /// Last cursor per unit, loaded lazily from the store; the lock also orders the writes of
    /// one unit's stream.
    last: Mutex<HashMap<String, u64>>,
    /// The audit log's last record (sequence number and hash), loaded lazily; the lock orders
    /// the appends.
    audit_head: Mutex<Option<Option<(u64, String)>>>,
}

/// The cursor at the end of a report's key.
fn cursor_of(key: &[u8]) -> Result<u64, Error> {
    let tail: [u8; 8] = key
        .get(key.len().saturating_sub(8)..)
        .and_then(|t| t.try_into().ok())
        .ok_or_else(|| Error::Corrupt("short report key".into()))?;
    Ok(u64::from_be_bytes(tail))
}

impl RocksLog {
    /// A report log over whatever the store holds.
    pub fn new(store: Arc<Store>) -> Self {
        RocksLog {
            store,
            last: Mutex::new(HashMap::new()),
            audit_head: Mutex::new(None),
        }
    }

    /// Every report of every unit, in key order (unit by unit, by cursor), a page of up to
    /// `page` at a time, handed to `each` (for `reports migrate`).
    pub fn for_each_page(
        &self,
        page: usize,
        mut each: impl FnMut(Vec<Report>) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let mut batch = Vec::with_capacity(page);
        let all = keys::reports_all();
        for kv in self.store.scan_prefix(Cf::Reports, all.bytes())? {
            let (_, v) = kv?;
            batch.push(decode(&v)?);
            if batch.len() >= page {
                each(std::mem::take(&mut batch))?;
            }
        }
        if !batch.is_empty() {
            each(batch)?;
        }
        Ok(())
    }

    /// Copies reports filed elsewhere in, keeping their ids, cursors and acknowledgements,
    /// in one synced batch; a report already here under its cursor is skipped, one different
    /// from it is an error and nothing is written. Returns (copied, already here).
    pub fn import(&self, reports: &[Report]) -> Result<(u64, u64), Error> {
        let store = &self.store;
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        let mut b = store.batch();
        let (mut copied, mut present) = (0, 0);
        for r in reports {
            let key = keys::reports(&r.unit).u64(r.cursor);
            if let Some(v) = store.get(Cf::Reports, key.bytes())? {
                if decode(&v)?.id != r.id {
                    return Err(Error::Config(format!(
                        "unit {:?} cursor {} holds another report: the logs diverged",
                        r.unit, r.cursor
                    )));
                }
                present += 1;
                continue;
            }
            let body = serde_json::to_vec(r).map_err(|e| Error::Corrupt(e.to_string()))?;
            b.put(store, Cf::Reports, key.bytes(), &body)?;
            b.put(
                store,
                Cf::Reports,
                keys::report_id(&r.id).bytes(),
                keys::report_location(&r.unit, r.cursor).bytes(),
            )?;
            copied += 1;
        }
        if !b.is_empty() {
            store.write(b)?;
        }
        // The next filing of each unit continues after the highest cursor now stored.
        last.clear();
        Ok((copied, present))
    }

    /// The unit's last cursor (0 before its first report): one reverse seek.
    fn last_cursor(&self, unit: &str) -> Result<u64, Error> {
        match self
            .store
            .last_with_prefix(Cf::Reports, keys::reports(unit).bytes())?
        {
            Some((k, _)) => cursor_of(&k),
            None => Ok(0),
        }
    }
}

fn audit_record(bytes: &[u8]) -> Result<AuditRecord, Error> {
    serde_json::from_slice(bytes).map_err(|e| Error::Corrupt(format!("audit record: {e}")))
}

impl ReportLog for RocksLog {
    fn units(&self) -> Result<Vec<String>, Error> {
        // One seek per unit: past a unit's last possible key to the next unit's first.
        let all = keys::reports_all();
        let mut start = all.bytes().to_vec();
        let mut units = Vec::new();
        loop {
            let next = self
                .store
                .scan_from(Cf::Reports, &start, all.bytes())?
                .next()
                .transpose()?;
            let Some((_, v)) = next else {
                return Ok(units);
            };
            let unit = decode(&v)?.unit;
            start = keys::reports(&unit).u64(u64::MAX).bytes().to_vec();
            start.push(0);
            units.push(unit);
        }
    }

    fn purge(&self, unit: &str, before: u64) -> Result<Purged, Error> {
        let _order = self.last.lock().unwrap_or_else(|p| p.into_inner());
        let mut purged = Purged::default();
        let mut b = self.store.batch();
        // Reports come in filing order: stop at the first one young enough to keep.
        for kv in self
            .store
            .scan_prefix(Cf::Reports, keys::reports(unit).bytes())?
        {
            let (k, v) = kv?;
            let r = decode(&v)?;
            if r.created_at >= before {
                break;
            }
            b.delete(&self.store, Cf::Reports, &k)?;
            b.delete(&self.store, Cf::Reports, keys::report_id(&r.id).bytes())?;
            purged.add(r.cursor);
            if b.len() >= 20_000 {
                self.store
                    .write(std::mem::replace(&mut b, self.store.batch()))?;
            }
        }
        if !b.is_empty() {
            self.store.write(b)?;
        }
        Ok(purged)
    }

    fn audit(
        &self,
        actor: &str,
        action: &str,
        detail: serde_json::Value,
    ) -> Result<AuditRecord, Error> {
        let mut head = self.audit_head.lock().unwrap_or_else(|p| p.into_inner());
        let known = match head.clone() {
            Some(h) => h,
            None => match self
                .store
                .last_with_prefix(Cf::Reports, keys::audit().bytes())?
            {
                Some((_, v)) => {
                    let r = audit_record(&v)?;
                    Some((r.seq, r.hash))
                }
                None => None,
            },
        };
        let record = next_audit(known, actor, action, detail)?;
        let body = serde_json::to_vec(&record).map_err(|e| Error::Corrupt(e.to_string()))?;
        let mut b = self.store.batch();
        b.put(
            &self.store,
            Cf::Reports,
            keys::audit().u64(record.seq).bytes(),
            &body,
        )?;
        self.store.write(b)?;
        *head = Some(Some((record.seq, record.hash.clone())));
        Ok(record)
    }

    fn audit_page(&self, after: u64, limit: usize) -> Result<Vec<AuditRecord>, Error> {
        let start = keys::audit().u64(after.saturating_add(1));
        let mut out = Vec::new();
        for kv in self
            .store
            .scan_from(Cf::Reports, start.bytes(), keys::audit().bytes())?
        {
            let (_, v) = kv?;
            out.push(audit_record(&v)?);
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }

    fn file(&self, new: NewReport) -> Result<Report, Error> {
        let store = &self.store;
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        let cursor = match last.get(&new.unit) {
            Some(c) => *c + 1,
            None => self.last_cursor(&new.unit)? + 1,
        };
        let report = Report::new(new, new_id(), cursor, now());
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

    fn probe(&self) -> Result<(), Error> {
        // One durable write to the reports' column family, under a key no report uses.
        let mut b = self.store.batch();
        b.put(&self.store, Cf::Reports, b"~probe", &now().to_be_bytes())?;
        self.store.write(b)?;
        Ok(())
    }

    fn list(
        &self,
        unit: &str,
        cursor: u64,
        limit: usize,
        max_bytes: usize,
    ) -> Result<Vec<Report>, Error> {
        // A seek to the cursor, then the page: never the unit's history before it.
        let prefix = keys::reports(unit);
        let start = keys::reports(unit).u64(cursor.saturating_add(1));
        let mut out = Vec::new();
        let mut budget = super::PageBudget::new(max_bytes);
        for kv in self
            .store
            .scan_from(Cf::Reports, start.bytes(), prefix.bytes())?
        {
            let (k, v) = kv?;
            if cursor_of(&k)? <= cursor {
                continue;
            }
            if !budget.admits(v.len(), out.len()) {
                break;
            }
            out.push(decode(&v)?);
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }

    fn ack(&self, unit: &str, ids: &[String]) -> Result<u32, Error> {
        let store = &self.store;
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
    use crate::hashing::HashKind;
    use crate::report_log::ReportMatch;

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
                video: None,
            }],
            coverage: Default::default(),
        }
    }

    #[test]
    fn cursors_per_unit_survive_reopen_and_acks_stay_in_their_unit() {
        let dir = tempfile::tempdir().unwrap();
        let ids = {
            let book = RocksLog::new(Arc::new(Store::open(dir.path()).unwrap()));
            let a1 = book.file(new("unit-a", "e1")).unwrap();
            let b1 = book.file(new("unit-b", "e2")).unwrap();
            let a2 = book.file(new("unit-a", "e3")).unwrap();
            assert_eq!((a1.cursor, b1.cursor, a2.cursor), (1, 1, 2));
            assert_ne!(a1.id, a2.id);
            vec![a1.id, b1.id, a2.id]
        };
        let book = RocksLog::new(Arc::new(Store::open(dir.path()).unwrap()));
        let a3 = book.file(new("unit-a", "e4")).unwrap();
        assert_eq!(a3.cursor, 3, "the cursor continues after a restart");
        let page = book.list("unit-a", 1, 10, usize::MAX).unwrap();
        assert_eq!(
            page.iter().map(|r| r.cursor).collect::<Vec<_>>(),
            vec![2, 3]
        );
        // unit-a cannot acknowledge unit-b's report.
        assert_eq!(book.ack("unit-a", &ids).unwrap(), 2);
        assert_eq!(book.ack("unit-a", &ids).unwrap(), 0);
        let b = book.list("unit-b", 0, 10, usize::MAX).unwrap();
        assert!(!b[0].acked);
        assert!(book.list("unit-a", 0, 1, usize::MAX).unwrap()[0].acked);
    }

    #[test]
    fn pages_seek_to_the_cursor_and_stop_at_their_byte_budget() {
        let dir = tempfile::tempdir().unwrap();
        {
            let book = RocksLog::new(Arc::new(Store::open(dir.path()).unwrap()));
            for i in 0..50 {
                book.file(new("unit-a", &format!("e{i}"))).unwrap();
            }
            // Units whose names extend or follow unit-a's stay out of its pages and cursor.
            book.file(new("unit-a2", "x")).unwrap();
            book.file(new("unit-b", "y")).unwrap();
        }
        let book = RocksLog::new(Arc::new(Store::open(dir.path()).unwrap()));
        let one = serde_json::to_vec(&book.list("unit-a", 0, 1, 0).unwrap()[0])
            .unwrap()
            .len();
        let page = book.list("unit-a", 10, 100, one * 3 + one / 2).unwrap();
        assert_eq!(
            page.iter().map(|r| r.cursor).collect::<Vec<_>>(),
            [11, 12, 13],
            "three reports fit the budget"
        );
        // A budget smaller than one report still returns that report: a page always moves on.
        assert_eq!(book.list("unit-a", 49, 100, 1).unwrap().len(), 1);
        assert!(book.list("unit-a", 50, 100, usize::MAX).unwrap().is_empty());
        let next = book.file(new("unit-a", "e50")).unwrap();
        assert_eq!(
            next.cursor, 51,
            "the last cursor is found past other units' keys"
        );
        assert_eq!(book.file(new("unit-a2", "z")).unwrap().cursor, 2);
    }
}
