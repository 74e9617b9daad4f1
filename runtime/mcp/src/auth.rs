//! OAuth 2.1 client credentials for MCP servers (rmcp's authorization manager). The
//! authorization server is found once, when the server is registered (RFC 9728 protected
//! resource metadata, then RFC 8414 or OpenID configuration), or given as a token URL; its
//! metadata is pinned in the store, so a server that later points elsewhere cannot draw the
//! client's secret to another host. Every connection gets a fresh token.

use monstrum_core::store::McpAuth;
use rmcp::transport::JwtSigningAlgorithm;
use rmcp::transport::auth::{AuthClient, AuthorizationManager, AuthorizationMetadata, ClientCredentialsConfig};
use serde_json::{Value, json};

/// The client-credentials methods `mcp add --auth` takes.
pub const METHODS: &[&str] = &["client_secret", "private_key_jwt"];

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
/// `secret` (the client secret, or the PEM private key), from the pinned metadata only.
///
/// rmcp's token exchange for `private_key_jwt` holds a value that is not `Send` across an
/// await, so the exchange runs on a runtime of its own thread; the client it returns is used
/// from any runtime (it keeps no idle connections).
pub async fn authorized(
    url: &str,
    auth: &McpAuth,
    secret: String,
    http: reqwest::Client,
) -> Result<AuthClient<reqwest::Client>, String> {
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
