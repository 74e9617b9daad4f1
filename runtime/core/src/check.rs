//! Checks of a workflow or bot file against its workspace: the bots, skills, scripts,
//! sub-workflow files and plugin bindings it names. `monstrum validate`, `monstrum run` and the
//! server's validate and save share them, so a file is judged the same way at every door.

use crate::workspace::Workspace;
use monstrum_model::{Diagnostic, PathSeg, StepKind, Workflow};
use std::path::Path;

/// A workflow's text loaded and checked, model and workspace both: the workflow when there is
/// no problem, and every problem with its line and column.
pub fn workflow(text: &str, file: &Path, workspace: &Workspace) -> (Option<Workflow>, Vec<Diagnostic>) {
    let loaded = monstrum_model::load_workflow(text);
    let mut problems = loaded.diagnostics;
    if let Some(wf) = &loaded.value {
        problems.extend(workflow_problems(wf, file, workspace, text));
    }
    (loaded.value.filter(|_| problems.is_empty()), problems)
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
pub fn bot_problems(bot: &monstrum_model::Bot, workspace: &Workspace, text: &str) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    match workspace.catalog() {
        Err(e) => out.push(Diagnostic::new("E014", Vec::new(), format!("{e:#}"))),
        Ok(catalog) => {
            let skills = bot_skills(bot, workspace, &mut out);
            if let Err(problems) = crate::governance::compile_bot(bot, &catalog, &skills) {
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
pub fn workflow_problems(wf: &Workflow, file: &Path, workspace: &Workspace, text: &str) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let check_bot = |name: &str, path: Vec<PathSeg>, out: &mut Vec<Diagnostic>| match workspace.bot(name) {
        Ok(bot) => {
            if let Some(script) = bot.model.as_ref().and_then(|m| m.script.as_ref())
                && !workspace.inside(Path::new(script)).is_ok_and(|p| p.exists())
            {
                out.push(Diagnostic::new(
                    "E013",
                    path.clone(),
                    format!("bot `{name}` uses script {script}, which does not exist"),
                ));
            }
            if let Ok(catalog) = workspace.catalog()
                && let Err(problems) = crate::governance::compile_bot(&bot, &catalog, &bot_skills(&bot, workspace, out))
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
            Some(StepKind::Workflow(sub)) => match workspace.sub_workflow(file, sub) {
                Err(e) => out.push(Diagnostic::new("E013", at("workflow"), format!("{e:#}"))),
                Ok(path) if !path.is_file() => out.push(Diagnostic::new(
                    "E013",
                    at("workflow"),
                    format!("sub-workflow {} does not exist", path.display()),
                )),
                Ok(_) => {}
            },
            Some(StepKind::Llm(llm)) => {
                if let Some(script) = llm.model.as_ref().and_then(|m| m.script.as_ref())
                    && !workspace.inside(Path::new(script)).is_ok_and(|p| p.exists())
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

/// A channel file's text loaded and checked, model and workspace both: the bots its routes
/// name exist, and each route's workflow is a workspace file that validates, runs as the route's
/// bot and takes `message` (the unified message). The vault entries it names are checked where
/// the vault is open (`monstrum validate`, the gateway).
pub fn channel(text: &str, workspace: &Workspace) -> (Option<monstrum_model::Channel>, Vec<Diagnostic>) {
    let loaded = monstrum_model::load_channel(text);
    let mut problems = loaded.diagnostics;
    let Some(channel) = loaded.value else { return (None, problems) };
    let mut out = Vec::new();
    for (i, route) in channel.routes.iter().enumerate() {
        let here = |key: &str| vec![PathSeg::Key("routes".into()), PathSeg::Index(i), PathSeg::Key(key.into())];
        if let Err(e) = workspace.bot(&route.bot) {
            out.push(Diagnostic::new("E013", here("bot"), format!("{e:#}")));
        }
        if let Some(problem) = route.workflow_file().and_then(|file| route_problem(workspace, &route.bot, file)) {
            out.push(Diagnostic::new("E013", here("workflow"), problem));
        }
    }
    for d in &mut out {
        d.location = monstrum_model::locate(text, &d.path);
    }
    problems.extend(out);
    (Some(channel).filter(|_| problems.iter().all(Diagnostic::is_warning)), problems)
}

/// What is wrong with a route's workflow `file` for `bot`, if anything.
fn route_problem(workspace: &Workspace, bot: &str, file: &str) -> Option<String> {
    let (path, text) = match route_workflow(workspace, file) {
        Ok(found) => found,
        Err(e) => return Some(e),
    };
    let (wf, problems) = workflow(&text, &path, workspace);
    let Some(wf) = wf else {
        return Some(format!("{file} does not validate ({} problem(s): `monstrum validate {file}`)", problems.len()));
    };
    if wf.bot.as_deref() != Some(bot) {
        let runs_as = wf.bot.as_deref().map_or("no bot".to_string(), |b| format!("bot `{b}`"));
        return Some(format!(
            "{file} runs as {runs_as} and the route names bot `{bot}`: a route's workflow runs as the route's bot (give it `bot: {bot}`)"
        ));
    }
    if !wf.inputs.contains_key("message") {
        return Some(format!("{file} does not take the message: declare `inputs: {{ message: {{ type: object }} }}`"));
    }
    None
}

/// The workflow file a route names, inside the workspace, and its text.
pub fn route_workflow(workspace: &Workspace, file: &str) -> Result<(std::path::PathBuf, String), String> {
    let relative = Path::new(file);
    if relative.is_absolute() || relative.components().any(|c| matches!(c, std::path::Component::ParentDir)) {
        return Err(format!("`{file}` is not a file of the workspace: give a path relative to it, without `..`"));
    }
    let path = workspace.root.join(relative);
    let text = std::fs::read_to_string(&path).map_err(|e| format!("cannot read {file}: {e}"))?;
    Ok((path, text))
}
