//! The `kv` capability: storage private to a plugin instance. [`StoreKv`] keeps it in the
//! workspace's store across runs (what `monstrum` uses); [`MemoryKv`] keeps everything in memory
//! for the life of the host (tests, benches, a host without a store). Both enforce the same limits.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;

/// The longest key, in bytes.
pub const MAX_KEY_BYTES: usize = 512;
/// The largest value, in bytes.
pub const MAX_VALUE_BYTES: usize = 1 << 20;
/// The most keys one instance may hold.
pub const MAX_KEYS_PER_INSTANCE: usize = 10_000;

/// Key-value storage partitioned by plugin instance: one instance never sees another's keys.
#[async_trait]
pub trait KvStore: Send + Sync {
    async fn get(&self, instance: &str, key: &str) -> Result<Option<Vec<u8>>, String>;
    async fn set(&self, instance: &str, key: &str, value: Vec<u8>) -> Result<(), String>;
    async fn delete(&self, instance: &str, key: &str) -> Result<(), String>;
}

/// A [`KvStore`] in memory.
#[derive(Debug, Default)]
pub struct MemoryKv {
    instances: Mutex<HashMap<String, HashMap<String, Vec<u8>>>>,
}

fn check_key(key: &str) -> Result<(), String> {
    if key.is_empty() || key.len() > MAX_KEY_BYTES {
        return Err(format!("a key must have 1 to {MAX_KEY_BYTES} bytes"));
    }
    Ok(())
}

fn check_value(value: &[u8]) -> Result<(), String> {
    if value.len() > MAX_VALUE_BYTES {
        return Err(format!("a value may have at most {MAX_VALUE_BYTES} bytes"));
    }
    Ok(())
}

fn too_many(instance: &str) -> String {
    format!("instance {instance} already holds {MAX_KEYS_PER_INSTANCE} keys")
}

/// A [`KvStore`] in the workspace's store (SQLite or PostgreSQL).
pub struct StoreKv {
    store: crate::store::Store,
}

impl StoreKv {
    /// Plugin storage in `store`.
    pub fn new(store: crate::store::Store) -> StoreKv {
        StoreKv { store }
    }
}

#[async_trait]
impl KvStore for StoreKv {
    async fn get(&self, instance: &str, key: &str) -> Result<Option<Vec<u8>>, String> {
        check_key(key)?;
        self.store.plugin_kv_get(instance, key).await.map_err(|e| e.to_string())
    }

    async fn set(&self, instance: &str, key: &str, value: Vec<u8>) -> Result<(), String> {
        check_key(key)?;
        check_value(&value)?;
        let exists = self.store.plugin_kv_get(instance, key).await.map_err(|e| e.to_string())?.is_some();
        if !exists
            && self.store.plugin_kv_count(instance).await.map_err(|e| e.to_string())? >= MAX_KEYS_PER_INSTANCE as i64
        {
            return Err(too_many(instance));
        }
        self.store.plugin_kv_set(instance, key, &value, crate::store::now_ms()).await.map_err(|e| e.to_string())
    }

    async fn delete(&self, instance: &str, key: &str) -> Result<(), String> {
        check_key(key)?;
        self.store.plugin_kv_delete(instance, key).await.map_err(|e| e.to_string())
    }
}

#[async_trait]
impl KvStore for MemoryKv {
    async fn get(&self, instance: &str, key: &str) -> Result<Option<Vec<u8>>, String> {
        check_key(key)?;
        let instances = self.instances.lock().map_err(|_| "kv store poisoned".to_string())?;
        Ok(instances.get(instance).and_then(|keys| keys.get(key)).cloned())
    }

    async fn set(&self, instance: &str, key: &str, value: Vec<u8>) -> Result<(), String> {
        check_key(key)?;
        check_value(&value)?;
        let mut instances = self.instances.lock().map_err(|_| "kv store poisoned".to_string())?;
        let keys = instances.entry(instance.to_string()).or_default();
        if keys.len() >= MAX_KEYS_PER_INSTANCE && !keys.contains_key(key) {
            return Err(too_many(instance));
        }
        keys.insert(key.to_string(), value);
        Ok(())
    }

    async fn delete(&self, instance: &str, key: &str) -> Result<(), String> {
        check_key(key)?;
        let mut instances = self.instances.lock().map_err(|_| "kv store poisoned".to_string())?;
        if let Some(keys) = instances.get_mut(instance) {
            keys.remove(key);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn instances_are_isolated_and_limits_hold() {
        let dir = tempfile::tempdir().unwrap();
        let url = crate::store::Store::sqlite_url(&dir.path().join("kv.db"));
        let store = crate::store::Store::open(&url).await.unwrap();
        isolated_and_limited(&MemoryKv::default()).await;
        isolated_and_limited(&StoreKv::new(store.clone())).await;
        // What the store keeps outlives the host that wrote it.
        StoreKv::new(store.clone()).set("a", "kept", b"v".to_vec()).await.unwrap();
        assert_eq!(StoreKv::new(store).get("a", "kept").await.unwrap(), Some(b"v".to_vec()));
    }

    async fn isolated_and_limited(kv: &dyn KvStore) {
        kv.set("a", "k", b"1".to_vec()).await.unwrap();
        assert_eq!(kv.get("a", "k").await.unwrap(), Some(b"1".to_vec()));
        assert_eq!(kv.get("b", "k").await.unwrap(), None);
        kv.delete("a", "k").await.unwrap();
        assert_eq!(kv.get("a", "k").await.unwrap(), None);
        assert!(kv.set("a", "", vec![]).await.is_err());
        assert!(kv.set("a", "k", vec![0; MAX_VALUE_BYTES + 1]).await.is_err());
    }
}
