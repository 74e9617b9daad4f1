//! Quarantine of MCP tools (DESIGN.md, "MCP"): what a registered server lists is compared with
//! what was stored, by fingerprint. A new tool, or one whose description, schema or annotations
//! changed, is stored as seen but not approved, so the catalog leaves it out and every bot is
//! told "no such tool" until an admin approves it; a removed tool is forgotten. The model only
//! ever sees an approved description. Every change is audited. These are the only writes of
//! the MCP tables that the core offers.

use crate::audit::{AuditEntry, AuditKind, Trail};
use crate::store::{McpServerRecord, McpTool, McpToolChange, McpToolRecord, Store};
use serde::Serialize;
use serde_json::json;
use std::collections::BTreeMap;

/// What a listing changed, by tool name.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Refresh {
    /// Tools the server did not have before (quarantined).
    pub added: Vec<String>,
    /// Tools whose fingerprint changed (quarantined until approved again).
    pub changed: Vec<String>,
    /// Tools the server no longer lists (gone for every bot).
    pub removed: Vec<String>,
    /// Tools listed under a name MCP does not allow (ignored).
    pub refused: Vec<String>,
    /// The tools that may be called now: listed, and as approved.
    pub approved: Vec<String>,
}

impl Refresh {
    /// Whether anything changed.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.changed.is_empty() && self.removed.is_empty()
    }
}

/// A tool name as MCP allows it (1 to 128 of `A-Z a-z 0-9 _ - .`).
pub fn valid_tool_name(name: &str) -> bool {
    (1..=128).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b))
}

/// Registers `server` with the tools it lists now, every one approved (the admin registering
/// it vouches for what it offers today); an error if a server of that name is registered.
pub async fn register(store: &Store, server: &McpServerRecord, listed: Vec<McpTool>) -> anyhow::Result<Refresh> {
    let mut refresh = Refresh::default();
    let mut records = Vec::new();
    for tool in listed {
        if !valid_tool_name(&tool.name) {
            refresh.refused.push(tool.name);
            continue;
        }
        refresh.approved.push(tool.name.clone());
        records.push(McpToolRecord::new(&server.name, tool, true));
    }
    if !store.add_mcp_server(server, &records).await? {
        anyhow::bail!("an MCP server named `{}` is registered already", server.name);
    }
    audit(store, &server.name, "registered", json!({ "url": server.url, "tools": refresh.approved })).await?;
    Ok(refresh)
}

/// Stores what `server` lists now against what was stored, quarantining what is new or changed.
pub async fn record(store: &Store, server: &McpServerRecord, listed: Vec<McpTool>) -> anyhow::Result<Refresh> {
    let mut stored: BTreeMap<String, McpToolRecord> =
        store.mcp_tools(&server.name).await?.into_iter().map(|t| (t.seen.name.clone(), t)).collect();
    let mut refresh = Refresh::default();
    let mut changes = Vec::new();
    for tool in listed {
        if !valid_tool_name(&tool.name) {
            refresh.refused.push(tool.name);
            continue;
        }
        match stored.remove(&tool.name) {
            None => {
                refresh.added.push(tool.name.clone());
                changes.push(McpToolChange::Put(McpToolRecord::new(&server.name, tool, false)));
            }
            Some(old) => {
                let fingerprint = tool.fingerprint();
                let name = tool.name.clone();
                if old.approved_fingerprint.as_ref() == Some(&fingerprint) {
                    refresh.approved.push(name.clone());
                }
                if fingerprint != old.seen_fingerprint {
                    refresh.changed.push(name.clone());
                    let fresh = McpToolRecord::new(&server.name, tool, false);
                    changes.push(McpToolChange::Put(McpToolRecord {
                        approved: old.approved,
                        approved_fingerprint: old.approved_fingerprint,
                        ..fresh
                    }));
                }
            }
        }
    }
    for gone in stored.into_keys() {
        refresh.removed.push(gone.clone());
        changes.push(McpToolChange::Remove(gone));
    }
    store.save_mcp_tools(&server.name, &changes).await?;
    if !refresh.is_empty() {
        let detail = json!({ "added": refresh.added, "changed": refresh.changed, "removed": refresh.removed });
        audit(store, &server.name, "changed", detail).await?;
    }
    Ok(refresh)
}

/// Approves what `server` says of `tool` now; false if it has no such tool.
pub async fn approve(store: &Store, server: &str, tool: &str, by: &str) -> anyhow::Result<bool> {
    let Some(record) = store.mcp_tools(server).await?.into_iter().find(|t| t.seen.name == tool) else {
        return Ok(false);
    };
    if !store.approve_mcp_tool(server, tool).await? {
        return Ok(false);
    }
    let detail = json!({ "tool": tool, "fingerprint": record.seen_fingerprint, "by": by });
    audit(store, server, "approved", detail).await?;
    Ok(true)
}

/// Forgets `server` and its tools; false if none is registered under that name.
pub async fn unregister(store: &Store, server: &str, by: &str) -> anyhow::Result<bool> {
    if !store.remove_mcp_server(server).await? {
        return Ok(false);
    }
    audit(store, server, "removed", json!({ "by": by })).await?;
    Ok(true)
}

async fn audit(store: &Store, server: &str, what: &str, detail: serde_json::Value) -> anyhow::Result<()> {
    // An agent's tools are kept as server `agent:NAME`, which names itself.
    let on =
        if server.starts_with(monstrum_model::AGENT_PREFIX) { server.to_string() } else { format!("mcp:{server}") };
    let entry = AuditEntry::new(AuditKind::McpTools).on(on).decided(what, None).with_detail(detail);
    Trail::in_store(store.clone()).append(entry).await.map_err(|e| anyhow::anyhow!("the audit trail: {e}"))?;
    Ok(())
}
