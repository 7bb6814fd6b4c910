//! The client's timeouts against servers that stop answering: a request to a server that
//! accepts and never answers fails within the request timeout, and a stream that goes silent
//! fails within its idle bound, while keepalive lines (empty lines) keep it alive and never
//! reach the caller.

use std::time::{Duration, Instant};

use drover_api::protocol::Assignment;
use drover_client::{Client, ClientError};
use futures::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A listener on 127.0.0.1 that hands each accepted connection, after reading the request's
/// head, to `serve`.
async fn server<F, Fut>(serve: F) -> (String, tokio::task::JoinHandle<()>)
where
    F: Fn(TcpStream) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        loop {
            let Ok((mut conn, _)) = listener.accept().await else { return };
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") {
                if conn.read(&mut byte).await.unwrap_or(0) == 0 {
                    break;
                }
                head.push(byte[0]);
            }
            tokio::spawn(serve(conn));
        }
    });
    (url, task)
}

const NDJSON_HEAD: &[u8] =
    b"HTTP/1.1 200 OK\r\ncontent-type: application/x-ndjson\r\nconnection: close\r\n\r\n";

#[tokio::test]
async fn a_request_to_a_server_that_never_answers_fails_within_the_timeout() {
    // Accepts, reads the request, and holds the connection open without a byte of reply.
    let (url, task) = server(|conn| async move {
        tokio::time::sleep(Duration::from_secs(60)).await;
        drop(conn);
    })
    .await;
    let timeout = Duration::from_millis(300);
    let client = Client::new(&url).with_timeout(timeout);
    let start = Instant::now();
    let err = client.get_job("pi").await.unwrap_err();
    let took = start.elapsed();
    assert!(matches!(err, ClientError::Timeout { after, .. } if after == timeout), "{err:?}");
    assert!(took >= timeout && took < Duration::from_secs(5), "took {took:?}");
    let text = err.to_string();
    assert!(text.contains(&url) && text.contains("did not answer within 300ms"), "{text}");

    // A stream waits no longer for its reply's head.
    let start = Instant::now();
    let err = client.assignments("w").await.err().expect("no reply head");
    assert!(matches!(err, ClientError::Timeout { .. }), "{err:?}");
    assert!(start.elapsed() < Duration::from_secs(5));
    task.abort();
}

#[tokio::test]
async fn a_reply_body_that_stalls_fails_within_the_timeout() {
    // The head and half a JSON body, then nothing.
    let (url, task) = server(|mut conn| async move {
        let _ = conn
            .write_all(
                b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{\"kind\":",
            )
            .await;
        tokio::time::sleep(Duration::from_secs(60)).await;
    })
    .await;
    let client = Client::new(&url).with_timeout(Duration::from_millis(300));
    let start = Instant::now();
    let err = client.get_job("pi").await.unwrap_err();
    assert!(matches!(err, ClientError::Timeout { .. }), "{err:?}");
    assert!(start.elapsed() < Duration::from_secs(5));
    task.abort();
}

#[tokio::test]
async fn a_stream_lives_on_keepalives_and_errors_once_silent_past_its_idle_bound() {
    // A SYNC message, then an empty line every 100 ms for 1 s (twice the idle bound),
    // then silence with the connection still open.
    let (url, task) = server(|mut conn| async move {
        let _ = conn.write_all(NDJSON_HEAD).await;
        let _ = conn.write_all(b"{\"type\":\"SYNC\",\"pods\":[]}\n").await;
        for _ in 0..10 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if conn.write_all(b"\n").await.is_err() {
                return;
            }
        }
        tokio::time::sleep(Duration::from_secs(60)).await;
    })
    .await;
    let idle = Duration::from_millis(500);
    let client = Client::new(&url).with_stream_idle_timeout(idle);
    let start = Instant::now();
    let mut stream = Box::pin(client.assignments("w").await.unwrap());
    match stream.next().await {
        Some(Ok(Assignment::Sync { pods })) => assert!(pods.is_empty()),
        other => panic!("expected the SYNC message, got {other:?}"),
    }
    // The keepalives are skipped, and keep the stream alive past the idle bound.
    let next = stream.next().await;
    let took = start.elapsed();
    match next {
        Some(Err(ClientError::StreamIdle { after, .. })) => assert_eq!(after, idle),
        other => panic!("expected the idle error, got {other:?}"),
    }
    assert!(took >= Duration::from_millis(1000), "errored during the keepalives, after {took:?}");
    assert!(took < Duration::from_millis(1000) + Duration::from_secs(3), "took {took:?}");
    // The stream ends after the error (the worker reconnects).
    assert!(stream.next().await.is_none());
    task.abort();
}

#[tokio::test]
async fn a_watch_that_goes_silent_errors_within_its_idle_bound() {
    let (url, task) = server(|mut conn| async move {
        let _ = conn.write_all(NDJSON_HEAD).await;
        let _ = conn.write_all(b"{\"type\":\"ADDED\",\"object\":{\"n\":1}}\n\n\r\n").await;
        tokio::time::sleep(Duration::from_secs(60)).await;
    })
    .await;
    let client = Client::new(&url).with_stream_idle_timeout(Duration::from_millis(200));
    let mut stream = Box::pin(client.watch::<serde_json::Value>("jobs", "", None).await.unwrap());
    let first = stream.next().await.unwrap().unwrap();
    assert_eq!(first.object["n"], 1);
    let start = Instant::now();
    let err = stream.next().await.unwrap().unwrap_err();
    assert!(matches!(err, ClientError::StreamIdle { .. }), "{err:?}");
    assert!(start.elapsed() < Duration::from_secs(3));
    assert!(err.to_string().contains("presumed dead"), "{err}");
    task.abort();
}
