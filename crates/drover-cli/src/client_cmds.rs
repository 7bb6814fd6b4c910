//! The kubectl-like client verbs.

use std::io::{Read as _, Write as _};
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::Args;
use drover_api::manifest::{self, Object};
use drover_api::{CronJob, Job, ObjectMeta, Pod, Worker, cronjob};
use drover_client::{Client, ClientError};
use futures::StreamExt;
use serde::Serialize;

use crate::print::{self, Table};
use crate::{FileArgs, duration};

// === reading manifests ===

/// Reads every manifest named by `-f` (files, directories, `-`), expands `--item`, parses and
/// validates all of them. Every error in every document is reported; when there is any,
/// nothing is returned, so nothing is created.
fn read_objects(files: &FileArgs) -> anyhow::Result<Vec<Object>> {
    if files.filename.is_empty() {
        bail!("must specify one of -f and -k");
    }
    let mut sources: Vec<(String, String)> = Vec::new();
    for f in &files.filename {
        if f == "-" {
            let mut text = String::new();
            std::io::stdin().read_to_string(&mut text).context("cannot read stdin")?;
            sources.push(("<stdin>".into(), text));
            continue;
        }
        let path = Path::new(f);
        if path.is_dir() {
            let mut entries: Vec<_> = std::fs::read_dir(path)
                .with_context(|| format!("cannot read directory {f}"))?
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml" | "json")))
                .collect();
            entries.sort();
            for p in entries {
                let text =
                    std::fs::read_to_string(&p).with_context(|| format!("cannot read {}", p.display()))?;
                sources.push((p.display().to_string(), text));
            }
        } else {
            let text = std::fs::read_to_string(path)
                .map_err(|e| anyhow::anyhow!("error: the path {f:?} cannot be read: {e}"))?;
            sources.push((f.clone(), text));
        }
    }
    let mut objects = Vec::new();
    let mut errors = Vec::new();
    for (name, text) in sources {
        let texts: Vec<String> = if files.item.is_empty() {
            vec![text]
        } else {
            files
                .item
                .iter()
                .map(|item| manifest::expand_template(&text, &[("ITEM".to_string(), item.clone())]))
                .collect()
        };
        for text in texts {
            match manifest::parse_each(&text, &name) {
                Err(e) => errors.push(e.to_string()),
                Ok(results) => {
                    for r in results {
                        match r {
                            Ok(o) => objects.push(o),
                            Err(e) => errors.push(e.to_string()),
                        }
                    }
                }
            }
        }
    }
    if !errors.is_empty() {
        bail!("{}\nnothing was created", errors.join("\n"));
    }
    Ok(objects)
}

fn api_error(err: ClientError) -> anyhow::Error {
    match err {
        // A field error (Kubernetes' `Invalid` Status) is printed as it is, kubectl-style.
        ClientError::Api { reason, message, .. } if reason == "Invalid" => anyhow::anyhow!("{message}"),
        ClientError::Api { reason, message, .. } => {
            anyhow::anyhow!("error from server ({reason}): {message}")
        }
        other => anyhow::anyhow!("{other}"),
    }
}

// === create, apply, delete, expand ===

/// `drover create`.
#[derive(Debug, Args)]
pub(crate) struct CreateArgs {
    /// With `--from`: `job NAME`, the Job to create from a CronJob's template.
    args: Vec<String>,
    #[command(flatten)]
    files: FileArgs,
    /// With `create job NAME`: `cronjob/NAME`, to run that CronJob's template now, as a manual
    /// trigger (the Job is owned by the CronJob, like a scheduled one).
    #[arg(long)]
    from: Option<String>,
}

pub(crate) async fn create(args: CreateArgs, server: &crate::Target) -> anyhow::Result<ExitCode> {
    if !args.args.is_empty() || args.from.is_some() {
        if !args.files.filename.is_empty() {
            bail!("-f cannot be combined with `create job NAME --from=cronjob/NAME`");
        }
        return create_job_from(&args.args, args.from.as_deref(), server).await;
    }
    let objects = read_objects(&args.files)?;
    let client = server.client();
    let mut failed = false;
    for obj in objects {
        let res = match obj {
            Object::Job(job) => client
                .create_job(&serde_json::to_value(&job)?)
                .await
                .map(|j| format!("job.batch/{} created", j.metadata.name)),
            Object::CronJob(cj) => client
                .create_cronjob(&serde_json::to_value(&cj)?)
                .await
                .map(|c| format!("cronjob.batch/{} created", c.metadata.name)),
        };
        match res {
            Ok(line) => println!("{line}"),
            Err(e) => {
                failed = true;
                eprintln!("{}", api_error(e));
            }
        }
    }
    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

/// The CronJob name of a `--from` value: `cronjob/NAME` (or `cronjobs/`, `cj/`, `cronjob.batch/`).
fn parse_from(from: &str) -> anyhow::Result<&str> {
    match from.split_once('/') {
        Some((kind, name)) if is_cronjob_kind(kind) && !name.is_empty() && !name.contains('/') => Ok(name),
        _ => bail!("invalid --from {from:?}: only cronjob/NAME is supported"),
    }
}

/// `drover create job NAME --from=cronjob/X`, as kubectl does it: client-side, from the template.
async fn create_job_from(
    args: &[String],
    from: Option<&str>,
    server: &crate::Target,
) -> anyhow::Result<ExitCode> {
    let name = match args {
        [kind, name] if is_job_kind(kind) => name,
        [kind, ..] if !is_job_kind(kind) => {
            bail!(
                "drover create makes only a job from arguments (`create job NAME --from=cronjob/NAME`), not {kind:?}; use -f for other objects"
            )
        }
        _ => bail!("exactly one NAME is required: `drover create job NAME --from=cronjob/NAME`"),
    };
    let Some(from) = from else {
        bail!("`drover create job NAME` needs --from=cronjob/NAME (other Jobs are created with -f)");
    };
    let cronjob = parse_from(from)?;
    let client = server.client();
    let cj = client.get_cronjob(cronjob).await.map_err(|e| not_found_or(e, "cronjobs.batch", cronjob))?;
    let job = job_from_cronjob(&cj, name);
    match client.create_job(&serde_json::to_value(&job)?).await {
        Ok(j) => {
            println!("job.batch/{} created", j.metadata.name);
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => Err(api_error(e)),
    }
}

/// The Job `create job NAME --from=cronjob/X` creates (kubectl's `createJobFromCronJob`): the
/// template's labels, its annotations plus `cronjob.kubernetes.io/instantiate: manual` (which
/// tells the CronJob controller the Job is not a scheduled run), a controller reference to the
/// CronJob, and the template's spec.
pub(crate) fn job_from_cronjob(cj: &CronJob, name: &str) -> Job {
    let template = &cj.spec.job_template;
    let mut annotations = template.metadata.annotations.clone();
    annotations.insert(cronjob::INSTANTIATE_ANNOTATION.to_string(), "manual".to_string());
    Job {
        api_version: drover_api::job::API_VERSION.to_string(),
        kind: drover_api::job::KIND.to_string(),
        metadata: ObjectMeta {
            name: name.to_string(),
            labels: template.metadata.labels.clone(),
            annotations,
            owner_references: vec![drover_core::cronjob::owner_reference(cj)],
            ..ObjectMeta::default()
        },
        spec: template.spec.clone(),
        status: Default::default(),
    }
}

/// `Error from server (NotFound): <resource> "NAME" not found` for a 404, [`api_error`] otherwise.
fn not_found_or(err: ClientError, resource: &str, name: &str) -> anyhow::Error {
    if err.is_not_found() {
        anyhow::anyhow!("Error from server (NotFound): {resource} \"{name}\" not found")
    } else {
        api_error(err)
    }
}

/// `drover apply`.
#[derive(Debug, Args)]
pub(crate) struct ApplyArgs {
    #[command(flatten)]
    files: FileArgs,
}

pub(crate) async fn apply(args: ApplyArgs, server: &crate::Target) -> anyhow::Result<ExitCode> {
    let objects = read_objects(&args.files)?;
    let client = server.client();
    let mut failed = false;
    for obj in objects {
        let (prefix, name) = (resource_prefix(&obj), obj.name().to_string());
        let res = match obj {
            Object::Job(job) => {
                let body = serde_json::to_value(&job)?;
                match client.get_job(&name).await {
                    Ok(existing) => client.replace_job(&name, &body).await.map(|j| {
                        if j.metadata.resource_version == existing.metadata.resource_version {
                            "unchanged"
                        } else {
                            "configured"
                        }
                    }),
                    Err(e) if e.is_not_found() => client.create_job(&body).await.map(|_| "created"),
                    Err(e) => Err(e),
                }
            }
            Object::CronJob(cj) => {
                let body = serde_json::to_value(&cj)?;
                match client.get_cronjob(&name).await {
                    // The server replaces spec, labels and annotations; compare them with the
                    // defaults it would apply, and skip a write that would change nothing.
                    Ok(existing) if cronjob_unchanged(&existing, &cj) => Ok("unchanged"),
                    Ok(_) => client.replace_cronjob(&name, &body).await.map(|_| "configured"),
                    Err(e) if e.is_not_found() => client.create_cronjob(&body).await.map(|_| "created"),
                    Err(e) => Err(e),
                }
            }
        };
        match res {
            Ok(what) => println!("{prefix}/{name} {what}"),
            Err(e) => {
                failed = true;
                eprintln!("{}", api_error(e));
            }
        }
    }
    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

/// True when applying `submitted` to `existing` would change nothing the server replaces.
fn cronjob_unchanged(existing: &CronJob, submitted: &CronJob) -> bool {
    let mut want = submitted.clone();
    want.apply_defaults();
    existing.spec == want.spec
        && existing.metadata.labels == want.metadata.labels
        && existing.metadata.annotations == want.metadata.annotations
}

/// `job.batch` or `cronjob.batch`, as kubectl names an object in its messages.
fn resource_prefix(obj: &Object) -> &'static str {
    match obj {
        Object::Job(_) => "job.batch",
        Object::CronJob(_) => "cronjob.batch",
    }
}

/// Whether `kind` names Jobs (`job`, `jobs`, `jobs.batch`, …: [`drover_api::resource`]).
fn is_job_kind(kind: &str) -> bool {
    drover_api::resource::JOBS.is_called(kind)
}

/// Whether `kind` names CronJobs (`cj` too).
fn is_cronjob_kind(kind: &str) -> bool {
    drover_api::resource::CRONJOBS.is_called(kind)
}

/// The kind a `delete`, `suspend` or `resume` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TargetKind {
    Job,
    CronJob,
}

/// A verb that takes `TYPE NAME…` or `TYPE/NAME…`, for its messages.
struct Verb {
    /// `delete`.
    name: &'static str,
    /// `deleted`.
    past: &'static str,
    /// The kinds it takes, as a hint: `job, cronjob`.
    kinds: &'static str,
    /// An example `TYPE` for the usage message.
    example: &'static str,
}

const DELETE: Verb = Verb { name: "delete", past: "deleted", kinds: "job, cronjob", example: "job" };
const SUSPEND: Verb = Verb { name: "suspend", past: "suspended", kinds: "cronjob", example: "cronjob" };
const RESUME: Verb = Verb { name: "resume", past: "resumed", kinds: "cronjob", example: "cronjob" };

fn target_kind(kind: &str, verb: &Verb) -> anyhow::Result<TargetKind> {
    if is_job_kind(kind) {
        Ok(TargetKind::Job)
    } else if is_cronjob_kind(kind) {
        Ok(TargetKind::CronJob)
    } else {
        bail!(
            "the server doesn't have a resource type {kind:?} that can be {} (try: {})",
            verb.past,
            verb.kinds
        )
    }
}

/// Splits `TYPE NAME…` or `TYPE/NAME…` into (kind, name) pairs, as kubectl reads them.
fn typed_names(args: &[String], verb: &Verb) -> anyhow::Result<Vec<(TargetKind, String)>> {
    let Some((first, rest)) = args.split_first() else {
        bail!(
            "you must specify the type of resource to {0}, e.g. `drover {0} {1} NAME`",
            verb.name,
            verb.example
        );
    };
    let mut out = Vec::new();
    if first.contains('/') {
        for arg in args {
            let Some((kind, name)) = arg.split_once('/').filter(|(_, n)| !n.is_empty()) else {
                bail!("arguments in resource/name form must have a single resource and name, got {arg:?}");
            };
            out.push((target_kind(kind, verb)?, name.to_string()));
        }
    } else {
        let kind = target_kind(first, verb)?;
        for name in rest {
            if name.contains('/') {
                bail!(
                    "there is no need to specify a resource type as a separate argument when passing arguments in resource/name form (e.g. 'drover {0} {name}' instead of 'drover {0} {first} {name}')",
                    verb.name
                );
            }
            out.push((kind, name.clone()));
        }
        if out.is_empty() {
            bail!("resource(s) were provided, but no name was specified");
        }
    }
    Ok(out)
}

/// `drover delete`.
#[derive(Debug, Args)]
pub(crate) struct DeleteArgs {
    /// `job` or `cronjob` (plural and short forms work too), then names; or `job/NAME`,
    /// `cronjob/NAME`.
    args: Vec<String>,
    #[command(flatten)]
    files: FileArgs,
    /// `background` (default: delete the dependents too: a Job's pods, a CronJob's Jobs) or
    /// `orphan` (leave them).
    #[arg(long, default_value = "background")]
    cascade: String,
}

pub(crate) async fn delete(args: DeleteArgs, server: &crate::Target) -> anyhow::Result<ExitCode> {
    let cascade = match args.cascade.as_str() {
        "background" | "foreground" | "true" => true,
        "orphan" | "false" => false,
        other => bail!("invalid --cascade value {other:?}: use background or orphan"),
    };
    let targets = if !args.files.filename.is_empty() {
        read_objects(&args.files)?
            .iter()
            .map(|obj| {
                let kind = match obj {
                    Object::Job(_) => TargetKind::Job,
                    Object::CronJob(_) => TargetKind::CronJob,
                };
                (kind, obj.name().to_string())
            })
            .collect()
    } else {
        typed_names(&args.args, &DELETE)?
    };
    let client = server.client();
    let mut failed = false;
    for (kind, name) in targets {
        let (res, singular, plural) = match kind {
            TargetKind::Job => (client.delete_job(&name, cascade).await.map(|_| ()), "job", "jobs"),
            TargetKind::CronJob => {
                (client.delete_cronjob(&name, cascade).await.map(|_| ()), "cronjob", "cronjobs")
            }
        };
        match res {
            Ok(()) => println!("{singular}.batch \"{name}\" deleted"),
            Err(e) => {
                failed = true;
                if e.is_not_found() {
                    eprintln!("Error from server (NotFound): {plural}.batch \"{name}\" not found");
                } else {
                    eprintln!("{}", api_error(e));
                }
            }
        }
    }
    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

/// `drover suspend` and `drover resume`.
#[derive(Debug, Args)]
pub(crate) struct SuspendArgs {
    /// `cronjob` (or `cronjobs`, `cj`), then names; or `cronjob/NAME`.
    args: Vec<String>,
}

/// Sets `spec.suspend` of each named CronJob to `suspend`.
pub(crate) async fn set_suspend(
    args: SuspendArgs,
    suspend: bool,
    server: &crate::Target,
) -> anyhow::Result<ExitCode> {
    let verb = if suspend { &SUSPEND } else { &RESUME };
    let mut names = Vec::new();
    for (kind, name) in typed_names(&args.args, verb)? {
        if kind != TargetKind::CronJob {
            bail!(
                "only cronjobs can be {} with `drover {}` (a Job is suspended by `apply` with spec.suspend)",
                verb.past,
                verb.name
            );
        }
        names.push(name);
    }
    let client = server.client();
    let mut failed = false;
    for name in names {
        let res = async {
            // Read, change, write back with the version read; the controller writes the status
            // now and then, so a conflict is retried on a fresh read (client-go's
            // RetryOnConflict).
            let mut attempts = 0;
            loop {
                let mut cj =
                    client.get_cronjob(&name).await.map_err(|e| not_found_or(e, "cronjobs.batch", &name))?;
                if cj.suspended() == suspend {
                    return Ok::<_, anyhow::Error>("unchanged");
                }
                cj.spec.suspend = Some(suspend);
                match client.replace_cronjob(&name, &serde_json::to_value(&cj)?).await {
                    Ok(_) => return Ok(verb.past),
                    Err(err) if err.is_conflict() && attempts < 5 => attempts += 1,
                    Err(err) => return Err(api_error(err)),
                }
            }
        }
        .await;
        match res {
            Ok(what) => println!("cronjob.batch/{name} {what}"),
            Err(e) => {
                failed = true;
                let text = e.to_string();
                if text.starts_with("Error from server") || text.starts_with("error:") {
                    eprintln!("{text}");
                } else {
                    eprintln!("error: {text}");
                }
            }
        }
    }
    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

/// `drover expand`.
#[derive(Debug, Args)]
pub(crate) struct ExpandArgs {
    #[command(flatten)]
    files: FileArgs,
}

pub(crate) async fn expand(args: ExpandArgs) -> anyhow::Result<ExitCode> {
    let objects = read_objects(&args.files)?;
    let mut out = std::io::stdout().lock();
    for (i, obj) in objects.iter().enumerate() {
        if i > 0 {
            writeln!(out, "---")?;
        }
        match obj {
            Object::Job(job) => write!(out, "{}", to_yaml(job)?)?,
            Object::CronJob(cj) => write!(out, "{}", to_yaml(cj)?)?,
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn to_yaml<T: Serialize>(value: &T) -> anyhow::Result<String> {
    serde_saphyr::to_string(value).map_err(|e| anyhow::anyhow!("cannot render YAML: {e}"))
}

// === get ===

/// `drover get`.
#[derive(Debug, Args)]
pub(crate) struct GetArgs {
    /// `jobs`, `cronjobs`, `pods` or `workers` (singular and short forms work too), then optional
    /// names.
    resource: String,
    names: Vec<String>,
    /// Label selector, e.g. `-l jobgroup=jobexample`.
    #[arg(short = 'l', long = "selector", default_value = "")]
    selector: String,
    /// Output format: wide, json, yaml or name.
    #[arg(short = 'o', long = "output")]
    output: Option<String>,
    /// Watch for changes after listing.
    #[arg(short = 'w', long = "watch")]
    watch: bool,
    /// `get events` only: the events of one object, as KIND/NAME (e.g. `job/pi`).
    #[arg(long = "for")]
    for_object: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Jobs,
    CronJobs,
    Pods,
    Workers,
    Events,
}

fn kind(resource: &str) -> anyhow::Result<(Kind, Option<String>)> {
    let (res, name) = match resource.split_once('/') {
        Some((r, n)) => (r, Some(n.to_string())),
        None => (resource, None),
    };
    let kind = match res {
        r if is_job_kind(r) => Kind::Jobs,
        r if is_cronjob_kind(r) => Kind::CronJobs,
        r if drover_api::resource::PODS.is_called(r) => Kind::Pods,
        // `node` too: a worker is what Kubernetes calls a node.
        r if drover_api::resource::WORKERS.is_called(r) || matches!(r, "node" | "nodes") => Kind::Workers,
        r if drover_api::resource::EVENTS.is_called(r) => Kind::Events,
        other => {
            bail!(
                "the server doesn't have a resource type {other:?} (try: jobs, cronjobs, pods, workers, events)"
            )
        }
    };
    Ok((kind, name))
}

#[derive(Debug, Clone, Copy)]
enum Output {
    /// `extra`: show the kind's optional column without `-o wide` (TASKS for Jobs, INDEX for
    /// pods).
    Table {
        wide: bool,
        extra: bool,
    },
    Json,
    Yaml,
    Name,
}

fn output(o: &Option<String>) -> anyhow::Result<Output> {
    Ok(match o.as_deref() {
        None => Output::Table { wide: false, extra: false },
        Some("wide") => Output::Table { wide: true, extra: false },
        Some("json") => Output::Json,
        Some("yaml") => Output::Yaml,
        Some("name") => Output::Name,
        Some(other) => bail!(
            "unable to match a printer suitable for the output format {other:?}, allowed formats are: json,name,wide,yaml"
        ),
    })
}

pub(crate) async fn get(args: GetArgs, server: &crate::Target) -> anyhow::Result<ExitCode> {
    let (kind, slash_name) = kind(&args.resource)?;
    let mut names = args.names.clone();
    names.extend(slash_name);
    let out = output(&args.output)?;
    let client = server.client();
    match kind {
        Kind::Jobs => get_kind::<Job>(&client, "jobs", &args, &names, &out).await,
        Kind::CronJobs => get_kind::<CronJob>(&client, "cronjobs", &args, &names, &out).await,
        Kind::Pods => get_kind::<Pod>(&client, "pods", &args, &names, &out).await,
        Kind::Workers => get_kind::<Worker>(&client, "workers", &args, &names, &out).await,
        Kind::Events => get_events(&client, &args, &names, &out).await,
    }
}

/// `get events [--for KIND/NAME]`: kubectl's LAST SEEN, TYPE, REASON, OBJECT, MESSAGE, oldest
/// first (the newest 1,000 of all objects, or every event of one object).
async fn get_events(
    client: &Client,
    args: &GetArgs,
    names: &[String],
    out: &Output,
) -> anyhow::Result<ExitCode> {
    if args.watch {
        bail!("watching events is not supported; use `drover describe` or `get events` again");
    }
    if !names.is_empty() || !args.selector.is_empty() {
        bail!("events are selected with --for KIND/NAME (e.g. --for job/pi), not by name or label");
    }
    let events = match &args.for_object {
        Some(target) => {
            let Some((kind, name)) = target.split_once('/') else {
                bail!("--for: expected KIND/NAME, e.g. job/pi; got {target:?}");
            };
            let kind = match self::kind(kind)?.0 {
                Kind::Jobs => "Job",
                Kind::CronJobs => "CronJob",
                Kind::Pods => "Pod",
                Kind::Workers => "Worker",
                Kind::Events => bail!("--for: events have no events of their own"),
            };
            client.events(kind, name, None).await.map_err(api_error)?
        }
        None => client.recent_events().await.map_err(api_error)?,
    };
    match out {
        Output::Json => println!("{}", serde_json::to_string_pretty(&events_list(&events))?),
        Output::Yaml => print!("{}", to_yaml(&events_list(&events))?),
        Output::Name => bail!("-o name is not supported for events"),
        Output::Table { .. } => {
            if events.is_empty() {
                eprintln!("No events found.");
            } else {
                print!("{}", print::events_table(&events));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn events_list(events: &[drover_api::Event]) -> serde_json::Value {
    serde_json::json!({"apiVersion": "v1", "kind": "List", "items": events})
}

/// What `get` needs of each kind.
trait Printable: Serialize + serde::de::DeserializeOwned + Clone + 'static {
    const NAME_PREFIX: &'static str;
    /// The resource as `Error from server (NotFound)` names it.
    const RESOURCE: &'static str;
    fn name(&self) -> &str;
    /// `extra`: the kind's optional column is shown without `-o wide` (see
    /// [`Printable::wants_extra`]).
    fn headers(wide: bool, extra: bool) -> Vec<&'static str>;
    fn row(&self, wide: bool, extra: bool, pods: &[Pod]) -> Vec<String>;
    /// True when the default table should show the kind's optional column for these items:
    /// TASKS when queue Jobs are listed, INDEX when pods of an Indexed Job are.
    fn wants_extra(_items: &[Self]) -> bool {
        false
    }
}

impl Printable for Job {
    const NAME_PREFIX: &'static str = "job.batch";
    const RESOURCE: &'static str = "jobs.batch";
    fn name(&self) -> &str {
        &self.metadata.name
    }
    fn headers(wide: bool, tasks: bool) -> Vec<&'static str> {
        print::job_headers(wide, tasks)
    }
    fn row(&self, wide: bool, tasks: bool, _: &[Pod]) -> Vec<String> {
        print::job_row(self, wide, tasks)
    }
    fn wants_extra(items: &[Self]) -> bool {
        items.iter().any(|j| j.spec.queue.is_some())
    }
}

impl Printable for CronJob {
    const NAME_PREFIX: &'static str = "cronjob.batch";
    const RESOURCE: &'static str = "cronjobs.batch";
    fn name(&self) -> &str {
        &self.metadata.name
    }
    fn headers(wide: bool, _tasks: bool) -> Vec<&'static str> {
        print::cronjob_headers(wide)
    }
    fn row(&self, wide: bool, _tasks: bool, _: &[Pod]) -> Vec<String> {
        print::cronjob_row(self, wide)
    }
}

impl Printable for Pod {
    const NAME_PREFIX: &'static str = "pod";
    const RESOURCE: &'static str = "pods";
    fn name(&self) -> &str {
        &self.metadata.name
    }
    fn headers(wide: bool, index: bool) -> Vec<&'static str> {
        print::pod_headers(wide, index)
    }
    fn row(&self, wide: bool, index: bool, _: &[Pod]) -> Vec<String> {
        print::pod_row(self, wide, index)
    }
    fn wants_extra(items: &[Self]) -> bool {
        print::any_pod_index(items)
    }
}

impl Printable for Worker {
    const NAME_PREFIX: &'static str = "worker";
    const RESOURCE: &'static str = "workers";
    fn name(&self) -> &str {
        &self.metadata.name
    }
    fn headers(wide: bool, _tasks: bool) -> Vec<&'static str> {
        print::worker_headers(wide)
    }
    fn row(&self, wide: bool, _tasks: bool, pods: &[Pod]) -> Vec<String> {
        let running = pods
            .iter()
            .filter(|p| p.node_name() == Some(self.metadata.name.as_str()) && !p.is_terminal())
            .count();
        print::worker_row(self, running, wide)
    }
}

async fn list<T: Printable>(client: &Client, resource: &str, selector: &str) -> Result<Vec<T>, ClientError> {
    let values: Vec<serde_json::Value> = match resource {
        "jobs" => client
            .list_jobs(selector)
            .await?
            .into_iter()
            .map(|j| serde_json::to_value(j).unwrap_or_default())
            .collect(),
        "cronjobs" => client
            .list_cronjobs(selector)
            .await?
            .into_iter()
            .map(|c| serde_json::to_value(c).unwrap_or_default())
            .collect(),
        "pods" => client
            .list_pods(selector)
            .await?
            .into_iter()
            .map(|p| serde_json::to_value(p).unwrap_or_default())
            .collect(),
        _ => client
            .list_workers(selector)
            .await?
            .into_iter()
            .map(|w| serde_json::to_value(w).unwrap_or_default())
            .collect(),
    };
    Ok(values.into_iter().filter_map(|v| serde_json::from_value(v).ok()).collect())
}

async fn get_kind<T: Printable>(
    client: &Client,
    resource: &str,
    args: &GetArgs,
    names: &[String],
    out: &Output,
) -> anyhow::Result<ExitCode> {
    let pods_for_workers = |pods: Vec<Pod>| if resource == "workers" { pods } else { Vec::new() };
    let mut pods =
        if resource == "workers" { client.list_pods("").await.map_err(api_error)? } else { Vec::new() };
    // A watch of Jobs shows task counts (queue Jobs' live progress; `-` for the others): its
    // columns are fixed before the Jobs it will show exist.
    let out = &match *out {
        Output::Table { wide: false, .. } if resource == "jobs" && args.watch => {
            Output::Table { wide: false, extra: true }
        }
        other => other,
    };
    if args.watch {
        let name = names.first().map(String::as_str);
        let mut stream =
            Box::pin(client.watch::<T>(resource, &args.selector, name).await.map_err(api_error)?);
        let mut first = true;
        let mut stdout = std::io::stdout().lock();
        while let Some(ev) = stream.next().await {
            let ev = ev.map_err(api_error)?;
            if resource == "workers" {
                pods = pods_for_workers(client.list_pods("").await.unwrap_or_default());
            }
            let text = render(std::slice::from_ref(&ev.object), out, first, &pods, false)?;
            first = false;
            stdout.write_all(text.as_bytes())?;
            stdout.flush()?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let mut items: Vec<T> = list::<T>(client, resource, &args.selector).await.map_err(api_error)?;
    let mut missing = Vec::new();
    if !names.is_empty() {
        for n in names {
            if !items.iter().any(|i| i.name() == n) {
                missing.push(n.clone());
            }
        }
        items.retain(|i| names.iter().any(|n| n == i.name()));
    }
    let single = names.len() == 1 && items.len() == 1;
    let out = &match *out {
        Output::Table { wide: false, .. } => Output::Table { wide: false, extra: T::wants_extra(&items) },
        other => other,
    };
    let structured = matches!(out, Output::Json | Output::Yaml);
    if items.is_empty() && missing.is_empty() && !structured {
        eprintln!("No resources found in default namespace.");
    } else {
        print!("{}", render(&items, out, true, &pods, single)?);
    }
    for m in &missing {
        eprintln!("Error from server (NotFound): {} \"{m}\" not found", T::RESOURCE);
    }
    Ok(if missing.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn render<T: Printable>(
    items: &[T],
    out: &Output,
    headers: bool,
    pods: &[Pod],
    single: bool,
) -> anyhow::Result<String> {
    Ok(match out {
        Output::Table { wide, extra } => {
            let mut t = Table::new(T::headers(*wide, *extra));
            for i in items {
                t.push(i.row(*wide, *extra, pods));
            }
            t.render(headers)
        }
        Output::Name => items.iter().map(|i| format!("{}/{}\n", T::NAME_PREFIX, i.name())).collect(),
        Output::Json => {
            let v = if single || (items.len() == 1 && !headers) {
                serde_json::to_value(&items[0])?
            } else {
                serde_json::json!({"apiVersion": "v1", "kind": "List", "items": items})
            };
            format!("{}\n", serde_json::to_string_pretty(&v)?)
        }
        Output::Yaml => {
            if single || (items.len() == 1 && !headers) {
                to_yaml(&items[0])?
            } else {
                to_yaml(&serde_json::json!({"apiVersion": "v1", "kind": "List", "items": items}))?
            }
        }
    })
}

// === describe, logs, wait ===

/// `drover describe`.
#[derive(Debug, Args)]
pub(crate) struct DescribeArgs {
    /// `job`, `cronjob`, `pod` or `worker`, then a name (or `job/NAME`, `cronjob/NAME`).
    resource: String,
    name: Option<String>,
}

pub(crate) async fn describe(args: DescribeArgs, server: &crate::Target) -> anyhow::Result<ExitCode> {
    let (kind, slash_name) = kind(&args.resource)?;
    let Some(name) = args.name.or(slash_name) else {
        bail!("you must specify the name of the resource to describe")
    };
    let client = server.client();
    match kind {
        Kind::Jobs => {
            let job = client.get_job(&name).await.map_err(api_error)?;
            let pods = client
                .list_pods(&format!("batch.kubernetes.io/controller-uid={}", job.metadata.uid))
                .await
                .map_err(api_error)?;
            let events = client.events("Job", &name, Some(&job.metadata.uid)).await.map_err(api_error)?;
            print!("{}", print::describe_job(&job, &pods, &events));
        }
        Kind::CronJobs => {
            let cj = client.get_cronjob(&name).await.map_err(|e| not_found_or(e, "cronjobs.batch", &name))?;
            let events = client.events("CronJob", &name, Some(&cj.metadata.uid)).await.map_err(api_error)?;
            print!("{}", print::describe_cronjob(&cj, &events));
        }
        Kind::Pods => {
            let pod = client.get_pod(&name).await.map_err(api_error)?;
            let events = client.events("Pod", &name, Some(&pod.metadata.uid)).await.map_err(api_error)?;
            print!("{}", print::describe_pod(&pod, &events));
        }
        Kind::Workers => {
            let workers = client.list_workers("").await.map_err(api_error)?;
            let w = workers.into_iter().find(|w| w.metadata.name == name).ok_or_else(|| {
                anyhow::anyhow!("Error from server (NotFound): workers \"{name}\" not found")
            })?;
            print!("{}", to_yaml(&w)?);
        }
        Kind::Events => bail!("events are not described; use `drover get events --for KIND/NAME`"),
    }
    Ok(ExitCode::SUCCESS)
}

/// `drover logs`.
#[derive(Debug, Args)]
pub(crate) struct LogsArgs {
    /// A pod name, or `job/NAME` for the Job's first pod.
    pod: String,
    /// Stream the log until the pod ends.
    #[arg(short = 'f', long = "follow")]
    follow: bool,
    /// The log of this container: an init container's name (the default is the pod's
    /// container).
    #[arg(short = 'c', long = "container")]
    container: Option<String>,
}

pub(crate) async fn logs(args: LogsArgs, server: &crate::Target) -> anyhow::Result<ExitCode> {
    let client = server.client();
    let pod = match args.pod.strip_prefix("job/") {
        Some(job) => {
            let job = client.get_job(job).await.map_err(api_error)?;
            let mut pods = client
                .list_pods(&format!("batch.kubernetes.io/controller-uid={}", job.metadata.uid))
                .await
                .map_err(api_error)?;
            pods.sort_by_key(|p| p.metadata.creation_timestamp);
            pods.into_iter()
                .next()
                .map(|p| p.metadata.name)
                .ok_or_else(|| anyhow::anyhow!("no pods found for job/{}", job.metadata.name))?
        }
        None => args.pod.strip_prefix("pod/").unwrap_or(&args.pod).to_string(),
    };
    let mut stdout = std::io::stdout().lock();
    let container = args.container.as_deref();
    if args.follow {
        let mut stream = Box::pin(client.follow_container_log(&pod, container).await.map_err(api_error)?);
        while let Some(chunk) = stream.next().await {
            stdout.write_all(&chunk.map_err(api_error)?)?;
            stdout.flush()?;
        }
    } else {
        stdout.write_all(&client.container_log(&pod, container).await.map_err(api_error)?)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `drover wait`.
#[derive(Debug, Args)]
pub(crate) struct WaitArgs {
    /// `job/NAME`.
    target: String,
    /// `condition=Complete`, `condition=Failed` (any Job condition type), or `delete`.
    #[arg(long = "for")]
    for_: String,
    /// How long to wait; `0` checks once.
    #[arg(long, default_value = "30s", value_parser = duration::parse)]
    timeout: Duration,
}

pub(crate) async fn wait(args: WaitArgs, server: &crate::Target) -> anyhow::Result<ExitCode> {
    let name = args
        .target
        .strip_prefix("job/")
        .or_else(|| args.target.strip_prefix("jobs/"))
        .or_else(|| args.target.strip_prefix("job.batch/"))
        .ok_or_else(|| anyhow::anyhow!("wait supports job/NAME, got {:?}", args.target))?
        .to_string();
    let condition = match args.for_.split_once('=') {
        Some(("condition", c)) => Some(c.to_string()),
        None if args.for_ == "delete" => None,
        _ => bail!(
            "unrecognized condition: {:?} (use condition=Complete, condition=Failed or delete)",
            args.for_
        ),
    };
    let client = server.client();
    let met = |job: &Job| match &condition {
        Some(c) => job.condition_true(c).is_some(),
        None => false,
    };
    let fut = async {
        let mut stream = Box::pin(client.watch::<Job>("jobs", "", Some(&name)).await?);
        let mut seen = false;
        while let Some(ev) = stream.next().await {
            let ev = ev?;
            seen = true;
            if ev.type_ == "DELETED" {
                return Ok::<bool, ClientError>(condition.is_none());
            }
            if met(&ev.object) {
                return Ok(true);
            }
        }
        let _ = seen;
        Ok(false)
    };
    match tokio::time::timeout(args.timeout, fut).await {
        Ok(Ok(true)) => {
            match &condition {
                Some(c) => println!("job.batch/{name} condition met ({c})"),
                None => println!("job.batch/{name} deleted"),
            }
            Ok(ExitCode::SUCCESS)
        }
        Ok(Ok(false)) => bail!("the watch of jobs/{name} ended before the condition was met"),
        Ok(Err(e)) => Err(api_error(e)),
        Err(_) => {
            eprintln!("error: timed out waiting for the condition on jobs/{name}");
            Ok(ExitCode::FAILURE)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cronjob() -> CronJob {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "batch/v1",
            "kind": "CronJob",
            "metadata": {"name": "nightly", "uid": "cj-uid", "resourceVersion": "7"},
            "spec": {
                "schedule": "0 3 * * *",
                "jobTemplate": {
                    "metadata": {
                        "labels": {"app": "report"},
                        "annotations": {"owner": "ops", "cronjob.kubernetes.io/instantiate": "scheduled"}
                    },
                    "spec": {
                        "backoffLimit": 2,
                        "completions": 3,
                        "template": {"spec": {
                            "restartPolicy": "Never",
                            "containers": [{"name": "report", "command": ["make-report"]}]
                        }}
                    }
                }
            }
        }))
        .expect("a valid CronJob")
    }

    #[test]
    fn manual_job_from_cronjob() {
        let cj = cronjob();
        let job = job_from_cronjob(&cj, "nightly-manual");
        assert_eq!(job.api_version, "batch/v1");
        assert_eq!(job.kind, "Job");
        assert_eq!(job.metadata.name, "nightly-manual");
        assert_eq!(job.metadata.labels.get("app").map(String::as_str), Some("report"));
        assert_eq!(job.metadata.annotations.get("owner").map(String::as_str), Some("ops"));
        // The manual marker wins over whatever the template says.
        assert_eq!(
            job.metadata.annotations.get(cronjob::INSTANTIATE_ANNOTATION).map(String::as_str),
            Some("manual")
        );
        assert!(!job.metadata.annotations.contains_key(cronjob::SCHEDULED_TIMESTAMP_ANNOTATION));
        assert_eq!(job.metadata.owner_references.len(), 1);
        let owner = &job.metadata.owner_references[0];
        assert_eq!(
            (owner.api_version.as_str(), owner.kind.as_str(), owner.name.as_str(), owner.uid.as_str()),
            ("batch/v1", "CronJob", "nightly", "cj-uid")
        );
        assert_eq!(owner.controller, Some(true));
        assert_eq!(owner.block_owner_deletion, Some(true));
        assert_eq!(job.spec, cj.spec.job_template.spec);
        assert_eq!(job.spec.completions, Some(3));
        assert!(job.metadata.uid.is_empty() && job.metadata.resource_version.is_empty());
        // What is POSTed is a valid Job.
        let value = serde_json::to_value(&job).expect("serializable");
        assert!(matches!(manifest::decode_object(value, "test"), Ok(Object::Job(_))));
    }

    #[test]
    fn from_accepts_only_cronjobs() {
        assert_eq!(parse_from("cronjob/nightly").expect("valid"), "nightly");
        assert_eq!(parse_from("cj/nightly").expect("valid"), "nightly");
        assert_eq!(parse_from("cronjob.batch/nightly").expect("valid"), "nightly");
        for bad in ["nightly", "cronjob/", "deployment/web", "job/pi", "cronjob/a/b"] {
            let err = parse_from(bad).expect_err(bad).to_string();
            assert!(err.contains("only cronjob/NAME is supported"), "{bad}: {err}");
        }
    }

    #[test]
    fn delete_targets_by_kind() {
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            typed_names(&args(&["cronjob", "a", "b"]), &DELETE).expect("valid"),
            [(TargetKind::CronJob, "a".to_string()), (TargetKind::CronJob, "b".to_string())]
        );
        assert_eq!(
            typed_names(&args(&["cj/a", "job/b", "cronjobs.batch/c"]), &DELETE).expect("valid"),
            [
                (TargetKind::CronJob, "a".to_string()),
                (TargetKind::Job, "b".to_string()),
                (TargetKind::CronJob, "c".to_string())
            ]
        );
        assert_eq!(
            typed_names(&args(&["jobs", "pi"]), &DELETE).expect("valid"),
            [(TargetKind::Job, "pi".to_string())]
        );
        assert!(typed_names(&args(&["cronjob"]), &SUSPEND).is_err());
        assert!(typed_names(&args(&["job", "job/pi"]), &DELETE).is_err());
        let err = typed_names(&args(&["deploy", "web"]), &DELETE).expect_err("unknown kind").to_string();
        assert!(err.contains("that can be deleted (try: job, cronjob)"), "{err}");
        let err = typed_names(&[], &RESUME).expect_err("no type").to_string();
        assert!(err.contains("`drover resume cronjob NAME`"), "{err}");
    }

    #[test]
    fn get_knows_cronjobs() {
        for r in ["cronjob", "cronjobs", "cj", "cronjob.batch"] {
            assert_eq!(kind(r).expect(r).0, Kind::CronJobs);
        }
        assert_eq!(kind("cj/nightly").expect("valid").1.as_deref(), Some("nightly"));
        let err = kind("deployments").expect_err("unknown").to_string();
        assert!(err.contains("cronjobs"), "{err}");
    }

    #[test]
    fn apply_of_an_unchanged_cronjob_writes_nothing() {
        let submitted = cronjob();
        let mut existing = submitted.clone();
        existing.apply_defaults();
        existing.status.last_schedule_time = Some(chrono::Utc::now());
        assert!(cronjob_unchanged(&existing, &submitted));
        let mut changed = submitted.clone();
        changed.spec.schedule = "0 4 * * *".into();
        assert!(!cronjob_unchanged(&existing, &changed));
        let mut relabelled = submitted;
        relabelled.metadata.labels.insert("tier".into(), "batch".into());
        assert!(!cronjob_unchanged(&existing, &relabelled));
    }
}

// === cordon, uncordon, drain ===

/// `drover cordon`, `drover uncordon` and `drover drain`.
#[derive(Debug, Args)]
pub(crate) struct WorkerVerbArgs {
    /// `worker` (or `workers`, `node`), then names; or `worker/NAME`.
    args: Vec<String>,
    /// `drain` only: how long to wait for the worker to finish and leave (0: do not wait).
    #[arg(long, default_value = "5m", value_parser = duration::parse)]
    timeout: Duration,
}

/// What to do to a worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WorkerVerb {
    Cordon,
    Uncordon,
    Drain,
}

fn worker_names(args: &[String], verb: &str) -> anyhow::Result<Vec<String>> {
    let is_worker = |k: &str| matches!(k, "worker" | "workers" | "wk" | "node" | "nodes");
    let Some((first, rest)) = args.split_first() else {
        bail!("you must specify the worker to {verb}, e.g. `drover {verb} worker NAME`");
    };
    let mut names = Vec::new();
    if first.contains('/') {
        for arg in args {
            match arg.split_once('/') {
                Some((kind, name)) if is_worker(kind) && !name.is_empty() => names.push(name.to_string()),
                _ => bail!("{arg:?}: only workers can be {verb}ed (try: worker/NAME)"),
            }
        }
    } else if is_worker(first) {
        names.extend(rest.iter().cloned());
    } else {
        bail!("the server doesn't have a resource type {first:?} that can be {verb}ed (try: worker)");
    }
    if names.is_empty() {
        bail!("resource(s) were provided, but no name was specified");
    }
    Ok(names)
}

/// Cordons, uncordons or drains the named workers. A drain waits (up to `--timeout`) until the
/// worker has finished or stopped its pods and left the fleet, as `kubectl drain` waits.
pub(crate) async fn worker_verb(
    args: WorkerVerbArgs,
    what: WorkerVerb,
    server: &crate::Target,
) -> anyhow::Result<ExitCode> {
    let verb = match what {
        WorkerVerb::Cordon => "cordon",
        WorkerVerb::Uncordon => "uncordon",
        WorkerVerb::Drain => "drain",
    };
    let names = worker_names(&args.args, verb)?;
    let client = server.client();
    let mut failed = false;
    for name in names {
        let res = match what {
            WorkerVerb::Cordon => client.cordon_worker(&name, true).await.map(|_| "cordoned"),
            WorkerVerb::Uncordon => client.cordon_worker(&name, false).await.map(|_| "uncordoned"),
            WorkerVerb::Drain => client.drain_worker(&name).await.map(|_| "draining"),
        };
        match res {
            Ok(what) => println!("worker/{name} {what}"),
            Err(e) => {
                failed = true;
                eprintln!("{}", not_found_or(e, "workers", &name));
                continue;
            }
        }
        if what == WorkerVerb::Drain && !args.timeout.is_zero() {
            match wait_worker_gone(&client, &name, args.timeout).await {
                Ok(()) => println!("worker/{name} drained"),
                Err(e) => {
                    failed = true;
                    eprintln!("error: {e:#}");
                }
            }
        }
    }
    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

/// Waits on the workers' watch until `name` is deleted (deregistered).
async fn wait_worker_gone(client: &Client, name: &str, timeout: Duration) -> anyhow::Result<()> {
    let wait = async {
        let mut stream =
            Box::pin(client.watch::<Worker>("workers", "", Some(name)).await.map_err(api_error)?);
        // The watch lists the worker first if it still exists; a worker already gone lists nothing,
        // so check with a list after subscribing.
        if !client.list_workers("").await.map_err(api_error)?.iter().any(|w| w.metadata.name == name) {
            return Ok(());
        }
        while let Some(ev) = stream.next().await {
            if ev.map_err(api_error)?.type_ == "DELETED" {
                return Ok(());
            }
        }
        bail!("the watch of worker {name:?} ended before it left")
    };
    tokio::time::timeout(timeout, wait)
        .await
        .map_err(|_| anyhow::anyhow!("timed out after {timeout:?} waiting for worker {name:?} to drain"))?
}
