//! What the five kinds share: the primitives their signature schemes are built from (on kept
//! crypto crates, every comparison of a secret or a signature in constant time) and the one way
//! an answer goes out and its response is read.

use super::{Refused, Secrets, SendError, header, retry_after};
use hmac::{Hmac, Mac};
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, HeaderMap};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::time::Duration;
use subtle::ConstantTimeEq;

/// The header `name` a signature scheme needs: without it the request does not verify.
pub fn required<'a>(headers: &'a HeaderMap, name: &str) -> Result<&'a str, Refused> {
    header(headers, name).ok_or_else(|| Refused::Unauthorized(format!("no `{name}` header (or not visible ASCII)")))
}

/// HMAC-SHA256 of the concatenation of `parts`.
pub fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    mac(key, parts).finalize().into_bytes().into()
}

/// Whether `tag` is HMAC-SHA256(`key`, `parts`), compared in constant time.
pub fn hmac_sha256_verify(key: &[u8], parts: &[&[u8]], tag: &[u8]) -> bool {
    mac(key, parts).verify_slice(tag).is_ok()
}

fn mac(key: &[u8], parts: &[&[u8]]) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
    for part in parts {
        mac.update(part);
    }
    mac
}

/// SHA-256 of the concatenation of `parts`.
pub fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut hash = Sha256::new();
    for part in parts {
        hash.update(part);
    }
    hash.finalize().into()
}

/// Whether `a` and `b` are equal, in time independent of where they differ (their lengths are
/// not secret).
pub fn equal(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// An error that sending again cannot help.
pub fn permanent(error: impl Into<String>) -> SendError {
    SendError { error: error.into(), retry_after: None, permanent: true }
}

/// The secret of `role` as text fit for a URL path or a header (a bot token, an app id), for an
/// answer.
pub fn secret_text<'a>(secrets: &'a Secrets, role: &str) -> Result<&'a str, SendError> {
    let bytes = secrets.get(role).map_err(|(Refused::Unauthorized(e) | Refused::Malformed(e))| permanent(e))?;
    std::str::from_utf8(bytes)
        .ok()
        .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_graphic()))
        .ok_or_else(|| permanent(format!("the `{role}` secret is not printable ASCII")))
}

/// `{api}/{segment}/...`, each segment percent-encoded, so an id or a token taken from a payload
/// can only ever name one path segment.
pub fn endpoint(api: &str, segments: &[&str]) -> Result<String, SendError> {
    let not_a_base = || permanent("the channel's `api` is not an http(s) base URL");
    let mut url = url::Url::parse(api).map_err(|_| not_a_base())?;
    url.path_segments_mut().map_err(|_| not_a_base())?.pop_if_empty().extend(segments);
    Ok(url.into())
}

/// A service's response to an answer.
pub struct Response {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
    /// The body as JSON; `Null` when it is not JSON.
    pub json: Value,
}

impl Response {
    /// The error this response is, when not a success (429 and 5xx retryable), waiting as long
    /// as `wait` says, else as long as `Retry-After` says.
    pub fn error(&self, wait: Option<Duration>) -> SendError {
        SendError::status(self.status, wait.or_else(|| retry_after(&self.headers)), &self.text)
    }

    /// The JSON body of a 2xx; any other status is an error (see [`Response::error`]).
    pub fn success(self, wait: impl FnOnce(&Value) -> Option<Duration>) -> Result<Value, SendError> {
        if self.status.is_success() { Ok(self.json) } else { Err(self.error(wait(&self.json))) }
    }
}

/// Sends `body` as JSON with `request` (method, URL and credentials already set) and reads the
/// response. A request that got no response is a transport error, its URL left out of the error
/// (Telegram's bot token and Discord's interaction token are in the path, Slack's
/// `response_url` is a credential).
pub async fn send_json(request: reqwest::RequestBuilder, body: String) -> Result<Response, SendError> {
    let response = request
        .header(CONTENT_TYPE, "application/json; charset=utf-8")
        .body(body)
        .send()
        .await
        .map_err(|e| SendError::transport(e.without_url()))?;
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.map_err(|e| SendError::transport(e.without_url()))?;
    let json = serde_json::from_str(&text).unwrap_or(Value::Null);
    Ok(Response { status, headers, text, json })
}

/// A JSON number of seconds (Telegram's `retry_after`, Discord's `retry_after`) as a wait.
pub fn seconds(value: &Value) -> Option<Duration> {
    value.as_f64().filter(|s| s.is_finite() && *s >= 0.0).map(Duration::from_secs_f64)
}

/// A service's refusal carried in a successful HTTP response (Slack's `"ok": false`, Feishu's
/// `code`): permanent unless the service says it is a rate limit.
pub fn declined(service: &str, what: &str, rate_limited: bool, retry_after: Option<Duration>) -> SendError {
    SendError {
        error: format!("{service} refused the answer: {}", what.chars().take(300).collect::<String>()),
        retry_after,
        permanent: !rate_limited,
    }
}

/// What the kinds' tests share: a local server that records each request and answers from a
/// script, and builders for secrets, headers and requests.
#[cfg(test)]
pub mod testing {
    use crate::kinds::{Outbound, Request, Secrets};
    use axum::body::Bytes;
    use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
    use serde_json::Value;
    use std::collections::VecDeque;
    use std::sync::{Arc, Mutex};
    use zeroize::Zeroizing;

    /// One request the server got.
    #[derive(Debug)]
    pub struct Recorded {
        pub method: Method,
        pub path: String,
        pub headers: HeaderMap,
        pub bytes: Vec<u8>,
        /// The body as JSON, `Null` when it is not.
        pub json: Value,
    }

    /// One scripted response.
    pub struct Reply {
        status: u16,
        headers: Vec<(String, String)>,
        body: String,
    }

    pub fn reply(status: u16, headers: &[(&str, &str)], body: Value) -> Reply {
        Reply {
            status,
            headers: headers.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect(),
            body: body.to_string(),
        }
    }

    #[derive(Default)]
    struct State {
        recorded: Vec<Recorded>,
        script: VecDeque<Reply>,
    }

    /// A server on 127.0.0.1 answering its requests from a script, in order.
    pub struct Server {
        pub url: String,
        state: Arc<Mutex<State>>,
    }

    impl Server {
        pub async fn start(script: Vec<Reply>) -> Server {
            let state = Arc::new(Mutex::new(State { recorded: Vec::new(), script: script.into() }));
            let shared = state.clone();
            let app = axum::Router::new().fallback(move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                let state = shared.clone();
                async move {
                    let mut state = state.lock().unwrap();
                    state.recorded.push(Recorded {
                        method,
                        path: uri.path().to_string(),
                        headers,
                        json: serde_json::from_slice(&body).unwrap_or(Value::Null),
                        bytes: body.to_vec(),
                    });
                    let Some(reply) = state.script.pop_front() else {
                        return (StatusCode::IM_A_TEAPOT, HeaderMap::new(), "no reply scripted".to_string());
                    };
                    let mut headers = HeaderMap::new();
                    headers.insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
                    for (name, value) in reply.headers {
                        headers.insert(HeaderName::try_from(name).unwrap(), HeaderValue::try_from(value).unwrap());
                    }
                    (StatusCode::from_u16(reply.status).unwrap(), headers, reply.body)
                }
            });
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let url = format!("http://{}", listener.local_addr().unwrap());
            tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
            Server { url, state }
        }

        /// The requests received so far, taken.
        pub fn recorded(&self) -> Vec<Recorded> {
            std::mem::take(&mut self.state.lock().unwrap().recorded)
        }
    }

    pub fn secrets(pairs: &[(&str, &str)]) -> Secrets {
        Secrets(
            pairs.iter().map(|(role, value)| (role.to_string(), Zeroizing::new(value.as_bytes().to_vec()))).collect(),
        )
    }

    pub fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(HeaderName::try_from(*name).unwrap(), HeaderValue::try_from(*value).unwrap());
        }
        map
    }

    pub fn request<'a>(headers: &'a HeaderMap, body: &'a [u8], secrets: &'a Secrets, now: i64) -> Request<'a> {
        Request { channel: "chan", headers, body, secrets, now }
    }

    pub fn outbound<'a>(http: &'a reqwest::Client, api: &'a str, secrets: &'a Secrets) -> Outbound<'a> {
        Outbound { http, api, secrets, callback: None, token: None }
    }

    /// The header `name` of a recorded request, as text.
    pub fn header<'a>(recorded: &'a Recorded, name: &str) -> &'a str {
        recorded.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc_4231_case_2() {
        let tag = hmac_sha256(b"Jefe", &[b"what do ya want ", b"for nothing?"]);
        assert_eq!(hex::encode(tag), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
        assert!(hmac_sha256_verify(b"Jefe", &[b"what do ya want for nothing?"], &tag));
        assert!(!hmac_sha256_verify(b"Jefe", &[b"what do ya want for nothing!"], &tag));
        assert!(!hmac_sha256_verify(b"Jefe", &[b"what do ya want for nothing?"], &tag[..31]));
    }

    #[test]
    fn sha256_of_parts_is_of_their_concatenation() {
        assert_eq!(
            hex::encode(sha256(&[b"a", b"bc"])),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(equal(b"abc", b"abc"));
        assert!(!equal(b"abc", b"abd"));
        assert!(!equal(b"abc", b"ab"));
    }

    #[test]
    fn endpoint_encodes_each_segment() {
        assert_eq!(endpoint("https://x.test/api/v10", &["a", "b"]).unwrap(), "https://x.test/api/v10/a/b");
        assert_eq!(endpoint("http://127.0.0.1:9", &["bot1:x", "send"]).unwrap(), "http://127.0.0.1:9/bot1:x/send");
        assert_eq!(endpoint("https://x.test", &["a/../b?c#d"]).unwrap(), "https://x.test/a%2F..%2Fb%3Fc%23d");
        assert!(endpoint("not a url", &["a"]).unwrap_err().permanent);
    }
}
