//! OAuth 2.1 for MCP servers (rmcp's authorization manager): client credentials, or the tokens
//! of a person's sign-in ([`crate::sign_in`]). The authorization server is found once, when the
//! server is registered (RFC 9728 protected resource metadata, then RFC 8414 or OpenID
//! configuration), or given as a token URL; its metadata is pinned in the store, so a server
//! that later points elsewhere cannot draw the client's secret to another host. With client
//! credentials every connection gets a fresh token; a sign-in's token is refreshed when it
//! expires and kept in the vault.

use crate::sign_in::{Kept, VaultCredentials};
use monstrum_core::store::McpAuth;
use monstrum_core::vault::Vault;
use rmcp::transport::JwtSigningAlgorithm;
use rmcp::transport::auth::{
    AuthClient, AuthorizationManager, AuthorizationMetadata, ClientCredentialsConfig, OAuthClientConfig,
};
use serde_json::{Value, json};

/// The methods a server's `auth` may have: client credentials (a client secret, or a private
/// key), or a person's sign-in.
pub const METHODS: &[&str] = &["client_secret", "private_key_jwt", AUTHORIZATION_CODE];

/// The method of a server a person signed in to; its `secret` is the vault entry of the
/// sign-in's [`Kept`] tokens.
pub const AUTHORIZATION_CODE: &str = "authorization_code";

/// The authorization server's metadata for the MCP server at `url`: made from `token_url` when
/// it is given, else discovered from what the server publishes.
pub async fn metadata(url: &str, token_url: Option<&str>) -> Result<Value, String> {
    if let Some(token) = token_url {
        return Ok(json!({ "authorization_endpoint": token, "token_endpoint": token }));
    }
    let manager = AuthorizationManager::new(url).await.map_err(|e| format!("OAuth for {url}: {e}"))?;
    let found = manager.resolve_metadata().await.map_err(|e| format!("OAuth discovery for {url}: {e}"))?;
    if !found.source.is_discovered() {
        return Err(format!("{url} publishes no OAuth metadata: give the token endpoint with --token-url"));
    }
    serde_json::to_value(found.metadata).map_err(|e| e.to_string())
}

/// An HTTP client for the MCP server at `url` that sends a token obtained with `auth` and
/// `secret` (the client secret, or the PEM private key, or a sign-in's tokens, which are
/// refreshed and kept back in `vault`), from the pinned metadata only.
///
/// rmcp's token exchange for `private_key_jwt` holds a value that is not `Send` across an
/// await, so the exchange runs on a runtime of its own thread; the client it returns is used
/// from any runtime (it keeps no idle connections).
pub async fn authorized(
    url: &str,
    auth: &McpAuth,
    secret: String,
    http: reqwest::Client,
    vault: &Vault,
) -> Result<AuthClient<reqwest::Client>, String> {
    if auth.method == AUTHORIZATION_CODE {
        return signed_in(url, auth, &secret, http, vault).await;
    }
    let (url, auth) = (url.to_string(), auth.clone());
    tokio::task::spawn_blocking(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
        runtime.block_on(exchange(&url, &auth, secret, http))
    })
    .await
    .map_err(|e| format!("the token exchange stopped: {e}"))?
}

async fn exchange(
    url: &str,
    auth: &McpAuth,
    secret: String,
    http: reqwest::Client,
) -> Result<AuthClient<reqwest::Client>, String> {
    let fail = |e: &dyn std::fmt::Display| format!("OAuth client credentials for {url}: {e}");
    let mut manager = AuthorizationManager::new(url).await.map_err(|e| fail(&e))?;
    manager.with_client(http.clone()).map_err(|e| fail(&e))?;
    let metadata: AuthorizationMetadata = serde_json::from_value(auth.metadata.clone()).map_err(|e| fail(&e))?;
    manager.set_metadata(metadata);
    let resource = Some(url.to_string());
    let config = match auth.method.as_str() {
        "client_secret" => ClientCredentialsConfig::ClientSecret {
            client_id: auth.client_id.clone(),
            client_secret: secret,
            scopes: auth.scopes.clone(),
            resource,
        },
        "private_key_jwt" => ClientCredentialsConfig::PrivateKeyJwt {
            client_id: auth.client_id.clone(),
            signing_key: secret.into_bytes(),
            signing_algorithm: JwtSigningAlgorithm::ES256,
            token_endpoint_audience: None,
            scopes: auth.scopes.clone(),
            resource,
        },
        other => return Err(fail(&format!("unknown method `{other}` (one of {})", METHODS.join(", ")))),
    };
    manager.validate_client_credentials_metadata(&config).map_err(|e| fail(&e))?;
    manager.configure_client_credentials(&config).map_err(|e| fail(&e))?;
    manager.exchange_client_credentials(&config).await.map_err(|e| fail(&e))?;
    Ok(AuthClient::new(http, manager))
}

/// The client of a server a person signed in to: its tokens from the vault entry, refreshed from
/// the pinned token endpoint when they expire (or when the server refuses them) and kept back.
async fn signed_in(
    url: &str,
    auth: &McpAuth,
    kept: &str,
    http: reqwest::Client,
    vault: &Vault,
) -> Result<AuthClient<reqwest::Client>, String> {
    let fail = |e: &dyn std::fmt::Display| format!("OAuth sign-in for {url}: {e}");
    let kept: Kept =
        serde_json::from_str(kept).map_err(|e| fail(&format!("the vault entry `{}`: {e}", auth.secret)))?;
    let mut manager = AuthorizationManager::new(url).await.map_err(|e| fail(&e))?;
    manager.with_client(http.clone()).map_err(|e| fail(&e))?;
    let metadata: AuthorizationMetadata = serde_json::from_value(auth.metadata.clone()).map_err(|e| fail(&e))?;
    manager.set_metadata(metadata);
    let mut client = OAuthClientConfig::new(&auth.client_id, &kept.redirect_uri).with_scopes(auth.scopes.clone());
    if let Some(secret) = &kept.client_secret {
        client = client.with_client_secret(secret);
    }
    manager.configure_client(client).map_err(|e| fail(&e))?;
    manager.set_credential_store(VaultCredentials::new(vault.clone(), &auth.secret, kept));
    Ok(AuthClient::new(http, manager))
}
