//! Runs: list, read, start and resume. A run started here is driven by the server (`Driver`);
//! the answer carries its id at once, and its events stream from `/api/runs/{id}/events`.

use crate::auth::Caller;
use crate::error::{ApiError, ApiJson, ApiQuery};
use crate::routes::events::no_run;
use crate::routes::workflows::{DiagnosticView, workflow_file};
use crate::state::App;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use monstrum_core::workflow::{Plan, StartRun, resolve_inputs};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `?limit=` of a list.
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// At most this many (1–1000, default 50), newest first.
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
    /// The next page: the runs started before this one (the last run's `id` of a page).
    #[param(pattern = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")]
    pub cursor: Option<String>,
}

/// A run as recorded (`monstrum runs show --json` has the same fields).
#[derive(Serialize, utoipa::ToSchema)]
#[schema(value_type = Object)]
pub struct RunView(pub Value);

/// A run with its steps, open gates and model requests.
#[derive(Serialize, utoipa::ToSchema)]
pub struct RunDetail {
    #[schema(value_type = Object)]
    pub run: Value,
    #[schema(value_type = Vec<Object>)]
    pub steps: Value,
    #[schema(value_type = Vec<Object>)]
    pub waiting: Value,
    #[schema(value_type = Vec<Object>)]
    pub llm_requests: Value,
}

/// What starts a run.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartBody {
    /// The workflow's name (`workflows/NAME.yaml`).
    #[schema(pattern = "^[A-Za-z0-9_-]{1,128}$")]
    pub workflow: String,
    /// Its inputs, by name.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub inputs: Map<String, Value>,
    /// The conversation the run is for (`CHANNEL/CONVERSATION`): its bots' `channel:` memory.
    #[serde(default)]
    #[schema(pattern = "^[A-Za-z0-9_-]{1,64}/[!-~]{1,200}$")]
    pub conversation: Option<String>,
}

/// What continues a run.
#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResumeBody {
    /// Run this step and everything after it again.
    pub from: Option<String>,
}

/// The run a request started or continued.
#[derive(Serialize, utoipa::ToSchema)]
pub struct RunRef {
    pub run: String,
}

fn json<T: Serialize>(v: &T) -> Result<Value, ApiError> {
    serde_json::to_value(v).map_err(ApiError::internal)
}

/// The newest runs.
#[utoipa::path(get, path = "/api/runs", tag = "runs", params(ListParams),
    responses((status = 200, body = Vec<RunView>), (status = 400, body = crate::error::ErrorBody),
              (status = 404, description = "no run is the cursor", body = crate::error::ErrorBody)))]
pub async fn list(State(app): State<App>, ApiQuery(p): ApiQuery<ListParams>) -> Result<Json<Value>, ApiError> {
    let limit = p.limit.unwrap_or(50);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::invalid("limit is 1 to 1000"));
    }
    let runs = app.store.list_runs(limit, p.cursor.as_deref()).await.map_err(ApiError::internal)?;
    let runs =
        runs.ok_or_else(|| ApiError::not_found("no run is the cursor: it is the id of the last run of a page"))?;
    Ok(Json(json(&runs)?))
}

/// One run in detail.
#[utoipa::path(get, path = "/api/runs/{id}", tag = "runs",
    params(("id" = String, Path, description = "the run's id (or a unique prefix of 6+ characters)")),
    responses((status = 200, body = RunDetail), (status = 404, body = crate::error::ErrorBody)))]
pub async fn get(State(app): State<App>, Path(id): Path<String>) -> Result<Json<RunDetail>, ApiError> {
    let store = &app.store;
    let run = store.load_run(&id).await.map_err(ApiError::internal)?.ok_or_else(|| no_run(&id))?;
    Ok(Json(RunDetail {
        steps: json(&store.load_steps(&run.id).await.map_err(ApiError::internal)?)?,
        waiting: json(&store.open_approvals(&run.id).await.map_err(ApiError::internal)?)?,
        llm_requests: json(&store.llm_requests(&run.id).await.map_err(ApiError::internal)?)?,
        run: json(&run)?,
    }))
}

/// Starts a run of a workspace workflow; the server drives it.
#[utoipa::path(post, path = "/api/runs", tag = "runs", request_body = StartBody,
    responses((status = 201, body = RunRef), (status = 400, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody),
              (status = 422, description = "the workflow does not validate, or refuses the inputs", body = crate::error::ErrorBody)))]
pub async fn start(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    ApiJson(body): ApiJson<StartBody>,
) -> Result<(StatusCode, Json<RunRef>), ApiError> {
    if let Some(Err(e)) = body.conversation.as_deref().map(monstrum_core::memory::check_conversation) {
        return Err(ApiError::new(StatusCode::BAD_REQUEST, "invalid", e));
    }
    let file = workflow_file(&app, &body.workflow)?;
    let text = std::fs::read_to_string(&file)
        .map_err(|e| ApiError::internal(format!("cannot read {}: {e}", file.display())))?;
    let (workflow, problems) = monstrum_core::check::workflow(&text, &file, app.workspace());
    let Some(workflow) = workflow else {
        let mut e = ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            format!("workflow {} does not validate", body.workflow),
        );
        e.body.error.diagnostics = problems.iter().map(DiagnosticView::from).collect();
        return Err(e);
    };
    // Inputs the workflow does not declare, or of the wrong type: the body is well formed, the
    // workflow refuses it.
    let inputs = resolve_inputs(&workflow, body.inputs)
        .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", e.to_string()))?;
    let run = StartRun {
        plan: Plan::new(workflow),
        source: text,
        file,
        inputs,
        started_by: caller.name,
        parent: None,
        depth: 0,
        conversation: body.conversation,
    };
    let id = app.driver.start(run).await.map_err(ApiError::internal)?;
    Ok((StatusCode::CREATED, Json(RunRef { run: id })))
}

/// Continues a run that was interrupted, or re-runs it from a step.
#[utoipa::path(post, path = "/api/runs/{id}/resume", tag = "runs", request_body = ResumeBody,
    params(("id" = String, Path, description = "the run's id")),
    responses((status = 202, body = RunRef), (status = 404, body = crate::error::ErrorBody),
              (status = 409, body = crate::error::ErrorBody)))]
pub async fn resume(
    State(app): State<App>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ResumeBody>,
) -> Result<(StatusCode, Json<RunRef>), ApiError> {
    let run = app.store.load_run(&id).await.map_err(ApiError::internal)?.ok_or_else(|| no_run(&id))?;
    if run.status == "cancelled" {
        return Err(ApiError::conflict(format!("run {} was cancelled; a cancelled run is not resumed", run.id)));
    }
    if run.status == "succeeded" && body.from.is_none() {
        return Err(ApiError::conflict(format!("run {} has succeeded; give `from` to run a step again", run.id)));
    }
    if let Some(from) = &body.from {
        let plan = monstrum_model::load_workflow(&run.source)
            .value
            .ok_or_else(|| ApiError::conflict("the run's recorded workflow no longer loads"))?;
        if !plan.steps.iter().any(|s| &s.id == from) {
            return Err(ApiError::not_found(format!("run {} has no step `{from}`", run.id)));
        }
    }
    if !app.driver.resume(&run.id, body.from) {
        return Err(ApiError::conflict(format!("run {} is being driven by this server already", run.id)));
    }
    Ok((StatusCode::ACCEPTED, Json(RunRef { run: run.id })))
}

/// What a cancel did.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CancelView {
    pub run: String,
    /// stopping (this server drives it and stops it now), closed (nobody drove it; it is
    /// cancelled), requested (another process drives it and stops within its lease renewal)
    pub outcome: String,
}

/// Cancels a run: its running steps stop and are recorded `cancelled`, its open gates close.
#[utoipa::path(post, path = "/api/runs/{id}/cancel", tag = "runs",
    params(("id" = String, Path, description = "the run's id")),
    responses((status = 202, body = CancelView), (status = 404, body = crate::error::ErrorBody),
              (status = 409, body = crate::error::ErrorBody)))]
pub async fn cancel(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<CancelView>), ApiError> {
    use monstrum_core::workflow::{CancelError, Cancelled};
    let run = app.store.load_run(&id).await.map_err(ApiError::internal)?.ok_or_else(|| no_run(&id))?;
    let outcome = match app.engine.cancel(&run.id, &caller.name).await {
        Ok(Cancelled::Stopping) => "stopping",
        Ok(Cancelled::Closed) => "closed",
        Ok(Cancelled::Requested { .. }) => "requested",
        Err(e @ CancelError::NoRun(_)) => return Err(ApiError::not_found(e.to_string())),
        Err(e @ CancelError::Ended { .. }) => return Err(ApiError::conflict(e.to_string())),
        Err(e @ CancelError::Audit(_)) => {
            return Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", e.to_string()));
        }
        Err(e) => return Err(ApiError::internal(e)),
    };
    Ok((StatusCode::ACCEPTED, Json(CancelView { run: run.id, outcome: outcome.into() })))
}
