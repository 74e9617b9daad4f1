//! `monstrum channel list`: the workspace's channels (DESIGN.md, "Channels"), each with its kind,
//! hook, routes and whether it loads (and why not), and its recent deliveries.

use crate::{EXIT_DONE, Global};
use clap::Subcommand;
use monstrum_core::store::Store;
use monstrum_core::vault::Vault;
use monstrum_core::workspace::Workspace;
use serde_json::json;
use std::path::Path;

#[derive(Subcommand)]
pub enum ChannelAction {
    /// Each channel: kind, hook, routes, problems, and its last deliveries.
    List {
        /// Deliveries shown per channel.
        #[arg(long, default_value_t = 5)]
        deliveries: i64,
    },
}

pub async fn run(global: &Global, action: ChannelAction) -> anyhow::Result<u8> {
    let ChannelAction::List { deliveries } = action;
    let workspace = Workspace::discover(global.workspace.as_deref(), Path::new("."))?;
    let store = Store::open(&workspace.store_url(global.db.as_deref())?).await?;
    let vault = Vault::open(&workspace.data_dir(), store.clone())?;
    let channels = monstrum_gateway::channels::load(&workspace, &vault).await;
    if channels.live.is_empty() && channels.problems.is_empty() && !global.json {
        println!("no channels (add channels/NAME.yaml: docs/channels.md)");
    }
    let time = |ms: i64| crate::local_time::local_time(ms);
    for name in workspace.channel_names() {
        let recent = store.deliveries(Some(&name), deliveries).await?;
        let live = channels.live.get(&name);
        let problem = channels.problems.get(&name);
        if global.json {
            let routes = live.map(|l| &l.channel.routes);
            let recent: Vec<_> = recent
                .iter()
                .map(|d| {
                    json!({ "event_id": d.event_id, "received_at": d.received_at, "status": d.status,
                                 "conversation": d.conversation, "bot": d.bot, "run": d.run_id, "error": d.error })
                })
                .collect();
            println!(
                "{}",
                json!({ "type": "channel", "name": name, "kind": live.map(|l| l.channel.kind.as_str()),
                        "hook": format!("/hooks/{name}"), "routes": routes, "problem": problem, "deliveries": recent })
            );
            continue;
        }
        match (live, problem) {
            (Some(l), _) => println!("{name:<20} {:<9} /hooks/{name}", l.channel.kind.as_str()),
            (None, p) => println!("{name:<20} {:<9} not served: {}", "-", p.map_or("", |p| p.as_str())),
        }
        for route in live.map(|l| l.channel.routes.as_slice()).unwrap_or_default() {
            let when = route.condition.as_deref().map_or("always".to_string(), |c| format!("if {c}"));
            let what = route.workflow.as_deref().unwrap_or(monstrum_model::LLM_ROUTE);
            println!("  route {when} -> bot {} ({what})", route.bot);
        }
        for d in &recent {
            let run = d.run_id.as_deref().map_or("-", |r| &r[..r.len().min(8)]);
            let error = d.error.as_deref().map_or(String::new(), |e| format!("  {e}"));
            println!(
                "  {} {:<24} {:<10} {:<16} run {run}{error}",
                time(d.received_at),
                d.event_id,
                d.status,
                d.bot.as_deref().unwrap_or("-")
            );
        }
    }
    Ok(EXIT_DONE)
}
