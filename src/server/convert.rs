//! Every conversion between the wire types of [`super::proto`] and the library's types, in one
//! place: the services, the hub client and the reports CLI use these, never their own.

use tonic::Status;

use super::proto;
use crate::fingerprint::FileRecord;
use crate::hashing::HashKind;
use crate::lists::{self, BadRow, KindMeta};
use crate::report_log::Report;

/// The library's hash kind of a wire `HashKind` value; `None` when unset or unknown.
pub fn kind_of(k: i32) -> Option<HashKind> {
    use proto::HashKind as P;
    Some(match P::try_from(k) {
        Ok(P::Pdq) => HashKind::Pdq,
        Ok(P::Phash) => HashKind::Phash,
        Ok(P::Dhash) => HashKind::Dhash,
        Ok(P::Md5) => HashKind::Md5,
        Ok(P::Sha1) => HashKind::Sha1,
        Ok(P::Sha256) => HashKind::Sha256,
        Ok(P::Vpdq) => HashKind::Vpdq,
        _ => return None,
    })
}

/// [`kind_of`] for a request field: INVALID_ARGUMENT naming `what` when unset or unknown.
pub fn required_kind(k: i32, what: &str) -> Result<HashKind, Status> {
    kind_of(k).ok_or_else(|| Status::invalid_argument(format!("{what}: hash kind not set")))
}

/// The wire `HashKind` of a library hash kind.
pub fn proto_kind(k: HashKind) -> proto::HashKind {
    use proto::HashKind as P;
    match k {
        HashKind::Pdq => P::Pdq,
        HashKind::Phash => P::Phash,
        HashKind::Dhash => P::Dhash,
        HashKind::Md5 => P::Md5,
        HashKind::Sha1 => P::Sha1,
        HashKind::Sha256 => P::Sha256,
        HashKind::Vpdq => P::Vpdq,
    }
}

/// A file's hashes as `HashMedia` and `MatchMedia` answer them.
pub fn fingerprint(rec: &FileRecord) -> proto::Fingerprint {
    let hex = |o: Option<String>| o.unwrap_or_default();
    proto::Fingerprint {
        kind: rec.kind.name().to_string(),
        size: rec.size.unwrap_or(0),
        md5: hex(rec.md5.map(|h| h.to_hex())),
        sha1: hex(rec.sha1.map(|h| h.to_hex())),
        sha256: hex(rec.sha256.map(|h| h.to_hex())),
        pdq: hex(rec.pdq.map(|h| h.to_hex())),
        pdq_quality: rec.pdq_quality.unwrap_or(0) as u32,
        phash: hex(rec.phash.map(|h| h.to_hex())),
        dhash: hex(rec.dhash.map(|h| h.to_hex())),
        frames: rec
            .frames
            .iter()
            .flatten()
            .map(|f| proto::FrameHash {
                ts: f.ts,
                pdq: f.pdq.to_hex(),
                pdq_quality: f.pdq_quality as u32,
            })
            .collect(),
        duration: rec.duration.unwrap_or(0.0),
        error: rec.error.map(|e| e.code().to_string()).unwrap_or_default(),
        partial: rec
            .partial
            .map(|p| p.code().to_string())
            .unwrap_or_default(),
        reduced_from: rec.reduced_from.map(Vec::from).unwrap_or_default(),
        fault: rec.fault.map(|f| f.code().to_string()).unwrap_or_default(),
    }
}

/// A report as investigators receive it.
pub fn report(r: &Report) -> proto::Report {
    proto::Report {
        id: r.id.clone(),
        cursor: r.cursor,
        created_at: r.created_at,
        tenant: r.tenant.clone(),
        tenant_reference: r.tenant_reference.clone(),
        unit: r.unit.clone(),
        sha256: r.sha256.clone().unwrap_or_default(),
        md5: r.md5.clone().unwrap_or_default(),
        sha1: r.sha1.clone().unwrap_or_default(),
        matches: r
            .matches
            .iter()
            .map(|m| proto::ReportMatch {
                list: m.list.clone(),
                list_version: m.list_version,
                entry_id: m.entry_id.clone(),
                entry_hash: m.entry_hash.clone(),
                distance: m.distance,
                kind: proto_kind(m.kind) as i32,
                dihedral: m
                    .dihedral
                    .and_then(|d| serde_json::to_value(d).ok())
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default(),
                category: m.category.clone().unwrap_or_default(),
                frame_ts: m.frame_ts.unwrap_or(-1.0),
                video_match: m
                    .video
                    .as_ref()
                    .map(|v| v.kind.name().to_string())
                    .unwrap_or_default(),
                query_share: m.video.as_ref().map_or(0.0, |v| v.query_share),
                listed_share: m.video.as_ref().map_or(0.0, |v| v.listed_share),
                ranges: m
                    .video
                    .iter()
                    .flat_map(|v| &v.ranges)
                    .map(matched_range)
                    .collect(),
            })
            .collect(),
        acked: r.acked,
        partial: r.coverage.partial.clone().unwrap_or_default(),
        reduced_from: r.coverage.reduced_from.map(Vec::from).unwrap_or_default(),
    }
}

/// A matched range as the API gives it.
pub fn matched_range(r: &crate::matcher::MatchedRange) -> proto::MatchedRange {
    let span = |s: [f64; 2]| proto::TimeSpan {
        start: s[0],
        end: s[1],
    };
    proto::MatchedRange {
        query: Some(span(r.query)),
        listed: Some(span(r.listed)),
    }
}

/// How an upload matched a listed video, without saying which one.
pub fn video_verdict(
    v: &crate::matcher::VideoMatch,
    category: Option<&str>,
) -> proto::VideoVerdict {
    proto::VideoVerdict {
        r#match: v.kind.name().to_string(),
        query_share: v.query_share,
        listed_share: v.listed_share,
        ranges: v
            .ranges
            .iter()
            .map(|r| proto::TimeSpan {
                start: r.query[0],
                end: r.query[1],
            })
            .collect(),
        category: category.unwrap_or_default().to_string(),
    }
}

/// Malformed rows as the API gives them.
pub fn bad_rows(rows: Vec<BadRow>) -> Vec<proto::BadRow> {
    rows.into_iter()
        .map(|b| proto::BadRow {
            line: b.line,
            reason: b.reason,
        })
        .collect()
}

/// A list's kinds as the API gives them.
pub fn list_kinds(kinds: &[KindMeta]) -> Vec<proto::ListKind> {
    kinds
        .iter()
        .map(|k| proto::ListKind {
            kind: proto_kind(k.kind) as i32,
            radius: k.radius,
            entries: k.entries,
        })
        .collect()
}

/// A list's kinds from the API; `None` when one is unknown.
pub fn kinds_of(kinds: &[proto::ListKind]) -> Option<Vec<KindMeta>> {
    kinds
        .iter()
        .map(|k| {
            kind_of(k.kind).map(|kind| KindMeta {
                kind,
                radius: k.radius,
                entries: k.entries,
            })
        })
        .collect()
}

/// A list's state as admins read it, with the unit its matches go to and its last attempt.
pub fn list_info(
    m: &lists::ListMeta,
    unit: String,
    attempt: Option<lists::LastAttempt>,
) -> proto::ListInfo {
    proto::ListInfo {
        name: m.name.clone(),
        version: m.version,
        entries: m.entries,
        category: m.category.clone().unwrap_or_default(),
        unit,
        published_at: m.published_at,
        kinds: list_kinds(&m.kinds),
        digest: m.digest.clone(),
        previous_version: m.previous.unwrap_or(0),
        source: m.source.clone(),
        upstream_version: m.upstream_version.clone().unwrap_or_default(),
        bad_rows: m.bad_rows,
        last_attempt: attempt.map(|a| proto::ListAttempt {
            at: a.at,
            ok: a.ok,
            version: a.version.unwrap_or(0),
            error: a.error.unwrap_or_default(),
            rows: a.rows,
            bad: a.bad,
            bad_rows: bad_rows(a.bad_rows),
        }),
    }
}
