//! The task side of a queue pod's life as a pure state machine: which task is acked, requeued,
//! recorded or reported, and when. No I/O, no clock, nothing async: [`Lifecycle::step`] takes an
//! event and returns the actions to perform; [`crate::tasks`] performs them (it is the
//! executor) and feeds the outcome back as the next event.
//!
//! # Expected flow
//! One task of a pod (`h` is the executor's local handle for it):
//! 1. `Taken(h)`: the task is held (leased); action `Run(h)`.
//! 2. `Exited(h, Succeeded)`: action `Record(h)`: the success goes to the Job's task ledger in
//!    the coordinator (semantics.md §10.10), before the ack. A drain pod goes on at once
//!    (`Take`): its records are pipelined, each task acked when its own record is answered.
//! 3. `Recorded(h, first)`:
//!    - drain until empty: action `Ack(h)`, whether `first` or a duplicate (the ledger counts it
//!      once either way);
//!    - fixed completions, `first`: action `ReportSucceeded`: the pod's final `Succeeded` report.
//!      `ReportAcked` then gives `Ack(h)`; `ReportRefused` gives `Requeue(h)` (never an ack);
//!    - fixed completions, a duplicate (the task had already succeeded in another pod whose
//!      completion was counted): `Ack(h)` and `Take`: this pod's completion is another task.
//! 4. `Exited(h, Failed)`: fixed completions under `OnFailure` keep the task leased through the
//!    restart back-off (`RestartAfterBackOff(h)`, then `BackOffElapsed(h)` gives `Run(h)` again);
//!    otherwise `Requeue(h)`. `Exited(h, Stopped)` (killed, deadline) requeues.
//! 5. `Acked(h)`, `AckFailed(h)`, `Requeued(h)`: the task is settled and forgotten. A drain pod
//!    then takes the next one.
//! 6. `LeaseLost(h)` while the handler runs or waits in back-off: the broker gave the task back,
//!    and another consumer may hold it now. It is forgotten: never recorded, reported, acked or
//!    requeued by this pod after that, and a fixed-completion pod takes another task. Once the
//!    success is on its way to the ledger, a lost lease changes nothing: the ledger decides which
//!    success is the task's first, and the late ack fails harmlessly at the broker.
//!
//!
//! A draining pod of tiny tasks takes them in batches: the first task of a batch is `Taken(h)`,
//! the others `Prefetched(h)`: held (leased) and not started. `Take` then means "go on": the
//! executor starts the oldest prefetched task (`Started(h)` gives `Run(h)`) before it takes from
//! the broker again. A prefetched task never runs beside another, and goes back unstarted
//! (`Requeue(h)`, not counted as requeued) when the handler fails or is stopped (the pod may end
//! or restart its process: other pods run them meanwhile), when the pod drains or stops, or
//! when it arrives after that; a lost lease forgets it.
//!
//! `Drain` (the worker drains) and `Stop` (the pod is stopped) end taking: no `Take`, no
//! restart; a task waiting in back-off is requeued, prefetched tasks are handed back; a success
//! in flight is still recorded and acked (its work was done).
//!
//! # Invariants
//! Checked after every step of random event sequences by the property test below:
//! - a task is acked only after the coordinator recorded its success (and, for a fixed-completion
//!   pod's own task, after its Succeeded report was acknowledged);
//! - a refused record or report never leads to an ack;
//! - every task taken and not settled is in [`Lifecycle::held`] (its lease is renewed), through
//!   restart back-off, the record and the report, and from a batch take until it starts;
//! - at most one task runs at a time, and none starts once the pod drains or stops;
//! - every task taken ends acked, requeued or lost once the executor answers its actions;
//! - a success is recorded at most once per delivery, never after its lease was found lost, and a
//!   fixed-completion pod reports success at most once, only for a task it recorded first.

use std::collections::BTreeMap;

use drover_api::TaskCounts;

/// The executor's local handle of one delivery.
pub(crate) type Handle = u64;

/// How the pod uses its queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Fixed completions: one task per pod; `on_failure` restarts it in place with the same task.
    Fixed { on_failure: bool },
    /// Drain until empty: take, run, ack, again.
    Drain,
}

/// How a handler run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Succeeded,
    /// The command failed (non-zero exit, a refused `Stream` answer, a start error).
    Failed,
    /// Killed: the pod was stopped or its deadline passed. Not a failure of the task.
    Stopped,
}

/// Where one held task is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TaskState {
    /// Taken in a batch behind another task (a draining pod of tiny tasks): leased, not
    /// started; it runs when the executor starts it (`Started`), or goes back unstarted.
    Prefetched,
    /// Its handler runs.
    Running,
    /// Failed under `OnFailure`: waits for the restart back-off, still leased.
    BackOff,
    /// Succeeded; its record in the Job's ledger is in flight.
    Recording,
    /// Recorded as the task's first success; the pod's final Succeeded report is in flight.
    Reporting,
    /// Recorded (and reported): its ack is due.
    Acking,
    /// Its requeue is due.
    Requeuing,
    /// A prefetched task is handed back unstarted: its requeue is due (not counted as
    /// requeued: it never ran here).
    HandingBack,
}

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Event {
    /// A take returned a task (the first of its batch): it is to run now.
    Taken(Handle),
    /// A batch take returned this task behind the first: it is held, to run later.
    Prefetched(Handle),
    /// The executor starts a prefetched task (the previous one ended).
    Started(Handle),
    /// The handler of a task ended.
    Exited(Handle, Outcome),
    /// The restart back-off of a task passed.
    BackOffElapsed(Handle),
    /// The coordinator recorded the task's success; `first` unless it had succeeded before.
    Recorded(Handle, bool),
    /// The coordinator refused the record (the pod is not this worker's any more).
    RecordRefused(Handle),
    /// The pod's final Succeeded report was acknowledged.
    ReportAcked,
    /// The pod's final Succeeded report was refused (409).
    ReportRefused,
    /// The broker removed the task.
    Acked(Handle),
    /// The ack failed: the lease was lost and the broker has the task back.
    AckFailed(Handle),
    /// The task was handed back (or the broker returns it: a failed requeue loses nothing).
    Requeued(Handle),
    /// A renewal found the lease lost: the broker gave the task back.
    LeaseLost(Handle),
    /// The worker drains: no new task, no restart.
    Drain,
    /// The pod is being stopped.
    Stop,
}

/// What to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    /// Go on to the next task: start the next prefetched one if any (`Started`), else take
    /// from the broker.
    Take,
    /// Run (or run again) the task's handler.
    Run(Handle),
    /// Wait for the restart back-off, then send `BackOffElapsed`.
    RestartAfterBackOff(Handle),
    /// Record the task's success in the Job's ledger; answer `Recorded` or `RecordRefused`.
    Record(Handle),
    /// Send the pod's final Succeeded report; answer `ReportAcked` or `ReportRefused`.
    ReportSucceeded(Handle),
    /// Ack the task; answer `Acked` or `AckFailed`.
    Ack(Handle),
    /// Requeue the task; answer `Requeued`.
    Requeue(Handle),
}

/// The pure state of one queue pod's tasks; see the module docs.
#[derive(Debug, Clone)]
pub(crate) struct Lifecycle {
    mode: Mode,
    tasks: BTreeMap<Handle, TaskState>,
    counts: TaskCounts,
    /// Taking has ended: the worker drains or the pod is stopped.
    closed: bool,
    /// Fixed completions: the pod's own task succeeded and was reported (the pod is done).
    reported: bool,
    /// Fixed completions: a report was refused, so the pod is not this worker's any more.
    refused: bool,
}

impl Lifecycle {
    pub(crate) fn new(mode: Mode) -> Lifecycle {
        Lifecycle {
            mode,
            tasks: BTreeMap::new(),
            counts: TaskCounts::default(),
            closed: false,
            reported: false,
            refused: false,
        }
    }

    /// The task counts this pod reports (`succeeded` counts first successes it recorded,
    /// `duplicates` successes of tasks that had succeeded before).
    pub(crate) fn counts(&self) -> TaskCounts {
        self.counts
    }

    /// Where a task is, if it is held.
    pub(crate) fn state(&self, h: Handle) -> Option<TaskState> {
        self.tasks.get(&h).copied()
    }

    /// The tasks whose lease must be kept: every task taken and not settled (the executor keeps
    /// a renewal running for each).
    #[cfg(test)]
    pub(crate) fn held(&self) -> impl Iterator<Item = Handle> + '_ {
        self.tasks.keys().copied()
    }

    /// True when no task is held.
    #[cfg(test)]
    pub(crate) fn is_idle(&self) -> bool {
        self.tasks.is_empty()
    }

    /// True when the pod may take a task now.
    pub(crate) fn may_take(&self) -> bool {
        self.may_run()
            && match self.mode {
                Mode::Drain => {
                    self.tasks.values().all(|s| !matches!(s, TaskState::Running | TaskState::Prefetched))
                }
                Mode::Fixed { .. } => self.tasks.is_empty(),
            }
    }

    /// True when the pod may still start tasks at all.
    fn may_run(&self) -> bool {
        !self.closed && !self.reported && !self.refused
    }

    /// The prefetched tasks, oldest first.
    fn prefetched(&self) -> Vec<Handle> {
        self.tasks.iter().filter(|(_, s)| **s == TaskState::Prefetched).map(|(h, _)| *h).collect()
    }

    /// Hands back every prefetched task, unstarted; newest first, so that a broker that puts a
    /// requeued task at the head of its queue (Redis) keeps the batch in its order.
    fn hand_back(&mut self, out: &mut Vec<Action>) {
        for h in self.prefetched().into_iter().rev() {
            self.set(h, TaskState::HandingBack, Action::Requeue(h), out);
        }
    }

    /// Applies one event and returns the actions it calls for, in order.
    pub(crate) fn step(&mut self, event: Event) -> Vec<Action> {
        let mut out = Vec::new();
        let mut lost_now = false;
        match event {
            Event::Taken(h) => {
                if self.tasks.contains_key(&h) {
                    return out;
                }
                if !self.may_take() {
                    // Taken as taking ended (a drain began during the take): handed back.
                    self.tasks.insert(h, TaskState::Requeuing);
                    out.push(Action::Requeue(h));
                } else {
                    self.tasks.insert(h, TaskState::Running);
                    out.push(Action::Run(h));
                }
            }
            Event::Prefetched(h) => {
                if self.tasks.contains_key(&h) {
                    return out;
                }
                if self.mode == Mode::Drain && self.may_run() {
                    self.tasks.insert(h, TaskState::Prefetched);
                } else {
                    // Fixed completions run one task; a closed pod starts none.
                    self.set(h, TaskState::HandingBack, Action::Requeue(h), &mut out);
                }
            }
            Event::Started(h) => {
                if self.state(h) != Some(TaskState::Prefetched)
                    || self.tasks.values().any(|s| *s == TaskState::Running)
                {
                    return out;
                }
                self.set(h, TaskState::Running, Action::Run(h), &mut out);
            }
            Event::Exited(h, outcome) => {
                if self.state(h) != Some(TaskState::Running) {
                    return out;
                }
                match outcome {
                    Outcome::Succeeded => {
                        self.set(h, TaskState::Recording, Action::Record(h), &mut out);
                        // A drain pod does not wait for the ledger: the next task runs while
                        // this one's record is answered (the ack still waits for it).
                        if self.mode == Mode::Drain && !self.closed {
                            out.push(Action::Take);
                        }
                    }
                    Outcome::Failed => {
                        self.counts.failed += 1;
                        let restart = matches!(self.mode, Mode::Fixed { on_failure: true });
                        if restart && !self.closed {
                            self.set(h, TaskState::BackOff, Action::RestartAfterBackOff(h), &mut out);
                        } else {
                            self.set(h, TaskState::Requeuing, Action::Requeue(h), &mut out);
                        }
                    }
                    Outcome::Stopped => self.set(h, TaskState::Requeuing, Action::Requeue(h), &mut out),
                }
                if outcome != Outcome::Succeeded {
                    // The handler failed or was stopped: the pod may be about to end or restart
                    // its process, so the rest of its batch goes back for other pods to run.
                    self.hand_back(&mut out);
                }
            }
            Event::BackOffElapsed(h) => {
                if self.state(h) != Some(TaskState::BackOff) {
                    return out;
                }
                if self.closed {
                    self.set(h, TaskState::Requeuing, Action::Requeue(h), &mut out);
                } else {
                    self.set(h, TaskState::Running, Action::Run(h), &mut out);
                }
            }
            Event::Recorded(h, first) => {
                if self.state(h) != Some(TaskState::Recording) {
                    return out;
                }
                if first {
                    self.counts.succeeded += 1;
                } else {
                    self.counts.duplicates += 1;
                }
                match self.mode {
                    Mode::Fixed { .. } if first && !self.refused => {
                        self.set(h, TaskState::Reporting, Action::ReportSucceeded(h), &mut out)
                    }
                    _ => self.set(h, TaskState::Acking, Action::Ack(h), &mut out),
                }
            }
            Event::RecordRefused(h) => {
                if self.state(h) != Some(TaskState::Recording) {
                    return out;
                }
                self.refused = true;
                self.set(h, TaskState::Requeuing, Action::Requeue(h), &mut out);
                // The pod is not this worker's any more: it starts nothing else.
                self.hand_back(&mut out);
            }
            Event::ReportAcked => {
                if let Some(h) = self.find(TaskState::Reporting) {
                    self.reported = true;
                    self.set(h, TaskState::Acking, Action::Ack(h), &mut out);
                }
            }
            Event::ReportRefused => {
                self.refused = true;
                if let Some(h) = self.find(TaskState::Reporting) {
                    self.set(h, TaskState::Requeuing, Action::Requeue(h), &mut out);
                }
                self.hand_back(&mut out);
            }
            Event::Acked(h) => {
                if self.state(h) == Some(TaskState::Acking) {
                    self.tasks.remove(&h);
                }
            }
            Event::AckFailed(h) => {
                if self.state(h) == Some(TaskState::Acking) {
                    self.tasks.remove(&h);
                    self.counts.requeued += 1;
                }
            }
            Event::Requeued(h) => match self.state(h) {
                Some(TaskState::Requeuing) => {
                    self.tasks.remove(&h);
                    self.counts.requeued += 1;
                }
                Some(TaskState::HandingBack) => {
                    self.tasks.remove(&h);
                }
                _ => {}
            },
            Event::LeaseLost(h) => {
                // The broker has the task back, and another consumer may hold it: a task that
                // has not succeeded here is dropped (never run, recorded or requeued again).
                // A success already on its way to the ledger goes on: the ledger decides whose
                // success is the first, and a late ack or requeue fails harmlessly.
                match self.state(h) {
                    Some(TaskState::Running | TaskState::BackOff) => {
                        self.tasks.remove(&h);
                        self.counts.requeued += 1;
                        lost_now = true;
                    }
                    // Never started here: forgotten, and nothing else changes.
                    Some(TaskState::Prefetched) => {
                        self.tasks.remove(&h);
                    }
                    _ => {}
                }
            }
            Event::Drain | Event::Stop => {
                self.closed = true;
                self.hand_back(&mut out);
                let waiting: Vec<Handle> =
                    self.tasks.iter().filter(|(_, s)| **s == TaskState::BackOff).map(|(h, _)| *h).collect();
                for h in waiting {
                    self.set(h, TaskState::Requeuing, Action::Requeue(h), &mut out);
                }
            }
        }
        // The pod goes on to another task: a drain pod after each recorded success, a
        // fixed-completion pod whose task was a duplicate or was lost (its completion is still
        // to be earned).
        let next = match event {
            Event::Recorded(_, first) => {
                out.contains(&Action::Ack(handle_of(event))) && self.mode != Mode::Drain && !first
            }
            Event::LeaseLost(h) => self.state(h).is_none() && out.is_empty() && lost_now,
            _ => false,
        };
        if next && !self.closed && !self.reported && !self.refused {
            out.push(Action::Take);
        }
        out
    }

    fn set(&mut self, h: Handle, state: TaskState, action: Action, out: &mut Vec<Action>) {
        self.tasks.insert(h, state);
        out.push(action);
    }

    fn find(&self, state: TaskState) -> Option<Handle> {
        self.tasks.iter().find(|(_, s)| **s == state).map(|(h, _)| *h)
    }
}

fn handle_of(event: Event) -> Handle {
    match event {
        Event::Taken(h)
        | Event::Prefetched(h)
        | Event::Started(h)
        | Event::Exited(h, _)
        | Event::BackOffElapsed(h)
        | Event::Recorded(h, _)
        | Event::RecordRefused(h)
        | Event::Acked(h)
        | Event::AckFailed(h)
        | Event::Requeued(h)
        | Event::LeaseLost(h) => h,
        Event::ReportAcked | Event::ReportRefused | Event::Drain | Event::Stop => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Action::*;
    use Event::*;

    const FIXED: Mode = Mode::Fixed { on_failure: false };
    const ON_FAILURE: Mode = Mode::Fixed { on_failure: true };

    /// Plays `events` and returns the actions of each step.
    fn play(mode: Mode, events: &[Event]) -> (Lifecycle, Vec<Vec<Action>>) {
        let mut lc = Lifecycle::new(mode);
        let out = events.iter().map(|e| lc.step(*e)).collect();
        (lc, out)
    }

    /// Named cases: (name, mode, events, the actions of each step, counts at the end).
    #[test]
    fn table() {
        type Case = (&'static str, Mode, Vec<Event>, Vec<Vec<Action>>);
        let cases: Vec<Case> = vec![
            (
                "fixed: success is recorded, then reported, then acked",
                FIXED,
                vec![Taken(1), Exited(1, Outcome::Succeeded), Recorded(1, true), ReportAcked, Acked(1)],
                vec![vec![Run(1)], vec![Record(1)], vec![ReportSucceeded(1)], vec![Ack(1)], vec![]],
            ),
            (
                "fixed: a refused report never leads to an ack (the task is requeued)",
                FIXED,
                vec![Taken(1), Exited(1, Outcome::Succeeded), Recorded(1, true), ReportRefused, Requeued(1)],
                vec![vec![Run(1)], vec![Record(1)], vec![ReportSucceeded(1)], vec![Requeue(1)], vec![]],
            ),
            (
                "fixed: a refused record requeues and reports nothing",
                FIXED,
                vec![Taken(1), Exited(1, Outcome::Succeeded), RecordRefused(1), Requeued(1)],
                vec![vec![Run(1)], vec![Record(1)], vec![Requeue(1)], vec![]],
            ),
            (
                "fixed: a duplicate success is acked and the pod takes another task",
                FIXED,
                vec![Taken(1), Exited(1, Outcome::Succeeded), Recorded(1, false), Acked(1), Taken(2)],
                vec![vec![Run(1)], vec![Record(1)], vec![Ack(1), Take], vec![], vec![Run(2)]],
            ),
            (
                "fixed, OnFailure: the task stays leased through the back-off and runs again",
                ON_FAILURE,
                vec![Taken(1), Exited(1, Outcome::Failed), BackOffElapsed(1), Exited(1, Outcome::Succeeded)],
                vec![vec![Run(1)], vec![RestartAfterBackOff(1)], vec![Run(1)], vec![Record(1)]],
            ),
            (
                "issue 10 case 1: a lease lost in the back-off is never run, recorded or acked again",
                ON_FAILURE,
                vec![Taken(1), Exited(1, Outcome::Failed), LeaseLost(1), BackOffElapsed(1), Taken(2)],
                vec![vec![Run(1)], vec![RestartAfterBackOff(1)], vec![Take], vec![], vec![Run(2)]],
            ),
            (
                "fixed, Never: a failure requeues",
                FIXED,
                vec![Taken(1), Exited(1, Outcome::Failed), Requeued(1)],
                vec![vec![Run(1)], vec![Requeue(1)], vec![]],
            ),
            (
                "a stopped handler requeues its task",
                ON_FAILURE,
                vec![Taken(1), Exited(1, Outcome::Stopped)],
                vec![vec![Run(1)], vec![Requeue(1)]],
            ),
            (
                "a lease lost while running: the success is neither recorded nor acked",
                Mode::Drain,
                vec![Taken(1), LeaseLost(1), Exited(1, Outcome::Succeeded), Taken(2)],
                vec![vec![Run(1)], vec![Take], vec![], vec![Run(2)]],
            ),
            (
                "drain: the pod goes on while a success is recorded; the ack waits for the record",
                Mode::Drain,
                vec![Taken(1), Exited(1, Outcome::Succeeded), Taken(2), Recorded(1, true), Acked(1)],
                vec![vec![Run(1)], vec![Record(1), Take], vec![Run(2)], vec![Ack(1)], vec![]],
            ),
            (
                "drain: a duplicate is acked too (counted once by the ledger)",
                Mode::Drain,
                vec![Taken(1), Exited(1, Outcome::Succeeded), Recorded(1, false), Acked(1)],
                vec![vec![Run(1)], vec![Record(1), Take], vec![Ack(1)], vec![]],
            ),
            (
                "a drain requeues a task waiting in the back-off, and restarts nothing",
                ON_FAILURE,
                vec![Taken(1), Exited(1, Outcome::Failed), Drain, BackOffElapsed(1)],
                vec![vec![Run(1)], vec![RestartAfterBackOff(1)], vec![Requeue(1)], vec![]],
            ),
            (
                "a task taken as the drain began is handed back",
                Mode::Drain,
                vec![Drain, Taken(1), Requeued(1)],
                vec![vec![], vec![Requeue(1)], vec![]],
            ),
            (
                "a success in flight when the pod stops is still recorded and acked",
                Mode::Drain,
                vec![Taken(1), Exited(1, Outcome::Succeeded), Stop, Recorded(1, true), Acked(1)],
                vec![vec![Run(1)], vec![Record(1), Take], vec![], vec![Ack(1)], vec![]],
            ),
            (
                "a lost lease does not cancel an ack already due (it fails at the broker)",
                Mode::Drain,
                vec![Taken(1), Exited(1, Outcome::Succeeded), Recorded(1, true), LeaseLost(1), AckFailed(1)],
                vec![vec![Run(1)], vec![Record(1), Take], vec![Ack(1)], vec![], vec![]],
            ),
            (
                "drain, a batch: one task runs at a time, the next starts from the batch",
                Mode::Drain,
                vec![
                    Taken(1),
                    Prefetched(2),
                    Prefetched(3),
                    Exited(1, Outcome::Succeeded),
                    Started(2),
                    Exited(2, Outcome::Succeeded),
                    Recorded(1, true),
                    Started(3),
                ],
                vec![
                    vec![Run(1)],
                    vec![],
                    vec![],
                    vec![Record(1), Take],
                    vec![Run(2)],
                    vec![Record(2), Take],
                    vec![Ack(1)],
                    vec![Run(3)],
                ],
            ),
            (
                "drain, a batch: a failure hands the unstarted tasks back",
                Mode::Drain,
                vec![
                    Taken(1),
                    Prefetched(2),
                    Prefetched(3),
                    Exited(1, Outcome::Failed),
                    Requeued(2),
                    Started(3),
                ],
                vec![vec![Run(1)], vec![], vec![], vec![Requeue(1), Requeue(3), Requeue(2)], vec![], vec![]],
            ),
            (
                "drain, a batch: a stopped handler hands the unstarted tasks back",
                Mode::Drain,
                vec![Taken(1), Prefetched(2), Exited(1, Outcome::Stopped)],
                vec![vec![Run(1)], vec![], vec![Requeue(1), Requeue(2)]],
            ),
            (
                "drain, a batch: the worker's drain hands back what has not started; the running task finishes",
                Mode::Drain,
                vec![
                    Taken(1),
                    Prefetched(2),
                    Drain,
                    Exited(1, Outcome::Succeeded),
                    Recorded(1, true),
                    Started(2),
                ],
                vec![vec![Run(1)], vec![], vec![Requeue(2)], vec![Record(1)], vec![Ack(1)], vec![]],
            ),
            (
                "drain, a batch: a prefetched task whose lease was lost is forgotten, never started",
                Mode::Drain,
                vec![Taken(1), Prefetched(2), LeaseLost(2), Exited(1, Outcome::Succeeded), Started(2)],
                vec![vec![Run(1)], vec![], vec![], vec![Record(1), Take], vec![]],
            ),
            (
                "drain, a batch: a prefetched task never starts beside the running one",
                Mode::Drain,
                vec![Taken(1), Prefetched(2), Started(2), Taken(3)],
                vec![vec![Run(1)], vec![], vec![], vec![Requeue(3)]],
            ),
            (
                "a task prefetched after the pod stopped goes straight back",
                Mode::Drain,
                vec![Stop, Prefetched(1), Requeued(1)],
                vec![vec![], vec![Requeue(1)], vec![]],
            ),
            (
                "fixed completions hold no batch",
                FIXED,
                vec![Taken(1), Prefetched(2), Requeued(2)],
                vec![vec![Run(1)], vec![Requeue(2)], vec![]],
            ),
        ];
        for (name, mode, events, want) in cases {
            let (lc, got) = play(mode, &events);
            assert_eq!(got, want, "{name}");
            // Every task a case settled is forgotten: nothing it acked, requeued or lost is held.
            for e in &events {
                if let Acked(h) | AckFailed(h) | Requeued(h) = e {
                    assert_eq!(lc.state(*h), None, "{name}: task {h} still held");
                }
            }
        }
    }

    #[test]
    fn counts() {
        let (lc, _) = play(
            Mode::Drain,
            &[
                Taken(1),
                Exited(1, Outcome::Succeeded),
                Recorded(1, true),
                Acked(1),
                Taken(2),
                Exited(2, Outcome::Succeeded),
                Recorded(2, false),
                AckFailed(2),
                Taken(3),
                Exited(3, Outcome::Failed),
                Requeued(3),
            ],
        );
        assert_eq!(lc.counts(), TaskCounts { succeeded: 1, failed: 1, requeued: 2, duplicates: 1 });
        assert!(lc.is_idle());
        // Tasks of a batch handed back unstarted are not counted as requeued; the one that ran
        // and failed is.
        let (lc, _) = play(
            Mode::Drain,
            &[
                Taken(1),
                Prefetched(2),
                Prefetched(3),
                Exited(1, Outcome::Failed),
                Requeued(1),
                Requeued(2),
                Requeued(3),
            ],
        );
        assert_eq!(lc.counts(), TaskCounts { succeeded: 0, failed: 1, requeued: 1, duplicates: 0 });
        assert!(lc.is_idle());
    }

    mod property {
        use std::collections::{BTreeMap, BTreeSet};

        use proptest::prelude::*;

        use super::super::*;

        /// One step the random executor takes: answer an outstanding action (by index, with a
        /// random answer), or inject an external event.
        #[derive(Debug, Clone)]
        enum Step {
            Answer(usize, u8),
            LeaseLost(usize),
            Drain,
            Stop,
            /// A stale or repeated answer for an arbitrary handle (must be ignored or harmless).
            Stray(u8, u64),
        }

        fn step_strategy() -> impl Strategy<Value = Step> {
            prop_oneof![
                8 => (0usize..8, any::<u8>()).prop_map(|(i, a)| Step::Answer(i, a)),
                2 => (0usize..8).prop_map(Step::LeaseLost),
                1 => Just(Step::Drain),
                1 => Just(Step::Stop),
                1 => (any::<u8>(), 1u64..6).prop_map(|(k, h)| Step::Stray(k, h)),
            ]
        }

        fn mode_strategy() -> impl Strategy<Value = Mode> {
            prop_oneof![
                Just(Mode::Drain),
                Just(Mode::Fixed { on_failure: false }),
                Just(Mode::Fixed { on_failure: true }),
            ]
        }

        /// What the executor and the world saw, to check the invariants against.
        #[derive(Default)]
        struct World {
            next: Handle,
            /// Actions issued and not answered yet.
            outstanding: Vec<Action>,
            /// Tasks taken and not yet settled (acked, ack failed, requeued, or lost).
            taken: BTreeSet<Handle>,
            /// Per task: recorded (with `first`), refused, lost, reported, report acked.
            recorded: BTreeMap<Handle, bool>,
            refused: BTreeSet<Handle>,
            lost: BTreeSet<Handle>,
            report_acked: BTreeSet<Handle>,
            records_sent: BTreeMap<Handle, u32>,
            reports_sent: u32,
            /// The pod drained or stopped.
            closed: bool,
        }

        impl World {
            /// The events that answer `action`: several for a batch take, none for a take
            /// that found the queue empty.
            fn answer(lc: &Lifecycle, action: Action, pick: u8, world: &mut World) -> Vec<Event> {
                vec![match action {
                    Action::Take => {
                        // The executor starts a prefetched task before it takes again.
                        if let Some(&h) = lc.prefetched().first() {
                            return vec![Event::Started(h)];
                        }
                        if pick.is_multiple_of(4) {
                            // The queue was empty.
                            return Vec::new();
                        }
                        // A batch of 1 to 4 tasks: the first runs, the others wait.
                        let mut batch = Vec::new();
                        for i in 0..1 + (pick / 4) % 4 {
                            world.next += 1;
                            batch.push(if i == 0 {
                                Event::Taken(world.next)
                            } else {
                                Event::Prefetched(world.next)
                            });
                        }
                        return batch;
                    }
                    Action::Run(h) => Event::Exited(
                        h,
                        match pick % 3 {
                            0 => Outcome::Succeeded,
                            1 => Outcome::Failed,
                            _ => Outcome::Stopped,
                        },
                    ),
                    Action::RestartAfterBackOff(h) => Event::BackOffElapsed(h),
                    Action::Record(h) => match pick % 4 {
                        0 => Event::RecordRefused(h),
                        1 => Event::Recorded(h, false),
                        _ => Event::Recorded(h, true),
                    },
                    Action::ReportSucceeded(_) => {
                        if pick.is_multiple_of(4) {
                            Event::ReportRefused
                        } else {
                            Event::ReportAcked
                        }
                    }
                    Action::Ack(h) => {
                        if pick.is_multiple_of(5) {
                            Event::AckFailed(h)
                        } else {
                            Event::Acked(h)
                        }
                    }
                    Action::Requeue(h) => Event::Requeued(h),
                }]
            }

            /// Notes what an event tells the world, before the machine sees it.
            fn observe_event(&mut self, lc: &Lifecycle, e: Event) {
                match e {
                    Event::Taken(h) | Event::Prefetched(h) => {
                        self.taken.insert(h);
                    }
                    Event::Drain | Event::Stop => self.closed = true,
                    Event::Recorded(h, first) if lc.state(h) == Some(TaskState::Recording) => {
                        self.recorded.insert(h, first);
                    }
                    Event::RecordRefused(h) if lc.state(h) == Some(TaskState::Recording) => {
                        self.refused.insert(h);
                    }
                    Event::ReportAcked => {
                        if let Some(h) = lc.find(TaskState::Reporting) {
                            self.report_acked.insert(h);
                        }
                    }
                    Event::ReportRefused => {
                        if let Some(h) = lc.find(TaskState::Reporting) {
                            self.refused.insert(h);
                        }
                    }
                    Event::LeaseLost(h) if lost_here(lc.state(h)) => {
                        self.lost.insert(h);
                    }
                    _ => {}
                }
            }

            /// Checks the actions of one step against the invariants.
            fn check_actions(&mut self, mode: Mode, actions: &[Action]) -> Result<(), TestCaseError> {
                for a in actions {
                    match *a {
                        Action::Ack(h) => {
                            let first = self.recorded.get(&h).copied();
                            prop_assert!(first.is_some(), "ack of {h} before its success was recorded");
                            prop_assert!(!self.refused.contains(&h), "ack of {h} after a refusal");
                            prop_assert!(!self.lost.contains(&h), "ack of {h} after its lease was lost");
                            if matches!(mode, Mode::Fixed { .. }) && first == Some(true) {
                                prop_assert!(
                                    self.report_acked.contains(&h),
                                    "fixed-completion ack of {h} before its report was acknowledged"
                                );
                            }
                        }
                        Action::Record(h) => {
                            prop_assert!(!self.lost.contains(&h), "record of {h} after its lease was lost");
                            let n = self.records_sent.entry(h).or_default();
                            *n += 1;
                            prop_assert!(*n == 1, "{h} recorded twice");
                        }
                        Action::ReportSucceeded(h) => {
                            prop_assert!(
                                matches!(mode, Mode::Fixed { .. }),
                                "a success report from a drain pod"
                            );
                            prop_assert_eq!(self.recorded.get(&h).copied(), Some(true));
                            prop_assert!(!self.lost.contains(&h));
                            self.reports_sent += 1;
                            prop_assert!(self.reports_sent == 1, "two successes reported");
                        }
                        Action::Run(h) => {
                            prop_assert!(!self.lost.contains(&h), "{a:?} after its lease was lost");
                            prop_assert!(!self.closed, "{a:?} after the pod drained or stopped");
                        }
                        Action::Requeue(h) | Action::RestartAfterBackOff(h) => {
                            prop_assert!(!self.lost.contains(&h), "{a:?} after its lease was lost");
                        }
                        Action::Take => {}
                    }
                }
                self.outstanding.extend_from_slice(actions);
                Ok(())
            }

            /// The machine holds exactly the tasks taken and not settled, so their leases are
            /// renewed, and each has an outstanding action that will move it on.
            /// A prefetched task is moved on by a take (which starts it) or by the end of the
            /// task that runs (a success goes on to take, a failure hands the batch back).
            fn check_held(&self, lc: &Lifecycle) -> Result<(), TestCaseError> {
                let held: BTreeSet<Handle> = lc.held().collect();
                prop_assert_eq!(&held, &self.taken, "held tasks");
                for h in &held {
                    let moving = if lc.state(*h) == Some(TaskState::Prefetched) {
                        self.outstanding.iter().any(|a| match a {
                            Action::Take => true,
                            Action::Run(x) => lc.state(*x) == Some(TaskState::Running),
                            _ => false,
                        })
                    } else {
                        self.outstanding.iter().any(|a| {
                            matches!(a, Action::Run(x) | Action::RestartAfterBackOff(x) | Action::Record(x)
                                | Action::ReportSucceeded(x) | Action::Ack(x) | Action::Requeue(x) if x == h)
                        })
                    };
                    prop_assert!(moving, "task {} is stuck in {:?}", h, lc.state(*h));
                }
                let running = held.iter().filter(|h| lc.state(**h) == Some(TaskState::Running)).count();
                prop_assert!(running <= 1, "{} tasks run at once", running);
                Ok(())
            }

            fn settle(&mut self, e: Event, lc_state_before: Option<TaskState>) {
                match e {
                    Event::Acked(h) | Event::AckFailed(h) if lc_state_before == Some(TaskState::Acking) => {
                        self.taken.remove(&h);
                    }
                    Event::Requeued(h)
                        if matches!(lc_state_before, Some(TaskState::Requeuing | TaskState::HandingBack)) =>
                    {
                        self.taken.remove(&h);
                    }
                    Event::LeaseLost(h) if lost_here(lc_state_before) => {
                        self.taken.remove(&h);
                    }
                    _ => {}
                }
            }
        }

        fn apply(lc: &mut Lifecycle, world: &mut World, mode: Mode, e: Event) -> Result<(), TestCaseError> {
            let before = match e {
                Event::Acked(h) | Event::AckFailed(h) | Event::Requeued(h) | Event::LeaseLost(h) => {
                    lc.state(h)
                }
                _ => None,
            };
            world.observe_event(lc, e);
            let actions = lc.step(e);
            world.settle(e, before);
            world.check_actions(mode, &actions)?;
            world.check_held(lc)?;
            if let Mode::Fixed { .. } = mode {
                prop_assert!(lc.counts().succeeded <= 1, "a fixed-completion pod counts one success");
            }
            Ok(())
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 10_000, ..ProptestConfig::default() })]

            #[test]
            fn invariants_hold_after_every_step(mode in mode_strategy(), steps in prop::collection::vec(step_strategy(), 1..60)) {
                let mut lc = Lifecycle::new(mode);
                let mut world = World::default();
                apply(&mut lc, &mut world, mode, Event::Taken(0))?;
                for step in steps {
                    let event = match step {
                        Step::Answer(i, pick) => {
                            if world.outstanding.is_empty() {
                                continue;
                            }
                            let action = world.outstanding.remove(i % world.outstanding.len());
                            for e in World::answer(&lc, action, pick, &mut world) {
                                apply(&mut lc, &mut world, mode, e)?;
                            }
                            continue;
                        }
                        Step::LeaseLost(i) => {
                            let held: Vec<Handle> = lc.held().collect();
                            if held.is_empty() {
                                continue;
                            }
                            Event::LeaseLost(held[i % held.len()])
                        }
                        Step::Drain => Event::Drain,
                        Step::Stop => Event::Stop,
                        Step::Stray(kind, h) => match kind % 7 {
                            0 => Event::Recorded(h, kind % 2 == 0),
                            1 => Event::Acked(h),
                            2 => Event::Exited(h, Outcome::Succeeded),
                            3 => Event::BackOffElapsed(h),
                            4 => Event::ReportAcked,
                            5 => Event::Started(h),
                            _ => Event::Requeued(h),
                        },
                    };
                    // A stray answer for an action still outstanding would be a real answer;
                    // only feed strays the machine must ignore.
                    if let Step::Stray(..) = step
                        && stray_is_real(&lc, &world, event)
                    {
                        continue;
                    }
                    apply(&mut lc, &mut world, mode, event)?;
                }
                // Liveness: once the world answers every action (taking finds nothing more),
                // every task taken ends settled.
                let mut rounds = 0;
                while let Some(action) = world.outstanding.pop() {
                    rounds += 1;
                    prop_assert!(rounds < 1_000, "the machine never settles");
                    // Taking finds nothing more in the queue (a prefetched task still starts).
                    let pick = if action == Action::Take { 0 } else { 2 };
                    for event in World::answer(&lc, action, pick, &mut world) {
                        apply(&mut lc, &mut world, mode, event)?;
                    }
                }
                prop_assert!(lc.is_idle(), "tasks left held: {:?}", lc.held().collect::<Vec<_>>());
                prop_assert!(world.taken.is_empty());
            }
        }

        /// Whether a lost lease drops a task in this state.
        fn lost_here(state: Option<TaskState>) -> bool {
            matches!(state, Some(TaskState::Running | TaskState::BackOff | TaskState::Prefetched))
        }

        /// True when `event` would answer an action that is outstanding (then it is not stray).
        fn stray_is_real(lc: &Lifecycle, world: &World, event: Event) -> bool {
            if let Event::Started(h) = event {
                // Starting a prefetched task is the executor's answer to a take.
                return lc.state(h) == Some(TaskState::Prefetched);
            }
            world.outstanding.iter().any(|a| match (*a, event) {
                (Action::Record(x), Event::Recorded(h, _)) => x == h,
                (Action::Ack(x), Event::Acked(h)) => x == h,
                (Action::Run(x), Event::Exited(h, _)) => x == h,
                (Action::RestartAfterBackOff(x), Event::BackOffElapsed(h)) => x == h,
                (Action::ReportSucceeded(_), Event::ReportAcked) => true,
                (Action::Requeue(x), Event::Requeued(h)) => x == h,
                _ => false,
            })
        }
    }
}
