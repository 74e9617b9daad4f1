//! Opening a workspace: its store, and the gate and engine wired to its plugins, bots, skills
//! and memory. Every door (the command line, and the server, MCP, agent link and gateway crates
//! after it) starts here; none of them builds a gate or a plugin host of its own.

use crate::audit::Trail;
use crate::events::EventSink;
use crate::governance::budget::Ledger;
use crate::governance::{BotLoader, Catalog, Gate, SkillFiles, SkillLoader};
use crate::memory::Memory;
use crate::plugin::{Component, HostExecutor};
use crate::store::Store;
use crate::workflow::Engine;
use crate::workspace::Workspace;
use std::collections::HashMap;
use std::sync::Arc;

/// Opens `workspace`'s store (`db`, else `store:` in monstrum.yaml, else SQLite in `.monstrum/`)
/// and the engine over it, reporting to `events`.
pub async fn open(workspace: Workspace, db: Option<&str>, events: EventSink) -> anyhow::Result<Engine> {
    let store = Store::open(&workspace.store_url(db)?).await?;
    workspace.load_mcp(&store).await?;
    open_in(workspace, store, events)
}

/// The engine over `store`, already open, for a `workspace` whose MCP servers were read from it
/// ([`Workspace::load_mcp`]): for a door that needed the store before the engine.
pub fn open_in(workspace: Workspace, store: Store, events: EventSink) -> anyhow::Result<Engine> {
    let workspace = Arc::new(workspace);
    let gate = gate(&workspace, Some(&store))?;
    Ok(Engine { store: Some(store), workspace, events, gate, cancels: Default::default() })
}

/// The gate of a workspace: its plugins (run by the plugin host), the approved tools of its
/// registered MCP servers (run by the MCP client a door attaches with [`Gate::attach_mcp`]), its
/// bots and skills, auditing to `store` (in memory without one).
pub fn gate(workspace: &Arc<Workspace>, store: Option<&Store>) -> anyhow::Result<Gate> {
    let (catalog, components) = workspace.plugins()?;
    let ws = workspace.clone();
    let bots: BotLoader = Arc::new(move |name| ws.bot(name));
    Ok(assemble(workspace, store, catalog, components, bots))
}

/// A gate over these plugins and bots, with the workspace's skills, vault, proxy and plugin cache.
pub(crate) fn assemble(
    workspace: &Arc<Workspace>,
    store: Option<&Store>,
    catalog: Catalog,
    components: HashMap<String, Component>,
    bots: BotLoader,
) -> Gate {
    let executor = HostExecutor::new(
        components,
        Some(workspace.data_dir().join("plugin-cache")),
        workspace.data_dir(),
        store.cloned(),
    )
    .with_proxy(workspace.config.proxy());
    let ws = workspace.clone();
    let skills: SkillLoader = Arc::new(move |name| ws.skill(name));
    let ws = workspace.clone();
    let skill_files: SkillFiles = Arc::new(move |name, file| ws.skill_file(name, file));
    match store {
        Some(store) => Gate::new(catalog, bots, Trail::in_store(store.clone()), Ledger::Store(store.clone()))
            .with_memory(Memory::Store(store.clone()))
            .with_journal(store.clone()),
        None => Gate::new(catalog, bots, Trail::in_memory(), Ledger::in_memory()),
    }
    .with_skills(skills)
    .with_skill_files(skill_files)
    .with_executor(Arc::new(executor))
}
