//! `monstrum agent` (the daemon beside an existing agent), `monstrum agent-key create | revoke`,
//! and `monstrum agents` (DESIGN.md, "Agent link").

use crate::{EXIT_DONE, EXIT_FAILED, Global};
use clap::Subcommand;
use monstrum_core::governance::agent_link;
use monstrum_core::store::{Store, new_secret};
use monstrum_core::workspace::{Workspace, plain_name};
use monstrum_model::AGENT_PREFIX;
use serde_json::json;
use std::path::{Path, PathBuf};

#[derive(Subcommand)]
pub enum AgentKeyAction {
    /// A new agent and its key, printed once, on the last line.
    Create { name: String },
    /// Revoke an agent's key: a server holding its link closes it, and it links no more.
    Revoke { name: String },
}

async fn store(global: &Global) -> anyhow::Result<Store> {
    let workspace = Workspace::discover(global.workspace.as_deref(), Path::new("."))?;
    Ok(Store::open(&workspace.store_url(global.db.as_deref())?).await?)
}

/// `monstrum agent --server URL --key KEY [--config agent.yaml]`
pub async fn daemon(server: String, key: Option<String>, config: Option<PathBuf>) -> anyhow::Result<u8> {
    let key = key.or_else(|| std::env::var("MONSTRUM_AGENT_KEY").ok()).ok_or_else(|| {
        anyhow::anyhow!("give the agent key with --key or MONSTRUM_AGENT_KEY (monstrum agent-key create)")
    })?;
    let config = match config {
        Some(path) => monstrum_agent::config::Config::read(&path)?,
        None => monstrum_agent::config::Config::default(),
    };
    // Compiled plugin components are kept with the user's caches, as a workspace keeps its own.
    let cache_dir = std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache/monstrum/plugin-cache"));
    monstrum_agent::daemon::run(monstrum_agent::daemon::Options { server, key, config, cache_dir }).await?;
    Ok(EXIT_DONE)
}

/// `monstrum agent-key create NAME | revoke NAME`
pub async fn key(global: &Global, action: AgentKeyAction) -> anyhow::Result<u8> {
    let store = store(global).await?;
    match action {
        AgentKeyAction::Create { name } => {
            plain_name("agent", &name)?;
            if store.mcp_server(&name).await?.is_some() {
                anyhow::bail!("an MCP server is registered as `{name}`: an agent needs a name of its own");
            }
            let (key, hash) = new_secret("mak_")?;
            if !agent_link::create_key(&store, &name, &hash, &global.who()).await? {
                crate::report_error(global, &anyhow::anyhow!("an agent named {name} exists (names are never reused)"));
                return Ok(EXIT_FAILED);
            }
            if global.json {
                println!("{}", json!({ "type": "agent_key", "name": name, "key": key }));
            } else {
                println!("agent {name} created; its key is shown this once and cannot be read again:");
                println!("{key}");
            }
        }
        AgentKeyAction::Revoke { name } => {
            if !agent_link::revoke_key(&store, &name, &global.who()).await? {
                crate::report_error(global, &anyhow::anyhow!("no agent named {name} has a live key"));
                return Ok(EXIT_FAILED);
            }
            if global.json {
                println!("{}", json!({ "type": "agent_key_revoked", "name": name }));
            } else {
                println!("agent {name}'s key revoked");
            }
        }
    }
    Ok(EXIT_DONE)
}

/// `monstrum agents`: each agent, whether a server holds its link, when it was last seen, and
/// its tools (approved, or quarantined).
pub async fn list(global: &Global) -> anyhow::Result<u8> {
    let store = store(global).await?;
    let agents = store.agents().await?;
    if agents.is_empty() && !global.json {
        println!("no agents (create one with `monstrum agent-key create NAME`)");
    }
    let time = |ms: Option<i64>| ms.map_or_else(|| "-".into(), crate::local_time::local_time);
    for a in agents {
        let tools = store.mcp_tools(&format!("{AGENT_PREFIX}{}", a.name)).await?;
        let state = a.state();
        if global.json {
            let tools: Vec<_> = tools.iter().map(|t| json!({ "name": t.seen.name, "state": t.state() })).collect();
            println!(
                "{}",
                json!({ "type": "agent", "name": a.name, "state": state, "connected_at": a.connected_at,
                        "last_seen_at": a.last_seen_at, "revoked_at": a.revoked_at, "tools": tools })
            );
        } else {
            let quarantined = tools.iter().filter(|t| t.state() != "approved").count();
            println!(
                "{:<20} {:<12} last seen {:<19}  {} tools, {} quarantined",
                a.name,
                state,
                time(a.last_seen_at),
                tools.len(),
                quarantined
            );
        }
    }
    Ok(EXIT_DONE)
}
