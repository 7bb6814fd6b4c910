//! Multi-sync simulations of `decide` against a toy runtime and a fake clock.
//!
//! The toy runtime applies each plan the way the coordinator does: it writes the status and the
//! back-off record, removes the tracking finalizer of every counted pod (same transaction),
//! requests termination of deleted pods (removing the finalizer first when `uncount`), and creates
//! pods from the template. Time advances in 1 s ticks. A sync runs on the first tick, on any tick
//! where a pod changed, on the tick after a sync that changed something (the Job's own status
//! write triggers a sync, JOB-T2), and when the plan's requeue is due. Every sync whose plan
//! deleted nothing must leave a fixed point (see `assert_fixed_point`).
//! Workers are modelled by a per-scenario behaviour; a terminating pod always exits 143 on the tick
//! after its termination was requested.

mod common;

use std::collections::BTreeSet;

use common::*;
use drover_api::labels::JOB_TRACKING_FINALIZER;
use drover_api::pod::{StateTerminated, phase};
use drover_api::{ContainerStatus, Job, Pod, Time};
use drover_core::{BackoffRecord, JobConfig, decide};

struct World {
    job: Job,
    pods: Vec<Pod>,
    backoff: BackoffRecord,
    config: JobConfig,
    now: Time,
    requeue_at: Option<Time>,
    /// Every pod's name and creation time, in creation order.
    created: Vec<(String, Time)>,
    /// Every pod counted so far: each at most once (STAT-1).
    counted: BTreeSet<String>,
    /// The most pods active at once.
    max_active: usize,
    /// Creations requested after the Job got FailureTarget, SuccessCriteriaMet or finished.
    creations_after_terminal: usize,
}

impl World {
    fn new(job: Job) -> World {
        World {
            job,
            pods: Vec::new(),
            backoff: BackoffRecord::default(),
            config: JobConfig::default(),
            now: now(),
            requeue_at: None,
            created: Vec::new(),
            counted: BTreeSet::new(),
            max_active: 0,
            creations_after_terminal: 0,
        }
    }

    fn terminal_condition(&self) -> bool {
        self.job.status.conditions.iter().any(|c| {
            c.status == "True"
                && ["FailureTarget", "SuccessCriteriaMet", "Complete", "Failed"].contains(&c.type_.as_str())
        })
    }

    /// One sync: decide, then apply the plan. Returns true when the plan changed anything.
    fn sync(&mut self) -> bool {
        let was_terminal = self.terminal_condition();
        let plan = decide(&self.job, &self.pods, &self.backoff, &self.config, self.now);
        assert!(plan.create == 0 || plan.delete.is_empty(), "creates and deletes at {}", self.now);
        if was_terminal {
            self.creations_after_terminal += plan.create;
        }
        let changed = plan.status != self.job.status
            || !plan.count.is_empty()
            || !plan.delete.is_empty()
            || plan.create > 0;
        self.job.status = plan.status.clone();
        self.backoff = plan.backoff.clone();
        for c in &plan.count {
            assert!(self.counted.insert(c.name.clone()), "{} counted twice", c.name);
            let pod = self.pod_mut(&c.name);
            assert!(
                pod.metadata.has_finalizer(JOB_TRACKING_FINALIZER),
                "{} counted without finalizer",
                c.name
            );
            pod.metadata.finalizers.retain(|f| f != JOB_TRACKING_FINALIZER);
        }
        for d in &plan.delete {
            let now = self.now;
            let pod = self.pod_mut(&d.name);
            if d.uncount {
                pod.metadata.finalizers.retain(|f| f != JOB_TRACKING_FINALIZER);
            }
            pod.metadata.deletion_timestamp = Some(now);
            pod.metadata.deletion_grace_period_seconds = Some(30);
        }
        for _ in 0..plan.create {
            let name = format!("job-{}", self.created.len() + 1);
            let mut pod = Pod::default();
            pod.metadata.name = name.clone();
            pod.metadata.creation_timestamp = Some(self.now);
            pod.metadata.finalizers = vec![JOB_TRACKING_FINALIZER.to_string()];
            pod.status.phase = phase::PENDING.into();
            pod.status.container_statuses =
                vec![ContainerStatus { name: "main".into(), ..Default::default() }];
            self.pods.push(pod);
            self.created.push((name, self.now));
        }
        self.max_active = self.max_active.max(self.pods.iter().filter(|p| p.is_active()).count());
        self.requeue_at = plan.requeue_after.map(|d| self.now + chrono::Duration::from_std(d).unwrap());
        if plan.delete_job {
            self.pods.clear();
        } else if plan.delete.is_empty() {
            self.assert_fixed_point();
        }
        changed
    }

    /// The coordinator does not queue a Job again for the writes of its own sync when the plan
    /// deleted nothing (`Coordinator::commit_syncing`). That is sound only if such a plan leaves
    /// the Job at a fixed point: deciding again at once, with nothing else changed, must do
    /// nothing.
    fn assert_fixed_point(&self) {
        let again = decide(&self.job, &self.pods, &self.backoff, &self.config, self.now);
        assert!(
            again.status == self.job.status
                && again.count.is_empty()
                && again.delete.is_empty()
                && again.create == 0
                && !again.delete_job
                && again.backoff == self.backoff,
            "a sync without deletions did not reach a fixed point at {}: {again:?}",
            self.now
        );
    }

    fn pod_mut(&mut self, name: &str) -> &mut Pod {
        self.pods.iter_mut().find(|p| p.metadata.name == name).expect("pod exists")
    }

    /// Runs until the Job is finished and quiet, at most `max_secs` ticks.
    fn run(&mut self, mut behaviour: impl FnMut(&mut Pod, Time) -> bool, max_secs: u32) {
        let mut dirty = true; // JOB-T1: a new Job is synced at once.
        let mut quiet_after_finish = 0;
        for _ in 0..max_secs {
            let now = self.now;
            for pod in &mut self.pods {
                dirty |= sigterm_exits(pod, now) || behaviour(pod, now);
            }
            let due = self.requeue_at.is_some_and(|t| t <= now);
            if dirty || due {
                dirty = self.sync();
            }
            if self.job.is_finished() && !dirty {
                quiet_after_finish += 1;
                if quiet_after_finish == 3 {
                    self.assert_ledger_settled();
                    return;
                }
            }
            self.now += chrono::Duration::seconds(1);
        }
        panic!("the Job did not finish within {max_secs} s: {:?}", self.job.status);
    }

    /// RE-8: once finished, no outcome is left pending and the counters match the ledger.
    fn assert_ledger_settled(&self) {
        for p in &self.pods {
            assert!(
                !p.metadata.has_finalizer(JOB_TRACKING_FINALIZER),
                "{} still carries the finalizer",
                p.metadata.name
            );
        }
        let s = &self.job.status;
        assert_eq!(usize::try_from(s.succeeded + s.failed).unwrap(), self.counted.len());
        assert_eq!((s.active, s.terminating), (0, Some(0)));
        assert_eq!(self.creations_after_terminal, 0, "created pods after a terminal condition");
    }

    fn conditions(&self) -> Vec<(String, String, String)> {
        self.job
            .status
            .conditions
            .iter()
            .map(|c| (c.type_.clone(), c.status.clone(), c.reason.clone()))
            .collect()
    }

    fn creation_times(&self) -> Vec<Time> {
        self.created.iter().map(|(_, t)| *t).collect()
    }
}

fn cond(type_: &str, status: &str, reason: &str) -> (String, String, String) {
    (type_.into(), status.into(), reason.into())
}

/// Ends the pod's process with `code` at `at`.
fn exit(pod: &mut Pod, code: i32, at: Time) {
    pod.status.phase = if code == 0 { phase::SUCCEEDED } else { phase::FAILED }.into();
    pod.status.container_statuses[0].state.running = None;
    pod.status.container_statuses[0].state.terminated =
        Some(StateTerminated { exit_code: code, finished_at: Some(at), ..Default::default() });
}

/// A terminating pod traps SIGTERM and exits 143 on the next tick.
fn sigterm_exits(pod: &mut Pod, now: Time) -> bool {
    match pod.metadata.deletion_timestamp {
        Some(t) if !pod.is_terminal() && now > t => {
            exit(pod, 143, now);
            true
        }
        _ => false,
    }
}

fn age(pod: &Pod, now: Time) -> i64 {
    (now - pod.metadata.creation_timestamp.unwrap()).num_seconds()
}

/// Every pod fails the instant it starts (finishes at its creation time).
fn fail_instantly(pod: &mut Pod, _now: Time) -> bool {
    if pod.status.phase == phase::PENDING && pod.metadata.deletion_timestamp.is_none() {
        let at = pod.metadata.creation_timestamp.unwrap();
        exit(pod, 1, at);
        return true;
    }
    false
}

/// Pods start on the tick after creation and exit 0 after `secs` s.
fn succeed_after(secs: i64) -> impl FnMut(&mut Pod, Time) -> bool {
    move |pod, now| {
        if !pod.is_active() {
            return false;
        }
        if pod.status.phase == phase::PENDING {
            pod.status.phase = phase::RUNNING.into();
            return true;
        }
        if age(pod, now) >= secs {
            exit(pod, 0, now);
            return true;
        }
        false
    }
}

/// S22 (FAIL-11): P=1, C=1, backoffLimit=6, every pod fails instantly → 7 pods, the gaps between a
/// failure and the next creation are 10, 20, 40, 80, 160, 320 s, then Failed.
#[test]
fn s22_backoff_gaps_until_the_limit() {
    let mut w = World::new(job().fresh().build());
    w.run(fail_instantly, 2_000);
    let times = w.creation_times();
    assert_eq!(times.len(), 7, "7 pods in total");
    // Each pod finished at its creation time, so creation-to-creation is failure-to-creation.
    let gaps: Vec<i64> = times.windows(2).map(|p| (p[1] - p[0]).num_seconds()).collect();
    assert_eq!(gaps, vec![10, 20, 40, 80, 160, 320]);
    assert_eq!(w.job.status.failed, 7);
    assert_eq!(
        w.conditions(),
        vec![
            cond("FailureTarget", "True", "BackoffLimitExceeded"),
            cond("Failed", "True", "BackoffLimitExceeded"),
        ]
    );
    assert_eq!(w.backoff, BackoffRecord::default(), "record dropped when the Job finished");
}

/// S19 (E2E-J "should fail to exceed backoffLimit"): backoffLimit=1 → exactly 2 pods, both Failed.
#[test]
fn s19_backoff_limit_one_gives_two_pods() {
    let mut w = World::new(job().fresh().backoff_limit(1).build());
    w.run(fail_instantly, 200);
    assert_eq!(w.created.len(), 2);
    assert!(w.pods.iter().all(|p| p.status.phase == phase::FAILED));
    assert_eq!((w.job.status.failed, w.job.status.succeeded), (2, 0));
    assert_eq!(
        w.conditions(),
        vec![
            cond("FailureTarget", "True", "BackoffLimitExceeded"),
            cond("Failed", "True", "BackoffLimitExceeded"),
        ]
    );
    assert!(w.job.status.completion_time.is_none());
}

/// S10 (JOB-W1): P=4, C=2 → exactly 2 creations; after 1 success nothing new; after 2, Complete.
#[test]
fn s10_parallelism_above_completions() {
    let mut w = World::new(job().fresh().parallelism(4).completions(2).build());
    // job-1 takes 5 s, job-2 takes 8 s.
    let mut behaviour = |pod: &mut Pod, now: Time| {
        if !pod.is_active() {
            return false;
        }
        let secs = if pod.metadata.name == "job-1" { 5 } else { 8 };
        if age(pod, now) >= secs {
            exit(pod, 0, now);
            return true;
        }
        false
    };
    w.run(&mut behaviour, 100);
    assert_eq!(w.created.len(), 2, "exactly 2 creations");
    assert_eq!(w.max_active, 2);
    assert_eq!((w.job.status.succeeded, w.job.status.failed), (2, 0));
    assert_eq!(
        w.conditions(),
        vec![
            cond("SuccessCriteriaMet", "True", "CompletionsReached"),
            cond("Complete", "True", "CompletionsReached"),
        ]
    );
    // Complete on the tick the second pod exits (at +8 s).
    assert_eq!(w.job.status.completion_time, Some(later(8)));
}

/// S17 (E2E-J "should run a job to completion when tasks succeed"): P=2, C=4, every pod exits 0
/// after 10 s → 4 pods, never more than 2 at once, SuccessCriteriaMet then Complete.
#[test]
fn s17_two_waves_to_completion() {
    let mut w = World::new(job().fresh().parallelism(2).completions(4).build());
    w.run(succeed_after(10), 200);
    assert_eq!(w.created.len(), 4);
    assert_eq!(w.max_active, 2);
    assert_eq!((w.job.status.succeeded, w.job.status.failed), (4, 0));
    assert_eq!(
        w.conditions(),
        vec![
            cond("SuccessCriteriaMet", "True", "CompletionsReached"),
            cond("Complete", "True", "CompletionsReached"),
        ]
    );
    let start = w.job.status.start_time.unwrap();
    assert_eq!(start, now());
    // Wave 1 at 0 s, wave 2 on the tick wave 1 exits (after one replacement per success).
    let offsets: Vec<i64> = w.creation_times().iter().map(|t| (*t - start).num_seconds()).collect();
    assert_eq!(offsets, vec![0, 0, 10, 10]);
}

/// S39 (E2E-J "should not create pods when created in suspend state"): suspended → 0 pods;
/// unsuspended → pods run and the Job completes. S37: startTime is the resume time.
#[test]
fn s39_created_suspended_then_resumed() {
    let mut w = World::new(job().fresh().suspend(true).parallelism(2).completions(2).build());
    for _ in 0..30 {
        w.sync();
        w.now += chrono::Duration::seconds(1);
    }
    assert!(w.created.is_empty());
    assert_eq!(w.job.status.start_time, None);
    assert_eq!(w.conditions(), vec![cond("Suspended", "True", "JobSuspended")]);

    let resumed_at = w.now;
    w.job.spec.suspend = Some(false);
    w.run(succeed_after(3), 100);
    assert_eq!(w.created.len(), 2);
    assert_eq!(w.job.status.start_time, Some(resumed_at));
    assert_eq!(
        w.conditions(),
        vec![
            cond("Suspended", "False", "JobResumed"),
            cond("SuccessCriteriaMet", "True", "CompletionsReached"),
            cond("Complete", "True", "CompletionsReached"),
        ]
    );
}

/// S21 end to end (FAIL-1, RE-5): P=2, C=4, backoffLimit=0. The first pod fails at once while the
/// second keeps running → FailureTarget, the running pod is terminated and counted as failed,
/// then Failed once it has exited. No pod is created after FailureTarget.
#[test]
fn s21_running_pods_are_counted_when_the_job_fails() {
    let mut w = World::new(job().fresh().parallelism(2).completions(4).backoff_limit(0).build());
    let mut behaviour = |pod: &mut Pod, now: Time| {
        if pod.metadata.name == "job-1" {
            return fail_instantly(pod, now);
        }
        if pod.status.phase == phase::PENDING && pod.is_active() {
            pod.status.phase = phase::RUNNING.into();
            return true;
        }
        false
    };
    w.run(&mut behaviour, 100);
    assert_eq!(w.created.len(), 2);
    assert_eq!((w.job.status.failed, w.job.status.succeeded), (2, 0));
    assert_eq!(
        w.conditions(),
        vec![
            cond("FailureTarget", "True", "BackoffLimitExceeded"),
            cond("Failed", "True", "BackoffLimitExceeded"),
        ]
    );
}

/// S35 (E2E-J "should fail when exceeds active deadline"): ADS=5, P=2, C=4, pods never exit →
/// FailureTarget at startTime+5 s, then Failed once the pods are gone; failed=2.
#[test]
fn s35_deadline_end_to_end() {
    let mut w = World::new(job().fresh().parallelism(2).completions(4).deadline(5).build());
    let never_exit = |pod: &mut Pod, _now: Time| {
        if pod.status.phase == phase::PENDING && pod.is_active() {
            pod.status.phase = phase::RUNNING.into();
            return true;
        }
        false
    };
    w.run(never_exit, 100);
    assert_eq!(w.created.len(), 2);
    assert_eq!(w.job.status.failed, 2);
    assert_eq!(
        w.conditions(),
        vec![cond("FailureTarget", "True", "DeadlineExceeded"), cond("Failed", "True", "DeadlineExceeded"),]
    );
    let ft = &w.job.status.conditions[0];
    assert_eq!(ft.last_transition_time, Some(later(5)), "JOB-T4 woke the Job exactly at the deadline");
}

/// S61 end to end: ttlSecondsAfterFinished=100 → the Job is deleted 100 s after it completed.
#[test]
fn s61_ttl_deletes_after_expiry() {
    let mut w = World::new(job().fresh().ttl(100).build());
    w.run(succeed_after(2), 100);
    let done = w.job.status.completion_time.unwrap();
    // Keep ticking: the TTL requeue is the only thing that wakes the Job up.
    let mut deleted_at = None;
    for _ in 0..200 {
        w.now += chrono::Duration::seconds(1);
        if w.requeue_at.is_some_and(|t| t <= w.now) {
            let plan = decide(&w.job, &w.pods, &w.backoff, &w.config, w.now);
            if plan.delete_job {
                deleted_at = Some(w.now);
                break;
            }
            w.requeue_at = plan.requeue_after.map(|d| w.now + chrono::Duration::from_std(d).unwrap());
        }
    }
    assert_eq!(deleted_at, Some(done + chrono::Duration::seconds(100)));
}
