//! HTTP plumbing shared by the providers that talk to a server: the client, sending, and
//! turning error answers into [`LlmError`] without ever showing the API key.

use super::LlmError;
use serde_json::Value;
use std::time::Duration;

/// Whole-request timeout: a long answer from a slow model still fits.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);
/// Time allowed to open the connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest error text kept from a body that is not the usual error JSON.
const MAX_ERROR_CHARS: usize = 500;

/// The API root without a trailing slash.
pub(super) fn trim_base_url(base_url: String) -> String {
    base_url.trim_end_matches('/').to_owned()
}

/// The HTTP client a provider keeps; an error (no TLS backend, ...) is reported on first use.
pub(super) fn http_client() -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .connect_timeout(CONNECT_TIMEOUT)
        .user_agent(concat!("monstrum/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("cannot create the HTTP client: {}", error_chain(&e)))
}

/// Sends a request and returns the JSON of a 2xx answer; a non-2xx answer becomes
/// [`LlmError::Api`], a failure to connect or to read the answer [`LlmError::Transport`].
/// `api_key` is scrubbed from every message.
pub(super) async fn send(
    provider: &'static str,
    builder: reqwest::RequestBuilder,
    api_key: Option<&str>,
) -> Result<Value, LlmError> {
    let scrub = |text: String| match api_key {
        Some(key) if !key.is_empty() => text.replace(key, "[redacted]"),
        _ => text,
    };
    let response = builder.send().await.map_err(|e| transport(provider, scrub(error_chain(&e))))?;
    let status = response.status();
    let body = response
        .text()
        .await
        .map_err(|e| transport(provider, scrub(format!("cannot read the answer: {}", error_chain(&e)))))?;
    if !status.is_success() {
        let message = scrub(error_message(&body, status));
        tracing::debug!(provider, status = status.as_u16(), %message, "model request failed");
        return Err(LlmError::Api { provider, status: status.as_u16(), message });
    }
    serde_json::from_str(&body)
        .map_err(|e| transport(provider, scrub(format!("the answer is not JSON ({e}): {}", truncate(&body)))))
}

/// The message of an error answer: `error.message` (OpenAI, Anthropic), `error` when it is a
/// string (Ollama), `message`, else the body itself, truncated.
fn error_message(body: &str, status: reqwest::StatusCode) -> String {
    if let Ok(json) = serde_json::from_str::<Value>(body) {
        let found = json
            .pointer("/error/message")
            .or_else(|| json.get("error").filter(|e| e.is_string()))
            .or_else(|| json.get("message"))
            .and_then(Value::as_str);
        if let Some(message) = found {
            return truncate(message);
        }
    }
    let body = body.trim();
    if body.is_empty() { status.canonical_reason().unwrap_or("empty error answer").to_owned() } else { truncate(body) }
}

/// At most [`MAX_ERROR_CHARS`] characters of `text`.
pub(super) fn truncate(text: &str) -> String {
    match text.char_indices().nth(MAX_ERROR_CHARS) {
        Some((end, _)) => format!("{}...", &text[..end]),
        None => text.to_owned(),
    }
}

/// A failure to reach the server or to read its answer.
pub(super) fn transport(provider: &'static str, message: String) -> LlmError {
    LlmError::Transport { provider, message }
}

/// An error with its causes (`error sending request: connection refused`).
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_url_loses_its_trailing_slash() {
        assert_eq!(trim_base_url("http://x/v1/".into()), "http://x/v1");
    }

    #[test]
    fn error_message_prefers_the_error_json() {
        let status = reqwest::StatusCode::UNAUTHORIZED;
        assert_eq!(error_message(r#"{"error":{"message":"bad key","type":"x"}}"#, status), "bad key");
        assert_eq!(error_message(r#"{"error":"model not found"}"#, status), "model not found");
        assert_eq!(error_message("  oops \n", status), "oops");
        assert_eq!(error_message("", status), "Unauthorized");
        let long = "x".repeat(2000);
        assert_eq!(error_message(&long, status).chars().count(), MAX_ERROR_CHARS + 3);
    }
}
