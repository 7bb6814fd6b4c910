//! Issue 10, "Trust (1/2)": the promises hold under faults. Real brokers on 127.0.0.1
//! (`AMQP_ADDR`, `REDIS_URL`), the real binary, faults injected by the test: a lease that
//! expires in a restart back-off, workers SIGKILLed and restarted mid-queue.

mod common;
mod queue_common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::*;
use queue_common::*;

const SECS: fn(u64) -> Duration = Duration::from_secs;

/// `yaml` (from [`queue_job`]) with `spec.queue.leaseSeconds` set.
fn with_lease(yaml: &str, seconds: u32) -> String {
    let out = yaml.replacen("  queue:\n", &format!("  queue:\n    leaseSeconds: {seconds}\n"), 1);
    assert_ne!(out, yaml);
    out
}

/// Counts the lines of a file that start with `prefix`, by the rest of the line.
fn tally(path: &std::path::Path, prefix: &str) -> BTreeMap<String, usize> {
    let mut seen = BTreeMap::new();
    for line in std::fs::read_to_string(path).unwrap_or_default().lines() {
        if let Some(item) = line.strip_prefix(prefix) {
            *seen.entry(item.to_string()).or_insert(0) += 1;
        }
    }
    seen
}

/// Case 1 of the issue: fixed completions under `OnFailure` with a lease (3 s) shorter than the
/// restart back-off (5 s). Task `a` fails once and its pod waits in the back-off; `c` runs 5 s.
/// Before the fix, `a`'s lease expired in the back-off, another pod ran `a`, the first pod ran
/// it again and counted its success anyway: the Job completed with `d` never run. Now the lease
/// is renewed through the back-off: every task succeeds exactly once and the queue ends empty.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_shorter_than_the_restart_back_off_runs_each_task_once() {
    let mut c = Cluster::start("lease-backoff", &[]);
    c.add_worker("w1", 2, &["--restart-backoff-base", "5s"]).await;
    let q = queue_name("lease-backoff");
    publish(&c, Broker::Redis, &q, &["a", "b", "c", "d"]);
    let runs = c.dir.0.join("runs");
    let marker = c.dir.0.join("a-failed");
    let script = format!(
        "echo \"start $DROVER_TASK\" >> {runs}; \
         if [ \"$DROVER_TASK\" = a ] && [ ! -e {marker} ]; then touch {marker}; exit 1; fi; \
         if [ \"$DROVER_TASK\" = c ]; then sleep 5; fi; \
         echo \"ok $DROVER_TASK\" >> {runs}",
        runs = runs.display(),
        marker = marker.display()
    );
    let yaml =
        queue_job("lease", Broker::Redis, &q, "  completions: 4\n  parallelism: 2\n", "OnFailure", &script);
    c.create("job", &with_lease(&yaml, 3));
    let job = c.wait_complete("lease", SECS(60)).await;
    assert!(job.condition_true("Complete").is_some(), "{job:#?}\n{}", c.logs());
    let ok = tally(&runs, "ok ");
    let want: BTreeMap<String, usize> = ["a", "b", "c", "d"].iter().map(|t| (t.to_string(), 1)).collect();
    assert_eq!(ok, want, "each task succeeded exactly once\n{}", c.logs());
    assert_eq!(tally(&runs, "start ").get("a"), Some(&2), "a: the failed run and its restart");
    let tasks = job.status.tasks.expect("task counts");
    assert_eq!(tasks.succeeded, 4, "{tasks:?}");
    assert_eq!(tasks.duplicates, 0, "{tasks:?}");
    assert_eq!(job.status.succeeded, 4);
    let (ready, in_flight) = stats(&c, Broker::Redis, &q);
    assert_eq!((ready, in_flight.as_str()), (0, "0"), "the queue ends empty");
}
