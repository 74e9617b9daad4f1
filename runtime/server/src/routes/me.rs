//! Who the token is: the editor shows only the controls its role may use (the API refuses the
//! others anyway).

use crate::auth::{Caller, Role};
use axum::{Extension, Json};
use serde::Serialize;

/// The caller: the token's name and role.
#[derive(Serialize, utoipa::ToSchema)]
pub struct MeView {
    pub name: String,
    pub role: Role,
}

/// The token's name and role.
#[utoipa::path(get, path = "/api/me", tag = "tokens", responses((status = 200, body = MeView)))]
pub async fn get(Extension(caller): Extension<Caller>) -> Json<MeView> {
    Json(MeView { name: caller.name, role: caller.role })
}
