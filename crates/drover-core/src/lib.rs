//! Drover's pure controller logic.
//!
//! Everything here is a function of its arguments: objects in, a plan out. Nothing reads the
//! clock (`now` is passed in), touches the store, spawns a task or awaits. The coordinator's
//! runtime executes the plans. This is what lets the Kubernetes rules be checked by tables of
//! named cases (semantics.md §7) rather than by timing tests.
#![deny(missing_docs)]

pub mod backoff;
pub mod cronjob;
pub mod job;
pub mod schedule;

pub use backoff::{BackoffRecord, IndexRecord};
pub use cronjob::CronJobPlan;
pub use job::{
    CountedPod, IndexFailures, JobConfig, JobPlan, Outcome, PodDeletion, TaskLedger, apply_completion_index,
    apply_index_failures, completion_index, decide, decide_with_ledger,
};
