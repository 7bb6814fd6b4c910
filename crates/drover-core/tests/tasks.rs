//! Drover's task counts on queue Jobs: each pod's counts are folded into the Job exactly once,
//! and the task ledger (semantics.md §10.10), when the Job has one, gives the exact `succeeded`.

mod common;

use common::*;
use drover_api::{QueueSpec, TaskCounts};
use drover_core::{BackoffRecord, JobConfig, TaskLedger, decide, decide_with_ledger};

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

fn ledger(succeeded: i64, duplicates: i64) -> TaskLedger {
    TaskLedger { succeeded, duplicates }
}

/// One sync with a task ledger: `(name, pods' reported counts, ledger, want status.tasks)`.
type LedgerCase = (&'static str, Vec<Option<TaskCounts>>, Option<TaskLedger>, Option<TaskCounts>);

#[test]
fn the_ledger_gives_succeeded_and_duplicates_and_the_reports_the_rest() {
    let with = |s, f, r, d| Some(TaskCounts { succeeded: s, failed: f, requeued: r, duplicates: d });
    let cases: [LedgerCase; 5] = [
        ("no ledger: the reports, as before", vec![tasks(5, 1, 1), tasks(2, 0, 0)], None, with(7, 1, 1, 0)),
        (
            // A task ran twice (a lost lease): both pods reported it, the ledger has it once.
            "a task run twice is counted once",
            vec![tasks(5, 0, 1), tasks(3, 0, 0)],
            Some(ledger(7, 1)),
            with(7, 0, 1, 1),
        ),
        (
            // A killed worker's pod never reported its last successes; the ledger has them.
            "successes a lost report never carried are counted",
            vec![tasks(2, 1, 0), None],
            Some(ledger(9, 0)),
            with(9, 1, 0, 0),
        ),
        ("a ledger with nothing recorded yet", vec![tasks(0, 2, 2)], Some(ledger(0, 0)), with(0, 2, 2, 0)),
        ("no pods reported yet", vec![None, None], Some(ledger(4, 2)), with(4, 0, 0, 2)),
    ];
    for (name, counts, ledger, want) in cases {
        let pods: Vec<_> = counts
            .into_iter()
            .enumerate()
            .map(|(i, c)| {
                let mut p = pod_running().named(&format!("p{i}")).build();
                p.status.tasks = c;
                p
            })
            .collect();
        let plan = decide_with_ledger(
            &queue_job(),
            &pods,
            &BackoffRecord::default(),
            ledger.as_ref(),
            &JobConfig::default(),
            now(),
        );
        assert_eq!(plan.status.tasks, want, "{name}");
        // countedTasks stays the pods' own bookkeeping: nothing was counted in this sync.
        assert_eq!(plan.status.counted_tasks, tasks(0, 0, 0), "{name}");
    }
}

#[test]
fn the_ledger_count_holds_after_the_pods_are_counted_and_removed() {
    let job = queue_job();
    let mut done = pod_succeeded().named("done").build();
    done.status.tasks = tasks(6, 0, 0);
    let l = ledger(5, 1);
    let plan =
        decide_with_ledger(&job, &[done], &BackoffRecord::default(), Some(&l), &JobConfig::default(), now());
    assert_eq!(plan.status.tasks.map(|t| (t.succeeded, t.duplicates)), Some((5, 1)));
    let mut job2 = job.clone();
    job2.status = plan.status.clone();
    let plan2 =
        decide_with_ledger(&job2, &[], &BackoffRecord::default(), Some(&l), &JobConfig::default(), now());
    assert_eq!(plan2.status.tasks.map(|t| (t.succeeded, t.duplicates)), Some((5, 1)));
    assert_eq!(plan2.status, plan.status, "nothing changed, so the status is a fixed point");
}
