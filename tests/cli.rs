//! The kubectl-like surface, with the real binary: refusals, output formats, watches,
//! expansions, apply, suspend, delete and TTL.

mod common;

use std::time::Duration;

use common::*;

const SECS: fn(u64) -> Duration = Duration::from_secs;

fn job_names(c: &Cluster) -> Vec<String> {
    let out = c.ok(&["get", "jobs", "-o", "json"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["kind"], "List");
    v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["metadata"]["name"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_manifests_are_refused_naming_the_field_and_nothing_is_created() {
    let c = Cluster::start("invalid", &[]);
    let ok = job_yaml("fine", "", "Never", "true");
    let cases: Vec<(&str, String, &[&str])> = vec![
        (
            "negative parallelism",
            job_yaml("neg", "  parallelism: -1\n", "Never", "true"),
            &["spec.parallelism: Invalid value: -1: must be greater than or equal to 0"],
        ),
        (
            "restartPolicy Always",
            job_yaml("always", "", "Always", "true"),
            &["spec.template.spec.restartPolicy: Required value"],
        ),
        (
            "missing template",
            "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: notemplate\nspec:\n  completions: 1\n"
                .to_string(),
            &["spec.template.spec.containers: Required value"],
        ),
        (
            "unknown field",
            ok.replacen("spec:\n", "spec:\n  paralellism: 2\n", 1),
            &["unknown field \"spec.paralellism\""],
        ),
        (
            "invalid name",
            job_yaml("Bad_Name", "", "Never", "true"),
            &["metadata.name: Invalid value: \"Bad_Name\""],
        ),
        (
            "name too long",
            job_yaml(&"a".repeat(64), "", "Never", "true"),
            &["metadata.name: Invalid value", "must be no more than 63 characters"],
        ),
        ("malformed YAML", "apiVersion: batch/v1\nkind: Job\nmetadata: [\n".to_string(), &["error parsing"]),
        (
            "every error at once",
            job_yaml("two", "  parallelism: -1\n  backoffLimit: -2\n  bogus: 1\n", "Never", "true"),
            &[
                "spec.parallelism: Invalid value: -1",
                "spec.backoffLimit: Invalid value: -2",
                "unknown field \"spec.bogus\"",
            ],
        ),
    ];
    for (what, yaml, wants) in cases {
        let path = c.dir.0.join("bad.yaml");
        std::fs::write(&path, &yaml).unwrap();
        let out = c.drover(&["create", "-f", path.to_str().unwrap()]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{what}: accepted");
        for want in wants {
            assert!(stderr.contains(want), "{what}: stderr lacks {want:?}:\n{stderr}");
        }
        assert!(job_names(&c).is_empty(), "{what}: something was created");
    }
    // A file with one good and one bad document creates nothing.
    let both = format!("{ok}---\n{}", job_yaml("neg", "  parallelism: -1\n", "Never", "true"));
    let out = c.drover_stdin(&["create", "-f", "-"], Some(&both));
    assert!(!out.status.success());
    assert!(job_names(&c).is_empty());
    // The server validates too, whatever the client did.
    let raw = serde_json::json!({
        "apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "raw"},
        "spec": {"parallelism": -3, "nope": true, "template": {"spec": {"containers": [{"name": "c", "command": ["true"]}], "restartPolicy": "Never"}}}
    });
    let err = c.client().create_job(&raw).await.unwrap_err();
    match err {
        drover_client::ClientError::Api { code, causes, .. } => {
            assert_eq!(code, 422);
            assert!(causes.iter().any(|c| c.contains("spec.parallelism")), "{causes:?}");
            assert!(causes.iter().any(|c| c.contains("spec.nope")), "{causes:?}");
        }
        other => panic!("{other}"),
    }
    assert!(job_names(&c).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expansions_create_one_job_per_item_sharing_a_label() {
    let mut c = Cluster::start("expand", &[]);
    c.add_worker("w1", 4, &[]).await;
    let tmpl = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/job-tmpl.yaml");
    let expanded = c.ok(&["expand", "-f", tmpl, "--item", "apple", "--item", "banana"]);
    assert!(expanded.contains("name: process-item-apple") && expanded.contains("name: process-item-banana"));
    let out = c.ok(&["create", "-f", tmpl, "--item", "apple", "--item", "banana", "--item", "cherry"]);
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        [
            "job.batch/process-item-apple created",
            "job.batch/process-item-banana created",
            "job.batch/process-item-cherry created"
        ]
    );
    for item in ["apple", "banana", "cherry"] {
        c.wait_job(&format!("process-item-{item}"), SECS(10), |j| {
            j.status.active >= 1 || j.status.succeeded >= 1
        })
        .await;
    }
    let pods = c.ok(&["get", "pods", "-l", "jobgroup=jobexample", "-o", "name"]);
    assert_eq!(pods.lines().count(), 3, "{pods}");
    let job = c.wait_complete("process-item-cherry", SECS(20)).await;
    assert_eq!(job.metadata.labels.get("jobgroup").map(String::as_str), Some("jobexample"));
    let pod = c.pods_of("process-item-cherry").await.remove(0);
    let log = c.ok(&["logs", &pod.metadata.name]);
    assert_eq!(log.trim(), "Processing item cherry");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_formats_and_watch() {
    let mut c = Cluster::start("formats", &[]);
    c.add_worker("w1", 2, &[]).await;
    // `get jobs -w` streams each change as the server pushes it.
    let (mut watch, rx) = c.drover_lines(&["get", "jobs", "-w"]);
    c.create("j", &job_yaml("fmt", "  completions: 2\n", "Never", "echo hi"));
    let mut lines = Vec::new();
    loop {
        let line = rx.recv_timeout(SECS(20)).expect("watch printed the completion");
        lines.push(line.clone());
        if line.starts_with("fmt") && line.contains("Complete") {
            assert!(line.contains("2/2"), "{line}");
            break;
        }
    }
    assert!(lines[0].starts_with("NAME") && lines[0].contains("COMPLETIONS"), "{lines:?}");
    assert!(lines.iter().any(|l| l.contains("0/2") || l.contains("1/2")), "COMPLETIONS climbed: {lines:?}");
    let _ = watch.kill();
    let _ = watch.wait();

    let one: serde_json::Value = serde_json::from_str(&c.ok(&["get", "job", "fmt", "-o", "json"])).unwrap();
    assert_eq!(one["kind"], "Job");
    assert_eq!(one["apiVersion"], "batch/v1");
    assert_eq!(one["status"]["succeeded"], 2);
    let selector =
        one["spec"]["selector"]["matchLabels"]["batch.kubernetes.io/controller-uid"].as_str().unwrap();
    assert_eq!(selector, one["metadata"]["uid"].as_str().unwrap());
    let pods: serde_json::Value = serde_json::from_str(&c.ok(&["get", "pods", "-o", "json"])).unwrap();
    assert_eq!(pods["kind"], "List");
    let items = pods["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    for p in items {
        let labels = &p["metadata"]["labels"];
        assert_eq!(labels["job-name"], "fmt");
        assert_eq!(labels["batch.kubernetes.io/job-name"], "fmt");
        assert_eq!(labels["controller-uid"], selector);
        let name = p["metadata"]["name"].as_str().unwrap();
        let suffix = name.strip_prefix("fmt-").unwrap();
        assert_eq!(suffix.len(), 5, "pod names are <job>-<5 random chars>: {name}");
    }
    let yaml = c.ok(&["get", "job", "fmt", "-o", "yaml"]);
    assert!(yaml.contains("kind: Job") && yaml.contains("succeeded: 2"), "{yaml}");
    assert_eq!(c.ok(&["get", "jobs", "-o", "name"]).trim(), "job.batch/fmt");
    let wide = c.ok(&["get", "jobs", "-o", "wide"]);
    assert!(wide.lines().next().unwrap().contains("SELECTOR") && wide.contains("busybox"), "{wide}");
    let workers = c.ok(&["get", "workers"]);
    assert!(
        workers.starts_with("NAME   STATUS   SLOTS   RUNNING   LAST-HEARTBEAT   AGE   VERSION"),
        "{workers}"
    );
    let missing = c.drover(&["get", "job", "nope"]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("NotFound"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_times_out_with_a_non_zero_exit() {
    let c = Cluster::start("wait", &[]);
    // No worker: the pod never runs.
    c.create("j", &job_yaml("stuck", "", "Never", "true"));
    let out = c.drover(&["wait", "job/stuck", "--for=condition=Complete", "--timeout=500ms"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("timed out waiting for the condition on jobs/stuck")
    );
    let pods = c.ok(&["get", "pods"]);
    assert!(pods.contains("Pending"), "{pods}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suspend_and_resume_with_apply() {
    let mut c = Cluster::start("suspend", &[]);
    c.add_worker("w1", 2, &[]).await;
    let path = c.dir.0.join("job.yaml");
    let done = c.dir.0.join("done");
    let script = format!("if [ -e {} ]; then exit 0; fi; sleep 30", done.display());
    let yaml = job_yaml("sus", "  completions: 2\n  parallelism: 2\n", "Never", &script);
    std::fs::write(&path, &yaml).unwrap();
    assert_eq!(c.ok(&["apply", "-f", path.to_str().unwrap()]).trim(), "job.batch/sus created");
    c.wait_job("sus", SECS(10), |j| j.status.active == 2).await;
    std::fs::write(&path, yaml.replace("spec:\n  completions", "spec:\n  suspend: true\n  completions"))
        .unwrap();
    assert_eq!(c.ok(&["apply", "-f", path.to_str().unwrap()]).trim(), "job.batch/sus configured");
    let job = c
        .wait_job("sus", SECS(40), |j| {
            j.condition_true("Suspended").is_some()
                && j.status.active == 0
                && j.status.terminating.unwrap_or(0) == 0
        })
        .await;
    assert_eq!(job.status.failed, 0, "suspended pods do not count as failures");
    assert_eq!(job.condition_true("Suspended").unwrap().reason, "JobSuspended");
    std::fs::write(&done, "").unwrap();
    std::fs::write(&path, &yaml).unwrap();
    assert_eq!(c.ok(&["apply", "-f", path.to_str().unwrap()]).trim(), "job.batch/sus configured");
    let job = c.wait_complete("sus", SECS(40)).await;
    assert!(job.condition_true("Complete").is_some(), "{job:#?}");
    assert_eq!(job.status.succeeded, 2);
    assert_eq!(job.status.failed, 0);
    assert!(
        job.status
            .conditions
            .iter()
            .any(|c| c.type_ == "Suspended" && c.status == "False" && c.reason == "JobResumed"),
        "{job:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_cascades_or_orphans() {
    let mut c = Cluster::start("delete", &[]);
    c.add_worker("w1", 4, &[]).await;
    c.create("a", &job_yaml("cascade", "", "Never", "sleep 30"));
    c.create("b", &job_yaml("orphan", "", "Never", "sleep 0.5"));
    c.wait_job("cascade", SECS(10), |j| j.status.active == 1).await;
    c.wait_job("orphan", SECS(10), |j| j.status.active == 1).await;
    assert_eq!(c.ok(&["delete", "job", "cascade"]).trim(), "job.batch \"cascade\" deleted");
    assert_eq!(c.ok(&["delete", "job", "orphan", "--cascade=orphan"]).trim(), "job.batch \"orphan\" deleted");
    assert!(job_names(&c).is_empty());
    // The cascaded pod is stopped and removed; the orphan keeps running to its end.
    let client = c.client();
    within(SECS(40), async {
        loop {
            let pods = client.list_pods("").await.unwrap();
            let cascade_gone = !pods.iter().any(|p| p.metadata.name.starts_with("cascade-"));
            let orphan_done =
                pods.iter().any(|p| p.metadata.name.starts_with("orphan-") && p.status.phase == "Succeeded");
            if cascade_gone && orphan_done {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    let missing = c.drover(&["delete", "job", "nope"]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("NotFound"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ttl_after_finished_deletes_the_job_and_its_pods() {
    let mut c = Cluster::start("ttl", &[]);
    c.add_worker("w1", 2, &[]).await;
    c.create("j", &job_yaml("ttl", "  ttlSecondsAfterFinished: 1\n", "Never", "true"));
    c.wait_complete("ttl", SECS(10)).await;
    let client = c.client();
    within(SECS(10), async {
        loop {
            if client.get_job("ttl").await.is_err_and(|e| e.is_not_found()) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    assert!(c.pods_of("ttl").await.is_empty());
}

/// A replace that carries a resourceVersion applies to that version only (409 Conflict
/// otherwise), as in Kubernetes; without one it is unconditional, which is what `apply` of a
/// file sends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replace_with_a_stale_resource_version_is_refused() {
    let c = Cluster::start("stale-rv", &[]);
    // Suspended, so once the controller has written its Suspended condition nothing but our
    // writes changes it.
    c.create("rv", &job_yaml("rv", "  suspend: true\n  parallelism: 1\n", "Never", "true"));
    let read = c.wait_job("rv", Duration::from_secs(30), |j| j.condition_true("Suspended").is_some()).await;
    let client = c.client();

    let mut first = serde_json::to_value(&read).unwrap();
    first["spec"]["parallelism"] = 2.into();
    let written = client.replace_job("rv", &first).await.expect("the version read is current");
    assert_eq!(written.spec.parallelism, Some(2));

    // A second writer that read the same version is refused, and changes nothing.
    let mut second = serde_json::to_value(&read).unwrap();
    second["spec"]["parallelism"] = 3.into();
    match client.replace_job("rv", &second).await {
        Err(drover_client::ClientError::Api { code, reason, message, .. }) => {
            assert_eq!((code, reason.as_str()), (409, "Conflict"));
            assert!(message.contains("the object has been modified"), "{message}");
        }
        other => panic!("a stale resourceVersion was accepted: {other:?}"),
    }
    assert_eq!(client.get_job("rv").await.unwrap().spec.parallelism, Some(2));

    // Without a resourceVersion the replace is unconditional.
    second["metadata"]["resourceVersion"] = "".into();
    let written = client.replace_job("rv", &second).await.expect("no version: unconditional");
    assert_eq!(written.spec.parallelism, Some(3));

    // The same for CronJobs; `drover suspend` reads, changes and writes back its version.
    c.ok(&["create", "-f", concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/cronjob-hello.yaml")]);
    let cj = client.get_cronjob("hello").await.unwrap();
    c.ok(&["suspend", "cronjob", "hello"]);
    let mut stale = serde_json::to_value(&cj).unwrap();
    stale["spec"]["schedule"] = "*/5 * * * *".into();
    match client.replace_cronjob("hello", &stale).await {
        Err(drover_client::ClientError::Api { code: 409, .. }) => {}
        other => panic!("a stale CronJob resourceVersion was accepted: {other:?}"),
    }
    let now = client.get_cronjob("hello").await.unwrap();
    assert_eq!(now.spec.schedule, cj.spec.schedule);
    assert!(now.suspended());
}

/// `apply` updates what Kubernetes lets change (parallelism, suspend, …) and refuses the
/// immutable fields (VAL-20) with an error naming each, changing nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_refuses_changes_to_immutable_fields() {
    let c = Cluster::start("immutable", &[]);
    let policy = "  podFailurePolicy:\n    rules:\n    - action: FailJob\n      onExitCodes:\n        operator: In\n        values: [42]\n";
    let base =
        |spec: &str| job_yaml("imm", &format!("  suspend: true\n  completions: 3\n{spec}"), "Never", "true");
    c.create("imm", &base(&format!("  parallelism: 1\n{policy}")));

    let out = c.drover_stdin(&["apply", "-f", "-"], Some(&base(&format!("  parallelism: 2\n{policy}"))));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "job.batch/imm configured");

    let changed = base("  parallelism: 2\n")
        .replace("completions: 3", "completions: 4")
        .replace("[\"sh\", \"-c\", \"true\"]", "[\"sh\", \"-c\", \"false\"]");
    let out = c.drover_stdin(&["apply", "-f", "-"], Some(&changed));
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    for field in [
        "spec.completions: Invalid value: 4:",
        "spec.template: Invalid value:",
        "spec.podFailurePolicy: Invalid value:",
    ] {
        assert!(err.contains(field) && err.contains("field is immutable"), "{field}: {err}");
    }
    let job = c.client().get_job("imm").await.unwrap();
    assert_eq!((job.spec.completions, job.spec.parallelism), (Some(3), Some(2)));
    assert!(job.spec.pod_failure_policy.is_some());
}

/// `get events` lists every object's events like kubectl (LAST SEEN, TYPE, REASON, OBJECT,
/// MESSAGE), and `--for KIND/NAME` narrows them to one object.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_events_lists_and_filters_like_kubectl() {
    let mut c = Cluster::start("events", &[]);
    c.add_worker("w1", 2, &[]).await;
    c.create("a", &job_yaml("ev-a", "", "Never", "true"));
    c.create("b", &job_yaml("ev-b", "", "Never", "true"));
    c.wait_complete("ev-a", SECS(30)).await;
    c.wait_complete("ev-b", SECS(30)).await;

    let all = c.ok(&["get", "events"]);
    let mut lines = all.lines();
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"], "{all}");
    for (job, reason) in [("ev-a", "SuccessfulCreate"), ("ev-a", "Completed"), ("ev-b", "Completed")] {
        assert!(
            all.lines().any(|l| l.contains(reason) && l.contains(&format!("job/{job} "))),
            "no {reason} for {job}:\n{all}"
        );
    }

    let one = c.ok(&["get", "events", "--for", "job/ev-a"]);
    assert!(one.contains("job/ev-a") && !one.contains("job/ev-b"), "{one}");
    let json: serde_json::Value =
        serde_json::from_str(&c.ok(&["get", "events", "--for", "job/ev-b", "-o", "json"])).unwrap();
    assert_eq!(json["kind"], "List");
    assert!(json["items"].as_array().unwrap().iter().all(|e| e["involvedName"] == "ev-b"), "{json}");

    let out = c.drover(&["get", "events", "--for", "nonsense"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--for: expected KIND/NAME"));
}
