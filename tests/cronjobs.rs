//! Issue "CronJob controller": the done-when scenarios, with the real binary.
//!
//! Sub-minute schedules (`@every 2s`, a Drover extension, semantics.md §10.8) stand in for the
//! per-minute ones where a test would otherwise take minutes; the controller code is the same.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::*;
use drover_api::{CronJob, Job};
use futures::StreamExt;

const SECS: fn(u64) -> Duration = Duration::from_secs;

/// A CronJob whose Job runs `sh -c SCRIPT`.
fn cronjob_yaml(name: &str, schedule: &str, spec_extra: &str, script: &str) -> String {
    format!(
        "apiVersion: batch/v1\nkind: CronJob\nmetadata:\n  name: {name}\nspec:\n  schedule: {schedule:?}\n{spec_extra}  jobTemplate:\n    spec:\n      template:\n        spec:\n          containers:\n          - name: c\n            image: busybox\n            command: [\"sh\", \"-c\", {script:?}]\n          restartPolicy: Never\n"
    )
}

/// Follows the CronJob's watch until `pred` holds; panics after `timeout`.
async fn wait_cronjob(
    c: &Cluster,
    name: &str,
    timeout: Duration,
    pred: impl Fn(&CronJob) -> bool,
) -> CronJob {
    c.wait_for::<CronJob>("cronjobs", name, timeout, pred).await
}

/// The Jobs whose controller is the CronJob `name`.
async fn jobs_of(c: &Cluster, name: &str) -> Vec<Job> {
    let mut jobs: Vec<Job> = c
        .client()
        .list_jobs("")
        .await
        .unwrap()
        .into_iter()
        .filter(|j| j.metadata.controller_ref().is_some_and(|r| r.kind == "CronJob" && r.name == name))
        .collect();
    jobs.sort_by_key(|j| j.metadata.creation_timestamp);
    jobs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn article_hello_cronjob_runs_unchanged_and_by_hand() {
    let mut c = Cluster::start("cj-hello", &[]);
    c.add_worker("w1", 2, &[]).await;
    let yaml =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/cronjob-hello.yaml"))
            .unwrap();
    assert!(yaml.contains("apiVersion: batch/v1beta1"));
    assert_eq!(c.create("hello", &yaml).trim(), "cronjob.batch/hello created");

    // The manual trigger runs at once, whatever the schedule.
    assert_eq!(
        c.ok(&["create", "job", "hello-manual", "--from=cronjob/hello"]).trim(),
        "job.batch/hello-manual created"
    );
    let manual = c.wait_complete("hello-manual", SECS(30)).await;
    assert!(manual.condition_true("Complete").is_some(), "{manual:#?}");
    let owner = manual.metadata.controller_ref().expect("owned by the CronJob");
    assert_eq!((owner.kind.as_str(), owner.name.as_str()), ("CronJob", "hello"));
    let log = c.ok(&["logs", "job/hello-manual"]);
    assert!(log.contains("Hello from the Kubernetes cluster"), "{log}");

    // The schedule: a Job at the next minute boundary, named from the minute.
    let cj = wait_cronjob(&c, "hello", SECS(75), |cj| cj.status.last_schedule_time.is_some()).await;
    let scheduled = cj.status.last_schedule_time.unwrap();
    assert_eq!(scheduled.timestamp() % 60, 0, "on a whole minute");
    let name = format!("hello-{}", scheduled.timestamp() / 60);
    assert_eq!(cj.status.active.first().map(|r| r.name.as_str()), Some(name.as_str()));
    let job = c.wait_complete(&name, SECS(30)).await;
    assert!(job.condition_true("Complete").is_some());
    assert!(job.metadata.annotations.contains_key("batch.kubernetes.io/cronjob-scheduled-timestamp"));
    // Stored as batch/v1, shown by the CLI.
    let stored = c.client().get_cronjob("hello").await.unwrap();
    assert_eq!(stored.api_version, "batch/v1");
    assert_eq!(stored.successful_jobs_history_limit(), 3);
    let table = c.ok(&["get", "cronjobs"]);
    let header = table.lines().next().unwrap();
    for col in ["NAME", "SCHEDULE", "TIMEZONE", "SUSPEND", "ACTIVE", "LAST SCHEDULE", "AGE"] {
        assert!(header.contains(col), "{table}");
    }
    let row = table.lines().find(|l| l.starts_with("hello")).unwrap();
    assert!(row.contains("*/1 * * * *") && row.contains("False"), "{table}");
    let jobs = c.ok(&["get", "jobs"]);
    assert!(jobs.contains(&name) && jobs.contains("hello-manual"), "{jobs}");
    let described = c.ok(&["describe", "cronjob", "hello"]);
    assert!(described.contains("SuccessfulCreate"), "{described}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allow_overlaps_forbid_never_does() {
    let mut c = Cluster::start("cj-policies", &[]);
    c.add_worker("w1", 6, &[]).await;
    c.create("allow", &cronjob_yaml("allow", "@every 2s", "  concurrencyPolicy: Allow\n", "sleep 5"));
    c.create("forbid", &cronjob_yaml("forbid", "@every 2s", "  concurrencyPolicy: Forbid\n", "sleep 5"));

    // Allow: at least 2 Jobs active at once.
    let cj = wait_cronjob(&c, "allow", SECS(30), |cj| cj.status.active.len() >= 2).await;
    assert!(cj.status.active.len() >= 2);

    // Forbid: watch until 2 of its Jobs have finished; never more than 1 active meanwhile.
    let client = c.client();
    let mut s = Box::pin(client.watch::<CronJob>("cronjobs", "", Some("forbid")).await.unwrap());
    let mut seen_active: BTreeSet<String> = BTreeSet::new();
    within(SECS(40), async {
        while let Some(ev) = s.next().await {
            let cj = ev.unwrap().object;
            assert!(cj.status.active.len() <= 1, "Forbid let two Jobs run: {:#?}", cj.status);
            seen_active.extend(cj.status.active.iter().map(|r| r.name.clone()));
            if seen_active.len() >= 3 {
                return;
            }
        }
    })
    .await;
    // The pods of its Jobs never overlapped.
    let mut pods = Vec::new();
    for job in jobs_of(&c, "forbid").await {
        pods.extend(c.pods_of(&job.metadata.name).await);
    }
    assert!(pods.len() >= 2, "{pods:#?}");
    assert_eq!(max_overlap(&pods), 1, "Forbid: one pod at a time");
    // Skipped times are visible.
    let cj = c.client().get_cronjob("forbid").await.unwrap();
    assert!(cj.status.missed_schedules.iter().any(|m| m.reason == "Forbid"), "{:#?}", cj.status);
    let described = c.ok(&["describe", "cronjob", "forbid"]);
    assert!(described.contains("JobAlreadyActive"), "{described}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replace_terminates_the_old_job() {
    let mut c = Cluster::start("cj-replace", &[]);
    c.add_worker("w1", 4, &[]).await;
    c.create("r", &cronjob_yaml("replace", "@every 2s", "  concurrencyPolicy: Replace\n", "sleep 5"));
    let first = wait_cronjob(&c, "replace", SECS(20), |cj| cj.status.active.len() == 1).await;
    let first_name = first.status.active[0].name.clone();
    // The first Job's pod runs...
    c.wait_job(&first_name, SECS(10), |j| j.status.active == 1).await;
    // ...and is replaced by a Job with a new name.
    let second =
        wait_cronjob(&c, "replace", SECS(20), |cj| cj.status.active.iter().any(|r| r.name != first_name))
            .await;
    assert_eq!(second.status.active.len(), 1, "{:#?}", second.status);
    assert!(c.client().get_job(&first_name).await.unwrap_err().is_not_found(), "the old Job is deleted");
    // Its pods go too. Watch first, then list, so no deletion falls between the two.
    let client = c.client();
    let selector = format!("batch.kubernetes.io/job-name={first_name}");
    let mut w = Box::pin(client.watch::<drover_api::Pod>("pods", &selector, None).await.unwrap());
    let mut left: BTreeSet<String> =
        client.list_pods(&selector).await.unwrap().into_iter().map(|p| p.metadata.name).collect();
    within(SECS(15), async {
        while !left.is_empty() {
            let ev = w.next().await.expect("watch open").unwrap();
            if ev.type_ == "DELETED" {
                left.remove(&ev.object.metadata.name);
            }
        }
    })
    .await;
    let jobs = jobs_of(&c, "replace").await;
    assert!(jobs.iter().all(|j| j.metadata.name != first_name));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_limits_keep_the_newest_finished_jobs() {
    let mut c = Cluster::start("cj-history", &[]);
    c.add_worker("w1", 4, &[]).await;
    c.create(
        "h",
        &cronjob_yaml(
            "hist",
            "@every 1s",
            "  successfulJobsHistoryLimit: 2\n  failedJobsHistoryLimit: 0\n",
            "true",
        ),
    );
    // Six runs, each recorded by lastScheduleTime; after each, at most 2 finished Jobs remain.
    let client = c.client();
    let mut s = Box::pin(client.watch::<CronJob>("cronjobs", "", Some("hist")).await.unwrap());
    let mut scheduled = BTreeSet::new();
    within(SECS(30), async {
        while let Some(ev) = s.next().await {
            if let Some(t) = ev.unwrap().object.status.last_schedule_time {
                scheduled.insert(t);
            }
            if scheduled.len() >= 6 {
                return;
            }
        }
    })
    .await;
    // The last sync that saw the newest Job finish trimmed the history: wait for it.
    let cj = wait_cronjob(&c, "hist", SECS(10), |cj| {
        cj.status.active.is_empty() && cj.status.last_successful_time.is_some()
    })
    .await;
    let finished: Vec<Job> = jobs_of(&c, "hist").await.into_iter().filter(Job::is_finished).collect();
    assert!(
        finished.len() <= 2,
        "kept {} finished Jobs: {:?}",
        finished.len(),
        finished.iter().map(|j| &j.metadata.name).collect::<Vec<_>>()
    );
    assert!(cj.status.last_successful_time.is_some());
    let described = c.ok(&["describe", "cronjob", "hist"]);
    assert!(described.contains("SuccessfulDelete"), "{described}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coordinator_downtime_runs_only_the_latest_missed_time() {
    let mut c = Cluster::start("cj-down", &[]);
    c.add_worker("w1", 2, &[]).await;
    c.create("d", &cronjob_yaml("down", "@every 4s", "", "true"));
    let before = wait_cronjob(&c, "down", SECS(20), |cj| cj.status.last_schedule_time.is_some()).await;
    let last = before.status.last_schedule_time.unwrap();
    // Down for 3 periods and a bit: times last+4, +8, +12 are missed.
    c.coordinator.kill9();
    let down_until = last + chrono::Duration::seconds(13);
    let wait = (down_until - chrono::Utc::now()).to_std().unwrap_or_default();
    tokio::time::sleep(wait).await; // the outage itself, not a synchronisation
    c.restart_coordinator_hard();
    let after = wait_cronjob(&c, "down", SECS(20), |cj| cj.status.last_schedule_time > Some(last)).await;
    let latest = last + chrono::Duration::seconds(12);
    assert_eq!(after.status.last_schedule_time, Some(latest), "only the latest missed time runs");
    let missed = after.status.missed_schedules.iter().find(|m| m.reason == "Superseded").expect("listed");
    assert_eq!(missed.count, 2, "{:#?}", after.status);
    assert_eq!(missed.scheduled_time, last + chrono::Duration::seconds(8));
    assert_eq!(missed.first_scheduled_time, Some(last + chrono::Duration::seconds(4)));
    // Exactly one Job for the outage: none for +4 and +8.
    let names: Vec<String> = jobs_of(&c, "down").await.into_iter().map(|j| j.metadata.name).collect();
    for skipped in [4, 8] {
        let t = last + chrono::Duration::seconds(skipped);
        let name = drover_core_name("down", t);
        assert!(!names.contains(&name), "{name} should not exist: {names:?}");
    }
    assert!(names.contains(&drover_core_name("down", latest)), "{names:?}");
    let described = c.ok(&["describe", "cronjob", "down"]);
    assert!(described.contains("Superseded"), "{described}");
}

/// The child Job name for a time (semantics.md CJ-N and §10.8).
fn drover_core_name(cronjob: &str, t: chrono::DateTime<chrono::Utc>) -> String {
    let secs = t.timestamp();
    if secs % 60 == 0 { format!("{cronjob}-{}", secs / 60) } else { format!("{cronjob}-{secs}") }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suspend_and_resume() {
    let mut c = Cluster::start("cj-suspend", &[]);
    c.add_worker("w1", 2, &[]).await;
    c.create("s", &cronjob_yaml("sus", "@every 2s", "  suspend: true\n", "true"));
    // Suspended: the passing times are recorded, and no Job is made.
    let cj = wait_cronjob(&c, "sus", SECS(15), |cj| {
        cj.status.missed_schedules.iter().any(|m| m.reason == "Suspended")
    })
    .await;
    assert!(cj.status.last_schedule_time.is_none());
    assert!(jobs_of(&c, "sus").await.is_empty());
    let row = c.ok(&["get", "cronjobs", "sus"]);
    assert!(row.lines().nth(1).unwrap().contains("True"), "{row}");
    // Resumed: the latest time runs at once.
    assert_eq!(c.ok(&["resume", "cronjob", "sus"]).trim(), "cronjob.batch/sus resumed");
    let cj = wait_cronjob(&c, "sus", SECS(10), |cj| cj.status.last_schedule_time.is_some()).await;
    let name = cj.status.active.first().map(|r| r.name.clone()).unwrap_or_default();
    assert!(!name.is_empty() || !jobs_of(&c, "sus").await.is_empty());
    assert_eq!(c.ok(&["suspend", "cronjob", "sus"]).trim(), "cronjob.batch/sus suspended");
    assert_eq!(c.client().get_cronjob("sus").await.unwrap().spec.suspend, Some(true));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_cronjobs_are_refused_with_the_field() {
    let c = Cluster::start("cj-invalid", &[]);
    let cases = [
        ("bad-minute", cronjob_yaml("bad-minute", "61 * * * *", "", "true"), "spec.schedule"),
        (
            "bad-zone",
            cronjob_yaml("bad-zone", "0 * * * *", "  timeZone: bad-time-zone\n", "true"),
            "spec.timeZone",
        ),
        ("tz-inline", cronjob_yaml("tz-inline", "TZ=UTC 0 * * * *", "", "true"), "cannot use TZ or CRON_TZ"),
        (
            "a-very-long-cronjob-name-that-is-fifty-three-chars-xx",
            cronjob_yaml("a-very-long-cronjob-name-that-is-fifty-three-chars-xx", "@hourly", "", "true"),
            "must be no more than 52 characters",
        ),
        (
            "bad-policy",
            cronjob_yaml("bad-policy", "@hourly", "  concurrencyPolicy: Sometimes\n", "true"),
            "spec.concurrencyPolicy",
        ),
    ];
    for (name, yaml, needle) in cases {
        let path = c.dir.0.join(format!("{name}.yaml"));
        std::fs::write(&path, yaml).unwrap();
        let out = c.drover(&["create", "-f", path.to_str().unwrap()]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{name} was accepted");
        assert!(stderr.contains(needle), "{name}: {stderr}");
    }
    assert!(c.client().list_cronjobs("").await.unwrap().is_empty(), "nothing was created");
}
