//! CPU time accounting from `/proc`, to tell a CPU-bound run from a latency-bound one.
//!
//! - `/proc/<pid>/stat`: `utime + stime` of a process, and `cutime + cstime` of its reaped
//!   children (the worker's pod processes; the benchmark's own `sh | xargs` baseline).
//! - `/proc/stat`: how busy the whole machine was over a window.
//!
//! Resolution is one clock tick (usually 10 ms), fine over whole rounds.

use std::sync::OnceLock;

/// CPU times of one process, in ticks.
#[derive(Debug, Clone, Copy, Default)]
struct ProcCpu {
    own: u64,
    children: u64,
}

fn proc_cpu(pid: &str) -> Option<ProcCpu> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces and parentheses; the fields follow the last ')'.
    let fields: Vec<u64> =
        text[text.rfind(')')? + 1..].split_whitespace().skip(1).map(|f| f.parse().unwrap_or(0)).collect();
    // After the state (field 3, skipped): utime is field 14, stime 15, cutime 16, cstime 17.
    let at = |field: usize| fields.get(field - 4).copied();
    Some(ProcCpu { own: at(14)? + at(15)?, children: at(16)? + at(17)? })
}

/// Busy and total ticks of all cores together.
#[derive(Debug, Clone, Copy, Default)]
struct SystemCpu {
    busy: u64,
    total: u64,
}

fn system_cpu() -> Option<SystemCpu> {
    let text = std::fs::read_to_string("/proc/stat").ok()?;
    let line = text.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<u64> = line.split_whitespace().skip(1).map(|f| f.parse().unwrap_or(0)).collect();
    // user nice system idle iowait irq softirq steal (guest time is already in user).
    let total: u64 = v.iter().take(8).sum();
    let idle = v.get(3)? + v.get(4).copied().unwrap_or(0);
    Some(SystemCpu { busy: total.saturating_sub(idle), total })
}

fn tick_ms() -> f64 {
    static TICK: OnceLock<f64> = OnceLock::new();
    *TICK.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse::<f64>().ok())
            .filter(|hz| *hz > 0.0)
            .map_or(10.0, |hz| 1000.0 / hz)
    })
}

/// CPU counters at one instant.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Snapshot {
    system: SystemCpu,
    bench: ProcCpu,
    coordinator: ProcCpu,
    worker: ProcCpu,
}

/// Reads the counters of the machine, this process, the coordinator and the worker.
pub(crate) fn snapshot(coordinator: Option<u32>, worker: Option<u32>) -> Option<Snapshot> {
    let of = |pid: Option<u32>| pid.and_then(|p| proc_cpu(&p.to_string())).unwrap_or_default();
    Some(Snapshot {
        system: system_cpu()?,
        bench: proc_cpu("self")?,
        coordinator: of(coordinator),
        worker: of(worker),
    })
}

/// CPU used between two snapshots, in milliseconds of CPU time.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Usage {
    /// The coordinator process.
    pub(crate) coordinator_ms: f64,
    /// The worker process itself.
    pub(crate) worker_ms: f64,
    /// The worker's reaped children: the pod processes.
    pub(crate) pods_ms: f64,
    /// This benchmark process (the client: HTTP, watch decoding).
    pub(crate) bench_ms: f64,
    /// This benchmark's reaped children (`sh`, `seq`, `xargs` and its `true`s).
    pub(crate) bench_children_ms: f64,
    /// Busy share of all cores over the window, 0..1.
    pub(crate) busy: f64,
    /// CPU time used by the whole machine over the window.
    pub(crate) machine_ms: f64,
}

impl Usage {
    pub(crate) fn between(a: &Snapshot, b: &Snapshot) -> Usage {
        let t = tick_ms();
        let d = |x: u64, y: u64| y.saturating_sub(x) as f64 * t;
        let total = b.system.total.saturating_sub(a.system.total);
        Usage {
            coordinator_ms: d(a.coordinator.own, b.coordinator.own),
            worker_ms: d(a.worker.own, b.worker.own),
            pods_ms: d(a.worker.children, b.worker.children),
            bench_ms: d(a.bench.own, b.bench.own),
            bench_children_ms: d(a.bench.children, b.bench.children),
            busy: if total == 0 {
                0.0
            } else {
                b.system.busy.saturating_sub(a.system.busy) as f64 / total as f64
            },
            machine_ms: d(a.system.busy, b.system.busy),
        }
    }

    /// CPU time of everything that is not part of the benchmark (other users of the machine):
    /// a large value means the figures were measured on a busy machine.
    pub(crate) fn others_ms(&self) -> f64 {
        let ours =
            self.coordinator_ms + self.worker_ms + self.pods_ms + self.bench_ms + self.bench_children_ms;
        (self.machine_ms - ours).max(0.0)
    }
}

/// The resident set size of process `pid` (`VmRSS` of `/proc/<pid>/status`), in KiB.
pub(crate) fn rss_kib(pid: u32) -> Option<u64> {
    parse_vm_rss(&std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?)
}

/// The `VmRSS:   1234 kB` line of a `/proc/<pid>/status` text, in KiB.
fn parse_vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let mut fields = line["VmRSS:".len()..].split_whitespace();
    let value = fields.next()?.parse().ok()?;
    (fields.next()? == "kB").then_some(value)
}

#[cfg(test)]
mod tests {
    use super::{parse_vm_rss, proc_cpu, rss_kib};

    #[test]
    fn vm_rss_lines() {
        let cases: &[(&str, &str, Option<u64>)] = &[
            (
                "usual",
                "Name:\tdrover\nVmPeak:\t  900 kB\nVmRSS:\t   12345 kB\nRssAnon:\t 1 kB\n",
                Some(12345),
            ),
            ("first line", "VmRSS: 7 kB", Some(7)),
            ("missing", "Name:\tdrover\nVmPeak:\t900 kB\n", None),
            ("no unit", "VmRSS:\t12\n", None),
            ("other unit", "VmRSS:\t12 MB\n", None),
            ("not a number", "VmRSS:\tx kB\n", None),
            ("similar key first", "VmRSSx: 5 kB\nVmRSS: 6 kB\n", Some(6)),
        ];
        for (name, text, want) in cases {
            assert_eq!(parse_vm_rss(text), *want, "{name}");
        }
    }

    #[test]
    fn reads_own_rss() {
        assert!(rss_kib(std::process::id()).is_some_and(|kib| kib > 0));
    }

    #[test]
    fn reads_own_stat() {
        let me = proc_cpu("self").unwrap();
        assert!(me.own < u64::MAX && me.children < u64::MAX);
    }
}
