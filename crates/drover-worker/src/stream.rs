//! The `Stream` queue handler's process: one long-lived process per pod that reads one task per
//! line on stdin and answers one line per task on stdout (the protocol is described in
//! [`crate::tasks`]).

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

/// A running `Stream` handler process.
pub(crate) struct StreamProcess {
    process: RunningProcess,
    /// `None` once closed.
    stdin: Option<pipe::Sender>,
    stdout: BufReader<pipe::Receiver>,
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
        Ok(StreamProcess { process, stdin: Some(stdin), stdout: BufReader::new(stdout) })
    }

    /// The process, for its start time, exit and termination.
    pub(crate) fn process(&self) -> &RunningProcess {
        &self.process
    }

    /// Sends `body` as one line and reads the answer. The body must not contain `\n` (the
    /// caller refuses such tasks). Not cancel safe as far as the protocol goes: a cancelled
    /// call leaves the stream out of step, so the caller stops the process.
    pub(crate) async fn run(&mut self, body: &[u8]) -> StreamResult {
        debug_assert!(!body.contains(&b'\n'));
        let Some(stdin) = self.stdin.as_mut() else { return StreamResult::Exited };
        let mut line = Vec::with_capacity(body.len() + 1);
        line.extend_from_slice(body);
        line.push(b'\n');
        // EPIPE: the process exited or closed its stdin.
        if stdin.write_all(&line).await.is_err() || stdin.flush().await.is_err() {
            return StreamResult::Exited;
        }
        match self.read_answer().await {
            Some(answer) if answer.trim().eq_ignore_ascii_case("ok") => StreamResult::Ok,
            Some(answer) => StreamResult::Failed(answer),
            None => StreamResult::Exited,
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
