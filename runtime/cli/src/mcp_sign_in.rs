//! Signing in to an MCP server that asks a person to authorize (OAuth's authorization-code
//! flow, [`monstrum_mcp::sign_in`]): at `mcp add`, and again with `mcp login NAME` when the
//! sign-in has lapsed. The browser opens on the authorization page (`$BROWSER`, else the
//! desktop's), and the page's address is printed for a person on another screen.

use anyhow::{Context, bail};
use monstrum_core::store::{McpAuth, McpServerRecord};
use monstrum_core::vault::Vault;
use monstrum_mcp::auth::AUTHORIZATION_CODE;
use monstrum_mcp::sign_in::{self, Kept, Preregistered, SIGN_IN_TIMEOUT};

/// What `mcp add` was given for a sign-in: a client registered beforehand (its id, and the vault
/// entry of its secret) and the scopes to ask for.
pub struct Asked {
    pub client_id: Option<String>,
    pub secret: Option<String>,
    pub scopes: Vec<String>,
}

/// Signs in to the server at `url` (which answered `challenge`) to register it as `name`: the
/// tokens go into the vault entry the returned `auth` names.
pub async fn add(vault: &Vault, name: &str, url: &str, challenge: &str, asked: Asked) -> anyhow::Result<McpAuth> {
    let entry = entry(name)?;
    if vault.get(&entry).await.is_ok() {
        bail!(
            "the vault holds an entry `{entry}` already: remove it (`monstrum vault rm {entry}`) to sign in to `{name}`"
        );
    }
    let client_secret = match &asked.secret {
        Some(secret) => Some(read(vault, secret).await?),
        None => None,
    };
    let client = Preregistered { client_id: asked.client_id, client_secret, redirect_uri: None };
    let signed =
        sign_in::sign_in(url, challenge, None, client, asked.scopes, SIGN_IN_TIMEOUT, |page| present(name, page))
            .await
            .map_err(anyhow::Error::msg)?;
    keep(vault, &entry, &signed.kept).await?;
    Ok(McpAuth {
        method: AUTHORIZATION_CODE.into(),
        client_id: signed.client_id,
        secret: entry,
        scopes: signed.scopes,
        metadata: signed.metadata,
    })
}

/// Signs in again to `server`, registered with a sign-in, as the same client and with the same
/// (pinned) authorization server; its tokens are replaced.
pub async fn login(vault: &Vault, server: &McpServerRecord) -> anyhow::Result<()> {
    let name = &server.name;
    let Some(auth) = server.auth.as_ref().filter(|a| a.method == AUTHORIZATION_CODE) else {
        bail!(
            "MCP server `{name}` was not registered with a sign-in: its credentials are a header or client credentials"
        );
    };
    let kept: Kept = serde_json::from_str(&read(vault, &auth.secret).await?)
        .with_context(|| format!("the vault entry `{}` of `{name}`'s sign-in", auth.secret))?;
    let challenge = sign_in::challenge(&server.url).await.map_err(anyhow::Error::msg)?.unwrap_or_default();
    let client = Preregistered {
        client_id: Some(auth.client_id.clone()),
        client_secret: kept.client_secret,
        redirect_uri: Some(kept.redirect_uri),
    };
    let signed = sign_in::sign_in(
        &server.url,
        &challenge,
        Some(&auth.metadata),
        client,
        auth.scopes.clone(),
        SIGN_IN_TIMEOUT,
        |page| present(name, page),
    )
    .await
    .map_err(anyhow::Error::msg)?;
    keep(vault, &auth.secret, &signed.kept).await
}

/// The vault entry that keeps the sign-in of server `name`.
pub fn entry(name: &str) -> anyhow::Result<String> {
    let entry = format!("mcp.{}.sign-in", name.to_ascii_lowercase());
    monstrum_core::vault::check_name(&entry).map_err(|_| anyhow::anyhow!("`{name}` makes no vault entry name"))?;
    Ok(entry)
}

async fn keep(vault: &Vault, entry: &str, kept: &Kept) -> anyhow::Result<()> {
    let text = zeroize::Zeroizing::new(serde_json::to_vec(kept)?);
    vault.set(entry, &text).await.with_context(|| format!("keeping the sign-in in the vault entry `{entry}`"))
}

async fn read(vault: &Vault, entry: &str) -> anyhow::Result<String> {
    let secret = vault.get(entry).await.with_context(|| format!("the vault entry `{entry}`"))?;
    Ok(secret.expose_str().with_context(|| format!("the vault entry `{entry}` is not UTF-8 text"))?.to_string())
}

/// Shows the authorization page: its address on stderr (stdout may be JSON), and the browser
/// opened on it from a thread of its own (a text browser runs until it is closed, and the
/// loopback listener must answer it meanwhile).
fn present(name: &str, page: &str) {
    eprintln!("MCP server `{name}` asks you to sign in; opening this page in your browser:\n  {page}");
    let page = page.to_string();
    std::thread::spawn(move || {
        if let Err(e) = webbrowser::open(&page) {
            eprintln!("no browser could be opened ({e}): open the page above yourself");
        }
    });
}
