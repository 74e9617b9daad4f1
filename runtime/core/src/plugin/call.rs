//! One tool call: what the gate grants it and how much it may use.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Map, Value};

use super::evm::SignerPolicy;
use super::http::HttpPolicy;
use super::secrets::Secrets;
use super::ssh::SshPolicy;

/// A tool call the gate has allowed, with everything the guest may use while it runs.
#[derive(Clone)]
pub struct PluginCall {
    /// The plugin instance (`github-work`); it names the instance's private kv storage.
    pub instance: String,
    /// The tool.
    pub tool: String,
    /// The arguments, already validated against the tool's schema and scope.
    pub arguments: Value,
    /// The binding's config; the host fills in the manifest's defaults for fields not set.
    pub config: Map<String, Value>,
    /// Credential field -> secret; the host injects them, the guest never sees them.
    pub secrets: Secrets,
    /// Origins (`https://api.github.com`, or with a path prefix `https://host/api/v3`) the guest
    /// may send HTTP requests to; empty allows none.
    pub allowed_origins: Vec<String>,
    /// Credential field -> the one origin (optionally with a path prefix) whose requests may
    /// carry it. A field not listed may be attached only when the call can reach exactly one
    /// origin (one `allowed_origins` entry and no `http_policy`).
    pub credential_origins: BTreeMap<String, String>,
    /// Decides each request URL outside `allowed_origins` (the binding's scope); `None`
    /// allows none.
    pub http_policy: Option<HttpPolicy>,
    /// Per-request limits of the `http` capability, within the call's own limits.
    pub http_limits: HttpLimits,
    /// Decides each SSH command (host, argv); `None` allows none.
    pub ssh_policy: Option<SshPolicy>,
    /// Decides each transaction the guest asks the host to sign; `None` signs none.
    pub signer_policy: Option<SignerPolicy>,
    /// The call's idempotency key, given to the guest and, when the manifest names a header
    /// (`http.idempotency_header`), sent on each of its requests.
    pub idempotency_key: Option<String>,
    /// Resource limits.
    pub limits: CallLimits,
}

impl PluginCall {
    /// A call of `tool` on `instance` that may use nothing but CPU and memory within the default
    /// limits.
    pub fn new(instance: impl Into<String>, tool: impl Into<String>, arguments: Value) -> Self {
        Self {
            instance: instance.into(),
            tool: tool.into(),
            arguments,
            config: Map::new(),
            secrets: Secrets::new(),
            allowed_origins: Vec::new(),
            credential_origins: BTreeMap::new(),
            http_policy: None,
            http_limits: HttpLimits::default(),
            ssh_policy: None,
            signer_policy: None,
            idempotency_key: None,
            limits: CallLimits::default(),
        }
    }
}

impl std::fmt::Debug for PluginCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginCall")
            .field("instance", &self.instance)
            .field("tool", &self.tool)
            .field("secrets", &self.secrets)
            .field("allowed_origins", &self.allowed_origins)
            .field("credential_origins", &self.credential_origins)
            .field("http_policy", &self.http_policy.is_some())
            .field("http_limits", &self.http_limits)
            .field("ssh_policy", &self.ssh_policy.is_some())
            .field("signer_policy", &self.signer_policy.is_some())
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

/// What one call may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CallLimits {
    /// Fuel: roughly the number of WebAssembly instructions the guest may execute.
    pub fuel: u64,
    /// The most linear memory the guest may grow to, in bytes (capped by
    /// [`super::HostConfig::max_memory_bytes`]).
    pub memory_bytes: usize,
    /// Wall-clock time for the whole call, host calls (HTTP, SSH) included.
    pub timeout: Duration,
    /// The largest output (JSON text) accepted, in bytes. (An HTTP response body is bounded by
    /// `memory_bytes`: a larger one could not reach the guest anyway.)
    pub max_output_bytes: usize,
}

impl Default for CallLimits {
    fn default() -> Self {
        Self {
            fuel: 2_000_000_000,
            memory_bytes: 64 << 20,
            timeout: Duration::from_secs(30),
            max_output_bytes: 4 << 20,
        }
    }
}

/// Limits of each HTTP request of a call (the manifest's `http:` block); `None` leaves the
/// call's own limit (its remaining time, its memory limit).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HttpLimits {
    /// How long one request may take.
    pub timeout: Option<Duration>,
    /// The largest response body accepted, in bytes.
    pub max_body_bytes: Option<usize>,
}
