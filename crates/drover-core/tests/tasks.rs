//! Drover's task counts on queue Jobs: each pod's counts are folded into the Job exactly once.

mod common;

use common::*;
use drover_api::{QueueSpec, TaskCounts};
use drover_core::{BackoffRecord, JobConfig, decide};

fn tasks(succeeded: i64, failed: i64, requeued: i64) -> Option<TaskCounts> {
    Some(TaskCounts { succeeded, failed, requeued, duplicates: 0 })
}

fn queue_job() -> drover_api::Job {
    let mut job = job().work_queue().parallelism(2).build();
    job.spec.queue =
        Some(QueueSpec { url: "redis://127.0.0.1:6379".into(), name: "q".into(), ..Default::default() });
    job
}

#[test]
fn live_pods_count_but_are_not_folded_in() {
    let job = queue_job();
    let mut a = pod_running().named("a").build();
    a.status.tasks = tasks(5, 1, 1);
    let mut b = pod_running().named("b").build();
    b.status.tasks = tasks(2, 0, 0);
    let plan = decide(&job, &[a, b], &BackoffRecord::default(), &JobConfig::default(), now());
    assert_eq!(plan.status.tasks, tasks(7, 1, 1));
    assert_eq!(plan.status.counted_tasks, tasks(0, 0, 0));
}

#[test]
fn a_counted_pod_is_folded_in_once_and_survives_its_removal() {
    let job = queue_job();
    let mut done = pod_succeeded().named("done").build();
    done.status.tasks = tasks(10, 0, 0);
    let mut running = pod_running().named("running").build();
    running.status.tasks = tasks(3, 0, 0);
    let plan = decide(
        &job,
        &[done.clone(), running.clone()],
        &BackoffRecord::default(),
        &JobConfig::default(),
        now(),
    );
    assert_eq!(plan.status.counted_tasks, tasks(10, 0, 0));
    assert_eq!(plan.status.tasks, tasks(13, 0, 0));
    // Next sync: the counted pod lost its finalizer (and may be gone); nothing is added twice.
    let mut job2 = job.clone();
    job2.status = plan.status.clone();
    let plan2 = decide(&job2, &[running], &BackoffRecord::default(), &JobConfig::default(), now());
    assert_eq!(plan2.status.counted_tasks, tasks(10, 0, 0));
    assert_eq!(plan2.status.tasks, tasks(13, 0, 0));
}

#[test]
fn jobs_without_a_queue_have_no_task_counts() {
    let plan = decide(
        &job().build(),
        &[pod_running().build()],
        &BackoffRecord::default(),
        &JobConfig::default(),
        now(),
    );
    assert_eq!(plan.status.tasks, None);
}
