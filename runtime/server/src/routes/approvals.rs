//! Approval gates: the pending list, and a decision by the caller (the token's name is who
//! decided; the engine refuses a self-approval the gate forbids, as for the command line).

use crate::auth::Caller;
use crate::error::{ApiError, ApiJson};
use crate::state::App;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use monstrum_core::workflow::DecideError;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A decision on a gate.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionBody {
    /// true approves, false rejects.
    pub approve: bool,
    pub comment: Option<String>,
}

/// A decision taken.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Decided {
    pub run: String,
    pub step: String,
    /// approved | rejected
    pub decision: String,
    pub by: String,
}

/// A gate waiting for a decision.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(value_type = Object)]
pub struct ApprovalView(pub Value);

/// Every gate that waits for a decision, oldest first.
#[utoipa::path(get, path = "/api/approvals", tag = "approvals",
    responses((status = 200, body = Vec<ApprovalView>)))]
pub async fn pending(State(app): State<App>) -> Result<Json<Value>, ApiError> {
    let gates = app.store.pending_approvals().await.map_err(ApiError::internal)?;
    Ok(Json(serde_json::to_value(gates).map_err(ApiError::internal)?))
}

/// Approves or rejects a waiting gate; the server then continues the run.
#[utoipa::path(post, path = "/api/runs/{id}/approvals/{step}", tag = "approvals", request_body = DecisionBody,
    params(("id" = String, Path, description = "the run's id"), ("step" = String, Path, description = "the approval step's id")),
    responses((status = 200, body = Decided), (status = 403, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
pub async fn decide(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    Path((id, step)): Path<(String, String)>,
    ApiJson(body): ApiJson<DecisionBody>,
) -> Result<Json<Decided>, ApiError> {
    let decided = app.engine.decide(&id, &step, body.approve, &caller.name, body.comment.as_deref(), None).await;
    let run = match decided {
        Ok(run) => run,
        Err(DecideError::Expired) => {
            // The gate counts as rejected; the run goes on with that.
            if let Ok(Some(run)) = app.store.load_run(&id).await {
                app.driver.resume(&run.id, None);
            }
            return Err(ApiError::conflict(DecideError::Expired.to_string()));
        }
        Err(e @ (DecideError::NoRun(_) | DecideError::NotWaiting { .. })) => {
            return Err(ApiError::not_found(e.to_string()));
        }
        Err(e @ (DecideError::NotAnApprover { .. } | DecideError::SelfApproval(_))) => {
            return Err(ApiError::forbidden(e.to_string()));
        }
        Err(e @ DecideError::AlreadyDecided { .. }) => return Err(ApiError::conflict(e.to_string())),
        Err(e @ DecideError::OutputWithRejection) => return Err(ApiError::invalid(e.to_string())),
        Err(e @ (DecideError::Audit(_) | DecideError::Store(_))) => {
            return Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", e.to_string()));
        }
    };
    app.driver.resume(&run, None);
    Ok(Json(Decided {
        run,
        step,
        decision: if body.approve { "approved" } else { "rejected" }.into(),
        by: caller.name,
    }))
}
