//! `validate_job` and the shared name and label rules (semantics.md §1.3), checked on Job values
//! built in Rust, with the exact Kubernetes-style messages.

use std::collections::BTreeMap;

use drover_api::job::pod_failure_action;
use drover_api::manifest::{Object, parse_documents};
use drover_api::meta::LabelSelectorRequirement;
use drover_api::validation::{
    FieldError, FieldErrorKind, ValidationErrors, validate_job, validate_label_selector, validate_labels,
    validate_name,
};
use drover_api::{
    Container, EnvVar, Job, LabelSelector, PodFailurePolicy, PodFailurePolicyOnExitCodes,
    PodFailurePolicyOnPodCondition, PodFailurePolicyRule, labels,
};

/// The docs' pi Job, built in Rust.
fn pi() -> Job {
    let mut job = Job { api_version: "batch/v1".into(), kind: "Job".into(), ..Job::default() };
    job.metadata.name = "pi".into();
    job.spec.backoff_limit = Some(4);
    job.spec.template.spec.restart_policy = Some("Never".into());
    job.spec.template.spec.containers = vec![Container {
        name: "pi".into(),
        image: Some("perl:5.34.0".into()),
        command: ["perl", "-Mbignum=bpi", "-wle", "print bpi(2000)"].map(String::from).to_vec(),
        ..Container::default()
    }];
    job
}

/// The messages of `validate_job`, empty when valid.
fn messages(job: &Job) -> Vec<String> {
    match validate_job(job) {
        Ok(()) => Vec::new(),
        Err(errors) => errors.iter().map(ToString::to_string).collect(),
    }
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

#[test]
fn pi_is_valid_before_and_after_defaults() {
    let mut job = pi();
    assert_eq!(messages(&job), Vec::<String>::new());
    job.apply_defaults();
    assert_eq!(messages(&job), Vec::<String>::new());
}

#[test]
fn zero_is_allowed_for_counts() {
    let mut job = pi();
    job.spec.parallelism = Some(0);
    job.spec.completions = Some(0);
    job.spec.backoff_limit = Some(0);
    job.spec.active_deadline_seconds = Some(0);
    job.spec.ttl_seconds_after_finished = Some(0);
    assert!(validate_job(&job).is_ok());
}

#[test]
fn display_of_the_error_list() {
    let mut job = pi();
    job.spec.parallelism = Some(-1);
    job.spec.template.spec.restart_policy = None;
    let errors: ValidationErrors = validate_job(&job).unwrap_err();
    assert_eq!(errors.len(), 2);
    assert_eq!(
        errors.to_string(),
        "spec.parallelism: Invalid value: -1: must be greater than or equal to 0; \
         spec.template.spec.restartPolicy: Required value: valid values: \"OnFailure\", \"Never\""
    );
    assert_eq!(
        errors.kubectl_message("Job", "pi"),
        "The Job \"pi\" is invalid: \n\
         * spec.parallelism: Invalid value: -1: must be greater than or equal to 0\n\
         * spec.template.spec.restartPolicy: Required value: valid values: \"OnFailure\", \"Never\""
    );
    assert_eq!(
        errors.0[0],
        FieldError {
            path: "spec.parallelism".into(),
            kind: FieldErrorKind::Invalid,
            value: Some("-1".into()),
            detail: "must be greater than or equal to 0".into(),
        }
    );
}

#[test]
fn empty_restart_policy_is_required() {
    let mut job = pi();
    job.spec.template.spec.restart_policy = Some(String::new());
    assert_eq!(
        messages(&job),
        ["spec.template.spec.restartPolicy: Required value: valid values: \"OnFailure\", \"Never\""]
    );
}

#[test]
fn on_failure_is_allowed() {
    let mut job = pi();
    job.spec.template.spec.restart_policy = Some("OnFailure".into());
    assert!(validate_job(&job).is_ok());
}

#[test]
fn completion_mode() {
    let mut job = pi();
    job.spec.completion_mode = Some("NonIndexed".into());
    assert!(validate_job(&job).is_ok());
    job.spec.completion_mode = Some("Sparse".into());
    assert_eq!(
        messages(&job),
        ["spec.completionMode: Unsupported value: \"Sparse\": supported values: \"NonIndexed\", \
          \"Indexed\""]
    );
}

/// The docs' "Indexed Job for Parallel Processing with Static Work Assignment" shape: pi with
/// `completionMode: Indexed`, `completions: 5`, `parallelism: 3`.
fn indexed() -> Job {
    let mut job = pi();
    job.metadata.name = "indexed-job".into();
    job.spec.completion_mode = Some("Indexed".into());
    job.spec.completions = Some(5);
    job.spec.parallelism = Some(3);
    job
}

/// VAL-3 and VAL-9 for Indexed Jobs, with Kubernetes' messages (`validateJobSpec` and
/// `ValidateJob` in pkg/apis/batch/validation).
#[test]
fn indexed_completion_mode() {
    type Edit = fn(&mut Job);
    let cases: &[(&str, Edit, &[&str])] = &[
        ("the docs' shape", |_| {}, &[]),
        ("valid after defaults", |job| job.apply_defaults(), &[]),
        ("completions 0", |job| job.spec.completions = Some(0), &[]),
        ("parallelism unset", |job| job.spec.parallelism = None, &[]),
        ("parallelism 0", |job| job.spec.parallelism = Some(0), &[]),
        ("parallelism at the limit", |job| job.spec.parallelism = Some(100_000), &[]),
        (
            // Kubernetes does not bound completions for Indexed Jobs (only, with
            // backoffLimitPerIndex, the parallelism of Jobs above 100000 completions).
            "completions above 100000",
            |job| job.spec.completions = Some(1_000_000),
            &[],
        ),
        (
            "completions missing",
            |job| job.spec.completions = None,
            &["spec.completions: Required value: when completion mode is Indexed"],
        ),
        (
            "parallelism over the limit",
            |job| job.spec.parallelism = Some(100_001),
            &["spec.parallelism: Invalid value: 100001: must be less than or equal to 100000 when \
               completion mode is Indexed"],
        ),
        (
            "negative completions",
            |job| job.spec.completions = Some(-1),
            &["spec.completions: Invalid value: -1: must be greater than or equal to 0"],
        ),
        (
            "the last pod's hostname is not a DNS label",
            |job| job.metadata.name = "a".repeat(62),
            &[
                "metadata.name: Invalid value: \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\": \
               will not able to create pod with invalid DNS label: \
               aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-4",
            ],
        ),
        (
            "a name that fits with index 4 but not with index 10",
            |job| {
                job.metadata.name = "b".repeat(61);
                job.spec.completions = Some(11);
            },
            &[
                "metadata.name: Invalid value: \"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\": \
               will not able to create pod with invalid DNS label: \
               bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-10",
            ],
        ),
        (
            "the same name fits with 10 completions (index 9)",
            |job| {
                job.metadata.name = "b".repeat(61);
                job.spec.completions = Some(10);
            },
            &[],
        ),
        (
            // A dot is allowed in a Job name (a DNS subdomain) but not in a hostname.
            "a dotted name",
            |job| job.metadata.name = "indexed.job".into(),
            &["metadata.name: Invalid value: \"indexed.job\": will not able to create pod with \
               invalid DNS label: indexed.job-4"],
        ),
        (
            "a dotted name with no completions creates no pod",
            |job| {
                job.metadata.name = "indexed.job".into();
                job.spec.completions = Some(0);
            },
            &[],
        ),
    ];
    for (name, edit, want) in cases {
        let mut job = indexed();
        edit(&mut job);
        assert_eq!(messages(&job), *want, "{name}");
    }
    // A NonIndexed Job's name is not checked as a hostname.
    let mut job = indexed();
    job.spec.completion_mode = None;
    job.metadata.name = "indexed.job".into();
    assert_eq!(messages(&job), Vec::<String>::new());
}

#[test]
fn pod_replacement_policy() {
    let mut job = pi();
    for ok in ["Failed", "TerminatingOrFailed"] {
        job.spec.pod_replacement_policy = Some(ok.into());
        assert!(validate_job(&job).is_ok(), "{ok}");
    }
    job.spec.pod_replacement_policy = Some("Terminating".into());
    assert_eq!(
        messages(&job),
        ["spec.podReplacementPolicy: Unsupported value: \"Terminating\": supported values: \
          \"TerminatingOrFailed\", \"Failed\""]
    );
}

#[test]
fn namespace_must_be_default() {
    let mut job = pi();
    job.metadata.namespace = Some("default".into());
    assert!(validate_job(&job).is_ok());
    job.metadata.namespace = Some("x".into());
    assert_eq!(
        messages(&job),
        ["metadata.namespace: Invalid value: \"x\": Drover has a single namespace, \"default\""]
    );
}

#[test]
fn api_version_and_kind() {
    let mut job = pi();
    job.api_version = String::new();
    job.kind = String::new();
    assert!(validate_job(&job).is_ok(), "defaulting fills them in");
    job.api_version = "batch/v1beta1".into();
    job.kind = "CronJob".into();
    assert_eq!(
        messages(&job),
        [
            "apiVersion: Unsupported value: \"batch/v1beta1\": supported values: \"batch/v1\"",
            "kind: Unsupported value: \"CronJob\": supported values: \"Job\"",
        ]
    );
}

#[test]
fn name_or_generate_name() {
    let mut job = pi();
    job.metadata.name = String::new();
    assert_eq!(messages(&job), ["metadata.name: Required value: name or generateName is required"]);
    job.metadata.generate_name = Some("pi-".into());
    assert!(validate_job(&job).is_ok());
    job.metadata.generate_name = Some("Pi_".into());
    assert_eq!(messages(&job).len(), 1);
    assert!(
        messages(&job)[0]
            .starts_with("metadata.generateName: Invalid value: \"Pi_\": a lowercase RFC 1123 subdomain")
    );
}

#[test]
fn names() {
    assert!(validate_name("metadata.name", "pi", 63).is_empty());
    assert!(validate_name("metadata.name", "job.v2-a", 63).is_empty());
    assert_eq!(validate_name("metadata.name", "", 63), [FieldError::required("metadata.name", "")]);
    // Too long and malformed: both reported.
    let long_bad = format!("{}_", "a".repeat(63));
    let errs: Vec<String> =
        validate_name("metadata.name", &long_bad, 63).iter().map(ToString::to_string).collect();
    assert_eq!(errs.len(), 2);
    assert_eq!(
        errs[0],
        format!("metadata.name: Invalid value: \"{long_bad}\": must be no more than 63 characters")
    );
    // Past 253 characters only the tighter limit is reported.
    let huge = "a".repeat(300);
    assert_eq!(validate_name("metadata.name", &huge, 63).len(), 1);
    assert_eq!(validate_name("x", &"a".repeat(254), 300).len(), 1);
}

#[test]
fn label_syntax() {
    let good = map(&[("app", "pi"), ("example.com/tier", ""), ("a_b.c-d", "V1.2_x")]);
    assert!(validate_labels("metadata.labels", &good).is_empty());
    let bad = map(&[("-app", "ok"), ("a/b/c", "ok"), ("k", "bad value"), ("Ex.com/x", "ok")]);
    let errs: Vec<String> =
        validate_labels("metadata.labels", &bad).iter().map(ToString::to_string).collect();
    assert_eq!(
        errs,
        [
            "metadata.labels: Invalid value: \"-app\": name part must consist of alphanumeric \
             characters, '-', '_' or '.', and must start and end with an alphanumeric character",
            "metadata.labels: Invalid value: \"Ex.com/x\": prefix part a lowercase RFC 1123 \
             subdomain must consist of lower case alphanumeric characters, '-' or '.', and must \
             start and end with an alphanumeric character",
            "metadata.labels: Invalid value: \"a/b/c\": a qualified name must consist of \
             alphanumeric characters, '-', '_' or '.', and must start and end with an \
             alphanumeric character, with an optional DNS subdomain prefix and '/' (e.g. \
             'example.com/MyName')",
            "metadata.labels: Invalid value: \"bad value\": a valid label must be an empty string \
             or consist of alphanumeric characters, '-', '_' or '.', and must start and end with \
             an alphanumeric character",
        ]
    );
    let long_value = map(&[("k", &"v".repeat(64))]);
    assert_eq!(
        validate_labels("metadata.labels", &long_value)[0].detail,
        "must be no more than 63 characters"
    );
}

#[test]
fn labels_are_checked_on_job_template_and_selector() {
    let mut job = pi();
    job.metadata.labels = map(&[("a b", "x")]);
    job.spec.template.metadata.labels = map(&[("jobgroup", "x y")]);
    job.spec.manual_selector = Some(true);
    job.spec.selector =
        Some(LabelSelector { match_labels: map(&[("jobgroup", "x y")]), ..LabelSelector::default() });
    let paths: Vec<String> = validate_job(&job).unwrap_err().iter().map(|e| e.path.clone()).collect();
    assert_eq!(paths, ["metadata.labels", "spec.selector.matchLabels", "spec.template.metadata.labels"]);
}

#[test]
fn selector_must_be_generated_unless_manual() {
    let mut job = pi();
    job.spec.template.metadata.labels = map(&[("app", "pi")]);
    job.spec.selector =
        Some(LabelSelector { match_labels: map(&[("app", "pi")]), ..LabelSelector::default() });
    assert_eq!(
        messages(&job),
        ["spec.selector: Invalid value: {\"matchLabels\":{\"app\":\"pi\"}}: `selector` not auto-generated"]
    );
    job.spec.manual_selector = Some(false);
    assert_eq!(messages(&job).len(), 1);
    job.spec.manual_selector = Some(true);
    assert!(validate_job(&job).is_ok());
}

#[test]
fn manual_selector_must_exist_and_match_the_template() {
    let mut job = pi();
    job.spec.manual_selector = Some(true);
    assert_eq!(messages(&job), ["spec.selector: Required value"]);
    job.spec.template.metadata.labels = map(&[("app", "pi")]);
    job.spec.selector =
        Some(LabelSelector { match_labels: map(&[("app", "other")]), ..LabelSelector::default() });
    assert_eq!(
        messages(&job),
        ["spec.template.metadata.labels: Invalid value: {\"app\":\"pi\"}: `selector` does not \
          match template `labels`"]
    );
}

#[test]
fn generated_labels_must_not_conflict() {
    let mut job = pi();
    job.spec.template.metadata.labels =
        map(&[(labels::CONTROLLER_UID, "abc"), (labels::JOB_NAME, "other"), (labels::JOB_NAME_LEGACY, "pi")]);
    assert_eq!(
        messages(&job),
        [
            "spec.template.metadata.labels[batch.kubernetes.io/controller-uid]: Invalid value: \
             \"abc\": must not be set unless `manualSelector` is true; it is generated from the \
             Job's uid",
            "spec.template.metadata.labels[batch.kubernetes.io/job-name]: Invalid value: \
             \"other\": must be 'pi'",
        ]
    );
}

#[test]
fn selector_expressions() {
    let selector = LabelSelector {
        match_labels: BTreeMap::new(),
        match_expressions: vec![
            LabelSelectorRequirement { key: "a".into(), operator: "In".into(), values: vec![] },
            LabelSelectorRequirement { key: "b".into(), operator: "Exists".into(), values: vec!["x".into()] },
            LabelSelectorRequirement { key: "c".into(), operator: "Near".into(), values: vec![] },
            LabelSelectorRequirement {
                key: "d".into(),
                operator: "NotIn".into(),
                values: vec!["ok".into(), "not ok".into()],
            },
        ],
    };
    let errs: Vec<String> =
        validate_label_selector("spec.selector", &selector).iter().map(ToString::to_string).collect();
    assert_eq!(errs.len(), 4);
    assert_eq!(
        errs[0],
        "spec.selector.matchExpressions[0].values: Required value: must be specified when \
         `operator` is 'In' or 'NotIn'"
    );
    assert_eq!(
        errs[1],
        "spec.selector.matchExpressions[1].values: Forbidden: may not be specified when \
         `operator` is 'Exists' or 'DoesNotExist'"
    );
    assert_eq!(
        errs[2],
        "spec.selector.matchExpressions[2].operator: Unsupported value: \"Near\": supported \
         values: \"In\", \"NotIn\", \"Exists\", \"DoesNotExist\""
    );
    assert!(errs[3].starts_with("spec.selector.matchExpressions[3].values[1]: Invalid value: \"not ok\""));
}

#[test]
fn containers() {
    let mut job = pi();
    job.spec.template.spec.containers.clear();
    assert_eq!(messages(&job), ["spec.template.spec.containers: Required value"]);

    let mut job = pi();
    let second = job.spec.template.spec.containers[0].clone();
    job.spec.template.spec.containers.push(second);
    let errors = validate_job(&job).unwrap_err();
    assert_eq!(errors.0[0].kind, FieldErrorKind::TooMany);
    assert_eq!(
        errors.iter().map(ToString::to_string).collect::<Vec<_>>(),
        [
            "spec.template.spec.containers: Too many: 2: must have at most 1 item: Drover runs \
             one process per pod",
            "spec.template.spec.containers[1].name: Duplicate value: \"pi\"",
        ]
    );
}

#[test]
fn container_name_and_command() {
    let mut job = pi();
    let c = &mut job.spec.template.spec.containers[0];
    c.name = String::new();
    c.command.clear();
    assert_eq!(
        messages(&job),
        [
            "spec.template.spec.containers[0].name: Required value",
            "spec.template.spec.containers[0].command: Required value: Drover runs the command on \
             the worker's host and does not run the image's entrypoint",
        ]
    );
    let c = &mut job.spec.template.spec.containers[0];
    c.name = "Pi".into();
    c.args = vec!["/bin/true".into()];
    assert_eq!(
        messages(&job),
        ["spec.template.spec.containers[0].name: Invalid value: \"Pi\": a lowercase RFC 1123 \
          label must consist of lower case alphanumeric characters or '-', and must start and end \
          with an alphanumeric character"]
    );
    let c = &mut job.spec.template.spec.containers[0];
    c.name = "pi".into();
    c.command = vec![String::new()];
    assert_eq!(
        messages(&job),
        ["spec.template.spec.containers[0].command[0]: Invalid value: \"\": the executable must \
          not be empty"]
    );
}

#[test]
fn env_names() {
    let mut job = pi();
    job.spec.template.spec.containers[0].env = vec![
        EnvVar { name: "OK_1".into(), value: "x".into() },
        EnvVar { name: String::new(), value: "x".into() },
        EnvVar { name: "A=B".into(), value: "x".into() },
        EnvVar { name: "my.var-name".into(), value: "x".into() },
    ];
    assert_eq!(
        messages(&job),
        [
            "spec.template.spec.containers[0].env[1].name: Required value",
            "spec.template.spec.containers[0].env[2].name: Invalid value: \"A=B\": a valid \
             environment variable name must consist only of printable ASCII characters other \
             than '='",
        ]
    );
}

#[test]
fn pod_deadlines_and_grace() {
    let mut job = pi();
    job.spec.template.spec.active_deadline_seconds = Some(0);
    job.spec.template.spec.termination_grace_period_seconds = Some(-1);
    assert_eq!(
        messages(&job),
        [
            "spec.template.spec.activeDeadlineSeconds: Invalid value: 0: must be between 1 and \
             2147483647, inclusive",
            "spec.template.spec.terminationGracePeriodSeconds: Invalid value: -1: must be greater \
             than or equal to 0",
        ]
    );
    job.spec.template.spec.active_deadline_seconds = Some(1);
    job.spec.template.spec.termination_grace_period_seconds = Some(0);
    assert!(validate_job(&job).is_ok());
}

// === podFailurePolicy (VAL-2, VAL-5, VAL-7) ===

/// The rules of the docs' `job-pod-failure-policy-example.yaml`.
fn docs_policy() -> PodFailurePolicy {
    PodFailurePolicy {
        rules: vec![
            PodFailurePolicyRule {
                action: pod_failure_action::FAIL_JOB.into(),
                on_exit_codes: Some(PodFailurePolicyOnExitCodes {
                    container_name: Some("main".into()),
                    operator: "In".into(),
                    values: vec![42],
                }),
                on_pod_conditions: vec![],
            },
            PodFailurePolicyRule {
                action: pod_failure_action::IGNORE.into(),
                on_exit_codes: None,
                on_pod_conditions: vec![condition("DisruptionTarget", None)],
            },
        ],
    }
}

fn condition(type_: &str, status: Option<&str>) -> PodFailurePolicyOnPodCondition {
    PodFailurePolicyOnPodCondition { type_: type_.into(), status: status.map(String::from) }
}

/// The pi Job with the docs' policy, its container renamed `main` as in the docs.
fn pi_with_policy() -> Job {
    let mut job = pi();
    job.spec.template.spec.containers[0].name = "main".into();
    job.spec.pod_failure_policy = Some(docs_policy());
    job
}

/// A change to a Job, one row of a table test.
type Edit = fn(&mut Job);

/// The policy's rules, to edit.
fn rules(job: &mut Job) -> &mut Vec<PodFailurePolicyRule> {
    &mut job.spec.pod_failure_policy.as_mut().expect("a podFailurePolicy").rules
}

/// The `onExitCodes` of the first rule, to edit.
fn exit_codes(job: &mut Job) -> &mut PodFailurePolicyOnExitCodes {
    rules(job)[0].on_exit_codes.as_mut().expect("onExitCodes")
}

const QUALIFIED_NAME_DETAIL: &str = "name part must consist of alphanumeric characters, '-', '_' or \
     '.', and must start and end with an alphanumeric character";

#[test]
fn docs_pod_failure_policy_is_valid_before_and_after_defaults() {
    let mut job = pi_with_policy();
    assert_eq!(messages(&job), Vec::<String>::new());
    job.apply_defaults();
    assert_eq!(job.spec.pod_replacement_policy.as_deref(), Some("Failed"));
    assert_eq!(rules(&mut job)[1].on_pod_conditions[0].status.as_deref(), Some("True"));
    assert_eq!(messages(&job), Vec::<String>::new());
}

#[test]
fn pod_failure_policy_accepts() {
    let cases: &[(&str, Edit)] = &[
        ("Count", |job| rules(job)[0].action = pod_failure_action::COUNT.into()),
        ("no containerName", |job| exit_codes(job).container_name = None),
        ("NotIn may hold 0", |job| {
            exit_codes(job).operator = "NotIn".into();
            exit_codes(job).values = vec![0, 1, 42];
        }),
        ("255 values", |job| exit_codes(job).values = (1..=255).collect()),
        ("status False", |job| rules(job)[1].on_pod_conditions[0].status = Some("False".into())),
        ("status Unknown", |job| rules(job)[1].on_pod_conditions[0].status = Some("Unknown".into())),
        ("prefixed type", |job| rules(job)[1].on_pod_conditions[0].type_ = "example.com/My_Cond".into()),
        ("20 patterns", |job| {
            rules(job)[1].on_pod_conditions = vec![condition("DisruptionTarget", Some("True")); 20];
        }),
        ("20 rules", |job| {
            let rule = rules(job)[1].clone();
            *rules(job) = vec![rule; 20];
        }),
        ("no rules", |job| rules(job).clear()),
        ("podReplacementPolicy Failed", |job| job.spec.pod_replacement_policy = Some("Failed".into())),
    ];
    for (name, edit) in cases {
        let mut job = pi_with_policy();
        edit(&mut job);
        assert_eq!(messages(&job), Vec::<String>::new(), "{name}");
    }
}

#[test]
fn pod_failure_policy_refuses() {
    const R0: &str = "spec.podFailurePolicy.rules[0]";
    const R1: &str = "spec.podFailurePolicy.rules[1]";
    let cases: Vec<(&str, Edit, String)> = vec![
        (
            "OnFailure",
            |job| job.spec.template.spec.restart_policy = Some("OnFailure".into()),
            "spec.template.spec.restartPolicy: Invalid value: \"OnFailure\": only \"Never\" is \
             supported when podFailurePolicy is specified"
                .into(),
        ),
        (
            "21 rules",
            |job| {
                let rule = rules(job)[1].clone();
                *rules(job) = vec![rule; 21];
            },
            "spec.podFailurePolicy.rules: Too many: 21: must have at most 20 items".into(),
        ),
        (
            "both requirements",
            |job| rules(job)[0].on_pod_conditions = vec![condition("DisruptionTarget", None)],
            format!("{R0}: Invalid value: specifying both OnExitCodes and OnPodConditions is not supported"),
        ),
        (
            "no requirement",
            |job| rules(job)[0].on_exit_codes = None,
            format!("{R0}: Invalid value: specifying one of OnExitCodes and OnPodConditions is required"),
        ),
        (
            "empty onPodConditions is no requirement",
            |job| rules(job)[1].on_pod_conditions.clear(),
            format!("{R1}: Invalid value: specifying one of OnExitCodes and OnPodConditions is required"),
        ),
        (
            "missing action",
            |job| rules(job)[0].action = String::new(),
            format!(
                "{R0}.action: Required value: valid values: \"Count\", \"FailIndex\", \"FailJob\", \"Ignore\""
            ),
        ),
        (
            "unknown action",
            |job| rules(job)[0].action = "Retry".into(),
            format!(
                "{R0}.action: Unsupported value: \"Retry\": supported values: \"Count\", \"FailIndex\", \
                 \"FailJob\", \"Ignore\""
            ),
        ),
        (
            "FailIndex",
            |job| rules(job)[0].action = pod_failure_action::FAIL_INDEX.into(),
            format!("{R0}.action: Invalid value: \"FailIndex\": requires the backoffLimitPerIndex to be set"),
        ),
        (
            "missing operator",
            |job| exit_codes(job).operator = String::new(),
            format!("{R0}.onExitCodes.operator: Required value: valid values: \"In\", \"NotIn\""),
        ),
        (
            "unknown operator",
            |job| exit_codes(job).operator = "Equals".into(),
            format!(
                "{R0}.onExitCodes.operator: Unsupported value: \"Equals\": supported values: \"In\", \
                 \"NotIn\""
            ),
        ),
        (
            "no values",
            |job| exit_codes(job).values.clear(),
            format!("{R0}.onExitCodes.values: Invalid value: []: at least one value is required"),
        ),
        (
            "256 values",
            |job| exit_codes(job).values = (1..=256).collect(),
            format!("{R0}.onExitCodes.values: Too many: 256: must have at most 255 items"),
        ),
        (
            "duplicate value",
            |job| exit_codes(job).values = vec![1, 42, 42],
            format!("{R0}.onExitCodes.values[2]: Duplicate value: 42"),
        ),
        (
            "unsorted values",
            |job| exit_codes(job).values = vec![42, 1],
            format!("{R0}.onExitCodes.values: Invalid value: [42,1]: must be ordered"),
        ),
        (
            "In with 0",
            |job| exit_codes(job).values = vec![0, 42],
            format!("{R0}.onExitCodes.values[0]: Invalid value: 0: must not be 0 for the In operator"),
        ),
        (
            "unknown containerName",
            |job| exit_codes(job).container_name = Some("sidecar".into()),
            format!(
                "{R0}.onExitCodes.containerName: Invalid value: \"sidecar\": must be one of the \
                 container names in the pod template"
            ),
        ),
        (
            "bad condition type",
            |job| rules(job)[1].on_pod_conditions[0].type_ = "Disruption Target".into(),
            format!(
                "{R1}.onPodConditions[0].type: Invalid value: \"Disruption Target\": \
                 {QUALIFIED_NAME_DETAIL}"
            ),
        ),
        (
            "empty condition type",
            |job| rules(job)[1].on_pod_conditions[0].type_ = String::new(),
            format!("{R1}.onPodConditions[0].type: Invalid value: \"\": name part must be non-empty"),
        ),
        (
            "bad status",
            |job| rules(job)[1].on_pod_conditions[0].status = Some("Maybe".into()),
            format!(
                "{R1}.onPodConditions[0].status: Unsupported value: \"Maybe\": supported values: \
                 \"False\", \"True\", \"Unknown\""
            ),
        ),
        (
            "empty status",
            |job| rules(job)[1].on_pod_conditions[0].status = Some(String::new()),
            format!(
                "{R1}.onPodConditions[0].status: Required value: valid values: \"False\", \"True\", \
                 \"Unknown\""
            ),
        ),
        (
            "21 patterns",
            |job| rules(job)[1].on_pod_conditions = vec![condition("DisruptionTarget", None); 21],
            format!("{R1}.onPodConditions: Too many: 21: must have at most 20 items"),
        ),
        (
            "podReplacementPolicy TerminatingOrFailed",
            |job| job.spec.pod_replacement_policy = Some("TerminatingOrFailed".into()),
            "spec.podReplacementPolicy: Unsupported value: \"TerminatingOrFailed\": supported values: \
             \"Failed\""
                .into(),
        ),
    ];
    for (name, edit, expected) in cases {
        let mut job = pi_with_policy();
        edit(&mut job);
        assert_eq!(messages(&job), [expected], "{name}");
    }
}

#[test]
fn without_a_policy_on_failure_and_terminating_or_failed_stay_valid() {
    let mut job = pi();
    job.spec.template.spec.restart_policy = Some("OnFailure".into());
    job.spec.pod_replacement_policy = Some("TerminatingOrFailed".into());
    assert!(validate_job(&job).is_ok());
}

#[test]
fn every_pod_failure_policy_error_is_reported() {
    let mut job = pi_with_policy();
    job.spec.template.spec.restart_policy = Some("OnFailure".into());
    job.spec.pod_replacement_policy = Some("TerminatingOrFailed".into());
    rules(&mut job)[0].action = "Retry".into();
    *exit_codes(&mut job) = PodFailurePolicyOnExitCodes {
        container_name: Some("sidecar".into()),
        operator: "In".into(),
        values: vec![0, 3, 3, 1],
    };
    rules(&mut job)[1].on_pod_conditions.push(condition("-bad", Some("Maybe")));
    rules(&mut job).push(PodFailurePolicyRule {
        action: pod_failure_action::FAIL_INDEX.into(),
        ..PodFailurePolicyRule::default()
    });
    let errors = validate_job(&job).unwrap_err();
    assert_eq!(
        errors.iter().map(ToString::to_string).collect::<Vec<_>>(),
        [
            "spec.podFailurePolicy.rules[0].action: Unsupported value: \"Retry\": supported values: \
             \"Count\", \"FailIndex\", \"FailJob\", \"Ignore\""
                .to_string(),
            "spec.podFailurePolicy.rules[0].onExitCodes.containerName: Invalid value: \"sidecar\": \
             must be one of the container names in the pod template"
                .to_string(),
            "spec.podFailurePolicy.rules[0].onExitCodes.values[0]: Invalid value: 0: must not be 0 \
             for the In operator"
                .to_string(),
            "spec.podFailurePolicy.rules[0].onExitCodes.values[2]: Duplicate value: 3".to_string(),
            "spec.podFailurePolicy.rules[0].onExitCodes.values: Invalid value: [0,3,3,1]: must be \
             ordered"
                .to_string(),
            format!(
                "spec.podFailurePolicy.rules[1].onPodConditions[1].type: Invalid value: \"-bad\": \
                 {QUALIFIED_NAME_DETAIL}"
            ),
            "spec.podFailurePolicy.rules[1].onPodConditions[1].status: Unsupported value: \"Maybe\": \
             supported values: \"False\", \"True\", \"Unknown\""
                .to_string(),
            "spec.podFailurePolicy.rules[2].action: Invalid value: \"FailIndex\": requires the \
             backoffLimitPerIndex to be set"
                .to_string(),
            "spec.podFailurePolicy.rules[2]: Invalid value: specifying one of OnExitCodes and \
             OnPodConditions is required"
                .to_string(),
            "spec.podReplacementPolicy: Unsupported value: \"TerminatingOrFailed\": supported values: \
             \"Failed\""
                .to_string(),
            "spec.template.spec.restartPolicy: Invalid value: \"OnFailure\": only \"Never\" is \
             supported when podFailurePolicy is specified"
                .to_string(),
        ]
    );
    assert_eq!(errors.0[8].value, None, "the rule itself is not shown");
}

/// The docs' `job-pod-failure-policy-example.yaml`, verbatim.
const POD_FAILURE_POLICY_JOB: &str = r#"apiVersion: batch/v1
kind: Job
metadata:
  name: job-pod-failure-policy-example
spec:
  completions: 12
  parallelism: 3
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: main
        image: docker.io/library/bash:5
        command: ["bash"]        # example command simulating a bug which triggers the FailJob action
        args:
        - -c
        - echo "Hello world!" && sleep 5 && exit 42
  backoffLimit: 6
  podFailurePolicy:
    rules:
    - action: FailJob
      onExitCodes:
        containerName: main      # optional
        operator: In             # one of: In, NotIn
        values: [42]
    - action: Ignore             # one of: Ignore, FailJob, Count
      onPodConditions:
      - type: DisruptionTarget   # indicates Pod disruption
"#;

#[test]
fn pod_failure_policy_manifest_parses() {
    let objects = parse_documents(POD_FAILURE_POLICY_JOB, "job.yaml").unwrap_or_else(|e| panic!("{e}"));
    let [Object::Job(job)] = objects.as_slice() else { panic!("expected one Job") };
    assert_eq!(job.spec.pod_failure_policy, Some(docs_policy()));
}

#[test]
fn pod_failure_policy_manifest_errors() {
    let text = POD_FAILURE_POLICY_JOB
        .replace("restartPolicy: Never", "restartPolicy: OnFailure")
        .replace("onExitCodes:", "onExitCode:")
        .replace("- type: DisruptionTarget", "- type: DisruptionTarget\n        status: Maybe");
    let err = parse_documents(&text, "job.yaml").unwrap_err();
    assert_eq!(
        err.messages,
        [
            "unknown field \"spec.podFailurePolicy.rules[0].onExitCode\"",
            "spec.podFailurePolicy.rules[0]: Invalid value: specifying one of OnExitCodes and \
             OnPodConditions is required",
            "spec.podFailurePolicy.rules[1].onPodConditions[0].status: Unsupported value: \
             \"Maybe\": supported values: \"False\", \"True\", \"Unknown\"",
            "spec.template.spec.restartPolicy: Invalid value: \"OnFailure\": only \"Never\" is \
             supported when podFailurePolicy is specified",
        ]
    );
}

#[test]
fn queue_password_from_names_one_source_and_keeps_the_url_free_of_a_password() {
    use drover_api::job::{PasswordSource, QueueSpec};
    let with = |url: &str, env: Option<&str>, file: Option<&str>| {
        let mut job = pi();
        job.spec.parallelism = Some(2);
        job.spec.queue = Some(QueueSpec {
            url: url.into(),
            name: "tasks".into(),
            password_from: Some(PasswordSource { env: env.map(Into::into), file: file.map(Into::into) }),
            ..QueueSpec::default()
        });
        messages(&job)
    };
    let user_only = "amqp://drover@rabbitmq:5672/%2f";
    for (name, got, want) in [
        ("env", with(user_only, Some("RABBITMQ_PASSWORD"), None), vec![]),
        ("file", with("redis://redis:6379", None, Some("/run/secrets/redis")), vec![]),
        (
            "both",
            with(user_only, Some("A"), Some("/x")),
            vec![
                "spec.queue.passwordFrom: Invalid value: \"env and file\": may not specify more than 1 password source",
            ],
        ),
        (
            "neither",
            with(user_only, None, None),
            vec!["spec.queue.passwordFrom: Required value: env or file"],
        ),
        (
            "a bad variable name",
            with(user_only, Some("1PASS-WORD"), None),
            vec![
                "spec.queue.passwordFrom.env: Invalid value: \"1PASS-WORD\": a valid environment variable name must consist of letters, digits and '_', and not start with a digit",
            ],
        ),
        (
            "a relative file",
            with(user_only, None, Some("secrets/pw")),
            vec!["spec.queue.passwordFrom.file: Invalid value: \"secrets/pw\": must be an absolute path"],
        ),
        (
            "a password in the URL too (shown masked)",
            with("amqp://drover:hunter2@rabbitmq:5672/%2f", Some("PW"), None),
            vec![
                "spec.queue.url: Invalid value: \"amqp://drover:***@rabbitmq:5672/%2f\": may not carry a password when passwordFrom is set",
            ],
        ),
    ] {
        assert_eq!(got, want, "{name}");
    }
}

/// An Indexed pi Job of `completions` with `backoffLimitPerIndex: 1`.
fn per_index(completions: i32) -> Job {
    let mut job = pi();
    job.spec.completion_mode = Some("Indexed".into());
    job.spec.completions = Some(completions);
    job.spec.parallelism = Some(2);
    job.spec.backoff_limit = None;
    job.spec.backoff_limit_per_index = Some(1);
    job
}

/// The messages about the per-index fields and the success policy (VAL-1, VAL-3, VAL-4, VAL-6),
/// leaving out what other rules say about the same Job.
fn per_index_messages(job: &Job) -> Vec<String> {
    const PATHS: [&str; 4] =
        ["spec.backoffLimitPerIndex", "spec.maxFailedIndexes", "spec.successPolicy", "spec.parallelism"];
    messages(job).into_iter().filter(|m| PATHS.iter().any(|p| m.starts_with(p))).collect()
}

#[test]
fn per_index_fields_and_success_policy_refuse_with_upstreams_messages() {
    use drover_api::{SuccessPolicy, SuccessPolicyRule};
    let rule = |indexes: Option<&str>, count: Option<i32>| SuccessPolicyRule {
        succeeded_indexes: indexes.map(String::from),
        succeeded_count: count,
    };
    let cases: Vec<(&str, Job, Vec<&str>)> = vec![
        ("an Indexed Job with per-index fields is valid", per_index(4), vec![]),
        (
            "VAL-1: negative",
            {
                let mut j = per_index(4);
                j.spec.backoff_limit_per_index = Some(-1);
                j.spec.max_failed_indexes = Some(-2);
                j
            },
            vec![
                "spec.backoffLimitPerIndex: Invalid value: -1: must be greater than or equal to 0",
                "spec.maxFailedIndexes: Invalid value: -2: must be greater than or equal to 0",
            ],
        ),
        (
            "VAL-4: NonIndexed",
            {
                let mut j = pi();
                j.spec.backoff_limit_per_index = Some(1);
                j.spec.max_failed_indexes = Some(1);
                j
            },
            vec![
                "spec.backoffLimitPerIndex: Invalid value: 1: requires indexed completion mode",
                "spec.maxFailedIndexes: Invalid value: 1: requires indexed completion mode",
            ],
        ),
        (
            "VAL-4: maxFailedIndexes alone",
            {
                let mut j = per_index(4);
                j.spec.backoff_limit_per_index = None;
                j.spec.max_failed_indexes = Some(1);
                j
            },
            vec!["spec.backoffLimitPerIndex: Required value: when maxFailedIndexes is specified"],
        ),
        (
            "VAL-3: maxFailedIndexes above completions",
            {
                let mut j = per_index(4);
                j.spec.max_failed_indexes = Some(5);
                j
            },
            vec!["spec.maxFailedIndexes: Invalid value: 5: must be less than or equal to completions"],
        ),
        (
            "VAL-3: above 100000 completions",
            {
                let mut j = per_index(100_001);
                j.spec.parallelism = Some(10_001);
                j
            },
            vec![
                "spec.maxFailedIndexes: Required value: must be specified when completions is above 100000",
                "spec.parallelism: Invalid value: 10001: must be less than or equal to 10000 when completions \
                 are above 100000 and used with backoff limit per index",
            ],
        ),
        (
            "VAL-6: NonIndexed",
            {
                let mut j = pi();
                j.spec.success_policy = Some(SuccessPolicy { rules: vec![rule(None, Some(1))] });
                j
            },
            vec![
                "spec.successPolicy: Invalid value: {\"rules\":[{\"succeededCount\":1}]}: requires indexed \
                 completion mode",
            ],
        ),
        (
            "VAL-6: no rules",
            {
                let mut j = per_index(4);
                j.spec.success_policy = Some(SuccessPolicy { rules: vec![] });
                j
            },
            vec![
                "spec.successPolicy.rules: Required value: at least one rules must be specified when the \
                 successPolicy is specified",
            ],
        ),
        (
            "VAL-6: 21 rules",
            {
                let mut j = per_index(4);
                j.spec.success_policy = Some(SuccessPolicy { rules: vec![rule(None, Some(1)); 21] });
                j
            },
            vec!["spec.successPolicy.rules: Too many: 21: must have at most 20 items"],
        ),
        (
            "VAL-6: a rule with neither field",
            {
                let mut j = per_index(4);
                j.spec.success_policy = Some(SuccessPolicy { rules: vec![rule(None, None)] });
                j
            },
            vec![
                "spec.successPolicy.rules[0]: Required value: at least one of succeededCount or \
                 succeededIndexes must be specified",
            ],
        ),
        (
            "VAL-6: counts above completions and above the listed indexes",
            {
                let mut j = per_index(5);
                j.spec.success_policy =
                    Some(SuccessPolicy { rules: vec![rule(None, Some(6)), rule(Some("0-2"), Some(4))] });
                j
            },
            vec![
                "spec.successPolicy.rules[0].succeededCount: Invalid value: 6: must be less than or equal \
                 to 5 (the number of specified completions)",
                "spec.successPolicy.rules[1].succeededCount: Invalid value: 4: must be less than or equal \
                 to 3 (the number of indexes in the specified succeededIndexes field)",
            ],
        ),
        (
            "VAL-6: indexes out of range",
            {
                let mut j = per_index(5);
                j.spec.success_policy = Some(SuccessPolicy { rules: vec![rule(Some("0,5"), None)] });
                j
            },
            vec![
                "spec.successPolicy.rules[0].succeededIndexes: Invalid value: \"0,5\": error parsing \
                 succeededIndexes: too large index: \"5\"",
            ],
        ),
        (
            "VAL-6: a valid policy",
            {
                let mut j = per_index(5);
                j.spec.success_policy =
                    Some(SuccessPolicy { rules: vec![rule(Some("0"), None), rule(Some("1-4"), Some(2))] });
                j
            },
            vec![],
        ),
    ];
    for (name, job, want) in cases {
        assert_eq!(per_index_messages(&job), want, "{name}");
    }
    // VAL-5: FailIndex is accepted once backoffLimitPerIndex is set.
    let mut job = per_index(4);
    job.spec.pod_failure_policy = Some(PodFailurePolicy {
        rules: vec![PodFailurePolicyRule {
            action: pod_failure_action::FAIL_INDEX.into(),
            on_exit_codes: Some(PodFailurePolicyOnExitCodes {
                container_name: None,
                operator: "In".into(),
                values: vec![1],
            }),
            on_pod_conditions: vec![],
        }],
    });
    assert!(messages(&job).iter().all(|m| !m.contains("podFailurePolicy")), "{:?}", messages(&job));
    // backoffLimit defaults to MaxInt32 with backoffLimitPerIndex.
    job.apply_defaults();
    assert_eq!(job.spec.backoff_limit, Some(i32::MAX));
}

/// Init containers, volumes and volume mounts: a table of named cases, each with the exact
/// messages (none for a valid pod).
#[test]
fn init_containers_volumes_and_mounts() {
    use drover_api::pod::{EmptyDirVolumeSource, Volume, VolumeMount};
    let empty_dir =
        |name: &str| Volume { name: name.into(), empty_dir: Some(EmptyDirVolumeSource::default()) };
    let mount = |name: &str, at: &str| VolumeMount {
        name: name.into(),
        mount_path: at.into(),
        ..VolumeMount::default()
    };
    let init =
        |name: &str| Container { name: name.into(), command: vec!["true".into()], ..Container::default() };
    type Edit = fn(
        &mut drover_api::PodSpec,
        &dyn Fn(&str) -> Container,
        &dyn Fn(&str, &str) -> VolumeMount,
        &dyn Fn(&str) -> Volume,
    );
    let cases: Vec<(&str, Edit, Vec<&str>)> = vec![
        (
            "the docs' indexed-job shape: an init container and the container share an emptyDir",
            |s, init, mount, vol| {
                s.volumes = vec![vol("input")];
                s.init_containers = vec![init("input")];
                s.init_containers[0].volume_mounts = vec![mount("input", "/input")];
                s.containers[0].volume_mounts = vec![mount("input", "/input")];
            },
            vec![],
        ),
        (
            "an init container named like the container",
            |s, init, _, _| s.init_containers = vec![init("pi")],
            vec![r#"spec.template.spec.containers[0].name: Duplicate value: "pi""#],
        ),
        (
            "an init container is validated as a container",
            |s, init, _, _| s.init_containers = vec![Container { command: vec![], ..init("input") }],
            vec![
                "spec.template.spec.initContainers[0].command: Required value: Drover runs the command on the worker's host and does not run the image's entrypoint",
            ],
        ),
        (
            "a mount of a volume the pod does not have",
            |s, _, mount, _| s.containers[0].volume_mounts = vec![mount("data", "/data")],
            vec![r#"spec.template.spec.containers[0].volumeMounts[0].name: Not found: "data""#],
        ),
        (
            "a volume without a source",
            |s, _, _, _| s.volumes = vec![Volume { name: "data".into(), empty_dir: None }],
            vec!["spec.template.spec.volumes[0]: Required value: must specify a volume type"],
        ),
        (
            "two volumes of one name, and a name that is not a DNS label",
            |s, _, _, vol| s.volumes = vec![vol("data"), vol("data"), vol("Data_1")],
            vec![
                r#"spec.template.spec.volumes[1].name: Duplicate value: "data""#,
                r#"spec.template.spec.volumes[2].name: Invalid value: "Data_1": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character"#,
            ],
        ),
        (
            "an unknown medium",
            |s, _, _, _| {
                s.volumes = vec![Volume {
                    name: "data".into(),
                    empty_dir: Some(EmptyDirVolumeSource { medium: Some("Disk".into()), size_limit: None }),
                }]
            },
            vec![
                r#"spec.template.spec.volumes[0].emptyDir.medium: Unsupported value: "Disk": supported values: "", "Memory""#,
            ],
        ),
        (
            "mount paths: relative, with '..', the root, twice",
            |s, _, mount, vol| {
                s.volumes = vec![vol("data")];
                s.containers[0].volume_mounts = vec![
                    mount("data", "data"),
                    mount("data", "/a/../b"),
                    mount("data", "/"),
                    mount("data", "/x"),
                    mount("data", "/x/"),
                ];
            },
            vec![
                r#"spec.template.spec.containers[0].volumeMounts[0].mountPath: Invalid value: "data": must be an absolute path"#,
                r#"spec.template.spec.containers[0].volumeMounts[1].mountPath: Invalid value: "/a/../b": must not contain '..'"#,
                r#"spec.template.spec.containers[0].volumeMounts[2].mountPath: Invalid value: "/": must not be the root directory"#,
                r#"spec.template.spec.containers[0].volumeMounts[4].mountPath: Invalid value: "/x/": must be unique"#,
            ],
        ),
        (
            "sub paths: absolute, with '..'",
            |s, _, mount, vol| {
                s.volumes = vec![vol("data")];
                s.containers[0].volume_mounts = vec![
                    VolumeMount { sub_path: Some("/abs".into()), ..mount("data", "/a") },
                    VolumeMount { sub_path: Some("x/../..".into()), ..mount("data", "/b") },
                    VolumeMount { sub_path: Some("x/y".into()), ..mount("data", "/c") },
                ];
            },
            vec![
                r#"spec.template.spec.containers[0].volumeMounts[0].subPath: Invalid value: "/abs": must be a relative path"#,
                r#"spec.template.spec.containers[0].volumeMounts[1].subPath: Invalid value: "x/../..": must not contain '..'"#,
            ],
        ),
    ];
    for (name, edit, want) in cases {
        let mut job = pi();
        edit(&mut job.spec.template.spec, &init, &mount, &empty_dir);
        assert_eq!(messages(&job), want, "{name}");
    }
}

/// podFailurePolicy's `containerName` may name an init container.
#[test]
fn on_exit_codes_may_name_an_init_container() {
    let mut job = pi();
    job.spec.template.spec.init_containers =
        vec![Container { name: "input".into(), command: vec!["true".into()], ..Container::default() }];
    job.spec.pod_failure_policy = Some(PodFailurePolicy {
        rules: vec![PodFailurePolicyRule {
            action: pod_failure_action::FAIL_JOB.into(),
            on_exit_codes: Some(PodFailurePolicyOnExitCodes {
                container_name: Some("input".into()),
                operator: "In".into(),
                values: vec![3],
            }),
            on_pod_conditions: vec![],
        }],
    });
    assert_eq!(messages(&job), Vec::<String>::new());
}
