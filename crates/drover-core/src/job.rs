//! The Job controller's decision: `decide(job, pods, backoff, config, now) -> JobPlan`.
//!
//! A port of kubernetes/kubernetes `pkg/controller/job/job_controller.go` (syncJob, manageJob),
//! returning a plan instead of calling the API. See semantics.md §2–§5 and §10 for the rules;
//! rule ids (JOB-M3, FAIL-2, …) are cited where they are applied.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::time::Duration;

use drover_api::job::{condition, pod_failure_action, reason};
use drover_api::labels::{
    JOB_COMPLETION_INDEX, JOB_COMPLETION_INDEX_ENV, JOB_INDEX_FAILURE_COUNT, JOB_INDEX_IGNORED_FAILURE_COUNT,
    JOB_TRACKING_FINALIZER,
};
use drover_api::pod::phase;
use drover_api::protocol::{DISRUPTION_REASONS, REASON_WORKER_DRAINED};
use drover_api::{EnvVar, IndexSet, Job, JobCondition, JobStatus, Pod, Time};

use crate::backoff::{BackoffRecord, IndexRecord};

/// Tunables of the Job controller. Built once from the coordinator's flags.
#[derive(Debug, Clone, PartialEq)]
pub struct JobConfig {
    /// The pod re-creation back-off base (FAIL-11). Drover's default: 10 s.
    pub backoff_base: Duration,
    /// The back-off cap (FAIL-11, §10.1). Drover's default: 6 min.
    pub backoff_max: Duration,
    /// The cap on pod creations or deletions per sync (JOB-M3, JOB-M5): 500.
    pub max_changes_per_sync: usize,
}

impl Default for JobConfig {
    fn default() -> JobConfig {
        JobConfig {
            backoff_base: Duration::from_secs(10),
            backoff_max: Duration::from_secs(360),
            max_changes_per_sync: 500,
        }
    }
}

/// How a counted pod ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Counted in `status.succeeded`.
    Succeeded,
    /// Counted in `status.failed`.
    Failed,
    /// A disruption that is not the pod's fault (a worker's graceful drain, reason
    /// `WorkerDrained`): released and replaced at once, counted neither as a success nor as a
    /// failure, whatever the podFailurePolicy says, and no back-off (§10.9). Its task counts are
    /// folded in like any counted pod's.
    Disrupted,
    /// A failure the Job's podFailurePolicy ignores (FAIL-15 `Ignore`): counted neither in
    /// `status.failed` nor toward `backoffLimit`, and replaced. A failure of the command waits
    /// for the back-off delay first, as in Kubernetes; a pod failed by the fleet
    /// (`WorkerLost`, `WorkerRestarted`) is replaced at once (§10.9).
    Ignored,
    /// A finished pod of an Indexed Job with no valid completion index (none, or one ≥
    /// `completions`): its finalizer is removed but it counts toward nothing, success, failure or
    /// back-off (JOB-C5, upstream `getValidPodsWithFilter`).
    Discarded,
}

/// A pod whose outcome this sync counts: the runtime removes its tracking finalizer in the same
/// transaction that writes the new status, so each outcome is counted exactly once (STAT-1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CountedPod {
    /// The pod's name.
    pub name: String,
    /// The outcome added to the counters.
    pub outcome: Outcome,
}

/// A pod whose termination this sync requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodDeletion {
    /// The pod's name.
    pub name: String,
    /// True when the tracking finalizer is removed first, so the pod is never counted (scale
    /// down JOB-M3, suspend JOB-M1, lingering pods after SuccessCriteriaMet FAIL-31). False when
    /// the Job is failing (FAIL-1, ADS-3): the pod is then counted as failed by this same plan
    /// (it is in `count`, so the status transaction removes its finalizer), as upstream does.
    pub uncount: bool,
    /// Why, as a CamelCase reason recorded on the pod (`DeadlineExceeded`, `BackoffLimitExceeded`,
    /// `JobSuspended`, `ScaledDown`, …).
    pub reason: String,
}

/// What one sync of a Job decided. The runtime executes it atomically where it can: the status,
/// the counted pods and the back-off record are written in one transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct JobPlan {
    /// The Job's new status.
    pub status: JobStatus,
    /// Pods counted by this sync.
    pub count: Vec<CountedPod>,
    /// How many pods to create from the template (slow start is applied by the runtime).
    pub create: usize,
    /// Indexed Jobs: the completion index of each pod to create, lowest first, as many as
    /// `create` (JOB-M5). The runtime gives pod `i` the decoration of [`apply_completion_index`]
    /// (JOB-M7). Empty for NonIndexed Jobs.
    pub create_indexes: Vec<i32>,
    /// With `backoffLimitPerIndex`: the failures so far of each index in `create_indexes`, which
    /// its new pod carries ([`apply_index_failures`], FAIL-20). Empty otherwise.
    pub index_failures: BTreeMap<i32, IndexFailures>,
    /// Pods whose termination is requested. Never non-empty together with `create > 0`
    /// (JOB-M3: deletion wins).
    pub delete: Vec<PodDeletion>,
    /// Events to record on the Job: `(type, reason, message)`.
    pub events: Vec<(String, String, String)>,
    /// The back-off record to persist (FAIL-10, §10.3).
    pub backoff: BackoffRecord,
    /// When the Job must be synced again even if nothing changes (back-off expiry, deadline,
    /// TTL). `None` means wait for a change. `Some(Duration::ZERO)` means at once: the sync that
    /// finishes a Job with `ttlSecondsAfterFinished: 0` asks for it, and the next sync deletes;
    /// so does a sync that creates only `max_changes_per_sync` of the pods the Job lacks.
    pub requeue_after: Option<Duration>,
    /// True when `ttlSecondsAfterFinished` has expired: the runtime deletes the Job and its pods.
    pub delete_job: bool,
}

/// Decides one sync of `job`, given all the pods it owns, its persisted back-off record and the
/// current time.
///
/// # Expected flow
/// Follows semantics.md §2.3 step by step: classify pods, count new outcomes, set startTime,
/// evaluate termination criteria (backoffLimit before deadline), then either terminate every
/// active pod or run manageJob (§2.4) and evaluate completion (JOB-5).
///
/// A finished Job (JOB-T6) only has lingering outcomes counted (RE-8), its back-off record dropped
/// and its `ttlSecondsAfterFinished` evaluated (§5.3). A Job being deleted (DEL-2) only has its
/// outcomes counted and its pod counts refreshed.
///
/// # Guarantees
/// - Never both creates and deletes.
/// - Never creates pods for a finished, suspended or failing Job.
/// - Counters never decrease; a pod is counted only while it carries the tracking finalizer.
pub fn decide(job: &Job, pods: &[Pod], backoff: &BackoffRecord, config: &JobConfig, now: Time) -> JobPlan {
    decide_with_ledger(job, pods, backoff, None, config, now)
}

/// The tally of a Job's task ledger (semantics.md §10.10): the store keeps each task that
/// succeeded once per Job, by its stable id, recorded before the task is acked.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TaskLedger {
    /// Distinct tasks that succeeded.
    pub succeeded: i64,
    /// Successful runs of a task that had already succeeded.
    pub duplicates: i64,
}

/// [`decide`], given also the tally of the Job's task ledger (`None` when nothing was ever
/// recorded for it). With a ledger, `status.tasks.succeeded` is its count of distinct tasks
/// (exact, whatever ran twice) and `status.tasks.duplicates` its duplicates; `failed` and
/// `requeued` still come from the pods' reports. Everything else is as [`decide`].
pub fn decide_with_ledger(
    job: &Job,
    pods: &[Pod],
    backoff: &BackoffRecord,
    ledger: Option<&TaskLedger>,
    config: &JobConfig,
    now: Time,
) -> JobPlan {
    let mut plan = decide_counts_and_pods(job, pods, backoff, config, now);
    tally_tasks(job, pods, ledger, &mut plan);
    plan
}

/// Drover's task counts (queue Jobs): `countedTasks` gains the task counts of the pods this
/// sync counts, in the same transaction as their outcome, so each pod's tasks are added exactly
/// once even after the pod is removed; `tasks` is that plus the pods not counted yet, except
/// that the task ledger, when the Job has one, gives `succeeded` and `duplicates`.
fn tally_tasks(job: &Job, pods: &[Pod], ledger: Option<&TaskLedger>, plan: &mut JobPlan) {
    let counted_now: Vec<&str> = plan.count.iter().map(|c| c.name.as_str()).collect();
    let pod_tasks = |p: &Pod| p.status.tasks.unwrap_or_default();
    let mut counted = job.status.counted_tasks.unwrap_or_default();
    let mut live = drover_api::TaskCounts::default();
    for pod in pods {
        if counted_now.contains(&pod.metadata.name.as_str()) {
            counted = counted.plus(pod_tasks(pod));
        } else if pod.metadata.has_finalizer(JOB_TRACKING_FINALIZER) {
            live = live.plus(pod_tasks(pod));
        }
    }
    if job.spec.queue.is_none() && counted.is_zero() && live.is_zero() && ledger.is_none() {
        return;
    }
    plan.status.counted_tasks = Some(counted);
    let mut tasks = counted.plus(live);
    if let Some(ledger) = ledger {
        tasks.succeeded = ledger.succeeded;
        tasks.duplicates = ledger.duplicates;
    }
    plan.status.tasks = Some(tasks);
}

fn decide_counts_and_pods(
    job: &Job,
    pods: &[Pod],
    backoff: &BackoffRecord,
    config: &JobConfig,
    now: Time,
) -> JobPlan {
    let mut plan = JobPlan {
        status: job.status.clone(),
        count: Vec::new(),
        create: 0,
        create_indexes: Vec::new(),
        index_failures: BTreeMap::new(),
        delete: Vec::new(),
        events: Vec::new(),
        backoff: backoff.clone(),
        requeue_after: None,
        delete_job: false,
    };
    let replace_only_failed = replace_only_failed(job);

    // JOB-T6: a finished Job is never changed again, except for the ledger and TTL.
    if job.is_finished() {
        count_new_outcomes(job, pods, replace_only_failed, now, &mut plan);
        plan.backoff = BackoffRecord::default();
        if let Some(finished_at) = finished_at(&plan.status) {
            apply_ttl(job, finished_at, now, &mut plan);
        }
        return plan;
    }

    // Step 2: classify (JOB-C1..C3) and count new outcomes (JOB-C4, JOB-C5).
    let tally = Tally::of(pods);
    let new = count_new_outcomes(job, pods, replace_only_failed, now, &mut plan);
    plan.backoff = backoff.update(&new.successes, &new.failures); // FAIL-10
    // FAIL-20, FAIL-22: each index's failures, recorded once, when its failed pod is counted.
    for (index, record) in new.indexes {
        plan.backoff.indexes.insert(index, record);
    }

    // DEL-2: a Job being deleted creates and deletes nothing; the cascade removes its pods.
    if job.metadata.deletion_timestamp.is_some() {
        tally.write_counts(&mut plan);
        return plan;
    }

    // Step 3: startTime, and resume (SUS-3, ADS-4) before the deadline is evaluated.
    start_or_resume(job, now, &mut plan);

    // Steps 4 and 6: termination criteria, first match wins (JOB-ORD-1).
    match termination_criterion(job, pods, &plan.status, new.fail_job, now) {
        Some(Criterion::Failure { reason, message }) => {
            fail_job(job, pods, &tally, &reason, &message, now, &mut plan);
        }
        Some(Criterion::Success { reason, message }) => {
            // A successPolicy rule met in this sync (FAIL-31); kept as it is when already there.
            ensure_condition(
                &mut plan.status,
                condition::SUCCESS_CRITERIA_MET,
                "True",
                &reason,
                &message,
                now,
            );
            succeed_job(job, &tally, &reason, &message, now, &mut plan);
        }
        // Step 7: manageJob, then completion, then the Suspended condition.
        None => run_job(job, &tally, replace_only_failed, config, now, &mut plan),
    }
    plan
}

const MSG_BACKOFF_LIMIT: &str = "Job has reached the specified backoff limit";
const MSG_DEADLINE: &str = "Job was active longer than specified deadline";
const MSG_COMPLETIONS_REACHED: &str = "Reached expected number of succeeded pods";
const MSG_MAX_FAILED_INDEXES: &str = "Job has exceeded the specified maximal number of failed indexes";
const MSG_FAILED_INDEXES: &str = "Job has failed indexes";
/// The deletion reason of scale-down victims (JOB-M3).
const REASON_SCALED_DOWN: &str = "ScaledDown";
/// The deletion reason of an Indexed Job's pod with no index or one ≥ `completions` (JOB-M3).
const REASON_INVALID_INDEX: &str = "InvalidCompletionIndex";
/// The deletion reason of an extra pod of an index another active pod holds (JOB-M3).
const REASON_DUPLICATE_INDEX: &str = "DuplicateCompletionIndex";
/// JOB-T5: the floor of a back-off requeue. Kubernetes floors it at 1 s because it batches pod
/// events for 1 s anyway; Drover syncs on each event, so a 1 s floor would stretch a short
/// back-off base (`--job-backoff-base 200ms`) and break the base·2^(n−1) sequence. 1 ms only
/// guards against a zero-delay loop.
const MIN_BACKOFF_REQUEUE: Duration = Duration::from_millis(1);

/// The pods of one sync, classified per JOB-C1..C3, before this sync's changes.
struct Tally<'a> {
    /// JOB-C1: not terminal, no deletionTimestamp.
    active: Vec<&'a Pod>,
    /// JOB-C2: deletionTimestamp set, not terminal.
    terminating: i32,
    /// The terminating pods themselves (JOB-M5 keeps their indexes in "Failed" replacement mode).
    terminating_pods: Vec<&'a Pod>,
}

impl<'a> Tally<'a> {
    fn of(pods: &'a [Pod]) -> Tally<'a> {
        let terminating_pods: Vec<&Pod> = pods.iter().filter(|p| p.is_terminating()).collect();
        Tally {
            active: pods.iter().filter(|p| p.is_active()).collect(),
            terminating: count(terminating_pods.iter()),
            terminating_pods,
        }
    }

    /// Writes `active`, `ready` and `terminating` as they are after the plan (§3.8): deleted pods
    /// move from active to terminating, created pods are active and not ready.
    fn write_counts(&self, plan: &mut JobPlan) {
        let deleted = |p: &&&Pod| plan.delete.iter().any(|d| d.name == p.metadata.name);
        let deleted_count = count(self.active.iter().filter(deleted));
        let ready_kept = count(self.active.iter().filter(|p| is_ready(p) && !deleted(p)));
        plan.status.active = count(self.active.iter()) - deleted_count + to_i32(plan.create);
        plan.status.ready = Some(ready_kept); // JOB-C3
        plan.status.terminating = Some(self.terminating + deleted_count);
    }
}

/// What step 4 decided.
enum Criterion {
    /// FailureTarget is (or becomes) True with this reason.
    Failure { reason: String, message: String },
    /// SuccessCriteriaMet is already True with this reason.
    Success { reason: String, message: String },
}

/// "Replace only failed pods" mode (JOB-C4, REP-2): `podReplacementPolicy: Failed`, or a
/// podFailurePolicy.
fn replace_only_failed(job: &Job) -> bool {
    job.spec.pod_replacement_policy.as_deref() == Some("Failed") || job.spec.pod_failure_policy.is_some()
}

/// JOB-C4: the pod is failed.
fn is_failed(pod: &Pod, replace_only_failed: bool) -> bool {
    if pod.status.phase == phase::FAILED {
        return true;
    }
    !replace_only_failed && pod.metadata.deletion_timestamp.is_some() && pod.status.phase != phase::SUCCEEDED
}

fn is_ready(pod: &Pod) -> bool {
    pod.condition_true("Ready")
}

fn has_finalizer(pod: &Pod) -> bool {
    pod.metadata.has_finalizer(JOB_TRACKING_FINALIZER)
}

/// Step 2 (JOB-C5, STAT-1): counts every pod that carries the tracking finalizer and has an
/// outcome, adds it to the counters and returns the finish times (FAIL-12) of the new successes
/// and the new failures of a command (not those the fleet caused, §10.9), for the back-off
/// record. A pod with no time at all is taken to have finished `now`, which errs on the side of
/// more back-off (RE-10).
fn count_new_outcomes(
    job: &Job,
    pods: &[Pod],
    replace_only_failed: bool,
    now: Time,
    plan: &mut JobPlan,
) -> NewOutcomes {
    let mut new = NewOutcomes::default();
    let indexed = is_indexed(job);
    for pod in pods.iter().filter(|p| has_finalizer(p)) {
        let mut fail_index = false;
        // JOB-C5: an Indexed Job's pod counts only with a valid index; one without is released
        // (its finalizer removed) and counts toward nothing.
        let finished = pod.status.phase == phase::SUCCEEDED || is_failed(pod, replace_only_failed);
        if indexed && finished && valid_index(job, pod).is_none() {
            record_outcome(pod, Outcome::Discarded, plan);
            continue;
        }
        let outcome = if pod.status.phase == phase::SUCCEEDED {
            Outcome::Succeeded
        } else if pod.status.phase == phase::FAILED
            && pod.status.reason.as_deref() == Some(REASON_WORKER_DRAINED)
        {
            Outcome::Disrupted
        } else if is_failed(pod, replace_only_failed) {
            // FAIL-13: the policy looks at pods in phase Failed only.
            match pod_failure_policy_match(job, pod) {
                Some(PolicyMatch { action, message }) if action == pod_failure_action::FAIL_JOB => {
                    new.fail_job.get_or_insert(message);
                    Outcome::Failed
                }
                Some(PolicyMatch { action, .. }) if action == pod_failure_action::IGNORE => Outcome::Ignored,
                Some(PolicyMatch { action, .. }) if action == pod_failure_action::FAIL_INDEX => {
                    fail_index = true;
                    Outcome::Failed
                }
                _ => Outcome::Failed,
            }
        } else {
            continue;
        };
        let finished = pod.finish_time().unwrap_or(now);
        if per_index(job)
            && matches!(outcome, Outcome::Failed | Outcome::Ignored)
            && let Some(index) = valid_index(job, pod)
        {
            let carried = index_failures_of(pod);
            // FAIL-20: the index fails when this pod already carried `backoffLimitPerIndex`
            // counted failures of it, or on a FailIndex rule.
            let limit = job.spec.backoff_limit_per_index.unwrap_or(0);
            if outcome == Outcome::Failed && (fail_index || carried.failed >= limit) {
                new.failed_indexes.push(index);
            }
            let record = index_record(carried, outcome, failed_by_fleet(pod), finished);
            // Two failed pods of one index counted together (duplicates): the later one counts.
            let newer = new
                .indexes
                .get(&index)
                .is_none_or(|r| r.failed + r.ignored <= record.failed + record.ignored);
            if newer {
                new.indexes.insert(index, record);
            }
        }
        match outcome {
            Outcome::Succeeded => new.successes.push(finished),
            // §10.9: a pod the fleet failed adds nothing to the back-off, counted or ignored.
            Outcome::Failed | Outcome::Ignored if failed_by_fleet(pod) => {}
            // FAIL-15: an ignored failure of the command still delays the replacement.
            Outcome::Failed | Outcome::Ignored => new.failures.push(finished),
            Outcome::Disrupted | Outcome::Discarded => {}
        }
        record_outcome(pod, outcome, plan);
    }
    if indexed {
        update_completed_indexes(job, pods, plan);
        if per_index(job) {
            update_failed_indexes(job, &new.failed_indexes, plan);
        }
    }
    new
}

/// FAIL-20, FAIL-21: with `backoffLimitPerIndex`, the indexes whose failure in this sync fails
/// them (`newly_failed`, found while counting) join `failedIndexes`, except an index that
/// completed (INV-9: the two lists never overlap, a success counted in the same sync wins).
/// `failedIndexes` is present (maybe empty) from the first sync on.
fn update_failed_indexes(job: &Job, newly_failed: &[i32], plan: &mut JobPlan) {
    let c = completions(job);
    let completed = completed_indexes(job, &plan.status);
    let mut failed = IndexSet::parse_lenient(plan.status.failed_indexes.as_deref().unwrap_or(""), c);
    for &index in newly_failed {
        if !completed.contains(index) {
            failed.insert(index);
        }
    }
    plan.status.failed_indexes = Some(failed.to_string());
}

/// `backoffLimitPerIndex` on an Indexed Job (FAIL-20).
fn per_index(job: &Job) -> bool {
    is_indexed(job) && job.spec.backoff_limit_per_index.is_some()
}

/// With `backoffLimitPerIndex`: the failures of one index before a pod, carried by the pod as
/// the annotations `batch.kubernetes.io/job-index-failure-count` and
/// `…job-index-ignored-failure-count` (FAIL-20).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IndexFailures {
    /// Counted failures.
    pub failed: i32,
    /// Failures a podFailurePolicy `Ignore` rule matched.
    pub ignored: i32,
}

/// FAIL-20 (JOB-M7): the annotations that carry an index's failures on its new pod; the ignored
/// count only when there were some.
pub fn apply_index_failures(pod: &mut Pod, failures: IndexFailures) {
    let annotations = &mut pod.metadata.annotations;
    annotations.insert(JOB_INDEX_FAILURE_COUNT.to_string(), failures.failed.to_string());
    if failures.ignored > 0 {
        annotations.insert(JOB_INDEX_IGNORED_FAILURE_COUNT.to_string(), failures.ignored.to_string());
    }
}

/// The failures a pod carries (0 when an annotation is missing or unreadable).
fn index_failures_of(pod: &Pod) -> IndexFailures {
    let read = |key: &str| {
        pod.metadata.annotations.get(key).and_then(|v| v.parse::<i32>().ok()).filter(|n| *n >= 0).unwrap_or(0)
    };
    IndexFailures { failed: read(JOB_INDEX_FAILURE_COUNT), ignored: read(JOB_INDEX_IGNORED_FAILURE_COUNT) }
}

/// FAIL-20, FAIL-22: an index's record after its failed pod is counted: the counts the pod
/// carried plus its own failure, counted or ignored, and its back-off (none for a failure the
/// fleet caused, §10.9).
fn index_record(carried: IndexFailures, outcome: Outcome, by_fleet: bool, finished: Time) -> IndexRecord {
    let (failed, ignored) = match outcome {
        Outcome::Ignored => (carried.failed, carried.ignored.saturating_add(1)),
        _ => (carried.failed.saturating_add(1), carried.ignored),
    };
    IndexRecord {
        failed,
        ignored,
        last_failure_time: (!by_fleet).then_some(finished),
        exponent: u32::try_from(carried.failed.saturating_add(carried.ignored)).unwrap_or(0),
    }
}

/// Indexed Jobs (§2.3 step 5, §3.8): the indexes of this sync's successes join
/// `completedIndexes`, and `succeeded` is the number of distinct completed indexes (JOB-5b), so a
/// second success of an index adds nothing (S47).
fn update_completed_indexes(job: &Job, pods: &[Pod], plan: &mut JobPlan) {
    let mut completed = completed_indexes(job, &plan.status);
    for counted in plan.count.iter().filter(|c| c.outcome == Outcome::Succeeded) {
        let pod = pods.iter().find(|p| p.metadata.name == counted.name);
        if let Some(index) = pod.and_then(|p| valid_index(job, p)) {
            completed.insert(index);
        }
    }
    plan.status.succeeded = to_i32(completed.count());
    plan.status.completed_indexes = (!completed.is_empty()).then(|| completed.to_string());
}

/// `status.completedIndexes` as the controller reads it (upstream `parseIndexesFromString`:
/// corrupt items skipped, cut below `completions`).
fn completed_indexes(job: &Job, status: &JobStatus) -> IndexSet {
    IndexSet::parse_lenient(status.completed_indexes.as_deref().unwrap_or(""), completions(job))
}

/// `completionMode: Indexed` (VAL-3).
pub fn is_indexed(job: &Job) -> bool {
    job.spec.is_indexed()
}

/// `spec.completions`; an Indexed Job always has it (VAL-3), 0 stands in for a missing one.
fn completions(job: &Job) -> i32 {
    job.spec.completions.unwrap_or(0)
}

/// JOB-M7: a pod's completion index, from the annotation `batch.kubernetes.io/job-completion-index`,
/// else the label of the same name. `None` when neither is there or the value is not a
/// non-negative integer (upstream `getCompletionIndex`).
pub fn completion_index(pod: &Pod) -> Option<i32> {
    let meta = &pod.metadata;
    let value =
        meta.annotations.get(JOB_COMPLETION_INDEX).or_else(|| meta.labels.get(JOB_COMPLETION_INDEX))?;
    value.parse::<i32>().ok().filter(|i| *i >= 0)
}

/// JOB-C5: the pod's completion index when it is valid, that is present and below `completions`.
fn valid_index(job: &Job, pod: &Pod) -> Option<i32> {
    completion_index(pod).filter(|i| *i < completions(job))
}

/// JOB-M7: what makes a pod created from an Indexed Job's template the pod of `index`: the
/// annotation and the label `batch.kubernetes.io/job-completion-index`, `JOB_COMPLETION_INDEX`
/// in every container and init container that does not define it, `spec.hostname` `<job>-<index>`, and
/// `generateName` `<job>-<index>-`, its job name part cut so the prefix fits 58 characters
/// (upstream `podGenerateNameWithIndex`), so the name is `<job>-<index>-<5 chars>`.
pub fn apply_completion_index(job: &Job, pod: &mut Pod, index: i32) {
    let name = &job.metadata.name;
    let value = index.to_string();
    pod.metadata.annotations.insert(JOB_COMPLETION_INDEX.to_string(), value.clone());
    pod.metadata.labels.insert(JOB_COMPLETION_INDEX.to_string(), value.clone());
    for container in pod.spec.init_containers.iter_mut().chain(&mut pod.spec.containers) {
        if !container.env.iter().any(|e| e.name == JOB_COMPLETION_INDEX_ENV) {
            container.env.push(EnvVar { name: JOB_COMPLETION_INDEX_ENV.to_string(), value: value.clone() });
        }
    }
    pod.spec.hostname = Some(format!("{name}-{index}"));
    const MAX_GENERATED_NAME_LENGTH: usize = 58;
    let suffix = format!("-{index}-");
    let keep = name.len().min(MAX_GENERATED_NAME_LENGTH.saturating_sub(suffix.len()));
    // Job names are DNS subdomains (VAL-9): ASCII, so any byte offset is a char boundary.
    let prefix = name.get(..keep).unwrap_or(name);
    pod.metadata.generate_name = Some(format!("{prefix}{suffix}"));
}

/// §10.9: the pod failed because of the fleet, not its command: its worker was lost
/// (`WorkerLost`), restarted (`WorkerRestarted`) or drained (`WorkerDrained`). Only the
/// coordinator and the worker agent set these reasons, always with `DisruptionTarget=True`.
fn failed_by_fleet(pod: &Pod) -> bool {
    pod.status.phase == phase::FAILED
        && pod.status.reason.as_deref().is_some_and(|r| DISRUPTION_REASONS.contains(&r))
}

/// What step 2 found among the pods it counted.
#[derive(Default)]
struct NewOutcomes {
    /// Finish times of the new successes, for the back-off record.
    successes: Vec<Time>,
    /// Finish times of the new failures of a command (ignored ones included, FAIL-15; none the
    /// fleet caused, §10.9), for the back-off record.
    failures: Vec<Time>,
    /// The message of the first new failure that matched a `FailJob` rule.
    fail_job: Option<String>,
    /// With `backoffLimitPerIndex`: the record of each index with a new failure (FAIL-20).
    indexes: BTreeMap<i32, IndexRecord>,
    /// With `backoffLimitPerIndex`: the indexes a new failure fails (FAIL-20).
    failed_indexes: Vec<i32>,
}

/// The first podFailurePolicy rule a failed pod matches (FAIL-14).
struct PolicyMatch<'a> {
    action: &'a str,
    /// The FailureTarget message, for `FailJob` (FAIL-15).
    message: String,
}

/// FAIL-14: rules in order, first match wins. `onExitCodes` looks at containers, then init
/// containers, that ended with a non-zero exit code (only the named one with `containerName`); `onPodConditions` at the
/// pod's conditions (`status` defaults to True).
fn pod_failure_policy_match<'a>(job: &'a Job, pod: &Pod) -> Option<PolicyMatch<'a>> {
    let policy = job.spec.pod_failure_policy.as_ref()?;
    for (index, rule) in policy.rules.iter().enumerate() {
        if let Some(codes) = &rule.on_exit_codes {
            // The containers first, then the init containers, as upstream's matchOnExitCodes.
            let statuses = pod.status.container_statuses.iter().chain(&pod.status.init_container_statuses);
            let failed = statuses.into_iter().find_map(|c| {
                let code = c.state.terminated.as_ref()?.exit_code;
                let named = codes.container_name.as_deref().is_none_or(|n| n == c.name);
                let listed = codes.values.contains(&code);
                let matches = match codes.operator.as_str() {
                    "In" => listed,
                    "NotIn" => !listed,
                    _ => false,
                };
                (code != 0 && named && matches).then_some((c.name.as_str(), code))
            });
            if let Some((container, code)) = failed {
                return Some(PolicyMatch {
                    action: &rule.action,
                    message: format!(
                        "Container {container} for pod {} failed with exit code {code} matching {} rule at index {index}",
                        pod.metadata.name, rule.action
                    ),
                });
            }
        } else {
            let condition = rule.on_pod_conditions.iter().find_map(|pattern| {
                let status = pattern.status.as_deref().unwrap_or("True");
                pod.status
                    .conditions
                    .iter()
                    .any(|c| c.type_ == pattern.type_ && c.status == status)
                    .then_some(pattern.type_.as_str())
            });
            if let Some(type_) = condition {
                return Some(PolicyMatch {
                    action: &rule.action,
                    message: format!(
                        "Pod {} has condition {type_} matching {} rule at index {index}",
                        pod.metadata.name, rule.action
                    ),
                });
            }
        }
    }
    None
}

fn record_outcome(pod: &Pod, outcome: Outcome, plan: &mut JobPlan) {
    match outcome {
        Outcome::Succeeded => plan.status.succeeded += 1,
        Outcome::Failed => plan.status.failed += 1,
        Outcome::Disrupted | Outcome::Ignored | Outcome::Discarded => {}
    }
    plan.count.push(CountedPod { name: pod.metadata.name.clone(), outcome });
}

/// Step 3: sets startTime on the first unsuspended sync; on resume (SUS-3) flips `Suspended` to
/// False, records `Resumed` and resets startTime, so the deadline means "seconds continuously
/// active" (ADS-4). Done before step 4, so a resumed Job never fails on its old startTime (S34).
fn start_or_resume(job: &Job, now: Time, plan: &mut JobPlan) {
    if job.suspended() {
        return;
    }
    let resumed = condition_true(&plan.status, condition::SUSPENDED).is_some()
        && ensure_condition(
            &mut plan.status,
            condition::SUSPENDED,
            "False",
            reason::JOB_RESUMED,
            "Job resumed",
            now,
        );
    if resumed {
        event(plan, "Normal", "Resumed", "Job resumed");
        plan.status.start_time = Some(now);
    } else if plan.status.start_time.is_none() {
        plan.status.start_time = Some(now);
    }
}

/// Step 4: the termination criteria, first match wins (§2.3, JOB-ORD-1). COND-2: only conditions
/// with status True are considered.
fn termination_criterion(
    job: &Job,
    pods: &[Pod],
    status: &JobStatus,
    fail_job: Option<String>,
    now: Time,
) -> Option<Criterion> {
    if let Some(c) = condition_true(status, condition::SUCCESS_CRITERIA_MET) {
        return Some(Criterion::Success { reason: c.reason.clone(), message: c.message.clone() });
    }
    if let Some(c) = condition_true(status, condition::FAILURE_TARGET) {
        return Some(Criterion::Failure { reason: c.reason.clone(), message: c.message.clone() });
    }
    // Step 4.3 (FAIL-15): a new failure matched a FailJob rule.
    if let Some(message) = fail_job {
        return Some(Criterion::Failure { reason: reason::POD_FAILURE_POLICY.to_string(), message });
    }
    // FAIL-2 and FAIL-3.
    if status.failed > job.backoff_limit() || past_backoff_limit_on_failure(job, pods) {
        return Some(Criterion::Failure {
            reason: reason::BACKOFF_LIMIT_EXCEEDED.to_string(),
            message: MSG_BACKOFF_LIMIT.to_string(),
        });
    }
    // ADS-1, ADS-4.
    if deadline_remaining(job, status, now) == Some(Duration::ZERO) {
        return Some(Criterion::Failure {
            reason: reason::DEADLINE_EXCEEDED.to_string(),
            message: MSG_DEADLINE.to_string(),
        });
    }
    // Step 5 (FAIL-21): failed indexes.
    if per_index(job) {
        let failed =
            IndexSet::parse_lenient(status.failed_indexes.as_deref().unwrap_or(""), completions(job));
        let failed = i64::try_from(failed.count()).unwrap_or(i64::MAX);
        if job.spec.max_failed_indexes.is_some_and(|max| failed > i64::from(max)) {
            return Some(Criterion::Failure {
                reason: reason::MAX_FAILED_INDEXES_EXCEEDED.to_string(),
                message: MSG_MAX_FAILED_INDEXES.to_string(),
            });
        }
        if failed > 0 && failed + i64::from(status.succeeded) >= i64::from(completions(job)) {
            return Some(Criterion::Failure {
                reason: reason::FAILED_INDEXES.to_string(),
                message: MSG_FAILED_INDEXES.to_string(),
            });
        }
    }
    // Step 5 (FAIL-30, FAIL-31): the success policy, once no failure criterion holds.
    if let Some(rule) = success_policy_match(job, status) {
        return Some(Criterion::Success {
            reason: reason::SUCCESS_POLICY.to_string(),
            message: format!("Matched rules at index {rule}"),
        });
    }
    None
}

/// FAIL-30: the first `successPolicy` rule the completed indexes meet, by its position. Only
/// `succeededIndexes`: every listed index succeeded. Only `succeededCount`: that many indexes
/// succeeded. Both: that many of the listed ones did. A rule with neither (refused on create)
/// never matches.
fn success_policy_match(job: &Job, status: &JobStatus) -> Option<usize> {
    if !is_indexed(job) {
        return None;
    }
    let policy = job.spec.success_policy.as_ref()?;
    let completed = completed_indexes(job, status);
    policy.rules.iter().position(|rule| {
        let listed = rule.succeeded_indexes.as_deref().map(|s| IndexSet::parse_lenient(s, completions(job)));
        let count = rule.succeeded_count.map(|n| usize::try_from(n.max(0)).unwrap_or(0));
        match (listed, count) {
            (Some(listed), None) => completed.count_common(&listed) == listed.count(),
            (None, Some(n)) => completed.count() >= n,
            (Some(listed), Some(n)) => completed.count_common(&listed) >= n,
            (None, None) => false,
        }
    })
}

/// FAIL-3: under `restartPolicy: OnFailure`, in-place restarts of pods still Pending or Running
/// count against `backoffLimit`.
fn past_backoff_limit_on_failure(job: &Job, pods: &[Pod]) -> bool {
    if job.spec.template.spec.restart_policy.as_deref() != Some("OnFailure") {
        return false;
    }
    let restarts: i64 = pods
        .iter()
        .filter(|p| p.status.phase == phase::PENDING || p.status.phase == phase::RUNNING)
        .map(|p| i64::from(p.restart_count()))
        .sum();
    let limit = i64::from(job.backoff_limit());
    if limit == 0 { restarts > 0 } else { restarts >= limit }
}

/// ADS-1: the time left before `activeDeadlineSeconds` runs out, measured from startTime; zero
/// once `now − startTime ≥ activeDeadlineSeconds` (inclusive). `None` without a deadline, without
/// a startTime, or while suspended (ADS-4).
fn deadline_remaining(job: &Job, status: &JobStatus, now: Time) -> Option<Duration> {
    let ads = job.spec.active_deadline_seconds?;
    let start = status.start_time?;
    if job.suspended() {
        return None;
    }
    let deadline = start + chrono::Duration::seconds(ads);
    Some((deadline - now).to_std().unwrap_or(Duration::ZERO))
}

/// Step 6 for a failing Job (FAIL-1, ADS-3): FailureTarget first, every active pod deleted with
/// its finalizer kept, every non-terminal pod still carrying the finalizer counted as failed now
/// (as upstream does), and `Failed` once no pod is active or terminating (COND-1).
fn fail_job(
    job: &Job,
    pods: &[Pod],
    tally: &Tally<'_>,
    reason: &str,
    message: &str,
    now: Time,
    plan: &mut JobPlan,
) {
    ensure_condition(&mut plan.status, condition::FAILURE_TARGET, "True", reason, message, now);
    for pod in &tally.active {
        plan.delete.push(deletion(pod, false, reason));
    }
    // FAIL-1: pods still running when the Job fails are counted as failed. Pods counted by step 2
    // are skipped, so nothing is counted twice.
    for pod in pods.iter().filter(|p| has_finalizer(p) && !p.is_terminal()) {
        if !plan.count.iter().any(|c| c.name == pod.metadata.name) {
            // JOB-C5: an Indexed Job's pod without a valid index is released, not counted.
            let outcome = if is_indexed(job) && valid_index(job, pod).is_none() {
                Outcome::Discarded
            } else {
                Outcome::Failed
            };
            record_outcome(pod, outcome, plan);
        }
    }
    tally.write_counts(plan);
    if plan.status.active == 0 && terminating(plan) == 0 {
        ensure_condition(&mut plan.status, condition::FAILED, "True", reason, message, now);
        event(plan, "Warning", reason, message); // JOB-M8
        finish(job, plan);
    }
}

/// Step 6 for a Job that already has SuccessCriteriaMet (step 4.1, FAIL-31): any lingering active
/// pod is deleted and not counted, and `Complete` follows once no pod is active or terminating.
fn succeed_job(job: &Job, tally: &Tally<'_>, reason: &str, message: &str, now: Time, plan: &mut JobPlan) {
    for pod in &tally.active {
        plan.delete.push(deletion(pod, true, reason));
    }
    tally.write_counts(plan);
    if plan.status.active == 0 && terminating(plan) == 0 {
        complete_job(job, reason, message, now, plan);
    }
}

/// Step 7: manageJob (§2.4), then completion (JOB-5), then the Suspended condition (SUS-1, SUS-2),
/// then the deadline timer (JOB-T4).
fn run_job(
    job: &Job,
    tally: &Tally<'_>,
    replace_only_failed: bool,
    config: &JobConfig,
    now: Time,
    plan: &mut JobPlan,
) {
    manage_job(job, tally, replace_only_failed, config, now, plan);
    tally.write_counts(plan);

    // JOB-5a, JOB-5b: `active` here is the count after this sync's deletions and creations.
    let succeeded = plan.status.succeeded;
    let complete = plan.status.active == 0
        && match job.spec.completions {
            None => succeeded > 0,
            Some(c) => succeeded >= c,
        };
    if complete {
        // JOB-5c: SuccessCriteriaMet, then Complete once nothing is terminating (COND-1).
        let reason = reason::COMPLETIONS_REACHED;
        ensure_condition(
            &mut plan.status,
            condition::SUCCESS_CRITERIA_MET,
            "True",
            reason,
            MSG_COMPLETIONS_REACHED,
            now,
        );
        if terminating(plan) == 0 {
            complete_job(job, reason, MSG_COMPLETIONS_REACHED, now, plan);
        }
        return;
    }
    if job.suspended()
        && ensure_condition(
            &mut plan.status,
            condition::SUSPENDED,
            "True",
            reason::JOB_SUSPENDED,
            "Job suspended",
            now,
        )
    {
        event(plan, "Normal", "Suspended", "Job suspended");
    }
    // JOB-T4: wake up when the deadline runs out.
    if let Some(left) = deadline_remaining(job, &plan.status, now) {
        requeue(plan, left);
    }
}

/// manageJob (§2.4): deletes (suspend JOB-M1, scale-down JOB-M3) or creates (JOB-M5), never both.
fn manage_job(
    job: &Job,
    tally: &Tally<'_>,
    replace_only_failed: bool,
    config: &JobConfig,
    now: Time,
    plan: &mut JobPlan,
) {
    let active = count(tally.active.iter());

    // JOB-M1: a suspended Job's active pods go, uncounted.
    if job.suspended() {
        for pod in removal_order(&tally.active) {
            plan.delete.push(deletion(pod, true, reason::JOB_SUSPENDED));
        }
        return;
    }

    // JOB-M2, JOB-M3: delete down to wantActive, victims per JOB-M4, uncounted. Deletion wins.
    // For Indexed Jobs `succeeded` is already the number of distinct completed indexes (JOB-5b).
    let want = want_active(job, plan.status.succeeded, active);
    let excess = usize::try_from(active - want).unwrap_or(0);
    let victims = if is_indexed(job) {
        indexed_victims(job, &tally.active, excess)
    } else {
        removal_order(&tally.active).into_iter().take(excess).map(|p| (p, REASON_SCALED_DOWN)).collect()
    };
    if !victims.is_empty() {
        for (pod, reason) in victims.into_iter().take(config.max_changes_per_sync) {
            plan.delete.push(deletion(pod, true, reason));
        }
        return;
    }

    // JOB-M5: in "replace only failed pods" mode (REP-2) terminating pods still hold their slot.
    let held = if replace_only_failed { tally.terminating } else { 0 };
    let diff = usize::try_from(want - held - active).unwrap_or(0);
    if diff == 0 {
        return;
    }
    // FAIL-10, FAIL-11, JOB-T5: hold creations back while the back-off runs. With
    // `backoffLimitPerIndex` each index has its own (FAIL-22, in `pending_indexes`).
    let left = plan.backoff.remaining(config.backoff_base, config.backoff_max, now);
    if left > Duration::ZERO && !per_index(job) {
        requeue(plan, left.max(MIN_BACKOFF_REQUEUE));
        return;
    }
    let capped = diff.min(config.max_changes_per_sync);
    if is_indexed(job) {
        let (indexes, wait) = pending_indexes(job, tally, replace_only_failed, plan, capped, config, now);
        if let Some(wait) = wait {
            requeue(plan, wait.max(MIN_BACKOFF_REQUEUE));
        }
        if per_index(job) {
            let carried = |i: &i32| {
                plan.backoff.indexes.get(i).map_or_else(IndexFailures::default, |r| IndexFailures {
                    failed: r.failed,
                    ignored: r.ignored,
                })
            };
            plan.index_failures = indexes.iter().map(|i| (*i, carried(i))).collect();
        }
        plan.create_indexes = indexes;
        plan.create = plan.create_indexes.len();
    } else {
        plan.create = capped;
    }
    // JOB-M5 caps one sync's creations; the rest are the next sync's, at once. Nothing else need
    // happen before it: the runtime does not sync a Job again for its own creations.
    if diff > config.max_changes_per_sync && plan.create == config.max_changes_per_sync {
        requeue(plan, Duration::ZERO);
    }
}

/// JOB-M5 for Indexed Jobs (upstream `firstPendingIndexes`): the `n` lowest indexes below
/// `completions` that are not completed, not held by an active pod, not failed (`failedIndexes`),
/// in "Failed" replacement mode (REP-2) not held by a terminating pod, and with
/// `backoffLimitPerIndex` not in their back-off (FAIL-22: the others are created meanwhile; the
/// shortest back-off left is returned, for a requeue).
fn pending_indexes(
    job: &Job,
    tally: &Tally<'_>,
    replace_only_failed: bool,
    plan: &JobPlan,
    n: usize,
    config: &JobConfig,
    now: Time,
) -> (Vec<i32>, Option<Duration>) {
    let (status, backoff) = (&plan.status, &plan.backoff);
    let c = completions(job);
    let mut taken = completed_indexes(job, status)
        .union(&IndexSet::parse_lenient(status.failed_indexes.as_deref().unwrap_or(""), c));
    let held = if replace_only_failed { &tally.terminating_pods[..] } else { &[] };
    for pod in tally.active.iter().chain(held) {
        if let Some(index) = valid_index(job, pod) {
            taken.insert(index);
        }
    }
    let mut wait: Option<Duration> = None;
    for (index, record) in &backoff.indexes {
        if taken.contains(*index) {
            continue;
        }
        let left = record.remaining(config.backoff_base, config.backoff_max, now);
        if left > Duration::ZERO {
            taken.insert(*index);
            wait = Some(wait.map_or(left, |w| w.min(left)));
        }
    }
    (taken.first_missing(c, n), wait)
}

/// JOB-M3 for Indexed Jobs (upstream `activePodsForRemoval`): these active pods always go, in
/// this order: pods with no index, the extra pods of each duplicated index (the pod kept is
/// the last in JOB-M4's victim order), pods whose index is ≥ `completions`. Then, if that is
/// fewer than `excess`, the remaining pods in JOB-M4's order.
fn indexed_victims<'a>(job: &Job, active: &[&'a Pod], excess: usize) -> Vec<(&'a Pod, &'static str)> {
    let mut no_index = Vec::new();
    let mut by_index: BTreeMap<i32, Vec<&'a Pod>> = BTreeMap::new();
    for pod in active {
        match completion_index(pod) {
            None => no_index.push((*pod, REASON_INVALID_INDEX)),
            Some(index) => by_index.entry(index).or_default().push(pod),
        }
    }
    let mut victims = no_index;
    let mut out_of_range = Vec::new();
    let mut kept = Vec::new();
    for (index, pods) in by_index {
        if index >= completions(job) {
            out_of_range.extend(pods.into_iter().map(|p| (p, REASON_INVALID_INDEX)));
            continue;
        }
        let mut pods = removal_order(&pods);
        kept.extend(pods.pop());
        victims.extend(pods.into_iter().map(|p| (p, REASON_DUPLICATE_INDEX)));
    }
    victims.extend(out_of_range);
    if victims.len() < excess {
        let more = excess - victims.len();
        victims.extend(removal_order(&kept).into_iter().take(more).map(|p| (p, REASON_SCALED_DOWN)));
    }
    victims
}

/// JOB-M2: the target number of active pods.
fn want_active(job: &Job, succeeded: i32, active: i32) -> i32 {
    let parallelism = job.parallelism().max(0);
    match job.spec.completions {
        // Work queue: once anything succeeded, let the running pods finish, start none (JOB-5a).
        None if succeeded > 0 => active,
        None => parallelism,
        Some(c) => (c - succeeded).clamp(0, parallelism),
    }
}

/// JOB-M4: active pods, first victims first.
fn removal_order<'a>(active: &[&'a Pod]) -> Vec<&'a Pod> {
    let mut pods = active.to_vec();
    pods.sort_by(|a, b| victim_order(a, b));
    pods
}

/// JOB-M4 (`controller.ActivePods`): unassigned before assigned; Pending before Unknown before
/// Running; not-ready before ready; ready for a shorter time first; more restarts first; newer
/// before older.
fn victim_order(a: &Pod, b: &Pod) -> Ordering {
    fn phase_rank(p: &Pod) -> u8 {
        match p.status.phase.as_str() {
            "Unknown" => 1,
            phase::RUNNING => 2,
            _ => 0,
        }
    }
    fn ready_since(p: &Pod) -> Option<Time> {
        p.status
            .conditions
            .iter()
            .find(|c| c.type_ == "Ready" && c.status == "True")
            .and_then(|c| c.last_transition_time)
    }
    a.node_name()
        .is_some()
        .cmp(&b.node_name().is_some())
        .then_with(|| phase_rank(a).cmp(&phase_rank(b)))
        .then_with(|| is_ready(a).cmp(&is_ready(b)))
        .then_with(|| {
            if is_ready(a) && is_ready(b) {
                newer_first(ready_since(a), ready_since(b))
            } else {
                Ordering::Equal
            }
        })
        .then_with(|| b.restart_count().cmp(&a.restart_count()))
        .then_with(|| newer_first(a.metadata.creation_timestamp, b.metadata.creation_timestamp))
}

/// Later times first; an unknown time sorts before any known one (upstream's `afterOrZero`).
fn newer_first(a: Option<Time>, b: Option<Time>) -> Ordering {
    match (a, b) {
        (Some(a), Some(b)) => b.cmp(&a),
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    }
}

/// JOB-5c, INV-6: `Complete` with the reason and message of SuccessCriteriaMet, completionTime,
/// and the events of JOB-M8.
fn complete_job(job: &Job, reason: &str, message: &str, now: Time, plan: &mut JobPlan) {
    ensure_condition(&mut plan.status, condition::COMPLETE, "True", reason, message, now);
    plan.status.completion_time = Some(now);
    if job.spec.completions.is_some_and(|c| plan.status.succeeded > c) {
        event(
            plan,
            "Warning",
            "TooManySucceededPods",
            "Too many succeeded pods running after completion count reached",
        );
    }
    event(plan, "Normal", "Completed", "Job completed");
    finish(job, plan);
}

/// The Job has just finished: drop the back-off record (FAIL-10) and wake up when the TTL runs
/// out (TTL-1). The finishing sync itself never deletes the Job, even with a TTL of 0: its status
/// is written first, and the next sync (requeued at once) deletes it.
fn finish(job: &Job, plan: &mut JobPlan) {
    plan.backoff = BackoffRecord::default();
    plan.requeue_after = None;
    if let Some(ttl) = job.spec.ttl_seconds_after_finished {
        requeue(plan, Duration::from_secs(u64::try_from(ttl).unwrap_or(0)));
    }
}

/// TTL-1, TTL-2 for a finished Job: delete it once `finished_at + ttlSecondsAfterFinished` has
/// been reached, otherwise wake up when it will be (a future finish time defers deletion).
fn apply_ttl(job: &Job, finished_at: Time, now: Time, plan: &mut JobPlan) {
    let Some(ttl) = job.spec.ttl_seconds_after_finished else {
        return;
    };
    let expiry = finished_at + chrono::Duration::seconds(i64::from(ttl));
    match (expiry - now).to_std() {
        Ok(left) if left > Duration::ZERO => requeue(plan, left),
        _ => plan.delete_job = true,
    }
}

/// TTL-1: when the Job finished, from its `Complete` or `Failed` condition. Falls back to
/// completionTime; `None` (never deleted by TTL) when neither is known.
fn finished_at(status: &JobStatus) -> Option<Time> {
    condition_true(status, condition::COMPLETE)
        .or_else(|| condition_true(status, condition::FAILED))
        .and_then(|c| c.last_transition_time)
        .or(status.completion_time)
}

fn deletion(pod: &Pod, uncount: bool, reason: &str) -> PodDeletion {
    PodDeletion { name: pod.metadata.name.clone(), uncount, reason: reason.to_string() }
}

fn terminating(plan: &JobPlan) -> i32 {
    plan.status.terminating.unwrap_or(0)
}

fn event(plan: &mut JobPlan, type_: &str, reason: &str, message: &str) {
    plan.events.push((type_.to_string(), reason.to_string(), message.to_string()));
}

/// Keeps the soonest of the wake-ups asked for.
fn requeue(plan: &mut JobPlan, after: Duration) {
    plan.requeue_after = Some(plan.requeue_after.map_or(after, |d| d.min(after)));
}

/// The condition of `type_` with status True (COND-2: False ones are ignored).
fn condition_true<'a>(status: &'a JobStatus, type_: &str) -> Option<&'a JobCondition> {
    status.conditions.iter().find(|c| c.type_ == type_ && c.status == "True")
}

/// Upstream's `ensureJobConditionStatus`: updates the condition of `type_` if its status, reason or
/// message differ, or appends it (never as False). Both times are `now` on any change. Returns
/// true when the list changed. Conditions are never removed (INV-3).
fn ensure_condition(
    status: &mut JobStatus,
    type_: &str,
    value: &str,
    reason: &str,
    message: &str,
    now: Time,
) -> bool {
    let new = JobCondition {
        type_: type_.to_string(),
        status: value.to_string(),
        reason: reason.to_string(),
        message: message.to_string(),
        last_transition_time: Some(now),
        last_probe_time: Some(now),
    };
    if let Some(c) = status.conditions.iter_mut().find(|c| c.type_ == type_) {
        if c.status == value && c.reason == reason && c.message == message {
            return false;
        }
        *c = new;
        return true;
    }
    if value == "False" {
        return false;
    }
    status.conditions.push(new);
    true
}

fn count<T>(items: impl Iterator<Item = T>) -> i32 {
    to_i32(items.count())
}

fn to_i32(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}
