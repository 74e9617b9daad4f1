//! Local stand-ins for the chat services the gateway answers through (Slack's Web API and
//! response URLs, Telegram's Bot API, Discord's interaction webhooks, Feishu's Open API, a
//! webhook receiver): an HTTP server that records every request as it came and answers as the
//! service does, so the gateway's own code, pointed at it by the channel's `api`, is what is
//! tested. A test queues special answers (a 429 with `retry_after`) per path.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One request the service received.
#[derive(Clone, Debug)]
pub struct Received {
    pub method: String,
    pub path: String,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Received {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

#[derive(Default)]
struct Inner {
    received: Vec<Received>,
    /// The gateway's "Working on it…" notes, kept apart: whether one comes depends on how long a
    /// run takes on a loaded machine.
    notes: Vec<Received>,
    /// Answers to give before the normal one: (path suffix, status, headers, body).
    queued: VecDeque<(String, u16, Vec<(String, String)>, Value)>,
}

/// A running stand-in; `url` is its base URL.
#[derive(Clone)]
pub struct ChatService {
    pub url: String,
    inner: Arc<Mutex<Inner>>,
}

impl ChatService {
    pub fn start() -> ChatService {
        let inner: Arc<Mutex<Inner>> = Arc::default();
        let app = axum::Router::new().fallback(answer).with_state(inner.clone());
        ChatService { url: super::serve(app), inner }
    }

    /// The next request whose path ends with `suffix` gets this answer instead.
    pub fn queue(&self, suffix: &str, status: u16, headers: &[(&str, &str)], body: Value) {
        let headers = headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        self.inner.lock().unwrap().queued.push_back((suffix.to_string(), status, headers, body));
    }

    /// Every request so far but the "Working on it…" notes.
    pub fn received(&self) -> Vec<Received> {
        self.inner.lock().unwrap().received.clone()
    }

    /// The "Working on it…" notes so far.
    pub fn notes(&self) -> Vec<Received> {
        self.inner.lock().unwrap().notes.clone()
    }

    /// Waits (up to 30 s) until `n` requests have come; returns them.
    pub fn wait_for(&self, n: usize) -> Vec<Received> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let got = self.received();
            if got.len() >= n {
                return got;
            }
            assert!(Instant::now() < deadline, "the service got {} request(s), not {n}: {got:#?}", got.len());
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

async fn answer(
    State(inner): State<Arc<Mutex<Inner>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_string();
    let mut inner = inner.lock().unwrap();
    let received = Received { method: method.to_string(), path: path.clone(), headers, body: body.to_vec() };
    if String::from_utf8_lossy(&body).contains("Working on it") {
        inner.notes.push(received);
        return axum::Json(json!({ "ok": true, "code": 0 })).into_response();
    }
    inner.received.push(received);
    if let Some(i) = inner.queued.iter().position(|(suffix, ..)| path.ends_with(suffix.as_str())) {
        let (_, status, headers, body) = inner.queued.remove(i).unwrap();
        let mut response = (StatusCode::from_u16(status).unwrap(), axum::Json(body)).into_response();
        for (k, v) in headers {
            response.headers_mut().insert(axum::http::HeaderName::try_from(k).unwrap(), v.parse().unwrap());
        }
        return response;
    }
    // What each service answers on success.
    let body = if path.contains("/open-apis/auth/") {
        json!({ "code": 0, "msg": "ok", "tenant_access_token": "t-test-tenant-token", "expire": 7200 })
    } else if path.contains("/open-apis/") {
        json!({ "code": 0, "msg": "success", "data": { "message_id": "om_answer" } })
    } else if path.contains("/sendMessage") {
        json!({ "ok": true, "result": { "message_id": 99 } })
    } else if path.contains("/api/chat.postMessage") {
        json!({ "ok": true, "channel": "C1", "ts": "1700000000.000200" })
    } else {
        json!({ "ok": true })
    };
    axum::Json(body).into_response()
}
