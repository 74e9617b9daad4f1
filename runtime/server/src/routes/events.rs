//! `GET /api/runs/{id}/events` and `GET /api/events`: server-sent events carrying the `--json`
//! objects. A run's stream starts at its first event (or after `Last-Event-ID`) and ends after
//! its `run_finished`; a run this server holds no log of (it ran before the server started, or
//! elsewhere) is told from the store: the events its records imply, then the end.

use crate::error::ApiError;
use crate::hub::{Log, Next};
use crate::state::App;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures::Stream;
use monstrum_core::events::Event;
use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;

type Boxed = std::pin::Pin<Box<dyn Stream<Item = Result<SseEvent, Infallible>> + Send>>;
type EventStream = Sse<axum::response::sse::KeepAliveStream<Boxed>>;

fn last_event_id(headers: &HeaderMap) -> Result<u64, ApiError> {
    match headers.get("last-event-id") {
        None => Ok(0),
        Some(v) => v
            .to_str()
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .ok_or_else(|| ApiError::invalid("Last-Event-ID must be the id of an event of this stream")),
    }
}

/// Reads `log` after `after`; with `until_finished`, ends after the run's `run_finished` (the
/// newest event, and no resume since).
fn follow(log: Arc<Log>, after: u64, until_finished: bool) -> impl Stream<Item = Result<SseEvent, Infallible>> {
    struct S {
        log: Arc<Log>,
        cursor: u64,
        buffer: VecDeque<crate::hub::Numbered>,
    }
    let start = S { log, cursor: after, buffer: VecDeque::new() };
    futures::stream::unfold(start, move |mut s| async move {
        loop {
            if let Some(e) = s.buffer.pop_front() {
                s.cursor = e.id;
                let sse = SseEvent::default().id(e.id.to_string()).data(&*e.json);
                return Some((Ok(sse), s));
            }
            let seen = s.log.mark();
            match s.log.read(s.cursor, 256) {
                Next::Lagged { missed, resume_after } => {
                    s.cursor = resume_after;
                    let data = serde_json::json!({ "type": "lagged", "missed": missed }).to_string();
                    return Some((Ok(SseEvent::default().data(data)), s));
                }
                Next::Events(events) if !events.is_empty() => s.buffer.extend(events),
                Next::Events(_) if until_finished && s.log.ends_at(s.cursor, seen) => return None,
                Next::Events(_) => s.log.changed(seen).await,
            }
        }
    })
}

/// The events a run's records imply, for a run this server has no log of.
async fn from_store(app: &App, run_id: &str) -> Result<Vec<String>, ApiError> {
    let store = &app.store;
    let run = store.load_run(run_id).await.map_err(ApiError::internal)?.ok_or_else(|| no_run(run_id))?;
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
            "skipped" => Event::StepSkipped { run, step, reason: s.error.unwrap_or_default() },
            "failed" | "rejected" | "cancelled" => {
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
    responses((status = 200, description = "text/event-stream: one `--json` object per event; ends after run_finished", content_type = "text/event-stream", body = String),
              (status = 404, body = crate::error::ErrorBody)))]
pub async fn run_events(
    State(app): State<App>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<EventStream, ApiError> {
    let after = last_event_id(&headers)?;
    let run = app.store.load_run(&id).await.map_err(ApiError::internal)?.ok_or_else(|| no_run(&id))?;
    let log = app.hub.run(&run.id);
    let stream: Boxed = match log {
        Some(log) => Box::pin(follow(log, after, true)),
        None => {
            let events = from_store(&app, &run.id).await?;
            let items = events
                .into_iter()
                .enumerate()
                .skip(after as usize)
                .map(|(i, json)| Ok(SseEvent::default().id((i + 1).to_string()).data(json)));
            Box::pin(futures::stream::iter(items.collect::<Vec<_>>()))
        }
    };
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

/// Every event of every run this server drives, live (from now, or after `Last-Event-ID`).
#[utoipa::path(get, path = "/api/events", tag = "runs",
    params(("Last-Event-ID" = Option<u64>, Header, description = "resume after this event")),
    responses((status = 200, description = "text/event-stream of `--json` objects; never ends", content_type = "text/event-stream", body = String)))]
pub async fn all_events(State(app): State<App>, headers: HeaderMap) -> Result<EventStream, ApiError> {
    let log = app.hub.all();
    let after = if headers.contains_key("last-event-id") { last_event_id(&headers)? } else { log.last_id() };
    let stream: Boxed = Box::pin(follow(log, after, false));
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}
