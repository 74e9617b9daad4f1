//! `POST /hooks/{channel}`: verify, route, record, acknowledge. Nothing before the kind's
//! verification reads the body; a request that does not verify gets 401 and leaves no trace but
//! a log line (an unauthenticated sender cannot fill the store or the audit trail). The delivery
//! is recorded before the acknowledgement, so every acknowledged message is in the store, and a
//! redelivery of it (the same event id) is acknowledged again and runs nothing.

use crate::Gateway;
use crate::kinds::{self, Inbound, Refused, Request};
use crate::message::Message;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use monstrum_core::governance::channels;
use monstrum_core::store::NewDelivery;
use serde_json::{Value, json};
use std::sync::Arc;

fn error(status: StatusCode, code: &str, message: String) -> Response {
    (status, axum::Json(json!({ "error": { "code": code, "message": message } }))).into_response()
}

fn acknowledge(ack: Option<Value>) -> Response {
    match ack {
        Some(body) => axum::Json(body).into_response(),
        None => StatusCode::OK.into_response(),
    }
}

pub(crate) async fn receive(
    State(gateway): State<Arc<Gateway>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(live) = gateway.channels().live.get(&name).cloned() else {
        return error(StatusCode::NOT_FOUND, "not_found", format!("no channel `{name}` is served here"));
    };
    let request = Request { channel: &name, headers: &headers, body: &body, secrets: &live.secrets, now: chrono_now() };
    let (message, ack) = match kinds::inbound(live.channel.kind, &request) {
        Err(Refused::Unauthorized(why)) => {
            tracing::warn!("channel {name}: a request was refused: {why}");
            return error(StatusCode::UNAUTHORIZED, "unauthorized", format!("the request does not verify: {why}"));
        }
        Err(Refused::Malformed(why)) => {
            tracing::warn!("channel {name}: a verified request cannot be read: {why}");
            return error(StatusCode::BAD_REQUEST, "invalid", why);
        }
        Ok(Inbound::Handshake(answer)) => return axum::Json(answer).into_response(),
        Ok(Inbound::Ignored(why)) => {
            tracing::debug!("channel {name}: ignored: {why}");
            return StatusCode::OK.into_response();
        }
        Ok(Inbound::Decision(decision)) => return gateway.decide(&live, decision).await,
        Ok(Inbound::Message(message, ack)) => (*message, ack),
    };
    let message_value = match serde_json::to_value(&message) {
        Ok(v) => v,
        Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()),
    };
    let route = live.routes.choose(&name, &message_value).map(|(_, r)| r.clone());
    // A routed message is recorded and started in a task of its own: a sender that hangs up (or
    // times out) while the delivery commits drops this handler, and a delivery recorded but never
    // started would be taken for done when the service sends it again. One that no route takes
    // has nothing to start and needs no task.
    let routed = route.is_some();
    let recording = record_and_start(gateway, live, name, message, message_value, route);
    let recorded = if routed { tokio::spawn(recording).await.unwrap_or(false) } else { recording.await };
    if !recorded {
        // The service retries what is not acknowledged: nothing is lost.
        let why = "the message could not be recorded; send it again";
        return error(StatusCode::SERVICE_UNAVAILABLE, "unavailable", why.into());
    }
    acknowledge(ack)
}

/// Records a delivery and, if it is new and routed, starts its run; false if it could not be
/// recorded (a redelivery is recorded already: true).
async fn record_and_start(
    gateway: Arc<Gateway>,
    live: Arc<crate::channels::Live>,
    name: String,
    message: Message,
    message_value: Value,
    route: Option<monstrum_model::Route>,
) -> bool {
    let delivery = NewDelivery {
        channel: &name,
        event_id: &message.event_id,
        conversation: &message.conversation,
        route: route.as_ref().map(|r| (r.bot.as_str(), r.workflow.as_deref().unwrap_or(monstrum_model::LLM_ROUTE))),
        message: &message_value,
        reply: &message.reply,
    };
    match channels::received(&gateway.store, &delivery).await {
        Err(e) => {
            tracing::error!("channel {name}: cannot record event {}: {e:#}", message.event_id);
            return false;
        }
        Ok(false) => tracing::info!("channel {name}: event {} was delivered before; not run again", message.event_id),
        Ok(true) => {
            if let Some(route) = route {
                tokio::spawn(async move { gateway.start(&live, &route, message).await });
            }
        }
    }
    true
}

/// Seconds since the epoch.
fn chrono_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

impl Gateway {
    /// Decides an approval gate from a click in the channel, as `CHANNEL/USER`, with the same
    /// rules as the command line (approvers, self-approval, expiry; audited by the engine), and
    /// continues the run. The clicker is told the outcome.
    pub(crate) async fn decide(
        self: &Arc<Self>,
        live: &Arc<crate::channels::Live>,
        decision: kinds::Decision,
    ) -> Response {
        use monstrum_core::workflow::DecideError;
        let by = format!("{}/{}", live.channel.name, decision.user);
        let verb = if decision.approve { "Approved" } else { "Rejected" };
        let decided = self.engine.decide(&decision.run, &decision.step, decision.approve, &by, None, None).await;
        let (outcome, done) = match decided {
            Ok(run) => {
                (self.resume)(&run);
                (format!("{verb} by {by}: `{}` goes on.", decision.step), true)
            }
            Err(DecideError::Expired) => {
                (self.resume)(&decision.run);
                (format!("`{}` expired before the decision; it counts as rejected.", decision.step), true)
            }
            Err(e) => (format!("Not decided: {e}"), false),
        };
        tracing::info!("channel {}: {outcome}", live.channel.name);
        let ack = kinds::decision_ack(live.channel.kind, &outcome, done);
        let (this, live) = (self.clone(), live.clone());
        tokio::spawn(async move {
            let out = live.outbound(&this.sender.http);
            if let Err(e) = kinds::decided(live.channel.kind, &out, &decision, &outcome, done).await {
                tracing::warn!("channel {}: the clicker could not be told the outcome: {}", live.channel.name, e.error);
            }
        });
        acknowledge(ack)
    }

    /// Records and drives the run a routed message starts; one that cannot start is answered
    /// with why.
    pub(crate) async fn start(
        self: &Arc<Self>,
        live: &crate::channels::Live,
        route: &monstrum_model::Route,
        message: Message,
    ) {
        let name = &live.channel.name;
        let run = match crate::start::run_for(&self.engine.workspace, &live.file, route, &message) {
            Ok(run) => run,
            Err(e) => {
                tracing::error!("channel {name}: event {}: cannot start a run: {e}", message.event_id);
                let text = format!("The message could not start a run: {e}");
                return self.send(name, &message, None, &text, true).await;
            }
        };
        let run_id = match self.engine.record(&run).await {
            Ok(id) => id,
            Err(e) => {
                tracing::error!("channel {name}: event {}: cannot record the run: {e}", message.event_id);
                return self.send(name, &message, None, &format!("The run could not be recorded: {e}"), true).await;
            }
        };
        let event_id = message.event_id.clone();
        self.awaiting
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(run_id.clone(), crate::Awaiting { channel: name.clone(), message, asked: false });
        if let Err(e) = channels::started(&self.store, name, &event_id, &run_id).await {
            tracing::error!("channel {name}: event {event_id}: cannot record run {run_id}: {e:#}");
        }
        (self.drive)(run_id.clone(), run);
        // A long run says it is under way where the kind has no sign of its own (Discord's
        // deferred response already shows the bot thinking).
        if live.channel.kind != kinds::Kind::Discord {
            let (this, name) = (self.clone(), name.clone());
            tokio::spawn(async move {
                tokio::time::sleep(crate::WORKING_AFTER).await;
                let message = this
                    .awaiting
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .get(&run_id)
                    .filter(|a| !a.asked)
                    .map(|a| a.message.clone());
                if let Some(message) = message {
                    this.send(&name, &message, Some(&run_id), crate::WORKING, false).await;
                }
            });
        }
    }
}
