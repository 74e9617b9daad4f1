//! Signing in to an MCP server (OAuth's authorization-code flow) as a user does: `mcp add` on a
//! server that answers 401 opens the authorization page in `$BROWSER`, here
//! `tests/fixtures/mcp/browser.sh`, a person who signs in at once. The server is
//! `tests/fixtures/mcp/oauth-server.mjs`: an authorization server with dynamic registration,
//! PKCE and rotating refresh tokens, in front of an MCP server that refuses an expired token.

use crate::common::mcp_servers::McpServer;
use crate::common::{Ws, assert_not_in_files, events, finished, repo, text};
use std::process::Output;

/// Runs `args` with the test's browser; its pages are logged to `pages`.
fn with_browser(ws: &Ws, args: &[&str], pages: &std::path::Path) -> Output {
    ws.cmd()
        .args(args)
        .env("BROWSER", repo().join("tests/fixtures/mcp/browser.sh"))
        .env("SIGN_IN_LOG", pages)
        .output()
        .expect("run monstrum")
}

fn call_workspace(ws: &Ws) {
    ws.write("bots/ops.yaml", "name: ops\nresources:\n  - mcp: signed\n    tools: [whoami]\n");
    ws.write("workflows/who.yaml", "name: who\nbot: ops\nsteps:\n  - id: who\n    tool: signed.whoami\n");
}

fn vault_names(ws: &Ws) -> String {
    let out = ws.run(&["vault", "list"]);
    assert!(out.status.success(), "{}", text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_person_signs_in_once_and_the_tokens_are_refreshed_kept_and_never_shown() {
    // Tokens last 10 s, under the 30 s before expiry at which a client refreshes: every
    // connection refreshes, and the refresh token rotates each time.
    let Some(server) = McpServer::signing_in("", 10) else { return };
    let ws = Ws::new();
    call_workspace(&ws);
    let pages = ws.path().join("pages.log");
    let out = with_browser(&ws, &["mcp", "add", "signed", &server.url], &pages);
    assert!(out.status.success(), "mcp add: {}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("asks you to sign in"), "{}", text(&out));
    let page = std::fs::read_to_string(&pages).expect("the browser was opened");
    let base = server.url.trim_end_matches("/mcp");
    assert!(page.starts_with(&format!("{base}/authorize?")), "{page}");
    for part in ["code_challenge_method=S256", "redirect_uri=http%3A%2F%2F127.0.0.1%3A", "resource="] {
        assert!(page.contains(part), "{part} in {page}");
    }
    let grants: Vec<String> = server.issued().iter().map(|e| e["grant"].as_str().unwrap().to_string()).collect();
    assert_eq!(grants[0], "authorization_code", "{grants:?}");
    assert!(grants[1..].iter().all(|g| g == "refresh_token") && grants.len() > 1, "refreshed: {grants:?}");
    assert!(vault_names(&ws).contains("mcp.signed.sign-in"), "the sign-in is kept in the vault");

    // Two runs, each a new process: the second works only if the first kept the refresh token
    // it was given in exchange for the one it used.
    for _ in 0..2 {
        let out = ws.run(&["run", "--json", "workflows/who.yaml"]);
        let evs = events(&out);
        assert_eq!(finished(&evs)["status"], "succeeded", "{}", text(&out));
        assert!(String::from_utf8_lossy(&out.stdout).contains("a signed-in client"), "{}", text(&out));
    }

    // The server revokes everything: the call fails and says how to recover; `mcp login` signs
    // in again, as the same client, and the tools work again.
    let revoke = reqwest::blocking::Client::new().post(format!("{base}/revoke-all")).send().expect("revoke");
    assert!(revoke.status().is_success());
    let out = ws.run(&["run", "--json", "workflows/who.yaml"]);
    assert_eq!(finished(&events(&out))["status"], "failed", "{}", text(&out));
    assert!(text(&out).contains("monstrum mcp login"), "says how to sign in again: {}", text(&out));
    let issued_before = server.issued().len();
    let out = with_browser(&ws, &["mcp", "login", "signed"], &pages);
    assert!(out.status.success(), "mcp login: {}", text(&out));
    assert_eq!(server.issued()[issued_before]["grant"], "authorization_code");
    let out = ws.run(&["run", "--json", "workflows/who.yaml"]);
    assert_eq!(finished(&events(&out))["status"], "succeeded", "{}", text(&out));

    // No token, access or refresh, is in plaintext anywhere in the workspace (the store, the
    // audit, the run records), nor in what the commands printed.
    let audit = ws.run(&["audit", "list", "--json"]);
    let shown = format!("{}{}", text(&audit), text(&ws.run(&["mcp", "list", "--json"])));
    for issued in server.issued() {
        for token in [&issued["access_token"], &issued["refresh_token"]] {
            let token = token.as_str().unwrap();
            assert!(!shown.contains(token), "{token} shown");
            assert_not_in_files(ws.path(), token.as_bytes());
        }
    }

    // Removing the server removes its sign-in.
    let out = ws.run(&["mcp", "remove", "signed"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(!vault_names(&ws).contains("mcp.signed.sign-in"), "the tokens went with the server");
}

#[test]
fn a_refused_or_forged_sign_in_registers_nothing_and_keeps_nothing() {
    for (mode, expected) in
        [("deny", "access_denied (the person said no)"), ("forge-state", "a forged or stale redirect")]
    {
        let Some(server) = McpServer::signing_in(mode, 3600) else { return };
        let ws = Ws::new();
        let pages = ws.path().join("pages.log");
        let out = with_browser(&ws, &["mcp", "add", "signed", &server.url], &pages);
        assert!(!out.status.success(), "{mode}: {}", text(&out));
        let error = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(error.to_lowercase().contains(&expected.to_lowercase()), "{mode}: {error}");
        assert!(server.issued().is_empty(), "{mode}: no token was issued: {:?}", server.issued());
        let listed = ws.run(&["mcp", "list", "--json"]);
        assert!(!String::from_utf8_lossy(&listed.stdout).contains("signed"), "{mode}: {}", text(&listed));
        assert!(!vault_names(&ws).contains("sign-in"), "{mode}: nothing kept");
    }
}
