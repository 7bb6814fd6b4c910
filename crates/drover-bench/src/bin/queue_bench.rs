//! `drover-queue-bench`: drain throughput of Drover's work queues beside the raw broker limit
//! measured in the same run.
//!
//! For each broker (RabbitMQ, Redis) it measures, on the same number of consumers (the Job's
//! parallelism, default 4) and the same task count:
//! - **raw**: the broker's own limit for the reliable pattern Drover uses, with no Drover in the
//!   way. RabbitMQ: one connection per consumer, prefetch 1, consume + ack of persistent
//!   messages. Redis: one connection per consumer, `LMOVE` into a processing list + `LREM` ack
//!   (the method of `../shared/bench`, "Redis reliable pop").
//! - **Drover** drain Jobs (completions unset) with each handler: `Noop` (the queue path alone),
//!   `Stream` (one long-lived `sh` process answering `ok` per task: the fast path for tiny
//!   tasks), and `Exec` (one `true` process per task).
//!
//! Every figure is tasks per second from Job create to `Complete` (Drover) or from the first
//! take to the last ack (raw), median of the rounds, and the ratio to the raw median.

#[path = "../cluster.rs"]
#[allow(dead_code)]
mod cluster;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::Parser;
use futures::StreamExt;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicQosOptions, QueueDeleteOptions};
use lapin::types::FieldTable;
use lapin::{Connection, ConnectionProperties};

#[derive(Debug, Parser)]
#[command(about = "Drain throughput of Drover's queue Jobs beside the raw broker limit")]
struct Args {
    /// Tasks per run.
    #[arg(long, default_value_t = 20_000)]
    tasks: usize,
    /// Consumers: the raw runs' connections and the Jobs' parallelism.
    #[arg(long, default_value_t = 4)]
    parallelism: usize,
    /// Runs of each measurement; the median is reported.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Tasks for the Exec handler (one process per task is slow; keep it smaller).
    #[arg(long, default_value_t = 2_000)]
    exec_tasks: usize,
    /// The drover binary.
    #[arg(long)]
    drover: Option<PathBuf>,
    #[arg(long, env = "AMQP_ADDR", default_value = "amqp://guest:guest@127.0.0.1:5672/%2f")]
    amqp: String,
    #[arg(long, env = "REDIS_URL", default_value = "redis://127.0.0.1:6379")]
    redis: String,
    /// The brokers to measure (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "rabbitmq,redis")]
    brokers: Vec<String>,
    /// The handlers to measure (comma-separated); the raw broker is always measured.
    #[arg(long, value_delimiter = ',', default_value = "Noop,Stream,Exec")]
    handlers: Vec<String>,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let drover = args.drover.clone().unwrap_or_else(|| {
        PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../target/release/drover"))
    });
    if !drover.exists() {
        bail!("{} not found: run `cargo build --release -p drover-cli` first", drover.display());
    }
    let mut cluster = cluster::Cluster::start(&drover, args.parallelism as u32, "info", false)?;
    let client = drover_client::Client::new(&cluster.url);
    wait_ready(&client).await?;

    println!("| broker | what | tasks | tasks/s (median, min..max of {}) | × raw |", args.rounds);
    println!("|---|---|---|---|---|");
    for broker in ["rabbitmq", "redis"] {
        if !args.brokers.iter().any(|b| b.eq_ignore_ascii_case(broker)) {
            continue;
        }
        let url = if broker == "rabbitmq" { &args.amqp } else { &args.redis };
        let raw = median_of(args.rounds, || raw_run(broker, url, args.tasks, args.parallelism)).await?;
        print_row(broker, "raw broker (reliable consume + ack)", args.tasks, &raw, None);
        for (handler, n) in [("Noop", args.tasks), ("Stream", args.tasks), ("Exec", args.exec_tasks)] {
            if !args.handlers.iter().any(|h| h.eq_ignore_ascii_case(handler)) {
                continue;
            }
            let runs = median_of(args.rounds, || {
                drover_run(&drover, &cluster.url, url, handler, n, args.parallelism)
            })
            .await?;
            print_row(broker, &format!("Drover drain, handler {handler}"), n, &runs, Some(raw.median));
        }
    }
    cluster.shutdown();
    Ok(())
}

struct Runs {
    median: f64,
    min: f64,
    max: f64,
}

async fn median_of<F, Fut>(rounds: usize, mut f: F) -> anyhow::Result<Runs>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<f64>>,
{
    let mut v = Vec::new();
    for _ in 0..rounds.max(1) {
        v.push(f().await?);
    }
    v.sort_by(|a, b| a.total_cmp(b));
    Ok(Runs { median: v[v.len() / 2], min: v[0], max: v[v.len() - 1] })
}

fn print_row(broker: &str, what: &str, n: usize, r: &Runs, raw: Option<f64>) {
    let ratio = raw.map(|raw| format!("{:.2}", r.median / raw)).unwrap_or_else(|| "1.00".into());
    println!("| {broker} | {what} | {n} | {:.0} ({:.0}..{:.0}) | {ratio} |", r.median, r.min, r.max);
}

fn queue_name(tag: &str) -> String {
    format!("drover-bench-{tag}-{}-{}", std::process::id(), chrono::Utc::now().timestamp_micros())
}

fn tasks(n: usize) -> Vec<Vec<u8>> {
    (0..n).map(|i| format!("task-{i}").into_bytes()).collect()
}

async fn wait_ready(client: &drover_client::Client) -> anyhow::Result<()> {
    for _ in 0..200 {
        if let Ok(ws) = client.list_workers("").await
            && ws.iter().any(|w| w.status.phase == "Ready")
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("the worker did not register")
}

// === raw brokers ===

async fn raw_run(broker: &str, url: &str, n: usize, consumers: usize) -> anyhow::Result<f64> {
    let q = queue_name("raw");
    // Publish through Drover's own queue layer (confirmed, persistent), outside the timing.
    let publisher = drover_queue::connect(url, &q).await?;
    for chunk in tasks(n).chunks(1000) {
        publisher.publish(chunk).await?;
    }
    publisher.close().await;
    let rate = if broker == "rabbitmq" {
        raw_amqp(url, &q, n, consumers).await?
    } else {
        raw_redis(url, &q, n, consumers).await?
    };
    if broker == "rabbitmq" {
        let conn = Connection::connect(url, ConnectionProperties::default()).await?;
        let ch = conn.create_channel().await?;
        ch.queue_delete(q.as_str().into(), QueueDeleteOptions::default()).await?;
    } else {
        let mut c = redis::Client::open(url)?.get_multiplexed_async_connection().await?;
        let _: () = redis::cmd("DEL").arg(&q).query_async(&mut c).await?;
    }
    Ok(rate)
}

async fn raw_amqp(url: &str, q: &str, n: usize, consumers: usize) -> anyhow::Result<f64> {
    let per = n / consumers;
    let mut handles = Vec::new();
    let start = Instant::now();
    for i in 0..consumers {
        let url = url.to_string();
        let q = q.to_string();
        let want = if i + 1 == consumers { n - per * (consumers - 1) } else { per };
        handles.push(tokio::spawn(async move {
            let conn = Connection::connect(&url, ConnectionProperties::default()).await?;
            let ch = conn.create_channel().await?;
            ch.basic_qos(1, BasicQosOptions::default()).await?;
            let mut consumer = ch
                .basic_consume(
                    q.as_str().into(),
                    format!("raw-{i}").as_str().into(),
                    BasicConsumeOptions::default(),
                    FieldTable::default(),
                )
                .await?;
            let mut got = 0;
            while got < want {
                let Some(delivery) = consumer.next().await else { break };
                delivery?.ack(BasicAckOptions::default()).await?;
                got += 1;
            }
            conn.close(200, "done".into()).await?;
            anyhow::Ok(())
        }));
    }
    for h in handles {
        h.await??;
    }
    Ok(n as f64 / start.elapsed().as_secs_f64())
}

async fn raw_redis(url: &str, q: &str, n: usize, consumers: usize) -> anyhow::Result<f64> {
    let client = redis::Client::open(url)?;
    let start = Instant::now();
    let mut handles = Vec::new();
    for i in 0..consumers {
        let client = client.clone();
        let q = q.to_string();
        handles.push(tokio::spawn(async move {
            let mut c = client.get_multiplexed_async_connection().await?;
            let processing = format!("{q}:raw-processing:{i}");
            let mut done = 0usize;
            loop {
                let item: Option<Vec<u8>> = redis::cmd("LMOVE")
                    .arg(&q)
                    .arg(&processing)
                    .arg("LEFT")
                    .arg("RIGHT")
                    .query_async(&mut c)
                    .await?;
                let Some(item) = item else { break };
                let _: i64 = redis::cmd("LREM").arg(&processing).arg(1).arg(item).query_async(&mut c).await?;
                done += 1;
            }
            anyhow::Ok(done)
        }));
    }
    let mut total = 0;
    for h in handles {
        total += h.await??;
    }
    if total != n {
        bail!("raw Redis drained {total} of {n}");
    }
    Ok(n as f64 / start.elapsed().as_secs_f64())
}

// === Drover ===

async fn drover_run(
    drover: &std::path::Path,
    server: &str,
    url: &str,
    handler: &str,
    n: usize,
    parallelism: usize,
) -> anyhow::Result<f64> {
    let client = drover_client::Client::new(server);
    let q = queue_name(&handler.to_lowercase());
    let publisher = drover_queue::connect(url, &q).await?;
    for chunk in tasks(n).chunks(1000) {
        publisher.publish(chunk).await?;
    }
    publisher.close().await;
    let name =
        format!("bench-{}-{}", handler.to_lowercase(), chrono::Utc::now().timestamp_micros() % 1_000_000_000);
    let command: Vec<&str> = match handler {
        "Stream" => vec!["sh", "-c", "while read -r t; do echo ok; done"],
        _ => vec!["true"],
    };
    let job = serde_json::json!({
        "apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name},
        "spec": {
            "parallelism": parallelism, "backoffLimit": 0,
            "queue": {"url": url, "name": q, "handler": handler},
            "template": {"spec": {"containers": [{"name": "c", "image": "none", "command": command}], "restartPolicy": "Never"}}
        }
    });
    let _ = drover;
    let mut watch = Box::pin(client.watch::<drover_api::Job>("jobs", "", Some(&name)).await?);
    let before = ledger_batches(server).await;
    let start = Instant::now();
    client.create_job(&job).await?;
    let done = loop {
        let Some(ev) = watch.next().await else { bail!("the watch ended") };
        let job = ev?.object;
        if job.condition_true("Complete").is_some() {
            break job;
        }
        if job.condition_true("Failed").is_some() {
            bail!("Job {name} failed: {:?}", job.status);
        }
    };
    let secs = start.elapsed().as_secs_f64();
    if let (Some(b0), Some(b1)) = (before, ledger_batches(server).await) {
        eprintln!(
            "  {handler}: {:.0} tasks/s, {} ledger batches ({:.1} tasks each)",
            n as f64 / secs,
            b1 - b0,
            n as f64 / (b1 - b0).max(1.0)
        );
    }
    let succeeded = done.status.tasks.map(|t| t.succeeded).unwrap_or(0);
    if succeeded != n as i64 {
        bail!("Job {name}: {succeeded} tasks succeeded, expected {n}");
    }
    client.delete_job(&name, true).await.context("deleting the Job")?;
    Ok(n as f64 / secs)
}

/// The coordinator's `drover_task_ledger_batches_total`, if it can be read.
async fn ledger_batches(server: &str) -> Option<f64> {
    let text = reqwest::get(format!("{server}/metrics")).await.ok()?.text().await.ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("drover_task_ledger_batches_total "))
        .and_then(|v| v.trim().parse().ok())
}
