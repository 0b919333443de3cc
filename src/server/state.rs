//! What the services share: the store, the loaded lists, the report log, the limits, the
//! configuration and the metrics.

use std::sync::{Arc, RwLock};

use tokio::sync::broadcast;
use tonic::Status;

use super::limits::{Quotas, Slots};
use super::metrics::{ListGauges, Metrics};
use crate::config::Config;
use crate::lists::sync::Hub;
use crate::matcher::Matcher;
use crate::report_log::{Filed, ReportLog};
use crate::sandbox::Decoding;
use crate::store::Store;

/// The services' shared state.
pub struct State {
    /// The store (lists and reports).
    pub store: Arc<Store>,
    /// The lists loaded for matching; `None` until the first load finishes.
    matcher: RwLock<Option<Arc<Matcher>>>,
    /// The report log.
    pub reports: Arc<dyn ReportLog>,
    /// Reports as they are filed (here, or by another replica on a shared log), to wake
    /// followers.
    pub new_reports: broadcast::Sender<Filed>,
    /// Hashing slots.
    pub slots: Slots,
    /// Per-tenant call quotas.
    pub quotas: Quotas,
    /// Per-tenant quotas of filed reports.
    pub report_quotas: Quotas,
    /// The configuration served with.
    pub config: Config,
    /// The metrics.
    pub metrics: Arc<Metrics>,
    /// One list sync or import at a time (RocksDB has one writer; syncs are long and rare).
    pub syncing: tokio::sync::Mutex<()>,
    /// How hub sources are reached.
    pub hub: Arc<dyn Hub>,
    /// Where uploads are decoded (sandboxed workers unless configured otherwise).
    pub decoding: Decoding,
    /// Refused tokens not yet written to the audit log (written together every few seconds, so
    /// a flood of bad tokens cannot flood the log).
    pub refused: std::sync::atomic::AtomicU64,
    /// Woken when a report could not be filed: the Matcher's health turns NOT_SERVING until
    /// the store takes writes again (see `serve`).
    pub report_trouble: tokio::sync::Notify,
}

impl State {
    /// The state of a server over `store` and `reports` with `config`; quotas are kept in
    /// `shared` when replicas share a PostgreSQL report log.
    pub fn new(
        store: Arc<Store>,
        reports: Arc<dyn ReportLog>,
        shared: Option<Arc<crate::report_log::PostgresLog>>,
        config: Config,
        metrics: Arc<Metrics>,
        hub: Arc<dyn Hub>,
    ) -> Self {
        let (new_reports, _) = broadcast::channel(1024);
        let decoding = config
            .decoders
            .decoding(config.limits.max_jobs)
            .unwrap_or_else(|e| {
                // Only when this program's own path is unknown; every upload would fail then.
                tracing::error!(
                    "cannot locate this program to start decoders ({e}); decoding in process"
                );
                Decoding::InProcess
            });
        State {
            store,
            matcher: RwLock::new(None),
            reports,
            new_reports,
            slots: Slots::new(config.limits.max_jobs),
            quotas: Quotas::new(config.limits.tenant_rate, "calls", shared.clone()),
            report_quotas: Quotas::new(config.limits.tenant_report_rate, "reports", shared),
            config,
            metrics,
            syncing: tokio::sync::Mutex::new(()),
            hub,
            decoding,
            report_trouble: tokio::sync::Notify::new(),
            refused: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Appends to the audit log, durably, before the caller answers: an action that cannot be
    /// audited is not done (INTERNAL).
    pub async fn audit(
        self: &Arc<Self>,
        actor: String,
        action: &'static str,
        detail: serde_json::Value,
    ) -> Result<(), Status> {
        let st = self.clone();
        blocking(move || {
            st.reports
                .audit(&actor, action, detail)
                .map(drop)
                .map_err(|e| super::status::internal("writing the audit log", &e))
        })
        .await
    }

    /// The loaded lists, or UNAVAILABLE while they are still loading.
    pub fn matcher(&self) -> Result<Arc<Matcher>, Status> {
        self.loaded()
            .ok_or_else(|| Status::unavailable("lists are still loading"))
    }

    /// True once lists are loaded.
    pub fn is_loaded(&self) -> bool {
        self.loaded().is_some()
    }

    fn loaded(&self) -> Option<Arc<Matcher>> {
        self.matcher
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Swaps in newly loaded lists; lookups under way finish on the old ones.
    pub fn set_matcher(&self, m: Matcher) {
        let gauges: Vec<ListGauges> = m
            .lists()
            .iter()
            .map(|l| {
                let meta = &l.meta;
                // A sync that found the source unchanged is a success too.
                let attempt = crate::lists::last_attempt(&self.store, &meta.name)
                    .ok()
                    .flatten()
                    .filter(|a| a.ok)
                    .map_or(0, |a| a.at);
                ListGauges {
                    name: meta.name.clone(),
                    entries: meta.entries,
                    version: meta.version,
                    last_success: meta.published_at.max(attempt),
                }
            })
            .collect();
        self.metrics.set_lists(&gauges);
        *self.matcher.write().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(m));
    }

    /// The unit a list's matches go to: the config's routing for the list, else the unit the
    /// list was published with, else the default unit.
    pub fn unit_for_list(&self, list: &str) -> String {
        if let Some(unit) = self.config.routed_unit(list) {
            return unit.to_string();
        }
        self.loaded()
            .and_then(|m| {
                m.lists()
                    .iter()
                    .find(|l| l.meta.name == list)
                    .and_then(|l| l.meta.unit.clone())
            })
            .unwrap_or_else(|| self.config.routing.default_unit.clone())
    }
}

/// Runs a blocking library call off the async threads.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, Status> + Send + 'static,
) -> Result<T, Status> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(super::status::join_error)?
}
