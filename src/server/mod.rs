//! `hashguard serve`: the gRPC front end (design §5) over the library. Operators submit hashes
//! or media and get a verdict; every match is filed as a durable report before the call
//! answers, routed to the investigating unit of the list; investigators page through or follow
//! their unit's reports; admins read list state. Health (NOT_SERVING until the lists are
//! loaded, and first on shutdown) and reflection are served beside them.

pub mod auth;
pub mod metrics;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, RwLock};

use serde::Deserialize;
use tokio::sync::{Semaphore, broadcast, mpsc};
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status, Streaming};

use crate::fingerprint::{FileRecord, HashRequest, fingerprint_bytes};
use crate::hashing::AnyHash;
use crate::lists;
use crate::media::Limits;
use crate::proto;
use crate::reports::{NewReport, Report, ReportMatch, Reports};
use crate::scan::{Lists, MatchRecord};
use crate::store::Store;
use auth::{Principal, Tokens, require};
use metrics::{Metrics, Rejection};

/// Service configuration: embedded defaults, then an optional TOML file, then
/// `HASHGUARD__SECTION__KEY` environment variables, then flags.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address to listen on.
    pub listen: String,
    /// Tokens file (see [`auth::Tokens::load`]).
    pub tokens: Option<PathBuf>,
    /// Where matches are routed.
    pub routing: Routing,
    /// Request limits.
    pub limits: ServeLimits,
    /// TLS; required on any address but loopback.
    pub tls: Option<Tls>,
    /// Lists kept in sync from their sources (`[lists.NAME]`).
    pub lists: BTreeMap<String, crate::lists::sync::ListSource>,
    /// When the server syncs them.
    pub sync: SyncSchedule,
    /// The Prometheus metrics listener.
    pub metrics: MetricsConfig,
}

/// When the server syncs its lists: daily at a time of day (UTC), spread by a random delay so
/// regional servers do not all call the central database at once.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct SyncSchedule {
    /// Whether the server syncs on its own (`hashguard lists sync` and SyncNow work regardless).
    pub enabled: bool,
    /// Time of day, UTC, `HH:MM`.
    pub at: String,
    /// Largest random delay after `at`, minutes.
    pub jitter_minutes: u64,
}

impl Default for SyncSchedule {
    fn default() -> Self {
        SyncSchedule {
            enabled: true,
            at: "02:30".into(),
            jitter_minutes: 30,
        }
    }
}

/// Where Prometheus scrapes the metrics.
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsConfig {
    /// Loopback address serving `GET /metrics`, e.g. `127.0.0.1:9464`; empty: no metrics
    /// listener.
    pub listen: String,
}

/// Which unit investigates a list's matches.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Routing {
    /// Unit for lists not named below.
    pub default_unit: String,
    /// List name → unit.
    pub lists: BTreeMap<String, String>,
}

/// Request limits.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServeLimits {
    /// Largest upload, bytes.
    pub max_upload_bytes: u64,
    /// Hashes per MatchHashes call.
    pub max_batch: usize,
    /// Hashing jobs at once; beyond it, RESOURCE_EXHAUSTED at once.
    pub max_jobs: usize,
    /// Largest gRPC message, bytes.
    pub max_message_bytes: usize,
    /// Matcher calls per second allowed to one tenant (0: no quota); bursts up to one second's
    /// worth.
    pub tenant_rate: f64,
    /// Longest a call may take before it is answered DEADLINE_EXCEEDED, milliseconds,
    /// including receiving an upload (0: no server limit; a shorter client `grpc-timeout`
    /// always applies). Response streams (FollowReports) are bounded only by the client's.
    pub request_timeout_ms: u64,
}

/// TLS files.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Tls {
    /// Certificate chain, PEM.
    pub cert: PathBuf,
    /// Private key, PEM.
    pub key: PathBuf,
    /// CA of client certificates (mTLS), PEM.
    pub client_ca: Option<PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: "127.0.0.1:50051".into(),
            tokens: None,
            routing: Routing::default(),
            limits: ServeLimits::default(),
            tls: None,
            lists: BTreeMap::new(),
            sync: SyncSchedule::default(),
            metrics: MetricsConfig::default(),
        }
    }
}

impl Default for Routing {
    fn default() -> Self {
        Routing {
            default_unit: "national".into(),
            lists: BTreeMap::new(),
        }
    }
}

impl Default for ServeLimits {
    /// 64 MiB uploads (a minute of phone video), 1,000 hashes a call, two hashing jobs per
    /// core, 4 MiB messages (uploads come in chunks), 30 s a call (enough to upload and hash a
    /// maximal video on a slow link, short enough that a stalled client frees its slot).
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        ServeLimits {
            max_upload_bytes: 64 << 20,
            max_batch: 1000,
            max_jobs: 2 * cores,
            max_message_bytes: 4 << 20,
            tenant_rate: 0.0,
            request_timeout_ms: 30_000,
        }
    }
}

impl Config {
    /// Defaults, overlaid by `file` (TOML) and then by `HASHGUARD__SECTION__KEY` variables
    /// from `env` (values parsed as TOML, else taken as strings).
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, String> {
        let mut table: toml::Table = match file {
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .map_err(|e| format!("cannot read config {}: {e}", p.display()))?;
                text.parse()
                    .map_err(|e| format!("config {}: {e}", p.display()))?
            }
            None => toml::Table::new(),
        };
        for (k, v) in env {
            let Some(path) = k.strip_prefix("HASHGUARD__") else {
                continue;
            };
            let parts: Vec<String> = path.split("__").map(str::to_lowercase).collect();
            let value: toml::Value = format!("v = {v}")
                .parse::<toml::Table>()
                .ok()
                .and_then(|mut t| t.remove("v"))
                .unwrap_or(toml::Value::String(v));
            let mut at = &mut table;
            for p in &parts[..parts.len() - 1] {
                at = at
                    .entry(p.clone())
                    .or_insert_with(|| toml::Value::Table(toml::Table::new()))
                    .as_table_mut()
                    .ok_or_else(|| format!("{k}: {p} is not a section"))?;
            }
            at.insert(parts[parts.len() - 1].clone(), value);
        }
        toml::Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| format!("config: {e}"))
    }
}

/// What the services share.
struct State {
    store: Arc<Store>,
    lists: RwLock<Option<Arc<Lists>>>,
    reports: Reports,
    new_reports: broadcast::Sender<Report>,
    jobs: Arc<Semaphore>,
    /// Per-tenant token buckets: (tokens left, last refill).
    quotas: std::sync::Mutex<std::collections::HashMap<String, (f64, std::time::Instant)>>,
    config: Config,
    metrics: Arc<Metrics>,
    /// One list sync at a time (RocksDB has one writer; syncs are long and rare).
    syncing: tokio::sync::Mutex<()>,
}

impl State {
    /// Takes one call from the tenant's quota, or refuses with RESOURCE_EXHAUSTED.
    fn charge(&self, tenant: &str) -> Result<(), Status> {
        let rate = self.config.limits.tenant_rate;
        if rate <= 0.0 {
            return Ok(());
        }
        let now = std::time::Instant::now();
        let mut q = self.quotas.lock().unwrap_or_else(|p| p.into_inner());
        let (tokens, last) = q.entry(tenant.to_string()).or_insert((rate.max(1.0), now));
        *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * rate).min(rate.max(1.0));
        *last = now;
        if *tokens < 1.0 {
            self.metrics.reject(Rejection::Quota);
            return Err(Status::resource_exhausted(format!(
                "tenant quota of {rate} calls per second exceeded; retry later"
            )));
        }
        *tokens -= 1.0;
        Ok(())
    }

    fn lists(&self) -> Result<Arc<Lists>, Status> {
        self.lists
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .ok_or_else(|| Status::unavailable("lists are still loading"))
    }

    /// The unit a list's matches go to: the config's routing for the list, else the unit the
    /// list was published with, else the default unit.
    fn unit_of(&self, list: &str) -> String {
        if let Some(unit) = self.config.routing.lists.get(list) {
            return unit.clone();
        }
        let loaded = self.lists.read().unwrap_or_else(|p| p.into_inner()).clone();
        loaded
            .and_then(|l| {
                l.loaded()
                    .iter()
                    .find(|x| x.meta.name == list)
                    .and_then(|x| x.meta.unit.clone())
            })
            .unwrap_or_else(|| self.config.routing.default_unit.clone())
    }

    /// Files one report per unit for a submission's matches; returns the verdict.
    fn verdict(
        &self,
        tenant: &str,
        reference: &str,
        rec: &FileRecord,
        matches: Vec<MatchRecord>,
    ) -> Result<proto::Verdict, Status> {
        if matches.is_empty() {
            return Ok(proto::Verdict::default());
        }
        let categories: BTreeSet<String> =
            matches.iter().filter_map(|m| m.category.clone()).collect();
        for m in &matches {
            self.metrics.matched(m.kind);
        }
        let mut by_unit: BTreeMap<String, Vec<ReportMatch>> = BTreeMap::new();
        for m in matches {
            by_unit
                .entry(self.unit_of(&m.list))
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
                });
        }
        let mut first_id = String::new();
        for (unit, matches) in by_unit {
            let report = self
                .reports
                .file(
                    &self.store,
                    NewReport {
                        tenant: tenant.to_string(),
                        tenant_reference: reference.to_string(),
                        unit,
                        sha256: rec.sha256.map(|h| h.to_hex()),
                        md5: rec.md5.map(|h| h.to_hex()),
                        sha1: rec.sha1.map(|h| h.to_hex()),
                        matches,
                    },
                )
                .map_err(|e| Status::internal(format!("filing the report failed: {e}")))?;
            self.metrics.report_filed();
            if first_id.is_empty() {
                first_id = report.id.clone();
            }
            // Followers may be absent; the report is on disk either way.
            let _ = self.new_reports.send(report);
        }
        Ok(proto::Verdict {
            matched: true,
            categories: categories.into_iter().collect(),
            report_id: first_id,
        })
    }
}

/// A record holding just one submitted hash, to match like a file's.
fn record_of(h: AnyHash) -> FileRecord {
    let mut rec = FileRecord::new(Path::new(""));
    match h {
        AnyHash::Pdq(p) => rec.pdq = Some(p),
        AnyHash::Phash(p) => rec.phash = Some(p),
        AnyHash::Dhash(d) => rec.dhash = Some(d),
        AnyHash::Md5(d) => rec.md5 = Some(d),
        AnyHash::Sha1(d) => rec.sha1 = Some(d),
        AnyHash::Sha256(d) => rec.sha256 = Some(d),
    }
    rec
}

fn fingerprint_of(rec: &FileRecord) -> proto::Fingerprint {
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
    }
}

fn report_to_proto(r: &Report) -> proto::Report {
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
                kind: proto::proto_kind(m.kind) as i32,
                dihedral: m
                    .dihedral
                    .and_then(|d| serde_json::to_value(d).ok())
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default(),
                category: m.category.clone().unwrap_or_default(),
                frame_ts: m.frame_ts.unwrap_or(-1.0),
            })
            .collect(),
        acked: r.acked,
    }
}

/// Runs a blocking library call off the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, Status> + Send + 'static,
) -> Result<T, Status> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Status::internal(format!("worker failed: {e}")))?
}

struct MatcherService(Arc<State>);

/// `MatchHashes` calls with at most this many hashes are looked up on the async worker.
const INLINE_LOOKUPS: usize = 8;

/// An upload that failed mid-stream: a chunk over the message limit keeps tonic's OUT_OF_RANGE
/// (a size refusal, counted as such); anything else means the client's stream broke.
fn interrupted(e: Status) -> Status {
    match e.code() {
        tonic::Code::OutOfRange => Status::out_of_range(format!(
            "upload chunk over limits.max_message_bytes: {}",
            e.message()
        )),
        _ => Status::cancelled(format!("upload interrupted: {}", e.message())),
    }
}

impl MatcherService {
    /// Receives an upload: metadata first, then bytes, within the size limit.
    async fn receive(
        &self,
        mut stream: Streaming<proto::MediaChunk>,
    ) -> Result<(proto::MediaMetadata, Vec<u8>), Status> {
        let limit = self.0.config.limits.max_upload_bytes;
        let first = stream
            .next()
            .await
            .ok_or_else(|| Status::invalid_argument("empty upload: send metadata, then bytes"))?
            .map_err(interrupted)?;
        let Some(proto::media_chunk::Part::Metadata(meta)) = first.part else {
            return Err(Status::invalid_argument(
                "the first message of an upload must carry metadata",
            ));
        };
        if meta.declared_size > limit {
            self.0.metrics.reject(Rejection::TooLarge);
            return Err(Status::resource_exhausted(format!(
                "upload of {} bytes exceeds the limit of {limit} bytes",
                meta.declared_size
            )));
        }
        let mut bytes = Vec::new();
        while let Some(msg) = stream.next().await {
            let msg = msg.map_err(interrupted)?;
            match msg.part {
                Some(proto::media_chunk::Part::Data(d)) => {
                    if bytes.len() as u64 + d.len() as u64 > limit {
                        self.0.metrics.reject(Rejection::TooLarge);
                        return Err(Status::resource_exhausted(format!(
                            "upload exceeds the limit of {limit} bytes"
                        )));
                    }
                    bytes.extend_from_slice(&d);
                }
                _ => {
                    return Err(Status::invalid_argument(
                        "metadata may only be sent once, first",
                    ));
                }
            }
        }
        if bytes.is_empty() {
            return Err(Status::invalid_argument("the upload holds no bytes"));
        }
        if meta.declared_size > 0 && meta.declared_size != bytes.len() as u64 {
            return Err(Status::invalid_argument(format!(
                "upload truncated: {} of {} declared bytes received",
                bytes.len(),
                meta.declared_size
            )));
        }
        Ok((meta, bytes))
    }

    /// A hashing slot, taken before the upload is received so that an overloaded server
    /// refuses at once instead of after the transfer.
    fn slot(&self) -> Result<tokio::sync::OwnedSemaphorePermit, Status> {
        self.0.jobs.clone().try_acquire_owned().map_err(|_| {
            self.0.metrics.reject(Rejection::Overload);
            Status::resource_exhausted("server busy: every hashing slot is in use; retry later")
        })
    }

    /// Hashes an upload on its slot.
    async fn hash(
        &self,
        bytes: Vec<u8>,
        permit: tokio::sync::OwnedSemaphorePermit,
    ) -> Result<FileRecord, Status> {
        blocking(move || {
            let _permit = permit;
            let req = HashRequest {
                pdq_dihedral: true,
                ..HashRequest::ALL
            };
            let mut rec = FileRecord::new(Path::new(""));
            fingerprint_bytes(&bytes, &req, &Limits::default(), &mut rec);
            Ok(rec)
        })
        .await
    }
}

#[tonic::async_trait]
impl proto::matcher_server::Matcher for MatcherService {
    async fn match_hashes(
        &self,
        req: Request<proto::MatchHashesRequest>,
    ) -> Result<Response<proto::MatchHashesResponse>, Status> {
        let Principal::Operator { tenant } = require(&req, "operator")? else {
            unreachable!("require checked the role")
        };
        self.0.charge(&tenant)?;
        let lists = self.0.lists()?;
        let body = req.into_inner();
        if body.hashes.len() > self.0.config.limits.max_batch {
            self.0.metrics.reject(Rejection::TooLarge);
            return Err(Status::invalid_argument(format!(
                "{} hashes in one call; at most {}",
                body.hashes.len(),
                self.0.config.limits.max_batch
            )));
        }
        let mut parsed = Vec::with_capacity(body.hashes.len());
        for (i, h) in body.hashes.iter().enumerate() {
            let kind = proto::kind_of(h.kind)
                .map_err(|e| Status::invalid_argument(format!("hash {i}: {e}")))?;
            let hash = AnyHash::parse(kind, h.hex.trim())
                .map_err(|e| Status::invalid_argument(format!("hash {i}: {e}")))?;
            parsed.push(hash);
        }
        let state = self.0.clone();
        let reference = body.tenant_reference;
        let lookup = move || {
            parsed
                .into_iter()
                .enumerate()
                .map(|(i, h)| {
                    let rec = record_of(h);
                    let ms = lists
                        .matches(i as u64, &rec)
                        .map_err(|e| Status::internal(e.to_string()))?;
                    Ok((rec, ms))
                })
                .collect::<Result<Vec<_>, Status>>()
        };
        // A few lookups (well under a millisecond each) run right here: handing every small
        // call to the blocking pool costs more than the lookup, and under load 64 callers
        // would mean 64 pool threads fighting over the cores, which is what made the tail
        // latency. Large batches still go to the pool.
        let found = if body.hashes.len() <= INLINE_LOOKUPS {
            lookup()?
        } else {
            blocking(lookup).await?
        };
        // Reports are written with fsync: never on an async worker.
        let verdicts = if found.iter().all(|(_, ms)| ms.is_empty()) {
            vec![proto::Verdict::default(); found.len()]
        } else {
            blocking(move || {
                found
                    .into_iter()
                    .map(|(rec, ms)| state.verdict(&tenant, &reference, &rec, ms))
                    .collect::<Result<Vec<_>, Status>>()
            })
            .await?
        };
        Ok(Response::new(proto::MatchHashesResponse { verdicts }))
    }

    async fn match_media(
        &self,
        req: Request<Streaming<proto::MediaChunk>>,
    ) -> Result<Response<proto::MediaVerdict>, Status> {
        let Principal::Operator { tenant } = require(&req, "operator")? else {
            unreachable!("require checked the role")
        };
        self.0.charge(&tenant)?;
        let lists = self.0.lists()?;
        let permit = self.slot()?;
        let (meta, bytes) = self.receive(req.into_inner()).await?;
        let rec = self.hash(bytes, permit).await?;
        let state = self.0.clone();
        let verdict = blocking(move || {
            let ms = lists
                .matches(0, &rec)
                .map_err(|e| Status::internal(e.to_string()))?;
            let v = state.verdict(&tenant, &meta.tenant_reference, &rec, ms)?;
            Ok(proto::MediaVerdict {
                verdict: Some(v),
                fingerprint: Some(fingerprint_of(&rec)),
            })
        })
        .await?;
        Ok(Response::new(verdict))
    }

    async fn hash_media(
        &self,
        req: Request<Streaming<proto::MediaChunk>>,
    ) -> Result<Response<proto::Fingerprint>, Status> {
        if let Principal::Operator { tenant } = require(&req, "operator")? {
            self.0.charge(&tenant)?;
        }
        let permit = self.slot()?;
        let (_, bytes) = self.receive(req.into_inner()).await?;
        let rec = self.hash(bytes, permit).await?;
        Ok(Response::new(fingerprint_of(&rec)))
    }
}

struct ReportsService(Arc<State>);

type ReportStream = Pin<Box<dyn Stream<Item = Result<proto::Report, Status>> + Send>>;

fn unit_of(p: Principal) -> String {
    match p {
        Principal::Investigator { unit } => unit,
        _ => unreachable!("require checked the role"),
    }
}

#[tonic::async_trait]
impl proto::reports_server::Reports for ReportsService {
    async fn list_reports(
        &self,
        req: Request<proto::ListReportsRequest>,
    ) -> Result<Response<proto::ListReportsResponse>, Status> {
        let unit = unit_of(require(&req, "investigator")?);
        let body = req.into_inner();
        let limit = match body.limit {
            0 => 100,
            n => n.min(1000) as usize,
        };
        let state = self.0.clone();
        let reports = blocking(move || {
            Reports::list(&state.store, &unit, body.cursor, limit)
                .map_err(|e| Status::internal(e.to_string()))
        })
        .await?;
        let next_cursor = reports.last().map_or(body.cursor, |r| r.cursor);
        Ok(Response::new(proto::ListReportsResponse {
            reports: reports.iter().map(report_to_proto).collect(),
            next_cursor,
        }))
    }

    type FollowReportsStream = ReportStream;

    async fn follow_reports(
        &self,
        req: Request<proto::FollowReportsRequest>,
    ) -> Result<Response<Self::FollowReportsStream>, Status> {
        let unit = unit_of(require(&req, "investigator")?);
        let mut cursor = req.into_inner().cursor;
        let state = self.0.clone();
        // Subscribe before replaying, so nothing filed during the replay is missed; the cursor
        // drops what the replay already sent.
        let mut live = state.new_reports.subscribe();
        let (tx, rx) = mpsc::channel(64);
        tokio::spawn(async move {
            loop {
                // Replay everything after the cursor from the store.
                loop {
                    let (st, u) = (state.clone(), unit.clone());
                    let page = blocking(move || {
                        Reports::list(&st.store, &u, cursor, 500)
                            .map_err(|e| Status::internal(e.to_string()))
                    })
                    .await;
                    let page = match page {
                        Ok(p) => p,
                        Err(e) => {
                            let _ = tx.send(Err(e)).await;
                            return;
                        }
                    };
                    if page.is_empty() {
                        break;
                    }
                    for r in &page {
                        if tx.send(Ok(report_to_proto(r))).await.is_err() {
                            return; // the client went away
                        }
                        cursor = r.cursor;
                    }
                }
                // Then follow live reports until the subscriber falls behind.
                loop {
                    match live.recv().await {
                        Ok(r) if r.unit == unit && r.cursor > cursor => {
                            cursor = r.cursor;
                            if tx.send(Ok(report_to_proto(&r))).await.is_err() {
                                return;
                            }
                        }
                        Ok(_) => {}
                        // Missed some: replay them from the store.
                        Err(broadcast::error::RecvError::Lagged(_)) => break,
                        Err(broadcast::error::RecvError::Closed) => return,
                    }
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn ack_reports(
        &self,
        req: Request<proto::AckReportsRequest>,
    ) -> Result<Response<proto::AckReportsResponse>, Status> {
        let unit = unit_of(require(&req, "investigator")?);
        let ids = req.into_inner().ids;
        let state = self.0.clone();
        let acked = blocking(move || {
            state
                .reports
                .ack(&state.store, &unit, &ids)
                .map_err(|e| Status::internal(e.to_string()))
        })
        .await?;
        Ok(Response::new(proto::AckReportsResponse { acked }))
    }
}

struct ListsService(Arc<State>);

/// Malformed rows as the API gives them.
fn proto_bad_rows(rows: Vec<lists::BadRow>) -> Vec<proto::BadRow> {
    rows.into_iter()
        .map(|b| proto::BadRow {
            line: b.line,
            reason: b.reason,
        })
        .collect()
}

/// A list's kinds as the API gives them.
fn list_kinds(kinds: &[lists::KindMeta]) -> Vec<proto::ListKind> {
    kinds
        .iter()
        .map(|k| proto::ListKind {
            kind: proto::proto_kind(k.kind) as i32,
            radius: k.radius,
            entries: k.entries,
        })
        .collect()
}

fn list_info(state: &State, m: &lists::ListMeta) -> Result<proto::ListInfo, Status> {
    let attempt =
        lists::last_attempt(&state.store, &m.name).map_err(|e| Status::internal(e.to_string()))?;
    Ok(proto::ListInfo {
        name: m.name.clone(),
        version: m.version,
        entries: m.entries,
        category: m.category.clone().unwrap_or_default(),
        unit: state.unit_of(&m.name),
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
            bad_rows: proto_bad_rows(a.bad_rows),
        }),
    })
}

#[tonic::async_trait]
impl proto::lists_server::Lists for ListsService {
    async fn list_lists(
        &self,
        req: Request<proto::ListListsRequest>,
    ) -> Result<Response<proto::ListListsResponse>, Status> {
        require(&req, "admin")?;
        let state = self.0.clone();
        let lists = blocking(move || {
            let all = lists::all(&state.store).map_err(|e| Status::internal(e.to_string()))?;
            all.iter().map(|m| list_info(&state, m)).collect()
        })
        .await?;
        Ok(Response::new(proto::ListListsResponse { lists }))
    }

    async fn list_status(
        &self,
        req: Request<proto::ListStatusRequest>,
    ) -> Result<Response<proto::ListInfo>, Status> {
        require(&req, "admin")?;
        let name = req.into_inner().name;
        let state = self.0.clone();
        let info = blocking(move || match lists::get(&state.store, &name) {
            Ok(m) => list_info(&state, &m),
            Err(lists::Error::NoSuchList { .. }) => {
                Err(Status::not_found(format!("no list named {name:?}")))
            }
            Err(e) => Err(Status::internal(e.to_string())),
        })
        .await?;
        Ok(Response::new(info))
    }

    async fn sync_now(
        &self,
        req: Request<proto::SyncNowRequest>,
    ) -> Result<Response<proto::SyncNowResponse>, Status> {
        require(&req, "admin")?;
        let name = req.into_inner().name;
        if !name.is_empty() && !self.0.config.lists.contains_key(&name) {
            return Err(Status::not_found(format!(
                "no list {name:?} is configured for sync ([lists.{name}] with a source)"
            )));
        }
        if name.is_empty() && self.0.config.lists.is_empty() {
            return Err(Status::failed_precondition(
                "no lists are configured for sync ([lists.NAME] sections with a source)",
            ));
        }
        let names = if name.is_empty() {
            Vec::new()
        } else {
            vec![name]
        };
        // Detached, so a cancelled call or a deadline never cuts a sync off from its reload or
        // lets another start while it still writes.
        let results = tokio::spawn(sync_lists(self.0.clone(), names))
            .await
            .map_err(|e| Status::internal(format!("sync worker failed: {e}")))?;
        Ok(Response::new(proto::SyncNowResponse { results }))
    }

    async fn import_list(
        &self,
        req: Request<tonic::Streaming<proto::ImportListChunk>>,
    ) -> Result<Response<proto::ImportListResponse>, Status> {
        require(&req, "admin")?;
        let mut stream = req.into_inner();
        let Some(proto::ImportListChunk {
            part: Some(proto::import_list_chunk::Part::Settings(set)),
        }) = stream.message().await?
        else {
            return Err(Status::invalid_argument(
                "the first message must carry the import settings",
            ));
        };
        let format = lists::sync::parse_format(if set.format.is_empty() {
            "jsonl"
        } else {
            &set.format
        })
        .map_err(Status::invalid_argument)?;
        lists::check_name(&set.name).map_err(|e| Status::invalid_argument(e.to_string()))?;
        let kind = match set.kind {
            0 => None,
            k => Some(
                proto::kind_of(k).map_err(|e| Status::invalid_argument(format!("kind: {e}")))?,
            ),
        };
        // List files are large and not media: they are spooled beside the store, then read
        // as a stream, and deleted whatever happens.
        // One spool file per call (two uploads of one list never mix), deleted when the call
        // ends however it ends, a cut connection or a deadline included.
        let spool = lists::sync::Spool::new(&self.0.store, &set.name, "import")
            .map_err(|e| Status::internal(e.to_string()))?;
        let mut file =
            std::fs::File::create(spool.path()).map_err(|e| Status::internal(e.to_string()))?;
        // Chunks land in the page cache (a few MiB each, no fsync until the end), so these
        // writes do not hold up the async workers noticeably.
        let received = async {
            use std::io::Write;
            while let Some(chunk) = stream.message().await? {
                if let Some(proto::import_list_chunk::Part::Data(d)) = chunk.part {
                    file.write_all(&d)
                        .map_err(|e| Status::internal(e.to_string()))?;
                }
            }
            let f = file;
            blocking(move || f.sync_data().map_err(|e| Status::internal(e.to_string()))).await
        }
        .await;
        received?;
        let state = self.0.clone();
        // The import and the reload run in a task of their own that holds the sync lock: if
        // this call is cancelled or runs out of time, they still finish together, and no other
        // sync or import starts in between.
        let task = tokio::spawn(async move {
            let _one_at_a_time = state.syncing.lock().await;
            let st = state.clone();
            let imported = blocking(move || {
                let path = spool.path();
                let input =
                    std::fs::File::open(path).map_err(|e| Status::internal(e.to_string()))?;
                // Settings not given keep the list's own (a delta must not clear its unit).
                let own = lists::get(&st.store, &set.name)
                    .ok()
                    .map(|m| lists::Settings::of(&m))
                    .unwrap_or_default();
                let opts = lists::ImportOptions {
                    format,
                    read: lists::format::ReadOptions { kind },
                    mode: if set.delta {
                        lists::Mode::Delta
                    } else {
                        lists::Mode::Full
                    },
                    settings: lists::Settings {
                        radii: own.radii,
                        category: (!set.category.is_empty())
                            .then_some(set.category)
                            .or(own.category),
                        unit: (!set.unit.is_empty()).then_some(set.unit).or(own.unit),
                        source: "grpc:ImportList".into(),
                        max_bad_pct: if set.max_bad_pct > 0.0 {
                            set.max_bad_pct
                        } else {
                            1.0
                        },
                    },
                };
                let r = lists::import(
                    &st.store,
                    &set.name,
                    std::io::BufReader::with_capacity(1 << 20, input),
                    &opts,
                );
                drop(spool);
                r.map_err(|e| match e {
                    lists::Error::TooManyBadRows { .. }
                    | lists::Error::Read { .. }
                    | lists::Error::NoBase { .. }
                    | lists::Error::BadName { .. } => Status::invalid_argument(e.to_string()),
                    e => Status::internal(e.to_string()),
                })
            })
            .await;
            let staged = imported?;
            reload_lists(&state).await.map_err(Status::internal)?;
            Ok::<_, Status>((state.clone(), staged))
        });
        let (state, staged) = task
            .await
            .map_err(|e| Status::internal(format!("import worker failed: {e}")))??;
        let info = list_info(&state, &staged.meta)?;
        Ok(Response::new(proto::ImportListResponse {
            list: Some(info),
            bad_rows: proto_bad_rows(staged.bad_rows),
        }))
    }

    type FetchDeltaStream = std::pin::Pin<
        Box<dyn tokio_stream::Stream<Item = Result<proto::DeltaChunk, Status>> + Send>,
    >;

    async fn fetch_delta(
        &self,
        req: Request<proto::FetchDeltaRequest>,
    ) -> Result<Response<Self::FetchDeltaStream>, Status> {
        require(&req, "mirror")?;
        let body = req.into_inner();
        let from = (body.from_version > 0).then_some(body.from_version);
        let state = self.0.clone();
        let name = body.name.clone();
        let (header, versions) =
            blocking(
                move || match lists::delta::plan(&state.store, &name, from) {
                    Ok(p) => Ok(p),
                    Err(lists::Error::NoSuchList { name }) => {
                        Err(Status::not_found(format!("no list named {name:?}")))
                    }
                    Err(e) => Err(Status::internal(e.to_string())),
                },
            )
            .await?;
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<proto::DeltaChunk, Status>>(8);
        let first = proto::DeltaChunk {
            part: Some(proto::delta_chunk::Part::Header(proto::DeltaHeader {
                version: header.to,
                full: header.full,
                entries: header.entries,
                digest: header.digest.clone(),
                kinds: list_kinds(&header.kinds),
                from_version: header.from.unwrap_or(0),
            })),
        };
        let state = self.0.clone();
        tokio::task::spawn_blocking(move || {
            if tx.blocking_send(Ok(first)).is_err() {
                return;
            }
            let mut w = DeltaChunks(tx.clone(), Vec::new());
            let written = lists::delta::write_rows(&state.store, &header, &versions, &mut w)
                .and_then(|_| {
                    std::io::Write::flush(&mut w).map_err(|e| lists::Error::Sync(e.to_string()))
                });
            if let Err(e) = written {
                let _ = tx.blocking_send(Err(Status::internal(e.to_string())));
            }
        });
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        )))
    }
}

/// Delta rows sent to a mirror as messages of about 1 MiB, whole lines each.
struct DeltaChunks(
    tokio::sync::mpsc::Sender<Result<proto::DeltaChunk, Status>>,
    Vec<u8>,
);

impl std::io::Write for DeltaChunks {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.1.extend_from_slice(b);
        if self.1.len() >= 1 << 20 && self.1.ends_with(b"\n") {
            self.flush()?;
        }
        Ok(b.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.1.is_empty() {
            return Ok(());
        }
        let rows = std::mem::take(&mut self.1);
        let chunk = proto::DeltaChunk {
            part: Some(proto::delta_chunk::Part::Rows(rows)),
        };
        self.0
            .blocking_send(Ok(chunk))
            .map_err(|_| std::io::Error::other("the mirror went away"))
    }
}

/// Syncs `names` (every configured list when empty), one at a time, and swaps the lists in
/// memory when any version was published: lookups go on against the old lists until the new
/// ones are loaded.
async fn sync_lists(state: Arc<State>, names: Vec<String>) -> Vec<proto::SyncResult> {
    let _one_at_a_time = state.syncing.lock().await;
    let names = if names.is_empty() {
        state.config.lists.keys().cloned().collect()
    } else {
        names
    };
    let mut results = Vec::new();
    let mut published = false;
    for name in names {
        let st = state.clone();
        let n = name.clone();
        let done = tokio::task::spawn_blocking(move || {
            let src = st.config.lists.get(&n).ok_or_else(|| {
                lists::Error::Sync(format!("no [lists.{n}] in the configuration"))
            })?;
            lists::sync::sync(&st.store, &n, src)
        })
        .await;
        let mut r = proto::SyncResult {
            name: name.clone(),
            ..Default::default()
        };
        match done {
            Ok(Ok(lists::sync::Outcome::Published(s))) => {
                published = true;
                r.outcome = "published".into();
                tracing::info!(list = %name, version = s.meta.version, entries = s.meta.entries, "list published");
            }
            Ok(Ok(lists::sync::Outcome::Unchanged)) => r.outcome = "unchanged".into(),
            Ok(Err(e)) => {
                r.outcome = "failed".into();
                r.error = e.to_string();
                tracing::warn!(list = %name, "list sync failed: {e}");
            }
            Err(e) => {
                r.outcome = "failed".into();
                r.error = format!("sync worker failed: {e}");
            }
        }
        if let Ok(m) = lists::get(&state.store, &name) {
            r.version = m.version;
            r.entries = m.entries;
        }
        results.push(r);
    }
    if published {
        match reload_lists(&state).await {
            Ok(()) => tracing::info!("lists reloaded after sync"),
            Err(e) => tracing::error!("{e}"),
        }
    }
    results
}

/// Loads every list's active version and swaps the set in: lookups use the old set until the
/// new one is complete. The caller holds the sync lock.
async fn reload_lists(state: &Arc<State>) -> Result<(), String> {
    let st = state.clone();
    match tokio::task::spawn_blocking(move || Lists::load_all(st.store.clone())).await {
        Ok(Ok(l)) => {
            *state.lists.write().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(l));
            Ok(())
        }
        Ok(Err(e)) => Err(format!("reloading lists failed: {e}")),
        Err(e) => Err(format!("reloading lists failed: {e}")),
    }
}

/// Checks a `sync.at` time of day (for `config check`).
pub fn schedule_check(at: &str) -> Result<(), String> {
    until_next(at, 0, 0).map(|_| ())
}

/// Seconds from `now` (Unix seconds) to the next `HH:MM` UTC, plus up to `jitter` seconds.
fn until_next(at: &str, now: u64, jitter: u64) -> Result<u64, String> {
    let bad = || format!("sync.at {at:?}: expected HH:MM, UTC");
    let (h, m) = at.trim().split_once(':').ok_or_else(bad)?;
    let (h, m): (u64, u64) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if h > 23 || m > 59 {
        return Err(bad());
    }
    let target = h * 3600 + m * 60;
    let today = now % 86_400;
    let wait = if target > today {
        target - today
    } else {
        86_400 - today + target
    };
    let spread = if jitter == 0 {
        0
    } else {
        use rand_core::RngCore;
        rand_core::OsRng.next_u64() % jitter
    };
    Ok(wait + spread)
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad configuration.
    #[error("{0}")]
    Config(String),
    /// The data store could not be opened.
    #[error(transparent)]
    Store(#[from] crate::store::Error),
    /// The listener or transport failed.
    #[error("serving failed: {0}")]
    Transport(String),
}

/// A listener the server has bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    /// The gRPC listener.
    Grpc(SocketAddr),
    /// The Prometheus metrics listener.
    Metrics(SocketAddr),
}

/// Serves until SIGTERM or SIGINT. `ready` gets each bound address once listening: metrics
/// first (when configured), then gRPC.
pub async fn serve(config: Config, data: &Path, mut ready: impl FnMut(Bound)) -> Result<(), Error> {
    let addr: SocketAddr = config
        .listen
        .parse()
        .map_err(|e| Error::Config(format!("listen address {:?}: {e}", config.listen)))?;
    if config.tls.is_none() && !addr.ip().is_loopback() {
        return Err(Error::Config(format!(
            "refusing to serve plaintext gRPC on {addr}: only loopback addresses may go without \
             TLS (set [tls] cert and key, or listen on 127.0.0.1)"
        )));
    }
    let metrics_addr = metrics::metrics_addr(&config.metrics.listen).map_err(Error::Config)?;
    let tokens = match &config.tokens {
        Some(p) => Tokens::load(p).map_err(Error::Config)?,
        None => {
            return Err(Error::Config(
                "no tokens file: set `tokens` in the config (or --tokens); every call needs a token"
                    .into(),
            ));
        }
    };
    let tokens = Arc::new(tokens);
    let store = Arc::new(Store::open(data)?);
    let (new_reports, _) = broadcast::channel(1024);
    let metrics = Arc::new(Metrics::new());
    let state = Arc::new(State {
        store: store.clone(),
        lists: RwLock::new(None),
        reports: Reports::new(),
        new_reports,
        jobs: Arc::new(Semaphore::new(config.limits.max_jobs.max(1))),
        quotas: std::sync::Mutex::new(std::collections::HashMap::new()),
        config: config.clone(),
        metrics: metrics.clone(),
        syncing: tokio::sync::Mutex::new(()),
    });

    let (health, health_service) = tonic_health::server::health_reporter();
    health
        .set_not_serving::<proto::matcher_server::MatcherServer<MatcherService>>()
        .await;
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(proto::FILE_DESCRIPTOR_SET)
        .build_v1()
        .map_err(|e| Error::Config(format!("reflection: {e}")))?;

    let max = config.limits.max_message_bytes;
    let matcher = proto::matcher_server::MatcherServer::new(MatcherService(state.clone()))
        .max_decoding_message_size(max);
    let reports = proto::reports_server::ReportsServer::new(ReportsService(state.clone()));
    let lists_svc = proto::lists_server::ListsServer::new(ListsService(state.clone()));
    let intercept = auth::interceptor(tokens);

    let timeout = match config.limits.request_timeout_ms {
        0 => None,
        ms => Some(std::time::Duration::from_millis(ms)),
    };
    let mut builder = tonic::transport::Server::builder();
    if let Some(tls) = &config.tls {
        let read = |p: &PathBuf| {
            std::fs::read(p).map_err(|e| Error::Config(format!("TLS file {}: {e}", p.display())))
        };
        let mut tc = tonic::transport::ServerTlsConfig::new().identity(
            tonic::transport::Identity::from_pem(read(&tls.cert)?, read(&tls.key)?),
        );
        if let Some(ca) = &tls.client_ca {
            tc = tc.client_ca_root(tonic::transport::Certificate::from_pem(read(ca)?));
        }
        builder = builder
            .tls_config(tc)
            .map_err(|e| Error::Config(format!("TLS: {e}")))?;
    }
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| Error::Transport(format!("cannot listen on {addr}: {e}")))?;
    let bound = listener
        .local_addr()
        .map_err(|e| Error::Transport(e.to_string()))?;
    let metrics_task = match metrics_addr {
        Some(addr) => {
            let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
                Error::Transport(format!("cannot listen on {addr} for metrics: {e}"))
            })?;
            let at = listener
                .local_addr()
                .map_err(|e| Error::Transport(e.to_string()))?;
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
                tokio::task::spawn_blocking(move || Lists::load_all(st.store.clone())).await;
            match loaded {
                Ok(Ok(l)) => {
                    tracing::info!(lists = l.loaded().len(), "lists loaded");
                    *state.lists.write().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(l));
                    health
                        .set_serving::<proto::matcher_server::MatcherServer<MatcherService>>()
                        .await;
                }
                Ok(Err(e)) => tracing::error!("loading lists failed: {e}"),
                Err(e) => tracing::error!("loading lists failed: {e}"),
            }
        });
    }

    // The nightly sync of the configured lists.
    let sync_task = if state.config.sync.enabled && !state.config.lists.is_empty() {
        let state = state.clone();
        Some(tokio::spawn(async move {
            loop {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs());
                let wait = match until_next(
                    &state.config.sync.at,
                    now,
                    state.config.sync.jitter_minutes.saturating_mul(60),
                ) {
                    Ok(w) => w,
                    Err(e) => {
                        tracing::error!("no scheduled sync: {e}");
                        return;
                    }
                };
                tracing::info!(in_seconds = wait, "next scheduled list sync");
                tokio::time::sleep(std::time::Duration::from_secs(wait)).await;
                sync_lists(state.clone(), Vec::new()).await;
            }
        }))
    } else {
        None
    };

    let (stop, stopping) = tokio::sync::watch::channel(false);
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
        .layer(metrics::Observe::new(metrics, timeout, stopping))
        .add_service(health_service)
        .add_service(reflection)
        .add_service(tonic::service::interceptor::InterceptedService::new(
            matcher,
            intercept.clone(),
        ))
        .add_service(tonic::service::interceptor::InterceptedService::new(
            reports,
            intercept.clone(),
        ))
        .add_service(tonic::service::interceptor::InterceptedService::new(
            lists_svc, intercept,
        ))
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
        .map_err(|e| Error::Transport(e.to_string()));
    if let Some(task) = metrics_task {
        task.abort();
    }
    if let Some(task) = sync_task {
        // Stops the schedule; a sync already running finishes (the runtime waits for its
        // blocking work) or, if the process is killed, leaves the previous version active.
        task.abort();
    }
    served
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

#[cfg(test)]
mod schedule_tests {
    use super::until_next;

    #[test]
    fn next_sync_time_of_day() {
        // 2026-11-23 01:00 UTC → 02:30 the same day; 03:00 → 02:30 the next day.
        let day = 20_415 * 86_400;
        assert_eq!(until_next("02:30", day + 3600, 0), Ok(5400));
        assert_eq!(until_next("02:30", day + 3 * 3600, 0), Ok(86_400 - 1800));
        assert_eq!(
            until_next("02:30", day + 9000, 0),
            Ok(86_400),
            "exactly now: tomorrow"
        );
        let w = until_next("02:30", day + 3600, 600).unwrap();
        assert!((5400..6000).contains(&w));
        assert!(until_next("25:00", 0, 0).is_err());
        assert!(until_next("2pm", 0, 0).is_err());
    }
}
