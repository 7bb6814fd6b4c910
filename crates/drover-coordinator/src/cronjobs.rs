//! The CronJob controller runtime: executes `drover_core::cronjob::decide`'s plans.
//!
//! # Expected flow
//! 1. A change to a CronJob, or to a Job it controls, puts the CronJob on the controller queue
//!    (the same single task that syncs Jobs, so two syncs of one CronJob never overlap); so does
//!    the requeue timer, set to the next fire time plus 100 ms (CJ-R).
//! 2. A sync reads the CronJob and its Jobs from the store and calls `decide` with the wall
//!    clock's `now`.
//! 3. The plan is written in **one** transaction: history and replaced Jobs deleted with their
//!    pods (Background), the new Job created, the CronJob's status and the events recorded.
//!
//! # Guarantees
//! - One scheduled time never makes two Jobs: the child's name is derived from the time, and the
//!   Job and the `active`/`lastScheduleTime` update commit together. After a crash or a restart,
//!   `decide` sees the Job and treats the time as handled.
//! - A coordinator that was down runs only the most recent missed time, and lists the others in
//!   `status.missedSchedules`.

use std::time::Duration;

use drover_api::{CronJob, Event, Job};
use drover_core::cronjob::decide;
use drover_store::StoreError;

use crate::controller::{create_job, delete_job_in};
use crate::state::{Coordinator, now};

/// Syncs one CronJob. Returns when to sync it again regardless of changes.
pub fn sync_cronjob(coordinator: &Coordinator, name: &str) -> Result<Option<Duration>, StoreError> {
    let now = now();
    let Some((cj, jobs)) = coordinator.store().read(|t| {
        let Some(cj) = t.get::<CronJob>(name)? else { return Ok(None) };
        let jobs = t.list_owned::<Job>(&cj.metadata.uid)?;
        Ok(Some((cj, jobs)))
    })?
    else {
        return Ok(None);
    };
    let plan = decide(&cj, &jobs, now, coordinator.config.cron_zone);
    if plan.status == cj.status && plan.create.is_none() && plan.delete.is_empty() && plan.events.is_empty() {
        return Ok(plan.requeue_after);
    }
    let (cj_name, cj_uid) = (cj.metadata.name.clone(), cj.metadata.uid.clone());
    let created = coordinator.commit(|t| {
        for deletion in &plan.delete {
            delete_job_in(t, &deletion.name, true, now)?;
        }
        let mut status = plan.status.clone();
        let mut events = plan.events.clone();
        let mut created = None;
        if let Some(job) = plan.create.clone() {
            let job_name = job.metadata.name.clone();
            match t.get::<Job>(&job_name)? {
                None => {
                    let job = create_job(t, job, now)?;
                    if let Some(entry) = status.active.iter_mut().find(|r| r.name == job_name) {
                        entry.uid = job.metadata.uid.clone();
                    }
                    created = Some(job_name);
                }
                Some(_) => {
                    // Owned by this CronJob, `decide` would have seen it; so someone else owns
                    // it. Leave it, and do not mark the time as run.
                    status.active.retain(|r| r.name != job_name);
                    status.last_schedule_time = cj.status.last_schedule_time;
                    events.retain(|e| e.reason != "SuccessfulCreate");
                    events.push(drover_core::cronjob::PlannedEvent {
                        type_: "Warning",
                        reason: "FailedCreate",
                        message: format!("Error creating job: Job {job_name:?} already exists and is not owned by this CronJob"),
                    });
                }
            }
        }
        if status != cj.status {
            let mut updated = cj.clone();
            updated.status = status;
            t.update(updated)?;
        }
        for event in &events {
            let event = if event.type_ == "Warning" {
                Event::warning("CronJob", &cj_name, &cj_uid, event.reason, event.message.clone(), now)
            } else {
                Event::normal("CronJob", &cj_name, &cj_uid, event.reason, event.message.clone(), now)
            };
            t.record_event(&event)?;
        }
        Ok(created)
    })?;
    if let Some(job) = created {
        tracing::info!(cronjob = %cj_name, %job, "CronJob created a Job");
    }
    Ok(plan.requeue_after)
}

/// Deletes a CronJob and, with `cascade`, its Jobs and their pods (Background propagation).
pub fn delete_cronjob(
    coordinator: &Coordinator,
    name: &str,
    cascade: bool,
) -> Result<Option<CronJob>, StoreError> {
    let now = now();
    coordinator.commit(|t| {
        let Some(cj) = t.get::<CronJob>(name)? else { return Ok(None) };
        for mut job in t.list_owned::<Job>(&cj.metadata.uid)? {
            if cascade {
                delete_job_in(t, &job.metadata.name, true, now)?;
            } else {
                job.metadata.owner_references.clear();
                t.update(job)?;
            }
        }
        t.delete::<CronJob>(name)
    })
}
