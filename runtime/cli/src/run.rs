//! `monstrum run`, `approve` and `resume`: start or continue a run and show how it ends.

use crate::diagnostics::load_checked;
use crate::progress::Progress;
use crate::{EXIT_DONE, EXIT_FAILED, EXIT_INVALID, EXIT_WAITING, Global};
use monstrum_core::events::EventSink;
use monstrum_core::store::Store;
use monstrum_core::workflow::{
    DecideError, Engine, EngineError, Plan, RunOutcome, RunStatus, StartRun, resolve_inputs,
};
use monstrum_core::workspace::Workspace;
use serde_json::{Map, Value};
use std::path::Path;
use std::sync::Arc;

/// Opens the workspace's engine, reporting the way the user asked; over `opened` when the store
/// was opened already (and the workspace's MCP servers read from it).
async fn engine(
    global: &Global,
    workspace: Workspace,
    opened: Option<Store>,
) -> anyhow::Result<(Arc<Engine>, Option<Arc<Progress>>)> {
    let (events, progress) = if global.json {
        (
            EventSink::new(|event| {
                if let Ok(line) = serde_json::to_string(&event) {
                    println!("{line}");
                }
            }),
            None,
        )
    } else {
        let progress = Arc::new(Progress::new());
        let p = progress.clone();
        (EventSink::new(move |event| p.handle(&event)), Some(progress))
    };
    Ok((Arc::new(open_engine(global, workspace, opened, events).await?), progress))
}

/// The workspace's engine, over `opened` if the store is open already, with the MCP client
/// attached, and the channels' sender when it has channels.
pub(crate) async fn open_engine(
    global: &Global,
    workspace: Workspace,
    opened: Option<Store>,
    events: EventSink,
) -> anyhow::Result<Engine> {
    let engine = match opened {
        Some(store) => monstrum_core::open_in(workspace, store, events)?,
        None => monstrum_core::open(workspace, global.db.as_deref(), events).await?,
    };
    monstrum_mcp::McpClient::attach(&engine);
    // A step may call a channel's `send` (a `channel:` binding): its sender holds the channels'
    // secrets. A workspace without channels loads nothing for it.
    if !engine.workspace.channel_names().is_empty() {
        monstrum_gateway::send::Sender::attach(&engine).await?;
    }
    Ok(engine)
}

/// `monstrum run FILE [--input k=v]...`
pub async fn run(global: &Global, file: &Path, inputs: &[String], conversation: Option<&str>) -> anyhow::Result<u8> {
    if let Some(Err(e)) = conversation.map(monstrum_core::memory::check_conversation) {
        crate::report_error(global, &anyhow::anyhow!("--conversation: {e}"));
        return Ok(EXIT_INVALID);
    }
    let file = std::path::absolute(file).unwrap_or_else(|_| file.to_path_buf());
    let mut workspace = Workspace::discover(global.workspace.as_deref(), file.parent().unwrap_or(Path::new(".")))?;
    let opened = crate::diagnostics::load_mcp(global, &mut workspace).await?;
    let (workflow, source) = match load_checked(global, &file, &workspace) {
        Ok(loaded) => loaded,
        Err(code) => return Ok(code),
    };
    let mut given = Map::new();
    for pair in inputs {
        let Some((k, v)) = pair.split_once('=') else {
            crate::report_error(global, &anyhow::anyhow!("--input takes NAME=VALUE, got `{pair}`"));
            return Ok(EXIT_INVALID);
        };
        given.insert(k.trim().to_string(), Value::String(v.to_string()));
    }
    let inputs = match resolve_inputs(&workflow, given) {
        Ok(v) => v,
        Err(e) => {
            crate::report_error(global, &anyhow::anyhow!("{e}"));
            return Ok(EXIT_INVALID);
        }
    };
    let (engine, progress) = engine(global, workspace, opened).await?;
    let outcome = engine
        .start(StartRun {
            plan: Plan::new(workflow),
            source,
            file,
            inputs,
            started_by: global.who(),
            parent: None,
            depth: 0,
            conversation: conversation.map(str::to_string),
        })
        .await?;
    let outcome = engine.continue_parents(outcome).await?;
    Ok(finish(global, progress.as_deref(), &outcome))
}

/// `monstrum approve RUN STEP [--reject] [--comment TEXT]`
pub async fn approve(
    global: &Global,
    run: &str,
    step: &str,
    approved: bool,
    comment: Option<&str>,
    output: Option<&str>,
) -> anyhow::Result<u8> {
    let output: Option<Value> = match output.map(serde_json::from_str).transpose() {
        Ok(v) => v,
        Err(e) => {
            crate::report_error(global, &anyhow::anyhow!("--output takes JSON: {e}"));
            return Ok(EXIT_INVALID);
        }
    };
    let workspace = Workspace::discover(global.workspace.as_deref(), Path::new("."))?;
    let (engine, progress) = engine(global, workspace, None).await?;
    let run_id = match engine.decide(run, step, approved, &global.who(), comment, output.as_ref()).await {
        Ok(id) => id,
        Err(DecideError::Expired) => {
            crate::report_error(global, &anyhow::anyhow!("{}", DecideError::Expired));
            run.to_string()
        }
        Err(e) => {
            crate::report_error(global, &e.into());
            return Ok(EXIT_FAILED);
        }
    };
    let outcome = match engine.resume(&run_id, None).await {
        Err(EngineError::Busy { owner, .. }) => {
            // The decision is recorded; the process driving the run continues with it.
            if !global.json {
                println!("decision recorded; run {run_id} is being driven by {owner}, which continues with it");
            }
            return Ok(EXIT_DONE);
        }
        other => other?,
    };
    let outcome = engine.continue_parents(outcome).await?;
    Ok(finish(global, progress.as_deref(), &outcome))
}

/// `monstrum runs cancel RUN`
pub async fn cancel(global: &Global, run: &str) -> anyhow::Result<u8> {
    use monstrum_core::workflow::{CancelError, Cancelled};
    let workspace = Workspace::discover(global.workspace.as_deref(), Path::new("."))?;
    let (engine, progress) = engine(global, workspace, None).await?;
    if let Some(p) = progress {
        p.clear();
    }
    let said = match engine.cancel(run, &global.who()).await {
        Ok(Cancelled::Closed | Cancelled::Stopping) => format!("run {run} cancelled"),
        Ok(Cancelled::Requested { owner }) => {
            format!("cancel of run {run} recorded; {owner}, which drives it, stops it within 10 s")
        }
        Err(e @ (CancelError::NoRun(_) | CancelError::Ended { .. })) => {
            crate::report_error(global, &e.into());
            return Ok(EXIT_FAILED);
        }
        Err(e) => return Err(e.into()),
    };
    if !global.json {
        println!("{said}");
    }
    Ok(EXIT_DONE)
}

/// `monstrum resume RUN [--from STEP]`
pub async fn resume(global: &Global, run: &str, from: Option<&str>) -> anyhow::Result<u8> {
    let workspace = Workspace::discover(global.workspace.as_deref(), Path::new("."))?;
    let (engine, progress) = engine(global, workspace, None).await?;
    let outcome = engine.resume(run, from).await?;
    let outcome = engine.continue_parents(outcome).await?;
    Ok(finish(global, progress.as_deref(), &outcome))
}

/// Prints how the run ended and returns the exit code.
fn finish(global: &Global, progress: Option<&Progress>, outcome: &RunOutcome) -> u8 {
    if let Some(p) = progress {
        p.clear();
    }
    if !global.json {
        let id = &outcome.run_id;
        match outcome.status {
            RunStatus::Succeeded => {
                println!("run {id} succeeded");
                if outcome.outputs.as_object().is_some_and(|o| !o.is_empty()) {
                    println!("{}", serde_json::to_string_pretty(&outcome.outputs).unwrap_or_default());
                }
            }
            RunStatus::Failed => {
                println!("run {id} failed: {}", outcome.error.as_deref().unwrap_or("unknown error"));
                println!("  see:       monstrum runs show {id}");
                println!("  re-run:    monstrum resume {id} --from STEP");
            }
            RunStatus::Cancelled => {
                println!("run {id} was {}", outcome.error.as_deref().unwrap_or("cancelled"));
            }
            RunStatus::Waiting => {
                println!("run {id} is waiting for approval");
                for (step, message) in &outcome.waiting {
                    println!("  {step}: {message}");
                    println!("    approve: monstrum approve {id} {step}");
                    println!("    reject:  monstrum approve {id} {step} --reject --comment \"why\"");
                }
            }
        }
    }
    match outcome.status {
        RunStatus::Succeeded => EXIT_DONE,
        RunStatus::Failed | RunStatus::Cancelled => EXIT_FAILED,
        RunStatus::Waiting => EXIT_WAITING,
    }
}
