//! Queue pods: the worker runtime takes, renews, acks and requeues tasks for the pod.
//!
//! # Expected flow
//! - **Fixed completions** (the Job sets `completions`): the pod takes exactly one task. While
//!   the queue is empty it waits, visibly: its container is `Waiting` with reason
//!   `WaitingForTask` (it neither hangs silently nor counts as a failure). The task reaches the
//!   command on stdin and in `DROVER_TASK` (`DROVER_TASK_ID` beside it). Exit 0: the pod's
//!   success is reported first, then the task is acked. Non-zero: the task is requeued and the
//!   pod fails (`Never`), or the process restarts with the same task still leased (`OnFailure`).
//! - **Drain until empty** (`completions` unset): the pod loops: take, run, ack. When a take
//!   finds nothing it reports the condition `QueueDrained=True` and exits 0 only when the queue
//!   has nothing ready, nothing is in flight (where the broker can tell), and every other active
//!   pod of the Job is drained too. A task requeued because another pod died is taken by a pod
//!   that is still waiting, so it is never stranded after the last pod exits. A pod not bound to
//!   a worker yet is not waited for: it holds no task, and runs this same loop once it starts
//!   (without this, pods replacing those of a drained worker, pending for want of a free slot,
//!   would keep the running pods waiting for them forever).
//!
//! # A drain of the worker
//! When the agent drains ([`crate::agent`]), a queue pod takes no new task:
//! - a draining pod finishes the task in hand (its command is stopped and the task requeued if
//!   the drain timeout passes first), acks it, and ends `Failed` with reason `WorkerDrained`
//!   (never `Succeeded`: in work-queue mode a success means the queue is done); one waiting for
//!   a task, or for the other pods, stops waiting at once ([`Next::Draining`]);
//! - a fixed-completion pod whose task runs finishes normally (success reported, then the ack);
//!   one still waiting for its task stops waiting and ends `WorkerDrained`;
//! - a task taken but not started yet (the take completed after the drain began) is handed back
//!   ([`QueuePod::give_back`]). A take in progress is not cancelled by the drain (it returns
//!   within its short wait), so nothing is left leased by a dropped request.
//!
//! # Handlers (`spec.queue.handler`)
//! - **`Exec`** (default): the container's command runs once per task, with the task body on
//!   stdin and in `DROVER_TASK` (`DROVER_TASK_ID` beside it); exit 0 is success.
//! - **`Noop`**: no process; every task succeeds at once (for measuring the queue path).
//! - **`Stream`**: one long-lived process per pod handles all of the pod's tasks, see below.
//!
//! # The `Stream` protocol
//! The pod starts its command once (before its first task) with the pod's env, `POD_NAME`,
//! `JOB_NAME` and `DROVER_HANDLER=Stream` (no `DROVER_TASK`: tasks arrive on stdin). Then, one
//! task at a time:
//! 1. The agent writes the task body followed by `\n` to the process's stdin. A body that
//!    itself contains `\n` cannot be framed and is refused: the task fails (and is requeued)
//!    without reaching the process, with `drover: task <id> refused: ...` in the pod log.
//! 2. The process answers exactly one line on stdout. `ok` (case-insensitive, surrounding
//!    whitespace ignored) is success: the task is acked. Any other line is a failure of that
//!    task, written to the pod log as `drover: task <id> failed: <line>`.
//!
//! stdout carries answers only (it is not in the pod log); the process logs on stderr, which is
//! in the pod log as usual. There is no per-task timeout beyond the pod's
//! `activeDeadlineSeconds`; stopping the pod (or its deadline) terminates the process with the
//! grace period, and the task in flight is requeued.
//!
//! A failed task is a failure of the pod's container, as a non-zero exit is for `Exec` (it is
//! reported as exit code 1, with the failure as the pod's message): the task is requeued, and
//! under `restartPolicy: Never` the pod fails; under `OnFailure` the process is
//! stopped and started again in place after the usual back-off. If the process exits, or closes
//! stdout, while a task is in flight, the task fails the same way and the process's exit is the
//! container's (an exit 0 counts as an error then). When the pod is done (the queue drained, or
//! its one task of a fixed-completion Job succeeded), the agent closes the process's stdin and
//! waits for it to exit, at most the pod's termination grace period, then kills it.
//!
//! # Guarantees
//! - At-least-once: a task leaves the queue only when acked after its command succeeded. A
//!   worker killed mid-task loses its connection (RabbitMQ requeues at once) or its lease
//!   (Redis requeues when the lease expires), and the task runs again elsewhere: duplicates are
//!   bounded by the tasks the dead worker held, one per slot.
//! - Task counts are exact: `succeeded` counts successful acks, so a task run twice because its
//!   lease was lost is counted once.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use drover_api::pod::{ContainerState, PodCondition, StateWaiting, phase};
use drover_api::{Pod, PodQueue, TaskCounts};
use drover_queue::{Queue, QueueError, Task};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::agent::Reporter;
use crate::process::{Exit, ExitReason};

/// The condition a draining pod reports once the queue looked empty to it.
pub(crate) const QUEUE_DRAINED: &str = "QueueDrained";

/// A queue pod's `spec.queue.handler`; see the module docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Handler {
    /// One process per task (and the only handler of a pod without a queue).
    Exec,
    /// One long-lived process per pod, one line per task each way.
    Stream,
    /// No process; every task succeeds.
    Noop,
}

/// What [`QueuePod::next_task`] found.
pub(crate) enum Next {
    /// A task to run.
    Task(Task),
    /// The queue is empty everywhere: a draining pod exits 0.
    Drained,
    /// The pod was stopped while waiting.
    Stopped,
    /// The worker drains: the pod takes no more tasks (a draining pod's last success is still
    /// pending its ack, which [`QueuePod::finish`] sends).
    Draining,
}

/// The queue side of one pod.
pub(crate) struct QueuePod {
    spec: PodQueue,
    lease: Duration,
    job: String,
    pod_name: String,
    queue: Option<Arc<dyn Queue>>,
    counts: TaskCounts,
    /// The fixed-completion pod's task: kept across OnFailure restarts and acked at the end.
    held: Option<Task>,
    /// A draining pod's last successful task, acked together with the next take (one round
    /// trip on Redis), or on its own when the pod ends.
    pending_ack: Option<Task>,
    lease_lost: Arc<AtomicBool>,
    waiting_reported: bool,
    drained_reported: bool,
    last_report: Option<Instant>,
}

impl QueuePod {
    pub(crate) fn new(spec: PodQueue, pod: &Pod) -> QueuePod {
        let lease = Duration::from_secs(spec.spec.lease_seconds.unwrap_or(30).max(1) as u64);
        QueuePod {
            spec,
            lease,
            job: pod.metadata.controller_ref().map(|r| r.name.clone()).unwrap_or_default(),
            pod_name: pod.metadata.name.clone(),
            queue: None,
            counts: TaskCounts::default(),
            held: None,
            pending_ack: None,
            lease_lost: Arc::new(AtomicBool::new(false)),
            waiting_reported: false,
            drained_reported: false,
            last_report: None,
        }
    }

    /// How the pod handles its tasks (`Exec` unless the Job says otherwise).
    pub(crate) fn handler(&self) -> Handler {
        match self.spec.spec.handler.as_deref() {
            Some("Noop") => Handler::Noop,
            Some("Stream") => Handler::Stream,
            _ => Handler::Exec,
        }
    }

    /// True when the pod drains the queue (completions unset).
    pub(crate) fn drains(&self) -> bool {
        self.spec.drain
    }

    pub(crate) fn counts(&self) -> TaskCounts {
        self.counts
    }

    /// The counts to report with the final status: a fixed-completion pod that succeeded
    /// reports its task as succeeded (it is acked right after the report).
    pub(crate) fn counts_at_end(&self, exit: &Exit) -> TaskCounts {
        let mut c = self.counts;
        if !self.spec.drain && exit.success() && self.held.is_some() {
            c.succeeded += 1;
        }
        c
    }

    /// Whether a Running report is due: always for a fixed-completion pod, at most once a second
    /// for a draining one.
    pub(crate) fn should_report(&mut self) -> bool {
        if !self.spec.drain {
            return true;
        }
        let due = self.last_report.is_none_or(|t| t.elapsed() >= Duration::from_secs(1));
        if due {
            self.last_report = Some(Instant::now());
        }
        due
    }

    /// The connection, made on first use. `None` when the pod is stopped or the worker drains
    /// before the broker could be reached.
    async fn connect(
        &mut self,
        reporter: &Reporter<'_>,
        stop: &CancellationToken,
        draining: &CancellationToken,
    ) -> Option<Arc<dyn Queue>> {
        let mut delay = Duration::from_millis(100);
        loop {
            if let Some(q) = &self.queue {
                return Some(q.clone());
            }
            match drover_queue::connect(&self.spec.spec.url, &self.spec.spec.name).await {
                Ok(q) => {
                    let q: Arc<dyn Queue> = Arc::from(q);
                    self.queue = Some(q.clone());
                    return Some(q);
                }
                Err(err) => {
                    tracing::warn!(pod = %self.pod_name, error = %err, "Cannot reach the queue; retrying");
                    self.report_waiting(reporter, "BrokerUnavailable", err.to_string(), stop).await;
                }
            }
            tokio::select! {
                _ = stop.cancelled() => return None,
                _ = draining.cancelled() => return None,
                _ = tokio::time::sleep(delay) => {}
            }
            delay = (delay * 2).min(Duration::from_secs(5));
        }
    }

    async fn report_waiting(
        &mut self,
        reporter: &Reporter<'_>,
        reason: &str,
        message: String,
        stop: &CancellationToken,
    ) {
        let state = ContainerState {
            waiting: Some(StateWaiting { reason: reason.into(), message: Some(message) }),
            ..Default::default()
        };
        let status = reporter.status(phase::RUNNING, state, None, 0, false, Some(self.counts));
        reporter.report(status, stop).await;
    }

    /// Waits for the next task. A fixed-completion pod restarting under OnFailure gets its
    /// held task again. Once `draining` is cancelled no new take starts; a take already under
    /// way completes (within its wait) and its task, if any, is returned: the caller, seeing the
    /// drain, hands it back.
    pub(crate) async fn next_task(
        &mut self,
        reporter: &Reporter<'_>,
        stop: &CancellationToken,
        draining: &CancellationToken,
    ) -> Next {
        if let Some(task) = &self.held {
            return Next::Task(task.clone());
        }
        // A draining pod checks the drain rule soon after the queue looks empty (so the Job ends
        // promptly), then less and less often while other pods are still busy.
        let mut wait = if self.spec.drain { Duration::from_millis(20) } else { Duration::from_millis(500) };
        loop {
            if draining.is_cancelled() {
                return Next::Draining;
            }
            let Some(q) = self.connect(reporter, stop, draining).await else {
                return if stop.is_cancelled() { Next::Stopped } else { Next::Draining };
            };
            let taken = match self.pending_ack.take() {
                // Not cancellable: the ack must land or fail, never be dropped half-way.
                Some(done) => {
                    let (acked, taken) = q.ack_and_take(&done, self.lease, wait).await;
                    self.count_ack(&done, acked);
                    if stop.is_cancelled() {
                        if let Ok(Some(task)) = &taken {
                            let _ = q.requeue(task).await;
                        }
                        return Next::Stopped;
                    }
                    taken
                }
                None => tokio::select! {
                    _ = stop.cancelled() => return Next::Stopped,
                    r = q.take(self.lease, wait) => r,
                },
            };
            match taken {
                Ok(Some(task)) => {
                    if self.drained_reported {
                        self.drained_reported = false;
                        self.report_drained(reporter, false, stop).await;
                    }
                    if !self.spec.drain {
                        self.held = Some(task.clone());
                    }
                    self.lease_lost.store(false, Ordering::SeqCst);
                    return Next::Task(task);
                }
                Ok(None) if self.spec.drain => {
                    if self.drained_everywhere(&q, reporter, stop).await {
                        return Next::Drained;
                    }
                    wait = (wait * 2).min(Duration::from_millis(500));
                }
                Ok(None) => {
                    if !self.waiting_reported {
                        self.waiting_reported = true;
                        let msg = format!("queue {} is empty; waiting for a task", self.spec.spec.name);
                        self.report_waiting(reporter, "WaitingForTask", msg, stop).await;
                    }
                }
                Err(err) => {
                    tracing::warn!(pod = %self.pod_name, error = %err, "Taking a task failed; reconnecting");
                    self.queue = None;
                }
            }
        }
    }

    /// The drain rule: nothing ready, nothing in flight (where the broker can tell), and every
    /// other active pod of the Job that is bound to a worker drained too (an unbound pod holds no
    /// task and checks the queue itself when it starts).
    async fn drained_everywhere(
        &mut self,
        q: &Arc<dyn Queue>,
        reporter: &Reporter<'_>,
        stop: &CancellationToken,
    ) -> bool {
        let Ok(stats) = q.stats().await else { return false };
        if stats.ready > 0 || stats.in_flight.unwrap_or(0) > 0 {
            return false;
        }
        if !self.drained_reported {
            self.drained_reported = true;
            self.report_drained(reporter, true, stop).await;
        }
        let selector = format!("batch.kubernetes.io/job-name={}", self.job);
        let Ok(pods) = reporter.client.list_pods(&selector).await else { return false };
        let others_drained = pods
            .iter()
            .filter(|p| p.metadata.name != self.pod_name && p.is_active() && p.node_name().is_some())
            .all(|p| p.condition_true(QUEUE_DRAINED));
        if !others_drained {
            return false;
        }
        // Check once more: a task may have been requeued while we looked at the pods.
        matches!(q.stats().await, Ok(s) if s.ready == 0 && s.in_flight.unwrap_or(0) == 0)
    }

    async fn report_drained(&mut self, reporter: &Reporter<'_>, drained: bool, stop: &CancellationToken) {
        let mut status = reporter.status(
            phase::RUNNING,
            ContainerState {
                waiting: Some(StateWaiting {
                    reason: if drained { "QueueDrained" } else { "Running" }.into(),
                    message: drained.then(|| "the queue is empty; waiting for the other pods".into()),
                }),
                ..Default::default()
            },
            None,
            0,
            true,
            Some(self.counts),
        );
        status.conditions.push(PodCondition {
            type_: QUEUE_DRAINED.into(),
            status: if drained { "True" } else { "False" }.into(),
            reason: None,
            message: None,
            last_transition_time: Some(chrono::Utc::now()),
        });
        reporter.report(status, stop).await;
    }

    /// Renews the task's lease while the handler runs; a lost lease is remembered so the task
    /// is not acked (it was returned to the queue and will run again).
    pub(crate) fn keep_leased(&self, task: Task) -> tokio::task::JoinHandle<()> {
        let q = self.queue.clone();
        let lease = self.lease;
        let lost = self.lease_lost.clone();
        let pod = self.pod_name.clone();
        tokio::spawn(async move {
            let Some(q) = q else { return };
            loop {
                tokio::time::sleep(lease / 3).await;
                match q.extend(&task, lease).await {
                    Ok(()) => {}
                    Err(QueueError::LeaseLost(_)) => {
                        tracing::warn!(%pod, task = %task.id, "Lease lost while the task ran; it will run again");
                        lost.store(true, Ordering::SeqCst);
                        return;
                    }
                    Err(err) => tracing::debug!(%pod, error = %err, "Lease renewal failed; retrying"),
                }
            }
        })
    }

    /// Settles a task after its handler ran. Returns true when a draining pod goes on to the
    /// next task. With `keep`, a failed task stays leased for an in-place restart.
    pub(crate) async fn settle(&mut self, task: &Task, exit: &Exit, keep: bool) -> bool {
        let lease_lost = self.lease_lost.swap(false, Ordering::SeqCst);
        let Some(q) = self.queue.clone() else { return false };
        if exit.success() {
            if !self.spec.drain {
                // Acked after the pod's success is recorded (`finish`).
                return false;
            }
            if lease_lost {
                self.counts.requeued += 1;
                return true;
            }
            // Acked with the next take (`next_task`), or by `finish`.
            self.pending_ack = Some(task.clone());
            return true;
        }
        let stopped = matches!(exit.reason, ExitReason::Killed | ExitReason::DeadlineExceeded);
        if !stopped {
            self.counts.failed += 1;
        }
        if keep && !lease_lost {
            return false;
        }
        self.held = None;
        if !lease_lost && let Err(err) = q.requeue(task).await {
            tracing::warn!(pod = %self.pod_name, task = %task.id, error = %err, "Requeue failed; the broker returns the task");
        }
        self.counts.requeued += 1;
        false
    }

    /// Hands back a task that was taken but never started (the worker began draining in
    /// between): it is requeued at once, neither failed nor held any more.
    pub(crate) async fn give_back(&mut self, task: &Task) {
        self.held = None;
        self.lease_lost.store(false, Ordering::SeqCst);
        let Some(q) = self.queue.clone() else { return };
        if let Err(err) = q.requeue(task).await {
            tracing::warn!(pod = %self.pod_name, task = %task.id, error = %err, "Handing the task back failed; the broker returns it when its lease expires");
        }
        self.counts.requeued += 1;
    }

    fn count_ack(&mut self, task: &Task, acked: Result<(), QueueError>) {
        match acked {
            Ok(()) => self.counts.succeeded += 1,
            Err(err) => {
                tracing::warn!(pod = %self.pod_name, task = %task.id, error = %err, "Ack failed; the task will run again");
                self.counts.requeued += 1;
            }
        }
    }

    /// Settles the held task (a fixed-completion pod that succeeded acks it, one that did not
    /// gives it back) and closes the connection, which returns any prefetched delivery. A
    /// fixed-completion pod calls this after its final status is reported (success first, then
    /// the ack); a draining pod before, so that nothing it was handed can be stranded once
    /// the other pods see it finished.
    pub(crate) async fn finish(&mut self, exit: &Exit) {
        if let (Some(done), Some(q)) = (self.pending_ack.take(), self.queue.clone()) {
            let acked = q.ack(&done).await;
            self.count_ack(&done, acked);
        }
        if let (Some(task), Some(q)) = (self.held.take(), self.queue.clone()) {
            let res = if exit.success() { q.ack(&task).await } else { q.requeue(&task).await };
            if let Err(err) = res {
                tracing::warn!(pod = %self.pod_name, task = %task.id, error = %err, "Settling the task failed");
            }
        }
        if let Some(q) = self.queue.take() {
            q.close().await;
        }
    }
}
