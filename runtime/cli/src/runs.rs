//! `monstrum runs list` and `monstrum runs show RUN`.

use crate::{EXIT_DONE, EXIT_FAILED, Global};
use monstrum_core::store::{StepRecord, Store};
use monstrum_core::workspace::Workspace;
use serde_json::json;
use std::path::Path;

async fn store(global: &Global) -> anyhow::Result<Store> {
    let workspace = Workspace::discover(global.workspace.as_deref(), Path::new("."))?;
    Ok(Store::open(&workspace.store_url(global.db.as_deref())?).await?)
}

use crate::local_time::local_time as time;

fn took(from: Option<i64>, to: Option<i64>) -> String {
    match (from, to) {
        (Some(a), Some(b)) if b >= a => format!("{} ms", b - a),
        _ => "-".into(),
    }
}

/// The newest runs.
pub async fn list(global: &Global, limit: i64) -> anyhow::Result<u8> {
    let runs = store(global).await?.list_runs(limit, None).await?.unwrap_or_default();
    if global.json {
        for r in &runs {
            println!(
                "{}",
                json!({ "type": "run", "run": r.id, "workflow": r.workflow, "status": r.status, "started_by": r.started_by, "created_at": r.created_at, "finished_at": r.finished_at, "error": r.error })
            );
        }
        return Ok(EXIT_DONE);
    }
    if runs.is_empty() {
        println!("no runs yet");
    }
    println!("{:<36}  {:<20}  {:<9}  {:<19}  {:>10}  BY", "RUN", "WORKFLOW", "STATUS", "STARTED", "TOOK");
    for r in runs {
        println!(
            "{:<36}  {:<20}  {:<9}  {:<19}  {:>10}  {}",
            r.id,
            r.workflow,
            r.status,
            time(r.created_at),
            took(Some(r.created_at), r.finished_at),
            r.started_by
        );
    }
    Ok(EXIT_DONE)
}

/// One run in detail.
pub async fn show(global: &Global, id: &str) -> anyhow::Result<u8> {
    let store = store(global).await?;
    let Some(run) = store.load_run(id).await? else {
        crate::report_error(global, &anyhow::anyhow!("no run {id}"));
        return Ok(EXIT_FAILED);
    };
    let steps = store.load_steps(&run.id).await?;
    let gates = store.open_approvals(&run.id).await?;
    let requests = store.llm_requests(&run.id).await?;
    if global.json {
        println!(
            "{}",
            json!({ "type": "run", "run": run.id, "details": run, "steps": steps, "waiting": gates, "llm_requests": requests })
        );
        return Ok(EXIT_DONE);
    }
    println!("run       {}", run.id);
    match run.workflow_version {
        Some(v) => println!("workflow  {} version {v} ({})", run.workflow, run.file),
        None => println!("workflow  {} ({})", run.workflow, run.file),
    }
    println!("status    {}", run.status);
    println!("started   {} by {}", time(run.created_at), run.started_by);
    if let Some(f) = run.finished_at {
        println!("finished  {} ({})", time(f), took(Some(run.created_at), Some(f)));
    }
    if let Some(parent) = &run.parent_run {
        println!("parent    {parent} step {}", run.parent_step.as_deref().unwrap_or("?"));
    }
    println!("inputs    {}", run.inputs);
    if let Some(e) = &run.error {
        println!("error     {e}");
    }
    if let Some(o) = &run.outputs {
        println!("outputs   {o}");
    }
    println!("\nsteps:");
    for s in &steps {
        print_step(s);
    }
    for g in &gates {
        println!("\nwaiting: {} — {}\n  approve: monstrum approve {} {}", g.step_id, g.message, run.id, g.step_id);
    }
    if !requests.is_empty() {
        let (i, o) = requests.iter().fold((0, 0), |(i, o), r| (i + r.input_tokens, o + r.output_tokens));
        println!("\nmodel requests: {} ({i} input + {o} output tokens)", requests.len());
        for r in &requests {
            println!(
                "  {:<16} {}/{} tools [{}] {} + {} tokens{}",
                r.step_key,
                r.provider,
                r.model,
                r.tools.join(", "),
                r.input_tokens,
                r.output_tokens,
                r.error.as_ref().map(|e| format!(" error: {e}")).unwrap_or_default()
            );
        }
    }
    Ok(EXIT_DONE)
}

fn print_step(s: &StepRecord) {
    let detail = match (&s.error, &s.output) {
        (Some(e), _) => format!("error: {e}"),
        (None, Some(o)) => {
            let text = o.to_string();
            if text.chars().count() > 100 { format!("{}…", text.chars().take(100).collect::<String>()) } else { text }
        }
        _ => String::new(),
    };
    println!(
        "  {:<20} {:<10} attempts {:<2} {:>9}  {}",
        s.step_key,
        s.status,
        s.attempts,
        took(s.started_at, s.finished_at),
        detail
    );
}
