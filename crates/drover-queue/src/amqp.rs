//! RabbitMQ work queue ([`AmqpQueue`]) over lapin: one durable queue, persistent messages with
//! publisher confirms, one manual-ack consumer per [`AmqpQueue`] with a prefetch window.
//!
//! This module owns the AMQP connection, its channels and the map of deliveries handed out and
//! not yet settled. It never talks to the management HTTP API (it may not be enabled), so it
//! cannot count tasks in flight ([`Stats::in_flight`] is `None`).
//!
//! # Design
//!
//! - **Consume, not get.** [`Queue::take`] reads from a consumer (`basic.consume`, manual ack)
//!   created lazily by the first `take`. The broker pushes, so a waiting `take` wakes up as soon as
//!   a task is published and an empty queue costs nothing (no polling loop). `basic.get` would
//!   cost a round trip per task, ignore prefetch and turn an empty queue into a polling loop.
//! - **Prefetch** (`basic.qos`, per consumer) caps how many deliveries the broker hands to this
//!   consumer before they are acked. The default is 1, which gives Kubernetes work-queue semantics
//!   (S86: a pod takes one item, works on it, acks it and exits; nobody holds items it has not
//!   started). Raise it with [`AmqpQueue::with_prefetch`] when one process takes many tasks in a
//!   row: deliveries then arrive while earlier ones are being processed, at the price of holding
//!   up to `prefetch` tasks that other workers cannot take.
//! - **Batches and multiple acks.** [`Queue::ack_and_take_many`] returns the delivery it waited
//!   for and whatever else has already arrived (within the prefetch), each with its own
//!   receipt. Its acks go as one `basic.ack` with `multiple` per run of deliveries of one
//!   channel, from the oldest this instance holds there up to the first it was not asked to
//!   ack: every delivery of the channel up to that tag has been handed out by a take (a channel
//!   delivers in order) and is either in the run or settled already, so the multiple ack acks
//!   exactly the run and nothing still held. A lock keeps every ack and reject in the order it
//!   was decided, so a multiple ack never overtakes a reject it would otherwise cover.
//! - **Leases.** RabbitMQ keeps a delivery ours while the channel that delivered it is open; there
//!   is no per-message lease, so the `lease` arguments are ignored. [`Queue::extend`] only checks
//!   that the channel is alive. A delivery is settled with `basic.ack` / `basic.reject` on the
//!   channel that delivered it; if that channel or its connection closed, the broker has already
//!   requeued the message and [`Queue::ack`], [`Queue::requeue`] and [`Queue::extend`] return
//!   [`QueueError::LeaseLost`]. The receipt is `<consumer-tag>:<delivery-tag>`; the consumer tag
//!   is fresh for every channel, so a receipt from a dead channel can never settle a delivery of
//!   a newer one.
//! - **Reconnection.** When the connection is found dead, the next `take`, `publish`, `stats` or
//!   `purge` reconnects, with exponential back-off from 100 ms to 5 s shared by all callers.
//!   `take` keeps retrying within its `wait`; the others within the reconnect timeout (10 s by
//!   default, [`AmqpQueue::with_reconnect_timeout`]). Deliveries of the lost connection are gone
//!   (the broker requeued them, marked redelivered). `publish` never retries a batch after a
//!   failure, since part of it may already be queued.
//!
//! # Deployment: the consumer (delivery acknowledgement) timeout
//!
//! RabbitMQ closes a channel whose oldest unacked delivery is older than `consumer_timeout`
//! (30 minutes by default in 3.10; since 3.8.15). The close requeues every unacked delivery on the
//! channel: a task that runs longer than the timeout is redelivered to another worker while the
//! first is still running, and the first one's ack fails with [`QueueError::LeaseLost`]. In 3.10
//! the setting is global, in `rabbitmq.conf` (milliseconds); raise it above the longest task:
//!
//! ```text
//! # /etc/rabbitmq/rabbitmq.conf: 24 hours
//! consumer_timeout = 86400000
//! ```
//!
//! Newer RabbitMQ versions (3.11.15 and later) also accept it per queue (the `consumer-timeout`
//! policy key or the `x-consumer-timeout` queue argument) and per consumer; 3.10 does not.
//!
//! # Other caveats
//!
//! - A delivery that arrives just after a `take` timed out waits in this process's buffer for
//!   the next `take`. If the [`AmqpQueue`] is dropped instead, the broker requeues it marked
//!   redelivered, so it is then seen with `redeliveries == 1` although nobody processed it. At
//!   most `prefetch` tasks are affected.
//! - `redeliveries` is 1 when the broker's `redelivered` flag is set and 0 otherwise, because
//!   classic queues do not count deliveries. Quorum queues do (`x-delivery-count` header); when
//!   that header is present it is used instead.
//! - Task ids are the AMQP `message_id`, which [`Queue::publish`] sets to a fresh UUID (v4) per
//!   task, so equal bodies published by Drover are distinct tasks. The broker keeps the property
//!   through every redelivery (a requeue, a lost connection), so the id is stable. A message
//!   published by another tool without a `message_id` (the Kubernetes docs' `amqp-publish`) gets
//!   `sha256:<hex digest of the body>`, also stable across redeliveries; but equal bodies from
//!   such a publisher share an id, so they are counted as one task in the Job's accounting
//!   (each of them still runs). A foreign publisher that sets `message_id` must make it unique
//!   per task: messages sharing one are one task for the accounting.
//! - [`Queue::publish`] waits for every confirm without a time limit: a broker under a memory or
//!   disk alarm blocks publishers until the alarm clears. Wrap the call in a timeout if needed.
//! - A task taken and then neither acked nor requeued stays leased until the connection closes.
//! - `amqps://` needs a TLS feature of lapin, which this crate does not enable.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use futures::{FutureExt as _, StreamExt};
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
    BasicRejectOptions, ConfirmSelectOptions, QueueDeclareOptions, QueuePurgeOptions,
};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::uri::AMQPUri;
use lapin::{
    Acker, BasicProperties, Channel, ChannelStatus, Confirmation, Connection, ConnectionProperties, Consumer,
    ErrorKind,
};
use sha2::{Digest, Sha256};
use tokio::time::{Instant, sleep, sleep_until, timeout_at};
use uuid::Uuid;

use drover_api::retry::Backoff;

use crate::{BoxFuture, Queue, QueueError, Stats, Task, redact_url};

/// Prefetch used unless [`AmqpQueue::with_prefetch`] says otherwise.
pub const DEFAULT_PREFETCH: u16 = 1;
/// How long `publish`, `stats` and `purge` keep trying to reconnect, unless
/// [`AmqpQueue::with_reconnect_timeout`] says otherwise.
pub const DEFAULT_RECONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// First pause between reconnection attempts.
const BACKOFF_MIN: Duration = Duration::from_millis(100);
/// Longest pause between reconnection attempts.
const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// A connection attempt gets at least this long, even when the caller's wait is shorter, so that
/// a `take` with a tiny wait can still reconnect.
const ATTEMPT_FLOOR: Duration = Duration::from_secs(1);
/// Stands in for "no deadline" when a wait would overflow the clock (as tokio's timers do).
const FAR_FUTURE: Duration = Duration::from_secs(86_400 * 365 * 30);

/// AMQP reply codes we react to.
const NOT_FOUND: u16 = 404;
const PRECONDITION_FAILED: u16 = 406;

/// A RabbitMQ queue used as a Drover work queue. See the [module docs](self) for the design.
///
/// Cheap to share behind an `Arc`; every method may be called concurrently. Concurrent
/// [`Queue::take`] calls on one instance share its single consumer and are served one at a time.
/// Dropping it closes the connection, and the broker requeues every task taken and not acked.
pub struct AmqpQueue {
    uri: AMQPUri,
    redactor: Redactor,
    name: String,
    queue: ShortString,
    /// The consumer's limit of unacked deliveries (per consumer, set when it starts).
    prefetch: u16,
    /// The channel's limit, at most `prefetch`, changed on the fly ([`Queue::set_max_unacked`]).
    unacked_limit: std::sync::atomic::AtomicU16,
    reconnect_timeout: Duration,
    /// The current connection, if any (it may have died since).
    current: Mutex<Option<Arc<Session>>>,
    /// Held while reconnecting, so that one caller reconnects and the others wait.
    reconnect: tokio::sync::Mutex<Reconnect>,
    /// The consumer; held by a `take` for as long as it waits.
    consumer: tokio::sync::Mutex<Option<ActiveConsumer>>,
    /// Deliveries handed out by `take` and not yet settled, by receipt.
    leases: Mutex<HashMap<String, Lease>>,
    /// Deliveries a [`Queue::quiesce`] found in the stopped consumer, leased already: the next
    /// takes return them first.
    buffered: Mutex<std::collections::VecDeque<Task>>,
    /// Held while a settlement is decided and sent, so that acks and rejects reach the broker in
    /// the order they were decided in (a multiple ack must never overtake a reject it would
    /// cover).
    settling: tokio::sync::Mutex<()>,
    /// Numbers the consuming channels, so that deliveries of one channel can be told apart
    /// from another's (delivery tags are per channel).
    channels: std::sync::atomic::AtomicU64,
}

impl AmqpQueue {
    /// Connects to the broker at `url` (`amqp://user:password@host:port/vhost`, the vhost
    /// percent-encoded: `%2f` is `/`) and declares the durable queue `name`.
    ///
    /// If the queue already exists with other properties (declared by a user, by
    /// `amqp-declare-queue`, as a quorum queue, with a dead-letter exchange...), it is used as
    /// it is. Makes one connection attempt, bounded by [`DEFAULT_RECONNECT_TIMEOUT`].
    ///
    /// # Errors
    /// [`QueueError::InvalidUrl`] for a URL lapin cannot parse or a queue name that is empty or
    /// longer than 255 bytes; [`QueueError::Unavailable`] if the broker cannot be reached;
    /// [`QueueError::Broker`] if it refuses the login (`ACCESS_REFUSED`, which retrying does not
    /// fix) or the queue cannot be declared.
    pub async fn connect(url: &str, name: &str) -> Result<AmqpQueue, QueueError> {
        let redacted = redact_url(url);
        let mut redactor = Redactor { raw: url.to_string(), redacted: redacted.clone(), secrets: Vec::new() };
        if let Some(password) = password_in(url) {
            redactor.secrets.push(password.to_string());
        }
        let uri: AMQPUri = url.parse().map_err(|reason: String| QueueError::InvalidUrl {
            url: redacted.clone(),
            reason: redactor.scrub(&reason),
        })?;
        redactor.secrets.push(uri.authority.userinfo.password.clone());
        redactor.secrets.retain(|s| !s.is_empty());
        let queue = match ShortString::try_new(name) {
            Ok(queue) if !name.is_empty() => queue,
            _ => {
                return Err(QueueError::InvalidUrl {
                    url: redacted,
                    reason: format!("the queue name must be 1 to 255 bytes long, not {}", name.len()),
                });
            }
        };
        let this = AmqpQueue {
            uri,
            redactor,
            name: name.to_string(),
            queue,
            prefetch: DEFAULT_PREFETCH,
            unacked_limit: std::sync::atomic::AtomicU16::new(DEFAULT_PREFETCH),
            reconnect_timeout: DEFAULT_RECONNECT_TIMEOUT,
            current: Mutex::new(None),
            reconnect: tokio::sync::Mutex::new(Reconnect::default()),
            consumer: tokio::sync::Mutex::new(None),
            leases: Mutex::new(HashMap::new()),
            buffered: Mutex::new(std::collections::VecDeque::new()),
            settling: tokio::sync::Mutex::new(()),
            channels: std::sync::atomic::AtomicU64::new(0),
        };
        let session = match tokio::time::timeout(DEFAULT_RECONNECT_TIMEOUT, this.open_session()).await {
            Ok(session) => session?,
            Err(_) => return Err(this.unavailable("timed out connecting")),
        };
        this.declare(&session.conn).await?;
        *lock(&this.current) = Some(session);
        Ok(this)
    }

    /// Sets the prefetch (`basic.qos`): how many tasks the broker may hand this instance before
    /// they are acked. 0 is taken as 1 (AMQP's 0 means "unlimited", which would let one worker
    /// hoard the queue). Applies to the consumer, which the first [`Queue::take`] creates, so set
    /// it right after [`AmqpQueue::connect`].
    #[must_use]
    pub fn with_prefetch(mut self, prefetch: u16) -> Self {
        self.prefetch = prefetch.max(1);
        self.unacked_limit = std::sync::atomic::AtomicU16::new(self.prefetch);
        self
    }

    /// [`with_prefetch`](Self::with_prefetch) `max`, starting with a limit of `start` unacked
    /// deliveries that [`Queue::set_max_unacked`] may then move between 1 and `max` while the
    /// consumer runs (a per-channel `basic.qos`, which RabbitMQ applies at once, under the
    /// per-consumer one).
    #[must_use]
    pub fn with_prefetch_range(self, start: u16, max: u16) -> Self {
        let this = self.with_prefetch(max.max(start));
        this.unacked_limit.store(start.max(1), std::sync::atomic::Ordering::Relaxed);
        this
    }

    /// The prefetch the consumer uses (its most unacked deliveries).
    pub fn prefetch(&self) -> u16 {
        self.prefetch
    }

    fn unacked_limit(&self) -> u16 {
        self.unacked_limit.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Sets how long `publish`, `stats` and `purge` keep trying to reconnect to a broker that went
    /// away before they fail with [`QueueError::Unavailable`]. `take` uses its `wait` instead.
    #[must_use]
    pub fn with_reconnect_timeout(mut self, timeout: Duration) -> Self {
        self.reconnect_timeout = timeout;
        self
    }

    /// The queue's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Closes the connection gracefully. The broker requeues every task taken and not acked;
    /// acking them afterwards fails with [`QueueError::LeaseLost`]. A later call reconnects.
    ///
    /// # Errors
    /// [`QueueError::Unavailable`] if the close handshake failed (the broker requeues the tasks
    /// all the same once it notices the connection is gone).
    pub async fn close(&self) -> Result<(), QueueError> {
        let session = lock(&self.current).take();
        lock(&self.leases).clear();
        lock(&self.buffered).clear();
        match session {
            Some(session) if session.alive() => session
                .conn
                .close(200, "OK".into())
                .await
                .map_err(|e| self.error("closing the connection", &e)),
            _ => Ok(()),
        }
    }

    /// Closes the connection as if it had been lost, without forgetting it, so that tests can
    /// check that the next call reconnects and that earlier deliveries are lost.
    #[doc(hidden)]
    pub async fn close_connection_for_test(&self) {
        let session = lock(&self.current).clone();
        if let Some(session) = session {
            let _ = session.conn.close(200, "closed by a test".into()).await;
        }
    }

    // === publish ===

    async fn publish_all(&self, bodies: &[Vec<u8>]) -> Result<(), QueueError> {
        if bodies.is_empty() {
            return Ok(());
        }
        let session = self.session(deadline_after(self.reconnect_timeout)).await?;
        let channel = self.publisher(&session).await?;
        let options = BasicPublishOptions { mandatory: true, ..BasicPublishOptions::default() };
        let mut confirms = Vec::with_capacity(bodies.len());
        for body in bodies {
            let properties = BasicProperties::default()
                .with_delivery_mode(2)
                .with_message_id(Uuid::new_v4().to_string().into());
            let confirm = channel
                .basic_publish("".into(), self.queue.clone(), options, body, properties)
                .await
                .map_err(|e| self.error(&format!("publishing to queue {}", self.name), &e))?;
            confirms.push(confirm);
        }
        let (mut nacked, mut returned) = (0usize, 0usize);
        for confirm in confirms {
            match confirm.await {
                Ok(Confirmation::Ack(None)) => {}
                Ok(Confirmation::Ack(Some(_))) => returned += 1,
                Ok(Confirmation::Nack(_)) => nacked += 1,
                Ok(Confirmation::NotRequested) => {
                    return Err(QueueError::Broker(
                        "publisher confirms are not enabled on the channel".into(),
                    ));
                }
                Err(e) => return Err(self.error("waiting for publisher confirms", &e)),
            }
        }
        if nacked + returned > 0 {
            return Err(QueueError::Broker(format!(
                "the broker did not take {} of {} tasks for queue {} ({nacked} nacked, {returned} \
                 unroutable: was the queue deleted?)",
                nacked + returned,
                bodies.len(),
                self.name
            )));
        }
        Ok(())
    }

    /// The session's confirm-mode channel, (re)opened if needed.
    async fn publisher(&self, session: &Session) -> Result<Channel, QueueError> {
        if let Some(channel) = lock(&session.publisher).as_ref().filter(|c| c.status().connected()) {
            return Ok(channel.clone());
        }
        let channel = self.open_channel(&session.conn).await?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(|e| self.error("enabling publisher confirms", &e))?;
        *lock(&session.publisher) = Some(channel.clone());
        Ok(channel)
    }

    // === take ===

    async fn take_one(&self, wait: Duration) -> Result<Option<Task>, QueueError> {
        Ok(self.take_up_to(1, wait).await?.into_iter().next())
    }

    /// Takes one delivery (waiting up to `wait` for it), then up to `max - 1` more that have
    /// already arrived (RabbitMQ pushed them, within the prefetch), without waiting.
    async fn take_up_to(&self, max: usize, wait: Duration) -> Result<Vec<Task>, QueueError> {
        if max == 0 {
            return Ok(Vec::new());
        }
        let deadline = deadline_after(wait);
        let Ok(mut slot) = timeout_at(deadline, self.consumer.lock()).await else {
            // Another take holds the consumer for at least as long as our wait.
            return Ok(Vec::new());
        };
        // What a quiesce kept, while its channel lives (else the broker requeued it).
        let mut kept = Vec::new();
        while kept.len() < max {
            let Some(task) = lock(&self.buffered).pop_front() else { break };
            if lock(&self.leases).get(&task.receipt).is_some_and(Lease::alive) {
                kept.push(task);
            }
        }
        if !kept.is_empty() {
            return Ok(kept);
        }
        // A quiesced consumer consumes again, on the same channel (which holds its leases).
        if let Some(active) = slot.as_mut().filter(|a| a.cancelled && a.alive()) {
            match self.consume_on(&active.session, active.channel.clone(), active.channel_no).await {
                Ok(fresh) => *active = fresh,
                Err(_) => *slot = None,
            }
        }
        let mut attempts = 0u32;
        let mut last_error = None;
        loop {
            if !slot.as_ref().is_some_and(ActiveConsumer::alive) {
                *slot = None;
                self.forget_dead_leases();
                if attempts > 0 {
                    let pause = backoff(attempts);
                    if Instant::now() + pause > deadline {
                        return last_error.map_or(Ok(Vec::new()), Err);
                    }
                    sleep(pause).await;
                }
                attempts += 1;
                let session = self.session(deadline).await?;
                match self.start_consumer(&session).await {
                    Ok(active) => *slot = Some(active),
                    // The broker refused (no such queue, access refused): retrying will not help.
                    Err(e) if session.alive() => return Err(e),
                    Err(e) => {
                        last_error = Some(e);
                        continue;
                    }
                }
            }
            let Some(active) = slot.as_mut() else { continue };
            match timeout_at(deadline, active.consumer.next()).await {
                Err(_) => return Ok(Vec::new()),
                Ok(Some(Ok(delivery))) => {
                    let mut tasks = vec![self.lease(active, delivery)];
                    // What has arrived already; a consumer that failed or ended meanwhile is
                    // restarted by the next take.
                    let mut ended = false;
                    while tasks.len() < max {
                        match active.consumer.next().now_or_never() {
                            Some(Some(Ok(delivery))) => tasks.push(self.lease(active, delivery)),
                            Some(Some(Err(e))) => {
                                tracing::warn!(queue = %self.name, error = %self.redactor.scrub(&e.to_string()),
                                    "RabbitMQ consumer failed; restarting it");
                                ended = true;
                                break;
                            }
                            Some(None) => {
                                ended = true;
                                break;
                            }
                            None => break,
                        }
                    }
                    if ended {
                        *slot = None;
                    }
                    return Ok(tasks);
                }
                Ok(Some(Err(e))) => {
                    tracing::warn!(queue = %self.name, error = %self.redactor.scrub(&e.to_string()),
                        "RabbitMQ consumer failed; restarting it");
                    last_error = Some(self.error("consuming", &e));
                    *slot = None;
                }
                Ok(None) => {
                    tracing::info!(queue = %self.name, "RabbitMQ cancelled the consumer; restarting it");
                    *slot = None;
                }
            }
        }
    }

    /// Stops the consumer and keeps what it was sent: once the broker confirms the cancel, every
    /// delivery it sent before has arrived (a channel keeps its order), so nothing is in transit
    /// to this instance any more. The deliveries found are leased and returned by the next takes;
    /// the first take that finds none consumes again. Returns how many are buffered.
    async fn quiesce_now(&self) -> Result<usize, QueueError> {
        let mut slot = self.consumer.lock().await;
        if let Some(active) = slot.as_mut().filter(|a| !a.cancelled && a.alive()) {
            active
                .channel
                .basic_cancel(active.tag.as_str().into(), BasicCancelOptions::default())
                .await
                .map_err(|e| self.error("cancelling the consumer", &e))?;
            active.cancelled = true;
            // Everything sent before the cancel-ok is in the consumer's buffer now.
            while let Ok(Some(Ok(delivery))) =
                tokio::time::timeout(QUIESCE_DRAIN, active.consumer.next()).await
            {
                let task = self.lease(active, delivery);
                lock(&self.buffered).push_back(task);
            }
        }
        Ok(lock(&self.buffered).len())
    }

    async fn start_consumer(&self, session: &Arc<Session>) -> Result<ActiveConsumer, QueueError> {
        let channel = self.open_channel(&session.conn).await?;
        channel
            .basic_qos(self.prefetch, BasicQosOptions::default())
            .await
            .map_err(|e| self.error("setting the prefetch", &e))?;
        let limit = self.unacked_limit();
        if limit < self.prefetch {
            channel
                .basic_qos(limit, BasicQosOptions { global: true })
                .await
                .map_err(|e| self.error("setting the channel's prefetch", &e))?;
        }
        let channel_no = self.channels.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.consume_on(session, channel, channel_no).await
    }

    /// A consumer on `channel` (its prefetch set already), the consuming channel numbered
    /// `channel_no`.
    async fn consume_on(
        &self,
        session: &Arc<Session>,
        channel: Channel,
        channel_no: u64,
    ) -> Result<ActiveConsumer, QueueError> {
        let tag = format!("drover-{}", Uuid::new_v4().simple());
        let consumer = channel
            .basic_consume(
                self.queue.clone(),
                tag.as_str().into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(|e| self.error(&format!("consuming from queue {}", self.name), &e))?;
        Ok(ActiveConsumer { session: session.clone(), channel, channel_no, consumer, tag, cancelled: false })
    }

    /// Records a delivery as leased and turns it into a [`Task`].
    fn lease(&self, active: &ActiveConsumer, delivery: Delivery) -> Task {
        let Delivery { delivery_tag, redelivered, properties, data, acker, .. } = delivery;
        let receipt = format!("{}:{delivery_tag}", active.tag);
        let id = match properties.message_id() {
            Some(id) if !id.as_str().is_empty() => id.to_string(),
            _ => content_id(&data),
        };
        let redeliveries = delivery_count(&properties).unwrap_or(0).max(u32::from(redelivered));
        let lease = Lease {
            acker,
            channel: active.channel.status().clone(),
            channel_no: active.channel_no,
            tag: delivery_tag,
        };
        lock(&self.leases).insert(receipt.clone(), lease);
        Task { id, body: data, redeliveries, receipt }
    }

    /// Drops the leases of closed channels (the broker requeued those deliveries).
    fn forget_dead_leases(&self) {
        lock(&self.leases).retain(|_, lease| lease.alive());
    }

    // === ack, requeue, extend ===

    async fn settle(&self, task: &Task, requeue: bool) -> Result<(), QueueError> {
        let _order = self.settling.lock().await;
        self.settle_in_order(task, requeue).await
    }

    /// [`AmqpQueue::settle`], the caller holding `settling`.
    async fn settle_in_order(&self, task: &Task, requeue: bool) -> Result<(), QueueError> {
        let lease = lock(&self.leases).remove(&task.receipt);
        let Some(lease) = lease.filter(Lease::alive) else {
            return Err(QueueError::LeaseLost(task.id.clone()));
        };
        let result = if requeue {
            lease.acker.reject(BasicRejectOptions { requeue: true }).await
        } else {
            lease.acker.ack(BasicAckOptions::default()).await
        };
        self.settled(task, result)
    }

    fn settled(&self, task: &Task, result: lapin::Result<bool>) -> Result<(), QueueError> {
        match result {
            Ok(true) => Ok(()),
            Ok(false) => Err(QueueError::LeaseLost(task.id.clone())),
            Err(e) => {
                tracing::debug!(task = %task.id, error = %self.redactor.scrub(&e.to_string()),
                    "Settling a RabbitMQ delivery failed; its channel is gone");
                Err(QueueError::LeaseLost(task.id.clone()))
            }
        }
    }

    /// Acks every task of `done`; returns each ack's result in `done`'s order.
    ///
    /// Where it is safe, one `basic.ack` with `multiple` acks a run of them: on each channel, the
    /// deliveries this instance holds there, in delivery-tag order, from the oldest up to the
    /// first that is not in `done`. `multiple` acks every unacked delivery of the channel up to
    /// its tag, and every delivery of a channel up to a tag this instance handed out has passed
    /// through [`AmqpQueue::lease`] (a channel delivers in order, and a take returns deliveries
    /// in that order), so the ones not held any more were settled already (acked or rejected
    /// earlier, which `settling` keeps in order): the multiple ack acks exactly the run. Every
    /// other delivery of `done` is acked on its own.
    async fn ack_all(&self, done: &[Task]) -> Vec<Result<(), QueueError>> {
        let _order = self.settling.lock().await;
        let mut results: Vec<Option<Result<(), QueueError>>> = (0..done.len()).map(|_| None).collect();
        let runs = {
            let mut leases = lock(&self.leases);
            let wanted: HashMap<&str, usize> =
                done.iter().enumerate().map(|(i, task)| (task.receipt.as_str(), i)).collect();
            // Per channel of a delivery in `done`: its live deliveries, by tag.
            let mut channels: HashMap<u64, Vec<(u64, &str)>> = HashMap::new();
            for task in done {
                if let Some(lease) = leases.get(&task.receipt).filter(|l| l.alive()) {
                    channels.entry(lease.channel_no).or_default();
                }
            }
            for (receipt, lease) in leases.iter().filter(|(_, l)| l.alive()) {
                if let Some(held) = channels.get_mut(&lease.channel_no) {
                    held.push((lease.tag, receipt.as_str()));
                }
            }
            let mut runs: Vec<(Acker, Vec<usize>)> = Vec::new();
            for held in channels.values_mut() {
                held.sort_unstable();
                let run: Vec<usize> =
                    held.iter().map_while(|(_, receipt)| wanted.get(receipt).copied()).collect();
                if run.len() >= 2 {
                    runs.push((Acker::clone(&leases[held[run.len() - 1].1].acker), run));
                }
            }
            // The runs' deliveries are settled by their multiple acks.
            for (_, run) in &runs {
                for &i in run {
                    leases.remove(&done[i].receipt);
                }
            }
            runs
        };
        for (last, run) in runs {
            let result = last.ack(BasicAckOptions { multiple: true }).await;
            for &i in &run {
                let each = match &result {
                    Ok(acked) => Ok(*acked),
                    Err(e) => Err(e.clone()),
                };
                results[i] = Some(self.settled(&done[i], each));
            }
        }
        let mut out = Vec::with_capacity(done.len());
        for (task, result) in done.iter().zip(results) {
            out.push(match result {
                Some(result) => result,
                None => self.settle_in_order(task, false).await,
            });
        }
        out
    }

    fn check_lease(&self, task: &Task) -> Result<(), QueueError> {
        let mut leases = lock(&self.leases);
        match leases.get(&task.receipt) {
            Some(lease) if lease.alive() => Ok(()),
            Some(_) => {
                leases.remove(&task.receipt);
                Err(QueueError::LeaseLost(task.id.clone()))
            }
            None => Err(QueueError::LeaseLost(task.id.clone())),
        }
    }

    // === stats, purge ===

    async fn stats_now(&self) -> Result<Stats, QueueError> {
        let session = self.session(deadline_after(self.reconnect_timeout)).await?;
        // A failed passive declare closes its channel: use a throwaway one.
        let channel = self.open_channel(&session.conn).await?;
        let passive = QueueDeclareOptions { passive: true, ..QueueDeclareOptions::default() };
        let queue = channel
            .queue_declare(self.queue.clone(), passive, FieldTable::default())
            .await
            .map_err(|e| self.error(&format!("inspecting queue {}", self.name), &e))?;
        let dead_lettered = match ShortString::try_new(format!("{}.dead", self.name)) {
            Ok(dead) => match channel.queue_declare(dead, passive, FieldTable::default()).await {
                Ok(dead) => u64::from(dead.message_count()),
                Err(e) if amqp_code(&e) == Some(NOT_FOUND) => 0,
                Err(e) => return Err(self.error(&format!("inspecting queue {}.dead", self.name), &e)),
            },
            Err(_) => 0,
        };
        Ok(Stats {
            ready: u64::from(queue.message_count()),
            in_flight: None,
            consumers: Some(u64::from(queue.consumer_count())),
            dead_lettered,
        })
    }

    async fn purge_now(&self) -> Result<u64, QueueError> {
        let session = self.session(deadline_after(self.reconnect_timeout)).await?;
        let channel = self.open_channel(&session.conn).await?;
        let purged = channel
            .queue_purge(self.queue.clone(), QueuePurgeOptions::default())
            .await
            .map_err(|e| self.error(&format!("purging queue {}", self.name), &e))?;
        Ok(u64::from(purged))
    }

    // === connection ===

    /// A live session, reconnecting (with back-off, until `deadline`) if the current one died.
    async fn session(&self, deadline: Instant) -> Result<Arc<Session>, QueueError> {
        if let Some(session) = self.live_session() {
            return Ok(session);
        }
        let Ok(mut backoff) = timeout_at(deadline, self.reconnect.lock()).await else {
            return Err(self.unavailable("still reconnecting"));
        };
        loop {
            if let Some(session) = self.live_session() {
                return Ok(session);
            }
            if let Some(at) = backoff.retry_at
                && at > Instant::now()
            {
                if at > deadline {
                    return Err(self.unavailable(&backoff.last_failure));
                }
                sleep_until(at).await;
            }
            let attempt_deadline = deadline.max(Instant::now() + ATTEMPT_FLOOR);
            let attempt = match timeout_at(attempt_deadline, self.open_session()).await {
                Ok(attempt) => attempt,
                Err(_) => Err(self.unavailable("timed out connecting")),
            };
            match attempt {
                Ok(session) => {
                    tracing::info!(url = %self.redactor.redacted, queue = %self.name, "Reconnected to RabbitMQ");
                    *backoff = Reconnect::default();
                    *lock(&self.current) = Some(session.clone());
                    return Ok(session);
                }
                Err(e) => {
                    backoff.delay = backoff.delays.next_delay();
                    backoff.retry_at = Some(Instant::now() + backoff.delay);
                    backoff.last_failure = match &e {
                        QueueError::Unavailable { reason, .. } => reason.clone(),
                        other => other.to_string(),
                    };
                    tracing::warn!(url = %self.redactor.redacted, queue = %self.name, error = %e,
                        retry_in = ?backoff.delay, "Reconnecting to RabbitMQ failed");
                    if backoff.retry_at.is_some_and(|at| at > deadline) {
                        return Err(e);
                    }
                }
            }
        }
    }

    /// The current session if its connection is up.
    fn live_session(&self) -> Option<Arc<Session>> {
        let mut current = lock(&self.current);
        match current.as_ref() {
            Some(session) if session.alive() => Some(session.clone()),
            Some(_) => {
                tracing::warn!(url = %self.redactor.redacted, queue = %self.name,
                    "The connection to RabbitMQ was lost; reconnecting");
                *current = None;
                None
            }
            None => None,
        }
    }

    /// One connection attempt.
    async fn open_session(&self) -> Result<Arc<Session>, QueueError> {
        let properties = ConnectionProperties::default()
            .with_connection_name(format!("drover queue {}", self.name).into());
        let conn = Connection::connect_uri(self.uri.clone(), properties).await.map_err(|e| {
            match self.error("connecting", &e) {
                // Unavailable carries the URL already; a refusal (bad login, no such vhost) does not.
                QueueError::Broker(reason) => {
                    QueueError::Broker(format!("{reason} (broker {})", self.redactor.redacted))
                }
                other => other,
            }
        })?;
        Ok(Arc::new(Session { conn, publisher: Mutex::new(None) }))
    }

    async fn open_channel(&self, conn: &Connection) -> Result<Channel, QueueError> {
        conn.create_channel().await.map_err(|e| self.error("opening a channel", &e))
    }

    /// Declares the queue durable or, if it exists with other properties, checks it exists.
    async fn declare(&self, conn: &Connection) -> Result<(), QueueError> {
        let channel = self.open_channel(conn).await?;
        let declared = channel
            .queue_declare(self.queue.clone(), QueueDeclareOptions::durable(), FieldTable::default())
            .await;
        match declared {
            Ok(_) => Ok(()),
            Err(e) if amqp_code(&e) == Some(PRECONDITION_FAILED) => {
                tracing::debug!(queue = %self.name, error = %e,
                    "The queue exists with other properties; using it as it is");
                let channel = self.open_channel(conn).await?;
                let passive = QueueDeclareOptions { passive: true, ..QueueDeclareOptions::default() };
                channel
                    .queue_declare(self.queue.clone(), passive, FieldTable::default())
                    .await
                    .map(|_| ())
                    .map_err(|e| self.error(&format!("declaring queue {}", self.name), &e))
            }
            Err(e) => Err(self.error(&format!("declaring queue {}", self.name), &e)),
        }
    }

    // === errors ===

    fn unavailable(&self, reason: &str) -> QueueError {
        QueueError::Unavailable { url: self.redactor.redacted.clone(), reason: self.redactor.scrub(reason) }
    }

    /// Maps a lapin error, with credentials scrubbed from its text.
    fn error(&self, context: &str, e: &lapin::Error) -> QueueError {
        let unavailable = e.is_io_error()
            || e.is_amqp_hard_error()
            || matches!(
                e.kind(),
                ErrorKind::InvalidConnectionState(_)
                    | ErrorKind::InvalidChannelState(..)
                    | ErrorKind::InvalidChannel(_)
                    | ErrorKind::MissingHeartbeatError
            );
        let reason = format!("{context}: {e}");
        if unavailable { self.unavailable(&reason) } else { QueueError::Broker(self.redactor.scrub(&reason)) }
    }
}

impl fmt::Debug for AmqpQueue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AmqpQueue")
            .field("url", &self.redactor.redacted)
            .field("name", &self.name)
            .field("prefetch", &self.prefetch)
            .finish_non_exhaustive()
    }
}

impl Queue for AmqpQueue {
    fn max_unacked(&self) -> Option<usize> {
        Some(usize::from(self.unacked_limit()))
    }

    fn quiesce(&self) -> BoxFuture<'_, Result<usize, QueueError>> {
        Box::pin(self.quiesce_now())
    }

    /// Moves the limit of unacked deliveries (1 to the prefetch given at connection): a
    /// per-channel `basic.qos` on the running consumer's channel, and the limit of the next
    /// consumer if there is none.
    fn set_max_unacked(&self, n: usize) -> BoxFuture<'_, Result<(), QueueError>> {
        Box::pin(async move {
            let limit = u16::try_from(n).unwrap_or(u16::MAX).clamp(1, self.prefetch);
            if limit == self.unacked_limit() {
                return Ok(());
            }
            let consumer = self.consumer.lock().await;
            self.unacked_limit.store(limit, std::sync::atomic::Ordering::Relaxed);
            if let Some(active) = consumer.as_ref() {
                active
                    .channel
                    .basic_qos(limit, BasicQosOptions { global: true })
                    .await
                    .map_err(|e| self.error("setting the channel's prefetch", &e))?;
            }
            Ok(())
        })
    }

    fn close(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {
            if let Err(err) = AmqpQueue::close(self).await {
                tracing::debug!(error = %err, "Closing the RabbitMQ connection failed");
            }
        })
    }

    fn publish<'a>(&'a self, bodies: &'a [Vec<u8>]) -> BoxFuture<'a, Result<(), QueueError>> {
        Box::pin(self.publish_all(bodies))
    }

    /// `lease` is ignored: a delivery stays ours while our channel is open (see the module docs
    /// on `consumer_timeout`).
    fn take(&self, _lease: Duration, wait: Duration) -> BoxFuture<'_, Result<Option<Task>, QueueError>> {
        Box::pin(self.take_one(wait))
    }

    fn ack<'a>(&'a self, task: &'a Task) -> BoxFuture<'a, Result<(), QueueError>> {
        Box::pin(self.settle(task, false))
    }

    /// Acks `done` (a run of deliveries with one multiple `basic.ack` where that acks nothing
    /// else: see the module docs), then takes one delivery, waiting up to `wait`.
    fn ack_and_take<'a>(
        &'a self,
        done: &'a [Task],
        _lease: Duration,
        wait: Duration,
    ) -> BoxFuture<'a, crate::AckAndTake> {
        Box::pin(async move { (self.ack_all(done).await, self.take_one(wait).await) })
    }

    /// Acks `done` as [`Queue::ack_and_take`] does, then takes one delivery (waiting up to
    /// `wait`) and up to `max - 1` more that have already arrived (within the prefetch).
    fn ack_and_take_many<'a>(
        &'a self,
        done: &'a [Task],
        max: usize,
        _lease: Duration,
        wait: Duration,
    ) -> BoxFuture<'a, crate::AckAndTakeMany> {
        Box::pin(async move { (self.ack_all(done).await, self.take_up_to(max, wait).await) })
    }

    fn requeue<'a>(&'a self, task: &'a Task) -> BoxFuture<'a, Result<(), QueueError>> {
        Box::pin(self.settle(task, true))
    }

    /// Checks only that the delivering channel is alive: RabbitMQ has no per-message lease.
    fn extend<'a>(&'a self, task: &'a Task, _lease: Duration) -> BoxFuture<'a, Result<(), QueueError>> {
        Box::pin(async move { self.check_lease(task) })
    }

    /// `in_flight` is `None`: counting unacked messages needs the management API.
    fn stats(&self) -> BoxFuture<'_, Result<Stats, QueueError>> {
        Box::pin(self.stats_now())
    }

    fn purge(&self) -> BoxFuture<'_, Result<u64, QueueError>> {
        Box::pin(self.purge_now())
    }
}

// === private types and helpers ===

/// One AMQP connection and its publishing channel.
struct Session {
    conn: Connection,
    publisher: Mutex<Option<Channel>>,
}

impl Session {
    fn alive(&self) -> bool {
        self.conn.status().connected()
    }
}

/// The consumer `take` reads from, and the channel it lives on.
struct ActiveConsumer {
    session: Arc<Session>,
    channel: Channel,
    /// Which consuming channel this is (a quiesce and a new consumer keep the channel).
    channel_no: u64,
    consumer: Consumer,
    tag: String,
    /// Stopped by a quiesce; the channel (and its leases) lives on.
    cancelled: bool,
}

/// How long a quiesce waits for the stopped consumer's buffer to yield its next delivery (they
/// are all there once the cancel is confirmed; this only bounds a misbehaving stream).
const QUIESCE_DRAIN: Duration = Duration::from_millis(100);

impl ActiveConsumer {
    fn alive(&self) -> bool {
        self.session.alive() && self.channel.status().connected()
    }
}

/// A delivery handed out and not settled yet.
struct Lease {
    acker: Acker,
    channel: ChannelStatus,
    /// The consuming channel that delivered it ([`ActiveConsumer::channel_no`]).
    channel_no: u64,
    /// Its delivery tag on that channel.
    tag: u64,
}

impl Lease {
    fn alive(&self) -> bool {
        self.channel.connected() && self.acker.usable()
    }
}

/// Reconnection back-off, shared by every caller of one [`AmqpQueue`].
struct Reconnect {
    /// The pauses between failed attempts (reset after a success).
    delays: Backoff,
    /// The last pause.
    delay: Duration,
    /// No attempt before this.
    retry_at: Option<Instant>,
    /// Why the last attempt failed (already scrubbed).
    last_failure: String,
}

impl Default for Reconnect {
    fn default() -> Reconnect {
        Reconnect {
            delays: Backoff::new(BACKOFF_MIN, BACKOFF_MAX),
            delay: Duration::ZERO,
            retry_at: None,
            last_failure: String::new(),
        }
    }
}

/// Scrubs credentials out of error text (lapin's errors may quote the URI).
struct Redactor {
    raw: String,
    redacted: String,
    secrets: Vec<String>,
}

impl Redactor {
    fn scrub(&self, text: &str) -> String {
        let mut text = text.replace(&self.raw, &self.redacted);
        for secret in &self.secrets {
            text = text.replace(secret.as_str(), "***");
        }
        text
    }
}

/// The password as written in the URL (still percent-encoded), if any.
fn password_in(url: &str) -> Option<&str> {
    let rest = &url[url.find("://")? + 3..];
    let authority = &rest[..rest.find('/').unwrap_or(rest.len())];
    let userinfo = &authority[..authority.rfind('@')?];
    userinfo.split_once(':').map(|(_, password)| password)
}

/// `now + wait`, saturating far in the future instead of overflowing.
fn deadline_after(wait: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(wait).unwrap_or(now + FAR_FUTURE)
}

/// Pause before the `attempt`-th restart of a consumer within one `take` (1-based).
fn backoff(attempt: u32) -> Duration {
    Backoff::nth_delay(BACKOFF_MIN, BACKOFF_MAX, attempt.saturating_sub(1))
}

pub(crate) fn amqp_code(e: &lapin::Error) -> Option<u16> {
    match e.kind() {
        ErrorKind::ProtocolError(amqp) => Some(amqp.get_id()),
        _ => None,
    }
}

/// The id of a message published without a `message_id`: `sha256:` and the body's digest in
/// lower-case hex.
fn content_id(body: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(body))
}

/// Quorum queues count deliveries in the `x-delivery-count` header.
fn delivery_count(properties: &BasicProperties) -> Option<u32> {
    let value = properties.headers().as_ref()?.inner().get("x-delivery-count")?;
    let count = match value {
        AMQPValue::ShortShortInt(n) => i64::from(*n),
        AMQPValue::ShortShortUInt(n) => i64::from(*n),
        AMQPValue::ShortInt(n) => i64::from(*n),
        AMQPValue::ShortUInt(n) => i64::from(*n),
        AMQPValue::LongInt(n) => i64::from(*n),
        AMQPValue::LongUInt(n) => i64::from(*n),
        AMQPValue::LongLongInt(n) => *n,
        _ => return None,
    };
    u32::try_from(count).ok()
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_ids_are_the_bodys_sha256() {
        assert_eq!(
            content_id(b""),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            content_id(b"abc"),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
