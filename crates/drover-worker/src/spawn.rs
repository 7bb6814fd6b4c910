//! Starting a pod process without `fork()`, and waiting for it through a pidfd: the unsafe part
//! of [`crate::process`], which describes the process model and uses this module.
//!
//! # Why not `fork()`
//!
//! The child must run a little code between its creation and `exec` (its own process group,
//! `PR_SET_PDEATHSIG`, the `getppid` check). With a `pre_exec` hook, `std` has to `fork()` the
//! whole multi-threaded agent for that: copying its page tables and taking copy-on-write faults
//! cost most of the agent's CPU in a throughput benchmark. Instead, [`spawn`] does what glibc's
//! `posix_spawn` does: `clone(CLONE_VM | CLONE_VFORK | CLONE_PIDFD | SIGCHLD)` with the child
//! on a stack of its own. The child shares the agent's memory (nothing is copied) until it calls
//! `execve`; the calling thread is suspended by the kernel until then (`CLONE_VFORK`), so the
//! child can read everything the parent prepared and write its error back into the parent's
//! memory.
//!
//! # Rules for the child
//!
//! Everything is prepared by the parent before the clone (program resolved in `PATH`,
//! `argv`/`envp` arrays of C strings, working directory, pipes, `/dev/null`, the child stack and
//! the error slot). The child runs on its own stack but in the parent's memory and with the
//! parent thread's TLS, so it only makes raw, async-signal-safe libc calls: no allocation, no
//! lock, no panic, no Rust thread-local. Any failure stores the step and `errno` in the error
//! slot and calls `_exit(127)`.
//!
//! Signals: the parent blocks every signal in its thread around the clone (glibc's internal
//! ones too, with the raw syscall, as glibc's `posix_spawn` does), so none of the
//! agent's handlers (tokio's, for `SIGCHLD`, `SIGTERM`, ...) can run in the child, where it
//! would execute agent code on agent data. The child, which has its own copy of the disposition
//! table (no `CLONE_SIGHAND`), then sets every signal that is handled or ignored to `SIG_DFL`
//! (`SIGPIPE`, ignored by every Rust program, included; an ignored signal would survive the
//! exec), and empties its signal mask just before `execve`. glibc's two internal signals (32
//! and 33), which its `sigaction` refuses, are reset with the raw `rt_sigaction` syscall.
//!
//! In order, the child: resets the signal dispositions; `setpgid(0, 0)`;
//! `prctl(PR_SET_PDEATHSIG, SIGKILL)` and checks that `getppid()` is still the agent; `dup2`s
//! its stdin/stdout/stderr; `chdir`s to the working directory if there is one; empties its
//! signal mask; `execve`s. A file that the kernel refuses as not executable (`ENOEXEC`, a
//! script without `#!`) is run by `/bin/sh`, like `execvp` does.
//!
//! # Requirements and reaping
//!
//! Linux ≥ 5.4 (`CLONE_PIDFD` from 5.2, `waitid(P_PIDFD)` from 5.4); on an older kernel the
//! clone or the wait fails with `EINVAL` and the pod is reported as not started; there is no
//! fallback.
//!
//! Every child is reaped exactly once, through its pidfd: by [`spawn`] itself if the child
//! failed before `exec`, by [`Leader::reap`] after a normal exit, and otherwise (a [`Leader`]
//! dropped before the exit, for instance when the runtime shuts down under the task waiting for
//! it, or a [`Spawned`] nobody wants, [`Spawned::abandon`]ed) by [`Orphans::reap_or_defer`]:
//! reaped at once if it already exited, else kept in the [`Orphans`] list of the
//! `process::Supervisor` that started it, which [`Orphans::reap_exited`] (called at each of its
//! spawns, and when it is dropped) empties. Such a child stays a zombie until then, or until the
//! agent's exit.

#![allow(unsafe_code)]

use std::ffi::{CStr, CString, OsStr, OsString};
use std::fs::File;
use std::io;
use std::mem;
use std::os::fd::{AsFd as _, AsRawFd as _, BorrowedFd, FromRawFd as _, OwnedFd};
use std::os::unix::ffi::OsStrExt as _;
use std::path::{Path, PathBuf};
use std::ptr;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use crate::mounts::MountOp;

use libc::{c_char, c_int, c_void, pid_t};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

/// Usable size of the child's stack (it only makes a few libc calls).
const CHILD_STACK_SIZE: usize = 64 * 1024;

/// Signals are `1..NSIG` (64 is `SIGRTMAX` on Linux).
const NSIG: c_int = 65;

/// The search path when the final environment has no `PATH` (glibc's `execvp` default).
const DEFAULT_PATH: &[u8] = b"/bin:/usr/bin";

/// Runs files the kernel refuses with `ENOEXEC`.
const SHELL: &CStr = c"/bin/sh";

const CLONE_FLAGS: c_int = libc::CLONE_VM | libc::CLONE_VFORK | libc::CLONE_PIDFD | libc::SIGCHLD;

/// The child's stdin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stdin {
    /// `/dev/null`.
    Null,
    /// A pipe; the parent gets its write end.
    Piped,
}

/// Why [`spawn`] failed.
#[derive(Debug)]
pub(crate) enum SpawnFailure {
    /// The child could not `chdir` to the working directory.
    WorkingDir(io::Error),
    /// The process needs a mount namespace (it mounts volumes) and the kernel refused one:
    /// the agent is not root (no `CAP_SYS_ADMIN`).
    Namespace(io::Error),
    /// A step of building the process's root failed: what it did, and why.
    Mount(String, io::Error),
    /// Anything else: the program was not found or could not be executed, a pipe could not be
    /// created, the agent died during the spawn (`ESRCH`), ...
    Other(io::Error),
}

impl From<io::Error> for SpawnFailure {
    fn from(err: io::Error) -> Self {
        Self::Other(err)
    }
}

/// A command ready to be spawned: every C string the child needs, built by the caller. `Send`,
/// so it can be handed to a spawner thread.
#[derive(Debug)]
pub(crate) struct Command {
    /// As given: a path if it contains a `/`, else a name looked up in `path`.
    program: OsString,
    /// `PATH` of the final environment.
    path: Option<OsString>,
    /// `argv[0]` is the program as given.
    argv: Vec<CString>,
    /// `KEY=value` strings of the final environment.
    envp: Vec<CString>,
    cwd: Option<(PathBuf, CString)>,
    stdin: Stdin,
    /// The agent's pid, for the child's `getppid` check.
    parent: pid_t,
    /// With volume mounts: the steps that build the process's root, run by the child in a new
    /// mount namespace (see [`crate::mounts`]).
    mounts: Option<Arc<Vec<MountOp>>>,
}

fn cstring(bytes: &[u8]) -> io::Result<CString> {
    CString::new(bytes)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "nul byte found in provided data"))
}

impl Command {
    /// `program` with `args`, in the part of the agent's environment a pod inherits
    /// ([`crate::pod_env`]) with `env` applied on top (the last value of a key wins), in `cwd`
    /// (else the agent's working directory).
    pub(crate) fn new(
        program: &str,
        args: &[String],
        env: &[(String, String)],
        cwd: Option<&Path>,
        stdin: Stdin,
    ) -> io::Result<Self> {
        let mut argv = Vec::with_capacity(args.len() + 1);
        argv.push(cstring(program.as_bytes())?);
        for arg in args {
            argv.push(cstring(arg.as_bytes())?);
        }

        let mut vars = crate::pod_env::inherited(std::env::vars_os());
        for (key, value) in env {
            match vars.iter_mut().find(|(k, _)| k == OsStr::new(key)) {
                Some((_, v)) => *v = value.into(),
                None => vars.push((key.into(), value.into())),
            }
        }
        let path = vars.iter().find(|(k, _)| k == "PATH").map(|(_, v)| v.clone());
        let mut envp = Vec::with_capacity(vars.len());
        for (key, value) in &vars {
            let mut entry = Vec::with_capacity(key.len() + value.len() + 1);
            entry.extend_from_slice(key.as_bytes());
            entry.push(b'=');
            entry.extend_from_slice(value.as_bytes());
            envp.push(cstring(&entry)?);
        }

        let cwd = match cwd {
            Some(dir) => Some((dir.to_path_buf(), cstring(dir.as_os_str().as_bytes())?)),
            None => None,
        };
        Ok(Self {
            program: program.into(),
            path,
            argv,
            envp,
            cwd,
            stdin,
            parent: pid_t::try_from(std::process::id()).unwrap_or(pid_t::MAX),
            mounts: None,
        })
    }

    /// Runs the process in a mount namespace of its own whose root `ops` build. Without a
    /// working directory, it starts in the agent's (the same path in the new root).
    pub(crate) fn with_mounts(mut self, ops: Arc<Vec<MountOp>>) -> io::Result<Self> {
        if self.cwd.is_none() {
            let here = std::env::current_dir()?;
            let c = cstring(here.as_os_str().as_bytes())?;
            self.cwd = Some((here, c));
        }
        self.mounts = Some(ops);
        Ok(self)
    }

    /// The path to `execve`: the program itself if it contains a `/`, else the first file of
    /// that name in `PATH` that is executable (an empty entry is the working directory), like
    /// `execvp`; `ENOENT` if there is none.
    fn resolve(&self) -> io::Result<CString> {
        let program = self.program.as_bytes();
        if program.contains(&b'/') {
            return cstring(program);
        }
        if !program.is_empty() {
            let path = self.path.as_deref().map_or(DEFAULT_PATH, OsStr::as_bytes);
            for dir in path.split(|&b| b == b':') {
                let dir = if dir.is_empty() { b".".as_slice() } else { dir };
                let mut candidate = Vec::with_capacity(dir.len() + 1 + program.len());
                candidate.extend_from_slice(dir);
                candidate.push(b'/');
                candidate.extend_from_slice(program);
                let candidate = PathBuf::from(OsStr::from_bytes(&candidate));
                // A relative entry is relative to the directory the child execs in.
                let on_disk = match &self.cwd {
                    Some((cwd, _)) if candidate.is_relative() => cwd.join(&candidate),
                    _ => candidate.clone(),
                };
                if is_executable_file(&on_disk) {
                    return cstring(candidate.as_os_str().as_bytes());
                }
            }
        }
        Err(io::Error::from_raw_os_error(libc::ENOENT))
    }
}

fn is_executable_file(path: &Path) -> bool {
    if !std::fs::metadata(path).is_ok_and(|meta| meta.is_file()) {
        return false;
    }
    let Ok(path) = CString::new(path.as_os_str().as_bytes()) else { return false };
    // SAFETY: `path` is a valid NUL-terminated string; faccessat only reads it.
    unsafe { libc::faccessat(libc::AT_FDCWD, path.as_ptr(), libc::X_OK, libc::AT_EACCESS) == 0 }
}

/// A started child: its pid (also its process group id), a pidfd, and the parent's ends of its
/// stdio pipes (non-blocking, close-on-exec).
///
/// Dropping it without [`Leader::register`]ing the pidfd leaves the child a zombie once it exits
/// (nothing reaps it): use [`Spawned::abandon`] to get rid of a child nobody wants.
#[derive(Debug)]
pub(crate) struct Spawned {
    pub(crate) pid: pid_t,
    pub(crate) pidfd: OwnedFd,
    /// `Some` for [`Stdin::Piped`].
    pub(crate) stdin: Option<OwnedFd>,
    pub(crate) stdout: OwnedFd,
    pub(crate) stderr: OwnedFd,
}

impl Spawned {
    /// `SIGKILL`s the child's process group and reaps the child (now or later, see
    /// [`Orphans::reap_or_defer`]).
    pub(crate) fn abandon(self, orphans: &Orphans) {
        // SAFETY: killpg takes plain integers. The group cannot have been reused: the unreaped
        // child (a zombie at worst) still holds its id.
        unsafe { libc::killpg(self.pid, libc::SIGKILL) };
        orphans.reap_or_defer(self.pidfd);
    }
}

/// The mmap'd stack the child runs on until `execve`, with a guard page below it. Allocated at
/// first use and reused: the child no longer touches it once the parent resumes. Not `Send`:
/// one per spawner thread.
#[derive(Debug, Default)]
pub(crate) struct ChildStack {
    /// Base and length of the mapping.
    mapping: Option<(*mut c_void, usize)>,
}

impl ChildStack {
    /// The (16-byte aligned) top of the stack, mapping it first if needed.
    fn top(&mut self) -> io::Result<*mut c_void> {
        if self.mapping.is_none() {
            // SAFETY: sysconf has no memory-safety preconditions.
            let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096);
            let len = CHILD_STACK_SIZE + page;
            // SAFETY: a fresh private anonymous mapping; no existing memory is affected.
            let base = unsafe {
                libc::mmap(
                    ptr::null_mut(),
                    len,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_STACK,
                    -1,
                    0,
                )
            };
            if base == libc::MAP_FAILED {
                return Err(io::Error::last_os_error());
            }
            // SAFETY: the first page of the mapping just created; nothing uses it.
            if unsafe { libc::mprotect(base, page, libc::PROT_NONE) } != 0 {
                let err = io::Error::last_os_error();
                // SAFETY: the mapping was created above and is not used by anything.
                unsafe { libc::munmap(base, len) };
                return Err(err);
            }
            self.mapping = Some((base, len));
        }
        let (base, len) = self.mapping.unwrap_or((ptr::null_mut(), 0));
        // The mapping is page-aligned and page-sized, so its end is 16-byte aligned.
        Ok(base.wrapping_byte_add(len))
    }
}

impl Drop for ChildStack {
    fn drop(&mut self) {
        if let Some((base, len)) = self.mapping.take() {
            // SAFETY: our own mapping; no child runs on it (spawn returns only once the child
            // exec'd or exited).
            unsafe { libc::munmap(base, len) };
        }
    }
}

// Steps of the child, reported with errno in the error slot.
const STEP_NONE: i32 = 0;
const STEP_SIGNALS: i32 = 1;
const STEP_SETPGID: i32 = 2;
const STEP_PDEATHSIG: i32 = 3;
const STEP_PARENT_GONE: i32 = 4;
const STEP_STDIO: i32 = 5;
const STEP_CHDIR: i32 = 6;
const STEP_EXEC: i32 = 7;
/// Step `STEP_MOUNT_BASE + i`: the mount step `i` failed.
const STEP_MOUNT_BASE: i32 = 100;

/// The kernel's `struct sigaction` for `SIG_DFL`: all zero (handler `SIG_DFL`, no flags, no
/// restorer, empty mask), whatever the architecture's field order; 32 bytes cover every layout.
#[derive(Default)]
#[repr(C)]
struct KernelSigaction([u64; 4]);

/// The kernel's `sigset_t` size (`_NSIG / 8`).
const KERNEL_SIGSET_SIZE: usize =
    if cfg!(any(target_arch = "mips", target_arch = "mips64")) { 16 } else { 8 };

/// Written by the child when it fails (errno first, then the step), read by the parent once
/// the child is gone.
#[derive(Debug, Default)]
struct ChildError {
    step: AtomicI32,
    errno: AtomicI32,
}

/// What the child reads; everything points into memory of the suspended parent.
struct ChildArgs {
    path: *const c_char,
    /// `[SHELL, argv[0], ..., NULL]`: the child execs `argv + 1`, or on `ENOEXEC` replaces
    /// `argv[1]` by `path` and execs the shell with the whole array.
    argv: *mut *const c_char,
    envp: *const *const c_char,
    /// Null for none.
    cwd: *const c_char,
    /// Sources of fds 0, 1 and 2; all ≥ 3 and close-on-exec.
    stdio: [c_int; 3],
    parent: pid_t,
    /// The root-building steps (`mounts_len` of them; none when null).
    mounts: *const MountOp,
    mounts_len: usize,
    error: *const ChildError,
}

/// A kernel signal set (`KERNEL_SIGSET_SIZE` bytes of it are used).
type KernelSigset = [u64; 2];

/// `rt_sigprocmask(SIG_SETMASK)` with the raw syscall: unlike glibc's wrappers, it also
/// (un)blocks glibc's internal signals, like glibc's own posix_spawn does.
///
/// # Safety
///
/// Safe to call anywhere, including the child: a raw syscall on sets owned by the caller.
unsafe fn set_signal_mask(mask: &KernelSigset, old: Option<&mut KernelSigset>) -> io::Result<()> {
    let old = old.map_or(ptr::null_mut(), ptr::from_mut);
    // SAFETY: the kernel reads `mask` and writes `old` (or nothing), KERNEL_SIGSET_SIZE bytes,
    // both valid for that.
    match unsafe {
        libc::syscall(
            libc::SYS_rt_sigprocmask,
            libc::SIG_SETMASK,
            ptr::from_ref(mask),
            old,
            KERNEL_SIGSET_SIZE,
        )
    } {
        0 => Ok(()),
        _ => Err(io::Error::last_os_error()),
    }
}

/// Blocks every signal in the calling thread until dropped (the old mask is restored).
struct SignalsBlocked(KernelSigset);

impl SignalsBlocked {
    fn new() -> io::Result<Self> {
        let mut old = KernelSigset::default();
        // SAFETY: see `set_signal_mask`.
        unsafe { set_signal_mask(&[u64::MAX; 2], Some(&mut old))? };
        Ok(Self(old))
    }
}

impl Drop for SignalsBlocked {
    fn drop(&mut self) {
        // SAFETY: see `set_signal_mask`; restores the mask saved by `new`, on the same thread
        // (the guard is a local of `spawn`).
        let _ = unsafe { set_signal_mask(&self.0, None) };
    }
}

fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds: [c_int; 2] = [-1, -1];
    // SAFETY: `fds` has room for the two fds pipe2 writes.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: pipe2 succeeded: both fds are open and owned by nothing else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

fn set_nonblocking(fd: &OwnedFd) -> io::Result<()> {
    // SAFETY: fcntl on an fd we own; a fresh pipe end has no other status flag to keep.
    if unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, libc::O_NONBLOCK) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `fd` itself if it is not 0, 1 or 2, else a close-on-exec duplicate that is not: then the
/// child's `dup2`s onto 0, 1 and 2 cannot overwrite a source they still need. (Rust programs
/// start with 0, 1 and 2 open, so this only copies if the agent closed one of them.)
fn above_stdio(fd: OwnedFd) -> io::Result<OwnedFd> {
    if fd.as_raw_fd() > 2 {
        return Ok(fd);
    }
    // SAFETY: fcntl on an fd we own.
    let dup = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 3) };
    if dup < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a new fd, owned by nothing else.
    Ok(unsafe { OwnedFd::from_raw_fd(dup) })
}

/// Starts `cmd` in a new process group, from the calling thread (which the child's
/// `PR_SET_PDEATHSIG` is tied to), with `stack` as the child's stack until `execve`. Returns once
/// the child exec'd, or failed and was reaped (or, if that fails, left to `orphans`).
pub(crate) fn spawn(
    cmd: &Command,
    stack: &mut ChildStack,
    orphans: &Orphans,
) -> Result<Spawned, SpawnFailure> {
    let path = cmd.resolve()?;
    let mut argv: Vec<*const c_char> = Vec::with_capacity(cmd.argv.len() + 2);
    argv.push(SHELL.as_ptr());
    argv.extend(cmd.argv.iter().map(|arg| arg.as_ptr()));
    argv.push(ptr::null());
    let mut envp: Vec<*const c_char> = Vec::with_capacity(cmd.envp.len() + 1);
    envp.extend(cmd.envp.iter().map(|var| var.as_ptr()));
    envp.push(ptr::null());

    let (child_stdin, stdin) = match cmd.stdin {
        Stdin::Null => (OwnedFd::from(File::open("/dev/null")?), None),
        Stdin::Piped => {
            let (read, write) = pipe()?;
            set_nonblocking(&write)?;
            (read, Some(write))
        }
    };
    let (stdout, child_stdout) = pipe()?;
    set_nonblocking(&stdout)?;
    let (stderr, child_stderr) = pipe()?;
    set_nonblocking(&stderr)?;
    let child_stdio = [above_stdio(child_stdin)?, above_stdio(child_stdout)?, above_stdio(child_stderr)?];

    let top = stack.top()?;
    let error = ChildError::default();
    let args = ChildArgs {
        path: path.as_ptr(),
        argv: argv.as_mut_ptr(),
        envp: envp.as_ptr(),
        cwd: cmd.cwd.as_ref().map_or(ptr::null(), |(_, dir)| dir.as_ptr()),
        stdio: [child_stdio[0].as_raw_fd(), child_stdio[1].as_raw_fd(), child_stdio[2].as_raw_fd()],
        parent: cmd.parent,
        mounts: cmd.mounts.as_ref().map_or(ptr::null(), |ops| ops.as_ptr()),
        mounts_len: cmd.mounts.as_ref().map_or(0, |ops| ops.len()),
        error: &error,
    };
    let flags = if cmd.mounts.is_some() { CLONE_FLAGS | libc::CLONE_NEWNS } else { CLONE_FLAGS };
    let mut pidfd: c_int = -1;
    let (pid, clone_error) = {
        // No agent signal handler may run in the child before it reset them.
        let _blocked = SignalsBlocked::new()?;
        // SAFETY: `child_main` runs on `top`, the top of a mapping of CHILD_STACK_SIZE bytes
        // that nothing else uses (it belongs to this thread, which CLONE_VFORK suspends until
        // the child exec'd or exited, after which the child never touches it again). It
        // receives `args`, whose pointers all point to locals of this function (`path`,
        // `argv`, `envp`, `cmd`, `child_stdio`, `error`), alive until clone returns, for the
        // same reason, and which this thread does not touch meanwhile; the child writes only
        // `error` and, on ENOEXEC, `argv[1]`. The child only makes async-signal-safe libc calls
        // (see `child_exec`). With CLONE_PIDFD the kernel stores the pidfd at the parent_tid
        // pointer, `pidfd`; tls and child_tid are unused (no CLONE_SETTLS/CHILD_*TID flag).
        let pid = unsafe {
            libc::clone(
                child_main,
                top,
                flags,
                ptr::from_ref(&args).cast_mut().cast::<c_void>(),
                ptr::from_mut(&mut pidfd),
                ptr::null_mut::<c_void>(),
                ptr::null_mut::<pid_t>(),
            )
        };
        (pid, io::Error::last_os_error())
    };
    drop(child_stdio);
    if pid == -1 {
        if cmd.mounts.is_some() && clone_error.raw_os_error() == Some(libc::EPERM) {
            return Err(SpawnFailure::Namespace(clone_error));
        }
        return Err(clone_error.into());
    }
    // SAFETY: clone succeeded, so CLONE_PIDFD stored a new fd that nothing else owns.
    let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd) };

    let step = error.step.load(Ordering::SeqCst);
    if step != STEP_NONE {
        // The child called _exit: this wait is short.
        if reap(pidfd.as_fd()).is_err() {
            orphans.reap_or_defer(pidfd);
        }
        let err = io::Error::from_raw_os_error(error.errno.load(Ordering::SeqCst));
        let mount = usize::try_from(step - STEP_MOUNT_BASE).ok();
        return Err(match mount.and_then(|i| cmd.mounts.as_ref()?.get(i)) {
            Some(op) => SpawnFailure::Mount(op.describe(), err),
            None if step == STEP_CHDIR => SpawnFailure::WorkingDir(err),
            None => SpawnFailure::Other(err),
        });
    }
    Ok(Spawned { pid, pidfd, stdin, stdout, stderr })
}

/// The child, from clone to execve.
extern "C" fn child_main(arg: *mut c_void) -> c_int {
    // SAFETY: `arg` is the `ChildArgs` of `spawn`, alive while the parent is suspended, which
    // it is until this child execs or exits.
    let args = unsafe { &*arg.cast::<ChildArgs>() };
    // SAFETY: see `child_exec`; its preconditions are those of `spawn`'s clone call.
    unsafe { child_exec(args) }
}

/// Sets the child up and execs, or stores the failing step and errno and `_exit(127)`s.
///
/// # Safety
///
/// Only for the child of `spawn`'s clone, running on its own stack in the parent's memory while
/// the parent thread is suspended, with every signal blocked; `args` as built by `spawn`. It
/// makes only raw, async-signal-safe libc calls (errno is the suspended parent thread's), does
/// not allocate, lock or panic, and its only write to shared memory besides the error slot is
/// `argv[1]` on the `ENOEXEC` path, an array the parent no longer reads.
unsafe fn child_exec(args: &ChildArgs) -> ! {
    // SAFETY: see the function's contract.
    unsafe {
        // Signal dispositions: handled and ignored signals go back to SIG_DFL. The table is
        // the child's own copy (no CLONE_SIGHAND). SIGKILL and SIGSTOP cannot be changed.
        let mut dfl: libc::sigaction = mem::zeroed();
        dfl.sa_sigaction = libc::SIG_DFL;
        let mut old: libc::sigaction = mem::zeroed();
        for sig in 1..NSIG {
            if sig == libc::SIGKILL || sig == libc::SIGSTOP {
                continue;
            }
            let reset = if libc::sigaction(sig, ptr::null(), &mut old) != 0 {
                // glibc's internal signals (32, 33), which its sigaction refuses: set them
                // with the raw syscall. They may be ignored: glibc's posix_spawn leaves them
                // SIG_IGN in its children (a Rust parent, e.g. cargo, starts the agent so), and
                // an ignored signal survives exec.
                let kernel_dfl = KernelSigaction::default();
                libc::syscall(
                    libc::SYS_rt_sigaction,
                    sig,
                    ptr::from_ref(&kernel_dfl),
                    ptr::null_mut::<KernelSigaction>(),
                    KERNEL_SIGSET_SIZE,
                ) == 0
            } else {
                old.sa_sigaction == libc::SIG_DFL || libc::sigaction(sig, &dfl, ptr::null_mut()) == 0
            };
            if !reset {
                child_fail(args, STEP_SIGNALS, errno());
            }
        }

        if libc::setpgid(0, 0) != 0 {
            child_fail(args, STEP_SETPGID, errno());
        }
        if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) != 0 {
            child_fail(args, STEP_PDEATHSIG, errno());
        }
        if libc::getppid() != args.parent {
            // The agent died before the death signal was armed.
            child_fail(args, STEP_PARENT_GONE, libc::ESRCH);
        }

        // The process's root (with volume mounts; the namespace is the clone's).
        for i in 0..args.mounts_len {
            let op = &*args.mounts.add(i);
            if !run_mount_op(op) {
                child_fail(args, STEP_MOUNT_BASE + i as i32, errno());
            }
        }

        for (target, &source) in (0..).zip(args.stdio.iter()) {
            let ok = if source == target {
                // dup2 would be a no-op that leaves close-on-exec set.
                let flags = libc::fcntl(source, libc::F_GETFD);
                flags >= 0 && libc::fcntl(source, libc::F_SETFD, flags & !libc::FD_CLOEXEC) == 0
            } else {
                // dup2 clears close-on-exec on the target.
                libc::dup2(source, target) == target
            };
            if !ok {
                child_fail(args, STEP_STDIO, errno());
            }
        }

        if !args.cwd.is_null() && libc::chdir(args.cwd) != 0 {
            child_fail(args, STEP_CHDIR, errno());
        }

        // Last: from here on, signals are delivered, with default dispositions.
        if set_signal_mask(&KernelSigset::default(), None).is_err() {
            child_fail(args, STEP_SIGNALS, errno());
        }

        libc::execve(args.path, args.argv.add(1).cast_const(), args.envp);
        if errno() == libc::ENOEXEC {
            // Not a binary nor a `#!` script: a shell script, as far as execvp is concerned.
            *args.argv.add(1) = args.path;
            libc::execve(SHELL.as_ptr(), args.argv.cast_const(), args.envp);
        }
        child_fail(args, STEP_EXEC, errno())
    }
}

/// Runs one step of building the process's root; false (errno set) if it failed.
///
/// # Safety
///
/// Only in the child (see `child_exec`): raw syscalls on C strings of the parent's `Command`.
unsafe fn run_mount_op(op: &MountOp) -> bool {
    let none = ptr::null::<c_char>();
    // SAFETY: every pointer is a NUL-terminated string owned by the suspended parent's
    // `Command` (or a literal), or null where the syscall allows it.
    unsafe {
        match op {
            MountOp::PrivateRoot => {
                libc::mount(none, c"/".as_ptr(), none, libc::MS_REC | libc::MS_PRIVATE, ptr::null()) == 0
            }
            MountOp::Tmpfs { target } => {
                libc::mount(
                    c"tmpfs".as_ptr(),
                    target.as_ptr(),
                    c"tmpfs".as_ptr(),
                    libc::MS_NOSUID | libc::MS_NODEV,
                    c"mode=0755,size=1m".as_ptr().cast(),
                ) == 0
            }
            MountOp::Mkdir { path } => libc::mkdir(path.as_ptr(), 0o755) == 0 || errno() == libc::EEXIST,
            MountOp::Symlink { target, path } => libc::symlink(target.as_ptr(), path.as_ptr()) == 0,
            MountOp::Touch { path } => {
                let fd = libc::open(path.as_ptr(), libc::O_CREAT | libc::O_WRONLY | libc::O_CLOEXEC, 0o644);
                fd >= 0 && libc::close(fd) == 0
            }
            MountOp::Bind { source, target, recursive } => {
                let rec = if *recursive { libc::MS_REC } else { 0 };
                libc::mount(source.as_ptr(), target.as_ptr(), none, libc::MS_BIND | rec, ptr::null()) == 0
            }
            MountOp::ReadOnly { target } => {
                let flags = libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY;
                libc::mount(none, target.as_ptr(), none, flags, ptr::null()) == 0
            }
            MountOp::PivotRoot { new_root } => {
                libc::chdir(new_root.as_ptr()) == 0
                    && libc::syscall(libc::SYS_pivot_root, c".".as_ptr(), c".".as_ptr()) == 0
                    && libc::umount2(c".".as_ptr(), libc::MNT_DETACH) == 0
                    && libc::chdir(c"/".as_ptr()) == 0
            }
        }
    }
}

/// # Safety
///
/// Only in the child (see `child_exec`).
unsafe fn child_fail(args: &ChildArgs, step: i32, errno: c_int) -> ! {
    // SAFETY: `error` points to the parent's `ChildError`, alive while it is suspended.
    let error = unsafe { &*args.error };
    error.errno.store(errno, Ordering::SeqCst);
    error.step.store(step, Ordering::SeqCst);
    // SAFETY: _exit ends this process (the child) without running any of the agent's code.
    unsafe { libc::_exit(127) }
}

fn errno() -> c_int {
    // SAFETY: __errno_location returns the calling thread's errno slot, always valid.
    unsafe { *libc::__errno_location() }
}

// ---------------------------------------------------------------------------
// Waiting and reaping
// ---------------------------------------------------------------------------

/// `(code, signal)` of an exit: the code, or `128 + signal` with the signal.
pub(crate) type ExitStatus = (i32, Option<i32>);

/// `waitid(P_PIDFD)`: `None` if `WNOHANG` and the child has not exited yet.
fn wait_pidfd(pidfd: BorrowedFd<'_>, options: c_int) -> io::Result<Option<ExitStatus>> {
    // SAFETY: siginfo_t is plain data, all-zero is valid.
    let mut info: libc::siginfo_t = unsafe { mem::zeroed() };
    loop {
        // SAFETY: waitid writes into `info`, which we own; the fd is valid for the borrow.
        let res = unsafe {
            libc::waitid(libc::P_PIDFD, pidfd.as_raw_fd() as libc::id_t, &mut info, options | libc::WEXITED)
        };
        if res == 0 {
            break;
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
    // SAFETY: waitid succeeded: for a child it filled the SIGCHLD fields of `info`, and with
    // WNOHANG and no exit it left si_pid zero.
    let (pid, status) = unsafe { (info.si_pid(), info.si_status()) };
    if pid == 0 {
        return Ok(None);
    }
    Ok(Some(match info.si_code {
        libc::CLD_EXITED => (status, None),
        libc::CLD_KILLED | libc::CLD_DUMPED => (128 + status, Some(status)),
        _ => (255, None),
    }))
}

/// Reaps an exited (or exiting) child, waiting for it if needed.
fn reap(pidfd: BorrowedFd<'_>) -> io::Result<ExitStatus> {
    wait_pidfd(pidfd, 0)?.ok_or_else(|| io::Error::other("waitid returned no child"))
}

/// Children whose owner went away before they exited: one list per `process::Supervisor`,
/// shared with its spawner threads and its [`Leader`]s.
#[derive(Debug, Default)]
pub(crate) struct Orphans(Mutex<Vec<OwnedFd>>);

impl Orphans {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<OwnedFd>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Reaps the child now if it exited, else remembers it for [`reap_exited`](Self::reap_exited).
    /// Does not signal it.
    pub(crate) fn reap_or_defer(&self, pidfd: OwnedFd) {
        if matches!(wait_pidfd(pidfd.as_fd(), libc::WNOHANG), Ok(None)) {
            self.lock().push(pidfd);
        }
    }

    /// Reaps the children left to [`reap_or_defer`](Self::reap_or_defer) that have exited since.
    pub(crate) fn reap_exited(&self) {
        let mut orphans = self.lock();
        if !orphans.is_empty() {
            orphans.retain(|pidfd| matches!(wait_pidfd(pidfd.as_fd(), libc::WNOHANG), Ok(None)));
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }
}

impl Drop for Orphans {
    /// A last chance; the children still running stay zombies once they exit, until the agent
    /// exits.
    fn drop(&mut self) {
        self.reap_exited();
    }
}

/// A spawned process group's leader, waited for through its pidfd on the tokio reactor (a
/// pidfd is readable once the process exited). Dropping it before [`reap`](Self::reap) leaves
/// the child to [`Orphans::reap_or_defer`].
#[derive(Debug)]
pub(crate) struct Leader {
    /// `None` only during drop.
    pidfd: Option<AsyncFd<OwnedFd>>,
    reaped: bool,
    orphans: Arc<Orphans>,
}

impl Leader {
    /// Registers the pidfd with the current runtime's reactor (panics outside a runtime, like
    /// every tokio I/O type). On error, the pidfd is handed back. A leader dropped unreaped is
    /// left to `orphans`.
    pub(crate) fn register(pidfd: OwnedFd, orphans: Arc<Orphans>) -> Result<Self, (OwnedFd, io::Error)> {
        // SAFETY: an OwnedFd is an open fd that stays open, and is the same fd, until the
        // AsyncFd that owns it is dropped or unwrapped.
        match unsafe { AsyncFd::register_with_interest(pidfd, Interest::READABLE) } {
            Ok(pidfd) => Ok(Self { pidfd: Some(pidfd), reaped: false, orphans }),
            Err(err) => Err(err.into_parts()),
        }
    }

    fn fd(&self) -> io::Result<&AsyncFd<OwnedFd>> {
        self.pidfd.as_ref().ok_or_else(|| io::Error::other("pidfd already released"))
    }

    /// Waits until the process exited, without reaping it: it stays a zombie, which keeps its
    /// pid and process group id reserved. Cancel safe.
    pub(crate) async fn exited(&self) -> io::Result<()> {
        let fd = self.fd()?;
        loop {
            let mut ready = fd.readable().await?;
            if wait_pidfd(fd.get_ref().as_fd(), libc::WNOHANG | libc::WNOWAIT)?.is_some() {
                return Ok(());
            }
            ready.clear_ready();
        }
    }

    /// Reaps the process and returns its exit; waits for it if it has not exited yet (call
    /// [`exited`](Self::exited) first).
    pub(crate) fn reap(&mut self) -> io::Result<ExitStatus> {
        let status = reap(self.fd()?.get_ref().as_fd());
        if status.is_ok() {
            self.reaped = true;
        }
        status
    }
}

impl Drop for Leader {
    fn drop(&mut self) {
        if let Some(pidfd) = self.pidfd.take() {
            let pidfd = pidfd.into_inner();
            if !self.reaped {
                self.orphans.reap_or_defer(pidfd);
            }
        }
    }
}
