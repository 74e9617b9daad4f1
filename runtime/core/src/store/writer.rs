//! The store's one writer for the hot path: step records and audit records are queued to a task
//! that commits whatever is queued in one transaction (group commit). Nothing else in the process
//! contends for SQLite's write lock on a step's path, so no step ever sleeps in its busy handler.

use super::{Context, StepRecord, StoreError, StoreResult};
use crate::audit::{AuditEntry, AuditRecord, GENESIS};
use sqlx::{Any, AnyPool, Transaction};
use tokio::sync::{mpsc, oneshot};

/// Most operations committed in one transaction.
const BATCH: usize = 512;

/// Attempts at a batch with audit records whose chain head another process moved meanwhile.
const RESEALS: usize = 8;

pub(super) enum WriteOp {
    Started {
        run: String,
        key: String,
        step: String,
        attempt: u32,
        at: i64,
    },
    Finished(StepRecord),
    /// Sealed onto the chain's head at commit time, so records are chained in commit order.
    Audit(AuditEntry),
    /// Writes nothing; acknowledged once everything queued before it is committed.
    Barrier,
}

/// What a committed operation gives back: the sealed record of an `Audit`.
type Committed = Result<Option<AuditRecord>, String>;
type Ack = Option<oneshot::Sender<Committed>>;

#[derive(Clone)]
pub(super) struct Writer {
    queue: mpsc::UnboundedSender<(WriteOp, Ack)>,
}

fn stopped() -> StoreError {
    StoreError { context: "the store writer stopped".into(), cause: sqlx::Error::PoolClosed }
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
    pub(super) async fn commit(&self, op: WriteOp) -> StoreResult<Option<AuditRecord>> {
        let (tx, rx) = oneshot::channel();
        self.queue.send((op, Some(tx))).map_err(|_| stopped())?;
        match rx.await {
            Ok(Ok(sealed)) => Ok(sealed),
            Ok(Err(message)) => {
                Err(StoreError { context: "cannot commit".into(), cause: sqlx::Error::Protocol(message) })
            }
            Err(_) => Err(stopped()),
        }
    }
}

async fn run(pool: AnyPool, mut rx: mpsc::UnboundedReceiver<(WriteOp, Ack)>) {
    let mut batch = Vec::with_capacity(BATCH);
    // The audit chain's head as this process last committed it; read from the store when unknown.
    let mut head: Option<(i64, String)> = None;
    // A failed earlier write is reported to the next waiter too, so nothing fails silently.
    let mut earlier_failure: Option<String> = None;
    while rx.recv_many(&mut batch, BATCH).await > 0 {
        let (result, mut sealed) = match write_sealing(&pool, &batch, &mut head).await {
            Ok(sealed) => (Ok(()), sealed.into_iter()),
            Err(e) => (Err(e.to_string()), Vec::new().into_iter()),
        };
        let mut acked = false;
        for (op, ack) in batch.drain(..) {
            let record = if matches!(op, WriteOp::Audit(_)) { sealed.next() } else { None };
            if let Some(ack) = ack {
                acked = true;
                let outcome = match (&result, &earlier_failure) {
                    (Err(e), _) | (Ok(_), Some(e)) => Err(e.clone()),
                    (Ok(_), None) => Ok(record),
                };
                let _ = ack.send(outcome);
            }
        }
        earlier_failure = match (result, acked) {
            (Err(e), false) => Some(e),
            (_, true) => None,
            (Ok(_), false) => earlier_failure,
        };
    }
}

/// Writes a batch, sealing its audit records onto the head. Another process may have appended
/// to the trail since (a clash on `seq`): then the head is read again and the batch resealed.
async fn write_sealing(
    pool: &AnyPool,
    batch: &[(WriteOp, Ack)],
    head: &mut Option<(i64, String)>,
) -> StoreResult<Vec<AuditRecord>> {
    let audits = batch.iter().any(|(op, _)| matches!(op, WriteOp::Audit(_)));
    let mut attempt = 0;
    loop {
        attempt += 1;
        let mut tx = pool.begin().await.context("cannot begin a transaction")?;
        let start = match head.clone() {
            Some(h) => h,
            None if audits => read_head(&mut tx).await?,
            None => (0, GENESIS.into()),
        };
        match write(&mut tx, batch, start.clone()).await {
            Ok((sealed, new_head)) => {
                tx.commit().await.context("cannot commit")?;
                if audits {
                    *head = Some(new_head);
                }
                return Ok(sealed);
            }
            Err(e) => {
                drop(tx);
                if !audits || attempt >= RESEALS {
                    return Err(e);
                }
                let newest = read_head_now(pool).await?;
                if newest == start {
                    return Err(e);
                }
                *head = Some(newest);
            }
        }
    }
}

async fn read_head(tx: &mut Transaction<'static, Any>) -> StoreResult<(i64, String)> {
    let row: Option<(i64, String)> = sqlx::query_as("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1")
        .fetch_optional(&mut **tx)
        .await
        .context("cannot read the audit trail")?;
    Ok(row.unwrap_or((0, GENESIS.into())))
}

async fn read_head_now(pool: &AnyPool) -> StoreResult<(i64, String)> {
    let mut tx = pool.begin().await.context("cannot begin a transaction")?;
    read_head(&mut tx).await
}

async fn write(
    tx: &mut Transaction<'static, Any>,
    batch: &[(WriteOp, Ack)],
    mut head: (i64, String),
) -> StoreResult<(Vec<AuditRecord>, (i64, String))> {
    let mut sealed = Vec::new();
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
                .execute(&mut **tx)
                .await
                .context("cannot record a step start")?;
            }
            WriteOp::Barrier => {}
            WriteOp::Finished(r) => {
                let output = r.output.as_ref().map(|o| o.to_string());
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
                .bind(output.clone())
                .bind(r.error.clone())
                .bind(r.started_at)
                .bind(r.finished_at)
                .bind(&r.status)
                .bind(r.attempts as i64)
                .bind(output)
                .bind(r.error.clone())
                .bind(r.finished_at)
                .execute(&mut **tx)
                .await
                .context("cannot record a step end")?;
            }
            WriteOp::Audit(entry) => {
                let record = AuditRecord::seal(entry, head.0 + 1, super::now_ms(), &head.1);
                super::audit::insert_audit(tx, &record).await?;
                head = (record.seq, record.hash.clone());
                sealed.push(record);
            }
        }
    }
    Ok((sealed, head))
}
