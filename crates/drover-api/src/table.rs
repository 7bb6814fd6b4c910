//! Server-side tables: the `meta.k8s.io/v1` `Table` that `kubectl get` asks for and prints.
//!
//! `kubectl get` sends `Accept: application/json;as=Table;v=v1;g=meta.k8s.io,…` and prints the
//! columns the server returns; `-o wide` adds the priority-1 ones. The columns and cells here are
//! kube-apiserver 1.32's own (its `pkg/printers/internalversion/printers.go`): the same names,
//! types, formats, priorities and cell text, so `kubectl get jobs` against Drover reads as it
//! does against Kubernetes. Workers, Drover's own kind, have the columns of `drover get workers`.
//!
//! The server always sends every column (kube-apiserver generates tables "wide"); the client
//! hides the priority-1 ones unless asked for `-o wide`. [`row_text`] and [`headers`] do that
//! hiding for Drover's own CLI, so `drover get` and `kubectl get` print the same cells.
//!
//! Everything here is a pure function of its arguments and of `now`.

use std::cmp::Ordering;

use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::cronjob::CronJob;
use crate::job::Job;
use crate::meta::{Event, LabelSelector, ListMeta, Time};
use crate::pod::{Container, Pod};
use crate::worker::Worker;

/// One entry of a Table's `columnDefinitions` (`metav1.TableColumnDefinition`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Column {
    /// The column's name; kubectl prints it upper-cased.
    pub name: &'static str,
    /// An OpenAPI type: `string`, `integer`, `number` or `boolean`.
    #[serde(rename = "type")]
    pub type_: &'static str,
    /// An OpenAPI format; `name` marks the column holding the object's name.
    pub format: &'static str,
    /// What the column shows.
    pub description: &'static str,
    /// 0 for the default columns; 1 for those kubectl shows with `-o wide` only.
    pub priority: i32,
}

const fn col(name: &'static str, type_: &'static str, description: &'static str) -> Column {
    Column { name, type_, format: "", description, priority: 0 }
}

const fn wide(name: &'static str, type_: &'static str, description: &'static str) -> Column {
    Column { name, type_, format: "", description, priority: 1 }
}

const fn name_col(priority: i32) -> Column {
    Column { name: "Name", type_: "string", format: "name", description: NAME_DOC, priority }
}

const NAME_DOC: &str = "Name must be unique within a namespace. Is required when creating resources, although \
    some resources may allow a client to request the generation of an appropriate name automatically. Name is \
    primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: \
    https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";
const AGE_DOC: &str = "CreationTimestamp is a timestamp representing the server time when this object was \
    created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not \
    set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null \
    for lists. More info: \
    https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata";
const CONTAINERS_DOC: &str = "Names of each container in the template.";
const IMAGES_DOC: &str = "Images referenced by each container in the template.";
const JOB_SELECTOR_DOC: &str = "A label query over pods that should match the pod count. Normally, the system \
    sets this field for you. More info: \
    https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors";

/// kube-apiserver's Job columns.
pub const JOB_COLUMNS: &[Column] = &[
    name_col(0),
    col("Status", "string", "Status of the job."),
    col(
        "Completions",
        "string",
        "The number of pods which reached phase Succeeded. The value increases monotonically for a given \
         spec. However, it may decrease in reaction to scale down of elastic indexed jobs.",
    ),
    col("Duration", "string", "Time required to complete the job."),
    col("Age", "string", AGE_DOC),
    wide("Containers", "string", CONTAINERS_DOC),
    wide("Images", "string", IMAGES_DOC),
    wide("Selector", "string", JOB_SELECTOR_DOC),
];

/// kube-apiserver's CronJob columns.
pub const CRONJOB_COLUMNS: &[Column] = &[
    name_col(0),
    col("Schedule", "string", "The schedule in Cron format, see https://en.wikipedia.org/wiki/Cron."),
    col(
        "Timezone",
        "string",
        "The time zone name for the given schedule, see \
         https://en.wikipedia.org/wiki/List_of_tz_database_time_zones. If not specified, this will default to \
         the time zone of the kube-controller-manager process.",
    ),
    col(
        "Suspend",
        "boolean",
        "This flag tells the controller to suspend subsequent executions, it does not apply to already \
         started executions.  Defaults to false.",
    ),
    col("Active", "integer", "A list of pointers to currently running jobs."),
    col("Last Schedule", "string", "Information when was the last time the job was successfully scheduled."),
    col("Age", "string", AGE_DOC),
    wide("Containers", "string", CONTAINERS_DOC),
    wide("Images", "string", IMAGES_DOC),
    wide("Selector", "string", JOB_SELECTOR_DOC),
];

/// kube-apiserver's Pod columns.
pub const POD_COLUMNS: &[Column] = &[
    name_col(0),
    col("Ready", "string", "The aggregate readiness state of this pod for accepting traffic."),
    col("Status", "string", "The aggregate status of the containers in this pod."),
    col(
        "Restarts",
        "string",
        "The number of times the containers in this pod have been restarted and when the last container in \
         this pod has restarted.",
    ),
    col("Age", "string", AGE_DOC),
    wide(
        "IP",
        "string",
        "podIP address allocated to the pod. Routable at least within the cluster. Empty if not yet allocated.",
    ),
    wide("Node", "string", "NodeName indicates in which node this pod is scheduled."),
    wide(
        "Nominated Node",
        "string",
        "nominatedNodeName is set only when this pod preempts other pods on the node, but it cannot be \
         scheduled right away as preemption victims receive their graceful termination periods.",
    ),
    wide(
        "Readiness Gates",
        "string",
        "If specified, all readiness gates will be evaluated for pod readiness. A pod is ready when all its \
         containers are ready AND all conditions specified in the readiness gates have status equal to \"True\"",
    ),
];

/// kube-apiserver's core/v1 Event columns (wide ones interleaved, as kube-apiserver orders them).
pub const EVENT_COLUMNS: &[Column] = &[
    col("Last Seen", "string", "The time at which the most recent occurrence of this event was recorded."),
    col("Type", "string", "Type of this event (Normal, Warning), new types could be added in the future"),
    col(
        "Reason",
        "string",
        "This should be a short, machine understandable string that gives the reason for the transition into \
         the object's current status.",
    ),
    col("Object", "string", "The object that this event is about."),
    wide(
        "Subobject",
        "string",
        "If referring to a piece of an object instead of an entire object, this string should contain a valid \
         JSON/Go field access statement, such as desiredState.manifest.containers[2].",
    ),
    wide(
        "Source",
        "string",
        "The component reporting this event. Should be a short machine understandable string.",
    ),
    col("Message", "string", "A human-readable description of the status of this operation."),
    wide(
        "First Seen",
        "string",
        "The time at which the event was first recorded. (Time of server receipt is in TypeMeta.)",
    ),
    wide("Count", "string", "The number of times this event has occurred."),
    name_col(1),
];

/// The columns of Drover's Workers: those of `drover get workers`.
pub const WORKER_COLUMNS: &[Column] = &[
    name_col(0),
    col(
        "Status",
        "string",
        "Ready, Cordoned, Draining or Lost; Ready,SchedulingDisabled when cordoned and ready.",
    ),
    col("Slots", "integer", "How many pods the worker runs at once."),
    col("Running", "integer", "Pods bound to the worker and not terminal."),
    col("Last-Heartbeat", "string", "How long ago the coordinator last heard from the worker."),
    col("Age", "string", AGE_DOC),
    col("Version", "string", "The worker's Drover version."),
    wide("Hostname", "string", "The worker's host name."),
];

/// kube-apiserver's Namespace columns.
pub const NAMESPACE_COLUMNS: &[Column] =
    &[name_col(0), col("Status", "string", "The status of the namespace"), col("Age", "string", AGE_DOC)];

/// A kind `kubectl get` can print as a table.
pub trait Printable: Serialize {
    /// Every column, priority 1 included, in the order of the cells.
    const COLUMNS: &'static [Column];

    /// The row's cells at `now`, one per column of [`Printable::COLUMNS`].
    fn cells(&self, now: Time) -> Vec<Value>;

    /// The row's `conditions` (a finished pod's `Completed`); none by default.
    fn conditions(&self) -> Vec<Value> {
        Vec::new()
    }

    /// The object as the API serves it: the row's `object` with `includeObject=Object`, and where
    /// `Metadata` takes the `metadata` from. The serialized object by default.
    fn api_object(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// The `includeObject` query parameter: what each row carries besides its cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IncludeObject {
    /// No object.
    None,
    /// A `PartialObjectMetadata` with the object's `metadata` (the default).
    #[default]
    Metadata,
    /// The whole object.
    Object,
}

impl IncludeObject {
    /// Reads the query parameter: absent or empty is `Metadata`; anything but `None`, `Metadata`
    /// and `Object` is refused with kube-apiserver's message (a 400 `BadRequest`).
    pub fn from_query(value: Option<&str>) -> Result<IncludeObject, String> {
        match value.unwrap_or_default() {
            "" | "Metadata" => Ok(IncludeObject::Metadata),
            "None" => Ok(IncludeObject::None),
            "Object" => Ok(IncludeObject::Object),
            other => Err(format!("unrecognized includeObject value: {other:?}")),
        }
    }
}

/// The version of `meta.k8s.io` a Table is served in (the two have the same shape).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TableVersion {
    /// `meta.k8s.io/v1`, what kubectl asks for first.
    #[default]
    V1,
    /// `meta.k8s.io/v1beta1`.
    V1beta1,
}

impl TableVersion {
    /// `meta.k8s.io/v1` or `meta.k8s.io/v1beta1`.
    pub fn api_version(self) -> &'static str {
        match self {
            TableVersion::V1 => "meta.k8s.io/v1",
            TableVersion::V1beta1 => "meta.k8s.io/v1beta1",
        }
    }
}

/// How [`table_with`] builds a Table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TableOptions {
    /// What each row carries besides its cells.
    pub include: IncludeObject,
    /// The `meta.k8s.io` version of the Table (and of the rows' `PartialObjectMetadata`).
    pub version: TableVersion,
    /// Leaves `columnDefinitions` empty: kube-apiserver sends them with a watch's first event
    /// only, and kubectl keeps using the last ones it saw.
    pub no_headers: bool,
}

/// A `meta.k8s.io/v1` Table of `items` at `now`, with every column.
pub fn table<T: Printable>(items: &[T], now: Time, include: IncludeObject, list_meta: ListMeta) -> Value {
    table_with(items, now, TableOptions { include, ..TableOptions::default() }, list_meta)
}

/// A Table of `items` at `now`, as `options` say. A watch event's object is the Table of its one
/// object.
pub fn table_with<T: Printable>(items: &[T], now: Time, options: TableOptions, list_meta: ListMeta) -> Value {
    build(T::COLUMNS, items.iter().map(|i| row(i, now, options)).collect(), options, list_meta)
}

fn build(columns: &[Column], rows: Vec<Value>, options: TableOptions, list_meta: ListMeta) -> Value {
    let columns = if options.no_headers { &[][..] } else { columns };
    json!({
        "kind": "Table",
        "apiVersion": options.version.api_version(),
        "metadata": list_meta,
        "columnDefinitions": columns,
        "rows": rows,
    })
}

fn row<T: Printable>(item: &T, now: Time, options: TableOptions) -> Value {
    let mut row = Map::new();
    row.insert("cells".into(), Value::Array(item.cells(now)));
    let conditions = item.conditions();
    if !conditions.is_empty() {
        row.insert("conditions".into(), Value::Array(conditions));
    }
    match options.include {
        IncludeObject::None => {}
        IncludeObject::Metadata => {
            let metadata = match item.api_object() {
                Value::Object(mut o) => o.remove("metadata").unwrap_or_else(|| json!({})),
                _ => json!({}),
            };
            row.insert(
                "object".into(),
                json!({
                    "kind": "PartialObjectMetadata",
                    "apiVersion": options.version.api_version(),
                    "metadata": metadata,
                }),
            );
        }
        IncludeObject::Object => {
            row.insert("object".into(), item.api_object());
        }
    }
    Value::Object(row)
}

// === Accept ===

/// True when the `Accept` header asks for a Table: see [`negotiate_table`].
pub fn wants_table(accept: &str) -> bool {
    negotiate_table(accept).is_some()
}

/// The Table version the `Accept` header asks for, or `None` for the plain object.
///
/// As kube-apiserver negotiates: the media ranges are tried by descending `q` (then the more
/// specific first, otherwise in the order given), and the first one this server can serve wins.
/// JSON is served for `application/json`, `application/*` and `*/*`: without `as`, `g` and `v`
/// it is the plain object; with `as=Table;g=meta.k8s.io` and `v=v1` or `v=v1beta1`, a Table. A
/// range it cannot serve (YAML, protobuf, `PartialObjectMetadata`, a Table of another version,
/// `q=0`) is passed over. Nothing acceptable gives `None` as well.
pub fn negotiate_table(accept: &str) -> Option<TableVersion> {
    let mut ranges: Vec<MediaRange<'_>> = accept.split(',').filter_map(MediaRange::parse).collect();
    // A stable sort keeps the header's order among equals.
    ranges.sort_by(|a, b| {
        b.q.partial_cmp(&a.q).unwrap_or(Ordering::Equal).then(b.specificity().cmp(&a.specificity()))
    });
    for range in ranges.iter().filter(|r| r.q > 0.0) {
        let json = matches!(
            (range.type_.as_str(), range.subtype.as_str()),
            ("application", "json" | "*") | ("*", "*")
        );
        if !json {
            continue;
        }
        let param = |key: &str| range.params.iter().find(|(k, _)| k == key).map(|(_, v)| *v);
        match (param("as"), param("g"), param("v")) {
            (None, None, None) => return None,
            (Some("Table"), Some("meta.k8s.io"), Some("v1")) => return Some(TableVersion::V1),
            (Some("Table"), Some("meta.k8s.io"), Some("v1beta1")) => return Some(TableVersion::V1beta1),
            _ => {}
        }
    }
    None
}

/// One media range of an `Accept` header: type and subtype lower-cased, parameter names too,
/// values as written (unquoted).
struct MediaRange<'a> {
    type_: String,
    subtype: String,
    q: f64,
    params: Vec<(String, &'a str)>,
}

impl<'a> MediaRange<'a> {
    fn parse(text: &'a str) -> Option<MediaRange<'a>> {
        let mut parts = text.split(';');
        let (type_, subtype) = parts.next()?.trim().split_once('/')?;
        let mut range = MediaRange {
            type_: type_.trim().to_ascii_lowercase(),
            subtype: subtype.trim().to_ascii_lowercase(),
            q: 1.0,
            params: Vec::new(),
        };
        if range.type_.is_empty() || range.subtype.is_empty() {
            return None;
        }
        for param in parts {
            let Some((key, value)) = param.split_once('=') else { continue };
            let key = key.trim().to_ascii_lowercase();
            let value = value.trim().trim_matches('"');
            if key == "q" {
                range.q = value.parse().unwrap_or(0.0);
            } else {
                range.params.push((key, value));
            }
        }
        Some(range)
    }

    fn specificity(&self) -> u8 {
        u8::from(self.type_ != "*") + u8::from(self.subtype != "*")
    }
}

// === shared formatting ===

/// apimachinery's `duration.HumanDuration`: about two significant figures (`45s`, `3m20s`,
/// `12m`, `3h20m`, `20h`, `2d3h`, `40d`, `2y30d`, `9y`); `0s` for a second into the future
/// (clock skew) and `<invalid>` beyond.
pub fn human_duration(d: chrono::Duration) -> String {
    // Whole seconds, truncated toward zero, as Go's int(d.Seconds()).
    let seconds = d.num_seconds();
    if seconds < -1 {
        return "<invalid>".into();
    }
    if seconds < 0 {
        return "0s".into();
    }
    if seconds < 120 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        return match seconds % 60 {
            0 => format!("{minutes}m"),
            s => format!("{minutes}m{s}s"),
        };
    }
    if minutes < 180 {
        return format!("{minutes}m");
    }
    let hours = seconds / 3600;
    if hours < 8 {
        return match minutes % 60 {
            0 => format!("{hours}h"),
            m => format!("{hours}h{m}m"),
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    let days = hours / 24;
    if hours < 24 * 8 {
        return match hours % 24 {
            0 => format!("{days}d"),
            h => format!("{days}d{h}h"),
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{days}d");
    }
    let years = days / 365;
    if hours < 24 * 365 * 8 {
        return match days % 365 {
            0 => format!("{years}y"),
            d => format!("{years}y{d}d"),
        };
    }
    format!("{years}y")
}

/// How long before `now` `t` was, as kube-apiserver prints ages; `<unknown>` without a time.
pub fn age(t: Option<Time>, now: Time) -> String {
    t.map_or_else(|| "<unknown>".into(), |t| human_duration(now - t))
}

/// A cell as kubectl prints it: a string up to its first line break (then `...`), anything else
/// as its JSON text.
pub fn cell_text(cell: &Value) -> String {
    match cell {
        Value::String(s) => match s.find(['\n', '\r', '\u{c}']) {
            Some(i) => format!("{}...", &s[..i]),
            None => s.clone(),
        },
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// The cells kubectl shows of a row of `columns`: the priority-0 ones, or all with `wide`.
pub fn visible_text(columns: &[Column], cells: &[Value], wide: bool) -> Vec<String> {
    columns.iter().zip(cells).filter(|(c, _)| wide || c.priority == 0).map(|(_, v)| cell_text(v)).collect()
}

/// The cells of `obj`'s row as kubectl shows them (`-o wide` with `wide`).
pub fn row_text<T: Printable>(obj: &T, now: Time, wide: bool) -> Vec<String> {
    visible_text(T::COLUMNS, &obj.cells(now), wide)
}

/// The column headers kubectl prints for `T` (upper-cased names; `-o wide` with `wide`).
pub fn headers<T: Printable>(wide: bool) -> Vec<String> {
    T::COLUMNS.iter().filter(|c| wide || c.priority == 0).map(|c| c.name.to_uppercase()).collect()
}

/// A label selector as `labels.Selector.String()` writes it: requirements sorted by key,
/// `k=v`, `k in (a,b)`, `k notin (a,b)`, `k`, `!k`, joined by commas; empty for no selector.
/// An operator it does not know, or values where none belong (or none where some must), is an
/// error.
pub fn label_selector_string(selector: Option<&LabelSelector>) -> Result<String, String> {
    let Some(selector) = selector else { return Ok(String::new()) };
    let mut requirements: Vec<(&str, String)> =
        selector.match_labels.iter().map(|(k, v)| (k.as_str(), format!("{k}={v}"))).collect();
    for e in &selector.match_expressions {
        let mut values: Vec<&str> = e.values.iter().map(String::as_str).collect();
        values.sort_unstable();
        let text = match (e.operator.as_str(), values.is_empty()) {
            ("In", false) => format!("{} in ({})", e.key, values.join(",")),
            ("NotIn", false) => format!("{} notin ({})", e.key, values.join(",")),
            ("Exists", true) => e.key.clone(),
            ("DoesNotExist", true) => format!("!{}", e.key),
            (op, _) => return Err(format!("invalid selector requirement {:?} {op}", e.key)),
        };
        requirements.push((e.key.as_str(), text));
    }
    requirements.sort_by(|a, b| a.0.cmp(b.0));
    Ok(requirements.into_iter().map(|(_, t)| t).collect::<Vec<_>>().join(","))
}

/// metav1's `FormatLabelSelector`: [`label_selector_string`], `<none>` when empty, `<error>`
/// when invalid.
pub fn format_label_selector(selector: Option<&LabelSelector>) -> String {
    match label_selector_string(selector) {
        Ok(s) if s.is_empty() => "<none>".into(),
        Ok(s) => s,
        Err(_) => "<error>".into(),
    }
}

/// The wide CONTAINERS and IMAGES cells: names and images joined by commas (`<none>` for a
/// container without an image, which Kubernetes would refuse and Drover accepts).
pub fn container_cells(containers: &[Container]) -> (String, String) {
    let names = containers.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(",");
    let images =
        containers.iter().map(|c| c.image.as_deref().unwrap_or("<none>")).collect::<Vec<_>>().join(",");
    (names, images)
}

// === Jobs ===

/// kube-apiserver's `hasJobCondition`: the first condition of `type_` decides.
fn job_condition(job: &Job, type_: &str) -> bool {
    job.status.conditions.iter().find(|c| c.type_ == type_).is_some_and(|c| c.status == "True")
}

/// The STATUS of a Job, in kube-apiserver 1.32's order: `Complete`, `Failed`, `Terminating`
/// (deletion requested), `Suspended`, `FailureTarget`, else `Running`. (1.32 shows a Job with
/// only `SuccessCriteriaMet` as `Running`.)
pub fn job_status(job: &Job) -> &'static str {
    use crate::job::condition;
    if job_condition(job, condition::COMPLETE) {
        "Complete"
    } else if job_condition(job, condition::FAILED) {
        "Failed"
    } else if job.metadata.deletion_timestamp.is_some() {
        "Terminating"
    } else if job_condition(job, condition::SUSPENDED) {
        "Suspended"
    } else if job_condition(job, condition::FAILURE_TARGET) {
        "FailureTarget"
    } else {
        "Running"
    }
}

/// COMPLETIONS: `2/4`; without `completions`, `1/1 of 3` when `parallelism` > 1, else `0/1`.
pub fn job_completions(job: &Job) -> String {
    let succeeded = job.status.succeeded;
    match job.spec.completions {
        Some(c) => format!("{succeeded}/{c}"),
        None => match job.spec.parallelism.unwrap_or(0) {
            p if p > 1 => format!("{succeeded}/1 of {p}"),
            _ => format!("{succeeded}/1"),
        },
    }
}

/// DURATION: empty before the Job starts, `completionTime − startTime` once it has one, else the
/// time since it started (a failed Job has no completion time, so its duration keeps growing,
/// as in Kubernetes).
pub fn job_duration(job: &Job, now: Time) -> String {
    match (job.status.start_time, job.status.completion_time) {
        (None, _) => String::new(),
        (Some(start), None) => human_duration(now - start),
        (Some(start), Some(done)) => human_duration(done - start),
    }
}

impl Printable for Job {
    const COLUMNS: &'static [Column] = JOB_COLUMNS;

    fn cells(&self, now: Time) -> Vec<Value> {
        let (names, images) = container_cells(&self.spec.template.spec.containers);
        vec![
            json!(self.metadata.name),
            json!(job_status(self)),
            json!(job_completions(self)),
            json!(job_duration(self, now)),
            json!(age(self.metadata.creation_timestamp, now)),
            json!(names),
            json!(images),
            json!(format_label_selector(self.spec.selector.as_ref())),
        ]
    }
}

// === CronJobs ===

impl Printable for CronJob {
    const COLUMNS: &'static [Column] = CRONJOB_COLUMNS;

    fn cells(&self, now: Time) -> Vec<Value> {
        let template = &self.spec.job_template.spec;
        let (names, images) = container_cells(&template.template.spec.containers);
        // Kubernetes defaults `suspend` to false, so kubectl never sees it unset.
        let suspend = if self.suspended() { "True" } else { "False" };
        vec![
            json!(self.metadata.name),
            json!(self.spec.schedule),
            json!(self.spec.time_zone.as_deref().unwrap_or("<none>")),
            json!(suspend),
            json!(self.status.active.len()),
            json!(
                self.status.last_schedule_time.map_or_else(|| "<none>".into(), |t| human_duration(now - t))
            ),
            json!(age(self.metadata.creation_timestamp, now)),
            json!(names),
            json!(images),
            json!(format_label_selector(template.selector.as_ref())),
        ]
    }
}

// === Pods ===

/// What the pod printer derives from the container statuses.
struct PodFacts {
    ready: usize,
    reason: String,
    restarts: i64,
    last_restart: Option<Time>,
}

fn pod_facts(pod: &Pod) -> PodFacts {
    let status = &pod.status;
    let mut reason = status.reason.clone().filter(|r| !r.is_empty()).unwrap_or_else(|| status.phase.clone());
    if status
        .conditions
        .iter()
        .any(|c| c.type_ == "PodScheduled" && c.reason.as_deref() == Some("SchedulingGated"))
    {
        reason = "SchedulingGated".into();
    }
    let (mut ready, mut restarts, mut last_restart, mut has_running) = (0, 0i64, None::<Time>, false);
    // kubectl's init container loop: the first init container not done names the status
    // (`Init:Error`, `Init:CrashLoopBackOff`, `Init:0/2`).
    let mut initializing = false;
    for (i, c) in status.init_container_statuses.iter().enumerate() {
        restarts += i64::from(c.restart_count);
        if let Some(finished) =
            c.last_state.as_ref().and_then(|s| s.terminated.as_ref()).and_then(|t| t.finished_at)
        {
            last_restart = Some(last_restart.map_or(finished, |t| t.max(finished)));
        }
        let waiting =
            c.state.waiting.as_ref().filter(|w| !w.reason.is_empty() && w.reason != "PodInitializing");
        match (&c.state.terminated, waiting) {
            (Some(t), _) if t.exit_code == 0 => continue,
            (Some(t), _) => {
                reason = match (t.reason.is_empty(), t.signal.filter(|s| *s != 0)) {
                    (false, _) => format!("Init:{}", t.reason),
                    (true, Some(signal)) => format!("Init:Signal:{signal}"),
                    (true, None) => format!("Init:ExitCode:{}", t.exit_code),
                };
            }
            (None, Some(w)) => reason = format!("Init:{}", w.reason),
            (None, None) => reason = format!("Init:{i}/{}", pod.spec.init_containers.len()),
        }
        initializing = true;
        break;
    }
    // kube-apiserver's container loop, last container first.
    for c in status.container_statuses.iter().rev().filter(|_| !initializing) {
        restarts += i64::from(c.restart_count);
        if let Some(finished) =
            c.last_state.as_ref().and_then(|s| s.terminated.as_ref()).and_then(|t| t.finished_at)
        {
            last_restart = Some(last_restart.map_or(finished, |t| t.max(finished)));
        }
        let waiting = c.state.waiting.as_ref().filter(|w| !w.reason.is_empty());
        if let Some(w) = waiting {
            reason = w.reason.clone();
        } else if let Some(t) = &c.state.terminated {
            reason = match (t.reason.is_empty(), t.signal.filter(|s| *s != 0)) {
                (false, _) => t.reason.clone(),
                (true, Some(signal)) => format!("Signal:{signal}"),
                (true, None) => format!("ExitCode:{}", t.exit_code),
            };
        } else if c.ready && c.state.running.is_some() {
            has_running = true;
            ready += 1;
        }
    }
    if reason == "Completed" && has_running {
        reason = if pod.condition_true("Ready") { "Running" } else { "NotReady" }.into();
    }
    if pod.metadata.deletion_timestamp.is_some() {
        if status.reason.as_deref() == Some("NodeLost") {
            reason = "Unknown".into();
        } else if !pod.is_terminal() {
            reason = "Terminating".into();
        }
    }
    PodFacts { ready, reason, restarts, last_restart }
}

/// READY: containers ready and running over containers (`1/1`).
pub fn pod_ready(pod: &Pod) -> String {
    format!("{}/{}", pod_facts(pod).ready, pod.spec.containers.len())
}

/// STATUS as kube-apiserver derives it: the pod's reason (else its phase), overridden by a
/// container's waiting reason (`ContainerCreating`, `CrashLoopBackOff`), terminated reason
/// (`Completed`, `Error`, `OOMKilled`) or `Signal:N`/`ExitCode:N`; `Terminating` once deletion
/// is requested and the pod is not finished.
pub fn pod_status(pod: &Pod) -> String {
    pod_facts(pod).reason
}

/// RESTARTS: the containers' restart count, with how long ago the last one ended when known
/// (`3 (5m ago)`).
pub fn pod_restarts(pod: &Pod, now: Time) -> String {
    let facts = pod_facts(pod);
    match facts.last_restart {
        Some(t) if facts.restarts != 0 => format!("{} ({} ago)", facts.restarts, human_duration(now - t)),
        _ => facts.restarts.to_string(),
    }
}

impl Printable for Pod {
    const COLUMNS: &'static [Column] = POD_COLUMNS;

    fn cells(&self, now: Time) -> Vec<Value> {
        vec![
            json!(self.metadata.name),
            json!(pod_ready(self)),
            json!(pod_status(self)),
            json!(pod_restarts(self, now)),
            json!(age(self.metadata.creation_timestamp, now)),
            // Drover pods run on the worker's host: no pod IP, no nomination, no readiness gates.
            json!("<none>"),
            json!(self.node_name().unwrap_or("<none>")),
            json!("<none>"),
            json!("<none>"),
        ]
    }

    fn conditions(&self) -> Vec<Value> {
        let (reason, message) = match self.status.phase.as_str() {
            crate::pod::phase::SUCCEEDED => ("Succeeded", "The pod has completed successfully."),
            crate::pod::phase::FAILED => ("Failed", "The pod failed."),
            _ => return Vec::new(),
        };
        vec![json!({"type": "Completed", "status": "True", "reason": reason, "message": message})]
    }
}

// === Events ===

/// OBJECT: the involved object's kind in lower case and its name (`job/pi`).
pub fn event_object(event: &Event) -> String {
    let kind = event.involved_kind.to_lowercase();
    if event.involved_name.is_empty() { kind } else { format!("{kind}/{}", event.involved_name) }
}

impl Printable for Event {
    const COLUMNS: &'static [Column] = EVENT_COLUMNS;

    fn cells(&self, now: Time) -> Vec<Value> {
        let seen = age(Some(self.timestamp), now);
        vec![
            json!(seen),
            json!(self.type_),
            json!(self.reason),
            json!(event_object(self)),
            json!(""),
            json!(self.source_component()),
            json!(self.message.trim()),
            json!(seen),
            json!(1),
            json!(self.name()),
        ]
    }

    fn api_object(&self) -> Value {
        self.to_core_v1()
    }
}

// === Workers ===

/// A Worker's STATUS: its phase, `Ready,SchedulingDisabled` when cordoned while ready.
pub fn worker_status(worker: &Worker) -> String {
    if worker.spec.unschedulable && worker.status.phase == crate::worker::phase::READY {
        "Ready,SchedulingDisabled".into()
    } else {
        worker.status.phase.clone()
    }
}

/// A Worker's cells with `running` pods (the server counts the pods bound to it and not
/// terminal; [`Printable::cells`] takes `status.running`).
pub fn worker_cells(worker: &Worker, running: i64, now: Time) -> Vec<Value> {
    let heartbeat =
        worker.status.last_heartbeat_time.map_or_else(|| "<never>".into(), |t| human_duration(now - t));
    vec![
        json!(worker.metadata.name),
        json!(worker_status(worker)),
        json!(worker.spec.slots),
        json!(running),
        json!(heartbeat),
        json!(age(worker.metadata.creation_timestamp, now)),
        json!(worker.status.version),
        json!(worker.status.hostname.as_deref().unwrap_or_default()),
    ]
}

impl Printable for Worker {
    const COLUMNS: &'static [Column] = WORKER_COLUMNS;

    fn cells(&self, now: Time) -> Vec<Value> {
        worker_cells(self, i64::from(self.status.running), now)
    }
}

// === Namespaces ===

/// The core/v1 Namespace `name`, `Active`, created at `created`.
pub fn namespace_object(name: &str, created: Option<Time>) -> Value {
    let mut metadata = json!({"name": name});
    if let Some(t) = created {
        metadata["creationTimestamp"] = t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true).into();
    }
    json!({
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": metadata,
        "spec": {"finalizers": ["kubernetes"]},
        "status": {"phase": "Active"},
    })
}

/// A Table of the namespaces `(name, creation time)`, all `Active`.
pub fn namespace_table(
    namespaces: &[(&str, Option<Time>)],
    now: Time,
    options: TableOptions,
    list_meta: ListMeta,
) -> Value {
    let items: Vec<NamespaceItem<'_>> =
        namespaces.iter().map(|&(name, created)| NamespaceItem { name, created }).collect();
    table_with(&items, now, options, list_meta)
}

/// A namespace as [`namespace_table`] prints it.
struct NamespaceItem<'a> {
    name: &'a str,
    created: Option<Time>,
}

impl Serialize for NamespaceItem<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        namespace_object(self.name, self.created).serialize(serializer)
    }
}

impl Printable for NamespaceItem<'_> {
    const COLUMNS: &'static [Column] = NAMESPACE_COLUMNS;

    fn cells(&self, now: Time) -> Vec<Value> {
        vec![json!(self.name), json!("Active"), json!(age(self.created, now))]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn now() -> Time {
        "2024-05-01T12:00:00Z".parse().expect("a time")
    }

    /// `now` minus `secs` seconds, as RFC 3339.
    fn ago(secs: i64) -> String {
        (now() - Duration::seconds(secs)).to_rfc3339()
    }

    fn strings(cells: &[Value]) -> Vec<String> {
        cells.iter().map(cell_text).collect()
    }

    #[test]
    fn human_duration_follows_apimachinery() {
        let s = Duration::seconds;
        for (name, d, want) in [
            ("far future", s(-2), "<invalid>"),
            ("a second ahead is skew", s(-1), "0s"),
            ("less than a second ahead", Duration::milliseconds(-999), "0s"),
            ("now", s(0), "0s"),
            ("seconds", s(45), "45s"),
            ("seconds up to two minutes", s(119), "119s"),
            ("two minutes", s(120), "2m"),
            ("minutes and seconds", s(5 * 60 + 30), "5m30s"),
            ("ten minutes drop the seconds", s(12 * 60 + 5), "12m"),
            ("minutes up to three hours", s(179 * 60), "179m"),
            ("three hours", s(3 * 3600), "3h"),
            ("hours and minutes", s(3 * 3600 + 20 * 60), "3h20m"),
            ("eight hours drop the minutes", s(8 * 3600 + 59 * 60), "8h"),
            ("hours up to two days", s(47 * 3600), "47h"),
            ("days and hours", s(2 * 86400 + 3 * 3600), "2d3h"),
            ("whole days", s(5 * 86400), "5d"),
            ("eight days drop the hours", s(8 * 86400 + 5 * 3600), "8d"),
            ("days up to two years", s(729 * 86400), "729d"),
            ("years and days", s((2 * 365 + 30) * 86400), "2y30d"),
            ("whole years", s(3 * 365 * 86400), "3y"),
            ("eight years drop the days", s((8 * 365 + 100) * 86400), "8y"),
        ] {
            assert_eq!(human_duration(d), want, "{name}");
        }
        assert_eq!(age(None, now()), "<unknown>");
        assert_eq!(age(Some(now() - s(90)), now()), "90s");
    }

    fn job(extra: Value) -> Job {
        let mut base = json!({
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": "pi", "namespace": "default", "uid": "u-1", "resourceVersion": "7",
                         "creationTimestamp": ago(3 * 3600 + 20 * 60), "labels": {"app": "pi"}},
            "spec": {
                "completions": 4, "parallelism": 2,
                "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": "u-1"}},
                "template": {"spec": {"containers": [{"name": "pi", "image": "perl:5.34"}]}}
            },
            "status": {}
        });
        merge(&mut base, extra);
        serde_json::from_value(base).expect("a valid Job")
    }

    fn merge(base: &mut Value, extra: Value) {
        match (base, extra) {
            (Value::Object(b), Value::Object(e)) => {
                for (k, v) in e {
                    merge(b.entry(k).or_insert(Value::Null), v);
                }
            }
            (b, e) => *b = e,
        }
    }

    fn cond(type_: &str, status: &str, reason: &str) -> Value {
        json!({"type": type_, "status": status, "reason": reason, "message": ""})
    }

    #[test]
    fn job_rows() {
        let selector = "batch.kubernetes.io/controller-uid=u-1";
        for (name, extra, want) in [
            (
                "running 2/4",
                json!({"status": {"startTime": ago(150), "active": 2, "succeeded": 2}}),
                ["pi", "Running", "2/4", "2m30s", "3h20m"],
            ),
            (
                "complete, with its duration",
                json!({"status": {"startTime": ago(3600), "completionTime": ago(3600 - 95), "succeeded": 4,
                                  "conditions": [cond("SuccessCriteriaMet", "True", "CompletionsReached"),
                                                 cond("Complete", "True", "CompletionsReached")]}}),
                ["pi", "Complete", "4/4", "95s", "3h20m"],
            ),
            (
                "failed: no completion time, the duration keeps growing",
                json!({"status": {"startTime": ago(600), "failed": 7,
                                  "conditions": [cond("FailureTarget", "True", "BackoffLimitExceeded"),
                                                 cond("Failed", "True", "BackoffLimitExceeded")]}}),
                ["pi", "Failed", "0/4", "10m", "3h20m"],
            ),
            (
                "failing: FailureTarget before Failed",
                json!({"status": {"startTime": ago(60), "conditions": [cond("FailureTarget", "True", "DeadlineExceeded")]}}),
                ["pi", "FailureTarget", "0/4", "60s", "3h20m"],
            ),
            (
                "1.32 shows SuccessCriteriaMet alone as Running",
                json!({"status": {"startTime": ago(60), "succeeded": 4,
                                  "conditions": [cond("SuccessCriteriaMet", "True", "CompletionsReached")]}}),
                ["pi", "Running", "4/4", "60s", "3h20m"],
            ),
            (
                "suspended before it started",
                json!({"spec": {"suspend": true}, "status": {"conditions": [cond("Suspended", "True", "JobSuspended")]}}),
                ["pi", "Suspended", "0/4", "", "3h20m"],
            ),
            (
                "Suspended outranks FailureTarget",
                json!({"status": {"conditions": [cond("FailureTarget", "True", "x"), cond("Suspended", "True", "y")]}}),
                ["pi", "Suspended", "0/4", "", "3h20m"],
            ),
            (
                "resumed: Suspended=False",
                json!({"status": {"startTime": ago(5), "conditions": [cond("Suspended", "False", "JobResumed")]}}),
                ["pi", "Running", "0/4", "5s", "3h20m"],
            ),
            (
                "deletion requested",
                json!({"metadata": {"deletionTimestamp": ago(1)}, "status": {"startTime": ago(5)}}),
                ["pi", "Terminating", "0/4", "5s", "3h20m"],
            ),
            (
                "a finished Job being deleted stays Complete",
                json!({"metadata": {"deletionTimestamp": ago(1)},
                       "status": {"conditions": [cond("Complete", "True", "CompletionsReached")]}}),
                ["pi", "Complete", "0/4", "", "3h20m"],
            ),
            (
                "the first condition of a type decides",
                json!({"status": {"conditions": [cond("Complete", "False", ""), cond("Complete", "True", "")]}}),
                ["pi", "Running", "0/4", "", "3h20m"],
            ),
            (
                "drain pattern: completions unset, parallelism 3",
                json!({"spec": {"completions": null, "parallelism": 3}, "status": {"startTime": ago(30), "succeeded": 1}}),
                ["pi", "Running", "1/1 of 3", "30s", "3h20m"],
            ),
            (
                "completions and parallelism unset",
                json!({"spec": {"completions": null, "parallelism": null}}),
                ["pi", "Running", "0/1", "", "3h20m"],
            ),
        ] {
            let j = job(extra);
            let cells = strings(&j.cells(now()));
            assert_eq!(cells[..5], want, "{name}");
            assert_eq!(cells[5..], ["pi", "perl:5.34", selector], "{name}");
            assert_eq!(row_text(&j, now(), false), want, "{name}");
        }
    }

    #[test]
    fn label_selectors_print_as_kubernetes_does() {
        let sel = |v: Value| serde_json::from_value::<LabelSelector>(v).expect("a selector");
        for (name, selector, want) in [
            ("none", None, "<none>"),
            ("empty", Some(sel(json!({}))), "<none>"),
            ("labels, sorted", Some(sel(json!({"matchLabels": {"b": "2", "a": "1"}}))), "a=1,b=2"),
            (
                "expressions sorted by key, values sorted",
                Some(sel(json!({"matchLabels": {"m": "x"}, "matchExpressions": [
                    {"key": "z", "operator": "NotIn", "values": ["q", "p"]},
                    {"key": "c", "operator": "In", "values": ["2", "1"]},
                    {"key": "e", "operator": "Exists"},
                    {"key": "d", "operator": "DoesNotExist"}
                ]}))),
                "c in (1,2),!d,e,m=x,z notin (p,q)",
            ),
            (
                "In without values",
                Some(sel(json!({"matchExpressions": [{"key": "k", "operator": "In"}]}))),
                "<error>",
            ),
            (
                "unknown operator",
                Some(sel(json!({"matchExpressions": [{"key": "k", "operator": "Gt", "values": ["1"]}]}))),
                "<error>",
            ),
        ] {
            assert_eq!(format_label_selector(selector.as_ref()), want, "{name}");
        }
        assert_eq!(label_selector_string(None), Ok(String::new()));
    }

    #[test]
    fn cronjob_rows() {
        let mut cj: CronJob = serde_json::from_value(json!({
            "metadata": {"name": "hello", "creationTimestamp": ago(3 * 86400)},
            "spec": {
                "schedule": "*/5 * * * *",
                "suspend": true,
                "jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "hello", "image": "busybox"}]}}}}
            },
            "status": {
                "active": [{"kind": "Job", "name": "hello-1", "uid": "a"}, {"kind": "Job", "name": "hello-2", "uid": "b"}],
                "lastScheduleTime": ago(3 * 3600)
            }
        }))
        .expect("a CronJob");
        let cells = cj.cells(now());
        assert_eq!(cells[4], json!(2), "Active is an integer cell");
        assert_eq!(
            strings(&cells),
            ["hello", "*/5 * * * *", "<none>", "True", "2", "3h", "3d", "hello", "busybox", "<none>"]
        );
        cj.spec.time_zone = Some("Europe/Berlin".into());
        cj.spec.suspend = None;
        cj.status.active.clear();
        cj.status.last_schedule_time = None;
        cj.spec.job_template.spec.selector =
            Some(serde_json::from_value(json!({"matchLabels": {"app": "hello"}})).expect("a selector"));
        assert_eq!(
            row_text(&cj, now(), true),
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
                "app=hello"
            ]
        );
    }

    fn pod(extra: Value) -> Pod {
        let mut base = json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "pi-x7k2p", "namespace": "default", "creationTimestamp": ago(12 * 60)},
            "spec": {"containers": [{"name": "pi", "image": "perl"}], "nodeName": "w1"},
            "status": {"phase": "Pending"}
        });
        merge(&mut base, extra);
        serde_json::from_value(base).expect("a valid Pod")
    }

    fn container(state: Value, ready: bool, restarts: i32, last: Value) -> Value {
        json!({"name": "pi", "state": state, "ready": ready, "restartCount": restarts, "lastState": last})
    }

    #[test]
    fn pod_rows() {
        let running = json!({"running": {"startedAt": ago(60)}});
        let exited = |code: i32, reason: &str| json!({"terminated": {"exitCode": code, "reason": reason}});
        let last_exit = json!({"terminated": {"exitCode": 1, "reason": "Error", "finishedAt": ago(5 * 60)}});
        for (name, extra, want) in [
            ("pending, not on a worker yet", json!({"spec": {"nodeName": null}}), ["0/1", "Pending", "0"]),
            (
                "container creating",
                json!({"status": {"containerStatuses": [container(json!({"waiting": {"reason": "ContainerCreating"}}), false, 0, Value::Null)]}}),
                ["0/1", "ContainerCreating", "0"],
            ),
            (
                "running",
                json!({"status": {"phase": "Running", "containerStatuses": [container(running.clone(), true, 0, Value::Null)]}}),
                ["1/1", "Running", "0"],
            ),
            (
                "running after restarts, with when the last one ended",
                json!({"status": {"phase": "Running", "containerStatuses": [container(running.clone(), true, 3, last_exit.clone())]}}),
                ["1/1", "Running", "3 (5m ago)"],
            ),
            (
                "restarts without a finish time have no suffix",
                json!({"status": {"phase": "Running", "containerStatuses": [container(running.clone(), true, 2, Value::Null)]}}),
                ["1/1", "Running", "2"],
            ),
            (
                "crash loop",
                json!({"status": {"phase": "Running", "containerStatuses": [container(json!({"waiting": {"reason": "CrashLoopBackOff"}}), false, 5, last_exit.clone())]}}),
                ["0/1", "CrashLoopBackOff", "5 (5m ago)"],
            ),
            (
                "completed",
                json!({"status": {"phase": "Succeeded", "containerStatuses": [container(exited(0, "Completed"), false, 0, Value::Null)]}}),
                ["0/1", "Completed", "0"],
            ),
            (
                "error",
                json!({"status": {"phase": "Failed", "containerStatuses": [container(exited(1, "Error"), false, 0, Value::Null)]}}),
                ["0/1", "Error", "0"],
            ),
            (
                "OOM killed",
                json!({"status": {"phase": "Failed", "containerStatuses": [container(exited(137, "OOMKilled"), false, 0, Value::Null)]}}),
                ["0/1", "OOMKilled", "0"],
            ),
            (
                "exit code without a reason",
                json!({"status": {"phase": "Failed", "containerStatuses": [container(exited(3, ""), false, 0, Value::Null)]}}),
                ["0/1", "ExitCode:3", "0"],
            ),
            (
                "signal without a reason",
                json!({"status": {"phase": "Failed", "containerStatuses": [container(json!({"terminated": {"exitCode": 137, "signal": 9}}), false, 0, Value::Null)]}}),
                ["0/1", "Signal:9", "0"],
            ),
            (
                "the pod's reason without container statuses",
                json!({"status": {"phase": "Failed", "reason": "DeadlineExceeded"}}),
                ["0/1", "DeadlineExceeded", "0"],
            ),
            (
                "a container's reason outranks the pod's",
                json!({"status": {"phase": "Failed", "reason": "DeadlineExceeded", "containerStatuses": [container(exited(143, "Error"), false, 0, Value::Null)]}}),
                ["0/1", "Error", "0"],
            ),
            (
                "terminating",
                json!({"metadata": {"deletionTimestamp": ago(2)}, "status": {"phase": "Running", "containerStatuses": [container(running.clone(), true, 0, Value::Null)]}}),
                ["1/1", "Terminating", "0"],
            ),
            (
                "a finished pod being deleted keeps its status",
                json!({"metadata": {"deletionTimestamp": ago(2)}, "status": {"phase": "Succeeded", "containerStatuses": [container(exited(0, "Completed"), false, 0, Value::Null)]}}),
                ["0/1", "Completed", "0"],
            ),
            (
                "a lost node's pod being deleted",
                json!({"metadata": {"deletionTimestamp": ago(2)}, "status": {"phase": "Running", "reason": "NodeLost"}}),
                ["0/1", "Unknown", "0"],
            ),
            (
                "scheduling gated",
                json!({"status": {"conditions": [{"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}]}}),
                ["0/1", "SchedulingGated", "0"],
            ),
            (
                "the first init container runs",
                json!({"spec": {"initContainers": [{"name": "input"}]}, "status": {"phase": "Pending", "initContainerStatuses": [container(running.clone(), false, 0, Value::Null)], "containerStatuses": [container(json!({"waiting": {"reason": "PodInitializing"}}), false, 0, Value::Null)]}}),
                ["0/1", "Init:0/1", "0"],
            ),
            (
                "an init container failed",
                json!({"spec": {"initContainers": [{"name": "input"}]}, "status": {"phase": "Failed", "initContainerStatuses": [container(exited(1, "Error"), false, 0, Value::Null)], "containerStatuses": [container(json!({"waiting": {"reason": "PodInitializing"}}), false, 0, Value::Null)]}}),
                ["0/1", "Init:Error", "0"],
            ),
            (
                "an init container in its restart back-off",
                json!({"spec": {"initContainers": [{"name": "input"}]}, "status": {"phase": "Pending", "initContainerStatuses": [container(json!({"waiting": {"reason": "CrashLoopBackOff"}}), false, 2, last_exit.clone())]}}),
                ["0/1", "Init:CrashLoopBackOff", "2 (5m ago)"],
            ),
            (
                "the second of two init containers runs",
                json!({"spec": {"initContainers": [{"name": "a"}, {"name": "b"}]}, "status": {"phase": "Pending", "initContainerStatuses": [container(exited(0, "Completed"), false, 0, Value::Null), container(running.clone(), false, 0, Value::Null)]}}),
                ["0/1", "Init:1/2", "0"],
            ),
            (
                "init containers done, the container starts",
                json!({"spec": {"initContainers": [{"name": "input"}]}, "status": {"phase": "Pending", "initContainerStatuses": [container(exited(0, "Completed"), false, 0, Value::Null)], "containerStatuses": [container(json!({"waiting": {"reason": "PodInitializing"}}), false, 0, Value::Null)]}}),
                ["0/1", "PodInitializing", "0"],
            ),
            (
                "init containers done, the container runs",
                json!({"spec": {"initContainers": [{"name": "input"}]}, "status": {"phase": "Running", "initContainerStatuses": [container(exited(0, "Completed"), false, 0, Value::Null)], "containerStatuses": [container(running.clone(), true, 0, Value::Null)]}}),
                ["1/1", "Running", "0"],
            ),
            (
                "Drover's own waiting reason",
                json!({"status": {"phase": "Running", "containerStatuses": [container(json!({"waiting": {"reason": "WaitingForTask"}}), false, 0, Value::Null)]}}),
                ["0/1", "WaitingForTask", "0"],
            ),
        ] {
            let p = pod(extra);
            let cells = strings(&p.cells(now()));
            assert_eq!(cells[0], "pi-x7k2p", "{name}");
            assert_eq!(cells[1..4], want, "{name}");
            assert_eq!(cells[4], "12m", "{name}");
            let node = p.node_name().unwrap_or("<none>");
            assert_eq!(cells[5..], ["<none>", node, "<none>", "<none>"], "{name}");
        }
    }

    #[test]
    fn a_completed_container_beside_a_running_one_reads_running_or_not_ready() {
        let two = |ready_condition: &str| {
            let mut p = pod(json!({"status": {"phase": "Running",
            "conditions": [{"type": "Ready", "status": ready_condition}],
            "containerStatuses": [
                container(json!({"running": {}}), true, 0, Value::Null),
                container(json!({"terminated": {"exitCode": 0, "reason": "Completed"}}), false, 0, Value::Null)
            ]}}));
            p.spec.containers.push(Container { name: "side".into(), ..Container::default() });
            p
        };
        assert_eq!(strings(&two("True").cells(now()))[1..3], ["1/2", "Running"]);
        assert_eq!(strings(&two("False").cells(now()))[1..3], ["1/2", "NotReady"]);
    }

    #[test]
    fn finished_pods_carry_a_completed_row_condition() {
        for (phase, want) in [
            ("Succeeded", Some(("Succeeded", "The pod has completed successfully."))),
            ("Failed", Some(("Failed", "The pod failed."))),
            ("Running", None),
        ] {
            let conditions = pod(json!({"status": {"phase": phase}})).conditions();
            let want: Vec<Value> = want
                .map(|(r, m)| json!({"type": "Completed", "status": "True", "reason": r, "message": m}))
                .into_iter()
                .collect();
            assert_eq!(conditions, want, "{phase}");
        }
    }

    fn event(kind: &str, name: &str, message: &str, secs: i64) -> Event {
        Event::warning(
            kind,
            name,
            "u-9",
            "BackoffLimitExceeded",
            message.into(),
            now() - Duration::seconds(secs),
        )
    }

    #[test]
    fn event_rows() {
        let e = event("Job", "pi", "  Job has reached the specified backoff limit\n", 45);
        let name = e.name();
        assert_eq!(name, format!("pi.{:x}", e.timestamp.timestamp_nanos_opt().expect("in range")));
        assert_eq!(
            strings(&e.cells(now())),
            [
                "45s",
                "Warning",
                "BackoffLimitExceeded",
                "job/pi",
                "",
                "job-controller",
                "Job has reached the specified backoff limit",
                "45s",
                "1",
                name.as_str(),
            ]
        );
        assert_eq!(e.cells(now())[8], json!(1), "Count is a number");
        for (name, kind, involved, want_object, want_source) in [
            ("a pod", "Pod", "pi-x", "pod/pi-x", "worker"),
            ("a cronjob", "CronJob", "hello", "cronjob/hello", "cronjob-controller"),
            ("a worker", "Worker", "w1", "worker/w1", "coordinator"),
            ("no name", "Worker", "", "worker", "coordinator"),
        ] {
            let e = event(kind, involved, "m", 0);
            let cells = strings(&e.cells(now()));
            assert_eq!((cells[3].as_str(), cells[5].as_str()), (want_object, want_source), "{name}");
        }
        assert_eq!(
            row_text(&event("Job", "pi", "line one\nline two", 5), now(), false),
            ["5s", "Warning", "BackoffLimitExceeded", "job/pi", "line one..."]
        );
    }

    #[test]
    fn events_have_the_core_v1_shape() {
        let e = event("Job", "pi", "m", 0);
        let v = e.to_core_v1();
        assert_eq!(v["kind"], "Event");
        assert_eq!(v["metadata"]["name"], e.name());
        assert_eq!(v["metadata"]["namespace"], "default");
        assert_eq!(
            v["involvedObject"],
            json!({"apiVersion": "batch/v1", "kind": "Job", "name": "pi", "namespace": "default", "uid": "u-9"})
        );
        assert_eq!(v["source"], json!({"component": "job-controller"}));
        assert_eq!(v["firstTimestamp"], "2024-05-01T12:00:00Z");
        assert_eq!(v["lastTimestamp"], v["firstTimestamp"]);
        assert_eq!(v["count"], 1);
        let w = event("Worker", "w1", "m", 0).to_core_v1();
        assert_eq!(
            w["involvedObject"],
            json!({"apiVersion": "drover.dev/v1", "kind": "Worker", "name": "w1", "uid": "u-9"})
        );
        // The table's row object is the core/v1 event, and its metadata the row's partial object.
        let t = table(std::slice::from_ref(&e), now(), IncludeObject::Metadata, ListMeta::default());
        assert_eq!(t["rows"][0]["object"]["metadata"]["name"], e.name());
    }

    fn worker(extra: Value) -> Worker {
        let mut base = json!({
            "apiVersion": "drover.dev/v1",
            "kind": "Worker",
            "metadata": {"name": "w1", "creationTimestamp": ago(2 * 86400 + 3 * 3600)},
            "spec": {"slots": 4},
            "status": {"phase": "Ready", "lastHeartbeatTime": ago(3), "running": 2, "version": "0.1.0",
                       "hostname": "host-a"}
        });
        merge(&mut base, extra);
        serde_json::from_value(base).expect("a valid Worker")
    }

    #[test]
    fn worker_rows() {
        for (name, extra, want) in [
            ("ready", json!({}), ["w1", "Ready", "4", "2", "3s", "2d3h", "0.1.0"]),
            (
                "cordoned while ready",
                json!({"spec": {"unschedulable": true}}),
                ["w1", "Ready,SchedulingDisabled", "4", "2", "3s", "2d3h", "0.1.0"],
            ),
            (
                "draining",
                json!({"spec": {"unschedulable": true}, "status": {"phase": "Draining"}}),
                ["w1", "Draining", "4", "2", "3s", "2d3h", "0.1.0"],
            ),
            (
                "lost, never heard from",
                json!({"status": {"phase": "Lost", "lastHeartbeatTime": null, "running": 0}}),
                ["w1", "Lost", "4", "0", "<never>", "2d3h", "0.1.0"],
            ),
        ] {
            let w = worker(extra);
            assert_eq!(row_text(&w, now(), false), want, "{name}");
            assert_eq!(w.cells(now())[2], json!(4), "{name}: Slots is an integer cell");
        }
        assert_eq!(row_text(&worker(json!({})), now(), true)[7], "host-a");
        assert_eq!(strings(&worker_cells(&worker(json!({})), 3, now()))[3], "3", "the caller's count");
    }

    /// Every kind's columns, as kube-apiserver 1.32 defines them: name, type, format, priority.
    #[test]
    fn columns_are_kube_apiservers() {
        type Want = &'static [(&'static str, &'static str, &'static str, i32)];
        const JOBS: Want = &[
            ("Name", "string", "name", 0),
            ("Status", "string", "", 0),
            ("Completions", "string", "", 0),
            ("Duration", "string", "", 0),
            ("Age", "string", "", 0),
            ("Containers", "string", "", 1),
            ("Images", "string", "", 1),
            ("Selector", "string", "", 1),
        ];
        const CRONJOBS: Want = &[
            ("Name", "string", "name", 0),
            ("Schedule", "string", "", 0),
            ("Timezone", "string", "", 0),
            ("Suspend", "boolean", "", 0),
            ("Active", "integer", "", 0),
            ("Last Schedule", "string", "", 0),
            ("Age", "string", "", 0),
            ("Containers", "string", "", 1),
            ("Images", "string", "", 1),
            ("Selector", "string", "", 1),
        ];
        const PODS: Want = &[
            ("Name", "string", "name", 0),
            ("Ready", "string", "", 0),
            ("Status", "string", "", 0),
            ("Restarts", "string", "", 0),
            ("Age", "string", "", 0),
            ("IP", "string", "", 1),
            ("Node", "string", "", 1),
            ("Nominated Node", "string", "", 1),
            ("Readiness Gates", "string", "", 1),
        ];
        const EVENTS: Want = &[
            ("Last Seen", "string", "", 0),
            ("Type", "string", "", 0),
            ("Reason", "string", "", 0),
            ("Object", "string", "", 0),
            ("Subobject", "string", "", 1),
            ("Source", "string", "", 1),
            ("Message", "string", "", 0),
            ("First Seen", "string", "", 1),
            ("Count", "string", "", 1),
            ("Name", "string", "name", 1),
        ];
        const NAMESPACES: Want =
            &[("Name", "string", "name", 0), ("Status", "string", "", 0), ("Age", "string", "", 0)];
        for (kind, columns, want) in [
            ("jobs", JOB_COLUMNS, JOBS),
            ("cronjobs", CRONJOB_COLUMNS, CRONJOBS),
            ("pods", POD_COLUMNS, PODS),
            ("events", EVENT_COLUMNS, EVENTS),
            ("namespaces", NAMESPACE_COLUMNS, NAMESPACES),
        ] {
            let got: Vec<_> = columns.iter().map(|c| (c.name, c.type_, c.format, c.priority)).collect();
            assert_eq!(got, want, "{kind}");
            assert!(columns.iter().all(|c| !c.description.is_empty()), "{kind}");
        }
        assert_eq!(headers::<Event>(false), ["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]);
        assert_eq!(
            headers::<Worker>(true),
            ["NAME", "STATUS", "SLOTS", "RUNNING", "LAST-HEARTBEAT", "AGE", "VERSION", "HOSTNAME"]
        );
        // Every kind has a cell per column.
        assert_eq!(job(json!({})).cells(now()).len(), JOB_COLUMNS.len());
        assert_eq!(pod(json!({})).cells(now()).len(), POD_COLUMNS.len());
        assert_eq!(CronJob::default().cells(now()).len(), CRONJOB_COLUMNS.len());
        assert_eq!(event("Job", "pi", "m", 0).cells(now()).len(), EVENT_COLUMNS.len());
        assert_eq!(worker(json!({})).cells(now()).len(), WORKER_COLUMNS.len());
    }

    #[test]
    fn accept_headers() {
        let kubectl = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";
        for (name, accept, want) in [
            ("kubectl get", kubectl, Some(TableVersion::V1)),
            ("empty", "", None),
            ("plain JSON", "application/json", None),
            ("anything", "*/*", None),
            (
                "v1beta1 only",
                "application/json;as=Table;v=v1beta1;g=meta.k8s.io",
                Some(TableVersion::V1beta1),
            ),
            ("plain JSON first wins", "application/json, application/json;as=Table;v=v1;g=meta.k8s.io", None),
            (
                "a Table without a version is passed over",
                "application/json;as=Table;g=meta.k8s.io, application/json",
                None,
            ),
            (
                "an unknown Table version is passed over",
                "application/json;as=Table;v=v2;g=meta.k8s.io, application/json;as=Table;v=v1beta1;g=meta.k8s.io",
                Some(TableVersion::V1beta1),
            ),
            (
                "a lower q comes later",
                "application/json;as=Table;v=v1;g=meta.k8s.io;q=0.5, application/json",
                None,
            ),
            (
                "a higher q comes first",
                "application/json;q=0.5, application/json;as=Table;v=v1;g=meta.k8s.io",
                Some(TableVersion::V1),
            ),
            ("q=0 is refused", "application/json;as=Table;v=v1;g=meta.k8s.io;q=0", None),
            (
                "the more specific range first at equal q",
                "*/*, application/json;as=Table;v=v1;g=meta.k8s.io",
                Some(TableVersion::V1),
            ),
            (
                "YAML is not served here",
                "application/yaml, application/json;as=Table;v=v1;g=meta.k8s.io",
                Some(TableVersion::V1),
            ),
            (
                "protobuf is not served here",
                "application/vnd.kubernetes.protobuf;as=Table;v=v1;g=meta.k8s.io, application/json",
                None,
            ),
            (
                "PartialObjectMetadata is not served here",
                "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io, application/json",
                None,
            ),
            ("a wildcard with Table parameters", "*/*;as=Table;v=v1;g=meta.k8s.io", Some(TableVersion::V1)),
            (
                "spaces, case and quotes",
                "Application/JSON ; AS=Table ; v=\"v1\" ; g=meta.k8s.io",
                Some(TableVersion::V1),
            ),
            (
                "other parameters are ignored",
                "application/json;as=Table;v=v1;g=meta.k8s.io;pretty=1;charset=utf-8",
                Some(TableVersion::V1),
            ),
            ("the value is case-sensitive", "application/json;as=table;v=v1;g=meta.k8s.io", None),
            ("another type", "text/html", None),
            ("garbage", "nonsense,,;", None),
        ] {
            assert_eq!(negotiate_table(accept), want, "{name}");
            assert_eq!(wants_table(accept), want.is_some(), "{name}");
        }
    }

    #[test]
    fn include_object_from_the_query() {
        for (name, query, want) in [
            ("absent", None, Ok(IncludeObject::Metadata)),
            ("empty", Some(""), Ok(IncludeObject::Metadata)),
            ("Metadata", Some("Metadata"), Ok(IncludeObject::Metadata)),
            ("None", Some("None"), Ok(IncludeObject::None)),
            ("Object", Some("Object"), Ok(IncludeObject::Object)),
            ("case matters", Some("object"), Err("unrecognized includeObject value: \"object\"".to_string())),
        ] {
            assert_eq!(IncludeObject::from_query(query), want, "{name}");
        }
    }

    #[test]
    fn tables_carry_the_object_as_asked() {
        let j = job(json!({"status": {"startTime": ago(150), "succeeded": 2}}));
        let meta = ListMeta {
            resource_version: "42".into(),
            continue_: Some("next".into()),
            remaining_item_count: None,
        };

        let t = table(std::slice::from_ref(&j), now(), IncludeObject::Metadata, meta.clone());
        assert_eq!(t["kind"], "Table");
        assert_eq!(t["apiVersion"], "meta.k8s.io/v1");
        assert_eq!(t["metadata"], json!({"resourceVersion": "42", "continue": "next"}));
        assert_eq!(t["columnDefinitions"].as_array().map(Vec::len), Some(JOB_COLUMNS.len()));
        assert_eq!(
            t["columnDefinitions"][0],
            json!({"name": "Name", "type": "string", "format": "name", "description": NAME_DOC, "priority": 0})
        );
        assert_eq!(t["columnDefinitions"][5]["priority"], 1);
        let row = &t["rows"][0];
        assert_eq!(
            row["cells"].as_array().expect("cells")[..5],
            [json!("pi"), json!("Running"), json!("2/4"), json!("2m30s"), json!("3h20m")]
        );
        assert_eq!(
            row["object"],
            json!({
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": serde_json::to_value(&j.metadata).expect("metadata")
            })
        );
        assert!(row.get("conditions").is_none(), "a Job row has no conditions");

        let t = table(std::slice::from_ref(&j), now(), IncludeObject::Object, ListMeta::default());
        assert_eq!(t["rows"][0]["object"], serde_json::to_value(&j).expect("a Job"));
        assert_eq!(t["metadata"], json!({}));

        let t = table(std::slice::from_ref(&j), now(), IncludeObject::None, ListMeta::default());
        assert!(t["rows"][0].get("object").is_none());

        let options = TableOptions {
            include: IncludeObject::Metadata,
            version: TableVersion::V1beta1,
            no_headers: true,
        };
        let t = table_with(std::slice::from_ref(&j), now(), options, meta);
        assert_eq!(t["apiVersion"], "meta.k8s.io/v1beta1");
        assert_eq!(t["rows"][0]["object"]["apiVersion"], "meta.k8s.io/v1beta1");
        assert_eq!(t["columnDefinitions"], json!([]), "a later watch event leaves out the columns");

        let empty: [Job; 0] = [];
        assert_eq!(table(&empty, now(), IncludeObject::Metadata, ListMeta::default())["rows"], json!([]));

        let p = pod(json!({"status": {"phase": "Succeeded"}}));
        let t = table(&[p], now(), IncludeObject::None, ListMeta::default());
        assert_eq!(t["rows"][0]["conditions"][0]["type"], "Completed");
    }

    #[test]
    fn namespaces() {
        let t = namespace_table(
            &[("default", Some(now() - Duration::days(9)))],
            now(),
            TableOptions { include: IncludeObject::Object, ..TableOptions::default() },
            ListMeta::default(),
        );
        assert_eq!(t["rows"][0]["cells"], json!(["default", "Active", "9d"]));
        assert_eq!(t["rows"][0]["object"], namespace_object("default", Some(now() - Duration::days(9))));
        assert_eq!(t["rows"][0]["object"]["metadata"]["creationTimestamp"], "2024-04-22T12:00:00Z");
        assert_eq!(t["rows"][0]["object"]["status"]["phase"], "Active");
        assert_eq!(t["columnDefinitions"].as_array().map(Vec::len), Some(3));
    }

    #[test]
    fn cells_print_as_kubectl_prints_them() {
        for (name, cell, want) in [
            ("a string", json!("Running"), "Running"),
            ("an integer", json!(3), "3"),
            ("a boolean", json!(true), "true"),
            ("null", Value::Null, ""),
            ("a line break cuts", json!("one\ntwo"), "one..."),
            ("a carriage return cuts", json!("one\rtwo"), "one..."),
        ] {
            assert_eq!(cell_text(&cell), want, "{name}");
        }
        let visible = visible_text(POD_COLUMNS, &pod(json!({})).cells(now()), false);
        assert_eq!(visible.len(), 5);
    }
}
