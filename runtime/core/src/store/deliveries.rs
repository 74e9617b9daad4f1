//! The channel gateway's deliveries (migration 0017): each event a service sent, by its own
//! event id, with what became of it. The primary key makes a redelivery a refused insert, so a
//! message runs once however often the service sends it, across restarts.

use super::batch_sql::{Q, values};
use super::writer::{Ack, WriteOp};
use super::{Context, Store, StoreResult, now_ms};
use crate::audit::AuditEntry;
use serde::Serialize;
use serde_json::Value;
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};
use std::collections::HashMap;

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

/// A new delivery as the store writer inserts it.
pub(super) struct DeliveryRow {
    channel: String,
    event_id: String,
    received_at: i64,
    status: &'static str,
    conversation: String,
    bot: Option<String>,
    workflow: Option<String>,
    message: String,
    reply: String,
}

/// The deliveries' insert (`{}`: its rows of values) and the number of columns of a row.
pub(super) const INSERT: (&str, usize) = (
    "INSERT INTO channel_deliveries (channel, event_id, received_at, updated_at, status, conversation, bot, workflow, message, reply)
     VALUES {}",
    10,
);

/// Binds a delivery's row, in the order of [`INSERT`]'s columns.
pub(super) fn bind<'q>(query: Q<'q>, d: &'q DeliveryRow) -> Q<'q> {
    query
        .bind(d.channel.as_str())
        .bind(d.event_id.as_str())
        .bind(d.received_at)
        .bind(d.received_at)
        .bind(d.status)
        .bind(d.conversation.as_str())
        .bind(d.bot.as_deref())
        .bind(d.workflow.as_deref())
        .bind(d.message.as_str())
        .bind(d.reply.as_str())
}

/// Inserts the batch's deliveries in one statement, in `tx`, and gives the indexes (in the batch,
/// ascending) of those that were new: of several with one key, the first. `numbered`: `$1`
/// placeholders (PostgreSQL), else `?` (SQLite).
pub(super) async fn insert_deliveries(
    tx: &mut Transaction<'static, Any>,
    batch: &[(WriteOp, Ack)],
    numbered: bool,
) -> StoreResult<Vec<usize>> {
    let rows: Vec<(usize, &DeliveryRow)> = batch
        .iter()
        .enumerate()
        .filter_map(|(i, (op, _))| match op {
            WriteOp::Delivery(row, _) => Some((i, &**row)),
            _ => None,
        })
        .collect();
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let (template, columns) = INSERT;
    let sql = template.replace("{}", &values(numbered.then_some(1), rows.len(), columns))
        + " ON CONFLICT (channel, event_id) DO NOTHING RETURNING channel, event_id";
    let query = rows.iter().fold(sqlx::query(sqlx::AssertSqlSafe(sql)), |query, (_, d)| bind(query, d));
    let inserted = query.fetch_all(&mut **tx).await.context("cannot record the channels' deliveries")?;
    let mut first: HashMap<(&str, &str), usize> = HashMap::new();
    for (i, d) in rows.iter().rev() {
        first.insert((&d.channel, &d.event_id), *i);
    }
    let mut new = Vec::with_capacity(inserted.len());
    for row in &inserted {
        let (channel, event_id): (String, String) =
            (row.try_get(0).context("bad delivery row")?, row.try_get(1).context("bad delivery row")?);
        new.extend(first.get(&(channel.as_str(), event_id.as_str())));
    }
    new.sort_unstable();
    Ok(new)
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
    /// Records a delivery and, if it is new, `audit` with it (one commit, with whatever else the
    /// store writer has queued); false when one with the same channel and event id exists (a
    /// redelivery), in which case nothing is written.
    pub(crate) async fn record_delivery(&self, d: &NewDelivery<'_>, audit: AuditEntry) -> StoreResult<bool> {
        let row = DeliveryRow {
            channel: d.channel.to_string(),
            event_id: d.event_id.to_string(),
            received_at: now_ms(),
            status: if d.route.is_some() { "routed" } else { "dropped" },
            conversation: d.conversation.to_string(),
            bot: d.route.map(|r| r.0.to_string()),
            workflow: d.route.map(|r| r.1.to_string()),
            message: d.message.to_string(),
            reply: d.reply.to_string(),
        };
        let sealed = self.writer.commit(WriteOp::Delivery(Box::new(row), audit)).await?;
        Ok(sealed.is_some())
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
