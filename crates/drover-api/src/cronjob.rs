//! batch/v1 `CronJob` (batch/v1beta1 is accepted on input and stored as batch/v1: the two
//! shapes are the same).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::job::JobSpec;
use crate::meta::{ObjectMeta, Time};

/// The apiVersion of a stored CronJob.
pub const API_VERSION: &str = "batch/v1";
/// The older apiVersion the article this project started from uses; accepted on input.
pub const API_VERSION_V1BETA1: &str = "batch/v1beta1";
/// The kind of a CronJob.
pub const KIND: &str = "CronJob";

/// The annotation holding a child Job's nominal scheduled time, in RFC 3339 in the CronJob's zone.
pub const SCHEDULED_TIMESTAMP_ANNOTATION: &str = "batch.kubernetes.io/cronjob-scheduled-timestamp";
/// The annotation `create job --from=cronjob/X` puts on a manually triggered Job (as kubectl).
pub const INSTANTIATE_ANNOTATION: &str = "cronjob.kubernetes.io/instantiate";

/// The most entries `status.missedSchedules` keeps; older ones are dropped.
pub const MISSED_SCHEDULES_LIMIT: usize = 20;

/// Kubernetes' batch/v1 `CronJob`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(rename = "io.k8s.api.batch.v1.CronJob")]
#[schemars(extend("x-kubernetes-group-version-kind" = [{"group": "batch", "kind": "CronJob", "version": "v1"}]))]
pub struct CronJob {
    /// `batch/v1` once stored.
    #[serde(default)]
    pub api_version: String,
    /// Always `CronJob`.
    #[serde(default)]
    pub kind: String,
    /// Name, uid, labels and the rest.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// What the user asked for.
    #[serde(default)]
    pub spec: CronJobSpec,
    /// What the controller observed.
    #[serde(default)]
    pub status: CronJobStatus,
}

/// Kubernetes' `CronJobSpec`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(rename = "io.k8s.api.batch.v1.CronJobSpec")]
pub struct CronJobSpec {
    /// Five cron fields, a macro such as `@hourly`, or `@every <duration>`.
    #[serde(default)]
    pub schedule: String,
    /// An IANA zone name such as `Europe/Berlin`. Unset means the coordinator's zone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    /// A run that cannot start within this many seconds of its scheduled time is missed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starting_deadline_seconds: Option<i64>,
    /// `Allow` (default), `Forbid` or `Replace`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency_policy: Option<String>,
    /// True creates no new Jobs; running ones are untouched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspend: Option<bool>,
    /// Finished successful Jobs kept (default 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub successful_jobs_history_limit: Option<i32>,
    /// Finished failed Jobs kept (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_jobs_history_limit: Option<i32>,
    /// The Job each run creates.
    #[serde(default)]
    pub job_template: JobTemplateSpec,
}

/// Kubernetes' `JobTemplateSpec`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(rename = "io.k8s.api.batch.v1.JobTemplateSpec")]
pub struct JobTemplateSpec {
    /// Labels and annotations copied to each Job.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// The Job spec copied to each Job.
    #[serde(default)]
    pub spec: JobSpec,
}

/// Kubernetes' `CronJobStatus`, plus Drover's record of missed runs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(rename = "io.k8s.api.batch.v1.CronJobStatus")]
pub struct CronJobStatus {
    /// The Jobs this CronJob started that have not finished.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "atomic"))]
    pub active: Vec<ObjectReference>,
    /// The nominal time of the last Job created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_schedule_time: Option<Time>,
    /// The latest completion time among the successful Jobs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_successful_time: Option<Time>,
    /// Drover extension: the latest scheduled time recorded as missed. Times up to it are never
    /// reported again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_missed_time: Option<Time>,
    /// Drover extension: the most recent runs that did not start, newest last, at most 20
    /// ([`MISSED_SCHEDULES_LIMIT`]). Kubernetes drops these silently (semantics.md RE-12, §10.7).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "atomic"))]
    pub missed_schedules: Vec<MissedSchedule>,
}

/// Kubernetes' `ObjectReference`, the fields `status.active` uses.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(rename = "io.k8s.api.core.v1.ObjectReference")]
pub struct ObjectReference {
    /// `batch/v1`.
    #[serde(default)]
    pub api_version: String,
    /// `Job`.
    #[serde(default)]
    pub kind: String,
    /// The Job's name.
    #[serde(default)]
    pub name: String,
    /// `default`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// The Job's uid.
    #[serde(default)]
    pub uid: String,
}

/// One scheduled time (or a run of them) that did not start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(rename = "dev.drover.api.v1.MissedSchedule")]
pub struct MissedSchedule {
    /// The nominal scheduled time (the latest one when `count` > 1).
    pub scheduled_time: Time,
    /// Why: `Forbid` (a previous Job was still active), `StartingDeadlineExceeded`, `Suspended`,
    /// or `Superseded` (several times were due at once, for example after the coordinator was
    /// down, and only the latest ran).
    pub reason: String,
    /// How many scheduled times this entry stands for (1 unless several were missed at once).
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub count: u64,
    /// The earliest scheduled time covered, when `count` > 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_scheduled_time: Option<Time>,
}

fn one() -> u64 {
    1
}

fn is_one(n: &u64) -> bool {
    *n == 1
}

/// Reasons of [`MissedSchedule`] and the CronJob controller's events.
pub mod reason {
    /// A previous Job was still active under `concurrencyPolicy: Forbid`.
    pub const FORBID: &str = "Forbid";
    /// The run could not start within `startingDeadlineSeconds`.
    pub const STARTING_DEADLINE_EXCEEDED: &str = "StartingDeadlineExceeded";
    /// The CronJob was suspended.
    pub const SUSPENDED: &str = "Suspended";
    /// Several times were due at once and only the latest ran.
    pub const SUPERSEDED: &str = "Superseded";
}

/// `spec.concurrencyPolicy` values.
pub mod policy {
    /// Runs may overlap.
    pub const ALLOW: &str = "Allow";
    /// A run is skipped while a previous one is active.
    pub const FORBID: &str = "Forbid";
    /// A run replaces the active ones.
    pub const REPLACE: &str = "Replace";
}

impl CronJob {
    /// `spec.concurrencyPolicy` with its default.
    pub fn concurrency_policy(&self) -> &str {
        self.spec.concurrency_policy.as_deref().unwrap_or(policy::ALLOW)
    }

    /// True when `spec.suspend` is set.
    pub fn suspended(&self) -> bool {
        self.spec.suspend.unwrap_or(false)
    }

    /// `spec.successfulJobsHistoryLimit` with its default.
    pub fn successful_jobs_history_limit(&self) -> i32 {
        self.spec.successful_jobs_history_limit.unwrap_or(3)
    }

    /// `spec.failedJobsHistoryLimit` with its default.
    pub fn failed_jobs_history_limit(&self) -> i32 {
        self.spec.failed_jobs_history_limit.unwrap_or(1)
    }

    /// Applies the batch/v1 defaults (semantics.md §6.1) in place; batch/v1beta1 becomes batch/v1.
    pub fn apply_defaults(&mut self) {
        self.api_version = API_VERSION.to_string();
        if self.kind.is_empty() {
            self.kind = KIND.to_string();
        }
        let spec = &mut self.spec;
        spec.concurrency_policy.get_or_insert_with(|| policy::ALLOW.to_string());
        spec.suspend.get_or_insert(false);
        spec.successful_jobs_history_limit.get_or_insert(3);
        spec.failed_jobs_history_limit.get_or_insert(1);
    }
}
