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
//! Both come with a per-phase breakdown read from the pods' and Jobs' own timestamps, so the
//! report says where the time goes, not only how much there is.
//!
//! It drives the real `drover` binary (a coordinator and one worker in a private temporary
//! directory) over HTTP with `drover-client`, and stops both processes at the end.

mod cluster;
mod stats;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};
use chrono::{DateTime, Utc};
use clap::Parser;
use drover_api::{Job, Pod};
use drover_client::{Client, ClientError, WatchEvent};
use futures::StreamExt;
use futures::stream::LocalBoxStream;
use serde_json::{Value, json};

use cluster::Cluster;
use stats::{Summary, median_min_max};

/// Drover's wall time may be at most this multiple of xargs'.
const THROUGHPUT_TARGET_RATIO: f64 = 1.25;
/// Pod created → process started, p50.
const LATENCY_P50_TARGET_MS: f64 = 5.0;
/// Pod created → process started, p99.
const LATENCY_P99_TARGET_MS: f64 = 50.0;

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

struct Raw {
    rounds: Vec<Round>,
    samples: Vec<Sample>,
}

async fn bench(args: &Args, cluster: &mut Cluster) -> anyhow::Result<Raw> {
    let client = Client::new(&cluster.url);
    wait_worker_ready(&client, cluster).await?;

    let mut rounds = Vec::new();
    for r in 1..=args.rounds {
        let xargs = run_xargs(args.pods, args.parallelism).await?;
        cluster.check_alive()?;
        let round = drover_round(&client, args, r, xargs).await?;
        eprintln!(
            "drover-bench: round {r}/{}: xargs {:.3} s, drover {:.3} s",
            args.rounds,
            round.xargs.as_secs_f64(),
            round.drover.as_secs_f64()
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
    Ok(Raw { rounds, samples })
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
async fn run_xargs(n: u32, parallelism: u32) -> anyhow::Result<Duration> {
    let script = format!("seq {n} | xargs -P {parallelism} -n1 true");
    let t0 = Instant::now();
    let status = tokio::process::Command::new("sh")
        .args(["-c", &script])
        .status()
        .await
        .context("cannot run sh for the xargs baseline")?;
    let wall = t0.elapsed();
    if !status.success() {
        bail!("`{script}` failed: {status}");
    }
    Ok(wall)
}

fn job_manifest(name: &str, completions: u32, parallelism: u32) -> Value {
    json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            "completions": completions,
            "parallelism": parallelism,
            "backoffLimit": 0,
            "template": {"spec": {
                "containers": [{"name": "c", "image": "none", "command": ["true"]}],
                "restartPolicy": "Never",
            }},
        },
    })
}

async fn drover_round(client: &Client, args: &Args, round: u32, xargs: Duration) -> anyhow::Result<Round> {
    let name = format!("bench-{}-r{round}", args.pods);
    let manifest = job_manifest(&name, args.pods, args.parallelism);
    // Generous: only a hang should hit it.
    let timeout = Duration::from_secs(120) + Duration::from_millis(50) * args.pods;
    let mut watch = JobWatch::open(client, Some(&name)).await?;
    let t0 = Instant::now();
    client.create_job(&manifest).await.with_context(|| format!("cannot create Job {name}"))?;
    let (t1, seen, job) = watch.wait_finished(&name, timeout).await?;
    let drover = t1 - t0;
    drop(watch);
    let pods = finished_pods(client, &name, args.pods as usize).await?;
    client.delete_job(&name, true).await.with_context(|| format!("cannot delete Job {name}"))?;
    Ok(Round { xargs, drover, job, seen, pods })
}

async fn latency_sample(client: &Client, watch: &mut JobWatch, i: u32) -> anyhow::Result<Sample> {
    let name = format!("bench-lat-{i}");
    let manifest = job_manifest(&name, 1, 1);
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
        loop {
            let next = tokio::time::timeout_at(deadline, self.events.next())
                .await
                .map_err(|_| anyhow!("Job {name} did not finish within {} s", timeout.as_secs()))?;
            match next {
                Some(Ok(event)) => {
                    if event.type_ == "DELETED" || event.object.metadata.name != name {
                        continue;
                    }
                    if event.object.condition_true("Complete").is_some() {
                        return Ok((Instant::now(), Utc::now(), event.object));
                    }
                    if let Some(c) = event.object.condition_true("Failed") {
                        bail!("Job {name} failed: {}: {}", c.reason, c.message);
                    }
                }
                other => {
                    if let Some(Err(err)) = other {
                        eprintln!("drover-bench: watch interrupted ({err}); watching again");
                    }
                    // A new watch starts with the current object, so nothing is missed.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    self.events = self
                        .client
                        .watch::<Job>("jobs", "", self.name.as_deref())
                        .await
                        .context("cannot watch Jobs again")?
                        .boxed_local();
                }
            }
        }
    }
}

// === figures ===

/// `to − from` in milliseconds.
fn ms(from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    (to - from).num_microseconds().map_or(f64::NAN, |us| us as f64 / 1000.0)
}

/// One row of a breakdown table: samples in milliseconds.
struct Phase {
    name: &'static str,
    source: &'static str,
    samples: Vec<f64>,
}

impl Phase {
    fn new(name: &'static str, source: &'static str) -> Phase {
        Phase { name, source, samples: Vec::new() }
    }

    fn summary(&self) -> Option<Summary> {
        Summary::of(&self.samples)
    }
}

struct Machine {
    nproc: String,
    kernel: String,
    cpu: String,
}

impl Machine {
    fn probe() -> Machine {
        let out = |cmd: &str, args: &[&str]| {
            std::process::Command::new(cmd)
                .args(args)
                .output()
                .ok()
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "?".into())
        };
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|t| {
                t.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split_once(':'))
                    .map(|(_, v)| v.trim().to_string())
            })
            .unwrap_or_else(|| "?".into());
        Machine { nproc: out("nproc", &[]), kernel: out("uname", &["-r"]), cpu }
    }
}

struct Results<'a> {
    machine: Machine,
    drover: PathBuf,
    args: &'a Args,
    raw: Raw,
}

/// Throughput figures over the rounds: (median, min, max) each.
struct Throughput {
    xargs_s: (f64, f64, f64),
    drover_s: (f64, f64, f64),
    ratio: (f64, f64, f64),
    pods_per_s: (f64, f64, f64),
    xargs_per_s: (f64, f64, f64),
}

struct Verdict {
    target: String,
    measured: String,
    met: bool,
}

impl Results<'_> {
    fn throughput(&self) -> Option<Throughput> {
        let rounds = &self.raw.rounds;
        let n = f64::from(self.args.pods);
        let col = |f: &dyn Fn(&Round) -> f64| median_min_max(&rounds.iter().map(f).collect::<Vec<_>>());
        Some(Throughput {
            xargs_s: col(&|r| r.xargs.as_secs_f64())?,
            drover_s: col(&|r| r.drover.as_secs_f64())?,
            ratio: col(&|r| r.drover.as_secs_f64() / r.xargs.as_secs_f64())?,
            pods_per_s: col(&|r| n / r.drover.as_secs_f64())?,
            xargs_per_s: col(&|r| n / r.xargs.as_secs_f64())?,
        })
    }

    /// Per-phase breakdown of the throughput Jobs, all rounds pooled.
    fn throughput_phases(&self) -> Vec<Phase> {
        let p = self.args.parallelism as usize;
        let mut job_to_first = Phase::new(
            "Job created → first pod created",
            "pods' min creationTimestamp − Job creationTimestamp (per Job)",
        );
        let mut created_accepted = Phase::new(
            "pod created → accepted by worker",
            "status.startTime − creationTimestamp (scheduler bind + assignment stream)",
        );
        let mut accepted_started =
            Phase::new("accepted → process started", "terminated.startedAt − status.startTime (spawn)");
        let mut run = Phase::new("process ran", "terminated.finishedAt − startedAt");
        let mut exit_report = Phase::new(
            "process exited → final report built",
            "Ready lastTransitionTime − finishedAt (worker: log flush)",
        );
        let mut report_refill = Phase::new(
            "final report built → replacement pod created",
            "k-th report ↔ (k+P)-th creationTimestamp (report PUT, count, controller sync, create)",
        );
        let mut exit_refill = Phase::new(
            "**slot idle**: process exited → replacement pod created",
            "k-th finishedAt ↔ (k+P)-th creationTimestamp",
        );
        let mut created_started =
            Phase::new("**pod created → process started**", "terminated.startedAt − creationTimestamp");
        let mut cycle = Phase::new(
            "**slot cycle**: pod created → replacement created",
            "k-th ↔ (k+P)-th creationTimestamp, pods in creation order",
        );
        let mut last_complete = Phase::new(
            "last process exited → Job completionTime",
            "status.completionTime − max finishedAt (per Job)",
        );
        let mut complete_seen = Phase::new(
            "Job completionTime → client saw Complete",
            "client clock at the watch event − completionTime (per Job)",
        );
        for round in &self.raw.rounds {
            let pods = &round.pods;
            if pods.is_empty() {
                continue;
            }
            let mut created: Vec<_> = pods.iter().map(|t| t.created).collect();
            let mut finished: Vec<_> = pods.iter().map(|t| t.finished).collect();
            let mut reported: Vec<_> = pods.iter().filter_map(|t| t.reported).collect();
            created.sort();
            finished.sort();
            reported.sort();
            if let Some(job_created) = round.job.metadata.creation_timestamp {
                job_to_first.samples.push(ms(job_created, created[0]));
            }
            for t in pods {
                created_accepted.samples.push(ms(t.created, t.accepted));
                accepted_started.samples.push(ms(t.accepted, t.started));
                run.samples.push(ms(t.started, t.finished));
                created_started.samples.push(ms(t.created, t.started));
                if let Some(r) = t.reported {
                    exit_report.samples.push(ms(t.finished, r));
                }
            }
            // The (k+P)-th pod is created because the k-th pod freed its slot.
            for k in 0..pods.len().saturating_sub(p) {
                exit_refill.samples.push(ms(finished[k], created[k + p]));
                cycle.samples.push(ms(created[k], created[k + p]));
                if reported.len() == pods.len() {
                    report_refill.samples.push(ms(reported[k], created[k + p]));
                }
            }
            let last = finished[finished.len() - 1];
            if let Some(done) = round.job.status.completion_time {
                last_complete.samples.push(ms(last, done));
                complete_seen.samples.push(ms(done, round.seen));
            }
        }
        vec![
            job_to_first,
            created_accepted,
            accepted_started,
            run,
            exit_report,
            report_refill,
            exit_refill,
            created_started,
            cycle,
            last_complete,
            complete_seen,
        ]
    }

    /// The two headline latency intervals.
    fn latency(&self) -> (Phase, Phase) {
        let mut pod =
            Phase::new("pod created → process started", "terminated.startedAt − pod creationTimestamp");
        let mut post = Phase::new(
            "Job POST (client) → process started",
            "terminated.startedAt − client clock before the POST",
        );
        for s in &self.raw.samples {
            pod.samples.push(ms(s.pod.created, s.pod.started));
            post.samples.push(ms(s.posted, s.pod.started));
        }
        (pod, post)
    }

    /// Per-phase breakdown of the latency Jobs.
    fn latency_phases(&self) -> Vec<Phase> {
        let mut post_job = Phase::new(
            "Job POST (client) → Job created",
            "Job creationTimestamp − client clock before the POST",
        );
        let mut job_pod = Phase::new(
            "Job created → pod created",
            "pod creationTimestamp − Job creationTimestamp (controller)",
        );
        let mut pod_accepted = Phase::new(
            "pod created → accepted by worker",
            "status.startTime − creationTimestamp (scheduler bind + assignment stream)",
        );
        let mut accepted_started =
            Phase::new("accepted → process started", "terminated.startedAt − status.startTime (spawn)");
        let mut run = Phase::new("process ran", "terminated.finishedAt − startedAt");
        let mut exit_report = Phase::new(
            "process exited → final report built",
            "Ready lastTransitionTime − finishedAt (worker: log flush)",
        );
        let mut report_complete = Phase::new(
            "final report built → Job completionTime",
            "Job completionTime − Ready lastTransitionTime (report PUT, controller sync)",
        );
        let mut complete_seen = Phase::new(
            "Job completionTime → client saw Complete",
            "client clock at the watch event − completionTime",
        );
        let mut post_seen = Phase::new("**Job POST → client saw Complete**", "client clock, end to end");
        for s in &self.raw.samples {
            let t = &s.pod;
            if let Some(job_created) = s.job.metadata.creation_timestamp {
                post_job.samples.push(ms(s.posted, job_created));
                job_pod.samples.push(ms(job_created, t.created));
            }
            pod_accepted.samples.push(ms(t.created, t.accepted));
            accepted_started.samples.push(ms(t.accepted, t.started));
            run.samples.push(ms(t.started, t.finished));
            if let Some(r) = t.reported {
                exit_report.samples.push(ms(t.finished, r));
                if let Some(done) = s.job.status.completion_time {
                    report_complete.samples.push(ms(r, done));
                }
            }
            if let Some(done) = s.job.status.completion_time {
                complete_seen.samples.push(ms(done, s.seen));
            }
            post_seen.samples.push(ms(s.posted, s.seen));
        }
        vec![
            post_job,
            job_pod,
            pod_accepted,
            accepted_started,
            run,
            exit_report,
            report_complete,
            complete_seen,
            post_seen,
        ]
    }

    fn verdicts(&self) -> Vec<Verdict> {
        let mut out = Vec::new();
        if let Some(t) = self.throughput() {
            out.push(Verdict {
                target: format!("throughput: Drover ≤ {THROUGHPUT_TARGET_RATIO}× xargs (median ratio)"),
                measured: format!(
                    "{:.2}× (Drover {:.3} s vs xargs {:.3} s)",
                    t.ratio.0, t.drover_s.0, t.xargs_s.0
                ),
                met: t.ratio.0 <= THROUGHPUT_TARGET_RATIO,
            });
        }
        if let Some(s) = self.latency().0.summary() {
            out.push(Verdict {
                target: format!("latency: pod created → process started p50 ≤ {LATENCY_P50_TARGET_MS} ms"),
                measured: format!("{:.2} ms", s.p50),
                met: s.p50 <= LATENCY_P50_TARGET_MS,
            });
            out.push(Verdict {
                target: format!("latency: pod created → process started p99 ≤ {LATENCY_P99_TARGET_MS} ms"),
                measured: format!("{:.2} ms", s.p99),
                met: s.p99 <= LATENCY_P99_TARGET_MS,
            });
        }
        out
    }

    /// Estimated wall time from the mean slot cycle: ⌈N/P⌉ cycles back to back.
    fn cycle_estimate(&self, phases: &[Phase]) -> Option<(f64, f64)> {
        let cycle = phases.iter().find(|p| p.name.contains("slot cycle"))?.summary()?.mean;
        let waves = f64::from(self.args.pods.div_ceil(self.args.parallelism));
        Some((cycle, cycle * waves / 1000.0))
    }

    // === rendering ===

    fn markdown(&self) -> String {
        let a = self.args;
        let m = &self.machine;
        let mut o = String::new();
        let mmm = |(med, min, max): (f64, f64, f64), digits: usize| {
            format!("{med:.digits$} ({min:.digits$}..{max:.digits$})")
        };
        o += "## drover-bench results\n\n";
        o += "| | |\n|---|---|\n";
        o += &format!("| machine | {} cores (nproc), Linux {}, {} |\n", m.nproc, m.kernel, m.cpu);
        o += &format!("| drover | `{}` |\n", self.drover.display());
        o += &format!("| date | {} |\n", Utc::now().format("%Y-%m-%d %H:%M UTC"));
        o += &format!(
            "| throughput | N = {} pods of `true`, parallelism {}, R = {} rounds |\n",
            a.pods, a.parallelism, a.rounds
        );
        o += &format!("| latency | K = {} single-pod Jobs of `true`, sequential |\n", a.latency_samples);
        if let Some(t) = self.throughput() {
            o += &format!("| xargs wall, median (min..max) | {} s |\n", mmm(t.xargs_s, 3));
            o += &format!("| Drover wall, median (min..max) | {} s |\n", mmm(t.drover_s, 3));
            o += &format!("| ratio Drover / xargs, median (min..max) | {} |\n", mmm(t.ratio, 2));
            o += &format!("| Drover pods/s, median (min..max) | {} |\n", mmm(t.pods_per_s, 1));
            o += &format!("| xargs processes/s, median (min..max) | {} |\n", mmm(t.xargs_per_s, 1));
        }
        let (pod, post) = self.latency();
        for phase in [&pod, &post] {
            if let Some(s) = phase.summary() {
                o += &format!(
                    "| latency {} (ms) | p50 {:.2}, p90 {:.2}, p99 {:.2}, max {:.2} |\n",
                    phase.name, s.p50, s.p90, s.p99, s.max
                );
            }
        }
        o += "\n";
        for v in self.verdicts() {
            o += &format!("- **{}** — {}: {}\n", if v.met { "met" } else { "NOT MET" }, v.target, v.measured);
        }

        if !self.raw.rounds.is_empty() {
            o += "\n### Throughput rounds\n\n";
            o += "| round | xargs (s) | Drover (s) | ratio | Drover pods/s | server: Job created → completionTime (s) |\n";
            o += "|---:|---:|---:|---:|---:|---:|\n";
            for (i, r) in self.raw.rounds.iter().enumerate() {
                let server = match (r.job.metadata.creation_timestamp, r.job.status.completion_time) {
                    (Some(c), Some(d)) => format!("{:.3}", ms(c, d) / 1000.0),
                    _ => "?".into(),
                };
                o += &format!(
                    "| {} | {:.3} | {:.3} | {:.2} | {:.1} | {server} |\n",
                    i + 1,
                    r.xargs.as_secs_f64(),
                    r.drover.as_secs_f64(),
                    r.drover.as_secs_f64() / r.xargs.as_secs_f64(),
                    f64::from(a.pods) / r.drover.as_secs_f64(),
                );
            }
            let phases = self.throughput_phases();
            o += "\n### Per-phase breakdown, throughput Jobs (all rounds pooled, ms)\n\n";
            o += &phase_table(&phases);
            if let (Some((cycle, est)), Some(t)) = (self.cycle_estimate(&phases), self.throughput()) {
                let xargs_cycle = t.xargs_s.0 * 1000.0 * f64::from(a.parallelism) / f64::from(a.pods);
                o += &format!(
                    "\nMean slot cycle {cycle:.2} ms × ⌈N/P⌉ = {} waves ≈ {est:.3} s (measured median {:.3} s). \
                     xargs' equivalent per-slot cycle: {xargs_cycle:.2} ms.\n",
                    a.pods.div_ceil(a.parallelism),
                    t.drover_s.0
                );
            }
        }

        if !self.raw.samples.is_empty() {
            o += "\n### Latency (ms)\n\n";
            o += &phase_table(&[pod, post]);
            o += "\n### Per-phase breakdown, latency Jobs (ms)\n\n";
            o += &phase_table(&self.latency_phases());
        }
        o
    }

    fn to_json(&self) -> Value {
        let a = self.args;
        let trip = |(median, min, max): (f64, f64, f64)| json!({"median": median, "min": min, "max": max});
        let phases = |ps: &[Phase]| -> Value {
            ps.iter()
                .map(|p| {
                    json!({
                        "phase": p.name.replace("**", ""),
                        "source": p.source,
                        "ms": p.summary().map(Summary::to_json),
                    })
                })
                .collect()
        };
        let (pod, post) = self.latency();
        let throughput_phases = self.throughput_phases();
        json!({
            "machine": {"nproc": self.machine.nproc, "kernel": self.machine.kernel, "cpu": self.machine.cpu},
            "drover": self.drover.display().to_string(),
            "params": {
                "pods": a.pods, "parallelism": a.parallelism, "rounds": a.rounds,
                "latency_samples": a.latency_samples,
            },
            "throughput": self.throughput().map(|t| json!({
                "xargs_s": trip(t.xargs_s),
                "drover_s": trip(t.drover_s),
                "ratio": trip(t.ratio),
                "drover_pods_per_s": trip(t.pods_per_s),
                "xargs_processes_per_s": trip(t.xargs_per_s),
                "rounds": self.raw.rounds.iter().map(|r| json!({
                    "xargs_s": r.xargs.as_secs_f64(),
                    "drover_s": r.drover.as_secs_f64(),
                    "server_s": match (r.job.metadata.creation_timestamp, r.job.status.completion_time) {
                        (Some(c), Some(d)) => Some(ms(c, d) / 1000.0),
                        _ => None,
                    },
                })).collect::<Vec<_>>(),
                "phases": phases(&throughput_phases),
                "slot_cycle_estimate": self.cycle_estimate(&throughput_phases)
                    .map(|(cycle_ms, wall_s)| json!({"cycle_ms": cycle_ms, "wall_s": wall_s})),
            })),
            "latency": if self.raw.samples.is_empty() { Value::Null } else { json!({
                "pod_created_to_process_started_ms": pod.summary().map(Summary::to_json),
                "job_post_to_process_started_ms": post.summary().map(Summary::to_json),
                "phases": phases(&self.latency_phases()),
            })},
            "verdicts": self.verdicts().iter().map(|v| json!({
                "target": v.target, "measured": v.measured, "met": v.met,
            })).collect::<Vec<_>>(),
        })
    }
}

fn phase_table(phases: &[Phase]) -> String {
    let mut o = String::from("| phase | from | n | p50 | p90 | p99 | max | mean |\n");
    o += "|---|---|---:|---:|---:|---:|---:|---:|\n";
    for p in phases {
        let cells = match p.summary() {
            Some(s) => {
                format!("{} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2}", s.n, s.p50, s.p90, s.p99, s.max, s.mean)
            }
            None => "0 | | | | |".into(),
        };
        o += &format!("| {} | {} | {cells} |\n", p.name, p.source);
    }
    o
}
