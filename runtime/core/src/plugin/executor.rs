//! The gate's executor for plugin tools: the one place where a call the gate allowed becomes a
//! plugin call. Credentials are read from the vault here, at the boundary, and handed to the
//! host, which puts them on the outgoing request; the guest, the model, the trail never see them.
//!
//! The wasmtime engine and the vault are opened on the first plugin call, so runs that use no
//! plugin pay nothing for them.

use super::evm_signer::{LocalKeySigner, with_endpoint};
use super::ssh_client::{RusshExecutor, SshTarget, with_target};
use super::{HostConfig, LoadedPlugin, PluginCall, PluginHost, Secrets, SshPolicy};
use crate::governance::scope::{Source, ToolScope};
use crate::governance::{BoundTool, Executor};
use crate::store::Store;
use crate::vault::Vault;
use monstrum_model::{Manifest, ScopeRule, ToolDef};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use tokio::sync::OnceCell;

/// Where a plugin's component comes from.
#[derive(Clone)]
pub enum Component {
    /// Embedded in the binary.
    Builtin(&'static [u8]),
    /// A file (a plugin being developed in a workspace).
    File(PathBuf),
}

/// Runs allowed plugin calls on the plugin host.
pub struct HostExecutor {
    components: HashMap<String, Component>,
    cache_dir: Option<PathBuf>,
    data_dir: PathBuf,
    store: Option<Store>,
    host: OnceCell<PluginHost>,
    vault: OnceCell<Vault>,
    loaded: Mutex<HashMap<String, Arc<LoadedPlugin>>>,
}

impl HostExecutor {
    /// An executor for these components, caching compiled ones in `cache_dir`, reading
    /// credentials from the vault of `data_dir` in `store`.
    pub fn new(
        components: HashMap<String, Component>,
        cache_dir: Option<PathBuf>,
        data_dir: PathBuf,
        store: Option<Store>,
    ) -> HostExecutor {
        HostExecutor {
            components,
            cache_dir,
            data_dir,
            store,
            host: OnceCell::new(),
            vault: OnceCell::new(),
            loaded: Mutex::default(),
        }
    }

    async fn host(&self) -> Result<&PluginHost, String> {
        self.host
            .get_or_try_init(|| async {
                let config = HostConfig {
                    cache_dir: self.cache_dir.clone(),
                    ssh: Some(Arc::new(RusshExecutor)),
                    signer: Some(Arc::new(LocalKeySigner::new())),
                    ..HostConfig::default()
                };
                PluginHost::with_config(config).map_err(|e| format!("the plugin host cannot start: {e:#}"))
            })
            .await
    }

    fn plugin(&self, host: &PluginHost, manifest: &Arc<Manifest>) -> Result<Arc<LoadedPlugin>, String> {
        if let Some(p) = self.loaded.lock().map_err(|_| "plugin cache poisoned")?.get(&manifest.name) {
            return Ok(p.clone());
        }
        let component = self
            .components
            .get(&manifest.name)
            .ok_or_else(|| format!("plugin `{}` has no component", manifest.name))?;
        let bytes: std::borrow::Cow<'_, [u8]> = match component {
            Component::Builtin(b) => (*b).into(),
            Component::File(path) => std::fs::read(path)
                .map_err(|e| format!("plugin `{}`: cannot read {}: {e}", manifest.name, path.display()))?
                .into(),
        };
        let loaded = host.load(manifest.clone(), &bytes).map_err(|e| format!("plugin `{}`: {e:#}", manifest.name))?;
        self.loaded.lock().map_err(|_| "plugin cache poisoned")?.insert(manifest.name.clone(), loaded.clone());
        Ok(loaded)
    }

    async fn secrets(&self, tool: &BoundTool) -> Result<Secrets, String> {
        let mut secrets = Secrets::new();
        let entries = tool.credentials();
        if entries.is_empty() {
            return Ok(secrets);
        }
        let vault = self
            .vault
            .get_or_try_init(|| async {
                let store = self.store.clone().ok_or("credentials need a store")?;
                Vault::open(&self.data_dir, store).map_err(|e| format!("the vault cannot be opened: {e:#}"))
            })
            .await?;
        for (field, entry) in entries {
            let secret = vault.get(&entry).await.map_err(|e| format!("credential `{field}`: {e}"))?;
            let text =
                secret.expose_str().ok_or_else(|| format!("credential `{field}` ({entry}) is not UTF-8 text"))?;
            secrets.insert(field, text.to_string());
        }
        Ok(secrets)
    }
}

/// The binding's config over the manifest's defaults.
pub fn effective_config(manifest: &Manifest, given: &Map<String, Value>) -> Map<String, Value> {
    let mut config: Map<String, Value> =
        manifest.config.iter().filter_map(|(k, f)| f.default.clone().map(|d| (k.clone(), d))).collect();
    config.extend(given.iter().map(|(k, v)| (k.clone(), v.clone())));
    config
}

/// The manifest's `network:` origins, rendered with the config (`{{ config.api_url }}`).
pub fn origins(manifest: &Manifest, config: &Map<String, Value>) -> Result<Vec<String>, String> {
    let env = minijinja::Environment::new();
    let ctx = minijinja::context! { config => config };
    manifest.network.iter().map(|t| env.render_str(t, &ctx).map_err(|e| format!("network origin `{t}`: {e}"))).collect()
}

#[async_trait::async_trait]
impl Executor for HostExecutor {
    async fn execute(&self, tool: &BoundTool, arguments: Value) -> Result<Value, String> {
        let host = self.host().await?;
        let plugin = self.plugin(host, &tool.manifest)?;
        let config = effective_config(&tool.manifest, &tool.binding.config);
        let mut call = PluginCall::new(tool.binding.instance_name(), tool.tool.clone(), arguments);
        call.allowed_origins = origins(&tool.manifest, &config)?;
        call.config = config;
        call.secrets = self.secrets(tool).await?;
        call.ssh_policy = ssh_policy(&tool.manifest, &tool.binding.scope)?;
        let target = if call.ssh_policy.is_some() { SshTarget::from_config(&call.config)? } else { None };
        let rpc_url = signer_endpoint(&tool.manifest, &call.config);
        with_endpoint(rpc_url, with_target(target, host.call(&plugin, call))).await
    }
}

/// The JSON-RPC endpoint the host signer completes and submits transactions through: the
/// binding's `rpc_url`, for plugins that declare a signer credential only.
fn signer_endpoint(manifest: &Manifest, config: &Map<String, Value>) -> Option<String> {
    if !manifest.credentials.values().any(|c| c.inject.signer) {
        return None;
    }
    config.get("rpc_url").and_then(Value::as_str).filter(|s| !s.trim().is_empty()).map(str::to_string)
}

/// The policy of a call's SSH commands, from the manifest's `ssh:` block and the binding's
/// scope: the host and the argv (quoted back into one command line) go through the same scope
/// engine as tool parameters. No `ssh:` block: no policy, so every command is refused.
pub fn ssh_policy(manifest: &Manifest, scope: &BTreeMap<String, Value>) -> Result<Option<SshPolicy>, String> {
    let Some(ssh) = &manifest.ssh else {
        return Ok(None);
    };
    let rule =
        |dimension: &str, param: &str, kind| ScopeRule { dimension: dimension.into(), param: param.into(), kind };
    let def = ToolDef {
        name: "ssh".into(),
        description: String::new(),
        parameters: serde_json::json!({ "type": "object" }),
        scope: vec![
            rule(&ssh.host.dimension, "/host", ssh.host.kind),
            rule(&ssh.command.dimension, "/command", ssh.command.kind),
        ],
        redact: Vec::new(),
    };
    let compiled = ToolScope::compile(&def, scope, Source::Binding).map_err(|e| format!("ssh scope: {e}"))?;
    Ok(Some(Arc::new(move |host: &str, argv: &[String]| {
        let command =
            shlex::try_join(argv.iter().map(String::as_str)).map_err(|e| format!("cannot quote the command: {e}"))?;
        compiled.check(&serde_json::json!({ "host": host, "command": command })).map_err(|d| d.to_string())
    })))
}
