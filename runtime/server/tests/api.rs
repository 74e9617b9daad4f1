//! The API through its router (no socket): the role table walked over the OpenAPI document, runs
//! started and streamed, approvals decided by the right token only, bad input refused with JSON.

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use monstrum_core::workspace::Workspace;
use monstrum_server::auth::{hash_token, new_token};
use monstrum_server::state::App;
use serde_json::{Value, json};
use std::time::Duration;
use tower::ServiceExt;

struct Server {
    _dir: std::sync::Arc<tempfile::TempDir>,
    app: App,
    router: Router,
}

const HELLO: &str = r#"name: hello
inputs:
  who: { type: string, default: world }
steps:
  - { id: greet, tool: core.echo, with: { text: "hello {{ inputs.who }}" } }
  - { id: pause, needs: [greet], tool: core.wait, with: { seconds: 0.05 } }
  - { id: done, needs: [pause], tool: core.echo, with: { ok: true } }
outputs:
  text: "{{ steps.greet.output.text }}"
"#;

const GATED: &str = r#"name: gated
steps:
  - { id: check, tool: core.echo, with: { healthy: false } }
  - id: gate
    needs: [check]
    approval: { message: "restart?", self_approval: false }
  - { id: restart, needs: [gate], tool: core.echo, with: { by: "{{ steps.gate.by }}" } }
"#;

const EXPIRING: &str = r#"name: expiring
steps:
  - id: gate
    approval: { message: "quick!", timeout: 300ms }
  - { id: after, needs: [gate], tool: core.echo, with: { x: 1 } }
"#;

const BOT: &str = r#"name: helper
description: reads issues
model: { provider: scripted, script: scripts/none.yaml }
"#;

async fn server() -> Server {
    let dir = tempfile::tempdir().unwrap();
    for (file, text) in [
        ("workflows/hello.yaml", HELLO),
        ("workflows/gated.yaml", GATED),
        ("workflows/expiring.yaml", EXPIRING),
        ("bots/helper.yaml", BOT),
    ] {
        let path = dir.path().join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    open(std::sync::Arc::new(dir)).await
}

async fn open(dir: std::sync::Arc<tempfile::TempDir>) -> Server {
    let workspace = Workspace::discover(Some(dir.path()), dir.path()).unwrap();
    let app = App::open(workspace, None).await.unwrap();
    let router = monstrum_server::router(app.clone());
    Server { _dir: dir, app, router }
}

impl Server {
    /// Another server on the same workspace and store, as after a restart (this one's runs are
    /// not driven by it).
    async fn restarted(&self) -> Server {
        open(self._dir.clone()).await
    }

    /// A run's stream read to its end, after `after`: (id, event) pairs.
    async fn stream(&self, run: &str, token: &str, after: Option<u64>) -> Vec<(u64, Value)> {
        let mut request =
            Request::get(format!("/api/runs/{run}/events")).header("authorization", format!("Bearer {token}"));
        if let Some(after) = after {
            request = request.header("last-event-id", after.to_string());
        }
        let response = self.router.clone().oneshot(request.body(Body::empty()).unwrap()).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8(body.to_vec()).unwrap();
        let mut out = Vec::new();
        let mut id = None;
        for line in text.lines() {
            if let Some(n) = line.strip_prefix("id: ") {
                id = Some(n.parse().unwrap());
            } else if let Some(d) = line.strip_prefix("data: ") {
                out.push((
                    id.take().expect("every event of a run's stream has an id"),
                    serde_json::from_str(d).unwrap(),
                ));
            }
        }
        out
    }

    /// A new token of `role` named `name`.
    async fn token(&self, name: &str, role: &str) -> String {
        let (token, hash) = new_token().unwrap();
        assert!(self.app.store.create_token(name, role, None, &hash).await.unwrap());
        token
    }

    async fn call(&self, method: Method, path: &str, token: Option<&str>, body: Option<&str>) -> (StatusCode, Vec<u8>) {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(t) = token {
            request = request.header("authorization", format!("Bearer {t}"));
        }
        if body.is_some() {
            request = request.header("content-type", "application/json");
        }
        let request = request.body(body.map(|b| Body::from(b.to_string())).unwrap_or_else(Body::empty)).unwrap();
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let sse =
            response.headers().get("content-type").is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
        if sse && path == "/api/events" {
            return (status, Vec::new()); // never ends
        }
        (status, response.into_body().collect().await.unwrap().to_bytes().to_vec())
    }

    async fn json(&self, method: Method, path: &str, token: &str, body: Option<&str>) -> (StatusCode, Value) {
        let (status, bytes) = self.call(method, path, Some(token), body).await;
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into())),
        )
    }

    /// The `data:` objects of a run's event stream, read to its end.
    async fn events(&self, run: &str, token: &str) -> Vec<Value> {
        let (status, bytes) = self.call(Method::GET, &format!("/api/runs/{run}/events"), Some(token), None).await;
        assert_eq!(status, StatusCode::OK);
        String::from_utf8(bytes)
            .unwrap()
            .lines()
            .filter_map(|l| l.strip_prefix("data: "))
            .map(|d| serde_json::from_str(d).unwrap())
            .collect()
    }

    async fn run_status(&self, run: &str, token: &str) -> String {
        let (_, detail) = self.json(Method::GET, &format!("/api/runs/{run}"), token, None).await;
        detail["run"]["status"].as_str().unwrap_or_default().to_string()
    }
}

/// DESIGN.md's table, written out here (not read from the server's): the least role per route.
fn expected_role(method: &str, path: &str) -> &'static str {
    match (method, path) {
        ("get", "/api/vault") | ("put", "/api/vault/{name}") => "admin",
        // Publishing to the marketplace index (issue 11: "publishing needs the admin role").
        ("put", "/api/marketplace/{kind}/{name}/{version}") => "admin",
        // What bots may call of an MCP server is an admin's decision (issue 12).
        ("post", "/api/mcp/{name}/refresh") | ("post", "/api/mcp/{name}/tools/{tool}/approve") => "admin",
        ("post", "/api/runs") | ("post", "/api/runs/{id}/resume") | ("post", "/api/runs/{id}/cancel") => "editor",
        ("post", "/api/workflows") | ("put", "/api/workflows/{name}") | ("post", "/api/workflows/{name}/rollback") => {
            "editor"
        }
        // The editor's node positions, beside the file: saved by those who may save it.
        ("put", "/api/workflows/{name}/layout") => "editor",
        ("post", "/api/runs/{id}/approvals/{step}") => "approver",
        ("get", _) | ("post", "/api/workflows/validate") => "viewer",
        _ => panic!("{method} {path} is in the document but not in DESIGN.md's table"),
    }
}

#[tokio::test]
async fn every_route_of_the_document_answers_each_role_as_the_table_says() {
    let s = server().await;
    let roles = ["viewer", "approver", "editor", "admin"];
    let mut tokens = Vec::new();
    for role in roles {
        tokens.push(s.token(&format!("t-{role}"), role).await);
    }
    let revoked = s.token("gone", "admin").await;
    assert!(s.app.store.revoke_token("gone").await.unwrap());
    let (bot_token, hash) = new_token().unwrap();
    assert!(s.app.store.create_token("ide", "bot", Some("helper"), &hash).await.unwrap());

    let (status, doc) = s.call(Method::GET, "/api/openapi.json", None, None).await;
    assert_eq!(status, StatusCode::OK);
    let doc: Value = serde_json::from_slice(&doc).unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"), "OpenAPI 3.1: {}", doc["openapi"]);
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.len() >= 15, "{} paths", paths.len());
    let mut walked = 0;
    for (path, item) in paths {
        for method in item.as_object().unwrap().keys() {
            let need = expected_role(method, path);
            let concrete = path
                .replace("{id}", "no-such-run")
                .replace("{name}", "no-such")
                .replace("{step}", "x")
                .replace("{tool}", "x");
            let m: Method = method.to_uppercase().parse().unwrap();
            let body = matches!(method.as_str(), "post" | "put").then_some("{}");
            let (status, _) = s.call(m.clone(), &concrete, None, body).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path} without a token");
            let (status, _) = s.call(m.clone(), &concrete, Some(&revoked), body).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path} with a revoked token");
            let (status, _) = s.call(m.clone(), &concrete, Some("mst_forged"), body).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path} with a forged token");
            let (status, _) = s.call(m.clone(), &concrete, Some(&bot_token), body).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path} with a bot's token (it opens /mcp only)");
            let need_rank = roles.iter().position(|r| *r == need).unwrap();
            for (rank, token) in tokens.iter().enumerate() {
                let (status, body_out) = s.call(m.clone(), &concrete, Some(token), body).await;
                if rank < need_rank {
                    assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path} as {}", roles[rank]);
                } else {
                    assert!(
                        status != StatusCode::FORBIDDEN
                            && status != StatusCode::UNAUTHORIZED
                            && !status.is_server_error(),
                        "{method} {path} as {}: {status} {}",
                        roles[rank],
                        String::from_utf8_lossy(&body_out)
                    );
                }
            }
            walked += 1;
        }
    }
    assert!(walked >= 25, "walked {walked} routes");
    // /health alone is open.
    let (status, body) = s.call(Method::GET, "/health", None, None).await;
    assert_eq!((status, serde_json::from_slice::<Value>(&body).unwrap()), (StatusCode::OK, json!({ "status": "ok" })));
}

#[tokio::test]
async fn a_run_started_through_the_api_is_driven_and_streamed_to_its_end() {
    let s = server().await;
    let editor = s.token("erin", "editor").await;
    let (status, started) =
        s.json(Method::POST, "/api/runs", &editor, Some(r#"{"workflow":"hello","inputs":{"who":"team"}}"#)).await;
    assert_eq!(status, StatusCode::CREATED, "{started}");
    let run = started["run"].as_str().unwrap().to_string();
    let events = s.events(&run, &editor).await;
    let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(types.first(), Some(&"run_started"), "{types:?}");
    assert_eq!(types.last(), Some(&"run_finished"), "{types:?}");
    assert_eq!(types.iter().filter(|t| **t == "step_finished").count(), 3, "{types:?}");
    assert!(types.contains(&"tool_call"), "every call passes the gate: {types:?}");
    let last = events.last().unwrap();
    assert_eq!(last["status"], "succeeded");
    assert_eq!(last["outputs"]["text"], "hello team");
    let (_, detail) = s.json(Method::GET, &format!("/api/runs/{run}"), &editor, None).await;
    assert_eq!(detail["run"]["started_by"], "erin");
    assert_eq!(detail["steps"].as_array().unwrap().len(), 3);
    // A unique prefix names the run; LIKE's wildcards name nothing.
    let (status, _) = s.json(Method::GET, &format!("/api/runs/{}", &run[..8]), &editor, None).await;
    assert_eq!(status, StatusCode::OK);
    for wild in ["%25%25%25%25%25%25".to_string(), "_".repeat(run.len()), format!("{}%25", &run[..4])] {
        let (status, answer) = s.json(Method::GET, &format!("/api/runs/{wild}"), &editor, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{wild}: {answer}");
    }

    // From Last-Event-ID: only what came after.
    let request = Request::get(format!("/api/runs/{run}/events"))
        .header("authorization", format!("Bearer {editor}"))
        .header("last-event-id", (events.len() - 1).to_string())
        .body(Body::empty())
        .unwrap();
    let body = s.router.clone().oneshot(request).await.unwrap().into_body().collect().await.unwrap().to_bytes();
    let rest: Vec<&str> = std::str::from_utf8(&body).unwrap().lines().filter(|l| l.starts_with("data: ")).collect();
    assert_eq!(rest.len(), 1, "{rest:?}");
    assert!(rest[0].contains("run_finished"));

    // Resumed from a step and streamed at once: the stream follows the resumed run to its end
    // rather than stopping at the first run's `run_finished`.
    let (status, _) = s.json(Method::POST, &format!("/api/runs/{run}/resume"), &editor, Some("{}")).await;
    assert_eq!(status, StatusCode::CONFLICT, "a run that succeeded runs again only from a step");
    let (status, _) =
        s.json(Method::POST, &format!("/api/runs/{run}/resume"), &editor, Some(r#"{"from":"pause"}"#)).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let again = s.events(&run, &editor).await;
    let starts = again.iter().filter(|e| e["type"] == "run_started").count();
    let ends = again.iter().filter(|e| e["type"] == "run_finished").count();
    assert_eq!((starts, ends), (2, 2), "{again:?}");
    assert_eq!(again.last().unwrap()["status"], "succeeded");

    // The audit trail has the calls, and its chain holds.
    let (_, audit) = s.json(Method::GET, &format!("/api/audit?run={run}"), &editor, None).await;
    assert!(audit.as_array().unwrap().len() >= 3, "{audit}");
    let (_, verify) = s.json(Method::GET, "/api/audit/verify", &editor, None).await;
    assert_eq!(verify["intact"], true, "{verify}");
}

#[tokio::test]
async fn a_gate_that_forbids_self_approval_refuses_the_token_that_started_the_run() {
    let s = server().await;
    let alice = s.token("alice", "editor").await;
    let bob = s.token("bob", "approver").await;
    let viewer = s.token("vic", "viewer").await;
    let (_, started) = s.json(Method::POST, "/api/runs", &alice, Some(r#"{"workflow":"gated"}"#)).await;
    let run = started["run"].as_str().unwrap().to_string();
    let events = s.events(&run, &alice).await;
    assert!(events.iter().any(|e| e["type"] == "approval_requested"), "{events:?}");
    assert_eq!(events.last().unwrap()["status"], "waiting");
    let (_, pending) = s.json(Method::GET, "/api/approvals", &viewer, None).await;
    assert_eq!(pending.as_array().unwrap().len(), 1, "{pending}");

    let path = format!("/api/runs/{run}/approvals/gate");
    let (status, refused) = s.json(Method::POST, &path, &alice, Some(r#"{"approve":true}"#)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");
    assert!(refused["error"]["message"].as_str().unwrap().contains("self-approval"), "{refused}");
    let (status, _) = s.json(Method::POST, &path, &viewer, Some(r#"{"approve":true}"#)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(s.run_status(&run, &viewer).await, "waiting", "nothing moved");

    let (status, decided) = s.json(Method::POST, &path, &bob, Some(r#"{"approve":true,"comment":"go"}"#)).await;
    assert_eq!(status, StatusCode::OK, "{decided}");
    assert_eq!(decided["by"], "bob");
    let (status, _) = s.json(Method::POST, &path, &bob, Some(r#"{"approve":false}"#)).await;
    assert_eq!(status, StatusCode::CONFLICT, "decided once");
    for _ in 0..200 {
        if s.run_status(&run, &viewer).await == "succeeded" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (_, detail) = s.json(Method::GET, &format!("/api/runs/{run}"), &viewer, None).await;
    assert_eq!(detail["run"]["status"], "succeeded", "{detail}");
    let restart = detail["steps"].as_array().unwrap().iter().find(|s| s["step_key"] == "restart").unwrap();
    assert_eq!(restart["output"]["by"], "bob");
}

#[tokio::test]
async fn an_expired_gate_is_swept_by_the_server_without_anybody_driving_the_run() {
    let s = server().await;
    let editor = s.token("erin", "editor").await;
    let sweeper = s.app.driver.sweep_expired(Duration::from_millis(50));
    let (_, started) = s.json(Method::POST, "/api/runs", &editor, Some(r#"{"workflow":"expiring"}"#)).await;
    let run = started["run"].as_str().unwrap().to_string();
    let mut status = String::new();
    for _ in 0..200 {
        status = s.run_status(&run, &editor).await;
        if status != "waiting" && status != "running" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    sweeper.abort();
    let (_, detail) = s.json(Method::GET, &format!("/api/runs/{run}"), &editor, None).await;
    let gate =
        detail["steps"].as_array().unwrap().iter().find(|s| s["step_key"] == "gate").cloned().unwrap_or_default();
    assert_eq!(gate["status"], "rejected", "expiry rejects (status {status}): {detail}");
    let after =
        detail["steps"].as_array().unwrap().iter().find(|s| s["step_key"] == "after").cloned().unwrap_or_default();
    assert_eq!(after["status"], "skipped", "{detail}");
}

#[tokio::test]
async fn bad_input_gets_a_json_error_and_changes_nothing() {
    let s = server().await;
    let editor = s.token("erin", "editor").await;
    let admin = s.token("ada", "admin").await;
    for (body, want) in [
        ("{not json", StatusCode::BAD_REQUEST),
        (r#"{"workflow":"hello","extra":1}"#, StatusCode::UNPROCESSABLE_ENTITY),
        (r#"{"workflow":"../../etc/passwd"}"#, StatusCode::BAD_REQUEST),
        (r#"{"workflow":"nope"}"#, StatusCode::NOT_FOUND),
        (r#"{"workflow":"hello","inputs":{"unknown":1}}"#, StatusCode::UNPROCESSABLE_ENTITY),
    ] {
        let (status, answer) = s.json(Method::POST, "/api/runs", &editor, Some(body)).await;
        assert_eq!(status, want, "{body}: {answer}");
        assert!(answer["error"]["code"].is_string() && answer["error"]["message"].is_string(), "{body}: {answer}");
    }
    let (_, runs) = s.json(Method::GET, "/api/runs", &editor, None).await;
    assert_eq!(runs, json!([]), "no run was started");
    let (status, _) = s.json(Method::GET, "/api/runs?limit=0", &editor, None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = s.json(Method::GET, "/api/runs?colour=red", &editor, None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, e) = s.json(Method::GET, "/api/runs/0000000000", &editor, None).await;
    assert_eq!((status, e["error"]["code"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")));

    // A refusal comes before the body is read: the server says it closes the connection.
    let request = Request::post("/api/runs").header("content-type", "application/json").body(Body::from("{}")).unwrap();
    let refused = s.router.clone().oneshot(request).await.unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(refused.headers().get("connection").map(|v| v.as_bytes()), Some(&b"close"[..]));

    // A body past the limit is refused before it is read.
    let huge = format!(r#"{{"value":"{}"}}"#, "x".repeat(monstrum_server::MAX_BODY + 1));
    let (status, _) = s.json(Method::PUT, "/api/vault/big", &admin, Some(&huge)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);

    // A workflow that does not validate: each problem with its line.
    let (status, body) = s
        .call(
            Method::POST,
            "/api/workflows/validate",
            Some(&editor),
            Some("name: x\nsteps:\n  - id: a\n    tool: core.echo\n    needs: [ghost]\n"),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["valid"], false, "{v}");
    assert_eq!(v["diagnostics"][0]["line"], 5, "{v}");
    let (status, _) = s.call(Method::POST, "/api/workflows/validate", Some(&editor), Some("  \n")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "an empty body is no workflow");
    let (_, v) = s.json(Method::POST, "/api/workflows/validate", &editor, Some(HELLO)).await;
    assert_eq!(v, json!({ "valid": true, "diagnostics": [] }));

    // A file named by a workflow is never looked for outside the workspace: not a bot, a
    // script or a sub-workflow (a viewer could otherwise probe the machine's files).
    std::fs::write("/tmp/monstrum-probe.yaml", "name: probe\n").unwrap();
    let probe = "name: probe\nbot: ../../../../../../tmp/monstrum-probe\nsteps:\n  - { id: a, workflow: ../../../../../../tmp/monstrum-probe.yaml }\n  - { id: b, llm: { prompt: hi, model: { provider: scripted, script: /tmp/monstrum-probe.yaml } } }\n";
    let (_, body) = s.call(Method::POST, "/api/workflows/validate", Some(&editor), Some(probe)).await;
    let v: Value = serde_json::from_slice(&body).unwrap();
    let messages: Vec<&str> =
        v["diagnostics"].as_array().unwrap().iter().map(|d| d["message"].as_str().unwrap()).collect();
    assert!(messages.iter().any(|m| m.contains("is not a bot name")), "{messages:?}");
    assert_eq!(
        messages.iter().filter(|m| m.contains("outside the workspace") || m.contains("does not exist")).count(),
        2,
        "{messages:?}"
    );
}

#[tokio::test]
async fn the_vault_is_write_only_and_no_answer_carries_a_secret() {
    let s = server().await;
    let admin = s.token("ada", "admin").await;
    let (status, _) = s.json(Method::PUT, "/api/vault/gh-token", &admin, Some(r#"{"value":"s3cr3t-value-42"}"#)).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = s.json(Method::PUT, "/api/vault/Bad%20Name", &admin, Some(r#"{"value":"x"}"#)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (_, names) = s.json(Method::GET, "/api/vault", &admin, None).await;
    assert_eq!(names[0]["name"], "gh-token");
    for path in ["/api/vault", "/api/audit", "/api/runs", "/api/bots/helper", "/api/plugins"] {
        let (_, body) = s.call(Method::GET, path, Some(&admin), None).await;
        assert!(!String::from_utf8_lossy(&body).contains("s3cr3t-value-42"), "{path} leaks the secret");
    }
    let tokens = s.app.store.tokens().await.unwrap();
    assert!(tokens.iter().all(|t| t.hash.len() == 64 && !t.hash.starts_with("mst_")), "only hashes are kept");
    assert_eq!(hash_token("mst_x").len(), 64);
}

#[tokio::test]
async fn a_bot_shows_the_tools_the_gate_offers_it() {
    let s = server().await;
    let viewer = s.token("vic", "viewer").await;
    let (status, bot) = s.json(Method::GET, "/api/bots/helper", &viewer, None).await;
    assert_eq!(status, StatusCode::OK, "{bot}");
    let shown: Vec<String> =
        bot["tools"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap().to_string()).collect();
    let gate = &s.app.engine.gate;
    let offered: Vec<String> =
        gate.visible_tools(&gate.principal(Some("helper")), None).iter().map(|t| t.name.clone()).collect();
    assert_eq!(shown, offered);
    assert!(shown.iter().any(|t| t == "core.echo"), "{shown:?}");
    let (status, _) = s.json(Method::GET, "/api/bots/ghost", &viewer, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // A bot's name is the rule of bots/ (dots allowed), not a workflow's; a path is refused.
    std::fs::write(s.app.workspace().root.join("bots/ops.v2.yaml"), BOT.replace("helper", "ops.v2")).unwrap();
    let (status, bot) = s.json(Method::GET, "/api/bots/ops.v2", &viewer, None).await;
    assert_eq!((status, bot["name"].as_str()), (StatusCode::OK, Some("ops.v2")), "{bot}");
    let (status, _) = s.json(Method::GET, "/api/bots/..%2Fworkflows%2Fhello", &viewer, None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // Skills as the workspace has them, and one that does not load says why.
    let skills = s._dir.path().join("skills");
    std::fs::create_dir_all(skills.join("triage")).unwrap();
    std::fs::write(
        skills.join("triage/SKILL.md"),
        "---\nname: triage\ndescription: read logs first\ntools: [gh.get_issue]\n---\n# How\n",
    )
    .unwrap();
    std::fs::create_dir_all(skills.join("broken")).unwrap();
    std::fs::write(skills.join("broken/SKILL.md"), "no front matter\n").unwrap();
    let (status, list) = s.json(Method::GET, "/api/skills", &viewer, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list[1]["name"], "triage", "{list}");
    assert_eq!(
        (list[1]["description"].as_str(), list[1]["tools"][0].as_str()),
        (Some("read logs first"), Some("gh.get_issue"))
    );
    assert!(list[0]["problem"].as_str().is_some_and(|p| p.contains("SKILL.md")), "{list}");
    assert_eq!(list[0]["scope"], json!({}), "the document's type, even for a skill that does not load");
    let (_, bots) = s.json(Method::GET, "/api/bots", &viewer, None).await;
    assert_eq!(
        bots,
        json!([{ "name": "helper", "description": "reads issues" }, { "name": "ops.v2", "description": "reads issues" }])
    );
}

#[tokio::test]
async fn saves_are_versions_and_a_save_over_an_old_version_is_refused() {
    let s = server().await;
    let erin = s.token("erin", "editor").await;
    let path = "/api/workflows/hello";
    let file = s._dir.path().join("workflows/hello.yaml");
    let (_, got) = s.json(Method::GET, path, &erin, None).await;
    assert_eq!((got["version"].clone(), got["valid"].clone()), (Value::Null, json!(true)), "{got}");

    // A text that does not validate: the diagnostics, and nothing written.
    let bad = json!({ "text": "name: hello\nsteps:\n  - { id: a, tool: core.echo, needs: [ghost] }\n" }).to_string();
    let (status, refused) = s.json(Method::PUT, path, &erin, Some(&bad)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert_eq!(refused["error"]["diagnostics"][0]["line"], 3, "{refused}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), HELLO);
    let (_, versions) = s.json(Method::GET, "/api/workflows/hello/versions", &erin, None).await;
    assert_eq!(versions, json!([]));

    // A save keeps the file as found (version 1) and stores the new text (version 2).
    let edited = HELLO.replace("default: world", "default: planet");
    let body = json!({ "text": edited, "message": "planet" }).to_string();
    let (status, saved) = s.json(Method::PUT, path, &erin, Some(&body)).await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    assert_eq!((saved["version"].as_i64(), saved["created"].as_bool()), (Some(2), Some(true)));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), edited);
    let (_, got) = s.json(Method::GET, path, &erin, None).await;
    assert_eq!(got["version"], 2);

    // Two saves on version 2: the first wins, the second is refused and changes nothing.
    let first = json!({ "text": HELLO.replace("default: world", "default: first") }).to_string();
    let second = json!({ "text": HELLO.replace("default: world", "default: second") }).to_string();
    let put = |body: String| {
        let request = Request::put(path)
            .header("authorization", format!("Bearer {erin}"))
            .header("content-type", "application/json")
            .header("if-match", "\"2\"")
            .body(Body::from(body))
            .unwrap();
        s.router.clone().oneshot(request)
    };
    let (a, b) = tokio::join!(put(first), put(second));
    let mut statuses = vec![a.unwrap().status(), b.unwrap().status()];
    statuses.sort();
    assert_eq!(statuses, vec![StatusCode::OK, StatusCode::PRECONDITION_FAILED]);
    let on_disk = std::fs::read_to_string(&file).unwrap();
    let (_, versions) = s.json(Method::GET, "/api/workflows/hello/versions", &erin, None).await;
    assert_eq!(versions.as_array().unwrap().len(), 3, "{versions}");
    assert_eq!(versions[0]["author"], "erin");
    let (_, v3) = s.json(Method::GET, path, &erin, None).await;
    assert_eq!((v3["version"].as_i64(), v3["text"].as_str()), (Some(3), Some(on_disk.as_str())));

    // Diff and rollback.
    let (_, diff) = s.json(Method::GET, "/api/workflows/hello/diff?from=1&to=3", &erin, None).await;
    assert!(diff["text"].as_str().unwrap().contains("-  who: { type: string, default: world }"), "{diff}");
    assert_eq!(diff["added"], json!([]));
    let (status, back) = s.json(Method::POST, "/api/workflows/hello/rollback", &erin, Some(r#"{"version":1}"#)).await;
    assert_eq!(status, StatusCode::CREATED, "{back}");
    assert_eq!(back["version"], 4);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), HELLO);
    let (status, _) = s.json(Method::POST, "/api/workflows/hello/rollback", &erin, Some(r#"{"version":99}"#)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // A run records the version it ran.
    let (_, started) = s.json(Method::POST, "/api/runs", &erin, Some(r#"{"workflow":"hello"}"#)).await;
    let run = started["run"].as_str().unwrap().to_string();
    let (_, detail) = s.json(Method::GET, &format!("/api/runs/{run}"), &erin, None).await;
    assert_eq!(detail["run"]["workflow_version"], 4, "{detail}");

    // Create: once.
    let new = json!({ "name": "fresh", "text": "name: fresh\nsteps:\n  - { id: a, tool: core.echo }\n" }).to_string();
    let (status, made) = s.json(Method::POST, "/api/workflows", &erin, Some(&new)).await;
    assert_eq!((status, made["version"].as_i64()), (StatusCode::CREATED, Some(1)), "{made}");
    let (status, _) = s.json(Method::POST, "/api/workflows", &erin, Some(&new)).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let evil = json!({ "name": "../escape", "text": "name: x\nsteps: []\n" }).to_string();
    let (status, _) = s.json(Method::POST, "/api/workflows", &erin, Some(&evil)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

const LONG: &str = r#"name: long
steps:
  - { id: first, tool: core.echo, with: { x: 1 } }
  - { id: a, needs: [first], tool: core.wait, with: { seconds: 30 } }
  - { id: b, needs: [first], tool: core.wait, with: { seconds: 30 } }
  - { id: after, needs: [a, b], tool: core.echo, with: { x: 2 } }
"#;

#[tokio::test]
async fn cancel_stops_running_steps_and_closes_waiting_gates() {
    let s = server().await;
    std::fs::write(s._dir.path().join("workflows/long.yaml"), LONG).unwrap();
    let erin = s.token("erin", "editor").await;
    let (_, started) = s.json(Method::POST, "/api/runs", &erin, Some(r#"{"workflow":"long"}"#)).await;
    let run = started["run"].as_str().unwrap().to_string();
    // Wait until both waits run.
    for _ in 0..200 {
        let (_, d) = s.json(Method::GET, &format!("/api/runs/{run}"), &erin, None).await;
        if d["steps"].as_array().unwrap().iter().filter(|s| s["status"] == "running").count() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let t = std::time::Instant::now();
    let (status, cancelled) = s.json(Method::POST, &format!("/api/runs/{run}/cancel"), &erin, None).await;
    assert_eq!((status, cancelled["outcome"].as_str()), (StatusCode::ACCEPTED, Some("stopping")), "{cancelled}");
    let events = s.events(&run, &erin).await;
    assert!(t.elapsed() < Duration::from_secs(20), "the 30 s waits were stopped, not waited for");
    let last = events.last().unwrap();
    assert_eq!((last["type"].as_str(), last["status"].as_str()), (Some("run_finished"), Some("cancelled")), "{last}");
    let (_, d) = s.json(Method::GET, &format!("/api/runs/{run}"), &erin, None).await;
    assert_eq!(d["run"]["status"], "cancelled");
    assert_eq!(d["run"]["error"], "cancelled by erin");
    let status_of =
        |k: &str| d["steps"].as_array().unwrap().iter().find(|s| s["step_key"] == k).map(|s| s["status"].clone());
    assert_eq!(status_of("first"), Some(json!("succeeded")));
    assert_eq!((status_of("a"), status_of("b")), (Some(json!("cancelled")), Some(json!("cancelled"))), "{d}");
    assert_eq!(status_of("after"), None, "never started");
    let (status, _) = s.json(Method::POST, &format!("/api/runs/{run}/cancel"), &erin, None).await;
    assert_eq!(status, StatusCode::CONFLICT, "a run ends once");
    let (status, _) = s.json(Method::POST, &format!("/api/runs/{run}/resume"), &erin, Some("{}")).await;
    assert_eq!(status, StatusCode::CONFLICT, "a cancelled run is not resumed");
    assert_eq!(s.run_status(&run, &erin).await, "cancelled");
    let (_, audit) = s.json(Method::GET, &format!("/api/audit?run={run}&kind=cancellation"), &erin, None).await;
    assert_eq!(audit[0]["reason"], "cancelled by erin", "{audit}");

    // A run waiting at a gate (nobody drives it) is closed at once; its gate leaves the pending list.
    let (_, started) = s.json(Method::POST, "/api/runs", &erin, Some(r#"{"workflow":"gated"}"#)).await;
    let gated = started["run"].as_str().unwrap().to_string();
    s.events(&gated, &erin).await;
    let (status, c) = s.json(Method::POST, &format!("/api/runs/{gated}/cancel"), &erin, None).await;
    assert_eq!((status, c["outcome"].as_str()), (StatusCode::ACCEPTED, Some("closed")), "{c}");
    assert_eq!(s.run_status(&gated, &erin).await, "cancelled");
    let (_, pending) = s.json(Method::GET, "/api/approvals", &erin, None).await;
    assert_eq!(pending, json!([]));
    let bob = s.token("bob", "approver").await;
    let (status, _) =
        s.json(Method::POST, &format!("/api/runs/{gated}/approvals/gate"), &bob, Some(r#"{"approve":true}"#)).await;
    assert_eq!(status, StatusCode::CONFLICT, "a cancelled run's gate is closed");
}

#[tokio::test]
async fn cancelling_a_parent_cancels_its_sub_workflow_runs() {
    let s = server().await;
    let dir = s._dir.path().join("workflows");
    std::fs::write(dir.join("long.yaml"), LONG).unwrap();
    std::fs::write(
        dir.join("parent.yaml"),
        "name: parent\nsteps:\n  - { id: both, workflow: long.yaml }\n  - { id: gates, workflow: gated.yaml }\n",
    )
    .unwrap();
    let erin = s.token("erin", "editor").await;
    let (_, started) = s.json(Method::POST, "/api/runs", &erin, Some(r#"{"workflow":"parent"}"#)).await;
    let parent = started["run"].as_str().unwrap().to_string();
    // Both children exist: one runs its 30 s waits, one waits at its gate.
    let mut children = Vec::new();
    for _ in 0..500 {
        let (_, runs) = s.json(Method::GET, "/api/runs", &erin, None).await;
        children = runs.as_array().unwrap().iter().filter(|r| r["parent_run"] == parent.as_str()).cloned().collect();
        let (_, pending) = s.json(Method::GET, "/api/approvals", &erin, None).await;
        if children.len() == 2 && pending.as_array().unwrap().len() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(children.len(), 2, "{children:?}");
    let (status, c) = s.json(Method::POST, &format!("/api/runs/{parent}/cancel"), &erin, None).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{c}");
    s.events(&parent, &erin).await;
    assert_eq!(s.run_status(&parent, &erin).await, "cancelled");
    for child in &children {
        let id = child["id"].as_str().unwrap();
        let mut status = String::new();
        for _ in 0..500 {
            status = s.run_status(id, &erin).await;
            if status != "running" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(status, "cancelled", "child {} of the cancelled parent", child["workflow"]);
    }
    let (_, pending) = s.json(Method::GET, "/api/approvals", &erin, None).await;
    assert_eq!(pending, json!([]), "the child's gate closed with it");
}

#[tokio::test]
async fn a_runs_events_are_stored_and_numbered_on_across_a_restart() {
    let s = server().await;
    let alice = s.token("alice", "editor").await;
    let bob = s.token("bob", "approver").await;
    let (_, started) = s.json(Method::POST, "/api/runs", &alice, Some(r#"{"workflow":"gated"}"#)).await;
    let run = started["run"].as_str().unwrap().to_string();
    let before = s.stream(&run, &alice, None).await;
    assert_eq!(before.last().unwrap().1["status"], "waiting", "{before:?}");
    let ids: Vec<u64> = before.iter().map(|(id, _)| *id).collect();
    assert_eq!(ids, (1..=before.len() as u64).collect::<Vec<_>>());

    // A new server on the same store tells the same events, with the same ids, tool calls
    // included (they are stored, not rebuilt from the step records).
    let s2 = s.restarted().await;
    assert_eq!(s2.stream(&run, &alice, None).await, before);
    assert!(before.iter().any(|(_, e)| e["type"] == "tool_call"), "{before:?}");
    let n = before.len() as u64;
    assert_eq!(s2.stream(&run, &alice, Some(n - 1)).await, before[before.len() - 1..].to_vec());

    // Approved there, the run goes on under the new server, and its events number on.
    let path = format!("/api/runs/{run}/approvals/gate");
    let (status, decided) = s2.json(Method::POST, &path, &bob, Some(r#"{"approve":true}"#)).await;
    assert_eq!(status, StatusCode::OK, "{decided}");
    let mut all = Vec::new();
    for _ in 0..200 {
        all = s2.stream(&run, &alice, None).await;
        if all.last().is_some_and(|(_, e)| e["status"] == "succeeded") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(all.last().unwrap().1["status"], "succeeded", "{all:?}");
    assert_eq!(all[..before.len()], before[..], "what was told before is told again, unchanged");
    let ids: Vec<u64> = all.iter().map(|(id, _)| *id).collect();
    assert_eq!(ids, (1..=all.len() as u64).collect::<Vec<_>>(), "one numbering, no gap, no repeat");
    // A subscriber that saw the events before the restart resumes exactly after them.
    assert_eq!(s2.stream(&run, &alice, Some(n)).await, all[before.len()..].to_vec());
}

/// The editor's files: gzipped for a browser that takes gzip (the same bytes once unpacked),
/// plain otherwise; the page's style nonce is new on each load and is the one its policy names.
#[tokio::test]
async fn the_editor_is_served_gzipped_to_who_takes_it_and_its_page_has_a_fresh_style_nonce() {
    use std::io::Read as _;
    let s = server().await;
    let get = |path: &str, gzip: bool| {
        let mut request = Request::builder().uri(path);
        if gzip {
            request = request.header("accept-encoding", "br;q=1.0, gzip;q=0.8");
        }
        let router = s.router.clone();
        let request = request.body(Body::empty()).unwrap();
        async move {
            let response = router.oneshot(request).await.unwrap();
            let headers = response.headers().clone();
            (response.status(), headers, response.into_body().collect().await.unwrap().to_bytes().to_vec())
        }
    };
    let (status, headers, plain) = get("/ui/monstrum_ui_bg.wasm", false).await;
    assert_eq!(status, StatusCode::OK);
    assert!(plain.starts_with(b"\0asm"), "a WebAssembly module");
    assert!(headers.get("content-encoding").is_none());
    assert_eq!(headers["content-type"], "application/wasm");
    let (_, headers, packed) = get("/ui/monstrum_ui_bg.wasm", true).await;
    assert_eq!(headers["content-encoding"], "gzip");
    assert_eq!(headers["vary"], "accept-encoding");
    assert!(packed.len() * 2 < plain.len(), "gzip: {} of {} bytes", packed.len(), plain.len());
    let mut unpacked = Vec::new();
    flate2::read::GzDecoder::new(&packed[..]).read_to_end(&mut unpacked).unwrap();
    assert_eq!(unpacked, plain);
    let (_, headers, _) = get("/ui/codemirror.js", true).await;
    assert_eq!(headers["content-encoding"], "gzip");
    let (status, _, _) = get("/ui/../Cargo.toml", true).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let nonce_of = |headers: &axum::http::HeaderMap, page: &[u8]| {
        let policy = headers["content-security-policy"].to_str().unwrap().to_string();
        let nonce = policy.split("'nonce-").nth(1).and_then(|r| r.split('\'').next()).expect("a nonce").to_string();
        let page = String::from_utf8(page.to_vec()).unwrap();
        assert!(page.contains(&format!("<meta name=\"csp-nonce\" content=\"{nonce}\">")), "{page}");
        assert!(!policy.contains("unsafe-inline"), "{policy}");
        nonce
    };
    let (_, first_headers, first) = get("/", false).await;
    let (_, second_headers, second) = get("/", false).await;
    let (a, b) = (nonce_of(&first_headers, &first), nonce_of(&second_headers, &second));
    assert_ne!(a, b, "a nonce is not used twice");
    assert_eq!(a.len(), 32);
}

/// The editor's node positions: kept beside the file (which stays as it was), read back, and
/// refused when off the canvas or for a workflow that does not exist; `GET /api/me` names the
/// token.
#[tokio::test]
async fn node_positions_are_kept_beside_the_workflow_and_bad_ones_are_refused() {
    let s = server().await;
    let editor = s.token("erin", "editor").await;
    let file = s._dir.path().join("workflows/hello.yaml");
    let before = std::fs::read_to_string(&file).unwrap();
    let (status, empty) = s.json(Method::GET, "/api/workflows/hello/layout", &editor, None).await;
    assert_eq!((status, empty), (StatusCode::OK, json!({ "positions": [] })));

    let placed = r#"{"positions": [{"step": "greet", "x": 40, "y": 120.5}]}"#;
    let (status, _) = s.json(Method::PUT, "/api/workflows/hello/layout", &editor, Some(placed)).await;
    assert_eq!(status, StatusCode::OK);
    let (_, back) = s.json(Method::GET, "/api/workflows/hello/layout", &editor, None).await;
    assert_eq!(back["positions"][0], json!({ "step": "greet", "x": 40.0, "y": 120.5 }));
    assert!(s._dir.path().join("workflows/hello.layout.json").is_file());
    assert_eq!(std::fs::read_to_string(&file).unwrap(), before, "the workflow's file is untouched");

    for (body, want) in [
        (r#"{"positions": [{"step": "greet", "x": 1e9, "y": 0}]}"#, StatusCode::BAD_REQUEST),
        (r#"{"positions": [{"step": "", "x": 0, "y": 0}]}"#, StatusCode::BAD_REQUEST),
        (r#"{"positions": {"greet": [0, 0]}}"#, StatusCode::UNPROCESSABLE_ENTITY),
    ] {
        let (status, answer) = s.json(Method::PUT, "/api/workflows/hello/layout", &editor, Some(body)).await;
        assert_eq!(status, want, "{body}: {answer}");
    }
    let (_, kept) = s.json(Method::GET, "/api/workflows/hello/layout", &editor, None).await;
    assert_eq!(kept, back, "a refused layout changes nothing");
    let (status, _) = s.json(Method::PUT, "/api/workflows/ghost/layout", &editor, Some(placed)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, me) = s.json(Method::GET, "/api/me", &editor, None).await;
    assert_eq!((status, me), (StatusCode::OK, json!({ "name": "erin", "role": "editor" })));
}
