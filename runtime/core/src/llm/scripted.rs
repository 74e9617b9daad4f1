//! The `scripted` provider: answers from a YAML file of turns, consumed in order across a run,
//! so workflows, demos and tests run offline and repeatably.

use super::{ChatRequest, ChatResponse, LlmError, LlmProvider, ToolCall, Usage, estimate_usage};
use async_trait::async_trait;
use serde::Deserialize;
use serde_json::Value;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

/// One turn of a script.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Turn {
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    tool_calls: Vec<ScriptedCall>,
    #[serde(default)]
    usage: Option<Usage>,
    /// Makes this request fail with the message, to test error paths.
    #[serde(default)]
    error: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScriptedCall {
    name: String,
    #[serde(default)]
    arguments: Value,
}

/// Answers from a script; the position is shared by every step of a run.
pub struct ScriptedProvider {
    path: String,
    turns: Vec<Turn>,
    next: AtomicUsize,
}

impl ScriptedProvider {
    /// Loads the script at `path`, starting at turn `start` (turns already consumed by the
    /// finished steps of a resumed run).
    pub fn load(path: &Path, start: usize) -> Result<Self, LlmError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| LlmError::Config(format!("cannot read script {}: {e}", path.display())))?;
        let turns: Vec<Turn> = serde_yaml::from_str(&text)
            .map_err(|e| LlmError::Config(format!("invalid script {}: {e}", path.display())))?;
        Ok(ScriptedProvider { path: path.display().to_string(), turns, next: AtomicUsize::new(start) })
    }

    /// How many turns have been consumed.
    pub fn position(&self) -> usize {
        self.next.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl LlmProvider for ScriptedProvider {
    fn name(&self) -> &'static str {
        "scripted"
    }

    async fn complete(&self, request: &ChatRequest) -> Result<ChatResponse, LlmError> {
        let n = self.next.fetch_add(1, Ordering::SeqCst);
        let turn = self.turns.get(n).ok_or_else(|| {
            LlmError::Script(format!("script {} has no turn {} (it has {})", self.path, n + 1, self.turns.len()))
        })?;
        if let Some(message) = &turn.error {
            return Err(LlmError::Api { provider: "scripted", status: 500, message: message.clone() });
        }
        let tool_calls: Vec<ToolCall> = turn
            .tool_calls
            .iter()
            .enumerate()
            .map(|(i, c)| ToolCall {
                id: format!("call_{n}_{i}"),
                name: c.name.clone(),
                arguments: c.arguments.clone(),
            })
            .collect();
        let usage = turn.usage.unwrap_or_else(|| estimate_usage(request, turn.text.as_deref(), &tool_calls));
        Ok(ChatResponse { text: turn.text.clone(), tool_calls, usage })
    }
}
