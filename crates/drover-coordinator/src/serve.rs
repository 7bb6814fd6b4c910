//! The connection loop: hyper's HTTP/1 server around the axum router, with the limits
//! `axum::serve` cannot set.
//!
//! - **At most [`Config::max_connections`] connections at once.** The loop takes a permit before
//!   it accepts; while none is free it accepts nothing, so further connections wait in the
//!   kernel's listen queue (they are not refused) until one closes.
//! - **A header-read timeout** ([`Config::header_read_timeout`]): a connection that has not sent
//!   a whole request head within it, counted from its opening or from the end of its previous
//!   response, is closed. So a half-sent request (slowloris) holds its permit for at most that
//!   long, and the same timer is the idle keep-alive timeout. A response in progress is never
//!   cut: hyper reads no head while it writes one, so watches, `logs -f` and the assignment
//!   stream last as long as they need.
//! - **Graceful shutdown**: when the token is cancelled, the loop stops accepting, streams end
//!   (they watch the same token), and each connection finishes its response and closes; one
//!   that has not within [`SHUTDOWN_GRACE`] is dropped.
//!
//! Each request carries the address its connection was accepted on ([`LocalAddr`]), which the
//! DNS-rebinding guard compares the `Host` header with.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::Config;

/// The local address a request's connection was accepted on (a request extension).
#[derive(Debug, Clone, Copy)]
pub struct LocalAddr(pub SocketAddr);

/// How long a connection may take to finish its response once the coordinator stops.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Serves `router` on `listener` until `token` is cancelled, then waits for the connections to
/// close (see the module docs).
pub async fn serve(listener: TcpListener, router: Router, config: &Config, token: CancellationToken) {
    let permits = Arc::new(Semaphore::new(config.max_connections.max(1)));
    let connections = TaskTracker::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(config.header_read_timeout).keep_alive(true);
    loop {
        let permit = tokio::select! {
            _ = token.cancelled() => break,
            permit = permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
        };
        let (tcp, _peer) = tokio::select! {
            _ = token.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of file descriptors, or a connection reset before it was accepted: the
                    // listener still works; wait a little so a full fd table is not spun on.
                    tracing::warn!(error = %err, "Cannot accept a connection");
                    tokio::select! {
                        _ = token.cancelled() => break,
                        _ = tokio::time::sleep(Duration::from_millis(50)) => {}
                    }
                    continue;
                }
            },
        };
        // No Nagle delay: watch events and worker pushes are small writes that must leave at once.
        if let Err(err) = tcp.set_nodelay(true) {
            tracing::debug!(error = %err, "Cannot set TCP_NODELAY");
        }
        let local = tcp.local_addr().ok().map(LocalAddr);
        let router = router.clone();
        let service = hyper::service::service_fn(move |mut req: Request<Incoming>| {
            if let Some(local) = local {
                req.extensions_mut().insert(local);
            }
            let mut router = router.clone();
            tower_service::Service::call(&mut router, req)
        });
        let conn = http.serve_connection(TokioIo::new(tcp), service);
        let token = token.clone();
        connections.spawn(async move {
            let _permit = permit;
            let mut conn = std::pin::pin!(conn);
            let ended = tokio::select! {
                res = conn.as_mut() => Some(res),
                _ = token.cancelled() => None,
            };
            let res = match ended {
                Some(res) => res,
                None => {
                    conn.as_mut().graceful_shutdown();
                    match tokio::time::timeout(SHUTDOWN_GRACE, conn).await {
                        Ok(res) => res,
                        Err(_) => return,
                    }
                }
            };
            if let Err(err) = res {
                // A header-read timeout, a client gone mid-request, a malformed request.
                tracing::debug!(error = %err, "Connection closed with an error");
            }
        });
    }
    connections.close();
    connections.wait().await;
}
