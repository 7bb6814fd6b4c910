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
use std::time::Duration;

use common::*;
use drover_api::labels::JOB_TRACKING_FINALIZER;
use drover_api::pod::{PodCondition, StateTerminated, phase};
use drover_api::{ContainerStatus, Job, Pod, Time};
use drover_core::{BackoffRecord, JobConfig, Outcome, decide};

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
    /// Those of them released without a counter (outcomes `Ignored`, `Disrupted`, `Discarded`).
    released: usize,
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
            released: 0,
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
        // As the runtime reads them (`list_owned_live`): counted, finished pods are never read again.
        let live = self.live_pods();
        let plan = decide(&self.job, &live, &self.backoff, &self.config, self.now);
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
            if matches!(c.outcome, Outcome::Ignored | Outcome::Disrupted | Outcome::Discarded) {
                self.released += 1;
            }
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
        assert!(plan.create_indexes.is_empty() || plan.create_indexes.len() == plan.create);
        for n in 0..plan.create {
            let name = format!("job-{}", self.created.len() + 1);
            let mut pod = Pod::default();
            // JOB-M7: the pod of an index, as the runtime will decorate it.
            if let Some(&index) = plan.create_indexes.get(n) {
                drover_core::apply_completion_index(&self.job, &mut pod, index);
                // FAIL-20: with backoffLimitPerIndex, the index's failures so far.
                if let Some(failures) = plan.index_failures.get(&index) {
                    drover_core::apply_index_failures(&mut pod, *failures);
                }
            }
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
        } else if plan.delete.is_empty() && plan.requeue_after != Some(Duration::ZERO) {
            self.assert_fixed_point();
        }
        changed
    }

    /// The coordinator does not queue a Job again for the writes of its own sync when the plan
    /// deleted nothing (`Coordinator::commit_syncing`). That is sound only if such a plan leaves
    /// the Job at a fixed point: deciding again at once, with nothing else changed, must do
    /// nothing. A plan that asks to be synced again at once (creations capped by JOB-M5) is
    /// exempt: the requeue is its next sync.
    /// The pods a sync reads: not terminal, or not counted yet (the store's `live` column).
    fn live_pods(&self) -> Vec<Pod> {
        self.pods
            .iter()
            .filter(|p| !p.is_terminal() || p.metadata.has_finalizer(JOB_TRACKING_FINALIZER))
            .cloned()
            .collect()
    }

    fn assert_fixed_point(&self) {
        let again = decide(&self.job, &self.live_pods(), &self.backoff, &self.config, self.now);
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
        assert_eq!(usize::try_from(s.succeeded + s.failed).unwrap() + self.released, self.counted.len());
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

/// Fails the pod the way the fleet does (the coordinator's `fail_pod`): phase Failed with
/// `reason`, `DisruptionTarget=True` and `Ready=False` at `at`; the process never reported an exit.
fn fail_by_fleet(pod: &mut Pod, reason: &str, at: Time) {
    pod.status.phase = phase::FAILED.into();
    pod.status.reason = Some(reason.into());
    for (type_, status) in [("DisruptionTarget", "True"), ("Ready", "False")] {
        pod.status.conditions.push(PodCondition {
            type_: type_.into(),
            status: status.into(),
            reason: Some(reason.into()),
            message: None,
            last_transition_time: Some(at),
        });
    }
}

/// Pods start on the tick after creation and exit 0 after 5 s, but at each of `kills` (seconds
/// after `now()`) every running pod is failed by the fleet, alternately `WorkerLost` and
/// `WorkerRestarted`.
fn worker_kills(kills: &'static [i64]) -> impl FnMut(&mut Pod, Time) -> bool {
    let mut succeed = succeed_after(5);
    move |pod, now| {
        let tick = (now - common::now()).num_seconds();
        if pod.status.phase == phase::RUNNING
            && pod.is_active()
            && let Some(i) = kills.iter().position(|k| *k == tick)
        {
            fail_by_fleet(pod, if i % 2 == 0 { "WorkerLost" } else { "WorkerRestarted" }, now);
            return true;
        }
        succeed(pod, now)
    }
}

const KILLS: &[i64] = &[2, 4, 6, 8, 10, 12];

/// §10.9, issue 10 case 3: a burst of worker failures, each taking every running pod, with the
/// podFailurePolicy `Ignore` rule on `DisruptionTarget`. Each lost pod is replaced on the tick it
/// is counted, the back-off record stays empty, nothing counts toward backoffLimit 0, and once the
/// faults stop the Job finishes exactly as fast as an undisturbed one (4 waves of 5 s).
#[test]
fn s10_9_a_burst_of_worker_failures_never_delays_recreation() {
    let job = job()
        .fresh()
        .parallelism(3)
        .completions(12)
        .backoff_limit(0)
        .pod_failure_policy(vec![on_pod_condition("Ignore", "DisruptionTarget")]);
    let mut w = World::new(job.build());
    w.run(worker_kills(KILLS), 200);
    let created = w.creation_times();
    for k in KILLS {
        let disrupted =
            w.pods.iter().filter(|p| p.status.reason.is_some() && p.finish_time() == Some(later(*k)));
        let replaced = created.iter().filter(|t| **t == later(*k)).count();
        assert_eq!(disrupted.count(), 3, "every running pod was disrupted at +{k} s");
        assert_eq!(replaced, 3, "the 3 pods lost at +{k} s were replaced at once");
    }
    assert_eq!(created.len(), 3 + 3 * KILLS.len() + 9, "18 replacements, then 3 more waves of 3");
    assert_eq!((w.job.status.succeeded, w.job.status.failed), (12, 0));
    assert_eq!(w.released, 18, "every lost pod released uncounted");
    assert!(w.conditions().contains(&cond("Complete", "True", "CompletionsReached")));
    assert_eq!(
        w.job.status.completion_time,
        Some(later(12 + 4 * 5)),
        "as fast as undisturbed once the faults stop"
    );
}

/// §10.9 without a podFailurePolicy: the lost pods count toward backoffLimit, as in Kubernetes,
/// but their replacements still never wait.
#[test]
fn s10_9_counted_disruptions_do_not_delay_recreation_either() {
    let mut w = World::new(job().fresh().parallelism(3).completions(12).backoff_limit(100).build());
    w.run(worker_kills(KILLS), 200);
    assert_eq!((w.job.status.succeeded, w.job.status.failed), (12, 18));
    for k in KILLS {
        assert_eq!(w.creation_times().iter().filter(|t| **t == later(*k)).count(), 3, "+{k} s");
    }
    assert_eq!(w.job.status.completion_time, Some(later(12 + 4 * 5)));
}

/// §10.9 next to FAIL-11: failures of the command still back off, and disruptions between them
/// neither delay a replacement nor lengthen the next delay. P=1, C=1: job-1 is lost at +2 s,
/// job-2 restarted at +4 s (replaced at once), job-3 exits 1 at +6 s (back-off 10 s: job-4 at
/// +16 s), job-4 is lost at +18 s (replaced at once), job-5 exits 1 at +20 s (n = 2: 20 s, not the
/// 80 s that counting the disruptions would give), job-6 succeeds.
#[test]
fn s10_9_command_failures_among_disruptions_still_back_off() {
    let mut w = World::new(job().fresh().build());
    let behaviour = |pod: &mut Pod, now: Time| {
        if !pod.is_active() {
            return false;
        }
        if pod.status.phase == phase::PENDING {
            pod.status.phase = phase::RUNNING.into();
            return true;
        }
        if age(pod, now) < 2 {
            return false;
        }
        match pod.metadata.name.as_str() {
            "job-1" | "job-4" => fail_by_fleet(pod, "WorkerLost", now),
            "job-2" => fail_by_fleet(pod, "WorkerRestarted", now),
            "job-3" | "job-5" => exit(pod, 1, now),
            _ => exit(pod, 0, now),
        }
        true
    };
    w.run(behaviour, 200);
    let offsets: Vec<i64> = w.creation_times().iter().map(|t| (*t - now()).num_seconds()).collect();
    assert_eq!(offsets, vec![0, 2, 4, 16, 18, 40]);
    assert_eq!(
        (w.job.status.succeeded, w.job.status.failed),
        (1, 5),
        "every failure counts without a policy"
    );
    assert_eq!(w.job.status.completion_time, Some(later(42)));
}

/// JOB-M5 (issue 10): a Job wider than the per-sync cap (500) gets every pod it lacks without
/// waiting for any other event: the capped sync asks to be synced again at once. Here nothing else
/// happens at all (no pod ever starts), and only due requeues run a sync.
#[test]
fn job_m5_a_job_wider_than_the_cap_fills_up_without_another_event() {
    let mut w = World::new(job().fresh().parallelism(1_200).completions(1_200).build());
    w.sync();
    assert_eq!(w.created.len(), 500, "one sync creates at most 500");
    for _ in 0..5 {
        w.now += chrono::Duration::seconds(1);
        if w.requeue_at.is_some_and(|t| t <= w.now) {
            w.sync();
        }
    }
    assert_eq!(w.created.len(), 1_200);
    assert_eq!(w.job.status.active, 1_200);
    assert_eq!(w.requeue_at, None, "full: nothing more to do");
    w.assert_fixed_point();
}

/// S45 over several syncs (Indexed, JOB-M5, JOB-5b, §10.9): P=2, C=5; the first pod of index 1
/// fails at once, the first pod of index 3 is cut off by a worker's drain, every other pod exits
/// 0 after 3 s → each failed index runs again with its own index, 7 pods in all, never more than
/// 2 at once, Complete with completedIndexes "0-4", succeeded 5, failed 1.
#[test]
fn s45_indexed_job_runs_every_index_to_completion() {
    let mut w = World::new(job().fresh().indexed().parallelism(2).completions(5).build());
    let mut first_of = std::collections::BTreeMap::new();
    let mut behaviour = |pod: &mut Pod, now: Time| {
        if !pod.is_active() {
            return false;
        }
        let index = drover_core::completion_index(pod).expect("every created pod has an index");
        let first = *first_of.entry(index).or_insert_with(|| pod.metadata.name.clone()) == pod.metadata.name;
        if pod.status.phase == phase::PENDING {
            pod.status.phase = phase::RUNNING.into();
            return true;
        }
        if first && index == 1 {
            exit(pod, 1, now);
            return true;
        }
        if first && index == 3 {
            pod.status.phase = phase::FAILED.into();
            pod.status.reason = Some("WorkerDrained".into());
            pod.status.conditions.push(PodCondition {
                type_: "DisruptionTarget".into(),
                status: "True".into(),
                reason: None,
                message: None,
                last_transition_time: Some(now),
            });
            return true;
        }
        if age(pod, now) >= 3 {
            exit(pod, 0, now);
            return true;
        }
        false
    };
    w.run(&mut behaviour, 200);
    let indexes: Vec<i32> = w.pods.iter().map(|p| drover_core::completion_index(p).unwrap()).collect();
    // Lowest pending index first (JOB-M5): index 1 is retried before 2 is started.
    assert_eq!(indexes, vec![0, 1, 1, 2, 3, 4, 3], "creation order of the indexes");
    assert_eq!(w.max_active, 2);
    assert_eq!(w.job.status.completed_indexes.as_deref(), Some("0-4"));
    assert_eq!((w.job.status.succeeded, w.job.status.failed), (5, 1));
    assert_eq!(
        w.conditions(),
        vec![
            cond("SuccessCriteriaMet", "True", "CompletionsReached"),
            cond("Complete", "True", "CompletionsReached"),
        ]
    );
}

/// S52 over many syncs: C=4, P=2, backoffLimitPerIndex=1, the odd indexes always fail. Each odd
/// index runs twice (one retry, after its own back-off) and fails; the even ones succeed; the
/// Job fails with FailedIndexes once every index ended, and never creates a pod of a failed
/// index.
#[test]
fn s52_backoff_limit_per_index_runs_every_index_despite_failures() {
    let mut w = World::new(job().fresh().indexed().parallelism(2).completions(4).per_index(1).build());
    let mut behaviour = |pod: &mut Pod, now: Time| {
        if !pod.is_active() {
            return false;
        }
        if pod.status.phase == phase::PENDING {
            pod.status.phase = phase::RUNNING.into();
            return true;
        }
        let index = drover_core::completion_index(pod).expect("an index");
        if age(pod, now) >= 2 {
            exit(pod, if index % 2 == 1 { 1 } else { 0 }, now);
            return true;
        }
        false
    };
    w.run(&mut behaviour, 600);
    let runs = |i: i32| w.pods.iter().filter(|p| drover_core::completion_index(p) == Some(i)).count();
    assert_eq!((runs(0), runs(1), runs(2), runs(3)), (1, 2, 1, 2), "one retry per failing index");
    let s = &w.job.status;
    assert_eq!(s.completed_indexes.as_deref(), Some("0,2"));
    assert_eq!(s.failed_indexes.as_deref(), Some("1,3"));
    assert_eq!((s.succeeded, s.failed), (2, 4));
    assert_eq!(
        w.conditions(),
        vec![cond("FailureTarget", "True", "FailedIndexes"), cond("Failed", "True", "FailedIndexes")]
    );
    // The retry of an index waited for its back-off (10 s from the failure) and carried the count.
    for i in [1, 3] {
        let pods: Vec<&Pod> = w.pods.iter().filter(|p| drover_core::completion_index(p) == Some(i)).collect();
        let failed_at = pods[0].finish_time().unwrap();
        assert!(pods[1].metadata.creation_timestamp.unwrap() >= failed_at + chrono::Duration::seconds(10));
        let count =
            |p: &Pod| p.metadata.annotations.get(drover_api::labels::JOB_INDEX_FAILURE_COUNT).cloned();
        assert_eq!((count(pods[0]), count(pods[1])), (Some("0".into()), Some("1".into())));
    }
}

/// S58 over many syncs: C=5, successPolicy `[{succeededIndexes: "0", succeededCount: 1}]`.
/// Index 0 succeeds while the others run: the Job gets SuccessCriteriaMet, the other pods are
/// terminated and not counted, and it completes with reason SuccessPolicy.
#[test]
fn s58_success_policy_ends_the_job_when_index_0_succeeds() {
    let job = job().fresh().indexed().parallelism(5).completions(5).success_policy(&[(Some("0"), Some(1))]);
    let mut w = World::new(job.build());
    let mut behaviour = |pod: &mut Pod, now: Time| {
        if !pod.is_active() {
            return false;
        }
        if pod.status.phase == phase::PENDING {
            pod.status.phase = phase::RUNNING.into();
            return true;
        }
        if drover_core::completion_index(pod) == Some(0) && age(pod, now) >= 3 {
            exit(pod, 0, now);
            return true;
        }
        false
    };
    w.run(&mut behaviour, 200);
    let s = &w.job.status;
    assert_eq!(w.pods.len(), 5, "no pod was created after the rule was met");
    assert_eq!(s.completed_indexes.as_deref(), Some("0"));
    assert_eq!((s.succeeded, s.failed), (1, 0), "the terminated pods are not counted as failed");
    assert_eq!(
        w.conditions(),
        vec![cond("SuccessCriteriaMet", "True", "SuccessPolicy"), cond("Complete", "True", "SuccessPolicy")]
    );
    assert_eq!(w.job.status.conditions[0].message, "Matched rules at index 0");
}

/// What a pod does once it runs, drawn at random for each pod in creation order (the pods
/// after the drawn ones succeed, so that every Job ends).
#[derive(Debug, Clone, Copy)]
enum Fate {
    /// Exits with this code after this many seconds (0 succeeds).
    Exit { code: i32, after: i64 },
    /// Its worker is lost after this many seconds (§10.9: `WorkerLost`, DisruptionTarget).
    Lost { after: i64 },
    /// Its worker drains after this many seconds (`WorkerDrained`: released, not counted).
    Drained { after: i64 },
}

fn fate_strategy() -> impl proptest::strategy::Strategy<Value = Fate> {
    use proptest::prelude::*;
    prop_oneof![
        4 => (0..5i64).prop_map(|after| Fate::Exit { code: 0, after }),
        3 => (prop::sample::select(vec![1, 2, 3, 4]), 0..5i64).prop_map(|(code, after)| Fate::Exit { code, after }),
        1 => (0..5i64).prop_map(|after| Fate::Lost { after }),
        1 => (0..5i64).prop_map(|after| Fate::Drained { after }),
    ]
}

/// A random Job: NonIndexed (fixed completions or a work queue) or Indexed, with or without
/// backoffLimitPerIndex, maxFailedIndexes, a podFailurePolicy (Ignore on 2, FailJob on 3, and
/// FailIndex on 4 when per-index) and a successPolicy.
#[derive(Debug, Clone)]
struct RandomJob {
    indexed: bool,
    completions: Option<i32>,
    parallelism: i32,
    backoff_limit: i32,
    per_index: Option<i32>,
    max_failed: Option<i32>,
    policy: bool,
    success_count: Option<i32>,
}

fn job_strategy() -> impl proptest::strategy::Strategy<Value = RandomJob> {
    use proptest::prelude::*;
    (
        any::<bool>(),
        1..6i32,
        any::<bool>(),
        1..4i32,
        0..4i32,
        proptest::option::of(0..3i32),
        proptest::option::of(0..3i32),
        any::<bool>(),
        proptest::option::of(1..4i32),
    )
        .prop_map(|(indexed, c, queue, p, limit, per_index, max_failed, policy, success)| {
            let indexed_job = indexed;
            RandomJob {
                indexed: indexed_job,
                completions: if !indexed_job && queue { None } else { Some(c) },
                parallelism: p,
                backoff_limit: limit,
                per_index: per_index.filter(|_| indexed_job),
                max_failed: max_failed.filter(|m| indexed_job && per_index.is_some() && *m <= c),
                policy,
                success_count: success.filter(|n| indexed_job && *n <= c),
            }
        })
}

impl RandomJob {
    fn build(&self) -> Job {
        let mut b = job().fresh().parallelism(self.parallelism).backoff_limit(self.backoff_limit);
        b = match self.completions {
            Some(c) => b.completions(c),
            None => b.work_queue(),
        };
        if self.indexed {
            b = b.indexed();
        }
        if let Some(n) = self.per_index {
            b = b.per_index(n);
        }
        if let Some(n) = self.max_failed {
            b = b.max_failed_indexes(n);
        }
        if self.policy {
            let mut rules =
                vec![on_exit_codes("Ignore", None, "In", &[2]), on_exit_codes("FailJob", None, "In", &[3])];
            if self.per_index.is_some() {
                rules.push(on_exit_codes("FailIndex", None, "In", &[4]));
            }
            b = b.pod_failure_policy(rules);
        }
        if let Some(n) = self.success_count {
            b = b.success_policy(&[(None, Some(n))]);
        }
        b.build()
    }
}

/// The status invariants of semantics.md §1.5 (INV-1..INV-9) between two consecutive statuses.
fn check_status(job: &Job, before: &drover_api::JobStatus, after: &drover_api::JobStatus) {
    let has =
        |s: &drover_api::JobStatus, t: &str| s.conditions.iter().any(|c| c.type_ == t && c.status == "True");
    // INV-1.
    assert!(after.active >= 0 && after.succeeded >= 0 && after.failed >= 0, "INV-1: {after:?}");
    assert!(after.ready.unwrap_or(0) <= after.active, "INV-1 ready ≤ active: {after:?}");
    // INV-2.
    assert!(
        after.succeeded >= before.succeeded && after.failed >= before.failed,
        "INV-2: {before:?} → {after:?}"
    );
    // INV-3.
    for t in ["Complete", "Failed", "FailureTarget", "SuccessCriteriaMet"] {
        assert!(!has(before, t) || has(after, t), "INV-3: {t} removed");
    }
    // INV-4, INV-5.
    assert!(!(has(after, "Complete") && has(after, "Failed")), "INV-4: {after:?}");
    assert!(!(has(after, "Complete") && has(after, "FailureTarget")), "INV-4: {after:?}");
    assert!(
        !(has(after, "SuccessCriteriaMet") && (has(after, "Failed") || has(after, "FailureTarget"))),
        "INV-4: {after:?}"
    );
    assert!(!has(after, "Failed") || has(after, "FailureTarget"), "INV-5: {after:?}");
    assert!(!has(after, "Complete") || has(after, "SuccessCriteriaMet"), "INV-5: {after:?}");
    // INV-6.
    assert_eq!(after.completion_time.is_some(), has(after, "Complete"), "INV-6: {after:?}");
    // INV-7.
    if has(after, "Complete") || has(after, "Failed") {
        assert_eq!((after.active, after.terminating.unwrap_or(0)), (0, 0), "INV-7: {after:?}");
        assert!(after.start_time.is_some(), "INV-7: {after:?}");
    }
    // INV-9.
    let c = job.spec.completions.unwrap_or(0);
    let indexed = job.spec.completion_mode.as_deref() == Some("Indexed");
    let completed = drover_api::IndexSet::parse(after.completed_indexes.as_deref().unwrap_or(""), c)
        .unwrap_or_else(|e| panic!("INV-9 completedIndexes {:?}: {e}", after.completed_indexes));
    assert!(indexed || completed.is_empty(), "INV-9: completedIndexes on a NonIndexed Job");
    match after.failed_indexes.as_deref() {
        Some(failed) => {
            assert!(
                job.spec.backoff_limit_per_index.is_some(),
                "INV-9: failedIndexes without backoffLimitPerIndex"
            );
            let failed =
                drover_api::IndexSet::parse(failed, c).unwrap_or_else(|e| panic!("INV-9 failedIndexes: {e}"));
            assert_eq!(failed.count_common(&completed), 0, "INV-9: overlap {after:?}");
        }
        None => assert!(job.spec.backoff_limit_per_index.is_none() || before.failed_indexes.is_none()),
    }
    if indexed {
        assert_eq!(usize::try_from(after.succeeded).unwrap(), completed.count(), "JOB-5b");
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 1000, ..Default::default() })]

    /// Random Jobs against random pod fates, synced like the coordinator does: after every sync
    /// the status invariants hold (§1.5), nothing is counted twice or without its finalizer, no
    /// plan both creates and deletes, no pod is created after a terminal condition, a plan that
    /// deletes nothing is a fixed point, at most `parallelism` pods stay active, an Indexed Job
    /// never runs an index twice at once nor one that completed or failed, and every Job ends.
    #[test]
    fn random_jobs_keep_every_invariant(spec in job_strategy(), fates in proptest::collection::vec(fate_strategy(), 1..12)) {
        let job = spec.build();
        let mut w = World::new(job.clone());
        w.config = JobConfig { backoff_base: Duration::from_secs(1), backoff_max: Duration::from_secs(4), ..JobConfig::default() };
        let mut started: std::collections::BTreeMap<String, Time> = std::collections::BTreeMap::new();
        let mut dirty = true;
        let mut finished_for = 0;
        for _ in 0..400 {
            let now = w.now;
            let order: Vec<String> = w.created.iter().map(|(n, _)| n.clone()).collect();
            for pod in &mut w.pods {
                if sigterm_exits(pod, now) {
                    dirty = true;
                    continue;
                }
                if !pod.is_active() {
                    continue;
                }
                if pod.status.phase == phase::PENDING {
                    pod.status.phase = phase::RUNNING.into();
                    started.insert(pod.metadata.name.clone(), now);
                    dirty = true;
                    continue;
                }
                let k = order.iter().position(|n| *n == pod.metadata.name).unwrap();
                let ran = (now - started[&pod.metadata.name]).num_seconds();
                match fates.get(k).copied().unwrap_or(Fate::Exit { code: 0, after: 1 }) {
                    Fate::Exit { code, after } if ran >= after => exit(pod, code, now),
                    Fate::Lost { after } if ran >= after => fail_by_fleet(pod, "WorkerLost", now),
                    Fate::Drained { after } if ran >= after => fail_by_fleet(pod, "WorkerDrained", now),
                    _ => continue,
                }
                dirty = true;
            }
            let due = w.requeue_at.is_some_and(|t| t <= now);
            if dirty || due {
                let before = w.job.status.clone();
                let created_before = w.pods.len();
                dirty = w.sync();
                check_status(&job, &before, &w.job.status);
                let active: Vec<&Pod> = w.pods.iter().filter(|p| p.is_active()).collect();
                proptest::prop_assert!(active.len() <= usize::try_from(job.parallelism().max(0)).unwrap(), "more active pods than parallelism");
                if spec.indexed {
                    let indexes: BTreeSet<i32> = active.iter().filter_map(|p| drover_core::completion_index(p)).collect();
                    proptest::prop_assert_eq!(indexes.len(), active.len(), "an index held twice");
                    let c = job.spec.completions.unwrap();
                    let done = drover_api::IndexSet::parse(before.completed_indexes.as_deref().unwrap_or(""), c).unwrap()
                        .union(&drover_api::IndexSet::parse(before.failed_indexes.as_deref().unwrap_or(""), c).unwrap());
                    for p in &w.pods[created_before..] {
                        let i = drover_core::completion_index(p).unwrap();
                        proptest::prop_assert!(!done.contains(i), "index {} created again after it ended", i);
                    }
                }
            }
            if w.job.is_finished() && !dirty {
                finished_for += 1;
                if finished_for == 3 {
                    w.assert_ledger_settled();
                    return Ok(());
                }
            }
            w.now += chrono::Duration::seconds(1);
        }
        proptest::prop_assert!(false, "the Job did not finish within 400 s: {:?}", w.job.status);
    }
}
