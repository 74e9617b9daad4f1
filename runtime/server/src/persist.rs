//! The writer of run events: the hub hands it each event of a run's log as it is appended; it
//! writes them to the store in batches (whatever came while the last batch was written) and then
//! tells each log its events are stored, which is when subscribers see them. A run never waits
//! for it: it only appends to a channel.

use crate::hub::Log;
use monstrum_core::store::{Store, StoreResult};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// Events written at most at once.
const BATCH: usize = 1024;
/// How long the writer gathers events after the first of a batch: a run's events come a few at
/// a time, and one statement for many costs the store (and the server's CPU) far less than one
/// each. It is also the most a stream lags behind its run.
const GATHER: Duration = Duration::from_millis(3);
/// Tries to write a batch before its events are shown unstored (logged as an error).
const TRIES: u32 = 5;

/// An event to store: its log, run, number in its log and `--json` text.
pub(crate) struct Pending {
    pub log: Arc<Log>,
    pub run: String,
    pub id: u64,
    pub json: Arc<str>,
}

impl Pending {
    /// Its number among all of its run's events (once its log's base is known).
    fn number(&self) -> u64 {
        self.log.base().unwrap_or(0) + self.id
    }
}

/// `op` until it succeeds, [`TRIES`] times at most with a growing pause, each failure logged
/// as `what`; the last error if none succeeded.
async fn with_retries<T, F>(what: &str, mut op: impl FnMut() -> F) -> StoreResult<T>
where
    F: Future<Output = StoreResult<T>>,
{
    let mut attempt = 1;
    loop {
        match op().await {
            Err(e) if attempt < TRIES => {
                tracing::warn!("{what} (try {attempt}): {e}");
                tokio::time::sleep(Duration::from_millis(20 << attempt)).await;
                attempt += 1;
            }
            done => return done,
        }
    }
}

/// How many events of `run` were stored before (by this server before its log was dropped, or
/// by the process before a restart). If the store cannot say, 0: numbers may then repeat
/// stored ones, which the store keeps (it takes the first), and this is logged.
async fn stored_before(store: &Store, run: &str) -> u64 {
    let what = format!("cannot read the stored events of run {run}");
    with_retries(&what, || store.last_run_event(run)).await.unwrap_or_else(|e| {
        tracing::error!("run {run}: its stored events cannot be counted, its log numbers from 1: {e}");
        0
    })
}

/// The writer's inbox.
#[derive(Clone)]
pub struct Persist(mpsc::UnboundedSender<Pending>);

impl Persist {
    /// Starts the writer on `store`; it stops when every hub and log that can send is gone.
    pub(crate) fn spawn(store: Store) -> Persist {
        let (tx, mut rx) = mpsc::unbounded_channel::<Pending>();
        tokio::spawn(async move {
            let mut batch = Vec::with_capacity(BATCH);
            while rx.recv_many(&mut batch, BATCH).await > 0 {
                tokio::time::sleep(GATHER).await;
                while batch.len() < BATCH
                    && let Ok(more) = rx.try_recv()
                {
                    batch.push(more);
                }
                for p in &batch {
                    if p.log.base().is_none() {
                        p.log.set_base(stored_before(&store, &p.run).await);
                    }
                }
                let rows: Vec<(String, u64, Arc<str>)> =
                    batch.iter().map(|p| (p.run.clone(), p.number(), p.json.clone())).collect();
                let what = format!("cannot store {} run events", rows.len());
                // The streams go on either way: a subscriber that resumes later may find these
                // events missing from the store, but a live one loses nothing.
                if let Err(e) = with_retries(&what, || store.append_run_events(&rows)).await {
                    tracing::error!("{} run events are not stored: {e}", rows.len());
                }
                for p in batch.drain(..) {
                    p.log.stored(p.number());
                }
            }
        });
        Persist(tx)
    }

    /// Hands an event to the writer (never blocks); an error if the writer is gone (the runtime
    /// is shutting down).
    pub(crate) fn send(&self, pending: Pending) -> Result<(), ()> {
        self.0.send(pending).map_err(|_| ())
    }
}
