//! The Job controller's loop, run for real on an in-memory store: what it does with no event
//! but its own.

use std::sync::Arc;
use std::time::{Duration, Instant};

use drover_api::{Job, Pod};
use drover_coordinator::{Config, Coordinator, controller};
use drover_store::Store;
use tokio_util::sync::CancellationToken;

fn coordinator() -> Coordinator {
    let config = Config::default();
    Coordinator::new(Arc::new(Store::open_in_memory().unwrap()), config, CancellationToken::new())
}

fn pods_of(c: &Coordinator, job: &str) -> usize {
    c.store()
        .list::<Pod>()
        .unwrap()
        .into_iter()
        .filter(|p| p.metadata.labels.get("job-name").map(String::as_str) == Some(job))
        .count()
}

/// Issue 10 ("a Job with parallelism > 500 stalls until an unrelated event"): one sync creates
/// at most 500 pods (JOB-M5), and the controller's own creations do not queue the Job again. With
/// no worker, nothing else ever happens, so the Job must fill up on its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_wider_than_the_per_sync_cap_gets_every_pod_without_another_event() {
    let c = coordinator();
    let token = CancellationToken::new();
    let running = tokio::spawn(controller::run(c.clone(), token.clone()));
    let job: Job = serde_json::from_value(serde_json::json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "wide"},
        "spec": {
            "completions": 600,
            "parallelism": 600,
            "template": {"spec": {
                "restartPolicy": "Never",
                "containers": [{"name": "c", "image": "busybox", "command": ["true"]}]
            }}
        }
    }))
    .unwrap();
    c.commit(|t| controller::create_job(t, job, chrono::Utc::now())).unwrap();

    // Polled: the point is that no event comes.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut seen = 0;
    while Instant::now() < deadline {
        seen = pods_of(&c, "wide");
        let active = c.store().get::<Job>("wide").unwrap().map(|j| j.status.active);
        if seen >= 600 && active == Some(600) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(seen, 600, "the Job stalled below its parallelism");
    let job = c.store().get::<Job>("wide").unwrap().unwrap();
    assert_eq!(job.status.active, 600);
    token.cancel();
    running.await.unwrap();
    assert_eq!(pods_of(&c, "wide"), 600, "never more than parallelism");
}
