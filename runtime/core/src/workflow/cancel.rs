//! Cancelling a run. In this process, the scheduler that drives it is told at once (it aborts
//! its running steps and records them `cancelled`); a run driven by another process is flagged
//! in the store, and that process's claim keeper sees the flag at its next renewal; a run nobody
//! drives (waiting at a gate, or left by a dead process) is closed here.

use super::claim::{is_gone, process_owner};
use super::run::{Engine, EngineError};
use crate::events::Event;
use crate::store::now_ms;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

/// The runs this process drives, each with the signal that cancels it (who asked, once asked).
#[derive(Clone, Default)]
pub struct Cancels(Arc<Mutex<HashMap<String, watch::Sender<Option<String>>>>>);

impl Cancels {
    /// Registers a run driven here; the receiver changes when somebody cancels it.
    pub(crate) fn register(&self, run: &str) -> watch::Receiver<Option<String>> {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(run.to_string()).or_insert_with(|| watch::channel(None).0).subscribe()
    }

    pub(crate) fn unregister(&self, run: &str) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).remove(run);
    }

    /// Tells the scheduler driving `run` here to stop; false if none does.
    pub(crate) fn signal(&self, run: &str, by: &str) -> bool {
        let map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match map.get(run) {
            Some(tx) => {
                tx.send_replace(Some(by.to_string()));
                true
            }
            None => false,
        }
    }
}

/// What a cancel did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cancelled {
    /// The scheduler driving it in this process stops now.
    Stopping,
    /// Nobody drove it: it is closed, `cancelled`.
    Closed,
    /// Another process drives it; it stops at that process's next lease renewal (≤ 10 s).
    Requested { owner: String },
}

/// Why a run cannot be cancelled.
#[derive(Debug, thiserror::Error)]
pub enum CancelError {
    #[error("no run {0}")]
    NoRun(String),
    #[error("run {run} has already ended ({status})")]
    Ended { run: String, status: String },
    #[error("the audit trail cannot be written, so the run is not cancelled: {0}")]
    Audit(String),
    #[error(transparent)]
    Engine(#[from] EngineError),
}

impl From<crate::store::StoreError> for CancelError {
    fn from(e: crate::store::StoreError) -> Self {
        CancelError::Engine(e.into())
    }
}

impl Engine {
    /// Cancels a run on behalf of `by` (audited first).
    pub async fn cancel(&self, run_id: &str, by: &str) -> Result<Cancelled, CancelError> {
        let (id, outcome) = self.cancel_one(run_id, by).await?;
        // A sub-workflow step's child run ends with its parent: it is cancelled too (and its
        // children), whether it runs here, waits at a gate, or runs in another process.
        let store = self.store.as_ref().ok_or_else(|| CancelError::NoRun(run_id.into()))?;
        for child in store.open_children(&id).await? {
            match Box::pin(self.cancel(&child, by)).await {
                Ok(_) | Err(CancelError::Ended { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(outcome)
    }

    /// Cancels the run itself; returns its full id and what was done.
    async fn cancel_one(&self, run_id: &str, by: &str) -> Result<(String, Cancelled), CancelError> {
        let store = self.store.as_ref().ok_or_else(|| CancelError::NoRun(run_id.into()))?;
        let run = store.load_run(run_id).await?.ok_or_else(|| CancelError::NoRun(run_id.into()))?;
        if !matches!(run.status.as_str(), "running" | "waiting") {
            return Err(CancelError::Ended { run: run.id, status: run.status });
        }
        self.gate.audit_cancel(&run.id, by).await.map_err(CancelError::Audit)?;
        store.request_cancel(&run.id, by).await?;
        if self.cancels.signal(&run.id, by) {
            return Ok((run.id, Cancelled::Stopping));
        }
        // Nobody here drives it: take the claim so that nobody starts to, then close it.
        let owner = process_owner();
        let stale = run.owner.as_deref().filter(|o| is_gone(o));
        if !store.claim_run(&run.id, &owner, 30_000, stale).await? {
            return Ok((run.id, Cancelled::Requested { owner: run.owner.unwrap_or_default() }));
        }
        let reason = format!("cancelled by {by}");
        let open: Vec<String> = store
            .load_steps(&run.id)
            .await?
            .into_iter()
            .filter(|s| matches!(s.status.as_str(), "running" | "waiting"))
            .map(|s| s.step_key)
            .collect();
        store.cancel_steps(&run.id, &open, &reason, now_ms()).await?;
        store.set_run_status(&run.id, "cancelled", None, Some(&reason)).await?;
        store.release_run(&run.id, &owner).await?;
        for step in open {
            self.events.emit(Event::StepSkipped { run: run.id.clone(), step, reason: reason.clone() });
        }
        self.events.emit(Event::RunFinished {
            run: run.id.clone(),
            status: "cancelled".into(),
            outputs: serde_json::Value::Null,
            error: Some(reason),
        });
        Ok((run.id, Cancelled::Closed))
    }
}
