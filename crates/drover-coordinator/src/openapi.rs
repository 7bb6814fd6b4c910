//! `GET /openapi/v2`, `GET /openapi/v3` and `GET /openapi/v3/<group-version>`: the documents of
//! [`drover_api::openapi`], built once and served as JSON.
//!
//! | path | answer |
//! |---|---|
//! | `/openapi/v3` | the index: each group-version's `serverRelativeURL`, with its document's hash |
//! | `/openapi/v3/{group-version}` | that document (`?hash=` matching: cacheable for a year) |
//! | `/openapi/v2` | the Swagger 2.0 document |
//!
//! Only JSON is served: a request whose `Accept` names neither JSON nor `*/*` (kubectl asks for
//! v2 as protobuf only) gets 406 `NotAcceptable`, which kubectl reports as "the server was
//! unable to respond with a content type that the client supports". kubectl reads v2 only when
//! the v3 documents do not answer, or for a `kind: List` manifest under `--validate=strict`
//! (see [`drover_api::openapi`]).

use std::collections::BTreeMap;
use std::sync::OnceLock;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use drover_api::openapi;
use serde::Deserialize;
use serde_json::json;

/// The routes, to be merged into the API's router (they need no state).
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/openapi/v2", get(v2))
        .route("/openapi/v3", get(v3_index))
        .route("/openapi/v3/{*group_version}", get(v3))
}

/// The documents as served: JSON bytes, and for each v3 document its hash.
struct Documents {
    v2: Bytes,
    index: Bytes,
    v3: BTreeMap<String, (Bytes, String)>,
}

fn documents() -> &'static Documents {
    static DOCUMENTS: OnceLock<Documents> = OnceLock::new();
    DOCUMENTS.get_or_init(|| {
        let to_bytes = |value: &serde_json::Value| Bytes::from(serde_json::to_vec(value).unwrap_or_default());
        let v3 = openapi::group_versions()
            .into_iter()
            .filter_map(|gv| {
                let document = openapi::v3(&gv)?;
                Some((gv, (to_bytes(&document), openapi::hash(&document))))
            })
            .collect();
        Documents { v2: to_bytes(&openapi::v2()), index: to_bytes(&openapi::v3_index()), v3 }
    })
}

/// True when `Accept` is absent or lets the server answer JSON.
fn accepts_json(headers: &HeaderMap) -> bool {
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else { return true };
    accept.split(',').any(|range| {
        let media = range.split(';').next().unwrap_or("").trim();
        matches!(media, "application/json" | "application/*" | "*/*" | "")
    })
}

fn status(code: StatusCode, reason: &str, message: String) -> Response {
    let body = json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": reason, "code": code.as_u16(),
    });
    (code, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

fn not_acceptable(what: &str) -> Response {
    status(
        StatusCode::NOT_ACCEPTABLE,
        "NotAcceptable",
        format!(
            "{what} is served as application/json only; run kubectl with --validate=false if it asks for protobuf"
        ),
    )
}

fn json_response(bytes: &Bytes, cache: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("application/json")),
            (header::CACHE_CONTROL, HeaderValue::from_static(cache)),
        ],
        bytes.clone(),
    )
        .into_response()
}

async fn v2(headers: HeaderMap) -> Response {
    if !accepts_json(&headers) {
        return not_acceptable("/openapi/v2");
    }
    json_response(&documents().v2, "no-cache, private")
}

async fn v3_index(headers: HeaderMap) -> Response {
    if !accepts_json(&headers) {
        return not_acceptable("/openapi/v3");
    }
    json_response(&documents().index, "no-cache, private")
}

#[derive(Deserialize)]
struct HashQuery {
    hash: Option<String>,
}

async fn v3(Path(group_version): Path<String>, Query(q): Query<HashQuery>, headers: HeaderMap) -> Response {
    let Some((bytes, hash)) = documents().v3.get(group_version.as_str()) else {
        return status(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("no OpenAPI v3 document for {group_version:?}; see /openapi/v3"),
        );
    };
    if !accepts_json(&headers) {
        return not_acceptable("/openapi/v3");
    }
    // A URL with the current hash names this very document: caches may keep it.
    let cache = if q.hash.as_deref() == Some(hash.as_str()) {
        "public, immutable, max-age=31536000"
    } else {
        "no-cache, private"
    };
    let mut response = json_response(bytes, cache);
    if let Ok(etag) = HeaderValue::from_str(&format!("\"{hash}\"")) {
        response.headers_mut().insert(header::ETAG, etag);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Serves [`routes`] on 127.0.0.1:0 and sends one HTTP/1.0 GET; returns the status, the
    /// head and the body.
    async fn get(path: &str, accept: Option<&str>) -> (u16, String, String) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move { axum::serve(listener, routes::<()>()).await });
        let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
        let accept = accept.map(|a| format!("Accept: {a}\r\n")).unwrap_or_default();
        conn.write_all(format!("GET {path} HTTP/1.0\r\n{accept}\r\n").as_bytes()).await.unwrap();
        let mut answer = String::new();
        tokio::time::timeout(std::time::Duration::from_secs(10), conn.read_to_string(&mut answer))
            .await
            .expect("an answer within 10 s")
            .unwrap();
        server.abort();
        let (head, body) = answer.split_once("\r\n\r\n").unwrap();
        let code = head.split_whitespace().nth(1).unwrap().parse().unwrap();
        (code, head.to_ascii_lowercase(), body.to_string())
    }

    #[tokio::test]
    async fn kubectl_reads_the_index_then_each_document_by_its_url() {
        let (code, head, body) = get("/openapi/v3", Some("application/json, */*")).await;
        assert_eq!(code, 200);
        assert!(head.contains("content-type: application/json"), "{head}");
        let index: serde_json::Value = serde_json::from_str(&body).unwrap();
        for gv in openapi::group_versions() {
            let gv = gv.as_str();
            let url = index["paths"][gv]["serverRelativeURL"].as_str().unwrap();
            let (code, head, body) = get(url, Some("application/json")).await;
            assert_eq!(code, 200, "{url}");
            assert!(head.contains("cache-control: public, immutable"), "{head}");
            let document: serde_json::Value = serde_json::from_str(&body).unwrap();
            assert_eq!(document, openapi::v3(gv).unwrap(), "{gv}");
            assert_eq!(url, format!("/openapi/v3/{gv}?hash={}", openapi::hash(&document)));
        }
    }

    #[tokio::test]
    async fn documents_are_served_as_json_only() {
        let cases = [
            ("v3 without hash", "/openapi/v3/apis/batch/v1", None, 200, "no-cache"),
            (
                "v3 with a stale hash",
                "/openapi/v3/apis/batch/v1?hash=ABC",
                Some("application/json"),
                200,
                "no-cache",
            ),
            ("unknown group-version", "/openapi/v3/apis/apps/v1", Some("application/json"), 404, "notfound"),
            (
                "v3 as protobuf",
                "/openapi/v3/api/v1",
                Some("application/com.github.proto-openapi.spec.v3@v1.0+protobuf"),
                406,
                "notacceptable",
            ),
            ("v2 as JSON", "/openapi/v2", Some("application/json"), 200, "\"swagger\":\"2.0\""),
            (
                "v2 with a wildcard",
                "/openapi/v2",
                Some("application/com.github.proto-openapi.spec.v2@v1.0+protobuf, */*"),
                200,
                "\"swagger\":\"2.0\"",
            ),
            (
                "v2 as kubectl asks",
                "/openapi/v2",
                Some("application/com.github.proto-openapi.spec.v2@v1.0+protobuf"),
                406,
                "--validate=false",
            ),
        ];
        for (name, path, accept, want_code, want_text) in cases {
            let (code, head, body) = get(path, accept).await;
            assert_eq!(code, want_code, "{name}");
            let text = format!("{head}\n{}", body.to_ascii_lowercase());
            assert!(text.contains(&want_text.to_ascii_lowercase()), "{name}: {text:.300}");
        }
    }
}
