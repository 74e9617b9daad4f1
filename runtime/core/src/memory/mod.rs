//! Bot memory: what a bot keeps between steps and runs. Operations on a bot's own memory skip
//! the scope engine (ownership is the permission); the bot is always the caller's, never an
//! argument, so no call can reach another bot's memory.
//!
//! Partitions, each an information boundary: `global` (the bot's, kept), `task:<run>` (this
//! run's, deleted when the run ends in any way), `channel:<channel>/<conversation>` (the
//! conversation the run came from) and `resource:<instance>` (notes about one instance the bot
//! is bound to). A call reaches only the partitions of its own call context ([`CallContext`]);
//! naming any other is refused by the gate before anything is read or written.

mod partition;

pub use partition::{CallContext, Reach, check_conversation};

use crate::llm::ToolSpec;
use crate::store::{MemoryHit, Store, now_ms};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// Entries a search returns unless it says otherwise, and at most.
pub const SEARCH_LIMIT: (u64, u64) = (10, 50);

/// The memory tools every bot has.
pub fn specs() -> Vec<ToolSpec> {
    let partition = json!({ "type": "string", "maxLength": 300, "description":
        "global (yours, kept; the default), task (this run only), channel (the conversation this run came from) \
         or resource:<instance> (notes about an instance you are bound to)" });
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
        ToolSpec {
            name: "memory.search".into(),
            description: "Find what you stored by words, best match first (in one partition, or in all you can reach)"
                .into(),
            parameters: json!({ "type": "object", "required": ["query"], "additionalProperties": false,
                "properties": { "query": { "type": "string", "minLength": 1, "maxLength": 2000 }, "partition": partition,
                    "limit": { "type": "integer", "minimum": 1, "maximum": SEARCH_LIMIT.1 } } }),
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

impl Memory {
    /// Memory that lives as long as the process.
    pub fn in_memory() -> Memory {
        Memory::InMemory(Arc::default())
    }

    /// Runs a memory tool for `bot` with checked arguments, in the partitions the gate resolved.
    pub async fn call(&self, tool: &str, bot: &str, reach: &Reach, arguments: &Value) -> Result<Value, String> {
        let key = arguments.get("key").and_then(Value::as_str).unwrap_or_default().to_string();
        if tool == "memory.search" {
            let query = arguments.get("query").and_then(Value::as_str).unwrap_or_default();
            let limit = arguments.get("limit").and_then(Value::as_u64).unwrap_or(SEARCH_LIMIT.0).min(SEARCH_LIMIT.1);
            let hits = self.search(bot, reach.parts(), query, limit as usize).await?;
            return Ok(json!({ "results": hits }));
        }
        let Reach::One(part) = reach else { return Err(format!("{tool} acts on one partition")) };
        match (self, tool) {
            (Memory::Store(s), "memory.get") => {
                let v = s.memory_get(bot, part, &key).await.map_err(|e| e.to_string())?;
                Ok(json!({ "key": key, "found": v.is_some(), "value": v }))
            }
            (Memory::Store(s), "memory.set") => {
                let value = arguments.get("value").cloned().unwrap_or(Value::Null);
                s.memory_set(bot, part, &key, &value, now_ms()).await.map_err(|e| e.to_string())?;
                Ok(json!({ "key": key, "stored": true }))
            }
            (Memory::Store(s), "memory.delete") => {
                let gone = s.memory_delete(bot, part, &key).await.map_err(|e| e.to_string())?;
                Ok(json!({ "key": key, "deleted": gone }))
            }
            (Memory::Store(s), "memory.list") => {
                Ok(json!({ "keys": s.memory_keys(bot, part).await.map_err(|e| e.to_string())? }))
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
                            m.keys().filter(|(b, p, _)| b == bot && p == part).map(|(_, _, k)| k).collect();
                        Ok(json!({ "keys": keys }))
                    }
                    other => Err(format!("no such tool: {other}")),
                }
            }
            (_, other) => Err(format!("no such tool: {other}")),
        }
    }

    /// `bot`'s entries in `parts` that match `query`, best first.
    pub async fn search(
        &self,
        bot: &str,
        parts: &[String],
        query: &str,
        limit: usize,
    ) -> Result<Vec<MemoryHit>, String> {
        match self {
            Memory::Store(s) => s.memory_search(bot, parts, query, limit).await.map_err(|e| e.to_string()),
            // Without a store there is no full-text engine: entries are ranked by how many of
            // the query's words they hold (engines without a store are tests and benchmarks).
            Memory::InMemory(m) => {
                let words = crate::store::search_words(query);
                let m = m.lock().map_err(|_| "memory poisoned")?;
                let mut hits: Vec<MemoryHit> = m
                    .iter()
                    .filter(|((b, p, _), _)| b == bot && parts.contains(p))
                    .filter_map(|((_, p, k), v)| {
                        let text = format!("{k} {v}").to_lowercase();
                        let text: Vec<&str> = text.split(|c: char| !c.is_alphanumeric()).collect();
                        let score = words.iter().filter(|w| text.contains(&w.as_str())).count();
                        (score > 0).then(|| MemoryHit {
                            partition: p.clone(),
                            key: k.clone(),
                            value: v.clone(),
                            score: score as f64,
                        })
                    })
                    .collect();
                hits.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.key.cmp(&b.key)));
                hits.truncate(limit);
                Ok(hits)
            }
        }
    }

    /// Deletes the task partition of a finished run, for every bot. The store does it itself
    /// in the transaction that records the run's end, whatever ended it.
    pub async fn end_run(&self, run: &str) -> Result<(), String> {
        let part = format!("task:{run}");
        match self {
            Memory::Store(_) => Ok(()),
            Memory::InMemory(m) => {
                m.lock().map_err(|_| "memory poisoned")?.retain(|(_, p, _), _| *p != part);
                Ok(())
            }
        }
    }
}
