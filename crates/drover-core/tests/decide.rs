//! Table tests of `decide`: one named case per scenario of semantics.md §7 that a single sync
//! decides, each driven by `check`, which compares everything observable about the plan with the
//! case's expectation and then checks the guarantees every plan must keep.
//!
//! Scenarios that are not a property of one sync are covered elsewhere or belong to the runtime:
//! - S10, S17, S19, S22, S39 end to end: `tests/simulate.rs` (several syncs, a fake clock).
//! - S12 "limited pods" (slow start when the worker API rejects creates, JOB-M6): the runtime's;
//!   our store does not reject creates, and `decide` only says how many to create.
//! - S25, S26 (the back-off arithmetic): unit tests in `src/backoff.rs`.
//! - S38 (unsatisfied expectations): the runtime's; it persists in-flight creations (§10.3) and
//!   does not call `decide` while changes it made are unobserved.
//! - S59 (adoption and release) and S60 (cascading deletion): the runtime's and the store's;
//!   `decide` gets the pods the Job already owns.
//! - S44–S51 and S57 (Indexed Jobs): `tests/indexed.rs`. S52–S54, S58 (per-index back-off,
//!   success policy): not implemented; Indexed Jobs are still rejected on create. The
//!   podFailurePolicy scenarios that apply to NonIndexed Jobs (S55, S56, and S57's
//!   DisruptionTarget rule) are in `pod_failure_policy`.

mod common;

use std::time::Duration;

use common::*;
use drover_api::{Job, Pod, Time};
use drover_core::{BackoffRecord, JobConfig, JobPlan, Outcome, TaskLedger, decide, decide_with_ledger};

const BACKOFF: &str = "BackoffLimitExceeded";
const DEADLINE: &str = "DeadlineExceeded";
const REACHED: &str = "CompletionsReached";
const SUSPENDED: &str = "JobSuspended";
const RESUMED: &str = "JobResumed";
const SCALED_DOWN: &str = "ScaledDown";
const POLICY: &str = "PodFailurePolicy";

/// One sync to decide.
#[derive(Clone)]
struct Case {
    name: &'static str,
    job: Job,
    pods: Vec<Pod>,
    backoff: BackoffRecord,
    config: JobConfig,
    now: Time,
    want: Want,
    /// Checked when set: `Some(None)` means "no startTime".
    want_start_time: Option<Option<Time>>,
    /// Checked when set.
    want_backoff: Option<BackoffRecord>,
}

/// Everything observable about a plan that every case pins down.
#[derive(Debug, Clone, Default, PartialEq)]
struct Want {
    create: usize,
    /// `(pod, uncount, reason)` in plan order.
    delete: Vec<(String, bool, String)>,
    counted_succeeded: usize,
    counted_failed: usize,
    active: i32,
    ready: i32,
    succeeded: i32,
    failed: i32,
    terminating: i32,
    /// `(type, status, reason)` in list order.
    conditions: Vec<(String, String, String)>,
    /// `(type, reason)` in order.
    events: Vec<(String, String)>,
    requeue: Option<Duration>,
    delete_job: bool,
    completion_time: Option<Time>,
}

fn case(name: &'static str, job: JobBuilder, pods: Vec<PodBuilder>) -> Case {
    let pods = pods
        .into_iter()
        .enumerate()
        .map(|(i, b)| {
            let mut p = b.build();
            if p.metadata.name.is_empty() {
                p.metadata.name = format!("pod-{i}");
            }
            p
        })
        .collect();
    Case {
        name,
        job: job.build(),
        pods,
        backoff: BackoffRecord::default(),
        config: JobConfig::default(),
        now: now(),
        want: Want::default(),
        want_start_time: None,
        want_backoff: None,
    }
}

impl Case {
    fn backoff(mut self, n: u32, last: Time) -> Self {
        self.backoff = BackoffRecord {
            failures_after_last_success: n,
            last_failure_time: Some(last),
            ..Default::default()
        };
        self
    }
    fn max_changes(mut self, n: usize) -> Self {
        self.config.max_changes_per_sync = n;
        self
    }
    fn at(mut self, t: Time) -> Self {
        self.now = t;
        self
    }
    fn want(mut self, w: Want) -> Self {
        self.want = w;
        self
    }
    fn start_time(mut self, t: Option<Time>) -> Self {
        self.want_start_time = Some(t);
        self
    }
    fn backoff_after(mut self, n: u32, last: Option<Time>) -> Self {
        self.want_backoff = Some(BackoffRecord {
            failures_after_last_success: n,
            last_failure_time: last,
            ..Default::default()
        });
        self
    }
}

fn want() -> Want {
    Want::default()
}

impl Want {
    fn create(mut self, n: usize) -> Self {
        self.create = n;
        self
    }
    fn delete(mut self, pods: &[&str], uncount: bool, reason: &str) -> Self {
        self.delete.extend(pods.iter().map(|p| (p.to_string(), uncount, reason.to_string())));
        self
    }
    fn counted(mut self, succeeded: usize, failed: usize) -> Self {
        self.counted_succeeded = succeeded;
        self.counted_failed = failed;
        self
    }
    fn active(mut self, n: i32) -> Self {
        self.active = n;
        self
    }
    fn ready(mut self, n: i32) -> Self {
        self.ready = n;
        self
    }
    fn succeeded(mut self, n: i32) -> Self {
        self.succeeded = n;
        self
    }
    fn failed(mut self, n: i32) -> Self {
        self.failed = n;
        self
    }
    fn terminating(mut self, n: i32) -> Self {
        self.terminating = n;
        self
    }
    fn cond(mut self, type_: &str, status: &str, reason: &str) -> Self {
        self.conditions.push((type_.into(), status.into(), reason.into()));
        self
    }
    /// FailureTarget then Failed with `reason`, and the Warning event of JOB-M8.
    fn failed_with(self, reason: &str) -> Self {
        self.cond("FailureTarget", "True", reason).cond("Failed", "True", reason).event("Warning", reason)
    }
    /// SuccessCriteriaMet then Complete (JOB-5c), completionTime = `at`, and `Completed`.
    fn completed(mut self, at: Time) -> Self {
        self.completion_time = Some(at);
        self.cond("SuccessCriteriaMet", "True", REACHED)
            .cond("Complete", "True", REACHED)
            .event("Normal", "Completed")
    }
    fn event(mut self, type_: &str, reason: &str) -> Self {
        self.events.push((type_.into(), reason.into()));
        self
    }
    fn requeue(mut self, secs: u64) -> Self {
        self.requeue = Some(Duration::from_secs(secs));
        self
    }
    fn requeue_exactly(mut self, d: Duration) -> Self {
        self.requeue = Some(d);
        self
    }
    fn delete_job(mut self) -> Self {
        self.delete_job = true;
        self
    }
    fn completion_time(mut self, t: Time) -> Self {
        self.completion_time = Some(t);
        self
    }
}

fn observe(plan: &JobPlan) -> Want {
    let s = &plan.status;
    Want {
        create: plan.create,
        delete: plan.delete.iter().map(|d| (d.name.clone(), d.uncount, d.reason.clone())).collect(),
        counted_succeeded: plan.count.iter().filter(|c| c.outcome == Outcome::Succeeded).count(),
        counted_failed: plan.count.iter().filter(|c| c.outcome == Outcome::Failed).count(),
        active: s.active,
        ready: s.ready.unwrap_or(0),
        succeeded: s.succeeded,
        failed: s.failed,
        terminating: s.terminating.unwrap_or(0),
        conditions: s
            .conditions
            .iter()
            .map(|c| (c.type_.clone(), c.status.clone(), c.reason.clone()))
            .collect(),
        events: plan.events.iter().map(|(t, r, _)| (t.clone(), r.clone())).collect(),
        requeue: plan.requeue_after,
        delete_job: plan.delete_job,
        completion_time: s.completion_time,
    }
}

/// Runs one case: the plan must match the expectation exactly and keep every guarantee.
fn check(case: &Case) {
    let plan = decide(&case.job, &case.pods, &case.backoff, &case.config, case.now);
    assert_eq!(observe(&plan), case.want, "case {:?}", case.name);
    if let Some(start) = case.want_start_time {
        assert_eq!(plan.status.start_time, start, "case {:?}: startTime", case.name);
    }
    if let Some(b) = &case.want_backoff {
        assert_eq!(&plan.backoff, b, "case {:?}: back-off record", case.name);
    }
    check_guarantees(case, &plan);
}

fn cond_true(plan: &JobPlan, type_: &str) -> bool {
    plan.status.conditions.iter().any(|c| c.type_ == type_ && c.status == "True")
}

/// The guarantees of `decide`'s doc comment and the status invariants of §1.5, for any plan.
fn check_guarantees(case: &Case, plan: &JobPlan) {
    let name = case.name;
    let before = &case.job.status;
    let s = &plan.status;

    // decide: never both creates and deletes (JOB-M3).
    assert!(plan.create == 0 || plan.delete.is_empty(), "{name}: creates and deletes");
    // decide: never creates for a finished, suspended, failing or deleted Job.
    let no_create = case.job.is_finished()
        || case.job.suspended()
        || cond_true(plan, "FailureTarget")
        || case.job.metadata.deletion_timestamp.is_some();
    assert!(!(no_create && plan.create > 0), "{name}: creates for a Job that must not");
    // INV-2, STAT-1: counters grow by exactly what is counted, each pod once, only with finalizer.
    let counted = |o: Outcome| i32::try_from(plan.count.iter().filter(|c| c.outcome == o).count()).unwrap();
    assert_eq!(s.succeeded, before.succeeded + counted(Outcome::Succeeded), "{name}: succeeded");
    assert_eq!(s.failed, before.failed + counted(Outcome::Failed), "{name}: failed");
    for (i, c) in plan.count.iter().enumerate() {
        let pod = case.pods.iter().find(|p| p.metadata.name == c.name).expect("counted pod exists");
        assert!(
            pod.metadata.has_finalizer(drover_api::labels::JOB_TRACKING_FINALIZER),
            "{name}: {} recounted",
            c.name
        );
        assert!(plan.count[..i].iter().all(|o| o.name != c.name), "{name}: {} counted twice", c.name);
    }
    // Deletions name distinct active pods.
    for (i, d) in plan.delete.iter().enumerate() {
        let pod = case.pods.iter().find(|p| p.metadata.name == d.name).expect("deleted pod exists");
        assert!(pod.is_active(), "{name}: deletes non-active {}", d.name);
        assert!(plan.delete[..i].iter().all(|o| o.name != d.name), "{name}: {} deleted twice", d.name);
    }
    // INV-1.
    let ready = s.ready.unwrap_or(0);
    assert!(s.active >= 0 && ready >= 0 && s.terminating.unwrap_or(0) >= 0, "{name}: negative counter");
    assert!(ready <= s.active, "{name}: ready > active");
    if !case.job.is_finished() {
        assert!(s.ready.is_some() && s.terminating.is_some(), "{name}: ready/terminating unset");
    }
    // INV-3: terminal conditions are never removed.
    for c in before.conditions.iter().filter(|c| c.status == "True") {
        if ["Complete", "Failed", "FailureTarget", "SuccessCriteriaMet"].contains(&c.type_.as_str()) {
            assert!(cond_true(plan, &c.type_), "{name}: {} removed", c.type_);
        }
    }
    // INV-4, INV-5.
    let (complete, failed) = (cond_true(plan, "Complete"), cond_true(plan, "Failed"));
    let (scm, ft) = (cond_true(plan, "SuccessCriteriaMet"), cond_true(plan, "FailureTarget"));
    assert!(!(complete && failed), "{name}: INV-4 Complete and Failed");
    assert!(!(complete && ft), "{name}: INV-4 Complete and FailureTarget");
    assert!(!(scm && (failed || ft)), "{name}: INV-4 SuccessCriteriaMet and failure");
    assert!((!failed || ft) && (!complete || scm), "{name}: INV-5");
    // INV-6: completionTime iff Complete; INV-7: a finished Job has nothing running.
    assert_eq!(s.completion_time.is_some(), complete, "{name}: INV-6");
    if complete || failed {
        assert!(s.active == 0 && s.terminating.unwrap_or(0) == 0 && s.start_time.is_some(), "{name}: INV-7");
    }
    // §3.7: reasons and messages go together; every condition has both times.
    for c in &s.conditions {
        let msg = match c.reason.as_str() {
            BACKOFF => "Job has reached the specified backoff limit",
            DEADLINE => "Job was active longer than specified deadline",
            REACHED => "Reached expected number of succeeded pods",
            SUSPENDED => "Job suspended",
            RESUMED => "Job resumed",
            POLICY => {
                // FAIL-15: it names the container or condition and the rule.
                assert!(c.message.contains("matching FailJob rule at index"), "{name}: {}", c.message);
                &c.message
            }
            other => panic!("{name}: unexpected reason {other}"),
        };
        assert_eq!(c.message, msg, "{name}: message of {}", c.reason);
        assert!(c.last_transition_time.is_some() && c.last_probe_time.is_some(), "{name}: condition times");
    }
    // JOB-T5: a requeue is never zero (no busy loop); only TTL, or creations capped by JOB-M5
    // (each such sync creates pods), may ask for an immediate one.
    if let Some(d) = plan.requeue_after {
        assert!(
            d >= Duration::from_millis(1)
                || case.job.spec.ttl_seconds_after_finished.is_some()
                || plan.create == case.config.max_changes_per_sync,
            "{name}: requeue {d:?}"
        );
    }
}

/// `n` running pods, created one second apart (the last is the newest).
fn running(n: usize) -> Vec<PodBuilder> {
    (0..n).map(|i| pod_running().created(ago(1000 - i as i64))).collect()
}

fn creation_and_deletion_math() -> Vec<Case> {
    vec![
        case("S01 job start", job().parallelism(2).completions(5).fresh(), vec![])
            .want(want().create(2).active(2))
            .start_time(Some(now())),
        case("S02 WQ job start", job().parallelism(2).work_queue().fresh(), vec![])
            .want(want().create(2).active(2)),
        case("S03 pending pods", job().parallelism(2).completions(5), vec![pod_pending(), pod_pending()])
            .want(want().active(2)),
        case(
            "S04 correct # of pods",
            job().parallelism(3).completions(5),
            vec![pod_running().ready(), pod_running().ready(), pod_running()],
        )
        .want(want().active(3).ready(2)),
        case(
            "S05 too few active pods",
            job().parallelism(2).completions(5),
            vec![pod_running(), pod_succeeded()],
        )
        .want(want().create(1).counted(1, 0).active(2).succeeded(1))
        .backoff_after(0, None),
        case("S06 too few active pods, work queue", job().parallelism(2).work_queue(), vec![pod_running()])
            .want(want().create(1).active(2)),
        case("S07 too many active pods", job().parallelism(2).completions(5), running(3))
            .want(want().delete(&["pod-2"], true, SCALED_DOWN).active(2).terminating(1)),
        case("S08 more active pods than parallelism", job().parallelism(2).completions(5), running(10)).want(
            want()
                .delete(
                    &["pod-9", "pod-8", "pod-7", "pod-6", "pod-5", "pod-4", "pod-3", "pod-2"],
                    true,
                    SCALED_DOWN,
                )
                .active(2)
                .terminating(8),
        ),
        case(
            "S09 more active pods than remaining completions",
            job().parallelism(3).completions(4),
            [running(3), vec![pod_succeeded(), pod_succeeded()]].concat(),
        )
        .want(
            want().delete(&["pod-2"], true, SCALED_DOWN).counted(2, 0).active(2).succeeded(2).terminating(1),
        ),
        case("S10 JOB-W1 P=4 C=2 start", job().parallelism(4).completions(2).fresh(), vec![])
            .want(want().create(2).active(2)),
        case(
            "S10 JOB-W1 after 1 success nothing new",
            job().parallelism(4).completions(2),
            vec![pod_running(), pod_succeeded()],
        )
        .want(want().counted(1, 0).active(1).succeeded(1)),
        case("S11 JOB-W3 parallelism 0", job().parallelism(0).completions(5), running(2))
            .want(want().delete(&["pod-1", "pod-0"], true, SCALED_DOWN).terminating(2)),
        case("JOB-W3 work queue at P=0 never completes", job().parallelism(0).work_queue(), vec![])
            .want(want()),
        case(
            "JOB-M4 victim order",
            job().parallelism(0).completions(5),
            vec![
                pod_running().named("ready-old").ready_since(ago(100)).created(ago(500)),
                pod_running().named("ready-new").ready_since(ago(5)).created(ago(500)),
                pod_running().named("run-old").created(ago(400)),
                pod_running().named("run-new").created(ago(300)),
                pod_running().named("run-restarts").restarts(2).created(ago(600)),
                pod_pending().named("pend-assigned").assigned(),
                pod_pending().named("pend-unassigned"),
            ],
        )
        .want(
            want()
                .delete(
                    &[
                        "pend-unassigned",
                        "pend-assigned",
                        "run-restarts",
                        "run-new",
                        "run-old",
                        "ready-new",
                        "ready-old",
                    ],
                    true,
                    SCALED_DOWN,
                )
                .terminating(7),
        ),
        // The rest at once, with no other event to wait for (issue 10: parallelism > 500 stalled).
        case(
            "JOB-M5 creations capped per sync, the rest at once",
            job().parallelism(10).completions(10).fresh(),
            vec![],
        )
        .max_changes(3)
        .want(want().create(3).active(3).requeue_exactly(Duration::ZERO)),
        case(
            "JOB-M5 creations exactly at the cap: nothing left",
            job().parallelism(3).completions(10).fresh(),
            vec![],
        )
        .max_changes(3)
        .want(want().create(3).active(3)),
        case("JOB-M3 deletions capped per sync", job().parallelism(0).completions(5), running(5))
            .max_changes(3)
            .want(want().delete(&["pod-4", "pod-3", "pod-2"], true, SCALED_DOWN).active(2).terminating(3)),
        case(
            "JOB-C5 outcomes without the finalizer are not recounted",
            job().counted(0, 2),
            vec![pod_failed().counted(), pod_running()],
        )
        .backoff(2, ago(100))
        .want(want().active(1).failed(2))
        .backoff_after(2, Some(ago(100))),
    ]
}

fn completion() -> Vec<Case> {
    vec![
        case(
            "S13 job finish",
            job().parallelism(2).completions(5),
            (0..5).map(|_| pod_succeeded()).collect(),
        )
        .want(want().counted(5, 0).succeeded(5).completed(now()))
        .backoff_after(0, None),
        case("S14 WQ job finishing", job().parallelism(2).work_queue(), vec![pod_running(), pod_succeeded()])
            .want(want().counted(1, 0).active(1).succeeded(1)),
        case(
            "S15 WQ job all finished",
            job().parallelism(2).work_queue(),
            vec![pod_succeeded(), pod_succeeded()],
        )
        .want(want().counted(2, 0).succeeded(2).completed(now())),
        case(
            "S16 WQ job all finished despite one failure",
            job().parallelism(2).work_queue(),
            vec![pod_succeeded(), pod_failed()],
        )
        .want(want().counted(1, 1).succeeded(1).failed(1).completed(now())),
        case(
            "S17 P=2 C=4 last two succeed",
            job().parallelism(2).completions(4).counted(2, 0),
            vec![pod_succeeded().counted(), pod_succeeded().counted(), pod_succeeded(), pod_succeeded()],
        )
        .want(want().counted(2, 0).succeeded(4).completed(now())),
        case("S18 JOB-W4 completions 0", job().completions(0).fresh(), vec![])
            .want(want().completed(now()))
            .start_time(Some(now())),
        case(
            "JOB-M8 TooManySucceededPods",
            job().parallelism(3).completions(2),
            vec![pod_succeeded(), pod_succeeded(), pod_succeeded()],
        )
        .want(
            want()
                .counted(3, 0)
                .succeeded(3)
                .completion_time(now())
                .cond("SuccessCriteriaMet", "True", REACHED)
                .cond("Complete", "True", REACHED)
                .event("Warning", "TooManySucceededPods")
                .event("Normal", "Completed"),
        ),
        case(
            "COND-1 Complete waits for terminating pods",
            job().parallelism(2).completions(2),
            vec![pod_succeeded(), pod_succeeded(), pod_running().terminating().counted()],
        )
        .want(want().counted(2, 0).succeeded(2).terminating(1).cond(
            "SuccessCriteriaMet",
            "True",
            REACHED,
        )),
        case(
            "COND-1 existing SuccessCriteriaMet, pods gone: Complete",
            job().parallelism(2).completions(2).counted(2, 0).condition(
                "SuccessCriteriaMet",
                "True",
                REACHED,
                "Reached expected number of succeeded pods",
                ago(5),
            ),
            vec![pod_succeeded().counted(), pod_succeeded().counted(), pod_failed().counted()],
        )
        .want(
            want()
                .succeeded(2)
                .completion_time(now())
                .cond("SuccessCriteriaMet", "True", REACHED)
                .cond("Complete", "True", REACHED)
                .event("Normal", "Completed"),
        ),
        case(
            "step 4.1 existing SuccessCriteriaMet deletes lingering pods uncounted",
            job().parallelism(2).completions(1).counted(1, 0).condition(
                "SuccessCriteriaMet",
                "True",
                REACHED,
                "Reached expected number of succeeded pods",
                ago(5),
            ),
            vec![pod_succeeded().counted(), pod_running()],
        )
        .want(want().delete(&["pod-1"], true, REACHED).succeeded(1).terminating(1).cond(
            "SuccessCriteriaMet",
            "True",
            REACHED,
        )),
        case(
            "JOB-5a WQ failure after first success is not replaced",
            job().parallelism(2).work_queue().counted(1, 0),
            vec![pod_succeeded().counted(), pod_failed(), pod_running()],
        )
        .want(want().counted(0, 1).active(1).succeeded(1).failed(1))
        .backoff_after(1, Some(now())),
    ]
}

fn failures() -> Vec<Case> {
    vec![
        case(
            "S19 backoffLimit 1: second failure fails the Job",
            job().backoff_limit(1).counted(0, 1),
            vec![pod_failed_at(ago(20)).counted(), pod_failed()],
        )
        .want(want().counted(0, 1).failed(2).failed_with(BACKOFF))
        .backoff_after(0, None),
        case(
            "S20 too many job failures",
            job().parallelism(2).completions(5).backoff_limit(0),
            vec![pod_failed()],
        )
        .want(want().counted(0, 1).failed(1).failed_with(BACKOFF)),
        case(
            "S21 count ready pods when job fails (sync 1: FailureTarget, delete and count)",
            job().parallelism(2).completions(3).backoff_limit(0),
            vec![pod_running().ready(), pod_running().ready(), pod_failed()],
        )
        .want(
            want().delete(&["pod-0", "pod-1"], false, BACKOFF).counted(0, 3).failed(3).terminating(2).cond(
                "FailureTarget",
                "True",
                BACKOFF,
            ),
        ),
        case(
            "S21 sync 2: pods still terminating, Failed waits (COND-1)",
            job().parallelism(2).completions(3).backoff_limit(0).counted(0, 3).condition(
                "FailureTarget",
                "True",
                BACKOFF,
                "Job has reached the specified backoff limit",
                ago(1),
            ),
            vec![
                pod_running().terminating().counted(),
                pod_running().terminating().counted(),
                pod_failed().counted(),
            ],
        )
        .want(want().failed(3).terminating(2).cond("FailureTarget", "True", BACKOFF)),
        case(
            "S21 sync 3: all terminated, Failed",
            job().parallelism(2).completions(3).backoff_limit(0).counted(0, 3).condition(
                "FailureTarget",
                "True",
                BACKOFF,
                "Job has reached the specified backoff limit",
                ago(2),
            ),
            vec![pod_failed().counted(), pod_failed().counted(), pod_failed().counted()],
        )
        .want(want().failed(3).failed_with(BACKOFF)),
        case("S22 one failure: back-off 10 s", job(), vec![pod_failed()])
            .want(want().counted(0, 1).failed(1).requeue(10))
            .backoff_after(1, Some(now())),
        case("S23 active back-off", job(), vec![]).backoff(1, now()).want(want().requeue(10)),
        // Drover drops Kubernetes' 1 s floor (it only exists because of the 1 s event batching):
        // the requeue is exactly the remaining back-off.
        case("JOB-T5 back-off requeue is the remaining time", job(), vec![])
            .backoff(1, now() - chrono::Duration::milliseconds(9_500))
            .want(want().requeue_exactly(Duration::from_millis(500))),
        case("FAIL-11 back-off elapsed: create", job(), vec![])
            .backoff(1, ago(10))
            .want(want().create(1).active(1)),
        case(
            "S24 failed + succeed pods reset back-off",
            job().parallelism(2).completions(5),
            vec![pod_running(), pod_succeeded(), pod_failed()],
        )
        .want(want().create(1).counted(1, 1).active(2).succeeded(1).failed(1))
        .backoff_after(0, None),
        case(
            "§0.2 a pod cut off by a worker's drain is a disruption: released uncounted, replaced at once, no back-off",
            job().backoff_limit(0),
            vec![pod_failed().drained()],
        )
        .want(want().create(1).active(1))
        .backoff_after(0, None),
        case("FAIL-2 failed == backoffLimit is not a failure yet", job().counted(0, 5), vec![pod_failed()])
            .want(want().counted(0, 1).failed(6).requeue(10)),
        case(
            "S27 OnFailure restarts reach backoffLimit 2",
            job().on_failure().backoff_limit(2),
            vec![pod_running().restarts(2)],
        )
        .want(want().delete(&["pod-0"], false, BACKOFF).counted(0, 1).failed(1).terminating(1).cond(
            "FailureTarget",
            "True",
            BACKOFF,
        )),
        case(
            "S27 OnFailure restarts of an init container count too (upstream countPodRestarts)",
            job().on_failure().backoff_limit(2),
            vec![pod_running().init_restarts(1).restarts(1)],
        )
        .want(want().delete(&["pod-0"], false, BACKOFF).counted(0, 1).failed(1).terminating(1).cond(
            "FailureTarget",
            "True",
            BACKOFF,
        )),
        case(
            "S27 OnFailure restarts below backoffLimit",
            job().on_failure().backoff_limit(2),
            vec![pod_running().restarts(1)],
        )
        .want(want().active(1)),
        case(
            "S27 OnFailure backoffLimit 0: first restart fails",
            job().on_failure().backoff_limit(0),
            vec![pod_running().restarts(1)],
        )
        .want(want().delete(&["pod-0"], false, BACKOFF).counted(0, 1).failed(1).terminating(1).cond(
            "FailureTarget",
            "True",
            BACKOFF,
        )),
        case(
            "S28 OnFailure locally restarted pods keep going",
            job().on_failure().parallelism(2).completions(4).counted(2, 0),
            vec![
                pod_succeeded().counted().restarts(1),
                pod_succeeded().counted().restarts(1),
                pod_running().restarts(1),
                pod_running().restarts(1),
            ],
        )
        .want(want().active(2).succeeded(2)),
        case(
            "S29 Never: failed pods replaced, then Complete",
            job().parallelism(2).completions(4).counted(2, 2),
            vec![
                pod_failed_at(ago(50)).counted(),
                pod_failed_at(ago(50)).counted(),
                pod_succeeded().counted(),
                pod_succeeded().counted(),
                pod_succeeded(),
                pod_succeeded(),
            ],
        )
        .want(want().counted(2, 0).succeeded(4).failed(2).completed(now())),
        case(
            "S33 JOB-ORD-1 backoffLimit wins over the deadline",
            job().deadline(1).started(ago(10)).backoff_limit(0),
            vec![pod_failed()],
        )
        .want(want().counted(0, 1).failed(1).failed_with(BACKOFF)),
        case(
            "FailureTarget from an earlier sync: still failing, remaining pods deleted and counted",
            job().parallelism(2).completions(5).counted(0, 7).condition(
                "FailureTarget",
                "True",
                BACKOFF,
                "Job has reached the specified backoff limit",
                ago(1),
            ),
            vec![pod_running()],
        )
        .want(want().delete(&["pod-0"], false, BACKOFF).counted(0, 1).failed(8).terminating(1).cond(
            "FailureTarget",
            "True",
            BACKOFF,
        )),
        case(
            "COND-2 FailureTarget=False is ignored",
            job().condition(
                "FailureTarget",
                "False",
                BACKOFF,
                "Job has reached the specified backoff limit",
                ago(9),
            ),
            vec![pod_running()],
        )
        .want(want().active(1).cond("FailureTarget", "False", BACKOFF)),
    ]
}

fn deadline() -> Vec<Case> {
    vec![
        case("S30 deadline shorter than one pod", job().deadline(10).started(ago(15)), vec![pod_running()])
            .want(want().delete(&["pod-0"], false, DEADLINE).counted(0, 1).failed(1).terminating(1).cond(
                "FailureTarget",
                "True",
                DEADLINE,
            )),
        case(
            "S30 next sync: pod terminated, Failed",
            job().deadline(10).started(ago(16)).counted(0, 1).condition(
                "FailureTarget",
                "True",
                DEADLINE,
                "Job was active longer than specified deadline",
                ago(1),
            ),
            vec![pod_failed().counted()],
        )
        .want(want().failed(1).failed_with(DEADLINE)),
        case(
            "S31 deadline longer than one pod",
            job().completions(2).deadline(10).started(ago(15)),
            vec![pod_running(), pod_succeeded()],
        )
        .want(
            want()
                .delete(&["pod-0"], false, DEADLINE)
                .counted(1, 1)
                .succeeded(1)
                .failed(1)
                .terminating(1)
                .cond("FailureTarget", "True", DEADLINE),
        ),
        case("S32 deadline before any pod starts (inclusive)", job().deadline(10).started(ago(10)), vec![])
            .want(want().failed_with(DEADLINE)),
        case("ADS-1 one second before the deadline", job().deadline(10).started(ago(9)), vec![])
            .want(want().create(1).active(1).requeue(1)),
        case("ADS-5 deadline 0 fails on the first sync", job().deadline(0).fresh(), vec![])
            .want(want().failed_with(DEADLINE))
            .start_time(Some(now())),
        case("JOB-T4 deadline requeue", job().deadline(100).started(ago(30)), vec![pod_running()])
            .want(want().active(1).requeue(70)),
        case("JOB-T4 the sooner of deadline and back-off", job().deadline(100).started(ago(95)), vec![])
            .backoff(1, now())
            .want(want().requeue(5)),
        case(
            "S34 ADS-4 suspended Job past its deadline is not failed",
            job().suspend(true).deadline(10).started(ago(1000)).condition(
                "Suspended",
                "True",
                SUSPENDED,
                "Job suspended",
                ago(900),
            ),
            vec![],
        )
        .want(want().cond("Suspended", "True", SUSPENDED)),
        case(
            "S34 resume restarts the deadline window",
            job().parallelism(2).completions(4).deadline(10).started(ago(1000)).condition(
                "Suspended",
                "True",
                SUSPENDED,
                "Job suspended",
                ago(900),
            ),
            vec![],
        )
        .want(
            want()
                .create(2)
                .active(2)
                .cond("Suspended", "False", RESUMED)
                .event("Normal", "Resumed")
                .requeue(10),
        )
        .start_time(Some(now())),
        case(
            "S35 deadline exceeded with pods that never exit",
            job().parallelism(2).completions(4).deadline(1).started(ago(1)),
            vec![pod_running(), pod_running()],
        )
        .want(
            want().delete(&["pod-0", "pod-1"], false, DEADLINE).counted(0, 2).failed(2).terminating(2).cond(
                "FailureTarget",
                "True",
                DEADLINE,
            ),
        ),
    ]
}

fn suspend_and_replacement() -> Vec<Case> {
    vec![
        case(
            "S36 suspending a running Job",
            job().parallelism(2).completions(4).counted(0, 1).suspend(true),
            vec![pod_running(), pod_running()],
        )
        .want(
            want()
                .delete(&["pod-0", "pod-1"], true, SUSPENDED)
                .failed(1)
                .terminating(2)
                .cond("Suspended", "True", SUSPENDED)
                .event("Normal", "Suspended"),
        ),
        case(
            "S37 resuming a suspended Job",
            job().parallelism(2).completions(4).started(ago(500)).condition(
                "Suspended",
                "True",
                SUSPENDED,
                "Job suspended",
                ago(100),
            ),
            vec![],
        )
        .want(want().create(2).active(2).cond("Suspended", "False", RESUMED).event("Normal", "Resumed"))
        .start_time(Some(now())),
        case("S39 created suspended", job().fresh().suspend(true), vec![])
            .want(want().cond("Suspended", "True", SUSPENDED).event("Normal", "Suspended"))
            .start_time(None),
        case(
            "S39 still suspended: no new event",
            job().fresh().suspend(true).condition("Suspended", "True", SUSPENDED, "Job suspended", ago(30)),
            vec![],
        )
        .want(want().cond("Suspended", "True", SUSPENDED))
        .start_time(None),
        case(
            "S40 ready pods while running",
            job().parallelism(2).completions(4),
            vec![pod_running().ready(), pod_running().ready()],
        )
        .want(want().active(2).ready(2)),
        case(
            "S40 suspend again: ready 0",
            job().parallelism(2).completions(4).suspend(true),
            vec![pod_running().ready(), pod_running().ready()],
        )
        .want(
            want()
                .delete(&["pod-0", "pod-1"], true, SUSPENDED)
                .terminating(2)
                .cond("Suspended", "True", SUSPENDED)
                .event("Normal", "Suspended"),
        ),
        case(
            "SUS-4 suspending a finished Job changes nothing",
            job().suspend(true).counted(1, 0).completed_at(ago(10)),
            vec![pod_succeeded().counted()],
        )
        .want(
            want()
                .succeeded(1)
                .completion_time(ago(10))
                .cond("SuccessCriteriaMet", "True", REACHED)
                .cond("Complete", "True", REACHED),
        ),
        case(
            "S41 policy Failed sync 1: terminating pod holds its slot",
            job().replace_failed_only().backoff_limit(1),
            vec![pod_running().terminating()],
        )
        .want(want().terminating(1)),
        case(
            "S41 sync 2: the pod failed, counted, back-off",
            job().replace_failed_only().backoff_limit(1),
            vec![pod_failed().terminating()],
        )
        .want(want().counted(0, 1).failed(1).requeue(10))
        .backoff_after(1, Some(now())),
        case(
            "S41 sync 3: replacement after the back-off",
            job().replace_failed_only().backoff_limit(1).counted(0, 1),
            vec![pod_failed().terminating().counted()],
        )
        .backoff(1, now())
        .at(later(10))
        .want(want().create(1).active(1).failed(1)),
        case(
            "S42 more terminating pods than parallelism (policy Failed)",
            job().replace_failed_only(),
            vec![
                pod_running().created(ago(300)),
                pod_running().created(ago(200)),
                pod_running().terminating(),
                pod_running().terminating(),
                pod_running().terminating(),
                pod_running().terminating(),
            ],
        )
        .want(want().delete(&["pod-1"], true, SCALED_DOWN).active(1).terminating(5)),
        case(
            "S43 REP-1 default policy: terminating pod replaced at once",
            job(),
            vec![pod_running().terminating()],
        )
        .want(want().create(1).counted(0, 1).active(1).failed(1).terminating(1))
        .backoff_after(1, Some(ago(30))),
        case(
            "REP-2 diff subtracts terminating pods",
            job().replace_failed_only().parallelism(3).completions(5),
            vec![pod_running(), pod_running().terminating()],
        )
        .want(want().create(1).active(2).terminating(1)),
        case(
            "REP-1 diff ignores terminating pods",
            job().parallelism(3).completions(5),
            vec![pod_running(), pod_running().terminating()],
        )
        .want(want().create(2).counted(0, 1).active(3).failed(1).terminating(1)),
    ]
}

fn finished_and_ttl() -> Vec<Case> {
    let done = || job().counted(1, 0).completed_at(ago(50));
    let done_conds = |w: Want| {
        w.succeeded(1)
            .completion_time(ago(50))
            .cond("SuccessCriteriaMet", "True", REACHED)
            .cond("Complete", "True", REACHED)
    };
    vec![
        case("S61 ttl 100, finished 50 s ago: wait", done().ttl(100), vec![])
            .want(done_conds(want()).requeue(50)),
        case("S61 ttl 100, finished 100 s ago: delete", done().ttl(100), vec![])
            .at(later(50))
            .want(done_conds(want()).delete_job()),
        case("S61 ttl unset: never deleted", done(), vec![]).at(later(1_000_000)).want(done_conds(want())),
        case("S61 ttl 0: deleted on the sync after finishing", done().ttl(0), vec![])
            .want(done_conds(want()).delete_job()),
        case("S61 finishing sync with ttl 100: wake up at expiry", job().ttl(100), vec![pod_succeeded()])
            .want(want().counted(1, 0).succeeded(1).completed(now()).requeue(100)),
        case("S61 finishing sync with ttl 0: wake up at once", job().ttl(0), vec![pod_succeeded()])
            .want(want().counted(1, 0).succeeded(1).completed(now()).requeue_exactly(Duration::ZERO)),
        case(
            "TTL-1 a failed Job expires from its Failed condition",
            job().ttl(20).counted(0, 7).failed_at(ago(30)),
            vec![],
        )
        .want(
            want()
                .failed(7)
                .cond("FailureTarget", "True", BACKOFF)
                .cond("Failed", "True", BACKOFF)
                .delete_job(),
        ),
        case(
            "TTL-2 finish time in the future defers deletion",
            job().ttl(0).counted(1, 0).completed_at(later(30)),
            vec![],
        )
        .want(
            want()
                .succeeded(1)
                .completion_time(later(30))
                .cond("SuccessCriteriaMet", "True", REACHED)
                .cond("Complete", "True", REACHED)
                .requeue(30),
        ),
        case(
            "RE-8 a finished Job still counts a lingering outcome",
            done(),
            vec![pod_succeeded().counted(), pod_succeeded()],
        )
        .want(done_conds(want()).counted(1, 0).succeeded(2)),
        case(
            "JOB-T6 a finished Job drops its back-off record",
            job().counted(0, 7).failed_at(ago(5)),
            vec![],
        )
        .backoff(3, ago(5))
        .want(want().failed(7).cond("FailureTarget", "True", BACKOFF).cond("Failed", "True", BACKOFF))
        .backoff_after(0, None),
        case(
            "DEL-2 a Job being deleted only counts",
            job().parallelism(2).completions(5).fresh().deleting(),
            vec![pod_succeeded(), pod_running()],
        )
        .want(want().counted(1, 0).active(1).succeeded(1))
        .start_time(None),
    ]
}

/// FAIL-13..16: podFailurePolicy on NonIndexed Jobs.
fn pod_failure_policy() -> Vec<Case> {
    let fail_on_42 = || vec![on_exit_codes("FailJob", None, "In", &[42])];
    vec![
        case(
            "S55 FailJob on exit code 42: FailureTarget, the other pods are deleted",
            job().parallelism(2).completions(3).pod_failure_policy(fail_on_42()),
            vec![pod_running().ready(), pod_failed_with(42)],
        )
        .want(
            // FAIL-1: the running pod is counted as failed now, as with any failing Job (S21).
            want().delete(&["pod-0"], false, POLICY).counted(0, 2).failed(2).terminating(1).cond(
                "FailureTarget",
                "True",
                POLICY,
            ),
        ),
        case(
            "S55 FailJob with nothing else running: Failed at once",
            job().pod_failure_policy(fail_on_42()),
            vec![pod_failed_with(42)],
        )
        .want(want().counted(0, 1).failed(1).failed_with(POLICY)),
        case(
            "FAIL-14 an exit code the rule does not list: counted as usual",
            job().backoff_limit(0).pod_failure_policy(fail_on_42()),
            vec![pod_failed_with(1)],
        )
        .want(want().counted(0, 1).failed(1).failed_with(BACKOFF)),
        case(
            "FAIL-14 NotIn matches every other non-zero code",
            job().pod_failure_policy(vec![on_exit_codes("FailJob", None, "NotIn", &[1, 2])]),
            vec![pod_failed_with(3)],
        )
        .want(want().counted(0, 1).failed(1).failed_with(POLICY)),
        case(
            "FAIL-14 containerName restricts the rule to that container",
            job().pod_failure_policy(vec![on_exit_codes("FailJob", Some("sidecar"), "In", &[42])]),
            vec![pod_failed_with(42)],
        )
        .want(want().counted(0, 1).failed(1).requeue(10))
        .backoff_after(1, Some(now())),
        case(
            "FAIL-14 rules in order, first match wins (Count before FailJob)",
            job().pod_failure_policy(vec![
                on_exit_codes("Count", None, "In", &[42]),
                on_exit_codes("FailJob", None, "In", &[42]),
            ]),
            vec![pod_failed_with(42)],
        )
        .want(want().counted(0, 1).failed(1).requeue(10))
        .backoff_after(1, Some(now())),
        case(
            "S56 Ignore: not counted toward backoffLimit 0, replaced after the back-off",
            job().backoff_limit(0).pod_failure_policy(vec![on_exit_codes("Ignore", None, "In", &[1])]),
            vec![pod_failed_with(1)],
        )
        .want(want().requeue(10))
        .backoff_after(1, Some(now())),
        case(
            "S56 Ignore: the back-off elapsed, the replacement is created",
            job().backoff_limit(0).pod_failure_policy(vec![on_exit_codes("Ignore", None, "In", &[1])]),
            vec![pod_failed_with(1).counted()],
        )
        .backoff(1, ago(10))
        .want(want().create(1).active(1)),
        case(
            "FAIL-16 Ignore on DisruptionTarget: a pod of a lost worker does not use up the budget (§10.9: nor wait)",
            job().backoff_limit(0).pod_failure_policy(vec![on_pod_condition("Ignore", "DisruptionTarget")]),
            vec![pod_failed().lost()],
        )
        .want(want().create(1).active(1))
        .backoff_after(0, None),
        case(
            "FAIL-14 a condition with another status does not match",
            job().backoff_limit(0).pod_failure_policy(vec![on_pod_condition("Ignore", "DisruptionTarget")]),
            vec![pod_failed().condition("DisruptionTarget", "False")],
        )
        .want(want().counted(0, 1).failed(1).failed_with(BACKOFF)),
        case(
            "FAIL-13 a terminating pod is not failed until its phase is Failed (REP-2)",
            job().parallelism(2).completions(2).pod_failure_policy(fail_on_42()),
            vec![pod_running().terminating(), pod_running()],
        )
        .want(want().active(1).terminating(1)),
    ]
}

/// §10.9: infrastructure disruptions skip the re-creation back-off. A pod the fleet failed
/// (`WorkerLost`, `WorkerRestarted`, `WorkerDrained`; condition `DisruptionTarget`) is replaced at
/// once and adds nothing to the back-off record; it counts toward backoffLimit as in Kubernetes
/// (unless an `Ignore` rule matches), except `WorkerDrained`, which never counts.
fn infrastructure_disruptions() -> Vec<Case> {
    let ignore_disruptions = || vec![on_pod_condition("Ignore", "DisruptionTarget")];
    vec![
        case("§10.9 WorkerLost: counted, replaced at once, no back-off", job(), vec![pod_failed().lost()])
            .want(want().create(1).counted(0, 1).active(1).failed(1))
            .backoff_after(0, None),
        case(
            "§10.9 WorkerRestarted: counted, replaced at once, no back-off",
            job(),
            vec![pod_failed().restarted()],
        )
        .want(want().create(1).counted(0, 1).active(1).failed(1))
        .backoff_after(0, None),
        case(
            "§10.9 WorkerLost counts toward backoffLimit as in Kubernetes: backoffLimit 0 fails the Job",
            job().backoff_limit(0),
            vec![pod_failed().lost()],
        )
        .want(want().counted(0, 1).failed(1).failed_with(BACKOFF)),
        case(
            "§10.9 WorkerRestarted matched by an Ignore rule: not counted, replaced at once",
            job().backoff_limit(0).pod_failure_policy(ignore_disruptions()),
            vec![pod_failed().restarted()],
        )
        .want(want().create(1).active(1))
        .backoff_after(0, None),
        case(
            "§10.9 a burst of lost and restarted pods ignored by the policy: all replaced at once",
            job().parallelism(4).work_queue().backoff_limit(0).pod_failure_policy(ignore_disruptions()),
            vec![
                pod_failed().lost(),
                pod_failed().restarted(),
                pod_failed().lost(),
                pod_failed().restarted(),
                pod_failed().lost().counted(),
            ],
        )
        .backoff(0, ago(1))
        .want(want().create(4).active(4))
        .backoff_after(0, Some(ago(1))),
        case(
            "§10.9 WorkerDrained never counts, even under a Count rule on DisruptionTarget",
            job().backoff_limit(0).pod_failure_policy(vec![on_pod_condition("Count", "DisruptionTarget")]),
            vec![pod_failed().drained()],
        )
        .want(want().create(1).active(1))
        .backoff_after(0, None),
        case(
            "§10.9 a disruption leaves the back-off of earlier command failures running",
            job(),
            vec![pod_failed().lost()],
        )
        .backoff(1, ago(4))
        .want(want().counted(0, 1).failed(1).requeue(6))
        .backoff_after(1, Some(ago(4))),
        case(
            "§10.9 a command failure beside a disruption still backs off",
            job().parallelism(2).completions(5).pod_failure_policy(ignore_disruptions()),
            vec![pod_failed().lost(), pod_failed_at(ago(1))],
        )
        .want(want().counted(0, 1).failed(1).requeue(9))
        .backoff_after(1, Some(ago(1))),
        case(
            "§10.9 a command failure an exit-code Ignore rule matches still backs off (FAIL-15)",
            job().parallelism(2).completions(5).pod_failure_policy(vec![
                on_exit_codes("Ignore", None, "In", &[1]),
                on_pod_condition("Ignore", "DisruptionTarget"),
            ]),
            vec![pod_failed().restarted(), pod_failed_with(1)],
        )
        .want(want().requeue(10))
        .backoff_after(1, Some(now())),
        case(
            "§10.9 a success beside a disruption still resets the record",
            job().parallelism(2).completions(5),
            vec![pod_succeeded(), pod_failed().lost()],
        )
        .backoff(3, ago(5))
        .want(want().create(2).counted(1, 1).active(2).succeeded(1).failed(1))
        .backoff_after(0, None),
    ]
}

fn all_cases() -> Vec<Case> {
    [
        creation_and_deletion_math(),
        completion(),
        failures(),
        pod_failure_policy(),
        infrastructure_disruptions(),
        deadline(),
        suspend_and_replacement(),
        finished_and_ttl(),
    ]
    .concat()
}

#[test]
fn s01_s12_creation_and_deletion_math() {
    creation_and_deletion_math().iter().for_each(check);
}

#[test]
fn s13_s18_completion() {
    completion().iter().for_each(check);
}

#[test]
fn s19_s29_failures_and_backoff() {
    failures().iter().for_each(check);
}

#[test]
fn s30_s35_deadline() {
    deadline().iter().for_each(check);
}

#[test]
fn s36_s43_suspend_and_replacement() {
    suspend_and_replacement().iter().for_each(check);
}

#[test]
fn s55_s56_pod_failure_policy() {
    pod_failure_policy().iter().for_each(check);
}

#[test]
fn s10_9_infrastructure_disruptions_skip_the_backoff() {
    infrastructure_disruptions().iter().for_each(check);
}

#[test]
fn s61_finished_jobs_and_ttl() {
    finished_and_ttl().iter().for_each(check);
}

/// The guarantee "never both creates and deletes", and the other per-plan guarantees, across every
/// case of every table (also with a tiny per-sync cap and at a later time).
#[test]
fn guarantees_hold_across_all_cases() {
    let cases = all_cases();
    assert!(cases.len() > 70);
    let mut names: Vec<&str> = cases.iter().map(|c| c.name).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), cases.len(), "case names are unique");
    for mut c in cases {
        let plan = decide(&c.job, &c.pods, &c.backoff, &c.config, c.now);
        assert!(plan.create == 0 || plan.delete.is_empty(), "{}", c.name);
        check_guarantees(&c, &plan);
        c.config.max_changes_per_sync = 1;
        c.now += chrono::Duration::seconds(3600);
        let plan = decide(&c.job, &c.pods, &c.backoff, &c.config, c.now);
        assert!(plan.create <= 1, "{}", c.name);
        check_guarantees(&c, &plan);
    }
}

/// The task ledger's tally changes nothing but `status.tasks` (its `succeeded` and
/// `duplicates`), in every case; without one, `decide_with_ledger` is `decide`.
#[test]
fn the_task_ledger_only_sets_the_task_counts() {
    let ledger = TaskLedger { succeeded: 42, duplicates: 3 };
    for c in all_cases() {
        let plain = decide(&c.job, &c.pods, &c.backoff, &c.config, c.now);
        let none = decide_with_ledger(&c.job, &c.pods, &c.backoff, None, &c.config, c.now);
        assert_eq!(plain, none, "{}", c.name);
        let mut with = decide_with_ledger(&c.job, &c.pods, &c.backoff, Some(&ledger), &c.config, c.now);
        let tasks = with.status.tasks.take().expect("a Job with a ledger has task counts");
        assert_eq!((tasks.succeeded, tasks.duplicates), (42, 3), "{}", c.name);
        // A Job without a queue has no counted tasks of its own: zero, not absent, beside a ledger.
        if plain.status.counted_tasks.is_none() {
            assert_eq!(with.status.counted_tasks.take(), Some(Default::default()), "{}", c.name);
        }
        let mut plain = plain;
        plain.status.tasks = None;
        assert_eq!(with, plain, "{}: nothing else moves", c.name);
    }
}

/// `decide` is a pure function: the same inputs give the same plan.
#[test]
fn decide_is_deterministic() {
    for c in all_cases() {
        let a = decide(&c.job, &c.pods, &c.backoff, &c.config, c.now);
        let b = decide(&c.job, &c.pods, &c.backoff, &c.config, c.now);
        assert_eq!(a, b, "{}", c.name);
    }
}
