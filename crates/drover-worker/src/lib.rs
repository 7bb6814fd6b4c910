//! The Drover worker agent.
//!
//! - [`agent`]: registration, heartbeats, the assignment stream, running pods and reporting them.
//! - [`process`]: one pod's process: a process group, log capture, termination and the
//!   guarantee that no pod process outlives the agent.
pub mod agent;
pub mod process;

pub use agent::{AgentConfig, run};
