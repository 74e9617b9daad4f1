//! `monstrum skill list`: the workspace's skills as they load, with every problem located;
//! `skill enable BOT NAME` and `skill disable BOT NAME`: a bot file's `skills:` edited in place
//! (`skill new` is in `scaffold`).

use crate::plugin::write_atomically;
use crate::{EXIT_DONE, EXIT_INVALID, Global, report_error};
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

/// `skill enable BOT NAME` (`enable`) or `skill disable BOT NAME`: the bot file's `skills:` list
/// gains or loses the name, and nothing else in the file changes (comments and layout are
/// kept). Refused, with nothing written, when the bot or (to enable) the skill does not load,
/// or when the edited bot would not pass `validate`.
pub fn toggle(global: &Global, bot: &str, name: &str, enable: bool) -> anyhow::Result<u8> {
    let ws = Workspace::discover(global.workspace.as_deref(), Path::new("."))?;
    let refuse = |e: anyhow::Error| {
        report_error(global, &e);
        Ok(EXIT_INVALID)
    };
    let file = match ws.bot_file(bot) {
        Ok(file) => file,
        Err(e) => return refuse(e),
    };
    if enable && let Err(e) = ws.skill(name) {
        return refuse(e);
    }
    let text = std::fs::read_to_string(&file)?;
    let edited =
        if enable { monstrum_model::enable_skill(&text, name) } else { monstrum_model::disable_skill(&text, name) };
    let edited = match edited {
        Ok(t) => t,
        Err(e) => return refuse(anyhow::anyhow!("{}: {}", file.display(), e.0)),
    };
    let changed = edited != text;
    if changed {
        let problems = match monstrum_model::load_bot(&edited).ok() {
            Ok(b) => monstrum_core::check::bot_problems(&b, &ws, &edited),
            Err(problems) => problems,
        };
        let errors: Vec<String> =
            problems.iter().filter(|d| !d.is_warning()).map(|d| format!("{}:{d}", file.display())).collect();
        if !errors.is_empty() {
            return refuse(anyhow::anyhow!("not written: the bot would not be valid:\n{}", errors.join("\n")));
        }
        write_atomically(&file, edited.as_bytes(), true)?;
    }
    let what = if enable { "enabled" } else { "disabled" };
    if global.json {
        println!(
            "{}",
            json!({ "type": format!("skill_{what}"), "bot": bot, "skill": name, "file": file, "changed": changed })
        );
    } else if changed {
        println!("skill {name} {what} in {}", file.display());
    } else {
        println!("skill {name} was already {what} in {} (nothing changed)", file.display());
    }
    Ok(EXIT_DONE)
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
        let installed = e.file.with_file_name(monstrum_core::marketplace::install::INSTALLED_MARK).is_file();
        let source = if installed { "installed" } else { "workspace" };
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
                json!({ "type": "skill", "name": e.name, "version": version, "source": source, "file": e.file,
                        "status": status(e), "description": e.skill.as_ref().map(|s| &s.description),
                        "problems": problems })
            );
            continue;
        }
        println!("{:<28} {:<10} {:<10} {}", e.name, version.as_deref().unwrap_or("-"), source, status(e));
        for d in &e.problems {
            println!("    {}:{d}", e.file.display());
        }
    }
    Ok(EXIT_DONE)
}
