//! Two instances of one plugin are isolated by name, credential and scope (DESIGN.md, "Plugins
//! and the host"): one bot bound to the built-in `github` plugin twice (`github-work` and
//! `github-personal`, two vault entries, two repository scopes) against a local server speaking
//! GitHub's REST format; and two instances of a guest that uses the `kv` capability, which
//! cannot read each other's keys. The real binary, the scripted model, the real WebAssembly host.

use crate::common::{Ws, events, finished, of_type, text};
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use serde_json::{Value, json};
use std::path::Path;
use std::sync::{Arc, Mutex};

const WORK_TOKEN: &str = "ghp_WORK4c1e0b7d9a2f";
const PERSONAL_TOKEN: &str = "ghp_PERSONAL8e3b2a61f0c7";

/// A request the server received: method, path, Authorization header.
type Seen = (String, String, Option<String>);

/// Speaks the part of GitHub's REST API the calls below use.
async fn github(
    State(seen): State<Arc<Mutex<Vec<Seen>>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> (StatusCode, String) {
    let authorization = headers.get("authorization").and_then(|v| v.to_str().ok()).map(str::to_string);
    let path = uri.path().to_string();
    seen.lock().unwrap().push((method.to_string(), path.clone(), authorization));
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let (status, value) = match (method.as_str(), parts.as_slice()) {
        ("GET", ["repos", owner, repo, "issues", n]) => (
            StatusCode::OK,
            json!({ "number": n.parse::<u64>().unwrap_or(0), "title": format!("Issue in {owner}/{repo}"), "state": "open",
                    "body": "", "user": { "login": "octocat" }, "labels": [], "comments": 0,
                    "html_url": format!("https://github.example/{owner}/{repo}/issues/{n}") }),
        ),
        ("POST", ["repos", owner, repo, "issues", n, "comments"]) => (
            StatusCode::CREATED,
            json!({ "id": 1, "html_url": format!("https://github.example/{owner}/{repo}/issues/{n}#c1"), "user": { "login": "me" } }),
        ),
        _ => (StatusCode::NOT_FOUND, json!({ "message": "Not Found" })),
    };
    (status, value.to_string())
}

fn serve(seen: Arc<Mutex<Vec<Seen>>>) -> String {
    crate::common::serve(Router::new().fallback(github).with_state(seen))
}

#[test]
fn two_github_instances_are_isolated_by_name_credential_and_scope() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let api = serve(seen.clone());
    let ws = Ws::new();
    ws.write(
        "bots/me.yaml",
        &format!(
            r#"name: me
model: {{ provider: scripted, script: scripts/me.yaml }}
resources:
  - plugin: github
    instance: github-work
    credential: gh-work-token
    tools: [get_issue, create_comment]
    scope: {{ repos: ["acme/*"] }}
    config: {{ api_url: "{api}" }}
  - plugin: github
    instance: github-personal
    credential: gh-personal-token
    tools: [get_issue, create_comment]
    scope: {{ repos: ["me/*"] }}
    config: {{ api_url: "{api}" }}
"#
        ),
    );
    ws.write(
        "scripts/me.yaml",
        r#"
- tool_calls:
    - { name: github-work.get_issue, arguments: { repo: acme/site, number: 1 } }
    - { name: github-personal.get_issue, arguments: { repo: me/dotfiles, number: 2 } }
    - { name: github-work.get_issue, arguments: { repo: me/dotfiles, number: 3 } }
    - { name: github-personal.create_comment, arguments: { repo: acme/site, number: 1, body: "from home" } }
    - { name: github-personal.create_comment, arguments: { repo: me/dotfiles, number: 2, body: "noted" } }
    - { name: github.get_issue, arguments: { repo: acme/site, number: 1 } }
- text: done
"#,
    );
    ws.write(
        "workflows/both.yaml",
        "name: both\nbot: me\nsteps:\n  - id: look\n    llm: { prompt: \"Look at both.\" }\n",
    );
    ws.vault_set("gh-work-token", WORK_TOKEN);
    ws.vault_set("gh-personal-token", PERSONAL_TOKEN);

    let out = ws.run(&["run", "--json", "workflows/both.yaml"]);
    let evs = events(&out);
    assert_eq!(finished(&evs)["status"], "succeeded", "{}", text(&out));

    // The model sees both instances' tools, under their instance names, and nothing else of github.
    let offered: Vec<String> = of_type(&evs, "llm_request")[0]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .filter(|t| t.starts_with("github"))
        .map(str::to_string)
        .collect();
    let mut offered_sorted = offered.clone();
    offered_sorted.sort();
    assert_eq!(
        offered_sorted,
        [
            "github-personal.create_comment",
            "github-personal.get_issue",
            "github-work.create_comment",
            "github-work.get_issue"
        ]
    );

    let calls: Vec<(String, String, String)> = of_type(&evs, "tool_call")
        .iter()
        .map(|e| {
            let s = |k: &str| e[k].as_str().unwrap_or_default().to_string();
            (s("tool"), s("decision"), s("reason"))
        })
        .collect();
    let decisions: Vec<&str> = calls.iter().map(|c| c.1.as_str()).collect();
    assert_eq!(decisions, ["allowed", "allowed", "denied", "denied", "allowed", "denied"], "{calls:?}");
    assert!(calls[2].2.contains("scope `repos`"), "work's scope does not admit personal's repo: {calls:?}");
    assert!(calls[3].2.contains("scope `repos`"), "personal's scope does not admit work's repo: {calls:?}");
    assert_eq!(calls[5].2, "no such tool: github.get_issue", "the plugin's own name is no instance");

    // Each request carries its own instance's token, and only the calls in scope were made (the
    // calls of one turn may run in parallel, so in any order).
    let mut seen = seen.lock().unwrap().clone();
    seen.sort();
    let bearer = |t: &str| Some(format!("Bearer {t}"));
    let expected: Vec<Seen> = vec![
        ("GET".into(), "/repos/acme/site/issues/1".into(), bearer(WORK_TOKEN)),
        ("GET".into(), "/repos/me/dotfiles/issues/2".into(), bearer(PERSONAL_TOKEN)),
        ("POST".into(), "/repos/me/dotfiles/issues/2/comments".into(), bearer(PERSONAL_TOKEN)),
    ];
    assert_eq!(seen, expected);
    let all = format!("{}{}", text(&out), text(&ws.run(&["--json", "audit", "list"])));
    assert!(!all.contains(WORK_TOKEN) && !all.contains(PERSONAL_TOKEN), "no token in the output or the trail");
    // The trail records each call under its instance.
    let audit = events(&ws.run(&["--json", "audit", "list", "--decision", "denied", "--kind", "tool_call"]));
    let denied: Vec<&str> = audit.iter().filter_map(|r| r["tool"].as_str()).collect();
    assert_eq!(denied, ["github-work.get_issue", "github-personal.create_comment", "github.get_issue"], "{audit:?}");
}

/// The guests `runtime/core/build.rs` built next to the binary.
fn guest(lib: &str) -> std::path::PathBuf {
    let bin = Path::new(env!("CARGO_BIN_EXE_monstrum"));
    let target = bin.parent().and_then(Path::parent).expect("the binary is in <target>/<profile>/");
    let wasm = target.join("guests/wasm32-wasip2/release").join(format!("{lib}.wasm"));
    assert!(wasm.is_file(), "{} was not built by runtime/core/build.rs", wasm.display());
    wasm
}

#[test]
fn two_instances_of_a_kv_plugin_cannot_read_each_others_keys() {
    // The test guest that uses `kv`, packed and installed like any third-party plugin.
    let ws = Ws::new();
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        crate::common::repo().join("plugins/testing/sandbox-test/manifest.yaml"),
        dir.path().join("manifest.yaml"),
    )
    .unwrap();
    std::fs::copy(guest("sandbox_test"), dir.path().join("sandbox-test.wasm")).unwrap();
    let file = ws.path().join("sandbox-test.mst");
    let o = ws.run(&["plugin", "pack", dir.path().to_str().unwrap(), "-o", file.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    let o = ws.run(&["plugin", "install", file.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));

    ws.write(
        "bots/keeper.yaml",
        r#"name: keeper
model: { provider: scripted, script: scripts/none.yaml }
resources:
  - { plugin: sandbox-test, instance: box-a, tools: [kv_set, kv_get] }
  - { plugin: sandbox-test, instance: box-b, tools: [kv_set, kv_get] }
"#,
    );
    ws.write("scripts/none.yaml", "- text: nothing\n");
    ws.write(
        "workflows/kv.yaml",
        r#"name: kv
bot: keeper
steps:
  - id: a-set
    tool: box-a.kv_set
    with: { key: shared, value: secret-of-a }
  - id: b-reads
    needs: [a-set]
    tool: box-b.kv_get
    with: { key: shared }
  - id: b-set
    needs: [b-reads]
    tool: box-b.kv_set
    with: { key: shared, value: value-of-b }
  - id: a-reads
    needs: [b-set]
    tool: box-a.kv_get
    with: { key: shared }
  - id: b-reads-own
    needs: [b-set]
    tool: box-b.kv_get
    with: { key: shared }
"#,
    );
    let out = ws.run(&["run", "--json", "workflows/kv.yaml"]);
    let evs = events(&out);
    assert_eq!(finished(&evs)["status"], "succeeded", "{}", text(&out));
    let output = |step: &str| {
        of_type(&evs, "step_finished").into_iter().find(|e| e["step"] == step).map(|e| e["output"].clone()).unwrap()
    };
    assert_eq!(output("b-reads"), Value::Null, "box-b does not see box-a's key");
    assert_eq!(output("a-reads"), json!("secret-of-a"), "box-b's write did not touch box-a's key");
    assert_eq!(output("b-reads-own"), json!("value-of-b"));
}
