//! The coordinator's shared state and the fan-out of committed changes.
//!
//! Every write goes through [`Coordinator::commit`]. After the store commits, each change is
//! published, in commit order, to:
//! - API watchers (`get -w`), through a broadcast channel;
//! - the Job controller, which re-syncs the Job itself or the Job that owns a changed pod;
//! - the scheduler, when a pod is waiting for a worker or a slot was freed;
//! - the session of the worker a pod is bound to, so the worker learns of new pods and
//!   termination requests as pushed events.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use drover_api::Time;
use drover_store::{Change, ChangeType, Store, StoreError, Txn};
use serde::Deserialize;
use tokio::sync::{Notify, broadcast, mpsc};
use tokio_util::sync::CancellationToken;

use crate::Config;
use crate::controller::{Key, Request};

/// One change as watchers see it: Kubernetes' watch event shape.
#[derive(Debug, Clone)]
pub struct WatchEvent {
    /// `Job`, `Pod` or `Worker`.
    pub kind: &'static str,
    /// `ADDED`, `MODIFIED` or `DELETED`.
    pub type_: &'static str,
    /// The object's name, for watchers' field selectors.
    pub name: String,
    /// The object's labels, for watchers' label selectors.
    pub labels: Arc<BTreeMap<String, String>>,
    /// The object, as JSON text (sent to watchers as it is).
    pub object: Arc<str>,
    /// The store revision of the change (the object's new `resourceVersion`).
    pub revision: i64,
}

/// How many recent changes the coordinator keeps so that a watch can resume from a
/// `resourceVersion` (Kubernetes' watch cache); a watch from an older one is told 410 Gone and
/// lists again.
pub const WATCH_HISTORY: usize = 4096;

/// The recent changes, oldest first, and the newest revision no longer among them: a watch can
/// resume from any revision at or after `forgotten`.
struct History {
    events: std::collections::VecDeque<WatchEvent>,
    forgotten: i64,
}

/// A watch resumed from a `resourceVersion` ([`Coordinator::watch_from`]).
pub struct Resumed {
    /// The changes after that revision that happened before the subscription.
    pub replay: Vec<WatchEvent>,
    /// Every change from the subscription on.
    pub rx: broadcast::Receiver<WatchEvent>,
}

/// The few fields of a changed object that routing and watchers need, decoded once per change
/// (unknown fields are skipped, not built).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct View {
    metadata: MetaView,
    spec: SpecView,
    status: StatusView,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct MetaView {
    labels: BTreeMap<String, String>,
    owner_references: Vec<OwnerView>,
    deletion_timestamp: Option<serde::de::IgnoredAny>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct OwnerView {
    kind: String,
    name: String,
    controller: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct SpecView {
    node_name: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct StatusView {
    phase: Option<String>,
    /// Set by the worker's first report: a Pending pod that has one is the worker's own
    /// report (its init containers run), not news for it.
    #[serde(rename = "startTime")]
    start_time: Option<serde::de::IgnoredAny>,
}

impl View {
    /// The name of the controller owner when it is of `kind`.
    fn controller_owner(&self, kind: &str) -> Option<&str> {
        self.metadata
            .owner_references
            .iter()
            .find(|r| r.controller == Some(true))
            .filter(|r| r.kind == kind)
            .map(|r| r.name.as_str())
    }
}

/// The sending end of a worker's assignment session.
type Push = mpsc::UnboundedSender<SessionMessage>;

/// What goes down a worker's assignment session.
#[derive(Debug, Clone)]
pub(crate) enum SessionMessage {
    /// A pod's JSON text, as the store wrote it (a newly bound pod or a termination request).
    Pod(Arc<str>),
    /// These pods (uids) should check the drain rule now (see [`drover_api::pod::drain_rechecks`]).
    RecheckDrain(Vec<String>),
}

/// The shared coordinator. Cheap to clone.
#[derive(Clone)]
pub struct Coordinator {
    inner: Arc<Inner>,
    /// The resolved configuration.
    pub config: Arc<Config>,
    /// Cancelled when the coordinator shuts down.
    pub shutdown: CancellationToken,
}

struct Inner {
    store: Arc<Store>,
    watch: broadcast::Sender<WatchEvent>,
    controller: mpsc::UnboundedSender<Request>,
    controller_rx: Mutex<Option<mpsc::UnboundedReceiver<Request>>>,
    scheduler: Notify,
    /// Each worker's assignment stream: the pods' JSON text as the store wrote it, with the
    /// session's id (a newer stream of the same worker replaces an older one).
    sessions: Mutex<HashMap<String, (u64, Push)>>,
    /// The last session id handed out.
    session_ids: std::sync::atomic::AtomicU64,
    started: Time,
    leases: crate::workers::Leases,
    ledger: crate::workers::LedgerStats,
    logs: tokio::sync::watch::Sender<u64>,
    history: Mutex<History>,
    /// The dashboard's read-only broker connections ([`crate::queues`]).
    brokers: crate::queues::Brokers,
}

impl Coordinator {
    /// Builds the shared state around an opened store.
    pub fn new(store: Arc<Store>, config: Config, shutdown: CancellationToken) -> Coordinator {
        let (watch, _) = broadcast::channel(16 * 1024);
        let (controller, controller_rx) = mpsc::unbounded_channel();
        // Changes before this process started are not known: a watch resumes only from now on.
        let forgotten = store.revision().unwrap_or(0);
        Coordinator {
            inner: Arc::new(Inner {
                store,
                watch,
                controller,
                controller_rx: Mutex::new(Some(controller_rx)),
                scheduler: Notify::new(),
                sessions: Mutex::new(HashMap::new()),
                session_ids: std::sync::atomic::AtomicU64::new(0),
                started: now(),
                leases: crate::workers::Leases::default(),
                ledger: crate::workers::LedgerStats::default(),
                logs: tokio::sync::watch::channel(0).0,
                history: Mutex::new(History { events: Default::default(), forgotten }),
                brokers: crate::queues::Brokers::default(),
            }),
            config: Arc::new(config),
            shutdown,
        }
    }

    /// The store, for reads.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The dashboard's read-only broker connections.
    pub(crate) fn brokers(&self) -> &crate::queues::Brokers {
        &self.inner.brokers
    }

    /// When this coordinator process started.
    pub fn started(&self) -> Time {
        self.inner.started
    }

    /// Runs `f` in one store transaction, publishes its changes after the commit, and returns
    /// once the commit is durable (the store's group commit): what an API call acknowledges
    /// (a created object, a status report, a registration) survives an OS crash. The changes
    /// are published before the flush, so the controller and watchers do not wait for it.
    pub fn commit<R>(&self, f: impl FnOnce(&mut Txn<'_>) -> Result<R, StoreError>) -> Result<R, StoreError> {
        let mut views = Vec::new();
        let (res, changes, ticket) = self.inner.store.write_deferred_then(f, |c| views = self.fan_out(c))?;
        self.route(changes, views, None);
        self.inner.store.wait_durable(ticket)?;
        Ok(res)
    }

    /// [`commit`](Self::commit) for the sync of the Job `syncing` (if `Some`): its changes do
    /// not queue that Job again. The sync already acted on everything it read, and asks for a
    /// later sync itself when it needs one; without this, every sync that writes would be
    /// followed by one that finds nothing to do. Everything else (watchers, other objects'
    /// queues, the scheduler, worker sessions) gets the changes as usual.
    ///
    /// It does not wait for the flush: the controller acknowledges nothing to anyone, and the
    /// next durable commit (a worker's report on a pod it created, say) flushes it too. An OS
    /// crash before then loses the sync's work, which the restarted controller redoes.
    pub(crate) fn commit_syncing<R>(
        &self,
        syncing: Option<&str>,
        f: impl FnOnce(&mut Txn<'_>) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        let mut views = Vec::new();
        let (res, changes, _ticket) = self.inner.store.write_deferred_then(f, |c| views = self.fan_out(c))?;
        self.route(changes, views, syncing);
        Ok(res)
    }

    /// Hands committed changes to watchers and keeps them in the history. Called under the
    /// store's lock, so watchers see changes in revision order, and a list read (which takes
    /// the same lock) is either before a change or after it was published.
    fn fan_out(&self, changes: &[Change]) -> Vec<View> {
        let mut history = self.inner.history.lock().unwrap_or_else(|p| p.into_inner());
        let mut views = Vec::with_capacity(changes.len());
        for change in changes {
            let type_ = match change.change {
                ChangeType::Added => "ADDED",
                ChangeType::Modified => "MODIFIED",
                ChangeType::Deleted => "DELETED",
            };
            let view: View = serde_json::from_str(&change.object).unwrap_or_default();
            // Watchers never see a broker password (the worker's assignments need it).
            let object = match drover_api::meta::redact_urls(&change.object) {
                std::borrow::Cow::Borrowed(_) => change.object.clone(),
                std::borrow::Cow::Owned(text) => Arc::from(text),
            };
            let event = WatchEvent {
                kind: change.kind,
                type_,
                name: change.name.clone(),
                labels: Arc::new(view.metadata.labels.clone()),
                object,
                revision: change.revision,
            };
            if history.events.len() >= self.config.watch_history.max(1)
                && let Some(old) = history.events.pop_front()
            {
                history.forgotten = history.forgotten.max(old.revision);
            }
            history.events.push_back(event.clone());
            let _ = self.inner.watch.send(event);
            views.push(view);
        }
        views
    }

    /// Routes committed changes to the controllers, the scheduler and the workers' sessions.
    fn route(&self, changes: Vec<Change>, views: Vec<View>, syncing: Option<&str>) {
        for (change, view) in changes.into_iter().zip(views) {
            match change.kind {
                "Job" => {
                    if change.change != ChangeType::Deleted && syncing != Some(change.name.as_str()) {
                        self.enqueue_job(&change.name);
                    }
                    // A CronJob re-syncs when one of its Jobs changes (its `active` list,
                    // history, and a Forbid run waiting for the active one to finish).
                    if let Some(owner) = view.controller_owner(drover_api::cronjob::KIND) {
                        self.enqueue(Key::CronJob(owner.to_string()));
                    }
                }
                "CronJob" if change.change != ChangeType::Deleted => {
                    self.enqueue(Key::CronJob(change.name.clone()));
                }
                "Pod" => self.route_pod_change(&change, &view, syncing),
                _ => {}
            }
        }
    }

    /// Subscribes to the changes after revision `from`: those already made are replayed from
    /// the history, the rest arrive on the receiver. `Err(oldest)` when the history no longer
    /// reaches back to `from` (Kubernetes' 410 Gone: "too old resource version").
    pub fn watch_from(&self, from: i64) -> Result<Resumed, i64> {
        let history = self.inner.history.lock().unwrap_or_else(|p| p.into_inner());
        if from < history.forgotten {
            return Err(history.forgotten);
        }
        let rx = self.inner.watch.subscribe();
        let replay = history.events.iter().filter(|e| e.revision > from).cloned().collect();
        Ok(Resumed { replay, rx })
    }

    fn route_pod_change(&self, change: &Change, view: &View, syncing: Option<&str>) {
        if let Some(owner) = view.controller_owner(drover_api::job::KIND)
            && syncing != Some(owner)
        {
            self.enqueue_job(owner);
        }
        let phase = view.status.phase.as_deref().unwrap_or_default();
        let terminal = phase == drover_api::pod::phase::SUCCEEDED || phase == drover_api::pod::phase::FAILED;
        let terminating = view.metadata.deletion_timestamp.is_some();
        match view.spec.node_name.as_deref() {
            None if change.change != ChangeType::Deleted => self.kick_scheduler(),
            Some(node) => {
                if terminal || change.change == ChangeType::Deleted {
                    // A slot may have been freed.
                    self.kick_scheduler();
                }
                // The worker needs a newly bound pod and a termination request; its own
                // Running reports need not echo back. The text goes as the store wrote it.
                let news = (phase == drover_api::pod::phase::PENDING && view.status.start_time.is_none())
                    || terminating;
                if change.change != ChangeType::Deleted && !terminal && news {
                    self.push_to_worker(node, SessionMessage::Pod(change.object.clone()));
                }
            }
            None => {}
        }
    }

    /// Asks the Job controller to sync `job`.
    pub fn enqueue_job(&self, job: &str) {
        self.enqueue(Key::Job(job.to_string()));
    }

    /// Asks the controllers to sync `key`.
    pub fn enqueue(&self, key: Key) {
        let _ = self.inner.controller.send(Request::Now(key));
    }

    /// Asks the Job controller to sync `job` within [`crate::controller::COALESCE`], together
    /// with every other such request for it meanwhile (after a commit to its task ledger).
    pub fn enqueue_job_soon(&self, job: &str) {
        let _ = self.inner.controller.send(Request::Soon(Key::Job(job.to_string())));
    }

    /// Takes the controller's queue receiver; the controller calls this once.
    pub(crate) fn take_controller_queue(&self) -> Option<mpsc::UnboundedReceiver<Request>> {
        self.inner.controller_rx.lock().unwrap_or_else(|p| p.into_inner()).take()
    }

    /// Wakes the scheduler.
    pub fn kick_scheduler(&self) {
        self.inner.scheduler.notify_one();
    }

    /// Resolves when the scheduler has been woken.
    pub(crate) async fn scheduler_kicked(&self) {
        self.inner.scheduler.notified().await;
    }

    pub(crate) fn leases(&self) -> &crate::workers::Leases {
        &self.inner.leases
    }

    /// The task ledger's counters since this coordinator started.
    pub fn ledger_stats(&self) -> &crate::workers::LedgerStats {
        &self.inner.ledger
    }

    /// Resolves-on-change handle for pod log appends (`logs -f`).
    pub(crate) fn log_notifications(&self) -> tokio::sync::watch::Receiver<u64> {
        self.inner.logs.subscribe()
    }

    /// Tells log followers that some pod's log grew.
    pub(crate) fn notify_logs(&self) {
        self.inner.logs.send_modify(|n| *n += 1);
    }

    /// Subscribes to every committed change.
    pub fn watch(&self) -> broadcast::Receiver<WatchEvent> {
        self.inner.watch.subscribe()
    }

    /// Opens the assignment session of `worker`, replacing any previous one (whose stream then
    /// ends). The session lasts as long as the returned [`Session`]: dropping it (the stream
    /// ended, or its client went away) removes it, unless a newer one replaced it.
    pub(crate) fn open_session(&self, worker: &str) -> Session {
        let (tx, rx) = mpsc::unbounded_channel();
        let id = self.inner.session_ids.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        self.inner.sessions.lock().unwrap_or_else(|p| p.into_inner()).insert(worker.to_string(), (id, tx));
        Session { rx, guard: SessionGuard { coordinator: self.clone(), worker: worker.to_string(), id } }
    }

    /// Ends the session of `worker`, if any: its stream ends (the worker reconnects if it is
    /// still there). For a worker that was deregistered or declared lost.
    pub(crate) fn end_session(&self, worker: &str) {
        self.inner.sessions.lock().unwrap_or_else(|p| p.into_inner()).remove(worker);
    }

    /// How many assignment sessions are open (metrics and tests).
    pub fn session_count(&self) -> usize {
        self.inner.sessions.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    fn push_to_worker(&self, worker: &str, message: SessionMessage) {
        let sessions = self.inner.sessions.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, tx)) = sessions.get(worker) {
            let _ = tx.send(message);
        }
    }

    /// Tells the pods of a draining Job that every active bound pod reports the queue drained,
    /// so that they check the drain rule now ([`drover_api::pod::drain_rechecks`]): one message
    /// per worker, naming its pods. Workers without an open session miss it; their pods check
    /// again on their own, later.
    pub(crate) fn push_drain_rechecks(&self, rechecks: &[(&str, &str)]) {
        let mut by_worker: HashMap<&str, Vec<String>> = HashMap::new();
        for (worker, uid) in rechecks {
            by_worker.entry(worker).or_default().push(uid.to_string());
        }
        for (worker, uids) in by_worker {
            self.push_to_worker(worker, SessionMessage::RecheckDrain(uids));
        }
    }
}

/// A worker's open assignment session: the pods pushed to it, until it is dropped.
pub(crate) struct Session {
    /// The pods' JSON text, as the store wrote it. Ends when the session is replaced or ended.
    pub(crate) rx: mpsc::UnboundedReceiver<SessionMessage>,
    guard: SessionGuard,
}

impl Session {
    /// Splits the session into its receiver and the guard that removes it when dropped.
    pub(crate) fn into_parts(self) -> (mpsc::UnboundedReceiver<SessionMessage>, SessionGuard) {
        (self.rx, self.guard)
    }
}

/// Removes its session from the coordinator when dropped, unless a newer one replaced it.
pub(crate) struct SessionGuard {
    coordinator: Coordinator,
    worker: String,
    id: u64,
}

impl Drop for SessionGuard {
    fn drop(&mut self) {
        let mut sessions = self.coordinator.inner.sessions.lock().unwrap_or_else(|p| p.into_inner());
        if sessions.get(&self.worker).is_some_and(|(id, _)| *id == self.id) {
            sessions.remove(&self.worker);
        }
    }
}

/// The wall clock, read only at the edge (the controllers take `now` as an argument).
pub fn now() -> Time {
    chrono::Utc::now()
}
