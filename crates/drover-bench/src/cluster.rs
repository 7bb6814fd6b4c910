//! Starts and stops the real `drover coordinator` and `drover worker` processes in a private
//! temporary directory, and removes it afterwards.
//!
//! Only the two child processes started here are ever signalled, by their own pid.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

/// A coordinator and one worker, both real `drover` processes.
pub(crate) struct Cluster {
    /// `http://127.0.0.1:PORT`.
    pub(crate) url: String,
    /// The private temporary directory (store, logs).
    pub(crate) dir: PathBuf,
    keep_dir: bool,
    stopped: bool,
    coordinator: Option<Child>,
    worker: Option<Child>,
    drain: Option<JoinHandle<()>>,
}

impl Cluster {
    /// Starts `drover coordinator` on an ephemeral port, reads the port from its log, then
    /// starts `drover worker` with `slots` slots. Does not wait for the worker to register.
    pub(crate) fn start(
        drover: &Path,
        slots: u32,
        log_filter: &str,
        keep_dir: bool,
    ) -> anyhow::Result<Cluster> {
        let dir = unique_temp_dir()?;
        // From here on, dropping `cluster` stops whatever was started and removes `dir`.
        let mut cluster = Cluster {
            url: String::new(),
            dir,
            keep_dir,
            stopped: false,
            coordinator: None,
            worker: None,
            drain: None,
        };

        let coordinator_log = cluster.dir.join("coordinator.log");
        let mut coordinator = Command::new(drover)
            .args(["coordinator", "--listen", "127.0.0.1:0", "--data"])
            .arg(cluster.dir.join("data"))
            .env("DROVER_LOG", log_filter)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot start {} coordinator", drover.display()))?;
        let stderr = coordinator.stderr.take().context("the coordinator's stderr is not piped")?;
        cluster.coordinator = Some(coordinator);

        // Copy the coordinator's stderr to a file for as long as it runs, so the pipe never
        // fills; hand the listen address over as soon as it appears.
        let mut log = File::create(&coordinator_log)
            .with_context(|| format!("cannot create {}", coordinator_log.display()))?;
        let (tx, rx) = mpsc::channel::<SocketAddr>();
        cluster.drain = Some(std::thread::spawn(move || {
            let mut tx = Some(tx);
            let mut reader = BufReader::new(stderr);
            let mut line = Vec::new();
            loop {
                line.clear();
                match reader.read_until(b'\n', &mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
                let _ = log.write_all(&line);
                if tx.is_some()
                    && let Some(addr) = parse_addr(&String::from_utf8_lossy(&line))
                    && let Some(tx) = tx.take()
                {
                    let _ = tx.send(addr);
                }
            }
            let _ = log.flush();
        }));
        let addr = match rx.recv_timeout(Duration::from_secs(10)) {
            Ok(addr) => addr,
            Err(_) => bail!(
                "the coordinator did not log `Coordinator listening addr=…` within 10 s\n{}",
                tail(&coordinator_log)
            ),
        };
        cluster.url = format!("http://{addr}");

        let worker_log_path = cluster.dir.join("worker.log");
        let worker_log = File::create(&worker_log_path)
            .with_context(|| format!("cannot create {}", worker_log_path.display()))?;
        let worker = Command::new(drover)
            .args(["worker", "--coordinator", &cluster.url, "--name", "bench-1", "--slots"])
            .arg(slots.to_string())
            .env("DROVER_LOG", log_filter)
            .stdin(Stdio::null())
            .stdout(worker_log.try_clone()?)
            .stderr(worker_log)
            .spawn()
            .with_context(|| format!("cannot start {} worker", drover.display()))?;
        cluster.worker = Some(worker);
        Ok(cluster)
    }

    /// The pids of the coordinator and the worker, while they run.
    pub(crate) fn pids(&self) -> (Option<u32>, Option<u32>) {
        (self.coordinator.as_ref().map(Child::id), self.worker.as_ref().map(Child::id))
    }

    /// Fails when the coordinator or the worker has exited.
    pub(crate) fn check_alive(&mut self) -> anyhow::Result<()> {
        for (what, child, log) in [
            ("coordinator", &mut self.coordinator, "coordinator.log"),
            ("worker", &mut self.worker, "worker.log"),
        ] {
            if let Some(child) = child
                && let Some(status) = child.try_wait()?
            {
                bail!("the {what} exited ({status})\n{}", tail(&self.dir.join(log)));
            }
        }
        Ok(())
    }

    /// Stops the worker, then the coordinator (SIGTERM, then SIGKILL after 10 s), and removes
    /// the temporary directory unless it is to be kept. Idempotent.
    pub(crate) fn shutdown(&mut self) {
        if std::mem::replace(&mut self.stopped, true) {
            return;
        }
        if let Some(mut worker) = self.worker.take() {
            terminate(&mut worker);
        }
        if let Some(mut coordinator) = self.coordinator.take() {
            terminate(&mut coordinator);
        }
        if let Some(drain) = self.drain.take() {
            let _ = drain.join();
        }
        if self.keep_dir {
            eprintln!("drover-bench: kept {}", self.dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// SIGTERM to this child only, a bounded wait, then SIGKILL.
fn terminate(child: &mut Child) {
    if matches!(child.try_wait(), Ok(Some(_))) {
        return;
    }
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match child.try_wait() {
            Ok(Some(_)) => return,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return;
            }
        }
    }
}

/// The address in the coordinator's `Coordinator listening addr=127.0.0.1:PORT …` line.
fn parse_addr(line: &str) -> Option<SocketAddr> {
    let rest = &line[line.find("addr=")? + "addr=".len()..];
    let token: String = rest.chars().take_while(|c| !c.is_whitespace() && *c != '\x1b').collect();
    token.trim_matches('"').parse().ok()
}

/// `$TMPDIR/drover-bench-<pid>-<nanos>`, created empty.
fn unique_temp_dir() -> anyhow::Result<PathBuf> {
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos();
    let dir = std::env::temp_dir().join(format!("drover-bench-{}-{nanos}", std::process::id()));
    std::fs::create_dir(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(dir)
}

/// The last lines of a log file, for error messages.
fn tail(path: &Path) -> String {
    let mut text = String::new();
    if let Ok(mut f) = File::open(path) {
        let mut bytes = Vec::new();
        let _ = f.read_to_end(&mut bytes);
        text = String::from_utf8_lossy(&bytes).into_owned();
    }
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(20);
    format!("--- last lines of {} ---\n{}", path.display(), lines[start..].join("\n"))
}

#[cfg(test)]
mod tests {
    use super::parse_addr;

    #[test]
    fn parses_the_listen_line() {
        let line = "2026-01-01T00:00:00.000000Z  INFO drover_coordinator: Coordinator listening \
                    addr=127.0.0.1:43121 data=Some(\"/tmp/x\")\n";
        assert_eq!(parse_addr(line), Some("127.0.0.1:43121".parse().unwrap()));
        assert_eq!(parse_addr("no address here"), None);
    }
}
