//! `monstrum workflow save | versions | diff | rollback`: the versions of a workflow, as the
//! server keeps them (`monstrum_core::versions`).

use crate::diagnostics::print_problems;
use crate::{EXIT_DONE, EXIT_FAILED, EXIT_INVALID, Global};
use clap::Subcommand;
use monstrum_core::store::Store;
use monstrum_core::versions::{self, SaveError};
use monstrum_core::workspace::Workspace;
use serde_json::json;
use std::path::{Path, PathBuf};

#[derive(Subcommand)]
pub enum WorkflowAction {
    /// Store FILE's text as the next version of its workflow (workflows/NAME.yaml is the head).
    Save {
        file: PathBuf,
        #[arg(short, long, default_value = "")]
        message: String,
    },
    /// The versions of a workflow, newest first.
    Versions { name: String },
    /// The text diff of two versions, and the steps added, removed and changed.
    Diff { name: String, a: i64, b: i64 },
    /// Store version V's text as the next version.
    Rollback { name: String, version: i64 },
}

pub async fn run(global: &Global, action: WorkflowAction) -> anyhow::Result<u8> {
    let start = match &action {
        WorkflowAction::Save { file, .. } => file.parent().map(Path::to_path_buf).unwrap_or_default(),
        _ => PathBuf::from("."),
    };
    let workspace = Workspace::discover(global.workspace.as_deref(), &start)?;
    let store = Store::open(&workspace.store_url(global.db.as_deref())?).await?;
    let who = global.who();
    match action {
        WorkflowAction::Save { file, message } => {
            let Some(name) = versions::name_of(&file).map(str::to_string) else {
                crate::report_error(
                    global,
                    &anyhow::anyhow!(
                        "{} is not a workflow file name (letters, digits, - and _, then .yaml)",
                        file.display()
                    ),
                );
                return Ok(EXIT_INVALID);
            };
            let text =
                std::fs::read_to_string(&file).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?;
            let message = if message.is_empty() { "saved" } else { &message };
            let saved = versions::save(&store, &workspace, &name, &text, &who, message, None).await;
            report(global, saved, &file, &text)
        }
        WorkflowAction::Rollback { name, version } => {
            let saved = versions::rollback(&store, &workspace, &name, version, &who).await;
            report(global, saved, &versions::file_of(&workspace, &name), "")
        }
        WorkflowAction::Versions { name } => {
            let all = store.versions(&name).await?;
            if global.json {
                for v in &all {
                    println!(
                        "{}",
                        json!({ "type": "version", "workflow": v.workflow, "version": v.version, "hash": v.hash, "author": v.author, "message": v.message, "created_at": v.created_at })
                    );
                }
            } else if all.is_empty() {
                println!(
                    "workflow {name} has no saved versions: monstrum workflow save workflows/{name}.yaml -m MESSAGE"
                );
            } else {
                println!("{:>7}  {:<19}  {:<16}  {:<12}  MESSAGE", "VERSION", "SAVED", "BY", "HASH");
                for v in all {
                    let at = crate::local_time::local_time(v.created_at);
                    println!(
                        "{:>7}  {at:<19}  {:<16}  {:<12}  {}",
                        v.version,
                        v.author,
                        &v.hash[..12.min(v.hash.len())],
                        v.message
                    );
                }
            }
            Ok(EXIT_DONE)
        }
        WorkflowAction::Diff { name, a, b } => {
            let text = |v: Option<monstrum_core::store::VersionRecord>, n: i64| {
                v.and_then(|r| r.text).ok_or_else(|| anyhow::anyhow!("no version {n} of workflow {name}"))
            };
            let old = text(store.version(&name, a).await?, a)?;
            let new = text(store.version(&name, b).await?, b)?;
            let d = versions::diff(&old, &new, &format!("{name} v{a}"), &format!("{name} v{b}"));
            if global.json {
                println!(
                    "{}",
                    json!({ "type": "diff", "workflow": name, "from": a, "to": b, "text": d.text, "added": d.added, "removed": d.removed, "changed": d.changed })
                );
            } else {
                print!("{}", d.text);
                println!(
                    "steps added: {}; removed: {}; changed: {}",
                    list(&d.added),
                    list(&d.removed),
                    list(&d.changed)
                );
            }
            Ok(EXIT_DONE)
        }
    }
}

fn list(ids: &[String]) -> String {
    if ids.is_empty() { "none".into() } else { ids.join(", ") }
}

fn report(global: &Global, saved: Result<versions::Saved, SaveError>, file: &Path, text: &str) -> anyhow::Result<u8> {
    match saved {
        Ok(s) => {
            if global.json {
                println!(
                    "{}",
                    json!({ "type": "saved", "workflow": s.workflow, "version": s.version, "hash": s.hash, "created": s.created })
                );
            } else if s.created {
                println!("workflow {} saved as version {}", s.workflow, s.version);
            } else {
                println!("workflow {} unchanged: it is version {}", s.workflow, s.version);
            }
            Ok(EXIT_DONE)
        }
        Err(SaveError::Invalid(problems)) => {
            print_problems(global, file, text, problems);
            Ok(EXIT_INVALID)
        }
        Err(e @ (SaveError::BadName(_) | SaveError::NoVersion { .. })) => {
            crate::report_error(global, &e.into());
            Ok(EXIT_INVALID)
        }
        Err(e) => {
            crate::report_error(global, &e.into());
            Ok(EXIT_FAILED)
        }
    }
}
