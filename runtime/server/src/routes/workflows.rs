//! Workflows: the files in `workflows/`, read and validated with the same checks as
//! `monstrum validate` (`monstrum_core::check`).

use crate::error::ApiError;
use crate::state::App;
use axum::Json;
use axum::extract::{Path, State};
use monstrum_model::Diagnostic;
use serde::Serialize;
use std::path::PathBuf;

/// A problem in a file, where it is.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DiagnosticView {
    /// Stable code (docs/errors.md).
    pub code: String,
    pub message: String,
    /// Path into the document, e.g. `steps[2].needs[0]`.
    pub path: String,
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub help: Option<String>,
}

impl From<&Diagnostic> for DiagnosticView {
    fn from(d: &Diagnostic) -> Self {
        DiagnosticView {
            code: d.code.to_string(),
            message: d.message.clone(),
            path: d.path_string(),
            line: d.location.map(|l| l.line),
            column: d.location.map(|l| l.column),
            help: d.help.clone(),
        }
    }
}

/// A workflow in the list.
#[derive(Serialize, utoipa::ToSchema)]
pub struct WorkflowSummary {
    /// Its name: the file's name without `.yaml`.
    pub name: String,
    /// Its file, relative to the workspace.
    pub file: String,
}

/// One workflow: its text and what the checks say of it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct WorkflowView {
    pub name: String,
    pub file: String,
    /// The saved version the file's text is (none if it was never saved or was edited by hand
    /// since): what a save sends as `If-Match`.
    pub version: Option<i64>,
    pub text: String,
    pub valid: bool,
    pub diagnostics: Vec<DiagnosticView>,
}

/// The answer of a validation.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Validation {
    pub valid: bool,
    pub diagnostics: Vec<DiagnosticView>,
}

/// A name that can only be a file directly in `workflows/` (no separators, no dots).
pub fn check_name(name: &str) -> Result<(), ApiError> {
    if monstrum_core::versions::valid_name(name) {
        Ok(())
    } else {
        Err(ApiError::invalid(format!("`{name}` is not a workflow name (letters, digits, - and _)")))
    }
}

/// The file of workflow `name`, if it exists.
pub fn workflow_file(app: &App, name: &str) -> Result<PathBuf, ApiError> {
    check_name(name)?;
    Some(monstrum_core::versions::file_of(app.workspace(), name))
        .filter(|p| p.is_file())
        .ok_or_else(|| ApiError::not_found(format!("no workflow {name} (workflows/{name}.yaml)")))
}

/// The workflows of the workspace, by name.
#[utoipa::path(get, path = "/api/workflows", tag = "workflows",
    responses((status = 200, body = Vec<WorkflowSummary>)))]
pub async fn list(State(app): State<App>) -> Result<Json<Vec<WorkflowSummary>>, ApiError> {
    let files = super::yaml_files(&app.workspace().root.join("workflows"));
    Ok(Json(
        files
            .into_iter()
            .filter(|(name, _)| check_name(name).is_ok())
            .map(|(name, file)| WorkflowSummary { name, file: format!("workflows/{file}") })
            .collect(),
    ))
}

/// One workflow's text and its diagnostics.
#[utoipa::path(get, path = "/api/workflows/{name}", tag = "workflows",
    params(("name" = String, Path, description = "the workflow's name", pattern = "^[A-Za-z0-9_-]{1,128}$")),
    responses((status = 200, body = WorkflowView), (status = 404, body = crate::error::ErrorBody)))]
pub async fn get(State(app): State<App>, Path(name): Path<String>) -> Result<Json<WorkflowView>, ApiError> {
    let file = workflow_file(&app, &name)?;
    let text = std::fs::read_to_string(&file)
        .map_err(|e| ApiError::internal(format!("cannot read {}: {e}", file.display())))?;
    let (_, problems) = monstrum_core::check::workflow(&text, &file, app.workspace());
    let relative = file.strip_prefix(&app.workspace().root).unwrap_or(&file).display().to_string();
    let version = monstrum_core::versions::version_of(&app.store, &file, &text).await.map_err(ApiError::internal)?;
    Ok(Json(WorkflowView {
        version,
        name,
        file: relative,
        valid: problems.is_empty(),
        diagnostics: problems.iter().map(DiagnosticView::from).collect(),
        text,
    }))
}

/// Checks a workflow's YAML (the request body) as `monstrum validate` does.
#[utoipa::path(post, path = "/api/workflows/validate", tag = "workflows",
    request_body(content = serde_json::Value, content_type = "application/yaml",
        description = "a workflow file's text: any YAML document (the answer says whether it is a workflow that validates)"),
    responses((status = 200, body = Validation), (status = 400, body = crate::error::ErrorBody)))]
pub async fn validate(State(app): State<App>, body: axum::body::Bytes) -> Result<Json<Validation>, ApiError> {
    let body = std::str::from_utf8(&body).map_err(|_| ApiError::invalid("the body is not UTF-8 text"))?;
    if body.trim().is_empty() {
        return Err(ApiError::invalid("the body is empty: send a workflow file's YAML"));
    }
    // Sub-workflow paths are relative to the workflow's folder: check as if in workflows/.
    let file = app.workspace().root.join("workflows").join("(request).yaml");
    let (_, problems) = monstrum_core::check::workflow(body, &file, app.workspace());
    Ok(Json(Validation {
        valid: problems.is_empty(),
        diagnostics: problems.iter().map(DiagnosticView::from).collect(),
    }))
}
