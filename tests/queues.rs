//! Issue "Work queues on RabbitMQ and Redis": the two docs tasks (S86, S87) on both brokers,
//! crashes, broker connection loss, poison tasks, large drains, and the queue CLI. Real brokers
//! on 127.0.0.1 (`AMQP_ADDR`, `REDIS_URL`).

mod common;
mod queue_common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::*;
use queue_common::*;

const SECS: fn(u64) -> Duration = Duration::from_secs;

/// Every `Processing <item>` line in the Job's pod logs, counted.
async fn processed(c: &Cluster, job: &str) -> BTreeMap<String, usize> {
    let mut seen = BTreeMap::new();
    for pod in c.pods_of(job).await {
        let log = String::from_utf8(c.client().pod_log(&pod.metadata.name).await.unwrap()).unwrap();
        for line in log.lines() {
            if let Some(item) = line.strip_prefix("Processing ") {
                *seen.entry(item.to_string()).or_insert(0) += 1;
            }
        }
    }
    seen
}

async fn coarse_parallel(broker: Broker) {
    // S86: 8 items, completions 8, parallelism 2, OnFailure.
    let mut c = Cluster::start("s86", &[]);
    c.add_worker("w1", 4, &[]).await;
    let q = queue_name("s86");
    publish(&c, broker, &q, &FRUITS[..8]);
    c.create(
        "job",
        &queue_job(
            "job-wq-1",
            broker,
            &q,
            "  completions: 8\n  parallelism: 2\n",
            "OnFailure",
            "echo Processing $DROVER_TASK; sleep 0.3",
        ),
    );
    let job = c.wait_complete("job-wq-1", SECS(60)).await;
    assert!(job.condition_true("Complete").is_some(), "{job:#?}");
    assert_eq!((job.status.succeeded, job.status.failed), (8, 0));
    let pods = c.pods_of("job-wq-1").await;
    assert_eq!(pods.len(), 8, "one pod per item");
    assert!(max_overlap(&pods) <= 2, "never more than 2 pods active");
    let seen = processed(&c, "job-wq-1").await;
    assert_eq!(seen.len(), 8, "{seen:?}");
    assert!(seen.values().all(|n| *n == 1), "each item exactly once: {seen:?}");
    assert_eq!(stats(&c, broker, &q).0, 0, "the queue ends empty");
    assert_eq!(job.status.tasks.unwrap().succeeded, 8);
    let wide = c.ok(&["get", "jobs", "-o", "wide"]);
    assert!(wide.contains("8 ok, 0 failed, 0 requeued"), "{wide}");
    let describe = c.ok(&["describe", "job", "job-wq-1"]);
    assert!(!describe.contains("guest:guest"), "credentials printed by describe");
}

async fn fine_parallel(broker: Broker) {
    // S87: 9 items, parallelism 2, completions unset: two pods drain the queue.
    let mut c = Cluster::start("s87", &[]);
    c.add_worker("w1", 4, &[]).await;
    let q = queue_name("s87");
    match broker {
        Broker::Redis => {
            // As in the docs: a plain `redis-cli rpush`.
            let url = redis_url();
            let mut args = vec!["-u", url.as_str(), "rpush", q.as_str()];
            args.extend(FRUITS);
            let out = std::process::Command::new("redis-cli").args(&args).output().unwrap();
            assert!(out.status.success(), "{out:?}");
        }
        Broker::Rabbit => publish(&c, broker, &q, &FRUITS),
    }
    c.create(
        "job",
        &queue_job(
            "job-wq-2",
            broker,
            &q,
            "  parallelism: 2\n",
            "OnFailure",
            "echo Processing $DROVER_TASK; sleep 0.2",
        ),
    );
    let job = c.wait_complete("job-wq-2", SECS(60)).await;
    assert!(job.condition_true("Complete").is_some(), "{job:#?}");
    assert_eq!((job.status.succeeded, job.status.failed), (2, 0));
    assert_eq!(c.pods_of("job-wq-2").await.len(), 2, "exactly 2 pods");
    let seen = processed(&c, "job-wq-2").await;
    assert_eq!(seen.keys().cloned().collect::<Vec<_>>().len(), 9, "{seen:?}");
    assert!(seen.values().all(|n| *n == 1), "{seen:?}");
    assert_eq!(job.status.tasks.unwrap().succeeded, 9);
    assert_eq!(stats(&c, broker, &q).0, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s86_coarse_parallel_on_rabbitmq() {
    coarse_parallel(Broker::Rabbit).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s86_coarse_parallel_on_redis() {
    coarse_parallel(Broker::Redis).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s87_fine_parallel_on_redis() {
    fine_parallel(Broker::Redis).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s87_fine_parallel_on_rabbitmq() {
    fine_parallel(Broker::Rabbit).await;
}

async fn worker_killed_mid_task(broker: Broker) {
    let mut c = Cluster::start("killmid", &[]);
    let q = queue_name("killmid");
    let items: Vec<String> = (0..12).map(|i| format!("t{i}")).collect();
    let refs: Vec<&str> = items.iter().map(String::as_str).collect();
    publish(&c, broker, &q, &refs);
    let record = c.dir.0.join("done.txt");
    let started = c.dir.0.join("started.txt");
    // Each task records its start, works for a while, then records its completion.
    let script = format!(
        "echo $DROVER_TASK >> {s}; sleep 1; echo $DROVER_TASK >> {d}; echo Processing $DROVER_TASK",
        s = started.display(),
        d = record.display()
    );
    c.add_worker("doomed", 2, &[]).await;
    c.create(
        "job",
        &queue_job("kill", broker, &q, "  parallelism: 2\n  backoffLimit: 10\n", "Never", &script)
            .replace("    name: drover", "    leaseSeconds: 2\n    name: drover"),
    );
    // Wait until both of the doomed worker's pods are in the middle of a task.
    within(SECS(20), async {
        loop {
            let n = std::fs::read_to_string(&started).map(|s| s.lines().count()).unwrap_or(0);
            if n >= 2 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    c.add_worker("survivor", 2, &[]).await;
    c.workers[0].kill9();
    let job = c.wait_complete("kill", SECS(90)).await;
    assert!(job.condition_true("Complete").is_some(), "{job:#?}");
    let done = std::fs::read_to_string(&record).unwrap();
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for l in done.lines() {
        *counts.entry(l).or_insert(0) += 1;
    }
    assert_eq!(counts.len(), 12, "no task is missing: {counts:?}");
    let duplicates: usize = counts.values().map(|n| n - 1).sum();
    assert!(duplicates <= 2, "duplicates {duplicates} > the killed worker's 2 slots: {counts:?}");
    assert_eq!(stats(&c, broker, &q).0, 0);
    let tasks = job.status.tasks.unwrap();
    assert_eq!(tasks.succeeded, 12, "{tasks:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_killed_mid_task_on_rabbitmq() {
    worker_killed_mid_task(Broker::Rabbit).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_killed_mid_task_on_redis() {
    worker_killed_mid_task(Broker::Redis).await;
}

async fn drain_10000(broker: Broker) {
    let mut c = Cluster::start("drain10k", &[]);
    c.add_worker("w1", 4, &[]).await;
    let q = queue_name("drain10k");
    let file = c.dir.0.join("tasks.txt");
    std::fs::write(&file, (0..10_000).map(|i| format!("task-{i}\n")).collect::<String>()).unwrap();
    let url = broker.url();
    let out = c.ok(&["queue", "publish", "--url", &url, "--queue", &q, "--file", file.to_str().unwrap()]);
    assert!(out.contains("published 10000 task(s)"), "{out}");
    c.create("job", &queue_job("drain", broker, &q, "  parallelism: 4\n", "Never", "true"));
    let job = c.wait_complete("drain", SECS(240)).await;
    assert!(job.condition_true("Complete").is_some(), "{job:#?}");
    let tasks = job.status.tasks.unwrap();
    assert_eq!(tasks.succeeded, 10_000, "{tasks:?}\n{}", c.logs());
    assert_eq!(tasks.failed, 0);
    assert_eq!(stats(&c, broker, &q).0, 0);
}

/// A drained pod that waits for a busy one does not poll its Job's pods: it reads them when it
/// first finds the queue empty, then when the coordinator pushes that every bound pod drained
/// (or, missing a push, every 5 s). One pod holds a 2 s task while the other drains at once. On
/// RabbitMQ (which cannot tell how many tasks are held) the drained pod would have polled the
/// pods all through the slow task; on Redis it sees the held task in the queue's figures and
/// reads no pods before the end, so there the test checks only that the push ends the Job.
async fn drained_pods_wait_for_a_push(broker: Broker) {
    let mut c = Cluster::start("drainpush", &[]);
    let log = c.add_worker_logging("w1", 2, &[], "info,drover_worker::tasks=debug").await;
    let q = queue_name("drainpush");
    publish(&c, broker, &q, &["slow", "fast-1", "fast-2", "fast-3"]);
    let script = r#"case "$DROVER_TASK" in slow) sleep 2;; esac; echo "Processing $DROVER_TASK""#;
    c.create("job", &queue_job("drainpush", broker, &q, "  parallelism: 2\n", "Never", script));
    let job = c.wait_complete("drainpush", SECS(60)).await;
    assert!(job.condition_true("Complete").is_some(), "{job:#?}\n{}", c.logs());
    assert_eq!(job.status.tasks.unwrap().succeeded, 4);
    let seen = processed(&c, "drainpush").await;
    assert_eq!(seen.len(), 4, "{seen:?}");
    let text = std::fs::read_to_string(&log).unwrap();
    let checks: Vec<&str> = text.lines().filter(|l| l.contains("Checking the drain rule")).collect();
    let with = |trigger: &str| checks.iter().filter(|l| l.contains(&format!("trigger={trigger:?}"))).count();
    // Polling would have read the pods every 500 ms or less for the 2 s the slow task ran.
    assert_eq!(with("fallback"), 0, "{checks:#?}");
    assert!(with("push") >= 1, "the Job ended on a push: {checks:#?}");
    assert!(checks.len() <= 6, "{checks:#?}");
    assert_eq!(with("first") + with("push"), checks.len(), "{checks:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drained_pods_wait_for_a_push_on_redis() {
    drained_pods_wait_for_a_push(Broker::Redis).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drained_pods_wait_for_a_push_on_rabbitmq() {
    drained_pods_wait_for_a_push(Broker::Rabbit).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_10000_tasks_on_rabbitmq() {
    drain_10000(Broker::Rabbit).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_10000_tasks_on_redis() {
    drain_10000(Broker::Redis).await;
}

async fn poison_task(broker: Broker) {
    let mut c = Cluster::start("poison", &[]);
    c.add_worker("w1", 2, &[]).await;
    let q = queue_name("poison");
    publish(&c, broker, &q, &["poison"]);
    c.create(
        "job",
        &queue_job(
            "poison",
            broker,
            &q,
            "  completions: 1\n  backoffLimit: 1\n",
            "Never",
            "echo Processing $DROVER_TASK; exit 3",
        ),
    );
    let job = c.wait_complete("poison", SECS(30)).await;
    assert_eq!(job.condition_true("Failed").expect("Failed").reason, "BackoffLimitExceeded");
    assert_eq!(job.status.failed, 2);
    // The poison task is requeued, never dropped: it is still in the queue.
    assert_eq!(stats(&c, broker, &q).0, 1);
    let tasks = job.status.tasks.unwrap();
    assert_eq!((tasks.succeeded, tasks.failed, tasks.requeued), (0, 2, 2));
    purge(&c, broker, &q);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_task_fails_the_job_and_stays_visible_on_rabbitmq() {
    poison_task(Broker::Rabbit).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_task_fails_the_job_and_stays_visible_on_redis() {
    poison_task(Broker::Redis).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_queue_makes_pods_wait_visibly() {
    let mut c = Cluster::start("empty", &[]);
    c.add_worker("w1", 2, &[]).await;
    let q = queue_name("empty");
    c.create(
        "job",
        &queue_job(
            "starved",
            Broker::Redis,
            &q,
            "  completions: 1\n",
            "Never",
            "echo Processing $DROVER_TASK",
        ),
    );
    within(SECS(15), async {
        loop {
            let pods = c.pods_of("starved").await;
            if pods.iter().any(|p| {
                p.status
                    .container_statuses
                    .first()
                    .and_then(|s| s.state.waiting.as_ref())
                    .is_some_and(|w| w.reason == "WaitingForTask")
            }) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    let table = c.ok(&["get", "pods"]);
    assert!(table.contains("WaitingForTask"), "{table}");
    // A task arrives: the pod takes it and the Job completes.
    publish(&c, Broker::Redis, &q, &["late"]);
    let job = c.wait_complete("starved", SECS(20)).await;
    assert!(job.condition_true("Complete").is_some());
    assert_eq!(job.status.failed, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_queue_specs_are_refused() {
    let c = Cluster::start("badqueue", &[]);
    let bad = queue_job("bad", Broker::Redis, "", "  completions: 1\n", "Never", "true")
        .replace(&redis_url(), "http://user:secret@example")
        .replace("    name: \n", "    name: \"\"\n");
    let path = c.dir.0.join("bad.yaml");
    std::fs::write(&path, bad).unwrap();
    let out = c.drover(&["create", "-f", path.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("spec.queue.url: Invalid value"), "{stderr}");
    assert!(stderr.contains("spec.queue.name: Required value"), "{stderr}");
    assert!(!stderr.contains("secret"), "the password is never printed: {stderr}");
}

/// The docs' own shape (no `spec.queue`): the command pops by itself, from `BROKER_URL` and
/// `QUEUE` in its env. The example manifests run with only the queue name, the worker path
/// and a shorter work time changed.
fn docs_shape_manifest(example: &str, queue_default: &str, queue: &str) -> String {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    std::fs::read_to_string(format!("{root}/examples/{example}"))
        .unwrap()
        .replace(&format!("value: {queue_default}"), &format!("value: {queue}"))
        .replace("[\"examples/workers/", &format!("[\"{root}/examples/workers/"))
        .replace(
            "        - name: QUEUE\n",
            "        - name: WORK_SECONDS\n          value: \"0.2\"\n        - name: QUEUE\n",
        )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docs_shape_rabbitmq_job_wq_1() {
    let mut c = Cluster::start("docs-wq1", &[]);
    c.add_worker("w1", 4, &[]).await;
    let q = queue_name("docs-wq1");
    publish(&c, Broker::Rabbit, &q, &FRUITS[..8]);
    c.create("job", &docs_shape_manifest("job-wq-1.yaml", "job1", &q));
    let job = c.wait_complete("job-wq-1", SECS(60)).await;
    assert!(job.condition_true("Complete").is_some(), "{job:#?}");
    assert_eq!(job.status.succeeded, 8);
    let seen = processed(&c, "job-wq-1").await;
    assert_eq!(seen.len(), 8, "{seen:?}");
    assert_eq!(stats(&c, Broker::Rabbit, &q).0, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docs_shape_redis_job_wq_2() {
    let mut c = Cluster::start("docs-wq2", &[]);
    c.add_worker("w1", 4, &[]).await;
    let q = queue_name("docs-wq2");
    let mut args = vec!["-u".to_string(), redis_url(), "rpush".into(), q.clone()];
    args.extend(FRUITS.iter().map(|s| s.to_string()));
    assert!(std::process::Command::new("redis-cli").args(&args).output().unwrap().status.success());
    c.create("job", &docs_shape_manifest("job-wq-2.yaml", "job2", &q));
    let job = c.wait_complete("job-wq-2", SECS(60)).await;
    assert!(job.condition_true("Complete").is_some(), "{job:#?}");
    assert_eq!(job.status.succeeded, 2);
    let seen = processed(&c, "job-wq-2").await;
    assert_eq!(seen.len(), 9, "{seen:?}");
    assert!(seen.values().all(|n| *n == 1));
}

/// The `Stream` handler's process: one per pod, one task per line in, one answer per line out.
const STREAM_OK: &str = "echo \"stream started handler=$DROVER_HANDLER task=${DROVER_TASK-none}\" >&2; \
     while read t; do echo \"Processing $t\" >&2; echo ok; done";

async fn stream_drain_500(broker: Broker) {
    let mut c = Cluster::start("stream500", &[]);
    c.add_worker("w1", 4, &[]).await;
    let q = queue_name("stream500");
    let file = c.dir.0.join("tasks.txt");
    std::fs::write(&file, (0..500).map(|i| format!("task-{i}\n")).collect::<String>()).unwrap();
    let url = broker.url();
    let out = c.ok(&["queue", "publish", "--url", &url, "--queue", &q, "--file", file.to_str().unwrap()]);
    assert!(out.contains("published 500 task(s)"), "{out}");
    let job = queue_job("stream", broker, &q, "  parallelism: 2\n", "Never", STREAM_OK);
    c.create("job", &with_handler(&job, "Stream"));
    let job = c.wait_complete("stream", SECS(120)).await;
    assert!(job.condition_true("Complete").is_some(), "{job:#?}");
    let tasks = job.status.tasks.unwrap();
    assert_eq!((tasks.succeeded, tasks.failed, tasks.requeued), (500, 0, 0), "{tasks:?}\n{}", c.logs());
    assert_eq!(stats(&c, broker, &q).0, 0, "the queue ends empty");
    let pods = c.pods_of("stream").await;
    assert_eq!(pods.len(), 2, "exactly 2 pods");
    for pod in &pods {
        let log = String::from_utf8(c.client().pod_log(&pod.metadata.name).await.unwrap()).unwrap();
        let starts: Vec<&str> = log.lines().filter(|l| l.starts_with("stream started")).collect();
        assert_eq!(starts, ["stream started handler=Stream task=none"], "one process per pod: {log}");
        assert_eq!(pod.status.container_statuses[0].restart_count, 0);
    }
    let seen = processed(&c, "stream").await;
    assert_eq!(seen.len(), 500, "{seen:?}");
    assert!(seen.values().all(|n| *n == 1), "each task once: {seen:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_handler_drains_500_tasks_on_redis() {
    stream_drain_500(Broker::Redis).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_handler_drains_500_tasks_on_rabbitmq() {
    stream_drain_500(Broker::Rabbit).await;
}

async fn stream_poison(broker: Broker) {
    let mut c = Cluster::start("streampoison", &[]);
    c.add_worker("w1", 2, &[]).await;
    let q = queue_name("streampoison");
    publish(&c, broker, &q, &["apple", "poison"]);
    let script = "while read t; do if [ \"$t\" = poison ]; then echo fail; else echo ok; fi; done";
    let job = queue_job("streampoison", broker, &q, "  parallelism: 1\n  backoffLimit: 0\n", "Never", script);
    c.create("job", &with_handler(&job, "Stream"));
    let job = c.wait_complete("streampoison", SECS(30)).await;
    assert_eq!(job.condition_true("Failed").expect("Failed").reason, "BackoffLimitExceeded");
    assert_eq!(job.status.failed, 1);
    // The poison task is requeued, never dropped: it is still in the queue.
    assert_eq!(stats(&c, broker, &q).0, 1);
    let tasks = job.status.tasks.unwrap();
    assert_eq!((tasks.succeeded, tasks.failed, tasks.requeued), (1, 1, 1), "{tasks:?}");
    let pods = c.pods_of("streampoison").await;
    let log = String::from_utf8(c.client().pod_log(&pods[0].metadata.name).await.unwrap()).unwrap();
    assert!(log.lines().any(|l| l.starts_with("drover: task ") && l.ends_with(" failed: fail")), "{log}");
    let message = pods[0].status.message.clone().unwrap_or_default();
    assert!(message.ends_with("failed: fail"), "{message}");
    purge(&c, broker, &q);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_poison_task_fails_the_job_and_stays_queued_on_redis() {
    stream_poison(Broker::Redis).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_poison_task_fails_the_job_and_stays_queued_on_rabbitmq() {
    stream_poison(Broker::Rabbit).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_refuses_a_task_body_with_a_newline() {
    let mut c = Cluster::start("streamnl", &[]);
    c.add_worker("w1", 2, &[]).await;
    let q = queue_name("streamnl");
    let out = std::process::Command::new("redis-cli")
        .args(["-u", &redis_url(), "rpush", &q, "two\nlines"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let job =
        queue_job("streamnl", Broker::Redis, &q, "  parallelism: 1\n  backoffLimit: 0\n", "Never", STREAM_OK);
    c.create("job", &with_handler(&job, "Stream"));
    let job = c.wait_complete("streamnl", SECS(30)).await;
    assert_eq!(job.condition_true("Failed").expect("Failed").reason, "BackoffLimitExceeded");
    assert_eq!(stats(&c, Broker::Redis, &q).0, 1, "refused, requeued, still there");
    let pods = c.pods_of("streamnl").await;
    let log = String::from_utf8(c.client().pod_log(&pods[0].metadata.name).await.unwrap()).unwrap();
    assert!(log.contains("refused: the Stream handler takes one task per line"), "{log}");
    assert!(!log.contains("Processing"), "the body never reached the process: {log}");
    purge(&c, Broker::Redis, &q);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_process_exiting_mid_task_restarts_in_place_under_on_failure() {
    let mut c = Cluster::start("streamexit", &[]);
    c.add_worker("w1", 2, &[]).await;
    let q = queue_name("streamexit");
    publish(&c, Broker::Redis, &q, &FRUITS[..5]);
    // Each process handles one task, then exits with the next one in flight.
    let script = "read t; echo \"Processing $t\" >&2; echo ok; read t; exit 3";
    let job = queue_job(
        "streamexit",
        Broker::Redis,
        &q,
        "  parallelism: 1\n  backoffLimit: 20\n",
        "OnFailure",
        script,
    );
    c.create("job", &with_handler(&job, "Stream"));
    let job = c.wait_complete("streamexit", SECS(60)).await;
    assert!(job.condition_true("Complete").is_some(), "{job:#?}");
    let tasks = job.status.tasks.unwrap();
    assert_eq!((tasks.succeeded, tasks.failed, tasks.requeued), (5, 4, 4), "{tasks:?}");
    assert_eq!(stats(&c, Broker::Redis, &q).0, 0);
    let pods = c.pods_of("streamexit").await;
    assert_eq!(pods.len(), 1);
    let status = &pods[0].status.container_statuses[0];
    assert_eq!(status.restart_count, 4, "{status:?}");
    let last = status.last_state.as_ref().and_then(|s| s.terminated.as_ref()).expect("last state");
    assert_eq!(last.exit_code, 3);
    let seen = processed(&c, "streamexit").await;
    assert_eq!(seen.len(), 5, "{seen:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_handler_with_fixed_completions() {
    let mut c = Cluster::start("streamfixed", &[]);
    c.add_worker("w1", 4, &[]).await;
    let q = queue_name("streamfixed");
    publish(&c, Broker::Redis, &q, &FRUITS[..4]);
    let job = queue_job(
        "streamfixed",
        Broker::Redis,
        &q,
        "  completions: 4\n  parallelism: 2\n",
        "Never",
        STREAM_OK,
    );
    c.create("job", &with_handler(&job, "Stream"));
    let job = c.wait_complete("streamfixed", SECS(60)).await;
    assert!(job.condition_true("Complete").is_some(), "{job:#?}");
    assert_eq!((job.status.succeeded, job.status.failed), (4, 0));
    assert_eq!(job.status.tasks.unwrap().succeeded, 4);
    assert_eq!(stats(&c, Broker::Redis, &q).0, 0);
    let seen = processed(&c, "streamfixed").await;
    assert_eq!(seen.len(), 4, "{seen:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_process_is_stopped_at_the_pod_deadline() {
    let mut c = Cluster::start("streamdeadline", &[]);
    c.add_worker("w1", 2, &[]).await;
    let q = queue_name("streamdeadline");
    publish(&c, Broker::Redis, &q, &["slow"]);
    // Never answers; ignores SIGTERM, so only the SIGKILL after the grace period stops it.
    let script = "trap '' TERM; read t; echo \"Processing $t\" >&2; sleep 6543";
    let job = queue_job(
        "streamdeadline",
        Broker::Redis,
        &q,
        "  parallelism: 1\n  backoffLimit: 0\n",
        "Never",
        script,
    )
    .replace(
        "      restartPolicy: Never",
        "      activeDeadlineSeconds: 1\n      terminationGracePeriodSeconds: 1\n      restartPolicy: Never",
    );
    c.create("job", &with_handler(&job, "Stream"));
    let job = c.wait_complete("streamdeadline", SECS(30)).await;
    assert!(job.condition_true("Failed").is_some(), "{job:#?}");
    let pods = c.pods_of("streamdeadline").await;
    assert_eq!(pods[0].status.reason.as_deref(), Some("DeadlineExceeded"), "{:#?}", pods[0].status);
    assert_eq!(stats(&c, Broker::Redis, &q).0, 1, "the task in flight is requeued");
    assert!(processes_with("sleep 6543").is_empty(), "the stream process group is gone");
    purge(&c, Broker::Redis, &q);
}

/// Issue 11, case 2: a broker password never shows in `get` (YAML, JSON, of Jobs and pods),
/// `describe`, events or a watch: neither one written in `spec.queue.url` (masked on every read)
/// nor one the worker reads through `spec.queue.passwordFrom.file` (in no spec at all). Both Jobs
/// run, so the worker had the password.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_passwords_never_show_in_any_output() {
    use futures::StreamExt;
    let url = Broker::Rabbit.url();
    let password = drover_api::meta::url_password(&url).expect("AMQP_ADDR carries a password").to_string();
    let leaked = format!(":{password}@");
    let mut c = Cluster::start("secrets", &[]);
    c.add_worker("w1", 2, &[]).await;
    let mut watch = Box::pin(c.client().watch::<drover_api::Job>("jobs", "", None).await.unwrap());

    let q1 = queue_name("pw-in-url");
    publish(&c, Broker::Rabbit, &q1, &["a", "b"]);
    c.create("job", &queue_job("pw-in-url", Broker::Rabbit, &q1, "  parallelism: 1\n", "Never", "true"));

    let q2 = queue_name("pw-from-file");
    publish(&c, Broker::Rabbit, &q2, &["c", "d"]);
    let file = c.dir.0.join("rabbitmq-password");
    std::fs::write(&file, format!("{password}\n")).unwrap();
    let user_only = url.replacen(&format!(":{password}@"), "@", 1);
    let yaml = queue_job("pw-from-file", Broker::Rabbit, &q2, "  parallelism: 1\n", "Never", "true")
        .replacen(
            &format!("url: {url:?}\n"),
            &format!("url: {user_only:?}\n    passwordFrom:\n      file: {:?}\n", file.display().to_string()),
            1,
        );
    assert!(yaml.contains("passwordFrom"), "{yaml}");
    c.create("job", &yaml);

    for name in ["pw-in-url", "pw-from-file"] {
        let job = c.wait_complete(name, SECS(60)).await;
        assert!(job.condition_true("Complete").is_some(), "{name}: {job:#?}\n{}", c.logs());
        assert_eq!(job.status.tasks.unwrap().succeeded, 2, "{name}: {job:#?}\n{}", c.logs());
    }
    let pod = c.pods_of("pw-in-url").await.remove(0).metadata.name;
    let mut outputs = vec![
        ("get job -o yaml", c.ok(&["get", "job", "pw-in-url", "-o", "yaml"])),
        ("get jobs -o json", c.ok(&["get", "jobs", "-o", "json"])),
        ("get pods -o yaml", c.ok(&["get", "pods", "-o", "yaml"])),
        ("get pods -o json", c.ok(&["get", "pods", "-o", "json"])),
        ("describe job", c.ok(&["describe", "job", "pw-in-url"])),
        ("describe pod", c.ok(&["describe", "pod", &pod])),
        ("get events", c.ok(&["get", "events"])),
    ];
    // A watch sees each Job from its creation to its completion.
    let mut seen = String::new();
    let mut complete = 0;
    while complete < 2 {
        let ev = tokio::time::timeout(SECS(10), watch.next()).await.expect("watch").unwrap().unwrap();
        complete += usize::from(ev.object.condition_true("Complete").is_some());
        seen.push_str(&serde_json::to_string(&ev.object).unwrap());
    }
    outputs.push(("watch", seen));
    for (what, out) in &outputs {
        assert!(!out.contains(&leaked), "{what} shows the password:\n{out}");
    }
    let yaml = &outputs[0].1;
    assert!(yaml.contains(":***@"), "the URL shows, masked: {yaml}");
    let both = &outputs[1].1;
    assert!(both.contains("passwordFrom") && both.contains("rabbitmq-password"), "{both}");
}

/// Under `Exec`, a task body of any size and any bytes reaches the command on stdin; it is in
/// `DROVER_TASK` only when small UTF-8 without NUL, else in the private file of
/// `DROVER_TASK_FILE`, removed after the task.
async fn task_bodies_of_any_size_and_bytes(broker: Broker) {
    let mut c = Cluster::start("bodies", &[]);
    c.add_worker("w1", 1, &[]).await;
    let q = queue_name("bodies");
    // A 10 MB body of every byte value (NULs, invalid UTF-8), in a pseudo-random order.
    let mut x: u32 = 12345;
    let binary_10mb: Vec<u8> = (0..10_000_000)
        .map(|_| {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            (x >> 16) as u8
        })
        .collect();
    let bodies: Vec<(&str, Vec<u8>)> = vec![
        ("small", "small body \u{fc}ber".as_bytes().to_vec()),
        ("300kb", vec![b'x'; 300 * 1000]),
        ("10mb", binary_10mb),
        ("nul", b"a\0b\xff\xfe".to_vec()),
    ];
    // The expected digests, from sha256sum itself.
    let mut digests = BTreeMap::new();
    for (name, body) in &bodies {
        let file = c.dir.0.join(format!("body-{name}"));
        std::fs::write(&file, body).unwrap();
        let out = std::process::Command::new("sha256sum").arg(&file).output().unwrap();
        let digest = String::from_utf8(out.stdout).unwrap().split(' ').next().unwrap().to_string();
        digests.insert(digest, *name);
    }
    let queue = drover_queue::connect(&broker.url(), &q).await.unwrap();
    queue.publish(&bodies.iter().map(|(_, b)| b.clone()).collect::<Vec<_>>()).await.unwrap();
    queue.close().await;

    // The command reports the digest of its stdin, of $DROVER_TASK_FILE (with its mode) and of
    // $DROVER_TASK (or that it is absent), and the file's path.
    let script = r#"in=$(sha256sum | cut -d' ' -f1)
if [ -n "${DROVER_TASK_FILE:-}" ]; then f=$(sha256sum < "$DROVER_TASK_FILE" | cut -d' ' -f1); m=$(stat -c %a "$DROVER_TASK_FILE"); else f=none; m=none; fi
if [ "${DROVER_TASK+set}" = set ]; then e=$(printf %s "$DROVER_TASK" | sha256sum | cut -d' ' -f1); else e=absent; fi
echo "task stdin=$in file=$f mode=$m env=$e path=${DROVER_TASK_FILE:-none}""#;
    c.create("job", &queue_job("bodies", broker, &q, "  parallelism: 1\n", "Never", script));
    let job = c.wait_complete("bodies", SECS(120)).await;
    assert!(job.condition_true("Complete").is_some(), "{job:#?}\n{}", c.logs());
    assert_eq!(job.status.tasks.as_ref().unwrap().succeeded, 4, "{job:#?}");

    let log = c.ok(&["logs", "job/bodies"]);
    let mut seen = BTreeMap::new();
    for line in log.lines().filter_map(|l| l.strip_prefix("task ")) {
        let field = |name: &str| {
            line.split(' ').find_map(|f| f.strip_prefix(&format!("{name}="))).unwrap().to_string()
        };
        let stdin = field("stdin");
        let name = *digests.get(&stdin).unwrap_or_else(|| panic!("stdin digest of no body: {line}"));
        if name == "small" {
            // Small UTF-8: in DROVER_TASK as well, and no file.
            assert_eq!(
                (field("env"), field("file"), field("path")),
                (stdin.clone(), "none".into(), "none".into())
            );
        } else {
            // Too large or not text: no DROVER_TASK, the same bytes in a private file.
            assert_eq!(
                (field("env"), field("file"), field("mode")),
                ("absent".into(), stdin.clone(), "600".into()),
                "{name}"
            );
            let path = std::path::PathBuf::from(field("path"));
            assert!(!path.exists(), "{name}: {} is left after the task", path.display());
            assert!(!path.parent().unwrap().exists(), "{name}: the file's directory is left");
        }
        assert!(seen.insert(name, line.to_string()).is_none(), "{name} ran twice:\n{log}");
    }
    assert_eq!(seen.len(), 4, "every body ran once:\n{log}");
    assert_eq!(stats(&c, broker, &q).0, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn task_bodies_of_any_size_and_bytes_run_under_exec_on_redis() {
    task_bodies_of_any_size_and_bytes(Broker::Redis).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn task_bodies_of_any_size_and_bytes_run_under_exec_on_rabbitmq() {
    task_bodies_of_any_size_and_bytes(Broker::Rabbit).await;
}

/// A fixed-completion pod whose `activeDeadlineSeconds` passes while the queue stays empty ends
/// `Failed` with reason `DeadlineExceeded` (nothing ran), as a Kubernetes pod would whose
/// container waited for a task past its deadline; before, it waited for a task forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_waiting_for_a_task_past_its_deadline_fails_deadline_exceeded() {
    let mut c = Cluster::start("deadline-wait", &[]);
    c.add_worker("w1", 1, &[]).await;
    let q = queue_name("deadline-wait");
    let yaml = queue_job(
        "deadline-wait",
        Broker::Redis,
        &q,
        "  completions: 1\n  backoffLimit: 0\n",
        "Never",
        "true",
    )
    .replacen(
        "      restartPolicy: Never\n",
        "      restartPolicy: Never\n      activeDeadlineSeconds: 1\n",
        1,
    );
    assert!(yaml.contains("activeDeadlineSeconds: 1"), "{yaml}");
    c.create("job", &yaml);
    let job = c
        .wait_for::<drover_api::Job>("jobs", "deadline-wait", SECS(20), |j| {
            j.condition_true("Failed").is_some()
        })
        .await;
    let pods = c.pods_of("deadline-wait").await;
    assert_eq!(pods.len(), 1, "{pods:#?}");
    let pod = &pods[0];
    assert_eq!(pod.status.phase, "Failed", "{pod:#?}");
    assert_eq!(pod.status.reason.as_deref(), Some("DeadlineExceeded"), "{pod:#?}\n{job:#?}");
    let waited = pod.status.container_statuses[0].state.terminated.as_ref().expect("terminated");
    assert_eq!(waited.exit_code, 137, "nothing ran: {waited:#?}");
}
