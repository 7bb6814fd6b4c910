//! What a pod's process gets from the agent besides its container's own `env`: the few
//! variables of the agent's environment it inherits, and the task body as a file when it does
//! not fit in `DROVER_TASK`.
//!
//! # The inherited environment
//!
//! A pod does not inherit the agent's environment, as a Kubernetes pod does not inherit the
//! kubelet's: the agent's settings (`DROVER_TOKEN`, the API key of the whole fleet, and every
//! other `DROVER_*`), and whatever else its environment holds (a broker password, a cloud
//! credential), would otherwise reach every pod, its `env` output and `drover logs`. Unlike a
//! container, though, a pod process has no image to give it a usable environment, so it starts
//! from the agent's values of a short allow-list, [`INHERITED`] (and every `LC_*`): the search
//! path, the user's identity and home, the locale, the time zone and the temp directory. Anything
//! else a pod needs goes in its container's `env` (which wins over an inherited value), as on
//! Kubernetes; the agent adds `POD_NAME`, `JOB_NAME`, `HOSTNAME` (the pod's `spec.hostname`, when
//! it has one: an Indexed Job's pods have `<job>-<index>`) and, for queue pods, `DROVER_TASK`,
//! `DROVER_TASK_FILE`, `DROVER_TASK_ID` and `DROVER_HANDLER` on purpose.
//!
//! # The task body
//!
//! A queue pod's task body always reaches an `Exec` command on stdin, whatever its size and
//! bytes. It is also in `DROVER_TASK` when it is UTF-8, has no NUL byte and is at most
//! [`TASK_ENV_LIMIT`] bytes ([`task_env`]); otherwise `DROVER_TASK` is absent and
//! `DROVER_TASK_FILE` names a [`BodyFile`] holding it. (The kernel refuses an `execve` whose
//! environment holds a string over 128 KiB with `E2BIG`, and a C string cannot hold a NUL: such a
//! body in the environment would fail every run of its task.)

use std::ffi::OsString;
use std::io::{self, Write as _};
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// The variables a pod inherits from the agent's environment, besides every `LC_*`.
pub(crate) const INHERITED: &[&str] =
    &["PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "TZ", "TMPDIR"];

/// The largest task body that is also given in `DROVER_TASK` (64 KiB).
pub(crate) const TASK_ENV_LIMIT: usize = 64 * 1024;

/// Whether a pod inherits the agent's variable `key`.
fn inherits(key: &[u8]) -> bool {
    key.starts_with(b"LC_") || INHERITED.iter().any(|name| name.as_bytes() == key)
}

/// The part of `vars` (the agent's environment) a pod inherits, in order.
pub(crate) fn inherited(vars: impl IntoIterator<Item = (OsString, OsString)>) -> Vec<(OsString, OsString)> {
    use std::os::unix::ffi::OsStrExt as _;
    vars.into_iter().filter(|(key, _)| inherits(key.as_bytes())).collect()
}

/// The task body as the value of `DROVER_TASK`, if it may be one: UTF-8, no NUL, at most
/// [`TASK_ENV_LIMIT`] bytes.
pub(crate) fn task_env(body: &[u8]) -> Option<&str> {
    if body.len() > TASK_ENV_LIMIT || body.contains(&0) {
        return None;
    }
    std::str::from_utf8(body).ok()
}

/// A file holding one process's task body: `body`, mode 0600, in a directory of its own (mode
/// 0700, created anew, so nobody else can have prepared it) under the agent's temp directory.
/// Dropping it removes both; the process that reads it is gone by then.
#[derive(Debug)]
pub(crate) struct BodyFile {
    dir: PathBuf,
    path: PathBuf,
}

impl BodyFile {
    /// Writes `body` into a new file under `parent`.
    pub(crate) fn create(parent: &Path, body: &[u8]) -> io::Result<Self> {
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let mut builder = std::fs::DirBuilder::new();
        builder.mode(0o700);
        // A name another user took first (the temp directory is shared) is skipped.
        let mut attempt = 0;
        let dir = loop {
            let n = SEQ.fetch_add(1, Ordering::Relaxed);
            let dir = parent.join(format!("drover-task-{}-{n}", std::process::id()));
            match builder.create(&dir) {
                Ok(()) => break dir,
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempt < 100 => attempt += 1,
                Err(e) => return Err(e),
            }
        };
        let file = Self { path: dir.join("body"), dir };
        let mut out =
            std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&file.path)?;
        out.write_all(body)?;
        Ok(file)
    }

    /// The file's path.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for BodyFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
        let _ = std::fs::remove_dir(&self.dir);
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    #[test]
    fn only_the_allow_list_and_locale_are_inherited() {
        let vars = [
            ("PATH", "/bin"),
            ("DROVER_TOKEN", "s3cret"),
            ("DROVER_TOKEN_FILE", "/run/secrets/t"),
            ("DROVER_CERTIFICATE_AUTHORITY", "/etc/drover/ca.crt"),
            ("SSL_CERT_FILE", "/etc/drover/ca.crt"),
            ("HOME", "/home/w"),
            ("AWS_SECRET_ACCESS_KEY", "k"),
            ("LC_ALL", "C.UTF-8"),
            ("LANG", "C"),
            ("PATHX", "/x"),
            ("TMPDIR", "/tmp/w"),
        ]
        .map(|(k, v)| (OsString::from(k), OsString::from(v)));
        let kept: Vec<String> = inherited(vars).into_iter().map(|(k, _)| k.into_string().unwrap()).collect();
        assert_eq!(kept, ["PATH", "HOME", "LC_ALL", "LANG", "TMPDIR"]);
    }

    #[test]
    fn only_small_utf8_bodies_without_nul_go_in_the_environment() {
        assert_eq!(task_env(b"apple"), Some("apple"));
        assert_eq!(task_env("caf\u{e9}\n".as_bytes()), Some("caf\u{e9}\n"));
        assert_eq!(task_env(b""), Some(""));
        let limit = vec![b'x'; TASK_ENV_LIMIT];
        assert_eq!(task_env(&limit).map(str::len), Some(TASK_ENV_LIMIT));
        assert_eq!(task_env(&[b'x'; TASK_ENV_LIMIT + 1]), None, "over the limit");
        assert_eq!(task_env(b"a\0b"), None, "a NUL byte");
        assert_eq!(task_env(b"\xff\xfe"), None, "not UTF-8");
    }

    #[test]
    fn a_body_file_is_private_and_removed_on_drop() {
        let parent = std::env::temp_dir();
        let body = b"\0\xffbinary\n";
        let file = BodyFile::create(&parent, body).unwrap();
        let path = file.path().to_path_buf();
        let dir = path.parent().unwrap().to_path_buf();
        assert_eq!(std::fs::read(&path).unwrap(), body);
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777, 0o700);
        let other = BodyFile::create(&parent, b"x").unwrap();
        assert_ne!(other.path(), path, "each body has its own directory");
        drop(file);
        assert!(!path.exists() && !dir.exists(), "{} is left", dir.display());
        assert!(other.path().exists());
    }
}
