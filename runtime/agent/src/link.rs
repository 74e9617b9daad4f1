//! The server's end of the agent link: `/agent`. A request with a live agent key (as a bearer)
//! is upgraded to a WebSocket over which the server is the MCP client of the agent's daemon: it
//! lists the agent's tools and stores them as server `agent:NAME` (all approved at the agent's
//! first link; a later link that changes a tool is quarantined like MCP drift), then hands the
//! connection to the MCP client that runs every allowed call of an `agent:` binding. A key that
//! is unknown or revoked gets 401 and an audit record; a revoked agent's live link is closed
//! within a second. Each link coming up and going down is audited and recorded in the store.

use axum::Router;
use axum::extract::State;
use axum::extract::ws::{WebSocket, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use monstrum_core::governance::agent_link;
use monstrum_core::store::{McpServerRecord, Store, bearer, secret_hash};
use monstrum_mcp::{Connection, McpClient};
use monstrum_model::AGENT_PREFIX;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

/// The agents' links of one server.
pub struct AgentLinks {
    store: Store,
    client: Arc<McpClient>,
}

impl AgentLinks {
    /// Links whose calls `client` (the gate's executor for `mcp:` and `agent:` bindings) runs.
    pub async fn new(store: Store, client: Arc<McpClient>) -> anyhow::Result<Arc<AgentLinks>> {
        agent_link::links_down(&store).await?;
        Ok(Arc::new(AgentLinks { store, client }))
    }

    /// `/agent`, to mount on the server.
    pub fn router(self: &Arc<Self>) -> Router {
        Router::new().route("/agent", get(upgrade)).with_state(self.clone())
    }

    /// Closes the links of agents whose key was revoked, every `every`.
    pub fn sweep_revoked(self: &Arc<Self>, every: Duration) -> tokio::task::JoinHandle<()> {
        let links = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let Ok(agents) = links.store.agents().await else { continue };
                for agent in agents.iter().filter(|a| a.revoked_at.is_some()) {
                    if links.client.disconnect(&format!("{AGENT_PREFIX}{}", agent.name)).await {
                        eprintln!("monstrum serve: agent `{}`'s key is revoked: its link is closed", agent.name);
                    }
                }
            }
        })
    }

    /// Holds agent `name`'s link over `socket` until it closes.
    async fn hold(self: Arc<Self>, name: String, socket: WebSocket) {
        let server_name = format!("{AGENT_PREFIX}{name}");
        let server = McpServerRecord {
            name: server_name.clone(),
            url: server_name.clone(),
            headers: Default::default(),
            auth: None,
            created_at: 0,
            refreshed_at: None,
        };
        let first = matches!(self.store.mcp_server(&server_name).await, Ok(None));
        let transport = crate::wire::transport::<rmcp::RoleClient, _, _, _, _>(socket);
        let (adopted, refresh) = match Connection::over(&self.store, &server, first, transport).await {
            Ok(linked) => linked,
            Err(e) => {
                eprintln!("monstrum serve: agent `{name}`'s link failed: {e}");
                let _ = agent_link::linked(&self.store, &name, false, json!({ "error": e.to_string() })).await;
                return;
            }
        };
        let watch = adopted.clone();
        let quarantined = [refresh.added, refresh.changed].concat();
        let detail = json!({ "tools": refresh.approved, "quarantined": quarantined, "removed": refresh.removed });
        if let Err(e) = agent_link::linked(&self.store, &name, true, detail).await {
            eprintln!("monstrum serve: agent `{name}`: {e:#}");
        }
        self.client.adopt(&server_name, adopted).await;
        while !watch.is_closed() {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        // A newer link of the same agent may hold it now: that one is up.
        if !self.client.connected().await.contains(&server_name) {
            let _ = agent_link::linked(&self.store, &name, false, json!({})).await;
        }
    }
}

/// The agent key of a request, as its hash.
fn key_hash(headers: &HeaderMap) -> Option<String> {
    bearer(headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok())).map(secret_hash)
}

async fn upgrade(State(links): State<Arc<AgentLinks>>, headers: HeaderMap, socket: WebSocketUpgrade) -> Response {
    let refused = |status: StatusCode, message: &str| {
        (status, axum::Json(json!({ "error": { "code": "unauthorized", "message": message } }))).into_response()
    };
    let Some(hash) = key_hash(&headers) else {
        return refused(StatusCode::UNAUTHORIZED, "send Authorization: Bearer AGENT_KEY (monstrum agent-key create)");
    };
    let from = headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or("-").to_string();
    match agent_link::authenticate(&links.store, &hash, &from).await {
        Ok(Some(agent)) => socket.on_upgrade(move |socket| links.hold(agent.name, socket)),
        Ok(None) => refused(StatusCode::UNAUTHORIZED, "the agent key is unknown or revoked"),
        Err(e) => refused(StatusCode::INTERNAL_SERVER_ERROR, &format!("{e:#}")),
    }
}
