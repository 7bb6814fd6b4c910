//! The CronJob controller's decision: `decide(cronjob, jobs, now, default_zone) -> CronJobPlan`.
//!
//! A port of kubernetes/kubernetes `pkg/controller/cronjob/cronjob_controllerv2.go` (syncCronJob)
//! and `utils.go` (mostRecentScheduleTime), returning a plan instead of calling the API. The
//! rules are semantics.md §6; rule ids (CJ-H, MISS-1, CC-2, …) are cited where applied.
//!
//! Where Drover departs from upstream (semantics.md §10):
//! - **Missed runs are visible (§10.7).** A scheduled time that does not start, because of
//!   Forbid, the starting deadline, suspend, or because several were due at once (the
//!   coordinator was down), is recorded once in `status.missedSchedules` with an event.
//!   `status.lastMissedTime` is the watermark that keeps a time from being reported twice. While
//!   suspended, the CronJob is still requeued at each fire time so its skipped times are recorded
//!   as they pass.
//! - **More than 100 missed times (§10.2)** warns (`TooManyMissedTimes`) and still starts the
//!   latest, as the v2 controller does.
//! - **Sub-minute schedules (§10.8).** A child Job is named `<cronjob>-<unix minutes>` for a time
//!   on a whole minute (as Kubernetes), and `<cronjob>-<unix seconds>` otherwise, so every
//!   `@every 2s` slot has its own name.
//! - **DST (§10.6)** is the schedule's business: see `drover_api::cron`.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono_tz::Tz;
use drover_api::cron::Schedule;
use drover_api::cronjob::{self, MissedSchedule, ObjectReference, reason};
use drover_api::job::condition;
use drover_api::{CronJob, CronJobStatus, Job, ObjectMeta, OwnerReference, Time};

/// The padding added to each requeue (CJ-R).
pub const REQUEUE_PADDING: Duration = Duration::from_millis(100);
/// The estimated number of missed times above which `TooManyMissedTimes` is emitted (MISS-3).
pub const TOO_MANY_MISSED: u64 = 100;

/// An event the runtime records on the CronJob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedEvent {
    /// `Normal` or `Warning`.
    pub type_: &'static str,
    /// A CamelCase reason.
    pub reason: &'static str,
    /// A sentence.
    pub message: String,
}

/// A child Job to delete, with its pods (`Background` propagation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobDeletion {
    /// The Job's name.
    pub name: String,
    /// `History` (CJ-H) or `Replace` (CC-3).
    pub why: &'static str,
}

/// What one sync of a CronJob decided.
#[derive(Debug, Clone, PartialEq)]
pub struct CronJobPlan {
    /// The CronJob's new status. When `create` is set, `active` already lists the new Job (with
    /// an empty uid, which the runtime fills in once the Job is created).
    pub status: CronJobStatus,
    /// The Job to create, fully formed from the template (defaults not applied yet).
    pub create: Option<Job>,
    /// Child Jobs to delete, history first, then replaced ones.
    pub delete: Vec<JobDeletion>,
    /// Events to record on the CronJob.
    pub events: Vec<PlannedEvent>,
    /// When to sync again regardless of changes; `None` waits for a change.
    pub requeue_after: Option<Duration>,
}

/// Decides one sync of `cj`. `jobs` are the Jobs whose controller reference is `cj`; `now` is
/// the injected clock; `default_zone` is used when `spec.timeZone` is unset.
pub fn decide(cj: &CronJob, jobs: &[Job], now: Time, default_zone: Tz) -> CronJobPlan {
    let mut plan = CronJobPlan {
        status: cj.status.clone(),
        create: None,
        delete: Vec::new(),
        events: Vec::new(),
        requeue_after: None,
    };
    reconcile_children(jobs, &mut plan);
    clean_history(cj, jobs, &mut plan);

    // Step 3: stop early on an unusable zone or schedule (TZ-2, S62, S63).
    let zone = match cj.spec.time_zone.as_deref() {
        None => default_zone,
        Some(name) => match name.parse::<Tz>() {
            Ok(zone) => zone,
            Err(_) => {
                plan.warn("UnknownTimeZone", format!("invalid timeZone: {name:?}: unknown time zone"));
                return plan;
            }
        },
    };
    let schedule = match Schedule::parse(&cj.spec.schedule) {
        Ok(s) => s,
        Err(err) => {
            plan.warn("InvalidSchedule", format!("invalid schedule: {:?}: {err}", cj.spec.schedule));
            return plan;
        }
    };

    // MISS-1: the search starts at the last scheduled time, or the creation time.
    let Some(anchor) = cj.status.last_schedule_time.or(cj.metadata.creation_timestamp) else {
        return plan;
    };
    // CRON-7 (S81): a schedule that never fires.
    if schedule.next_after(anchor, zone).is_none() {
        plan.warn(
            "InvalidSchedule",
            format!("the schedule {:?} has no start time in the next 5 years", cj.spec.schedule),
        );
        return plan;
    }
    let due = schedule.latest_between(anchor, now, zone);
    // CJ-R: the next fire time after the most recent one, plus the padding.
    if let Some(next) = schedule.next_after(due.unwrap_or(anchor), zone) {
        plan.requeue_after = Some((next - now).to_std().unwrap_or_default() + REQUEUE_PADDING);
    }
    // Times up to `handled` have been run or reported missed already.
    let handled = match cj.status.last_missed_time {
        Some(missed) if missed > anchor => missed,
        _ => anchor,
    };

    // CJ-S1: suspended. Drover records each time as it passes (§10.7) rather than going quiet.
    if cj.suspended() {
        if let Some(due) = due
            && due > handled
        {
            let entry = missed_entry(&schedule, handled, now, zone, reason::SUSPENDED);
            if let Some(entry) = entry {
                plan.events.push(PlannedEvent {
                    type_: "Normal",
                    reason: "SkippedWhileSuspended",
                    message: format!(
                        "Not starting job for {} because the CronJob is suspended",
                        rfc1123(due)
                    ),
                });
                plan.record_missed(entry);
            }
        }
        return plan;
    }

    let Some(due) = due else { return plan };

    // Step 6: already handled. A Job for this time exists (a crash between creating it and
    // writing the status, S75): adopt it into `active` if it is still running.
    let name = job_name(&cj.metadata.name, due);
    if let Some(existing) = jobs.iter().find(|j| j.metadata.name == name) {
        if !existing.is_finished() && !plan.status.active.iter().any(|r| r.uid == existing.metadata.uid) {
            plan.status.active.push(reference(existing));
        }
        plan.status.last_schedule_time = Some(due);
        return plan;
    }

    // MISS-3: the estimate is over the window MISS-1 searches (clamped by the deadline, MISS-4).
    let window_start = match cj.spec.starting_deadline_seconds {
        Some(sds) => anchor.max(now - chrono::Duration::seconds(sds)),
        None => anchor,
    };
    let (_, estimate) = schedule.times_between(window_start, now, zone, 0);

    // Step 5: too late to start (Drover reports it; upstream drops it silently, S67).
    if let Some(sds) = cj.spec.starting_deadline_seconds
        && due + chrono::Duration::seconds(sds) < now
    {
        if due > handled {
            plan.supersede(&schedule, handled, due, zone);
            plan.warn("MissSchedule", format!("Missed scheduled time to start a job: {}", rfc1123(due)));
            plan.record_missed(MissedSchedule {
                scheduled_time: due,
                reason: reason::STARTING_DEADLINE_EXCEEDED.to_string(),
                count: 1,
                first_scheduled_time: None,
            });
        }
        return plan;
    }

    match cj.concurrency_policy() {
        // Step 7, CC-2: skip while a Job is active; not remembered as run (MISS-5).
        cronjob::policy::FORBID if !plan.status.active.is_empty() => {
            if due > handled {
                plan.supersede(&schedule, handled, due, zone);
                plan.events.push(PlannedEvent {
                    type_: "Normal",
                    reason: "JobAlreadyActive",
                    message: "Not starting job because prior execution is running and concurrency policy is \
                              Forbid"
                        .to_string(),
                });
                plan.record_missed(MissedSchedule {
                    scheduled_time: due,
                    reason: reason::FORBID.to_string(),
                    count: 1,
                    first_scheduled_time: None,
                });
            }
            return plan;
        }
        // Step 8, CC-3: the active Jobs go first.
        cronjob::policy::REPLACE => {
            for active in std::mem::take(&mut plan.status.active) {
                plan.delete.push(JobDeletion { name: active.name.clone(), why: "Replace" });
                plan.events.push(PlannedEvent {
                    type_: "Normal",
                    reason: "SuccessfulDelete",
                    message: format!("Deleted job {}", active.name),
                });
            }
        }
        _ => {}
    }

    if estimate > TOO_MANY_MISSED {
        plan.warn(
            "TooManyMissedTimes",
            "too many missed start times. Set or decrease .spec.startingDeadlineSeconds or check clock skew"
                .to_string(),
        );
    }
    if due > handled {
        plan.supersede(&schedule, handled, due, zone);
    }

    // Steps 9 and 10.
    let job = job_from_template(cj, due, zone);
    plan.events.push(PlannedEvent {
        type_: "Normal",
        reason: "SuccessfulCreate",
        message: format!("Created job {}", job.metadata.name),
    });
    plan.status.active.push(reference(&job));
    plan.status.last_schedule_time = Some(due);
    // A time reported missed (Forbid, suspend) that now runs late is no longer missed.
    plan.status.missed_schedules.retain(|m| !(m.scheduled_time == due && m.count == 1));
    plan.create = Some(job);
    plan
}

impl CronJobPlan {
    fn warn(&mut self, reason: &'static str, message: String) {
        self.events.push(PlannedEvent { type_: "Warning", reason, message });
    }

    fn record_missed(&mut self, entry: MissedSchedule) {
        let status = &mut self.status;
        if status.last_missed_time.is_none_or(|t| t < entry.scheduled_time) {
            status.last_missed_time = Some(entry.scheduled_time);
        }
        status.missed_schedules.push(entry);
        let excess = status.missed_schedules.len().saturating_sub(cronjob::MISSED_SCHEDULES_LIMIT);
        status.missed_schedules.drain(..excess);
    }

    /// MISS-2: the times in (`handled`, `due`) are dropped; only `due` may run. Records them.
    fn supersede(&mut self, schedule: &Schedule, handled: Time, due: Time, zone: Tz) {
        let before_due = due - chrono::Duration::seconds(1);
        if before_due <= handled {
            return;
        }
        if let Some(entry) = missed_entry(schedule, handled, before_due, zone, reason::SUPERSEDED) {
            self.events.push(PlannedEvent {
                type_: "Normal",
                reason: "MissedSchedules",
                message: match entry.first_scheduled_time {
                    Some(first) => format!(
                        "Missed {} scheduled times from {} to {}; only the latest, {}, may start",
                        entry.count,
                        rfc1123(first),
                        rfc1123(entry.scheduled_time),
                        rfc1123(due)
                    ),
                    None => format!(
                        "Missed scheduled time {}; only the latest, {}, may start",
                        rfc1123(entry.scheduled_time),
                        rfc1123(due)
                    ),
                },
            });
            self.record_missed(entry);
        }
    }
}

/// One entry for the fire times in (`after`, `until`], or `None` when there are none.
fn missed_entry(
    schedule: &Schedule,
    after: Time,
    until: Time,
    zone: Tz,
    why: &str,
) -> Option<MissedSchedule> {
    let (first, count) = schedule.times_between(after, until, zone, 1);
    let latest = schedule.latest_between(after, until, zone)?;
    let count = count.max(1);
    Some(MissedSchedule {
        scheduled_time: latest,
        reason: why.to_string(),
        count,
        first_scheduled_time: if count > 1 { first.first().copied() } else { None },
    })
}

/// Step 2: fold the children into `status.active` and `lastSuccessfulTime`.
fn reconcile_children(jobs: &[Job], plan: &mut CronJobPlan) {
    let by_uid: BTreeMap<&str, &Job> = jobs.iter().map(|j| (j.metadata.uid.as_str(), j)).collect();
    for job in jobs {
        let in_active = plan.status.active.iter().any(|r| r.uid == job.metadata.uid);
        if job.is_finished() {
            if in_active {
                plan.status.active.retain(|r| r.uid != job.metadata.uid);
                let cond =
                    if job.condition_true(condition::COMPLETE).is_some() { "Complete" } else { "Failed" };
                plan.events.push(PlannedEvent {
                    type_: "Normal",
                    reason: "SawCompletedJob",
                    message: format!("Saw completed job: {}, condition: {cond}", job.metadata.name),
                });
            }
            if job.condition_true(condition::COMPLETE).is_some()
                && let Some(done) = job.status.completion_time
                && plan.status.last_successful_time.is_none_or(|t| t < done)
            {
                plan.status.last_successful_time = Some(done);
            }
        } else if !in_active && !is_manual(job) && !is_scheduled(job) {
            // A Job someone else made with this CronJob as its controller. It is not adopted.
            // (A Job this controller made carries its scheduled time; one that is missing from
            // `active` is adopted by the "already handled" step below.)
            plan.warn(
                "UnexpectedJob",
                format!("Saw a job that the controller did not create or forgot: {}", job.metadata.name),
            );
        }
    }
    // A reference to a Job that no longer exists (S77).
    let missing: Vec<ObjectReference> =
        plan.status.active.iter().filter(|r| !by_uid.contains_key(r.uid.as_str())).cloned().collect();
    for gone in missing {
        plan.status.active.retain(|r| r.uid != gone.uid);
        plan.events.push(PlannedEvent {
            type_: "Normal",
            reason: "MissingJob",
            message: format!("Active job went missing: {}", gone.name),
        });
    }
}

/// CJ-H: keep the newest finished Jobs of each outcome up to the limits; delete the rest.
fn clean_history(cj: &CronJob, jobs: &[Job], plan: &mut CronJobPlan) {
    for (want_complete, limit) in
        [(true, cj.successful_jobs_history_limit()), (false, cj.failed_jobs_history_limit())]
    {
        let mut finished: Vec<&Job> = jobs
            .iter()
            .filter(|j| j.is_finished() && (j.condition_true(condition::COMPLETE).is_some() == want_complete))
            .collect();
        // Oldest first by startTime; Jobs without one come last; ties by name.
        finished.sort_by(|a, b| {
            let key = |j: &Job| (j.status.start_time.is_none(), j.status.start_time, j.metadata.name.clone());
            key(a).cmp(&key(b))
        });
        let excess = finished.len().saturating_sub(usize::try_from(limit.max(0)).unwrap_or(0));
        for job in finished.into_iter().take(excess) {
            plan.delete.push(JobDeletion { name: job.metadata.name.clone(), why: "History" });
            plan.events.push(PlannedEvent {
                type_: "Normal",
                reason: "SuccessfulDelete",
                message: format!("Deleted job {}", job.metadata.name),
            });
        }
    }
}

fn is_scheduled(job: &Job) -> bool {
    job.metadata.annotations.contains_key(cronjob::SCHEDULED_TIMESTAMP_ANNOTATION)
}

fn is_manual(job: &Job) -> bool {
    job.metadata.annotations.get(cronjob::INSTANTIATE_ANNOTATION).is_some_and(|v| v == "manual")
}

fn reference(job: &Job) -> ObjectReference {
    ObjectReference {
        api_version: drover_api::job::API_VERSION.to_string(),
        kind: drover_api::job::KIND.to_string(),
        name: job.metadata.name.clone(),
        namespace: None,
        uid: job.metadata.uid.clone(),
    }
}

/// The child Job name for a scheduled time (CJ-N, §10.8).
pub fn job_name(cronjob: &str, scheduled: Time) -> String {
    let secs = scheduled.timestamp();
    if secs % 60 == 0 { format!("{cronjob}-{}", secs / 60) } else { format!("{cronjob}-{secs}") }
}

/// The Job a CronJob creates for `scheduled` (CJ-N): the template's labels, annotations and
/// spec, the scheduled-time annotation, and a controller reference to the CronJob.
pub fn job_from_template(cj: &CronJob, scheduled: Time, zone: Tz) -> Job {
    let template = &cj.spec.job_template;
    let mut annotations = template.metadata.annotations.clone();
    annotations.insert(
        cronjob::SCHEDULED_TIMESTAMP_ANNOTATION.to_string(),
        scheduled.with_timezone(&zone).to_rfc3339(),
    );
    Job {
        api_version: drover_api::job::API_VERSION.to_string(),
        kind: drover_api::job::KIND.to_string(),
        metadata: ObjectMeta {
            name: job_name(&cj.metadata.name, scheduled),
            labels: template.metadata.labels.clone(),
            annotations,
            owner_references: vec![owner_reference(cj)],
            ..ObjectMeta::default()
        },
        spec: template.spec.clone(),
        status: Default::default(),
    }
}

/// The controller reference a CronJob's Jobs carry.
pub fn owner_reference(cj: &CronJob) -> OwnerReference {
    OwnerReference {
        api_version: cronjob::API_VERSION.to_string(),
        kind: cronjob::KIND.to_string(),
        name: cj.metadata.name.clone(),
        uid: cj.metadata.uid.clone(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

/// RFC 1123 with a numeric zone, as upstream's event messages (`Mon, 02 Jan 2006 15:04:05 -0700`).
fn rfc1123(t: Time) -> String {
    t.format("%a, %d %b %Y %H:%M:%S %z").to_string()
}
