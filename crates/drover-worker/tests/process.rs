//! Tests for `drover_worker::process`: spawning pods as process groups, exit
//! codes, log capture, termination, the supervisor's registry, and cleanup when the agent dies.
//!
//! Every test uses supervisors of its own, so none can see or kill another's pods: they all
//! share this binary. Only what is process-wide by nature runs in a child copy of it: the fd
//! table and zombie count (`spawning_leaves_no_zombie_and_no_open_fd`) and the agent's death
//! (`agent_killed_*`).

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use drover_worker::process::{
    Exit, ExitReason, LogBuffer, ProcessSpec, RunningProcess, SpawnError, Supervisor,
};
use futures::FutureExt as _;
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _};

/// Upper bound for anything that should happen "promptly".
const BOUND: Duration = Duration::from_secs(10);

fn sh(script: &str) -> ProcessSpec {
    ProcessSpec::new("sh", ["-c", script])
}

/// Spawns `spec` under `supervisor`.
fn start_under(supervisor: &Supervisor, spec: &ProcessSpec) -> RunningProcess {
    supervisor.spawn(spec, Arc::new(LogBuffer::default())).expect("spawn")
}

/// Spawns `spec` under a supervisor of its own (which lives as long as the process does).
fn start(spec: &ProcessSpec) -> RunningProcess {
    start_under(&Supervisor::new(), spec)
}

/// `Supervisor::new().spawn(spec)`, with a fresh log.
fn try_start(spec: &ProcessSpec) -> Result<RunningProcess, SpawnError> {
    Supervisor::new().spawn(spec, Arc::new(LogBuffer::default()))
}

async fn bounded<F: Future>(what: &str, fut: F) -> F::Output {
    tokio::time::timeout(BOUND, fut).await.unwrap_or_else(|_| panic!("timed out: {what}"))
}

/// Runs `spec` to its end under `supervisor`; returns its exit and output.
async fn run_under(supervisor: &Supervisor, spec: &ProcessSpec) -> (Exit, String) {
    let p = start_under(supervisor, spec);
    let exit = bounded("wait", p.wait()).await;
    let (bytes, _) = p.log().snapshot();
    (exit, String::from_utf8(bytes).expect("utf-8 output"))
}

/// Runs `spec` to its end under a supervisor of its own.
async fn run(spec: &ProcessSpec) -> (Exit, String) {
    run_under(&Supervisor::new(), spec).await
}

/// Waits (event-driven, via `changed`) until the log contains `needle`.
async fn wait_for_output(log: &LogBuffer, needle: &str) {
    bounded(&format!("output {needle:?}"), async {
        let mut seen = 0;
        loop {
            let (bytes, end) = log.snapshot();
            if String::from_utf8_lossy(&bytes).contains(needle) {
                return;
            }
            assert!(!log.is_closed(), "log closed without {needle:?}");
            seen = seen.max(end);
            log.changed(seen).await;
        }
    })
    .await;
}

/// Pids of live (non-zombie) processes whose process group is `pgid`.
fn live_group_members(pgid: i32) -> Vec<i32> {
    let mut members = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return members;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue; // exited meanwhile
        };
        // "pid (comm) state ppid pgrp ..."; comm may contain spaces/parens.
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if fields.len() > 2 && fields[2] == pgid.to_string() && !matches!(fields[0], "Z" | "X") {
            members.push(pid);
        }
    }
    members
}

/// Polls /proc (there is no event to await for a foreign process's death)
/// until the group has no live member, at most `limit`.
async fn assert_group_gone_within(pgid: i32, limit: Duration) {
    let start = Instant::now();
    loop {
        let left = live_group_members(pgid);
        if left.is_empty() {
            return;
        }
        assert!(start.elapsed() < limit, "processes {left:?} of group {pgid} still alive after {limit:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn unique_temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "drover-process-test-{tag}-{}-{}",
        std::process::id(),
        chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default()
    ));
    std::fs::create_dir_all(&dir).expect("create temp dir");
    dir
}

// --- exit codes -------------------------------------------------------------

#[tokio::test]
async fn exit_zero_is_completed() {
    let (exit, _) = run(&ProcessSpec::new("true", Vec::<String>::new())).await;
    assert_eq!(exit.code, 0);
    assert_eq!(exit.signal, None);
    assert_eq!(exit.reason, ExitReason::Completed);
    assert!(exit.success());
    assert!(exit.started_at <= exit.finished_at);
}

#[tokio::test]
async fn exit_three_is_error() {
    let (exit, _) = run(&sh("exit 3")).await;
    assert_eq!(exit.code, 3);
    assert_eq!(exit.signal, None);
    assert_eq!(exit.reason, ExitReason::Error);
}

#[tokio::test]
async fn death_by_signal_is_128_plus_signal() {
    let (exit, _) = run(&sh("kill -s KILL $$")).await;
    assert_eq!(exit.code, 137);
    assert_eq!(exit.signal, Some(9));
    assert_eq!(exit.reason, ExitReason::Error);
}

// --- output, env, working dir, stdin ---------------------------------------

#[tokio::test]
async fn stdout_and_stderr_are_captured_as_whole_lines() {
    let (exit, out) = run(&sh("echo out1; echo err1 >&2; echo out2; printf 'no newline' >&2")).await;
    assert_eq!(exit.code, 0);
    let mut lines: Vec<&str> = out.lines().collect();
    let pos = |l: &str| lines.iter().position(|x| *x == l);
    assert!(pos("out1").unwrap() < pos("out2").unwrap(), "{out:?}");
    lines.sort_unstable();
    assert_eq!(lines, ["err1", "no newline", "out1", "out2"], "{out:?}");
}

#[tokio::test]
async fn env_is_inherited_and_overridden_and_working_dir_applied() {
    let dir = unique_temp_dir("cwd");
    let spec = ProcessSpec {
        env: vec![("DROVER_TEST_FOO".into(), "bar baz".into()), ("HOME".into(), "/pod/home".into())],
        working_dir: Some(dir.clone()),
        ..sh(r#"echo "foo=$DROVER_TEST_FOO"; echo "home=$HOME"; echo "path=$PATH"; echo "pwd=$(pwd -P)""#)
    };
    let (exit, out) = run(&spec).await;
    assert_eq!(exit.code, 0, "{out}");
    let path = std::env::var("PATH").unwrap_or_default();
    let cwd = dir.canonicalize().unwrap();
    assert_eq!(out, format!("foo=bar baz\nhome=/pod/home\npath={path}\npwd={}\n", cwd.display()));
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn only_an_allow_list_of_the_agents_environment_is_inherited() {
    // cargo sets CARGO_* for this test binary: the agent's own settings, which no pod may see.
    assert!(std::env::var_os("CARGO_MANIFEST_DIR").is_some());
    let spec = ProcessSpec {
        env: vec![("POD_VAR".into(), "1".into())],
        ..ProcessSpec::new("env", Vec::<String>::new())
    };
    let (exit, out) = run(&spec).await;
    assert_eq!(exit.code, 0, "{out}");
    let mut names: Vec<&str> = out.lines().filter_map(|l| l.split_once('=').map(|(k, _)| k)).collect();
    names.sort_unstable();
    let allowed = ["PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "TZ", "TMPDIR", "POD_VAR"];
    assert!(
        names.iter().all(|n| allowed.contains(n) || n.starts_with("LC_")),
        "inherited beyond the allow-list: {names:?}"
    );
    assert!(names.contains(&"PATH") && names.contains(&"POD_VAR"), "{names:?}");
}

#[tokio::test]
async fn stdin_is_also_a_private_file_removed_after_the_exit() {
    // Not a C string (NULs), and over the kernel's 128 KiB limit for one environment string.
    let body: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let spec = ProcessSpec {
        stdin: Some(body.clone()),
        stdin_file_env: Some("BODY_FILE".into()),
        ..sh(
            r#"cmp - "$BODY_FILE" && stat -c %a "$BODY_FILE" && stat -c %a "$(dirname "$BODY_FILE")" && echo "$BODY_FILE""#,
        )
    };
    let (exit, out) = run(&spec).await;
    assert_eq!(exit.code, 0, "{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[..2], ["600", "700"], "{out}");
    let path = PathBuf::from(lines[2]);
    assert!(!path.exists() && !path.parent().unwrap().exists(), "{} is left", path.display());
}

#[tokio::test]
async fn stdin_is_delivered_and_closed() {
    let spec = ProcessSpec {
        stdin: Some(b"hello\nworld\n".to_vec()),
        ..ProcessSpec::new("cat", Vec::<String>::new())
    };
    let (exit, out) = run(&spec).await;
    assert_eq!(exit.reason, ExitReason::Completed);
    assert_eq!(out, "hello\nworld\n");
}

#[tokio::test]
async fn stdin_the_child_never_reads_does_not_block() {
    let spec = ProcessSpec { stdin: Some(vec![b'x'; 4 * 1024 * 1024]), ..sh("echo done") };
    let (exit, out) = run(&spec).await;
    assert_eq!(exit.code, 0);
    assert_eq!(out, "done\n");
}

#[tokio::test]
async fn no_stdin_is_dev_null() {
    let (exit, out) = run(&sh("cat; echo eof")).await;
    assert_eq!(exit.code, 0);
    assert_eq!(out, "eof\n");
}

// --- interactive mode -------------------------------------------------------

fn interactive(script: &str) -> ProcessSpec {
    ProcessSpec { interactive: true, ..sh(script) }
}

#[tokio::test]
async fn interactive_round_trip_of_1000_lines() {
    let mut p = start(&interactive("while read l; do echo ok; done"));
    let (mut stdin, stdout) = p.take_stdio().expect("interactive stdio");
    assert!(p.take_stdio().is_none(), "handed out once");
    let mut answers = tokio::io::BufReader::new(stdout).lines();
    bounded("1000 round trips", async {
        for i in 0..1000 {
            stdin.write_all(format!("task-{i}\n").as_bytes()).await.unwrap();
            stdin.flush().await.unwrap();
            assert_eq!(answers.next_line().await.unwrap().as_deref(), Some("ok"), "answer {i}");
        }
    })
    .await;
    drop(stdin);
    let exit = bounded("exit at EOF", p.wait()).await;
    assert_eq!(exit.reason, ExitReason::Completed);
    assert_eq!(answers.next_line().await.unwrap(), None, "stdout ends with the process");
    // stdout belongs to the caller: none of it is in the log.
    assert!(p.log().is_empty(), "{:?}", p.log().snapshot());
    assert!(p.log().is_closed());
}

#[tokio::test]
async fn interactive_eof_on_stdin_ends_the_process() {
    let mut p = start(&interactive("while read l; do echo \"got $l\"; done; echo bye >&2; exit 4"));
    let (mut stdin, stdout) = p.take_stdio().unwrap();
    stdin.write_all(b"a\nb\n").await.unwrap();
    drop(stdin);
    let exit = bounded("exit at EOF", p.wait()).await;
    assert_eq!((exit.code, exit.reason), (4, ExitReason::Error));
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    assert_eq!(lines.next_line().await.unwrap().as_deref(), Some("got a"));
    assert_eq!(lines.next_line().await.unwrap().as_deref(), Some("got b"));
    assert_eq!(lines.next_line().await.unwrap(), None);
    assert_eq!(String::from_utf8(p.log().snapshot().0).unwrap(), "bye\n");
}

#[tokio::test]
async fn interactive_stderr_is_still_in_the_log() {
    let mut p = start(&interactive("while read l; do echo \"Processing $l\" >&2; echo ok; done"));
    let (mut stdin, stdout) = p.take_stdio().unwrap();
    let mut answers = tokio::io::BufReader::new(stdout).lines();
    for item in ["apple", "banana"] {
        stdin.write_all(format!("{item}\n").as_bytes()).await.unwrap();
        assert_eq!(bounded("answer", answers.next_line()).await.unwrap().as_deref(), Some("ok"));
    }
    wait_for_output(p.log(), "Processing banana\n").await;
    drop(stdin);
    bounded("exit", p.wait()).await;
    let (bytes, _) = p.log().snapshot();
    assert_eq!(String::from_utf8(bytes).unwrap(), "Processing apple\nProcessing banana\n");
}

#[tokio::test]
async fn interactive_exit_is_seen_while_the_caller_holds_the_pipes() {
    // The caller keeps stdin open and never reads stdout: the exit is still reported, the
    // group killed and the log closed.
    let mut p = start(&interactive("sleep 60 & echo started >&2; exit 3"));
    let stdio = p.take_stdio().unwrap();
    let exit = bounded("exit", p.wait()).await;
    assert_eq!(exit.code, 3);
    assert!(p.log().is_closed());
    assert_group_gone_within(p.pgid(), BOUND).await;
    drop(stdio);
}

#[tokio::test]
async fn dropping_an_interactive_handle_kills_the_group() {
    let mut p = start(&interactive("sleep 60 & while read l; do echo ok; done"));
    let pgid = p.pgid();
    let stdio = p.take_stdio().unwrap();
    drop(p);
    assert_group_gone_within(pgid, BOUND).await;
    drop(stdio);
}

#[tokio::test]
async fn take_stdio_is_none_for_a_captured_process() {
    let mut p = start(&ProcessSpec { stdin: Some(b"x".to_vec()), ..sh("cat") });
    assert!(p.take_stdio().is_none());
    bounded("exit", p.wait()).await;
    assert_eq!(p.log().snapshot().0, b"x");
}

// --- termination ------------------------------------------------------------

#[tokio::test]
async fn terminate_with_grace_stops_sleep_with_sigterm() {
    let p = start(&ProcessSpec::new("sleep", ["60"]));
    let pid = p.pid();
    assert_eq!(p.pgid(), pid as i32);
    let t0 = Instant::now();
    let exit = bounded("terminate", p.terminate_with_grace(Duration::from_secs(5))).await;
    assert!(t0.elapsed() < Duration::from_secs(3), "{:?}", t0.elapsed());
    assert_eq!(exit.signal, Some(15));
    assert_eq!(exit.code, 143);
    assert_eq!(exit.reason, ExitReason::Killed);
    assert!(!PathBuf::from(format!("/proc/{pid}")).exists());
    assert!(p.log().is_closed());
}

#[tokio::test]
async fn sigterm_ignoring_child_is_killed_after_grace() {
    let p = start(&sh(r#"trap "" TERM; echo ready; sleep 60"#));
    wait_for_output(p.log(), "ready").await;
    let t0 = Instant::now();
    let exit = bounded("terminate", p.terminate_with_grace(Duration::from_millis(300))).await;
    let took = t0.elapsed();
    assert!(took >= Duration::from_millis(300), "{took:?}");
    assert!(took < Duration::from_secs(3), "{took:?}");
    assert_eq!(exit.signal, Some(9));
    assert_eq!(exit.code, 137);
    assert_eq!(exit.reason, ExitReason::Killed);
    assert_group_gone_within(p.pgid(), Duration::from_secs(2)).await;
}

#[tokio::test]
async fn terminate_reaches_grandchildren_in_the_group() {
    let p = start(&sh("sleep 60 & sleep 60 & echo ready; wait"));
    wait_for_output(p.log(), "ready").await;
    let pgid = p.pgid();
    let members = live_group_members(pgid);
    assert!(members.len() >= 3, "expected sh + 2 sleeps, got {members:?}");
    let exit = bounded("terminate", p.terminate_with_grace(Duration::from_secs(5))).await;
    assert_eq!(exit.signal, Some(15));
    assert_eq!(exit.reason, ExitReason::Killed);
    assert_group_gone_within(pgid, Duration::from_secs(2)).await;
}

#[tokio::test]
async fn leftover_background_processes_die_with_the_leader() {
    // The background sleep keeps stdout open; the leader's exit must still
    // end the pod promptly, and take the sleep with it.
    let p = start(&sh("sleep 60 & echo started"));
    let exit = bounded("wait", p.wait()).await;
    assert_eq!(exit.reason, ExitReason::Completed);
    assert_eq!(p.log().snapshot().0, b"started\n");
    assert!(p.log().is_closed());
    assert_group_gone_within(p.pgid(), Duration::from_secs(2)).await;
}

#[tokio::test]
async fn kill_sends_sigkill_to_the_group() {
    let p = start(&ProcessSpec::new("sleep", ["60"]));
    p.kill();
    let exit = bounded("wait", p.wait()).await;
    assert_eq!(exit.signal, Some(9));
    assert_eq!(exit.reason, ExitReason::Killed);
    // Signalling after the exit is a harmless no-op.
    p.terminate();
    p.kill();
    assert_eq!(p.wait().await, exit);
}

#[tokio::test]
async fn wait_is_cancel_safe() {
    let p = start(&ProcessSpec::new("sleep", ["60"]));
    assert!(tokio::time::timeout(Duration::from_millis(20), p.wait()).await.is_err());
    assert!(p.wait().now_or_never().is_none());
    assert!(p.try_exit().is_none());
    p.terminate();
    let exit = bounded("wait", p.wait()).await;
    assert_eq!(exit.signal, Some(15));
    assert_eq!(p.try_exit(), Some(exit));
}

#[tokio::test]
async fn deadline_exceeded() {
    let p = start(&ProcessSpec::new("sleep", ["60"]));
    let deadline = tokio::time::Instant::now() + Duration::from_millis(100);
    let exit = bounded("deadline", p.wait_with_deadline(deadline, Duration::from_secs(5))).await;
    assert_eq!(exit.reason, ExitReason::DeadlineExceeded);
    assert_eq!(exit.signal, Some(15));
}

#[tokio::test]
async fn deadline_not_reached_reports_the_real_exit() {
    let p = start(&sh("exit 4"));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let exit = bounded("deadline", p.wait_with_deadline(deadline, Duration::from_secs(1))).await;
    assert_eq!(exit.reason, ExitReason::Error);
    assert_eq!(exit.code, 4);
}

#[tokio::test]
async fn dropping_the_handle_kills_the_group() {
    let p = start(&sh("sleep 60 & sleep 60 & echo ready; wait"));
    wait_for_output(p.log(), "ready").await;
    let pgid = p.pgid();
    let log = p.log().clone();
    drop(p);
    bounded("log closed", log.closed()).await;
    assert_group_gone_within(pgid, Duration::from_secs(2)).await;
}

// --- the supervisor ---------------------------------------------------------

#[tokio::test]
async fn kill_all_groups_kills_every_live_group_of_its_supervisor_only() {
    let (sup, other) = (Supervisor::new(), Supervisor::new());
    let a = start_under(&sup, &sh("sleep 60 & sleep 60"));
    let b = start_under(&sup, &sh("sleep 60"));
    let c = start_under(&other, &sh("exec sleep 60"));
    let mut expected = vec![a.pgid(), b.pgid()];
    expected.sort_unstable();
    assert_eq!(sup.live_groups(), expected);
    assert_eq!(other.live_groups(), [c.pgid()]);

    assert_eq!(sup.kill_all_groups(), 2);
    for p in [&a, &b] {
        let exit = bounded("pod stopped", p.wait()).await;
        assert_eq!(exit.signal, Some(9));
        // Not stopped through its handle: reported as an error exit.
        assert_eq!(exit.reason, ExitReason::Error);
        assert_group_gone_within(p.pgid(), BOUND).await;
    }
    assert!(sup.live_groups().is_empty());
    assert_eq!(sup.kill_all_groups(), 0);

    // The other supervisor's pod was not touched.
    assert!(c.try_exit().is_none(), "{:?}", c.try_exit());
    assert_eq!(live_group_members(c.pgid()), [c.pgid()]);
    assert_eq!(other.live_groups(), [c.pgid()]);
    c.kill();
    bounded("other pod stopped", c.wait()).await;
    assert!(other.live_groups().is_empty());
}

#[tokio::test]
async fn a_pod_outlives_the_handles_of_its_supervisor() {
    let sup = Supervisor::new();
    let p = start_under(&sup, &sh("echo ready; exec sleep 60"));
    let pgid = p.pgid();
    wait_for_output(p.log(), "ready").await;
    drop(sup);
    // Still running (the supervisor's state lives as long as one of its groups does), and still
    // stopped by its own handle.
    assert!(p.try_exit().is_none());
    assert_eq!(live_group_members(pgid), [pgid]);
    let exit = bounded("terminate", p.terminate_with_grace(BOUND)).await;
    assert_eq!((exit.signal, exit.reason), (Some(15), ExitReason::Killed));
}

// --- log buffer -------------------------------------------------------------

#[test]
fn log_buffer_keeps_the_last_capacity_bytes() {
    let log = LogBuffer::new(10);
    log.append(b"0123456");
    assert_eq!(log.snapshot(), (b"0123456".to_vec(), 7));
    log.append(b"789abc");
    assert_eq!(log.snapshot(), (b"3456789abc".to_vec(), 13));
    assert_eq!(log.dropped_bytes(), 3);
    assert_eq!(log.start_offset(), 3);
    assert_eq!(log.read_from(0), (b"3456789abc".to_vec(), 13));
    assert_eq!(log.read_from(10), (b"abc".to_vec(), 13));
    assert_eq!(log.read_from(13), (Vec::new(), 13));
    assert_eq!(log.read_from(99), (Vec::new(), 13));
    // A single append larger than the capacity keeps its tail.
    log.append(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ");
    assert_eq!(log.snapshot(), (b"QRSTUVWXYZ".to_vec(), 39));
    assert_eq!(log.dropped_bytes(), 29);
    assert_eq!(log.len(), 10);
    log.close();
    log.append(b"ignored");
    assert_eq!(log.end_offset(), 39);
}

#[tokio::test]
async fn log_buffer_bound_on_3_mib_of_output() {
    const MIB: u64 = 1024 * 1024;
    // 3 MiB of "0123456789abcde\n" (16-byte lines).
    let p = start(&sh("yes 0123456789abcde | head -c 3145728"));
    let exit = bounded("wait", p.wait()).await;
    assert_eq!(exit.code, 0);
    let log = p.log();
    assert_eq!(log.end_offset(), 3 * MIB);
    assert_eq!(log.len() as u64, MIB);
    assert_eq!(log.dropped_bytes(), 2 * MIB);
    let (bytes, end) = log.snapshot();
    assert_eq!(end, 3 * MIB);
    assert_eq!(bytes.len() as u64, MIB);
    // The kept part starts on a line boundary (16 | 2 MiB) and is intact.
    assert!(bytes.chunks(16).all(|line| line == b"0123456789abcde\n"));
}

#[tokio::test]
async fn follower_is_woken_by_new_output() {
    let log = Arc::new(LogBuffer::new(1024));
    let follower = {
        let log = log.clone();
        tokio::spawn(async move { log.changed(0).await })
    };
    // Not ready while nothing was written: a fresh `changed` is pending...
    assert!(log.changed(0).now_or_never().is_none());
    tokio::task::yield_now().await;
    assert!(!follower.is_finished());
    // ...and an append wakes the waiting follower.
    log.append(b"line\n");
    assert_eq!(bounded("follower", follower).await.unwrap(), 5);
    // Already-available data returns at once; closing wakes waiters too.
    assert_eq!(log.changed(0).now_or_never(), Some(5));
    let waiter = {
        let log = log.clone();
        tokio::spawn(async move { log.changed(5).await })
    };
    let closed = {
        let log = log.clone();
        tokio::spawn(async move { log.closed().await })
    };
    tokio::task::yield_now().await;
    log.close();
    assert_eq!(bounded("waiter", waiter).await.unwrap(), 5);
    bounded("closed", closed).await.unwrap();
}

#[tokio::test]
async fn follow_loop_sees_all_output_of_a_process() {
    let p = start(&sh("for i in 1 2 3 4 5; do echo line$i; echo err$i >&2; done"));
    let log = p.log().clone();
    let followed = bounded("follow", async {
        let mut out = Vec::new();
        let mut offset = 0;
        loop {
            let (bytes, next) = log.read_from(offset);
            out.extend_from_slice(&bytes);
            offset = next;
            if log.is_closed() && log.end_offset() == offset {
                return out;
            }
            log.changed(offset).await;
        }
    })
    .await;
    let exit = bounded("wait", p.wait()).await;
    assert_eq!(exit.code, 0);
    assert_eq!(followed, log.snapshot().0);
    assert_eq!(String::from_utf8(followed).unwrap().lines().count(), 10);
}

// --- spawn errors -----------------------------------------------------------

#[tokio::test]
async fn command_not_found_is_127() {
    let spec = ProcessSpec::new("drover-no-such-command-xyz", Vec::<String>::new());
    let err = try_start(&spec).unwrap_err();
    assert!(matches!(err, SpawnError::NotFound { .. }), "{err:?}");
    assert_eq!(err.exit_code(), 127);
    assert!(err.to_string().contains("command not found"), "{err}");
    let exit = Exit::start_error(&err);
    assert_eq!(exit.code, 127);
    assert!(matches!(exit.reason, ExitReason::StartError(_)));
}

#[tokio::test]
async fn not_executable_is_126() {
    let dir = unique_temp_dir("noexec");
    let file = dir.join("script.sh");
    std::fs::write(&file, "#!/bin/sh\necho hi\n").unwrap();
    let spec = ProcessSpec::new(file.to_string_lossy(), Vec::<String>::new());
    let err = try_start(&spec).unwrap_err();
    assert!(matches!(err, SpawnError::PermissionDenied { .. }), "{err:?}");
    assert_eq!(err.exit_code(), 126);
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn bad_working_dir_is_a_start_error() {
    let spec = ProcessSpec {
        working_dir: Some("/nonexistent/drover/dir".into()),
        ..ProcessSpec::new("true", Vec::<String>::new())
    };
    let err = try_start(&spec).unwrap_err();
    assert!(matches!(err, SpawnError::WorkingDir { .. }), "{err:?}");
    assert_eq!(err.exit_code(), 126);
}

#[test]
fn spawn_outside_a_runtime_is_an_error() {
    let err = try_start(&sh("true")).unwrap_err();
    assert!(matches!(err, SpawnError::NoRuntime), "{err:?}");
}

// --- how the child starts ---------------------------------------------------

/// A signal mask line of a `/proc/<pid>/status` text, e.g. `SigIgn:\t0000000000001000`.
fn status_mask(status: &str, field: &str) -> u64 {
    let prefix = format!("{field}:");
    let line =
        status.lines().find(|l| l.starts_with(&prefix)).unwrap_or_else(|| panic!("no {field}: {status}"));
    u64::from_str_radix(line[prefix.len()..].trim(), 16).expect("hex signal mask")
}

#[tokio::test]
async fn the_child_starts_with_default_signals_and_nothing_blocked() {
    const SIGPIPE_BIT: u64 = 1 << (13 - 1);
    // This process (the agent), like every Rust program, ignores SIGPIPE...
    let own = std::fs::read_to_string("/proc/self/status").unwrap();
    assert_ne!(status_mask(&own, "SigIgn") & SIGPIPE_BIT, 0, "{own}");
    // ...its pods do not, and start with no signal blocked (the spawning thread blocks them
    // all around the spawn).
    let (exit, out) = run(&ProcessSpec::new("cat", ["/proc/self/status"])).await;
    assert_eq!(exit.code, 0, "{out}");
    assert_eq!(status_mask(&out, "SigIgn"), 0, "{out}");
    assert_eq!(status_mask(&out, "SigBlk"), 0, "{out}");
}

/// Spawns a program written just before: a concurrent spawn of another test may briefly hold
/// the file open for writing (ETXTBSY), so that is retried.
async fn run_new_file(spec: &ProcessSpec) -> (Exit, String) {
    for _ in 0..50 {
        match try_start(spec) {
            Err(SpawnError::Io { source, .. }) if source.kind() == std::io::ErrorKind::ExecutableFileBusy => {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            Err(e) => panic!("spawn: {e}"),
            Ok(p) => {
                let exit = bounded("wait", p.wait()).await;
                let (bytes, _) = p.log().snapshot();
                return (exit, String::from_utf8(bytes).expect("utf-8 output"));
            }
        }
    }
    panic!("{} stayed busy", spec.program);
}

fn write_file(path: &std::path::Path, content: &str, mode: u32) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::write(path, content).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[tokio::test]
async fn the_program_is_looked_up_in_the_pods_path() {
    let dir = unique_temp_dir("path");
    let (first, second) = (dir.join("first"), dir.join("second"));
    std::fs::create_dir_all(&first).unwrap();
    std::fs::create_dir_all(&second).unwrap();
    // The first match is not executable: skipped, like execvp does.
    write_file(&first.join("drover-test-prog"), "#!/bin/sh\necho first\n", 0o644);
    write_file(&second.join("drover-test-prog"), "#!/bin/sh\necho \"second $1\"\n", 0o755);
    let path = format!("{}:{}:/bin:/usr/bin", first.display(), second.display());
    let spec =
        ProcessSpec { env: vec![("PATH".into(), path)], ..ProcessSpec::new("drover-test-prog", ["arg"]) };
    let (exit, out) = run_new_file(&spec).await;
    assert_eq!((exit.code, out.as_str()), (0, "second arg\n"));
    // Not in the pod's PATH, although it is in the agent's.
    let spec = ProcessSpec {
        env: vec![("PATH".into(), second.display().to_string())],
        ..ProcessSpec::new("true", Vec::<String>::new())
    };
    let err = try_start(&spec).unwrap_err();
    assert!(matches!(err, SpawnError::NotFound { .. }), "{err:?}");
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn a_script_without_shebang_runs_under_sh() {
    let dir = unique_temp_dir("noshebang");
    let file = dir.join("script");
    write_file(&file, "echo \"hi $1 from $0\"\n", 0o755);
    let (exit, out) = run_new_file(&ProcessSpec::new(file.to_string_lossy(), ["there"])).await;
    assert_eq!(exit.code, 0, "{out}");
    assert_eq!(out, format!("hi there from {}\n", file.display()));
    let _ = std::fs::remove_dir_all(dir);
}

/// Spawns, spawn errors (also those detected in the child, after it was created) and dropped
/// handles leave no zombie and no open fd behind. Run in a process of its own, where no other
/// test spawns or opens anything meanwhile.
#[tokio::test]
async fn spawning_leaves_no_zombie_and_no_open_fd() {
    let exe = std::env::current_exe().expect("current_exe");
    let out = tokio::process::Command::new(exe)
        .args(["agent_helper", "--exact", "--ignored", "--nocapture", "--test-threads=1"])
        .env(HELPER_ENV, "hygiene")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = bounded("hygiene helper", out).await.expect("run helper");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{}\n{stdout}\n{stderr}", out.status);
    assert!(stdout.contains("HYGIENE-OK"), "{stdout}\n{stderr}");
}

/// Zombie children of this process.
fn zombie_children() -> Vec<i32> {
    let me = std::process::id().to_string();
    let mut zombies = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else { continue };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if fields.len() > 1 && fields[1] == me && fields[0] == "Z" {
            zombies.push(pid);
        }
    }
    zombies
}

fn open_fds() -> Vec<String> {
    let mut fds: Vec<String> = std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .flatten()
        .map(|e| {
            let target = std::fs::read_link(e.path()).map(|t| t.display().to_string()).unwrap_or_default();
            format!("{}->{target}", e.file_name().to_string_lossy())
        })
        .collect();
    fds.sort();
    fds
}

/// The `hygiene` helper mode.
async fn hygiene() {
    let fds_initial = open_fds();
    let sup = Supervisor::new();
    let true_ = || ProcessSpec::new("true", Vec::<String>::new());
    // Warm-up: starts the spawner threads and the watchdog (whose pipe stays open).
    assert!(run_under(&sup, &true_()).await.0.success());
    let fds_before = open_fds();
    assert_eq!(fds_before.len(), fds_initial.len() + 1, "the watchdog's pipe: {fds_before:?}");

    for _ in 0..200 {
        assert!(run_under(&sup, &true_()).await.0.success());
    }
    // Concurrent spawns through the async path, with each stdin mode.
    let specs: Vec<ProcessSpec> = (0..60)
        .map(|i| match i % 3 {
            0 => true_(),
            1 => ProcessSpec {
                stdin: Some(b"data\n".to_vec()),
                ..ProcessSpec::new("cat", Vec::<String>::new())
            },
            _ => ProcessSpec { interactive: true, ..sh("read l; echo $l") },
        })
        .collect();
    let started =
        futures::future::join_all(specs.iter().map(|s| sup.spawn_async(s, Arc::new(LogBuffer::default()))))
            .await;
    for p in started {
        let mut p = p.expect("spawn");
        let mut stdio = p.take_stdio();
        if let Some((stdin, _)) = &mut stdio {
            stdin.write_all(b"x\n").await.unwrap();
        }
        // stdout stays open until the exit: the answer is not lost to a SIGPIPE.
        let exit = bounded("wait", p.wait()).await;
        assert!(exit.success(), "{exit:?}");
        drop(stdio);
    }

    // Spawn errors: found nowhere (no child is created), and failures of the child's execve
    // (the child exists, fails, and must be reaped).
    let dir = unique_temp_dir("hygiene");
    let not_executable = dir.join("script.sh");
    std::fs::write(&not_executable, "#!/bin/sh\n").unwrap();
    for (program, not_found) in [
        ("drover-no-such-command-xyz".to_owned(), true),
        ("/nonexistent/drover/program".to_owned(), true),
        (not_executable.display().to_string(), false),
    ] {
        let err = sup
            .spawn(&ProcessSpec::new(program, Vec::<String>::new()), Arc::new(LogBuffer::default()))
            .unwrap_err();
        assert_eq!(matches!(err, SpawnError::NotFound { .. }), not_found, "{err:?}");
        assert!(zombie_children().is_empty(), "zombies after {err}: {:?}", zombie_children());
    }
    let _ = std::fs::remove_dir_all(dir);

    // A handle dropped while its process runs: the group is killed and the leader reaped.
    let p = start_under(&sup, &sh("sleep 60 & exec sleep 60"));
    let pid = p.pid();
    drop(p);
    bounded("dropped process reaped", async {
        while std::path::Path::new(&format!("/proc/{pid}")).exists() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;

    assert!(zombie_children().is_empty(), "zombies: {:?}", zombie_children());
    // Tasks finishing on this runtime may still hold an fd for a moment.
    let deadline = Instant::now() + Duration::from_secs(2);
    while open_fds() != fds_before && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(open_fds(), fds_before);

    // The supervisor goes with its last handle and its last group: its watchdog is stopped and
    // reaped, its pipe closed.
    drop(sup);
    let deadline = Instant::now() + Duration::from_secs(2);
    while open_fds() != fds_initial && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(open_fds(), fds_initial);
    assert!(zombie_children().is_empty(), "zombies: {:?}", zombie_children());
    println!("HYGIENE-OK");
}

// --- the agent dies ---------------------------------------------------------

/// Set for the re-executed test binary acting as the agent; its value says
/// which helper scenario to run.
const HELPER_ENV: &str = "DROVER_PROCESS_TEST_AGENT_HELPER";

/// Runs `agent_helper` in a child copy of this test binary, returns it and
/// the pgid it printed.
async fn start_agent_helper(mode: &str) -> (tokio::process::Child, i32) {
    let exe = std::env::current_exe().expect("current_exe");
    let mut helper = tokio::process::Command::new(exe)
        .args(["agent_helper", "--exact", "--ignored", "--nocapture", "--test-threads=1"])
        .env(HELPER_ENV, mode)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start helper");
    let mut lines = tokio::io::BufReader::new(helper.stdout.take().unwrap()).lines();
    let pgid = bounded("helper pgid", async {
        while let Some(line) = lines.next_line().await.expect("read helper output") {
            if let Some(i) = line.find("PGID=") {
                let digits: String = line[i + 5..].chars().take_while(char::is_ascii_digit).collect();
                return digits.parse::<i32>().expect("pgid");
            }
        }
        panic!("helper exited without printing its pgid");
    })
    .await;
    (helper, pgid)
}

async fn kill_agent(mut helper: tokio::process::Child) {
    helper.start_kill().expect("kill -9 helper");
    bounded("helper exit", helper.wait()).await.expect("wait helper");
}

/// The whole group, grandchildren included, dies within 2 s of a `kill -9`
/// of the agent (PDEATHSIG for the shell, the watchdog for the sleeps).
#[tokio::test]
async fn agent_killed_leaves_no_group_member_alive() {
    let (helper, pgid) = start_agent_helper("group").await;
    let members = live_group_members(pgid);
    assert!(members.len() >= 3, "expected sh + 2 sleeps, got {members:?}");
    kill_agent(helper).await;
    assert_group_gone_within(pgid, Duration::from_secs(2)).await;
}

/// With the watchdog disabled, PDEATHSIG alone still kills the direct child.
#[tokio::test]
async fn agent_killed_pdeathsig_kills_direct_child() {
    let (helper, pgid) = start_agent_helper("pdeathsig").await;
    assert_eq!(live_group_members(pgid), [pgid]);
    kill_agent(helper).await;
    assert_group_gone_within(pgid, Duration::from_secs(2)).await;
}

/// Not a test: the "agent" side of the tests above, run in a child process.
#[tokio::test]
#[ignore = "helper for agent_killed_* tests; does nothing unless they run it"]
async fn agent_helper() {
    let Ok(mode) = std::env::var(HELPER_ENV) else {
        return;
    };
    let (supervisor, spec) = match mode.as_str() {
        "hygiene" => return hygiene().await,
        "group" => (Supervisor::new(), sh("sleep 300 & sleep 300 & echo ready; wait")),
        "pdeathsig" => (Supervisor::without_group_watchdog(), sh("echo ready; exec sleep 300")),
        other => panic!("unknown helper mode {other}"),
    };
    let p = start_under(&supervisor, &spec);
    wait_for_output(p.log(), "ready").await;
    println!("PGID={}", p.pgid());
    std::future::pending::<()>().await;
}
