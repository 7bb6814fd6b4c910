//! batch/v1 `Job`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::meta::{LabelSelector, ObjectMeta, Time};
use crate::pod::PodTemplateSpec;

/// The apiVersion of a Job.
pub const API_VERSION: &str = "batch/v1";
/// The kind of a Job.
pub const KIND: &str = "Job";

/// Kubernetes' batch/v1 `Job`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(rename = "io.k8s.api.batch.v1.Job")]
#[schemars(extend("x-kubernetes-group-version-kind" = [{"group": "batch", "kind": "Job", "version": "v1"}]))]
pub struct Job {
    /// Always `batch/v1` once stored.
    #[serde(default)]
    pub api_version: String,
    /// Always `Job` once stored.
    #[serde(default)]
    pub kind: String,
    /// Name, uid, labels and the rest.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// What the user asked for.
    #[serde(default)]
    pub spec: JobSpec,
    /// What the controller observed.
    #[serde(default)]
    pub status: JobStatus,
}

/// Kubernetes' `JobSpec`, the fields Drover implements plus those it accepts and validates.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(rename = "io.k8s.api.batch.v1.JobSpec")]
pub struct JobSpec {
    /// Upper bound on concurrently active pods. Defaults to 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallelism: Option<i32>,
    /// Successful pods needed. Unset with `parallelism` set selects the work-queue mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completions: Option<i32>,
    /// Failures tolerated before the Job fails. Defaults to 6.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff_limit: Option<i32>,
    /// Seconds the Job may be continuously active.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_deadline_seconds: Option<i64>,
    /// Seconds after finishing before the Job is deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl_seconds_after_finished: Option<i32>,
    /// True stops the Job's pods and creates none until it is false again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspend: Option<bool>,
    /// `NonIndexed` (the default) or `Indexed`: each pod then has a completion index, from 0 to
    /// `completions - 1`, in its `JOB_COMPLETION_INDEX` variable, and the Job is complete when
    /// every index has succeeded (`status.completedIndexes`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_mode: Option<String>,
    /// `TerminatingOrFailed` (the default) or `Failed` (the default, and the only value, with a
    /// `podFailurePolicy`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_replacement_policy: Option<String>,
    /// What a failed pod means for the Job, by its exit code or its conditions (FAIL-13..16):
    /// fail the Job at once, ignore the failure, count it, or (Indexed, with
    /// `backoffLimitPerIndex`) fail its index. Implies `restartPolicy: Never`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_failure_policy: Option<PodFailurePolicy>,
    /// Indexed Jobs: retries per index (FAIL-20). An index fails once this many of its pods
    /// failed after its first; the other indexes go on. `backoffLimit` then defaults to
    /// 2147483647.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff_limit_per_index: Option<i32>,
    /// Indexed Jobs with `backoffLimitPerIndex`: the Job fails (`MaxFailedIndexesExceeded`) once
    /// more indexes than this failed (FAIL-21).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_failed_indexes: Option<i32>,
    /// Indexed Jobs: when the Job succeeds before every index did (FAIL-30, FAIL-31).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub success_policy: Option<SuccessPolicy>,
    /// The selector over the Job's pods; generated unless `manualSelector` is true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<LabelSelector>,
    /// True turns off selector generation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manual_selector: Option<bool>,
    /// Drover extension: the work queue the pods take their tasks from. With `completions`
    /// set, each pod takes exactly one task; without, each pod drains the queue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<QueueSpec>,
    /// The pod template.
    #[serde(default)]
    pub template: PodTemplateSpec,
}

/// `spec.podFailurePolicy`: rules tried in order on each newly failed pod; the first match wins.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(rename = "io.k8s.api.batch.v1.PodFailurePolicy")]
pub struct PodFailurePolicy {
    /// At most 20.
    #[serde(default)]
    #[schemars(extend("x-kubernetes-list-type" = "atomic"))]
    pub rules: Vec<PodFailurePolicyRule>,
}

/// One rule: exactly one of `onExitCodes` and `onPodConditions`, and what to do on a match.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(rename = "io.k8s.api.batch.v1.PodFailurePolicyRule")]
pub struct PodFailurePolicyRule {
    /// `FailJob`, `Ignore` or `Count` (`FailIndex` needs Indexed Jobs, which Drover refuses).
    #[serde(default)]
    pub action: String,
    /// Matches on the exit code of a container that failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_exit_codes: Option<PodFailurePolicyOnExitCodes>,
    /// Matches on the pod's conditions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "atomic"))]
    pub on_pod_conditions: Vec<PodFailurePolicyOnPodCondition>,
}

/// `onExitCodes`: a non-zero exit code `In` or `NotIn` `values`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(rename = "io.k8s.api.batch.v1.PodFailurePolicyOnExitCodesRequirement")]
pub struct PodFailurePolicyOnExitCodes {
    /// Only this container's exit code, when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_name: Option<String>,
    /// `In` or `NotIn`.
    #[serde(default)]
    pub operator: String,
    /// 1 to 255 exit codes, ascending, no duplicates (`In` may not hold 0).
    #[serde(default)]
    #[schemars(extend("x-kubernetes-list-type" = "atomic"))]
    pub values: Vec<i32>,
}

/// `onPodConditions` pattern: a condition `type` with `status` (default `True`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(rename = "io.k8s.api.batch.v1.PodFailurePolicyOnPodConditionsPattern")]
pub struct PodFailurePolicyOnPodCondition {
    /// The condition type, e.g. `DisruptionTarget`.
    #[serde(rename = "type", default)]
    pub type_: String,
    /// `True` (the default), `False` or `Unknown`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
}

/// `spec.successPolicy`: rules tried in order; the first one met makes the Job succeed
/// (`SuccessCriteriaMet`, reason `SuccessPolicy`) and its remaining pods are terminated.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(rename = "io.k8s.api.batch.v1.SuccessPolicy")]
pub struct SuccessPolicy {
    /// 1 to 20 rules.
    #[serde(default)]
    #[schemars(extend("x-kubernetes-list-type" = "atomic"))]
    pub rules: Vec<SuccessPolicyRule>,
}

/// One success rule: at least one of `succeededIndexes` and `succeededCount`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(rename = "io.k8s.api.batch.v1.SuccessPolicyRule")]
pub struct SuccessPolicyRule {
    /// Indexes in the interval form (`"0,2-4"`): alone, met when all of them succeeded; with
    /// `succeededCount`, when that many of them did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub succeeded_indexes: Option<String>,
    /// Alone, met when this many indexes succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub succeeded_count: Option<i32>,
}

/// The actions of a [`PodFailurePolicyRule`].
pub mod pod_failure_action {
    /// The Job fails at once (reason `PodFailurePolicy`).
    pub const FAIL_JOB: &str = "FailJob";
    /// The failure is not counted toward `backoffLimit` or `status.failed`; the pod is replaced.
    pub const IGNORE: &str = "Ignore";
    /// The default handling.
    pub const COUNT: &str = "Count";
    /// Indexed Jobs with `backoffLimitPerIndex`: the pod's index fails at once, with no more
    /// retries.
    pub const FAIL_INDEX: &str = "FailIndex";
}

/// Drover extension: where a Job's tasks come from, and how a pod handles them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(rename = "dev.drover.api.v1.QueueSpec")]
pub struct QueueSpec {
    /// `amqp://…` (RabbitMQ) or `redis://…` (Redis). Its password is never printed.
    pub url: String,
    /// The queue (RabbitMQ) or list (Redis) name.
    pub name: String,
    /// `Exec` (default): the command runs once per task, with the task on stdin and in
    /// `DROVER_TASK`. `Stream`: one long-lived process per pod reads one task per line on stdin
    /// and answers one line per task on stdout (`ok` for success). `Noop`: no process; every
    /// task succeeds at once (for measuring the queue path).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handler: Option<String>,
    /// How long a taken task stays leased without a renewal (default 30). The worker renews
    /// it while the task runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_seconds: Option<i64>,
    /// Where the worker reads the broker's password, so that it is in no spec, event or
    /// output: the URL then names the user only (`amqp://drover@rabbitmq:5672/%2f`;
    /// `redis://rediss-host:6379` without a user), and each worker supplies the password from its
    /// own environment or a file, as a pod's `env[].valueFrom.secretKeyRef` would in Kubernetes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_from: Option<PasswordSource>,
}

/// `spec.queue.passwordFrom`: exactly one of `env` and `file`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(rename = "dev.drover.api.v1.PasswordSource")]
pub struct PasswordSource {
    /// A variable of the worker's environment that holds the password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<String>,
    /// A file on the worker's host that holds the password (one trailing newline is ignored),
    /// such as a Docker or Kubernetes secret mounted at `/run/secrets/NAME`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
}

/// Drover extension: task counts, on a Job (all its pods) and on each pod.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(rename = "dev.drover.api.v1.TaskCounts")]
pub struct TaskCounts {
    /// Tasks processed and acked. On a Job whose workers record their tasks in the task ledger
    /// (every worker of this version), the number of distinct tasks that succeeded: exact,
    /// however often a task ran.
    #[serde(default)]
    pub succeeded: i64,
    /// Task attempts whose command failed (the task was requeued).
    #[serde(default)]
    pub failed: i64,
    /// Tasks put back on the queue (after a failure, a termination or a lost lease).
    #[serde(default)]
    pub requeued: i64,
    /// Successful runs of a task that had already succeeded: execution is at least once (a
    /// task runs again after a lost lease or a killed worker), and this makes it visible. Not
    /// part of `succeeded`. Job only, from the task ledger.
    #[serde(default, skip_serializing_if = "is_zero_i64")]
    pub duplicates: i64,
}

fn is_zero_i64(n: &i64) -> bool {
    *n == 0
}

impl TaskCounts {
    /// The sum of two counts.
    pub fn plus(self, other: TaskCounts) -> TaskCounts {
        TaskCounts {
            succeeded: self.succeeded + other.succeeded,
            failed: self.failed + other.failed,
            requeued: self.requeued + other.requeued,
            duplicates: self.duplicates + other.duplicates,
        }
    }

    /// True when every count is zero.
    pub fn is_zero(&self) -> bool {
        *self == TaskCounts::default()
    }
}

/// Kubernetes' `JobStatus`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(rename = "io.k8s.api.batch.v1.JobStatus")]
pub struct JobStatus {
    /// Conditions in the order they were added.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "atomic", "x-kubernetes-patch-merge-key" = "type", "x-kubernetes-patch-strategy" = "merge"))]
    pub conditions: Vec<JobCondition>,
    /// When the Job was first (or last resumed and) started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<Time>,
    /// When the Job got `Complete=True`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_time: Option<Time>,
    /// Pods that are neither terminal nor terminating.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub active: i32,
    /// Active pods that report ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready: Option<i32>,
    /// Counted successful pods. Never decreases.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub succeeded: i32,
    /// Counted failed pods. Never decreases.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub failed: i32,
    /// Pods whose termination was requested and which have not finished yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terminating: Option<i32>,
    /// Indexed Jobs: the completed indexes, in the interval form of [`crate::IndexSet`]
    /// (`"1,3-5"`, semantics.md §3.8).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_indexes: Option<String>,
    /// Indexed Jobs with `backoffLimitPerIndex`: the failed indexes, in the same form.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_indexes: Option<String>,
    /// Drover extension: task counts over all the Job's pods (queue Jobs only); `succeeded` and
    /// `duplicates` from the Job's task ledger once a worker recorded a task in it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tasks: Option<TaskCounts>,
    /// Drover extension: the part of `tasks` that comes from pods already counted (and
    /// possibly removed). Folded in exactly once, with the pod's outcome. Its `succeeded` is what
    /// those pods reported; a Job with a task ledger takes `tasks.succeeded` from the ledger.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counted_tasks: Option<TaskCounts>,
}

fn is_zero(n: &i32) -> bool {
    *n == 0
}

/// One entry of `status.conditions`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(rename = "io.k8s.api.batch.v1.JobCondition")]
pub struct JobCondition {
    /// `Complete`, `Failed`, `FailureTarget`, `SuccessCriteriaMet` or `Suspended`.
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    /// A CamelCase reason.
    #[serde(default)]
    pub reason: String,
    /// A human-readable sentence.
    #[serde(default)]
    pub message: String,
    /// When the condition last changed status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<Time>,
    /// When the condition was last checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_probe_time: Option<Time>,
}

/// Condition types.
pub mod condition {
    /// The Job has finished successfully.
    pub const COMPLETE: &str = "Complete";
    /// The Job has finished with a failure.
    pub const FAILED: &str = "Failed";
    /// The Job will fail once its pods have terminated.
    pub const FAILURE_TARGET: &str = "FailureTarget";
    /// The Job will complete once its pods have terminated.
    pub const SUCCESS_CRITERIA_MET: &str = "SuccessCriteriaMet";
    /// The Job is suspended.
    pub const SUSPENDED: &str = "Suspended";
}

/// Condition and event reasons.
pub mod reason {
    /// More failures than `backoffLimit`.
    pub const BACKOFF_LIMIT_EXCEEDED: &str = "BackoffLimitExceeded";
    /// A failed pod matched a `FailJob` rule of the podFailurePolicy.
    pub const POD_FAILURE_POLICY: &str = "PodFailurePolicy";
    /// Active longer than `activeDeadlineSeconds`.
    pub const DEADLINE_EXCEEDED: &str = "DeadlineExceeded";
    /// Enough pods succeeded.
    pub const COMPLETIONS_REACHED: &str = "CompletionsReached";
    /// The Job was suspended.
    pub const JOB_SUSPENDED: &str = "JobSuspended";
    /// The Job was resumed.
    pub const JOB_RESUMED: &str = "JobResumed";
    /// Indexed: more indexes failed than `maxFailedIndexes`.
    pub const MAX_FAILED_INDEXES_EXCEEDED: &str = "MaxFailedIndexesExceeded";
    /// Indexed: every index ended, and some failed.
    pub const FAILED_INDEXES: &str = "FailedIndexes";
    /// A rule of `successPolicy` was met.
    pub const SUCCESS_POLICY: &str = "SuccessPolicy";
}

impl JobSpec {
    /// `completionMode: Indexed`.
    pub fn is_indexed(&self) -> bool {
        self.completion_mode.as_deref() == Some("Indexed")
    }
}

impl Job {
    /// `spec.parallelism` with its default.
    pub fn parallelism(&self) -> i32 {
        self.spec.parallelism.unwrap_or(1)
    }

    /// `spec.backoffLimit` with its default: 6, or 2147483647 with `backoffLimitPerIndex`.
    pub fn backoff_limit(&self) -> i32 {
        self.spec.backoff_limit.unwrap_or(if self.spec.backoff_limit_per_index.is_some() {
            i32::MAX
        } else {
            6
        })
    }

    /// True when `spec.suspend` is set.
    pub fn suspended(&self) -> bool {
        self.spec.suspend.unwrap_or(false)
    }

    /// The condition of `type_` with status `True`, if present.
    pub fn condition_true(&self, type_: &str) -> Option<&JobCondition> {
        self.status.conditions.iter().find(|c| c.type_ == type_ && c.status == "True")
    }

    /// True once the Job has `Complete=True` or `Failed=True` (JOB-T6).
    pub fn is_finished(&self) -> bool {
        self.condition_true(condition::COMPLETE).is_some() || self.condition_true(condition::FAILED).is_some()
    }

    /// The STATUS column of `get jobs`, as kube-apiserver 1.32 prints it: see
    /// [`crate::table::job_status`].
    pub fn display_status(&self) -> &'static str {
        crate::table::job_status(self)
    }

    /// Applies the batch/v1 defaults (semantics.md §1.1) in place.
    pub fn apply_defaults(&mut self) {
        if self.api_version.is_empty() {
            self.api_version = API_VERSION.to_string();
        }
        if self.kind.is_empty() {
            self.kind = KIND.to_string();
        }
        let spec = &mut self.spec;
        if spec.completions.is_none() && spec.parallelism.is_none() {
            spec.completions = Some(1);
            spec.parallelism = Some(1);
        }
        spec.parallelism.get_or_insert(1);
        spec.backoff_limit.get_or_insert(if spec.backoff_limit_per_index.is_some() { i32::MAX } else { 6 });
        spec.suspend.get_or_insert(false);
        spec.completion_mode.get_or_insert_with(|| "NonIndexed".to_string());
        // REP-2: with a podFailurePolicy only failed pods are replaced.
        let replacement = if spec.pod_failure_policy.is_some() { "Failed" } else { "TerminatingOrFailed" };
        spec.pod_replacement_policy.get_or_insert_with(|| replacement.to_string());
        if let Some(policy) = &mut spec.pod_failure_policy {
            for pattern in policy.rules.iter_mut().flat_map(|r| r.on_pod_conditions.iter_mut()) {
                pattern.status.get_or_insert_with(|| "True".to_string());
            }
        }
        spec.manual_selector.get_or_insert(false);
        if self.metadata.labels.is_empty() {
            self.metadata.labels = spec.template.metadata.labels.clone();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_duplicates_are_not_serialized_when_zero() {
        let json = serde_json::to_value(TaskCounts { succeeded: 3, ..Default::default() }).unwrap();
        assert_eq!(json, serde_json::json!({"succeeded": 3, "failed": 0, "requeued": 0}));
        let both = TaskCounts { succeeded: 3, duplicates: 1, ..Default::default() };
        let json = serde_json::to_value(both).unwrap();
        assert_eq!(json["duplicates"], 1);
        assert_eq!(serde_json::from_value::<TaskCounts>(json).unwrap(), both);
        assert_eq!(both.plus(both).duplicates, 2);
    }
}
