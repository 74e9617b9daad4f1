//! The OpenAPI 3.1 document of `/api`, generated from the handlers' annotations (utoipa).

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(title = "Monstrum", description = "The API of `monstrum serve`. Every route needs `Authorization: Bearer TOKEN` (`monstrum token create`); the role each needs is in docs/server.md."),
    paths(
        crate::routes::workflows::list, crate::routes::workflows::get, crate::routes::workflows::validate,
        crate::routes::versions::create, crate::routes::versions::save, crate::routes::versions::list,
        crate::routes::versions::diff, crate::routes::versions::rollback,
        crate::routes::runs::list, crate::routes::runs::get, crate::routes::runs::start, crate::routes::runs::resume, crate::routes::runs::cancel,
        crate::routes::events::run_events, crate::routes::events::all_events,
        crate::routes::approvals::pending, crate::routes::approvals::decide,
        crate::routes::catalog::bots, crate::routes::catalog::bot, crate::routes::catalog::plugins, crate::routes::catalog::plugin,
        crate::routes::records::audit, crate::routes::records::audit_verify,
        crate::routes::records::vault, crate::routes::records::vault_set,
    ),
    modifiers(&Bearer),
    security(("bearer" = [])),
    tags((name = "workflows"), (name = "runs"), (name = "approvals"), (name = "bots"), (name = "plugins"), (name = "audit"), (name = "vault")),
)]
pub struct ApiDoc;

struct Bearer;

impl Modify for Bearer {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The document as served at `/api/openapi.json`.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}
