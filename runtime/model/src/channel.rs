//! Channel files, `channels/NAME.yaml` (DESIGN.md, "Channels"): a service's webhook (Slack,
//! Telegram, Discord, Feishu, a Standard Webhooks sender) routed to bots. Secrets are vault
//! names, never values.

use crate::diagnostic::{Diagnostic, PathSeg};
use crate::parse::{Loaded, load_checked};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A channel file.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Channel {
    /// Its name: the file's, and the last segment of its hook (`/hooks/NAME`).
    pub name: String,
    pub kind: ChannelKind,
    /// The vault entries of its secrets, by role (`signing_secret: slack-signing`).
    #[serde(default)]
    pub secrets: BTreeMap<String, String>,
    /// First match wins; a message no route matches is acknowledged, audited and dropped.
    #[serde(default)]
    pub routes: Vec<Route>,
    /// The service's API base URL, when not its public one: a regional endpoint (Lark's
    /// `https://open.larksuite.com`), a proxy, a local test server.
    #[serde(default)]
    pub api: Option<String>,
    /// Kind `webhook`: where answers are posted (signed as the requests are).
    #[serde(default)]
    pub callback: Option<String>,
}

/// A route: which bot answers, and how.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// A MiniJinja expression over `message`; none matches every message.
    #[serde(default, rename = "if")]
    pub condition: Option<String>,
    /// The bot the run is for.
    pub bot: String,
    /// A workflow file (relative to the workspace) run with `inputs.message`, or `llm` (the
    /// default): the bot answers the message in its conversation.
    #[serde(default)]
    pub workflow: Option<String>,
}

impl Route {
    /// The workflow file a route runs; `None` for `llm`.
    pub fn workflow_file(&self) -> Option<&str> {
        self.workflow.as_deref().filter(|w| *w != LLM_ROUTE)
    }
}

/// `workflow:` of a route whose bot answers in a conversation.
pub const LLM_ROUTE: &str = "llm";

/// The services a channel can be.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChannelKind {
    Slack,
    Telegram,
    Discord,
    Feishu,
    Webhook,
}

impl ChannelKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChannelKind::Slack => "slack",
            ChannelKind::Telegram => "telegram",
            ChannelKind::Discord => "discord",
            ChannelKind::Feishu => "feishu",
            ChannelKind::Webhook => "webhook",
        }
    }

    /// The secret roles a channel of this kind needs: to verify a request, then to answer.
    pub fn secrets(self) -> &'static [&'static str] {
        match self {
            ChannelKind::Slack => &["signing_secret", "bot_token"],
            ChannelKind::Telegram => &["secret_token", "bot_token"],
            ChannelKind::Discord => &["public_key"],
            ChannelKind::Feishu => &["encrypt_key", "verification_token", "app_id", "app_secret"],
            ChannelKind::Webhook => &["signing_secret"],
        }
    }

    /// The secret roles a channel of this kind may also have: Discord's bot token, which its
    /// `send` (a message nobody asked for) needs; its answers use the interaction's own token.
    pub fn optional_secrets(self) -> &'static [&'static str] {
        match self {
            ChannelKind::Discord => &["bot_token"],
            _ => &[],
        }
    }
}

/// The tools a `channel:` binding binds, as the manifest the gate checks them by (the gateway
/// runs them; there is no component). `send` posts to a conversation the binding's
/// `conversations` allow (globs over the service's ids).
const CHANNEL_TOOLS: &str = r#"
name: channel
version: 0.1.0
description: A channel's messages, sent by the gateway
component: none
dimensions:
  conversations: { description: "Conversations `send` may post to: the service's ids (Slack `C024BE91L`, a Telegram chat id, a Feishu `oc_` chat id), globs" }
tools:
  - name: send
    effect: write
    description: "Post a message to a conversation of this channel (in a thread, if given)"
    parameters:
      type: object
      required: [conversation, text]
      additionalProperties: false
      properties:
        conversation: { type: string, minLength: 1, maxLength: 200, description: "The service's id of the conversation" }
        text: { type: string, minLength: 1, maxLength: 4000 }
        thread: { type: string, minLength: 1, maxLength: 200, description: "The thread to post in (Slack `thread_ts`, a Telegram topic id)" }
    scope: [{ dimension: conversations, param: /conversation, match: glob }]
"#;

/// The manifest of channel `name`'s tools.
pub fn channel_manifest(name: &str) -> crate::Manifest {
    let mut manifest = crate::load_manifest(CHANNEL_TOOLS).ok().expect("the channel tools' manifest is valid");
    manifest.name = name.to_string();
    manifest
}

/// Whether `name` can name a channel: 1-64 letters, digits, `-` and `_` (it is the first part of
/// a conversation's name, `CHANNEL/CONVERSATION`).
pub fn valid_channel_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 64 && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// Reads and checks a channel file's text (what can be checked without the workspace).
pub fn load_channel(text: &str) -> Loaded<Channel> {
    load_checked(text, validate_channel)
}

fn at(keys: &[&str]) -> Vec<PathSeg> {
    keys.iter().map(|k| PathSeg::Key((*k).to_string())).collect()
}

fn validate_channel(channel: &Channel) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    if !valid_channel_name(&channel.name) {
        out.push(Diagnostic::new("E002", at(&["name"]), "a channel's name is 1-64 letters, digits, `-` and `_`"));
    }
    let needed = channel.kind.secrets();
    for role in needed {
        if !channel.secrets.contains_key(*role) {
            out.push(
                Diagnostic::new(
                    "E017",
                    at(&["secrets"]),
                    format!("a {} channel needs the secret `{role}`", channel.kind.as_str()),
                )
                .with_help(format!("name a vault entry: `secrets: {{ {role}: VAULT_ENTRY }}`")),
            );
        }
    }
    for (role, entry) in &channel.secrets {
        if !needed.contains(&role.as_str()) && !channel.kind.optional_secrets().contains(&role.as_str()) {
            out.push(Diagnostic::new(
                "E012",
                at(&["secrets", role]),
                format!("a {} channel has no secret `{role}` (it takes {})", channel.kind.as_str(), needed.join(", ")),
            ));
        } else if entry.trim().is_empty() {
            out.push(Diagnostic::new("E002", at(&["secrets", role]), "a secret is named by its vault entry"));
        }
    }
    for (field, url) in [("api", &channel.api), ("callback", &channel.callback)] {
        if let Some(url) = url
            && !(url.starts_with("https://") || url.starts_with("http://"))
        {
            out.push(Diagnostic::new("E002", at(&[field]), format!("`{field}` is an http(s) URL")));
        }
    }
    if channel.kind == ChannelKind::Webhook && channel.callback.is_none() {
        out.push(
            Diagnostic::new("W003", Vec::new(), "a webhook channel without `callback` cannot send answers")
                .with_help("add `callback: https://…` where the answers should be posted"),
        );
    }
    if channel.routes.is_empty() {
        out.push(Diagnostic::new("E017", at(&["routes"]), "a channel needs at least one route"));
    }
    let env = crate::expression_env();
    for (i, route) in channel.routes.iter().enumerate() {
        let here = |key: &str| vec![PathSeg::Key("routes".into()), PathSeg::Index(i), PathSeg::Key(key.into())];
        if let Some(condition) = &route.condition
            && let Err(e) = env.compile_expression(condition)
        {
            out.push(Diagnostic::new("E006", here("if"), format!("the condition does not parse: {e}")));
        }
        if route.bot.trim().is_empty() {
            out.push(Diagnostic::new("E002", here("bot"), "a route names the bot that answers"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slack_channel_loads() {
        let text = "name: ops\nkind: slack\nsecrets: { signing_secret: s, bot_token: t }\nroutes:\n  - if: \"message.text is startingwith('/deploy')\"\n    bot: deployer\n    workflow: workflows/deploy.yaml\n  - bot: ops\n";
        let channel = load_channel(text).ok().unwrap();
        assert_eq!(channel.kind, ChannelKind::Slack);
        assert_eq!(channel.routes[0].workflow_file(), Some("workflows/deploy.yaml"));
        assert_eq!(channel.routes[1].workflow_file(), None);
    }

    #[test]
    fn the_channel_tools_manifest_loads() {
        let manifest = channel_manifest("ops-slack");
        assert_eq!(manifest.name, "ops-slack");
        assert_eq!(manifest.tool("send").map(|t| t.effect), Some(crate::Effect::Write));
        assert!(manifest.dimensions.contains_key("conversations"));
    }

    #[test]
    fn problems_are_located() {
        let text = "name: ops\nkind: telegram\nsecrets: { bot_token: t, signing_secret: x }\nroutes:\n  - if: \"message.text ==\"\n    bot: ops\n";
        let problems = load_channel(text).diagnostics;
        let codes: Vec<_> = problems.iter().map(|d| (d.code, d.location.map(|l| l.line))).collect();
        assert!(codes.contains(&("E017", Some(3))), "{problems:?}");
        assert!(codes.contains(&("E012", Some(3))), "{problems:?}");
        assert!(codes.contains(&("E006", Some(5))), "{problems:?}");
        assert!(load_channel("name: x\nkind: irc\nroutes: [{bot: a}]\n").ok().is_err());
    }
}
