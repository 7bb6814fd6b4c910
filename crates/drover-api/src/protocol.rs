//! The worker protocol: what a worker agent and the coordinator exchange.
//!
//! Shared by the coordinator (which serves it) and the client (which the worker uses), so that
//! neither depends on the other.

use serde::{Deserialize, Serialize};

use crate::{Pod, PodStatus};

/// What a worker sends to register.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Registration {
    /// The worker's name, unique in the fleet.
    pub name: String,
    /// How many pods it runs at once.
    pub slots: i32,
    /// Its Drover version.
    pub version: String,
    /// A fresh id per agent process.
    pub incarnation: String,
    /// Its host name.
    #[serde(default)]
    pub hostname: Option<String>,
}

/// What a worker reports about one pod.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusReport {
    /// The pod's uid, so a report never lands on a newer pod of the same name.
    pub uid: String,
    /// The reporting worker.
    pub worker: String,
    /// The pod's new status.
    pub status: PodStatus,
}

/// A message on a worker's assignment stream.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Assignment {
    /// Every non-terminal pod bound to the worker, sent first.
    Sync {
        /// The pods.
        pods: Vec<Pod>,
    },
    /// A newly bound pod, or a termination request (deletionTimestamp set).
    Pod {
        /// The pod.
        pod: Box<Pod>,
    },
}

/// The coordinator's answer to a heartbeat.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HeartbeatReply {
    /// False when the coordinator no longer knows the worker (or declared it lost): it must
    /// register again.
    pub registered: bool,
    /// True when a drain was requested (`drover drain worker NAME`): the worker stops taking pods,
    /// lets its running pods finish within its drain timeout, hands back the tasks it has not
    /// started, deregisters and exits.
    #[serde(default)]
    pub drain: bool,
}

/// The reason of a pod that a worker's drain cut off. Such a pod is a disruption: it is not
/// counted in its Job's `failed` nor toward `backoffLimit`, and the Job replaces it.
pub const REASON_WORKER_DRAINED: &str = "WorkerDrained";

/// One entry of a batch of status reports (`POST …/workers/{name}/status`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodReport {
    /// The pod's name.
    pub pod: String,
    /// The report.
    pub report: StatusReport,
}

/// The coordinator's answer to one [`PodReport`], in the batch's order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReportResult {
    /// 200 when applied; 409 when stale (the pod is gone, replaced, bound elsewhere or already
    /// terminal): the worker must not send it again.
    pub code: u16,
    /// Why it was refused.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
}

/// How often the coordinator writes an empty line on an NDJSON stream (a worker's assignment
/// stream, a watch) that has sent nothing else for that long. Readers skip empty lines; they
/// only prove the connection is alive.
pub const STREAM_KEEPALIVE: std::time::Duration = std::time::Duration::from_secs(5);

/// A client treats an NDJSON stream that has sent nothing, not even a keepalive, for this long
/// (three keepalive periods) as dead: the connection is half-open, and waiting longer would hang.
pub const STREAM_IDLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(15);
