//! Vault entries in the store: sealed values only; encryption is `crate::vault`'s job.

use super::{Context, Store, StoreResult};
use sqlx::Row;
use sqlx::any::AnyRow;

/// One sealed vault entry as stored: nonce and ciphertext are base64.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VaultRow {
    pub name: String,
    pub nonce: String,
    pub ciphertext: String,
    /// Which master key sealed it (`MasterKey::id`).
    pub key_id: String,
    pub created_at: i64,
    pub updated_at: i64,
}

fn vault_row(row: &AnyRow) -> Result<VaultRow, sqlx::Error> {
    Ok(VaultRow {
        name: row.try_get("name")?,
        nonce: row.try_get("nonce")?,
        ciphertext: row.try_get("ciphertext")?,
        key_id: row.try_get("key_id")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

impl Store {
    /// Writes a sealed entry, replacing any entry of that name (its `created_at` is kept).
    /// `row.created_at` is ignored; `row.updated_at` is the time of this write.
    pub(crate) async fn put_vault_entry(&self, row: &VaultRow) -> StoreResult<()> {
        let name = &row.name;
        sqlx::query(
            "INSERT INTO vault (name, nonce, ciphertext, key_id, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5)
             ON CONFLICT (name) DO UPDATE SET nonce = excluded.nonce, ciphertext = excluded.ciphertext,
             key_id = excluded.key_id, updated_at = excluded.updated_at",
        )
        .bind(name)
        .bind(&row.nonce)
        .bind(&row.ciphertext)
        .bind(&row.key_id)
        .bind(row.updated_at)
        .execute(&self.pool)
        .await
        .context(format!("cannot store vault entry {name}"))?;
        Ok(())
    }

    /// A sealed entry by name.
    pub async fn vault_entry(&self, name: &str) -> StoreResult<Option<VaultRow>> {
        let row = sqlx::query("SELECT * FROM vault WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .context(format!("cannot read vault entry {name}"))?;
        row.as_ref().map(vault_row).transpose().context("bad vault row")
    }

    /// Every entry's (name, updated_at), by name; no sealed values are read.
    pub async fn vault_names(&self) -> StoreResult<Vec<(String, i64)>> {
        let rows = sqlx::query("SELECT name, updated_at FROM vault ORDER BY name")
            .fetch_all(&self.pool)
            .await
            .context("cannot list the vault")?;
        rows.iter()
            .map(|r| Ok((r.try_get("name")?, r.try_get("updated_at")?)))
            .collect::<Result<_, sqlx::Error>>()
            .context("bad vault row")
    }

    /// The master keys (`key_id`s) the entries are sealed with, other than `except`.
    pub async fn vault_other_keys(&self, except: &str) -> StoreResult<Vec<String>> {
        let rows = sqlx::query("SELECT DISTINCT key_id FROM vault WHERE key_id <> $1 ORDER BY key_id")
            .bind(except)
            .fetch_all(&self.pool)
            .await
            .context("cannot read the vault")?;
        rows.iter().map(|r| r.try_get("key_id")).collect::<Result<_, _>>().context("bad vault row")
    }

    /// Deletes an entry; false if there was none.
    pub(crate) async fn delete_vault_entry(&self, name: &str) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM vault WHERE name = $1")
            .bind(name)
            .execute(&self.pool)
            .await
            .context(format!("cannot remove vault entry {name}"))?;
        Ok(done.rows_affected() > 0)
    }
}
