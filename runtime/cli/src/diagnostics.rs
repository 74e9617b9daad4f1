//! `monstrum validate`, and the problems of a file shown the way miette shows them: the line,
//! the offending text underlined, a code, a reason and a hint.

use crate::{EXIT_DONE, EXIT_INVALID, Global};
use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, NamedSource, SourceSpan};
use monstrum_core::store::Store;
use monstrum_core::workspace::Workspace;
use monstrum_model::{Diagnostic, Workflow};
use std::fmt;
use std::io::IsTerminal;
use std::path::Path;

/// A problem in a file, renderable by miette.
#[derive(Debug)]
struct FileProblem {
    source: NamedSource<String>,
    diagnostic: Diagnostic,
}

impl fmt::Display for FileProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.diagnostic.message)
    }
}

impl std::error::Error for FileProblem {}

impl miette::Diagnostic for FileProblem {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(self.diagnostic.code))
    }
    fn severity(&self) -> Option<miette::Severity> {
        Some(if self.diagnostic.is_warning() { miette::Severity::Warning } else { miette::Severity::Error })
    }
    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.diagnostic.help.as_ref().filter(|h| !h.is_empty()).map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }
    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(&self.source)
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let l = self.diagnostic.location?;
        let span = SourceSpan::new(l.offset.into(), l.len);
        Some(Box::new(std::iter::once(LabeledSpan::new_with_span(Some("here".into()), span))))
    }
}

/// Loads a workflow file and checks it, including what it names in the workspace (bots,
/// scripts, sub-workflow files). Returns the workflow or prints every problem.
pub fn load_checked(global: &Global, file: &Path, workspace: &Workspace) -> Result<(Workflow, String), u8> {
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) => {
            crate::report_error(global, &anyhow::anyhow!("cannot read {}: {e}", file.display()));
            return Err(EXIT_INVALID);
        }
    };
    let (workflow, problems) = monstrum_core::check::workflow(&text, file, workspace);
    if let Some(wf) = workflow {
        return Ok((wf, text));
    }
    print_problems(global, file, &text, problems);
    Err(EXIT_INVALID)
}

/// Prints problems: miette's graphical report, or one JSON object each.
pub fn print_problems(global: &Global, file: &Path, text: &str, problems: Vec<Diagnostic>) {
    let name = file.display().to_string();
    for d in problems {
        if global.json {
            println!(
                "{}",
                serde_json::json!({
                    "type": "diagnostic",
                    "file": name,
                    "line": d.location.map(|l| l.line),
                    "column": d.location.map(|l| l.column),
                    "code": d.code,
                    "severity": if d.is_warning() { "warning" } else { "error" },
                    "message": d.message,
                    "help": d.help,
                    "path": d.path_string(),
                })
            );
            continue;
        }
        let where_ = d.location.map(|l| format!("{name}:{}:{}", l.line, l.column)).unwrap_or_else(|| name.clone());
        let problem = FileProblem { source: NamedSource::new(where_.clone(), text.to_string()), diagnostic: d };
        let theme =
            if std::io::stderr().is_terminal() { GraphicalTheme::unicode() } else { GraphicalTheme::unicode_nocolor() };
        let mut rendered = String::new();
        match GraphicalReportHandler::new_themed(theme).render_report(&mut rendered, &problem) {
            Ok(()) => eprint!("{where_}: {rendered}"),
            Err(_) => eprintln!("{where_}: {}: {}", problem.diagnostic.code, problem.diagnostic.message),
        }
    }
}

/// Reads the registered MCP servers' approved tools into `workspace`, so that `mcp:` bindings
/// are checked against them, and gives back the store they were read from; a workspace that has
/// no store yet has none, and checking it does not create one.
pub async fn load_mcp(global: &Global, workspace: &mut Workspace) -> anyhow::Result<Option<Store>> {
    if global.db.is_none() && workspace.config.store.is_none() && !workspace.data_dir().join("monstrum.db").exists() {
        return Ok(None);
    }
    let store = Store::open(&workspace.store_url(global.db.as_deref())?).await?;
    workspace.load_mcp(&store).await?;
    Ok(Some(store))
}

/// `monstrum validate FILE...`: exit 0 when every file is clean, 2 otherwise.
pub async fn validate(global: &Global, files: &[std::path::PathBuf]) -> u8 {
    let mut code = EXIT_DONE;
    for file in files {
        let folder = file.parent().and_then(|p| p.file_name());
        let is_bot = folder.is_some_and(|n| n == "bots");
        let is_channel = folder.is_some_and(|n| n == "channels");
        if file.file_name().is_some_and(|n| n == "SKILL.md") {
            if !validate_skill(global, file) {
                code = EXIT_INVALID;
            }
            continue;
        }
        let mut workspace =
            match Workspace::discover(global.workspace.as_deref(), file.parent().unwrap_or(Path::new("."))) {
                Ok(w) => w,
                Err(e) => {
                    crate::report_error(global, &e);
                    code = EXIT_INVALID;
                    continue;
                }
            };
        let store = match load_mcp(global, &mut workspace).await {
            Ok(store) => store,
            Err(e) => {
                crate::report_error(global, &e);
                code = EXIT_INVALID;
                continue;
            }
        };
        if is_channel {
            if !validate_channel(global, file, &workspace, store).await {
                code = EXIT_INVALID;
            }
        } else if is_bot {
            let text = match std::fs::read_to_string(file) {
                Ok(t) => t,
                Err(e) => {
                    crate::report_error(global, &anyhow::anyhow!("cannot read {}: {e}", file.display()));
                    code = EXIT_INVALID;
                    continue;
                }
            };
            let loaded = monstrum_model::load_bot(&text);
            let mut problems = loaded.diagnostics;
            if let Some(bot) = &loaded.value {
                problems.extend(monstrum_core::check::bot_problems(bot, &workspace, &text));
            }
            if !problems.is_empty() {
                print_problems(global, file, &text, problems);
                code = EXIT_INVALID;
            } else {
                ok(global, file);
            }
        } else {
            match load_checked(global, file, &workspace) {
                Ok(_) => ok(global, file),
                Err(c) => code = c,
            }
        }
    }
    code
}

/// A channel file: checked against the workspace (its routes' bots and workflows) and the vault
/// (its secrets' entries exist); every problem printed.
async fn validate_channel(global: &Global, file: &Path, workspace: &Workspace, store: Option<Store>) -> bool {
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) => {
            crate::report_error(global, &anyhow::anyhow!("cannot read {}: {e}", file.display()));
            return false;
        }
    };
    let (_, mut problems) = monstrum_core::check::channel(&text, workspace);
    // The secrets are checked whenever the file can be read, beside its other problems.
    if let Some(channel) = monstrum_model::load_channel(&text).value {
        match vault_names(store).await {
            Ok(names) => {
                for (role, entry) in &channel.secrets {
                    if !names.contains(entry) {
                        let path = vec![
                            monstrum_model::PathSeg::Key("secrets".into()),
                            monstrum_model::PathSeg::Key(role.clone()),
                        ];
                        let mut d = Diagnostic::new(
                            "E013",
                            path,
                            format!("the vault has no entry `{entry}` (the `{role}` secret)"),
                        )
                        .with_help(format!("`monstrum vault set {entry}` reads it from stdin"));
                        d.location = monstrum_model::locate(&text, &d.path);
                        problems.push(d);
                    }
                }
            }
            Err(e) => crate::report_error(global, &e.context("the channel's secrets could not be checked")),
        }
    }
    let valid = problems.iter().all(Diagnostic::is_warning);
    print_problems(global, file, &text, problems);
    if valid {
        ok(global, file);
    }
    valid
}

/// The vault's entry names (none in a workspace without a store yet).
async fn vault_names(store: Option<Store>) -> anyhow::Result<std::collections::HashSet<String>> {
    let Some(store) = store else { return Ok(Default::default()) };
    Ok(store.vault_names().await?.into_iter().map(|(name, _)| name).collect())
}

/// A `SKILL.md`: every problem printed; valid when none is an error (warnings are shown).
fn validate_skill(global: &Global, file: &Path) -> bool {
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) => {
            crate::report_error(global, &anyhow::anyhow!("cannot read {}: {e}", file.display()));
            return false;
        }
    };
    let folder = std::path::absolute(file)
        .ok()
        .and_then(|f| f.parent().and_then(|d| d.file_name()).map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_default();
    let (skill, problems) = monstrum_core::workspace::skill_in_folder(&text, &folder);
    let valid = skill.is_some();
    print_problems(global, file, &text, problems);
    if valid {
        ok(global, file);
    }
    valid
}

fn ok(global: &Global, file: &Path) {
    if global.json {
        println!("{}", serde_json::json!({ "type": "valid", "file": file.display().to_string() }));
    } else {
        println!("{}: ok", file.display());
    }
}
