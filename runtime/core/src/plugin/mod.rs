//! The plugin host: runs integrations, WebAssembly components of the world
//! `monstrum:plugin/integration` (`plugins/sdk/wit/`), in a sandbox (DESIGN.md, "Plugins and the host").
//!
//! ```ignore
//! let host = PluginHost::new(Some(&workspace.join(".monstrum/plugin-cache")))?;
//! let plugin = host.load(Arc::new(manifest), &component_bytes)?;          // compile (cached) + pre-instantiate
//! let output = host.call(&plugin, PluginCall::new("github-work", "get_issue", args)).await; // Result<Value, String>
//! ```
//!
//! - [`PluginHost`] owns one wasmtime engine on the pooling allocator and the compile cache
//!   ([`cache`]): compiled components are kept on disk by content hash, so a second process
//!   loads one in milliseconds instead of compiling it again (hundreds of milliseconds).
//! - [`PluginHost::load`] gives a [`LoadedPlugin`]: the manifest, the component's sha256 and an
//!   `InstancePre` with every import already resolved.
//! - [`PluginHost::call`] runs one tool in a fresh store and instance: a fuel budget, a memory
//!   limit, a wall-clock timeout and a maximum output size ([`CallLimits`]). A trap, exhausted
//!   fuel, a refused memory growth, a timeout or an oversized output is an `Err(message)`: a tool
//!   error. The host and every other plugin carry on. At most
//!   [`HostConfig::max_concurrent_calls`] calls run at once (the pool's size); more wait.
//! - [`builtin()`] lists the plugins embedded at build time (`plugins/*`, built by `build.rs`).
//! - [`package`] reads and writes plugin packages (`.mst`: manifest, component, README,
//!   checksums), verifying everything before a workspace uses one.
//!
//! [`ssh_client::RusshExecutor`] is the [`SshExecutor`] the gate's executor uses (a host built
//! without one answers an allowed command "not available"); [`evm_signer::LocalKeySigner`] is
//! its [`EvmSigner`] (a host built without one answers "not configured"). The gate's executor
//! keeps `kv` in the store ([`kv::StoreKv`]); a host configured without one uses
//! [`kv::MemoryKv`], which forgets everything when the process ends.
//!
//! What a guest can reach is exactly what [`PluginCall`] grants: HTTP to `allowed_origins`
//! ([`http`]) with the credentials in `secrets` attached by the host (the guest names a
//! credential field, never sees its value), SSH commands that `ssh_policy` accepts ([`ssh`]),
//! key-value storage private to `instance` ([`kv`]), the host's log ([`log`]). A wasm32-wasip2
//! guest's standard library also imports WASI; it is linked to an empty context (no preopened
//! directories, no environment, no arguments, no sockets or name lookup, stdin empty, stdout
//! discarded, stderr kept only for the error message of a panic), so it grants nothing.
//!
//! The gate decides everything before a call reaches this module (schema, scope, budget) and
//! hands it the call's grants; this module only enforces them.

mod bindings;
pub mod builtin;
mod cache;
mod call;
mod evm;
mod evm_rpc;
mod evm_signer;
mod executor;
mod host;
mod http;
mod kv;
mod log;
pub mod package;
mod secrets;
mod signer_policy;
mod ssh;
mod ssh_client;
mod standalone;
mod state;
pub mod trace;

// What other crates see: which plugins exist, what their packages hold and what their manifests
// resolve to. The host that runs them is this crate's own; doors reach it only through the gate,
// but for an agent daemon's own packages ([`StandalonePlugins`]), whose calls the server's gate
// allowed before they crossed the link.
pub use builtin::{BuiltinPlugin, builtin};
pub use executor::{Component, effective_config, origins};
pub use http::Proxy;
pub use package::{INTERFACE_VERSIONS, Package};
pub use standalone::StandalonePlugins;

/// Checks that `component` runs on this host as the plugin `manifest` describes: a valid
/// component of the world `monstrum:plugin/integration`, of an interface version this host
/// speaks, whose every import the host offers and whose `call-tool` has the world's type. It is
/// compiled (and cached in `cache_dir`) but never run. Returns the interfaces it imports.
pub fn check_component(
    manifest: &monstrum_model::Manifest,
    component: &[u8],
    cache_dir: Option<&std::path::Path>,
) -> anyhow::Result<Vec<String>> {
    package::validate_component(&manifest.component, component)?;
    let host = PluginHost::new(cache_dir)?;
    let loaded = host.load(std::sync::Arc::new(manifest.clone()), component)?;
    Ok(loaded.imports())
}

pub(crate) use call::{HttpLimits, PluginCall};
pub(crate) use executor::HostExecutor;
pub(crate) use host::{HostConfig, LoadedPlugin, PluginHost};
pub(crate) use http::HttpPolicy;
pub(crate) use secrets::Secrets;
pub(crate) use signer_policy::signer_policy;
pub(crate) use ssh::SshPolicy;

/// The host's internals, for this crate's own benches and integration tests (feature
/// `internals`). No door crate enables it: `.ci/check-layout` fails the build if one does.
#[cfg(feature = "internals")]
#[doc(hidden)]
pub mod internals {
    pub use super::call::{CallLimits, HttpLimits, PluginCall};
    pub use super::evm::{EvmSigner, EvmTransaction, SignerPolicy};
    pub use super::evm_signer::LocalKeySigner;
    pub use super::executor::{HostExecutor, ssh_policy};
    pub use super::host::{HostConfig, LoadedPlugin, PluginHost};
    pub use super::http::HttpPolicy;
    pub use super::secrets::Secrets;
    pub use super::signer_policy::signer_policy;
    pub use super::ssh::{SshExecutor, SshOutput, SshPolicy};
    pub use super::ssh_client::{RusshExecutor, SshTarget, with_target};
}
