//! The registered MCP servers and their tools (DESIGN.md, "MCP"): read them, list a server's
//! tools again, and approve a quarantined tool. Registering a server stays on the command line
//! (`monstrum mcp add`), where its credentials are named. Every write goes through the core's
//! quarantine, audited, and takes effect for the running server's bots at once.

use crate::auth::Caller;
use crate::error::ApiError;
use crate::state::App;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use monstrum_core::governance::quarantine;
use monstrum_core::store::{McpServerRecord, McpToolRecord};
use monstrum_core::vault::Vault;
use serde::Serialize;
use serde_json::Value;

/// A registered server: never a credential, only the names of its headers.
#[derive(Serialize, utoipa::ToSchema)]
pub struct McpServerView {
    pub name: String,
    pub url: String,
    /// The headers sent with every request (each value is a vault entry's secret).
    pub headers: Vec<String>,
    /// `client_secret` or `private_key_jwt` for OAuth client credentials.
    pub auth: Option<String>,
    pub tools: usize,
    /// Tools that are new or changed since approved: offered to no bot.
    pub quarantined: usize,
    pub created_at: i64,
    pub refreshed_at: Option<i64>,
}

/// One tool of a server, as bots see it (the approved version) and, when it changed, as the
/// server describes it now.
#[derive(Serialize, utoipa::ToSchema)]
pub struct McpToolView {
    pub name: String,
    /// approved, new or changed
    pub state: String,
    /// The approved description (what a model sees); the new one for a tool never approved.
    pub description: String,
    /// The approved input schema (the new one for a tool never approved).
    #[schema(value_type = Object)]
    pub input_schema: Value,
    /// What the server says now, for a changed tool.
    pub now: Option<String>,
    /// read, idempotent or write (from the tool's annotations)
    pub effect: String,
    /// SHA-256 of the name, description, input schema and annotations the server sent last.
    pub fingerprint: String,
}

/// A server with its tools.
#[derive(Serialize, utoipa::ToSchema)]
pub struct McpServerDetail {
    #[serde(flatten)]
    pub server: McpServerView,
    pub tool_list: Vec<McpToolView>,
}

/// What a listing changed, by tool name.
#[derive(Serialize, utoipa::ToSchema)]
pub struct RefreshView {
    /// New tools (quarantined).
    pub added: Vec<String>,
    /// Tools whose description, schema or annotations changed (quarantined).
    pub changed: Vec<String>,
    /// Tools the server no longer lists (gone).
    pub removed: Vec<String>,
    /// Tools listed under a name MCP does not allow (ignored).
    pub refused: Vec<String>,
    /// The tools that may be called now.
    pub approved: Vec<String>,
}

fn server_view(server: McpServerRecord, tools: &[McpToolRecord]) -> McpServerView {
    McpServerView {
        headers: server.headers.into_keys().collect(),
        auth: server.auth.map(|a| a.method),
        tools: tools.len(),
        quarantined: tools.iter().filter(|t| t.state() != "approved").count(),
        name: server.name,
        url: server.url,
        created_at: server.created_at,
        refreshed_at: server.refreshed_at,
    }
}

fn tool_view(tool: McpToolRecord) -> McpToolView {
    let state = tool.state();
    let shown = tool.approved.as_ref().unwrap_or(&tool.seen);
    McpToolView {
        name: tool.seen.name.clone(),
        state: state.to_string(),
        description: shown.description.clone(),
        input_schema: shown.input_schema.clone(),
        now: (state == "changed").then(|| tool.seen.description.clone()),
        effect: tool.seen.effect().as_str().to_string(),
        fingerprint: tool.seen_fingerprint,
    }
}

async fn registered(app: &App, name: &str) -> Result<McpServerRecord, ApiError> {
    app.store
        .mcp_server(name)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::not_found(format!("no MCP server is registered as `{name}`")))
}

/// The registered MCP servers, by name.
#[utoipa::path(get, path = "/api/mcp", tag = "mcp", responses((status = 200, body = Vec<McpServerView>)))]
pub async fn list(State(app): State<App>) -> Result<Json<Vec<McpServerView>>, ApiError> {
    let mut out = Vec::new();
    let servers = app.store.mcp_servers().await.map_err(ApiError::internal)?;
    // An agent's tools are kept as server `agent:NAME`: `GET /api/agents` lists those.
    for server in servers.into_iter().filter(|s| !s.name.starts_with(monstrum_model::AGENT_PREFIX)) {
        let tools = app.store.mcp_tools(&server.name).await.map_err(ApiError::internal)?;
        out.push(server_view(server, &tools));
    }
    Ok(Json(out))
}

/// A registered server and its tools: approved, or quarantined (new, changed).
#[utoipa::path(get, path = "/api/mcp/{name}", tag = "mcp", params(("name" = String, Path)),
    responses((status = 200, body = McpServerDetail), (status = 404, body = crate::error::ErrorBody)))]
pub async fn get(State(app): State<App>, Path(name): Path<String>) -> Result<Json<McpServerDetail>, ApiError> {
    let server = registered(&app, &name).await?;
    let tools = app.store.mcp_tools(&name).await.map_err(ApiError::internal)?;
    let server = server_view(server, &tools);
    Ok(Json(McpServerDetail { server, tool_list: tools.into_iter().map(tool_view).collect() }))
}

/// Lists the server's tools again: new and changed tools are quarantined, removed ones forgotten.
#[utoipa::path(post, path = "/api/mcp/{name}/refresh", tag = "mcp", params(("name" = String, Path)),
    responses((status = 200, body = RefreshView), (status = 404, body = crate::error::ErrorBody),
              (status = 502, description = "the server cannot be reached or answered badly", body = crate::error::ErrorBody)))]
pub async fn refresh(State(app): State<App>, Path(name): Path<String>) -> Result<Json<RefreshView>, ApiError> {
    registered(&app, &name).await?;
    let vault = Vault::open(&app.workspace().data_dir(), app.store.clone()).map_err(ApiError::internal)?;
    let refresh = monstrum_mcp::registry::refresh(&app.store, &vault, &name)
        .await
        .map_err(|e| ApiError::new(StatusCode::BAD_GATEWAY, "mcp_unreachable", format!("{e:#}")))?;
    crate::reload::mcp(&app).await;
    let quarantine::Refresh { added, changed, removed, refused, approved } = refresh;
    Ok(Json(RefreshView { added, changed, removed, refused, approved }))
}

/// Approves a quarantined tool as the server describes it now; bots that bind it see it at once.
#[utoipa::path(post, path = "/api/mcp/{name}/tools/{tool}/approve", tag = "mcp",
    params(("name" = String, Path), ("tool" = String, Path)),
    responses((status = 200, body = McpToolView), (status = 404, body = crate::error::ErrorBody)))]
pub async fn approve(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    Path((name, tool)): Path<(String, String)>,
) -> Result<Json<McpToolView>, ApiError> {
    registered(&app, &name).await?;
    if !quarantine::approve(&app.store, &name, &tool, &caller.name).await.map_err(ApiError::internal)? {
        return Err(ApiError::not_found(format!("MCP server `{name}` has no tool `{tool}`")));
    }
    crate::reload::mcp(&app).await;
    let approved =
        app.store.mcp_tools(&name).await.map_err(ApiError::internal)?.into_iter().find(|t| t.seen.name == tool);
    approved.map(|t| Json(tool_view(t))).ok_or_else(|| ApiError::not_found(format!("`{tool}` is gone")))
}
