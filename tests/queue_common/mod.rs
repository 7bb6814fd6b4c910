//! Shared helpers of the queue tests.
#![allow(dead_code, unreachable_pub)]

use crate::common::Cluster;

pub fn amqp_url() -> String {
    std::env::var("AMQP_ADDR").unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into())
}

pub fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

#[derive(Clone, Copy, Debug)]
pub enum Broker {
    Rabbit,
    Redis,
}

impl Broker {
    pub fn url(self) -> String {
        match self {
            Broker::Rabbit => amqp_url(),
            Broker::Redis => redis_url(),
        }
    }
}

/// A queue name unique to this test run.
pub fn queue_name(tag: &str) -> String {
    format!("drover-e2e-{tag}-{}-{}", std::process::id(), chrono::Utc::now().timestamp_micros())
}

pub const FRUITS: [&str; 9] =
    ["apple", "banana", "cherry", "date", "fig", "grape", "lemon", "melon", "orange"];

pub fn publish(c: &Cluster, broker: Broker, queue: &str, items: &[&str]) {
    let url = broker.url();
    let mut args = vec!["queue", "publish", "--url", &url, "--queue", queue];
    args.extend(items.iter().copied());
    let out = c.ok(&args);
    assert!(out.contains(&format!("published {} task(s)", items.len())), "{out}");
    assert!(!out.contains("guest:guest"), "credentials printed: {out}");
}

pub fn stats(c: &Cluster, broker: Broker, queue: &str) -> (u64, String) {
    let url = broker.url();
    let out = c.ok(&["queue", "stats", "--url", &url, "--queue", queue]);
    let row: Vec<&str> = out.lines().nth(1).unwrap().split('\t').collect();
    (row[1].parse().unwrap(), row[2].to_string())
}

pub fn purge(c: &Cluster, broker: Broker, queue: &str) {
    let url = broker.url();
    c.ok(&["queue", "purge", "--url", &url, "--queue", queue]);
}

/// A queue Job: `sh -c SCRIPT` per task, with the task in $DROVER_TASK.
pub fn queue_job(
    name: &str,
    broker: Broker,
    queue: &str,
    spec_extra: &str,
    restart: &str,
    script: &str,
) -> String {
    format!(
        "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: {name}\nspec:\n{spec_extra}  queue:\n    url: {:?}\n    name: {queue}\n  template:\n    spec:\n      containers:\n      - name: c\n        image: busybox\n        command: [\"sh\", \"-c\", {script:?}]\n      restartPolicy: {restart}\n",
        broker.url()
    )
}

/// `yaml` (from [`queue_job`]) with `spec.queue.handler` set.
pub fn with_handler(yaml: &str, handler: &str) -> String {
    let out = yaml.replacen("    name: drover", &format!("    handler: {handler}\n    name: drover"), 1);
    assert_ne!(out, yaml, "no queue name line in {yaml}");
    out
}
