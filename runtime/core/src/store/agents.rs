//! Agent keys and the state of each agent's link (DESIGN.md, "Agent link"): the key's hash
//! (the key is shown once, when it is created), when it was revoked, and whether a server holds
//! the agent's link now.

use super::{Context, Store, StoreResult, now_ms};
use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

/// One agent as stored (no secret in it: `hash` is a SHA-256 of a 256-bit random key).
#[derive(Clone, Debug, Serialize)]
pub struct AgentRecord {
    pub name: String,
    #[serde(skip)]
    pub hash: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
    /// Since when a server holds its link; `None` while it is not connected.
    pub connected_at: Option<i64>,
    pub last_seen_at: Option<i64>,
}

impl AgentRecord {
    /// `revoked`, `connected` (a server holds its link) or `disconnected`.
    pub fn state(&self) -> &'static str {
        match (self.revoked_at, self.connected_at) {
            (Some(_), _) => "revoked",
            (None, Some(_)) => "connected",
            (None, None) => "disconnected",
        }
    }
}

fn agent_row(row: &AnyRow) -> Result<AgentRecord, sqlx::Error> {
    Ok(AgentRecord {
        name: row.try_get("name")?,
        hash: row.try_get("hash")?,
        created_at: row.try_get("created_at")?,
        revoked_at: row.try_get("revoked_at")?,
        connected_at: row.try_get("connected_at")?,
        last_seen_at: row.try_get("last_seen_at")?,
    })
}

impl Store {
    /// Records a new agent key; false if an agent of that name exists (revoked ones too: its
    /// audit records and tools keep the name).
    pub(crate) async fn create_agent_key(&self, name: &str, hash: &str) -> StoreResult<bool> {
        let done = sqlx::query(
            "INSERT INTO agent_keys (name, hash, created_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(hash)
        .bind(now_ms())
        .execute(&self.pool)
        .await
        .context(format!("cannot create agent key {name}"))?;
        Ok(done.rows_affected() == 1)
    }

    /// The live (not revoked) agent whose key has this hash.
    pub async fn agent_by_key(&self, hash: &str) -> StoreResult<Option<AgentRecord>> {
        let row = sqlx::query("SELECT * FROM agent_keys WHERE hash = $1 AND revoked_at IS NULL")
            .bind(hash)
            .fetch_optional(&self.pool)
            .await
            .context("cannot read agent keys")?;
        row.as_ref().map(agent_row).transpose().context("bad agent row")
    }

    /// Every agent, by name.
    pub async fn agents(&self) -> StoreResult<Vec<AgentRecord>> {
        let rows = sqlx::query("SELECT * FROM agent_keys ORDER BY name")
            .fetch_all(&self.pool)
            .await
            .context("cannot list agents")?;
        rows.iter().map(agent_row).collect::<Result<_, _>>().context("bad agent row")
    }

    /// Revokes a live agent key; false if there is none of that name.
    pub(crate) async fn revoke_agent_key(&self, name: &str) -> StoreResult<bool> {
        let done = sqlx::query("UPDATE agent_keys SET revoked_at = $1 WHERE name = $2 AND revoked_at IS NULL")
            .bind(now_ms())
            .bind(name)
            .execute(&self.pool)
            .await
            .context(format!("cannot revoke agent key {name}"))?;
        Ok(done.rows_affected() == 1)
    }

    /// Records that agent `name`'s link is up (`true`) or down.
    pub(crate) async fn agent_link(&self, name: &str, up: bool) -> StoreResult<()> {
        let now = now_ms();
        let sql = if up {
            "UPDATE agent_keys SET connected_at = $1, last_seen_at = $1 WHERE name = $2"
        } else {
            "UPDATE agent_keys SET connected_at = NULL, last_seen_at = $1 WHERE name = $2"
        };
        sqlx::query(sql)
            .bind(now)
            .bind(name)
            .execute(&self.pool)
            .await
            .context(format!("cannot record agent {name}'s link"))?;
        Ok(())
    }

    /// Marks every agent's link down: what a server does when it starts (a killed server's
    /// links died with it).
    pub(crate) async fn agent_links_down(&self) -> StoreResult<()> {
        sqlx::query("UPDATE agent_keys SET connected_at = NULL WHERE connected_at IS NOT NULL")
            .execute(&self.pool)
            .await
            .context("cannot reset agent links")?;
        Ok(())
    }
}
