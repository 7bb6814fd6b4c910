//! `GET /metrics`: the state of Jobs, pods, workers and CronJobs in Prometheus' text format,
//! read from the store at each scrape. Per-Job series follow kube-state-metrics' `kube_job_*`
//! (with a `drover_` prefix), so Kubernetes dashboards and alerts carry over.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use drover_api::job::condition;
use drover_api::{CronJob, Job, Pod, Worker};
use drover_store::StoreError;

use crate::state::Coordinator;

/// The exposition format's content type.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Renders every metric.
pub fn render(coordinator: &Coordinator) -> Result<String, StoreError> {
    let (jobs, cronjobs, workers, pods_by_phase, busy, revision) = coordinator.store().read(|t| {
        let workers = t.list::<Worker>()?;
        let mut busy = Vec::with_capacity(workers.len());
        for w in &workers {
            busy.push(t.count_on_node_in::<Pod>(
                &w.metadata.name,
                &[drover_api::pod::phase::PENDING, drover_api::pod::phase::RUNNING],
            )?);
        }
        Ok((t.list::<Job>()?, t.list::<CronJob>()?, workers, t.count_by_phase::<Pod>()?, busy, t.revision()?))
    })?;
    let mut out = String::new();

    let mut states: BTreeMap<&str, usize> =
        ["Active", "Complete", "Failed", "Suspended"].map(|s| (s, 0)).into();
    for job in &jobs {
        *states.entry(job_state(job)).or_default() += 1;
    }
    family(&mut out, "drover_jobs", "Jobs by state: Complete, Failed, Suspended, or Active.");
    for (state, n) in &states {
        sample(&mut out, "drover_jobs", &[("state", state)], *n as f64);
    }

    let per_job: [PerJob; 8] = [
        ("drover_job_status_active", "Active pods of the Job.", |j| Some(f64::from(j.status.active))),
        ("drover_job_status_succeeded", "Succeeded pods of the Job.", |j| {
            Some(f64::from(j.status.succeeded))
        }),
        ("drover_job_status_failed", "Failed pods of the Job.", |j| Some(f64::from(j.status.failed))),
        ("drover_job_spec_parallelism", "The Job's parallelism.", |j| j.spec.parallelism.map(f64::from)),
        ("drover_job_spec_completions", "The Job's completions (absent in work-queue mode).", |j| {
            j.spec.completions.map(f64::from)
        }),
        ("drover_job_tasks_succeeded", "Distinct queue tasks of the Job that succeeded.", |j| {
            j.status.tasks.as_ref().map(|t| t.succeeded as f64)
        }),
        (
            "drover_job_tasks_duplicates",
            "Successful runs of a task of the Job that had already succeeded.",
            |j| j.status.tasks.as_ref().map(|t| t.duplicates as f64),
        ),
        ("drover_job_tasks_failed", "Queue tasks the Job's pods failed.", |j| {
            j.status.tasks.as_ref().map(|t| t.failed as f64)
        }),
    ];
    for (name, help, value) in per_job {
        family(&mut out, name, help);
        for job in &jobs {
            if let Some(v) = value(job) {
                sample(&mut out, name, &[("job_name", &job.metadata.name)], v);
            }
        }
    }
    family(&mut out, "drover_job_complete", "1 when the Job has the Complete condition.");
    for job in &jobs {
        let done = job.condition_true(condition::COMPLETE).is_some();
        sample(
            &mut out,
            "drover_job_complete",
            &[("job_name", &job.metadata.name)],
            f64::from(u8::from(done)),
        );
    }
    family(&mut out, "drover_job_failed", "1 when the Job has the Failed condition, by its reason.");
    for job in &jobs {
        if let Some(c) = job.condition_true(condition::FAILED) {
            sample(
                &mut out,
                "drover_job_failed",
                &[("job_name", &job.metadata.name), ("reason", &c.reason)],
                1.0,
            );
        }
    }

    family(&mut out, "drover_pods", "Pods by phase.");
    for (phase, n) in &pods_by_phase {
        sample(&mut out, "drover_pods", &[("phase", phase)], *n as f64);
    }

    let mut by_status: BTreeMap<&str, usize> = BTreeMap::new();
    for w in &workers {
        *by_status.entry(w.status.phase.as_str()).or_default() += 1;
    }
    family(&mut out, "drover_workers", "Workers by status: Ready, Cordoned, Draining or Lost.");
    for (status, n) in &by_status {
        sample(&mut out, "drover_workers", &[("status", status)], *n as f64);
    }
    family(&mut out, "drover_worker_slots", "Pods the worker runs at once.");
    for w in &workers {
        sample(&mut out, "drover_worker_slots", &[("worker", &w.metadata.name)], f64::from(w.spec.slots));
    }
    family(&mut out, "drover_worker_pods", "Pods bound to the worker that are Pending or Running.");
    for (w, n) in workers.iter().zip(&busy) {
        sample(&mut out, "drover_worker_pods", &[("worker", &w.metadata.name)], *n as f64);
    }

    family(&mut out, "drover_cronjobs", "CronJobs, suspended or not.");
    let suspended = cronjobs.iter().filter(|c| c.suspended()).count();
    sample(&mut out, "drover_cronjobs", &[("suspended", "false")], (cronjobs.len() - suspended) as f64);
    sample(&mut out, "drover_cronjobs", &[("suspended", "true")], suspended as f64);
    family(&mut out, "drover_cronjob_active", "Jobs of the CronJob still running.");
    for cj in &cronjobs {
        sample(
            &mut out,
            "drover_cronjob_active",
            &[("cronjob", &cj.metadata.name)],
            cj.status.active.len() as f64,
        );
    }
    family(
        &mut out,
        "drover_cronjob_missed_schedules",
        "Missed fire times the CronJob records (the last 20).",
    );
    for cj in &cronjobs {
        let n = cj.status.missed_schedules.len() as f64;
        sample(&mut out, "drover_cronjob_missed_schedules", &[("cronjob", &cj.metadata.name)], n);
    }

    let ledger = coordinator.ledger_stats();
    for (name, help, value) in [
        (
            "drover_task_ledger_batches_total",
            "Batches of task successes committed to the task ledger, one transaction each.",
            &ledger.batches,
        ),
        ("drover_task_ledger_tasks_total", "Task successes recorded in the task ledger.", &ledger.tasks),
        (
            "drover_task_ledger_duplicates_total",
            "Task successes recorded for a task that had already succeeded.",
            &ledger.duplicates,
        ),
    ] {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
        sample(&mut out, name, &[], value.load(std::sync::atomic::Ordering::Relaxed) as f64);
    }

    family(&mut out, "drover_store_revision", "The store's revision: it grows by one per object written.");
    sample(&mut out, "drover_store_revision", &[], revision as f64);
    Ok(out)
}

/// A per-Job gauge: its name, its help, and its value for one Job (none: no sample).
type PerJob = (&'static str, &'static str, fn(&Job) -> Option<f64>);

fn job_state(job: &Job) -> &'static str {
    if job.condition_true(condition::COMPLETE).is_some() {
        "Complete"
    } else if job.condition_true(condition::FAILED).is_some() {
        "Failed"
    } else if job.suspended() {
        "Suspended"
    } else {
        "Active"
    }
}

fn family(out: &mut String, name: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
}

fn sample(out: &mut String, name: &str, labels: &[(&str, &str)], value: f64) {
    out.push_str(name);
    if !labels.is_empty() {
        out.push('{');
        for (i, (k, v)) in labels.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(out, "{k}=\"{}\"", escape(v));
        }
        out.push('}');
    }
    let _ = writeln!(out, " {value}");
}

/// Label values escape `\`, `"` and newlines.
fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_escape_label_values_and_print_integers_plainly() {
        let mut out = String::new();
        sample(&mut out, "m", &[("a", "x\"y\\z\nw"), ("b", "c")], 3.0);
        sample(&mut out, "n", &[], 0.5);
        assert_eq!(out, "m{a=\"x\\\"y\\\\z\\nw\",b=\"c\"} 3\nn 0.5\n");
    }
}
