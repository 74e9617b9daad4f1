//! End-to-end: the real binary runs workflows on the embedded SQLite store.

use crate::common::{Ws, events, finished, of_type, text};
use serde_json::json;

#[test]
fn hello_runs_parallel_steps_a_condition_a_fan_out_and_an_llm_step() {
    let ws = Ws::example("hello");
    let out = ws.run(&["run", "workflows/hello.yaml", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let ev = events(&out);
    let end = finished(&ev);
    assert_eq!(end["status"], "succeeded");
    assert_eq!(
        end["outputs"],
        json!({ "greeting": "Hello, world!", "summary": "Greeted world in en, fr and de", "shout": "skipped" })
    );
    // Every event names the run.
    let run = end["run"].as_str().unwrap();
    assert!(ev.iter().all(|e| e["run"] == run), "{ev:#?}");
    // greet and measure have no needs: both start before either finishes.
    let pos = |kind: &str, step: &str| {
        ev.iter().position(|e| e["type"] == kind && e["step"] == step).unwrap_or_else(|| panic!("no {kind} {step}"))
    };
    assert!(pos("step_started", "measure") < pos("step_finished", "greet"));
    assert!(pos("step_started", "greet") < pos("step_finished", "measure"));
    // The condition skipped shout.
    let skipped = of_type(&ev, "step_skipped");
    assert_eq!(skipped.len(), 1);
    assert_eq!(skipped[0]["step"], "shout");
    // for_each collected the items' outputs in order.
    let translate = ev.iter().find(|e| e["type"] == "step_finished" && e["step"] == "translate").unwrap();
    let langs: Vec<&str> =
        translate["output"].as_array().unwrap().iter().map(|o| o["lang"].as_str().unwrap()).collect();
    assert_eq!(langs, ["en", "fr", "de"]);
    // The model was asked twice and offered exactly the step's tools; its tool call went through the gate.
    let requests = of_type(&ev, "llm_request");
    assert_eq!(requests.len(), 2);
    assert!(requests.iter().all(|r| r["tools"] == json!(["core.echo"])));
    assert_eq!(requests[0]["input_tokens"], 120);
    assert!(requests[1]["input_tokens"].as_u64().unwrap() > 0, "usage is estimated offline");
    let calls: Vec<_> = of_type(&ev, "tool_call").into_iter().filter(|c| c["step"] == "summarize").collect();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0]["decision"], "allowed");
    // The run is in the store.
    let shown = ws.run(&["runs", "show", run, "--json"]);
    let detail: serde_json::Value = serde_json::from_slice(&shown.stdout).unwrap();
    assert_eq!(detail["details"]["status"], "succeeded");
    assert_eq!(detail["llm_requests"].as_array().unwrap().len(), 2);
    assert!(ws.path().join(".monstrum/monstrum.db").exists());
}

#[test]
fn the_progress_view_shows_steps_and_the_outputs() {
    let ws = Ws::example("hello");
    let out = ws.run(&["run", "workflows/hello.yaml", "--input", "who=Ada Lovelace the Countess"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stdout.contains("succeeded"), "{stdout}");
    assert!(stdout.contains("Hello, Ada Lovelace the Countess!"), "{stdout}");
    assert!(stderr.contains("✓ greet"), "{stderr}");
    // A long name makes the condition true, so shout ran this time.
    assert!(stderr.contains("✓ shout"), "{stderr}");
    assert!(stdout.contains("\"shout\": \"succeeded\""), "{stdout}");
}

#[test]
fn validate_reports_every_problem_with_file_line_and_column_and_runs_nothing() {
    let ws = Ws::new();
    ws.write(
        "workflows/bad.yaml",
        "name: bad
steps:
  - id: a
    tool: core.echo
    colour: red
  - id: b
    needs: [a, nope]
    tool: core.echo
  - id: c
    needs: [d]
    tool: core.echo
  - id: d
    needs: [c]
    tool: core.echo
    with: { x: \"{{ steps.c.output | }}\" }
  - id: e
    tool: core.echo
    llm: { prompt: hi }
",
    );
    let out = ws.run(&["validate", "workflows/bad.yaml"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    for expected in [
        "workflows/bad.yaml:5:5",  // unknown key
        "workflows/bad.yaml:7:16", // unknown need
        "workflows/bad.yaml:10:5", // the cycle
        "c -> d -> c",
        "workflows/bad.yaml:15:16", // bad template
        "workflows/bad.yaml:18:5",  // two kinds
        "E012",
        "E004",
        "E005",
        "E006",
        "E007",
    ] {
        assert!(stderr.contains(expected), "missing {expected} in:\n{stderr}");
    }
    // The same problems as JSON, one per line.
    let out = ws.run(&["validate", "workflows/bad.yaml", "--json"]);
    let problems = events(&out);
    assert_eq!(problems.len(), 5, "{problems:#?}");
    assert!(problems.iter().all(|p| p["type"] == "diagnostic" && p["line"].is_u64() && p["column"].is_u64()));
    // `run` refuses the file with the same exit code and records nothing.
    let out = ws.run(&["run", "workflows/bad.yaml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(!ws.path().join(".monstrum/monstrum.db").exists(), "an invalid file must not touch the store");
}

#[test]
fn validate_accepts_the_examples_and_checks_what_they_name() {
    let ws = Ws::example("hello");
    let out = ws.run(&["validate", "workflows/hello.yaml", "bots/greeter.yaml"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    std::fs::remove_file(ws.path().join("bots/greeter.yaml")).unwrap();
    let out = ws.run(&["validate", "workflows/hello.yaml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown bot `greeter`"), "{}", text(&out));
}

#[test]
fn malformed_yaml_is_reported_with_its_place() {
    let ws = Ws::new();
    ws.write("workflows/broken.yaml", "name: broken\nsteps:\n  - id: a\n    tool: [core.echo\n");
    let out = ws.run(&["validate", "workflows/broken.yaml", "--json"]);
    assert_eq!(out.status.code(), Some(2));
    let p = &events(&out)[0];
    assert_eq!(p["code"], "E001");
    assert!(p["line"].as_u64().unwrap() >= 4, "{p}");
}

#[test]
fn inputs_are_typed_and_required() {
    let ws = Ws::new();
    ws.write(
        "workflows/in.yaml",
        "name: in\ninputs:\n  count: { type: integer }\n  tags: { type: array, default: [] }\nsteps:\n  - id: a\n    tool: core.echo\n    with: { n: \"{{ inputs.count + 1 }}\", tags: \"{{ inputs.tags }}\" }\noutputs:\n  n: \"{{ steps.a.output.n }}\"\n",
    );
    let missing = ws.run(&["run", "workflows/in.yaml"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("missing input `count`"), "{}", text(&missing));
    let wrong = ws.run(&["run", "workflows/in.yaml", "-i", "count=many"]);
    assert_eq!(wrong.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("must be an integer"), "{}", text(&wrong));
    let unknown = ws.run(&["run", "workflows/in.yaml", "-i", "count=1", "-i", "colour=red"]);
    assert_eq!(unknown.status.code(), Some(2));
    let ok = ws.run(&["run", "workflows/in.yaml", "-i", "count=41", "-i", "tags=[\"a\",\"b\"]", "--json"]);
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok));
    let ev = events(&ok);
    // A template that is one expression keeps its type.
    assert_eq!(finished(&ev)["outputs"]["n"], 42);
    let a = ev.iter().find(|e| e["type"] == "step_finished" && e["step"] == "a").unwrap();
    assert_eq!(a["output"]["tags"], json!(["a", "b"]));
}

#[test]
fn a_template_failing_at_run_time_fails_the_run_naming_the_step() {
    let ws = Ws::new();
    ws.write(
        "workflows/t.yaml",
        "name: t\nsteps:\n  - id: a\n    tool: core.echo\n    with: { x: 1 }\n  - id: b\n    needs: [a]\n    tool: core.echo\n    with: { y: \"{{ steps.a.output.nothing_here }}\" }\n",
    );
    let out = ws.run(&["run", "workflows/t.yaml", "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let ev = events(&out);
    let end = finished(&ev);
    assert_eq!(end["status"], "failed");
    assert!(end["error"].as_str().unwrap().contains("step `b`"), "{end}");
    // What was already done is kept.
    let shown = ws.run(&["runs", "show", end["run"].as_str().unwrap(), "--json"]);
    let detail: serde_json::Value = serde_json::from_slice(&shown.stdout).unwrap();
    let steps = detail["steps"].as_array().unwrap();
    assert!(steps.iter().any(|s| s["step_key"] == "a" && s["status"] == "succeeded"), "{steps:#?}");
    assert!(steps.iter().any(|s| s["step_key"] == "b" && s["status"] == "failed"), "{steps:#?}");
}

#[test]
fn on_error_continue_lets_an_if_react_and_skips_plain_dependants() {
    let ws = Ws::new();
    ws.write(
        "workflows/e.yaml",
        r#"name: e
steps:
  - id: boom
    tool: core.fail
    with: { message: "disk full" }
    on_error: continue
  - id: after
    needs: [boom]
    tool: core.echo
  - id: alert
    needs: [boom]
    if: "steps.boom.status == 'failed'"
    tool: core.echo
    with: { text: "boom said {{ steps.boom.error }}" }
outputs:
  alert: "{{ steps.alert.output.text }}"
"#,
    );
    let out = ws.run(&["run", "workflows/e.yaml", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let ev = events(&out);
    assert_eq!(finished(&ev)["outputs"]["alert"], "boom said disk full");
    assert_eq!(of_type(&ev, "step_failed")[0]["step"], "boom");
    assert_eq!(of_type(&ev, "step_skipped")[0]["step"], "after");
}

#[test]
fn a_failing_step_fails_the_run_and_cancels_what_is_running() {
    let ws = Ws::new();
    ws.write(
        "workflows/f.yaml",
        "name: f\nsteps:\n  - id: slow\n    tool: core.wait\n    with: { seconds: 30 }\n  - id: boom\n    tool: core.fail\n    with: { message: nope }\n  - id: later\n    needs: [boom]\n    tool: core.echo\n",
    );
    let started = std::time::Instant::now();
    let out = ws.run(&["run", "workflows/f.yaml", "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(started.elapsed().as_secs() < 20, "the slow step was not cancelled");
    let ev = events(&out);
    assert!(finished(&ev)["error"].as_str().unwrap().contains("nope"));
    assert!(of_type(&ev, "step_started").iter().all(|e| e["step"] != "later"));
}

#[test]
fn retries_back_off_and_timeouts_cancel_the_attempt() {
    let ws = Ws::new();
    ws.write(
        "workflows/r.yaml",
        r#"name: r
steps:
  - id: stuck
    tool: core.wait
    with: { seconds: 20 }
    timeout: 200ms
    retry: { attempts: 3, backoff: 100ms }
    on_error: continue
outputs:
  error: "{{ steps.stuck.error }}"
"#,
    );
    let started = std::time::Instant::now();
    let out = ws.run(&["run", "workflows/r.yaml", "--json"]);
    let took = started.elapsed();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let ev = events(&out);
    let attempts: Vec<u64> = of_type(&ev, "step_started").iter().map(|e| e["attempt"].as_u64().unwrap()).collect();
    assert_eq!(attempts, [1, 2, 3]);
    assert!(finished(&ev)["outputs"]["error"].as_str().unwrap().contains("timed out after 200ms"));
    // 3 × 200 ms of attempts + 100 ms + 200 ms of backoff, far below one 20 s wait.
    assert!(took.as_millis() >= 900, "backoff was not waited: {took:?}");
    assert!(took.as_secs() < 15, "{took:?}");
}

#[test]
fn a_step_output_that_is_too_large_fails_the_step_clearly() {
    let ws = Ws::new();
    ws.write(
        "workflows/big.yaml",
        "name: big\nsteps:\n  - id: big\n    tool: core.echo\n    with: { blob: \"{{ 'x' * 17000000 }}\" }\n",
    );
    let out = ws.run(&["run", "workflows/big.yaml", "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let ev = events(&out);
    assert!(finished(&ev)["error"].as_str().unwrap().contains("larger than the limit"), "{:?}", finished(&ev));
}

#[test]
fn a_store_that_cannot_be_opened_is_a_clear_error_and_is_left_alone() {
    let ws = Ws::example("hello");
    std::fs::create_dir_all(ws.path().join(".monstrum")).unwrap();
    std::fs::write(ws.path().join(".monstrum/monstrum.db"), b"this is not a database").unwrap();
    let out = ws.run(&["run", "workflows/hello.yaml"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("store"), "{stderr}");
    // Nothing was lost: the file is as it was.
    assert_eq!(std::fs::read(ws.path().join(".monstrum/monstrum.db")).unwrap(), b"this is not a database");
}

#[test]
fn sub_workflows_run_as_child_runs() {
    let ws = Ws::new();
    ws.write(
        "workflows/child.yaml",
        "name: child\ninputs:\n  n: { type: integer }\nsteps:\n  - id: double\n    tool: core.echo\n    with: { v: \"{{ inputs.n * 2 }}\" }\noutputs:\n  doubled: \"{{ steps.double.output.v }}\"\n",
    );
    ws.write(
        "workflows/parent.yaml",
        "name: parent\nsteps:\n  - id: sub\n    for_each: \"[1, 2, 3]\"\n    workflow: child.yaml\n    with: { n: \"{{ item }}\" }\noutputs:\n  all: \"{{ steps.sub.output | map(attribute='doubled') | list }}\"\n",
    );
    let out = ws.run(&["run", "workflows/parent.yaml", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let ev = events(&out);
    assert_eq!(finished(&ev)["outputs"]["all"], json!([2, 4, 6]));
    let runs = ws.run(&["runs", "list", "--json"]);
    assert_eq!(events(&runs).len(), 4, "a parent and three child runs");
}

#[test]
fn parallelism_is_bounded_by_max_parallel() {
    let ws = Ws::new();
    ws.write(
        "workflows/bounded.yaml",
        "name: bounded\nmax_parallel: 1\nsteps:\n  - id: a\n    tool: core.wait\n    with: { seconds: 0.05 }\n  - id: b\n    tool: core.wait\n    with: { seconds: 0.05 }\n  - id: c\n    tool: core.wait\n    with: { seconds: 0.05 }\n",
    );
    let out = ws.run(&["run", "workflows/bounded.yaml", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // With one slot, each step starts only after the previous one finished.
    let order: Vec<String> = events(&out)
        .iter()
        .filter(|e| e["type"] == "step_started" || e["type"] == "step_finished")
        .map(|e| format!("{} {}", e["type"].as_str().unwrap(), e["step"].as_str().unwrap()))
        .collect();
    assert_eq!(
        order,
        ["step_started a", "step_finished a", "step_started b", "step_finished b", "step_started c", "step_finished c"]
    );
}
