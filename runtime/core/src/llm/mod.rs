//! Model providers behind one interface.
//!
//! A provider turns a [`ChatRequest`] (system text, messages, the tools offered) into a
//! [`ChatResponse`] (text and/or tool calls, token usage). Three exist: `scripted` (answers from
//! a file, for offline runs and tests), `openai` (any OpenAI-compatible chat-completions server:
//! OpenAI, DeepSeek, vLLM, Ollama) and `anthropic` (the Messages API).

mod anthropic;
mod http;
mod openai;
mod providers;
mod scripted;
pub mod wire_names;

pub use anthropic::AnthropicProvider;
pub use openai::OpenAiProvider;
pub use providers::{Providers, Resolved};
pub use scripted::ScriptedProvider;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A tool as offered to a model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ToolSpec {
    /// Its name as Monstrum knows it (`core.echo`, `github-work.create_comment`).
    pub name: String,
    /// What it does.
    pub description: String,
    /// JSON Schema of its arguments.
    pub parameters: Value,
}

/// A call a model asked for.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    /// Provider-assigned id, echoed back with the result.
    pub id: String,
    /// Tool name as Monstrum knows it.
    pub name: String,
    /// Arguments (a JSON object when the model behaved).
    pub arguments: Value,
}

/// One message of a conversation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "role", rename_all = "snake_case")]
pub enum Message {
    /// The user's words (the step's prompt).
    User { content: String },
    /// What the model said earlier, with the calls it made.
    Assistant {
        content: Option<String>,
        #[serde(default)]
        tool_calls: Vec<ToolCall>,
    },
    /// The result of one tool call.
    Tool {
        tool_call_id: String,
        /// The tool's name as Monstrum knows it.
        name: String,
        content: String,
        /// Whether the call failed or was denied.
        #[serde(default)]
        is_error: bool,
    },
}

/// A request to a model.
#[derive(Clone, Debug, Default)]
pub struct ChatRequest {
    /// Model name sent to the provider.
    pub model: String,
    /// System text (the bot's personality, the step's system text).
    pub system: Option<String>,
    /// The conversation so far.
    pub messages: Vec<Message>,
    /// Tools offered; nothing else is sent.
    pub tools: Vec<std::sync::Arc<ToolSpec>>,
    /// Ask for a JSON answer where the provider supports it.
    pub json_output: bool,
    /// Upper bound of output tokens.
    pub max_tokens: Option<u32>,
    /// Sampling temperature.
    pub temperature: Option<f64>,
}

/// Tokens a request used.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Prompt tokens.
    pub input_tokens: u64,
    /// Completion tokens.
    pub output_tokens: u64,
}

/// A model's answer.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ChatResponse {
    /// Text, if any.
    pub text: Option<String>,
    /// Tool calls, if any; the step runs them and asks again.
    pub tool_calls: Vec<ToolCall>,
    /// Tokens used (estimated where the provider gave none).
    pub usage: Usage,
}

/// Why a model request failed.
#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    /// The server answered with an error.
    #[error("{provider} answered {status}: {message}")]
    Api { provider: &'static str, status: u16, message: String },
    /// The server could not be reached or the answer could not be read.
    #[error("{provider} request failed: {message}")]
    Transport { provider: &'static str, message: String },
    /// Missing or invalid configuration (no API key, no script).
    #[error("{0}")]
    Config(String),
    /// The scripted model has no turn left, or a turn is malformed.
    #[error("{0}")]
    Script(String),
}

/// A model provider.
#[async_trait]
pub trait LlmProvider: Send + Sync {
    /// `openai`, `anthropic` or `scripted`.
    fn name(&self) -> &'static str;
    /// Sends one request.
    async fn complete(&self, request: &ChatRequest) -> Result<ChatResponse, LlmError>;
}

/// Usage estimated from the request and the answer, for servers that report none.
pub fn estimate_usage(request: &ChatRequest, text: Option<&str>, tool_calls: &[ToolCall]) -> Usage {
    let mut prompt = request.system.clone().unwrap_or_default();
    for message in &request.messages {
        prompt.push_str(&serde_json::to_string(message).unwrap_or_default());
    }
    for tool in &request.tools {
        prompt.push_str(&format!("{} {} {}", tool.name, tool.description, tool.parameters));
    }
    let mut answer = text.unwrap_or_default().to_owned();
    for call in tool_calls {
        answer.push_str(&format!("{} {}", call.name, call.arguments));
    }
    Usage { input_tokens: estimate_tokens(&prompt), output_tokens: estimate_tokens(&answer) }
}

/// Rough token count of a text (about four characters a token), used where a provider gives
/// no usage, so that budgets apply offline too.
pub fn estimate_tokens(text: &str) -> u64 {
    (text.chars().count() as u64).div_ceil(4)
}
