//! Answers go back by the kind's own route, retried with backoff (a service's `retry_after`
//! honoured) and recorded: `answered`, or `unanswered` with the error, audited. A run's failure
//! to be answered is never silent. At start the gateway takes up what a stopped server left.

use crate::Gateway;
use crate::kinds;
use crate::message::Message;
use monstrum_core::governance::channels;
use std::sync::Arc;

impl Gateway {
    /// Sends `text` to where `message` came from. With `last`, the delivery is recorded as
    /// answered (or unanswered, and audited); otherwise (a note while the run goes on) a failure
    /// is only logged.
    pub(crate) async fn send(&self, channel: &str, message: &Message, run: Option<&str>, text: &str, last: bool) {
        let Some(live) = self.channels().live.get(channel).cloned() else {
            let why = format!("channel {channel} is no longer served");
            tracing::warn!("{why}: event {} is not answered", message.event_id);
            if last {
                self.record_unanswered(channel, message, run, 0, &why).await;
            }
            return;
        };
        let out = live.outbound(&self.sender.http);
        let mut wait = self.retry.first_wait;
        let mut attempt = 0;
        let error = loop {
            attempt += 1;
            match kinds::answer(live.channel.kind, &out, message, text).await {
                Ok(()) => {
                    if last
                        && let Err(e) =
                            channels::answered(&self.store, channel, &message.event_id, attempt.into()).await
                    {
                        tracing::error!(
                            "channel {channel}: event {} was answered, but that cannot be recorded: {e:#}",
                            message.event_id
                        );
                    }
                    return;
                }
                Err(e) if e.permanent || attempt >= self.retry.attempts => break e.error,
                Err(e) => {
                    let pause = e.retry_after.unwrap_or(wait).min(self.retry.max_wait);
                    tracing::info!(
                        "channel {channel}: answer to {} failed ({}); again in {pause:?}",
                        message.event_id,
                        e.error
                    );
                    tokio::time::sleep(pause).await;
                    wait = (wait * 2).min(self.retry.max_wait);
                }
            }
        };
        tracing::warn!("channel {channel}: event {} is not answered after {attempt} tries: {error}", message.event_id);
        if last {
            self.record_unanswered(channel, message, run, attempt.into(), &error).await;
        }
    }

    /// Asks the conversation `message` came from to decide `step` of `run` (buttons where the
    /// kind has them); a failure is logged (the gate still waits, and the command decides it).
    pub(crate) async fn ask(&self, channel: &str, message: &Message, run: &str, step: &str, text: &str) {
        let Some(live) = self.channels().live.get(channel).cloned() else { return };
        let out = live.outbound(&self.sender.http);
        if let Err(e) = kinds::ask(live.channel.kind, &out, message, text, run, step).await {
            tracing::warn!("channel {channel}: the approval of {run}/{step} could not be asked for: {}", e.error);
        }
    }

    async fn record_unanswered(&self, channel: &str, message: &Message, run: Option<&str>, attempts: i64, error: &str) {
        if let Err(e) = channels::unanswered(&self.store, channel, &message.event_id, run, attempts, error).await {
            tracing::error!(
                "channel {channel}: event {}: cannot record that it is unanswered: {e:#}",
                message.event_id
            );
        }
    }

    /// Takes up the deliveries a stopped server left `routed`: a message whose run was not
    /// recorded is started now; a run that ended is answered; one still going is awaited (the
    /// server resumes it, and its end comes as an event).
    pub(crate) async fn take_up(self: &Arc<Self>) -> anyhow::Result<()> {
        for delivery in self.store.routed_deliveries().await? {
            let mut message: Message = match serde_json::from_value(delivery.message.clone()) {
                Ok(m) => m,
                Err(e) => {
                    tracing::error!(
                        "channel {}: event {} cannot be read back: {e}",
                        delivery.channel,
                        delivery.event_id
                    );
                    continue;
                }
            };
            message.reply = delivery.reply.clone();
            let Some(run_id) = delivery.run_id.clone() else {
                let live = self.channels().live.get(&delivery.channel).cloned();
                let route = live.as_ref().and_then(|l| {
                    let value = &delivery.message;
                    l.routes.choose(&delivery.channel, value).map(|(_, r)| r.clone())
                });
                match (live, route) {
                    (Some(live), Some(route)) => {
                        let this = self.clone();
                        tokio::spawn(async move { this.start(&live, &route, message).await });
                    }
                    _ => {
                        let why = "the channel or its route is gone".to_string();
                        self.record_unanswered(&delivery.channel, &message, None, 0, &why).await;
                    }
                }
                continue;
            };
            let run = self.store.load_run(&run_id).await?;
            match run {
                Some(r) if matches!(r.status.as_str(), "succeeded" | "failed" | "cancelled") => {
                    let text = crate::start::reply_text(
                        &r.status,
                        r.outputs.as_ref().unwrap_or(&serde_json::Value::Null),
                        r.error.as_deref(),
                    );
                    let this = self.clone();
                    tokio::spawn(
                        async move { this.send(&delivery.channel, &message, Some(&run_id), &text, true).await },
                    );
                }
                Some(_) => {
                    let awaiting = crate::Awaiting { channel: delivery.channel.clone(), message, asked: false };
                    self.awaiting.lock().unwrap_or_else(|p| p.into_inner()).insert(run_id, awaiting);
                }
                None => {
                    self.record_unanswered(&delivery.channel, &message, Some(&run_id), 0, "its run is not in the store")
                        .await
                }
            }
        }
        Ok(())
    }
}
