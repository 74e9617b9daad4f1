//! `monstrum agent`: the daemon beside an existing agent. It starts the tools of its
//! configuration, connects out to `monstrum serve`'s `/agent` with its key, and serves them over
//! the link until it drops; then it connects again, with backoff (1 s doubling to 30 s), and the
//! server lists its tools again (at once after a link that was up, so a server's restart costs a
//! reconnect, not a backoff). A key the server refuses ends it: retrying cannot help.

use crate::config::Config;
use crate::local::{AgentServer, Tools};
use rmcp::ServiceExt;
use rmcp::handler::server::ServerHandler;
use std::sync::Arc;
use std::time::Duration;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

/// The longest wait between two attempts to connect.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// How a daemon runs.
pub struct Options {
    /// The server's base URL (`http://127.0.0.1:7410`); its `/agent` is where the link goes.
    pub server: String,
    /// The agent key (`monstrum agent-key create`).
    pub key: String,
    pub config: Config,
    /// Where its plugins' compiled components are kept between starts (none: compiled at each).
    pub cache_dir: Option<std::path::PathBuf>,
}

/// The WebSocket URL of `server`'s agent link.
fn link_url(server: &str) -> anyhow::Result<String> {
    let base = server.trim_end_matches('/');
    let ws = if let Some(rest) = base.strip_prefix("https://") {
        format!("wss://{rest}")
    } else if let Some(rest) = base.strip_prefix("http://") {
        format!("ws://{rest}")
    } else if base.starts_with("ws://") || base.starts_with("wss://") {
        base.to_string()
    } else {
        anyhow::bail!("`{server}` is not an http(s):// or ws(s):// URL");
    };
    Ok(format!("{ws}/agent"))
}

/// Runs the daemon until its key is refused (an error) or it is stopped.
pub async fn run(options: Options) -> anyhow::Result<()> {
    let tools = Arc::new(Tools::start(options.config, options.cache_dir).await?);
    serve_link(&options.server, &options.key, AgentServer { tools }).await
}

/// Offers `handler`'s tools over a link to `server` with `key`: links, serves until the link
/// closes, and links again, at once after a link that was up, else after a backoff (1 s doubling
/// to 30 s); returns an error when the server refuses the key.
pub async fn serve_link<H>(server: &str, key: &str, handler: H) -> anyhow::Result<()>
where
    H: ServerHandler + Clone,
{
    let url = link_url(server)?;
    let mut backoff = Duration::from_secs(1);
    loop {
        let mut request = url.as_str().into_client_request()?;
        let bearer = HeaderValue::from_str(&format!("Bearer {key}"))
            .map_err(|_| anyhow::anyhow!("the agent key is not a valid header value"))?;
        request.headers_mut().insert("authorization", bearer);
        match tokio_tungstenite::connect_async(request).await {
            Ok((socket, _)) => {
                backoff = Duration::from_secs(1);
                eprintln!("monstrum agent: linked to {url}");
                let up = std::time::Instant::now();
                match handler.clone().serve(crate::wire::transport::<rmcp::RoleServer, _, _, _, _>(socket)).await {
                    Ok(running) => {
                        let _ = running.waiting().await;
                        eprintln!("monstrum agent: the link to {url} closed; connecting again");
                        // A link that held is taken up again at once; one that closes as soon as
                        // it opens waits like a failed attempt (no busy loop).
                        if up.elapsed() >= Duration::from_secs(1) {
                            continue;
                        }
                    }
                    Err(e) => eprintln!("monstrum agent: the link to {url} failed: {e}"),
                }
            }
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) if response.status().as_u16() == 401 => {
                anyhow::bail!("{url} refused the agent key (unknown or revoked: see `monstrum agents`)");
            }
            Err(e) => eprintln!("monstrum agent: cannot reach {url}: {e}; again in {backoff:?}"),
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}
