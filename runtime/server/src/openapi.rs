//! The OpenAPI 3.1 document of `/api`, generated from the handlers' annotations (utoipa).

use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::schema::{Schema, SchemaType, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(title = "Monstrum", description = "The API of `monstrum serve`. Every route needs `Authorization: Bearer TOKEN` (`monstrum token create`); the role each needs is in docs/server.md."),
    paths(
        crate::routes::workflows::list, crate::routes::workflows::get, crate::routes::workflows::validate,
        crate::routes::versions::create, crate::routes::versions::save, crate::routes::versions::list,
        crate::routes::versions::diff, crate::routes::versions::rollback,
        crate::routes::layout::get, crate::routes::layout::put, crate::routes::me::get,
        crate::routes::runs::list, crate::routes::runs::get, crate::routes::runs::start, crate::routes::runs::resume, crate::routes::runs::cancel,
        crate::routes::events::run_events, crate::routes::events::all_events,
        crate::routes::approvals::pending, crate::routes::approvals::decide,
        crate::routes::catalog::bots, crate::routes::catalog::bot, crate::routes::catalog::tools, crate::routes::catalog::plugins, crate::routes::catalog::plugin,
        crate::routes::catalog::skills,
        crate::routes::records::audit, crate::routes::records::audit_verify,
        crate::routes::records::vault, crate::routes::records::vault_set,
        crate::routes::marketplace::list, crate::routes::marketplace::get, crate::routes::marketplace::publish,
        crate::routes::mcp::list, crate::routes::mcp::get, crate::routes::mcp::refresh, crate::routes::mcp::approve,
        crate::routes::agents::list,
    ),
    modifiers(&Bearer, &Refusals),
    security(("bearer" = [])),
    tags((name = "workflows"), (name = "runs"), (name = "approvals"), (name = "bots"), (name = "plugins"), (name = "skills"), (name = "audit"), (name = "vault"), (name = "marketplace"), (name = "mcp"), (name = "agents"), (name = "tokens")),
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

/// The answers every operation can give before its handler runs, written into each operation so
/// a client (and schemathesis) finds every status it can meet: 401 and 403 from the token and
/// role check; 400 for a parameter the handler refuses; for a body, 400 (not JSON or not
/// UTF-8), 413 (over the limit), and for a JSON body 415 (no JSON content type) and 422 (fields
/// not the schema's).
struct Refusals;

impl Refusals {
    fn add(op: &mut Operation, status: &str, description: &str) {
        let error = ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorBody"))).build();
        let answer = ResponseBuilder::new().description(description).content("application/json", error).build();
        op.responses.responses.entry(status.to_string()).or_insert(RefOr::T(answer));
    }
}

impl Modify for Refusals {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            for op in [&mut item.get, &mut item.put, &mut item.post, &mut item.delete].into_iter().flatten() {
                headers_are_never_null(op);
                Self::add(op, "401", "no token, or one that is unknown or revoked");
                Self::add(op, "403", "the token's role is below the route's");
                if op.parameters.as_ref().is_some_and(|p| !p.is_empty()) {
                    Self::add(op, "400", "a parameter the route does not take");
                }
                let Some(body) = &op.request_body else { continue };
                let json = body.content.contains_key("application/json");
                Self::add(op, "400", "a body that is not what the route takes");
                Self::add(op, "413", "a body over the limit");
                if json {
                    Self::add(op, "415", "a body without a JSON content type");
                    Self::add(op, "422", "a JSON body whose fields are not the route's");
                }
            }
        }
    }
}

/// utoipa writes an optional header's type as `[T, "null"]`; a header is absent or has a value,
/// never null (a client would send the text `null`). Its type is `T`, and it stays optional.
fn headers_are_never_null(op: &mut Operation) {
    for param in op.parameters.iter_mut().flatten().filter(|p| p.parameter_in == ParameterIn::Header) {
        if let Some(RefOr::T(Schema::Object(object))) = &mut param.schema
            && let SchemaType::Array(types) = &object.schema_type
            && let [one] = types.iter().filter(|t| **t != Type::Null).collect::<Vec<_>>()[..]
        {
            object.schema_type = SchemaType::Type(one.clone());
        }
    }
}

/// The document as served at `/api/openapi.json`.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}
