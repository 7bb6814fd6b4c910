//! Backend tests of the Redis queue against a real Redis: `REDIS_URL`, else
//! `redis://127.0.0.1:6379`. Without a reachable Redis the tests print why and pass, except in
//! CI (`CI` set), where they fail.
//!
//! Each test uses its own queue `drover-test-<uuid>` and deletes every key under that name at
//! the end.
//!
//! A task taken once is stored as an envelope, `"\0drover\0" <id> "\0" <body>`; the fixture's
//! `bodies_in` unwraps them to look at lists by body.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use drover_queue::redis_queue::RedisQueue;
use drover_queue::{Queue, QueueError, Stats};
use redis::AsyncCommands;
use redis::aio::MultiplexedConnection;
use tokio::time::{Instant, sleep};

const LONG: Duration = Duration::from_secs(30);
const NO_WAIT: Duration = Duration::ZERO;

/// One test's queue name and a plain Redis connection, for looking behind the queue's back.
struct Fixture {
    url: String,
    name: String,
    plain: MultiplexedConnection,
}

impl Fixture {
    /// `None` (after printing why) when Redis is unreachable outside CI.
    async fn new() -> Option<Fixture> {
        let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
        let plain = match redis::Client::open(url.as_str()) {
            Ok(client) => client.get_multiplexed_async_connection().await,
            Err(err) => Err(err),
        };
        match plain {
            Ok(plain) => Some(Fixture { url, name: format!("drover-test-{}", uuid::Uuid::new_v4()), plain }),
            Err(err) if std::env::var_os("CI").is_none() => {
                eprintln!("skipped: no Redis at {}: {err}", drover_queue::redact_url(&url));
                None
            }
            Err(err) => panic!("no Redis at {}: {err}", drover_queue::redact_url(&url)),
        }
    }

    async fn consumer(&self) -> RedisQueue {
        RedisQueue::connect(&self.url, &self.name).await.unwrap()
    }

    async fn list(&self, key: &str) -> Vec<String> {
        self.plain.clone().lrange(key, 0, -1).await.unwrap()
    }

    /// The raw values of a list.
    async fn raw(&self, key: &str) -> Vec<Vec<u8>> {
        self.plain.clone().lrange(key, 0, -1).await.unwrap()
    }

    /// The bodies in a list: envelopes unwrapped, plain bodies as they are.
    async fn bodies_in(&self, key: &str) -> Vec<String> {
        self.raw(key)
            .await
            .iter()
            .map(|value| text(unwrap(value).map_or(value.as_slice(), |(_, body)| body)).to_string())
            .collect()
    }

    /// The bodies a consumer holds; each must be an envelope.
    async fn processing(&self, queue: &RedisQueue) -> Vec<String> {
        let key = format!("{}:processing:{}", self.name, queue.consumer_id());
        let values = self.raw(&key).await;
        values.iter().map(|value| text(unwrap(value).expect("an envelope").1).to_string()).collect()
    }

    /// Every key of this test's queue.
    async fn keys(&self) -> Vec<String> {
        self.plain.clone().keys(format!("{}*", self.name)).await.unwrap()
    }

    /// The keys left but the id counter, which is never deleted.
    async fn leftover(&self) -> Vec<String> {
        let ids = format!("{}:ids", self.name);
        self.keys().await.into_iter().filter(|key| *key != ids).collect()
    }

    async fn cleanup(self) {
        let keys = self.keys().await;
        if !keys.is_empty() {
            let () = self.plain.clone().del(keys).await.unwrap();
        }
    }
}

fn bodies(items: &[&str]) -> Vec<Vec<u8>> {
    items.iter().map(|item| item.as_bytes().to_vec()).collect()
}

fn text(body: &[u8]) -> &str {
    std::str::from_utf8(body).unwrap()
}

/// An envelope's (id, body), `None` for a plain body.
fn unwrap(value: &[u8]) -> Option<(&str, &[u8])> {
    let rest = value.strip_prefix(b"\0drover\0")?;
    let nul = rest.iter().position(|&byte| byte == 0)?;
    Some((std::str::from_utf8(&rest[..nul]).ok()?, &rest[nul + 1..]))
}

/// Ids are `<ms>-<n>`.
fn assert_id_shape(id: &str) {
    let (ms, n) = id.split_once('-').unwrap_or_else(|| panic!("id {id:?}"));
    assert!(ms.parse::<u64>().is_ok() && n.parse::<u64>().is_ok(), "id {id:?}");
}

fn stats(ready: u64, in_flight: u64, consumers: u64) -> Stats {
    Stats { ready, in_flight: Some(in_flight), consumers: Some(consumers), dead_lettered: 0 }
}

#[tokio::test]
async fn publish_take_ack_round_trip() {
    let Some(fx) = Fixture::new().await else { return };
    let q = fx.consumer().await;
    q.publish(&bodies(&["apple", "banana"])).await.unwrap();
    assert_eq!(q.stats().await.unwrap(), stats(2, 0, 0));

    let apple = q.take(LONG, NO_WAIT).await.unwrap().unwrap();
    assert_eq!(text(&apple.body), "apple");
    assert_eq!(apple.redeliveries, 0);
    assert_id_shape(&apple.id);
    assert!(apple.receipt.starts_with(q.consumer_id()));
    assert_eq!(fx.processing(&q).await, ["apple"]);
    assert_eq!(q.stats().await.unwrap(), stats(1, 1, 1));

    let banana = q.take(LONG, NO_WAIT).await.unwrap().unwrap();
    assert_eq!(text(&banana.body), "banana");
    assert_ne!(apple.id, banana.id);
    assert_ne!(apple.receipt, banana.receipt);

    q.ack(&apple).await.unwrap();
    assert_eq!(q.stats().await.unwrap(), stats(0, 1, 1));
    q.ack(&banana).await.unwrap();
    // The consumer holds nothing, so it holds no lease either, and only the id counter is left.
    assert_eq!(q.stats().await.unwrap(), stats(0, 0, 0));
    assert_eq!(fx.keys().await, [format!("{}:ids", fx.name)]);
    // A second ack of the same delivery is refused.
    assert!(matches!(q.ack(&apple).await, Err(QueueError::LeaseLost(id)) if id == apple.id));
    fx.cleanup().await;
}

#[tokio::test]
async fn publish_of_nothing_and_of_many_bodies() {
    let Some(fx) = Fixture::new().await else { return };
    let q = fx.consumer().await;
    q.publish(&[]).await.unwrap();
    let many: Vec<Vec<u8>> = (0..2_500).map(|i| format!("item-{i}").into_bytes()).collect();
    q.publish(&many).await.unwrap();
    let ready = fx.list(&fx.name).await;
    assert_eq!(ready.len(), 2_500);
    assert_eq!(ready[0], "item-0");
    assert_eq!(ready[2_499], "item-2499");
    fx.cleanup().await;
}

#[tokio::test]
async fn take_on_empty_returns_none_after_wait() {
    let Some(fx) = Fixture::new().await else { return };
    let q = fx.consumer().await;
    let wait = Duration::from_millis(300);
    let started = Instant::now();
    assert!(q.take(LONG, wait).await.unwrap().is_none());
    let took = started.elapsed();
    assert!(took >= wait, "returned after {took:?}");
    assert!(took < wait + Duration::from_secs(1), "returned after {took:?}");

    let started = Instant::now();
    assert!(q.take(LONG, NO_WAIT).await.unwrap().is_none());
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(q.stats().await.unwrap(), stats(0, 0, 0));
    fx.cleanup().await;
}

#[tokio::test]
async fn waiting_take_gets_a_task_published_later() {
    let Some(fx) = Fixture::new().await else { return };
    let q = Arc::new(fx.consumer().await);
    let producer = fx.consumer().await;
    let publisher = tokio::spawn(async move {
        sleep(Duration::from_millis(150)).await;
        producer.publish(&bodies(&["late"])).await.unwrap();
    });
    let started = Instant::now();
    let task = q.take(LONG, Duration::from_secs(5)).await.unwrap().unwrap();
    assert_eq!(text(&task.body), "late");
    assert!(started.elapsed() < Duration::from_secs(2));
    publisher.await.unwrap();
    q.ack(&task).await.unwrap();
    fx.cleanup().await;
}

#[tokio::test]
async fn plain_rpush_is_taken_in_order() {
    let Some(fx) = Fixture::new().await else { return };
    // As in the Kubernetes docs: `redis-cli rpush job2 apple banana cherry`.
    let () = fx.plain.clone().rpush(&fx.name, &["apple", "banana", "cherry"]).await.unwrap();
    let q = fx.consumer().await;
    let mut seen = Vec::new();
    while let Some(task) = q.take(LONG, NO_WAIT).await.unwrap() {
        seen.push(text(&task.body).to_string());
        q.ack(&task).await.unwrap();
    }
    assert_eq!(seen, ["apple", "banana", "cherry"]);
    fx.cleanup().await;
}

#[tokio::test]
async fn dead_consumers_tasks_return_to_the_head_after_the_lease() {
    let Some(fx) = Fixture::new().await else { return };
    let survivor = fx.consumer().await;
    let dead = fx.consumer().await;
    dead.publish(&bodies(&["apple", "banana"])).await.unwrap();
    let lease = Duration::from_millis(200);
    let taking = Instant::now();
    let lost_apple = dead.take(lease, NO_WAIT).await.unwrap().unwrap();
    let lost_banana = dead.take(lease, NO_WAIT).await.unwrap().unwrap();
    assert_eq!(text(&lost_apple.body), "apple");
    assert_eq!(text(&lost_banana.body), "banana");
    // Redis computed the lease's expiry before the takes returned, so it is over by then.
    let expired_by = Instant::now() + lease;
    drop(dead); // Dies without acking.

    // While the lease lasts, nobody else gets the dead consumer's tasks (checked only when this
    // machine was quick enough to look within the lease).
    let stolen = survivor.take(LONG, NO_WAIT).await.unwrap();
    if taking.elapsed() < lease {
        assert_eq!(stolen, None);
    }
    if let Some(task) = stolen {
        survivor.requeue(&task).await.unwrap();
    }
    survivor.publish(&bodies(&["cherry"])).await.unwrap();

    // After it, they come back first, in their original order, ahead of newer tasks.
    tokio::time::sleep_until(expired_by + Duration::from_millis(20)).await;
    let mut seen = Vec::new();
    while let Some(task) = survivor.take(LONG, NO_WAIT).await.unwrap() {
        seen.push(task);
    }
    let seen_bodies: Vec<&str> = seen.iter().map(|task| text(&task.body)).collect();
    assert_eq!(seen_bodies, ["apple", "banana", "cherry"]);
    // Each reaped task keeps the id it had under the dead consumer.
    assert_eq!((seen[0].id.as_str(), seen[1].id.as_str()), (lost_apple.id.as_str(), lost_banana.id.as_str()));
    assert_ne!(seen[2].id, seen[0].id);
    assert_eq!(survivor.stats().await.unwrap(), stats(0, 3, 1));
    for task in &seen {
        survivor.ack(task).await.unwrap();
    }
    assert!(fx.leftover().await.is_empty());
    fx.cleanup().await;
}

#[tokio::test]
async fn a_waiting_take_gets_a_dead_consumers_task_once_the_lease_expires() {
    let Some(fx) = Fixture::new().await else { return };
    let survivor = fx.consumer().await;
    let dead = fx.consumer().await;
    dead.publish(&bodies(&["apple"])).await.unwrap();
    let lost = dead.take(Duration::from_millis(200), NO_WAIT).await.unwrap().unwrap();
    drop(dead);
    let started = Instant::now();
    let apple = survivor.take(LONG, Duration::from_secs(5)).await.unwrap().unwrap();
    assert_eq!(text(&apple.body), "apple");
    assert_eq!(apple.id, lost.id);
    assert!(started.elapsed() < Duration::from_secs(2), "took {:?}", started.elapsed());
    survivor.ack(&apple).await.unwrap();
    fx.cleanup().await;
}

#[tokio::test]
async fn stats_and_reap_return_expired_tasks_without_a_take() {
    let Some(fx) = Fixture::new().await else { return };
    let watcher = fx.consumer().await;
    let dead = fx.consumer().await;
    dead.publish(&bodies(&["apple", "banana"])).await.unwrap();
    let lease = Duration::from_millis(100);
    let taking = Instant::now();
    let held = dead.take(lease, NO_WAIT).await.unwrap().unwrap();
    let expired_by = Instant::now() + lease;
    let during = watcher.stats().await.unwrap();
    if taking.elapsed() < lease {
        assert_eq!(during, stats(1, 1, 1));
    }
    tokio::time::sleep_until(expired_by + Duration::from_millis(20)).await;
    let returned = watcher.reap().await.unwrap();
    assert!(returned == 1 || during == stats(2, 0, 0), "returned {returned}, stats {during:?}");
    assert_eq!(fx.bodies_in(&fx.name).await, ["apple", "banana"]);
    // The reaped task went back as its envelope, with its id; the other is still plain.
    let ready = fx.raw(&fx.name).await;
    assert_eq!(unwrap(&ready[0]).map(|(id, _)| id), Some(held.id.as_str()));
    assert_eq!(ready[1], b"banana");
    assert_eq!(watcher.stats().await.unwrap(), stats(2, 0, 0));
    assert_eq!(watcher.reap().await.unwrap(), 0);
    assert!(matches!(dead.ack(&held).await, Err(QueueError::LeaseLost(_))));
    fx.cleanup().await;
}

#[tokio::test]
async fn extend_keeps_the_task_leased_beyond_the_original_lease() {
    let Some(fx) = Fixture::new().await else { return };
    let holder = fx.consumer().await;
    let other = fx.consumer().await;
    holder.publish(&bodies(&["apple"])).await.unwrap();
    // Renewed every 100 ms, a 500 ms lease survives well past 500 ms.
    let lease = Duration::from_millis(500);
    let task = holder.take(lease, NO_WAIT).await.unwrap().unwrap();
    let started = Instant::now();
    while started.elapsed() < Duration::from_millis(1_500) {
        sleep(Duration::from_millis(100)).await;
        holder.extend(&task, lease).await.unwrap();
        assert!(other.take(LONG, NO_WAIT).await.unwrap().is_none(), "stolen after {:?}", started.elapsed());
    }
    holder.ack(&task).await.unwrap();
    assert_eq!(other.stats().await.unwrap(), stats(0, 0, 0));
    fx.cleanup().await;
}

#[tokio::test]
async fn a_short_lease_never_shortens_a_longer_one() {
    let Some(fx) = Fixture::new().await else { return };
    let holder = fx.consumer().await;
    let other = fx.consumer().await;
    holder.publish(&bodies(&["long", "short"])).await.unwrap();
    let long = holder.take(LONG, NO_WAIT).await.unwrap().unwrap();
    let short = holder.take(Duration::from_millis(50), NO_WAIT).await.unwrap().unwrap();
    holder.extend(&short, Duration::from_millis(50)).await.unwrap();
    sleep(Duration::from_millis(150)).await;
    assert!(other.take(LONG, NO_WAIT).await.unwrap().is_none());
    holder.ack(&long).await.unwrap();
    holder.ack(&short).await.unwrap();
    fx.cleanup().await;
}

#[tokio::test]
async fn ack_after_the_lease_was_reaped_is_lease_lost_and_the_task_runs_once() {
    let Some(fx) = Fixture::new().await else { return };
    let slow = fx.consumer().await;
    let fast = fx.consumer().await;
    slow.publish(&bodies(&["apple"])).await.unwrap();
    let late = slow.take(Duration::from_millis(100), NO_WAIT).await.unwrap().unwrap();
    sleep(Duration::from_millis(200)).await;

    let retry = fast.take(LONG, NO_WAIT).await.unwrap().unwrap();
    assert_eq!(retry.body, late.body);
    // The same task, so the same id; another delivery, so another receipt.
    assert_eq!(retry.id, late.id);
    assert_ne!(retry.receipt, late.receipt);
    let mut acked = 0;
    for (queue, task) in [(&slow, &late), (&fast, &retry)] {
        match queue.ack(task).await {
            Ok(()) => acked += 1,
            Err(QueueError::LeaseLost(id)) => assert_eq!(id, late.id),
            Err(err) => panic!("{err}"),
        }
    }
    assert_eq!(acked, 1);
    assert!(matches!(slow.extend(&late, LONG).await, Err(QueueError::LeaseLost(_))));
    assert!(matches!(slow.requeue(&late).await, Err(QueueError::LeaseLost(_))));
    assert_eq!(fast.stats().await.unwrap(), stats(0, 0, 0));
    fx.cleanup().await;
}

#[tokio::test]
async fn extend_after_expiry_is_lease_lost_and_the_task_is_ready_again() {
    let Some(fx) = Fixture::new().await else { return };
    let q = fx.consumer().await;
    q.publish(&bodies(&["apple"])).await.unwrap();
    let task = q.take(Duration::from_millis(100), NO_WAIT).await.unwrap().unwrap();
    sleep(Duration::from_millis(200)).await;
    assert!(matches!(q.extend(&task, LONG).await, Err(QueueError::LeaseLost(_))));
    assert_eq!(fx.bodies_in(&fx.name).await, ["apple"]);
    fx.cleanup().await;
}

#[tokio::test]
async fn a_reaped_consumer_that_retakes_the_same_body_cannot_ack_the_old_delivery() {
    let Some(fx) = Fixture::new().await else { return };
    let q = fx.consumer().await;
    q.publish(&bodies(&["apple"])).await.unwrap();
    let old = q.take(Duration::from_millis(100), NO_WAIT).await.unwrap().unwrap();
    sleep(Duration::from_millis(200)).await;
    // This take reaps the consumer's own expired lease and gets the same body back.
    let new = q.take(LONG, NO_WAIT).await.unwrap().unwrap();
    assert_eq!(new.body, old.body);
    // Same task and id: only the receipt tells the deliveries apart.
    assert_eq!(new.id, old.id);
    assert_ne!(new.receipt, old.receipt);
    assert!(matches!(q.ack(&old).await, Err(QueueError::LeaseLost(_))));
    assert!(matches!(q.requeue(&old).await, Err(QueueError::LeaseLost(_))));
    assert!(matches!(q.extend(&old, LONG).await, Err(QueueError::LeaseLost(_))));
    q.ack(&new).await.unwrap();
    assert_eq!(q.stats().await.unwrap(), stats(0, 0, 0));
    fx.cleanup().await;
}

#[tokio::test]
async fn duplicate_bodies_are_distinct_tasks() {
    let Some(fx) = Fixture::new().await else { return };
    let one = fx.consumer().await;
    let two = fx.consumer().await;
    one.publish(&bodies(&["apple", "apple", "apple"])).await.unwrap();
    let a = one.take(LONG, NO_WAIT).await.unwrap().unwrap();
    let b = two.take(LONG, NO_WAIT).await.unwrap().unwrap();
    let c = one.take(LONG, NO_WAIT).await.unwrap().unwrap();
    assert!(one.take(LONG, NO_WAIT).await.unwrap().is_none());
    assert_eq!(one.stats().await.unwrap(), stats(0, 3, 2));
    assert_eq!(fx.processing(&one).await, ["apple", "apple"]);
    assert!(a.id != b.id && b.id != c.id && a.id != c.id, "{} {} {}", a.id, b.id, c.id);

    // Acks in any order, each succeeds once; a repeated ack fails even though an equal body is
    // still held by the same consumer.
    one.ack(&c).await.unwrap();
    assert!(matches!(one.ack(&c).await, Err(QueueError::LeaseLost(_))));
    assert_eq!(fx.processing(&one).await, ["apple"]);
    two.ack(&b).await.unwrap();
    assert!(matches!(two.ack(&b).await, Err(QueueError::LeaseLost(_))));
    one.ack(&a).await.unwrap();
    assert_eq!(one.stats().await.unwrap(), stats(0, 0, 0));
    assert!(fx.leftover().await.is_empty());
    fx.cleanup().await;
}

#[tokio::test]
async fn requeue_puts_the_task_back_at_the_head() {
    let Some(fx) = Fixture::new().await else { return };
    let q = fx.consumer().await;
    q.publish(&bodies(&["apple", "banana"])).await.unwrap();
    let apple = q.take(LONG, NO_WAIT).await.unwrap().unwrap();
    q.requeue(&apple).await.unwrap();
    assert_eq!(fx.bodies_in(&fx.name).await, ["apple", "banana"]);
    assert_eq!(q.stats().await.unwrap(), stats(2, 0, 0));
    assert!(matches!(q.requeue(&apple).await, Err(QueueError::LeaseLost(_))));
    assert!(matches!(q.ack(&apple).await, Err(QueueError::LeaseLost(_))));

    let again = q.take(LONG, NO_WAIT).await.unwrap().unwrap();
    assert_eq!(text(&again.body), "apple");
    assert_eq!(again.id, apple.id, "a requeued task keeps its id");
    assert_ne!(again.receipt, apple.receipt);
    // Taken again by ack_and_take's take, it keeps it too.
    let banana = q.take(LONG, NO_WAIT).await.unwrap().unwrap();
    assert_eq!(text(&banana.body), "banana");
    q.requeue(&again).await.unwrap();
    let (acked, third) = q.ack_and_take(std::slice::from_ref(&banana), LONG, NO_WAIT).await;
    assert!(matches!(acked[..], [Ok(())]), "{acked:?}");
    let third = third.unwrap().unwrap();
    assert_eq!((text(&third.body), third.id.as_str()), ("apple", apple.id.as_str()));
    assert!(matches!(q.ack(&again).await, Err(QueueError::LeaseLost(_))));
    q.ack(&third).await.unwrap();
    assert!(fx.leftover().await.is_empty());
    fx.cleanup().await;
}

#[tokio::test]
async fn a_changed_body_is_refused_and_the_delivery_stays_held() {
    let Some(fx) = Fixture::new().await else { return };
    let q = fx.consumer().await;
    q.publish(&bodies(&["apple"])).await.unwrap();
    let task = q.take(LONG, NO_WAIT).await.unwrap().unwrap();
    let mut forged = task.clone();
    forged.body = b"pear".to_vec();
    assert!(matches!(q.ack(&forged).await, Err(QueueError::Broker(_))));
    let mut renamed = task.clone();
    renamed.id = "1-1".into();
    assert!(matches!(q.ack(&renamed).await, Err(QueueError::Broker(_))));
    assert!(matches!(q.requeue(&renamed).await, Err(QueueError::Broker(_))));
    let mut foreign = task.clone();
    foreign.receipt = "17".into();
    assert!(matches!(q.ack(&foreign).await, Err(QueueError::Broker(_))));
    assert_eq!(q.stats().await.unwrap(), stats(0, 1, 1));
    q.ack(&task).await.unwrap();
    fx.cleanup().await;
}

#[tokio::test]
async fn stats_count_ready_in_flight_consumers_and_dead_letters() {
    let Some(fx) = Fixture::new().await else { return };
    let one = fx.consumer().await;
    let two = fx.consumer().await;
    let idle = fx.consumer().await;
    one.publish(&bodies(&["a", "b", "c", "d", "e"])).await.unwrap();
    let a = one.take(LONG, NO_WAIT).await.unwrap().unwrap();
    let _b = one.take(LONG, NO_WAIT).await.unwrap().unwrap();
    let _c = two.take(LONG, NO_WAIT).await.unwrap().unwrap();
    let () = fx.plain.clone().rpush(format!("{}:dead", fx.name), "poison").await.unwrap();
    let expected = Stats { ready: 2, in_flight: Some(3), consumers: Some(2), dead_lettered: 1 };
    assert_eq!(idle.stats().await.unwrap(), expected);
    one.ack(&a).await.unwrap();
    assert_eq!(idle.stats().await.unwrap(), Stats { in_flight: Some(2), ..expected });
    fx.cleanup().await;
}

#[tokio::test]
async fn purge_deletes_ready_tasks_and_leaves_leased_ones() {
    let Some(fx) = Fixture::new().await else { return };
    let q = fx.consumer().await;
    q.publish(&bodies(&["a", "b", "c"])).await.unwrap();
    let a = q.take(LONG, NO_WAIT).await.unwrap().unwrap();
    let b = q.take(LONG, NO_WAIT).await.unwrap().unwrap();
    q.requeue(&b).await.unwrap();
    // Ready: b's envelope and the plain c; both count and both go.
    assert_eq!(q.stats().await.unwrap(), stats(2, 1, 1));
    assert_eq!(q.purge().await.unwrap(), 2);
    assert_eq!(q.purge().await.unwrap(), 0);
    assert_eq!(q.stats().await.unwrap(), stats(0, 1, 1));
    q.ack(&a).await.unwrap();
    assert!(fx.leftover().await.is_empty());
    fx.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn four_consumers_drain_two_thousand_tasks_exactly_once() {
    let Some(fx) = Fixture::new().await else { return };
    const N: usize = 2_000;
    let producer = fx.consumer().await;
    let items: Vec<Vec<u8>> = (0..N).map(|i| format!("item-{i}").into_bytes()).collect();
    producer.publish(&items).await.unwrap();

    let mut workers = Vec::new();
    for _ in 0..4 {
        let q = fx.consumer().await;
        workers.push(tokio::spawn(async move {
            let mut done = Vec::new();
            while let Some(task) = q.take(LONG, Duration::from_millis(200)).await.unwrap() {
                q.ack(&task).await.unwrap();
                done.push((task.id, String::from_utf8(task.body).unwrap()));
            }
            done
        }));
    }
    let mut counts: HashMap<String, usize> = HashMap::new();
    let mut ids = HashSet::new();
    let mut acks = 0;
    for worker in workers {
        let done = worker.await.unwrap();
        assert!(!done.is_empty(), "a consumer got nothing");
        acks += done.len();
        for (id, body) in done {
            assert!(ids.insert(id.clone()), "id {id} given twice");
            *counts.entry(body).or_default() += 1;
        }
    }
    assert_eq!(acks, N);
    assert_eq!(counts.len(), N);
    for i in 0..N {
        assert_eq!(counts.get(&format!("item-{i}")), Some(&1), "item-{i}");
    }
    assert_eq!(producer.stats().await.unwrap(), stats(0, 0, 0));
    assert!(fx.leftover().await.is_empty(), "left behind: {:?}", fx.leftover().await);
    fx.cleanup().await;
}

#[tokio::test]
async fn connection_errors_never_show_the_password() {
    let secret = "s3cret-Pa55";
    // Nothing listens on port 1.
    let url = format!("redis://drover:{secret}@127.0.0.1:1/0");
    let err = RedisQueue::connect(&url, "drover-test-unreachable").await.unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, QueueError::Unavailable { .. }), "{message}");
    assert!(!message.contains(secret), "{message}");
    assert!(message.contains("redis://drover:***@127.0.0.1:1/0"), "{message}");
    assert!(!format!("{err:?}").contains(secret));

    let err =
        RedisQueue::connect(&format!("redis://:{secret}@127.0.0.1:6379/not-a-db"), "q").await.unwrap_err();
    assert!(!err.to_string().contains(secret), "{err}");
    assert!(!format!("{err:?}").contains(secret));
}

#[tokio::test]
async fn wrong_credentials_never_show_the_password() {
    let Some(fx) = Fixture::new().await else { return };
    let secret = "n0t-the-Pa55word";
    let Some((scheme, rest)) = fx.url.split_once("://") else { panic!("{}", fx.url) };
    let host = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    let url = format!("{scheme}://no-such-user:{secret}@{host}");
    let err = RedisQueue::connect(&url, &fx.name).await.unwrap_err();
    assert!(!err.to_string().contains(secret), "{err}");
    assert!(!format!("{err:?}").contains(secret));
    fx.cleanup().await;
}

#[tokio::test]
async fn ack_and_take_acks_many_deliveries_with_one_take() {
    let Some(fx) = Fixture::new().await else { return };
    let q = fx.consumer().await;
    q.publish(&bodies(&["a", "b", "c", "d"])).await.unwrap();
    let a = q.take(LONG, NO_WAIT).await.unwrap().unwrap();
    let b = q.take(LONG, NO_WAIT).await.unwrap().unwrap();
    let c = q.take(LONG, NO_WAIT).await.unwrap().unwrap();
    q.requeue(&b).await.unwrap();
    // a and c are held, b is not any more: each ack answers for itself, in order.
    let (acked, next) = q.ack_and_take(&[a.clone(), b.clone(), c.clone()], LONG, NO_WAIT).await;
    assert!(matches!(acked[..], [Ok(()), Err(QueueError::LeaseLost(_)), Ok(())]), "{acked:?}");
    let b_again = next.unwrap().unwrap();
    assert_eq!((text(&b_again.body), b_again.id.as_str()), ("b", b.id.as_str()));
    assert_eq!(fx.processing(&q).await, ["b"]);
    // No acks at all is a plain take.
    let (acked, next) = q.ack_and_take(&[], LONG, NO_WAIT).await;
    assert!(acked.is_empty());
    let d = next.unwrap().unwrap();
    let (acked, next) = q.ack_and_take(&[b_again, d], LONG, NO_WAIT).await;
    assert!(matches!(acked[..], [Ok(()), Ok(())]), "{acked:?}");
    assert!(next.unwrap().is_none());
    assert_eq!(q.stats().await.unwrap(), stats(0, 0, 0));
    assert!(fx.leftover().await.is_empty(), "{:?}", fx.leftover().await);
    fx.cleanup().await;
}

#[tokio::test]
async fn ack_and_take_acks_then_takes_in_one_round_trip() {
    let Some(fx) = Fixture::new().await else { return };
    let q = fx.consumer().await;
    q.publish(&bodies(&["a", "b"])).await.unwrap();
    let a = q.take(LONG, NO_WAIT).await.unwrap().unwrap();
    let (acked, next) = q.ack_and_take(std::slice::from_ref(&a), LONG, NO_WAIT).await;
    assert!(matches!(acked[..], [Ok(())]), "{acked:?}");
    let b = next.unwrap().unwrap();
    assert_eq!(text(&b.body), "b");
    assert_eq!(fx.processing(&q).await, ["b"]);
    // The last ack leaves nothing to take: the ack still lands, and the take waits its `wait`.
    let started = Instant::now();
    let (acked, next) = q.ack_and_take(std::slice::from_ref(&b), LONG, Duration::from_millis(200)).await;
    assert!(matches!(acked[..], [Ok(())]), "{acked:?}");
    assert!(next.unwrap().is_none());
    assert!(started.elapsed() >= Duration::from_millis(150));
    assert_eq!(q.stats().await.unwrap(), stats(0, 0, 0));
    // Acking a delivery that was already acked is refused, and the take still happens.
    q.publish(&bodies(&["c"])).await.unwrap();
    let (acked, next) = q.ack_and_take(std::slice::from_ref(&b), LONG, NO_WAIT).await;
    assert!(matches!(acked[..], [Err(QueueError::LeaseLost(_))]), "{acked:?}");
    let c = next.unwrap().unwrap();
    assert_id_shape(&c.id);
    assert!(a.id != b.id && b.id != c.id, "{} {} {}", a.id, b.id, c.id);
    q.ack(&c).await.unwrap();
    assert!(fx.leftover().await.is_empty(), "{:?}", fx.leftover().await);
    fx.cleanup().await;
}

#[tokio::test]
async fn equal_bodies_from_a_foreign_producer_get_distinct_ids_that_survive_requeues() {
    let Some(fx) = Fixture::new().await else { return };
    let () = fx.plain.clone().rpush(&fx.name, &["apple", "apple"]).await.unwrap();
    let q = fx.consumer().await;
    let first = q.take(LONG, NO_WAIT).await.unwrap().unwrap();
    let second = q.take(LONG, NO_WAIT).await.unwrap().unwrap();
    assert_eq!((text(&first.body), text(&second.body)), ("apple", "apple"));
    assert_id_shape(&first.id);
    assert_id_shape(&second.id);
    assert_ne!(first.id, second.id);
    q.requeue(&first).await.unwrap();
    q.requeue(&second).await.unwrap();
    let mut again =
        [q.take(LONG, NO_WAIT).await.unwrap().unwrap(), q.take(LONG, NO_WAIT).await.unwrap().unwrap()];
    again.sort_by(|x, y| x.id.cmp(&y.id));
    let mut ids = [first.id.clone(), second.id.clone()];
    ids.sort();
    assert_eq!([again[0].id.clone(), again[1].id.clone()], ids);
    for task in &again {
        assert_eq!(text(&task.body), "apple");
        q.ack(task).await.unwrap();
    }
    assert!(fx.leftover().await.is_empty());
    fx.cleanup().await;
}

#[tokio::test]
async fn envelopes_never_leak_into_bodies() {
    let Some(fx) = Fixture::new().await else { return };
    let long_id = "7".repeat(129);
    // Plain bodies, some of which look like envelopes without being well formed.
    let plain: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"a\0b\nc\xff".to_vec(),
        b"\0drover\0".to_vec(),
        b"\0drover\0\0no id".to_vec(),
        b"\0drover\0bad id!\0x".to_vec(),
        [b"\0drover\0".as_slice(), long_id.as_bytes(), b"\0x"].concat(),
        b"\0drover\0no-nul".to_vec(),
    ];
    let () = fx.plain.clone().rpush(&fx.name, &plain).await.unwrap();
    let q = fx.consumer().await;
    let mut taken = Vec::new();
    for body in &plain {
        let task = q.take(LONG, NO_WAIT).await.unwrap().unwrap();
        assert_eq!(&task.body, body);
        assert_id_shape(&task.id);
        taken.push(task);
    }
    // Around a requeue (the envelope goes back to the ready list) the bodies stay the same.
    for task in taken.iter().rev() {
        q.requeue(task).await.unwrap();
    }
    for task in &taken {
        let again = q.take(LONG, NO_WAIT).await.unwrap().unwrap();
        assert_eq!((&again.body, &again.id), (&task.body, &task.id));
        q.ack(&again).await.unwrap();
    }
    // A value that is a well-formed envelope is read as one: the prefix is reserved.
    let () = fx.plain.clone().rpush(&fx.name, b"\0drover\0mine-1\0pear").await.unwrap();
    let mine = q.take(LONG, NO_WAIT).await.unwrap().unwrap();
    assert_eq!((mine.id.as_str(), text(&mine.body)), ("mine-1", "pear"));
    q.ack(&mine).await.unwrap();
    assert!(fx.leftover().await.is_empty());
    fx.cleanup().await;
}

#[tokio::test]
async fn ids_do_not_repeat_when_the_counter_is_deleted() {
    let Some(fx) = Fixture::new().await else { return };
    let q = fx.consumer().await;
    q.publish(&bodies(&["apple"])).await.unwrap();
    let apple = q.take(LONG, NO_WAIT).await.unwrap().unwrap();
    q.ack(&apple).await.unwrap();
    let () = fx.plain.clone().del(format!("{}:ids", fx.name)).await.unwrap();
    // Wait (bounded) for Redis' clock to leave the millisecond of the first id.
    let taken_at: u64 = apple.id.split_once('-').unwrap().0.parse().unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (secs, micros): (u64, u64) = redis::cmd("TIME").query_async(&mut fx.plain.clone()).await.unwrap();
        if secs * 1_000 + micros / 1_000 > taken_at {
            break;
        }
        assert!(Instant::now() < deadline, "Redis' clock did not move");
        tokio::task::yield_now().await;
    }
    q.publish(&bodies(&["apple"])).await.unwrap();
    let again = q.take(LONG, NO_WAIT).await.unwrap().unwrap();
    assert!(again.id.ends_with("-1") && apple.id.ends_with("-1"), "{} {}", apple.id, again.id);
    assert_ne!(again.id, apple.id);
    q.ack(&again).await.unwrap();
    fx.cleanup().await;
}

/// Takes `max` tasks in one batch, with no acks and no wait.
async fn batch(q: &RedisQueue, max: usize, lease: Duration) -> Vec<drover_queue::Task> {
    let (acked, taken) = q.ack_and_take_many(&[], max, lease, NO_WAIT).await;
    assert!(acked.is_empty());
    taken.unwrap()
}

/// The delivery sequence numbers a consumer holds (its receipts set).
async fn receipts(fx: &Fixture, q: &RedisQueue) -> HashSet<String> {
    fx.plain.clone().smembers(format!("{}:receipts:{}", fx.name, q.consumer_id())).await.unwrap()
}

#[tokio::test]
async fn a_batch_take_hands_out_each_task_as_a_delivery_of_its_own() {
    let Some(fx) = Fixture::new().await else { return };
    let q = fx.consumer().await;
    let other = fx.consumer().await;
    let items: Vec<String> = (0..40).map(|i| format!("t{i}")).collect();
    let refs: Vec<&str> = items.iter().map(String::as_str).collect();
    q.publish(&bodies(&refs)).await.unwrap();
    let tasks = batch(&q, 8, LONG).await;
    let seen: Vec<&str> = tasks.iter().map(|t| text(&t.body)).collect();
    assert_eq!(seen, refs[..8], "the head of the queue, in order");
    // Each task is a delivery of its own: its own id and receipt, held in the consumer's lists.
    let ids: HashSet<&str> = tasks.iter().map(|t| t.id.as_str()).collect();
    let own: HashSet<String> =
        tasks.iter().map(|t| t.receipt.rsplit_once(':').unwrap().1.to_string()).collect();
    assert_eq!((ids.len(), own.len()), (8, 8));
    tasks.iter().for_each(|t| assert_id_shape(&t.id));
    assert_eq!(receipts(&fx, &q).await, own);
    assert_eq!(fx.processing(&q).await, refs[..8]);
    assert_eq!(q.stats().await.unwrap(), stats(32, 8, 1));
    // Settled one by one: an ack, a requeue (back to the head with its id), an extend.
    q.ack(&tasks[0]).await.unwrap();
    q.requeue(&tasks[1]).await.unwrap();
    q.extend(&tasks[2], LONG).await.unwrap();
    assert!(matches!(q.ack(&tasks[1]).await, Err(QueueError::LeaseLost(_))), "requeued already");
    let again = other.take(LONG, NO_WAIT).await.unwrap().unwrap();
    assert_eq!((text(&again.body), again.id.as_str()), ("t1", tasks[1].id.as_str()));
    assert_eq!(fx.processing(&q).await, refs[2..8]);
    assert_eq!(q.stats().await.unwrap(), stats(32, 7, 2));
    // The rest are acked with the next batch, which takes on from where the last one stopped.
    let (acked, next) = q.ack_and_take_many(&tasks[2..], 4, LONG, NO_WAIT).await;
    assert!(acked.iter().all(Result::is_ok), "{acked:?}");
    let next: Vec<String> = next.unwrap().iter().map(|t| text(&t.body).to_string()).collect();
    assert_eq!(next, ["t8", "t9", "t10", "t11"]);
    assert_eq!(fx.processing(&q).await, next);
    fx.cleanup().await;
}

#[tokio::test]
async fn a_batch_take_shares_the_last_tasks_of_a_queue() {
    let Some(fx) = Fixture::new().await else { return };
    let q = fx.consumer().await;
    q.publish(&bodies(&["a", "b", "c", "d", "e", "f"])).await.unwrap();
    // At most a quarter of what is ready (rounded up), however many are asked for.
    let sizes =
        [batch(&q, 64, LONG).await.len(), batch(&q, 64, LONG).await.len(), batch(&q, 64, LONG).await.len()];
    assert_eq!(sizes, [2, 1, 1]);
    assert_eq!(q.stats().await.unwrap(), stats(2, 4, 1));
    // Asking for one takes one; an empty queue gives none.
    assert_eq!(batch(&q, 1, LONG).await.len(), 1);
    assert_eq!(batch(&q, 64, LONG).await.len(), 1);
    assert!(batch(&q, 64, LONG).await.is_empty());
    assert_eq!(q.stats().await.unwrap(), stats(0, 6, 1));
    fx.cleanup().await;
}

#[tokio::test]
async fn every_task_of_a_batch_is_reaped_when_its_lease_expires() {
    let Some(fx) = Fixture::new().await else { return };
    let survivor = fx.consumer().await;
    let dead = fx.consumer().await;
    let items: Vec<String> = (0..20).map(|i| format!("t{i}")).collect();
    let refs: Vec<&str> = items.iter().map(String::as_str).collect();
    dead.publish(&bodies(&refs)).await.unwrap();
    let lease = Duration::from_millis(200);
    let lost = batch(&dead, 5, lease).await;
    let expired_by = Instant::now() + lease;
    assert_eq!(lost.len(), 5);
    // One of them is settled before the lease expires; the other four are not.
    dead.ack(&lost[0]).await.unwrap();
    tokio::time::sleep_until(expired_by + Duration::from_millis(20)).await;
    // Each comes back to the head of the queue, in order, with its id.
    assert_eq!(survivor.reap().await.unwrap(), 4);
    assert_eq!(fx.bodies_in(&fx.name).await[..5], ["t1", "t2", "t3", "t4", "t5"]);
    let back = batch(&survivor, 4, LONG).await;
    let ids: Vec<&str> = back.iter().map(|t| t.id.as_str()).collect();
    let lost_ids: Vec<&str> = lost[1..].iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ids, lost_ids);
    // Each late settlement of the dead consumer's deliveries fails on its own.
    let (acked, next) = dead.ack_and_take_many(&lost[1..], 1, LONG, NO_WAIT).await;
    assert_eq!(acked.len(), 4);
    assert!(acked.iter().all(|a| matches!(a, Err(QueueError::LeaseLost(_)))), "{acked:?}");
    let next = next.unwrap();
    assert_eq!(text(&next[0].body), "t5");
    for task in &lost[1..] {
        assert!(matches!(dead.extend(task, LONG).await, Err(QueueError::LeaseLost(_))));
        assert!(matches!(dead.requeue(task).await, Err(QueueError::LeaseLost(_))));
    }
    assert_eq!(survivor.stats().await.unwrap(), stats(14, 5, 2));
    fx.cleanup().await;
}

#[tokio::test]
async fn a_batch_partly_handed_back_keeps_its_order_and_the_rest_is_acked() {
    let Some(fx) = Fixture::new().await else { return };
    let q = fx.consumer().await;
    let items: Vec<String> = (0..16).map(|i| format!("t{i}")).collect();
    let refs: Vec<&str> = items.iter().map(String::as_str).collect();
    q.publish(&bodies(&refs)).await.unwrap();
    let tasks = batch(&q, 4, LONG).await;
    // The first two ran; the last two go back unstarted, newest first (as a drain hands back).
    q.requeue(&tasks[3]).await.unwrap();
    q.requeue(&tasks[2]).await.unwrap();
    assert_eq!(fx.bodies_in(&fx.name).await[..3], ["t2", "t3", "t4"]);
    let (acked, next) = q.ack_and_take_many(&tasks[..2], 2, LONG, NO_WAIT).await;
    assert!(matches!(acked[..], [Ok(()), Ok(())]), "{acked:?}");
    let next = next.unwrap();
    // The handed-back tasks come first, with the ids they had.
    assert_eq!((next[0].id.as_str(), next[1].id.as_str()), (tasks[2].id.as_str(), tasks[3].id.as_str()));
    let (acked, _) = q.ack_and_take_many(&next, 1, LONG, NO_WAIT).await;
    assert!(acked.iter().all(Result::is_ok));
    assert_eq!(q.stats().await.unwrap(), stats(11, 1, 1));
    fx.cleanup().await;
}

#[tokio::test]
async fn batch_acks_in_any_order_answer_for_each_delivery() {
    let Some(fx) = Fixture::new().await else { return };
    let q = fx.consumer().await;
    let items: Vec<String> = (0..24).map(|i| format!("t{i}")).collect();
    let refs: Vec<&str> = items.iter().map(String::as_str).collect();
    q.publish(&bodies(&refs)).await.unwrap();
    let t = batch(&q, 6, LONG).await;
    let changed = drover_queue::Task { body: b"other".to_vec(), ..t[2].clone() };
    q.ack(&t[3]).await.unwrap();
    // Out of the take order, one changed, one acked already, one twice.
    let done = [t[4].clone(), t[0].clone(), changed, t[3].clone(), t[5].clone(), t[5].clone()];
    let (acked, next) = q.ack_and_take_many(&done, 1, LONG, NO_WAIT).await;
    assert!(matches!(acked[0], Ok(())), "{acked:?}");
    assert!(matches!(acked[1], Ok(())), "{acked:?}");
    assert!(matches!(&acked[2], Err(QueueError::Broker(why)) if why.contains("differs")), "{acked:?}");
    assert!(matches!(acked[3], Err(QueueError::LeaseLost(_))), "{acked:?}");
    assert!(matches!(acked[4], Ok(())), "{acked:?}");
    assert!(matches!(acked[5], Err(QueueError::LeaseLost(_))), "acked once: {acked:?}");
    // What is left held is exactly the two not acked, then the task just taken.
    assert_eq!(fx.processing(&q).await, ["t1", "t2", "t6"]);
    assert_eq!(receipts(&fx, &q).await.len(), 3);
    let next = next.unwrap();
    let (acked, _) =
        q.ack_and_take_many(&[t[2].clone(), next[0].clone(), t[1].clone()], 0, LONG, NO_WAIT).await;
    assert!(acked.iter().all(Result::is_ok), "{acked:?}");
    assert!(fx.processing(&q).await.is_empty());
    assert_eq!(q.stats().await.unwrap(), stats(17, 0, 0));
    fx.cleanup().await;
}

/// The read-only [`drover_queue::Inspector`] counts what a consumer holds and changes nothing:
/// an expired lease's tasks stay where they are until a consumer reaps them.
#[tokio::test]
async fn the_inspector_counts_without_reaping() {
    let Some(fx) = Fixture::new().await else { return };
    let producer = fx.consumer().await;
    producer.publish(&[b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]).await.unwrap();
    let holder = fx.consumer().await;
    let lease = Duration::from_millis(300);
    let taken = holder.take(lease, NO_WAIT).await.unwrap().expect("a task");
    let expires = Instant::now() + lease;
    let inspector = drover_queue::Inspector::connect(&fx.url, Duration::from_secs(2)).await.unwrap();
    let live = inspector.stats(&fx.name, Duration::from_secs(2)).await.unwrap().unwrap();
    assert_eq!(live, Stats { ready: 2, in_flight: Some(1), consumers: Some(1), dead_lettered: 0 });
    tokio::time::sleep_until(expires + Duration::from_millis(50)).await;
    let expired = inspector.stats(&fx.name, Duration::from_secs(2)).await.unwrap().unwrap();
    assert_eq!(
        expired,
        Stats { ready: 2, in_flight: Some(1), consumers: Some(0), dead_lettered: 0 },
        "still out, no longer a live consumer, not reaped"
    );
    assert_eq!(fx.processing(&holder).await, vec![text(&taken.body).to_string()], "left where it was");
    // A consumer's stats reaps it.
    assert_eq!(producer.stats().await.unwrap().ready, 3);
    let after = inspector.stats(&fx.name, Duration::from_secs(2)).await.unwrap().unwrap();
    assert_eq!(after, Stats { ready: 3, in_flight: Some(0), consumers: Some(0), dead_lettered: 0 });
    fx.cleanup().await;
}
