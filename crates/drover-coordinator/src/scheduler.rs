//! The scheduler: binds pending pods to Ready workers with free slots.
//!
//! It wakes on every change that can matter (a pod waiting for a worker, a slot freed, a worker
//! registered) and runs one pass: read the unbound pods and the workers' free slots from the
//! store, ask `drover_core::schedule::place`, and write the bindings in one transaction. The
//! bound pods reach their workers through the assignment streams.

use drover_api::{Pod, Worker};
use drover_core::schedule::{WorkerSlots, place};
use drover_store::StoreError;
use tokio_util::sync::CancellationToken;

use crate::state::Coordinator;

/// Runs the scheduler until `token` is cancelled.
pub async fn run(coordinator: Coordinator, token: CancellationToken) {
    loop {
        if let Err(err) = schedule_once(&coordinator) {
            tracing::warn!(error = %err, "Scheduling pass failed");
        }
        tokio::select! {
            _ = token.cancelled() => return,
            _ = coordinator.scheduler_kicked() => {}
        }
    }
}

/// One scheduling pass. Returns how many pods were bound.
pub fn schedule_once(coordinator: &Coordinator) -> Result<usize, StoreError> {
    let (pending, workers) = coordinator.store().read(|t| {
        let pending: Vec<Pod> = t
            .list_where::<Pod>(Some(drover_api::pod::phase::PENDING), Some(None))?
            .into_iter()
            .filter(|p| p.metadata.deletion_timestamp.is_none())
            .collect();
        if pending.is_empty() {
            return Ok((pending, Vec::new()));
        }
        let mut slots = Vec::new();
        for w in t.list::<Worker>()? {
            if w.status.phase != drover_api::worker::phase::READY || w.spec.unschedulable {
                continue;
            }
            let used = t.count_on_node_in::<Pod>(
                &w.metadata.name,
                &[drover_api::pod::phase::PENDING, drover_api::pod::phase::RUNNING],
            )?;
            let free = (w.spec.slots.max(0) as usize).saturating_sub(used);
            if free > 0 {
                slots.push(WorkerSlots { name: w.metadata.name, free });
            }
        }
        Ok((pending, slots))
    })?;
    if pending.is_empty() || workers.is_empty() {
        return Ok(0);
    }
    let names: Vec<String> = pending.iter().map(|p| p.metadata.name.clone()).collect();
    let bindings = place(&names, &workers);
    if bindings.is_empty() {
        return Ok(0);
    }
    coordinator.commit(|t| {
        let mut bound = 0;
        for (pod_name, worker) in &bindings {
            let Some(mut pod) = t.get::<Pod>(pod_name)? else { continue };
            if pod.node_name().is_some() || pod.is_terminal() || pod.metadata.deletion_timestamp.is_some() {
                continue;
            }
            pod.spec.node_name = Some(worker.clone());
            t.update(pod)?;
            bound += 1;
        }
        Ok(bound)
    })
}
