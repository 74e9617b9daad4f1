//! The channel gateway's record of what it received (DESIGN.md, "Channels"): these are the only
//! writes of the deliveries table the core offers, and each outcome is audited (kind
//! `channel`): a message routed to a bot (with its run), dropped because no route matched, or
//! whose answer could not be delivered. A request that does not verify is not recorded here: it
//! never becomes a message.

use crate::audit::{AuditEntry, AuditKind, Trail};
use crate::store::{NewDelivery, Store};
use serde_json::{Value, json};

/// Records a delivery and audits where it goes, in one commit; false for a redelivery (the same
/// event id from the same channel), which is neither recorded again nor audited.
pub async fn received(store: &Store, delivery: &NewDelivery<'_>) -> anyhow::Result<bool> {
    let (decision, bot) = match delivery.route {
        Some((bot, _)) => ("routed", Some(bot)),
        None => ("dropped", None),
    };
    let detail = json!({
        "event_id": delivery.event_id,
        "conversation": delivery.conversation,
        "workflow": delivery.route.map(|r| r.1),
        "user": delivery.message.get("user"),
    });
    let reason = bot.is_none().then(|| "no route matched".to_string());
    let entry = entry(delivery.channel, bot, None, decision, reason, detail);
    Ok(store.record_delivery(delivery, entry).await?)
}

/// Records the run a routed delivery started.
pub async fn started(store: &Store, channel: &str, event_id: &str, run_id: &str) -> anyhow::Result<()> {
    Ok(store.update_delivery(channel, event_id, "routed", Some(run_id), 0, None).await?)
}

/// Records that the answer was delivered (after `attempts` tries).
pub async fn answered(store: &Store, channel: &str, event_id: &str, attempts: i64) -> anyhow::Result<()> {
    Ok(store.update_delivery(channel, event_id, "answered", None, attempts, None).await?)
}

/// Records, and audits, that the answer could not be delivered: never silently.
pub async fn unanswered(
    store: &Store,
    channel: &str,
    event_id: &str,
    run_id: Option<&str>,
    attempts: i64,
    error: &str,
) -> anyhow::Result<()> {
    store.update_delivery(channel, event_id, "unanswered", None, attempts, Some(error)).await?;
    let detail = json!({ "event_id": event_id, "attempts": attempts });
    let entry = entry(channel, None, run_id, "unanswered", Some(error.to_string()), detail);
    Trail::in_store(store.clone()).append(entry).await.map_err(|e| anyhow::anyhow!("the audit trail: {e}"))?;
    Ok(())
}

fn entry(
    channel: &str,
    bot: Option<&str>,
    run: Option<&str>,
    decision: &str,
    reason: Option<String>,
    detail: Value,
) -> AuditEntry {
    let mut entry = AuditEntry::new(AuditKind::Channel).on(channel).decided(decision, reason).with_detail(detail);
    entry.bot = bot.map(str::to_string);
    entry.run = run.map(str::to_string);
    entry
}
