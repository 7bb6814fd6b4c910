//! A pod's volumes and what its processes see of them.
//!
//! # Volumes
//!
//! Drover has `emptyDir`: [`PodVolumes::create`] makes one directory per volume when the pod
//! starts, under `$TMPDIR/drover-pods/<agent>/<pod uid>/volumes/<name>` (or
//! `/dev/shm/drover-pods/…` for `medium: Memory`), shared by the pod's init containers and
//! container, and [`PodVolumes::remove`] deletes them when the pod ends, as the kubelet does.
//! `<agent>` is the agent's run ([`AgentDirs`]): it holds a lock on `<agent>.lock` for its life,
//! and an agent that starts removes the directories of every run whose lock is free (the run
//! died, killed before its pods ended; its pods were killed with it and the coordinator fails
//! them). Several agents may share the temp directory, under any names.
//!
//! # Mounts
//!
//! A container with `volumeMounts` sees each volume at its `mountPath`, which usually does not
//! exist on the worker (`/input` in the Kubernetes docs' Indexed Job). The process therefore
//! starts in a mount namespace of its own (`clone(CLONE_NEWNS)`, which needs root or
//! `CAP_SYS_ADMIN`), whose root is built by [`plan`] as a list of [`MountOp`]s that the child
//! runs between `clone` and `execve` (see [`crate::spawn`]):
//!
//! 1. the worker's mounts become private to the namespace (nothing propagates back);
//! 2. a small tmpfs becomes the new root; each top-level entry of the worker's `/` is recreated
//!    in it: directories recursively bind-mounted (`/usr`, `/proc`, `/home`, …), symbolic links
//!    copied (`/bin -> usr/bin`), files bind-mounted;
//! 3. each mount point is made (a directory in the tmpfs for a new top-level path such as
//!    `/input`, or inside an enclosing volume), and the volume bind-mounted on it, read-only
//!    when asked;
//! 4. `pivot_root` into the new root and the old one detached.
//!
//! So the process sees the worker's files where they are, plus its volumes; nothing it does to
//! its mounts reaches the worker. A `mountPath` inside one of the worker's directories must
//! already exist there (making it would change the worker's disk): [`plan`] refuses it, naming
//! it, and the pod fails to start with that message.

use std::ffi::{CString, OsStr, OsString};
use std::io;
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::{DirBuilderExt as _, MetadataExt as _};
use std::path::{Component, Path, PathBuf};

use drover_api::Pod;

/// One step of building a process's root, run by the child (see the module docs). Every path
/// is absolute, as seen before `pivot_root`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum MountOp {
    /// `mount(NULL, "/", NULL, MS_REC | MS_PRIVATE)`.
    PrivateRoot,
    /// A tmpfs at `target` (the new root).
    Tmpfs { target: CString },
    /// `mkdir(path, 0755)`; an existing directory is fine.
    Mkdir { path: CString },
    /// `symlink(target, path)`.
    Symlink { target: CString, path: CString },
    /// An empty file at `path` to bind a file onto.
    Touch { path: CString },
    /// A bind mount of `source` on `target`, with its submounts when `recursive`.
    Bind { source: CString, target: CString, recursive: bool },
    /// The bind mount at `target` made read-only.
    ReadOnly { target: CString },
    /// `pivot_root` into `new_root`, the old root detached, `chdir("/")`.
    PivotRoot { new_root: CString },
}

impl MountOp {
    /// What the step does, for the error of a step that failed.
    pub(crate) fn describe(&self) -> String {
        let show = |c: &CString| String::from_utf8_lossy(c.as_bytes()).into_owned();
        match self {
            MountOp::PrivateRoot => "making the worker's mounts private to the pod".into(),
            MountOp::Tmpfs { target } => format!("mounting the pod's root (a tmpfs) at {}", show(target)),
            MountOp::Mkdir { path } => format!("making the mount point {}", show(path)),
            MountOp::Symlink { path, .. } => format!("linking {}", show(path)),
            MountOp::Touch { path } => format!("making the mount point {}", show(path)),
            MountOp::Bind { source, target, .. } => format!("mounting {} on {}", show(source), show(target)),
            MountOp::ReadOnly { target } => format!("making {} read-only", show(target)),
            MountOp::PivotRoot { new_root } => format!("entering the pod's root {}", show(new_root)),
        }
    }
}

/// A top-level entry of the worker's `/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RootEntry {
    Dir(OsString),
    /// A symbolic link and where it points.
    Symlink(OsString, OsString),
    File(OsString),
}

impl RootEntry {
    fn name(&self) -> &OsStr {
        match self {
            RootEntry::Dir(n) | RootEntry::Symlink(n, _) | RootEntry::File(n) => n,
        }
    }
}

/// The worker's top-level entries (sockets, devices and unreadable entries are left out).
pub(crate) fn host_root() -> io::Result<Vec<RootEntry>> {
    let mut entries = Vec::new();
    for entry in std::fs::read_dir("/")? {
        let entry = entry?;
        let name = entry.file_name();
        let Ok(meta) = std::fs::symlink_metadata(entry.path()) else { continue };
        let kind = meta.file_type();
        if kind.is_symlink() {
            if let Ok(target) = std::fs::read_link(entry.path()) {
                entries.push(RootEntry::Symlink(name, target.into_os_string()));
            }
        } else if kind.is_dir() {
            entries.push(RootEntry::Dir(name));
        } else if kind.is_file() {
            entries.push(RootEntry::File(name));
        }
    }
    entries.sort_by(|a, b| a.name().cmp(b.name()));
    Ok(entries)
}

/// A volume as one container mounts it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Mount {
    /// The volume's directory on the worker (its `subPath` within it).
    pub(crate) source: PathBuf,
    /// The container's `mountPath`: absolute, no `..` (validated).
    pub(crate) target: String,
    pub(crate) read_only: bool,
}

/// Why a root cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum PlanError {
    /// The mount point would have to be made in one of the worker's own directories.
    #[error(
        "mountPath {target}: {parent} is one of the worker's directories, and {target} does not exist in it; Drover makes mount points only outside the worker's directories (a new top-level path such as /data) or inside another volume"
    )]
    MissingMountPoint { target: String, parent: String },
    /// A path component is one of the worker's files.
    #[error("mountPath {target}: /{file} is a file")]
    UnderAFile { target: String, file: String },
}

fn cpath(path: &Path) -> CString {
    // Paths come from `OsStr`s of the file system or validated strings: no NUL. A NUL would be
    // cut by the kernel anyway, so the replacement below is never reached in practice.
    CString::new(path.as_os_str().as_bytes()).unwrap_or_else(|_| c"/nonexistent".to_owned())
}

/// The parts of an absolute path (`/a/b/` → `[a, b]`).
fn parts(path: &str) -> Vec<&OsStr> {
    Path::new(path)
        .components()
        .filter_map(|c| match c {
            Component::Normal(p) => Some(p),
            _ => None,
        })
        .collect()
}

/// The steps that build a root at `new_root` from the worker's top-level entries `host` plus
/// `mounts` (see the module docs). `exists` says whether a path exists on the worker (after
/// symbolic links), for mount points inside the worker's directories. Pure: the caller reads
/// the file system.
pub(crate) fn plan(
    new_root: &Path,
    host: &[RootEntry],
    mounts: &[Mount],
    exists: impl Fn(&Path) -> bool,
) -> Result<Vec<MountOp>, PlanError> {
    let inside = |rel: &Path| cpath(&new_root.join(rel));
    let mut ops = vec![MountOp::PrivateRoot, MountOp::Tmpfs { target: cpath(new_root) }];
    for entry in host {
        let name = Path::new(entry.name());
        let host_path = Path::new("/").join(name);
        match entry {
            RootEntry::Dir(_) => {
                ops.push(MountOp::Mkdir { path: inside(name) });
                ops.push(MountOp::Bind { source: cpath(&host_path), target: inside(name), recursive: true });
            }
            RootEntry::Symlink(_, target) => {
                ops.push(MountOp::Symlink { target: cpath(Path::new(target)), path: inside(name) });
            }
            RootEntry::File(_) => {
                ops.push(MountOp::Touch { path: inside(name) });
                ops.push(MountOp::Bind { source: cpath(&host_path), target: inside(name), recursive: false });
            }
        }
    }
    // Outer mount points first, so a volume inside another is mounted on top of it.
    let mut order: Vec<&Mount> = mounts.iter().collect();
    order.sort_by_key(|m| parts(&m.target).len());
    let mut done: Vec<Vec<&OsStr>> = Vec::new();
    for mount in order {
        let target = parts(&mount.target);
        let rel: PathBuf = target.iter().collect();
        let in_volume = done.iter().any(|outer| target.len() > outer.len() && target.starts_with(outer));
        let top = target.first().and_then(|first| host.iter().find(|e| e.name() == *first));
        match top {
            // Inside another volume (the pod's own directory), or a new top-level path (the
            // tmpfs): the mount point is made there.
            _ if in_volume => ops.push(MountOp::Mkdir { path: inside(&rel) }),
            None => {
                let mut dir = PathBuf::new();
                for part in &target {
                    dir.push(part);
                    ops.push(MountOp::Mkdir { path: inside(&dir) });
                }
            }
            Some(RootEntry::File(file)) if target.len() > 1 => {
                return Err(PlanError::UnderAFile {
                    target: mount.target.clone(),
                    file: file.to_string_lossy().into_owned(),
                });
            }
            // One of the worker's top-level entries itself: mounted over.
            Some(_) if target.len() == 1 => {}
            Some(_) => {
                if !exists(&Path::new("/").join(&rel)) {
                    let parent = Path::new("/").join(rel.parent().unwrap_or(Path::new("")));
                    return Err(PlanError::MissingMountPoint {
                        target: mount.target.clone(),
                        parent: parent.display().to_string(),
                    });
                }
            }
        }
        ops.push(MountOp::Bind { source: cpath(&mount.source), target: inside(&rel), recursive: false });
        if mount.read_only {
            ops.push(MountOp::ReadOnly { target: inside(&rel) });
        }
        done.push(target);
    }
    ops.push(MountOp::PivotRoot { new_root: cpath(new_root) });
    Ok(ops)
}

/// The root of a container with volume mounts: the steps that build it from the pod's volumes
/// (`volumes`, as [`PodVolumes::create`] made them, or why it could not), or why it cannot be
/// built; `None` for a container without mounts (it runs in the worker's root).
pub(crate) fn root_of(
    volumes: &Result<Option<PodVolumes>, String>,
    container: &drover_api::Container,
) -> Option<crate::process::ProcessRoot> {
    if container.volume_mounts.is_empty() {
        return None;
    }
    let plan = match volumes {
        Ok(Some(v)) => v.root_for(container),
        Ok(None) => Err("the pod has no volumes".into()),
        Err(e) => Err(e.clone()),
    };
    Some(crate::process::ProcessRoot(plan.map(std::sync::Arc::new)))
}

/// The directories of one pod: its volumes, and the mount point of its processes' root.
#[derive(Debug)]
pub(crate) struct PodVolumes {
    /// `$TMPDIR/drover-pods/<agent>/<uid>`: the new root's mount point and the disk volumes.
    dir: PathBuf,
    /// `/dev/shm/drover-pods/<agent>/<uid>`, when a volume has `medium: Memory`.
    memory_dir: Option<PathBuf>,
    /// Each volume's name and directory.
    volumes: Vec<(String, PathBuf)>,
    /// The worker's top-level entries, read once for the pod's containers' roots (when one has
    /// mounts).
    host: Option<Vec<RootEntry>>,
}

/// A name usable as one path component: not empty, no `/`, not starting with `.`.
fn plain_name(name: &str) -> bool {
    !name.is_empty() && !name.contains('/') && !name.starts_with('.') && !name.contains('\0')
}

/// The directories of one agent run's pods, `$TMPDIR/drover-pods/<agent>` (and under
/// `/dev/shm`), claimed by a lock on `<agent>.lock` held while this value lives; dropping it
/// removes them.
#[derive(Debug)]
pub(crate) struct AgentDirs {
    dir: PathBuf,
    shm: PathBuf,
    lock_path: PathBuf,
    _lock: std::fs::File,
}

impl AgentDirs {
    /// Removes what dead runs left, then claims the directories of run `agent` (a plain name).
    pub(crate) fn open(agent: &str) -> io::Result<AgentDirs> {
        if !plain_name(agent) {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("agent {agent:?}")));
        }
        let base = pods_dir(&std::env::temp_dir())?;
        let lock_path = base.join(format!("{agent}.lock"));
        let lock = std::fs::File::options().create(true).truncate(false).write(true).open(&lock_path)?;
        lock.try_lock().map_err(io::Error::from)?;
        sweep(&base);
        let dir = base.join(agent);
        std::fs::create_dir_all(&dir)?;
        let shm = Path::new("/dev/shm/drover-pods").join(agent);
        Ok(AgentDirs { dir, shm, lock_path, _lock: lock })
    }
}

impl Drop for AgentDirs {
    fn drop(&mut self) {
        for dir in [&self.dir, &self.shm] {
            let _ = std::fs::remove_dir_all(dir);
        }
        let _ = std::fs::remove_file(&self.lock_path);
    }
}

/// Removes the directories of every run under `base` whose lock is free: that agent is gone.
fn sweep(base: &Path) {
    let Ok(entries) = std::fs::read_dir(base) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        let Some(agent) = path.file_name().and_then(OsStr::to_str).and_then(|n| n.strip_suffix(".lock"))
        else {
            continue;
        };
        let Ok(lock) = std::fs::File::options().write(true).open(&path) else { continue };
        if lock.try_lock().is_err() {
            continue; // A live agent's.
        }
        for dir in [base.join(agent), Path::new("/dev/shm/drover-pods").join(agent)] {
            match std::fs::remove_dir_all(&dir) {
                Ok(()) => {
                    tracing::info!(dir = %dir.display(), "Removed the pod directories a stopped agent left")
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => {
                    tracing::warn!(dir = %dir.display(), error = %e, "Could not remove a stopped agent's pod directories")
                }
            }
        }
        let _ = std::fs::remove_file(&path);
    }
}

/// `base/drover-pods`, made if missing (mode 0711) and checked to be a directory of this user
/// (the temp directory is shared: another user's directory, or a link, is refused).
fn pods_dir(base: &Path) -> io::Result<PathBuf> {
    let dir = base.join("drover-pods");
    let mut builder = std::fs::DirBuilder::new();
    builder.mode(0o711);
    match builder.create(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    let meta = std::fs::symlink_metadata(&dir)?;
    let me = euid();
    if !meta.is_dir() || meta.uid() != me {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!("{} is not a directory of this user", dir.display()),
        ));
    }
    Ok(dir)
}

#[allow(unsafe_code)]
fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

impl PodVolumes {
    /// Makes the pod's directories: one empty directory per volume, and the root's mount point
    /// when a container mounts something. `None` when the pod has neither.
    pub(crate) fn create(agent: Option<&AgentDirs>, pod: &Pod) -> io::Result<Option<PodVolumes>> {
        let spec = &pod.spec;
        let mounts = spec.init_containers.iter().chain(&spec.containers).any(|c| !c.volume_mounts.is_empty());
        if spec.volumes.is_empty() && !mounts {
            return Ok(None);
        }
        let uid = &pod.metadata.uid;
        if !plain_name(uid) {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("pod uid {uid:?}")));
        }
        let Some(agent) = agent else {
            return Err(io::Error::other(format!(
                "{}/drover-pods could not be set up",
                std::env::temp_dir().display()
            )));
        };
        let dir = agent.dir.join(uid);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("root"))?;
        let mut memory_dir = None;
        let mut volumes = Vec::new();
        for volume in &spec.volumes {
            let memory = volume.empty_dir.as_ref().and_then(|d| d.medium.as_deref()) == Some("Memory");
            let parent = if memory {
                pods_dir(Path::new("/dev/shm"))?;
                let shm = agent.shm.join(uid);
                memory_dir = Some(shm.clone());
                shm
            } else {
                dir.join("volumes")
            };
            let path = parent.join(&volume.name);
            let _ = std::fs::remove_dir_all(&path);
            std::fs::create_dir_all(&path)?;
            volumes.push((volume.name.clone(), path));
        }
        let host = if mounts { Some(host_root()?) } else { None };
        Ok(Some(PodVolumes { dir, memory_dir, volumes, host }))
    }

    /// The mount point of the processes' root.
    pub(crate) fn root(&self) -> PathBuf {
        self.dir.join("root")
    }

    /// `container`'s mounts, each `subPath` made inside its volume.
    pub(crate) fn mounts(&self, container: &drover_api::Container) -> io::Result<Vec<Mount>> {
        let mut out = Vec::new();
        for m in &container.volume_mounts {
            let Some((_, dir)) = self.volumes.iter().find(|(name, _)| *name == m.name) else {
                return Err(io::Error::new(io::ErrorKind::NotFound, format!("volume {:?}", m.name)));
            };
            let source = match m.sub_path.as_deref().filter(|s| !s.is_empty()) {
                Some(sub) => {
                    let path = dir.join(sub);
                    std::fs::create_dir_all(&path)?;
                    path
                }
                None => dir.clone(),
            };
            out.push(Mount { source, target: m.mount_path.clone(), read_only: m.read_only });
        }
        Ok(out)
    }

    /// The steps that build `container`'s root (see [`plan`]).
    fn root_for(&self, container: &drover_api::Container) -> Result<Vec<MountOp>, String> {
        let mounts = self.mounts(container).map_err(|e| format!("preparing the volumes: {e}"))?;
        let host = self.host.as_deref().unwrap_or_default();
        plan(&self.root(), host, &mounts, |p| p.exists()).map_err(|e| e.to_string())
    }

    /// Deletes the pod's directories and what its volumes hold.
    pub(crate) fn remove(self) {
        for dir in [Some(&self.dir), self.memory_dir.as_ref()].into_iter().flatten() {
            if let Err(e) = std::fs::remove_dir_all(dir)
                && e.kind() != io::ErrorKind::NotFound
            {
                tracing::warn!(dir = %dir.display(), error = %e, "Could not remove a pod's volumes");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> CString {
        CString::new(s).unwrap()
    }

    fn host() -> Vec<RootEntry> {
        vec![
            RootEntry::Symlink("bin".into(), "usr/bin".into()),
            RootEntry::Dir("etc".into()),
            RootEntry::File("swapfile".into()),
            RootEntry::Dir("tmp".into()),
            RootEntry::Dir("usr".into()),
        ]
    }

    fn mount(source: &str, target: &str, read_only: bool) -> Mount {
        Mount { source: source.into(), target: target.into(), read_only }
    }

    /// The fixed part every root starts with, for the `host()` above.
    fn base(root: &str) -> Vec<MountOp> {
        let r = |p: &str| c(&format!("{root}/{p}"));
        vec![
            MountOp::PrivateRoot,
            MountOp::Tmpfs { target: c(root) },
            MountOp::Symlink { target: c("usr/bin"), path: r("bin") },
            MountOp::Mkdir { path: r("etc") },
            MountOp::Bind { source: c("/etc"), target: r("etc"), recursive: true },
            MountOp::Touch { path: r("swapfile") },
            MountOp::Bind { source: c("/swapfile"), target: r("swapfile"), recursive: false },
            MountOp::Mkdir { path: r("tmp") },
            MountOp::Bind { source: c("/tmp"), target: r("tmp"), recursive: true },
            MountOp::Mkdir { path: r("usr") },
            MountOp::Bind { source: c("/usr"), target: r("usr"), recursive: true },
        ]
    }

    #[test]
    fn roots_by_case() {
        let root = "/t/p/root";
        let r = |p: &str| c(&format!("{root}/{p}"));
        let on_host = |p: &Path| p == Path::new("/tmp/existing");
        type Want = Result<Vec<MountOp>, PlanError>;
        let with = |extra: Vec<MountOp>| -> Want {
            let mut ops = base(root);
            ops.extend(extra);
            ops.push(MountOp::PivotRoot { new_root: c(root) });
            Ok(ops)
        };
        let cases: Vec<(&str, Vec<Mount>, Want)> = vec![
            ("no mounts: the worker's root as it is", vec![], with(vec![])),
            (
                "the docs' /input: a new top-level directory in the tmpfs",
                vec![mount("/v/input", "/input", false)],
                with(vec![
                    MountOp::Mkdir { path: r("input") },
                    MountOp::Bind { source: c("/v/input"), target: r("input"), recursive: false },
                ]),
            ),
            (
                "a deep new path, read-only, trailing slash",
                vec![mount("/v/d", "/data/set/", true)],
                with(vec![
                    MountOp::Mkdir { path: r("data") },
                    MountOp::Mkdir { path: r("data/set") },
                    MountOp::Bind { source: c("/v/d"), target: r("data/set"), recursive: false },
                    MountOp::ReadOnly { target: r("data/set") },
                ]),
            ),
            (
                "a path that exists in a worker's directory: mounted over, nothing made",
                vec![mount("/v/x", "/tmp/existing", false)],
                with(vec![MountOp::Bind { source: c("/v/x"), target: r("tmp/existing"), recursive: false }]),
            ),
            (
                "a worker's top-level directory itself",
                vec![mount("/v/x", "/tmp", false)],
                with(vec![MountOp::Bind { source: c("/v/x"), target: r("tmp"), recursive: false }]),
            ),
            (
                "a volume inside another, listed first: the outer one is mounted first",
                vec![mount("/v/inner", "/work/cache", false), mount("/v/outer", "/work", false)],
                with(vec![
                    MountOp::Mkdir { path: r("work") },
                    MountOp::Bind { source: c("/v/outer"), target: r("work"), recursive: false },
                    MountOp::Mkdir { path: r("work/cache") },
                    MountOp::Bind { source: c("/v/inner"), target: r("work/cache"), recursive: false },
                ]),
            ),
            (
                "a missing path in a worker's directory is refused, named",
                vec![mount("/v/x", "/etc/drover/conf", false)],
                Err(PlanError::MissingMountPoint {
                    target: "/etc/drover/conf".into(),
                    parent: "/etc/drover".into(),
                }),
            ),
            (
                "a path under a worker's file is refused",
                vec![mount("/v/x", "/swapfile/x", false)],
                Err(PlanError::UnderAFile { target: "/swapfile/x".into(), file: "swapfile".into() }),
            ),
        ];
        for (name, mounts, want) in cases {
            assert_eq!(plan(Path::new(root), &host(), &mounts, on_host), want, "{name}");
        }
    }

    #[test]
    fn the_refusal_names_the_path_and_the_way_out() {
        let err = plan(Path::new("/r"), &host(), &[mount("/v", "/etc/x/y", false)], |_| false).unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("mountPath /etc/x/y: /etc/x is one of the worker's directories"), "{text}");
        assert!(text.contains("a new top-level path such as /data"), "{text}");
    }

    #[test]
    fn the_worker_root_is_read_with_its_links() {
        let root = host_root().unwrap();
        assert!(root.iter().any(|e| matches!(e, RootEntry::Dir(n) if n == "proc")), "{root:?}");
        assert!(root.iter().any(|e| matches!(e, RootEntry::Dir(n) if n == "tmp")), "{root:?}");
        // Sorted by name.
        let names: Vec<&OsStr> = root.iter().map(RootEntry::name).collect();
        assert!(names.windows(2).all(|w| w[0] <= w[1]), "{names:?}");
    }
}
