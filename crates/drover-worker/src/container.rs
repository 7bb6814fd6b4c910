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
//!    arrives as the drain began (or the pod was stopped) is handed back (`GiveBack`).
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
//!   the pod's deadline passed;
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
    /// Handing back a task; `drained`: because the worker drains.
    GivingBack {
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
                if self.draining || self.stopped {
                    // Taken as the drain began (or the pod stopped), not started: handed back.
                    self.state = State::GivingBack { drained: self.draining };
                    vec![Action::GiveBack]
                } else {
                    self.run()
                }
            }
            (State::Taking, Event::NoTask(why)) => match why {
                NoTask::Drained => self.end(Ended::QueueDrained),
                NoTask::Stopped => self.end(Ended::NotStarted),
                NoTask::Draining => {
                    self.drained = Some(self.draining_msg(if self.spec.queue == Queue::Drain {
                        "the pod takes no more tasks"
                    } else {
                        "the pod stopped waiting for a task"
                    }));
                    self.end(Ended::NotStarted)
                }
            },
            (State::GivingBack { drained }, Event::GivenBack) => {
                if drained {
                    self.drained = Some(self.draining_msg("the task it had just taken was handed back"));
                }
                self.end(Ended::NotStarted)
            }
            (State::Spawning, Event::Spawned(at)) => {
                self.running_since = Some(at);
                self.state = State::Quick;
                vec![Action::AwaitQuickExit { until: now + RUNNING_REPORT_DELAY }]
            }
            (State::StartingStream, Event::StreamStarted(at)) => {
                self.stream_live = true;
                self.running_since = Some(at);
                self.state = State::RunningStream;
                vec![
                    Action::ReportRunning { started_at: at, force: true },
                    Action::RunStreamTask { deadline: self.deadline },
                ]
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
        if self.drained.is_none() && self.draining && killed {
            if let Some(why) = &self.cut {
                let why = why.clone().unwrap_or_else(|| self.draining_msg("the pod was stopped"));
                self.drained = Some(why);
            }
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
