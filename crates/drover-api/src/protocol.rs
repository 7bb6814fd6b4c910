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
