//! Worker registration, heartbeats, assignment streams, pod status reports and the lease
//! checker.
//!
//! # Protocol
//! 1. A worker registers (`register`) with its name, slots, version and a fresh `incarnation`
//!    id. A new incarnation means the agent restarted, and its old processes died with it
//!    (PR_SET_PDEATHSIG): pods still bound to the old incarnation are failed (`WorkerRestarted`)
//!    if they had started, or returned to the scheduler if they had not.
//! 2. It opens its assignment stream: first a `SYNC` message listing every non-terminal pod
//!    bound to it (so it can stop processes the coordinator no longer wants), then one `POD`
//!    message per newly bound pod or termination request, as they are committed.
//! 3. It heartbeats. A worker whose last heartbeat is older than the lease is declared `Lost`
//!    and its pods become Failed with reason `WorkerLost` and condition `DisruptionTarget`; the
//!    Job rules replace them. A lost worker's heartbeat is refused, so it re-registers.
//! 4. It reports each pod's status (`report_status`) and log chunks. Before it acks a task that
//!    succeeded, it records the success in the task ledger of the pod's Job (`record_tasks`), and
//!    acks only once the record is committed: a killed worker loses no count, and a task that
//!    ran twice is counted once (semantics.md §10.10).
//! 5. It drains (`drain_worker`, asked by `drover drain worker` or by the worker itself on
//!    SIGTERM; the worker sees `drain: true` in its heartbeat reply): the worker is `Draining`
//!    and unschedulable, its unstarted pods are rescheduled, its running pods finish within its
//!    drain timeout or are stopped and reported `WorkerDrained` (a disruption: not counted,
//!    replaced), and it deregisters (`deregister_worker`). `cordon_worker` only stops new pods.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use drover_api::pod::{PodCondition, phase};
use drover_api::protocol::{
    HeartbeatReply, REASON_WORKER_DRAINED, REASON_WORKER_LOST, REASON_WORKER_RESTARTED, Registration,
    StatusReport, TaskRecord,
};
use drover_api::worker::phase as wphase;
use drover_api::{Job, ObjectMeta, Pod, Time, Worker, WorkerSpec, WorkerStatus};
use drover_store::{LedgerEntry, StoreError, Txn};
use tokio_util::sync::CancellationToken;

use crate::state::{Coordinator, now};

/// The phases of a pod that is over: a worker's pods in any other phase still concern it.
const FINISHED: &[&str] = &[phase::SUCCEEDED, phase::FAILED];

/// Why a status report was refused.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The pod is gone, is another pod, is bound elsewhere or is already terminal.
    #[error("{0}")]
    Stale(String),
}

/// In-memory last-heartbeat times. A restarted coordinator starts every worker's clock at its
/// own start, so its downtime never counts against a worker's lease.
#[derive(Default)]
pub(crate) struct Leases {
    pub(crate) last_seen: Mutex<HashMap<String, Time>>,
}

/// Counters of the task ledger's commits since the coordinator started (for `/metrics`).
#[derive(Debug, Default)]
pub struct LedgerStats {
    /// Batches of task records committed (one request and one transaction each).
    pub batches: AtomicU64,
    /// Task successes recorded, first and duplicate.
    pub tasks: AtomicU64,
    /// The part of `tasks` that were duplicates.
    pub duplicates: AtomicU64,
}

/// What a record's pod allows: refused (why), accepted with no Job to count in (an orphaned
/// pod, or one whose Job is being deleted), or accepted for the Job `(name, uid)`.
type Owner = Result<Option<(String, String)>, String>;

impl Coordinator {
    /// Registers (or re-registers) a worker.
    /// Registers (or re-registers) a worker; returns it and its new credential, which replaces
    /// any earlier one (the store keeps only its digest).
    pub fn register_worker(&self, reg: &Registration) -> Result<(Worker, String), StoreError> {
        let now = now();
        let credential = format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple());
        let digest = credential_digest(&credential);
        let worker = self.commit(|t| {
            t.set_worker_credential(&reg.name, &digest)?;
            let existing = t.get::<Worker>(&reg.name)?;
            let restarted = existing
                .as_ref()
                .is_some_and(|w| w.status.incarnation.as_deref() != Some(reg.incarnation.as_str()));
            if restarted {
                for mut pod in t.list_on_node_not_in::<Pod>(&reg.name, FINISHED)? {
                    if pod.is_terminal() {
                        continue;
                    }
                    if pod.status.phase == phase::PENDING && pod.status.start_time.is_none() {
                        pod.spec.node_name = None;
                    } else {
                        fail_pod(
                            &mut pod,
                            REASON_WORKER_RESTARTED,
                            "The worker agent restarted while the pod ran",
                            now,
                        );
                    }
                    t.update(pod)?;
                }
            }
            let mut worker = existing.unwrap_or_else(|| Worker {
                api_version: drover_api::worker::API_VERSION.into(),
                kind: drover_api::worker::KIND.into(),
                metadata: ObjectMeta { name: reg.name.clone(), ..Default::default() },
                spec: WorkerSpec::default(),
                status: WorkerStatus::default(),
            });
            worker.spec.slots = reg.slots;
            // A drain ends with the agent that did it; a cordon outlives restarts.
            if restarted && worker.status.phase == wphase::DRAINING {
                worker.spec.unschedulable = false;
            }
            worker.status.phase =
                if worker.spec.unschedulable { wphase::CORDONED } else { wphase::READY }.into();
            worker.status.last_heartbeat_time = Some(now);
            worker.status.version = reg.version.clone();
            worker.status.hostname = reg.hostname.clone();
            worker.status.incarnation = Some(reg.incarnation.clone());
            if worker.metadata.uid.is_empty() { t.create(worker, now) } else { t.update(worker) }
        })?;
        self.leases().last_seen.lock().unwrap_or_else(|p| p.into_inner()).insert(reg.name.clone(), now);
        self.kick_scheduler();
        tracing::info!(worker = %reg.name, slots = reg.slots, "Worker registered");
        Ok((worker, credential))
    }

    /// Whether `credential` is worker `name`'s current one.
    pub fn worker_credential_is(&self, name: &str, credential: &str) -> Result<bool, StoreError> {
        let stored = self.store().read(|t| t.worker_credential(name))?;
        Ok(stored.is_some_and(|digest| {
            crate::api::constant_time_eq(digest.as_bytes(), credential_digest(credential).as_bytes())
        }))
    }

    /// Records a heartbeat. `registered: false` when the worker is unknown or was declared
    /// lost (it must register again); `drain: true` when a drain was requested.
    ///
    /// The in-memory heartbeat is recorded before the worker's phase is read, so a lease check
    /// racing with it either sees it (inside its transaction, see `check_leases`) or committed
    /// `Lost` before this read, and the reply says `registered: false`.
    pub fn heartbeat(&self, name: &str) -> Result<HeartbeatReply, StoreError> {
        let now = now();
        let previous =
            self.leases().last_seen.lock().unwrap_or_else(|p| p.into_inner()).insert(name.to_string(), now);
        let Some(worker) = self.store().get::<Worker>(name)? else {
            // Unknown: keep no clock for it (the lease checker reads a worker's stored
            // heartbeat when it has none in memory).
            let mut seen = self.leases().last_seen.lock().unwrap_or_else(|p| p.into_inner());
            if previous.is_none() && seen.get(name) == Some(&now) {
                seen.remove(name);
            }
            return Ok(HeartbeatReply::default());
        };
        if worker.status.phase == wphase::LOST {
            return Ok(HeartbeatReply::default());
        }
        let reply = HeartbeatReply { registered: true, drain: worker.status.phase == wphase::DRAINING };
        // Persist the heartbeat at most once a second per worker.
        let stale = worker.status.last_heartbeat_time.is_none_or(|t| now - t > chrono::Duration::seconds(1));
        if stale || previous.is_none() {
            let _ = self.commit(|t| {
                let Some(mut w) = t.get::<Worker>(name)? else { return Ok(()) };
                w.status.last_heartbeat_time = Some(now);
                t.update(w)?;
                Ok(())
            });
        }
        Ok(reply)
    }

    /// `cordon` (no new pods) or `uncordon`. A draining worker stays unschedulable.
    pub fn cordon_worker(&self, name: &str, cordon: bool) -> Result<Option<Worker>, StoreError> {
        let worker = self.commit(|t| {
            let Some(mut w) = t.get::<Worker>(name)? else { return Ok(None) };
            if w.status.phase == wphase::DRAINING {
                return Ok(Some(w));
            }
            w.spec.unschedulable = cordon;
            if w.status.phase != wphase::LOST {
                w.status.phase = if cordon { wphase::CORDONED } else { wphase::READY }.into();
            }
            Ok(Some(t.update(w)?))
        })?;
        if worker.is_some() && !cordon {
            self.kick_scheduler();
        }
        Ok(worker)
    }

    /// Starts a worker's drain: it takes no new pods, and the pods bound to it that have not
    /// started go back to the scheduler at once. The worker learns of it from its next heartbeat
    /// (or asked for it itself, on SIGTERM).
    pub fn drain_worker(&self, name: &str) -> Result<Option<Worker>, StoreError> {
        let worker = self.commit(|t| {
            let Some(mut w) = t.get::<Worker>(name)? else { return Ok(None) };
            if w.status.phase == wphase::LOST {
                return Ok(Some(w));
            }
            for mut pod in t.list_on_node_not_in::<Pod>(name, FINISHED)? {
                if pod.status.phase == phase::PENDING && pod.status.start_time.is_none() && !pod.is_terminal()
                {
                    pod.spec.node_name = None;
                    t.update(pod)?;
                }
            }
            w.spec.unschedulable = true;
            w.status.phase = wphase::DRAINING.into();
            Ok(Some(t.update(w)?))
        })?;
        if let Some(w) = &worker {
            tracing::info!(worker = %w.metadata.name, "Worker draining");
            self.kick_scheduler();
        }
        Ok(worker)
    }

    /// Removes a worker (the end of its drain). Pods still bound to it are disruptions: they
    /// fail with `WorkerDrained`, uncounted, and their Jobs replace them.
    pub fn deregister_worker(&self, name: &str) -> Result<Option<Worker>, StoreError> {
        let now = now();
        let worker = self.commit(|t| {
            for mut pod in t.list_on_node_not_in::<Pod>(name, FINISHED)? {
                if pod.is_terminal() {
                    continue;
                }
                // A disruption: the Job controller releases it without counting it (and folds
                // in its task counts).
                fail_pod(&mut pod, REASON_WORKER_DRAINED, &format!("Worker {name} left the fleet"), now);
                t.update(pod)?;
            }
            t.delete::<Worker>(name)
        })?;
        self.leases().last_seen.lock().unwrap_or_else(|p| p.into_inner()).remove(name);
        self.end_session(name);
        if worker.is_some() {
            tracing::info!(worker = %name, "Worker deregistered");
            self.kick_scheduler();
        }
        Ok(worker)
    }

    /// The pods a worker's stream starts with.
    pub fn bound_pods(&self, worker: &str) -> Result<Vec<Pod>, StoreError> {
        self.store().read(|t| t.list_on_node_not_in::<Pod>(worker, FINISHED))
    }

    /// Applies a worker's status report to a pod.
    pub fn report_status(&self, name: &str, report: StatusReport) -> Result<Pod, ReportError> {
        let res = self.commit(|t| {
            let res = apply_report(t, name, report)?;
            if res.as_ref().is_ok_and(Pod::is_terminal) {
                crate::scheduler::bind_waiting(t)?;
            }
            Ok(res)
        })?;
        res.map_err(ReportError::Stale)
    }

    /// Applies a batch of status reports in one transaction (a worker sends the reports that
    /// queued up while its previous batch was in flight). Each report is accepted or refused on
    /// its own; a refusal is `Err(reason)` in its place. The slots of the pods that ended go,
    /// in the same transaction, to the pods waiting for one ([`crate::scheduler::bind_waiting`]).
    pub fn report_statuses(
        &self,
        reports: Vec<(String, StatusReport)>,
    ) -> Result<Vec<Result<(), String>>, StoreError> {
        self.commit(|t| {
            let mut out = Vec::with_capacity(reports.len());
            let mut freed = false;
            for (name, report) in reports {
                let res = apply_report(t, &name, report)?;
                freed |= res.as_ref().is_ok_and(Pod::is_terminal);
                out.push(res.map(|_| ()));
            }
            // The slots these pods held go to the pods waiting for one, in this commit.
            if freed {
                crate::scheduler::bind_waiting(t)?;
            }
            Ok(out)
        })
    }
}

impl Coordinator {
    /// Records tasks of `worker`'s pods that succeeded in their Jobs' task ledgers, every record
    /// of the batch in one transaction (a worker sends the records that queued up while its
    /// previous batch was in flight), and queues each Job concerned for a sync (coalesced, see
    /// [`Coordinator::enqueue_job_soon`]) that puts the ledger's tally in its status.
    ///
    /// Each record is checked as a status report is: the pod exists, has the record's uid, is
    /// bound to `worker` and is not terminal; a refusal is `Err(reason)` in its place, and the
    /// worker must not ack those tasks. An accepted record gives, per task, true when it is the
    /// task's first success in its Job. A pod with no Job to count in (orphaned, or its Job is
    /// being deleted) is accepted and nothing is recorded: every task is reported first.
    pub fn record_tasks(
        &self,
        worker: &str,
        records: &[TaskRecord],
    ) -> Result<Vec<Result<Vec<bool>, String>>, StoreError> {
        let (results, jobs) = self.commit(|t| {
            let mut owners: HashMap<(&str, &str), Owner> = HashMap::new();
            let mut jobs = BTreeSet::new();
            let mut out = Vec::with_capacity(records.len());
            for record in records {
                let key = (record.pod.as_str(), record.uid.as_str());
                let owner = match owners.get(&key) {
                    Some(owner) => owner.clone(),
                    None => {
                        let owner = ledger_owner(t, worker, &record.pod, &record.uid)?;
                        owners.insert(key, owner.clone());
                        owner
                    }
                };
                out.push(match owner {
                    Err(reason) => Err(reason),
                    Ok(None) => Ok(vec![true; record.tasks.len()]),
                    Ok(Some((job, job_uid))) => {
                        let first = record_in_ledger(t, &job_uid, record)?;
                        jobs.insert(job);
                        Ok(first)
                    }
                });
            }
            Ok((out, jobs))
        })?;
        let stats = self.ledger_stats();
        stats.batches.fetch_add(1, Ordering::Relaxed);
        for first in results.iter().flatten() {
            stats.tasks.fetch_add(first.len() as u64, Ordering::Relaxed);
            stats.duplicates.fetch_add(first.iter().filter(|f| !**f).count() as u64, Ordering::Relaxed);
        }
        for job in jobs {
            self.enqueue_job_soon(&job);
        }
        Ok(results)
    }
}

/// Records one pod's successes in its Job's ledger and answers, per task, whether the pod owns
/// the task's success (`first`):
/// - a task new to the ledger: yes;
/// - recorded before by the same pod (a record retried after its reply was lost): yes again,
///   and no duplicate is counted;
/// - recorded before by another pod that is still running or succeeded: no, a duplicate (at
///   least once: the task ran twice); a fixed-completion pod then acks it and takes another
///   task, so the two runs make one completion;
/// - recorded before by a pod that has since failed or is gone (its success was never
///   reported, or its report was refused, and it requeued the task): yes, this pod takes the
///   success over (a duplicate run all the same), so that the task's completion is not lost.
fn record_in_ledger(t: &mut Txn<'_>, job_uid: &str, record: &TaskRecord) -> Result<Vec<bool>, StoreError> {
    let entries = t.record_tasks(job_uid, &record.pod, &record.uid, &record.tasks)?;
    let mut first = Vec::with_capacity(entries.len());
    for (task, entry) in record.tasks.iter().zip(entries) {
        first.push(match entry {
            LedgerEntry::New => true,
            LedgerEntry::Owned { uid, .. } if uid == record.uid => true,
            LedgerEntry::Owned { pod, uid } => {
                let owner_counts = t
                    .get::<Pod>(&pod)?
                    .is_some_and(|p| p.metadata.uid == uid && p.status.phase != phase::FAILED);
                t.record_duplicate(job_uid, task, &record.pod, &record.uid, !owner_counts)?;
                !owner_counts
            }
        });
    }
    Ok(first)
}

/// The Job whose ledger a record of `worker` about the pod `name` (uid `uid`) goes to, inside
/// the caller's transaction; refused on the checks of [`apply_report`].
fn ledger_owner(t: &Txn<'_>, worker: &str, name: &str, uid: &str) -> Result<Owner, StoreError> {
    let Some(pod) = t.get::<Pod>(name)? else {
        return Ok(Err(format!("pod {name:?} not found")));
    };
    if pod.metadata.uid != uid {
        return Ok(Err(format!("pod {name:?} has another uid")));
    }
    if pod.node_name() != Some(worker) {
        return Ok(Err(format!("pod {name:?} is not bound to worker {worker:?}")));
    }
    if pod.is_terminal() {
        return Ok(Err(format!("pod {name:?} is already {}", pod.status.phase)));
    }
    let Some(job) = pod.metadata.controller_ref().filter(|r| r.kind == drover_api::job::KIND) else {
        return Ok(Ok(None));
    };
    if t.uid_of::<Job>(&job.name)?.as_deref() != Some(job.uid.as_str()) {
        return Ok(Ok(None));
    }
    Ok(Ok(Some((job.name.clone(), job.uid.clone()))))
}

/// One status report, inside the caller's transaction: `Ok(Err(reason))` when it is stale.
fn apply_report(
    t: &mut Txn<'_>,
    name: &str,
    report: StatusReport,
) -> Result<Result<Pod, String>, StoreError> {
    let Some(mut pod) = t.get::<Pod>(name)? else {
        return Ok(Err(format!("pod {name:?} not found")));
    };
    if pod.metadata.uid != report.uid {
        return Ok(Err(format!("pod {name:?} has another uid")));
    }
    if pod.node_name() != Some(report.worker.as_str()) {
        return Ok(Err(format!("pod {name:?} is not bound to worker {:?}", report.worker)));
    }
    if pod.is_terminal() {
        return Ok(Err(format!("pod {name:?} is already {}", pod.status.phase)));
    }
    let mut status = report.status;
    // The coordinator's reason for a termination it requested wins over the worker's
    // generic one.
    if status.phase == phase::FAILED
        && pod.metadata.deletion_timestamp.is_some()
        && let Some(reason) = pod.status.reason.clone()
    {
        status.reason = Some(reason);
    }
    status.conditions = merge_conditions(&pod.status.conditions, status.conditions);
    pod.status = status;
    // A pod whose termination was requested and whose outcome is not to be counted
    // (scale-down, suspend, cascade delete) leaves the store once it ends, as
    // Kubernetes deletes it.
    let done = pod.is_terminal()
        && pod.metadata.deletion_timestamp.is_some()
        && !pod.metadata.has_finalizer(drover_api::labels::JOB_TRACKING_FINALIZER);
    if done {
        t.delete::<Pod>(name)?;
        Ok(Ok(pod))
    } else {
        Ok(Ok(t.update(pod)?))
    }
}

fn merge_conditions(old: &[PodCondition], new: Vec<PodCondition>) -> Vec<PodCondition> {
    let mut out: Vec<PodCondition> =
        old.iter().filter(|c| !new.iter().any(|n| n.type_ == c.type_)).cloned().collect();
    out.extend(new);
    out
}

/// Marks a pod Failed by the coordinator (no process report), with a disruption condition.
pub(crate) fn fail_pod(pod: &mut Pod, reason: &str, message: &str, now: Time) {
    pod.status.phase = phase::FAILED.into();
    pod.status.reason = Some(reason.into());
    pod.status.message = Some(message.into());
    pod.status.conditions.retain(|c| c.type_ != "DisruptionTarget" && c.type_ != "Ready");
    pod.status.conditions.push(PodCondition {
        type_: "DisruptionTarget".into(),
        status: "True".into(),
        reason: Some(reason.into()),
        message: Some(message.into()),
        last_transition_time: Some(now),
    });
    pod.status.conditions.push(PodCondition {
        type_: "Ready".into(),
        status: "False".into(),
        reason: Some(reason.into()),
        message: None,
        last_transition_time: Some(now),
    });
}

/// Declares workers lost when their lease expires, until `token` is cancelled.
pub async fn run_lease_checker(coordinator: Coordinator, token: CancellationToken) {
    let lease = coordinator.config.worker_lease;
    let period = (lease / 10).clamp(Duration::from_millis(50), Duration::from_secs(1));
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = token.cancelled() => return,
            _ = tick.tick() => {
                if let Err(err) = check_leases(&coordinator) {
                    tracing::warn!(error = %err, "Lease check failed");
                }
            }
        }
    }
}

fn check_leases(coordinator: &Coordinator) -> Result<(), StoreError> {
    let now = now();
    let workers = coordinator.store().list::<Worker>()?;
    for w in workers {
        let last = last_heartbeat(coordinator, &w);
        if !lease_expired(&w.status.phase, last, now, lease(coordinator)) {
            continue;
        }
        if mark_lost_if_expired(coordinator, &w.metadata.name, now)? {
            tracing::warn!(worker = %w.metadata.name, last_heartbeat = %last, "Worker lost: lease expired");
        }
    }
    Ok(())
}

fn lease(coordinator: &Coordinator) -> chrono::Duration {
    chrono::Duration::from_std(coordinator.config.worker_lease).unwrap_or(chrono::Duration::seconds(10))
}

/// A worker's last heartbeat: the newer of the in-memory one and the stored one (which a
/// registration writes in its own commit). A worker this coordinator has not heard from yet
/// starts its clock at the coordinator's start, so the coordinator's downtime never counts.
fn last_heartbeat(coordinator: &Coordinator, w: &Worker) -> Time {
    let stored = w.status.last_heartbeat_time.unwrap_or(coordinator.started()).max(coordinator.started());
    let mut seen = coordinator.leases().last_seen.lock().unwrap_or_else(|p| p.into_inner());
    let in_memory = *seen.entry(w.metadata.name.clone()).or_insert(stored);
    in_memory.max(stored)
}

/// Whether a worker in `phase` whose last heartbeat was at `last` has lost its lease at `now`.
/// A lost worker is not lost again.
pub(crate) fn lease_expired(phase: &str, last: Time, now: Time, lease: chrono::Duration) -> bool {
    phase != wphase::LOST && now - last > lease
}

/// Declares `name` lost and fails its pods, if its lease is still expired when re-read inside
/// the transaction: a heartbeat or a re-registration that landed since the caller looked wins.
/// Returns whether it did. Ends the worker's assignment session (a worker that is in fact
/// alive reconnects, and registers again).
pub(crate) fn mark_lost_if_expired(
    coordinator: &Coordinator,
    name: &str,
    now: Time,
) -> Result<bool, StoreError> {
    let lost = coordinator.commit(|t| {
        let Some(mut w) = t.get::<Worker>(name)? else { return Ok(false) };
        // The store's lock is held: a registration cannot commit meanwhile, and a heartbeat
        // records its time before it reads the worker (see `heartbeat`).
        if !lease_expired(&w.status.phase, last_heartbeat(coordinator, &w), now, lease(coordinator)) {
            return Ok(false);
        }
        w.status.phase = wphase::LOST.into();
        t.update(w)?;
        for mut pod in t.list_on_node_not_in::<Pod>(name, FINISHED)? {
            if pod.is_terminal() {
                continue;
            }
            fail_pod(&mut pod, REASON_WORKER_LOST, &format!("Worker {name} stopped heartbeating"), now);
            t.update(pod)?;
        }
        Ok(true)
    })?;
    if lost {
        coordinator.end_session(name);
    }
    Ok(lost)
}

/// The hex SHA-256 of a worker credential, as the store keeps it.
fn credential_digest(credential: &str) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(credential.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use drover_api::protocol::Registration;

    use super::*;
    use crate::Config;

    fn coordinator() -> Coordinator {
        let config = Config { worker_lease: Duration::from_millis(500), ..Config::default() };
        let store = Arc::new(drover_store::Store::open_in_memory().unwrap());
        Coordinator::new(store, config, CancellationToken::new())
    }

    fn register(c: &Coordinator, incarnation: &str) {
        let reg = Registration {
            name: "w".into(),
            slots: 1,
            version: "test".into(),
            incarnation: incarnation.into(),
            hostname: None,
        };
        c.register_worker(&reg).unwrap();
    }

    /// Lets worker `w`'s lease (500 ms) lapse: time passing is what the tests are about.
    fn lapse() {
        std::thread::sleep(Duration::from_millis(600));
    }

    fn phase_of(c: &Coordinator) -> String {
        c.store().get::<Worker>("w").unwrap().unwrap().status.phase
    }

    #[test]
    fn the_lease_decision() {
        let lease = chrono::Duration::seconds(10);
        let t0 = now();
        let later = |s: i64| t0 + chrono::Duration::seconds(s);
        assert!(!lease_expired(wphase::READY, t0, later(10), lease), "exactly the lease: still held");
        assert!(lease_expired(wphase::READY, t0, later(11), lease));
        assert!(lease_expired(wphase::DRAINING, t0, later(11), lease));
        assert!(lease_expired(wphase::CORDONED, t0, later(11), lease));
        assert!(!lease_expired(wphase::LOST, t0, later(3600), lease), "lost once, not again");
    }

    #[test]
    fn a_heartbeat_that_lands_before_the_lease_commit_wins() {
        let c = coordinator();
        register(&c, "i1");
        lapse();
        // The checker's first look: expired.
        let w = c.store().get::<Worker>("w").unwrap().unwrap();
        assert!(lease_expired(&w.status.phase, last_heartbeat(&c, &w), now(), lease(&c)));
        // A heartbeat lands before the checker's transaction.
        assert!(c.heartbeat("w").unwrap().registered);
        assert!(!mark_lost_if_expired(&c, "w", now()).unwrap());
        assert_eq!(phase_of(&c), wphase::READY);
    }

    #[test]
    fn a_re_registration_that_lands_before_the_lease_commit_wins() {
        let c = coordinator();
        register(&c, "i1");
        lapse();
        // The agent restarted and registered again; the in-memory clock is still the old one
        // (as when the checker reads it before the registration records it), the stored
        // heartbeat is fresh.
        register(&c, "i2");
        c.leases().last_seen.lock().unwrap().insert("w".into(), now() - chrono::Duration::hours(1));
        assert!(!mark_lost_if_expired(&c, "w", now()).unwrap());
        assert_eq!(phase_of(&c), wphase::READY);
    }

    #[test]
    fn an_expired_lease_makes_the_worker_lost_and_ends_its_session() {
        let c = coordinator();
        register(&c, "i1");
        let mut session = c.open_session("w");
        assert_eq!(c.session_count(), 1);
        lapse();
        check_leases(&c).unwrap();
        assert_eq!(phase_of(&c), wphase::LOST);
        assert_eq!(c.session_count(), 0);
        // The stream's receiver sees the end.
        assert!(session.rx.try_recv().is_err() && session.rx.is_closed());
        // A lost worker's heartbeat is refused, and it is not lost twice.
        assert!(!c.heartbeat("w").unwrap().registered);
        assert!(!mark_lost_if_expired(&c, "w", now()).unwrap());
        // An unknown worker's heartbeat leaves no clock behind.
        assert!(!c.heartbeat("nobody").unwrap().registered);
        assert!(!c.leases().last_seen.lock().unwrap().contains_key("nobody"));
    }
}
