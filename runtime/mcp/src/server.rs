//! Monstrum as an MCP server (DESIGN.md, "MCP"): one bot's tools offered to an MCP client (an
//! IDE, a desktop assistant). The list is exactly what the gate lets the bot see, and every call
//! is a `Gate::call` under the bot: visibility, schema, scope, the audit record, then the tool.
//! A refusal is a tool error the client shows, with the gate's reason.
//!
//! Two transports: stdio (`monstrum mcp serve --bot NAME`: one bot, fixed at start) and
//! Streamable HTTP (`/mcp` on `monstrum serve`: the bot of each request's token, which the
//! server's middleware puts in the request as a [`BotCaller`]).

use monstrum_core::events::EventSink;
use monstrum_core::governance::{DELEGATE_TOOL, GateCall, Identity, Principal};
use monstrum_core::workflow::Engine;
use rmcp::handler::server::ServerHandler;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation, InitializeResult,
    ListToolsResult, PaginatedRequestParams, ServerCapabilities, Tool,
};
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData, RoleServer, ServiceExt};
use serde_json::Value;
use std::sync::Arc;

/// The caller of an MCP request over HTTP, as the server's token check found it: the token's
/// name and the bot it is bound to.
#[derive(Clone, Debug)]
pub struct BotCaller {
    pub bot: String,
    pub token: String,
}

/// Whose tools a [`BotServer`] serves.
#[derive(Clone)]
enum Served {
    /// One bot, compiled at start (stdio).
    Bot(Principal),
    /// The bot of each request's [`BotCaller`] (HTTP): a request without one is refused.
    Caller,
}

/// One bot, served over MCP.
#[derive(Clone)]
pub struct BotServer {
    engine: Arc<Engine>,
    served: Served,
    /// What the audit trail records as the run of these calls: one per connection (stdio) or
    /// MCP session (HTTP).
    session: String,
}

/// The Streamable HTTP MCP service of `monstrum serve`, to mount at `/mcp` behind a middleware
/// that puts a [`BotCaller`] in each request.
pub type HttpService = StreamableHttpService<BotServer, LocalSessionManager>;

impl BotServer {
    /// The server for `bot`; an error when the bot does not exist or does not compile (a client
    /// is never offered an empty list in place of a broken bot).
    pub fn new(engine: Arc<Engine>, bot: &str) -> anyhow::Result<BotServer> {
        let principal = engine.gate.principal(Some(bot));
        if let Identity::Faulty { reason, .. } = &principal.identity {
            anyhow::bail!("{reason}");
        }
        Ok(BotServer { engine, served: Served::Bot(principal), session: new_session() })
    }

    /// The Streamable HTTP service serving the bot of each request's [`BotCaller`]. It speaks
    /// the 2025 revisions (sessions, kept for five minutes idle) and the stateless 2026-07-28
    /// one, as rmcp does. `Host` is not checked against a list (rmcp's DNS-rebinding guard):
    /// every request carries a bearer token, which a rebound page cannot read, and the server
    /// refuses a non-loopback address unless told (`--allow-remote`, behind a proxy whose host
    /// name this service cannot know).
    pub fn http(engine: Arc<Engine>) -> HttpService {
        let config = StreamableHttpServerConfig::default().disable_allowed_hosts();
        StreamableHttpService::new(
            move || Ok(BotServer { engine: engine.clone(), served: Served::Caller, session: new_session() }),
            Arc::new(LocalSessionManager::default()),
            config,
        )
    }

    /// Serves MCP on stdin and stdout until the client closes them.
    pub async fn serve_stdio(self) -> anyhow::Result<()> {
        let running = self.serve(rmcp::transport::stdio()).await?;
        running.waiting().await?;
        Ok(())
    }

    /// The principal this request is served as: the fixed bot, or the request's caller's.
    fn principal(&self, context: &RequestContext<RoleServer>) -> Result<Principal, ErrorData> {
        let caller = match &self.served {
            Served::Bot(principal) => return Ok(principal.clone()),
            Served::Caller => context
                .extensions
                .get::<http::request::Parts>()
                .and_then(|parts| parts.extensions.get::<BotCaller>())
                .ok_or_else(|| ErrorData::invalid_request("no bot: the request's token is not bound to one", None))?,
        };
        let principal = self.engine.gate.principal(Some(&caller.bot));
        if let Identity::Faulty { reason, .. } = &principal.identity {
            return Err(ErrorData::internal_error(reason.clone(), None));
        }
        Ok(principal)
    }

    fn tools(&self, principal: &Principal) -> Vec<Tool> {
        self.engine
            .gate
            .visible_tools(principal, None)
            .into_iter()
            // Delegation runs another bot's model: a step's work, not a tool an MCP client calls.
            .filter(|t| t.name != DELEGATE_TOOL)
            .map(|t| {
                let schema = match &t.parameters {
                    Value::Object(map) => map.clone(),
                    _ => serde_json::Map::new(),
                };
                Tool::new(t.name.clone(), t.description.clone(), Arc::new(schema))
            })
            .collect()
    }
}

impl ServerHandler for BotServer {
    fn get_info(&self) -> InitializeResult {
        let bot = match &self.served {
            Served::Bot(principal) => format!("bot `{}`", principal.bot_name().unwrap_or_default()),
            Served::Caller => "the bot your token is bound to".to_string(),
        };
        InitializeResult::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("monstrum", env!("CARGO_PKG_VERSION")))
            .with_instructions(format!(
                "The tools of Monstrum {bot}. Every call passes Monstrum's gate under this bot and is \
                 audited; a refused call is a tool error that says why."
            ))
    }

    async fn list_tools(
        &self,
        _: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(self.tools(&self.principal(&context)?)))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let principal = self.principal(&context)?;
        let arguments = Value::Object(request.arguments.unwrap_or_default());
        let call = GateCall {
            run: &self.session,
            step: "mcp",
            principal: &principal,
            tool: &request.name,
            arguments,
            offered: None,
            key: None,
            resend: false,
            conversation: None,
        };
        let outcome = self.engine.gate.call(call, &EventSink::none()).await;
        // The records of a refusal or a built-in call are committed with the next step's; here no
        // step follows, so they are committed before the client hears anything.
        if let Err(e) = self.engine.gate.trail().flush().await {
            let text = format!("the audit trail cannot be written: {e}");
            return Ok(CallToolResult::error(vec![ContentBlock::text(text)]).into());
        }
        let result = match outcome {
            Ok(output) => {
                let text = match &output {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                let mut result = CallToolResult::success(vec![ContentBlock::text(text)]);
                if output.is_object() {
                    result.structured_content = Some(output);
                }
                result
            }
            Err(e) => CallToolResult::error(vec![ContentBlock::text(e.to_string())]),
        };
        Ok(result.into())
    }
}

fn new_session() -> String {
    format!("mcp-{}", uuid::Uuid::new_v4())
}
