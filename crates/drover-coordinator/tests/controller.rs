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

fn indexed_job(name: &str, completions: i32, parallelism: i32) -> Job {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            "completions": completions,
            "parallelism": parallelism,
            "completionMode": "Indexed",
            "template": {"spec": {
                "restartPolicy": "Never",
                "containers": [{"name": "c", "image": "busybox", "command": ["true"]}]
            }}
        }
    }))
    .unwrap()
}

/// The live pods of `job` (not being deleted), by completion index.
fn live_pods(c: &Coordinator, job: &str) -> Vec<(i32, Pod)> {
    let mut pods: Vec<(i32, Pod)> = c
        .store()
        .list::<Pod>()
        .unwrap()
        .into_iter()
        .filter(|p| p.metadata.labels.get("job-name").map(String::as_str) == Some(job))
        .filter(|p| p.metadata.deletion_timestamp.is_none() && !p.is_terminal())
        .map(|p| (drover_core::completion_index(&p).expect("every pod has an index"), p))
        .collect();
    pods.sort_by_key(|(i, _)| *i);
    pods
}

fn indexes(pods: &[(i32, Pod)]) -> Vec<i32> {
    pods.iter().map(|(i, _)| *i).collect()
}

fn set_phase(c: &Coordinator, pod: &str, phase: &str) {
    c.commit(|t| {
        let mut p = t.get::<Pod>(pod)?.unwrap();
        p.status.phase = phase.to_string();
        t.update(p)
    })
    .unwrap();
}

/// S44, S47, S50, S51 through the runtime: the controller creates each pod by index (JOB-M7:
/// name, hostname, label, annotation, `JOB_COMPLETION_INDEX`), writes `completedIndexes`,
/// deletes duplicate and out-of-range pods, and completes when every index has succeeded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_indexed_job_creates_pods_by_index_and_tracks_completed_indexes() {
    let c = coordinator();
    c.commit(|t| controller::create_job(t, indexed_job("idx", 5, 3), chrono::Utc::now())).unwrap();
    controller::sync_job(&c, "idx").unwrap();

    // S44: the lowest indexes, each pod decorated as Kubernetes does.
    let pods = live_pods(&c, "idx");
    assert_eq!(indexes(&pods), [0, 1, 2]);
    for (i, pod) in &pods {
        let name = &pod.metadata.name;
        let prefix = format!("idx-{i}-");
        assert!(name.starts_with(&prefix) && name.len() == prefix.len() + 5, "{name}");
        assert_eq!(pod.spec.hostname.as_deref(), Some(format!("idx-{i}").as_str()));
        let index = i.to_string();
        let key = "batch.kubernetes.io/job-completion-index";
        assert_eq!(pod.metadata.labels.get(key), Some(&index), "label of {name}");
        assert_eq!(pod.metadata.annotations.get(key), Some(&index), "annotation of {name}");
        let env: Vec<_> =
            pod.spec.containers[0].env.iter().map(|e| (e.name.as_str(), e.value.as_str())).collect();
        assert_eq!(env, [("JOB_COMPLETION_INDEX", index.as_str())], "env of {name}");
    }
    assert_eq!(c.store().get::<Job>("idx").unwrap().unwrap().status.active, 3);

    // Index 1 succeeds: it is counted, and index 3 (the lowest free one) replaces it.
    set_phase(&c, &pods[1].1.metadata.name, "Succeeded");
    controller::sync_job(&c, "idx").unwrap();
    let job = c.store().get::<Job>("idx").unwrap().unwrap();
    assert_eq!(job.status.completed_indexes.as_deref(), Some("1"));
    assert_eq!(job.status.succeeded, 1);
    assert_eq!(indexes(&live_pods(&c, "idx")), [0, 2, 3]);

    // S50, S51: a second pod of index 0 and a pod of index 7 (≥ completions) are deleted, and
    // nothing is created in the same sync.
    c.commit(|t| {
        for index in [0, 7] {
            let mut pod = controller::new_pod(&job);
            drover_core::apply_completion_index(&job, &mut pod, index);
            t.create(pod, chrono::Utc::now())?;
        }
        Ok(())
    })
    .unwrap();
    assert_eq!(indexes(&live_pods(&c, "idx")), [0, 0, 2, 3, 7]);
    controller::sync_job(&c, "idx").unwrap();
    assert_eq!(indexes(&live_pods(&c, "idx")), [0, 2, 3]);
    let job = c.store().get::<Job>("idx").unwrap().unwrap();
    assert_eq!((job.status.succeeded, job.status.failed), (1, 0), "the deleted pods count for nothing");

    // S47: a second success of index 1 adds nothing. Then every pod succeeds until the end.
    let mut again = controller::new_pod(&job);
    drover_core::apply_completion_index(&job, &mut again, 1);
    let again = c.commit(|t| t.create(again, chrono::Utc::now())).unwrap();
    set_phase(&c, &again.metadata.name, "Succeeded");
    for _ in 0..10 {
        for (_, pod) in live_pods(&c, "idx") {
            set_phase(&c, &pod.metadata.name, "Succeeded");
        }
        controller::sync_job(&c, "idx").unwrap();
        if c.store().get::<Job>("idx").unwrap().unwrap().is_finished() {
            break;
        }
    }
    let job = c.store().get::<Job>("idx").unwrap().unwrap();
    assert!(job.status.conditions.iter().any(|c| c.type_ == "Complete" && c.status == "True"), "{job:?}");
    assert_eq!(job.status.completed_indexes.as_deref(), Some("0-4"));
    assert_eq!(job.status.succeeded, 5);
    assert_eq!(job.status.failed, 0);
}
