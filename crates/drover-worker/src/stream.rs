//! The `Stream` queue handler's process: one long-lived process per pod that reads one task per
//! line on stdin and answers one line per task on stdout (the protocol is described in
//! [`crate::tasks`]).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::unix::pipe;

use crate::process::{Exit, LogBuffer, ProcessSpec, RunningProcess, SpawnError, Supervisor};

/// Bytes of an answer line kept; the rest of a longer line is read and dropped, so the process
/// cannot make the agent buffer without bound and the line count stays in step.
const MAX_ANSWER: usize = 4 * 1024;

/// How one task went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StreamResult {
    /// The process answered `ok`.
    Ok,
    /// The process answered this line (without its line ending).
    Failed(String),
    /// The process closed its stdout or stdin (normally: it exited) before answering.
    Exited,
}

/// The most bytes of lines written ahead of the task that runs (and not answered yet): within
/// the smallest capacity a Linux pipe can have (one page), so that a write ahead never blocks
/// on a process that is itself blocked writing answers nobody reads yet.
pub(crate) const WRITE_AHEAD: usize = 4096;

/// Tasks written ahead in one go, once fewer than a quarter of that are ahead
/// ([`StreamProcess::wants_ahead`]).
pub(crate) const AHEAD_CHUNK: usize = 32;

/// A running `Stream` handler process.
pub(crate) struct StreamProcess {
    process: RunningProcess,
    /// `None` once closed.
    stdin: Option<pipe::Sender>,
    stdout: BufReader<pipe::Receiver>,
    /// Tasks whose lines were written ahead of their turn and whose answers are not read yet,
    /// oldest first: their keys and line lengths.
    ahead: VecDeque<(String, usize)>,
    /// The bytes of `ahead`'s lines.
    ahead_bytes: usize,
}

/// A task to run through the process: a key unique to it (its delivery's receipt) and its body.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Line<'a> {
    pub(crate) key: &'a str,
    pub(crate) body: &'a [u8],
}

impl StreamProcess {
    /// Starts `spec` under `supervisor` as an [interactive](ProcessSpec::interactive) process
    /// logging its stderr into `log`.
    pub(crate) async fn start(
        supervisor: &Supervisor,
        spec: &ProcessSpec,
        log: Arc<LogBuffer>,
    ) -> Result<StreamProcess, SpawnError> {
        let spec = ProcessSpec { interactive: true, stdin: None, ..spec.clone() };
        let mut process = supervisor.spawn_async(&spec, log).await?;
        let Some((stdin, stdout)) = process.take_stdio() else {
            // Cannot happen: an interactive process always has both pipes.
            return Err(SpawnError::Io {
                program: spec.program.clone(),
                source: std::io::Error::other("interactive process without stdin/stdout"),
            });
        };
        Ok(StreamProcess {
            process,
            stdin: Some(stdin),
            stdout: BufReader::new(stdout),
            ahead: VecDeque::new(),
            ahead_bytes: 0,
        })
    }

    /// The process, for its start time, exit and termination.
    pub(crate) fn process(&self) -> &RunningProcess {
        &self.process
    }

    /// Sends `body` as one line and reads the answer. The body must not contain `\n` (the
    /// caller refuses such tasks). Not cancel safe as far as the protocol goes: a cancelled
    /// call leaves the stream out of step, so the caller stops the process.
    #[cfg(test)]
    pub(crate) async fn run(&mut self, body: &[u8]) -> StreamResult {
        self.run_ahead(Line { key: "", body }, &[]).await
    }

    /// Runs `task`, writing the lines of the tasks that follow it (`next`, in the order they
    /// will run) ahead of their turn, in the same write, within [`WRITE_AHEAD`] bytes: the
    /// process then reads task after task without waiting for the agent, and the agent reads
    /// their answers as they come. A task whose line went ahead is not written again at its
    /// turn; the answers of tasks written ahead and then skipped (a lost lease) are read and
    /// dropped. Bodies must not contain `\n` (the caller refuses such a task; none is written
    /// ahead past one). Not cancel safe as far as the protocol goes: a cancelled call leaves
    /// the stream out of step, so the caller stops the process.
    pub(crate) async fn run_ahead(&mut self, task: Line<'_>, next: &[Line<'_>]) -> StreamResult {
        debug_assert!(!task.body.contains(&b'\n'));
        // Answers owed to tasks written ahead that are not to run here after all.
        let written = !task.key.is_empty() && self.ahead.iter().any(|(key, _)| key == task.key);
        while let Some((key, _)) = self.ahead.front() {
            if written && key == task.key {
                break;
            }
            self.forget_front();
            if self.read_answer().await.is_none() {
                return StreamResult::Exited;
            }
        }
        let mut lines = Vec::new();
        if written {
            self.forget_front();
        } else {
            lines.reserve(task.body.len() + 1);
            lines.extend_from_slice(task.body);
            lines.push(b'\n');
        }
        // The next tasks, when those already ahead are the first of them.
        let queued = self.ahead.len();
        let in_step =
            next.len() >= queued && self.ahead.iter().zip(next).all(|((key, _), line)| key == line.key);
        if in_step {
            for line in &next[queued..] {
                let len = line.body.len() + 1;
                if line.key.is_empty() || line.body.contains(&b'\n') || self.ahead_bytes + len > WRITE_AHEAD {
                    break;
                }
                lines.extend_from_slice(line.body);
                lines.push(b'\n');
                self.ahead.push_back((line.key.to_string(), len));
                self.ahead_bytes += len;
            }
        }
        if !lines.is_empty() {
            let Some(stdin) = self.stdin.as_mut() else { return StreamResult::Exited };
            // EPIPE: the process exited or closed its stdin.
            if stdin.write_all(&lines).await.is_err() || stdin.flush().await.is_err() {
                self.stdin = None;
                return StreamResult::Exited;
            }
        }
        match self.read_answer().await {
            Some(answer) if answer.trim().eq_ignore_ascii_case("ok") => StreamResult::Ok,
            Some(answer) => StreamResult::Failed(answer),
            None => StreamResult::Exited,
        }
    }

    /// How many tasks are written ahead and not answered.
    #[cfg(test)]
    fn written_ahead(&self) -> usize {
        self.ahead.len()
    }

    /// Whether the next run should be given the tasks that follow it: few are written ahead.
    pub(crate) fn wants_ahead(&self) -> bool {
        self.ahead.len() <= AHEAD_CHUNK / 4
    }

    fn forget_front(&mut self) {
        if let Some((_, len)) = self.ahead.pop_front() {
            self.ahead_bytes -= len;
        }
    }

    /// The next line of stdout (at most [`MAX_ANSWER`] bytes of it kept, decoded lossily,
    /// without its `\n` or `\r\n`); `None` at EOF before any byte of it. A last line without a
    /// newline counts.
    async fn read_answer(&mut self) -> Option<String> {
        let mut answer = Vec::new();
        let mut any = false;
        loop {
            let buf = match self.stdout.fill_buf().await {
                Ok(buf) => buf,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => &[],
            };
            if buf.is_empty() {
                // EOF (or a broken pipe).
                if !any {
                    return None;
                }
                break;
            }
            any = true;
            let (chunk, done) = match buf.iter().position(|&b| b == b'\n') {
                Some(i) => (&buf[..i], i + 1),
                None => (buf, buf.len()),
            };
            let room = MAX_ANSWER.saturating_sub(answer.len());
            answer.extend_from_slice(&chunk[..chunk.len().min(room)]);
            let complete = done > chunk.len();
            self.stdout.consume(done);
            if complete {
                break;
            }
        }
        if answer.last() == Some(&b'\r') {
            answer.pop();
        }
        Some(String::from_utf8_lossy(&answer).into_owned())
    }

    /// Closes stdin (the process reads EOF: the stream is over) and waits up to `grace` for the
    /// process to exit, then kills its group. Returns the exit; a kill reports
    /// [`crate::process::ExitReason::Killed`]. Returns at once if the process already exited.
    pub(crate) async fn close(&mut self, grace: Duration) -> Exit {
        self.stdin = None;
        match tokio::time::timeout(grace, self.process.wait()).await {
            Ok(exit) => exit,
            Err(_) => {
                self.process.log().append(
                    format!(
                        "drover: the stream process did not exit within {}s of its stdin closing; killing it\n",
                        grace.as_secs_f64()
                    )
                    .as_bytes(),
                );
                self.process.kill();
                self.process.wait().await
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::process::ExitReason;

    async fn stream(script: &str) -> StreamProcess {
        let spec = ProcessSpec::new("sh", ["-c", script]);
        StreamProcess::start(&Supervisor::new(), &spec, Arc::new(LogBuffer::default())).await.expect("start")
    }

    async fn bounded<F: std::future::Future>(fut: F) -> F::Output {
        tokio::time::timeout(Duration::from_secs(10), fut).await.expect("timed out")
    }

    #[tokio::test]
    async fn answers_map_to_results() {
        let mut s = stream(
            r#"while IFS= read -r t; do
                 case $t in
                   poison) echo "cannot digest $t" ;;
                   shout) echo '  OK  ' ;;
                   crlf) printf 'ok\r\n' ;;
                   *) echo ok ;;
                 esac
               done"#,
        )
        .await;
        assert_eq!(bounded(s.run(b"apple")).await, StreamResult::Ok);
        assert_eq!(bounded(s.run(b"shout")).await, StreamResult::Ok);
        assert_eq!(bounded(s.run(b"crlf")).await, StreamResult::Ok);
        assert_eq!(bounded(s.run(b"poison")).await, StreamResult::Failed("cannot digest poison".into()));
        assert_eq!(bounded(s.run(b"")).await, StreamResult::Ok);
        assert_eq!(bounded(s.run(b"pear")).await, StreamResult::Ok);
        let exit = bounded(s.close(Duration::from_secs(5))).await;
        assert_eq!(exit.reason, ExitReason::Completed);
        assert_eq!(bounded(s.run(b"late")).await, StreamResult::Exited, "closed");
    }

    /// The lines the process read, from its log.
    fn seen(s: &StreamProcess) -> Vec<String> {
        let (log, _) = s.process().log().snapshot();
        String::from_utf8_lossy(&log)
            .lines()
            .filter_map(|l| l.strip_prefix("got "))
            .map(str::to_string)
            .collect()
    }

    fn line<'a>(key: &'a str, body: &'a str) -> Line<'a> {
        Line { key, body: body.as_bytes() }
    }

    #[tokio::test]
    async fn lines_go_ahead_of_their_turn_and_answers_stay_in_step() {
        let mut s = stream(
            r#"while IFS= read -r t; do
                 echo "got $t" >&2
                 case $t in bad*) echo "no $t" ;; *) echo ok ;; esac
               done"#,
        )
        .await;
        let (a, b, c, d, e) =
            (line("1", "a"), line("2", "b"), line("3", "bad-c"), line("4", "d"), line("5", "e"));
        assert_eq!(bounded(s.run_ahead(a, &[b, c])).await, StreamResult::Ok);
        assert_eq!(s.written_ahead(), 2, "b and c went with a");
        // b was written already; d goes ahead behind c.
        assert_eq!(bounded(s.run_ahead(b, &[c, d])).await, StreamResult::Ok);
        assert_eq!(s.written_ahead(), 2);
        // c is skipped (its lease was lost): its answer is read and dropped, d gets its own.
        assert_eq!(bounded(s.run_ahead(d, &[e])).await, StreamResult::Ok);
        assert_eq!(s.written_ahead(), 1, "e went with d");
        // A task that was not written ahead drops what was (e), then goes on its own.
        assert_eq!(
            bounded(s.run_ahead(line("6", "bad-f"), &[])).await,
            StreamResult::Failed("no bad-f".into())
        );
        assert_eq!(s.written_ahead(), 0);
        assert_eq!(bounded(s.run(b"g")).await, StreamResult::Ok);
        bounded(s.close(Duration::from_secs(5))).await;
        // Every line was written once, in order.
        assert_eq!(seen(&s), ["a", "b", "bad-c", "d", "e", "bad-f", "g"]);
    }

    #[tokio::test]
    async fn lines_ahead_stay_within_a_page_and_stop_at_a_body_that_cannot_be_framed() {
        let mut s = stream(r#"while IFS= read -r t; do echo "got ${#t}" >&2; echo ok; done"#).await;
        let big = "x".repeat(3_000);
        let (one, two, three) = (line("1", "a"), line("2", &big), line("3", &big));
        assert_eq!(bounded(s.run_ahead(one, &[two, three])).await, StreamResult::Ok);
        assert_eq!(s.written_ahead(), 1, "two pages' worth would not fit");
        assert_eq!(bounded(s.run_ahead(two, &[three])).await, StreamResult::Ok);
        assert_eq!(bounded(s.run_ahead(three, &[])).await, StreamResult::Ok);
        let (four, nl, five) = (line("4", "d"), line("5", "two\nlines"), line("6", "e"));
        assert_eq!(bounded(s.run_ahead(four, &[nl, five])).await, StreamResult::Ok);
        assert_eq!(s.written_ahead(), 0, "nothing goes ahead past a body with a newline");
        bounded(s.close(Duration::from_secs(5))).await;
        assert_eq!(seen(&s), ["1", "3000", "3000", "1"]);
    }

    #[tokio::test]
    async fn an_exit_with_a_task_in_flight_is_exited() {
        let mut s = stream("read t; echo ok; read t; exit 7").await;
        assert_eq!(bounded(s.run(b"one")).await, StreamResult::Ok);
        assert_eq!(bounded(s.run(b"two")).await, StreamResult::Exited);
        assert_eq!(bounded(s.process().wait()).await.code, 7);
        // Writing to a process that is gone does not hang either.
        assert_eq!(bounded(s.run(b"three")).await, StreamResult::Exited);
    }

    #[tokio::test]
    async fn closing_stdout_is_exited() {
        let mut s = stream("exec >&-; read t; sleep 60").await;
        assert_eq!(bounded(s.run(b"one")).await, StreamResult::Exited);
        let exit = bounded(s.close(Duration::from_millis(200))).await;
        assert_eq!(exit.reason, ExitReason::Killed, "killed after the grace");
        let (log, _) = s.process().log().snapshot();
        assert!(String::from_utf8_lossy(&log).contains("did not exit within 0.2s"), "{log:?}");
    }

    #[tokio::test]
    async fn a_long_answer_is_truncated_and_keeps_the_stream_in_step() {
        let mut s =
            stream("read t; head -c 100000 /dev/zero | tr '\\0' x; echo; read t; echo ok; read t; printf ok")
                .await;
        match bounded(s.run(b"one")).await {
            StreamResult::Failed(line) => assert_eq!(line, "x".repeat(MAX_ANSWER)),
            other => panic!("{other:?}"),
        }
        assert_eq!(bounded(s.run(b"two")).await, StreamResult::Ok);
        // A last answer without a newline counts.
        assert_eq!(bounded(s.run(b"three")).await, StreamResult::Ok);
    }
}
