//! The gate's own costs (issue 3): visibility filtering for a bot bound to 1,000 tools (what
//! every model request pays), and one allowed call through the whole gate (resolve, schema,
//! scope, audit record sealed with SHA-256, execution of a built-in tool, result record).
//!
//! `cargo bench -p monstrum-core --bench gate` runs criterion; `-- --figures` prints the figures.

use criterion::Criterion;
use monstrum_core::audit::Trail;
use monstrum_core::events::EventSink;
use monstrum_core::governance::budget::Ledger;
use monstrum_core::governance::{Catalog, Gate, GateCall, Principal};
use monstrum_model::{Binding, Bot, Manifest};
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

const PLUGINS: usize = 10;
const TOOLS_PER_PLUGIN: usize = 100;

fn manifest(p: usize) -> Manifest {
    let tools: Vec<_> = (0..TOOLS_PER_PLUGIN)
        .map(|t| {
            json!({
                "name": format!("tool_{t}"),
                "description": format!("Tool {t} of plugin {p}: does something useful with a repository"),
                "parameters": { "type": "object", "required": ["repo"], "properties": {
                    "repo": { "type": "string" }, "number": { "type": "integer" }, "body": { "type": "string" } } },
                "scope": [{ "dimension": "repos", "param": "/repo", "match": "glob" }]
            })
        })
        .collect();
    serde_json::from_value(json!({
        "name": format!("p{p}"), "version": "0.1.0", "component": "x.wasm",
        "dimensions": { "repos": {} }, "tools": tools
    }))
    .expect("manifest")
}

fn gate() -> (Gate, Principal) {
    let catalog = Catalog::new((0..PLUGINS).map(manifest));
    let bot = Bot {
        name: "big".into(),
        description: None,
        model: None,
        personality: None,
        skills: Vec::new(),
        budget: None,
        resources: (0..PLUGINS)
            .map(|p| Binding {
                plugin: format!("p{p}"),
                instance: None,
                credential: None,
                credentials: BTreeMap::new(),
                tools: (0..TOOLS_PER_PLUGIN).map(|t| format!("tool_{t}")).collect(),
                scope: BTreeMap::from([("repos".to_string(), json!(["acme/public-*"]))]),
                config: Default::default(),
                ..Default::default()
            })
            .collect(),
        delegates: Vec::new(),
    };
    let gate = Gate::new(catalog, Arc::new(move |_| Ok(bot.clone())), Trail::in_memory(), Ledger::in_memory());
    let principal = gate.principal(Some("big"));
    (gate, principal)
}

fn per_call(mut f: impl FnMut(), at_least: Duration) -> f64 {
    let mut n = 0u64;
    let start = Instant::now();
    while start.elapsed() < at_least || n < 100 {
        f();
        n += 1;
    }
    start.elapsed().as_secs_f64() * 1e6 / n as f64
}

fn figures() {
    let (gate, principal) = gate();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let visible = gate.visible_tools(&principal, None).len();
    let narrow: Vec<String> = (0..20).map(|t| format!("p3.tool_{t}")).collect();
    let all = per_call(|| drop(std::hint::black_box(gate.visible_tools(&principal, None))), Duration::from_secs(2));
    let narrowed =
        per_call(|| drop(std::hint::black_box(gate.visible_tools(&principal, Some(&narrow)))), Duration::from_secs(2));
    let events = EventSink::none();
    let call = per_call(
        || {
            rt.block_on(async {
                let call = GateCall {
                    run: "r",
                    step: "s",
                    principal: &principal,
                    tool: "core.echo",
                    arguments: json!({ "repo": "acme/public-site" }),
                    offered: None,
                    key: None,
                    resend: false,
                    conversation: None,
                };
                std::hint::black_box(gate.call(call, &events).await).ok();
            })
        },
        Duration::from_secs(2),
    );
    println!("# gate figures (release, one thread)");
    println!("visibility, bot with {visible} visible tools, no narrowing : {all:8.1} µs per model request");
    println!("visibility, same bot, step narrows to 20 tools            : {narrowed:8.1} µs per model request");
    println!("one allowed call through the gate (audited in memory)      : {call:8.1} µs per call");
}

fn main() {
    if std::env::args().any(|a| a == "--figures") {
        figures();
        return;
    }
    let (gate, principal) = gate();
    let mut c = Criterion::default().configure_from_args();
    c.bench_function("visibility_1000_tools", |b| b.iter(|| gate.visible_tools(&principal, None)));
    c.final_summary();
}
