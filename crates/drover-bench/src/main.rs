//! `drover-bench`: measures Drover against a plain process baseline, in one run.
//!
//! 1. **Process throughput.** A Job of N pods running `true` at parallelism P, timed from the
//!    client's `create` to the Job's `Complete` condition arriving on a watch, beside
//!    `seq N | xargs -P P -n1 true` timed in the same run. R rounds, alternating.
//! 2. **Pod create → process start latency.** K single-pod Jobs, one after the other. Per pod:
//!    `containerStatuses[0].state.terminated.startedAt` (the worker, when it spawned the
//!    process) − `metadata.creationTimestamp` (the coordinator, when the controller created the
//!    pod); and the same from the client's clock just before the Job `POST`.
//!
//! 3. **Many Jobs** (`--many-jobs N1,N2,…`, off by default). For each N: N Jobs of M pods
//!    created at once (bounded concurrency), timed until every one is `Complete` on a watch;
//!    pods/s beside one Job of B pods measured in the same run, coordinator CPU per pod, its RSS
//!    at the end, and `get job` latency.
//!
//! 4. **Worker memory.** The worker's `VmRSS`, `RssAnon`, `RssFile` and threads from
//!    `/proc/<pid>/status`: idle (`--worker-settle` seconds after it was Ready), and with
//!    `--memory-pods N`, right after N `true` pods (Jobs of up to 1,000, run last) and settled
//!    (`--worker-settle` seconds later, once it gave memory back).
//!
//! Throughput and latency come with a per-phase breakdown read from the pods' and Jobs' own timestamps, so the
//! report says where the time goes, not only how much there is.
//!
//! It drives the real `drover` binary (a coordinator and one worker in a private temporary
//! directory) over HTTP with `drover-client`, and stops both processes at the end.

mod cluster;
mod cpu;
mod memory;
mod report;
mod stats;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};
use chrono::{DateTime, Utc};
use clap::Parser;
use drover_api::{Job, Pod};
use drover_client::{Client, ClientError, WatchEvent};
use futures::stream::LocalBoxStream;
use futures::{StreamExt as _, TryStreamExt as _};
use serde_json::{Value, json};

use cluster::Cluster;
use cpu::Usage;
use report::{Machine, Results};

/// Benchmarks Drover against `xargs -P` (throughput) and measures pod create → process start
/// latency. Prints a Markdown report on stdout; progress goes to stderr.
#[derive(Debug, Parser)]
#[command(name = "drover-bench", version)]
struct Args {
    /// Pods (completions) of the throughput Job, and processes of the xargs baseline.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..))]
    pods: u32,
    /// Parallelism of the throughput Job and of xargs (-P); also the worker's slots.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..))]
    parallelism: u32,
    /// Throughput rounds (each runs xargs, then the Job); 0 skips the throughput part.
    #[arg(long, default_value_t = 3)]
    rounds: u32,
    /// Sequential single-pod Jobs for the latency part; 0 skips it.
    #[arg(long, default_value_t = 200)]
    latency_samples: u32,
    /// Many-Jobs scenario: for each N of the list, N Jobs of `--pods-per-job` pods created at
    /// once and timed until all are Complete. Empty (the default) skips it.
    #[arg(long, value_delimiter = ',', value_parser = clap::value_parser!(u32).range(1..))]
    many_jobs: Vec<u32>,
    /// Indexed Job scenario (issue 14): one `completionMode: Indexed` Job of this many
    /// completions at --parallelism, beside one NonIndexed Job of as many pods in the same run.
    /// 0 (the default) skips it.
    #[arg(long, default_value_t = 0)]
    indexed: u32,
    /// Pods (completions) of each Job of the many-Jobs scenario.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    pods_per_job: u32,
    /// Parallelism of each Job of the many-Jobs scenario.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..))]
    job_parallelism: u32,
    /// Pods of the one-Job baseline of the many-Jobs scenario, run first in the same run.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..))]
    baseline_pods: u32,
    /// Parallelism of the one-Job baseline [default: --parallelism, the worker's slots].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    baseline_parallelism: Option<u32>,
    /// Job creates in flight at once in the many-Jobs scenario.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..))]
    create_concurrency: u32,
    /// `get job` requests timed, one after the other, at the end of each many-Jobs run.
    #[arg(long, default_value_t = 100)]
    get_samples: u32,
    /// The drover binary [default: <workspace>/target/release/drover].
    #[arg(long)]
    drover: Option<PathBuf>,
    /// Print the results as JSON instead of Markdown.
    #[arg(long)]
    json: bool,
    /// DROVER_LOG for the coordinator and the worker (e.g. `debug` to study a slow phase).
    #[arg(long, default_value = "info")]
    drover_log: String,
    /// Keep the temporary directory (store, coordinator.log, worker.log) and print its path.
    #[arg(long)]
    keep_tmp: bool,
    /// Seconds the worker is left idle before its memory is read: after it is Ready, and after
    /// the memory pods. 0 skips the worker-memory readings.
    #[arg(long, default_value_t = 5)]
    worker_settle: u64,
    /// `true` pods to run, last, in Jobs of up to 1,000 at --parallelism, for the worker's
    /// memory right after them and settled. 0 reads only the idle worker.
    #[arg(long, default_value_t = 0)]
    memory_pods: u32,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("drover-bench: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> anyhow::Result<()> {
    let drover = resolve_drover(args.drover.as_deref())?;
    let machine = Machine::probe();
    // One thread for the benchmark client: on a small machine it should take as little CPU
    // from the coordinator and the worker as possible.
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let mut cluster = Cluster::start(&drover, args.parallelism, &args.drover_log, args.keep_tmp)?;
    eprintln!("drover-bench: coordinator at {}, data in {}", cluster.url, cluster.dir.display());
    let raw = rt.block_on(bench(args, &mut cluster));
    // Dropping the runtime closes the client's connections (their tasks live on it); an open
    // watch would otherwise hold the coordinator's graceful shutdown.
    drop(rt);
    cluster.shutdown();
    let results = Results { machine, drover, args, raw: raw? };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&results.to_json())?);
    } else {
        print!("{}", results.markdown());
    }
    Ok(())
}

fn resolve_drover(flag: Option<&Path>) -> anyhow::Result<PathBuf> {
    let path = match flag {
        Some(p) => p.to_path_buf(),
        None => PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../target/release/drover")),
    };
    if !path.is_file() {
        bail!(
            "{} not found; build it first with `cargo build --release -p drover-cli` \
             (or pass --drover PATH)",
            path.display()
        );
    }
    Ok(path.canonicalize().unwrap_or(path))
}

// === measurement ===

/// The timestamps of one finished pod, all read from the pod object.
#[derive(Debug, Clone, Copy)]
struct PodTimes {
    /// `metadata.creationTimestamp`: the controller created the pod (coordinator clock).
    created: DateTime<Utc>,
    /// `status.startTime`: the worker accepted the pod from its assignment stream.
    accepted: DateTime<Utc>,
    /// `containerStatuses[0].state.terminated.startedAt`: the worker spawned the process.
    started: DateTime<Utc>,
    /// `containerStatuses[0].state.terminated.finishedAt`: the worker saw the process exit.
    finished: DateTime<Utc>,
    /// `conditions[Ready].lastTransitionTime` of the final status: the worker built its final
    /// report (after flushing the log).
    reported: Option<DateTime<Utc>>,
}

impl PodTimes {
    fn of(pod: &Pod) -> Option<PodTimes> {
        let terminated = pod.status.container_statuses.first()?.state.terminated.as_ref()?;
        Some(PodTimes {
            created: pod.metadata.creation_timestamp?,
            accepted: pod.status.start_time?,
            started: terminated.started_at?,
            finished: terminated.finished_at?,
            reported: pod
                .status
                .conditions
                .iter()
                .find(|c| c.type_ == "Ready")
                .and_then(|c| c.last_transition_time),
        })
    }
}

/// One throughput round.
struct Round {
    xargs: Duration,
    drover: Duration,
    /// CPU used while xargs ran, and while the Job ran.
    xargs_cpu: Option<Usage>,
    drover_cpu: Option<Usage>,
    /// The Job as the watch delivered it with `Complete=True`.
    job: Job,
    /// When the client saw `Complete` (client clock).
    seen: DateTime<Utc>,
    pods: Vec<PodTimes>,
}

/// One latency sample.
struct Sample {
    /// Client clock just before the Job `POST`.
    posted: DateTime<Utc>,
    job: Job,
    seen: DateTime<Utc>,
    pod: PodTimes,
}

/// One run of the many-Jobs scenario (or its one-Job baseline): `jobs` Jobs of
/// `pods_per_job` pods, all created at once.
#[derive(Debug, Clone, Default)]
struct ManyRun {
    jobs: u32,
    pods_per_job: u32,
    parallelism: u32,
    /// From the first `create` to the last Job's `Complete` on the watch.
    wall: Duration,
    /// CPU used over `wall`.
    cpu: Option<Usage>,
    /// The coordinator's VmRSS when all Jobs were Complete, in KiB.
    rss_kib: Option<u64>,
    /// The worker's memory when all Jobs were Complete.
    worker_memory: Option<memory::Reading>,
    /// `get job` round trips after the run, in milliseconds.
    get_ms: Vec<f64>,
}

impl ManyRun {
    /// All the pods of the run.
    fn pods(&self) -> u64 {
        u64::from(self.jobs) * u64::from(self.pods_per_job)
    }
}

/// The many-Jobs scenario: the one-Job baseline, then one run per N.
struct Many {
    baseline: ManyRun,
    runs: Vec<ManyRun>,
}

/// The worker's memory readings.
#[derive(Debug, Clone, Default)]
struct WorkerMemory {
    /// How long the worker was left idle before the idle and settled readings.
    settle: Duration,
    /// `--worker-settle` after it was Ready.
    idle: Option<memory::Reading>,
    /// The run of `--memory-pods`, if any: its pods and wall time.
    run: Option<ManyRun>,
    /// When the last of those Jobs was Complete.
    after: Option<memory::Reading>,
    /// `--worker-settle` later.
    settled: Option<memory::Reading>,
}

struct Raw {
    rounds: Vec<Round>,
    samples: Vec<Sample>,
    many: Option<Many>,
    /// `--indexed`: the NonIndexed Job (as `baseline`) and the Indexed one (`runs[0]`).
    indexed: Option<Many>,
    memory: Option<WorkerMemory>,
}

async fn bench(args: &Args, cluster: &mut Cluster) -> anyhow::Result<Raw> {
    let client = Client::new(&cluster.url);
    wait_worker_ready(&client, cluster).await?;
    let settle = Duration::from_secs(args.worker_settle);
    let mut memory = (!settle.is_zero()).then(|| WorkerMemory { settle, ..WorkerMemory::default() });
    if let Some(m) = &mut memory {
        m.idle = worker_memory_settled(cluster, settle).await?;
        if let Some(r) = m.idle {
            eprintln!("drover-bench: idle worker: VmRSS {} KiB", r.rss_kib);
        }
    }

    let mut rounds = Vec::new();
    for r in 1..=args.rounds {
        let pids = cluster.pids();
        let xargs = run_xargs(args.pods, args.parallelism, pids).await?;
        cluster.check_alive()?;
        let round = drover_round(&client, args, r, xargs, pids).await?;
        let others = |u: Option<Usage>| u.map_or(f64::NAN, |u| u.others_ms() / 1000.0);
        eprintln!(
            "drover-bench: round {r}/{}: xargs {:.3} s, drover {:.3} s \
             (CPU of other processes meanwhile: {:.2} s / {:.2} s)",
            args.rounds,
            round.xargs.as_secs_f64(),
            round.drover.as_secs_f64(),
            others(round.xargs_cpu),
            others(round.drover_cpu),
        );
        rounds.push(round);
    }

    let mut samples = Vec::new();
    if args.latency_samples > 0 {
        // One watch over every Job for the whole sequence; it is open before the first POST.
        let mut watch = JobWatch::open(&client, None).await?;
        for i in 1..=args.latency_samples {
            samples.push(latency_sample(&client, &mut watch, i).await?);
            if i % 50 == 0 || i == args.latency_samples {
                cluster.check_alive()?;
                eprintln!("drover-bench: latency {i}/{}", args.latency_samples);
            }
        }
    }

    let many = if args.many_jobs.is_empty() { None } else { Some(many_jobs(&client, args, cluster).await?) };

    let indexed = if args.indexed == 0 {
        None
    } else {
        let spec = |prefix: &str, indexed| ManySpec {
            prefix: prefix.into(),
            jobs: 1,
            pods_per_job: args.indexed,
            parallelism: args.parallelism,
            indexed,
        };
        let baseline = many_run(&client, args, cluster, &spec("bench-nonindexed", false)).await?;
        report_many_progress("NonIndexed", &baseline);
        let run = many_run(&client, args, cluster, &spec("bench-indexed", true)).await?;
        report_many_progress("Indexed", &run);
        Some(Many { baseline, runs: vec![run] })
    };

    if let Some(m) = &mut memory
        && args.memory_pods > 0
    {
        let pods_per_job = args.memory_pods.min(1000);
        let spec = ManySpec {
            prefix: "bench-memory".into(),
            jobs: args.memory_pods.div_ceil(pods_per_job),
            pods_per_job,
            parallelism: args.parallelism,
            indexed: false,
        };
        let run = many_run(&client, args, cluster, &spec).await?;
        m.after = run.worker_memory;
        report_many_progress("worker memory", &run);
        m.run = Some(run);
        m.settled = worker_memory_settled(cluster, settle).await?;
        if let (Some(a), Some(s)) = (m.after, m.settled) {
            eprintln!(
                "drover-bench: worker VmRSS after the pods {} KiB, settled {} KiB",
                a.rss_kib, s.rss_kib
            );
        }
    }
    Ok(Raw { rounds, samples, many, indexed, memory })
}

/// The worker's memory once it has been left idle for `settle`.
async fn worker_memory_settled(
    cluster: &mut Cluster,
    settle: Duration,
) -> anyhow::Result<Option<memory::Reading>> {
    tokio::time::sleep(settle).await;
    cluster.check_alive()?;
    Ok(cluster.pids().1.and_then(memory::Reading::of))
}

/// The one-Job baseline, then one run per `--many-jobs` N.
async fn many_jobs(client: &Client, args: &Args, cluster: &mut Cluster) -> anyhow::Result<Many> {
    let spec = ManySpec {
        prefix: "bench-many-base".into(),
        jobs: 1,
        pods_per_job: args.baseline_pods,
        parallelism: args.baseline_parallelism.unwrap_or(args.parallelism),
        indexed: false,
    };
    let baseline = many_run(client, args, cluster, &spec).await?;
    report_many_progress("baseline", &baseline);
    let mut runs = Vec::new();
    for &jobs in &args.many_jobs {
        let spec = ManySpec {
            prefix: format!("bench-many-{jobs}"),
            jobs,
            pods_per_job: args.pods_per_job,
            parallelism: args.job_parallelism,
            indexed: false,
        };
        let run = many_run(client, args, cluster, &spec).await?;
        report_many_progress(&format!("{jobs} Jobs"), &run);
        runs.push(run);
    }
    Ok(Many { baseline, runs })
}

fn report_many_progress(what: &str, run: &ManyRun) {
    eprintln!(
        "drover-bench: many Jobs, {what}: {} pods in {:.3} s ({:.1} pods/s)",
        run.pods(),
        run.wall.as_secs_f64(),
        run.pods() as f64 / run.wall.as_secs_f64()
    );
}

/// What one many-Jobs run creates.
struct ManySpec {
    /// Jobs are named `<prefix>-1` … `<prefix>-<jobs>`.
    prefix: String,
    jobs: u32,
    pods_per_job: u32,
    parallelism: u32,
    /// `completionMode: Indexed`.
    indexed: bool,
}

/// Creates `spec.jobs` Jobs at once (at most `--create-concurrency` requests in flight), waits
/// on one watch until all are Complete, reads the coordinator's RSS, times `get job`, and
/// deletes the Jobs.
async fn many_run(
    client: &Client,
    args: &Args,
    cluster: &mut Cluster,
    spec: &ManySpec,
) -> anyhow::Result<ManyRun> {
    cluster.check_alive()?;
    let (coordinator, worker) = cluster.pids();
    let names: Vec<String> = (1..=spec.jobs).map(|i| format!("{}-{i}", spec.prefix)).collect();
    let total = u64::from(spec.jobs) * u64::from(spec.pods_per_job);
    // Generous: only a hang should hit it.
    let timeout = Duration::from_secs(120) + Duration::from_millis(50 * total);
    let mut watch = JobWatch::open(client, None).await?;
    let before = cpu::snapshot(coordinator, worker);
    let t0 = Instant::now();
    let creates = futures::stream::iter(&names)
        .map(|name| async move {
            client
                .create_job(&job_manifest(name, spec.pods_per_job, spec.parallelism, spec.indexed))
                .await
                .with_context(|| format!("cannot create Job {name}"))
        })
        .buffer_unordered(args.create_concurrency as usize)
        .try_for_each(|_| async { Ok(()) });
    // Both at once: the watch is read while the creates are in flight.
    let ((), t1) = tokio::try_join!(creates, watch.wait_all_finished(&names, timeout))?;
    let wall = t1 - t0;
    let after = cpu::snapshot(coordinator, worker);
    drop(watch);
    let cpu = before.zip(after).map(|(a, b)| Usage::between(&a, &b));
    let rss_kib = coordinator.and_then(cpu::rss_kib);
    let worker_memory = worker.and_then(memory::Reading::of);
    let mut get_ms = Vec::with_capacity(args.get_samples as usize);
    for name in names.iter().cycle().take(args.get_samples as usize) {
        let t = Instant::now();
        client.get_job(name).await.with_context(|| format!("cannot get Job {name}"))?;
        get_ms.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    futures::stream::iter(&names)
        .map(|name| async move {
            client.delete_job(name, true).await.with_context(|| format!("cannot delete Job {name}"))
        })
        .buffer_unordered(args.create_concurrency as usize)
        .try_for_each(|_| async { Ok(()) })
        .await?;
    Ok(ManyRun {
        jobs: spec.jobs,
        pods_per_job: spec.pods_per_job,
        parallelism: spec.parallelism,
        wall,
        cpu,
        rss_kib,
        worker_memory,
        get_ms,
    })
}

async fn wait_worker_ready(client: &Client, cluster: &mut Cluster) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        cluster.check_alive()?;
        if let Ok(workers) = client.list_workers("").await
            && workers.iter().any(|w| w.status.phase == drover_api::worker::phase::READY)
        {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!("no Ready worker after 10 s; see {}", cluster.dir.join("worker.log").display());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `seq N | xargs -P P -n1 true`, timed.
async fn run_xargs(
    n: u32,
    parallelism: u32,
    (coordinator, worker): (Option<u32>, Option<u32>),
) -> anyhow::Result<(Duration, Option<Usage>)> {
    let script = format!("seq {n} | xargs -P {parallelism} -n1 true");
    let before = cpu::snapshot(coordinator, worker);
    let t0 = Instant::now();
    let status = tokio::process::Command::new("sh")
        .args(["-c", &script])
        .status()
        .await
        .context("cannot run sh for the xargs baseline")?;
    let wall = t0.elapsed();
    let after = cpu::snapshot(coordinator, worker);
    if !status.success() {
        bail!("`{script}` failed: {status}");
    }
    Ok((wall, before.zip(after).map(|(a, b)| Usage::between(&a, &b))))
}

fn job_manifest(name: &str, completions: u32, parallelism: u32, indexed: bool) -> Value {
    json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            "completions": completions,
            "parallelism": parallelism,
            "completionMode": if indexed { "Indexed" } else { "NonIndexed" },
            "backoffLimit": 0,
            "template": {"spec": {
                "containers": [{"name": "c", "image": "none", "command": ["true"]}],
                "restartPolicy": "Never",
            }},
        },
    })
}

async fn drover_round(
    client: &Client,
    args: &Args,
    round: u32,
    (xargs, xargs_cpu): (Duration, Option<Usage>),
    (coordinator, worker): (Option<u32>, Option<u32>),
) -> anyhow::Result<Round> {
    let name = format!("bench-{}-r{round}", args.pods);
    let manifest = job_manifest(&name, args.pods, args.parallelism, false);
    // Generous: only a hang should hit it.
    let timeout = Duration::from_secs(120) + Duration::from_millis(50) * args.pods;
    let mut watch = JobWatch::open(client, Some(&name)).await?;
    let before = cpu::snapshot(coordinator, worker);
    let t0 = Instant::now();
    client.create_job(&manifest).await.with_context(|| format!("cannot create Job {name}"))?;
    let (t1, seen, job) = watch.wait_finished(&name, timeout).await?;
    let drover = t1 - t0;
    let after = cpu::snapshot(coordinator, worker);
    let drover_cpu = before.zip(after).map(|(a, b)| Usage::between(&a, &b));
    drop(watch);
    let pods = finished_pods(client, &name, args.pods as usize).await?;
    client.delete_job(&name, true).await.with_context(|| format!("cannot delete Job {name}"))?;
    Ok(Round { xargs, drover, xargs_cpu, drover_cpu, job, seen, pods })
}

async fn latency_sample(client: &Client, watch: &mut JobWatch, i: u32) -> anyhow::Result<Sample> {
    let name = format!("bench-lat-{i}");
    let manifest = job_manifest(&name, 1, 1, false);
    let posted = Utc::now();
    client.create_job(&manifest).await.with_context(|| format!("cannot create Job {name}"))?;
    let (_, seen, job) = watch.wait_finished(&name, Duration::from_secs(60)).await?;
    let pod = finished_pods(client, &name, 1)
        .await?
        .into_iter()
        .next()
        .with_context(|| format!("Job {name} completed without a finished pod"))?;
    client.delete_job(&name, true).await.with_context(|| format!("cannot delete Job {name}"))?;
    Ok(Sample { posted, job, seen, pod })
}

/// The timestamps of a finished Job's pods.
async fn finished_pods(client: &Client, job: &str, expected: usize) -> anyhow::Result<Vec<PodTimes>> {
    let selector = format!("{}={job}", drover_api::labels::JOB_NAME);
    let pods = client.list_pods(&selector).await.with_context(|| format!("cannot list the pods of {job}"))?;
    let times: Vec<PodTimes> = pods.iter().filter_map(PodTimes::of).collect();
    if times.len() != expected {
        eprintln!(
            "drover-bench: warning: Job {job}: {} pods, {} with complete timestamps, {expected} expected",
            pods.len(),
            times.len()
        );
    }
    Ok(times)
}

type JobEvents = LocalBoxStream<'static, Result<WatchEvent<Job>, ClientError>>;

/// A Job watch that re-opens itself when the server ends the stream (e.g. a slow reader).
struct JobWatch {
    client: Client,
    name: Option<String>,
    events: JobEvents,
}

impl JobWatch {
    async fn open(client: &Client, name: Option<&str>) -> anyhow::Result<JobWatch> {
        let events = client.watch::<Job>("jobs", "", name).await.context("cannot watch Jobs")?.boxed_local();
        Ok(JobWatch { client: client.clone(), name: name.map(String::from), events })
    }

    /// Waits for Job `name` to have `Complete=True`; returns when the event arrived (monotonic
    /// and wall clock) and the Job. `Failed=True` is an error.
    async fn wait_finished(
        &mut self,
        name: &str,
        timeout: Duration,
    ) -> anyhow::Result<(Instant, DateTime<Utc>, Job)> {
        let deadline = tokio::time::Instant::now() + timeout;
        let what = format!("Job {name}");
        loop {
            let Some(job) = self.next_job(deadline, timeout, &what).await? else { continue };
            if job.metadata.name != name {
                continue;
            }
            if job.condition_true("Complete").is_some() {
                return Ok((Instant::now(), Utc::now(), job));
            }
            if let Some(c) = job.condition_true("Failed") {
                bail!("Job {name} failed: {}: {}", c.reason, c.message);
            }
        }
    }

    /// Waits until every Job of `names` has `Complete=True`; returns when the last one was seen.
    /// `Failed=True` on any of them is an error.
    async fn wait_all_finished(&mut self, names: &[String], timeout: Duration) -> anyhow::Result<Instant> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut pending: HashSet<&str> = names.iter().map(String::as_str).collect();
        let what = format!("{} Jobs", names.len());
        while !pending.is_empty() {
            let Some(job) = self.next_job(deadline, timeout, &what).await? else { continue };
            let name = job.metadata.name.as_str();
            if !pending.contains(name) {
                continue;
            }
            if job.condition_true("Complete").is_some() {
                pending.remove(name);
            } else if let Some(c) = job.condition_true("Failed") {
                bail!("Job {name} failed: {}: {}", c.reason, c.message);
            }
        }
        Ok(Instant::now())
    }

    /// The next Job of a non-DELETED event, or `None` after the stream ended and was opened
    /// again (a new watch starts with the current objects, so nothing is missed).
    async fn next_job(
        &mut self,
        deadline: tokio::time::Instant,
        timeout: Duration,
        what: &str,
    ) -> anyhow::Result<Option<Job>> {
        let next = tokio::time::timeout_at(deadline, self.events.next())
            .await
            .map_err(|_| anyhow!("{what} did not finish within {} s", timeout.as_secs()))?;
        match next {
            Some(Ok(event)) => Ok((event.type_ != "DELETED").then_some(event.object)),
            other => {
                if let Some(Err(err)) = other {
                    eprintln!("drover-bench: watch interrupted ({err}); watching again");
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
                self.events = self
                    .client
                    .watch::<Job>("jobs", "", self.name.as_deref())
                    .await
                    .context("cannot watch Jobs again")?
                    .boxed_local();
                Ok(None)
            }
        }
    }
}
