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
use std::sync::{Arc, Mutex, OnceLock};

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
    /// The channel gateway (`/hooks/{channel}`).
    pub gateway: Arc<monstrum_gateway::Gateway>,
    /// Bots whose last edit did not compile, so they keep their last good version: why.
    pub reload_problems: Arc<Mutex<BTreeMap<String, String>>>,
}

impl App {
    /// Opens `workspace` (its store at `db`, else its default) with events going to a new hub.
    pub async fn open(workspace: Workspace, db: Option<&str>) -> anyhow::Result<App> {
        let hub = Hub::default();
        let sink = hub.clone();
        // The gateway answers the runs it started when their end passes here; it is made after
        // the engine, which it drives runs on.
        let gateway_slot: Arc<OnceLock<Arc<monstrum_gateway::Gateway>>> = Arc::default();
        let to_gateway = gateway_slot.clone();
        let events = EventSink::new(move |event| {
            sink.publish(&event);
            if let Some(gateway) = to_gateway.get() {
                gateway.on_event(&event);
            }
        });
        let engine = monstrum_core::open(workspace, db, events).await?;
        let store = engine.store.clone().ok_or_else(|| anyhow::anyhow!("the server needs a store"))?;
        let client = monstrum_mcp::McpClient::attach(&engine)
            .ok_or_else(|| anyhow::anyhow!("the engine had an MCP client attached already"))?;
        let agents = AgentLinks::new(store.clone(), client.clone()).await?;
        hub.persist_to(store.clone());
        let engine = Arc::new(engine);
        let driver = Driver::new(engine.clone(), hub.clone());
        let drive = driver.clone();
        let drive: monstrum_gateway::Drive = Arc::new(move |id, run| drive.drive(id, run));
        let resume = driver.clone();
        let resume: monstrum_gateway::Resume = Arc::new(move |run| {
            resume.resume(run, None);
        });
        let gateway = monstrum_gateway::Gateway::open(engine.clone(), drive, resume, Default::default()).await?;
        let _ = gateway_slot.set(gateway.clone());
        Ok(App { mcp: client, agents, driver, gateway, engine, store, hub, reload_problems: Arc::default() })
    }

    pub fn workspace(&self) -> &Workspace {
        &self.engine.workspace
    }
}
