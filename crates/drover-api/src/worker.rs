//! Drover's `Worker`: a process that runs pods, in the place of a Kubernetes Node.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::meta::{ObjectMeta, Time};

/// The apiVersion of a Worker.
pub const API_VERSION: &str = "drover.dev/v1";
/// The kind of a Worker.
pub const KIND: &str = "Worker";

/// A worker agent registered with the coordinator.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(rename = "dev.drover.api.v1.Worker")]
#[schemars(extend("x-kubernetes-group-version-kind" = [{"group": "drover.dev", "kind": "Worker", "version": "v1"}]))]
pub struct Worker {
    /// Always `drover.dev/v1` once stored.
    #[serde(default)]
    pub api_version: String,
    /// Always `Worker` once stored.
    #[serde(default)]
    pub kind: String,
    /// The worker's name and uid.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// What the worker offers.
    #[serde(default)]
    pub spec: WorkerSpec,
    /// What the coordinator observed.
    #[serde(default)]
    pub status: WorkerStatus,
}

/// What a worker offers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(rename = "dev.drover.api.v1.WorkerSpec")]
pub struct WorkerSpec {
    /// How many pods the worker runs at once.
    pub slots: i32,
    /// True when the worker takes no new pods (cordoned).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unschedulable: bool,
}

/// What the coordinator observed about a worker.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(rename = "dev.drover.api.v1.WorkerStatus")]
pub struct WorkerStatus {
    /// `Ready`, `Cordoned`, `Draining` or `Lost`.
    #[serde(default)]
    pub phase: String,
    /// The last heartbeat the coordinator received.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_heartbeat_time: Option<Time>,
    /// Pods bound to the worker and not terminal.
    #[serde(default)]
    pub running: i32,
    /// The worker's Drover version.
    #[serde(default)]
    pub version: String,
    /// The id of the worker agent process currently registered under this name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incarnation: Option<String>,
    /// The worker's host name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
}

/// Worker phases.
pub mod phase {
    /// Takes pods.
    pub const READY: &str = "Ready";
    /// Takes no new pods.
    pub const CORDONED: &str = "Cordoned";
    /// Finishing its pods before it leaves.
    pub const DRAINING: &str = "Draining";
    /// Stopped heartbeating; its pods were failed.
    pub const LOST: &str = "Lost";
}
