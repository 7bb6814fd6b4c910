//! Indexed Jobs end to end (issue 14, part 1), with the real binary: the docs' static work
//! assignment example, the CLI's index columns, and a coordinator killed mid-Job.

mod common;

use std::time::Duration;

use common::*;
use drover_api::{IndexSet, Pod};

const SECS: fn(u64) -> Duration = Duration::from_secs;
const INDEX_KEY: &str = "batch.kubernetes.io/job-completion-index";

fn index_of(pod: &Pod) -> i32 {
    pod.metadata.annotations.get(INDEX_KEY).expect("an index annotation").parse().unwrap()
}

/// The docs' "Indexed Job for Parallel Processing with Static Work Assignment", the manifest as
/// published (`examples/indexed-job.yaml`): completions 5, parallelism 3, an init container
/// writing the item picked by `$JOB_COMPLETION_INDEX` to `/input/data.txt` in an emptyDir, and
/// `rev` reading it in the container. Every index's output is in its own pod's log,
/// `completedIndexes` is "0-4", and nothing is left on the worker: no `/input`, no volume.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_docs_static_work_assignment_example_runs() {
    let mut c = Cluster::start("indexed-docs", &[]);
    c.add_worker("w1", 4, &[]).await;
    let yaml =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/indexed-job.yaml"))
            .unwrap();
    assert!(yaml.contains("initContainers:") && yaml.contains("emptyDir: {}"), "the docs' manifest");
    assert!(!std::path::Path::new("/input").exists(), "the worker has no /input of its own");
    assert_eq!(c.create("indexed", &yaml).trim(), "job.batch/indexed-job created");
    let job = c.wait_complete("indexed-job", SECS(60)).await;
    assert!(job.condition_true("Complete").is_some(), "{job:#?}\n{}", c.logs());
    assert_eq!(job.status.completed_indexes.as_deref(), Some("0-4"));
    assert_eq!((job.status.succeeded, job.status.failed), (5, 0));

    let pods = c.pods_of("indexed-job").await;
    assert_eq!(pods.len(), 5, "one pod per index");
    assert!(max_overlap(&pods) <= 3, "never more than parallelism");
    let want = ["oof", "rab", "zab", "xuq", "zyx"];
    let mut seen = Vec::new();
    for pod in &pods {
        let index = index_of(pod);
        let name = &pod.metadata.name;
        assert!(name.starts_with(&format!("indexed-job-{index}-")), "{name}");
        assert_eq!(pod.metadata.labels.get(INDEX_KEY), Some(&index.to_string()));
        assert_eq!(pod.spec.hostname.as_deref(), Some(format!("indexed-job-{index}").as_str()));
        assert_eq!(pod.status.phase, "Succeeded", "{pod:#?}");
        let log = c.ok(&["logs", name]);
        assert_eq!(log, format!("{}\n", want[index as usize]), "the log of {name}");
        seen.push(index);
    }
    seen.sort_unstable();
    assert_eq!(seen, [0, 1, 2, 3, 4]);
    for pod in &pods {
        let init = &pod.status.init_container_statuses;
        assert_eq!(init.len(), 1, "{pod:#?}");
        assert_eq!(init[0].name, "input");
        assert_eq!(init[0].state.terminated.as_ref().map(|t| t.exit_code), Some(0), "{pod:#?}");
        let agents = std::fs::read_dir(std::env::temp_dir().join("drover-pods")).unwrap();
        let left: Vec<_> =
            agents.flatten().map(|a| a.path().join(&pod.metadata.uid)).filter(|d| d.exists()).collect();
        assert!(left.is_empty(), "left behind: {left:?}");
    }
    assert!(!std::path::Path::new("/input").exists(), "the pods' /input reached the worker");

    // The CLI: COMPLETED INDEXES in `get jobs -o wide`, INDEX in `get pods`, and `describe`.
    let wide = c.ok(&["get", "jobs", "-o", "wide"]);
    let header: Vec<&str> = wide.lines().next().unwrap().split("   ").map(str::trim).collect();
    assert!(header.contains(&"COMPLETED INDEXES"), "{wide}");
    let row = wide.lines().find(|l| l.starts_with("indexed-job")).unwrap();
    assert!(row.contains("5/5") && row.contains(" 0-4 "), "{wide}");
    let table = c.ok(&["get", "pods", "-l", "batch.kubernetes.io/job-name=indexed-job"]);
    let mut lines = table.lines();
    let header = lines.next().unwrap();
    assert!(header.split_whitespace().any(|h| h == "INDEX"), "{table}");
    let column = header.find("INDEX").unwrap();
    for line in lines {
        let name = line.split_whitespace().next().unwrap();
        let index = line[column..].split_whitespace().next().unwrap();
        assert!(name.starts_with(&format!("indexed-job-{index}-")), "{table}");
    }
    let describe = c.ok(&["describe", "job", "indexed-job"]);
    assert!(describe.contains("Completion Mode:  Indexed\n"), "{describe}");
    assert!(describe.contains("Completed Indexes: 0-4\n"), "{describe}");
}

/// A pod of an Indexed Job sees its index and its host name: `JOB_COMPLETION_INDEX`, and
/// `HOSTNAME` `<job>-<index>` (the pod's `spec.hostname`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_pod_gets_its_index_and_hostname_in_its_environment() {
    let mut c = Cluster::start("indexed-env", &[]);
    c.add_worker("w1", 2, &[]).await;
    c.create(
        "env",
        &job_yaml(
            "env",
            "  completions: 2\n  parallelism: 2\n  completionMode: Indexed\n",
            "Never",
            "echo index=$JOB_COMPLETION_INDEX host=$HOSTNAME",
        ),
    );
    let job = c.wait_complete("env", SECS(30)).await;
    assert_eq!(job.status.completed_indexes.as_deref(), Some("0,1"), "{job:#?}");
    for pod in c.pods_of("env").await {
        let i = index_of(&pod);
        let log = c.ok(&["logs", &pod.metadata.name]);
        assert_eq!(log, format!("index={i} host=env-{i}\n"));
    }
}

/// A coordinator SIGKILLed and restarted mid-Job keeps `completedIndexes` exact and never runs
/// an index that already succeeded: each pod appends its index to a file as its last act, and
/// each index is there exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_coordinator_killed_mid_job_keeps_completed_indexes_exact() {
    const COMPLETIONS: i32 = 16;
    let mut c = Cluster::start("indexed-crash", &[]);
    c.add_worker("w1", 4, &[]).await;
    let runs = c.dir.0.join("runs");
    let script = format!("sleep 0.5; echo $JOB_COMPLETION_INDEX >> {}", runs.display());
    c.create(
        "crash",
        &job_yaml(
            "crash",
            &format!("  completions: {COMPLETIONS}\n  parallelism: 3\n  completionMode: Indexed\n"),
            "Never",
            &script,
        ),
    );
    let completed = |j: &drover_api::Job| {
        IndexSet::parse(j.status.completed_indexes.as_deref().unwrap_or(""), COMPLETIONS).unwrap()
    };
    // Two kills: one after a few indexes, one past the middle.
    for threshold in [3, 9] {
        let before = c.wait_job("crash", SECS(60), |j| j.status.succeeded >= threshold).await;
        assert!(!before.is_finished(), "the kill must come mid-Job: {before:#?}");
        let before = completed(&before);
        c.restart_coordinator_hard();
        let after = c.client().get_job("crash").await;
        let after = match after {
            Ok(job) => job,
            // The API may take a moment to answer after the restart.
            Err(_) => c.wait_job("crash", SECS(10), |_| true).await,
        };
        let after_set = completed(&after);
        assert!(
            before.iter().all(|i| after_set.contains(i)),
            "completedIndexes lost indexes: {before} before the kill, {after_set} after"
        );
        assert_eq!(after.status.succeeded as usize, after_set.count(), "{after:#?}");
    }
    let job = c.wait_complete("crash", SECS(90)).await;
    assert!(job.condition_true("Complete").is_some(), "{job:#?}\n{}", c.logs());
    let all = format!("0-{}", COMPLETIONS - 1);
    assert_eq!(job.status.completed_indexes.as_deref(), Some(all.as_str()));
    assert_eq!((job.status.succeeded, job.status.failed), (COMPLETIONS, 0));

    let text = std::fs::read_to_string(&runs).unwrap();
    let mut ran: Vec<i32> = text.lines().map(|l| l.trim().parse().unwrap()).collect();
    ran.sort_unstable();
    assert_eq!(ran, (0..COMPLETIONS).collect::<Vec<_>>(), "each index ran to success exactly once");
    let pods = c.pods_of("crash").await;
    let succeeded = pods.iter().filter(|p| p.status.phase == "Succeeded").count();
    assert_eq!(succeeded, COMPLETIONS as usize, "one succeeded pod per index");
    assert_eq!(pods.len(), COMPLETIONS as usize, "no pod created for an index that had succeeded");
    assert!(max_overlap(&pods) <= 3, "never more than parallelism");
}
