//! Monstrum as an MCP server (DESIGN.md, "MCP"): one bot's tools offered to an MCP client (an
//! IDE, a desktop assistant). The list is exactly what the gate lets the bot see, and every call
//! is a `Gate::call` under the bot: visibility, schema, scope, the audit record, then the tool.
//! A refusal is a tool error the client shows, with the gate's reason.

use monstrum_core::events::EventSink;
use monstrum_core::governance::{DELEGATE_TOOL, GateCall, Identity, Principal};
use monstrum_core::workflow::Engine;
use rmcp::handler::server::ServerHandler;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation, InitializeResult,
    ListToolsResult, PaginatedRequestParams, ServerCapabilities, Tool,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServiceExt};
use serde_json::Value;
use std::sync::Arc;

/// One bot, served over MCP.
#[derive(Clone)]
pub struct BotServer {
    engine: Arc<Engine>,
    principal: Principal,
    /// What the audit trail records as the run of these calls: one per connection.
    session: String,
}

impl BotServer {
    /// The server for `bot`; an error when the bot does not exist or does not compile (a client
    /// is never offered an empty list in place of a broken bot).
    pub fn new(engine: Arc<Engine>, bot: &str) -> anyhow::Result<BotServer> {
        let principal = engine.gate.principal(Some(bot));
        if let Identity::Faulty { reason, .. } = &principal.identity {
            anyhow::bail!("{reason}");
        }
        let session = format!("mcp-{}", uuid::Uuid::new_v4());
        Ok(BotServer { engine, principal, session })
    }

    /// Serves MCP on stdin and stdout until the client closes them.
    pub async fn serve_stdio(self) -> anyhow::Result<()> {
        let running = self.serve(rmcp::transport::stdio()).await?;
        running.waiting().await?;
        Ok(())
    }

    fn tools(&self) -> Vec<Tool> {
        self.engine
            .gate
            .visible_tools(&self.principal, None)
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
        let bot = self.principal.bot_name().unwrap_or_default();
        InitializeResult::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("monstrum", env!("CARGO_PKG_VERSION")))
            .with_instructions(format!(
                "The tools of Monstrum bot `{bot}`. Every call passes Monstrum's gate under this bot \
                 and is audited; a refused call is a tool error that says why."
            ))
    }

    async fn list_tools(
        &self,
        _: Option<PaginatedRequestParams>,
        _: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(self.tools()))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let arguments = Value::Object(request.arguments.unwrap_or_default());
        let call = GateCall {
            run: &self.session,
            step: "mcp",
            principal: &self.principal,
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
