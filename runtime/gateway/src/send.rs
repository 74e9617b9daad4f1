//! `CHANNEL.send`: a bot's message nobody asked for, bound like any tool (`- channel: NAME,
//! tools: [send], scope: { conversations: [...] }`). The gate decides it (visibility, schema,
//! the `conversations` scope, skills, delegations, audit) before [`Sender`] runs it: the sender
//! is the gate's executor of `channel:` bindings and holds the channels' secrets, which never
//! reach the bot.

use crate::channels::{self, Channels};
use crate::kinds::{self, SendError};
use monstrum_core::governance::{BoundTool, Executor, Principal};
use monstrum_core::vault::Vault;
use monstrum_core::workspace::Workspace;
use serde_json::{Value, json};
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// Tries of one `send` (a 429's wait honoured up to [`MAX_WAIT`]): a tool call does not wait for
/// minutes.
const TRIES: u32 = 3;
const MAX_WAIT: Duration = Duration::from_secs(10);

/// The workspace's channels, loaded with their secrets, and the HTTP client their answers and
/// sends go out on.
pub struct Sender {
    pub(crate) http: reqwest::Client,
    channels: RwLock<Arc<Channels>>,
}

impl Sender {
    /// Loads the channels of `engine`'s workspace and attaches the sender to its gate as the
    /// executor of `channel:` bindings: what `monstrum run` does (the server's [`crate::Gateway`]
    /// does it too). `None` for an engine without a store (no vault) or with a sender attached.
    pub async fn attach(engine: &monstrum_core::workflow::Engine) -> anyhow::Result<Option<Arc<Sender>>> {
        let Some(store) = engine.store.clone() else { return Ok(None) };
        let vault = Vault::open(&engine.workspace.data_dir(), store)?;
        let sender = Arc::new(Sender::load(&engine.workspace, &vault).await?);
        Ok(engine.gate.attach_channels(sender.clone()).then_some(sender))
    }

    /// Loads the channels of `workspace`, their secrets from `vault`.
    pub async fn load(workspace: &Workspace, vault: &Vault) -> anyhow::Result<Sender> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Sender { http, channels: RwLock::new(Arc::new(channels::load(workspace, vault).await)) })
    }

    /// The channels as loaded.
    pub fn channels(&self) -> Arc<Channels> {
        self.channels.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Replaces the channels; what was loaded before.
    pub(crate) fn replace(&self, channels: Channels) -> Arc<Channels> {
        std::mem::replace(&mut *self.channels.write().unwrap_or_else(|p| p.into_inner()), Arc::new(channels))
    }

    async fn post(&self, channel: &str, arguments: &Value, key: &str) -> Result<Value, String> {
        let live = self
            .channels()
            .live
            .get(channel)
            .cloned()
            .ok_or_else(|| format!("channel `{channel}` is not served (`monstrum channel list` says why)"))?;
        let text = |field: &str| arguments[field].as_str().filter(|s| !s.is_empty());
        let conversation = text("conversation").ok_or("`conversation` is required")?;
        let message = text("text").ok_or("`text` is required")?;
        let thread = text("thread");
        let out = live.outbound(&self.http);
        let mut tries = 0;
        loop {
            tries += 1;
            match kinds::post(live.channel.kind, &out, conversation, thread, message, key).await {
                Ok(()) => return Ok(json!({ "sent": true, "conversation": conversation, "thread": thread })),
                Err(SendError { error, permanent, retry_after }) => {
                    if permanent || tries >= TRIES {
                        return Err(format!("{} did not take the message: {error}", live.channel.kind.as_str()));
                    }
                    tokio::time::sleep(retry_after.unwrap_or(Duration::from_secs(1)).min(MAX_WAIT)).await;
                }
            }
        }
    }
}

#[async_trait::async_trait]
impl Executor for Sender {
    async fn execute(
        &self,
        tool: &BoundTool,
        arguments: Value,
        _principal: &Principal,
        key: Option<&str>,
    ) -> Result<Value, String> {
        let channel =
            tool.binding.channel.as_deref().ok_or_else(|| format!("{} is not a channel's tool", tool.name))?;
        if tool.tool != "send" {
            return Err(format!("channel `{channel}` has no tool `{}`", tool.tool));
        }
        let key = key.map_or_else(|| format!("send-{}", uuid::Uuid::new_v4()), str::to_string);
        self.post(channel, &arguments, &key).await
    }
}
