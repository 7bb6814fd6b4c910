//! `drover`: the one binary. Server verbs (`coordinator`, `worker`, `up`) and kubectl-like
//! client verbs (`create`, `apply`, `get`, `describe`, `logs`, `wait`, `delete`, `suspend`,
//! `resume`, `expand`).
//!
//! This crate is glue: argument parsing, output formatting and process setup. The logic lives
//! in the library crates.

mod architecture_check;
mod client_cmds;
mod compose_check;
mod config_file;
mod duration;
mod kubeconfig;
mod print;
mod queue_cmds;
mod server_cmds;
mod verify;

use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

/// mimalloc instead of glibc's malloc: the coordinator and the agent allocate and free many
/// small objects per pod on several threads, where glibc kept growing and trimming its
/// per-thread arenas (`mprotect` and `sysmalloc` were about 8 % of the coordinator's CPU).
/// Built without transparent huge pages (`no_thp`): with them, an idle worker's few hundred KiB
/// of heap, spread over mimalloc's arena, were resident as whole 2 MiB pages.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The runtime threads of `drover worker`, whatever the number of cores. The agent's own work
/// per pod is small (its processes are started by the supervisor's spawner threads, its reports
/// are batched), while each runtime thread costs its stack and its allocator heap: two keep one
/// ready while the other is busy.
const WORKER_RUNTIME_THREADS: usize = 2;

/// The multi-thread runtime of every verb; for `drover worker`, a lean one: two runtime threads,
/// and a small blocking pool (used only for host name lookups) whose threads exit after 1 s idle,
/// so that an idle worker keeps no thread it does not need.
fn runtime(command: &Command) -> std::io::Result<tokio::runtime::Runtime> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.enable_all();
    if matches!(command, Command::Worker(_)) {
        builder
            .worker_threads(WORKER_RUNTIME_THREADS)
            .max_blocking_threads(4)
            .thread_keep_alive(std::time::Duration::from_secs(1));
    }
    builder.build()
}

/// Kubernetes Jobs for a fleet of worker processes.
#[derive(Debug, Parser)]
#[command(name = "drover", version, about, long_about = None)]
pub(crate) struct Cli {
    /// The coordinator's URL.
    #[arg(long, global = true, env = "DROVER_SERVER", default_value = drover_client::DEFAULT_SERVER)]
    server: String,
    /// The API token: the coordinator requires it, workers join with it, the client sends it.
    #[arg(long, global = true, env = "DROVER_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Read the API token from this file (a trailing newline is ignored), so that it shows
    /// neither in `ps` nor in the environment. Instead of --token.
    #[arg(long, global = true, env = "DROVER_TOKEN_FILE", value_name = "FILE")]
    token_file: Option<std::path::PathBuf>,
    /// Trust only the CA certificates in this PEM file for an https coordinator (instead of the
    /// system's roots); for a self-signed coordinator, its certificate. Client verbs and workers
    /// use it; `drover kubeconfig` writes it in.
    #[arg(long, global = true, env = "DROVER_CERTIFICATE_AUTHORITY", value_name = "FILE")]
    certificate_authority: Option<std::path::PathBuf>,
    /// A config file (YAML, TOML or JSON): flags win over the environment, which wins over the
    /// file. Default: ~/.config/drover/config.yaml if it exists.
    #[arg(long, global = true, env = "DROVER_CONFIG")]
    config: Option<std::path::PathBuf>,
    #[command(subcommand)]
    command: Command,
}

/// Where the client verbs send their calls, with which token, trusting which CA.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    server: String,
    token: Option<drover_api::meta::Secret>,
    /// The CA file's path and its PEM certificates.
    ca: Option<(std::path::PathBuf, Vec<u8>)>,
    /// The client of the verbs, with the token and the CA.
    client: drover_client::Client,
}

impl Target {
    /// The target of `--server`, `token` and `--certificate-authority`'s file (read and checked
    /// here; an error names the flag and the file).
    fn new(
        server: String,
        token: Option<drover_api::meta::Secret>,
        ca_file: Option<&std::path::Path>,
    ) -> anyhow::Result<Target> {
        let mut client = drover_client::Client::new(&server);
        let mut ca = None;
        if let Some(path) = ca_file {
            let pem = std::fs::read(path).map_err(|e| {
                anyhow::anyhow!("--certificate-authority {}: cannot read it: {e}", path.display())
            })?;
            client = client
                .with_ca_pem(&pem)
                .map_err(|e| anyhow::anyhow!("--certificate-authority {}: {e}", path.display()))?;
            ca = Some((path.to_path_buf(), pem));
        }
        let client = client.with_token(token.as_ref().map(|t| t.expose()));
        Ok(Target { server, token, ca, client })
    }

    /// A client for the coordinator, carrying the token and trusting the CA.
    pub(crate) fn client(&self) -> drover_client::Client {
        self.client.clone()
    }

    /// `--certificate-authority`'s file and its PEM certificates, if given.
    pub(crate) fn ca(&self) -> Option<(&std::path::Path, &[u8])> {
        self.ca.as_ref().map(|(path, pem)| (path.as_path(), pem.as_slice()))
    }

    /// The coordinator's URL.
    pub(crate) fn server(&self) -> &str {
        &self.server
    }

    /// The token, if any.
    pub(crate) fn token(&self) -> Option<&drover_api::meta::Secret> {
        self.token.as_ref()
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the coordinator: API, store, Job controller, scheduler.
    Coordinator(server_cmds::CoordinatorArgs),
    /// Run a worker agent that runs pods as local processes.
    Worker(server_cmds::WorkerArgs),
    /// Run a coordinator and local workers in one process (Ctrl-C stops everything).
    Up(server_cmds::UpArgs),
    /// Create objects from files, a directory or stdin (`-f -`), or run a CronJob now
    /// (`create job NAME --from=cronjob/CRONJOB`).
    Create(client_cmds::CreateArgs),
    /// Create objects, or update the mutable fields of existing ones.
    Apply(client_cmds::ApplyArgs),
    /// List objects: jobs, cronjobs, pods or workers.
    Get(client_cmds::GetArgs),
    /// Show an object in detail, with its events.
    Describe(client_cmds::DescribeArgs),
    /// Print a pod's logs (`POD` or `job/NAME`).
    Logs(client_cmds::LogsArgs),
    /// Wait until a Job has a condition.
    Wait(client_cmds::WaitArgs),
    /// Delete objects by name or from files.
    Delete(client_cmds::DeleteArgs),
    /// Suspend CronJobs (`suspend cronjob NAME`): no new Jobs are scheduled; running ones go on.
    Suspend(client_cmds::SuspendArgs),
    /// Resume suspended CronJobs (`resume cronjob NAME`).
    Resume(client_cmds::SuspendArgs),
    /// Mark workers unschedulable (`cordon worker NAME`): they take no new pods.
    Cordon(client_cmds::WorkerVerbArgs),
    /// Mark workers schedulable again (`uncordon worker NAME`).
    Uncordon(client_cmds::WorkerVerbArgs),
    /// Drain workers (`drain worker NAME`): no new pods, running pods finish within the worker's
    /// --drain-timeout (or are stopped and replaced, uncounted), then the worker leaves.
    Drain(client_cmds::WorkerVerbArgs),
    /// Expand a template (`$ITEM`) once per item and print the manifests.
    Expand(client_cmds::ExpandArgs),
    /// Publish tasks to a queue, or show its stats, or purge it (RabbitMQ or Redis).
    Queue(queue_cmds::QueueArgs),
    /// Check Drover's promises under faults on your broker: a drain Job of a few thousand tasks
    /// on a private coordinator and workers while they are SIGKILLed and restarted and the broker
    /// connections are cut; then every task ran, the count is exact and the queue is empty.
    Verify(verify::VerifyArgs),
    /// Print a kubeconfig for this coordinator, so that kubectl and the Kubernetes client
    /// libraries use it (`drover kubeconfig > drover.kubeconfig; KUBECONFIG=drover.kubeconfig
    /// kubectl get jobs`).
    Kubeconfig(kubeconfig::KubeconfigArgs),
}

/// Flags every client verb shares.
#[derive(Debug, Clone, Args)]
struct FileArgs {
    /// A file, a directory of .yaml/.yml/.json files, or `-` for stdin. May be repeated.
    #[arg(short = 'f', long = "filename")]
    filename: Vec<String>,
    /// Expand `$ITEM` in the manifests once per value (the "expansions" pattern).
    #[arg(long = "item")]
    item: Vec<String>,
}

/// The token of `--token`, or read from `--token-file`'s file (trimmed of surrounding
/// whitespace, a trailing newline above all); an error names the flag and the path, never the
/// content.
fn token(
    token: Option<String>,
    file: Option<&std::path::Path>,
) -> anyhow::Result<Option<drover_api::meta::Secret>> {
    let Some(path) = file else { return Ok(token.and_then(drover_api::meta::Secret::new)) };
    if token.is_some() {
        anyhow::bail!("--token (DROVER_TOKEN) and --token-file (DROVER_TOKEN_FILE) are both set: give one");
    }
    let text = std::fs::read(path)
        .map_err(|e| anyhow::anyhow!("--token-file {}: cannot read the token: {e}", path.display()))?;
    let text = String::from_utf8(text)
        .map_err(|_| anyhow::anyhow!("--token-file {}: the token is not UTF-8 text", path.display()))?;
    match drover_api::meta::Secret::new(text.trim()) {
        Some(secret) => Ok(Some(secret)),
        None => anyhow::bail!("--token-file {}: the file is empty", path.display()),
    }
}

fn main() -> ExitCode {
    use clap::CommandFactory as _;
    let args = match config_file::apply(Cli::command(), std::env::args_os().collect()) {
        Ok(args) => args,
        Err(err) => {
            eprintln!("error: {err:#}");
            return ExitCode::FAILURE;
        }
    };
    let cli = Cli::parse_from(args);
    let runtime = match runtime(&cli.command) {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("error: cannot start the runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let res = runtime.block_on(async move {
        let token_file = cli.token_file.clone();
        let token = token(cli.token, cli.token_file.as_deref())?;
        let server = Target::new(cli.server.clone(), token, cli.certificate_authority.as_deref())?;
        match cli.command {
            Command::Coordinator(args) => server_cmds::coordinator(args, &server).await,
            Command::Worker(args) => server_cmds::worker(args, &server).await,
            Command::Up(args) => server_cmds::up(args, &server).await,
            Command::Create(args) => client_cmds::create(args, &server).await,
            Command::Apply(args) => client_cmds::apply(args, &server).await,
            Command::Get(args) => client_cmds::get(args, &server).await,
            Command::Describe(args) => client_cmds::describe(args, &server).await,
            Command::Logs(args) => client_cmds::logs(args, &server).await,
            Command::Wait(args) => client_cmds::wait(args, &server).await,
            Command::Delete(args) => client_cmds::delete(args, &server).await,
            Command::Suspend(args) => client_cmds::set_suspend(args, true, &server).await,
            Command::Resume(args) => client_cmds::set_suspend(args, false, &server).await,
            Command::Cordon(args) => {
                client_cmds::worker_verb(args, client_cmds::WorkerVerb::Cordon, &server).await
            }
            Command::Uncordon(args) => {
                client_cmds::worker_verb(args, client_cmds::WorkerVerb::Uncordon, &server).await
            }
            Command::Drain(args) => {
                client_cmds::worker_verb(args, client_cmds::WorkerVerb::Drain, &server).await
            }
            Command::Expand(args) => client_cmds::expand(args).await,
            Command::Queue(args) => queue_cmds::queue(args).await,
            Command::Verify(args) => verify::verify(args).await,
            Command::Kubeconfig(args) => kubeconfig::kubeconfig(args, &server, token_file.as_deref()).await,
        }
    });
    match res {
        Ok(code) => code,
        Err(err) => {
            let text = format!("{err:#}");
            if text.starts_with("error:") || text.starts_with("The ") || text.starts_with("Error from server")
            {
                eprintln!("{text}");
            } else {
                eprintln!("error: {text}");
            }
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::token;

    #[test]
    fn the_token_file_is_read_trimmed_and_its_errors_name_the_flag_and_the_path() {
        let dir = std::env::temp_dir().join(format!("drover-token-file-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("token");
        std::fs::write(&file, "s3cret-from-file\n").unwrap();
        let secret = token(None, Some(&file)).unwrap().unwrap();
        assert_eq!(secret.expose(), "s3cret-from-file");
        assert_eq!(token(Some("flag".into()), None).unwrap().unwrap().expose(), "flag");
        assert!(token(None, None).unwrap().is_none());

        let both = token(Some("flag".into()), Some(&file)).unwrap_err().to_string();
        assert_eq!(
            both,
            "--token (DROVER_TOKEN) and --token-file (DROVER_TOKEN_FILE) are both set: give one"
        );

        let missing = dir.join("missing");
        let err = token(None, Some(&missing)).unwrap_err().to_string();
        assert_eq!(
            err,
            format!(
                "--token-file {}: cannot read the token: No such file or directory (os error 2)",
                missing.display()
            )
        );
        std::fs::write(&file, "\n").unwrap();
        let err = token(None, Some(&file)).unwrap_err().to_string();
        assert_eq!(err, format!("--token-file {}: the file is empty", file.display()));
        std::fs::write(&file, b"s3cret\xff\n").unwrap();
        let err = token(None, Some(&file)).unwrap_err().to_string();
        assert!(err.starts_with("--token-file ") && !err.contains("s3cret"), "{err}");
        let _ = std::fs::remove_dir_all(dir);
    }
}
