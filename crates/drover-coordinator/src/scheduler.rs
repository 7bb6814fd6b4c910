//! The scheduler: binds pending pods to Ready workers with free slots.
//!
//! It wakes on every change that can matter (a pod waiting for a worker, a slot freed, a worker
//! registered) and runs one pass: read the workers' free slots and as many unbound pods as
//! they can take (oldest first) from the store, ask `drover_core::schedule::place`, and write
//! the bindings in one transaction. The
//! bound pods reach their workers through the assignment streams.
//!
//! The Job controller binds a pod itself when it creates it, in the same transaction, if a
//! worker has a free slot and no pod is waiting (`place_new`); the scheduler binds whatever
//! is left waiting, oldest first.

use drover_api::Pod;
use drover_core::schedule::{WorkerSlots, place};
use drover_store::{StoreError, Txn};
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
///
/// Its cost is the pods it binds, not the pods that wait: the free slots are counted per
/// worker from the `(kind, node, phase)` index, and the waiting pods are read oldest first from
/// the same index, lazily, stopping as soon as every free slot has a pod
/// ([`drover_store::Txn::visit_unbound_in`]). With 1,000 Jobs holding 4,000 pods for 8 slots, a
/// pass decodes about as many pods as slots freed since the last one.
pub fn schedule_once(coordinator: &Coordinator) -> Result<usize, StoreError> {
    let bindings = coordinator.store().read(plan)?;
    if bindings.is_empty() {
        return Ok(0);
    }
    // Like the controller's own commits, a pass does not wait for the flush: it acknowledges
    // nothing to a client, and a binding lost to an OS crash leaves its pod waiting, to be bound
    // again by the restarted scheduler (a worker that started it meanwhile has its reports
    // refused and stops it). Waiting would add a disk flush to every slot cycle of a pod that
    // had to wait for its slot.
    coordinator.commit_syncing(None, |t| bind(t, &bindings))
}

/// Hands the free slots to the pods that wait for one, oldest first, inside `t`. A commit that
/// frees slots (a worker's reports of pods that ended) calls it, so a freed slot gets the next
/// pod in line in the same transaction, rather than in a scheduling pass and a commit of its
/// own after it. Returns how many pods were bound.
pub(crate) fn bind_waiting(t: &mut Txn<'_>) -> Result<usize, StoreError> {
    let bindings = plan(t)?;
    bind(t, &bindings)
}

/// The bindings of a pass: the free slots, and as many waiting pods as they can take.
fn plan(t: &Txn<'_>) -> Result<Vec<(String, String)>, StoreError> {
    if !t.any_unbound_in::<Pod>(drover_api::pod::phase::PENDING)? {
        return Ok(Vec::new());
    }
    let workers = free_slots(t)?;
    let free: usize = workers.iter().map(|w| w.free).sum();
    if free == 0 {
        return Ok(Vec::new());
    }
    let mut pending = Vec::with_capacity(free);
    t.visit_unbound_in::<Pod>(drover_api::pod::phase::PENDING, |p| {
        // A pod being deleted is not placed (one that no worker took fails at once, so none
        // should wait; skipped rather than trusted).
        if p.metadata.deletion_timestamp.is_none() {
            pending.push(p.metadata.name);
        }
        pending.len() < free
    })?;
    Ok(place(&pending, &workers))
}

/// Writes `bindings`, re-checking each pod inside `t`.
fn bind(t: &mut Txn<'_>, bindings: &[(String, String)]) -> Result<usize, StoreError> {
    let mut bound = 0;
    for (pod_name, worker) in bindings {
        let Some(mut pod) = t.get::<Pod>(pod_name)? else { continue };
        if pod.node_name().is_some() || pod.is_terminal() || pod.metadata.deletion_timestamp.is_some() {
            continue;
        }
        pod.spec.node_name = Some(worker.clone());
        t.update(pod)?;
        bound += 1;
    }
    Ok(bound)
}

/// The free slots of every schedulable worker (Ready and not cordoned), as the store sees them
/// inside `t`: its `slots` minus its pods that are Pending or Running.
pub(crate) fn free_slots(t: &Txn<'_>) -> Result<Vec<WorkerSlots>, StoreError> {
    let mut slots = Vec::new();
    for (name, capacity) in t.schedulable_workers(drover_api::worker::phase::READY)? {
        let used = t.count_on_node_in::<Pod>(
            &name,
            &[drover_api::pod::phase::PENDING, drover_api::pod::phase::RUNNING],
        )?;
        let free = usize::try_from(capacity.max(0)).unwrap_or(0).saturating_sub(used);
        if free > 0 {
            slots.push(WorkerSlots { name, free });
        }
    }
    Ok(slots)
}

/// Where new pods go when they are created, inside the creating transaction: the controller
/// binds a new pod at once when a worker has a free slot and no pod is already waiting for one
/// (those keep their turn: the scheduler binds them oldest first). That saves a scheduling pass
/// and its commit per pod. `None` entries are left for the scheduler.
pub(crate) fn place_new(t: &Txn<'_>, n: usize) -> Result<Vec<Option<String>>, StoreError> {
    let mut out = Vec::with_capacity(n);
    if n > 0 && !t.any_unbound_in::<Pod>(drover_api::pod::phase::PENDING)? {
        // `place` binds pods in the order given and stops when the slots run out; the new pods
        // have no names yet, so the bindings are taken in order.
        let slots = free_slots(t)?;
        out.extend(place(&vec![String::new(); n], &slots).into_iter().map(|(_, worker)| Some(worker)));
    }
    out.resize(n, None);
    Ok(out)
}
