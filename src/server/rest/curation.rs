//! `/status`, `/status/live` and the read-only `/c/*` endpoints: lists as HMA banks, the
//! signal and content types, and configured list sources as HMA exchanges.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::names::{self, SIGNAL_TYPES};
use super::{ApiError, ApiResult, Rest};
use crate::lists::{self, ListMeta};
use crate::server::state::blocking;

/// `GET /status`: `I-AM-ALIVE`, or 503 `INDEX-NOT-LOADED` until the lists are loaded (text,
/// as HMA; no token needed, for load balancers).
pub async fn status(State(rest): State<Arc<Rest>>) -> Response {
    if rest.state.is_loaded() {
        (StatusCode::OK, "I-AM-ALIVE").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "INDEX-NOT-LOADED").into_response()
    }
}

/// `GET /status/live`: `I-AM-ALIVE` while the process runs.
pub async fn live() -> &'static str {
    "I-AM-ALIVE"
}

/// Every list's metadata.
async fn all_lists(rest: &Rest) -> ApiResult<Vec<ListMeta>> {
    let store = rest.state.store.clone();
    Ok(blocking(move || Ok(lists::all(&store)?)).await?)
}

/// A list as an HMA bank: every active list matches all the time (ratio 1).
fn bank(meta: &ListMeta) -> Value {
    json!({ "matching_enabled_ratio": 1.0, "name": names::bank_name(&meta.name) })
}

/// `GET /c/banks` (admin): `[{"matching_enabled_ratio": 1.0, "name": "BANK"}]`.
pub async fn banks(State(rest): State<Arc<Rest>>, headers: HeaderMap) -> ApiResult<Response> {
    rest.admin(&headers)?;
    let all = all_lists(&rest).await?;
    Ok(axum::Json(all.iter().map(bank).collect::<Vec<_>>()).into_response())
}

/// `GET /c/bank/{name}` (admin): the bank, or 404.
pub async fn bank_by_name(
    State(rest): State<Arc<Rest>>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> ApiResult<Response> {
    rest.admin(&headers)?;
    let all = all_lists(&rest).await?;
    match all.iter().find(|m| names::bank_name(&m.name) == name) {
        Some(m) => Ok(axum::Json(bank(m)).into_response()),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!(
                "bank '{}' not found",
                name.chars().take(64).collect::<String>()
            ),
        )),
    }
}

/// `GET /c/signal_type` (admin): `[{"enabled_ratio": 1.0, "name": "pdq"}, ...]`.
pub async fn signal_types(
    State(rest): State<Arc<Rest>>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    rest.admin(&headers)?;
    let all: Vec<Value> = SIGNAL_TYPES
        .iter()
        .map(|t| json!({ "enabled_ratio": 1.0, "name": t }))
        .collect();
    Ok(axum::Json(all).into_response())
}

/// `GET /c/content_type` (admin): photos and videos, both enabled.
pub async fn content_types(
    State(rest): State<Arc<Rest>>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    rest.admin(&headers)?;
    Ok(axum::Json(json!([
        { "enabled": true, "name": "photo" },
        { "enabled": true, "name": "video" },
    ]))
    .into_response())
}

/// `GET /c/exchanges` (admin): the lists synced from a source (`[lists.NAME]`), by bank name.
pub async fn exchanges(State(rest): State<Arc<Rest>>, headers: HeaderMap) -> ApiResult<Response> {
    rest.admin(&headers)?;
    let all: Vec<String> = rest
        .state
        .config
        .lists
        .keys()
        .map(|n| names::bank_name(n))
        .collect();
    Ok(axum::Json(all).into_response())
}

/// `GET /c/exchange/{name}/status` (admin): HMA's fetch status of a synced list.
pub async fn exchange_status(
    State(rest): State<Arc<Rest>>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> ApiResult<Response> {
    rest.admin(&headers)?;
    let Some(list) = rest
        .state
        .config
        .lists
        .keys()
        .find(|n| names::bank_name(n) == name)
        .cloned()
    else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!(
                "Exchange '{}' not found",
                name.chars().take(64).collect::<String>()
            ),
        ));
    };
    let store = rest.state.store.clone();
    let (meta, attempt) = blocking(move || {
        let meta = match lists::get(&store, &list) {
            Ok(m) => Some(m),
            Err(lists::Error::NoSuchList { .. }) => None,
            Err(e) => return Err(e.into()),
        };
        Ok((meta, lists::last_attempt(&store, &list)?))
    })
    .await?;
    let checkpoint = meta.as_ref().map(|m| m.published_at);
    Ok(axum::Json(json!({
        "checkpoint_ts": checkpoint,
        "fetched_items": meta.as_ref().map_or(0, |m| m.entries),
        "last_fetch_complete_ts": attempt.as_ref().map(|a| a.at),
        "last_fetch_succeeded": attempt.as_ref().map(|a| a.ok),
        "running_fetch_start_ts": Value::Null,
        // Up to date: the last attempt published a version or found the source unchanged.
        "up_to_date": attempt.as_ref().is_some_and(|a| a.ok),
    }))
    .into_response())
}
