//! Table tests of `decide` for Indexed Jobs (semantics.md §2.3 step 5, JOB-C5, JOB-M3, JOB-M5,
//! JOB-M7, JOB-5b, §3.8): one named case per scenario of §7.6 that one sync decides, each citing
//! its scenario id, driven by `check`, which compares everything observable about the plan and
//! then checks the guarantees every Indexed plan keeps (INV-9 among them).
//!
//! The per-index family has its own table: S52–S54 (backoffLimitPerIndex, maxFailedIndexes,
//! FailIndex, FAIL-20..22) and S58 (successPolicy, FAIL-30, FAIL-31), in `per_index_rules`. The
//! runtime's side of S44 (the coordinator's controller names and decorates each created pod with
//! `apply_completion_index`, tested below) is tested in drover-coordinator's `tests/controller.rs`
//! and end to end in the top-level `tests/indexed.rs`.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::*;
use drover_api::labels::{JOB_COMPLETION_INDEX, JOB_COMPLETION_INDEX_ENV};
use drover_api::{Container, EnvVar, IndexSet, Job, Pod, Time};
use drover_core::{BackoffRecord, JobConfig, JobPlan, Outcome, apply_completion_index, decide};

const BACKOFF: &str = "BackoffLimitExceeded";
const REACHED: &str = "CompletionsReached";
const SCALED_DOWN: &str = "ScaledDown";
const INVALID: &str = "InvalidCompletionIndex";
const DUPLICATE: &str = "DuplicateCompletionIndex";

/// One sync to decide.
struct Case {
    name: &'static str,
    job: Job,
    pods: Vec<Pod>,
    backoff: BackoffRecord,
    config: JobConfig,
    now: Time,
    want: Want,
}

/// Everything observable about an Indexed plan.
#[derive(Debug, Clone, Default, PartialEq)]
struct Want {
    create_indexes: Vec<i32>,
    /// `(pod, uncount, reason)` in plan order.
    delete: Vec<(String, bool, String)>,
    /// `(pod, outcome)` in plan order.
    count: Vec<(String, Outcome)>,
    active: i32,
    succeeded: i32,
    failed: i32,
    terminating: i32,
    completed_indexes: Option<String>,
    failed_indexes: Option<String>,
    /// `(index, failed, ignored)`: the failures each created pod carries (FAIL-20).
    index_failures: Vec<(i32, i32, i32)>,
    /// `(type, status, reason)` in list order.
    conditions: Vec<(String, String, String)>,
    requeue: Option<Duration>,
}

/// A Job of `completionMode: Indexed` with the §7 defaults, P and C as given.
fn indexed_job(parallelism: i32, completions: i32) -> JobBuilder {
    job().indexed().parallelism(parallelism).completions(completions)
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
    }
}

impl Case {
    fn want(mut self, w: Want) -> Self {
        self.want = w;
        self
    }
    /// The coordinator's record of index `i` (FAIL-20): `failed`/`ignored` failures so far, the
    /// last one finished at `at` with exponent `m`.
    fn index_record(mut self, i: i32, failed: i32, ignored: i32, at: Time, m: u32) -> Self {
        let record = drover_core::IndexRecord { failed, ignored, last_failure_time: Some(at), exponent: m };
        self.backoff.indexes.insert(i, record);
        self
    }
    fn max_changes(mut self, n: usize) -> Self {
        self.config.max_changes_per_sync = n;
        self
    }
}

fn want() -> Want {
    Want::default()
}

impl Want {
    fn create(mut self, indexes: &[i32]) -> Self {
        self.create_indexes = indexes.to_vec();
        self.active += i32::try_from(indexes.len()).unwrap();
        self
    }
    fn delete(mut self, pod: &str, uncount: bool, reason: &str) -> Self {
        self.delete.push((pod.into(), uncount, reason.into()));
        self
    }
    fn count(mut self, pod: &str, outcome: Outcome) -> Self {
        self.count.push((pod.into(), outcome));
        self
    }
    fn active(mut self, n: i32) -> Self {
        self.active += n;
        self
    }
    fn succeeded(mut self, n: i32, completed_indexes: &str) -> Self {
        self.succeeded = n;
        self.completed_indexes = Some(completed_indexes.into());
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
    fn requeue(mut self, secs: u64) -> Self {
        self.requeue = Some(Duration::from_secs(secs));
        self
    }
    fn failed_indexes(mut self, indexes: &str) -> Self {
        self.failed_indexes = Some(indexes.into());
        self
    }
    /// The failures `(index, failed, ignored)` each created pod carries, in index order.
    fn carries(mut self, failures: &[(i32, i32, i32)]) -> Self {
        self.index_failures = failures.to_vec();
        self
    }
}

fn observe(plan: &JobPlan) -> Want {
    let s = &plan.status;
    Want {
        create_indexes: plan.create_indexes.clone(),
        delete: plan.delete.iter().map(|d| (d.name.clone(), d.uncount, d.reason.clone())).collect(),
        count: plan.count.iter().map(|c| (c.name.clone(), c.outcome)).collect(),
        active: s.active,
        succeeded: s.succeeded,
        failed: s.failed,
        terminating: s.terminating.unwrap_or(0),
        completed_indexes: s.completed_indexes.clone(),
        failed_indexes: s.failed_indexes.clone(),
        index_failures: plan.index_failures.iter().map(|(i, f)| (*i, f.failed, f.ignored)).collect(),
        conditions: s
            .conditions
            .iter()
            .map(|c| (c.type_.clone(), c.status.clone(), c.reason.clone()))
            .collect(),
        requeue: plan.requeue_after,
    }
}

/// Runs one case: the plan must match the expectation exactly and keep every guarantee.
fn check(case: &Case) -> JobPlan {
    let plan = decide(&case.job, &case.pods, &case.backoff, &case.config, case.now);
    assert_eq!(observe(&plan), case.want, "case {:?}", case.name);
    check_guarantees(case, &plan);
    plan
}

fn index_of(pod: &Pod) -> Option<i32> {
    drover_core::completion_index(pod)
}

/// What every Indexed plan keeps: JOB-M3 (never both), JOB-M5 (distinct pending indexes, lowest
/// first, as many as `create`), INV-2, INV-9 and JOB-5b (`succeeded` is the size of
/// `completedIndexes`), STAT-1 (each pod counted once, only with its finalizer).
fn check_guarantees(case: &Case, plan: &JobPlan) {
    let name = case.name;
    let before = &case.job.status;
    let s = &plan.status;
    let completions = case.job.spec.completions.unwrap();
    assert!(plan.create == 0 || plan.delete.is_empty(), "{name}: creates and deletes");
    assert_eq!(plan.create, plan.create_indexes.len(), "{name}: create vs create_indexes");
    // INV-9: a well-formed interval list below completions, in the controller's own form.
    let completed = IndexSet::parse(s.completed_indexes.as_deref().unwrap_or(""), completions)
        .unwrap_or_else(|e| panic!("{name}: completedIndexes {:?}: {e}", s.completed_indexes));
    assert_eq!(completed.to_string(), s.completed_indexes.clone().unwrap_or_default(), "{name}: form");
    assert_eq!(usize::try_from(s.succeeded).unwrap(), completed.count(), "{name}: JOB-5b succeeded");
    let completed_before =
        IndexSet::parse_lenient(before.completed_indexes.as_deref().unwrap_or(""), completions);
    assert!(completed_before.iter().all(|i| completed.contains(i)), "{name}: completed index lost");
    assert!(s.succeeded >= before.succeeded, "{name}: INV-2 succeeded");
    // Created indexes: increasing, below completions, not completed, not held by a kept pod.
    let deleted: BTreeSet<&str> = plan.delete.iter().map(|d| d.name.as_str()).collect();
    let held: BTreeSet<i32> = case
        .pods
        .iter()
        .filter(|p| p.is_active() && !deleted.contains(p.metadata.name.as_str()))
        .filter_map(index_of)
        .collect();
    assert!(plan.create_indexes.windows(2).all(|w| w[0] < w[1]), "{name}: indexes not increasing");
    for i in &plan.create_indexes {
        assert!((0..completions).contains(i), "{name}: creates index {i} out of range");
        assert!(!completed.contains(*i) && !held.contains(i), "{name}: creates taken index {i}");
    }
    // After the plan, no index is held twice and no kept active pod lacks a valid index.
    if plan.delete.is_empty() {
        let kept: Vec<Option<i32>> = case.pods.iter().filter(|p| p.is_active()).map(index_of).collect();
        assert!(kept.iter().all(|i| i.is_some_and(|i| i < completions)), "{name}: invalid pod kept");
        assert_eq!(kept.iter().collect::<BTreeSet<_>>().len(), kept.len(), "{name}: duplicate kept");
    }
    // STAT-1 and FAIL-1: failed grows by the counted failures; each pod counted once.
    let failed_now = plan.count.iter().filter(|c| c.outcome == Outcome::Failed).count();
    assert_eq!(s.failed, before.failed + i32::try_from(failed_now).unwrap(), "{name}: failed");
    for (i, c) in plan.count.iter().enumerate() {
        let pod = case.pods.iter().find(|p| p.metadata.name == c.name).expect("counted pod exists");
        assert!(pod.metadata.has_finalizer(drover_api::labels::JOB_TRACKING_FINALIZER), "{name}: recount");
        assert!(plan.count[..i].iter().all(|o| o.name != c.name), "{name}: {} counted twice", c.name);
        // JOB-C5: only pods with a valid index count; the others are Discarded.
        let valid = index_of(pod).is_some_and(|i| i < completions);
        assert_eq!(c.outcome == Outcome::Discarded, !valid, "{name}: {} outcome {:?}", c.name, c.outcome);
    }
}

/// A pod of index `i` in `state`, named `i<i>` (or `i<i><suffix>`).
fn at(i: i32, state: PodBuilder) -> PodBuilder {
    state.index(i).named(&format!("i{i}"))
}

fn scenarios() -> Vec<Case> {
    vec![
        case("S44 indexed job start: the lowest indexes", indexed_job(2, 5).fresh(), vec![])
            .want(want().create(&[0, 1])),
        case(
            "S45 indexed job completed (idx1 failed then ok)",
            indexed_job(3, 3),
            vec![
                at(0, pod_succeeded()),
                pod_failed_at(ago(100)).index(1).named("i1a"),
                at(1, pod_succeeded()),
                at(2, pod_succeeded()),
            ],
        )
        .want(
            want()
                .count("i0", Outcome::Succeeded)
                .count("i1a", Outcome::Failed)
                .count("i1", Outcome::Succeeded)
                .count("i2", Outcome::Succeeded)
                .succeeded(3, "0-2")
                .failed(1)
                .cond("SuccessCriteriaMet", "True", REACHED)
                .cond("Complete", "True", REACHED),
        ),
        case(
            "S46 indexed job failed (sync 1: FailureTarget, idx2 deleted and counted)",
            indexed_job(2, 3).backoff_limit(0),
            vec![at(0, pod_succeeded()), at(1, pod_failed()), at(2, pod_running())],
        )
        .want(
            want()
                .delete("i2", false, BACKOFF)
                .count("i0", Outcome::Succeeded)
                .count("i1", Outcome::Failed)
                .count("i2", Outcome::Failed)
                .succeeded(1, "0")
                .failed(2)
                .terminating(1)
                .cond("FailureTarget", "True", BACKOFF),
        ),
        case(
            "S46 sync 2: idx2 terminated, Failed BackoffLimitExceeded",
            indexed_job(2, 3).backoff_limit(0).completed_indexes("0", 1).counted(1, 2).condition(
                "FailureTarget",
                "True",
                BACKOFF,
                "Job has reached the specified backoff limit",
                ago(1),
            ),
            vec![
                at(0, pod_succeeded().counted()),
                at(1, pod_failed().counted()),
                at(2, pod_failed().counted()),
            ],
        )
        .want(
            want()
                .succeeded(1, "0")
                .failed(2)
                .cond("FailureTarget", "True", BACKOFF)
                .cond("Failed", "True", BACKOFF),
        ),
        case(
            "S47 indexed job repeated completed index",
            indexed_job(2, 3),
            vec![at(0, pod_succeeded()), at(1, pod_succeeded()), pod_succeeded().index(1).named("i1b")],
        )
        .want(
            want()
                .create(&[2])
                .count("i0", Outcome::Succeeded)
                .count("i1", Outcome::Succeeded)
                .count("i1b", Outcome::Succeeded)
                .succeeded(2, "0,1"),
        ),
        case(
            "S48 indexed job some running and completed pods",
            indexed_job(8, 20),
            vec![
                at(0, pod_running()),
                at(3, pod_pending()),
                at(2, pod_succeeded()),
                at(4, pod_succeeded()),
                at(5, pod_succeeded()),
                at(7, pod_succeeded()),
                at(8, pod_succeeded()),
                at(9, pod_succeeded()),
            ],
        )
        .want(
            want()
                .create(&[1, 6, 10, 11, 12, 13])
                .active(2)
                .count("i2", Outcome::Succeeded)
                .count("i4", Outcome::Succeeded)
                .count("i5", Outcome::Succeeded)
                .count("i7", Outcome::Succeeded)
                .count("i8", Outcome::Succeeded)
                .count("i9", Outcome::Succeeded)
                .succeeded(6, "2,4,5,7-9"),
        ),
        // The failures finished long ago, so the back-off (2 failures: 20 s) has run out; S49
        // with fresh failures is the FAIL-10 case below.
        case(
            "S49 indexed job some failed pods",
            indexed_job(3, 4),
            vec![at(0, pod_failed_at(ago(100))), at(1, pod_pending()), at(2, pod_failed_at(ago(100)))],
        )
        .want(
            want()
                .create(&[0, 2])
                .active(1)
                .count("i0", Outcome::Failed)
                .count("i2", Outcome::Failed)
                .failed(2),
        ),
        case(
            "S50 indexed job with indexes outside of range",
            indexed_job(2, 5),
            vec![
                at(0, pod_succeeded()),
                at(5, pod_running()),
                at(6, pod_succeeded()),
                at(7, pod_pending()),
                at(8, pod_failed()),
            ],
        )
        .want(
            want()
                .delete("i5", true, INVALID)
                .delete("i7", true, INVALID)
                .count("i0", Outcome::Succeeded)
                .count("i6", Outcome::Discarded)
                .count("i8", Outcome::Discarded)
                .succeeded(1, "0")
                .terminating(2),
        ),
        case(
            "S51 indexed job repeated indexes",
            indexed_job(5, 5),
            vec![
                pod_running().named("noindex"),
                at(0, pod_succeeded()),
                at(1, pod_running()),
                at(2, pod_running()),
                pod_pending().index(2).named("i2b"),
            ],
        )
        .want(
            want()
                .delete("noindex", true, INVALID)
                .delete("i2b", true, DUPLICATE)
                .active(2)
                .terminating(2)
                .count("i0", Outcome::Succeeded)
                .succeeded(1, "0"),
        ),
        // S57 in Drover's terms: the eviction of index 0's running pod is a fleet failure
        // (WorkerLost, DisruptionTarget=True); the Ignore rule keeps it off backoffLimit=0, and
        // §10.9 replaces it at once, with the same index.
        case(
            "S57 indexed: ignored disruption of index 0 is replaced with index 0",
            indexed_job(4, 4)
                .backoff_limit(0)
                .pod_failure_policy(vec![on_pod_condition("Ignore", "DisruptionTarget")]),
            vec![
                at(0, pod_running().lost()),
                at(1, pod_running()),
                at(2, pod_running()),
                at(3, pod_running()),
            ],
        )
        .want(want().create(&[0]).active(3).count("i0", Outcome::Ignored)),
        case(
            "S57 sync 2: every index succeeded, Complete",
            indexed_job(4, 4)
                .backoff_limit(0)
                .pod_failure_policy(vec![on_pod_condition("Ignore", "DisruptionTarget")]),
            vec![
                at(0, pod_running().lost().counted()),
                pod_succeeded().index(0).named("i0b"),
                at(1, pod_succeeded()),
                at(2, pod_succeeded()),
                at(3, pod_succeeded()),
            ],
        )
        .want(
            want()
                .count("i0b", Outcome::Succeeded)
                .count("i1", Outcome::Succeeded)
                .count("i2", Outcome::Succeeded)
                .count("i3", Outcome::Succeeded)
                .succeeded(4, "0-3")
                .cond("SuccessCriteriaMet", "True", REACHED)
                .cond("Complete", "True", REACHED),
        ),
    ]
}

/// The rules behind the scenarios, one case each.
fn rules() -> Vec<Case> {
    vec![
        case(
            "FAIL-10 S49 with fresh failures: the global back-off holds creations",
            indexed_job(3, 4),
            vec![at(0, pod_failed()), at(1, pod_pending()), at(2, pod_failed())],
        )
        .want(
            want().active(1).count("i0", Outcome::Failed).count("i2", Outcome::Failed).failed(2).requeue(20),
        ),
        case(
            "§2.3 step 5 completedIndexes from earlier syncs are kept and extended",
            indexed_job(2, 6).completed_indexes("0,1,4", 3),
            vec![at(0, pod_succeeded().counted()), at(2, pod_succeeded()), at(3, pod_running())],
        )
        .want(want().create(&[5]).active(1).count("i2", Outcome::Succeeded).succeeded(4, "0-2,4")),
        case(
            "JOB-5b complete once every index in 0..completions succeeded",
            indexed_job(1, 3).completed_indexes("0,1", 2),
            vec![at(2, pod_succeeded())],
        )
        .want(
            want()
                .count("i2", Outcome::Succeeded)
                .succeeded(3, "0-2")
                .cond("SuccessCriteriaMet", "True", REACHED)
                .cond("Complete", "True", REACHED),
        ),
        case(
            "JOB-5b a repeated success of a completed index does not complete the Job",
            indexed_job(1, 3).completed_indexes("0,1", 2),
            vec![pod_succeeded().index(1).named("i1b")],
        )
        .want(want().create(&[2]).count("i1b", Outcome::Succeeded).succeeded(2, "0,1")),
        case(
            "JOB-M7 the index is read from the label when the annotation is missing",
            indexed_job(2, 3),
            vec![
                pod_running().label(JOB_COMPLETION_INDEX, "0").named("l0"),
                pod_succeeded().label(JOB_COMPLETION_INDEX, "1").named("l1"),
            ],
        )
        .want(want().create(&[2]).active(1).count("l1", Outcome::Succeeded).succeeded(1, "1")),
        case(
            "JOB-C5 an index that is not a non-negative integer is no index",
            indexed_job(3, 3),
            vec![
                pod_succeeded().annotation(JOB_COMPLETION_INDEX, "x").named("bad"),
                pod_failed().annotation(JOB_COMPLETION_INDEX, "-1").named("neg"),
                pod_running().annotation(JOB_COMPLETION_INDEX, "1.0").named("frac"),
            ],
        )
        .want(
            want()
                .delete("frac", true, INVALID)
                .count("bad", Outcome::Discarded)
                .count("neg", Outcome::Discarded)
                .terminating(1),
        ),
        case(
            "JOB-M3 scale-down after the forced victims, in JOB-M4 order (newer first)",
            indexed_job(1, 5),
            vec![
                at(0, pod_running().created(ago(100))),
                at(1, pod_running().created(ago(50))),
                at(2, pod_running().created(ago(10))),
            ],
        )
        .want(
            want().delete("i2", true, SCALED_DOWN).delete("i1", true, SCALED_DOWN).active(1).terminating(2),
        ),
        case(
            "JOB-M3 of two pods of one index the running one is kept",
            indexed_job(2, 2),
            vec![
                pod_running().index(0).named("run"),
                pod_pending().index(0).named("pend"),
                at(1, pod_running()),
            ],
        )
        .want(want().delete("pend", true, DUPLICATE).active(2).terminating(1)),
        case(
            "JOB-M5 a terminating pod holds its index in Failed replacement mode (REP-2)",
            indexed_job(3, 3).replace_failed_only(),
            vec![at(0, pod_running().terminating().counted()), at(1, pod_running())],
        )
        .want(want().create(&[2]).active(1).terminating(1)),
        case(
            "JOB-M5 a terminating pod's index is replaced in TerminatingOrFailed mode",
            indexed_job(3, 3),
            vec![at(0, pod_running().terminating().counted()), at(1, pod_running())],
        )
        .want(want().create(&[0, 2]).active(1).terminating(1)),
        case(
            "JOB-M5 at most max_changes_per_sync indexes, the rest at once next sync",
            indexed_job(5, 5).fresh(),
            vec![],
        )
        .max_changes(2)
        .want(want().create(&[0, 1]).requeue(0)),
        case(
            "JOB-M1 suspended: active indexed pods deleted uncounted, nothing created",
            indexed_job(2, 4).suspend(true),
            vec![at(0, pod_running()), at(1, pod_succeeded())],
        )
        .want(
            want()
                .delete("i0", true, "JobSuspended")
                .count("i1", Outcome::Succeeded)
                .succeeded(1, "1")
                .terminating(1)
                .cond("Suspended", "True", "JobSuspended"),
        ),
    ]
}

const FAILED_INDEXES: &str = "FailedIndexes";
const MAX_FAILED: &str = "MaxFailedIndexesExceeded";
const SUCCESS_POLICY: &str = "SuccessPolicy";

/// The per-index family: backoffLimitPerIndex, maxFailedIndexes and FailIndex (FAIL-20..22,
/// S52–S54), successPolicy (FAIL-30, FAIL-31, S58).
fn per_index_rules() -> Vec<Case> {
    let fail_index_on_1 = || vec![on_exit_codes("FailIndex", None, "In", &[1])];
    let ignore_1 = || vec![on_exit_codes("Ignore", None, "In", &[1])];
    vec![
        case(
            "FAIL-22 S52 an index's first failure: retried after its own back-off, others created",
            indexed_job(2, 4).per_index(1),
            vec![at(0, pod_running().failures(0, 0)), at(1, pod_failed().failures(0, 0))],
        )
        .want(
            want()
                .create(&[2])
                .carries(&[(2, 0, 0)])
                .active(1)
                .count("i1", Outcome::Failed)
                .failed(1)
                .failed_indexes("")
                .requeue(10),
        ),
        case(
            "FAIL-20 S52 the retry carries the index's failure count, from the coordinator's record",
            indexed_job(2, 4).per_index(1).counted(0, 1).failed_indexes(""),
            vec![at(0, pod_running()), at(1, pod_failed_at(ago(100)).failures(0, 0).counted())],
        )
        .index_record(1, 1, 0, ago(100), 0)
        .want(want().create(&[1]).carries(&[(1, 1, 0)]).active(1).failed(1).failed_indexes("")),
        case(
            "FAIL-22 the record alone holds an index back: its failed pod need not be read again",
            indexed_job(2, 4).per_index(2).counted(0, 1).failed_indexes(""),
            vec![at(0, pod_running())],
        )
        .index_record(1, 1, 0, ago(5), 0)
        .want(want().create(&[2]).carries(&[(2, 0, 0)]).active(1).failed(1).failed_indexes("").requeue(5)),
        case(
            "FAIL-20 S52 the retry's failure (count 1 = backoffLimitPerIndex) fails the index; others go on",
            indexed_job(2, 4).per_index(1).counted(0, 1).failed_indexes(""),
            vec![
                at(0, pod_succeeded().failures(0, 0)),
                pod_failed_at(ago(100)).index(1).failures(0, 0).counted().named("i1a"),
                at(1, pod_failed().failures(1, 0)),
            ],
        )
        .want(
            want()
                .create(&[2, 3])
                .carries(&[(2, 0, 0), (3, 0, 0)])
                .count("i0", Outcome::Succeeded)
                .count("i1", Outcome::Failed)
                .succeeded(1, "0")
                .failed(2)
                .failed_indexes("1"),
        ),
        case(
            "FAIL-21 S52 every index ended and some failed: FailedIndexes",
            indexed_job(2, 4).per_index(1).completed_indexes("0,2", 2).counted(2, 3).failed_indexes("1"),
            vec![
                at(0, pod_succeeded().counted()),
                at(2, pod_succeeded().counted()),
                at(3, pod_failed().failures(1, 0)),
            ],
        )
        .want(
            want()
                .count("i3", Outcome::Failed)
                .succeeded(2, "0,2")
                .failed(4)
                .failed_indexes("1,3")
                .cond("FailureTarget", "True", FAILED_INDEXES)
                .cond("Failed", "True", FAILED_INDEXES),
        ),
        case(
            "FAIL-21 S53 more failed indexes than maxFailedIndexes: no other index runs",
            indexed_job(1, 4).per_index(0).max_failed_indexes(0),
            vec![at(0, pod_failed().failures(0, 0))],
        )
        .want(
            want()
                .count("i0", Outcome::Failed)
                .failed(1)
                .failed_indexes("0")
                .cond("FailureTarget", "True", MAX_FAILED)
                .cond("Failed", "True", MAX_FAILED),
        ),
        case(
            "FAIL-21 S53 within maxFailedIndexes the Job goes on",
            indexed_job(1, 4).per_index(0).max_failed_indexes(1),
            vec![at(0, pod_failed().failures(0, 0))],
        )
        .want(
            want()
                .create(&[1])
                .carries(&[(1, 0, 0)])
                .count("i0", Outcome::Failed)
                .failed(1)
                .failed_indexes("0"),
        ),
        case(
            "FAIL-15 S54 FailIndex: the index fails at its first failure, no retry",
            indexed_job(2, 2).per_index(1).pod_failure_policy(fail_index_on_1()),
            vec![at(0, pod_succeeded().failures(0, 0)), at(1, pod_failed().failures(0, 0))],
        )
        .want(
            want()
                .count("i0", Outcome::Succeeded)
                .count("i1", Outcome::Failed)
                .succeeded(1, "0")
                .failed(1)
                .failed_indexes("1")
                .cond("FailureTarget", "True", FAILED_INDEXES)
                .cond("Failed", "True", FAILED_INDEXES),
        ),
        case(
            "FAIL-20 an ignored failure is not counted; the retry carries the ignored count",
            indexed_job(1, 2).per_index(1).pod_failure_policy(ignore_1()),
            vec![at(0, pod_failed_at(ago(100)).failures(0, 0))],
        )
        .want(want().create(&[0]).carries(&[(0, 0, 1)]).count("i0", Outcome::Ignored).failed_indexes("")),
        case(
            "FAIL-22 the back-off doubles with the index's failures (m = 1: 20 s); other indexes start",
            indexed_job(1, 2).per_index(3).counted(0, 1).failed_indexes(""),
            vec![at(0, pod_failed_at(ago(15)).failures(1, 0))],
        )
        .want(
            want()
                .create(&[1])
                .carries(&[(1, 0, 0)])
                .count("i0", Outcome::Failed)
                .failed(2)
                .failed_indexes("")
                .requeue(5),
        ),
        case(
            "FAIL-22 §10.9 a failure the fleet caused counts but adds no back-off",
            indexed_job(1, 1).per_index(1),
            vec![at(0, pod_failed().failures(0, 0).lost())],
        )
        .want(
            want()
                .create(&[0])
                .carries(&[(0, 1, 0)])
                .count("i0", Outcome::Failed)
                .failed(1)
                .failed_indexes(""),
        ),
        case(
            "FAIL-31 S58 a success rule met: SuccessCriteriaMet, the other indexes deleted uncounted",
            indexed_job(5, 5).success_policy(&[(Some("0"), Some(1))]),
            vec![
                at(0, pod_succeeded()),
                at(1, pod_running()),
                at(2, pod_running()),
                at(3, pod_running()),
                at(4, pod_running()),
            ],
        )
        .want(
            want()
                .delete("i1", true, SUCCESS_POLICY)
                .delete("i2", true, SUCCESS_POLICY)
                .delete("i3", true, SUCCESS_POLICY)
                .delete("i4", true, SUCCESS_POLICY)
                .count("i0", Outcome::Succeeded)
                .succeeded(1, "0")
                .terminating(4)
                .cond("SuccessCriteriaMet", "True", SUCCESS_POLICY),
        ),
        case(
            "FAIL-31 S58 sync 2: the deleted pods are gone, Complete with reason SuccessPolicy",
            indexed_job(5, 5).success_policy(&[(Some("0"), Some(1))]).completed_indexes("0", 1).condition(
                "SuccessCriteriaMet",
                "True",
                SUCCESS_POLICY,
                "Matched rules at index 0",
                ago(1),
            ),
            vec![
                at(0, pod_succeeded().counted()),
                at(1, pod_failed().counted()),
                at(2, pod_failed().counted()),
                at(3, pod_failed().counted()),
                at(4, pod_failed().counted()),
            ],
        )
        .want(want().succeeded(1, "0").cond("SuccessCriteriaMet", "True", SUCCESS_POLICY).cond(
            "Complete",
            "True",
            SUCCESS_POLICY,
        )),
        case(
            "FAIL-30 rules in order, first met wins: succeededCount alone (rule 1)",
            indexed_job(4, 4)
                .success_policy(&[(Some("0-2"), None), (None, Some(3))])
                .completed_indexes("0,1", 2),
            vec![
                at(0, pod_succeeded().counted()),
                at(1, pod_succeeded().counted()),
                at(2, pod_running()),
                at(3, pod_succeeded()),
            ],
        )
        .want(
            want()
                .delete("i2", true, SUCCESS_POLICY)
                .count("i3", Outcome::Succeeded)
                .succeeded(3, "0,1,3")
                .terminating(1)
                .cond("SuccessCriteriaMet", "True", SUCCESS_POLICY),
        ),
        case(
            "FAIL-30 a rule not met yet changes nothing",
            indexed_job(2, 4).success_policy(&[(Some("0-2"), Some(3))]),
            vec![at(0, pod_succeeded()), at(1, pod_running())],
        )
        .want(want().create(&[2]).active(1).count("i0", Outcome::Succeeded).succeeded(1, "0")),
        case(
            "FAIL-31 a failure criterion met in the same sync wins over the success policy",
            indexed_job(2, 2).per_index(0).success_policy(&[(None, Some(1))]),
            vec![at(0, pod_succeeded().failures(0, 0)), at(1, pod_failed().failures(0, 0))],
        )
        .want(
            want()
                .count("i0", Outcome::Succeeded)
                .count("i1", Outcome::Failed)
                .succeeded(1, "0")
                .failed(1)
                .failed_indexes("1")
                .cond("FailureTarget", "True", FAILED_INDEXES)
                .cond("Failed", "True", FAILED_INDEXES),
        ),
    ]
}

#[test]
fn s52_s54_s58_per_index_rules() {
    for case in per_index_rules() {
        let plan = check(&case);
        // INV-9: completed and failed indexes never overlap; failedIndexes only with
        // backoffLimitPerIndex.
        let c = case.job.spec.completions.unwrap();
        let completed = IndexSet::parse(plan.status.completed_indexes.as_deref().unwrap_or(""), c).unwrap();
        match plan.status.failed_indexes.as_deref() {
            Some(failed) => {
                assert!(case.job.spec.backoff_limit_per_index.is_some(), "{}", case.name);
                let failed = IndexSet::parse(failed, c).unwrap();
                assert_eq!(failed.count_common(&completed), 0, "{}: overlap", case.name);
                // No failed index is ever created again.
                assert!(plan.create_indexes.iter().all(|i| !failed.contains(*i)), "{}", case.name);
            }
            None => assert!(case.job.spec.backoff_limit_per_index.is_none(), "{}", case.name),
        }
        // Every created pod of a per-index Job carries its index's failures, and only those.
        if case.job.spec.backoff_limit_per_index.is_some() {
            assert_eq!(
                plan.index_failures.keys().copied().collect::<Vec<_>>(),
                plan.create_indexes,
                "{}",
                case.name
            );
        }
    }
}

#[test]
fn s44_s51_s57_indexed_scenarios() {
    for case in scenarios() {
        check(&case);
    }
}

#[test]
fn indexed_rules() {
    for case in rules() {
        check(&case);
    }
}

/// S44, JOB-M7: the decoration the runtime gives the pod of index `i`.
#[test]
fn s44_pods_carry_their_index() {
    let job = indexed_job(2, 5).build();
    let mut pod = Pod::default();
    pod.spec.containers = vec![
        Container { name: "main".into(), ..Default::default() },
        Container {
            name: "side".into(),
            env: vec![EnvVar { name: JOB_COMPLETION_INDEX_ENV.into(), value: "mine".into() }],
            ..Default::default()
        },
    ];
    pod.spec.init_containers = vec![Container { name: "input".into(), ..Default::default() }];
    apply_completion_index(&job, &mut pod, 1);
    assert_eq!(pod.metadata.annotations.get(JOB_COMPLETION_INDEX).map(String::as_str), Some("1"));
    // Init containers get it too (the docs' indexed-job.yaml picks its item in one).
    assert_eq!(
        pod.spec.init_containers[0].env,
        [EnvVar { name: JOB_COMPLETION_INDEX_ENV.into(), value: "1".into() }]
    );
    assert_eq!(pod.metadata.labels.get(JOB_COMPLETION_INDEX).map(String::as_str), Some("1"));
    assert_eq!(
        pod.spec.containers[0].env,
        [EnvVar { name: JOB_COMPLETION_INDEX_ENV.into(), value: "1".into() }]
    );
    // A variable the template defines is left alone.
    assert_eq!(pod.spec.containers[1].env[0].value, "mine");
    assert_eq!(pod.spec.containers[1].env.len(), 1);
    assert_eq!(pod.spec.hostname.as_deref(), Some("job-1"));
    assert_eq!(pod.metadata.generate_name.as_deref(), Some("job-1-"));
    assert_eq!(drover_core::completion_index(&pod), Some(1));

    // generateName is cut so that it fits 58 characters, the index kept whole.
    let mut long = indexed_job(1, 1000).build();
    long.metadata.name = "a".repeat(63);
    let mut pod = Pod::default();
    apply_completion_index(&long, &mut pod, 999);
    let prefix = pod.metadata.generate_name.unwrap();
    assert_eq!(prefix.len(), 58);
    assert_eq!(prefix, format!("{}-999-", "a".repeat(53)));
    assert_eq!(pod.spec.hostname, Some(format!("{}-999", "a".repeat(63))));
}

/// NonIndexed Jobs never get indexes: the plan's `create_indexes` stays empty and
/// `completedIndexes` unset, whatever annotations the pods carry.
#[test]
fn non_indexed_jobs_have_no_indexes() {
    let c = case(
        "NonIndexed",
        job().parallelism(3).completions(5),
        vec![pod_succeeded().index(0), pod_succeeded().index(0), pod_running().index(9)],
    );
    let plan = decide(&c.job, &c.pods, &c.backoff, &c.config, c.now);
    assert_eq!(plan.create, 2);
    assert!(plan.create_indexes.is_empty());
    assert!(plan.delete.is_empty());
    assert_eq!(plan.status.succeeded, 2);
    assert_eq!(plan.status.completed_indexes, None);
}
