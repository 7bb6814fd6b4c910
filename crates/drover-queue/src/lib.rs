//! Drover's work-queue brokers: one [`Queue`] trait and two real implementations, RabbitMQ
//! ([`amqp`], through lapin) and Redis ([`redis_queue`], through redis-rs with Lua scripts kept
//! in `lua/`).
//!
//! Only this crate depends on lapin or redis. The URL scheme picks the broker: `amqp://` for
//! RabbitMQ, `redis://` for Redis ([`connect`]). TLS (`amqps://`, `rediss://`) is not built in
//! yet and is refused with a clear error.
//!
//! # The contract every implementation keeps
//! - [`Queue::publish`] returns only once the broker has the tasks durably (RabbitMQ: persistent
//!   messages with publisher confirms; Redis: the RPUSH replied).
//! - [`Queue::take`] hands out one task under a lease. While the lease holder lives (and, for
//!   Redis, renews the lease with [`Queue::extend`]), nobody else gets the task.
//!   [`Queue::ack_and_take_many`] hands out several at once, each a delivery of its own (its own
//!   receipt, acked, requeued, extended and lost on its own), all under the same rules.
//! - A task leaves the broker only through [`Queue::ack`]. [`Queue::requeue`] puts it back. A
//!   lease holder that dies (connection lost, process killed, lease expired) gets its tasks
//!   returned to the ready queue: RabbitMQ does it when the connection closes; Redis does it
//!   when any consumer reaps expired leases (every `take`, `extend` and `stats` reaps).
//! - At-least-once: a RabbitMQ ack is not confirmed by the broker, so an ack sent just before
//!   the connection breaks may be lost and the task delivered again. Counts of successful acks
//!   can then exceed the tasks by at most the deliveries in flight at the break.
//! - Every task has a stable id ([`Task::id`]): the same on every delivery of the task,
//!   whatever happened in between (a requeue, an expired lease that was reaped, a lost
//!   connection), so that a ledger keyed by it counts each task once however often it runs
//!   (at-least-once execution, exactly-once accounting). Distinct tasks have distinct ids, equal
//!   bodies included, with one exception: RabbitMQ messages published by another tool without a
//!   `message_id` are named by their body (see [`Task::id`]).
//! - Credentials in URLs never appear in errors or logs ([`redact_url`]).

pub mod amqp;
pub mod inspect;
pub mod redis_queue;

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// What [`Queue::ack_and_take`] returns: each ack's result (in the order given), then the
/// take's.
pub type AckAndTake = (Vec<Result<(), QueueError>>, Result<Option<Task>, QueueError>);

/// What [`Queue::ack_and_take_many`] returns: each ack's result (in the order given), then the
/// tasks taken (none when the queue stayed empty for the wait).
pub type AckAndTakeMany = (Vec<Result<(), QueueError>>, Result<Vec<Task>, QueueError>);

/// A boxed future, so that [`Queue`] can be used as a trait object.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One task taken under a lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Task {
    /// The task's id, stable per task: every delivery of one task has the same id (after a
    /// requeue, a reaped lease or a lost connection), and a ledger of finished tasks can be
    /// keyed by it. Per broker:
    /// - Redis: `<ms>-<n>`, drawn by the task's first take (`n` from `INCR <queue>:ids`, `ms`
    ///   Redis' clock) and kept with the task in the list from then on (see
    ///   [`redis_queue`]). Distinct for every task pushed, equal bodies included; a task whose
    ///   first take was lost by Redis (writes not yet persisted at a crash) is named again.
    /// - RabbitMQ: the message's `message_id`, which the broker keeps across redeliveries.
    ///   [`Queue::publish`] sets a fresh UUID per task. A message without one (another tool,
    ///   such as `amqp-publish`) gets `sha256:<hex digest of the body>`: stable too, but equal
    ///   bodies from such a publisher share an id and count as one task (they all still run).
    ///   A publisher's own `message_id`s are trusted to be unique per task.
    pub id: String,
    /// The body as published (on Redis, never the envelope that carries the id).
    pub body: Vec<u8>,
    /// How many times the task was handed out before this delivery (0 on the first). RabbitMQ
    /// reports 1 for any redelivery; Redis cannot tell and reports 0.
    pub redeliveries: u32,
    /// Backend-specific handle of this delivery, unique per delivery (RabbitMQ
    /// `<consumer-tag>:<delivery-tag>`, Redis `<consumer>:<seq>`): settling a delivery whose
    /// lease was lost fails with [`QueueError::LeaseLost`] even when the same task was taken
    /// again since.
    pub receipt: String,
}

/// What a queue holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Tasks waiting to be taken.
    pub ready: u64,
    /// Tasks taken and not yet acked or requeued, by anyone. `None` when the broker cannot
    /// tell (RabbitMQ without the management API).
    pub in_flight: Option<u64>,
    /// Connected consumers, when the broker tells.
    pub consumers: Option<u64>,
    /// Tasks moved to the dead-letter queue.
    pub dead_lettered: u64,
}

/// Errors of the brokers. Messages never contain credentials.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QueueError {
    /// The URL is not one Drover can use.
    #[error("invalid queue URL {url}: {reason}")]
    InvalidUrl {
        /// The URL with its password redacted.
        url: String,
        /// Why.
        reason: String,
    },
    /// The broker could not be reached or the connection broke.
    #[error("broker {url} unavailable: {reason}")]
    Unavailable {
        /// The URL with its password redacted.
        url: String,
        /// The error, with credentials redacted.
        reason: String,
    },
    /// The lease was lost (expired and reaped, or the connection that held it closed): the task
    /// went back to the queue and someone else may process it.
    #[error("lease on task {0} lost")]
    LeaseLost(String),
    /// Any other broker error.
    #[error("broker error: {0}")]
    Broker(String),
}

/// A work queue on a broker. Every method may be called concurrently from many tasks.
pub trait Queue: Send + Sync {
    /// Appends tasks, one per body, and returns once the broker confirmed them.
    fn publish<'a>(&'a self, bodies: &'a [Vec<u8>]) -> BoxFuture<'a, Result<(), QueueError>>;
    /// Takes one task under a lease of `lease`, waiting up to `wait` for one to arrive.
    /// `Ok(None)` means the queue stayed empty for `wait`.
    fn take(&self, lease: Duration, wait: Duration) -> BoxFuture<'_, Result<Option<Task>, QueueError>>;
    /// Removes a task for good. Errors with [`QueueError::LeaseLost`] if the lease was lost.
    fn ack<'a>(&'a self, task: &'a Task) -> BoxFuture<'a, Result<(), QueueError>>;
    /// Puts a task back at the head of the ready queue (it will be taken again).
    fn requeue<'a>(&'a self, task: &'a Task) -> BoxFuture<'a, Result<(), QueueError>>;
    /// Renews a task's lease for `lease` from now.
    fn extend<'a>(&'a self, task: &'a Task, lease: Duration) -> BoxFuture<'a, Result<(), QueueError>>;
    /// What the queue holds.
    fn stats(&self) -> BoxFuture<'_, Result<Stats, QueueError>>;
    /// Deletes every ready task; returns how many.
    fn purge(&self) -> BoxFuture<'_, Result<u64, QueueError>>;
    /// Acks each task of `done`, then takes the next task (as [`Queue::take`]): one round trip
    /// where the broker allows it (Redis runs all of it in one script). Returns the acks'
    /// results, in `done`'s order, and the take's.
    fn ack_and_take<'a>(
        &'a self,
        done: &'a [Task],
        lease: Duration,
        wait: Duration,
    ) -> BoxFuture<'a, AckAndTake> {
        Box::pin(async move {
            let mut acked = Vec::with_capacity(done.len());
            for task in done {
                acked.push(self.ack(task).await);
            }
            let next = self.take(lease, wait).await;
            (acked, next)
        })
    }
    /// Acks each task of `done`, then takes up to `max` tasks (at least one when any is ready,
    /// waiting up to `wait` for the first; the broker may hand out fewer: Redis takes at most a
    /// quarter of what is ready, so that the last tasks of a queue are shared, and RabbitMQ
    /// what has already arrived). Each task taken is a delivery of its own, held under the lease
    /// like one [`Queue::take`] returned, and settled on its own. Returns the acks' results, in
    /// `done`'s order, and the tasks in the queue's order. `max` 0 only acks. Redis runs it all
    /// in one script; RabbitMQ acks a run of deliveries with one `basic.ack` (`multiple`) where
    /// that acks nothing else. The default acks one by one, then takes one.
    fn ack_and_take_many<'a>(
        &'a self,
        done: &'a [Task],
        max: usize,
        lease: Duration,
        wait: Duration,
    ) -> BoxFuture<'a, AckAndTakeMany> {
        Box::pin(async move {
            if max == 0 {
                let mut acked = Vec::with_capacity(done.len());
                for task in done {
                    acked.push(self.ack(task).await);
                }
                return (acked, Ok(Vec::new()));
            }
            let (acked, next) = self.ack_and_take(done, lease, wait).await;
            (acked, next.map(|task| task.into_iter().collect()))
        })
    }
    /// How many tasks this consumer may hold unacked before the broker hands it another (the
    /// RabbitMQ prefetch); `None` when taking is not limited by unacked tasks (Redis).
    fn max_unacked(&self) -> Option<usize> {
        None
    }
    /// Moves [`max_unacked`](Queue::max_unacked) within what the connection allows (RabbitMQ:
    /// 1 to the most given to [`connect_with_prefetch`]); does nothing where taking is not
    /// limited by unacked tasks.
    fn set_max_unacked(&self, n: usize) -> BoxFuture<'_, Result<(), QueueError>> {
        let _ = n;
        Box::pin(async { Ok(()) })
    }
    /// Makes sure no task is on its way to this consumer, and returns how many it holds that
    /// [`Queue::take`] has not returned yet (it returns them next). RabbitMQ pushes deliveries
    /// (up to the prefetch) that may still be in transit when a take gives up waiting, and a
    /// queue's figures cannot show them (they are neither ready nor countable as in flight): a
    /// draining pod calls this before it believes the queue is empty. Redis hands a task out
    /// only to a take, so there is nothing to do.
    fn quiesce(&self) -> BoxFuture<'_, Result<usize, QueueError>> {
        Box::pin(async { Ok(0) })
    }
    /// Closes the connection gracefully, returning anything delivered but not taken (RabbitMQ's
    /// prefetch) to the queue before it returns. The default does nothing.
    fn close(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
}

/// Connects to the queue `name` on the broker at `url`, picking the broker by the scheme.
pub async fn connect(url: &str, name: &str) -> Result<Box<dyn Queue>, QueueError> {
    connect_with_prefetch(url, name, amqp::DEFAULT_PREFETCH, amqp::DEFAULT_PREFETCH).await
}

/// [`connect`], letting the broker hand this consumer up to `prefetch` tasks before it acks
/// (RabbitMQ's `basic.qos`; Redis takes one task per `take` and ignores it), a limit that
/// [`Queue::set_max_unacked`] may raise up to `max_prefetch` later.
pub async fn connect_with_prefetch(
    url: &str,
    name: &str,
    prefetch: u16,
    max_prefetch: u16,
) -> Result<Box<dyn Queue>, QueueError> {
    let scheme = url.split("://").next().unwrap_or_default();
    match scheme {
        "amqp" => Ok(Box::new(
            amqp::AmqpQueue::connect(url, name).await?.with_prefetch_range(prefetch, max_prefetch),
        )),
        "redis" => Ok(Box::new(redis_queue::RedisQueue::connect(url, name).await?)),
        "amqps" | "rediss" => Err(QueueError::InvalidUrl {
            url: redact_url(url),
            reason: "TLS connections are not supported yet; use amqp:// or redis://".into(),
        }),
        _ => Err(QueueError::InvalidUrl {
            url: redact_url(url),
            reason: "the scheme must be amqp:// or redis://".into(),
        }),
    }
}

pub use drover_api::meta::redact_url;
pub use inspect::Inspector;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords() {
        assert_eq!(
            redact_url("amqp://guest:guest@127.0.0.1:5672/%2f"),
            "amqp://guest:***@127.0.0.1:5672/%2f"
        );
        assert_eq!(redact_url("redis://:pw@127.0.0.1:6379/0"), "redis://:***@127.0.0.1:6379/0");
        assert_eq!(redact_url("redis://127.0.0.1:6379"), "redis://127.0.0.1:6379");
    }
}
