//! Issue 11 "Trust", the API's part, tried as a new user would with the real binary on
//! 127.0.0.1: a coordinator without a token refuses requests for a foreign `Host` (DNS
//! rebinding), closes half-sent requests while the CLI keeps working, and keeps its data
//! directory private.

mod common;

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt as _;
use std::time::{Duration, Instant};

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A GET of the Job list with the given `Host` header: status code and the whole answer.
fn get_with_host(port: u16, host: &str) -> (u16, String) {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET /apis/batch/v1/jobs HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").unwrap();
    let mut reply = String::new();
    s.read_to_string(&mut reply).unwrap();
    let code = reply.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (code, reply)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_token_a_foreign_host_is_refused_and_the_cli_and_workers_still_work() {
    let mut c = Cluster::start("host", &["--public-host", "drover.example"]);
    let port = c.port;
    let (code, answer) = get_with_host(port, &format!("attacker.example:{port}"));
    assert_eq!(code, 421, "{answer}");
    assert!(answer.contains(r#""kind":"Status""#), "{answer}");
    assert!(
        answer.contains(&format!(r#"Host \"attacker.example:{port}\" is not this coordinator"#)),
        "{answer}"
    );
    for host in [format!("127.0.0.1:{port}"), format!("localhost:{port}"), format!("drover.example:{port}")] {
        let (code, answer) = get_with_host(port, &host);
        assert_eq!(code, 200, "Host {host}: {answer}");
    }
    // The CLI, by address and by name, and a worker running a Job.
    c.ok(&["get", "jobs"]);
    let out = std::process::Command::new(BIN)
        .args(["--server", &format!("http://localhost:{port}"), "get", "workers"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    c.add_worker("w1", 1, &[]).await;
    c.create("j.yaml", &job_yaml("hello", "", "Never", "echo hello"));
    c.wait_complete("hello", Duration::from_secs(30)).await;
    assert!(c.ok(&["logs", "job/hello"]).contains("hello"));
    let log = std::fs::read_to_string(c.dir.0.join("coordinator-0.log")).unwrap();
    assert!(log.contains("Refused a request for another host"), "the refusal is logged: {log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_sent_requests_are_closed_within_30s_and_the_cli_works_while_500_are_open() {
    // The coordinator's defaults (a 15 s header-read timeout, 1,024 connections).
    let c = Cluster::start("slow", &[]);
    let start = Instant::now();
    let mut conns = Vec::new();
    for _ in 0..500 {
        let mut conn = tokio::net::TcpStream::connect(("127.0.0.1", c.port)).await.unwrap();
        conn.write_all(b"GET /apis/batch/v1/jobs HTT").await.unwrap();
        conns.push(conn);
    }
    // All 500 are open: the CLI is answered.
    let cli = tokio::task::spawn_blocking({
        let url = c.url.clone();
        move || std::process::Command::new(BIN).args(["--server", &url, "get", "jobs"]).output().unwrap()
    });
    let out = cli.await.unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let answered = start.elapsed();
    assert!(answered < Duration::from_secs(15), "answered while the 500 were open: {answered:?}");
    // Each is closed by the coordinator (EOF) within 30 s of its opening.
    let closed = within(
        Duration::from_secs(30),
        futures::future::join_all(conns.into_iter().map(|mut conn| async move {
            let mut rest = Vec::new();
            let _ = conn.read_to_end(&mut rest).await;
        })),
    )
    .await;
    assert_eq!(closed.len(), 500);
    assert!(start.elapsed() < Duration::from_secs(30), "{:?}", start.elapsed());
    c.ok(&["get", "jobs"]);
}

#[test]
fn the_data_directory_is_private_to_the_coordinators_user() {
    let c = Cluster::start("modes", &[]);
    let data = c.dir.0.join("store");
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700, "{}", data.display());
    assert_eq!(mode(&data.join("drover.db")), 0o600);
    assert_eq!(mode(&data.join("drover.db-wal")), 0o600);
    if data.join("drover.db-shm").exists() {
        assert_eq!(mode(&data.join("drover.db-shm")), 0o600);
    }
}

/// The soft limit on open files of process `pid` (from `/proc/PID/limits`).
fn soft_fd_limit(pid: u32) -> u64 {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let line = limits.lines().find(|l| l.starts_with("Max open files")).unwrap();
    line.split_whitespace().nth(3).unwrap().parse().unwrap()
}

#[test]
fn the_coordinator_raises_its_open_files_limit_to_fit_its_connection_cap() {
    let dir = TempDir::new("fds");
    let hard: u64 = {
        let out = std::process::Command::new("sh").args(["-c", "ulimit -Hn"]).output().unwrap();
        String::from_utf8_lossy(&out.stdout).trim().parse().unwrap_or(u64::MAX)
    };
    // Started as a new user's shell might start it, with a soft limit of 256 open files.
    let mut cmd = std::process::Command::new("sh");
    cmd.args(["-c", r#"ulimit -Sn 256 && exec "$0" coordinator --listen 127.0.0.1:0 --data "$1""#, BIN])
        .arg(dir.0.join("store"));
    let (coordinator, _port) = spawn_coordinator_cmd(cmd, dir.0.join("coordinator.log"));
    // --max-connections 1024 plus 128 spare, as far as the hard limit allows.
    assert_eq!(soft_fd_limit(coordinator.pid()), 1152.min(hard));
}

/// Issue 11, case 1's second half: one token for everything let any holder report for any
/// worker's pods. Now the token only admits a worker: a client with the token that is not
/// worker `w1` (it never registered as it, so it has not w1's credential) can neither report a
/// status for w1's running pod, record its tasks, append to its log, heartbeat nor stream as
/// w1; the real worker goes on and its pod succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_holder_cannot_act_as_another_worker() {
    let mut c = Cluster::start_with_token("impostor", "s3cret-token", &[]);
    c.add_worker("w1", 1, &[]).await;
    let marker = c.dir.0.join("go");
    let script = format!("while [ ! -e {} ]; do sleep 0.05; done", marker.display());
    let yaml = format!(
        "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: held\nspec:\n  backoffLimit: 0\n  template:\n    spec:\n      restartPolicy: Never\n      containers:\n      - name: c\n        image: busybox\n        command: [\"sh\", \"-c\", {script:?}]\n"
    );
    c.create("job", &yaml);
    let pod = {
        use futures::StreamExt as _;
        let mut pods =
            Box::pin(c.client().watch::<drover_api::Pod>("pods", "job-name=held", None).await.unwrap());
        tokio::time::timeout(SECS_20, async {
            loop {
                let p = pods.next().await.expect("watch").unwrap().object;
                if p.node_name() == Some("w1") && p.status.phase == "Running" {
                    return p;
                }
            }
        })
        .await
        .expect("the pod runs on w1")
    };
    let (name, uid) = (pod.metadata.name.clone(), pod.metadata.uid.clone());
    let impostor =
        drover_client::Client::new(&c.url).with_token(Some("s3cret-token")).with_report_batching("w1");
    let failed = drover_api::PodStatus { phase: "Failed".into(), ..Default::default() };
    let report = drover_api::protocol::StatusReport { uid: uid.clone(), worker: "w1".into(), status: failed };
    let err = impostor.report_status(&name, &report).await.unwrap_err();
    assert!(err.to_string().contains("credential"), "{err}");
    let err = impostor.record_tasks(&name, &uid, &["t".to_string()]).await.unwrap_err();
    assert!(err.to_string().contains("credential"), "{err}");
    assert!(impostor.append_log(&name, &uid, 0, b"forged\n".to_vec()).await.unwrap_err().is_unauthorized());
    assert!(impostor.heartbeat("w1").await.unwrap_err().is_unauthorized());
    assert!(impostor.assignments("w1").await.err().expect("refused").is_unauthorized());
    // The pod is untouched, and finishes as its real worker reports.
    let still = c.client().get_pod(&name).await.unwrap();
    assert_eq!(still.status.phase, "Running", "{still:#?}");
    std::fs::write(&marker, "").unwrap();
    let job = c.wait_complete("held", SECS_20).await;
    assert!(job.condition_true("Complete").is_some(), "{job:#?}\n{}", c.logs());
    let log = c.ok(&["logs", &name]);
    assert!(!log.contains("forged"), "{log}");
}

const SECS_20: Duration = Duration::from_secs(20);
