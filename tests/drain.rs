//! Issue "The fleet", scaling down: a worker's graceful drain, started by SIGTERM or asked by
//! the coordinator. Running pods finish (or are cut off at `--drain-timeout` and replaced, as
//! disruptions), queue tasks are handed back, the worker deregisters and exits 0. Real binary,
//! real Redis on 127.0.0.1 (`REDIS_URL`).

mod common;
mod queue_common;

use std::collections::BTreeMap;
use std::process::ExitStatus;
use std::time::{Duration, Instant};

use common::*;
use drover_api::Pod;
use drover_api::protocol::REASON_WORKER_DRAINED;
use futures::StreamExt;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use queue_common::*;

const SECS: fn(u64) -> Duration = Duration::from_secs;

fn sigterm(p: &Proc) {
    kill(Pid::from_raw(p.pid() as i32), Signal::SIGTERM).expect("SIGTERM");
}

/// Waits (bounded) for the process to exit by itself and returns its status.
async fn wait_exit(c: &mut Cluster, worker: usize, limit: Duration) -> ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = c.workers[worker].child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            panic!("worker {worker} still running {limit:?} after its drain began\n{}", c.logs());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The Job's pods once `pred` holds for them, re-checked at every pod change (watch).
async fn wait_pods(c: &Cluster, job: &str, limit: Duration, pred: impl Fn(&[Pod]) -> bool) -> Vec<Pod> {
    let client = c.client();
    let selector = format!("batch.kubernetes.io/job-name={job}");
    let res = tokio::time::timeout(limit, async {
        // Opened before each look, so no change in between is missed.
        let mut watch = Box::pin(client.watch::<Pod>("pods", &selector, None).await.unwrap());
        loop {
            let pods = c.pods_of(job).await;
            if pred(&pods) {
                return pods;
            }
            match watch.next().await {
                Some(Ok(_)) => {}
                other => panic!("pod watch ended: {other:?}"),
            }
        }
    })
    .await;
    match res {
        Ok(pods) => pods,
        Err(_) => {
            panic!("timed out waiting for the pods of {job}: {:#?}\n{}", c.pods_of(job).await, c.logs())
        }
    }
}

fn running_on(p: &Pod, worker: &str) -> bool {
    p.status.phase == "Running"
        && p.node_name() == Some(worker)
        && p.status.container_statuses.first().is_some_and(|s| s.state.running.is_some())
}

fn waiting_for_task(p: &Pod) -> bool {
    p.status
        .container_statuses
        .first()
        .and_then(|s| s.state.waiting.as_ref())
        .is_some_and(|w| w.reason == "WaitingForTask")
}

fn worker_drained(p: &Pod) -> bool {
    p.status.phase == "Failed"
        && p.status.reason.as_deref() == Some(REASON_WORKER_DRAINED)
        && p.condition_true("DisruptionTarget")
}

fn finished_at(p: &Pod) -> chrono::DateTime<chrono::Utc> {
    let state = &p.status.container_statuses[0].state;
    state.terminated.as_ref().and_then(|t| t.finished_at).expect("a finished container")
}

async fn worker_names(c: &Cluster) -> Vec<String> {
    c.client().list_workers("").await.unwrap().into_iter().map(|w| w.metadata.name).collect()
}

fn lines(path: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(path).unwrap_or_default().lines().map(str::to_string).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_a_running_pod_finish_then_deregisters_and_exits_0() {
    let mut c = Cluster::start("drain-finish", &[]);
    c.add_worker("w1", 2, &[]).await;
    c.create("job", &job_yaml("finish", "", "Never", "sleep 2; echo done"));
    wait_pods(&c, "finish", SECS(20), |pods| pods.iter().any(|p| running_on(p, "w1"))).await;

    sigterm(&c.workers[0]);
    let signalled = chrono::Utc::now();
    let status = wait_exit(&mut c, 0, SECS(20)).await;
    assert_eq!(status.code(), Some(0), "a drained worker exits 0\n{}", c.logs());
    // It deregistered before exiting.
    assert!(!worker_names(&c).await.contains(&"w1".to_string()), "w1 still listed");

    let job = c.wait_complete("finish", SECS(10)).await;
    assert!(job.condition_true("Complete").is_some(), "{job:#?}");
    assert_eq!((job.status.succeeded, job.status.failed), (1, 0));
    let pods = c.pods_of("finish").await;
    assert_eq!(pods.len(), 1, "the pod was not replaced: {pods:#?}");
    assert_eq!(pods[0].status.phase, "Succeeded", "{:#?}", pods[0].status);
    assert!(finished_at(&pods[0]) > signalled, "the pod ran on after the SIGTERM");
    let log = String::from_utf8(c.client().pod_log(&pods[0].metadata.name).await.unwrap()).unwrap();
    assert!(log.contains("done"), "{log}");
    let worker_log = std::fs::read_to_string(&c.workers[0].log).unwrap();
    assert!(worker_log.contains("Worker drained and deregistered"), "{worker_log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_drain_timeout_cuts_a_long_pod_off_as_a_disruption_and_it_is_replaced() {
    let mut c = Cluster::start("drain-cut", &[]);
    c.add_worker("w1", 1, &["--drain-timeout", "1s"]).await;
    let marker = c.dir.0.join("marker");
    // The first run outlives the drain timeout; the replacement finishes at once.
    let script = format!(
        "if [ -e {m} ]; then echo replacement; exit 0; fi; touch {m}; exec sleep 6161",
        m = marker.display()
    );
    c.create("job", &job_yaml("cut", "  backoffLimit: 0\n", "Never", &script));
    wait_pods(&c, "cut", SECS(20), |pods| pods.iter().any(|p| running_on(p, "w1"))).await;
    // Only now a second worker: the replacement can only go there.
    c.add_worker("w2", 1, &[]).await;

    sigterm(&c.workers[0]);
    let signalled = Instant::now();
    let status = wait_exit(&mut c, 0, SECS(20)).await;
    assert_eq!(status.code(), Some(0), "{}", c.logs());
    assert!(signalled.elapsed() >= Duration::from_millis(900), "the pod got its drain timeout first");
    assert!(!worker_names(&c).await.contains(&"w1".to_string()), "w1 still listed");
    assert!(processes_with("sleep 6161").is_empty(), "the cut-off pod's process is gone");

    let job = c.wait_complete("cut", SECS(30)).await;
    assert!(job.condition_true("Complete").is_some(), "backoffLimit 0 was not charged: {job:#?}");
    assert_eq!((job.status.succeeded, job.status.failed), (1, 0), "the disruption is not counted");
    let pods = c.pods_of("cut").await;
    assert_eq!(pods.len(), 2, "{pods:#?}");
    let (first, second) = (&pods[0], &pods[1]);
    assert_eq!(first.node_name(), Some("w1"));
    assert!(worker_drained(first), "{:#?}", first.status);
    let message = first.status.message.clone().unwrap_or_default();
    assert!(message.contains("drain timeout"), "{message}");
    assert_eq!(second.node_name(), Some("w2"));
    assert_eq!(second.status.phase, "Succeeded", "{:#?}", second.status);
    let log = String::from_utf8(c.client().pod_log(&second.metadata.name).await.unwrap()).unwrap();
    assert!(log.contains("replacement"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drain_asked_through_the_api_finishes_the_pods_then_the_worker_leaves() {
    let mut c = Cluster::start("drain-api", &[]);
    c.add_worker("w1", 2, &[]).await;
    c.create("job", &job_yaml("asked", "  completions: 2\n  parallelism: 2\n", "Never", "sleep 2"));
    wait_pods(&c, "asked", SECS(20), |pods| pods.iter().filter(|p| running_on(p, "w1")).count() == 2).await;

    let worker = c.client().drain_worker("w1").await.unwrap();
    assert_eq!(worker.status.phase, "Draining");
    let asked = chrono::Utc::now();
    // The worker learns of it from its heartbeat, lets both pods finish, and leaves by itself.
    let status = wait_exit(&mut c, 0, SECS(20)).await;
    assert_eq!(status.code(), Some(0), "{}", c.logs());
    assert!(!worker_names(&c).await.contains(&"w1".to_string()), "w1 still listed");
    let pods = c.pods_of("asked").await;
    assert_eq!(pods.len(), 2, "{pods:#?}");
    for p in &pods {
        assert_eq!(p.status.phase, "Succeeded", "{:#?}", p.status);
        assert!(finished_at(p) > asked, "the pod ran on after the drain was asked");
    }
    let job = c.wait_complete("asked", SECS(10)).await;
    assert_eq!((job.status.succeeded, job.status.failed), (2, 0));
    let worker_log = std::fs::read_to_string(&c.workers[0].log).unwrap();
    assert!(worker_log.contains("The coordinator asked this worker to drain"), "{worker_log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fixed_completions_a_running_task_finishes_a_waiting_pod_leaves_at_once() {
    let mut c = Cluster::start("drain-fixed", &[]);
    c.add_worker("w1", 2, &[]).await;
    let q = queue_name("drain-fixed");
    let done = c.dir.0.join("done");
    publish(&c, Broker::Redis, &q, &["first"]);
    let script = format!("sleep 2; echo \"$DROVER_TASK\" >> {}", done.display());
    c.create(
        "job",
        &queue_job("fixed", Broker::Redis, &q, "  completions: 2\n  parallelism: 2\n", "Never", &script),
    );
    // One pod runs the only task, the other waits for one.
    wait_pods(&c, "fixed", SECS(20), |pods| {
        pods.iter().any(|p| running_on(p, "w1")) && pods.iter().any(waiting_for_task)
    })
    .await;

    sigterm(&c.workers[0]);
    let status = wait_exit(&mut c, 0, SECS(20)).await;
    assert_eq!(status.code(), Some(0), "{}", c.logs());
    let pods = c.pods_of("fixed").await;
    let ran = pods.iter().find(|p| p.status.phase == "Succeeded").expect("the running task finished");
    let waited = pods.iter().find(|p| worker_drained(p)).expect("the waiting pod ended WorkerDrained");
    assert!(
        finished_at(waited) < finished_at(ran),
        "the waiting pod stopped waiting at once, before the running one finished"
    );
    assert_eq!(lines(&done), ["first"]);
    assert_eq!(stats(&c, Broker::Redis, &q).0, 0, "the finished task was acked");

    // The Job replaces the waiting pod elsewhere; it completes once a second task comes.
    c.add_worker("w2", 2, &[]).await;
    publish(&c, Broker::Redis, &q, &["second"]);
    let job = c.wait_complete("fixed", SECS(30)).await;
    assert!(job.condition_true("Complete").is_some(), "{job:#?}");
    assert_eq!((job.status.succeeded, job.status.failed), (2, 0));
    assert_eq!(lines(&done), ["first", "second"]);
    assert_eq!(stats(&c, Broker::Redis, &q).0, 0);
}

/// The scenario: one one-slot worker starts an 80-task drain Job at parallelism 4; 3
/// more workers join and take the pending pods at once; then 2 workers are scaled down
/// (SIGTERM) mid-way. Every task is processed once, nothing is counted failed, and the two leave
/// cleanly.
async fn scale_down_mid_queue(handler: &str) {
    let mut c = Cluster::start("drain-scale", &[]);
    c.add_worker("w1", 1, &[]).await;
    let q = queue_name("drain-scale");
    let file = c.dir.0.join("tasks.txt");
    std::fs::write(&file, (0..80).map(|i| format!("task-{i}\n")).collect::<String>()).unwrap();
    let url = redis_url();
    let out = c.ok(&["queue", "publish", "--url", &url, "--queue", &q, "--file", file.to_str().unwrap()]);
    assert!(out.contains("published 80 task(s)"), "{out}");
    let done = c.dir.0.join("done");
    // Each task takes ~100 ms and records its id when it is done.
    let script = match handler {
        "Stream" => {
            format!("while read t; do sleep 0.1; echo \"$t\" >> {d}; echo ok; done", d = done.display())
        }
        _ => format!("sleep 0.1; echo \"$DROVER_TASK\" >> {d}", d = done.display()),
    };
    let job = queue_job("scale", Broker::Redis, &q, "  parallelism: 4\n", "Never", &script);
    c.create("job", &with_handler(&job, handler));
    // Scaling up: one pod runs on w1, three wait for a worker.
    wait_pods(&c, "scale", SECS(30), |pods| {
        pods.len() == 4
            && pods.iter().any(|p| running_on(p, "w1"))
            && pods.iter().filter(|p| p.node_name().is_none()).count() == 3
    })
    .await;
    for name in ["w2", "w3", "w4"] {
        c.add_worker(name, 1, &[]).await;
    }
    let table = c.ok(&["get", "workers"]);
    assert_eq!(table.lines().filter(|l| l.contains("Ready")).count(), 4, "{table}");
    // All four pods run, one per worker, and some tasks are done.
    wait_pods(&c, "scale", SECS(30), |pods| {
        ["w1", "w2", "w3", "w4"].iter().all(|w| pods.iter().any(|p| running_on(p, w)))
    })
    .await;
    within(SECS(30), async {
        while lines(&done).len() < 8 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;

    sigterm(&c.workers[0]);
    sigterm(&c.workers[1]);
    let at_signal = lines(&done).len();
    assert!(at_signal < 60, "the drain must begin mid-queue ({at_signal} done already)");
    for i in [0, 1] {
        let status = wait_exit(&mut c, i, SECS(30)).await;
        assert_eq!(status.code(), Some(0), "worker {i}\n{}", c.logs());
    }
    let names = worker_names(&c).await;
    assert!(!names.contains(&"w1".into()) && !names.contains(&"w2".into()), "{names:?}");

    let job = c.wait_complete("scale", SECS(60)).await;
    assert!(job.condition_true("Complete").is_some(), "{job:#?}");
    assert_eq!(job.status.failed, 0, "the drained pods are not counted: {:#?}", job.status);

    // Exactly once. The guarantee is at-least-once, but a graceful drain finishes the task in
    // hand and acks it, and hands back one taken and not started: a duplicate would need an ack
    // that fails at the broker (the task then runs again), which a healthy local Redis does not
    // do. So none is allowed here.
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for t in lines(&done) {
        *counts.entry(t).or_insert(0) += 1;
    }
    assert_eq!(counts.len(), 80, "every task processed: {counts:?}");
    let duplicates: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(duplicates.is_empty(), "duplicates: {duplicates:?}");
    assert_eq!(stats(&c, Broker::Redis, &q).0, 0, "the queue ends empty");
    // The Job's own count agrees: the drained pods' acked tasks are folded in when they are
    // released (outcome Disrupted), not lost with them.
    assert_eq!(job.status.tasks.map(|t| t.succeeded), Some(80), "{:#?}", job.status);

    let pods = c.pods_of("scale").await;
    let drained: Vec<&Pod> = pods.iter().filter(|p| worker_drained(p)).collect();
    assert_eq!(drained.len(), 2, "one WorkerDrained pod per drained worker: {pods:#?}");
    for p in &drained {
        assert!(matches!(p.node_name(), Some("w1" | "w2")), "{:?}", p.node_name());
    }
    assert!(pods.iter().all(|p| p.status.phase != "Succeeded" || matches!(p.node_name(), Some("w3" | "w4"))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scaling_down_two_of_four_workers_mid_queue_loses_and_repeats_no_task() {
    scale_down_mid_queue("Exec").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scaling_down_mid_queue_with_the_stream_handler() {
    scale_down_mid_queue("Stream").await;
}
