//! What the gate adds to an MCP call: the same `echo` call on the reference server
//! (`server-everything`, from `target/npm`), sent directly over an rmcp connection and sent
//! through `Gate::call` (visibility, schema, scope, the audit record on SQLite, the MCP client),
//! interleaved in rounds so that both see the same machine. Prints medians and p99s.
//! Run: `cargo bench -j2 -p monstrum-mcp --bench mcp_call`.

use monstrum_core::events::EventSink;
use monstrum_core::governance::GateCall;
use monstrum_core::store::Store;
use monstrum_core::vault::Vault;
use monstrum_core::workspace::Workspace;
use monstrum_mcp::{McpClient, registry};
use serde_json::json;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const ROUNDS: usize = 20;
const CALLS: usize = 50;

fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort_unstable();
    samples[((samples.len() as f64 - 1.0) * p).round() as usize]
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let server = root.join("target/npm/node_modules/@modelcontextprotocol/server-everything/dist/index.js");
    assert!(server.is_file(), "{} is missing: run .ci/run's npm install first", server.display());
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut node = Command::new("node")
        .arg(&server)
        .arg("streamableHttp")
        .env("PORT", port.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("node");
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        std::thread::sleep(Duration::from_millis(50));
    }
    let url = format!("http://127.0.0.1:{port}/mcp");
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("bots")).unwrap();
    std::fs::write(
        dir.path().join("bots/bench.yaml"),
        "name: bench\nresources:\n  - mcp: everything\n    tools: [echo]\n    scope: { messages: [\"hello *\"] }\n    rules: [{ tool: echo, dimension: messages, param: /message, match: glob }]\n",
    )
    .unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        let workspace = Workspace::discover(Some(dir.path()), dir.path()).unwrap();
        let store = Store::open(&workspace.store_url(None).unwrap()).await.unwrap();
        let vault = Vault::open(&workspace.data_dir(), store.clone()).unwrap();
        registry::add(&store, &vault, "everything", &url, Default::default(), None).await.unwrap();
        let direct = McpClient::connect(&vault, &store.mcp_server("everything").await.unwrap().unwrap()).await.unwrap();
        let engine = monstrum_core::open(workspace, None, EventSink::none()).await.unwrap();
        McpClient::attach(&engine);
        let principal = engine.gate.principal(Some("bench"));
        let events = EventSink::none();
        let through = || {
            engine.gate.call(
                GateCall {
                    run: "bench",
                    step: "call",
                    principal: &principal,
                    tool: "everything.echo",
                    arguments: json!({ "message": "hello world" }),
                    offered: None,
                    key: None,
                    resend: false,
                    conversation: None,
                },
                &events,
            )
        };
        through().await.expect("the gate allows it");
        let (mut plain, mut gated) = (Vec::new(), Vec::new());
        for _ in 0..ROUNDS {
            for _ in 0..CALLS {
                let t = Instant::now();
                direct.call("echo", json!({ "message": "hello world" })).await.unwrap();
                plain.push(t.elapsed());
            }
            for _ in 0..CALLS {
                let t = Instant::now();
                through().await.unwrap();
                gated.push(t.elapsed());
            }
        }
        let (p50, g50) = (percentile(&mut plain, 0.5), percentile(&mut gated, 0.5));
        let (p99, g99) = (percentile(&mut plain, 0.99), percentile(&mut gated, 0.99));
        println!("mcp echo, {} calls each, interleaved:", ROUNDS * CALLS);
        println!("  direct (rmcp):       p50 {p50:?}  p99 {p99:?}");
        println!("  through the gate:    p50 {g50:?}  p99 {g99:?}");
        println!("  added by the gate:   p50 {:?}", g50.saturating_sub(p50));
    });
    let _ = node.kill();
}
