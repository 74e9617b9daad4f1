//! `monstrum audit list` and `monstrum audit verify`.

use crate::{EXIT_DONE, EXIT_FAILED, Global};
use monstrum_core::audit::verify as verify_chain;
use monstrum_core::store::{AuditFilter, Store};
use monstrum_core::workspace::Workspace;
use serde_json::json;
use std::path::Path;

async fn store(global: &Global) -> anyhow::Result<Store> {
    let workspace = Workspace::discover(global.workspace.as_deref(), Path::new("."))?;
    Ok(Store::open(&workspace.store_url(global.db.as_deref())?).await?)
}

/// Records matching `filter`, oldest first.
pub async fn list(global: &Global, filter: AuditFilter) -> anyhow::Result<u8> {
    let store = store(global).await?;
    let mut filter = filter;
    if let Some(run) = &filter.run
        && let Some(found) = store.load_run(run).await?
    {
        filter.run = Some(found.id);
    }
    let records = store.audit_records(&filter).await?;
    for r in &records {
        if global.json {
            let mut v = serde_json::to_value(r)?;
            v["type"] = json!("audit");
            v["detail"] = serde_json::from_str(&r.detail).unwrap_or(json!(r.detail));
            println!("{v}");
        } else {
            let at = crate::local_time::local_time(r.at);
            let short_run = r.run.as_deref().map_or("-", |id| &id[..id.len().min(8)]);
            println!(
                "{:>6}  {at}  {:<13} {:<8} {:<10} {:<28} {:<9} {}",
                r.seq,
                r.kind,
                short_run,
                r.bot.as_deref().unwrap_or("-"),
                r.tool.as_deref().unwrap_or("-"),
                r.decision.as_deref().unwrap_or("-"),
                r.reason.as_deref().unwrap_or("")
            );
        }
    }
    if records.is_empty() && !global.json {
        println!("no audit records match");
    }
    Ok(EXIT_DONE)
}

/// Checks the whole chain.
pub async fn verify(global: &Global) -> anyhow::Result<u8> {
    let records = store(global).await?.audit_records(&AuditFilter::default()).await?;
    let problems = verify_chain(&records);
    if global.json {
        println!(
            "{}",
            json!({ "type": "audit_verify", "records": records.len(), "intact": problems.is_empty(), "problems": problems })
        );
    } else if problems.is_empty() {
        println!("{} records, chain intact (newest hash {})", records.len(), records.last().map_or("-", |r| &r.hash));
    } else {
        for p in &problems {
            println!("record {}: {}", p.seq, p.problem);
        }
        println!("{} records, {} problem(s): the trail was tampered with", records.len(), problems.len());
    }
    Ok(if problems.is_empty() { EXIT_DONE } else { EXIT_FAILED })
}
