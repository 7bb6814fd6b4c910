//! The pod re-creation back-off record and delay (semantics.md FAIL-10, FAIL-11).

use drover_api::Time;

/// The persisted back-off record of one Job.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BackoffRecord {
    /// Failures after the last success (n).
    pub failures_after_last_success: u32,
    /// The finish time of the newest of those failures.
    pub last_failure_time: Option<Time>,
}
