//! The HMA-compatible REST facade (`[rest] listen`, `docs/rest.md`): the read-side endpoints of
//! Meta's Hasher-Matcher-Actioner with its names and response shapes, so that a platform
//! already integrated with HMA keeps its client. Calls need the same bearer tokens as gRPC; a
//! lookup by an operator files its reports exactly as `MatchHashes` or `MatchMedia` does, and
//! answers, like them, without entry ids or distances unless `[rest] detail_roles` lets the
//! caller's role see them. Served by axum, the HTTP stack of the metrics listener.

mod curation;
mod hashing;
mod matching;
pub mod names;
pub mod tls;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, Request};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;
use tonic::Code;

use super::auth::Tokens;
use super::metrics::Rejection;
use super::state::State;
use crate::config::Principal;

/// What the facade's handlers share.
pub struct Rest {
    /// The server's state.
    pub state: Arc<State>,
    /// The accepted tokens.
    pub tokens: Arc<Tokens>,
}

/// An error answer: HMA's `{"message": "..."}` with its status code.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    /// An error with `status` and `message`.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
        }
    }

    /// 400, as HMA answers a bad parameter.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// 422 with the list of missing parameters in pydantic's shape, as HMA (flask-openapi3)
    /// answers a request without a required query parameter.
    fn missing(field: &str) -> Response {
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            axum::Json(json!([{
                "type": "missing",
                "loc": [field],
                "msg": "Field required",
            }])),
        )
            .into_response()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r = (self.status, axum::Json(json!({ "message": self.message }))).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            r.headers_mut()
                .insert(header::WWW_AUTHENTICATE, "Bearer".parse().expect("static"));
        }
        r
    }
}

impl From<tonic::Status> for ApiError {
    /// The HTTP status closest to a gRPC one; the message is kept.
    fn from(s: tonic::Status) -> Self {
        let status = match s.code() {
            Code::InvalidArgument | Code::FailedPrecondition | Code::OutOfRange => {
                StatusCode::BAD_REQUEST
            }
            Code::Unauthenticated => StatusCode::UNAUTHORIZED,
            Code::PermissionDenied => StatusCode::FORBIDDEN,
            Code::NotFound => StatusCode::NOT_FOUND,
            Code::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
            Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Code::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
            Code::Cancelled => StatusCode::BAD_REQUEST,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError::new(status, s.message())
    }
}

/// A handler's result.
pub type ApiResult<T> = Result<T, ApiError>;

/// The caller of a request, from its `Authorization: Bearer` header (a proxy in front may add
/// it): 401 without a valid token.
fn principal(rest: &Rest, headers: &HeaderMap) -> ApiResult<Principal> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| {
            rest.state.metrics.reject(Rejection::Auth);
            rest.state
                .refused
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "missing `Authorization: Bearer <token>`",
            )
        })?;
    rest.tokens.check(token.trim()).ok_or_else(|| {
        rest.state.metrics.reject(Rejection::Auth);
        rest.state
            .refused
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        ApiError::new(StatusCode::UNAUTHORIZED, "unknown token")
    })
}

/// Who may call a lookup or hashing endpoint.
pub enum Looker {
    /// An operator: its lookups file reports for its tenant, and count against its quota.
    Operator {
        /// The tenant.
        tenant: String,
    },
    /// An administrator checking hashes (no report: nothing was submitted for a tenant).
    Admin,
}

impl Rest {
    /// An operator or an administrator, else 401 or 403.
    async fn looker(&self, headers: &HeaderMap) -> ApiResult<Looker> {
        match principal(self, headers)? {
            Principal::Operator { tenant } => {
                self.state
                    .quotas
                    .charge(&tenant, 1.0, &self.state.metrics)
                    .await?;
                Ok(Looker::Operator { tenant })
            }
            Principal::Admin { .. } => Ok(Looker::Admin),
            p => Err(self.forbidden(p.role(), "the operator or admin role")),
        }
    }

    /// An administrator, else 401 or 403.
    fn admin(&self, headers: &HeaderMap) -> ApiResult<()> {
        match principal(self, headers)? {
            Principal::Admin { .. } => Ok(()),
            p => Err(self.forbidden(p.role(), "the admin role")),
        }
    }

    fn forbidden(&self, role: &str, needs: &str) -> ApiError {
        self.state.metrics.reject(Rejection::Auth);
        ApiError::new(
            StatusCode::FORBIDDEN,
            format!("this endpoint needs {needs}; the token is an {role} token"),
        )
    }

    /// True when `looker` may see entry ids and distances.
    fn shows_details(&self, looker: &Looker) -> bool {
        let role = match looker {
            Looker::Operator { .. } => "operator",
            Looker::Admin => "admin",
        };
        self.state
            .config
            .rest
            .detail_roles
            .iter()
            .any(|r| r == role)
    }
}

/// Query parameters, or a 400 naming what did not parse.
type Params = Result<Query<HashMap<String, String>>, QueryRejection>;

/// The parameters of a request.
fn params(p: Params) -> ApiResult<HashMap<String, String>> {
    p.map(|Query(m)| m)
        .map_err(|e| ApiError::bad_request(format!("query string: {e}")))
}

/// A pydantic bool, as HMA parses `include_distance`.
fn truthy(value: Option<&String>) -> ApiResult<bool> {
    match value.map(|v| v.trim().to_ascii_lowercase()).as_deref() {
        None | Some("false" | "0" | "no" | "off" | "f" | "n") => Ok(false),
        Some("true" | "1" | "yes" | "on" | "t" | "y") => Ok(true),
        Some(v) => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("not a boolean: {v:?}"),
        )),
    }
}

/// The facade's routes over `rest`; `timeout` bounds each call (as `limits.request_timeout_ms`
/// bounds a gRPC call).
pub fn router(rest: Arc<Rest>, timeout: Option<Duration>) -> Router {
    // The multipart body of an upload is a little larger than the file it carries.
    let body_limit = usize::try_from(rest.state.config.limits.max_upload_bytes)
        .unwrap_or(usize::MAX)
        .saturating_add(64 << 10);
    Router::new()
        .route("/status", get(curation::status))
        .route("/status/live", get(curation::live))
        .route(
            "/m/lookup",
            get(matching::lookup).post(matching::lookup_media),
        )
        .route("/m/raw_lookup", get(matching::raw_lookup))
        .route("/m/compare", post(matching::compare))
        .route("/m/index/status", get(matching::index_status))
        .route("/h/hash", post(hashing::hash).get(hashing::no_urls))
        .route("/c/banks", get(curation::banks))
        .route("/c/bank/{name}", get(curation::bank_by_name))
        .route("/c/signal_type", get(curation::signal_types))
        .route("/c/content_type", get(curation::content_types))
        .route("/c/exchanges", get(curation::exchanges))
        .route("/c/exchange/{name}/status", get(curation::exchange_status))
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "no such endpoint") })
        .layer(axum::extract::DefaultBodyLimit::max(body_limit))
        .layer(axum::middleware::from_fn(
            move |req: Request, next: Next| deadline(req, next, timeout),
        ))
        .with_state(rest)
}

/// Answers 504 when a call runs past `timeout`; dropping the handler cancels its work (a
/// decoding worker included).
async fn deadline(req: Request, next: Next, timeout: Option<Duration>) -> Response {
    match timeout {
        None => next.run(req).await,
        Some(t) => match tokio::time::timeout(t, next.run(req)).await {
            Ok(r) => r,
            Err(_) => ApiError::new(
                StatusCode::GATEWAY_TIMEOUT,
                format!(
                    "the call took longer than limits.request_timeout_ms ({} ms)",
                    t.as_millis()
                ),
            )
            .into_response(),
        },
    }
}

/// Serves the facade on `listener` (TLS when `acceptor` is given) until `stopping` turns true.
pub async fn serve(
    listener: tokio::net::TcpListener,
    acceptor: Option<tokio_rustls::TlsAcceptor>,
    app: Router,
    mut stopping: tokio::sync::watch::Receiver<bool>,
) -> std::io::Result<()> {
    let stop = async move {
        let _ = stopping.wait_for(|s| *s).await;
    };
    match acceptor {
        Some(a) => {
            axum::serve(tls::TlsListener::new(listener, a)?, app)
                .with_graceful_shutdown(stop)
                .await
        }
        None => {
            let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
                let _ = tcp.set_nodelay(true);
            });
            axum::serve(listener, app)
                .with_graceful_shutdown(stop)
                .await
        }
    }
}
