//! The engine, loading components and running one call.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use monstrum_model::Manifest;
use serde_json::Value;
use tokio::sync::Semaphore;
use wasmtime::component::{HasSelf, Linker};
use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store, Trap};

use super::bindings::{CallContext, Integration, IntegrationPre, ToolError};
use super::cache::{CacheStats, CompileCache, hex};
use super::call::{CallLimits, PluginCall};
use super::evm::EvmSigner;
use super::http::{AllowedOrigins, HttpClient, Proxy};
use super::kv::{KvStore, MemoryKv};
use super::log::truncate;
use super::ssh::SshExecutor;
use super::state::{CallGrants, CallState, Capabilities};

/// A running guest yields to the async executor every this much fuel, so that a call's timeout
/// (and other tasks) get a turn even while the guest computes.
const FUEL_YIELD_INTERVAL: u64 = 100_000;
/// The longest tool error message passed on, in bytes.
const MAX_ERROR_BYTES: usize = 4096;
/// How much of each pooled table and fiber stack is kept resident between calls.
const KEEP_RESIDENT_BYTES: usize = 64 << 10;
/// The most of a guest's written memory reset in place, rather than handed back to the kernel,
/// when a call ends (with `PAGEMAP_SCAN` only).
const MEMORY_KEEP_RESIDENT_BYTES: usize = 1 << 20;

/// How a [`PluginHost`] is set up.
pub struct HostConfig {
    /// Where compiled components are cached (`.monstrum/plugin-cache`); `None` compiles every
    /// component in every process.
    pub cache_dir: Option<PathBuf>,
    /// The most linear memory any call may use ([`CallLimits::memory_bytes`] is capped to it);
    /// it sizes the pooling allocator's memory slots.
    pub max_memory_bytes: usize,
    /// How many calls may run at once; it sizes the pooling allocator.
    pub max_concurrent_calls: u32,
    /// How HTTP requests reach the network.
    pub proxy: Proxy,
    /// The storage behind the `kv` capability.
    pub kv: Arc<dyn KvStore>,
    /// Runs SSH commands; `None` answers every `ssh.exec` with "not available".
    pub ssh: Option<Arc<dyn SshExecutor>>,
    /// Signs EVM transactions; `None` answers with "not configured".
    pub signer: Option<Arc<dyn EvmSigner>>,
}

impl Default for HostConfig {
    fn default() -> Self {
        Self {
            cache_dir: None,
            max_memory_bytes: 512 << 20,
            max_concurrent_calls: 64,
            proxy: Proxy::Env,
            kv: Arc::new(MemoryKv::default()),
            ssh: None,
            signer: None,
        }
    }
}

/// Runs plugin tools in sandboxes. One per process; cheap to share behind an `Arc`.
pub struct PluginHost {
    engine: Engine,
    linker: Linker<CallState>,
    cache: CompileCache,
    caps: Capabilities,
    max_memory_bytes: usize,
    /// One permit per instance slot of the pool: calls beyond it wait instead of failing.
    slots: Semaphore,
}

/// A component compiled and pre-instantiated for a manifest.
pub struct LoadedPlugin {
    manifest: Arc<Manifest>,
    sha256: String,
    pre: IntegrationPre<CallState>,
}

#[cfg_attr(not(feature = "internals"), allow(dead_code))] // used by the tests and benches
impl LoadedPlugin {
    /// The plugin's manifest.
    pub fn manifest(&self) -> &Arc<Manifest> {
        &self.manifest
    }

    /// The sha256 of the component, hex.
    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    /// The interfaces the component imports (`monstrum:plugin/http@0.1.0`, `wasi:cli/...`).
    pub fn imports(&self) -> Vec<String> {
        let component = self.pre.instance_pre().component();
        component.component_type().imports(component.engine()).map(|(name, _)| name.to_string()).collect()
    }
}

impl std::fmt::Debug for LoadedPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedPlugin").field("name", &self.manifest.name).field("sha256", &self.sha256).finish()
    }
}

impl PluginHost {
    /// A host with the default [`HostConfig`] and the compile cache in `cache_dir`.
    #[cfg_attr(not(feature = "internals"), allow(dead_code))] // used by the tests and benches
    pub fn new(cache_dir: Option<&Path>) -> anyhow::Result<Self> {
        Self::with_config(HostConfig { cache_dir: cache_dir.map(Path::to_path_buf), ..HostConfig::default() })
    }

    /// A host set up by `config`.
    pub fn with_config(config: HostConfig) -> anyhow::Result<Self> {
        let disk = config.cache_dir.as_deref().map(CompileCache::disk).transpose()?;
        let n = config.max_concurrent_calls.max(1);
        let mut pool = PoolingAllocationConfig::new();
        pool.total_component_instances(n)
            // A wasm32-wasip2 guest is a few core instances (the program, the WASI adapter, shims).
            .total_core_instances(n * 8)
            .total_memories(n * 2)
            .total_tables(n * 4)
            .total_stacks(n)
            .max_memory_size(config.max_memory_bytes)
            // A call's instance is dropped when it returns. Resetting its tables and fiber stack
            // in place (instead of handing them back to the kernel) spares the next call the
            // page faults of touching them again. (Memories are not: resetting a guest's 1 MiB
            // stack region in place costs more than the faults it saves.)
            .table_keep_resident(KEEP_RESIDENT_BYTES)
            .async_stack_keep_resident(KEEP_RESIDENT_BYTES)
            // Returning a finished call's pages to the kernel in batches saves TLB shootdowns; a
            // slot is only reused once its batch is done, so no call sees another's memory.
            .decommit_batch_size((n as usize / 2).max(1));
        if PoolingAllocationConfig::is_pagemap_scan_available() {
            // Linux 6.7+ tells which pages a call wrote (`PAGEMAP_SCAN`): up to this much of them
            // is copied back from the module's image or zeroed in place when the call ends, so
            // the next call in the slot neither faults them in again nor waits for `madvise` and
            // its TLB shootdown. Without the scan, keeping memory resident would mean resetting
            // its whole low region on every call, which costs more than the faults it saves.
            pool.pagemap_scan(Enabled::Yes).linear_memory_keep_resident(MEMORY_KEEP_RESIDENT_BYTES);
        }
        let mut wasm = Config::new();
        wasm.wasm_component_model(true)
            .consume_fuel(true)
            .cache(disk.clone())
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&wasm).map_err(anyhow::Error::from).context("starting the WebAssembly engine")?;

        let mut linker = Linker::new(&engine);
        Integration::add_to_linker::<CallState, HasSelf<CallState>>(&mut linker, |state| state)?;
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;

        let caps = Capabilities {
            http: Arc::new(HttpClient::new(&config.proxy).context("setting up the HTTP client")?),
            kv: config.kv,
            ssh: config.ssh,
            signer: config.signer,
        };
        Ok(Self {
            engine,
            linker,
            cache: CompileCache::new(disk),
            caps,
            max_memory_bytes: config.max_memory_bytes,
            slots: Semaphore::new(n as usize),
        })
    }

    /// Compiles `component` (or finds it in the cache) and pre-instantiates it: every import is
    /// resolved now, so a component that imports anything the host does not offer, or does not
    /// export `call-tool`, is refused here.
    pub fn load(&self, manifest: Arc<Manifest>, component: &[u8]) -> anyhow::Result<Arc<LoadedPlugin>> {
        let name = &manifest.name;
        let (compiled, digest) =
            self.cache.component(&self.engine, component).with_context(|| format!("loading plugin {name}"))?;
        let pre = self
            .linker
            .instantiate_pre(&compiled)
            .map_err(anyhow::Error::from)
            .with_context(|| format!("plugin {name} needs something the host does not offer"))?;
        let pre = IntegrationPre::new(pre)
            .map_err(anyhow::Error::from)
            .with_context(|| format!("plugin {name} is not a monstrum:plugin/integration component"))?;
        Ok(Arc::new(LoadedPlugin { manifest, sha256: hex(&digest), pre }))
    }

    /// How loads were served so far.
    #[cfg_attr(not(feature = "internals"), allow(dead_code))] // used by the tests and benches
    pub fn cache_stats(&self) -> CacheStats {
        self.cache.stats()
    }

    /// Runs one tool in a fresh instance. `Err` is the tool error's message. When
    /// [`HostConfig::max_concurrent_calls`] calls are running, the call first waits for one of
    /// them to end (the wait does not count against its timeout).
    pub async fn call(&self, plugin: &LoadedPlugin, call: PluginCall) -> Result<Value, String> {
        let name = format!("{}.{}", call.instance, call.tool);
        let _slot = self.slots.acquire().await.map_err(|_| format!("{name}: the plugin host is shutting down"))?;
        let started = Instant::now();
        let limits = CallLimits { memory_bytes: call.limits.memory_bytes.min(self.max_memory_bytes), ..call.limits };
        let origins = AllowedOrigins::parse(&call.allowed_origins).map_err(|e| format!("{name}: {e}"))?;
        let mut credential_origins = std::collections::BTreeMap::new();
        for (field, origin) in &call.credential_origins {
            let parsed = AllowedOrigins::parse(std::slice::from_ref(origin))
                .map_err(|e| format!("{name}: the origin of credential `{field}`: {e}"))?;
            credential_origins.insert(field.clone(), parsed);
        }
        let arguments = serde_json::to_string(&call.arguments).map_err(|e| format!("{name}: arguments: {e}"))?;
        let mut config = call.config;
        for (key, field) in &plugin.manifest.config {
            if let (false, Some(default)) = (config.contains_key(key), &field.default) {
                config.insert(key.clone(), default.clone());
            }
        }
        let context = CallContext {
            instance: call.instance.clone(),
            config: Value::Object(config).to_string(),
            idempotency_key: call.idempotency_key.clone(),
        };
        let grants = CallGrants {
            manifest: plugin.manifest.clone(),
            instance: call.instance,
            secrets: call.secrets,
            origins,
            credential_origins,
            http_policy: call.http_policy,
            http_limits: call.http_limits,
            ssh_policy: call.ssh_policy,
            signer_policy: call.signer_policy,
            idempotency_key: call.idempotency_key,
            deadline: started + limits.timeout,
            memory_bytes: limits.memory_bytes,
        };
        let mut store = Store::new(&self.engine, CallState::new(grants, &self.caps));
        store.limiter(|state| &mut state.limiter);
        store.set_fuel(limits.fuel).map_err(|e| format!("{name}: {e}"))?;
        store.fuel_async_yield_interval(Some(FUEL_YIELD_INTERVAL)).map_err(|e| format!("{name}: {e}"))?;

        let run = async {
            let bindings = plugin.pre.instantiate_async(&mut store).await?;
            bindings.call_call_tool(&mut store, &call.tool, &arguments, &context).await
        };
        let outcome = tokio::time::timeout(limits.timeout, run).await;
        let fuel_used = limits.fuel.saturating_sub(store.get_fuel().unwrap_or(0));
        tracing::debug!(plugin = %plugin.manifest.name, call = %name, elapsed = ?started.elapsed(), fuel_used, "plugin call");
        if let Some(http) = store.data_mut().http_log.0.take() {
            super::trace::record(super::trace::CallTrace {
                call: name.clone(),
                fuel_used,
                fuel_limit: limits.fuel,
                memory_peak_bytes: store.data().limiter.memory_peak,
                memory_limit_bytes: limits.memory_bytes,
                duration_ms: started.elapsed().as_secs_f64() * 1000.0,
                http,
            });
        }
        let output = match outcome {
            Err(_) => return Err(format!("{name}: did not finish within {:?}", limits.timeout)),
            Ok(Err(error)) => return Err(format!("{name}: {}", describe_failure(store.data(), &error, &limits))),
            Ok(Ok(Err(error))) => return Err(format!("{name}: {}", describe_tool_error(error))),
            Ok(Ok(Ok(output))) => output,
        };
        if output.len() > limits.max_output_bytes {
            return Err(format!(
                "{name}: returned {} bytes, more than the limit of {} bytes",
                output.len(),
                limits.max_output_bytes
            ));
        }
        serde_json::from_str(&output).map_err(|e| format!("{name}: returned invalid JSON: {e}"))
    }
}

fn describe_tool_error(error: ToolError) -> String {
    match error {
        ToolError::UnknownTool(tool) => format!("no such tool: {}", truncate(&tool, MAX_ERROR_BYTES)),
        ToolError::InvalidArguments(m) => format!("invalid arguments: {}", truncate(&m, MAX_ERROR_BYTES)),
        ToolError::Failed(m) => truncate(&m, MAX_ERROR_BYTES).to_string(),
    }
}

/// Why the guest stopped: a trap, a limit or an error of the host.
fn describe_failure(state: &CallState, error: &wasmtime::Error, limits: &CallLimits) -> String {
    if state.limiter.memory_refused {
        return format!("exceeded its memory limit of {} bytes", limits.memory_bytes);
    }
    match error.downcast_ref::<Trap>() {
        Some(Trap::OutOfFuel) => format!("ran out of fuel ({} units): it computed for too long", limits.fuel),
        Some(Trap::StackOverflow) => "overflowed its stack (recursion too deep)".to_string(),
        // Rust and C guests keep their stack in linear memory, below the data: running off its
        // end is an access below address 0.
        Some(Trap::MemoryOutOfBounds) if panic_message(state).is_none() => {
            "trapped: out-of-bounds memory access (the guest's stack overflows this way: recursion too deep?)"
                .to_string()
        }
        Some(Trap::UnreachableCodeReached) => match panic_message(state) {
            Some(message) => format!("panicked: {message}"),
            None => "trapped: wasm `unreachable` executed".to_string(),
        },
        Some(trap) => match panic_message(state) {
            Some(message) => format!("trapped ({trap}) after: {message}"),
            None => format!("trapped: {trap}"),
        },
        None => format!("failed: {}", truncate(&format!("{error:#}"), MAX_ERROR_BYTES)),
    }
}

/// What the guest wrote to stderr when it panicked (Rust's panic hook writes there).
fn panic_message(state: &CallState) -> Option<String> {
    let stderr = state.stderr.contents();
    let text = String::from_utf8_lossy(&stderr);
    let start = text.rfind("panicked at")?;
    let message = text[start..].trim().replace('\n', " ");
    Some(truncate(&message, MAX_ERROR_BYTES).to_string())
}
