//! Agents' identities and links (DESIGN.md, "Agent link"): their keys, and each link that comes
//! up, goes down or is refused. These are the only writes of the agent table the core offers,
//! and every one is audited (kind `agent`). An agent's tools are a tool server's, named
//! `agent:NAME`, stored and quarantined by [`super::quarantine`].

use crate::audit::{AuditEntry, AuditKind, Trail};
use crate::store::{AgentRecord, Store};
use monstrum_model::AGENT_PREFIX;
use serde_json::{Value, json};

/// Records a new agent key (its hash); false if an agent of that name exists.
pub async fn create_key(store: &Store, name: &str, hash: &str, by: &str) -> anyhow::Result<bool> {
    if !store.create_agent_key(name, hash).await? {
        return Ok(false);
    }
    audit(store, Some(name), "key_created", json!({ "by": by })).await?;
    Ok(true)
}

/// Revokes agent `name`'s key; false if it has no live key. A server holding its link closes it
/// at its next look (within a second).
pub async fn revoke_key(store: &Store, name: &str, by: &str) -> anyhow::Result<bool> {
    if !store.revoke_agent_key(name).await? {
        return Ok(false);
    }
    audit(store, Some(name), "revoked", json!({ "by": by })).await?;
    Ok(true)
}

/// The agent whose key hashes to `hash`; a key that is unknown or revoked is refused, and the
/// refusal audited with `from` (the peer's address).
pub async fn authenticate(store: &Store, hash: &str, from: &str) -> anyhow::Result<Option<AgentRecord>> {
    let agent = store.agent_by_key(hash).await?;
    if agent.is_none() {
        audit(store, None, "refused", json!({ "from": from, "reason": "an unknown or revoked agent key" })).await?;
    }
    Ok(agent)
}

/// Records that agent `name`'s link came up (`up`) or went down, with `detail`.
pub async fn linked(store: &Store, name: &str, up: bool, detail: Value) -> anyhow::Result<()> {
    store.agent_link(name, up).await?;
    audit(store, Some(name), if up { "connected" } else { "disconnected" }, detail).await
}

/// Marks every link down (a server starting: a killed one's links died with it).
pub async fn links_down(store: &Store) -> anyhow::Result<()> {
    Ok(store.agent_links_down().await?)
}

async fn audit(store: &Store, agent: Option<&str>, what: &str, detail: Value) -> anyhow::Result<()> {
    let mut entry = AuditEntry::new(AuditKind::Agent).decided(what, None).with_detail(detail);
    if let Some(name) = agent {
        entry = entry.on(format!("{AGENT_PREFIX}{name}"));
    }
    Trail::in_store(store.clone()).append(entry).await.map_err(|e| anyhow::anyhow!("the audit trail: {e}"))?;
    Ok(())
}
