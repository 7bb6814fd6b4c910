//! `drover coordinator`, `drover worker` and `drover up`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use drover_core::JobConfig;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::duration;

/// Flags of the coordinator, shared by `coordinator` and `up`.
#[derive(Debug, Clone, Args)]
pub(crate) struct CoordinatorFlags {
    /// Where the store lives (created if missing).
    #[arg(long, env = "DROVER_DATA", default_value = ".drover")]
    data: PathBuf,
    /// A worker that has not heartbeated for this long is declared lost and its pods fail.
    #[arg(long, env = "DROVER_WORKER_LEASE", default_value = "10s", value_parser = duration::parse)]
    worker_lease: Duration,
    /// The first pod re-creation delay after a failure; doubled per failure.
    #[arg(long, env = "DROVER_JOB_BACKOFF_BASE", default_value = "10s", value_parser = duration::parse)]
    job_backoff_base: Duration,
    /// The cap of the pod re-creation delay.
    #[arg(long, env = "DROVER_JOB_BACKOFF_MAX", default_value = "6m", value_parser = duration::parse)]
    job_backoff_max: Duration,
    /// How long events are kept (kube-apiserver's --event-ttl); older ones are removed.
    #[arg(long, env = "DROVER_EVENT_TTL", default_value = "1h", value_parser = duration::parse)]
    event_ttl: Duration,
    /// The zone of CronJobs that set no spec.timeZone (an IANA name). Default: $TZ, else UTC.
    #[arg(long, env = "DROVER_TIME_ZONE", value_parser = parse_zone)]
    time_zone: Option<chrono_tz::Tz>,
    /// Serve an API without a token on a non-loopback address (anyone who reaches the port can
    /// run commands on the workers).
    #[arg(long, env = "DROVER_INSECURE")]
    insecure: bool,
    /// Without a token, the API answers only requests whose Host is loopback or the listening
    /// address (a guard against DNS rebinding); a name (or name:port) given here is answered too.
    /// Repeat the flag, or separate names with commas.
    #[arg(long = "public-host", env = "DROVER_PUBLIC_HOSTS", value_delimiter = ',', value_name = "NAME")]
    public_hosts: Vec<String>,
    /// How long a connection may take to send a request's head, from its opening or its previous
    /// response; half-sent requests and idle connections are closed after it.
    #[arg(long, env = "DROVER_HEADER_READ_TIMEOUT", default_value = "15s", value_parser = parse_positive)]
    header_read_timeout: Duration,
    /// The most connections open at once; more wait until one closes.
    #[arg(long, env = "DROVER_MAX_CONNECTIONS", default_value_t = 1024,
          value_parser = clap::value_parser!(u32).range(1..))]
    max_connections: u32,
}

fn parse_positive(text: &str) -> Result<Duration, String> {
    match duration::parse(text)? {
        d if d.is_zero() => Err("must be greater than 0".to_string()),
        d => Ok(d),
    }
}

fn parse_zone(text: &str) -> Result<chrono_tz::Tz, String> {
    text.parse::<chrono_tz::Tz>()
        .map_err(|_| format!("unknown time zone {text:?}: expected an IANA name such as Europe/Berlin"))
}

impl CoordinatorFlags {
    /// The worker lease (for tests of the config file).
    #[cfg(test)]
    pub(crate) fn worker_lease(&self) -> Duration {
        self.worker_lease
    }

    /// `--insecure` (for tests of the config file).
    #[cfg(test)]
    pub(crate) fn insecure(&self) -> bool {
        self.insecure
    }

    /// `--public-host` (for tests of the config file).
    #[cfg(test)]
    pub(crate) fn public_hosts(&self) -> &[String] {
        &self.public_hosts
    }

    fn config(&self, token: Option<&drover_api::meta::Secret>) -> drover_coordinator::Config {
        drover_coordinator::Config {
            data_dir: Some(self.data.clone()),
            worker_lease: self.worker_lease,
            event_ttl: self.event_ttl,
            job: JobConfig {
                backoff_base: self.job_backoff_base,
                backoff_max: self.job_backoff_max,
                ..JobConfig::default()
            },
            cron_zone: self.time_zone.unwrap_or_else(|| {
                std::env::var("TZ")
                    .ok()
                    .and_then(|tz| tz.trim_start_matches(':').parse().ok())
                    .unwrap_or(chrono_tz::UTC)
            }),
            token: token.cloned(),
            insecure: self.insecure,
            stream_keepalive: drover_api::protocol::STREAM_KEEPALIVE,
            watch_history: drover_coordinator::state::WATCH_HISTORY,
            public_hosts: self.public_hosts.clone(),
            header_read_timeout: self.header_read_timeout,
            body_read_timeout: drover_coordinator::DEFAULT_BODY_READ_TIMEOUT,
            max_connections: self.max_connections as usize,
        }
    }
}

/// `drover coordinator`.
#[derive(Debug, Args)]
pub(crate) struct CoordinatorArgs {
    /// The address to listen on.
    #[arg(long, env = "DROVER_LISTEN", default_value = "127.0.0.1:7070")]
    pub(crate) listen: String,
    #[command(flatten)]
    pub(crate) flags: CoordinatorFlags,
}

/// Flags of a worker, shared by `worker` and `up`.
#[derive(Debug, Clone, Args)]
pub(crate) struct WorkerFlags {
    /// How many pods run at once (default: the number of cores).
    #[arg(long, env = "DROVER_SLOTS")]
    slots: Option<i32>,
    /// How often the worker heartbeats; keep it well under the coordinator's --worker-lease.
    #[arg(long, env = "DROVER_HEARTBEAT_INTERVAL", default_value = "1s", value_parser = duration::parse)]
    heartbeat_interval: Duration,
    /// The first in-place restart delay under restartPolicy OnFailure (doubled per restart).
    #[arg(long, env = "DROVER_RESTART_BACKOFF_BASE", default_value = "10s", value_parser = duration::parse)]
    restart_backoff_base: Duration,
    /// The cap of the in-place restart delay.
    #[arg(long, env = "DROVER_RESTART_BACKOFF_MAX", default_value = "5m", value_parser = duration::parse)]
    restart_backoff_max: Duration,
    /// How long a draining worker (SIGTERM, or `drover drain worker`) lets its running pods
    /// finish before it stops them; they are then replaced elsewhere.
    #[arg(long, env = "DROVER_DRAIN_TIMEOUT", default_value = "30s", value_parser = duration::parse)]
    drain_timeout: Duration,
}

impl WorkerFlags {
    fn config(
        &self,
        coordinator: &str,
        name: String,
        token: Option<&drover_api::meta::Secret>,
    ) -> drover_worker::AgentConfig {
        drover_worker::AgentConfig {
            coordinator: coordinator.to_string(),
            name,
            slots: self.slots.unwrap_or_else(cores),
            heartbeat_interval: self.heartbeat_interval,
            restart_backoff_base: self.restart_backoff_base,
            restart_backoff_max: self.restart_backoff_max,
            token: token.cloned(),
            drain_timeout: self.drain_timeout,
        }
    }
}

/// `drover worker`.
#[derive(Debug, Args)]
pub(crate) struct WorkerArgs {
    /// The coordinator's URL (default: --server).
    #[arg(long, env = "DROVER_COORDINATOR")]
    coordinator: Option<String>,
    /// The worker's name (default: the host name).
    #[arg(long, env = "DROVER_WORKER_NAME")]
    name: Option<String>,
    #[command(flatten)]
    flags: WorkerFlags,
}

/// `drover up`.
#[derive(Debug, Args)]
pub(crate) struct UpArgs {
    /// The port the coordinator listens on (127.0.0.1).
    #[arg(long, env = "DROVER_PORT", default_value_t = 7070)]
    port: u16,
    /// How many local workers to start.
    #[arg(long, default_value_t = 1)]
    workers: usize,
    #[command(flatten)]
    coordinator: CoordinatorFlags,
    #[command(flatten)]
    worker: WorkerFlags,
}

fn cores() -> i32 {
    std::thread::available_parallelism().map(|n| n.get() as i32).unwrap_or(1)
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("DROVER_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    use std::io::IsTerminal as _;
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .try_init();
}

/// A token cancelled on the first SIGINT or SIGTERM; a second signal exits at once.
fn shutdown_on_signal() -> CancellationToken {
    let token = CancellationToken::new();
    let t = token.clone();
    tokio::spawn(async move {
        wait_signal().await;
        tracing::info!("Shutting down (send the signal again to exit at once)");
        t.cancel();
        wait_signal().await;
        // Exiting kills every pod group: PDEATHSIG and each agent's group watchdog.
        std::process::exit(130);
    });
    token
}

/// A worker's signals: the first SIGINT or SIGTERM cancels the first token (drain), the second
/// the second one (stop every pod now), and a third exits at once.
fn drain_on_signal() -> (CancellationToken, CancellationToken) {
    let drain = CancellationToken::new();
    let shutdown = CancellationToken::new();
    let (d, s) = (drain.clone(), shutdown.clone());
    tokio::spawn(async move {
        wait_signal().await;
        tracing::info!("Draining: running pods may finish (send the signal again to stop them now)");
        d.cancel();
        wait_signal().await;
        tracing::info!("Stopping every pod (send the signal again to exit at once)");
        s.cancel();
        wait_signal().await;
        // Exiting kills every pod group: PDEATHSIG and each agent's group watchdog.
        std::process::exit(130);
    });
    (drain, shutdown)
}

async fn wait_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

/// File descriptors the coordinator needs besides its connections (the store, the listener, the
/// runtime).
const SPARE_FDS: u64 = 128;

/// Raises the soft limit on open files to `--max-connections` plus [`SPARE_FDS`] (as far as the
/// hard limit allows), so the connection cap, not `accept`'s EMFILE, is what bounds connections;
/// warns when the hard limit is lower.
fn raise_fd_limit(max_connections: u32) {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let want = u64::from(max_connections) + SPARE_FDS;
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return;
    };
    if soft >= want {
        return;
    }
    let new = want.min(hard);
    if let Err(err) = setrlimit(Resource::RLIMIT_NOFILE, new, hard) {
        tracing::warn!(error = %err, soft, "Cannot raise the limit on open files");
    } else if new < want {
        tracing::warn!(
            limit = new,
            "The limit on open files is below --max-connections plus {SPARE_FDS}: connections beyond it \
             wait until others close; raise the hard limit (ulimit -Hn) or lower --max-connections"
        );
    }
}

/// `drover coordinator`.
pub(crate) async fn coordinator(args: CoordinatorArgs, target: &crate::Target) -> anyhow::Result<ExitCode> {
    init_logging();
    raise_fd_limit(args.flags.max_connections);
    let listener =
        TcpListener::bind(&args.listen).await.with_context(|| format!("cannot listen on {}", args.listen))?;
    let token = shutdown_on_signal();
    drover_coordinator::run(
        listener,
        args.flags.config(target.token()),
        async move { token.cancelled().await },
    )
    .await?;
    Ok(ExitCode::SUCCESS)
}

/// `drover worker`.
pub(crate) async fn worker(args: WorkerArgs, target: &crate::Target) -> anyhow::Result<ExitCode> {
    init_logging();
    let name = args
        .name
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok().map(|s| s.trim().to_string()))
        .unwrap_or_else(|| "worker".into());
    let coordinator = args.coordinator.unwrap_or_else(|| target.server().to_string());
    let (drain, shutdown) = drain_on_signal();
    drover_worker::run_with_drain(args.flags.config(&coordinator, name, target.token()), drain, shutdown)
        .await?;
    Ok(ExitCode::SUCCESS)
}

/// `drover up`.
pub(crate) async fn up(args: UpArgs, target: &crate::Target) -> anyhow::Result<ExitCode> {
    init_logging();
    raise_fd_limit(args.coordinator.max_connections);
    let addr = format!("127.0.0.1:{}", args.port);
    let listener = TcpListener::bind(&addr).await.with_context(|| format!("cannot listen on {addr}"))?;
    let url = format!("http://{}", listener.local_addr()?);
    let token = shutdown_on_signal();
    let coordinator_token = CancellationToken::new();
    let ct = coordinator_token.clone();
    let coordinator = tokio::spawn(drover_coordinator::run(
        listener,
        args.coordinator.config(target.token()),
        async move { ct.cancelled().await },
    ));
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "local".into());
    let mut workers = Vec::new();
    for i in 1..=args.workers {
        let config = args.worker.config(&url, format!("{host}-{i}"), target.token());
        workers.push(tokio::spawn(drover_worker::run(config, token.clone())));
    }
    let slots = args.worker.slots.unwrap_or_else(cores);
    eprintln!(
        "Drover is up: coordinator at {url}, {} worker(s) with {slots} slot(s) each, data in {}.\nTry: drover create -f examples/pi-job.yaml && drover get jobs -w\nPress Ctrl-C to stop.",
        args.workers,
        args.coordinator.data.display()
    );
    token.cancelled().await;
    // Workers first, so they stop their pods and report while the coordinator still listens.
    for w in workers {
        let _ = w.await;
    }
    coordinator_token.cancel();
    coordinator.await.context("coordinator task")??;
    Ok(ExitCode::SUCCESS)
}
