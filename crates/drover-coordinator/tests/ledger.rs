//! The task ledger through the real HTTP API and the client (semantics.md §10.10): a task's
//! success is recorded by its id before it is acked, once per Job; a record about a pod the
//! worker no longer holds is refused; concurrent records share requests.
//!
//! Each test runs a coordinator in this process on a port-0 listener (the API router, the
//! controller and the scheduler, over an in-memory store), so it can also read the ledger's
//! counters. No worker agent runs: the test registers a worker and speaks its protocol.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use drover_api::protocol::{Registration, StatusReport};
use drover_api::{Job, Pod, PodStatus, TaskCounts};
use drover_client::{Client, ClientError};
use drover_coordinator::{Config, Coordinator, api, controller, scheduler};
use drover_store::Store;
use tokio_util::sync::CancellationToken;

/// A coordinator serving on 127.0.0.1, stopped on drop.
struct Served {
    coordinator: Coordinator,
    url: String,
    token: CancellationToken,
}

impl Drop for Served {
    fn drop(&mut self) {
        self.token.cancel();
    }
}

async fn serve() -> Served {
    serve_with(None).await
}

async fn serve_with(token: Option<&str>) -> Served {
    let config = Config {
        worker_lease: Duration::from_secs(60),
        token: token.and_then(drover_api::meta::Secret::new),
        ..Config::default()
    };
    let token = CancellationToken::new();
    let coordinator = Coordinator::new(Arc::new(Store::open_in_memory().unwrap()), config, token.clone());
    tokio::spawn(controller::run(coordinator.clone(), token.clone()));
    tokio::spawn(scheduler::run(coordinator.clone(), token.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let router = api::router(coordinator.clone());
    let stop = token.clone();
    tokio::spawn(async move {
        axum::serve(listener, router).with_graceful_shutdown(async move { stop.cancelled().await }).await
    });
    Served { coordinator, url, token }
}

async fn register(client: &Client, name: &str, slots: i32) {
    let reg = Registration {
        name: name.into(),
        slots,
        version: "test".into(),
        incarnation: uuid::Uuid::new_v4().to_string(),
        hostname: None,
    };
    client.register_worker(&reg).await.unwrap();
}

/// A drain Job on a queue (never connected to: no worker agent runs), with `parallelism` pods.
async fn queue_job(client: &Client, name: &str, parallelism: i32) -> Job {
    let job = serde_json::json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            "parallelism": parallelism,
            "queue": {"url": "redis://127.0.0.1:6379", "name": format!("ledger-{name}")},
            "template": {"spec": {
                "restartPolicy": "Never",
                "containers": [{"name": "c", "image": "busybox", "command": ["true"]}]
            }}
        }
    });
    client.create_job(&job).await.unwrap()
}

/// Polls `f` every 20 ms until it returns `Some`, for at most 10 s.
async fn eventually<T, F: Future<Output = Option<T>>>(what: &str, mut f: impl FnMut() -> F) -> T {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The Job's pods once `n` of them are bound to a worker.
async fn bound_pods(client: &Client, job: &str, n: usize) -> Vec<Pod> {
    eventually("the pods to be bound", || async {
        let pods = client.list_pods(&format!("job-name={job}")).await.unwrap();
        (pods.iter().filter(|p| p.node_name().is_some()).count() == n).then_some(pods)
    })
    .await
}

async fn task_counts(client: &Client, job: &str, want: (i64, i64)) -> TaskCounts {
    eventually("the Job's task counts", || async {
        let tasks = client.get_job(job).await.unwrap().status.tasks?;
        ((tasks.succeeded, tasks.duplicates) == want).then_some(tasks)
    })
    .await
}

fn ids(tasks: &[&str]) -> Vec<String> {
    tasks.iter().map(|t| t.to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_recorded_twice_is_counted_once_and_shown_as_a_duplicate() {
    let s = serve().await;
    let admin = Client::new(&s.url);
    let w1_client = Client::new(&s.url).with_report_batching("w1");
    register(&w1_client, "w1", 2).await;
    queue_job(&admin, "twice", 2).await;
    let pods = bound_pods(&admin, "twice", 2).await;
    let worker = w1_client.clone();
    let (a, b) = (
        (pods[0].metadata.name.as_str(), pods[0].metadata.uid.as_str()),
        (pods[1].metadata.name.as_str(), pods[1].metadata.uid.as_str()),
    );

    assert_eq!(worker.record_tasks(a.0, a.1, &ids(&["t-1"])).await.unwrap(), [true]);
    let tasks = task_counts(&admin, "twice", (1, 0)).await;
    assert_eq!(tasks.succeeded, 1);
    // The same record again (its reply was lost and the worker retried): still the pod's own
    // success, nothing counted twice.
    assert_eq!(worker.record_tasks(a.0, a.1, &ids(&["t-1"])).await.unwrap(), [true]);
    // The same task, run again in another pod (a lost lease, a killed worker): recorded as a
    // duplicate, not counted again; the first pod keeps the success.
    assert_eq!(worker.record_tasks(b.0, b.1, &ids(&["t-1"])).await.unwrap(), [false]);
    let tasks = task_counts(&admin, "twice", (1, 1)).await;
    assert_eq!((tasks.succeeded, tasks.duplicates), (1, 1));
    // A new task and a repeat in one call.
    assert_eq!(worker.record_tasks(b.0, b.1, &ids(&["t-2", "t-1"])).await.unwrap(), [true, false]);
    let tasks = task_counts(&admin, "twice", (2, 2)).await;
    assert_eq!((tasks.failed, tasks.requeued), (0, 0), "failures and requeues come from the reports");

    // The metrics show the per-Job duplicates and the ledger's counters.
    let text = drover_coordinator::metrics::render(&s.coordinator).unwrap();
    assert!(text.contains("drover_job_tasks_duplicates{job_name=\"twice\"} 2"), "{text}");
    assert!(text.contains("drover_task_ledger_tasks_total 5"), "{text}");
    assert!(text.contains("drover_task_ledger_duplicates_total 2"), "{text}");
}

/// A fixed-completion pod whose success was recorded but never counted (its final report was
/// refused: the pod was failed under it) requeues the task; the pod that runs it next takes the
/// success over, so the task's completion is not lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_success_whose_pod_failed_is_taken_over_by_the_next_pod_that_runs_the_task() {
    let s = serve().await;
    let admin = Client::new(&s.url);
    let w1_client = Client::new(&s.url).with_report_batching("w1");
    register(&w1_client, "w1", 2).await;
    queue_job(&admin, "takeover", 2).await;
    let pods = bound_pods(&admin, "takeover", 2).await;
    let worker = w1_client.clone();
    let (a, b) = (&pods[0], &pods[1]);
    assert_eq!(worker.record_tasks(&a.metadata.name, &a.metadata.uid, &ids(&["x"])).await.unwrap(), [true]);
    // While `a` runs, `b` running "x" again is a duplicate.
    assert_eq!(worker.record_tasks(&b.metadata.name, &b.metadata.uid, &ids(&["x"])).await.unwrap(), [false]);
    // `a` fails (here: its worker reports it Failed) without its success having counted.
    let status = PodStatus { phase: "Failed".into(), ..Default::default() };
    let report = StatusReport { uid: a.metadata.uid.clone(), worker: "w1".into(), status };
    worker.report_status(&a.metadata.name, &report).await.unwrap();
    assert_eq!(worker.record_tasks(&b.metadata.name, &b.metadata.uid, &ids(&["x"])).await.unwrap(), [true]);
    let tasks = task_counts(&admin, "takeover", (1, 2)).await;
    assert_eq!(tasks.succeeded, 1, "one task, however many runs");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_about_a_pod_the_worker_does_not_hold_is_refused() {
    let s = serve().await;
    let admin = Client::new(&s.url);
    let w1_client = Client::new(&s.url).with_report_batching("w1");
    register(&w1_client, "w1", 2).await;
    queue_job(&admin, "refuse", 2).await;
    let pods = bound_pods(&admin, "refuse", 2).await;
    let (a, b) = (&pods[0], &pods[1]);
    let w1 = w1_client.clone();
    let w2 = Client::new(&s.url).with_report_batching("w2");
    // A worker of its own (registered, with its credential), that does not hold the pods.
    register(&w2, "w2", 1).await;
    let conflict = |res: Result<Vec<bool>, ClientError>, what: &str, why: &str| match res {
        Err(ClientError::Api { code: 409, message, .. }) => {
            assert!(message.contains(why), "{what}: {message}")
        }
        other => panic!("{what}: expected a 409, got {other:?}"),
    };

    conflict(
        w2.record_tasks(&a.metadata.name, &a.metadata.uid, &ids(&["x"])).await,
        "another worker",
        "is not bound to worker \"w2\"",
    );
    conflict(
        w1.record_tasks(&a.metadata.name, "not-its-uid", &ids(&["x"])).await,
        "a wrong uid",
        "another uid",
    );
    conflict(w1.record_tasks("no-such-pod", "u", &ids(&["x"])).await, "an unknown pod", "not found");
    // A pod that ended: its tasks can no longer be its successes.
    let mut status = PodStatus { phase: "Succeeded".into(), ..Default::default() };
    status.tasks = Some(TaskCounts::default());
    let report = StatusReport { uid: b.metadata.uid.clone(), worker: "w1".into(), status };
    w1.report_status(&b.metadata.name, &report).await.unwrap();
    conflict(
        w1.record_tasks(&b.metadata.name, &b.metadata.uid, &ids(&["x"])).await,
        "a terminal pod",
        "is already Succeeded",
    );
    // Nothing refused was recorded: "x" is still a first success for the pod that holds it.
    assert_eq!(w1.record_tasks(&a.metadata.name, &a.metadata.uid, &ids(&["x"])).await.unwrap(), [true]);
    task_counts(&admin, "refuse", (1, 0)).await;

    // Without the worker's name the client cannot record.
    match Client::new(&s.url).record_tasks(&a.metadata.name, &a.metadata.uid, &ids(&["y"])).await {
        Err(ClientError::NoWorker(_)) => {}
        other => panic!("expected NoWorker, got {other:?}"),
    }
    // Empty and oversized ids are refused as a whole batch.
    let bad = drover_api::protocol::TaskRecord {
        pod: a.metadata.name.clone(),
        uid: a.metadata.uid.clone(),
        tasks: vec![String::new()],
    };
    let err = w1.record_task_batch("w1", &[bad]).await.unwrap_err();
    assert_eq!(err.code(), Some(400), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_records_share_requests_and_each_call_gets_its_own_answer() {
    let s = serve().await;
    let admin = Client::new(&s.url);
    let w1_client = Client::new(&s.url).with_report_batching("w1");
    register(&w1_client, "w1", 4).await;
    queue_job(&admin, "busy", 4).await;
    let pods = bound_pods(&admin, "busy", 4).await;
    let worker = w1_client.clone();
    const CALLS: usize = 2000;
    let calls = (0..CALLS).map(|i| {
        let worker = worker.clone();
        let pod = pods[i % pods.len()].clone();
        // Every tenth call repeats the task of the call before it.
        let task = if i % 10 == 9 { format!("t-{}", i - 1) } else { format!("t-{i}") };
        tokio::spawn(async move {
            worker.record_tasks(&pod.metadata.name, &pod.metadata.uid, &[task]).await.unwrap()
        })
    });
    let answers: Vec<Vec<bool>> =
        futures::future::join_all(calls).await.into_iter().map(|r| r.unwrap()).collect();
    assert!(answers.iter().all(|a| a.len() == 1));
    let firsts = answers.iter().filter(|a| a[0]).count();
    // A repeat and its original may share a batch in either order: exactly one of each pair
    // is first.
    assert_eq!(firsts, CALLS - CALLS / 10);
    for pair in answers.chunks(10) {
        assert!(pair[8][0] ^ pair[9][0], "one of a task's two records is first: {pair:?}");
    }
    let stats = s.coordinator.ledger_stats();
    let batches = stats.batches.load(Ordering::Relaxed);
    assert_eq!(stats.tasks.load(Ordering::Relaxed), CALLS as u64);
    assert!(batches < CALLS as u64 / 4, "{batches} requests for {CALLS} concurrent calls");
    task_counts(&admin, "busy", ((CALLS - CALLS / 10) as i64, (CALLS / 10) as i64)).await;
}

/// Lazy records (a draining pod's) wait for company, up to the client's linger (an hour
/// here, so that only the two ways out can end the wait): a flush, or an urgent record joining
/// them. Either way they all leave in one request.
#[tokio::test(flavor = "current_thread")]
async fn lazy_records_linger_until_flushed_or_joined_by_an_urgent_one() {
    let s = serve().await;
    let admin = Client::new(&s.url);
    let w1_client = Client::new(&s.url).with_report_batching("w1");
    register(&w1_client, "w1", 2).await;
    queue_job(&admin, "lazy", 2).await;
    let pods = bound_pods(&admin, "lazy", 2).await;
    let (a, b) = (&pods[0].metadata, &pods[1].metadata);
    let worker = w1_client.clone().with_task_record_linger(Duration::from_secs(3600));
    let stats = s.coordinator.ledger_stats();
    let batches = || stats.batches.load(Ordering::Relaxed);

    // Queued when called, before anything is polled; the flush sends all three together.
    let lazy: Vec<_> = ["l-1", "l-2", "l-3"]
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let pod = if i % 2 == 0 { a } else { b };
            worker.record_tasks_lazily(&pod.name, &pod.uid, &ids(&[t]))
        })
        .collect();
    let before = batches();
    worker.flush_task_records();
    let answers = tokio::time::timeout(SECS_10, futures::future::join_all(lazy)).await;
    let answers = answers.expect("a flushed record still waits");
    assert!(answers.iter().all(|r| matches!(r.as_deref(), Ok([true]))), "{answers:?}");
    assert_eq!(batches() - before, 1, "three lazy records, one request");

    // An urgent record joining a lazy one takes it along.
    let lazy = worker.record_tasks_lazily(&b.name, &b.uid, &ids(&["l-4"]));
    let before = batches();
    let again = ids(&["l-1", "l-5"]);
    let urgent = worker.record_tasks(&a.name, &a.uid, &again);
    let both = tokio::time::timeout(SECS_10, async { tokio::join!(lazy, urgent) }).await;
    let (lazy, urgent) = both.expect("a lazy record beside an urgent one still waits");
    assert_eq!((lazy.unwrap(), urgent.unwrap()), (vec![true], vec![true, true]));
    assert_eq!(batches() - before, 1, "the urgent record and the lazy one share a request");
    task_counts(&admin, "lazy", (5, 0)).await;
}

const SECS_10: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_job_takes_its_ledger_with_it() {
    let s = serve().await;
    let admin = Client::new(&s.url);
    let w1_client = Client::new(&s.url).with_report_batching("w1");
    register(&w1_client, "w1", 1).await;
    let job = queue_job(&admin, "gone", 1).await;
    let pod = bound_pods(&admin, "gone", 1).await.remove(0);
    let worker = w1_client.clone();
    worker.record_tasks(&pod.metadata.name, &pod.metadata.uid, &ids(&["a", "b"])).await.unwrap();
    let tally = |uid: String| s.coordinator.store().read(move |t| t.task_tally(&uid)).unwrap();
    assert_eq!(tally(job.metadata.uid.clone()), Some((2, 0)));
    admin.delete_job("gone", true).await.unwrap();
    assert_eq!(tally(job.metadata.uid.clone()), None, "the ledger went with the Job");
    // The pod, still running while its worker stops it, has no Job to count in: accepted,
    // nothing recorded.
    let again = worker.record_tasks(&pod.metadata.name, &pod.metadata.uid, &ids(&["a"])).await.unwrap();
    assert_eq!(again, [true]);
    assert_eq!(tally(job.metadata.uid.clone()), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recording_needs_the_api_token() {
    let s = serve_with(Some("sesame")).await;
    let admin = Client::new(&s.url).with_token(Some("sesame"));
    let worker = Client::new(&s.url).with_token(Some("sesame")).with_report_batching("w1");
    register(&worker, "w1", 1).await;
    queue_job(&admin, "locked", 1).await;
    let pod = bound_pods(&admin, "locked", 1).await.remove(0);
    let (name, uid) = (pod.metadata.name.as_str(), pod.metadata.uid.as_str());
    let stranger = Client::new(&s.url).with_report_batching("w1");
    match stranger.record_tasks(name, uid, &ids(&["a"])).await {
        Err(ClientError::TaskBatch(why)) => assert!(why.contains("Unauthorized"), "{why}"),
        other => panic!("expected the batch to fail with 401, got {other:?}"),
    }
    assert_eq!(worker.record_tasks(name, uid, &ids(&["a"])).await.unwrap(), [true]);
    // Issue 11: the shared token admits a worker but proves nothing about which one. A holder
    // of the token without w1's credential can neither record nor report for w1's pod, nor
    // heartbeat or stream as w1.
    let impostor = Client::new(&s.url).with_token(Some("sesame")).with_report_batching("w1");
    match impostor.record_tasks(name, uid, &ids(&["b"])).await {
        Err(ClientError::TaskBatch(why)) => assert!(why.contains("credential"), "{why}"),
        other => panic!("expected the batch to fail with 401, got {other:?}"),
    }
    let status = PodStatus { phase: "Failed".into(), ..Default::default() };
    let report = StatusReport { uid: uid.to_string(), worker: "w1".into(), status };
    let err = impostor.report_status(name, &report).await.unwrap_err();
    assert!(err.to_string().contains("credential"), "{err}");
    assert!(impostor.heartbeat("w1").await.unwrap_err().is_unauthorized());
    assert!(impostor.assignments("w1").await.err().expect("refused").is_unauthorized());
    // Re-registering gives a new credential; the old one no longer works.
    let old = worker.clone();
    let fresh = Client::new(&s.url).with_token(Some("sesame")).with_report_batching("w1");
    register(&fresh, "w1", 1).await;
    assert!(old.heartbeat("w1").await.unwrap_err().is_unauthorized(), "the replaced credential");
    assert!(fresh.heartbeat("w1").await.is_ok());
    task_counts(&admin, "locked", (1, 0)).await;
}
