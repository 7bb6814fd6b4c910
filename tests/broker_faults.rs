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

/// The port of the Redis the tests use.
fn redis_port() -> u16 {
    let url = redis_url();
    let rest = url.split_once("://").map_or(url.as_str(), |(_, rest)| rest);
    let host = rest.split('/').next().unwrap_or_default();
    let host = host.rsplit_once('@').map_or(host, |(_, host)| host);
    host.rsplit_once(':').and_then(|(_, port)| port.parse().ok()).unwrap_or(6379)
}

/// The client addresses (`ip:port`) of `pid`'s TCP connections to `port` on 127.0.0.1.
fn connections_of(pid: u32, port: u16) -> Vec<String> {
    let out = std::process::Command::new("ss").args(["-tnpH", "state", "established"]).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains(&format!("pid={pid},")))
        .filter_map(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            let (local, peer) = (cols.get(2)?, cols.get(3)?);
            (*peer == format!("127.0.0.1:{port}")).then(|| local.to_string())
        })
        .collect()
}

/// Tiny tasks, taken in batches (the `Stream` handler, lines written ahead), under faults: a
/// worker SIGKILLed mid-drain with batches in hand (restarted under its name), then every
/// broker connection of the workers cut. Every task runs, the count is exact, the queue ends
/// empty. Only this test's own connections are cut (found by the workers' pids on Redis, by the
/// queue's name on RabbitMQ), as the brokers are shared.
async fn batches_under_faults(broker: Broker) {
    let mut c = Cluster::start("batchfault", &[]);
    c.add_worker("w1", 2, &[]).await;
    c.add_worker("w2", 2, &[]).await;
    let q = queue_name("batchfault");
    let n = 12_000;
    let file = c.dir.0.join("tasks.txt");
    std::fs::write(&file, (0..n).map(|i| format!("t{i}\n")).collect::<String>()).unwrap();
    let url = broker.url();
    let out = c.ok(&["queue", "publish", "--url", &url, "--queue", &q, "--file", file.to_str().unwrap()]);
    assert!(out.contains(&format!("published {n} task(s)")), "{out}");
    let record = c.dir.0.join("done.txt");
    let script = format!("while read -r t; do echo \"$t\" >> {}; echo ok; done", record.display());
    let job = queue_job("batchfault", broker, &q, "  parallelism: 4\n  backoffLimit: 20\n", "Never", &script)
        .replace("    name: drover", "    leaseSeconds: 2\n    name: drover");
    c.create("job", &with_handler(&job, "Stream"));
    c.wait_job("batchfault", SECS(60), |j| j.status.tasks.is_some_and(|t| t.succeeded >= 1_500)).await;
    // A worker dies with batches in hand: their unstarted tasks, written-ahead lines and
    // unrecorded successes come back when its leases expire (Redis) or its connection closes.
    c.workers[0].kill9();
    let mid = c.client().get_job("batchfault").await.unwrap();
    let done_then = mid.status.tasks.map_or(0, |t| t.succeeded);
    assert!(
        mid.condition_true("Complete").is_none() && done_then < n as i64,
        "the fault came too late: {done_then}"
    );
    c.add_worker("w1", 2, &[]).await;
    match broker {
        Broker::Redis => {
            let addrs: Vec<String> =
                c.workers[1..].iter().flat_map(|w| connections_of(w.pid(), redis_port())).collect();
            assert!(!addrs.is_empty(), "the surviving worker's connections are found");
            {
                for addr in addrs {
                    let out = std::process::Command::new("redis-cli")
                        .args(["-u", &redis_url(), "CLIENT", "KILL", "ADDR", &addr])
                        .output()
                        .unwrap();
                    assert!(out.status.success(), "{out:?}");
                }
            }
        }
        Broker::Rabbit => {
            for pid in rabbit_connections_of(&q) {
                let out = std::process::Command::new("rabbitmqctl")
                    .args(["close_connection", &pid, "drover e2e test"])
                    .output()
                    .unwrap();
                assert!(out.status.success(), "{out:?}");
            }
        }
    }
    let job = c.wait_complete("batchfault", SECS(120)).await;
    assert!(job.condition_true("Complete").is_some(), "{job:#?}");
    let done = std::fs::read_to_string(&record).unwrap();
    let distinct: std::collections::BTreeSet<&str> = done.lines().collect();
    assert_eq!(distinct.len(), n, "no task lost");
    let tasks = job.status.tasks.unwrap();
    assert_eq!(tasks.succeeded, n as i64, "counted exactly once: {tasks:?}");
    eprintln!(
        "{broker:?}: {} runs of {n} tasks ({done_then} done at the kill), {tasks:?}",
        done.lines().count()
    );
    assert_eq!(stats(&c, broker, &q).0, 0, "the queue ends empty");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_batches_under_a_worker_kill_and_cut_connections_lose_nothing() {
    batches_under_faults(Broker::Redis).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rabbitmq_batches_under_a_worker_kill_and_cut_connections_lose_nothing() {
    batches_under_faults(Broker::Rabbit).await;
}
