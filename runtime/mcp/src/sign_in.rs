//! Signing in to an MCP server that asks a person to authorize: OAuth 2.1's authorization-code
//! flow with PKCE (rmcp's authorization manager). The authorization server is found from the
//! server's 401 challenge (RFC 9728 protected resource metadata, then RFC 8414 or OpenID
//! configuration) and pinned, as for client credentials ([`crate::auth`]); Monstrum registers
//! itself as a client (RFC 7591) unless given a client id; the person signs in in a browser,
//! which the authorization server sends back to a listener on a loopback port (RFC 8252); the
//! code is exchanged for tokens. The tokens and the client's secret are kept in one vault entry
//! ([`Kept`]); a connection refreshes the access token from it when it expires, or when the
//! server refuses it, and saves the new tokens back ([`VaultCredentials`]).

use crate::client::CONNECT_TIMEOUT;
use axum::extract::RawQuery;
use axum::response::Html;
use monstrum_core::vault::Vault;
use rmcp::transport::auth::{
    AuthError, AuthorizationManager, AuthorizationRequest, AuthorizationSession, CredentialStore,
    InMemoryCredentialStore, StoredCredentials,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::time::Duration;
use tokio::sync::{Mutex, oneshot};

/// How long a person has to sign in once the page is shown.
pub const SIGN_IN_TIMEOUT: Duration = Duration::from_secs(300);

/// The name Monstrum registers itself under with an authorization server.
const CLIENT_NAME: &str = "Monstrum";

/// What a sign-in keeps in the vault: the client's secret (when the authorization server gave
/// or was given one), the redirect it was registered with, and the tokens.
#[derive(Clone, Serialize, Deserialize)]
pub struct Kept {
    pub client_secret: Option<String>,
    pub redirect_uri: String,
    pub credentials: StoredCredentials,
}

/// A client registered with the authorization server beforehand (`--client-id`, or the one a
/// first sign-in registered), instead of Monstrum registering itself; with the redirect it was
/// registered with, whose port is taken again when it is free (RFC 8252 lets a loopback
/// redirect's port vary, but not every authorization server does).
#[derive(Default)]
pub struct Preregistered {
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub redirect_uri: Option<String>,
}

/// The outcome of a sign-in: the client, the scopes granted, the authorization server's
/// metadata (to pin) and what to keep in the vault.
pub struct SignedIn {
    pub client_id: String,
    pub scopes: Vec<String>,
    pub metadata: Value,
    pub kept: Kept,
}

/// The server's `WWW-Authenticate` challenge when it refuses an unauthorized `initialize` with
/// 401, or `None` when it lets the client in.
pub async fn challenge(url: &str) -> Result<Option<String>, String> {
    let http = http_client(Some(CONNECT_TIMEOUT))?;
    let initialize = json!({
        "jsonrpc": "2.0", "id": 0, "method": "initialize",
        "params": { "protocolVersion": "2025-06-18", "capabilities": {},
                    "clientInfo": { "name": "monstrum", "version": env!("CARGO_PKG_VERSION") } }
    });
    let response = http
        .post(url)
        .header(reqwest::header::ACCEPT, "application/json, text/event-stream")
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(initialize.to_string())
        .send()
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    if response.status() != reqwest::StatusCode::UNAUTHORIZED {
        return Ok(None);
    }
    let header = response.headers().get(reqwest::header::WWW_AUTHENTICATE);
    Ok(Some(header.and_then(|h| h.to_str().ok()).unwrap_or_default().to_string()))
}

/// Signs in to the MCP server at `url`, which answered with `challenge`: shows the person the
/// authorization page through `present` (its URL), waits up to `wait` for the browser to come
/// back, and exchanges the code for tokens. With `pinned` (signing in again to a registered
/// server), its authorization server is the pinned one, not whatever the server names now.
pub async fn sign_in(
    url: &str,
    challenge: &str,
    pinned: Option<&Value>,
    client: Preregistered,
    scopes: Vec<String>,
    wait: Duration,
    present: impl FnOnce(&str),
) -> Result<SignedIn, String> {
    let fail = |e: &dyn std::fmt::Display| format!("signing in to {url}: {e}");
    let mut manager = AuthorizationManager::new(url).await.map_err(|e| fail(&e))?;
    manager.with_client(http_client(None)?).map_err(|e| fail(&e))?;
    let tokens = InMemoryCredentialStore::new();
    manager.set_credential_store(tokens.clone());
    let metadata = match pinned {
        Some(pinned) => pinned.clone(),
        None => {
            let challenge = Some(challenge).filter(|c| !c.is_empty());
            let found = manager.resolve_metadata_from_challenge(challenge).await.map_err(|e| fail(&e))?;
            serde_json::to_value(&found.metadata).map_err(|e| fail(&e))?
        }
    };
    manager.set_metadata(serde_json::from_value(metadata.clone()).map_err(|e| fail(&e))?);

    let port = client.redirect_uri.as_deref().and_then(|u| url::Url::parse(u).ok()).and_then(|u| u.port());
    let listener = match port.map(|p| tokio::net::TcpListener::bind(("127.0.0.1", p))) {
        Some(bound) => match bound.await {
            Ok(listener) => listener,
            Err(_) => tokio::net::TcpListener::bind("127.0.0.1:0").await.map_err(|e| fail(&e))?,
        },
        None => tokio::net::TcpListener::bind("127.0.0.1:0").await.map_err(|e| fail(&e))?,
    };
    let port = listener.local_addr().map_err(|e| fail(&e))?.port();
    let redirect_uri = format!("http://127.0.0.1:{port}/callback");
    let scopes = if scopes.is_empty() { manager.select_scopes(None, &[]) } else { scopes };
    let (client_id, client_secret) = match client.client_id {
        Some(id) => (id, client.client_secret),
        None => {
            let asked: Vec<&str> = scopes.iter().map(String::as_str).collect();
            let registered =
                manager.register_client(CLIENT_NAME, &redirect_uri, &asked).await.map_err(|e| match e {
                    AuthError::RegistrationFailed(_) | AuthError::NoAuthorizationSupport => fail(&format!(
                        "{e}; if the authorization server does not register clients, give the one \
                     registered for Monstrum with --client-id (and its secret with --secret)"
                    )),
                    e => fail(&e),
                })?;
            (registered.client_id, registered.client_secret)
        }
    };
    let mut request =
        AuthorizationRequest::new(&redirect_uri).with_scopes(scopes).with_preregistered_client(&client_id);
    if let Some(secret) = &client_secret {
        request = request.with_client_secret(secret);
    }
    let session = AuthorizationSession::new(manager, request).await.map_err(|(_, e)| fail(&e))?;
    let page = url::Url::parse(session.get_authorization_url()).map_err(|e| fail(&e))?;
    let sent = query(&page, "state");
    present(page.as_str());
    let back = tokio::time::timeout(wait, redirected(listener))
        .await
        .map_err(|_| fail(&format!("no sign-in within {} s", wait.as_secs())))?
        .map_err(|e| fail(&e))?;
    let returned = format!("{redirect_uri}?{back}");
    let returned_url = url::Url::parse(&returned).map_err(|e| fail(&e))?;
    if query(&returned_url, "state") != sent {
        // Checked before anything else the redirect says: only the browser this sign-in sent
        // may answer it (RFC 6749 §10.12).
        return Err(fail(&"the browser came back with a state this sign-in did not send (a forged or stale redirect)"));
    }
    if let Some(error) = refusal(&returned_url) {
        return Err(fail(&format!("the authorization server refused: {error}")));
    }
    session.handle_callback_url(&returned).await.map_err(|e| fail(&e))?;
    let credentials = tokens.load().await.map_err(|e| fail(&e))?.ok_or_else(|| fail(&"no tokens were kept"))?;
    Ok(SignedIn {
        client_id,
        scopes: credentials.granted_scopes.clone(),
        metadata,
        kept: Kept { client_secret, redirect_uri, credentials },
    })
}

/// The value of `key` in `url`'s query.
fn query(url: &url::Url, key: &str) -> Option<String> {
    url.query_pairs().find(|(k, _)| k == key).map(|(_, v)| v.into_owned())
}

/// An authorization error the browser was sent back with (`error`, `error_description`).
fn refusal(returned: &url::Url) -> Option<String> {
    let error = query(returned, "error")?;
    Some(match query(returned, "error_description") {
        Some(description) => format!("{error} ({description})"),
        None => error,
    })
}

/// Serves `/callback` on `listener` until the browser comes back to it with a code or an
/// error, and answers with a page that says what happened; the query it came back with.
async fn redirected(listener: tokio::net::TcpListener) -> Result<String, String> {
    let (tx, rx) = oneshot::channel::<String>();
    let tx = std::sync::Arc::new(std::sync::Mutex::new(Some(tx)));
    let callback = move |RawQuery(query): RawQuery| async move {
        let query = query.unwrap_or_default();
        let parsed = url::Url::parse(&format!("http://127.0.0.1/?{query}")).ok();
        let refused = parsed.as_ref().and_then(refusal);
        let has_code = parsed.as_ref().is_some_and(|u| u.query_pairs().any(|(k, _)| k == "code"));
        if refused.is_none() && !has_code {
            return Html("<p>This page waits for the authorization server's answer.</p>".to_string());
        }
        if let Some(tx) = tx.lock().ok().and_then(|mut t| t.take()) {
            let _ = tx.send(query);
        }
        Html(match refused {
            Some(error) => format!("<p>Sign-in failed: {}.</p>", escape(&error)),
            None => "<p>Monstrum has the answer: you can close this tab and go back to the terminal.</p>".to_string(),
        })
    };
    let app = axum::Router::new().route("/callback", axum::routing::get(callback));
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
    });
    let query = rx.await.map_err(|_| "the loopback listener stopped".to_string());
    let _ = stop.send(());
    // The page is answered before the listener closes (a graceful shutdown), within a bound.
    let _ = tokio::time::timeout(Duration::from_secs(5), server).await;
    query
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// The HTTP client of a sign-in: no redirects (a redirect could carry a code or a secret
/// elsewhere), bounded.
fn http_client(timeout: Option<Duration>) -> Result<reqwest::Client, String> {
    let builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(timeout.unwrap_or(Duration::from_secs(30)));
    builder.build().map_err(|e| e.to_string())
}

/// rmcp's credential store over one vault entry holding a [`Kept`]: tokens refreshed during a
/// connection are sealed back into the vault, so the next connection (or process) uses them.
pub struct VaultCredentials {
    vault: Vault,
    entry: String,
    kept: Mutex<Kept>,
}

impl VaultCredentials {
    pub fn new(vault: Vault, entry: &str, kept: Kept) -> VaultCredentials {
        VaultCredentials { vault, entry: entry.to_string(), kept: Mutex::new(kept) }
    }

    async fn keep(&self, kept: &Kept) -> Result<(), AuthError> {
        let text = serde_json::to_vec(kept).map_err(|e| AuthError::InternalError(e.to_string()))?;
        self.vault.set(&self.entry, &text).await.map_err(|e| AuthError::InternalError(e.to_string()))
    }
}

#[async_trait::async_trait]
impl CredentialStore for VaultCredentials {
    async fn load(&self) -> Result<Option<StoredCredentials>, AuthError> {
        Ok(Some(self.kept.lock().await.credentials.clone()))
    }

    async fn save(&self, credentials: StoredCredentials) -> Result<(), AuthError> {
        let mut kept = self.kept.lock().await;
        kept.credentials = credentials;
        self.keep(&kept).await
    }

    async fn clear(&self) -> Result<(), AuthError> {
        let mut kept = self.kept.lock().await;
        kept.credentials.token_response = None;
        self.keep(&kept).await
    }
}
