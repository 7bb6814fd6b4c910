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
    /// Every active bound pod of a draining Job reports [`crate::pod::QUEUE_DRAINED`]: these
    /// pods (uids, those on this worker) should check the drain rule now. Sent by the Job
    /// controller instead of having each drained pod poll its Job's pods.
    RecheckDrain {
        /// The pods' uids.
        pods: Vec<String>,
    },
    /// A message this worker does not know (sent by a newer coordinator): ignored.
    #[serde(other)]
    Unknown,
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

/// The reason of a pod whose worker stopped heartbeating for the coordinator's `--worker-lease`
/// (set by the coordinator, with the condition `DisruptionTarget=True`).
pub const REASON_WORKER_LOST: &str = "WorkerLost";

/// The reason of a started pod whose worker registered again as a new incarnation: the agent
/// restarted and the pod's process died with it (set by the coordinator, with the condition
/// `DisruptionTarget=True`).
pub const REASON_WORKER_RESTARTED: &str = "WorkerRestarted";

/// The reasons of pods failed by the fleet, not by their command (semantics.md §10.9): the Job
/// replaces them at once, with no re-creation back-off.
pub const DISRUPTION_REASONS: [&str; 3] =
    [REASON_WORKER_LOST, REASON_WORKER_RESTARTED, REASON_WORKER_DRAINED];

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

/// One pod's tasks that succeeded, recorded in its Job's task ledger before they are acked
/// (`POST /apis/drover.dev/v1/workers/{name}/tasks`, a JSON array of these).
///
/// Execution is at least once (a task may run again after a lost lease or a killed worker);
/// accounting is exactly once: the ledger keeps each task id once per Job, so
/// `status.tasks.succeeded` is the number of distinct tasks that succeeded.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskRecord {
    /// The pod's name.
    pub pod: String,
    /// The pod's uid, so a record never lands on a newer pod of the same name.
    pub uid: String,
    /// The stable ids of the tasks that succeeded, in the order they did.
    pub tasks: Vec<String>,
}

/// The answer to one [`TaskRecord`], in the batch's order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskRecordResult {
    /// 200 when recorded; 409 when refused (the pod is gone, has another uid, is not bound to
    /// this worker, or is already terminal): the worker must not ack those tasks (it requeues
    /// them).
    pub code: u16,
    /// Why it was refused.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// Per task id, in order: true when this is the first success recorded for that task in its
    /// Job, false when it is a duplicate (the task already succeeded once).
    #[serde(default)]
    pub first: Vec<bool>,
}

/// The header that carries a worker's own credential, which the coordinator hands out at
/// registration (in this same header of the reply). Every call a worker makes about itself or
/// its pods (heartbeats, assignments, status reports, task records, log chunks) must carry it:
/// the shared token only admits a worker; this proves which worker calls.
pub const WORKER_CREDENTIAL_HEADER: &str = "x-drover-worker-credential";

/// How often the coordinator writes an empty line on an NDJSON stream (a worker's assignment
/// stream, a watch) that has sent nothing else for that long. Readers skip empty lines; they
/// only prove the connection is alive.
pub const STREAM_KEEPALIVE: std::time::Duration = std::time::Duration::from_secs(5);

/// A client treats an NDJSON stream that has sent nothing, not even a keepalive, for this long
/// (three keepalive periods) as dead: the connection is half-open, and waiting longer would hang.
pub const STREAM_IDLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(15);
