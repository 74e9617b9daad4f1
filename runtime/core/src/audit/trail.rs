//! Appending to the trail: one record at a time, each sealed onto the one before it.

use super::{AuditEntry, AuditRecord, GENESIS};
use crate::store::{Store, now_ms};
use std::sync::Arc;
use tokio::sync::Mutex;

enum Backend {
    Store(Store),
    /// For engines without a store (benchmarks): the same chain, kept in memory.
    Memory(std::sync::Mutex<Vec<AuditRecord>>),
}

/// The audit trail. Cheap to clone.
#[derive(Clone)]
pub struct Trail {
    backend: Arc<Backend>,
    /// The newest (seq, hash) this process knows; appends are serialized through it.
    last: Arc<Mutex<Option<(i64, String)>>>,
}

impl Trail {
    /// A trail in `store`.
    pub fn in_store(store: Store) -> Trail {
        Trail { backend: Arc::new(Backend::Store(store)), last: Arc::default() }
    }

    /// A trail in memory.
    pub fn in_memory() -> Trail {
        Trail { backend: Arc::new(Backend::Memory(Default::default())), last: Arc::default() }
    }

    /// Appends `entry`. An error means nothing was recorded, and the caller must not act.
    pub(crate) async fn append(&self, entry: AuditEntry) -> Result<AuditRecord, String> {
        let mut last = self.last.lock().await;
        match &*self.backend {
            Backend::Memory(records) => {
                let mut records = records.lock().map_err(|_| "the audit trail is poisoned".to_string())?;
                let (seq, prev) = records.last().map_or((1, GENESIS.to_string()), |r| (r.seq + 1, r.hash.clone()));
                let record = AuditRecord::seal(entry, seq, now_ms(), &prev);
                records.push(record.clone());
                Ok(record)
            }
            Backend::Store(store) => {
                // Another process may append to the same store: a clash on `seq` means our idea
                // of the newest record is stale, so read it again and reseal.
                for _ in 0..8 {
                    let (seq, prev) = match last.clone() {
                        Some(l) => l,
                        None => store.last_audit().await.map_err(|e| e.to_string())?.unwrap_or((0, GENESIS.into())),
                    };
                    let record = AuditRecord::seal(entry.clone(), seq + 1, now_ms(), &prev);
                    match store.insert_audit(&record).await {
                        Ok(()) => {
                            *last = Some((record.seq, record.hash.clone()));
                            return Ok(record);
                        }
                        Err(e) => {
                            let newest = store.last_audit().await.map_err(|e| e.to_string())?;
                            if newest.as_ref().map(|n| n.0) == Some(seq) {
                                return Err(format!("the audit trail cannot be written: {e}"));
                            }
                            *last = newest;
                        }
                    }
                }
                Err("the audit trail cannot be written: too many concurrent writers".into())
            }
        }
    }

    /// The records in memory (for a storeless engine).
    pub fn memory_records(&self) -> Vec<AuditRecord> {
        match &*self.backend {
            Backend::Memory(r) => r.lock().map(|r| r.clone()).unwrap_or_default(),
            Backend::Store(_) => Vec::new(),
        }
    }
}
