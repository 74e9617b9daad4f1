//! Bot memory: what a bot keeps between steps and runs. Operations on a bot's own memory skip
//! the scope engine (ownership is the permission); the bot is always the caller's, never an
//! argument, so no call can reach another bot's memory.
//!
//! Partitions: `global` (the bot's, kept) and `task` (this run's, deleted when the run ends).

use crate::llm::ToolSpec;
use crate::store::{Store, now_ms};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// The memory tools every bot has.
pub fn specs() -> Vec<ToolSpec> {
    let partition = json!({ "type": "string", "enum": ["global", "task"], "description": "global (kept) or task (this run only); default global" });
    vec![
        ToolSpec {
            name: "memory.get".into(),
            description: "Read a value you stored earlier".into(),
            parameters: json!({ "type": "object", "required": ["key"], "additionalProperties": false,
                "properties": { "key": { "type": "string" }, "partition": partition } }),
        },
        ToolSpec {
            name: "memory.set".into(),
            description: "Store a value under a key".into(),
            parameters: json!({ "type": "object", "required": ["key", "value"], "additionalProperties": false,
                "properties": { "key": { "type": "string" }, "value": {}, "partition": partition } }),
        },
        ToolSpec {
            name: "memory.delete".into(),
            description: "Forget a key".into(),
            parameters: json!({ "type": "object", "required": ["key"], "additionalProperties": false,
                "properties": { "key": { "type": "string" }, "partition": partition } }),
        },
        ToolSpec {
            name: "memory.list".into(),
            description: "The keys you stored".into(),
            parameters: json!({ "type": "object", "additionalProperties": false, "properties": { "partition": partition } }),
        },
    ]
}

type Key = (String, String, String);

/// Where memory is kept.
#[derive(Clone)]
pub enum Memory {
    Store(Store),
    /// For engines without a store.
    InMemory(Arc<Mutex<BTreeMap<Key, Value>>>),
}

/// The partition key of a call: `global` or `task:<run>`.
fn partition(arguments: &Value, run: &str) -> String {
    match arguments.get("partition").and_then(Value::as_str) {
        Some("task") => format!("task:{run}"),
        _ => "global".into(),
    }
}

impl Memory {
    /// Memory that lives as long as the process.
    pub fn in_memory() -> Memory {
        Memory::InMemory(Arc::default())
    }

    /// Runs a memory tool for `bot` in `run` with checked arguments.
    pub async fn call(&self, tool: &str, bot: &str, run: &str, arguments: &Value) -> Result<Value, String> {
        let part = partition(arguments, run);
        let key = arguments.get("key").and_then(Value::as_str).unwrap_or_default().to_string();
        match (self, tool) {
            (Memory::Store(s), "memory.get") => {
                let v = s.memory_get(bot, &part, &key).await.map_err(|e| e.to_string())?;
                Ok(json!({ "key": key, "found": v.is_some(), "value": v }))
            }
            (Memory::Store(s), "memory.set") => {
                let value = arguments.get("value").cloned().unwrap_or(Value::Null);
                s.memory_set(bot, &part, &key, &value, now_ms()).await.map_err(|e| e.to_string())?;
                Ok(json!({ "key": key, "stored": true }))
            }
            (Memory::Store(s), "memory.delete") => {
                let gone = s.memory_delete(bot, &part, &key).await.map_err(|e| e.to_string())?;
                Ok(json!({ "key": key, "deleted": gone }))
            }
            (Memory::Store(s), "memory.list") => {
                Ok(json!({ "keys": s.memory_keys(bot, &part).await.map_err(|e| e.to_string())? }))
            }
            (Memory::InMemory(m), op) => {
                let mut m = m.lock().map_err(|_| "memory poisoned")?;
                let k = (bot.to_string(), part.clone(), key.clone());
                match op {
                    "memory.get" => {
                        let v = m.get(&k).cloned();
                        Ok(json!({ "key": key, "found": v.is_some(), "value": v }))
                    }
                    "memory.set" => {
                        m.insert(k, arguments.get("value").cloned().unwrap_or(Value::Null));
                        Ok(json!({ "key": key, "stored": true }))
                    }
                    "memory.delete" => Ok(json!({ "key": key, "deleted": m.remove(&k).is_some() })),
                    "memory.list" => {
                        let keys: Vec<&String> =
                            m.keys().filter(|(b, p, _)| b == bot && *p == part).map(|(_, _, k)| k).collect();
                        Ok(json!({ "keys": keys }))
                    }
                    other => Err(format!("no such tool: {other}")),
                }
            }
            (_, other) => Err(format!("no such tool: {other}")),
        }
    }

    /// Deletes the task partition of a finished run, for every bot.
    pub async fn end_run(&self, run: &str) -> Result<(), String> {
        let part = format!("task:{run}");
        match self {
            Memory::Store(s) => s.memory_clear(&part).await.map_err(|e| e.to_string()),
            Memory::InMemory(m) => {
                m.lock().map_err(|_| "memory poisoned")?.retain(|(_, p, _), _| *p != part);
                Ok(())
            }
        }
    }
}
