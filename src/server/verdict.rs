//! Filing a submission's matches: one durable report per investigating unit (routed by list),
//! written before the call answers, and the verdict the operator gets (matched, categories, a
//! report id; never entries or distances).

use std::collections::{BTreeMap, BTreeSet};

use tonic::Status;

use super::proto;
use super::state::State;
use super::status::internal;
use crate::fingerprint::FileRecord;
use crate::hashing::AnyHash;
use crate::matcher::Hit;
use crate::report_log::{Coverage, Filed, NewReport, ReportMatch};

/// Who submitted what: the tenant, its reference and the submission's digests.
pub struct Submission<'a> {
    /// The tenant.
    pub tenant: &'a str,
    /// The tenant's reference for the submission.
    pub reference: &'a str,
    /// SHA-256, hex.
    pub sha256: Option<String>,
    /// MD5, hex.
    pub md5: Option<String>,
    /// SHA-1, hex.
    pub sha1: Option<String>,
    /// How much of the media was hashed.
    pub coverage: Coverage,
}

impl<'a> Submission<'a> {
    /// An uploaded file, by its digests.
    pub fn of_file(tenant: &'a str, reference: &'a str, rec: &FileRecord) -> Self {
        Submission {
            tenant,
            reference,
            sha256: rec.sha256.map(|h| h.to_hex()),
            md5: rec.md5.map(|h| h.to_hex()),
            sha1: rec.sha1.map(|h| h.to_hex()),
            coverage: Coverage {
                partial: rec.partial.map(|p| p.code().to_string()),
                reduced_from: rec.reduced_from,
            },
        }
    }

    /// A submitted hash: a digest names the submission; a perceptual hash leaves it unnamed.
    pub fn of_hash(tenant: &'a str, reference: &'a str, hash: &AnyHash) -> Self {
        let mut s = Submission {
            tenant,
            reference,
            sha256: None,
            md5: None,
            sha1: None,
            coverage: Coverage::default(),
        };
        match hash {
            AnyHash::Sha256(h) => s.sha256 = Some(h.to_hex()),
            AnyHash::Md5(h) => s.md5 = Some(h.to_hex()),
            AnyHash::Sha1(h) => s.sha1 = Some(h.to_hex()),
            AnyHash::Pdq(_) | AnyHash::Phash(_) | AnyHash::Dhash(_) | AnyHash::Vpdq(_) => {}
        }
        s
    }
}

impl State {
    /// Files one report per unit for a submission's matches (synced before returning) and
    /// returns the verdict; no matches, no report.
    pub fn file_verdict(
        &self,
        sub: &Submission<'_>,
        hits: Vec<Hit>,
    ) -> Result<proto::Verdict, Status> {
        if hits.is_empty() {
            return Ok(proto::Verdict::default());
        }
        let categories: BTreeSet<String> = hits.iter().filter_map(|m| m.category.clone()).collect();
        let videos: Vec<proto::VideoVerdict> = hits
            .iter()
            .filter_map(|m| {
                let v = m.video.as_ref()?;
                Some(super::convert::video_verdict(v, m.category.as_deref()))
            })
            .collect();
        for m in &hits {
            self.metrics.matched(m.kind);
        }
        let mut by_unit: BTreeMap<String, Vec<ReportMatch>> = BTreeMap::new();
        for m in hits {
            by_unit
                .entry(self.unit_for_list(&m.list))
                .or_default()
                .push(ReportMatch {
                    list: m.list,
                    list_version: m.list_version,
                    entry_id: m.entry,
                    entry_hash: m.entry_hash,
                    distance: m.distance,
                    kind: m.kind,
                    dihedral: m.dihedral,
                    category: m.category,
                    frame_ts: m.frame_ts,
                    video: m.video,
                });
        }
        let mut first_id = String::new();
        for (unit, matches) in by_unit {
            let report = self
                .reports
                .file(NewReport {
                    tenant: sub.tenant.to_string(),
                    tenant_reference: sub.reference.to_string(),
                    unit,
                    sha256: sub.sha256.clone(),
                    md5: sub.md5.clone(),
                    sha1: sub.sha1.clone(),
                    matches,
                    coverage: sub.coverage.clone(),
                })
                .map_err(|e| {
                    self.metrics.report_failed();
                    self.report_trouble.notify_one();
                    internal("filing a report", &e)
                })?;
            self.metrics.report_filed();
            if first_id.is_empty() {
                first_id = report.id.clone();
            }
            // Followers may be absent; the report is on disk either way.
            let _ = self.new_reports.send(Filed {
                unit: Some(report.unit.clone()),
                cursor: report.cursor,
            });
        }
        Ok(proto::Verdict {
            matched: true,
            categories: categories.into_iter().collect(),
            report_id: first_id,
            videos,
        })
    }
}
