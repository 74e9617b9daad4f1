//! Storage private to the plugin instance: another instance of the same plugin has its own.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::bindings::monstrum::plugin::kv as wit;

/// The value stored under `key`.
pub fn get(key: &str) -> Result<Option<Vec<u8>>, String> {
    wit::get(key)
}

/// Stores `value` under `key`.
pub fn set(key: &str, value: &[u8]) -> Result<(), String> {
    wit::set(key, value)
}

/// Removes `key`.
pub fn delete(key: &str) -> Result<(), String> {
    wit::delete(key)
}

/// The JSON value stored under `key`.
pub fn get_json<T: DeserializeOwned>(key: &str) -> Result<Option<T>, String> {
    match get(key)? {
        Some(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| format!("kv value {key} is not JSON: {e}")),
        None => Ok(None),
    }
}

/// Stores `value` as JSON under `key`.
pub fn set_json<T: Serialize>(key: &str, value: &T) -> Result<(), String> {
    set(key, &serde_json::to_vec(value).map_err(|e| e.to_string())?)
}
