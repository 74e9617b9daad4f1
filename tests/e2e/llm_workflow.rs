//! End-to-end: LLM steps of a real workflow talk to local servers that speak the OpenAI and
//! Anthropic wire formats; the tools offered are exactly the visible ones, tool calls go through
//! the gate, and every request's usage is recorded.

use crate::common::model_server;

use crate::common::{Ws, events, finished, of_type, text};
use axum::http::StatusCode;
use model_server::{Server, serve};
use serde_json::{Value, json};

const WORKFLOW: &str = r#"name: ask
bot: analyst
steps:
  - id: ask
    retry: { attempts: 2, backoff: 10ms }
    llm:
      prompt: "What is in {{ 'the logs' }}?"
      tools: [core.echo]
      output: json
outputs:
  verdict: "{{ steps.ask.output.verdict }}"
"#;

#[test]
fn an_openai_compatible_server_answers_an_llm_step_with_a_tool_call() {
    let server = Server::default();
    *server.answers.lock().unwrap() = vec![
        (StatusCode::SERVICE_UNAVAILABLE, json!({"error": {"message": "overloaded, try again"}})),
        (
            StatusCode::OK,
            json!({
                "choices": [{ "message": { "role": "assistant", "content": null, "tool_calls": [
                    { "id": "call_1", "type": "function", "function": { "name": "core__echo", "arguments": "{\"seen\": \"disk full\"}" } },
                    { "id": "call_2", "type": "function", "function": { "name": "admin__drop_database", "arguments": "{}" } }
                ] }, "finish_reason": "tool_calls" }],
                "usage": { "prompt_tokens": 50, "completion_tokens": 9 }
            }),
        ),
        (
            StatusCode::OK,
            json!({
                "choices": [{ "message": { "role": "assistant", "content": "{\"verdict\": \"disk full\"}" }, "finish_reason": "stop" }],
                "usage": { "prompt_tokens": 80, "completion_tokens": 7 }
            }),
        ),
    ];
    let base = serve("/v1/chat/completions", server.clone());
    let ws = Ws::new();
    ws.write(
        "bots/analyst.yaml",
        &format!("name: analyst\nmodel: {{ provider: openai, name: test-model, base_url: \"{base}/v1\" }}\npersonality: You read logs.\n"),
    );
    ws.write("workflows/ask.yaml", WORKFLOW);
    let out =
        ws.cmd().args(["run", "workflows/ask.yaml", "--json"]).env("OPENAI_API_KEY", "sk-test-key").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let ev = events(&out);
    assert_eq!(finished(&ev)["outputs"]["verdict"], "disk full");

    let received = server.received.lock().unwrap();
    assert_eq!(received.len(), 3, "one failed attempt, then two turns");
    let (headers, first) = &received[1];
    assert_eq!(headers["authorization"], "Bearer sk-test-key");
    assert_eq!(first["model"], "test-model");
    assert_eq!(first["messages"][0], json!({ "role": "system", "content": "You read logs." }));
    assert_eq!(first["messages"][1]["content"], "What is in the logs?");
    let offered: Vec<&str> =
        first["tools"].as_array().unwrap().iter().map(|t| t["function"]["name"].as_str().unwrap()).collect();
    assert_eq!(offered, ["core__echo"], "only the step's visible tools are sent");
    // The tool results went back: the echo's output, and "no such tool" for the unknown one.
    let second = &received[2].1;
    let results: Vec<&Value> = second["messages"].as_array().unwrap().iter().filter(|m| m["role"] == "tool").collect();
    assert_eq!(results.len(), 2);
    assert_eq!(results[0]["content"], "{\"seen\":\"disk full\"}");
    assert_eq!(results[1]["content"], "no such tool: admin.drop_database");

    let calls = of_type(&ev, "tool_call");
    assert_eq!(
        calls.iter().map(|c| (c["tool"].as_str().unwrap(), c["decision"].as_str().unwrap())).collect::<Vec<_>>(),
        [("core.echo", "allowed"), ("admin.drop_database", "denied")]
    );
    let usage: Vec<(u64, u64)> = of_type(&ev, "llm_request")
        .iter()
        .map(|r| (r["input_tokens"].as_u64().unwrap(), r["output_tokens"].as_u64().unwrap()))
        .collect();
    assert_eq!(usage, [(0, 0), (50, 9), (80, 7)]);
    let run = finished(&ev)["run"].as_str().unwrap();
    let detail: Value = serde_json::from_slice(&ws.run(&["runs", "show", run, "--json"]).stdout).unwrap();
    let recorded = detail["llm_requests"].as_array().unwrap();
    assert_eq!(recorded.len(), 3);
    assert!(recorded[0]["error"].as_str().unwrap().contains("overloaded, try again"));
    assert!(!String::from_utf8_lossy(&out.stdout).contains("sk-test-key"), "the key never reaches the event stream");
}

#[test]
fn an_anthropic_server_answers_an_llm_step() {
    let server = Server::default();
    *server.answers.lock().unwrap() = vec![
        (
            StatusCode::OK,
            json!({
                "content": [{ "type": "tool_use", "id": "toolu_1", "name": "core__echo", "input": { "seen": "oom" } }],
                "stop_reason": "tool_use",
                "usage": { "input_tokens": 30, "output_tokens": 5 }
            }),
        ),
        (
            StatusCode::OK,
            json!({
                "content": [{ "type": "text", "text": "{\"verdict\": \"oom\"}" }],
                "stop_reason": "end_turn",
                "usage": { "input_tokens": 44, "output_tokens": 6 }
            }),
        ),
    ];
    let base = serve("/v1/messages", server.clone());
    let ws = Ws::new();
    ws.write(
        "bots/analyst.yaml",
        &format!("name: analyst\nmodel: {{ provider: anthropic, name: claude-test, base_url: \"{base}\" }}\n"),
    );
    ws.write("workflows/ask.yaml", WORKFLOW);
    let no_key =
        ws.cmd().args(["run", "workflows/ask.yaml", "--json"]).env_remove("ANTHROPIC_API_KEY").output().unwrap();
    assert_eq!(no_key.status.code(), Some(1));
    assert!(finished(&events(&no_key))["error"].as_str().unwrap().contains("ANTHROPIC_API_KEY"));

    let out =
        ws.cmd().args(["run", "workflows/ask.yaml", "--json"]).env("ANTHROPIC_API_KEY", "ak-test").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(finished(&events(&out))["outputs"]["verdict"], "oom");
    let received = server.received.lock().unwrap();
    assert_eq!(received.len(), 2);
    assert_eq!(received[0].0["x-api-key"], "ak-test");
    assert_eq!(received[0].1["tools"][0]["name"], "core__echo");
    let reply = &received[1].1["messages"].as_array().unwrap()[2];
    assert_eq!(reply["role"], "user");
    assert_eq!(reply["content"][0]["type"], "tool_result");
    assert_eq!(reply["content"][0]["tool_use_id"], "toolu_1");
}

#[test]
fn skills_past_the_prompt_budget_are_a_catalogue_the_model_reads_with_skills_read() {
    let server = Server::default();
    let read = |skill: &str, file: Option<&str>| {
        let mut args = json!({ "skill": skill });
        if let Some(f) = file {
            args["file"] = json!(f);
        }
        args
    };
    *server.answers.lock().unwrap() = vec![
        model_server::openai_tool_calls(&[
            ("skills__read", read("disk-care", Some("references/guide.md"))),
            ("skills__read", read("log-care", None)),
            ("skills__read", read("disk-care", Some("../../notes/private.txt"))),
            ("skills__read", read("not-enabled", None)),
        ]),
        model_server::openai_text("{\"verdict\": \"read\"}"),
    ];
    let base = serve("/v1/chat/completions", server.clone());
    let ws = Ws::new();
    // Two skills whose bodies together are past the budget (16,000 characters).
    let body = |line: &str| line.repeat(9_000 / line.len());
    ws.write(
        "skills/log-care/SKILL.md",
        &format!(
            "---\nname: log-care\ndescription: Read logs before acting. Use for incidents.\n---\n{}\n",
            body("Tail the log. ")
        ),
    );
    ws.write(
        "skills/disk-care/SKILL.md",
        &format!("---\nname: disk-care\ndescription: Free disk space safely.\n---\n{}\n", body("Check df first. ")),
    );
    ws.write("skills/disk-care/references/guide.md", "Guide: look at /var/log before anything else.\n");
    ws.write("skills/not-enabled/SKILL.md", "---\nname: not-enabled\ndescription: Not this bot's.\n---\nHidden.\n");
    ws.write("notes/private.txt", "a private note outside every skill\n");
    ws.write(
        "bots/analyst.yaml",
        &format!(
            "name: analyst\nmodel: {{ provider: openai, name: test-model, base_url: \"{base}/v1\" }}\n\
             personality: You read logs.\nskills: [log-care, disk-care]\n"
        ),
    );
    ws.write(
        "workflows/care.yaml",
        "name: care\nbot: analyst\nsteps:\n  - id: ask\n    llm: { prompt: \"The disk is full.\", output: json }\n",
    );
    let out =
        ws.cmd().args(["run", "workflows/care.yaml", "--json"]).env("OPENAI_API_KEY", "sk-test").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    let received = server.received.lock().unwrap();
    let first = &received[0].1;
    let system = first["messages"][0]["content"].as_str().unwrap();
    assert!(system.starts_with("You read logs."), "identity first: {system}");
    assert!(
        system.contains("- log-care: Read logs before acting.") && system.contains("- disk-care: Free disk"),
        "{system}"
    );
    assert!(!system.contains("Tail the log.") && !system.contains("Check df first."), "no body past the budget");
    assert!(system.len() < 2_000, "the catalogue, not the bodies: {} characters", system.len());
    let offered: Vec<&str> =
        first["tools"].as_array().unwrap().iter().map(|t| t["function"]["name"].as_str().unwrap()).collect();
    assert!(offered.contains(&"skills__read"), "{offered:?}");

    let results: Vec<String> = received[1].1["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "tool")
        .map(|m| m["content"].as_str().unwrap().to_string())
        .collect();
    assert!(results[0].contains("Guide: look at /var/log"), "a file of the skill's folder: {results:?}");
    assert!(results[1].starts_with("\"Tail the log."), "a body: {}", &results[1][..40]);
    assert!(results[2].contains("not a path inside skill `disk-care`'s folder"), "{results:?}");
    assert!(!results[2].contains("private note"), "nothing outside the folder is read");
    assert!(results[3].contains("`not-enabled` is not one of your skills"), "{results:?}");
    let audit = ws.run(&["--json", "audit", "list", "--tool", "skills.read", "--kind", "tool_call"]);
    let decisions: Vec<Value> = events(&audit).iter().map(|r| r["decision"].clone()).collect();
    assert_eq!(decisions, vec![json!("allowed"); 4], "every read is audited: {}", text(&audit));

    // A bot whose skills fit gets their bodies, and no skills.read: to it, the tool does not exist.
    ws.write("skills/short/SKILL.md", "---\nname: short\ndescription: Short.\n---\nBe brief.\n");
    ws.write(
        "bots/brief.yaml",
        "name: brief\nmodel: { provider: scripted, script: scripts/brief.yaml }\nskills: [short]\n",
    );
    ws.write(
        "scripts/brief.yaml",
        "- tool_calls: [{ name: skills.read, arguments: { skill: short } }]\n- text: done\n",
    );
    ws.write("workflows/brief.yaml", "name: brief\nbot: brief\nsteps:\n  - id: ask\n    llm: { prompt: hi }\n");
    let out = ws.run(&["run", "workflows/brief.yaml", "--json"]);
    let ev = events(&out);
    assert_eq!(finished(&ev)["status"], "succeeded", "{}", text(&out));
    let offered = of_type(&ev, "llm_request")[0]["tools"].to_string();
    assert!(!offered.contains("skills.read"), "{offered}");
    let call = of_type(&ev, "tool_call")[0];
    assert_eq!(
        (call["decision"].as_str(), call["reason"].as_str()),
        (Some("denied"), Some("no such tool: skills.read"))
    );
}
