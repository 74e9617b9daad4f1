//! The single writer of step records: drains its queue into one transaction per batch.

use super::{Context, StepRecord, StoreError, StoreResult};
use sqlx::AnyPool;
use tokio::sync::{mpsc, oneshot};

/// Most operations committed in one transaction.
const BATCH: usize = 512;

pub(super) enum WriteOp {
    Started {
        run: String,
        key: String,
        step: String,
        attempt: u32,
        at: i64,
    },
    Finished(StepRecord),
    /// Writes nothing; acknowledged once everything queued before it is committed.
    Barrier,
}

type Ack = Option<oneshot::Sender<Result<(), String>>>;

#[derive(Clone)]
pub(super) struct Writer {
    queue: mpsc::UnboundedSender<(WriteOp, Ack)>,
}

impl Writer {
    pub(super) fn spawn(pool: AnyPool) -> Writer {
        let (queue, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(pool, rx));
        Writer { queue }
    }

    /// Queues an operation whose failure surfaces at the next awaited commit.
    pub(super) fn send(&self, op: WriteOp) {
        let _ = self.queue.send((op, None));
    }

    /// Queues an operation and waits until it is committed.
    pub(super) async fn commit(&self, op: WriteOp) -> StoreResult<()> {
        let (tx, rx) = oneshot::channel();
        let gone = || StoreError { context: "the store writer stopped".into(), cause: sqlx::Error::PoolClosed };
        self.queue.send((op, Some(tx))).map_err(|_| gone())?;
        match rx.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(message)) => {
                Err(StoreError { context: "cannot record the step".into(), cause: sqlx::Error::Protocol(message) })
            }
            Err(_) => Err(gone()),
        }
    }
}

async fn run(pool: AnyPool, mut rx: mpsc::UnboundedReceiver<(WriteOp, Ack)>) {
    let mut batch = Vec::with_capacity(BATCH);
    // A failed earlier write is reported to the next waiter too, so nothing fails silently.
    let mut earlier_failure: Option<String> = None;
    while rx.recv_many(&mut batch, BATCH).await > 0 {
        let result = write(&pool, &batch).await.map_err(|e| e.to_string());
        let outcome = match (&result, &earlier_failure) {
            (Err(e), _) => Err(e.clone()),
            (Ok(()), Some(e)) => Err(e.clone()),
            (Ok(()), None) => Ok(()),
        };
        let mut acked = false;
        for (_, ack) in batch.drain(..) {
            if let Some(ack) = ack {
                acked = true;
                let _ = ack.send(outcome.clone());
            }
        }
        earlier_failure = match (result, acked) {
            (Err(e), false) => Some(e),
            (_, true) => None,
            (Ok(()), false) => earlier_failure,
        };
    }
}

async fn write(pool: &AnyPool, batch: &[(WriteOp, Ack)]) -> StoreResult<()> {
    let mut tx = pool.begin().await.context("cannot begin a transaction")?;
    for (op, _) in batch {
        match op {
            WriteOp::Started { run, key, step, attempt, at } => {
                sqlx::query(
                    "INSERT INTO steps (run_id, step_key, step_id, status, attempts, started_at) VALUES ($1, $2, $3, 'running', $4, $5)
                     ON CONFLICT (run_id, step_key) DO UPDATE SET status = 'running', attempts = $6, output = NULL, error = NULL",
                )
                .bind(run)
                .bind(key)
                .bind(step)
                .bind(*attempt as i64)
                .bind(*at)
                .bind(*attempt as i64)
                .execute(&mut *tx)
                .await
                .context("cannot record a step start")?;
            }
            WriteOp::Barrier => {}
            WriteOp::Finished(r) => {
                sqlx::query(
                    "INSERT INTO steps (run_id, step_key, step_id, status, attempts, output, error, started_at, finished_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                     ON CONFLICT (run_id, step_key) DO UPDATE SET status = $10, attempts = $11, output = $12, error = $13, finished_at = $14",
                )
                .bind(&r.run_id)
                .bind(&r.step_key)
                .bind(&r.step_id)
                .bind(&r.status)
                .bind(r.attempts as i64)
                .bind(r.output.as_ref().map(|o| o.to_string()))
                .bind(r.error.clone())
                .bind(r.started_at)
                .bind(r.finished_at)
                .bind(&r.status)
                .bind(r.attempts as i64)
                .bind(r.output.as_ref().map(|o| o.to_string()))
                .bind(r.error.clone())
                .bind(r.finished_at)
                .execute(&mut *tx)
                .await
                .context("cannot record a step end")?;
            }
        }
    }
    tx.commit().await.context("cannot commit")?;
    Ok(())
}
