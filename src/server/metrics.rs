//! Prometheus metrics: the registry, what the handlers count (matches by list kind, reports
//! filed, which limit refused a call), and the loopback listener that serves `GET /metrics`.
//! Calls are counted and timed by [`super::call_layer`].
//!
//! Labels come from fixed tables (the served methods, the gRPC codes, the hash kinds) or from
//! the administrator's own list names, never from request data, so a client cannot grow the
//! label sets, and no hash, entry id, token or tenant ever reaches a metric.

use std::sync::Arc;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::{Registry, Unit};
use tonic::Code;

use crate::hashing::HashKind;

/// A label set of `N` fixed names and values.
pub(super) type Labels<const N: usize> = [(&'static str, &'static str); N];

/// Why a call was refused before its work was done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// Every hashing slot was busy.
    Overload,
    /// The tenant's call quota was spent.
    Quota,
    /// No valid token, or the token's role may not make the call.
    Auth,
    /// An upload, batch or message over its limit.
    TooLarge,
    /// The server's or the client's deadline passed.
    Deadline,
}

impl Rejection {
    /// Every reason, to export each at zero from the start.
    const ALL: [Rejection; 5] = [
        Rejection::Overload,
        Rejection::Quota,
        Rejection::Auth,
        Rejection::TooLarge,
        Rejection::Deadline,
    ];

    /// The `reason` label.
    fn name(self) -> &'static str {
        match self {
            Rejection::Overload => "overload",
            Rejection::Quota => "quota",
            Rejection::Auth => "auth",
            Rejection::TooLarge => "too_large",
            Rejection::Deadline => "deadline",
        }
    }
}

/// Every method served: (service, method, answers with a long-lived stream). Streams are left
/// out of the latency histogram: their duration is how long a client followed, not service time.
pub(super) const METHODS: &[(&str, &str, bool)] = &[
    ("hashguard.v1.Matcher", "MatchHashes", false),
    ("hashguard.v1.Matcher", "MatchMedia", false),
    ("hashguard.v1.Matcher", "HashMedia", false),
    ("hashguard.v1.Reports", "ListReports", false),
    ("hashguard.v1.Reports", "FollowReports", true),
    ("hashguard.v1.Reports", "AckReports", false),
    ("hashguard.v1.Lists", "ListLists", false),
    ("hashguard.v1.Lists", "ListStatus", false),
    ("hashguard.v1.Lists", "SyncNow", false),
    ("hashguard.v1.Lists", "ImportList", false),
    ("hashguard.v1.Lists", "FetchDelta", true),
    ("grpc.health.v1.Health", "Check", false),
    ("grpc.health.v1.Health", "Watch", true),
    (
        "grpc.reflection.v1.ServerReflection",
        "ServerReflectionInfo",
        true,
    ),
    (
        "grpc.reflection.v1alpha.ServerReflection",
        "ServerReflectionInfo",
        true,
    ),
];

/// What the metrics show of one loaded list.
#[derive(Debug, Clone, PartialEq)]
pub struct ListGauges {
    /// Its name (an administrator's choice, not request data).
    pub name: String,
    /// Entries in the active version.
    pub entries: u64,
    /// The active version.
    pub version: u32,
    /// When it last synced or imported successfully (Unix seconds).
    pub last_success: u64,
}

/// Label set of the per-list gauges.
type ListLabel = Vec<(&'static str, String)>;

/// gRPC status codes by number, as the gRPC documentation spells them.
const CODES: [&str; 17] = [
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
];

/// Latency buckets, seconds: from a cached digest lookup to a long video upload.
const BUCKETS: [f64; 16] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    60.0,
];

/// The content type of the OpenMetrics text format, which Prometheus scrapes natively.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

fn latency_histogram() -> Histogram {
    Histogram::new(BUCKETS)
}

/// The service's metrics.
pub struct Metrics {
    registry: Registry,
    requests: Family<Labels<3>, Counter>,
    pub(super) latency: Family<Labels<2>, Histogram, fn() -> Histogram>,
    matches: Family<Labels<1>, Counter>,
    reports: Counter,
    report_failures: Counter,
    rejections: Family<Labels<1>, Counter>,
    list_entries: Family<ListLabel, Gauge>,
    list_version: Family<ListLabel, Gauge>,
    list_age: Family<ListLabel, Gauge>,
    /// Each list's last success, to compute the age gauges when scraped.
    last_success: std::sync::Mutex<Vec<(String, u64)>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every metric, with the fixed label sets present at zero.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("hashguard");
        let requests = Family::<Labels<3>, Counter>::default();
        registry.register(
            "grpc_requests",
            "gRPC calls answered, by service, method and status code",
            requests.clone(),
        );
        let latency = Family::<Labels<2>, Histogram, fn() -> Histogram>::new_with_constructor(
            latency_histogram,
        );
        registry.register_with_unit(
            "grpc_request_duration",
            "Time from a call's arrival to its complete answer, by method (streams excluded)",
            Unit::Seconds,
            latency.clone(),
        );
        let matches = Family::<Labels<1>, Counter>::default();
        registry.register(
            "matches",
            "List entries matched by submissions, by the list's hash kind",
            matches.clone(),
        );
        let reports = Counter::default();
        registry.register(
            "reports_filed",
            "Reports filed (one per investigating unit per matching submission)",
            reports.clone(),
        );
        let report_failures = Counter::default();
        registry.register(
            "report_failures",
            "Reports that could not be filed (the store failed; the call answered INTERNAL)",
            report_failures.clone(),
        );
        let rejections = Family::<Labels<1>, Counter>::default();
        registry.register(
            "rejections",
            "Calls refused by a limit or a check, by reason",
            rejections.clone(),
        );
        let list_entries = Family::<ListLabel, Gauge>::default();
        registry.register(
            "list_entries",
            "Entries in each loaded list's active version",
            list_entries.clone(),
        );
        let list_version = Family::<ListLabel, Gauge>::default();
        registry.register(
            "list_version",
            "Each loaded list's active version number",
            list_version.clone(),
        );
        let list_age = Family::<ListLabel, Gauge>::default();
        registry.register_with_unit(
            "list_last_success_age",
            "Time since each loaded list last synced or imported successfully",
            Unit::Seconds,
            list_age.clone(),
        );
        registry.register(
            "build",
            "The running build",
            Info::new(vec![
                ("version", crate::VERSION),
                ("revision", crate::GIT_REV),
            ]),
        );
        for k in HashKind::ALL {
            matches.get_or_create(&[("kind", k.name())]).inc_by(0);
        }
        for r in Rejection::ALL {
            rejections.get_or_create(&[("reason", r.name())]).inc_by(0);
        }
        Metrics {
            registry,
            requests,
            latency,
            matches,
            reports,
            report_failures,
            rejections,
            list_entries,
            list_version,
            list_age,
            last_success: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// Replaces the per-list gauges with the lists now loaded.
    pub fn set_lists(&self, lists: &[ListGauges]) {
        self.list_entries.clear();
        self.list_version.clear();
        self.list_age.clear();
        for l in lists {
            let label = vec![("list", l.name.clone())];
            self.list_entries
                .get_or_create(&label)
                .set(l.entries.min(i64::MAX as u64) as i64);
            self.list_version
                .get_or_create(&label)
                .set(i64::from(l.version));
        }
        *self.last_success.lock().unwrap_or_else(|p| p.into_inner()) = lists
            .iter()
            .map(|l| (l.name.clone(), l.last_success))
            .collect();
    }

    /// Counts a report that could not be filed.
    pub fn report_failed(&self) {
        self.report_failures.inc();
    }

    /// Counts a refused call.
    pub fn reject(&self, why: Rejection) {
        self.rejections
            .get_or_create(&[("reason", why.name())])
            .inc();
    }

    /// Counts one matched list entry.
    pub fn matched(&self, kind: HashKind) {
        self.matches.get_or_create(&[("kind", kind.name())]).inc();
    }

    /// Counts a filed report.
    pub fn report_filed(&self) {
        self.reports.inc();
    }

    /// The OpenMetrics text exposition of every metric.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        for (name, at) in self
            .last_success
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            self.list_age
                .get_or_create(&vec![("list", name.clone())])
                .set(now.saturating_sub(*at).min(i64::MAX as u64) as i64);
        }
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }

    /// Counts an answered call by its labels and code.
    pub(super) fn answered(&self, service: &'static str, method: &'static str, code: Code) {
        let name = CODES.get(code as usize).copied().unwrap_or("UNKNOWN");
        self.requests
            .get_or_create(&[("service", service), ("method", method), ("code", name)])
            .inc();
        // Auth, deadlines and tonic's own message-size check have codes nothing else uses, so
        // they are counted here rather than at each place that refuses.
        match code {
            Code::Unauthenticated | Code::PermissionDenied => self.reject(Rejection::Auth),
            Code::DeadlineExceeded => self.reject(Rejection::Deadline),
            Code::OutOfRange => self.reject(Rejection::TooLarge),
            _ => {}
        }
    }
}

/// Serves `GET /metrics` on `listener` until the task is dropped or aborted.
pub async fn serve(
    listener: tokio::net::TcpListener,
    metrics: Arc<Metrics>,
) -> std::io::Result<()> {
    let app = axum::Router::new()
        .route("/metrics", axum::routing::get(scrape))
        .with_state(metrics);
    axum::serve(listener, app).await
}

async fn scrape(
    axum::extract::State(metrics): axum::extract::State<Arc<Metrics>>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    match metrics.encode() {
        Ok(text) => ([(http::header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response(),
        Err(_) => http::StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hashing::HashKind;
    use tonic::Code;

    #[test]
    fn codes_name_every_grpc_code_and_rejections_start_at_zero() {
        assert_eq!(CODES[Code::DeadlineExceeded as usize], "DEADLINE_EXCEEDED");
        assert_eq!(CODES[Code::Unauthenticated as usize], "UNAUTHENTICATED");
        let m = Metrics::new();
        m.answered(
            "hashguard.v1.Matcher",
            "MatchHashes",
            Code::PermissionDenied,
        );
        m.matched(HashKind::Md5);
        m.latency
            .get_or_create(&[("service", "s"), ("method", "m")])
            .observe(0.003);
        let text = m.encode().unwrap();
        assert!(
            text.contains("hashguard_rejections_total{reason=\"quota\"} 0"),
            "{text}"
        );
        assert!(
            text.contains("hashguard_rejections_total{reason=\"auth\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("hashguard_matches_total{kind=\"md5\"} 1"),
            "{text}"
        );
        assert!(text.contains(
            "hashguard_grpc_requests_total{service=\"hashguard.v1.Matcher\",\
             method=\"MatchHashes\",code=\"PERMISSION_DENIED\"} 1"
        ));
        assert!(text.contains("hashguard_grpc_request_duration_seconds_bucket"));
        assert!(text.ends_with("# EOF\n"));
    }
}
