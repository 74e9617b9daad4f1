//! The `kv` capability: storage private to a plugin instance. [`KvStore`] is the seam where a
//! durable store plugs in; [`MemoryKv`] keeps everything in memory for the life of the host.

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

#[async_trait]
impl KvStore for MemoryKv {
    async fn get(&self, instance: &str, key: &str) -> Result<Option<Vec<u8>>, String> {
        check_key(key)?;
        let instances = self.instances.lock().map_err(|_| "kv store poisoned".to_string())?;
        Ok(instances.get(instance).and_then(|keys| keys.get(key)).cloned())
    }

    async fn set(&self, instance: &str, key: &str, value: Vec<u8>) -> Result<(), String> {
        check_key(key)?;
        if value.len() > MAX_VALUE_BYTES {
            return Err(format!("a value may have at most {MAX_VALUE_BYTES} bytes"));
        }
        let mut instances = self.instances.lock().map_err(|_| "kv store poisoned".to_string())?;
        let keys = instances.entry(instance.to_string()).or_default();
        if keys.len() >= MAX_KEYS_PER_INSTANCE && !keys.contains_key(key) {
            return Err(format!("instance {instance} already holds {MAX_KEYS_PER_INSTANCE} keys"));
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
        let kv = MemoryKv::default();
        kv.set("a", "k", b"1".to_vec()).await.unwrap();
        assert_eq!(kv.get("a", "k").await.unwrap(), Some(b"1".to_vec()));
        assert_eq!(kv.get("b", "k").await.unwrap(), None);
        kv.delete("a", "k").await.unwrap();
        assert_eq!(kv.get("a", "k").await.unwrap(), None);
        assert!(kv.set("a", "", vec![]).await.is_err());
        assert!(kv.set("a", "k", vec![0; MAX_VALUE_BYTES + 1]).await.is_err());
    }
}
