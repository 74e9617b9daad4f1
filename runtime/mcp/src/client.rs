//! The MCP client: one Streamable HTTP connection per registered server (rmcp), and
//! [`McpClient`], the gate's executor for `mcp:` bindings. Calls reach it only after the gate
//! allowed them; it adds the server's credentials (from the vault), bounds the time and the size
//! of every answer, and refuses a tool whose description changed since it was approved.

use crate::auth;
use monstrum_core::governance::quarantine::{self, Refresh};
use monstrum_core::governance::{BoundTool, Executor, Principal};
use monstrum_core::store::{McpServerRecord, McpTool, Store};
use monstrum_core::vault::Vault;
use monstrum_core::workflow::Engine;
use monstrum_model::AGENT_PREFIX;
use rmcp::model::{CallToolRequestParams, ClientCapabilities, ClientInfo, Implementation};
use rmcp::service::{NotificationContext, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::{StreamableHttpClient, StreamableHttpClientTransportConfig};
use rmcp::{ClientCacheConfig, RoleClient, ServiceExt};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;

/// How long connecting (the `initialize` exchange) may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a tool call or a tool listing may take.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(60);
/// The largest tool result accepted, as JSON; a larger one is an error, never truncated.
pub const MAX_RESULT_BYTES: usize = 1 << 20;

/// Why talking to an MCP server failed. Never holds a credential: header values stay in the
/// transport.
#[derive(Debug, thiserror::Error)]
pub enum McpError {
    #[error("MCP server `{server}` at {url}: {reason}")]
    Unreachable { server: String, url: String, reason: String },
    #[error("MCP server `{server}`: {reason}")]
    Protocol { server: String, reason: String },
    #[error("MCP server `{server}`: the vault entry `{entry}` for {what}: {reason}")]
    Credential { server: String, what: String, entry: String, reason: String },
    /// The server answered 401 to the connection's first request.
    #[error("MCP server `{server}` at {url}: {AUTH_REQUIRED}")]
    AuthRequired { server: String, url: String },
}

/// What a 401 means to a person.
const AUTH_REQUIRED: &str = "the server requires authorization (HTTP 401): if you signed in to it, sign in again \
                             (`monstrum mcp login NAME`); else check the credentials it was registered with";

/// The client's side of the session: what it says it is, and what it does when the server says
/// its tool list changed (with a store: list again and quarantine the drift at once).
#[derive(Clone, Default)]
struct Handler {
    watch: Option<Watch>,
}

/// What a list change updates: the stored tools, and which may be called now.
#[derive(Clone)]
struct Watch {
    store: Store,
    server: McpServerRecord,
    approved: Arc<std::sync::Mutex<Vec<String>>>,
}

impl rmcp::ClientHandler for Handler {
    fn get_info(&self) -> ClientInfo {
        ClientInfo::new(ClientCapabilities::default(), Implementation::new("monstrum", env!("CARGO_PKG_VERSION")))
    }

    async fn on_tool_list_changed(&self, context: NotificationContext<RoleClient>) {
        let Some(watch) = &self.watch else { return };
        // Until the new list is stored, nothing of this server may be called.
        if let Ok(mut approved) = watch.approved.lock() {
            approved.clear();
        }
        let listed = match tokio::time::timeout(CALL_TIMEOUT, context.peer.list_all_tools()).await {
            Ok(Ok(tools)) => tools.into_iter().map(to_mcp_tool).collect(),
            Ok(Err(e)) => return tracing::warn!(server = %watch.server.name, "cannot list tools after a change: {e}"),
            Err(_) => return tracing::warn!(server = %watch.server.name, "no tool list after a change"),
        };
        match quarantine::record(&watch.store, &watch.server, listed).await {
            Ok(refresh) => {
                if let Ok(mut approved) = watch.approved.lock() {
                    *approved = refresh.approved;
                }
            }
            Err(e) => tracing::warn!(server = %watch.server.name, "cannot store the changed tool list: {e:#}"),
        }
    }
}

fn to_mcp_tool(t: rmcp::model::Tool) -> McpTool {
    McpTool {
        name: t.name.to_string(),
        description: t.description.as_deref().unwrap_or_default().to_string(),
        input_schema: Value::Object((*t.input_schema).clone()),
        annotations: t.annotations.as_ref().map_or(Value::Null, |a| serde_json::to_value(a).unwrap_or_default()),
    }
}

/// A live connection to one server.
pub struct Connection {
    server: String,
    service: RunningService<RoleClient, Handler>,
}

/// The secrets a connection to one server needs, read from the vault: header values by header
/// name, and the OAuth client secret (or private key) when the server has `auth`.
pub struct Secrets {
    pub headers: BTreeMap<String, String>,
    pub oauth: Option<String>,
    /// Where a sign-in's refreshed tokens are kept.
    pub vault: Vault,
}

impl Connection {
    /// Connects to `server` with `secrets`.
    pub async fn open(server: &McpServerRecord, secrets: Secrets) -> Result<Connection, McpError> {
        Connection::open_with(server, secrets, Handler::default()).await
    }

    async fn open_with(server: &McpServerRecord, secrets: Secrets, handler: Handler) -> Result<Connection, McpError> {
        let unreachable = |reason: String| {
            let (server, url) = (server.name.clone(), server.url.clone());
            if reason == AUTH_REQUIRED {
                McpError::AuthRequired { server, url }
            } else {
                McpError::Unreachable { server, url, reason }
            }
        };
        let mut config = StreamableHttpClientTransportConfig::with_uri(server.url.clone());
        let mut custom = HashMap::new();
        for (name, value) in secrets.headers {
            if name.eq_ignore_ascii_case("authorization") {
                // rmcp sends `Authorization: Bearer <token>` itself and refuses it as a custom header.
                let token = value.strip_prefix("Bearer ").unwrap_or(&value).to_string();
                config = config.auth_header(token);
                continue;
            }
            let header = reqwest::header::HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| unreachable(format!("`{name}` is not an HTTP header name")))?;
            let value = reqwest::header::HeaderValue::from_str(&value)
                .map_err(|_| unreachable(format!("the value of header {name} is not a valid header value")))?;
            custom.insert(header, value);
        }
        let config = config.custom_headers(custom);
        // As rmcp's default client (no idle pool, no redirects: a redirect could carry the
        // credentials elsewhere), with a connect timeout. No overall timeout: it would cut the
        // server's event stream; each request is bounded below instead.
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(CONNECT_TIMEOUT)
            .build()
            .map_err(|e| unreachable(e.to_string()))?;
        let service = match (&server.auth, secrets.oauth) {
            (Some(auth), Some(secret)) => {
                let client =
                    auth::authorized(&server.url, auth, secret, http, &secrets.vault).await.map_err(unreachable)?;
                initialize(handler, StreamableHttpClientTransport::with_client(client, config)).await
            }
            _ => initialize(handler, StreamableHttpClientTransport::with_client(http, config)).await,
        }
        .map_err(unreachable)?;
        // A list that cannot be fetched is an error, never an earlier list served as new.
        service.set_response_cache_config(ClientCacheConfig::disabled()).await;
        Ok(Connection { server: server.name.clone(), service })
    }

    /// Speaks MCP as the client over `transport` (an agent's socket: the agent link), watching
    /// for list changes as a connection to a registered server does; the connection and the
    /// tools that may be called through it (kept up to date on a list change). The tools are
    /// listed and stored against what was approved: all approved on the server's first
    /// registration (`first`), drift quarantined after.
    pub async fn over<T, E, A>(
        store: &Store,
        server: &McpServerRecord,
        first: bool,
        transport: T,
    ) -> Result<(Adopted, Refresh), McpError>
    where
        T: rmcp::transport::IntoTransport<RoleClient, E, A>,
        E: std::error::Error + Send + Sync + 'static,
    {
        let protocol = |reason: String| McpError::Protocol { server: server.name.clone(), reason };
        let approved = Arc::new(std::sync::Mutex::new(Vec::new()));
        let watch = Watch { store: store.clone(), server: server.clone(), approved: approved.clone() };
        let service = tokio::time::timeout(CONNECT_TIMEOUT, Handler { watch: Some(watch) }.serve(transport))
            .await
            .map_err(|_| protocol(format!("no answer to `initialize` within {CONNECT_TIMEOUT:?}")))?
            .map_err(|e| protocol(plain(e)))?;
        service.set_response_cache_config(ClientCacheConfig::disabled()).await;
        let connection = Arc::new(Connection { server: server.name.clone(), service });
        let listed = connection.tools().await?;
        let stored = if first {
            quarantine::register(store, server, listed).await
        } else {
            quarantine::record(store, server, listed).await
        };
        let refresh = stored.map_err(|e| protocol(format!("{e:#}")))?;
        if let Ok(mut now) = approved.lock() {
            now.clone_from(&refresh.approved);
        }
        Ok((Adopted(Live { connection, approved }), refresh))
    }

    /// Whether the other side has gone (or the connection was closed).
    pub fn is_closed(&self) -> bool {
        self.service.is_closed() || self.service.peer().is_transport_closed()
    }

    /// Closes the connection.
    pub fn close(&self) {
        self.service.cancellation_token().cancel();
    }

    /// Every tool the server lists now (all pages).
    pub async fn tools(&self) -> Result<Vec<McpTool>, McpError> {
        let protocol = |reason: String| McpError::Protocol { server: self.server.clone(), reason };
        let listed = tokio::time::timeout(CALL_TIMEOUT, self.service.list_all_tools())
            .await
            .map_err(|_| protocol(format!("no tool list within {CALL_TIMEOUT:?}")))?
            .map_err(|e| protocol(format!("cannot list tools: {}", plain(e))))?;
        Ok(listed.into_iter().map(to_mcp_tool).collect())
    }

    /// Calls `tool` with `arguments`. A result the server marks as an error is an `Err` with its
    /// text; a result is its structured content when it has one, else its content blocks.
    pub async fn call(&self, tool: &str, arguments: Value) -> Result<Value, String> {
        let mut params = CallToolRequestParams::new(tool.to_string());
        match arguments {
            Value::Object(map) => params = params.with_arguments(map),
            Value::Null => {}
            _ => return Err("MCP tool arguments are an object".into()),
        }
        let result = tokio::time::timeout(CALL_TIMEOUT, self.service.call_tool(params))
            .await
            .map_err(|_| format!("MCP server `{}` did not answer {tool} within {CALL_TIMEOUT:?}", self.server))?
            .map_err(|e| format!("MCP server `{}`: {tool}: {}", self.server, plain(e)))?;
        let size = serde_json::to_vec(&result).map_or(usize::MAX, |b| b.len());
        if size > MAX_RESULT_BYTES {
            return Err(format!(
                "MCP server `{}`: the result of {tool} is {size} bytes, over the limit of {MAX_RESULT_BYTES}",
                self.server
            ));
        }
        let text = || {
            result.content.iter().filter_map(|c| c.as_text()).map(|t| t.text.as_str()).collect::<Vec<_>>().join("\n")
        };
        if result.is_error == Some(true) {
            return Err(format!("{tool} failed: {}", text()));
        }
        if let Some(structured) = &result.structured_content {
            return Ok(structured.clone());
        }
        let content = serde_json::to_value(&result.content).map_err(|e| e.to_string())?;
        Ok(serde_json::json!({ "text": text(), "content": content }))
    }
}

/// The `initialize` exchange over `transport`, bounded in time.
async fn initialize<C: StreamableHttpClient>(
    handler: Handler,
    transport: StreamableHttpClientTransport<C>,
) -> Result<RunningService<RoleClient, Handler>, String> {
    tokio::time::timeout(CONNECT_TIMEOUT, handler.serve(transport))
        .await
        .map_err(|_| format!("no answer to `initialize` within {CONNECT_TIMEOUT:?}"))?
        .map_err(plain)
}

/// What went wrong, for a person: rmcp's transport errors name the transport's Rust type.
fn plain(error: impl std::fmt::Display) -> String {
    let text = error.to_string();
    if text.contains("Auth required") {
        return AUTH_REQUIRED.into();
    }
    match (text.find(" Transport ["), text.find("] error: ")) {
        (Some(a), Some(b)) if a < b => format!("{}: {}", &text[..a], &text[b + "] error: ".len()..]),
        _ => text,
    }
}

/// A connection made over a transport of its own ([`Connection::over`]), for
/// [`McpClient::adopt`].
#[derive(Clone)]
pub struct Adopted(Live);

impl Adopted {
    /// Whether the other side has gone.
    pub fn is_closed(&self) -> bool {
        self.0.connection.is_closed()
    }
}

/// A server's connection and which of its tools may be called through it: those whose current
/// description is the approved one.
#[derive(Clone)]
struct Live {
    connection: Arc<Connection>,
    approved: Arc<std::sync::Mutex<Vec<String>>>,
}

/// The gate's executor for `mcp:` bindings: connects to each registered server on first use
/// (storing its tool list, so drift found on a reconnect is quarantined at once), keeps the
/// connection, and lists again when the server says its list changed; a closed connection is
/// opened again by the next call.
pub struct McpClient {
    store: Store,
    /// The workspace's data folder, where the vault's key is (opened on first use: a run that
    /// calls no MCP tool never touches the vault).
    data_dir: PathBuf,
    live: Mutex<HashMap<String, Live>>,
}

impl McpClient {
    pub fn new(store: Store, data_dir: PathBuf) -> McpClient {
        McpClient { store, data_dir, live: Mutex::default() }
    }

    /// Makes `engine`'s gate run the tools of `mcp:` bindings through a new client (an engine
    /// without a store has no registered servers, and gets none).
    pub fn attach(engine: &Engine) -> Option<Arc<McpClient>> {
        let store = engine.store.as_ref()?;
        let client = Arc::new(McpClient::new(store.clone(), engine.workspace.data_dir()));
        engine.gate.attach_mcp(client.clone()).then_some(client)
    }

    /// Makes `adopted` the connection to `server` (an agent's, `agent:NAME`), closing the one
    /// before it.
    pub async fn adopt(&self, server: &str, adopted: Adopted) {
        if let Some(old) = self.live.lock().await.insert(server.to_string(), adopted.0) {
            old.connection.close();
        }
    }

    /// Closes the connection to `server` (a revoked agent's), if this client has one.
    pub async fn disconnect(&self, server: &str) -> bool {
        match self.live.lock().await.remove(server) {
            Some(l) => {
                l.connection.close();
                true
            }
            None => false,
        }
    }

    /// Sets which tools of each live connection may be called to what the store holds approved
    /// now: after an approval by any process (a connection keeps the list it found when it
    /// listed, so that drift it finds is refused at once).
    pub async fn sync_approved(&self) {
        let live: Vec<(String, Live)> = self.live.lock().await.iter().map(|(n, l)| (n.clone(), l.clone())).collect();
        for (server, l) in live {
            let Ok(tools) = self.store.mcp_tools(&server).await else { continue };
            let approved = tools.iter().filter(|t| t.state() == "approved").map(|t| t.seen.name.clone()).collect();
            if let Ok(mut now) = l.approved.lock() {
                *now = approved;
            }
        }
    }

    /// The servers this client has a live connection to.
    pub async fn connected(&self) -> Vec<String> {
        self.live.lock().await.iter().filter(|(_, l)| !l.connection.is_closed()).map(|(n, _)| n.clone()).collect()
    }

    /// Connects to a registered server with its credentials from the vault.
    pub async fn connect(vault: &Vault, server: &McpServerRecord) -> Result<Connection, McpError> {
        Connection::open(server, Self::secrets(vault, server).await?).await
    }

    async fn secrets(vault: &Vault, server: &McpServerRecord) -> Result<Secrets, McpError> {
        let read = |what: String, entry: String| async move {
            let problem = |reason: String| McpError::Credential {
                server: server.name.clone(),
                what: what.clone(),
                entry: entry.clone(),
                reason,
            };
            let secret = vault.get(&entry).await.map_err(|e| problem(e.to_string()))?;
            String::from_utf8(secret.expose().to_vec()).map_err(|_| problem("not UTF-8 text".into()))
        };
        let mut headers = BTreeMap::new();
        for (header, entry) in &server.headers {
            headers.insert(header.clone(), read(format!("header {header}"), entry.clone()).await?);
        }
        let oauth = match &server.auth {
            Some(auth) => Some(read("the OAuth client".into(), auth.secret.clone()).await?),
            None => None,
        };
        Ok(Secrets { headers, oauth, vault: vault.clone() })
    }

    /// The connection to `server` and the tools that may be called through it, connecting (and
    /// storing its tool list, quarantining drift) when this process has no live one.
    async fn live(&self, server: &str) -> Result<(Arc<Connection>, Vec<String>), String> {
        let mut live = self.live.lock().await;
        if let Some(l) = live.get(server).filter(|l| !l.connection.is_closed()) {
            let approved = l.approved.lock().map_err(|_| "a poisoned lock".to_string())?.clone();
            return Ok((l.connection.clone(), approved));
        }
        if let Some(agent) = server.strip_prefix(AGENT_PREFIX) {
            // An agent's tools are reached over the socket its daemon opened, never by a URL.
            return Err(format!(
                "agent `{agent}` is not connected: its tools are unavailable until its daemon connects"
            ));
        }
        let record = self
            .store
            .mcp_server(server)
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("MCP server `{server}` is not registered"))?;
        let vault = Vault::open(&self.data_dir, self.store.clone()).map_err(|e| format!("{e:#}"))?;
        let secrets = Self::secrets(&vault, &record).await.map_err(|e| e.to_string())?;
        let approved = Arc::new(std::sync::Mutex::new(Vec::new()));
        let watch = Watch { store: self.store.clone(), server: record.clone(), approved: approved.clone() };
        let connection =
            Connection::open_with(&record, secrets, Handler { watch: Some(watch) }).await.map_err(|e| e.to_string())?;
        let connection = Arc::new(connection);
        let listed = connection.tools().await.map_err(|e| e.to_string())?;
        let refresh = quarantine::record(&self.store, &record, listed).await.map_err(|e| format!("{e:#}"))?;
        if let Ok(mut now) = approved.lock() {
            *now = refresh.approved.clone();
        }
        live.insert(server.to_string(), Live { connection: connection.clone(), approved });
        Ok((connection, refresh.approved))
    }
}

#[async_trait::async_trait]
impl Executor for McpClient {
    async fn execute(
        &self,
        tool: &BoundTool,
        arguments: Value,
        _: &Principal,
        _: Option<&str>,
    ) -> Result<Value, String> {
        let Some(server) = tool.binding.tool_server() else {
            return Err(format!("{} is not an MCP tool", tool.name));
        };
        let server = server.as_str();
        let (connection, approved) = self.live(server).await?;
        if !approved.contains(&tool.tool) {
            return Err(format!(
                "MCP server `{server}` changed or removed {} since it was approved; it is quarantined until \
                 `monstrum mcp approve {server} {}`",
                tool.tool, tool.tool
            ));
        }
        connection.call(&tool.tool, arguments).await
    }
}
