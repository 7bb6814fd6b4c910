//! The process side of a pod's life as a pure state machine: when its container starts, is
//! reported Running, restarts after the back-off, is stopped (the pod's stop, its
//! `activeDeadlineSeconds`, a worker drain), and what its final status says. No I/O, no clock,
//! nothing async: [`Machine::step`] takes an event and the current instant (a value) and returns
//! the actions to perform; `agent::run_pod` performs them (it is the executor) and feeds each
//! outcome back as the next event. The task side of a queue pod stays in [`crate::lifecycle`]:
//! this machine asks for the next task ([`Action::TakeTask`]) and hands each exit to
//! `QueuePod::settle` ([`Action::Settle`]), which decides what happens to the task.
//!
//! # Expected flow
//! 1. `Start`. A pod that is stopped or whose worker drains starts nothing (it ends at once, see
//!    5). A queue pod asks for a task (`TakeTask`): `TaskReady`, or `NoTask` (the queue is
//!    drained everywhere: the pod succeeds; the pod was stopped; the worker drains). A task that
//!    arrives as the drain began (or the pod was stopped, or its deadline passed) is handed
//!    back (`GiveBack`). A pod past its `activeDeadlineSeconds` starts nothing more: it ends
//!    `DeadlineExceeded` (after a back-off, before a next task).
//! 2. The handler runs. `Exec`: `Spawn`, then `AwaitQuickExit` for
//!    [`RUNNING_REPORT_DELAY`]: a process that ends sooner is never reported Running (its final
//!    report says it all); else `ReportRunning` and `AwaitExit` (until the exit, the pod's stop,
//!    or its deadline). `Stream`: `StartStream` once (reported Running, forced), then per task
//!    `ReportRunning` (throttled by the executor) and `RunStreamTask`. `Noop`: `RunNoop`.
//! 3. The pod's stop (`Interrupted`) or its deadline (`DeadlineReached`) during a run: `Kill`
//!    with that reason; the process's `Exited` follows.
//! 4. `Exited`: a queue pod's exit goes to `Settle` first (`Settled::Next` goes back to 1 for
//!    the next task; `Succeeded` ends the pod). Then: success, `restartPolicy` other than
//!    `OnFailure`, or a stopped process end the pod; a failure during a drain ends it as a
//!    disruption; else the container restarts in place: the `Stream` process is ended, the
//!    restart is counted, the exit becomes `lastState`, `ReportWaiting` (CrashLoopBackOff with
//!    the kubelet-style delay) and, once reported, `SleepUntil(now + delay)`; `BackOffElapsed`
//!    goes back to 1. The pod's stop or the drain cuts the back-off short (`Interrupted`).
//! 5. The end: `EndStream` (the `Stream` process, if any: its stdin closed, or stopped if the
//!    pod is), `FinishQueue` (a draining queue pod hands back what it holds before it is seen
//!    finished), `CloseLog` (with the disruption's note), `ReportFinal`, and for a
//!    fixed-completion queue pod `FinishQueueAfterReport` (the ack follows the acknowledged
//!    success report; a refusal requeues).
//!
//! `Stop`, `DrainStarted` and `DrainCut` only record what the executor saw (it feeds them before
//! each event); the machine acts on them at its next decision, exactly where the executor's
//! waits are interrupted by them.
//!
//! # Invariants
//! Checked after every step of random event sequences by the property test below:
//! - exactly one final report, and nothing after it but the queue's finish;
//! - nothing is started (process, task, handler) once the pod is stopped, the worker drains, or
//!   the pod's deadline passed (a task taken before the drain still runs);
//! - a restart happens only under `OnFailure`, only after its back-off elapsed, and is counted;
//! - a process killed at the deadline ends the pod `Failed` with reason `DeadlineExceeded`;
//! - a pod the drain ended is `Failed` with reason `WorkerDrained` and a `DisruptionTarget`
//!   condition, never `Succeeded`;
//! - at most one action waits for an answer at a time, and it is the last of its step.

use std::ops::Add;
use std::time::Duration;

use drover_api::Time;
use drover_api::pod::phase;
use drover_api::protocol::REASON_WORKER_DRAINED;
use drover_api::retry::Backoff;

use crate::agent::Sent;
use crate::process::{Exit, ExitReason};
use crate::tasks::{Handler, Settled};

/// How long a just-started process may run before its Running report is sent; a process that
/// ends sooner is reported only once, finished.
pub(crate) const RUNNING_REPORT_DELAY: Duration = Duration::from_millis(25);

/// How the pod uses a queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Queue {
    /// A plain pod: its command runs once (and again under `OnFailure`).
    None,
    /// Fixed completions: one task per pod.
    Fixed,
    /// Drain until empty: task after task.
    Drain,
}

/// What the machine needs to know of the pod and the worker.
#[derive(Debug, Clone)]
pub(crate) struct Spec {
    /// The worker's name, for the drain's messages.
    pub(crate) worker: String,
    /// `restartPolicy: OnFailure`.
    pub(crate) on_failure: bool,
    pub(crate) queue: Queue,
    pub(crate) handler: Handler,
    /// The pod's `activeDeadlineSeconds`, from the start of the pod's run.
    pub(crate) active_deadline: Option<Duration>,
    /// The first in-place restart delay, doubled per restart up to `backoff_max`.
    pub(crate) backoff_base: Duration,
    pub(crate) backoff_max: Duration,
}

/// Why a take found no task (`QueuePod::next_task`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NoTask {
    /// The queue is empty everywhere: a draining pod exits 0.
    Drained,
    /// The pod was stopped while waiting.
    Stopped,
    /// The worker drains: the pod takes no more tasks.
    Draining,
    /// The pod's `activeDeadlineSeconds` passed while it waited (nothing ran meanwhile).
    DeadlineExceeded,
}

/// Why a process is killed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kill {
    /// The pod is being stopped (deleted, refused, or the agent shuts down).
    Stopped,
    /// The pod's `activeDeadlineSeconds` passed.
    DeadlineExceeded,
}

/// How the container ended, as its final report shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Ended {
    /// Nothing was running: the pod was stopped, or the drain let it start nothing more
    /// (code 137, reason `Killed`).
    NotStarted,
    /// A pod past its deadline that had nothing running (code 137, `DeadlineExceeded`).
    DeadlineNotStarted,
    /// A draining queue pod found the queue empty everywhere (code 0).
    QueueDrained,
    /// The process's (or the handler's) own exit.
    Exited(Exit),
}

impl Ended {
    pub(crate) fn success(&self) -> bool {
        match self {
            Ended::QueueDrained => true,
            Ended::NotStarted | Ended::DeadlineNotStarted => false,
            Ended::Exited(exit) => exit.success(),
        }
    }

    pub(crate) fn code(&self) -> i32 {
        match self {
            Ended::QueueDrained => 0,
            Ended::NotStarted | Ended::DeadlineNotStarted => 137,
            Ended::Exited(exit) => exit.code,
        }
    }

    /// The exit's reason: a container that never started counts as killed.
    pub(crate) fn reason(&self) -> ExitReason {
        match self {
            Ended::QueueDrained => ExitReason::Completed,
            Ended::NotStarted => ExitReason::Killed,
            Ended::DeadlineNotStarted => ExitReason::DeadlineExceeded,
            Ended::Exited(exit) => exit.reason.clone(),
        }
    }
}

/// The pod's final status, as the machine decided it (the executor adds the times).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Final {
    /// `Succeeded` or `Failed`.
    pub(crate) phase: &'static str,
    pub(crate) reason: Option<String>,
    pub(crate) message: Option<String>,
    /// A disruption (the drain ended the pod before its work was done): the message of the
    /// `DisruptionTarget=True` condition, with reason `WorkerDrained`.
    pub(crate) disruption: Option<String>,
    /// The container's terminated state.
    pub(crate) exit: Ended,
    /// The container's `lastState`: the exit before the last restart.
    pub(crate) last_state: Option<Exit>,
    pub(crate) restarts: i32,
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Event {
    /// The pod runner starts.
    Start,
    /// The pod's stop was requested (recorded; acted upon at the next decision).
    Stop,
    /// The worker began draining (recorded).
    DrainStarted,
    /// The drain cut off what still runs, with its reason (recorded; implies `Stop`).
    DrainCut(Option<String>),
    /// `TakeTask` returned a task.
    TaskReady,
    /// `TakeTask` returned no task.
    NoTask(NoTask),
    /// `GiveBack` handed the task back.
    GivenBack,
    /// `Settle` settled the task.
    Settled(Settled),
    /// `Spawn` started the process.
    Spawned(Time),
    /// `StartStream` started the `Stream` process.
    StreamStarted(Time),
    /// `Spawn` or `StartStream` failed: the exit says why.
    StartFailed(Exit),
    /// `AwaitQuickExit`: the process still runs.
    StillRunning,
    /// The process (or the handler, for one task) ended, with why a task failed when the exit
    /// code does not say it.
    Exited(Exit, Option<String>),
    /// A wait (`AwaitExit`, `RunStreamTask`, `SleepUntil`) ended early for the pod's stop or the
    /// drain (already recorded).
    Interrupted,
    /// The pod's deadline passed during a run.
    DeadlineReached,
    /// `ReportWaiting` was answered (or given up).
    Reported,
    /// `SleepUntil` reached its instant.
    BackOffElapsed,
    /// `EndStream` is done.
    StreamEnded,
    /// `FinishQueue` or `FinishQueueAfterReport` is done.
    QueueFinished,
    /// `CloseLog` is done: the log is closed and shipped.
    LogClosed,
    /// `ReportFinal` ended.
    FinalReported(Sent),
}

/// What to do. Every action but `ReportRunning` is answered by one event; only the last action
/// of a step is answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Action<I> {
    /// Wait for the next task: `TaskReady` or `NoTask`.
    TakeTask,
    /// Hand back the task just taken: `GivenBack`.
    GiveBack,
    /// Settle the task with the handler's exit (`QueuePod::settle`): `Settled`.
    Settle(Exit),
    /// Start the process (`Exec`, with the task if any): `Spawned` or `StartFailed`.
    Spawn,
    /// Start the `Stream` process: `StreamStarted` or `StartFailed`.
    StartStream,
    /// Send the task to the `Stream` process: `Exited`, `Interrupted` or `DeadlineReached`.
    RunStreamTask { deadline: Option<I> },
    /// The `Noop` handler: `Exited` (success).
    RunNoop,
    /// Wait for the process's exit until `until`: `Exited` or `StillRunning`.
    AwaitQuickExit { until: I },
    /// Wait for the process's exit: `Exited`, `Interrupted` (the pod's stop) or
    /// `DeadlineReached`.
    AwaitExit { deadline: Option<I> },
    /// Stop the running process (SIGTERM, the grace period, SIGKILL): `Exited`.
    Kill(Kill),
    /// Report the container Running since `started_at` (`force`: even if a draining queue pod
    /// reported recently). Not answered.
    ReportRunning { started_at: Time, force: bool },
    /// Report the container waiting in `CrashLoopBackOff` for `delay`: `Reported`.
    ReportWaiting { delay: Duration },
    /// Wait until the instant (the restart back-off): `BackOffElapsed` or `Interrupted`.
    SleepUntil(I),
    /// End the `Stream` process: close its stdin (or stop it, with `kill`): `StreamEnded`.
    EndStream { kill: bool },
    /// A draining queue pod hands back what it holds: `QueueFinished`.
    FinishQueue,
    /// Append the note to the pod's log, close and ship it: `LogClosed`.
    CloseLog { note: Option<String> },
    /// Report the final status until acknowledged or refused: `FinalReported`.
    ReportFinal(Final),
    /// A fixed-completion queue pod acks (or requeues) its task after the report:
    /// `QueueFinished`.
    FinishQueueAfterReport(Sent),
}

/// Where the pod is.
#[derive(Debug, Clone, PartialEq, Eq)]
enum State<I> {
    New,
    Taking,
    /// Handing back a task, then ending; `drained`: because the worker drains.
    GivingBack {
        ended: Ended,
        drained: bool,
    },
    Spawning,
    StartingStream,
    Quick,
    Running,
    RunningStream,
    RunningNoop,
    Killing,
    Settling {
        exit: Exit,
        start_failed: bool,
    },
    EndingStreamToRestart(Exit),
    ReportingWaiting(Duration),
    BackOff(I),
    EndingStream,
    FinishingQueue,
    ClosingLog,
    Reporting,
    FinishingAfterReport,
    Done,
}

/// The pure state of one pod's container; see the module docs.
#[derive(Debug, Clone)]
pub(crate) struct Machine<I> {
    spec: Spec,
    deadline: Option<I>,
    state: State<I>,
    restarts: i32,
    last_state: Option<Exit>,
    /// The `Stream` process runs (from its start until `EndStream`).
    stream_live: bool,
    /// When the current process started.
    running_since: Option<Time>,
    stopped: bool,
    draining: bool,
    /// The drain's cut, with its reason.
    cut: Option<Option<String>>,
    /// Why the last task failed, when the exit code does not say it (a `Stream` task).
    failure: Option<String>,
    /// Set when the drain ended the pod with its work not done: a disruption.
    drained: Option<String>,
    ended: Option<Ended>,
}

impl<I: Copy + Ord + Add<Duration, Output = I>> Machine<I> {
    /// A pod runner starting at `now` (its deadline counts from there).
    pub(crate) fn new(spec: Spec, now: I) -> Machine<I> {
        Machine {
            deadline: spec.active_deadline.map(|d| now + d),
            spec,
            state: State::New,
            restarts: 0,
            last_state: None,
            stream_live: false,
            running_since: None,
            stopped: false,
            draining: false,
            cut: None,
            failure: None,
            drained: None,
            ended: None,
        }
    }

    /// The in-place restarts so far.
    /// When the pod's `activeDeadlineSeconds` passes, if it has one (the executor ends a wait
    /// for a task there).
    pub(crate) fn deadline(&self) -> Option<I> {
        self.deadline
    }

    pub(crate) fn restarts(&self) -> i32 {
        self.restarts
    }

    /// The exit before the last restart.
    pub(crate) fn last_state(&self) -> Option<&Exit> {
        self.last_state.as_ref()
    }

    /// True once the pod is done (its final report sent, its queue finished).
    #[cfg(test)]
    pub(crate) fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Applies one event at `now` and returns the actions it calls for, in order.
    pub(crate) fn step(&mut self, event: Event, now: I) -> Vec<Action<I>> {
        match event {
            Event::Stop => {
                self.stopped = true;
                return Vec::new();
            }
            Event::DrainStarted => {
                self.draining = true;
                return Vec::new();
            }
            Event::DrainCut(why) => {
                self.stopped = true;
                self.cut.get_or_insert(why);
                return Vec::new();
            }
            _ => {}
        }
        let state = std::mem::replace(&mut self.state, State::Done);
        match (state, event) {
            (State::New, Event::Start) => self.top(now),
            (State::Taking, Event::TaskReady) => {
                let past_deadline = self.deadline.is_some_and(|d| now >= d);
                if self.draining || self.stopped || past_deadline {
                    // Taken as the drain began (or the pod stopped, or its deadline passed), not
                    // started: handed back.
                    let ended = if self.draining || self.stopped {
                        Ended::NotStarted
                    } else {
                        Ended::DeadlineNotStarted
                    };
                    self.state = State::GivingBack { ended, drained: self.draining };
                    vec![Action::GiveBack]
                } else {
                    self.run()
                }
            }
            (State::Taking, Event::NoTask(why)) => match why {
                NoTask::Drained => self.end(Ended::QueueDrained),
                NoTask::Stopped => self.end(Ended::NotStarted),
                NoTask::DeadlineExceeded => self.end(Ended::DeadlineNotStarted),
                NoTask::Draining => {
                    self.drained = Some(self.draining_msg(if self.spec.queue == Queue::Drain {
                        "the pod takes no more tasks"
                    } else {
                        "the pod stopped waiting for a task"
                    }));
                    self.end(Ended::NotStarted)
                }
            },
            (State::GivingBack { ended, drained }, Event::GivenBack) => {
                if drained {
                    self.drained = Some(self.draining_msg("the task it had just taken was handed back"));
                }
                self.end(ended)
            }
            (State::Spawning, Event::Spawned(at)) => {
                self.running_since = Some(at);
                self.state = State::Quick;
                vec![Action::AwaitQuickExit { until: now + RUNNING_REPORT_DELAY }]
            }
            (State::StartingStream, Event::StreamStarted(at)) => {
                self.stream_live = true;
                self.running_since = Some(at);
                let report = Action::ReportRunning { started_at: at, force: true };
                // Stopped, or past its deadline, while the process started: the task is not
                // sent, and the process is stopped.
                let kill = if self.stopped {
                    Some(Kill::Stopped)
                } else if self.deadline.is_some_and(|d| now >= d) {
                    Some(Kill::DeadlineExceeded)
                } else {
                    None
                };
                if let Some(why) = kill {
                    self.state = State::Killing;
                    return vec![report, Action::Kill(why)];
                }
                self.state = State::RunningStream;
                vec![report, Action::RunStreamTask { deadline: self.deadline }]
            }
            (State::Spawning | State::StartingStream, Event::StartFailed(exit)) => {
                if self.spec.queue == Queue::None {
                    self.end(Ended::Exited(exit))
                } else {
                    // The task is settled as a failure; the pod ends whatever the lifecycle
                    // decides (`finish` requeues a task it kept for a restart).
                    self.state = State::Settling { exit: exit.clone(), start_failed: true };
                    vec![Action::Settle(exit)]
                }
            }
            (State::Quick, Event::StillRunning) => {
                self.state = State::Running;
                vec![
                    Action::ReportRunning { started_at: self.started_at(), force: false },
                    Action::AwaitExit { deadline: self.deadline },
                ]
            }
            (State::Running | State::RunningStream, Event::Interrupted) => {
                self.state = State::Killing;
                vec![Action::Kill(Kill::Stopped)]
            }
            (State::Running | State::RunningStream, Event::DeadlineReached) => {
                self.state = State::Killing;
                vec![Action::Kill(Kill::DeadlineExceeded)]
            }
            (
                State::Quick | State::Running | State::RunningStream | State::RunningNoop | State::Killing,
                Event::Exited(exit, why),
            ) => {
                self.failure = why;
                if self.spec.queue == Queue::None {
                    self.decide(exit)
                } else {
                    // The lifecycle decides what happens to the task first (see
                    // `crate::lifecycle`).
                    self.state = State::Settling { exit: exit.clone(), start_failed: false };
                    vec![Action::Settle(exit)]
                }
            }
            (State::Settling { exit, start_failed }, Event::Settled(settled)) => {
                if start_failed || exit.reason == ExitReason::DeadlineExceeded {
                    // A pod past its deadline takes no next task either.
                    return self.end(Ended::Exited(exit));
                }
                match settled {
                    // A draining pod goes on to the next task; so does a fixed-completion pod
                    // whose task was a duplicate or whose lease was lost.
                    Settled::Next => self.top(now),
                    Settled::Succeeded => self.end(Ended::Exited(exit)),
                    Settled::Restart | Settled::Done => self.decide(exit),
                }
            }
            (State::EndingStreamToRestart(exit), Event::StreamEnded) => {
                self.stream_live = false;
                self.back_off(exit)
            }
            (State::ReportingWaiting(delay), Event::Reported) => {
                if self.stopped || self.draining {
                    return self.top(now);
                }
                let until = now + delay;
                self.state = State::BackOff(until);
                vec![Action::SleepUntil(until)]
            }
            (State::BackOff(until), Event::BackOffElapsed | Event::Interrupted) => {
                if now < until && !self.stopped && !self.draining {
                    // Too early, and nothing cut the back-off short: wait on.
                    self.state = State::BackOff(until);
                    return vec![Action::SleepUntil(until)];
                }
                self.top(now)
            }
            (State::EndingStream, Event::StreamEnded) => {
                self.stream_live = false;
                self.after_stream()
            }
            (State::FinishingQueue, Event::QueueFinished) => self.conclude(),
            (State::ClosingLog, Event::LogClosed) => {
                self.state = State::Reporting;
                vec![Action::ReportFinal(self.final_status())]
            }
            (State::Reporting, Event::FinalReported(sent)) => {
                if self.spec.queue == Queue::Fixed {
                    self.state = State::FinishingAfterReport;
                    vec![Action::FinishQueueAfterReport(sent)]
                } else {
                    Vec::new()
                }
            }
            (State::FinishingAfterReport, Event::QueueFinished) => Vec::new(),
            (state, _) => {
                // Not this state's answer (stale or repeated): ignored.
                self.state = state;
                Vec::new()
            }
        }
    }

    /// The top of the loop: start the next run, unless the pod is stopped, drains, or is past
    /// its deadline.
    fn top(&mut self, now: I) -> Vec<Action<I>> {
        self.failure = None;
        if self.stopped {
            return self.end(Ended::NotStarted);
        }
        if self.draining {
            // Nothing runs now (a draining queue pod between tasks, a pod not started yet or
            // waiting to restart): nothing more is started.
            let what = match self.spec.queue {
                Queue::Drain => "the pod takes no more tasks",
                _ if self.restarts > 0 => "the container is not restarted",
                _ => "the pod was not started",
            };
            self.drained = Some(self.draining_msg(what));
            return self.end(Ended::NotStarted);
        }
        if self.deadline.is_some_and(|d| now >= d) {
            return self.end(Ended::DeadlineNotStarted);
        }
        if self.spec.queue != Queue::None {
            self.state = State::Taking;
            return vec![Action::TakeTask];
        }
        self.run()
    }

    /// Runs the handler (a queue pod has its task).
    fn run(&mut self) -> Vec<Action<I>> {
        match self.spec.handler {
            Handler::Noop => {
                self.state = State::RunningNoop;
                vec![Action::RunNoop]
            }
            Handler::Stream if self.stream_live => {
                self.state = State::RunningStream;
                vec![
                    Action::ReportRunning { started_at: self.started_at(), force: false },
                    Action::RunStreamTask { deadline: self.deadline },
                ]
            }
            Handler::Stream => {
                self.state = State::StartingStream;
                vec![Action::StartStream]
            }
            Handler::Exec => {
                self.state = State::Spawning;
                vec![Action::Spawn]
            }
        }
    }

    /// After the exit (and the task's settlement): end the pod, or restart in place.
    fn decide(&mut self, exit: Exit) -> Vec<Action<I>> {
        let stopped = matches!(exit.reason, ExitReason::Killed | ExitReason::DeadlineExceeded);
        if exit.success() || !self.spec.on_failure || stopped {
            return self.end(Ended::Exited(exit));
        }
        if self.draining {
            // (A fixed-completion pod's held task is requeued by the queue's finish.)
            self.drained = Some(self.draining_msg("the failed container is not restarted"));
            return self.end(Ended::Exited(exit));
        }
        // OnFailure: restart in place with kubelet-style back-off (a `Stream` process too).
        if self.stream_live {
            self.state = State::EndingStreamToRestart(exit);
            return vec![Action::EndStream { kill: self.stopped }];
        }
        self.back_off(exit)
    }

    fn back_off(&mut self, exit: Exit) -> Vec<Action<I>> {
        self.restarts += 1;
        self.last_state = Some(exit);
        let delay = restart_delay(self.spec.backoff_base, self.spec.backoff_max, self.restarts);
        self.state = State::ReportingWaiting(delay);
        vec![Action::ReportWaiting { delay }]
    }

    /// The container ends with the pod: the `Stream` process first.
    fn end(&mut self, ended: Ended) -> Vec<Action<I>> {
        self.ended = Some(ended);
        if self.stream_live {
            self.state = State::EndingStream;
            return vec![Action::EndStream { kill: self.stopped }];
        }
        self.after_stream()
    }

    /// A draining pod gives back anything its connection still holds before it is seen
    /// finished.
    fn after_stream(&mut self) -> Vec<Action<I>> {
        if self.spec.queue == Queue::Drain {
            self.state = State::FinishingQueue;
            return vec![Action::FinishQueue];
        }
        self.conclude()
    }

    fn conclude(&mut self) -> Vec<Action<I>> {
        let killed = self.ended.as_ref().is_some_and(|e| e.reason() == ExitReason::Killed);
        // Stopped at the drain's cut (the timeout, or a shutdown during the drain).
        if self.drained.is_none()
            && self.draining
            && killed
            && let Some(why) = &self.cut
        {
            let why = why.clone().unwrap_or_else(|| self.draining_msg("the pod was stopped"));
            self.drained = Some(why);
        }
        self.state = State::ClosingLog;
        vec![Action::CloseLog { note: self.drained.clone() }]
    }

    fn final_status(&self) -> Final {
        let exit = self.ended.clone().unwrap_or(Ended::NotStarted);
        let phase = if exit.success() && self.drained.is_none() { phase::SUCCEEDED } else { phase::FAILED };
        let (reason, message) = if let Some(why) = &self.drained {
            // A disruption: the coordinator leaves it uncounted and the Job replaces it.
            (Some(REASON_WORKER_DRAINED.to_string()), Some(why.clone()))
        } else if phase == phase::FAILED {
            let reason = match exit.reason() {
                ExitReason::DeadlineExceeded => "DeadlineExceeded",
                ExitReason::StartError(_) => "StartError",
                ExitReason::Killed => "Terminated",
                _ => "Error",
            };
            let message =
                self.failure.clone().unwrap_or_else(|| format!("process exited with code {}", exit.code()));
            (Some(reason.to_string()), Some(message))
        } else {
            (None, None)
        };
        Final {
            phase,
            reason,
            message,
            disruption: self.drained.clone(),
            exit,
            last_state: self.last_state.clone(),
            restarts: self.restarts,
        }
    }

    fn started_at(&self) -> Time {
        self.running_since.unwrap_or_default()
    }

    fn draining_msg(&self, what: &str) -> String {
        format!("worker {} is draining: {what}", self.spec.worker)
    }
}

/// The delay before the `restarts`th in-place restart (kubelet: 10 s doubled up to 5 min).
pub(crate) fn restart_delay(base: Duration, max: Duration, restarts: i32) -> Duration {
    Backoff::nth_delay(base, max, (restarts - 1).max(0) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use Event::{
        BackOffElapsed, DeadlineReached, DrainCut, DrainStarted, Exited, FinalReported, GivenBack,
        Interrupted, LogClosed, QueueFinished, Reported, Spawned, Start, StartFailed, StillRunning, Stop,
        StreamEnded, StreamStarted, TaskReady,
    };

    /// The tests' instants: the time since the pod's runner started.
    type At = Duration;

    const MS: fn(u64) -> Duration = Duration::from_millis;

    fn spec(queue: Queue, handler: Handler, on_failure: bool, deadline: Option<Duration>) -> Spec {
        Spec {
            worker: "w1".into(),
            on_failure,
            queue,
            handler,
            active_deadline: deadline,
            backoff_base: Duration::from_secs(10),
            backoff_max: Duration::from_secs(300),
        }
    }

    fn exit(code: i32, reason: ExitReason) -> Exit {
        let t = Time::default();
        Exit { code, signal: None, started_at: t, finished_at: t, reason }
    }

    fn ok() -> Exit {
        exit(0, ExitReason::Completed)
    }

    fn failed(code: i32) -> Exit {
        exit(code, ExitReason::Error)
    }

    fn killed() -> Exit {
        exit(143, ExitReason::Killed)
    }

    fn deadline_exit() -> Exit {
        exit(143, ExitReason::DeadlineExceeded)
    }

    /// One action, short, for the tables.
    fn show(a: &Action<At>) -> String {
        match a {
            Action::TakeTask => "TakeTask".into(),
            Action::GiveBack => "GiveBack".into(),
            Action::Settle(_) => "Settle".into(),
            Action::Spawn => "Spawn".into(),
            Action::StartStream => "StartStream".into(),
            Action::RunStreamTask { .. } => "RunStreamTask".into(),
            Action::RunNoop => "RunNoop".into(),
            Action::AwaitQuickExit { until } => format!("AwaitQuickExit@{until:?}"),
            Action::AwaitExit { .. } => "AwaitExit".into(),
            Action::Kill(k) => format!("Kill({k:?})"),
            Action::ReportRunning { force: true, .. } => "ReportRunning!".into(),
            Action::ReportRunning { .. } => "ReportRunning".into(),
            Action::ReportWaiting { delay } => format!("Waiting({delay:?})"),
            Action::SleepUntil(at) => format!("SleepUntil@{at:?}"),
            Action::EndStream { kill: false } => "EndStream".into(),
            Action::EndStream { kill: true } => "KillStream".into(),
            Action::FinishQueue => "FinishQueue".into(),
            Action::CloseLog { note: None } => "CloseLog".into(),
            Action::CloseLog { note: Some(n) } => format!("CloseLog: {n}"),
            Action::ReportFinal(f) => {
                let mut s = format!(
                    "Final {} {} {}",
                    f.phase,
                    f.reason.as_deref().unwrap_or("-"),
                    f.message.as_deref().unwrap_or("-")
                );
                if f.disruption.is_some() {
                    s.push_str(" +DisruptionTarget");
                }
                if f.restarts > 0 {
                    s.push_str(&format!(" restarts={}", f.restarts));
                }
                s
            }
            Action::FinishQueueAfterReport(sent) => format!("FinishQueueAfterReport({sent:?})"),
        }
    }

    /// Plays `(ms, event)` pairs and returns the actions of each step, shown.
    fn play(spec: Spec, events: &[(u64, Event)]) -> (Machine<At>, Vec<String>) {
        let mut m = Machine::new(spec, Duration::ZERO);
        let out = events
            .iter()
            .map(|(ms, e)| m.step(e.clone(), MS(*ms)).iter().map(show).collect::<Vec<_>>().join(", "))
            .collect();
        (m, out)
    }

    const DRAINING: &str = "worker w1 is draining";

    /// Named cases: (name, spec, `(ms, event)` pairs, the actions of each step).
    #[test]
    fn table() {
        let plain = spec(Queue::None, Handler::Exec, false, None);
        let on_failure = spec(Queue::None, Handler::Exec, true, None);
        let fixed = spec(Queue::Fixed, Handler::Exec, false, None);
        let drain_noop = spec(Queue::Drain, Handler::Noop, false, None);
        let drain_stream = spec(Queue::Drain, Handler::Stream, false, None);
        let fixed_stream_on_failure = spec(Queue::Fixed, Handler::Stream, true, None);
        let fixed_stream = spec(Queue::Fixed, Handler::Stream, false, None);
        let cut = "the pod did not finish within worker w1's drain timeout (5s)".to_string();
        type Case = (&'static str, Spec, Vec<(u64, Event)>, Vec<String>);
        let cases: Vec<Case> = vec![
            (
                "a process that ends within 25 ms is never reported Running",
                plain.clone(),
                vec![(0, Start), (0, Spawned(Time::default())), (10, Exited(ok(), None)), (11, LogClosed)],
                vec![
                    "Spawn".into(),
                    "AwaitQuickExit@25ms".into(),
                    "CloseLog".into(),
                    "Final Succeeded - -".into(),
                ],
            ),
            (
                "a longer process is reported Running, then its failure",
                plain.clone(),
                vec![
                    (0, Start),
                    (0, Spawned(Time::default())),
                    (25, StillRunning),
                    (90, Exited(failed(3), None)),
                    (91, LogClosed),
                    (92, FinalReported(Sent::Acked)),
                ],
                vec![
                    "Spawn".into(),
                    "AwaitQuickExit@25ms".into(),
                    "ReportRunning, AwaitExit".into(),
                    "CloseLog".into(),
                    "Final Failed Error process exited with code 3".into(),
                    "".into(),
                ],
            ),
            (
                "OnFailure: the container restarts after the back-off (10 s, then 20 s), counted",
                on_failure.clone(),
                vec![
                    (0, Start),
                    (0, Spawned(Time::default())),
                    (5, Exited(failed(1), None)),
                    (100, Reported),
                    (10_100, BackOffElapsed),
                    (10_100, Spawned(Time::default())),
                    (10_110, Exited(failed(1), None)),
                    (10_200, Reported),
                    (30_200, BackOffElapsed),
                    (30_200, Spawned(Time::default())),
                    (30_210, Exited(ok(), None)),
                    (30_211, LogClosed),
                ],
                vec![
                    "Spawn".into(),
                    "AwaitQuickExit@25ms".into(),
                    "Waiting(10s)".into(),
                    "SleepUntil@10.1s".into(),
                    "Spawn".into(),
                    "AwaitQuickExit@10.125s".into(),
                    "Waiting(20s)".into(),
                    "SleepUntil@30.2s".into(),
                    "Spawn".into(),
                    "AwaitQuickExit@30.225s".into(),
                    "CloseLog".into(),
                    "Final Succeeded - - restarts=2".into(),
                ],
            ),
            (
                "a back-off answered before its instant waits on (no early restart)",
                on_failure.clone(),
                vec![
                    (0, Start),
                    (0, Spawned(Time::default())),
                    (5, Exited(failed(1), None)),
                    (100, Reported),
                    (5_000, BackOffElapsed),
                    (5_000, Interrupted),
                ],
                vec![
                    "Spawn".into(),
                    "AwaitQuickExit@25ms".into(),
                    "Waiting(10s)".into(),
                    "SleepUntil@10.1s".into(),
                    "SleepUntil@10.1s".into(),
                    "SleepUntil@10.1s".into(),
                ],
            ),
            (
                "the pod's stop during the run kills the process: Failed, Terminated",
                plain.clone(),
                vec![
                    (0, Start),
                    (0, Spawned(Time::default())),
                    (25, StillRunning),
                    (50, Stop),
                    (50, Interrupted),
                    (60, Exited(killed(), None)),
                    (61, LogClosed),
                ],
                vec![
                    "Spawn".into(),
                    "AwaitQuickExit@25ms".into(),
                    "ReportRunning, AwaitExit".into(),
                    "".into(),
                    "Kill(Stopped)".into(),
                    "CloseLog".into(),
                    "Final Failed Terminated process exited with code 143".into(),
                ],
            ),
            (
                "activeDeadlineSeconds kills the process: Failed, DeadlineExceeded",
                spec(Queue::None, Handler::Exec, true, Some(Duration::from_secs(1))),
                vec![
                    (0, Start),
                    (0, Spawned(Time::default())),
                    (25, StillRunning),
                    (1_000, DeadlineReached),
                    (1_010, Exited(deadline_exit(), None)),
                    (1_011, LogClosed),
                ],
                vec![
                    "Spawn".into(),
                    "AwaitQuickExit@25ms".into(),
                    "ReportRunning, AwaitExit".into(),
                    "Kill(DeadlineExceeded)".into(),
                    "CloseLog".into(),
                    "Final Failed DeadlineExceeded process exited with code 143".into(),
                ],
            ),
            (
                "a deadline passed during the back-off: nothing restarts, DeadlineExceeded",
                spec(Queue::None, Handler::Exec, true, Some(Duration::from_secs(5))),
                vec![
                    (0, Start),
                    (0, Spawned(Time::default())),
                    (5, Exited(failed(1), None)),
                    (100, Reported),
                    (10_100, BackOffElapsed),
                    (10_101, LogClosed),
                ],
                vec![
                    "Spawn".into(),
                    "AwaitQuickExit@25ms".into(),
                    "Waiting(10s)".into(),
                    "SleepUntil@10.1s".into(),
                    "CloseLog".into(),
                    "Final Failed DeadlineExceeded process exited with code 137 restarts=1".into(),
                ],
            ),
            (
                "a stopped pod is not restarted: its stop ends the back-off",
                on_failure.clone(),
                vec![
                    (0, Start),
                    (0, Spawned(Time::default())),
                    (5, Exited(failed(1), None)),
                    (100, Reported),
                    (200, Stop),
                    (200, Interrupted),
                    (201, LogClosed),
                ],
                vec![
                    "Spawn".into(),
                    "AwaitQuickExit@25ms".into(),
                    "Waiting(10s)".into(),
                    "SleepUntil@10.1s".into(),
                    "".into(),
                    "CloseLog".into(),
                    "Final Failed Terminated process exited with code 137 restarts=1".into(),
                ],
            ),
            (
                "a stopped pod starts nothing",
                plain.clone(),
                vec![(0, Stop), (0, Start), (1, LogClosed)],
                vec![
                    "".into(),
                    "CloseLog".into(),
                    "Final Failed Terminated process exited with code 137".into(),
                ],
            ),
            (
                "a draining worker starts no pod: WorkerDrained, a disruption",
                plain.clone(),
                vec![(0, DrainStarted), (0, Start), (1, LogClosed)],
                vec![
                    "".into(),
                    format!("CloseLog: {DRAINING}: the pod was not started"),
                    format!(
                        "Final Failed WorkerDrained {DRAINING}: the pod was not started +DisruptionTarget"
                    ),
                ],
            ),
            (
                "a failure during the drain is not restarted in place (OnFailure)",
                on_failure.clone(),
                vec![
                    (0, Start),
                    (0, Spawned(Time::default())),
                    (25, StillRunning),
                    (30, DrainStarted),
                    (500, Exited(failed(3), None)),
                    (501, LogClosed),
                ],
                vec![
                    "Spawn".into(),
                    "AwaitQuickExit@25ms".into(),
                    "ReportRunning, AwaitExit".into(),
                    "".into(),
                    format!("CloseLog: {DRAINING}: the failed container is not restarted"),
                    format!(
                        "Final Failed WorkerDrained {DRAINING}: the failed container is not restarted +DisruptionTarget"
                    ),
                ],
            ),
            (
                "a drain during the back-off ends it: the container is not restarted",
                on_failure.clone(),
                vec![
                    (0, Start),
                    (0, Spawned(Time::default())),
                    (5, Exited(failed(1), None)),
                    (100, Reported),
                    (200, DrainStarted),
                    (200, Interrupted),
                ],
                vec![
                    "Spawn".into(),
                    "AwaitQuickExit@25ms".into(),
                    "Waiting(10s)".into(),
                    "SleepUntil@10.1s".into(),
                    "".into(),
                    format!("CloseLog: {DRAINING}: the container is not restarted"),
                ],
            ),
            (
                "cut at the drain timeout: a disruption with the cut's reason",
                plain.clone(),
                vec![
                    (0, Start),
                    (0, Spawned(Time::default())),
                    (25, StillRunning),
                    (30, DrainStarted),
                    (5_030, DrainCut(Some(cut.clone()))),
                    (5_030, Stop),
                    (5_030, Interrupted),
                    (5_040, Exited(killed(), None)),
                    (5_041, LogClosed),
                ],
                vec![
                    "Spawn".into(),
                    "AwaitQuickExit@25ms".into(),
                    "ReportRunning, AwaitExit".into(),
                    "".into(),
                    "".into(),
                    "".into(),
                    "Kill(Stopped)".into(),
                    format!("CloseLog: {cut}"),
                    format!("Final Failed WorkerDrained {cut} +DisruptionTarget"),
                ],
            ),
            (
                "a stop during a drain that was not cut is no disruption (the coordinator's)",
                plain.clone(),
                vec![
                    (0, Start),
                    (0, Spawned(Time::default())),
                    (25, StillRunning),
                    (30, DrainStarted),
                    (40, Stop),
                    (40, Interrupted),
                    (50, Exited(killed(), None)),
                ],
                vec![
                    "Spawn".into(),
                    "AwaitQuickExit@25ms".into(),
                    "ReportRunning, AwaitExit".into(),
                    "".into(),
                    "".into(),
                    "Kill(Stopped)".into(),
                    "CloseLog".into(),
                ],
            ),
            (
                "a pod that succeeds during the drain succeeded",
                plain.clone(),
                vec![
                    (0, Start),
                    (0, Spawned(Time::default())),
                    (3, DrainStarted),
                    (5, Exited(ok(), None)),
                    (6, LogClosed),
                ],
                vec![
                    "Spawn".into(),
                    "AwaitQuickExit@25ms".into(),
                    "".into(),
                    "CloseLog".into(),
                    "Final Succeeded - -".into(),
                ],
            ),
            (
                "a start error: Failed, StartError, and no restart under OnFailure",
                on_failure.clone(),
                vec![
                    (0, Start),
                    (0, StartFailed(exit(127, ExitReason::StartError("nope: command not found".into())))),
                    (1, LogClosed),
                ],
                vec![
                    "Spawn".into(),
                    "CloseLog".into(),
                    "Final Failed StartError process exited with code 127".into(),
                ],
            ),
            (
                "fixed completions: the exit is settled, the success reported, then the task acked",
                fixed.clone(),
                vec![
                    (0, Start),
                    (5, TaskReady),
                    (5, Spawned(Time::default())),
                    (9, Exited(ok(), None)),
                    (10, Event::Settled(Settled::Succeeded)),
                    (11, LogClosed),
                    (12, FinalReported(Sent::Acked)),
                    (13, QueueFinished),
                ],
                vec![
                    "TakeTask".into(),
                    "Spawn".into(),
                    "AwaitQuickExit@30ms".into(),
                    "Settle".into(),
                    "CloseLog".into(),
                    "Final Succeeded - -".into(),
                    "FinishQueueAfterReport(Acked)".into(),
                    "".into(),
                ],
            ),
            (
                "fixed completions: a refused final report is handed to the queue (requeue)",
                fixed.clone(),
                vec![
                    (0, Start),
                    (5, TaskReady),
                    (5, Spawned(Time::default())),
                    (9, Exited(ok(), None)),
                    (10, Event::Settled(Settled::Succeeded)),
                    (11, LogClosed),
                    (12, FinalReported(Sent::Refused)),
                ],
                vec![
                    "TakeTask".into(),
                    "Spawn".into(),
                    "AwaitQuickExit@30ms".into(),
                    "Settle".into(),
                    "CloseLog".into(),
                    "Final Succeeded - -".into(),
                    "FinishQueueAfterReport(Refused)".into(),
                ],
            ),
            (
                "fixed completions: a duplicate goes on to another task",
                fixed.clone(),
                vec![
                    (0, Start),
                    (5, TaskReady),
                    (5, Spawned(Time::default())),
                    (9, Exited(ok(), None)),
                    (10, Event::Settled(Settled::Next)),
                ],
                vec![
                    "TakeTask".into(),
                    "Spawn".into(),
                    "AwaitQuickExit@30ms".into(),
                    "Settle".into(),
                    "TakeTask".into(),
                ],
            ),
            (
                "fixed completions: the deadline passes while the pod waits for a task: DeadlineExceeded",
                spec(Queue::Fixed, Handler::Exec, false, Some(Duration::from_secs(1))),
                vec![(0, Start), (1_000, Event::NoTask(NoTask::DeadlineExceeded)), (1_001, LogClosed)],
                vec![
                    "TakeTask".into(),
                    "CloseLog".into(),
                    "Final Failed DeadlineExceeded process exited with code 137".into(),
                ],
            ),
            (
                "fixed completions: a pod waiting for its task stops waiting at the drain",
                fixed.clone(),
                vec![(0, Start), (1, DrainStarted), (2, Event::NoTask(NoTask::Draining)), (3, LogClosed)],
                vec![
                    "TakeTask".into(),
                    "".into(),
                    format!("CloseLog: {DRAINING}: the pod stopped waiting for a task"),
                    format!(
                        "Final Failed WorkerDrained {DRAINING}: the pod stopped waiting for a task +DisruptionTarget"
                    ),
                ],
            ),
            (
                "drain until empty, Noop: task after task, then the queue is drained everywhere",
                drain_noop.clone(),
                vec![
                    (0, Start),
                    (1, TaskReady),
                    (1, Exited(ok(), None)),
                    (1, Event::Settled(Settled::Next)),
                    (2, Event::NoTask(NoTask::Drained)),
                    (3, QueueFinished),
                    (4, LogClosed),
                    (5, FinalReported(Sent::Acked)),
                ],
                vec![
                    "TakeTask".into(),
                    "RunNoop".into(),
                    "Settle".into(),
                    "TakeTask".into(),
                    "FinishQueue".into(),
                    "CloseLog".into(),
                    "Final Succeeded - -".into(),
                    "".into(),
                ],
            ),
            (
                "a task taken as the drain began is handed back",
                drain_noop.clone(),
                vec![(0, Start), (1, DrainStarted), (2, TaskReady), (3, GivenBack), (4, QueueFinished)],
                vec![
                    "TakeTask".into(),
                    "".into(),
                    "GiveBack".into(),
                    "FinishQueue".into(),
                    format!("CloseLog: {DRAINING}: the task it had just taken was handed back"),
                ],
            ),
            (
                "a draining pod between tasks takes no more at the drain",
                drain_noop.clone(),
                vec![
                    (0, Start),
                    (1, TaskReady),
                    (1, DrainStarted),
                    (1, Exited(ok(), None)),
                    (2, Event::Settled(Settled::Next)),
                ],
                vec!["TakeTask".into(), "RunNoop".into(), "".into(), "Settle".into(), "FinishQueue".into()],
            ),
            (
                "Stream: one process, reported Running at its start, ended with the pod",
                drain_stream.clone(),
                vec![
                    (0, Start),
                    (1, TaskReady),
                    (2, StreamStarted(Time::default())),
                    (3, Exited(ok(), None)),
                    (3, Event::Settled(Settled::Next)),
                    (4, TaskReady),
                    (5, Exited(ok(), None)),
                    (5, Event::Settled(Settled::Next)),
                    (6, Event::NoTask(NoTask::Drained)),
                    (7, StreamEnded),
                    (8, QueueFinished),
                ],
                vec![
                    "TakeTask".into(),
                    "StartStream".into(),
                    "ReportRunning!, RunStreamTask".into(),
                    "Settle".into(),
                    "TakeTask".into(),
                    "ReportRunning, RunStreamTask".into(),
                    "Settle".into(),
                    "TakeTask".into(),
                    "EndStream".into(),
                    "FinishQueue".into(),
                    "CloseLog".into(),
                ],
            ),
            (
                "Stream: the pod's stop kills the process in its task, and ends it stopped",
                drain_stream.clone(),
                vec![
                    (0, Start),
                    (1, TaskReady),
                    (2, StreamStarted(Time::default())),
                    (3, Stop),
                    (3, Interrupted),
                    (4, Exited(killed(), None)),
                    (5, Event::Settled(Settled::Done)),
                ],
                vec![
                    "TakeTask".into(),
                    "StartStream".into(),
                    "ReportRunning!, RunStreamTask".into(),
                    "".into(),
                    "Kill(Stopped)".into(),
                    "Settle".into(),
                    "KillStream".into(),
                ],
            ),
            (
                "Stream, OnFailure: a failed task ends the process, which restarts after the back-off",
                fixed_stream_on_failure.clone(),
                vec![
                    (0, Start),
                    (1, TaskReady),
                    (2, StreamStarted(Time::default())),
                    (3, Exited(failed(1), Some("task t failed: no".into()))),
                    (4, Event::Settled(Settled::Restart)),
                    (5, StreamEnded),
                    (6, Reported),
                    (10_006, BackOffElapsed),
                    (10_007, TaskReady),
                ],
                vec![
                    "TakeTask".into(),
                    "StartStream".into(),
                    "ReportRunning!, RunStreamTask".into(),
                    "Settle".into(),
                    "EndStream".into(),
                    "Waiting(10s)".into(),
                    "SleepUntil@10.006s".into(),
                    "TakeTask".into(),
                    "StartStream".into(),
                ],
            ),
            (
                "Stream: a failed task's message is the pod's",
                fixed_stream.clone(),
                vec![
                    (0, Start),
                    (1, TaskReady),
                    (2, StreamStarted(Time::default())),
                    (3, Exited(failed(1), Some("task t failed: bad".into()))),
                    (4, Event::Settled(Settled::Done)),
                    (5, StreamEnded),
                    (6, LogClosed),
                ],
                vec![
                    "TakeTask".into(),
                    "StartStream".into(),
                    "ReportRunning!, RunStreamTask".into(),
                    "Settle".into(),
                    "EndStream".into(),
                    "CloseLog".into(),
                    "Final Failed Error task t failed: bad".into(),
                ],
            ),
            (
                "a stale or repeated answer is ignored",
                plain.clone(),
                vec![
                    (0, Start),
                    (0, BackOffElapsed),
                    (0, Event::Settled(Settled::Done)),
                    (0, Spawned(Time::default())),
                ],
                vec!["Spawn".into(), "".into(), "".into(), "AwaitQuickExit@25ms".into()],
            ),
        ];
        for (name, spec, events, want) in cases {
            let (_, got) = play(spec, &events);
            assert_eq!(got, want, "{name}");
        }
    }

    #[test]
    fn the_final_report_keeps_the_last_state_and_the_restarts() {
        let (mut m, _) = play(
            spec(Queue::None, Handler::Exec, true, None),
            &[(0, Start), (0, Spawned(Time::default())), (5, Exited(failed(2), None)), (6, Reported)],
        );
        assert_eq!(m.restarts(), 1);
        assert_eq!(m.last_state(), Some(&failed(2)));
        m.step(BackOffElapsed, Duration::from_secs(11));
        m.step(Spawned(Time::default()), Duration::from_secs(11));
        m.step(Exited(ok(), None), Duration::from_secs(11));
        let actions = m.step(LogClosed, Duration::from_secs(11));
        let Some(Action::ReportFinal(f)) = actions.first() else { panic!("{actions:?}") };
        assert_eq!(f.last_state, Some(failed(2)));
        assert_eq!((f.phase, f.restarts), (phase::SUCCEEDED, 1));
    }

    #[test]
    fn the_restart_delay_doubles_up_to_its_cap() {
        let s = Duration::from_secs;
        for (restarts, want) in [(0, s(10)), (1, s(10)), (2, s(20)), (3, s(40)), (6, s(300)), (40, s(300))] {
            assert_eq!(restart_delay(s(10), s(300), restarts), want, "restart {restarts}");
        }
    }

    mod property {
        use proptest::prelude::*;

        use super::*;

        /// One step of the random world: answer the outstanding action (with a random choice),
        /// let time pass, or change the pod's stop or the worker's drain.
        #[derive(Debug, Clone)]
        enum Step {
            Answer(u8),
            Advance(u64),
            Stop,
            Drain,
            Cut,
        }

        fn step_strategy() -> impl Strategy<Value = Step> {
            prop_oneof![
                12 => any::<u8>().prop_map(Step::Answer),
                2 => (0u64..20_000).prop_map(Step::Advance),
                1 => Just(Step::Stop),
                1 => Just(Step::Drain),
                1 => Just(Step::Cut),
            ]
        }

        fn spec_strategy() -> impl Strategy<Value = Spec> {
            let queue = prop_oneof![Just(Queue::None), Just(Queue::Fixed), Just(Queue::Drain)];
            let handler = prop_oneof![Just(Handler::Exec), Just(Handler::Stream), Just(Handler::Noop)];
            let deadline = prop::option::of((0u64..60_000).prop_map(Duration::from_millis));
            (queue, handler, any::<bool>(), deadline).prop_map(|(queue, handler, on_failure, deadline)| {
                // Only a queue pod has a handler other than `Exec`.
                let handler = if queue == Queue::None { Handler::Exec } else { handler };
                spec(queue, handler, on_failure, deadline)
            })
        }

        /// What the world saw, to check the machine against.
        #[derive(Default)]
        struct World {
            now: Duration,
            /// The action waiting for its answer.
            outstanding: Option<Action<At>>,
            stopped: bool,
            draining: bool,
            cut: bool,
            /// A process was killed at the pod's deadline.
            deadline_killed: bool,
            finals: u32,
            finished_after_report: u32,
            waiting_reports: i32,
            /// The drain, its cut and the stop when the machine concluded (`CloseLog`).
            at_conclusion: (bool, bool, bool),
            /// In the restart back-off: its instant, once known.
            backing_off: Option<Option<At>>,
        }

        impl World {
            /// The answers the executor may give to the outstanding action now; the first is a
            /// calm one that moves the pod toward its end. Each says whether time passes as the
            /// answer implies (`false` only for a back-off's early wake-up).
            fn answers(&mut self, spec: &Spec, calm: bool) -> Vec<(Event, bool)> {
                let Some(action) = self.outstanding.clone() else { return Vec::new() };
                let deadline = spec.active_deadline;
                let mut out = Vec::new();
                match action {
                    Action::TakeTask => {
                        if self.stopped {
                            out.push(Event::NoTask(NoTask::Stopped));
                        }
                        if self.draining {
                            out.push(Event::NoTask(NoTask::Draining));
                        }
                        if spec.queue == Queue::Drain {
                            out.push(Event::NoTask(NoTask::Drained));
                        }
                        if deadline.is_some_and(|d| self.now >= d) {
                            out.push(Event::NoTask(NoTask::DeadlineExceeded));
                        }
                        if !calm || out.is_empty() {
                            out.push(TaskReady);
                        }
                    }
                    Action::GiveBack => out.push(GivenBack),
                    Action::Settle(exit) => {
                        let fixed = spec.queue == Queue::Fixed;
                        if exit.success() && fixed {
                            out.push(Event::Settled(Settled::Succeeded));
                        }
                        out.push(Event::Settled(Settled::Done));
                        if !exit.success() && fixed && spec.on_failure {
                            out.push(Event::Settled(Settled::Restart));
                        }
                        out.push(Event::Settled(Settled::Next));
                    }
                    Action::Spawn => {
                        out.push(Spawned(Time::default()));
                        out.push(StartFailed(exit(127, ExitReason::StartError("not found".into()))));
                    }
                    Action::StartStream => {
                        out.push(StreamStarted(Time::default()));
                        out.push(StartFailed(exit(127, ExitReason::StartError("not found".into()))));
                    }
                    Action::RunNoop => out.push(Exited(ok(), None)),
                    Action::AwaitQuickExit { .. } => {
                        out.extend([Exited(ok(), None), Exited(failed(1), None), StillRunning]);
                    }
                    Action::AwaitExit { .. } | Action::RunStreamTask { .. } => {
                        out.extend([Exited(ok(), None), Exited(failed(2), Some("task failed".into()))]);
                        if self.stopped {
                            out.push(Interrupted);
                        }
                        if deadline.is_some() {
                            out.push(DeadlineReached);
                        }
                    }
                    Action::Kill(Kill::Stopped) => out.push(Exited(killed(), None)),
                    Action::Kill(Kill::DeadlineExceeded) => out.push(Exited(deadline_exit(), None)),
                    Action::ReportWaiting { .. } => out.push(Reported),
                    Action::SleepUntil(_) => {
                        if self.stopped || self.draining {
                            out.push(Interrupted);
                        }
                        out.push(BackOffElapsed);
                        if !calm {
                            // A wake-up before the instant (the executor never sends one): the
                            // machine must not restart early.
                            return out
                                .into_iter()
                                .map(|e| (e, true))
                                .chain([(BackOffElapsed, false)])
                                .collect();
                        }
                    }
                    Action::EndStream { .. } => out.push(StreamEnded),
                    Action::FinishQueue | Action::FinishQueueAfterReport(_) => out.push(QueueFinished),
                    Action::CloseLog { .. } => out.push(LogClosed),
                    Action::ReportFinal(_) => {
                        out.extend([FinalReported(Sent::Acked), FinalReported(Sent::Refused)])
                    }
                    Action::ReportRunning { .. } => unreachable!("never outstanding"),
                }
                out.into_iter().map(|e| (e, true)).collect()
            }

            /// Lets time pass as the answer implies (a wait for an instant ends at it).
            fn time_for(&mut self, spec: &Spec, event: &Event) {
                match (&self.outstanding, event) {
                    (Some(Action::SleepUntil(at)), BackOffElapsed) => self.now = self.now.max(*at),
                    (Some(Action::AwaitQuickExit { until }), StillRunning) => self.now = self.now.max(*until),
                    (_, DeadlineReached) => {
                        self.now = self.now.max(spec.active_deadline.expect("a deadline"));
                    }
                    _ => {}
                }
            }

            /// Checks the actions of one step against the invariants.
            fn check(
                &mut self,
                spec: &Spec,
                m: &Machine<At>,
                actions: &[Action<At>],
            ) -> Result<(), TestCaseError> {
                // At most one action waits for an answer, and it comes last.
                for (i, a) in actions.iter().enumerate() {
                    let answered = !matches!(a, Action::ReportRunning { .. });
                    prop_assert_eq!(answered, i + 1 == actions.len(), "{:?}", actions);
                }
                let past_deadline = spec.active_deadline.is_some_and(|d| self.now >= d);
                for a in actions {
                    if self.finals > 0 {
                        prop_assert!(
                            matches!(a, Action::FinishQueueAfterReport(_)) && spec.queue == Queue::Fixed,
                            "{:?} after the final report",
                            a
                        );
                        self.finished_after_report += 1;
                        prop_assert_eq!(self.finished_after_report, 1);
                    }
                    match a {
                        Action::TakeTask
                        | Action::Spawn
                        | Action::StartStream
                        | Action::RunNoop
                        | Action::RunStreamTask { .. } => {
                            prop_assert!(!self.stopped, "{:?} after the pod's stop", a);
                            // (A task taken before the drain still runs, once its `Stream`
                            // process is up.)
                            if !matches!(a, Action::RunStreamTask { .. }) {
                                prop_assert!(!self.draining, "{:?} during the drain", a);
                            }
                            prop_assert!(!self.deadline_killed, "{:?} after the deadline's kill", a);
                            prop_assert!(!past_deadline, "{:?} past the deadline", a);
                            if let Some(until) = self.backing_off.take() {
                                let until = until.expect("the back-off's instant");
                                prop_assert!(self.now >= until, "a restart before its back-off elapsed");
                            }
                        }
                        Action::ReportWaiting { delay } => {
                            prop_assert!(spec.on_failure, "a restart without OnFailure");
                            self.waiting_reports += 1;
                            prop_assert_eq!(m.restarts(), self.waiting_reports, "restarts are counted");
                            let want = restart_delay(spec.backoff_base, spec.backoff_max, m.restarts());
                            prop_assert_eq!(*delay, want);
                            self.backing_off = Some(None);
                        }
                        Action::SleepUntil(at) => {
                            prop_assert!(
                                !self.stopped && !self.draining,
                                "a back-off after the stop or the drain"
                            );
                            self.backing_off = Some(Some(*at));
                        }
                        Action::CloseLog { .. } => {
                            self.at_conclusion = (self.draining, self.cut, self.stopped)
                        }
                        Action::Kill(Kill::DeadlineExceeded) => {
                            prop_assert!(past_deadline, "a deadline kill before the deadline");
                            self.deadline_killed = true;
                        }
                        Action::ReportFinal(f) => {
                            self.finals += 1;
                            prop_assert_eq!(self.finals, 1, "one final report");
                            prop_assert_eq!(f.restarts, self.waiting_reports);
                            if let Some(why) = &f.disruption {
                                prop_assert!(self.draining, "a disruption without a drain");
                                prop_assert_eq!(f.phase, phase::FAILED);
                                prop_assert_eq!(f.reason.as_deref(), Some(REASON_WORKER_DRAINED));
                                prop_assert_eq!(f.message.as_ref(), Some(why));
                            }
                            if f.phase == phase::SUCCEEDED {
                                prop_assert!(f.exit.success() && f.disruption.is_none());
                                prop_assert!(f.reason.is_none());
                            } else {
                                prop_assert!(f.reason.is_some() && f.message.is_some());
                            }
                            if self.deadline_killed || f.exit.reason() == ExitReason::DeadlineExceeded {
                                prop_assert_eq!(f.exit.reason(), ExitReason::DeadlineExceeded);
                                prop_assert_eq!(f.phase, phase::FAILED);
                                prop_assert_eq!(f.reason.as_deref(), Some("DeadlineExceeded"));
                            }
                            // (As the machine saw them when it concluded.)
                            let (draining, cut, stopped) = self.at_conclusion;
                            if draining && cut && f.exit.reason() == ExitReason::Killed {
                                prop_assert!(f.disruption.is_some(), "cut by the drain: a disruption");
                            }
                            if draining && !stopped && f.exit == Ended::NotStarted {
                                prop_assert!(f.disruption.is_some(), "ended by the drain: a disruption");
                            }
                        }
                        _ => {}
                    }
                }
                if let Some(last) = actions.last() {
                    self.outstanding = Some(last.clone());
                }
                Ok(())
            }
        }

        /// Steps the machine with a flag, or with an answer to the outstanding action (`on_time`:
        /// time passes as the answer implies).
        fn apply(
            m: &mut Machine<At>,
            world: &mut World,
            spec: &Spec,
            event: Event,
            on_time: bool,
        ) -> Result<(), TestCaseError> {
            let answer = !matches!(event, Stop | DrainStarted | DrainCut(_));
            if answer {
                if on_time {
                    world.time_for(spec, &event);
                }
                world.outstanding = None;
            }
            let actions = m.step(event, world.now);
            if !answer {
                prop_assert!(actions.is_empty(), "a flag is only recorded");
            } else {
                prop_assert!(!actions.is_empty() || m.is_done(), "the machine went silent");
            }
            world.check(spec, m, &actions)
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 4_000, ..ProptestConfig::default() })]

            #[test]
            fn invariants_hold_after_every_step(spec in spec_strategy(), steps in prop::collection::vec(step_strategy(), 1..80)) {
                let mut m = Machine::new(spec.clone(), Duration::ZERO);
                let mut world = World::default();
                apply(&mut m, &mut world, &spec, Start, true)?;
                for step in steps {
                    match step {
                        Step::Answer(pick) => {
                            let answers = world.answers(&spec, false);
                            if answers.is_empty() {
                                continue;
                            }
                            let (event, on_time) = answers[pick as usize % answers.len()].clone();
                            apply(&mut m, &mut world, &spec, event, on_time)?;
                        }
                        Step::Advance(ms) => world.now += MS(ms),
                        Step::Stop => {
                            world.stopped = true;
                            apply(&mut m, &mut world, &spec, Stop, true)?;
                        }
                        Step::Drain => {
                            world.draining = true;
                            apply(&mut m, &mut world, &spec, DrainStarted, true)?;
                        }
                        Step::Cut => {
                            // The cut stops the pod too (its stop token is the cut's child).
                            world.cut = true;
                            world.stopped = true;
                            apply(&mut m, &mut world, &spec, DrainCut(Some("cut".into())), true)?;
                            apply(&mut m, &mut world, &spec, Stop, true)?;
                        }
                    }
                }
                // Liveness: answered calmly (and stopped, so no task runs forever), every pod
                // ends with exactly one final report.
                world.stopped = true;
                apply(&mut m, &mut world, &spec, Stop, true)?;
                let mut rounds = 0;
                while let Some((event, on_time)) = world.answers(&spec, true).into_iter().next() {
                    rounds += 1;
                    prop_assert!(rounds < 100, "the pod never ends");
                    apply(&mut m, &mut world, &spec, event, on_time)?;
                }
                prop_assert!(m.is_done(), "the pod is not done");
                prop_assert_eq!(world.finals, 1);
            }
        }
    }
}
