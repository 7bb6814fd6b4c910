//! Issue 14, the per-index family end to end, through the CLI, a coordinator and a worker:
//! backoffLimitPerIndex with maxFailedIndexes (FAIL-20, FAIL-21), the FailIndex action of a
//! podFailurePolicy (FAIL-15), and a successPolicy (FAIL-30, FAIL-31).

mod common;

use std::time::Duration;

use common::*;
use drover_api::{Job, Pod};

const SECS: fn(u64) -> Duration = Duration::from_secs;

/// An Indexed Job of `completions` and `parallelism` running `sh -c script`, with `extra` spec
/// lines (two-space indented).
fn indexed_job(name: &str, completions: i32, parallelism: i32, extra: &str, script: &str) -> String {
    format!(
        "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: {name}\nspec:\n  completionMode: Indexed\n  \
         completions: {completions}\n  parallelism: {parallelism}\n{extra}  template:\n    spec:\n      \
         restartPolicy: Never\n      containers:\n      - name: c\n        image: busybox\n        command: \
         [\"sh\", \"-c\", {script:?}]\n"
    )
}

fn reason(job: &Job, type_: &str) -> Option<String> {
    job.status.conditions.iter().find(|c| c.type_ == type_ && c.status == "True").map(|c| c.reason.clone())
}

fn index_of(pod: &Pod) -> Option<i32> {
    pod.metadata.annotations.get("batch.kubernetes.io/job-completion-index").and_then(|i| i.parse().ok())
}

/// The pods of index `i`, oldest first.
async fn pods_of_index(c: &Cluster, job: &str, i: i32) -> Vec<Pod> {
    c.pods_of(job).await.into_iter().filter(|p| index_of(p) == Some(i)).collect()
}

/// The issue's case: backoffLimitPerIndex 1, maxFailedIndexes 1; index 2 always fails (at
/// once), index 3 too (after 2 s). The Job goes on past index 2's failures with failedIndexes
/// "2", and fails with MaxFailedIndexesExceeded only when index 3 fails as well. Each failed index
/// ran twice (one retry), and the retry carried the failure count.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_failed_indexes_fails_the_job_only_at_the_second_failed_index() {
    let mut c = Cluster::start("perindex", &[]);
    c.add_worker("w1", 4, &[]).await;
    let script = r#"case "$JOB_COMPLETION_INDEX" in 2) exit 1;; 3) sleep 2; exit 1;; esac; echo "index $JOB_COMPLETION_INDEX ok""#;
    let extra = "  backoffLimitPerIndex: 1\n  maxFailedIndexes: 1\n";
    c.create("job", &indexed_job("pix", 4, 4, extra, script));
    // Index 2 failed for good while the Job goes on.
    let going_on = c.wait_job("pix", SECS(60), |j| j.status.failed_indexes.as_deref() == Some("2")).await;
    assert!(!going_on.is_finished() && reason(&going_on, "FailureTarget").is_none(), "{going_on:#?}");
    let job = c.wait_job("pix", SECS(60), |j| j.is_finished()).await;
    assert_eq!(reason(&job, "Failed").as_deref(), Some("MaxFailedIndexesExceeded"), "{job:#?}");
    assert_eq!(job.status.failed_indexes.as_deref(), Some("2,3"));
    assert_eq!(job.status.completed_indexes.as_deref(), Some("0,1"));
    assert_eq!((job.status.succeeded, job.status.failed), (2, 4));
    for i in [2, 3] {
        let pods = pods_of_index(&c, "pix", i).await;
        assert_eq!(pods.len(), 2, "index {i}: one retry");
        let count =
            |p: &Pod| p.metadata.annotations.get("batch.kubernetes.io/job-index-failure-count").cloned();
        assert_eq!((count(&pods[0]), count(&pods[1])), (Some("0".into()), Some("1".into())));
    }
    // `describe job` shows the failed indexes.
    let describe = c.ok(&["describe", "job", "pix"]);
    assert!(describe.contains("Failed Indexes:") && describe.contains("2,3"), "{describe}");
}

/// FAIL-15 FailIndex: exit 42 fails the index at once, with no retry, whatever
/// backoffLimitPerIndex allows; the other indexes complete, and the Job fails with FailedIndexes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_index_action_fails_the_index_without_retry() {
    let mut c = Cluster::start("failindex", &[]);
    c.add_worker("w1", 3, &[]).await;
    let script = r#"[ "$JOB_COMPLETION_INDEX" = 1 ] && exit 42; echo ok"#;
    let extra = "  backoffLimitPerIndex: 3\n  podFailurePolicy:\n    rules:\n    - action: FailIndex\n      \
                 onExitCodes:\n        operator: In\n        values: [42]\n";
    c.create("job", &indexed_job("fix", 3, 3, extra, script));
    let job = c.wait_job("fix", SECS(60), |j| j.is_finished()).await;
    assert_eq!(reason(&job, "Failed").as_deref(), Some("FailedIndexes"), "{job:#?}");
    assert_eq!(job.status.failed_indexes.as_deref(), Some("1"));
    assert_eq!(job.status.completed_indexes.as_deref(), Some("0,2"));
    assert_eq!(pods_of_index(&c, "fix", 1).await.len(), 1, "no retry of a FailIndex failure");
}

/// FAIL-30, FAIL-31: `successPolicy: {rules: [{succeededIndexes: "0"}]}`. Index 0 (the leader)
/// succeeds while the others would run for a minute: the Job completes with reason SuccessPolicy,
/// its other pods are terminated, and none of them counts as failed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn success_policy_completes_on_index_0_and_terminates_the_others() {
    let mut c = Cluster::start("successpolicy", &[]);
    c.add_worker("w1", 3, &[]).await;
    let script = r#"if [ "$JOB_COMPLETION_INDEX" = 0 ]; then sleep 1; echo leader done; else sleep 60; fi"#;
    let extra = "  successPolicy:\n    rules:\n    - succeededIndexes: \"0\"\n";
    c.create("job", &indexed_job("spx", 3, 3, extra, script));
    let job = c.wait_job("spx", SECS(40), |j| j.is_finished()).await;
    assert_eq!(reason(&job, "Complete").as_deref(), Some("SuccessPolicy"), "{job:#?}");
    assert_eq!(reason(&job, "SuccessCriteriaMet").as_deref(), Some("SuccessPolicy"));
    assert_eq!((job.status.succeeded, job.status.failed, job.status.active), (1, 0, 0));
    assert_eq!(job.status.completed_indexes.as_deref(), Some("0"));
    for pod in c.pods_of("spx").await.into_iter().filter(|p| index_of(p) != Some(0)) {
        assert!(pod.is_terminal(), "{} still runs: {:?}", pod.metadata.name, pod.status.phase);
    }
}

/// Elastic Indexed Jobs (Kubernetes 1.27+): completions change together with parallelism, to
/// the same value, and the Job runs the new indexes; completions alone are refused with
/// upstream's message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_indexed_job_scales_its_completions_with_its_parallelism() {
    let mut c = Cluster::start("elastic", &[]);
    c.add_worker("w1", 4, &[]).await;
    let yaml = indexed_job("elx", 2, 2, "  suspend: true\n", r#"echo "index $JOB_COMPLETION_INDEX""#);
    c.create("job", &yaml);
    // The controller writes the Suspended condition once, which changes the resourceVersion:
    // read the Job after it, so the replaces below start from the settled object.
    let settled = c.wait_job("elx", SECS(30), |j| j.condition_true("Suspended").is_some()).await;
    let client = c.client();
    let mut job = serde_json::to_value(&settled).unwrap();
    // Completions alone: refused, nothing changes.
    job["spec"]["completions"] = 5.into();
    let err = client.replace_job("elx", &job).await.unwrap_err().to_string();
    assert!(
        err.contains(
            "spec.completions: Invalid value: 5: can only be modified in tandem with spec.parallelism"
        ),
        "{err}"
    );
    // Together, to the same value, and resumed: four indexes run.
    job["spec"]["completions"] = 4.into();
    job["spec"]["parallelism"] = 4.into();
    job["spec"]["suspend"] = false.into();
    let replaced = client.replace_job("elx", &job).await.unwrap();
    assert_eq!((replaced.spec.completions, replaced.spec.parallelism), (Some(4), Some(4)));
    let done = c.wait_job("elx", SECS(60), |j| j.is_finished()).await;
    assert_eq!(reason(&done, "Complete").as_deref(), Some("CompletionsReached"), "{done:#?}");
    assert_eq!(done.status.completed_indexes.as_deref(), Some("0-3"));
}
