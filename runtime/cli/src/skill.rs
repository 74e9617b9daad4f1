//! `monstrum skill list`: the workspace's skills as they load, with every problem located
//! (`skill new` is in `scaffold`).

use crate::{EXIT_DONE, Global};
use monstrum_core::workspace::{SkillEntry, Workspace};
use serde_json::json;
use std::path::Path;

/// Whether a skill loads, and how cleanly.
fn status(entry: &SkillEntry) -> &'static str {
    match (&entry.skill, entry.problems.is_empty()) {
        (None, _) => "invalid",
        (Some(_), true) => "ok",
        (Some(_), false) => "warnings",
    }
}

/// `skill list`: name, version, source, status, then each problem under its skill.
pub fn list(global: &Global) -> anyhow::Result<u8> {
    let ws = Workspace::discover(global.workspace.as_deref(), Path::new("."))?;
    let entries = ws.skills();
    if !global.json {
        if entries.is_empty() {
            println!("no skills in {} (monstrum skill new NAME makes one)", ws.root.join("skills").display());
            return Ok(EXIT_DONE);
        }
        println!("{:<28} {:<10} {:<10} STATUS", "NAME", "VERSION", "SOURCE");
    }
    for e in &entries {
        let version = e.skill.as_ref().and_then(|s| s.version.clone());
        if global.json {
            let problems: Vec<_> = e
                .problems
                .iter()
                .map(|d| {
                    json!({ "line": d.location.map(|l| l.line), "column": d.location.map(|l| l.column), "code": d.code,
                            "severity": if d.is_warning() { "warning" } else { "error" }, "message": d.message })
                })
                .collect();
            println!(
                "{}",
                json!({ "type": "skill", "name": e.name, "version": version, "source": "workspace", "file": e.file,
                        "status": status(e), "description": e.skill.as_ref().map(|s| &s.description),
                        "problems": problems })
            );
            continue;
        }
        println!("{:<28} {:<10} {:<10} {}", e.name, version.as_deref().unwrap_or("-"), "workspace", status(e));
        for d in &e.problems {
            println!("    {}:{d}", e.file.display());
        }
    }
    Ok(EXIT_DONE)
}
