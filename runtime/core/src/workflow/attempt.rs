//! Running one unit of work (a step, or one item of a for_each step) with its timeout and
//! retries.

use super::run::RunCtx;
use crate::events::Event;
use monstrum_model::Step;
use serde_json::Value;
use std::future::Future;
use std::time::Duration;

/// How a unit of work ended well.
pub enum Outcome {
    /// Done, with an output.
    Output(Value),
    /// Waits for a person.
    Waiting(Value),
    /// A gate said no (or expired).
    Rejected(Value),
}

/// Default first delay between attempts.
const DEFAULT_BACKOFF: Duration = Duration::from_secs(1);
/// Default cap of the delay.
const DEFAULT_MAX_BACKOFF: Duration = Duration::from_secs(300);

/// Runs `work` until it succeeds or the step's attempts are used up; each attempt is cancelled
/// at the step's timeout. Returns the outcome or the last error, and the attempts made.
pub async fn with_retries<F, Fut>(
    ctx: &RunCtx,
    step: &Step,
    key: &str,
    announce: bool,
    mut work: F,
) -> (Result<Outcome, String>, u32)
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<Outcome, String>>,
{
    // A resumed step goes on in the attempt its stopped process was in (same idempotency keys).
    let mut attempt = ctx.resumed_attempts.get(key).copied().unwrap_or(1);
    let attempts = step.retry.as_ref().map_or(1, |r| r.attempts.max(1)).max(attempt);
    let mut delay = step.retry.as_ref().and_then(|r| r.backoff).map_or(DEFAULT_BACKOFF, |d| d.get());
    let cap = step.retry.as_ref().and_then(|r| r.max_backoff).map_or(DEFAULT_MAX_BACKOFF, |d| d.get());
    loop {
        if let Some(store) = &ctx.engine.store {
            store.step_started(&ctx.run_id, key, &step.id, attempt);
        }
        if announce && ctx.engine.events.is_active() {
            ctx.engine.events.emit(Event::StepStarted { run: ctx.run_id.clone(), step: step.id.clone(), attempt });
        }
        let result = match step.timeout {
            Some(limit) => match tokio::time::timeout(limit.get(), work(attempt)).await {
                Ok(r) => r,
                Err(_) => Err(format!("timed out after {}", humantime::format_duration(limit.get()))),
            },
            None => work(attempt).await,
        };
        match result {
            Err(e) if attempt < attempts => {
                tracing::info!(step = %key, attempt, error = %e, "attempt failed; retrying in {delay:?}");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(cap);
                attempt += 1;
            }
            other => return (other, attempt),
        }
    }
}
