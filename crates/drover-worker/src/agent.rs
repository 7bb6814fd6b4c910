//! The worker agent: registers with the coordinator, takes pods from its assignment stream, runs
//! them as process groups and reports their status and logs.
//!
//! # Expected flow
//! 1. Register (retrying with back-off while the coordinator is unreachable).
//! 2. Heartbeat in the background; a `Gone` answer (the worker was declared lost) makes the
//!    agent register again.
//! 3. Read the assignment stream. `SYNC` lists the pods the coordinator believes this worker
//!    runs: any local process not listed is stopped. `POD` starts a newly bound pod, or stops
//!    one whose termination was requested.
//! 4. Each pod runs in its own task: report Running, ship logs, wait for the exit (restarting
//!    in place under `restartPolicy: OnFailure`, with back-off), flush logs, report the final
//!    status until the coordinator acknowledges it. What to do and when (spawn, the Running
//!    report, kill at the stop or the deadline, the restart back-off, the drain's rules, the
//!    final status) is decided by the pure [`crate::container::Machine`]; the pod's runner
//!    (`run_pod`) only performs its actions and feeds back what happened, telling it first
//!    what it saw of the pod's stop and the drain.
//! 5. When the stream ends (coordinator restart), go back to 1. Running pods keep running and
//!    their reports are retried, so a coordinator restart loses no outcome.
//!
//! A report the coordinator refuses (409/404: the pod is no longer bound here, or is already
//! finished) means the pod is not this worker's any more: its process is stopped (or never
//! started) and its task, if any, requeued.
//!
//! # Drain (scaling down)
//! A drain starts when `drain` (given to [`run_with_drain`]; `drover worker` cancels it on the
//! first SIGTERM or Ctrl-C) is cancelled, or when a heartbeat reply says `drain: true` (the
//! coordinator was asked, `drover drain worker NAME`). [`Drain`] carries it to every pod:
//! 1. The agent takes no new pods (`accept` ignores newly assigned ones) and, on SIGTERM, asks
//!    the coordinator to drain it (`Client::drain_worker`: the worker becomes `Draining` and
//!    unschedulable, and its pods that have not started go back to the scheduler; a report
//!    about such a pod is refused, so a process started in that race is stopped again).
//! 2. Running pods finish, within `drain_timeout`. A pod that has nothing running (not started
//!    yet, waiting for a task, in restart back-off) starts nothing more; a draining queue pod
//!    stops before its next task; a container that fails is not restarted in place. When the
//!    timeout passes, what still runs is stopped (SIGTERM, then SIGKILL after the pod's grace
//!    period), and its task requeued.
//! 3. Tasks taken and not acked are handed back (see [`crate::tasks`]).
//! 4. A pod the drain ended before its work was done is a disruption: it is reported `Failed`
//!    with reason `WorkerDrained` and the condition `DisruptionTarget=True`; the coordinator
//!    leaves it uncounted and its Job replaces it. A pod that finished on its own is reported as
//!    usual (a success is counted, a failure too).
//! 5. Once every pod has ended and been reported, the session ends (no more heartbeats, so the
//!    agent does not register again) and the agent deregisters (`Client::deregister_worker`);
//!    [`run_with_drain`] returns `Ok`.
//!
//! `shutdown` cancelled during a drain stops everything at once, as it does outside one: every
//! pod is stopped with its grace period and reported (as `WorkerDrained` during a drain), and
//! the agent returns without deregistering (the coordinator declares it lost).
//!
//! # Guarantees
//! - A pod's final status is reported at least once, and stays in the heartbeat's care until
//!   acknowledged.
//! - On shutdown every pod process group is stopped (SIGTERM, then SIGKILL after the grace).
//! - A drain lasts at most `drain_timeout` plus the longest termination grace period of the pods
//!   still running then (and the reports); it never loses a task: every task taken and not acked
//!   is requeued.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::Duration;

use chrono::Utc;
use drover_api::pod::{
    ContainerState, ContainerStatus, PodCondition, StateRunning, StateTerminated, StateWaiting, phase,
};
use drover_api::protocol::{Assignment, REASON_WORKER_DRAINED, Registration, StatusReport};
use drover_api::retry::Backoff;
use drover_api::{Pod, PodStatus, Time};
use drover_client::{Client, ClientError};
use drover_queue::Task;
use futures::StreamExt;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::container;
use crate::process::{
    self, Exit, ExitReason, LogBuffer, ProcessSpec, RunningProcess, SpawnError, Supervisor,
};
use crate::stream::{StreamProcess, StreamResult};
use crate::tasks::{self, Handler};

/// The agent's resolved configuration.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// The coordinator's URL.
    pub coordinator: String,
    /// The worker's name, unique in the fleet.
    pub name: String,
    /// How many pods run at once.
    pub slots: i32,
    /// How often to heartbeat. Keep it well under the coordinator's `--worker-lease`.
    pub heartbeat_interval: Duration,
    /// The first in-place restart delay under `restartPolicy: OnFailure` (kubelet: 10 s),
    /// doubled per restart up to `restart_backoff_max`.
    pub restart_backoff_base: Duration,
    /// The cap of the in-place restart delay (kubelet: 5 min).
    pub restart_backoff_max: Duration,
    /// The join token the coordinator requires, if any.
    pub token: Option<drover_api::meta::Secret>,
    /// The PEM CA certificates an `https` coordinator's certificate must chain to, instead of
    /// the system's roots (`--certificate-authority`).
    pub ca_pem: Option<Vec<u8>>,
    /// How long a drain lets running pods finish before stopping them (they then get their
    /// termination grace period).
    pub drain_timeout: Duration,
    /// Give memory back once no pod has run for this long, after the start and after every
    /// burst of pods (see the `memory` module); `None`: never. It acts on the whole process: only
    /// for a process that is just this agent (`drover worker`).
    pub idle_memory_release: Option<Duration>,
}

/// How long the agent waits for its pods once they were told to stop, before it kills every
/// process group (on shutdown, and past the drain timeout).
const STOP_WAIT: Duration = Duration::from_secs(35);

/// The agent's drain, shared with every pod runner (see the module docs).
pub(crate) struct Drain {
    /// Cancelled when the drain starts: no new pod, task or restart.
    started: CancellationToken,
    /// Cancelled when what still runs must stop: the drain timeout passed, or the agent shuts
    /// down. Every pod's `stop` token is a child of it.
    cut: CancellationToken,
    /// Why `cut` was cancelled, for the pods' messages.
    cut_reason: OnceLock<String>,
}

impl Drain {
    fn new() -> Drain {
        Drain {
            started: CancellationToken::new(),
            cut: CancellationToken::new(),
            cut_reason: OnceLock::new(),
        }
    }

    fn cut(&self, reason: String) {
        let _ = self.cut_reason.set(reason);
        self.cut.cancel();
    }
}

/// One pod this agent runs.
struct LocalPod {
    name: String,
    /// Cancelled to request termination; the runner stops the process with the grace period.
    stop: CancellationToken,
    /// Why termination was requested (shown when the coordinator did not say).
    grace: Arc<Mutex<Duration>>,
    /// Notified when the coordinator says every pod of this pod's draining Job reports the
    /// queue drained ([`Assignment::RecheckDrain`]): the pod checks the drain rule at once.
    recheck: Arc<tokio::sync::Notify>,
}

/// The pods this agent runs, by uid.
struct PodTable {
    map: Mutex<HashMap<String, LocalPod>>,
    /// How many: sent again at every start and end of a pod, for the idle memory release.
    live: tokio::sync::watch::Sender<usize>,
    /// Where the pods' volumes go (`None`: that could not be set up).
    dirs: Option<Arc<crate::mounts::AgentDirs>>,
}

impl PodTable {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, LocalPod>> {
        self.map.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

type Pods = Arc<PodTable>;

/// What the agent's assignment stream tells a running pod: its termination request (`stop`,
/// with the grace period), and pushes to check the drain rule (`recheck`); see [`LocalPod`].
struct PodSignals {
    stop: CancellationToken,
    grace: Arc<Mutex<Duration>>,
    recheck: Arc<tokio::sync::Notify>,
}

impl PodSignals {
    #[cfg(test)]
    fn new(stop: CancellationToken, grace: Arc<Mutex<Duration>>) -> PodSignals {
        PodSignals { stop, grace, recheck: Default::default() }
    }
}

/// Runs the agent until `shutdown` is cancelled, then stops every pod. A drain the coordinator
/// asks for (`drover drain worker`) is still carried out; see [`run_with_drain`].
pub async fn run(config: AgentConfig, shutdown: CancellationToken) -> anyhow::Result<()> {
    run_with_drain(config, CancellationToken::new(), shutdown).await
}

/// Runs the agent until its drain is complete (started by cancelling `drain`, or by the
/// coordinator) or `shutdown` is cancelled (every pod stopped at once). Returns `Ok` in both
/// cases; see the module docs.
pub async fn run_with_drain(
    config: AgentConfig,
    drain: CancellationToken,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let client = match &config.ca_pem {
        Some(pem) => Client::new(&config.coordinator).with_ca_pem(pem)?,
        None => Client::new(&config.coordinator),
    };
    let client = client
        .with_report_batching(&config.name)
        .with_token(config.token.as_ref().map(drover_api::meta::Secret::expose));
    let incarnation = uuid_like();
    // The directories of this run's pods (and, before any pod runs, the removal of what
    // stopped agents left).
    let dirs = match crate::mounts::AgentDirs::open(&incarnation) {
        Ok(dirs) => Some(Arc::new(dirs)),
        Err(e) => {
            tracing::warn!(error = %e, "Cannot set up the pods' directories: pods with volumes will fail to start");
            None
        }
    };
    let pods: Pods = Arc::new(PodTable {
        map: Mutex::new(HashMap::new()),
        live: tokio::sync::watch::Sender::new(0),
        dirs,
    });
    let tracker = TaskTracker::new();
    let config = Arc::new(config);
    let state = Arc::new(Drain::new());
    // Every pod process of this agent: started, registered with the watchdog, killed at the end.
    let supervisor = Supervisor::new();
    // Ends the sessions for good: on shutdown, or when the drain is complete.
    let leave = shutdown.child_token();
    if let Some(after) = config.idle_memory_release {
        tokio::spawn(crate::memory::release_when_idle(
            pods.live.subscribe(),
            after,
            leave.clone(),
            crate::memory::release,
        ));
    }
    let drainer = tokio::spawn(drain_agent(
        client.clone(),
        config.clone(),
        pods.clone(),
        tracker.clone(),
        state.clone(),
        supervisor.clone(),
        drain,
        leave.clone(),
    ));

    let mut delay = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
    while !leave.is_cancelled() {
        let reg = Registration {
            name: config.name.clone(),
            slots: config.slots,
            version: env!("CARGO_PKG_VERSION").to_string(),
            incarnation: incarnation.clone(),
            hostname: hostname(),
        };
        match client.register_worker(&reg).await {
            Ok(_) => {
                tracing::info!(worker = %config.name, slots = config.slots, coordinator = %config.coordinator, "Worker registered");
                delay.reset();
                // Registering again resets the worker's phase: a drain under way is re-announced.
                if state.started.is_cancelled() {
                    announce_drain(&client, &config.name, &leave).await;
                }
            }
            Err(err) if err.is_unauthorized() => {
                drainer.abort();
                // Retrying cannot help: the operator must give the right token.
                anyhow::bail!("the coordinator refused to register this worker: {err}");
            }
            Err(err) => {
                tracing::warn!(error = %err, "Cannot register; retrying");
                tokio::select! {
                    _ = leave.cancelled() => break,
                    _ = tokio::time::sleep(delay.next_delay()) => {}
                }
                continue;
            }
        }
        let session = leave.child_token();
        let hb = tokio::spawn(heartbeat_loop(
            client.clone(),
            config.clone(),
            session.clone(),
            state.started.clone(),
        ));
        let res = serve_assignments(&client, &config, &pods, &tracker, &state, &supervisor, &session).await;
        session.cancel();
        let _ = hb.await;
        if let Err(err) = res {
            tracing::warn!(error = %err, "Assignment stream ended; reconnecting");
            tokio::select! {
                _ = leave.cancelled() => break,
                _ = tokio::time::sleep(delay.next_delay()) => {}
            }
        }
    }

    if !shutdown.is_cancelled() && drainer.await.unwrap_or(false) {
        // The drain is complete: every pod ended and was reported, and the heartbeats stopped.
        deregister(&client, &config.name, &shutdown).await;
        tracing::info!(worker = %config.name, "Worker drained and deregistered");
        return Ok(());
    }

    // Shutdown: stop every pod, let the runners report, wait for them.
    let reason = if state.started.is_cancelled() {
        format!("worker {} was stopped during its drain", config.name)
    } else {
        format!("worker {} shut down", config.name)
    };
    state.cut(reason);
    tracker.close();
    if tokio::time::timeout(STOP_WAIT, tracker.wait()).await.is_err() {
        tracing::warn!("Pods did not stop in time; killing their process groups");
    }
    supervisor.kill_all_groups();
    tracing::info!(worker = %config.name, "Worker stopped");
    Ok(())
}

/// Carries out the drain once it starts (on `signal`, or when the coordinator asked): tells the
/// coordinator, stops what still runs at the drain timeout, and waits for every pod to end and
/// be reported. Returns true when the drain is complete, having cancelled `leave`; false if
/// `leave` was cancelled first (shutdown).
#[expect(clippy::too_many_arguments, reason = "the agent's shared handles, each used by the drain")]
async fn drain_agent(
    client: Client,
    config: Arc<AgentConfig>,
    pods: Pods,
    tracker: TaskTracker,
    state: Arc<Drain>,
    supervisor: Supervisor,
    signal: CancellationToken,
    leave: CancellationToken,
) -> bool {
    tokio::select! {
        _ = signal.cancelled() => state.started.cancel(),
        _ = state.started.cancelled() => {}
        _ = leave.cancelled() => return false,
    }
    let timeout = config.drain_timeout;
    let deadline = tokio::time::Instant::now() + timeout;
    let running = pods.lock().len();
    tracing::info!(worker = %config.name, pods = running, timeout = ?timeout, "Draining: no new pods; the running ones may finish");
    // `accept` starts a pod under the lock after checking the drain: past this point every pod
    // this agent will ever run is in the tracker.
    drop(pods.lock());
    tracker.close();
    // Pods bound here that have not started go back to the scheduler.
    tokio::select! {
        _ = announce_drain(&client, &config.name, &leave) => {}
        _ = tokio::time::sleep_until(deadline) => {}
    }
    let overdue = async {
        tokio::time::sleep_until(deadline).await;
        let left = pods.lock().len();
        tracing::warn!(worker = %config.name, pods = left, "Drain timeout passed; stopping the pods still running");
        state.cut(format!(
            "the pod did not finish within worker {}'s drain timeout ({}s)",
            config.name,
            timeout.as_secs_f64()
        ));
        tokio::time::sleep(STOP_WAIT).await;
    };
    tokio::select! {
        _ = tracker.wait() => {}
        _ = overdue => {
            tracing::warn!("Pods did not stop in time; killing their process groups");
            supervisor.kill_all_groups();
        }
        _ = leave.cancelled() => return false,
    }
    if leave.is_cancelled() {
        return false;
    }
    leave.cancel();
    true
}

/// Asks the coordinator to mark this worker draining, retrying until it answers or `leave` is
/// cancelled. An unknown worker (404) has nothing to drain there.
async fn announce_drain(client: &Client, name: &str, leave: &CancellationToken) {
    let mut delay = Backoff::new(Duration::from_millis(50), Duration::from_secs(2));
    loop {
        match client.drain_worker(name).await {
            Ok(_) => return,
            Err(err) if err.is_answer() => {
                tracing::debug!(error = %err, "The coordinator refused the drain");
                return;
            }
            Err(err) => tracing::debug!(error = %err, "Cannot announce the drain; retrying"),
        }
        tokio::select! {
            _ = leave.cancelled() => return,
            _ = tokio::time::sleep(delay.next_delay()) => {}
        }
    }
}

/// The drain's last step: removes this worker from the fleet, retrying for a while if the
/// coordinator cannot be reached (it then declares the worker lost instead).
async fn deregister(client: &Client, name: &str, shutdown: &CancellationToken) {
    let mut delay = Backoff::new(Duration::from_millis(50), Duration::from_secs(2));
    for _ in 0..12 {
        match client.deregister_worker(name).await {
            Ok(_) => return,
            Err(err) if err.is_not_found() => return,
            Err(err) => tracing::warn!(error = %err, "Cannot deregister; retrying"),
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(delay.next_delay()) => {}
        }
    }
    tracing::warn!(worker = %name, "Could not deregister; the coordinator will declare this worker lost");
}

/// Heartbeats until the session ends; a reply with `drain: true` starts the drain.
async fn heartbeat_loop(
    client: Client,
    config: Arc<AgentConfig>,
    session: CancellationToken,
    draining: CancellationToken,
) {
    let mut tick = tokio::time::interval(config.heartbeat_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = session.cancelled() => return,
            _ = tick.tick() => {}
        }
        match client.heartbeat(&config.name).await {
            Ok(reply) if reply.registered => {
                if reply.drain && !draining.is_cancelled() {
                    tracing::info!(worker = %config.name, "The coordinator asked this worker to drain");
                    draining.cancel();
                }
            }
            Ok(_) => {
                tracing::warn!("The coordinator no longer knows this worker; registering again");
                session.cancel();
                return;
            }
            Err(err) => tracing::debug!(error = %err, "Heartbeat failed"),
        }
    }
}

/// Reads the assignment stream until it ends or the session is cancelled.
async fn serve_assignments(
    client: &Client,
    config: &Arc<AgentConfig>,
    pods: &Pods,
    tracker: &TaskTracker,
    state: &Arc<Drain>,
    supervisor: &Supervisor,
    session: &CancellationToken,
) -> Result<(), ClientError> {
    let mut stream = Box::pin(client.assignments(&config.name).await?);
    loop {
        let msg = tokio::select! {
            _ = session.cancelled() => return Ok(()),
            msg = stream.next() => msg,
        };
        match msg {
            None => return Err(ClientError::Decode("the coordinator closed the stream".into())),
            Some(Err(e)) => return Err(e),
            Some(Ok(Assignment::Sync { pods: wanted })) => {
                let keep: std::collections::HashSet<&str> =
                    wanted.iter().map(|p| p.metadata.uid.as_str()).collect();
                for (uid, local) in pods.lock().iter() {
                    if !keep.contains(uid.as_str()) {
                        tracing::warn!(pod = %local.name, "Pod no longer assigned here; stopping it");
                        local.stop.cancel();
                    }
                }
                for pod in wanted {
                    accept(client, config, pods, tracker, state, supervisor, pod);
                }
            }
            Some(Ok(Assignment::Pod { pod })) => {
                accept(client, config, pods, tracker, state, supervisor, *pod)
            }
            Some(Ok(Assignment::RecheckDrain { pods: uids })) => {
                let map = pods.lock();
                for uid in uids {
                    if let Some(local) = map.get(&uid) {
                        local.recheck.notify_one();
                    }
                }
            }
            Some(Ok(Assignment::Unknown)) => {
                tracing::debug!("Ignoring an assignment message of a newer coordinator");
            }
        }
    }
}

/// Starts a pod, or stops it when its termination was requested. A draining agent starts no
/// new pod (the coordinator un-binds it, or fails it as `WorkerDrained` at deregistration).
fn accept(
    client: &Client,
    config: &Arc<AgentConfig>,
    pods: &Pods,
    tracker: &TaskTracker,
    state: &Arc<Drain>,
    supervisor: &Supervisor,
    pod: Pod,
) {
    let uid = pod.metadata.uid.clone();
    let grace = Duration::from_secs(
        pod.metadata
            .deletion_grace_period_seconds
            .or(pod.spec.termination_grace_period_seconds)
            .unwrap_or(30)
            .max(0) as u64,
    );
    let mut map = pods.lock();
    if let Some(local) = map.get(&uid) {
        if pod.metadata.deletion_timestamp.is_some() {
            *local.grace.lock().unwrap_or_else(|p| p.into_inner()) = grace;
            local.stop.cancel();
        }
        return;
    }
    if pod.is_terminal() {
        return;
    }
    if state.started.is_cancelled() {
        tracing::info!(pod = %pod.metadata.name, "Draining; not starting a newly assigned pod");
        return;
    }
    let stop = state.cut.child_token();
    let grace = Arc::new(Mutex::new(grace));
    if pod.metadata.deletion_timestamp.is_some() {
        stop.cancel();
    }
    let recheck = Arc::new(tokio::sync::Notify::new());
    map.insert(
        uid.clone(),
        LocalPod {
            name: pod.metadata.name.clone(),
            stop: stop.clone(),
            grace: grace.clone(),
            recheck: recheck.clone(),
        },
    );
    pods.live.send_replace(map.len());
    let client = client.clone();
    let config = config.clone();
    let pods = pods.clone();
    let state = state.clone();
    let supervisor = supervisor.clone();
    // Spawned under the lock: the drain waits for every pod that passed the check above.
    tracker.spawn(async move {
        let signals = PodSignals { stop, grace, recheck };
        run_pod(&client, &config, &pod, signals, &state, &supervisor, pods.dirs.as_deref()).await;
        let mut map = pods.lock();
        map.remove(&uid);
        pods.live.send_replace(map.len());
    });
    drop(map);
}

/// Runs one pod to its end and reports it.
///
/// A plain pod runs its command, restarting it in place under `restartPolicy: OnFailure`. A
/// queue pod (`spec.queue`, see [`crate::tasks`]) first takes a task and runs the handler for
/// it (`Exec`: a process per task; `Stream`: one line to the pod's long-lived process; `Noop`:
/// nothing); a draining pod loops over tasks until the queue is empty everywhere.
///
/// What to do, and when, is decided by the pure [`container::Machine`] (start, Running report,
/// restart back-off, stop, deadline, drain, the final status); this function is its executor:
/// it performs each action and feeds the outcome back, after telling the machine what it saw of
/// the pod's stop and the worker's drain. When the worker drains (`drain`), the pod starts
/// nothing new: no first process, no next task, no in-place restart. What runs goes on until
/// the drain's cut (`stop` is its child). A pod the drain ended before its work was done reports
/// `WorkerDrained` (see the module docs).
async fn run_pod(
    client: &Client,
    config: &AgentConfig,
    pod: &Pod,
    signals: PodSignals,
    drain: &Drain,
    supervisor: &Supervisor,
    dirs: Option<&crate::mounts::AgentDirs>,
) {
    let PodSignals { stop, grace, recheck } = signals;
    let name = &pod.metadata.name;
    let uid = &pod.metadata.uid;
    let container = pod.spec.containers.first().cloned().unwrap_or_default();
    let start_time = Utc::now();
    let log = Arc::new(LogBuffer::new(process::DEFAULT_LOG_CAPACITY));
    let shipper = tokio::spawn(ship_logs(client.clone(), name.clone(), uid.clone(), log.clone()));
    let queue = pod.spec.queue.as_ref().map(|q| tasks::QueuePod::new(q.clone(), pod, recheck));
    let spec = container::Spec {
        worker: config.name.clone(),
        on_failure: pod.spec.restart_policy.as_deref() == Some("OnFailure"),
        queue: match &queue {
            None => container::Queue::None,
            Some(q) if q.drains() => container::Queue::Drain,
            Some(_) => container::Queue::Fixed,
        },
        handler: queue.as_ref().map_or(Handler::Exec, |q| q.handler()),
        active_deadline: pod.spec.active_deadline_seconds.map(|s| Duration::from_secs(s.max(0) as u64)),
        backoff_base: config.restart_backoff_base,
        backoff_max: config.restart_backoff_max,
    };
    let on_failure = spec.on_failure;
    let mut machine = container::Machine::new(spec, Instant::now());
    let volumes =
        crate::mounts::PodVolumes::create(dirs, pod).map_err(|e| format!("making the pod's volumes: {e}"));
    let mut reporter = Reporter {
        client,
        config,
        name,
        uid,
        start_time,
        container: &container,
        stop: &stop,
        init: crate::init::initial_statuses(&pod.spec.init_containers),
    };
    if !pod.spec.init_containers.is_empty() {
        let specs = pod
            .spec
            .init_containers
            .iter()
            .map(|c| ProcessSpec { root: crate::mounts::root_of(&volumes, c), ..process_spec(pod, c, None) })
            .collect();
        let run = crate::init::InitRun {
            supervisor,
            client,
            pod: name,
            uid,
            stop: &stop,
            drain_started: &drain.started,
            grace: &grace,
            deadline: machine.deadline(),
            on_failure,
            backoff_base: config.restart_backoff_base,
            backoff_max: config.restart_backoff_max,
        };
        let end = crate::init::run(&run, &pod.spec.init_containers, specs, &mut reporter).await;
        if end == crate::init::InitEnd::Failed {
            // The pod fails before its container starts (kubectl: Init:Error).
            log.close();
            let _ = shipper.await;
            let status = crate::init::failed_status(&reporter);
            report_until_acked(client, config, name, uid, status, &CancellationToken::new()).await;
            if let Ok(Some(v)) = volumes {
                v.remove();
            }
            return;
        }
    }
    let root = crate::mounts::root_of(&volumes, &container);
    let mut pod_run = PodRun {
        reporter,
        pod,
        stop: &stop,
        grace: &grace,
        drain,
        supervisor,
        log,
        shipper: Some(shipper),
        queue,
        task: None,
        running: None,
        stream: None,
        seen: Seen::default(),
        root,
    };
    let mut event = container::Event::Start;
    loop {
        for seen in pod_run.flags() {
            // (Recorded: the machine acts on them at its next decision.)
            let none = machine.step(seen, Instant::now());
            debug_assert!(none.is_empty(), "{none:?}");
        }
        let mut next = None;
        for action in machine.step(event, Instant::now()) {
            if let Some(answer) = pod_run.perform(action, &machine).await {
                next = Some(answer);
            }
        }
        match next {
            Some(answer) => event = answer,
            None => break,
        }
    }
    if let Ok(Some(v)) = volumes {
        v.remove();
    }
}

/// The pod's stop and the worker's drain, as already told to the pod's machine.
#[derive(Default)]
struct Seen {
    stop: bool,
    drain: bool,
    cut: bool,
}

/// The executor of one pod's [`container::Machine`]: everything it performs, and what it holds.
struct PodRun<'a> {
    reporter: Reporter<'a>,
    pod: &'a Pod,
    stop: &'a CancellationToken,
    grace: &'a Mutex<Duration>,
    drain: &'a Drain,
    supervisor: &'a Supervisor,
    log: Arc<LogBuffer>,
    shipper: Option<tokio::task::JoinHandle<()>>,
    queue: Option<tasks::QueuePod>,
    /// The task the handler runs (a queue pod).
    task: Option<Task>,
    /// The `Exec` process, from its start until its exit.
    running: Option<RunningProcess>,
    /// The `Stream` handler's process: started before the first task, ended with the container.
    stream: Option<StreamProcess>,
    seen: Seen,
    /// The container's own root, when it mounts volumes.
    root: Option<process::ProcessRoot>,
}

impl PodRun<'_> {
    /// What changed in the pod's stop and the worker's drain since the last look.
    fn flags(&mut self) -> Vec<container::Event> {
        let mut out = Vec::new();
        if !self.seen.stop && self.stop.is_cancelled() {
            self.seen.stop = true;
            out.push(container::Event::Stop);
        }
        if !self.seen.drain && self.drain.started.is_cancelled() {
            self.seen.drain = true;
            out.push(container::Event::DrainStarted);
        }
        if !self.seen.cut && self.drain.cut.is_cancelled() {
            self.seen.cut = true;
            out.push(container::Event::DrainCut(self.drain.cut_reason.get().cloned()));
        }
        out
    }

    /// Performs one action of the machine; returns its answer, if it has one.
    async fn perform(
        &mut self,
        action: container::Action<Instant>,
        machine: &container::Machine<Instant>,
    ) -> Option<container::Event> {
        use container::{Action, Event, NoTask};
        let pod = self.pod;
        let container = self.reporter.container;
        Some(match action {
            Action::TakeTask => {
                let q = self.queue.as_mut().expect("a queue pod");
                match q.next_task(&self.reporter, self.stop, &self.drain.started, machine.deadline()).await {
                    tasks::Next::Task(task) => {
                        self.task = Some(task);
                        Event::TaskReady
                    }
                    tasks::Next::Drained => Event::NoTask(NoTask::Drained),
                    tasks::Next::Stopped => Event::NoTask(NoTask::Stopped),
                    tasks::Next::Draining => Event::NoTask(NoTask::Draining),
                    tasks::Next::DeadlineExceeded => Event::NoTask(NoTask::DeadlineExceeded),
                }
            }
            Action::GiveBack => {
                self.task = None;
                if let Some(q) = &mut self.queue {
                    q.give_back(&self.reporter).await;
                }
                Event::GivenBack
            }
            Action::Settle(exit) => {
                let q = self.queue.as_mut().expect("a queue pod");
                Event::Settled(q.settle(&exit, &self.reporter).await)
            }
            Action::Spawn => {
                let mut spec = process_spec(pod, container, self.task.as_ref());
                spec.root = self.root.clone();
                match self.supervisor.spawn_async(&spec, self.log.clone()).await {
                    Ok(p) => {
                        let started_at = p.started_at();
                        self.running = Some(p);
                        Event::Spawned(started_at)
                    }
                    Err(err) => Event::StartFailed(self.start_failed(&err)),
                }
            }
            Action::StartStream => {
                let mut spec = stream_spec(pod, container);
                spec.root = self.root.clone();
                match StreamProcess::start(self.supervisor, &spec, self.log.clone()).await {
                    Ok(s) => {
                        let started_at = s.process().started_at();
                        self.stream = Some(s);
                        Event::StreamStarted(started_at)
                    }
                    Err(err) => Event::StartFailed(self.start_failed(&err)),
                }
            }
            Action::RunStreamTask { deadline } => {
                let s = self.stream.as_mut().expect("the Stream process");
                let task = self.task.as_ref().expect("a task");
                // The tasks of the pod's batch that run next go ahead of their turn, a few at
                // a time.
                let next = match &self.queue {
                    Some(q) if s.wants_ahead() => q.upcoming(crate::stream::AHEAD_CHUNK),
                    _ => Vec::new(),
                };
                match run_stream_task(s, task, &next, self.stop, deadline, self.grace).await {
                    Ok((exit, why)) => Event::Exited(exit, why),
                    Err(Interrupted::Stopped) => Event::Interrupted,
                    Err(Interrupted::DeadlineExceeded) => Event::DeadlineReached,
                }
            }
            Action::RunNoop => Event::Exited(noop_exit(), None),
            Action::AwaitQuickExit { until } => {
                let running = self.running.as_ref().expect("a process");
                match tokio::time::timeout_at(until, running.wait()).await {
                    Ok(exit) => {
                        self.running = None;
                        Event::Exited(exit, None)
                    }
                    Err(_) => Event::StillRunning,
                }
            }
            Action::AwaitExit { deadline } => {
                let running = self.running.as_ref().expect("a process");
                match until_stopped(running.wait(), self.stop, deadline).await {
                    Ok(exit) => {
                        self.running = None;
                        Event::Exited(exit, None)
                    }
                    Err(Interrupted::Stopped) => Event::Interrupted,
                    Err(Interrupted::DeadlineExceeded) => Event::DeadlineReached,
                }
            }
            Action::Kill(why) => {
                let why = match why {
                    container::Kill::Stopped => Interrupted::Stopped,
                    container::Kill::DeadlineExceeded => Interrupted::DeadlineExceeded,
                };
                let exit = match (self.running.take(), &self.stream) {
                    (Some(p), _) => interrupt(&p, self.grace, why).await,
                    (None, Some(s)) => interrupt(s.process(), self.grace, why).await,
                    (None, None) => killed_before_start(),
                };
                Event::Exited(exit, None)
            }
            Action::ReportRunning { started_at, force } => {
                let last_state = machine.last_state().map(terminated_state);
                report_running(
                    &self.reporter,
                    &mut self.queue,
                    started_at,
                    &last_state,
                    machine.restarts(),
                    force,
                    self.stop,
                )
                .await;
                return None;
            }
            Action::ReportWaiting { delay } => {
                let waiting = crash_loop_back_off(delay);
                let last_state = machine.last_state().map(terminated_state);
                let counts = self.queue.as_ref().map(|q| q.counts());
                let status = self.reporter.status(
                    phase::RUNNING,
                    waiting,
                    last_state,
                    machine.restarts(),
                    false,
                    counts,
                );
                self.reporter.report(status, self.stop).await;
                Event::Reported
            }
            Action::SleepUntil(at) => {
                tokio::select! {
                    _ = tokio::time::sleep_until(at) => Event::BackOffElapsed,
                    _ = self.stop.cancelled() => Event::Interrupted,
                    _ = self.drain.started.cancelled() => Event::Interrupted,
                }
            }
            Action::EndStream { kill } => {
                if let Some(s) = self.stream.take() {
                    end_stream(s, kill, self.grace).await;
                }
                Event::StreamEnded
            }
            Action::FinishQueue => {
                if let Some(q) = &mut self.queue {
                    q.finish(None, &self.reporter).await;
                }
                Event::QueueFinished
            }
            Action::CloseLog { note } => {
                if let Some(why) = note {
                    self.log.append(format!("drover: {why}\n").as_bytes());
                }
                self.log.close();
                if let Some(shipper) = self.shipper.take() {
                    let _ = shipper.await;
                }
                Event::LogClosed
            }
            Action::ReportFinal(fin) => {
                let sent = report_until_acked(
                    self.reporter.client,
                    self.reporter.config,
                    self.reporter.name,
                    self.reporter.uid,
                    self.final_status(fin),
                    &CancellationToken::new(),
                )
                .await;
                Event::FinalReported(sent)
            }
            Action::FinishQueueAfterReport(sent) => {
                // Fixed completions: the success is recorded and reported first, then the task
                // is acked (a refused report requeues it instead).
                if let Some(q) = &mut self.queue {
                    q.finish(Some(sent), &self.reporter).await;
                }
                Event::QueueFinished
            }
        })
    }

    /// Logs a process that could not be started and returns its exit.
    fn start_failed(&self, err: &SpawnError) -> Exit {
        self.log.append(format!("drover: {err}\n").as_bytes());
        Exit::start_error(err)
    }

    /// The pod status of the machine's final decision.
    fn final_status(&self, fin: container::Final) -> PodStatus {
        let exit = match fin.exit {
            container::Ended::NotStarted => killed_before_start(),
            container::Ended::DeadlineNotStarted => {
                Exit { reason: ExitReason::DeadlineExceeded, ..killed_before_start() }
            }
            container::Ended::QueueDrained => drained_exit(),
            container::Ended::Exited(exit) => exit,
        };
        let counts = self.queue.as_ref().map(|q| q.counts());
        let mut status = self.reporter.status(
            fin.phase,
            terminated_state(&exit),
            fin.last_state.as_ref().map(terminated_state),
            fin.restarts,
            false,
            counts,
        );
        status.reason = fin.reason;
        status.message = fin.message;
        if let Some(why) = fin.disruption {
            // A disruption: the coordinator leaves it uncounted and the Job replaces it.
            status.conditions.push(PodCondition {
                type_: "DisruptionTarget".into(),
                status: "True".into(),
                reason: Some(REASON_WORKER_DRAINED.into()),
                message: Some(why),
                last_transition_time: Some(Utc::now()),
            });
        }
        status
    }
}

/// A container (or init container) waiting `delay` to restart after a failure.
pub(crate) fn crash_loop_back_off(delay: Duration) -> ContainerState {
    let message = format!("back-off {}s restarting failed container", delay.as_secs_f64());
    ContainerState {
        waiting: Some(StateWaiting { reason: "CrashLoopBackOff".into(), message: Some(message) }),
        ..Default::default()
    }
}

pub(crate) fn terminated_state(exit: &Exit) -> ContainerState {
    ContainerState { terminated: Some(terminated(exit)), ..Default::default() }
}

/// Builds pod statuses for one pod.
pub(crate) struct Reporter<'a> {
    pub(crate) client: &'a Client,
    pub(crate) config: &'a AgentConfig,
    pub(crate) name: &'a str,
    pub(crate) uid: &'a str,
    start_time: Time,
    container: &'a drover_api::Container,
    /// The pod's stop token, cancelled when the coordinator refuses a report.
    pub(crate) stop: &'a CancellationToken,
    /// The init containers' statuses, sent with every report (see [`crate::init`]).
    pub(crate) init: Vec<ContainerStatus>,
}

impl Reporter<'_> {
    pub(crate) fn status(
        &self,
        phase: &str,
        state: ContainerState,
        last_state: Option<ContainerState>,
        restarts: i32,
        ready: bool,
        tasks: Option<drover_api::TaskCounts>,
    ) -> PodStatus {
        let mut s = status(phase, self.start_time, self.container, state, last_state, restarts, ready);
        s.tasks = tasks;
        s.init_container_statuses = self.init.clone();
        s
    }

    /// Reports `status`, retrying until the coordinator answers or `give_up` is cancelled. A
    /// refusal means the pod is not this worker's any more (un-bound by a drain, failed, gone):
    /// the pod is stopped, and its task requeued.
    pub(crate) async fn report(&self, status: PodStatus, give_up: &CancellationToken) {
        let sent = report_until_acked(self.client, self.config, self.name, self.uid, status, give_up).await;
        if sent == Sent::Refused && !self.stop.is_cancelled() {
            tracing::info!(pod = %self.name, "The coordinator refused a report: the pod is no longer this worker's; stopping it");
            self.stop.cancel();
        }
    }
}

fn killed_before_start() -> Exit {
    let now = Utc::now();
    Exit { code: 137, signal: None, started_at: now, finished_at: now, reason: ExitReason::Killed }
}

/// A draining pod that found the queue empty everywhere exits 0.
fn drained_exit() -> Exit {
    let now = Utc::now();
    Exit { code: 0, signal: None, started_at: now, finished_at: now, reason: ExitReason::Completed }
}

/// The `Noop` handler: the task succeeds at once, without a process.
fn noop_exit() -> Exit {
    drained_exit()
}

/// Reports the container Running, started at `started_at`. A draining pod reports Running once
/// (and again with `force`, for a new `Stream` process); per task it only reports its counts, at
/// most once a second.
async fn report_running(
    reporter: &Reporter<'_>,
    queue: &mut Option<tasks::QueuePod>,
    started_at: Time,
    last_state: &Option<ContainerState>,
    restarts: i32,
    force: bool,
    stop: &CancellationToken,
) {
    if !force && !queue.as_mut().is_none_or(|q| q.should_report()) {
        return;
    }
    let state =
        ContainerState { running: Some(StateRunning { started_at: Some(started_at) }), ..Default::default() };
    let counts = queue.as_ref().map(|q| q.counts());
    let status = reporter.status(phase::RUNNING, state, last_state.clone(), restarts, true, counts);
    reporter.report(status, stop).await;
}

/// Why a handler was interrupted.
pub(crate) enum Interrupted {
    /// The pod is being stopped (deleted, or the agent shuts down).
    Stopped,
    /// The pod's `activeDeadlineSeconds` passed.
    DeadlineExceeded,
}

/// Runs `work` to its end, unless the pod is stopped or its deadline passes first.
async fn until_stopped<T>(
    work: impl std::future::Future<Output = T>,
    stop: &CancellationToken,
    deadline: Option<Instant>,
) -> Result<T, Interrupted> {
    tokio::select! {
        r = work => Ok(r),
        _ = stop.cancelled() => Err(Interrupted::Stopped),
        _ = sleep_until_opt(deadline) => Err(Interrupted::DeadlineExceeded),
    }
}

/// Stops `process` (SIGTERM, then SIGKILL after the grace period) because of `why`.
pub(crate) async fn interrupt(process: &RunningProcess, grace: &Mutex<Duration>, why: Interrupted) -> Exit {
    let mut exit = process.terminate_with_grace(grace_of(grace)).await;
    if let Interrupted::DeadlineExceeded = why {
        exit.reason = ExitReason::DeadlineExceeded;
    }
    exit
}

fn grace_of(grace: &Mutex<Duration>) -> Duration {
    *grace.lock().unwrap_or_else(|p| p.into_inner())
}

/// Runs one task through the `Stream` process (see [`crate::tasks`] for the protocol).
/// Returns the exit to settle the task with: a success, a task failure (code 1), or the
/// process's own exit when it ended with the task in flight; and, for a failure, why. The pod's
/// stop or its deadline interrupts it (the caller then stops the process).
async fn run_stream_task(
    s: &mut StreamProcess,
    task: &Task,
    next: &[&Task],
    stop: &CancellationToken,
    deadline: Option<Instant>,
    grace: &Mutex<Duration>,
) -> Result<(Exit, Option<String>), Interrupted> {
    let started_at = Utc::now();
    let log = s.process().log().clone();
    let failed = |why: String| {
        log.append(format!("drover: {why}\n").as_bytes());
        let exit =
            Exit { code: 1, signal: None, started_at, finished_at: Utc::now(), reason: ExitReason::Error };
        (exit, Some(why))
    };
    if task.body.contains(&b'\n') {
        return Ok(failed(format!(
            "task {} refused: the Stream handler takes one task per line, and its body contains a newline",
            task.id
        )));
    }
    let next: Vec<_> = next.iter().map(|task| stream_line(task)).collect();
    Ok(match until_stopped(s.run_ahead(stream_line(task), &next), stop, deadline).await? {
        StreamResult::Ok => {
            let exit = Exit {
                code: 0,
                signal: None,
                started_at,
                finished_at: Utc::now(),
                reason: ExitReason::Completed,
            };
            (exit, None)
        }
        StreamResult::Failed(line) => failed(format!("task {} failed: {line}", task.id)),
        StreamResult::Exited => {
            let mut exit = s.close(grace_of(grace)).await;
            // With a task in flight, even an exit 0 (or closing stdout) is a failure.
            if matches!(exit.reason, ExitReason::Completed | ExitReason::Killed) {
                exit.reason = ExitReason::Error;
            }
            let why = format!(
                "the stream process exited with code {} while task {} was in flight",
                exit.code, task.id
            );
            log.append(format!("drover: {why}\n").as_bytes());
            (exit, Some(why))
        }
    })
}

/// A task as the `Stream` process gets it: keyed by its delivery.
fn stream_line(task: &Task) -> crate::stream::Line<'_> {
    crate::stream::Line { key: &task.receipt, body: &task.body }
}

/// Ends the `Stream` process with its container: stopped with the grace period if the pod is
/// being stopped (`kill`), else its stdin is closed and it gets the grace period to exit.
async fn end_stream(mut s: StreamProcess, kill: bool, grace: &Mutex<Duration>) {
    let running = s.process().try_exit().is_none();
    let exit = if kill {
        s.process().terminate_with_grace(grace_of(grace)).await
    } else {
        s.close(grace_of(grace)).await
    };
    if running && !kill && !exit.success() {
        let msg =
            format!("drover: the stream process exited with code {} at the end of its input\n", exit.code);
        s.process().log().append(msg.as_bytes());
    }
}

/// The `Stream` handler's process: the container's command, interactive, with the pod's env and
/// `DROVER_HANDLER=Stream` (tasks arrive on stdin, so no `DROVER_TASK`).
fn stream_spec(pod: &Pod, container: &drover_api::Container) -> ProcessSpec {
    let mut spec = process_spec(pod, container, None);
    spec.env.push(("DROVER_HANDLER".into(), "Stream".into()));
    spec.interactive = true;
    spec
}

fn process_spec(
    pod: &Pod,
    container: &drover_api::Container,
    task: Option<&drover_queue::Task>,
) -> ProcessSpec {
    let mut argv: Vec<String> = container.command.iter().chain(container.args.iter()).cloned().collect();
    let program = if argv.is_empty() { "true".to_string() } else { argv.remove(0) };
    let mut env: Vec<(String, String)> =
        container.env.iter().map(|e| (e.name.clone(), e.value.clone())).collect();
    env.push(("POD_NAME".into(), pod.metadata.name.clone()));
    if let Some(job) = pod.metadata.controller_ref() {
        env.push(("JOB_NAME".into(), job.name.clone()));
    }
    // A container's `HOSTNAME` is its pod's `spec.hostname` (an Indexed Job's pod has
    // `<job>-<index>`), unless the container's `env` sets it. Only the variable: the process
    // shares its worker's host name (`uname -n`), as it shares its network.
    if let Some(host) = pod.spec.hostname.as_deref().filter(|h| !h.is_empty())
        && !env.iter().any(|(name, _)| name == "HOSTNAME")
    {
        env.push(("HOSTNAME".into(), host.to_owned()));
    }
    // A queue pod's task reaches the command on stdin, and in DROVER_TASK if it fits there,
    // else in the file named by DROVER_TASK_FILE (see `crate::pod_env`).
    let mut stdin_file_env = None;
    if let Some(task) = task {
        match crate::pod_env::task_env(&task.body) {
            Some(text) => env.push(("DROVER_TASK".into(), text.to_owned())),
            None => stdin_file_env = Some("DROVER_TASK_FILE".into()),
        }
        env.push(("DROVER_TASK_ID".into(), task.id.clone()));
    }
    ProcessSpec {
        program,
        args: argv,
        env,
        working_dir: container.working_dir.as_ref().map(Into::into),
        stdin: task.map(|t| t.body.clone()),
        stdin_file_env,
        // One log for the pod's whole life: restarts and tasks append to it.
        keep_log_open: true,
        interactive: false,
        root: None,
    }
}

fn terminated(exit: &Exit) -> StateTerminated {
    StateTerminated {
        exit_code: exit.code,
        signal: exit.signal,
        reason: match exit.reason {
            ExitReason::Completed => "Completed".into(),
            ExitReason::DeadlineExceeded => "DeadlineExceeded".into(),
            ExitReason::StartError(_) => "StartError".into(),
            _ => "Error".into(),
        },
        message: match &exit.reason {
            ExitReason::StartError(m) => Some(m.clone()),
            _ => None,
        },
        started_at: Some(exit.started_at),
        finished_at: Some(exit.finished_at),
    }
}

fn status(
    phase: &str,
    start_time: Time,
    container: &drover_api::Container,
    state: ContainerState,
    last_state: Option<ContainerState>,
    restarts: i32,
    ready: bool,
) -> PodStatus {
    let now = Utc::now();
    PodStatus {
        phase: phase.to_string(),
        conditions: vec![PodCondition {
            type_: "Ready".into(),
            status: if ready { "True" } else { "False" }.into(),
            reason: None,
            message: None,
            last_transition_time: Some(now),
        }],
        reason: None,
        message: None,
        start_time: Some(start_time),
        tasks: None,
        init_container_statuses: Vec::new(),
        container_statuses: vec![ContainerStatus {
            name: container.name.clone(),
            state,
            last_state,
            ready,
            restart_count: restarts,
            image: container.image.clone(),
            image_id: String::new(),
        }],
    }
}

/// How a status report ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sent {
    Acked,
    /// 409 or 404: the pod is not bound here, already finished, or gone.
    Refused,
    GaveUp,
}

/// Sends a status report, retrying while the coordinator is unreachable. Gives up on a
/// refusal (the pod is gone or terminal there, or bound elsewhere) or when `give_up` is
/// cancelled.
async fn report_until_acked(
    client: &Client,
    config: &AgentConfig,
    name: &str,
    uid: &str,
    status: PodStatus,
    give_up: &CancellationToken,
) -> Sent {
    let report = StatusReport { uid: uid.to_string(), worker: config.name.clone(), status };
    let mut delay = Backoff::new(Duration::from_millis(50), Duration::from_secs(2));
    loop {
        match client.report_status(name, &report).await {
            Ok(_) => return Sent::Acked,
            Err(err) if err.is_refused_pod() => {
                tracing::debug!(pod = %name, error = %err, "Status report refused");
                return Sent::Refused;
            }
            Err(err) => {
                tracing::debug!(pod = %name, error = %err, "Status report failed; retrying");
            }
        }
        tokio::select! {
            _ = give_up.cancelled() => return Sent::GaveUp,
            _ = tokio::time::sleep(delay.next_delay()) => {}
        }
    }
}

/// Ships a pod's log to the coordinator as it grows, until the log is closed and flushed.
async fn ship_logs(client: Client, name: String, uid: String, log: Arc<LogBuffer>) {
    ship_container_logs(client, name, uid, None, log).await;
}

/// Ships `log` to the log of the pod's init container `container` (`None`: the pod's own).
pub(crate) async fn ship_container_logs(
    client: Client,
    name: String,
    uid: String,
    container: Option<String>,
    log: Arc<LogBuffer>,
) {
    let mut offset = 0u64;
    loop {
        let (bytes, next) = log.read_from(offset);
        if !bytes.is_empty() {
            let start = next - bytes.len() as u64;
            let mut delay = Backoff::new(Duration::from_millis(50), Duration::from_secs(2));
            for _ in 0..20 {
                match client
                    .append_container_log(&name, &uid, container.as_deref(), start, bytes.clone())
                    .await
                {
                    Ok(()) => break,
                    Err(ClientError::Api { .. }) => break,
                    Err(_) => {
                        tokio::time::sleep(delay.next_delay()).await;
                    }
                }
            }
            offset = next;
            continue;
        }
        if log.is_closed() && log.end_offset() <= offset {
            return;
        }
        log.changed(offset).await;
    }
}

pub(crate) async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

fn hostname() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname").ok().map(|s| s.trim().to_string())
}

fn uuid_like() -> String {
    format!("{:x}-{:x}", std::process::id(), Utc::now().timestamp_nanos_opt().unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
    use tokio::sync::mpsc;

    /// One request the fake coordinator received: method, path, JSON body.
    type Request = (String, String, serde_json::Value);

    /// A coordinator that answers every request `200 {}`, or `409` to status reports when
    /// `refuse_reports`, and passes each request on.
    async fn fake_coordinator(refuse_reports: bool) -> (String, mpsc::UnboundedReceiver<Request>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                let tx = tx.clone();
                tokio::spawn(async move {
                    let (r, mut w) = sock.into_split();
                    let mut r = BufReader::new(r);
                    loop {
                        let mut line = String::new();
                        if r.read_line(&mut line).await.unwrap_or(0) == 0 {
                            return;
                        }
                        let mut words = line.split_whitespace();
                        let method = words.next().unwrap_or_default().to_string();
                        let path = words.next().unwrap_or_default().to_string();
                        let mut len = 0;
                        loop {
                            let mut header = String::new();
                            if r.read_line(&mut header).await.unwrap_or(0) == 0 {
                                return;
                            }
                            let header = header.trim_end();
                            if header.is_empty() {
                                break;
                            }
                            if let Some((k, v)) = header.split_once(':')
                                && k.eq_ignore_ascii_case("content-length")
                            {
                                len = v.trim().parse().unwrap();
                            }
                        }
                        let mut body = vec![0; len];
                        r.read_exact(&mut body).await.unwrap();
                        let (status, reply) = if refuse_reports && path.ends_with("/status") {
                            (
                                "409 Conflict",
                                r#"{"kind":"Status","code":409,"reason":"Conflict","message":"stale"}"#,
                            )
                        } else {
                            ("200 OK", "{}")
                        };
                        let body = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
                        let _ = tx.send((method, path, body));
                        let head = format!(
                            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                            reply.len()
                        );
                        if w.write_all(format!("{head}{reply}").as_bytes()).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        (url, rx)
    }

    fn config(url: &str) -> AgentConfig {
        AgentConfig {
            coordinator: url.into(),
            name: "w1".into(),
            slots: 1,
            heartbeat_interval: Duration::from_secs(1),
            restart_backoff_base: Duration::from_millis(10),
            restart_backoff_max: Duration::from_millis(10),
            token: None,
            ca_pem: None,
            drain_timeout: Duration::from_secs(30),
            idle_memory_release: None,
        }
    }

    fn pod(script: &str, restart: &str) -> Pod {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p", "uid": "u1"},
            "spec": {
                "containers": [{"name": "c", "command": ["sh", "-c", script]}],
                "restartPolicy": restart,
                "terminationGracePeriodSeconds": 1,
                "nodeName": "w1",
            },
        }))
        .unwrap()
    }

    /// Runs the pod to its end (bounded) and returns the status reports it sent, in order.
    async fn run(
        client: &Client,
        config: &AgentConfig,
        pod: &Pod,
        drain: &Drain,
        requests: &mut mpsc::UnboundedReceiver<Request>,
    ) -> Vec<PodStatus> {
        let grace = Arc::new(Mutex::new(Duration::from_secs(1)));
        let stop = drain.cut.child_token();
        tokio::time::timeout(
            Duration::from_secs(10),
            run_pod(client, config, pod, PodSignals::new(stop, grace), drain, &Supervisor::new(), None),
        )
        .await
        .expect("the pod ended");
        let mut reports = Vec::new();
        while let Ok((method, path, body)) = requests.try_recv() {
            if method == "PUT" && path.ends_with("/status") {
                reports.push(serde_json::from_value::<StatusReport>(body).unwrap().status);
            }
        }
        reports
    }

    fn is_worker_drained(s: &PodStatus) -> bool {
        s.phase == phase::FAILED
            && s.reason.as_deref() == Some(REASON_WORKER_DRAINED)
            && s.conditions.iter().any(|c| c.type_ == "DisruptionTarget" && c.status == "True")
    }

    #[tokio::test]
    async fn a_refused_report_stops_the_pod() {
        let (url, mut requests) = fake_coordinator(true).await;
        let config = config(&url);
        let client = Client::new(&url);
        let dir = std::env::temp_dir().join(format!("drover-agent-refused-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let pidfile = dir.join("pid");
        let pod = pod(&format!("echo $$ > {}; exec sleep 60", pidfile.display()), "Never");
        let started = std::time::Instant::now();
        let reports = run(&client, &config, &pod, &Drain::new(), &mut requests).await;
        // `run_pod` ends only once the process has exited: it was stopped, not run to its end.
        assert!(started.elapsed() < Duration::from_secs(8), "the pod ran on");
        assert_eq!(reports.first().map(|s| s.phase.as_str()), Some(phase::RUNNING), "{reports:#?}");
        assert_eq!(reports.last().map(|s| s.phase.as_str()), Some(phase::FAILED), "{reports:#?}");
        // (The stop may come before the shell wrote its pid.)
        if let Ok(pid) = std::fs::read_to_string(&pidfile) {
            let pid = nix::unistd::Pid::from_raw(pid.trim().parse().unwrap());
            assert!(nix::sys::signal::kill(pid, None).is_err(), "the process is gone");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn a_draining_worker_starts_no_pod_and_reports_it_worker_drained() {
        let (url, mut requests) = fake_coordinator(false).await;
        let config = config(&url);
        let client = Client::new(&url);
        let dir = std::env::temp_dir().join(format!("drover-agent-unstarted-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ran = dir.join("ran");
        let drain = Drain::new();
        drain.started.cancel();
        let reports =
            run(&client, &config, &pod(&format!("touch {}", ran.display()), "Never"), &drain, &mut requests)
                .await;
        assert!(!ran.exists(), "the pod's command never ran");
        assert_eq!(reports.len(), 1, "{reports:#?}");
        assert!(is_worker_drained(&reports[0]), "{:#?}", reports[0]);
        assert!(
            reports[0].message.as_deref().unwrap_or_default().contains("not started"),
            "{:#?}",
            reports[0]
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn a_failed_container_is_not_restarted_during_a_drain() {
        let (url, mut requests) = fake_coordinator(false).await;
        let config = config(&url);
        let client = Client::new(&url);
        let dir = std::env::temp_dir().join(format!("drover-agent-norestart-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let runs = dir.join("runs");
        let drain = Drain::new();
        // Fails on its own after the drain began (OnFailure would restart it).
        let script = format!("echo run >> {}; sleep 0.5; exit 3", runs.display());
        let pod = pod(&script, "OnFailure");
        let grace = Arc::new(Mutex::new(Duration::from_secs(1)));
        let supervisor = Supervisor::new();
        let runner = run_pod(
            &client,
            &config,
            &pod,
            PodSignals::new(drain.cut.child_token(), grace),
            &drain,
            &supervisor,
            None,
        );
        let mut reports = Vec::new();
        let drain_when_running = async {
            while let Some((method, path, body)) = requests.recv().await {
                if method == "PUT" && path.ends_with("/status") {
                    let status = serde_json::from_value::<StatusReport>(body).unwrap().status;
                    if status.phase == phase::RUNNING {
                        drain.started.cancel();
                    }
                    reports.push(status);
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(10), async {
            tokio::select! {
                _ = runner => {}
                _ = drain_when_running => unreachable!("the fake coordinator stopped"),
            }
        })
        .await
        .expect("the pod ended");
        while let Ok((method, path, body)) = requests.try_recv() {
            if method == "PUT" && path.ends_with("/status") {
                reports.push(serde_json::from_value::<StatusReport>(body).unwrap().status);
            }
        }
        assert_eq!(std::fs::read_to_string(&runs).unwrap(), "run\n", "ran once, not restarted");
        let last = reports.last().expect("a final report");
        assert!(is_worker_drained(last), "{last:#?}");
        let terminated = last.container_statuses[0].state.terminated.as_ref().expect("terminated");
        assert_eq!(terminated.exit_code, 3, "the container's own exit is kept");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_pod_with_a_hostname_gets_it_in_hostname_unless_its_env_sets_it() {
        let container = drover_api::Container { name: "c".into(), ..Default::default() };
        let mut pod = Pod::default();
        pod.metadata.name = "indexed-job-3-x1y2z".into();
        let env_of = |pod: &Pod, container: &drover_api::Container| process_spec(pod, container, None).env;
        assert!(!env_of(&pod, &container).iter().any(|(k, _)| k == "HOSTNAME"), "no hostname, no HOSTNAME");
        pod.spec.hostname = Some("indexed-job-3".into());
        let env = env_of(&pod, &container);
        assert_eq!(
            env.iter().filter(|(k, _)| k == "HOSTNAME").collect::<Vec<_>>(),
            [&("HOSTNAME".to_string(), "indexed-job-3".to_string())]
        );
        let mut own = container.clone();
        own.env.push(drover_api::EnvVar { name: "HOSTNAME".into(), value: "mine".into() });
        let env = env_of(&pod, &own);
        assert_eq!(
            env.iter().filter(|(k, _)| k == "HOSTNAME").map(|(_, v)| v.as_str()).collect::<Vec<_>>(),
            ["mine"]
        );
    }
}
