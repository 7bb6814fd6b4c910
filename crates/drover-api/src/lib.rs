//! Drover's resource model, in the Kubernetes shapes.
//!
//! This crate owns the types that cross every boundary: batch/v1 `Job` and `CronJob`, the subset of core/v1
//! `Pod` that a process runtime needs, Drover's own `Worker`, and core/v1 `Event`. It also owns
//! validation on create (`validation`), manifest parsing (`manifest`), PATCH semantics (`patch`),
//! Kubernetes protobuf request bodies read as JSON (`protobuf`), CronJob schedules (`cron`), sets
//! of completion indexes in their interval form (`indexes`), the one Go-duration parser
//! (`duration`), the server-side tables `kubectl get` prints (`table`),
//! each kind's names and paths (`resource`) and the OpenAPI documents derived from the types
//! (`openapi`).
//!
//! It must not do IO, read the clock or depend on anything async: every function here is a pure
//! function of its arguments, so the coordinator, the worker, the CLI and the tests all agree on
//! what an object means.
#![deny(missing_docs)]

pub mod cron;
pub mod cronjob;
pub mod duration;
pub mod indexes;
pub mod job;
pub mod manifest;
pub mod meta;
pub mod openapi;
pub mod patch;
pub mod pod;
pub mod protobuf;
pub mod protocol;
pub mod resource;
pub mod retry;
pub mod table;
pub mod validation;
pub mod worker;

pub use cronjob::{CronJob, CronJobSpec, CronJobStatus, JobTemplateSpec, MissedSchedule, ObjectReference};
pub use indexes::{IndexSet, IndexesError};
pub use job::{
    Job, JobCondition, JobSpec, JobStatus, PodFailurePolicy, PodFailurePolicyOnExitCodes,
    PodFailurePolicyOnPodCondition, PodFailurePolicyRule, QueueSpec, SuccessPolicy, SuccessPolicyRule,
    TaskCounts,
};
pub use meta::{Event, LabelSelector, ListMeta, ObjectMeta, OwnerReference, Time};
pub use pod::{Container, ContainerStatus, EnvVar, Pod, PodQueue, PodSpec, PodStatus, PodTemplateSpec};
pub use worker::{Worker, WorkerSpec, WorkerStatus};

/// Label and annotation keys Drover and Kubernetes agree on.
pub mod labels {
    /// The legacy unprefixed controller uid label.
    pub const CONTROLLER_UID_LEGACY: &str = "controller-uid";
    /// The legacy unprefixed Job name label.
    pub const JOB_NAME_LEGACY: &str = "job-name";
    /// The controller uid label that a generated selector matches.
    pub const CONTROLLER_UID: &str = "batch.kubernetes.io/controller-uid";
    /// The Job name label.
    pub const JOB_NAME: &str = "batch.kubernetes.io/job-name";
    /// The finalizer that marks a pod whose outcome is not yet counted in its Job's status.
    pub const JOB_TRACKING_FINALIZER: &str = "batch.kubernetes.io/job-tracking";
    /// The annotation and label that carry an Indexed Job's pod's completion index (JOB-M7).
    pub const JOB_COMPLETION_INDEX: &str = "batch.kubernetes.io/job-completion-index";
    /// The environment variable that carries an Indexed Job's pod's completion index (JOB-M7).
    pub const JOB_COMPLETION_INDEX_ENV: &str = "JOB_COMPLETION_INDEX";
    /// With `backoffLimitPerIndex`: the counted failures of the pod's index before this pod
    /// (FAIL-20).
    pub const JOB_INDEX_FAILURE_COUNT: &str = "batch.kubernetes.io/job-index-failure-count";
    /// With `backoffLimitPerIndex`: the ignored failures of the pod's index before this pod, when
    /// there were any (FAIL-20).
    pub const JOB_INDEX_IGNORED_FAILURE_COUNT: &str = "batch.kubernetes.io/job-index-ignored-failure-count";
}
