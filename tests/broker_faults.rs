//! Broker faults during a Job: every client connection cut mid-drain. A separate test binary,
//! so that cutting a broker's connections never hits the other tests' Jobs (cargo runs test
//! binaries one at a time).

mod common;
mod queue_common;

use std::time::Duration;

use common::*;
use queue_common::*;

const SECS: fn(u64) -> Duration = Duration::from_secs;

/// The broker-side ids of the connections whose name mentions `queue` (each AmqpQueue names
/// its connection `drover queue <name>`).
fn rabbit_connections_of(queue: &str) -> Vec<String> {
    let out = std::process::Command::new("rabbitmqctl")
        .args(["list_connections", "--silent", "pid", "client_properties"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains(queue))
        .filter_map(|l| l.split_whitespace().next().map(String::from))
        .collect()
}

async fn broker_connections_killed(broker: Broker) {
    let mut c = Cluster::start("connkill", &[]);
    c.add_worker("w1", 2, &[]).await;
    let q = queue_name("connkill");
    let items: Vec<String> = (0..300).map(|i| format!("c{i}")).collect();
    let refs: Vec<&str> = items.iter().map(String::as_str).collect();
    publish(&c, broker, &q, &refs);
    let record = c.dir.0.join("done.txt");
    // Long enough (300 × 80 ms over 2 pods, about 12 s) that the Job is still running when
    // `rabbitmqctl` (slow to start) lists and closes the connections.
    let script = format!("sleep 0.08; echo $DROVER_TASK >> {}", record.display());
    c.create(
        "job",
        &queue_job("connkill", broker, &q, "  parallelism: 2\n  backoffLimit: 20\n", "Never", &script)
            .replace("    name: drover", "    leaseSeconds: 2\n    name: drover"),
    );
    c.wait_job("connkill", SECS(30), |j| j.status.tasks.is_some_and(|t| t.succeeded >= 20)).await;
    // Cut every client connection of the broker.
    match broker {
        Broker::Redis => {
            let out = std::process::Command::new("redis-cli")
                .args(["-u", &redis_url(), "CLIENT", "KILL", "TYPE", "normal"])
                .output()
                .unwrap();
            assert!(out.status.success(), "{out:?}");
        }
        Broker::Rabbit => {
            let pids = rabbit_connections_of(&q);
            assert!(!pids.is_empty(), "the workers' connections are listed");
            for pid in pids {
                let out = std::process::Command::new("rabbitmqctl")
                    .args(["close_connection", &pid, "drover e2e test"])
                    .output()
                    .unwrap();
                assert!(out.status.success(), "{out:?}");
            }
        }
    }
    let job = c.wait_complete("connkill", SECS(120)).await;
    assert!(job.condition_true("Complete").is_some(), "{job:#?}");
    let done = std::fs::read_to_string(&record).unwrap();
    let distinct: std::collections::BTreeSet<&str> = done.lines().collect();
    assert_eq!(distinct.len(), 300, "no task lost");
    // At-least-once: an ack in flight when the connection broke may be lost and its task
    // processed again, so successes may exceed the tasks by at most one per pod.
    let succeeded = job.status.tasks.unwrap().succeeded;
    assert!((300..=302).contains(&succeeded), "succeeded {succeeded}");
    assert_eq!(stats(&c, broker, &q).0, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_connections_killed_mid_job_lose_nothing() {
    broker_connections_killed(Broker::Redis).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rabbitmq_connections_killed_mid_job_lose_nothing() {
    broker_connections_killed(Broker::Rabbit).await;
}
