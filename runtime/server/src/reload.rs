//! While `monstrum serve` runs, edits to bot and skill files take effect without a restart: the
//! files are looked at every `every` (their size and modification time), and the bots the gate
//! has compiled are compiled again when their file or any skill changed. A broken edit keeps the
//! last good version, says why on stderr and in `GET /api/bots/{name}` (`problem`), and the
//! skill's own problems are in `GET /api/skills`; the next good edit replaces it. A bot whose
//! file is removed is forgotten: it fails closed as an unknown bot.
//!
//! The registered MCP servers' approved tools are read from the store at the same pace (and at
//! once after an approval through the API): an approval by `monstrum mcp approve`, or drift
//! quarantined by any process, takes effect here without a restart ([`mcp`]). Each change to
//! them that the audit trail records (by whichever process) is announced on the workspace's event
//! stream as an `mcp_tools` event.
//!
//! Channel files (`channels/*.yaml`) are read again when one changes, and while one cannot load.
//!
//! Plugins are not reloaded: installing one is a restart (their components are compiled once).

use crate::state::App;
use monstrum_core::store::AuditFilter;
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

type Snapshot = BTreeMap<PathBuf, (SystemTime, u64)>;

/// The bot and skill files of the workspace at `root`, with their modification time and size.
fn snapshot(root: &Path) -> Snapshot {
    let mut files = Snapshot::new();
    let mut add = |path: PathBuf| {
        if let Ok(meta) = std::fs::metadata(&path)
            && meta.is_file()
        {
            files.insert(path, (meta.modified().unwrap_or(SystemTime::UNIX_EPOCH), meta.len()));
        }
    };
    for dir in ["bots", "channels"] {
        for entry in std::fs::read_dir(root.join(dir)).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                add(path);
            }
        }
    }
    for entry in std::fs::read_dir(root.join("skills")).into_iter().flatten().flatten() {
        add(entry.path().join("SKILL.md"));
    }
    files
}

/// Starts looking for edits every `every`.
pub fn watch(app: App, every: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let root = app.workspace().root.clone();
        let mut seen = snapshot(&root);
        let mut audited = app.store.last_audit().await.ok().flatten().map_or(0, |(seq, _)| seq);
        loop {
            tokio::time::sleep(every).await;
            let now = {
                let root = root.clone();
                match tokio::task::spawn_blocking(move || snapshot(&root)).await {
                    Ok(now) => now,
                    Err(_) => continue,
                }
            };
            // Channels are read again on an edit, and while one cannot load (its secret may
            // have been set since).
            if now != seen || !app.gateway.channels().problems.is_empty() {
                app.gateway.reload().await;
            }
            if now != seen {
                apply(&app, &root, &seen, &now);
                seen = now;
            }
            mcp(&app).await;
            audited = announce_mcp_changes(&app, audited).await;
        }
    })
}

/// Announces the `mcp_tools` audit records after `seq` as workspace events
/// (`{"type": "mcp_tools", "server", "change", "detail", "seq"}`); gives the seq up to which the
/// trail was looked at. That is its head, announced or not: each look reads only the records
/// appended since the last (from the start of the server, a busy gateway's 250,000 records
/// within 10 s were read every second on the store's one connection, holding every commit
/// behind it for some 35 ms).
async fn announce_mcp_changes(app: &App, seq: i64) -> i64 {
    let Ok(Some((head, _))) = app.store.last_audit().await else { return seq };
    let filter = AuditFilter {
        kind: Some("mcp_tools".into()),
        after: Some(seq),
        before: Some(head + 1),
        ..AuditFilter::default()
    };
    let Ok(records) = app.store.audit_records(&filter).await else { return seq };
    for record in records {
        let server = record.tool.as_deref().unwrap_or_default().trim_start_matches("mcp:");
        app.hub.announce(&json!({
            "type": "mcp_tools",
            "server": server,
            "change": record.decision,
            "detail": serde_json::from_str::<serde_json::Value>(&record.detail).unwrap_or(json!(record.detail)),
            "seq": record.seq,
        }));
    }
    head
}

/// Reads the MCP servers' approved tools from the store and, when they changed, compiles every
/// bot again: a bot that binds a tool no longer approved fails closed until it is approved
/// again (`Gate::set_mcp`), and says why on stderr.
pub(crate) async fn mcp(app: &App) {
    let servers = match app.store.mcp_manifests().await {
        Ok(servers) => servers,
        Err(e) => {
            tracing::warn!("cannot read the MCP servers' tools: {e}");
            return;
        }
    };
    app.mcp.sync_approved().await;
    for (name, outcome) in app.engine.gate.set_mcp(servers) {
        match outcome {
            Ok(()) => tracing::info!(bot = %name, "compiled again for the MCP servers' tools"),
            Err(problem) => eprintln!("monstrum serve: bot `{name}` is refused until fixed: {problem}"),
        }
    }
}

/// Compiles again the bots that the change from `before` to `after` concerns.
fn apply(app: &App, root: &Path, before: &Snapshot, after: &Snapshot) {
    let changed: BTreeSet<&PathBuf> = before
        .iter()
        .filter(|(p, v)| after.get(*p) != Some(v))
        .map(|(p, _)| p)
        .chain(after.keys().filter(|p| !before.contains_key(*p)))
        .collect();
    let skills = root.join("skills");
    let gate = &app.engine.gate;
    let bots: BTreeSet<String> = if changed.iter().any(|p| p.starts_with(&skills)) {
        gate.compiled_bots().into_iter().collect()
    } else {
        changed.iter().filter_map(|p| p.file_stem().and_then(|s| s.to_str()).map(str::to_string)).collect()
    };
    let bot_file_exists = |name: &str| {
        ["yaml", "yml"].iter().any(|ext| after.contains_key(&root.join("bots").join(format!("{name}.{ext}"))))
    };
    for name in bots {
        let removed = !bot_file_exists(&name);
        let result = gate.reload(&name, removed);
        let Ok(mut problems) = app.reload_problems.lock() else { continue };
        match result {
            Ok(()) => {
                problems.remove(&name);
                tracing::info!(bot = %name, removed, "reloaded");
            }
            Err(problem) => {
                eprintln!("monstrum serve: bot `{name}` keeps its last good version: {problem}");
                problems.insert(name, problem);
            }
        }
    }
}
