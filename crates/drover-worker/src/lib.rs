//! The Drover worker agent.
//!
//! - [`agent`]: registration, heartbeats, the assignment stream, running pods and reporting them,
//!   and the drain (scaling down: finish or stop the running pods, hand back tasks, deregister).
//! - [`process`]: one pod's process: a process group, log capture, termination and the
//!   guarantee that no pod process outlives the agent; the [`process::Supervisor`] the agent
//!   owns (created in [`run_with_drain`], handed to every pod runner) holds the registry of live
//!   groups, the group watchdog and the spawner threads: there is no process-wide state.
//! - `container`: the process side of a pod as a pure state machine (start, Running report,
//!   restart back-off, stop, deadline, drain, final status); [`agent`] executes it.
//! - `lifecycle`: the task side of a queue pod as a pure state machine; `tasks` executes it.
//! - `tasks`: queue pods: taking a task under a lease, acking or requeueing it, and the drain
//!   rule (exit 0 only when the queue is empty and nothing is in flight anywhere), and the
//!   handlers (`Exec`, `Stream`, `Noop`).
//! - `spawn`: the unsafe part of [`process`]: starting a process with
//!   `clone(CLONE_VM | CLONE_VFORK | CLONE_PIDFD)` instead of `fork()`, and reaping it through
//!   its pidfd.
//! - `stream`: the `Stream` handler's long-lived process, one task per line.
//! - `memory`: giving memory back while the agent is idle (the allocator's free pages, and the
//!   clean pages of read-only file mappings: never a writable or anonymous one).
//! - `pod_env`: what a pod inherits of the agent's environment (an allow-list: never its
//!   `DROVER_*` settings), and the task body in `DROVER_TASK` or, too large or binary, in a file
//!   named by `DROVER_TASK_FILE`.
pub mod agent;
mod container;
mod init;
mod lifecycle;
mod memory;
mod mounts;
mod pod_env;
pub mod process;
mod spawn;
mod stream;
mod tasks;

pub use agent::{AgentConfig, run, run_with_drain};
