//! The coordinator's HTTP API, served as Kubernetes serves its own, so that kubectl and the
//! Kubernetes client libraries work unchanged. Only this module knows paths and status codes;
//! the paths come from [`drover_api::resource`]. `{ns}` is `default`, the one namespace: any
//! other is answered 404 (`namespaces "x" not found`), as Kubernetes answers for one that does
//! not exist.
//!
//! | path | verbs |
//! |---|---|
//! | `/healthz`, `/metrics` | GET (the metrics in Prometheus text format) |
//! | `/`, `/login`, `/logout`, `/ui/…` | the web dashboard ([`crate::dashboard`]) |
//! | `/version`, `/api`, `/api/v1`, `/apis`, `/apis/{group}`, `/apis/{group}/{version}` | GET: discovery ([`crate::discovery`]) |
//! | `/openapi/v2`, `/openapi/v3[/{path}]` | GET: the kinds' OpenAPI documents |
//! | `/apis/batch/v1/namespaces/{ns}/jobs` (and `/apis/batch/v1/jobs`: every namespace) | GET (list, watch), POST |
//! | `/apis/batch/v1/namespaces/{ns}/jobs/{name}` | GET, PUT, PATCH, DELETE (`propagationPolicy`) |
//! | `/apis/batch/v1/namespaces/{ns}/jobs/{name}/status` | GET |
//! | `…/cronjobs…` | as for jobs |
//! | `/api/v1/namespaces/{ns}/pods` (and `/api/v1/pods`) | GET (list, watch) |
//! | `/api/v1/namespaces/{ns}/pods/{name}` | GET |
//! | `/api/v1/namespaces/{ns}/pods/{name}/log` | GET (`follow`, `container`); POST (worker: `offset`, `container` for an init container) |
//! | `/api/v1/namespaces/{ns}/pods/{name}/status` | GET; PUT (worker) |
//! | `/api/v1/namespaces/{ns}/events` (and `/api/v1/events`) | GET (core/v1 Events; the newest 1,000, or an object's by `involvedObject.*` field selectors) |
//! | `/api/v1/namespaces[/{ns}]` | GET |
//! | `/apis/drover.dev/v1/workers` | GET (list, watch); POST (register) |
//! | `/apis/drover.dev/v1/workers/{name}` | GET, DELETE (deregister) |
//! | `/apis/drover.dev/v1/workers/{name}/drain`, `/cordon`, `/uncordon` | POST |
//! | `/apis/drover.dev/v1/workers/{name}/status` | POST (a batch of pod status reports) |
//! | `/apis/drover.dev/v1/workers/{name}/tasks` | POST (a batch of task successes for the ledger) |
//! | `/apis/drover.dev/v1/workers/{name}/heartbeat` | POST |
//! | `/apis/drover.dev/v1/workers/{name}/assignments` | GET (stream) |
//!
//! Lists take `labelSelector`, `fieldSelector` (`metadata.name`, `metadata.namespace`, and per
//! kind the fields Kubernetes allows: pods' `status.phase` and `spec.nodeName`, events'
//! `involvedObject.*`), `limit` and `continue` (pages in name order; a page is read when it is
//! asked for), and answer with the store's `resourceVersion`. A watch (`watch=true`) without a
//! `resourceVersion` (or `0`) sends the current objects as `ADDED`, then every change; from a
//! `resourceVersion`, the changes after it, out of the last [`crate::state::WATCH_HISTORY`]
//! changes, or a 410 `Expired` error event when it is older. With `allowWatchBookmarks`, the
//! keepalive is a `BOOKMARK`. A client that accepts a `meta.k8s.io` Table (kubectl's `get`)
//! gets one, with kubectl's own columns ([`drover_api::table`]), for lists, gets and watches.
//!
//! Writes take `fieldValidation` (`Strict`, the default here, `Warn`, `Ignore`) and refuse
//! `dryRun` (Drover does no dry runs: nothing is written). PATCH takes a JSON merge patch, a
//! strategic merge patch, a JSON patch or a server-side apply (`fieldManager`, `force`)
//! ([`drover_api::patch`]).
//!
//! With a token configured (`Config::token`), every path but `/healthz` (and the dashboard's
//! login form and assets) needs `Authorization: Bearer <token>`, or the dashboard's session
//! cookie, which a request that changes state must back with the CSRF header of its page
//! ([`crate::dashboard`]); otherwise the answer is 401 `Unauthorized` (403 `Forbidden` for the
//! cookie without its CSRF guard). Without a token, a request that changes state and whose
//! `Origin` names another site is refused with 403.
//!
//! Without a token, the API answers only requests addressed to this machine: their `Host` must
//! be a loopback name (`localhost`, `127.0.0.1`, `[::1]`, …), the address the connection came in
//! on, or one of `Config::public_hosts`, with any port; otherwise the answer is 421 (a `Status`
//! naming the host). A web page the user visits cannot then reach the API through DNS rebinding
//! (its requests carry the page's own host name). A request without `Host` (HTTP/1.0), which no
//! browser sends, is answered. With a token, `Host` is not checked: the token guards the API.
//!
//! Request bodies are JSON (`Content-Type: application/json`, or none, unless a browser sent it
//! with an `Origin`), or Kubernetes protobuf (`application/vnd.kubernetes.protobuf`, a batch/v1
//! Job or CronJob, read as JSON), except a log chunk's and a patch's; anything else is refused
//! with 415, malformed JSON or protobuf with 400. A body that has not arrived within
//! `Config::body_read_timeout` of its head is refused with 408. A log chunk (`POST
//! …/pods/{name}/log?offset=N&uid=U&worker=W`) must name an existing pod (404), its uid and, if
//! `worker` is given, the worker it is bound to (409), and lie within the store's offset bound
//! (422).
//!
//! Errors are Kubernetes `Status` objects, with the object and field causes kubectl words its
//! messages from. A watch streams one JSON event a line (`application/json`, as Kubernetes
//! does): `{"type":"ADDED|MODIFIED|DELETED|BOOKMARK|ERROR","object":{…}}`; the assignment stream
//! is NDJSON.

use std::convert::Infallible;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

use axum::routing::{get, post};
use axum::{Json, Router};
use drover_api::manifest::Object as Manifest;
use drover_api::meta::parse_label_selector;
use drover_api::protocol::{
    Assignment, PodReport, Registration, ReportResult, StatusReport, TaskRecord, TaskRecordResult,
    WORKER_CREDENTIAL_HEADER,
};
use drover_api::{CronJob, Job, LabelSelector, Pod, Worker, labels};
use drover_store::{Object, StoreError};
use futures::stream::{self, Stream, StreamExt};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio_stream::wrappers::{BroadcastStream, UnboundedReceiverStream};

use crate::controller::delete_job;
use crate::state::{Coordinator, SessionMessage, now};
use crate::workers::ReportError;

/// Builds the router. Tests drive it with `tower::ServiceExt::oneshot` or serve it on port 0.
///
/// The paths come from [`drover_api::resource`]: each namespaced kind at
/// `…/namespaces/{namespace}/{plural}[/{name}[/{subresource}]]` and, for lists and watches
/// across namespaces, `…/{plural}`; cluster-scoped kinds at `…/{plural}[/{name}]`.
pub fn router(coordinator: Coordinator) -> Router {
    use drover_api::resource::{CRONJOBS, EVENTS, JOBS, NAMESPACES, PODS, WORKERS};
    let ns = |r: &drover_api::resource::ResourceInfo| r.collection_path(Some("{namespace}"));
    let object = |r: &drover_api::resource::ResourceInfo| format!("{}/{{name}}", ns(r));
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", get(metrics))
        .route("/version", get(|| async { Json(crate::discovery::version()) }))
        .route("/api", get(|| async { Json(crate::discovery::core_versions()) }))
        .route("/api/v1", get(|| async { discovered(crate::discovery::resource_list("", "v1")) }))
        .route("/apis", get(|| async { Json(crate::discovery::group_list()) }))
        .route(
            "/apis/{group}",
            get(|Path(g): Path<String>| async move { discovered(crate::discovery::group(&g)) }),
        )
        .route(
            "/apis/{group}/{version}",
            get(|Path((g, v)): Path<(String, String)>| async move {
                discovered(crate::discovery::resource_list(&g, &v))
            }),
        )
        .route(&JOBS.collection_path(None), get(list::<Job>))
        .route(&ns(&JOBS), get(list::<Job>).post(create::<Job>))
        .route(
            &object(&JOBS),
            get(get_one::<Job>).put(replace::<Job>).patch(patch_object::<Job>).delete(remove_job),
        )
        .route(&format!("{}/status", object(&JOBS)), get(get_one::<Job>))
        .route(&CRONJOBS.collection_path(None), get(list::<CronJob>))
        .route(&ns(&CRONJOBS), get(list::<CronJob>).post(create::<CronJob>))
        .route(
            &object(&CRONJOBS),
            get(get_one::<CronJob>)
                .put(replace::<CronJob>)
                .patch(patch_object::<CronJob>)
                .delete(remove_cronjob),
        )
        .route(&format!("{}/status", object(&CRONJOBS)), get(get_one::<CronJob>))
        .route(&PODS.collection_path(None), get(list::<Pod>))
        .route(&ns(&PODS), get(list::<Pod>))
        .route(&object(&PODS), get(get_one::<Pod>))
        .route(&format!("{}/log", object(&PODS)), get(read_log).post(append_log))
        .route(&format!("{}/status", object(&PODS)), get(get_one::<Pod>).put(report_status))
        .route(&EVENTS.collection_path(None), get(list_events))
        .route(&ns(&EVENTS), get(list_events))
        .route(&NAMESPACES.collection_path(None), get(list_namespaces))
        .route(&format!("{}/{{namespace}}", NAMESPACES.collection_path(None)), get(get_namespace))
        .route(&WORKERS.collection_path(None), get(list_workers).post(register_worker))
        .route(&WORKERS.object_path("{name}"), get(get_worker).delete(deregister_worker))
        .route(&WORKERS.object_path("{name}/drain"), post(drain_worker))
        .route(&WORKERS.object_path("{name}/status"), post(report_statuses))
        .route(&WORKERS.object_path("{name}/tasks"), post(record_tasks))
        .route(&WORKERS.object_path("{name}/cordon"), post(cordon_worker))
        .route(&WORKERS.object_path("{name}/uncordon"), post(uncordon_worker))
        .route(&WORKERS.object_path("{name}/heartbeat"), post(heartbeat))
        .route(&WORKERS.object_path("{name}/assignments"), get(assignments))
        .merge(crate::openapi::routes())
        .merge(crate::dashboard::routes())
        .method_not_allowed_fallback(|method: axum::http::Method, uri: axum::http::Uri| async move {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "MethodNotAllowed",
                format!(
                    "the server does not allow this method on the requested resource ({method} {})",
                    uri.path()
                ),
            )
        })
        .fallback(|uri: axum::http::Uri| async move {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "NotFound",
                format!("the server could not find the requested resource ({uri})"),
            )
        })
        .layer(axum::middleware::from_fn(redact_passwords))
        .layer(axum::middleware::from_fn_with_state(coordinator.clone(), authenticate))
        .layer(axum::middleware::from_fn_with_state(coordinator.clone(), guard_host))
        .with_state(coordinator)
}

/// A discovery document, or 404 for a group or version Drover does not serve.
fn discovered(doc: Option<Value>) -> Response {
    match doc {
        Some(doc) => Json(doc).into_response(),
        None => ApiError::new(
            StatusCode::NOT_FOUND,
            "NotFound",
            "the server could not find the requested resource",
        )
        .into_response(),
    }
}

/// Refuses a namespace other than `default`, the one Drover has, as Kubernetes refuses one that
/// does not exist.
fn check_namespace(ns: Option<&String>) -> ApiResult<()> {
    match ns {
        Some(ns) if ns != drover_api::resource::DEFAULT_NAMESPACE => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("namespaces {ns:?} not found: Drover has a single namespace, \"default\""),
        )),
        _ => Ok(()),
    }
}

async fn path_params(
    parts: &mut axum::http::request::Parts,
    c: &Coordinator,
) -> ApiResult<std::collections::HashMap<String, String>> {
    use axum::extract::FromRequestParts;
    let Path(params) = Path::<std::collections::HashMap<String, String>>::from_request_parts(parts, c)
        .await
        .map_err(|e| ApiError::bad_request(e.body_text()))?;
    check_namespace(params.get("namespace"))?;
    Ok(params)
}

/// A collection's path: its `{namespace}`, if any, is checked ([`check_namespace`]).
struct Scope;

impl axum::extract::FromRequestParts<Coordinator> for Scope {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, c: &Coordinator) -> ApiResult<Scope> {
        path_params(parts, c).await.map(|_| Scope)
    }
}

/// An object's `{name}` in its path, whose `{namespace}`, if any, is checked.
struct Named(String);

impl axum::extract::FromRequestParts<Coordinator> for Named {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, c: &Coordinator) -> ApiResult<Named> {
        let mut params = path_params(parts, c).await?;
        params.remove("name").map(Named).ok_or_else(|| ApiError::bad_request("the path names no object"))
    }
}

/// What the client accepts: a `meta.k8s.io` Table (kubectl's `get`), with the options of
/// `includeObject`, or the objects themselves.
struct Negotiated(Option<drover_api::table::TableOptions>);

impl axum::extract::FromRequestParts<Coordinator> for Negotiated {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &Coordinator,
    ) -> ApiResult<Negotiated> {
        let accept = parts.headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("");
        let Some(version) = drover_api::table::negotiate_table(accept) else {
            return Ok(Negotiated(None));
        };
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct IncludeQuery {
            include_object: Option<String>,
        }
        let q = Query::<IncludeQuery>::try_from_uri(&parts.uri)
            .map_err(|e| ApiError::bad_request(e.body_text()))?;
        let include = drover_api::table::IncludeObject::from_query(q.0.include_object.as_deref())
            .map_err(ApiError::bad_request)?;
        Ok(Negotiated(Some(drover_api::table::TableOptions { include, version, no_headers: false })))
    }
}

/// One object, or a Table of one row when the client asked for a Table.
fn one<T: drover_api::table::Printable>(obj: T, table: Option<drover_api::table::TableOptions>) -> Response {
    match table {
        Some(options) => {
            let meta = drover_api::meta::ListMeta { resource_version: String::new(), ..Default::default() };
            Json(drover_api::table::table_with(std::slice::from_ref(&obj), now(), options, meta))
                .into_response()
        }
        None => Json(obj).into_response(),
    }
}

async fn list_namespaces(State(c): State<Coordinator>, Negotiated(table): Negotiated) -> Response {
    namespaces(&c, table, true)
}

async fn get_namespace(
    State(c): State<Coordinator>,
    Path(name): Path<String>,
    Negotiated(table): Negotiated,
) -> ApiResult<Response> {
    check_namespace(Some(&name))?;
    Ok(namespaces(&c, table, false))
}

/// `default`, the one namespace (created, as far as clients can tell, when the coordinator
/// started): as a list, one object, or a Table.
fn namespaces(c: &Coordinator, table: Option<drover_api::table::TableOptions>, list: bool) -> Response {
    let name = drover_api::resource::DEFAULT_NAMESPACE;
    if let Some(options) = table {
        let meta = drover_api::meta::ListMeta::default();
        return Json(drover_api::table::namespace_table(&[(name, Some(c.started()))], now(), options, meta))
            .into_response();
    }
    let ns = drover_api::table::namespace_object(name, Some(c.started()));
    if list {
        Json(json!({"kind": "NamespaceList", "apiVersion": "v1", "metadata": {}, "items": [ns]}))
            .into_response()
    } else {
        Json(ns).into_response()
    }
}

async fn metrics(State(c): State<Coordinator>) -> ApiResult<Response> {
    let text = crate::metrics::render(&c)?;
    Ok(([(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)], text).into_response())
}

/// With a token configured, every call but `/healthz` and the login form must carry it as
/// `Authorization: Bearer`, or the dashboard's session cookie (with its CSRF guard for anything
/// but GET and HEAD): [`crate::dashboard::access`] decides. The comparison takes the same time
/// wherever the tokens differ.
async fn authenticate(
    State(c): State<Coordinator>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let token = c.config.token.as_ref().map(drover_api::meta::Secret::expose);
    let access =
        crate::dashboard::access(req.method(), req.uri().path(), req.headers(), token, now().timestamp());
    match access {
        crate::dashboard::Access::Allow => next.run(req).await,
        crate::dashboard::Access::Unauthorized(message) => {
            ApiError::new(StatusCode::UNAUTHORIZED, "Unauthorized", message).into_response()
        }
        crate::dashboard::Access::Forbidden(message) => {
            ApiError::new(StatusCode::FORBIDDEN, "Forbidden", message).into_response()
        }
        crate::dashboard::Access::Login => {
            (StatusCode::SEE_OTHER, [(header::LOCATION, "/login")]).into_response()
        }
    }
}

/// The most of a JSON reply [`redact_passwords`] reads (a list of every object, at worst).
const MAX_REDACTED_REPLY: usize = 512 << 20;

/// Masks the password of every URL in a JSON reply (a Job's or pod's `spec.queue.url`, an
/// event's message): nothing read from the API shows a broker password. Watches are masked where
/// their lines are made ([`list_or_watch`], and the store's changes as published); the worker's
/// assignment stream, the one reader that needs the password, is NDJSON and left as it is.
async fn redact_passwords(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let res = next.run(req).await;
    if res.extensions().get::<Streamed>().is_some() {
        return res;
    }
    let json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !json {
        return res;
    }
    let (mut parts, body) = res.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_REDACTED_REPLY).await {
        Ok(bytes) => bytes,
        Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    };
    let body = match std::str::from_utf8(&bytes).map(drover_api::meta::redact_urls) {
        Ok(std::borrow::Cow::Owned(text)) => {
            parts.headers.remove(header::CONTENT_LENGTH);
            Body::from(text)
        }
        _ => Body::from(bytes),
    };
    Response::from_parts(parts, body)
}

/// Without a token, refuses a request whose `Host` names another machine (see the module docs).
async fn guard_host(
    State(c): State<Coordinator>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if c.config.token.is_some() {
        return next.run(req).await;
    }
    let host = match req.headers().get(header::HOST) {
        Some(value) => Some(String::from_utf8_lossy(value.as_bytes()).into_owned()),
        None => req.uri().authority().map(|a| a.as_str().to_string()),
    };
    let Some(host) = host else {
        return next.run(req).await;
    };
    let local = req.extensions().get::<crate::serve::LocalAddr>().map(|l| l.0.ip());
    if host_allowed(&host, local, &c.config.public_hosts) {
        return next.run(req).await;
    }
    tracing::warn!(host = %host, "Refused a request for another host (no token is set)");
    ApiError::new(
        StatusCode::MISDIRECTED_REQUEST,
        "MisdirectedRequest",
        format!(
            "Host {host:?} is not this coordinator: without a token it answers only requests to localhost, \
             127.0.0.1, [::1], its listening address or a --public-host (a guard against DNS rebinding); \
             add --public-host {name} or set a token",
            name = split_host(&host).0
        ),
    )
    .into_response()
}

/// `host[:port]` (`[v6]:port` too) as its lower-case name without brackets, a trailing dot or
/// the port, and the port.
fn split_host(host: &str) -> (String, Option<&str>) {
    let host = host.trim();
    let (name, port) = if let Some(rest) = host.strip_prefix('[') {
        match rest.split_once(']') {
            Some((name, tail)) => (name, tail.strip_prefix(':')),
            None => (rest, None),
        }
    } else {
        match host.rsplit_once(':') {
            // More than one colon and no brackets: a bare IPv6 address.
            Some((name, port)) if !name.contains(':') => (name, Some(port)),
            _ => (host, None),
        }
    };
    (name.trim_end_matches('.').to_ascii_lowercase(), port)
}

/// Whether `host` (a `Host` header) names this machine: a loopback name or address, the address
/// the connection came in on (`local`), or a public host (a configured `name` matches any port,
/// `name:port` only that port).
fn host_allowed(host: &str, local: Option<std::net::IpAddr>, public_hosts: &[String]) -> bool {
    let (name, port) = split_host(host);
    if name == "localhost" {
        return true;
    }
    if let Ok(ip) = name.parse::<std::net::IpAddr>()
        && (ip.is_loopback() || Some(ip) == local)
    {
        return true;
    }
    public_hosts.iter().any(|allowed| {
        let (allowed_name, allowed_port) = split_host(allowed);
        allowed_name == name && allowed_port.is_none_or(|p| Some(p) == port)
    })
}

/// Compares in a time that does not depend on where `a` and `b` differ (the API token, a
/// worker credential's digest).
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for (i, &x) in a.iter().enumerate() {
        diff |= usize::from(x ^ b.get(i % b.len().max(1)).copied().unwrap_or(0));
    }
    diff == 0
}

// === errors ===

/// An API error, rendered as a Kubernetes `Status`.
#[derive(Debug)]
pub struct ApiError {
    code: StatusCode,
    reason: &'static str,
    message: String,
    causes: Vec<String>,
    /// The object the error is about (`kind`, `group`, `name`), for the `Status`' details:
    /// kubectl words an invalid object's error from them (`The Job "pi" is invalid: …`).
    about: Option<Box<(String, String, String)>>,
}

impl ApiError {
    pub(crate) fn new(code: StatusCode, reason: &'static str, message: impl Into<String>) -> ApiError {
        ApiError { code, reason, message: message.into(), causes: Vec::new(), about: None }
    }

    pub(crate) fn not_found(kind: &str, name: &str) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "NotFound", format!("{kind} {name:?} not found"))
    }

    fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "BadRequest", message)
    }

    /// The error is about the object `kind` (`Job`) `name`.
    fn about(mut self, kind: &str, name: &str) -> ApiError {
        let group = drover_api::resource::ALL.iter().find(|r| r.kind == kind).map_or("", |r| r.group);
        self.about = Some(Box::new((kind.to_string(), group.to_string(), name.to_string())));
        self
    }
}

/// A cause in a `Status`' details: a field error (`spec.completions: Invalid value: …`) is
/// split into its field and message, with Kubernetes' reason for its type.
fn cause_json(cause: &str) -> Value {
    let Some((field, message)) = cause.split_once(": ").filter(|(f, _)| !f.is_empty() && !f.contains(' '))
    else {
        return json!({"message": cause});
    };
    let reason = [
        ("Invalid value", "FieldValueInvalid"),
        ("Required value", "FieldValueRequired"),
        ("Unsupported value", "FieldValueNotSupported"),
        ("Forbidden", "FieldValueForbidden"),
        ("Duplicate value", "FieldValueDuplicate"),
        ("Too long", "FieldValueTooLong"),
        ("Too many", "FieldValueTooMany"),
        ("Not found", "FieldValueNotFound"),
    ]
    .iter()
    .find(|(prefix, _)| message.starts_with(prefix))
    .map_or("FieldValueInvalid", |(_, reason)| reason);
    json!({"reason": reason, "message": message, "field": field})
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> ApiError {
        match err {
            StoreError::NotFound { .. } => ApiError::new(StatusCode::NOT_FOUND, "NotFound", err.to_string()),
            StoreError::AlreadyExists { .. } => {
                ApiError::new(StatusCode::CONFLICT, "AlreadyExists", err.to_string())
            }
            StoreError::Conflict { .. } => ApiError::new(StatusCode::CONFLICT, "Conflict", err.to_string()),
            StoreError::LogOffset { .. } => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "Invalid", err.to_string())
            }
            other => {
                tracing::error!(error = %other, "Store error");
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "InternalError", other.to_string())
            }
        }
    }
}

impl ApiError {
    /// The error as a Kubernetes `Status` object.
    fn status_json(&self) -> Value {
        let mut details = json!({"causes": self.causes.iter().map(|c| cause_json(c)).collect::<Vec<_>>()});
        if let Some((kind, group, name)) = self.about.as_deref() {
            details["kind"] = json!(kind);
            details["group"] = json!(group);
            details["name"] = json!(name);
        }
        json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "details": details,
            "code": self.code.as_u16(),
        })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.code, Json(self.status_json())).into_response()
    }
}

type ApiResult<T> = Result<T, ApiError>;

/// A JSON request body, or a Kubernetes protobuf one read as JSON
/// ([`drover_api::protobuf::decode`], 400 when it cannot be). Unlike [`Json`], a body that is
/// neither is refused with a `Status`: 415 with another `Content-Type` than JSON (or with none
/// from a browser, which sends an `Origin`), 400 when it does not parse, 422 when it does not fit
/// the type; and one that has not arrived within [`Config::body_read_timeout`](crate::Config)
/// with 408.
struct ApiJson<T>(T);

impl<T: serde::de::DeserializeOwned> axum::extract::FromRequest<Coordinator> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, c: &Coordinator) -> Result<Self, ApiError> {
        let mut req = req;
        // kube-apiserver reads a body without a Content-Type as JSON, and some clients (the
        // Python `kubernetes` client) send none. A browser may send none too, across sites and
        // without a preflight: such a request carries an `Origin`, and is refused (415) as a
        // cross-site request forgery would be.
        let headers = req.headers_mut();
        if !headers.contains_key(header::CONTENT_TYPE) && !headers.contains_key(header::ORIGIN) {
            headers.insert(header::CONTENT_TYPE, header::HeaderValue::from_static("application/json"));
        }
        // kubectl's typed clients (`create job`, `create cronjob`) send Kubernetes protobuf.
        let protobuf = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| {
            let media_type = v.split(';').next().unwrap_or_default().trim();
            media_type.eq_ignore_ascii_case(drover_api::protobuf::CONTENT_TYPE)
        });
        if protobuf {
            let bytes = ApiBytes::from_request(req, c).await?.0;
            let value =
                drover_api::protobuf::decode(&bytes).map_err(|e| ApiError::bad_request(e.to_string()))?;
            return serde_json::from_value(value)
                .map(ApiJson)
                .map_err(|e| ApiError::bad_request(e.to_string()));
        }
        match within_body_timeout(c, Json::<T>::from_request(req, c)).await? {
            Ok(Json(value)) => Ok(ApiJson(value)),
            Err(rejection) => {
                let code = rejection.status();
                let reason = match code {
                    StatusCode::UNSUPPORTED_MEDIA_TYPE => "UnsupportedMediaType",
                    StatusCode::PAYLOAD_TOO_LARGE => "RequestEntityTooLarge",
                    StatusCode::UNPROCESSABLE_ENTITY => "Invalid",
                    _ => "BadRequest",
                };
                Err(ApiError::new(code, reason, rejection.body_text()))
            }
        }
    }
}

/// A raw request body (a log chunk), read within [`Config::body_read_timeout`](crate::Config)
/// (408 otherwise).
struct ApiBytes(Bytes);

impl axum::extract::FromRequest<Coordinator> for ApiBytes {
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, c: &Coordinator) -> Result<Self, ApiError> {
        match within_body_timeout(c, Bytes::from_request(req, c)).await? {
            Ok(bytes) => Ok(ApiBytes(bytes)),
            Err(rejection) => {
                let code = rejection.status();
                let reason = if code == StatusCode::PAYLOAD_TOO_LARGE {
                    "RequestEntityTooLarge"
                } else {
                    "BadRequest"
                };
                Err(ApiError::new(code, reason, rejection.body_text()))
            }
        }
    }
}

/// `read`, or 408 when the body has not arrived within the configured time.
async fn within_body_timeout<R>(c: &Coordinator, read: impl std::future::Future<Output = R>) -> ApiResult<R> {
    let limit = c.config.body_read_timeout;
    tokio::time::timeout(limit, read).await.map_err(|_| {
        ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "Timeout",
            format!("the request body did not arrive within {}s", limit.as_secs_f64()),
        )
    })
}

// === lists and watches ===

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListQuery {
    label_selector: Option<String>,
    field_selector: Option<String>,
    /// `true` or `1` (client libraries send either).
    watch: Option<String>,
    resource_version: Option<String>,
    allow_watch_bookmarks: Option<String>,
    limit: Option<i64>,
    #[serde(rename = "continue")]
    continue_: Option<String>,
    timeout_seconds: Option<u64>,
}

/// A boolean query parameter as Kubernetes reads one: `true`, `1` (any case).
fn flag(value: &Option<String>) -> bool {
    value.as_deref().is_some_and(|v| v == "1" || v.eq_ignore_ascii_case("true"))
}

impl ListQuery {
    fn selector(&self) -> ApiResult<LabelSelector> {
        parse_label_selector(self.label_selector.as_deref().unwrap_or(""))
            .map_err(|e| ApiError::bad_request(format!("unable to parse requirement: {e}")))
    }

    fn fields(&self, info: &drover_api::resource::ResourceInfo) -> ApiResult<FieldSelector> {
        FieldSelector::parse(self.field_selector.as_deref().unwrap_or(""), info)
    }

    /// The `resourceVersion` to list at or watch from: `None` for the newest (unset, `0`).
    fn start_revision(&self) -> ApiResult<Option<i64>> {
        match self.resource_version.as_deref() {
            None | Some("") | Some("0") => Ok(None),
            Some(text) => text.parse::<i64>().map(Some).map_err(|_| {
                ApiError::bad_request(format!(
                    "resourceVersion: Invalid value: {text:?}: must be a decimal number"
                ))
            }),
        }
    }
}

/// The fields each kind can be selected on (`fieldSelector`), besides `metadata.name` and
/// `metadata.namespace`, as kube-apiserver allows them.
fn selectable_fields(kind: &str) -> &'static [&'static str] {
    match kind {
        "Pod" => &[
            "spec.nodeName",
            "spec.restartPolicy",
            "status.phase",
            "status.podIP",
            "status.nominatedNodeName",
        ],
        "Job" => &["status.successful"],
        "Event" => &[
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
        ],
        _ => &[],
    }
}

/// A parsed `fieldSelector`: `field=value`, `field==value` and `field!=value`, comma-separated,
/// all of which must hold.
#[derive(Debug, Default, Clone)]
struct FieldSelector(Vec<(String, bool, String)>);

impl FieldSelector {
    fn parse(text: &str, info: &drover_api::resource::ResourceInfo) -> ApiResult<FieldSelector> {
        let mut terms = Vec::new();
        for term in text.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            let (field, equal, value) = if let Some((f, v)) = term.split_once("!=") {
                (f, false, v)
            } else if let Some((f, v)) = term.split_once("==") {
                (f, true, v)
            } else if let Some((f, v)) = term.split_once('=') {
                (f, true, v)
            } else {
                return Err(ApiError::bad_request(format!(
                    "invalid selector: {text:?}; can't understand {term:?}"
                )));
            };
            let field = field.trim();
            let known = field == "metadata.name"
                || field == "metadata.namespace"
                || selectable_fields(info.kind).contains(&field);
            if !known {
                return Err(ApiError::bad_request(format!(
                    "field label not supported: {field} (a {} can be selected on metadata.name, metadata.namespace{})",
                    info.kind,
                    selectable_fields(info.kind).iter().map(|f| format!(", {f}")).collect::<String>()
                )));
            }
            terms.push((field.to_string(), equal, value.trim().to_string()));
        }
        Ok(FieldSelector(terms))
    }

    /// The name required by `metadata.name=X`, which can be matched without decoding.
    fn name(&self) -> Option<&str> {
        self.0.iter().find(|(f, eq, _)| f == "metadata.name" && *eq).map(|(_, _, v)| v.as_str())
    }

    /// Whether nothing is selected on.
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether only `metadata.name` (or nothing) is selected on.
    fn by_name_only(&self) -> bool {
        self.0.iter().all(|(f, _, _)| f == "metadata.name")
    }

    /// Whether `object` (as JSON) has the selected field values. A field the object lacks reads
    /// as the empty string, as in Kubernetes.
    fn matches(&self, object: &Value) -> bool {
        self.0.iter().all(|(field, equal, want)| {
            let got = field_value(object, field);
            (got == *want) == *equal
        })
    }
}

/// A field of an object by its dotted path, as the text a field selector compares.
fn field_value(object: &Value, path: &str) -> String {
    let value = match path {
        "metadata.namespace" => {
            return object["metadata"]["namespace"]
                .as_str()
                .unwrap_or(drover_api::resource::DEFAULT_NAMESPACE)
                .to_string();
        }
        // A Job's `status.successful` is its `status.succeeded`.
        "status.successful" => &object["status"]["succeeded"],
        "source" => &object["source"]["component"],
        _ => path.split('.').fold(object, |v, key| &v[key]),
    };
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// A list's continue token: the resourceVersion of its first page and the last name sent.
fn continue_token(revision: i64, last: &str) -> String {
    let hex: String = last.bytes().map(|b| format!("{b:02x}")).collect();
    format!("{revision}-{hex}")
}

fn parse_continue(token: &str) -> ApiResult<(i64, String)> {
    let bad = || {
        ApiError::bad_request(format!("continue: Invalid value: {token:?}: not a token this server issued"))
    };
    let (rev, hex) = token.split_once('-').ok_or_else(bad)?;
    let rev = rev.parse::<i64>().map_err(|_| bad())?;
    if hex.len() % 2 != 0 {
        return Err(bad());
    }
    let bytes = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16))
        .collect::<Result<Vec<u8>, _>>()
        .map_err(|_| bad())?;
    Ok((rev, String::from_utf8(bytes).map_err(|_| bad())?))
}

/// One page of `items` (ordered by name) after the continue token's name, at most `limit`
/// long, with the token for the next page.
fn paginate<T>(
    items: Vec<T>,
    name: impl Fn(&T) -> &str,
    q: &ListQuery,
    revision: i64,
) -> ApiResult<(Vec<T>, i64, Option<String>, usize)> {
    let (revision, after) = match q.continue_.as_deref().filter(|t| !t.is_empty()) {
        Some(token) => {
            let (rev, after) = parse_continue(token)?;
            (rev, Some(after))
        }
        None => (revision, None),
    };
    let mut items: Vec<T> = match &after {
        Some(after) => items.into_iter().filter(|o| name(o) > after.as_str()).collect(),
        None => items,
    };
    let limit = q.limit.filter(|l| *l > 0).map(|l| l as usize);
    match limit {
        Some(limit) if items.len() > limit => {
            let remaining = items.len() - limit;
            items.truncate(limit);
            let token = continue_token(revision, name(items.last().expect("limit > 0")));
            Ok((items, revision, Some(token), remaining))
        }
        _ => Ok((items, revision, None, 0)),
    }
}

/// A list of `T` as Kubernetes answers it: `JobList` with `metadata.resourceVersion`, and
/// `continue` and `remainingItemCount` when paged.
fn list_body<T: serde::Serialize>(
    info: &drover_api::resource::ResourceInfo,
    items: &[T],
    revision: i64,
    continue_: Option<String>,
    remaining: Option<usize>,
) -> Value {
    let mut metadata = json!({"resourceVersion": revision.to_string()});
    if let Some(token) = continue_ {
        metadata["continue"] = json!(token);
        if let Some(remaining) = remaining {
            metadata["remainingItemCount"] = json!(remaining);
        }
    }
    json!({"kind": format!("{}List", info.kind), "apiVersion": info.api_version(), "metadata": metadata, "items": items})
}

/// Prepares objects for their Table rows (a worker's running pods are counted).
type Prepare<T> = fn(&Coordinator, &mut [T]) -> ApiResult<()>;

/// Visits, in name order after `after`, the objects a list must look at, read through an index
/// where the selectors allow: one object for a `metadata.name` field selector, the label index
/// for an equality on a label (the first of `matchLabels`), else every object of the kind. The
/// caller still applies the whole selector; this only spares it the objects that cannot match,
/// so that `get pods -l job-name=x` costs that Job's pods, not every pod the store keeps, and a
/// page costs its own objects.
fn visit_candidates<T: Object>(
    t: &drover_store::Txn<'_>,
    selector: &LabelSelector,
    fields: &FieldSelector,
    after: Option<&str>,
    mut visit: impl FnMut(T) -> bool,
) -> Result<(), drover_store::StoreError> {
    if let Some(name) = fields.name() {
        if after.is_none_or(|a| name > a)
            && let Some(o) = t.get::<T>(name)?
        {
            visit(o);
        }
        return Ok(());
    }
    let scan = match selector.match_labels.iter().next() {
        Some((key, value)) => drover_store::Scan::Labelled(key, value),
        None => drover_store::Scan::All,
    };
    t.visit_by_name::<T>(scan, after, visit)
}

async fn list_or_watch<T>(
    c: Coordinator,
    q: ListQuery,
    table: Option<drover_api::table::TableOptions>,
    prepare: Prepare<T>,
) -> ApiResult<Response>
where
    T: Object + drover_api::resource::Resource + drover_api::table::Printable + Send + 'static,
{
    let info = T::INFO;
    let selector = q.selector()?;
    let fields = q.fields(&info)?;
    let from = q.start_revision()?;
    let select = {
        let (selector, fields) = (selector.clone(), fields.clone());
        move |o: &T| {
            selector.matches(&o.meta().labels)
                && fields.name().is_none_or(|n| o.meta().name == n)
                && (fields.by_name_only() || serde_json::to_value(o).is_ok_and(|v| fields.matches(&v)))
        }
    };
    if !flag(&q.watch) {
        // A page is read in name order from where the last one stopped, and the read stops
        // once it has one object more than the page holds.
        let (token_revision, after) = match q.continue_.as_deref().filter(|t| !t.is_empty()) {
            Some(token) => {
                let (rev, after) = parse_continue(token)?;
                (Some(rev), Some(after))
            }
            None => (None, None),
        };
        let limit = q.limit.filter(|l| *l > 0).map(|l| l as usize);
        let unfiltered = selector == LabelSelector::default() && fields.is_empty();
        let (mut page, more, remaining, revision) = c.store().read(|t| {
            let mut page: Vec<T> = Vec::new();
            let mut more = false;
            visit_candidates::<T>(t, &selector, &fields, after.as_deref(), |o| {
                if !select(&o) {
                    return true;
                }
                if limit.is_some_and(|l| page.len() >= l) {
                    more = true;
                    return false;
                }
                page.push(o);
                true
            })?;
            // Kubernetes counts what is left only for a list without selectors.
            let remaining = match page.last() {
                Some(last) if more && unfiltered => Some(t.count_after::<T>(&last.meta().name)?),
                _ => None,
            };
            Ok((page, more, remaining, t.revision()?))
        })?;
        let revision = token_revision.unwrap_or(revision);
        let token = page.last().filter(|_| more).map(|last| continue_token(revision, &last.meta().name));
        if let Some(options) = table {
            prepare(&c, &mut page)?;
            let meta = drover_api::meta::ListMeta {
                resource_version: revision.to_string(),
                continue_: token,
                remaining_item_count: remaining.map(|n| n as i64),
            };
            return Ok(Json(drover_api::table::table_with(&page, now(), options, meta)).into_response());
        }
        return Ok(Json(list_body(&info, &page, revision, token, remaining)).into_response());
    }
    // A watch: the current objects as ADDED, then every change; or, from a resourceVersion,
    // the changes after it.
    let (initial, after, passed, rx) = match from {
        None => {
            // Subscribe before listing: a change is then either in the list or arrives after it
            // (the store publishes under the lock a read takes; see `Coordinator::commit`).
            let rx = c.watch();
            let (initial, revision) = c.store().read(|t| {
                let mut initial = Vec::new();
                visit_candidates::<T>(t, &selector, &fields, None, |o| {
                    if select(&o) {
                        initial.push(
                            drover_api::meta::redact_urls(&json!({"type": "ADDED", "object": o}).to_string())
                                .into_owned(),
                        );
                    }
                    true
                })?;
                Ok((initial, t.revision()?))
            })?;
            (initial, revision, revision, rx)
        }
        Some(from) => match c.watch_from(from) {
            Ok(resumed) => {
                // A bookmark may name the newest change replayed, of any kind.
                let passed = resumed.replay.iter().map(|e| e.revision).max().unwrap_or(from).max(from);
                let replay: Vec<String> = resumed
                    .replay
                    .iter()
                    .filter(|ev| ev.kind == T::KIND)
                    .filter_map(|ev| watch_line(ev, &selector, &fields))
                    .collect();
                (replay, from, passed, resumed.rx)
            }
            Err(oldest) => {
                let status = ApiError::new(
                    StatusCode::GONE,
                    "Expired",
                    format!("too old resource version: {from} ({oldest})"),
                )
                .status_json();
                let line = json!({"type": "ERROR", "object": status}).to_string();
                return Ok(watch_response(&c, stream::iter(vec![line]), None, None));
            }
        },
    };
    let seen = Arc::new(std::sync::atomic::AtomicI64::new(passed));
    let seen_by_updates = seen.clone();
    let updates =
        BroadcastStream::new(rx).take_while(|r| std::future::ready(r.is_ok())).filter_map(move |r| {
            let out = r.ok().and_then(|ev| {
                if ev.revision <= after {
                    return None;
                }
                seen_by_updates.fetch_max(ev.revision, std::sync::atomic::Ordering::Relaxed);
                if ev.kind != T::KIND {
                    return None;
                }
                watch_line(&ev, &selector, &fields)
            });
            std::future::ready(out)
        });
    let bookmarks = flag(&q.allow_watch_bookmarks).then_some((info, seen));
    let timeout = q.timeout_seconds.map(Duration::from_secs);
    let lines = stream::iter(initial).chain(updates);
    let Some(options) = table else {
        return Ok(watch_response(&c, lines, bookmarks, timeout));
    };
    // kubectl's `get -w`: each event's object is a Table of one row.
    let cc = c.clone();
    let lines = lines.map(move |line| as_table_event::<T>(&cc, &line, options, prepare).unwrap_or(line));
    Ok(watch_response(&c, lines, bookmarks, timeout))
}

/// A watch line `{"type":…,"object":…}` with its object as a Table of one row; `None` when
/// the line is not an event of a `T` (an error, a bookmark).
fn as_table_event<T: Object + drover_api::table::Printable>(
    c: &Coordinator,
    line: &str,
    options: drover_api::table::TableOptions,
    prepare: Prepare<T>,
) -> Option<String> {
    #[derive(Deserialize)]
    struct Event<T> {
        #[serde(rename = "type")]
        type_: String,
        object: T,
    }
    let ev: Event<T> = serde_json::from_str(line).ok()?;
    let mut items = [ev.object];
    prepare(c, &mut items).ok()?;
    let meta = drover_api::meta::ListMeta {
        resource_version: items[0].meta().resource_version.clone(),
        ..Default::default()
    };
    let table = drover_api::table::table_with(&items, now(), options, meta);
    Some(json!({"type": ev.type_, "object": table}).to_string())
}

/// A change as a watch line for a watcher of `T` with these selectors, or `None` when it does
/// not match. Changes are matched on the name and labels decoded once at publication, and sent
/// as the text the store wrote; only a field selector on other fields decodes the object.
fn watch_line(
    ev: &crate::state::WatchEvent,
    selector: &LabelSelector,
    fields: &FieldSelector,
) -> Option<String> {
    let wanted = fields.name().is_none_or(|n| n == ev.name)
        && selector.matches(&ev.labels)
        && (fields.by_name_only()
            || serde_json::from_str::<Value>(&ev.object).is_ok_and(|v| fields.matches(&v)));
    wanted.then(|| format!(r#"{{"type":"{}","object":{}}}"#, ev.type_, ev.object))
}

/// Marks a streamed response, which [`redact_passwords`] must not buffer (its lines are masked
/// where they are made).
#[derive(Clone, Copy)]
struct Streamed;

/// A watch's response: JSON objects, one a line (`Content-Type: application/json`, as
/// Kubernetes streams a watch), with a keepalive after each
/// [`Config::stream_keepalive`](crate::Config) of silence: a `BOOKMARK` event carrying the last
/// revision this watch has passed when the client allows bookmarks, else an empty line. Ends
/// after `timeout` (`timeoutSeconds`), if given, or when the coordinator stops.
fn watch_response<S>(
    c: &Coordinator,
    s: S,
    bookmarks: Option<(drover_api::resource::ResourceInfo, Arc<std::sync::atomic::AtomicI64>)>,
    timeout: Option<Duration>,
) -> Response
where
    S: Stream<Item = String> + Send + 'static,
{
    let lines = with_keepalive(s, c.config.stream_keepalive).map(move |line| {
        if !line.is_empty() {
            return line;
        }
        match &bookmarks {
            Some((info, seen)) => json!({
                "type": "BOOKMARK",
                "object": {
                    "kind": info.kind,
                    "apiVersion": info.api_version(),
                    "metadata": {"resourceVersion": seen.load(std::sync::atomic::Ordering::Relaxed).to_string()},
                },
            })
            .to_string(),
            None => line,
        }
    });
    let deadline = async move {
        match timeout {
            Some(t) => tokio::time::sleep(t).await,
            None => std::future::pending().await,
        }
    };
    let mut res = stream_lines(c, lines.take_until(deadline), "application/json");
    res.extensions_mut().insert(Streamed);
    res
}

/// `s`, with an empty string each time it has sent nothing for `every`: on the wire an empty
/// NDJSON line, which readers skip, and which tells them the connection is alive.
fn with_keepalive<S>(s: S, every: Duration) -> impl Stream<Item = String> + Send + 'static
where
    S: Stream<Item = String> + Send + 'static,
{
    let every = every.max(Duration::from_millis(10));
    stream::unfold(Box::pin(s), move |mut s| async move {
        match tokio::time::timeout(every, s.next()).await {
            Ok(Some(line)) => Some((line, s)),
            Ok(None) => None,
            Err(_) => Some((String::new(), s)),
        }
    })
}

/// Streams values as newline-delimited JSON until the stream ends or the coordinator stops,
/// with an empty line after every [`Config::stream_keepalive`](crate::Config) of silence.
fn ndjson<S>(c: &Coordinator, s: S) -> Response
where
    S: Stream<Item = String> + Send + 'static,
{
    stream_lines(c, with_keepalive(s, c.config.stream_keepalive), "application/x-ndjson")
}

/// Streams lines (each given a newline) as `content_type` until the stream ends or the
/// coordinator stops.
fn stream_lines<S>(c: &Coordinator, lines: S, content_type: &'static str) -> Response
where
    S: Stream<Item = String> + Send + 'static,
{
    let token = c.shutdown.clone();
    let lines = lines
        .map(|mut line| {
            line.push('\n');
            Ok::<_, Infallible>(Bytes::from(line))
        })
        .take_until(async move { token.cancelled().await });
    Response::builder()
        .header(header::CONTENT_TYPE, content_type)
        .body(Body::from_stream(lines))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

// === reads ===

/// Lists or watches a kind (`GET` on its collection).
async fn list<T>(
    State(c): State<Coordinator>,
    _: Scope,
    Negotiated(table): Negotiated,
    Query(q): Query<ListQuery>,
) -> ApiResult<Response>
where
    T: Object + drover_api::resource::Resource + drover_api::table::Printable + Send + 'static,
{
    list_or_watch::<T>(c, q, table, |_, _| Ok(())).await
}

/// One object (`GET` on its path, or its `status`), or its Table row.
async fn get_one<T>(
    State(c): State<Coordinator>,
    Named(name): Named,
    Negotiated(table): Negotiated,
) -> ApiResult<Response>
where
    T: Object + drover_api::resource::Resource + drover_api::table::Printable,
{
    let obj = c.store().get::<T>(&name)?.ok_or_else(|| ApiError::not_found(&T::INFO.qualified(), &name))?;
    Ok(one(obj, table))
}

// === jobs ===

/// The query of a write (POST, PUT, PATCH).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WriteQuery {
    /// `Strict` (Drover's default), `Warn` or `Ignore`: what an unknown field gets.
    field_validation: Option<String>,
    /// `All` asks for a dry run, which Drover does not do: refused rather than written.
    dry_run: Option<String>,
    /// Who applies (server-side apply).
    field_manager: Option<String>,
    /// Server-side apply takes the fields other managers own.
    force: Option<String>,
}

/// What a write does with unknown fields (`fieldValidation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FieldValidation {
    /// Refused with 400 (Drover's default; Kubernetes' is `Warn`, which loses a mistyped
    /// field without the user noticing).
    Strict,
    /// Dropped, each with a `Warning` header.
    Warn,
    /// Dropped.
    Ignore,
}

impl WriteQuery {
    fn validation(&self) -> ApiResult<FieldValidation> {
        match self.field_validation.as_deref() {
            None | Some("") | Some("Strict") => Ok(FieldValidation::Strict),
            Some("Warn") => Ok(FieldValidation::Warn),
            Some("Ignore") => Ok(FieldValidation::Ignore),
            Some(other) => Err(ApiError::bad_request(format!(
                "fieldValidation: Unsupported value: {other:?}: supported values: \"Ignore\", \"Strict\", \"Warn\""
            ))),
        }
    }

    /// Refuses a dry run: Drover cannot write nothing and answer as if it had.
    fn refuse_dry_run(&self) -> ApiResult<()> {
        match self.dry_run.as_deref() {
            None | Some("") => Ok(()),
            Some("All") => Err(ApiError::bad_request(
                "dryRun: Drover does not do server-side dry runs; nothing was written (use --dry-run=client)",
            )),
            Some(other) => Err(ApiError::bad_request(format!("dryRun: Unsupported value: {other:?}"))),
        }
    }
}

/// The path of an unknown field in a decoding error (`unknown field "spec.foo"`).
fn unknown_field(message: &str) -> Option<&str> {
    message.strip_prefix("unknown field \"").and_then(|rest| rest.strip_suffix('"'))
}

/// Removes the field at `path` (`spec.template.spec.containers[0].imagee`) from `value`.
fn remove_field(value: &mut Value, path: &str) {
    let mut parts: Vec<(String, Vec<usize>)> = Vec::new();
    for part in path.split('.') {
        let mut pieces = part.split('[');
        let key = pieces.next().unwrap_or_default().to_string();
        let indexes = pieces.filter_map(|p| p.trim_end_matches(']').parse().ok()).collect();
        parts.push((key, indexes));
    }
    let Some((last, _)) = parts.pop() else { return };
    let mut at = value;
    for (key, indexes) in &parts {
        let Some(next) = at.get_mut(key.as_str()) else { return };
        at = next;
        for i in indexes {
            let Some(next) = at.get_mut(*i) else { return };
            at = next;
        }
    }
    if let Some(map) = at.as_object_mut() {
        map.remove(&last);
    }
}

/// Checks a submitted object: unknown fields (as `fieldValidation` says), types and
/// validation, every error at once. Returns the object and the warnings to send.
fn admit(body: Value, validation: FieldValidation) -> ApiResult<(Manifest, Vec<String>)> {
    let invalid = |kind: &str, name: &str, messages: Vec<String>| {
        let mut err = ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Invalid",
            drover_api::validation::invalid_message(kind, name, &messages),
        );
        err.causes = messages;
        err.about(kind, name)
    };
    let mut body = body;
    let mut warnings = Vec::new();
    for attempt in 0..2 {
        let err = match drover_api::manifest::decode_object(body.clone(), "request body") {
            Ok(object) => return Ok((object, warnings)),
            Err(err) => err,
        };
        if err.reason != drover_api::manifest::ManifestErrorKind::Invalid {
            return Err(ApiError::bad_request(err.to_string()));
        }
        let kind = err.kind.as_deref().unwrap_or("object");
        let unknown: Vec<&str> = err.messages.iter().filter_map(|m| unknown_field(m)).collect();
        if unknown.is_empty() || attempt > 0 {
            return Err(invalid(kind, err.name.as_deref().unwrap_or(""), err.messages));
        }
        // Unknown fields alone are a decoding error (400, Kubernetes' strict decoding); with
        // other errors, every error is reported at once (422), which Kubernetes would not.
        if validation == FieldValidation::Strict && unknown.len() < err.messages.len() {
            return Err(invalid(kind, err.name.as_deref().unwrap_or(""), err.messages));
        }
        if validation == FieldValidation::Strict {
            let fields: Vec<String> = unknown.iter().map(|f| format!("unknown field \"{f}\"")).collect();
            let mut e = ApiError::bad_request(format!(
                "{kind} in version \"v1\" cannot be handled as a {kind}: strict decoding error: {}",
                fields.join(", ")
            ));
            e.causes = fields;
            return Err(e);
        }
        for field in &unknown {
            remove_field(&mut body, field);
            if validation == FieldValidation::Warn {
                warnings.push(format!("unknown field \"{field}\""));
            }
        }
    }
    unreachable!("the second attempt returns")
}

/// A reply with Kubernetes' `Warning` headers (`299 - "text"`), which kubectl prints.
fn with_warnings(mut res: Response, warnings: &[String]) -> Response {
    for w in warnings {
        let text = format!("299 - \"{}\"", w.replace('\\', "\\\\").replace('"', "\\\""));
        if let Ok(value) = header::HeaderValue::from_str(&text) {
            res.headers_mut().append(header::WARNING, value);
        }
    }
    res
}

/// Replaces the Job `name` by `body` (a PUT's, or a PATCH's result): the mutable fields of the
/// spec (VAL-22) take the submitted values; a change to an immutable field is refused.
fn replace_job_with(c: &Coordinator, name: &str, body: Value, validation: FieldValidation) -> Written<Job> {
    let name = name.to_string();
    let mut body = body;
    if let Some(stored) = c.store().get::<Job>(&name)? {
        drop_generated_selector(&mut body, &stored);
    }
    let (mut submitted, warnings) = Job::admit(body, validation)?;
    submitted.apply_defaults();
    if submitted.metadata.name != name {
        return Err(ApiError::bad_request(format!(
            "the name in the body {:?} is not {name:?}",
            submitted.metadata.name
        )));
    }
    let updated = c.commit(|t| {
        let Some(mut job) = t.get::<Job>(&name)? else {
            return Ok(Err(ApiError::not_found("jobs.batch", &name)));
        };
        if let Err(err) = check_resource_version("jobs.batch", &name, &submitted.metadata, &job.metadata) {
            return Ok(Err(err));
        }
        let mut errors = Vec::new();
        let (old, new) = (&job.spec, &submitted.spec);
        // Elastic Indexed Jobs (Kubernetes 1.27+): an Indexed Job's completions change only
        // together with parallelism, to the same value; they are immutable otherwise.
        let indexed = new.is_indexed();
        if old.completions != new.completions {
            let value = new.completions.map_or("null".to_string(), |n| n.to_string());
            if !indexed {
                errors.push(format!("spec.completions: Invalid value: {value}: field is immutable"));
            } else if new.completions.is_some() && new.completions != new.parallelism {
                errors.push(format!(
                    "spec.completions: Invalid value: {value}: can only be modified in tandem with spec.parallelism"
                ));
            }
        }
        if old.backoff_limit_per_index != new.backoff_limit_per_index {
            let value = new.backoff_limit_per_index.map_or("null".to_string(), |n| n.to_string());
            errors.push(format!("spec.backoffLimitPerIndex: Invalid value: {value}: field is immutable"));
        }
        if old.success_policy != new.success_policy {
            errors.push("spec.successPolicy: Invalid value: field is immutable".to_string());
        }
        let mut old_template = old.template.clone();
        let mut new_template = new.template.clone();
        old_template.metadata.labels.clear();
        new_template.metadata.labels.clear();
        if old_template != new_template {
            errors.push("spec.template: Invalid value: field is immutable".to_string());
        }
        if old.completion_mode != new.completion_mode {
            errors.push("spec.completionMode: Invalid value: field is immutable".to_string());
        }
        // Both sides are defaulted (each pattern's status is `True` unless given).
        if old.pod_failure_policy != new.pod_failure_policy {
            errors.push("spec.podFailurePolicy: Invalid value: field is immutable".to_string());
        }
        if !errors.is_empty() {
            let mut err = ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Invalid",
                format!("Job.batch {name:?} is invalid: {}", errors.join(", ")),
            );
            err.causes = errors;
            return Ok(Err(err.about("Job", &name)));
        }
        let spec_changed = job.spec.parallelism != new.parallelism
            || job.spec.completions != new.completions
            || job.spec.max_failed_indexes != new.max_failed_indexes
            || job.spec.suspend != new.suspend
            || job.spec.active_deadline_seconds != new.active_deadline_seconds
            || job.spec.backoff_limit != new.backoff_limit
            || job.spec.ttl_seconds_after_finished != new.ttl_seconds_after_finished
            || job.spec.pod_replacement_policy != new.pod_replacement_policy;
        job.spec.parallelism = new.parallelism;
        job.spec.completions = new.completions;
        job.spec.max_failed_indexes = new.max_failed_indexes;
        job.spec.suspend = new.suspend;
        job.spec.active_deadline_seconds = new.active_deadline_seconds;
        job.spec.backoff_limit = new.backoff_limit;
        job.spec.ttl_seconds_after_finished = new.ttl_seconds_after_finished;
        job.spec.pod_replacement_policy = new.pod_replacement_policy.clone();
        job.metadata.labels = submitted.metadata.labels.clone();
        job.metadata.annotations = submitted.metadata.annotations.clone();
        job.metadata.managed_fields = submitted.metadata.managed_fields.clone();
        if spec_changed {
            job.metadata.generation = Some(job.metadata.generation.unwrap_or(1) + 1);
        }
        Ok(Ok(t.update(job)?))
    })??;
    Ok((updated, warnings))
}

/// A kind users write (Jobs, CronJobs): how a body is admitted as one, and how an admitted one
/// is created or replaces the stored one. The handlers of POST, PUT and PATCH are generic over it.
trait Writable: Object + drover_api::resource::Resource + serde::Serialize + Sized {
    /// The kind's list rules for a strategic merge patch.
    const PATCH_KIND: drover_api::patch::PatchKind;
    /// [`admit`], for this kind.
    fn admit(body: Value, validation: FieldValidation) -> Written<Self>;
    /// Creates an admitted object.
    fn create(c: &Coordinator, obj: Self) -> ApiResult<Self>;
    /// Replaces the stored object `name` by `body`.
    fn replace(c: &Coordinator, name: &str, body: Value, validation: FieldValidation) -> Written<Self>;
}

/// A written object and the warnings to send with it.
type Written<T> = ApiResult<(T, Vec<String>)>;

impl Writable for Job {
    const PATCH_KIND: drover_api::patch::PatchKind = drover_api::patch::PatchKind::Job;

    fn admit(body: Value, validation: FieldValidation) -> Written<Job> {
        match admit(body, validation)? {
            (Manifest::Job(job), warnings) => Ok((job, warnings)),
            (other, _) => Err(ApiError::bad_request(format!("expected a Job, got a {}", other.kind()))),
        }
    }

    fn create(c: &Coordinator, job: Job) -> ApiResult<Job> {
        let now = now();
        let created = c.commit(|t| crate::controller::create_job(t, job, now))?;
        tracing::info!(job = %created.metadata.name, "Job created");
        Ok(created)
    }

    fn replace(c: &Coordinator, name: &str, body: Value, validation: FieldValidation) -> Written<Job> {
        replace_job_with(c, name, body, validation)
    }
}

impl Writable for CronJob {
    const PATCH_KIND: drover_api::patch::PatchKind = drover_api::patch::PatchKind::CronJob;

    fn admit(body: Value, validation: FieldValidation) -> Written<CronJob> {
        match admit(body, validation)? {
            (Manifest::CronJob(cj), warnings) => Ok((cj, warnings)),
            (other, _) => Err(ApiError::bad_request(format!("expected a CronJob, got a {}", other.kind()))),
        }
    }

    fn create(c: &Coordinator, mut cj: CronJob) -> ApiResult<CronJob> {
        cj.apply_defaults();
        cj.status = Default::default();
        let now = now();
        let created = c.commit(|t| t.create(cj, now))?;
        tracing::info!(cronjob = %created.metadata.name, schedule = %created.spec.schedule, "CronJob created");
        Ok(created)
    }

    fn replace(c: &Coordinator, name: &str, body: Value, validation: FieldValidation) -> Written<CronJob> {
        replace_cronjob_with(c, name, body, validation)
    }
}

/// POST on a collection.
async fn create<T: Writable>(
    State(c): State<Coordinator>,
    _: Scope,
    Query(q): Query<WriteQuery>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Response> {
    q.refuse_dry_run()?;
    let (obj, warnings) = T::admit(body, q.validation()?)?;
    let created = T::create(&c, obj)?;
    Ok(with_warnings((StatusCode::CREATED, Json(created)).into_response(), &warnings))
}

/// PUT (`apply`, `suspend`, `resume`, `get -o yaml`, edit, replace).
async fn replace<T: Writable>(
    State(c): State<Coordinator>,
    Named(name): Named,
    Query(q): Query<WriteQuery>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Response> {
    q.refuse_dry_run()?;
    let (updated, warnings) = T::replace(&c, &name, body, q.validation()?)?;
    Ok(with_warnings(Json(updated).into_response(), &warnings))
}

/// PATCH ([`patch`]).
async fn patch_object<T: Writable>(
    State(c): State<Coordinator>,
    Named(name): Named,
    Query(q): Query<WriteQuery>,
    headers: axum::http::HeaderMap,
    ApiBytes(body): ApiBytes,
) -> ApiResult<Response> {
    patch::<T>(&c, &name, &q, &headers, &body)
}

/// A Job read back from the API carries the selector and the template labels generated from its
/// uid, which a new Job may not set. So that `get -o yaml`, edit, replace works (as in
/// Kubernetes, where update validation compares with the old object), a replace drops them when
/// they are exactly the stored Job's generated ones; the stored values are kept either way.
fn drop_generated_selector(body: &mut Value, stored: &Job) {
    if stored.spec.manual_selector.unwrap_or(false) {
        return;
    }
    let uid = stored.metadata.uid.as_str();
    let generated_selector = serde_json::to_value(&stored.spec.selector).ok();
    if let Some(spec) = body.get_mut("spec").and_then(Value::as_object_mut) {
        if spec.get("selector").is_some() && spec.get("selector") == generated_selector.as_ref() {
            spec.remove("selector");
        }
        if let Some(labels) = spec
            .get_mut("template")
            .and_then(|t| t.get_mut("metadata"))
            .and_then(|m| m.get_mut("labels"))
            .and_then(Value::as_object_mut)
        {
            for key in [labels::CONTROLLER_UID, labels::CONTROLLER_UID_LEGACY] {
                if labels.get(key).and_then(Value::as_str) == Some(uid) {
                    labels.remove(key);
                }
            }
        }
    }
}

/// A replace (PUT) that carries a `metadata.resourceVersion` applies only to that version of the
/// object, as in Kubernetes: a stale one is refused with 409 Conflict, so two clients that read
/// the same object cannot silently overwrite each other. Without one, the replace is
/// unconditional (what `apply` of a file does).
fn check_resource_version(
    resource: &str,
    name: &str,
    submitted: &drover_api::ObjectMeta,
    stored: &drover_api::ObjectMeta,
) -> ApiResult<()> {
    if submitted.resource_version.is_empty() || submitted.resource_version == stored.resource_version {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::CONFLICT,
        "Conflict",
        format!(
            "Operation cannot be fulfilled on {resource} {name:?}: the object has been modified; please apply your changes to the latest version and try again"
        ),
    ))
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DeleteQuery {
    propagation_policy: Option<String>,
    dry_run: Option<String>,
}

/// A DELETE's body: Kubernetes' `DeleteOptions` (kubectl sends its `--cascade` there).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DeleteOptions {
    propagation_policy: Option<String>,
    /// The deprecated form of `propagationPolicy: Orphan`.
    orphan_dependents: Option<bool>,
    preconditions: Option<Preconditions>,
    #[serde(default)]
    dry_run: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Preconditions {
    uid: Option<String>,
    resource_version: Option<String>,
}

/// What a DELETE asks for: whether dependents go too, and the preconditions.
struct Deletion {
    cascade: bool,
    preconditions: Preconditions,
}

impl Deletion {
    /// From the query and the body (which wins): `Background` (the default) and `Foreground`
    /// delete the dependents with the object, in one transaction (so the two differ only in
    /// Kubernetes); `Orphan` leaves them. A dry run is refused: nothing is deleted.
    fn read(q: &DeleteQuery, body: &[u8]) -> ApiResult<Deletion> {
        let options: DeleteOptions = if body.iter().all(u8::is_ascii_whitespace) {
            DeleteOptions::default()
        } else {
            serde_json::from_slice(body)
                .map_err(|e| ApiError::bad_request(format!("invalid DeleteOptions: {e}")))?
        };
        if !options.dry_run.is_empty() || q.dry_run.as_deref().is_some_and(|d| !d.is_empty()) {
            return Err(ApiError::bad_request(
                "dryRun: Drover does not do server-side dry runs; nothing was deleted (use --dry-run=client)",
            ));
        }
        let policy = options
            .propagation_policy
            .or_else(|| (options.orphan_dependents == Some(true)).then(|| "Orphan".to_string()))
            .or_else(|| q.propagation_policy.clone());
        let cascade = match policy.as_deref() {
            None | Some("Background") | Some("Foreground") => true,
            Some("Orphan") => false,
            Some(other) => {
                return Err(ApiError::bad_request(format!(
                    "propagationPolicy: Unsupported value: {other:?}: supported values: \"Background\", \"Foreground\", \"Orphan\""
                )));
            }
        };
        Ok(Deletion { cascade, preconditions: options.preconditions.unwrap_or_default() })
    }

    /// Refuses the deletion when a precondition does not hold for `meta` (409, Kubernetes'
    /// message).
    fn check(&self, resource: &str, meta: &drover_api::ObjectMeta) -> ApiResult<()> {
        let p = &self.preconditions;
        let failed = |what: &str, want: &str, got: &str| {
            ApiError::new(
                StatusCode::CONFLICT,
                "Conflict",
                format!(
                    "Operation cannot be fulfilled on {resource} {:?}: Precondition failed: {what} in precondition: {want}, {what} in object meta: {got}",
                    meta.name
                ),
            )
        };
        if let Some(uid) = p.uid.as_deref().filter(|u| *u != meta.uid) {
            return Err(failed("UID", uid, &meta.uid));
        }
        if let Some(rv) = p.resource_version.as_deref().filter(|v| *v != meta.resource_version) {
            return Err(failed("ResourceVersion", rv, &meta.resource_version));
        }
        Ok(())
    }
}

async fn remove_job(
    State(c): State<Coordinator>,
    Named(name): Named,
    Query(q): Query<DeleteQuery>,
    ApiBytes(body): ApiBytes,
) -> ApiResult<Json<Job>> {
    let deletion = Deletion::read(&q, &body)?;
    if let Some(job) = c.store().get::<Job>(&name)? {
        deletion.check("jobs.batch", &job.metadata)?;
    }
    delete_job(&c, &name, deletion.cascade)?.map(Json).ok_or_else(|| ApiError::not_found("jobs.batch", &name))
}

// === patches ===

/// The most attempts a patch makes when the object changed between its read and its write (as
/// kube-apiserver retries a patch on a conflict it caused itself).
const PATCH_ATTEMPTS: usize = 5;

/// PATCH in Kubernetes' four forms, chosen by `Content-Type`: JSON merge patch, strategic
/// merge patch (kubectl's default and client-side `apply`), JSON patch, and server-side apply
/// (`application/apply-patch+yaml`, which creates the object when it does not exist). The
/// patched object then goes through the same checks as a replace: validation, immutable
/// fields, and the `resourceVersion` precondition when the patch sets one.
fn patch<T: Writable>(
    c: &Coordinator,
    name: &str,
    q: &WriteQuery,
    headers: &axum::http::HeaderMap,
    body: &[u8],
) -> ApiResult<Response> {
    use drover_api::patch;
    q.refuse_dry_run()?;
    let validation = q.validation()?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default();
    let bad = |e: patch::PatchError| ApiError::bad_request(e.to_string());
    let apply = content_type == "application/apply-patch+yaml";
    let patch_value: Value = match content_type.as_str() {
        "application/apply-patch+yaml" => patch::parse_apply_body(body).map_err(bad)?,
        "application/merge-patch+json"
        | "application/strategic-merge-patch+json"
        | "application/json-patch+json" => serde_json::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("the patch is not JSON: {e}")))?,
        other => {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "UnsupportedMediaType",
                format!(
                    "the body of the request was in an unknown format ({other:?}): accepted media types are application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json, application/apply-patch+yaml"
                ),
            ));
        }
    };
    let force = flag(&q.force);
    if force && !apply {
        return Err(ApiError::bad_request("force: Forbidden: may not be specified for non-apply patch"));
    }
    let manager = q.field_manager.clone().unwrap_or_default();
    let sets_version = patch_value["metadata"]["resourceVersion"].is_string();
    for attempt in 1..=PATCH_ATTEMPTS {
        let live = c.store().get::<T>(name)?;
        let Some(live) = live else {
            if !apply {
                return Err(ApiError::not_found(&T::INFO.qualified(), name));
            }
            let mut created =
                patch::server_side_apply(None, &patch_value, &manager, force, now()).map_err(apply_error)?;
            // The object is the one the path names (its name may be left out of the body).
            match created["metadata"]["name"].as_str() {
                None | Some("") => created["metadata"]["name"] = json!(name),
                Some(given) if given != name => {
                    return Err(ApiError::bad_request(format!(
                        "the name of the object ({given:?}) does not match the name on the URL ({name:?})"
                    )));
                }
                Some(_) => {}
            }
            let (obj, warnings) = T::admit(created, validation)?;
            let obj = T::create(c, obj)?;
            return Ok(with_warnings((StatusCode::CREATED, Json(obj)).into_response(), &warnings));
        };
        let mut target = serde_json::to_value(&live).map_err(|e| ApiError::bad_request(e.to_string()))?;
        match content_type.as_str() {
            "application/merge-patch+json" => patch::merge_patch(&mut target, &patch_value),
            "application/strategic-merge-patch+json" => {
                patch::strategic_merge_patch(&mut target, &patch_value, T::PATCH_KIND).map_err(bad)?
            }
            "application/json-patch+json" => patch::json_patch(&mut target, &patch_value).map_err(bad)?,
            _ => {
                target = patch::server_side_apply(Some(&target), &patch_value, &manager, force, now())
                    .map_err(apply_error)?
            }
        }
        match T::replace(c, name, target, validation) {
            Ok((obj, warnings)) => return Ok(with_warnings(Json(obj).into_response(), &warnings)),
            // The object changed since it was read: patch the new version, unless the patch
            // itself asked for a version.
            Err(e) if e.code == StatusCode::CONFLICT && !sets_version && attempt < PATCH_ATTEMPTS => continue,
            Err(e) => return Err(e),
        }
    }
    unreachable!("the last attempt returns")
}

/// A server-side apply error as Kubernetes answers it (409 for conflicts).
fn apply_error(e: drover_api::patch::ApplyError) -> ApiError {
    match e {
        drover_api::patch::ApplyError::Conflict(_) => {
            ApiError::new(StatusCode::CONFLICT, "Conflict", e.to_string())
        }
        other => ApiError::bad_request(other.to_string()),
    }
}

// === cronjobs ===

/// Replaces the CronJob `name` by `body` (a PUT's, or a PATCH's result): every field of its
/// spec may change (CJ-S3: only future Jobs see a new template); the status is kept.
fn replace_cronjob_with(
    c: &Coordinator,
    name: &str,
    body: Value,
    validation: FieldValidation,
) -> Written<CronJob> {
    let name = name.to_string();
    let (mut submitted, warnings) = CronJob::admit(body, validation)?;
    submitted.apply_defaults();
    if submitted.metadata.name != name {
        return Err(ApiError::bad_request(format!(
            "the name in the body {:?} is not {name:?}",
            submitted.metadata.name
        )));
    }
    let updated = c.commit(|t| {
        let Some(mut cj) = t.get::<CronJob>(&name)? else {
            return Ok(Err(ApiError::not_found("cronjobs.batch", &name)));
        };
        if let Err(err) = check_resource_version("cronjobs.batch", &name, &submitted.metadata, &cj.metadata) {
            return Ok(Err(err));
        }
        keep_redacted_password(&mut submitted.spec, &cj.spec);
        if cj.spec != submitted.spec {
            cj.metadata.generation = Some(cj.metadata.generation.unwrap_or(1) + 1);
        }
        cj.spec = submitted.spec.clone();
        cj.metadata.labels = submitted.metadata.labels.clone();
        cj.metadata.annotations = submitted.metadata.annotations.clone();
        cj.metadata.managed_fields = submitted.metadata.managed_fields.clone();
        Ok(Ok(t.update(cj)?))
    })??;
    Ok((updated, warnings))
}

/// A CronJob read back from the API shows its queue URL's password masked; a replace that
/// sends that masked URL back keeps the stored one (as `drop_generated_selector` does for a
/// Job's generated fields), so that `get -o yaml`, edit, `apply` does not lose the password.
fn keep_redacted_password(
    submitted: &mut drover_api::cronjob::CronJobSpec,
    stored: &drover_api::cronjob::CronJobSpec,
) {
    if let (Some(new), Some(old)) = (&mut submitted.job_template.spec.queue, &stored.job_template.spec.queue)
        && new.url != old.url
        && new.url == drover_api::meta::redact_url(&old.url)
    {
        new.url.clone_from(&old.url);
    }
}

async fn remove_cronjob(
    State(c): State<Coordinator>,
    Named(name): Named,
    Query(q): Query<DeleteQuery>,
    ApiBytes(body): ApiBytes,
) -> ApiResult<Json<CronJob>> {
    let deletion = Deletion::read(&q, &body)?;
    if let Some(cj) = c.store().get::<CronJob>(&name)? {
        deletion.check("cronjobs.batch", &cj.metadata)?;
    }
    crate::cronjobs::delete_cronjob(&c, &name, deletion.cascade)?
        .map(Json)
        .ok_or_else(|| ApiError::not_found("cronjobs.batch", &name))
}

// === pods ===

#[derive(Debug, Default, Deserialize)]
struct LogQuery {
    follow: Option<bool>,
    container: Option<String>,
}

/// Where the log of `container` of `pod` is kept: the pod's uid for its container (the default),
/// `<uid>/<name>` for an init container; any other name is refused as Kubernetes refuses it.
fn log_key(pod: &Pod, container: Option<&str>) -> ApiResult<String> {
    let uid = &pod.metadata.uid;
    match container.filter(|c| !c.is_empty()) {
        None => Ok(uid.clone()),
        Some(c) if pod.spec.containers.iter().any(|x| x.name == c) => Ok(uid.clone()),
        Some(c) if pod.spec.init_containers.iter().any(|x| x.name == c) => {
            Ok(drover_store::container_log_key(uid, c))
        }
        Some(c) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            format!("container {c} is not valid for pod {}", pod.metadata.name),
        )),
    }
}

async fn read_log(
    State(c): State<Coordinator>,
    Named(name): Named,
    Query(q): Query<LogQuery>,
) -> ApiResult<Response> {
    let pod = c.store().get::<Pod>(&name)?.ok_or_else(|| ApiError::not_found("pods", &name))?;
    let uid = pod.metadata.uid.clone();
    let key = log_key(&pod, q.container.as_deref())?;
    // An init container's log ends with its success (or the pod's end).
    let init = (key != uid).then(|| q.container.clone().unwrap_or_default());
    if !q.follow.unwrap_or(false) {
        let (bytes, _) = c.store().read(|t| t.read_log(&key, 0))?;
        return Ok(([(header::CONTENT_TYPE, "text/plain")], bytes).into_response());
    }
    let logs = c.log_notifications();
    let token = c.shutdown.clone();
    let body = stream::unfold((c, 0i64, false), move |(c, offset, done)| {
        let uid = uid.clone();
        let key = key.clone();
        let init = init.clone();
        let name = name.clone();
        let mut logs = logs.clone();
        let token = token.clone();
        async move {
            if done {
                return None;
            }
            loop {
                logs.borrow_and_update();
                let (bytes, next) = c.store().read(|t| t.read_log(&key, offset)).ok()?;
                if !bytes.is_empty() {
                    return Some((Ok::<_, Infallible>(Bytes::from(bytes)), (c, next, false)));
                }
                let finished = c.store().get::<Pod>(&name).ok().flatten().is_none_or(|p| {
                    let init_done = init.as_deref().is_some_and(|n| {
                        p.status.init_container_statuses.iter().any(|s| {
                            s.name == n && s.state.terminated.as_ref().is_some_and(|t| t.exit_code == 0)
                        })
                    });
                    p.metadata.uid != uid || p.is_terminal() || init_done
                });
                if finished {
                    return None;
                }
                tokio::select! {
                    _ = token.cancelled() => return None,
                    r = logs.changed() => if r.is_err() { return None },
                }
            }
        }
    });
    Ok(Response::builder()
        .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .body(Body::from_stream(body))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response()))
}

#[derive(Debug, Default, Deserialize)]
struct AppendQuery {
    offset: Option<String>,
    uid: Option<String>,
    worker: Option<String>,
    /// An init container's name: the chunk is of its log.
    container: Option<String>,
}

/// A worker appends a chunk of a pod's output at `offset`. The pod must exist, its uid must be
/// the one given (404, 409: a chunk for a pod that was replaced), it must be bound to the worker
/// given (409), and the chunk must lie between byte 0 and [`drover_store::MAX_LOG_OFFSET`]
/// (422, from the store's own check). The worker
/// is known when the request names it (`worker=`).
async fn append_log(
    State(c): State<Coordinator>,
    Named(name): Named,
    headers: axum::http::HeaderMap,
    Query(q): Query<AppendQuery>,
    ApiBytes(body): ApiBytes,
) -> ApiResult<StatusCode> {
    let invalid = |message: String| {
        let mut err = ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Invalid",
            format!("log chunk for pod {name:?} is invalid: {message}"),
        );
        err.causes = vec![message];
        err
    };
    let offset = match q.offset.as_deref() {
        None => 0,
        Some(text) => text.parse::<i64>().map_err(|_| {
            invalid(format!("offset: Invalid value: {text:?}: must be a byte offset (a whole number)"))
        })?,
    };
    let pod = c.store().get::<Pod>(&name)?.ok_or_else(|| ApiError::not_found("pods", &name))?;
    let uid = pod.metadata.uid.clone();
    if let Some(given) = q.uid.filter(|given| *given != uid) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "Conflict",
            format!(
                "pod {name:?} has uid {uid:?}, not {given:?}: the log chunk is for a pod that no longer exists"
            ),
        ));
    }
    // Only a worker appends, about itself: it names itself and proves it.
    let Some(worker) = q.worker else {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            format!(
                "Unauthorized: a log chunk comes from a worker, which names itself (worker=) and sends its credential ({WORKER_CREDENTIAL_HEADER})"
            ),
        ));
    };
    check_worker(&c, &headers, &worker)?;
    if pod.spec.node_name.as_deref() != Some(worker.as_str()) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "Conflict",
            format!(
                "pod {name:?} is not bound to worker {worker:?} (bound to {:?}): only its worker appends to its log",
                pod.spec.node_name.as_deref().unwrap_or("")
            ),
        ));
    }
    let key = log_key(&pod, q.container.as_deref())?;
    c.store().write(|t| t.append_log(&key, offset, &body))?;
    c.notify_logs();
    Ok(StatusCode::NO_CONTENT)
}

async fn report_status(
    State(c): State<Coordinator>,
    Named(name): Named,
    headers: axum::http::HeaderMap,
    ApiJson(report): ApiJson<StatusReport>,
) -> ApiResult<Json<Pod>> {
    check_worker(&c, &headers, &report.worker)?;
    match c.report_status(&name, report) {
        Ok(pod) => Ok(Json(pod)),
        Err(ReportError::Store(e)) => Err(e.into()),
        Err(ReportError::Stale(msg)) => Err(ApiError::new(StatusCode::CONFLICT, "Conflict", msg)),
    }
}

// === events ===

#[derive(Debug, Default, Deserialize)]
struct EventQuery {
    kind: Option<String>,
    name: Option<String>,
    uid: Option<String>,
}

/// The newest events of all objects that `GET /api/v1/events` without `kind` and `name` returns
/// (events also expire after `--event-ttl`).
const RECENT_EVENTS: usize = 1000;

async fn list_events(
    State(c): State<Coordinator>,
    _: Scope,
    Negotiated(table): Negotiated,
    Query(q): Query<EventQuery>,
    Query(lq): Query<ListQuery>,
) -> ApiResult<Response> {
    let fields = lq.fields(&drover_api::resource::EVENTS)?;
    // Drover's own client names the object with `kind` and `name`; Kubernetes clients with a
    // field selector on `involvedObject`.
    let term = |f: &str| fields.0.iter().find(|(field, eq, _)| field == f && *eq).map(|(_, _, v)| v.clone());
    let kind = q.kind.clone().or_else(|| term("involvedObject.kind"));
    let name = q.name.clone().or_else(|| term("involvedObject.name"));
    let uid = q.uid.clone().or_else(|| term("involvedObject.uid"));
    if q.kind.is_some() != q.name.is_some() {
        return Err(ApiError::bad_request("kind and name go together"));
    }
    // An object's events are read by the index; any other selection is made (below) among the
    // newest events of all objects.
    let events = match (&kind, &name) {
        (Some(kind), Some(name)) => {
            c.store().read(|t| t.events_with_ids(Some((kind, name, uid.as_deref())), usize::MAX))?
        }
        _ => c.store().read(|t| t.events_with_ids(None, RECENT_EVENTS))?,
    };
    if q.kind.is_some() {
        // Drover's own shape, for its client.
        let items: Vec<_> = events.into_iter().map(|(_, e)| e).collect();
        return Ok(Json(json!({"kind": "List", "apiVersion": "v1", "items": items})).into_response());
    }
    let revision = events.last().map_or(0, |(id, _)| *id);
    // Ordered by name, as Kubernetes lists (an object's events then follow one another in time).
    let mut items: Vec<(Value, drover_api::Event)> = events
        .into_iter()
        .map(|(id, e)| (e.to_core_v1_with_id(id), e))
        .filter(|(v, _)| fields.matches(v))
        .collect();
    items.sort_by(|a, b| a.0["metadata"]["name"].as_str().cmp(&b.0["metadata"]["name"].as_str()));
    let (page, revision, token, remaining) =
        paginate(items, |(v, _)| v["metadata"]["name"].as_str().unwrap_or(""), &lq, revision)?;
    if let Some(options) = table {
        let events: Vec<drover_api::Event> = page.into_iter().map(|(_, e)| e).collect();
        let meta = drover_api::meta::ListMeta {
            resource_version: revision.to_string(),
            continue_: token,
            remaining_item_count: (remaining > 0).then_some(remaining as i64),
        };
        return Ok(Json(drover_api::table::table_with(&events, now(), options, meta)).into_response());
    }
    let page: Vec<Value> = page.into_iter().map(|(v, _)| v).collect();
    if flag(&lq.watch) {
        // Events are not watched: the current ones are sent, then the stream stays open.
        let lines: Vec<String> =
            page.iter().map(|e| json!({"type": "ADDED", "object": e}).to_string()).collect();
        return Ok(watch_response(&c, stream::iter(lines).chain(stream::pending()), None, None));
    }
    Ok(Json(list_body(&drover_api::resource::EVENTS, &page, revision, token, Some(remaining)))
        .into_response())
}

// === workers ===

async fn list_workers(
    State(c): State<Coordinator>,
    _: Scope,
    Negotiated(table): Negotiated,
    Query(q): Query<ListQuery>,
) -> ApiResult<Response> {
    list_or_watch::<Worker>(c, q, table, count_running).await
}

async fn get_worker(
    State(c): State<Coordinator>,
    Named(name): Named,
    Negotiated(table): Negotiated,
) -> ApiResult<Response> {
    let mut worker = c.store().get::<Worker>(&name)?.ok_or_else(|| ApiError::not_found("workers", &name))?;
    if table.is_some() {
        count_running(&c, std::slice::from_mut(&mut worker))?;
    }
    Ok(one(worker, table))
}

/// Fills each worker's `status.running` (for its Table row): its bound pods not yet finished.
/// Counted from the `(kind, node, phase)` index, so the cost is the workers' busy slots, not
/// every pod the store keeps.
fn count_running(c: &Coordinator, workers: &mut [Worker]) -> ApiResult<()> {
    c.store().read(|t| {
        for w in workers.iter_mut() {
            let running = t.count_on_node_in::<Pod>(
                &w.metadata.name,
                &[drover_api::pod::phase::PENDING, drover_api::pod::phase::RUNNING],
            )?;
            w.status.running = i32::try_from(running).unwrap_or(i32::MAX);
        }
        Ok(())
    })?;
    Ok(())
}

async fn register_worker(
    State(c): State<Coordinator>,
    ApiJson(reg): ApiJson<Registration>,
) -> ApiResult<Response> {
    let errors = drover_api::validation::validate_name("name", &reg.name, 253);
    if !errors.is_empty() || reg.slots < 1 {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Invalid",
            format!("invalid worker registration: name {:?}, slots {}", reg.name, reg.slots),
        ));
    }
    let (worker, credential) = c.register_worker(&reg)?;
    let mut res = Json(worker).into_response();
    if let Ok(value) = header::HeaderValue::from_str(&credential) {
        res.headers_mut().insert(WORKER_CREDENTIAL_HEADER, value);
    }
    Ok(res)
}

/// Refuses a call about worker `name` that does not carry its credential (401): the shared
/// token admits workers, the credential says which one calls, so that no worker (and no holder
/// of the token) reports, records or streams as another.
fn check_worker(c: &Coordinator, headers: &axum::http::HeaderMap, name: &str) -> ApiResult<()> {
    let presented = headers.get(WORKER_CREDENTIAL_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("");
    if !presented.is_empty() && c.worker_credential_is(name, presented)? {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::UNAUTHORIZED,
        "Unauthorized",
        format!(
            "Unauthorized: calls about worker {name:?} need its credential ({WORKER_CREDENTIAL_HEADER}), which it gets when it registers"
        ),
    ))
}

async fn heartbeat(
    State(c): State<Coordinator>,
    Named(name): Named,
    headers: axum::http::HeaderMap,
) -> ApiResult<Response> {
    check_worker(&c, &headers, &name)?;
    let reply = c.heartbeat(&name)?;
    if reply.registered {
        Ok(Json(reply).into_response())
    } else {
        Err(ApiError::new(StatusCode::GONE, "Gone", format!("worker {name:?} must register again")))
    }
}

async fn report_statuses(
    State(c): State<Coordinator>,
    Named(name): Named,
    headers: axum::http::HeaderMap,
    ApiJson(reports): ApiJson<Vec<PodReport>>,
) -> ApiResult<Json<Vec<ReportResult>>> {
    check_worker(&c, &headers, &name)?;
    if reports.iter().any(|r| r.report.worker != name) {
        return Err(ApiError::bad_request(format!("every report must come from worker {name:?}")));
    }
    let results = c.report_statuses(reports.into_iter().map(|r| (r.pod, r.report)).collect())?;
    Ok(Json(
        results
            .into_iter()
            .map(|r| match r {
                Ok(()) => ReportResult { code: 200, message: String::new() },
                Err(message) => ReportResult { code: 409, message },
            })
            .collect(),
    ))
}

/// The longest task id the ledger takes, in bytes (an AMQP `message_id` is at most 255).
const MAX_TASK_ID: usize = 1024;

async fn record_tasks(
    State(c): State<Coordinator>,
    Named(name): Named,
    headers: axum::http::HeaderMap,
    ApiJson(records): ApiJson<Vec<TaskRecord>>,
) -> ApiResult<Json<Vec<TaskRecordResult>>> {
    check_worker(&c, &headers, &name)?;
    if let Some(bad) = records.iter().flat_map(|r| &r.tasks).find(|t| t.is_empty() || t.len() > MAX_TASK_ID) {
        return Err(ApiError::bad_request(format!(
            "tasks: Invalid value: {} bytes: a task id must be 1 to {MAX_TASK_ID} bytes",
            bad.len()
        )));
    }
    let results = c.record_tasks(&name, &records)?;
    Ok(Json(
        results
            .into_iter()
            .map(|r| match r {
                Ok(first) => TaskRecordResult { code: 200, message: String::new(), first },
                Err(message) => TaskRecordResult { code: 409, message, first: Vec::new() },
            })
            .collect(),
    ))
}

async fn drain_worker(State(c): State<Coordinator>, Named(name): Named) -> ApiResult<Json<Worker>> {
    c.drain_worker(&name)?.map(Json).ok_or_else(|| ApiError::not_found("workers", &name))
}

async fn cordon_worker(State(c): State<Coordinator>, Named(name): Named) -> ApiResult<Json<Worker>> {
    c.cordon_worker(&name, true)?.map(Json).ok_or_else(|| ApiError::not_found("workers", &name))
}

async fn uncordon_worker(State(c): State<Coordinator>, Named(name): Named) -> ApiResult<Json<Worker>> {
    c.cordon_worker(&name, false)?.map(Json).ok_or_else(|| ApiError::not_found("workers", &name))
}

async fn deregister_worker(State(c): State<Coordinator>, Named(name): Named) -> ApiResult<Json<Worker>> {
    c.deregister_worker(&name)?.map(Json).ok_or_else(|| ApiError::not_found("workers", &name))
}

/// An [`Assignment::Pod`] message around a pod's stored JSON text, without decoding it.
fn assignment_pod_line(pod: &str) -> String {
    format!(r#"{{"type":"POD","pod":{pod}}}"#)
}

async fn assignments(
    State(c): State<Coordinator>,
    Named(name): Named,
    headers: axum::http::HeaderMap,
) -> ApiResult<Response> {
    check_worker(&c, &headers, &name)?;
    if c.store().get::<Worker>(&name)?.is_none() {
        return Err(ApiError::not_found("workers", &name));
    }
    // Open the session before reading the bound pods so nothing bound in between is missed;
    // a pod may then arrive twice, which the worker tolerates.
    let (rx, guard) = c.open_session(&name).into_parts();
    let pods = c.bound_pods(&name)?;
    let first =
        stream::once(async move { serde_json::to_string(&Assignment::Sync { pods }).unwrap_or_default() });
    // The stream owns the session's guard: however it ends (replaced, ended by a deregistration
    // or a lost lease, the worker gone, the coordinator stopping), dropping it removes the
    // session.
    let rest = UnboundedReceiverStream::new(rx).map(move |message| {
        let _session = &guard;
        match message {
            SessionMessage::Pod(pod) => assignment_pod_line(&pod),
            SessionMessage::RecheckDrain(pods) => {
                serde_json::to_string(&Assignment::RecheckDrain { pods }).unwrap_or_default()
            }
        }
    });
    Ok(ndjson(&c, first.chain(rest)))
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_cronjob_replaced_with_its_masked_url_keeps_the_stored_password() {
        let spec_with = |url: &str| {
            let mut spec = drover_api::cronjob::CronJobSpec::default();
            spec.job_template.spec.queue =
                Some(drover_api::job::QueueSpec { url: url.into(), name: "q".into(), ..Default::default() });
            spec
        };
        let url = |spec: &drover_api::cronjob::CronJobSpec| {
            spec.job_template.spec.queue.as_ref().unwrap().url.clone()
        };
        let stored = spec_with("amqp://u:hunter2@h/%2f");
        let mut masked = spec_with("amqp://u:***@h/%2f");
        super::keep_redacted_password(&mut masked, &stored);
        assert_eq!(url(&masked), "amqp://u:hunter2@h/%2f", "the masked URL means: unchanged");
        let mut changed = spec_with("amqp://u:new@h/%2f");
        super::keep_redacted_password(&mut changed, &stored);
        assert_eq!(url(&changed), "amqp://u:new@h/%2f", "a new password is taken");
        let mut other_host = spec_with("amqp://u:***@other/%2f");
        super::keep_redacted_password(&mut other_host, &stored);
        assert_eq!(url(&other_host), "amqp://u:***@other/%2f", "only the stored URL, masked, is restored");
    }

    use super::*;
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

    thread_local! {
        /// Worker `w`'s credential in this test (current-thread runtime: one thread per test).
        static CREDENTIAL: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
    }

    /// A coordinator (in-memory store, keepalive every 100 ms) serving on 127.0.0.1, with one
    /// registered worker `w`, whose credential [`CREDENTIAL`] keeps.
    async fn serve() -> (Coordinator, std::net::SocketAddr) {
        let config =
            crate::Config { stream_keepalive: Duration::from_millis(100), ..crate::Config::default() };
        let store = std::sync::Arc::new(drover_store::Store::open_in_memory().unwrap());
        let c = Coordinator::new(store, config, tokio_util::sync::CancellationToken::new());
        let reg = Registration {
            name: "w".into(),
            slots: 1,
            version: "test".into(),
            incarnation: "i1".into(),
            hostname: None,
        };
        let (_, credential) = c.register_worker(&reg).unwrap();
        CREDENTIAL.with(|k| *k.borrow_mut() = credential);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let token = c.shutdown.clone();
        let app = router(c.clone());
        tokio::spawn(async move {
            axum::serve(listener, app).with_graceful_shutdown(async move { token.cancelled().await }).await
        });
        (c, addr)
    }

    /// Opens `path` with an HTTP/1.0 request (so the streamed body comes as it is, not chunked)
    /// and returns the body's reader, past the head.
    async fn raw_get(addr: std::net::SocketAddr, path: &str) -> BufReader<tokio::net::TcpStream> {
        let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
        let credential = CREDENTIAL.with(|k| k.borrow().clone());
        conn.write_all(
            format!("GET {path} HTTP/1.0\r\n{WORKER_CREDENTIAL_HEADER}: {credential}\r\n\r\n").as_bytes(),
        )
        .await
        .unwrap();
        let mut reader = BufReader::new(conn);
        let mut line = String::new();
        reader.read_line(&mut line).await.unwrap();
        assert!(line.starts_with("HTTP/1.0 200") || line.starts_with("HTTP/1.1 200"), "{line}");
        while line != "\r\n" {
            line.clear();
            reader.read_line(&mut line).await.unwrap();
        }
        reader
    }

    async fn next_line(reader: &mut BufReader<tokio::net::TcpStream>) -> Option<String> {
        let mut line = String::new();
        let n = tokio::time::timeout(Duration::from_secs(5), reader.read_line(&mut line))
            .await
            .expect("a line (or the end) within 5 s")
            .unwrap();
        (n > 0).then_some(line)
    }

    async fn poll(what: &str, mut cond: impl FnMut() -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while !cond() {
            assert!(tokio::time::Instant::now() < deadline, "timed out waiting for: {what}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    #[tokio::test]
    async fn the_assignment_stream_and_watches_send_keepalive_lines_when_quiet() {
        let (c, addr) = serve().await;
        let mut stream = raw_get(addr, "/apis/drover.dev/v1/workers/w/assignments").await;
        let first = next_line(&mut stream).await.unwrap();
        assert!(first.starts_with(r#"{"type":"SYNC""#), "{first}");
        // Nothing else happens: three empty lines, about 100 ms apart.
        let start = std::time::Instant::now();
        for _ in 0..3 {
            assert_eq!(next_line(&mut stream).await.as_deref(), Some("\n"));
        }
        assert!(start.elapsed() >= Duration::from_millis(250), "{:?}", start.elapsed());
        // A watch too, after its initial list.
        let mut watch = raw_get(addr, "/apis/drover.dev/v1/workers?watch=true").await;
        let added = next_line(&mut watch).await.unwrap();
        assert!(added.contains(r#""type":"ADDED""#) && added.contains(r#""name":"w""#), "{added}");
        assert_eq!(next_line(&mut watch).await.as_deref(), Some("\n"));
        c.shutdown.cancel();
    }

    #[tokio::test]
    async fn a_session_is_removed_when_its_stream_ends_or_its_worker_leaves() {
        let (c, addr) = serve().await;

        // The worker goes away (its connection closes): the next keepalive write fails, the
        // stream is dropped, and the session with it.
        let mut stream = raw_get(addr, "/apis/drover.dev/v1/workers/w/assignments").await;
        next_line(&mut stream).await.unwrap();
        assert_eq!(c.session_count(), 1);
        drop(stream);
        poll("the session of a closed stream is removed", || c.session_count() == 0).await;

        // A newer stream replaces an older one, which ends; the newer one stays.
        let mut old = raw_get(addr, "/apis/drover.dev/v1/workers/w/assignments").await;
        next_line(&mut old).await.unwrap();
        let mut new = raw_get(addr, "/apis/drover.dev/v1/workers/w/assignments").await;
        next_line(&mut new).await.unwrap();
        while let Some(line) = next_line(&mut old).await {
            assert_eq!(line, "\n");
        }
        assert_eq!(c.session_count(), 1);

        // Deregistration ends the open stream and leaves nothing of the worker behind.
        c.deregister_worker("w").unwrap().unwrap();
        while let Some(line) = next_line(&mut new).await {
            assert_eq!(line, "\n");
        }
        poll("no session left", || c.session_count() == 0).await;
        assert!(c.leases().last_seen.lock().unwrap().is_empty());
        assert!(c.store().get::<Worker>("w").unwrap().is_none());
        c.shutdown.cancel();
    }

    #[tokio::test]
    async fn a_draining_job_whose_bound_pods_all_report_drained_tells_their_worker_to_recheck() {
        let (c, addr) = serve().await;
        let mut stream = raw_get(addr, "/apis/drover.dev/v1/workers/w/assignments").await;
        assert!(next_line(&mut stream).await.unwrap().starts_with(r#"{"type":"SYNC""#));
        // A drain Job (completions unset) of two pods; `w` has one slot, so one pod is bound
        // and the other waits (it holds no task, so it does not count).
        let job: drover_api::Job = serde_json::from_value(serde_json::json!({
            "apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j"},
            "spec": {
                "parallelism": 2,
                "queue": {"url": "redis://127.0.0.1:6379", "name": "q"},
                "template": {"spec": {"restartPolicy": "Never",
                    "containers": [{"name": "c", "image": "busybox", "command": ["true"]}]}}
            }
        }))
        .unwrap();
        c.commit(|t| crate::controller::create_job(t, job, now())).unwrap();
        crate::controller::sync_job(&c, "j").unwrap();
        let bound = loop {
            let line = next_line(&mut stream).await.expect("the bound pod");
            if let Ok(Assignment::Pod { pod }) = serde_json::from_str(&line) {
                break *pod;
            }
        };
        assert!(bound.spec.queue.as_ref().is_some_and(|q| q.drain));
        // It reports the queue drained; the Job's next sync tells its worker, naming the pod.
        let mut drained = c.store().get::<Pod>(&bound.metadata.name).unwrap().unwrap();
        drained.status.phase = drover_api::pod::phase::RUNNING.into();
        drained.status.conditions.push(drover_api::pod::PodCondition {
            type_: drover_api::pod::QUEUE_DRAINED.into(),
            status: "True".into(),
            reason: None,
            message: None,
            last_transition_time: Some(now()),
        });
        c.commit(|t| t.update(drained)).unwrap();
        crate::controller::sync_job(&c, "j").unwrap();
        let pods = loop {
            let line = next_line(&mut stream).await.expect("a recheck");
            match serde_json::from_str(&line) {
                Ok(Assignment::RecheckDrain { pods }) => break pods,
                Ok(Assignment::Pod { pod }) => assert_eq!(pod.metadata.uid, bound.metadata.uid, "{line}"),
                _ => assert_eq!(line, "\n"),
            }
        };
        assert_eq!(pods, vec![bound.metadata.uid.clone()]);
        c.shutdown.cancel();
    }

    #[test]
    fn a_worker_ignores_assignment_messages_it_does_not_know() {
        let decoded: Assignment = serde_json::from_str(r#"{"type":"SOMETHING_NEW","x":1}"#).unwrap();
        assert!(matches!(decoded, Assignment::Unknown), "{decoded:?}");
    }

    #[test]
    fn an_assignment_line_around_stored_text_decodes_as_the_protocol_message() {
        let pod = crate::controller::new_pod(&drover_api::Job::default());
        let text = serde_json::to_string(&pod).unwrap();
        let decoded: Assignment = serde_json::from_str(&assignment_pod_line(&text)).unwrap();
        match decoded {
            Assignment::Pod { pod: got } => assert_eq!(*got, pod),
            other => panic!("decoded as {other:?}"),
        }
        // The same line serde writes for the message.
        let expected = serde_json::to_string(&Assignment::Pod { pod: Box::new(pod) }).unwrap();
        assert_eq!(assignment_pod_line(&text), expected);
    }
}
