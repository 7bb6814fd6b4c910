//! The subset of core/v1 `Pod` that a process runtime needs.
//!
//! A pod is one execution of a Job's template on a worker. Drover's process runtime keeps
//! `image` and shows it, but does not run it: the command runs directly on the worker's host.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::meta::{ObjectMeta, Time};

/// The apiVersion of a Pod.
pub const API_VERSION: &str = "v1";
/// The kind of a Pod.
pub const KIND: &str = "Pod";

/// Kubernetes' core/v1 `Pod`, the fields Drover uses.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(rename = "io.k8s.api.core.v1.Pod")]
#[schemars(extend("x-kubernetes-group-version-kind" = [{"group": "", "kind": "Pod", "version": "v1"}]))]
pub struct Pod {
    /// Always `v1` once stored.
    #[serde(default)]
    pub api_version: String,
    /// Always `Pod` once stored.
    #[serde(default)]
    pub kind: String,
    /// Name, uid, labels, owner and the rest.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// What to run.
    #[serde(default)]
    pub spec: PodSpec,
    /// What happened.
    #[serde(default)]
    pub status: PodStatus,
}

/// Kubernetes' `PodTemplateSpec`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(rename = "io.k8s.api.core.v1.PodTemplateSpec")]
pub struct PodTemplateSpec {
    /// Labels and annotations given to each pod.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// The pod spec.
    #[serde(default)]
    pub spec: PodSpec,
}

/// Kubernetes' `PodSpec`, the fields Drover uses.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(rename = "io.k8s.api.core.v1.PodSpec")]
pub struct PodSpec {
    /// Run one after the other before `containers`, each to a successful exit (under
    /// `restartPolicy: OnFailure` a failed one is restarted after a back-off; under `Never` its
    /// failure fails the pod).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"], "x-kubernetes-patch-merge-key" = "name", "x-kubernetes-patch-strategy" = "merge"))]
    pub init_containers: Vec<Container>,
    /// The processes to run. Drover runs the first container's command; more than one container
    /// is rejected on create.
    #[serde(default)]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"], "x-kubernetes-patch-merge-key" = "name", "x-kubernetes-patch-strategy" = "merge"))]
    pub containers: Vec<Container>,
    /// `Never` or `OnFailure` for a Job's pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_policy: Option<String>,
    /// Seconds between SIGTERM and SIGKILL. Defaults to 30.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub termination_grace_period_seconds: Option<i64>,
    /// Seconds the pod may run before the worker kills it (a per-pod timer, ADS-6).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_deadline_seconds: Option<i64>,
    /// The worker the pod is bound to. Empty while unscheduled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_name: Option<String>,
    /// The pod's host name: its process gets it in `HOSTNAME` (unless its `env` sets that), but
    /// runs under its worker's own host name. An Indexed Job's pods have `<job>-<index>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// Volumes the containers can mount. Drover has `emptyDir`: a directory of the worker's,
    /// made for the pod and removed with it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"], "x-kubernetes-patch-merge-key" = "name", "x-kubernetes-patch-strategy" = "merge"))]
    pub volumes: Vec<Volume>,
    /// Drover extension, set by the Job controller from the Job's `spec.queue`: where the pod
    /// takes its tasks, and whether it drains the queue or takes exactly one task.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<PodQueue>,
}

/// Drover extension: a pod's work queue.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(rename = "dev.drover.api.v1.PodQueue")]
pub struct PodQueue {
    /// The Job's queue.
    #[serde(flatten)]
    pub spec: crate::job::QueueSpec,
    /// True: loop until the queue is empty and nothing is in flight (completions unset).
    /// False: take exactly one task (completions set).
    #[serde(default)]
    pub drain: bool,
}

/// Kubernetes' `Container`, the fields Drover uses.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(rename = "io.k8s.api.core.v1.Container")]
pub struct Container {
    /// The container's name.
    #[serde(default)]
    pub name: String,
    /// Kept and shown, never pulled or run: Drover runs `command` on the worker's host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Accepted for compatibility with container manifests; ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_pull_policy: Option<String>,
    /// The executable and its first arguments.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "atomic"))]
    pub command: Vec<String>,
    /// Arguments appended to `command`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "atomic"))]
    pub args: Vec<String>,
    /// Environment variables.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"], "x-kubernetes-patch-merge-key" = "name", "x-kubernetes-patch-strategy" = "merge"))]
    pub env: Vec<EnvVar>,
    /// The working directory of the process.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    /// Accepted for compatibility with container manifests; not enforced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-preserve-unknown-fields" = true))]
    pub resources: Option<serde_json::Value>,
    /// The pod's volumes this container sees, each at its `mountPath`. The process then runs in
    /// a mount namespace of its own, whose root holds the worker's top-level directories and the
    /// mounts (see the worker's `mounts` module).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["mountPath"], "x-kubernetes-patch-merge-key" = "mountPath", "x-kubernetes-patch-strategy" = "merge"))]
    pub volume_mounts: Vec<VolumeMount>,
}

/// Kubernetes' `Volume`, the sources Drover has.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(rename = "io.k8s.api.core.v1.Volume")]
pub struct Volume {
    /// The name the containers' `volumeMounts` use.
    #[serde(default)]
    pub name: String,
    /// A directory made empty for the pod, shared by its containers, removed with the pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub empty_dir: Option<EmptyDirVolumeSource>,
}

/// Kubernetes' `EmptyDirVolumeSource`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(rename = "io.k8s.api.core.v1.EmptyDirVolumeSource")]
pub struct EmptyDirVolumeSource {
    /// `""` (the worker's disk, under its state directory) or `Memory` (the worker's
    /// `/dev/shm`, a tmpfs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub medium: Option<String>,
    /// A quantity (`1Gi`): accepted and kept, not enforced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-int-or-string" = true))]
    pub size_limit: Option<serde_json::Value>,
}

/// Kubernetes' `VolumeMount`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(rename = "io.k8s.api.core.v1.VolumeMount")]
pub struct VolumeMount {
    /// The volume's name in the pod's `volumes`.
    #[serde(default)]
    pub name: String,
    /// Where the container sees it: an absolute path.
    #[serde(default)]
    pub mount_path: String,
    /// Mounted read-only.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub read_only: bool,
    /// A path inside the volume to mount instead of its root (created if missing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_path: Option<String>,
}

/// One environment variable.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(rename = "io.k8s.api.core.v1.EnvVar")]
pub struct EnvVar {
    /// The variable's name.
    pub name: String,
    /// The variable's value.
    #[serde(default)]
    pub value: String,
}

/// Kubernetes' `PodStatus`, the fields Drover uses.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(rename = "io.k8s.api.core.v1.PodStatus")]
pub struct PodStatus {
    /// `Pending`, `Running`, `Succeeded`, `Failed` or `Unknown`.
    #[serde(default)]
    pub phase: String,
    /// Conditions such as `Ready` and `DisruptionTarget`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"], "x-kubernetes-patch-merge-key" = "type", "x-kubernetes-patch-strategy" = "merge"))]
    pub conditions: Vec<PodCondition>,
    /// A CamelCase reason for the phase, such as `DeadlineExceeded` or `WorkerLost`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// A human-readable sentence about the phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// When the worker accepted the pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<Time>,
    /// The init containers' statuses, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "atomic"))]
    pub init_container_statuses: Vec<ContainerStatus>,
    /// The process's status.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "atomic"))]
    pub container_statuses: Vec<ContainerStatus>,
    /// Drover extension: the tasks this pod handled (queue pods only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tasks: Option<crate::job::TaskCounts>,
}

/// Pod phases.
pub mod phase {
    /// Accepted, not started yet.
    pub const PENDING: &str = "Pending";
    /// The process is running.
    pub const RUNNING: &str = "Running";
    /// The process exited 0.
    pub const SUCCEEDED: &str = "Succeeded";
    /// Terminal failure.
    pub const FAILED: &str = "Failed";
}

/// One entry of `status.conditions` on a pod.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(rename = "io.k8s.api.core.v1.PodCondition")]
pub struct PodCondition {
    /// `Ready`, `DisruptionTarget`, …
    #[serde(rename = "type")]
    pub type_: String,
    /// `True` or `False`.
    pub status: String,
    /// A CamelCase reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// A sentence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// When the condition last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<Time>,
}

/// Kubernetes' `ContainerStatus`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(rename = "io.k8s.api.core.v1.ContainerStatus")]
pub struct ContainerStatus {
    /// The container's name.
    pub name: String,
    /// The container's current state.
    #[serde(default)]
    pub state: ContainerState,
    /// The state of the previous run, after an in-place restart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_state: Option<ContainerState>,
    /// True while the process runs.
    #[serde(default)]
    pub ready: bool,
    /// In-place restarts under `restartPolicy: OnFailure`.
    #[serde(default)]
    pub restart_count: i32,
    /// The image named in the template (kept, not run). Always written (`""` when none), as
    /// Kubernetes clients require the field.
    #[serde(default, serialize_with = "empty_if_none")]
    pub image: Option<String>,
    /// The image's ID: always empty, since no image is pulled (clients require the field).
    #[serde(rename = "imageID", default)]
    pub image_id: String,
}

fn empty_if_none<S: serde::Serializer>(value: &Option<String>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(value.as_deref().unwrap_or_default())
}

/// Kubernetes' `ContainerState`: exactly one member is set.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(rename = "io.k8s.api.core.v1.ContainerState")]
pub struct ContainerState {
    /// Not started, or waiting to restart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting: Option<StateWaiting>,
    /// Running.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub running: Option<StateRunning>,
    /// Exited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terminated: Option<StateTerminated>,
}

/// `ContainerStateWaiting`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(rename = "io.k8s.api.core.v1.ContainerStateWaiting")]
pub struct StateWaiting {
    /// For example `CrashLoopBackOff`.
    #[serde(default)]
    pub reason: String,
    /// A sentence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// `ContainerStateRunning`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(rename = "io.k8s.api.core.v1.ContainerStateRunning")]
pub struct StateRunning {
    /// When the process started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Time>,
}

/// `ContainerStateTerminated`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(rename = "io.k8s.api.core.v1.ContainerStateTerminated")]
pub struct StateTerminated {
    /// The exit code; 128+N when killed by signal N.
    pub exit_code: i32,
    /// The signal that killed the process, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<i32>,
    /// `Completed`, `Error`, `OOMKilled`, `DeadlineExceeded`, …
    #[serde(default)]
    pub reason: String,
    /// A sentence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// When the process started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Time>,
    /// When the process exited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<Time>,
}

/// The condition a pod of a draining Job reports once the queue looked empty to it (status
/// `True`), and again (`False`) when it took a task after all.
pub const QUEUE_DRAINED: &str = "QueueDrained";

/// The pods that should check the drain rule now, as `(worker, uid)`: every active pod bound to
/// a worker, when they all drain a queue and all report [`QUEUE_DRAINED`]. Empty otherwise (no
/// such pod, or one still busy). Pods not bound yet hold no task and check the queue themselves
/// when they start, so they do not count.
pub fn drain_rechecks(pods: &[Pod]) -> Vec<(&str, &str)> {
    let mut out = Vec::new();
    for pod in pods.iter().filter(|p| p.is_active()) {
        let Some(node) = pod.node_name() else { continue };
        if !pod.spec.queue.as_ref().is_some_and(|q| q.drain) || !pod.condition_true(QUEUE_DRAINED) {
            return Vec::new();
        }
        out.push((node, pod.metadata.uid.as_str()));
    }
    out
}

impl Pod {
    /// True when the phase is Succeeded or Failed.
    pub fn is_terminal(&self) -> bool {
        self.status.phase == phase::SUCCEEDED || self.status.phase == phase::FAILED
    }

    /// Active per JOB-C1: not terminal and no deletion requested.
    pub fn is_active(&self) -> bool {
        !self.is_terminal() && self.metadata.deletion_timestamp.is_none()
    }

    /// Terminating per JOB-C2: deletion requested and not terminal yet.
    pub fn is_terminating(&self) -> bool {
        !self.is_terminal() && self.metadata.deletion_timestamp.is_some()
    }

    /// True when the pod has a condition `type_` with status `True`.
    pub fn condition_true(&self, type_: &str) -> bool {
        self.status.conditions.iter().any(|c| c.type_ == type_ && c.status == "True")
    }

    /// Sum of restart counts over the init containers and the containers (upstream
    /// `countPodRestarts`: both count against an OnFailure Job's backoffLimit).
    pub fn restart_count(&self) -> i32 {
        let init = self.status.init_container_statuses.iter();
        init.chain(&self.status.container_statuses).map(|c| c.restart_count).sum()
    }

    /// The worker this pod is bound to, if any.
    pub fn node_name(&self) -> Option<&str> {
        self.spec.node_name.as_deref().filter(|n| !n.is_empty())
    }

    /// The finish time per FAIL-12: the latest container `finishedAt`, then the
    /// `Ready=False` transition, then `deletionTimestamp − grace`, then the creation time.
    pub fn finish_time(&self) -> Option<Time> {
        let finished: Vec<Time> = self
            .status
            .container_statuses
            .iter()
            .filter_map(|c| c.state.terminated.as_ref().and_then(|t| t.finished_at))
            .collect();
        if !finished.is_empty() && finished.len() == self.status.container_statuses.len() {
            return finished.into_iter().max();
        }
        if let Some(t) = self
            .status
            .conditions
            .iter()
            .find(|c| c.type_ == "Ready" && c.status == "False")
            .and_then(|c| c.last_transition_time)
        {
            return Some(t);
        }
        if let Some(d) = self.metadata.deletion_timestamp {
            let grace = self.metadata.deletion_grace_period_seconds.unwrap_or(0);
            return Some(d - chrono::Duration::seconds(grace));
        }
        self.metadata.creation_timestamp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pod named `name` draining a queue, bound to `node` (if any), reporting QueueDrained
    /// `drained`, in `phase`.
    fn pod(name: &str, node: Option<&str>, drain: bool, drained: Option<&str>, phase_: &str) -> Pod {
        let mut p = Pod::default();
        p.metadata.name = name.into();
        p.metadata.uid = format!("uid-{name}");
        p.spec.node_name = node.map(Into::into);
        p.spec.queue = Some(PodQueue { spec: Default::default(), drain });
        p.status.phase = phase_.into();
        if let Some(status) = drained {
            p.status.conditions.push(PodCondition {
                type_: QUEUE_DRAINED.into(),
                status: status.into(),
                reason: None,
                message: None,
                last_transition_time: None,
            });
        }
        p
    }

    #[test]
    fn drain_rechecks_only_when_every_active_bound_pod_drained() {
        use phase::{FAILED, PENDING, RUNNING, SUCCEEDED};
        let deleted = {
            let mut p = pod("d", Some("w1"), true, Some("False"), RUNNING);
            p.metadata.deletion_timestamp = Some(chrono::Utc::now());
            p
        };
        type Case = (&'static str, Vec<Pod>, Vec<(&'static str, &'static str)>);
        let cases: Vec<Case> = vec![
            ("no pods", vec![], vec![]),
            (
                "all bound pods drained: each is told, on its worker",
                vec![
                    pod("a", Some("w1"), true, Some("True"), RUNNING),
                    pod("b", Some("w2"), true, Some("True"), RUNNING),
                ],
                vec![("w1", "uid-a"), ("w2", "uid-b")],
            ),
            (
                "one pod still busy (no condition yet)",
                vec![
                    pod("a", Some("w1"), true, Some("True"), RUNNING),
                    pod("b", Some("w2"), true, None, RUNNING),
                ],
                vec![],
            ),
            (
                "one pod took a task after all (False)",
                vec![
                    pod("a", Some("w1"), true, Some("True"), RUNNING),
                    pod("b", Some("w2"), true, Some("False"), RUNNING),
                ],
                vec![],
            ),
            (
                "finished and terminating pods do not count",
                vec![
                    pod("a", Some("w1"), true, Some("True"), RUNNING),
                    pod("s", Some("w1"), true, None, SUCCEEDED),
                    pod("f", Some("w2"), true, None, FAILED),
                    deleted.clone(),
                ],
                vec![("w1", "uid-a")],
            ),
            (
                "a pod not bound yet does not count",
                vec![pod("a", Some("w1"), true, Some("True"), RUNNING), pod("p", None, true, None, PENDING)],
                vec![("w1", "uid-a")],
            ),
            (
                "a Job of fixed completions never drains",
                vec![pod("a", Some("w1"), false, Some("True"), RUNNING)],
                vec![],
            ),
            ("only a terminating pod", vec![deleted], vec![]),
        ];
        for (name, pods, want) in cases {
            assert_eq!(drain_rechecks(&pods), want, "{name}");
        }
    }
}
