//! A `tool:` step: one call through the gate, under an idempotency key that stays the same when
//! the run resumes after a crash. A write the gate finds in doubt (sent by a process that stopped
//! before its result was recorded) pauses the step as a gate for a person: send it again
//! (approve), fail the step (reject), or mark it done with the output it had (approve with an
//! output).

use crate::events::Event;
use crate::governance::{GateCall, ToolError};
use crate::store::{ApprovalRecord, now_ms};
use crate::workflow::attempt::Outcome;
use crate::workflow::run::RunCtx;
use monstrum_model::Step;
use serde_json::{Value, json};

/// Calls `tool` with `arguments` on behalf of the step (`key`, in attempt `attempt`).
pub async fn run(
    ctx: &RunCtx,
    step: &Step,
    key: &str,
    attempt: u32,
    tool: &str,
    arguments: Value,
) -> Result<Outcome, String> {
    let bot = step.bot.as_ref().or(ctx.plan.workflow.bot.as_ref());
    let principal = ctx.engine.gate.principal(bot.map(String::as_str));
    let call_key = format!("{}/{key}/{attempt}", ctx.run_id);
    let call = |arguments, resend| GateCall {
        run: &ctx.run_id,
        step: key,
        principal: &principal,
        tool,
        arguments,
        offered: None,
        key: Some(&call_key),
        resend,
        conversation: ctx.conversation.as_deref(),
    };
    let events = &ctx.engine.events;
    match ctx.engine.gate.call(call(arguments.clone(), false), events).await {
        Err(ToolError::InDoubt { tool, key: call_key }) => {
            let gate = in_doubt_gate(ctx, key, &tool, &call_key).await?;
            match gate.decision.as_deref() {
                None => Ok(Outcome::Waiting(json!({ "approved": Value::Null, "message": gate.message }))),
                Some("approved") => match gate.output {
                    Some(output) => Ok(Outcome::Output(output)),
                    None => ctx
                        .engine
                        .gate
                        .call(call(arguments, true), events)
                        .await
                        .map(Outcome::Output)
                        .map_err(|e| e.to_string()),
                },
                Some(other) => Err(format!(
                    "the write in doubt ({tool}) was not sent again: {other} by {}",
                    gate.decided_by.as_deref().unwrap_or("-")
                )),
            }
        }
        other => other.map(Outcome::Output).map_err(|e| e.to_string()),
    }
}

/// The gate over a write in doubt of step `key` (opened once, announced while undecided).
async fn in_doubt_gate(ctx: &RunCtx, key: &str, tool: &str, call_key: &str) -> Result<ApprovalRecord, String> {
    let store = ctx.engine.store.as_ref().ok_or("a write in doubt needs a store")?;
    let message = format!(
        "A write may have happened: {tool} was sent (call {call_key}) but the process stopped before its result \
         was recorded. Approve to send it again, approve with --output JSON to mark it done with that output, or \
         reject to fail the step."
    );
    let request = ApprovalRecord {
        run_id: ctx.run_id.clone(),
        step_id: key.to_string(),
        message,
        approvers: Vec::new(),
        self_approval: true,
        requested_at: now_ms(),
        expires_at: None,
        decision: None,
        decided_by: None,
        comment: None,
        decided_at: None,
        output: None,
    };
    let gate = store.request_approval(&request).await.map_err(|e| e.to_string())?;
    if gate.decision.is_none() {
        ctx.engine.events.emit(Event::ApprovalRequested {
            run: ctx.run_id.clone(),
            step: key.to_string(),
            message: gate.message.clone(),
            approvers: Vec::new(),
            command: format!("monstrum approve {} {key}", ctx.run_id),
        });
    }
    Ok(gate)
}
