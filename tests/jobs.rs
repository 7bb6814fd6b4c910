//! Issue "Jobs run end to end": the done-when scenarios, with the real binary.

mod common;

use std::time::Duration;

use common::*;

const SECS: fn(u64) -> Duration = Duration::from_secs;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pi_with_completions_4_parallelism_2() {
    let mut c = Cluster::start("pi4", &[]);
    c.add_worker("w1", 4, &[]).await;
    let yaml =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/pi-parallel-job.yaml"))
            .unwrap();
    let out = c.create("pi", &yaml);
    assert_eq!(out.trim(), "job.batch/pi-parallel created");
    let job = c.wait_complete("pi-parallel", SECS(60)).await;
    assert!(job.condition_true("Complete").is_some(), "{job:#?}");
    assert_eq!(job.status.succeeded, 4);
    assert_eq!(job.status.failed, 0);
    let pods = c.pods_of("pi-parallel").await;
    assert_eq!(pods.len(), 4, "exactly 4 pods");
    assert!(max_overlap(&pods) <= 2, "never more than 2 pods at once");
    let table = c.ok(&["get", "jobs"]);
    let row = table.lines().find(|l| l.starts_with("pi-parallel")).unwrap();
    assert!(row.contains("Complete") && row.contains("4/4"), "{table}");
    for p in &pods {
        let log = c.ok(&["logs", &p.metadata.name]);
        assert!(log.starts_with("3.14159265358979323846"), "pod {} log: {log}", p.metadata.name);
    }
    // Two-step terminal conditions (semantics.md §10.4).
    let types: Vec<&str> = job.status.conditions.iter().map(|c| c.type_.as_str()).collect();
    assert_eq!(types, ["SuccessCriteriaMet", "Complete"]);
    assert!(job.status.completion_time.is_some() && job.status.start_time.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallelism_4_completions_2_creates_exactly_2_pods() {
    let mut c = Cluster::start("p4c2", &[]);
    c.add_worker("w1", 4, &[]).await;
    c.create("j", &job_yaml("p4c2", "  parallelism: 4\n  completions: 2\n", "Never", "sleep 0.2"));
    let job = c.wait_complete("p4c2", SECS(30)).await;
    assert_eq!(job.status.succeeded, 2);
    assert_eq!(c.pods_of("p4c2").await.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_pod_never_backoff_limit_2() {
    let mut c = Cluster::start("fail-never", &[]);
    c.add_worker("w1", 2, &[]).await;
    c.create("j", &job_yaml("fails", "  backoffLimit: 2\n", "Never", "exit 1"));
    let job = c.wait_complete("fails", SECS(30)).await;
    let failed = job.condition_true("Failed").expect("Failed condition");
    assert_eq!(failed.reason, "BackoffLimitExceeded");
    assert_eq!(job.status.failed, 3);
    let pods = c.pods_of("fails").await;
    assert_eq!(pods.len(), 3, "exactly backoffLimit+1 pods");
    assert!(pods.iter().all(|p| p.status.phase == "Failed"));
    // Re-creation gaps follow base·2^(n−1) with base 200 ms: 200 ms, then 400 ms.
    for (k, pair) in pods.windows(2).enumerate() {
        let finished =
            pair[0].status.container_statuses[0].state.terminated.as_ref().unwrap().finished_at.unwrap();
        let created = pair[1].metadata.creation_timestamp.unwrap();
        let gap = (created - finished).num_milliseconds();
        let want = 200 * (1 << k);
        assert!(gap >= want - 5 && gap < want + 600, "gap {k}: {gap} ms, want about {want} ms");
    }
    let describe = c.ok(&["describe", "job", "fails"]);
    assert!(describe.contains("BackoffLimitExceeded"), "{describe}");
    assert!(describe.contains("SuccessfulCreate"), "{describe}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_pod_on_failure_restarts_in_place() {
    let mut c = Cluster::start("fail-onfailure", &[]);
    c.add_worker("w1", 2, &[]).await;
    c.create("j", &job_yaml("crashes", "  backoffLimit: 2\n", "OnFailure", "echo try; exit 1"));
    let job = c.wait_complete("crashes", SECS(30)).await;
    assert_eq!(job.condition_true("Failed").expect("Failed").reason, "BackoffLimitExceeded");
    let pods = c.pods_of("crashes").await;
    // The one pod was restarted in place; it was terminated when the Job failed (and, as in
    // Kubernetes, removed), so no second pod was ever created.
    let events = c.client().events("Job", "crashes", None).await.unwrap();
    let creates = events.iter().filter(|e| e.reason == "SuccessfulCreate").count();
    assert_eq!(creates, 1, "one pod only: {events:#?}");
    assert!(pods.len() <= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn active_deadline_kills_the_process() {
    let mut c = Cluster::start("deadline", &[]);
    c.add_worker("w1", 2, &[]).await;
    let marker = format!("sleep 60.{}", std::process::id());
    let created = chrono::Utc::now();
    c.create("j", &job_yaml("deadline", "  activeDeadlineSeconds: 3\n", "Never", &format!("exec {marker}")));
    let job = c.wait_complete("deadline", SECS(10)).await;
    let failed = job.condition_true("Failed").expect("Failed");
    assert_eq!(failed.reason, "DeadlineExceeded");
    let took = (failed.last_transition_time.unwrap() - created).num_milliseconds();
    assert!((2900..=5000).contains(&took), "failed after {took} ms");
    assert!(processes_with(&marker).is_empty(), "the process is gone");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn work_queue_mode_completes_without_replacements() {
    let mut c = Cluster::start("wq", &[]);
    c.add_worker("w1", 4, &[]).await;
    c.create("j", &job_yaml("wq", "  parallelism: 2\n", "Never", "sleep 0.3"));
    let job = c.wait_complete("wq", SECS(30)).await;
    assert!(job.condition_true("Complete").is_some());
    assert_eq!(job.status.succeeded, 2);
    assert_eq!(c.pods_of("wq").await.len(), 2, "no replacement after the first success");
    let table = c.ok(&["get", "jobs", "wq"]);
    assert!(table.contains("2/1 of 2"), "{table}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coordinator_kill_9_and_restart_keeps_exact_counts() {
    let mut c = Cluster::start("crash", &[]);
    c.add_worker("w1", 4, &[]).await;
    c.create("j", &job_yaml("twenty", "  completions: 20\n  parallelism: 3\n", "Never", "sleep 0.3"));
    c.wait_job("twenty", SECS(30), |j| j.status.succeeded >= 5).await;
    c.restart_coordinator_hard();
    let job = c.wait_complete("twenty", SECS(60)).await;
    assert!(job.condition_true("Complete").is_some(), "{job:#?}");
    assert_eq!(job.status.succeeded, 20);
    let pods = c.pods_of("twenty").await;
    assert_eq!(
        pods.iter().filter(|p| p.status.phase == "Succeeded").count(),
        20,
        "exactly 20 succeeded pods"
    );
    assert!(max_overlap(&pods) <= 3, "never more than 3 active");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_kill_9_fails_its_pods_and_they_are_replaced() {
    let mut c = Cluster::start("lost", &[]);
    c.add_worker("doomed", 2, &[]).await;
    let marker = format!("sleep 30.{}", std::process::id());
    c.create(
        "j",
        &job_yaml(
            "lost",
            "  completions: 2\n  parallelism: 2\n",
            "Never",
            &format!("if [ -e {0}/ok ]; then exit 0; fi; exec {marker}", c.dir.0.display()),
        ),
    );
    c.wait_job("lost", SECS(10), |j| j.status.active == 2).await;
    // Both pods run on the doomed worker.
    let client = c.client();
    for _ in 0..100 {
        let pods = c.pods_of("lost").await;
        if pods.iter().filter(|p| p.status.phase == "Running").count() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    std::fs::write(c.dir.0.join("ok"), "").unwrap();
    c.add_worker("survivor", 2, &[]).await;
    let killed_at = chrono::Utc::now();
    c.workers[0].kill9();
    let job = c.wait_complete("lost", SECS(30)).await;
    assert!(job.condition_true("Complete").is_some(), "{job:#?}");
    assert_eq!(job.status.succeeded, 2);
    assert_eq!(job.status.failed, 2, "the lost pods count as failures (no podFailurePolicy)");
    let pods = c.pods_of("lost").await;
    let lost: Vec<_> = pods.iter().filter(|p| p.status.reason.as_deref() == Some("WorkerLost")).collect();
    assert_eq!(lost.len(), 2, "{pods:#?}");
    for p in lost {
        let t = p.status.conditions.iter().find(|c| c.type_ == "DisruptionTarget").unwrap();
        let after = (t.last_transition_time.unwrap() - killed_at).num_milliseconds();
        assert!(after <= 4000, "declared lost {after} ms after the kill (lease 2 s + 2 s)");
    }
    assert!(pods.iter().filter(|p| p.status.phase == "Succeeded").all(|p| p.node_name() == Some("survivor")));
    // PR_SET_PDEATHSIG and the watchdog: the dead agent's processes are gone too.
    assert!(processes_with(&marker).is_empty(), "no child outlives its worker agent");
    let workers = client.list_workers("").await.unwrap();
    assert_eq!(workers.iter().find(|w| w.metadata.name == "doomed").unwrap().status.phase, "Lost");
}

/// Events expire after `--event-ttl` (kube-apiserver's flag of the same name), so a busy
/// coordinator's store does not grow by an event per pod forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_expire_after_the_event_ttl() {
    let mut c = Cluster::start("event-ttl", &["--event-ttl", "3s"]);
    c.add_worker("w1", 2, &[]).await;
    c.create("ttl", &job_yaml("ttl", "  completions: 2\n  parallelism: 2\n", "Never", "true"));
    c.wait_complete("ttl", SECS(30)).await;
    // Fresh events are kept (they are seconds younger than the TTL).
    let describe = c.ok(&["describe", "job", "ttl"]);
    assert!(describe.contains("SuccessfulCreate") && describe.contains("Completed"), "{describe}");
    // Then they go: no event is left once the TTL has passed (bounded polling: removal is a
    // periodic sweep, with nothing to watch).
    let client = c.client();
    let gone = tokio::time::timeout(SECS(15), async {
        loop {
            if client.events("Job", "ttl", None).await.unwrap().is_empty() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    })
    .await;
    assert!(gone.is_ok(), "events still there after 15 s: {:?}", client.events("Job", "ttl", None).await);
    // The Job itself is untouched.
    let job = client.get_job("ttl").await.unwrap();
    assert_eq!(job.status.succeeded, 2);
}

/// S55 with the Kubernetes docs' example (its `sleep 30` shortened): the first pod that exits 42
/// fails the whole Job through the podFailurePolicy's FailJob rule, instead of being retried up
/// to backoffLimit 6.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pod_failure_policy_fail_job_on_exit_code() {
    let mut c = Cluster::start("pfp-failjob", &[]);
    c.add_worker("w1", 2, &[]).await;
    let yaml = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/job-pod-failure-policy-failjob.yaml"
    ))
    .unwrap()
    .replace("sleep 30", "sleep 0.2");
    assert_eq!(c.create("pfp", &yaml).trim(), "job.batch/job-pod-failure-policy-failjob created");
    let job = c
        .wait_job("job-pod-failure-policy-failjob", SECS(30), |j| j.condition_true("Failed").is_some())
        .await;
    let failed = job.condition_true("Failed").unwrap();
    assert_eq!(failed.reason, "PodFailurePolicy", "{job:#?}");
    assert!(
        failed.message.starts_with("Container main for pod job-pod-failure-policy-failjob-")
            && failed.message.ends_with("failed with exit code 42 matching FailJob rule at index 0"),
        "{}",
        failed.message
    );
    assert_eq!(job.spec.pod_replacement_policy.as_deref(), Some("Failed"), "REP-2 default");
    // Not retried: only the two pods of the first wave ever ran (backoffLimit 6 would have
    // made up to 7).
    let pods = c.pods_of("job-pod-failure-policy-failjob").await;
    assert!(pods.len() <= 2, "{} pods", pods.len());
    assert_eq!(job.status.succeeded, 0);
    assert_eq!(job.status.active, 0);
    let describe = c.ok(&["describe", "job", "job-pod-failure-policy-failjob"]);
    assert!(describe.contains("PodFailurePolicy"), "{describe}");
}

/// S56: failures the policy ignores do not count toward backoffLimit: with backoffLimit 0, a
/// pod that fails once with exit code 1 (ignored) and then succeeds completes the Job.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pod_failure_policy_ignored_failures_do_not_count() {
    let mut c = Cluster::start("pfp-ignore", &[]);
    c.add_worker("w1", 1, &[]).await;
    let attempts = c.dir.0.join("attempts");
    let script = format!(
        "n=$(cat {f} 2>/dev/null || echo 0); echo $((n+1)) > {f}; [ \"$n\" -ge 1 ] || exit 1",
        f = attempts.display()
    );
    let spec = "  backoffLimit: 0\n  podFailurePolicy:\n    rules:\n    - action: Ignore\n      onExitCodes:\n        operator: In\n        values: [1]\n";
    c.create("ignore", &job_yaml("ignore", spec, "Never", &script));
    let job = c.wait_complete("ignore", SECS(30)).await;
    assert!(job.condition_true("Complete").is_some(), "{job:#?}");
    assert_eq!((job.status.succeeded, job.status.failed), (1, 0), "the ignored failure is not counted");
    let pods = c.pods_of("ignore").await;
    assert_eq!(pods.len(), 2, "the failed pod was replaced once");
    assert_eq!(pods.iter().filter(|p| p.status.phase == "Failed").count(), 1);
    assert_eq!(std::fs::read_to_string(&attempts).unwrap().trim(), "2");
}
