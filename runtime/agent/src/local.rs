//! The daemon's tools: command templates, the tools of local MCP servers it started over stdio,
//! and those of plugin packages it runs in its own sandbox, offered together as one MCP server
//! over the link.

use crate::config::{CommandTool, Config, LocalServer};
use monstrum_core::plugin::StandalonePlugins;
use rmcp::handler::server::ServerHandler;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation, InitializeResult,
    ListToolsResult, PaginatedRequestParams, ServerCapabilities, Tool,
};
use rmcp::service::{NotificationContext, RequestContext, RunningService};
use rmcp::transport::TokioChildProcess;
use rmcp::{ErrorData, RoleClient, RoleServer, ServiceExt};
use serde_json::Value;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::sync::watch;

/// The most output of a command kept (stdout and stderr each).
const MAX_OUTPUT: usize = 1 << 20;

/// A started local MCP server and its tools.
struct Started {
    name: String,
    service: RunningService<RoleClient, LocalWatch>,
    tools: Arc<RwLock<Vec<Tool>>>,
}

/// A local MCP server's client side: when the server says its tool list changed, the list is
/// taken again and the link's peer is told (the Monstrum server lists the daemon's tools again
/// and quarantines what changed).
#[derive(Clone)]
struct LocalWatch {
    tools: Arc<RwLock<Vec<Tool>>>,
    changed: Arc<watch::Sender<u64>>,
}

impl rmcp::ClientHandler for LocalWatch {
    async fn on_tool_list_changed(&self, context: NotificationContext<RoleClient>) {
        match context.peer.list_all_tools().await {
            Ok(tools) => {
                if let Ok(mut now) = self.tools.write() {
                    *now = tools;
                }
                self.changed.send_modify(|n| *n += 1);
            }
            Err(e) => eprintln!("monstrum agent: a local MCP server's changed list cannot be read: {e}"),
        }
    }
}

/// Everything a daemon offers.
pub(crate) struct Tools {
    commands: Vec<CommandTool>,
    servers: Vec<Started>,
    /// The plugin host, started only when the configuration has plugins.
    plugins: Option<StandalonePlugins>,
    /// Bumped when a local server's tool list changed.
    changed: Arc<watch::Sender<u64>>,
}

impl Tools {
    /// Starts the local MCP servers of `config` and lists their tools; an error names the server
    /// that did not start.
    pub(crate) async fn start(config: Config, cache_dir: Option<std::path::PathBuf>) -> anyhow::Result<Tools> {
        let mut servers = Vec::new();
        let changed = Arc::new(watch::Sender::new(0));
        for local in &config.mcp {
            let tools = Arc::new(RwLock::new(Vec::new()));
            let client = LocalWatch { tools: tools.clone(), changed: changed.clone() };
            let service =
                start(local, client).await.map_err(|e| anyhow::anyhow!("local MCP server `{}`: {e}", local.name))?;
            let listed = service
                .list_all_tools()
                .await
                .map_err(|e| anyhow::anyhow!("local MCP server `{}` lists no tools: {e}", local.name))?;
            *tools.write().map_err(|_| anyhow::anyhow!("a poisoned lock"))? = listed;
            servers.push(Started { name: local.name.clone(), service, tools });
        }
        let mut plugins = None;
        for plugin in config.plugins {
            let host = match &mut plugins {
                Some(host) => host,
                None => plugins.insert(StandalonePlugins::new(cache_dir.as_deref())?),
            };
            let loaded = host.add(&plugin.package, plugin.name.as_deref(), plugin.config, plugin.scope);
            loaded.map_err(|e| anyhow::anyhow!("plugin {}: {e:#}", plugin.package.display()))?;
        }
        Ok(Tools { commands: config.commands, servers, plugins, changed })
    }

    /// Every tool: commands by their names, a local server's as `SERVER.TOOL`.
    fn list(&self) -> Vec<Tool> {
        let commands = self.commands.iter().map(|c| {
            let schema = c.parameters.as_object().cloned().unwrap_or_default();
            Tool::new(c.name.clone(), c.description.clone(), Arc::new(schema))
        });
        let served = self.servers.iter().flat_map(|s| {
            let tools = s.tools.read().map(|t| t.clone()).unwrap_or_default();
            tools.into_iter().map(|mut t| {
                t.name = format!("{}.{}", s.name, t.name).into();
                t
            })
        });
        let plugins = self.plugins.iter().flat_map(StandalonePlugins::tools).map(|(plugin, t)| {
            let schema = t.parameters.as_object().cloned().unwrap_or_default();
            Tool::new(format!("{plugin}.{}", t.name), t.description.clone(), Arc::new(schema))
        });
        commands.chain(served).chain(plugins).collect()
    }

    async fn call(&self, name: &str, arguments: serde_json::Map<String, Value>) -> CallToolResult {
        if let Some(command) = self.commands.iter().find(|c| c.name == name) {
            return run(command, &arguments).await.unwrap_or_else(|e| error(format!("{name}: {e}")));
        }
        let local = name
            .split_once('.')
            .and_then(|(server, tool)| Some((self.servers.iter().find(|s| s.name == server)?, tool)));
        let Some((server, tool)) = local else {
            return match name.split_once('.') {
                Some((plugin, tool)) => self.plugin(plugin, tool, arguments).await,
                None => error(format!("no such tool: {name}")),
            };
        };
        let params = CallToolRequestParams::new(tool.to_string()).with_arguments(arguments);
        match server.service.call_tool(params).await {
            Ok(result) => result,
            Err(e) => error(format!("local MCP server `{}`: {tool}: {e}", server.name)),
        }
    }
}

impl Tools {
    /// Runs a plugin's tool in the daemon's sandbox: its result as structured content (and as
    /// text), a failure as a tool error.
    async fn plugin(&self, plugin: &str, tool: &str, arguments: serde_json::Map<String, Value>) -> CallToolResult {
        let Some(plugins) = &self.plugins else { return error(format!("no such tool: {plugin}.{tool}")) };
        match plugins.call(plugin, tool, Value::Object(arguments)).await {
            Ok(output) => {
                let mut result = CallToolResult::success(vec![ContentBlock::text(output.to_string())]);
                result.structured_content = Some(match output {
                    Value::Object(_) => output,
                    other => serde_json::json!({ "value": other }),
                });
                result
            }
            // The host names the plugin and the tool already.
            Err(e) => error(e),
        }
    }
}

fn error(text: String) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(text)])
}

/// Starts a local MCP server with only the environment it is given (and PATH, HOME): the
/// daemon's own variables (its key among them) never reach it.
async fn start(local: &LocalServer, client: LocalWatch) -> anyhow::Result<RunningService<RoleClient, LocalWatch>> {
    let mut command = tokio::process::Command::new(&local.command);
    command.args(&local.args).env_clear();
    for inherited in ["PATH", "HOME"] {
        if let Some(value) = std::env::var_os(inherited) {
            command.env(inherited, value);
        }
    }
    command.envs(&local.env);
    let transport = TokioChildProcess::new(command)?;
    Ok(tokio::time::timeout(Duration::from_secs(30), client.serve(transport))
        .await
        .map_err(|_| anyhow::anyhow!("no answer to `initialize` within 30 s"))??)
}

/// Runs a command tool: each `run` element rendered with the arguments, no shell, with the
/// daemon's PATH and HOME only, bounded in time. A non-zero exit is a tool error with its stderr.
async fn run(command: &CommandTool, arguments: &serde_json::Map<String, Value>) -> anyhow::Result<CallToolResult> {
    let mut env = minijinja::Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    let context = minijinja::Value::from_serialize(arguments);
    let argv = command
        .run
        .iter()
        .map(|part| env.render_str(part, &context).map_err(|e| anyhow::anyhow!("`{part}`: {e}")))
        .collect::<anyhow::Result<Vec<String>>>()?;
    let mut process = tokio::process::Command::new(&argv[0]);
    process.args(&argv[1..]).env_clear().kill_on_drop(true).stdin(std::process::Stdio::null());
    for inherited in ["PATH", "HOME"] {
        if let Some(value) = std::env::var_os(inherited) {
            process.env(inherited, value);
        }
    }
    let limit = Duration::from_secs(command.timeout_seconds);
    let output = tokio::time::timeout(limit, process.output())
        .await
        .map_err(|_| anyhow::anyhow!("no exit within {limit:?} (killed)"))?
        .map_err(|e| anyhow::anyhow!("cannot run {}: {e}", argv[0]))?;
    let text = |bytes: &[u8]| String::from_utf8_lossy(&bytes[..bytes.len().min(MAX_OUTPUT)]).into_owned();
    if !output.status.success() {
        return Ok(error(format!("{} exited with {}: {}", argv[0], output.status, text(&output.stderr).trim())));
    }
    let mut result = CallToolResult::success(vec![ContentBlock::text(text(&output.stdout))]);
    result.structured_content = Some(serde_json::json!({ "stdout": text(&output.stdout), "exit_code": 0 }));
    Ok(result)
}

/// The daemon's side of the link: an MCP server of [`Tools`].
#[derive(Clone)]
pub(crate) struct AgentServer {
    pub(crate) tools: Arc<Tools>,
}

impl ServerHandler for AgentServer {
    fn get_info(&self) -> InitializeResult {
        InitializeResult::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("monstrum-agent", env!("CARGO_PKG_VERSION")))
    }

    /// Once the link is up: tells the peer each time a local server's tool list changed,
    /// until the link closes.
    async fn on_initialized(&self, context: NotificationContext<RoleServer>) {
        let mut changes = self.tools.changed.subscribe();
        changes.mark_unchanged();
        tokio::spawn(async move {
            while !context.peer.is_transport_closed() {
                match tokio::time::timeout(Duration::from_secs(1), changes.changed()).await {
                    Ok(Ok(())) if context.peer.notify_tool_list_changed().await.is_ok() => {}
                    Err(_) => {}
                    Ok(_) => return,
                }
            }
        });
    }

    async fn list_tools(
        &self,
        _: Option<PaginatedRequestParams>,
        _: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(self.tools.list()))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        Ok(self.tools.call(&request.name, request.arguments.unwrap_or_default()).await.into())
    }
}
