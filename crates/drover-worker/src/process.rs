//! Running one pod's process: spawning, log capture, exit status and
//! process-group lifetime.
//!
//! # The supervisor
//!
//! Everything this module keeps beyond one process lives in a [`Supervisor`], an owned value
//! and no global: the registry of live process groups, the group watchdog that knows them
//! (layer 3 below), the "pod spawner" threads (layer 2) and the list of leaders left to reap.
//! The agent creates one in `run_with_drain` and passes it to every pod runner, which starts
//! its processes with [`Supervisor::spawn_async`]; on shutdown the agent calls
//! [`Supervisor::kill_all_groups`]. A test makes its own supervisor, so its pods, its
//! `kill_all_groups` and its watchdog are its own, and tests share a test binary.
//!
//! Expected flow:
//! 1. [`Supervisor::new`]: nothing starts yet.
//! 2. The first spawn starts the spawner threads and the watchdog.
//! 3. Each spawn registers the new group (with the watchdog too); the group's exit, a kill or
//!    the drop of its handle unregisters it.
//! 4. On shutdown, [`Supervisor::kill_all_groups`].
//! 5. Once the last handle and the last live group are gone, the watchdog is stopped (nothing
//!    is registered, it kills nothing) and the spawner threads end.
//!
//! # Process model
//!
//! A pod is one local child process started from a [`ProcessSpec`] by
//! [`Supervisor::spawn`]. It runs as the leader of its **own process group**
//! (`setpgid(0, 0)`, pgid == pid), so every signal this module sends goes to
//! the whole group with `killpg`: children the pod forks (a shell's
//! pipeline, `sleep 60 &`, ...) are signalled together with it.
//!
//! * **Environment**: only an allow-list of the agent's environment is
//!   inherited (`PATH`, `HOME`, the locale, ...: a process runtime needs them,
//!   and unlike a container there is no image to provide them; never the
//!   agent's `DROVER_*` settings, see [`crate::pod_env`]), then the pod's `env`
//!   is applied on top (pod wins).
//! * **stdin**: `None` is `/dev/null`; `Some(bytes)` is written from a separate
//!   task and then closed, whatever its size. A child that never reads its
//!   stdin cannot block the agent; `EPIPE` is ignored (the agent, like every
//!   Rust binary, runs with `SIGPIPE` ignored; the pod does not: it starts with
//!   every signal at its default disposition and none blocked). With
//!   [`ProcessSpec::stdin_file_env`], the same bytes are also in a private file
//!   named by that variable, removed once the process exited.
//! * **Interactive** ([`ProcessSpec::interactive`]): stdin is a pipe kept
//!   open and stdout is not captured; the caller takes both ends with
//!   [`RunningProcess::take_stdio`] and talks to the process (the `Stream`
//!   queue handler: one task per line in, one answer per line out). stderr is
//!   captured as usual. Everything else below holds unchanged.
//! * **stdout/stderr** are piped and drained concurrently into a shared,
//!   bounded [`LogBuffer`] (the oldest bytes are dropped, never the child
//!   blocked). Each stream is appended line by line, so lines of stdout and
//!   stderr interleave in arrival order without being torn. A partial line
//!   (no trailing newline) is appended after [`PARTIAL_LINE_FLUSH`] of
//!   silence, when it reaches 16 KiB, or at EOF; if the other stream then
//!   writes before the line is finished, a `\n` is inserted so lines of the
//!   two streams never glue together. Nothing is printed.
//! * **Exit**: when the leader exits, the rest of its group is `SIGKILL`ed
//!   (like a container whose init process exited; before the leader is
//!   reaped), the log is drained (up to [`LOG_DRAIN_TIMEOUT`], for descendants
//!   that left the group but kept the pipes open) and closed, and the [`Exit`]
//!   is published. A death by signal is reported as exit code `128 + signal`
//!   with [`Exit::signal`] set.
//! * **Spawn failures** are returned as [`SpawnError`]; the caller reports the
//!   pod as failed with [`SpawnError::exit_code`] (127 not found, 126 cannot
//!   be started, like a shell) or simply [`Exit::start_error`].
//!
//! # How a pod is started and waited for
//!
//! Not with `fork()`: the private `spawn` module starts the process with
//! `clone(CLONE_VM | CLONE_VFORK | CLONE_PIDFD)`, like glibc's `posix_spawn`:
//! the child runs on a small stack of its own in the agent's memory (nothing is
//! copied) while the spawning thread is suspended, makes a few raw syscalls
//! (signal dispositions and mask reset, `setpgid`, `PR_SET_PDEATHSIG`, stdio,
//! `chdir`) and `execve`s. Everything it needs (the program resolved in the
//! `PATH` of the final environment, `argv`/`envp`, pipes) is prepared before.
//! A failure in the child (exec error, bad directory, agent gone) comes back as
//! an errno and the child is reaped before [`Supervisor::spawn`] returns the error. This
//! needs Linux ≥ 5.4.
//!
//! The leader is waited for through its pidfd, which is readable once it
//! exited, on the tokio reactor: a task per pod (its exit task; not `tokio::process`, no
//! `SIGCHLD` handler) kills the rest of the group while the
//! exited leader is still an unreaped zombie, then reaps it with
//! `waitid(P_PIDFD)`. Each child is reaped exactly once. If that task
//! is dropped before that (the runtime shutting down), the group is killed and
//! the leader is reaped at the supervisor's next spawn (or when the supervisor is dropped), or
//! stays a zombie until the agent exits.
//!
//! # No pod process outlives the agent
//!
//! Three layers, from the common case to the crash case:
//!
//! 1. **Every graceful path kills the group.** The leader's exit `SIGKILL`s
//!    its group; [`RunningProcess::terminate`], [`RunningProcess::kill`] and
//!    [`RunningProcess::terminate_with_grace`] signal the group; dropping a
//!    [`RunningProcess`] (or the runtime shutting down under it) `SIGKILL`s
//!    the group; and [`Supervisor::kill_all_groups`] `SIGKILL`s every live group of the
//!    agent, for the agent's own shutdown path.
//! 2. **`PR_SET_PDEATHSIG(SIGKILL)`** is set in the child between clone and
//!    exec, followed by a `getppid()` check against the agent's pid captured
//!    before the clone (if the agent already died, the child exits instead of
//!    exec'ing, and the spawn fails with `ESRCH`). The kernel ties the death
//!    signal to the *thread* that created the child, not the process, so
//!    spawning from a `spawn_blocking` thread (which tokio retires after 10 s
//!    idle) would kill pods at random. To make this impossible to get wrong,
//!    [`Supervisor::spawn`] always clones from one of a few "pod spawner" threads of
//!    the supervisor, whatever thread calls it ([`Supervisor::spawn_async`] awaits the
//!    spawn instead of blocking its caller). Those threads end only with the supervisor's
//!    state, which every live group holds, so never while a child of theirs is alive.
//! 3. **One group watchdog per agent** (per [`Supervisor`]). `PDEATHSIG` only reaches the direct
//!    child; when the agent crashes (`kill -9`, OOM, abort), grandchildren in
//!    the pod's group (`sh -c 'sleep 60 & ...'`) would survive. So the first
//!    spawn also starts a single watchdog process: `/bin/sh` running a short
//!    script made only of shell builtins, in its own process group, with
//!    `HUP/INT/QUIT/TERM` ignored and its stdin a pipe from the agent. The
//!    agent writes `+<pgid>` when a group starts and `-<pgid>` when it is gone.
//!    When the agent process dies, for whatever reason, the kernel closes the
//!    pipe's write end; the watchdog reads EOF, `SIGKILL`s every group still
//!    registered, and exits. The pipe is close-on-exec, so pods (and the watchdogs of other
//!    supervisors in the same process) never hold it. If the watchdog itself dies, it is
//!    restarted (and the live groups replayed to it) at the next registration. It costs one
//!    idle process per agent and no extra process per pod, so it does not slow down short
//!    pods. [`Supervisor::without_group_watchdog`] does without it, for agents that run
//!    under a cgroup-based supervisor.
//!
//! Alternatives rejected: a per-pod shim (`drover __pod-shim`) costs an extra
//! exec per pod; re-exec'ing the agent binary as the watchdog works in
//! production but not for library users and tests; `fork()` without exec in a
//! multi-threaded tokio process is unsound; `fork()` then exec (what `std`
//! does for a `pre_exec` hook) copies the page tables of the whole agent for
//! every pod, most of the agent's CPU at high pod rates; `PR_SET_CHILD_SUBREAPER`
//! makes the agent adopt orphans but does nothing once the agent itself is dead.
//!
//! Limits: a descendant that leaves the group (`setsid`, `setpgid`, double-fork
//! daemons) escapes all of this; only a cgroup can contain it. A group is
//! registered with the watchdog right after the exec succeeded, so a
//! grandchild forked in the microseconds before that, by a pod whose agent
//! crashes in exactly that window, is not covered. The group is killed and
//! unregistered while its exited leader is still an unreaped zombie, which
//! keeps the group id reserved, and the handle's signals stop before the reap;
//! only a signal racing with the reap (checked just before it, sent just after)
//! could reach a reused group id, which needs the pid space to wrap around in
//! those microseconds, and which this module accepts.

use std::collections::{BTreeSet, VecDeque};
use std::io::{self, Write as _};
use std::os::unix::process::CommandExt as _;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError, mpsc};
use std::time::Duration;

use chrono::{DateTime, Utc};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::unix::pipe;
use tokio::runtime::Handle;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use crate::pod_env::BodyFile;
use crate::spawn::{ChildStack, Command, Leader, Orphans, SpawnFailure, Spawned, Stdin};

/// Default [`LogBuffer`] capacity: the last 1 MiB of output is kept.
pub const DEFAULT_LOG_CAPACITY: usize = 1024 * 1024;

/// A partial line (no trailing newline) is appended to the log after this
/// much silence on its stream.
pub const PARTIAL_LINE_FLUSH: Duration = Duration::from_millis(100);

/// After the leader exits and its group is killed, how long [`RunningProcess::wait`]
/// waits for stdout/stderr to reach EOF (they stay open only if a descendant
/// escaped the group) before giving up on the rest of the output.
pub const LOG_DRAIN_TIMEOUT: Duration = Duration::from_secs(2);

/// A partial line is appended to the log once it reaches this size.
const MAX_PARTIAL_LINE: usize = 16 * 1024;
const READ_CHUNK: usize = 16 * 1024;

// ---------------------------------------------------------------------------
// Spec, exit, errors
// ---------------------------------------------------------------------------

/// What to run for one pod.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProcessSpec {
    /// Program name (looked up in `PATH`, the pod's `PATH` if it sets one) or path.
    pub program: String,
    pub args: Vec<String>,
    /// Applied on top of the part of the agent's environment a pod inherits (an allow-list,
    /// see [`crate::pod_env`]).
    pub env: Vec<(String, String)>,
    /// Working directory; `None` keeps the agent's.
    pub working_dir: Option<PathBuf>,
    /// Bytes written to stdin, which is then closed; `None` means `/dev/null`. Ignored when
    /// [`interactive`](Self::interactive).
    pub stdin: Option<Vec<u8>>,
    /// Also hand the [`stdin`](Self::stdin) bytes over as a file: written before the spawn to a
    /// new file (mode 0600, in a directory of its own, mode 0700, under the agent's temp
    /// directory) whose path is set in this environment variable, and removed once the process
    /// exited (the task body of `DROVER_TASK_FILE`). Ignored without `stdin`.
    pub stdin_file_env: Option<String>,
    /// Leave the log open when the process exits, because the caller runs more processes into
    /// the same log (a pod restarted in place, a queue pod running one process per task) and
    /// closes it itself.
    pub keep_log_open: bool,
    /// Talk to the process instead of capturing it: stdin is a pipe left open and stdout is not
    /// pumped into the log; both are handed out once by [`RunningProcess::take_stdio`]. stderr
    /// still goes to the log. The process group, death signal, watchdog, exit supervision and
    /// log rules are the same as for any other process. Closing stdin (dropping it) is how the
    /// caller asks a well-behaved process to finish.
    pub interactive: bool,
    /// The process's own root, for a container with volume mounts (see the `mounts` module);
    /// `None`: the agent's.
    pub root: Option<ProcessRoot>,
}

/// The steps that build a process's own root (see the `mounts` module), or why it cannot be
/// built (the spawn then fails with that).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessRoot(pub(crate) Result<Arc<Vec<crate::mounts::MountOp>>, String>);

impl ProcessSpec {
    /// A spec running `program` with `args`, no extra env, inherited working
    /// directory and no stdin.
    pub fn new<I, S>(program: impl Into<String>, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self { program: program.into(), args: args.into_iter().map(Into::into).collect(), ..Self::default() }
    }
}

/// Why a pod process ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExitReason {
    /// Exited with code 0 on its own.
    Completed,
    /// Exited with a non-zero code or died of a signal nobody here sent.
    Error,
    /// Stopped by [`RunningProcess::terminate`], [`RunningProcess::kill`],
    /// [`RunningProcess::terminate_with_grace`] or a drop of the handle
    /// (whatever its exit status turned out to be).
    Killed,
    /// Stopped by [`RunningProcess::wait_with_deadline`] at its deadline.
    DeadlineExceeded,
    /// Never started; see [`SpawnError`].
    StartError(String),
}

impl ExitReason {
    /// Short CamelCase name, e.g. for a pod status `reason` field.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Completed => "Completed",
            Self::Error => "Error",
            Self::Killed => "Killed",
            Self::DeadlineExceeded => "DeadlineExceeded",
            Self::StartError(_) => "StartError",
        }
    }
}

/// How a pod process ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exit {
    /// The exit code, or `128 + signal` if it died of a signal.
    pub code: i32,
    /// The signal that killed the process, if any.
    pub signal: Option<i32>,
    pub started_at: DateTime<Utc>,
    /// When the leader process exited.
    pub finished_at: DateTime<Utc>,
    pub reason: ExitReason,
}

impl Exit {
    /// The exit to report for a pod whose process could not be started.
    pub fn start_error(err: &SpawnError) -> Self {
        let now = Utc::now();
        Self {
            code: err.exit_code(),
            signal: None,
            started_at: now,
            finished_at: now,
            reason: ExitReason::StartError(err.to_string()),
        }
    }

    /// `true` for [`ExitReason::Completed`].
    pub fn success(&self) -> bool {
        self.reason == ExitReason::Completed
    }
}

/// Why [`Supervisor::spawn`] could not start the process.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    #[error("{program}: command not found")]
    NotFound { program: String },
    #[error("{program}: permission denied")]
    PermissionDenied { program: String },
    #[error("working directory {}: {source}", path.display())]
    WorkingDir { path: PathBuf, source: io::Error },
    #[error("{program}: cannot start: {source}")]
    Io { program: String, source: io::Error },
    #[error("Supervisor::spawn must be called from within a tokio runtime")]
    NoRuntime,
    #[error(
        "the container's volumeMounts need a mount namespace of its own, and the kernel refused one ({source}): run the worker as root, or with CAP_SYS_ADMIN"
    )]
    Namespace { source: io::Error },
    #[error("volumeMounts: {what}: {source}")]
    Mount { what: String, source: io::Error },
    #[error("volumeMounts: {0}")]
    Volumes(String),
}

impl SpawnError {
    /// The exit code a shell would report: 127 for a program that was not
    /// found, 126 for anything that was found but could not be started.
    pub fn exit_code(&self) -> i32 {
        match self {
            Self::NotFound { .. } => 127,
            _ => 126,
        }
    }

    fn from_io(program: &str, err: io::Error) -> Self {
        let program = program.to_owned();
        match err.kind() {
            io::ErrorKind::NotFound => Self::NotFound { program },
            io::ErrorKind::PermissionDenied => Self::PermissionDenied { program },
            _ => Self::Io { program, source: err },
        }
    }
}

// ---------------------------------------------------------------------------
// Log buffer
// ---------------------------------------------------------------------------

/// A bounded in-memory log shared between a process's output pumps and any
/// number of readers/followers.
///
/// Offsets are positions in the whole output since the start (they keep
/// growing when old bytes are dropped): the buffer holds bytes
/// `start_offset()..end_offset()`, and `start_offset()` is also the number of
/// bytes dropped so far.
#[derive(Debug)]
pub struct LogBuffer {
    capacity: usize,
    state: Mutex<LogState>,
    notify: Notify,
}

#[derive(Debug, Default)]
struct LogState {
    buf: VecDeque<u8>,
    /// Total bytes ever appended.
    end: u64,
    closed: bool,
    /// Who wrote the last line, if it has no trailing newline yet.
    open_line: Option<Source>,
}

/// Writer of a piece of the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Stdout,
    Stderr,
    /// [`LogBuffer::append`] callers.
    External,
}

impl LogState {
    fn start(&self) -> u64 {
        self.end - self.buf.len() as u64
    }
}

impl Default for LogBuffer {
    fn default() -> Self {
        Self::new(DEFAULT_LOG_CAPACITY)
    }
}

impl LogBuffer {
    /// A buffer keeping the last `capacity` bytes.
    pub fn new(capacity: usize) -> Self {
        Self { capacity, state: Mutex::new(LogState::default()), notify: Notify::new() }
    }

    fn lock(&self) -> MutexGuard<'_, LogState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Appends bytes (dropping the oldest beyond the capacity) and wakes
    /// followers. Ignored once the buffer is closed.
    ///
    /// If the log ends in an unterminated line from another source (the
    /// process's stdout or stderr), a `\n` is inserted first, so that lines
    /// from different sources are never glued together; consecutive appends
    /// from one source are kept byte for byte.
    pub fn append(&self, data: &[u8]) {
        self.append_from(Source::External, data);
    }

    fn append_from(&self, source: Source, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        {
            let mut st = self.lock();
            if st.closed {
                return;
            }
            if st.open_line.is_some_and(|open| open != source) {
                self.push(&mut st, b"\n");
            }
            self.push(&mut st, data);
            st.open_line = (data.last() != Some(&b'\n')).then_some(source);
        }
        self.notify.notify_waiters();
    }

    fn push(&self, st: &mut LogState, data: &[u8]) {
        st.end += data.len() as u64;
        let keep = &data[data.len().saturating_sub(self.capacity)..];
        let overflow = (st.buf.len() + keep.len()).saturating_sub(self.capacity);
        st.buf.drain(..overflow);
        st.buf.extend(keep);
    }

    /// Marks the log complete (the process exited and its output was
    /// drained) and wakes followers.
    pub fn close(&self) {
        self.lock().closed = true;
        self.notify.notify_waiters();
    }

    pub fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// The buffered bytes and the offset just past them (the total number of
    /// bytes ever written).
    pub fn snapshot(&self) -> (Vec<u8>, u64) {
        self.read_from(0)
    }

    /// The buffered bytes from `offset` on, and the offset to read from next.
    ///
    /// If `offset` was already dropped, the data starts at
    /// [`start_offset`](Self::start_offset) instead (so the bytes returned
    /// start at `next - bytes.len()`); an offset past the end returns nothing
    /// and the current end.
    pub fn read_from(&self, offset: u64) -> (Vec<u8>, u64) {
        let st = self.lock();
        let from = offset.clamp(st.start(), st.end);
        let skip = (from - st.start()) as usize;
        let (a, b) = st.buf.as_slices();
        let mut out = Vec::with_capacity(st.buf.len() - skip);
        if skip < a.len() {
            out.extend_from_slice(&a[skip..]);
            out.extend_from_slice(b);
        } else {
            out.extend_from_slice(&b[skip - a.len()..]);
        }
        (out, st.end)
    }

    /// Offset of the oldest byte still buffered (= bytes dropped so far).
    pub fn start_offset(&self) -> u64 {
        self.lock().start()
    }

    /// Total bytes ever written.
    pub fn end_offset(&self) -> u64 {
        self.lock().end
    }

    /// Bytes dropped because of the capacity bound.
    pub fn dropped_bytes(&self) -> u64 {
        self.start_offset()
    }

    /// Bytes currently buffered.
    pub fn len(&self) -> usize {
        self.lock().buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Waits until data past `offset` exists or the log is closed, and returns
    /// the current end offset. Returns at once if that is already the case.
    ///
    /// A follower (`logs -f`) loops: `read_from(off)`, emit, stop if
    /// `is_closed()` and nothing was left, else `changed(next).await`.
    pub async fn changed(&self, offset: u64) -> u64 {
        loop {
            let notified = self.notify.notified();
            let mut notified = std::pin::pin!(notified);
            // Register before checking, so an append in between is not missed.
            notified.as_mut().enable();
            {
                let st = self.lock();
                if st.end > offset || st.closed {
                    return st.end;
                }
            }
            notified.await;
        }
    }

    /// Waits until the log is closed.
    pub async fn closed(&self) {
        loop {
            let notified = self.notify.notified();
            let mut notified = std::pin::pin!(notified);
            notified.as_mut().enable();
            if self.is_closed() {
                return;
            }
            notified.await;
        }
    }
}

/// Copies one output stream into the log, appending whole lines.
async fn pump<R: AsyncRead + Unpin>(mut reader: R, source: Source, log: Arc<LogBuffer>) {
    let mut buf = vec![0u8; READ_CHUNK];
    let mut pending: Vec<u8> = Vec::new();
    loop {
        let read = if pending.is_empty() {
            reader.read(&mut buf).await
        } else {
            // `read` is cancel safe: losing the race loses no data.
            tokio::select! {
                r = reader.read(&mut buf) => r,
                () = tokio::time::sleep(PARTIAL_LINE_FLUSH) => {
                    log.append_from(source, &pending);
                    pending.clear();
                    continue;
                }
            }
        };
        let n = match read {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        let chunk = &buf[..n];
        match chunk.iter().rposition(|&b| b == b'\n') {
            Some(last_nl) => {
                if pending.is_empty() {
                    log.append_from(source, &chunk[..=last_nl]);
                } else {
                    pending.extend_from_slice(&chunk[..=last_nl]);
                    log.append_from(source, &pending);
                    pending.clear();
                }
                pending.extend_from_slice(&chunk[last_nl + 1..]);
            }
            None => pending.extend_from_slice(chunk),
        }
        if pending.len() >= MAX_PARTIAL_LINE {
            log.append_from(source, &pending);
            pending.clear();
        }
    }
    log.append_from(source, &pending);
}

// ---------------------------------------------------------------------------
// Running process
// ---------------------------------------------------------------------------

const STOP_NONE: u8 = 0;
const STOP_KILLED: u8 = 1;
const STOP_DEADLINE: u8 = 2;

/// State shared between a [`RunningProcess`] handle and its exit task.
#[derive(Debug)]
struct Shared {
    pgid: Pid,
    /// Set once the leader exited and its group was killed, just before the leader is reaped
    /// (after which its group id may be reused); no more signals are sent then.
    exited: AtomicBool,
    /// Why we asked it to stop (first request wins).
    stop: AtomicU8,
}

impl Shared {
    fn request_stop(&self, why: u8) {
        let _ = self.stop.compare_exchange(STOP_NONE, why, Ordering::AcqRel, Ordering::Acquire);
    }

    fn signal_group(&self, sig: Signal) {
        if !self.exited.load(Ordering::Acquire) {
            // ESRCH (group already gone) is fine.
            let _ = killpg(self.pgid, sig);
        }
    }
}

/// A started pod process. Its exit is observed by a background task, so the
/// log is drained and closed even if nobody calls [`wait`](Self::wait).
///
/// Dropping the handle before the process exited `SIGKILL`s its group.
#[derive(Debug)]
pub struct RunningProcess {
    pid: u32,
    started_at: DateTime<Utc>,
    log: Arc<LogBuffer>,
    shared: Arc<Shared>,
    exit: watch::Receiver<Option<Exit>>,
    /// An interactive process's stdin and stdout, until taken.
    stdio: Option<(pipe::Sender, pipe::Receiver)>,
}

impl RunningProcess {
    /// Pid of the leader (the spawned program).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Process group id (equal to [`pid`](Self::pid)).
    pub fn pgid(&self) -> i32 {
        self.shared.pgid.as_raw()
    }

    pub fn started_at(&self) -> DateTime<Utc> {
        self.started_at
    }

    pub fn log(&self) -> &Arc<LogBuffer> {
        &self.log
    }

    /// An [interactive](ProcessSpec::interactive) process's stdin (a pipe, open) and stdout (not
    /// captured in the log), the first time it is called; `None` afterwards and for any other
    /// process.
    ///
    /// Dropping the stdin closes it (the process reads EOF). The stdout reaches EOF when the
    /// whole group is gone (or closed it). Neither keeps the process alive: dropping the
    /// [`RunningProcess`] still kills the group.
    pub fn take_stdio(&mut self) -> Option<(pipe::Sender, pipe::Receiver)> {
        self.stdio.take()
    }

    /// The exit, if the process has finished (see [`wait`](Self::wait)).
    pub fn try_exit(&self) -> Option<Exit> {
        self.exit.borrow().clone()
    }

    /// Waits until the leader exited, the rest of its group was killed and the
    /// log is closed, and returns the exit. Cancel safe; may be called again
    /// (and concurrently) and returns the same exit.
    pub async fn wait(&self) -> Exit {
        let mut rx = self.exit.clone();
        if let Ok(exit) = rx.wait_for(Option::is_some).await
            && let Some(exit) = exit.as_ref()
        {
            return exit.clone();
        }
        // The exit task was dropped (runtime shutdown): its guard has
        // SIGKILLed the group.
        let signal = Signal::SIGKILL as i32;
        Exit {
            code: 128 + signal,
            signal: Some(signal),
            started_at: self.started_at,
            finished_at: Utc::now(),
            reason: ExitReason::Killed,
        }
    }

    /// Sends `SIGTERM` to the whole process group; the exit will report
    /// [`ExitReason::Killed`]. No-op once the process has exited.
    pub fn terminate(&self) {
        self.shared.request_stop(STOP_KILLED);
        self.shared.signal_group(Signal::SIGTERM);
    }

    /// Sends `SIGKILL` to the whole process group; the exit will report
    /// [`ExitReason::Killed`]. No-op once the process has exited.
    pub fn kill(&self) {
        self.shared.request_stop(STOP_KILLED);
        self.shared.signal_group(Signal::SIGKILL);
    }

    /// `SIGTERM`s the group, waits up to `grace`, then `SIGKILL`s the group,
    /// and returns the exit (reason [`ExitReason::Killed`] unless the process
    /// had already finished). Cancel safe in the sense that the process is
    /// stopped either way; a cancelled call just does not escalate to SIGKILL.
    pub async fn terminate_with_grace(&self, grace: Duration) -> Exit {
        self.stop(STOP_KILLED, grace).await
    }

    /// Waits for the process like [`wait`](Self::wait), but once `deadline`
    /// passes stops it like [`terminate_with_grace`](Self::terminate_with_grace)
    /// with reason [`ExitReason::DeadlineExceeded`].
    pub async fn wait_with_deadline(&self, deadline: tokio::time::Instant, grace: Duration) -> Exit {
        tokio::select! {
            biased;
            exit = self.wait() => exit,
            () = tokio::time::sleep_until(deadline) => self.stop(STOP_DEADLINE, grace).await,
        }
    }

    async fn stop(&self, why: u8, grace: Duration) -> Exit {
        if let Some(exit) = self.try_exit() {
            return exit;
        }
        self.shared.request_stop(why);
        self.shared.signal_group(Signal::SIGTERM);
        match tokio::time::timeout(grace, self.wait()).await {
            Ok(exit) => exit,
            Err(_) => {
                self.shared.signal_group(Signal::SIGKILL);
                self.wait().await
            }
        }
    }
}

impl Drop for RunningProcess {
    fn drop(&mut self) {
        if self.exit.borrow().is_none() {
            self.kill();
        }
    }
}

// ---------------------------------------------------------------------------
// Supervisor
// ---------------------------------------------------------------------------

/// The agent's pod processes, as one owned value: it starts them ([`spawn`](Self::spawn),
/// [`spawn_async`](Self::spawn_async)) from its own spawner threads, knows every live process
/// group ([`live_groups`](Self::live_groups), [`kill_all_groups`](Self::kill_all_groups)) and
/// keeps its group watchdog (layer 3 in the module docs) informed.
///
/// The agent creates one in `run_with_drain` and hands it to every pod runner; a test creates
/// its own, so that its pods, its `kill_all_groups` and its watchdog are nobody else's.
/// Cloning is cheap: every clone is a handle to the same state, as mini-redis's `Db` is.
///
/// Nothing starts before the first spawn. The state (spawner threads, watchdog, registry) lives
/// until the last handle *and* the last of its process groups are gone (each live group holds
/// it); then the watchdog is stopped, without killing anything since no group is registered any
/// more, and the spawner threads end. Dropping the handles does not stop running pods (dropping
/// or stopping their [`RunningProcess`] does, and so does
/// [`kill_all_groups`](Self::kill_all_groups) while a handle is left).
#[derive(Clone)]
pub struct Supervisor {
    inner: Arc<Inner>,
}

impl Default for Supervisor {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Supervisor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let reg = self.inner.lock_registry();
        f.debug_struct("Supervisor")
            .field("live_groups", &reg.groups)
            .field("watchdog", &reg.watchdog.as_ref().map(|w| w.child.id()))
            .finish_non_exhaustive()
    }
}

impl Supervisor {
    /// A supervisor with its group watchdog.
    pub fn new() -> Self {
        Self::with_watchdog(true)
    }

    /// A supervisor without the group watchdog (layer 3 in the module docs), for agents under
    /// something else (e.g. a cgroup) that contains their descendants. A grandchild in a pod's
    /// group then survives a crash of the agent; the direct child still dies of `PDEATHSIG`.
    pub fn without_group_watchdog() -> Self {
        Self::with_watchdog(false)
    }

    fn with_watchdog(enabled: bool) -> Self {
        Self {
            inner: Arc::new(Inner {
                registry: Mutex::new(Registry {
                    groups: BTreeSet::new(),
                    watchdog: None,
                    watchdog_enabled: enabled,
                }),
                spawner: OnceLock::new(),
                orphans: Arc::new(Orphans::default()),
            }),
        }
    }

    /// Starts `spec` as a new process group, piping its output into `log`.
    ///
    /// Must be called from within a tokio runtime (any thread of it); the process itself is
    /// always started from one of this supervisor's spawner threads (see the module docs about
    /// `PDEATHSIG`), and this call blocks until it exec'd.
    pub fn spawn(&self, spec: &ProcessSpec, log: Arc<LogBuffer>) -> Result<RunningProcess, SpawnError> {
        let (cmd, body_file, handle) = self.prepare(spec)?;
        let started_at = Utc::now();
        let child = self.inner.spawn_on_spawner_thread(cmd).map_err(|e| spawn_error(spec, e))?;
        self.start(spec, log, child, body_file, &handle, started_at)
    }

    /// Like [`spawn`](Self::spawn), but waits for the spawn without blocking the caller's thread:
    /// the agent uses this, so that a slow spawn never stalls a runtime worker thread.
    pub async fn spawn_async(
        &self,
        spec: &ProcessSpec,
        log: Arc<LogBuffer>,
    ) -> Result<RunningProcess, SpawnError> {
        let (cmd, body_file, handle) = self.prepare(spec)?;
        let started_at = Utc::now();
        let child = self.inner.spawn_on_spawner_async(cmd).await.map_err(|e| spawn_error(spec, e))?;
        self.start(spec, log, child, body_file, &handle, started_at)
    }

    /// `SIGKILL`s every live process group this supervisor started. Call it on the agent's
    /// shutdown paths (after any graceful termination). Returns the number of groups signalled.
    /// Pods stopped this way report signal 9 with [`ExitReason::Error`], since no handle asked
    /// them to stop.
    pub fn kill_all_groups(&self) -> usize {
        let reg = self.inner.lock_registry();
        for &pgid in &reg.groups {
            let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
        }
        reg.groups.len()
    }

    /// Process group ids of this supervisor's pods currently alive (registered and not yet
    /// finished), in ascending order.
    pub fn live_groups(&self) -> Vec<i32> {
        self.inner.lock_registry().groups.iter().copied().collect()
    }

    /// Everything before the spawn: checks and the command, with its final environment.
    fn prepare(&self, spec: &ProcessSpec) -> Result<(Command, Option<BodyFile>, Handle), SpawnError> {
        let handle = Handle::try_current().map_err(|_| SpawnError::NoRuntime)?;
        // Children whose handle went away before they exited (runtime shutdown).
        self.inner.orphans.reap_exited();

        // Checked here so that a bad directory is reported as such, with the cause of the
        // failure (the child reports a failed chdir too, but only as an errno).
        let root = match &spec.root {
            Some(ProcessRoot(Err(why))) => return Err(SpawnError::Volumes(why.clone())),
            Some(ProcessRoot(Ok(ops))) => Some(ops.clone()),
            None => None,
        };
        // (With mounts, the directory is looked up in the process's own root, by the child.)
        if let Some(dir) = spec.working_dir.as_ref().filter(|_| root.is_none()) {
            let err = match std::fs::metadata(dir) {
                Ok(meta) if meta.is_dir() => None,
                Ok(_) => Some(io::Error::from(io::ErrorKind::NotADirectory)),
                Err(e) => Some(e),
            };
            if let Some(source) = err {
                return Err(SpawnError::WorkingDir { path: dir.clone(), source });
            }
        }

        let stdin = if spec.stdin.is_some() || spec.interactive { Stdin::Piped } else { Stdin::Null };
        let mut env = std::borrow::Cow::Borrowed(spec.env.as_slice());
        let mut body_file = None;
        if let (Some(var), Some(data), false) = (&spec.stdin_file_env, &spec.stdin, spec.interactive) {
            let parent = std::env::temp_dir();
            let file = BodyFile::create(&parent, data).map_err(|e| SpawnError::Io {
                program: spec.program.clone(),
                source: io::Error::new(
                    e.kind(),
                    format!("cannot write {var} under {}: {e}", parent.display()),
                ),
            })?;
            env.to_mut().push((var.clone(), file.path().to_string_lossy().into_owned()));
            body_file = Some(file);
        }
        let mut cmd = Command::new(&spec.program, &spec.args, &env, spec.working_dir.as_deref(), stdin)
            .map_err(|e| SpawnError::from_io(&spec.program, e))?;
        if let Some(ops) = root {
            cmd = cmd.with_mounts(ops).map_err(|e| SpawnError::from_io(&spec.program, e))?;
        }

        // Start the watchdog before the spawn, so the new group can be registered
        // with it as soon as `spawn` returns.
        self.inner.lock_registry().ensure_watchdog();
        Ok((cmd, body_file, handle))
    }

    /// Everything after the exec: registration, output pumps, stdin and the exit task.
    fn start(
        &self,
        spec: &ProcessSpec,
        log: Arc<LogBuffer>,
        child: Spawned,
        body_file: Option<BodyFile>,
        handle: &Handle,
        started_at: DateTime<Utc>,
    ) -> Result<RunningProcess, SpawnError> {
        // The pidfd and the pipes register with this runtime's reactor.
        let _runtime = handle.enter();
        let Spawned { pid, pidfd, stdin, stdout, stderr } = child;
        let pgid = Pid::from_raw(pid);
        let mut guard = GroupGuard::register(&self.inner, pgid);
        let io_error = |source| SpawnError::Io { program: spec.program.clone(), source };

        let leader = match Leader::register(pidfd, self.inner.orphans.clone()) {
            Ok(leader) => leader,
            Err((pidfd, e)) => {
                guard.finish();
                self.inner.orphans.reap_or_defer(pidfd);
                return Err(io_error(e));
            }
        };
        // The parent ends are non-blocking pipes (see `crate::spawn::spawn`).
        let pipes = (|| {
            io::Result::Ok((
                stdin.map(pipe::Sender::from_owned_fd_unchecked).transpose()?,
                pipe::Receiver::from_owned_fd_unchecked(stdout)?,
                pipe::Receiver::from_owned_fd_unchecked(stderr)?,
            ))
        })();
        let (mut stdin, stdout, stderr) = match pipes {
            Ok(pipes) => pipes,
            Err(e) => {
                guard.finish();
                drop(leader);
                return Err(io_error(e));
            }
        };

        let mut readers = Vec::with_capacity(2);
        let mut stdio = None;
        if spec.interactive {
            // Handed to the caller; `supervise` never waits on them.
            stdio = stdin.take().map(|stdin| (stdin, stdout));
        } else {
            readers.push(handle.spawn(pump(stdout, Source::Stdout, log.clone())));
        }
        readers.push(handle.spawn(pump(stderr, Source::Stderr, log.clone())));
        let stdin_task = match (stdin, spec.stdin.clone()) {
            (Some(mut stdin), Some(data)) => Some(handle.spawn(async move {
                // EPIPE (the child exited or closed stdin) is expected; ignore. Dropping the
                // sender closes the pipe.
                let _ = stdin.write_all(&data).await;
            })),
            _ => None,
        };

        let shared =
            Arc::new(Shared { pgid, exited: AtomicBool::new(false), stop: AtomicU8::new(STOP_NONE) });
        let (tx, rx) = watch::channel(None);
        handle.spawn(supervise(Supervised {
            guard,
            leader,
            shared: shared.clone(),
            log: log.clone(),
            readers,
            stdin_task,
            body_file,
            keep_log_open: spec.keep_log_open,
            started_at,
            tx,
        }));

        Ok(RunningProcess { pid: pid.unsigned_abs(), started_at, log, shared, exit: rx, stdio })
    }
}

/// A [`Supervisor`]'s state.
struct Inner {
    /// The live groups and the watchdog that knows them.
    registry: Mutex<Registry>,
    /// The long-lived threads this supervisor's pods are started from, once the first spawn
    /// started them; `None` inside if none could be started.
    spawner: OnceLock<Option<mpsc::Sender<SpawnRequest>>>,
    /// Leaders whose supervision ended before they could be reaped; shared with the spawner
    /// threads and every [`Leader`].
    orphans: Arc<Orphans>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Every group held this state, so none is registered any more: stop the watchdog
        // without letting it kill anything. (Dropping `spawner` then ends the spawner threads;
        // no child of theirs is alive for their death signal to reach.)
        let reg = self.registry.get_mut().unwrap_or_else(PoisonError::into_inner);
        if let Some(watchdog) = reg.watchdog.take() {
            watchdog.stop();
        }
    }
}

fn spawn_error(spec: &ProcessSpec, failure: SpawnFailure) -> SpawnError {
    match failure {
        SpawnFailure::WorkingDir(source) => {
            SpawnError::WorkingDir { path: spec.working_dir.clone().unwrap_or_default(), source }
        }
        SpawnFailure::Other(err) => SpawnError::from_io(&spec.program, err),
        SpawnFailure::Namespace(source) => SpawnError::Namespace { source },
        SpawnFailure::Mount(what, source) => SpawnError::Mount { what, source },
    }
}

struct Supervised {
    /// Declared before `leader`: if the task is dropped (runtime shutdown), the group is killed
    /// first, then the leader is left to `Orphans::reap_or_defer`.
    guard: GroupGuard,
    leader: Leader,
    shared: Arc<Shared>,
    log: Arc<LogBuffer>,
    readers: Vec<JoinHandle<()>>,
    stdin_task: Option<JoinHandle<()>>,
    /// The stdin file, removed once the process exited.
    body_file: Option<BodyFile>,
    keep_log_open: bool,
    started_at: DateTime<Utc>,
    tx: watch::Sender<Option<Exit>>,
}

async fn supervise(mut s: Supervised) {
    let exited = s.leader.exited().await;
    let finished_at = Utc::now();
    // Whatever is left of the group goes with its leader. The leader is not reaped yet: as a
    // zombie it keeps the group id from being reused while the group is killed.
    s.guard.finish();
    s.shared.exited.store(true, Ordering::Release);
    // On an error (none is expected) the leader is left to `Orphans::reap_or_defer` by its drop.
    let status = exited.and_then(|()| s.leader.reap());

    let drain = async {
        for reader in &mut s.readers {
            let _ = reader.await;
        }
    };
    if tokio::time::timeout(LOG_DRAIN_TIMEOUT, drain).await.is_err() {
        // A descendant that escaped the group holds the pipes open.
        for reader in &s.readers {
            reader.abort();
        }
    }
    if let Some(task) = &s.stdin_task {
        task.abort();
    }
    drop(s.body_file.take());
    if !s.keep_log_open {
        s.log.close();
    }

    let (code, signal) = status.unwrap_or((255, None));
    let reason = match s.shared.stop.load(Ordering::Acquire) {
        STOP_KILLED => ExitReason::Killed,
        STOP_DEADLINE => ExitReason::DeadlineExceeded,
        _ if code == 0 && signal.is_none() => ExitReason::Completed,
        _ => ExitReason::Error,
    };
    s.tx.send_replace(Some(Exit { code, signal, started_at: s.started_at, finished_at, reason }));
}

// ---------------------------------------------------------------------------
// Spawner threads
// ---------------------------------------------------------------------------

type SpawnResult = Result<Spawned, SpawnFailure>;

enum Reply {
    Blocking(mpsc::SyncSender<SpawnResult>),
    Async(tokio::sync::oneshot::Sender<SpawnResult>),
}

struct SpawnRequest {
    cmd: Command,
    reply: Reply,
}

/// How many long-lived threads a supervisor starts pods from. Several, so that spawns of
/// concurrent pods overlap (each suspends its thread until the child exec'd); none exits while
/// a child of its is alive, which is what PDEATHSIG needs.
const SPAWNER_THREADS: usize = 4;

fn spawner_gone() -> SpawnFailure {
    SpawnFailure::Other(io::Error::other("pod spawner thread is gone"))
}

impl Inner {
    fn lock_registry(&self) -> MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The long-lived threads all of this supervisor's pods are started from (PDEATHSIG is per
    /// thread), started at the first call.
    fn spawner(&self) -> Option<&mpsc::Sender<SpawnRequest>> {
        self.spawner
            .get_or_init(|| {
                let (tx, rx) = mpsc::channel::<SpawnRequest>();
                let rx = Arc::new(Mutex::new(rx));
                let mut started = 0;
                for i in 0..SPAWNER_THREADS {
                    let rx = rx.clone();
                    let orphans = self.orphans.clone();
                    let res = std::thread::Builder::new().name(format!("drover-pod-spawner-{i}")).spawn(
                        move || {
                            // This thread's children run on this stack until they exec.
                            let mut stack = ChildStack::default();
                            // Ends when the supervisor's state is dropped, which every live group
                            // holds: the death signal then has no live child to reach.
                            loop {
                                let req = {
                                    let rx = rx.lock().unwrap_or_else(PoisonError::into_inner);
                                    rx.recv()
                                };
                                let Ok(SpawnRequest { cmd, reply }) = req else { return };
                                let result = crate::spawn::spawn(&cmd, &mut stack, &orphans);
                                let unwanted = match reply {
                                    Reply::Blocking(tx) => tx.send(result).err().map(|e| e.0),
                                    Reply::Async(tx) => tx.send(result).err(),
                                };
                                // A caller that went away cannot supervise its child: kill its
                                // group.
                                if let Some(Ok(child)) = unwanted {
                                    child.abandon(&orphans);
                                }
                            }
                        },
                    );
                    match res {
                        Ok(_) => started += 1,
                        Err(e) => tracing::warn!(error = %e, "cannot start a pod spawner thread"),
                    }
                }
                if started == 0 {
                    tracing::warn!("no pod spawner thread; spawning from caller threads");
                    return None;
                }
                Some(tx)
            })
            .as_ref()
    }

    fn spawn_on_spawner_thread(&self, cmd: Command) -> SpawnResult {
        let Some(spawner) = self.spawner() else {
            return crate::spawn::spawn(&cmd, &mut ChildStack::default(), &self.orphans);
        };
        let (reply, result) = mpsc::sync_channel(1);
        spawner.send(SpawnRequest { cmd, reply: Reply::Blocking(reply) }).map_err(|_| spawner_gone())?;
        result.recv().map_err(|_| spawner_gone())?
    }

    async fn spawn_on_spawner_async(&self, cmd: Command) -> SpawnResult {
        let Some(spawner) = self.spawner() else {
            return crate::spawn::spawn(&cmd, &mut ChildStack::default(), &self.orphans);
        };
        let (reply, result) = tokio::sync::oneshot::channel();
        spawner.send(SpawnRequest { cmd, reply: Reply::Async(reply) }).map_err(|_| spawner_gone())?;
        result.await.map_err(|_| spawner_gone())?
    }
}

// ---------------------------------------------------------------------------
// Group registry and watchdog
// ---------------------------------------------------------------------------

/// Registration of one live process group; `finish` (or drop) kills what is
/// left of the group and unregisters it. Holds the supervisor's state, and with it the spawner
/// threads (the group leader's death signal is tied to one of them).
struct GroupGuard {
    inner: Arc<Inner>,
    pgid: Pid,
    done: bool,
}

impl GroupGuard {
    fn register(inner: &Arc<Inner>, pgid: Pid) -> Self {
        let mut reg = inner.lock_registry();
        reg.groups.insert(pgid.as_raw());
        reg.send(&format!("+{}\n", pgid.as_raw()));
        drop(reg);
        Self { inner: inner.clone(), pgid, done: false }
    }

    fn finish(&mut self) {
        if self.done {
            return;
        }
        self.done = true;
        let _ = killpg(self.pgid, Signal::SIGKILL);
        let mut reg = self.inner.lock_registry();
        reg.groups.remove(&self.pgid.as_raw());
        if reg.watchdog.is_some() {
            reg.send(&format!("-{}\n", self.pgid.as_raw()));
        }
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        self.finish();
    }
}

struct Registry {
    groups: BTreeSet<i32>,
    watchdog: Option<Watchdog>,
    watchdog_enabled: bool,
}

impl Registry {
    /// Makes sure a live watchdog knows about every registered group.
    fn ensure_watchdog(&mut self) -> bool {
        if !self.watchdog_enabled {
            return false;
        }
        if let Some(w) = &mut self.watchdog {
            if matches!(w.child.try_wait(), Ok(None)) {
                return true;
            }
            if let Some(dead) = self.watchdog.take() {
                dead.stop();
            }
        }
        let mut w = match Watchdog::start() {
            Ok(w) => w,
            Err(e) => {
                tracing::warn!(error = %e, "cannot start the pod group watchdog");
                return false;
            }
        };
        let replay: String = self.groups.iter().map(|g| format!("+{g}\n")).collect();
        if let Err(e) = w.stdin.write_all(replay.as_bytes()) {
            tracing::warn!(error = %e, "cannot talk to the pod group watchdog");
            w.stop();
            return false;
        }
        self.watchdog = Some(w);
        true
    }

    /// Sends one update (the registry already reflects it) to the watchdog;
    /// if that fails, restarts the watchdog, which replays the whole registry.
    fn send(&mut self, line: &str) {
        if !self.ensure_watchdog() {
            return;
        }
        if let Some(w) = &mut self.watchdog
            && w.stdin.write_all(line.as_bytes()).is_err()
            && let Some(broken) = self.watchdog.take()
        {
            broken.stop();
            self.ensure_watchdog();
        }
    }
}

/// The watchdog: reads `+pgid` / `-pgid` lines; at EOF (the agent is gone)
/// SIGKILLs every group still registered. Builtins only: no fork per pod.
const WATCHDOG_SCRIPT: &str = r#"trap '' HUP INT QUIT TERM PIPE USR1 USR2
g=' '
while IFS= read -r l; do
  case $l in
    +*) g="$g${l#+} " ;;
    -*) p=" ${l#-} "
        case $g in *"$p"*) g="${g%%"$p"*} ${g#*"$p"}" ;; esac ;;
  esac
done
for p in $g; do kill -s KILL -- "-$p" 2>/dev/null; done
"#;

struct Watchdog {
    child: std::process::Child,
    stdin: std::process::ChildStdin,
}

impl Watchdog {
    fn start() -> io::Result<Self> {
        let mut child = std::process::Command::new("/bin/sh")
            .args(["-c", WATCHDOG_SCRIPT, "drover-group-watchdog"])
            .env_clear()
            .current_dir("/")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Own group: a Ctrl-C or group kill aimed at the agent must not
            // take the watchdog with it.
            .process_group(0)
            .spawn()?;
        let stdin = child.stdin.take().ok_or_else(|| io::Error::other("watchdog has no stdin"))?;
        Ok(Self { child, stdin })
    }

    /// Stops this watchdog *without* letting it kill the registered groups:
    /// it is SIGKILLed before its stdin is closed.
    fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        drop(self.stdin);
    }
}

#[cfg(test)]
mod tests {
    //! The supervisor's own state, which only it can see: each test has a supervisor of its own.

    use super::*;

    const BOUND: Duration = Duration::from_secs(10);

    fn sh(script: &str) -> ProcessSpec {
        ProcessSpec::new("sh", ["-c", script])
    }

    fn watchdog_pid(sup: &Supervisor) -> Option<u32> {
        sup.inner.lock_registry().watchdog.as_ref().map(|w| w.child.id())
    }

    async fn until(what: &str, mut done: impl FnMut() -> bool) {
        let deadline = std::time::Instant::now() + BOUND;
        while !done() {
            assert!(std::time::Instant::now() < deadline, "timed out: {what}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    fn exists(pid: u32) -> bool {
        std::path::Path::new(&format!("/proc/{pid}")).exists()
    }

    /// Layer 3 without killing the agent: the watchdog, restarted after it died, knows every live
    /// group (replayed) and kills them all when its pipe closes, as it does when the agent dies.
    #[tokio::test]
    async fn a_restarted_watchdog_kills_every_live_group_at_eof() {
        let sup = Supervisor::new();
        let before = sup.spawn(&sh("sleep 60 & exec sleep 60"), Arc::default()).unwrap();
        let first = watchdog_pid(&sup).expect("a watchdog");
        {
            let mut reg = sup.inner.lock_registry();
            let w = reg.watchdog.as_mut().unwrap();
            w.child.kill().unwrap();
            w.child.wait().unwrap();
        }
        // The next registration restarts it and replays `before`'s group.
        let after = sup.spawn(&sh("exec sleep 60"), Arc::default()).unwrap();
        let second = watchdog_pid(&sup).expect("a new watchdog");
        assert_ne!(first, second);
        assert_eq!(sup.live_groups().len(), 2);

        // What the agent's death does: the write end of the pipe closes.
        let mut w = sup.inner.lock_registry().watchdog.take().unwrap();
        drop(w.stdin);
        assert!(w.child.wait().unwrap().success());
        for p in [&before, &after] {
            let exit = tokio::time::timeout(BOUND, p.wait()).await.expect("killed by the watchdog");
            // Nobody here signalled it: the watchdog did.
            assert_eq!((exit.signal, exit.reason.clone()), (Some(9), ExitReason::Error), "{exit:?}");
        }
        until("no live group", || sup.live_groups().is_empty()).await;
    }

    /// The state lives while a group does, then goes: the watchdog is stopped and reaped, and
    /// the spawner threads end (their sender is gone).
    #[tokio::test]
    async fn the_state_goes_with_the_last_handle_and_the_last_group() {
        let sup = Supervisor::new();
        let p = sup.spawn(&sh("exec sleep 60"), Arc::default()).unwrap();
        let watchdog = watchdog_pid(&sup).expect("a watchdog");
        let state = Arc::downgrade(&sup.inner);
        drop(sup);
        assert!(state.upgrade().is_some(), "held by the live group");
        assert!(exists(watchdog));
        p.kill();
        p.wait().await;
        until("the state is dropped", || state.upgrade().is_none()).await;
        assert!(!exists(watchdog), "the watchdog was stopped and reaped");
    }

    /// A leader whose supervision was dropped with its runtime is reaped at the next spawn.
    #[test]
    fn an_orphaned_leader_is_reaped_at_the_next_spawn() {
        let sup = Supervisor::without_group_watchdog();
        let runtime = || tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let rt = runtime();
        let p = rt.block_on(async { sup.spawn(&sh("exec sleep 60"), Arc::default()).unwrap() });
        let pid = p.pid();
        // The exit task goes with the runtime: it kills the group and orphans the leader.
        drop(rt);
        assert!(sup.live_groups().is_empty());
        let zombie_or_gone = || {
            std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |stat| {
                stat.rsplit_once(')').is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
            })
        };
        let deadline = std::time::Instant::now() + BOUND;
        while !zombie_or_gone() {
            assert!(std::time::Instant::now() < deadline, "{pid} still runs");
            std::thread::sleep(Duration::from_millis(5));
        }
        let rt = runtime();
        let exit = rt.block_on(async {
            let next = sup.spawn(&ProcessSpec::new("true", Vec::<String>::new()), Arc::default()).unwrap();
            next.wait().await
        });
        assert!(exit.success());
        assert_eq!(sup.inner.orphans.len(), 0);
        assert!(!exists(pid), "reaped");
        drop(p);
    }
}
