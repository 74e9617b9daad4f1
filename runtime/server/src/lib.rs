//! `monstrum serve`: a workspace as an HTTP server. The JSON API under `/api` (every route
//! behind a token and its role), live events as server-sent events, `/health`, the OpenAPI
//! document at `/api/openapi.json`, the visual editor at `/` (`ui/`, embedded), and `/mcp`, a
//! bot's tools over MCP for a token bound to that bot, and `/agent`, where agents' daemons link
//! in with their keys (monstrum-agent), and `/hooks/{channel}`, the channel gateway
//! (monstrum-gateway). Runs started here are driven here, durably: a restarted
//! server resumes the runs a killed one left. Tool calls reach the gate only through the core's
//! engine; this crate holds no gate, store writer or plugin host of its own.

pub mod auth;
mod driver;
pub mod error;
pub mod hub;
pub mod openapi;
mod persist;
mod reload;
pub mod routes;
pub mod state;
mod ui;

use axum::Router;
use axum::http::{HeaderName, HeaderValue, header};
use axum::routing::get;
use state::App;
use std::net::SocketAddr;
use std::time::Duration;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;

/// The largest request body taken (a workflow file, a decision, a secret).
pub const MAX_BODY: usize = 1 << 20;

/// How `monstrum serve` runs.
pub struct Options {
    pub addr: SocketAddr,
    /// Serve on a non-loopback address (must be asked for).
    pub allow_remote: bool,
    /// How often expired approval gates are swept.
    pub sweep_every: Duration,
    /// How often bot and skill files are looked at for edits.
    pub reload_every: Duration,
}

/// The whole application: `/health`, `/api/openapi.json` and the API, with the safe defaults
/// (body limit, timeout, security headers, no CORS).
pub fn router(app: App) -> Router {
    let security = [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::CACHE_CONTROL, "no-store"),
        (header::CONTENT_SECURITY_POLICY, "default-src 'none'; frame-ancestors 'none'"),
    ];
    let packages = routes::packages(app.clone())
        .layer(RequestBodyLimitLayer::new(routes::marketplace::MAX_PACKAGE))
        .layer(axum::extract::DefaultBodyLimit::max(routes::marketplace::MAX_PACKAGE));
    let mut router = Router::new()
        .route("/", get(ui::index))
        .route("/ui/{file}", get(ui::asset))
        .route("/health", get(|| async { axum::Json(serde_json::json!({ "status": "ok" })) }))
        .route("/api/openapi.json", get(|| async { axum::Json(openapi::document()) }))
        .merge(routes::api(app.clone()))
        .merge(mcp(&app))
        .route_service("/agent", app.agents.router())
        .layer(RequestBodyLimitLayer::new(MAX_BODY))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
        .merge(packages)
        .fallback(error::no_route)
        .with_state(app.clone())
        .merge(app.gateway.router().layer(RequestBodyLimitLayer::new(MAX_BODY)))
        .layer(TimeoutLayer::with_status_code(axum::http::StatusCode::REQUEST_TIMEOUT, Duration::from_secs(30)));
    for (name, value) in security {
        router = router
            .layer(SetResponseHeaderLayer::if_not_present(HeaderName::from(name), HeaderValue::from_static(value)));
    }
    router
}

/// `/mcp`: the tools of the bot a request's token is bound to, over MCP's Streamable HTTP
/// (`monstrum_mcp::BotServer`, whose every call is a `Gate::call` under that bot).
fn mcp(app: &App) -> Router<App> {
    Router::new()
        .route_service("/mcp", monstrum_mcp::BotServer::http(app.engine.clone()))
        .route_layer(axum::middleware::from_fn_with_state(app.clone(), auth::authorize_mcp))
}

/// Serves `app` until SIGINT or SIGTERM: resumes the runs a killed server left, sweeps expired
/// gates, and says where it listens on stderr.
pub async fn serve(app: App, options: Options) -> anyhow::Result<()> {
    if !options.addr.ip().is_loopback() && !options.allow_remote {
        anyhow::bail!(
            "{} is not a loopback address: the API (runs, approvals, the audit trail, vault names) would be reachable from the network. Put a TLS proxy in front and pass --allow-remote to do so",
            options.addr
        );
    }
    let listener = tokio::net::TcpListener::bind(options.addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", options.addr))?;
    let resumed = app.driver.resume_interrupted().await?;
    let sweeper = app.driver.sweep_expired(options.sweep_every);
    let reloader = reload::watch(app.clone(), options.reload_every);
    let revoker = app.agents.sweep_revoked(options.reload_every);
    eprintln!(
        "monstrum serve: listening on http://{} (workspace {}); resumed {resumed} interrupted run(s)",
        listener.local_addr()?,
        app.workspace().root.display()
    );
    // Open event streams would hold a graceful shutdown forever: they get five seconds.
    let (stopping, mut stopped) = tokio::sync::watch::channel(false);
    let server = axum::serve(listener, router(app)).with_graceful_shutdown(async move {
        shutdown().await;
        stopping.send_replace(true);
    });
    let deadline = async move {
        let _ = stopped.wait_for(|s| *s).await;
        tokio::time::sleep(Duration::from_secs(5)).await;
    };
    tokio::select! {
        done = server => done?,
        () = deadline => {}
    }
    sweeper.abort();
    reloader.abort();
    revoker.abort();
    Ok(())
}

async fn shutdown() {
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
}
