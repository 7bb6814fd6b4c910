//! The web dashboard in a real browser: Debian's headless `chromium`, driven over the WebDriver
//! protocol through `chromedriver` (plain HTTP with reqwest), against a coordinator and two
//! workers. It logs in, watches a Job climb to 4/4 without a reload, suspends a CronJob and
//! cordons a worker from the page (and the CLI sees both), runs the CronJob now and drains a
//! worker from the page, reads a queue's figures on the Queues page, checks that a wrong token gets the
//! login form and no data and that the session cookie alone changes nothing, reads the browser's
//! network log (nothing left 127.0.0.1), and saves a screenshot of each page into `docs/`.
//!
//! Skipped when `chromium` or `chromedriver` is missing, unless `DROVER_REQUIRE_CHROMIUM` is set
//! (`.ci/run` installs both and sets it).

mod common;

use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use common::{Cluster, Proc, job_yaml};
use serde_json::{Value, json};

const TOKEN: &str = "e2e-dash-token-7c1f2b";
/// The W3C WebDriver element reference key.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

fn find_in_path(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    for dir in std::env::split_paths(&path) {
        for name in names {
            let p = dir.join(name);
            if p.is_file() {
                return Some(p);
            }
        }
    }
    None
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// One browser session through chromedriver.
struct Browser {
    http: reqwest::Client,
    session: String,
    base: String,
    driver: Proc,
}

impl Drop for Browser {
    /// Kills chromedriver's process group: chromedriver and the browser it started, even when
    /// the test panicked before `quit`.
    fn drop(&mut self) {
        let group = nix::unistd::Pid::from_raw(self.driver.pid() as i32);
        let _ = nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGKILL);
    }
}

impl Browser {
    async fn start(chromium: &Path, chromedriver: &Path, dir: &Path) -> Browser {
        let port = free_port();
        let log = dir.join("chromedriver.log");
        // Its own process group, so that the browsers it starts go with it (`Drop`).
        let child = Command::new(chromedriver)
            .process_group(0)
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={}", log.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let driver = Proc { child, log };
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::builder().timeout(Duration::from_secs(90)).build().unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = match http.get(format!("{base}/status")).send().await {
                Ok(res) => res.json::<Value>().await.ok().is_some_and(|v| v["value"]["ready"] == true),
                Err(_) => false,
            };
            if ready {
                break;
            }
            assert!(Instant::now() < deadline, "chromedriver did not become ready");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let profile = dir.join("chromium-profile");
        let args = [
            "--headless".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-quic".into(),
            "--no-first-run".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--disable-dev-shm-usage".into(),
            "--window-size=1366,900".into(),
            format!("--user-data-dir={}", profile.display()),
        ];
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": chromium, "args": args},
            "goog:loggingPrefs": {"performance": "ALL"},
        }}});
        let res: Value =
            http.post(format!("{base}/session")).json(&caps).send().await.unwrap().json().await.unwrap();
        let session = res["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| {
                panic!("no session: {res}\n{}", std::fs::read_to_string(&driver.log).unwrap_or_default())
            })
            .to_string();
        Browser { http, session, base, driver }
    }

    /// A WebDriver command; its `value`, or a panic naming the error.
    async fn cmd(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let mut req = self.http.request(method, &url);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let res: Value = req.send().await.unwrap().json().await.unwrap();
        if let Some(err) = res["value"]["error"].as_str() {
            panic!("WebDriver {path}: {err}: {}", res["value"]["message"]);
        }
        res["value"].clone()
    }

    async fn goto(&self, url: &str) {
        self.cmd(reqwest::Method::POST, "/url", Some(json!({"url": url}))).await;
    }

    async fn url(&self) -> String {
        self.cmd(reqwest::Method::GET, "/url", None).await.as_str().unwrap().to_string()
    }

    async fn find(&self, css: &str) -> String {
        let v = self
            .cmd(reqwest::Method::POST, "/element", Some(json!({"using": "css selector", "value": css})))
            .await;
        v[ELEMENT].as_str().unwrap().to_string()
    }

    /// Clicks the element `css` selects, waiting up to 10 s for it to appear. The page
    /// re-renders its data live, so an element found may be replaced before the click lands:
    /// then it is found again.
    async fn click(&self, css: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut last = Value::Null;
        while Instant::now() < deadline {
            let url = format!("{}/session/{}/element", self.base, self.session);
            let found: Value = self
                .http
                .post(&url)
                .json(&json!({"using": "css selector", "value": css}))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if let Some(id) = found["value"][ELEMENT].as_str() {
                let url = format!("{}/session/{}/element/{id}/click", self.base, self.session);
                let res: Value =
                    self.http.post(&url).json(&json!({})).send().await.unwrap().json().await.unwrap();
                match res["value"]["error"].as_str() {
                    None => return,
                    Some("stale element reference") => {}
                    Some(err) => panic!("WebDriver click {css}: {err}: {}", res["value"]["message"]),
                }
                last = res;
            } else {
                last = found;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("could not click {css}: {last}");
    }

    async fn type_into(&self, css: &str, text: &str) {
        let id = self.find(css).await;
        self.cmd(reqwest::Method::POST, &format!("/element/{id}/value"), Some(json!({"text": text}))).await;
    }

    async fn js(&self, script: &str) -> Value {
        self.cmd(reqwest::Method::POST, "/execute/sync", Some(json!({"script": script, "args": []}))).await
    }

    /// Runs `script` with a callback as its last argument (`done(value)`).
    async fn js_async(&self, script: &str) -> Value {
        self.cmd(reqwest::Method::POST, "/execute/async", Some(json!({"script": script, "args": []}))).await
    }

    /// Polls `script` until it returns a truthy value (a condition with a deadline).
    async fn wait_js(&self, what: &str, script: &str, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let v = self.js(script).await;
            let truthy = !(v.is_null() || v == false || v == "" || v == 0);
            if truthy {
                return v;
            }
            if Instant::now() > deadline {
                let text = self.js("return document.body ? document.body.innerText : ''").await;
                panic!(
                    "timed out waiting for {what}; the page reads:\n{}",
                    text.as_str().unwrap_or_default()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Sets the window's size (a taller window for a long page's screenshot).
    async fn resize(&self, width: u32, height: u32) {
        self.cmd(reqwest::Method::POST, "/window/rect", Some(json!({"width": width, "height": height})))
            .await;
    }

    async fn screenshot(&self, path: &Path) {
        let b64 = self.cmd(reqwest::Method::GET, "/screenshot", None).await;
        let png = base64::engine::general_purpose::STANDARD.decode(b64.as_str().unwrap()).unwrap();
        assert!(
            png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 5_000,
            "a real PNG for {}",
            path.display()
        );
        std::fs::write(path, png).unwrap();
    }

    /// Every URL the browser requested, from its performance (DevTools network) log.
    async fn network_log(&self) -> Vec<String> {
        let entries = self.cmd(reqwest::Method::POST, "/se/log", Some(json!({"type": "performance"}))).await;
        let mut urls = Vec::new();
        for e in entries.as_array().cloned().unwrap_or_default() {
            let Ok(msg) = serde_json::from_str::<Value>(e["message"].as_str().unwrap_or("{}")) else {
                continue;
            };
            if msg["message"]["method"] == "Network.requestWillBeSent"
                && let Some(url) = msg["message"]["params"]["request"]["url"].as_str()
            {
                urls.push(url.to_string());
            }
        }
        urls
    }

    async fn quit(&self) {
        let _ = self.http.delete(format!("{}/session/{}", self.base, self.session)).send().await;
    }
}

/// Waits until `drover ARGS` prints a line starting with `name` that contains `want`.
async fn cli_shows(cluster: &Cluster, args: &[&str], name: &str, want: &[&str]) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let out = cluster.ok(args);
        if let Some(line) = out.lines().find(|l| l.starts_with(name))
            && want.iter().any(|w| line.contains(w))
        {
            return line.to_string();
        }
        assert!(Instant::now() < deadline, "drover {args:?} never showed {want:?} for {name}:\n{out}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

const CRONJOB: &str = r#"apiVersion: batch/v1
kind: CronJob
metadata:
  name: nightly-report
spec:
  schedule: "15 3 * * *"
  timeZone: Europe/Paris
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          containers:
          - name: report
            image: busybox
            command: ["sh", "-c", "echo report"]
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_in_a_headless_browser() {
    let found = (find_in_path(&["chromium", "chromium-browser"]), find_in_path(&["chromedriver"]));
    let (Some(chromium), Some(chromedriver)) = found else {
        assert!(
            std::env::var_os("DROVER_REQUIRE_CHROMIUM").is_none(),
            "DROVER_REQUIRE_CHROMIUM is set but chromium or chromedriver is missing (apt-get install chromium chromium-driver)"
        );
        eprintln!("skipped: chromium and chromedriver are not installed");
        return;
    };
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs");
    let mut cluster = Cluster::start_with_token("dashboard", TOKEN, &[]);
    cluster.add_worker("worker-a", 2, &[]).await;
    cluster.add_worker("worker-b", 1, &[]).await;
    cluster.create("cronjob", CRONJOB);
    let origin = cluster.url.clone();
    let browser = Browser::start(&chromium, &chromedriver, &cluster.dir.0).await;

    // A wrong token: the login form again, and no data.
    browser.goto(&format!("{origin}/")).await;
    assert_eq!(browser.url().await, format!("{origin}/login"), "the dashboard sends a stranger to the login");
    browser.type_into("#token", "not-the-token").await;
    browser.click("#login-submit").await;
    let error = browser
        .wait_js(
            "the login error",
            "return document.querySelector('#login-error').textContent",
            Duration::from_secs(10),
        )
        .await;
    assert_eq!(error, "The token is not valid.");
    let text = browser.js("return document.documentElement.outerHTML").await;
    let text = text.as_str().unwrap();
    for data in ["nightly-report", "worker-a", "not-the-token", TOKEN] {
        assert!(!text.contains(data), "the login page shows no {data:?}");
    }
    let status = browser
        .js_async(
            "const done = arguments[0]; fetch('/ui/events').then(r => done(r.status), e => done(String(e)))",
        )
        .await;
    assert_eq!(status, 401, "no session, no data");
    browser.screenshot(&docs.join("dashboard-login.png")).await;

    // The right token: the dashboard, live.
    browser.type_into("#token", TOKEN).await;
    browser.click("#login-submit").await;
    browser
        .wait_js(
            "the dashboard",
            "return document.querySelector('#main[data-ready=\"true\"]') !== null",
            Duration::from_secs(15),
        )
        .await;
    assert_eq!(browser.url().await, format!("{origin}/"));
    let html = browser.js("return document.documentElement.outerHTML").await;
    assert!(!html.as_str().unwrap().contains(TOKEN), "the token is not in the page");
    let cookies = browser.js("return document.cookie").await;
    assert_eq!(cookies, "", "the session cookie is HttpOnly");

    // A Job created through the CLI climbs to 4/4 on the Jobs page, without a reload.
    browser.click(r#"nav a[data-page="jobs"]"#).await;
    browser
        .wait_js(
            "the Jobs page",
            "return document.querySelector('#main[data-page=\"jobs\"][data-ready=\"true\"]') !== null",
            Duration::from_secs(10),
        )
        .await;
    browser
        .js(r#"window.__marker = 'same page'; window.__seen = [];
            const record = () => {
              const e = document.querySelector('tr[data-job="pi4"] .completions');
              if (e && window.__seen[window.__seen.length - 1] !== e.textContent) window.__seen.push(e.textContent);
            };
            new MutationObserver(record).observe(document.querySelector('#main'), {subtree: true, childList: true, characterData: true});"#)
        .await;
    cluster.create(
        "pi4",
        &job_yaml(
            "pi4",
            "  completions: 4\n  parallelism: 2\n",
            "Never",
            "echo \"hello from $HOSTNAME\"; sleep 0.4",
        ),
    );
    browser
        .wait_js("4/4", r#"const e = document.querySelector('tr[data-job="pi4"] .completions'); return e && e.textContent === '4/4'"#, Duration::from_secs(60))
        .await;
    let seen = browser.js("return window.__seen").await;
    let seen: Vec<&str> = seen.as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert_eq!(seen.last(), Some(&"4/4"), "{seen:?}");
    assert!(seen.len() >= 2 && seen[0] != "4/4", "the bar climbed in place: {seen:?}");
    assert_eq!(browser.js("return window.__marker").await, "same page", "no reload");
    let status =
        browser.js(r#"return document.querySelector('tr[data-job="pi4"] .status').textContent"#).await;
    assert_eq!(status, "Complete");
    cli_shows(&cluster, &["get", "jobs"], "pi4", &["4/4"]).await;
    browser.screenshot(&docs.join("dashboard-jobs.png")).await;

    // The Job's page: its pods on their workers, and a pod's log.
    browser.click(r#"a[data-key="job:pi4"]"#).await;
    browser
        .wait_js(
            "the pods",
            "return document.querySelectorAll('[data-pod]').length === 4",
            Duration::from_secs(10),
        )
        .await;
    let workers = browser
        .js("return [...document.querySelectorAll('[data-pod] .muted')].map(e => e.textContent).join(' ')")
        .await;
    assert!(workers.as_str().unwrap().contains("on worker-"), "{workers}");
    browser.click("[data-pod] button").await;
    browser
        .wait_js(
            "the log",
            "return document.querySelector('#log').textContent.includes('hello from')",
            Duration::from_secs(10),
        )
        .await;
    browser
        .wait_js(
            "the events",
            "return document.querySelector('#events table') !== null",
            Duration::from_secs(10),
        )
        .await;

    // Suspend a CronJob from the page; the CLI reports it suspended.
    browser.click(r#"nav a[data-page="cronjobs"]"#).await;
    browser
        .wait_js(
            "the CronJob",
            r#"return document.querySelector('tr[data-cronjob="nightly-report"] ol.times li') !== null"#,
            Duration::from_secs(10),
        )
        .await;
    let next = browser
        .js(r#"return document.querySelectorAll('tr[data-cronjob="nightly-report"] ol.times li').length"#)
        .await;
    assert_eq!(next, 5, "the next five fire times");
    let first = browser
        .js(r#"return document.querySelector('tr[data-cronjob="nightly-report"] ol.times li').textContent"#)
        .await;
    assert!(first.as_str().unwrap().contains("03:15 CE"), "in the CronJob's zone: {first}");
    browser.click(r#"tr[data-cronjob="nightly-report"] button[data-action="suspend"]"#).await;
    browser.click("#confirm-ok").await;
    let line = cli_shows(&cluster, &["get", "cronjobs"], "nightly-report", &["True"]).await;
    assert!(line.contains("True"), "{line}");
    let cj = cluster.client().get_cronjob("nightly-report").await.unwrap();
    assert_eq!(cj.spec.suspend, Some(true));
    browser
        .wait_js("Suspended on the page", r#"const e = document.querySelector('tr[data-cronjob="nightly-report"] .status'); return e && e.textContent === 'Suspended'"#, Duration::from_secs(10))
        .await;
    browser.screenshot(&docs.join("dashboard-cronjobs.png")).await;

    // Run the CronJob now from the page: a Job owned by it appears (and runs on a worker).
    browser.click(r#"tr[data-cronjob="nightly-report"] button[data-action="run"]"#).await;
    browser.click("#confirm-ok").await;
    let client = cluster.client();
    let deadline = Instant::now() + Duration::from_secs(10);
    let manual = loop {
        let jobs = client.list_jobs("").await.unwrap();
        if let Some(j) = jobs.into_iter().find(|j| j.metadata.name.starts_with("nightly-report-manual-")) {
            break j;
        }
        assert!(Instant::now() < deadline, "Run now created no Job");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        manual.metadata.owner_references.iter().any(|r| r.kind == "CronJob" && r.name == "nightly-report"),
        "{:?}",
        manual.metadata.owner_references
    );
    cluster.wait_complete(&manual.metadata.name, Duration::from_secs(30)).await;

    // Cordon a worker from the page; `drover get workers` shows it cordoned.
    browser.click(r#"nav a[data-page="workers"]"#).await;
    browser
        .wait_js(
            "the workers",
            r#"return document.querySelectorAll('tr[data-worker]').length === 2"#,
            Duration::from_secs(10),
        )
        .await;
    browser.click(r#"tr[data-worker="worker-b"] button[data-action="cordon"]"#).await;
    browser.click("#confirm-ok").await;
    let line =
        cli_shows(&cluster, &["get", "workers"], "worker-b", &["Cordoned", "SchedulingDisabled"]).await;
    eprintln!("drover get workers: {line}");
    browser
        .wait_js("Uncordon offered", r#"return document.querySelector('tr[data-worker="worker-b"] button[data-action="uncordon"]') !== null"#, Duration::from_secs(10))
        .await;
    // The session cookie alone (no CSRF header) changes nothing, even from the page's own origin.
    let status = browser
        .js_async("const done = arguments[0]; fetch('/apis/drover.dev/v1/workers/worker-a/cordon', {method: 'POST'}).then(r => done(r.status), e => done(String(e)))")
        .await;
    assert_eq!(status, 403);
    let workers = cluster.client().list_workers("").await.unwrap();
    let a = workers.iter().find(|w| w.metadata.name == "worker-a").unwrap();
    assert!(!a.spec.unschedulable, "worker-a was not cordoned by the cookie alone");
    browser.screenshot(&docs.join("dashboard-workers.png")).await;

    // A Job with more pods than free slots (worker-b is cordoned, worker-a has two): its page
    // shows which pods wait for a slot, and where they are in line, never as Running.
    cluster.create(
        "slow",
        &job_yaml(
            "slow",
            "  completions: 4\n  parallelism: 4\n",
            "Never",
            "echo \"started at $(date +%T)\"; sleep 8",
        ),
    );
    browser.click(r#"nav a[data-page="jobs"]"#).await;
    browser.click(r#"a[data-key="job:slow"]"#).await;
    let states = browser
        .wait_js(
            "two pods running and two waiting in line",
            r#"const s = [...document.querySelectorAll('[data-pod] .status')].map(e => e.textContent);
               return s.filter(t => t === 'Running').length === 2 && s.filter(t => t.startsWith('Waiting for a slot (#')).length === 2 ? s : null"#,
            Duration::from_secs(20),
        )
        .await;
    let mut waiting: Vec<&str> = states
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str())
        .filter(|t| t.starts_with("Waiting"))
        .collect();
    waiting.sort();
    assert_eq!(waiting, ["Waiting for a slot (#1 in line)", "Waiting for a slot (#2 in line)"]);
    let unbound = browser
        .js(r#"return [...document.querySelectorAll('[data-pod]')].filter(r => r.querySelector('.status').textContent.startsWith('Waiting for a slot')).map(r => r.querySelector('.muted').textContent)"#)
        .await;
    assert_eq!(unbound, json!(["no worker yet", "no worker yet"]), "a waiting pod is on no worker");
    let running = browser
        .js(r#"return [...document.querySelectorAll('[data-pod]')].find(r => r.querySelector('.status').textContent === 'Running').dataset.pod"#)
        .await;
    browser.click(&format!("[data-pod=\"{}\"] button", running.as_str().unwrap())).await;
    browser
        .wait_js(
            "the running pod's log",
            "return document.querySelector('#log').textContent.includes('started at')",
            Duration::from_secs(10),
        )
        .await;
    browser.resize(1366, 1500).await;
    browser.js("window.scrollTo(0, 0)").await;
    browser.screenshot(&docs.join("dashboard-job.png")).await;
    browser.resize(1366, 900).await;

    // The overview, while that Job runs.
    browser.click(r#"nav a[data-page="overview"]"#).await;
    browser
        .wait_js(
            "the overview",
            "return document.querySelectorAll('.card').length >= 4",
            Duration::from_secs(10),
        )
        .await;
    let cards = browser.js("return document.querySelector('#main').innerText").await;
    let cards = cards.as_str().unwrap();
    for want in ["Jobs by state", "Workers by state", "Waiting for a slot", "Pods finished per second"] {
        assert!(cards.contains(want), "{want} in {cards}");
    }
    browser
        .wait_js(
            "both sparklines drawn over ten seconds",
            "const p = document.querySelector('.spark polyline'); return p && p.getAttribute('points').split(' ').length >= 10",
            Duration::from_secs(20),
        )
        .await;
    assert_eq!(
        browser.js("return window.__marker").await,
        "same page",
        "every page since the Jobs page was reached by its links, in one page load, live"
    );
    browser.screenshot(&docs.join("dashboard-overview.png")).await;

    // The Queues page: a queue a suspended Job names, with the tasks published to it, asked of
    // the broker (this page polls /ui/queues while it is open).
    let queue = format!("dash-e2e-{}", std::process::id());
    let broker = drover_queue::connect("redis://127.0.0.1:6379", &queue).await.unwrap();
    broker.purge().await.unwrap();
    broker.publish(&(0..6).map(|i| format!("task {i}").into_bytes()).collect::<Vec<_>>()).await.unwrap();
    cluster
        .client()
        .create_job(&json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "queued-work"},
            "spec": {"suspend": true, "parallelism": 2,
                "queue": {"url": "redis://127.0.0.1:6379", "name": queue},
                "template": {"spec": {"restartPolicy": "Never",
                    "containers": [{"name": "c", "image": "busybox", "command": ["true"]}]}}}}))
        .await
        .unwrap();
    browser.click(r#"nav a[data-page="queues"]"#).await;
    let ready = browser
        .wait_js(
            "the queue's figures",
            &format!(r#"const e = document.querySelector('tr[data-queue="{queue}"] td[data-col="ready"]'); return e && e.textContent"#),
            Duration::from_secs(15),
        )
        .await;
    assert_eq!(ready, "6", "the published count");
    // One more task shows without a reload (the page polls).
    broker.publish(&[b"task 6".to_vec()]).await.unwrap();
    browser
        .wait_js(
            "the new count",
            &format!(r#"const e = document.querySelector('tr[data-queue="{queue}"] td[data-col="ready"]'); return e && e.textContent === '7'"#),
            Duration::from_secs(15),
        )
        .await;
    let row =
        browser.js(&format!(r#"return document.querySelector('tr[data-queue="{queue}"]').innerText"#)).await;
    assert!(row.as_str().unwrap().contains("queued-work"), "the Job using it: {row}");
    assert_eq!(browser.js("return window.__marker").await, "same page", "no reload");
    browser.screenshot(&docs.join("dashboard-queues.png")).await;
    broker.purge().await.unwrap();

    // The keyboard: Tab moves the focus to the next control, which shows a visible ring.
    let tab = json!({"actions": [{"type": "key", "id": "keyboard", "actions": [
        {"type": "keyDown", "value": "\u{E004}"}, {"type": "keyUp", "value": "\u{E004}"}]}]});
    browser.cmd(reqwest::Method::POST, "/actions", Some(tab)).await;
    let focus = browser
        .js("const e = document.activeElement; const s = getComputedStyle(e); return [e.tagName, e.textContent.trim(), s.outlineStyle, s.outlineWidth]")
        .await;
    assert!(["A", "BUTTON"].contains(&focus[0].as_str().unwrap()), "a control has the focus: {focus}");
    assert_eq!((&focus[2], &focus[3]), (&json!("solid"), &json!("3px")), "a visible focus ring: {focus}");

    // 1,000 more Jobs: the Jobs page takes them live, pages through them and filters them.
    let client = cluster.client();
    let manifest = |i: usize| {
        json!({"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": format!("batch-{i:04}"), "labels": {"team": if i.is_multiple_of(2) { "even" } else { "odd" }}},
            "spec": {"suspend": true, "template": {"spec": {"restartPolicy": "Never",
                "containers": [{"name": "c", "image": "busybox", "command": ["true"]}]}}}})
    };
    browser.click(r#"nav a[data-page="jobs"]"#).await;
    let indexes: Vec<usize> = (0..1000).collect();
    for chunk in indexes.chunks(50) {
        futures::future::join_all(chunk.iter().map(|&i| {
            let (client, job) = (&client, manifest(i));
            async move { client.create_job(&job).await.unwrap() }
        }))
        .await;
    }
    let pager_is = |want: &'static str| {
        format!(
            "const p = document.querySelector('.pager span'); return p && p.textContent === {want:?} ? p.textContent : null"
        )
    };
    browser
        .wait_js(
            "1,004 Jobs in pages (pi4, the slow Job, the manual run, queued-work and 1,000)",
            &pager_is("Jobs 1–50 of 1,004 (page 1 of 21)"),
            Duration::from_secs(30),
        )
        .await;
    assert_eq!(browser.js("return document.querySelectorAll('tr[data-job]').length").await, 50);
    browser.click(r#"button[data-key="next"]"#).await;
    browser
        .wait_js("the second page", &pager_is("Jobs 51–100 of 1,004 (page 2 of 21)"), Duration::from_secs(10))
        .await;
    browser.type_into("#f-labels", "team=odd").await;
    browser
        .wait_js("a label filter", &pager_is("Jobs 1–50 of 500 (page 1 of 10)"), Duration::from_secs(10))
        .await;
    browser.click(r#"#f-status option[value="Suspended"]"#).await;
    browser
        .wait_js(
            "a label and status filter",
            &pager_is("Jobs 1–50 of 500 (page 1 of 10)"),
            Duration::from_secs(10),
        )
        .await;
    browser.click(r#"#f-status option[value="Complete"]"#).await;
    browser
        .wait_js("no Complete Job of team odd", &pager_is("No Job matches."), Duration::from_secs(10))
        .await;

    // Drain the cordoned worker from the page: it drains (it has no pods) and leaves.
    browser.click(r#"nav a[data-page="workers"]"#).await;
    browser
        .wait_js(
            "the workers",
            r#"return document.querySelector('tr[data-worker="worker-b"] button[data-action="drain"]') !== null"#,
            Duration::from_secs(10),
        )
        .await;
    browser.click(r#"tr[data-worker="worker-b"] button[data-action="drain"]"#).await;
    browser.click("#confirm-ok").await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let w = cluster
            .client()
            .list_workers("")
            .await
            .unwrap()
            .into_iter()
            .find(|w| w.metadata.name == "worker-b");
        let phase = w.as_ref().map(|w| w.status.phase.clone());
        // Draining, then gone once it left (or Lost, if its lease ran out first).
        if phase.as_deref().is_none_or(|p| p == "Draining" || p == "Lost") {
            break;
        }
        assert!(Instant::now() < deadline, "worker-b did not drain: {phase:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Init containers on a Job's page: one running ("Initializing (0/1) on worker-a"), one
    // failed under Never ("Failed (Init:Error)").
    let with_init = |name: &str, init: &str| {
        json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name},
            "spec": {"backoffLimit": 0, "template": {"spec": {"restartPolicy": "Never",
                "initContainers": [{"name": "prep", "image": "busybox", "command": ["sh", "-c", init]}],
                "containers": [{"name": "c", "image": "busybox", "command": ["true"]}]}}}})
    };
    for (name, init, want) in [
        ("init-slow", "exec sleep 320", "Initializing (0/1) on worker-a"),
        ("init-fails", "exit 3", "Failed (Init:Error)"),
    ] {
        cluster.client().create_job(&with_init(name, init)).await.unwrap();
        browser.js(&format!("location.hash = '#/jobs/{name}'")).await;
        browser
            .wait_js(
                want,
                &format!(r#"const e = document.querySelector('[data-pod] .status'); return e && e.textContent === {want:?}"#),
                Duration::from_secs(20),
            )
            .await;
    }
    cluster.ok(&["delete", "job", "init-slow"]);

    // Nothing left 127.0.0.1: the DevTools network log of every page, and this page's own
    // resource timings.
    let urls = browser.network_log().await;
    let entries =
        browser.js("return performance.getEntries().map(e => e.name).filter(n => /^[a-z]+:/.test(n))").await;
    let mut all: Vec<String> = urls.clone();
    all.extend(entries.as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()));
    assert!(
        urls.iter().any(|u| u.ends_with("/ui/app.js")),
        "the network log has the page's requests: {urls:?}"
    );
    assert!(all.iter().any(|u| u.contains("/ui/events")), "{all:?}");
    // The browser's own pages (its blank new-tab page: `chrome://…`) and `data:` URLs are not
    // network requests; everything else must be this coordinator.
    let internal = ["data:", "about:", "blob:", "chrome:", "chrome-untrusted:", "chrome-search:"];
    let network: Vec<&String> = all.iter().filter(|u| !internal.iter().any(|s| u.starts_with(s))).collect();
    assert!(!network.is_empty());
    for url in network {
        assert!(url.starts_with(&format!("{origin}/")), "a request left 127.0.0.1: {url}");
    }
    browser.quit().await;
}
