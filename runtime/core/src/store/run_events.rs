//! The event log of the runs `monstrum serve` drives: each event as `--json` prints it, numbered
//! per run. The server writes it (off the run's path) and reads it back for a subscriber that
//! resumes from an event no longer in memory, or from before a restart.

use super::{Context, Store, StoreResult};
use sqlx::Row;

/// Events written by one statement (three parameters each, well under SQLite's limit).
pub const RUN_EVENTS_AT_ONCE: usize = 256;

impl Store {
    /// Appends events `(run, id, json)`, up to [`RUN_EVENTS_AT_ONCE`] in one statement; an
    /// event already there (same run and id) is kept as it was.
    pub async fn append_run_events(&self, events: &[(String, u64, std::sync::Arc<str>)]) -> StoreResult<()> {
        for chunk in events.chunks(RUN_EVENTS_AT_ONCE) {
            let rows = super::batch_sql::values((!self.sqlite).then_some(1), chunk.len(), 3);
            let sql =
                format!("INSERT INTO run_events (run_id, id, event) VALUES {rows} ON CONFLICT (run_id, id) DO NOTHING");
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (run, id, json) in chunk {
                query = query.bind(run.as_str()).bind(*id as i64).bind(&**json);
            }
            query.execute(&self.pool).await.context("cannot write run events")?;
        }
        Ok(())
    }

    /// Up to `limit` events of `run` after event `after`, in order.
    pub async fn run_events_after(&self, run: &str, after: u64, limit: u32) -> StoreResult<Vec<(u64, String)>> {
        let rows = sqlx::query("SELECT id, event FROM run_events WHERE run_id = $1 AND id > $2 ORDER BY id LIMIT $3")
            .bind(run)
            .bind(after as i64)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .context("cannot read run events")?;
        rows.iter()
            .map(|r| Ok((r.try_get::<i64, _>("id")? as u64, r.try_get("event")?)))
            .collect::<Result<_, sqlx::Error>>()
            .context("bad run event row")
    }

    /// The number of the last event of `run` in the log (0 if none).
    pub async fn last_run_event(&self, run: &str) -> StoreResult<u64> {
        let row = sqlx::query("SELECT MAX(id) AS last FROM run_events WHERE run_id = $1")
            .bind(run)
            .fetch_one(&self.pool)
            .await
            .context("cannot read run events")?;
        Ok(row.try_get::<Option<i64>, _>("last").context("bad run event row")?.unwrap_or(0) as u64)
    }
}
