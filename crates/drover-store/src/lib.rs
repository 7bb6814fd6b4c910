//! Drover's embedded store: SQLite through rusqlite (bundled), in WAL mode.
//!
//! Owns persistence of every object (Jobs, Pods, Workers), events, pod logs, the Jobs'
//! back-off records and their task ledgers (each task that succeeded, once per Job). Every write
//! goes through [`Store::write`], which runs a closure inside one SQLite transaction: either
//! every change in it lands or none does. Each changed object gets a new `resourceVersion` from
//! one store-wide revision counter (as etcd does), and updates check the caller's
//! `resourceVersion` (optimistic concurrency).
//!
//! The store knows nothing of HTTP, async or the controllers. It returns the list of changes a
//! transaction made so the coordinator can publish them to watchers after the commit.
//!
//! # Durability (group commit)
//! SQLite runs with `synchronous=NORMAL`: a commit writes its WAL frames but does not `fsync`
//! them, so it survives a process crash (kill -9) but not an OS crash or a power cut. The store
//! adds the missing `fsync` itself, outside the store's lock, and shares it between concurrent
//! commits (group commit):
//! - [`Store::write`] returns only once its transaction is durable: an `fdatasync` of the WAL
//!   file that started after the commit has finished. While one `fdatasync` runs, the commits
//!   that land go on, and their writers wait for the next one, which covers them all.
//! - [`Store::write_deferred`] returns at the commit with a [`CommitTicket`]; the caller may act
//!   on the changes (publish them) and then wait with [`Store::wait_durable`]. A later durable
//!   commit makes every earlier one durable too (the WAL is written in commit order).
//!
//! Guarantees: what a durable write returned survives an OS crash. A commit nobody waited for
//! may be lost by an OS crash, with every commit after it, never one before it. A failed
//! `fdatasync` makes every later wait fail (the kernel may have dropped the dirty pages): the
//! coordinator must restart and recover from the file. The in-memory store has nothing to sync.

use std::path::Path;
use std::sync::{Condvar, Mutex};

use drover_api::{CronJob, Event, Job, ObjectMeta, Pod, Time, Worker};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// A kind of object the store keeps.
pub trait Object: Serialize + DeserializeOwned + Clone {
    /// The Kubernetes kind, used as the table key.
    const KIND: &'static str;
    /// Whether objects of the kind live in a namespace: the store writes them in
    /// [`drover_api::resource::DEFAULT_NAMESPACE`], the one Drover has.
    const NAMESPACED: bool = true;
    /// The object's metadata.
    fn meta(&self) -> &ObjectMeta;
    /// The object's metadata, mutable.
    fn meta_mut(&mut self) -> &mut ObjectMeta;
    /// An indexed phase (pods), for [`Txn::list_where`].
    fn index_phase(&self) -> Option<&str> {
        None
    }
    /// An indexed node name (pods), for [`Txn::list_where`].
    fn index_node(&self) -> Option<&str> {
        None
    }
    /// Whether the object still matters to its owner's controller (pods: not terminal, or
    /// their outcome not counted yet), for [`Txn::list_owned_live`].
    fn index_live(&self) -> bool {
        true
    }
}

macro_rules! impl_object {
    ($t:ty, $kind:expr) => {
        impl Object for $t {
            const KIND: &'static str = $kind;
            fn meta(&self) -> &ObjectMeta {
                &self.metadata
            }
            fn meta_mut(&mut self) -> &mut ObjectMeta {
                &mut self.metadata
            }
        }
    };
}
impl_object!(Job, "Job");
impl_object!(CronJob, "CronJob");

impl Object for Worker {
    const KIND: &'static str = "Worker";
    const NAMESPACED: bool = false;
    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

impl Object for Pod {
    const KIND: &'static str = "Pod";
    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
    fn index_phase(&self) -> Option<&str> {
        Some(self.status.phase.as_str())
    }
    fn index_node(&self) -> Option<&str> {
        self.node_name()
    }
    fn index_live(&self) -> bool {
        !self.is_terminal() || self.metadata.has_finalizer(drover_api::labels::JOB_TRACKING_FINALIZER)
    }
}

/// One index's back-off record (a row of `index_backoff`): see drover-core's `IndexRecord`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexBackoff {
    /// The completion index.
    pub index: i32,
    /// Counted failures so far.
    pub failed: i32,
    /// Ignored failures so far.
    pub ignored: i32,
    /// When the last failure ended, if it delays the next pod.
    pub last_failure: Option<Time>,
    /// The delay's exponent.
    pub exponent: u32,
}

/// Puts a namespaced kind's object in the one namespace.
fn set_namespace<T: Object>(meta: &mut ObjectMeta) {
    if T::NAMESPACED {
        meta.namespace = Some(drover_api::resource::DEFAULT_NAMESPACE.to_string());
    }
}

/// Sorts objects by name (done here rather than by `ORDER BY name`, which would make SQLite
/// walk the primary key over every object of the kind instead of using the owner index).
fn by_name<T: Object>(objects: Result<Vec<T>, StoreError>) -> Result<Vec<T>, StoreError> {
    let mut objects = objects?;
    objects.sort_by(|a, b| a.meta().name.cmp(&b.meta().name));
    Ok(objects)
}

/// Errors of the store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// No object of that kind and name.
    #[error("{kind} {name:?} not found")]
    NotFound {
        /// The kind.
        kind: &'static str,
        /// The name.
        name: String,
    },
    /// An object of that kind and name exists already.
    #[error("{kind} {name:?} already exists")]
    AlreadyExists {
        /// The kind.
        kind: &'static str,
        /// The name.
        name: String,
    },
    /// The caller's resourceVersion is not the stored one.
    #[error(
        "operation cannot be fulfilled on {kind} {name:?}: the object has been modified; please apply your changes to the latest version and try again"
    )]
    Conflict {
        /// The kind.
        kind: &'static str,
        /// The name.
        name: String,
    },
    /// Another process (another coordinator) holds the store's lock.
    #[error("the data directory {dir} is in use by another coordinator (its database is locked)")]
    InUse {
        /// The data directory.
        dir: String,
    },
    /// A log chunk that would start before byte 0 or end past [`MAX_LOG_OFFSET`].
    #[error(
        "offset: Invalid value: {offset}: a log chunk of {len} bytes must lie between byte 0 and byte {MAX_LOG_OFFSET}"
    )]
    LogOffset {
        /// The chunk's offset.
        offset: i64,
        /// The chunk's length.
        len: usize,
    },
    /// SQLite failed.
    #[error("store: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A stored body could not be (de)serialized.
    #[error("store: bad object body: {0}")]
    Json(#[from] serde_json::Error),
    /// The write-ahead log could not be flushed to disk: committed transactions may not be
    /// durable. Every later durable write fails the same way until the coordinator restarts.
    #[error("store: cannot flush the write-ahead log to disk: {0}; restart the coordinator")]
    Sync(String),
}

/// What happened to an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeType {
    /// Created.
    Added,
    /// Updated.
    Modified,
    /// Deleted.
    Deleted,
}

/// One object change made by a committed transaction.
#[derive(Debug, Clone)]
pub struct Change {
    /// The object's kind.
    pub kind: &'static str,
    /// Added, Modified or Deleted.
    pub change: ChangeType,
    /// The object's name.
    pub name: String,
    /// The object as written (for Deleted, as it was last), as JSON text: encoded once, for the
    /// store and for every watcher.
    pub object: std::sync::Arc<str>,
    /// The revision of this change.
    pub revision: i64,
}

/// The embedded store. Cheap to share behind an `Arc`; calls are short and synchronous.
pub struct Store {
    inner: Mutex<Inner>,
    /// The group commit of an on-disk store (`None` in memory).
    sync: Option<GroupSync>,
}

/// A committed transaction's place in the commit order, to wait for its durability with
/// [`Store::wait_durable`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[must_use = "a deferred commit is durable only once waited for"]
pub struct CommitTicket(u64);

/// Shares one `fdatasync` of the WAL between the commits that land while it runs.
struct GroupSync {
    /// The WAL file (`drover.db-wal`), opened for `fdatasync` only: the same file SQLite writes
    /// (it keeps it, at the same inode, for as long as the connection is open).
    wal: std::fs::File,
    state: Mutex<SyncState>,
    /// Signalled when an `fdatasync` ends.
    synced: Condvar,
}

#[derive(Default)]
struct SyncState {
    /// The last commit whose WAL frames are written (set under the store's lock, in order).
    written: u64,
    /// Every commit up to this one is on disk.
    durable: u64,
    /// An `fdatasync` is running (its caller is the leader; the others wait).
    syncing: bool,
    /// How many `fdatasync`s ran (tests, and the ratio of commits to flushes).
    flushes: u64,
    /// A failed `fdatasync`: sticky.
    failed: Option<String>,
}

struct Inner {
    conn: Connection,
    /// The last revision handed out by a committed transaction. Kept here rather than read and
    /// written in `meta` by every transaction: at open it is the larger of `meta`'s value and
    /// the newest object's revision, and `meta` is written only by a transaction that deletes
    /// an object (whose revision would otherwise be forgotten).
    revision: i64,
    /// Commits made by this process, in order (the tickets).
    commits: u64,
}

/// The log bytes kept per pod; older bytes are dropped.
pub const LOG_LIMIT_BYTES: i64 = 1 << 20;

/// The largest byte offset a pod's log may reach: 1 TiB of output over the pod's life (only the
/// last [`LOG_LIMIT_BYTES`] are kept), far from `i64`'s end, so offsets never overflow.
pub const MAX_LOG_OFFSET: i64 = 1 << 40;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO meta (key, value) VALUES ('revision', 0);
CREATE TABLE IF NOT EXISTS objects (
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    uid TEXT NOT NULL,
    owner_uid TEXT,
    phase TEXT,
    node TEXT,
    live INTEGER NOT NULL DEFAULT 1,
    revision INTEGER NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (kind, name)
);
CREATE INDEX IF NOT EXISTS objects_owner ON objects (kind, owner_uid, live);
-- (kind, node, phase) serves both a node's pods and the pods waiting for one
-- (node IS NULL AND phase = 'Pending'): every index is written on every pod change.
DROP INDEX IF EXISTS objects_phase;
DROP INDEX IF EXISTS objects_node;
CREATE INDEX IF NOT EXISTS objects_node_phase ON objects (kind, node, phase);
-- The label index: one row per label of every object, so that a list by label
-- (`kubectl get pods -l job-name=x`, the drain rule's look at a Job's pods) reads the objects
-- it returns, not every object of the kind. Kept by create, update (only when the labels
-- changed) and delete; filled from the bodies at open when `meta.labels_indexed` is 0.
CREATE TABLE IF NOT EXISTS labels (
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    name TEXT NOT NULL,
    PRIMARY KEY (kind, key, value, name)
) WITHOUT ROWID;
INSERT OR IGNORE INTO meta (key, value) VALUES ('labels_indexed', 0);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    involved_kind TEXT NOT NULL,
    involved_name TEXT NOT NULL,
    involved_uid TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_involved ON events (involved_kind, involved_name);
CREATE TABLE IF NOT EXISTS backoff (
    job_uid TEXT PRIMARY KEY,
    failures INTEGER NOT NULL,
    last_failure TEXT
);
-- Indexed Jobs with backoffLimitPerIndex: each index that failed, its failures so far and its
-- back-off (semantics.md FAIL-20, FAIL-22), so that no sync reads a counted pod again.
CREATE TABLE IF NOT EXISTS index_backoff (
    job_uid TEXT NOT NULL,
    idx INTEGER NOT NULL,
    failed INTEGER NOT NULL,
    ignored INTEGER NOT NULL,
    last_failure TEXT,
    exponent INTEGER NOT NULL,
    PRIMARY KEY (job_uid, idx)
) WITHOUT ROWID;
-- The task ledger (semantics.md §10.10): each task that succeeded, once per Job, by its stable
-- id, with the pod that owns that success; and per Job, the distinct successes and the
-- duplicates, kept in the same transactions so that reading them is one row.
CREATE TABLE IF NOT EXISTS task_ledger (
    job_uid TEXT NOT NULL,
    task TEXT NOT NULL,
    pod TEXT NOT NULL,
    pod_uid TEXT NOT NULL,
    PRIMARY KEY (job_uid, task)
) WITHOUT ROWID;
-- Each registered worker's credential, as its SHA-256 (hex): the secret itself is only ever
-- in the worker's memory.
CREATE TABLE IF NOT EXISTS worker_credentials (
    name TEXT PRIMARY KEY,
    sha256 TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS task_tally (
    job_uid TEXT PRIMARY KEY,
    succeeded INTEGER NOT NULL,
    duplicates INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS logs (
    pod_uid TEXT NOT NULL,
    offset INTEGER NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (pod_uid, offset)
);
";

impl Store {
    /// Opens (or creates) the store in `dir`, as `dir/drover.db`.
    ///
    /// The pods' logs and specs are in it, so only the coordinator's user may read it: a missing
    /// `dir` is created `0700` (a warning names an existing one that others may enter), and the
    /// database file is made `0600` before SQLite opens it (SQLite gives its `-wal` and `-shm`
    /// files the database file's mode).
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
        let cannot = |what: String, e: std::io::Error| {
            StoreError::Sqlite(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CANTOPEN),
                Some(format!("{what}: {e}")),
            ))
        };
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| cannot(format!("cannot create data directory {}", dir.display()), e))?;
        if let Ok(meta) = std::fs::metadata(dir)
            && meta.permissions().mode() & 0o077 != 0
        {
            tracing::warn!(
                dir = %dir.display(),
                mode = format!("{:o}", meta.permissions().mode() & 0o777),
                "The data directory is open to other users; chmod 700 it"
            );
        }
        let path = dir.join("drover.db");
        for file in [path.clone(), dir.join("drover.db-wal"), dir.join("drover.db-shm")] {
            let created = std::fs::OpenOptions::new()
                .write(true)
                .create(file == path)
                .truncate(false)
                .mode(0o600)
                .open(&file);
            match created {
                Ok(f) => f
                    .set_permissions(std::fs::Permissions::from_mode(0o600))
                    .map_err(|e| cannot(format!("cannot make {} private", file.display()), e))?,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && file != path => {}
                Err(e) => return Err(cannot(format!("cannot open {}", file.display()), e)),
            }
        }
        let conn = Connection::open(&path)?;
        let mut store = Store::init(conn).map_err(|err| match err {
            StoreError::Sqlite(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::DatabaseBusy =>
            {
                StoreError::InUse { dir: dir.display().to_string() }
            }
            other => other,
        })?;
        // The schema's writes created the WAL; SQLite keeps it until the connection closes.
        match std::fs::File::open(dir.join("drover.db-wal")) {
            Ok(wal) => {
                store.sync = Some(GroupSync { wal, state: Mutex::default(), synced: Condvar::new() });
            }
            Err(err) => {
                // Cannot happen with WAL mode on a local file system; stay durable anyway, with
                // SQLite's own fsync on every commit (inside the lock).
                tracing::warn!(error = %err, "No WAL file to flush; every commit will fsync");
                let inner = store.inner.get_mut().unwrap_or_else(|p| p.into_inner());
                inner.conn.pragma_update(None, "synchronous", "FULL")?;
            }
        }
        Ok(store)
    }

    /// Opens a store that lives only in memory (tests).
    pub fn open_in_memory() -> Result<Store, StoreError> {
        Store::init(Connection::open_in_memory()?)
    }

    fn init(conn: Connection) -> Result<Store, StoreError> {
        // WAL with synchronous=NORMAL: SQLite does not fsync at commit; the group commit does
        // (see the module docs), outside the lock. busy_timeout lets a coordinator restarted
        // while the old one is still exiting wait for its lock (see locking_mode below).
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        // One connection, one process: with an exclusive lock SQLite keeps the WAL index in
        // private memory and takes no file lock per transaction (those `fcntl` calls were a
        // measurable share of each commit). It also keeps a second coordinator off the same
        // data directory while this one runs; the kernel drops the lock when the process dies.
        conn.pragma_update(None, "locking_mode", "EXCLUSIVE")?;
        // 8 MiB of page cache (the default is 2 MiB): the working set of a busy coordinator
        // (indexes, live pods, recent writes) stays in memory instead of being re-read from the
        // OS on every query. Not more: a commit that rebalanced a B-tree page parks a page at
        // the lock-byte page number (balance_nonroot's page swap), and the commit's cache
        // truncation then scans the whole hash table of the page cache, whose size follows the
        // cache's. With 64 MiB that scan was a sixth of the coordinator's CPU per pod once the
        // database outgrew it (1,000 Jobs of 100 pods: 0.76 ms per pod, 0.63 ms at 8 MiB, and
        // half the RSS).
        conn.pragma_update(None, "cache_size", -8192)?;
        conn.set_prepared_statement_cache_capacity(64);
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.execute_batch(SCHEMA)?;
        // A database written before the label index existed: index every object's labels once.
        conn.execute_batch(
            "BEGIN IMMEDIATE;
             INSERT OR IGNORE INTO labels (kind, key, value, name)
                 SELECT o.kind, l.key, l.value, o.name
                 FROM objects o, json_each(o.body, '$.metadata.labels') l
                 WHERE (SELECT value FROM meta WHERE key = 'labels_indexed') = 0;
             UPDATE meta SET value = 1 WHERE key = 'labels_indexed';
             COMMIT;",
        )?;
        let revision = conn.query_row(
            "SELECT max((SELECT value FROM meta WHERE key = 'revision'), \
             (SELECT ifnull(max(revision), 0) FROM objects))",
            [],
            |r| r.get(0),
        )?;
        Ok(Store { inner: Mutex::new(Inner { conn, revision, commits: 0 }), sync: None })
    }

    /// Runs `f` inside one transaction. Commits when `f` returns `Ok`, rolls back otherwise.
    /// Returns `f`'s value and the changes the transaction made, in order, once the commit is
    /// durable (see the module docs).
    pub fn write<R>(
        &self,
        f: impl FnOnce(&mut Txn<'_>) -> Result<R, StoreError>,
    ) -> Result<(R, Vec<Change>), StoreError> {
        let (res, changes, ticket) = self.write_deferred(f)?;
        self.wait_durable(ticket)?;
        Ok((res, changes))
    }

    /// [`write`](Self::write), returning at the commit, before it is durable: wait for that
    /// with [`wait_durable`](Self::wait_durable) before telling anyone outside the process
    /// that it happened.
    pub fn write_deferred<R>(
        &self,
        f: impl FnOnce(&mut Txn<'_>) -> Result<R, StoreError>,
    ) -> Result<(R, Vec<Change>, CommitTicket), StoreError> {
        self.write_deferred_then(f, |_| {})
    }

    /// [`write_deferred`](Self::write_deferred), calling `then` with the changes right after
    /// the commit, still under the store's lock: what `then` does with them happens in commit
    /// (revision) order, and before any later read sees the store. Keep it short.
    pub fn write_deferred_then<R>(
        &self,
        f: impl FnOnce(&mut Txn<'_>) -> Result<R, StoreError>,
        then: impl FnOnce(&[Change]),
    ) -> Result<(R, Vec<Change>, CommitTicket), StoreError> {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let Inner { conn, revision: committed, commits } = &mut *inner;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut txn = Txn { tx, changes: Vec::new(), revision: *committed, deleted: false };
        let res = f(&mut txn)?;
        let Txn { tx, changes, revision, deleted } = txn;
        if deleted {
            tx.prepare_cached("UPDATE meta SET value = ?1 WHERE key = 'revision'")?.execute([revision])?;
        }
        tx.commit()?;
        *committed = revision;
        *commits += 1;
        then(&changes);
        let ticket = CommitTicket(*commits);
        if let Some(sync) = &self.sync {
            // Still under the store's lock: `written` follows the commit order.
            sync.state.lock().unwrap_or_else(|p| p.into_inner()).written = ticket.0;
        }
        Ok((res, changes, ticket))
    }

    /// Returns once the commit of `ticket` (and every one before it) is on disk. The first
    /// caller to find no flush running flushes the WAL for every commit written so far; the
    /// others wait for it, then flush again if it started before their commit.
    pub fn wait_durable(&self, ticket: CommitTicket) -> Result<(), StoreError> {
        let Some(sync) = &self.sync else { return Ok(()) };
        let mut state = sync.state.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(err) = &state.failed {
                return Err(StoreError::Sync(err.clone()));
            }
            if state.durable >= ticket.0 {
                return Ok(());
            }
            if state.syncing {
                state = sync.synced.wait(state).unwrap_or_else(|p| p.into_inner());
                continue;
            }
            state.syncing = true;
            let target = state.written;
            drop(state);
            let res = sync.wal.sync_data();
            state = sync.state.lock().unwrap_or_else(|p| p.into_inner());
            state.syncing = false;
            state.flushes += 1;
            match res {
                Ok(()) => state.durable = state.durable.max(target),
                Err(err) => {
                    tracing::error!(error = %err, "Cannot flush the store's WAL: commits may not be durable");
                    state.failed = Some(err.to_string());
                }
            }
            sync.synced.notify_all();
        }
    }

    /// How many `fdatasync`s of the WAL the group commit ran, and the newest durable commit
    /// (`None` for an in-memory store).
    pub fn flush_stats(&self) -> Option<(u64, CommitTicket)> {
        let sync = self.sync.as_ref()?;
        let state = sync.state.lock().unwrap_or_else(|p| p.into_inner());
        Some((state.flushes, CommitTicket(state.durable)))
    }

    /// Runs `f` with read access. Reads see only committed data.
    pub fn read<R>(&self, f: impl FnOnce(&Txn<'_>) -> Result<R, StoreError>) -> Result<R, StoreError> {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let Inner { conn, revision, .. } = &mut *inner;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Deferred)?;
        let txn = Txn { tx, changes: Vec::new(), revision: *revision, deleted: false };
        f(&txn)
    }

    /// Shorthand: one object by name.
    pub fn get<T: Object>(&self, name: &str) -> Result<Option<T>, StoreError> {
        self.read(|t| t.get::<T>(name))
    }

    /// Shorthand: every object of a kind, by name.
    pub fn list<T: Object>(&self) -> Result<Vec<T>, StoreError> {
        self.read(|t| t.list::<T>())
    }

    /// The current store revision.
    pub fn revision(&self) -> Result<i64, StoreError> {
        self.read(|t| t.revision())
    }
}

/// What the task ledger held for a task ([`Txn::record_tasks`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LedgerEntry {
    /// The task's first success in its Job: recorded now.
    New,
    /// Recorded before; this pod (name and uid) owns that success.
    Owned {
        /// The owner pod's name.
        pod: String,
        /// The owner pod's uid.
        uid: String,
    },
}

/// [`Txn::visit_unbound_in`]'s query: the `(kind, node, phase)` index, whose entries are in
/// rowid (creation) order within one key.
const VISIT_UNBOUND: &str =
    "SELECT body FROM objects WHERE kind = ?1 AND node IS NULL AND phase = ?2 ORDER BY rowid";
/// [`Txn::visit_by_name`]'s query for [`Scan::All`]: the primary key, in name order.
const VISIT_ALL: &str = "SELECT body FROM objects WHERE kind = ?1 AND name > ?2 ORDER BY name";
/// [`Txn::visit_by_name`]'s query for [`Scan::Labelled`]: the label index, in name order, then
/// each object by its primary key.
const VISIT_LABELLED: &str = "SELECT o.body FROM labels l JOIN objects o ON o.kind = l.kind AND o.name = l.name \
     WHERE l.kind = ?1 AND l.key = ?2 AND l.value = ?3 AND l.name > ?4 ORDER BY l.name";

/// Which objects of a kind [`Txn::visit_by_name`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scan<'a> {
    /// Every object of the kind.
    All,
    /// The objects with the label `key=value` (through the label index).
    Labelled(&'a str, &'a str),
}

/// A transaction. Reads see the transaction's own writes.
pub struct Txn<'c> {
    tx: rusqlite::Transaction<'c>,
    changes: Vec<Change>,
    /// The store's revision, counting what this transaction wrote so far.
    revision: i64,
    /// Whether an object was deleted (then `meta` keeps the revision at commit).
    deleted: bool,
}

impl Txn<'_> {
    /// The current store revision (including what this transaction wrote so far).
    pub fn revision(&self) -> Result<i64, StoreError> {
        Ok(self.revision)
    }

    fn next_revision(&mut self) -> i64 {
        self.revision += 1;
        self.revision
    }

    /// One object by name.
    pub fn get<T: Object>(&self, name: &str) -> Result<Option<T>, StoreError> {
        let body: Option<String> = self
            .tx
            .prepare_cached("SELECT body FROM objects WHERE kind = ?1 AND name = ?2")?
            .query_row(params![T::KIND, name], |r| r.get(0))
            .optional()?;
        body.map(|b| serde_json::from_str(&b).map_err(StoreError::from)).transpose()
    }

    /// Every object of a kind, ordered by name.
    pub fn list<T: Object>(&self) -> Result<Vec<T>, StoreError> {
        let mut stmt = self.tx.prepare_cached("SELECT body FROM objects WHERE kind = ?1 ORDER BY name")?;
        let rows = stmt.query_map(params![T::KIND], |r| r.get::<_, String>(0))?;
        rows.map(|b| Ok(serde_json::from_str(&b?)?)).collect()
    }

    /// Every object of a kind whose controller owner has `owner_uid`, ordered by name.
    pub fn list_owned<T: Object>(&self, owner_uid: &str) -> Result<Vec<T>, StoreError> {
        let mut stmt =
            self.tx.prepare_cached("SELECT body FROM objects WHERE kind = ?1 AND owner_uid = ?2")?;
        let rows = stmt.query_map(params![T::KIND, owner_uid], |r| r.get::<_, String>(0))?;
        by_name(rows.map(|b| Ok(serde_json::from_str(&b?)?)).collect())
    }

    /// Like [`Txn::list_owned`], but only the objects that still matter to the owner's controller
    /// ([`Object::index_live`]): a Job's sync never reads its counted, finished pods again, so a
    /// sync costs the pods in play, not every pod the Job ever had.
    pub fn list_owned_live<T: Object>(&self, owner_uid: &str) -> Result<Vec<T>, StoreError> {
        let mut stmt = self
            .tx
            .prepare_cached("SELECT body FROM objects WHERE kind = ?1 AND owner_uid = ?2 AND live = 1")?;
        let rows = stmt.query_map(params![T::KIND, owner_uid], |r| r.get::<_, String>(0))?;
        by_name(rows.map(|b| Ok(serde_json::from_str(&b?)?)).collect())
    }

    /// Every object of a kind with the label `key=value`, ordered by name, read through the
    /// label index: the cost is the objects returned, not the objects of the kind.
    pub fn list_labelled<T: Object>(&self, key: &str, value: &str) -> Result<Vec<T>, StoreError> {
        let mut out = Vec::new();
        self.visit_by_name::<T>(Scan::Labelled(key, value), None, |o| {
            out.push(o);
            true
        })?;
        Ok(out)
    }

    /// Visits the objects of a kind that `scan` names, in name order, starting after the name
    /// `after`, until `visit` returns `false`. Rows are read lazily from an index in name order
    /// (the primary key, or the label index), so a page of a list decodes that page (plus what
    /// its selectors skip), not every object before or after it.
    pub fn visit_by_name<T: Object>(
        &self,
        scan: Scan<'_>,
        after: Option<&str>,
        mut visit: impl FnMut(T) -> bool,
    ) -> Result<(), StoreError> {
        let after = after.unwrap_or("");
        let mut stmt;
        let mut rows = match scan {
            Scan::All => {
                stmt = self.tx.prepare_cached(VISIT_ALL)?;
                stmt.query(params![T::KIND, after])?
            }
            Scan::Labelled(key, value) => {
                stmt = self.tx.prepare_cached(VISIT_LABELLED)?;
                stmt.query(params![T::KIND, key, value, after])?
            }
        };
        while let Some(row) = rows.next()? {
            let body: String = row.get(0)?;
            if !visit(serde_json::from_str(&body)?) {
                break;
            }
        }
        Ok(())
    }

    /// How many objects of a kind have a name after `after` (a list's `remainingItemCount`),
    /// counted in the primary key without reading a body.
    pub fn count_after<T: Object>(&self, after: &str) -> Result<usize, StoreError> {
        let n: i64 = self
            .tx
            .prepare_cached("SELECT COUNT(*) FROM objects WHERE kind = ?1 AND name > ?2")?
            .query_row(params![T::KIND, after], |r| r.get(0))?;
        Ok(n as usize)
    }

    /// Writes `labels` of the object `(kind, name)` to the label index.
    fn index_labels(
        &self,
        kind: &str,
        name: &str,
        labels: &std::collections::BTreeMap<String, String>,
    ) -> Result<(), StoreError> {
        let mut stmt = self.tx.prepare_cached(
            "INSERT OR IGNORE INTO labels (kind, key, value, name) VALUES (?1, ?2, ?3, ?4)",
        )?;
        for (k, v) in labels {
            stmt.execute(params![kind, k, v, name])?;
        }
        Ok(())
    }

    /// Removes every label of the object `(kind, name)` from the label index (`labels` are the
    /// ones it was indexed with).
    fn unindex_labels<'a>(
        &self,
        kind: &str,
        name: &str,
        labels: impl IntoIterator<Item = (&'a String, &'a String)>,
    ) -> Result<(), StoreError> {
        let mut stmt = self
            .tx
            .prepare_cached("DELETE FROM labels WHERE kind = ?1 AND key = ?2 AND value = ?3 AND name = ?4")?;
        for (k, v) in labels {
            stmt.execute(params![kind, k, v, name])?;
        }
        Ok(())
    }

    /// How many objects of a kind on `node` are in one of `phases` (at most two), without
    /// reading them (the scheduler's busy-slot count). Each phase is one seek in the
    /// `(kind, node, phase)` index, so the cost does not grow with the node's finished pods.
    pub fn count_on_node_in<T: Object>(&self, node: &str, phases: &[&str]) -> Result<usize, StoreError> {
        let a = phases.first().copied().unwrap_or("");
        let b = phases.get(1).copied().unwrap_or(a);
        let n: i64 = self
            .tx
            .prepare_cached(
                "SELECT COUNT(*) FROM objects WHERE kind = ?1 AND node = ?2 AND phase IN (?3, ?4)",
            )?
            .query_row(params![T::KIND, node, a, b], |r| r.get(0))?;
        Ok(n as usize)
    }

    /// The Workers in `phase` that are not cordoned (`spec.unschedulable`), by name, with their
    /// `spec.slots`, read without decoding the objects (the controller asks for every pod it
    /// creates).
    pub fn schedulable_workers(&self, phase: &str) -> Result<Vec<(String, i64)>, StoreError> {
        let mut stmt = self.tx.prepare_cached(
            "SELECT name, ifnull(json_extract(body, '$.spec.slots'), 0) FROM objects \
             WHERE kind = 'Worker' AND json_extract(body, '$.status.phase') = ?1 \
             AND ifnull(json_extract(body, '$.spec.unschedulable'), 0) = 0 ORDER BY name",
        )?;
        let rows = stmt.query_map(params![phase], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The objects of a kind on `node` whose phase is none of `phases` (at most two), oldest
    /// write first: a worker's unfinished pods, read from the `(kind, node, phase)` index without
    /// touching the bodies of the finished ones, however many the worker ran.
    pub fn list_on_node_not_in<T: Object>(&self, node: &str, phases: &[&str]) -> Result<Vec<T>, StoreError> {
        let a = phases.first().copied().unwrap_or("");
        let b = phases.get(1).copied().unwrap_or(a);
        let mut stmt = self.tx.prepare_cached(
            "SELECT body FROM objects WHERE kind = ?1 AND node = ?2 AND phase NOT IN (?3, ?4) ORDER BY revision",
        )?;
        let rows = stmt.query_map(params![T::KIND, node, a, b], |r| r.get::<_, String>(0))?;
        rows.map(|b| Ok(serde_json::from_str(&b?)?)).collect()
    }

    /// How many objects of a kind are in each indexed phase, by phase (for metrics).
    pub fn count_by_phase<T: Object>(&self) -> Result<Vec<(String, usize)>, StoreError> {
        let mut stmt = self.tx.prepare_cached(
            "SELECT ifnull(phase, ''), COUNT(*) FROM objects WHERE kind = ?1 GROUP BY phase ORDER BY phase",
        )?;
        let rows =
            stmt.query_map(params![T::KIND], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as usize)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// How many objects of a kind are in `phase` with no node, without reading them (pods
    /// waiting for the scheduler). One range of the `(kind, node, phase)` index: its cost grows
    /// with the objects counted, so the hot paths ask [`Txn::any_unbound_in`] instead.
    pub fn count_unbound_in<T: Object>(&self, phase: &str) -> Result<usize, StoreError> {
        let n: i64 = self
            .tx
            .prepare_cached("SELECT COUNT(*) FROM objects WHERE kind = ?1 AND phase = ?2 AND node IS NULL")?
            .query_row(params![T::KIND, phase], |r| r.get(0))?;
        Ok(n as usize)
    }

    /// Whether any object of a kind is in `phase` with no node: one seek in the
    /// `(kind, node, phase)` index, however many wait (the controller asks it for every pod it
    /// creates).
    pub fn any_unbound_in<T: Object>(&self, phase: &str) -> Result<bool, StoreError> {
        Ok(self
            .tx
            .prepare_cached("SELECT 1 FROM objects WHERE kind = ?1 AND node IS NULL AND phase = ?2 LIMIT 1")?
            .query_row(params![T::KIND, phase], |_| Ok(()))
            .optional()?
            .is_some())
    }

    /// Visits the objects of a kind in `phase` with no node, in the order they were created
    /// (a rescheduled pod keeps its place), until `visit` returns `false`. The rows are read
    /// lazily from the `(kind, node, phase)` index, whose entries are ordered by rowid within
    /// one key, so no sort runs and a visit that stops after k objects decodes k bodies: the
    /// scheduler's pass costs the pods it binds, not the pods that wait.
    pub fn visit_unbound_in<T: Object>(
        &self,
        phase: &str,
        mut visit: impl FnMut(T) -> bool,
    ) -> Result<(), StoreError> {
        let mut stmt = self.tx.prepare_cached(VISIT_UNBOUND)?;
        let mut rows = stmt.query(params![T::KIND, phase])?;
        while let Some(row) = rows.next()? {
            let body: String = row.get(0)?;
            if !visit(serde_json::from_str(&body)?) {
                break;
            }
        }
        Ok(())
    }

    /// The query plan SQLite picks for one of the ordered walks (tests check that each reads
    /// an index in order, with no sort and no scan of the kind).
    #[cfg(test)]
    fn query_plan(&self, sql: &str) -> Result<String, StoreError> {
        let mut stmt = self.tx.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))?;
        let unbound = std::iter::repeat_n(rusqlite::types::Null, stmt.parameter_count());
        let rows = stmt.query_map(rusqlite::params_from_iter(unbound), |r| r.get::<_, String>(3))?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?.join("; "))
    }

    /// Objects of a kind filtered by the indexed phase and node, ordered by revision (oldest
    /// write first). `node: Some(None)` selects objects with no node; `None` does not filter.
    pub fn list_where<T: Object>(
        &self,
        phase: Option<&str>,
        node: Option<Option<&str>>,
    ) -> Result<Vec<T>, StoreError> {
        // One statement per shape, so each can use an index (a `?2 IS NULL OR …` disjunction
        // cannot).
        let sql = match (phase.is_some(), node) {
            (false, None) => "SELECT body FROM objects WHERE kind = ?1 ORDER BY revision",
            (true, None) => "SELECT body FROM objects WHERE kind = ?1 AND phase = ?2 ORDER BY revision",
            (false, Some(None)) => {
                "SELECT body FROM objects WHERE kind = ?1 AND node IS NULL ORDER BY revision"
            }
            (true, Some(None)) => {
                "SELECT body FROM objects WHERE kind = ?1 AND phase = ?2 AND node IS NULL ORDER BY revision"
            }
            (false, Some(Some(_))) => {
                "SELECT body FROM objects WHERE kind = ?1 AND node = ?3 ORDER BY revision"
            }
            (true, Some(Some(_))) => {
                "SELECT body FROM objects WHERE kind = ?1 AND phase = ?2 AND node = ?3 ORDER BY revision"
            }
        };
        let mut stmt = self.tx.prepare_cached(sql)?;
        let node = node.flatten();
        let mut bound = vec![rusqlite::types::Value::Text(T::KIND.to_string())];
        bound.push(
            phase.map_or(rusqlite::types::Value::Null, |p| rusqlite::types::Value::Text(p.to_string())),
        );
        bound
            .push(node.map_or(rusqlite::types::Value::Null, |n| rusqlite::types::Value::Text(n.to_string())));
        // Bind only the parameters the statement names.
        let count = stmt.parameter_count();
        let rows = stmt.query_map(rusqlite::params_from_iter(bound.into_iter().take(count)), |r| {
            r.get::<_, String>(0)
        })?;
        rows.map(|b| Ok(serde_json::from_str(&b?)?)).collect()
    }

    /// Creates `obj`. Sets uid, resourceVersion, creationTimestamp and generation; a name is
    /// generated from `generateName` when `name` is empty (`<prefix><5 random chars>`).
    pub fn create<T: Object>(&mut self, mut obj: T, now: Time) -> Result<T, StoreError> {
        if obj.meta().name.is_empty() {
            let prefix = obj.meta().generate_name.clone().unwrap_or_default();
            loop {
                let candidate = format!("{prefix}{}", random_suffix());
                if self.get::<T>(&candidate)?.is_none() {
                    obj.meta_mut().name = candidate;
                    break;
                }
            }
        } else if self.exists(T::KIND, &obj.meta().name)? {
            return Err(StoreError::AlreadyExists { kind: T::KIND, name: obj.meta().name.clone() });
        }
        let rev = self.next_revision();
        let meta = obj.meta_mut();
        meta.uid = uuid::Uuid::new_v4().to_string();
        meta.resource_version = rev.to_string();
        meta.creation_timestamp = Some(now);
        meta.generation = Some(1);
        set_namespace::<T>(meta);
        let text = serde_json::to_string(&obj)?;
        self.tx.prepare_cached("INSERT INTO objects (kind, name, uid, owner_uid, phase, node, live, revision, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)")?.execute(params![
                T::KIND,
                obj.meta().name,
                obj.meta().uid,
                obj.meta().controller_ref().map(|r| r.uid.clone()),
                obj.index_phase(),
                obj.index_node(),
                obj.index_live(),
                rev,
                &*text
            ],
        )?;
        self.index_labels(T::KIND, &obj.meta().name, &obj.meta().labels)?;
        self.changes.push(Change {
            kind: T::KIND,
            change: ChangeType::Added,
            name: obj.meta().name.clone(),
            object: text.into(),
            revision: rev,
        });
        Ok(obj)
    }

    fn exists(&self, kind: &str, name: &str) -> Result<bool, StoreError> {
        Ok(self
            .tx
            .prepare_cached("SELECT 1 FROM objects WHERE kind = ?1 AND name = ?2")?
            .query_row(params![kind, name], |_| Ok(()))
            .optional()?
            .is_some())
    }

    /// Replaces `obj`. Its `resourceVersion` must be the stored one, else `Conflict`.
    /// Returns the object with its new `resourceVersion`.
    pub fn update<T: Object>(&mut self, mut obj: T) -> Result<T, StoreError> {
        let name = obj.meta().name.clone();
        // The stored labels come as the JSON text SQLite extracts from the body (serde wrote
        // it from a sorted map, so equal labels give equal text), to re-index only a change.
        let stored: Option<(i64, String, Option<String>)> = self
            .tx
            .prepare_cached(
                "SELECT revision, uid, json_extract(body, '$.metadata.labels') FROM objects \
                 WHERE kind = ?1 AND name = ?2",
            )?
            .query_row(params![T::KIND, name], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .optional()?;
        let Some((stored_rev, stored_uid, stored_labels)) = stored else {
            return Err(StoreError::NotFound { kind: T::KIND, name });
        };
        if obj.meta().resource_version != stored_rev.to_string()
            || (!obj.meta().uid.is_empty() && obj.meta().uid != stored_uid)
        {
            return Err(StoreError::Conflict { kind: T::KIND, name });
        }
        let rev = self.next_revision();
        obj.meta_mut().resource_version = rev.to_string();
        obj.meta_mut().uid = stored_uid;
        set_namespace::<T>(obj.meta_mut());
        let text = serde_json::to_string(&obj)?;
        self.tx.prepare_cached("UPDATE objects SET revision = ?3, body = ?4, owner_uid = ?5, phase = ?6, node = ?7, live = ?8 WHERE kind = ?1 AND name = ?2")?.execute(params![
                T::KIND,
                name,
                rev,
                &*text,
                obj.meta().controller_ref().map(|r| r.uid.clone()),
                obj.index_phase(),
                obj.index_node(),
                obj.index_live()
            ],
        )?;
        let labels = &obj.meta().labels;
        let replaced: Option<std::collections::BTreeMap<String, String>> = match stored_labels {
            Some(text) if text == serde_json::to_string(labels)? => None,
            Some(text) => Some(serde_json::from_str(&text)?),
            None if labels.is_empty() => None,
            None => Some(Default::default()),
        };
        if let Some(old) = replaced {
            self.unindex_labels(T::KIND, &name, old.iter().filter(|(k, v)| labels.get(*k) != Some(*v)))?;
            self.index_labels(T::KIND, &name, labels)?;
        }
        self.changes.push(Change {
            kind: T::KIND,
            change: ChangeType::Modified,
            name,
            object: text.into(),
            revision: rev,
        });
        Ok(obj)
    }

    /// Deletes the object named `name`; returns it as it was, or `None` when absent.
    pub fn delete<T: Object>(&mut self, name: &str) -> Result<Option<T>, StoreError> {
        let Some(obj) = self.get::<T>(name)? else { return Ok(None) };
        let rev = self.next_revision();
        self.deleted = true;
        self.tx
            .prepare_cached("DELETE FROM objects WHERE kind = ?1 AND name = ?2")?
            .execute(params![T::KIND, name])?;
        self.unindex_labels(T::KIND, name, &obj.meta().labels)?;
        if T::KIND == "Pod" {
            // The pod's log and its init containers' (`<uid>/<name>`, see `container_log_key`).
            let uid = &obj.meta().uid;
            self.tx
                .prepare_cached("DELETE FROM logs WHERE pod_uid = ?1 OR (pod_uid > ?2 AND pod_uid < ?3)")?
                .execute(params![uid, format!("{uid}/"), format!("{uid}0")])?;
        }
        if T::KIND == "Job" {
            let uid = &obj.meta().uid;
            self.tx.prepare_cached("DELETE FROM backoff WHERE job_uid = ?1")?.execute(params![uid])?;
            self.tx.prepare_cached("DELETE FROM index_backoff WHERE job_uid = ?1")?.execute(params![uid])?;
            self.tx.prepare_cached("DELETE FROM task_ledger WHERE job_uid = ?1")?.execute(params![uid])?;
            self.tx.prepare_cached("DELETE FROM task_tally WHERE job_uid = ?1")?.execute(params![uid])?;
        }
        self.changes.push(Change {
            kind: T::KIND,
            change: ChangeType::Deleted,
            name: name.to_string(),
            object: serde_json::to_string(&obj)?.into(),
            revision: rev,
        });
        Ok(Some(obj))
    }

    /// The uid of the object of a kind named `name`, without reading its body.
    pub fn uid_of<T: Object>(&self, name: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .tx
            .prepare_cached("SELECT uid FROM objects WHERE kind = ?1 AND name = ?2")?
            .query_row(params![T::KIND, name], |r| r.get(0))
            .optional()?)
    }

    /// Records in the task ledger of the Job `job_uid` that `tasks` (stable task ids) succeeded in
    /// the pod `pod` (uid `pod_uid`), which owns each success it records first. Returns, per
    /// task in order, [`LedgerEntry::New`] for the task's first success in that Job (counted in
    /// the tally's `succeeded`), or the owner of the success recorded before (an earlier call,
    /// or earlier in `tasks`): the caller decides with [`Txn::record_duplicate`] what that second
    /// success is. The rows go when the Job is deleted.
    pub fn record_tasks(
        &mut self,
        job_uid: &str,
        pod: &str,
        pod_uid: &str,
        tasks: &[String],
    ) -> Result<Vec<LedgerEntry>, StoreError> {
        let mut out = Vec::with_capacity(tasks.len());
        {
            let mut insert = self.tx.prepare_cached(
                "INSERT OR IGNORE INTO task_ledger (job_uid, task, pod, pod_uid) VALUES (?1, ?2, ?3, ?4)",
            )?;
            let mut owner = self
                .tx
                .prepare_cached("SELECT pod, pod_uid FROM task_ledger WHERE job_uid = ?1 AND task = ?2")?;
            for task in tasks {
                if insert.execute(params![job_uid, task, pod, pod_uid])? == 1 {
                    out.push(LedgerEntry::New);
                } else {
                    let (pod, uid) =
                        owner.query_row(params![job_uid, task], |r| Ok((r.get(0)?, r.get(1)?)))?;
                    out.push(LedgerEntry::Owned { pod, uid });
                }
            }
        }
        let new = out.iter().filter(|e| **e == LedgerEntry::New).count() as i64;
        if new > 0 {
            self.bump_tally(job_uid, new, 0)?;
        }
        Ok(out)
    }

    /// A task already in the Job's ledger succeeded again in `pod`: counts a duplicate, and with
    /// `take_over` makes `pod` the owner of the task's success (its owner failed or is gone).
    pub fn record_duplicate(
        &mut self,
        job_uid: &str,
        task: &str,
        pod: &str,
        pod_uid: &str,
        take_over: bool,
    ) -> Result<(), StoreError> {
        if take_over {
            self.tx
                .prepare_cached(
                    "UPDATE task_ledger SET pod = ?3, pod_uid = ?4 WHERE job_uid = ?1 AND task = ?2",
                )?
                .execute(params![job_uid, task, pod, pod_uid])?;
        }
        self.bump_tally(job_uid, 0, 1)
    }

    fn bump_tally(&mut self, job_uid: &str, new: i64, duplicates: i64) -> Result<(), StoreError> {
        self.tx
            .prepare_cached(
                "INSERT INTO task_tally (job_uid, succeeded, duplicates) VALUES (?1, ?2, ?3)
                 ON CONFLICT (job_uid) DO UPDATE SET succeeded = succeeded + ?2, duplicates = duplicates + ?3",
            )?
            .execute(params![job_uid, new, duplicates])?;
        Ok(())
    }

    /// The tally of a Job's task ledger: `(distinct tasks that succeeded, duplicate successes)`,
    /// or `None` when nothing was ever recorded for it. One row, however many tasks.
    /// Sets worker `name`'s credential digest (a registration replaces the previous one).
    pub fn set_worker_credential(&mut self, name: &str, sha256: &str) -> Result<(), StoreError> {
        self.tx
            .prepare_cached(
                "INSERT INTO worker_credentials (name, sha256) VALUES (?1, ?2)
                 ON CONFLICT (name) DO UPDATE SET sha256 = ?2",
            )?
            .execute(params![name, sha256])?;
        Ok(())
    }

    /// Worker `name`'s credential digest, if it registered.
    pub fn worker_credential(&self, name: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .tx
            .prepare_cached("SELECT sha256 FROM worker_credentials WHERE name = ?1")?
            .query_row(params![name], |r| r.get(0))
            .optional()?)
    }

    pub fn task_tally(&self, job_uid: &str) -> Result<Option<(i64, i64)>, StoreError> {
        Ok(self
            .tx
            .prepare_cached("SELECT succeeded, duplicates FROM task_tally WHERE job_uid = ?1")?
            .query_row(params![job_uid], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?)
    }

    /// Records an event.
    pub fn record_event(&mut self, event: &Event) -> Result<(), StoreError> {
        self.tx.prepare_cached("INSERT INTO events (involved_kind, involved_name, involved_uid, body) VALUES (?1, ?2, ?3, ?4)")?.execute(params![
                event.involved_kind,
                event.involved_name,
                event.involved_uid,
                serde_json::to_string(event)?
            ],
        )?;
        Ok(())
    }

    /// Removes the events recorded before `cutoff` among the `limit` oldest rows, and returns
    /// how many it removed. Events are stored in the order they happen, so repeating the call
    /// while it returns `limit` removes every expired event, and each call reads at most `limit`
    /// rows however large the table is. (An event recorded out of order, older than one before
    /// it, waits until the newer one expires too.)
    pub fn delete_events_before(&mut self, cutoff: Time, limit: usize) -> Result<usize, StoreError> {
        let cutoff = cutoff.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        let n = self
            .tx
            .prepare_cached(
                "DELETE FROM events WHERE id IN (SELECT id FROM \
                 (SELECT id, body FROM events ORDER BY id LIMIT ?2) \
                 WHERE julianday(json_extract(body, '$.timestamp')) < julianday(?1))",
            )?
            .execute(params![cutoff, i64::try_from(limit).unwrap_or(i64::MAX)])?;
        Ok(n)
    }

    /// The newest `limit` events of every object, oldest first.
    pub fn recent_events(&self, limit: usize) -> Result<Vec<Event>, StoreError> {
        let mut stmt = self.tx.prepare_cached("SELECT body FROM events ORDER BY id DESC LIMIT ?1")?;
        let rows =
            stmt.query_map(params![i64::try_from(limit).unwrap_or(i64::MAX)], |r| r.get::<_, String>(0))?;
        let mut events: Vec<Event> =
            rows.map(|b| Ok(serde_json::from_str(&b?)?)).collect::<Result<_, StoreError>>()?;
        events.reverse();
        Ok(events)
    }

    /// Events about the object `kind`/`name`, oldest first. When `uid` is given, only the events
    /// of that incarnation of the name.
    /// Events with their ids (which only grow), oldest first: those about the object `kind`
    /// `name` (and `uid`, if given) when `about` is given, else the newest `limit` of all.
    pub fn events_with_ids(
        &self,
        about: Option<(&str, &str, Option<&str>)>,
        limit: usize,
    ) -> Result<Vec<(i64, Event)>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let decode = |r: &rusqlite::Row<'_>| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?));
        let rows: Vec<(i64, String)> = match about {
            Some((kind, name, uid)) => self
                .tx
                .prepare_cached(
                    "SELECT id, body FROM events WHERE involved_kind = ?1 AND involved_name = ?2 AND (?3 IS NULL OR involved_uid = ?3) ORDER BY id DESC LIMIT ?4",
                )?
                .query_map(params![kind, name, uid, limit], decode)?
                .collect::<Result<_, _>>()?,
            None => self
                .tx
                .prepare_cached("SELECT id, body FROM events ORDER BY id DESC LIMIT ?1")?
                .query_map(params![limit], decode)?
                .collect::<Result<_, _>>()?,
        };
        let mut events = rows
            .into_iter()
            .map(|(id, b)| Ok((id, serde_json::from_str(&b)?)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        events.reverse();
        Ok(events)
    }

    pub fn events_for(&self, kind: &str, name: &str, uid: Option<&str>) -> Result<Vec<Event>, StoreError> {
        let mut stmt = self.tx.prepare_cached(
            "SELECT body FROM events WHERE involved_kind = ?1 AND involved_name = ?2 AND (?3 IS NULL OR involved_uid = ?3) ORDER BY id",
        )?;
        let rows = stmt.query_map(params![kind, name, uid], |r| r.get::<_, String>(0))?;
        rows.map(|b| Ok(serde_json::from_str(&b?)?)).collect()
    }

    /// The persisted back-off record of a Job: (failures after last success, last failure time).
    pub fn backoff(&self, job_uid: &str) -> Result<(u32, Option<Time>), StoreError> {
        let row: Option<(u32, Option<String>)> = self
            .tx
            .prepare_cached("SELECT failures, last_failure FROM backoff WHERE job_uid = ?1")?
            .query_row(params![job_uid], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        Ok(match row {
            None => (0, None),
            Some((n, t)) => (
                n,
                t.and_then(|t| chrono::DateTime::parse_from_rfc3339(&t).ok())
                    .map(|t| t.with_timezone(&chrono::Utc)),
            ),
        })
    }

    /// The per-index back-off records of a Job (backoffLimitPerIndex), by index.
    pub fn index_backoff(&self, job_uid: &str) -> Result<Vec<IndexBackoff>, StoreError> {
        let mut stmt = self.tx.prepare_cached(
            "SELECT idx, failed, ignored, last_failure, exponent FROM index_backoff WHERE job_uid = ?1 ORDER BY idx",
        )?;
        let rows = stmt.query_map(params![job_uid], |r| {
            Ok(IndexBackoff {
                index: r.get(0)?,
                failed: r.get(1)?,
                ignored: r.get(2)?,
                last_failure: r
                    .get::<_, Option<String>>(3)?
                    .and_then(|t| chrono::DateTime::parse_from_rfc3339(&t).ok())
                    .map(|t| t.with_timezone(&chrono::Utc)),
                exponent: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Writes one index's back-off record (replacing the old one).
    pub fn set_index_backoff(&mut self, job_uid: &str, record: &IndexBackoff) -> Result<(), StoreError> {
        self.tx
            .prepare_cached(
                "INSERT INTO index_backoff (job_uid, idx, failed, ignored, last_failure, exponent)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (job_uid, idx) DO UPDATE SET failed = ?3, ignored = ?4, last_failure = ?5, exponent = ?6",
            )?
            .execute(params![
                job_uid,
                record.index,
                record.failed,
                record.ignored,
                record.last_failure.map(|t| t.to_rfc3339()),
                record.exponent
            ])?;
        Ok(())
    }

    /// Deletes every per-index back-off record of a Job (it finished).
    pub fn clear_index_backoff(&mut self, job_uid: &str) -> Result<(), StoreError> {
        self.tx.prepare_cached("DELETE FROM index_backoff WHERE job_uid = ?1")?.execute(params![job_uid])?;
        Ok(())
    }

    /// Persists the back-off record of a Job; a zero record deletes it.
    pub fn set_backoff(
        &mut self,
        job_uid: &str,
        failures: u32,
        last_failure: Option<Time>,
    ) -> Result<(), StoreError> {
        if failures == 0 && last_failure.is_none() {
            self.tx.prepare_cached("DELETE FROM backoff WHERE job_uid = ?1")?.execute(params![job_uid])?;
        } else {
            self.tx
                .prepare_cached(
                    "INSERT INTO backoff (job_uid, failures, last_failure) VALUES (?1, ?2, ?3)
                 ON CONFLICT (job_uid) DO UPDATE SET failures = ?2, last_failure = ?3",
                )?
                .execute(params![job_uid, failures, last_failure.map(|t| t.to_rfc3339())])?;
        }
        Ok(())
    }

    /// Appends bytes to a pod's log, then drops the oldest chunks beyond [`LOG_LIMIT_BYTES`].
    /// `offset` is the byte offset of `data` in the pod's whole output; writing the same offset
    /// again is ignored (bytes before the stored end are skipped), so a worker may resend a chunk
    /// after a lost reply.
    /// A chunk that starts before 0 or ends past [`MAX_LOG_OFFSET`] is refused
    /// ([`StoreError::LogOffset`]).
    pub fn append_log(&mut self, pod_uid: &str, offset: i64, data: &[u8]) -> Result<(), StoreError> {
        let end = i64::try_from(data.len())
            .ok()
            .and_then(|len| offset.checked_add(len))
            .filter(|end| offset >= 0 && *end <= MAX_LOG_OFFSET)
            .ok_or(StoreError::LogOffset { offset, len: data.len() })?;
        let current_end: i64 = self
            .tx
            .prepare_cached("SELECT COALESCE(MAX(offset + length(data)), 0) FROM logs WHERE pod_uid = ?1")?
            .query_row(params![pod_uid], |r| r.get(0))?;
        if end <= current_end {
            return Ok(());
        }
        let skip = (current_end - offset).max(0);
        self.tx
            .prepare_cached("INSERT INTO logs (pod_uid, offset, data) VALUES (?1, ?2, ?3)")?
            .execute(params![pod_uid, offset + skip, &data[skip as usize..]])?;
        self.tx
            .prepare_cached("DELETE FROM logs WHERE pod_uid = ?1 AND offset + length(data) <= ?2")?
            .execute(params![pod_uid, end - LOG_LIMIT_BYTES])?;
        Ok(())
    }

    /// A pod's log from byte `from` on: the bytes and the offset after them. Bytes dropped by the
    /// limit are skipped.
    pub fn read_log(&self, pod_uid: &str, from: i64) -> Result<(Vec<u8>, i64), StoreError> {
        let mut stmt = self.tx.prepare_cached(
            "SELECT offset, data FROM logs WHERE pod_uid = ?1 AND offset + length(data) > ?2 ORDER BY offset",
        )?;
        let rows =
            stmt.query_map(params![pod_uid, from], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?)))?;
        let mut out = Vec::new();
        let mut next = from;
        for row in rows {
            let (offset, data) = row?;
            let skip = (next - offset).max(0) as usize;
            if skip < data.len() {
                out.extend_from_slice(&data[skip..]);
            }
            next = next.max(offset + data.len() as i64);
        }
        Ok((out, next))
    }
}

/// The log key of a pod's init container `container` (the pod's own log is keyed by its uid):
/// `<uid>/<container>`, deleted with the pod.
pub fn container_log_key(pod_uid: &str, container: &str) -> String {
    format!("{pod_uid}/{container}")
}

fn random_suffix() -> String {
    // Kubernetes' generateName alphabet: consonants and digits without look-alikes.
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let bytes = uuid::Uuid::new_v4().into_bytes();
    bytes[..5].iter().map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char).collect()
}

#[cfg(test)]
mod tests;
