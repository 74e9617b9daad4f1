//! Tokens and roles: who may call which route. A token is 256 random bits shown once; the store
//! keeps its SHA-256. The table of what each role may do is [`required_role`], one place, and the
//! middleware that applies it fails closed: a route the table does not name is refused.

use crate::error::ApiError;
use crate::state::App;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use monstrum_core::store::TokenRecord;
use serde::Serialize;
use std::fmt;
use std::str::FromStr;

/// What a token may do; each role may do everything the ones before it may.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads workflows, runs, events, bots, plugins, audit.
    Viewer,
    /// Viewer, and decides approval gates.
    Approver,
    /// Approver, and saves workflows, starts and resumes runs.
    Editor,
    /// Editor, and bots, the vault (write-only), tokens, and MCP servers' tools (refresh, approve).
    Admin,
}

impl Role {
    /// Every role, least first.
    pub const ALL: [Role; 4] = [Role::Viewer, Role::Approver, Role::Editor, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Approver => "approver",
            Role::Editor => "editor",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("`{s}` is not a role (admin, editor, approver, viewer)"))
    }
}

/// The role a route needs (DESIGN.md, "Server and API"); `None` for a route the table does not
/// know, which nobody may call.
pub fn required_role(method: &Method, path: &str) -> Option<Role> {
    use Role::*;
    Some(match (method.as_str(), path) {
        ("GET", _) if path == "/api/vault" => Admin,
        ("GET", _) => Viewer,
        ("POST", "/api/workflows/validate") => Viewer,
        ("POST", "/api/runs/{id}/approvals/{step}") => Approver,
        ("POST", "/api/runs") | ("POST", "/api/runs/{id}/resume") | ("POST", "/api/runs/{id}/cancel") => Editor,
        ("POST", "/api/workflows") | ("PUT", "/api/workflows/{name}") | ("POST", "/api/workflows/{name}/rollback") => {
            Editor
        }
        ("PUT", "/api/workflows/{name}/layout") => Editor,
        ("PUT", "/api/vault/{name}") => Admin,
        ("PUT", "/api/marketplace/{kind}/{name}/{version}") => Admin,
        ("POST", "/api/mcp/{name}/refresh") | ("POST", "/api/mcp/{name}/tools/{tool}/approve") => Admin,
        _ => return None,
    })
}

/// The caller of a request, once its token is checked.
#[derive(Clone, Debug)]
pub struct Caller {
    /// The token's name: who started a run or decided a gate.
    pub name: String,
    pub role: Role,
}

/// A new token and the hash the store keeps.
pub fn new_token() -> anyhow::Result<(String, String)> {
    monstrum_core::store::new_secret("mst_")
}

/// What the store keeps of a token.
pub fn hash_token(token: &str) -> String {
    monstrum_core::store::secret_hash(token)
}

/// Checks the bearer token and the route's role; puts the [`Caller`] in the request. A refusal
/// is answered before the request's body is read, so it says `Connection: close`: the client
/// opens a new connection rather than reuse one the server will not read further.
pub async fn authorize(State(app): State<App>, request: Request, next: Next) -> Response {
    match check(&app, request).await {
        Ok(request) => next.run(request).await,
        Err(refusal) => refused(refusal),
    }
}

fn refused(refusal: ApiError) -> Response {
    let mut response = refusal.into_response();
    response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// The live token record of the token whose hash is `hash` (see [`bearer_hash`]; taken before
/// any await, since a request is not `Sync`).
async fn token_record(app: &App, hash: String) -> Result<TokenRecord, ApiError> {
    app.store
        .use_token(&hash)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::unauthorized("the token is unknown or revoked"))
}

/// The hash of the request's bearer token.
fn bearer_hash(request: &Request) -> Result<String, ApiError> {
    let authorization = request.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    monstrum_core::store::bearer(authorization)
        .map(hash_token)
        .ok_or_else(|| ApiError::unauthorized("send Authorization: Bearer TOKEN (monstrum token create)"))
}

async fn check(app: &App, mut request: Request) -> Result<Request, ApiError> {
    let record = token_record(app, bearer_hash(&request)?).await?;
    if let Some(bot) = &record.bot {
        return Err(ApiError::forbidden(format!(
            "token `{}` is bound to bot `{bot}`: it opens /mcp only, no /api route",
            record.name
        )));
    }
    let role: Role = record.role.parse().map_err(|e: String| ApiError::unauthorized(&e))?;
    let path = request.extensions().get::<MatchedPath>().map(|p| p.as_str().to_string()).unwrap_or_default();
    let needed = required_role(request.method(), &path)
        .ok_or_else(|| ApiError::forbidden(format!("{} {path} is not open to any role", request.method())))?;
    if role < needed {
        return Err(ApiError::forbidden(format!(
            "{} {path} needs the {needed} role; token `{}` is {role}",
            request.method(),
            record.name
        )));
    }
    request.extensions_mut().insert(Caller { name: record.name, role });
    Ok(request)
}

/// Checks the bearer token of a request to `/mcp`: it must be bound to a bot, whose name goes
/// into the request as a [`monstrum_mcp::BotCaller`] (the MCP server serves that bot's tools to
/// this request and no other's). Refused like the API's routes, with `Connection: close`.
pub async fn authorize_mcp(State(app): State<App>, mut request: Request, next: Next) -> Response {
    let record = match bearer_hash(&request) {
        Ok(hash) => token_record(&app, hash).await,
        Err(refusal) => Err(refusal),
    };
    let bound = match record {
        Ok(TokenRecord { name, bot: Some(bot), .. }) => Ok(monstrum_mcp::BotCaller { bot, token: name }),
        Ok(record) => Err(ApiError::forbidden(format!(
            "token `{}` is not bound to a bot: /mcp serves one bot's tools (monstrum token create --bot BOT)",
            record.name
        ))),
        Err(refusal) => Err(refusal),
    };
    match bound {
        Ok(caller) => {
            request.extensions_mut().insert(caller);
            next.run(request).await
        }
        Err(refusal) => refused(refusal),
    }
}
