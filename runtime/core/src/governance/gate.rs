//! The gate (DESIGN.md, "One gate"): resolve the tool in the caller's visible set, validate the
//! arguments against the tool's JSON Schema, execute, and report the decision.
//!
//! Today the visible set is the `core.*` tools, narrowed by what the caller was offered; bots,
//! bindings, the scope engine, budgets and the audit trail extend this function and no other.

use crate::llm::ToolSpec;
use crate::workflow::core_tools;
use crate::workflow::events::{Decision, Event, EventSink};
use jsonschema::Validator;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

/// Why a tool call did not give an output.
#[derive(Clone, Debug, thiserror::Error, PartialEq)]
pub enum ToolError {
    /// Not in the caller's visible set; identical for a tool that does not exist.
    #[error("no such tool: {0}")]
    NoSuchTool(String),
    /// The arguments do not match the tool's schema.
    #[error("invalid arguments for {tool}: {reason}")]
    InvalidArguments { tool: String, reason: String },
    /// The tool ran and failed.
    #[error("{0}")]
    Failed(String),
}

impl ToolError {
    /// Whether the gate refused the call (as opposed to the tool failing).
    pub fn is_denial(&self) -> bool {
        !matches!(self, ToolError::Failed(_))
    }
}

/// Who asks, and what they were shown.
pub struct GateCall<'a> {
    /// The run.
    pub run: &'a str,
    /// The step (key) on whose behalf the call is made.
    pub step: &'a str,
    /// The tool's name.
    pub tool: &'a str,
    /// Its arguments.
    pub arguments: Value,
    /// For a model's call: the names it was offered. A name outside them is "no such tool".
    pub offered: Option<&'a [String]>,
}

struct Compiled {
    spec: ToolSpec,
    validator: Validator,
}

static CORE: LazyLock<HashMap<String, Arc<Compiled>>> = LazyLock::new(|| {
    core_tools::specs()
        .into_iter()
        .map(|spec| {
            let validator = jsonschema::validator_for(&spec.parameters).expect("core tool schemas are valid");
            (spec.name.clone(), Arc::new(Compiled { spec, validator }))
        })
        .collect()
});

/// The gate. Cheap to clone.
#[derive(Clone, Default)]
pub struct Gate {}

impl Gate {
    /// A gate over the built-in tools.
    pub fn new() -> Self {
        Gate {}
    }

    /// The tools a model may be offered, narrowed by `narrow` (a step's `tools:` list), in a
    /// stable order. Names in `narrow` that are not visible are ignored: a list only narrows.
    pub fn visible_tools(&self, narrow: Option<&[String]>) -> Vec<ToolSpec> {
        let mut tools: Vec<ToolSpec> = CORE
            .values()
            .filter(|c| narrow.is_none_or(|n| n.iter().any(|name| name == &c.spec.name)))
            .map(|c| c.spec.clone())
            .collect();
        tools.sort_by(|a, b| a.name.cmp(&b.name));
        tools
    }

    /// Passes one call through the gate and, when allowed, executes it.
    pub async fn call(&self, call: GateCall<'_>, events: &EventSink) -> Result<Value, ToolError> {
        let checked = self.check(&call);
        let (decision, reason) = match &checked {
            Ok(_) => (Decision::Allowed, None),
            Err(e) => (Decision::Denied, Some(e.to_string())),
        };
        events.emit(Event::ToolCall {
            run: call.run.to_string(),
            step: call.step.to_string(),
            tool: call.tool.to_string(),
            decision,
            reason,
        });
        let tool = checked?;
        core_tools::call(&tool.spec.name, call.arguments).await.map_err(ToolError::Failed)
    }

    fn check(&self, call: &GateCall<'_>) -> Result<Arc<Compiled>, ToolError> {
        let offered = call.offered.is_none_or(|names| names.iter().any(|n| n == call.tool));
        let tool = CORE
            .get(call.tool)
            .filter(|_| offered)
            .cloned()
            .ok_or_else(|| ToolError::NoSuchTool(call.tool.to_string()))?;
        let problems: Vec<String> = tool
            .validator
            .iter_errors(&call.arguments)
            .map(|e| {
                let at = e.instance_path().to_string();
                if at.is_empty() { e.to_string() } else { format!("{at}: {e}") }
            })
            .collect();
        if !problems.is_empty() {
            return Err(ToolError::InvalidArguments { tool: call.tool.to_string(), reason: problems.join("; ") });
        }
        Ok(tool)
    }
}
