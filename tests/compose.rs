//! The docker-compose topology, played with processes (there is no Docker engine here): the
//! `coordinator` and `worker` services' own commands and environments from `docker-compose.yml`,
//! with only the addresses a container network would resolve changed to 127.0.0.1, and the
//! brokers the machine already runs in place of the `rabbitmq` and `redis` services. It runs the
//! two work-queue Jobs of the docs (S86 on RabbitMQ, S87 on Redis) end to end. The `redis`
//! service's own command runs too (the machine's `redis-server`, on a port of its own), to check
//! that queued tasks survive a Redis restart.

mod common;
mod queue_common;

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use common::*;
use futures::StreamExt;
use queue_common::*;
use serde_json::Value;

const SECS: fn(u64) -> Duration = Duration::from_secs;
const TOKEN: &str = "compose-test-token-5b1e";

fn compose() -> Value {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docker-compose.yml")).unwrap();
    serde_saphyr::from_str(&text).unwrap()
}

/// Compose's `${VAR:?message}` and `${VAR:-default}` with `vars`.
fn interpolate(text: &str, vars: &BTreeMap<&str, &str>) -> String {
    let Some(start) = text.find("${") else { return text.to_string() };
    let end = start + text[start..].find('}').expect("closing brace");
    let inner = &text[start + 2..end];
    let name = inner.split([':', '?', '-']).next().unwrap();
    let value = match vars.get(name) {
        Some(v) => v.to_string(),
        None => match inner.split_once(":-") {
            Some((_, default)) => default.to_string(),
            None => panic!("compose would refuse to start: {name} is required ({inner})"),
        },
    };
    format!("{}{}{}", &text[..start], value, interpolate(&text[end + 1..], vars))
}

/// A service's command (as `drover` arguments) and environment.
fn service(c: &Value, name: &str, vars: &BTreeMap<&str, &str>) -> (Vec<String>, Vec<(String, String)>) {
    let svc = &c["services"][name];
    let command =
        svc["command"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect();
    let env = svc["environment"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    let text = match v {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    (k.clone(), interpolate(&text, vars))
                })
                .collect()
        })
        .unwrap_or_default();
    (command, env)
}

/// Replaces the value after `flag` in `argv`.
fn set_flag(argv: &mut [String], flag: &str, value: &str) {
    let i = argv.iter().position(|a| a == flag).unwrap_or_else(|| panic!("{flag} not in {argv:?}"));
    argv[i + 1] = value.to_string();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compose_topology_runs_s86_and_s87() {
    let c = compose();
    let vars = BTreeMap::from([("DROVER_TOKEN", TOKEN)]);
    let dir = TempDir::new("compose");

    // coordinator: its command, with the container's listen address and data volume mapped.
    let (mut argv, env) = service(&c, "coordinator", &vars);
    set_flag(&mut argv, "--listen", "127.0.0.1:0");
    set_flag(&mut argv, "--data", dir.0.join("data").to_str().unwrap());
    let mut cmd = Command::new(BIN);
    cmd.args(&argv).envs(env.iter().map(|(k, v)| (k, v))).env_remove("DROVER_SERVER");
    let (coordinator, port) = spawn_coordinator_cmd(cmd, dir.0.join("coordinator.log"));
    let mut cluster = Cluster::adopt(dir, coordinator, port, Some(TOKEN.to_string()));
    assert!(cluster.drover(&["get", "workers"]).status.success());

    // worker, scaled to 2: the service's command with the coordinator's address, each with the
    // unique name a container's hostname would give it.
    let (argv, mut env) = service(&c, "worker", &vars);
    // The secrets the worker mounts, as compose makes them (from their variables), in the test's
    // directory, and `/run/secrets/NAME` mapped to them.
    let secrets = cluster.dir.0.join("secrets");
    std::fs::create_dir_all(&secrets).unwrap();
    for name in c["services"]["worker"]["secrets"].as_array().unwrap() {
        let name = name.as_str().unwrap();
        let var = c["secrets"][name]["environment"].as_str().unwrap();
        let file = secrets.join(name);
        std::fs::write(&file, vars[var]).unwrap();
        for (_, value) in &mut env {
            if *value == format!("/run/secrets/{name}") {
                *value = file.to_str().unwrap().to_string();
            }
        }
    }
    assert!(!env.iter().any(|(_, v)| v.starts_with("/run/secrets/")), "a secret the worker does not mount");
    for i in 1..=2 {
        let mut argv = argv.clone();
        set_flag(&mut argv, "--coordinator", &cluster.url);
        let mut cmd = Command::new(BIN);
        cmd.args(&argv).args(["--name", &format!("worker-{i}")]).envs(env.iter().map(|(k, v)| (k, v)));
        cluster.adopt_worker(cmd);
    }
    // Both join with the compose token and show Ready, with the compose file's slots.
    let client = cluster.client();
    within(SECS(15), async {
        let mut ready = std::collections::BTreeMap::new();
        let mut s = Box::pin(client.watch::<drover_api::Worker>("workers", "", None).await.unwrap());
        while let Some(ev) = s.next().await {
            let w = ev.unwrap().object;
            ready.insert(w.metadata.name.clone(), (w.status.phase == "Ready", w.spec.slots));
            if ready.len() == 2 && ready.values().all(|(r, _)| *r) {
                assert!(ready.values().all(|(_, slots)| *slots == 2), "DROVER_SLOTS from the compose file");
                return;
            }
        }
    })
    .await;

    // The workers got the token from the file: it is neither on their command line nor in their
    // environment.
    for worker in &cluster.workers {
        for what in ["cmdline", "environ"] {
            let bytes = std::fs::read(format!("/proc/{}/{what}", worker.pid())).unwrap();
            assert!(!String::from_utf8_lossy(&bytes).contains(TOKEN), "the token is in a worker's {what}");
        }
    }

    // S86 on RabbitMQ and S87 on Redis, at once, from the examples with their own queue names.
    let q1 = queue_name("compose-s86");
    let q2 = queue_name("compose-s87");
    publish(&cluster, Broker::Rabbit, &q1, &FRUITS[..8]);
    publish(&cluster, Broker::Redis, &q2, &FRUITS);
    let example = |file: &str, queue_default: &str, queue: &str, url_default: &str, url: &str| {
        let text =
            std::fs::read_to_string(format!("{}/../../examples/{file}", env!("CARGO_MANIFEST_DIR"))).unwrap();
        text.replace(&format!("name: {queue_default}"), &format!("name: {queue}"))
            .replace(url_default, url)
            .replace("sleep 10", "sleep 0.3")
            .replace("sleep 1", "sleep 0.2")
    };
    cluster.create(
        "s86",
        &example(
            "queue-rabbitmq-job.yaml",
            "job1",
            &q1,
            "amqp://guest:guest@127.0.0.1:5672/%2f",
            &amqp_url(),
        ),
    );
    cluster
        .create("s87", &example("queue-redis-job.yaml", "job2", &q2, "redis://127.0.0.1:6379", &redis_url()));
    let s86 = cluster.wait_complete("job-wq-1-drover", SECS(90)).await;
    let s87 = cluster.wait_complete("job-wq-2-drover", SECS(90)).await;
    assert!(s86.condition_true("Complete").is_some(), "{s86:#?}");
    assert_eq!((s86.status.succeeded, s86.status.failed), (8, 0));
    assert_eq!(s86.status.tasks.unwrap().succeeded, 8);
    assert!(max_overlap(&cluster.pods_of("job-wq-1-drover").await) <= 2);
    assert!(s87.condition_true("Complete").is_some(), "{s87:#?}");
    assert_eq!((s87.status.succeeded, s87.status.failed), (2, 0));
    assert_eq!(s87.status.tasks.unwrap().succeeded, 9);
    assert_eq!(cluster.pods_of("job-wq-2-drover").await.len(), 2);
    assert_eq!(stats(&cluster, Broker::Rabbit, &q1).0, 0);
    assert_eq!(stats(&cluster, Broker::Redis, &q2).0, 0);
    // Both workers took part.
    let pods: Vec<_> =
        [cluster.pods_of("job-wq-1-drover").await, cluster.pods_of("job-wq-2-drover").await].concat();
    let nodes: std::collections::BTreeSet<_> =
        pods.iter().filter_map(|p| p.node_name().map(str::to_string)).collect();
    assert_eq!(nodes.len(), 2, "{nodes:?}");
}

/// The `redis` service's command, with its data directory and address mapped to the test's,
/// keeps every published task across a `kill -9` of Redis (the append-only file is written
/// before Redis answers; `everysec` only bounds what an OS crash can lose).
#[test]
fn compose_redis_keeps_queued_tasks_across_a_restart() {
    let c = compose();
    let dir = TempDir::new("compose-redis");
    let mut argv: Vec<String> = c["services"]["redis"]["command"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert_eq!(argv.remove(0), "redis-server");
    set_flag(&mut argv, "--dir", dir.0.to_str().unwrap());
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("redis://127.0.0.1:{port}");
    let start = |n: u32| {
        let log = dir.0.join(format!("redis-{n}.log"));
        let child = Command::new("redis-server")
            .args(&argv)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--logfile", log.to_str().unwrap()])
            .spawn()
            .expect("redis-server on the PATH");
        let proc = Proc { child, log };
        // Up when it answers.
        let deadline = std::time::Instant::now() + SECS(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(std::time::Instant::now() < deadline, "redis-server did not start on port {port}");
            std::thread::sleep(Duration::from_millis(20));
        }
        proc
    };
    let drover = |args: &[&str]| {
        let out = Command::new(BIN).args(args).output().unwrap();
        assert!(out.status.success(), "drover {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let ready = |queue: &str| -> u64 {
        let out = drover(&["queue", "stats", "--url", &url, "--queue", queue]);
        out.lines().nth(1).unwrap().split('\t').nth(1).unwrap().parse().unwrap()
    };

    let mut redis = start(1);
    let out = drover(&["queue", "publish", "--url", &url, "--queue", "compose-aof", "a", "b", "c"]);
    assert!(out.contains("published 3 task(s)"), "{out}");
    assert_eq!(ready("compose-aof"), 3);
    redis.kill9();
    let _redis = start(2);
    assert_eq!(ready("compose-aof"), 3, "the published tasks are back after the restart");
    assert!(
        std::fs::read_dir(&dir.0).unwrap().any(|e| e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .contains("appendonly")),
        "the append-only file is in the mapped data directory"
    );
}
