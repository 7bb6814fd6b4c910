//! Percentiles and medians of samples.

use serde_json::{Value, json};

/// The distribution of a set of samples (same unit as the samples).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Summary {
    pub(crate) n: usize,
    pub(crate) min: f64,
    pub(crate) p50: f64,
    pub(crate) p90: f64,
    pub(crate) p99: f64,
    pub(crate) max: f64,
    pub(crate) mean: f64,
}

impl Summary {
    /// `None` for no samples. Percentiles use the nearest-rank method: p99 of 200 samples is
    /// the 198th smallest.
    pub(crate) fn of(samples: &[f64]) -> Option<Summary> {
        if samples.is_empty() {
            return None;
        }
        let mut sorted = samples.to_vec();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        let rank = |p: f64| sorted[((p / 100.0 * n as f64).ceil() as usize).clamp(1, n) - 1];
        Some(Summary {
            n,
            min: sorted[0],
            p50: rank(50.0),
            p90: rank(90.0),
            p99: rank(99.0),
            max: sorted[n - 1],
            mean: sorted.iter().sum::<f64>() / n as f64,
        })
    }

    pub(crate) fn to_json(self) -> Value {
        json!({
            "n": self.n, "min": self.min, "p50": self.p50, "p90": self.p90,
            "p99": self.p99, "max": self.max, "mean": self.mean,
        })
    }
}

/// The median (mean of the two middle values for an even count), min and max.
pub(crate) fn median_min_max(samples: &[f64]) -> Option<(f64, f64, f64)> {
    if samples.is_empty() {
        return None;
    }
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    let median = if n % 2 == 1 { sorted[n / 2] } else { (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0 };
    Some((median, sorted[0], sorted[n - 1]))
}

#[cfg(test)]
mod tests {
    use super::{Summary, median_min_max};

    #[test]
    fn nearest_rank() {
        let samples: Vec<f64> = (1..=200).map(f64::from).collect();
        let s = Summary::of(&samples).unwrap();
        assert_eq!((s.p50, s.p90, s.p99, s.max, s.min), (100.0, 180.0, 198.0, 200.0, 1.0));
        assert_eq!(median_min_max(&[3.0, 1.0, 2.0]), Some((2.0, 1.0, 3.0)));
        assert_eq!(median_min_max(&[4.0, 1.0, 2.0, 3.0]), Some((2.5, 1.0, 4.0)));
        assert!(Summary::of(&[]).is_none());
    }
}
