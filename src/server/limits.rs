//! The limits that shed load instead of queuing it: a fixed number of hashing slots (an
//! overloaded server refuses at once, before an upload is received) and a per-tenant call quota.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tonic::Status;

use super::metrics::{Metrics, Rejection};

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

/// Per-tenant token buckets: `rate` calls a second, bursts up to one second's worth.
pub struct Quotas {
    rate: f64,
    /// Per tenant: tokens left, last refill.
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl Quotas {
    /// Quotas of `rate` calls per second per tenant (0 or less: none).
    pub fn new(rate: f64) -> Self {
        Quotas {
            rate,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one call from the tenant's quota, or refuses with RESOURCE_EXHAUSTED.
    pub fn charge(&self, tenant: &str, metrics: &Metrics) -> Result<(), Status> {
        let rate = self.rate;
        if rate <= 0.0 {
            return Ok(());
        }
        let now = Instant::now();
        let mut q = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let (tokens, last) = q.entry(tenant.to_string()).or_insert((rate.max(1.0), now));
        *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * rate).min(rate.max(1.0));
        *last = now;
        if *tokens < 1.0 {
            metrics.reject(Rejection::Quota);
            return Err(Status::resource_exhausted(format!(
                "tenant quota of {rate} calls per second exceeded; retry later"
            )));
        }
        *tokens -= 1.0;
        Ok(())
    }
}
