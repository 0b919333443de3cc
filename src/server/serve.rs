//! `serve`: binds the listeners, loads the lists in the background, runs the nightly sync, and
//! serves the gRPC services behind authentication and the call layer until SIGTERM or SIGINT.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tonic::service::interceptor::InterceptedService;

use super::auth::{self, Tokens};
use super::call_layer::CallLayer;
use super::lists_service::ListsService;
use super::matcher_service::MatcherService;
use super::metrics::{self, Metrics};
use super::mirror_service::HubClient;
use super::proto;
use super::reports_service::ReportsService;
use super::schedule;
use super::state::State;
use crate::config::{self, Config};
use crate::matcher::Matcher;
use crate::report_log::{PostgresLog, ReportLog, RocksLog};
use crate::store::{self, Store};

/// Why the server could not start or went down.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration is wrong (the operator must fix it).
    #[error(transparent)]
    Config(#[from] config::Error),
    /// A TLS file could not be read or used.
    #[error("TLS file {}: {source}", .path.display())]
    TlsFile {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// TLS could not be set up with the files given.
    #[error("TLS: {0}")]
    Tls(String),
    /// The data store could not be opened.
    #[error(transparent)]
    Store(#[from] store::Error),
    /// An address could not be bound.
    #[error("cannot listen on {addr}{what}: {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// Which listener, when not the gRPC one.
        what: &'static str,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The async runtime could not start.
    #[error("cannot start the runtime: {0}")]
    Runtime(std::io::Error),
    /// The transport failed while serving.
    #[error("serving failed: {0}")]
    Transport(#[from] tonic::transport::Error),
    /// The report log could not be opened (PostgreSQL unreachable, or its schema newer).
    #[error(transparent)]
    Reports(#[from] crate::report_log::Error),
    /// Reflection could not be set up from the embedded descriptors.
    #[error("reflection: {0}")]
    Reflection(String),
}

impl Error {
    /// True when the operator must fix the configuration (a wrong key, file or address).
    pub fn is_config(&self) -> bool {
        matches!(
            self,
            Error::Config(_)
                | Error::TlsFile { .. }
                | Error::Tls(_)
                | Error::Reports(crate::report_log::Error::Config(_))
        )
    }
}

/// A listener the server has bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    /// The gRPC listener.
    Grpc(SocketAddr),
    /// The Prometheus metrics listener.
    Metrics(SocketAddr),
    /// The plaintext health listener.
    Health(SocketAddr),
    /// The HMA-compatible REST facade.
    Rest(SocketAddr),
}

/// How often reports past their retention are purged.
const PURGE_EVERY: std::time::Duration = std::time::Duration::from_secs(3600);

/// How often refused tokens are written to the audit log, together.
const AUDIT_REFUSALS_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// How often a server whose report filing failed probes the store.
const REPORT_PROBE_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

/// [`serve`] on a runtime of its own, for callers without one (the CLI).
pub fn run(config: Config, data: &Path, ready: impl FnMut(Bound)) -> Result<(), Error> {
    let rt = tokio::runtime::Runtime::new().map_err(Error::Runtime)?;
    rt.block_on(serve(config, data, ready))
}

/// TLS settings from the configured files.
fn tls_config(tls: &config::Tls) -> Result<tonic::transport::ServerTlsConfig, Error> {
    let read = |p: &PathBuf| {
        std::fs::read(p).map_err(|source| Error::TlsFile {
            path: p.clone(),
            source,
        })
    };
    let mut tc = tonic::transport::ServerTlsConfig::new().identity(
        tonic::transport::Identity::from_pem(read(&tls.cert)?, read(&tls.key)?),
    );
    if let Some(ca) = &tls.client_ca {
        tc = tc.client_ca_root(tonic::transport::Certificate::from_pem(read(ca)?));
    }
    Ok(tc)
}

/// Serves until SIGTERM or SIGINT. `ready` gets each bound address once listening: metrics
/// first (when configured), then gRPC.
pub async fn serve(config: Config, data: &Path, mut ready: impl FnMut(Bound)) -> Result<(), Error> {
    let checked = config.validate()?;
    let tokens: Arc<Tokens> = Arc::new(checked.tokens);
    let store = Arc::new(Store::open(data)?);
    let metrics = Arc::new(Metrics::new());
    let (reports, postgres): (Arc<dyn ReportLog>, _) = match &checked.postgres {
        Some(opts) => {
            let log = Arc::new(PostgresLog::connect(opts).await?);
            tracing::info!("reports are kept in PostgreSQL");
            (log.clone(), Some(log))
        }
        None => (Arc::new(RocksLog::new(store.clone())), None),
    };
    let state = Arc::new(State::new(
        store,
        reports,
        postgres.clone(),
        config.clone(),
        metrics.clone(),
        Arc::new(HubClient),
    ));

    let (health, health_service) = tonic_health::server::health_reporter();
    health
        .set_not_serving::<proto::matcher_server::MatcherServer<MatcherService>>()
        .await;
    // Both reflection versions: grpcurl and Postman speak v1, the stock Python client
    // (grpcio-reflection) and older tools only v1alpha.
    let reflect = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(proto::FILE_DESCRIPTOR_SET)
    };
    let reflection = reflect()
        .build_v1()
        .map_err(|e| Error::Reflection(e.to_string()))?;
    let reflection_v1alpha = reflect()
        .build_v1alpha()
        .map_err(|e| Error::Reflection(e.to_string()))?;

    let max = config.limits.max_message_bytes;
    let matcher = proto::matcher_server::MatcherServer::new(MatcherService(state.clone()))
        .max_decoding_message_size(max);
    let reports = proto::reports_server::ReportsServer::new(ReportsService(state.clone()));
    let lists_svc = proto::lists_server::ListsServer::new(ListsService(state.clone()));
    let intercept = auth::interceptor(tokens.clone(), state.clone());

    let timeout = match config.limits.request_timeout_ms {
        0 => None,
        ms => Some(std::time::Duration::from_millis(ms)),
    };
    let mut builder = tonic::transport::Server::builder();
    if let Some(tls) = &config.tls {
        builder = builder
            .tls_config(tls_config(tls)?)
            .map_err(|e| Error::Tls(e.to_string()))?;
    }
    let (listener, bound) = bind(checked.listen, "").await?;
    let metrics_task = match checked.metrics {
        Some(addr) => {
            let (listener, at) = bind(addr, " for metrics").await?;
            ready(Bound::Metrics(at));
            tracing::info!(%at, "metrics listening");
            let metrics = metrics.clone();
            Some(tokio::spawn(async move {
                if let Err(e) = metrics::serve(listener, metrics).await {
                    tracing::error!("metrics listener failed: {e}");
                }
            }))
        }
        None => None,
    };
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let health_task = match checked.health {
        Some(addr) => {
            let (listener, at) = bind(addr, " for health").await?;
            ready(Bound::Health(at));
            tracing::info!(%at, "health listening");
            let (service, mut stopped) = (health_service.clone(), stopping.clone());
            Some(tokio::spawn(async move {
                // Health only: every other service answers UNIMPLEMENTED here.
                let served = tonic::transport::Server::builder()
                    .add_service(service)
                    .serve_with_incoming_shutdown(
                        tokio_stream::wrappers::TcpListenerStream::new(listener),
                        async move {
                            let _ = stopped.wait_for(|s| *s).await;
                        },
                    )
                    .await;
                if let Err(e) = served {
                    tracing::error!("health listener failed: {e}");
                }
            }))
        }
        None => None,
    };
    let rest_task = match checked.rest {
        Some(addr) => {
            let acceptor = match &config.tls {
                Some(t) => Some(super::rest::tls::acceptor(t).map_err(Error::Tls)?),
                None => None,
            };
            let (listener, at) = bind(addr, " for the REST facade").await?;
            ready(Bound::Rest(at));
            tracing::info!(%at, tls = acceptor.is_some(), "REST facade listening");
            let rest = Arc::new(super::rest::Rest {
                state: state.clone(),
                tokens: tokens.clone(),
            });
            let app = super::rest::router(rest, timeout);
            let stopped = stopping.clone();
            Some(tokio::spawn(async move {
                if let Err(e) = super::rest::serve(listener, acceptor, app, stopped).await {
                    tracing::error!("REST facade failed: {e}");
                }
            }))
        }
        None => None,
    };
    ready(Bound::Grpc(bound));
    tracing::info!(%bound, "listening");

    // Lists load in the background; until then Matcher answers UNAVAILABLE and health says
    // NOT_SERVING.
    {
        let (state, health) = (state.clone(), health.clone());
        tokio::spawn(async move {
            // Under the sync lock, so a sync that publishes meanwhile installs its lists after
            // these, not before.
            let _one_at_a_time = state.syncing.lock().await;
            let st = state.clone();
            let loaded =
                tokio::task::spawn_blocking(move || Matcher::load_all(st.store.clone())).await;
            match loaded {
                Ok(Ok(m)) => {
                    tracing::info!(lists = m.lists().len(), "lists loaded");
                    state.set_matcher(m);
                    health
                        .set_serving::<proto::matcher_server::MatcherServer<MatcherService>>()
                        .await;
                }
                Ok(Err(e)) => tracing::error!("loading lists failed: {e}"),
                Err(e) => tracing::error!("loading lists failed: {e}"),
            }
        });
    }

    let sync_task = schedule::spawn_nightly(state.clone());
    // Reports past their unit's retention are purged every hour (the first time a minute after
    // start), each purge written to the audit log. Every replica runs it; a second purge of
    // the same reports finds nothing.
    let purge_task = {
        let state = state.clone();
        tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_secs(60)).await;
            loop {
                let st = state.clone();
                let purged = tokio::task::spawn_blocking(move || {
                    crate::report_log::purge_expired(
                        st.reports.as_ref(),
                        |unit| st.config.reports.retention(unit),
                        crate::report_log::now(),
                        "server",
                    )
                })
                .await;
                match purged {
                    Ok(Ok(done)) => {
                        for (unit, p) in done {
                            tracing::info!(%unit, reports = p.reports, "expired reports purged");
                        }
                    }
                    Ok(Err(e)) => tracing::error!("purging expired reports failed: {e}"),
                    Err(e) => tracing::error!("purging expired reports failed: {e}"),
                }
                tokio::time::sleep(PURGE_EVERY).await;
            }
        })
    };
    // Refused tokens go to the audit log together, every few seconds: one entry per window,
    // however many calls a bad client makes.
    let refusals_task = {
        let state = state.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(AUDIT_REFUSALS_EVERY).await;
                let n = state.refused.swap(0, std::sync::atomic::Ordering::Relaxed);
                if n > 0 {
                    let detail = serde_json::json!({
                        "refused": n, "window_seconds": AUDIT_REFUSALS_EVERY.as_secs(),
                    });
                    if let Err(e) = state.audit("server".into(), "auth.refused", detail).await {
                        tracing::error!("auditing refused tokens failed: {}", e.message());
                    }
                }
            }
        })
    };
    // Filings by other replicas on the shared log wake this server's followers.
    let listen_task = postgres.map(|log| {
        let followers = state.new_reports.clone();
        tokio::spawn(async move { log.listen(followers).await })
    });

    // A report that cannot be filed (the store failed) makes the Matcher NOT_SERVING, so that
    // an orchestrator routes uploads to a replica that can file them; it turns SERVING again
    // when a probe write succeeds. The overall service stays SERVING: the process is alive.
    {
        let (state, health, stopping) = (state.clone(), health.clone(), stopping.clone());
        tokio::spawn(async move {
            loop {
                state.report_trouble.notified().await;
                tracing::error!(
                    "a report could not be filed: the Matcher is NOT_SERVING until the store \
                     takes writes again"
                );
                health
                    .set_not_serving::<proto::matcher_server::MatcherServer<MatcherService>>()
                    .await;
                loop {
                    tokio::time::sleep(REPORT_PROBE_EVERY).await;
                    let st = state.clone();
                    let probed = tokio::task::spawn_blocking(move || st.reports.probe()).await;
                    if matches!(probed, Ok(Ok(()))) {
                        break;
                    }
                }
                if state.is_loaded() && !*stopping.borrow() {
                    tracing::info!("reports are filed again: the Matcher is SERVING");
                    health
                        .set_serving::<proto::matcher_server::MatcherServer<MatcherService>>()
                        .await;
                }
            }
        });
    }

    let shutdown = async move {
        shutdown_signal().await;
        tracing::info!("shutting down");
        // Graceful shutdown waits for open calls: end the streams that would never end.
        let _ = stop.send(true);
        health
            .set_not_serving::<proto::matcher_server::MatcherServer<MatcherService>>()
            .await;
    };
    let served = builder
        .layer(CallLayer::new(metrics, timeout, stopping))
        .add_service(health_service)
        .add_service(reflection)
        .add_service(reflection_v1alpha)
        .add_service(InterceptedService::new(matcher, intercept.clone()))
        .add_service(InterceptedService::new(reports, intercept.clone()))
        .add_service(InterceptedService::new(lists_svc, intercept))
        .serve_with_incoming_shutdown(
            // Small gRPC frames must not wait for Nagle's algorithm and the peer's delayed
            // ACK: that adds 40 ms to a share of the calls.
            tokio_stream::StreamExt::map(
                tokio_stream::wrappers::TcpListenerStream::new(listener),
                |conn| {
                    if let Ok(c) = &conn {
                        let _ = c.set_nodelay(true);
                    }
                    conn
                },
            ),
            shutdown,
        )
        .await
        .map_err(Error::from);
    if let Some(task) = metrics_task {
        task.abort();
    }
    if let Some(task) = health_task {
        task.abort();
    }
    if let Some(task) = rest_task {
        task.abort();
    }
    if let Some(task) = listen_task {
        task.abort();
    }
    refusals_task.abort();
    purge_task.abort();
    if let Some(task) = sync_task {
        // Stops the schedule; a sync already running finishes (the runtime waits for its
        // blocking work) or, if the process is killed, leaves the previous version active.
        task.abort();
    }
    served
}

/// A listener on `addr` and the address it got (`what` names it in the error).
async fn bind(
    addr: SocketAddr,
    what: &'static str,
) -> Result<(tokio::net::TcpListener, SocketAddr), Error> {
    let err = |source| Error::Listen { addr, what, source };
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(err)?;
    let at = listener.local_addr().map_err(err)?;
    Ok((listener, at))
}

/// Resolves on Ctrl-C (SIGINT) or SIGTERM.
pub async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
}
