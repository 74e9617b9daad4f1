//! The plugins' `kv` storage in the store: rows keyed by (instance, key), values base64.

use super::{Context, Store, StoreResult};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sqlx::Row;

impl Store {
    /// The value of `key` in `instance`'s storage.
    pub async fn plugin_kv_get(&self, instance: &str, key: &str) -> StoreResult<Option<Vec<u8>>> {
        let row = sqlx::query("SELECT value FROM plugin_kv WHERE instance = $1 AND kkey = $2")
            .bind(instance)
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .context("cannot read plugin storage")?;
        row.map(|r| -> Result<Vec<u8>, sqlx::Error> {
            let text: String = r.try_get("value")?;
            STANDARD.decode(text).map_err(|e| sqlx::Error::Decode(Box::new(e)))
        })
        .transpose()
        .context("bad plugin storage row")
    }

    /// How many keys `instance` holds.
    pub async fn plugin_kv_count(&self, instance: &str) -> StoreResult<i64> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM plugin_kv WHERE instance = $1")
            .bind(instance)
            .fetch_one(&self.pool)
            .await
            .context("cannot count plugin storage")?;
        row.try_get::<i64, _>("n").context("bad count")
    }

    /// Stores `value` under `key` in `instance`'s storage.
    pub(crate) async fn plugin_kv_set(&self, instance: &str, key: &str, value: &[u8], at: i64) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO plugin_kv (instance, kkey, value, updated_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (instance, kkey) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        )
        .bind(instance)
        .bind(key)
        .bind(STANDARD.encode(value))
        .bind(at)
        .execute(&self.pool)
        .await
        .context("cannot write plugin storage")?;
        Ok(())
    }

    /// Deletes `key` from `instance`'s storage.
    pub(crate) async fn plugin_kv_delete(&self, instance: &str, key: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM plugin_kv WHERE instance = $1 AND kkey = $2")
            .bind(instance)
            .bind(key)
            .execute(&self.pool)
            .await
            .context("cannot delete from plugin storage")?;
        Ok(())
    }
}
