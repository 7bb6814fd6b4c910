//! `AmqpQueue` against a real RabbitMQ (`AMQP_ADDR`, default `amqp://guest:guest@127.0.0.1:5672/%2f`).
//!
//! Every test uses its own queue `drover-test-<uuid>` and deletes it at the end.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use drover_queue::amqp::AmqpQueue;
use drover_queue::{Queue, QueueError, Task};
use lapin::options::{BasicPublishOptions, QueueDeclareOptions, QueueDeleteOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Connection, ConnectionProperties};
use tokio::time::Instant;

const LEASE: Duration = Duration::from_secs(60);
const WAIT: Duration = Duration::from_secs(5);

fn addr() -> String {
    std::env::var("AMQP_ADDR").unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".to_string())
}

fn unique_name() -> String {
    format!("drover-test-{}", uuid::Uuid::new_v4())
}

async fn raw_connection() -> Connection {
    Connection::connect(&addr(), ConnectionProperties::default()).await.unwrap()
}

/// Deletes the test queue and its `.dead` companion, whatever state they are in.
async fn delete_queues(name: &str) {
    let conn = raw_connection().await;
    for queue in [name.to_string(), format!("{name}.dead")] {
        let channel = conn.create_channel().await.unwrap();
        let _ = channel.queue_delete(queue.as_str().into(), QueueDeleteOptions::default()).await;
    }
    let _ = conn.close(200, "OK".into()).await;
}

/// Deletes the test queues if the test panics before its own cleanup.
struct Cleanup(String);

impl Drop for Cleanup {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let name = self.0.clone();
            let _ = std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
                runtime.block_on(delete_queues(&name));
            })
            .join();
        }
    }
}

async fn take(queue: &AmqpQueue) -> Task {
    queue.take(LEASE, WAIT).await.unwrap().expect("a task within the wait")
}

fn bodies<S: AsRef<str>>(items: &[S]) -> Vec<Vec<u8>> {
    items.iter().map(|s| s.as_ref().as_bytes().to_vec()).collect()
}

fn text(task: &Task) -> String {
    String::from_utf8(task.body.clone()).unwrap()
}

#[tokio::test]
async fn s86_eight_items_are_each_taken_and_acked_once() {
    let name = unique_name();
    let _cleanup = Cleanup(name.clone());
    let queue = AmqpQueue::connect(&addr(), &name).await.unwrap();
    let items = ["apple", "banana", "cherry", "date", "fig", "grape", "lemon", "melon"];
    queue.publish(&bodies(&items)).await.unwrap();

    let mut seen = Vec::new();
    let mut ids = HashSet::new();
    for _ in 0..items.len() {
        let task = take(&queue).await;
        assert_eq!(task.redeliveries, 0);
        assert!(ids.insert(task.id.clone()), "duplicate id {}", task.id);
        seen.push(text(&task));
        queue.ack(&task).await.unwrap();
    }
    assert_eq!(seen, items, "a classic queue hands tasks out in publish order");
    assert!(queue.take(LEASE, Duration::from_millis(200)).await.unwrap().is_none());
    let stats = queue.stats().await.unwrap();
    assert_eq!(stats.ready, 0);
    assert_eq!(stats.in_flight, None);
    assert_eq!(stats.dead_lettered, 0);
    assert_eq!(stats.consumers, Some(1));
    delete_queues(&name).await;
}

#[tokio::test]
async fn take_on_an_empty_queue_returns_none_after_the_wait() {
    let name = unique_name();
    let _cleanup = Cleanup(name.clone());
    let queue = AmqpQueue::connect(&addr(), &name).await.unwrap();
    for wait in [Duration::ZERO, Duration::from_millis(300), Duration::from_millis(800)] {
        let started = Instant::now();
        assert!(queue.take(LEASE, wait).await.unwrap().is_none());
        let elapsed = started.elapsed();
        assert!(elapsed >= wait, "returned after {elapsed:?}, before the wait {wait:?}");
        assert!(elapsed < wait + Duration::from_secs(1), "took {elapsed:?} for a wait of {wait:?}");
    }
    delete_queues(&name).await;
}

#[tokio::test]
async fn a_huge_wait_does_not_overflow() {
    let name = unique_name();
    let _cleanup = Cleanup(name.clone());
    let queue = AmqpQueue::connect(&addr(), &name).await.unwrap().with_reconnect_timeout(Duration::MAX);
    queue.publish(&bodies(&["patient"])).await.unwrap();
    let task = queue.take(Duration::MAX, Duration::MAX).await.unwrap().expect("the task");
    queue.extend(&task, Duration::MAX).await.unwrap();
    queue.ack(&task).await.unwrap();
    assert_eq!(queue.stats().await.unwrap().ready, 0);
    delete_queues(&name).await;
}

#[tokio::test]
async fn a_waiting_take_wakes_up_when_a_task_is_published() {
    let name = unique_name();
    let _cleanup = Cleanup(name.clone());
    let queue = Arc::new(AmqpQueue::connect(&addr(), &name).await.unwrap());
    let taker = tokio::spawn({
        let queue = queue.clone();
        async move { queue.take(LEASE, Duration::from_secs(10)).await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let publisher = AmqpQueue::connect(&addr(), &name).await.unwrap();
    let published = Instant::now();
    publisher.publish(&bodies(&["late"])).await.unwrap();
    let task = taker.await.unwrap().unwrap().expect("the published task");
    assert!(published.elapsed() < Duration::from_secs(2));
    assert_eq!(text(&task), "late");
    queue.ack(&task).await.unwrap();
    delete_queues(&name).await;
}

#[tokio::test]
async fn an_unacked_task_is_redelivered_when_its_consumer_goes_away() {
    let name = unique_name();
    let _cleanup = Cleanup(name.clone());
    let first = AmqpQueue::connect(&addr(), &name).await.unwrap();
    first.publish(&bodies(&["only"])).await.unwrap();
    let task = take(&first).await;
    assert_eq!(task.redeliveries, 0);
    let second = AmqpQueue::connect(&addr(), &name).await.unwrap();
    // While the first consumer lives, nobody else gets the task.
    assert!(second.take(LEASE, Duration::from_millis(300)).await.unwrap().is_none());

    drop(first);
    let again = take(&second).await;
    assert_eq!(again.id, task.id);
    assert_eq!(again.body, task.body);
    assert_eq!(again.redeliveries, 1);
    assert_ne!(again.receipt, task.receipt);
    second.ack(&again).await.unwrap();
    assert_eq!(second.stats().await.unwrap().ready, 0);
    delete_queues(&name).await;
}

#[tokio::test]
async fn a_requeued_task_is_taken_again() {
    let name = unique_name();
    let _cleanup = Cleanup(name.clone());
    let queue = AmqpQueue::connect(&addr(), &name).await.unwrap();
    queue.publish(&bodies(&["one", "two"])).await.unwrap();
    let task = take(&queue).await;
    assert_eq!(text(&task), "one");
    queue.requeue(&task).await.unwrap();
    // Settled: the old receipt is gone.
    assert!(matches!(queue.ack(&task).await, Err(QueueError::LeaseLost(_))));

    let again = take(&queue).await;
    assert_eq!(again.id, task.id, "requeue puts the task back at the head");
    assert_eq!(again.redeliveries, 1);
    queue.ack(&again).await.unwrap();
    let two = take(&queue).await;
    assert_eq!((text(&two).as_str(), two.redeliveries), ("two", 0));
    queue.ack(&two).await.unwrap();
    // Acking twice is refused locally; it must not close the channel.
    assert!(matches!(queue.ack(&two).await, Err(QueueError::LeaseLost(_))));
    queue.publish(&bodies(&["three"])).await.unwrap();
    let three = take(&queue).await;
    queue.ack(&three).await.unwrap();
    delete_queues(&name).await;
}

#[tokio::test]
async fn settling_after_the_connection_closed_is_lease_lost() {
    let name = unique_name();
    let _cleanup = Cleanup(name.clone());
    let queue = AmqpQueue::connect(&addr(), &name).await.unwrap();
    queue.publish(&bodies(&["a", "b"])).await.unwrap();
    let a = take(&queue).await;
    queue.extend(&a, LEASE).await.unwrap();
    queue.close_connection_for_test().await;

    assert!(matches!(queue.extend(&a, LEASE).await, Err(QueueError::LeaseLost(id)) if id == a.id));
    assert!(matches!(queue.ack(&a).await, Err(QueueError::LeaseLost(_))));
    assert!(matches!(queue.requeue(&a).await, Err(QueueError::LeaseLost(_))));

    // The broker requeued it; the next take reconnects and gets it again.
    let again = take(&queue).await;
    assert_eq!(again.id, a.id);
    assert_eq!(again.redeliveries, 1);
    queue.ack(&again).await.unwrap();
    let b = take(&queue).await;
    queue.ack(&b).await.unwrap();
    assert_eq!(queue.stats().await.unwrap().ready, 0);
    delete_queues(&name).await;
}

#[tokio::test]
async fn publish_returns_once_the_broker_confirmed_every_task() {
    let name = unique_name();
    let _cleanup = Cleanup(name.clone());
    let queue = AmqpQueue::connect(&addr(), &name).await.unwrap();
    let items: Vec<String> = (0..1000).map(|i| format!("item-{i}")).collect();
    let started = Instant::now();
    queue.publish(&bodies(&items)).await.unwrap();
    let elapsed = started.elapsed();
    let stats = queue.stats().await.unwrap();
    assert_eq!(stats.ready, 1000);
    assert_eq!(stats.consumers, Some(0));
    println!("published 1000 persistent tasks with confirms in {elapsed:?}");
    assert_eq!(queue.purge().await.unwrap(), 1000);
    assert_eq!(queue.stats().await.unwrap().ready, 0);
    queue.publish(&[]).await.unwrap();
    delete_queues(&name).await;
}

#[tokio::test]
async fn duplicate_bodies_are_distinct_tasks() {
    let name = unique_name();
    let _cleanup = Cleanup(name.clone());
    let queue = AmqpQueue::connect(&addr(), &name).await.unwrap();
    queue.publish(&bodies(&["same", "same"])).await.unwrap();
    let first = take(&queue).await;
    queue.ack(&first).await.unwrap();
    let second = take(&queue).await;
    assert_eq!(first.body, second.body);
    assert_ne!(first.id, second.id);
    // `publish` names each task with a fresh UUID, never with the body's hash.
    for task in [&first, &second] {
        assert!(uuid::Uuid::parse_str(&task.id).is_ok(), "{}", task.id);
    }
    queue.ack(&second).await.unwrap();
    delete_queues(&name).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_consumers_drain_2000_tasks_exactly_once() {
    drain_with_four_consumers(1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_consumers_with_prefetch_10_drain_2000_tasks_exactly_once() {
    drain_with_four_consumers(10).await;
}

/// Publishes 2,000 tasks, drains them with 4 instances and checks each was taken and acked once.
async fn drain_with_four_consumers(prefetch: u16) {
    const N: usize = 2000;
    let name = unique_name();
    let _cleanup = Cleanup(name.clone());
    let publisher = AmqpQueue::connect(&addr(), &name).await.unwrap();
    let items: Vec<String> = (0..N).map(|i| format!("item-{i}")).collect();
    publisher.publish(&bodies(&items)).await.unwrap();

    let mut workers = Vec::new();
    for _ in 0..4 {
        workers.push(AmqpQueue::connect(&addr(), &name).await.unwrap().with_prefetch(prefetch));
    }
    let started = Instant::now();
    let mut handles = Vec::new();
    for worker in workers {
        handles.push(tokio::spawn(async move {
            let mut got = Vec::new();
            let mut last = Instant::now();
            while let Some(task) = worker.take(LEASE, Duration::from_secs(1)).await.unwrap() {
                got.push((task.id.clone(), text(&task)));
                worker.ack(&task).await.unwrap();
                last = Instant::now();
            }
            (got, last)
        }));
    }
    let mut all = Vec::new();
    let mut finished = started;
    let mut per_worker = Vec::new();
    for handle in handles {
        let (got, last) = handle.await.unwrap();
        per_worker.push(got.len());
        finished = finished.max(last);
        all.extend(got);
    }
    let elapsed = finished - started;
    println!(
        "drained {N} tasks with 4 consumers (prefetch {prefetch}) in {elapsed:?}: {:.0} tasks/s; per consumer {per_worker:?}",
        N as f64 / elapsed.as_secs_f64()
    );
    assert_eq!(all.len(), N, "every task taken once");
    let ids: HashSet<_> = all.iter().map(|(id, _)| id.clone()).collect();
    assert_eq!(ids.len(), N, "no duplicate ids");
    let seen: HashSet<_> = all.into_iter().map(|(_, body)| body).collect();
    assert_eq!(seen, items.into_iter().collect::<HashSet<_>>(), "no losses, no duplicates");
    assert_eq!(publisher.stats().await.unwrap().ready, 0);
    delete_queues(&name).await;
}

#[tokio::test]
async fn publish_take_and_stats_reconnect_after_the_connection_is_lost() {
    let name = unique_name();
    let _cleanup = Cleanup(name.clone());
    let queue = AmqpQueue::connect(&addr(), &name).await.unwrap();

    queue.close_connection_for_test().await;
    queue.publish(&bodies(&["after-publish-reconnect"])).await.unwrap();

    queue.close_connection_for_test().await;
    let task = take(&queue).await;
    assert_eq!(text(&task), "after-publish-reconnect");
    assert_eq!(task.redeliveries, 0);
    queue.ack(&task).await.unwrap();

    queue.close_connection_for_test().await;
    assert_eq!(queue.stats().await.unwrap().ready, 0);

    // A take that was waiting when the connection went away keeps waiting on a new one.
    let queue = Arc::new(queue);
    let taker = tokio::spawn({
        let queue = queue.clone();
        async move { queue.take(LEASE, Duration::from_secs(10)).await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    queue.close_connection_for_test().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    AmqpQueue::connect(&addr(), &name).await.unwrap().publish(&bodies(&["during-wait"])).await.unwrap();
    let task = taker.await.unwrap().unwrap().expect("the task published after the reconnect");
    assert_eq!(text(&task), "during-wait");
    queue.ack(&task).await.unwrap();
    delete_queues(&name).await;
}

/// The broker becomes unreachable (a TCP proxy in between is killed, which breaks the
/// connection without an AMQP close), then comes back.
#[tokio::test]
async fn take_and_publish_back_off_while_the_broker_is_unreachable_and_recover() {
    let name = unique_name();
    let _cleanup = Cleanup(name.clone());
    let upstream = host_port(&addr());
    let mut proxy = Proxy::start(0, upstream.clone()).await;
    let url = addr().replacen(&upstream, &format!("127.0.0.1:{}", proxy.port), 1);
    let queue = AmqpQueue::connect(&url, &name).await.unwrap().with_reconnect_timeout(Duration::from_secs(1));
    queue.publish(&bodies(&["a"])).await.unwrap();
    let a = take(&queue).await;

    proxy.kill();
    let lost = Instant::now();
    while queue.extend(&a, LEASE).await.is_ok() {
        assert!(lost.elapsed() < Duration::from_secs(5), "the broken connection went unnoticed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(matches!(queue.ack(&a).await, Err(QueueError::LeaseLost(_))));

    let wait = Duration::from_millis(1500);
    let started = Instant::now();
    let err = queue.take(LEASE, wait).await.unwrap_err();
    let elapsed = started.elapsed();
    assert!(matches!(err, QueueError::Unavailable { .. }), "{err}");
    assert!(elapsed < wait + Duration::from_secs(1), "gave up after {elapsed:?} for a wait of {wait:?}");
    let started = Instant::now();
    let err = queue.publish(&bodies(&["b"])).await.unwrap_err();
    assert!(matches!(err, QueueError::Unavailable { .. }), "{err}");
    assert!(started.elapsed() < Duration::from_secs(3), "publish gave up after {:?}", started.elapsed());
    assert!(queue.stats().await.is_err());

    let _proxy = Proxy::start(proxy.port, upstream).await;
    let again =
        queue.take(LEASE, Duration::from_secs(15)).await.unwrap().expect("the task, after reconnecting");
    assert_eq!((again.id.as_str(), again.redeliveries), (a.id.as_str(), 1));
    queue.ack(&again).await.unwrap();
    assert_eq!(queue.stats().await.unwrap().ready, 0);
    delete_queues(&name).await;
}

/// `host:port` of an AMQP URL.
fn host_port(url: &str) -> String {
    let rest = &url[url.find("://").unwrap() + 3..];
    let authority = &rest[..rest.find('/').unwrap_or(rest.len())];
    let host_port = &authority[authority.rfind('@').map_or(0, |at| at + 1)..];
    if host_port.contains(':') { host_port.to_string() } else { format!("{host_port}:5672") }
}

/// A TCP proxy to the broker; `kill` drops the listener and every proxied connection.
struct Proxy {
    port: u16,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    async fn start(port: u16, upstream: String) -> Proxy {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let task = tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            while let Ok((mut client, _)) = listener.accept().await {
                let upstream = upstream.clone();
                connections.spawn(async move {
                    if let Ok(mut server) = tokio::net::TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
            }
        });
        Proxy { port, task }
    }

    fn kill(&mut self) {
        self.task.abort();
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A connection closed by the broker (`rabbitmqctl close_connection`), not by us. Needs
/// `rabbitmqctl` and the rights to run it; skipped with a note otherwise.
#[tokio::test]
async fn take_reconnects_after_the_broker_closes_the_connection() {
    let name = unique_name();
    let _cleanup = Cleanup(name.clone());
    let queue = AmqpQueue::connect(&addr(), &name).await.unwrap();
    queue.publish(&bodies(&["x", "y"])).await.unwrap();
    let x = take(&queue).await;

    let Some(pid) = connection_pid(&format!("drover queue {name}")).await else {
        println!("skipped: rabbitmqctl is not available here");
        delete_queues(&name).await;
        return;
    };
    let closed = tokio::process::Command::new("rabbitmqctl")
        .args(["close_connection", &pid, "closed by the drover-queue tests"])
        .output()
        .await
        .unwrap();
    assert!(closed.status.success(), "{}", String::from_utf8_lossy(&closed.stderr));
    tokio::time::sleep(Duration::from_millis(500)).await;

    assert!(matches!(queue.ack(&x).await, Err(QueueError::LeaseLost(_))));
    let again = take(&queue).await;
    assert_eq!((again.id.as_str(), again.redeliveries), (x.id.as_str(), 1));
    queue.ack(&again).await.unwrap();
    let y = take(&queue).await;
    queue.ack(&y).await.unwrap();
    assert_eq!(queue.stats().await.unwrap().ready, 0);
    delete_queues(&name).await;
}

/// The broker's pid of the connection called `connection_name`, through `rabbitmqctl`.
async fn connection_pid(connection_name: &str) -> Option<String> {
    let output = tokio::process::Command::new("rabbitmqctl")
        .args(["list_connections", "--silent", "pid", "client_properties"])
        .output()
        .await
        .ok()?;
    if !output.status.success() {
        return None;
    }
    let listing = String::from_utf8_lossy(&output.stdout);
    let needle = format!("\"{connection_name}\"");
    let line = listing.lines().find(|line| line.contains(&needle))?;
    line.split_whitespace().next().map(str::to_string)
}

#[tokio::test]
async fn prefetch_caps_unacked_deliveries() {
    let name = unique_name();
    let _cleanup = Cleanup(name.clone());
    let queue = AmqpQueue::connect(&addr(), &name).await.unwrap().with_prefetch(10);
    assert_eq!(queue.prefetch(), 10);
    let items: Vec<String> = (0..15).map(|i| format!("item-{i}")).collect();
    queue.publish(&bodies(&items)).await.unwrap();

    let mut held = Vec::new();
    for _ in 0..10 {
        held.push(take(&queue).await);
    }
    assert!(queue.take(LEASE, Duration::from_millis(300)).await.unwrap().is_none(), "prefetch is 10");
    assert_eq!(queue.stats().await.unwrap().ready, 5);

    // Default prefetch 1: one unacked task at a time.
    let other = AmqpQueue::connect(&addr(), &name).await.unwrap();
    assert_eq!(other.prefetch(), 1);
    let one = take(&other).await;
    assert!(other.take(LEASE, Duration::from_millis(300)).await.unwrap().is_none(), "prefetch is 1");
    assert_eq!(other.stats().await.unwrap().ready, 4);
    other.ack(&one).await.unwrap();
    // Its consumer now holds the next task in its prefetch window; closing gives it back.
    other.close().await.unwrap();

    for task in &held {
        queue.ack(task).await.unwrap();
    }
    for _ in 0..4 {
        let task = take(&queue).await;
        queue.ack(&task).await.unwrap();
    }
    assert_eq!(queue.stats().await.unwrap().ready, 0);
    delete_queues(&name).await;
}

/// The limit of unacked deliveries moves while the consumer runs, within the prefetch given at
/// connection: down to hold fewer, up to hold more.
#[tokio::test]
async fn the_unacked_limit_moves_within_the_prefetch_range() {
    let name = unique_name();
    let _cleanup = Cleanup(name.clone());
    let queue = AmqpQueue::connect(&addr(), &name).await.unwrap().with_prefetch_range(2, 6);
    assert_eq!((queue.prefetch(), queue.max_unacked()), (6, Some(2)));
    let items: Vec<String> = (0..10).map(|i| format!("item-{i}")).collect();
    queue.publish(&bodies(&items)).await.unwrap();
    let short = Duration::from_millis(300);

    let mut held = vec![take(&queue).await, take(&queue).await];
    assert!(queue.take(LEASE, short).await.unwrap().is_none(), "the limit starts at 2");
    // Raised on the running consumer: four more arrive, and no more than that.
    queue.set_max_unacked(6).await.unwrap();
    assert_eq!(queue.max_unacked(), Some(6));
    for _ in 0..4 {
        held.push(take(&queue).await);
    }
    assert!(queue.take(LEASE, short).await.unwrap().is_none(), "the limit is 6");
    // Beyond the prefetch it stays at the prefetch.
    queue.set_max_unacked(100).await.unwrap();
    assert_eq!(queue.max_unacked(), Some(6));
    // Lowered to 1: after acking five of the six held, still nothing more arrives (one is held).
    queue.set_max_unacked(1).await.unwrap();
    for task in held.drain(..5) {
        queue.ack(&task).await.unwrap();
    }
    assert!(queue.take(LEASE, short).await.unwrap().is_none(), "the limit is 1, one is held");
    queue.ack(&held.remove(0)).await.unwrap();
    for _ in 0..4 {
        let task = take(&queue).await;
        queue.ack(&task).await.unwrap();
    }
    assert_eq!(queue.stats().await.unwrap().ready, 0);
    delete_queues(&name).await;
}

/// A quiesce stops the consumer and keeps what the broker had pushed to it (not ready any more,
/// not yet taken): nothing is left in transit, takes return the kept deliveries first, then
/// the consumer runs again.
#[tokio::test]
async fn a_quiesce_keeps_what_was_pushed_and_takes_it_next() {
    let name = unique_name();
    let _cleanup = Cleanup(name.clone());
    let queue = AmqpQueue::connect(&addr(), &name).await.unwrap().with_prefetch(3);
    queue.publish(&bodies(&["a", "b", "c"])).await.unwrap();
    let first = take(&queue).await;
    // The other two were pushed with the first (prefetch 3): none is ready, none taken.
    assert_eq!(queue.quiesce().await.unwrap(), 2);
    assert_eq!(queue.stats().await.unwrap().ready, 0);
    let mut bodies_seen = vec![String::from_utf8(first.body.clone()).unwrap()];
    let (second, third) = (take(&queue).await, take(&queue).await);
    for task in [&first, &second, &third] {
        if task.receipt != first.receipt {
            bodies_seen.push(String::from_utf8(task.body.clone()).unwrap());
        }
        queue.ack(task).await.unwrap();
    }
    bodies_seen.sort();
    assert_eq!(bodies_seen, ["a", "b", "c"]);
    assert_eq!(queue.quiesce().await.unwrap(), 0, "nothing more was pushed");
    // The consumer runs again for the next task.
    queue.publish(&bodies(&["d"])).await.unwrap();
    let d = take(&queue).await;
    assert_eq!(d.body, b"d");
    queue.ack(&d).await.unwrap();
    assert_eq!(queue.stats().await.unwrap().ready, 0);
    delete_queues(&name).await;
}

#[tokio::test]
async fn existing_queue_with_other_arguments_is_used_as_it_is() {
    let name = unique_name();
    let _cleanup = Cleanup(name.clone());
    // A quorum queue with a dead-letter queue, as a user would declare it.
    let conn = raw_connection().await;
    let channel = conn.create_channel().await.unwrap();
    let mut arguments = FieldTable::default();
    arguments.insert("x-queue-type".into(), AMQPValue::LongString("quorum".into()));
    channel.queue_declare(name.as_str().into(), QueueDeclareOptions::durable(), arguments).await.unwrap();
    let dead = format!("{name}.dead");
    channel
        .queue_declare(dead.as_str().into(), QueueDeclareOptions::durable(), FieldTable::default())
        .await
        .unwrap();
    for body in [b"dead-1", b"dead-2"] {
        channel
            .basic_publish(
                "".into(),
                dead.as_str().into(),
                BasicPublishOptions::default(),
                body,
                BasicProperties::default(),
            )
            .await
            .unwrap();
    }

    let queue = AmqpQueue::connect(&addr(), &name).await.unwrap();
    queue.publish(&bodies(&["q"])).await.unwrap();
    let task = take(&queue).await;
    assert_eq!(task.redeliveries, 0);
    queue.requeue(&task).await.unwrap();
    let again = take(&queue).await;
    assert_eq!((again.id.as_str(), again.redeliveries), (task.id.as_str(), 1));
    queue.ack(&again).await.unwrap();

    let stats = queue.stats().await.unwrap();
    assert_eq!((stats.ready, stats.dead_lettered), (0, 2));
    let _ = conn.close(200, "OK".into()).await;
    delete_queues(&name).await;
}

#[tokio::test]
async fn tasks_published_by_other_tools_are_named_by_message_id_or_content_hash() {
    let name = unique_name();
    let _cleanup = Cleanup(name.clone());
    let queue = AmqpQueue::connect(&addr(), &name).await.unwrap();
    // Like the Kubernetes docs' `amqp-publish`: no message id, not persistent. Twice the same
    // body, then one with the publisher's own message id.
    let conn = raw_connection().await;
    let channel = conn.create_channel().await.unwrap();
    let with_id = BasicProperties::default().with_message_id("order-17".into());
    for (body, properties) in [
        (b"raw".as_slice(), BasicProperties::default()),
        (b"raw".as_slice(), BasicProperties::default()),
        (b"own".as_slice(), with_id),
    ] {
        channel
            .basic_publish("".into(), name.as_str().into(), BasicPublishOptions::default(), body, properties)
            .await
            .unwrap()
            .await
            .unwrap();
    }
    let raw_id = "sha256:d7439bee24773bcbfa2d0a97947ee36227b10d1022b1a55847e928965bb6bfde";
    let first = take(&queue).await;
    assert_eq!((text(&first).as_str(), first.id.as_str()), ("raw", raw_id));
    assert_ne!(first.id, first.receipt);
    queue.ack(&first).await.unwrap();
    // Equal bodies without a message id share the id (one task for the accounting).
    let second = take(&queue).await;
    assert_eq!((text(&second).as_str(), second.id.as_str()), ("raw", raw_id));
    assert_ne!(second.receipt, first.receipt);

    // A redelivery after the connection closed keeps the hash id.
    queue.close_connection_for_test().await;
    assert!(matches!(queue.ack(&second).await, Err(QueueError::LeaseLost(_))));
    let again = take(&queue).await;
    assert_eq!((again.id.as_str(), again.redeliveries), (raw_id, 1));
    queue.ack(&again).await.unwrap();

    let own = take(&queue).await;
    assert_eq!((text(&own).as_str(), own.id.as_str()), ("own", "order-17"));
    queue.requeue(&own).await.unwrap();
    let own_again = take(&queue).await;
    assert_eq!((own_again.id.as_str(), own_again.redeliveries), ("order-17", 1));
    queue.ack(&own_again).await.unwrap();
    assert_eq!(queue.stats().await.unwrap().ready, 0);
    let _ = conn.close(200, "OK".into()).await;
    delete_queues(&name).await;
}

#[tokio::test]
async fn publish_to_a_deleted_queue_fails() {
    let name = unique_name();
    let _cleanup = Cleanup(name.clone());
    let queue = AmqpQueue::connect(&addr(), &name).await.unwrap();
    delete_queues(&name).await;
    let err = queue.publish(&bodies(&["lost"])).await.unwrap_err();
    assert!(matches!(err, QueueError::Broker(_)), "{err}");
    assert!(queue.stats().await.is_err(), "the queue is gone");
}

#[tokio::test]
async fn errors_never_show_the_password() {
    let secret = "s3cr3t-Pa55word";
    let url = format!("amqp://guest:{secret}@127.0.0.1:5672/%2f");
    let err = AmqpQueue::connect(&url, &unique_name()).await.unwrap_err();
    let shown = format!("{err} {err:?}");
    assert!(matches!(err, QueueError::Broker(_)), "access refused is not transient: {shown}");
    assert!(shown.contains("ACCESS_REFUSED"), "{shown}");
    assert!(!shown.contains(secret), "{shown}");
    assert!(shown.contains("guest:***@127.0.0.1"), "{shown}");

    let err = AmqpQueue::connect(&format!("amqp://guest:{secret}@127.0.0.1:1/%2f"), "q").await.unwrap_err();
    assert!(matches!(err, QueueError::Unavailable { .. }), "{err}");
    assert!(!format!("{err} {err:?}").contains(secret), "{err:?}");

    let err =
        AmqpQueue::connect(&format!("amqp://guest:{secret}@127.0.0.1:notaport/%2f"), "q").await.unwrap_err();
    assert!(matches!(err, QueueError::InvalidUrl { .. }), "{err}");
    assert!(!format!("{err} {err:?}").contains(secret), "{err:?}");

    let err = AmqpQueue::connect(&addr(), "").await.unwrap_err();
    assert!(matches!(err, QueueError::InvalidUrl { .. }), "{err}");
    let err = AmqpQueue::connect(&addr(), &"x".repeat(256)).await.unwrap_err();
    assert!(matches!(err, QueueError::InvalidUrl { .. }), "{err}");

    let name = unique_name();
    let _cleanup = Cleanup(name.clone());
    let queue = AmqpQueue::connect(&addr(), &name).await.unwrap();
    let shown = format!("{queue:?}");
    assert!(shown.contains(":***@") && !shown.contains("guest:guest"), "{shown}");
    delete_queues(queue.name()).await;
}

/// Takes `n` tasks with batch takes (each returns what has arrived, at least one).
async fn take_batches(queue: &AmqpQueue, n: usize) -> Vec<Task> {
    let mut tasks = Vec::new();
    while tasks.len() < n {
        let (acked, taken) = queue.ack_and_take_many(&[], n - tasks.len(), LEASE, WAIT).await;
        assert!(acked.is_empty());
        let taken = taken.unwrap();
        assert!(!taken.is_empty() && taken.len() <= n - tasks.len(), "{} taken", taken.len());
        tasks.extend(taken);
    }
    tasks
}

/// A multiple ack acks a run of deliveries, and nothing else: not a delivery still held that
/// a plain "up to the last tag" ack would have covered, while one rejected in between stays
/// requeued.
#[tokio::test]
async fn a_multiple_ack_acks_exactly_the_run_of_deliveries_given() {
    let name = unique_name();
    let _cleanup = Cleanup(name.clone());
    let queue = AmqpQueue::connect(&addr(), &name).await.unwrap().with_prefetch(10);
    let items: Vec<String> = (0..8).map(|i| format!("item-{i}")).collect();
    queue.publish(&bodies(&items)).await.unwrap();
    let tasks = take_batches(&queue, 8).await;
    let seen: Vec<String> = tasks.iter().map(text).collect();
    assert_eq!(seen, items, "in publish order");
    // 2 goes back; then 0, 1, 3 (a run once 2 is settled) and 5 are acked, 4, 6 and 7 are not.
    queue.requeue(&tasks[2]).await.unwrap();
    let done = [tasks[0].clone(), tasks[1].clone(), tasks[3].clone(), tasks[5].clone()];
    let (acked, next) = queue.ack_and_take_many(&done, 1, LEASE, WAIT).await;
    assert!(acked.iter().all(Result::is_ok), "{acked:?}");
    // The requeued task comes back (redelivered) to this consumer.
    let next = next.unwrap();
    assert_eq!((next.len(), next[0].id.as_str(), next[0].redeliveries), (1, tasks[2].id.as_str(), 1));
    // Settled: acking them again is refused locally, and does not close the channel.
    let (again, _) = queue.ack_and_take_many(&done[..2], 1, LEASE, Duration::from_millis(100)).await;
    assert!(again.iter().all(|a| matches!(a, Err(QueueError::LeaseLost(_)))), "{again:?}");
    queue.extend(&tasks[4], LEASE).await.unwrap();
    // Whatever was not acked goes back when the connection closes: exactly 2, 4, 6 and 7.
    queue.close().await.unwrap();
    let other = AmqpQueue::connect(&addr(), &name).await.unwrap().with_prefetch(10);
    let back = take_batches(&other, 4).await;
    let mut bodies_back: Vec<String> = back.iter().map(text).collect();
    bodies_back.sort();
    assert_eq!(bodies_back, ["item-2", "item-4", "item-6", "item-7"]);
    assert!(back.iter().all(|t| t.redeliveries == 1));
    let (acked, none) = other.ack_and_take_many(&back, 4, LEASE, Duration::from_millis(300)).await;
    assert!(acked.iter().all(Result::is_ok), "{acked:?}");
    assert!(none.unwrap().is_empty());
    other.close().await.unwrap();
    let checker = AmqpQueue::connect(&addr(), &name).await.unwrap();
    assert_eq!(checker.stats().await.unwrap().ready, 0, "everything acked, nothing twice");
    delete_queues(&name).await;
}

/// A batch take returns what has arrived, up to its limit, each delivery held and settled on
/// its own (a batch partly handed back: the rest is acked).
#[tokio::test]
async fn a_batch_take_returns_deliveries_that_settle_one_by_one() {
    let name = unique_name();
    let _cleanup = Cleanup(name.clone());
    let queue = AmqpQueue::connect(&addr(), &name).await.unwrap().with_prefetch(4);
    let items: Vec<String> = (0..6).map(|i| format!("item-{i}")).collect();
    queue.publish(&bodies(&items)).await.unwrap();
    let tasks = take_batches(&queue, 4).await;
    let receipts: HashSet<&str> = tasks.iter().map(|t| t.receipt.as_str()).collect();
    assert_eq!(receipts.len(), 4);
    // The prefetch (4) bounds what can arrive.
    let (_, more) = queue.ack_and_take_many(&[], 4, LEASE, Duration::from_millis(300)).await;
    assert!(more.unwrap().is_empty(), "the prefetch is 4");
    // Two unstarted ones go back; the other two are acked with the next batch take.
    queue.requeue(&tasks[3]).await.unwrap();
    queue.requeue(&tasks[2]).await.unwrap();
    let (acked, next) = queue.ack_and_take_many(&tasks[..2], 4, LEASE, WAIT).await;
    assert!(acked.iter().all(Result::is_ok), "{acked:?}");
    let mut all = next.unwrap();
    let want = 4;
    while all.len() < want {
        all.extend(queue.ack_and_take_many(&[], want - all.len(), LEASE, WAIT).await.1.unwrap());
    }
    let mut seen: Vec<String> = all.iter().map(text).collect();
    seen.sort();
    assert_eq!(seen, ["item-2", "item-3", "item-4", "item-5"]);
    let (acked, _) = queue.ack_and_take_many(&all, 1, LEASE, Duration::from_millis(100)).await;
    assert!(acked.iter().all(Result::is_ok), "{acked:?}");
    assert_eq!(queue.stats().await.unwrap().ready, 0);
    delete_queues(&name).await;
}

/// The read-only [`drover_queue::Inspector`]: a passive look that creates no queue, and the
/// figures of one that exists (its consumers, its `.dead` companion).
#[tokio::test]
async fn the_inspector_declares_nothing_and_reads_the_figures() {
    let name = unique_name();
    let _cleanup = Cleanup(name.clone());
    let inspector = drover_queue::Inspector::connect(&addr(), Duration::from_secs(2)).await.unwrap();
    assert_eq!(inspector.stats(&name, Duration::from_secs(2)).await.unwrap(), None, "absent");
    // Still absent: the look did not declare it (a passive declare of our own says 404).
    let conn = raw_connection().await;
    let channel = conn.create_channel().await.unwrap();
    let passive = lapin::options::QueueDeclareOptions { passive: true, ..Default::default() };
    let declared =
        channel.queue_declare(name.as_str().into(), passive, lapin::types::FieldTable::default()).await;
    assert!(declared.is_err(), "the inspector created the queue");
    let _ = conn.close(200, "OK".into()).await;

    let queue = AmqpQueue::connect(&addr(), &name).await.unwrap();
    queue.publish(&bodies(&["a", "b", "c"])).await.unwrap();
    let dead = AmqpQueue::connect(&addr(), &format!("{name}.dead")).await.unwrap();
    dead.publish(&bodies(&["x"])).await.unwrap();
    let task = take(&queue).await;
    let stats = inspector.stats(&name, Duration::from_secs(2)).await.unwrap().unwrap();
    assert_eq!(
        stats,
        drover_queue::Stats { ready: 2, in_flight: None, consumers: Some(1), dead_lettered: 1 }
    );
    // The connection is reused across calls.
    assert!(inspector.alive());
    assert_eq!(inspector.stats(&name, Duration::from_secs(2)).await.unwrap().unwrap().ready, 2);
    queue.ack(&task).await.unwrap();
    inspector.close().await;
    queue.close().await.unwrap();
    dead.close().await.unwrap();
    delete_queues(&name).await;
}
