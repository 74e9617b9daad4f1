//! The official MCP conformance suite (`@modelcontextprotocol/conformance`, npm) against
//! Monstrum's MCP client, driven as a user runs it: `tests/fixtures/mcp/conformance-client.sh`
//! registers the suite's server with `monstrum mcp add` (with OAuth client credentials where the
//! scenario gives them) and calls its tool through a workflow. Each scenario's result is printed.
//!
//! And its server scenarios against `/mcp` on `monstrum serve`, through a proxy that adds a bot's
//! token (the suite sends no header). The `tools-call-*` scenarios call tools the suite names
//! (`test_simple_text`, ...), which a bot's tools, named `source.tool`, cannot be; what they
//! check of a call (results, tool errors) is checked with the SDK's client in `mcp_serve.rs`.
//!
//! The suite is installed in `target/npm-conformance` by `.ci/run`: version 0.1.12, the newest
//! that runs on Node 20 (later ones need Node 22's `fs.globSync`), with the SDK it was released
//! against (1.25.2; its `tools_call` server reuses one SDK server per request, which later SDKs
//! refuse).

use crate::common::mcp_servers::npm_script;
use crate::common::{Ws, repo, skip};
use std::net::TcpListener;
use std::process::{Command, Stdio};

/// The client scenarios that pass. The `auth/metadata-*` scenarios need the authorization-code
/// flow (dynamic client registration and a person signing in), which Monstrum does not offer yet.
const SCENARIOS: &[&str] =
    &["initialize", "tools_call", "sse-retry", "auth/client-credentials-basic", "auth/client-credentials-jwt"];

/// The server scenarios that apply to a bot's tools.
const SERVER_SCENARIOS: &[&str] = &["server-initialize", "tools-list"];

/// Runs one scenario of the suite with `suite`, prints its summary, and adds its output to
/// `failed` when it did not pass.
fn run_scenario(suite: &mut Command, scenario: &str, failed: &mut Vec<String>) {
    let out = suite.output().expect("run the conformance suite");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let summary = stdout.lines().filter(|l| l.starts_with("Passed:") || l.contains("OVERALL")).collect::<Vec<_>>();
    eprintln!("conformance {scenario}: {}", summary.join(" "));
    if !out.status.success() {
        failed.push(format!("{scenario}:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr)));
    }
}

fn suite() -> Option<std::path::PathBuf> {
    let suite = repo().join("target/npm-conformance/node_modules/.bin/conformance");
    if !suite.is_file() {
        skip(&format!("{} is not installed (see .ci/run)", suite.display()));
        return None;
    }
    Some(suite)
}

#[test]
fn the_mcp_server_passes_the_official_conformance_scenarios_for_tools() {
    let Some(suite) = suite() else { return };
    let ws = Ws::new();
    ws.write("bots/helper.yaml", "name: helper\n");
    let token = crate::serve::bot_token(&ws, "helper", "conformance");
    let (mut serve, base) = crate::serve::start(&ws);
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let script = npm_script("bearer-proxy");
    let mut proxy = Command::new("node")
        .arg(&script)
        .env("PORT", port.to_string())
        .env("TARGET", &base)
        .env("TOKEN", &token)
        .stdout(Stdio::null())
        .spawn()
        .expect("node runs the proxy");
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(proxy.try_wait().unwrap().is_none(), "the proxy exited");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let results = tempfile::tempdir().expect("temp dir");
    let mut failed = Vec::new();
    for scenario in SERVER_SCENARIOS {
        let mut suite = Command::new(&suite);
        suite.args(["server", "--url", &format!("http://127.0.0.1:{port}/mcp"), "--scenario", scenario]);
        run_scenario(suite.current_dir(results.path()), scenario, &mut failed);
    }
    let _ = proxy.kill();
    let _ = serve.kill();
    let _ = std::fs::remove_file(&script);
    assert!(failed.is_empty(), "scenarios failed:\n{}", failed.join("\n\n"));
}

#[test]
fn the_mcp_client_passes_the_official_conformance_scenarios() {
    let Some(suite) = suite() else { return };
    let client = repo().join("tests/fixtures/mcp/conformance-client.sh");
    let results = tempfile::tempdir().expect("temp dir");
    let mut failed = Vec::new();
    for scenario in SCENARIOS {
        let mut suite = Command::new(&suite);
        suite
            .args(["client", "--scenario", scenario, "--command"])
            .arg(format!("bash {}", client.display()))
            .env("MONSTRUM_BIN", env!("CARGO_BIN_EXE_monstrum"))
            .env_remove("MONSTRUM_DB");
        run_scenario(suite.current_dir(results.path()), scenario, &mut failed);
    }
    assert!(failed.is_empty(), "scenarios failed:\n{}", failed.join("\n\n"));
}
