//! The Drover coordinator: the HTTP API, the Job controller runtime, the scheduler and the worker
//! leases, around one embedded store.
//!
//! # Layout
//! - [`state`]: the shared [`state::Coordinator`]: the store plus the fan-out of every committed
//!   change to watchers, the controller queue, the scheduler and worker sessions.
//! - [`controller`]: the Job controller runtime. It reads a Job and its pods from the store, asks
//!   `drover_core::decide` for a plan and executes it. One task runs every reconcile, so two
//!   reconciles of one Job never overlap.
//! - [`cronjobs`]: the CronJob controller runtime. It executes `drover_core::cronjob::decide`'s
//!   plans on the same queue and task as the Job controller.
//! - [`scheduler`]: binds pending pods to workers with free slots.
//! - [`workers`]: registration, heartbeats, assignment streams, status reports, task records
//!   (the task ledger) and the lease checker.
//! - [`events`]: removes events older than [`Config::event_ttl`].
//! - [`metrics`]: `GET /metrics` in Prometheus' text format.
//! - [`api`]: the axum router. Only this module knows HTTP paths and status codes.
//! - [`dashboard`]: the web dashboard at `/` (embedded HTML, CSS and JS), its login, session
//!   cookie and CSRF rules, and its server-sent event stream of batched changes.
//! - [`openapi`]: `/openapi/v2` and `/openapi/v3…`, the documents of `drover_api::openapi`
//!   (`openapi::routes()`, merged into the router).
//! - [`serve`]: the connection loop: a cap on open connections, a header-read timeout, graceful
//!   shutdown, HTTPS.
//! - [`tls`]: the certificate and key of HTTPS, and the self-signed pair of
//!   `--tls-self-signed`.
//!
//! [`run`] takes an already-bound listener and a shutdown future, so tests run on port 0.

pub mod api;
pub mod controller;
pub mod cronjobs;
pub mod dashboard;
pub mod discovery;
pub mod events;
pub mod metrics;
pub mod openapi;
pub mod queues;
pub mod scheduler;
pub mod serve;
pub mod state;
pub mod tls;
pub mod workers;

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use drover_core::JobConfig;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use state::Coordinator;

/// The coordinator's resolved configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where the store lives. `None` keeps everything in memory (tests).
    pub data_dir: Option<PathBuf>,
    /// A worker that has not heartbeated for this long is declared lost.
    pub worker_lease: Duration,
    /// How long events are kept: older ones are removed (Kubernetes' `--event-ttl`, 1 h by
    /// default there), so the store does not grow by one row per pod forever.
    pub event_ttl: Duration,
    /// Job controller tunables (back-off base and cap).
    pub job: JobConfig,
    /// The zone of CronJobs without `spec.timeZone` (Kubernetes uses the controller's local
    /// zone).
    pub cron_zone: chrono_tz::Tz,
    /// The bearer token every API call but `/healthz` must carry (workers present it to join).
    /// `None` leaves the API open, which [`run`] allows only on a loopback address unless
    /// `insecure` is set.
    pub token: Option<drover_api::meta::Secret>,
    /// Serve without a token on a non-loopback address.
    pub insecure: bool,
    /// An NDJSON stream (assignment stream, watch) that sent nothing for this long gets an
    /// empty line, so its client can tell a quiet stream from a dead connection
    /// ([`drover_api::protocol::STREAM_KEEPALIVE`] by default).
    pub stream_keepalive: Duration,
    /// Host names (optionally `name:port`) besides loopback and the listening address that an
    /// API without a token answers (see [`api`]: the DNS-rebinding guard). Ignored with a token.
    pub public_hosts: Vec<String>,
    /// How long a connection may take to send a request's head, counted from its opening or from
    /// the end of its previous response: it closes half-sent requests, and it is also the idle
    /// keep-alive timeout. A response that streams (watches, `logs -f`, the assignment stream)
    /// is not cut by it.
    pub header_read_timeout: Duration,
    /// How long a request's body may take to arrive once its head has: a body sent slowly is
    /// refused with 408 and its connection closed.
    pub body_read_timeout: Duration,
    /// The most connections open at once; more wait in the listen queue until one closes.
    pub max_connections: usize,
    /// Serve HTTPS only, with this certificate and key; `None` serves plain HTTP.
    pub tls: Option<tls::TlsConfig>,
    /// How many recent changes are kept for watches that resume from a `resourceVersion`
    /// ([`state::WATCH_HISTORY`] by default); an older one gets 410 Expired.
    pub watch_history: usize,
}

/// [`Config::header_read_timeout`]'s default: 15 s (clients drop idle connections after 10 s,
/// so a request never races the server's close).
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(15);

/// [`Config::body_read_timeout`]'s default: 30 s.
pub const DEFAULT_BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// [`Config::max_connections`]'s default.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;

impl Default for Config {
    /// The defaults of `drover coordinator`'s flags, with the store in memory: a 10 s worker
    /// lease, events kept 1 h, Kubernetes' back-off, CronJobs in UTC, no token, loopback only,
    /// keepalives every [`drover_api::protocol::STREAM_KEEPALIVE`], no public host, a 15 s
    /// header-read timeout, a 30 s body-read timeout, at most 1,024 connections, plain HTTP.
    fn default() -> Config {
        Config {
            data_dir: None,
            worker_lease: Duration::from_secs(10),
            event_ttl: Duration::from_secs(3600),
            job: JobConfig::default(),
            cron_zone: chrono_tz::UTC,
            token: None,
            insecure: false,
            stream_keepalive: drover_api::protocol::STREAM_KEEPALIVE,
            watch_history: state::WATCH_HISTORY,
            public_hosts: Vec::new(),
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            body_read_timeout: DEFAULT_BODY_READ_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            tls: None,
        }
    }
}

/// Errors that stop the coordinator from starting or serving.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The store could not be opened.
    #[error("cannot open the store")]
    Store(#[from] drover_store::StoreError),
    /// Asked to serve an open API beyond this machine.
    #[error(
        "refusing to listen on {0} without a token: anyone who can reach this port could run commands on the \
         workers. Set --token (or DROVER_TOKEN), listen on 127.0.0.1, or pass --insecure to accept the risk"
    )]
    Insecure(std::net::SocketAddr),
}

/// Runs the coordinator on `listener` until `shutdown` resolves, then stops every task and
/// returns once they have finished.
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    if let Ok(addr) = listener.local_addr()
        && !addr.ip().is_loopback()
        && config.token.is_none()
        && !config.insecure
    {
        return Err(Error::Insecure(addr));
    }
    if let Ok(addr) = listener.local_addr()
        && !addr.ip().is_loopback()
        && config.token.is_some()
        && config.tls.is_none()
    {
        tracing::warn!(
            %addr,
            "Serving plain HTTP beyond this machine: the token crosses the network in the clear. \
             Serve HTTPS (--tls-cert-file and --tls-private-key-file, or --tls-self-signed), \
             or put a TLS proxy in front"
        );
    }
    let store = match &config.data_dir {
        Some(dir) => drover_store::Store::open(dir)?,
        None => drover_store::Store::open_in_memory()?,
    };
    let token = CancellationToken::new();
    let tracker = TaskTracker::new();
    let coordinator = Coordinator::new(Arc::new(store), config, token.clone());
    if let Ok(addr) = listener.local_addr() {
        let scheme = if coordinator.config.tls.is_some() { "https" } else { "http" };
        tracing::info!(%addr, scheme, data = ?coordinator.config.data_dir, "Coordinator listening");
    }
    tracing::info!(
        "Pods run as processes on the workers; container images are kept and shown but never pulled or run"
    );

    tracker.spawn(controller::run(coordinator.clone(), token.clone()));
    tracker.spawn(scheduler::run(coordinator.clone(), token.clone()));
    tracker.spawn(workers::run_lease_checker(coordinator.clone(), token.clone()));
    tracker.spawn(events::run_event_gc(coordinator.clone(), token.clone()));

    let router = api::router(coordinator.clone());
    // The shutdown future or a fatal error (the token) stops everything: streams end (they watch
    // the token), then connections close.
    let stop = token.clone();
    tracker.spawn(async move {
        tokio::select! {
            _ = shutdown => stop.cancel(),
            _ = stop.cancelled() => {}
        }
    });
    serve::serve(listener, router, &coordinator.config, token.clone()).await;
    token.cancel();
    tracker.close();
    tracker.wait().await;
    tracing::info!("Coordinator stopped");
    Ok(())
}
