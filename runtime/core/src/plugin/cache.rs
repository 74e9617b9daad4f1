//! Compiled components, cached by content hash.
//!
//! Two levels: in memory, a host compiles each distinct component (by sha256 of its bytes) once;
//! on disk, wasmtime's own compile cache keeps the compiled code under the given directory (e.g.
//! `.monstrum/plugin-cache`), keyed by a hash of the component bytes, the compiler's settings and
//! the wasmtime version, so a new process loads instead of compiling. Using wasmtime's cache
//! keeps the (`unsafe`) deserialization of compiled code inside wasmtime: this crate forbids
//! `unsafe`.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::Context as _;
use sha2::{Digest, Sha256};
use wasmtime::component::Component;
use wasmtime::{Cache, CacheConfig, Engine};

/// How loads were served so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(not(feature = "internals"), allow(dead_code))] // used by the tests and benches
pub struct CacheStats {
    /// Components found already compiled in this host.
    pub memory_hits: usize,
    /// Components loaded from the disk cache.
    pub disk_hits: usize,
    /// Components compiled (and, with a cache directory, written to it).
    pub compiled: usize,
}

/// The compile cache of one host.
pub(crate) struct CompileCache {
    disk: Option<Cache>,
    memory: Mutex<HashMap<[u8; 32], Component>>,
    memory_hits: AtomicUsize,
    compiled_without_disk: AtomicUsize,
}

impl CompileCache {
    /// The disk cache under `dir` (created if missing), for the engine's configuration.
    pub(crate) fn disk(dir: &Path) -> anyhow::Result<Cache> {
        let dir = std::path::absolute(dir).with_context(|| format!("plugin cache directory {}", dir.display()))?;
        let mut config = CacheConfig::new();
        config.with_directory(&dir);
        Cache::new(config)
            .map_err(anyhow::Error::from)
            .with_context(|| format!("plugin cache directory {}", dir.display()))
    }

    pub(crate) fn new(disk: Option<Cache>) -> Self {
        Self {
            disk,
            memory: Mutex::new(HashMap::new()),
            memory_hits: AtomicUsize::new(0),
            compiled_without_disk: AtomicUsize::new(0),
        }
    }

    /// The compiled `bytes` and their sha256.
    pub(crate) fn component(&self, engine: &Engine, bytes: &[u8]) -> anyhow::Result<(Component, [u8; 32])> {
        let digest: [u8; 32] = Sha256::digest(bytes).into();
        if let Some(component) = self.memory.lock().unwrap_or_else(|e| e.into_inner()).get(&digest) {
            self.memory_hits.fetch_add(1, Ordering::Relaxed);
            return Ok((component.clone(), digest));
        }
        // Compiling takes tens of milliseconds; the lock is not held meanwhile (two threads
        // loading the same new component may both compile it, which is harmless).
        let component =
            Component::new(engine, bytes).map_err(anyhow::Error::from).context("not a valid WebAssembly component")?;
        if self.disk.is_none() {
            self.compiled_without_disk.fetch_add(1, Ordering::Relaxed);
        }
        self.memory.lock().unwrap_or_else(|e| e.into_inner()).insert(digest, component.clone());
        Ok((component, digest))
    }

    #[cfg_attr(not(feature = "internals"), allow(dead_code))] // used by the tests and benches
    pub(crate) fn stats(&self) -> CacheStats {
        let (disk_hits, disk_misses) = self.disk.as_ref().map_or((0, 0), |c| (c.cache_hits(), c.cache_misses()));
        CacheStats {
            memory_hits: self.memory_hits.load(Ordering::Relaxed),
            disk_hits,
            compiled: disk_misses + self.compiled_without_disk.load(Ordering::Relaxed),
        }
    }
}

/// Lower-case hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
