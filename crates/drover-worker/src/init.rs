//! A pod's init containers, run one after the other before its container, as the kubelet runs
//! them.
//!
//! - Each runs to its exit, with the pod's environment (`JOB_COMPLETION_INDEX`, `HOSTNAME`, its
//!   own `env`), its own `volumeMounts`, and its output in a log of its own (`drover logs POD
//!   -c NAME`, kubectl's `-c`), kept with the pod's.
//! - A success starts the next one; after the last, the pod's container machine
//!   ([`crate::container`]) takes over.
//! - A failure under `restartPolicy: OnFailure` restarts the same init container after the
//!   kubelet-style back-off (`Init:CrashLoopBackOff`, its `restartCount` counted); under
//!   `Never` it fails the pod: phase `Failed`, the init container's terminated state in
//!   `initContainerStatuses` (kubectl shows `Init:Error`), the container left waiting with reason
//!   `PodInitializing`. The Job controller counts it as any failed pod, and podFailurePolicy's
//!   `onExitCodes` sees its exit code.
//! - The pod's stop, the worker's drain or the pod's `activeDeadlineSeconds` stop the running
//!   init container (SIGTERM, the grace period, SIGKILL) or cut its back-off short; the
//!   container machine then ends the pod as it ends a pod that has not started (stopped,
//!   `WorkerDrained`, `DeadlineExceeded`).
//!
//! While they run the pod reports phase `Pending` with its `initContainerStatuses` (kubectl
//! shows `Init:0/1`). What to do after an exit is the pure [`after_exit`]; [`run`] performs it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use drover_api::pod::{ContainerState, ContainerStatus, StateRunning, StateWaiting, phase};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::agent::Reporter;
use crate::container::restart_delay;
use crate::process::{Exit, LogBuffer, ProcessSpec, Supervisor};

/// The waiting reason of a container whose pod's init containers have not all succeeded.
pub(crate) const POD_INITIALIZING: &str = "PodInitializing";

/// What follows an init container's exit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Next {
    /// It succeeded: the next init container, or the pod's container.
    Continue,
    /// It failed under `OnFailure`: run it again after this delay.
    Restart(Duration),
    /// It failed under `Never`: the pod fails.
    FailPod,
}

/// What follows an init container's exit, `restarts` being its restarts so far.
pub(crate) fn after_exit(
    success: bool,
    on_failure: bool,
    restarts: i32,
    base: Duration,
    max: Duration,
) -> Next {
    match (success, on_failure) {
        (true, _) => Next::Continue,
        (false, true) => Next::Restart(restart_delay(base, max, restarts + 1)),
        (false, false) => Next::FailPod,
    }
}

/// How the init containers ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum InitEnd {
    /// All succeeded (or there are none): the container starts.
    Done,
    /// One failed under `Never`: the pod fails; the statuses say which.
    Failed,
    /// The pod's stop, the drain or the deadline came first: nothing more starts.
    Interrupted,
}

/// What [`run`] needs of the pod and its worker.
pub(crate) struct InitRun<'a> {
    pub(crate) supervisor: &'a Supervisor,
    pub(crate) client: &'a drover_client::Client,
    /// The pod's name and uid, for the init containers' logs.
    pub(crate) pod: &'a str,
    pub(crate) uid: &'a str,
    pub(crate) stop: &'a CancellationToken,
    pub(crate) drain_started: &'a CancellationToken,
    pub(crate) grace: &'a Mutex<Duration>,
    /// The pod's `activeDeadlineSeconds`, as an instant.
    pub(crate) deadline: Option<Instant>,
    pub(crate) on_failure: bool,
    pub(crate) backoff_base: Duration,
    pub(crate) backoff_max: Duration,
}

/// The statuses before anything ran: every init container waiting `PodInitializing`.
pub(crate) fn initial_statuses(containers: &[drover_api::Container]) -> Vec<ContainerStatus> {
    containers.iter().map(|c| container_status(c, waiting(POD_INITIALIZING, None), None, 0)).collect()
}

pub(crate) fn waiting(reason: &str, message: Option<String>) -> ContainerState {
    ContainerState { waiting: Some(StateWaiting { reason: reason.into(), message }), ..Default::default() }
}

fn container_status(
    c: &drover_api::Container,
    state: ContainerState,
    last_state: Option<ContainerState>,
    restarts: i32,
) -> ContainerStatus {
    ContainerStatus {
        name: c.name.clone(),
        state,
        last_state,
        ready: false,
        restart_count: restarts,
        image: c.image.clone(),
        image_id: String::new(),
    }
}

enum Outcome {
    Exited(Exit),
    Interrupted(crate::agent::Interrupted),
}

/// Runs the init containers `specs` (each with its process spec), keeping `statuses` (one per
/// init container) and reporting them through `reporter`.
pub(crate) async fn run(
    r: &InitRun<'_>,
    containers: &[drover_api::Container],
    specs: Vec<ProcessSpec>,
    reporter: &mut Reporter<'_>,
) -> InitEnd {
    for (i, (container, spec)) in containers.iter().zip(specs).enumerate() {
        // Its own log (`drover logs POD -c NAME`), shipped until it ends, restarts included.
        let log = Arc::new(LogBuffer::new(crate::process::DEFAULT_LOG_CAPACITY));
        let shipper = tokio::spawn(crate::agent::ship_container_logs(
            r.client.clone(),
            r.pod.to_owned(),
            r.uid.to_owned(),
            Some(container.name.clone()),
            log.clone(),
        ));
        let end = run_one(r, i, container, &spec, &log, reporter).await;
        log.close();
        let _ = shipper.await;
        if let Some(end) = end {
            return end;
        }
    }
    InitEnd::Done
}

/// Runs init container `i` until it succeeded (`None`), failed under Never or was interrupted.
async fn run_one(
    r: &InitRun<'_>,
    i: usize,
    container: &drover_api::Container,
    spec: &ProcessSpec,
    log: &Arc<LogBuffer>,
    reporter: &mut Reporter<'_>,
) -> Option<InitEnd> {
    let mut restarts = 0;
    let mut last_state = None;
    loop {
        if r.stop.is_cancelled()
            || r.drain_started.is_cancelled()
            || r.deadline.is_some_and(|d| Instant::now() >= d)
        {
            return Some(InitEnd::Interrupted);
        }
        let exit = match r.supervisor.spawn_async(spec, log.clone()).await {
            Ok(process) => {
                let running = ContainerState {
                    running: Some(StateRunning { started_at: Some(process.started_at()) }),
                    ..Default::default()
                };
                reporter.init[i] = container_status(container, running, last_state.clone(), restarts);
                report_pending(reporter).await;
                let outcome = tokio::select! {
                    exit = process.wait() => Outcome::Exited(exit),
                    _ = r.stop.cancelled() => Outcome::Interrupted(crate::agent::Interrupted::Stopped),
                    _ = r.drain_started.cancelled() => Outcome::Interrupted(crate::agent::Interrupted::Stopped),
                    _ = crate::agent::sleep_until_opt(r.deadline) => {
                        Outcome::Interrupted(crate::agent::Interrupted::DeadlineExceeded)
                    }
                };
                match outcome {
                    Outcome::Exited(exit) => exit,
                    Outcome::Interrupted(why) => {
                        let exit = crate::agent::interrupt(&process, r.grace, why).await;
                        reporter.init[i] = container_status(
                            container,
                            crate::agent::terminated_state(&exit),
                            last_state,
                            restarts,
                        );
                        return Some(InitEnd::Interrupted);
                    }
                }
            }
            Err(err) => {
                log.append(format!("drover: {err}\n").as_bytes());
                Exit::start_error(&err)
            }
        };
        let ended = crate::agent::terminated_state(&exit);
        match after_exit(exit.success(), r.on_failure, restarts, r.backoff_base, r.backoff_max) {
            Next::Continue => {
                reporter.init[i] = container_status(container, ended, last_state, restarts);
                return None;
            }
            Next::FailPod => {
                reporter.init[i] = container_status(container, ended, last_state, restarts);
                return Some(InitEnd::Failed);
            }
            Next::Restart(delay) => {
                restarts += 1;
                last_state = Some(ended);
                reporter.init[i] = container_status(
                    container,
                    crate::agent::crash_loop_back_off(delay),
                    last_state.clone(),
                    restarts,
                );
                report_pending(reporter).await;
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = r.stop.cancelled() => return Some(InitEnd::Interrupted),
                    _ = r.drain_started.cancelled() => return Some(InitEnd::Interrupted),
                    _ = crate::agent::sleep_until_opt(r.deadline) => return Some(InitEnd::Interrupted),
                }
            }
        }
    }
}

/// Reports the pod `Pending`, its container waiting `PodInitializing`, with the init
/// containers' statuses.
async fn report_pending(reporter: &Reporter<'_>) {
    let status = reporter.status(phase::PENDING, waiting(POD_INITIALIZING, None), None, 0, false, None);
    reporter.report(status, reporter.stop).await;
}

/// The final status of a pod whose init container failed under `Never`.
pub(crate) fn failed_status(reporter: &Reporter<'_>) -> drover_api::PodStatus {
    let mut status = reporter.status(phase::FAILED, waiting(POD_INITIALIZING, None), None, 0, false, None);
    if let Some(failed) =
        reporter.init.iter().find(|s| s.state.terminated.as_ref().is_some_and(|t| t.exit_code != 0))
    {
        let code = failed.state.terminated.as_ref().map_or(0, |t| t.exit_code);
        status.message = Some(format!("Init container {} failed with exit code {code}", failed.name));
    }
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_follows_an_exit() {
        let (base, max) = (Duration::from_secs(10), Duration::from_secs(300));
        for (name, success, on_failure, restarts, want) in [
            ("a success under Never", true, false, 0, Next::Continue),
            ("a success under OnFailure, after restarts", true, true, 3, Next::Continue),
            ("a failure under Never fails the pod", false, false, 0, Next::FailPod),
            ("the first failure under OnFailure: the base delay", false, true, 0, Next::Restart(base)),
            ("the third: doubled twice", false, true, 2, Next::Restart(Duration::from_secs(40))),
            ("capped", false, true, 10, Next::Restart(max)),
        ] {
            assert_eq!(after_exit(success, on_failure, restarts, base, max), want, "{name}");
        }
    }

    #[test]
    fn every_init_container_waits_at_first() {
        let c = |n: &str| drover_api::Container { name: n.into(), ..Default::default() };
        let statuses = initial_statuses(&[c("a"), c("b")]);
        assert_eq!(statuses.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), ["a", "b"]);
        assert!(statuses.iter().all(|s| s.state.waiting.as_ref().unwrap().reason == POD_INITIALIZING));
    }
}
