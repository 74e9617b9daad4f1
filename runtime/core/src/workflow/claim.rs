//! A run is driven by one process at a time: it claims the run with a lease it keeps renewing,
//! and a claim left by a killed process on this host is taken over at once. Each renewal also
//! looks for a cancel asked by another process.

use super::run::{EngineError, RunCtx};
use crate::store::Store;

/// How long a run's claim lasts without renewal; renewed every third of it while the run goes.
const LEASE_MS: i64 = 30_000;

/// This process, as recorded in a run it drives.
pub(super) fn process_owner() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_string()).unwrap_or_default();
    format!("{host}:{}", std::process::id())
}

/// Whether `owner` is a process of this host that no longer exists (killed), so its claim can
/// be taken at once instead of after the lease.
pub(super) fn is_gone(owner: &str) -> bool {
    let mine = process_owner();
    let (host, _) = mine.rsplit_once(':').unwrap_or_default();
    match owner.rsplit_once(':') {
        Some((h, pid)) if h == host => !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        _ => false,
    }
}

/// Claims the run for this process and keeps the claim alive; the guard releases it.
pub(super) async fn claim(ctx: &RunCtx) -> Result<Option<ClaimGuard>, EngineError> {
    let Some(store) = ctx.engine.store.clone() else { return Ok(None) };
    let owner = process_owner();
    let current = store.load_run(&ctx.run_id).await?.and_then(|r| r.owner);
    let stale = current.as_deref().filter(|o| is_gone(o));
    if !store.claim_run(&ctx.run_id, &owner, LEASE_MS, stale).await? {
        return Err(EngineError::Busy { run: ctx.run_id.clone(), owner: current.unwrap_or_default() });
    }
    let (run, keeper_owner, keeper_store) = (ctx.run_id.clone(), owner.clone(), store.clone());
    let cancels = ctx.engine.cancels.clone();
    let keeper = tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_millis((LEASE_MS / 3) as u64));
        tick.tick().await;
        loop {
            tick.tick().await;
            if let Err(e) = keeper_store.claim_run(&run, &keeper_owner, LEASE_MS, None).await {
                tracing::warn!("cannot renew the claim on run {run}: {e}");
            }
            // Another process asked to cancel the run: the scheduler here stops it.
            if let Ok(Some(by)) = keeper_store.cancel_requested(&run).await {
                cancels.signal(&run, &by);
            }
        }
    });
    Ok(Some(ClaimGuard { store, run: ctx.run_id.clone(), owner, keeper }))
}

pub(super) struct ClaimGuard {
    store: Store,
    run: String,
    owner: String,
    keeper: tokio::task::JoinHandle<()>,
}

impl ClaimGuard {
    pub(super) async fn release(self) {
        self.keeper.abort();
        if let Err(e) = self.store.release_run(&self.run, &self.owner).await {
            tracing::warn!("{e}");
        }
    }
}
