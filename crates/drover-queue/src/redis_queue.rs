//! The Redis broker: a reliable list queue with per-consumer processing lists and leases.
//!
//! Owns the Redis key layout of a queue and the Lua scripts in `lua/` that move tasks between
//! those keys. It must not block a connection (no `BLMOVE`, see [`RedisQueue::take`]) and must
//! not need clients' clocks to agree (every timestamp is Redis' own `TIME`).
//!
//! # Key layout
//! All keys derive from the queue name `q`:
//!
//! | key                  | type       | holds                                                     |
//! |----------------------|------------|-----------------------------------------------------------|
//! | `q`                  | list       | ready tasks (plain bodies or envelopes); take pops the head |
//! | `q:leases`           | sorted set | consumer id → lease expiry in ms (Redis clock)              |
//! | `q:processing:<c>`   | list       | envelopes consumer `c` holds, in the order it took them     |
//! | `q:receipts:<c>`     | set        | delivery sequence numbers consumer `c` holds                |
//! | `q:ids`              | string     | counter of the task ids handed out (`INCR`); never deleted  |
//! | `q:dead`             | list       | dead-lettered tasks (counted by `stats`, not written yet)   |
//!
//! `q` starts as a plain list of bodies, so `redis-cli rpush job2 apple` enqueues a task exactly
//! as in the Kubernetes "fine parallel processing" example.
//!
//! # Task ids
//! A plain list value has no identity: equal bodies cannot be told apart, and a body that went
//! back to the list is just a value again. So a task gets its id at its first take, in the script
//! that moves it: when `take.lua` (or `ack_take.lua`) moves a plain body into the consumer's
//! processing list, it draws `n = INCR q:ids` and rewrites that entry as an *envelope*,
//! `"\0drover\0" <id> "\0" <body>`, with the id `<ms>-<n>` (`ms`: Redis' `TIME` at that take).
//! From then on the envelope is what moves: requeue and reap push it back to the ready list, and
//! a take of an envelope keeps it as it is, so every delivery of the task carries the same
//! [`Task::id`]. [`Task::body`] is always the body the producer pushed, never the envelope.
//!
//! Why this design:
//! - Producers stay plain (`RPUSH` of bodies, as [`Queue::publish`] also does), so there is one
//!   path that names tasks, whoever produced them.
//! - The id is drawn in the same atomic script as the move and the lease: no task is ever held
//!   without its id, and a take whose reply was lost leaves an envelope that the reaper returns
//!   with its id.
//! - Ids derived from the body were rejected: equal bodies pushed twice are two tasks (the
//!   Kubernetes example counts them twice). So were ids assigned by `publish` only (a foreign
//!   `RPUSH` would get none) and a side map from values to ids (one more structure to keep
//!   consistent with the lists, and equal bodies again).
//! - `<ms>-<n>` rather than `n` alone: ids never repeat even if `q:ids` is deleted or rolled back
//!   (a Redis restart that lost the tail of its AOF takes the counter back, and could otherwise
//!   hand a used id to another body), as long as Redis' clock moves forward.
//! - A `Task` needs nothing beyond its public fields to be settled: the stored envelope is
//!   exactly marker, id, NUL, body, so `ack`, `requeue` and `extend` rebuild it from `Task::id`
//!   and `Task::body` and match it byte for byte (`LPOS`, `LREM`); a task whose id or body was
//!   changed is refused.
//! - A value is an envelope when it is the marker `\0drover\0`, an id of 1 to 128 characters from
//!   `[A-Za-z0-9._:-]`, a NUL and a body. A pushed value of that form is taken as an envelope (the
//!   prefix is reserved); anything else, even a value that starts with the marker, is a plain body.
//!
//! # Invariant
//! `q:processing:<c>` is non-empty ⇔ `q:receipts:<c>` is non-empty ⇔ `c` is in `q:leases`, and
//! both have the same length. Every entry of a processing list is an envelope. Every transition
//! is one Lua script, so Redis runs it atomically and the invariant holds between any two
//! commands. Hence a task is always in exactly one of: the ready list, the processing list of a
//! consumer that holds a lease (which the reaper will find once the lease expires), or nowhere
//! (acked).
//!
//! # Expected flow
//! 1. A producer appends bodies to `q` ([`Queue::publish`] or any Redis client).
//! 2. [`Queue::take`] runs `take.lua`: reap expired leases, `LMOVE q q:processing:<c> LEFT
//!    RIGHT` (wrapping a plain body in an envelope with a new id), `SADD q:receipts:<c> <seq>`,
//!    `ZADD q:leases GT now+lease <c>`.
//!    [`Queue::ack_and_take_many`] runs `ack_take.lua`: it acks the deliveries given, then takes
//!    up to `max` tasks at once, at most a quarter of the ready list (rounded up, at least one):
//!    `LRANGE` + `LTRIM` of the head, one `RPUSH` of their envelopes to the processing list, one
//!    `SADD` of a sequence number per task (each task is a delivery of its own), the lease
//!    extended once; its acks check every receipt with one `SMISMEMBER`, trim the ones at the
//!    head of the processing list with one `LTRIM` (acks come in take order) and `LREM` the
//!    others. A few commands per call, however many tasks.
//! 3. The worker renews with [`Queue::extend`] (`extend.lua`) while it works.
//! 4. [`Queue::ack`] (`ack.lua`) removes the task's envelope from the consumer's own processing
//!    list and the delivery from its receipts; [`Queue::requeue`] (`requeue.lua`) does the same
//!    and pushes the envelope back to the head of `q`. A consumer left holding nothing leaves
//!    `q:leases`, so idle consumers are not counted as holding leases.
//! 5. If the consumer dies, its lease expires; the next `take`, `extend`, `stats` or
//!    [`RedisQueue::reap`] by anyone pushes its envelopes back to the head of `q`, oldest first.
//!
//! # Guarantees
//! - No task is lost: it never leaves Redis between take and ack, and the move into a
//!   processing list and the lease that makes the reaper find it are one atomic script.
//! - [`Task::id`] is stable per task: the same on every delivery (after a requeue, a reaped
//!   lease, a lost connection), and distinct for distinct tasks, equal bodies included.
//! - Acks are exact per delivery: [`Task::receipt`] (`<consumer>:<seq>`) is unique per delivery,
//!   a delivery is acked at most once, and an ack after the lease was reaped fails with
//!   [`QueueError::LeaseLost`] (even if the same consumer took the same task again since, with
//!   the same id). Equal bodies never confuse completion: their envelopes differ by their ids,
//!   and a consumer only ever removes from its own processing list.
//! - At-least-once: a task whose lease expired while its worker still ran is handed out again
//!   (with its id); the late worker learns it from `extend` or `ack` failing with `LeaseLost`.
//!
//! # Assumptions
//! - Redis 6.2 or newer (`LMOVE`, `ZADD GT`), standalone or a single primary: scripts reach
//!   per-consumer keys they learn from `q:leases`, which Redis Cluster would forbid.
//! - Durability is Redis' own (AOF or snapshots); a Redis that loses writes loses tasks, and may
//!   lose an id: a task whose envelope was written in the lost window (the last second with
//!   `appendfsync everysec`) is a plain body again and gets a new id at its next take.
//! - Every consumer of the queue knows envelopes (this version of Drover or a later one): an
//!   older consumer, or a foreign `LPOP`, would read a requeued or reaped task as its envelope.
//! - `Task::redeliveries` is always 0: an envelope carries no delivery count.

use std::fmt;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use drover_api::retry::Backoff;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{RedisError, Script};
use tokio::time::Instant;

use crate::{AckAndTake, AckAndTakeMany, BoxFuture, Queue, QueueError, Stats, Task, redact_url};

/// How long one connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a command may take; scripts that move many tasks take a while.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(10);
/// Reconnection back-off: `min(max, rand(0 .. min * 2^attempt))`, this many attempts.
const RECONNECT_MIN_DELAY: Duration = Duration::from_millis(50);
const RECONNECT_MAX_DELAY: Duration = Duration::from_secs(2);
const RECONNECT_ATTEMPTS: usize = 6;
/// Polling back-off of a waiting `take`: starts here and doubles...
const POLL_MIN: Duration = Duration::from_millis(5);
/// ...up to here.
const POLL_MAX: Duration = Duration::from_millis(100);
/// Bodies per `RPUSH` in `publish` (all of them still go in one round trip).
const PUBLISH_CHUNK: usize = 1_000;
/// Longest lease, in ms (about 35 years): keeps `now + lease` exact in Lua's doubles.
const MAX_LEASE_MS: u64 = 1 << 40;
/// The most tasks one [`Queue::ack_and_take_many`] takes.
pub const MAX_BATCH: usize = 256;
/// The most acks one `ack_take.lua` carries (Lua's `unpack` has a limit); more are acked on their
/// own.
const MAX_ACKS: usize = 1_024;
/// A batch take takes at most `1/SPREAD` of the ready list (rounded up, at least one task), so
/// that the last tasks of a queue are shared between consumers.
const SPREAD: u64 = 4;

/// Prepends the helpers of `lib.lua` to a script of `lua/`.
macro_rules! lua {
    ($file:literal) => {
        concat!(include_str!("../lua/lib.lua"), include_str!(concat!("../lua/", $file)))
    };
}

const TAKE_LUA: &str = lua!("take.lua");
const ACK_LUA: &str = lua!("ack.lua");
const REQUEUE_LUA: &str = lua!("requeue.lua");
const EXTEND_LUA: &str = lua!("extend.lua");
const STATS_LUA: &str = lua!("stats.lua");
const REAP_LUA: &str = lua!("reap.lua");
const PURGE_LUA: &str = include_str!("../lua/purge.lua");
const ACK_TAKE_LUA: &str = lua!("ack_take.lua");

/// The scripts, hashed once; `invoke_async` sends `EVALSHA` and falls back to loading the
/// script when Redis does not know it (after a restart or `SCRIPT FLUSH`).
struct Scripts {
    take: Script,
    ack_take: Script,
    ack: Script,
    requeue: Script,
    extend: Script,
    stats: Script,
    reap: Script,
    purge: Script,
}

static SCRIPTS: LazyLock<Scripts> = LazyLock::new(|| Scripts {
    take: Script::new(TAKE_LUA),
    ack_take: Script::new(ACK_TAKE_LUA),
    ack: Script::new(ACK_LUA),
    requeue: Script::new(REQUEUE_LUA),
    extend: Script::new(EXTEND_LUA),
    stats: Script::new(STATS_LUA),
    reap: Script::new(REAP_LUA),
    purge: Script::new(PURGE_LUA),
});

/// One consumer of a Redis list queue (see the [module docs](self) for the layout and the
/// guarantees).
///
/// Each `RedisQueue` is one consumer with a random id: all tasks it takes share one lease in
/// `q:leases`, renewed by [`Queue::extend`] on any of them. Methods take `&self` and may be
/// called concurrently (share it in an `Arc`); the underlying [`ConnectionManager`] multiplexes
/// one connection and reconnects with back-off when it breaks. Dropping it releases nothing:
/// tasks it still holds return to the ready list when its lease expires.
pub struct RedisQueue {
    conn: ConnectionManager,
    /// The URL with its password redacted, for errors.
    url: String,
    /// Forms of the URL's password that must never appear in an error.
    secrets: Vec<String>,
    keys: Keys,
    consumer: String,
    /// Sequence number of the next take attempt; a successful take's number names the delivery.
    next_seq: AtomicU64,
}

/// The keys of one queue and one consumer.
#[derive(Debug)]
struct Keys {
    ready: String,
    leases: String,
    dead: String,
    ids: String,
    processing_prefix: String,
    receipts_prefix: String,
    /// This consumer's processing list.
    processing: String,
    /// This consumer's receipts set.
    receipts: String,
}

/// What an ack, requeue or extend script reported.
enum Held {
    Yes,
    No,
    /// The delivery is held, but the task's envelope (id and body) is not the one delivered.
    BodyMismatch,
}

// === impl RedisQueue ===

impl RedisQueue {
    /// Connects to the Redis at `url` (`redis://` or `rediss://`) as a new consumer of the list
    /// queue `name`.
    ///
    /// Loads the Lua scripts, so a server too old for them fails here rather than on the first
    /// `take`.
    ///
    /// # Errors
    /// [`QueueError::InvalidUrl`] for a URL redis-rs cannot use or an empty `name`,
    /// [`QueueError::Unavailable`] when Redis cannot be reached or refuses the credentials,
    /// [`QueueError::Broker`] when it rejects the scripts. No message contains the password.
    pub async fn connect(url: &str, name: &str) -> Result<RedisQueue, QueueError> {
        let redacted = redact_url(url);
        let secrets = url_secrets(url);
        if name.is_empty() {
            return Err(QueueError::InvalidUrl {
                url: redacted,
                reason: "the queue name must not be empty".into(),
            });
        }
        let client = redis::Client::open(url).map_err(|err| QueueError::InvalidUrl {
            url: redacted.clone(),
            reason: scrub(&err.to_string(), url, &redacted, &secrets),
        })?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_min_delay(RECONNECT_MIN_DELAY)
            .set_max_delay(RECONNECT_MAX_DELAY)
            .set_number_of_retries(RECONNECT_ATTEMPTS);
        let mut conn = ConnectionManager::new_with_config(client, config).await.map_err(|err| {
            QueueError::Unavailable {
                url: redacted.clone(),
                reason: scrub(&err.to_string(), url, &redacted, &secrets),
            }
        })?;
        let consumer = uuid::Uuid::new_v4().to_string();
        let queue = RedisQueue {
            keys: Keys::new(name, &consumer),
            consumer,
            url: redacted,
            next_seq: AtomicU64::new(0),
            secrets: secrets.into_iter().chain([url.to_string()]).collect(),
            conn: conn.clone(),
        };
        // One short round trip when Redis knows the scripts already (the usual case: every pod
        // of a Job connects), and the scripts' text only for those it does not.
        let scripts = [
            (&SCRIPTS.take, TAKE_LUA),
            (&SCRIPTS.ack_take, ACK_TAKE_LUA),
            (&SCRIPTS.ack, ACK_LUA),
            (&SCRIPTS.requeue, REQUEUE_LUA),
            (&SCRIPTS.extend, EXTEND_LUA),
            (&SCRIPTS.stats, STATS_LUA),
            (&SCRIPTS.reap, REAP_LUA),
            (&SCRIPTS.purge, PURGE_LUA),
        ];
        let mut exists = redis::cmd("SCRIPT");
        exists.arg("EXISTS");
        for (script, _) in &scripts {
            exists.arg(script.get_hash());
        }
        let known: Vec<bool> = exists.query_async(&mut conn).await.map_err(|err| queue.error(err))?;
        let mut load = redis::pipe();
        let mut missing = false;
        for ((_, code), known) in scripts.iter().zip(known.iter().copied().chain(std::iter::repeat(false))) {
            if !known {
                load.cmd("SCRIPT").arg("LOAD").arg(*code).ignore();
                missing = true;
            }
        }
        if missing {
            load.query_async::<()>(&mut conn).await.map_err(|err| queue.error(err))?;
        }
        tracing::debug!(url = %queue.url, queue = name, consumer = %queue.consumer, "Connected to Redis");
        Ok(queue)
    }

    /// This consumer's id: the member of `<name>:leases` and the suffix of its processing list.
    pub fn consumer_id(&self) -> &str {
        &self.consumer
    }

    /// The queue's name, which is also the key of its ready list.
    pub fn name(&self) -> &str {
        &self.keys.ready
    }

    /// Returns the tasks of every consumer whose lease expired to the head of the ready list,
    /// and returns how many went back. `take`, `extend` and `stats` do this on their own; call
    /// it when nobody takes but tasks should not sit in a dead consumer's list (for example
    /// before deciding that a queue is drained).
    pub async fn reap(&self) -> Result<u64, QueueError> {
        let returned: u64 = SCRIPTS
            .reap
            .key(&self.keys.ready)
            .key(&self.keys.leases)
            .arg(&self.keys.processing_prefix)
            .arg(&self.keys.receipts_prefix)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(|err| self.error(err))?;
        if returned > 0 {
            tracing::info!(queue = %self.keys.ready, returned, "Returned tasks of expired leases");
        }
        Ok(returned)
    }

    /// One attempt of `take`: `Ok(None)` when the ready list is empty.
    async fn try_take(&self, lease_ms: u64) -> Result<Option<Task>, QueueError> {
        let seq = self.next_seq.fetch_add(1, Ordering::Relaxed);
        let envelope: Option<Vec<u8>> = SCRIPTS
            .take
            .key(&self.keys.ready)
            .key(&self.keys.leases)
            .key(&self.keys.processing)
            .key(&self.keys.receipts)
            .key(&self.keys.ids)
            .arg(&self.keys.processing_prefix)
            .arg(&self.keys.receipts_prefix)
            .arg(&self.consumer)
            .arg(lease_ms)
            .arg(seq)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(|err| self.error(err))?;
        envelope.map(|envelope| self.delivered(envelope, seq)).transpose()
    }

    /// The task of a delivery the take scripts returned: id and body out of the envelope, and a
    /// receipt unique to this delivery.
    fn delivered(&self, envelope: Vec<u8>, seq: u64) -> Result<Task, QueueError> {
        let (id, body) = open_envelope(envelope).map_err(|envelope| {
            QueueError::Broker(format!(
                "queue {}: the take script returned a malformed envelope ({} bytes)",
                self.keys.ready,
                envelope.len()
            ))
        })?;
        Ok(Task { id, body, redeliveries: 0, receipt: format!("{}:{seq}", self.consumer) })
    }

    /// `ack_take.lua`: acks this consumer's deliveries of `done` and takes up to `max` tasks in
    /// one script (another consumer's deliveries, from before a reconnection, are acked on their
    /// own first). Each ack's result goes to `acked` (in `done`'s order); an error means that the
    /// script did not run or its answer was lost, and leaves `None` where the ack is unsettled.
    async fn ack_then_try_take(
        &self,
        done: &[Task],
        max: usize,
        lease_ms: u64,
        acked: &mut Vec<Option<Result<(), QueueError>>>,
    ) -> Result<Vec<Task>, QueueError> {
        let mut own: Vec<(usize, u64)> = Vec::with_capacity(done.len());
        for (i, task) in done.iter().enumerate() {
            match parse_receipt(&task.receipt) {
                Some((consumer, seq)) if consumer == self.consumer && own.len() < MAX_ACKS => {
                    acked.push(None);
                    own.push((i, seq));
                }
                _ => acked.push(Some(self.on_delivery(&SCRIPTS.ack, task, None).await)),
            }
        }
        let max = max.min(MAX_BATCH);
        // One sequence number per task the script may take.
        let first = self.next_seq.fetch_add(max as u64, Ordering::Relaxed);
        let mut invocation = SCRIPTS.ack_take.prepare_invoke();
        invocation
            .key(&self.keys.ready)
            .key(&self.keys.leases)
            .key(&self.keys.processing)
            .key(&self.keys.receipts)
            .key(&self.keys.ids)
            .arg(&self.keys.processing_prefix)
            .arg(&self.keys.receipts_prefix)
            .arg(&self.consumer)
            .arg(lease_ms)
            .arg(first)
            .arg(max)
            .arg(SPREAD);
        for &(i, done_seq) in &own {
            invocation.arg(done_seq).arg(envelope_of(&done[i]));
        }
        let (held, envelopes, _ready): (Vec<i64>, Vec<Vec<u8>>, u64) =
            invocation.invoke_async(&mut self.conn.clone()).await.map_err(|err| self.error(err))?;
        if held.len() != own.len() || envelopes.len() > max {
            return Err(QueueError::Broker(format!(
                "queue {}: the ack script answered {} acks for {} and {} tasks for at most {max}",
                self.keys.ready,
                held.len(),
                own.len(),
                envelopes.len()
            )));
        }
        for (&(i, _), held) in own.iter().zip(held) {
            acked[i] = Some(match Held::from_reply(held) {
                Held::Yes => Ok(()),
                Held::No => Err(QueueError::LeaseLost(done[i].id.clone())),
                Held::BodyMismatch => Err(QueueError::Broker(format!(
                    "task {}: the id or body differs from the one delivered",
                    done[i].id
                ))),
            });
        }
        envelopes.into_iter().zip(first..).map(|(envelope, seq)| self.delivered(envelope, seq)).collect()
    }

    /// Runs `ack.lua`, `requeue.lua` or `extend.lua` (which share their KEYS and first ARGV) for
    /// `task`, with `extra` appended to ARGV.
    async fn on_delivery(&self, script: &Script, task: &Task, extra: Option<u64>) -> Result<(), QueueError> {
        let (consumer, seq) = parse_receipt(&task.receipt).ok_or_else(|| {
            QueueError::Broker(format!(
                "task {}: receipt {:?} is not a Redis delivery",
                task.id, task.receipt
            ))
        })?;
        let mut invocation = script.prepare_invoke();
        invocation
            .key(&self.keys.ready)
            .key(&self.keys.leases)
            .key(format!("{}{consumer}", self.keys.processing_prefix))
            .key(format!("{}{consumer}", self.keys.receipts_prefix))
            .arg(&self.keys.processing_prefix)
            .arg(&self.keys.receipts_prefix)
            .arg(consumer)
            .arg(seq)
            .arg(envelope_of(task));
        if let Some(extra) = extra {
            invocation.arg(extra);
        }
        let held: i64 =
            invocation.invoke_async(&mut self.conn.clone()).await.map_err(|err| self.error(err))?;
        match Held::from_reply(held) {
            Held::Yes => Ok(()),
            Held::No => {
                tracing::debug!(queue = %self.keys.ready, task = %task.id, "Lease lost");
                Err(QueueError::LeaseLost(task.id.clone()))
            }
            Held::BodyMismatch => Err(QueueError::Broker(format!(
                "task {}: the id or body differs from the one delivered",
                task.id
            ))),
        }
    }

    /// Maps a redis-rs error, with credentials scrubbed from its text.
    fn error(&self, err: RedisError) -> QueueError {
        let reason = scrub(&err.to_string(), "", &self.url, &self.secrets);
        let unavailable = err.is_io_error()
            || err.is_connection_refusal()
            || err.is_connection_dropped()
            || err.is_timeout()
            || err.is_unrecoverable_error();
        if unavailable {
            QueueError::Unavailable { url: self.url.clone(), reason }
        } else {
            QueueError::Broker(reason)
        }
    }
}

impl fmt::Debug for RedisQueue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisQueue")
            .field("url", &self.url)
            .field("name", &self.keys.ready)
            .field("consumer", &self.consumer)
            .finish_non_exhaustive()
    }
}

impl Queue for RedisQueue {
    /// Appends the bodies to the tail of the ready list: `RPUSH`es of up to 1,000 bodies each in
    /// one `MULTI`/`EXEC` pipeline, so one round trip and all or nothing.
    fn publish<'a>(&'a self, bodies: &'a [Vec<u8>]) -> BoxFuture<'a, Result<(), QueueError>> {
        Box::pin(async move {
            if bodies.is_empty() {
                return Ok(());
            }
            let mut pipe = redis::pipe();
            pipe.atomic();
            for chunk in bodies.chunks(PUBLISH_CHUNK) {
                pipe.cmd("RPUSH").arg(&self.keys.ready).arg(chunk).ignore();
            }
            pipe.query_async::<()>(&mut self.conn.clone()).await.map_err(|err| self.error(err))
        })
    }

    /// Takes the head of the ready list under this consumer's lease.
    ///
    /// Waiting polls `take.lua` with a back-off from 5 ms doubling to 100 ms, bounded by `wait`,
    /// and never blocks the connection. A blocking `BLMOVE` was rejected: it would stall every
    /// other command multiplexed on the connection (including `extend`s that keep leases alive),
    /// and it cannot run inside a script, so the lease would be recorded by a separate command.
    /// Recording the lease first is not enough either: if the block outlasts the lease, a reaper
    /// drops the consumer and the item then lands in a processing list nobody will reap.
    ///
    /// Crash safety: the move into the processing list, the receipt and the lease are one
    /// script, so whatever point the process dies at (or the reply is lost), the task is either
    /// still ready or leased to this consumer and returned when the lease expires.
    fn take(&self, lease: Duration, wait: Duration) -> BoxFuture<'_, Result<Option<Task>, QueueError>> {
        Box::pin(async move {
            let lease_ms = u64::try_from(lease.as_millis()).unwrap_or(u64::MAX).clamp(1, MAX_LEASE_MS);
            let deadline = Instant::now() + wait;
            let mut pauses = Backoff::new(POLL_MIN, POLL_MAX);
            loop {
                if let Some(task) = self.try_take(lease_ms).await? {
                    return Ok(Some(task));
                }
                let now = Instant::now();
                if now >= deadline {
                    return Ok(None);
                }
                tokio::time::sleep(pauses.next_delay().min(deadline - now)).await;
            }
        })
    }

    /// Acks and takes in one round trip (`ack_take.lua`); when nothing is ready it goes on
    /// waiting like [`Queue::take`].
    fn ack_and_take<'a>(
        &'a self,
        done: &'a [Task],
        lease: Duration,
        wait: Duration,
    ) -> BoxFuture<'a, AckAndTake> {
        Box::pin(async move {
            let (acked, taken) = self.ack_and_take_many(done, 1, lease, wait).await;
            (acked, taken.map(|tasks| tasks.into_iter().next()))
        })
    }

    /// Acks and takes up to `max` tasks (at most [`MAX_BATCH`], and at most a quarter of the
    /// ready list, rounded up) in one round trip (`ack_take.lua`); when nothing is ready it goes
    /// on polling the same script, without the acks, like [`Queue::take`]. `max` 0 only acks.
    fn ack_and_take_many<'a>(
        &'a self,
        done: &'a [Task],
        max: usize,
        lease: Duration,
        wait: Duration,
    ) -> BoxFuture<'a, AckAndTakeMany> {
        Box::pin(async move {
            let lease_ms = u64::try_from(lease.as_millis()).unwrap_or(u64::MAX).clamp(1, MAX_LEASE_MS);
            let deadline = Instant::now() + wait;
            let mut acked = Vec::with_capacity(done.len());
            let mut next = self.ack_then_try_take(done, max, lease_ms, &mut acked).await;
            let mut pauses = Backoff::new(POLL_MIN, POLL_MAX);
            while max > 0 && matches!(&next, Ok(tasks) if tasks.is_empty()) {
                let now = Instant::now();
                if now >= deadline {
                    break;
                }
                tokio::time::sleep(pauses.next_delay().min(deadline - now)).await;
                next = self.ack_then_try_take(&[], max, lease_ms, &mut Vec::new()).await;
            }
            // Acks the script did not settle (it did not run, or its reply was lost) are settled
            // on their own.
            let mut results = Vec::with_capacity(done.len());
            for (task, ack) in done.iter().zip(acked.into_iter().chain(std::iter::repeat_with(|| None))) {
                results.push(match ack {
                    Some(result) => result,
                    None => self.on_delivery(&SCRIPTS.ack, task, None).await,
                });
            }
            (results, next)
        })
    }

    /// Removes the delivery for good (`ack.lua`). Does not reap first: a lease that expired but
    /// was not reaped still excludes everyone else, so the ack is exact.
    fn ack<'a>(&'a self, task: &'a Task) -> BoxFuture<'a, Result<(), QueueError>> {
        Box::pin(self.on_delivery(&SCRIPTS.ack, task, None))
    }

    /// Puts the task's envelope back at the head of the ready list (`requeue.lua`): its next take
    /// has the same id.
    fn requeue<'a>(&'a self, task: &'a Task) -> BoxFuture<'a, Result<(), QueueError>> {
        Box::pin(self.on_delivery(&SCRIPTS.requeue, task, None))
    }

    /// Reaps, then pushes this consumer's lease expiry to at least now + `lease` (`extend.lua`).
    /// The lease is shared by all deliveries of the consumer, so it never shrinks. Fails with
    /// [`QueueError::LeaseLost`] once the lease expired: the task is back in the ready list.
    fn extend<'a>(&'a self, task: &'a Task, lease: Duration) -> BoxFuture<'a, Result<(), QueueError>> {
        let lease_ms = u64::try_from(lease.as_millis()).unwrap_or(u64::MAX).clamp(1, MAX_LEASE_MS);
        Box::pin(self.on_delivery(&SCRIPTS.extend, task, Some(lease_ms)))
    }

    /// Reaps, then counts (`stats.lua`): `in_flight` sums the processing lists of consumers
    /// holding leases and `consumers` counts those consumers (idle ones hold none).
    fn stats(&self) -> BoxFuture<'_, Result<Stats, QueueError>> {
        Box::pin(async move {
            let (ready, in_flight, consumers, dead_lettered, reaped): (u64, u64, u64, u64, u64) = SCRIPTS
                .stats
                .key(&self.keys.ready)
                .key(&self.keys.leases)
                .key(&self.keys.dead)
                .arg(&self.keys.processing_prefix)
                .arg(&self.keys.receipts_prefix)
                .invoke_async(&mut self.conn.clone())
                .await
                .map_err(|err| self.error(err))?;
            if reaped > 0 {
                tracing::info!(queue = %self.keys.ready, returned = reaped, "Returned tasks of expired leases");
            }
            Ok(Stats { ready, in_flight: Some(in_flight), consumers: Some(consumers), dead_lettered })
        })
    }

    /// Deletes the ready list (`purge.lua`); tasks in flight stay leased and can still be acked.
    fn purge(&self) -> BoxFuture<'_, Result<u64, QueueError>> {
        Box::pin(async move {
            SCRIPTS
                .purge
                .key(&self.keys.ready)
                .invoke_async(&mut self.conn.clone())
                .await
                .map_err(|err| self.error(err))
        })
    }
}

// === impl Keys ===

impl Keys {
    fn new(name: &str, consumer: &str) -> Keys {
        let processing_prefix = format!("{name}:processing:");
        let receipts_prefix = format!("{name}:receipts:");
        Keys {
            ready: name.to_string(),
            leases: format!("{name}:leases"),
            dead: format!("{name}:dead"),
            ids: format!("{name}:ids"),
            processing: format!("{processing_prefix}{consumer}"),
            receipts: format!("{receipts_prefix}{consumer}"),
            processing_prefix,
            receipts_prefix,
        }
    }
}

// === impl Held ===

impl Held {
    fn from_reply(reply: i64) -> Held {
        match reply {
            1 => Held::Yes,
            -1 => Held::BodyMismatch,
            _ => Held::No,
        }
    }
}

// === helpers ===

/// The first bytes of an envelope (see "Task ids" in the [module docs](self)); `lib.lua` has
/// the same.
const ENVELOPE_MARKER: &[u8] = b"\0drover\0";

/// The envelope a take stored for `task`: marker, id, NUL, body.
fn envelope_of(task: &Task) -> Vec<u8> {
    let mut envelope = Vec::with_capacity(ENVELOPE_MARKER.len() + task.id.len() + 1 + task.body.len());
    envelope.extend_from_slice(ENVELOPE_MARKER);
    envelope.extend_from_slice(task.id.as_bytes());
    envelope.push(0);
    envelope.extend_from_slice(&task.body);
    envelope
}

/// Envelope → (id, body); the envelope back when it is not one (the take scripts only return
/// envelopes, whose ids are ASCII).
fn open_envelope(mut envelope: Vec<u8>) -> Result<(String, Vec<u8>), Vec<u8>> {
    let Some(rest) = envelope.strip_prefix(ENVELOPE_MARKER) else {
        return Err(envelope);
    };
    let Some(nul) = rest.iter().position(|&byte| byte == 0).filter(|&nul| nul > 0) else {
        return Err(envelope);
    };
    let Ok(id) = std::str::from_utf8(&rest[..nul]).map(str::to_string) else {
        return Err(envelope);
    };
    envelope.drain(..ENVELOPE_MARKER.len() + nul + 1);
    Ok((id, envelope))
}

/// `<consumer>:<seq>` → (consumer, seq).
fn parse_receipt(receipt: &str) -> Option<(&str, u64)> {
    let (consumer, seq) = receipt.rsplit_once(':')?;
    if consumer.is_empty() {
        return None;
    }
    Some((consumer, seq.parse().ok()?))
}

/// The forms in which the URL's password (or lone credential) could leak into an error text:
/// as written and percent-decoded.
pub(crate) fn url_secrets(url: &str) -> Vec<String> {
    let Some((_, rest)) = url.split_once("://") else {
        return Vec::new();
    };
    let authority = &rest[..rest.find('/').unwrap_or(rest.len())];
    let Some(at) = authority.rfind('@') else {
        return Vec::new();
    };
    let creds = &authority[..at];
    let secret = creds.split_once(':').map_or(creds, |(_, password)| password);
    let mut secrets = vec![secret.to_string(), percent_decode(secret)];
    secrets.retain(|secret| !secret.is_empty());
    secrets.dedup();
    secrets
}

/// Replaces the whole URL with its redacted form, then every secret with `***`.
pub(crate) fn scrub(text: &str, url: &str, redacted: &str, secrets: &[String]) -> String {
    let mut text = if url.is_empty() { text.to_string() } else { text.replace(url, redacted) };
    for secret in secrets {
        if secret.contains("://") {
            text = text.replace(secret.as_str(), redacted);
        } else {
            text = text.replace(secret.as_str(), "***");
        }
    }
    text
}

/// Decodes `%XX` escapes; anything malformed is kept as written.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|hex| std::str::from_utf8(hex).ok());
        match (bytes[i], hex.and_then(|hex| u8::from_str_radix(hex, 16).ok())) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receipts_round_trip() {
        assert_eq!(parse_receipt("5b1c-aa:42"), Some(("5b1c-aa", 42)));
        assert_eq!(parse_receipt("42"), None);
        assert_eq!(parse_receipt(":42"), None);
        assert_eq!(parse_receipt("c:x"), None);
    }

    #[test]
    fn envelopes_round_trip() {
        let task = Task {
            id: "1733400000123-7".into(),
            body: b"a\0b".to_vec(),
            redeliveries: 0,
            receipt: String::new(),
        };
        let envelope = envelope_of(&task);
        assert_eq!(envelope, b"\0drover\x001733400000123-7\0a\0b");
        assert_eq!(open_envelope(envelope), Ok((task.id.clone(), task.body.clone())));
        let empty = Task { body: Vec::new(), ..task };
        assert_eq!(open_envelope(envelope_of(&empty)), Ok((empty.id.clone(), Vec::new())));
        assert!(open_envelope(b"apple".to_vec()).is_err());
        assert!(open_envelope(b"\0drover\0\0body".to_vec()).is_err(), "an empty id");
        assert!(open_envelope(b"\0drover\0no-nul".to_vec()).is_err());
    }

    #[test]
    fn secrets_cover_raw_and_decoded_passwords() {
        assert_eq!(
            url_secrets("redis://:p%40ss@host:6379/0"),
            vec!["p%40ss".to_string(), "p@ss".to_string()]
        );
        assert_eq!(url_secrets("redis://user:pw@host"), vec!["pw".to_string()]);
        assert_eq!(url_secrets("redis://token@host"), vec!["token".to_string()]);
        assert!(url_secrets("redis://host:6379").is_empty());
        let secrets = url_secrets("redis://u:hunter2@h");
        assert_eq!(
            scrub(
                "failed redis://u:hunter2@h: bad hunter2",
                "redis://u:hunter2@h",
                "redis://u:***@h",
                &secrets
            ),
            "failed redis://u:***@h: bad ***"
        );
    }

    #[test]
    fn scripts_include_the_helpers() {
        assert!(TAKE_LUA.contains("local function drover_reap"));
        assert!(TAKE_LUA.contains("LMOVE"));
    }
}
