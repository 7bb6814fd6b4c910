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
//! - **HTTPS** with [`Config::tls`]: each connection's TLS handshake must finish within the
//!   header-read timeout too (a client that opens a connection and sends nothing, or stalls
//!   mid-handshake, holds its permit no longer than a slow request head), and then the timer of
//!   the request head starts. A connection whose first byte is not a TLS record (plain HTTP) gets
//!   `400 Client sent an HTTP request to an HTTPS server.` and is closed, as Go's servers do.
//!
//! Each request carries the address its connection was accepted on ([`LocalAddr`]), which the
//! DNS-rebinding guard compares the `Host` header with.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::http::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
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
    let tls = config.tls.as_ref().map(crate::tls::TlsConfig::acceptor);
    let handshake_timeout = config.header_read_timeout;
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
        let token = token.clone();
        let http = http.clone();
        let tls = tls.clone();
        connections.spawn(async move {
            let _permit = permit;
            let io = match tls {
                None => Io::Plain(tcp),
                Some(acceptor) => {
                    let handshake = tokio::select! {
                        _ = token.cancelled() => return,
                        done = tokio::time::timeout(handshake_timeout, accept_tls(&acceptor, tcp)) => done,
                    };
                    match handshake {
                        Ok(Ok(Some(tls))) => Io::Tls(Box::new(tls)),
                        Ok(Ok(None)) => return,
                        Ok(Err(err)) => {
                            tracing::debug!(error = %err, "TLS handshake failed");
                            return;
                        }
                        Err(_) => {
                            tracing::debug!("TLS handshake timed out");
                            return;
                        }
                    }
                }
            };
            let conn = http.serve_connection(TokioIo::new(io), service);
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

/// What Go's servers answer a plain HTTP request sent to an HTTPS port.
const PLAIN_HTTP_REPLY: &[u8] = b"HTTP/1.0 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\nClient sent an HTTP request to an HTTPS server.\n";

/// The first byte of a TLS handshake record (a ClientHello).
const TLS_HANDSHAKE: u8 = 0x16;

/// The TLS handshake of `tcp`, or `None` when the client spoke plain HTTP (answered with
/// [`PLAIN_HTTP_REPLY`]) or closed first. The caller bounds it in time.
async fn accept_tls(
    acceptor: &tokio_rustls::TlsAcceptor,
    mut tcp: TcpStream,
) -> std::io::Result<Option<tokio_rustls::server::TlsStream<TcpStream>>> {
    let mut first = [0u8; 1];
    if tcp.peek(&mut first).await? == 0 {
        return Ok(None);
    }
    if first[0] != TLS_HANDSHAKE {
        tcp.write_all(PLAIN_HTTP_REPLY).await?;
        tcp.shutdown().await?;
        // Read what the client sent until it closes (bounded by the caller's timeout), so the
        // close is not a reset that could lose the answer.
        let mut sink = [0u8; 4096];
        let mut left: usize = 64 * 1024;
        while left > 0 {
            match tcp.read(&mut sink).await? {
                0 => break,
                n => left = left.saturating_sub(n),
            }
        }
        return Ok(None);
    }
    acceptor.accept(tcp).await.map(Some)
}

/// A connection, plain or TLS.
enum Io {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

impl AsyncRead for Io {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Io {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_flush(cx),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Io::Plain(s) => s.is_write_vectored(),
            Io::Tls(s) => s.is_write_vectored(),
        }
    }
}
