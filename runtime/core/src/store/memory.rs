//! Bot memory in the store.

use super::{Context, Store, StoreResult};
use serde_json::Value;
use sqlx::Row;

impl Store {
    /// A bot's value under `key` in `part`.
    pub async fn memory_get(&self, bot: &str, part: &str, key: &str) -> StoreResult<Option<Value>> {
        let row = sqlx::query("SELECT value FROM memory WHERE bot = $1 AND part = $2 AND mkey = $3")
            .bind(bot)
            .bind(part)
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .context("cannot read memory")?;
        row.map(|r| -> Result<Value, sqlx::Error> {
            let text: String = r.try_get("value")?;
            serde_json::from_str(&text).map_err(|e| sqlx::Error::Decode(Box::new(e)))
        })
        .transpose()
        .context("bad memory row")
    }

    /// Stores a bot's value.
    pub(crate) async fn memory_set(&self, bot: &str, part: &str, key: &str, value: &Value, at: i64) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO memory (bot, part, mkey, value, updated_at) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (bot, part, mkey) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        )
        .bind(bot)
        .bind(part)
        .bind(key)
        .bind(value.to_string())
        .bind(at)
        .execute(&self.pool)
        .await
        .context("cannot write memory")?;
        Ok(())
    }

    /// Forgets a key; whether it was there.
    pub(crate) async fn memory_delete(&self, bot: &str, part: &str, key: &str) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM memory WHERE bot = $1 AND part = $2 AND mkey = $3")
            .bind(bot)
            .bind(part)
            .bind(key)
            .execute(&self.pool)
            .await
            .context("cannot delete memory")?;
        Ok(done.rows_affected() > 0)
    }

    /// A bot's keys in `part`.
    pub async fn memory_keys(&self, bot: &str, part: &str) -> StoreResult<Vec<String>> {
        let rows = sqlx::query("SELECT mkey FROM memory WHERE bot = $1 AND part = $2 ORDER BY mkey")
            .bind(bot)
            .bind(part)
            .fetch_all(&self.pool)
            .await
            .context("cannot list memory")?;
        rows.iter().map(|r| r.try_get("mkey")).collect::<Result<_, _>>().context("bad memory row")
    }

    /// Deletes a whole partition (a finished run's task memory).
    pub(crate) async fn memory_clear(&self, part: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM memory WHERE part = $1")
            .bind(part)
            .execute(&self.pool)
            .await
            .context("cannot clear memory")?;
        Ok(())
    }
}
