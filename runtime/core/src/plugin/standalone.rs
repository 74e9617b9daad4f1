//! Plugins run outside a workspace: the `.mst` packages an agent daemon offers over its link
//! (docs/agent.md). A call reaches the daemon only after the server's gate allowed it (schema,
//! scope, budget, audit); here it runs in the same sandbox as in a workspace: fuel, memory, time
//! and output limits, HTTP only to the origins the plugin's config names (through the URL rules
//! of its manifest, against the `scope` the daemon's configuration gives), key-value storage in
//! memory, and nothing else: no credentials (they live in the server's vault, never on an
//! agent's machine), no SSH, no signer.

use super::executor::{credential_origins, effective_config, http_limits, http_policy, origins};
use super::{HostConfig, LoadedPlugin, PluginCall, PluginHost};
use monstrum_model::{Manifest, ToolDef};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

/// One package's plugin, loaded.
struct Loaded {
    name: String,
    manifest: Arc<Manifest>,
    plugin: Arc<LoadedPlugin>,
    config: Map<String, Value>,
    scope: BTreeMap<String, Value>,
}

/// The plugins of verified packages, each under a name, run on one sandboxed host.
pub struct StandalonePlugins {
    host: PluginHost,
    plugins: Vec<Loaded>,
}

impl StandalonePlugins {
    /// A host with no plugin yet, caching compiled components in `cache_dir`.
    pub fn new(cache_dir: Option<&Path>) -> anyhow::Result<StandalonePlugins> {
        let host =
            PluginHost::with_config(HostConfig { cache_dir: cache_dir.map(Path::to_path_buf), ..Default::default() })?;
        Ok(StandalonePlugins { host, plugins: Vec::new() })
    }

    /// Loads the package in `file` (verified as `plugin install` verifies it) as `name` (its
    /// manifest's name by default), with `config` over its manifest's defaults and `scope` for
    /// its host capabilities' rules. A credential the plugin declares is never given: a request
    /// that names one fails.
    pub fn add(
        &mut self,
        file: &Path,
        name: Option<&str>,
        config: Map<String, Value>,
        scope: BTreeMap<String, Value>,
    ) -> anyhow::Result<&Manifest> {
        let package = super::Package::read(file)?;
        let manifest = Arc::new(package.manifest);
        let name = name.unwrap_or(&manifest.name).to_string();
        if self.plugins.iter().any(|p| p.name == name) {
            anyhow::bail!("two plugins are named `{name}`: give one another `name`");
        }
        let plugin = self.host.load(manifest.clone(), &package.component)?;
        let config = effective_config(&manifest, &config);
        origins(&manifest, &config).map_err(anyhow::Error::msg)?;
        self.plugins.push(Loaded { name, manifest, plugin, config, scope });
        Ok(&self.plugins.last().expect("just pushed").manifest)
    }

    /// Every plugin's tools, with the name each plugin was loaded under.
    pub fn tools(&self) -> Vec<(&str, &ToolDef)> {
        self.plugins.iter().flat_map(|p| p.manifest.tools.iter().map(move |t| (p.name.as_str(), t))).collect()
    }

    /// Runs `tool` of the plugin loaded as `plugin` with `arguments`; a trap, exhausted fuel or
    /// memory, a timeout or a refused request is an `Err` (a tool error), and the host carries on.
    pub async fn call(&self, plugin: &str, tool: &str, arguments: Value) -> Result<Value, String> {
        let loaded = self.plugins.iter().find(|p| p.name == plugin).ok_or_else(|| format!("no plugin `{plugin}`"))?;
        if !loaded.manifest.tools.iter().any(|t| t.name == tool) {
            return Err(format!("no such tool: {plugin}.{tool}"));
        }
        let manifest = &loaded.manifest;
        let mut call = PluginCall::new(loaded.name.clone(), tool, arguments);
        call.allowed_origins = origins(manifest, &loaded.config)?;
        call.credential_origins = credential_origins(manifest, &loaded.config)?;
        call.http_limits = http_limits(manifest, &loaded.config)?;
        call.http_policy = http_policy(manifest, &loaded.scope, &[])?;
        call.config = loaded.config.clone();
        self.host.call(&loaded.plugin, call).await
    }
}
