//! Saving workflows: create, save over a version (`If-Match`), the versions, a diff of two, and
//! a rollback. The rules (validate first, never lose a text) are `monstrum_core::versions`'s,
//! shared with `monstrum workflow save`.

use crate::auth::Caller;
use crate::error::{ApiError, ApiJson, ApiQuery};
use crate::routes::workflows::{DiagnosticView, check_name};
use crate::state::App;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::{Extension, Json};
use monstrum_core::versions::{self, SaveError};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A new workflow.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateBody {
    /// Its name: the file is `workflows/NAME.yaml`.
    #[schema(pattern = "^[A-Za-z0-9_-]{1,128}$")]
    pub name: String,
    pub text: String,
    #[serde(default)]
    pub message: String,
}

/// A save of a workflow's text.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SaveBody {
    pub text: String,
    #[serde(default)]
    pub message: String,
}

/// Which version to write again as the head.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RollbackBody {
    #[schema(minimum = 1)]
    pub version: i64,
}

/// `?from=A&to=B`
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DiffParams {
    #[param(minimum = 1)]
    pub from: i64,
    #[param(minimum = 1)]
    pub to: i64,
}

/// What a save stored.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SavedView {
    pub workflow: String,
    pub version: i64,
    pub hash: String,
    /// False when the text was the head already.
    pub created: bool,
}

/// A version (its text is read with the diff).
#[derive(Serialize, utoipa::ToSchema)]
#[schema(value_type = Object)]
pub struct VersionView(pub Value);

/// Two versions compared.
#[derive(Serialize, utoipa::ToSchema)]
pub struct DiffView {
    /// Unified diff of the texts.
    pub text: String,
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub changed: Vec<String>,
}

fn refused(e: SaveError) -> ApiError {
    match e {
        SaveError::Invalid(ref problems) => {
            let mut err = ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", e.to_string());
            err.body.error.diagnostics = problems.iter().map(DiagnosticView::from).collect();
            err
        }
        e @ SaveError::Conflict { .. } => ApiError::new(StatusCode::PRECONDITION_FAILED, "conflict", e.to_string()),
        e @ SaveError::BadName(_) => ApiError::invalid(e.to_string()),
        e @ SaveError::NoVersion { .. } => ApiError::not_found(e.to_string()),
        e @ (SaveError::Io(_) | SaveError::Store(_)) => ApiError::internal(e),
    }
}

fn saved(s: versions::Saved) -> SavedView {
    SavedView { workflow: s.workflow, version: s.version, hash: s.hash, created: s.created }
}

/// `If-Match: "3"` (or `3`): the version the save is based on.
fn if_match(headers: &HeaderMap) -> Result<Option<i64>, ApiError> {
    let Some(v) = headers.get(axum::http::header::IF_MATCH) else { return Ok(None) };
    let v = v.to_str().unwrap_or_default().trim().trim_start_matches("W/").trim_matches('"');
    v.parse().map(Some).map_err(|_| ApiError::invalid("If-Match takes the version a save is based on, e.g. \"3\""))
}

/// Creates a workflow (refused if one of that name exists).
#[utoipa::path(post, path = "/api/workflows", tag = "workflows", request_body = CreateBody,
    responses((status = 201, body = SavedView), (status = 409, body = crate::error::ErrorBody),
              (status = 422, body = crate::error::ErrorBody)))]
pub async fn create(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    ApiJson(body): ApiJson<CreateBody>,
) -> Result<(StatusCode, Json<SavedView>), ApiError> {
    check_name(&body.name)?;
    if versions::file_of(app.workspace(), &body.name).exists() {
        return Err(ApiError::conflict(format!("workflow {} exists: save it with PUT", body.name)));
    }
    let message = if body.message.is_empty() { "created" } else { &body.message };
    let s = versions::save(&app.store, app.workspace(), &body.name, &body.text, &caller.name, message, None)
        .await
        .map_err(refused)?;
    Ok((StatusCode::CREATED, Json(saved(s))))
}

/// Saves a workflow's text as its next version; with `If-Match`, only over that version.
#[utoipa::path(put, path = "/api/workflows/{name}", tag = "workflows", request_body = SaveBody,
    params(("name" = String, Path, description = "the workflow's name", pattern = "^[A-Za-z0-9_-]{1,128}$"),
           ("If-Match" = Option<String>, Header, description = "the version the text is based on", pattern = "^(W/)?\"?[0-9]{1,18}\"?$")),
    responses((status = 200, body = SavedView), (status = 400, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody), (status = 412, body = crate::error::ErrorBody),
              (status = 422, body = crate::error::ErrorBody)))]
pub async fn save(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<SaveBody>,
) -> Result<Json<SavedView>, ApiError> {
    crate::routes::workflows::workflow_file(&app, &name)?;
    let expected = if_match(&headers)?;
    let message = if body.message.is_empty() { "saved" } else { &body.message };
    let s = versions::save(&app.store, app.workspace(), &name, &body.text, &caller.name, message, expected)
        .await
        .map_err(refused)?;
    Ok(Json(saved(s)))
}

/// The versions of a workflow, newest first.
#[utoipa::path(get, path = "/api/workflows/{name}/versions", tag = "workflows",
    params(("name" = String, Path, description = "the workflow's name", pattern = "^[A-Za-z0-9_-]{1,128}$")),
    responses((status = 200, body = Vec<VersionView>), (status = 400, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody)))]
pub async fn list(State(app): State<App>, Path(name): Path<String>) -> Result<Json<Value>, ApiError> {
    check_name(&name)?;
    let all = app.store.versions(&name).await.map_err(ApiError::internal)?;
    if all.is_empty() {
        crate::routes::workflows::workflow_file(&app, &name)?;
    }
    Ok(Json(serde_json::to_value(all).map_err(ApiError::internal)?))
}

/// Two versions compared: the text diff and the steps added, removed and changed.
#[utoipa::path(get, path = "/api/workflows/{name}/diff", tag = "workflows", params(("name" = String, Path, description = "the workflow's name", pattern = "^[A-Za-z0-9_-]{1,128}$"), DiffParams),
    responses((status = 200, body = DiffView), (status = 400, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
pub async fn diff(
    State(app): State<App>,
    Path(name): Path<String>,
    ApiQuery(p): ApiQuery<DiffParams>,
) -> Result<Json<DiffView>, ApiError> {
    check_name(&name)?;
    let text = |v: i64| {
        let app = app.clone();
        let name = name.clone();
        async move {
            app.store
                .version(&name, v)
                .await
                .map_err(ApiError::internal)?
                .and_then(|r| r.text)
                .ok_or_else(|| ApiError::not_found(format!("no version {v} of workflow {name}")))
        }
    };
    let (a, b) = (text(p.from).await?, text(p.to).await?);
    let d = versions::diff(&a, &b, &format!("{name} v{}", p.from), &format!("{name} v{}", p.to));
    Ok(Json(DiffView { text: d.text, added: d.added, removed: d.removed, changed: d.changed }))
}

/// Writes an old version's text as the newest version.
#[utoipa::path(post, path = "/api/workflows/{name}/rollback", tag = "workflows", request_body = RollbackBody,
    params(("name" = String, Path, description = "the workflow's name", pattern = "^[A-Za-z0-9_-]{1,128}$")),
    responses((status = 201, body = SavedView), (status = 400, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub async fn rollback(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    ApiJson(body): ApiJson<RollbackBody>,
) -> Result<(StatusCode, Json<SavedView>), ApiError> {
    check_name(&name)?;
    let s =
        versions::rollback(&app.store, app.workspace(), &name, body.version, &caller.name).await.map_err(refused)?;
    Ok((StatusCode::CREATED, Json(saved(s))))
}
