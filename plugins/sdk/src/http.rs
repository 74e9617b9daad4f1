//! Outbound HTTP through the host: only to origins the manifest and the binding allow, with the
//! credentials the host attaches. Redirects are returned, not followed.

use std::fmt;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::bindings::monstrum::plugin::http as wit;

/// An outgoing request, built step by step and sent with [`Request::send`].
#[derive(Clone, Debug)]
pub struct Request {
    inner: wit::Request,
}

impl Request {
    /// A request with `method` (`GET`, `POST`, ...) to the absolute URL `url`.
    pub fn new(method: &str, url: impl Into<String>) -> Self {
        Self {
            inner: wit::Request {
                method: method.to_string(),
                url: url.into(),
                headers: Vec::new(),
                body: None,
                credentials: Vec::new(),
            },
        }
    }

    /// A `GET` request.
    pub fn get(url: impl Into<String>) -> Self {
        Self::new("GET", url)
    }

    /// A `POST` request.
    pub fn post(url: impl Into<String>) -> Self {
        Self::new("POST", url)
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.inner.headers.push((name.to_string(), value.into()));
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.inner.body = Some(body.into());
        self
    }

    /// Sets a JSON body and its content type.
    pub fn json<T: Serialize>(self, value: &T) -> Result<Self, HttpError> {
        let body = serde_json::to_vec(value).map_err(|e| HttpError::Failed(e.to_string()))?;
        Ok(self.header("content-type", "application/json").body(body))
    }

    /// Asks the host to attach the manifest's credential field `name` (its value stays in the
    /// host).
    pub fn credential(mut self, name: &str) -> Self {
        self.inner.credentials.push(name.to_string());
        self
    }

    /// Sends the request and waits for the whole response.
    pub fn send(self) -> Result<Response, HttpError> {
        match wit::send(&self.inner) {
            Ok(r) => Ok(Response { status: r.status, headers: r.headers, body: r.body }),
            Err(wit::HttpError::Denied(m)) => Err(HttpError::Denied(m)),
            Err(wit::HttpError::Timeout) => Err(HttpError::Timeout),
            Err(wit::HttpError::Failed(m)) => Err(HttpError::Failed(m)),
        }
    }
}

/// A response.
#[derive(Clone, Debug)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// Headers as (name, value) pairs.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Response {
    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body parsed as JSON.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, HttpError> {
        serde_json::from_slice(&self.body)
            .map_err(|e| HttpError::Failed(format!("response is not the JSON expected: {e}")))
    }

    /// The response itself if its status is 2xx, else [`HttpError::Status`].
    pub fn error_for_status(self) -> Result<Self, HttpError> {
        if (200..300).contains(&self.status) { Ok(self) } else { Err(HttpError::Status(self.status, self.text())) }
    }
}

/// Why a request produced no (successful) response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HttpError {
    /// The host refused it (origin not allowed, unknown credential, bad URL).
    Denied(String),
    /// It did not finish in time.
    Timeout,
    /// The transport failed or the response was too large.
    Failed(String),
    /// A response with a non-2xx status and its body ([`Response::error_for_status`]).
    Status(u16, String),
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Denied(m) => write!(f, "request refused by the host: {m}"),
            Self::Timeout => f.write_str("request timed out"),
            Self::Failed(m) => write!(f, "request failed: {m}"),
            Self::Status(s, body) => write!(f, "HTTP {s}: {body}"),
        }
    }
}

impl std::error::Error for HttpError {}
