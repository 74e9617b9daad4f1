//! Starting, resuming and deciding runs: the engine's API. The scheduler that drives a run is
//! in `scheduler.rs`, one step's execution in `step_task.rs`, the run's claim in `claim.rs`.

use super::plan::Plan;
use super::result::StepStatus;
use super::scheduler::drive;
use crate::events::{Event, EventSink};
use crate::governance::Gate;
use crate::llm::Providers;
use crate::store::{ApprovalRecord, StepRecord, Store, StoreError, now_ms};
use crate::workspace::Workspace;
use serde_json::Value;
use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;

/// Runs workflows.
pub struct Engine {
    /// Where runs are recorded; `None` runs in memory (benchmarks, dry runs).
    pub store: Option<Store>,
    pub workspace: Arc<Workspace>,
    pub events: EventSink,
    pub gate: Gate,
    /// The runs this process drives, and the signal that cancels each.
    pub cancels: super::Cancels,
}

/// How a run stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunStatus {
    Succeeded,
    Failed,
    /// Paused at one or more approval gates.
    Waiting,
    /// Stopped by a person (`cancel`).
    Cancelled,
}

impl RunStatus {
    /// As stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
            RunStatus::Waiting => "waiting",
            RunStatus::Cancelled => "cancelled",
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
    /// The conversation the run came from (`<channel>/<conversation>`): its bots' `channel:`
    /// memory partition. Set by whoever starts the run for a conversation; never by a model.
    pub conversation: Option<String>,
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
    #[error("the audit trail cannot be written, so the decision is not taken: {0}")]
    Audit(String),
    #[error("an output marks a write in doubt done: it goes with an approval, not a rejection")]
    OutputWithRejection,
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
    /// See [`StartRun::conversation`].
    pub conversation: Option<String>,
    pub providers: Providers,
    /// The attempt each unfinished step (or item) of a resumed run was in when its process
    /// stopped: it goes on under the same attempt, so its calls keep their idempotency keys.
    pub resumed_attempts: HashMap<String, u32>,
}

/// A unit of prepared work: the step's templates already rendered.
#[derive(Clone)]
pub enum Unit {
    Tool(Value),
    Llm { prompt: String, system: Option<String> },
    Approval { message: String },
    Delegate { task: String, scope: Value },
    Workflow(Value),
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
    #[error("run {0} was cancelled; a cancelled run is not resumed")]
    Cancelled(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Engine {
    /// Starts a new run and drives it until it ends or waits.
    pub fn start(self: &Arc<Self>, run: StartRun) -> BoxedRun<'_> {
        Box::pin(async move {
            let run_id = self.record(&run).await?;
            self.start_recorded(run_id, run).await
        })
    }

    /// Records a new run (status `running`) without driving it, and returns its id: a server
    /// answers with the id at once and drives the run with [`Engine::start_recorded`].
    pub async fn record(&self, run: &StartRun) -> Result<String, EngineError> {
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
                    workflow_version: crate::versions::version_of(store, &run.file, &run.source).await?,
                    conversation: run.conversation.clone(),
                })
                .await?;
        }
        Ok(run_id)
    }

    /// Drives a run that [`Engine::record`] recorded until it ends or waits.
    pub fn start_recorded(self: &Arc<Self>, run_id: String, run: StartRun) -> BoxedRun<'_> {
        Box::pin(async move {
            let ctx = RunCtx {
                engine: self.clone(),
                run_id,
                providers: Providers::new(self.workspace.clone(), HashMap::new()),
                plan: run.plan,
                inputs: run.inputs,
                started_by: run.started_by,
                file: run.file,
                depth: run.depth,
                conversation: run.conversation,
                resumed_attempts: HashMap::new(),
            };
            drive_in_task(Arc::new(ctx), HashMap::new(), false).await
        })
    }

    /// A sub-workflow run that stopped lets its parent go on (when it did not wait); the
    /// outcome returned is the outermost run's.
    pub async fn continue_parents(self: &Arc<Self>, mut outcome: RunOutcome) -> Result<RunOutcome, EngineError> {
        let Some(store) = self.store.as_ref() else { return Ok(outcome) };
        while outcome.status != RunStatus::Waiting {
            let Some(run) = store.load_run(&outcome.run_id).await? else { break };
            let Some(parent) = run.parent_run else { break };
            outcome = self.resume(&parent, None).await?;
        }
        Ok(outcome)
    }

    /// Continues a recorded run: finished steps keep their results; with `from`, that step and
    /// everything after it run again.
    pub fn resume<'a>(self: &'a Arc<Self>, run_id: &'a str, from: Option<&'a str>) -> BoxedRun<'a> {
        Box::pin(async move {
            let store = self.store.as_ref().expect("resume needs a store");
            let run = store.load_run(run_id).await?.ok_or_else(|| EngineError::NotFound(format!("no run {run_id}")))?;
            if run.status == "cancelled" {
                return Err(EngineError::Cancelled(run.id));
            }
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
            let resumed_attempts = records
                .values()
                .filter(|r| !StepStatus::parse(&r.status).is_some_and(|s| s.is_final()))
                .map(|r| (r.step_key.clone(), r.attempts.max(1)))
                .collect();
            let ctx = RunCtx {
                engine: self.clone(),
                run_id: run.id.clone(),
                providers: Providers::new(self.workspace.clone(), script_starts),
                plan,
                inputs: run.inputs,
                started_by: run.started_by,
                file: PathBuf::from(run.file),
                depth: 0,
                conversation: run.conversation,
                resumed_attempts,
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
        output: Option<&Value>,
    ) -> Result<String, DecideError> {
        if output.is_some() && !approve {
            return Err(DecideError::OutputWithRejection);
        }
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
            store.expire_approval(&run.id, step).await?;
            return Err(DecideError::Expired);
        }
        if !gate.approvers.is_empty() && !gate.approvers.iter().any(|a| a == by) {
            return Err(DecideError::NotAnApprover { who: by.into(), approvers: gate.approvers.join(", ") });
        }
        if !gate.self_approval && run.started_by == by {
            return Err(DecideError::SelfApproval(by.into()));
        }
        let decision = if approve { "approved" } else { "rejected" };
        // Audited first: a decision the trail cannot record is not taken.
        self.gate.audit_approval(&run.id, step, approve, by, comment).await.map_err(DecideError::Audit)?;
        if !store.decide_approval(&run.id, step, decision, by, comment, output).await? {
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

/// Drives the run on a runtime worker: steps spawned from there start on the same thread, where
/// driving from `block_on` would hand every step to another thread and back.
async fn drive_in_task(
    ctx: Arc<RunCtx>,
    prior: HashMap<String, StepRecord>,
    resumed: bool,
) -> Result<RunOutcome, EngineError> {
    tokio::spawn(drive(ctx, prior, resumed)).await.map_err(|e| EngineError::Crashed(e.to_string()))?
}
