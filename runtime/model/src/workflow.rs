//! The workflow file (DESIGN.md, "Workflow file").

use crate::bot::ModelRef;
use crate::diagnostic::PathSeg;
use crate::duration::Duration;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// The built-in tools every workflow has without a binding; they touch nothing outside the run.
pub const CORE_TOOLS: &[&str] = &["core.echo", "core.wait", "core.fail"];

/// A workflow: a DAG of steps.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Workflow {
    /// Name shown in runs and events.
    pub name: String,
    /// What it is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Default bot for every step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bot: Option<String>,
    /// Declared inputs, by name.
    #[serde(default)]
    pub inputs: BTreeMap<String, InputSpec>,
    /// How many steps may run at once (default 16).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_parallel: Option<usize>,
    /// The steps, in file order.
    #[serde(default)]
    pub steps: Vec<Step>,
    /// Outputs of the run: templates over `inputs` and `steps`.
    #[serde(default)]
    pub outputs: BTreeMap<String, String>,
}

/// The declared type of an input.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum InputType {
    /// Text.
    String,
    /// A whole number.
    Integer,
    /// Any number.
    Number,
    /// true or false.
    Boolean,
    /// A list.
    Array,
    /// A mapping.
    Object,
}

/// One declared input.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct InputSpec {
    /// Its type; `--input k=v` values are converted to it.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<InputType>,
    /// Value when not given; an input without a default is required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<Value>,
    /// What it is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// What a failed step does to the run.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum OnError {
    /// The run fails (default).
    #[default]
    Fail,
    /// The step is marked failed and the run goes on; its dependants are skipped unless their
    /// own `if` decides.
    Continue,
}

/// Retries of a failing step.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Retry {
    /// Total attempts, including the first (at least 1).
    pub attempts: u32,
    /// Delay before the second attempt; doubled for each further one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff: Option<Duration>,
    /// Upper bound of the delay.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_backoff: Option<Duration>,
}

/// One step as written. Exactly one of `tool`, `llm`, `approval`, `delegate`, `workflow` is set;
/// [`Step::kind`] gives the one.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// Unique id within the workflow.
    pub id: String,
    /// Steps that must finish first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub needs: Vec<String>,
    /// Expression deciding whether the step runs.
    #[serde(rename = "if", default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
    /// Expression giving a list; the step runs once per item (`item`, `index`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub for_each: Option<String>,
    /// Bound on parallel items of `for_each` (default 8).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_parallel: Option<usize>,
    /// Bot for this step, overriding the workflow's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bot: Option<String>,
    /// Per-attempt deadline; the attempt is cancelled when it passes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
    /// Retries with backoff.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<Retry>,
    /// What a failure does to the run.
    #[serde(default)]
    pub on_error: OnError,
    /// A tool call: `<instance>.<tool>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool: Option<String>,
    /// Arguments of a tool step, or inputs of a sub-workflow: templates allowed in strings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub with: Option<serde_json::Map<String, Value>>,
    /// An LLM step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub llm: Option<LlmStep>,
    /// A human approval gate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<ApprovalStep>,
    /// A delegation to another bot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delegate: Option<DelegateStep>,
    /// A sub-workflow: a path relative to this file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow: Option<String>,
}

/// The kind of a step, borrowed from it.
#[derive(Clone, Copy, Debug)]
pub enum StepKind<'a> {
    /// Calls one tool.
    Tool(&'a str),
    /// Asks a model, which may call tools.
    Llm(&'a LlmStep),
    /// Waits for a person.
    Approval(&'a ApprovalStep),
    /// Hands a task to another bot.
    Delegate(&'a DelegateStep),
    /// Runs another workflow file.
    Workflow(&'a str),
}

impl Step {
    /// The names of the kind fields that are set.
    pub fn kind_names(&self) -> Vec<&'static str> {
        let mut kinds = Vec::new();
        if self.tool.is_some() {
            kinds.push("tool");
        }
        if self.llm.is_some() {
            kinds.push("llm");
        }
        if self.approval.is_some() {
            kinds.push("approval");
        }
        if self.delegate.is_some() {
            kinds.push("delegate");
        }
        if self.workflow.is_some() {
            kinds.push("workflow");
        }
        kinds
    }

    /// Every template of the step, and (flagged `true`) every expression, with its path
    /// inside the step.
    pub fn templates(&self) -> Vec<(Vec<PathSeg>, &str, bool)> {
        let key = |k: &str| PathSeg::Key(k.to_string());
        let mut texts = Vec::new();
        if let Some(c) = &self.condition {
            texts.push((vec![key("if")], c.as_str(), true));
        }
        if let Some(f) = &self.for_each {
            texts.push((vec![key("for_each")], f.as_str(), true));
        }
        if let Some(with) = &self.with {
            for (k, v) in with {
                collect_strings(v, vec![key("with"), key(k)], &mut texts);
            }
        }
        if let Some(llm) = &self.llm {
            texts.push((vec![key("llm"), key("prompt")], llm.prompt.as_str(), false));
            if let Some(s) = &llm.system {
                texts.push((vec![key("llm"), key("system")], s.as_str(), false));
            }
        }
        if let Some(a) = &self.approval {
            texts.push((vec![key("approval"), key("message")], a.message.as_str(), false));
        }
        if let Some(d) = &self.delegate {
            texts.push((vec![key("delegate"), key("task")], d.task.as_str(), false));
        }
        texts
    }

    /// The step's kind; `None` when zero or several are set (a validation error).
    pub fn kind(&self) -> Option<StepKind<'_>> {
        if self.kind_names().len() != 1 {
            return None;
        }
        if let Some(t) = &self.tool {
            return Some(StepKind::Tool(t));
        }
        if let Some(l) = &self.llm {
            return Some(StepKind::Llm(l));
        }
        if let Some(a) = &self.approval {
            return Some(StepKind::Approval(a));
        }
        if let Some(d) = &self.delegate {
            return Some(StepKind::Delegate(d));
        }
        self.workflow.as_deref().map(StepKind::Workflow)
    }
}

fn collect_strings<'a>(value: &'a Value, path: Vec<PathSeg>, out: &mut Vec<(Vec<PathSeg>, &'a str, bool)>) {
    match value {
        Value::String(s) if crate::is_template(s) => out.push((path, s.as_str(), false)),
        Value::Array(items) => {
            for (n, v) in items.iter().enumerate() {
                let mut p = path.clone();
                p.push(PathSeg::Index(n));
                collect_strings(v, p, out);
            }
        }
        Value::Object(map) => {
            for (k, v) in map {
                let mut p = path.clone();
                p.push(PathSeg::Key(k.clone()));
                collect_strings(v, p, out);
            }
        }
        _ => {}
    }
}

/// What an LLM step returns.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LlmOutput {
    /// The final answer as a string.
    #[default]
    Text,
    /// The final answer parsed as JSON (and checked against `schema` when given).
    Json,
}

/// An LLM step.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LlmStep {
    /// The user message: a template.
    pub prompt: String,
    /// Extra system text, after the bot's personality.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    /// Model for this step, overriding the bot's and the workspace's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<ModelRef>,
    /// Narrows the tools offered to the model; never widens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<String>>,
    /// text (default) or json.
    #[serde(default)]
    pub output: LlmOutput,
    /// JSON Schema the json output must satisfy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<Value>,
    /// Model turns before the step fails (default 6).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_turns: Option<u32>,
}

/// A human approval gate.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalStep {
    /// What the approver is asked: a template.
    pub message: String,
    /// Who may decide; empty means anyone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub approvers: Vec<String>,
    /// Whether whoever started the run may decide (default true).
    #[serde(default = "yes")]
    pub self_approval: bool,
    /// After this the gate expires, which rejects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
}

fn yes() -> bool {
    true
}

/// A delegation to another bot (governed; see the gate).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DelegateStep {
    /// The bot that does the task.
    pub bot: String,
    /// The task: a template.
    pub task: String,
    /// Narrows the delegate's tools.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<String>>,
    /// Narrows the delegate's scope, by dimension.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<serde_json::Map<String, Value>>,
    /// The share of the delegator's budget the delegate may spend.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<crate::bot::Limits>,
}
