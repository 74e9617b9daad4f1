//! Memory as a bot meets it through the real binary: four partitions, each an information
//! boundary (`global`, `task:<run>`, `channel:<channel>/<conversation>`, `resource:<instance>`),
//! full-text search by the store's own engine (SQLite FTS5, PostgreSQL `tsvector`), relevant
//! entries recalled into an LLM step's context and named in its request record, and a run's task
//! partition deleted whatever ends the run. The model plays an attacker through a local server
//! speaking OpenAI's wire format, so the test sees what the model is told.

use crate::common::model_server::{self, Server, serve};
use crate::common::{Ws, events, finished, of_type, postgres_database, text};
use crate::governance::{audit, tool_calls, workspace};
use serde_json::{Value, json};
use sqlx::Connection;
use std::io::{BufRead, BufReader};
use std::process::Stdio;

/// The memory rows of a store, as (bot, partition, key).
async fn rows(url: &str) -> Vec<(String, String, String)> {
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(url).await.unwrap();
    sqlx::query_as("SELECT bot, part, mkey FROM memory ORDER BY bot, part, mkey").fetch_all(&mut conn).await.unwrap()
}

/// The tool results the model was given in request `n`, parsed.
fn results(server: &Server, n: usize) -> Vec<Value> {
    let received = server.received.lock().unwrap();
    received[n].1["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "tool")
        .map(|m| serde_json::from_str(m["content"].as_str().unwrap()).unwrap_or_else(|_| m["content"].clone()))
        .collect()
}

fn partitions_scenario(db: Option<String>) {
    let server = Server::default();
    let set = |key: &str, value: &str, part: Option<&str>| {
        let mut args = json!({ "key": key, "value": value });
        if let Some(p) = part {
            args["partition"] = json!(p);
        }
        ("memory__set", args)
    };
    *server.answers.lock().unwrap() = vec![
        model_server::openai_tool_calls(&[
            set("incident", "disk full on web-1", None),
            set("thread", "the user asked about the disk", Some("channel")),
            set("triage", "public-site issues are triaged on Mondays", Some("resource:github-work")),
            set("scratch", "half done with the disk", Some("task")),
            // pg is dba's instance, C2 another conversation, the run a made-up one.
            set("stolen", "x", Some("resource:pg")),
            set("stolen", "x", Some("channel:ops-slack/C2")),
            set("stolen", "x", Some("task:00000000-0000-0000-0000-000000000000")),
            ("memory__get", json!({ "key": "incident", "bot": "dba" })),
            ("memory__search", json!({ "query": "disk on web-1?" })),
        ]),
        model_server::openai_text("noted"),
        // The second run, from another conversation.
        model_server::openai_tool_calls(&[
            ("memory__get", json!({ "key": "thread", "partition": "channel" })),
            ("memory__get", json!({ "key": "thread", "partition": "channel:ops-slack/C1" })),
            ("memory__list", json!({ "partition": "task" })),
            ("memory__search", json!({ "query": "scratch disk", "partition": "global" })),
        ]),
        model_server::openai_text("recalled"),
    ];
    let base = serve("/v1/chat/completions", server.clone());
    let ws = workspace();
    let bot = r#"name: ops
model: { provider: openai, name: test-model, base_url: "BASE/v1" }
personality: You are on call.
resources:
  - plugin: github
    instance: github-work
    tools: [get_issue]
    scope: { repos: ["acme/*"] }
"#;
    ws.write("bots/ops.yaml", &bot.replace("BASE", &base));
    ws.write(
        "workflows/note.yaml",
        "name: note\nbot: ops\nsteps:\n  - id: note\n    llm: { prompt: \"Keep notes\" }\n",
    );
    ws.write(
        "workflows/recall.yaml",
        "name: recall\nbot: ops\nsteps:\n  - id: ask\n    llm: { prompt: \"What happened with the disk on web-1?\" }\n",
    );
    let url = db.clone().unwrap_or_else(|| format!("sqlite://{}", ws.path().join(".monstrum/monstrum.db").display()));
    let db_args: Vec<&str> = db.as_deref().map(|d| vec!["--db", d]).unwrap_or_default();
    let run = |workflow: &str, conversation: &str| {
        let mut args = db_args.clone();
        args.extend(["run", "--json", "--conversation", conversation, workflow]);
        let out = ws.cmd().args(&args).env("OPENAI_API_KEY", "sk-test").output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        events(&out)
    };

    let evs = run("workflows/note.yaml", "ops-slack/C1");
    let decisions: Vec<(String, String, Option<String>)> = tool_calls(&evs);
    let allowed = |i: usize| decisions[i].1 == "allowed";
    assert!((0..4).all(allowed) && allowed(8), "{decisions:#?}");
    let why = |i: usize| decisions[i].2.clone().unwrap_or_default();
    assert_eq!(decisions[4].1, "denied");
    assert!(why(4).contains("`pg` is not an instance this bot is bound to"), "{}", why(4));
    assert!(why(5).contains("its own conversation's only"), "{}", why(5));
    assert!(why(6).contains("its own run's only"), "{}", why(6));
    assert!(decisions[7].1 == "denied" && why(7).contains("bot"), "no call names another bot: {}", why(7));
    // The search ranked with the store's engine, in every partition of the call context.
    let first = results(&server, 1);
    let found = &first[8]["results"];
    let keys: Vec<&str> = found.as_array().unwrap().iter().map(|h| h["key"].as_str().unwrap()).collect();
    assert_eq!(keys[0], "incident", "the entry with every word first: {found}");
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(sorted, ["incident", "scratch", "thread", "triage"], "{found}");
    assert!(found.as_array().unwrap().iter().any(|h| h["partition"] == "channel:ops-slack/C1"), "{found}");

    let evs = run("workflows/recall.yaml", "ops-slack/C2");
    // Recalled: what the search on the prompt found in this call context's partitions, and the
    // request record names it. Not the other conversation's thread, not the ended run's scratch.
    let request = of_type(&evs, "llm_request")[0];
    let recalled: Vec<&str> = request["memory"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert_eq!(recalled, ["global/incident", "resource:github-work/triage"], "{request}");
    let system = server.received.lock().unwrap()[2].1["messages"][0]["content"].as_str().unwrap().to_string();
    assert!(system.starts_with("You are on call."), "identity first: {system}");
    assert!(system.contains("- [global] incident: \"disk full on web-1\""), "{system}");
    assert!(!system.contains("the user asked") && !system.contains("half done"), "{system}");
    let second = results(&server, 3);
    assert_eq!(second[0]["found"], false, "C2's channel partition is its own: {second:?}");
    assert_eq!(second[2]["keys"], json!([]), "the first run's task memory ended with it: {second:?}");
    assert_eq!(second[3]["results"].as_array().unwrap().len(), 1, "one partition searched: {second:?}");
    let decisions = tool_calls(&evs);
    assert_eq!(decisions[1].1, "denied", "{decisions:?}");

    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let kept = rt.block_on(rows(&url));
    let own = |p: &str, k: &str| ("ops".to_string(), p.to_string(), k.to_string());
    assert_eq!(
        kept,
        [own("channel:ops-slack/C1", "thread"), own("global", "incident"), own("resource:github-work", "triage")]
    );
    // Every refusal is in the audit trail, with the rule that decided.
    let mut filter = db_args.clone();
    filter.extend(["--tool", "memory.set", "--decision", "denied"]);
    let denied = audit(&ws, &filter);
    assert_eq!(denied.len(), 3, "{denied:?}");
    assert!(denied.iter().all(|r| r["reason"].as_str().unwrap().ends_with("(memory partition)")), "{denied:?}");
}

#[test]
fn memory_partitions_are_boundaries_and_search_ranks_on_sqlite() {
    partitions_scenario(None);
}

#[test]
fn memory_partitions_are_boundaries_and_search_ranks_on_postgres() {
    if let Some(db) = postgres_database() {
        partitions_scenario(Some(db));
    }
}

/// A bot that keeps a note in its task partition first, then the workflow's `rest`.
fn task_workspace(rest: &str) -> Ws {
    let ws = workspace();
    ws.write(
        "scripts/ops.yaml",
        "- tool_calls: [{ name: memory.set, arguments: { key: scratch, value: wip, partition: task } }]\n- text: noted\n",
    );
    ws.write(
        "workflows/w.yaml",
        &format!("name: w\nbot: ops\nsteps:\n  - id: note\n    llm: {{ prompt: \"note\" }}\n{rest}"),
    );
    ws
}

/// The task memory rows of the workspace's store.
fn task_rows(ws: &Ws) -> usize {
    let url = format!("sqlite://{}", ws.path().join(".monstrum/monstrum.db").display());
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(rows(&url)).iter().filter(|(_, p, _)| p.starts_with("task:")).count()
}

#[test]
fn a_runs_task_memory_ends_with_the_run_however_it_ends() {
    // Failed.
    let ws = task_workspace("  - id: boom\n    needs: [note]\n    tool: core.fail\n    with: { message: boom }\n");
    let out = ws.run(&["run", "--json", "workflows/w.yaml"]);
    assert_eq!(finished(&events(&out))["status"], "failed", "{}", text(&out));
    assert_eq!(task_rows(&ws), 0, "a failed run keeps no task memory");

    // Waiting at a gate: the run lives, so does its task memory; cancelled, both end.
    let ws = task_workspace("  - id: gate\n    needs: [note]\n    approval: { message: go? }\n");
    let out = ws.run(&["run", "--json", "workflows/w.yaml"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert_eq!(task_rows(&ws), 1, "a waiting run keeps its task memory");
    let run = finished(&events(&out))["run"].as_str().unwrap().to_string();
    let out = ws.run(&["runs", "cancel", &run]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(task_rows(&ws), 0, "a cancelled run keeps no task memory");

    // Killed mid-run: the task memory waits for the run, which a resume finishes.
    let ws = task_workspace("  - id: slow\n    needs: [note]\n    tool: core.wait\n    with: { seconds: 2 }\n");
    let mut child = ws.cmd().args(["run", "--json", "workflows/w.yaml"]).stdout(Stdio::piped()).spawn().unwrap();
    // Killed once the note step has finished, while the slow one waits.
    let mut run = None;
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let event: Value = serde_json::from_str(&line.unwrap()).unwrap();
        run = run.or_else(|| event["run"].as_str().map(str::to_string));
        if event["type"] == "step_started" && event["step"] == "slow" {
            break;
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let run = run.expect("the run started");
    assert_eq!(task_rows(&ws), 1, "a run that was killed has not ended");
    let out = ws.run(&["resume", &run]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(task_rows(&ws), 0, "the resumed run ended and took its task memory with it");
}
