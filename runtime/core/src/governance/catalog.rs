//! The tool sources the gate knows: plugins' manifests by name, and the registered MCP servers'
//! approved tools, each server's as a manifest of its own (no component, no dimensions: a
//! binding declares its rules).

use monstrum_model::Manifest;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, RwLock};

/// The registered MCP servers, each a manifest of its approved tools, by name. Clones share
/// them: the workspace and the gate's catalog hold one set, which a server replaces while it runs
/// ([`McpServers::set`]) when an admin approves a tool or drift is quarantined.
#[derive(Clone, Default, Debug)]
pub struct McpServers(Arc<RwLock<BTreeMap<String, Arc<Manifest>>>>);

impl McpServers {
    /// Replaces the servers; false when they are the same as before (nothing to compile again).
    pub fn set(&self, servers: Vec<Manifest>) -> bool {
        let Ok(mut now) = self.0.write() else { return false };
        let same = now.len() == servers.len() && servers.iter().all(|m| now.get(&m.name).is_some_and(|n| **n == *m));
        if !same {
            *now = servers.into_iter().map(|m| (m.name.clone(), Arc::new(m))).collect();
        }
        !same
    }

    /// The approved tools of server `name`, as a manifest.
    pub fn get(&self, name: &str) -> Option<Arc<Manifest>> {
        self.0.read().ok()?.get(name).cloned()
    }
}

/// Manifests by plugin name, and the registered MCP servers. Cheap to clone.
#[derive(Clone, Default, Debug)]
pub struct Catalog {
    plugins: Arc<BTreeMap<String, Arc<Manifest>>>,
    mcp: McpServers,
    /// The workspace's channels (`channels/NAME.yaml`), whose `send` a `channel:` binding binds.
    channels: Arc<BTreeMap<String, Arc<Manifest>>>,
}

impl Catalog {
    /// A catalog of these manifests (a later one replaces an earlier one of the same name).
    pub fn new(manifests: impl IntoIterator<Item = Manifest>) -> Catalog {
        Catalog {
            plugins: Arc::new(manifests.into_iter().map(|m| (m.name.clone(), Arc::new(m))).collect()),
            mcp: McpServers::default(),
            channels: Arc::default(),
        }
    }

    /// The same catalog with these channels (by name).
    pub fn with_channels(self, names: impl IntoIterator<Item = String>) -> Catalog {
        let channels = names.into_iter().map(|n| (n.clone(), Arc::new(monstrum_model::channel_manifest(&n)))).collect();
        Catalog { channels: Arc::new(channels), ..self }
    }

    /// Channel `name`'s tools, as a manifest.
    pub fn channel(&self, name: &str) -> Option<Arc<Manifest>> {
        self.channels.get(name).cloned()
    }

    /// The same catalog with these MCP servers (shared with their other holders).
    pub fn with_mcp(self, mcp: McpServers) -> Catalog {
        Catalog { mcp, ..self }
    }

    /// The registered MCP servers.
    pub fn mcp(&self) -> &McpServers {
        &self.mcp
    }

    /// The approved tools of MCP server `name`, as a manifest.
    pub fn mcp_server(&self, name: &str) -> Option<Arc<Manifest>> {
        self.mcp.get(name)
    }

    /// Reads every `<dir>/*/manifest.yaml` (plugins being developed in a workspace), with the
    /// folder each was found in.
    pub fn load_dir(dir: &Path) -> anyhow::Result<Vec<(std::path::PathBuf, Manifest)>> {
        let mut out = Vec::new();
        let Ok(entries) = std::fs::read_dir(dir) else { return Ok(out) };
        let mut paths: Vec<_> =
            entries.flatten().map(|e| e.path().join("manifest.yaml")).filter(|p| p.is_file()).collect();
        paths.sort();
        for path in paths {
            let text = std::fs::read_to_string(&path)?;
            let manifest = monstrum_model::load_manifest(&text).ok().map_err(|problems| {
                let lines: Vec<String> =
                    problems.iter().map(|d| format!("{}: {} {}", d.path_string(), d.code, d.message)).collect();
                anyhow::anyhow!("{}: {}", path.display(), lines.join("; "))
            })?;
            out.push((path.parent().unwrap_or(dir).to_path_buf(), manifest));
        }
        Ok(out)
    }

    /// The manifest of `plugin`.
    pub fn manifest(&self, plugin: &str) -> Option<&Arc<Manifest>> {
        self.plugins.get(plugin)
    }

    /// Every manifest, by name.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Manifest>> {
        self.plugins.values()
    }
}
