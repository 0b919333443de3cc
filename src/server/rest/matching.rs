//! `/m/*`: lookups (by hash, raw, by upload), comparisons and the index status, in HMA's
//! shapes. A lookup by an operator files its reports before it answers, as over gRPC.

use crate::lists::video::VideoEntry;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use axum::extract::State;
use axum::extract::multipart::{Multipart, MultipartRejection};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::names::{self, SIGNAL_TYPES};
use super::{ApiError, ApiResult, Looker, Params, Rest, params, truthy};
use crate::fingerprint::FileRecord;
use crate::hashing::{AnyHash, HashKind};
use crate::lists::default_radius;
use crate::matcher::{Hit, Matcher, Query};
use crate::media::MediaKind;
use crate::server::bounds;
use crate::server::matcher_service::hash_upload;
use crate::server::state::blocking;
use crate::server::verdict::Submission;

/// The header that carries the id of the report a lookup filed (HMA has no field for it).
pub const REPORT_HEADER: &str = "x-hashguard-report-id";

/// Longest `banks` and `types` parameters, and most names in them.
const MAX_NAMES_PARAM: usize = 4096;
const MAX_NAMES: usize = 256;

/// A signal of a signal type, as HMA checks it: 400 with HMA's messages.
pub(super) fn parse_signal(signal_type: &str, signal: &str) -> ApiResult<AnyHash> {
    let kind = names::kind_of(signal_type).ok_or_else(|| {
        ApiError::bad_request(format!("No such SignalType '{}'", clip(signal_type)))
    })?;
    bounds::check("signal", signal, bounds::MAX_HEX)?;
    AnyHash::parse(kind, signal.trim())
        .map_err(|e| ApiError::bad_request(format!("invalid signal: {e}")))
}

/// At most 64 characters of a client's value, for an error message.
fn clip(s: &str) -> String {
    s.chars().take(64).collect()
}

/// A comma-separated names parameter, bounded.
fn names_param(
    p: &std::collections::HashMap<String, String>,
    key: &str,
) -> ApiResult<Option<Vec<String>>> {
    let Some(v) = p.get(key) else {
        return Ok(None);
    };
    bounds::check(key, v, MAX_NAMES_PARAM)?;
    let names = names::split_list(v);
    if names.len() > MAX_NAMES {
        return Err(ApiError::bad_request(format!(
            "{key}: {} names; at most {MAX_NAMES}",
            names.len()
        )));
    }
    Ok(Some(names))
}

/// The `banks` filter: bank names, compared with each list's bank name.
fn banks_param(
    p: &std::collections::HashMap<String, String>,
) -> ApiResult<Option<BTreeSet<String>>> {
    Ok(names_param(p, "banks")?.map(|b| b.into_iter().collect()))
}

/// The `types` filter: signal type names, each known, at least one.
pub(super) fn types_param(
    p: &std::collections::HashMap<String, String>,
) -> ApiResult<Option<BTreeSet<String>>> {
    let Some(types) = names_param(p, "types")? else {
        return Ok(None);
    };
    if let Some(t) = types.iter().find(|t| names::kind_of(t).is_none()) {
        return Err(ApiError::bad_request(format!(
            "signal type '{}' doesn't exist or is disabled",
            clip(t)
        )));
    }
    if types.is_empty() {
        return Err(ApiError::bad_request("empty signal type selection"));
    }
    Ok(Some(types.into_iter().collect()))
}

/// The tenant's reference for the submission (hashguard's own parameter, `reference`).
fn reference(p: &std::collections::HashMap<String, String>) -> ApiResult<String> {
    let r = p.get("reference").cloned().unwrap_or_default();
    bounds::check("reference", &r, bounds::MAX_REFERENCE)?;
    Ok(r)
}

impl Rest {
    /// The loaded lists, or HMA's 503 while they load.
    fn lists(&self) -> ApiResult<Arc<Matcher>> {
        self.state
            .matcher()
            .map_err(|_| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "index not yet ready"))
    }

    /// Files an operator's matches as one report per unit (synced before this returns); the
    /// id of the first report, when one was filed.
    async fn file(
        self: &Arc<Self>,
        looker: &Looker,
        hits: &[Hit],
        submission: SubmissionOwned,
    ) -> ApiResult<Option<String>> {
        let Looker::Operator { tenant } = looker else {
            return Ok(None);
        };
        if hits.is_empty() {
            return Ok(None);
        }
        self.state
            .report_quotas
            .charge(tenant, 1.0, &self.state.metrics)
            .await?;
        let (state, hits, tenant) = (self.state.clone(), hits.to_vec(), tenant.clone());
        let verdict =
            blocking(move || state.file_verdict(&submission.borrow(&tenant), hits)).await?;
        Ok(Some(verdict.report_id))
    }

    /// One matched entry as HMA shows it: `bank_content_id` and `distance` (a string, `-`
    /// for digests), both withheld (0 and `-`) unless the caller's role may see them.
    fn found(&self, hit: &Hit, details: bool) -> Value {
        let mut v = if details {
            // HMA's ids are integers; a list's own id is kept as it is when it is not one.
            let id = hit
                .entry
                .parse::<u64>()
                .map_or_else(|_| Value::from(hit.entry.clone()), Value::from);
            json!({
                "bank_content_id": id,
                "distance": distance(hit),
                "entry_id": hit.entry,
                "list": hit.list,
                "list_version": hit.list_version,
            })
        } else {
            json!({ "bank_content_id": 0, "distance": "-" })
        };
        if let Some(c) = &hit.category {
            v["category"] = Value::from(c.clone());
        }
        v
    }

    /// Hits grouped by bank, only the banks asked for.
    fn by_bank<'a>(
        &self,
        hits: impl Iterator<Item = &'a Hit>,
        banks: Option<&BTreeSet<String>>,
        details: bool,
    ) -> Map<String, Value> {
        let mut out: BTreeMap<String, Vec<Value>> = BTreeMap::new();
        for h in hits {
            let bank = names::bank_name(&h.list);
            if banks.is_some_and(|b| !b.contains(&bank)) {
                continue;
            }
            out.entry(bank).or_default().push(self.found(h, details));
        }
        out.into_iter().map(|(k, v)| (k, Value::from(v))).collect()
    }

    /// Looks one hash up as `MatchHashes` does and files the operator's reports.
    async fn look_up_hash(
        self: &Arc<Self>,
        looker: &Looker,
        hash: AnyHash,
        reference: String,
    ) -> ApiResult<(Vec<Hit>, Option<String>)> {
        let matcher = self.lists()?;
        let hits = matcher
            .matches(&Query::of_hash(hash))
            .map_err(|e| ApiError::from(crate::server::status::internal("looking up", &e)))?;
        let report = self
            .file(looker, &hits, SubmissionOwned::of_hash(reference, hash))
            .await?;
        Ok((hits, report))
    }

    /// Looks a vPDQ signal (a whole video's frames) up against the listed videos and files
    /// the report; the submission is named by the frames' digest.
    async fn look_up_video(
        self: &Arc<Self>,
        looker: &Looker,
        video: VideoEntry,
        reference: String,
    ) -> ApiResult<(Vec<Hit>, Option<String>)> {
        let matcher = self.lists()?;
        let digest = AnyHash::Vpdq(video.digest());
        // Thousands of frames: off the async threads, as uploads are.
        let hits = blocking(move || {
            matcher
                .video_matches(&video.frames)
                .map_err(|e| crate::server::status::internal("looking up", &e))
        })
        .await?;
        let report = self
            .file(looker, &hits, SubmissionOwned::of_hash(reference, digest))
            .await?;
        Ok((hits, report))
    }

    /// A signal looked up: a whole video for `vpdq`, else one hash.
    async fn look_up_signal(
        self: &Arc<Self>,
        looker: &Looker,
        signal_type: &str,
        signal: &str,
        reference: String,
    ) -> ApiResult<(Vec<Hit>, Option<String>)> {
        if signal_type == "vpdq" {
            bounds::check("signal", signal, MAX_VPDQ_SIGNAL)?;
            let video = VideoEntry::from_signal(signal.trim())
                .map_err(|e| ApiError::bad_request(format!("invalid signal: {e}")))?;
            return self.look_up_video(looker, video, reference).await;
        }
        let hash = parse_signal(signal_type, signal)?;
        self.look_up_hash(looker, hash, reference).await
    }
}

/// Longest vPDQ signal accepted in a lookup: about 12,000 frames (over 3 hours at one a
/// second) in python-threatexchange's compact form.
const MAX_VPDQ_SIGNAL: usize = 1 << 20;

/// A [`Submission`] that owns its parts, to move into the blocking pool: the tenant's
/// reference and the hash or the uploaded file's record.
enum SubmissionOwned {
    Hash(String, AnyHash),
    File(String, Box<FileRecord>),
}

impl SubmissionOwned {
    fn of_hash(reference: String, hash: AnyHash) -> Self {
        SubmissionOwned::Hash(reference, hash)
    }

    fn of_file(reference: String, rec: FileRecord) -> Self {
        SubmissionOwned::File(reference, Box::new(rec))
    }

    fn borrow<'a>(&'a self, tenant: &'a str) -> Submission<'a> {
        match self {
            SubmissionOwned::Hash(r, h) => Submission::of_hash(tenant, r, h),
            SubmissionOwned::File(r, rec) => Submission::of_file(tenant, r, rec),
        }
    }
}

/// A hit's distance as HMA writes it in lookups: the number for perceptual hashes, `-` for
/// digests.
fn distance(hit: &Hit) -> String {
    if hit.kind.is_perceptual() {
        hit.distance.to_string()
    } else {
        "-".into()
    }
}

/// An answer with the report id header when a report was filed.
fn answer(body: Value, report: Option<String>) -> Response {
    let mut r = axum::Json(body).into_response();
    if let Some(id) = report.and_then(|id| HeaderValue::from_str(&id).ok()) {
        r.headers_mut().insert(REPORT_HEADER, id);
    }
    r
}

/// `GET /m/lookup?signal=&signal_type=[&banks=]`: `{BANK: [{bank_content_id, distance}]}`.
pub async fn lookup(
    State(rest): State<Arc<Rest>>,
    headers: HeaderMap,
    q: Params,
) -> ApiResult<Response> {
    let looker = rest.looker(&headers).await?;
    let p = params(q)?;
    if p.contains_key("url") {
        return Err(ApiError::bad_request(
            "hashguard never fetches URLs: upload the file with POST /m/lookup (multipart, \
             field `photo` or `video`)",
        ));
    }
    let (Some(signal), Some(signal_type)) = (p.get("signal"), p.get("signal_type")) else {
        return Err(ApiError::bad_request(
            "Either url or both signal and signal_type are required",
        ));
    };
    let banks = banks_param(&p)?;
    let (hits, report) = rest
        .look_up_signal(&looker, signal_type, signal, reference(&p)?)
        .await?;
    let body = rest.by_bank(hits.iter(), banks.as_ref(), rest.shows_details(&looker));
    Ok(answer(Value::Object(body), report))
}

/// `GET /m/raw_lookup?signal=&signal_type=[&banks=][&include_distance=]`: `{"matches": [ids]}`,
/// or `[{bank_content_id, distance}]` with `include_distance`.
pub async fn raw_lookup(
    State(rest): State<Arc<Rest>>,
    headers: HeaderMap,
    q: Params,
) -> ApiResult<Response> {
    let looker = rest.looker(&headers).await?;
    let p = params(q)?;
    let Some(signal) = p.get("signal") else {
        return Ok(ApiError::missing("signal"));
    };
    let Some(signal_type) = p.get("signal_type") else {
        return Ok(ApiError::missing("signal_type"));
    };
    let banks = banks_param(&p)?;
    let with_distance = truthy(p.get("include_distance"))?;
    let (hits, report) = rest
        .look_up_signal(&looker, signal_type, signal, reference(&p)?)
        .await?;
    let details = rest.shows_details(&looker);
    let matches: Vec<Value> = hits
        .iter()
        .filter(|h| {
            banks
                .as_ref()
                .is_none_or(|b| b.contains(&names::bank_name(&h.list)))
        })
        .map(|h| {
            let f = rest.found(h, details);
            if with_distance {
                json!({ "bank_content_id": f["bank_content_id"], "distance": f["distance"] })
            } else {
                f["bank_content_id"].clone()
            }
        })
        .collect();
    Ok(answer(json!({ "matches": matches }), report))
}

/// The signal types a record was hashed with, and its hits under each: `{type: {BANK: [...]}}`.
fn by_signal_type(
    rest: &Rest,
    rec: &FileRecord,
    hits: &[Hit],
    types: Option<&BTreeSet<String>>,
    banks: Option<&BTreeSet<String>>,
    details: bool,
) -> Map<String, Value> {
    let video = rec.kind == MediaKind::Video;
    let mut hashed: Vec<&'static str> = Vec::new();
    let has = |k: HashKind| match k {
        HashKind::Pdq => rec.pdq.is_some(),
        HashKind::Phash => rec.phash.is_some(),
        HashKind::Dhash => rec.dhash.is_some(),
        HashKind::Md5 => rec.md5.is_some(),
        HashKind::Sha1 => rec.sha1.is_some(),
        HashKind::Sha256 => rec.sha256.is_some(),
        // Frames are counted below.
        HashKind::Vpdq => false,
    };
    for k in HashKind::ALL {
        if has(k) {
            hashed.push(names::signal_type(k, video));
        }
    }
    // A video's frames are PDQ hashes: hashguard's own `vpdq` type.
    let frames = rec.frames.as_ref().is_some_and(|f| !f.is_empty());
    if frames {
        hashed.push("vpdq");
    }
    let type_of = |h: &Hit| {
        if h.frame_ts.is_some() || h.kind == HashKind::Vpdq {
            "vpdq"
        } else {
            names::signal_type(h.kind, video)
        }
    };
    let mut out = Map::new();
    for t in hashed {
        if types.is_some_and(|ts| !ts.contains(t)) {
            continue;
        }
        let found = rest.by_bank(hits.iter().filter(|h| type_of(h) == t), banks, details);
        out.insert(t.to_string(), Value::Object(found));
    }
    out
}

/// `POST /m/lookup` with a multipart upload (field `photo` or `video`): hashed and matched as
/// `MatchMedia` does, `{type: {BANK: [...]}}`.
pub async fn lookup_media(
    State(rest): State<Arc<Rest>>,
    headers: HeaderMap,
    q: Params,
    form: Result<Multipart, MultipartRejection>,
) -> ApiResult<Response> {
    let looker = rest.looker(&headers).await?;
    let p = params(q)?;
    let banks = banks_param(&p)?;
    let types = types_param(&p)?;
    let reference = reference(&p)?;
    let matcher = rest.lists()?;
    let permit = rest.state.slots.take(&rest.state.metrics)?;
    let (_, bytes) = super::hashing::upload(&rest, form).await?;
    let rec = hash_upload(&rest.state, bytes, permit).await?;
    let hits = blocking({
        let rec = rec.clone();
        move || {
            matcher
                .matches(&Query::of_record(&rec))
                .map_err(|e| crate::server::status::internal("looking up", &e))
        }
    })
    .await?;
    let details = rest.shows_details(&looker);
    let body = by_signal_type(&rest, &rec, &hits, types.as_ref(), banks.as_ref(), details);
    let report = rest
        .file(&looker, &hits, SubmissionOwned::of_file(reference, rec))
        .await?;
    Ok(answer(Value::Object(body), report))
}

/// `POST /m/compare` with `{type: [a, b]}`: `{type: [matched, {"distance": n}]}` (`{}` for
/// digests), matched within the default radius of the kind (PDQ 31, as HMA).
pub async fn compare(
    State(rest): State<Arc<Rest>>,
    headers: HeaderMap,
    body: Result<axum::Json<Value>, axum::extract::rejection::JsonRejection>,
) -> ApiResult<Response> {
    rest.looker(&headers).await?;
    let axum::Json(body) = body.map_err(|e| ApiError::new(e.status(), e.body_text()))?;
    let Value::Object(pairs) = body else {
        return Err(ApiError::bad_request("Request input was not a dict"));
    };
    if pairs.len() > SIGNAL_TYPES.len() {
        return Err(ApiError::bad_request(
            "more signal types than hashguard knows",
        ));
    }
    let mut out = Map::new();
    for (t, v) in pairs {
        let Value::Array(pair) = v else {
            return Err(ApiError::bad_request(format!(
                "Comparison hashes for {} was not a list",
                clip(&t)
            )));
        };
        let [Value::String(a), Value::String(b)] = pair.as_slice() else {
            return Err(ApiError::bad_request(
                "Comparison hash list length must be exactly 2",
            ));
        };
        let parse = |s: &str| {
            parse_signal(&t, s).map_err(|e| {
                if names::kind_of(&t).is_none() {
                    e
                } else {
                    ApiError::bad_request(format!("Invalid {} hash: {}", clip(&t), e.message))
                }
            })
        };
        let (a, b) = (parse(a)?, parse(b)?);
        let result = match hamming(&a, &b) {
            Some(d) => json!([d <= default_radius(a.kind()), { "distance": d }]),
            None => json!([a == b, {}]),
        };
        out.insert(t, result);
    }
    Ok(axum::Json(Value::Object(out)).into_response())
}

/// The Hamming distance of two perceptual hashes of one kind; `None` for digests.
fn hamming(a: &AnyHash, b: &AnyHash) -> Option<u32> {
    match (a, b) {
        (AnyHash::Pdq(a), AnyHash::Pdq(b)) => Some(a.distance(b)),
        (AnyHash::Phash(a), AnyHash::Phash(b)) => Some(a.distance(b)),
        (AnyHash::Dhash(a), AnyHash::Dhash(b)) => Some(a.distance(b)),
        _ => None,
    }
}

/// `GET /m/index/status[?signal_type=]` (admin): per signal type `{built_to, present, size}`,
/// `built_to` being the newest publication time of a loaded list of that kind.
pub async fn index_status(
    State(rest): State<Arc<Rest>>,
    headers: HeaderMap,
    q: Params,
) -> ApiResult<Response> {
    rest.admin(&headers)?;
    let p = params(q)?;
    let only = match p.get("signal_type") {
        Some(t) if names::kind_of(t).is_none() => {
            return Err(ApiError::bad_request(format!(
                "No such signal type '{}'",
                clip(t)
            )));
        }
        t => t.cloned(),
    };
    let matcher = rest.state.matcher().ok();
    let mut out = Map::new();
    for t in SIGNAL_TYPES {
        if only.as_deref().is_some_and(|o| o != t) {
            continue;
        }
        let kind = names::kind_of(t).expect("a known type");
        let (mut size, mut built_to, mut present) = (0usize, -1i64, false);
        for l in matcher.iter().flat_map(|m| m.lists()) {
            let len = match (&l.videos, kind) {
                (Some(v), HashKind::Vpdq) => Some(v.len()),
                _ => l
                    .indexes
                    .iter()
                    .find(|k| k.meta.kind == kind)
                    .map(|k| k.index.len()),
            };
            if let Some(len) = len {
                present = true;
                size += len;
                built_to = built_to.max(i64::try_from(l.meta.published_at).unwrap_or(i64::MAX));
            }
        }
        out.insert(
            t.to_string(),
            json!({ "built_to": built_to, "present": present, "size": size }),
        );
    }
    Ok(axum::Json(Value::Object(out)).into_response())
}
