//! One call of a plugin being written, through the real gate and the real host, with a scratch
//! binding (`monstrum plugin test`): no bot file, no workflow, no model. The author's inner loop.
//!
//! The plugin joins the workspace's plugins as a plugin under development (it shadows one of the
//! same name, as `plugins/<name>/` does). A scratch bot binds it once, with the scope, config and
//! credentials given, and nothing else; the call goes through [`Gate::call`] like any other, so
//! its decision is the one a bot with that binding would get. Without credentials nothing is
//! written anywhere (audit in memory); with them, the workspace's vault is read and the call is
//! audited in the workspace's store, since it reached a real service with a real secret.

use crate::audit::AuditRecord;
use crate::events::{Decision, Event, EventSink};
use crate::governance::{BotLoader, GateCall, Identity, ToolError};
use crate::plugin::Component;
use crate::plugin::trace::{CallTrace, traced};
use crate::store::{AuditFilter, Store};
use crate::workspace::{AvailablePlugin, PluginSource, Workspace, catalog_of};
use anyhow::{Context, bail};
use monstrum_model::{Binding, Bot, Manifest};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// The scratch bot's name, as the audit trail shows it.
pub const TRIAL_BOT: &str = "plugin-test";

/// What to call, and the binding to call it under.
pub struct Trial {
    /// The plugin's manifest.
    pub manifest: Manifest,
    /// Its built component.
    pub component: PathBuf,
    /// The tool, as the manifest names it (`get_record`).
    pub tool: String,
    pub arguments: Value,
    /// The binding's scope: values per dimension. A dimension left out allows nothing.
    pub scope: BTreeMap<String, Value>,
    /// Vault entries per credential field.
    pub credentials: BTreeMap<String, String>,
    /// The binding's config.
    pub config: Map<String, Value>,
}

/// What the gate decided and what the call did.
pub struct TrialOutcome {
    pub decision: Decision,
    /// The rule that decided: `binding acme [collections]`, `schema`, `visibility`.
    pub rule: String,
    /// The tool's output, or why there is none.
    pub result: Result<Value, ToolError>,
    /// What the host saw of the call (none if the gate refused it).
    pub traces: Vec<CallTrace>,
}

/// Calls `trial.tool` once in `workspace` (its other plugins, its vault and store when
/// credentials are given; `db` as for [`crate::open`]).
pub async fn trial(workspace: Workspace, db: Option<&str>, trial: Trial) -> anyhow::Result<TrialOutcome> {
    if trial.manifest.tool(&trial.tool).is_none() {
        let names: Vec<&str> = trial.manifest.tools.iter().map(|t| t.name.as_str()).collect();
        bail!("plugin `{}` has no tool `{}`; it has: {}", trial.manifest.name, trial.tool, names.join(", "));
    }
    let workspace = Arc::new(workspace);
    let store = if trial.credentials.is_empty() {
        None
    } else {
        Some(Store::open(&workspace.store_url(db)?).await.context("credentials are read from the workspace's vault")?)
    };
    // Last in precedence order, as a plugin under development: it shadows one of its name.
    let name = trial.manifest.name.clone();
    let mut plugins = workspace.available_plugins()?;
    plugins.push(AvailablePlugin {
        manifest: trial.manifest,
        source: PluginSource::Dev(trial.component.parent().map(PathBuf::from).unwrap_or_default()),
        component: Component::File(trial.component),
    });
    let (catalog, components) = catalog_of(plugins);

    let bot = Bot {
        name: TRIAL_BOT.into(),
        description: Some("the scratch binding of `monstrum plugin test`".into()),
        model: None,
        personality: None,
        skills: Vec::new(),
        budget: None,
        resources: vec![Binding {
            plugin: name.clone(),
            instance: None,
            credential: None,
            credentials: trial.credentials,
            tools: vec![trial.tool.clone()],
            scope: trial.scope,
            config: trial.config,
            ..Default::default()
        }],
        delegates: Vec::new(),
    };
    let bots: BotLoader =
        Arc::new(
            move |asked| {
                if asked == TRIAL_BOT { Ok(bot.clone()) } else { bail!("a plugin test has no bot `{asked}`") }
            },
        );
    let gate = crate::open::assemble(&workspace, store.as_ref(), catalog, components, bots);

    let principal = gate.principal(Some(TRIAL_BOT));
    if let Identity::Faulty { reason, .. } = &principal.identity {
        bail!("the scratch binding does not compile: {reason}");
    }
    let run = format!("plugin-test-{}", uuid::Uuid::new_v4().simple());
    let tool = format!("{name}.{}", trial.tool);
    let decided: Arc<Mutex<Option<Decision>>> = Arc::default();
    let seen = decided.clone();
    let events = EventSink::new(move |event| {
        if let Event::ToolCall { decision, .. } = event
            && let Ok(mut seen) = seen.lock()
        {
            *seen = Some(decision);
        }
    });
    let call = GateCall {
        run: &run,
        step: &trial.tool,
        principal: &principal,
        tool: &tool,
        arguments: trial.arguments,
        offered: None,
        key: None,
        resend: false,
        conversation: None,
    };
    let (result, traces) = traced(gate.call(call, &events)).await;
    let decision = decided.lock().ok().and_then(|d| *d).context("the gate reported no decision")?;
    let record = match &store {
        Some(store) => {
            store.flush().await?;
            let filter =
                AuditFilter { run: Some(run.clone()), kind: Some("tool_call".into()), ..AuditFilter::default() };
            store.audit_records(&filter).await?.pop()
        }
        None => gate.trail().memory_records().into_iter().find(|r| r.kind == "tool_call"),
    };
    let rule = record.as_ref().and_then(rule_of).unwrap_or_default();
    Ok(TrialOutcome { decision, rule, result, traces })
}

/// The rule an audit record of a decision names (`binding x [dims]`, or `reason (rule)` for a
/// refusal).
fn rule_of(record: &AuditRecord) -> Option<String> {
    let reason = record.reason.as_deref()?;
    // A refusal's reason is `<error> (<rule>)`: the rule is the part in the last parentheses.
    match (record.decision.as_deref(), reason.rfind(" (")) {
        (Some("denied"), Some(i)) => Some(reason[i + 2..].trim_end_matches(')').to_string()),
        _ => Some(reason.to_string()),
    }
}
