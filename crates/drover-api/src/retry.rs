//! The one exponential back-off every retry loop uses (style.md §15, "one helper for one idea"):
//! the first delay is `min`, each next one doubles, and none exceeds `max`; it never gives up
//! (the loop decides when to stop). Pure: it computes delays and sleeps nowhere.
//!
//! Written here rather than taken from `backon`, whose exponential builder multiplies in `f32`
//! seconds (100 ms doubles to 200.000003 ms): the restart back-off must be kubelet's exact
//! 10 s, 20 s, 40 s, …

use std::time::Duration;

/// Delays `min`, `2·min`, `4·min`, … capped at `max`.
#[derive(Debug, Clone)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    /// A back-off from `min` to `max` (a `max` below `min` is `min`).
    pub fn new(min: Duration, max: Duration) -> Backoff {
        let max = max.max(min);
        Backoff { min, max, next: min }
    }

    /// The next delay.
    pub fn next_delay(&mut self) -> Duration {
        let delay = self.next;
        self.next = self.next.saturating_mul(2).min(self.max);
        delay
    }

    /// Starts again from `min` (after a success).
    pub fn reset(&mut self) {
        self.next = self.min;
    }

    /// The `n`th delay (0-based) of a fresh back-off: `min · 2ⁿ`, capped at `max`.
    pub fn nth_delay(min: Duration, max: Duration, n: u32) -> Duration {
        min.saturating_mul(2u32.saturating_pow(n.min(31))).min(max.max(min))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: fn(u64) -> Duration = Duration::from_millis;

    #[test]
    fn doubles_up_to_the_cap_and_resets() {
        let mut b = Backoff::new(MS(50), MS(300));
        let got: Vec<Duration> = (0..6).map(|_| b.next_delay()).collect();
        assert_eq!(got, [MS(50), MS(100), MS(200), MS(300), MS(300), MS(300)]);
        b.reset();
        assert_eq!(b.next_delay(), MS(50));
    }

    #[test]
    fn nth_delay_is_the_kubelet_restart_schedule() {
        let (base, cap) = (Duration::from_secs(10), Duration::from_secs(300));
        let got: Vec<u64> = (0..7).map(|n| Backoff::nth_delay(base, cap, n).as_secs()).collect();
        assert_eq!(got, [10, 20, 40, 80, 160, 300, 300]);
        assert_eq!(Backoff::nth_delay(base, cap, u32::MAX), cap);
    }

    #[test]
    fn a_cap_below_the_first_delay_is_the_first_delay() {
        let mut b = Backoff::new(MS(100), MS(10));
        assert_eq!((b.next_delay(), b.next_delay()), (MS(100), MS(100)));
    }
}
