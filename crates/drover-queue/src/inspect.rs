//! Read-only figures of queues: [`Inspector`], one connection to one broker that reports
//! [`Stats`] of any queue on it and changes nothing.
//!
//! The coordinator's dashboard uses it. Unlike [`crate::connect`], it declares no queue
//! (RabbitMQ: a *passive* declare, so a queue nobody declared yet shows as absent rather than
//! being created), loads no consumer scripts, consumes nothing and reaps no lease (Redis: one
//! read-only script, `inspect.lua`). Every call is bounded by the caller's timeout, and no error
//! contains the URL's password.

use std::time::Duration;

use lapin::options::QueueDeclareOptions;
use lapin::types::{FieldTable, ShortString};
use lapin::{Connection, ConnectionProperties};
use redis::Script;
use redis::aio::MultiplexedConnection;

use crate::redis_queue::{scrub, url_secrets};
use crate::{QueueError, Stats, redact_url};

static INSPECT_LUA: std::sync::LazyLock<Script> =
    std::sync::LazyLock::new(|| Script::new(include_str!("../lua/inspect.lua")));

/// One read-only connection to a broker.
pub struct Inspector {
    conn: Conn,
    url: String,
    redacted: String,
    secrets: Vec<String>,
}

enum Conn {
    Amqp(Connection),
    Redis(MultiplexedConnection),
}

impl std::fmt::Debug for Inspector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inspector").field("url", &self.redacted).finish_non_exhaustive()
    }
}

impl Inspector {
    /// Connects to the broker at `url` (`amqp://` or `redis://`) within `timeout`.
    ///
    /// # Errors
    /// [`QueueError::InvalidUrl`] for a URL that is not one Drover can use,
    /// [`QueueError::Unavailable`] when the broker cannot be reached in time or refuses the
    /// login. No message contains the password.
    pub async fn connect(url: &str, timeout: Duration) -> Result<Inspector, QueueError> {
        let redacted = redact_url(url);
        let secrets = url_secrets(url);
        let unavailable = |reason: String| QueueError::Unavailable {
            url: redacted.clone(),
            reason: scrub(&reason, url, &redacted, &secrets),
        };
        let scheme = url.split("://").next().unwrap_or_default();
        let conn = match scheme {
            "amqp" => {
                let properties =
                    ConnectionProperties::default().with_connection_name("drover dashboard".into());
                match tokio::time::timeout(timeout, Connection::connect(url, properties)).await {
                    Ok(Ok(conn)) => Conn::Amqp(conn),
                    Ok(Err(e)) => return Err(unavailable(format!("connecting: {e}"))),
                    Err(_) => return Err(unavailable("timed out connecting".into())),
                }
            }
            "redis" => {
                let client = redis::Client::open(url).map_err(|e| QueueError::InvalidUrl {
                    url: redacted.clone(),
                    reason: scrub(&e.to_string(), url, &redacted, &secrets),
                })?;
                let config = redis::AsyncConnectionConfig::new()
                    .set_connection_timeout(Some(timeout))
                    .set_response_timeout(Some(timeout));
                let connecting = client.get_multiplexed_async_connection_with_config(&config);
                match tokio::time::timeout(timeout, connecting).await {
                    Ok(Ok(conn)) => Conn::Redis(conn),
                    Ok(Err(e)) => return Err(unavailable(format!("connecting: {e}"))),
                    Err(_) => return Err(unavailable("timed out connecting".into())),
                }
            }
            "amqps" | "rediss" => {
                return Err(QueueError::InvalidUrl {
                    url: redacted,
                    reason: "TLS connections are not supported yet; use amqp:// or redis://".into(),
                });
            }
            _ => {
                return Err(QueueError::InvalidUrl {
                    url: redacted,
                    reason: "the scheme must be amqp:// or redis://".into(),
                });
            }
        };
        Ok(Inspector { conn, url: url.to_string(), redacted, secrets })
    }

    /// Whether the connection is still usable (RabbitMQ: not closed; a Redis connection
    /// reports errors per command instead).
    pub fn alive(&self) -> bool {
        match &self.conn {
            Conn::Amqp(conn) => conn.status().connected(),
            Conn::Redis(_) => true,
        }
    }

    /// The figures of queue `name`, within `timeout`; `Ok(None)` when RabbitMQ has no such queue
    /// (Redis cannot tell an empty queue from an absent one: its figures are zeros).
    ///
    /// # Errors
    /// [`QueueError::Unavailable`] when the broker does not answer in time or the connection
    /// broke; [`QueueError::Broker`] for any other refusal. No message contains the password.
    pub async fn stats(&self, name: &str, timeout: Duration) -> Result<Option<Stats>, QueueError> {
        match tokio::time::timeout(timeout, self.stats_now(name)).await {
            Ok(result) => result,
            Err(_) => Err(self.unavailable("timed out reading the queue's figures")),
        }
    }

    async fn stats_now(&self, name: &str) -> Result<Option<Stats>, QueueError> {
        match &self.conn {
            Conn::Amqp(conn) => {
                let Ok(queue) = ShortString::try_new(name) else {
                    return Err(QueueError::Broker(format!("invalid queue name ({} bytes)", name.len())));
                };
                // A passive declare of an absent queue closes its channel: one channel per call.
                let channel = conn
                    .create_channel()
                    .await
                    .map_err(|e| self.unavailable(&format!("opening a channel: {e}")))?;
                let passive = QueueDeclareOptions { passive: true, ..QueueDeclareOptions::default() };
                let ready = match channel.queue_declare(queue, passive, FieldTable::default()).await {
                    Ok(q) => q,
                    Err(e) if crate::amqp::amqp_code(&e) == Some(404) => return Ok(None),
                    Err(e) => return Err(self.broker(&format!("inspecting queue {name}: {e}"))),
                };
                let dead_lettered = match ShortString::try_new(format!("{name}.dead")) {
                    Ok(dead) => {
                        let channel = if channel.status().connected() {
                            channel.clone()
                        } else {
                            conn.create_channel()
                                .await
                                .map_err(|e| self.unavailable(&format!("opening a channel: {e}")))?
                        };
                        match channel.queue_declare(dead, passive, FieldTable::default()).await {
                            Ok(dead) => u64::from(dead.message_count()),
                            Err(e) if crate::amqp::amqp_code(&e) == Some(404) => 0,
                            Err(e) => return Err(self.broker(&format!("inspecting queue {name}.dead: {e}"))),
                        }
                    }
                    Err(_) => 0,
                };
                if channel.status().connected() {
                    let _ = channel.close(200, "OK".into()).await;
                }
                Ok(Some(Stats {
                    ready: u64::from(ready.message_count()),
                    in_flight: None,
                    consumers: Some(u64::from(ready.consumer_count())),
                    dead_lettered,
                }))
            }
            Conn::Redis(conn) => {
                let (ready, in_flight, consumers, dead_lettered): (u64, u64, u64, u64) = INSPECT_LUA
                    .key(name)
                    .key(format!("{name}:leases"))
                    .key(format!("{name}:dead"))
                    .arg(format!("{name}:processing:"))
                    .invoke_async(&mut conn.clone())
                    .await
                    .map_err(|e| {
                        if e.is_io_error() || e.is_timeout() || e.is_connection_dropped() {
                            self.unavailable(&e.to_string())
                        } else {
                            self.broker(&e.to_string())
                        }
                    })?;
                Ok(Some(Stats {
                    ready,
                    in_flight: Some(in_flight),
                    consumers: Some(consumers),
                    dead_lettered,
                }))
            }
        }
    }

    /// Closes the connection (RabbitMQ; a Redis connection closes when dropped).
    pub async fn close(&self) {
        if let Conn::Amqp(conn) = &self.conn
            && conn.status().connected()
        {
            let _ = conn.close(200, "OK".into()).await;
        }
    }

    fn unavailable(&self, reason: &str) -> QueueError {
        QueueError::Unavailable {
            url: self.redacted.clone(),
            reason: scrub(reason, &self.url, &self.redacted, &self.secrets),
        }
    }

    fn broker(&self, reason: &str) -> QueueError {
        QueueError::Broker(scrub(reason, &self.url, &self.redacted, &self.secrets))
    }
}
