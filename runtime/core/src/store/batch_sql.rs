//! The statements of one writer batch: each step key's row once, every audit record (and, on
//! SQLite's one-trip path, every delivery), as multi-row statements. On SQLite the whole batch is
//! one query (`BEGIN; ...; COMMIT`, its parameters bound in order across its statements), so a
//! commit costs one trip to SQLite's thread instead of one per statement; PostgreSQL, which takes
//! one statement per query with parameters, runs them in turn in one transaction.

use super::deliveries::{self, DeliveryRow};
use super::writer::{Ack, WriteOp};
use super::{Context, StepRecord, StoreResult};
use crate::audit::AuditRecord;
use sqlx::any::AnyArguments;
use sqlx::query::Query;
use sqlx::{Any, AnyPool, Transaction};
use std::collections::HashMap;
use std::fmt::Write as _;

// A batch holds at most 512 operations, so a query binds at most 512 x 12 values: within
// SQLite's 32,766 and PostgreSQL's 65,535 parameters.

type Started<'a> = (&'a str, &'a str, &'a str, u32, i64);
pub(super) type Q<'q> = Query<'q, Any, AnyArguments>;

const STARTED: (&str, usize) = (
    "INSERT INTO steps (run_id, step_key, step_id, status, attempts, started_at) VALUES {}
     ON CONFLICT (run_id, step_key) DO UPDATE SET status = 'running', attempts = excluded.attempts, output = NULL, error = NULL",
    6,
);
const FINISHED: (&str, usize) = (
    "INSERT INTO steps (run_id, step_key, step_id, status, attempts, output, error, started_at, finished_at) VALUES {}
     ON CONFLICT (run_id, step_key) DO UPDATE SET status = excluded.status, attempts = excluded.attempts,
     output = excluded.output, error = excluded.error, finished_at = excluded.finished_at",
    9,
);
const AUDIT: (&str, usize) = (
    "INSERT INTO audit (seq, at, kind, run_id, step_key, bot, tool, decision, reason, detail, prev, hash) VALUES {}",
    12,
);

/// What a batch writes.
pub(super) struct Rows<'a> {
    deliveries: Vec<&'a DeliveryRow>,
    started: Vec<Started<'a>>,
    finished: Vec<&'a StepRecord>,
    audits: &'a [AuditRecord],
}

impl<'a> Rows<'a> {
    /// The rows of `batch`, with its audit entries `sealed`. A start followed in the same batch
    /// by its step's end is the end alone (which carries the start time): each key is written once.
    pub(super) fn of(batch: &'a [(WriteOp, Ack)], sealed: &'a [AuditRecord]) -> Rows<'a> {
        let mut last: HashMap<(&str, &str), usize> = HashMap::new();
        for (i, (op, _)) in batch.iter().enumerate() {
            match op {
                WriteOp::Started { run, key, .. } => last.insert((run, key), i),
                WriteOp::Finished(r) => last.insert((&r.run_id, &r.step_key), i),
                _ => None,
            };
        }
        let (mut started, mut finished) = (Vec::new(), Vec::new());
        for (i, (op, _)) in batch.iter().enumerate() {
            match op {
                WriteOp::Started { run, key, step, attempt, at } if last[&(run.as_str(), key.as_str())] == i => {
                    started.push((run.as_str(), key.as_str(), step.as_str(), *attempt, *at));
                }
                WriteOp::Finished(r) if last[&(r.run_id.as_str(), r.step_key.as_str())] == i => finished.push(r),
                _ => {}
            }
        }
        Rows { deliveries: Vec::new(), started, finished, audits: sealed }
    }

    /// With the batch's deliveries too, inserted first and as if every one were new: a
    /// redelivery's key exists, so the insert fails and with it the batch, which the caller
    /// then writes by [`deliveries::insert_deliveries`], learning which are new.
    pub(super) fn with_deliveries(mut self, batch: &'a [(WriteOp, Ack)]) -> Rows<'a> {
        self.deliveries = batch
            .iter()
            .filter_map(|(op, _)| match op {
                WriteOp::Delivery(row, _) => Some(&**row),
                _ => None,
            })
            .collect();
        self
    }

    /// The statements with their row counts, in the order their values are bound.
    fn statements(&self) -> impl Iterator<Item = ((&'static str, usize), usize)> {
        [
            (deliveries::INSERT, self.deliveries.len()),
            (STARTED, self.started.len()),
            (FINISHED, self.finished.len()),
            (AUDIT, self.audits.len()),
        ]
        .into_iter()
        .filter(|(_, rows)| *rows > 0)
    }

    /// SQLite: the batch in one query and one transaction.
    pub(super) async fn write_at_once(&self, pool: &AnyPool) -> StoreResult<()> {
        let mut sql = String::from("BEGIN IMMEDIATE;\n");
        for ((template, columns), rows) in self.statements() {
            sql.push_str(&template.replace("{}", &values(None, rows, columns)));
            sql.push_str(";\n");
        }
        sql.push_str("COMMIT;");
        let mut conn = pool.acquire().await.context("cannot reach the store")?;
        let query = sqlx::query(sqlx::AssertSqlSafe(sql));
        let query = self.deliveries.iter().fold(query, |query, d| deliveries::bind(query, d));
        let query = self.bind_audits(self.bind_finished(self.bind_started(query)));
        if let Err(e) = query.execute(&mut *conn).await {
            // The statements before the failing one ran inside the transaction: undo them.
            let _ = sqlx::raw_sql("ROLLBACK").execute(&mut *conn).await;
            return Err(e).context("cannot record the steps and the audit trail");
        }
        Ok(())
    }

    /// Each statement in turn, in `tx` (which the caller commits); `numbered`: `$1` placeholders
    /// (PostgreSQL), else `?` (SQLite).
    pub(super) async fn write_in(&self, tx: &mut Transaction<'static, Any>, numbered: bool) -> StoreResult<()> {
        for ((template, columns), rows) in self.statements() {
            let sql = template.replace("{}", &values(numbered.then_some(1), rows, columns));
            let query = sqlx::query(sqlx::AssertSqlSafe(sql));
            let query = match template {
                t if t == deliveries::INSERT.0 => self.deliveries.iter().fold(query, |q, d| deliveries::bind(q, d)),
                t if t == STARTED.0 => self.bind_started(query),
                t if t == FINISHED.0 => self.bind_finished(query),
                _ => self.bind_audits(query),
            };
            query.execute(&mut **tx).await.context("cannot record the steps and the audit trail")?;
        }
        Ok(())
    }

    fn bind_started<'q>(&'q self, mut query: Q<'q>) -> Q<'q> {
        for (run, key, step, attempt, at) in &self.started {
            query = query.bind(*run).bind(*key).bind(*step).bind("running").bind(*attempt as i64).bind(*at);
        }
        query
    }

    fn bind_finished<'q>(&'q self, mut query: Q<'q>) -> Q<'q> {
        for r in &self.finished {
            query = query
                .bind(r.run_id.as_str())
                .bind(r.step_key.as_str())
                .bind(r.step_id.as_str())
                .bind(r.status.as_str())
                .bind(r.attempts as i64)
                .bind(r.output.as_ref().map(|o| o.to_string()))
                .bind(r.error.as_deref())
                .bind(r.started_at)
                .bind(r.finished_at);
        }
        query
    }

    fn bind_audits<'q>(&'q self, mut query: Q<'q>) -> Q<'q> {
        for r in self.audits {
            query = query
                .bind(r.seq)
                .bind(r.at)
                .bind(r.kind.as_str())
                .bind(r.run.as_deref())
                .bind(r.step.as_deref())
                .bind(r.bot.as_deref())
                .bind(r.tool.as_deref())
                .bind(r.decision.as_deref())
                .bind(r.reason.as_deref())
                .bind(r.detail.as_str())
                .bind(r.prev.as_str())
                .bind(r.hash.as_str());
        }
        query
    }
}

/// `(...), (...)`: `rows` rows of `columns` placeholders, numbered from `first` (`$1`) or in
/// order (`?`). SQLite takes `?` across the statements of a query, and finds a numbered
/// parameter's name by a linear search: numbered, a batch of 1,000 values cost a quadratic
/// 40% of a run's time.
pub(super) fn values(first: Option<usize>, rows: usize, columns: usize) -> String {
    let mut sql = String::with_capacity(rows * columns * 6);
    for r in 0..rows {
        sql.push_str(if r == 0 { "(" } else { ", (" });
        for c in 0..columns {
            sql.push_str(if c == 0 { "" } else { ", " });
            match first {
                Some(first) => {
                    let _ = write!(sql, "${}", first + r * columns + c);
                }
                None => sql.push('?'),
            }
        }
        sql.push(')');
    }
    sql
}
