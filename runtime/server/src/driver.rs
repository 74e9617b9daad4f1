//! Runs started or continued through the API are driven by the server, in the background: the
//! answer carries the run's id at once. At start, the server resumes the runs a killed process
//! left running (the run lease says whose they were); on a timer it resumes runs whose approval
//! gate expired, so expiry does not wait for somebody to look.

use crate::hub::Hub;
use monstrum_core::store::now_ms;
use monstrum_core::workflow::{Engine, EngineError, StartRun};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Drives runs in the background, each at most once at a time from this server.
#[derive(Clone)]
pub struct Driver {
    engine: Arc<Engine>,
    hub: Hub,
    driving: Arc<Mutex<HashSet<String>>>,
}

impl Driver {
    pub fn new(engine: Arc<Engine>, hub: Hub) -> Driver {
        Driver { engine, hub, driving: Arc::default() }
    }

    /// Records a new run and drives it in the background; returns its id.
    pub async fn start(&self, run: StartRun) -> Result<String, EngineError> {
        let id = self.engine.record(&run).await?;
        self.drive(id.clone(), run);
        Ok(id)
    }

    /// Drives a run that `Engine::record` recorded, in the background.
    pub fn drive(&self, run_id: String, run: StartRun) {
        self.mark(&run_id);
        let this = self.clone();
        tokio::spawn(async move {
            let outcome = this.engine.start_recorded(run_id.clone(), run).await;
            this.finish(&run_id, outcome).await;
        });
    }

    /// Continues a run in the background (after a decision, a restart, or on request); false if
    /// this server drives it already.
    pub fn resume(&self, run_id: &str, from: Option<String>) -> bool {
        if !self.mark(run_id) {
            return false;
        }
        let (this, run_id) = (self.clone(), run_id.to_string());
        tokio::spawn(async move {
            let outcome = this.engine.resume(&run_id, from.as_deref()).await;
            this.finish(&run_id, outcome).await;
        });
        true
    }

    fn mark(&self, run_id: &str) -> bool {
        self.hub.open(run_id);
        self.driving.lock().unwrap_or_else(|p| p.into_inner()).insert(run_id.to_string())
    }

    async fn finish(&self, run_id: &str, outcome: Result<monstrum_core::workflow::RunOutcome, EngineError>) {
        let outcome = match outcome {
            Ok(o) => self.engine.continue_parents(o).await,
            Err(e) => Err(e),
        };
        match outcome {
            Ok(_) => {}
            Err(EngineError::Busy { owner, .. }) => tracing::info!("run {run_id} is driven by {owner}"),
            Err(e) => tracing::error!("run {run_id}: {e}"),
        }
        self.driving.lock().unwrap_or_else(|p| p.into_inner()).remove(run_id);
        self.hub.settle(run_id);
    }

    /// Resumes every top-level run recorded as running that no live process drives.
    pub async fn resume_interrupted(&self) -> anyhow::Result<usize> {
        let store = self.engine.store.as_ref().ok_or_else(|| anyhow::anyhow!("no store"))?;
        let mut n = 0;
        for run in store.running_runs().await? {
            if self.resume(&run.id, None) {
                n += 1;
            }
        }
        Ok(n)
    }

    /// Every `every`, resumes the runs whose open gate has expired (the run records the expiry
    /// and goes on as for a rejection).
    pub fn sweep_expired(&self, every: Duration) -> tokio::task::JoinHandle<()> {
        let this = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                let Some(store) = this.engine.store.as_ref() else { return };
                match store.pending_approvals().await {
                    Ok(gates) => {
                        let now = now_ms();
                        for gate in gates.iter().filter(|g| g.expires_at.is_some_and(|at| at <= now)) {
                            this.resume(&gate.run_id, None);
                        }
                    }
                    Err(e) => tracing::warn!("cannot sweep expired gates: {e}"),
                }
            }
        })
    }
}
