//! The kubectl-like client verbs.

use std::io::{Read as _, Write as _};
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::Args;
use drover_api::manifest::{self, Object};
use drover_api::{Job, Pod, Worker};
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
        ClientError::Api { code: 422, message, .. } => anyhow::anyhow!("{message}"),
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
    #[command(flatten)]
    files: FileArgs,
}

pub(crate) async fn create(args: CreateArgs, server: &str) -> anyhow::Result<ExitCode> {
    let objects = read_objects(&args.files)?;
    let client = Client::new(server);
    let mut failed = false;
    for obj in objects {
        match obj {
            Object::Job(job) => match client.create_job(&serde_json::to_value(&job)?).await {
                Ok(j) => println!("job.batch/{} created", j.metadata.name),
                Err(e) => {
                    failed = true;
                    eprintln!("{}", api_error(e));
                }
            },
        }
    }
    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

/// `drover apply`.
#[derive(Debug, Args)]
pub(crate) struct ApplyArgs {
    #[command(flatten)]
    files: FileArgs,
}

pub(crate) async fn apply(args: ApplyArgs, server: &str) -> anyhow::Result<ExitCode> {
    let objects = read_objects(&args.files)?;
    let client = Client::new(server);
    let mut failed = false;
    for obj in objects {
        match obj {
            Object::Job(job) => {
                let name = job.metadata.name.clone();
                let body = serde_json::to_value(&job)?;
                let res = match client.get_job(&name).await {
                    Ok(existing) => client.replace_job(&name, &body).await.map(|j| {
                        if j.metadata.resource_version == existing.metadata.resource_version {
                            "unchanged"
                        } else {
                            "configured"
                        }
                    }),
                    Err(e) if e.is_not_found() => client.create_job(&body).await.map(|_| "created"),
                    Err(e) => Err(e),
                };
                match res {
                    Ok(what) => println!("job.batch/{name} {what}"),
                    Err(e) => {
                        failed = true;
                        eprintln!("{}", api_error(e));
                    }
                }
            }
        }
    }
    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

/// `drover delete`.
#[derive(Debug, Args)]
pub(crate) struct DeleteArgs {
    /// `job` (or `jobs`), then names.
    args: Vec<String>,
    #[command(flatten)]
    files: FileArgs,
    /// `background` (default: delete the pods too) or `orphan` (leave them running).
    #[arg(long, default_value = "background")]
    cascade: String,
}

pub(crate) async fn delete(args: DeleteArgs, server: &str) -> anyhow::Result<ExitCode> {
    let cascade = match args.cascade.as_str() {
        "background" | "foreground" | "true" => true,
        "orphan" | "false" => false,
        other => bail!("invalid --cascade value {other:?}: use background or orphan"),
    };
    let mut names = Vec::new();
    if !args.files.filename.is_empty() {
        for obj in read_objects(&args.files)? {
            names.push(obj.name().to_string());
        }
    } else {
        let Some((kind, rest)) = args.args.split_first() else {
            bail!("you must specify the type of resource to delete, e.g. `drover delete job NAME`");
        };
        let kind = kind.split('/').next().unwrap_or_default();
        if !matches!(kind, "job" | "jobs" | "job.batch") {
            bail!("the server doesn't have a resource type {kind:?} that can be deleted (try: job)");
        }
        names.extend(rest.iter().cloned());
        names.extend(args.args.iter().filter_map(|a| a.strip_prefix("job/").map(String::from)));
        if names.is_empty() {
            bail!("resource(s) were provided, but no name was specified");
        }
    }
    let client = Client::new(server);
    let mut failed = false;
    for name in names {
        match client.delete_job(&name, cascade).await {
            Ok(_) => println!("job.batch \"{name}\" deleted"),
            Err(e) => {
                failed = true;
                if e.is_not_found() {
                    eprintln!("Error from server (NotFound): jobs.batch \"{name}\" not found");
                } else {
                    eprintln!("{}", api_error(e));
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
    /// `jobs`, `pods` or `workers` (singular and short forms work too), then optional names.
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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Jobs,
    Pods,
    Workers,
}

fn kind(resource: &str) -> anyhow::Result<(Kind, Option<String>)> {
    let (res, name) = match resource.split_once('/') {
        Some((r, n)) => (r, Some(n.to_string())),
        None => (resource, None),
    };
    let kind = match res {
        "job" | "jobs" | "job.batch" | "jobs.batch" => Kind::Jobs,
        "pod" | "pods" | "po" => Kind::Pods,
        "worker" | "workers" | "wk" | "node" | "nodes" => Kind::Workers,
        other => bail!("the server doesn't have a resource type {other:?} (try: jobs, pods, workers)"),
    };
    Ok((kind, name))
}

enum Output {
    Table { wide: bool },
    Json,
    Yaml,
    Name,
}

fn output(o: &Option<String>) -> anyhow::Result<Output> {
    Ok(match o.as_deref() {
        None => Output::Table { wide: false },
        Some("wide") => Output::Table { wide: true },
        Some("json") => Output::Json,
        Some("yaml") => Output::Yaml,
        Some("name") => Output::Name,
        Some(other) => bail!(
            "unable to match a printer suitable for the output format {other:?}, allowed formats are: json,name,wide,yaml"
        ),
    })
}

pub(crate) async fn get(args: GetArgs, server: &str) -> anyhow::Result<ExitCode> {
    let (kind, slash_name) = kind(&args.resource)?;
    let mut names = args.names.clone();
    names.extend(slash_name);
    let out = output(&args.output)?;
    let client = Client::new(server);
    match kind {
        Kind::Jobs => get_kind::<Job>(&client, "jobs", &args, &names, &out).await,
        Kind::Pods => get_kind::<Pod>(&client, "pods", &args, &names, &out).await,
        Kind::Workers => get_kind::<Worker>(&client, "workers", &args, &names, &out).await,
    }
}

/// What `get` needs of each kind.
trait Printable: Serialize + serde::de::DeserializeOwned + Clone + 'static {
    const NAME_PREFIX: &'static str;
    fn name(&self) -> &str;
    fn headers(wide: bool) -> Vec<&'static str>;
    fn row(&self, wide: bool, pods: &[Pod]) -> Vec<String>;
}

impl Printable for Job {
    const NAME_PREFIX: &'static str = "job.batch";
    fn name(&self) -> &str {
        &self.metadata.name
    }
    fn headers(wide: bool) -> Vec<&'static str> {
        print::job_headers(wide)
    }
    fn row(&self, wide: bool, _: &[Pod]) -> Vec<String> {
        print::job_row(self, wide)
    }
}

impl Printable for Pod {
    const NAME_PREFIX: &'static str = "pod";
    fn name(&self) -> &str {
        &self.metadata.name
    }
    fn headers(wide: bool) -> Vec<&'static str> {
        print::pod_headers(wide)
    }
    fn row(&self, wide: bool, _: &[Pod]) -> Vec<String> {
        print::pod_row(self, wide)
    }
}

impl Printable for Worker {
    const NAME_PREFIX: &'static str = "worker";
    fn name(&self) -> &str {
        &self.metadata.name
    }
    fn headers(wide: bool) -> Vec<&'static str> {
        print::worker_headers(wide)
    }
    fn row(&self, wide: bool, pods: &[Pod]) -> Vec<String> {
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
    let structured = matches!(out, Output::Json | Output::Yaml);
    if items.is_empty() && missing.is_empty() && !structured {
        eprintln!("No resources found in default namespace.");
    } else {
        print!("{}", render(&items, out, true, &pods, single)?);
    }
    for m in &missing {
        eprintln!("Error from server (NotFound): {resource} \"{m}\" not found");
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
        Output::Table { wide } => {
            let mut t = Table::new(T::headers(*wide));
            for i in items {
                t.push(i.row(*wide, pods));
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
    /// `job` or `pod`, then a name (or `job/NAME`).
    resource: String,
    name: Option<String>,
}

pub(crate) async fn describe(args: DescribeArgs, server: &str) -> anyhow::Result<ExitCode> {
    let (kind, slash_name) = kind(&args.resource)?;
    let Some(name) = args.name.or(slash_name) else {
        bail!("you must specify the name of the resource to describe")
    };
    let client = Client::new(server);
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
}

pub(crate) async fn logs(args: LogsArgs, server: &str) -> anyhow::Result<ExitCode> {
    let client = Client::new(server);
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
    if args.follow {
        let mut stream = Box::pin(client.follow_pod_log(&pod).await.map_err(api_error)?);
        while let Some(chunk) = stream.next().await {
            stdout.write_all(&chunk.map_err(api_error)?)?;
            stdout.flush()?;
        }
    } else {
        stdout.write_all(&client.pod_log(&pod).await.map_err(api_error)?)?;
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

pub(crate) async fn wait(args: WaitArgs, server: &str) -> anyhow::Result<ExitCode> {
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
    let client = Client::new(server);
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
