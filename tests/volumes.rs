//! Init containers and emptyDir volumes end to end, with the real binary (issue 14's last item:
//! the docs' Indexed Job manifest runs as published). The worker runs as root here, so each
//! container with `volumeMounts` gets a root of its own (see the worker's `mounts` module).

mod common;

use std::time::Duration;

use common::*;
use drover_api::{Job, Pod};
use futures::StreamExt as _;

const SECS: fn(u64) -> Duration = Duration::from_secs;

/// A Job whose pods have one init container `input` and a container `main`, both `sh -c`, and
/// the volumes and mounts given as YAML lines (indented for the pod spec / each container).
fn job(
    name: &str,
    spec_extra: &str,
    restart: &str,
    init: &str,
    main: &str,
    mounts: &str,
    volumes: &str,
) -> String {
    format!(
        "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: {name}\nspec:\n{spec_extra}  template:\n    spec:\n      restartPolicy: {restart}\n      initContainers:\n      - name: input\n        image: bash\n        command: [\"sh\", \"-c\", {init:?}]\n{mounts}      containers:\n      - name: main\n        image: busybox\n        command: [\"sh\", \"-c\", {main:?}]\n{mounts}{volumes}"
    )
}

fn pod_of(pods: &[Pod]) -> &Pod {
    assert_eq!(pods.len(), 1, "{pods:#?}");
    &pods[0]
}

fn reason(job: &Job, type_: &str) -> Option<String> {
    job.condition_true(type_).map(|c| c.reason.clone())
}

/// The pod's directory, `$TMPDIR/drover-pods/<agent run>/<uid>`, if it exists.
fn volumes_dir(pod: &Pod) -> Option<std::path::PathBuf> {
    pod_dir_under(&std::env::temp_dir().join("drover-pods"), &pod.metadata.uid)
}

fn pod_dir_under(base: &std::path::Path, uid: &str) -> Option<std::path::PathBuf> {
    let agents = std::fs::read_dir(base).ok()?;
    agents.flatten().map(|agent| agent.path().join(uid)).find(|dir| dir.exists())
}

/// Under `restartPolicy: Never` a failed init container fails the pod before its container
/// starts: phase Failed, the init container's exit in `initContainerStatuses`, the container
/// waiting `PodInitializing`, kubectl's `Init:Error`; the Job counts the failure.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_init_container_fails_the_pod_under_never() {
    let mut c = Cluster::start("init-never", &[]);
    c.add_worker("w1", 2, &[]).await;
    let yaml =
        job("initfail", "  backoffLimit: 0\n", "Never", "echo preparing; exit 3", "echo main ran", "", "");
    c.create("initfail", &yaml);
    let done = c.wait_job("initfail", SECS(30), |j| j.is_finished()).await;
    assert_eq!(reason(&done, "Failed").as_deref(), Some("BackoffLimitExceeded"), "{done:#?}");
    assert_eq!((done.status.succeeded, done.status.failed), (0, 1));
    let pods = c.pods_of("initfail").await;
    let pod = pod_of(&pods);
    assert_eq!(pod.status.phase, "Failed");
    let init = &pod.status.init_container_statuses;
    assert_eq!(init.len(), 1, "{pod:#?}");
    let t = init[0].state.terminated.as_ref().expect("the init container's exit");
    assert_eq!((t.exit_code, t.reason.as_str()), (3, "Error"));
    let main = &pod.status.container_statuses[0];
    assert_eq!(main.state.waiting.as_ref().map(|w| w.reason.as_str()), Some("PodInitializing"), "{pod:#?}");
    let table = c.ok(&["get", "pods", &pod.metadata.name]);
    assert!(table.lines().nth(1).unwrap().split_whitespace().any(|w| w == "Init:Error"), "{table}");
    // Each container has its log: the init container's is asked for by name (kubectl's -c).
    assert_eq!(c.ok(&["logs", &pod.metadata.name]), "", "the container never ran");
    assert_eq!(c.ok(&["logs", &pod.metadata.name, "-c", "input"]), "preparing\n");
    let out = c.drover(&["logs", &pod.metadata.name, "-c", "nope"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success()
            && err.contains(&format!("container nope is not valid for pod {}", pod.metadata.name)),
        "{err}"
    );
}

/// podFailurePolicy's `onExitCodes` sees an init container's exit code, by its name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_exit_codes_matches_an_init_container() {
    let mut c = Cluster::start("init-policy", &[]);
    c.add_worker("w1", 2, &[]).await;
    let policy = "  backoffLimit: 6\n  podFailurePolicy:\n    rules:\n    - action: FailJob\n      onExitCodes:\n        containerName: input\n        operator: In\n        values: [42]\n";
    c.create("initpolicy", &job("initpolicy", policy, "Never", "exit 42", "true", "", ""));
    let done = c.wait_job("initpolicy", SECS(30), |j| j.is_finished()).await;
    let failed = done.condition_true("Failed").expect("failed");
    assert_eq!(failed.reason, "PodFailurePolicy", "{done:#?}");
    assert!(
        failed.message.contains("Container input for pod") && failed.message.contains("exit code 42"),
        "{}",
        failed.message
    );
    assert_eq!(done.status.failed, 1, "failed at the first pod, without retries");
}

/// Under `OnFailure` a failed init container runs again after the back-off, in the same pod,
/// its restarts counted; what it left in the pod's emptyDir is still there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_init_container_restarts_in_place_under_on_failure() {
    let mut c = Cluster::start("init-onfailure", &[]);
    c.add_worker("w1", 2, &[]).await;
    let mounts = "        volumeMounts:\n        - name: scratch\n          mountPath: /scratch\n";
    let volumes = "      volumes:\n      - name: scratch\n        emptyDir: {}\n";
    let init = "if [ -e /scratch/tried ]; then echo second try; else touch /scratch/tried; exit 1; fi";
    c.create("again", &job("again", "", "OnFailure", init, "ls /scratch", mounts, volumes));
    let done = c.wait_complete("again", SECS(30)).await;
    assert!(done.condition_true("Complete").is_some(), "{done:#?}");
    let pods = c.pods_of("again").await;
    let pod = pod_of(&pods);
    let init = &pod.status.init_container_statuses[0];
    assert_eq!(init.restart_count, 1, "{pod:#?}");
    let last = init.last_state.as_ref().and_then(|s| s.terminated.as_ref()).expect("the failed run");
    assert_eq!(last.exit_code, 1);
    assert_eq!(init.state.terminated.as_ref().map(|t| t.exit_code), Some(0));
    assert_eq!(c.ok(&["logs", &pod.metadata.name]), "tried\n");
    assert_eq!(c.ok(&["logs", &pod.metadata.name, "-c", "input"]), "second try\n");
}

/// What a volume mount gives a container: the init container's files (an emptyDir is the
/// pod's), a `subPath`, a read-only mount, `medium: Memory` on a tmpfs, a new top-level path
/// beside the worker's own directories; nothing of it on the worker, and the pod's directories
/// removed when it ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn volume_mounts_share_files_in_a_root_of_the_pods_own() {
    let mut c = Cluster::start("volumes", &[]);
    c.add_worker("w1", 2, &[]).await;
    let mounts = "        volumeMounts:\n        - name: data\n          mountPath: /drover-test-data\n        - name: data\n          mountPath: /drover-test-ro\n          readOnly: true\n        - name: data\n          mountPath: /drover-test-sub\n          subPath: part\n        - name: mem\n          mountPath: /drover-test-mem\n";
    let volumes = "      volumes:\n      - name: data\n        emptyDir: {}\n      - name: mem\n        emptyDir:\n          medium: Memory\n";
    let init = "echo from-init > /drover-test-data/file; echo in-part > /drover-test-sub/p";
    let main = r#"cat /drover-test-data/file /drover-test-data/part/p
if touch /drover-test-ro/x 2>/dev/null; then echo ro:writable; else echo ro:read-only; fi
echo mem:$(stat -f -c %T /drover-test-mem)
test -d /usr/bin && echo host:usr
test -e "$HOME" && echo host:home"#;
    c.create("vols", &job("vols", "", "Never", init, main, mounts, volumes));
    let done = c.wait_complete("vols", SECS(30)).await;
    let pods = c.pods_of("vols").await;
    let pod = pod_of(&pods);
    assert!(done.condition_true("Complete").is_some(), "{done:#?}\n{pod:#?}");
    let log = c.ok(&["logs", &pod.metadata.name]);
    assert_eq!(log, "from-init\nin-part\nro:read-only\nmem:tmpfs\nhost:usr\nhost:home\n");
    let describe = c.ok(&["describe", "pod", &pod.metadata.name]);
    for want in [
        "Init Container input:\n  State:      Terminated\n    Reason:     Completed\n",
        "Container main:\n",
        "  Mounts:\n    /drover-test-data from data (rw)\n    /drover-test-ro from data (ro)\n    /drover-test-sub from data (rw,path=\"part\")\n    /drover-test-mem from mem (rw)\n",
        "Volumes:\n  data:\n    Type:    EmptyDir",
        "  mem:\n    Type:    EmptyDir (a temporary directory that shares a pod's lifetime)\n    Medium:  Memory\n",
    ] {
        assert!(describe.contains(want), "{want:?} not in:\n{describe}");
    }
    for path in ["/drover-test-data", "/drover-test-ro", "/drover-test-sub", "/drover-test-mem"] {
        assert!(!std::path::Path::new(path).exists(), "{path} reached the worker");
    }
    assert_eq!(volumes_dir(pod), None, "left behind");
    let shm = pod_dir_under(std::path::Path::new("/dev/shm/drover-pods"), &pod.metadata.uid);
    assert_eq!(shm, None, "left behind");
}

/// A mount point inside one of the worker's directories that does not exist there is not made
/// (that would change the worker's disk): the pod fails to start, with a message naming it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mount_point_missing_in_a_worker_directory_fails_the_pod_with_its_name() {
    let mut c = Cluster::start("volumes-missing", &[]);
    c.add_worker("w1", 2, &[]).await;
    let mounts =
        "        volumeMounts:\n        - name: data\n          mountPath: /usr/drover-no-such-dir\n";
    let volumes = "      volumes:\n      - name: data\n        emptyDir: {}\n";
    c.create("missing", &job("missing", "  backoffLimit: 0\n", "Never", "true", "true", mounts, volumes));
    let done = c.wait_job("missing", SECS(30), |j| j.is_finished()).await;
    assert_eq!(reason(&done, "Failed").as_deref(), Some("BackoffLimitExceeded"), "{done:#?}");
    let pods = c.pods_of("missing").await;
    let pod = pod_of(&pods);
    let t = pod.status.init_container_statuses[0].state.terminated.as_ref().expect("not started");
    assert_eq!(t.reason, "StartError", "{pod:#?}");
    let message = t.message.as_deref().unwrap_or_default();
    assert!(
        message.contains("mountPath /usr/drover-no-such-dir: /usr is one of the worker's directories"),
        "{message}"
    );
    assert!(!std::path::Path::new("/usr/drover-no-such-dir").exists());
}

/// Deleting the Job while an init container runs stops it at once (no waiting for its sleep),
/// and the pod's volumes go with the pod.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delete_stops_a_running_init_container() {
    let mut c = Cluster::start("init-delete", &[]);
    c.add_worker("w1", 2, &[]).await;
    let mounts = "        volumeMounts:\n        - name: data\n          mountPath: /drover-test-data\n";
    let volumes = "      volumes:\n      - name: data\n        emptyDir: {}\n";
    let init = "touch /drover-test-data/started; exec sleep 317";
    c.create("slow", &job("slow", "", "Never", init, "true", mounts, volumes));
    let client = c.client();
    let selector = "batch.kubernetes.io/job-name=slow";
    let mut pods = Box::pin(client.watch::<Pod>("pods", selector, None).await.unwrap());
    // Running: the pod reports Pending with its init container running.
    let pod = within(SECS(30), async {
        loop {
            let ev = pods.next().await.expect("the watch").unwrap();
            let init = ev.object.status.init_container_statuses.first();
            if init.is_some_and(|s| s.state.running.is_some()) {
                return ev.object;
            }
        }
    })
    .await;
    assert_eq!(pod.status.phase, "Pending", "{pod:#?}");
    let table = c.ok(&["get", "pods", &pod.metadata.name]);
    assert!(table.lines().nth(1).unwrap().split_whitespace().any(|w| w == "Init:0/1"), "{table}");
    let dir = volumes_dir(&pod).expect("the pod's directory");
    assert!(dir.join("volumes/data/started").exists(), "the volume is the pod's directory");
    c.ok(&["delete", "job", "slow"]);
    // Gone well before the init container's sleep would end.
    let last = within(SECS(20), async {
        loop {
            let ev = pods.next().await.expect("the watch").unwrap();
            if ev.type_ == "DELETED" {
                return ev.object;
            }
        }
    })
    .await;
    assert_eq!(last.metadata.uid, pod.metadata.uid);
    // The init container's process is stopped, and the worker then removes the pod's
    // directories (the pod may leave the store first: the worker's last report is refused).
    within(SECS(20), async {
        while !processes_with("sleep 317").is_empty() || dir.exists() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
}

/// A worker that may not make mount namespaces (not root, or root without CAP_SYS_ADMIN, as in
/// a default container) fails a pod with volume mounts with a message saying what it needs;
/// pods without mounts run as before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_without_cap_sys_admin_says_what_mounts_need() {
    let mut c = Cluster::start("volumes-nocap", &[]);
    let is_root = std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(2) == Some("0"));
    // Root here: drop CAP_SYS_ADMIN from the bounding set, so the worker runs without it.
    let mut cmd = if is_root {
        let mut cmd = std::process::Command::new("setpriv");
        cmd.args(["--bounding-set", "-sys_admin", "--inh-caps", "-sys_admin", "--", BIN]);
        cmd
    } else {
        std::process::Command::new(BIN)
    };
    cmd.args(["worker", "--coordinator", &c.url, "--name", "nocap", "--slots", "2"])
        .args(["--heartbeat-interval", "200ms"]);
    c.adopt_worker(cmd);
    c.wait_for::<drover_api::Worker>("workers", "nocap", SECS(10), |w| w.status.phase == "Ready").await;

    let mounts = "        volumeMounts:\n        - name: data\n          mountPath: /drover-test-data\n";
    let volumes = "      volumes:\n      - name: data\n        emptyDir: {}\n";
    c.create("needs", &job("needs", "  backoffLimit: 0\n", "Never", "true", "true", mounts, volumes));
    let done = c.wait_job("needs", SECS(30), |j| j.is_finished()).await;
    assert_eq!(reason(&done, "Failed").as_deref(), Some("BackoffLimitExceeded"), "{done:#?}");
    let pods = c.pods_of("needs").await;
    let t = pod_of(&pods).status.init_container_statuses[0].state.terminated.clone().expect("not started");
    let message = t.message.unwrap_or_default();
    assert!(
        message.contains("volumeMounts need a mount namespace of its own, and the kernel refused one")
            && message.contains("run the worker as root, or with CAP_SYS_ADMIN"),
        "{message}"
    );
    // Without mounts, the same pod shape runs.
    c.create("plain", &job("plain", "", "Never", "echo init", "echo main", "", ""));
    let done = c.wait_complete("plain", SECS(30)).await;
    assert!(done.condition_true("Complete").is_some(), "{done:#?}");
    let pods = c.pods_of("plain").await;
    let name = &pod_of(&pods).metadata.name;
    assert_eq!(c.ok(&["logs", name]), "main\n");
    assert_eq!(c.ok(&["logs", name, "-c", "input"]), "init\n");
    assert_eq!(c.ok(&["logs", name, "-c", "main"]), "main\n", "the container by its name");
}

/// What an agent killed mid-pod left of its pods' volumes is removed when an agent starts on
/// the same host; a live agent's directories are not touched (each agent run holds a lock).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_starting_agent_removes_what_stopped_agents_left() {
    let mut c = Cluster::start("volumes-sweep", &[]);
    let base = std::env::temp_dir().join("drover-pods");
    std::fs::create_dir_all(&base).unwrap();
    let id = std::process::id();
    let (dead, live) = (format!("test-dead-{id}"), format!("test-live-{id}"));
    for agent in [&dead, &live] {
        std::fs::create_dir_all(base.join(agent).join("stale-uid/volumes/data")).unwrap();
        std::fs::write(base.join(agent).join("stale-uid/volumes/data/file"), "x").unwrap();
    }
    std::fs::write(base.join(format!("{dead}.lock")), "").unwrap();
    let held = std::fs::File::create(base.join(format!("{live}.lock"))).unwrap();
    held.try_lock().unwrap();
    c.add_worker("w-sweep", 1, &[]).await;
    assert!(!base.join(&dead).exists(), "the dead agent's directories are left");
    assert!(!base.join(format!("{dead}.lock")).exists());
    assert!(base.join(&live).join("stale-uid/volumes/data/file").exists(), "a live agent's were removed");
    drop(held);
    std::fs::remove_dir_all(base.join(&live)).unwrap();
    std::fs::remove_file(base.join(format!("{live}.lock"))).unwrap();
}

/// The pod's `activeDeadlineSeconds` counts from its start, init containers included: a pod
/// whose init container outlives it fails `DeadlineExceeded`, its container never started.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pods_deadline_stops_a_running_init_container() {
    let mut c = Cluster::start("init-deadline", &[]);
    c.add_worker("w1", 2, &[]).await;
    let yaml = job("late", "  backoffLimit: 0\n", "Never", "exec sleep 318", "echo main ran", "", "")
        .replace(
            "    spec:\n      restartPolicy: Never\n",
            "    spec:\n      restartPolicy: Never\n      activeDeadlineSeconds: 1\n",
        );
    assert!(yaml.contains("activeDeadlineSeconds: 1"), "{yaml}");
    c.create("late", &yaml);
    let done = c.wait_job("late", SECS(30), |j| j.is_finished()).await;
    assert_eq!(reason(&done, "Failed").as_deref(), Some("BackoffLimitExceeded"), "{done:#?}");
    let pods = c.pods_of("late").await;
    let pod = pod_of(&pods);
    assert_eq!(
        (pod.status.phase.as_str(), pod.status.reason.as_deref()),
        ("Failed", Some("DeadlineExceeded")),
        "{pod:#?}"
    );
    let init = pod.status.init_container_statuses[0].state.terminated.as_ref().expect("stopped");
    assert_eq!(init.reason, "DeadlineExceeded", "{pod:#?}");
    assert_eq!(c.ok(&["logs", &pod.metadata.name]), "", "the container never ran");
    assert!(processes_with("sleep 318").is_empty(), "the init container's process is gone");
}

/// A drain stops a running init container at once (its work would not complete the pod): the
/// pod ends `WorkerDrained`, a disruption the Job does not count, and its replacement runs the
/// init container again on another worker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drain_stops_an_init_container_and_the_pod_is_replaced_uncounted() {
    let mut c = Cluster::start("init-drain", &[]);
    c.add_worker("w1", 1, &[]).await;
    let marker = c.dir.0.join("first-try");
    let init =
        format!("if [ -e {m} ]; then echo again; else touch {m}; exec sleep 319; fi", m = marker.display());
    c.create("moved", &job("moved", "  backoffLimit: 0\n", "Never", &init, "echo main", "", ""));
    let client = c.client();
    let mut pods =
        Box::pin(client.watch::<Pod>("pods", "batch.kubernetes.io/job-name=moved", None).await.unwrap());
    within(SECS(30), async {
        loop {
            let ev = pods.next().await.expect("the watch").unwrap();
            let init = ev.object.status.init_container_statuses.first();
            if init.is_some_and(|s| s.state.running.is_some()) && marker.exists() {
                return;
            }
        }
    })
    .await;
    c.add_worker("w2", 1, &[]).await;
    let out = c.ok(&["drain", "worker", "w1", "--timeout", "30s"]);
    assert!(out.contains("worker/w1 drained"), "{out}");
    let done = c.wait_complete("moved", SECS(30)).await;
    assert!(done.condition_true("Complete").is_some(), "{done:#?}");
    assert_eq!((done.status.succeeded, done.status.failed), (1, 0), "the drained pod is not counted");
    let pods = c.pods_of("moved").await;
    let drained = pods.iter().find(|p| p.node_name() == Some("w1")).expect("the pod on w1");
    assert_eq!(drained.status.reason.as_deref(), Some("WorkerDrained"), "{drained:#?}");
    assert!(drained.condition_true("DisruptionTarget"), "{drained:#?}");
    let replacement = pods.iter().find(|p| p.node_name() == Some("w2")).expect("the replacement on w2");
    assert_eq!(c.ok(&["logs", &replacement.metadata.name, "-c", "input"]), "again\n");
    assert!(processes_with("sleep 319").is_empty());
}
