//! The agents (DESIGN.md, "Agent link"): each with its link's state and its tools. An agent's
//! tools are approved like an MCP server's: `POST /api/mcp/agent:NAME/tools/{tool}/approve`.

use crate::error::ApiError;
use crate::state::App;
use axum::Json;
use axum::extract::State;
use monstrum_model::AGENT_PREFIX;
use serde::Serialize;

/// An agent: never its key.
#[derive(Serialize, utoipa::ToSchema)]
pub struct AgentView {
    pub name: String,
    /// connected, disconnected or revoked
    pub state: String,
    pub created_at: i64,
    pub connected_at: Option<i64>,
    pub last_seen_at: Option<i64>,
    pub revoked_at: Option<i64>,
    /// Its tools as registered over its link, each `approved`, `new` or `changed`.
    pub tools: Vec<AgentTool>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct AgentTool {
    pub name: String,
    pub state: String,
}

/// The agents, by name.
#[utoipa::path(get, path = "/api/agents", tag = "agents", responses((status = 200, body = Vec<AgentView>)))]
pub async fn list(State(app): State<App>) -> Result<Json<Vec<AgentView>>, ApiError> {
    let mut out = Vec::new();
    for a in app.store.agents().await.map_err(ApiError::internal)? {
        let tools = app.store.mcp_tools(&format!("{AGENT_PREFIX}{}", a.name)).await.map_err(ApiError::internal)?;
        out.push(AgentView {
            state: a.state().into(),
            tools: tools.iter().map(|t| AgentTool { name: t.seen.name.clone(), state: t.state().into() }).collect(),
            name: a.name,
            created_at: a.created_at,
            connected_at: a.connected_at,
            last_seen_at: a.last_seen_at,
            revoked_at: a.revoked_at,
        });
    }
    Ok(Json(out))
}
