//! The Job controller runtime: executes `drover_core::decide`'s plans against the store.
//!
//! # Expected flow
//! 1. A change to a Job, or to a pod it owns, puts the Job's name on the queue; so does a due
//!    requeue timer, and, within [`COALESCE`], a commit to its task ledger (those come by the
//!    thousand a second; the ones within the window make one sync). Names already queued are
//!    not queued twice. The writes of the Job's own sync do not queue it again unless that sync
//!    deleted pods (see `execute`); a sync that created only the per-sync cap of the pods its
//!    Job lacks (JOB-M5) asks for a zero requeue, so a Job wider than the cap fills up with no
//!    other event.
//! 2. One task takes names off the queue and syncs them one at a time, so two syncs of the same
//!    Job never overlap (kube-runtime's runner gives the same guarantee per key).
//! 3. A sync reads the Job, its pods, its back-off record and its task ledger's tally from the
//!    store, calls `decide`, and
//!    writes the new status, the counted pods (tracking finalizer removed) and the back-off
//!    record in **one** transaction, guarded by the Job's resourceVersion.
//! 4. It then requests terminations, or creates pods in slow-start batches (doubling), each
//!    batch its own transaction, and records events. The first batch goes in step 3's commit:
//!    one pod, or one per pod this sync counted (a finished pod is replaced as it is counted).
//!    An Indexed Job's batches take the plan's `create_indexes` in order, each pod decorated for
//!    its index (JOB-M7).
//!
//! # Guarantees
//! - A pod outcome is counted exactly once: counting and finalizer removal commit together.
//! - Reads come from the store, never from a cache, so Kubernetes' "expectations" are not
//!   needed: a sync always sees every pod the previous sync created.
//! - A crash at any point leaves a state from which the next sync continues: nothing is
//!   remembered only in memory except the requeue timers, and every Job is synced at start.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::time::Duration;

use drover_api::pod::phase;
use drover_api::{CronJob, Event, Job, LabelSelector, ObjectMeta, OwnerReference, Pod, Time, labels};
use drover_core::{BackoffRecord, IndexRecord, JobPlan, TaskLedger, decide_with_ledger};
use drover_store::{StoreError, Txn};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::state::{Coordinator, now};

/// What the controller syncs: a Job or a CronJob, by name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Key {
    /// A Job.
    Job(String),
    /// A CronJob.
    CronJob(String),
}

/// A request on the controller's queue.
#[derive(Debug)]
pub(crate) enum Request {
    /// Sync the object as soon as possible.
    Now(Key),
    /// Sync the object within [`COALESCE`]: for changes that come by the thousand a second
    /// (a busy Job's task ledger), so that they make a few syncs a second, not one each. Every
    /// change still gets a sync that starts after it was committed.
    Soon(Key),
}

/// How long a sync asked for "soon" (after a commit to a Job's task ledger) waits: the requests
/// that arrive meanwhile join it.
pub const COALESCE: Duration = Duration::from_millis(100);

/// The controller's queue: keys to sync in order (each at most once), timers, and the keys a
/// [`Request::Soon`] timer is pending for.
#[derive(Default)]
struct Queue {
    keys: VecDeque<Key>,
    queued: HashSet<Key>,
    timers: BTreeMap<(Instant, u64), Key>,
    timer_seq: u64,
    soon: HashSet<Key>,
}

impl Queue {
    fn push(&mut self, key: Key) {
        if self.queued.insert(key.clone()) {
            self.keys.push_back(key);
        }
    }

    fn push_at(&mut self, at: Instant, key: Key) {
        self.timer_seq += 1;
        self.timers.insert((at, self.timer_seq), key);
    }

    fn request(&mut self, request: Request) {
        match request {
            Request::Now(key) => self.push(key),
            // A pending timer fires after this request was sent, so its sync sees the change.
            Request::Soon(key) => {
                if self.soon.insert(key.clone()) {
                    self.push_at(Instant::now() + COALESCE, key);
                }
            }
        }
    }

    /// Queues the keys whose timers are due.
    fn fire(&mut self, now: Instant) {
        while let Some(entry) = self.timers.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let key = entry.remove();
            self.soon.remove(&key);
            self.push(key);
        }
    }
}

/// Runs the controllers (Jobs and CronJobs) until `token` is cancelled. One task runs every
/// sync, so two syncs of one object never overlap.
pub async fn run(coordinator: Coordinator, token: CancellationToken) {
    let Some(mut rx) = coordinator.take_controller_queue() else {
        tracing::error!("Job controller started twice");
        return;
    };
    let mut queue = Queue::default();

    // Every Job and CronJob is synced at start: a restarted coordinator continues where it stopped.
    let all = coordinator.store().read(|t| {
        let jobs = t.list::<Job>()?.into_iter().map(|j| Key::Job(j.metadata.name));
        let cronjobs = t.list::<CronJob>()?.into_iter().map(|c| Key::CronJob(c.metadata.name));
        Ok(cronjobs.chain(jobs).collect::<Vec<_>>())
    });
    match all {
        Ok(keys) => keys.into_iter().for_each(|key| queue.push(key)),
        Err(err) => tracing::error!(error = %err, "Cannot list Jobs and CronJobs at start"),
    }

    loop {
        // Drain everything already waiting, so a burst of changes makes one sync per object.
        while let Ok(request) = rx.try_recv() {
            queue.request(request);
        }
        if let Some(key) = queue.keys.pop_front() {
            queue.queued.remove(&key);
            let res = match &key {
                Key::Job(name) => sync_job(&coordinator, name),
                Key::CronJob(name) => crate::cronjobs::sync_cronjob(&coordinator, name),
            };
            match res {
                Ok(Some(after)) => queue.push_at(Instant::now() + after, key),
                Ok(None) => {}
                Err(err) => {
                    tracing::warn!(object = ?key, error = %err, "Sync failed; retrying");
                    queue.push_at(Instant::now() + Duration::from_millis(200), key);
                }
            }
            tokio::task::yield_now().await;
            continue;
        }
        let next_timer = queue.timers.keys().next().map(|(at, _)| *at);
        tokio::select! {
            _ = token.cancelled() => return,
            msg = rx.recv() => match msg {
                Some(request) => queue.request(request),
                None => return,
            },
            _ = sleep_until_opt(next_timer) => queue.fire(Instant::now()),
        }
    }
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Syncs one Job. Returns when to sync it again regardless of changes.
pub fn sync_job(coordinator: &Coordinator, name: &str) -> Result<Option<Duration>, StoreError> {
    let now = now();
    let Some((job, pods, backoff, ledger)) = coordinator.store().read(|t| {
        let Some(job) = t.get::<Job>(name)? else { return Ok(None) };
        let pods = t.list_owned_live::<Pod>(&job.metadata.uid)?;
        let (failures, last) = t.backoff(&job.metadata.uid)?;
        let indexes = if job.spec.backoff_limit_per_index.is_some() {
            t.index_backoff(&job.metadata.uid)?
                .into_iter()
                .map(|r| {
                    let record = IndexRecord {
                        failed: r.failed,
                        ignored: r.ignored,
                        last_failure_time: r.last_failure,
                        exponent: r.exponent,
                    };
                    (r.index, record)
                })
                .collect()
        } else {
            Default::default()
        };
        let ledger = t.task_tally(&job.metadata.uid)?;
        Ok(Some((
            job,
            pods,
            BackoffRecord { failures_after_last_success: failures, last_failure_time: last, indexes },
            ledger.map(|(succeeded, duplicates)| TaskLedger { succeeded, duplicates }),
        )))
    })?
    else {
        return Ok(None);
    };
    let plan = decide_with_ledger(&job, &pods, &backoff, ledger.as_ref(), &coordinator.config.job, now);
    // A draining Job whose bound pods all report the queue drained: they check the drain rule
    // now, told through their workers' sessions, instead of each polling the Job's pods.
    coordinator.push_drain_rechecks(&drover_api::pod::drain_rechecks(&pods));
    let backoff_changed = plan.backoff != backoff;
    execute(coordinator, job, plan, backoff_changed.then_some(&backoff), now)
}

/// Runs a plan. `old_backoff` is the record the plan started from, when the plan changed it.
fn execute(
    coordinator: &Coordinator,
    job: Job,
    plan: JobPlan,
    old_backoff: Option<&BackoffRecord>,
    now: Time,
) -> Result<Option<Duration>, StoreError> {
    let backoff_changed = old_backoff.is_some();
    let job_name = job.metadata.name.clone();
    let job_uid = job.metadata.uid.clone();

    if plan.delete_job {
        delete_job(coordinator, &job_name, true)?;
        return Ok(None);
    }

    // Step 3: status, counted pods and back-off, atomically, with the first batch of creations
    // (pods finished, counted and replaced in one commit). The first batch holds one pod, or
    // as many as this sync counted: replacing finished pods is the steady state, and slow start
    // (1, 2, 4, …) is for growth. A creation here is a row in the same local transaction, so it
    // cannot fail on its own the way a create call to an API server can.
    // A plan that deletes nothing leaves the Job at a fixed point (checked over every simulated
    // scenario by drover-core's `simulate` tests), so its own writes need not queue the Job
    // again. Terminations do: a pod no worker had taken ends at once, with no report to follow.
    let quiet = plan.delete.is_empty().then_some(job_name.as_str());
    let status_changed = plan.status != job.status;
    // What each creation is: for an Indexed Job, the completion index of each pod (JOB-M5,
    // JOB-M7), lowest first; else `plan.create` interchangeable pods.
    let mut creations = Creations::of(&plan);
    let mut remaining = plan.create;
    let first = if plan.delete.is_empty() { remaining.min(plan.count.len().max(1)) } else { 0 };
    let mut batch = first.max(1);
    let first_batch = creations.take(first);
    if status_changed || !plan.count.is_empty() || backoff_changed || !plan.events.is_empty() || first > 0 {
        coordinator.commit_syncing(quiet, |t| {
            for counted in &plan.count {
                if let Some(mut pod) = t.get::<Pod>(&counted.name)? {
                    pod.metadata.finalizers.retain(|f| f != labels::JOB_TRACKING_FINALIZER);
                    if pod.metadata.deletion_timestamp.is_some() && pod.is_terminal() {
                        t.delete::<Pod>(&counted.name)?;
                    } else {
                        t.update(pod)?;
                    }
                }
            }
            if status_changed {
                let mut updated = job.clone();
                updated.status = plan.status.clone();
                t.update(updated)?;
            }
            if let Some(old) = old_backoff {
                t.set_backoff(
                    &job_uid,
                    plan.backoff.failures_after_last_success,
                    plan.backoff.last_failure_time,
                )?;
                // The per-index records: only those this sync changed, or none once finished.
                if plan.backoff.indexes.is_empty() && !old.indexes.is_empty() {
                    t.clear_index_backoff(&job_uid)?;
                }
                for (index, record) in &plan.backoff.indexes {
                    if old.indexes.get(index) != Some(record) {
                        let row = drover_store::IndexBackoff {
                            index: *index,
                            failed: record.failed,
                            ignored: record.ignored,
                            last_failure: record.last_failure_time,
                            exponent: record.exponent,
                        };
                        t.set_index_backoff(&job_uid, &row)?;
                    }
                }
            }
            for (type_, reason, message) in &plan.events {
                let event = if type_ == "Warning" {
                    Event::warning("Job", &job_name, &job_uid, reason, message.clone(), now)
                } else {
                    Event::normal("Job", &job_name, &job_uid, reason, message.clone(), now)
                };
                t.record_event(&event)?;
            }
            create_pods(t, &job, first_batch, &plan.index_failures, now)
        })?;
        remaining -= first;
        batch *= 2;
    }

    // Step 4a: terminations.
    if !plan.delete.is_empty() {
        coordinator.commit(|t| {
            for deletion in &plan.delete {
                let Some(mut pod) = t.get::<Pod>(&deletion.name)? else { continue };
                if deletion.uncount {
                    pod.metadata.finalizers.retain(|f| f != labels::JOB_TRACKING_FINALIZER);
                }
                request_termination(&mut pod, &deletion.reason, now);
                let pod_name = pod.metadata.name.clone();
                if pod.is_terminal() && deletion.uncount {
                    t.delete::<Pod>(&pod_name)?;
                } else {
                    t.update(pod)?;
                }
                t.record_event(&Event::normal(
                    "Job",
                    &job_name,
                    &job_uid,
                    "SuccessfulDelete",
                    format!("Deleted pod: {pod_name}"),
                    now,
                ))?;
            }
            Ok(())
        })?;
    }

    // Step 4b: the remaining creations, in slow-start batches (JOB-M6).
    while remaining > 0 {
        let n = batch.min(remaining);
        let next = creations.take(n);
        coordinator.commit_syncing(quiet, |t| create_pods(t, &job, next, &plan.index_failures, now))?;
        remaining -= n;
        batch *= 2;
    }
    Ok(plan.requeue_after)
}

/// The pods a plan creates, handed out batch by batch.
struct Creations<'a> {
    /// The completion indexes still to create (Indexed Jobs).
    indexes: &'a [i32],
    indexed: bool,
}

/// One batch of creations: `n` pods, or the pods of these completion indexes.
#[derive(Debug)]
enum Batch<'a> {
    Pods(usize),
    Indexes(&'a [i32]),
}

impl<'a> Creations<'a> {
    fn of(plan: &'a JobPlan) -> Creations<'a> {
        Creations { indexes: &plan.create_indexes, indexed: !plan.create_indexes.is_empty() }
    }

    /// The next `n` creations.
    fn take(&mut self, n: usize) -> Batch<'a> {
        if !self.indexed {
            return Batch::Pods(n);
        }
        let (now, later) = self.indexes.split_at(n.min(self.indexes.len()));
        self.indexes = later;
        Batch::Indexes(now)
    }
}

/// Creates a batch of `job`'s pods, each with its `SuccessfulCreate` event. The pod of a
/// completion index gets the decoration of [`drover_core::apply_completion_index`] (JOB-M7)
/// and, with backoffLimitPerIndex, its index's failures so far (`failures`,
/// [`drover_core::apply_index_failures`], FAIL-20).
///
/// A pod goes straight to a worker with a free slot when none is waiting for one
/// ([`crate::scheduler::place_new`]); otherwise the scheduler binds it.
fn create_pods(
    t: &mut Txn<'_>,
    job: &Job,
    batch: Batch<'_>,
    failures: &std::collections::BTreeMap<i32, drover_core::IndexFailures>,
    now: Time,
) -> Result<(), StoreError> {
    let (n, indexes) = match batch {
        Batch::Pods(n) => (n, &[][..]),
        Batch::Indexes(indexes) => (indexes.len(), indexes),
    };
    for (i, node) in crate::scheduler::place_new(t, n)?.into_iter().enumerate() {
        let mut pod = new_pod(job);
        if let Some(index) = indexes.get(i) {
            drover_core::apply_completion_index(job, &mut pod, *index);
            if let Some(f) = failures.get(index) {
                drover_core::apply_index_failures(&mut pod, *f);
            }
        }
        pod.spec.node_name = node;
        let pod = t.create(pod, now)?;
        t.record_event(&Event::normal(
            "Job",
            &job.metadata.name,
            &job.metadata.uid,
            "SuccessfulCreate",
            format!("Created pod: {}", pod.metadata.name),
            now,
        ))?;
    }
    Ok(())
}

/// Marks `pod` as terminating. A pod that no worker has taken yet has no process to stop, so it
/// becomes Failed at once.
pub(crate) fn request_termination(pod: &mut Pod, reason: &str, now: Time) {
    if pod.metadata.deletion_timestamp.is_none() {
        pod.metadata.deletion_timestamp = Some(now);
        pod.metadata.deletion_grace_period_seconds =
            Some(pod.spec.termination_grace_period_seconds.unwrap_or(30));
    }
    if pod.node_name().is_none() && !pod.is_terminal() {
        pod.status.phase = phase::FAILED.to_string();
        pod.status.reason = Some(reason.to_string());
        pod.status.message = Some("Pod was terminated before it was scheduled".to_string());
    } else if pod.status.reason.is_none() {
        pod.status.reason = Some(reason.to_string());
    }
}

/// The pod for one execution of `job`'s template (JOB-M7): template plus labels, owner
/// reference and the tracking finalizer, named `<job>-<5 random chars>` by the store. The pod of
/// an Indexed Job's index is this pod decorated by [`drover_core::apply_completion_index`].
pub fn new_pod(job: &Job) -> Pod {
    let template = &job.spec.template;
    let mut metadata = ObjectMeta {
        generate_name: Some(format!("{}-", job.metadata.name)),
        labels: template.metadata.labels.clone(),
        annotations: template.metadata.annotations.clone(),
        owner_references: vec![OwnerReference {
            api_version: drover_api::job::API_VERSION.to_string(),
            kind: drover_api::job::KIND.to_string(),
            name: job.metadata.name.clone(),
            uid: job.metadata.uid.clone(),
            controller: Some(true),
            block_owner_deletion: Some(true),
        }],
        finalizers: vec![labels::JOB_TRACKING_FINALIZER.to_string()],
        ..ObjectMeta::default()
    };
    for (k, v) in [
        (labels::CONTROLLER_UID, &job.metadata.uid),
        (labels::CONTROLLER_UID_LEGACY, &job.metadata.uid),
        (labels::JOB_NAME, &job.metadata.name),
        (labels::JOB_NAME_LEGACY, &job.metadata.name),
    ] {
        metadata.labels.entry(k.to_string()).or_insert_with(|| v.clone());
    }
    let mut spec = template.spec.clone();
    spec.node_name = None;
    // Drover's work queue: exactly one task per pod with completions set, else drain.
    spec.queue = job
        .spec
        .queue
        .clone()
        .map(|q| drover_api::PodQueue { spec: q, drain: job.spec.completions.is_none() });
    Pod {
        api_version: drover_api::pod::API_VERSION.to_string(),
        kind: drover_api::pod::KIND.to_string(),
        metadata,
        spec,
        status: drover_api::PodStatus { phase: phase::PENDING.to_string(), ..Default::default() },
    }
}

/// Deletes a Job. With `cascade`, its pods are terminated and removed (`Background`
/// propagation); otherwise they are orphaned: their owner reference and tracking finalizer are
/// removed and they keep running.
pub fn delete_job(coordinator: &Coordinator, name: &str, cascade: bool) -> Result<Option<Job>, StoreError> {
    let now = now();
    coordinator.commit(|t| delete_job_in(t, name, cascade, now))
}

/// [`delete_job`] inside a transaction the caller owns.
pub fn delete_job_in(
    t: &mut Txn<'_>,
    name: &str,
    cascade: bool,
    now: Time,
) -> Result<Option<Job>, StoreError> {
    let Some(job) = t.get::<Job>(name)? else { return Ok(None) };
    for mut pod in t.list_owned::<Pod>(&job.metadata.uid)? {
        pod.metadata.finalizers.retain(|f| f != labels::JOB_TRACKING_FINALIZER);
        if cascade {
            if pod.is_terminal() || pod.node_name().is_none() {
                t.delete::<Pod>(&pod.metadata.name)?;
            } else {
                // The worker stops the process; the pod is removed once it reports.
                request_termination(&mut pod, "JobDeleted", now);
                pod.metadata.owner_references.clear();
                t.update(pod)?;
            }
        } else {
            pod.metadata.owner_references.clear();
            t.update(pod)?;
        }
    }
    t.delete::<Job>(name)
}

/// Stores a new Job: defaults, then (once the store has given it a uid) the generated selector
/// and template labels (JOB-SEL-1). Used by the API's create and by the CronJob controller.
pub fn create_job(t: &mut Txn<'_>, mut job: Job, now: Time) -> Result<Job, StoreError> {
    job.apply_defaults();
    job.status = Default::default();
    let mut job = t.create(job, now)?;
    if job.spec.manual_selector.unwrap_or(false) {
        return Ok(job);
    }
    let uid = job.metadata.uid.clone();
    let name = job.metadata.name.clone();
    let template_labels = &mut job.spec.template.metadata.labels;
    template_labels.entry(labels::CONTROLLER_UID.into()).or_insert_with(|| uid.clone());
    template_labels.entry(labels::CONTROLLER_UID_LEGACY.into()).or_insert_with(|| uid.clone());
    template_labels.entry(labels::JOB_NAME.into()).or_insert_with(|| name.clone());
    template_labels.entry(labels::JOB_NAME_LEGACY.into()).or_insert(name);
    let mut selector = LabelSelector::default();
    selector.match_labels.insert(labels::CONTROLLER_UID.into(), uid);
    job.spec.selector = Some(selector);
    t.update(job)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(name: &str) -> Key {
        Key::Job(name.into())
    }

    #[test]
    fn soon_requests_for_one_key_share_a_timer_and_a_new_one_starts_after_it_fires() {
        let mut q = Queue::default();
        let start = Instant::now();
        q.request(Request::Soon(job("a")));
        q.request(Request::Soon(job("a")));
        q.request(Request::Soon(job("b")));
        assert_eq!(q.timers.len(), 2, "one timer per key");
        assert!(q.keys.is_empty(), "nothing is synced before the window ends");
        q.fire(start);
        assert!(q.keys.is_empty(), "not due yet");
        q.fire(start + COALESCE + Duration::from_millis(50));
        assert_eq!(q.keys, [job("a"), job("b")]);
        assert!(q.soon.is_empty() && q.timers.is_empty());
        // A request after the timer fired gets a timer of its own (its change may be newer than
        // the sync now queued has read).
        q.request(Request::Soon(job("a")));
        assert_eq!(q.timers.len(), 1);
        // An immediate request is queued at once, and only once.
        q.request(Request::Now(job("c")));
        q.request(Request::Now(job("c")));
        assert_eq!(q.keys, [job("a"), job("b"), job("c")]);
    }
}
