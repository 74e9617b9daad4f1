//! The call journal in the store (`tool_calls`): a plugin call is written `sent` before it is
//! executed and `done` or `failed` after, so that after a crash the engine knows which calls may
//! have had their effect (in doubt) and which finished (their output is reused, not sent again).

use super::{Context, Store, StoreResult, now_ms};
use serde_json::Value;
use sqlx::Row;

/// One journal row.
#[derive(Clone, Debug, PartialEq)]
pub struct CallRecord {
    /// The idempotency key.
    pub key: String,
    pub run_id: String,
    pub step_key: String,
    pub tool: String,
    /// `read`, `idempotent` or `write`.
    pub effect: String,
    /// A digest of the (redacted) arguments: a call under the same key with other arguments is
    /// another call.
    pub arguments: String,
    /// `sent`, `done` or `failed`.
    pub state: String,
    pub output: Option<Value>,
    pub error: Option<String>,
    pub sent_at: i64,
}

impl Store {
    /// The hash of the transaction the host signer submitted for `slot` (call key and send).
    pub(crate) async fn evm_sent(&self, slot: &str) -> StoreResult<Option<String>> {
        let row = sqlx::query("SELECT hash FROM evm_sent WHERE slot = $1")
            .bind(slot)
            .fetch_optional(&self.pool)
            .await
            .context("cannot read the signer's journal")?;
        row.map(|r| r.try_get::<String, _>("hash")).transpose().context("bad signer journal row")
    }

    /// Records the transaction about to be submitted for `slot`.
    pub(crate) async fn record_evm_sent(&self, slot: &str, hash: &str) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO evm_sent (slot, hash, sent_at) VALUES ($1, $2, $3)
             ON CONFLICT (slot) DO UPDATE SET hash = excluded.hash, sent_at = excluded.sent_at",
        )
        .bind(slot)
        .bind(hash)
        .bind(now_ms())
        .execute(&self.pool)
        .await
        .context("cannot write the signer's journal")?;
        Ok(())
    }

    /// The journal row of `key`.
    pub async fn call_record(&self, key: &str) -> StoreResult<Option<CallRecord>> {
        let row = sqlx::query("SELECT * FROM tool_calls WHERE call_key = $1")
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .context("cannot read the call journal")?;
        row.map(|r| -> Result<CallRecord, sqlx::Error> {
            let output: Option<String> = r.try_get("output")?;
            Ok(CallRecord {
                key: r.try_get("call_key")?,
                run_id: r.try_get("run_id")?,
                step_key: r.try_get("step_key")?,
                tool: r.try_get("tool")?,
                effect: r.try_get("effect")?,
                arguments: r.try_get("arguments")?,
                state: r.try_get("state")?,
                output: output.and_then(|o| serde_json::from_str(&o).ok()),
                error: r.try_get("error")?,
                sent_at: r.try_get("sent_at")?,
            })
        })
        .transpose()
        .context("bad call journal row")
    }

    /// Records a call as sent (replacing an earlier row of the key: a call sent again).
    pub(crate) async fn call_sent(&self, r: &CallRecord) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO tool_calls (call_key, run_id, step_key, tool, effect, arguments, state, sent_at)
             VALUES ($1, $2, $3, $4, $5, $6, 'sent', $7)
             ON CONFLICT (call_key) DO UPDATE SET tool = excluded.tool, effect = excluded.effect,
             arguments = excluded.arguments, state = 'sent', output = NULL, error = NULL,
             sent_at = excluded.sent_at, done_at = NULL",
        )
        .bind(&r.key)
        .bind(&r.run_id)
        .bind(&r.step_key)
        .bind(&r.tool)
        .bind(&r.effect)
        .bind(&r.arguments)
        .bind(r.sent_at)
        .execute(&self.pool)
        .await
        .context(format!("cannot journal the call {}", r.key))?;
        Ok(())
    }

    /// Records how a sent call ended.
    pub(crate) async fn call_ended(&self, key: &str, result: &Result<Value, String>) -> StoreResult<()> {
        let (state, output, error) = match result {
            Ok(v) => ("done", Some(v.to_string()), None),
            Err(e) => ("failed", None, Some(e.as_str())),
        };
        sqlx::query("UPDATE tool_calls SET state = $1, output = $2, error = $3, done_at = $4 WHERE call_key = $5")
            .bind(state)
            .bind(output)
            .bind(error)
            .bind(now_ms())
            .bind(key)
            .execute(&self.pool)
            .await
            .context(format!("cannot journal the end of the call {key}"))?;
        Ok(())
    }
}
