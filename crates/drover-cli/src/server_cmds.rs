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
    /// Serve HTTPS only, with this PEM certificate (chain); needs --tls-private-key-file.
    #[arg(long, env = "DROVER_TLS_CERT_FILE", value_name = "FILE")]
    tls_cert_file: Option<PathBuf>,
    /// The PEM private key of --tls-cert-file.
    #[arg(long, env = "DROVER_TLS_PRIVATE_KEY_FILE", value_name = "FILE")]
    tls_private_key_file: Option<PathBuf>,
    /// Serve HTTPS only, with a self-signed certificate made on first start in the data
    /// directory (tls.crt, tls.key) for localhost, 127.0.0.1, ::1, the listening address and
    /// each --public-host, and reused after; clients trust it with --certificate-authority
    /// DATA/tls.crt. Delete both files to make a new one.
    #[arg(long, env = "DROVER_TLS_SELF_SIGNED")]
    tls_self_signed: bool,
}

/// How the coordinator gets its certificate, from the TLS flags.
#[derive(Debug, Clone, PartialEq, Eq)]
enum TlsSource {
    /// Plain HTTP.
    None,
    /// `--tls-cert-file` and `--tls-private-key-file`.
    Files { cert: PathBuf, key: PathBuf },
    /// `--tls-self-signed`.
    SelfSigned,
}

/// The TLS flags, checked: both files or neither, and not with `--tls-self-signed`.
fn tls_source(cert: Option<&PathBuf>, key: Option<&PathBuf>, self_signed: bool) -> anyhow::Result<TlsSource> {
    match (cert, key, self_signed) {
        (None, None, false) => Ok(TlsSource::None),
        (None, None, true) => Ok(TlsSource::SelfSigned),
        (Some(cert), Some(key), false) => Ok(TlsSource::Files { cert: cert.clone(), key: key.clone() }),
        (Some(_), Some(_), true) => anyhow::bail!(
            "--tls-self-signed and --tls-cert-file/--tls-private-key-file are both set: give one"
        ),
        (Some(_), None, _) => {
            anyhow::bail!(
                "--tls-cert-file needs --tls-private-key-file (DROVER_TLS_PRIVATE_KEY_FILE): give both"
            )
        }
        (None, Some(_), _) => {
            anyhow::bail!("--tls-private-key-file needs --tls-cert-file (DROVER_TLS_CERT_FILE): give both")
        }
    }
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

    /// The coordinator's configuration on `listen` (the address it was bound to, whose IP a
    /// self-signed certificate names), with its TLS certificate loaded or made, and the file
    /// clients trust as their CA when it is self-signed.
    fn config(
        &self,
        token: Option<&drover_api::meta::Secret>,
        listen: std::net::SocketAddr,
    ) -> anyhow::Result<(drover_coordinator::Config, Option<PathBuf>)> {
        use drover_coordinator::tls;
        let source = tls_source(
            self.tls_cert_file.as_ref(),
            self.tls_private_key_file.as_ref(),
            self.tls_self_signed,
        )?;
        let (tls, self_signed) = match source {
            TlsSource::None => (None, None),
            TlsSource::Files { cert, key } => (
                Some(tls::TlsConfig::from_files(&cert, &key).context("cannot load the TLS certificate")?),
                None,
            ),
            TlsSource::SelfSigned => {
                let mut hosts = self.public_hosts.clone();
                if !listen.ip().is_unspecified() {
                    hosts.push(listen.ip().to_string());
                }
                let pair = tls::self_signed(&self.data, &hosts).context("--tls-self-signed")?;
                let config = tls::TlsConfig::from_files(&pair.cert, &pair.key)
                    .context("cannot load the self-signed TLS certificate")?;
                let cert = std::path::absolute(&pair.cert).unwrap_or(pair.cert);
                if pair.created {
                    tracing::info!(cert = %cert.display(), names = ?tls::self_signed_names(&hosts), "Made a self-signed TLS certificate");
                }
                tracing::info!(
                    "Serving HTTPS with a self-signed certificate: clients trust it with --certificate-authority {}",
                    cert.display()
                );
                (Some(config), Some(cert))
            }
        };
        let config = drover_coordinator::Config {
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
            tls,
        };
        Ok((config, self_signed))
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
        ca_pem: Option<&[u8]>,
    ) -> drover_worker::AgentConfig {
        drover_worker::AgentConfig {
            coordinator: coordinator.to_string(),
            name,
            slots: self.slots.unwrap_or_else(cores),
            heartbeat_interval: self.heartbeat_interval,
            restart_backoff_base: self.restart_backoff_base,
            restart_backoff_max: self.restart_backoff_max,
            token: token.cloned(),
            ca_pem: ca_pem.map(<[u8]>::to_vec),
            drain_timeout: self.drain_timeout,
            idle_memory_release: None,
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
    /// Once no pod has run for this long (after the start and after every burst of pods), give
    /// memory back: the allocator's free pages, and the clean pages of the binary's code and
    /// read-only data. 0 never does.
    #[arg(long, env = "DROVER_IDLE_MEMORY_RELEASE", default_value = "2s", value_parser = duration::parse)]
    idle_memory_release: Duration,
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
    let (config, _) = args.flags.config(target.token(), listener.local_addr()?)?;
    let token = shutdown_on_signal();
    drover_coordinator::run(listener, config, async move { token.cancelled().await }).await?;
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
    let mut config = args.flags.config(&coordinator, name, target.token(), target.ca().map(|(_, pem)| pem));
    // This process is just the agent: it may give back the whole process's idle memory.
    config.idle_memory_release = Some(args.idle_memory_release).filter(|d| !d.is_zero());
    drover_worker::run_with_drain(config, drain, shutdown).await?;
    Ok(ExitCode::SUCCESS)
}

/// `drover up`.
pub(crate) async fn up(args: UpArgs, target: &crate::Target) -> anyhow::Result<ExitCode> {
    init_logging();
    raise_fd_limit(args.coordinator.max_connections);
    let addr = format!("127.0.0.1:{}", args.port);
    let listener = TcpListener::bind(&addr).await.with_context(|| format!("cannot listen on {addr}"))?;
    let local = listener.local_addr()?;
    let (config, self_signed) = args.coordinator.config(target.token(), local)?;
    let https = config.tls.is_some();
    let url = format!("{}://{local}", if https { "https" } else { "http" });
    // The local workers trust --certificate-authority, else the self-signed certificate, else
    // the coordinator's own certificate file (a self-signed one is its own CA).
    let ca: Option<(PathBuf, Vec<u8>)> = match (target.ca(), &self_signed, &args.coordinator.tls_cert_file) {
        (Some((path, pem)), _, _) => Some((path.to_path_buf(), pem.to_vec())),
        (None, Some(cert), _) | (None, None, Some(cert)) if https => {
            let pem = std::fs::read(cert).with_context(|| format!("cannot read {}", cert.display()))?;
            Some((std::path::absolute(cert).unwrap_or_else(|_| cert.clone()), pem))
        }
        _ => None,
    };
    let token = shutdown_on_signal();
    let coordinator_token = CancellationToken::new();
    let ct = coordinator_token.clone();
    let coordinator =
        tokio::spawn(drover_coordinator::run(listener, config, async move { ct.cancelled().await }));
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "local".into());
    let mut workers = Vec::new();
    for i in 1..=args.workers {
        let ca_pem = ca.as_ref().map(|(_, pem)| pem.as_slice());
        let config = args.worker.config(&url, format!("{host}-{i}"), target.token(), ca_pem);
        workers.push(tokio::spawn(drover_worker::run(config, token.clone())));
    }
    let slots = args.worker.slots.unwrap_or_else(cores);
    let client_flags = match &ca {
        Some((path, _)) if https => format!(" --server {url} --certificate-authority {}", path.display()),
        _ if https => format!(" --server {url}"),
        _ => String::new(),
    };
    let login = if target.token().is_some() { " (log in with the API token)" } else { "" };
    eprintln!(
        "Drover is up: coordinator at {url}, {} worker(s) with {slots} slot(s) each, data in {}.\nDashboard: {url}/{login}\nTry: drover{client_flags} create -f examples/pi-job.yaml && drover{client_flags} get jobs -w\nPress Ctrl-C to stop.",
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A case: its name, `--tls-cert-file`, `--tls-private-key-file`, `--tls-self-signed`, and
    /// the outcome.
    type TlsCase<'a> = (&'a str, Option<&'a PathBuf>, Option<&'a PathBuf>, bool, Result<TlsSource, &'a str>);

    #[test]
    fn the_tls_flags_go_together_and_errors_name_them() {
        let (cert, key) = (PathBuf::from("tls.crt"), PathBuf::from("tls.key"));
        let files = TlsSource::Files { cert: cert.clone(), key: key.clone() };
        let cases: &[TlsCase<'_>] = &[
            ("none", None, None, false, Ok(TlsSource::None)),
            ("both files", Some(&cert), Some(&key), false, Ok(files)),
            ("self-signed", None, None, true, Ok(TlsSource::SelfSigned)),
            (
                "a certificate alone",
                Some(&cert),
                None,
                false,
                Err("--tls-cert-file needs --tls-private-key-file (DROVER_TLS_PRIVATE_KEY_FILE): give both"),
            ),
            (
                "a key alone",
                None,
                Some(&key),
                false,
                Err("--tls-private-key-file needs --tls-cert-file (DROVER_TLS_CERT_FILE): give both"),
            ),
            (
                "files and self-signed",
                Some(&cert),
                Some(&key),
                true,
                Err("--tls-self-signed and --tls-cert-file/--tls-private-key-file are both set: give one"),
            ),
            (
                "a key alone and self-signed",
                None,
                Some(&key),
                true,
                Err("--tls-private-key-file needs --tls-cert-file (DROVER_TLS_CERT_FILE): give both"),
            ),
        ];
        for (case, cert, key, self_signed, want) in cases {
            let got = tls_source(*cert, *key, *self_signed).map_err(|e| e.to_string());
            assert_eq!(got, want.clone().map_err(str::to_string), "{case}");
        }
    }
}
