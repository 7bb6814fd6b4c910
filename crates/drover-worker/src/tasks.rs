//! Queue pods: the worker runtime takes, renews, acks and requeues tasks for the pod.
//!
//! # Expected flow
//! - **Fixed completions** (the Job sets `completions`): the pod takes exactly one task. While
//!   the queue is empty it waits, visibly: its container is `Waiting` with reason
//!   `WaitingForTask` (it neither hangs silently nor counts as a failure; a pod whose
//!   `activeDeadlineSeconds` passes meanwhile stops waiting, [`Next::DeadlineExceeded`]). The task reaches the
//!   command as for the `Exec` handler below (stdin, `DROVER_TASK` or `DROVER_TASK_FILE`,
//!   `DROVER_TASK_ID`). Exit 0: the pod's
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
//! - a task taken but not started yet (the take completed after the drain began, or the rest of
//!   a batch) is handed back ([`QueuePod::give_back`]). A take in progress is not cancelled by
//!   the drain (it returns within its short wait), so nothing is left leased by a dropped
//!   request.
//!
//! # Batches
//! A draining pod whose tasks are tiny (its last run under 10 ms, after a few runs) takes them
//! in batches ([`QueuePod::batch_size`]): one take (on Redis one script call) returns up to K
//! tasks, each a delivery of its own, leased from the take until settled. K doubles while takes
//! come back full (the queue is deep), up to the record window (about 10 ms of work, at most
//! 64), and shrinks to what the last take found; long tasks are taken one at a time, so that a
//! short queue of them stays shared between pods, and Redis hands out at most a quarter of
//! what is ready, so that the last tasks of a queue are shared too. The tasks of a batch run one
//! after the other in the pod; those not started go back unstarted when the handler fails or is
//! stopped, when the worker drains, or when the pod stops. Their successes are recorded in
//! groups and acked together with the next take (RabbitMQ: a run of them with one multiple
//! `basic.ack`).
//!
//! # Handlers (`spec.queue.handler`)
//! - **`Exec`** (default): the container's command runs once per task, with the task body on
//!   stdin, always, whatever its size and bytes (written by a task of the agent's, so a command
//!   that does not read it blocks nothing), and `DROVER_TASK_ID` set. The body is also in
//!   `DROVER_TASK` when it is UTF-8, has no NUL byte and is at most 64 KiB
//!   ([`crate::pod_env::TASK_ENV_LIMIT`]); otherwise `DROVER_TASK` is absent and
//!   `DROVER_TASK_FILE` names a file holding it (mode 0600, in a directory of its own, removed
//!   once the command exited). Exit 0 is success.
//! - **`Noop`**: no process; every task succeeds at once (for measuring the queue path).
//! - **`Stream`**: one long-lived process per pod handles all of the pod's tasks, see below.
//!
//! # The `Stream` protocol
//! The pod starts its command once (before its first task) with the pod's env, `POD_NAME`,
//! `JOB_NAME` and `DROVER_HANDLER=Stream` (no `DROVER_TASK`: tasks arrive on stdin). Then, task
//! after task, in order:
//! 1. The agent writes the task body followed by `\n` to the process's stdin. A body that
//!    itself contains `\n` cannot be framed and is refused: the task fails (and is requeued)
//!    without reaching the process, with `drover: task <id> refused: ...` in the pod log.
//! 2. The process answers exactly one line on stdout. `ok` (case-insensitive, surrounding
//!    whitespace ignored) is success: the task is acked. Any other line is a failure of that
//!    task, written to the pod log as `drover: task <id> failed: <line>`.
//!
//! The lines of the next tasks of a batch may be written before the answer to the current one
//! (at most a page of them, [`crate::stream::WRITE_AHEAD`]), so that the process reads task
//! after task without waiting for the agent; answers are still one line per task, in order. A
//! task whose line was written ahead and that is then handed back (the worker drains, the pod
//! stops, an earlier task failed) may still be run by the process: it runs again elsewhere
//! (at least once), and is counted once.
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
//!   (Redis requeues when the lease expires), and the task runs again elsewhere: re-runs are
//!   bounded by the tasks the dead worker held: one per slot for tasks of 10 ms or more; for
//!   shorter, pipelined ones, about [`PIPELINE_BUDGET`] of work per slot (the record window,
//!   [`QueuePod::record_window`]: at most [`MAX_RECORD_WINDOW`] tasks; the tasks of a batch
//!   that had not started, and a RabbitMQ pod's prefetched deliveries, never ran, and come back
//!   unrun; a `Stream` process may have read a page of lines ahead).
//! - Task counts are exact: each success is recorded by the task's stable id in the Job's
//!   ledger before its ack, so `status.tasks.succeeded` counts distinct tasks, and a task run
//!   twice is counted once (the second run shows in `status.tasks.duplicates`).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use drover_api::pod::{ContainerState, PodCondition, StateWaiting, phase};
use drover_api::retry::Backoff;
use drover_api::{Pod, PodQueue, TaskCounts};
use drover_client::Client;
use drover_queue::{Queue, QueueError, Task};
use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use futures::{FutureExt, StreamExt};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::agent::{Reporter, Sent};
use crate::lifecycle::{Action, Event, Handle, Lifecycle, Mode, Outcome, TaskState};
use crate::process::{Exit, ExitReason};

pub(crate) use drover_api::pod::QUEUE_DRAINED;

/// How long a drained pod waits, at most, before it reads its Job's pods again without a push
/// from the coordinator ([`drover_api::protocol::Assignment::RecheckDrain`]).
const DRAIN_RECHECK_FALLBACK: Duration = Duration::from_secs(5);

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
    /// The pod's `activeDeadlineSeconds` passed while it waited (no take is cut short: the
    /// deadline is checked between takes, each bounded by its wait).
    DeadlineExceeded,
}

/// What [`QueuePod::settle`] decided once a handler ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Settled {
    /// Go on with the next task: a draining pod after a success, a fixed-completion pod whose
    /// task turned out a duplicate or was lost.
    Next,
    /// Run the same task again in place after the restart back-off (`OnFailure`); it stays
    /// leased.
    Restart,
    /// A fixed-completion pod's task succeeded and is recorded as the task's first success: the
    /// pod reports `Succeeded`, then [`QueuePod::finish`] acks the task.
    Succeeded,
    /// The task is settled (requeued, or refused by the coordinator); the exit decides what the
    /// pod does.
    Done,
}

/// One task the pod holds: leased from the take until it is acked, requeued or lost.
struct Held {
    task: Task,
    /// Set by the pod's renewal task when the broker says the lease is gone.
    lost: Arc<AtomicBool>,
}

/// One record call of a group of successes: the tasks, and per task `first` (`None`: refused).
type Recording = BoxFuture<'static, (Vec<Handle>, Option<Vec<bool>>)>;

/// The tasks a pod holds, as its renewal task sees them.
type Leases = Arc<std::sync::Mutex<HashMap<Handle, (Task, Arc<AtomicBool>)>>>;

/// The queue side of one pod: the executor of its [`Lifecycle`].
pub(crate) struct QueuePod {
    spec: PodQueue,
    lease: Duration,
    job: String,
    pod_name: String,
    queue: Option<Arc<dyn Queue>>,
    /// What to do with each task, and when (pure; see [`crate::lifecycle`]).
    lc: Lifecycle,
    /// The tasks held, by handle.
    held: HashMap<Handle, Held>,
    /// The same tasks, shared with `keeper`.
    leases: Leases,
    /// Renews the lease of every held task every third of the lease (one task per pod, started
    /// with the connection).
    keeper: Option<tokio::task::JoinHandle<()>>,
    next_handle: Handle,
    /// The task the handler runs, or will run again after the back-off.
    current: Option<Handle>,
    /// A draining pod's successes whose records are in flight, a group per record call (the
    /// pod goes on meanwhile; each is acked once its record is answered). Polled by the pod
    /// itself (no task each: the batching task answers them, and the pod picks the answers up
    /// between tasks, or waits for them).
    recording: FuturesUnordered<Recording>,
    /// The successes in `recording`.
    in_record: usize,
    /// A draining pod's successes not sent to the ledger yet: they leave together, at most
    /// [`RECORD_GROUP`] at a time, and at the latest when the pod goes to the broker again.
    /// With `in_record`, at most [`QueuePod::record_window`].
    unsent: Vec<Handle>,
    /// The last handler run took at least [`PIPELINE_MAX_RUN`]: the pod then waits for its
    /// records before it takes another task, so that a killed worker re-runs at most the one
    /// task per slot it had in hand (pipelining pays only for tiny tasks).
    last_run_long: bool,
    /// The handler's run time, smoothed over the last few tasks: it sizes the record window.
    run_avg: Duration,
    /// Handler runs so far.
    runs: u32,
    /// A draining pod's recorded successes: all are acked together with the next take (one
    /// round trip on Redis, one multiple ack on RabbitMQ), or when the pod ends.
    pending_acks: Vec<Handle>,
    /// Tasks a batch take returned behind the one that runs (prefetched, leased, not started),
    /// oldest first: the next tasks run from here before the pod takes again.
    ahead: VecDeque<Handle>,
    /// How many tasks the next take asks for ([`QueuePod::batch_size`]).
    batch: usize,
    waiting_reported: bool,
    drained_reported: bool,
    last_report: Option<Instant>,
    /// Notified by the agent when the coordinator says every active bound pod of the Job
    /// reports the queue drained ([`drover_api::protocol::Assignment::RecheckDrain`]).
    recheck: Arc<tokio::sync::Notify>,
    /// When this pod last read its Job's pods for the drain rule (since it last reported
    /// drained).
    pods_checked: Option<Instant>,
}

impl Drop for QueuePod {
    fn drop(&mut self) {
        if let Some(keeper) = &self.keeper {
            keeper.abort();
        }
    }
}

impl QueuePod {
    pub(crate) fn new(spec: PodQueue, pod: &Pod, recheck: Arc<tokio::sync::Notify>) -> QueuePod {
        let lease = Duration::from_secs(spec.spec.lease_seconds.unwrap_or(30).max(1) as u64);
        let mode = if spec.drain {
            Mode::Drain
        } else {
            Mode::Fixed { on_failure: pod.spec.restart_policy.as_deref() == Some("OnFailure") }
        };
        QueuePod {
            spec,
            lease,
            job: pod.metadata.controller_ref().map(|r| r.name.clone()).unwrap_or_default(),
            pod_name: pod.metadata.name.clone(),
            queue: None,
            lc: Lifecycle::new(mode),
            held: HashMap::new(),
            leases: Leases::default(),
            keeper: None,
            next_handle: 0,
            current: None,
            recording: FuturesUnordered::new(),
            in_record: 0,
            unsent: Vec::new(),
            last_run_long: false,
            run_avg: Duration::ZERO,
            runs: 0,
            pending_acks: Vec::new(),
            ahead: VecDeque::new(),
            batch: 1,
            waiting_reported: false,
            drained_reported: false,
            last_report: None,
            recheck,
            pods_checked: None,
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

    /// The pod's task counts: `succeeded` counts the tasks whose first success it recorded
    /// (a fixed-completion pod's own task included, before its final report).
    pub(crate) fn counts(&self) -> TaskCounts {
        self.lc.counts()
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
        let mut delay = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
        loop {
            if let Some(q) = &self.queue {
                return Some(q.clone());
            }
            // A draining pod may hold a few tasks whose records are on their way (RabbitMQ would
            // deliver nothing more past its prefetch until they are acked), and, once its tasks
            // show tiny, a batch beside them.
            let prefetch = if self.spec.drain { DRAIN_PREFETCH } else { 1 };
            let most = if self.spec.drain { 2 * MAX_RECORD_WINDOW as u16 } else { 1 };
            let url = match broker_url(&self.spec.spec) {
                Ok(url) => url,
                Err(why) => {
                    tracing::warn!(pod = %self.pod_name, "{why}");
                    self.report_waiting(reporter, "PasswordUnavailable", why, stop).await;
                    tokio::select! {
                        _ = stop.cancelled() => return None,
                        _ = draining.cancelled() => return None,
                        _ = tokio::time::sleep(delay.next_delay()) => {}
                    }
                    continue;
                }
            };
            match drover_queue::connect_with_prefetch(&url, &self.spec.spec.name, prefetch, most).await {
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
                _ = tokio::time::sleep(delay.next_delay()) => {}
            }
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
        let status = reporter.status(phase::RUNNING, state, None, 0, false, Some(self.counts()));
        reporter.report(status, stop).await;
    }

    /// Waits for the next task. A fixed-completion pod restarting under OnFailure gets its
    /// task again (unless its lease was lost in the back-off: then it takes another). Once
    /// `draining` is cancelled no new take starts; a take already under way completes (within
    /// its wait) and its task, if any, is returned: the caller, seeing the drain, hands it back.
    pub(crate) async fn next_task(
        &mut self,
        reporter: &Reporter<'_>,
        stop: &CancellationToken,
        draining: &CancellationToken,
        deadline: Option<Instant>,
    ) -> Next {
        if let Some(h) = self.current {
            self.check_lease(h);
            for action in self.lc.step(Event::BackOffElapsed(h)) {
                if action == Action::Run(h) {
                    return Next::Task(self.held[&h].task.clone());
                }
                self.perform(action, reporter).await;
            }
            self.current = None;
        }
        // A draining pod checks the drain rule soon after the queue looks empty (so the Job ends
        // promptly), then less and less often while other pods are still busy: on Redis at
        // once (a take finds every ready task), on RabbitMQ after 20 ms (a delivery may be on
        // its way, and the check cancels the consumer).
        let mut waits = Backoff::new(Duration::from_millis(500), Duration::from_millis(500));
        let mut wait = Duration::from_millis(500);
        let mut first_take = true;
        loop {
            if draining.is_cancelled() {
                // Prefetched tasks go back at once, for the pods that go on.
                self.hand_back_ahead(reporter).await;
                return Next::Draining;
            }
            if let Some(deadline) = deadline {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Next::DeadlineExceeded;
                }
                wait = wait.min(left);
            }
            let Some(q) = self.connect(reporter, stop, draining).await else {
                return if stop.is_cancelled() { Next::Stopped } else { Next::Draining };
            };
            if first_take && self.spec.drain {
                let pushed = q.max_unacked().is_some();
                waits = Backoff::new(
                    Duration::from_millis(if pushed { 20 } else { 5 }),
                    Duration::from_millis(500),
                );
                wait = if pushed { waits.next_delay() } else { Duration::ZERO };
            }
            first_take = false;
            if let Some(deadline) = deadline {
                wait = wait.min(deadline.saturating_duration_since(Instant::now()));
            }
            self.collect_records(reporter, false).await;
            while self.last_run_long && self.awaiting_records() > 0 {
                self.collect_records(reporter, true).await;
            }
            // The rest of the last batch runs before the pod takes again.
            if let Some(task) = self.start_ahead(reporter).await {
                return Next::Task(task);
            }
            // The pod goes to the broker: what succeeded meanwhile is recorded now, so that it
            // can be acked with a take soon.
            self.send_records(reporter);
            // A pod of tiny tasks may hold as many unacked deliveries as its record window
            // (RabbitMQ; not before a few runs have shown how long the tasks take). Rounded up
            // to a power of two, so that a run time that wobbles does not cost a `basic.qos`
            // round trip per take.
            if self.spec.drain && self.runs >= WINDOW_WARM_UP {
                // Room for a batch taken while the last batch's successes await their records.
                let want = (2 * self.record_window()).max(usize::from(DRAIN_PREFETCH)).next_power_of_two();
                if q.max_unacked().is_some_and(|now| now != want)
                    && let Err(err) = q.set_max_unacked(want).await
                {
                    tracing::debug!(pod = %self.pod_name, error = %err, "Cannot change the prefetch");
                }
            }
            // The broker hands out nothing more while this consumer holds as many unacked tasks
            // as its prefetch: wait for records rather than for a take that cannot succeed.
            while q.max_unacked().is_some_and(|max| self.awaiting_records() >= max.max(1)) {
                self.collect_records(reporter, true).await;
            }
            // The recorded successes are acked with the next take (one round trip on Redis),
            // which takes a batch of tasks when they are tiny and the queue is deep.
            let want = self.batch_size();
            let taken = if !self.pending_acks.is_empty() {
                // Not cancellable: the acks must land or fail, never be dropped half-way.
                let mut done = std::mem::take(&mut self.pending_acks);
                // In the order they were taken (Redis then trims them off the head of the
                // consumer's list; RabbitMQ acks runs of them at once).
                done.sort_unstable();
                let tasks: Vec<Task> = done.iter().map(|h| self.held[h].task.clone()).collect();
                let (acked, taken) = q.ack_and_take_many(&tasks, want, self.lease, wait).await;
                for (h, acked) in done.into_iter().zip(acked) {
                    self.acked(h, acked);
                }
                if stop.is_cancelled() {
                    for task in taken.iter().flatten() {
                        let _ = q.requeue(task).await;
                    }
                    return Next::Stopped;
                }
                taken
            } else {
                tokio::select! {
                    _ = stop.cancelled() => return Next::Stopped,
                    r = q.ack_and_take_many(&[], want, self.lease, wait) => r.1,
                }
            };
            match taken {
                Ok(tasks) if !tasks.is_empty() => {
                    if self.drained_reported {
                        self.drained_reported = false;
                        self.report_drained(reporter, false, stop).await;
                    }
                    // A full batch asks for more next time (up to what the run time allows);
                    // a short one for what the queue had.
                    self.batch = if tasks.len() >= want { want.saturating_mul(2) } else { tasks.len() };
                    let mut tasks = tasks.into_iter();
                    let first = tasks.next().expect("a task");
                    let h = self.hold(first.clone());
                    let mut actions = self.lc.step(Event::Taken(h));
                    for task in tasks {
                        let x = self.hold(task);
                        self.ahead.push_back(x);
                        actions.extend(self.lc.step(Event::Prefetched(x)));
                    }
                    for action in actions {
                        if action == Action::Run(h) {
                            self.current = Some(h);
                        } else {
                            self.perform(action, reporter).await;
                        }
                    }
                    if self.current == Some(h) {
                        return Next::Task(first);
                    }
                }
                Ok(_) if self.spec.drain => {
                    if self.awaiting_records() > 0 || !self.pending_acks.is_empty() {
                        // This pod's own successes are still on their way: not drained.
                        self.collect_records(reporter, true).await;
                        continue;
                    }
                    if self.drained_everywhere(&q, reporter, stop).await {
                        return Next::Drained;
                    }
                    wait = waits.next_delay();
                }
                Ok(_) => {
                    if !self.waiting_reported {
                        self.waiting_reported = true;
                        let msg = format!("queue {} is empty; waiting for a task", self.spec.spec.name);
                        self.report_waiting(reporter, "WaitingForTask", msg, stop).await;
                    }
                }
                Err(err) => {
                    tracing::warn!(pod = %self.pod_name, error = %err, "Taking a task failed; reconnecting");
                    self.queue = None;
                    // The renewals go through the new connection once there is one.
                    if let Some(keeper) = self.keeper.take() {
                        keeper.abort();
                    }
                }
            }
        }
    }

    /// How many tasks the next take asks for. One, unless the pod drains tiny tasks (its
    /// last run shorter than [`PIPELINE_MAX_RUN`], after [`WINDOW_WARM_UP`] runs): then the
    /// batch doubles while takes come back full (the queue is deep), up to the record window
    /// (about [`PIPELINE_BUDGET`] of work), and shrinks to what the last take found. Long tasks
    /// are taken one at a time, so a short queue of them stays shared between pods; the broker
    /// shares the last tasks of a queue too (Redis hands out at most a quarter of what is
    /// ready).
    fn batch_size(&self) -> usize {
        if !self.spec.drain || self.runs < WINDOW_WARM_UP || self.last_run_long {
            return 1;
        }
        self.batch.clamp(1, self.record_window())
    }

    /// The first `n` prefetched tasks that run next, in their order (a `Stream` process gets
    /// their lines ahead of their turn).
    pub(crate) fn upcoming(&self, n: usize) -> Vec<&Task> {
        self.ahead
            .iter()
            .take(n)
            .filter(|h| self.lc.state(**h) == Some(TaskState::Prefetched))
            .filter_map(|h| self.held.get(h))
            .filter(|held| !held.lost.load(Ordering::Relaxed))
            .map(|held| &held.task)
            .collect()
    }

    /// Starts the oldest prefetched task that is still held, if any (a lost lease forgets one).
    async fn start_ahead(&mut self, reporter: &Reporter<'_>) -> Option<Task> {
        while let Some(h) = self.ahead.pop_front() {
            if !self.held.contains_key(&h) {
                continue;
            }
            self.check_lease(h);
            for action in self.lc.step(Event::Started(h)) {
                if action == Action::Run(h) {
                    self.current = Some(h);
                } else {
                    self.perform(action, reporter).await;
                }
            }
            if self.current == Some(h) {
                return Some(self.held[&h].task.clone());
            }
            if self.lc.state(h).is_none() {
                self.release(h);
            }
        }
        None
    }

    /// Hands back every prefetched task (the worker drains): requeued unstarted.
    async fn hand_back_ahead(&mut self, reporter: &Reporter<'_>) {
        if self.ahead.is_empty() {
            return;
        }
        self.ahead.clear();
        for action in self.lc.step(Event::Drain) {
            self.perform(action, reporter).await;
        }
    }

    /// The drain rule: nothing ready, nothing held anywhere, and every other active pod of the
    /// Job that is bound to a worker drained too (an unbound pod holds no task and checks the
    /// queue itself when it starts).
    ///
    /// "Nothing held" never takes an unknown number for zero. Redis tells how many tasks are
    /// leased. RabbitMQ cannot tell, but it counts the queue's consumers: once this pod has
    /// quiesced its own consumer, a consumer beyond one per other live pod of the Job is a
    /// connection the broker still keeps open for a worker that is gone (a vanished host), and it
    /// may hold a task that the broker will hand back once it notices. The pods wait for it, so
    /// that redelivery is taken, not stranded.
    async fn drained_everywhere(
        &mut self,
        q: &Arc<dyn Queue>,
        reporter: &Reporter<'_>,
        stop: &CancellationToken,
    ) -> bool {
        // Nothing may still be on its way to this pod (RabbitMQ pushes deliveries that a take
        // can give up waiting for, and that no figure of the queue shows); what arrived is
        // taken next.
        if !matches!(q.quiesce().await, Ok(0)) {
            return false;
        }
        let Ok(stats) = q.stats().await else { return false };
        if stats.ready > 0 || stats.in_flight.is_some_and(|n| n > 0) {
            return false;
        }
        if !self.drained_reported {
            self.drained_reported = true;
            self.pods_checked = None;
            self.report_drained(reporter, true, stop).await;
        }
        // The Job's pods are read when this pod first finds the queue empty, then when the
        // coordinator pushes that every bound pod reports it drained (its Job controller sees
        // each report), and otherwise only every DRAIN_RECHECK_FALLBACK (a push missed while
        // the worker's session was reconnecting): not at every empty take.
        let pushed = self.recheck.notified().now_or_never().is_some();
        let due = self.pods_checked.is_none_or(|at| at.elapsed() >= DRAIN_RECHECK_FALLBACK);
        if !pushed && !due {
            return false;
        }
        tracing::debug!(
            pod = %self.pod_name,
            trigger = if pushed { "push" } else if self.pods_checked.is_none() { "first" } else { "fallback" },
            "Checking the drain rule against the Job's pods"
        );
        self.pods_checked = Some(Instant::now());
        let selector = format!("batch.kubernetes.io/job-name={}", self.job);
        let Ok(pods) = reporter.client.list_pods(&selector).await else { return false };
        let others: Vec<_> = pods
            .iter()
            .filter(|p| p.metadata.name != self.pod_name && p.is_active() && p.node_name().is_some())
            .collect();
        if !others.iter().all(|p| p.condition_true(QUEUE_DRAINED)) {
            return false;
        }
        // Check once more: a task may have been requeued while we looked at the pods. This pod's
        // own consumer is stopped (the quiesce above), so only the other live pods may have one.
        matches!(q.stats().await, Ok(s) if s.ready == 0 && nothing_held(&s, others.len()))
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
            Some(self.counts()),
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

    /// Holds a task just taken: its lease is renewed from now until it is settled, through
    /// the handler, the restart back-off, the ledger record and the final report.
    fn hold(&mut self, task: Task) -> Handle {
        self.next_handle += 1;
        let h = self.next_handle;
        let lost = Arc::new(AtomicBool::new(false));
        if self.keeper.as_ref().is_none_or(|k| k.is_finished()) {
            self.keeper = Some(self.keep_leased());
        }
        lock(&self.leases).insert(h, (task.clone(), lost.clone()));
        self.held.insert(h, Held { task, lost });
        h
    }

    /// Forgets a settled task and stops renewing its lease.
    fn release(&mut self, h: Handle) {
        if self.held.remove(&h).is_some() {
            lock(&self.leases).remove(&h);
        }
        if self.current == Some(h) {
            self.current = None;
        }
    }

    /// Feeds a lease loss the renewal found to the lifecycle.
    fn check_lease(&mut self, h: Handle) {
        if self.held.get(&h).is_some_and(|held| held.lost.load(Ordering::SeqCst)) {
            let actions = self.lc.step(Event::LeaseLost(h));
            if self.lc.state(h).is_none() {
                self.release(h);
            }
            // (A lost lease only ever adds `Take`, which the caller's loop does anyway.)
            debug_assert!(actions.iter().all(|a| *a == Action::Take));
        }
    }

    /// Renews the lease of every task the pod holds, every third of the lease, until aborted; a
    /// lost lease is remembered so that the task is not acked (the broker returned it and it
    /// will run again).
    fn keep_leased(&self) -> tokio::task::JoinHandle<()> {
        let q = self.queue.clone();
        let lease = self.lease;
        let leases = self.leases.clone();
        let pod = self.pod_name.clone();
        tokio::spawn(async move {
            let Some(q) = q else { return };
            loop {
                tokio::time::sleep(lease / 3).await;
                let held: Vec<(Task, Arc<AtomicBool>)> = lock(&leases)
                    .values()
                    .filter(|(_, lost)| !lost.load(Ordering::SeqCst))
                    .cloned()
                    .collect();
                for (task, lost) in held {
                    match q.extend(&task, lease).await {
                        Ok(()) => {}
                        Err(QueueError::LeaseLost(_)) => {
                            tracing::warn!(%pod, task = %task.id, "Lease lost; the task will run again elsewhere");
                            lost.store(true, Ordering::SeqCst);
                        }
                        Err(err) => tracing::debug!(%pod, error = %err, "Lease renewal failed; retrying"),
                    }
                }
            }
        })
    }

    /// Settles the task the handler just ran (see [`Settled`]): a success is recorded in the
    /// Job's task ledger before anything else happens to it.
    pub(crate) async fn settle(&mut self, exit: &Exit, reporter: &Reporter<'_>) -> Settled {
        let Some(h) = self.current else { return Settled::Done };
        self.check_lease(h);
        let ran = (exit.finished_at - exit.started_at).to_std().unwrap_or_default();
        self.last_run_long = ran >= PIPELINE_MAX_RUN;
        self.run_avg = (self.run_avg * 7 + ran) / 8;
        self.runs = self.runs.saturating_add(1);
        let outcome = if exit.success() {
            Outcome::Succeeded
        } else if matches!(exit.reason, ExitReason::Killed | ExitReason::DeadlineExceeded) {
            Outcome::Stopped
        } else {
            Outcome::Failed
        };
        let mut settled = Settled::Done;
        let mut actions = self.lc.step(Event::Exited(h, outcome));
        if self.lc.state(h).is_none() {
            // The lease was lost while the handler ran: the task is another consumer's now.
            self.release(h);
            actions.push(Action::Take);
        }
        while !actions.is_empty() {
            let mut follow = Vec::new();
            for action in actions {
                match action {
                    Action::Take => settled = Settled::Next,
                    Action::RestartAfterBackOff(_) => settled = Settled::Restart,
                    Action::ReportSucceeded(_) => settled = Settled::Succeeded,
                    // A draining pod records in the background and acks with a next take.
                    Action::Record(x) if self.spec.drain => self.record_in_background(x, reporter),
                    Action::Ack(x) if self.spec.drain => self.pending_acks.push(x),
                    other => follow.extend(self.perform(other, reporter).await),
                }
            }
            actions = follow;
        }
        if settled != Settled::Restart
            && self.current == Some(h)
            && self.lc.state(h) != Some(TaskState::Reporting)
        {
            self.current = None;
        }
        settled
    }

    /// Performs one action of the lifecycle and feeds its outcome back; returns the actions
    /// that follow.
    async fn perform(&mut self, action: Action, reporter: &Reporter<'_>) -> Vec<Action> {
        let Some(q) = self.queue.clone() else {
            // No connection was ever made, so nothing is held.
            return Vec::new();
        };
        let (h, event) = match action {
            Action::Record(h) => (h, self.record(h, reporter).await),
            Action::Ack(h) => {
                let acked = q.ack(&self.held[&h].task).await;
                return self.acked(h, acked);
            }
            Action::Requeue(h) => {
                let task = &self.held[&h].task;
                if let Err(err) = q.requeue(task).await {
                    tracing::warn!(pod = %self.pod_name, task = %task.id, error = %err, "Requeue failed; the broker returns the task when its lease expires");
                }
                (h, Event::Requeued(h))
            }
            // The executor's caller runs, restarts, reports and takes.
            Action::Run(_) | Action::RestartAfterBackOff(_) | Action::ReportSucceeded(_) | Action::Take => {
                return vec![action];
            }
        };
        let out = self.lc.step(event);
        if self.lc.state(h).is_none() {
            self.release(h);
        }
        out
    }

    /// Records a success in the Job's task ledger and waits for the answer.
    async fn record(&mut self, h: Handle, reporter: &Reporter<'_>) -> Event {
        match self.record_of(&[h], reporter, false).await {
            Some(first) => Event::Recorded(h, first.first().copied().unwrap_or(false)),
            None => Event::RecordRefused(h),
        }
    }

    /// A draining pod's record: sent in the background with the pod's other successes
    /// ([`QueuePod::send_records`]; the client batches them with the other pods'), so the next
    /// tasks run meanwhile. At most [`QueuePod::record_window`] await their records; past that,
    /// [`QueuePod::next_task`] waits for answers before it takes more.
    fn record_in_background(&mut self, h: Handle, reporter: &Reporter<'_>) {
        self.unsent.push(h);
        if self.unsent.len() >= RECORD_GROUP {
            self.send_records(reporter);
        }
    }

    /// Sends the records of the successes not sent yet, in one call.
    fn send_records(&mut self, reporter: &Reporter<'_>) {
        if self.unsent.is_empty() {
            return;
        }
        let group = std::mem::take(&mut self.unsent);
        let record = self.record_of(&group, reporter, true);
        self.in_record += group.len();
        self.recording.push(Box::pin(async move { (group, record.await) }));
    }

    /// Successes whose records are not answered yet (sent or not).
    fn awaiting_records(&self) -> usize {
        self.in_record + self.unsent.len()
    }

    /// The record of the successes of tasks `hs` ([`record_success`]), owning what it needs.
    fn record_of(
        &self,
        hs: &[Handle],
        reporter: &Reporter<'_>,
        lazy: bool,
    ) -> impl Future<Output = Option<Vec<bool>>> + Send + 'static {
        record_success(
            reporter.client.clone(),
            reporter.name.to_string(),
            reporter.uid.to_string(),
            hs.iter().map(|h| self.held[h].task.id.clone()).collect(),
            reporter.stop.clone(),
            lazy,
        )
    }

    /// Feeds the answered background records to the lifecycle: a recorded success waits for
    /// its ack, a refused one is requeued. With `wait`, waits for at least one answer first
    /// (if any record awaits one; what was not sent is sent first); and it always waits while
    /// the window is full.
    async fn collect_records(&mut self, reporter: &Reporter<'_>, wait: bool) {
        let mut must_wait = wait;
        loop {
            let answered = if (must_wait && self.awaiting_records() > 0)
                || self.awaiting_records() >= self.record_window()
            {
                self.send_records(reporter);
                // Lazy records may be lingering for company: this pod waits for them now.
                reporter.client.flush_task_records();
                self.recording.next().await
            } else {
                self.recording.next().now_or_never().flatten()
            };
            must_wait = false;
            let Some((hs, recorded)) = answered else { return };
            self.in_record -= hs.len();
            for (i, h) in hs.into_iter().enumerate() {
                let event = match &recorded {
                    Some(first) => Event::Recorded(h, first.get(i).copied().unwrap_or(false)),
                    None => Event::RecordRefused(h),
                };
                for action in self.lc.step(event) {
                    match action {
                        Action::Ack(x) => self.pending_acks.push(x),
                        Action::Requeue(_) => {
                            self.perform(action, reporter).await;
                        }
                        _ => {}
                    }
                }
                if self.lc.state(h).is_none() {
                    self.release(h);
                }
            }
        }
    }

    /// How many successes may await their records at once ([`record_window`] of the
    /// handler's recent run time).
    fn record_window(&self) -> usize {
        record_window(self.run_avg)
    }

    fn acked(&mut self, h: Handle, acked: Result<(), QueueError>) -> Vec<Action> {
        let event = match acked {
            Ok(()) => Event::Acked(h),
            Err(err) => {
                tracing::warn!(pod = %self.pod_name, task = %self.held[&h].task.id, error = %err, "Ack failed; the task will run again (its success is recorded)");
                Event::AckFailed(h)
            }
        };
        let out = self.lc.step(event);
        if self.lc.state(h).is_none() {
            self.release(h);
        }
        out
    }

    /// Hands back a task that was taken but never started (the worker began draining in
    /// between): it is requeued at once, neither failed nor held any more.
    pub(crate) async fn give_back(&mut self, reporter: &Reporter<'_>) {
        self.ahead.clear();
        for action in self.lc.step(Event::Drain) {
            self.perform(action, reporter).await;
        }
        if let Some(h) = self.current {
            for action in self.lc.step(Event::Exited(h, Outcome::Stopped)) {
                self.perform(action, reporter).await;
            }
        }
    }

    /// Ends the pod's queue side. A fixed-completion pod calls this after its final status was
    /// reported (`report`: success first, then the ack; a refused report requeues the task); a
    /// draining pod before (`None`), so that nothing it was handed can be stranded once the
    /// other pods see it finished. Whatever is still held is acked if recorded, else requeued,
    /// and the connection is closed, which returns any prefetched delivery.
    pub(crate) async fn finish(&mut self, report: Option<Sent>, reporter: &Reporter<'_>) {
        let mut actions = match report {
            Some(Sent::Acked) => self.lc.step(Event::ReportAcked),
            Some(_) => self.lc.step(Event::ReportRefused),
            None => Vec::new(),
        };
        actions.extend(self.lc.step(Event::Stop));
        self.ahead.clear();
        // Successes still being recorded are waited for, then acked (or requeued if refused).
        while self.awaiting_records() > 0 {
            self.collect_records(reporter, true).await;
        }
        actions.extend(self.pending_acks.drain(..).map(Action::Ack));
        while !actions.is_empty() {
            let mut follow = Vec::new();
            for action in actions {
                if matches!(action, Action::Record(_) | Action::Ack(_) | Action::Requeue(_)) {
                    follow.extend(self.perform(action, reporter).await);
                }
            }
            actions = follow;
        }
        // Anything left (a handler that never reported its end) goes back to the queue.
        let left: Vec<Handle> = self.held.keys().copied().collect();
        for h in left {
            if let Some(q) = self.queue.clone() {
                let _ = q.requeue(&self.held[&h].task).await;
            }
            self.release(h);
        }
        if let Some(q) = self.queue.take() {
            q.close().await;
        }
    }
}

/// The most successes a draining pod may have awaiting their records at once.
const MAX_RECORD_WINDOW: usize = 64;

/// A draining pod sends the records of its successes this many at a time (or fewer, when it
/// goes to the broker or waits for them).
const RECORD_GROUP: usize = 16;

/// The handler time a pod may run ahead of its records ([`QueuePod::record_window`]).
const PIPELINE_BUDGET: Duration = Duration::from_millis(10);

/// Runs shorter than this count as this long when sizing the record window.
const MIN_RUN_FOR_WINDOW: Duration = Duration::from_micros(150);

/// A handler run at least this long is not pipelined with the next task's: its record is
/// awaited before the next take (the record's round trip is small beside the run, and a killed
/// worker then re-runs at most one task per slot).
const PIPELINE_MAX_RUN: Duration = Duration::from_millis(10);

/// A draining pod's RabbitMQ prefetch: the tasks it may hold unacked while their records are on
/// their way. Small: a pod may hold up to this many tasks of a short queue that other pods
/// could have run (with 16, one pod took all six tasks of a test while the other idled);
/// `close` hands back what it never took. A pod whose tasks turn out tiny raises it to twice its
/// record window (at most 2 × [`MAX_RECORD_WINDOW`]: a batch beside the successes awaiting
/// their records) once [`WINDOW_WARM_UP`] runs have shown it.
const DRAIN_PREFETCH: u16 = 4;

/// Handler runs before the run time may raise a RabbitMQ pod's prefetch.
const WINDOW_WARM_UP: u32 = 8;

/// Records a task's success in its Job's ledger (`Client::record_tasks`, batched with the
/// other pods' records; `lazy`: the first try may linger for company, see
/// `Client::record_tasks_lazily`), retrying while the coordinator cannot be reached. `Some(first)` once
/// recorded; `None` when refused (the pod is not this worker's any more: the pod is stopped) or
/// when the pod is stopping and the coordinator stays out of reach (the task then goes back; if
/// the record did land, the next run counts as a duplicate).
fn record_success(
    client: Client,
    pod: String,
    uid: String,
    ids: Vec<String>,
    stop: CancellationToken,
    lazy: bool,
) -> impl Future<Output = Option<Vec<bool>>> + Send + 'static {
    let mut lazy_try = lazy.then(|| client.record_tasks_lazily(&pod, &uid, &ids));
    async move {
        let mut delay = Backoff::new(Duration::from_millis(20), Duration::from_secs(2));
        let mut tries_after_stop = 0;
        loop {
            let answer = match lazy_try.take() {
                Some(first_try) => first_try.await,
                None => client.record_tasks(&pod, &uid, &ids).await,
            };
            match answer {
                Ok(first) if first.len() == ids.len() => return Some(first),
                Ok(first) => {
                    tracing::warn!(%pod, "The coordinator answered {} task records for {}; retrying", first.len(), ids.len());
                }
                Err(err) if err.is_refused_pod() => {
                    tracing::info!(%pod, tasks = ids.len(), error = %err, "The coordinator refused the tasks' record; requeueing them and stopping the pod");
                    stop.cancel();
                    return None;
                }
                Err(err) => tracing::debug!(%pod, error = %err, "Recording the task failed; retrying"),
            }
            if stop.is_cancelled() {
                tries_after_stop += 1;
                if tries_after_stop > 10 {
                    return None;
                }
            }
            tokio::time::sleep(delay.next_delay()).await;
        }
    }
}

/// How many successes may await their records at once, for tasks that run about `per_task`: as
/// many as fit in [`PIPELINE_BUDGET`], between 1 and [`MAX_RECORD_WINDOW`]. The tasks in the
/// window are those a killed worker runs again, so the window bounds the work redone (about the
/// budget per slot), not just a count of tasks; a window of a few tasks would leave tiny tasks
/// waiting on each record's round trip.
fn record_window(per_task: Duration) -> usize {
    let per_task = per_task.max(MIN_RUN_FOR_WINDOW);
    let fits = PIPELINE_BUDGET.as_micros() / per_task.as_micros().max(1);
    usize::try_from(fits).unwrap_or(usize::MAX).clamp(1, MAX_RECORD_WINDOW)
}

/// The broker URL a pod connects to: `spec.queue.url`, with the password of
/// `spec.queue.passwordFrom` (this worker's environment variable or file) put in. The error names
/// the source, never the password.
fn broker_url(spec: &drover_api::job::QueueSpec) -> Result<String, String> {
    let Some(from) = &spec.password_from else { return Ok(spec.url.clone()) };
    let password = match (&from.env, &from.file) {
        (Some(name), _) => std::env::var(name).map_err(|_| {
            format!("spec.queue.passwordFrom.env: the worker's environment has no variable {name}")
        })?,
        (None, Some(path)) => {
            let text = std::fs::read_to_string(path)
                .map_err(|err| format!("spec.queue.passwordFrom.file: cannot read {path}: {}", err.kind()))?;
            let text = text.strip_suffix('\n').unwrap_or(&text);
            text.strip_suffix('\r').unwrap_or(text).to_string()
        }
        (None, None) => return Ok(spec.url.clone()),
    };
    Ok(drover_api::meta::with_url_password(&spec.url, &password))
}

/// True when the broker's figures show that no consumer holds a task of the queue: no lease
/// (Redis), or no more consumers than `live_pods`, the Job's other live pods, each of which
/// holds nothing (RabbitMQ, which cannot count the tasks in flight; the asking pod's own
/// consumer is stopped by then). Unknown is never taken for zero.
fn nothing_held(stats: &drover_queue::Stats, live_pods: usize) -> bool {
    match (stats.in_flight, stats.consumers) {
        (Some(n), _) => n == 0,
        (None, Some(consumers)) => consumers <= live_pods as u64,
        (None, None) => false,
    }
}

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use drover_queue::Stats;

    use super::{MAX_RECORD_WINDOW, broker_url, nothing_held, record_window};

    #[test]
    fn the_password_from_a_file_or_the_environment_goes_into_the_url_and_never_into_an_error() {
        use drover_api::job::{PasswordSource, QueueSpec};
        let spec = |env: Option<&str>, file: Option<&str>| QueueSpec {
            url: "amqp://drover@127.0.0.1:5672/%2f".into(),
            name: "q".into(),
            password_from: Some(PasswordSource { env: env.map(Into::into), file: file.map(Into::into) }),
            ..QueueSpec::default()
        };
        let dir = std::env::temp_dir().join(format!("drover-pw-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("pw");
        std::fs::write(&file, "s3cret/x\n").unwrap();
        let url = broker_url(&spec(None, file.to_str())).unwrap();
        assert_eq!(url, "amqp://drover:s3cret%2Fx@127.0.0.1:5672/%2f");
        // HOME is set wherever tests run; its value becomes the password.
        let home = std::env::var("HOME").unwrap();
        assert!(
            broker_url(&spec(Some("HOME"), None))
                .unwrap()
                .contains(&format!(":{}@", home.replace('/', "%2F")))
        );
        let err = broker_url(&spec(Some("DROVER_NO_SUCH_PASSWORD_VARIABLE"), None)).unwrap_err();
        assert!(
            err.contains("spec.queue.passwordFrom.env") && err.contains("DROVER_NO_SUCH_PASSWORD_VARIABLE"),
            "{err}"
        );
        let err = broker_url(&spec(None, Some("/nonexistent/drover/pw"))).unwrap_err();
        assert!(err.contains("cannot read /nonexistent/drover/pw"), "{err}");
        // Without passwordFrom the URL is used as it is.
        let plain = QueueSpec { url: "redis://127.0.0.1:6379".into(), ..QueueSpec::default() };
        assert_eq!(broker_url(&plain).unwrap(), "redis://127.0.0.1:6379");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_record_window_holds_about_ten_milliseconds_of_work() {
        let us = Duration::from_micros;
        for (name, per_task, want) in [
            ("no process (Noop)", us(0), MAX_RECORD_WINDOW),
            ("a tiny Stream task", us(80), MAX_RECORD_WINDOW),
            ("half a millisecond", us(500), 20),
            ("a millisecond", us(1_000), 10),
            ("four milliseconds", us(4_000), 2),
            ("just under the pipelining limit", us(9_999), 1),
            ("a long task", us(2_000_000), 1),
        ] {
            assert_eq!(record_window(per_task), want, "{name}");
        }
    }

    #[test]
    fn the_drain_rule_never_takes_an_unknown_in_flight_count_for_zero() {
        let s = |in_flight, consumers| Stats { ready: 0, in_flight, consumers, dead_lettered: 0 };
        // Redis: leases are counted.
        assert!(nothing_held(&s(Some(0), Some(9)), 1));
        assert!(!nothing_held(&s(Some(1), Some(1)), 3));
        // RabbitMQ: one consumer per live pod holds nothing; an extra one may hold a task.
        assert!(nothing_held(&s(None, Some(3)), 3));
        assert!(nothing_held(&s(None, Some(1)), 3), "pods that have not connected yet");
        assert!(!nothing_held(&s(None, Some(4)), 3), "a consumer of a vanished worker");
        assert!(!nothing_held(&s(None, None), 3), "unknown is not zero");
    }
}
