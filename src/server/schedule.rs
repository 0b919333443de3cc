//! List syncs inside the server: the nightly schedule, syncs on demand (`SyncNow`), and the
//! swap of the loaded lists after a publish. One sync or import runs at a time.

use std::sync::Arc;
use std::time::Duration;

use super::proto;
use super::state::State;
use crate::lists::{self, sync::SyncOutcome};
use crate::matcher::Matcher;

/// Syncs `names` (every configured list when empty), one at a time, and swaps the lists in
/// memory when any version was published: lookups go on against the old lists until the new
/// ones are loaded.
pub async fn sync_lists(
    state: Arc<State>,
    names: Vec<String>,
    actor: String,
) -> Vec<proto::SyncResult> {
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
            let src = st
                .config
                .lists
                .get(&n)
                .ok_or_else(|| lists::Error::NotConfigured { name: n.clone() })?;
            lists::sync::sync(&st.store, &n, src, st.hub.as_ref())
        })
        .await;
        let mut r = proto::SyncResult {
            name: name.clone(),
            ..Default::default()
        };
        match done {
            Ok(Ok(SyncOutcome::Published(s))) => {
                published = true;
                r.outcome = "published".into();
                tracing::info!(list = %name, version = s.meta.version, entries = s.meta.entries, "list published");
            }
            Ok(Ok(SyncOutcome::Unchanged)) => r.outcome = "unchanged".into(),
            Ok(Err(e)) if e.is_internal() => {
                r.outcome = "failed".into();
                r.error = "the sync failed inside the server; the server has logged it".into();
                tracing::error!(list = %name, "list sync failed: {e}");
            }
            Ok(Err(e)) => {
                r.outcome = "failed".into();
                r.error = e.to_string();
                tracing::warn!(list = %name, "list sync failed: {e}");
            }
            Err(e) => {
                r.outcome = "failed".into();
                r.error = "the sync worker failed; the server has logged it".into();
                tracing::error!(list = %name, "list sync worker failed: {e}");
            }
        }
        if let Ok(m) = lists::get(&state.store, &name) {
            r.version = m.version;
            r.entries = m.entries;
        }
        let detail = serde_json::json!({
            "list": r.name, "outcome": r.outcome, "version": r.version, "entries": r.entries,
        });
        if let Err(e) = state.audit(actor.clone(), "lists.sync", detail).await {
            tracing::error!(list = %name, "auditing a sync failed: {}", e.message());
        }
        results.push(r);
    }
    if published {
        match reload_lists(&state).await {
            Ok(()) => tracing::info!("lists reloaded after sync"),
            Err(e) => tracing::error!("reloading lists failed: {e}"),
        }
    }
    results
}

/// Why the lists could not be reloaded.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// Loading failed.
    #[error(transparent)]
    Lists(#[from] lists::Error),
    /// The loading task failed.
    #[error("the loading task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// Loads every list's active version and swaps the set in: lookups use the old set until the
/// new one is complete. The caller holds the sync lock.
pub async fn reload_lists(state: &Arc<State>) -> Result<(), ReloadError> {
    let st = state.clone();
    let loaded = tokio::task::spawn_blocking(move || Matcher::load_all(st.store.clone())).await??;
    state.set_matcher(loaded);
    Ok(())
}

/// Seconds from `now` (Unix seconds) to the next time of day `at` (seconds after midnight UTC),
/// plus a random delay of up to `jitter` seconds.
fn until_next(at: u64, now: u64, jitter: u64) -> u64 {
    let today = now % 86_400;
    let wait = if at > today {
        at - today
    } else {
        86_400 - today + at
    };
    let spread = if jitter == 0 {
        0
    } else {
        use rand_core::RngCore;
        rand_core::OsRng.next_u64() % jitter
    };
    wait + spread
}

/// The nightly sync of the configured lists, forever; `None` when the schedule is off or there
/// is nothing to sync.
pub fn spawn_nightly(state: Arc<State>) -> Option<tokio::task::JoinHandle<()>> {
    if !state.config.sync.enabled || state.config.lists.is_empty() {
        return None;
    }
    Some(tokio::spawn(async move {
        let at = match state.config.sync.seconds_of_day() {
            Ok(at) => at,
            Err(e) => {
                tracing::error!("no scheduled sync: {e}");
                return;
            }
        };
        loop {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            let jitter = state.config.sync.jitter_minutes.saturating_mul(60);
            let wait = until_next(at, now, jitter);
            tracing::info!(in_seconds = wait, "next scheduled list sync");
            tokio::time::sleep(Duration::from_secs(wait)).await;
            sync_lists(state.clone(), Vec::new(), "server".into()).await;
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::until_next;

    #[test]
    fn next_sync_time_of_day() {
        // 2026-11-23 01:00 UTC → 02:30 the same day; 03:00 → 02:30 the next day.
        let day = 20_415 * 86_400;
        let at = 9000;
        assert_eq!(until_next(at, day + 3600, 0), 5400);
        assert_eq!(until_next(at, day + 3 * 3600, 0), 86_400 - 1800);
        assert_eq!(
            until_next(at, day + 9000, 0),
            86_400,
            "exactly now: tomorrow"
        );
        let w = until_next(at, day + 3600, 600);
        assert!((5400..6000).contains(&w));
    }
}
