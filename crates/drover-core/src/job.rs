//! The Job controller's decision: `decide(job, pods, backoff, config, now) -> JobPlan`.
//!
//! A port of kubernetes/kubernetes `pkg/controller/job/job_controller.go` (syncJob, manageJob),
//! returning a plan instead of calling the API. See semantics.md §2–§5 and §10 for the rules;
//! rule ids (JOB-M3, FAIL-2, …) are cited where they are applied.

use std::time::Duration;

use drover_api::{Job, JobStatus, Pod, Time};

use crate::backoff::BackoffRecord;

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
    /// down JOB-M3, suspend JOB-M1). False when the pod will be counted as failed (the Job is
    /// failing: FAIL-1, ADS-3).
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
    /// Pods whose termination is requested. Never non-empty together with `create > 0`
    /// (JOB-M3: deletion wins).
    pub delete: Vec<PodDeletion>,
    /// Events to record on the Job: `(type, reason, message)`.
    pub events: Vec<(String, String, String)>,
    /// The back-off record to persist (FAIL-10, §10.3).
    pub backoff: BackoffRecord,
    /// When the Job must be synced again even if nothing changes (back-off expiry, deadline,
    /// TTL). `None` means wait for a change.
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
/// # Guarantees
/// - Never both creates and deletes.
/// - Never creates pods for a finished, suspended or failing Job.
/// - Counters never decrease; a pod is counted only while it carries the tracking finalizer.
pub fn decide(job: &Job, pods: &[Pod], backoff: &BackoffRecord, config: &JobConfig, now: Time) -> JobPlan {
    let _ = (job, pods, backoff, config, now);
    unimplemented!("decide is being written")
}
