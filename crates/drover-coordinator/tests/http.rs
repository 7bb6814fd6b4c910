//! The coordinator's HTTP surface through `drover_coordinator::run` on a real 127.0.0.1:0
//! listener: the DNS-rebinding guard, slow and half-sent requests, the connection cap, bodies
//! that are not JSON, Kubernetes protobuf bodies, log appends, the data directory's
//! permissions, HTTPS, and the dashboard's login, session cookie, CSRF guard and event stream.

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use drover_api::Pod;
use drover_api::protocol::{Registration, WORKER_CREDENTIAL_HEADER};
use drover_client::Client;
use drover_coordinator::Config;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

/// A coordinator run by `drover_coordinator::run` in this process, stopped on drop.
struct Served {
    addr: SocketAddr,
    stop: CancellationToken,
    done: Option<tokio::task::JoinHandle<()>>,
}

impl Served {
    async fn start(config: Config) -> Served {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = CancellationToken::new();
        let until = stop.clone();
        let done = tokio::spawn(async move {
            drover_coordinator::run(listener, config, async move { until.cancelled().await }).await.unwrap();
        });
        Served { addr, stop, done: Some(done) }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn https_url(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// Stops the coordinator and waits until `run` returned.
    async fn stop(mut self) {
        self.stop.cancel();
        let done = self.done.take().unwrap();
        tokio::time::timeout(Duration::from_secs(10), done).await.expect("run returns").unwrap();
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Sends `request` as it is on a new connection and returns the status code and the whole
/// answer (the request should carry `Connection: close`).
async fn raw(addr: SocketAddr, request: &str) -> (u16, String) {
    let mut conn = TcpStream::connect(addr).await.unwrap();
    conn.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(10), conn.read_to_string(&mut answer))
        .await
        .expect("an answer within 10 s")
        .unwrap();
    let code = answer.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (code, answer)
}

async fn get_with_host(addr: SocketAddr, host: &str) -> (u16, String) {
    raw(addr, &format!("GET /apis/batch/v1/jobs HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n")).await
}

/// A fresh directory under the system's temp dir.
fn temp_dir(tag: &str) -> PathBuf {
    static SEQ: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("drover-http-{tag}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).permissions().mode() & 0o777
}

#[tokio::test]
async fn without_a_token_only_requests_addressed_to_this_machine_are_answered() {
    let s = Served::start(Config { public_hosts: vec!["drover.example".into()], ..Config::default() }).await;
    let port = s.addr.port();
    for host in [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        "localhost".to_string(),
        format!("LocalHost.:{port}"),
        format!("[::1]:{port}"),
        format!("drover.example:{port}"),
        "drover.example".to_string(),
    ] {
        let (code, answer) = get_with_host(s.addr, &host).await;
        assert_eq!(code, 200, "Host {host}: {answer}");
    }
    for host in [
        format!("attacker.example:{port}"),
        "attacker.example".to_string(),
        format!("localhost.attacker.example:{port}"),
        format!("10.1.2.3:{port}"),
    ] {
        let (code, answer) = get_with_host(s.addr, &host).await;
        assert_eq!(code, 421, "Host {host}: {answer}");
        let name = host.rsplit_once(':').map_or(host.as_str(), |(n, _)| n);
        assert!(answer.contains(r#""kind":"Status""#) && answer.contains(r#""code":421"#), "{answer}");
        assert!(answer.contains(&format!(r#"Host \"{host}\" is not this coordinator"#)), "{answer}");
        assert!(answer.contains(&format!("--public-host {name}")), "{answer}");
    }
    // The client (Host: 127.0.0.1:PORT) works.
    Client::new(&s.url()).list_jobs("").await.unwrap();
    s.stop().await;
}

#[tokio::test]
async fn with_a_token_the_host_is_not_checked() {
    let token = "s3cret-token";
    let s = Served::start(Config { token: drover_api::meta::Secret::new(token), ..Config::default() }).await;
    let (code, answer) = raw(
        s.addr,
        &format!(
            "GET /apis/batch/v1/jobs HTTP/1.1\r\nHost: drover.example\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
        ),
    )
    .await;
    assert_eq!(code, 200, "{answer}");
    let (code, answer) = get_with_host(s.addr, "drover.example").await;
    assert_eq!(code, 401, "the token still guards the API: {answer}");
    s.stop().await;
}

/// Opens `n` connections that each send half a request line and nothing more.
async fn half_sent(addr: SocketAddr, n: usize) -> Vec<TcpStream> {
    let mut conns = Vec::with_capacity(n);
    for _ in 0..n {
        let mut conn = TcpStream::connect(addr).await.unwrap();
        conn.write_all(b"GET /apis/batch/v1/jo").await.unwrap();
        conns.push(conn);
    }
    conns
}

/// Waits until the server closes `conn` (EOF or a reset), returning what it sent before.
async fn until_closed(mut conn: TcpStream) -> Vec<u8> {
    let mut got = Vec::new();
    let _ = conn.read_to_end(&mut got).await;
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_sent_requests_are_closed_after_the_header_read_timeout_while_others_are_served() {
    let timeout = Duration::from_secs(2);
    let s = Served::start(Config { header_read_timeout: timeout, ..Config::default() }).await;
    let start = Instant::now();
    let conns = half_sent(s.addr, 200).await;
    // While they hang, a whole request is answered at once.
    let client = Client::new(&s.url());
    tokio::time::timeout(Duration::from_secs(1), client.list_jobs(""))
        .await
        .expect("served at once")
        .unwrap();
    assert!(start.elapsed() < timeout, "answered before the timeout closed anything: {:?}", start.elapsed());
    // Every half-sent one is closed, within the timeout (plus the time to open them all).
    let closed = tokio::time::timeout(
        timeout + Duration::from_secs(5),
        futures::future::join_all(conns.into_iter().map(until_closed)),
    )
    .await
    .expect("every half-sent request closed");
    let elapsed = start.elapsed();
    assert!(elapsed >= timeout, "closed after the timeout, not before: {elapsed:?}");
    assert_eq!(closed.len(), 200);
    // A new request is still served. From a new client: the first one's pooled connection has been
    // idle past this test's 2 s timeout (the real clients drop idle connections after 10 s, under
    // the server's 15 s default), so the server may be closing it just as it is reused.
    Client::new(&s.url()).list_jobs("").await.unwrap();
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_kept_alive_connection_is_closed_but_a_quiet_stream_is_not_cut() {
    let timeout = Duration::from_secs(1);
    let s = Served::start(Config {
        header_read_timeout: timeout,
        stream_keepalive: Duration::from_secs(60),
        ..Config::default()
    })
    .await;
    // One request on a kept-alive connection, then silence: closed after the timeout.
    let mut idle = TcpStream::connect(s.addr).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n").await.unwrap();
    let mut buf = [0u8; 1024];
    let n = idle.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&buf[..n]));
    let idle_since = Instant::now();
    let rest = tokio::time::timeout(Duration::from_secs(5), until_closed(idle)).await.expect("idle closed");
    assert!(rest.is_empty() || rest.ends_with(b"ok"), "{}", String::from_utf8_lossy(&rest));
    assert!(idle_since.elapsed() >= timeout - Duration::from_millis(100), "{:?}", idle_since.elapsed());

    // A watch that sends nothing for three timeouts (no keepalive line for 60 s) still delivers.
    let client = Client::new(&s.url());
    let mut watch = Box::pin(client.watch::<drover_api::Worker>("workers", "", None).await.unwrap());
    // Time must pass here: three header-read timeouts in which the stream writes nothing.
    tokio::time::sleep(timeout * 3).await;
    let reg = Registration {
        name: "w".into(),
        slots: 1,
        version: "test".into(),
        incarnation: "i1".into(),
        hostname: None,
    };
    client.register_worker(&reg).await.unwrap();
    use futures::StreamExt as _;
    let event = tokio::time::timeout(Duration::from_secs(5), watch.next())
        .await
        .expect("the watch is still open")
        .expect("an event")
        .unwrap();
    assert_eq!(event.object.metadata.name, "w");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_cap_wait_until_one_closes() {
    let timeout = Duration::from_secs(1);
    let s =
        Served::start(Config { header_read_timeout: timeout, max_connections: 3, ..Config::default() }).await;
    let addr = s.addr;
    let start = Instant::now();
    let conns = half_sent(addr, 3).await;
    // A fourth connection is not served while three are open...
    let answered = tokio::spawn(async move {
        let answer = get_with_host(addr, "localhost").await;
        (answer, start.elapsed())
    });
    // ...but once the timeout closed them, it is.
    let closed_at = tokio::time::timeout(Duration::from_secs(5), async {
        futures::future::join_all(conns.into_iter().map(until_closed)).await;
        start.elapsed()
    })
    .await
    .expect("the half-sent requests are closed");
    let ((code, answer), answered_at) = answered.await.unwrap();
    assert_eq!(code, 200, "{answer}");
    assert!(answered_at >= timeout, "waited for a free connection: answered at {answered_at:?}");
    assert!(closed_at >= timeout, "{closed_at:?}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_sent_too_slowly_is_refused_with_408_and_its_connection_closed() {
    let limit = Duration::from_secs(1);
    let s = Served::start(Config { body_read_timeout: limit, ..Config::default() }).await;
    for (path, content_type) in [
        ("/apis/batch/v1/namespaces/default/jobs", "application/json"),
        ("/apis/batch/v1/namespaces/default/jobs", "application/vnd.kubernetes.protobuf"),
        ("/api/v1/namespaces/default/pods/p/log?offset=0", "text/plain"),
    ] {
        let mut conn = TcpStream::connect(s.addr).await.unwrap();
        conn.write_all(
            format!(
                "POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: {content_type}\r\nContent-Length: 100\r\n\r\n{{\"kind\""
            )
            .as_bytes(),
        )
        .await
        .unwrap();
        let start = Instant::now();
        let answer = tokio::time::timeout(limit + Duration::from_secs(5), until_closed(conn))
            .await
            .expect("answered and closed");
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.starts_with("HTTP/1.1 408"), "{path}: {answer}");
        assert!(
            answer.contains(r#""reason":"Timeout""#) && answer.contains("did not arrive within 1s"),
            "{answer}"
        );
        assert!(start.elapsed() >= limit - Duration::from_millis(100), "{:?}", start.elapsed());
    }
    s.stop().await;
}

#[tokio::test]
async fn bodies_that_are_not_json_are_refused_with_a_status() {
    let s = Served::start(Config::default()).await;
    let body = "apiVersion: batch/v1\nkind: Job\n";
    let (code, answer) = raw(
        s.addr,
        &format!(
            "POST /apis/batch/v1/namespaces/default/jobs HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/yaml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    )
    .await;
    assert_eq!(code, 415, "{answer}");
    assert!(
        answer.contains(r#""reason":"UnsupportedMediaType""#) && answer.contains("application/json"),
        "{answer}"
    );
    let body = "{\"kind\": ";
    let (code, answer) = raw(
        s.addr,
        &format!(
            "POST /apis/batch/v1/namespaces/default/jobs HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    )
    .await;
    assert_eq!(code, 400, "{answer}");
    assert!(answer.contains(r#""kind":"Status""#) && answer.contains(r#""reason":"BadRequest""#), "{answer}");
    s.stop().await;
}

#[tokio::test]
async fn a_body_without_content_type_is_json_unless_a_browser_sent_it() {
    let s = Served::start(Config::default()).await;
    let post = |name: &str, origin: &str| {
        let body = format!(
            r#"{{"apiVersion":"batch/v1","kind":"Job","metadata":{{"name":"{name}"}},"spec":{{"template":{{"spec":{{"restartPolicy":"Never","containers":[{{"name":"c","image":"busybox","command":["true"]}}]}}}}}}}}"#
        );
        format!(
            "POST /apis/batch/v1/namespaces/default/jobs HTTP/1.1\r\nHost: localhost\r\n{origin}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
    };
    // What the Python `kubernetes` client sends: no Content-Type, no Origin.
    let (code, answer) = raw(s.addr, &post("no-type", "")).await;
    assert_eq!(code, 201, "{answer}");
    // A page in a browser can send a body without a Content-Type across sites, with no
    // preflight; the browser adds its Origin, and the request is refused: 403 as a request
    // from another site that changes state, and 415 from this site's own pages.
    let (code, answer) = raw(s.addr, &post("from-a-page", "Origin: https://evil.example\r\n")).await;
    assert_eq!(code, 403, "{answer}");
    let (code, answer) = raw(s.addr, &post("from-a-page", "Origin: http://localhost\r\n")).await;
    assert_eq!(code, 415, "{answer}");
    s.stop().await;
}

/// POSTs a log chunk with the query `query` and returns the status code and the answer.
async fn append(addr: SocketAddr, pod: &str, query: &str, body: &str, credential: &str) -> (u16, String) {
    raw(
        addr,
        &format!(
            "POST /api/v1/namespaces/default/pods/{pod}/log?{query} HTTP/1.1\r\nHost: localhost\r\n{WORKER_CREDENTIAL_HEADER}: {credential}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    )
    .await
}

/// Registers worker `name` with a raw request; returns the credential the reply carries.
async fn register_raw(addr: SocketAddr, name: &str) -> String {
    let body = format!(r#"{{"name":"{name}","slots":1,"version":"test","incarnation":"i-{name}"}}"#);
    let (code, answer) = raw(
        addr,
        &format!(
            "POST /apis/drover.dev/v1/workers HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    )
    .await;
    assert_eq!(code, 200, "{answer}");
    let prefix = format!("{WORKER_CREDENTIAL_HEADER}: ");
    answer
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase().starts_with(&prefix).then(|| l[prefix.len()..].trim().to_string())
        })
        .unwrap_or_else(|| panic!("no credential in {answer}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_append_must_name_an_existing_pod_its_uid_its_worker_and_a_bounded_offset() {
    let s = Served::start(Config::default()).await;
    let client = Client::new(&s.url());
    let c1 = register_raw(s.addr, "w1").await;
    let job = serde_json::json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "logs"},
        "spec": {"template": {"spec": {
            "restartPolicy": "Never",
            "containers": [{"name": "c", "image": "busybox", "command": ["true"]}]
        }}}
    });
    client.create_job(&job).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let pod: Pod = loop {
        let pods = client.list_pods("job-name=logs").await.unwrap();
        if let Some(p) = pods.into_iter().find(|p| p.node_name() == Some("w1")) {
            break p;
        }
        assert!(Instant::now() < deadline, "the pod is bound");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let (name, uid) = (pod.metadata.name.as_str(), pod.metadata.uid.as_str());

    // The pods are bound: a second worker now changes nothing there.
    let c2 = register_raw(s.addr, "w2").await;
    let (code, answer) = append(s.addr, name, &format!("offset=0&uid={uid}&worker=w1"), "hello ", &c1).await;
    assert_eq!(code, 204, "{answer}");
    let (code, answer) = append(s.addr, name, &format!("offset=6&uid={uid}&worker=w1"), "world\n", &c1).await;
    assert_eq!(code, 204, "{answer}");
    assert_eq!(client.pod_log(name).await.unwrap(), b"hello world\n");

    let cases: [(&str, String, u16, &str); 7] = [
        ("no-such-pod", format!("offset=0&uid={uid}&worker=w1"), 404, r#"pods \"no-such-pod\" not found"#),
        (
            name,
            "offset=12&uid=not-the-uid&worker=w1".into(),
            409,
            r#"not \"not-the-uid\": the log chunk is for a pod that no longer exists"#,
        ),
        (
            name,
            format!("offset=12&uid={uid}&worker=w2"),
            409,
            r#"is not bound to worker \"w2\" (bound to \"w1\")"#,
        ),
        (
            name,
            format!("offset=-1&uid={uid}&worker=w1"),
            422,
            "offset: Invalid value: -1: a log chunk of 1 bytes must lie between byte 0 and byte 1099511627776",
        ),
        (
            name,
            format!("offset=1099511627776&uid={uid}&worker=w1"),
            422,
            "offset: Invalid value: 1099511627776: a log chunk of 1 bytes must lie between byte 0",
        ),
        (
            name,
            format!("offset={}&uid={uid}&worker=w1", i64::MAX),
            422,
            "offset: Invalid value: 9223372036854775807",
        ),
        (
            name,
            format!("offset=99999999999999999999&uid={uid}&worker=w1"),
            422,
            r#"offset: Invalid value: \"99999999999999999999\": must be a byte offset"#,
        ),
    ];
    for (pod, query, want, message) in cases {
        let credential = if query.contains("worker=w2") { &c2 } else { &c1 };
        let (code, answer) = append(s.addr, pod, &query, "x", credential).await;
        assert_eq!(code, want, "{query}: {answer}");
        assert!(answer.contains(r#""kind":"Status""#) && answer.contains(message), "{query}: {answer}");
    }
    // Issue 11: the chunk's worker must prove who it is: no worker named, or another's
    // credential, is 401.
    for (query, credential, what) in [
        (format!("offset=12&uid={uid}"), c1.as_str(), "no worker named"),
        (format!("offset=12&uid={uid}&worker=w1"), c2.as_str(), "w2's credential as w1"),
        (format!("offset=12&uid={uid}&worker=w1"), "forged", "a forged credential"),
    ] {
        let (code, answer) = append(s.addr, name, &query, "forged\n", credential).await;
        assert_eq!(code, 401, "{what}: {answer}");
    }
    assert_eq!(client.pod_log(name).await.unwrap(), b"hello world\n", "no refused chunk landed");
    // A worker's client names its worker and sends the credential it registered with.
    let own = Client::new(&s.url()).with_report_batching("w1");
    let reg = Registration {
        name: "w1".into(),
        slots: 1,
        version: "test".into(),
        incarnation: "i-w1".into(),
        hostname: None,
    };
    own.register_worker(&reg).await.unwrap();
    own.append_log(name, uid, 12, b"bye\n".to_vec()).await.unwrap();
    assert_eq!(client.pod_log(name).await.unwrap(), b"hello world\nbye\n");
    s.stop().await;
}

#[tokio::test]
async fn the_data_directory_and_the_database_are_private_to_the_coordinators_user() {
    let parent = temp_dir("modes");
    let dir = parent.join("data");
    let s = Served::start(Config { data_dir: Some(dir.clone()), ..Config::default() }).await;
    Client::new(&s.url()).list_jobs("").await.unwrap();
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&dir.join("drover.db")), 0o600);
    assert_eq!(mode(&dir.join("drover.db-wal")), 0o600);
    if dir.join("drover.db-shm").exists() {
        assert_eq!(mode(&dir.join("drover.db-shm")), 0o600);
    }
    s.stop().await;

    // A database left readable by an older version is made private when opened again.
    std::fs::set_permissions(dir.join("drover.db"), std::fs::Permissions::from_mode(0o644)).unwrap();
    let s = Served::start(Config { data_dir: Some(dir.clone()), ..Config::default() }).await;
    Client::new(&s.url()).list_jobs("").await.unwrap();
    assert_eq!(mode(&dir.join("drover.db")), 0o600);
    assert_eq!(mode(&dir.join("drover.db-wal")), 0o600);
    s.stop().await;
    std::fs::remove_dir_all(&parent).unwrap();
}

/// A self-signed certificate for 127.0.0.1 and localhost in a fresh directory: the coordinator's
/// TLS configuration and the PEM certificate clients trust.
fn test_tls(tag: &str) -> (drover_coordinator::tls::TlsConfig, Vec<u8>, PathBuf) {
    let dir = temp_dir(tag);
    let pair = drover_coordinator::tls::self_signed(&dir, &[]).unwrap();
    let tls = drover_coordinator::tls::TlsConfig::from_files(&pair.cert, &pair.key).unwrap();
    (tls, std::fs::read(&pair.cert).unwrap(), dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_certificate_only_https_is_served() {
    let (tls, ca, dir) = test_tls("https");
    let s = Served::start(Config { tls: Some(tls), ..Config::default() }).await;

    // A client that trusts the certificate is served, streams included.
    let client = Client::new(&s.https_url()).with_ca_pem(&ca).unwrap();
    assert!(client.list_jobs("").await.unwrap().is_empty());
    let localhost = Client::new(&format!("https://localhost:{}", s.addr.port())).with_ca_pem(&ca).unwrap();
    assert!(localhost.list_jobs("").await.unwrap().is_empty(), "the certificate names localhost too");
    let watch = client.watch::<drover_api::Job>("jobs", "", None).await.unwrap();

    // One that does not trust it refuses the certificate.
    let err = Client::new(&s.https_url()).list_jobs("").await.unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, drover_client::ClientError::Connect { .. }), "{text}");
    assert!(text.contains("invalid peer certificate: UnknownIssuer"), "the message says why: {text}");
    // Nor does a certificate for other names pass for this one.
    let (_, other_ca, other_dir) = test_tls("https-other");
    let err = Client::new(&s.https_url()).with_ca_pem(&other_ca).unwrap().list_jobs("").await.unwrap_err();
    assert!(err.to_string().contains("invalid peer certificate"), "{err}");

    // Plain HTTP gets Go's answer and a closed connection, never the API.
    let (code, answer) =
        raw(s.addr, "GET /apis/batch/v1/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").await;
    assert_eq!(code, 400, "{answer}");
    assert!(answer.ends_with("\r\n\r\nClient sent an HTTP request to an HTTPS server.\n"), "{answer}");
    let err = Client::new(&s.url()).list_jobs("").await.unwrap_err();
    assert_eq!(err.code(), Some(400), "{err}");
    assert_eq!(err.to_string(), "Client sent an HTTP request to an HTTPS server.");

    // Stopping ends the TLS watch and closes its connection.
    drop(watch);
    s.stop().await;
    let _ = std::fs::remove_dir_all(dir);
    let _ = std::fs::remove_dir_all(other_dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_tls_handshake_is_closed_after_the_header_read_timeout() {
    let (tls, ca, dir) = test_tls("https-stall");
    let timeout = Duration::from_secs(1);
    let s = Served::start(Config {
        tls: Some(tls),
        header_read_timeout: timeout,
        max_connections: 2,
        ..Config::default()
    })
    .await;
    let start = Instant::now();
    // One connection sends nothing; the other the first bytes of a ClientHello, then nothing.
    let silent = TcpStream::connect(s.addr).await.unwrap();
    let mut partial = TcpStream::connect(s.addr).await.unwrap();
    partial.write_all(&[0x16, 0x03, 0x01, 0x00]).await.unwrap();
    // They hold both permits: a third connection waits until the timeout closes them.
    let client = Client::new(&s.https_url()).with_ca_pem(&ca).unwrap();
    let served = tokio::spawn(async move {
        client.list_jobs("").await.unwrap();
        start.elapsed()
    });
    let closed = tokio::time::timeout(timeout + Duration::from_secs(5), async {
        futures::future::join(until_closed(silent), until_closed(partial)).await
    })
    .await
    .expect("both stalled handshakes closed");
    let elapsed = start.elapsed();
    assert!(elapsed >= timeout, "closed after the timeout, not before: {elapsed:?}");
    assert_eq!(closed, (Vec::new(), Vec::new()), "nothing was answered");
    let served_at = tokio::time::timeout(Duration::from_secs(5), served).await.expect("served").unwrap();
    assert!(served_at >= timeout, "waited for a permit: {served_at:?}");
    s.stop().await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn kubernetes_protobuf_bodies_are_read_as_json() {
    let s = Served::start(Config::default()).await;
    let post = |path: &'static str, body: Vec<u8>| async move {
        let mut request = format!(
            "POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/vnd.kubernetes.protobuf\r\nAccept: application/vnd.kubernetes.protobuf,application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )
        .into_bytes();
        request.extend_from_slice(&body);
        let mut conn = TcpStream::connect(s.addr).await.unwrap();
        conn.write_all(&request).await.unwrap();
        let answer = String::from_utf8(until_closed(conn).await).unwrap();
        let code: u16 = answer.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
        (code, answer)
    };
    // What kubectl 1.32 sent for `create job hi --image=busybox -- echo hi` and `create cronjob
    // nightly --image=busybox --schedule="0 0 * * *" -- echo hi`.
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../drover-api/tests/data");
    let job = std::fs::read(data.join("job-image.pb")).unwrap();
    let (code, answer) = post("/apis/batch/v1/namespaces/default/jobs", job.clone()).await;
    assert_eq!(code, 201, "{answer}");
    assert!(answer.contains("application/json") && answer.contains(r#""command":["echo","hi"]"#), "{answer}");
    let cronjob = std::fs::read(data.join("cronjob.pb")).unwrap();
    let (code, answer) = post("/apis/batch/v1/namespaces/default/cronjobs", cronjob).await;
    assert_eq!(code, 201, "{answer}");
    assert!(answer.contains(r#""schedule":"0 0 * * *""#), "{answer}");
    // A field Drover's table does not know is refused, not dropped.
    let mut unknown = job;
    unknown.extend_from_slice(&[0x48, 0x01]); // field 9, varint 1, in runtime.Unknown
    let (code, answer) = post("/apis/batch/v1/namespaces/default/jobs", unknown).await;
    assert_eq!(code, 400, "{answer}");
    assert!(answer.contains("unknown field 9 in k8s.io.apimachinery.pkg.runtime.Unknown"), "{answer}");
    s.stop().await;
}

// === the dashboard ===

const DASH_TOKEN: &str = "dash-T0ken-never-shown";

/// A reqwest client that follows no redirect.
fn browser() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// Logs in with `token` and returns the session cookie (`name=value`) and the page's CSRF value.
async fn log_in(s: &Served, token: &str) -> (String, String) {
    let http = browser();
    let res = http
        .post(format!("{}/login", s.url()))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("origin", s.url())
        .body(format!("token={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 303);
    assert_eq!(res.headers()["location"], "/");
    let set = res.headers()["set-cookie"].to_str().unwrap().to_string();
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=43200"] {
        assert!(set.contains(attr), "{attr} in {set}");
    }
    assert!(!set.contains("Secure"), "plain HTTP: no Secure flag: {set}");
    assert!(!set.contains(token), "the token is not in the cookie: {set}");
    let cookie = set.split(';').next().unwrap().to_string();
    let page = http.get(format!("{}/", s.url())).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(page.status().as_u16(), 200);
    let csp = page.headers()["content-security-policy"].to_str().unwrap().to_string();
    assert!(csp.contains("default-src 'self'") && csp.contains("connect-src 'self'"), "{csp}");
    let html = page.text().await.unwrap();
    assert!(!html.contains(token), "the token is not in the page");
    let csrf = html
        .split(r#"name="drover-csrf" content=""#)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the page carries its CSRF value")
        .to_string();
    assert_eq!(csrf.len(), 64, "{csrf}");
    (cookie, csrf)
}

#[tokio::test]
async fn the_dashboard_needs_a_login_and_the_wrong_token_gets_the_form_and_no_data() {
    let s =
        Served::start(Config { token: drover_api::meta::Secret::new(DASH_TOKEN), ..Config::default() }).await;
    let http = browser();
    // Without a session: the dashboard redirects to the form, the data and the stream are 401.
    let res = http.get(format!("{}/", s.url())).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 303);
    assert_eq!(res.headers()["location"], "/login");
    for path in ["/ui/events", "/apis/batch/v1/jobs", "/ui/cronjobs/x/schedule"] {
        let res = http.get(format!("{}{path}", s.url())).send().await.unwrap();
        assert_eq!(res.status().as_u16(), 401, "{path}");
    }
    // The form and the assets are public, and hold no data.
    let form = http.get(format!("{}/login", s.url())).send().await.unwrap();
    assert_eq!(form.status().as_u16(), 200);
    let form = form.text().await.unwrap();
    assert!(form.contains(r#"<form method="post" action="/login""#), "{form}");
    for asset in ["/ui/app.js", "/ui/app.css"] {
        let res = http.get(format!("{}{asset}", s.url())).send().await.unwrap();
        assert_eq!(res.status().as_u16(), 200, "{asset}");
    }
    // A wrong token: 401, the form again, saying so, without repeating what was typed.
    let res = http
        .post(format!("{}/login", s.url()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("token=guessed-wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 401);
    assert!(res.headers().get("set-cookie").is_none(), "no session");
    let page = res.text().await.unwrap();
    assert!(page.contains("The token is not valid."), "{page}");
    assert!(!page.contains("guessed-wrong") && !page.contains(DASH_TOKEN), "{page}");
    // A login posted by another site is refused even with the right token.
    let res = http
        .post(format!("{}/login", s.url()))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("origin", "https://evil.example")
        .body(format!("token={DASH_TOKEN}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 403);
    assert!(res.headers().get("set-cookie").is_none());
    // A forged or foreign cookie is no session.
    let res = http
        .get(format!("{}/apis/batch/v1/jobs", s.url()))
        .header("cookie", "drover_session=1700000000.00000000000000000000000000000000.abcd")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 401);
    s.stop().await;
}

async fn worker(client: &Client, name: &str) -> drover_api::Worker {
    client.list_workers("").await.unwrap().into_iter().find(|w| w.metadata.name == name).unwrap()
}

#[tokio::test]
async fn the_session_cookie_changes_state_only_with_the_csrf_header_of_its_page() {
    let s =
        Served::start(Config { token: drover_api::meta::Secret::new(DASH_TOKEN), ..Config::default() }).await;
    let bearer = Client::new(&s.url()).with_token(Some(DASH_TOKEN));
    let registration = Registration {
        name: "w1".into(),
        slots: 1,
        version: "test".into(),
        incarnation: "i-w1".into(),
        hostname: None,
    };
    bearer.register_worker(&registration).await.unwrap();

    let (cookie, csrf) = log_in(&s, DASH_TOKEN).await;
    let http = browser();
    let cordon = format!("{}/apis/drover.dev/v1/workers/w1/cordon", s.url());
    // Reads with the cookie alone.
    let res = http
        .get(format!("{}/apis/drover.dev/v1/workers", s.url()))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    // A state change with the cookie alone (what a forged cross-site form would send): 403.
    for (what, headers) in [
        ("no CSRF header", vec![("origin", s.url())]),
        ("a wrong CSRF header", vec![("x-drover-csrf", "0".repeat(64)), ("origin", s.url())]),
        (
            "another site's Origin",
            vec![("x-drover-csrf", csrf.clone()), ("origin", "https://evil.example".into())],
        ),
        (
            "a cross-site fetch",
            vec![("x-drover-csrf", csrf.clone()), ("sec-fetch-site", "cross-site".into())],
        ),
    ] {
        let mut req = http.post(&cordon).header("cookie", &cookie);
        for (k, v) in headers {
            req = req.header(k, v);
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status().as_u16(), 403, "{what}");
        let body = res.text().await.unwrap();
        assert!(body.contains(r#""kind":"Status""#) && !body.contains(DASH_TOKEN), "{what}: {body}");
    }
    assert!(!worker(&bearer, "w1").await.spec.unschedulable, "nothing was cordoned");
    // With the page's CSRF value from its own origin: done.
    let res = http
        .post(&cordon)
        .header("cookie", &cookie)
        .header("x-drover-csrf", &csrf)
        .header("origin", s.url())
        .header("sec-fetch-site", "same-origin")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200, "{}", res.text().await.unwrap());
    assert!(worker(&bearer, "w1").await.spec.unschedulable);
    // Another session's CSRF value does not fit this one.
    let (other_cookie, _) = log_in(&s, DASH_TOKEN).await;
    let res = http
        .post(format!("{}/apis/drover.dev/v1/workers/w1/uncordon", s.url()))
        .header("cookie", &other_cookie)
        .header("x-drover-csrf", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 403);
    // Logging out clears the cookie.
    let res = http.post(format!("{}/logout", s.url())).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 303);
    assert!(res.headers()["set-cookie"].to_str().unwrap().contains("Max-Age=0"));
    s.stop().await;
}

/// Reads server-sent events from `res` until `until` is past; returns (event, data) pairs.
async fn read_events(res: reqwest::Response, until: Instant) -> Vec<(String, serde_json::Value)> {
    use futures::StreamExt as _;
    let mut body = res.bytes_stream();
    let mut text = String::new();
    let mut out = Vec::new();
    while let Ok(Some(Ok(chunk))) = tokio::time::timeout_at(until.into(), body.next()).await {
        text.push_str(std::str::from_utf8(&chunk).unwrap());
        while let Some(end) = text.find("\n\n") {
            let block: String = text.drain(..end + 2).collect();
            let mut event = String::new();
            let mut data = String::new();
            for line in block.lines() {
                if let Some(e) = line.strip_prefix("event: ") {
                    event = e.to_string();
                } else if let Some(d) = line.strip_prefix("data: ") {
                    data.push_str(d);
                }
            }
            if !event.is_empty() {
                out.push((event, serde_json::from_str(&data).unwrap()));
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_event_stream_sends_a_snapshot_then_batches_of_the_latest_changes() {
    let s = Served::start(Config::default()).await;
    let client = Client::new(&s.url());
    let job = |name: &str| {
        serde_json::json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name},
            "spec": {"suspend": true, "template": {"spec": {"restartPolicy": "Never",
            "containers": [{"name": "c", "image": "busybox", "command": ["true"]}]}}}})
    };
    client.create_job(&job("before")).await.unwrap();
    let res = browser().get(format!("{}/ui/events", s.url())).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(res.headers()["content-type"], "text/event-stream");
    // 200 Jobs created one after another, as fast as the API takes them.
    let started = Instant::now();
    for i in 0..200 {
        client.create_job(&job(&format!("j{i:03}"))).await.unwrap();
    }
    let writing = started.elapsed();
    let events = read_events(res, Instant::now() + Duration::from_millis(1500)).await;
    let (first, snapshot) = &events[0];
    assert_eq!(first, "snapshot");
    let names: Vec<&str> = snapshot["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["metadata"]["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"before"), "{names:?}");
    // Each Job is in the snapshot (made before the stream subscribed) or in a batch.
    let mut seen: std::collections::BTreeSet<String> = names.iter().map(|n| n.to_string()).collect();
    let batches: Vec<_> = events.iter().skip(1).filter(|(e, _)| e == "batch").collect();
    for (_, batch) in &batches {
        for change in batch["changes"].as_array().unwrap() {
            if change["k"] == "Job" {
                seen.insert(change["n"].as_str().unwrap().to_string());
            }
        }
    }
    for i in 0..200 {
        assert!(seen.contains(&format!("j{i:03}")), "j{i:03} reached the stream");
    }
    eprintln!("{} batches for 200 Jobs written in {writing:?}", batches.len());
    // Batched: at most one batch per 250 ms of writing, plus the ones after it.
    let most = (writing.as_millis() / 250) as usize + 8;
    assert!(batches.len() <= most, "{} batches for {writing:?} of writes", batches.len());
    assert!(batches.len() < 100, "not one event per change: {}", batches.len());
    s.stop().await;
}

// === the dashboard's Queues page ===

/// A suspended Job (nothing consumes) taking its work from `queue` on the broker at `url`.
async fn suspended_queue_job(client: &Client, name: &str, url: &str, queue: &str) {
    let job = serde_json::json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            "suspend": true,
            "parallelism": 2,
            "queue": {"url": url, "name": queue},
            "template": {"spec": {
                "restartPolicy": "Never",
                "containers": [{"name": "c", "image": "busybox", "command": ["true"]}]
            }}
        }
    });
    client.create_job(&job).await.unwrap();
}

/// `GET /ui/queues` with the session cookie: the answer's text and its rows by queue name.
async fn queues_page(
    s: &Served,
    cookie: &str,
) -> (String, std::collections::HashMap<String, serde_json::Value>) {
    let res = browser().get(format!("{}/ui/queues", s.url())).header("cookie", cookie).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let text = res.text().await.unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let rows = v["queues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| (q["queue"].as_str().unwrap().to_string(), q.clone()))
        .collect();
    (text, rows)
}

#[tokio::test]
async fn the_queues_page_shows_each_brokers_figures_never_a_password_and_answers_when_a_broker_is_down() {
    let s =
        Served::start(Config { token: drover_api::meta::Secret::new(DASH_TOKEN), ..Config::default() }).await;
    let bearer = Client::new(&s.url()).with_token(Some(DASH_TOKEN));
    let tag = uuid::Uuid::new_v4().simple().to_string();
    // Real queues with tasks nobody takes: 7 on Redis, 5 on RabbitMQ.
    let redis_q = format!("dash-queues-{tag}");
    let amqp_q = format!("dash-queues-amqp-{tag}");
    let redis = drover_queue::connect("redis://127.0.0.1:6379", &redis_q).await.unwrap();
    redis.publish(&(0..7).map(|i| format!("t{i}").into_bytes()).collect::<Vec<_>>()).await.unwrap();
    let amqp = drover_queue::connect("amqp://guest:guest@127.0.0.1:5672/%2f", &amqp_q).await.unwrap();
    amqp.publish(&(0..5).map(|i| format!("t{i}").into_bytes()).collect::<Vec<_>>()).await.unwrap();
    amqp.close().await;
    suspended_queue_job(&bearer, "on-redis", "redis://127.0.0.1:6379", &redis_q).await;
    suspended_queue_job(&bearer, "on-redis-too", "redis://127.0.0.1:6379", &redis_q).await;
    suspended_queue_job(&bearer, "on-rabbit", "amqp://guest:guest@127.0.0.1:5672/%2f", &amqp_q).await;
    // A password the broker refuses, and a broker that is not there.
    let secret = format!("pw-{tag}");
    suspended_queue_job(
        &bearer,
        "wrong-password",
        &format!("redis://:{secret}@127.0.0.1:6379"),
        "dash-nowhere",
    )
    .await;
    suspended_queue_job(&bearer, "no-broker", "redis://127.0.0.1:1", "dash-nowhere-2").await;
    let missing_q = format!("dash-queues-missing-{tag}");
    suspended_queue_job(&bearer, "absent", "amqp://guest:guest@127.0.0.1:5672/%2f", &missing_q).await;

    let (cookie, _) = log_in(&s, DASH_TOKEN).await;
    // Without the cookie: no data.
    let res = browser().get(format!("{}/ui/queues", s.url())).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 401);

    let started = Instant::now();
    let (text, rows) = queues_page(&s, &cookie).await;
    let took = started.elapsed();
    assert!(took < Duration::from_secs(4), "answered within the brokers' timeout: {took:?}");
    assert!(!text.contains(&secret), "no password in {text}");
    assert!(!text.contains("guest:guest"), "no password in {text}");

    let r = &rows[&redis_q];
    assert_eq!(r["state"], "ok", "{r}");
    assert_eq!(r["ready"], 7, "{r}");
    assert_eq!(r["inFlight"], 0, "{r}");
    assert_eq!(r["consumers"], 0, "{r}");
    assert_eq!(r["deadLettered"], 0, "{r}");
    assert_eq!(r["jobCount"], 2, "{r}");
    assert_eq!(r["url"], "redis://127.0.0.1:6379");
    let a = &rows[&amqp_q];
    assert_eq!((a["state"].as_str(), a["ready"].as_u64()), (Some("ok"), Some(5)), "{a}");
    assert_eq!(a["url"], "amqp://guest:***@127.0.0.1:5672/%2f");
    assert!(a["inFlight"].is_null(), "RabbitMQ cannot tell: {a}");
    assert_eq!(rows[&missing_q]["state"], "absent", "a passive look: {}", rows[&missing_q]);
    let w = &rows["dash-nowhere"];
    assert!(["unreachable", "error"].contains(&w["state"].as_str().unwrap()), "{w}");
    assert_eq!(w["url"], "redis://:***@127.0.0.1:6379");
    let down = &rows["dash-nowhere-2"];
    assert_eq!(down["state"], "unreachable", "{down}");
    assert!(down["error"].as_str().unwrap().contains("127.0.0.1:1"), "{down}");

    // The look changed nothing: no queue was declared, no task taken.
    let amqp =
        drover_queue::Inspector::connect("amqp://guest:guest@127.0.0.1:5672/%2f", Duration::from_secs(2))
            .await
            .unwrap();
    assert_eq!(amqp.stats(&missing_q, Duration::from_secs(2)).await.unwrap(), None, "not declared");
    amqp.close().await;

    // Within the cache's life the answer is the cached one; a new task shows after it.
    redis.publish(&[b"one more".to_vec()]).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, rows) = queues_page(&s, &cookie).await;
        if rows[&redis_q]["ready"] == 8 {
            break;
        }
        assert_eq!(rows[&redis_q]["ready"], 7);
        assert!(Instant::now() < deadline, "the new task shows once the cache expired");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    redis.purge().await.unwrap();
    let cleanup = drover_queue::connect("amqp://guest:guest@127.0.0.1:5672/%2f", &amqp_q).await.unwrap();
    cleanup.purge().await.unwrap();
    cleanup.close().await;
    s.stop().await;
}

#[tokio::test]
async fn a_broker_that_never_answers_costs_the_queues_page_its_timeout_once_per_cache_period() {
    // A "broker" that accepts connections and never says a word.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = silent.local_addr().unwrap().port();
    let held = tokio::spawn(async move {
        let mut conns = Vec::new();
        while let Ok((conn, _)) = silent.accept().await {
            conns.push(conn);
        }
    });
    let s =
        Served::start(Config { token: drover_api::meta::Secret::new(DASH_TOKEN), ..Config::default() }).await;
    let bearer = Client::new(&s.url()).with_token(Some(DASH_TOKEN));
    suspended_queue_job(&bearer, "mute-redis", &format!("redis://:s3cr3t-pw@127.0.0.1:{port}"), "mute-r")
        .await;
    suspended_queue_job(
        &bearer,
        "mute-rabbit",
        &format!("amqp://u:s3cr3t-pw@127.0.0.1:{port}/%2f"),
        "mute-a",
    )
    .await;
    let (cookie, _) = log_in(&s, DASH_TOKEN).await;

    let started = Instant::now();
    // Meanwhile the coordinator goes on serving: the brokers are not asked under the store lock.
    let api_meanwhile = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let t = Instant::now();
        bearer.list_jobs("").await.unwrap();
        t.elapsed()
    };
    let ((text, rows), api_took) = tokio::join!(queues_page(&s, &cookie), api_meanwhile);
    let first = started.elapsed();
    assert!(
        api_took < Duration::from_millis(500),
        "the API answered while the brokers were asked: {api_took:?}"
    );
    // Both brokers are asked at once, each within its 2 s.
    assert!(first >= Duration::from_millis(1900) && first < Duration::from_secs(4), "{first:?}");
    assert!(!text.contains("s3cr3t-pw"), "{text}");
    for q in ["mute-r", "mute-a"] {
        assert_eq!(rows[q]["state"], "unreachable", "{}", rows[q]);
        assert!(rows[q]["error"].as_str().unwrap().contains("timed out"), "{}", rows[q]);
    }
    // The failure is remembered for 2 s: an immediate refresh does not wait again.
    let started = Instant::now();
    let (_, rows) = queues_page(&s, &cookie).await;
    assert!(started.elapsed() < Duration::from_millis(500), "{:?}", started.elapsed());
    assert_eq!(rows["mute-r"]["state"], "unreachable");
    s.stop().await;
    held.abort();
}
