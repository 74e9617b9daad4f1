//! The audit trail (read and verified) and the vault (names only; values are written, never
//! read back).

use crate::error::{ApiError, ApiJson, ApiQuery};
use crate::state::App;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use monstrum_core::store::AuditFilter;
use monstrum_core::vault::{Vault, VaultError};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Which audit records to list.
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    pub bot: Option<String>,
    pub run: Option<String>,
    pub tool: Option<String>,
    /// allowed, denied, used, succeeded, failed, approved, rejected
    pub decision: Option<String>,
    /// tool_call, tool_result, model_request, delegation, approval
    pub kind: Option<String>,
    /// Only the newest N (1–10000, default 1000).
    #[param(minimum = 1, maximum = 10000)]
    pub limit: Option<i64>,
    /// The next page back: records older than this `seq` (the first record's of a page).
    #[param(minimum = 1)]
    pub cursor: Option<i64>,
}

/// An audit record: what was called, by whom, the gate's decision and why, the arguments
/// redacted, and the hash chain.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(value_type = Object)]
pub struct AuditView(pub Value);

/// The chain checked.
#[derive(Serialize, utoipa::ToSchema)]
pub struct AuditVerify {
    pub records: usize,
    pub intact: bool,
    #[schema(value_type = Vec<Object>)]
    pub problems: Value,
}

/// A vault entry: its name and when it was last set; never its value.
#[derive(Serialize, utoipa::ToSchema)]
pub struct VaultEntry {
    pub name: String,
    pub updated_at: i64,
}

/// A value to store.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VaultValue {
    /// The secret (up to 64 KiB).
    #[schema(min_length = 1)]
    pub value: String,
}

/// Audit records, oldest first.
#[utoipa::path(get, path = "/api/audit", tag = "audit", params(AuditParams),
    responses((status = 200, body = Vec<AuditView>), (status = 400, body = crate::error::ErrorBody)))]
pub async fn audit(State(app): State<App>, ApiQuery(p): ApiQuery<AuditParams>) -> Result<Json<Value>, ApiError> {
    let limit = p.limit.unwrap_or(1000);
    if !(1..=10_000).contains(&limit) {
        return Err(ApiError::invalid("limit is 1 to 10000"));
    }
    if p.cursor.is_some_and(|c| c < 1) {
        return Err(ApiError::invalid("cursor is the seq of a record (1 or more)"));
    }
    let filter = AuditFilter {
        bot: p.bot,
        run: p.run,
        tool: p.tool,
        decision: p.decision,
        kind: p.kind,
        limit: Some(limit),
        before: p.cursor,
        after: None,
    };
    let records = app.store.audit_records(&filter).await.map_err(ApiError::internal)?;
    Ok(Json(serde_json::to_value(records).map_err(ApiError::internal)?))
}

/// Checks the whole hash chain.
#[utoipa::path(get, path = "/api/audit/verify", tag = "audit", responses((status = 200, body = AuditVerify)))]
pub async fn audit_verify(State(app): State<App>) -> Result<Json<AuditVerify>, ApiError> {
    let records = app.store.audit_records(&AuditFilter::default()).await.map_err(ApiError::internal)?;
    let problems = monstrum_core::audit::verify(&records);
    Ok(Json(AuditVerify {
        records: records.len(),
        intact: problems.is_empty(),
        problems: serde_json::to_value(problems).map_err(ApiError::internal)?,
    }))
}

/// The vault's entry names.
#[utoipa::path(get, path = "/api/vault", tag = "vault", responses((status = 200, body = Vec<VaultEntry>)))]
pub async fn vault(State(app): State<App>) -> Result<Json<Vec<VaultEntry>>, ApiError> {
    let names = app.store.vault_names().await.map_err(ApiError::internal)?;
    Ok(Json(names.into_iter().map(|(name, updated_at)| VaultEntry { name, updated_at }).collect()))
}

/// Stores a secret (encrypted); it is never returned by any route.
#[utoipa::path(put, path = "/api/vault/{name}", tag = "vault", request_body = VaultValue,
    params(("name" = String, Path, description = "the entry's name", pattern = "^[a-z0-9][a-z0-9._-]{0,127}$")),
    responses((status = 204, description = "stored"), (status = 400, body = crate::error::ErrorBody),
              (status = 409, body = crate::error::ErrorBody)))]
pub async fn vault_set(
    State(app): State<App>,
    Path(name): Path<String>,
    ApiJson(body): ApiJson<VaultValue>,
) -> Result<StatusCode, ApiError> {
    let vault = Vault::open(&app.workspace().data_dir(), app.store.clone()).map_err(ApiError::internal)?;
    match vault.set(&name, body.value.as_bytes()).await {
        Ok(()) => Ok(StatusCode::NO_CONTENT),
        Err(e @ (VaultError::InvalidName(_) | VaultError::Empty(_) | VaultError::TooLarge(_))) => {
            Err(ApiError::invalid(e.to_string()))
        }
        Err(e @ VaultError::OtherKeys { .. }) => Err(ApiError::conflict(e.to_string())),
        Err(e) => Err(ApiError::internal(e)),
    }
}
