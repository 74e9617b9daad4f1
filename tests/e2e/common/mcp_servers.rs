//! Real MCP servers for tests, on free loopback ports, killed on drop: the reference server
//! `@modelcontextprotocol/server-everything` (Streamable HTTP), and `tests/fixtures/mcp/
//! drifting-server.mjs` (the official SDK) whose tool list a test rewrites while it runs.
//! Both come from npm in `target/npm` (where `.ci/run` installs them).

use serde_json::Value;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running MCP server.
pub struct McpServer {
    /// `http://127.0.0.1:<port>/mcp`.
    pub url: String,
    dir: tempfile::TempDir,
    child: Child,
    script: Option<PathBuf>,
}

fn node_modules() -> PathBuf {
    crate::common::repo().join("target/npm/node_modules")
}

/// A copy of `tests/fixtures/mcp/<name>.mjs` beside `target/npm/node_modules`, where an ES module
/// finds the packages it imports (they resolve from the script's own folder upward); the caller
/// removes it.
pub fn npm_script(name: &str) -> PathBuf {
    let source = crate::common::repo().join(format!("tests/fixtures/mcp/{name}.mjs"));
    let script = crate::common::repo().join(format!("target/npm/{name}-{}.mjs", uuid::Uuid::new_v4().simple()));
    std::fs::copy(&source, &script).unwrap_or_else(|e| panic!("copy {}: {e}", source.display()));
    script
}

impl McpServer {
    /// server-everything, or `None` (after `skip`) when it or node is not installed.
    pub fn everything() -> Option<McpServer> {
        let entry = node_modules().join("@modelcontextprotocol/server-everything/dist/index.js");
        if !entry.is_file() {
            crate::common::skip(&format!("{} is not installed (see .ci/run)", entry.display()));
            return None;
        }
        Some(McpServer::start(entry, &["streamableHttp"], &[], None))
    }

    /// The drifting server offering the tools in `tools` (a JSON array of MCP tools; see
    /// [`McpServer::set_tools`]), or `None` (after `skip`) when the SDK is not installed.
    pub fn drifting(tools: &Value) -> Option<McpServer> {
        McpServer::drifting_with(tools, false)
    }

    /// The drifting server keeping sessions, so that it can tell a client its list changed.
    pub fn drifting_with_sessions(tools: &Value) -> Option<McpServer> {
        McpServer::drifting_with(tools, true)
    }

    fn drifting_with(tools: &Value, sessions: bool) -> Option<McpServer> {
        if !node_modules().join("@modelcontextprotocol/sdk/package.json").is_file() {
            crate::common::skip("@modelcontextprotocol/sdk is not installed in target/npm (see .ci/run)");
            return None;
        }
        let script = npm_script("drifting-server");
        let dir = tempfile::tempdir().expect("temp dir");
        let tools_file = dir.path().join("tools.json");
        std::fs::write(&tools_file, tools.to_string()).expect("tools file");
        let headers = dir.path().join("headers.log");
        let stateful = PathBuf::from(if sessions { "1" } else { "0" });
        let env = [("TOOLS_FILE", tools_file), ("HEADERS_LOG", headers), ("STATEFUL", stateful)];
        let mut server = McpServer::start(script.clone(), &[], &env, Some(dir));
        server.script = Some(script);
        Some(server)
    }

    /// An MCP server behind an OAuth authorization server of its own
    /// (`tests/fixtures/mcp/oauth-server.mjs`), whose access tokens last `expires_in` seconds; in
    /// `mode` `deny` it refuses every sign-in, in `forge-state` it answers with a forged state.
    /// `None` (after `skip`) when the SDK is not installed.
    pub fn signing_in(mode: &str, expires_in: u32) -> Option<McpServer> {
        if !node_modules().join("@modelcontextprotocol/sdk/package.json").is_file() {
            crate::common::skip("@modelcontextprotocol/sdk is not installed in target/npm (see .ci/run)");
            return None;
        }
        let script = npm_script("oauth-server");
        let dir = tempfile::tempdir().expect("temp dir");
        let env = [
            ("EVENTS_LOG", dir.path().join("events.log")),
            ("MODE", PathBuf::from(mode)),
            ("EXPIRES_IN", PathBuf::from(expires_in.to_string())),
        ];
        let mut server = McpServer::start(script.clone(), &[], &env, Some(dir));
        server.script = Some(script);
        Some(server)
    }

    /// The tokens the OAuth server issued, oldest first: `{grant, access_token, refresh_token}`.
    pub fn issued(&self) -> Vec<Value> {
        std::fs::read_to_string(self.dir.path().join("events.log"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("an event line"))
            .collect()
    }

    fn start(entry: PathBuf, args: &[&str], env: &[(&str, PathBuf)], dir: Option<tempfile::TempDir>) -> McpServer {
        let dir = dir.unwrap_or_else(|| tempfile::tempdir().expect("temp dir"));
        let port = TcpListener::bind("127.0.0.1:0").expect("free port").local_addr().expect("addr").port();
        let log = std::fs::File::create(dir.path().join("server.log")).expect("log file");
        let mut cmd = Command::new("node");
        cmd.arg(&entry).args(args).env("PORT", port.to_string());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(log).spawn().expect("node starts");
        let mut server = McpServer { url: format!("http://127.0.0.1:{port}/mcp"), dir, child, script: None };
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("the MCP server exited ({status}): {}", server.log());
            }
            assert!(started.elapsed() < Duration::from_secs(60), "the MCP server did not listen: {}", server.log());
            std::thread::sleep(Duration::from_millis(100));
        }
        server
    }

    /// Replaces the drifting server's tool list (read again on its next request).
    pub fn set_tools(&self, tools: &Value) {
        std::fs::write(self.dir.path().join("tools.json"), tools.to_string()).expect("tools file");
    }

    /// The headers of every request the drifting server received, oldest first.
    pub fn requests(&self) -> Vec<Value> {
        std::fs::read_to_string(self.dir.path().join("headers.log"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("a header line"))
            .collect()
    }

    /// What the server wrote on stderr.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    /// Stops the server (its port refuses connections from now on).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for McpServer {
    fn drop(&mut self) {
        self.stop();
        if let Some(script) = &self.script {
            let _ = std::fs::remove_file(script);
        }
    }
}
