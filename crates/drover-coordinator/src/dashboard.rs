//! The web dashboard, served by the coordinator at `/`.
//!
//! # What is served
//! - `/` — the dashboard (one page; its views are chosen by the URL's fragment: `#/overview`,
//!   `#/jobs`, `#/jobs/NAME`, `#/workers`, `#/cronjobs`, `#/queues`). `/ui/app.js` and `/ui/app.css` are its
//!   script and style sheet. All three are plain HTML, CSS and JavaScript written by hand,
//!   embedded in the binary with `include_str!` (no build step, no Node.js, no library, nothing
//!   loaded from another origin: the pages' `Content-Security-Policy` allows `'self'` only).
//! - `/login` — GET: the login form; POST (`token=…`, form-encoded): with the right token, a
//!   session cookie and a redirect to `/`; otherwise 401 and the form again, saying the token is
//!   not valid (it never repeats the token). `/logout` (POST) clears the cookie.
//! - `/ui/events` — a server-sent event stream: a `snapshot` (every Job, CronJob and Worker, and
//!   with `?job=NAME` that Job's pods), then `batch` events, each the objects that changed since
//!   the last one, at most one every [`BATCH_INTERVAL`] and each object once (its latest state).
//!   It is fed by the same change stream as the API's watches ([`Coordinator::watch`]). A
//!   stream that falls behind the change stream gets a new snapshot.
//!   Each CronJob comes with its schedule in words and its next five fire times in its zone
//!   ([`schedule_info`]; also `GET /ui/cronjobs/{name}/schedule`), and the stream's `stats`
//!   carry pods by phase, the pods waiting for a slot (and, for `?job=`, each one's place in
//!   line), each worker's pods holding a slot, and the task ledger's counter.
//! - `/ui/queues` — the figures of each queue the Jobs name, asked of the brokers over
//!   read-only connections with a timeout and a short cache (see [`crate::queues`]). The Queues
//!   page polls it every few seconds: the one view that polls, since brokers push nothing.
//! - Everything else the dashboard does goes through the API itself (suspend, resume, delete,
//!   cordon, uncordon, drain, run now, events, logs).
//!
//! # Sessions and CSRF
//! With a token configured, the login sets `drover_session`, an `HttpOnly`, `SameSite=Strict`
//! cookie (`Secure` under HTTPS) valid for [`SESSION_LIFETIME`]. Its value is
//! `ISSUED.NONCE.MAC`, the MAC an HMAC-SHA256 keyed by the token over the issue time and a random
//! nonce: the token itself is never in the cookie, the page, a URL, a log or an error, and a new
//! token ends every session. The API accepts the cookie in place of `Authorization: Bearer`:
//! - for GET and HEAD, as it is;
//! - for every other method only with the CSRF guard: an `X-Drover-CSRF` header equal to the
//!   session's CSRF value (a second HMAC of the same nonce, written into the page it was served
//!   with; another site can neither read it nor set a custom header without a CORS preflight,
//!   which the coordinator never grants), and an `Origin` (or `Sec-Fetch-Site`), when the browser
//!   sends one, naming this coordinator. Otherwise 403.
//!
//! Without a token the API and the dashboard are open (loopback only, as the API is), and a
//! state-changing request whose `Origin` names another site is refused with 403.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono_tz::Tz;
use drover_api::cron::Schedule;
use drover_api::{CronJob, Job, Pod, Worker};
use drover_store::StoreError;
use futures::StreamExt as _;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::Sha256;
use tokio::sync::broadcast::error::RecvError;

use crate::state::{Coordinator, WatchEvent, now};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "drover_session";
/// The header that carries the CSRF value of a cookie-authenticated state-changing request.
pub const CSRF_HEADER: &str = "x-drover-csrf";
/// How long a session lasts after the login.
pub const SESSION_LIFETIME: Duration = Duration::from_secs(12 * 3600);
/// The most often the event stream sends a batch of changes.
pub const BATCH_INTERVAL: Duration = Duration::from_millis(250);
/// A quiet event stream sends a comment line this often, so proxies and the browser keep it.
const KEEPALIVE: Duration = Duration::from_secs(15);
/// Queue positions and counts are recomputed at most this often.
const STATS_INTERVAL: Duration = Duration::from_secs(1);
/// How far down the line of waiting pods the positions are counted (the walk holds the store's
/// lock; a pod further back shows no position).
const MAX_POSITION_WALK: usize = 5_000;

const INDEX_HTML: &str = include_str!("../assets/index.html");
const LOGIN_HTML: &str = include_str!("../assets/login.html");
const APP_JS: &str = include_str!("../assets/app.js");
const APP_CSS: &str = include_str!("../assets/app.css");

/// The dashboard's routes (merged into the API's router, behind the same middleware).
pub(crate) fn routes() -> Router<Coordinator> {
    Router::new()
        .route("/", get(index))
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
        .route("/ui/app.js", get(|| async { asset("text/javascript; charset=utf-8", APP_JS) }))
        .route("/ui/app.css", get(|| async { asset("text/css; charset=utf-8", APP_CSS) }))
        .route("/ui/events", get(events))
        .route("/ui/cronjobs/{name}/schedule", get(cron_schedule))
        .route("/ui/queues", get(crate::queues::queues))
}

/// Paths answered without a token: the login form and the assets, which hold no data.
pub(crate) fn is_public(path: &str) -> bool {
    matches!(path, "/healthz" | "/login" | "/logout" | "/ui/app.js" | "/ui/app.css")
}

// === sessions ===

/// HMAC-SHA256 (RFC 2104), by the RustCrypto `hmac` crate.
fn hmac(key: &[u8], msg: &[u8]) -> [u8; 32] {
    use hmac::Mac as _;
    // HMAC takes a key of any length: `new_from_slice` cannot fail for it.
    let mut mac = hmac::Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts any key length");
    mac.update(msg);
    mac.finalize().into_bytes().into()
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// A new session cookie's value, issued at `now` (Unix seconds).
pub fn issue_session(token: &str, now: i64) -> String {
    let nonce = hex(&rand::random::<[u8; 16]>());
    let body = format!("{now}.{nonce}");
    let mac = hex(&hmac(token.as_bytes(), format!("drover-session\0{body}").as_bytes()));
    format!("{body}.{mac}")
}

/// A valid session: its CSRF value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// What the `X-Drover-CSRF` header of its state-changing requests must carry.
    pub csrf: String,
}

/// The session of a cookie value, if it was issued with `token` and has not expired at `now`.
pub fn verify_session(token: &str, value: &str, now: i64) -> Option<Session> {
    let (body, mac) = value.rsplit_once('.')?;
    let (issued, nonce) = body.split_once('.')?;
    let issued: i64 = issued.parse().ok()?;
    if nonce.len() != 32 || !nonce.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let age = now.checked_sub(issued)?;
    if !(-60..=SESSION_LIFETIME.as_secs() as i64).contains(&age) {
        return None;
    }
    let expected = hex(&hmac(token.as_bytes(), format!("drover-session\0{body}").as_bytes()));
    if !crate::api::constant_time_eq(mac.as_bytes(), expected.as_bytes()) {
        return None;
    }
    Some(Session { csrf: hex(&hmac(token.as_bytes(), format!("drover-csrf\0{body}").as_bytes())) })
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
}

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// False when the browser says the request comes from another site: `Sec-Fetch-Site` other than
/// `same-origin`, or an `Origin` whose host is not the request's `Host`. True when neither is
/// sent (not a browser, or an old one: the CSRF header guards those).
pub fn same_origin(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site")
        && site.as_bytes() != b"same-origin"
    {
        return false;
    }
    let Some(origin) = headers.get(header::ORIGIN) else { return true };
    let Ok(origin) = origin.to_str() else { return false };
    let Some((_, origin_host)) = origin.split_once("://") else { return false };
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
    !host.is_empty() && origin_host.eq_ignore_ascii_case(host)
}

/// What the authentication middleware does with a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// Serve it.
    Allow,
    /// 401 with this message.
    Unauthorized(&'static str),
    /// 403 with this message.
    Forbidden(&'static str),
    /// The dashboard without a session: redirect to the login form.
    Login,
}

/// The rules of the module docs, as a pure function of the request and the token.
pub fn access(method: &Method, path: &str, headers: &HeaderMap, token: Option<&str>, now: i64) -> Access {
    if is_public(path) {
        return Access::Allow;
    }
    let Some(token) = token else {
        if !is_safe(method) && !same_origin(headers) {
            return Access::Forbidden("Forbidden: a request from another site may not change state");
        }
        return Access::Allow;
    };
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if !presented.is_empty() {
        return if crate::api::constant_time_eq(presented.as_bytes(), token.as_bytes()) {
            Access::Allow
        } else {
            Access::Unauthorized("Unauthorized: the token is not valid")
        };
    }
    if let Some(session) = cookie(headers, SESSION_COOKIE).and_then(|v| verify_session(token, v, now)) {
        if is_safe(method) {
            return Access::Allow;
        }
        let csrf = headers.get(CSRF_HEADER).map(HeaderValue::as_bytes).unwrap_or_default();
        if !crate::api::constant_time_eq(csrf, session.csrf.as_bytes()) {
            return Access::Forbidden(
                "Forbidden: a request that changes state with the session cookie needs the X-Drover-CSRF header of its page",
            );
        }
        if !same_origin(headers) {
            return Access::Forbidden("Forbidden: a request from another site may not change state");
        }
        return Access::Allow;
    }
    if path == "/" && is_safe(method) {
        return Access::Login;
    }
    Access::Unauthorized(
        "Unauthorized: this coordinator requires a bearer token; pass --token or set DROVER_TOKEN",
    )
}

// === pages ===

/// Headers of every page and asset: nothing from another origin, no framing, no referrer to
/// other sites (`same-origin`: with `no-referrer`, a form posts `Origin: null`).
fn page_headers(res: &mut Response, content_type: &'static str) {
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; \
             font-src 'none'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
        ),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

fn asset(content_type: &'static str, text: &'static str) -> Response {
    let mut res = Response::new(Body::from(text));
    page_headers(&mut res, content_type);
    res
}

/// Escapes text for HTML.
fn escape_html(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

async fn index(State(c): State<Coordinator>, headers: HeaderMap) -> Response {
    // The middleware let the request in: with a token, by a valid session or the bearer token.
    let csrf = match c.config.token.as_ref() {
        Some(token) => cookie(&headers, SESSION_COOKIE)
            .and_then(|v| verify_session(token.expose(), v, now().timestamp()))
            .map(|s| s.csrf)
            .unwrap_or_default(),
        None => String::new(),
    };
    let login = if c.config.token.is_some() { "1" } else { "" };
    let html = INDEX_HTML.replace("{{CSRF}}", &csrf).replace("{{LOGIN}}", login);
    let mut res = Response::new(Body::from(html));
    page_headers(&mut res, "text/html; charset=utf-8");
    res
}

fn login_form(code: StatusCode, message: &str) -> Response {
    let html = LOGIN_HTML.replace("{{MESSAGE}}", &escape_html(message));
    let mut res = Response::new(Body::from(html));
    *res.status_mut() = code;
    page_headers(&mut res, "text/html; charset=utf-8");
    res
}

fn redirect(to: &'static str) -> Response {
    let mut res = StatusCode::SEE_OTHER.into_response();
    res.headers_mut().insert(header::LOCATION, HeaderValue::from_static(to));
    res
}

async fn login_page(State(c): State<Coordinator>) -> Response {
    if c.config.token.is_none() {
        return redirect("/");
    }
    login_form(StatusCode::OK, "")
}

/// The most of a login form's body that is read.
const MAX_LOGIN_BODY: usize = 8 * 1024;

/// `%XX` and `+` decoding of a form field.
fn form_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hexd = bytes.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(std::str::from_utf8(hexd).ok()?, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// The `token` field of a form-encoded body.
pub fn form_token(body: &[u8]) -> Option<String> {
    std::str::from_utf8(body)
        .ok()?
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == "token")
        .and_then(|(_, v)| form_decode(v))
}

fn session_cookie(value: &str, secure: bool, max_age: u64) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("drover_session=; Path=/; Max-Age=0"))
}

async fn login(State(c): State<Coordinator>, headers: HeaderMap, body: Body) -> Response {
    let Some(token) = c.config.token.as_ref() else { return redirect("/") };
    if !same_origin(&headers) {
        return login_form(StatusCode::FORBIDDEN, "A login from another site is refused.");
    }
    let body =
        match tokio::time::timeout(c.config.body_read_timeout, axum::body::to_bytes(body, MAX_LOGIN_BODY))
            .await
        {
            Ok(Ok(body)) => body,
            _ => return login_form(StatusCode::BAD_REQUEST, "The form could not be read."),
        };
    let presented = form_token(&body).unwrap_or_default();
    let presented = presented.trim();
    if presented.is_empty() {
        return login_form(StatusCode::UNAUTHORIZED, "Enter the coordinator's API token.");
    }
    if !crate::api::constant_time_eq(presented.as_bytes(), token.expose().as_bytes()) {
        return login_form(StatusCode::UNAUTHORIZED, "The token is not valid.");
    }
    let value = issue_session(token.expose(), now().timestamp());
    let mut res = redirect("/");
    res.headers_mut().insert(
        header::SET_COOKIE,
        session_cookie(&value, c.config.tls.is_some(), SESSION_LIFETIME.as_secs()),
    );
    res
}

async fn logout(State(c): State<Coordinator>, headers: HeaderMap) -> Response {
    if !same_origin(&headers) {
        return StatusCode::FORBIDDEN.into_response();
    }
    let mut res = redirect(if c.config.token.is_some() { "/login" } else { "/" });
    res.headers_mut().insert(header::SET_COOKIE, session_cookie("", c.config.tls.is_some(), 0));
    res
}

// === schedules ===

const WEEKDAYS: [&str; 7] = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];
const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// A field's value as a number, names (`MON`, `JAN`) included.
fn field_number(s: &str, names: &[&str]) -> Option<u32> {
    s.parse().ok().or_else(|| {
        names
            .iter()
            .position(|n| n[..3].eq_ignore_ascii_case(s))
            .map(|i| i as u32 + u32::from(names.len() == 12))
    })
}

fn ordinal(n: u32) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

/// A field's list in words: `MON-FRI` → "Monday to Friday", `1,15` → "1, 15".
fn field_words(field: &str, names: Option<&[&str]>) -> String {
    let name = |v: &str| -> String {
        match (names, names.and_then(|n| field_number(v, n))) {
            (Some(n), Some(i)) => {
                let idx = if n.len() == 12 { i.saturating_sub(1) } else { i % 7 };
                n.get(idx as usize).map_or_else(|| v.to_string(), |s| s.to_string())
            }
            _ => v.to_string(),
        }
    };
    field
        .split(',')
        .filter(|p| !p.is_empty())
        .map(|part| match part.split_once('-') {
            Some((a, b)) => format!("{} to {}", name(a), name(b)),
            None => name(part),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// A schedule in words, for the common shapes; others are spelled field by field.
pub fn describe_schedule(spec: &str) -> String {
    match spec {
        "@yearly" | "@annually" => return "once a year, at 00:00 on 1 January".into(),
        "@monthly" => return "once a month, at 00:00 on the 1st".into(),
        "@weekly" => return "once a week, at 00:00 on Sunday".into(),
        "@daily" | "@midnight" => return "every day at 00:00".into(),
        "@hourly" => return "every hour, on the hour".into(),
        _ => {}
    }
    if let Some(d) = spec.strip_prefix("@every ") {
        return format!("every {}", d.trim());
    }
    let f: Vec<&str> = spec.split_whitespace().collect();
    let [min, hour, dom, mon, dow] = f[..] else { return spec.to_string() };
    let star = |s: &str| s == "*" || s == "?";
    let num = |s: &str| s.parse::<u32>().ok();
    let mut time = match (min, hour) {
        ("*", "*") => "every minute".to_string(),
        (m, "*") if m.starts_with("*/") => format!("every {} minutes", &m[2..]),
        (m, "*") if num(m).is_some() => format!("every hour at minute {m}"),
        (m, h) if num(m).is_some() && num(h).is_some() => {
            format!("at {:02}:{:02}", num(h).unwrap_or(0), num(m).unwrap_or(0))
        }
        (m, h) if num(m).is_some() && h.starts_with("*/") => {
            format!("every {} hours at minute {m}", &h[2..])
        }
        (m, h) => format!("at minute {} past hour {}", field_words(m, None), field_words(h, None)),
    };
    let mut days = Vec::new();
    if !star(dom) {
        days.push(format!(
            "on the {} of the month",
            dom.split(',')
                .map(|d| num(d).map_or_else(|| d.to_string(), ordinal))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if !star(dow) {
        days.push(format!("on {}", field_words(dow, Some(&WEEKDAYS[..]))));
    }
    if !star(mon) {
        days.push(format!("in {}", field_words(mon, Some(&MONTHS[..]))));
    }
    if days.is_empty() && !time.starts_with("every") {
        time.push_str(" every day");
    }
    let days = match (star(dom), star(dow)) {
        // Day-of-month and day-of-week are OR-ed when both are set.
        (false, false) => {
            let mut d = days;
            let first = d.remove(0);
            let second = d.remove(0);
            std::iter::once(format!("{first} or {second}")).chain(d).collect()
        }
        _ => days,
    };
    std::iter::once(time).chain(days).collect::<Vec<_>>().join(" ")
}

/// The zone, the schedule in words and the next `n` fire times of a CronJob after `now` (in
/// its zone, as text, and as RFC 3339), or why there are none.
pub fn schedule_info(cj: &CronJob, default_zone: Tz, now: drover_api::Time, n: usize) -> Value {
    let words = describe_schedule(&cj.spec.schedule);
    let zone = match cj.spec.time_zone.as_deref() {
        None => default_zone,
        Some(name) => match name.parse::<Tz>() {
            Ok(z) => z,
            Err(_) => return json!({"words": words, "error": format!("unknown time zone {name:?}")}),
        },
    };
    let schedule = match Schedule::parse(&cj.spec.schedule) {
        Ok(s) => s,
        Err(e) => return json!({"words": words, "zone": zone.name(), "error": e.to_string()}),
    };
    let mut at = if schedule.every().is_some() {
        let anchor = cj.status.last_schedule_time.or(cj.metadata.creation_timestamp).unwrap_or(now);
        schedule.latest_between(anchor, now, zone).unwrap_or(anchor)
    } else {
        now
    };
    let mut next = Vec::with_capacity(n);
    for _ in 0..n {
        let Some(t) = schedule.next_after(at, zone) else { break };
        next.push(json!({
            "local": t.with_timezone(&zone).format("%a %Y-%m-%d %H:%M %Z").to_string(),
            "time": t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        }));
        at = t;
    }
    json!({"words": words, "zone": zone.name(), "next": next})
}

async fn cron_schedule(
    State(c): State<Coordinator>,
    Path(name): Path<String>,
) -> Result<Response, crate::api::ApiError> {
    let cj =
        c.store().get::<CronJob>(&name)?.ok_or_else(|| crate::api::ApiError::not_found("cronjobs", &name))?;
    Ok(axum::Json(schedule_info(&cj, c.config.cron_zone, now(), 5)).into_response())
}

// === the event stream ===

#[derive(Debug, Default, Deserialize)]
struct EventsQuery {
    job: Option<String>,
}

fn sse(event: &str, data: &str) -> Bytes {
    Bytes::from(format!("event: {event}\ndata: {data}\n\n"))
}

/// An object's JSON text as the dashboard may see it (broker passwords masked).
fn redacted<T: serde::Serialize>(obj: &T) -> String {
    let text = serde_json::to_string(obj).unwrap_or_else(|_| "null".into());
    drover_api::meta::redact_urls(&text).into_owned()
}

fn cron_entry(c: &Coordinator, text: &str) -> String {
    let info = serde_json::from_str::<CronJob>(text)
        .map(|cj| schedule_info(&cj, c.config.cron_zone, now(), 5))
        .unwrap_or(Value::Null);
    format!(r#"{{"o":{text},"x":{info}}}"#)
}

/// The snapshot of a stream: every Job, CronJob and Worker, and `job`'s pods, at the store's
/// revision (returned with it).
fn snapshot(c: &Coordinator, job: Option<&str>) -> Result<(String, i64), StoreError> {
    let (jobs, cronjobs, workers, pods, rev) = c.store().read(|t| {
        let pods = match job {
            Some(j) => t.list_labelled::<Pod>(drover_api::labels::JOB_NAME, j)?,
            None => Vec::new(),
        };
        Ok((t.list::<Job>()?, t.list::<CronJob>()?, t.list::<Worker>()?, pods, t.revision()?))
    })?;
    let list = |items: Vec<String>| format!("[{}]", items.join(","));
    let cronjobs = list(cronjobs.iter().map(|cj| cron_entry(c, &redacted(cj))).collect());
    let stats = stats(c, job)?;
    let text = format!(
        r#"{{"rv":{rev},"now":{now},"jobs":{jobs},"cronjobs":{cronjobs},"workers":{workers},"pods":{pods},"stats":{stats}}}"#,
        now = json!(now()),
        jobs = list(jobs.iter().map(redacted).collect()),
        workers = list(workers.iter().map(redacted).collect()),
        pods = list(pods.iter().map(redacted).collect()),
    );
    Ok((text, rev))
}

/// Pods by phase, the pods waiting for a slot, the task ledger's counter, each worker's pods that
/// hold a slot, and with `job` the position of each of its waiting pods in the line (1 is next).
fn stats(c: &Coordinator, job: Option<&str>) -> Result<Value, StoreError> {
    let pending = drover_api::pod::phase::PENDING;
    let (phases, waiting, positions, busy) = c.store().read(|t| {
        let phases = t.count_by_phase::<Pod>()?;
        let waiting = t.count_unbound_in::<Pod>(pending)?;
        // Each worker's pods that hold a slot (Pending or Running), as the scheduler counts them.
        let mut busy = serde_json::Map::new();
        for w in t.list::<Worker>()? {
            let n =
                t.count_on_node_in::<Pod>(&w.metadata.name, &[pending, drover_api::pod::phase::RUNNING])?;
            busy.insert(w.metadata.name, json!(n));
        }
        let mut positions = serde_json::Map::new();
        if let Some(job) = job {
            let mine = t
                .list_labelled::<Pod>(drover_api::labels::JOB_NAME, job)?
                .into_iter()
                .filter(|p| p.node_name().is_none() && p.status.phase == pending)
                .count();
            if mine > 0 {
                let mut seen = 0usize;
                t.visit_unbound_in::<Pod>(pending, |p| {
                    if p.metadata.deletion_timestamp.is_none() {
                        seen += 1;
                        if p.metadata.labels.get(drover_api::labels::JOB_NAME).map(String::as_str)
                            == Some(job)
                        {
                            positions.insert(p.metadata.name.clone(), json!(seen));
                        }
                    }
                    positions.len() < mine && seen < MAX_POSITION_WALK
                })?;
            }
        }
        Ok((phases, waiting, positions, busy))
    })?;
    let phases: serde_json::Map<String, Value> = phases.into_iter().map(|(p, n)| (p, json!(n))).collect();
    let tasks = c.ledger_stats().tasks.load(std::sync::atomic::Ordering::Relaxed);
    Ok(json!({
        "pods": phases,
        "waitingForSlot": waiting,
        "tasksRecorded": tasks,
        "positions": positions,
        "workerPods": busy,
    }))
}

async fn events(State(c): State<Coordinator>, Query(q): Query<EventsQuery>) -> Response {
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(4);
    tokio::spawn(feed(c, q.job.filter(|j| !j.is_empty()), tx));
    let body = tokio_stream::wrappers::ReceiverStream::new(rx).map(Ok::<_, Infallible>);
    let mut res = Response::new(Body::from_stream(body));
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    res
}

/// Whether the stream forwards a change: Jobs, CronJobs and Workers, and the pods of `job`.
fn wanted(ev: &WatchEvent, job: Option<&str>) -> bool {
    match ev.kind {
        "Job" | "CronJob" | "Worker" => true,
        "Pod" => job.is_some() && ev.labels.get(drover_api::labels::JOB_NAME).map(String::as_str) == job,
        _ => false,
    }
}

/// Feeds one event stream until its client goes away or the coordinator stops.
async fn feed(c: Coordinator, job: Option<String>, tx: tokio::sync::mpsc::Sender<Bytes>) {
    let job = job.as_deref();
    let mut rx = c.watch();
    let Ok((text, mut rev)) = snapshot(&c, job) else { return };
    if tx.send(sse("snapshot", &text)).await.is_err() {
        return;
    }
    let mut pending: BTreeMap<(&'static str, String), WatchEvent> = BTreeMap::new();
    let mut pods_moved = false;
    let mut last_sent = Instant::now();
    let mut last_stats = Instant::now();
    let mut tick = tokio::time::interval(BATCH_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = c.shutdown.cancelled() => return,
            _ = tx.closed() => return,
            ev = rx.recv() => match ev {
                Ok(ev) => {
                    if ev.revision <= rev {
                        continue;
                    }
                    if ev.kind == "Pod" {
                        pods_moved = true;
                    }
                    if wanted(&ev, job) {
                        pending.insert((ev.kind, ev.name.clone()), ev);
                    }
                }
                Err(RecvError::Lagged(_)) => {
                    // Fallen behind the change stream: start again from a new snapshot.
                    rx = c.watch();
                    let Ok((text, r)) = snapshot(&c, job) else { return };
                    rev = r;
                    pending.clear();
                    if tx.send(sse("snapshot", &text)).await.is_err() {
                        return;
                    }
                    last_sent = Instant::now();
                }
                Err(RecvError::Closed) => return,
            },
            _ = tick.tick() => {
                let stats_due = (pods_moved || !pending.is_empty()) && last_stats.elapsed() >= STATS_INTERVAL;
                if pending.is_empty() && !stats_due {
                    if last_sent.elapsed() >= KEEPALIVE {
                        if tx.send(Bytes::from_static(b": keepalive\n\n")).await.is_err() {
                            return;
                        }
                        last_sent = Instant::now();
                    }
                    continue;
                }
                let mut changes = Vec::with_capacity(pending.len());
                for ((kind, name), ev) in std::mem::take(&mut pending) {
                    rev = rev.max(ev.revision);
                    let object: &str = if ev.type_ == "DELETED" { "null" } else { &ev.object };
                    let extra = if kind == "CronJob" && ev.type_ != "DELETED" {
                        serde_json::from_str::<CronJob>(object)
                            .map(|cj| schedule_info(&cj, c.config.cron_zone, now(), 5))
                            .unwrap_or(Value::Null)
                    } else {
                        Value::Null
                    };
                    changes.push(format!(
                        r#"{{"t":"{}","k":"{kind}","n":{},"o":{object},"x":{extra}}}"#,
                        ev.type_,
                        json!(name)
                    ));
                }
                let stats = if stats_due {
                    pods_moved = false;
                    last_stats = Instant::now();
                    stats(&c, job).unwrap_or(Value::Null)
                } else {
                    Value::Null
                };
                let text = format!(
                    r#"{{"rv":{rev},"now":{},"changes":[{}],"stats":{stats}}}"#,
                    json!(now()),
                    changes.join(",")
                );
                if tx.send(sse("batch", &text)).await.is_err() {
                    return;
                }
                last_sent = Instant::now();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc_4231_case_2() {
        assert_eq!(
            hex(&hmac(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn a_session_is_valid_only_for_its_token_and_its_lifetime() {
        let t0 = 1_700_000_000;
        let s = issue_session("secret-token", t0);
        assert!(!s.contains("secret-token"), "the token is not in the cookie");
        let session = verify_session("secret-token", &s, t0 + 10).expect("valid");
        assert_eq!(session.csrf.len(), 64);
        assert!(verify_session("other-token", &s, t0 + 10).is_none(), "another token");
        let life = SESSION_LIFETIME.as_secs() as i64;
        assert!(verify_session("secret-token", &s, t0 + life + 1).is_none(), "expired");
        assert!(verify_session("secret-token", &s, t0 - 3600).is_none(), "from the future");
        // Any change to the value breaks it.
        let mut tampered = s.clone().into_bytes();
        let last = tampered.len() - 1;
        tampered[last] = if tampered[last] == b'0' { b'1' } else { b'0' };
        assert!(verify_session("secret-token", std::str::from_utf8(&tampered).unwrap(), t0).is_none());
        let later = s.replacen(&t0.to_string(), &(t0 + 100).to_string(), 1);
        assert!(verify_session("secret-token", &later, t0 + 200).is_none(), "a moved issue time");
        // Two sessions have two CSRF values.
        let other = verify_session("secret-token", &issue_session("secret-token", t0), t0).unwrap();
        assert_ne!(other.csrf, session.csrf);
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    /// A named request (method, path, headers) under a token, and what `access` says.
    type Case<'a> = (&'a str, Method, &'a str, HeaderMap, Option<&'a str>, Access);

    #[test]
    fn access_rules() {
        let t0 = 1_700_000_000;
        let token = Some("tok");
        let value = issue_session("tok", t0);
        let csrf = verify_session("tok", &value, t0).unwrap().csrf;
        let cookie = format!("a=b; {SESSION_COOKIE}={value}");
        let post = Method::POST;
        let path = "/apis/drover.dev/v1/workers/w1/cordon";
        let cases: Vec<Case<'_>> = vec![
            ("public login page", Method::GET, "/login", headers(&[]), token, Access::Allow),
            ("bearer", post.clone(), path, headers(&[("authorization", "Bearer tok")]), token, Access::Allow),
            (
                "wrong bearer",
                Method::GET,
                path,
                headers(&[("authorization", "Bearer nope")]),
                token,
                Access::Unauthorized("Unauthorized: the token is not valid"),
            ),
            (
                "cookie GET",
                Method::GET,
                "/apis/batch/v1/jobs",
                headers(&[("cookie", cookie.as_str())]),
                token,
                Access::Allow,
            ),
            (
                "cookie POST without the CSRF header",
                post.clone(),
                path,
                headers(&[
                    ("cookie", cookie.as_str()),
                    ("host", "127.0.0.1:7070"),
                    ("origin", "http://127.0.0.1:7070"),
                ]),
                token,
                Access::Forbidden(
                    "Forbidden: a request that changes state with the session cookie needs the X-Drover-CSRF header of its page",
                ),
            ),
            (
                "cookie POST with a wrong CSRF header",
                post.clone(),
                path,
                headers(&[("cookie", cookie.as_str()), (CSRF_HEADER, "0".repeat(64).as_str())]),
                token,
                Access::Forbidden(
                    "Forbidden: a request that changes state with the session cookie needs the X-Drover-CSRF header of its page",
                ),
            ),
            (
                "cookie POST with the CSRF header from the page's origin",
                post.clone(),
                path,
                headers(&[
                    ("cookie", cookie.as_str()),
                    (CSRF_HEADER, csrf.as_str()),
                    ("host", "127.0.0.1:7070"),
                    ("origin", "http://127.0.0.1:7070"),
                    ("sec-fetch-site", "same-origin"),
                ]),
                token,
                Access::Allow,
            ),
            (
                "cookie POST with the CSRF header from another origin",
                post.clone(),
                path,
                headers(&[
                    ("cookie", cookie.as_str()),
                    (CSRF_HEADER, csrf.as_str()),
                    ("host", "127.0.0.1:7070"),
                    ("origin", "http://evil.example"),
                ]),
                token,
                Access::Forbidden("Forbidden: a request from another site may not change state"),
            ),
            (
                "cookie DELETE from a cross-site fetch",
                Method::DELETE,
                "/apis/batch/v1/namespaces/default/jobs/x",
                headers(&[
                    ("cookie", cookie.as_str()),
                    (CSRF_HEADER, csrf.as_str()),
                    ("sec-fetch-site", "cross-site"),
                ]),
                token,
                Access::Forbidden("Forbidden: a request from another site may not change state"),
            ),
            ("dashboard without a session", Method::GET, "/", headers(&[]), token, Access::Login),
            (
                "dashboard with another token's session",
                Method::GET,
                "/",
                headers(&[("cookie", format!("{SESSION_COOKIE}={}", issue_session("old", t0)).as_str())]),
                token,
                Access::Login,
            ),
            (
                "data without a session",
                Method::GET,
                "/ui/events",
                headers(&[]),
                token,
                Access::Unauthorized(
                    "Unauthorized: this coordinator requires a bearer token; pass --token or set DROVER_TOKEN",
                ),
            ),
            ("no token: open", post.clone(), path, headers(&[]), None, Access::Allow),
            (
                "no token: same origin",
                post.clone(),
                path,
                headers(&[("host", "localhost:7070"), ("origin", "http://localhost:7070")]),
                None,
                Access::Allow,
            ),
            (
                "no token: another site",
                post.clone(),
                path,
                headers(&[("host", "localhost:7070"), ("origin", "https://evil.example")]),
                None,
                Access::Forbidden("Forbidden: a request from another site may not change state"),
            ),
        ];
        for (name, method, path, headers, token, want) in cases {
            assert_eq!(access(&method, path, &headers, token, t0 + 5), want, "{name}");
        }
    }

    #[test]
    fn the_cookie_is_http_only_strict_and_secure_under_https() {
        let plain = session_cookie("v", false, 60);
        assert_eq!(
            plain.to_str().unwrap(),
            "drover_session=v; Path=/; HttpOnly; SameSite=Strict; Max-Age=60"
        );
        let tls = session_cookie("v", true, 60);
        assert!(tls.to_str().unwrap().ends_with("; Max-Age=60; Secure"), "{tls:?}");
    }

    #[test]
    fn form_tokens_are_decoded() {
        assert_eq!(form_token(b"token=a%2Bb+c%3D").as_deref(), Some("a+b c="));
        assert_eq!(form_token(b"x=1&token=abc").as_deref(), Some("abc"));
        assert_eq!(form_token(b"x=1"), None);
        assert_eq!(form_token(b"token=%zz"), None);
    }

    #[test]
    fn schedules_in_words() {
        let cases = [
            ("*/5 * * * *", "every 5 minutes"),
            ("* * * * *", "every minute"),
            ("30 * * * *", "every hour at minute 30"),
            ("0 2 * * *", "at 02:00 every day"),
            ("15 9 * * MON-FRI", "at 09:15 on Monday to Friday"),
            ("0 0 1 * *", "at 00:00 on the 1st of the month"),
            ("0 12 * 1,7 *", "at 12:00 in January, July"),
            ("0 0 1 * 1", "at 00:00 on the 1st of the month or on Monday"),
            ("@hourly", "every hour, on the hour"),
            ("@every 90s", "every 90s"),
        ];
        for (spec, want) in cases {
            assert_eq!(describe_schedule(spec), want, "{spec}");
        }
    }

    #[test]
    fn the_next_fire_times_are_in_the_cronjobs_zone() {
        let mut cj = CronJob::default();
        cj.spec.schedule = "0 9 * * *".into();
        cj.spec.time_zone = Some("Europe/Paris".into());
        let now =
            chrono::DateTime::parse_from_rfc3339("2026-01-10T12:00:00Z").unwrap().with_timezone(&chrono::Utc);
        let info = schedule_info(&cj, chrono_tz::UTC, now, 5);
        let next = info["next"].as_array().unwrap();
        assert_eq!(next.len(), 5);
        assert_eq!(next[0]["local"], "Sun 2026-01-11 09:00 CET");
        assert_eq!(next[0]["time"], "2026-01-11T08:00:00Z");
        assert_eq!(next[4]["local"], "Thu 2026-01-15 09:00 CET");
        assert_eq!(info["zone"], "Europe/Paris");
        cj.spec.time_zone = Some("Mars/Olympus".into());
        assert!(
            schedule_info(&cj, chrono_tz::UTC, now, 5)["error"].as_str().unwrap().contains("Mars/Olympus")
        );
    }
}
