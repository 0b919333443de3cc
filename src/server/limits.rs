//! The limits that shed load instead of queuing it: a fixed number of hashing slots (an
//! overloaded server refuses at once, before an upload is received) and per-tenant quotas of
//! calls and of filed reports, shared by replicas on PostgreSQL.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tonic::Status;

use super::metrics::{Metrics, Rejection};
use crate::report_log::PostgresLog;

/// The hashing slots.
pub struct Slots(Arc<Semaphore>);

impl Slots {
    /// `n` slots (at least one).
    pub fn new(n: usize) -> Self {
        Slots(Arc::new(Semaphore::new(n.max(1))))
    }

    /// A free slot, or RESOURCE_EXHAUSTED at once.
    pub fn take(&self, metrics: &Metrics) -> Result<OwnedSemaphorePermit, Status> {
        self.0.clone().try_acquire_owned().map_err(|_| {
            metrics.reject(Rejection::Overload);
            Status::resource_exhausted("server busy: every hashing slot is in use; retry later")
        })
    }
}

/// How long tokens leased from a shared bucket stay usable here: a replica cannot save up a
/// burst beyond the shared rate.
const LEASE_TTL: Duration = Duration::from_secs(1);

/// Per-tenant token buckets: `rate` a second, bursts up to one second's worth. Alone, a server
/// keeps them in memory. Replicas on a shared PostgreSQL report log keep each bucket there and
/// lease small chunks of it (2% of a second's worth). Together they then admit the rate within
/// replicas × 2% of it, and a replica asks the database once every chunk, not every call.
pub struct Quotas {
    rate: f64,
    /// What is counted (`calls`, `reports`), for messages and the shared buckets' keys.
    what: &'static str,
    /// Per tenant: tokens here (the bucket, or the lease), and when they were last refilled.
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
    /// The shared buckets, when replicas share them.
    shared: Option<Arc<PostgresLog>>,
}

impl Quotas {
    /// Quotas of `rate` `what` per second per tenant (0 or less: none), in this process or
    /// `shared` by every replica.
    pub fn new(rate: f64, what: &'static str, shared: Option<Arc<PostgresLog>>) -> Self {
        Quotas {
            rate,
            what,
            buckets: Mutex::new(HashMap::new()),
            shared,
        }
    }

    fn burst(&self) -> f64 {
        self.rate.max(1.0)
    }

    fn refuse(&self, metrics: &Metrics) -> Status {
        metrics.reject(Rejection::Quota);
        Status::resource_exhausted(format!(
            "tenant quota of {} {} per second exceeded; retry later",
            self.rate, self.what
        ))
    }

    /// Takes `n` from the tenant's quota, or refuses with RESOURCE_EXHAUSTED.
    pub async fn charge(&self, tenant: &str, n: f64, metrics: &Metrics) -> Result<(), Status> {
        if self.rate <= 0.0 || n <= 0.0 {
            return Ok(());
        }
        // More than a burst at once is allowed when the bucket is full.
        let n = n.min(self.burst());
        let Some(shared) = &self.shared else {
            return self.charge_here(tenant, n, metrics);
        };
        if self.take_leased(tenant, n, 0.0) {
            return Ok(());
        }
        let chunk = (self.rate * 0.02).max(n).min(self.burst());
        let key = format!("{}:{tenant}", self.what);
        let granted = match shared.lease(&key, self.rate, self.burst(), chunk).await {
            Ok(g) => g,
            Err(e) => {
                // The database is down: filings fail on their own; lookups go on unlimited
                // rather than all refused.
                tracing::warn!("shared quota unavailable, not enforced: {e}");
                return Ok(());
            }
        };
        if self.take_leased(tenant, n, granted) {
            Ok(())
        } else {
            Err(self.refuse(metrics))
        }
    }

    /// Adds `granted` leased tokens to the tenant's lease (dropping an expired one) and takes
    /// `n` if there are enough.
    fn take_leased(&self, tenant: &str, n: f64, granted: f64) -> bool {
        let now = Instant::now();
        let mut q = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let (tokens, at) = q.entry(tenant.to_string()).or_insert((0.0, now));
        if now.duration_since(*at) > LEASE_TTL {
            *tokens = 0.0;
        }
        if granted > 0.0 {
            *tokens += granted;
            *at = now;
        }
        if *tokens >= n {
            *tokens -= n;
            true
        } else {
            false
        }
    }

    /// The bucket in this process.
    fn charge_here(&self, tenant: &str, n: f64, metrics: &Metrics) -> Result<(), Status> {
        let (rate, burst) = (self.rate, self.burst());
        let now = Instant::now();
        let mut q = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let (tokens, last) = q.entry(tenant.to_string()).or_insert((burst, now));
        *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * rate).min(burst);
        *last = now;
        if *tokens < n {
            return Err(self.refuse(metrics));
        }
        *tokens -= n;
        Ok(())
    }
}
