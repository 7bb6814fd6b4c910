//! Kubernetes' API conventions as the coordinator serves them (issue 12), over HTTP on
//! 127.0.0.1:0: discovery, the one namespace, list pages, field selectors, watches that resume
//! from a resourceVersion (and 410 when it is too old), bookmarks, Tables, field validation,
//! dry runs, and the four PATCH forms with immutable fields and apply conflicts.

use std::net::SocketAddr;
use std::time::Duration;

use drover_coordinator::Config;
use futures::StreamExt;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

struct Served {
    addr: SocketAddr,
    stop: CancellationToken,
    http: reqwest::Client,
}

impl Served {
    async fn start(config: Config) -> Served {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = CancellationToken::new();
        let until = stop.clone();
        tokio::spawn(async move {
            drover_coordinator::run(listener, config, async move { until.cancelled().await }).await.unwrap();
        });
        Served { addr, stop, http: reqwest::Client::new() }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        let resp = self.http.get(self.url(path)).send().await.unwrap();
        (resp.status().as_u16(), resp.json().await.unwrap_or(Value::Null))
    }

    async fn post(&self, path: &str, body: &Value) -> (u16, Value, Vec<String>) {
        let resp = self.http.post(self.url(path)).json(body).send().await.unwrap();
        let warnings =
            resp.headers().get_all("warning").iter().map(|v| v.to_str().unwrap().to_string()).collect();
        (resp.status().as_u16(), resp.json().await.unwrap_or(Value::Null), warnings)
    }

    async fn patch(&self, path: &str, content_type: &str, body: &str) -> (u16, Value) {
        let resp = self
            .http
            .patch(self.url(path))
            .header("content-type", content_type)
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        (resp.status().as_u16(), resp.json().await.unwrap_or(Value::Null))
    }

    /// Creates a suspended Job (no pods, no worker needed).
    async fn job(&self, name: &str) -> Value {
        let (code, body, _) = self.post(JOBS, &job(name)).await;
        assert_eq!(code, 201, "{body}");
        body
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

const JOBS: &str = "/apis/batch/v1/namespaces/default/jobs";

fn job(name: &str) -> Value {
    json!({
        "apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name, "labels": {"app": "demo"}},
        "spec": {"suspend": true, "completions": 3, "parallelism": 1, "template": {"spec": {
            "restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox", "command": ["true"]}]}}}
    })
}

fn names(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["metadata"]["name"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn discovery_lists_the_kinds_and_only_the_default_namespace_exists() {
    let s = Served::start(Config::default()).await;
    let (code, batch) = s.get("/apis/batch/v1").await;
    assert_eq!(code, 200);
    let resources: Vec<&str> =
        batch["resources"].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert!(resources.contains(&"jobs") && resources.contains(&"cronjobs/status"), "{resources:?}");
    let (_, groups) = s.get("/apis").await;
    assert_eq!(groups["kind"], "APIGroupList");
    let (code, _) = s.get("/apis/apps/v1").await;
    assert_eq!(code, 404);
    let (code, version) = s.get("/version").await;
    assert_eq!((code, version["major"].as_str()), (200, Some("1")));

    let (code, err) = s.get("/apis/batch/v1/namespaces/team-a/jobs").await;
    assert_eq!(code, 404);
    assert_eq!(err["kind"], "Status");
    assert!(err["message"].as_str().unwrap().contains("namespaces \"team-a\" not found"), "{err}");
    let created = s.job("pi").await;
    assert_eq!(created["metadata"]["namespace"], "default", "a namespaced object says where it lives");
    let (code, ns) = s.get("/api/v1/namespaces").await;
    assert_eq!((code, names(&ns)), (200, vec!["default".to_string()]));
    // A verb discovery does not list is refused with a Status.
    let pods: Value = s.get("/api/v1").await.1;
    let verbs = &pods["resources"].as_array().unwrap().iter().find(|r| r["name"] == "pods").unwrap()["verbs"];
    assert!(!verbs.as_array().unwrap().contains(&json!("delete")), "{verbs}");
    let resp = s.http.delete(s.url("/api/v1/namespaces/default/pods/p")).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 405);
    let status: Value = resp.json().await.unwrap();
    assert_eq!(status["reason"], "MethodNotAllowed");
}

#[tokio::test]
async fn lists_page_in_name_order_with_limit_and_continue() {
    let s = Served::start(Config::default()).await;
    for name in ["e", "b", "d", "a", "c"] {
        s.job(name).await;
    }
    // One Job without the label the others carry, in the middle of the name order.
    let mut other = job("bb");
    other["metadata"]["labels"] = json!({"app": "other"});
    let (code, body, _) = s.post(JOBS, &other).await;
    assert_eq!(code, 201, "{body}");
    // Without a selector, each page says how many objects are left; with one, it cannot know
    // without reading them, and says nothing (as Kubernetes).
    for (query, want, remaining) in [
        ("", vec!["a", "b", "bb", "c", "d", "e"], vec![Some(4), Some(2), None]),
        ("&labelSelector=app%3Ddemo", vec!["a", "b", "c", "d", "e"], vec![None, None, None]),
    ] {
        let mut seen = Vec::new();
        let mut counts = Vec::new();
        let mut path = format!("{JOBS}?limit=2{query}");
        loop {
            let (code, page) = s.get(&path).await;
            assert_eq!(code, 200, "{page}");
            assert_eq!(page["kind"], "JobList");
            assert!(page["metadata"]["resourceVersion"].as_str().is_some_and(|v| !v.is_empty()));
            let items = names(&page);
            assert!(items.len() <= 2);
            seen.extend(items);
            counts.push(page["metadata"]["remainingItemCount"].as_u64());
            match page["metadata"]["continue"].as_str() {
                Some(token) => path = format!("{JOBS}?limit=2{query}&continue={token}"),
                None => break,
            }
        }
        assert_eq!(seen, want, "{query}");
        assert_eq!(counts, remaining, "{query}");
    }
    // The client lists in pages too (kubectl's chunking) and returns every object once.
    for chunk in [1, 2, 5, 500] {
        let client = drover_client::Client::new(&format!("http://{}", s.addr)).with_list_chunk(chunk);
        let all: Vec<String> =
            client.list_jobs("").await.unwrap().into_iter().map(|j| j.metadata.name).collect();
        assert_eq!(all, ["a", "b", "bb", "c", "d", "e"], "chunk {chunk}");
        let demo: Vec<String> =
            client.list_jobs("app=demo").await.unwrap().into_iter().map(|j| j.metadata.name).collect();
        assert_eq!(demo, ["a", "b", "c", "d", "e"], "chunk {chunk}");
    }
    let (code, err) = s.get(&format!("{JOBS}?limit=2&continue=garbage")).await;
    assert_eq!(code, 400, "{err}");
}

#[tokio::test]
async fn field_selectors_select_and_unsupported_fields_are_refused() {
    let s = Served::start(Config::default()).await;
    for name in ["one", "two"] {
        s.job(name).await;
    }
    let (_, list) = s.get(&format!("{JOBS}?fieldSelector=metadata.name%3Dtwo")).await;
    assert_eq!(names(&list), ["two"]);
    let (_, list) =
        s.get(&format!("{JOBS}?fieldSelector=metadata.name!%3Dtwo,metadata.namespace%3Ddefault")).await;
    assert_eq!(names(&list), ["one"]);
    let (_, list) = s.get(&format!("{JOBS}?fieldSelector=metadata.namespace%3Dother")).await;
    assert!(names(&list).is_empty());
    let (code, err) = s.get(&format!("{JOBS}?fieldSelector=spec.parallelism%3D1")).await;
    assert_eq!(code, 400);
    assert!(
        err["message"].as_str().unwrap().contains("field label not supported: spec.parallelism"),
        "{err}"
    );
    let (code, _) = s.get("/api/v1/namespaces/default/pods?fieldSelector=status.phase%3DRunning").await;
    assert_eq!(code, 200, "pods select on status.phase");
    // Events: by the involved object's name alone (`kubectl get events --field-selector
    // involvedObject.name=two`), or with its kind.
    let events = "/api/v1/namespaces/default/events?fieldSelector=";
    for selector in ["involvedObject.name%3Dtwo", "involvedObject.kind%3DJob,involvedObject.name%3Dtwo"] {
        let (code, list) = s.get(&format!("{events}{selector}")).await;
        assert_eq!(code, 200, "{selector}: {list}");
        let about: Vec<&str> = list["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["involvedObject"]["name"].as_str().unwrap())
            .collect();
        assert!(!about.is_empty() && about.iter().all(|n| *n == "two"), "{selector}: {about:?}");
    }
}

/// Reads watch events until one satisfies `done` (included).
async fn read_until(resp: reqwest::Response, done: impl Fn(&Value) -> bool) -> Vec<Value> {
    let mut bytes = resp.bytes_stream();
    let mut buf = Vec::new();
    let mut events: Vec<Value> = Vec::new();
    loop {
        let chunk = tokio::time::timeout(Duration::from_secs(10), bytes.next())
            .await
            .unwrap_or_else(|_| panic!("no matching event within 10 s: {events:?}"))
            .expect("the watch is open")
            .unwrap();
        buf.extend_from_slice(&chunk);
        while let Some(pos) = buf.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buf.drain(..=pos).collect();
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let event: Value = serde_json::from_slice(&line).unwrap();
            let last = done(&event);
            events.push(event);
            if last {
                return events;
            }
        }
    }
}

/// Reads watch events (one JSON object a line) until `n` non-empty lines arrived.
async fn read_events(resp: reqwest::Response, n: usize) -> Vec<Value> {
    let mut bytes = resp.bytes_stream();
    let mut buf = Vec::new();
    let mut events = Vec::new();
    while events.len() < n {
        let chunk = tokio::time::timeout(Duration::from_secs(10), bytes.next())
            .await
            .expect("an event within 10 s")
            .expect("the watch is open")
            .unwrap();
        buf.extend_from_slice(&chunk);
        while let Some(pos) = buf.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buf.drain(..=pos).collect();
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            events.push(serde_json::from_slice(&line).unwrap());
        }
    }
    events
}

#[tokio::test]
async fn a_watch_resumes_from_a_resource_version_and_one_too_old_is_expired() {
    let s = Served::start(Config {
        watch_history: 8,
        stream_keepalive: Duration::from_millis(100),
        ..Config::default()
    })
    .await;
    s.job("before").await;
    let (_, list) = s.get(JOBS).await;
    let rv = list["metadata"]["resourceVersion"].as_str().unwrap().to_string();
    s.job("after-1").await;
    s.job("after-2").await;
    // From the list's version: the two creations after it, not the Job listed.
    let resp = s.http.get(s.url(&format!("{JOBS}?watch=1&resourceVersion={rv}"))).send().await.unwrap();
    assert_eq!(resp.headers()["content-type"], "application/json");
    let events =
        read_until(resp, |e| e["type"] == "ADDED" && e["object"]["metadata"]["name"] == "after-2").await;
    let added: Vec<&str> = events
        .iter()
        .filter(|e| e["type"] == "ADDED")
        .map(|e| e["object"]["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(added, ["after-1", "after-2"], "{events:?}");
    assert!(events.iter().all(|e| e["object"]["metadata"]["name"] != "before"), "{events:?}");
    let versions: Vec<i64> = events
        .iter()
        .map(|e| e["object"]["metadata"]["resourceVersion"].as_str().unwrap().parse().unwrap())
        .collect();
    assert!(versions.windows(2).all(|w| w[0] < w[1]), "in revision order: {versions:?}");

    // Bookmarks carry a version from which the watch can resume without a gap.
    let resp = s
        .http
        .get(s.url(&format!("{JOBS}?watch=true&resourceVersion={rv}&allowWatchBookmarks=true")))
        .send()
        .await
        .unwrap();
    let events = read_until(resp, |e| e["type"] == "BOOKMARK").await;
    let (bookmark, changes) = events.split_last().unwrap();
    let bookmark: i64 = bookmark["object"]["metadata"]["resourceVersion"].as_str().unwrap().parse().unwrap();
    let newest: i64 =
        changes.last().unwrap()["object"]["metadata"]["resourceVersion"].as_str().unwrap().parse().unwrap();
    assert!(bookmark >= newest, "bookmark {bookmark} < newest event {newest}");

    // More changes than the history holds: the old version is gone (410 Expired).
    for i in 0..10 {
        s.job(&format!("more-{i}")).await;
    }
    let resp = s.http.get(s.url(&format!("{JOBS}?watch=1&resourceVersion={rv}"))).send().await.unwrap();
    let events = read_events(resp, 1).await;
    assert_eq!(events[0]["type"], "ERROR");
    assert_eq!(events[0]["object"]["code"], 410);
    assert_eq!(events[0]["object"]["reason"], "Expired");
}

#[tokio::test]
async fn kubectl_gets_tables_with_its_columns() {
    let s = Served::start(Config::default()).await;
    s.job("pi").await;
    let accept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";
    let table: Value =
        s.http.get(s.url(JOBS)).header("accept", accept).send().await.unwrap().json().await.unwrap();
    assert_eq!(table["kind"], "Table");
    let columns: Vec<&str> =
        table["columnDefinitions"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(&columns[..5], ["Name", "Status", "Completions", "Duration", "Age"]);
    assert_eq!(table["rows"][0]["cells"][0], "pi");
    assert_eq!(table["rows"][0]["cells"][1], "Suspended");
    assert_eq!(table["rows"][0]["cells"][2], "0/3");
    assert_eq!(table["rows"][0]["object"]["kind"], "PartialObjectMetadata");
    let one: Value = s
        .http
        .get(s.url(&format!("{JOBS}/pi?includeObject=Object")))
        .header("accept", accept)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(one["rows"][0]["object"]["kind"], "Job");
    // Without the Table in Accept, the object itself.
    let (_, plain) = s.get(&format!("{JOBS}/pi")).await;
    assert_eq!(plain["kind"], "Job");
}

#[tokio::test]
async fn unknown_fields_are_refused_warned_or_ignored_and_dry_runs_write_nothing() {
    let s = Served::start(Config::default()).await;
    let mut typo = job("typo");
    typo["spec"]["parallelismm"] = json!(2);
    let (code, err, _) = s.post(JOBS, &typo).await;
    assert_eq!(code, 400, "{err}");
    assert_eq!(
        err["message"],
        "Job in version \"v1\" cannot be handled as a Job: strict decoding error: unknown field \"spec.parallelismm\""
    );
    let (code, created, warnings) = s.post(&format!("{JOBS}?fieldValidation=Warn"), &typo).await;
    assert_eq!(code, 201, "{created}");
    assert_eq!(warnings, [r#"299 - "unknown field \"spec.parallelismm\"""#]);
    let mut again = typo.clone();
    again["metadata"]["name"] = json!("typo-2");
    let (code, _, warnings) = s.post(&format!("{JOBS}?fieldValidation=Ignore"), &again).await;
    assert_eq!((code, warnings.len()), (201, 0));

    let (code, err, _) = s.post(&format!("{JOBS}?dryRun=All"), &job("dry")).await;
    assert_eq!(code, 400, "{err}");
    let (code, _) = s.get(&format!("{JOBS}/dry")).await;
    assert_eq!(code, 404, "a refused dry run wrote nothing");
}

#[tokio::test]
async fn patches_in_four_forms_keep_immutable_fields_and_report_apply_conflicts() {
    let s = Served::start(Config::default()).await;
    s.job("p").await;
    let path = format!("{JOBS}/p");
    let (code, patched) =
        s.patch(&path, "application/merge-patch+json", r#"{"spec":{"parallelism":2}}"#).await;
    assert_eq!((code, patched["spec"]["parallelism"].as_i64()), (200, Some(2)), "{patched}");
    let (code, patched) = s
        .patch(&path, "application/strategic-merge-patch+json", r#"{"metadata":{"labels":{"tier":"x"}}}"#)
        .await;
    assert_eq!(code, 200, "{patched}");
    assert_eq!(patched["metadata"]["labels"], json!({"app": "demo", "tier": "x"}));
    let (code, patched) = s
        .patch(
            &path,
            "application/json-patch+json",
            r#"[{"op":"replace","path":"/spec/parallelism","value":3}]"#,
        )
        .await;
    assert_eq!((code, patched["spec"]["parallelism"].as_i64()), (200, Some(3)));

    // An immutable field: 422 with the details kubectl words its message from.
    let (code, err) = s.patch(&path, "application/merge-patch+json", r#"{"spec":{"completions":9}}"#).await;
    assert_eq!(code, 422, "{err}");
    assert_eq!((err["details"]["kind"].as_str(), err["details"]["name"].as_str()), (Some("Job"), Some("p")));
    assert_eq!(err["details"]["causes"][0]["field"], "spec.completions");
    assert_eq!(err["details"]["causes"][0]["message"], "Invalid value: 9: field is immutable");
    // A stale resourceVersion in the patch is a precondition that fails.
    let (code, _) = s
        .patch(
            &path,
            "application/merge-patch+json",
            r#"{"metadata":{"resourceVersion":"1"},"spec":{"parallelism":1}}"#,
        )
        .await;
    assert_eq!(code, 409);

    // Server-side apply creates, then two managers conflict over a field unless forced.
    let applied = |manager: &str, parallelism: u32| {
        let mut j = job("ssa");
        j["spec"]["parallelism"] = json!(parallelism);
        (format!("{JOBS}/ssa?fieldManager={manager}"), j.to_string())
    };
    let (url, body) = applied("alice", 1);
    let (code, created) = s.patch(&url, "application/apply-patch+yaml", &body).await;
    assert_eq!(code, 201, "{created}");
    assert_eq!(created["metadata"]["managedFields"][0]["manager"], "alice");
    let (url, body) = applied("bob", 2);
    let (code, err) = s.patch(&url, "application/apply-patch+yaml", &body).await;
    assert_eq!(code, 409, "{err}");
    assert!(err["message"].as_str().unwrap().contains("conflict with \"alice\""), "{err}");
    let (code, forced) = s.patch(&format!("{url}&force=true"), "application/apply-patch+yaml", &body).await;
    assert_eq!((code, forced["spec"]["parallelism"].as_i64()), (200, Some(2)), "{forced}");

    // An apply that would create another object than the path names is refused.
    let (code, err) = s
        .patch(
            &format!("{JOBS}/other?fieldManager=alice"),
            "application/apply-patch+yaml",
            &job("ssa-2").to_string(),
        )
        .await;
    assert_eq!(code, 400, "{err}");
    let (code, _) = s.get(&format!("{JOBS}/ssa-2")).await;
    assert_eq!(code, 404);

    let (code, _) = s.patch(&path, "text/plain", "{}").await;
    assert_eq!(code, 415);
}

#[tokio::test]
async fn delete_options_in_the_body_orphan_pods_and_check_preconditions() {
    let s = Served::start(Config::default()).await;
    let pods_of = |job: &str| format!("/api/v1/namespaces/default/pods?labelSelector=job-name%3D{job}");
    for name in ["orphaned", "cascaded"] {
        let mut j = job(name);
        j["spec"]["suspend"] = json!(false);
        let (code, body, _) = s.post(JOBS, &j).await;
        assert_eq!(code, 201, "{body}");
        // Pods are created (they stay Pending: there is no worker); wait for the first.
        let resp = s.http.get(s.url(&format!("{}&watch=1", pods_of(name)))).send().await.unwrap();
        read_until(resp, |e| e["type"] == "ADDED").await;
    }
    let delete = |name: &str, body: Value| s.http.delete(s.url(&format!("{JOBS}/{name}"))).json(&body).send();
    let resp = delete(
        "orphaned",
        json!({"kind": "DeleteOptions", "apiVersion": "v1", "preconditions": {"uid": "not-it"}}),
    )
    .await
    .unwrap();
    assert_eq!(resp.status().as_u16(), 409, "a failed precondition deletes nothing");
    let resp = delete(
        "orphaned",
        json!({"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Orphan"}),
    )
    .await
    .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let (_, left) = s.get(&pods_of("orphaned")).await;
    assert!(!names(&left).is_empty(), "kubectl's --cascade=orphan (in the body) leaves the pods");
    let resp = delete(
        "cascaded",
        json!({"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"}),
    )
    .await
    .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let (_, left) = s.get(&pods_of("cascaded")).await;
    assert!(names(&left).is_empty(), "{left}");
    let (code, _) = s.get(&format!("{JOBS}/cascaded")).await;
    assert_eq!(code, 404);
}
