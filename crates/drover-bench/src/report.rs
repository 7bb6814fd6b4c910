//! The figures computed from the raw measurements, and their Markdown and JSON renderings.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::cpu::Usage;
use crate::stats::{Summary, median_min_max};
use crate::{Args, ManyRun, Raw, Round};

/// Drover's wall time may be at most this multiple of xargs'.
const THROUGHPUT_TARGET_RATIO: f64 = 1.25;
/// Pod created → process started, p50.
const LATENCY_P50_TARGET_MS: f64 = 5.0;
/// Pod created → process started, p99.
const LATENCY_P99_TARGET_MS: f64 = 50.0;

/// Many Jobs: pods/s at least this share of the one-Job baseline's, measured in the same run.
const MANY_JOBS_TARGET_RATIO: f64 = 0.8;

/// The idle worker's VmRSS, MiB.
const WORKER_IDLE_RSS_TARGET_MIB: f64 = 12.0;
/// The worker's VmRSS settled after the memory pods, MiB (the target is set at 100,000 pods).
const WORKER_AFTER_PODS_RSS_TARGET_MIB: f64 = 15.0;

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// A worker-memory reading as JSON.
fn reading_json(r: Option<crate::memory::Reading>) -> Value {
    r.map_or(Value::Null, |r| {
        json!({
            "rss_mib": mib(r.rss_kib),
            "rss_anon_mib": r.anon_kib.map(mib),
            "rss_file_mib": r.file_kib.map(mib),
            "threads": r.threads,
        })
    })
}

/// A row of the worker-memory table.
fn reading_row(when: &str, r: Option<crate::memory::Reading>) -> String {
    let opt = |v: Option<u64>| v.map_or("?".into(), |k| format!("{:.1}", mib(k)));
    match r {
        Some(r) => format!(
            "| {when} | {:.1} | {} | {} | {} |\n",
            mib(r.rss_kib),
            opt(r.anon_kib),
            opt(r.file_kib),
            r.threads.map_or("?".into(), |t| t.to_string())
        ),
        None => format!("| {when} | ? | ? | ? | ? |\n"),
    }
}

/// The figures of one many-Jobs run (or of its one-Job baseline).
#[derive(Debug, Clone, Copy, PartialEq)]
struct ManyFigures {
    pods: u64,
    wall_s: f64,
    pods_per_s: f64,
    /// `pods_per_s` ÷ the one-Job baseline's pods/s.
    ratio: Option<f64>,
    /// Coordinator CPU time per pod, ms.
    coordinator_ms_per_pod: Option<f64>,
    /// Coordinator CPU time ÷ wall time.
    coordinator_cores: Option<f64>,
    /// Coordinator VmRSS when all Jobs were Complete, MiB.
    rss_mib: Option<f64>,
    /// `get job` round trip, nearest-rank p50 and p99, ms.
    get_p50_ms: Option<f64>,
    get_p99_ms: Option<f64>,
    /// CPU time of other processes on the machine meanwhile, s.
    others_s: Option<f64>,
}

impl ManyFigures {
    fn of(run: &ManyRun, baseline_pods_per_s: Option<f64>) -> ManyFigures {
        let pods = run.pods();
        let wall_s = run.wall.as_secs_f64();
        let pods_per_s = pods as f64 / wall_s;
        let get = Summary::of(&run.get_ms);
        ManyFigures {
            pods,
            wall_s,
            pods_per_s,
            ratio: baseline_pods_per_s.filter(|b| b.is_finite() && *b > 0.0).map(|b| pods_per_s / b),
            coordinator_ms_per_pod: run.cpu.filter(|_| pods > 0).map(|u| u.coordinator_ms / pods as f64),
            coordinator_cores: run.cpu.filter(|_| wall_s > 0.0).map(|u| u.coordinator_ms / (wall_s * 1000.0)),
            rss_mib: run.rss_kib.map(|kib| kib as f64 / 1024.0),
            get_p50_ms: get.map(|s| s.p50),
            get_p99_ms: get.map(|s| s.p99),
            others_s: run.cpu.map(|u| u.others_ms() / 1000.0),
        }
    }

    fn to_json(self, run: &ManyRun) -> Value {
        json!({
            "jobs": run.jobs, "pods_per_job": run.pods_per_job, "parallelism": run.parallelism,
            "pods": self.pods, "wall_s": self.wall_s, "pods_per_s": self.pods_per_s,
            "ratio_to_one_job": self.ratio,
            "coordinator_cpu_ms_per_pod": self.coordinator_ms_per_pod,
            "coordinator_cores": self.coordinator_cores,
            "coordinator_rss_mib": self.rss_mib,
            "get_job_ms": Summary::of(&run.get_ms).map(Summary::to_json),
            "other_processes_cpu_s": self.others_s,
        })
    }

    /// One row of the many-Jobs table.
    fn markdown_row(&self, label: &str, run: &ManyRun) -> String {
        let opt = |v: Option<f64>, digits: usize| v.map_or("?".into(), |v| format!("{v:.digits$}"));
        format!(
            "| {label} | {} × {} (parallelism {}) | {} | {:.3} | {:.1} | {} | {} | {} | {} | {} / {} | {} |\n",
            run.jobs,
            run.pods_per_job,
            run.parallelism,
            self.pods,
            self.wall_s,
            self.pods_per_s,
            self.ratio.map_or("–".into(), |r| format!("{r:.2}×")),
            opt(self.coordinator_ms_per_pod, 3),
            opt(self.coordinator_cores, 2),
            opt(self.rss_mib, 1),
            opt(self.get_p50_ms, 2),
            opt(self.get_p99_ms, 2),
            opt(self.others_s, 2),
        )
    }
}

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

pub(crate) struct Machine {
    nproc: String,
    kernel: String,
    cpu: String,
}

impl Machine {
    pub(crate) fn probe() -> Machine {
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

pub(crate) struct Results<'a> {
    pub(crate) machine: Machine,
    pub(crate) drover: PathBuf,
    pub(crate) args: &'a Args,
    pub(crate) raw: Raw,
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

    /// The baseline's figures, then each run's with its ratio to the baseline.
    fn many(&self) -> Option<(ManyFigures, Vec<ManyFigures>)> {
        let many = self.raw.many.as_ref()?;
        let base = ManyFigures::of(&many.baseline, None);
        let runs = many.runs.iter().map(|r| ManyFigures::of(r, Some(base.pods_per_s))).collect();
        Some((base, runs))
    }

    fn verdicts(&self) -> Vec<Verdict> {
        let mut out = Vec::new();
        if let Some(m) = &self.raw.memory {
            if let Some(idle) = m.idle {
                out.push(Verdict {
                    target: format!("worker: idle VmRSS ≤ {WORKER_IDLE_RSS_TARGET_MIB} MiB"),
                    measured: format!("{:.1} MiB", mib(idle.rss_kib)),
                    met: mib(idle.rss_kib) <= WORKER_IDLE_RSS_TARGET_MIB,
                });
            }
            if let (Some(run), Some(settled)) = (&m.run, m.settled) {
                out.push(Verdict {
                    target: format!(
                        "worker: VmRSS settled after {} pods ≤ {WORKER_AFTER_PODS_RSS_TARGET_MIB} MiB \
                         (the target is set at 100,000 pods)",
                        run.pods()
                    ),
                    measured: format!("{:.1} MiB", mib(settled.rss_kib)),
                    met: mib(settled.rss_kib) <= WORKER_AFTER_PODS_RSS_TARGET_MIB,
                });
            }
        }
        // The largest N is the one the target is about.
        if let (Some((base, figures)), Some(many)) = (self.many(), self.raw.many.as_ref())
            && let Some((run, f)) = many.runs.iter().zip(&figures).max_by_key(|(r, _)| r.jobs)
            && let Some(ratio) = f.ratio
        {
            out.push(Verdict {
                target: format!(
                    "many Jobs: {} Jobs × {} pods ≥ {MANY_JOBS_TARGET_RATIO}× the pods/s of one {}-pod Job",
                    run.jobs, run.pods_per_job, many.baseline.pods_per_job
                ),
                measured: format!("{ratio:.2}× ({:.1} vs {:.1} pods/s)", f.pods_per_s, base.pods_per_s),
                met: ratio >= MANY_JOBS_TARGET_RATIO,
            });
        }
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

    /// CPU time per pod, pooled over the rounds: (xargs, Drover). `busy` is the mean share.
    fn cpu_per_pod(&self) -> Option<(Usage, Usage)> {
        let n = f64::from(self.args.pods);
        let pool = |f: &dyn Fn(&Round) -> Option<Usage>| -> Option<Usage> {
            let us: Vec<Usage> = self.raw.rounds.iter().filter_map(f).collect();
            if us.is_empty() {
                return None;
            }
            let k = us.len() as f64;
            let per_pod = |g: fn(&Usage) -> f64| us.iter().map(g).sum::<f64>() / (k * n);
            Some(Usage {
                coordinator_ms: per_pod(|u| u.coordinator_ms),
                worker_ms: per_pod(|u| u.worker_ms),
                pods_ms: per_pod(|u| u.pods_ms),
                bench_ms: per_pod(|u| u.bench_ms),
                bench_children_ms: per_pod(|u| u.bench_children_ms),
                busy: us.iter().map(|u| u.busy).sum::<f64>() / k,
                machine_ms: per_pod(|u| u.machine_ms),
            })
        };
        Some((pool(&|r| r.xargs_cpu)?, pool(&|r| r.drover_cpu)?))
    }

    /// Coordinator CPU time over Drover wall time, all rounds: how many cores it kept busy.
    fn coordinator_cores(&self) -> Option<f64> {
        let (cpu, wall) = self.raw.rounds.iter().fold((0.0, 0.0), |(c, w), r| match r.drover_cpu {
            Some(u) => (c + u.coordinator_ms, w + r.drover.as_secs_f64() * 1000.0),
            None => (c, w),
        });
        (wall > 0.0).then(|| cpu / wall)
    }

    /// Estimated wall time from the mean slot cycle: ⌈N/P⌉ cycles back to back.
    fn cycle_estimate(&self, phases: &[Phase]) -> Option<(f64, f64)> {
        let cycle = phases.iter().find(|p| p.name.contains("slot cycle"))?.summary()?.mean;
        let waves = f64::from(self.args.pods.div_ceil(self.args.parallelism));
        Some((cycle, cycle * waves / 1000.0))
    }

    // === rendering ===

    pub(crate) fn markdown(&self) -> String {
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
        if let Some(many) = &self.raw.many {
            let ns: Vec<String> = many.runs.iter().map(|r| r.jobs.to_string()).collect();
            o += &format!(
                "| many Jobs | N ∈ {{{}}} Jobs of {} pods, parallelism {} each, created {} at a time; \
                 baseline one Job of {} pods, parallelism {} |\n",
                ns.join(", "),
                a.pods_per_job,
                a.job_parallelism,
                a.create_concurrency,
                many.baseline.pods_per_job,
                many.baseline.parallelism
            );
        }
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
            o += "| round | xargs (s) | Drover (s) | ratio | Drover pods/s \
                  | server: Job created → completionTime (s) | other processes' CPU during xargs / Drover (s) |\n";
            o += "|---:|---:|---:|---:|---:|---:|---:|\n";
            for (i, r) in self.raw.rounds.iter().enumerate() {
                let server = match (r.job.metadata.creation_timestamp, r.job.status.completion_time) {
                    (Some(c), Some(d)) => format!("{:.3}", ms(c, d) / 1000.0),
                    _ => "?".into(),
                };
                let others =
                    |u: Option<Usage>| u.map_or("?".into(), |u| format!("{:.2}", u.others_ms() / 1000.0));
                o += &format!(
                    "| {} | {:.3} | {:.3} | {:.2} | {:.1} | {server} | {} / {} |\n",
                    i + 1,
                    r.xargs.as_secs_f64(),
                    r.drover.as_secs_f64(),
                    r.drover.as_secs_f64() / r.xargs.as_secs_f64(),
                    f64::from(a.pods) / r.drover.as_secs_f64(),
                    others(r.xargs_cpu),
                    others(r.drover_cpu),
                );
            }
            if let Some((x, d)) = self.cpu_per_pod() {
                o += "\n### CPU time per pod (ms of CPU, pooled over rounds)\n\n";
                o += "| | xargs | Drover |\n|---|---:|---:|\n";
                o += &format!(
                    "| pod processes (xargs: `sh`+`seq`+`xargs`+`true`s; Drover: the worker's reaped children) \
                     | {:.3} | {:.3} |\n",
                    x.bench_children_ms, d.pods_ms
                );
                o += &format!("| coordinator | – | {:.3} |\n", d.coordinator_ms);
                o += &format!("| worker agent | – | {:.3} |\n", d.worker_ms);
                o += &format!("| benchmark client | {:.3} | {:.3} |\n", x.bench_ms, d.bench_ms);
                o += &format!(
                    "| **total** | **{:.3}** | **{:.3}** |\n",
                    x.bench_children_ms + x.bench_ms,
                    d.pods_ms + d.coordinator_ms + d.worker_ms + d.bench_ms
                );
                o += &format!(
                    "| other processes on the machine (not the benchmark) | {:.3} | {:.3} |\n",
                    x.others_ms(),
                    d.others_ms()
                );
                o += &format!(
                    "| machine busy during the run (share of all {} cores) | {:.0} % | {:.0} % |\n",
                    self.machine.nproc,
                    x.busy * 100.0,
                    d.busy * 100.0
                );
                if let Some(cores) = self.coordinator_cores() {
                    o += &format!(
                        "| coordinator CPU time ÷ wall time (cores it kept busy) | – | {cores:.2} |\n"
                    );
                }
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

        if let (Some(many), Some((base, figures))) = (&self.raw.many, self.many()) {
            o += "\n### Many Jobs (all created at once, timed until every one is Complete)\n\n";
            o += "| run | Jobs × pods | pods | wall (s) | pods/s | ÷ one Job's pods/s \
                  | coordinator CPU per pod (ms) | coordinator cores | coordinator RSS at end (MiB) \
                  | `get job` p50 / p99 (ms) | other processes' CPU (s) |\n";
            o += "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
            o += &base.markdown_row("one Job (baseline)", &many.baseline);
            for (run, f) in many.runs.iter().zip(&figures) {
                o += &f.markdown_row(&format!("{} Jobs", run.jobs), run);
            }
        }

        if let Some(ix) = &self.raw.indexed {
            let base = ManyFigures::of(&ix.baseline, None);
            o += "\n### Indexed Job (one Job, timed from its create to its Complete)\n\n";
            o += "| run | Jobs × pods | pods | wall (s) | pods/s | ÷ NonIndexed pods/s \
                  | coordinator CPU per pod (ms) | coordinator cores | coordinator RSS at end (MiB) \
                  | `get job` p50 / p99 (ms) | other processes' CPU (s) |\n";
            o += "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
            o += &base.markdown_row("NonIndexed Job", &ix.baseline);
            for run in &ix.runs {
                o += &ManyFigures::of(run, Some(base.pods_per_s)).markdown_row("Indexed Job", run);
            }
        }

        if let Some(m) = &self.raw.memory {
            let settle = m.settle.as_secs_f64();
            o += "\n### Worker memory (`/proc/<pid>/status`)\n\n";
            o += "| when | VmRSS (MiB) | RssAnon (MiB) | RssFile (MiB) | threads |\n";
            o += "|---|---:|---:|---:|---:|\n";
            o += &reading_row(&format!("idle, {settle:.0} s after it was Ready"), m.idle);
            if let Some(run) = &m.run {
                o += &reading_row(
                    &format!(
                        "right after {} pods ({} Jobs × {}, {:.1} pods/s)",
                        run.pods(),
                        run.jobs,
                        run.pods_per_job,
                        run.pods() as f64 / run.wall.as_secs_f64()
                    ),
                    m.after,
                );
                o += &reading_row(&format!("settled, {settle:.0} s later"), m.settled);
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

    pub(crate) fn to_json(&self) -> Value {
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
                "many_jobs": a.many_jobs, "pods_per_job": a.pods_per_job,
                "job_parallelism": a.job_parallelism, "baseline_pods": a.baseline_pods,
                "baseline_parallelism": a.baseline_parallelism.unwrap_or(a.parallelism),
                "create_concurrency": a.create_concurrency, "get_samples": a.get_samples,
                "worker_settle_s": a.worker_settle, "memory_pods": a.memory_pods,
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
                    "other_processes_cpu_s": {
                        "xargs": r.xargs_cpu.map(|u| u.others_ms() / 1000.0),
                        "drover": r.drover_cpu.map(|u| u.others_ms() / 1000.0),
                    },
                    "server_s": match (r.job.metadata.creation_timestamp, r.job.status.completion_time) {
                        (Some(c), Some(d)) => Some(ms(c, d) / 1000.0),
                        _ => None,
                    },
                })).collect::<Vec<_>>(),
                "phases": phases(&throughput_phases),
                "cpu_per_pod_ms": self.cpu_per_pod().map(|(x, d)| json!({
                    "xargs": {
                        "processes": x.bench_children_ms, "bench": x.bench_ms,
                        "other_processes": x.others_ms(), "busy_share": x.busy,
                    },
                    "drover": {
                        "pod_processes": d.pods_ms, "coordinator": d.coordinator_ms,
                        "worker": d.worker_ms, "bench": d.bench_ms,
                        "other_processes": d.others_ms(), "busy_share": d.busy,
                    },
                })),
                "coordinator_cores": self.coordinator_cores(),
                "slot_cycle_estimate": self.cycle_estimate(&throughput_phases)
                    .map(|(cycle_ms, wall_s)| json!({"cycle_ms": cycle_ms, "wall_s": wall_s})),
            })),
            "latency": if self.raw.samples.is_empty() { Value::Null } else { json!({
                "pod_created_to_process_started_ms": pod.summary().map(Summary::to_json),
                "job_post_to_process_started_ms": post.summary().map(Summary::to_json),
                "phases": phases(&self.latency_phases()),
            })},
            "many_jobs": match (&self.raw.many, self.many()) {
                (Some(many), Some((base, figures))) => json!({
                    "baseline": base.to_json(&many.baseline),
                    "runs": many.runs.iter().zip(figures).map(|(r, f)| f.to_json(r)).collect::<Vec<_>>(),
                }),
                _ => Value::Null,
            },
            "indexed": self.raw.indexed.as_ref().map(|ix| {
                let base = ManyFigures::of(&ix.baseline, None);
                json!({
                    "nonindexed": base.to_json(&ix.baseline),
                    "indexed": ix.runs.iter().map(|r| ManyFigures::of(r, Some(base.pods_per_s)).to_json(r)).collect::<Vec<_>>(),
                })
            }),
            "worker_memory": self.raw.memory.as_ref().map(|m| json!({
                "settle_s": m.settle.as_secs_f64(),
                "idle": reading_json(m.idle),
                "pods": m.run.as_ref().map(ManyRun::pods),
                "pods_per_s": m.run.as_ref().map(|r| r.pods() as f64 / r.wall.as_secs_f64()),
                "after_pods": reading_json(m.after),
                "settled": reading_json(m.settled),
            })),
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::ManyFigures;
    use crate::ManyRun;
    use crate::cpu::Usage;

    fn run(jobs: u32, pods_per_job: u32, wall_ms: u64) -> ManyRun {
        ManyRun {
            jobs,
            pods_per_job,
            parallelism: 4,
            wall: Duration::from_millis(wall_ms),
            ..ManyRun::default()
        }
    }

    #[test]
    fn many_figures() {
        let cpu = Usage { coordinator_ms: 3000.0, machine_ms: 5000.0, worker_ms: 500.0, ..Usage::default() };
        let full = ManyRun {
            cpu: Some(cpu),
            rss_kib: Some(51_200),
            get_ms: (1..=100).map(f64::from).collect(),
            ..run(10, 100, 2000)
        };
        // (case, run, baseline pods/s, expected)
        let cases: Vec<(&str, ManyRun, Option<f64>, ManyFigures)> = vec![
            (
                "bare run, no baseline",
                run(1, 1000, 4000),
                None,
                ManyFigures {
                    pods: 1000,
                    wall_s: 4.0,
                    pods_per_s: 250.0,
                    ratio: None,
                    coordinator_ms_per_pod: None,
                    coordinator_cores: None,
                    rss_mib: None,
                    get_p50_ms: None,
                    get_p99_ms: None,
                    others_s: None,
                },
            ),
            (
                "as fast as the baseline",
                run(10, 100, 4000),
                Some(250.0),
                ManyFigures {
                    pods: 1000,
                    wall_s: 4.0,
                    pods_per_s: 250.0,
                    ratio: Some(1.0),
                    coordinator_ms_per_pod: None,
                    coordinator_cores: None,
                    rss_mib: None,
                    get_p50_ms: None,
                    get_p99_ms: None,
                    others_s: None,
                },
            ),
            (
                "everything measured",
                full,
                Some(1000.0),
                ManyFigures {
                    pods: 1000,
                    wall_s: 2.0,
                    pods_per_s: 500.0,
                    ratio: Some(0.5),
                    coordinator_ms_per_pod: Some(3.0),
                    coordinator_cores: Some(1.5),
                    rss_mib: Some(50.0),
                    get_p50_ms: Some(50.0),
                    get_p99_ms: Some(99.0),
                    others_s: Some(1.5),
                },
            ),
            (
                "a zero baseline gives no ratio",
                run(2, 50, 1000),
                Some(0.0),
                ManyFigures {
                    pods: 100,
                    wall_s: 1.0,
                    pods_per_s: 100.0,
                    ratio: None,
                    coordinator_ms_per_pod: None,
                    coordinator_cores: None,
                    rss_mib: None,
                    get_p50_ms: None,
                    get_p99_ms: None,
                    others_s: None,
                },
            ),
        ];
        for (name, run, baseline, want) in cases {
            assert_eq!(ManyFigures::of(&run, baseline), want, "{name}");
        }
    }

    #[test]
    fn many_row() {
        let r = ManyRun { rss_kib: Some(2048), get_ms: vec![1.0, 3.0], ..run(1000, 100, 50_000) };
        let row = ManyFigures::of(&r, Some(2500.0)).markdown_row("1000 Jobs", &r);
        assert_eq!(
            row,
            "| 1000 Jobs | 1000 × 100 (parallelism 4) | 100000 | 50.000 | 2000.0 | 0.80× | ? | ? | 2.0 | 1.00 / 3.00 | ? |\n"
        );
    }

    #[test]
    fn worker_memory_rows_and_json() {
        use crate::memory::Reading;
        let full = Reading {
            rss_kib: 11 * 1024 + 512,
            anon_kib: Some(1536),
            file_kib: Some(10 * 1024),
            threads: Some(7),
        };
        let bare = Reading { rss_kib: 2048, anon_kib: None, file_kib: None, threads: None };
        assert_eq!(super::reading_row("idle", Some(full)), "| idle | 11.5 | 1.5 | 10.0 | 7 |\n");
        assert_eq!(super::reading_row("idle", Some(bare)), "| idle | 2.0 | ? | ? | ? |\n");
        assert_eq!(super::reading_row("settled", None), "| settled | ? | ? | ? | ? |\n");
        assert_eq!(
            super::reading_json(Some(full)),
            serde_json::json!({"rss_mib": 11.5, "rss_anon_mib": 1.5, "rss_file_mib": 10.0, "threads": 7})
        );
        assert_eq!(super::reading_json(None), serde_json::Value::Null);
    }
}
