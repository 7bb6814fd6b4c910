//! `drover verify`: the fault-injection run of `tests/faults.rs`, as a verb a user can point at
//! their own brokers.
//!
//! It starts a private coordinator and workers (this same binary, on 127.0.0.1, in a temporary
//! directory), publishes a few thousand tasks to a fresh queue, and runs a drain Job over them
//! while, at a steady pace, it SIGKILLs a worker and starts it again under its name, SIGKILLs
//! the coordinator and starts it again on the same store, or cuts every broker connection.
//! Then it checks Drover's promises and prints what it saw:
//! - every task ran;
//! - re-runs stay within what the faults can explain (the tasks in hand: one per slot of a
//!   killed worker, one per consumer at a cut or a coordinator kill);
//! - `status.tasks.succeeded` is exactly the number of tasks;
//! - the queue is empty;
//! - the Job completed promptly once the faults stopped.
//!
//! Broker connections are cut without touching the broker or anyone else's connections: the
//! workers reach the broker through a TCP proxy that this command runs, and a cut closes every
//! connection through it. Only processes it started are ever signalled, by their own pid.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::Args;
use drover_api::retry::Backoff;
use futures::StreamExt as _;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

use crate::duration;

/// `drover verify`.
#[derive(Debug, Args)]
pub(crate) struct VerifyArgs {
    /// The broker to run against: a `redis://` or `amqp://` URL (it must be reachable from
    /// 127.0.0.1). A fresh queue is used and purged afterwards.
    #[arg(long, env = "DROVER_VERIFY_URL", default_value = "redis://127.0.0.1:6379")]
    url: String,
    /// Tasks to publish.
    #[arg(long, default_value_t = 2000)]
    tasks: usize,
    /// Workers to start.
    #[arg(long, default_value_t = 3)]
    workers: usize,
    /// Slots per worker (the Job's parallelism is workers × slots).
    #[arg(long, default_value_t = 2)]
    slots: usize,
    /// How long each task runs.
    #[arg(long, default_value = "50ms", value_parser = duration::parse)]
    task_time: Duration,
    /// The pace of the faults.
    #[arg(long, default_value = "1500ms", value_parser = duration::parse)]
    fault_interval: Duration,
    /// The faults, in order, one per interval: `worker` (SIGKILL a worker, start it again),
    /// `coordinator` (SIGKILL the coordinator, start it again on its store), `cut` (close every
    /// broker connection). The run stops injecting once the Job is complete.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "worker,cut,worker,coordinator,worker,cut,worker,coordinator,worker"
    )]
    faults: Vec<Fault>,
    /// How long the Job may take to complete once the faults stopped.
    #[arg(long, default_value = "20s", value_parser = duration::parse)]
    settle_within: Duration,
    /// Keep the temporary directory (logs, store) and print its path.
    #[arg(long)]
    keep: bool,
}

/// One kind of fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Fault {
    Worker,
    Coordinator,
    Cut,
}

/// What one run saw.
#[derive(Debug, Default)]
struct Figures {
    runs: usize,
    distinct: usize,
    missing: usize,
    worker_kills: usize,
    coordinator_kills: usize,
    cuts: usize,
    succeeded: i64,
    duplicates: i64,
    after_faults: Duration,
    total: Duration,
}

pub(crate) async fn verify(args: VerifyArgs) -> anyhow::Result<ExitCode> {
    if args.tasks == 0 || args.workers == 0 || args.slots == 0 {
        bail!("--tasks, --workers and --slots: Invalid value: 0: must be greater than 0");
    }
    let dir = TempDir::new(args.keep)?;
    let upstream = broker_authority(&args.url)?;
    let proxy = Proxy::start(&upstream).await?;
    let proxied_url = with_authority(&args.url, &proxy.addr)?;
    let drover = std::env::current_exe().context("cannot find this drover binary")?;
    let mut fleet = Fleet::start(&drover, &dir.path, args.workers, args.slots).await?;
    let client = drover_client::Client::new(&fleet.url);

    let queue = format!("drover-verify-{}", uuid_ish());
    let publisher = drover_queue::connect(&args.url, &queue).await.context("connecting to the broker")?;
    let bodies: Vec<Vec<u8>> = (0..args.tasks).map(|i| format!("t-{i}").into_bytes()).collect();
    for chunk in bodies.chunks(1000) {
        publisher.publish(chunk).await.context("publishing the tasks")?;
    }
    let runs = dir.path.join("runs");
    let job = job_manifest(&queue, &proxied_url, &runs, args.task_time, args.workers * args.slots);
    let mut watch = Box::pin(client.watch::<drover_api::Job>("jobs", "", Some("verify")).await?);
    let started = Instant::now();
    client.create_job(&job).await.context("creating the Job")?;
    eprintln!(
        "verify: {} tasks on {}, {} workers × {} slots, a fault every {:?}",
        args.tasks,
        drover_queue::redact_url(&args.url),
        args.workers,
        args.slots,
        args.fault_interval
    );

    let mut figures = Figures::default();
    for (i, fault) in args.faults.iter().enumerate() {
        tokio::time::sleep_until((started + args.fault_interval * (i as u32 + 1)).into()).await;
        if client.get_job("verify").await.is_ok_and(|j| j.condition_true("Complete").is_some()) {
            break;
        }
        match fault {
            Fault::Worker => {
                let n = figures.worker_kills % args.workers;
                fleet.restart_worker(n)?;
                figures.worker_kills += 1;
            }
            Fault::Coordinator => {
                fleet.restart_coordinator().await?;
                figures.coordinator_kills += 1;
                // The watch went with the old process.
                watch = Box::pin(client.watch::<drover_api::Job>("jobs", "", Some("verify")).await?);
            }
            Fault::Cut => {
                proxy.cut();
                figures.cuts += 1;
            }
        }
        eprintln!("verify: {:>5.1} s: {fault:?}", started.elapsed().as_secs_f64());
    }
    let faults_ended = Instant::now();
    let done = tokio::time::timeout(args.settle_within.max(Duration::from_secs(1)) * 3, async {
        loop {
            match watch.next().await {
                Some(Ok(ev)) if ev.object.condition_true("Complete").is_some() => return Ok(ev.object),
                Some(Ok(ev)) if ev.object.condition_true("Failed").is_some() => {
                    bail!("the Job failed: {:?}", ev.object.status.conditions)
                }
                Some(Ok(_)) => {}
                // A watch cut short (a slow coordinator, say): watch again.
                Some(Err(_)) | None => {
                    watch = Box::pin(client.watch::<drover_api::Job>("jobs", "", Some("verify")).await?);
                }
            }
        }
    })
    .await
    .context("the Job did not complete")??;
    figures.after_faults = faults_ended.elapsed();
    figures.total = started.elapsed();
    let counts = done.status.tasks.unwrap_or_default();
    figures.succeeded = counts.succeeded;
    figures.duplicates = counts.duplicates;

    let ran = tally(&runs);
    figures.runs = ran.values().sum();
    figures.distinct = ran.len();
    figures.missing = (0..args.tasks).filter(|i| !ran.contains_key(&format!("t-{i}"))).count();
    let left = queue_left(publisher.as_ref()).await;
    let _ = publisher.purge().await;
    let _ = client.delete_job("verify", true).await;
    fleet.stop();

    let bound = figures.worker_kills * args.slots
        + (figures.cuts + figures.coordinator_kills) * args.workers * args.slots;
    let checks = [
        ("every task ran", figures.missing == 0, format!("{} of {} never ran", figures.missing, args.tasks)),
        (
            "no task outside the published ones ran",
            figures.distinct == args.tasks,
            format!("{} distinct tasks ran", figures.distinct),
        ),
        (
            "the count is exact",
            figures.succeeded == args.tasks as i64,
            format!("status.tasks.succeeded is {}", figures.succeeded),
        ),
        (
            "re-runs are within what the faults explain",
            figures.runs.saturating_sub(figures.distinct) <= bound,
            format!("{} re-runs, at most {bound} explained", figures.runs.saturating_sub(figures.distinct)),
        ),
        (
            "duplicates counted are re-runs",
            figures.duplicates as usize <= figures.runs.saturating_sub(figures.distinct),
            format!("status.tasks.duplicates is {}", figures.duplicates),
        ),
        (
            "the queue is empty",
            left.is_none(),
            left.unwrap_or_else(|| "nothing ready, nothing in flight".into()),
        ),
        (
            "the Job completed promptly after the faults",
            figures.after_faults <= args.settle_within,
            format!("{:.1} s after the last fault", figures.after_faults.as_secs_f64()),
        ),
    ];
    println!(
        "{} tasks, {} runs ({} re-runs), {} worker kills, {} coordinator kills, {} connection cuts; \
         complete {:.1} s after the last fault ({:.1} s in all)",
        args.tasks,
        figures.runs,
        figures.runs.saturating_sub(figures.distinct),
        figures.worker_kills,
        figures.coordinator_kills,
        figures.cuts,
        figures.after_faults.as_secs_f64(),
        figures.total.as_secs_f64()
    );
    let mut ok = true;
    for (what, passed, detail) in &checks {
        println!("{} {what}: {detail}", if *passed { "PASS" } else { "FAIL" });
        ok &= passed;
    }
    if args.keep {
        println!("kept {}", dir.path.display());
    }
    Ok(if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// The drain Job: each run appends its task to `runs`, then takes `task_time`. Pods the faults
/// fail (WorkerLost, WorkerRestarted) are ignored, as disruptions.
fn job_manifest(
    queue: &str,
    url: &str,
    runs: &Path,
    task_time: Duration,
    parallelism: usize,
) -> serde_json::Value {
    let script =
        format!("echo \"$DROVER_TASK\" >> '{}'; sleep {:.3}", runs.display(), task_time.as_secs_f64());
    serde_json::json!({
        "apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "verify"},
        "spec": {
            "parallelism": parallelism,
            "backoffLimit": 0,
            "podFailurePolicy": {"rules": [
                {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]}
            ]},
            "queue": {"url": url, "name": queue, "leaseSeconds": 3},
            "template": {"spec": {
                "restartPolicy": "Never",
                "containers": [{"name": "task", "image": "none", "command": ["sh", "-c", script]}]
            }}
        }
    })
}

/// How many runs each task had, from the lines of `runs`.
fn tally(runs: &Path) -> BTreeMap<String, usize> {
    let mut seen = BTreeMap::new();
    for line in std::fs::read_to_string(runs).unwrap_or_default().lines() {
        *seen.entry(line.to_string()).or_insert(0) += 1;
    }
    seen
}

/// `None` once the queue has nothing ready and nothing in flight (RabbitMQ cannot count what is
/// in flight; its unacked tasks come back as ready when their connection closes), within 10 s;
/// else what is left.
async fn queue_left(q: &dyn drover_queue::Queue) -> Option<String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut pause = Backoff::new(Duration::from_millis(20), Duration::from_millis(500));
    loop {
        let left = match q.stats().await {
            Ok(s) if s.ready == 0 && s.in_flight.unwrap_or(0) == 0 => return None,
            Ok(s) => format!("{} ready, {:?} in flight", s.ready, s.in_flight),
            Err(err) => format!("cannot read the queue: {err}"),
        };
        if Instant::now() >= deadline {
            return Some(left);
        }
        tokio::time::sleep(pause.next_delay()).await;
    }
}

/// `host:port` of a broker URL (the port defaults to the scheme's).
fn broker_authority(url: &str) -> anyhow::Result<String> {
    let (scheme, rest) = url.split_once("://").context("the URL has no scheme (amqp:// or redis://)")?;
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if host_port.is_empty() {
        bail!("the URL {} names no host", drover_queue::redact_url(url));
    }
    if host_port.rsplit_once(':').is_some_and(|(_, p)| p.parse::<u16>().is_ok()) {
        return Ok(host_port.to_string());
    }
    let port = match scheme {
        "amqp" => 5672,
        "redis" => 6379,
        other => bail!("the scheme must be amqp:// or redis://, not {other}://"),
    };
    Ok(format!("{host_port}:{port}"))
}

/// `url` with its host and port replaced by `addr` (credentials, vhost and database kept).
fn with_authority(url: &str, addr: &str) -> anyhow::Result<String> {
    let (scheme, rest) = url.split_once("://").context("the URL has no scheme")?;
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let userinfo = authority.rsplit_once('@').map(|(u, _)| format!("{u}@")).unwrap_or_default();
    Ok(format!("{scheme}://{userinfo}{addr}{tail}"))
}

fn uuid_ish() -> String {
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos();
    format!("{}-{nanos}", std::process::id())
}

/// A TCP proxy on 127.0.0.1 to the broker; [`Proxy::cut`] closes every connection through it.
struct Proxy {
    addr: String,
    generation: Arc<Mutex<CancellationToken>>,
    stop: CancellationToken,
}

impl Proxy {
    async fn start(upstream: &str) -> anyhow::Result<Proxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await.context("binding the broker proxy")?;
        let addr = listener.local_addr()?.to_string();
        let generation = Arc::new(Mutex::new(CancellationToken::new()));
        let stop = CancellationToken::new();
        let (gen2, stop2, upstream) = (generation.clone(), stop.clone(), upstream.to_string());
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    _ = stop2.cancelled() => return,
                    a = listener.accept() => a,
                };
                let Ok((mut inbound, _)) = accepted else { continue };
                let cut = gen2.lock().unwrap_or_else(|p| p.into_inner()).clone();
                let upstream = upstream.clone();
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(&upstream).await else { return };
                    tokio::select! {
                        _ = cut.cancelled() => {}
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                    }
                });
            }
        });
        Ok(Proxy { addr, generation, stop })
    }

    /// Closes every connection made so far; new ones go through.
    fn cut(&self) {
        let old = std::mem::take(&mut *self.generation.lock().unwrap_or_else(|p| p.into_inner()));
        old.cancel();
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.cancel();
        self.cut();
    }
}

/// The coordinator and the workers: child processes of this binary.
struct Fleet {
    drover: PathBuf,
    dir: PathBuf,
    url: String,
    listen: String,
    slots: usize,
    coordinator: Option<Child>,
    workers: Vec<Option<Child>>,
}

impl Fleet {
    async fn start(drover: &Path, dir: &Path, workers: usize, slots: usize) -> anyhow::Result<Fleet> {
        // A fixed port, so that a restarted coordinator is found where the workers look.
        let listen = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.to_string();
        let mut fleet = Fleet {
            drover: drover.to_path_buf(),
            dir: dir.to_path_buf(),
            url: format!("http://{listen}"),
            listen,
            slots,
            coordinator: None,
            workers: Vec::new(),
        };
        fleet.start_coordinator().await?;
        for n in 0..workers {
            let child = fleet.spawn_worker(n)?;
            fleet.workers.push(Some(child));
        }
        Ok(fleet)
    }

    fn log(&self, name: &str) -> anyhow::Result<std::fs::File> {
        let path = self.dir.join(format!("{name}.log"));
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .with_context(|| format!("cannot open {}", path.display()))
    }

    async fn start_coordinator(&mut self) -> anyhow::Result<()> {
        let log = self.log("coordinator")?;
        let child = Command::new(&self.drover)
            .args(["coordinator", "--listen", &self.listen, "--data"])
            .arg(self.dir.join("data"))
            .env_remove("DROVER_TOKEN")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("cannot start the coordinator")?;
        self.coordinator = Some(child);
        // Polling an external process that has no other way to say it is up.
        let client = drover_client::Client::new(&self.url);
        let deadline = Instant::now() + Duration::from_secs(15);
        let mut pause = Backoff::new(Duration::from_millis(10), Duration::from_millis(200));
        while client.healthz().await.is_err() {
            if Instant::now() > deadline {
                bail!(
                    "the coordinator did not answer within 15 s (see {})",
                    self.dir.join("coordinator.log").display()
                );
            }
            tokio::time::sleep(pause.next_delay()).await;
        }
        Ok(())
    }

    fn spawn_worker(&self, n: usize) -> anyhow::Result<Child> {
        let name = format!("verify-w{}", n + 1);
        let log = self.log(&name)?;
        Command::new(&self.drover)
            .args(["worker", "--coordinator", &self.url, "--name", &name, "--slots"])
            .arg(self.slots.to_string())
            .env_remove("DROVER_TOKEN")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("cannot start worker {name}"))
    }

    /// SIGKILLs worker `n` and starts it again under its name.
    fn restart_worker(&mut self, n: usize) -> anyhow::Result<()> {
        if let Some(mut child) = self.workers[n].take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.workers[n] = Some(self.spawn_worker(n)?);
        Ok(())
    }

    /// SIGKILLs the coordinator and starts it again on the same store and port.
    async fn restart_coordinator(&mut self) -> anyhow::Result<()> {
        if let Some(mut child) = self.coordinator.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.start_coordinator().await
    }

    fn stop(&mut self) {
        for child in self.workers.iter_mut().filter_map(Option::take).chain(self.coordinator.take()) {
            let mut child = child;
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A private temporary directory, removed at the end unless kept.
struct TempDir {
    path: PathBuf,
    keep: bool,
}

impl TempDir {
    fn new(keep: bool) -> anyhow::Result<TempDir> {
        let path = std::env::temp_dir().join(format!("drover-verify-{}", uuid_ish()));
        std::fs::create_dir(&path).with_context(|| format!("cannot create {}", path.display()))?;
        Ok(TempDir { path, keep })
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{broker_authority, with_authority};

    #[test]
    fn broker_urls_are_pointed_at_the_proxy_with_their_credentials_and_paths() {
        for (name, url, authority, proxied) in [
            ("redis", "redis://127.0.0.1:6379", "127.0.0.1:6379", "redis://127.0.0.1:9/"),
            ("redis db", "redis://:pw@localhost/2", "localhost:6379", "redis://:pw@127.0.0.1:9/2"),
            (
                "amqp vhost",
                "amqp://guest:guest@127.0.0.1:5672/%2f",
                "127.0.0.1:5672",
                "amqp://guest:guest@127.0.0.1:9/%2f",
            ),
            ("amqp default port", "amqp://u:p@rabbit", "rabbit:5672", "amqp://u:p@127.0.0.1:9"),
        ] {
            assert_eq!(broker_authority(url).unwrap(), authority, "{name}");
            let got = with_authority(url, "127.0.0.1:9").unwrap();
            assert_eq!(got.trim_end_matches('/'), proxied.trim_end_matches('/'), "{name}");
        }
        assert!(broker_authority("nats://x").is_err());
        assert!(broker_authority("no-scheme").is_err());
    }
}
