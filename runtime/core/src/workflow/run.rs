//! The scheduler: runs a plan's steps as their needs finish, bounded in parallel, recording
//! each result before its dependants start, so a killed run resumes where it was.

use super::attempt::{Outcome, with_retries};
use super::context::{Scope, eval_condition, eval_items, render_string, render_value};
use super::events::{Event, EventSink};
use super::plan::{Plan, Reads};
use super::result::{StepResult, StepStatus};
use super::steps;
use crate::governance::Gate;
use crate::llm::Providers;
use crate::store::{ApprovalRecord, StepRecord, Store, StoreError, now_ms};
use crate::workspace::Workspace;
use futures::StreamExt;
use monstrum_model::{Step, StepKind};
use serde_json::{Map, Value, json};
use std::collections::{HashMap, HashSet, VecDeque};
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;
use tokio::task::JoinSet;

/// Steps run at once unless the workflow or workspace says otherwise.
pub const DEFAULT_MAX_PARALLEL: usize = 16;
/// Items of one for_each step run at once unless the step says otherwise.
pub const DEFAULT_ITEM_PARALLEL: usize = 8;
/// Largest output a step may produce (serialized).
pub const MAX_OUTPUT_BYTES: usize = 16 * 1024 * 1024;

/// Runs workflows.
pub struct Engine {
    /// Where runs are recorded; `None` runs in memory (benchmarks, dry runs).
    pub store: Option<Store>,
    pub workspace: Arc<Workspace>,
    pub events: EventSink,
    pub gate: Gate,
}

/// How a run stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunStatus {
    Succeeded,
    Failed,
    /// Paused at one or more approval gates.
    Waiting,
}

impl RunStatus {
    /// As stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
            RunStatus::Waiting => "waiting",
        }
    }
}

/// The end (or pause) of a run.
#[derive(Clone, Debug)]
pub struct RunOutcome {
    pub run_id: String,
    pub status: RunStatus,
    pub outputs: Value,
    pub error: Option<String>,
    /// Gates that wait, as (step, message).
    pub waiting: Vec<(String, String)>,
}

/// A new run.
pub struct StartRun {
    pub plan: Arc<Plan>,
    /// The workflow's text, recorded so a resume runs exactly what started.
    pub source: String,
    pub file: PathBuf,
    /// Inputs, already resolved.
    pub inputs: Value,
    pub started_by: String,
    /// For a sub-workflow: the parent run and step.
    pub parent: Option<(String, String)>,
    pub depth: u32,
}

/// Why a decision on a gate was refused.
#[derive(Debug, thiserror::Error)]
pub enum DecideError {
    #[error("no run {0}")]
    NoRun(String),
    #[error("run {run} has no approval step `{step}` waiting")]
    NotWaiting { run: String, step: String },
    #[error("step `{step}` was already decided ({decision})")]
    AlreadyDecided { step: String, decision: String },
    #[error("the gate expired before the decision; it counts as rejected")]
    Expired,
    #[error("{who} may not decide this gate (approvers: {approvers})")]
    NotAnApprover { who: String, approvers: String },
    #[error("{0} started this run and the gate forbids self-approval")]
    SelfApproval(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Everything a step of one run can reach.
pub struct RunCtx {
    pub engine: Arc<Engine>,
    pub run_id: String,
    pub plan: Arc<Plan>,
    pub inputs: Value,
    pub started_by: String,
    pub file: PathBuf,
    pub depth: u32,
    pub providers: Providers,
}

/// A unit of prepared work: the step's templates already rendered.
#[derive(Clone)]
pub enum Unit {
    Tool(Value),
    Llm { prompt: String, system: Option<String> },
    Approval { message: String },
    Workflow(Value),
}

enum Prepared {
    One(Unit),
    Each { units: Vec<Unit>, done: HashMap<usize, Value> },
}

type BoxedRun<'a> = Pin<Box<dyn Future<Output = Result<RunOutcome, EngineError>> + Send + 'a>>;

/// Why a run could not be started or continued (a failing step is not an error: the run fails).
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("{0}")]
    NotFound(String),
    /// The scheduler itself panicked (a bug); the run's recorded state is intact.
    #[error("the scheduler crashed: {0}")]
    Crashed(String),
    /// Another live process drives the run.
    #[error("run {run} is being driven by {owner}; it picks up recorded decisions itself")]
    Busy { run: String, owner: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Engine {
    /// Starts a new run and drives it until it ends or waits.
    pub fn start(self: &Arc<Self>, run: StartRun) -> BoxedRun<'_> {
        Box::pin(async move {
            let run_id = uuid::Uuid::new_v4().to_string();
            if let Some(store) = &self.store {
                let now = now_ms();
                store
                    .create_run(&crate::store::RunRecord {
                        id: run_id.clone(),
                        workflow: run.plan.workflow.name.clone(),
                        file: run.file.display().to_string(),
                        source: run.source.clone(),
                        inputs: run.inputs.clone(),
                        status: "running".into(),
                        started_by: run.started_by.clone(),
                        parent_run: run.parent.as_ref().map(|p| p.0.clone()),
                        parent_step: run.parent.as_ref().map(|p| p.1.clone()),
                        outputs: None,
                        error: None,
                        owner: None,
                        lease_until: None,
                        created_at: now,
                        updated_at: now,
                        finished_at: None,
                    })
                    .await?;
            }
            let ctx = RunCtx {
                engine: self.clone(),
                run_id,
                providers: Providers::new(self.workspace.clone(), HashMap::new()),
                plan: run.plan,
                inputs: run.inputs,
                started_by: run.started_by,
                file: run.file,
                depth: run.depth,
            };
            drive_in_task(Arc::new(ctx), HashMap::new(), false).await
        })
    }

    /// Continues a recorded run: finished steps keep their results; with `from`, that step and
    /// everything after it run again.
    pub fn resume<'a>(self: &'a Arc<Self>, run_id: &'a str, from: Option<&'a str>) -> BoxedRun<'a> {
        Box::pin(async move {
            let store = self.store.as_ref().expect("resume needs a store");
            let run = store.load_run(run_id).await?.ok_or_else(|| EngineError::NotFound(format!("no run {run_id}")))?;
            let workflow = monstrum_model::load_workflow(&run.source).ok().map_err(|_| {
                EngineError::NotFound(format!("the recorded workflow of run {} no longer loads", run.id))
            })?;
            let plan = Plan::new(workflow);
            if let Some(from) = from {
                let start = *plan
                    .index
                    .get(from)
                    .ok_or_else(|| EngineError::NotFound(format!("run {} has no step `{from}`", run.id)))?;
                let again: Vec<String> =
                    plan.descendants(start).into_iter().map(|i| plan.steps[i].step.id.clone()).collect();
                store.delete_steps(&run.id, &again).await?;
            }
            let records: HashMap<String, StepRecord> =
                store.load_steps(&run.id).await?.into_iter().map(|r| (r.step_key.clone(), r)).collect();
            // Every recorded request consumed a turn of its script, as it would have cost a real
            // model; the resumed run continues after them.
            let mut script_starts = HashMap::new();
            for request in store.llm_requests(&run.id).await? {
                if let Some(script) = request.script {
                    *script_starts.entry(script).or_insert(0) += 1;
                }
            }
            store.set_run_status(&run.id, "running", None, None).await?;
            let ctx = RunCtx {
                engine: self.clone(),
                run_id: run.id.clone(),
                providers: Providers::new(self.workspace.clone(), script_starts),
                plan,
                inputs: run.inputs,
                started_by: run.started_by,
                file: PathBuf::from(run.file),
                depth: 0,
            };
            drive_in_task(Arc::new(ctx), records, true).await
        })
    }

    /// Records a decision on a waiting gate, after checking who decides.
    pub async fn decide(
        &self,
        run_id: &str,
        step: &str,
        approve: bool,
        by: &str,
        comment: Option<&str>,
    ) -> Result<String, DecideError> {
        let store = self.store.as_ref().expect("decisions need a store");
        let run = store.load_run(run_id).await?.ok_or_else(|| DecideError::NoRun(run_id.into()))?;
        let gate: ApprovalRecord = store
            .load_approval(&run.id, step)
            .await?
            .ok_or_else(|| DecideError::NotWaiting { run: run.id.clone(), step: step.into() })?;
        if let Some(decision) = gate.decision {
            return Err(DecideError::AlreadyDecided { step: step.into(), decision });
        }
        if gate.expires_at.is_some_and(|at| now_ms() >= at) {
            store.decide_approval(&run.id, step, "expired", "timeout", Some("expired")).await?;
            return Err(DecideError::Expired);
        }
        if !gate.approvers.is_empty() && !gate.approvers.iter().any(|a| a == by) {
            return Err(DecideError::NotAnApprover { who: by.into(), approvers: gate.approvers.join(", ") });
        }
        if !gate.self_approval && run.started_by == by {
            return Err(DecideError::SelfApproval(by.into()));
        }
        let decision = if approve { "approved" } else { "rejected" };
        if !store.decide_approval(&run.id, step, decision, by, comment).await? {
            return Err(DecideError::AlreadyDecided { step: step.into(), decision: "just now".into() });
        }
        self.events.emit(Event::ApprovalDecided {
            run: run.id.clone(),
            step: step.into(),
            approved: approve,
            by: by.into(),
            comment: comment.map(str::to_string),
        });
        Ok(run.id)
    }
}

/// How long a run's claim lasts without renewal; renewed every third of it while the run goes.
const LEASE_MS: i64 = 30_000;

/// This process, as recorded in a run it drives.
fn process_owner() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_string()).unwrap_or_default();
    format!("{host}:{}", std::process::id())
}

/// Whether `owner` is a process of this host that no longer exists (killed), so its claim can
/// be taken at once instead of after the lease.
fn is_gone(owner: &str) -> bool {
    let mine = process_owner();
    let (host, _) = mine.rsplit_once(':').unwrap_or_default();
    match owner.rsplit_once(':') {
        Some((h, pid)) if h == host => !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        _ => false,
    }
}

/// Claims the run for this process and keeps the claim alive; the guard releases it.
async fn claim(ctx: &RunCtx) -> Result<Option<ClaimGuard>, EngineError> {
    let Some(store) = ctx.engine.store.clone() else { return Ok(None) };
    let owner = process_owner();
    let current = store.load_run(&ctx.run_id).await?.and_then(|r| r.owner);
    let stale = current.as_deref().filter(|o| is_gone(o));
    if !store.claim_run(&ctx.run_id, &owner, LEASE_MS, stale).await? {
        return Err(EngineError::Busy { run: ctx.run_id.clone(), owner: current.unwrap_or_default() });
    }
    let (run, keeper_owner, keeper_store) = (ctx.run_id.clone(), owner.clone(), store.clone());
    let keeper = tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_millis((LEASE_MS / 3) as u64));
        tick.tick().await;
        loop {
            tick.tick().await;
            if let Err(e) = keeper_store.claim_run(&run, &keeper_owner, LEASE_MS, None).await {
                tracing::warn!("cannot renew the claim on run {run}: {e}");
            }
        }
    });
    Ok(Some(ClaimGuard { store, run: ctx.run_id.clone(), owner, keeper }))
}

struct ClaimGuard {
    store: Store,
    run: String,
    owner: String,
    keeper: tokio::task::JoinHandle<()>,
}

impl ClaimGuard {
    async fn release(self) {
        self.keeper.abort();
        if let Err(e) = self.store.release_run(&self.run, &self.owner).await {
            tracing::warn!("{e}");
        }
    }
}

/// Drives the run on a runtime worker: steps spawned from there start on the same thread, where
/// driving from `block_on` would hand every step to another thread and back.
async fn drive_in_task(
    ctx: Arc<RunCtx>,
    prior: HashMap<String, StepRecord>,
    resumed: bool,
) -> Result<RunOutcome, EngineError> {
    tokio::spawn(drive(ctx, prior, resumed)).await.map_err(|e| EngineError::Crashed(e.to_string()))?
}

/// The scheduler loop, under the run's claim.
async fn drive(ctx: Arc<RunCtx>, prior: HashMap<String, StepRecord>, resumed: bool) -> Result<RunOutcome, EngineError> {
    let guard = claim(&ctx).await?;
    let outcome = drive_claimed(ctx, prior, resumed).await;
    if let Some(guard) = guard {
        guard.release().await;
    }
    outcome
}

async fn drive_claimed(
    ctx: Arc<RunCtx>,
    prior: HashMap<String, StepRecord>,
    resumed: bool,
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

    loop {
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
                Launch::Run(prepared) => {
                    in_flight.insert(i);
                    let ctx = ctx.clone();
                    running.spawn(async move { run_step(ctx, i, prepared).await });
                }
            }
        }
        if failure.is_some() {
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
        let Some(joined) = running.join_next().await else { break };
        let (i, result, store_error) = match joined {
            Ok(done) => done,
            Err(e) => {
                // A panic in a step is a bug, but it fails the step, not the process.
                failure.get_or_insert(format!("a step crashed: {e}"));
                continue;
            }
        };
        in_flight.remove(&i);
        if let Some(e) = store_error {
            failure.get_or_insert(e.to_string());
            store_failure = Some(e);
        }
        complete(&ctx, i, result, &mut results, &mut remaining, &mut ready, &mut failure);
    }

    if failure.is_some() && !in_flight.is_empty() {
        running.abort_all();
        while running.join_next().await.is_some() {}
        for i in in_flight {
            let id = &plan.steps[i].step.id;
            let result = StepResult {
                status: StepStatus::Cancelled,
                output: Value::Null,
                error: Some("cancelled: the run failed".into()),
                attempts: 0,
            };
            if let Some(store) = &ctx.engine.store {
                let _ = store.step_finished(record(&ctx, id, id, &result, None)).await;
            }
            events.emit(Event::StepSkipped {
                run: ctx.run_id.clone(),
                step: id.clone(),
                reason: "cancelled: the run failed".into(),
            });
            results[i] = Some(result);
        }
    }

    let waiting: Vec<(String, String)> = results
        .iter()
        .enumerate()
        .filter(|(_, r)| r.as_ref().is_some_and(|r| r.status == StepStatus::Waiting))
        .map(|(i, r)| {
            let message = r.as_ref().and_then(|r| r.output.get("message")).and_then(Value::as_str).unwrap_or_default();
            (plan.steps[i].step.id.clone(), message.to_string())
        })
        .collect();
    let (status, outputs, error) = match (failure, waiting.is_empty()) {
        (Some(e), _) => (RunStatus::Failed, Value::Null, Some(e)),
        (None, false) => (RunStatus::Waiting, Value::Null, None),
        (None, true) => match outputs(&ctx, &results) {
            Ok(o) => (RunStatus::Succeeded, o, None),
            Err(e) => (RunStatus::Failed, Value::Null, Some(e)),
        },
    };
    if let Some(store) = &ctx.engine.store {
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
        if let Ok(Some(gate)) = store.load_approval(&ctx.run_id, &step.id).await {
            if gate.decision.is_some() {
                decided.push(i);
            }
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
    if let Some(rec) = prior.get(&step.id) {
        if let Some(status) = StepStatus::parse(&rec.status).filter(|s| s.is_final()) {
            return Launch::Reused(StepResult {
                status,
                output: rec.output.clone().unwrap_or(Value::Null),
                error: rec.error.clone(),
                attempts: rec.attempts,
            });
        }
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
            let units = items
                .iter()
                .enumerate()
                .map(|(index, item)| {
                    let scope =
                        Scope { item: Some((item, index)), ..scope_for(ctx, planned.reads.clone(), results, None) };
                    prepare(step, &scope)
                })
                .collect::<Result<Vec<_>, _>>()?;
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
        StepKind::Delegate(_) => return Err("delegate steps are not available in this version".into()),
    };
    Ok(unit)
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
        // Deterministic from recorded results: if this write is lost, a resume decides the same.
        let rec = record(ctx, &step.id, &step.id, result, Some(now_ms()));
        let store = store.clone();
        tokio::spawn(async move {
            if let Err(e) = store.step_finished(rec).await {
                tracing::warn!("{e}");
            }
        });
    }
}

fn record(ctx: &RunCtx, key: &str, step_id: &str, result: &StepResult, started_at: Option<i64>) -> StepRecord {
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
        let size = serde_json::to_vec(&result.output).map_or(0, |v| v.len());
        if size > MAX_OUTPUT_BYTES {
            result = StepResult::failed(
                format!("output of {size} bytes is larger than the limit of {MAX_OUTPUT_BYTES} bytes"),
                attempts,
            );
        }
    }
    result
}

/// Runs one step (all its items for for_each) and records the result.
async fn run_step(ctx: Arc<RunCtx>, i: usize, prepared: Prepared) -> (usize, StepResult, Option<StoreError>) {
    let step = &ctx.plan.steps[i].step;
    let started_at = now_ms();
    let clock = Instant::now();
    let mut store_error = None;
    let result = match prepared {
        Prepared::One(unit) => {
            let (outcome, attempts) =
                with_retries(&ctx, step, &step.id, true, |_| execute(&ctx, step, &step.id, unit.clone())).await;
            to_result(outcome, attempts)
        }
        Prepared::Each { units, done } => {
            ctx.engine.events.emit(Event::StepStarted { run: ctx.run_id.clone(), step: step.id.clone(), attempt: 1 });
            let (result, e) = for_each(&ctx, step, units, done).await;
            store_error = e;
            result
        }
    };
    if let Some(store) = &ctx.engine.store {
        if let Err(e) = store.step_finished(record(&ctx, &step.id, &step.id, &result, Some(started_at))).await {
            store_error.get_or_insert(e);
        }
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
                with_retries(ctx, step, &key, false, |_| execute(ctx, step, &key, unit.clone())).await;
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
async fn execute(ctx: &Arc<RunCtx>, step: &Step, key: &str, unit: Unit) -> Result<Outcome, String> {
    match (step.kind(), unit) {
        (Some(StepKind::Tool(tool)), Unit::Tool(args)) => steps::tool::run(ctx, key, tool, args).await,
        (Some(StepKind::Llm(llm)), Unit::Llm { prompt, system }) => {
            steps::llm::run(ctx, step, llm, key, prompt, system).await
        }
        (Some(StepKind::Approval(gate)), Unit::Approval { message }) => {
            steps::approval::run(ctx, step, gate, message).await
        }
        (Some(StepKind::Workflow(file)), Unit::Workflow(inputs)) => {
            steps::subworkflow::run(ctx, key, file, inputs).await
        }
        _ => Err("internal error: the prepared work does not match the step".into()),
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
