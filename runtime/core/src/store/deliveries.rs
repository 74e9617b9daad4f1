//! The channel gateway's deliveries (migration 0017): each event a service sent, by its own
//! event id, with what became of it. The primary key makes a redelivery a refused insert, so a
//! message runs once however often the service sends it, across restarts.

use super::{Context, Store, StoreResult, now_ms};
use serde::Serialize;
use serde_json::Value;
use sqlx::Row;
use sqlx::any::AnyRow;

/// A delivery as stored.
#[derive(Clone, Debug, Serialize)]
pub struct DeliveryRecord {
    pub channel: String,
    pub event_id: String,
    pub received_at: i64,
    pub updated_at: i64,
    /// routed | dropped | answered | unanswered
    pub status: String,
    pub conversation: String,
    pub bot: Option<String>,
    pub workflow: Option<String>,
    pub run_id: Option<String>,
    /// The unified message (what the run got as `inputs.message`).
    pub message: Value,
    /// What the answer needs (may hold a credential: never shown).
    #[serde(skip)]
    pub reply: Value,
    pub attempts: i64,
    pub error: Option<String>,
}

/// A new delivery: the event and where the gateway sends it.
pub struct NewDelivery<'a> {
    pub channel: &'a str,
    pub event_id: &'a str,
    pub conversation: &'a str,
    /// `None` when no route matched (status `dropped`).
    pub route: Option<(&'a str, &'a str)>,
    pub message: &'a Value,
    pub reply: &'a Value,
}

fn delivery_row(row: &AnyRow) -> Result<DeliveryRecord, sqlx::Error> {
    let json = |col: &str| -> Result<Value, sqlx::Error> {
        let text: String = row.try_get(col)?;
        serde_json::from_str(&text).map_err(|e| sqlx::Error::Decode(e.into()))
    };
    Ok(DeliveryRecord {
        channel: row.try_get("channel")?,
        event_id: row.try_get("event_id")?,
        received_at: row.try_get("received_at")?,
        updated_at: row.try_get("updated_at")?,
        status: row.try_get("status")?,
        conversation: row.try_get("conversation")?,
        bot: row.try_get("bot")?,
        workflow: row.try_get("workflow")?,
        run_id: row.try_get("run_id")?,
        message: json("message")?,
        reply: json("reply")?,
        attempts: row.try_get("attempts")?,
        error: row.try_get("error")?,
    })
}

impl Store {
    /// Records a delivery; false when one with the same channel and event id exists (a
    /// redelivery), in which case nothing is written.
    pub(crate) async fn record_delivery(&self, d: &NewDelivery<'_>) -> StoreResult<bool> {
        let now = now_ms();
        let done = sqlx::query(
            "INSERT INTO channel_deliveries (channel, event_id, received_at, updated_at, status, conversation, bot, workflow, message, reply)
             VALUES ($1, $2, $3, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (channel, event_id) DO NOTHING",
        )
        .bind(d.channel)
        .bind(d.event_id)
        .bind(now)
        .bind(if d.route.is_some() { "routed" } else { "dropped" })
        .bind(d.conversation)
        .bind(d.route.map(|r| r.0))
        .bind(d.route.map(|r| r.1))
        .bind(d.message.to_string())
        .bind(d.reply.to_string())
        .execute(&self.pool)
        .await
        .context(format!("cannot record the delivery of {} from {}", d.event_id, d.channel))?;
        Ok(done.rows_affected() == 1)
    }

    /// Sets a delivery's run, status, answer attempts and last error.
    pub(crate) async fn update_delivery(
        &self,
        channel: &str,
        event_id: &str,
        status: &str,
        run_id: Option<&str>,
        attempts: i64,
        error: Option<&str>,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE channel_deliveries SET status = $1, run_id = COALESCE($2, run_id), attempts = $3, error = $4, updated_at = $5
             WHERE channel = $6 AND event_id = $7",
        )
        .bind(status)
        .bind(run_id)
        .bind(attempts)
        .bind(error)
        .bind(now_ms())
        .bind(channel)
        .bind(event_id)
        .execute(&self.pool)
        .await
        .context(format!("cannot update the delivery of {event_id} from {channel}"))?;
        Ok(())
    }

    /// The newest deliveries first, of one channel or of all.
    pub async fn deliveries(&self, channel: Option<&str>, limit: i64) -> StoreResult<Vec<DeliveryRecord>> {
        let rows = match channel {
            Some(c) => sqlx::query(
                "SELECT * FROM channel_deliveries WHERE channel = $1 ORDER BY received_at DESC, event_id DESC LIMIT $2",
            )
            .bind(c)
            .bind(limit),
            None => sqlx::query("SELECT * FROM channel_deliveries ORDER BY received_at DESC, event_id DESC LIMIT $1")
                .bind(limit),
        }
        .fetch_all(&self.pool)
        .await
        .context("cannot read deliveries")?;
        rows.iter().map(delivery_row).collect::<Result<_, _>>().context("bad delivery row")
    }

    /// The deliveries whose run was started but whose answer was not sent: what a server
    /// starting up answers once their runs end (a killed server's were lost with it).
    pub async fn routed_deliveries(&self) -> StoreResult<Vec<DeliveryRecord>> {
        let rows = sqlx::query("SELECT * FROM channel_deliveries WHERE status = 'routed' ORDER BY received_at")
            .fetch_all(&self.pool)
            .await
            .context("cannot read deliveries")?;
        rows.iter().map(delivery_row).collect::<Result<_, _>>().context("bad delivery row")
    }
}
