//! `agent.yaml`: the tools a daemon offers over its link.
//!
//! ```yaml
//! commands:                      # command templates: argv, no shell
//!   - name: disk_usage
//!     description: How much space a folder takes
//!     run: [du, -sh, "{{ path }}"]
//!     parameters: { type: object, properties: { path: { type: string } }, required: [path] }
//!     timeout_seconds: 30
//! mcp:                           # local MCP servers, started over stdio
//!   - name: files
//!     command: npx
//!     args: [-y, "@modelcontextprotocol/server-filesystem", /srv/share]
//!     env: { LOG_LEVEL: warn }   # the only variables it gets, with PATH and HOME
//! plugins:                       # plugin packages, run in the daemon's own sandbox
//!   - package: ./plugins/web-search.mst
//!     config: { endpoint: "http://127.0.0.1:8080" }
//!     scope: { urls: ["http://127.0.0.1:8080/**"] }
//! ```

use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub commands: Vec<CommandTool>,
    #[serde(default)]
    pub mcp: Vec<LocalServer>,
    #[serde(default)]
    pub plugins: Vec<LocalPlugin>,
}

/// A plugin package (`.mst`) the daemon runs in its own sandbox; its tools are offered as
/// `NAME.TOOL`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalPlugin {
    /// The package file (relative to `agent.yaml`).
    pub package: PathBuf,
    /// The name its tools are offered under (default: the plugin's).
    pub name: Option<String>,
    /// The plugin's config, over its manifest's defaults.
    #[serde(default)]
    pub config: serde_json::Map<String, Value>,
    /// Values for the rules of its host capabilities (the URLs it may fetch).
    #[serde(default)]
    pub scope: BTreeMap<String, Value>,
}

/// A tool that runs a program: each element of `run` is a MiniJinja template over the call's
/// arguments, rendered into one argument (never through a shell).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandTool {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub run: Vec<String>,
    /// The JSON schema of the arguments (an object with no properties by default).
    #[serde(default = "empty_object")]
    pub parameters: Value,
    #[serde(default = "default_timeout")]
    pub timeout_seconds: u64,
}

/// A local MCP server the daemon starts and speaks to over stdio; its tools are offered as
/// `NAME.TOOL`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalServer {
    pub name: String,
    pub command: String,
    #[serde(default)]
    pub args: Vec<String>,
    /// Its environment: these, with PATH and HOME; nothing else of the daemon's reaches it.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
}

fn empty_object() -> Value {
    serde_json::json!({ "type": "object" })
}

fn default_timeout() -> u64 {
    60
}

impl Config {
    /// Reads `path`; an error says which file and what is wrong.
    pub fn read(path: &Path) -> anyhow::Result<Config> {
        let text = std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
        let mut config: Config = serde_yaml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        let folder = path.parent().unwrap_or(Path::new("."));
        for plugin in &mut config.plugins {
            plugin.package = folder.join(&plugin.package);
        }
        let mut names = std::collections::BTreeSet::new();
        let plugins = config.plugins.iter().filter_map(|p| p.name.as_ref());
        for name in config.commands.iter().map(|c| &c.name).chain(config.mcp.iter().map(|m| &m.name)).chain(plugins) {
            let valid = !name.is_empty()
                && name.len() <= 64
                && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
            if !valid {
                anyhow::bail!("{}: `{name}` is not a tool or server name (letters, digits, _ -)", path.display());
            }
            if !names.insert(name) {
                anyhow::bail!("{}: `{name}` is named twice", path.display());
            }
        }
        if let Some(c) = config.commands.iter().find(|c| c.run.is_empty()) {
            anyhow::bail!("{}: command `{}` has an empty `run`", path.display(), c.name);
        }
        Ok(config)
    }
}
