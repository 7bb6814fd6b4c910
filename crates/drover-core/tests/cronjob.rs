//! Table tests of the CronJob controller's `decide`, one named case per scenario of
//! semantics.md §7.8 that a single sync decides, with a fake clock.
//!
//! The fixtures follow upstream's: schedule `0 * * * ?` (hourly), "justAfterTheHour" = 10:01 and
//! "justBeforeTheHour" = 09:59, UTC, 2016-05-19. A, F and R are Allow, Forbid and Replace.
//!
//! Not here:
//! - S74 (a legacy `TZ=` inside `schedule`): refused on create and on update (there is no older
//!   object that could carry it), see `drover-api/tests/validation.rs`.
//! - S76 (terminating namespace): Drover has one namespace, which never terminates.
//! - S83 (the three policies end to end), S84 and S85 (validation): `tests/cronjobs.rs` and
//!   `drover-api/tests/validation.rs`.

use std::time::Duration;

use chrono::{TimeZone, Utc};
use chrono_tz::Tz;
use drover_api::cronjob::{MissedSchedule, ObjectReference};
use drover_api::job::JobCondition;
use drover_api::{CronJob, Job, ObjectMeta, OwnerReference, Time};
use drover_core::cronjob::{CronJobPlan, decide, job_name};

fn at(h: u32, m: u32) -> Time {
    Utc.with_ymd_and_hms(2016, 5, 19, h, m, 0).unwrap()
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

const PAD: Duration = Duration::from_millis(100);

fn cronjob(schedule: &str, policy: &str, created: Time) -> CronJob {
    let mut cj = CronJob {
        metadata: ObjectMeta {
            name: "mycronjob".into(),
            uid: "cj-uid".into(),
            creation_timestamp: Some(created),
            ..Default::default()
        },
        ..Default::default()
    };
    cj.spec.schedule = schedule.into();
    cj.spec.concurrency_policy = Some(policy.into());
    cj.spec.job_template.metadata.labels.insert("app".into(), "report".into());
    cj.spec.job_template.spec.parallelism = Some(2);
    cj.apply_defaults();
    cj
}

/// A child Job of `cj` for `scheduled`, running unless `finished` is `Complete`/`Failed`.
fn child(cj: &CronJob, scheduled: Time, finished: Option<(&str, Time)>) -> Job {
    let mut job = Job {
        metadata: ObjectMeta {
            name: job_name(&cj.metadata.name, scheduled),
            uid: format!("uid-{}", scheduled.timestamp()),
            owner_references: vec![OwnerReference {
                api_version: "batch/v1".into(),
                kind: "CronJob".into(),
                name: cj.metadata.name.clone(),
                uid: cj.metadata.uid.clone(),
                controller: Some(true),
                block_owner_deletion: Some(true),
            }],
            ..Default::default()
        },
        ..Default::default()
    };
    job.metadata
        .annotations
        .insert("batch.kubernetes.io/cronjob-scheduled-timestamp".into(), scheduled.to_rfc3339());
    job.status.start_time = Some(scheduled);
    if let Some((cond, when)) = finished {
        job.status.conditions.push(JobCondition {
            type_: cond.into(),
            status: "True".into(),
            reason: String::new(),
            message: String::new(),
            last_transition_time: Some(when),
            last_probe_time: None,
        });
        if cond == "Complete" {
            job.status.completion_time = Some(when);
        }
    }
    job
}

fn reference(job: &Job) -> ObjectReference {
    ObjectReference {
        api_version: "batch/v1".into(),
        kind: "Job".into(),
        name: job.metadata.name.clone(),
        namespace: None,
        uid: job.metadata.uid.clone(),
    }
}

/// A CronJob that ran at `last` and whose Job for it is still listed as active.
fn with_active(mut cj: CronJob, job: &Job, last: Time) -> CronJob {
    cj.status.active.push(reference(job));
    cj.status.last_schedule_time = Some(last);
    cj
}

struct Case {
    name: &'static str,
    cj: CronJob,
    jobs: Vec<Job>,
    now: Time,
    zone: Tz,
    /// The name of the Job created, if any.
    create: Option<String>,
    /// Names of the Jobs deleted, in order.
    delete: Vec<String>,
    /// The `(type, reason)` of every event, in order.
    events: Vec<(&'static str, &'static str)>,
    /// Names in `status.active` after the sync (the new Job included).
    active: Vec<String>,
    last_schedule: Option<Time>,
    requeue: Option<Duration>,
    /// `(reason, scheduled_time, count)` of the missed schedules after the sync.
    missed: Vec<(&'static str, Time, u64)>,
}

impl Default for Case {
    fn default() -> Case {
        Case {
            name: "",
            cj: cronjob("0 * * * ?", "Allow", at(9, 59)),
            jobs: Vec::new(),
            now: at(10, 1),
            zone: chrono_tz::UTC,
            create: None,
            delete: Vec::new(),
            events: Vec::new(),
            active: Vec::new(),
            last_schedule: None,
            requeue: None,
            missed: Vec::new(),
        }
    }
}

fn check(case: &Case) -> CronJobPlan {
    let plan = decide(&case.cj, &case.jobs, case.now, case.zone);
    let name = case.name;
    assert_eq!(plan.create.as_ref().map(|j| j.metadata.name.clone()), case.create, "{name}: create");
    let deleted: Vec<String> = plan.delete.iter().map(|d| d.name.clone()).collect();
    assert_eq!(deleted, case.delete, "{name}: delete");
    let events: Vec<(&str, &str)> = plan.events.iter().map(|e| (e.type_, e.reason)).collect();
    assert_eq!(events, case.events, "{name}: events {:#?}", plan.events);
    let active: Vec<String> = plan.status.active.iter().map(|r| r.name.clone()).collect();
    assert_eq!(active, case.active, "{name}: status.active");
    assert_eq!(plan.status.last_schedule_time, case.last_schedule, "{name}: lastScheduleTime");
    assert_eq!(plan.requeue_after, case.requeue, "{name}: requeue");
    let missed: Vec<(&str, Time, u64)> =
        plan.status.missed_schedules.iter().map(|m| (m.reason.as_str(), m.scheduled_time, m.count)).collect();
    assert_eq!(missed, case.missed, "{name}: missedSchedules");
    // Every plan: a created Job is owned by the CronJob, carries the scheduled-time annotation
    // and the template, and is listed in active.
    if let Some(job) = &plan.create {
        let owner = job.metadata.controller_ref().expect("controller ref");
        assert_eq!((owner.kind.as_str(), owner.uid.as_str()), ("CronJob", "cj-uid"), "{name}: owner");
        let scheduled = plan.status.last_schedule_time.expect("lastScheduleTime set with a create");
        let annotation = &job.metadata.annotations["batch.kubernetes.io/cronjob-scheduled-timestamp"];
        assert_eq!(
            chrono::DateTime::parse_from_rfc3339(annotation).unwrap().with_timezone(&Utc),
            scheduled,
            "{name}: annotation"
        );
        assert_eq!(job.spec, case.cj.spec.job_template.spec, "{name}: spec from the template");
        assert_eq!(job.metadata.labels, case.cj.spec.job_template.metadata.labels, "{name}: labels");
    }
    plan
}

#[test]
fn scenarios() {
    let hourly = |policy| cronjob("0 * * * ?", policy, at(9, 59));
    let job_10 = "mycronjob-24394200".to_string();
    let base = hourly("Allow");
    let running_9 = child(&base, at(9, 0), None);
    let job_9 = running_9.metadata.name.clone();
    let week_later = at(10, 0) + chrono::Duration::days(7);

    let mut cases = vec![
        Case {
            name: "S62 never ran, not valid schedule: a warning, no Job, no requeue",
            cj: CronJob {
                spec: {
                    let mut s = base.spec.clone();
                    s.schedule = "61 * * * *".into();
                    s
                },
                ..base.clone()
            },
            events: vec![("Warning", "InvalidSchedule")],
            ..Default::default()
        },
        Case {
            name: "S63 never ran, not valid time zone: UnknownTimeZone, no Job",
            cj: CronJob {
                spec: {
                    let mut s = base.spec.clone();
                    s.time_zone = Some("bad-time-zone".into());
                    s
                },
                ..base.clone()
            },
            events: vec![("Warning", "UnknownTimeZone")],
            ..Default::default()
        },
        Case {
            name: "S64 never ran, not time (A): requeue in 1 min + 100 ms",
            cj: cronjob("0 * * * ?", "Allow", at(9, 0)),
            now: at(9, 59),
            requeue: Some(secs(60) + PAD),
            ..Default::default()
        },
        Case {
            name: "S64 never ran, not time (F)",
            cj: cronjob("0 * * * ?", "Forbid", at(9, 0)),
            now: at(9, 59),
            requeue: Some(secs(60) + PAD),
            ..Default::default()
        },
        Case {
            name: "S64 never ran, not time (R)",
            cj: cronjob("0 * * * ?", "Replace", at(9, 0)),
            now: at(9, 59),
            requeue: Some(secs(60) + PAD),
            ..Default::default()
        },
        Case {
            name: "S65 never ran, is time (A): mycronjob-24394200, requeue 59 min + 100 ms",
            create: Some(job_10.clone()),
            events: vec![("Normal", "SuccessfulCreate")],
            active: vec![job_10.clone()],
            last_schedule: Some(at(10, 0)),
            requeue: Some(secs(59 * 60) + PAD),
            ..Default::default()
        },
        Case {
            name: "S65 never ran, is time (F)",
            cj: hourly("Forbid"),
            create: Some(job_10.clone()),
            events: vec![("Normal", "SuccessfulCreate")],
            active: vec![job_10.clone()],
            last_schedule: Some(at(10, 0)),
            requeue: Some(secs(59 * 60) + PAD),
            ..Default::default()
        },
        Case {
            name: "S65 never ran, is time (R)",
            cj: hourly("Replace"),
            create: Some(job_10.clone()),
            events: vec![("Normal", "SuccessfulCreate")],
            active: vec![job_10.clone()],
            last_schedule: Some(at(10, 0)),
            requeue: Some(secs(59 * 60) + PAD),
            ..Default::default()
        },
        Case {
            name: "S66 never ran, is time, suspended: no Job; Drover records the skipped time (§10.7) \
                   and requeues for the next one",
            cj: CronJob {
                spec: {
                    let mut s = base.spec.clone();
                    s.suspend = Some(true);
                    s
                },
                ..base.clone()
            },
            events: vec![("Normal", "SkippedWhileSuspended")],
            requeue: Some(secs(59 * 60) + PAD),
            missed: vec![("Suspended", at(10, 0), 1)],
            ..Default::default()
        },
        Case {
            name: "S67 never ran, is time, past deadline: no Job; Drover reports it (§10.7) where \
                   upstream drops it silently",
            cj: CronJob {
                spec: {
                    let mut s = base.spec.clone();
                    s.starting_deadline_seconds = Some(10);
                    s
                },
                ..base.clone()
            },
            now: at(10, 12),
            events: vec![("Warning", "MissSchedule")],
            requeue: Some(secs(48 * 60) + PAD),
            missed: vec![("StartingDeadlineExceeded", at(10, 0), 1)],
            ..Default::default()
        },
        Case {
            name: "S68 still active, is time (A): a second Job",
            cj: with_active(hourly("Allow"), &running_9, at(9, 0)),
            jobs: vec![running_9.clone()],
            create: Some(job_10.clone()),
            events: vec![("Normal", "SuccessfulCreate")],
            active: vec![job_9.clone(), job_10.clone()],
            last_schedule: Some(at(10, 0)),
            requeue: Some(secs(59 * 60) + PAD),
            ..Default::default()
        },
        Case {
            name: "S69 still active, is time (F): JobAlreadyActive, no Job, lastScheduleTime kept",
            cj: with_active(hourly("Forbid"), &running_9, at(9, 0)),
            jobs: vec![running_9.clone()],
            events: vec![("Normal", "JobAlreadyActive")],
            active: vec![job_9.clone()],
            last_schedule: Some(at(9, 0)),
            requeue: Some(secs(59 * 60) + PAD),
            missed: vec![("Forbid", at(10, 0), 1)],
            ..Default::default()
        },
        Case {
            name: "S70 still active, is time (R): the old Job is deleted, a new one created",
            cj: with_active(hourly("Replace"), &running_9, at(9, 0)),
            jobs: vec![running_9.clone()],
            create: Some(job_10.clone()),
            delete: vec![job_9.clone()],
            events: vec![("Normal", "SuccessfulDelete"), ("Normal", "SuccessfulCreate")],
            active: vec![job_10.clone()],
            last_schedule: Some(at(10, 0)),
            requeue: Some(secs(59 * 60) + PAD),
            ..Default::default()
        },
        Case {
            name: "S71 prev ran but done, long overdue, no deadline: one Job for the latest hour and \
                   TooManyMissedTimes; the 168 skipped hours are listed as one entry",
            cj: CronJob {
                status: drover_api::CronJobStatus {
                    last_schedule_time: Some(at(9, 0)),
                    ..Default::default()
                },
                ..hourly("Allow")
            },
            now: week_later,
            create: Some(job_name("mycronjob", week_later)),
            events: vec![
                ("Warning", "TooManyMissedTimes"),
                ("Normal", "MissedSchedules"),
                ("Normal", "SuccessfulCreate"),
            ],
            active: vec![job_name("mycronjob", week_later)],
            last_schedule: Some(week_later),
            requeue: Some(secs(3600) + PAD),
            missed: vec![("Superseded", week_later - chrono::Duration::hours(1), 168)],
            ..Default::default()
        },
        Case {
            name: "S72 long overdue, past medium deadline (2 h): one Job, no TooManyMissedTimes",
            cj: CronJob {
                spec: {
                    let mut s = base.spec.clone();
                    s.starting_deadline_seconds = Some(7200);
                    s
                },
                status: drover_api::CronJobStatus {
                    last_schedule_time: Some(at(9, 0)),
                    ..Default::default()
                },
                ..base.clone()
            },
            now: week_later,
            create: Some(job_name("mycronjob", week_later)),
            events: vec![("Normal", "MissedSchedules"), ("Normal", "SuccessfulCreate")],
            active: vec![job_name("mycronjob", week_later)],
            last_schedule: Some(week_later),
            requeue: Some(secs(3600) + PAD),
            missed: vec![("Superseded", week_later - chrono::Duration::hours(1), 168)],
            ..Default::default()
        },
        Case {
            name: "S73 @every 1h, never ran, is time: created 08:59, now 09:59",
            cj: cronjob("@every 1h", "Allow", at(8, 59)),
            now: at(9, 59),
            create: Some(job_name("mycronjob", at(9, 59))),
            events: vec![("Normal", "SuccessfulCreate")],
            active: vec![job_name("mycronjob", at(9, 59))],
            last_schedule: Some(at(9, 59)),
            requeue: Some(secs(3600) + PAD),
            ..Default::default()
        },
        Case {
            name: "S75 the Job for this time already exists (crash before the status write): adopted, \
                   nothing created",
            jobs: vec![child(&base, at(10, 0), None)],
            active: vec![job_10.clone()],
            last_schedule: Some(at(10, 0)),
            requeue: Some(secs(59 * 60) + PAD),
            ..Default::default()
        },
        Case {
            name: "S77 an active Job went missing: removed with MissingJob, and the due time runs",
            cj: with_active(hourly("Forbid"), &running_9, at(9, 0)),
            jobs: vec![],
            create: Some(job_10.clone()),
            events: vec![("Normal", "MissingJob"), ("Normal", "SuccessfulCreate")],
            active: vec![job_10.clone()],
            last_schedule: Some(at(10, 0)),
            requeue: Some(secs(59 * 60) + PAD),
            ..Default::default()
        },
        Case {
            name: "S81 rogue schedule (Feb 31st): InvalidSchedule, no Job, no requeue",
            cj: cronjob("59 23 31 2 *", "Allow", at(9, 59)),
            events: vec![("Warning", "InvalidSchedule")],
            ..Default::default()
        },
        Case {
            name: "S82 schedule changed from @every 3m to @every 1m: requeue from lastScheduleTime",
            cj: CronJob {
                status: drover_api::CronJobStatus {
                    last_schedule_time: Some(at(10, 0)),
                    ..Default::default()
                },
                ..cronjob("@every 1m", "Allow", at(9, 0))
            },
            now: at(10, 0) + chrono::Duration::seconds(59),
            last_schedule: Some(at(10, 0)),
            requeue: Some(secs(1) + PAD),
            ..Default::default()
        },
        Case {
            name: "§10.8 @every 2s: sub-minute slots get names of their own (unix seconds)",
            cj: cronjob("@every 2s", "Allow", at(10, 0)),
            now: at(10, 0) + chrono::Duration::seconds(3),
            create: Some(format!("mycronjob-{}", (at(10, 0) + chrono::Duration::seconds(2)).timestamp())),
            events: vec![("Normal", "SuccessfulCreate")],
            active: vec![format!("mycronjob-{}", (at(10, 0) + chrono::Duration::seconds(2)).timestamp())],
            last_schedule: Some(at(10, 0) + chrono::Duration::seconds(2)),
            requeue: Some(secs(1) + PAD),
            ..Default::default()
        },
    ];

    // S78: successfulJobsHistoryLimit 1, two Complete children started 08:59 and 09:59: the
    // older is deleted, and the due Job is still created.
    {
        let mut cj = hourly("Allow");
        cj.spec.successful_jobs_history_limit = Some(1);
        cj.status.last_schedule_time = Some(at(9, 0));
        let mut old = child(&cj, at(8, 0), Some(("Complete", at(8, 59) + chrono::Duration::minutes(1))));
        old.status.start_time = Some(at(8, 59));
        let mut newer = child(&cj, at(9, 0), Some(("Complete", at(10, 0))));
        newer.status.start_time = Some(at(9, 59));
        cases.push(Case {
            name: "S78 history limit 1: the older Complete Job is deleted, the new one created",
            cj,
            jobs: vec![old.clone(), newer],
            create: Some(job_10.clone()),
            delete: vec![old.metadata.name.clone()],
            events: vec![("Normal", "SuccessfulDelete"), ("Normal", "SuccessfulCreate")],
            active: vec![job_10.clone()],
            last_schedule: Some(at(10, 0)),
            requeue: Some(secs(59 * 60) + PAD),
            ..Default::default()
        });
    }

    // S79: Forbid skipped 10:00 (recorded), the 09:00 Job finishes at 10:20: the 10:00 run starts
    // late. With a 600 s deadline it is gone, silently (already reported once as Forbid).
    {
        let mut cj = hourly("Forbid");
        cj = with_active(cj, &running_9, at(9, 0));
        cj.status.last_missed_time = Some(at(10, 0));
        cj.status.missed_schedules.push(MissedSchedule {
            scheduled_time: at(10, 0),
            reason: "Forbid".into(),
            count: 1,
            first_scheduled_time: None,
        });
        let finished_9 = child(&cj, at(9, 0), Some(("Complete", at(10, 20))));
        cases.push(Case {
            name: "S79 Forbid late start: the skipped 10:00 run starts when the 09:00 Job ends at 10:20",
            cj: cj.clone(),
            jobs: vec![finished_9.clone()],
            now: at(10, 20),
            create: Some(job_10.clone()),
            events: vec![("Normal", "SawCompletedJob"), ("Normal", "SuccessfulCreate")],
            active: vec![job_10.clone()],
            last_schedule: Some(at(10, 0)),
            requeue: Some(secs(40 * 60) + PAD),
            ..Default::default()
        });
        let mut with_deadline = cj.clone();
        with_deadline.spec.starting_deadline_seconds = Some(600);
        cases.push(Case {
            name: "S79 Forbid late start, deadline 600 s: no Job and no new event; next run at 11:00",
            cj: with_deadline,
            jobs: vec![finished_9],
            now: at(10, 20),
            events: vec![("Normal", "SawCompletedJob")],
            last_schedule: Some(at(9, 0)),
            requeue: Some(secs(40 * 60) + PAD),
            missed: vec![("Forbid", at(10, 0), 1)],
            ..Default::default()
        });
    }

    // S80: suspended 09:30–12:40. While suspended the times 10:00, 11:00 and 12:00 were recorded;
    // at 12:40 one Job runs, for 12:00, not three.
    {
        let mut cj = hourly("Allow");
        cj.status.last_schedule_time = Some(at(9, 0));
        cj.status.last_missed_time = Some(at(12, 0));
        for h in [10, 11, 12] {
            cj.status.missed_schedules.push(MissedSchedule {
                scheduled_time: at(h, 0),
                reason: "Suspended".into(),
                count: 1,
                first_scheduled_time: None,
            });
        }
        let job_12 = job_name("mycronjob", at(12, 0));
        cases.push(Case {
            name: "S80 unsuspended at 12:40 after 09:30: one Job, for 12:00",
            cj,
            now: at(12, 40),
            create: Some(job_12.clone()),
            events: vec![("Normal", "SuccessfulCreate")],
            active: vec![job_12],
            last_schedule: Some(at(12, 0)),
            requeue: Some(secs(20 * 60) + PAD),
            missed: vec![("Suspended", at(10, 0), 1), ("Suspended", at(11, 0), 1)],
            ..Default::default()
        });
        let mut never_recorded = hourly("Allow");
        never_recorded.status.last_schedule_time = Some(at(9, 0));
        let job_12 = job_name("mycronjob", at(12, 0));
        cases.push(Case {
            name: "S80 and §10.7: a coordinator down 09:30–12:40 lists 10:00 and 11:00 as superseded",
            cj: never_recorded,
            now: at(12, 40),
            create: Some(job_12.clone()),
            events: vec![("Normal", "MissedSchedules"), ("Normal", "SuccessfulCreate")],
            active: vec![job_12],
            last_schedule: Some(at(12, 0)),
            requeue: Some(secs(20 * 60) + PAD),
            missed: vec![("Superseded", at(11, 0), 2)],
            ..Default::default()
        });
    }

    // History: failedJobsHistoryLimit 1 keeps the newest failure; running Jobs are never removed.
    {
        let mut cj = hourly("Allow");
        cj.status.last_schedule_time = Some(at(10, 0));
        let f1 = child(&cj, at(7, 0), Some(("Failed", at(7, 30))));
        let f2 = child(&cj, at(8, 0), Some(("Failed", at(8, 30))));
        let running = child(&cj, at(10, 0), None);
        let cj = with_active(cj, &running, at(10, 0));
        cases.push(Case {
            name: "CJ-H failed history limit 1: the older failure goes, the running Job stays",
            cj,
            jobs: vec![f1.clone(), f2, running.clone()],
            now: at(10, 30),
            delete: vec![f1.metadata.name.clone()],
            events: vec![("Normal", "SuccessfulDelete")],
            active: vec![running.metadata.name.clone()],
            last_schedule: Some(at(10, 0)),
            requeue: Some(secs(30 * 60) + PAD),
            ..Default::default()
        });
    }

    // Time zones: `0 9 * * *` in Asia/Tokyo is 00:00 UTC.
    {
        let mut cj = cronjob("0 9 * * *", "Allow", Utc.with_ymd_and_hms(2016, 5, 18, 12, 0, 0).unwrap());
        cj.spec.time_zone = Some("Asia/Tokyo".into());
        let due = Utc.with_ymd_and_hms(2016, 5, 19, 0, 0, 0).unwrap();
        cases.push(Case {
            name: "TZ-1 timeZone Asia/Tokyo: 09:00 JST is 00:00 UTC",
            cj,
            now: at(0, 5),
            create: Some(job_name("mycronjob", due)),
            events: vec![("Normal", "SuccessfulCreate")],
            active: vec![job_name("mycronjob", due)],
            last_schedule: Some(due),
            requeue: Some(secs(24 * 3600 - 5 * 60) + PAD),
            ..Default::default()
        });
    }

    // TZ-1 without timeZone: the coordinator's zone (here Europe/Berlin, UTC+2 in May).
    {
        let cj = cronjob("0 12 * * *", "Allow", at(9, 0));
        cases.push(Case {
            name: "TZ-1 no timeZone: the coordinator's zone is used",
            cj,
            now: at(10, 1),
            zone: chrono_tz::Europe::Berlin,
            create: Some(job_name("mycronjob", at(10, 0))),
            events: vec![("Normal", "SuccessfulCreate")],
            active: vec![job_name("mycronjob", at(10, 0))],
            last_schedule: Some(at(10, 0)),
            requeue: Some(secs(24 * 3600 - 60) + PAD),
            ..Default::default()
        });
    }

    for case in &cases {
        check(case);
    }
}

/// §10.6 in the controller: across the New York spring-forward, a daily 02:30 run fires once at
/// 03:00 EDT, and the next sync waits for the next day's 02:30.
#[test]
fn dst_spring_forward_runs_once_at_the_end_of_the_gap() {
    let ny = chrono_tz::America::New_York;
    let created = Utc.with_ymd_and_hms(2026, 3, 7, 12, 0, 0).unwrap();
    let mut cj = cronjob("30 2 * * *", "Allow", created);
    cj.spec.time_zone = Some("America/New_York".into());
    // 03:00 EDT on 2026-03-08 is 07:00 UTC.
    let gap_end = Utc.with_ymd_and_hms(2026, 3, 8, 7, 0, 0).unwrap();
    let plan = decide(&cj, &[], gap_end + chrono::Duration::seconds(5), chrono_tz::UTC);
    assert_eq!(plan.status.last_schedule_time, Some(gap_end), "fires at 03:00 EDT");
    let job = plan.create.expect("a Job");
    assert_eq!(
        job.metadata.annotations["batch.kubernetes.io/cronjob-scheduled-timestamp"],
        gap_end.with_timezone(&ny).to_rfc3339(),
        "the annotation is in the CronJob's zone"
    );
    cj.status = plan.status;
    let next = Utc.with_ymd_and_hms(2026, 3, 9, 6, 30, 0).unwrap(); // 02:30 EDT
    let plan = decide(&cj, &[], gap_end + chrono::Duration::minutes(10), chrono_tz::UTC);
    assert!(plan.create.is_none(), "no second run in the gap");
    assert_eq!(
        plan.requeue_after,
        Some((next - gap_end - chrono::Duration::minutes(10)).to_std().unwrap() + PAD)
    );
}

/// §10.6: across the New York fall-back, a daily 01:30 run fires once, at its first occurrence.
#[test]
fn dst_fall_back_runs_once() {
    let created = Utc.with_ymd_and_hms(2026, 10, 31, 12, 0, 0).unwrap();
    let mut cj = cronjob("30 1 * * *", "Allow", created);
    cj.spec.time_zone = Some("America/New_York".into());
    let first = Utc.with_ymd_and_hms(2026, 11, 1, 5, 30, 0).unwrap(); // 01:30 EDT
    let second = Utc.with_ymd_and_hms(2026, 11, 1, 6, 30, 0).unwrap(); // 01:30 EST
    let plan = decide(&cj, &[], first + chrono::Duration::seconds(1), chrono_tz::UTC);
    assert_eq!(plan.status.last_schedule_time, Some(first));
    cj.status = plan.status;
    let plan = decide(&cj, &[], second + chrono::Duration::seconds(1), chrono_tz::UTC);
    assert!(plan.create.is_none(), "the repeated 01:30 does not run again: {plan:?}");
}

/// The missed list is bounded, and each time is reported once (the `lastMissedTime` watermark).
#[test]
fn missed_schedules_are_bounded_and_reported_once() {
    let mut cj = cronjob("* * * * *", "Forbid", at(9, 0));
    let running = child(&cj, at(9, 0), None);
    cj = with_active(cj, &running, at(9, 0));
    let jobs = vec![running];
    for minute in 1..=30 {
        let plan = decide(&cj, &jobs, at(9, minute) + chrono::Duration::seconds(1), chrono_tz::UTC);
        assert!(plan.create.is_none(), "Forbid while the 09:00 Job runs");
        assert_eq!(plan.events.len(), 1, "minute {minute}: one JobAlreadyActive event");
        cj.status = plan.status;
        // The same minute again: nothing new to report.
        let again = decide(&cj, &jobs, at(9, minute) + chrono::Duration::seconds(30), chrono_tz::UTC);
        assert!(again.events.is_empty(), "minute {minute}: reported once");
        assert_eq!(again.status, cj.status);
    }
    assert_eq!(cj.status.missed_schedules.len(), drover_api::cronjob::MISSED_SCHEDULES_LIMIT);
    assert_eq!(cj.status.missed_schedules.last().unwrap().scheduled_time, at(9, 30));
    assert_eq!(cj.status.last_missed_time, Some(at(9, 30)));
}

/// A restarted sync (the same inputs) never creates a second Job for one time: once the Job for
/// a time exists, `decide` creates nothing for that time.
#[test]
fn one_time_never_makes_two_jobs() {
    let cj = cronjob("0 * * * ?", "Allow", at(9, 59));
    let plan = decide(&cj, &[], at(10, 1), chrono_tz::UTC);
    let mut created = plan.create.expect("a Job");
    created.metadata.uid = "new".into();
    // The status write was lost: the CronJob still has no lastScheduleTime.
    let again = decide(&cj, std::slice::from_ref(&created), at(10, 2), chrono_tz::UTC);
    assert!(again.create.is_none());
    assert_eq!(again.status.last_schedule_time, Some(at(10, 0)));
}
