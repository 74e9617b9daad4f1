//! The tool sources the gate knows: plugins' manifests by name, and the registered MCP servers'
//! approved tools, each server's as a manifest of its own (no component, no dimensions: a
//! binding declares its rules).

use monstrum_model::Manifest;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

/// Manifests by plugin name, and by MCP server name. Cheap to clone.
#[derive(Clone, Default, Debug)]
pub struct Catalog {
    plugins: Arc<BTreeMap<String, Arc<Manifest>>>,
    mcp: Arc<BTreeMap<String, Arc<Manifest>>>,
}

impl Catalog {
    /// A catalog of these manifests (a later one replaces an earlier one of the same name).
    pub fn new(manifests: impl IntoIterator<Item = Manifest>) -> Catalog {
        Catalog {
            plugins: Arc::new(manifests.into_iter().map(|m| (m.name.clone(), Arc::new(m))).collect()),
            mcp: Arc::default(),
        }
    }

    /// The same catalog with these MCP servers, each a manifest of its approved tools.
    pub fn with_mcp(self, servers: impl IntoIterator<Item = Manifest>) -> Catalog {
        Catalog { mcp: Arc::new(servers.into_iter().map(|m| (m.name.clone(), Arc::new(m))).collect()), ..self }
    }

    /// The approved tools of MCP server `name`, as a manifest.
    pub fn mcp_server(&self, name: &str) -> Option<&Arc<Manifest>> {
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
