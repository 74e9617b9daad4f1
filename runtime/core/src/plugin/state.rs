//! What one call's store holds: the call's grants, its limits and an empty WASI context.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use monstrum_model::Manifest;
use wasmtime::component::ResourceTable;
use wasmtime::{ResourceLimiter, StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::evm::{EvmSigner, SignerPolicy};
use super::http::{AllowedOrigins, HttpClient, HttpPolicy};
use super::kv::KvStore;
use super::secrets::Secrets;
use super::ssh::{SshExecutor, SshPolicy};
use super::trace::HttpLog;

/// How much of a guest's stderr is kept (for the message of a panic).
const STDERR_CAPACITY: usize = 16 << 10;

/// The data of one call's store.
pub(crate) struct CallState {
    pub(crate) env: CallEnv,
    pub(crate) limiter: Limiter,
    pub(crate) stderr: MemoryOutputPipe,
    /// The guest's HTTP requests, when the caller collects traces ([`super::trace`]).
    pub(crate) http_log: HttpLog,
    wasi: WasiCtx,
    table: ResourceTable,
}

/// What the capabilities of one call work with (shared by reference across their awaits, so
/// it holds nothing that is not `Sync`, unlike the WASI context).
pub(crate) struct CallEnv {
    pub(crate) manifest: Arc<Manifest>,
    pub(crate) instance: String,
    pub(crate) secrets: Secrets,
    pub(crate) origins: AllowedOrigins,
    /// The origin each credential field is tied to.
    pub(crate) credential_origins: BTreeMap<String, AllowedOrigins>,
    /// Decides request URLs outside `origins`.
    pub(crate) http_policy: Option<HttpPolicy>,
    /// The longest one HTTP request may take, if shorter than what is left of the call.
    pub(crate) http_timeout: Option<Duration>,
    pub(crate) ssh_policy: Option<SshPolicy>,
    pub(crate) signer_policy: Option<SignerPolicy>,
    pub(crate) idempotency_key: Option<String>,
    /// When the call must be over; host calls get no more time than what is left.
    pub(crate) deadline: Instant,
    /// The largest HTTP response body accepted.
    pub(crate) max_body_bytes: usize,
    pub(crate) http: Arc<HttpClient>,
    pub(crate) kv: Arc<dyn KvStore>,
    pub(crate) ssh: Option<Arc<dyn SshExecutor>>,
    pub(crate) signer: Option<Arc<dyn EvmSigner>>,
}

/// The parts of a [`CallState`] that come from the host rather than from the call.
pub(crate) struct Capabilities {
    pub(crate) http: Arc<HttpClient>,
    pub(crate) kv: Arc<dyn KvStore>,
    pub(crate) ssh: Option<Arc<dyn SshExecutor>>,
    pub(crate) signer: Option<Arc<dyn EvmSigner>>,
}

pub(crate) struct CallGrants {
    pub(crate) manifest: Arc<Manifest>,
    pub(crate) instance: String,
    pub(crate) secrets: Secrets,
    pub(crate) origins: AllowedOrigins,
    pub(crate) credential_origins: BTreeMap<String, AllowedOrigins>,
    pub(crate) http_policy: Option<HttpPolicy>,
    pub(crate) http_limits: super::call::HttpLimits,
    pub(crate) ssh_policy: Option<SshPolicy>,
    pub(crate) signer_policy: Option<SignerPolicy>,
    pub(crate) idempotency_key: Option<String>,
    pub(crate) deadline: Instant,
    pub(crate) memory_bytes: usize,
}

impl CallState {
    pub(crate) fn new(grants: CallGrants, caps: &Capabilities) -> Self {
        let stderr = MemoryOutputPipe::new(STDERR_CAPACITY);
        // Nothing inherited: no environment, arguments, preopened directories, stdin or stdout,
        // and no sockets or name lookup. Clocks and random are the only things left to the guest.
        let wasi = WasiCtx::builder()
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        let env = CallEnv {
            manifest: grants.manifest,
            instance: grants.instance,
            secrets: grants.secrets,
            origins: grants.origins,
            credential_origins: grants.credential_origins,
            http_policy: grants.http_policy,
            http_timeout: grants.http_limits.timeout,
            ssh_policy: grants.ssh_policy,
            signer_policy: grants.signer_policy,
            idempotency_key: grants.idempotency_key,
            deadline: grants.deadline,
            max_body_bytes: grants
                .http_limits
                .max_body_bytes
                .map_or(grants.memory_bytes, |n| n.min(grants.memory_bytes)),
            http: caps.http.clone(),
            kv: caps.kv.clone(),
            ssh: caps.ssh.clone(),
            signer: caps.signer.clone(),
        };
        Self {
            env,
            limiter: Limiter::new(grants.memory_bytes),
            stderr,
            http_log: HttpLog::for_this_task(),
            wasi,
            table: ResourceTable::new(),
        }
    }
}

impl WasiView for CallState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

/// [`StoreLimits`] with `trap_on_grow_failure`, remembering whether memory growth was refused
/// so that the error can say so.
pub(crate) struct Limiter {
    inner: StoreLimits,
    pub(crate) memory_refused: bool,
    /// The most linear memory the guest has had, in bytes.
    pub(crate) memory_peak: usize,
}

impl Limiter {
    fn new(memory_bytes: usize) -> Self {
        let inner = StoreLimitsBuilder::new().memory_size(memory_bytes).trap_on_grow_failure(true).build();
        Self { inner, memory_refused: false, memory_peak: 0 }
    }
}

impl ResourceLimiter for Limiter {
    fn memory_growing(&mut self, current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
        let allowed = self.inner.memory_growing(current, desired, maximum);
        if matches!(allowed, Ok(true)) {
            self.memory_peak = self.memory_peak.max(desired);
        } else {
            self.memory_refused = true;
        }
        allowed
    }

    fn memory_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.memory_refused = true;
        self.inner.memory_grow_failed(error)
    }

    fn table_growing(&mut self, current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
        self.inner.table_growing(current, desired, maximum)
    }

    fn table_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.inner.table_grow_failed(error)
    }

    fn instances(&self) -> usize {
        self.inner.instances()
    }

    fn tables(&self) -> usize {
        self.inner.tables()
    }

    fn memories(&self) -> usize {
        self.inner.memories()
    }
}
