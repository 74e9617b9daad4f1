//! The editor's node positions of a workflow, kept beside it (`workflows/NAME.layout.json`,
//! `monstrum_core::versions::layout_file`) rather than in its YAML: the file stays the user's.

use crate::error::{ApiError, ApiJson};
use crate::routes::workflows::workflow_file;
use crate::state::App;
use axum::Json;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};

/// Where a step's node sits on the canvas.
#[derive(Clone, Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Position {
    #[schema(min_length = 1, max_length = 128)]
    pub step: String,
    #[schema(minimum = -1000000, maximum = 1000000)]
    pub x: f64,
    #[schema(minimum = -1000000, maximum = 1000000)]
    pub y: f64,
}

/// The positions of a workflow's nodes (a step without one is laid out).
#[derive(Debug, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LayoutView {
    #[schema(max_items = 10000)]
    pub positions: Vec<Position>,
}

const MAX_NODES: usize = 10_000;
const FAR: f64 = 1_000_000.0;

/// A workflow's node positions (none if the editor never placed one).
#[utoipa::path(get, path = "/api/workflows/{name}/layout", tag = "workflows",
    params(("name" = String, Path, description = "the workflow's name", pattern = "^[A-Za-z0-9_-]{1,128}$")),
    responses((status = 200, body = LayoutView), (status = 404, body = crate::error::ErrorBody)))]
pub async fn get(State(app): State<App>, Path(name): Path<String>) -> Result<Json<LayoutView>, ApiError> {
    workflow_file(&app, &name)?;
    let file = monstrum_core::versions::layout_file(app.workspace(), &name);
    let Ok(text) = std::fs::read_to_string(&file) else { return Ok(Json(LayoutView::default())) };
    // A file edited by hand into something else is no layout: the editor lays the nodes out.
    Ok(Json(serde_json::from_str(&text).unwrap_or_default()))
}

/// Keeps a workflow's node positions (they are not part of the workflow's versions).
#[utoipa::path(put, path = "/api/workflows/{name}/layout", tag = "workflows", request_body = LayoutView,
    params(("name" = String, Path, description = "the workflow's name", pattern = "^[A-Za-z0-9_-]{1,128}$")),
    responses((status = 200, body = LayoutView), (status = 400, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody)))]
pub async fn put(
    State(app): State<App>,
    Path(name): Path<String>,
    ApiJson(layout): ApiJson<LayoutView>,
) -> Result<Json<LayoutView>, ApiError> {
    workflow_file(&app, &name)?;
    if layout.positions.len() > MAX_NODES {
        return Err(ApiError::invalid(format!("a layout holds at most {MAX_NODES} positions")));
    }
    for p in &layout.positions {
        if p.step.is_empty() || p.step.chars().count() > 128 {
            return Err(ApiError::invalid("a step id in a layout has 1 to 128 characters"));
        }
        if !(p.x.is_finite() && p.y.is_finite() && p.x.abs() <= FAR && p.y.abs() <= FAR) {
            return Err(ApiError::invalid(format!("the position of `{}` is off the canvas", p.step)));
        }
    }
    let json = serde_json::to_string_pretty(&layout).map_err(ApiError::internal)?;
    monstrum_core::versions::write_layout(app.workspace(), &name, &json).map_err(ApiError::internal)?;
    Ok(Json(layout))
}
