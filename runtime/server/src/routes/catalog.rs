//! Bots, plugins and skills as the workspace has them. A bot's tools are the ones the gate's own
//! visibility code offers it (`Gate::visible_tools`), never a list computed beside it.

use crate::error::ApiError;
use crate::state::App;
use axum::Json;
use axum::extract::{Path, State};
use monstrum_core::governance::Identity;
use serde::Serialize;
use serde_json::Value;

/// A bot in the list.
#[derive(Serialize, utoipa::ToSchema)]
pub struct BotSummary {
    pub name: String,
    pub description: Option<String>,
}

/// A tool a bot sees.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ToolView {
    pub name: String,
    pub description: String,
    /// JSON Schema of its arguments.
    #[schema(value_type = Object)]
    pub parameters: Value,
}

/// One bot: its file as the gate serves it, the tools it sees, its budget's use this period, and
/// a problem: why it sees no tool if it does not compile, or why its last edit was not taken
/// (a server keeps a bot's last good version while its file is broken).
#[derive(Serialize, utoipa::ToSchema)]
pub struct BotView {
    pub name: String,
    #[schema(value_type = Object)]
    pub bot: Value,
    pub tools: Vec<ToolView>,
    pub budget: Option<BudgetUse>,
    pub problem: Option<String>,
}

/// What a bot has used of its budget in the current period, as the gate counts it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct BudgetUse {
    /// `bot ops per month`
    pub account: String,
    /// When the period began (ms since 1970).
    pub since: i64,
    pub tokens: i64,
    pub usd: f64,
    pub tokens_limit: Option<u64>,
    pub usd_limit: Option<f64>,
}

/// A plugin the workspace can use.
#[derive(Serialize, utoipa::ToSchema)]
pub struct PluginView {
    pub name: String,
    pub version: String,
    /// builtin | installed | dev
    pub source: String,
    /// Its manifest (tools, their schemas and scope rules, credentials by name).
    #[schema(value_type = Object)]
    pub manifest: Value,
}

/// The workspace's bots.
#[utoipa::path(get, path = "/api/bots", tag = "bots", responses((status = 200, body = Vec<BotSummary>)))]
pub async fn bots(State(app): State<App>) -> Json<Vec<BotSummary>> {
    let ws = app.workspace();
    Json(
        super::yaml_files(&ws.root.join("bots"))
            .into_iter()
            .map(|(name, _)| BotSummary { description: ws.bot(&name).ok().and_then(|b| b.description), name })
            .collect(),
    )
}

/// One bot and the tools it sees.
#[utoipa::path(get, path = "/api/bots/{name}", tag = "bots",
    params(("name" = String, Path, description = "the bot's name", pattern = "^[A-Za-z0-9_-][A-Za-z0-9._-]*$")),
    responses((status = 200, body = BotView), (status = 404, body = crate::error::ErrorBody)))]
pub async fn bot(State(app): State<App>, Path(name): Path<String>) -> Result<Json<BotView>, ApiError> {
    monstrum_core::workspace::plain_name("bot", &name).map_err(|e| ApiError::invalid(e.to_string()))?;
    let on_disk = app.workspace().bot(&name);
    // A bot whose last edit broke is still served in its last good version, which is shown.
    if on_disk.is_err() && !app.engine.gate.compiled_bots().contains(&name) {
        return Err(ApiError::not_found(format!("{:#}", on_disk.err().unwrap_or_else(|| anyhow::anyhow!("no bot")))));
    }
    let principal = app.engine.gate.principal(Some(&name));
    let (bot, problem) = match &principal.identity {
        Identity::Bot(policy) => {
            let kept = app.reload_problems.lock().ok().and_then(|p| p.get(&name).cloned());
            (serde_json::to_value(&*policy.bot).map_err(ApiError::internal)?, kept)
        }
        Identity::Faulty { reason, .. } => {
            let bot = on_disk.map_err(|e| ApiError::not_found(format!("{e:#}")))?;
            (serde_json::to_value(&bot).map_err(ApiError::internal)?, Some(reason.clone()))
        }
        Identity::Anonymous => return Err(ApiError::not_found(format!("no bot `{name}`"))),
    };
    let tools = app.engine.gate.visible_tools(&principal, None).iter().map(|t| tool_view(t)).collect();
    let budget =
        app.engine.gate.period_use(&name).await.map_err(ApiError::internal)?.map(|(account, used)| BudgetUse {
            account: account.label,
            since: account.since,
            tokens: used.0,
            usd: used.1 as f64 / 1e6,
            tokens_limit: account.limits.tokens,
            usd_limit: account.limits.usd,
        });
    Ok(Json(BotView { name, bot, tools, budget, problem }))
}

/// The tools a step with no bot sees (the core tools), as the gate offers them: the editor's tool
/// picker for such a step (a step with a bot is offered `GET /api/bots/{name}`'s tools).
#[utoipa::path(get, path = "/api/tools", tag = "bots", responses((status = 200, body = Vec<ToolView>)))]
pub async fn tools(State(app): State<App>) -> Json<Vec<ToolView>> {
    let principal = app.engine.gate.principal(None);
    Json(app.engine.gate.visible_tools(&principal, None).iter().map(|t| tool_view(t)).collect())
}

fn tool_view(t: &monstrum_core::llm::ToolSpec) -> ToolView {
    ToolView { name: t.name.clone(), description: t.description.clone(), parameters: t.parameters.clone() }
}

fn plugin_view(p: monstrum_core::workspace::AvailablePlugin) -> Result<PluginView, ApiError> {
    Ok(PluginView {
        name: p.manifest.name.clone(),
        version: p.manifest.version.clone(),
        source: p.source.kind().into(),
        manifest: serde_json::to_value(&p.manifest).map_err(ApiError::internal)?,
    })
}

/// The plugins the workspace can use.
#[utoipa::path(get, path = "/api/plugins", tag = "plugins", responses((status = 200, body = Vec<PluginView>)))]
pub async fn plugins(State(app): State<App>) -> Result<Json<Vec<PluginView>>, ApiError> {
    let all = app.workspace().available_plugins().map_err(ApiError::internal)?;
    Ok(Json(all.into_iter().map(plugin_view).collect::<Result<_, _>>()?))
}

/// One plugin.
#[utoipa::path(get, path = "/api/plugins/{name}", tag = "plugins",
    params(("name" = String, Path, description = "the plugin's name")),
    responses((status = 200, body = PluginView), (status = 404, body = crate::error::ErrorBody)))]
pub async fn plugin(State(app): State<App>, Path(name): Path<String>) -> Result<Json<PluginView>, ApiError> {
    let all = app.workspace().available_plugins().map_err(ApiError::internal)?;
    let found = all
        .into_iter()
        .find(|p| p.manifest.name == name)
        .ok_or_else(|| ApiError::not_found(format!("no plugin {name}")))?;
    Ok(Json(plugin_view(found)?))
}

/// A skill of the workspace (`skills/NAME/SKILL.md`): its front matter, or why it does not load.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SkillView {
    pub name: String,
    pub description: Option<String>,
    pub version: Option<String>,
    /// The tools it narrows its bot to (`instance.tool`, from `tools` and `allowed-tools`):
    /// while it is enabled, the only plugin tools its bot is offered.
    pub tools: Vec<String>,
    /// Values per dimension that narrow its bot's scope while it is enabled.
    #[schema(value_type = Object)]
    pub scope: Value,
    /// Why it does not load (then the rest is empty): its errors, each `file:line:column: code:
    /// reason`.
    pub problem: Option<String>,
    /// What loads but is worth a look (another host's fields, tool names that are not
    /// `instance.tool`), each `line:column: code: reason`.
    pub warnings: Vec<String>,
}

/// The workspace's skills, by name.
#[utoipa::path(get, path = "/api/skills", tag = "skills", responses((status = 200, body = Vec<SkillView>)))]
pub async fn skills(State(app): State<App>) -> Json<Vec<SkillView>> {
    let views = app.workspace().skills().into_iter().map(|e| {
        let (warnings, errors): (Vec<_>, Vec<_>) = e.problems.iter().partition(|d| d.is_warning());
        let warnings = warnings.iter().map(ToString::to_string).collect();
        match e.skill {
            Some(s) => SkillView {
                name: e.name,
                description: Some(s.description.clone()),
                version: s.version.clone(),
                tools: s.needed_tools().cloned().collect(),
                scope: serde_json::to_value(&s.scope).unwrap_or_default(),
                problem: None,
                warnings,
            },
            None => SkillView {
                name: e.name,
                description: None,
                version: None,
                tools: Vec::new(),
                scope: Value::Object(Default::default()),
                problem: Some(
                    errors.iter().map(|d| format!("{}:{d}", e.file.display())).collect::<Vec<_>>().join("\n"),
                ),
                warnings,
            },
        }
    });
    Json(views.collect())
}
