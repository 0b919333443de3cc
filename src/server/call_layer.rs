//! The tower layer around every gRPC service that holds each call to its deadline, ends
//! long-lived response streams when the server shuts down (graceful shutdown would otherwise wait
//! for them forever), and counts and times every call into [`Metrics`]: it sees each call's
//! path, its answer's `grpc-status` (in the headers of a trailers-only answer, else in the
//! trailers) and its duration.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::HeaderMap;
use http_body::{Body, Frame, SizeHint};
use tokio::sync::watch;
use tonic::{Code, Status};
use tower_layer::Layer;
use tower_service::Service;

use super::metrics::{METHODS, Metrics};

/// The labels of a request path: a served method, else `unknown` (so junk paths add no series).
fn method_of(path: &str) -> (&'static str, &'static str, bool) {
    let path = path.strip_prefix('/').unwrap_or(path);
    let (service, method) = path.split_once('/').unwrap_or((path, ""));
    METHODS
        .iter()
        .find(|(s, m, _)| *s == service && *m == method)
        .copied()
        .unwrap_or(("unknown", "unknown", false))
}

/// The status code a header map carries, if any.
fn code_in(headers: &HeaderMap) -> Option<Code> {
    let v = headers
        .get("grpc-status")?
        .to_str()
        .ok()?
        .parse::<i32>()
        .ok()?;
    Some(Code::from_i32(v))
}

/// The client's deadline from `grpc-timeout` (1-8 digits and a unit, per the gRPC HTTP/2
/// protocol); a malformed value is ignored, as gRPC servers do.
fn grpc_timeout(headers: &HeaderMap) -> Option<Duration> {
    parse_grpc_timeout(headers.get("grpc-timeout")?.to_str().ok()?)
}

/// Parses a `grpc-timeout` header value; `None` when malformed.
pub fn parse_grpc_timeout(v: &str) -> Option<Duration> {
    // ASCII only: the unit is split off by bytes (found by fuzzing: a multi-byte last
    // character made the split panic; a header value never has one, a caller might).
    if !v.is_ascii() || !(2..=9).contains(&v.len()) {
        return None;
    }
    let (digits, unit) = v.split_at(v.len() - 1);
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n * 3600),
        "M" => Duration::from_secs(n * 60),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

/// One call in flight; records its outcome once, when it is known or when it is abandoned.
struct Call {
    metrics: Arc<Metrics>,
    service: &'static str,
    method: &'static str,
    timed: bool,
    start: Instant,
    done: bool,
}

impl Call {
    fn finish(&mut self, code: Code) {
        if std::mem::replace(&mut self.done, true) {
            return;
        }
        self.metrics.answered(self.service, self.method, code);
        if self.timed {
            self.metrics
                .latency
                .get_or_create(&[("service", self.service), ("method", self.method)])
                .observe(self.start.elapsed().as_secs_f64());
        }
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        // Dropped unanswered: the client reset the stream or went away.
        self.finish(Code::Cancelled);
    }
}

/// The layer that counts, times and bounds every call: the shorter of the server's
/// `request_timeout` and the client's `grpc-timeout` bounds the handler (which, for uploads,
/// includes receiving them); the client's also bounds a response stream. Running out answers
/// DEADLINE_EXCEEDED. tonic's own `Server::timeout` is not used: it answers CANCELLED, and it
/// has no deadline for response streams. Long-lived streams end UNAVAILABLE once `stopping`
/// turns true.
#[derive(Clone)]
pub struct CallLayer {
    metrics: Arc<Metrics>,
    timeout: Option<Duration>,
    stopping: watch::Receiver<bool>,
}

impl CallLayer {
    /// A layer recording into `metrics`, with the server's deadline (`None`: only clients'),
    /// ending long-lived streams when `stopping` turns true.
    pub fn new(
        metrics: Arc<Metrics>,
        timeout: Option<Duration>,
        stopping: watch::Receiver<bool>,
    ) -> Self {
        CallLayer {
            metrics,
            timeout,
            stopping,
        }
    }
}

impl<S> Layer<S> for CallLayer {
    type Service = CallGuard<S>;

    fn layer(&self, inner: S) -> CallGuard<S> {
        CallGuard {
            inner,
            metrics: self.metrics.clone(),
            timeout: self.timeout,
            stopping: self.stopping.clone(),
        }
    }
}

/// A service wrapped by [`CallLayer`].
#[derive(Clone)]
pub struct CallGuard<S> {
    inner: S,
    metrics: Arc<Metrics>,
    timeout: Option<Duration>,
    stopping: watch::Receiver<bool>,
}

/// Resolves once the server is stopping (or can no longer say).
type Stop = Pin<Box<dyn Future<Output = ()> + Send>>;

fn stop_of(mut stopping: watch::Receiver<bool>) -> Stop {
    Box::pin(async move {
        let _ = stopping.wait_for(|s| *s).await;
    })
}

/// Trailers carrying `status`.
fn trailers_of(status: Status) -> HeaderMap {
    let answer = status.into_http::<()>();
    let mut trailers = HeaderMap::new();
    for name in ["grpc-status", "grpc-message"] {
        if let Some(v) = answer.headers().get(name) {
            trailers.insert(name, v.clone());
        }
    }
    trailers
}

/// The deadline message: whose deadline it was, so a caller knows what to change.
fn deadline_status(limit: Duration, server_limit: bool) -> Status {
    let ms = limit.as_millis();
    Status::deadline_exceeded(if server_limit {
        format!(
            "the call took longer than the server's limit of {ms} ms \
             (limits.request_timeout_ms) and was abandoned"
        )
    } else {
        format!("the call's deadline of {ms} ms (grpc-timeout) passed before it was answered")
    })
}

impl<S, B> Service<http::Request<B>> for CallGuard<S>
where
    S: Service<http::Request<B>, Response = http::Response<tonic::body::Body>>,
    S::Future: Send + 'static,
{
    type Response = http::Response<GuardedBody>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let (service, method, long_lived) = method_of(req.uri().path());
        let mut call = Call {
            metrics: self.metrics.clone(),
            service,
            method,
            timed: !long_lived,
            start: Instant::now(),
            done: false,
        };
        let client = grpc_timeout(req.headers());
        let client_deadline = client.map(|d| tokio::time::Instant::now() + d);
        let limit = match (client, self.timeout) {
            (Some(c), Some(s)) if s < c => Some((s, true)),
            (Some(c), _) => Some((c, false)),
            (None, Some(s)) => Some((s, true)),
            (None, None) => None,
        };
        let stop = long_lived.then(|| stop_of(self.stopping.clone()));
        let answer = self.inner.call(req);
        Box::pin(async move {
            let res = match limit {
                None => answer.await?,
                Some((limit, server)) => match tokio::time::timeout(limit, answer).await {
                    Ok(res) => res?,
                    Err(_) => {
                        // The handler is dropped; a hashing job already running finishes on
                        // its blocking thread and then frees its slot.
                        call.finish(Code::DeadlineExceeded);
                        let res = deadline_status(limit, server).into_http::<tonic::body::Body>();
                        return Ok(res.map(GuardedBody::plain));
                    }
                },
            };
            let (parts, body) = res.into_parts();
            if let Some(code) = code_in(&parts.headers) {
                // A trailers-only answer: the outcome is already known.
                call.finish(code);
                return Ok(http::Response::from_parts(parts, GuardedBody::plain(body)));
            }
            let body = GuardedBody {
                inner: body,
                call: Some(call),
                deadline: client_deadline.map(|at| Box::pin(tokio::time::sleep_until(at))),
                client_limit: client.unwrap_or_default(),
                stop,
                ended: false,
            };
            Ok(http::Response::from_parts(parts, body))
        })
    }
}

/// A response body that records its call's outcome from the trailers, and ends a response
/// stream with DEADLINE_EXCEEDED when the client's deadline passes, or with UNAVAILABLE when
/// the server stops.
pub struct GuardedBody {
    inner: tonic::body::Body,
    call: Option<Call>,
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
    client_limit: Duration,
    stop: Option<Stop>,
    ended: bool,
}

impl GuardedBody {
    fn plain(inner: tonic::body::Body) -> Self {
        GuardedBody {
            inner,
            call: None,
            deadline: None,
            client_limit: Duration::ZERO,
            stop: None,
            ended: false,
        }
    }

    fn finish(&mut self, code: Code) {
        if let Some(mut call) = self.call.take() {
            call.finish(code);
        }
    }
}

impl Body for GuardedBody {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        let this = self.get_mut();
        if this.ended {
            return Poll::Ready(None);
        }
        if let Some(sleep) = this.deadline.as_mut()
            && sleep.as_mut().poll(cx).is_ready()
        {
            this.ended = true;
            this.finish(Code::DeadlineExceeded);
            let trailers = trailers_of(deadline_status(this.client_limit, false));
            return Poll::Ready(Some(Ok(Frame::trailers(trailers))));
        }
        if let Some(stop) = this.stop.as_mut()
            && stop.as_mut().poll(cx).is_ready()
        {
            this.ended = true;
            this.finish(Code::Unavailable);
            let trailers = trailers_of(Status::unavailable(
                "the server is shutting down; reconnect (FollowReports: after the last cursor seen)",
            ));
            return Poll::Ready(Some(Ok(Frame::trailers(trailers))));
        }
        let frame = ready!(Pin::new(&mut this.inner).poll_frame(cx));
        match &frame {
            Some(Ok(f)) => {
                if let Some(t) = f.trailers_ref() {
                    this.finish(code_in(t).unwrap_or(Code::Unknown));
                }
            }
            Some(Err(status)) => this.finish(status.code()),
            None => {
                this.ended = true;
                this.finish(Code::Unknown); // a gRPC answer always ends with trailers
            }
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.ended || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        if self.ended {
            SizeHint::with_exact(0)
        } else {
            self.inner.size_hint()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rpc_of_the_contract_has_labels() {
        let proto = include_str!("../../proto/hashguard/v1/hashguard.proto");
        let mut service = "";
        let mut seen = 0;
        for line in proto.lines().map(str::trim) {
            if let Some(rest) = line.strip_prefix("service ") {
                service = rest.trim_end_matches(" {").trim();
            } else if let Some(rest) = line.strip_prefix("rpc ") {
                let method = rest.split('(').next().unwrap_or("").trim();
                let path = format!("/hashguard.v1.{service}/{method}");
                assert_ne!(method_of(&path).0, "unknown", "{path} has no labels");
                seen += 1;
            }
        }
        assert!(seen >= 8, "parsed {seen} rpcs");
        assert_eq!(method_of("/hashguard.v1.Matcher/Nope").1, "unknown");
        assert_eq!(method_of("/x").0, "unknown");
    }

    #[test]
    fn grpc_timeout_is_parsed_per_the_protocol() {
        let t = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert("grpc-timeout", v.parse().unwrap());
            grpc_timeout(&h)
        };
        assert_eq!(t("250m"), Some(Duration::from_millis(250)));
        assert_eq!(t("3S"), Some(Duration::from_secs(3)));
        assert_eq!(t("1H"), Some(Duration::from_secs(3600)));
        assert_eq!(t("99999999n"), Some(Duration::from_nanos(99_999_999)));
        assert_eq!(t("123456789m"), None, "at most 8 digits");
        assert_eq!(t("+5S"), None);
        assert_eq!(t("5x"), None);
        assert_eq!(t("m"), None);
        // Found by the grpc_timeout fuzz target: a multi-byte last character.
        assert_eq!(parse_grpc_timeout("9:\u{340}"), None);
        assert_eq!(parse_grpc_timeout("5\u{e9}"), None);
    }

    /// A handler that never answers, or answers with a stream that never ends.
    #[derive(Clone)]
    struct Stuck {
        answer: bool,
    }

    /// A response body that never yields.
    struct Endless;

    impl Body for Endless {
        type Data = Bytes;
        type Error = Status;
        fn poll_frame(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
            Poll::Pending
        }
    }

    impl Service<http::Request<()>> for Stuck {
        type Response = http::Response<tonic::body::Body>;
        type Error = std::convert::Infallible;
        type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;
        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            Poll::Ready(Ok(()))
        }
        fn call(&mut self, _: http::Request<()>) -> Self::Future {
            let answer = self.answer;
            Box::pin(async move {
                if !answer {
                    std::future::pending::<()>().await;
                }
                Ok(http::Response::new(tonic::body::Body::new(Endless)))
            })
        }
    }

    fn request(timeout: Option<&str>) -> http::Request<()> {
        let mut b = http::Request::builder().uri("/hashguard.v1.Matcher/HashMedia");
        if let Some(t) = timeout {
            b = b.header("grpc-timeout", t);
        }
        b.body(()).unwrap()
    }

    #[tokio::test]
    async fn deadlines_answer_deadline_exceeded_and_say_whose() {
        let metrics = Arc::new(Metrics::new());
        let server = Some(Duration::from_millis(400));
        let (_stop, stopping) = watch::channel(false);
        let observe = CallLayer::new(metrics.clone(), server, stopping);
        let mut svc = observe.clone().layer(Stuck { answer: false });

        // The client's shorter deadline ends a stuck handler.
        let t = Instant::now();
        let res = svc.call(request(Some("50m"))).await.unwrap();
        assert!(t.elapsed() < Duration::from_millis(350));
        assert_eq!(code_in(res.headers()), Some(Code::DeadlineExceeded));
        let msg = res.headers()["grpc-message"].to_str().unwrap().to_string();
        assert!(msg.contains("grpc-timeout"), "{msg}");

        // Without one, the server's limit does.
        let res = svc.call(request(None)).await.unwrap();
        assert_eq!(code_in(res.headers()), Some(Code::DeadlineExceeded));
        let msg = res.headers()["grpc-message"].to_str().unwrap().to_string();
        assert!(msg.contains("request_timeout_ms"), "{msg}");

        // A response stream is ended by the client's deadline (with trailers), not the
        // server's.
        let mut svc = observe.layer(Stuck { answer: true });
        let res = svc.call(request(Some("600m"))).await.unwrap();
        assert_eq!(code_in(res.headers()), None);
        let mut body = res.into_body();
        let t = Instant::now();
        let frame = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx))
            .await
            .unwrap()
            .unwrap();
        assert!(
            t.elapsed() >= Duration::from_millis(500),
            "{:?}",
            t.elapsed()
        );
        let trailers = frame.trailers_ref().unwrap();
        assert_eq!(code_in(trailers), Some(Code::DeadlineExceeded));
        assert!(body.is_end_stream());
        let text = metrics.encode().unwrap();
        assert!(
            text.contains("hashguard_rejections_total{reason=\"deadline\"} 3"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn long_lived_streams_end_unavailable_when_the_server_stops() {
        let (stop, stopping) = watch::channel(false);
        let observe = CallLayer::new(Arc::new(Metrics::new()), None, stopping);
        let mut svc = observe.layer(Stuck { answer: true });
        let follow = http::Request::builder()
            .uri("/hashguard.v1.Reports/FollowReports")
            .body(())
            .unwrap();
        let mut body = svc.call(follow).await.unwrap().into_body();
        let mut unary = svc.call(request(None)).await.unwrap().into_body();
        let poll = |b: &mut GuardedBody| {
            let waker = std::task::Waker::noop();
            Pin::new(b)
                .poll_frame(&mut Context::from_waker(waker))
                .is_pending()
        };
        assert!(poll(&mut body));
        stop.send(true).unwrap();
        let frame = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            code_in(frame.trailers_ref().unwrap()),
            Some(Code::Unavailable)
        );
        assert!(poll(&mut unary), "only long-lived streams are ended");
    }
}
