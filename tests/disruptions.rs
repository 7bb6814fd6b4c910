//! Issue 10, case 3: a burst of worker failures does not stall a Job (semantics.md §10.9). Pods
//! the fleet failed (`WorkerLost`, `WorkerRestarted`) are replaced at once, even when a
//! podFailurePolicy `Ignore` rule matches them, so once the faults stop the Job finishes as fast
//! as an undisturbed one would. The coordinator keeps its default re-creation back-off (base
//! 10 s), so a disruption that fed the back-off would show as a stall of 10 s or more. Real
//! binary, real Redis on 127.0.0.1 (`REDIS_URL`).

mod common;
mod queue_common;

use std::collections::{BTreeSet, HashMap};
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use drover_api::Pod;
use drover_api::protocol::{REASON_WORKER_LOST, REASON_WORKER_RESTARTED};
use queue_common::*;

const SECS: fn(u64) -> Duration = Duration::from_secs;

/// Tasks in the queue, and how long each one's command sleeps.
const TASKS: usize = 300;
const TASK_SECS: f64 = 0.2;
const PARALLELISM: usize = 3;
/// Worker kills, one every `KILL_EVERY`; every second one leaves the worker down past its lease.
const KILLS: usize = 6;
const KILL_EVERY: Duration = Duration::from_millis(2_500);
/// The coordinator's `--worker-lease` and the Job's `leaseSeconds`.
const WORKER_LEASE: &str = "1s";
const TASK_LEASE_SECS: u64 = 2;
/// How soon a disrupted pod must be replaced: far below the 10 s first back-off step.
const REPLACED_WITHIN: Duration = Duration::from_secs(3);

/// The distinct tasks whose command finished, from the file each run appends to.
fn tasks_done(path: &std::path::Path) -> BTreeSet<String> {
    std::fs::read_to_string(path).unwrap_or_default().lines().map(str::to_string).collect()
}

/// The time the fleet failed the pod (its `DisruptionTarget` condition), if it did.
fn disrupted_at(p: &Pod) -> Option<chrono::DateTime<chrono::Utc>> {
    let reason = p.status.reason.as_deref()?;
    if p.status.phase != "Failed" || ![REASON_WORKER_LOST, REASON_WORKER_RESTARTED].contains(&reason) {
        return None;
    }
    p.status
        .conditions
        .iter()
        .find(|c| c.type_ == "DisruptionTarget" && c.status == "True")
        .and_then(|c| c.last_transition_time)
}

/// Waits (polled, bounded) until the coordinator lists `name` with `phase`.
async fn wait_worker_phase(c: &Cluster, name: &str, phase: &str, limit: Duration) {
    let deadline = Instant::now() + limit;
    loop {
        let workers = c.client().list_workers("").await.unwrap();
        if workers.iter().any(|w| w.metadata.name == name && w.status.phase == phase) {
            return;
        }
        assert!(Instant::now() < deadline, "worker {name} not {phase} after {limit:?}\n{}", c.logs());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_worker_failures_does_not_stall_a_drain_job() {
    // The default back-off (10 s doubling), and a short worker lease to see WorkerLost.
    let dir = TempDir::new("disrupt");
    let mut cmd = Command::new(BIN);
    cmd.args(["coordinator", "--listen", "127.0.0.1:0", "--data"])
        .arg(dir.0.join("store"))
        .args(["--worker-lease", WORKER_LEASE]);
    let log = dir.0.join("coordinator-0.log");
    let (coordinator, port) = spawn_coordinator_cmd(cmd, log);
    let mut c = Cluster::adopt(dir, coordinator, port, None);
    let slots: HashMap<&str, u32> = [("w1", 2), ("w2", 2), ("w3", 1)].into_iter().collect();
    let mut process: HashMap<&str, usize> = HashMap::new();
    for name in ["w1", "w2", "w3"] {
        c.add_worker(name, slots[name], &[]).await;
        process.insert(name, c.workers.len() - 1);
    }

    let q = queue_name("disrupt");
    let tasks: Vec<String> = (0..TASKS).map(|i| format!("t{i}")).collect();
    publish(&c, Broker::Redis, &q, &tasks.iter().map(String::as_str).collect::<Vec<_>>());
    let done = c.dir.0.join("done.txt");
    let script = format!("sleep {TASK_SECS}; echo \"$DROVER_TASK\" >> {}", done.display());
    let spec = format!(
        "  parallelism: {PARALLELISM}\n  backoffLimit: 0\n  podFailurePolicy:\n    rules:\n    - action: Ignore\n      onPodConditions:\n      - type: DisruptionTarget\n"
    );
    let yaml = queue_job("burst", Broker::Redis, &q, &spec, "Never", &script)
        .replace("    name: drover", &format!("    leaseSeconds: {TASK_LEASE_SECS}\n    name: drover"));
    c.create("burst", &yaml);
    within(SECS(20), async {
        while tasks_done(&done).len() < 10 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;

    // The burst: SIGKILL a worker that runs a pod of the Job, then start it again under the same
    // name, at once (its pods end `WorkerRestarted`) or after its lease ran out (`WorkerLost`).
    let burst = Instant::now();
    for i in 0..KILLS {
        let pods = c.pods_of("burst").await;
        let busy = pods.iter().filter(|p| p.status.phase == "Running").find_map(|p| p.node_name());
        let victim = match busy.and_then(|n| slots.get_key_value(n)) {
            Some((name, _)) => *name,
            None => ["w1", "w2", "w3"][i % 3],
        };
        c.workers[process[victim]].kill9();
        if i % 2 == 1 {
            wait_worker_phase(&c, victim, "Lost", SECS(10)).await;
        }
        c.add_worker(victim, slots[victim], &[]).await;
        process.insert(victim, c.workers.len() - 1);
        // The fault schedule's pace, not a synchronisation.
        let next = burst + KILL_EVERY * u32::try_from(i + 1).unwrap();
        tokio::time::sleep(next.saturating_duration_since(Instant::now())).await;
    }
    let last_restart = Instant::now();
    let remaining = TASKS - tasks_done(&done).len();

    // No more faults. The remaining tasks need remaining × task / parallelism; allow half again
    // for the per-task overhead, plus the task lease of the killed pods' tasks and a few seconds.
    let needed = remaining as f64 * TASK_SECS / PARALLELISM as f64;
    let bound = Duration::from_secs_f64(needed * 1.5) + SECS(TASK_LEASE_SECS) + SECS(5);
    let job = c.wait_job("burst", SECS(120), |j| j.is_finished()).await;
    let took = last_restart.elapsed();
    eprintln!("{remaining} tasks left after the burst; the Job finished {took:?} later (bound {bound:?})");
    assert!(job.condition_true("Complete").is_some(), "{job:#?}\n{}", c.logs());
    assert!(
        took <= bound,
        "the Job took {took:?} after the last fault for {remaining} tasks (bound {bound:?}): it stalled\n{}",
        c.logs()
    );
    // Every disruption was ignored: nothing counted toward backoffLimit 0.
    assert_eq!(job.status.failed, 0, "{job:#?}");
    assert_eq!(tasks_done(&done).len(), TASKS, "every task ran");
    let (ready, in_flight) = stats(&c, Broker::Redis, &q);
    assert_eq!((ready, in_flight.as_str()), (0, "0"), "the queue ends empty");

    // No pod waited in a back-off: each disrupted pod was replaced within seconds of its failure
    // (the first back-off step would be 10 s). Matched in time order, one replacement each.
    let pods = c.pods_of("burst").await;
    let mut disruptions: Vec<(chrono::DateTime<chrono::Utc>, &str)> =
        pods.iter().filter_map(|p| Some((disrupted_at(p)?, p.status.reason.as_deref()?))).collect();
    disruptions.sort();
    let reasons: BTreeSet<&str> = disruptions.iter().map(|(_, r)| *r).collect();
    assert_eq!(
        reasons,
        [REASON_WORKER_LOST, REASON_WORKER_RESTARTED].into_iter().collect(),
        "the burst gave both kinds of disruption: {disruptions:?}"
    );
    assert!(disruptions.len() >= KILLS, "each kill disrupted a pod: {disruptions:?}");
    let mut creations: Vec<chrono::DateTime<chrono::Utc>> =
        pods.iter().filter_map(|p| p.metadata.creation_timestamp).collect();
    creations.sort();
    let slack = chrono::Duration::milliseconds(50);
    let mut next = 0;
    for (at, reason) in &disruptions {
        while next < creations.len() && creations[next] + slack < *at {
            next += 1;
        }
        let Some(replacement) = creations.get(next) else {
            panic!("the {reason} pod of {at} was never replaced: {disruptions:?} {creations:?}");
        };
        let waited = (*replacement - *at).to_std().unwrap_or_default();
        assert!(
            waited <= REPLACED_WITHIN,
            "the {reason} pod of {at} was replaced only after {waited:?}: it waited in a back-off"
        );
        next += 1;
    }
}
