//! The audit trail and the budget ledger in the store.

use super::writer::WriteOp;
use super::{Context, Store, StoreError, StoreResult};
use crate::audit::{AuditEntry, AuditRecord};
use sqlx::Row;
use sqlx::any::AnyRow;

/// Which audit records to list.
#[derive(Clone, Debug, Default)]
pub struct AuditFilter {
    pub bot: Option<String>,
    pub run: Option<String>,
    pub tool: Option<String>,
    pub decision: Option<String>,
    pub kind: Option<String>,
    /// At most this many, newest last.
    pub limit: Option<i64>,
    /// Only records older than this one (its `seq`): the next page back.
    pub before: Option<i64>,
    /// Only records newer than this one (its `seq`): what was added since it was read.
    pub after: Option<i64>,
}

fn audit_row(row: &AnyRow) -> Result<AuditRecord, sqlx::Error> {
    Ok(AuditRecord {
        seq: row.try_get("seq")?,
        at: row.try_get("at")?,
        kind: row.try_get("kind")?,
        run: row.try_get("run_id")?,
        step: row.try_get("step_key")?,
        bot: row.try_get("bot")?,
        tool: row.try_get("tool")?,
        decision: row.try_get("decision")?,
        reason: row.try_get("reason")?,
        detail: row.try_get("detail")?,
        prev: row.try_get("prev")?,
        hash: row.try_get("hash")?,
    })
}

impl Store {
    /// The newest audit record's (seq, hash).
    pub async fn last_audit(&self) -> StoreResult<Option<(i64, String)>> {
        audit_head(&self.pool).await
    }

    /// Appends `entry` to the trail and returns it sealed, once it is committed.
    pub(crate) async fn append_audit(&self, entry: AuditEntry) -> StoreResult<AuditRecord> {
        let sealed = self.writer.commit(WriteOp::Audit(entry)).await?;
        sealed.ok_or_else(|| StoreError {
            context: "the store writer sealed no record".into(),
            cause: sqlx::Error::RowNotFound,
        })
    }

    /// Queues `entry` behind everything queued before it; a failure surfaces at the next awaited
    /// commit (a step's record), so what depends on it never counts as recorded.
    pub(crate) fn append_audit_later(&self, entry: AuditEntry) {
        self.writer.send(WriteOp::Audit(entry));
    }

    /// Audit records matching `filter`, in `seq` order.
    pub async fn audit_records(&self, filter: &AuditFilter) -> StoreResult<Vec<AuditRecord>> {
        let mut sql = String::from("SELECT * FROM audit WHERE 1 = 1");
        let mut binds = Vec::new();
        for (column, value) in [
            ("bot", &filter.bot),
            ("run_id", &filter.run),
            ("tool", &filter.tool),
            ("decision", &filter.decision),
            ("kind", &filter.kind),
        ] {
            if let Some(v) = value {
                binds.push(v.clone());
                sql.push_str(&format!(" AND {column} = ${}", binds.len()));
            }
        }
        if let Some(before) = filter.before {
            sql.push_str(&format!(" AND seq < {before}"));
        }
        if let Some(after) = filter.after {
            sql.push_str(&format!(" AND seq > {after}"));
        }
        if let Some(limit) = filter.limit {
            sql = format!("SELECT * FROM ({sql} ORDER BY seq DESC LIMIT {limit}) AS newest");
        }
        sql.push_str(" ORDER BY seq");
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for b in binds {
            query = query.bind(b);
        }
        let rows = query.fetch_all(&self.pool).await.context("cannot read the audit trail")?;
        rows.iter().map(audit_row).collect::<Result<_, _>>().context("bad audit row")
    }

    // ---- budget ledger

    /// Writes a reservation: one row per account.
    pub(crate) async fn reserve_budget(
        &self,
        reservation: &str,
        accounts: &[String],
        run: &str,
        at: i64,
        tokens: i64,
        micro_usd: i64,
    ) -> StoreResult<()> {
        for account in accounts {
            sqlx::query(
                "INSERT INTO budget_usage (reservation, account, run_id, at, tokens, micro_usd, settled)
                 VALUES ($1, $2, $3, $4, $5, $6, 0)",
            )
            .bind(reservation)
            .bind(account)
            .bind(run)
            .bind(at)
            .bind(tokens)
            .bind(micro_usd)
            .execute(&self.pool)
            .await
            .context("cannot reserve budget")?;
        }
        Ok(())
    }

    /// Replaces a reservation's estimate with what was used (zero for a request that failed).
    pub(crate) async fn settle_budget(&self, reservation: &str, tokens: i64, micro_usd: i64) -> StoreResult<()> {
        sqlx::query("UPDATE budget_usage SET tokens = $1, micro_usd = $2, settled = 1 WHERE reservation = $3")
            .bind(tokens)
            .bind(micro_usd)
            .bind(reservation)
            .execute(&self.pool)
            .await
            .context("cannot settle budget")?;
        Ok(())
    }

    /// Withdraws a reservation that was refused.
    pub(crate) async fn release_budget(&self, reservation: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM budget_usage WHERE reservation = $1")
            .bind(reservation)
            .execute(&self.pool)
            .await
            .context("cannot release budget")?;
        Ok(())
    }

    /// (tokens, micro-dollars) charged to `account`, since `since` and optionally in one run.
    pub async fn budget_used(&self, account: &str, since: i64, run: Option<&str>) -> StoreResult<(i64, i64)> {
        let row = match run {
            Some(run) => sqlx::query(
                "SELECT CAST(COALESCE(SUM(tokens), 0) AS BIGINT) AS t, CAST(COALESCE(SUM(micro_usd), 0) AS BIGINT) AS u FROM budget_usage
                 WHERE account = $1 AND at >= $2 AND run_id = $3",
            )
            .bind(account)
            .bind(since)
            .bind(run),
            None => sqlx::query(
                "SELECT CAST(COALESCE(SUM(tokens), 0) AS BIGINT) AS t, CAST(COALESCE(SUM(micro_usd), 0) AS BIGINT) AS u FROM budget_usage
                 WHERE account = $1 AND at >= $2",
            )
            .bind(account)
            .bind(since),
        }
        .fetch_one(&self.pool)
        .await
        .context("cannot read budget usage")?;
        // SUM is NUMERIC on PostgreSQL, hence the casts above.
        let tokens: i64 = row.try_get("t").context("bad budget sum")?;
        let micro_usd: i64 = row.try_get("u").context("bad budget sum")?;
        Ok((tokens, micro_usd))
    }
}

/// The newest audit record's (seq, hash), read through `db` (the pool, or the writer's
/// transaction under its lock).
pub(super) async fn audit_head<'c>(
    db: impl sqlx::Executor<'c, Database = sqlx::Any>,
) -> StoreResult<Option<(i64, String)>> {
    sqlx::query_as("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1")
        .fetch_optional(db)
        .await
        .context("cannot read the audit trail")
}
