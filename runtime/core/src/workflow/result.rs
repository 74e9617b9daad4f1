//! How a step ended, and how templates see it.

use serde_json::{Map, Value, json};

/// The state a step ended in (or waits in).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StepStatus {
    Succeeded,
    Failed,
    Skipped,
    /// A gate that was rejected or expired.
    Rejected,
    /// A gate waiting for a decision (or a sub-workflow waiting for one).
    Waiting,
    /// Stopped because another step failed the run.
    Cancelled,
}

impl StepStatus {
    /// As stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            StepStatus::Succeeded => "succeeded",
            StepStatus::Failed => "failed",
            StepStatus::Skipped => "skipped",
            StepStatus::Rejected => "rejected",
            StepStatus::Waiting => "waiting",
            StepStatus::Cancelled => "cancelled",
        }
    }

    /// From the stored text.
    pub fn parse(s: &str) -> Option<StepStatus> {
        Some(match s {
            "succeeded" => StepStatus::Succeeded,
            "failed" => StepStatus::Failed,
            "skipped" => StepStatus::Skipped,
            "rejected" => StepStatus::Rejected,
            "waiting" => StepStatus::Waiting,
            "cancelled" => StepStatus::Cancelled,
            _ => return None,
        })
    }

    /// Whether a resumed run can reuse this result instead of running the step again.
    pub fn is_final(self) -> bool {
        matches!(self, StepStatus::Succeeded | StepStatus::Failed | StepStatus::Skipped | StepStatus::Rejected)
    }
}

/// A step's result.
#[derive(Clone, Debug)]
pub struct StepResult {
    pub status: StepStatus,
    pub output: Value,
    pub error: Option<String>,
    pub attempts: u32,
}

impl StepResult {
    /// A step that did not run.
    pub fn skipped(reason: String) -> Self {
        StepResult { status: StepStatus::Skipped, output: Value::Null, error: Some(reason), attempts: 0 }
    }

    /// A step that failed before or during its run.
    pub fn failed(error: String, attempts: u32) -> Self {
        StepResult { status: StepStatus::Failed, output: Value::Null, error: Some(error), attempts }
    }

    /// `steps.<id>` as templates see it: `status`, `output`, `error`, and the output's own
    /// fields beside them (so `steps.gate.approved` reads the gate's decision).
    pub fn view(&self) -> Value {
        let mut map = match &self.output {
            Value::Object(fields) => fields.clone(),
            _ => Map::new(),
        };
        map.insert("status".into(), json!(self.status.as_str()));
        map.insert("output".into(), self.output.clone());
        map.insert("error".into(), json!(self.error));
        Value::Object(map)
    }
}
