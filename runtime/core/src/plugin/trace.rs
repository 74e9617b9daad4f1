//! What plugin calls did, for a plugin's author (`monstrum plugin test`): the fuel and memory each
//! call used and the HTTP requests its guest made, credentials shown by field name only.
//!
//! Nothing is collected unless the caller asks: [`traced`] runs a future with a collector, and
//! every plugin call made inside it (through the gate, in the same task) adds its [`CallTrace`].
//! A call outside [`traced`] pays one task-local lookup.

use super::bindings::monstrum::plugin::http::{HttpError, Request, Response};
use monstrum_model::Manifest;
use serde::Serialize;
use std::cell::RefCell;
use std::future::Future;
use std::time::Instant;

tokio::task_local! {
    static TRACES: RefCell<Vec<CallTrace>>;
}

/// One plugin call, as the host saw it.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct CallTrace {
    /// `instance.tool`.
    pub call: String,
    /// Fuel the guest used (about one unit per WebAssembly instruction).
    pub fuel_used: u64,
    /// The call's fuel budget.
    pub fuel_limit: u64,
    /// The most linear memory the guest had, in bytes.
    pub memory_peak_bytes: usize,
    /// The call's memory limit, in bytes.
    pub memory_limit_bytes: usize,
    /// Wall-clock time of the call, instantiation included.
    pub duration_ms: f64,
    /// The HTTP requests the guest made, in order (refused ones included).
    pub http: Vec<HttpExchange>,
}

/// One HTTP request of a guest and what came of it.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct HttpExchange {
    pub method: String,
    /// The URL as the guest asked for it, before the host added any credential to it.
    pub url: String,
    /// The request's headers as the guest set them, then `name: [credential FIELD]` for each
    /// credential the host wrote into a header (never its value).
    pub headers: Vec<(String, String)>,
    /// The credential fields the guest asked the host to attach.
    pub credentials: Vec<String>,
    /// The response's status, if one came back.
    pub status: Option<u16>,
    /// The response body's length in bytes.
    pub response_bytes: usize,
    /// Why no response came back (refused by the host, timed out, failed).
    pub error: Option<String>,
    pub duration_ms: f64,
}

/// Runs `future`, collecting a [`CallTrace`] of every plugin call made in it.
pub async fn traced<F: Future>(future: F) -> (F::Output, Vec<CallTrace>) {
    TRACES
        .scope(RefCell::new(Vec::new()), async move {
            let output = future.await;
            (output, TRACES.with(|t| t.take()))
        })
        .await
}

/// Whether the current task collects traces.
pub(crate) fn active() -> bool {
    TRACES.try_with(|_| ()).is_ok()
}

/// Adds a finished call's trace, if the current task collects them.
pub(crate) fn record(trace: CallTrace) {
    let _ = TRACES.try_with(|t| t.borrow_mut().push(trace));
}

/// The HTTP exchanges of one call, kept only while its task collects traces.
#[derive(Default)]
pub(crate) struct HttpLog(pub(crate) Option<Vec<HttpExchange>>);

impl HttpLog {
    /// A log that keeps exchanges if the current task collects traces.
    pub(crate) fn for_this_task() -> HttpLog {
        HttpLog(active().then(Vec::new))
    }

    /// Sends `req` with `send`, keeping what was asked and what came back.
    pub(crate) async fn send<F>(&mut self, manifest: &Manifest, req: Request, send: F) -> Result<Response, HttpError>
    where
        F: AsyncFnOnce(Request) -> Result<Response, HttpError>,
    {
        let Some(log) = &mut self.0 else { return send(req).await };
        let started = Instant::now();
        let mut headers = req.headers.clone();
        for field in &req.credentials {
            if let Some(header) = manifest.credentials.get(field).and_then(|c| c.inject.header.as_ref()) {
                headers.push((header.clone(), format!("[credential {field}]")));
            }
        }
        let mut exchange = HttpExchange {
            method: req.method.clone(),
            url: req.url.clone(),
            headers,
            credentials: req.credentials.clone(),
            status: None,
            response_bytes: 0,
            error: None,
            duration_ms: 0.0,
        };
        let result = send(req).await;
        match &result {
            Ok(response) => {
                exchange.status = Some(response.status);
                exchange.response_bytes = response.body.len();
            }
            Err(HttpError::Denied(why)) => exchange.error = Some(format!("refused by the host: {why}")),
            Err(HttpError::Timeout) => exchange.error = Some("timed out".into()),
            Err(HttpError::Failed(why)) => exchange.error = Some(format!("failed: {why}")),
        }
        exchange.duration_ms = started.elapsed().as_secs_f64() * 1000.0;
        log.push(exchange);
        result
    }
}
