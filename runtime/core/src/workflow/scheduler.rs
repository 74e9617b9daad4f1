//! The scheduler: runs a plan's steps as their needs finish, bounded in parallel, recording
//! each result before its dependants start, so a killed run resumes where it was.

use super::claim::claim;
use super::context::{Scope, eval_condition, eval_items, render_string, render_value};
use super::plan::Reads;
use super::result::{StepResult, StepStatus};
use super::run::{EngineError, RunCtx, RunOutcome, RunStatus, Unit};
use super::step_task::{Prepared, record, run_step};
use crate::events::Event;
use crate::store::{StepRecord, StoreError, now_ms};
use futures::FutureExt;
use monstrum_model::{Step, StepKind};
use serde_json::{Map, Value};
use std::collections::{HashMap, HashSet, VecDeque};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use tokio::sync::watch;
use tokio::task::JoinSet;

/// Steps run at once unless the workflow or workspace says otherwise.
pub const DEFAULT_MAX_PARALLEL: usize = 16;

/// The scheduler loop, under the run's claim.
pub(super) async fn drive(
    ctx: Arc<RunCtx>,
    prior: HashMap<String, StepRecord>,
    resumed: bool,
) -> Result<RunOutcome, EngineError> {
    let cancel = ctx.engine.cancels.register(&ctx.run_id);
    let outcome = match claim(&ctx).await {
        Ok(guard) => {
            let outcome = drive_claimed(ctx.clone(), prior, resumed, cancel).await;
            if let Some(guard) = guard {
                guard.release().await;
            }
            outcome
        }
        Err(e) => Err(e),
    };
    ctx.engine.cancels.unregister(&ctx.run_id);
    outcome
}

/// Resolves with who cancelled the run, once somebody does.
async fn cancelled(rx: &mut watch::Receiver<Option<String>>) -> String {
    loop {
        if let Some(by) = rx.borrow_and_update().clone() {
            return by;
        }
        if rx.changed().await.is_err() {
            return std::future::pending().await;
        }
    }
}

async fn drive_claimed(
    ctx: Arc<RunCtx>,
    prior: HashMap<String, StepRecord>,
    resumed: bool,
    mut cancel: watch::Receiver<Option<String>>,
) -> Result<RunOutcome, EngineError> {
    let events = ctx.engine.events.clone();
    events.emit(Event::RunStarted { run: ctx.run_id.clone(), workflow: ctx.plan.workflow.name.clone(), resumed });
    let plan = ctx.plan.clone();
    let n = plan.steps.len();
    let max_parallel =
        plan.workflow.max_parallel.or(ctx.engine.workspace.config.max_parallel).unwrap_or(DEFAULT_MAX_PARALLEL).max(1);
    let mut results: Vec<Option<StepResult>> = vec![None; n];
    let mut remaining: Vec<usize> = plan.steps.iter().map(|s| s.needs.len()).collect();
    let mut ready: VecDeque<usize> = (0..n).filter(|i| remaining[*i] == 0).collect();
    let mut running: JoinSet<(usize, StepResult, Option<StoreError>)> = JoinSet::new();
    let mut in_flight: HashSet<usize> = HashSet::new();
    let mut failure: Option<String> = None;
    let mut store_failure: Option<StoreError> = None;
    let mut cancelled_by: Option<String> = None;

    loop {
        if let Some(by) = cancel.borrow().clone() {
            cancelled_by = Some(by);
            break;
        }
        while failure.is_none() && in_flight.len() < max_parallel {
            let Some(i) = ready.pop_front() else { break };
            match launch(&ctx, i, &results, &prior) {
                Launch::Reused(result) => {
                    complete(&ctx, i, result, &mut results, &mut remaining, &mut ready, &mut failure);
                }
                Launch::Decided(result) => {
                    announce_local(&ctx, &plan.steps[i].step, &result);
                    complete(&ctx, i, result, &mut results, &mut remaining, &mut ready, &mut failure);
                }
                Launch::Run(prepared) if in_flight.is_empty() && ready.is_empty() => {
                    // The only step that can run now (a chain's next link): run it here rather
                    // than spawn a task and wait for it. A panic still fails only the run; a
                    // cancel drops it where it is.
                    let inline = AssertUnwindSafe(run_step(ctx.clone(), i, prepared)).catch_unwind();
                    let joined = tokio::select! {
                        biased;
                        joined = inline => joined.map_err(|panic| panic_message(panic.as_ref())),
                        by = cancelled(&mut cancel) => {
                            in_flight.insert(i);
                            cancelled_by = Some(by);
                            break;
                        }
                    };
                    let done = Finished { results: &mut results, remaining: &mut remaining, ready: &mut ready };
                    done.take(&ctx, joined, &mut failure, &mut store_failure);
                }
                Launch::Run(prepared) => {
                    in_flight.insert(i);
                    let ctx = ctx.clone();
                    running.spawn(async move { run_step(ctx, i, prepared).await });
                }
            }
        }
        if failure.is_some() || cancelled_by.is_some() {
            break;
        }
        if in_flight.is_empty() && ready.is_empty() {
            // A gate decided by another process while this one was busy: go on with it.
            let decided = decided_gates(&ctx, &results).await;
            if decided.is_empty() {
                break;
            }
            for i in decided {
                results[i] = None;
                ready.push_back(i);
            }
            continue;
        }
        let next = tokio::select! {
            next = running.join_next() => next,
            by = cancelled(&mut cancel) => {
                cancelled_by = Some(by);
                break;
            }
        };
        let Some(joined) = next else { break };
        if let Ok((i, ..)) = &joined {
            in_flight.remove(i);
        }
        let done = Finished { results: &mut results, remaining: &mut remaining, ready: &mut ready };
        done.take(&ctx, joined.map_err(|e| e.to_string()), &mut failure, &mut store_failure);
    }

    let stop_reason = match &cancelled_by {
        Some(by) => format!("cancelled by {by}"),
        None => "cancelled: the run failed".into(),
    };
    if (failure.is_some() || cancelled_by.is_some()) && !in_flight.is_empty() {
        running.abort_all();
        while running.join_next().await.is_some() {}
        for i in in_flight {
            let id = &plan.steps[i].step.id;
            let result = StepResult {
                status: StepStatus::Cancelled,
                output: Value::Null,
                error: Some(stop_reason.clone()),
                attempts: 0,
            };
            if let Some(store) = &ctx.engine.store {
                let _ = store.step_finished(record(&ctx, id, id, &result, None)).await;
            }
            events.emit(Event::StepSkipped { run: ctx.run_id.clone(), step: id.clone(), reason: stop_reason.clone() });
            results[i] = Some(result);
        }
    }
    if cancelled_by.is_some() {
        // Gates still open close with the run.
        let open: Vec<String> = results
            .iter()
            .enumerate()
            .filter(|(_, r)| r.as_ref().is_some_and(|r| r.status == StepStatus::Waiting))
            .map(|(i, _)| plan.steps[i].step.id.clone())
            .collect();
        if let Some(store) = &ctx.engine.store {
            if let Err(e) = store.flush().await {
                store_failure.get_or_insert(e);
            }
            if let Err(e) = store.cancel_steps(&ctx.run_id, &open, &stop_reason, now_ms()).await {
                store_failure.get_or_insert(e);
            }
        }
        for step in open {
            events.emit(Event::StepSkipped { run: ctx.run_id.clone(), step, reason: stop_reason.clone() });
        }
    }

    let waiting: Vec<(String, String)> = results
        .iter()
        .filter(|_| cancelled_by.is_none())
        .enumerate()
        .filter(|(_, r)| r.as_ref().is_some_and(|r| r.status == StepStatus::Waiting))
        .map(|(i, r)| {
            let message = r.as_ref().and_then(|r| r.output.get("message")).and_then(Value::as_str).unwrap_or_default();
            (plan.steps[i].step.id.clone(), message.to_string())
        })
        .collect();
    let (status, outputs, error) = match (failure, waiting.is_empty()) {
        _ if cancelled_by.is_some() => (RunStatus::Cancelled, Value::Null, Some(stop_reason)),
        (Some(e), _) => (RunStatus::Failed, Value::Null, Some(e)),
        (None, false) => (RunStatus::Waiting, Value::Null, None),
        (None, true) => match outputs(&ctx, &results) {
            Ok(o) => (RunStatus::Succeeded, o, None),
            Err(e) => (RunStatus::Failed, Value::Null, Some(e)),
        },
    };
    if status != RunStatus::Waiting
        && let Err(e) = ctx.engine.gate.memory().end_run(&ctx.run_id).await
    {
        tracing::warn!(run = %ctx.run_id, "the run's task memory could not be deleted: {e}");
    }
    if let Some(store) = &ctx.engine.store {
        if let Err(e) = store.flush().await {
            store_failure.get_or_insert(e);
        }
        let saved = store
            .set_run_status(&ctx.run_id, status.as_str(), Some(&outputs).filter(|o| !o.is_null()), error.as_deref())
            .await;
        if let Some(e) = store_failure {
            return Err(e.into());
        }
        saved?;
    }
    events.emit(Event::RunFinished {
        run: ctx.run_id.clone(),
        status: status.as_str().into(),
        outputs: outputs.clone(),
        error: error.clone(),
    });
    Ok(RunOutcome { run_id: ctx.run_id.clone(), status, outputs, error, waiting })
}

/// Gates that wait in `results` but have a decision in the store.
async fn decided_gates(ctx: &RunCtx, results: &[Option<StepResult>]) -> Vec<usize> {
    let Some(store) = &ctx.engine.store else { return Vec::new() };
    let mut decided = Vec::new();
    for (i, r) in results.iter().enumerate() {
        let step = &ctx.plan.steps[i].step;
        if step.approval.is_none() || !r.as_ref().is_some_and(|r| r.status == StepStatus::Waiting) {
            continue;
        }
        if let Ok(Some(gate)) = store.load_approval(&ctx.run_id, &step.id).await
            && gate.decision.is_some()
        {
            decided.push(i);
        }
    }
    decided
}

enum Launch {
    /// A result recorded by an earlier process of this run.
    Reused(StepResult),
    /// Skipped, or failed before running (a template error), decided here.
    Decided(StepResult),
    Run(Prepared),
}

/// Decides what to do with a step whose needs have all finished: reuse a recorded result, skip
/// it, fail it (a template error), or prepare its work.
fn launch(ctx: &RunCtx, i: usize, results: &[Option<StepResult>], prior: &HashMap<String, StepRecord>) -> Launch {
    let planned = &ctx.plan.steps[i];
    let step = &planned.step;
    if let Some(rec) = prior.get(&step.id)
        && let Some(status) = StepStatus::parse(&rec.status).filter(|s| s.is_final())
    {
        return Launch::Reused(StepResult {
            status,
            output: rec.output.clone().unwrap_or(Value::Null),
            error: rec.error.clone(),
            attempts: rec.attempts,
        });
    }
    let blocked = planned.needs.iter().find_map(|n| {
        let r = results[*n].as_ref()?;
        (r.status != StepStatus::Succeeded).then(|| format!("`{}` {}", ctx.plan.steps[*n].step.id, r.status.as_str()))
    });
    let scope = scope_for(ctx, planned.reads.clone(), results, None);
    match (&step.condition, blocked) {
        (Some(cond), _) => match eval_condition(cond, &scope) {
            Ok(true) => {}
            Ok(false) => return Launch::Decided(StepResult::skipped(format!("condition `{cond}` is false"))),
            Err(e) => return Launch::Decided(StepResult::failed(e.to_string(), 0)),
        },
        (None, Some(why)) => return Launch::Decided(StepResult::skipped(format!("needs {why}"))),
        (None, None) => {}
    }
    let prepared = match &step.for_each {
        None => prepare(step, &scope).map(Prepared::One),
        Some(expr) => eval_items(expr, &scope).map_err(|e| e.to_string()).and_then(|items| {
            // One scope for every item: only `item` and `index` change.
            let mut scope = scope;
            let mut units = Vec::with_capacity(items.len());
            for (index, item) in items.iter().enumerate() {
                scope.item = Some((item, index));
                units.push(prepare(step, &scope)?);
            }
            let done = prior
                .values()
                .filter(|r| r.step_id == step.id && r.status == "succeeded")
                .filter_map(|r| Some((r.item_index()?, r.output.clone().unwrap_or(Value::Null))))
                .collect();
            Ok(Prepared::Each { units, done })
        }),
    };
    match prepared {
        Ok(p) => Launch::Run(p),
        Err(e) => Launch::Decided(StepResult::failed(e, 0)),
    }
}

fn scope_for<'a>(
    ctx: &'a RunCtx,
    reads: Reads,
    results: &[Option<StepResult>],
    item: Option<(&'a Value, usize)>,
) -> Scope<'a> {
    let mut steps = Map::new();
    let mut add = |i: usize| {
        if let Some(r) = &results[i] {
            steps.insert(ctx.plan.steps[i].step.id.clone(), r.view());
        }
    };
    match reads {
        Reads::Some(list) => list.into_iter().for_each(&mut add),
        Reads::All => (0..results.len()).for_each(&mut add),
    }
    Scope { inputs: &ctx.inputs, steps, item }
}

fn prepare(step: &Step, scope: &Scope<'_>) -> Result<Unit, String> {
    let with = || Value::Object(step.with.clone().unwrap_or_default());
    let unit = match step.kind().ok_or("a step needs exactly one kind")? {
        StepKind::Tool(_) => Unit::Tool(render_value(&with(), scope).map_err(|e| e.to_string())?),
        StepKind::Workflow(_) => Unit::Workflow(render_value(&with(), scope).map_err(|e| e.to_string())?),
        StepKind::Llm(llm) => Unit::Llm {
            prompt: render_string(&llm.prompt, scope).map_err(|e| e.to_string())?,
            system: llm.system.as_deref().map(|s| render_string(s, scope)).transpose().map_err(|e| e.to_string())?,
        },
        StepKind::Approval(gate) => {
            Unit::Approval { message: render_string(&gate.message, scope).map_err(|e| e.to_string())? }
        }
        StepKind::Delegate(d) => Unit::Delegate {
            task: render_string(&d.task, scope).map_err(|e| e.to_string())?,
            scope: render_value(&Value::Object(d.scope.clone().unwrap_or_default()), scope)
                .map_err(|e| e.to_string())?,
        },
    };
    Ok(unit)
}

/// Where a finished step's result goes, whether it ran inline or as a task.
struct Finished<'a> {
    results: &'a mut [Option<StepResult>],
    remaining: &'a mut [usize],
    ready: &'a mut VecDeque<usize>,
}

impl Finished<'_> {
    /// Takes a step's outcome: its result, or the message of the panic that crashed it.
    fn take(
        self,
        ctx: &RunCtx,
        joined: Result<(usize, StepResult, Option<StoreError>), String>,
        failure: &mut Option<String>,
        store_failure: &mut Option<StoreError>,
    ) {
        let (i, result, store_error) = match joined {
            Ok(done) => done,
            Err(e) => {
                // A panic in a step is a bug, but it fails the run, not the process.
                failure.get_or_insert(format!("a step crashed: {e}"));
                return;
            }
        };
        if let Some(e) = store_error {
            failure.get_or_insert(e.to_string());
            *store_failure = Some(e);
        }
        complete(ctx, i, result, self.results, self.remaining, self.ready, failure);
    }
}

/// What a panic said, as tokio's `JoinError` would show it.
fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    let said = panic.downcast_ref::<&str>().copied().or_else(|| panic.downcast_ref::<String>().map(String::as_str));
    format!("panicked: {}", said.unwrap_or("(no message)"))
}

/// Records a finished step, lets its dependants go, or fails the run.
fn complete(
    ctx: &RunCtx,
    i: usize,
    result: StepResult,
    results: &mut [Option<StepResult>],
    remaining: &mut [usize],
    ready: &mut VecDeque<usize>,
    failure: &mut Option<String>,
) {
    let step = &ctx.plan.steps[i].step;
    match result.status {
        StepStatus::Failed if step.on_error == monstrum_model::OnError::Fail => {
            failure.get_or_insert(format!(
                "step `{}` failed: {}",
                step.id,
                result.error.as_deref().unwrap_or("unknown error")
            ));
        }
        StepStatus::Waiting => {}
        _ => {
            for d in &ctx.plan.steps[i].dependants {
                remaining[*d] -= 1;
                if remaining[*d] == 0 {
                    ready.push_back(*d);
                }
            }
        }
    }
    results[i] = Some(result);
}

/// Announces and records a skip or an early failure decided by the scheduler itself.
fn announce_local(ctx: &RunCtx, step: &Step, result: &StepResult) {
    let run = ctx.run_id.clone();
    match result.status {
        StepStatus::Skipped => ctx.engine.events.emit(Event::StepSkipped {
            run,
            step: step.id.clone(),
            reason: result.error.clone().unwrap_or_default(),
        }),
        StepStatus::Failed => ctx.engine.events.emit(Event::StepFailed {
            run,
            step: step.id.clone(),
            error: result.error.clone().unwrap_or_default(),
            attempt: 0,
        }),
        _ => return,
    }
    if let Some(store) = &ctx.engine.store {
        // Queued, not awaited: the run flushes the queue before it ends, and a resume after a
        // crash decides the same from the recorded results anyway.
        store.step_finished_later(record(ctx, &step.id, &step.id, result, Some(now_ms())));
    }
}

/// Renders the workflow's `outputs` once every step has finished.
fn outputs(ctx: &RunCtx, results: &[Option<StepResult>]) -> Result<Value, String> {
    if ctx.plan.workflow.outputs.is_empty() {
        return Ok(Value::Object(Map::new()));
    }
    let scope = scope_for(ctx, ctx.plan.output_reads.clone(), results, None);
    let mut out = Map::new();
    for (name, template) in &ctx.plan.workflow.outputs {
        let value =
            render_value(&Value::String(template.clone()), &scope).map_err(|e| format!("output `{name}`: {e}"))?;
        out.insert(name.clone(), value);
    }
    Ok(Value::Object(out))
}

#[cfg(test)]
mod tests {
    use super::panic_message;
    use futures::FutureExt;
    use std::panic::AssertUnwindSafe;

    #[tokio::test]
    async fn an_inline_step_that_panics_is_caught_with_its_message() {
        let said = AssertUnwindSafe(async { panic!("boom at step {}", 3) }).catch_unwind().await.unwrap_err();
        assert_eq!(panic_message(said.as_ref()), "panicked: boom at step 3");
        let said = AssertUnwindSafe(async { std::panic::panic_any(7_u8) }).catch_unwind().await.unwrap_err();
        assert_eq!(panic_message(said.as_ref()), "panicked: (no message)");
    }
}
