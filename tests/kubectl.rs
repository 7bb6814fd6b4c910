//! The real kubectl against a real coordinator and worker (issue 12): discovery, OpenAPI
//! validation, Table columns, watches, wait, logs, describe with events, patches (merge,
//! strategic, server-side apply), `create job --from=cronjob`, delete with its pods, and tokens.
//!
//! kubectl is found on `PATH`. Without it these tests say so on stderr and pass, unless
//! `DROVER_REQUIRE_KUBECTL=1` (set by `.ci/run`), where they fail.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// kubectl, pointed at a cluster through the kubeconfig `drover kubeconfig` wrote.
struct Kubectl {
    kubeconfig: PathBuf,
    dir: PathBuf,
}

/// Whether `program args` runs successfully (a tool is installed). When it does not, panics if
/// the environment variable `required` is set (CI), else says on stderr that `what` skipped.
fn have(program: &str, args: &[&str], required: &str, what: &str) -> bool {
    let found = Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        assert!(
            std::env::var(required).is_err(),
            "{program} {args:?} failed, and {required} is set: {what} must run"
        );
        eprintln!("SKIPPED: {program} {args:?} failed; {what} did not run");
    }
    found
}

/// Whether kubectl is installed (required where `DROVER_REQUIRE_KUBECTL` is set).
fn have_kubectl() -> bool {
    have("kubectl", &["version", "--client"], "DROVER_REQUIRE_KUBECTL", "the kubectl e2e tests")
}

impl Kubectl {
    /// Writes the cluster's kubeconfig with `drover kubeconfig`.
    fn for_cluster(c: &Cluster) -> Kubectl {
        let out = c.ok(&["kubeconfig"]);
        let kubeconfig = c.dir.0.join("kubeconfig");
        std::fs::write(&kubeconfig, out).unwrap();
        Kubectl { kubeconfig, dir: c.dir.0.clone() }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("kubectl");
        cmd.args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            // kubectl's discovery cache goes in the test's directory, not the user's home.
            .env("HOME", &self.dir)
            .current_dir(&self.dir)
            .stdin(Stdio::null());
        cmd
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    /// Runs kubectl, asserts it succeeded, returns stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "kubectl {args:?} failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Runs kubectl, asserts it failed, returns stderr.
    fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            !out.status.success(),
            "kubectl {args:?} succeeded: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8(out.stderr).unwrap()
    }

    /// Starts kubectl and hands each line of its stdout to the receiver.
    fn lines(&self, args: &[&str]) -> (KillOnDrop, std::sync::mpsc::Receiver<String>) {
        let mut child = self.command(args).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        (KillOnDrop(child), rx)
    }
}

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Reads lines until one satisfies `pred`, or panics after `limit` with what was read.
fn until_line(
    rx: &std::sync::mpsc::Receiver<String>,
    limit: Duration,
    pred: impl Fn(&str) -> bool,
) -> Vec<String> {
    let deadline = Instant::now() + limit;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                let done = pred(&line);
                seen.push(line);
                if done {
                    return seen;
                }
            }
            Err(_) => panic!("no matching line within {limit:?}; read:\n{}", seen.join("\n")),
        }
    }
}

/// The whitespace-separated header of a table kubectl printed.
fn header(table: &str) -> Vec<&str> {
    table.lines().next().unwrap_or_default().split_whitespace().collect()
}

fn example(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples").join(name).to_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_runs_a_job_from_apply_to_delete() {
    if !have_kubectl() {
        return;
    }
    let mut c = Cluster::start("kubectl-life", &[]);
    c.add_worker("w1", 4, &[]).await;
    let k = Kubectl::for_cluster(&c);

    // Discovery finds Drover's kinds, Workers among them.
    let resources = k.ok(&["api-resources"]);
    for line in ["jobs", "cronjobs", "pods", "events", "workers"] {
        assert!(resources.lines().any(|l| l.starts_with(line)), "{line} missing:\n{resources}");
    }

    // `apply` with kubectl's default validation (strict, with the server's OpenAPI).
    let (_watch, rx) = k.lines(&["get", "jobs", "-w"]);
    let out = k.ok(&["apply", "-f", &example("pi-parallel-job.yaml")]);
    assert_eq!(out.trim(), "job.batch/pi-parallel created");
    // `get jobs -w` prints kubectl's columns, then the count climbing to 4/4.
    let seen =
        until_line(&rx, Duration::from_secs(90), |l| l.starts_with("pi-parallel") && l.contains("4/4"));
    assert_eq!(header(&seen[0]), ["NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE"], "{seen:?}");
    k.ok(&["wait", "--for=condition=Complete", "job/pi-parallel", "--timeout=60s"]);

    let jobs = k.ok(&["get", "jobs"]);
    assert_eq!(header(&jobs), ["NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE"]);
    let row: Vec<&str> = jobs.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(&row[..3], ["pi-parallel", "Complete", "4/4"], "{jobs}");

    let log = k.ok(&["logs", "job/pi-parallel"]);
    assert!(log.starts_with("3.14159"), "{log}");

    let pods = k.ok(&["get", "pods", "-l", "job-name=pi-parallel", "-o", "wide"]);
    assert_eq!(&header(&pods)[..6], ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP"], "{pods}");
    let rows: Vec<&str> = pods.lines().skip(1).collect();
    assert_eq!(rows.len(), 4, "{pods}");
    for row in &rows {
        let cells: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(cells[2], "Completed", "{pods}");
        assert!(cells.contains(&"w1"), "the NODE column names the worker: {pods}");
    }
    let pod = rows[0].split_whitespace().next().unwrap();
    let followed = k.ok(&["logs", "-f", pod]);
    assert!(followed.starts_with("3.14159"), "{followed}");

    let described = k.ok(&["describe", "job", "pi-parallel"]);
    assert!(
        described.contains("Pods Statuses:    0 Active (0 Ready) / 4 Succeeded / 0 Failed"),
        "{described}"
    );
    let events = described.split("Events:").nth(1).unwrap_or_default();
    assert!(events.contains("SuccessfulCreate") && events.contains("Completed"), "{described}");

    let all_events = k.ok(&["get", "events"]);
    assert_eq!(header(&all_events), ["LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]);
    assert!(all_events.contains("job/pi-parallel"), "{all_events}");
    let workers = k.ok(&["get", "workers"]);
    assert!(workers.lines().any(|l| l.starts_with("w1 ") && l.contains("Ready")), "{workers}");

    // Deleting the Job deletes its pods too (background propagation, kubectl's default).
    let out = k.ok(&["delete", "job", "pi-parallel"]);
    assert_eq!(out.trim(), "job.batch \"pi-parallel\" deleted");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let out = k.run(&["get", "pods", "-l", "job-name=pi-parallel"]);
        if String::from_utf8_lossy(&out.stderr).contains("No resources found") {
            break;
        }
        assert!(Instant::now() < deadline, "pods left: {}", String::from_utf8_lossy(&out.stdout));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_patches_and_applies_changes_and_keeps_immutable_fields() {
    if !have_kubectl() {
        return;
    }
    let mut c = Cluster::start("kubectl-patch", &[]);
    c.add_worker("w1", 2, &[]).await;
    let k = Kubectl::for_cluster(&c);
    let manifest = |parallelism: u32| {
        format!(
            "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: sleeper\nspec:\n  completions: 6\n  parallelism: {parallelism}\n  template:\n    spec:\n      containers:\n      - name: s\n        image: busybox\n        command: [\"sleep\", \"30\"]\n      restartPolicy: Never\n"
        )
    };
    let file = c.dir.0.join("sleeper.yaml");
    std::fs::write(&file, manifest(1)).unwrap();
    let file = file.to_str().unwrap();
    assert_eq!(k.ok(&["apply", "-f", file]).trim(), "job.batch/sleeper created");

    // A merge patch suspends it, and back.
    let out = k.ok(&["patch", "job", "sleeper", "--type=merge", "-p", r#"{"spec":{"suspend":true}}"#]);
    assert_eq!(out.trim(), "job.batch/sleeper patched");
    assert_eq!(k.ok(&["get", "job", "sleeper", "-o", "jsonpath={.spec.suspend}"]), "true");
    k.ok(&["wait", "--for=condition=Suspended", "job/sleeper", "--timeout=30s"]);
    // kubectl's default patch type is a strategic merge patch.
    k.ok(&["patch", "job", "sleeper", "-p", r#"{"spec":{"suspend":false}}"#]);
    assert_eq!(k.ok(&["get", "job", "sleeper", "-o", "jsonpath={.spec.suspend}"]), "false");

    // Client-side apply of a changed parallelism.
    std::fs::write(file, manifest(2)).unwrap();
    assert_eq!(k.ok(&["apply", "-f", file]).trim(), "job.batch/sleeper configured");
    assert_eq!(k.ok(&["get", "job", "sleeper", "-o", "jsonpath={.spec.parallelism}"]), "2");

    // Server-side apply of another.
    std::fs::write(file, manifest(3)).unwrap();
    assert_eq!(k.ok(&["apply", "--server-side", "-f", file]).trim(), "job.batch/sleeper serverside-applied");
    assert_eq!(k.ok(&["get", "job", "sleeper", "-o", "jsonpath={.spec.parallelism}"]), "3");

    // Immutable fields stay so, with Kubernetes' message.
    let err = k.fails(&["patch", "job", "sleeper", "--type=merge", "-p", r#"{"spec":{"completions":9}}"#]);
    assert!(err.contains("spec.completions: Invalid value") && err.contains("field is immutable"), "{err}");
    assert_eq!(k.ok(&["get", "job", "sleeper", "-o", "jsonpath={.spec.completions}"]), "6");

    // A typo is refused by validation before anything is written.
    std::fs::write(file, manifest(3).replace("parallelism", "parallelismm")).unwrap();
    let err = k.fails(&["apply", "-f", file]);
    assert!(err.contains("parallelismm"), "{err}");
    k.ok(&["delete", "job", "sleeper"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_creates_a_job_from_a_cronjob() {
    if !have_kubectl() {
        return;
    }
    let mut c = Cluster::start("kubectl-cron", &[]);
    c.add_worker("w1", 2, &[]).await;
    let k = Kubectl::for_cluster(&c);
    // The docs' hello CronJob, at batch/v1, on a schedule that will not fire during the test.
    let hello = std::fs::read_to_string(example("cronjob-hello.yaml"))
        .unwrap()
        .replace("batch/v1beta1", "batch/v1")
        .replace("*/1 * * * *", "0 0 1 1 *");
    let file = c.dir.0.join("hello.yaml");
    std::fs::write(&file, hello).unwrap();
    assert_eq!(k.ok(&["create", "-f", file.to_str().unwrap()]).trim(), "cronjob.batch/hello created");

    let cronjobs = k.ok(&["get", "cronjobs"]);
    assert_eq!(
        header(&cronjobs),
        ["NAME", "SCHEDULE", "TIMEZONE", "SUSPEND", "ACTIVE", "LAST", "SCHEDULE", "AGE"]
    );
    let row: Vec<&str> = cronjobs.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(row[..2], ["hello", "0"], "{cronjobs}");

    assert_eq!(k.ok(&["create", "job", "manual", "--from=cronjob/hello"]).trim(), "job.batch/manual created");
    k.ok(&["wait", "--for=condition=Complete", "job/manual", "--timeout=60s"]);
    let log = k.ok(&["logs", "job/manual"]);
    assert!(log.contains("Hello from the Kubernetes cluster"), "{log}");
    let owner = k.ok(&["get", "job", "manual", "-o", "jsonpath={.metadata.ownerReferences[0].name}"]);
    assert_eq!(owner, "hello");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_runs_the_expansions_pattern() {
    if !have_kubectl() {
        return;
    }
    let mut c = Cluster::start("kubectl-expand", &[]);
    c.add_worker("w1", 3, &[]).await;
    let k = Kubectl::for_cluster(&c);
    // As the article does it: expand the template into ./jobs with sed, create the directory.
    let jobs = c.dir.0.join("jobs");
    std::fs::create_dir(&jobs).unwrap();
    let template = example("job-tmpl.yaml");
    for item in ["apple", "banana", "cherry"] {
        let out = Command::new("sh")
            .arg("-c")
            .arg(format!("cat {template} | sed \"s/\\$ITEM/{item}/\" > ./jobs/job-{item}.yaml"))
            .current_dir(&c.dir.0)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
    }
    let out = k.ok(&["create", "-f", "./jobs"]);
    let mut created: Vec<&str> = out.lines().collect();
    created.sort();
    assert_eq!(
        created,
        [
            "job.batch/process-item-apple created",
            "job.batch/process-item-banana created",
            "job.batch/process-item-cherry created"
        ]
    );
    let pods = k.ok(&["get", "pods", "-l", "jobgroup=jobexample"]);
    let names: Vec<&str> = pods.lines().skip(1).filter_map(|l| l.split_whitespace().next()).collect();
    assert_eq!(names.len(), 3, "{pods}");
    for item in ["apple", "banana", "cherry"] {
        assert!(names.iter().any(|n| n.starts_with(&format!("process-item-{item}-"))), "{pods}");
    }
}

/// The docs' Indexed Job manifest as published (an init container and an emptyDir), through
/// kubectl: `apply` (kubectl validates it against Drover's OpenAPI), `wait`, `logs` (the
/// container's), `logs -c input` (the init container's, empty: it writes a file), an unknown
/// container refused as Kubernetes refuses it, and `describe pod` with Init Containers, Mounts
/// and Volumes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_runs_the_docs_indexed_job_with_its_init_container() {
    if !have_kubectl() {
        return;
    }
    let mut c = Cluster::start("kubectl-indexed", &[]);
    c.add_worker("w1", 3, &[]).await;
    let k = Kubectl::for_cluster(&c);
    assert_eq!(k.ok(&["apply", "-f", &example("indexed-job.yaml")]).trim(), "job.batch/indexed-job created");
    k.ok(&["wait", "--for=condition=Complete", "job/indexed-job", "--timeout=60s"]);
    assert_eq!(k.ok(&["get", "job", "indexed-job", "-o", "jsonpath={.status.completedIndexes}"]), "0-4");
    let pod = k.ok(&[
        "get",
        "pods",
        "-l",
        "batch.kubernetes.io/job-completion-index=1",
        "-o",
        "jsonpath={.items[0].metadata.name}",
    ]);
    assert_eq!(k.ok(&["logs", &pod]), "rab\n");
    assert_eq!(k.ok(&["logs", &pod, "-c", "worker"]), "rab\n");
    assert_eq!(k.ok(&["logs", &pod, "-c", "input"]), "", "the init container writes a file, not its output");
    let err = k.fails(&["logs", &pod, "-c", "nope"]);
    assert!(err.contains(&format!("container nope is not valid for pod {pod}")), "{err}");
    let describe = k.ok(&["describe", "pod", &pod]);
    for want in [
        "Init Containers:\n  input:",
        "Containers:\n  worker:",
        "/input from input (rw)",
        "Volumes:\n  input:",
        "EmptyDir",
    ] {
        assert!(describe.contains(want), "{want:?} not in:\n{describe}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_needs_the_coordinators_token() {
    if !have_kubectl() {
        return;
    }
    // kubectl sends a bearer token over HTTPS only (kubernetes/kubectl#744): the coordinator
    // serves HTTPS with the self-signed certificate it makes.
    let c = Cluster::start_with_token("kubectl-token", "kubectl-test-token", &["--tls-self-signed"]);
    let ca = c.self_signed_cert();
    let c = c.https(ca.clone());
    let server = c.url.clone();
    let ca_arg = ca.to_str().unwrap().to_string();
    let dir = c.dir.0.to_str().unwrap().to_string();
    let kubectl = |args: &[&str]| {
        Command::new("kubectl")
            .args(args)
            .env("KUBECONFIG", format!("{dir}/none"))
            .env("HOME", &dir)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let bare = |extra: &[&str]| {
        let mut args = vec!["--server", &server, "--certificate-authority", &ca_arg];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["get", "jobs"]);
        kubectl(&args)
    };
    let stderr = |out: &Output| String::from_utf8_lossy(&out.stderr).into_owned();

    // No credentials: kubectl would ask for a user name, and with no terminal fails.
    let out = bare(&[]);
    assert!(!out.status.success(), "{}", stderr(&out));
    // Credentials, but no token: the coordinator answers 401.
    let out = bare(&["--username", "u", "--password", "p"]);
    assert!(!out.status.success());
    // (kubectl's discovery shows the 401 as "provide credentials", a request as "Unauthorized".)
    let unauthorized = |err: &str| {
        err.contains("You must be logged in to the server")
            && (err.contains("Unauthorized") || err.contains("provide credentials"))
    };
    let err = stderr(&out);
    assert!(unauthorized(&err), "{err}");
    let out = bare(&["--token", "wrong"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(unauthorized(&err), "{err}");
    let out = bare(&["--token", "kubectl-test-token"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("No resources found in default namespace."), "{}", stderr(&out));

    // Without the CA, kubectl refuses the certificate; over plain HTTP, the coordinator answers
    // only 400 (Go's "Client sent an HTTP request to an HTTPS server.", which kubectl does not
    // show).
    let out = kubectl(&["--server", &server, "--token", "kubectl-test-token", "get", "jobs"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("certificate signed by unknown authority"), "{}", stderr(&out));
    let plain = server.replace("https://", "http://");
    let out = kubectl(&["--server", &plain, "--token", "kubectl-test-token", "get", "jobs"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("Error from server (BadRequest)"), "{}", stderr(&out));

    // The kubeconfig `drover kubeconfig --certificate-authority` writes carries the CA and the
    // token.
    let mut kubeconfig_cmd = Command::new(BIN);
    kubeconfig_cmd
        .args(["--server", &server, "--certificate-authority", &ca_arg, "--token", "kubectl-test-token"])
        .arg("kubeconfig");
    let out = kubeconfig_cmd.output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("certificate-authority-data: "), "{text}");
    let kubeconfig = c.dir.0.join("kubeconfig");
    std::fs::write(&kubeconfig, text).unwrap();
    let k = Kubectl { kubeconfig, dir: c.dir.0.clone() };
    assert!(k.ok(&["get", "jobs", "-o", "name"]).is_empty());
    // The harness's CLI (DROVER_CERTIFICATE_AUTHORITY) creates a Job kubectl then lists.
    c.create("j", &job_yaml("over-https", "", "Never", "true"));
    assert_eq!(k.ok(&["get", "jobs", "-o", "name"]).trim(), "job.batch/over-https");
    // And kubectl writes through it.
    k.ok(&["create", "job", "from-kubectl", "--image", "busybox", "--", "true"]);
    c.client().get_job("from-kubectl").await.unwrap();
}

/// Whether Python's `kubernetes` client is installed (required where
/// `DROVER_REQUIRE_PYTHON_KUBERNETES` is set: `.ci/run` installs it).
fn have_python_client() -> bool {
    have(
        "python3",
        &["-c", "import kubernetes"],
        "DROVER_REQUIRE_PYTHON_KUBERNETES",
        "the Python client test (pip install kubernetes)",
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_kubernetes_client_creates_lists_watches_and_deletes_a_job() {
    if !have_python_client() {
        return;
    }
    let mut c = Cluster::start("python-client", &[]);
    c.add_worker("w1", 2, &[]).await;
    let kubeconfig = c.dir.0.join("kubeconfig");
    std::fs::write(&kubeconfig, c.ok(&["kubeconfig"])).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/python/k8s_client.py");
    let out = Command::new("python3").arg(script).arg(&kubeconfig).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the Python client failed:\n{stdout}\n{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        c.logs()
    );
    let steps: Vec<&str> = stdout.lines().filter_map(|l| l.split_whitespace().next()).collect();
    assert_eq!(steps, ["created", "listed", "watched", "pods", "deleted"], "{stdout}");
    assert!(c.client().list_jobs("").await.unwrap().is_empty(), "the Job is gone");
}
