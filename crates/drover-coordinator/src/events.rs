//! Event retention: events older than [`crate::Config::event_ttl`] are removed, as the
//! Kubernetes API server does with `--event-ttl`. Every pod's creation is an event, so without
//! this the store would grow by a row per pod for as long as the coordinator runs.

use std::time::Duration;

use drover_store::StoreError;
use tokio_util::sync::CancellationToken;

use crate::state::{Coordinator, now};

/// Events removed per transaction, so a large backlog never holds the store for long.
const BATCH: usize = 1000;

/// Removes expired events now, then every `ttl / 2` (at least every second, at most every
/// minute), until `token` is cancelled.
pub async fn run_event_gc(coordinator: Coordinator, token: CancellationToken) {
    let ttl = coordinator.config.event_ttl;
    let every = (ttl / 2).clamp(Duration::from_secs(1), Duration::from_secs(60));
    loop {
        match remove_expired_events(&coordinator) {
            Ok(0) => {}
            Ok(n) => tracing::debug!(removed = n, "Expired events removed"),
            Err(err) => tracing::warn!(error = %err, "Cannot remove expired events"),
        }
        tokio::select! {
            _ = token.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
    }
}

/// Removes the events older than the TTL, a batch per transaction. Returns how many.
pub fn remove_expired_events(coordinator: &Coordinator) -> Result<usize, StoreError> {
    let Ok(ttl) = chrono::Duration::from_std(coordinator.config.event_ttl) else { return Ok(0) };
    let cutoff = now() - ttl;
    let mut removed = 0;
    loop {
        let n = coordinator.commit(|t| t.delete_events_before(cutoff, BATCH))?;
        removed += n;
        if n < BATCH {
            return Ok(removed);
        }
        if coordinator.shutdown.is_cancelled() {
            return Ok(removed);
        }
    }
}
