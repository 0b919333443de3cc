//! The service's configuration: embedded defaults, then an optional TOML file, then
//! `HASHGUARD__SECTION__KEY` environment variables (then the CLI's flags). One [`Config::validate`]
//! checks everything that can be checked without serving, for both `serve` and `config check`.

pub mod tokens;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::lists::ListSource;
pub use tokens::{Principal, Tokens, token_hash};

/// Why the configuration could not be read.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file could not be read.
    #[error("cannot read config {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid TOML.
    #[error("config {path}: {message}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// What the TOML parser said.
        message: String,
    },
    /// An environment override names a key below one that is not a section.
    #[error("{var}: {key} is not a section")]
    EnvPath {
        /// The variable.
        var: String,
        /// The part of its path that is a value, not a section.
        key: String,
    },
    /// A key or value does not fit the configuration's shape.
    #[error("config: {0}")]
    Shape(String),
    /// The configuration was read but does not hold together (see [`Config::validate`]).
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<Problem>),
}

/// One thing wrong with a configuration; each names the key at fault.
#[derive(Debug, thiserror::Error)]
pub enum Problem {
    /// `listen` does not parse.
    #[error("listen address {listen:?}: {message}")]
    Listen {
        /// The value.
        listen: String,
        /// Why it does not parse.
        message: String,
    },
    /// A non-loopback address without TLS.
    #[error(
        "refusing to serve plaintext gRPC on {addr}: only loopback addresses may go without TLS \
         (set [tls] cert and key, or listen on 127.0.0.1)"
    )]
    Plaintext {
        /// The address.
        addr: SocketAddr,
    },
    /// `[metrics] listen` does not parse.
    #[error("metrics listen address {listen:?}: {message}")]
    MetricsListen {
        /// The value.
        listen: String,
        /// Why it does not parse.
        message: String,
    },
    /// `[health] listen` does not parse.
    #[error("health listen address {listen:?}: {message}")]
    HealthListen {
        /// The value.
        listen: String,
        /// Why it does not parse.
        message: String,
    },
    /// The PostgreSQL backend without its URL.
    #[error(
        "[reports] backend = \"postgres\" reads the database URL from ${var}, which is unset or \
         empty (set it in the environment; [reports] url_env names another variable)"
    )]
    ReportsUrl {
        /// The variable.
        var: String,
    },
    /// `[rest] listen` does not parse.
    #[error("rest listen address {listen:?}: {message}")]
    RestListen {
        /// The value.
        listen: String,
        /// Why it does not parse.
        message: String,
    },
    /// The REST facade off loopback without TLS.
    #[error(
        "refusing to serve the REST facade in plaintext on {addr}: only loopback addresses may go \
         without TLS (set [tls] cert and key, or set [rest] listen to 127.0.0.1:PORT)"
    )]
    RestPlaintext {
        /// The address.
        addr: SocketAddr,
    },
    /// `[rest] detail_roles` names a role that cannot call the facade's lookups.
    #[error(
        "[rest] detail_roles: {role:?} is not a role that looks hashes up there (operator or admin)"
    )]
    RestDetailRole {
        /// The value.
        role: String,
    },
    /// The metrics endpoint has no authentication, so it stays on loopback.
    #[error(
        "refusing to serve metrics on {addr}: the metrics endpoint has no authentication, so only \
         loopback addresses are allowed (set [metrics] listen to 127.0.0.1:PORT, or leave it empty \
         to disable metrics)"
    )]
    MetricsNotLoopback {
        /// The address.
        addr: SocketAddr,
    },
    /// No tokens file is configured.
    #[error("no tokens file: set `tokens` in the config (or --tokens); every call needs a token")]
    NoTokens,
    /// The tokens file is unusable.
    #[error(transparent)]
    Tokens(#[from] tokens::Error),
    /// The tokens file holds no token.
    #[error("{}: no tokens", .path.display())]
    EmptyTokens {
        /// The file.
        path: PathBuf,
    },
    /// `sync.at` is not a time of day.
    #[error("sync.at {at:?}: expected HH:MM, UTC")]
    SyncAt {
        /// The value.
        at: String,
    },
    /// A `[lists.NAME]` source is unusable.
    #[error(transparent)]
    Source(#[from] crate::lists::Error),
    /// A TLS file cannot be read.
    #[error("TLS file {}: {source}", .path.display())]
    TlsFile {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// Service configuration (see the module comment for where values come from).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address to listen on.
    pub listen: String,
    /// Tokens file (see [`Tokens::load`]).
    pub tokens: Option<PathBuf>,
    /// Where matches are routed.
    pub routing: Routing,
    /// Request limits.
    pub limits: ServeLimits,
    /// TLS; required on any address but loopback.
    pub tls: Option<Tls>,
    /// Lists kept in sync from their sources (`[lists.NAME]`).
    pub lists: BTreeMap<String, ListSource>,
    /// When the server syncs them.
    pub sync: SyncSchedule,
    /// The Prometheus metrics listener.
    pub metrics: MetricsConfig,
    /// Where uploads are decoded.
    pub decoders: DecoderConfig,
    /// The plaintext health listener for orchestrators' probes.
    pub health: HealthConfig,
    /// The HMA-compatible REST facade.
    pub rest: RestConfig,
    /// Where reports are kept.
    pub reports: ReportsConfig,
}

/// Which report-log backend keeps the reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ReportBackend {
    /// The server's own RocksDB (one server).
    #[default]
    Rocksdb,
    /// PostgreSQL, shared by several replicas.
    Postgres,
}

/// Where reports are kept (`[reports]`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReportsConfig {
    /// `rocksdb` (the embedded default) or `postgres`.
    pub backend: ReportBackend,
    /// The environment variable holding the PostgreSQL URL (never the file: it carries a
    /// password).
    pub url_env: String,
    /// CA certificates (PEM) the database's certificate must chain to; the system bundle when
    /// absent. TLS itself is the URL's `sslmode`.
    pub ca_file: Option<PathBuf>,
    /// Database connections per server.
    pub pool_size: usize,
    /// Days a report is kept before the hourly purge deletes it (0: kept until deleted by
    /// hand); the personal-data rules a unit works under set it.
    pub retention_days: u32,
    /// Days per unit, over `retention_days` (0: that unit's reports are kept).
    pub unit_retention_days: BTreeMap<String, u32>,
}

impl Default for ReportsConfig {
    fn default() -> Self {
        ReportsConfig {
            backend: ReportBackend::Rocksdb,
            url_env: "HASHGUARD_POSTGRES_URL".into(),
            ca_file: None,
            pool_size: 16,
            retention_days: 0,
            unit_retention_days: BTreeMap::new(),
        }
    }
}

impl ReportsConfig {
    /// How many days `unit`'s reports are kept, `None` for ever.
    pub fn retention(&self, unit: &str) -> Option<u32> {
        let days = self
            .unit_retention_days
            .get(unit)
            .copied()
            .unwrap_or(self.retention_days);
        (days > 0).then_some(days)
    }

    /// The PostgreSQL options, read from the environment; `None` for the RocksDB backend.
    pub fn postgres(&self) -> Result<Option<crate::report_log::PostgresOptions>, Problem> {
        if self.backend != ReportBackend::Postgres {
            return Ok(None);
        }
        match std::env::var(&self.url_env) {
            Ok(url) if !url.trim().is_empty() => Ok(Some(crate::report_log::PostgresOptions {
                url,
                ca_file: self.ca_file.clone(),
                pool_size: self.pool_size,
            })),
            _ => Err(Problem::ReportsUrl {
                var: self.url_env.clone(),
            }),
        }
    }
}

/// The HMA-compatible REST facade (`docs/rest.md`): the read-side endpoints of Meta's
/// Hasher-Matcher-Actioner, so that a platform integrated with HMA keeps its client.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct RestConfig {
    /// Address to listen on (`""`: off). TLS from `[tls]`; plaintext only on loopback.
    pub listen: String,
    /// Roles whose lookups show list entry ids and distances (`operator`, `admin`); empty:
    /// nobody, as over gRPC, where an operator learns only that something matched.
    pub detail_roles: Vec<String>,
}

impl RestConfig {
    /// The address, when the listener is on; plaintext only on loopback.
    pub fn addr(&self, tls: bool) -> Result<Option<SocketAddr>, Problem> {
        let listen = self.listen.trim();
        if listen.is_empty() {
            return Ok(None);
        }
        let addr: SocketAddr = listen.parse().map_err(|e| Problem::RestListen {
            listen: listen.to_string(),
            message: format!("{e}"),
        })?;
        if !tls && !addr.ip().is_loopback() {
            return Err(Problem::RestPlaintext { addr });
        }
        Ok(Some(addr))
    }

    /// Checks `detail_roles`.
    fn check_roles(&self) -> Result<(), Problem> {
        match self
            .detail_roles
            .iter()
            .find(|r| !matches!(r.as_str(), "operator" | "admin"))
        {
            Some(r) => Err(Problem::RestDetailRole { role: r.clone() }),
            None => Ok(()),
        }
    }
}

/// A plaintext listener that serves only `grpc.health.v1`: Kubernetes gRPC probes cannot speak
/// TLS, and the main listener refuses plaintext off loopback. Nothing else is served on it (no
/// other service, no reflection), so it reveals only whether the server is up and ready.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct HealthConfig {
    /// Address to listen on (`""`: off). Any address: health answers carry nothing secret.
    pub listen: String,
}

impl HealthConfig {
    /// The address, when the listener is on.
    pub fn addr(&self) -> Result<Option<SocketAddr>, Problem> {
        let listen = self.listen.trim();
        if listen.is_empty() {
            return Ok(None);
        }
        listen
            .parse()
            .map(Some)
            .map_err(|e: std::net::AddrParseError| Problem::HealthListen {
                listen: listen.to_string(),
                message: e.to_string(),
            })
    }
}

/// How uploads are decoded: in sandboxed worker processes (see `hashguard::sandbox`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct DecoderConfig {
    /// Decode in sandboxed worker processes (off: inside the server, where a decoder crash
    /// ends the server; for debugging only).
    pub isolate: bool,
    /// Longest one image may take in its worker, milliseconds; the worker is then killed and
    /// the upload is `decode_failed` (`decoder_timeout`). Videos have their own wall-clock cap.
    pub timeout_ms: u64,
    /// Address space each worker may use, MiB (`decoder_out_of_memory` past it).
    pub memory_mib: u64,
    /// Decoder threads in each worker (0: one per CPU).
    pub threads: usize,
}

impl Default for DecoderConfig {
    /// Isolated, two minutes an image, 4 GiB of address space, one thread per CPU.
    fn default() -> Self {
        DecoderConfig {
            isolate: true,
            timeout_ms: 120_000,
            memory_mib: 4096,
            threads: 0,
        }
    }
}

impl DecoderConfig {
    /// The decoding this configuration asks for, keeping up to `idle` workers.
    pub fn decoding(&self, idle: usize) -> std::io::Result<crate::sandbox::Decoding> {
        use crate::sandbox::{Decoding, Pool, PoolConfig};
        if !self.isolate {
            return Ok(Decoding::InProcess);
        }
        let d = PoolConfig::default();
        let config = PoolConfig {
            threads: if self.threads == 0 {
                d.threads
            } else {
                self.threads
            },
            memory_bytes: self.memory_mib.max(256) << 20,
            timeout: std::time::Duration::from_millis(self.timeout_ms.max(1)),
            max_idle: idle.max(1),
        };
        Ok(Decoding::Isolated(std::sync::Arc::new(
            Pool::of_current_exe(config)?,
        )))
    }
}

/// When the server syncs its lists: daily at a time of day (UTC), spread by a random delay so
/// regional servers do not all call the central database at once.
#[derive(Debug, Clone, Deserialize, Serialize)]
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

impl SyncSchedule {
    /// `at` as seconds after midnight UTC.
    pub fn seconds_of_day(&self) -> Result<u64, Problem> {
        let bad = || Problem::SyncAt {
            at: self.at.clone(),
        };
        let (h, m) = self.at.trim().split_once(':').ok_or_else(bad)?;
        let (h, m): (u64, u64) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
        if h > 23 || m > 59 {
            return Err(bad());
        }
        Ok(h * 3600 + m * 60)
    }
}

/// Where Prometheus scrapes the metrics.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsConfig {
    /// Loopback address serving `GET /metrics`, e.g. `127.0.0.1:9464`; empty: no metrics
    /// listener.
    pub listen: String,
}

impl MetricsConfig {
    /// The metrics address, `None` when metrics are off; only loopback is accepted.
    pub fn addr(&self) -> Result<Option<SocketAddr>, Problem> {
        let listen = self.listen.trim();
        if listen.is_empty() {
            return Ok(None);
        }
        let addr: SocketAddr = listen.parse().map_err(|e| Problem::MetricsListen {
            listen: listen.to_string(),
            message: format!("{e}"),
        })?;
        if !addr.ip().is_loopback() {
            return Err(Problem::MetricsNotLoopback { addr });
        }
        Ok(Some(addr))
    }
}

/// Which unit investigates a list's matches.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Routing {
    /// Unit for lists not named below.
    pub default_unit: String,
    /// List name → unit.
    pub lists: BTreeMap<String, String>,
}

impl Default for Routing {
    fn default() -> Self {
        Routing {
            default_unit: "national".into(),
            lists: BTreeMap::new(),
        }
    }
}

/// Request limits.
#[derive(Debug, Clone, Deserialize, Serialize)]
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
    /// Reports per second one tenant's submissions may file (0: no limit); bursts up to one
    /// second's worth. Past it the call is RESOURCE_EXHAUSTED and files nothing.
    pub tenant_report_rate: f64,
    /// Longest a call may take before it is answered DEADLINE_EXCEEDED, milliseconds,
    /// including receiving an upload (0: no server limit; a shorter client `grpc-timeout`
    /// always applies). Response streams (FollowReports) are bounded only by the client's.
    pub request_timeout_ms: u64,
}

impl Default for ServeLimits {
    /// 64 MiB uploads (a minute of phone video), 1,000 hashes a call, two hashing jobs per
    /// core, 4 MiB messages (uploads come in chunks), 100 reports a second per tenant (a
    /// flood of matches cannot fill the disk), 30 s a call (enough to upload and hash a
    /// maximal video on a slow link, short enough that a stalled client frees its slot).
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        ServeLimits {
            max_upload_bytes: 64 << 20,
            max_batch: 1000,
            max_jobs: 2 * cores,
            max_message_bytes: 4 << 20,
            tenant_rate: 0.0,
            tenant_report_rate: 100.0,
            request_timeout_ms: 30_000,
        }
    }
}

/// TLS files.
#[derive(Debug, Clone, Deserialize, Serialize)]
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
            decoders: DecoderConfig::default(),
            health: HealthConfig::default(),
            rest: RestConfig::default(),
            reports: ReportsConfig::default(),
        }
    }
}

/// What [`Config::validate`] read and parsed on the way, for `serve` to use as it is.
#[derive(Debug)]
pub struct Checked {
    /// The gRPC address.
    pub listen: SocketAddr,
    /// The metrics address, when metrics are on.
    pub metrics: Option<SocketAddr>,
    /// The plaintext health address, when that listener is on.
    pub health: Option<SocketAddr>,
    /// The REST facade's address, when it is on.
    pub rest: Option<SocketAddr>,
    /// The PostgreSQL report log, when configured.
    pub postgres: Option<crate::report_log::PostgresOptions>,
    /// The accepted tokens.
    pub tokens: Tokens,
}

impl Config {
    /// Defaults, overlaid by `file` (TOML) and then by `HASHGUARD__SECTION__KEY` variables
    /// from `env` (values parsed as TOML, else taken as strings).
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, Error> {
        let mut table: toml::Table = match file {
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|source| Error::Read {
                    path: p.to_path_buf(),
                    source,
                })?;
                text.parse().map_err(|e: toml::de::Error| Error::Syntax {
                    path: p.to_path_buf(),
                    message: e.to_string(),
                })?
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
                    .ok_or_else(|| Error::EnvPath {
                        var: k.clone(),
                        key: p.clone(),
                    })?;
            }
            at.insert(parts[parts.len() - 1].clone(), value);
        }
        toml::Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| Error::Shape(e.to_string()))
    }

    /// Checks everything that can be checked before serving: addresses and the loopback rules,
    /// the tokens file, TLS files, the sync time and every list source. Every problem is
    /// reported, not only the first.
    pub fn validate(&self) -> Result<Checked, Error> {
        let mut problems = Vec::new();
        let listen = match self.listen.parse::<SocketAddr>() {
            Ok(a) if self.tls.is_none() && !a.ip().is_loopback() => {
                problems.push(Problem::Plaintext { addr: a });
                None
            }
            Ok(a) => Some(a),
            Err(e) => {
                problems.push(Problem::Listen {
                    listen: self.listen.clone(),
                    message: e.to_string(),
                });
                None
            }
        };
        let metrics = self.metrics.addr().map_err(|p| problems.push(p)).ok();
        let health = self.health.addr().map_err(|p| problems.push(p)).ok();
        let rest = self
            .rest
            .addr(self.tls.is_some())
            .map_err(|p| problems.push(p))
            .ok();
        if let Err(p) = self.rest.check_roles() {
            problems.push(p);
        }
        let postgres = self.reports.postgres().map_err(|p| problems.push(p)).ok();
        let tokens = match &self.tokens {
            None => {
                problems.push(Problem::NoTokens);
                None
            }
            Some(p) => match Tokens::load(p) {
                Ok(t) if t.is_empty() => {
                    problems.push(Problem::EmptyTokens { path: p.clone() });
                    None
                }
                Ok(t) => Some(t),
                Err(e) => {
                    problems.push(e.into());
                    None
                }
            },
        };
        if let Err(p) = self.sync.seconds_of_day() {
            problems.push(p);
        }
        for (name, src) in &self.lists {
            if let Err(e) = src.check(name) {
                problems.push(e.into());
            }
        }
        if let Some(tls) = &self.tls {
            for p in [Some(&tls.cert), Some(&tls.key), tls.client_ca.as_ref()]
                .into_iter()
                .flatten()
            {
                if let Err(source) = std::fs::metadata(p) {
                    problems.push(Problem::TlsFile {
                        path: p.clone(),
                        source,
                    });
                }
            }
        }
        match (listen, metrics, tokens) {
            (Some(listen), Some(metrics), Some(tokens)) if problems.is_empty() => Ok(Checked {
                listen,
                metrics,
                health: health.flatten(),
                rest: rest.flatten(),
                postgres: postgres.flatten(),
                tokens,
            }),
            _ => Err(Error::Invalid(problems)),
        }
    }

    /// The unit a list's matches go to by configuration, if the routing names the list.
    pub fn routed_unit(&self, list: &str) -> Option<&str> {
        self.routing.lists.get(list).map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sync_time_of_day_parses() {
        let at = |s: &str| {
            SyncSchedule {
                at: s.into(),
                ..SyncSchedule::default()
            }
            .seconds_of_day()
        };
        assert_eq!(at("02:30").unwrap(), 9000);
        assert!(at("25:00").is_err());
        assert!(at("2pm").is_err());
    }

    #[test]
    fn metrics_listen_address_must_be_loopback() {
        let addr = |listen: &str| {
            MetricsConfig {
                listen: listen.into(),
            }
            .addr()
        };
        assert_eq!(addr("").unwrap(), None);
        assert!(addr("127.0.0.1:9464").unwrap().is_some());
        assert!(addr("[::1]:9464").unwrap().is_some());
        assert!(
            addr("0.0.0.0:9464")
                .unwrap_err()
                .to_string()
                .contains("loopback")
        );
        assert!(addr("nonsense").is_err());
    }

    #[test]
    fn validate_reports_every_problem() {
        let c = Config {
            listen: "0.0.0.0:50051".into(),
            metrics: MetricsConfig {
                listen: "0.0.0.0:9464".into(),
            },
            sync: SyncSchedule {
                at: "24:00".into(),
                ..SyncSchedule::default()
            },
            ..Config::default()
        };
        let Err(Error::Invalid(problems)) = c.validate() else {
            panic!("the configuration is invalid");
        };
        let text: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert_eq!(problems.len(), 4, "{text:?}");
        assert!(matches!(problems[0], Problem::Plaintext { .. }));
        assert!(matches!(problems[1], Problem::MetricsNotLoopback { .. }));
        assert!(matches!(problems[2], Problem::NoTokens));
        assert!(matches!(problems[3], Problem::SyncAt { .. }));
    }
}
