//! Where the Job controller puts the pods it creates: straight onto a worker with a free slot,
//! unless pods are already waiting for one (they keep their turn with the scheduler).

use std::sync::Arc;

use drover_api::{Job, ObjectMeta, Pod, Worker};
use drover_coordinator::{Config, Coordinator, controller, scheduler};
use drover_store::Store;
use tokio_util::sync::CancellationToken;

fn coordinator() -> Coordinator {
    let config = Config::default();
    Coordinator::new(Arc::new(Store::open_in_memory().unwrap()), config, CancellationToken::new())
}

fn add_worker(c: &Coordinator, name: &str, slots: i32) {
    let mut w =
        Worker { metadata: ObjectMeta { name: name.into(), ..Default::default() }, ..Default::default() };
    w.spec.slots = slots;
    w.status.phase = drover_api::worker::phase::READY.into();
    c.commit(|t| t.create(w, chrono::Utc::now())).unwrap();
}

fn add_job(c: &Coordinator, name: &str, completions: i32, parallelism: i32) {
    let job: Job = serde_json::from_value(serde_json::json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            "completions": completions,
            "parallelism": parallelism,
            "template": {"spec": {
                "restartPolicy": "Never",
                "containers": [{"name": "c", "image": "busybox", "command": ["true"]}]
            }}
        }
    }))
    .unwrap();
    c.commit(|t| controller::create_job(t, job, chrono::Utc::now())).unwrap();
}

fn pods_of(c: &Coordinator, job: &str) -> Vec<Pod> {
    c.store()
        .list::<Pod>()
        .unwrap()
        .into_iter()
        .filter(|p| p.metadata.labels.get("job-name").map(String::as_str) == Some(job))
        .collect()
}

fn nodes(pods: &[Pod]) -> (usize, usize) {
    let bound = pods.iter().filter(|p| p.node_name().is_some()).count();
    (bound, pods.len() - bound)
}

#[test]
fn new_pods_are_bound_at_creation_up_to_the_free_slots() {
    let c = coordinator();
    add_worker(&c, "w1", 2);
    add_job(&c, "a", 3, 3);
    controller::sync_job(&c, "a").unwrap();
    let pods = pods_of(&c, "a");
    assert_eq!(pods.len(), 3);
    assert_eq!(nodes(&pods), (2, 1), "two free slots, so two pods bound and one left waiting");
    assert!(pods.iter().filter_map(|p| p.node_name()).all(|n| n == "w1"));
    // Nothing left for the scheduler while no slot is free.
    assert_eq!(scheduler::schedule_once(&c).unwrap(), 0);
}

#[test]
fn a_waiting_pod_keeps_its_turn_over_newer_pods() {
    let c = coordinator();
    add_worker(&c, "w1", 1);
    add_job(&c, "first", 2, 2);
    controller::sync_job(&c, "first").unwrap();
    let waiting: Vec<String> = pods_of(&c, "first")
        .into_iter()
        .filter(|p| p.node_name().is_none())
        .map(|p| p.metadata.name)
        .collect();
    assert_eq!(waiting.len(), 1);

    // A second worker joins and a second Job is created before the scheduler runs: the new
    // Job's pod is not bound ahead of the one already waiting.
    add_worker(&c, "w2", 1);
    add_job(&c, "second", 1, 1);
    controller::sync_job(&c, "second").unwrap();
    assert_eq!(nodes(&pods_of(&c, "second")), (0, 1));
    assert_eq!(scheduler::schedule_once(&c).unwrap(), 1);
    let older = c.store().get::<Pod>(&waiting[0]).unwrap().unwrap();
    assert_eq!(older.node_name(), Some("w2"), "the oldest waiting pod got the free slot");
    assert_eq!(nodes(&pods_of(&c, "second")), (0, 1));
}

#[test]
fn cordoned_or_full_workers_get_no_pods_at_creation() {
    let c = coordinator();
    add_worker(&c, "w1", 4);
    let mut w: Worker = c.store().get("w1").unwrap().unwrap();
    w.spec.unschedulable = true;
    c.commit(|t| t.update(w)).unwrap();
    add_job(&c, "a", 2, 2);
    controller::sync_job(&c, "a").unwrap();
    assert_eq!(nodes(&pods_of(&c, "a")), (0, 2));
}

/// A worker's report of a pod that ended hands the freed slot to the oldest waiting pod in the
/// same commit: the next pod is on its way to the worker before any scheduling pass runs.
#[test]
fn a_pod_that_ends_hands_its_slot_to_the_oldest_waiting_pod_in_the_reporting_commit() {
    let c = coordinator();
    add_worker(&c, "w1", 1);
    add_job(&c, "first", 2, 2);
    controller::sync_job(&c, "first").unwrap();
    add_job(&c, "second", 1, 1);
    controller::sync_job(&c, "second").unwrap();
    let first = pods_of(&c, "first");
    let running = first.iter().find(|p| p.node_name().is_some()).unwrap().clone();
    let oldest_waiting = first.iter().find(|p| p.node_name().is_none()).unwrap().metadata.name.clone();
    assert_eq!(nodes(&pods_of(&c, "second")), (0, 1));

    let mut status = running.status.clone();
    status.phase = drover_api::pod::phase::SUCCEEDED.into();
    let report =
        drover_api::protocol::StatusReport { uid: running.metadata.uid.clone(), worker: "w1".into(), status };
    let results = c.report_statuses(vec![(running.metadata.name.clone(), report)]).unwrap();
    assert_eq!(results, [Ok(())]);
    let next = c.store().get::<Pod>(&oldest_waiting).unwrap().unwrap();
    assert_eq!(next.node_name(), Some("w1"), "the slot went to the oldest waiting pod at once");
    assert_eq!(nodes(&pods_of(&c, "second")), (0, 1), "the newer pod still waits");
    assert_eq!(scheduler::schedule_once(&c).unwrap(), 0, "nothing left for a scheduling pass");

    // A report that ends nothing (Running) binds nothing.
    let mut status = next.status.clone();
    status.phase = drover_api::pod::phase::RUNNING.into();
    let report =
        drover_api::protocol::StatusReport { uid: next.metadata.uid.clone(), worker: "w1".into(), status };
    c.report_status(&next.metadata.name, report).unwrap();
    assert_eq!(nodes(&pods_of(&c, "second")), (0, 1));
}
