//! API tokens of `monstrum serve`: name, role and a hash of the token (the token itself is shown
//! once, when it is created, and never stored).

use super::{Context, Store, StoreResult, now_ms};
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::Row;
use sqlx::any::AnyRow;

/// A new secret (an API token, an agent key): `prefix` and 256 random bits in hex, and the
/// hash the store keeps of it.
pub fn new_secret(prefix: &str) -> anyhow::Result<(String, String)> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no randomness for a secret: {e}"))?;
    let secret = format!("{prefix}{}", hex::encode(bytes));
    let hash = secret_hash(&secret);
    Ok((secret, hash))
}

/// The secret of an `Authorization` header's value (`Bearer SECRET`), if it holds one.
pub fn bearer(authorization: Option<&str>) -> Option<&str> {
    authorization.and_then(|v| v.strip_prefix("Bearer ")).map(str::trim).filter(|s| !s.is_empty())
}

/// What the store keeps of a secret made by [`new_secret`]: its SHA-256, in hex.
pub fn secret_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// One API token as stored (no secret in it: `hash` is a SHA-256 of a 256-bit random token).
#[derive(Clone, Debug, Serialize)]
pub struct TokenRecord {
    pub name: String,
    /// admin | editor | approver | viewer, or `bot` for a token bound to a bot
    pub role: String,
    /// The bot whose tools the token opens over MCP (`/mcp`); such a token opens no `/api` route.
    pub bot: Option<String>,
    #[serde(skip)]
    pub hash: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

fn token_row(row: &AnyRow) -> Result<TokenRecord, sqlx::Error> {
    Ok(TokenRecord {
        name: row.try_get("name")?,
        role: row.try_get("role")?,
        bot: row.try_get("bot")?,
        hash: row.try_get("hash")?,
        created_at: row.try_get("created_at")?,
        last_used_at: row.try_get("last_used_at")?,
        revoked_at: row.try_get("revoked_at")?,
    })
}

impl Store {
    /// Records a new token (bound to `bot`, or an API token when `None`); false if a token of
    /// that name exists (revoked ones too: names are what the audit trail records, so one is
    /// never reused).
    pub async fn create_token(&self, name: &str, role: &str, bot: Option<&str>, hash: &str) -> StoreResult<bool> {
        let done = sqlx::query(
            "INSERT INTO api_tokens (name, role, bot, hash, created_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(role)
        .bind(bot)
        .bind(hash)
        .bind(now_ms())
        .execute(&self.pool)
        .await
        .context(format!("cannot create token {name}"))?;
        Ok(done.rows_affected() == 1)
    }

    /// The live (not revoked) token with this hash, marking it used (at most once a minute, so
    /// that reading the API does not write the store on every request).
    pub async fn use_token(&self, hash: &str) -> StoreResult<Option<TokenRecord>> {
        let row = sqlx::query("SELECT * FROM api_tokens WHERE hash = $1 AND revoked_at IS NULL")
            .bind(hash)
            .fetch_optional(&self.pool)
            .await
            .context("cannot read API tokens")?;
        let Some(token) = row.as_ref().map(token_row).transpose().context("bad token row")? else {
            return Ok(None);
        };
        let now = now_ms();
        if token.last_used_at.is_none_or(|at| now - at >= 60_000) {
            sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE name = $2")
                .bind(now)
                .bind(&token.name)
                .execute(&self.pool)
                .await
                .context("cannot record the token's use")?;
        }
        Ok(Some(token))
    }

    /// Every token, by name.
    pub async fn tokens(&self) -> StoreResult<Vec<TokenRecord>> {
        let rows = sqlx::query("SELECT * FROM api_tokens ORDER BY name")
            .fetch_all(&self.pool)
            .await
            .context("cannot list API tokens")?;
        rows.iter().map(token_row).collect::<Result<_, _>>().context("bad token row")
    }

    /// Revokes a live token; false if there is none of that name.
    pub async fn revoke_token(&self, name: &str) -> StoreResult<bool> {
        let done = sqlx::query("UPDATE api_tokens SET revoked_at = $1 WHERE name = $2 AND revoked_at IS NULL")
            .bind(now_ms())
            .bind(name)
            .execute(&self.pool)
            .await
            .context(format!("cannot revoke token {name}"))?;
        Ok(done.rows_affected() == 1)
    }
}
