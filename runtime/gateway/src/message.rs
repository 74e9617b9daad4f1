//! The one shape every kind's message takes (DESIGN.md, "Channels"): a run gets it as
//! `inputs.message`, a route's `if` reads it as `message`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A message from a channel.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Message {
    /// The channel's name (its file, `channels/NAME.yaml`).
    pub channel: String,
    /// `slack`, `telegram`, `discord`, `feishu` or `webhook`.
    pub kind: String,
    /// The service's id of this event: a redelivery carries the same one (Slack `event_id`,
    /// Telegram `update_id`, Discord's interaction id, Feishu `event_id`, `webhook-id`).
    pub event_id: String,
    /// Where it was said (Slack/Discord channel id, Telegram chat id, Feishu chat id, ...): the
    /// memory partition `channel:<channel>/<conversation>`.
    pub conversation: String,
    /// The thread it belongs to, where the kind has threads.
    pub thread: Option<String>,
    pub user: User,
    pub text: String,
    #[serde(default)]
    pub attachments: Vec<Value>,
    /// The original event's fields a workflow may want (never a credential).
    pub raw: Value,
    /// What the kind's `answer` needs: Slack's `response_url`, `channel`, `ts`; Discord's
    /// `application_id` and interaction `token`; Telegram's `chat_id`, `message_id`; Feishu's
    /// `message_id`. Some of these are credentials (a response URL, an interaction token), so
    /// this is kept for the answer only and never reaches the run (`inputs.message` has no
    /// `reply`). `answer` reads from here, not from `raw`.
    #[serde(skip)]
    pub reply: Value,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Default)]
pub struct User {
    pub id: String,
    pub name: Option<String>,
}
