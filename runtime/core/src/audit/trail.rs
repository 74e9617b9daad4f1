//! Appending to the trail: each record sealed onto the one before it, in commit order.

use super::{AuditEntry, AuditRecord, GENESIS};
use crate::store::{Store, now_ms};
use std::sync::{Arc, Mutex};

enum Backend {
    /// Records go through the store's writer, in the same group commits as step records.
    Store(Store),
    /// For engines without a store (benchmarks): the same chain, kept in memory.
    Memory(Mutex<Vec<AuditRecord>>),
}

/// The audit trail. Cheap to clone.
#[derive(Clone)]
pub struct Trail {
    backend: Arc<Backend>,
}

impl Trail {
    /// A trail in `store`.
    pub fn in_store(store: Store) -> Trail {
        Trail { backend: Arc::new(Backend::Store(store)) }
    }

    /// A trail in memory.
    pub fn in_memory() -> Trail {
        Trail { backend: Arc::new(Backend::Memory(Default::default())) }
    }

    /// Appends `entry` and returns once it is committed. An error means nothing was recorded,
    /// and the caller must not act.
    pub(crate) async fn append(&self, entry: AuditEntry) -> Result<AuditRecord, String> {
        match &*self.backend {
            Backend::Memory(records) => Self::push(records, entry, true).map(|kept| kept.expect("kept")),
            Backend::Store(store) => store.append_audit(entry).await.map_err(|e| e.to_string()),
        }
    }

    /// Appends `entry` without waiting for the commit: for what has no effect outside the run
    /// (a built-in tool, a result, a refusal). It is committed before, or with, anything queued
    /// after it, such as the step's record; if it cannot be written, that commit fails too.
    pub(crate) fn append_later(&self, entry: AuditEntry) {
        match &*self.backend {
            Backend::Memory(records) => {
                if let Err(e) = Self::push(records, entry, false) {
                    tracing::error!("an audit record could not be kept: {e}");
                }
            }
            Backend::Store(store) => store.append_audit_later(entry),
        }
    }

    /// Returns once every record appended so far is committed: what a door that answers outside a
    /// run does before it answers, so that no refusal or built-in call's record waits on a
    /// step's commit that never comes (the process may stop right after).
    pub async fn flush(&self) -> Result<(), String> {
        match &*self.backend {
            Backend::Memory(_) => Ok(()),
            Backend::Store(store) => store.flush().await.map_err(|e| e.to_string()),
        }
    }

    /// Seals and keeps `entry`; returns a copy of the record if `copy`.
    fn push(records: &Mutex<Vec<AuditRecord>>, entry: AuditEntry, copy: bool) -> Result<Option<AuditRecord>, String> {
        let mut records = records.lock().map_err(|_| "the audit trail is poisoned".to_string())?;
        let (seq, prev) = records.last().map_or((1, GENESIS), |r| (r.seq + 1, r.hash.as_str()));
        let record = AuditRecord::seal(entry, seq, now_ms(), prev);
        let copied = copy.then(|| record.clone());
        records.push(record);
        Ok(copied)
    }

    /// The records in memory (for a storeless engine).
    pub fn memory_records(&self) -> Vec<AuditRecord> {
        match &*self.backend {
            Backend::Memory(r) => r.lock().map(|r| r.clone()).unwrap_or_default(),
            Backend::Store(_) => Vec::new(),
        }
    }
}
