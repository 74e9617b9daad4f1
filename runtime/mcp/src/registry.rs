//! Registering and refreshing MCP servers: connect, list the tools, and let the core's
//! quarantine ([`monstrum_core::governance::quarantine`]) store them against what was approved.

use crate::client::McpClient;
use monstrum_core::governance::quarantine::{self, Refresh};
use monstrum_core::store::{McpAuth, McpServerRecord, Store};
use monstrum_core::vault::Vault;
use std::collections::BTreeMap;

/// Registers the server at `url` as `name`, sending each header in `headers` with the secret of
/// the vault entry it names, and with tokens from `auth` (see [`crate::auth`]); its tools as
/// listed now are approved.
pub async fn add(
    store: &Store,
    vault: &Vault,
    name: &str,
    url: &str,
    headers: BTreeMap<String, String>,
    auth: Option<McpAuth>,
) -> anyhow::Result<Refresh> {
    if store.mcp_server(name).await?.is_some() {
        anyhow::bail!("an MCP server named `{name}` is registered already");
    }
    let server =
        McpServerRecord { name: name.into(), url: url.into(), headers, auth, created_at: 0, refreshed_at: None };
    let connection = McpClient::connect(vault, &server).await?;
    let listed = connection.tools().await?;
    quarantine::register(store, &server, listed).await
}

/// Lists `name`'s tools again and stores what changed (new and changed tools quarantined).
pub async fn refresh(store: &Store, vault: &Vault, name: &str) -> anyhow::Result<Refresh> {
    let server = registered(store, name).await?;
    let connection = McpClient::connect(vault, &server).await?;
    let listed = connection.tools().await?;
    quarantine::record(store, &server, listed).await
}

/// The server registered as `name`, or an error that says how to register it.
pub async fn registered(store: &Store, name: &str) -> anyhow::Result<McpServerRecord> {
    store
        .mcp_server(name)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no MCP server is registered as `{name}` (see `monstrum mcp list`)"))
}
