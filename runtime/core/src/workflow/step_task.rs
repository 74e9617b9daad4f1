//! One step's execution: its attempts (or its items, for `for_each`), the step kind's work,
//! the output size limit, and the record committed before the step counts as finished.

use super::attempt::{Outcome, with_retries};
use super::result::{StepResult, StepStatus};
use super::run::{RunCtx, Unit};
use super::steps;
use crate::events::Event;
use crate::store::{StepRecord, StoreError, now_ms};
use futures::StreamExt;
use monstrum_model::{Step, StepKind};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

/// Items of one for_each step run at once unless the step says otherwise.
pub const DEFAULT_ITEM_PARALLEL: usize = 8;
/// Largest output a step may produce (serialized).
pub const MAX_OUTPUT_BYTES: usize = 16 * 1024 * 1024;

/// A step's work with its templates rendered: one unit, or one per item.
pub(super) enum Prepared {
    One(Unit),
    Each { units: Vec<Unit>, done: HashMap<usize, Value> },
}

pub(super) fn record(
    ctx: &RunCtx,
    key: &str,
    step_id: &str,
    result: &StepResult,
    started_at: Option<i64>,
) -> StepRecord {
    StepRecord {
        run_id: ctx.run_id.clone(),
        step_key: key.to_string(),
        step_id: step_id.to_string(),
        status: result.status.as_str().to_string(),
        attempts: result.attempts,
        output: Some(result.output.clone()).filter(|o| !o.is_null()),
        error: result.error.clone(),
        started_at,
        finished_at: Some(now_ms()),
    }
}

fn to_result(outcome: Result<Outcome, String>, attempts: u32) -> StepResult {
    let (status, output, error) = match outcome {
        Ok(Outcome::Output(v)) => (StepStatus::Succeeded, v, None),
        Ok(Outcome::Waiting(v)) => (StepStatus::Waiting, v, None),
        Ok(Outcome::Rejected(v)) => (StepStatus::Rejected, v, None),
        Err(e) => (StepStatus::Failed, Value::Null, Some(e)),
    };
    let mut result = StepResult { status, output, error, attempts };
    if result.status == StepStatus::Succeeded {
        let size = serialized_size(&result.output);
        if size > MAX_OUTPUT_BYTES {
            result = StepResult::failed(
                format!("output of {size} bytes is larger than the limit of {MAX_OUTPUT_BYTES} bytes"),
                attempts,
            );
        }
    }
    result
}

/// The length of `value` as JSON, counted without writing it anywhere.
fn serialized_size(value: &Value) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    let _ = serde_json::to_writer(&mut count, value);
    count.0
}

/// Runs one step (all its items for for_each) and records the result.
pub(super) async fn run_step(
    ctx: Arc<RunCtx>,
    i: usize,
    prepared: Prepared,
) -> (usize, StepResult, Option<StoreError>) {
    let step = &ctx.plan.steps[i].step;
    let started_at = now_ms();
    let clock = Instant::now();
    let mut store_error = None;
    let result = match prepared {
        Prepared::One(unit) => {
            let (outcome, attempts) =
                with_retries(&ctx, step, &step.id, true, |n| execute(&ctx, step, &step.id, n, unit.clone())).await;
            to_result(outcome, attempts)
        }
        Prepared::Each { units, done } => {
            ctx.engine.events.emit(Event::StepStarted { run: ctx.run_id.clone(), step: step.id.clone(), attempt: 1 });
            let (result, e) = for_each(&ctx, step, units, done).await;
            store_error = e;
            result
        }
    };
    let mut result = result;
    if let Some(store) = &ctx.engine.store
        && let Err(e) = store.step_finished(record(&ctx, &step.id, &step.id, &result, Some(started_at))).await
    {
        // Not recorded, not finished: the run fails on the store's error, and no one is told
        // that the step finished (its audit records, committed with it, may be what failed).
        result = StepResult::failed(format!("the step could not be recorded: {e}"), result.attempts);
        store_error.get_or_insert(e);
    }
    if !ctx.engine.events.is_active() {
        return (i, result, store_error);
    }
    let run = ctx.run_id.clone();
    match result.status {
        StepStatus::Succeeded | StepStatus::Rejected => ctx.engine.events.emit(Event::StepFinished {
            run,
            step: step.id.clone(),
            output: result.output.clone(),
            duration_ms: clock.elapsed().as_millis() as u64,
        }),
        StepStatus::Failed => ctx.engine.events.emit(Event::StepFailed {
            run,
            step: step.id.clone(),
            error: result.error.clone().unwrap_or_default(),
            attempt: result.attempts,
        }),
        _ => {}
    }
    (i, result, store_error)
}

async fn for_each(
    ctx: &Arc<RunCtx>,
    step: &Step,
    units: Vec<Unit>,
    done: HashMap<usize, Value>,
) -> (StepResult, Option<StoreError>) {
    let total = units.len();
    let limit = step.max_parallel.unwrap_or(DEFAULT_ITEM_PARALLEL).max(1);
    let mut outputs: Vec<Value> = vec![Value::Null; total];
    let mut finished = 0;
    let mut errors: Vec<String> = Vec::new();
    let mut waiting = false;
    let mut store_error = None;
    let mut attempts = 0;
    for (index, output) in &done {
        if let Some(slot) = outputs.get_mut(*index) {
            *slot = output.clone();
            finished += 1;
        }
    }
    let pending: Vec<(usize, Unit)> =
        units.into_iter().enumerate().filter(|(index, _)| !done.contains_key(index)).collect();
    let mut stream = futures::stream::iter(pending)
        .map(|(index, unit)| async move {
            let key = format!("{}[{index}]", step.id);
            let started_at = now_ms();
            let (outcome, attempts) =
                with_retries(ctx, step, &key, false, |n| execute(ctx, step, &key, n, unit.clone())).await;
            let result = to_result(outcome, attempts);
            let saved = match &ctx.engine.store {
                Some(store) => store.step_finished(record(ctx, &key, &step.id, &result, Some(started_at))).await,
                None => Ok(()),
            };
            (index, result, saved)
        })
        .buffer_unordered(limit);
    while let Some((index, result, saved)) = stream.next().await {
        finished += 1;
        attempts = attempts.max(result.attempts);
        if let Err(e) = saved {
            store_error.get_or_insert(e);
        }
        match result.status {
            StepStatus::Succeeded => outputs[index] = result.output,
            StepStatus::Waiting => waiting = true,
            _ => {
                errors.push(format!("item {index}: {}", result.error.unwrap_or_else(|| result.status.as_str().into())))
            }
        }
        ctx.engine.events.emit(Event::StepProgress {
            run: ctx.run_id.clone(),
            step: step.id.clone(),
            done: finished,
            total,
        });
    }
    let result = if !errors.is_empty() {
        StepResult {
            status: StepStatus::Failed,
            output: Value::Array(outputs),
            error: Some(errors.join("; ")),
            attempts,
        }
    } else if waiting {
        StepResult {
            status: StepStatus::Waiting,
            output: json!({ "message": "items wait for approval" }),
            error: None,
            attempts,
        }
    } else {
        StepResult {
            status: StepStatus::Succeeded,
            output: Value::Array(outputs),
            error: None,
            attempts: attempts.max(1),
        }
    };
    (result, store_error)
}

/// Runs one unit of work by the step's kind.
async fn execute(ctx: &Arc<RunCtx>, step: &Step, key: &str, attempt: u32, unit: Unit) -> Result<Outcome, String> {
    match (step.kind(), unit) {
        (Some(StepKind::Tool(tool)), Unit::Tool(args)) => steps::tool::run(ctx, step, key, attempt, tool, args).await,
        (Some(StepKind::Llm(llm)), Unit::Llm { prompt, system }) => {
            steps::llm::run(ctx, step, llm, key, attempt, prompt, system).await
        }
        (Some(StepKind::Approval(gate)), Unit::Approval { message }) => {
            steps::approval::run(ctx, step, gate, message).await
        }
        (Some(StepKind::Delegate(delegate)), Unit::Delegate { task, scope }) => {
            steps::delegate::run(ctx, step, delegate, key, attempt, task, scope).await
        }
        (Some(StepKind::Workflow(file)), Unit::Workflow(inputs)) => {
            steps::subworkflow::run(ctx, key, file, inputs).await
        }
        _ => Err("internal error: the prepared work does not match the step".into()),
    }
}
