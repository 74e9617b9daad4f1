//! The channel gateway (DESIGN.md, "Channels"): `channels/NAME.yaml` files, requests to
//! `/hooks/NAME` verified by each service's own scheme, routed to bots and workflows, run in the
//! background, answered by the service's own route.
//!
//! One straight line per message: [`hook`] verifies it (the kind's scheme; nothing else is
//! trusted), routes it, records the delivery (the service's event id is the key, so a redelivery
//! runs nothing) and acknowledges; the run is recorded and driven by the server's driver like
//! any other, and every tool call in it passes the core's gate; when the run ends, [`answer`]
//! sends the reply back. This crate holds no gate, store writer or plugin host of its own.

mod answer;
pub mod channels;
mod hook;
pub mod kinds;
pub mod message;
mod route;
pub mod send;
mod start;

use channels::Channels;
use message::Message;
use monstrum_core::events::Event;
use monstrum_core::store::Store;
use monstrum_core::vault::Vault;
use monstrum_core::workflow::{Engine, StartRun};
use send::Sender;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Drives a recorded run in the background (the server's driver).
pub type Drive = Arc<dyn Fn(String, StartRun) + Send + Sync>;

/// Continues a run in the background after a decision (the server's driver).
pub type Resume = Arc<dyn Fn(&str) + Send + Sync>;

/// A run still going this long after its message says so in the conversation.
pub const WORKING_AFTER: Duration = Duration::from_secs(3);

/// What it says.
pub const WORKING: &str = "Working on it…";

/// How answers are retried.
#[derive(Clone, Copy, Debug)]
pub struct Retry {
    /// Tries in all.
    pub attempts: u32,
    /// The wait before the second try; doubled after each (a service's `retry_after` wins).
    pub first_wait: Duration,
    /// No wait is longer.
    pub max_wait: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Retry { attempts: 6, first_wait: Duration::from_secs(1), max_wait: Duration::from_secs(60) }
    }
}

/// A routed message whose run has not ended yet.
struct Awaiting {
    channel: String,
    message: Message,
    /// It waits at a gate, asked for in the conversation (no "working on it" then).
    asked: bool,
}

/// The gateway of a workspace.
pub struct Gateway {
    engine: Arc<Engine>,
    store: Store,
    vault: Vault,
    drive: Drive,
    resume: Resume,
    retry: Retry,
    /// The channels and their secrets; also the gate's executor of `channel:` bindings.
    sender: Arc<Sender>,
    /// Runs started for messages, by run id: answered when their `run_finished` comes.
    awaiting: Mutex<HashMap<String, Awaiting>>,
}

impl Gateway {
    /// Loads the workspace's channels and takes up what a stopped server left: messages recorded
    /// but not started, runs ended but not answered.
    pub async fn open(engine: Arc<Engine>, drive: Drive, resume: Resume, retry: Retry) -> anyhow::Result<Arc<Gateway>> {
        let store = engine.store.clone().ok_or_else(|| anyhow::anyhow!("the gateway needs a store"))?;
        let vault = Vault::open(&engine.workspace.data_dir(), store.clone())?;
        let sender = Arc::new(Sender::load(&engine.workspace, &vault).await?);
        for (name, why) in &sender.channels().problems {
            tracing::warn!("channel {name} is not served: {why}");
        }
        if !engine.gate.attach_channels(sender.clone()) {
            anyhow::bail!("the engine had a channel sender attached already");
        }
        let gateway =
            Arc::new(Gateway { engine, store, vault, drive, resume, retry, sender, awaiting: Mutex::default() });
        gateway.take_up().await?;
        Ok(gateway)
    }

    /// Reads the channel files again (an edit, a new secret); the channels that load replace
    /// the served ones.
    pub async fn reload(&self) {
        let channels = channels::load(&self.engine.workspace, &self.vault).await;
        let before = self.sender.replace(channels);
        for (name, why) in &self.channels().problems {
            if before.problems.get(name) != Some(why) {
                tracing::warn!("channel {name} is not served: {why}");
            }
        }
    }

    /// The channels as loaded.
    pub fn channels(&self) -> Arc<Channels> {
        self.sender.channels()
    }

    /// `/hooks/{channel}`: no API token; each kind's signature is the authentication.
    pub fn router(self: &Arc<Self>) -> axum::Router {
        axum::Router::new().route("/hooks/{channel}", axum::routing::post(hook::receive)).with_state(self.clone())
    }

    /// Every event of the engine passes here: a run started for a message that ends is answered;
    /// one that waits at a gate says so in the conversation.
    pub fn on_event(self: &Arc<Self>, event: &Event) {
        match event {
            // A run waiting at a gate "finishes" its drive; it is answered when it ends.
            Event::RunFinished { status, .. } if status == "waiting" || status == "running" => {}
            Event::RunFinished { run, status, outputs, error } => {
                let Some(awaiting) = self.awaiting.lock().unwrap_or_else(|p| p.into_inner()).remove(run) else {
                    return;
                };
                let text = start::reply_text(status, outputs, error.as_deref());
                let (this, run) = (self.clone(), run.clone());
                tokio::spawn(
                    async move { this.send(&awaiting.channel, &awaiting.message, Some(&run), &text, true).await },
                );
            }
            Event::ApprovalRequested { run, step, message, command, .. } => {
                let mut awaiting = self.awaiting.lock().unwrap_or_else(|p| p.into_inner());
                let Some(a) = awaiting.get_mut(run) else { return };
                a.asked = true;
                let text = format!("Waiting for approval of `{step}`: {message}\n(or: {command})");
                let (this, channel, msg) = (self.clone(), a.channel.clone(), a.message.clone());
                let (run, step) = (run.clone(), step.clone());
                tokio::spawn(async move { this.ask(&channel, &msg, &run, &step, &text).await });
            }
            _ => {}
        }
    }
}
