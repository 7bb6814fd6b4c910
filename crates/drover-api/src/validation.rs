//! Validation on create, with Kubernetes-style field errors.
//!
//! [`validate_job`] checks a Job as the user submitted it, before
//! [`Job::apply_defaults`](crate::Job::apply_defaults), and reports every problem it finds rather
//! than only the first (semantics.md §1.3, VAL-1 to VAL-10). Each problem is a [`FieldError`]
//! whose `Display` is the text the Kubernetes API server gives, for example
//! `spec.parallelism: Invalid value: -1: must be greater than or equal to 0`.
//!
//! The name, label, annotation, selector and metadata helpers are public so that the validation
//! of other kinds (CronJob, Worker) uses the same rules and the same messages.
//!
//! This module does no IO and never panics on user input.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::Serialize;

use crate::cronjob::{self, CronJob};
use crate::job::{
    self, Job, JobSpec, PodFailurePolicy, PodFailurePolicyOnExitCodes, PodFailurePolicyOnPodCondition,
    PodFailurePolicyRule, SuccessPolicy,
};
use crate::labels;
use crate::meta::{LabelSelector, ObjectMeta};
use crate::pod::{Container, PodSpec, PodTemplateSpec, Volume, VolumeMount};

/// The only namespace Drover has.
pub const DEFAULT_NAMESPACE: &str = "default";
/// The longest DNS-1123 subdomain (a general object name).
pub const DNS1123_SUBDOMAIN_MAX_LEN: usize = 253;
/// The longest DNS-1123 label (a container name, a host name).
pub const DNS1123_LABEL_MAX_LEN: usize = 63;
/// The longest label value, and the longest name part of a label key.
pub const LABEL_VALUE_MAX_LEN: usize = 63;
/// The longest Job name: the name is also the value of the `job-name` label (VAL-9).
pub const JOB_NAME_MAX_LEN: usize = LABEL_VALUE_MAX_LEN;
/// The largest total size of an object's annotations, keys and values together, in bytes.
pub const ANNOTATIONS_MAX_BYTES: usize = 256 * 1024;
/// `spec.completionMode` of a Job whose pods are interchangeable (the default).
pub const COMPLETION_MODE_NON_INDEXED: &str = "NonIndexed";
/// `spec.completionMode` of a Job whose pods each have a completion index (VAL-3).
pub const COMPLETION_MODE_INDEXED: &str = "Indexed";
/// The largest `parallelism` of an Indexed Job (Kubernetes' `maxParallelismForIndexedJob`),
/// which caps the length of `status.completedIndexes`.
pub const INDEXED_JOB_MAX_PARALLELISM: i32 = 100_000;
/// The most rules a `podFailurePolicy` may have (VAL-5).
pub const POD_FAILURE_POLICY_MAX_RULES: usize = 20;
/// The most exit codes an `onExitCodes` requirement may list (VAL-5).
pub const POD_FAILURE_POLICY_MAX_EXIT_CODES: usize = 255;
/// The most patterns an `onPodConditions` requirement may list (VAL-5).
pub const POD_FAILURE_POLICY_MAX_POD_CONDITIONS: usize = 20;

const DNS1123_SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case \
     alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character";
const DNS1123_LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case \
     alphanumeric characters or '-', and must start and end with an alphanumeric character";
const QUALIFIED_NAME_MSG: &str = "name part must consist of alphanumeric characters, '-', '_' or \
     '.', and must start and end with an alphanumeric character";
const QUALIFIED_NAME_SHAPE_MSG: &str = "a qualified name must consist of alphanumeric \
     characters, '-', '_' or '.', and must start and end with an alphanumeric character, with an \
     optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')";
const LABEL_VALUE_MSG: &str = "a valid label must be an empty string or consist of alphanumeric \
     characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const ENV_VAR_NAME_MSG: &str =
    "a valid environment variable name must consist only of printable ASCII characters other than '='";
const NON_NEGATIVE_MSG: &str = "must be greater than or equal to 0";

/// What is wrong with a field; the `Display` is Kubernetes' `field.ErrorType` text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldErrorKind {
    /// The value is malformed or out of range (`Invalid value`).
    Invalid,
    /// A required value is missing (`Required value`).
    Required,
    /// The value is not one of a fixed set (`Unsupported value`).
    NotSupported,
    /// The field may not be used, or not in this way (`Forbidden`).
    Forbidden,
    /// The value repeats one that must be unique (`Duplicate value`).
    Duplicate,
    /// The value is longer than allowed (`Too long`).
    TooLong,
    /// The list has more items than allowed (`Too many`).
    TooMany,
    /// The value names something that does not exist (`Not found`).
    NotFound,
    /// The manifest has a field that the kind does not have. Displayed the way the API server's
    /// strict decoding reports it: `unknown field "spec.foo"`.
    UnknownField,
}

impl FieldErrorKind {
    /// The Kubernetes text of the kind, such as `Invalid value`.
    pub fn as_str(self) -> &'static str {
        match self {
            FieldErrorKind::Invalid => "Invalid value",
            FieldErrorKind::Required => "Required value",
            FieldErrorKind::NotSupported => "Unsupported value",
            FieldErrorKind::Forbidden => "Forbidden",
            FieldErrorKind::Duplicate => "Duplicate value",
            FieldErrorKind::TooLong => "Too long",
            FieldErrorKind::TooMany => "Too many",
            FieldErrorKind::NotFound => "Not found",
            FieldErrorKind::UnknownField => "Unknown field",
        }
    }
}

impl fmt::Display for FieldErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One problem with one field, in the shape of Kubernetes' `field.Error`.
///
/// `Display` gives `<path>: <kind>[: <value>][: <detail>]`, for example
/// `spec.template.spec.restartPolicy: Unsupported value: "Sometimes": supported values:
/// "OnFailure", "Never"`, except for [`FieldErrorKind::UnknownField`], which gives
/// `unknown field "<path>"`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FieldError {
    /// The field, as a JSON path: `spec.template.spec.containers[0].name`.
    pub path: String,
    /// What is wrong.
    pub kind: FieldErrorKind,
    /// The offending value, already rendered (strings quoted, numbers bare, objects as JSON).
    /// `None` when the message does not show it.
    pub value: Option<String>,
    /// A human-readable explanation; may be empty.
    pub detail: String,
}

impl FieldError {
    /// An `Invalid value` error showing `value`.
    pub fn invalid<V: Serialize + ?Sized>(
        path: impl Into<String>,
        value: &V,
        detail: impl Into<String>,
    ) -> FieldError {
        FieldError {
            path: path.into(),
            kind: FieldErrorKind::Invalid,
            value: Some(render_value(value)),
            detail: detail.into(),
        }
    }

    /// A `Required value` error; `detail` may be empty.
    pub fn required(path: impl Into<String>, detail: impl Into<String>) -> FieldError {
        FieldError { path: path.into(), kind: FieldErrorKind::Required, value: None, detail: detail.into() }
    }

    /// An `Unsupported value` error listing the `supported` values.
    pub fn not_supported(path: impl Into<String>, value: &str, supported: &[&str]) -> FieldError {
        FieldError {
            path: path.into(),
            kind: FieldErrorKind::NotSupported,
            value: Some(render_value(value)),
            detail: format!("supported values: {}", quote_list(supported)),
        }
    }

    /// A `Forbidden` error.
    pub fn forbidden(path: impl Into<String>, detail: impl Into<String>) -> FieldError {
        FieldError { path: path.into(), kind: FieldErrorKind::Forbidden, value: None, detail: detail.into() }
    }

    /// A `Duplicate value` error showing `value`.
    pub fn duplicate<V: Serialize + ?Sized>(path: impl Into<String>, value: &V) -> FieldError {
        FieldError {
            path: path.into(),
            kind: FieldErrorKind::Duplicate,
            value: Some(render_value(value)),
            detail: String::new(),
        }
    }

    /// A `Not found` error showing `value`.
    pub fn not_found<V: Serialize + ?Sized>(path: impl Into<String>, value: &V) -> FieldError {
        FieldError {
            path: path.into(),
            kind: FieldErrorKind::NotFound,
            value: Some(render_value(value)),
            detail: String::new(),
        }
    }

    /// A `Too long` error for a value longer than `max` bytes.
    pub fn too_long(path: impl Into<String>, max: usize) -> FieldError {
        FieldError {
            path: path.into(),
            kind: FieldErrorKind::TooLong,
            value: None,
            detail: format!("may not be more than {max} bytes"),
        }
    }

    /// A `Too many` error for a list of `actual` items where at most `max` are allowed;
    /// `detail` (may be empty) is appended to the standard message.
    pub fn too_many(path: impl Into<String>, actual: usize, max: usize, detail: &str) -> FieldError {
        let items = if max == 1 { "item" } else { "items" };
        let mut text = format!("must have at most {max} {items}");
        if !detail.is_empty() {
            text.push_str(": ");
            text.push_str(detail);
        }
        FieldError {
            path: path.into(),
            kind: FieldErrorKind::TooMany,
            value: Some(actual.to_string()),
            detail: text,
        }
    }

    /// An unknown-field error for a manifest field the kind does not have.
    pub fn unknown_field(path: impl Into<String>) -> FieldError {
        FieldError {
            path: path.into(),
            kind: FieldErrorKind::UnknownField,
            value: None,
            detail: String::new(),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.kind == FieldErrorKind::UnknownField {
            return write!(f, "unknown field {}", render_value(self.path.as_str()));
        }
        write!(f, "{}: {}", self.path, self.kind)?;
        if let Some(value) = &self.value {
            write!(f, ": {value}")?;
        }
        if !self.detail.is_empty() {
            write!(f, ": {}", self.detail)?;
        }
        Ok(())
    }
}

impl std::error::Error for FieldError {}

/// Every problem found in one object, in the order found.
///
/// `Display` joins the errors with `"; "` on one line; [`ValidationErrors::kubectl_message`]
/// gives the multi-line text kubectl prints.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ValidationErrors(pub Vec<FieldError>);

impl ValidationErrors {
    /// True when there is no error.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The number of errors.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The errors.
    pub fn iter(&self) -> std::slice::Iter<'_, FieldError> {
        self.0.iter()
    }

    /// `Ok(())` when there is no error, otherwise `Err(self)`.
    pub fn into_result(self) -> Result<(), ValidationErrors> {
        if self.0.is_empty() { Ok(()) } else { Err(self) }
    }

    /// The text kubectl prints for a rejected create of `kind` named `name`; see [`invalid_message`].
    pub fn kubectl_message(&self, kind: &str, name: &str) -> String {
        invalid_message(kind, name, &self.0)
    }
}

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ValidationErrors {}

impl From<Vec<FieldError>> for ValidationErrors {
    fn from(errors: Vec<FieldError>) -> Self {
        ValidationErrors(errors)
    }
}

impl IntoIterator for ValidationErrors {
    type Item = FieldError;
    type IntoIter = std::vec::IntoIter<FieldError>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a> IntoIterator for &'a ValidationErrors {
    type Item = &'a FieldError;
    type IntoIter = std::slice::Iter<'a, FieldError>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// The text kubectl prints when the server rejects `kind` named `name` as invalid.
///
/// One error: `The Job "pi" is invalid: spec.parallelism: Invalid value: -1: must be greater
/// than or equal to 0`. Several: `The Job "pi" is invalid: ` followed by one `\n* <error>` line
/// per error. No trailing newline.
pub fn invalid_message<E: fmt::Display>(kind: &str, name: &str, errors: &[E]) -> String {
    let head = format!("The {kind} {} is invalid: ", render_value(name));
    match errors {
        [] => head.trim_end().to_string(),
        [one] => format!("{head}{one}"),
        many => {
            let mut text = head;
            for e in many {
                text.push_str("\n* ");
                text.push_str(&e.to_string());
            }
            text
        }
    }
}

// === Job ===

/// Validates a Job on create, as the user submitted it (before defaults are applied), and
/// reports every error found.
///
/// Covers semantics.md VAL-1 (non-negative counts), VAL-2 (restartPolicy), VAL-3 (completionMode:
/// `Indexed` needs `completions` and at most 100000 `parallelism`; VAL-4 backoffLimitPerIndex
/// and maxFailedIndexes), VAL-5 (podFailurePolicy; `FailIndex` needs `backoffLimitPerIndex`),
/// VAL-6 (successPolicy), VAL-7 (podReplacementPolicy), VAL-8 (selector), VAL-9 (names, at most 63
/// characters; an Indexed Job's `<name>-<completions-1>` a DNS label), VAL-10 (label syntax),
/// plus the pod-template rules Drover relies on:
/// exactly one container, with a name and something to run.
///
/// # Errors
///
/// Every [`FieldError`] found, in field order.
pub fn validate_job(job: &Job) -> Result<(), ValidationErrors> {
    let mut errs = Vec::new();
    errs.extend(validate_type_meta(&job.api_version, &job.kind, job::API_VERSION, job::KIND));
    errs.extend(validate_object_meta(&job.metadata, "metadata", JOB_NAME_MAX_LEN));
    errs.extend(validate_job_spec(job));
    errs.extend(validate_indexed_host_names(job));
    ValidationErrors(errs).into_result()
}

/// VAL-9 for Indexed Jobs (Kubernetes' `ValidateJob`): the pod of the highest index gets the
/// hostname `<name>-<completions-1>`, which must be a DNS-1123 label, or no pod could be created.
fn validate_indexed_host_names(job: &Job) -> Option<FieldError> {
    if job.spec.completion_mode.as_deref() != Some(COMPLETION_MODE_INDEXED) {
        return None;
    }
    let completions = job.spec.completions.filter(|c| *c > 0)?;
    let host = format!("{}-{}", job.metadata.name, completions - 1);
    if check_dns1123_label(&host).is_empty() {
        return None;
    }
    Some(FieldError::invalid(
        "metadata.name",
        job.metadata.name.as_str(),
        format!("will not able to create pod with invalid DNS label: {host}"),
    ))
}

fn validate_job_spec(job: &Job) -> Vec<FieldError> {
    let spec = &job.spec;
    let mut errs = Vec::new();
    // VAL-1.
    non_negative(&mut errs, "spec.parallelism", spec.parallelism.map(i64::from));
    non_negative(&mut errs, "spec.completions", spec.completions.map(i64::from));
    non_negative(&mut errs, "spec.activeDeadlineSeconds", spec.active_deadline_seconds);
    non_negative(&mut errs, "spec.backoffLimit", spec.backoff_limit.map(i64::from));
    non_negative(&mut errs, "spec.ttlSecondsAfterFinished", spec.ttl_seconds_after_finished.map(i64::from));
    // VAL-3, in Kubernetes' words (validateJobSpec).
    match spec.completion_mode.as_deref() {
        None | Some(COMPLETION_MODE_NON_INDEXED) => {}
        Some(COMPLETION_MODE_INDEXED) => {
            if spec.completions.is_none() {
                errs.push(FieldError::required("spec.completions", "when completion mode is Indexed"));
            }
            if let Some(p) = spec.parallelism.filter(|p| *p > INDEXED_JOB_MAX_PARALLELISM) {
                errs.push(FieldError::invalid(
                    "spec.parallelism",
                    &p,
                    format!("must be less than or equal to {INDEXED_JOB_MAX_PARALLELISM} when completion mode is Indexed"),
                ));
            }
        }
        Some(other) => errs.push(FieldError::not_supported(
            "spec.completionMode",
            other,
            &[COMPLETION_MODE_NON_INDEXED, COMPLETION_MODE_INDEXED],
        )),
    }
    // VAL-1, VAL-3, VAL-4: backoffLimitPerIndex and maxFailedIndexes.
    errs.extend(validate_per_index(spec));
    // VAL-5.
    if let Some(policy) = &spec.pod_failure_policy {
        errs.extend(validate_pod_failure_policy(spec, policy, "spec.podFailurePolicy"));
    }
    // VAL-6.
    if let Some(policy) = &spec.success_policy {
        errs.extend(validate_success_policy(spec, policy, "spec.successPolicy"));
    }
    // VAL-7: with a podFailurePolicy only failed pods may be replaced.
    if let Some(policy) = spec.pod_replacement_policy.as_deref() {
        if spec.pod_failure_policy.is_some() {
            if policy != "Failed" {
                errs.push(FieldError::not_supported("spec.podReplacementPolicy", policy, &["Failed"]));
            }
        } else if policy != "TerminatingOrFailed" && policy != "Failed" {
            errs.push(FieldError::not_supported(
                "spec.podReplacementPolicy",
                policy,
                &["TerminatingOrFailed", "Failed"],
            ));
        }
    }
    // VAL-8.
    errs.extend(validate_job_selector(job));
    if let Some(queue) = &spec.queue {
        errs.extend(validate_queue(queue, "spec.queue"));
    }
    // The pod template.
    errs.extend(validate_template_meta(&spec.template, "spec.template.metadata"));
    errs.extend(validate_job_pod_spec(&spec.template.spec, "spec.template.spec"));
    // VAL-2: a podFailurePolicy needs `Never`. A missing or unknown restartPolicy is reported above.
    if spec.pod_failure_policy.is_some()
        && let Some(restart @ "OnFailure") = spec.template.spec.restart_policy.as_deref()
    {
        errs.push(FieldError::invalid(
            "spec.template.spec.restartPolicy",
            restart,
            "only \"Never\" is supported when podFailurePolicy is specified",
        ));
    }
    errs
}

/// The most failed indexes an Indexed Job may tolerate, and the soft limit on completions above
/// which `backoffLimitPerIndex` needs `maxFailedIndexes` (VAL-3), as upstream.
const MAX_FAILED_INDEXES: i32 = 100_000;
const COMPLETIONS_SOFT_LIMIT: i32 = 100_000;
/// Above [`COMPLETIONS_SOFT_LIMIT`] with `backoffLimitPerIndex` (VAL-3).
const HIGH_COMPLETIONS_LIMIT: i32 = 10_000;
/// VAL-6: at most 20 success rules, and `succeededIndexes` of at most 64 KiB.
const SUCCESS_POLICY_MAX_RULES: usize = 20;
const SUCCEEDED_INDEXES_MAX_BYTES: usize = 64 * 1024;

/// VAL-1, VAL-3, VAL-4: `backoffLimitPerIndex` and `maxFailedIndexes`, with upstream's messages.
fn validate_per_index(spec: &JobSpec) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let per_index = spec.backoff_limit_per_index;
    let max_failed = spec.max_failed_indexes;
    non_negative(&mut errs, "spec.backoffLimitPerIndex", per_index.map(i64::from));
    if let Some(max) = max_failed {
        non_negative(&mut errs, "spec.maxFailedIndexes", Some(i64::from(max)));
        if per_index.is_none() {
            errs.push(FieldError::required(
                "spec.backoffLimitPerIndex",
                "when maxFailedIndexes is specified",
            ));
        }
    }
    if spec.is_indexed() {
        if let (Some(c), Some(max)) = (spec.completions, max_failed)
            && max > c
        {
            errs.push(FieldError::invalid(
                "spec.maxFailedIndexes",
                &max,
                "must be less than or equal to completions",
            ));
        }
        if let Some(max) = max_failed.filter(|m| *m > MAX_FAILED_INDEXES) {
            errs.push(FieldError::invalid(
                "spec.maxFailedIndexes",
                &max,
                format!("must be less than or equal to {MAX_FAILED_INDEXES}"),
            ));
        }
        if spec.completions.is_some_and(|c| c > COMPLETIONS_SOFT_LIMIT) && per_index.is_some() {
            let high = format!(
                "must be less than or equal to {HIGH_COMPLETIONS_LIMIT} when completions are above \
                 {COMPLETIONS_SOFT_LIMIT} and used with backoff limit per index"
            );
            if max_failed.is_none() {
                errs.push(FieldError::required(
                    "spec.maxFailedIndexes",
                    format!("must be specified when completions is above {COMPLETIONS_SOFT_LIMIT}"),
                ));
            }
            if let Some(p) = spec.parallelism.filter(|p| *p > HIGH_COMPLETIONS_LIMIT) {
                errs.push(FieldError::invalid("spec.parallelism", &p, high.clone()));
            }
            if let Some(max) = max_failed.filter(|m| *m > HIGH_COMPLETIONS_LIMIT) {
                errs.push(FieldError::invalid("spec.maxFailedIndexes", &max, high));
            }
        }
    } else {
        if let Some(n) = per_index {
            errs.push(FieldError::invalid(
                "spec.backoffLimitPerIndex",
                &n,
                "requires indexed completion mode",
            ));
        }
        if let Some(n) = max_failed {
            errs.push(FieldError::invalid("spec.maxFailedIndexes", &n, "requires indexed completion mode"));
        }
    }
    errs
}

/// VAL-6. `spec.successPolicy`: Indexed only, 1 to 20 rules, each with `succeededIndexes` (the
/// strict interval form below `completions`) and/or `succeededCount` (at most `completions`,
/// and at most the indexes listed).
fn validate_success_policy(spec: &JobSpec, policy: &SuccessPolicy, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if !spec.is_indexed() {
        errs.push(FieldError::invalid(path, policy, "requires indexed completion mode"));
        return errs;
    }
    let completions = spec.completions.unwrap_or(0);
    let rules_path = format!("{path}.rules");
    if policy.rules.is_empty() {
        errs.push(FieldError::required(
            &rules_path,
            "at least one rules must be specified when the successPolicy is specified",
        ));
    }
    if policy.rules.len() > SUCCESS_POLICY_MAX_RULES {
        errs.push(FieldError::too_many(&rules_path, policy.rules.len(), SUCCESS_POLICY_MAX_RULES, ""));
    }
    for (i, rule) in policy.rules.iter().enumerate() {
        let rule_path = format!("{rules_path}[{i}]");
        if rule.succeeded_count.is_none() && rule.succeeded_indexes.is_none() {
            errs.push(FieldError::required(
                &rule_path,
                "at least one of succeededCount or succeededIndexes must be specified",
            ));
        }
        let mut listed = 0usize;
        if let Some(indexes) = &rule.succeeded_indexes {
            let indexes_path = format!("{rule_path}.succeededIndexes");
            if indexes.len() > SUCCEEDED_INDEXES_MAX_BYTES {
                errs.push(FieldError::too_long(&indexes_path, SUCCEEDED_INDEXES_MAX_BYTES));
            }
            match crate::IndexSet::parse(indexes, completions) {
                Ok(set) => listed = set.count(),
                Err(e) => errs.push(FieldError::invalid(
                    &indexes_path,
                    indexes.as_str(),
                    format!("error parsing succeededIndexes: {e}"),
                )),
            }
        }
        if let Some(count) = rule.succeeded_count {
            let count_path = format!("{rule_path}.succeededCount");
            non_negative(&mut errs, &count_path, Some(i64::from(count)));
            if count > completions {
                errs.push(FieldError::invalid(
                    &count_path,
                    &count,
                    format!(
                        "must be less than or equal to {completions} (the number of specified completions)"
                    ),
                ));
            }
            if rule.succeeded_indexes.is_some() && usize::try_from(count).is_ok_and(|c| c > listed) {
                errs.push(FieldError::invalid(
                    &count_path,
                    &count,
                    format!(
                        "must be less than or equal to {listed} (the number of indexes in the specified \
                         succeededIndexes field)"
                    ),
                ));
            }
        }
    }
    errs
}

/// VAL-5. `spec.podFailurePolicy`: at most 20 rules, each checked on its own.
fn validate_pod_failure_policy(spec: &JobSpec, policy: &PodFailurePolicy, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let rules_path = format!("{path}.rules");
    if policy.rules.len() > POD_FAILURE_POLICY_MAX_RULES {
        errs.push(FieldError::too_many(&rules_path, policy.rules.len(), POD_FAILURE_POLICY_MAX_RULES, ""));
    }
    let pod = &spec.template.spec;
    let containers: Vec<&str> =
        pod.init_containers.iter().chain(&pod.containers).map(|c| c.name.as_str()).collect();
    for (i, rule) in policy.rules.iter().enumerate() {
        errs.extend(validate_pod_failure_policy_rule(
            rule,
            &format!("{rules_path}[{i}]"),
            &containers,
            spec.backoff_limit_per_index.is_some(),
        ));
    }
    errs
}

/// One podFailurePolicy rule: a known action, and exactly one of `onExitCodes` and
/// `onPodConditions` (an empty `onPodConditions` counts as absent). `FailIndex` needs
/// `backoffLimitPerIndex` (`per_index`).
fn validate_pod_failure_policy_rule(
    rule: &PodFailurePolicyRule,
    path: &str,
    containers: &[&str],
    per_index: bool,
) -> Vec<FieldError> {
    use crate::job::pod_failure_action::{COUNT, FAIL_INDEX, FAIL_JOB, IGNORE};
    // In Kubernetes' order (sorted).
    const ACTIONS: [&str; 4] = [COUNT, FAIL_INDEX, FAIL_JOB, IGNORE];
    let mut errs = Vec::new();
    let action_path = format!("{path}.action");
    match rule.action.as_str() {
        "" => {
            errs.push(FieldError::required(&action_path, format!("valid values: {}", quote_list(&ACTIONS))))
        }
        FAIL_INDEX if !per_index => errs.push(FieldError::invalid(
            &action_path,
            FAIL_INDEX,
            "requires the backoffLimitPerIndex to be set",
        )),
        action if ACTIONS.contains(&action) => {}
        other => errs.push(FieldError::not_supported(&action_path, other, &ACTIONS)),
    }
    if let Some(on_exit_codes) = &rule.on_exit_codes {
        errs.extend(validate_on_exit_codes(on_exit_codes, &format!("{path}.onExitCodes"), containers));
    }
    if !rule.on_pod_conditions.is_empty() {
        errs.extend(validate_on_pod_conditions(&rule.on_pod_conditions, &format!("{path}.onPodConditions")));
    }
    match (rule.on_exit_codes.is_some(), !rule.on_pod_conditions.is_empty()) {
        (true, true) => errs.push(invalid_without_value(
            path,
            "specifying both OnExitCodes and OnPodConditions is not supported",
        )),
        (false, false) => errs.push(invalid_without_value(
            path,
            "specifying one of OnExitCodes and OnPodConditions is required",
        )),
        _ => {}
    }
    errs
}

/// `onExitCodes`: a known operator, a container of the template if named, and 1 to 255 exit
/// codes, ascending, without duplicates, and without 0 for `In`.
fn validate_on_exit_codes(
    requirement: &PodFailurePolicyOnExitCodes,
    path: &str,
    containers: &[&str],
) -> Vec<FieldError> {
    const OPERATORS: [&str; 2] = ["In", "NotIn"];
    let mut errs = Vec::new();
    let operator_path = format!("{path}.operator");
    match requirement.operator.as_str() {
        "" => errs
            .push(FieldError::required(&operator_path, format!("valid values: {}", quote_list(&OPERATORS)))),
        operator if OPERATORS.contains(&operator) => {}
        other => errs.push(FieldError::not_supported(&operator_path, other, &OPERATORS)),
    }
    if let Some(name) = requirement.container_name.as_deref()
        && !containers.contains(&name)
    {
        errs.push(FieldError::invalid(
            format!("{path}.containerName"),
            name,
            "must be one of the container names in the pod template",
        ));
    }
    let values = &requirement.values;
    let values_path = format!("{path}.values");
    if values.is_empty() {
        errs.push(FieldError::invalid(&values_path, values, "at least one value is required"));
    } else if values.len() > POD_FAILURE_POLICY_MAX_EXIT_CODES {
        errs.push(FieldError::too_many(&values_path, values.len(), POD_FAILURE_POLICY_MAX_EXIT_CODES, ""));
    }
    let mut seen = BTreeSet::new();
    for (j, &value) in values.iter().enumerate() {
        let value_path = format!("{values_path}[{j}]");
        if requirement.operator == "In" && value == 0 {
            errs.push(FieldError::invalid(&value_path, &value, "must not be 0 for the In operator"));
        }
        if !seen.insert(value) {
            errs.push(FieldError::duplicate(&value_path, &value));
        }
    }
    // A repeated value is reported as a duplicate only, as Kubernetes does.
    if values.windows(2).any(|pair| pair[0] > pair[1]) {
        errs.push(FieldError::invalid(&values_path, values, "must be ordered"));
    }
    errs
}

/// `onPodConditions`: at most 20 patterns, each with a qualified-name `type` and a `status` of
/// `True`, `False` or `Unknown`. An absent status is the default, `True`.
fn validate_on_pod_conditions(patterns: &[PodFailurePolicyOnPodCondition], path: &str) -> Vec<FieldError> {
    // In Kubernetes' order (sorted).
    const STATUSES: [&str; 3] = ["False", "True", "Unknown"];
    let mut errs = Vec::new();
    if patterns.len() > POD_FAILURE_POLICY_MAX_POD_CONDITIONS {
        errs.push(FieldError::too_many(path, patterns.len(), POD_FAILURE_POLICY_MAX_POD_CONDITIONS, ""));
    }
    for (j, pattern) in patterns.iter().enumerate() {
        let pattern_path = format!("{path}[{j}]");
        errs.extend(validate_label_key(&format!("{pattern_path}.type"), &pattern.type_));
        let status_path = format!("{pattern_path}.status");
        match pattern.status.as_deref() {
            None => {}
            Some("") => {
                errs.push(FieldError::required(
                    &status_path,
                    format!("valid values: {}", quote_list(&STATUSES)),
                ));
            }
            Some(status) if STATUSES.contains(&status) => {}
            Some(other) => errs.push(FieldError::not_supported(&status_path, other, &STATUSES)),
        }
    }
    errs
}

/// Drover's `spec.queue`: a broker URL Drover can use, a queue name, a known handler and a
/// positive lease. The URL is shown with its password redacted.
fn validate_queue(queue: &crate::job::QueueSpec, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let shown = crate::meta::redact_url(&queue.url);
    if queue.url.is_empty() {
        errs.push(FieldError::required(format!("{path}.url"), "a broker URL: amqp://… or redis://…"));
    } else {
        match queue.url.split_once("://") {
            Some(("amqp" | "redis", rest)) if !rest.is_empty() => {}
            Some(("amqps" | "rediss", _)) => errs.push(FieldError::invalid(
                format!("{path}.url"),
                shown.as_str(),
                "TLS connections are not supported yet; use amqp:// or redis://",
            )),
            _ => errs.push(FieldError::invalid(
                format!("{path}.url"),
                shown.as_str(),
                "must start with amqp:// or redis:// and name a host",
            )),
        }
    }
    if queue.name.is_empty() {
        errs.push(FieldError::required(format!("{path}.name"), ""));
    } else if queue.name.len() > 255 {
        errs.push(FieldError::too_long(format!("{path}.name"), 255));
    }
    if let Some(handler) = queue.handler.as_deref()
        && !matches!(handler, "Exec" | "Stream" | "Noop")
    {
        errs.push(FieldError::not_supported(format!("{path}.handler"), handler, &["Exec", "Stream", "Noop"]));
    }
    if let Some(lease) = queue.lease_seconds
        && lease <= 0
    {
        errs.push(FieldError::invalid(format!("{path}.leaseSeconds"), &lease, "must be greater than 0"));
    }
    if let Some(from) = &queue.password_from {
        let at = format!("{path}.passwordFrom");
        match (from.env.as_deref(), from.file.as_deref()) {
            (Some(_), Some(_)) => errs.push(FieldError::invalid(
                at.clone(),
                "env and file",
                "may not specify more than 1 password source",
            )),
            (None, None) => errs.push(FieldError::required(at.clone(), "env or file")),
            (Some(env), None) => {
                let valid = env.chars().next().is_some_and(|c| c == '_' || c.is_ascii_alphabetic())
                    && env.chars().all(|c| c == '_' || c.is_ascii_alphanumeric());
                if !valid {
                    errs.push(FieldError::invalid(
                        format!("{at}.env"),
                        env,
                        "a valid environment variable name must consist of letters, digits and '_', and not start with a digit",
                    ));
                }
            }
            (None, Some(file)) => {
                if !file.starts_with('/') {
                    errs.push(FieldError::invalid(format!("{at}.file"), file, "must be an absolute path"));
                }
            }
        }
        if crate::meta::url_password(&queue.url).is_some() {
            errs.push(FieldError::invalid(
                format!("{path}.url"),
                shown.as_str(),
                "may not carry a password when passwordFrom is set",
            ));
        }
    }
    errs
}

/// VAL-8. Before defaults, a Job without `manualSelector: true` has no selector: the server
/// generates it (JOB-SEL-1), so a user-supplied one is refused, and so are template labels that
/// would contradict the generated ones.
fn validate_job_selector(job: &Job) -> Vec<FieldError> {
    let spec = &job.spec;
    let template_labels = &spec.template.metadata.labels;
    let mut errs = Vec::new();
    if let Some(selector) = &spec.selector {
        errs.extend(validate_label_selector("spec.selector", selector));
    }
    if spec.manual_selector == Some(true) {
        match &spec.selector {
            None => errs.push(FieldError::required("spec.selector", "")),
            Some(selector) => {
                if !selector.matches(template_labels) {
                    errs.push(FieldError::invalid(
                        "spec.template.metadata.labels",
                        template_labels,
                        "`selector` does not match template `labels`",
                    ));
                }
            }
        }
        return errs;
    }
    if let Some(selector) = &spec.selector {
        errs.push(FieldError::invalid("spec.selector", selector, "`selector` not auto-generated"));
    }
    for key in [labels::CONTROLLER_UID, labels::CONTROLLER_UID_LEGACY] {
        if let Some(value) = template_labels.get(key) {
            errs.push(FieldError::invalid(
                format!("spec.template.metadata.labels[{key}]"),
                value,
                "must not be set unless `manualSelector` is true; it is generated from the Job's uid",
            ));
        }
    }
    for key in [labels::JOB_NAME, labels::JOB_NAME_LEGACY] {
        if let Some(value) = template_labels.get(key) {
            let name = &job.metadata.name;
            if name.is_empty() {
                errs.push(FieldError::invalid(
                    format!("spec.template.metadata.labels[{key}]"),
                    value,
                    "must not be set when the name is generated",
                ));
            } else if value != name {
                errs.push(FieldError::invalid(
                    format!("spec.template.metadata.labels[{key}]"),
                    value,
                    format!("must be '{name}'"),
                ));
            }
        }
    }
    errs
}

fn validate_template_meta(template: &PodTemplateSpec, path: &str) -> Vec<FieldError> {
    let mut errs = validate_labels(&format!("{path}.labels"), &template.metadata.labels);
    errs.extend(validate_annotations(&format!("{path}.annotations"), &template.metadata.annotations));
    errs
}

fn validate_job_pod_spec(spec: &PodSpec, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let containers_path = format!("{path}.containers");
    match spec.containers.len() {
        0 => errs.push(FieldError::required(&containers_path, "")),
        1 => {}
        n => errs.push(FieldError::too_many(&containers_path, n, 1, "Drover runs one process per pod")),
    }
    let volumes = validate_volumes(&spec.volumes, &format!("{path}.volumes"), &mut errs);
    // Names are unique across the init containers and the containers, as in Kubernetes.
    let mut seen: Vec<&str> = Vec::new();
    let init_path = format!("{path}.initContainers");
    let all = spec
        .init_containers
        .iter()
        .enumerate()
        .map(|(i, c)| (format!("{init_path}[{i}]"), c))
        .chain(spec.containers.iter().enumerate().map(|(i, c)| (format!("{containers_path}[{i}]"), c)));
    for (container_path, container) in all {
        errs.extend(validate_container(container, &container_path));
        errs.extend(validate_volume_mounts(&container.volume_mounts, &volumes, &container_path));
        if !container.name.is_empty() {
            if seen.contains(&container.name.as_str()) {
                errs.push(FieldError::duplicate(format!("{container_path}.name"), &container.name));
            }
            seen.push(&container.name);
        }
    }
    // VAL-2.
    let restart_path = format!("{path}.restartPolicy");
    match spec.restart_policy.as_deref() {
        Some("OnFailure" | "Never") => {}
        None | Some("" | "Always") => errs.push(FieldError::required(
            &restart_path,
            format!("valid values: {}", quote_list(&["OnFailure", "Never"])),
        )),
        Some(other) => {
            errs.push(FieldError::not_supported(&restart_path, other, &["OnFailure", "Never"]));
        }
    }
    if let Some(seconds) = spec.active_deadline_seconds
        && !(1..=i64::from(i32::MAX)).contains(&seconds)
    {
        errs.push(FieldError::invalid(
            format!("{path}.activeDeadlineSeconds"),
            &seconds,
            format!("must be between 1 and {}, inclusive", i32::MAX),
        ));
    }
    non_negative(
        &mut errs,
        &format!("{path}.terminationGracePeriodSeconds"),
        spec.termination_grace_period_seconds,
    );
    if let Some(node) = spec.node_name.as_deref().filter(|n| !n.is_empty()) {
        errs.extend(validate_name(&format!("{path}.nodeName"), node, DNS1123_SUBDOMAIN_MAX_LEN));
    }
    if let Some(host) = spec.hostname.as_deref().filter(|h| !h.is_empty()) {
        for msg in check_dns1123_label(host) {
            errs.push(FieldError::invalid(format!("{path}.hostname"), host, msg));
        }
    }
    errs
}

/// The pod's volumes: each named (a DNS label, unique) with exactly one source Drover has
/// (`emptyDir`; another source is an unknown field at decoding). Returns the valid names.
fn validate_volumes<'a>(volumes: &'a [Volume], path: &str, errs: &mut Vec<FieldError>) -> Vec<&'a str> {
    let mut names: Vec<&str> = Vec::new();
    for (i, volume) in volumes.iter().enumerate() {
        let volume_path = format!("{path}[{i}]");
        let name_path = format!("{volume_path}.name");
        if volume.name.is_empty() {
            errs.push(FieldError::required(&name_path, ""));
        } else if names.contains(&volume.name.as_str()) {
            errs.push(FieldError::duplicate(&name_path, &volume.name));
        } else {
            let shape = check_dns1123_label(&volume.name);
            for msg in &shape {
                errs.push(FieldError::invalid(&name_path, &volume.name, msg));
            }
            if shape.is_empty() {
                names.push(&volume.name);
            }
        }
        match &volume.empty_dir {
            None => errs.push(FieldError::required(&volume_path, "must specify a volume type")),
            Some(dir) => {
                const MEDIA: [&str; 2] = ["", "Memory"];
                if let Some(medium) = dir.medium.as_deref().filter(|m| !MEDIA.contains(m)) {
                    errs.push(FieldError::not_supported(
                        format!("{volume_path}.emptyDir.medium"),
                        medium,
                        &MEDIA,
                    ));
                }
                if let Some(limit) = &dir.size_limit
                    && !(limit.is_string() || limit.is_u64())
                {
                    errs.push(FieldError::invalid(
                        format!("{volume_path}.emptyDir.sizeLimit"),
                        limit,
                        "must be a quantity such as 1Gi",
                    ));
                }
            }
        }
    }
    names
}

/// A container's volume mounts: each names a volume of the pod, at an absolute path other than
/// `/` with no `..` (Drover builds the process's root from these paths), unique in the container;
/// a `subPath` is relative, without `..`.
fn validate_volume_mounts(mounts: &[VolumeMount], volumes: &[&str], path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut paths: Vec<&str> = Vec::new();
    for (i, mount) in mounts.iter().enumerate() {
        let mount_path = format!("{path}.volumeMounts[{i}]");
        if mount.name.is_empty() {
            errs.push(FieldError::required(format!("{mount_path}.name"), ""));
        } else if !volumes.contains(&mount.name.as_str()) {
            errs.push(FieldError::not_found(format!("{mount_path}.name"), &mount.name));
        }
        let target = mount.mount_path.as_str();
        let target_path = format!("{mount_path}.mountPath");
        if target.is_empty() {
            errs.push(FieldError::required(&target_path, ""));
        } else if !target.starts_with('/') {
            errs.push(FieldError::invalid(&target_path, target, "must be an absolute path"));
        } else if target.split('/').any(|part| part == "..") {
            errs.push(FieldError::invalid(&target_path, target, "must not contain '..'"));
        } else if target.trim_end_matches('/').is_empty() {
            errs.push(FieldError::invalid(&target_path, target, "must not be the root directory"));
        } else if paths.contains(&target.trim_end_matches('/')) {
            errs.push(FieldError::invalid(&target_path, target, "must be unique"));
        } else {
            paths.push(target.trim_end_matches('/'));
        }
        if let Some(sub) = mount.sub_path.as_deref().filter(|s| !s.is_empty()) {
            let sub_path = format!("{mount_path}.subPath");
            if sub.starts_with('/') {
                errs.push(FieldError::invalid(&sub_path, sub, "must be a relative path"));
            } else if sub.split('/').any(|part| part == "..") {
                errs.push(FieldError::invalid(&sub_path, sub, "must not contain '..'"));
            }
        }
    }
    errs
}

fn validate_container(container: &Container, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let name_path = format!("{path}.name");
    if container.name.is_empty() {
        errs.push(FieldError::required(&name_path, ""));
    } else {
        for msg in check_dns1123_label(&container.name) {
            errs.push(FieldError::invalid(&name_path, &container.name, msg));
        }
    }
    // Drover runs the command on the worker's host; the image is never run, so an image's
    // entrypoint cannot stand in for a missing command.
    match container.command.first().or(container.args.first()) {
        None => errs.push(FieldError::required(
            format!("{path}.command"),
            "Drover runs the command on the worker's host and does not run the image's entrypoint",
        )),
        Some(exe) if exe.is_empty() => {
            let field = if container.command.is_empty() { "args" } else { "command" };
            errs.push(FieldError::invalid(
                format!("{path}.{field}[0]"),
                exe,
                "the executable must not be empty",
            ));
        }
        Some(_) => {}
    }
    if let Some(policy) = container.image_pull_policy.as_deref() {
        const POLICIES: [&str; 3] = ["Always", "IfNotPresent", "Never"];
        if !POLICIES.contains(&policy) {
            errs.push(FieldError::not_supported(format!("{path}.imagePullPolicy"), policy, &POLICIES));
        }
    }
    for (i, env) in container.env.iter().enumerate() {
        let env_path = format!("{path}.env[{i}].name");
        if env.name.is_empty() {
            errs.push(FieldError::required(env_path, ""));
        } else if !env.name.bytes().all(|b| (0x20..=0x7e).contains(&b) && b != b'=') {
            errs.push(FieldError::invalid(env_path, &env.name, ENV_VAR_NAME_MSG));
        }
    }
    errs
}

// === Shared helpers ===

/// Checks `apiVersion` and `kind` against the expected ones. Empty values are accepted, since
/// defaulting fills them in.
pub fn validate_type_meta(
    api_version: &str,
    kind: &str,
    expected_api_version: &str,
    expected_kind: &str,
) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if !api_version.is_empty() && api_version != expected_api_version {
        errs.push(FieldError::not_supported("apiVersion", api_version, &[expected_api_version]));
    }
    if !kind.is_empty() && kind != expected_kind {
        errs.push(FieldError::not_supported("kind", kind, &[expected_kind]));
    }
    errs
}

/// Validates an object's metadata on create: a name (or `generateName`) that is a DNS-1123
/// subdomain of at most `max_name_len` characters, the `default` namespace, and the syntax of
/// labels and annotations. `path` is the path of the metadata itself, usually `metadata`.
pub fn validate_object_meta(meta: &ObjectMeta, path: &str, max_name_len: usize) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let generate_name = meta.generate_name.as_deref().unwrap_or("");
    if meta.name.is_empty() {
        if generate_name.is_empty() {
            errs.push(FieldError::required(format!("{path}.name"), "name or generateName is required"));
        }
    } else {
        errs.extend(validate_name(&format!("{path}.name"), &meta.name, max_name_len));
    }
    if !generate_name.is_empty() {
        // As the API server does: the prefix is checked with its trailing dashes masked, and
        // the generator truncates it to fit, so no length limit applies beyond the general one.
        let masked = generate_name.trim_end_matches('-');
        let masked =
            if masked.len() < generate_name.len() { format!("{masked}a") } else { masked.to_string() };
        for msg in check_dns1123_subdomain(&masked) {
            errs.push(FieldError::invalid(format!("{path}.generateName"), generate_name, msg));
        }
    }
    if let Some(ns) = meta.namespace.as_deref()
        && !ns.is_empty()
        && ns != DEFAULT_NAMESPACE
    {
        errs.push(FieldError::invalid(
            format!("{path}.namespace"),
            ns,
            format!("Drover has a single namespace, {}", render_value(DEFAULT_NAMESPACE)),
        ));
    }
    errs.extend(validate_labels(&format!("{path}.labels"), &meta.labels));
    errs.extend(validate_annotations(&format!("{path}.annotations"), &meta.annotations));
    errs
}

/// Validates an object name: non-empty (`Required value`), at most `max` characters, and a
/// DNS-1123 subdomain. Reports every rule broken.
pub fn validate_name(path: &str, name: &str, max: usize) -> Vec<FieldError> {
    if name.is_empty() {
        return vec![FieldError::required(path, "")];
    }
    let mut errs = Vec::new();
    if name.len() > max {
        errs.push(FieldError::invalid(path, name, max_len_msg(max)));
    }
    // `check_dns1123_subdomain` repeats the 253 limit; report the tighter one only.
    for msg in check_dns1123_subdomain(name) {
        if name.len() <= max || msg != max_len_msg(DNS1123_SUBDOMAIN_MAX_LEN) {
            errs.push(FieldError::invalid(path, name, msg));
        }
    }
    errs
}

/// Validates a label map (VAL-10): every key is a qualified name, every value a label value.
/// Errors carry `path` itself (as Kubernetes does), with the offending key or value shown.
pub fn validate_labels(path: &str, labels: &BTreeMap<String, String>) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (key, value) in labels {
        errs.extend(validate_label_key(path, key));
        errs.extend(validate_label_value(path, value));
    }
    errs
}

/// Validates one label key: `[prefix/]name`, the prefix a DNS-1123 subdomain, the name at most
/// 63 characters of `[A-Za-z0-9._-]` starting and ending with an alphanumeric.
pub fn validate_label_key(path: &str, key: &str) -> Vec<FieldError> {
    check_qualified_name(key).into_iter().map(|msg| FieldError::invalid(path, key, msg)).collect()
}

/// Validates one label value: empty, or at most 63 characters of `[A-Za-z0-9._-]` starting and
/// ending with an alphanumeric.
pub fn validate_label_value(path: &str, value: &str) -> Vec<FieldError> {
    check_label_value(value).into_iter().map(|msg| FieldError::invalid(path, value, msg)).collect()
}

/// Validates annotations: every key is a qualified name (checked in lower case, as Kubernetes
/// does), and keys and values together take at most 256 KiB.
pub fn validate_annotations(path: &str, annotations: &BTreeMap<String, String>) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut total = 0usize;
    for (key, value) in annotations {
        for msg in check_qualified_name(&key.to_lowercase()) {
            errs.push(FieldError::invalid(path, key, msg));
        }
        total += key.len() + value.len();
    }
    if total > ANNOTATIONS_MAX_BYTES {
        errs.push(FieldError::too_long(path, ANNOTATIONS_MAX_BYTES));
    }
    errs
}

/// Validates a label selector: `matchLabels` keys and values, and each `matchExpressions` entry
/// (a qualified-name key, a known operator, values present exactly for `In`/`NotIn`).
pub fn validate_label_selector(path: &str, selector: &LabelSelector) -> Vec<FieldError> {
    let mut errs = validate_labels(&format!("{path}.matchLabels"), &selector.match_labels);
    for (i, req) in selector.match_expressions.iter().enumerate() {
        let req_path = format!("{path}.matchExpressions[{i}]");
        errs.extend(validate_label_key(&format!("{req_path}.key"), &req.key));
        let values_path = format!("{req_path}.values");
        match req.operator.as_str() {
            "In" | "NotIn" => {
                if req.values.is_empty() {
                    errs.push(FieldError::required(
                        &values_path,
                        "must be specified when `operator` is 'In' or 'NotIn'",
                    ));
                }
            }
            "Exists" | "DoesNotExist" => {
                if !req.values.is_empty() {
                    errs.push(FieldError::forbidden(
                        &values_path,
                        "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                    ));
                }
            }
            other => errs.push(FieldError::not_supported(
                format!("{req_path}.operator"),
                other,
                &["In", "NotIn", "Exists", "DoesNotExist"],
            )),
        }
        for (j, value) in req.values.iter().enumerate() {
            errs.extend(validate_label_value(&format!("{values_path}[{j}]"), value));
        }
    }
    errs
}

/// The rules a DNS-1123 subdomain breaks (at most 253 characters; dot-separated labels of
/// `[a-z0-9-]` that start and end with an alphanumeric). Empty when valid.
pub fn check_dns1123_subdomain(value: &str) -> Vec<String> {
    let mut msgs = Vec::new();
    if value.len() > DNS1123_SUBDOMAIN_MAX_LEN {
        msgs.push(max_len_msg(DNS1123_SUBDOMAIN_MAX_LEN));
    }
    if !value.split('.').all(is_dns_label_chars) {
        msgs.push(DNS1123_SUBDOMAIN_MSG.to_string());
    }
    msgs
}

/// The rules a DNS-1123 label breaks (at most 63 characters of `[a-z0-9-]` that start and end
/// with an alphanumeric). Empty when valid.
pub fn check_dns1123_label(value: &str) -> Vec<String> {
    let mut msgs = Vec::new();
    if value.len() > DNS1123_LABEL_MAX_LEN {
        msgs.push(max_len_msg(DNS1123_LABEL_MAX_LEN));
    }
    if !is_dns_label_chars(value) {
        msgs.push(DNS1123_LABEL_MSG.to_string());
    }
    msgs
}

/// The rules a qualified name (a label or annotation key) breaks. Empty when valid.
pub fn check_qualified_name(value: &str) -> Vec<String> {
    let mut msgs = Vec::new();
    let parts: Vec<&str> = value.split('/').collect();
    let name = match parts.as_slice() {
        [name] => *name,
        [prefix, name] => {
            if prefix.is_empty() {
                msgs.push("prefix part must be non-empty".to_string());
            } else {
                msgs.extend(check_dns1123_subdomain(prefix).into_iter().map(|m| format!("prefix part {m}")));
            }
            *name
        }
        _ => {
            msgs.push(QUALIFIED_NAME_SHAPE_MSG.to_string());
            return msgs;
        }
    };
    if name.is_empty() {
        msgs.push("name part must be non-empty".to_string());
    } else {
        if name.len() > LABEL_VALUE_MAX_LEN {
            msgs.push(format!("name part {}", max_len_msg(LABEL_VALUE_MAX_LEN)));
        }
        if !is_label_value_chars(name) {
            msgs.push(QUALIFIED_NAME_MSG.to_string());
        }
    }
    msgs
}

/// The rules a label value breaks. Empty when valid (the empty value is valid).
pub fn check_label_value(value: &str) -> Vec<String> {
    let mut msgs = Vec::new();
    if value.len() > LABEL_VALUE_MAX_LEN {
        msgs.push(max_len_msg(LABEL_VALUE_MAX_LEN));
    }
    if !value.is_empty() && !is_label_value_chars(value) {
        msgs.push(LABEL_VALUE_MSG.to_string());
    }
    msgs
}

/// Renders a value the way field errors show it: strings quoted, numbers bare, maps and lists
/// as JSON.
pub fn render_value<V: Serialize + ?Sized>(value: &V) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "<unprintable>".to_string())
}

/// An `Invalid value` error that does not show the value (Kubernetes' `field.OmitValueType`).
fn invalid_without_value(path: impl Into<String>, detail: impl Into<String>) -> FieldError {
    FieldError { path: path.into(), kind: FieldErrorKind::Invalid, value: None, detail: detail.into() }
}

fn non_negative(errs: &mut Vec<FieldError>, path: &str, value: Option<i64>) {
    if let Some(v) = value
        && v < 0
    {
        errs.push(FieldError::invalid(path, &v, NON_NEGATIVE_MSG));
    }
}

fn max_len_msg(max: usize) -> String {
    format!("must be no more than {max} characters")
}

fn quote_list(values: &[&str]) -> String {
    values.iter().map(|v| render_value(*v)).collect::<Vec<_>>().join(", ")
}

/// `[a-z0-9]([-a-z0-9]*[a-z0-9])?`
fn is_dns_label_chars(s: &str) -> bool {
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let bytes = s.as_bytes();
    match (bytes.first(), bytes.last()) {
        (Some(&first), Some(&last)) => {
            alnum(first) && alnum(last) && bytes.iter().all(|&b| alnum(b) || b == b'-')
        }
        _ => false,
    }
}

/// `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]`
fn is_label_value_chars(s: &str) -> bool {
    let bytes = s.as_bytes();
    match (bytes.first(), bytes.last()) {
        (Some(first), Some(last)) => {
            first.is_ascii_alphanumeric()
                && last.is_ascii_alphanumeric()
                && bytes.iter().all(|&b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        }
        _ => false,
    }
}

// === CronJob ===

/// The longest CronJob name: the controller appends up to 11 characters to name its Jobs, and
/// Job names are limited to 63 (semantics.md §6.1).
pub const CRONJOB_NAME_MAX_LEN: usize = 52;

/// Validates a CronJob on create (semantics.md §6.1, S84, S85), before defaults, and reports
/// every error found: the name (at most 52 characters), the schedule (robfig's standard grammar,
/// no `TZ=`), the time zone, the policy, the limits, and the Job template as a Job spec whose
/// selector is generated.
///
/// # Errors
///
/// Every [`FieldError`] found, in field order.
pub fn validate_cronjob(cj: &CronJob) -> Result<(), ValidationErrors> {
    let mut errs = Vec::new();
    if !cj.api_version.is_empty() && cj.api_version != cronjob::API_VERSION_V1BETA1 {
        errs.extend(validate_type_meta(&cj.api_version, &cj.kind, cronjob::API_VERSION, cronjob::KIND));
    } else {
        errs.extend(validate_type_meta("", &cj.kind, cronjob::API_VERSION, cronjob::KIND));
    }
    errs.extend(validate_object_meta(&cj.metadata, "metadata", CRONJOB_NAME_MAX_LEN));
    let spec = &cj.spec;
    errs.extend(validate_schedule("spec.schedule", &spec.schedule));
    if let Some(zone) = spec.time_zone.as_deref() {
        errs.extend(validate_time_zone("spec.timeZone", zone));
    }
    non_negative(&mut errs, "spec.startingDeadlineSeconds", spec.starting_deadline_seconds);
    if let Some(policy) = spec.concurrency_policy.as_deref()
        && !matches!(policy, "Allow" | "Forbid" | "Replace")
    {
        errs.push(FieldError::not_supported(
            "spec.concurrencyPolicy",
            policy,
            &["Allow", "Forbid", "Replace"],
        ));
    }
    non_negative(
        &mut errs,
        "spec.successfulJobsHistoryLimit",
        spec.successful_jobs_history_limit.map(i64::from),
    );
    non_negative(&mut errs, "spec.failedJobsHistoryLimit", spec.failed_jobs_history_limit.map(i64::from));
    errs.extend(validate_job_template(&spec.job_template, "spec.jobTemplate"));
    ValidationErrors(errs).into_result()
}

/// A schedule: no `TZ=`/`CRON_TZ=` (use `timeZone`), and robfig's standard grammar.
pub fn validate_schedule(path: &str, schedule: &str) -> Vec<FieldError> {
    if schedule.trim().is_empty() {
        return vec![FieldError::required(path, "")];
    }
    if schedule.contains("TZ") {
        return vec![FieldError::invalid(
            path,
            schedule,
            "cannot use TZ or CRON_TZ in schedule, use timeZone field instead",
        )];
    }
    match crate::cron::Schedule::parse(schedule) {
        Ok(_) => Vec::new(),
        Err(err) => vec![FieldError::invalid(path, schedule, err.to_string())],
    }
}

/// A time zone: an IANA name from the tz database, not `Local` (semantics.md §6.1, S84).
pub fn validate_time_zone(path: &str, zone: &str) -> Vec<FieldError> {
    if zone.is_empty() {
        return vec![FieldError::invalid(path, zone, "timeZone must be nil or non-empty string")];
    }
    let component_ok = |c: &str| {
        !c.is_empty()
            && c.len() <= 14
            && c != "."
            && c != ".."
            && !c.starts_with('-')
            && c.bytes().all(|b| b.is_ascii_alphanumeric() || b".-_+".contains(&b))
    };
    if zone.eq_ignore_ascii_case("local") {
        return vec![FieldError::invalid(
            path,
            zone,
            "timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones",
        )];
    }
    if !zone.split('/').all(component_ok) || zone.parse::<chrono_tz::Tz>().is_err() {
        return vec![FieldError::invalid(path, zone, format!("unknown time zone {zone}"))];
    }
    Vec::new()
}

/// A CronJob's Job template: metadata labels and annotations, and the Job spec, with the
/// selector left for the server to generate.
fn validate_job_template(template: &crate::cronjob::JobTemplateSpec, path: &str) -> Vec<FieldError> {
    let mut errs = validate_labels(&format!("{path}.metadata.labels"), &template.metadata.labels);
    errs.extend(validate_annotations(
        &format!("{path}.metadata.annotations"),
        &template.metadata.annotations,
    ));
    let spec_path = format!("{path}.spec");
    if let Some(selector) = &template.spec.selector {
        errs.push(FieldError::invalid(
            format!("{spec_path}.selector"),
            selector,
            "`selector` will be auto-generated",
        ));
    }
    if template.spec.manual_selector == Some(true) {
        errs.push(FieldError::not_supported(format!("{spec_path}.manualSelector"), "true", &["false"]));
    }
    // The Job rules, with the Job's paths moved under the template. The selector was checked above.
    let as_job = Job {
        spec: crate::job::JobSpec { selector: None, manual_selector: None, ..template.spec.clone() },
        ..Job::default()
    };
    for mut err in validate_job_spec(&as_job) {
        if let Some(rest) = err.path.strip_prefix("spec") {
            err.path = format!("{spec_path}{rest}");
        }
        errs.push(err);
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_subdomain() {
        assert!(check_dns1123_subdomain("pi").is_empty());
        assert!(check_dns1123_subdomain("a.b-c.d9").is_empty());
        assert_eq!(check_dns1123_subdomain("a..b").len(), 1);
        assert_eq!(check_dns1123_subdomain("-a").len(), 1);
        assert_eq!(check_dns1123_subdomain("A").len(), 1);
        assert_eq!(check_dns1123_subdomain("").len(), 1);
        assert_eq!(check_dns1123_subdomain(&"a".repeat(254)).len(), 1);
    }

    #[test]
    fn qualified_names() {
        assert!(check_qualified_name("app").is_empty());
        assert!(check_qualified_name("batch.kubernetes.io/job-name").is_empty());
        assert!(check_qualified_name("My_Name.2").is_empty());
        assert_eq!(check_qualified_name("a/b/c"), vec![QUALIFIED_NAME_SHAPE_MSG.to_string()]);
        assert_eq!(check_qualified_name("/x"), vec!["prefix part must be non-empty".to_string()]);
        assert_eq!(check_qualified_name("x/"), vec!["name part must be non-empty".to_string()]);
        assert_eq!(check_qualified_name("Bad.Prefix/x").len(), 1);
        assert_eq!(check_qualified_name("-x").len(), 1);
    }

    #[test]
    fn label_values() {
        assert!(check_label_value("").is_empty());
        assert!(check_label_value("v1.2_3-x").is_empty());
        assert_eq!(check_label_value("a b").len(), 1);
        assert_eq!(check_label_value(&"a".repeat(64)).len(), 1);
    }

    #[test]
    fn display_forms() {
        assert_eq!(
            FieldError::too_many("spec.template.spec.containers", 2, 1, "").to_string(),
            "spec.template.spec.containers: Too many: 2: must have at most 1 item"
        );
        assert_eq!(FieldError::unknown_field("spec.foo").to_string(), "unknown field \"spec.foo\"");
        assert_eq!(FieldError::required("a.b", "").to_string(), "a.b: Required value");
        assert_eq!(FieldError::duplicate("a[1].name", "c").to_string(), "a[1].name: Duplicate value: \"c\"");
        assert_eq!(invalid_message::<FieldError>("Job", "x", &[]), "The Job \"x\" is invalid:");
    }
}
