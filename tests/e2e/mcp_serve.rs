//! End-to-end: `monstrum mcp serve --bot NAME` puts an existing MCP client under a bot's
//! governance. The client is the official TypeScript SDK's, over stdio, as an IDE runs it; the
//! bot is bound to another MCP server (the drifting fixture), so a call goes client -> Monstrum's
//! gate -> MCP server. An unbound tool is not listed and does not exist, a scope violation is a
//! tool error, and the audit trail holds every call under the bot.

use crate::common::mcp_servers::{McpServer, npm_script};
use crate::common::{Ws, text};
use crate::governance::audit;
use crate::mcp::{WAITER, menu_tools};
use serde_json::{Value, json};
use std::process::Command;

/// Runs the SDK's stdio client against `monstrum mcp serve --bot BOT` in `ws`, making `calls`.
fn client(ws: &Ws, bot: &str, calls: Value) -> Value {
    let script = npm_script("stdio-client");
    let out = Command::new("node")
        .arg(&script)
        .arg(env!("CARGO_BIN_EXE_monstrum"))
        .args(["--workspace", ws.path().to_str().unwrap(), "mcp", "serve", "--bot", bot])
        .env("CALLS", calls.to_string())
        .env("USER", "tester")
        .env_remove("MONSTRUM_DB")
        .output()
        .expect("node runs the client");
    let _ = std::fs::remove_file(&script);
    assert!(out.status.success(), "the client failed: {}", text(&out));
    let line = String::from_utf8_lossy(&out.stdout).lines().last().unwrap_or_default().to_string();
    serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {}", text(&out)))
}

fn result_text(result: &Value) -> &str {
    result["content"][0]["text"].as_str().unwrap_or_default()
}

#[test]
fn an_mcp_client_sees_exactly_the_bots_tools_and_every_call_passes_the_gate() {
    let Some(server) = McpServer::drifting(&menu_tools("Looks up a menu item")) else { return };
    let ws = Ws::new();
    assert!(ws.run(&["mcp", "add", "menu", &server.url]).status.success());
    ws.write("bots/waiter.yaml", WAITER);
    let seen = client(
        &ws,
        "waiter",
        json!([
            { "name": "menu.lookup", "arguments": { "item": "pizza-margherita" } },
            { "name": "menu.lookup", "arguments": { "item": "wine-cellar" } },
            { "name": "menu.place_order", "arguments": { "item": "pizza-margherita" } },
            { "name": "menu.lookup", "arguments": { "item": 7 } },
            { "name": "core.echo", "arguments": { "said": "hi" } }
        ]),
    );
    assert_eq!(seen["server"]["name"], "monstrum");
    let tools: Vec<&str> = seen["tools"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert!(tools.contains(&"menu.lookup") && tools.contains(&"core.echo"), "{tools:?}");
    assert!(!tools.iter().any(|t| t.contains("place_order")), "an unbound tool is not listed: {tools:?}");
    assert!(!tools.contains(&"core.delegate"), "{tools:?}");
    let lookup = seen["tools"].as_array().unwrap().iter().find(|t| t["name"] == "menu.lookup").unwrap();
    assert_eq!(lookup["description"], "Looks up a menu item");
    assert_eq!(lookup["inputSchema"]["required"], json!(["item"]));

    let results = seen["results"].as_array().unwrap();
    assert_ne!(results[0]["isError"], true, "{}", results[0]);
    assert!(result_text(&results[0]).contains("pizza-margherita"), "{}", results[0]);
    assert_eq!(results[1]["isError"], true);
    assert!(result_text(&results[1]).starts_with("denied:"), "{}", results[1]);
    assert_eq!(results[2]["isError"], true);
    assert_eq!(result_text(&results[2]), "no such tool: menu.place_order");
    assert_eq!(results[3]["isError"], true);
    assert!(result_text(&results[3]).starts_with("invalid arguments"), "{}", results[3]);
    assert_ne!(results[4]["isError"], true, "{}", results[4]);

    let calls = audit(&ws, &["--kind", "tool_call", "--bot", "waiter"]);
    let decisions: Vec<(&str, &str)> =
        calls.iter().map(|r| (r["tool"].as_str().unwrap(), r["decision"].as_str().unwrap())).collect();
    assert_eq!(
        decisions,
        [
            ("menu.lookup", "allowed"),
            ("menu.lookup", "denied"),
            ("menu.place_order", "denied"),
            ("menu.lookup", "denied"),
            ("core.echo", "allowed")
        ]
    );
    assert!(calls.iter().all(|r| r["run"].as_str().unwrap().starts_with("mcp-")), "{calls:?}");
}

#[test]
fn serving_a_bot_that_does_not_exist_fails_with_the_reason() {
    let ws = Ws::new();
    let out = ws.run(&["mcp", "serve", "--bot", "ghost"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("ghost"), "{}", text(&out));
}
