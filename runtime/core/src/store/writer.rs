//! The store's one writer for the hot path: step records, audit records and the channels'
//! deliveries are queued to a task that commits whatever is queued in one transaction (group
//! commit). Nothing else in the process
//! contends for SQLite's write lock on a step's path, so no step ever sleeps in its busy handler.

use super::audit::audit_head;
use super::batch_sql::Rows;
use super::deliveries::{DeliveryRow, insert_deliveries};
use super::{Context, StepRecord, StoreError, StoreResult};
use crate::audit::{AuditEntry, AuditRecord, GENESIS};
use sqlx::AnyPool;
use tokio::sync::{mpsc, oneshot};

/// Most operations committed in one transaction.
const BATCH: usize = 512;

/// Longest an operation nobody waits for stays queued.
const DEFER: std::time::Duration = std::time::Duration::from_millis(2);

/// The PostgreSQL advisory lock that serializes appends to the audit trail.
const AUDIT_LOCK: i64 = 0x6d6f_6e73_7472_756d; // "monstrum"

pub(super) enum WriteOp {
    /// An attempt of a step began.
    Started { run: String, key: String, step: String, attempt: u32, at: i64 },
    /// A step (or item) ended.
    Finished(StepRecord),
    /// Sealed onto the chain's head at commit time, so records are chained in commit order.
    Audit(AuditEntry),
    /// A channel's delivery, with its audit record: both are written if the delivery is new,
    /// neither if it is a redelivery (its key exists), which is acknowledged with no record.
    Delivery(Box<DeliveryRow>, AuditEntry),
    /// Writes nothing; acknowledged once everything queued before it is committed.
    Barrier,
}

/// What a committed operation gives back: the sealed record of an `Audit` or of a new
/// `Delivery`; or the failure, as what was being done and why.
type Committed = Result<Option<AuditRecord>, Failure>;
type Failure = (String, String);
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
            Ok(Err((context, cause))) => {
                Err(StoreError { context, cause: sqlx::Error::Io(std::io::Error::other(cause)) })
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
    let mut earlier_failure: Option<Failure> = None;
    while rx.recv_many(&mut batch, BATCH).await > 0 {
        gather(&mut rx, &mut batch).await;
        let (result, mut sealed, sealing) = match write_sealing(&pool, sqlite, &batch, &mut head).await {
            Ok((sealed, sealing)) => (Ok(()), sealed.into_iter(), sealing),
            Err(e) => (Err((e.context.clone(), super::root_cause(&e.cause))), Vec::new().into_iter(), Vec::new()),
        };
        let mut acked = false;
        for (i, (_, ack)) in batch.drain(..).enumerate() {
            let record = if sealing.get(i) == Some(&true) { sealed.next() } else { None };
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
/// Writes a batch, sealing its audit records onto the head of the trail.
///
/// SQLite: onto the head this process knows, in one trip; every writer of the file holds its
/// write lock (`BEGIN IMMEDIATE`) while it writes, so if another process appended since, the
/// insert clashes on `seq` and the batch is written again onto the head read under the lock.
/// Deliveries go in that one trip as if all were new (a service sends an event again rarely); a
/// redelivery clashes on its key and the batch is written again, learning which are new.
/// PostgreSQL: every batch with audit records reads the head under an advisory lock that every
/// appender takes (an append that did not take it could slip in between). A batch with
/// deliveries learns which are new from their insert, in its transaction, before it seals.
/// Gives the sealed records and, for each operation, whether it sealed one.
async fn write_sealing(
    pool: &AnyPool,
    sqlite: bool,
    batch: &[(WriteOp, Ack)],
    head: &mut Option<(i64, String)>,
) -> StoreResult<(Vec<AuditRecord>, Vec<bool>)> {
    let sealing_any = batch.iter().any(|(op, _)| matches!(op, WriteOp::Audit(_) | WriteOp::Delivery(..)));
    if sqlite && (!sealing_any || head.is_some()) {
        let start = head.clone().unwrap_or_else(|| (0, GENESIS.into()));
        let sealing = sealing(batch, None);
        let sealed = seal(batch, &sealing, &start);
        match Rows::of(batch, &sealed).with_deliveries(batch).write_at_once(pool).await {
            Ok(()) => {
                *head = sealed.last().map(|r| (r.seq, r.hash.clone())).or(head.take());
                return Ok((sealed, sealing));
            }
            Err(e) if !sealing_any => return Err(e),
            Err(_) => {}
        }
    }
    write_in_transaction(pool, sqlite, batch, head).await
}

/// Writes the batch statement by statement in one transaction. With audit records, under the
/// write lock (SQLite's `BEGIN IMMEDIATE`, a transaction-scoped advisory lock on PostgreSQL), so
/// no other process appends between reading the head and writing.
async fn write_in_transaction(
    pool: &AnyPool,
    sqlite: bool,
    batch: &[(WriteOp, Ack)],
    head: &mut Option<(i64, String)>,
) -> StoreResult<(Vec<AuditRecord>, Vec<bool>)> {
    let mut tx = if sqlite { pool.begin_with("BEGIN IMMEDIATE").await } else { pool.begin().await }
        .context("cannot begin a transaction")?;
    let new = insert_deliveries(&mut tx, batch, !sqlite).await?;
    let sealing = sealing(batch, Some(&new));
    let audits = sealing.contains(&true);
    let mut start = (0, GENESIS.into());
    if audits {
        if !sqlite {
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(AUDIT_LOCK)
                .execute(&mut *tx)
                .await
                .context("cannot lock the audit trail")?;
        }
        start = audit_head(&mut *tx).await?.unwrap_or(start);
    }
    let sealed = seal(batch, &sealing, &start);
    Rows::of(batch, &sealed).write_in(&mut tx, !sqlite).await?;
    tx.commit().await.context("cannot commit")?;
    if audits {
        *head = Some(sealed.last().map_or(start, |r| (r.seq, r.hash.clone())));
    }
    Ok((sealed, sealing))
}

/// Which operations of the batch seal an audit record: every `Audit`, and each `Delivery` whose
/// row was inserted (`new`: the indexes of those operations, ascending; `None`: every one).
fn sealing(batch: &[(WriteOp, Ack)], new: Option<&[usize]>) -> Vec<bool> {
    batch
        .iter()
        .enumerate()
        .map(|(i, (op, _))| match op {
            WriteOp::Audit(_) => true,
            WriteOp::Delivery(..) => new.is_none_or(|new| new.binary_search(&i).is_ok()),
            _ => false,
        })
        .collect()
}

/// The audit entries of the operations that seal one, in order, the first onto `head`.
fn seal(batch: &[(WriteOp, Ack)], sealing: &[bool], head: &(i64, String)) -> Vec<AuditRecord> {
    let mut sealed: Vec<AuditRecord> = Vec::new();
    for ((op, _), _) in batch.iter().zip(sealing).filter(|(_, seals)| **seals) {
        let (WriteOp::Audit(entry) | WriteOp::Delivery(_, entry)) = op else { continue };
        let (seq, prev) = sealed.last().map_or((head.0, head.1.as_str()), |r| (r.seq, r.hash.as_str()));
        sealed.push(AuditRecord::seal(entry.clone(), seq + 1, super::now_ms(), prev));
    }
    sealed
}
