//! The marketplace index `monstrum serve` hosts (DESIGN.md, "Marketplace"): a folder index in
//! `.monstrum/marketplace/`, listed, downloaded and published through
//! [`monstrum_core::marketplace::Index`]. Publishing (admin) takes only a package that reads, is
//! what its path says, and carries a signature that verifies; whether anyone trusts its
//! publisher is each installing workspace's `trust:` to say. A version never changes.

use crate::auth::Caller;
use crate::error::ApiError;
use crate::state::App;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Extension, Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use monstrum_core::marketplace::index::{IndexEntry, Published};
use monstrum_core::marketplace::{Index, Kind, Package, Signature};
use serde::Serialize;

/// The largest package taken (a plugin's component and its texts).
pub const MAX_PACKAGE: usize = monstrum_core::plugin::package::MAX_PACKAGE_BYTES as usize;

/// A package in the index.
#[derive(Serialize, utoipa::ToSchema)]
pub struct MarketplaceEntry {
    /// `skill` or `plugin`.
    pub kind: String,
    pub name: String,
    pub version: String,
    /// SHA-256 of the package file, hex.
    pub sha256: String,
    /// The package file's size in bytes.
    pub size: u64,
    /// Who signed it (checked to verify; whether to trust them is the installer's `trust:`).
    pub publisher: Option<String>,
    pub description: Option<String>,
}

impl From<IndexEntry> for MarketplaceEntry {
    fn from(e: IndexEntry) -> Self {
        MarketplaceEntry {
            kind: e.kind.as_str().into(),
            name: e.name,
            version: e.version,
            sha256: e.sha256,
            size: e.size,
            publisher: e.publisher,
            description: e.description,
        }
    }
}

/// The folder the server keeps its index in.
fn index_dir(app: &App) -> std::path::PathBuf {
    app.workspace().data_dir().join("marketplace")
}

fn kind(text: &str) -> Result<Kind, ApiError> {
    Kind::parse(text).ok_or_else(|| ApiError::not_found(format!("no package kind `{text}` (skill or plugin)")))
}

/// Every package of the index, by kind, name and version.
#[utoipa::path(get, path = "/api/marketplace", tag = "marketplace",
    responses((status = 200, body = Vec<MarketplaceEntry>)))]
pub async fn list(State(app): State<App>) -> Result<Json<Vec<MarketplaceEntry>>, ApiError> {
    let dir = index_dir(&app);
    tokio::fs::create_dir_all(&dir).await.map_err(ApiError::internal)?;
    let entries = Index::Folder(dir).list(None).await.map_err(ApiError::internal)?;
    Ok(Json(entries.into_iter().map(MarketplaceEntry::from).collect()))
}

/// A package file, as published (`application/octet-stream`).
#[utoipa::path(get, path = "/api/marketplace/{kind}/{name}/{version}", tag = "marketplace",
    params(("kind" = String, Path, description = "skill or plugin"), ("name" = String, Path),
           ("version" = String, Path, description = "a semantic version, 1.2.0")),
    responses((status = 200, description = "the package", content_type = "application/octet-stream", body = String),
              (status = 404, body = crate::error::ErrorBody)))]
pub async fn get(
    State(app): State<App>,
    Path((kind_text, name, version)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    let kind = kind(&kind_text)?;
    let missing = || ApiError::not_found(format!("the index has no {kind_text} {name}@{version}"));
    let file = monstrum_core::marketplace::index::package_file(&index_dir(&app), kind, &name, &version)
        .map_err(|_| missing())?;
    let bytes = tokio::fs::read(&file).await.map_err(|_| missing())?;
    Ok(([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response())
}

/// Publishes a signed package (admin). 201 when new, 200 when the index holds these very bytes;
/// 409 when it holds this version with other content.
#[utoipa::path(put, path = "/api/marketplace/{kind}/{name}/{version}", tag = "marketplace",
    params(("kind" = String, Path, description = "skill or plugin"), ("name" = String, Path),
           ("version" = String, Path, description = "a semantic version, 1.2.0")),
    request_body(content = String, content_type = "application/octet-stream", description = "the package file"),
    responses((status = 201, body = MarketplaceEntry, description = "published"),
              (status = 200, body = MarketplaceEntry, description = "already published with these bytes"),
              (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
pub async fn publish(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    Path((kind_text, name, version)): Path<(String, String, String)>,
    body: Bytes,
) -> Result<(StatusCode, Json<MarketplaceEntry>), ApiError> {
    let kind = kind(&kind_text)?;
    // Reading a plugin validates its WebAssembly component: once, and not on the async threads.
    let read = body.clone();
    let (signed, publisher, entry) = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
        let package = Package::from_bytes(kind, &read)?;
        let signed = package.signed()?;
        let text = signed.signature.clone().ok_or_else(|| {
            anyhow::anyhow!(
                "the package is not signed: publish it with --key NAME (a served index takes signed packages only)"
            )
        })?;
        let signature =
            Signature::check(&signed, &text).map_err(|e| anyhow::anyhow!("the signature does not verify: {e}"))?;
        let entry = IndexEntry::of(&package, &signed, &read);
        Ok((signed, signature.publisher, entry))
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(|e| ApiError::invalid(format!("{e:#}")))?;
    if signed.name != name || signed.version.to_string() != version {
        return Err(ApiError::invalid(format!(
            "the package is {} {}@{}, not {kind_text} {name}@{version}",
            kind_text, signed.name, signed.version
        )));
    }
    let outcome = Index::Folder(index_dir(&app)).publish(&entry, &body).await.map_err(|e| e.to_string());
    let trail = monstrum_core::audit::Trail::in_store(app.store.clone());
    monstrum_core::marketplace::install::audit_publish(&trail, &signed, &publisher, &caller.name, outcome.clone())
        .await
        .map_err(ApiError::internal)?;
    let published =
        outcome.map_err(|e| if e.contains("never changes") { ApiError::conflict(e) } else { ApiError::internal(e) })?;
    let status = if published == Published::Created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(entry.into())))
}
