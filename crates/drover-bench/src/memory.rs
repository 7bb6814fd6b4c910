//! The worker's memory, read from `/proc/<pid>/status`: idle after its start, right after a run
//! of pods, and settled (idle again for a while, so that it gave memory back).

/// One reading of a process's memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Reading {
    /// `VmRSS`: the resident set, KiB.
    pub(crate) rss_kib: u64,
    /// `RssAnon`: its anonymous part (heap, stacks), KiB.
    pub(crate) anon_kib: Option<u64>,
    /// `RssFile`: its file-backed part (code, read-only data), KiB.
    pub(crate) file_kib: Option<u64>,
    /// `Threads`.
    pub(crate) threads: Option<u64>,
}

impl Reading {
    /// The reading of process `pid`, while it runs.
    pub(crate) fn of(pid: u32) -> Option<Reading> {
        parse(&std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?)
    }
}

/// The value of `Key:` in a `/proc/<pid>/status` text: its number, and whether `kB` follows it.
fn field(status: &str, key: &str) -> Option<(u64, bool)> {
    status.lines().find_map(|line| {
        let (k, v) = line.split_once(':')?;
        if k != key {
            return None;
        }
        let mut parts = v.split_whitespace();
        let n = parts.next()?.parse().ok()?;
        Some((n, parts.next() == Some("kB")))
    })
}

/// A reading from a `/proc/<pid>/status` text; `None` without a `VmRSS: N kB` line.
fn parse(status: &str) -> Option<Reading> {
    let kib = |key| field(status, key).and_then(|(n, kb)| kb.then_some(n));
    Some(Reading {
        rss_kib: kib("VmRSS")?,
        anon_kib: kib("RssAnon"),
        file_kib: kib("RssFile"),
        threads: field(status, "Threads").and_then(|(n, kb)| (!kb).then_some(n)),
    })
}

#[cfg(test)]
mod tests {
    use super::{Reading, parse};

    #[test]
    fn status_texts() {
        let full = "Name:\tdrover\nVmRSS:\t   11264 kB\nRssAnon:\t    2048 kB\nRssFile:\t    9216 kB\n\
                    RssShmem:\t       0 kB\nThreads:\t7\n";
        let cases: &[(&str, &str, Option<Reading>)] = &[
            (
                "every field",
                full,
                Some(Reading {
                    rss_kib: 11264,
                    anon_kib: Some(2048),
                    file_kib: Some(9216),
                    threads: Some(7),
                }),
            ),
            (
                "VmRSS only",
                "VmRSS: 5 kB\n",
                Some(Reading { rss_kib: 5, anon_kib: None, file_kib: None, threads: None }),
            ),
            ("no VmRSS", "RssAnon:\t2048 kB\nThreads:\t7\n", None),
            ("VmRSS without a unit", "VmRSS:\t5\n", None),
            ("not a number", "VmRSS:\tx kB\n", None),
        ];
        for (name, text, want) in cases {
            assert_eq!(parse(text), *want, "{name}");
        }
    }

    #[test]
    fn reads_itself() {
        let me = Reading::of(std::process::id()).unwrap();
        assert!(me.rss_kib > 0 && me.anon_kib.is_some() && me.threads.is_some_and(|t| t >= 1), "{me:?}");
    }
}
