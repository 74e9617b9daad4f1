//! The agent link's figures, on loopback, with the real server and the real daemon's link code:
//! `monstrum serve`'s router (axum, `/agent`) in this process, and `monstrum_agent::daemon::
//! serve_link` offering one `echo` tool (an rmcp server that returns its arguments, so the
//! figures are the link's and the gate's, not a tool's).
//!
//! - round trip: `Gate::call` of `bench.echo` (visibility, schema, scope, the audit records on
//!   SQLite, the MCP client, the WebSocket, the daemon, back), one at a time: p50 and p99;
//! - calls/s: 8 callers at once through the one link;
//! - reconnect: the server drops the link; time until a call succeeds again (the daemon links
//!   again, the server lists and stores its tools, the call goes through).
//!
//! Run: `cargo bench -j2 -p monstrum-server --bench agent_link`.

use monstrum_core::events::EventSink;
use monstrum_core::governance::{GateCall, agent_link};
use monstrum_core::store::new_secret;
use monstrum_core::workspace::Workspace;
use rmcp::handler::server::ServerHandler;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, InitializeResult, ListToolsResult,
    PaginatedRequestParams, ServerCapabilities, Tool,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};

const CALLS: usize = 2_000;
const CALLERS: usize = 8;

#[derive(Clone)]
struct Echo;

impl ServerHandler for Echo {
    fn get_info(&self) -> InitializeResult {
        InitializeResult::new(ServerCapabilities::builder().enable_tools().build())
    }

    async fn list_tools(
        &self,
        _: Option<PaginatedRequestParams>,
        _: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let schema = json!({ "type": "object", "properties": { "message": { "type": "string" } } });
        let Value::Object(schema) = schema else { unreachable!() };
        Ok(ListToolsResult::with_all_items(vec![Tool::new("echo", "Returns its arguments", Arc::new(schema))]))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let mut result = CallToolResult::success(vec![ContentBlock::text("ok")]);
        result.structured_content = Some(Value::Object(request.arguments.unwrap_or_default()));
        Ok(result.into())
    }
}

fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort_unstable();
    samples[((samples.len() as f64 - 1.0) * p).round() as usize]
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("bots")).unwrap();
    std::fs::write(
        dir.path().join("bots/bench.yaml"),
        "name: bench\nresources:\n  - agent: bench\n    tools: [echo]\n    scope: { messages: [\"hello *\"] }\n    rules: [{ tool: echo, dimension: messages, param: /message, match: glob }]\n",
    )
    .unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        let workspace = Workspace::discover(Some(dir.path()), dir.path()).unwrap();
        let app = monstrum_server::state::App::open(workspace, None).await.unwrap();
        let (key, hash) = new_secret("mak_").unwrap();
        assert!(agent_link::create_key(&app.store, "bench", &hash, "bench").await.unwrap());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(axum::serve(listener, monstrum_server::router(app.clone())).into_future());
        let daemon = {
            let url = url.clone();
            tokio::spawn(async move { monstrum_agent::daemon::serve_link(&url, &key, Echo).await })
        };
        let linked = || async {
            while !app.mcp.connected().await.contains(&"agent:bench".to_string()) {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        };
        linked().await;
        app.engine.gate.set_mcp(app.store.mcp_manifests().await.unwrap());
        let principal = app.engine.gate.principal(Some("bench"));
        let events = EventSink::none();
        let call = |n: usize| {
            app.engine.gate.call(
                GateCall {
                    run: "bench",
                    step: "call",
                    principal: &principal,
                    tool: "bench.echo",
                    arguments: json!({ "message": format!("hello {n}") }),
                    offered: None,
                    key: None,
                    resend: false,
                    conversation: None,
                },
                &events,
            )
        };
        let out = call(0).await.expect("the gate allows it");
        assert_eq!(out["message"], "hello 0");
        for n in 0..200 {
            call(n).await.unwrap();
        }

        let mut samples = Vec::with_capacity(CALLS);
        for n in 0..CALLS {
            let started = Instant::now();
            call(n).await.unwrap();
            samples.push(started.elapsed());
        }
        let p50 = percentile(&mut samples, 0.5);
        let p99 = percentile(&mut samples, 0.99);
        println!("agent link round trip through the gate: p50 {p50:?}, p99 {p99:?} ({CALLS} calls, one at a time)");

        let started = Instant::now();
        let callers: Vec<_> = (0..CALLERS)
            .map(|c| {
                let call = &call;
                async move {
                    for n in 0..CALLS / CALLERS {
                        call(c * CALLS + n).await.unwrap();
                    }
                }
            })
            .collect();
        futures::future::join_all(callers).await;
        let rate = CALLS as f64 / started.elapsed().as_secs_f64();
        println!("calls/s through one agent: {rate:.0} ({CALLERS} callers, {CALLS} calls)");

        let mut reconnects = Vec::new();
        for _ in 0..10 {
            // A link that held a second is taken up again at once (a shorter one waits a backoff).
            tokio::time::sleep(Duration::from_millis(1100)).await;
            let dropped = Instant::now();
            assert!(app.mcp.disconnect("agent:bench").await);
            loop {
                if call(1).await.is_ok() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            reconnects.push(dropped.elapsed());
        }
        let median = percentile(&mut reconnects, 0.5);
        let worst = percentile(&mut reconnects, 1.0);
        println!("reconnect (link dropped -> a call succeeds again): median {median:?}, worst {worst:?} (10 drops)");
        daemon.abort();
    });
}
