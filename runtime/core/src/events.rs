//! What a run tells the world as it goes: the `--json` stream and the progress view read these.

use serde::Serialize;
use serde_json::Value;
use std::sync::Arc;

/// One event of a run. Serialized as one JSON object per line with a `type`.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// The run began (or resumed).
    RunStarted { run: String, workflow: String, resumed: bool },
    /// A step began.
    StepStarted { run: String, step: String, attempt: u32 },
    /// A step ended well.
    StepFinished { run: String, step: String, output: Value, duration_ms: u64 },
    /// A step did not run.
    StepSkipped { run: String, step: String, reason: String },
    /// A step failed (after its retries).
    StepFailed { run: String, step: String, error: String, attempt: u32 },
    /// An item of a for_each step ended.
    StepProgress { run: String, step: String, done: usize, total: usize },
    /// A gate waits for a person.
    ApprovalRequested { run: String, step: String, message: String, approvers: Vec<String>, command: String },
    /// A gate was decided.
    ApprovalDecided { run: String, step: String, approved: bool, by: String, comment: Option<String> },
    /// A model was asked.
    LlmRequest {
        run: String,
        step: String,
        provider: String,
        model: String,
        tools: Vec<String>,
        input_tokens: u64,
        output_tokens: u64,
        /// The memory entries that joined the request's context, as `partition/key`.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        memory: Vec<String>,
    },
    /// A tool call went through the gate.
    ToolCall { run: String, step: String, tool: String, decision: Decision, reason: Option<String> },
    /// The run stopped: finished, failed, or waiting for approval.
    RunFinished { run: String, status: String, outputs: Value, error: Option<String> },
}

/// The gate's answer to a tool call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Allowed,
    Denied,
}

/// Where events go; cloning shares the destination.
#[derive(Clone, Default)]
pub struct EventSink(Option<Arc<dyn Fn(Event) + Send + Sync>>);

impl EventSink {
    /// Events are dropped.
    pub fn none() -> Self {
        EventSink(None)
    }

    /// Events are passed to `f`.
    pub fn new(f: impl Fn(Event) + Send + Sync + 'static) -> Self {
        EventSink(Some(Arc::new(f)))
    }

    /// Whether anybody listens (to skip building events nobody reads).
    pub fn is_active(&self) -> bool {
        self.0.is_some()
    }

    /// Sends an event.
    pub fn emit(&self, event: Event) {
        if let Some(f) = &self.0 {
            f(event);
        }
    }
}
