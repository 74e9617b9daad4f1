//! Rows of the store as Rust values.

use super::json_column;
use serde::Serialize;
use serde_json::Value;
use sqlx::Row;
use sqlx::any::AnyRow;

/// A run.
#[derive(Clone, Debug, Serialize)]
pub struct RunRecord {
    pub id: String,
    pub workflow: String,
    /// Path of the workflow file it was started from.
    pub file: String,
    /// The workflow's text when the run started; a resume runs exactly this.
    #[serde(skip)]
    pub source: String,
    pub inputs: Value,
    /// running | waiting | succeeded | failed
    pub status: String,
    pub started_by: String,
    pub parent_run: Option<String>,
    pub parent_step: Option<String>,
    pub outputs: Option<Value>,
    pub error: Option<String>,
    /// The process that drives the run (`host:pid`), while one does.
    pub owner: Option<String>,
    pub lease_until: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    pub finished_at: Option<i64>,
    /// The version of its workflow it ran, when the text it ran was saved as one.
    pub workflow_version: Option<i64>,
    /// The conversation it came from (`<channel>/<conversation>`): its bots' `channel:` memory.
    pub conversation: Option<String>,
}

impl RunRecord {
    pub(super) fn from_row(row: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(RunRecord {
            id: row.try_get("id")?,
            workflow: row.try_get("workflow")?,
            file: row.try_get("file")?,
            source: row.try_get("source")?,
            inputs: json_column(row, "inputs")?.unwrap_or(Value::Null),
            status: row.try_get("status")?,
            started_by: row.try_get("started_by")?,
            parent_run: row.try_get("parent_run")?,
            parent_step: row.try_get("parent_step")?,
            outputs: json_column(row, "outputs")?,
            error: row.try_get("error")?,
            owner: row.try_get("owner")?,
            lease_until: row.try_get("lease_until")?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
            finished_at: row.try_get("finished_at")?,
            workflow_version: row.try_get("workflow_version")?,
            conversation: row.try_get("conversation")?,
        })
    }
}

/// A step, or one item of a for_each step.
#[derive(Clone, Debug, Serialize)]
pub struct StepRecord {
    pub run_id: String,
    /// The step id, or `id[index]` for an item.
    pub step_key: String,
    pub step_id: String,
    /// running | succeeded | failed | skipped | rejected | waiting | cancelled
    pub status: String,
    pub attempts: u32,
    pub output: Option<Value>,
    pub error: Option<String>,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
}

impl StepRecord {
    pub(super) fn from_row(row: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(StepRecord {
            run_id: row.try_get("run_id")?,
            step_key: row.try_get("step_key")?,
            step_id: row.try_get("step_id")?,
            status: row.try_get("status")?,
            attempts: row.try_get::<i64, _>("attempts")? as u32,
            output: json_column(row, "output")?,
            error: row.try_get("error")?,
            started_at: row.try_get("started_at")?,
            finished_at: row.try_get("finished_at")?,
        })
    }

    /// The item index of an item record.
    pub fn item_index(&self) -> Option<usize> {
        let rest = self.step_key.strip_prefix(&self.step_id)?.strip_prefix('[')?;
        rest.strip_suffix(']')?.parse().ok()
    }
}

/// An approval gate.
#[derive(Clone, Debug, Serialize)]
pub struct ApprovalRecord {
    pub run_id: String,
    pub step_id: String,
    pub message: String,
    pub approvers: Vec<String>,
    pub self_approval: bool,
    pub requested_at: i64,
    pub expires_at: Option<i64>,
    /// approved | rejected | expired, or none while open.
    pub decision: Option<String>,
    pub decided_by: Option<String>,
    pub comment: Option<String>,
    pub decided_at: Option<i64>,
    /// For a gate over a write in doubt: the output the write had, given by whoever marked it
    /// done.
    pub output: Option<Value>,
}

impl ApprovalRecord {
    pub(super) fn from_row(row: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(ApprovalRecord {
            run_id: row.try_get("run_id")?,
            step_id: row.try_get("step_id")?,
            message: row.try_get("message")?,
            approvers: json_column(row, "approvers")?.and_then(|v| serde_json::from_value(v).ok()).unwrap_or_default(),
            self_approval: row.try_get::<i64, _>("self_approval")? != 0,
            requested_at: row.try_get("requested_at")?,
            expires_at: row.try_get("expires_at")?,
            decision: row.try_get("decision")?,
            decided_by: row.try_get("decided_by")?,
            comment: row.try_get("comment")?,
            decided_at: row.try_get("decided_at")?,
            output: json_column(row, "output")?,
        })
    }
}

/// One model request.
#[derive(Clone, Debug, Serialize)]
pub struct LlmRecord {
    pub run_id: String,
    pub step_key: String,
    pub provider: String,
    pub model: String,
    /// For the scripted provider, the script it read.
    pub script: Option<String>,
    /// The names of the tools offered.
    pub tools: Vec<String>,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub error: Option<String>,
    pub at: i64,
    /// The memory entries that joined the request's context, as `partition/key`.
    pub memory: Vec<String>,
}

impl LlmRecord {
    pub(super) fn from_row(row: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(LlmRecord {
            run_id: row.try_get("run_id")?,
            step_key: row.try_get("step_key")?,
            provider: row.try_get("provider")?,
            model: row.try_get("model")?,
            script: row.try_get("script")?,
            tools: json_column(row, "tools")?.and_then(|v| serde_json::from_value(v).ok()).unwrap_or_default(),
            input_tokens: row.try_get::<i64, _>("input_tokens")? as u64,
            output_tokens: row.try_get::<i64, _>("output_tokens")? as u64,
            error: row.try_get("error")?,
            at: row.try_get("at")?,
            memory: json_column(row, "memory")?.and_then(|v| serde_json::from_value(v).ok()).unwrap_or_default(),
        })
    }
}
