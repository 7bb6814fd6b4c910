//! The pod re-creation back-off record and delay (semantics.md FAIL-10, FAIL-11).
//!
//! A port of kubernetes/kubernetes `pkg/controller/job/backoff_utils.go`. Unlike upstream, Drover
//! persists the record (§10.3), so it is a plain value that `decide` takes and returns, and
//! `decide` feeds it only the failures of a pod's command: pods the fleet failed (`WorkerLost`,
//! `WorkerRestarted`, `WorkerDrained`) add nothing (§10.9).

use std::collections::BTreeMap;
use std::time::Duration;

use drover_api::Time;

/// The persisted back-off record of one Job.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BackoffRecord {
    /// Failures after the last success (n).
    pub failures_after_last_success: u32,
    /// The finish time of the newest of those failures.
    pub last_failure_time: Option<Time>,
    /// With `backoffLimitPerIndex`: each index that failed so far (FAIL-20, FAIL-22), kept by
    /// the coordinator rather than read back from old pods, so a sync never needs a counted pod
    /// again and the state of an index does not grow with its retries.
    pub indexes: BTreeMap<i32, IndexRecord>,
}

/// One index's failures so far, from its last counted or ignored failure (FAIL-20, FAIL-22).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IndexRecord {
    /// Counted failures of the index: its next pod's `job-index-failure-count`.
    pub failed: i32,
    /// Ignored failures of the index: its next pod's `job-index-ignored-failure-count`.
    pub ignored: i32,
    /// When the last failure ended, if it delays the next pod (not one the fleet caused, §10.9).
    pub last_failure_time: Option<Time>,
    /// The delay's exponent `m`: the failures the failed pod itself carried. The next pod waits
    /// `base · 2^m` (capped) from `last_failure_time`.
    pub exponent: u32,
}

impl IndexRecord {
    /// The back-off still to run at `now` before the index's next pod (FAIL-22).
    pub fn remaining(&self, base: Duration, max: Duration, now: Time) -> Duration {
        let Some(last) = self.last_failure_time else { return Duration::ZERO };
        let delay = base.saturating_mul(2u32.saturating_pow(self.exponent.min(31))).min(max);
        let elapsed = (now - last).to_std().unwrap_or(Duration::ZERO);
        delay.saturating_sub(elapsed)
    }
}

impl BackoffRecord {
    /// The record after this sync's newly counted pods, given their finish times (FAIL-10, FAIL-12).
    ///
    /// - No new outcome: unchanged.
    /// - Only new failures: `n` grows by their number and `last_failure_time` becomes the newest.
    /// - Any new success: `n` becomes the number of new failures that finished strictly after the
    ///   newest new success, and `last_failure_time` the newest of those (or unset). A failure at
    ///   the same instant as a success does not count.
    pub fn update(&self, new_successes: &[Time], new_failures: &[Time]) -> BackoffRecord {
        let newest_failure = new_failures.iter().max().copied();
        match new_successes.iter().max() {
            None => match newest_failure {
                None => self.clone(),
                Some(newest) => BackoffRecord {
                    failures_after_last_success: self
                        .failures_after_last_success
                        .saturating_add(u32::try_from(new_failures.len()).unwrap_or(u32::MAX)),
                    last_failure_time: Some(newest),
                    indexes: self.indexes.clone(),
                },
            },
            Some(last_success) => {
                let after: Vec<Time> = new_failures.iter().copied().filter(|t| t > last_success).collect();
                BackoffRecord {
                    failures_after_last_success: u32::try_from(after.len()).unwrap_or(u32::MAX),
                    last_failure_time: after.into_iter().max(),
                    indexes: self.indexes.clone(),
                }
            }
        }
    }

    /// The full delay for the current failure count (FAIL-11): zero when `n == 0`, otherwise
    /// `base × 2^(n−1)` capped at `max`.
    pub fn delay(&self, base: Duration, max: Duration) -> Duration {
        if self.failures_after_last_success == 0 {
            return Duration::ZERO;
        }
        drover_api::retry::Backoff::nth_delay(base.min(max), max, self.failures_after_last_success - 1)
    }

    /// The back-off time left at `now` (FAIL-11): `delay − (now − last_failure_time)`, floored at
    /// zero. A pod may be created only when this is zero.
    ///
    /// A record with failures but no failure time imposes no delay (there is nothing to measure
    /// from). A failure time in the future (clock skew) never yields more than the full delay.
    pub fn remaining(&self, base: Duration, max: Duration, now: Time) -> Duration {
        let Some(last) = self.last_failure_time else {
            return Duration::ZERO;
        };
        let delay = self.delay(base, max);
        let elapsed = (now - last).to_std().unwrap_or(Duration::ZERO);
        delay.saturating_sub(elapsed)
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;

    fn t0() -> Time {
        Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap()
    }

    fn ms(n: i64) -> chrono::Duration {
        chrono::Duration::milliseconds(n)
    }

    fn record(n: u32, last: Option<Time>) -> BackoffRecord {
        BackoffRecord { failures_after_last_success: n, last_failure_time: last, ..Default::default() }
    }

    /// S25 (BU TestGetRemainingBackoffTime): base 5 s, cap 700 s.
    #[test]
    fn s25_remaining_backoff_time() {
        let base = Duration::from_secs(5);
        let max = Duration::from_secs(700);
        let now = t0();
        let cases: &[(&str, BackoffRecord, Time, Duration)] = &[
            ("no failures", record(0, None), now, Duration::ZERO),
            ("1 failure at now", record(1, Some(now)), now, Duration::from_secs(5)),
            (
                "1 failure 1 s ago",
                record(1, Some(now)),
                now + chrono::Duration::seconds(1),
                Duration::from_secs(4),
            ),
            ("3 failures", record(3, Some(now)), now, Duration::from_secs(20)),
            ("8 failures", record(8, Some(now)), now, Duration::from_secs(640)),
            ("9 failures: cap", record(9, Some(now)), now, Duration::from_secs(700)),
            ("delay fully elapsed", record(1, Some(now)), now + chrono::Duration::seconds(6), Duration::ZERO),
        ];
        for (name, rec, at, want) in cases {
            assert_eq!(rec.remaining(base, max, *at), *want, "{name}");
        }
    }

    /// FAIL-11 with Drover's defaults (§10.1): 10, 20, 40, 80, 160, 320, then the 360 s cap.
    #[test]
    fn fail11_default_sequence() {
        let base = Duration::from_secs(10);
        let max = Duration::from_secs(360);
        let got: Vec<u64> = (1..=8).map(|n| record(n, Some(t0())).delay(base, max).as_secs()).collect();
        assert_eq!(got, vec![10, 20, 40, 80, 160, 320, 360, 360]);
        // Upstream's current cap (600 s).
        let got: Vec<u64> =
            (1..=8).map(|n| record(n, Some(t0())).delay(base, Duration::from_secs(600)).as_secs()).collect();
        assert_eq!(got, vec![10, 20, 40, 80, 160, 320, 600, 600]);
    }

    #[test]
    fn remaining_edge_cases() {
        let base = Duration::from_secs(10);
        let max = Duration::from_secs(360);
        // A huge n saturates at the cap instead of overflowing.
        assert_eq!(record(u32::MAX, Some(t0())).remaining(base, max, t0()), max);
        // n > 0 without a time: nothing to measure from.
        assert_eq!(record(3, None).remaining(base, max, t0()), Duration::ZERO);
        // A failure time in the future never gives more than the full delay.
        assert_eq!(
            record(1, Some(t0() + chrono::Duration::seconds(30))).remaining(base, max, t0()),
            Duration::from_secs(10)
        );
    }

    /// One update case: name, old record, new success times, new failure times, expected record.
    type UpdateCase = (&'static str, BackoffRecord, Vec<Time>, Vec<Time>, BackoffRecord);

    /// S26 (BU TestNewBackoffRecord) and the other FAIL-10 update rules.
    #[test]
    fn s26_update_record() {
        let t = t0();
        let cases: &[UpdateCase] = &[
            (
                "nothing new keeps the record",
                record(2, Some(t - ms(5))),
                vec![],
                vec![],
                record(2, Some(t - ms(5))),
            ),
            (
                "only failures add up",
                record(2, Some(t - ms(5))),
                vec![],
                vec![t - ms(1), t],
                record(4, Some(t)),
            ),
            (
                "S26: failures t-4,t-3,t-1,t with a success at t-2 ms",
                record(0, None),
                vec![t - ms(2)],
                vec![t - ms(4), t - ms(3), t - ms(1), t],
                record(2, Some(t)),
            ),
            (
                "S26: success at the same instant as a failure",
                record(0, None),
                vec![t],
                vec![t],
                record(0, None),
            ),
            ("a success alone resets", record(5, Some(t - ms(9))), vec![t], vec![], record(0, None)),
            (
                "failures before the success are forgotten",
                record(5, Some(t - ms(9))),
                vec![t],
                vec![t - ms(1)],
                record(0, None),
            ),
            (
                "unsorted input",
                record(0, None),
                vec![t - ms(3), t - ms(2)],
                vec![t, t - ms(4), t - ms(1)],
                record(2, Some(t)),
            ),
        ];
        for (name, old, succ, fail, want) in cases {
            assert_eq!(old.update(succ, fail), *want, "{name}");
        }
    }
}
