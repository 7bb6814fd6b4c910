//! The dashboard's Queues page: `GET /ui/queues`, the figures of each queue the Jobs name.
//!
//! # What it answers
//! Each distinct queue (broker URL and queue name) named by a Job's `spec.queue`, the queues of
//! unfinished Jobs first, at most [`MAX_QUEUES`]: its broker's URL with the password masked, the
//! Jobs that name it, and what the broker says it holds (ready, in flight, consumers,
//! dead-lettered), or why it could not say (`unreachable`, `error`, or `absent`: RabbitMQ has no
//! such queue yet).
//!
//! # Rules (ARCHITECTURE.md's invariant)
//! - The coordinator's broker connections are read-only stats connections
//!   ([`drover_queue::Inspector`]): no queue declared, nothing consumed, no lease reaped.
//! - Every broker is given [`BROKER_TIMEOUT`] per refresh; one that does not answer shows as
//!   `unreachable`, with the error's text scrubbed of its password, and never holds up the page
//!   or the coordinator longer than that.
//! - One connection per broker URL, kept while the page is being read and closed after
//!   [`IDLE_BROKER`] without a reader, and each queue's figures are reused for [`CACHE_FOR`]:
//!   a page polling every few seconds, or several open pages, cost at most one round of stats
//!   per broker per [`CACHE_FOR`] and no new connection per request. A broker that failed is
//!   not tried again for [`CACHE_FOR`] either.
//! - The store's lock is held only to read the Jobs; no broker I/O happens under it.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use drover_api::Job;
use drover_queue::{Inspector, QueueError, Stats};
use serde_json::{Value, json};

use crate::state::Coordinator;

/// How long one broker gets to connect and answer, per refresh.
pub const BROKER_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a queue's figures (or a broker's failure) are reused.
pub const CACHE_FOR: Duration = Duration::from_secs(2);
/// The most queues listed.
pub const MAX_QUEUES: usize = 100;
/// The most Job names listed per queue (the count is always given).
const MAX_JOB_NAMES: usize = 10;
/// A broker connection nobody read through for this long is closed.
pub const IDLE_BROKER: Duration = Duration::from_secs(60);

/// The coordinator's read-only broker connections, by URL (the URL as the Job spells it; it
/// never leaves this map unmasked).
#[derive(Default)]
pub(crate) struct Brokers {
    map: Mutex<HashMap<String, Arc<Broker>>>,
}

struct Broker {
    state: tokio::sync::Mutex<BrokerState>,
    last_used: Mutex<Instant>,
}

#[derive(Default)]
struct BrokerState {
    conn: Option<Inspector>,
    /// When the last connection attempt failed, and why (scrubbed).
    failed: Option<(Instant, String)>,
    figures: HashMap<String, (Instant, Figure)>,
}

/// What is known of one queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Figure {
    /// The broker's figures.
    Stats(Stats),
    /// RabbitMQ has no queue of that name (nobody declared it yet).
    Absent,
    /// The broker could not be reached in time (scrubbed error text).
    Unreachable(String),
    /// The broker answered with an error (scrubbed error text).
    Error(String),
}

fn figure_of_error(e: &QueueError) -> Figure {
    match e {
        QueueError::Unavailable { .. } | QueueError::InvalidUrl { .. } => Figure::Unreachable(e.to_string()),
        _ => Figure::Error(e.to_string()),
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Brokers {
    fn broker(&self, url: &str) -> Arc<Broker> {
        let mut map = lock(&self.map);
        let broker = map
            .entry(url.to_string())
            .or_insert_with(|| {
                Arc::new(Broker {
                    state: tokio::sync::Mutex::new(BrokerState::default()),
                    last_used: Mutex::new(Instant::now()),
                })
            })
            .clone();
        *lock(&broker.last_used) = Instant::now();
        broker
    }

    /// Forgets the brokers nobody read through for [`IDLE_BROKER`], closing their connections
    /// in the background.
    fn evict_idle(&self) {
        let idle: Vec<Arc<Broker>> = {
            let mut map = lock(&self.map);
            let gone: Vec<String> = map
                .iter()
                .filter(|(_, b)| lock(&b.last_used).elapsed() >= IDLE_BROKER)
                .map(|(url, _)| url.clone())
                .collect();
            gone.iter().filter_map(|url| map.remove(url)).collect()
        };
        for broker in idle {
            tokio::spawn(async move {
                let conn = broker.state.lock().await.conn.take();
                if let Some(conn) = conn {
                    let _ = tokio::time::timeout(BROKER_TIMEOUT, conn.close()).await;
                }
            });
        }
    }

    /// The figures of `names` on the broker at `url`: fresh ones from the cache, the others
    /// asked for within [`BROKER_TIMEOUT`].
    pub(crate) async fn figures(&self, url: &str, names: &[String]) -> Vec<(Instant, Figure)> {
        let broker = self.broker(url);
        // Another request may be refreshing this broker: it is done within the timeout.
        let Ok(mut st) = tokio::time::timeout(BROKER_TIMEOUT * 2, broker.state.lock()).await else {
            let busy = Figure::Unreachable(format!(
                "broker {} unavailable: still busy with an earlier refresh",
                drover_api::meta::redact_url(url)
            ));
            return names.iter().map(|_| (Instant::now(), busy.clone())).collect();
        };
        let stale: Vec<&String> = names
            .iter()
            .filter(|n| st.figures.get(*n).is_none_or(|(at, _)| at.elapsed() >= CACHE_FOR))
            .collect();
        if !stale.is_empty() {
            self.refresh(url, &mut st, &stale).await;
        }
        // Keep only what was asked for, so the cache stays as small as the page.
        st.figures.retain(|n, _| names.contains(n));
        names
            .iter()
            .map(|n| {
                st.figures
                    .get(n)
                    .cloned()
                    .unwrap_or_else(|| (Instant::now(), Figure::Error("not read".into())))
            })
            .collect()
    }

    async fn refresh(&self, url: &str, st: &mut BrokerState, stale: &[&String]) {
        let start = Instant::now();
        let deadline = start + BROKER_TIMEOUT;
        if st.conn.as_ref().is_some_and(|c| !c.alive()) {
            st.conn = None;
        }
        if st.conn.is_none() {
            if let Some((at, why)) = &st.failed
                && at.elapsed() < CACHE_FOR
            {
                let (at, why) = (*at, why.clone());
                for n in stale {
                    st.figures.insert((*n).clone(), (at, Figure::Unreachable(why.clone())));
                }
                return;
            }
            match Inspector::connect(url, BROKER_TIMEOUT).await {
                Ok(conn) => {
                    st.conn = Some(conn);
                    st.failed = None;
                }
                Err(e) => {
                    tracing::debug!(broker = %drover_api::meta::redact_url(url), error = %e,
                        "The dashboard could not reach a broker");
                    let why = e.to_string();
                    st.failed = Some((Instant::now(), why.clone()));
                    for n in stale {
                        st.figures.insert((*n).clone(), (Instant::now(), figure_of_error(&e)));
                    }
                    return;
                }
            }
        }
        let Some(conn) = st.conn.as_ref() else { return };
        let left = deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(100));
        let results = futures::future::join_all(stale.iter().map(|n| conn.stats(n, left))).await;
        let mut broken = false;
        for (n, result) in stale.iter().zip(results) {
            let figure = match result {
                Ok(Some(stats)) => Figure::Stats(stats),
                Ok(None) => Figure::Absent,
                Err(e) => {
                    broken |= matches!(e, QueueError::Unavailable { .. });
                    figure_of_error(&e)
                }
            };
            st.figures.insert((*n).clone(), (Instant::now(), figure));
        }
        if broken {
            // Connect again at the next refresh.
            st.conn = None;
        }
    }
}

/// One queue named by the Jobs.
#[derive(Debug, Default)]
struct Named {
    jobs: Vec<String>,
    unfinished: usize,
}

/// The queues the Jobs name, unfinished Jobs' first, at most `max`; and whether more were left.
/// A queue: its broker's URL (unmasked) and its name.
type QueueKey = (String, String);

fn named_queues(jobs: &[Job], max: usize) -> (Vec<(QueueKey, Named)>, bool) {
    let mut by_queue: BTreeMap<QueueKey, Named> = BTreeMap::new();
    for job in jobs {
        let Some(q) = job.spec.queue.as_ref() else { continue };
        let named = by_queue.entry((q.url.clone(), q.name.clone())).or_default();
        named.jobs.push(job.metadata.name.clone());
        if !job.is_finished() {
            named.unfinished += 1;
        }
    }
    let mut list: Vec<_> = by_queue.into_iter().collect();
    // Stable: within each group, by broker and queue name.
    list.sort_by_key(|(_, n)| n.unfinished == 0);
    let truncated = list.len() > max;
    list.truncate(max);
    (list, truncated)
}

/// `GET /ui/queues`.
pub(crate) async fn queues(State(c): State<Coordinator>) -> Response {
    // The store's lock is held for this read only.
    let jobs = match c.store().read(|t| t.list::<Job>()) {
        Ok(jobs) => jobs,
        Err(e) => return crate::api::ApiError::from(e).into_response(),
    };
    let (named, truncated) = named_queues(&jobs, MAX_QUEUES);
    drop(jobs);
    let brokers = c.brokers();
    brokers.evict_idle();
    let mut by_url: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for ((url, name), _) in &named {
        by_url.entry(url.as_str()).or_default().push(name.clone());
    }
    let answers = futures::future::join_all(by_url.iter().map(|(url, names)| async move {
        let figures = brokers.figures(url, names).await;
        (*url, names.iter().cloned().zip(figures).collect::<HashMap<String, (Instant, Figure)>>())
    }))
    .await;
    let answers: HashMap<&str, HashMap<String, (Instant, Figure)>> = answers.into_iter().collect();
    let now = Instant::now();
    let rows: Vec<Value> = named
        .iter()
        .map(|((url, name), n)| {
            let (at, figure) = answers
                .get(url.as_str())
                .and_then(|m| m.get(name))
                .cloned()
                .unwrap_or((now, Figure::Error("not read".into())));
            let mut row = json!({
                "url": drover_api::meta::redact_url(url),
                "queue": name,
                "jobs": n.jobs.iter().take(MAX_JOB_NAMES).collect::<Vec<_>>(),
                "jobCount": n.jobs.len(),
                "unfinishedJobs": n.unfinished,
                "ageSeconds": now.saturating_duration_since(at).as_secs_f64(),
            });
            let (state, error) = match &figure {
                Figure::Stats(s) => {
                    row["ready"] = json!(s.ready);
                    row["inFlight"] = json!(s.in_flight);
                    row["consumers"] = json!(s.consumers);
                    row["deadLettered"] = json!(s.dead_lettered);
                    ("ok", None)
                }
                Figure::Absent => ("absent", None),
                Figure::Unreachable(why) => ("unreachable", Some(why.as_str())),
                Figure::Error(why) => ("error", Some(why.as_str())),
            };
            row["state"] = json!(state);
            if let Some(why) = error {
                row["error"] = json!(drover_api::meta::redact_urls(why));
            }
            row
        })
        .collect();
    Json(json!({
        "queues": rows,
        "truncated": truncated,
        "maxQueues": MAX_QUEUES,
        "timeoutSeconds": BROKER_TIMEOUT.as_secs(),
        "cacheSeconds": CACHE_FOR.as_secs(),
    }))
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(name: &str, url: &str, queue: &str, finished: bool) -> Job {
        let mut j = Job::default();
        j.metadata.name = name.into();
        j.spec.queue =
            Some(drover_api::job::QueueSpec { url: url.into(), name: queue.into(), ..Default::default() });
        if finished {
            j.status.conditions.push(drover_api::job::JobCondition {
                type_: drover_api::job::condition::COMPLETE.into(),
                status: "True".into(),
                reason: String::new(),
                message: String::new(),
                last_transition_time: None,
                last_probe_time: None,
            });
        }
        j
    }

    #[test]
    fn queues_of_unfinished_jobs_come_first_and_the_list_is_capped() {
        let jobs = vec![
            job("a", "redis://h", "done", true),
            job("b", "redis://h", "live", false),
            job("c", "redis://h", "live", true),
            job("d", "amqp://u:pw@h/%2f", "live", false),
            Job::default(),
            job("e", "redis://h", "z-live", false),
        ];
        let (list, truncated) = named_queues(&jobs, 10);
        let keys: Vec<(&str, &str)> = list.iter().map(|((u, q), _)| (u.as_str(), q.as_str())).collect();
        assert_eq!(
            keys,
            vec![
                ("amqp://u:pw@h/%2f", "live"),
                ("redis://h", "live"),
                ("redis://h", "z-live"),
                ("redis://h", "done")
            ]
        );
        assert!(!truncated);
        let live = &list[1].1;
        assert_eq!((live.jobs.clone(), live.unfinished), (vec!["b".to_string(), "c".to_string()], 1));
        let (list, truncated) = named_queues(&jobs, 2);
        assert_eq!(list.len(), 2);
        assert!(truncated);
    }
}
