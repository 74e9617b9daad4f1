//! An `approval:` step: a gate that waits for a person. Its output is `approved`, `by`,
//! `comment`, `at`; a rejected or expired gate has `approved: false`.

use crate::events::Event;
use crate::store::{ApprovalRecord, now_ms};
use crate::workflow::attempt::Outcome;
use crate::workflow::run::RunCtx;
use monstrum_model::{ApprovalStep, Step};
use serde_json::{Value, json};

/// Opens the gate (once), or reads its decision.
pub async fn run(ctx: &RunCtx, step: &Step, gate: &ApprovalStep, message: String) -> Result<Outcome, String> {
    let store = ctx.engine.store.as_ref().ok_or("an approval gate needs a store")?;
    let now = now_ms();
    let request = ApprovalRecord {
        run_id: ctx.run_id.clone(),
        step_id: step.id.clone(),
        message: message.clone(),
        approvers: gate.approvers.clone(),
        self_approval: gate.self_approval,
        requested_at: now,
        expires_at: gate.timeout.map(|t| now + t.get().as_millis() as i64),
        decision: None,
        decided_by: None,
        comment: None,
        decided_at: None,
        output: None,
    };
    let mut record = store.request_approval(&request).await.map_err(|e| e.to_string())?;
    if record.decision.is_none() && record.expires_at.is_some_and(|at| now >= at) {
        store.expire_approval(&ctx.run_id, &step.id).await.map_err(|e| e.to_string())?;
        record = store
            .load_approval(&ctx.run_id, &step.id)
            .await
            .map_err(|e| e.to_string())?
            .ok_or("approval gate vanished")?;
    }
    let decided = |approved: bool| {
        json!({
            "approved": approved,
            "decision": record.decision,
            "by": record.decided_by,
            "comment": record.comment,
            "at": record.decided_at.and_then(chrono::DateTime::from_timestamp_millis).map(|t| t.to_rfc3339()),
            "message": record.message,
        })
    };
    Ok(match record.decision.as_deref() {
        None => {
            ctx.engine.events.emit(Event::ApprovalRequested {
                run: ctx.run_id.clone(),
                step: step.id.clone(),
                message: record.message.clone(),
                approvers: record.approvers.clone(),
                command: format!("monstrum approve {} {}", ctx.run_id, step.id),
            });
            Outcome::Waiting(json!({ "approved": Value::Null, "message": record.message }))
        }
        Some("approved") => Outcome::Output(decided(true)),
        Some(_) => Outcome::Rejected(decided(false)),
    })
}
