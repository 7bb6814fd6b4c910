//! kubectl-style output: tables, `-o json|yaml|name`, and `describe`.

use chrono::{SecondsFormat, Utc};
use drover_api::table::{self, human_duration as human, row_text};
use drover_api::{CronJob, Event, Job, MissedSchedule, Pod, PodTemplateSpec, Time, Worker};

/// A table printed like kubectl: upper-case headers, columns separated by three spaces.
pub(crate) struct Table {
    headers: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub(crate) fn new(headers: Vec<&'static str>) -> Table {
        Table { headers, rows: Vec::new() }
    }

    pub(crate) fn push(&mut self, row: Vec<String>) {
        self.rows.push(row);
    }

    /// Renders the table; `with_headers: false` for rows streamed by `-w` after the first.
    pub(crate) fn render(&self, with_headers: bool) -> String {
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.len()).collect();
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate() {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
        let mut out = String::new();
        let mut line = |cells: Vec<&str>| {
            let n = cells.len();
            for (i, cell) in cells.into_iter().enumerate() {
                out.push_str(cell);
                if i + 1 < n {
                    out.push_str(&" ".repeat(widths[i] - cell.chars().count() + 3));
                }
            }
            out.push('\n');
        };
        if with_headers {
            line(self.headers.clone());
        }
        for row in &self.rows {
            line(row.iter().map(String::as_str).collect());
        }
        out
    }
}

fn age(t: Option<drover_api::Time>) -> String {
    table::age(t, Utc::now())
}

/// kubectl's Job columns; `-o wide` adds TASKS, COMPLETED INDEXES, CONTAINERS, IMAGES and
/// SELECTOR, and `tasks` (queue Jobs listed) adds TASKS to the default ones.
pub(crate) fn job_headers(wide: bool, tasks: bool) -> Vec<&'static str> {
    let mut h = vec!["NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE"];
    if wide {
        h.extend(["TASKS", "COMPLETED INDEXES", "CONTAINERS", "IMAGES", "SELECTOR"]);
    } else if tasks {
        h.push("TASKS");
    }
    h
}

/// The TASKS column of `get jobs -o wide`: `9 ok, 0 failed, 0 requeued`, with `, 1 dup` when a
/// task succeeded more than once, or `-` without a queue.
pub(crate) fn tasks(job: &Job) -> String {
    match job.status.tasks {
        Some(t) if t.duplicates > 0 => {
            format!("{} ok, {} failed, {} requeued, {} dup", t.succeeded, t.failed, t.requeued, t.duplicates)
        }
        Some(t) => format!("{} ok, {} failed, {} requeued", t.succeeded, t.failed, t.requeued),
        None if job.spec.queue.is_some() => "0 ok, 0 failed, 0 requeued".into(),
        None => "-".into(),
    }
}

/// The longest list of indexes `describe job` and `get jobs -o wide` print before they cut it
/// (at the next comma, then `...`), as kubectl's `describe` does.
const INDEXES_SOFT_LIMIT: usize = 50;

/// kubectl's `capIndexesListOrNone`: `<none>` when empty, else the list cut after the first
/// comma at or past `soft_limit` characters, with `...`.
pub(crate) fn cap_indexes(indexes: Option<&str>, soft_limit: usize) -> String {
    let indexes = indexes.unwrap_or("");
    if indexes.is_empty() {
        return "<none>".into();
    }
    // The interval form is ASCII, so byte offsets are character boundaries.
    match indexes.bytes().skip(soft_limit).position(|b| b == b',') {
        Some(at) => format!("{}...", &indexes[..=soft_limit + at]),
        None => indexes.to_string(),
    }
}

/// The COMPLETED INDEXES column of `get jobs -o wide`: an Indexed Job's `completedIndexes`
/// (`<none>` before the first), or `-` for a NonIndexed Job.
pub(crate) fn completed_indexes(job: &Job) -> String {
    if job.spec.is_indexed() {
        cap_indexes(job.status.completed_indexes.as_deref(), INDEXES_SOFT_LIMIT)
    } else {
        "-".into()
    }
}

/// kube-apiserver's Job cells (the server's Table has the same), with Drover's TASKS (and, with
/// `-o wide`, COMPLETED INDEXES) after AGE.
pub(crate) fn job_row(job: &Job, wide: bool, with_tasks: bool) -> Vec<String> {
    let mut row = row_text(job, Utc::now(), wide);
    if wide {
        row.insert(5, tasks(job));
        row.insert(6, completed_indexes(job));
    } else if with_tasks {
        row.push(tasks(job));
    }
    row
}

/// The Job's selector as `describe job` prints it (empty without one).
pub(crate) fn selector(job: &Job) -> String {
    table::label_selector_string(job.spec.selector.as_ref()).unwrap_or_else(|_| "<error>".into())
}

/// kubectl's Pod columns; `index` (a pod of an Indexed Job listed, or `-o wide`) adds INDEX,
/// and `-o wide` adds WORKER and IMAGE.
pub(crate) fn pod_headers(wide: bool, index: bool) -> Vec<&'static str> {
    let mut h = vec!["NAME", "READY", "STATUS", "RESTARTS", "AGE"];
    if index || wide {
        h.push("INDEX");
    }
    if wide {
        h.extend(["WORKER", "IMAGE"]);
    }
    h
}

/// The INDEX column of `get pods`: the pod's completion index (the
/// `batch.kubernetes.io/job-completion-index` annotation), or `-`.
pub(crate) fn pod_index(pod: &Pod) -> String {
    let key = drover_api::labels::JOB_COMPLETION_INDEX;
    let meta = &pod.metadata;
    meta.annotations.get(key).or_else(|| meta.labels.get(key)).cloned().unwrap_or_else(|| "-".into())
}

/// Whether `get pods` shows INDEX without `-o wide`: some pod listed belongs to an Indexed Job.
pub(crate) fn any_pod_index(pods: &[Pod]) -> bool {
    pods.iter().any(|p| pod_index(p) != "-")
}

/// kube-apiserver's default Pod cells; INDEX (see [`pod_headers`]); `-o wide` adds Drover's
/// WORKER and IMAGE.
pub(crate) fn pod_row(pod: &Pod, wide: bool, index: bool) -> Vec<String> {
    let mut row = row_text(pod, Utc::now(), false);
    if index || wide {
        row.push(pod_index(pod));
    }
    if wide {
        row.push(pod.node_name().unwrap_or("<none>").to_string());
        row.push(
            pod.spec.containers.first().and_then(|c| c.image.clone()).unwrap_or_else(|| "<none>".into()),
        );
    }
    row
}

pub(crate) fn worker_headers(wide: bool) -> Vec<&'static str> {
    let mut h = vec!["NAME", "STATUS", "SLOTS", "RUNNING", "LAST-HEARTBEAT", "AGE", "VERSION"];
    if wide {
        h.push("HOSTNAME");
    }
    h
}

/// The server's Worker cells, with `running` counted from the pods listed.
pub(crate) fn worker_row(w: &Worker, running: usize, wide: bool) -> Vec<String> {
    let running = i64::try_from(running).unwrap_or(i64::MAX);
    table::visible_text(table::WORKER_COLUMNS, &table::worker_cells(w, running, Utc::now()), wide)
}

/// `True`/`False`, as kubectl prints a bool in tables and `describe`.
fn title_bool(b: bool) -> &'static str {
    if b { "True" } else { "False" }
}

/// The columns of `get cronjobs` (kubectl 1.27+).
pub(crate) fn cronjob_headers(wide: bool) -> Vec<&'static str> {
    let mut h = vec!["NAME", "SCHEDULE", "TIMEZONE", "SUSPEND", "ACTIVE", "LAST SCHEDULE", "AGE"];
    if wide {
        h.extend(["CONTAINERS", "IMAGES", "SELECTOR"]);
    }
    h
}

/// A row of `get cronjobs`: the server's cells.
pub(crate) fn cronjob_row(cj: &CronJob, wide: bool) -> Vec<String> {
    row_text(cj, Utc::now(), wide)
}

/// A selector as `describe cronjob` prints it: `<unset>` without one.
fn label_selector(selector: Option<&drover_api::LabelSelector>) -> Option<String> {
    selector.map(|s| table::label_selector_string(Some(s)).unwrap_or_else(|_| "<error>".into()))
}

fn map_or_none(m: &std::collections::BTreeMap<String, String>, indent: usize) -> String {
    if m.is_empty() {
        return "<none>".into();
    }
    m.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(&format!("\n{}", " ".repeat(indent)))
}

/// `get events`: kubectl's columns, oldest first.
pub(crate) fn events_table(events: &[Event]) -> String {
    let mut t = Table::new(vec!["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]);
    let now = Utc::now();
    for e in events {
        t.push(row_text(e, now, false));
    }
    t.render(true)
}

fn events_section(events: &[Event]) -> String {
    if events.is_empty() {
        return "Events:           <none>\n".into();
    }
    let mut t = Table::new(vec!["Type", "Reason", "Age", "From", "Message"]);
    for e in events {
        t.push(vec![
            e.type_.clone(),
            e.reason.clone(),
            age(Some(e.timestamp)),
            e.source_component().into(),
            e.message.clone(),
        ]);
    }
    let mut out = String::from("Events:\n");
    let rendered = t.render(true);
    let mut lines = rendered.lines();
    if let Some(h) = lines.next() {
        out.push_str(&format!("  {h}\n"));
        let dashes: String = h
            .split_inclusive(|c: char| c.is_whitespace())
            .map(|w| {
                let word = w.trim_end();
                format!("{}{}", "-".repeat(word.len()), &w[word.len()..])
            })
            .collect();
        out.push_str(&format!("  {}\n", dashes.trim_end()));
    }
    for l in lines {
        out.push_str(&format!("  {l}\n"));
    }
    out
}

/// The `Pod Template:` block of `describe job` and `describe cronjob`.
fn pod_template_section(t: &PodTemplateSpec) -> String {
    let mut out = String::new();
    out.push_str("Pod Template:\n");
    out.push_str(&format!("  Labels:  {}\n", map_or_none(&t.metadata.labels, 11)));
    out.push_str("  Containers:\n");
    for c in &t.spec.containers {
        out.push_str(&format!("   {}:\n", c.name));
        out.push_str(&format!(
            "    Image:      {} (kept, not run: the command runs on the worker)\n",
            c.image.as_deref().unwrap_or("<none>")
        ));
        if !c.command.is_empty() {
            out.push_str("    Command:\n");
            for a in &c.command {
                out.push_str(&format!("      {a}\n"));
            }
        }
        if !c.args.is_empty() {
            out.push_str("    Args:\n");
            for a in &c.args {
                out.push_str(&format!("      {a}\n"));
            }
        }
        if c.env.is_empty() {
            out.push_str("    Environment:  <none>\n");
        } else {
            out.push_str("    Environment:\n");
            for e in &c.env {
                out.push_str(&format!("      {}:  {}\n", e.name, redact(&e.value)));
            }
        }
    }
    out.push_str(&format!("  Restart Policy:  {}\n", t.spec.restart_policy.as_deref().unwrap_or("<unset>")));
    out
}

/// `describe job`.
/// `describe job` with backoffLimitPerIndex: the failed pods of each index that had some, lowest
/// index first (`1: 2 failed, 3: 1 failed (1 ignored)`), at most 20 indexes, else `<none>`. A
/// pod's failure is ignored when its index's next pod carries a higher ignored count.
fn index_failures(pods: &[Pod]) -> String {
    use std::collections::BTreeMap;
    let index =
        |p: &Pod| p.metadata.annotations.get(drover_api::labels::JOB_COMPLETION_INDEX)?.parse::<i32>().ok();
    let count =
        |p: &Pod, key: &str| p.metadata.annotations.get(key).and_then(|v| v.parse::<i32>().ok()).unwrap_or(0);
    // Per index: failed pods, and the highest counts a pod of it carries (counted, ignored).
    let mut per: BTreeMap<i32, (usize, i32, i32)> = BTreeMap::new();
    for pod in pods {
        let Some(i) = index(pod) else { continue };
        let e = per.entry(i).or_default();
        if pod.status.phase == drover_api::pod::phase::FAILED {
            e.0 += 1;
        }
        e.1 = e.1.max(count(pod, drover_api::labels::JOB_INDEX_FAILURE_COUNT));
        e.2 = e.2.max(count(pod, drover_api::labels::JOB_INDEX_IGNORED_FAILURE_COUNT));
    }
    let items: Vec<String> = per
        .into_iter()
        .filter(|(_, (failed, _, _))| *failed > 0)
        .map(|(i, (failed, _, ignored))| {
            if ignored > 0 {
                format!("{i}: {failed} failed ({ignored} ignored)")
            } else {
                format!("{i}: {failed} failed")
            }
        })
        .collect();
    match items.len() {
        0 => "<none>".into(),
        n if n > 20 => format!("{}, … ({n} indexes)", items[..20].join(", ")),
        _ => items.join(", "),
    }
}

pub(crate) fn describe_job(job: &Job, pods: &[Pod], events: &[Event]) -> String {
    let s = &job.spec;
    let active = pods.iter().filter(|p| p.is_active()).count();
    let ready = job.status.ready.unwrap_or(0);
    let mut out = String::new();
    // Values line up at column 18; a longer key keeps one space before its value.
    let mut kv = |k: &str, v: String| out.push_str(&format!("{:<17} {}\n", format!("{k}:"), v));
    kv("Name", job.metadata.name.clone());
    kv("Namespace", "default".into());
    kv("Selector", selector(job));
    kv("Labels", map_or_none(&job.metadata.labels, 18));
    kv("Annotations", map_or_none(&job.metadata.annotations, 18));
    kv("Parallelism", job.parallelism().to_string());
    kv("Completions", s.completions.map(|c| c.to_string()).unwrap_or_else(|| "<unset>".into()));
    kv("Completion Mode", s.completion_mode.clone().unwrap_or_else(|| "NonIndexed".into()));
    kv("Suspend", job.suspended().to_string());
    kv("Backoff Limit", job.backoff_limit().to_string());
    if let Some(n) = s.backoff_limit_per_index {
        kv("Backoff Limit Per Index", n.to_string());
    }
    if let Some(n) = s.max_failed_indexes {
        kv("Max Failed Indexes", n.to_string());
    }
    if let Some(ads) = s.active_deadline_seconds {
        kv("Active Deadline Seconds", format!("{ads}s"));
    }
    if let Some(ttl) = s.ttl_seconds_after_finished {
        kv("TTL Seconds After Finished", ttl.to_string());
    }
    if let Some(t) = job.status.start_time {
        kv("Start Time", t.to_rfc2822());
    }
    if let Some(t) = job.status.completion_time {
        kv("Completed At", t.to_rfc2822());
        if let Some(st) = job.status.start_time {
            kv("Duration", human(t - st));
        }
    }
    if let Some(q) = &s.queue {
        kv("Queue", format!("{} on {}", q.name, redact(&q.url)));
        kv("Queue Handler", q.handler.clone().unwrap_or_else(|| "Exec".into()));
        kv("Tasks", tasks(job));
    }
    kv(
        "Pods Statuses",
        format!(
            "{active} Active ({ready} Ready) / {} Succeeded / {} Failed",
            job.status.succeeded, job.status.failed
        ),
    );
    if s.is_indexed() {
        kv("Completed Indexes", cap_indexes(job.status.completed_indexes.as_deref(), INDEXES_SOFT_LIMIT));
        if s.backoff_limit_per_index.is_some() {
            kv("Failed Indexes", cap_indexes(job.status.failed_indexes.as_deref(), INDEXES_SOFT_LIMIT));
            kv("Index Failures", index_failures(pods));
        }
    }
    out.push_str(&pod_template_section(&s.template));
    if !job.status.conditions.is_empty() {
        let mut t = Table::new(vec!["Type", "Status", "Reason", "Message"]);
        for c in &job.status.conditions {
            t.push(vec![c.type_.clone(), c.status.clone(), c.reason.clone(), c.message.clone()]);
        }
        out.push_str("Conditions:\n");
        for l in t.render(true).lines() {
            out.push_str(&format!("  {l}\n"));
        }
    }
    out.push_str(&events_section(events));
    out
}

fn kv(out: &mut String, width: usize, key: &str, value: impl std::fmt::Display) {
    out.push_str(&format!("{:<width$}{value}\n", format!("{key}:")));
}

fn rfc3339(t: Time) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Drover's `Missed Schedules:` block of `describe cronjob`: newest first, one line per entry.
fn missed_schedules_section(missed: &[MissedSchedule], width: usize) -> String {
    let mut out = String::new();
    if missed.is_empty() {
        kv(&mut out, width, "Missed Schedules", "<none>");
        return out;
    }
    let mut entries: Vec<&MissedSchedule> = missed.iter().collect();
    // Stored newest last; a stable sort keeps that order among equal times.
    entries.sort_by_key(|m| std::cmp::Reverse(m.scheduled_time));
    let mut t = Table::new(vec!["", "", ""]);
    for m in entries {
        let since = match m.first_scheduled_time {
            Some(first) if m.count > 1 => format!("({} times since {})", m.count, rfc3339(first)),
            _ if m.count > 1 => format!("({} times)", m.count),
            _ => String::new(),
        };
        t.push(vec![rfc3339(m.scheduled_time), m.reason.clone(), since]);
    }
    out.push_str("Missed Schedules:\n");
    for l in t.render(false).lines() {
        out.push_str(&format!("  {}\n", l.trim_end()));
    }
    out
}

/// `describe cronjob`.
pub(crate) fn describe_cronjob(cj: &CronJob, events: &[Event]) -> String {
    const W: usize = 31;
    const W2: usize = 21;
    let s = &cj.spec;
    let template = &s.job_template.spec;
    let unset = || "<unset>".to_string();
    let mut out = String::new();
    kv(&mut out, W, "Name", &cj.metadata.name);
    kv(&mut out, W, "Namespace", "default");
    kv(&mut out, W, "Labels", map_or_none(&cj.metadata.labels, W));
    kv(&mut out, W, "Annotations", map_or_none(&cj.metadata.annotations, W));
    kv(&mut out, W, "Schedule", &s.schedule);
    kv(&mut out, W, "Time Zone", s.time_zone.clone().unwrap_or_else(unset));
    kv(&mut out, W, "Concurrency Policy", cj.concurrency_policy());
    kv(&mut out, W, "Suspend", title_bool(cj.suspended()));
    kv(&mut out, W, "Successful Job History Limit", cj.successful_jobs_history_limit());
    kv(&mut out, W, "Failed Job History Limit", cj.failed_jobs_history_limit());
    kv(
        &mut out,
        W,
        "Starting Deadline Seconds",
        s.starting_deadline_seconds.map(|d| format!("{d}s")).unwrap_or_else(unset),
    );
    kv(&mut out, W, "Selector", label_selector(template.selector.as_ref()).unwrap_or_else(unset));
    kv(&mut out, W, "Parallelism", template.parallelism.map(|p| p.to_string()).unwrap_or_else(unset));
    kv(&mut out, W, "Completions", template.completions.map(|c| c.to_string()).unwrap_or_else(unset));
    out.push_str(&pod_template_section(&template.template));
    kv(
        &mut out,
        W2,
        "Last Schedule Time",
        cj.status.last_schedule_time.map(|t| t.to_rfc2822()).unwrap_or_else(unset),
    );
    let active: Vec<&str> = cj.status.active.iter().map(|r| r.name.as_str()).collect();
    kv(&mut out, W2, "Active Jobs", if active.is_empty() { "<none>".into() } else { active.join(", ") });
    out.push_str(&missed_schedules_section(&cj.status.missed_schedules, W2));
    out.push_str(&events_section(events));
    out
}

/// `describe pod`.
pub(crate) fn describe_pod(pod: &Pod, events: &[Event]) -> String {
    let mut out = String::new();
    let mut kv = |k: &str, v: String| out.push_str(&format!("{:<14}{}\n", format!("{k}:"), v));
    kv("Name", pod.metadata.name.clone());
    kv("Namespace", "default".into());
    kv("Worker", pod.node_name().unwrap_or("<none>").into());
    kv("Labels", map_or_none(&pod.metadata.labels, 14));
    kv("Status", table::pod_status(pod));
    if let Some(r) = &pod.status.reason {
        kv("Reason", r.clone());
    }
    if let Some(m) = &pod.status.message {
        kv("Message", m.clone());
    }
    if let Some(owner) = pod.metadata.controller_ref() {
        kv("Controlled By", format!("{}/{}", owner.kind, owner.name));
    }
    let init =
        pod.status.init_container_statuses.iter().map(|cs| ("Init Container", cs, &pod.spec.init_containers));
    let main = pod.status.container_statuses.iter().map(|cs| ("Container", cs, &pod.spec.containers));
    for (what, cs, specs) in init.chain(main) {
        out.push_str(&format!("{what} {}:\n", cs.name));
        if let Some(t) = &cs.state.terminated {
            out.push_str(&format!(
                "  State:      Terminated\n    Reason:     {}\n    Exit Code:  {}\n",
                t.reason, t.exit_code
            ));
            if let Some(m) = &t.message {
                out.push_str(&format!("    Message:    {m}\n"));
            }
        } else if cs.state.running.is_some() {
            out.push_str("  State:      Running\n");
        } else if let Some(w) = &cs.state.waiting {
            out.push_str(&format!("  State:      Waiting\n    Reason:     {}\n", w.reason));
        }
        out.push_str(&format!("  Restart Count:  {}\n", cs.restart_count));
        let mounts =
            specs.iter().find(|c| c.name == cs.name).map(|c| c.volume_mounts.as_slice()).unwrap_or_default();
        if !mounts.is_empty() {
            out.push_str("  Mounts:\n");
            for m in mounts {
                let sub = m.sub_path.as_deref().map(|p| format!(",path=\"{p}\"")).unwrap_or_default();
                let mode = if m.read_only { "ro" } else { "rw" };
                out.push_str(&format!("    {} from {} ({mode}{sub})\n", m.mount_path, m.name));
            }
        }
    }
    if !pod.spec.volumes.is_empty() {
        out.push_str("Volumes:\n");
        for v in &pod.spec.volumes {
            let medium = v.empty_dir.as_ref().and_then(|d| d.medium.clone()).unwrap_or_default();
            out.push_str(&format!("  {}:\n    Type:    EmptyDir (a temporary directory that shares a pod's lifetime)\n    Medium:  {medium}\n", v.name));
        }
    }
    out.push_str(&events_section(events));
    out
}

/// Hides the password of a URL-looking value (`amqp://user:secret@host` → `amqp://user:***@host`).
pub(crate) fn redact(value: &str) -> String {
    drover_api::meta::redact_url(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_pads_like_kubectl() {
        let mut t = Table::new(vec!["NAME", "STATUS"]);
        t.push(vec!["pi".into(), "Complete".into()]);
        t.push(vec!["longer-name".into(), "Running".into()]);
        assert_eq!(t.render(true), "NAME          STATUS\npi            Complete\nlonger-name   Running\n");
    }

    #[test]
    fn redacts_url_passwords() {
        assert_eq!(redact("amqp://guest:guest@rabbitmq:5672"), "amqp://guest:***@rabbitmq:5672");
        assert_eq!(redact("redis://redis:6379"), "redis://redis:6379");
        assert_eq!(redact("plain"), "plain");
    }

    /// The CLI's headers are the server Table's (kubectl upper-cases the column names), plus
    /// Drover's TASKS for Jobs and WORKER and IMAGE for `get pods -o wide`.
    #[test]
    fn headers_are_the_server_tables() {
        use drover_api::table::headers;
        assert_eq!(job_headers(false, false), headers::<Job>(false));
        let mut wide = headers::<Job>(true);
        wide.insert(5, "TASKS".into());
        wide.insert(6, "COMPLETED INDEXES".into());
        assert_eq!(job_headers(true, false), wide);
        assert_eq!(pod_headers(false, false), headers::<Pod>(false));
        assert_eq!(pod_headers(false, true)[5..], ["INDEX"]);
        assert_eq!(pod_headers(true, false)[5..], ["INDEX", "WORKER", "IMAGE"]);
        assert_eq!(cronjob_headers(false), headers::<CronJob>(false));
        assert_eq!(cronjob_headers(true), headers::<CronJob>(true));
        assert_eq!(worker_headers(false), headers::<Worker>(false));
        assert_eq!(worker_headers(true), headers::<Worker>(true));
        assert_eq!(["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"], headers::<Event>(false).as_slice());
    }

    #[test]
    fn job_rows_add_tasks_to_the_server_cells() {
        let mut job = Job::default();
        job.metadata.name = "q".into();
        job.spec.parallelism = Some(3);
        job.spec.queue =
            Some(drover_api::QueueSpec { url: "redis://r".into(), name: "n".into(), ..Default::default() });
        job.status.succeeded = 1;
        assert_eq!(job_row(&job, false, false), ["q", "Running", "1/1 of 3", "", "<unknown>"]);
        assert_eq!(job_row(&job, false, true)[5], "0 ok, 0 failed, 0 requeued");
        let wide = job_row(&job, true, false);
        assert_eq!(wide.len(), 10);
        assert_eq!(wide[5..], ["0 ok, 0 failed, 0 requeued", "-", "", "", "<none>"]);
    }

    #[test]
    fn task_counts_show_duplicates_only_when_there_are_some() {
        let mut job = Job::default();
        assert_eq!(tasks(&job), "-");
        job.status.tasks =
            Some(drover_api::TaskCounts { succeeded: 9, failed: 1, requeued: 2, duplicates: 0 });
        assert_eq!(tasks(&job), "9 ok, 1 failed, 2 requeued");
        job.status.tasks.as_mut().unwrap().duplicates = 1;
        assert_eq!(tasks(&job), "9 ok, 1 failed, 2 requeued, 1 dup");
    }

    fn sample_cronjob() -> CronJob {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "batch/v1",
            "kind": "CronJob",
            "metadata": {"name": "hello", "uid": "cj-uid", "labels": {"team": "a"}},
            "spec": {
                "schedule": "*/5 * * * *",
                "startingDeadlineSeconds": 200,
                "concurrencyPolicy": "Forbid",
                "suspend": true,
                "jobTemplate": {"spec": {
                    "parallelism": 2,
                    "template": {"spec": {
                        "restartPolicy": "OnFailure",
                        "containers": [{
                            "name": "hello",
                            "image": "busybox",
                            "command": ["/bin/sh", "-c"],
                            "args": ["date; echo hi"]
                        }]
                    }}
                }}
            },
            "status": {
                "active": [
                    {"apiVersion": "batch/v1", "kind": "Job", "name": "hello-101", "uid": "u1"},
                    {"apiVersion": "batch/v1", "kind": "Job", "name": "hello-102", "uid": "u2"}
                ],
                "missedSchedules": [
                    {"scheduledTime": "2024-05-01T10:00:00Z", "reason": "Forbid"},
                    {
                        "scheduledTime": "2024-05-01T10:20:00Z",
                        "reason": "Superseded",
                        "count": 3,
                        "firstScheduledTime": "2024-05-01T10:10:00Z"
                    }
                ]
            }
        }))
        .expect("a valid CronJob")
    }

    #[test]
    fn cronjob_table_row() {
        assert_eq!(
            cronjob_headers(false),
            ["NAME", "SCHEDULE", "TIMEZONE", "SUSPEND", "ACTIVE", "LAST SCHEDULE", "AGE"]
        );
        assert_eq!(cronjob_headers(true)[7..], ["CONTAINERS", "IMAGES", "SELECTOR"]);
        let mut cj = sample_cronjob();
        cj.status.last_schedule_time = Some(Utc::now() - chrono::Duration::hours(3));
        cj.metadata.creation_timestamp = Some(Utc::now() - chrono::Duration::days(3));
        let row = cronjob_row(&cj, false);
        assert_eq!(row, ["hello", "*/5 * * * *", "<none>", "True", "2", "3h", "3d"]);

        cj.spec.time_zone = Some("Europe/Berlin".into());
        cj.spec.suspend = None;
        cj.status.active.clear();
        cj.status.last_schedule_time = None;
        let row = cronjob_row(&cj, true);
        assert_eq!(
            row,
            [
                "hello",
                "*/5 * * * *",
                "Europe/Berlin",
                "False",
                "0",
                "<none>",
                "3d",
                "hello",
                "busybox",
                "<none>"
            ]
        );
    }

    #[test]
    fn describe_cronjob_shows_missed_schedules_and_active_jobs() {
        let mut cj = sample_cronjob();
        cj.status.last_schedule_time = Some("2024-05-01T10:25:00Z".parse().expect("a time"));
        let text = describe_cronjob(&cj, &[]);
        assert!(text.starts_with("Name:                          hello\n"), "{text}");
        for want in [
            "Labels:                        team=a\n",
            "Schedule:                      */5 * * * *\n",
            "Time Zone:                     <unset>\n",
            "Concurrency Policy:            Forbid\n",
            "Suspend:                       True\n",
            "Successful Job History Limit:  3\n",
            "Failed Job History Limit:      1\n",
            "Starting Deadline Seconds:     200s\n",
            "Selector:                      <unset>\n",
            "Parallelism:                   2\n",
            "Completions:                   <unset>\n",
            "Pod Template:\n",
            "    Command:\n      /bin/sh\n      -c\n    Args:\n      date; echo hi\n",
            "  Restart Policy:  OnFailure\n",
            "Last Schedule Time:  Wed, 1 May 2024 10:25:00 +0000\n",
            "Active Jobs:         hello-101, hello-102\n",
            "Events:           <none>\n",
        ] {
            assert!(text.contains(want), "lacks {want:?}:\n{text}");
        }
        // Newest first, and the count of a run of missed times.
        let missed = "Missed Schedules:\n  2024-05-01T10:20:00Z   Superseded   (3 times since 2024-05-01T10:10:00Z)\n  \
                      2024-05-01T10:00:00Z   Forbid\nEvents:";
        assert!(text.contains(missed), "lacks {missed:?}:\n{text}");

        cj.status.active.clear();
        cj.status.missed_schedules.clear();
        let text = describe_cronjob(&cj, &[]);
        assert!(text.contains("Active Jobs:         <none>\n"), "{text}");
        assert!(text.contains("Missed Schedules:    <none>\n"), "{text}");
    }

    #[test]
    fn describe_cronjob_events_come_from_the_cronjob_controller() {
        let cj = sample_cronjob();
        let event = Event::normal(
            "CronJob",
            "hello",
            "cj-uid",
            "SuccessfulCreate",
            "Created job hello-101".into(),
            Utc::now(),
        );
        let text = describe_cronjob(&cj, &[event]);
        let events = &text[text.find("Events:\n").expect("an events table")..];
        assert!(events.contains("cronjob-controller"), "{events}");
        assert!(events.contains("Created job hello-101"), "{events}");
    }

    /// kubectl's `capIndexesListOrNone` (describe.go), with its soft limit of 50.
    #[test]
    fn long_index_lists_are_cut_after_a_comma_as_kubectl_does() {
        let cases: &[(Option<&str>, usize, &str)] = &[
            (None, 50, "<none>"),
            (Some(""), 50, "<none>"),
            (Some("0-4"), 50, "0-4"),
            (Some("1,3,5,7"), 3, "1,3,..."),
            (Some("1,3,5,7"), 2, "1,3,..."),
            (Some("1,3,5,7"), 5, "1,3,5,..."),
            (Some("1,3,5,7"), 6, "1,3,5,7"),
            (Some("10-20,30"), 2, "10-20,..."),
        ];
        for (indexes, limit, want) in cases {
            assert_eq!(cap_indexes(*indexes, *limit), *want, "{indexes:?} at {limit}");
        }
    }

    #[test]
    fn indexed_jobs_show_completed_indexes_and_their_pods_an_index() {
        let mut job = Job::default();
        job.metadata.name = "indexed-job".into();
        job.spec.completions = Some(5);
        job.spec.completion_mode = Some("Indexed".into());
        assert_eq!(job_row(&job, true, false)[6], "<none>");
        job.status.completed_indexes = Some("0,2-4".into());
        job.status.succeeded = 4;
        assert_eq!(job_row(&job, true, false)[6], "0,2-4");
        let text = describe_job(&job, &[], &[]);
        assert!(text.contains("Completion Mode:  Indexed\n"), "{text}");
        assert!(text.contains("Completed Indexes: 0,2-4\n"), "{text}");
        job.spec.completion_mode = None;
        assert_eq!(job_row(&job, true, false)[6], "-");
        assert!(!describe_job(&job, &[], &[]).contains("Completed Indexes"));

        // backoffLimitPerIndex: the failed indexes and each index's failed pods.
        job.spec.completion_mode = Some("Indexed".into());
        job.spec.backoff_limit_per_index = Some(1);
        job.status.failed_indexes = Some("1".into());
        let failed_pod = |i: &str, count: &str| {
            let mut p = Pod::default();
            p.metadata.annotations.insert(drover_api::labels::JOB_COMPLETION_INDEX.into(), i.into());
            p.metadata.annotations.insert(drover_api::labels::JOB_INDEX_FAILURE_COUNT.into(), count.into());
            p.status.phase = "Failed".into();
            p
        };
        let pods = [failed_pod("1", "0"), failed_pod("1", "1"), failed_pod("3", "0")];
        let text = describe_job(&job, &pods, &[]);
        assert!(text.contains("Backoff Limit Per Index: 1\n"), "{text}");
        assert!(text.contains("Failed Indexes:   1\n"), "{text}");
        assert!(text.contains("Index Failures:   1: 2 failed, 3: 1 failed\n"), "{text}");

        let mut pod = Pod::default();
        pod.metadata.name = "indexed-job-3-abcde".into();
        assert!(!any_pod_index(std::slice::from_ref(&pod)));
        assert_eq!(pod_row(&pod, false, false).len(), 5);
        assert_eq!(pod_row(&pod, true, false)[5], "-");
        pod.metadata.annotations.insert(drover_api::labels::JOB_COMPLETION_INDEX.into(), "3".into());
        assert!(any_pod_index(std::slice::from_ref(&pod)));
        assert_eq!(pod_row(&pod, false, true)[5..], ["3"]);
        assert_eq!(pod_row(&pod, true, false)[5..6], ["3"]);
    }
}
