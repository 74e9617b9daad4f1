//! A `tool:` step: one call through the gate.

use crate::governance::GateCall;
use crate::workflow::attempt::Outcome;
use crate::workflow::run::RunCtx;
use serde_json::Value;

/// Calls `tool` with `arguments` on behalf of the step (`key`).
pub async fn run(ctx: &RunCtx, key: &str, tool: &str, arguments: Value) -> Result<Outcome, String> {
    let call = GateCall { run: &ctx.run_id, step: key, tool, arguments, offered: None };
    ctx.engine.gate.call(call, &ctx.engine.events).await.map(Outcome::Output).map_err(|e| e.to_string())
}
