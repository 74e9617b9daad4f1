//! What every handler reaches: the workspace's engine (and through it the gate), its store, the
//! event hub and the driver of runs.

use crate::driver::Driver;
use crate::hub::Hub;
use monstrum_agent::link::AgentLinks;
use monstrum_core::events::EventSink;
use monstrum_core::store::Store;
use monstrum_core::workflow::Engine;
use monstrum_core::workspace::Workspace;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// The server's state; cheap to clone.
#[derive(Clone)]
pub struct App {
    pub engine: Arc<Engine>,
    pub store: Store,
    pub hub: Hub,
    pub driver: Driver,
    /// The gate's executor for `mcp:` and `agent:` bindings: its live connections.
    pub mcp: Arc<monstrum_mcp::McpClient>,
    /// The agents' links (`/agent`), whose tools the gate reaches through the MCP client.
    pub agents: Arc<AgentLinks>,
    /// Bots whose last edit did not compile, so they keep their last good version: why.
    pub reload_problems: Arc<Mutex<BTreeMap<String, String>>>,
}

impl App {
    /// Opens `workspace` (its store at `db`, else its default) with events going to a new hub.
    pub async fn open(workspace: Workspace, db: Option<&str>) -> anyhow::Result<App> {
        let hub = Hub::default();
        let sink = hub.clone();
        let engine = monstrum_core::open(workspace, db, EventSink::new(move |event| sink.publish(&event))).await?;
        let store = engine.store.clone().ok_or_else(|| anyhow::anyhow!("the server needs a store"))?;
        let client = monstrum_mcp::McpClient::attach(&engine)
            .ok_or_else(|| anyhow::anyhow!("the engine had an MCP client attached already"))?;
        let agents = AgentLinks::new(store.clone(), client.clone()).await?;
        hub.persist_to(store.clone());
        let engine = Arc::new(engine);
        Ok(App {
            mcp: client,
            agents,
            driver: Driver::new(engine.clone(), hub.clone()),
            engine,
            store,
            hub,
            reload_problems: Arc::default(),
        })
    }

    pub fn workspace(&self) -> &Workspace {
        &self.engine.workspace
    }
}
