//! The `http` capability. A request leaves the host only if its URL's origin (scheme, host,
//! port) is one the call allows and, when the allowed entry has a path, its path is under that
//! path, or else if the call's [`HttpPolicy`] (the binding's scope, from the manifest's
//! `http.url` rule) accepts the whole URL. The host then writes the secrets of the credential
//! fields the guest named into the header or query parameter their manifest entries give (a
//! guest header of the same name is dropped), but only on a request to the origin each
//! credential is tied to; sends the request without following redirects, within the call's
//! deadline and the per-request timeout, reads at most the call's body limit, and scrubs every
//! secret of the call from what it hands back (a server echoing a credential does not leak it
//! into the guest).

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::header::{HeaderName, HeaderValue};
use reqwest::{Method, Url};
use zeroize::Zeroizing;

use super::bindings::monstrum::plugin::http::{HttpError, Request, Response};
use super::state::CallEnv;

/// Decides whether a request to this URL (outside the call's allowed origins) may leave:
/// `Err(reason)` refuses.
pub type HttpPolicy = Arc<dyn Fn(&str) -> Result<(), String> + Send + Sync>;

/// How outgoing requests reach the network.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Proxy {
    /// The proxy named by `HTTPS_PROXY`/`HTTP_PROXY`/`ALL_PROXY` (and `NO_PROXY`), if any.
    #[default]
    Env,
    /// Direct connections only.
    None,
    /// Every request through this proxy URL (`NO_PROXY` still applies).
    Url(String),
}

/// The HTTP client all calls share.
#[derive(Debug)]
pub(crate) struct HttpClient {
    client: reqwest::Client,
}

/// The longest any single request may take, whatever time the call has left.
const MAX_REQUEST_TIME: Duration = Duration::from_secs(120);

impl HttpClient {
    pub(crate) fn new(proxy: &Proxy) -> anyhow::Result<Self> {
        let builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("monstrum/", env!("CARGO_PKG_VERSION")));
        let builder = match proxy {
            Proxy::Env => builder,
            Proxy::None => builder.no_proxy(),
            Proxy::Url(url) => builder.proxy(reqwest::Proxy::all(url)?.no_proxy(reqwest::NoProxy::from_env())),
        };
        Ok(Self { client: builder.build()? })
    }
}

/// One allowed entry: an origin and an optional path prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Allowed {
    scheme: String,
    host: String,
    port: u16,
    path: String,
}

/// The origins a call may reach.
#[derive(Clone, Debug, Default)]
pub(crate) struct AllowedOrigins(Vec<Allowed>);

impl AllowedOrigins {
    /// Parses `entries` (`https://api.github.com`, `http://127.0.0.1:8080/api/v3`). An entry
    /// that is not an absolute http(s) URL is an error: a typo must not widen or silently
    /// narrow what a binding grants.
    pub(crate) fn parse(entries: &[String]) -> Result<Self, String> {
        let mut allowed = Vec::with_capacity(entries.len());
        for entry in entries {
            let url = Url::parse(entry).map_err(|e| format!("allowed origin {entry:?} is not a URL: {e}"))?;
            let (scheme, host, port) =
                origin(&url).ok_or_else(|| format!("allowed origin {entry:?} is not http(s)"))?;
            let path = url.path().trim_end_matches('/').to_string();
            allowed.push(Allowed { scheme, host, port, path });
        }
        Ok(Self(allowed))
    }

    /// Whether exactly one entry is allowed.
    fn is_single(&self) -> bool {
        self.0.len() == 1
    }

    fn permits(&self, url: &Url) -> bool {
        let Some((scheme, host, port)) = origin(url) else { return false };
        self.0.iter().any(|a| {
            a.scheme == scheme
                && a.host == host
                && a.port == port
                && (a.path.is_empty()
                    || url.path() == a.path
                    || url.path().strip_prefix(&a.path).is_some_and(|rest| rest.starts_with('/')))
        })
    }
}

/// Scheme, lower-cased host and port (the scheme's default when absent) of an http(s) URL.
fn origin(url: &Url) -> Option<(String, String, u16)> {
    if !matches!(url.scheme(), "http" | "https") {
        return None;
    }
    let host = url.host_str()?.to_ascii_lowercase();
    Some((url.scheme().to_string(), host, url.port_or_known_default()?))
}

pub(crate) async fn send(state: &CallEnv, req: Request) -> Result<Response, HttpError> {
    let mut url = Url::parse(&req.url).map_err(|e| HttpError::Denied(format!("invalid URL {:?}: {e}", req.url)))?;
    let in_network = state.origins.permits(&url);
    if !in_network {
        let Some(policy) = &state.http_policy else {
            return Err(HttpError::Denied(format!(
                "{} is outside the origins instance {} may reach",
                display_origin(&url),
                state.instance
            )));
        };
        policy(url.as_str()).map_err(|reason| {
            HttpError::Denied(format!(
                "{} is outside the origins and the scope of instance {}: {reason}",
                display_origin(&url),
                state.instance
            ))
        })?;
    }
    let method = Method::from_bytes(req.method.as_bytes())
        .map_err(|_| HttpError::Denied(format!("invalid method {:?}", req.method)))?;

    // Credentials: the guest names fields, the host resolves and writes the secrets.
    let mut injected_headers: Vec<(HeaderName, HeaderValue)> = Vec::new();
    for field in &req.credentials {
        let spec = state.manifest.credentials.get(field).ok_or_else(|| {
            HttpError::Denied(format!("plugin {} has no credential field {field:?}", state.manifest.name))
        })?;
        // A credential goes only to its own origin: the guest cannot put one service's key on a
        // request to another origin it may reach. Without a declared origin, only a call that
        // can reach a single origin may carry it (there is nowhere else for it to go).
        let tied = match state.credential_origins.get(field) {
            Some(origin) => origin.permits(&url),
            None => in_network && state.http_policy.is_none() && state.origins.is_single(),
        };
        if !tied {
            return Err(HttpError::Denied(format!(
                "credential {field:?} of instance {} may not be sent to {}",
                state.instance,
                display_origin(&url)
            )));
        }
        let secret = state.secrets.get(field).ok_or_else(|| {
            HttpError::Denied(format!("no secret is bound to credential {field:?} of instance {}", state.instance))
        })?;
        let value = Zeroizing::new(match &spec.inject.format {
            Some(format) => format.replace("{}", secret),
            None => secret.to_string(),
        });
        if let Some(header) = &spec.inject.header {
            let name = HeaderName::from_bytes(header.as_bytes())
                .map_err(|_| HttpError::Denied(format!("credential {field:?} names an invalid header {header:?}")))?;
            let mut value = HeaderValue::from_str(&value).map_err(|_| {
                HttpError::Denied(format!("the secret of credential {field:?} is not a valid header value"))
            })?;
            value.set_sensitive(true);
            injected_headers.push((name, value));
        } else if let Some(param) = &spec.inject.query {
            url.query_pairs_mut().append_pair(param, &value);
        } else {
            return Err(HttpError::Denied(format!("credential {field:?} is not for HTTP requests")));
        }
    }

    let mut builder = state.http.client.request(method, url);
    for (name, value) in &req.headers {
        let Ok(name) = HeaderName::from_bytes(name.as_bytes()) else {
            return Err(HttpError::Denied(format!("invalid header name {name:?}")));
        };
        // The host decides where the request goes and which credentials it carries.
        if name == reqwest::header::HOST || injected_headers.iter().any(|(n, _)| *n == name) {
            continue;
        }
        let value =
            HeaderValue::from_str(value).map_err(|_| HttpError::Denied(format!("invalid value for header {name}")))?;
        builder = builder.header(name, value);
    }
    for (name, value) in injected_headers {
        builder = builder.header(name, value);
    }
    // The call's idempotency key, under the header the manifest names, so that a service which
    // dedupes by it sees a call sent again after a crash as the same request.
    if let (Some(header), Some(key)) =
        (state.manifest.http.as_ref().and_then(|h| h.idempotency_header.as_deref()), &state.idempotency_key)
    {
        let name = HeaderName::from_bytes(header.as_bytes())
            .map_err(|_| HttpError::Denied(format!("the manifest names an invalid idempotency header {header:?}")))?;
        let value = HeaderValue::from_str(key).map_err(|_| HttpError::Denied("invalid idempotency key".into()))?;
        builder = builder.header(name, value);
    }
    if let Some(body) = req.body {
        builder = builder.body(body);
    }
    let remaining = state.deadline.saturating_duration_since(Instant::now());
    let limit = state.http_timeout.unwrap_or(MAX_REQUEST_TIME).min(MAX_REQUEST_TIME);
    builder = builder.timeout(remaining.min(limit));

    let response = builder.send().await.map_err(|e| transport_error(state, e))?;
    let status = response.status().as_u16();
    let mut headers: Vec<(String, String)> = response
        .headers()
        .iter()
        .map(|(n, v)| (n.as_str().to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
        .collect();
    let body = read_body(state, response).await?;
    let body = scrub(state, body);
    for (_, v) in &mut headers {
        if state.secrets.values().any(|s| v.contains(s)) {
            *v = String::from_utf8_lossy(&scrub(state, v.as_bytes().to_vec())).into_owned();
        }
    }
    Ok(Response { status, headers, body })
}

async fn read_body(state: &CallEnv, mut response: reqwest::Response) -> Result<Vec<u8>, HttpError> {
    let limit = state.max_body_bytes;
    if response.content_length().is_some_and(|n| n > limit as u64) {
        return Err(HttpError::Failed(format!("the response is larger than the limit of {limit} bytes")));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| transport_error(state, e))? {
        if body.len() + chunk.len() > limit {
            return Err(HttpError::Failed(format!("the response is larger than the limit of {limit} bytes")));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A transport error, without the URL (whose query may carry a credential) and scrubbed.
fn transport_error(state: &CallEnv, e: reqwest::Error) -> HttpError {
    if e.is_timeout() {
        return HttpError::Timeout;
    }
    let message = error_chain(&e.without_url());
    HttpError::Failed(String::from_utf8_lossy(&scrub(state, message.into_bytes())).into_owned())
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut message = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    message
}

/// `bytes` with every occurrence of a secret of the call replaced by `[redacted]`.
fn scrub(state: &CallEnv, mut bytes: Vec<u8>) -> Vec<u8> {
    for secret in state.secrets.values() {
        bytes = replace_all(&bytes, secret.as_bytes(), b"[redacted]");
    }
    bytes
}

fn replace_all(haystack: &[u8], needle: &[u8], with: &[u8]) -> Vec<u8> {
    if needle.is_empty() || haystack.len() < needle.len() {
        return haystack.to_vec();
    }
    let mut out = Vec::with_capacity(haystack.len());
    let mut i = 0;
    while i < haystack.len() {
        if haystack[i..].starts_with(needle) {
            out.extend_from_slice(with);
            i += needle.len();
        } else {
            out.push(haystack[i]);
            i += 1;
        }
    }
    out
}

fn display_origin(url: &Url) -> String {
    match (url.host_str(), url.port()) {
        (Some(host), Some(port)) => format!("{}://{host}:{port}", url.scheme()),
        (Some(host), None) => format!("{}://{host}", url.scheme()),
        _ => url.scheme().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(entries: &[&str]) -> AllowedOrigins {
        AllowedOrigins::parse(&entries.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn origins_match_scheme_host_and_port() {
        let a = allowed(&["https://api.github.com", "http://127.0.0.1:8080"]);
        assert!(a.permits(&url("https://api.github.com/repos/x")));
        assert!(a.permits(&url("https://API.github.com:443/")));
        assert!(!a.permits(&url("http://api.github.com/")));
        assert!(!a.permits(&url("https://api.github.com.evil.com/")));
        assert!(!a.permits(&url("https://api.github.com:8443/")));
        assert!(a.permits(&url("http://127.0.0.1:8080/x")));
        assert!(!a.permits(&url("http://127.0.0.1:8081/x")));
        assert!(!a.permits(&url("file:///etc/passwd")));
    }

    #[test]
    fn a_path_in_an_entry_is_a_segment_prefix() {
        let a = allowed(&["https://ghe.example.com/api/v3/"]);
        assert!(a.permits(&url("https://ghe.example.com/api/v3")));
        assert!(a.permits(&url("https://ghe.example.com/api/v3/repos")));
        assert!(!a.permits(&url("https://ghe.example.com/api/v3x")));
        assert!(!a.permits(&url("https://ghe.example.com/login")));
    }

    #[test]
    fn nothing_allowed_permits_nothing_and_bad_entries_are_errors() {
        assert!(!allowed(&[]).permits(&url("https://example.com")));
        assert!(AllowedOrigins::parse(&["example.com".to_string()]).is_err());
        assert!(AllowedOrigins::parse(&["ftp://example.com".to_string()]).is_err());
    }

    #[test]
    fn replace_all_replaces_every_occurrence() {
        assert_eq!(replace_all(b"a-SEC-b-SEC", b"SEC", b"[r]"), b"a-[r]-b-[r]".to_vec());
        assert_eq!(replace_all(b"abc", b"", b"x"), b"abc".to_vec());
    }
}
