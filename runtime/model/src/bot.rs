//! The bot file (DESIGN.md, "Bot file"): identity, model, resource bindings, budget and
//! delegation. The gate compiles bindings against plugin manifests and enforces them.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// Which model answers, and how to reach it.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ModelRef {
    /// `openai` (any OpenAI-compatible server), `anthropic` or `scripted`.
    pub provider: String,
    /// Model name sent to the provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// For `scripted`: the script, relative to the workspace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub script: Option<String>,
    /// Base URL of the API (default: the provider's public one, or `*_BASE_URL`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// Environment variable holding the API key (default `OPENAI_API_KEY` / `ANTHROPIC_API_KEY`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_env: Option<String>,
    /// Upper bound of output tokens per request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// Sampling temperature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// What the model costs, for money budgets (zero when not given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<Price>,
}

/// Price of a model in US dollars per million tokens.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Price {
    /// Per million input (prompt) tokens.
    #[serde(default)]
    pub input: f64,
    /// Per million output (completion) tokens.
    #[serde(default)]
    pub output: f64,
}

impl Price {
    /// The cost of a request, in US dollars.
    pub fn cost(&self, input_tokens: u64, output_tokens: u64) -> f64 {
        (self.input * input_tokens as f64 + self.output * output_tokens as f64) / 1_000_000.0
    }
}

/// Upper bounds of tokens and money; an absent bound does not limit.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Tokens (input plus output).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens: Option<u64>,
    /// US dollars.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usd: Option<f64>,
}

/// The period a bot's budget renews over.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Period {
    /// A UTC calendar day.
    Day,
    /// An ISO week (from Monday, UTC).
    Week,
    /// A UTC calendar month.
    #[default]
    Month,
}

/// A bot's budget: limits per period and per run.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Budget {
    /// Tokens per period.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens: Option<u64>,
    /// US dollars per period.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usd: Option<f64>,
    /// The period.
    #[serde(default)]
    pub period: Period,
    /// Limits of one run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<Limits>,
}

impl Budget {
    /// The per-period limits.
    pub fn period_limits(&self) -> Limits {
        Limits { tokens: self.tokens, usd: self.usd }
    }
}

/// A resource binding: one plugin instance (or one registered MCP server) the bot may use, which
/// of its tools, and the allowed values of its dimensions.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Binding {
    /// The plugin (its manifest's name); empty when the binding names an MCP server instead.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub plugin: String,
    /// The MCP server (its registered name, `monstrum mcp add`) whose tools are bound.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mcp: Option<String>,
    /// The agent (its key's name, `monstrum agent-key create`) whose tools are bound: the tools
    /// its daemon registered over the agent link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    /// The channel (`channels/NAME.yaml`) whose `send` is bound: the gateway posts to the
    /// service's conversations that `scope.conversations` allows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    /// The instance name tools are called by (`<instance>.<tool>`); the plugin's name by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// The vault entry of the plugin's credential, when it has one field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
    /// Vault entries by credential field, when it has several.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub credentials: BTreeMap<String, String>,
    /// The tools bound, by their names in the plugin.
    pub tools: Vec<String>,
    /// Allowed values per dimension (a list, or one value).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub scope: BTreeMap<String, Value>,
    /// The manifest's config fields.
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub config: serde_json::Map<String, Value>,
    /// How tool parameters are checked against `scope`, for tools that have no manifest to say
    /// so (an MCP server's): each rule is a manifest scope rule plus the tool it is for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<BindingRule>,
}

/// A scope rule a binding declares for one of its tools (DESIGN.md, "MCP").
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BindingRule {
    /// The tool, by its name at the source.
    pub tool: String,
    /// The dimension whose values allow.
    pub dimension: String,
    /// JSON pointer into the arguments (`/category`).
    pub param: String,
    /// How a value is compared with the allowed ones.
    #[serde(rename = "match")]
    pub kind: crate::MatchKind,
}

impl Binding {
    /// The instance name: `instance`, else the MCP server's, the agent's or the channel's name,
    /// else the plugin's.
    pub fn instance_name(&self) -> &str {
        self.instance
            .as_deref()
            .or(self.mcp.as_deref())
            .or(self.agent.as_deref())
            .or(self.channel.as_deref())
            .unwrap_or(&self.plugin)
    }

    /// The tool server a binding of an MCP server or an agent names, as the store registers it:
    /// the MCP server's name, or `agent:NAME` (an agent's tools are kept as a server's, under a
    /// name no `mcp add` can take). `None` for a plugin's binding.
    pub fn tool_server(&self) -> Option<String> {
        match (&self.mcp, &self.agent) {
            (Some(server), _) => Some(server.clone()),
            (None, Some(agent)) => Some(format!("{AGENT_PREFIX}{agent}")),
            (None, None) => None,
        }
    }
}

/// What an agent's name is prefixed with where it is kept as a tool server.
pub const AGENT_PREFIX: &str = "agent:";

/// A bot.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Bot {
    /// Its name, which workflows use in `bot:`.
    pub name: String,
    /// What it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Its model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<ModelRef>,
    /// Its system prompt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub personality: Option<String>,
    /// Enabled skills by name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skills: Vec<String>,
    /// Token and money budget.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<Budget>,
    /// Resource bindings.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<Binding>,
    /// Bots it may delegate to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub delegates: Vec<String>,
}
