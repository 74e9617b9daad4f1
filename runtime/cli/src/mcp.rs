//! `monstrum mcp add | list | tools | refresh | approve | remove`: MCP servers whose tools bots
//! bind with `- mcp: NAME` (DESIGN.md, "MCP").

use crate::mcp_sign_in::{self, Asked};
use crate::{EXIT_DONE, EXIT_FAILED, Global};
use anyhow::{Context, bail};
use clap::Subcommand;
use monstrum_core::events::EventSink;
use monstrum_core::governance::quarantine::{self, Refresh};
use monstrum_core::store::{McpAuth, Store};
use monstrum_core::vault::Vault;
use monstrum_core::workspace::Workspace;
use monstrum_mcp::auth::AUTHORIZATION_CODE;
use monstrum_mcp::{McpError, registry, sign_in};
use serde_json::json;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Subcommand)]
pub enum McpAction {
    /// Register the Streamable HTTP MCP server at URL as NAME; its tools as listed now are approved.
    Add {
        name: String,
        url: String,
        /// A header sent with every request to this server, its value the secret of a vault
        /// entry: NAME=VAULT_ENTRY (repeatable; `Authorization=ENTRY` for a bearer token).
        #[arg(long = "header", value_name = "NAME=VAULT_ENTRY")]
        headers: Vec<String>,
        /// Get tokens with OAuth 2.1: `client-credentials` (a client secret), `private-key-jwt`
        /// (an ES256 key in PEM), or `authorization-code` (a person signs in in a browser; the
        /// default for a server that answers 401 when neither --auth nor --header is given).
        #[arg(long, value_name = "KIND", value_parser = ["client-credentials", "private-key-jwt", "authorization-code"])]
        auth: Option<String>,
        /// The OAuth client id (for a sign-in: a client registered beforehand, instead of
        /// Monstrum registering itself).
        #[arg(long)]
        client_id: Option<String>,
        /// The vault entry of the client secret (or of the PEM private key).
        #[arg(long, value_name = "VAULT_ENTRY")]
        secret: Option<String>,
        /// The token endpoint (default: found through the server's OAuth metadata).
        #[arg(long, value_name = "URL", requires = "auth")]
        token_url: Option<String>,
        /// A scope to ask for (repeatable).
        #[arg(long = "scope", value_name = "SCOPE")]
        scopes: Vec<String>,
    },
    /// Sign in again to a server registered with a sign-in, when its tokens have lapsed.
    Login { name: String },
    /// The registered servers.
    List,
    /// A server's tools: approved, or quarantined (new, changed).
    Tools { name: String },
    /// List a server's tools again: new and changed tools are quarantined, removed ones forgotten.
    Refresh { name: String },
    /// Approve a quarantined tool as the server describes it now.
    Approve { name: String, tool: String },
    /// Forget a server and its tools.
    Remove { name: String },
    /// Be an MCP server on stdin and stdout: offer exactly the tools BOT sees, each call through
    /// the gate under BOT and audited.
    Serve {
        #[arg(long)]
        bot: String,
    },
}

async fn open(global: &Global) -> anyhow::Result<(Store, PathBuf)> {
    let workspace = Workspace::discover(global.workspace.as_deref(), Path::new("."))?;
    let store = Store::open(&workspace.store_url(global.db.as_deref())?).await?;
    Ok((store, workspace.data_dir()))
}

pub async fn run(global: &Global, action: McpAction) -> anyhow::Result<u8> {
    let (store, data_dir) = open(global).await?;
    let vault = || Vault::open(&data_dir, store.clone());
    match action {
        McpAction::Add { name, url, headers, auth, client_id, secret, token_url, scopes } => {
            monstrum_core::workspace::plain_name("MCP server", &name)?;
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                bail!("`{url}` is not an http:// or https:// URL");
            }
            let mut by_header = BTreeMap::new();
            for h in &headers {
                let Some((header, entry)) = h.split_once('=') else {
                    bail!("--header {h}: expected NAME=VAULT_ENTRY");
                };
                by_header.insert(header.trim().to_string(), entry.trim().to_string());
            }
            if store.mcp_server(&name).await?.is_some() {
                bail!("an MCP server named `{name}` is registered already");
            }
            let asked = Asked { client_id: client_id.clone(), secret: secret.clone(), scopes: scopes.clone() };
            if auth.is_none() && (client_id.is_some() || secret.is_some() || !scopes.is_empty()) {
                bail!("--client-id, --secret and --scope go with --auth");
            }
            let auth = match auth {
                Some(kind) if kind == "authorization-code" => Some(sign_in(&vault()?, &name, &url, asked).await?),
                None => None,
                Some(kind) => {
                    let (Some(client_id), Some(secret)) = (client_id, secret) else {
                        bail!("--auth {kind} needs --client-id and --secret VAULT_ENTRY");
                    };
                    let method = if kind == "private-key-jwt" { "private_key_jwt" } else { "client_secret" };
                    let metadata =
                        monstrum_mcp::auth::metadata(&url, token_url.as_deref()).await.map_err(anyhow::Error::msg)?;
                    Some(McpAuth { method: method.into(), client_id, secret, scopes, metadata })
                }
            };
            let open = auth.is_none() && by_header.is_empty();
            let mut added = registry::add(&store, &vault()?, &name, &url, by_header.clone(), auth.clone()).await;
            let mut auth = auth;
            // A server that answers 401 to a client with no credentials asks a person to sign
            // in, as an IDE would have them do.
            if open && matches!(added.as_ref().map_err(|e| e.downcast_ref()), Err(Some(McpError::AuthRequired { .. })))
            {
                let asked = Asked { client_id: None, secret: None, scopes: Vec::new() };
                auth = Some(sign_in(&vault()?, &name, &url, asked).await?);
                added = registry::add(&store, &vault()?, &name, &url, by_header, auth.clone()).await;
            }
            let kept = auth.as_ref().filter(|a| a.method == AUTHORIZATION_CODE).map(|a| a.secret.clone());
            let refresh = match added {
                Ok(refresh) => refresh,
                Err(e) => {
                    if let Some(entry) = kept {
                        let _ = vault()?.remove(&entry).await;
                    }
                    return Err(e);
                }
            };
            report(global, "mcp_added", &name, &refresh);
            Ok(EXIT_DONE)
        }
        McpAction::List => {
            // An agent's tools are kept as server `agent:NAME`: `monstrum agents` lists those.
            let servers: Vec<_> = store
                .mcp_servers()
                .await?
                .into_iter()
                .filter(|s| !s.name.starts_with(monstrum_model::AGENT_PREFIX))
                .collect();
            if servers.is_empty() && !global.json {
                println!("no MCP servers (register one with `monstrum mcp add NAME URL`)");
            }
            for s in &servers {
                let tools = store.mcp_tools(&s.name).await?;
                let quarantined = tools.iter().filter(|t| t.state() != "approved").count();
                if global.json {
                    println!(
                        "{}",
                        json!({ "type": "mcp_server", "name": s.name, "url": s.url, "headers": s.headers.keys().collect::<Vec<_>>(),
                                "tools": tools.len(), "quarantined": quarantined, "refreshed_at": s.refreshed_at })
                    );
                } else {
                    println!("{:<20} {}  {} tools, {} quarantined", s.name, s.url, tools.len(), quarantined);
                }
            }
            Ok(EXIT_DONE)
        }
        McpAction::Tools { name } => {
            registry::registered(&store, &name).await?;
            for t in store.mcp_tools(&name).await? {
                let shown = t.approved.as_ref().unwrap_or(&t.seen);
                if global.json {
                    println!(
                        "{}",
                        json!({ "type": "mcp_tool", "server": name, "name": t.seen.name, "state": t.state(),
                                "description": shown.description, "fingerprint": t.seen_fingerprint,
                                "effect": t.seen.effect().as_str() })
                    );
                } else {
                    println!("{:<32} {:<9} {}", t.seen.name, t.state(), first_line(&shown.description));
                    if t.state() == "changed" {
                        println!("{:<32} {:<9} now: {}", "", "", first_line(&t.seen.description));
                    }
                }
            }
            Ok(EXIT_DONE)
        }
        McpAction::Login { name } => {
            let server = registry::registered(&store, &name).await?;
            mcp_sign_in::login(&vault()?, &server).await?;
            let refresh = registry::refresh(&store, &vault()?, &name).await?;
            report(global, "mcp_refreshed", &name, &refresh);
            Ok(EXIT_DONE)
        }
        McpAction::Refresh { name } => {
            let refresh = registry::refresh(&store, &vault()?, &name).await?;
            report(global, "mcp_refreshed", &name, &refresh);
            Ok(EXIT_DONE)
        }
        McpAction::Approve { name, tool } => {
            registry::registered(&store, &name).await?;
            if !quarantine::approve(&store, &name, &tool, &global.who()).await? {
                bail!("MCP server `{name}` has no tool `{tool}` (see `monstrum mcp tools {name}`)");
            }
            if global.json {
                println!("{}", json!({ "type": "mcp_approved", "server": name, "tool": tool }));
            } else {
                println!("approved {tool} of {name}");
            }
            Ok(EXIT_DONE)
        }
        McpAction::Serve { bot } => serve(global, &bot).await,
        McpAction::Remove { name } => {
            let server = store.mcp_server(&name).await?;
            if !quarantine::unregister(&store, &name, &global.who()).await? {
                eprintln!("no MCP server is registered as `{name}`");
                return Ok(EXIT_FAILED);
            }
            // A sign-in's tokens go with the server (a header's or a client's secret is the
            // user's own entry, and stays).
            if let Some(auth) = server.and_then(|s| s.auth).filter(|a| a.method == AUTHORIZATION_CODE) {
                let _ = vault()?.remove(&auth.secret).await;
            }
            println!("removed {name}");
            Ok(EXIT_DONE)
        }
    }
}

/// Signs in to the server at `url` for `name` (it must answer 401: a sign-in needs its challenge).
async fn sign_in(vault: &Vault, name: &str, url: &str, asked: Asked) -> anyhow::Result<McpAuth> {
    let challenge = sign_in::challenge(url)
        .await
        .map_err(anyhow::Error::msg)?
        .with_context(|| format!("{url} lets clients in without authorization: no sign-in is needed"))?;
    mcp_sign_in::add(vault, name, url, &challenge, asked).await
}

/// `mcp serve --bot NAME`: stdout is the protocol's, so nothing else is printed there.
async fn serve(global: &Global, bot: &str) -> anyhow::Result<u8> {
    let mut workspace = Workspace::discover(global.workspace.as_deref(), Path::new("."))?;
    let opened = crate::diagnostics::load_mcp(global, &mut workspace).await?;
    let engine = crate::run::open_engine(global, workspace, opened, EventSink::none()).await?;
    monstrum_mcp::BotServer::new(std::sync::Arc::new(engine), bot)?.serve_stdio().await?;
    Ok(EXIT_DONE)
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or_default()
}

fn report(global: &Global, kind: &str, name: &str, refresh: &Refresh) {
    if global.json {
        println!("{}", json!({ "type": kind, "server": name, "refresh": refresh }));
        return;
    }
    if kind == "mcp_added" {
        println!("registered {name}: {} tools approved", refresh.approved.len());
    } else if refresh.is_empty() {
        println!("{name}: no change ({} tools approved)", refresh.approved.len());
    }
    for (sign, what, tools) in [
        ("+", "new, quarantined", &refresh.added),
        ("~", "changed, quarantined", &refresh.changed),
        ("-", "removed", &refresh.removed),
        ("!", "refused: not an MCP tool name", &refresh.refused),
    ] {
        for tool in tools {
            println!("{sign} {tool}  ({what})");
        }
    }
    if !refresh.added.is_empty() || !refresh.changed.is_empty() {
        println!("approve with `monstrum mcp approve {name} TOOL` after reading `monstrum mcp tools {name}`");
    }
}
