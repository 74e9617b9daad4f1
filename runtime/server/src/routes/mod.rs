//! The routes of `/api`, one module per resource; [`api`] puts them together behind the token
//! and role check (`auth::authorize`, whose table says which role each route needs).

pub mod agents;
pub mod approvals;
pub mod catalog;
pub mod events;
pub mod layout;
pub mod marketplace;
pub mod mcp;
pub mod me;
pub mod records;
pub mod runs;
pub mod versions;
pub mod workflows;

use crate::state::App;
use axum::Router;
use axum::routing::{get, post, put};

/// The `.yaml` and `.yml` files directly in `dir` (none if it does not exist), as (name without
/// the extension, file name), by name.
fn yaml_files(dir: &std::path::Path) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .filter_map(|p| Some((p.file_stem()?.to_str()?.to_string(), p.file_name()?.to_str()?.to_string())))
        .collect();
    out.sort();
    out
}

/// Every `/api` route. The role table in `auth::required_role` covers each of them (a test walks
/// the OpenAPI document with every role).
pub fn api(app: App) -> Router<App> {
    Router::new()
        .route("/api/workflows", get(workflows::list).post(versions::create))
        .route("/api/workflows/validate", post(workflows::validate))
        .route("/api/workflows/{name}", get(workflows::get).put(versions::save))
        .route("/api/workflows/{name}/versions", get(versions::list))
        .route("/api/workflows/{name}/diff", get(versions::diff))
        .route("/api/workflows/{name}/rollback", post(versions::rollback))
        .route("/api/workflows/{name}/layout", get(layout::get).put(layout::put))
        .route("/api/me", get(me::get))
        .route("/api/runs", get(runs::list).post(runs::start))
        .route("/api/runs/{id}", get(runs::get))
        .route("/api/runs/{id}/resume", post(runs::resume))
        .route("/api/runs/{id}/cancel", post(runs::cancel))
        .route("/api/runs/{id}/events", get(events::run_events))
        .route("/api/runs/{id}/approvals/{step}", post(approvals::decide))
        .route("/api/events", get(events::all_events))
        .route("/api/approvals", get(approvals::pending))
        .route("/api/bots", get(catalog::bots))
        .route("/api/bots/{name}", get(catalog::bot))
        .route("/api/tools", get(catalog::tools))
        .route("/api/plugins", get(catalog::plugins))
        .route("/api/plugins/{name}", get(catalog::plugin))
        .route("/api/skills", get(catalog::skills))
        .route("/api/audit", get(records::audit))
        .route("/api/audit/verify", get(records::audit_verify))
        .route("/api/vault", get(records::vault))
        .route("/api/vault/{name}", put(records::vault_set))
        .route("/api/marketplace", get(marketplace::list))
        .route("/api/agents", get(agents::list))
        .route("/api/mcp", get(mcp::list))
        .route("/api/mcp/{name}", get(mcp::get))
        .route("/api/mcp/{name}/refresh", post(mcp::refresh))
        .route("/api/mcp/{name}/tools/{tool}/approve", post(mcp::approve))
        .route_layer(axum::middleware::from_fn_with_state(app, crate::auth::authorize))
}

/// The routes of package files, whose bodies may be as large as a plugin package: outside the
/// API's 1 MiB body limit, behind the same token and role check.
pub fn packages(app: App) -> Router<App> {
    Router::new()
        .route("/api/marketplace/{kind}/{name}/{version}", get(marketplace::get).put(marketplace::publish))
        .route_layer(axum::middleware::from_fn_with_state(app, crate::auth::authorize))
}
