//! Pod placement: which pending pod goes to which worker.
//!
//! Pure: the scheduler passes in the pending pods (oldest first) and each schedulable worker's
//! free slots, and gets bindings back.

/// A worker that can take pods.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerSlots {
    /// The worker's name.
    pub name: String,
    /// Slots not taken by a non-terminal pod.
    pub free: usize,
}

/// Binds pending pods, oldest first, to workers. Each pod goes to the worker with the most free
/// slots (ties: the first listed), which spreads a Job over the fleet. Pods left over wait for
/// a slot.
pub fn place(pending: &[String], workers: &[WorkerSlots]) -> Vec<(String, String)> {
    let mut free: Vec<(usize, &str)> = workers.iter().map(|w| (w.free, w.name.as_str())).collect();
    let mut bindings = Vec::new();
    for pod in pending {
        let Some(best) =
            free.iter_mut().filter(|(n, _)| *n > 0).reduce(|best, w| if w.0 > best.0 { w } else { best })
        else {
            break;
        };
        best.0 -= 1;
        bindings.push((pod.clone(), best.1.to_string()));
    }
    bindings
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(name: &str, free: usize) -> WorkerSlots {
        WorkerSlots { name: name.into(), free }
    }

    fn pods(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("p{i}")).collect()
    }

    #[test]
    fn no_workers_binds_nothing() {
        assert!(place(&pods(3), &[]).is_empty());
    }

    #[test]
    fn never_exceeds_free_slots() {
        let b = place(&pods(10), &[w("a", 2), w("b", 1)]);
        assert_eq!(b.len(), 3);
        assert_eq!(b.iter().filter(|(_, n)| n == "a").count(), 2);
        assert_eq!(b.iter().filter(|(_, n)| n == "b").count(), 1);
    }

    #[test]
    fn spreads_over_the_most_free_worker_first() {
        let b = place(&pods(4), &[w("a", 2), w("b", 4)]);
        let on = |n: &str| b.iter().filter(|(_, w)| w == n).count();
        assert_eq!((on("a"), on("b")), (1, 3));
        assert_eq!(b[0], ("p0".to_string(), "b".to_string()));
    }

    #[test]
    fn oldest_pods_are_placed_first() {
        let b = place(&pods(5), &[w("a", 2)]);
        assert_eq!(b.iter().map(|(p, _)| p.as_str()).collect::<Vec<_>>(), ["p0", "p1"]);
    }
}
