//! A `workflow:` step: runs another workflow file as a child run; its outputs are the step's
//! output. A child that waits for approval makes the step wait; approving the child's gate
//! resumes the child and then this run.

use crate::workflow::attempt::Outcome;
use crate::workflow::inputs::resolve_inputs;
use crate::workflow::plan::Plan;
use crate::workflow::run::{RunCtx, RunStatus, StartRun};
use serde_json::{Value, json};
use std::sync::Arc;

/// Deepest nesting of sub-workflows (a workflow that includes itself stops here).
pub const MAX_DEPTH: u32 = 8;

/// Runs (or resumes) the child run of this step.
pub async fn run(ctx: &Arc<RunCtx>, key: &str, file: &str, inputs: Value) -> Result<Outcome, String> {
    if ctx.depth >= MAX_DEPTH {
        return Err(format!("sub-workflows nest deeper than {MAX_DEPTH} levels"));
    }
    let path = ctx.engine.workspace.sub_workflow(&ctx.file, file).map_err(|e| format!("{e:#}"))?;
    let source =
        std::fs::read_to_string(&path).map_err(|e| format!("cannot read sub-workflow {}: {e}", path.display()))?;
    let workflow = monstrum_model::load_workflow(&source).ok().map_err(|problems| {
        let list: Vec<String> = problems.iter().map(|d| format!("{}:{d}", path.display())).collect();
        format!("invalid sub-workflow:\n{}", list.join("\n"))
    })?;
    let given = match inputs {
        Value::Object(map) => map,
        _ => Default::default(),
    };
    let inputs = resolve_inputs(&workflow, given)?;
    let engine = &ctx.engine;
    let existing = match &engine.store {
        Some(store) => store.child_run(&ctx.run_id, key).await.map_err(|e| e.to_string())?,
        None => None,
    };
    let outcome = match existing {
        Some(child) => engine.resume(&child, None).await,
        None => {
            engine
                .start(StartRun {
                    plan: Plan::new(workflow),
                    source,
                    file: path,
                    inputs,
                    started_by: ctx.started_by.clone(),
                    parent: Some((ctx.run_id.clone(), key.to_string())),
                    depth: ctx.depth + 1,
                    conversation: ctx.conversation.clone(),
                })
                .await
        }
    }
    .map_err(|e| e.to_string())?;
    match outcome.status {
        RunStatus::Succeeded => Ok(Outcome::Output(outcome.outputs)),
        RunStatus::Failed | RunStatus::Cancelled => Err(format!(
            "sub-workflow run {} {}: {}",
            outcome.run_id,
            outcome.status.as_str(),
            outcome.error.unwrap_or_default()
        )),
        RunStatus::Waiting => Ok(Outcome::Waiting(json!({
            "run": outcome.run_id,
            "message": format!("sub-workflow run {} waits for approval", outcome.run_id),
        }))),
    }
}
