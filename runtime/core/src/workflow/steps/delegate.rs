//! A `delegate:` step: hands a task to another bot through the gate. The delegate works with its
//! own tools and scope, narrowed by the step's `tools`, `scope` and `budget` share.

use crate::governance::DelegationRequest;
use crate::workflow::attempt::Outcome;
use crate::workflow::run::RunCtx;
use crate::workflow::steps::llm::{Calls, run_delegate};
use monstrum_model::{DelegateStep, Step};
use serde_json::Value;

/// Delegates the rendered `task`; `scope` is the step's rendered scope.
pub async fn run(
    ctx: &RunCtx,
    step: &Step,
    delegate: &DelegateStep,
    key: &str,
    attempt: u32,
    task: String,
    scope: Value,
) -> Result<Outcome, String> {
    let from = ctx.engine.gate.principal(step.bot.as_ref().or(ctx.plan.workflow.bot.as_ref()).map(String::as_str));
    let scope = match scope {
        Value::Object(map) => map.into_iter().collect(),
        Value::Null => Default::default(),
        _ => return Err("a delegation's scope maps dimensions to values".into()),
    };
    let request =
        DelegationRequest { bot: delegate.bot.clone(), tools: delegate.tools.clone(), scope, budget: delegate.budget };
    let calls = Calls::new(&ctx.run_id, key, attempt);
    run_delegate(ctx, key, &calls, &from, &request, task).await.map(Outcome::Output)
}
