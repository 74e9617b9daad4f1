//! The gate's executor for plugin tools: the one place where a call the gate allowed becomes a
//! plugin call. Credentials are read from the vault here, at the boundary, and handed to the
//! host, which puts them on the outgoing request; the guest, the model, the trail never see them.
//!
//! The wasmtime engine and the vault are opened on the first plugin call, so runs that use no
//! plugin pay nothing for them.

use super::evm_signer::{LocalKeySigner, SentJournal, with_endpoint, with_sent_journal};
use super::kv::StoreKv;
use super::ssh_client::{RusshExecutor, SshTarget, with_target};
use super::{HostConfig, HttpLimits, HttpPolicy, LoadedPlugin, PluginCall, PluginHost, Proxy, Secrets, SshPolicy};
use crate::governance::scope::{Source, ToolScope};
use crate::governance::{BoundTool, Executor, Principal};
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
    /// The component of an installed package (`plugins/<name>.mst`), verified when it was read.
    Package(Arc<[u8]>),
}

/// Runs allowed plugin calls on the plugin host.
pub struct HostExecutor {
    components: HashMap<String, Component>,
    cache_dir: Option<PathBuf>,
    data_dir: PathBuf,
    store: Option<Store>,
    proxy: Proxy,
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
            proxy: Proxy::Env,
            host: OnceCell::new(),
            vault: OnceCell::new(),
            loaded: Mutex::default(),
        }
    }

    /// Sends plugins' HTTP requests through `proxy` (default: the environment's).
    pub fn with_proxy(mut self, proxy: Proxy) -> Self {
        self.proxy = proxy;
        self
    }

    async fn host(&self) -> Result<&PluginHost, String> {
        self.host
            .get_or_try_init(|| async {
                let mut config = HostConfig {
                    cache_dir: self.cache_dir.clone(),
                    ssh: Some(Arc::new(RusshExecutor)),
                    proxy: self.proxy.clone(),
                    signer: Some(Arc::new(LocalKeySigner::new())),
                    ..HostConfig::default()
                };
                if let Some(store) = &self.store {
                    config.kv = Arc::new(StoreKv::new(store.clone()));
                }
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
            Component::Package(bytes) => (**bytes).into(),
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

/// A manifest template (`{{ config.api_url }}`) rendered with the config.
fn render(template: &str, config: &Map<String, Value>) -> Result<String, String> {
    let env = minijinja::Environment::new();
    env.render_str(template, minijinja::context! { config => config }).map_err(|e| e.to_string())
}

/// The manifest's `network:` origins, rendered with the config (`{{ config.api_url }}`).
pub fn origins(manifest: &Manifest, config: &Map<String, Value>) -> Result<Vec<String>, String> {
    manifest.network.iter().map(|t| render(t, config).map_err(|e| format!("network origin `{t}`: {e}"))).collect()
}

/// The origin each HTTP credential field is tied to (`inject.origin`, rendered with the
/// config). A field without one is left out: the host then attaches it only when the call can
/// reach a single origin.
pub fn credential_origins(
    manifest: &Manifest,
    config: &Map<String, Value>,
) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    for (field, spec) in &manifest.credentials {
        if let Some(template) = &spec.inject.origin {
            let origin = render(template, config).map_err(|e| format!("origin of credential `{field}`: {e}"))?;
            out.insert(field.clone(), origin);
        }
    }
    Ok(out)
}

/// The per-request limits of the manifest's `http:` block, rendered with the config.
pub fn http_limits(manifest: &Manifest, config: &Map<String, Value>) -> Result<HttpLimits, String> {
    let Some(http) = &manifest.http else {
        return Ok(HttpLimits::default());
    };
    let number = |what: &str, template: &Option<String>| -> Result<Option<f64>, String> {
        let Some(template) = template else { return Ok(None) };
        let text = render(template, config).map_err(|e| format!("http.{what}: {e}"))?;
        match text.trim().parse::<f64>() {
            Ok(n) if n.is_finite() && n > 0.0 => Ok(Some(n)),
            _ => Err(format!("http.{what}: `{text}` is not a positive number")),
        }
    };
    Ok(HttpLimits {
        timeout: number("timeout_secs", &http.timeout_secs)?.map(std::time::Duration::from_secs_f64),
        max_body_bytes: number("max_response_bytes", &http.max_response_bytes)?.map(|n| n as usize),
    })
}

/// The policy of request URLs outside `network:`, from the manifest's `http.url` rule, the
/// binding's scope and the values that narrow it (the caller's skills and delegations): the whole
/// URL goes through the same scope engine as tool parameters, so the guest reaches no more than
/// what the caller may name in a tool parameter. No rule: no policy, so only `network:` is
/// reachable.
pub fn http_policy(
    manifest: &Manifest,
    scope: &BTreeMap<String, Value>,
    narrowing: &[&BTreeMap<String, Value>],
) -> Result<Option<HttpPolicy>, String> {
    let Some(rule) = manifest.http.as_ref().and_then(|h| h.url.as_ref()) else {
        return Ok(None);
    };
    let rules = vec![ScopeRule { dimension: rule.dimension.clone(), param: "/url".into(), kind: rule.kind }];
    let scopes = capability_scopes("http", rules, scope, narrowing)?;
    Ok(Some(Arc::new(move |url: &str| check_all(&scopes, &serde_json::json!({ "url": url })))))
}

/// A host capability's rules compiled against the binding's values (where a dimension without
/// values allows nothing) and against each narrowing (where it does not narrow).
pub(crate) fn capability_scopes(
    capability: &str,
    rules: Vec<ScopeRule>,
    scope: &BTreeMap<String, Value>,
    narrowing: &[&BTreeMap<String, Value>],
) -> Result<Vec<ToolScope>, String> {
    let def = ToolDef {
        name: capability.into(),
        description: String::new(),
        parameters: serde_json::json!({ "type": "object" }),
        scope: rules,
        redact: Vec::new(),
        effect: Default::default(),
    };
    let compile =
        |values, source| ToolScope::compile(&def, values, source).map_err(|e| format!("{capability} scope: {e}"));
    let mut scopes = vec![compile(scope, Source::Binding)?];
    for values in narrowing {
        let narrower = compile(values, Source::Constraint)?;
        if !narrower.is_empty() {
            scopes.push(narrower);
        }
    }
    Ok(scopes)
}

/// Every scope must allow `call`.
pub(crate) fn check_all(scopes: &[ToolScope], call: &Value) -> Result<(), String> {
    scopes.iter().try_for_each(|scope| scope.check(call).map_err(|d| d.to_string()))
}

#[async_trait::async_trait]
impl Executor for HostExecutor {
    async fn execute(
        &self,
        tool: &BoundTool,
        arguments: Value,
        principal: &Principal,
        key: Option<&str>,
    ) -> Result<Value, String> {
        let host = self.host().await?;
        let plugin = self.plugin(host, &tool.manifest)?;
        let config = effective_config(&tool.manifest, &tool.binding.config);
        let mut call = PluginCall::new(tool.binding.instance_name(), tool.tool.clone(), arguments);
        call.idempotency_key = key.map(str::to_string);
        call.allowed_origins = origins(&tool.manifest, &config)?;
        call.credential_origins = credential_origins(&tool.manifest, &config)?;
        call.http_limits = http_limits(&tool.manifest, &config)?;
        let narrowing = principal.narrowing();
        call.http_policy = http_policy(&tool.manifest, &tool.binding.scope, &narrowing)?;
        call.config = config;
        call.secrets = self.secrets(tool).await?;
        call.ssh_policy = ssh_policy(&tool.manifest, &tool.binding.scope, &narrowing)?;
        call.signer_policy = super::signer_policy(&tool.manifest, &tool.binding.scope, &narrowing)?;
        let target = if call.ssh_policy.is_some() { SshTarget::from_config(&call.config)? } else { None };
        let rpc_url = signer_endpoint(&tool.manifest, &call.config);
        let sent = match (&self.store, key, &rpc_url) {
            (Some(store), Some(key), Some(_)) => Some(SentJournal::new(store.clone(), key.to_string())),
            _ => None,
        };
        with_endpoint(rpc_url, with_sent_journal(sent, with_target(target, host.call(&plugin, call)))).await
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

/// The policy of a call's SSH commands, from the manifest's `ssh:` block, the binding's scope
/// and the values that narrow it (the caller's skills and delegations): the host and the argv
/// (quoted back into one command line) go through the same scope engine as tool parameters, and
/// every one of them must allow. No `ssh:` block: no policy, so every command is refused.
pub fn ssh_policy(
    manifest: &Manifest,
    scope: &BTreeMap<String, Value>,
    narrowing: &[&BTreeMap<String, Value>],
) -> Result<Option<SshPolicy>, String> {
    let Some(ssh) = &manifest.ssh else {
        return Ok(None);
    };
    let rule =
        |dimension: &str, param: &str, kind| ScopeRule { dimension: dimension.into(), param: param.into(), kind };
    let rules = vec![
        rule(&ssh.host.dimension, "/host", ssh.host.kind),
        rule(&ssh.command.dimension, "/command", ssh.command.kind),
    ];
    let scopes = capability_scopes("ssh", rules, scope, narrowing)?;
    Ok(Some(Arc::new(move |host: &str, argv: &[String]| {
        let command =
            shlex::try_join(argv.iter().map(String::as_str)).map_err(|e| format!("cannot quote the command: {e}"))?;
        check_all(&scopes, &serde_json::json!({ "host": host, "command": command }))
    })))
}
