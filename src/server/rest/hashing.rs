//! `/h/hash`: an uploaded file hashed as `HashMedia` does, in HMA's `{type: hash}` shape.
//! POST only: hashguard never fetches a URL (a lookup by URL would make the server a proxy
//! into the operator's network, and fetch media nobody vouched for).

use std::sync::Arc;

use axum::extract::State;
use axum::extract::multipart::{Multipart, MultipartRejection};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};

use super::matching::types_param;
use super::names;
use super::{ApiError, ApiResult, Params, Rest, params};
use crate::fingerprint::FileRecord;
use crate::hashing::HashKind;
use crate::media::MediaKind;
use crate::server::matcher_service::hash_upload;
use crate::server::metrics::Rejection;

/// Below this PDQ quality HMA answers an empty hash (weak evidence); so does the facade.
const PDQ_QUALITY_FLOOR: u8 = 50;

/// The one file of a multipart upload and its field name (HMA's content type: `photo` or
/// `video`), read within `limits.max_upload_bytes`.
pub(super) async fn upload(
    rest: &Rest,
    form: Result<Multipart, MultipartRejection>,
) -> ApiResult<(String, Vec<u8>)> {
    let missing = || ApiError::bad_request("Missing multipart/form-data file upload");
    let mut form = form.map_err(|_| missing())?;
    let limit = rest.state.config.limits.max_upload_bytes;
    let too_large = || {
        rest.state.metrics.reject(Rejection::TooLarge);
        ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "Content too large")
    };
    let mut file: Option<(String, Vec<u8>)> = None;
    loop {
        let field = match form.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => return Err(too_large()),
            Err(e) => {
                return Err(ApiError::bad_request(format!(
                    "multipart: {}",
                    e.body_text()
                )));
            }
        };
        // Plain form fields are not files (HMA reads `request.files` only).
        if field.file_name().is_none() {
            continue;
        }
        if file.is_some() {
            return Err(ApiError::bad_request("Only one file allowed per request"));
        }
        let name = field.name().unwrap_or_default().to_string();
        if !matches!(name.as_str(), "photo" | "video") {
            let shown: String = name.chars().take(64).collect();
            return Err(ApiError::bad_request(format!(
                "no such content_type: '{shown}'"
            )));
        }
        let mut field = field;
        let mut bytes = Vec::new();
        loop {
            match field.chunk().await {
                Ok(Some(c)) => {
                    if bytes.len() as u64 + c.len() as u64 > limit {
                        return Err(too_large());
                    }
                    bytes.extend_from_slice(&c);
                }
                Ok(None) => break,
                Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => return Err(too_large()),
                Err(e) => {
                    return Err(ApiError::bad_request(format!(
                        "multipart: {}",
                        e.body_text()
                    )));
                }
            }
        }
        file = Some((name, bytes));
    }
    let (name, bytes) = file.ok_or_else(missing)?;
    if bytes.is_empty() {
        return Err(ApiError::bad_request("the upload holds no bytes"));
    }
    Ok((name, bytes))
}

/// The hashes of a record under HMA's names: `pdq` (empty below quality 50, as HMA) and
/// `video_md5`, with hashguard's `md5`, `sha1`, `sha256`, `phash`, `dhash`.
pub(super) fn hashes(rec: &FileRecord) -> Map<String, Value> {
    let video = rec.kind == MediaKind::Video;
    let mut out = Map::new();
    for k in HashKind::ALL {
        let hex = match k {
            HashKind::Pdq if rec.kind == MediaKind::Image => Some(
                rec.pdq
                    .filter(|_| rec.pdq_quality.unwrap_or(0) >= PDQ_QUALITY_FLOOR)
                    .map(|h| h.to_hex())
                    .unwrap_or_default(),
            ),
            HashKind::Pdq => None,
            HashKind::Phash => rec.phash.map(|h| h.to_hex()),
            HashKind::Dhash => rec.dhash.map(|h| h.to_hex()),
            HashKind::Md5 => rec.md5.map(|h| h.to_hex()),
            HashKind::Sha1 => rec.sha1.map(|h| h.to_hex()),
            HashKind::Sha256 => rec.sha256.map(|h| h.to_hex()),
            // A video's frames are answered as HMA's `vpdq` signal below.
            HashKind::Vpdq => None,
        };
        if let Some(hex) = hex {
            out.insert(names::signal_type(k, video).to_string(), Value::from(hex));
        }
    }
    out
}

/// `POST /h/hash` with a multipart upload: `{"pdq": "..."}` for a photo, `{"video_md5":
/// "..."}` for a video, with hashguard's other kinds beside them (narrowed by `types`).
pub async fn hash(
    State(rest): State<Arc<Rest>>,
    headers: HeaderMap,
    q: Params,
    form: Result<Multipart, MultipartRejection>,
) -> ApiResult<Response> {
    rest.looker(&headers).await?;
    let p = params(q)?;
    let types = types_param(&p)?;
    let permit = rest.state.slots.take(&rest.state.metrics)?;
    let (_, bytes) = upload(&rest, form).await?;
    let rec = hash_upload(&rest.state, bytes, permit).await?;
    if rec.kind == MediaKind::Other {
        return Err(ApiError::bad_request(
            "the upload is not an image or a video that hashguard decodes",
        ));
    }
    let mut out = hashes(&rec);
    if let Some(types) = types {
        out.retain(|t, _| types.contains(t));
    }
    Ok(axum::Json(Value::Object(out)).into_response())
}

/// `GET /h/hash`: HMA fetches `url` here; hashguard never fetches URLs.
pub async fn no_urls() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "hashguard never fetches URLs: POST the file to /h/hash (multipart, field `photo` or \
         `video`)",
    )
}
