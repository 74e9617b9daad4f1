//! `monstrum validate`, and the problems of a file shown the way miette shows them: the line,
//! the offending text underlined, a code, a reason and a hint.

use crate::{EXIT_DONE, EXIT_INVALID, Global};
use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, NamedSource, SourceSpan};
use monstrum_core::workspace::Workspace;
use monstrum_model::{Diagnostic, PathSeg, StepKind, Workflow};
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
    let loaded = monstrum_model::load_workflow(&text);
    let mut problems = loaded.diagnostics;
    if let Some(wf) = &loaded.value {
        problems.extend(workspace_problems(wf, file, workspace, &text));
    }
    if problems.is_empty()
        && let Some(wf) = loaded.value
    {
        return Ok((wf, text));
    }
    print_problems(global, file, &text, problems);
    Err(EXIT_INVALID)
}

/// The skills a bot enables; one that cannot be loaded is a problem at its place in the list.
fn bot_skills(
    bot: &monstrum_model::Bot,
    workspace: &Workspace,
    out: &mut Vec<Diagnostic>,
) -> Vec<monstrum_model::Skill> {
    let mut skills = Vec::new();
    for (i, name) in bot.skills.iter().enumerate() {
        match workspace.skill(name) {
            Ok(s) => skills.push(s),
            Err(e) => out.push(Diagnostic::new(
                "E013",
                vec![PathSeg::Key("skills".into()), PathSeg::Index(i)],
                format!("{e:#}"),
            )),
        }
    }
    skills
}

/// A bot's bindings checked against the workspace's plugins, and its delegates' existence.
fn bot_problems(bot: &monstrum_model::Bot, workspace: &Workspace, text: &str) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    match workspace.catalog() {
        Err(e) => out.push(Diagnostic::new("E014", Vec::new(), format!("{e:#}"))),
        Ok(catalog) => {
            let skills = bot_skills(bot, workspace, &mut out);
            if let Err(problems) = monstrum_core::governance::compile_bot(bot, &catalog, &skills) {
                out.extend(problems.into_iter().map(|p| Diagnostic::new("E015", p.path, p.message)));
            }
        }
    }
    for (i, name) in bot.delegates.iter().enumerate() {
        if let Err(e) = workspace.bot(name) {
            let path = vec![PathSeg::Key("delegates".into()), PathSeg::Index(i)];
            out.push(Diagnostic::new("E013", path, format!("{e:#}")));
        }
    }
    for d in &mut out {
        d.location = monstrum_model::locate(text, &d.path);
    }
    out
}

/// What a workflow names outside itself and cannot be found.
fn workspace_problems(wf: &Workflow, file: &Path, workspace: &Workspace, text: &str) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let check_bot = |name: &str, path: Vec<PathSeg>, out: &mut Vec<Diagnostic>| match workspace.bot(name) {
        Ok(bot) => {
            if let Some(script) = bot.model.as_ref().and_then(|m| m.script.as_ref())
                && !workspace.resolve(script).exists()
            {
                out.push(Diagnostic::new(
                    "E013",
                    path.clone(),
                    format!("bot `{name}` uses script {script}, which does not exist"),
                ));
            }
            if let Ok(catalog) = workspace.catalog()
                && let Err(problems) =
                    monstrum_core::governance::compile_bot(&bot, &catalog, &bot_skills(&bot, workspace, out))
            {
                let first = problems.first().map(ToString::to_string).unwrap_or_default();
                out.push(
                    Diagnostic::new("E015", path, format!("bot `{name}` has binding problems: {first}"))
                        .with_help(format!("monstrum validate bots/{name}.yaml shows them all")),
                );
            }
        }
        Err(e) => out.push(Diagnostic::new("E013", path, format!("{e:#}"))),
    };
    if let Some(bot) = &wf.bot {
        check_bot(bot, vec![PathSeg::Key("bot".into())], &mut out);
    }
    for (i, step) in wf.steps.iter().enumerate() {
        let at = |k: &str| vec![PathSeg::Key("steps".into()), PathSeg::Index(i), PathSeg::Key(k.into())];
        if let Some(bot) = &step.bot {
            check_bot(bot, at("bot"), &mut out);
        }
        match step.kind() {
            Some(StepKind::Delegate(d)) => {
                let from = step.bot.as_ref().or(wf.bot.as_ref());
                match from.map(|name| workspace.bot(name)) {
                    None => {
                        out.push(Diagnostic::new("E011", at("delegate"), "a delegate step needs a bot that delegates"))
                    }
                    Some(Ok(from_bot)) if !from_bot.delegates.contains(&d.bot) => out.push(
                        Diagnostic::new(
                            "E011",
                            at("delegate"),
                            format!("bot `{}` may not delegate to `{}`", from_bot.name, d.bot),
                        )
                        .with_help(format!("add `{}` to `delegates:` in bots/{}.yaml", d.bot, from_bot.name)),
                    ),
                    _ => {}
                }
                if let Err(e) = workspace.bot(&d.bot) {
                    out.push(Diagnostic::new("E013", at("delegate"), format!("{e:#}")));
                }
            }
            Some(StepKind::Workflow(sub)) => {
                let path = file.parent().unwrap_or(Path::new(".")).join(sub);
                if !path.is_file() {
                    out.push(Diagnostic::new(
                        "E013",
                        at("workflow"),
                        format!("sub-workflow {} does not exist", path.display()),
                    ));
                }
            }
            Some(StepKind::Llm(llm)) => {
                if let Some(script) = llm.model.as_ref().and_then(|m| m.script.as_ref())
                    && !workspace.resolve(script).exists()
                {
                    out.push(Diagnostic::new(
                        "E013",
                        at("llm"),
                        format!("script {script} does not exist in the workspace"),
                    ));
                }
            }
            _ => {}
        }
    }
    for d in &mut out {
        d.location = monstrum_model::locate(text, &d.path);
    }
    out
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

/// `monstrum validate FILE...`: exit 0 when every file is clean, 2 otherwise.
pub fn validate(global: &Global, files: &[std::path::PathBuf]) -> u8 {
    let mut code = EXIT_DONE;
    for file in files {
        let is_bot = file.parent().and_then(|p| p.file_name()).is_some_and(|n| n == "bots");
        let workspace = match Workspace::discover(global.workspace.as_deref(), file.parent().unwrap_or(Path::new(".")))
        {
            Ok(w) => w,
            Err(e) => {
                crate::report_error(global, &e);
                code = EXIT_INVALID;
                continue;
            }
        };
        if is_bot {
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
                problems.extend(bot_problems(bot, &workspace, &text));
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

fn ok(global: &Global, file: &Path) {
    if global.json {
        println!("{}", serde_json::json!({ "type": "valid", "file": file.display().to_string() }));
    } else {
        println!("{}: ok", file.display());
    }
}
