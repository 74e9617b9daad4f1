//! A `tool:` step: one call through the gate.

use crate::governance::GateCall;
use crate::workflow::attempt::Outcome;
use crate::workflow::run::RunCtx;
use monstrum_model::Step;
use serde_json::Value;

/// Calls `tool` with `arguments` on behalf of the step (`key`).
pub async fn run(ctx: &RunCtx, step: &Step, key: &str, tool: &str, arguments: Value) -> Result<Outcome, String> {
    let bot = step.bot.as_ref().or(ctx.plan.workflow.bot.as_ref());
    let principal = ctx.engine.gate.principal(bot.map(String::as_str));
    let call = GateCall { run: &ctx.run_id, step: key, principal: &principal, tool, arguments, offered: None };
    ctx.engine.gate.call(call, &ctx.engine.events).await.map(Outcome::Output).map_err(|e| e.to_string())
}
