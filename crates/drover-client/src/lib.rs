//! A typed HTTP client for the coordinator's API, shared by the CLI, the worker agent and the
//! tests. Only this crate (and the coordinator's `api` module) knows the paths.
//!
//! # Timeouts
//! No call can hang on a half-open connection:
//! - connecting takes at most 5 s;
//! - an ordinary request takes at most [`DEFAULT_TIMEOUT`] (30 s; [`Client::with_timeout`]),
//!   from connecting to the end of the reply's body, and then fails with
//!   [`ClientError::Timeout`];
//! - a stream (a watch, a worker's assignment stream) waits at most that long for the reply's
//!   head, and then for as long as it lasts, but fails with [`ClientError::StreamIdle`] when it
//!   sends nothing, not even the coordinator's keepalive (an empty line every
//!   [`STREAM_KEEPALIVE`](drover_api::protocol::STREAM_KEEPALIVE)), for
//!   [`STREAM_IDLE_TIMEOUT`](drover_api::protocol::STREAM_IDLE_TIMEOUT)
//!   ([`Client::with_stream_idle_timeout`]). The empty lines never reach the caller;
//! - a followed log (`logs -f`) is plain text, with no room for keepalives: TCP keepalive
//!   probes (after 15 s idle, every 5 s, 3 tries) end it when the peer is gone.

use std::time::Duration;

use std::sync::Arc;

use drover_api::meta::Secret;
use drover_api::protocol::{
    Assignment, HeartbeatReply, PodReport, Registration, ReportResult, StatusReport, TaskRecord,
    TaskRecordResult,
};
use drover_api::resource::{CRONJOBS, DEFAULT_NAMESPACE, EVENTS, JOBS, PODS, WORKERS};
use drover_api::{CronJob, Event, Job, Pod, Worker};
use futures::{Stream, StreamExt, TryStreamExt};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

/// The server used when neither `--server` nor `DROVER_SERVER` is given.
pub const DEFAULT_SERVER: &str = "http://127.0.0.1:7070";

/// Errors of the client.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The coordinator could not be reached. The message carries every cause (a refused
    /// connection, an untrusted certificate), since reqwest's own names only the first.
    #[error("cannot reach the coordinator at {server}: {}", causes(source))]
    Connect {
        /// The server URL.
        server: String,
        /// The transport error.
        #[source]
        source: reqwest::Error,
    },
    /// The coordinator answered with an error `Status`.
    #[error("{message}")]
    Api {
        /// The HTTP status code.
        code: u16,
        /// `NotFound`, `Invalid`, `Conflict`, …
        reason: String,
        /// The server's message.
        message: String,
        /// Every cause, for validation errors.
        causes: Vec<String>,
    },
    /// The reply could not be decoded.
    #[error("bad reply from the coordinator: {0}")]
    Decode(String),
    /// A batch of status reports this one was part of could not be sent; it may be sent again.
    #[error("the batch of status reports failed: {0}")]
    Batch(String),
    /// A batch of task records this one was part of could not be sent, or its answer was lost:
    /// the tasks may or may not be recorded, and may be recorded again (a task recorded twice
    /// is counted once, as a duplicate).
    #[error("the batch of task records failed: {0}")]
    TaskBatch(String),
    /// The CA certificates could not be read, or the TLS client could not be set up.
    #[error("{0}")]
    Tls(String),
    /// A worker call on a client that was not given the worker's name.
    #[error("{0} needs the worker's name: build the client with with_report_batching(worker)")]
    NoWorker(&'static str),
    /// The coordinator did not answer within the request timeout ([`Client::with_timeout`]).
    #[error("the coordinator at {server} did not answer within {after:?} (is the connection half-open?)")]
    Timeout {
        /// The server URL.
        server: String,
        /// The timeout.
        after: std::time::Duration,
    },
    /// A stream sent nothing, not even a keepalive, for its idle timeout: the connection is
    /// presumed dead ([`Client::with_stream_idle_timeout`]).
    #[error(
        "the stream from the coordinator at {server} was silent for {after:?}: the connection is presumed dead"
    )]
    StreamIdle {
        /// The server URL.
        server: String,
        /// The idle timeout.
        after: std::time::Duration,
    },
}

/// `err` and its causes, joined by `: `.
fn causes(err: &reqwest::Error) -> String {
    let mut text = err.to_string();
    let mut cause = std::error::Error::source(err);
    while let Some(err) = cause {
        text.push_str(": ");
        text.push_str(&err.to_string());
        cause = err.source();
    }
    text
}

impl ClientError {
    /// True for a `NotFound` answer.
    pub fn is_not_found(&self) -> bool {
        matches!(self, ClientError::Api { code: 404, .. })
    }

    /// True when the coordinator refused the request for want of the right token (401).
    pub fn is_unauthorized(&self) -> bool {
        matches!(self, ClientError::Api { code: 401, .. })
    }

    /// True for a `Conflict` answer (409): a stale resourceVersion, or a worker's report or
    /// record about a pod it no longer holds.
    pub fn is_conflict(&self) -> bool {
        matches!(self, ClientError::Api { code: 409, .. })
    }

    /// True when a worker's report or record about a pod was refused: the pod is not its any
    /// more (409), or is gone (404). It must not be sent again.
    pub fn is_refused_pod(&self) -> bool {
        self.is_conflict() || self.is_not_found()
    }

    /// True when the coordinator answered at all (any API error), as opposed to the request
    /// not reaching it or its answer not arriving.
    pub fn is_answer(&self) -> bool {
        matches!(self, ClientError::Api { .. })
    }

    /// The HTTP status code of an API error.
    pub fn code(&self) -> Option<u16> {
        match self {
            ClientError::Api { code, .. } => Some(*code),
            _ => None,
        }
    }
}

/// One event of a watch.
#[derive(Debug, Clone, Deserialize)]
pub struct WatchEvent<T> {
    /// `ADDED`, `MODIFIED` or `DELETED`.
    #[serde(rename = "type")]
    pub type_: String,
    /// The object.
    pub object: T,
}

#[derive(Deserialize)]
struct List<T> {
    items: Vec<T>,
    #[serde(default)]
    metadata: ListMeta,
}

#[derive(Default, Deserialize)]
struct ListMeta {
    #[serde(rename = "continue", default)]
    continue_: Option<String>,
}

/// How many objects a list asks for per request (kubectl's `--chunk-size` default): a list of
/// 100,000 pods is 200 requests of bounded size, not one reply that both sides hold whole.
pub const LIST_CHUNK: usize = 500;

/// The client. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    server: String,
    /// The bearer token sent with every call; `Debug` does not show it.
    token: Option<Secret>,
    /// With [`Client::with_report_batching`], status reports go through one batching task.
    batcher: Option<Arc<Batcher>>,
    /// The bound on an ordinary request ([`DEFAULT_TIMEOUT`]).
    timeout: Duration,
    /// The bound on a stream's silence ([`STREAM_IDLE_TIMEOUT`]).
    stream_idle: Duration,
    /// Objects per list request ([`LIST_CHUNK`]).
    list_chunk: usize,
    /// The worker credential [`Client::register_worker`] received, sent with every call (clones
    /// share it, so a re-registration updates them all).
    credential: Arc<std::sync::Mutex<Option<Secret>>>,
}

/// The HTTP client's settings, but for TLS roots.
fn http_builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .tcp_nodelay(true)
        .tcp_keepalive(Duration::from_secs(15))
        .tcp_keepalive_interval(Duration::from_secs(5))
        .tcp_keepalive_retries(3)
        // Under the coordinator's 15 s header-read timeout, which also closes idle connections:
        // the client drops an idle connection first, so no request is sent on one the server is
        // closing.
        .pool_idle_timeout(Duration::from_secs(10))
        // The coordinator speaks HTTP/1.1 (and says so by ALPN over TLS).
        .http1_only()
}

fn http_client(builder: reqwest::ClientBuilder) -> Result<reqwest::Client, ClientError> {
    builder.build().map_err(|e| ClientError::Tls(format!("cannot set up the HTTP client: {e}")))
}

/// How long an ordinary request may take, from connecting to the end of the reply's body.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

pub use drover_api::protocol::STREAM_IDLE_TIMEOUT;

/// Sends a worker's pod status reports in batches: while one batch is in flight, the reports
/// that arrive queue up and leave together in the next, in one request and one store
/// transaction. An idle worker's report leaves at once, alone, so batching adds no latency.
#[derive(Debug)]
struct Batcher {
    worker: String,
    queue: std::sync::Mutex<Option<mpsc::UnboundedSender<Queued>>>,
    /// The same for task records ([`Client::record_tasks`]), on a task of their own.
    tasks: std::sync::Mutex<Option<mpsc::UnboundedSender<QueuedTasks>>>,
    /// Ends the linger of a batch of lazy task records ([`Client::flush_task_records`]).
    flush: Arc<tokio::sync::Notify>,
    /// How long a batch of lazy task records may wait for more ([`TASK_RECORD_LINGER`]).
    linger: Duration,
}

impl Batcher {
    /// The batching of `worker`'s calls; its tasks start with the first call.
    fn new(worker: &str, linger: Duration) -> Batcher {
        Batcher {
            worker: worker.to_string(),
            queue: std::sync::Mutex::new(None),
            tasks: std::sync::Mutex::new(None),
            flush: Arc::new(tokio::sync::Notify::new()),
            linger,
        }
    }
}

/// A call waiting for its batch, which can be told that the batch will not be sent.
trait Batched {
    fn fail(self, err: ClientError);
}

impl Batched for Queued {
    fn fail(self, err: ClientError) {
        let _ = self.done.send(Err(err));
    }
}

impl Batched for QueuedTasks {
    fn fail(self, err: ClientError) {
        let _ = self.done.send(Err(err));
    }
}

/// Hands `item` to the batching task behind `slot`, starting one (`start`, given its receiver)
/// on first use. If the task is gone (its runtime ended), `item` fails with `stopped` and the
/// next call starts another.
fn hand_to<T: Batched>(
    slot: &std::sync::Mutex<Option<mpsc::UnboundedSender<T>>>,
    item: T,
    stopped: ClientError,
    start: impl FnOnce(mpsc::UnboundedReceiver<T>),
) {
    let mut queue = slot.lock().unwrap_or_else(|p| p.into_inner());
    let tx = queue.get_or_insert_with(|| {
        let (tx, rx) = mpsc::unbounded_channel();
        start(rx);
        tx
    });
    if let Err(mpsc::error::SendError(item)) = tx.send(item) {
        *queue = None;
        item.fail(stopped);
    }
}

/// One [`Client::record_tasks`] call waiting for its batch.
#[derive(Debug)]
struct QueuedTasks {
    pod: String,
    uid: String,
    tasks: Vec<String>,
    /// Sent at once; a lazy record ([`Client::record_tasks_lazily`]) may wait for company.
    urgent: bool,
    done: oneshot::Sender<Result<Vec<bool>, ClientError>>,
}

/// The most task ids one batch of task records carries.
const MAX_BATCH_TASKS: usize = 4096;

/// How long a batch of lazy task records may wait for more before it leaves
/// ([`Client::record_tasks_lazily`]).
pub const TASK_RECORD_LINGER: Duration = Duration::from_millis(10);

/// A batch of lazy task records this big leaves without lingering.
const LINGER_ENOUGH: usize = 256;

/// Sends a worker's task records in batches, as [`run_batches`] does for status reports. The
/// calls about one pod (with one uid) in a batch become one [`TaskRecord`], and each call gets
/// its own slice of the answer back.
///
/// A batch leaves at once if one of its calls is urgent; a batch of lazy calls only waits up to
/// [`TASK_RECORD_LINGER`] for more (each request costs the coordinator a transaction and a
/// flush of its log, so fewer, bigger batches leave it more of the CPU), and leaves earlier
/// when an urgent call joins, when it is big enough, or when a caller waits for its answer
/// ([`Client::flush_task_records`]).
async fn run_task_batches(
    client: Client,
    worker: String,
    flush: Arc<tokio::sync::Notify>,
    linger: Duration,
    mut rx: mpsc::UnboundedReceiver<QueuedTasks>,
) {
    while let Some(first) = rx.recv().await {
        let mut n = first.tasks.len();
        let mut urgent = first.urgent;
        let mut items = vec![first];
        while n < MAX_BATCH_TASKS
            && let Ok(more) = rx.try_recv()
        {
            n += more.tasks.len();
            urgent |= more.urgent;
            items.push(more);
        }
        if !urgent && n < LINGER_ENOUGH {
            let linger = tokio::time::sleep(linger);
            tokio::pin!(linger);
            loop {
                tokio::select! {
                    biased;
                    more = rx.recv() => {
                        let Some(more) = more else { break };
                        n += more.tasks.len();
                        let urgent = more.urgent;
                        items.push(more);
                        if urgent || n >= LINGER_ENOUGH {
                            break;
                        }
                    }
                    _ = flush.notified() => break,
                    _ = &mut linger => break,
                }
            }
        }
        // Per call: which record it joined, where its tasks start there, and how many.
        let mut records: Vec<TaskRecord> = Vec::new();
        let mut at: Vec<(usize, usize, usize)> = Vec::with_capacity(items.len());
        for item in &mut items {
            let index = match records.iter().position(|r| r.uid == item.uid && r.pod == item.pod) {
                Some(i) => i,
                None => {
                    let (pod, uid) = (item.pod.clone(), item.uid.clone());
                    records.push(TaskRecord { pod, uid, tasks: Vec::new() });
                    records.len() - 1
                }
            };
            at.push((index, records[index].tasks.len(), item.tasks.len()));
            records[index].tasks.append(&mut item.tasks);
        }
        let outcome = client.record_task_batch(&worker, &records).await;
        let outcome = match outcome {
            Ok(results)
                if results.len() == records.len()
                    && results
                        .iter()
                        .zip(&records)
                        .all(|(res, rec)| res.code >= 300 || res.first.len() == rec.tasks.len()) =>
            {
                Ok(results)
            }
            Ok(results) => Err(format!("{} results for {} task records", results.len(), records.len())),
            Err(err) => Err(err.to_string()),
        };
        for (item, (index, start, len)) in items.into_iter().zip(at) {
            let reply = match &outcome {
                Ok(results) if results[index].code < 300 => {
                    Ok(results[index].first[start..start + len].to_vec())
                }
                Ok(results) => Err(ClientError::Api {
                    code: results[index].code,
                    reason: "Conflict".into(),
                    message: results[index].message.clone(),
                    causes: Vec::new(),
                }),
                Err(why) => Err(ClientError::TaskBatch(why.clone())),
            };
            let _ = item.done.send(reply);
        }
    }
}

#[derive(Debug)]
struct Queued {
    report: PodReport,
    done: oneshot::Sender<Result<(), ClientError>>,
}

/// The most reports one batch carries.
const MAX_BATCH: usize = 256;

async fn run_batches(client: Client, worker: String, mut rx: mpsc::UnboundedReceiver<Queued>) {
    while let Some(first) = rx.recv().await {
        let mut items = vec![first];
        while items.len() < MAX_BATCH
            && let Ok(more) = rx.try_recv()
        {
            items.push(more);
        }
        let reports: Vec<PodReport> = items.iter().map(|q| q.report.clone()).collect();
        match client.report_statuses(&worker, &reports).await {
            Ok(results) if results.len() == items.len() => {
                for (item, result) in items.into_iter().zip(results) {
                    let outcome = if result.code < 300 {
                        Ok(())
                    } else {
                        Err(ClientError::Api {
                            code: result.code,
                            reason: "Conflict".into(),
                            message: result.message,
                            causes: Vec::new(),
                        })
                    };
                    let _ = item.done.send(outcome);
                }
            }
            Ok(results) => {
                let why = format!("{} results for {} reports", results.len(), items.len());
                for item in items {
                    let _ = item.done.send(Err(ClientError::Batch(why.clone())));
                }
            }
            Err(err) => {
                let why = err.to_string();
                for item in items {
                    let _ = item.done.send(Err(ClientError::Batch(why.clone())));
                }
            }
        }
    }
}

impl Client {
    /// A client for the coordinator at `server` (`http://host:port` or `https://host:port`). An
    /// `https` server's certificate must chain to the system's roots, or to a CA given with
    /// [`Client::with_ca_pem`].
    pub fn new(server: &str) -> Client {
        let https = server.starts_with("https:");
        // The system's roots are read only for an https server (reading them costs a few ms).
        // Unreadable system roots leave none: an https call then fails with the reason.
        let http = http_client(http_builder().tls_built_in_root_certs(https))
            .or_else(|_| http_client(http_builder().tls_built_in_root_certs(false)))
            .unwrap_or_default();
        Client {
            http,
            server: server.trim_end_matches('/').to_string(),
            token: None,
            batcher: None,
            timeout: DEFAULT_TIMEOUT,
            stream_idle: STREAM_IDLE_TIMEOUT,
            list_chunk: LIST_CHUNK,
            credential: Arc::default(),
        }
    }

    /// The same client, listing `chunk` objects per request (at least 1) instead of
    /// [`LIST_CHUNK`].
    #[must_use]
    pub fn with_list_chunk(mut self, chunk: usize) -> Client {
        self.list_chunk = chunk.max(1);
        self
    }

    /// The same client, with `timeout` as the bound on each ordinary request (from connecting
    /// to the end of the reply's body) and on the wait for a stream's reply head.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Client {
        self.timeout = timeout;
        self
    }

    /// The same client, ending a stream (watch, assignments) with [`ClientError::StreamIdle`]
    /// once it has sent nothing for `idle`. Keep it a few times the coordinator's keepalive
    /// period.
    #[must_use]
    pub fn with_stream_idle_timeout(mut self, idle: Duration) -> Client {
        self.stream_idle = idle;
        self
    }

    /// The same client, sending [`Client::report_status`] and [`Client::record_tasks`] calls in
    /// batches for `worker` (see the batch endpoints). Each batching task starts with its first
    /// call.
    #[must_use]
    pub fn with_report_batching(mut self, worker: &str) -> Client {
        self.batcher = Some(Arc::new(Batcher::new(worker, TASK_RECORD_LINGER)));
        self
    }

    /// The same client, letting a batch of lazy task records wait up to `linger` for more
    /// ([`TASK_RECORD_LINGER`] by default). Call after [`Client::with_report_batching`].
    #[must_use]
    pub fn with_task_record_linger(mut self, linger: Duration) -> Client {
        if let Some(batcher) = &self.batcher {
            self.batcher = Some(Arc::new(Batcher::new(&batcher.worker, linger)));
        }
        self
    }

    /// The same client, sending `token` as a bearer token on every call (none when `None` or
    /// empty).
    #[must_use]
    pub fn with_token(mut self, token: Option<&str>) -> Client {
        self.token = token.and_then(Secret::new);
        self
    }

    /// The same client, trusting only the CA certificates in `pem` (one or more PEM
    /// `CERTIFICATE` blocks, kubectl's `--certificate-authority`) for an `https` server, instead
    /// of the system's roots. A self-signed server certificate is its own CA. Call it before the
    /// client's first call.
    pub fn with_ca_pem(mut self, pem: &[u8]) -> Result<Client, ClientError> {
        let certs = reqwest::Certificate::from_pem_bundle(pem)
            .map_err(|e| ClientError::Tls(format!("cannot read the CA certificates: {e}")))?;
        if certs.is_empty() {
            return Err(ClientError::Tls("no PEM certificate (BEGIN CERTIFICATE) in the CA file".into()));
        }
        let builder = certs
            .into_iter()
            .fold(http_builder().tls_built_in_root_certs(false), |b, cert| b.add_root_certificate(cert));
        self.http = http_client(builder)?;
        Ok(self)
    }

    /// The server URL.
    pub fn server(&self) -> &str {
        &self.server
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.server, path)
    }

    /// An ordinary request: the whole exchange within the request timeout.
    async fn send(&self, req: reqwest::RequestBuilder) -> Result<reqwest::Response, ClientError> {
        self.execute(req.timeout(self.timeout)).await
    }

    /// A streamed reply: its head within the request timeout; its body is the caller's (an
    /// NDJSON stream bounds its silence, see [`ndjson`]).
    async fn send_stream(&self, req: reqwest::RequestBuilder) -> Result<reqwest::Response, ClientError> {
        tokio::time::timeout(self.timeout, self.execute(req)).await.unwrap_or_else(|_| Err(self.timed_out()))
    }

    fn timed_out(&self) -> ClientError {
        ClientError::Timeout { server: self.server.clone(), after: self.timeout }
    }

    /// A transport error: a timeout once connected, or a failure to reach the server.
    fn transport(&self, source: reqwest::Error) -> ClientError {
        if source.is_timeout() && !source.is_connect() {
            self.timed_out()
        } else {
            ClientError::Connect { server: self.server.clone(), source }
        }
    }

    /// An error while reading a reply's body.
    fn body_error(&self, err: reqwest::Error) -> ClientError {
        if err.is_timeout() { self.timed_out() } else { ClientError::Decode(err.to_string()) }
    }

    async fn execute(&self, req: reqwest::RequestBuilder) -> Result<reqwest::Response, ClientError> {
        let req = match &self.token {
            Some(token) => req.bearer_auth(token.expose()),
            None => req,
        };
        let credential = self.credential.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let req = match credential {
            Some(credential) => {
                req.header(drover_api::protocol::WORKER_CREDENTIAL_HEADER, credential.expose())
            }
            None => req,
        };
        let resp = req.send().await.map_err(|source| self.transport(source))?;
        if resp.status().is_success() {
            return Ok(resp);
        }
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        // A reply that is not a `Status` (plain HTTP to an HTTPS coordinator gets Go's one line
        // of text; a proxy's error page) is shown as it is when it is short.
        let text = text.trim();
        let plain = (!text.is_empty() && text.len() <= 200 && !body.is_object()).then_some(text);
        let http_reason = status.canonical_reason().unwrap_or("Unknown").replace(' ', "");
        Err(ClientError::Api {
            code: status.as_u16(),
            reason: body["reason"].as_str().map_or(http_reason, str::to_string),
            message: body["message"].as_str().or(plain).unwrap_or("the server returned an error").to_string(),
            causes: body["details"]["causes"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|c| {
                            let message = c["message"].as_str()?;
                            Some(match c["field"].as_str() {
                                Some(field) => format!("{field}: {message}"),
                                None => message.to_string(),
                            })
                        })
                        .collect()
                })
                .unwrap_or_default(),
        })
    }

    async fn json<T: DeserializeOwned>(&self, req: reqwest::RequestBuilder) -> Result<T, ClientError> {
        self.send(req).await?.json().await.map_err(|e| self.body_error(e))
    }

    /// `GET /healthz`.
    pub async fn healthz(&self) -> Result<(), ClientError> {
        self.send(self.http.get(self.url("/healthz"))).await.map(|_| ())
    }

    // === jobs ===

    /// Creates a Job from its JSON form.
    pub async fn create_job(&self, job: &Value) -> Result<Job, ClientError> {
        self.json(self.http.post(self.url(&JOBS.collection_path(Some(DEFAULT_NAMESPACE)))).json(job)).await
    }

    /// Replaces the mutable fields of a Job (`apply`).
    pub async fn replace_job(&self, name: &str, job: &Value) -> Result<Job, ClientError> {
        self.json(self.http.put(self.url(&JOBS.object_path(name))).json(job)).await
    }

    /// One Job.
    pub async fn get_job(&self, name: &str) -> Result<Job, ClientError> {
        self.json(self.http.get(self.url(&JOBS.object_path(name)))).await
    }

    /// Jobs matching a label selector (`""` for all).
    pub async fn list_jobs(&self, selector: &str) -> Result<Vec<Job>, ClientError> {
        self.list(&JOBS.collection_path(Some(DEFAULT_NAMESPACE)), selector).await
    }

    /// Deletes a Job; `cascade: false` orphans its pods.
    pub async fn delete_job(&self, name: &str, cascade: bool) -> Result<Job, ClientError> {
        let policy = if cascade { "Background" } else { "Orphan" };
        self.json(self.http.delete(self.url(&JOBS.object_path(name))).query(&[("propagationPolicy", policy)]))
            .await
    }

    // === cronjobs ===

    /// Creates a CronJob from its JSON form.
    pub async fn create_cronjob(&self, cronjob: &Value) -> Result<CronJob, ClientError> {
        self.json(self.http.post(self.url(&CRONJOBS.collection_path(Some(DEFAULT_NAMESPACE)))).json(cronjob))
            .await
    }

    /// Replaces a CronJob's spec, labels and annotations (`apply`, `suspend`, `resume`).
    pub async fn replace_cronjob(&self, name: &str, cronjob: &Value) -> Result<CronJob, ClientError> {
        self.json(self.http.put(self.url(&CRONJOBS.object_path(name))).json(cronjob)).await
    }

    /// One CronJob.
    pub async fn get_cronjob(&self, name: &str) -> Result<CronJob, ClientError> {
        self.json(self.http.get(self.url(&CRONJOBS.object_path(name)))).await
    }

    /// CronJobs matching a label selector (`""` for all).
    pub async fn list_cronjobs(&self, selector: &str) -> Result<Vec<CronJob>, ClientError> {
        self.list(&CRONJOBS.collection_path(Some(DEFAULT_NAMESPACE)), selector).await
    }

    /// Deletes a CronJob; `cascade: false` orphans its Jobs.
    pub async fn delete_cronjob(&self, name: &str, cascade: bool) -> Result<CronJob, ClientError> {
        let policy = if cascade { "Background" } else { "Orphan" };
        self.json(
            self.http.delete(self.url(&CRONJOBS.object_path(name))).query(&[("propagationPolicy", policy)]),
        )
        .await
    }

    // === pods ===

    /// One pod.
    pub async fn get_pod(&self, name: &str) -> Result<Pod, ClientError> {
        self.json(self.http.get(self.url(&PODS.object_path(name)))).await
    }

    /// Pods matching a label selector.
    pub async fn list_pods(&self, selector: &str) -> Result<Vec<Pod>, ClientError> {
        self.list(&PODS.collection_path(Some(DEFAULT_NAMESPACE)), selector).await
    }

    /// A pod's log so far.
    pub async fn pod_log(&self, name: &str) -> Result<Vec<u8>, ClientError> {
        self.container_log(name, None).await
    }

    /// The log so far of a pod's `container` (an init container's, or the pod's own).
    pub async fn container_log(&self, name: &str, container: Option<&str>) -> Result<Vec<u8>, ClientError> {
        let query: Vec<(&str, &str)> = container.map(|c| ("container", c)).into_iter().collect();
        let resp = self
            .send(self.http.get(self.url(&format!("{}/log", PODS.object_path(name)))).query(&query))
            .await?;
        Ok(resp.bytes().await.map_err(|e| self.body_error(e))?.to_vec())
    }

    /// A pod's log, followed until the pod ends.
    pub async fn follow_pod_log(
        &self,
        name: &str,
    ) -> Result<impl Stream<Item = Result<Vec<u8>, ClientError>> + use<>, ClientError> {
        self.follow_container_log(name, None).await
    }

    /// The log of a pod's `container`, followed until it ends (an init container's: until it
    /// succeeded or the pod ended).
    pub async fn follow_container_log(
        &self,
        name: &str,
        container: Option<&str>,
    ) -> Result<impl Stream<Item = Result<Vec<u8>, ClientError>> + use<>, ClientError> {
        let mut query = vec![("follow", "true")];
        query.extend(container.map(|c| ("container", c)));
        let resp = self
            .send_stream(self.http.get(self.url(&format!("{}/log", PODS.object_path(name)))).query(&query))
            .await?;
        Ok(resp.bytes_stream().map(|r| r.map(|b| b.to_vec()).map_err(|e| ClientError::Decode(e.to_string()))))
    }

    /// The newest events of every object (up to 1,000), oldest first.
    pub async fn recent_events(&self) -> Result<Vec<Event>, ClientError> {
        self.core_events(&[]).await
    }

    /// Events about an object, oldest first.
    pub async fn events(&self, kind: &str, name: &str, uid: Option<&str>) -> Result<Vec<Event>, ClientError> {
        let mut fields = format!("involvedObject.kind={kind},involvedObject.name={name}");
        if let Some(uid) = uid {
            fields.push_str(&format!(",involvedObject.uid={uid}"));
        }
        self.core_events(&[("fieldSelector", fields)]).await
    }

    /// core/v1 Events, read back into Drover's form, oldest first.
    async fn core_events(&self, query: &[(&str, String)]) -> Result<Vec<Event>, ClientError> {
        let path = EVENTS.collection_path(Some(DEFAULT_NAMESPACE));
        let list: List<Value> = self.json(self.http.get(self.url(&path)).query(query)).await?;
        let mut items = list.items;
        // The resourceVersion of an event is its id, in the order the events happened.
        items.sort_by_key(|e| e["metadata"]["resourceVersion"].as_str().and_then(|v| v.parse::<i64>().ok()));
        Ok(items.iter().filter_map(Event::from_core_v1).collect())
    }

    // === workers ===

    /// Every worker.
    pub async fn list_workers(&self, selector: &str) -> Result<Vec<Worker>, ClientError> {
        self.list(&WORKERS.collection_path(None), selector).await
    }

    /// Registers a worker.
    /// The coordinator's reply carries the worker's credential, which this client (and its
    /// clones) then send with every call: the calls about this worker and its pods need it.
    pub async fn register_worker(&self, reg: &Registration) -> Result<Worker, ClientError> {
        let resp = self.send(self.http.post(self.url(&WORKERS.collection_path(None))).json(reg)).await?;
        let credential = resp
            .headers()
            .get(drover_api::protocol::WORKER_CREDENTIAL_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(Secret::new);
        if credential.is_some() {
            *self.credential.lock().unwrap_or_else(|p| p.into_inner()) = credential;
        }
        resp.json().await.map_err(|e| self.body_error(e))
    }

    /// Heartbeats. `registered: false` means the worker must register again; `drain: true`
    /// that a drain was requested.
    pub async fn heartbeat(&self, name: &str) -> Result<HeartbeatReply, ClientError> {
        match self
            .json::<HeartbeatReply>(
                self.http.post(self.url(&format!("{}/heartbeat", WORKERS.object_path(name)))),
            )
            .await
        {
            Ok(reply) => Ok(reply),
            Err(ClientError::Api { code: 410 | 404, .. }) => Ok(HeartbeatReply::default()),
            Err(e) => Err(e),
        }
    }

    /// Asks a worker to drain (it stops taking pods, finishes or stops the running ones within
    /// its drain timeout, deregisters and exits). A worker asks this of itself on SIGTERM.
    pub async fn drain_worker(&self, name: &str) -> Result<Worker, ClientError> {
        self.json(self.http.post(self.url(&format!("{}/drain", WORKERS.object_path(name))))).await
    }

    /// Marks a worker unschedulable (`cordon`) or schedulable again (`uncordon`).
    pub async fn cordon_worker(&self, name: &str, cordon: bool) -> Result<Worker, ClientError> {
        let verb = if cordon { "cordon" } else { "uncordon" };
        self.json(self.http.post(self.url(&format!("{}/{verb}", WORKERS.object_path(name))))).await
    }

    /// Removes a worker from the fleet (the last step of a drain).
    pub async fn deregister_worker(&self, name: &str) -> Result<Worker, ClientError> {
        self.json(self.http.delete(self.url(&WORKERS.object_path(name)))).await
    }

    /// The worker's assignment stream.
    pub async fn assignments(
        &self,
        name: &str,
    ) -> Result<impl Stream<Item = Result<Assignment, ClientError>> + use<>, ClientError> {
        let resp = self
            .send_stream(self.http.get(self.url(&format!("{}/assignments", WORKERS.object_path(name)))))
            .await?;
        Ok(ndjson::<Assignment>(resp, self.stream_idle, self.server.clone()))
    }

    /// Reports a pod's status (in a batch with others, after [`Client::with_report_batching`]).
    pub async fn report_status(&self, pod: &str, report: &StatusReport) -> Result<(), ClientError> {
        let Some(batcher) = &self.batcher else {
            return self
                .send(self.http.put(self.url(&format!("{}/status", PODS.object_path(pod)))).json(report))
                .await
                .map(|_| ());
        };
        let (done, wait) = oneshot::channel();
        let queued = Queued { report: PodReport { pod: pod.to_string(), report: report.clone() }, done };
        let stopped = || ClientError::Batch("the batching task stopped".into());
        hand_to(&batcher.queue, queued, stopped(), |rx| {
            tokio::spawn(run_batches(Client { batcher: None, ..self.clone() }, batcher.worker.clone(), rx));
        });
        wait.await.unwrap_or_else(|_| Err(stopped()))
    }

    /// Sends several status reports of `worker`'s pods in one request (one store transaction).
    /// The results are in the reports' order.
    pub async fn report_statuses(
        &self,
        worker: &str,
        reports: &[PodReport],
    ) -> Result<Vec<ReportResult>, ClientError> {
        self.json(self.http.post(self.url(&format!("{}/status", WORKERS.object_path(worker)))).json(reports))
            .await
    }

    /// Records that `tasks` (stable task ids) of the pod `pod` (uid `uid`) succeeded, in its
    /// Job's task ledger, and returns per task whether it is the first success of that task in
    /// the Job (false: a duplicate, which is not counted again). The worker acks a task only
    /// after this returned `Ok`: then a killed worker loses no count.
    ///
    /// `Err(ClientError::Api { code: 409, .. })` when the coordinator refused (the pod is gone,
    /// has another uid, is not bound to this worker, or is terminal): the tasks must not be
    /// acked. `Err(ClientError::TaskBatch(_))` when the answer did not arrive (the tasks may or
    /// may not be recorded). Needs [`Client::with_report_batching`] (the worker's name).
    ///
    /// Calls made while a request is in flight leave together in the next one (one request,
    /// one store transaction), so many pods recording thousands of tasks a second make a few
    /// hundred requests, not one per task.
    pub async fn record_tasks(
        &self,
        pod: &str,
        uid: &str,
        tasks: &[String],
    ) -> Result<Vec<bool>, ClientError> {
        self.queue_task_records(pod, uid, tasks, true).await
    }

    /// [`record_tasks`](Self::record_tasks) for a caller that need not hear back soon (a
    /// draining pod goes on with its next task meanwhile): the request may wait up to
    /// [`TASK_RECORD_LINGER`] for other records to share it. The call is queued when this
    /// function is called, before the future is first polled. A caller that comes to wait for
    /// the answer calls [`flush_task_records`](Self::flush_task_records).
    pub fn record_tasks_lazily(
        &self,
        pod: &str,
        uid: &str,
        tasks: &[String],
    ) -> impl Future<Output = Result<Vec<bool>, ClientError>> + Send + use<> {
        self.queue_task_records(pod, uid, tasks, false)
    }

    /// Sends the lazy task records waiting for company now.
    pub fn flush_task_records(&self) {
        if let Some(batcher) = &self.batcher {
            batcher.flush.notify_one();
        }
    }

    fn queue_task_records(
        &self,
        pod: &str,
        uid: &str,
        tasks: &[String],
        urgent: bool,
    ) -> impl Future<Output = Result<Vec<bool>, ClientError>> + Send + use<> {
        let stopped = || ClientError::TaskBatch("the batching task stopped".into());
        let wait = match &self.batcher {
            None => Err(ClientError::NoWorker("record_tasks")),
            Some(_) if tasks.is_empty() => Ok(None),
            Some(batcher) => {
                let (done, wait) = oneshot::channel();
                let queued = QueuedTasks {
                    pod: pod.to_string(),
                    uid: uid.to_string(),
                    tasks: tasks.to_vec(),
                    urgent,
                    done,
                };
                hand_to(&batcher.tasks, queued, stopped(), |rx| {
                    tokio::spawn(run_task_batches(
                        Client { batcher: None, ..self.clone() },
                        batcher.worker.clone(),
                        batcher.flush.clone(),
                        batcher.linger,
                        rx,
                    ));
                });
                Ok(Some(wait))
            }
        };
        async move {
            match wait? {
                None => Ok(Vec::new()),
                Some(wait) => wait.await.unwrap_or_else(|_| Err(stopped())),
            }
        }
    }

    /// Sends several task records of `worker`'s pods in one request (one store transaction).
    /// The results are in the records' order.
    pub async fn record_task_batch(
        &self,
        worker: &str,
        records: &[TaskRecord],
    ) -> Result<Vec<TaskRecordResult>, ClientError> {
        self.json(self.http.post(self.url(&format!("{}/tasks", WORKERS.object_path(worker)))).json(records))
            .await
    }

    /// Appends a chunk to a pod's log at `offset`. A worker's client
    /// ([`Client::with_report_batching`]) names its worker, so the coordinator refuses a chunk
    /// for a pod bound elsewhere.
    pub async fn append_log(
        &self,
        pod: &str,
        uid: &str,
        offset: u64,
        data: Vec<u8>,
    ) -> Result<(), ClientError> {
        self.append_container_log(pod, uid, None, offset, data).await
    }

    /// [`Client::append_log`] to the log of the pod's init container `container`.
    pub async fn append_container_log(
        &self,
        pod: &str,
        uid: &str,
        container: Option<&str>,
        offset: u64,
        data: Vec<u8>,
    ) -> Result<(), ClientError> {
        let mut query = vec![("offset", offset.to_string()), ("uid", uid.to_string())];
        if let Some(container) = container {
            query.push(("container", container.to_string()));
        }
        if let Some(batcher) = &self.batcher {
            query.push(("worker", batcher.worker.clone()));
        }
        self.send(
            self.http.post(self.url(&format!("{}/log", PODS.object_path(pod)))).query(&query).body(data),
        )
        .await
        .map(|_| ())
    }

    // === generic ===

    /// Lists in pages of `list_chunk` objects, following `continue` (as kubectl does), in name
    /// order. The pages are not one snapshot: an object created or deleted meanwhile may be in
    /// or out of the result, as with kubectl's chunked lists.
    async fn list<T: DeserializeOwned>(&self, path: &str, selector: &str) -> Result<Vec<T>, ClientError> {
        let mut items = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut query =
                vec![("labelSelector", selector.to_string()), ("limit", self.list_chunk.to_string())];
            if let Some(token) = token.take() {
                query.push(("continue", token));
            }
            let page: List<T> = self.json(self.http.get(self.url(path)).query(&query)).await?;
            items.extend(page.items);
            match page.metadata.continue_ {
                Some(next) if !next.is_empty() => token = Some(next),
                _ => return Ok(items),
            }
        }
    }

    /// Watches a kind (`jobs`, `pods`, `workers`): the current objects as `ADDED`, then every
    /// change, until the server closes the stream.
    pub async fn watch<T: DeserializeOwned + 'static>(
        &self,
        resource: &str,
        selector: &str,
        name: Option<&str>,
    ) -> Result<impl Stream<Item = Result<WatchEvent<T>, ClientError>> + use<T>, ClientError> {
        let info = drover_api::resource::lookup(resource).unwrap_or(&WORKERS);
        let path = info.collection_path(Some(DEFAULT_NAMESPACE));
        let path = path.as_str();
        let mut q = vec![("watch", "true".to_string()), ("labelSelector", selector.to_string())];
        if let Some(name) = name {
            q.push(("fieldSelector", format!("metadata.name={name}")));
        }
        let resp = self.send_stream(self.http.get(self.url(path)).query(&q)).await?;
        Ok(ndjson::<WatchEvent<T>>(resp, self.stream_idle, self.server.clone()))
    }
}

/// Splits a response body into lines and decodes each as JSON. Blank lines (the coordinator's
/// keepalives) are skipped. A body silent for `idle` yields [`ClientError::StreamIdle`], and
/// the stream ends there.
fn ndjson<T: DeserializeOwned + 'static>(
    resp: reqwest::Response,
    idle: Duration,
    server: String,
) -> impl Stream<Item = Result<T, ClientError>> {
    let bytes = resp.bytes_stream().map_err(|e| ClientError::Decode(e.to_string()));
    ndjson_lines(bytes.boxed(), idle, server)
}

fn ndjson_lines<T: DeserializeOwned + 'static>(
    bytes: futures::stream::BoxStream<'static, Result<bytes::Bytes, ClientError>>,
    idle: Duration,
    server: String,
) -> impl Stream<Item = Result<T, ClientError>> {
    futures::stream::unfold(Some((bytes, Vec::<u8>::new())), move |state| {
        let server = server.clone();
        async move {
            let (mut bytes, mut buf) = state?;
            loop {
                if let Some(pos) = buf.iter().position(|b| *b == b'\n') {
                    let line: Vec<u8> = buf.drain(..=pos).collect();
                    if line.iter().all(u8::is_ascii_whitespace) {
                        continue;
                    }
                    let item =
                        serde_json::from_slice::<T>(&line).map_err(|e| ClientError::Decode(e.to_string()));
                    return Some((item, Some((bytes, buf))));
                }
                match tokio::time::timeout(idle, bytes.next()).await {
                    Ok(Some(Ok(chunk))) => buf.extend_from_slice(&chunk),
                    Ok(Some(Err(e))) => return Some((Err(e), Some((bytes, buf)))),
                    Ok(None) => return None,
                    Err(_) => return Some((Err(ClientError::StreamIdle { server, after: idle }), None)),
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ca_file_must_hold_a_certificate() {
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap().cert.pem();
        let two = format!("{cert}{cert}");
        let cases: &[(&str, &str, Option<&str>)] = &[
            ("one certificate", &cert, None),
            ("a bundle of two", &two, None),
            ("empty", "", Some("no PEM certificate (BEGIN CERTIFICATE) in the CA file")),
            (
                "a private key only",
                "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
                Some("no PEM certificate"),
            ),
            (
                "bad base64",
                "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n",
                Some("cannot read the CA certificates"),
            ),
        ];
        for (case, pem, want) in cases {
            let got = Client::new("https://127.0.0.1:7070").with_ca_pem(pem.as_bytes());
            match (got, want) {
                (Ok(client), None) => assert_eq!(client.server(), "https://127.0.0.1:7070", "{case}"),
                (Err(err), Some(want)) => {
                    assert!(matches!(err, ClientError::Tls(_)), "{case}: {err:?}");
                    assert!(err.to_string().starts_with(want), "{case}: {err}");
                }
                (got, want) => panic!("{case}: got {got:?}, want {want:?}"),
            }
        }
    }
}
