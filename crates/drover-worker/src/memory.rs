//! Giving memory back while the agent is idle.
//!
//! An agent spends most of its life waiting for pods. Once no pod has run for a while
//! ([`crate::AgentConfig::idle_memory_release`], 2 s for `drover worker`), after its start and
//! after every burst of pods, [`release_when_idle`] gives back what that work left resident:
//! 1. The clean file-backed pages: the code and read-only data of the binary and its libraries
//!    that the start or the burst touched once. They are dropped from this process's page tables
//!    (`madvise(MADV_DONTNEED)`); they stay in the page cache, and whatever the agent runs next
//!    faults them in again.
//! 2. The allocator's free pages: `mi_collect(true)` frees the pages of the calling thread's
//!    mimalloc heap that hold no live block, and purges (decommits) the free parts of mimalloc's
//!    arenas at once instead of after its delay. mimalloc is the global allocator of the
//!    `drover` binary; in a program that uses another one, this only tidies mimalloc's own,
//!    unused, state.
//!
//! It then logs `Released idle memory` with the resident set before and after.
//!
//! # Invariant: only clean read-only private file mappings are dropped
//! A mapping is dropped only when `/proc/self/smaps` shows it readable and not writable, private,
//! backed by a file (an absolute path and an inode), not locked, and holding no anonymous page,
//! resident or swapped out.
//! Every page of such a mapping is then a clean copy of its file: dropping it is what the kernel
//! itself does to such pages under memory pressure, and the next access reads the same bytes
//! back. A writable mapping, an anonymous one (the heap, the stacks) or a file mapping with a
//! private copy of a page (written, then made read-only: the relocated `RELRO` data) would lose
//! what was written: never touched. The choice is made by the pure [`droppable`], tested on
//! `smaps` texts.
//!
//! Limit: the check and the `madvise` are two steps. A mapping would have to be made writable,
//! written and made read-only again between them to be harmed: only a dynamic loader relocating
//! text (`TEXTREL`) of a library loaded at that very moment does that. The agent loads no library
//! after its start.

use std::ops::Range;
use std::time::Duration;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

// The allocator's C library, which defines `mi_collect` (the `mimalloc` crate the `drover`
// binary uses as its global allocator is built on it); named so that it is linked.
use libmimalloc_sys as _;

#[allow(unsafe_code)]
// SAFETY: the declaration matches mimalloc's `void mi_collect(bool force)` (mimalloc.h), which
// libmimalloc-sys compiles and links. It has no precondition: it may be called from any thread
// at any time, and only frees memory that holds no live allocation.
unsafe extern "C" {
    safe fn mi_collect(force: bool);
}

/// What `/proc/self/smaps` says of one mapping, as far as the release needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Mapping {
    pub(crate) range: Range<usize>,
    /// `rwxp` or `r--s`, …
    pub(crate) perms: String,
    pub(crate) inode: u64,
    /// The file, `[stack]`, `[vdso]`, … or empty (anonymous).
    pub(crate) path: String,
    /// `Rss:`, KiB.
    pub(crate) rss_kib: u64,
    /// `Anonymous:`, KiB: the resident pages that are private copies (`None` when the line is
    /// missing).
    pub(crate) anonymous_kib: Option<u64>,
    /// `Swap:`, KiB: private copies swapped out (`None` when the line is missing).
    pub(crate) swap_kib: Option<u64>,
    /// `Locked:` is not zero, or `VmFlags:` has `lo` (mlocked) or `ht` (hugetlb).
    pub(crate) pinned: bool,
}

impl Mapping {
    /// Whether every resident page of the mapping is a clean copy of its file, so that dropping
    /// it loses nothing (see the module's invariant), and there is something to drop.
    pub(crate) fn droppable(&self) -> bool {
        let perms = self.perms.as_bytes();
        let read_only_private = perms.len() == 4 && perms[0] == b'r' && perms[1] == b'-' && perms[3] == b'p';
        read_only_private
            && self.inode != 0
            && self.path.starts_with('/')
            && self.anonymous_kib == Some(0)
            && self.swap_kib == Some(0)
            && !self.pinned
            && self.rss_kib > 0
            && self.range.start < self.range.end
    }
}

/// The header line of a mapping: `start-end perms offset dev inode [path]`.
fn parse_header(line: &str) -> Option<Mapping> {
    let mut rest = line;
    let mut field = || {
        let trimmed = rest.trim_start();
        let end = trimmed.find(char::is_whitespace).unwrap_or(trimmed.len());
        let (token, tail) = trimmed.split_at(end);
        rest = tail;
        (!token.is_empty()).then_some(token)
    };
    let (start, end) = field()?.split_once('-')?;
    let start = usize::from_str_radix(start, 16).ok()?;
    let end = usize::from_str_radix(end, 16).ok()?;
    let perms = field()?;
    if perms.len() != 4 {
        return None;
    }
    let _offset = field()?;
    let dev = field()?;
    if !dev.contains(':') {
        return None;
    }
    let inode = field()?.parse().ok()?;
    Some(Mapping {
        range: start..end,
        perms: perms.to_string(),
        inode,
        path: rest.trim().to_string(),
        rss_kib: 0,
        anonymous_kib: None,
        swap_kib: None,
        pinned: false,
    })
}

/// `Key:   123 kB` → 123.
fn kib(value: &str) -> Option<u64> {
    let mut parts = value.split_whitespace();
    let n = parts.next()?.parse().ok()?;
    (parts.next()? == "kB").then_some(n)
}

/// Every mapping of a `/proc/PID/smaps` text, in order.
pub(crate) fn mappings(smaps: &str) -> Vec<Mapping> {
    let mut out: Vec<Mapping> = Vec::new();
    // Whether the field lines that follow belong to the last mapping of `out`: not after a
    // header line that did not parse (they would describe another mapping).
    let mut current = false;
    for line in smaps.lines() {
        let key_value = line.split_once(':').filter(|(key, _)| !key.is_empty() && !key.contains([' ', '-']));
        let Some((key, value)) = key_value else {
            let mapping = parse_header(line);
            current = mapping.is_some();
            out.extend(mapping);
            continue;
        };
        let Some(m) = out.last_mut().filter(|_| current) else { continue };
        match key {
            "Rss" => m.rss_kib = kib(value).unwrap_or(0),
            "Anonymous" => m.anonymous_kib = kib(value),
            "Swap" => m.swap_kib = kib(value),
            "Locked" => m.pinned |= kib(value) != Some(0),
            "VmFlags" => m.pinned |= value.split_whitespace().any(|f| f == "lo" || f == "ht"),
            _ => {}
        }
    }
    out
}

/// The address ranges of a `/proc/self/smaps` text that may be dropped (see the invariant).
pub(crate) fn droppable(smaps: &str) -> Vec<Range<usize>> {
    mappings(smaps).into_iter().filter(Mapping::droppable).map(|m| m.range).collect()
}

/// A `Key:   123 kB` value of a `/proc/PID/status` text, in KiB.
pub(crate) fn status_kib(status: &str, key: &str) -> Option<u64> {
    status.lines().find_map(|line| {
        let (k, v) = line.split_once(':')?;
        if k == key { kib(v) } else { None }
    })
}

/// Drops the pages of one mapping `droppable` chose. False if the kernel refused.
#[allow(unsafe_code)]
fn drop_pages(range: &Range<usize>) -> bool {
    // SAFETY: `range` is a whole mapping of this process that `/proc/self/smaps` showed
    // read-only, private, file-backed, unlocked and without any private (anonymous) page,
    // resident or swapped out, and it was read just now. MADV_DONTNEED on it unmaps pages that are equal to their file's
    // contents; the next access faults the same bytes in again from the page cache. No memory
    // Rust code can write is affected, and what it can read is unchanged. Should the mapping
    // have been unmapped meanwhile, the call fails (ENOMEM) or acts on whatever replaced it
    // at the same address under the same rules, which this process did not do: the agent maps
    // no files after its start.
    unsafe {
        libc::madvise(range.start as *mut libc::c_void, range.end - range.start, libc::MADV_DONTNEED) == 0
    }
}

/// The resident set of this process, KiB: (`VmRSS`, `RssAnon`, `RssFile`).
fn resident() -> (Option<u64>, Option<u64>, Option<u64>) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    (status_kib(&status, "VmRSS"), status_kib(&status, "RssAnon"), status_kib(&status, "RssFile"))
}

/// Gives back the clean file pages and the allocator's free memory, then logs it.
pub(crate) fn release() {
    let (rss_before, anon_before, file_before) = resident();
    let (mut dropped, mut refused) = (0usize, 0usize);
    match std::fs::read_to_string("/proc/self/smaps") {
        Ok(smaps) => {
            for range in droppable(&smaps) {
                if drop_pages(&range) {
                    dropped += 1;
                } else {
                    refused += 1;
                }
            }
        }
        Err(err) => tracing::debug!(error = %err, "Cannot read /proc/self/smaps; keeping file pages"),
    }
    // Last, so that the smaps text just freed goes back too.
    mi_collect(true);
    let (rss_after, anon_after, file_after) = resident();
    tracing::info!(
        rss_before_kib = rss_before,
        rss_after_kib = rss_after,
        anon_before_kib = anon_before,
        anon_after_kib = anon_after,
        file_before_kib = file_before,
        file_after_kib = file_after,
        mappings = dropped,
        refused,
        "Released idle memory"
    );
}

/// Calls `release` each time the agent has been idle for `after`: once after its start, then
/// once after every burst of pods. `live` is the number of pods the agent runs, sent again at
/// every start and end of one. Returns when `stop` is cancelled or `live`'s sender is gone.
pub(crate) async fn release_when_idle(
    mut live: watch::Receiver<usize>,
    after: Duration,
    stop: CancellationToken,
    mut release: impl FnMut(),
) {
    loop {
        // Idle: no pod for `after`, with no pod starting or ending meanwhile.
        loop {
            let idle = *live.borrow_and_update() == 0;
            tokio::select! {
                _ = stop.cancelled() => return,
                changed = live.changed() => {
                    if changed.is_err() {
                        return;
                    }
                }
                _ = tokio::time::sleep(after), if idle => break,
            }
        }
        release();
        // Nothing more to give back until a pod starts or ends.
        tokio::select! {
            _ = stop.cancelled() => return,
            changed = live.changed() => {
                if changed.is_err() {
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An `smaps` text: the binary's text, its relocated RELRO data, its writable data, the
    /// heap, a library's read-only data, a locked mapping, a shared mapping, the stack, the vdso.
    const SMAPS: &str = "\
55d0c0a00000-55d0c1400000 r-xp 00200000 08:01 4194321                    /usr/local/bin/drover
Size:              10240 kB
Rss:                4096 kB
Anonymous:             0 kB
Swap:                  0 kB
Locked:                0 kB
VmFlags: rd ex mr mw me sd
55d0c1400000-55d0c1500000 r--p 00c00000 08:01 4194321                    /usr/local/bin/drover
Size:               1024 kB
Rss:                 512 kB
Anonymous:           512 kB
Swap:                  0 kB
Locked:                0 kB
VmFlags: rd mr mw me ac sd
55d0c1500000-55d0c1510000 rw-p 00d00000 08:01 4194321                    /usr/local/bin/drover
Rss:                  64 kB
Anonymous:            32 kB
Swap:                  0 kB
Locked:                0 kB
VmFlags: rd wr mr mw me ac sd
55d0c2000000-55d0c2100000 rw-p 00000000 00:00 0                          [heap]
Rss:                 300 kB
Anonymous:           300 kB
Swap:                  0 kB
Locked:                0 kB
VmFlags: rd wr mr mw me ac sd
7f0000000000-7f0000028000 r--p 00000000 08:01 1311                       /usr/lib/x86_64-linux-gnu/libc.so.6
Rss:                 160 kB
Anonymous:             0 kB
Swap:                  0 kB
Locked:                0 kB
VmFlags: rd mr mw me sd
7f0000100000-7f0000101000 r--p 00000000 08:01 1312                       /opt/locked file
Rss:                   4 kB
Anonymous:             0 kB
Swap:                  0 kB
Locked:                4 kB
VmFlags: rd mr mw me lo sd
7f0000200000-7f0000201000 r--s 00000000 08:01 1313                       /dev/shm/shared
Rss:                   4 kB
Anonymous:             0 kB
Swap:                  0 kB
Locked:                0 kB
VmFlags: rd sh mr mw me ms sd
7f0000300000-7f0000301000 r--p 00000000 08:01 1314                       /opt/never touched
Rss:                   0 kB
Anonymous:             0 kB
Swap:                  0 kB
Locked:                0 kB
7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0                          [stack]
Rss:                  20 kB
Anonymous:            20 kB
Swap:                  0 kB
Locked:                0 kB
7ffd00100000-7ffd00102000 r-xp 00000000 00:00 0                          [vdso]
Rss:                   4 kB
Anonymous:             0 kB
Swap:                  0 kB
Locked:                0 kB
VmFlags: rd ex mr mw me de sd
";

    #[test]
    fn only_clean_read_only_private_file_mappings_are_droppable() {
        assert_eq!(
            droppable(SMAPS),
            vec![0x55d0c0a00000..0x55d0c1400000, 0x7f0000000000..0x7f0000028000],
            "the binary's text and libc's read-only data; not RELRO with private copies, \
             writable data, the heap, locked, shared or untouched mappings, the stack, the vdso"
        );
    }

    #[test]
    fn mappings_are_parsed_with_their_paths_and_fields() {
        let all = mappings(SMAPS);
        assert_eq!(all.len(), 10);
        assert_eq!(
            all[1],
            Mapping {
                range: 0x55d0c1400000..0x55d0c1500000,
                perms: "r--p".into(),
                inode: 4194321,
                path: "/usr/local/bin/drover".into(),
                rss_kib: 512,
                anonymous_kib: Some(512),
                swap_kib: Some(0),
                pinned: false,
            }
        );
        assert_eq!(all[3].path, "[heap]");
        assert_eq!(all[3].inode, 0);
        assert_eq!(all[5].path, "/opt/locked file", "a path with a space");
        assert!(all[5].pinned);
    }

    /// Each rule on its own: one mapping, changed in one way from a droppable one.
    #[test]
    fn each_rule_of_the_selection() {
        let base = Mapping {
            range: 0x1000..0x3000,
            perms: "r--p".into(),
            inode: 7,
            path: "/usr/lib/libx.so".into(),
            rss_kib: 8,
            anonymous_kib: Some(0),
            swap_kib: Some(0),
            pinned: false,
        };
        type Case = (&'static str, fn(&mut Mapping), bool);
        let cases: &[Case] = &[
            ("read-only private file data", |_| {}, true),
            ("read-only private file code", |m| m.perms = "r-xp".into(), true),
            ("writable", |m| m.perms = "rw-p".into(), false),
            ("writable code", |m| m.perms = "rwxp".into(), false),
            ("shared", |m| m.perms = "r--s".into(), false),
            ("unreadable (a guard)", |m| m.perms = "---p".into(), false),
            ("anonymous: no inode", |m| m.inode = 0, false),
            ("a pseudo-path", |m| m.path = "[vvar]".into(), false),
            ("no path", |m| m.path = String::new(), false),
            ("holds private copies", |m| m.anonymous_kib = Some(4), false),
            ("Anonymous line missing", |m| m.anonymous_kib = None, false),
            ("private copies swapped out", |m| m.swap_kib = Some(4), false),
            ("Swap line missing", |m| m.swap_kib = None, false),
            ("locked", |m| m.pinned = true, false),
            ("nothing resident", |m| m.rss_kib = 0, false),
            ("empty range", |m| m.range = 0x1000..0x1000, false),
            ("malformed perms", |m| m.perms = "r-p".into(), false),
        ];
        for (name, change, want) in cases {
            let mut m = base.clone();
            change(&mut m);
            assert_eq!(m.droppable(), *want, "{name}");
        }
    }

    #[test]
    fn malformed_headers_are_skipped() {
        const FIELDS: &str = "Rss: 4 kB\nAnonymous: 0 kB\nSwap: 0 kB\n";
        let cases: &[(&str, &str)] = &[
            ("no range", "r--p 00000000 08:01 7 /x\n"),
            ("bad hex", "zz-10 r--p 00000000 08:01 7 /x\n"),
            ("no inode", "1000-2000 r--p 00000000 08:01\n"),
            ("bad device", "1000-2000 r--p 00000000 0801 7 /x\n"),
            ("fields only", ""),
        ];
        for (name, header) in cases {
            assert_eq!(droppable(&format!("{header}{FIELDS}")), Vec::<Range<usize>>::new(), "{name}");
        }
        let bad_unit = "1000-2000 r--p 00000000 08:01 7 /x\nRss: 4 kB\nAnonymous: 0 MB\nSwap: 0 kB\n";
        assert_eq!(droppable(bad_unit), Vec::<Range<usize>>::new(), "bad unit");
        let good = format!("1000-2000 r--p 00000000 08:01 7 /x\n{FIELDS}");
        assert_eq!(droppable(&good), vec![0x1000..0x2000]);
        // The fields after a header that does not parse are not the previous mapping's: here
        // they would have cleared its private copies.
        let relro = "1000-2000 r--p 00000000 08:01 7 /x\nRss: 4 kB\nAnonymous: 4 kB\nSwap: 0 kB\n";
        let text = format!("{relro}zz-10 r--p 00000000 08:01 7 /y\n{FIELDS}");
        assert_eq!(mappings(&text).len(), 1);
        assert_eq!(droppable(&text), Vec::<Range<usize>>::new());
    }

    #[test]
    fn status_values() {
        let status =
            "Name:\tdrover\nVmRSS:\t   11264 kB\nRssAnon:\t    2048 kB\nRssFile:\t 9216 kB\nThreads:\t7\n";
        assert_eq!(status_kib(status, "VmRSS"), Some(11264));
        assert_eq!(status_kib(status, "RssAnon"), Some(2048));
        assert_eq!(status_kib(status, "RssFile"), Some(9216));
        assert_eq!(status_kib(status, "Threads"), None, "no unit");
        assert_eq!(status_kib(status, "VmRS"), None);
    }

    /// This test process's own smaps: its executable's text is among the droppable ranges, and
    /// no writable or anonymous mapping is.
    #[test]
    fn the_own_smaps_offers_the_executable_and_nothing_writable() {
        let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
        let all = mappings(&smaps);
        assert!(all.len() > 5, "{smaps}");
        let exe = std::fs::read_link("/proc/self/exe").unwrap();
        let chosen: Vec<&Mapping> = all.iter().filter(|m| m.droppable()).collect();
        assert!(chosen.iter().any(|m| m.path == exe.to_string_lossy() && m.perms == "r-xp"), "{chosen:#?}");
        for m in chosen {
            assert!(!m.perms.contains('w') && m.inode != 0 && m.anonymous_kib == Some(0), "{m:?}");
        }
    }

    /// Dropping the chosen ranges of this very process leaves it working: code runs and
    /// read-only data reads the same afterwards.
    #[test]
    fn releasing_keeps_the_process_intact() {
        static TABLE: [u64; 4] = [3, 1, 4, 1];
        let before: u64 = TABLE.iter().sum();
        release();
        release();
        assert_eq!(TABLE.iter().sum::<u64>(), before);
        assert_eq!(format!("{:?}", TABLE), "[3, 1, 4, 1]");
    }

    /// Waits up to 5 s for the next release.
    async fn next(rx: &mut tokio::sync::mpsc::UnboundedReceiver<()>) {
        tokio::time::timeout(Duration::from_secs(5), rx.recv()).await.expect("a release").unwrap();
    }

    #[tokio::test]
    async fn releases_after_start_and_after_each_burst_only_once_idle() {
        let (live, rx) = watch::channel(0usize);
        let stop = CancellationToken::new();
        let (tx, mut releases) = tokio::sync::mpsc::unbounded_channel();
        let after = Duration::from_millis(300);
        let task = tokio::spawn(release_when_idle(rx, after, stop.clone(), move || {
            let _ = tx.send(());
        }));
        // After the start.
        next(&mut releases).await;
        // Idle on: no second release.
        tokio::time::sleep(after * 3).await;
        assert!(releases.try_recv().is_err(), "released twice without a pod in between");
        // A pod runs longer than `after`: no release while it runs.
        live.send_replace(1);
        tokio::time::sleep(after * 3).await;
        assert!(releases.try_recv().is_err(), "released while a pod ran");
        // It ends: one release, `after` later.
        let ended = tokio::time::Instant::now();
        live.send_replace(0);
        next(&mut releases).await;
        assert!(ended.elapsed() >= after);
        // Pods ending and starting again within `after` keep it from releasing.
        for _ in 0..5 {
            live.send_replace(1);
            live.send_replace(0);
            tokio::time::sleep(Duration::from_millis(10)).await;
            assert!(releases.try_recv().is_err(), "released within a burst");
        }
        next(&mut releases).await;
        stop.cancel();
        tokio::time::timeout(Duration::from_secs(5), task).await.unwrap().unwrap();
    }
}
