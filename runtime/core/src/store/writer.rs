//! The store's one writer for the hot path: step records and audit records are queued to a task
//! that commits whatever is queued in one transaction (group commit). Nothing else in the process
//! contends for SQLite's write lock on a step's path, so no step ever sleeps in its busy handler.

use super::batch_sql::Rows;
use super::{Context, StepRecord, StoreError, StoreResult};
use crate::audit::{AuditEntry, AuditRecord, GENESIS};
use sqlx::AnyPool;
use tokio::sync::{mpsc, oneshot};

/// Most operations committed in one transaction.
const BATCH: usize = 512;

/// Longest an operation nobody waits for stays queued.
const DEFER: std::time::Duration = std::time::Duration::from_millis(2);

/// Attempts at a batch with audit records whose chain head another process moved meanwhile.
const RESEALS: usize = 8;

pub(super) enum WriteOp {
    /// An attempt of a step began.
    Started {
        run: String,
        key: String,
        step: String,
        attempt: u32,
        at: i64,
    },
    /// A step (or item) ended.
    Finished(StepRecord),
    /// Sealed onto the chain's head at commit time, so records are chained in commit order.
    Audit(AuditEntry),
    /// Writes nothing; acknowledged once everything queued before it is committed.
    Barrier,
}

/// What a committed operation gives back: the sealed record of an `Audit`.
type Committed = Result<Option<AuditRecord>, String>;
pub(super) type Ack = Option<oneshot::Sender<Committed>>;

#[derive(Clone)]
pub(super) struct Writer {
    queue: mpsc::UnboundedSender<(WriteOp, Ack)>,
}

fn stopped() -> StoreError {
    StoreError { context: "the store writer stopped".into(), cause: sqlx::Error::PoolClosed }
}

impl Writer {
    /// The writer of `pool`; on SQLite, a batch is one query (one trip to SQLite's thread).
    pub(super) fn spawn(pool: AnyPool, sqlite: bool) -> Writer {
        let (queue, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(pool, sqlite, rx));
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

async fn run(pool: AnyPool, sqlite: bool, mut rx: mpsc::UnboundedReceiver<(WriteOp, Ack)>) {
    let mut batch = Vec::with_capacity(BATCH);
    // The audit chain's head as this process last committed it; read from the store when unknown.
    let mut head: Option<(i64, String)> = None;
    // A failed earlier write is reported to the next waiter too, so nothing fails silently.
    let mut earlier_failure: Option<String> = None;
    while rx.recv_many(&mut batch, BATCH).await > 0 {
        gather(&mut rx, &mut batch).await;
        let (result, mut sealed) = match write_sealing(&pool, sqlite, &batch, &mut head).await {
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

/// Nobody waits for a batch without an awaited operation: it waits, at most [`DEFER`], for one
/// (a step start and its audit records then share the commit of the step's end).
async fn gather(rx: &mut mpsc::UnboundedReceiver<(WriteOp, Ack)>, batch: &mut Vec<(WriteOp, Ack)>) {
    let deadline = tokio::time::Instant::now() + DEFER;
    while batch.len() < BATCH && !batch.iter().any(|(_, ack)| ack.is_some()) {
        match tokio::time::timeout_at(deadline, rx.recv_many(batch, BATCH - batch.len())).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
}
/// Writes a batch, sealing its audit records onto the head. Another process may have appended
/// to the trail since (a clash on `seq`): then the head is read again and the batch resealed.
async fn write_sealing(
    pool: &AnyPool,
    sqlite: bool,
    batch: &[(WriteOp, Ack)],
    head: &mut Option<(i64, String)>,
) -> StoreResult<Vec<AuditRecord>> {
    let audits = batch.iter().any(|(op, _)| matches!(op, WriteOp::Audit(_)));
    let mut attempt = 0;
    loop {
        attempt += 1;
        let start = match head.clone() {
            Some(h) => h,
            None if audits => read_head(pool).await?,
            None => (0, GENESIS.into()),
        };
        let sealed = seal(batch, &start);
        let rows = Rows::of(batch, &sealed);
        let written = if sqlite { rows.write_at_once(pool).await } else { rows.write_in_transaction(pool).await };
        match written {
            Ok(()) => {
                if let Some(last) = sealed.last() {
                    *head = Some((last.seq, last.hash.clone()));
                }
                return Ok(sealed);
            }
            Err(e) => {
                if !audits || attempt >= RESEALS {
                    return Err(e);
                }
                let newest = read_head(pool).await?;
                if newest == start {
                    return Err(e);
                }
                *head = Some(newest);
            }
        }
    }
}

/// The batch's audit entries sealed in order, the first onto `head`.
fn seal(batch: &[(WriteOp, Ack)], head: &(i64, String)) -> Vec<AuditRecord> {
    let mut sealed: Vec<AuditRecord> = Vec::new();
    for (op, _) in batch {
        if let WriteOp::Audit(entry) = op {
            let (seq, prev) = sealed.last().map_or((head.0, head.1.as_str()), |r| (r.seq, r.hash.as_str()));
            let record = AuditRecord::seal(entry, seq + 1, super::now_ms(), prev);
            sealed.push(record);
        }
    }
    sealed
}

async fn read_head(pool: &AnyPool) -> StoreResult<(i64, String)> {
    let row: Option<(i64, String)> = sqlx::query_as("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1")
        .fetch_optional(pool)
        .await
        .context("cannot read the audit trail")?;
    Ok(row.unwrap_or((0, GENESIS.into())))
}
