//! The end-to-end harness: real `drover` processes on 127.0.0.1, each test with its own
//! coordinator (port 0), data directory and workers. Everything a test starts is killed when its
//! handle drops.
#![allow(dead_code, unreachable_pub)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use drover_api::{Job, Pod};
use drover_client::Client;
use futures::StreamExt;

pub const BIN: &str = env!("CARGO_BIN_EXE_drover");

static SEQ: AtomicU32 = AtomicU32::new(0);

/// A fresh directory under the system temp dir, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let n = SEQ.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("drover-e2e-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A child process killed (SIGKILL) on drop.
pub struct Proc {
    pub child: Child,
    pub log: PathBuf,
}

impl Proc {
    /// `kill -9`.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then wait for the exit.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        self.child.wait().unwrap()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A coordinator and its workers.
pub struct Cluster {
    pub dir: TempDir,
    pub url: String,
    pub port: u16,
    pub coordinator: Proc,
    pub workers: Vec<Proc>,
    coordinator_args: Vec<String>,
    restarts: u32,
    /// The API token the coordinator requires, if any; the harness's client, CLI runs and
    /// workers use it.
    pub token: Option<String>,
    /// The CA file of an HTTPS coordinator ([`Cluster::https`]); the harness's client, CLI runs
    /// and workers trust it.
    pub ca: Option<PathBuf>,
}

impl Cluster {
    /// A coordinator with fast back-off (base 200 ms, cap 2 s) and a 2 s worker lease, plus
    /// the extra flags given.
    pub fn start(tag: &str, extra: &[&str]) -> Cluster {
        let dir = TempDir::new(tag);
        let mut args: Vec<String> =
            ["--job-backoff-base", "200ms", "--job-backoff-max", "2s", "--worker-lease", "2s"]
                .iter()
                .map(|s| s.to_string())
                .collect();
        args.extend(extra.iter().map(|s| s.to_string()));
        let (coordinator, port) = spawn_coordinator(&dir.0, "127.0.0.1:0", &args, 0);
        Cluster {
            url: format!("http://127.0.0.1:{port}"),
            port,
            dir,
            coordinator,
            workers: Vec::new(),
            coordinator_args: args,
            restarts: 0,
            token: None,
            ca: None,
        }
    }

    /// Switches the harness to a coordinator started with TLS flags: its URL becomes `https`,
    /// and its client, CLI runs (`DROVER_CERTIFICATE_AUTHORITY`) and workers trust `ca`.
    pub fn https(mut self, ca: PathBuf) -> Cluster {
        self.url = format!("https://127.0.0.1:{}", self.port);
        self.ca = Some(ca);
        self
    }

    /// The certificate `--tls-self-signed` made in the coordinator's data directory.
    pub fn self_signed_cert(&self) -> PathBuf {
        self.dir.0.join("store").join("tls.crt")
    }

    /// [`Cluster::start`] with `--token TOKEN` on the coordinator.
    pub fn start_with_token(tag: &str, token: &str, extra: &[&str]) -> Cluster {
        let mut args = vec!["--token", token];
        args.extend_from_slice(extra);
        let mut c = Cluster::start(tag, &args);
        c.token = Some(token.to_string());
        c
    }

    /// `kill -9` the coordinator and start it again on the same port and data directory.
    pub fn restart_coordinator_hard(&mut self) {
        self.coordinator.kill9();
        self.restarts += 1;
        let (c, _) = spawn_coordinator(
            &self.dir.0,
            &format!("127.0.0.1:{}", self.port),
            &self.coordinator_args,
            self.restarts,
        );
        self.coordinator = c;
    }

    /// Starts a worker and waits until the coordinator lists it Ready.
    pub async fn add_worker(&mut self, name: &str, slots: u32, extra: &[&str]) {
        self.add_worker_logging(name, slots, extra, "info").await;
    }

    /// [`Cluster::add_worker`] with `DROVER_LOG=filter`; returns the worker's log file.
    pub async fn add_worker_logging(
        &mut self,
        name: &str,
        slots: u32,
        extra: &[&str],
        filter: &str,
    ) -> PathBuf {
        let log = self.dir.0.join(format!("worker-{name}-{}.log", self.workers.len()));
        let child = Command::new(BIN)
            .args(["worker", "--coordinator", &self.url, "--name", name, "--slots", &slots.to_string()])
            .args(["--heartbeat-interval", "200ms"])
            // (A test may set its own restart back-off.)
            .args(
                ["--restart-backoff-base", "100ms"]
                    .iter()
                    .filter(|_| !extra.contains(&"--restart-backoff-base")),
            )
            .args(self.token.iter().flat_map(|t| ["--token".to_string(), t.clone()]))
            .args(extra)
            .envs(self.ca.iter().map(|ca| ("DROVER_CERTIFICATE_AUTHORITY", ca)))
            .env("DROVER_LOG", filter)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        self.workers.push(Proc { child, log: log.clone() });
        let client = self.client();
        let name = name.to_string();
        within(Duration::from_secs(10), async move {
            let mut s =
                Box::pin(client.watch::<drover_api::Worker>("workers", "", Some(&name)).await.unwrap());
            while let Some(ev) = s.next().await {
                if ev.unwrap().object.status.phase == "Ready" {
                    return;
                }
            }
            panic!("watch ended before worker {name} was Ready");
        })
        .await;
        log
    }

    pub fn client(&self) -> Client {
        let client = match &self.ca {
            Some(ca) => Client::new(&self.url).with_ca_pem(&std::fs::read(ca).unwrap()).unwrap(),
            None => Client::new(&self.url),
        };
        client.with_token(self.token.as_deref())
    }

    /// Runs the CLI against this cluster.
    pub fn drover(&self, args: &[&str]) -> Output {
        self.drover_stdin(args, None)
    }

    /// Starts the CLI with `args` (a watch such as `get jobs -w`) against this cluster and hands
    /// each line it prints to the receiver as it arrives. The caller kills the child.
    pub fn drover_lines(&self, args: &[&str]) -> (Child, std::sync::mpsc::Receiver<String>) {
        let mut cmd = Command::new(BIN);
        cmd.args(args).env("DROVER_SERVER", &self.url).stdout(Stdio::piped()).stderr(Stdio::null());
        if let Some(token) = &self.token {
            cmd.env("DROVER_TOKEN", token);
        }
        if let Some(ca) = &self.ca {
            cmd.env("DROVER_CERTIFICATE_AUTHORITY", ca);
        }
        let mut child = cmd.spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        (child, rx)
    }

    pub fn drover_stdin(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut cmd = Command::new(BIN);
        cmd.args(args).env("DROVER_SERVER", &self.url).stdout(Stdio::piped()).stderr(Stdio::piped());
        if let Some(token) = &self.token {
            cmd.env("DROVER_TOKEN", token);
        }
        if let Some(ca) = &self.ca {
            cmd.env("DROVER_CERTIFICATE_AUTHORITY", ca);
        }
        cmd.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() });
        let mut child = cmd.spawn().unwrap();
        if let Some(text) = stdin {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
        }
        child.wait_with_output().unwrap()
    }

    /// Runs the CLI and asserts it succeeded; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.drover(args);
        assert!(
            out.status.success(),
            "drover {args:?} failed: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Writes a manifest into the test's directory and creates it.
    pub fn create(&self, name: &str, yaml: &str) -> String {
        let path = self.dir.0.join(format!("{name}.yaml"));
        std::fs::write(&path, yaml).unwrap();
        self.ok(&["create", "-f", path.to_str().unwrap()])
    }

    /// Waits (on the watch stream) until `pred` holds for the Job, and returns it.
    pub async fn wait_job(&self, name: &str, timeout: Duration, pred: impl Fn(&Job) -> bool) -> Job {
        self.wait_for::<Job>("jobs", name, timeout, pred).await
    }

    /// Follows the watch of one object (`resource` as the client names it: `jobs`, `cronjobs`,
    /// …) until `pred` holds, across coordinator restarts; panics after `timeout`.
    pub async fn wait_for<T: serde::de::DeserializeOwned + std::fmt::Debug + 'static>(
        &self,
        resource: &str,
        name: &str,
        timeout: Duration,
        pred: impl Fn(&T) -> bool,
    ) -> T {
        let client = self.client();
        let mut last = None;
        let res = tokio::time::timeout(timeout, async {
            loop {
                // A watch ends when the coordinator restarts: start a new one.
                let Ok(s) = client.watch::<T>(resource, "", Some(name)).await else {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                };
                let mut s = Box::pin(s);
                while let Some(Ok(ev)) = s.next().await {
                    if pred(&ev.object) {
                        return ev.object;
                    }
                    last = Some(ev.object);
                }
            }
        })
        .await;
        match res {
            Ok(obj) => obj,
            Err(_) => {
                panic!("timed out waiting for {resource}/{name}; last seen: {last:#?}\n{}", self.logs())
            }
        }
    }

    pub async fn wait_complete(&self, name: &str, timeout: Duration) -> Job {
        self.wait_job(name, timeout, |j| j.is_finished()).await
    }

    pub async fn pods_of(&self, job: &str) -> Vec<Pod> {
        let mut pods = self.client().list_pods(&format!("batch.kubernetes.io/job-name={job}")).await.unwrap();
        pods.sort_by_key(|p| p.metadata.creation_timestamp);
        pods
    }

    /// The coordinator's and workers' logs, for failure messages.
    pub fn logs(&self) -> String {
        let mut out = String::new();
        let mut files: Vec<PathBuf> = std::fs::read_dir(&self.dir.0)
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "log"))
            .collect();
        files.sort();
        for f in files {
            let text = std::fs::read_to_string(&f).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(40).collect();
            out.push_str(&format!("--- {} (last 40 lines)\n", f.display()));
            for l in tail.into_iter().rev() {
                out.push_str(l);
                out.push('\n');
            }
        }
        out
    }
}

fn spawn_coordinator(data: &Path, listen: &str, args: &[String], n: u32) -> (Proc, u16) {
    let mut cmd = Command::new(BIN);
    cmd.args(["coordinator", "--listen", listen, "--data"]).arg(data.join("store")).args(args);
    spawn_coordinator_cmd(cmd, data.join(format!("coordinator-{n}.log")))
}

impl Cluster {
    /// A cluster around a coordinator the test started itself (see [`spawn_coordinator_cmd`]).
    pub fn adopt(dir: TempDir, coordinator: Proc, port: u16, token: Option<String>) -> Cluster {
        Cluster {
            url: format!("http://127.0.0.1:{port}"),
            port,
            dir,
            coordinator,
            workers: Vec::new(),
            coordinator_args: Vec::new(),
            restarts: 0,
            token,
            ca: None,
        }
    }

    /// Adds a worker process the test built itself; its stderr goes to a log in the test's
    /// directory.
    pub fn adopt_worker(&mut self, mut cmd: Command) {
        let log = self.dir.0.join(format!("worker-adopted-{}.log", self.workers.len()));
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        self.workers.push(Proc { child, log });
    }
}

/// Starts a coordinator from `cmd` (which must listen on a port-0 address), logging its stderr to
/// `log`, and returns it with the port it announced.
pub fn spawn_coordinator_cmd(mut cmd: Command, log: PathBuf) -> (Proc, u16) {
    let mut child = cmd
        .env("DROVER_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let log2 = log.clone();
    std::thread::spawn(move || {
        let mut file = std::fs::File::create(&log2).unwrap();
        let mut sent = false;
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            use std::io::Write;
            let _ = writeln!(file, "{line}");
            if !sent && let Some(addr) = line.split_whitespace().find_map(|w| w.strip_prefix("addr=")) {
                let port: u16 = addr.rsplit(':').next().unwrap().parse().unwrap();
                let _ = tx.send(port);
                sent = true;
            }
        }
    });
    let port = rx.recv_timeout(Duration::from_secs(20)).unwrap_or_else(|_| {
        panic!("coordinator did not start: {}", std::fs::read_to_string(&log).unwrap_or_default())
    });
    (Proc { child, log }, port)
}

/// Runs `fut`, failing the test if it takes longer than `limit`.
pub async fn within<T>(limit: Duration, fut: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(limit, fut).await.expect("timed out")
}

/// The largest number of pods running at one instant, from their recorded process start and
/// finish times.
pub fn max_overlap(pods: &[Pod]) -> usize {
    let mut edges: Vec<(chrono::DateTime<chrono::Utc>, i32)> = Vec::new();
    for p in pods {
        let Some(cs) = p.status.container_statuses.first() else { continue };
        let Some(t) = &cs.state.terminated else { continue };
        if let (Some(s), Some(f)) = (t.started_at, t.finished_at) {
            edges.push((s, 1));
            edges.push((f, -1));
        }
    }
    // Ends before starts at the same instant.
    edges.sort_by_key(|(t, d)| (*t, *d));
    let (mut cur, mut max) = (0i32, 0i32);
    for (_, d) in edges {
        cur += d;
        max = max.max(cur);
    }
    max as usize
}

/// Pids of live (not zombie) processes whose command line contains `needle`.
pub fn processes_with(needle: &str) -> Vec<u32> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().filter_map(Result::ok) {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(cmd) = std::fs::read(entry.path().join("cmdline")) else { continue };
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        let zombie = stat.rsplit(')').next().is_some_and(|rest| rest.trim_start().starts_with('Z'));
        if cmd.contains(needle) && !zombie && pid != std::process::id() {
            out.push(pid);
        }
    }
    out
}

/// A Job manifest with one container running `sh -c SCRIPT`.
pub fn job_yaml(name: &str, spec_extra: &str, restart: &str, script: &str) -> String {
    format!(
        "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: {name}\nspec:\n{spec_extra}  template:\n    spec:\n      containers:\n      - name: c\n        image: busybox\n        command: [\"sh\", \"-c\", {script:?}]\n      restartPolicy: {restart}\n"
    )
}
