//! `GET /api/runs/{id}/events` and `GET /api/events`: server-sent events carrying the `--json`
//! objects. A run's stream starts at its first event (or after `Last-Event-ID`) and ends after
//! its `run_finished`; a run this server holds no log of (it ran before the server started, or
//! elsewhere) is told from the store: the events its records imply, then the end.

use crate::error::ApiError;
use crate::hub::{Log, Next};
use crate::state::App;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;
use futures::Stream;
use monstrum_core::events::Event;
use monstrum_core::store::{RunRecord, Store};
use std::convert::Infallible;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

/// A comment line sent when nothing happened for this long, so that proxies keep the stream.
const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// Events written at once to one subscriber.
const BATCH: usize = 256;

fn last_event_id(headers: &HeaderMap) -> Result<u64, ApiError> {
    match headers.get("last-event-id") {
        None => Ok(0),
        Some(v) => v
            .to_str()
            .ok()
            .and_then(|v| v.trim().parse::<i64>().ok())
            .and_then(|v| u64::try_from(v).ok())
            .ok_or_else(|| ApiError::invalid("Last-Event-ID must be the id of an event of this stream")),
    }
}

/// One server-sent event of a stream, as a client reads it.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // written by `frame`, described here
pub struct StreamEvent {
    /// Its number in the stream, what `Last-Event-ID` resumes after (absent on `lagged`, which
    /// says how many events a slow subscriber missed).
    id: Option<String>,
    /// One JSON object, as `monstrum run --json` prints it: `type`, `run`, and the type's fields.
    data: String,
    /// Always `message` (the default).
    event: Option<String>,
}

/// One server-sent event (the JSON is one line: serde_json writes no newline).
fn frame(out: &mut String, id: Option<u64>, json: &str) {
    if let Some(id) = id {
        let _ = writeln!(out, "id: {id}");
    }
    out.push_str("data: ");
    out.push_str(json);
    out.push_str("\n\n");
}

/// A `text/event-stream` answer over `chunks`.
fn event_stream(chunks: impl Stream<Item = Result<Bytes, Infallible>> + Send + 'static) -> Response {
    let mut response = Response::new(Body::from_stream(chunks));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// Reads `log` after `after`; with `until_finished`, ends after the run's `run_finished` (the
/// newest event, and no resume since). Every event that is there when the subscriber wakes goes
/// out in one write: a thousand subscribers cost a thousand writes per wake, not per event.
/// A run's log has `stored` beside it (its store and run): what fell out of memory is read
/// back from there.
fn follow(
    log: Arc<Log>,
    after: u64,
    until_finished: bool,
    stored: Option<(Store, String)>,
) -> impl Stream<Item = Result<Bytes, Infallible>> {
    struct S {
        log: Arc<Log>,
        cursor: u64,
        done: bool,
        stored: Option<(Store, String)>,
    }
    futures::stream::unfold(S { log, cursor: after, done: false, stored }, move |mut s| async move {
        if s.done {
            return None;
        }
        loop {
            let seen = s.log.mark();
            match s.log.read(s.cursor, BATCH) {
                Next::Lagged { missed, resume_after } => {
                    if let Some(out) = read_stored(&mut s.cursor, s.stored.as_ref()).await {
                        s.done = until_finished && s.log.ends_at(s.cursor, s.log.mark());
                        return Some((Ok(Bytes::from(out)), s));
                    }
                    s.cursor = resume_after;
                    let mut out = String::new();
                    frame(&mut out, None, &serde_json::json!({ "type": "lagged", "missed": missed }).to_string());
                    return Some((Ok(Bytes::from(out)), s));
                }
                Next::Events(events) if !events.is_empty() => {
                    let mut out = String::with_capacity(events.iter().map(|e| e.json.len() + 24).sum());
                    for e in &events {
                        frame(&mut out, Some(e.id), &e.json);
                        s.cursor = e.id;
                    }
                    s.done = until_finished && s.log.ends_at(s.cursor, s.log.mark());
                    return Some((Ok(Bytes::from(out)), s));
                }
                Next::Events(_) if until_finished && s.log.ends_at(s.cursor, seen) => return None,
                Next::Events(_) => {
                    if tokio::time::timeout(KEEP_ALIVE, s.log.changed(seen)).await.is_err() {
                        return Some((Ok(Bytes::from_static(b":\n\n")), s));
                    }
                }
            }
        }
    })
}

/// The next stored events after `cursor` as server-sent events (moving it on), if the store has
/// any.
async fn read_stored(cursor: &mut u64, stored: Option<&(Store, String)>) -> Option<String> {
    let (store, run) = stored?;
    let events = match store.run_events_after(run, *cursor, BATCH as u32).await {
        Ok(events) => events,
        Err(e) => {
            tracing::warn!("cannot read the stored events of run {run}: {e}");
            return None;
        }
    };
    let mut out = String::new();
    for (id, json) in &events {
        frame(&mut out, Some(*id), json);
        *cursor = *id;
    }
    (!events.is_empty()).then_some(out)
}

/// The stored events of a run after `after`, to their end (a run nobody here drives).
fn replay(store: Store, run: String, after: u64) -> impl Stream<Item = Result<Bytes, Infallible>> {
    let stored = Some((store, run));
    futures::stream::unfold((after, stored), |(mut cursor, stored)| async move {
        let out = read_stored(&mut cursor, stored.as_ref()).await?;
        Some((Ok(Bytes::from(out)), (cursor, stored)))
    })
}

/// The events a run's records imply, for a run this server has no log of and whose events
/// were never stored (it ran under `monstrum run`, not the server).
async fn from_store(store: &Store, run: &RunRecord) -> Result<Vec<String>, ApiError> {
    let mut events = vec![Event::RunStarted { run: run.id.clone(), workflow: run.workflow.clone(), resumed: false }];
    for s in store.load_steps(&run.id).await.map_err(ApiError::internal)? {
        let (run, step) = (run.id.clone(), s.step_key.clone());
        events.push(match s.status.as_str() {
            "succeeded" => Event::StepFinished {
                run,
                step,
                output: s.output.unwrap_or_default(),
                duration_ms: s.finished_at.zip(s.started_at).map_or(0, |(f, b)| (f - b).max(0) as u64),
            },
            // As the scheduler tells a step it cancelled.
            "skipped" | "cancelled" => Event::StepSkipped { run, step, reason: s.error.unwrap_or_default() },
            "failed" | "rejected" => {
                Event::StepFailed { run, step, error: s.error.unwrap_or_else(|| s.status.clone()), attempt: s.attempts }
            }
            _ => Event::StepStarted { run, step, attempt: s.attempts },
        });
    }
    for g in store.open_approvals(&run.id).await.map_err(ApiError::internal)? {
        events.push(Event::ApprovalRequested {
            run: run.id.clone(),
            step: g.step_id.clone(),
            command: format!("monstrum approve {} {}", run.id, g.step_id),
            message: g.message,
            approvers: g.approvers,
        });
    }
    if run.status != "running" {
        events.push(Event::RunFinished {
            run: run.id.clone(),
            status: run.status.clone(),
            outputs: run.outputs.clone().unwrap_or_default(),
            error: run.error.clone(),
        });
    }
    Ok(events.iter().filter_map(|e| serde_json::to_string(e).ok()).collect())
}

pub fn no_run(id: &str) -> ApiError {
    ApiError::not_found(format!("no run {id}"))
}

/// The events of a run, live.
#[utoipa::path(get, path = "/api/runs/{id}/events", tag = "runs",
    params(("id" = String, Path, description = "the run's id (or a unique prefix of 6+ characters)"),
           ("Last-Event-ID" = Option<u64>, Header, description = "resume after this event")),
    responses((status = 200, description = "text/event-stream: one `--json` object per event; ends after run_finished", content_type = "text/event-stream", body = StreamEvent),
              (status = 404, body = crate::error::ErrorBody)))]
pub async fn run_events(
    State(app): State<App>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let after = last_event_id(&headers)?;
    let run = app.store.load_run(&id).await.map_err(ApiError::internal)?.ok_or_else(|| no_run(&id))?;
    if let Some(log) = app.hub.run(&run.id) {
        return Ok(event_stream(follow(log, after, true, Some((app.store.clone(), run.id)))));
    }
    if app.store.last_run_event(&run.id).await.map_err(ApiError::internal)? > 0 {
        return Ok(event_stream(replay(app.store.clone(), run.id, after)));
    }
    let mut out = String::new();
    for (i, json) in from_store(&app.store, &run).await?.iter().enumerate().skip(after as usize) {
        frame(&mut out, Some(i as u64 + 1), json);
    }
    Ok(event_stream(futures::stream::iter([Ok(Bytes::from(out))])))
}

/// Every event of every run this server drives, live (from now, or after `Last-Event-ID`).
#[utoipa::path(get, path = "/api/events", tag = "runs",
    params(("Last-Event-ID" = Option<u64>, Header, description = "resume after this event")),
    responses((status = 200, description = "text/event-stream of `--json` objects; never ends", content_type = "text/event-stream", body = StreamEvent)))]
pub async fn all_events(State(app): State<App>, headers: HeaderMap) -> Result<Response, ApiError> {
    let log = app.hub.all();
    let after = if headers.contains_key("last-event-id") { last_event_id(&headers)? } else { log.last_id() };
    Ok(event_stream(follow(log, after, false, None)))
}
