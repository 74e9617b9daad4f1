//! `monstrum serve` as a user runs it: tokens made with the command line, the real binary
//! listening on loopback, a run started over HTTP, the server killed with SIGKILL in the middle
//! of it, started again, and the run finished from its last recorded step.

use crate::common::{Ws, text};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

const SLOW: &str = r#"name: slow
steps:
  - { id: s1, tool: core.wait, with: { seconds: 0.3 } }
  - { id: s2, needs: [s1], tool: core.wait, with: { seconds: 0.3 } }
  - { id: s3, needs: [s2], tool: core.wait, with: { seconds: 0.3 } }
  - { id: s4, needs: [s3], tool: core.wait, with: { seconds: 0.3 } }
  - { id: s5, needs: [s4], tool: core.wait, with: { seconds: 0.3 } }
  - { id: s6, needs: [s5], tool: core.wait, with: { seconds: 0.3 } }
  - { id: s7, needs: [s6], tool: core.echo, with: { done: true } }
outputs:
  done: "{{ steps.s7.output.done }}"
"#;

/// A token made with `monstrum token create --role`: its last line.
pub fn token(ws: &Ws, role: &str, name: &str) -> String {
    created(ws, &["--role", role, "--name", name])
}

/// A token bound to `bot` (it opens `/mcp`), made with `monstrum token create --bot`.
pub fn bot_token(ws: &Ws, bot: &str, name: &str) -> String {
    created(ws, &["--bot", bot, "--name", name])
}

fn created(ws: &Ws, args: &[&str]) -> String {
    let out = ws.run(&[&["token", "create"], args].concat());
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let last = stdout.lines().last().unwrap().trim().to_string();
    assert!(last.starts_with("mst_") && last.len() > 60, "the token is the last line: {stdout}");
    last
}

/// `monstrum serve` on a free loopback port; returns the process and its base URL.
pub fn start(ws: &Ws) -> (Child, String) {
    start_at(ws, "127.0.0.1:0")
}

/// `monstrum serve` on `addr`; returns the process and its base URL.
pub fn start_at(ws: &Ws, addr: &str) -> (Child, String) {
    let mut child = ws
        .cmd()
        .args(["serve", "--addr", addr])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("start monstrum serve");
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let url = loop {
        let line = lines.next().expect("serve printed where it listens").expect("stderr");
        if let Some(rest) = line.split("listening on ").nth(1) {
            break rest.split_whitespace().next().unwrap().to_string();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    (child, url)
}

/// A run's event stream as it stands (a running run's, until now: read with a short timeout):
/// (id, event) pairs.
fn stream(
    client: &reqwest::blocking::Client,
    base: &str,
    run: &str,
    token: &str,
    after: Option<u64>,
) -> Vec<(u64, Value)> {
    sse(client, &format!("{base}/api/runs/{run}/events"), token, after)
}

/// An event stream at `url` as it stands (read for a moment; a finished run's stream ends
/// sooner): (id, event) pairs after `after` (`Last-Event-ID`), or from now.
pub fn sse(client: &reqwest::blocking::Client, url: &str, token: &str, after: Option<u64>) -> Vec<(u64, Value)> {
    let mut request = client.get(url).bearer_auth(token);
    if let Some(after) = after {
        request = request.header("last-event-id", after.to_string());
    }
    let mut response = request.send().expect("events");
    let mut text = String::new();
    let mut buf = [0u8; 8192];
    let until = Instant::now() + Duration::from_millis(400);
    // A finished run's stream ends; a running one's is read for a moment.
    while Instant::now() < until {
        use std::io::Read;
        match response.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => text.push_str(&String::from_utf8_lossy(&buf[..n])),
        }
    }
    let whole = &text[..text.rfind("\n\n").map_or(0, |i| i + 2)]; // whole events only
    let mut out = Vec::new();
    let mut id = None;
    for line in whole.lines() {
        if let Some(n) = line.strip_prefix("id: ") {
            id = Some(n.parse().unwrap());
        } else if let Some(d) = line.strip_prefix("data: ") {
            out.push((id.take().expect("an id"), serde_json::from_str(d).unwrap()));
        }
    }
    out
}

fn get(client: &reqwest::blocking::Client, url: &str, token: &str) -> (u16, Value) {
    let r = client.get(url).bearer_auth(token).send().expect("GET");
    (r.status().as_u16(), r.json().unwrap_or(Value::Null))
}

#[test]
fn a_run_started_over_http_survives_a_killed_server() {
    survives_a_killed_server(Ws::new());
}

#[test]
fn a_run_started_over_http_survives_a_killed_server_on_postgres() {
    let Some(db) = crate::common::postgres_database() else { return };
    survives_a_killed_server(Ws { db: Some(db), ..Ws::new() });
}

/// A run started over HTTP, the server killed in the middle of it and started again: the run
/// finishes from its last recorded step, and its stream tells what happened before the kill
/// with the same ids.
fn survives_a_killed_server(ws: Ws) {
    ws.write("workflows/slow.yaml", SLOW);
    let editor = token(&ws, "editor", "erin");
    let viewer = token(&ws, "viewer", "vic");
    let listed = ws.run(&["token", "list"]);
    let listed = text(&listed);
    assert!(listed.contains("erin") && listed.contains("editor") && !listed.contains("mst_"), "{listed}");

    let (mut server, base) = start(&ws);
    let client = reqwest::blocking::Client::builder().timeout(Duration::from_secs(20)).build().unwrap();
    let health: Value = client.get(format!("{base}/health")).send().unwrap().json().unwrap();
    assert_eq!(health, json!({ "status": "ok" }));
    assert_eq!(client.get(format!("{base}/api/runs")).send().unwrap().status().as_u16(), 401);

    let started: Value = client
        .post(format!("{base}/api/runs"))
        .bearer_auth(&editor)
        .json(&json!({ "workflow": "slow" }))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let run = started["run"].as_str().expect("a run id").to_string();
    // Kill it once two steps are recorded as done.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, detail) = get(&client, &format!("{base}/api/runs/{run}"), &viewer);
        let done = detail["steps"].as_array().map_or(0, |s| s.iter().filter(|s| s["status"] == "succeeded").count());
        if done >= 2 {
            break;
        }
        assert!(Instant::now() < deadline, "the run did not progress: {detail}");
        std::thread::sleep(Duration::from_millis(20));
    }
    let seen = stream(&client, &base, &run, &viewer, None);
    server.kill().unwrap(); // SIGKILL
    server.wait().unwrap();
    let killed_at = chrono::Utc::now().timestamp_millis();
    assert!(seen.len() >= 5, "run_started and two steps' events: {seen:?}");

    let shown = ws.run(&["runs", "show", &run, "--json"]);
    let shown: Value = serde_json::from_slice(&shown.stdout).unwrap();
    assert_eq!(shown["details"]["status"], "running", "the killed server's run is left running");

    let (mut server, base) = start(&ws);
    let deadline = Instant::now() + Duration::from_secs(30);
    let detail = loop {
        let (_, detail) = get(&client, &format!("{base}/api/runs/{run}"), &viewer);
        if detail["run"]["status"] == "succeeded" {
            break detail;
        }
        assert!(Instant::now() < deadline, "the restarted server did not finish the run: {detail}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(detail["run"]["outputs"]["done"], true);
    let steps = detail["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 7, "{detail}");
    let s1 = steps.iter().find(|s| s["step_key"] == "s1").unwrap();
    assert!(s1["finished_at"].as_i64().unwrap() < killed_at, "s1 was not run again: {s1}");
    assert_eq!(s1["attempts"], 1);

    // The stream after the restart: what a subscriber saw before the kill, with the same ids,
    // then the rest, numbered on, to the end.
    let all = stream(&client, &base, &run, &viewer, None);
    assert_eq!(all[..seen.len()], seen[..], "the events told before the kill are told again, unchanged");
    let ids: Vec<u64> = all.iter().map(|(id, _)| *id).collect();
    assert_eq!(ids, (1..=all.len() as u64).collect::<Vec<_>>(), "one numbering across the restart");
    let last = &all.last().unwrap().1;
    assert_eq!((last["type"].as_str(), last["status"].as_str()), (Some("run_finished"), Some("succeeded")));
    let after = stream(&client, &base, &run, &viewer, Some(seen.last().unwrap().0));
    assert_eq!(after[..], all[seen.len()..], "Last-Event-ID from before the kill resumes exactly");

    // A revoked token opens nothing, at once.
    let out = ws.run(&["token", "revoke", "vic"]);
    assert!(out.status.success(), "{}", text(&out));
    let (status, _) = get(&client, &format!("{base}/api/runs"), &viewer);
    assert_eq!(status, 401);
    server.kill().unwrap();
    server.wait().unwrap();

    // A non-loopback address is refused unless asked for.
    let out = ws.run(&["serve", "--addr", "0.0.0.0:0"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("--allow-remote"), "{}", text(&out));
}

#[test]
fn workflow_versions_from_the_command_line() {
    let ws = Ws::new();
    let file =
        ws.write("workflows/greet.yaml", "name: greet\nsteps:\n  - { id: a, tool: core.echo, with: { x: 1 } }\n");
    let out = ws.run(&["workflow", "save", "workflows/greet.yaml", "-m", "first"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("version 1"), "{}", text(&out));
    std::fs::write(
        &file,
        "name: greet\nsteps:\n  - { id: a, tool: core.echo, with: { x: 2 } }\n  - { id: b, tool: core.echo }\n",
    )
    .unwrap();
    let out = ws.run(&["workflow", "save", "workflows/greet.yaml", "-m", "second"]);
    assert!(text(&out).contains("version 2"), "{}", text(&out));

    // A file that does not validate is refused with its problems, and nothing is stored.
    std::fs::write(&file, "name: greet\nsteps:\n  - { id: a, tool: core.echo, needs: [ghost] }\n").unwrap();
    let out = ws.run(&["workflow", "save", "workflows/greet.yaml"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("greet.yaml:3"), "{}", text(&out));

    let out = ws.run(&["workflow", "versions", "greet", "--json"]);
    let versions: Vec<Value> =
        String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(versions.len(), 2);
    assert_eq!((versions[0]["version"].as_i64(), versions[0]["message"].as_str()), (Some(2), Some("second")));
    assert_eq!(versions[0]["author"], "tester");

    let out = ws.run(&["workflow", "diff", "greet", "1", "2", "--json"]);
    let diff: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((diff["added"].clone(), diff["changed"].clone()), (json!(["b"]), json!(["a"])), "{diff}");

    // The hand-edited file is kept as a version of its own before the rollback replaces it.
    let out = ws.run(&["workflow", "rollback", "greet", "1"]);
    assert!(text(&out).contains("version 4"), "{}", text(&out));
    let out = ws.run(&["workflow", "versions", "greet", "--json"]);
    let kept: Value = serde_json::from_str(String::from_utf8(out.stdout).unwrap().lines().nth(1).unwrap()).unwrap();
    assert_eq!((kept["version"].as_i64(), kept["author"].as_str()), (Some(3), Some("(file on disk)")), "{kept}");
    assert!(std::fs::read_to_string(&file).unwrap().contains("x: 1 }"), "the head is version 1's text again");
    let out = ws.run(&["run", "workflows/greet.yaml", "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    let run = crate::common::finished(&crate::common::events(&out))["run"].as_str().unwrap().to_string();
    let shown = ws.run(&["runs", "show", &run]);
    assert!(text(&shown).contains("greet version 4"), "{}", text(&shown));
}

#[test]
fn a_run_driven_by_another_process_is_cancelled_at_its_next_lease_renewal() {
    let ws = Ws::new();
    ws.write(
        "workflows/long.yaml",
        "name: long\nsteps:\n  - { id: a, tool: core.wait, with: { seconds: 60 } }\n  - { id: b, needs: [a], tool: core.echo }\n",
    );
    let mut child = ws.cmd().args(["run", "workflows/long.yaml", "--json"]).stdout(Stdio::piped()).spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert_eq!(first["type"], "run_started");
    let run = first["run"].as_str().unwrap().to_string();
    let t = Instant::now();
    let out = ws.run(&["runs", "cancel", &run]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("stops it within 10 s"), "{}", text(&out));
    let status = child.wait().unwrap();
    assert!(t.elapsed() < Duration::from_secs(30), "stopped at the lease renewal, not after the 60 s step");
    assert_eq!(status.code(), Some(1));
    let rest: Vec<Value> = lines.map_while(Result::ok).filter_map(|l| serde_json::from_str(&l).ok()).collect();
    let last = rest.last().expect("events after the cancel");
    assert_eq!((last["type"].as_str(), last["status"].as_str()), (Some("run_finished"), Some("cancelled")), "{rest:?}");
    let shown = ws.run(&["runs", "show", &run, "--json"]);
    let shown: Value = serde_json::from_slice(&shown.stdout).unwrap();
    assert_eq!(shown["details"]["status"], "cancelled");
    assert_eq!(shown["steps"][0]["status"], "cancelled", "{shown}");
    let again = ws.run(&["runs", "cancel", &run]);
    assert_eq!(again.status.code(), Some(1), "{}", text(&again));
}

/// Polls `GET url` until `done` holds of its body (10 s at most); returns the body.
fn until(client: &reqwest::blocking::Client, url: &str, token: &str, done: impl Fn(&Value) -> bool) -> Value {
    let started = Instant::now();
    loop {
        let (_, body) = get(client, url, token);
        if done(&body) {
            return body;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "not within 10 s: {body}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn tool_names(bot: &Value) -> Vec<&str> {
    bot["tools"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).filter(|n| n.contains('.')).collect()
}

#[test]
fn edits_to_bots_and_skills_take_effect_while_serving_and_a_broken_edit_keeps_the_last_good_version() {
    let ws = crate::governance::workspace();
    let skill =
        |tools: &str| format!("---\nname: readonly\ndescription: Read issues only.\ntools: [{tools}]\n---\nRead.\n");
    ws.write("skills/readonly/SKILL.md", &skill("github-work.get_issue"));
    let bot = std::fs::read_to_string(ws.path().join("bots/ops.yaml")).unwrap();
    ws.write("bots/ops.yaml", &format!("{bot}skills: [readonly]\n"));
    let token = token(&ws, "viewer", "vera");
    let (mut server, base) = start(&ws);
    let client = reqwest::blocking::Client::new();
    let ops = format!("{base}/api/bots/ops");
    let has = |tool: &'static str| move |b: &Value| tool_names(b).contains(&tool);

    let first = until(&client, &ops, &token, |b| b["tools"].is_array());
    assert!(tool_names(&first).contains(&"github-work.get_issue"), "{first}");
    assert!(!tool_names(&first).contains(&"github-work.create_comment"), "the skill narrows: {first}");

    // A skill edited while serving: the bot is compiled again.
    ws.write("skills/readonly/SKILL.md", &skill("github-work.get_issue, github-work.create_comment"));
    until(&client, &ops, &token, has("github-work.create_comment"));

    // A broken skill: the bot keeps its last good version, and both say what is wrong.
    ws.write("skills/readonly/SKILL.md", "---\nname: readonly\ndescription: [unclosed\n---\nRead.\n");
    let kept = until(&client, &ops, &token, |b| b["problem"].is_string());
    assert!(kept["problem"].as_str().unwrap().contains("readonly"), "{kept}");
    assert!(tool_names(&kept).contains(&"github-work.create_comment"), "the last good version: {kept}");
    let (_, skills) = get(&client, &format!("{base}/api/skills"), &token);
    assert!(skills[0]["problem"].as_str().unwrap().contains("readonly/SKILL.md:"), "{skills}");

    // A broken bot file: the same.
    ws.write("bots/ops.yaml", "name: ops\nresources: 12\n");
    let kept = until(&client, &ops, &token, |b| b["problem"].as_str().is_some_and(|p| p.contains("bots/ops.yaml")));
    assert!(tool_names(&kept).contains(&"github-work.create_comment"), "{kept}");

    // Fixed, without the skill: no problem, and nothing narrows the bot now.
    ws.write("bots/ops.yaml", &bot);
    let fixed = until(&client, &ops, &token, |b| b["problem"].is_null());
    assert!(tool_names(&fixed).contains(&"github-work.create_comment"), "{fixed}");

    // A bot whose file is removed is gone, not kept.
    let dba = format!("{base}/api/bots/dba");
    assert_eq!(get(&client, &dba, &token).0, 200);
    std::fs::remove_file(ws.path().join("bots/dba.yaml")).unwrap();
    let started = Instant::now();
    while get(&client, &dba, &token).0 != 404 {
        assert!(started.elapsed() < Duration::from_secs(10), "a removed bot is still served");
        std::thread::sleep(Duration::from_millis(100));
    }
    server.kill().ok();
    server.wait().ok();
}
