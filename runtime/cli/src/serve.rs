//! `monstrum serve` and `monstrum token`: the workspace as a server, and the tokens that open it.

use crate::{EXIT_DONE, EXIT_FAILED, EXIT_INVALID, Global};
use monstrum_core::store::Store;
use monstrum_core::workspace::Workspace;
use monstrum_server::auth::{Role, new_token};
use serde_json::json;
use std::net::SocketAddr;
use std::path::Path;

fn workspace(global: &Global) -> anyhow::Result<Workspace> {
    Workspace::discover(global.workspace.as_deref(), Path::new("."))
}

/// `monstrum serve [--addr 127.0.0.1:7410] [--allow-remote]`
pub async fn serve(global: &Global, addr: SocketAddr, allow_remote: bool) -> anyhow::Result<u8> {
    let app = monstrum_server::state::App::open(workspace(global)?, global.db.as_deref()).await?;
    let every = |var: &str, default_ms: u64| {
        std::time::Duration::from_millis(std::env::var(var).ok().and_then(|v| v.parse().ok()).unwrap_or(default_ms))
    };
    let options = monstrum_server::Options {
        addr,
        allow_remote,
        sweep_every: every("MONSTRUM_SWEEP_MS", 5_000),
        reload_every: every("MONSTRUM_RELOAD_MS", 1_000),
    };
    monstrum_server::serve(app, options).await?;
    Ok(EXIT_DONE)
}

async fn store(global: &Global) -> anyhow::Result<Store> {
    Ok(Store::open(&workspace(global)?.store_url(global.db.as_deref())?).await?)
}

/// `monstrum token create (--role ROLE | --bot BOT) [--name NAME]`: the token is printed once, on
/// the last line. A bot's token opens `/mcp` (that bot's tools) and no API route.
pub async fn create(
    global: &Global,
    role: Option<&str>,
    bot: Option<String>,
    name: Option<String>,
) -> anyhow::Result<u8> {
    // clap lets exactly one of --role and --bot through.
    let role = match role.map(str::parse::<Role>) {
        None => "bot",
        Some(Ok(role)) => role.as_str(),
        Some(Err(e)) => {
            crate::report_error(global, &anyhow::anyhow!("{e}"));
            return Ok(EXIT_INVALID);
        }
    };
    let name = name.unwrap_or_else(|| format!("{}-{}", global.who(), &uuid::Uuid::new_v4().simple().to_string()[..6]));
    let valid = !name.is_empty()
        && name.len() <= 64
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@'));
    if !valid {
        crate::report_error(
            global,
            &anyhow::anyhow!("`{name}` is not a token name (letters, digits, - _ . @; at most 64)"),
        );
        return Ok(EXIT_INVALID);
    }
    if let Some(bot) = &bot
        && let Err(e) = workspace(global)?.bot(bot)
    {
        crate::report_error(global, &e.context(format!("cannot bind a token to bot `{bot}`")));
        return Ok(EXIT_INVALID);
    }
    let (token, hash) = new_token()?;
    if !store(global).await?.create_token(&name, role, bot.as_deref(), &hash).await? {
        crate::report_error(global, &anyhow::anyhow!("a token named {name} exists (names are never reused)"));
        return Ok(EXIT_FAILED);
    }
    let what = bot.as_ref().map_or_else(|| role.to_string(), |b| format!("bot {b}, for /mcp"));
    if global.json {
        println!("{}", json!({ "type": "token", "name": name, "role": role, "bot": bot, "token": token }));
    } else {
        println!("token {name} ({what}) created; it is shown this once and cannot be read again:");
        println!("{token}");
    }
    Ok(EXIT_DONE)
}

/// `monstrum token list`: names, roles, last use; never a token.
pub async fn list(global: &Global) -> anyhow::Result<u8> {
    let tokens = store(global).await?.tokens().await?;
    if global.json {
        for t in &tokens {
            println!(
                "{}",
                json!({ "type": "token", "name": t.name, "role": t.role, "bot": t.bot, "created_at": t.created_at, "last_used_at": t.last_used_at, "revoked_at": t.revoked_at })
            );
        }
        return Ok(EXIT_DONE);
    }
    if tokens.is_empty() {
        println!("no tokens: monstrum token create --role viewer");
        return Ok(EXIT_DONE);
    }
    let time = |ms: Option<i64>| ms.map_or_else(|| "-".into(), crate::local_time::local_time);
    println!("{:<24}  {:<12}  {:<19}  {:<19}  REVOKED", "NAME", "ROLE", "CREATED", "LAST USED");
    for t in tokens {
        println!(
            "{:<24}  {:<12}  {:<19}  {:<19}  {}",
            t.name,
            t.bot.as_ref().map_or_else(|| t.role.clone(), |b| format!("bot:{b}")),
            time(Some(t.created_at)),
            time(t.last_used_at),
            time(t.revoked_at)
        );
    }
    Ok(EXIT_DONE)
}

/// `monstrum token revoke NAME`
pub async fn revoke(global: &Global, name: &str) -> anyhow::Result<u8> {
    if !store(global).await?.revoke_token(name).await? {
        crate::report_error(global, &anyhow::anyhow!("no live token named {name}"));
        return Ok(EXIT_FAILED);
    }
    if global.json {
        println!("{}", json!({ "type": "token_revoked", "name": name }));
    } else {
        println!("token {name} revoked");
    }
    Ok(EXIT_DONE)
}
