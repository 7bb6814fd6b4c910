//! Fixture builders shared by the `decide` table tests and the multi-sync simulation.
//!
//! Times are relative to a fixed `now()`; nothing reads the clock.
#![allow(dead_code)] // each test binary uses a different subset

use chrono::{TimeZone, Utc};
use drover_api::job::condition;
use drover_api::labels::JOB_TRACKING_FINALIZER;
use drover_api::pod::{PodCondition, StateRunning, StateTerminated, phase};
use drover_api::{ContainerStatus, Job, JobCondition, Pod, Time};

/// The fixed "current time" of the table tests.
pub(crate) fn now() -> Time {
    Utc.with_ymd_and_hms(2025, 1, 1, 12, 0, 0).unwrap()
}

/// `n` seconds before `now()`.
pub(crate) fn ago(n: i64) -> Time {
    now() - chrono::Duration::seconds(n)
}

/// `n` seconds after `now()`.
pub(crate) fn later(n: i64) -> Time {
    now() + chrono::Duration::seconds(n)
}

/// A Job under construction. `job()` is P=1, C=1, backoffLimit=6, restartPolicy Never, started
/// 60 s ago (the defaults of semantics.md §7).
#[derive(Clone)]
pub(crate) struct JobBuilder(Job);

/// A running Job with the §7 defaults.
pub(crate) fn job() -> JobBuilder {
    let mut j = Job::default();
    j.metadata.name = "job".into();
    j.metadata.uid = "job-uid".into();
    j.spec.parallelism = Some(1);
    j.spec.completions = Some(1);
    j.spec.template.spec.restart_policy = Some("Never".into());
    j.apply_defaults();
    j.status.start_time = Some(ago(60));
    JobBuilder(j)
}

impl JobBuilder {
    pub(crate) fn parallelism(mut self, p: i32) -> Self {
        self.0.spec.parallelism = Some(p);
        self
    }
    pub(crate) fn completions(mut self, c: i32) -> Self {
        self.0.spec.completions = Some(c);
        self
    }
    /// completions unset: the work-queue mode (JOB-5a).
    pub(crate) fn work_queue(mut self) -> Self {
        self.0.spec.completions = None;
        self
    }
    pub(crate) fn backoff_limit(mut self, n: i32) -> Self {
        self.0.spec.backoff_limit = Some(n);
        self
    }
    pub(crate) fn deadline(mut self, secs: i64) -> Self {
        self.0.spec.active_deadline_seconds = Some(secs);
        self
    }
    pub(crate) fn ttl(mut self, secs: i32) -> Self {
        self.0.spec.ttl_seconds_after_finished = Some(secs);
        self
    }
    pub(crate) fn suspend(mut self, s: bool) -> Self {
        self.0.spec.suspend = Some(s);
        self
    }
    /// `podReplacementPolicy: Failed` (REP-2).
    pub(crate) fn replace_failed_only(mut self) -> Self {
        self.0.spec.pod_replacement_policy = Some("Failed".into());
        self
    }
    pub(crate) fn on_failure(mut self) -> Self {
        self.0.spec.template.spec.restart_policy = Some("OnFailure".into());
        self
    }
    /// Never synced yet: no startTime.
    pub(crate) fn fresh(mut self) -> Self {
        self.0.status.start_time = None;
        self
    }
    pub(crate) fn started(mut self, at: Time) -> Self {
        self.0.status.start_time = Some(at);
        self
    }
    /// Outcomes counted by earlier syncs.
    pub(crate) fn counted(mut self, succeeded: i32, failed: i32) -> Self {
        self.0.status.succeeded = succeeded;
        self.0.status.failed = failed;
        self
    }
    /// A condition from an earlier sync, changed at `at`.
    pub(crate) fn condition(
        mut self,
        type_: &str,
        status: &str,
        reason: &str,
        message: &str,
        at: Time,
    ) -> Self {
        self.0.status.conditions.push(JobCondition {
            type_: type_.into(),
            status: status.into(),
            reason: reason.into(),
            message: message.into(),
            last_transition_time: Some(at),
            last_probe_time: Some(at),
        });
        self
    }
    /// Finished by an earlier sync at `at`: SuccessCriteriaMet, Complete, completionTime.
    pub(crate) fn completed_at(self, at: Time) -> Self {
        let msg = "Reached expected number of succeeded pods";
        let mut b = self
            .condition(condition::SUCCESS_CRITERIA_MET, "True", "CompletionsReached", msg, at)
            .condition(condition::COMPLETE, "True", "CompletionsReached", msg, at);
        b.0.status.completion_time = Some(at);
        b.0.status.ready = Some(0);
        b.0.status.terminating = Some(0);
        b
    }
    /// Failed by an earlier sync at `at` with BackoffLimitExceeded.
    pub(crate) fn failed_at(self, at: Time) -> Self {
        let msg = "Job has reached the specified backoff limit";
        self.condition(condition::FAILURE_TARGET, "True", "BackoffLimitExceeded", msg, at).condition(
            condition::FAILED,
            "True",
            "BackoffLimitExceeded",
            msg,
            at,
        )
    }
    /// A podFailurePolicy of these rules (and `podReplacementPolicy: Failed`, its default).
    pub(crate) fn pod_failure_policy(mut self, rules: Vec<drover_api::PodFailurePolicyRule>) -> Self {
        self.0.spec.pod_failure_policy = Some(drover_api::PodFailurePolicy { rules });
        self.0.spec.pod_replacement_policy = Some("Failed".into());
        self
    }
    /// `completionMode: Indexed`.
    pub(crate) fn indexed(mut self) -> Self {
        self.0.spec.completion_mode = Some("Indexed".into());
        self
    }
    /// `status.completedIndexes` from earlier syncs, with `succeeded` its size.
    pub(crate) fn completed_indexes(mut self, indexes: &str, succeeded: i32) -> Self {
        self.0.status.completed_indexes = Some(indexes.into());
        self.0.status.succeeded = succeeded;
        self
    }
    /// `backoffLimitPerIndex: n`, with `backoffLimit` at the default it then takes (MaxInt32).
    pub(crate) fn per_index(mut self, n: i32) -> Self {
        self.0.spec.backoff_limit_per_index = Some(n);
        self.0.spec.backoff_limit = Some(i32::MAX);
        self
    }
    /// `maxFailedIndexes: n`.
    pub(crate) fn max_failed_indexes(mut self, n: i32) -> Self {
        self.0.spec.max_failed_indexes = Some(n);
        self
    }
    /// `status.failedIndexes` from earlier syncs.
    pub(crate) fn failed_indexes(mut self, indexes: &str) -> Self {
        self.0.status.failed_indexes = Some(indexes.into());
        self
    }
    /// `successPolicy` of these rules: `(succeededIndexes, succeededCount)`.
    pub(crate) fn success_policy(mut self, rules: &[(Option<&str>, Option<i32>)]) -> Self {
        let rules = rules
            .iter()
            .map(|(indexes, count)| drover_api::SuccessPolicyRule {
                succeeded_indexes: indexes.map(String::from),
                succeeded_count: *count,
            })
            .collect();
        self.0.spec.success_policy = Some(drover_api::SuccessPolicy { rules });
        self
    }
    /// Termination of the Job itself was requested (DEL-2).
    pub(crate) fn deleting(mut self) -> Self {
        self.0.metadata.deletion_timestamp = Some(ago(1));
        self
    }
    pub(crate) fn build(self) -> Job {
        self.0
    }
}

/// A pod under construction. Unnamed pods are named `pod-<position>` by the table's `check`.
#[derive(Clone)]
pub(crate) struct PodBuilder(Pod);

fn pod(phase_: &str) -> PodBuilder {
    let mut p = Pod::default();
    p.metadata.finalizers = vec![JOB_TRACKING_FINALIZER.to_string()];
    p.metadata.creation_timestamp = Some(ago(30));
    p.spec.node_name = Some("w1".into());
    p.status.phase = phase_.into();
    p.status.container_statuses = vec![ContainerStatus { name: "main".into(), ..Default::default() }];
    PodBuilder(p)
}

/// Bound to a worker and running, not ready.
pub(crate) fn pod_running() -> PodBuilder {
    let mut b = pod(phase::RUNNING);
    b.0.status.container_statuses[0].state.running = Some(StateRunning { started_at: Some(ago(29)) });
    b
}

/// Not bound to a worker yet.
pub(crate) fn pod_pending() -> PodBuilder {
    let mut b = pod(phase::PENDING);
    b.0.spec.node_name = None;
    b
}

/// Exited 0 at `at`, outcome not counted yet.
pub(crate) fn pod_succeeded_at(at: Time) -> PodBuilder {
    pod(phase::SUCCEEDED).exited(0, at)
}

/// Exited 0 at `now()`.
pub(crate) fn pod_succeeded() -> PodBuilder {
    pod_succeeded_at(now())
}

/// Exited 1 at `at`, outcome not counted yet.
pub(crate) fn pod_failed_at(at: Time) -> PodBuilder {
    pod(phase::FAILED).exited(1, at)
}

/// Exited 1 at `now()`.
pub(crate) fn pod_failed() -> PodBuilder {
    pod_failed_at(now())
}

/// A podFailurePolicy rule on exit codes.
pub(crate) fn on_exit_codes(
    action: &str,
    container: Option<&str>,
    operator: &str,
    values: &[i32],
) -> drover_api::PodFailurePolicyRule {
    drover_api::PodFailurePolicyRule {
        action: action.into(),
        on_exit_codes: Some(drover_api::PodFailurePolicyOnExitCodes {
            container_name: container.map(str::to_string),
            operator: operator.into(),
            values: values.to_vec(),
        }),
        on_pod_conditions: Vec::new(),
    }
}

/// A podFailurePolicy rule on a pod condition (`status` left to its default, True).
pub(crate) fn on_pod_condition(action: &str, type_: &str) -> drover_api::PodFailurePolicyRule {
    drover_api::PodFailurePolicyRule {
        action: action.into(),
        on_exit_codes: None,
        on_pod_conditions: vec![drover_api::PodFailurePolicyOnPodCondition {
            type_: type_.into(),
            status: None,
        }],
    }
}

/// Exited with `code` at `now()`, outcome not counted yet.
pub(crate) fn pod_failed_with(code: i32) -> PodBuilder {
    pod(phase::FAILED).exited(code, now())
}

impl PodBuilder {
    /// The completion index annotation (JOB-M7), as the controller sets it.
    pub(crate) fn index(self, i: i32) -> Self {
        self.annotation(drover_api::labels::JOB_COMPLETION_INDEX, &i.to_string())
    }
    pub(crate) fn annotation(mut self, key: &str, value: &str) -> Self {
        self.0.metadata.annotations.insert(key.into(), value.into());
        self
    }
    pub(crate) fn label(mut self, key: &str, value: &str) -> Self {
        self.0.metadata.labels.insert(key.into(), value.into());
        self
    }
    pub(crate) fn named(mut self, name: &str) -> Self {
        self.0.metadata.name = name.into();
        self
    }
    fn exited(mut self, code: i32, at: Time) -> Self {
        self.0.status.container_statuses[0].state.running = None;
        self.0.status.container_statuses[0].state.terminated = Some(StateTerminated {
            exit_code: code,
            reason: if code == 0 { "Completed".into() } else { "Error".into() },
            finished_at: Some(at),
            ..Default::default()
        });
        self
    }
    /// Ready=True since `ago(10)`.
    pub(crate) fn ready(self) -> Self {
        self.ready_since(ago(10))
    }
    pub(crate) fn ready_since(mut self, at: Time) -> Self {
        self.0.status.conditions.push(PodCondition {
            type_: "Ready".into(),
            status: "True".into(),
            reason: None,
            message: None,
            last_transition_time: Some(at),
        });
        self.0.status.container_statuses[0].ready = true;
        self
    }
    /// Termination requested at `now()` with a 30 s grace period (finish time `ago(30)`, FAIL-12).
    pub(crate) fn terminating(mut self) -> Self {
        self.0.metadata.deletion_timestamp = Some(now());
        self.0.metadata.deletion_grace_period_seconds = Some(30);
        self
    }
    /// Outcome already counted: the tracking finalizer is gone (JOB-C5).
    pub(crate) fn counted(mut self) -> Self {
        self.0.metadata.finalizers.clear();
        self
    }
    /// A pod condition `type_`=`status`.
    pub(crate) fn condition(mut self, type_: &str, status: &str) -> Self {
        self.0.status.conditions.push(PodCondition {
            type_: type_.into(),
            status: status.into(),
            reason: None,
            message: None,
            last_transition_time: Some(ago(1)),
        });
        self
    }
    /// Cut off by a worker's graceful drain: reason `WorkerDrained` (a disruption).
    pub(crate) fn drained(self) -> Self {
        self.failed_by_fleet("WorkerDrained")
    }
    /// Failed by the coordinator because its worker stopped heartbeating.
    /// With `backoffLimitPerIndex`: the failures of its index before it (FAIL-20).
    pub(crate) fn failures(self, failed: i32, ignored: i32) -> Self {
        let b = self.annotation(drover_api::labels::JOB_INDEX_FAILURE_COUNT, &failed.to_string());
        if ignored > 0 {
            b.annotation(drover_api::labels::JOB_INDEX_IGNORED_FAILURE_COUNT, &ignored.to_string())
        } else {
            b
        }
    }
    pub(crate) fn lost(self) -> Self {
        self.failed_by_fleet("WorkerLost")
    }
    /// Failed by the coordinator because its worker's agent restarted.
    pub(crate) fn restarted(self) -> Self {
        self.failed_by_fleet("WorkerRestarted")
    }
    /// Failed by the fleet, not by its command (§10.9): `reason` and `DisruptionTarget=True`, as
    /// the coordinator's `fail_pod` and the worker's drain set them.
    pub(crate) fn failed_by_fleet(mut self, reason: &str) -> Self {
        self.0.status.phase = phase::FAILED.into();
        self.0.status.reason = Some(reason.into());
        self.condition("DisruptionTarget", "True")
    }
    pub(crate) fn assigned(mut self) -> Self {
        self.0.spec.node_name = Some("w1".into());
        self
    }
    pub(crate) fn unassigned(mut self) -> Self {
        self.0.spec.node_name = None;
        self
    }
    pub(crate) fn restarts(mut self, n: i32) -> Self {
        self.0.status.container_statuses[0].restart_count = n;
        self
    }
    /// `n` in-place restarts of an init container (the pod's container not started yet).
    pub(crate) fn init_restarts(mut self, n: i32) -> Self {
        let mut init = self.0.status.container_statuses[0].clone();
        init.name = "init".into();
        init.restart_count = n;
        self.0.status.init_container_statuses = vec![init];
        self
    }
    pub(crate) fn created(mut self, at: Time) -> Self {
        self.0.metadata.creation_timestamp = Some(at);
        self
    }
    pub(crate) fn build(self) -> Pod {
        self.0
    }
}
