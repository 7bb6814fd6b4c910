//! `validate_cronjob` (semantics.md §6.1, S84, S85) and the CronJob manifest path: the article's
//! batch/v1beta1 `hello` decodes unchanged, and each bad field is named.

use drover_api::manifest::{Object, parse_each};
use drover_api::validation::validate_cronjob;
use drover_api::{Container, CronJob};

/// The docs' `hello` CronJob, built in Rust.
fn hello() -> CronJob {
    let mut cj = CronJob { api_version: "batch/v1".into(), kind: "CronJob".into(), ..CronJob::default() };
    cj.metadata.name = "hello".into();
    cj.spec.schedule = "*/1 * * * *".into();
    let pod = &mut cj.spec.job_template.spec.template.spec;
    pod.restart_policy = Some("OnFailure".into());
    pod.containers = vec![Container {
        name: "hello".into(),
        image: Some("busybox".into()),
        args: ["/bin/sh", "-c", "date; echo Hello"].map(String::from).to_vec(),
        ..Container::default()
    }];
    cj
}

fn messages(cj: &CronJob) -> Vec<String> {
    match validate_cronjob(cj) {
        Ok(()) => Vec::new(),
        Err(errors) => errors.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn hello_is_valid_before_and_after_defaults() {
    let mut cj = hello();
    assert_eq!(messages(&cj), Vec::<String>::new());
    cj.apply_defaults();
    assert_eq!(messages(&cj), Vec::<String>::new());
    assert_eq!(cj.spec.concurrency_policy.as_deref(), Some("Allow"));
    assert_eq!(cj.spec.successful_jobs_history_limit, Some(3));
    assert_eq!(cj.spec.failed_jobs_history_limit, Some(1));
    assert_eq!(cj.spec.suspend, Some(false));
}

#[test]
fn each_bad_field_is_named() {
    struct Case {
        name: &'static str,
        edit: fn(&mut CronJob),
        want: &'static str,
    }
    let cases = [
        Case {
            name: "invalid minute",
            edit: |cj| cj.spec.schedule = "61 * * * *".into(),
            want: "spec.schedule: Invalid value: \"61 * * * *\": ",
        },
        Case {
            name: "day of week 7",
            edit: |cj| cj.spec.schedule = "0 0 * * 7".into(),
            want: "spec.schedule: Invalid value: \"0 0 * * 7\": ",
        },
        Case {
            name: "empty schedule",
            edit: |cj| cj.spec.schedule = String::new(),
            want: "spec.schedule: Required value",
        },
        Case {
            name: "S85 TZ= in the schedule",
            edit: |cj| cj.spec.schedule = "TZ=UTC 0 * * * *".into(),
            want: "spec.schedule: Invalid value: \"TZ=UTC 0 * * * *\": cannot use TZ or CRON_TZ in schedule, use timeZone field instead",
        },
        Case {
            name: "CRON_TZ= in the schedule",
            edit: |cj| cj.spec.schedule = "CRON_TZ=Europe/Berlin @hourly".into(),
            want: "cannot use TZ or CRON_TZ in schedule",
        },
        Case {
            name: "S84 unknown time zone",
            edit: |cj| cj.spec.time_zone = Some("bad-time-zone".into()),
            want: "spec.timeZone: Invalid value: \"bad-time-zone\": unknown time zone bad-time-zone",
        },
        Case {
            name: "Local is not a zone",
            edit: |cj| cj.spec.time_zone = Some("Local".into()),
            want: "spec.timeZone: Invalid value: \"Local\"",
        },
        Case {
            name: "S85 a 53-character name",
            edit: |cj| cj.metadata.name = "a".repeat(53),
            want: "metadata.name: Invalid value: \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\": must be no more than 52 characters",
        },
        Case {
            name: "negative starting deadline",
            edit: |cj| cj.spec.starting_deadline_seconds = Some(-1),
            want: "spec.startingDeadlineSeconds: Invalid value: -1: must be greater than or equal to 0",
        },
        Case {
            name: "unknown policy",
            edit: |cj| cj.spec.concurrency_policy = Some("Sometimes".into()),
            want: "spec.concurrencyPolicy: Unsupported value: \"Sometimes\": supported values: \"Allow\", \"Forbid\", \"Replace\"",
        },
        Case {
            name: "negative history",
            edit: |cj| cj.spec.failed_jobs_history_limit = Some(-2),
            want: "spec.failedJobsHistoryLimit: Invalid value: -2: must be greater than or equal to 0",
        },
        Case {
            name: "template Job spec rules, under the template's path",
            edit: |cj| cj.spec.job_template.spec.parallelism = Some(-1),
            want: "spec.jobTemplate.spec.parallelism: Invalid value: -1: must be greater than or equal to 0",
        },
        Case {
            name: "template restartPolicy Always",
            edit: |cj| cj.spec.job_template.spec.template.spec.restart_policy = Some("Always".into()),
            want: "spec.jobTemplate.spec.template.spec.restartPolicy: Required value: valid values: \"OnFailure\", \"Never\"",
        },
        Case {
            name: "template selector is generated",
            edit: |cj| cj.spec.job_template.spec.selector = Some(Default::default()),
            want: "spec.jobTemplate.spec.selector: Invalid value: ",
        },
        Case {
            name: "template manualSelector",
            edit: |cj| cj.spec.job_template.spec.manual_selector = Some(true),
            want: "spec.jobTemplate.spec.manualSelector: Unsupported value: \"true\"",
        },
    ];
    for case in cases {
        let mut cj = hello();
        (case.edit)(&mut cj);
        let got = messages(&cj);
        assert!(
            got.iter().any(|m| m.starts_with(case.want) || m.contains(case.want)),
            "{}: {got:#?}",
            case.name
        );
    }
}

#[test]
fn every_error_is_reported() {
    let mut cj = hello();
    cj.spec.schedule = "61 * * * *".into();
    cj.spec.time_zone = Some("Mars/Olympus".into());
    cj.spec.starting_deadline_seconds = Some(-5);
    assert_eq!(messages(&cj).len(), 3, "{:#?}", messages(&cj));
}

#[test]
fn article_hello_manifest_decodes_unchanged() {
    let text = include_str!("../../../examples/cronjob-hello.yaml");
    let objects = parse_each(text, "cronjob-hello.yaml").unwrap();
    let Ok(Object::CronJob(cj)) = &objects[0] else { panic!("{objects:#?}") };
    assert_eq!(cj.metadata.name, "hello");
    assert_eq!(cj.spec.schedule, "*/1 * * * *");
    let mut cj = cj.clone();
    cj.apply_defaults();
    assert_eq!(cj.api_version, "batch/v1", "stored as batch/v1");
}

#[test]
fn unknown_cronjob_field_is_refused_with_its_path() {
    let text = "apiVersion: batch/v1\nkind: CronJob\nmetadata:\n  name: x\nspec:\n  schedule: '@hourly'\n  concurencyPolicy: Forbid\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          containers: [{name: c, image: i, command: [\"true\"]}]\n          restartPolicy: Never\n";
    let objects = parse_each(text, "x.yaml").unwrap();
    let err = objects[0].as_ref().unwrap_err();
    assert!(err.to_string().contains("unknown field \"spec.concurencyPolicy\""), "{err}");
}
