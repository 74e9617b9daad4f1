//! End-to-end: runs survive SIGKILL, resume from where they were, re-run from a step without
//! re-paying finished LLM steps, pause at approval gates across processes, and do all of it on
//! PostgreSQL too.

use crate::common::{Ws, events, finished, of_type, postgres_database, text};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::process::Stdio;

const KILLABLE: &str = r#"name: killable
bot: worker
steps:
  - id: first
    tool: core.echo
    with: { n: 1 }
  - id: think
    needs: [first]
    llm: { prompt: "Plan after {{ steps.first.output.n }}" }
  - id: slow
    needs: [think]
    tool: core.wait
    with: { seconds: 2.5 }
  - id: last
    needs: [slow]
    tool: core.echo
    with: { plan: "{{ steps.think.output }}" }
outputs:
  plan: "{{ steps.last.output.plan }}"
"#;

fn worker_workspace(script: &str) -> Ws {
    let ws = Ws::new();
    ws.write("bots/worker.yaml", "name: worker\nmodel: { provider: scripted, script: scripts/worker.yaml }\n");
    ws.write("scripts/worker.yaml", script);
    ws
}

/// Starts `monstrum run --json` and SIGKILLs it at the first event for which `now` holds;
/// returns the run id.
fn run_and_kill_when(ws: &Ws, file: &str, extra: &[&str], now: impl Fn(&Value) -> bool) -> String {
    let mut child = ws
        .cmd()
        .args(["run", file, "--json"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut run = None;
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let event: Value = serde_json::from_str(&line.unwrap()).unwrap();
        run.get_or_insert_with(|| event["run"].as_str().unwrap().to_string());
        if now(&event) {
            child.kill().expect("SIGKILL");
            break;
        }
    }
    child.wait().unwrap();
    run.expect("the run started")
}

/// Kills the run as soon as `step` has started.
fn run_and_kill_at(ws: &Ws, file: &str, step: &str, extra: &[&str]) -> String {
    run_and_kill_when(ws, file, extra, |e| e["type"] == "step_started" && e["step"] == step)
}

#[test]
fn a_run_killed_with_sigkill_resumes_without_repeating_finished_steps() {
    let ws = worker_workspace("- text: the plan\n  usage: { input_tokens: 10, output_tokens: 3 }\n");
    ws.write("workflows/killable.yaml", KILLABLE);
    let run = run_and_kill_at(&ws, "workflows/killable.yaml", "slow", &[]);

    // The store shows where it stopped.
    let shown = ws.run(&["runs", "show", &run, "--json"]);
    let detail: Value = serde_json::from_slice(&shown.stdout).expect("runs show");
    assert_eq!(detail["details"]["status"], "running");
    let resumed = ws.run(&["resume", &run, "--json"]);
    assert_eq!(resumed.status.code(), Some(0), "{}", text(&resumed));
    let ev = events(&resumed);
    assert_eq!(finished(&ev)["outputs"]["plan"], "the plan");
    // Finished steps were reused, not run again; the model was asked once in all (the script has
    // one turn, so a second request would have failed the run).
    let started: Vec<&str> = of_type(&ev, "step_started").iter().map(|e| e["step"].as_str().unwrap()).collect();
    assert_eq!(started, ["slow", "last"]);
    assert!(of_type(&ev, "llm_request").is_empty());
    let detail: Value = serde_json::from_slice(&ws.run(&["runs", "show", &run, "--json"]).stdout).unwrap();
    assert_eq!(detail["llm_requests"].as_array().unwrap().len(), 1);
    assert_eq!(detail["details"]["status"], "succeeded");
    // A finished run resumes to the same end without running anything.
    let again = ws.run(&["resume", &run, "--json"]);
    assert_eq!(again.status.code(), Some(0));
    assert!(of_type(&events(&again), "step_started").is_empty());
}

#[test]
fn resume_from_a_failed_step_does_not_repay_the_llm_steps_that_succeeded() {
    // The second model request fails (a provider error); the retry after the fix consumes the
    // next turn.
    let ws = worker_workspace("- text: expensive analysis\n- error: rate limited\n- text: '{\"ok\": true}'\n");
    ws.write(
        "workflows/two.yaml",
        r#"name: two
bot: worker
steps:
  - id: analyse
    llm: { prompt: analyse }
  - id: decide
    needs: [analyse]
    llm: { prompt: "decide on {{ steps.analyse.output }}", output: json }
outputs:
  ok: "{{ steps.decide.output.ok }}"
"#,
    );
    let out = ws.run(&["run", "workflows/two.yaml", "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let run = finished(&events(&out))["run"].as_str().unwrap().to_string();
    assert!(finished(&events(&out))["error"].as_str().unwrap().contains("rate limited"));

    let again = ws.run(&["resume", &run, "--from", "decide", "--json"]);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));
    let ev = events(&again);
    assert_eq!(finished(&ev)["outputs"]["ok"], true);
    let asked: Vec<&str> = of_type(&ev, "llm_request").iter().map(|e| e["step"].as_str().unwrap()).collect();
    assert_eq!(asked, ["decide"], "analyse must not be asked again");
    let detail: Value = serde_json::from_slice(&ws.run(&["runs", "show", &run, "--json"]).stdout).unwrap();
    let per_step: Vec<&str> =
        detail["llm_requests"].as_array().unwrap().iter().map(|r| r["step_key"].as_str().unwrap()).collect();
    assert_eq!(per_step, ["analyse", "decide", "decide"], "every request is recorded, the failed one too");
}

#[test]
fn a_for_each_killed_half_way_resumes_only_the_unfinished_items() {
    let ws = Ws::new();
    ws.write(
        "workflows/items.yaml",
        r#"name: items
steps:
  - id: each
    for_each: "range(6) | list"
    max_parallel: 1
    tool: core.wait
    with: { seconds: "{{ 2 if item == 3 else 0.01 }}" }
  - id: after
    needs: [each]
    tool: core.echo
    with: { n: "{{ steps.each.output | length }}" }
outputs:
  n: "{{ steps.after.output.n }}"
"#,
    );
    // Kill while item 3 waits (items 0..2 are recorded by then: max_parallel 1 runs them in order).
    let run = run_and_kill_when(&ws, "workflows/items.yaml", &[], |e| e["type"] == "step_progress" && e["done"] == 3);
    let resumed = ws.run(&["resume", &run, "--json"]);
    assert_eq!(resumed.status.code(), Some(0), "{}", text(&resumed));
    let ev = events(&resumed);
    assert_eq!(finished(&ev)["outputs"]["n"], 6);
    let calls =
        of_type(&ev, "tool_call").into_iter().filter(|c| c["step"].as_str().unwrap().starts_with("each[")).count();
    assert_eq!(calls, 3, "items 0, 1 and 2 were finished before the kill: {ev:#?}");
}

#[test]
fn an_approval_gate_pauses_the_run_until_someone_decides() {
    let ws = Ws::example("approval");
    let out = ws.run(&["run", "workflows/restart.yaml"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let run = stdout.split_whitespace().nth(1).unwrap().to_string();
    assert!(stdout.contains(&format!("monstrum approve {run} gate")), "the exact command is printed:\n{stdout}");

    // A new process decides; the run goes on from the gate.
    let approved = ws.run(&["approve", &run, "gate", "--comment", "go ahead", "--as", "alice", "--json"]);
    assert_eq!(approved.status.code(), Some(0), "{}", text(&approved));
    let ev = events(&approved);
    assert_eq!(finished(&ev)["outputs"], json!({ "restart": "succeeded", "decided_by": "alice" }));
    let restart = ev.iter().find(|e| e["type"] == "step_finished" && e["step"] == "restart").unwrap();
    assert_eq!(restart["output"]["approved_by"], "alice");
    assert_eq!(of_type(&ev, "step_skipped")[0]["step"], "tell-rejected");
    // A decided gate cannot be decided again.
    let twice = ws.run(&["approve", &run, "gate", "--reject"]);
    assert_eq!(twice.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&twice.stderr).contains("already decided"), "{}", text(&twice));
}

#[test]
fn a_rejected_gate_skips_its_dependants_and_lets_an_if_react() {
    let ws = Ws::example("approval");
    let out = ws.run(&["run", "workflows/restart.yaml", "--json"]);
    assert_eq!(out.status.code(), Some(3));
    let ev = events(&out);
    let asked = &of_type(&ev, "approval_requested")[0];
    assert_eq!(asked["message"], "Restart app? It reports healthy=False");
    let run = asked["run"].as_str().unwrap();
    let rejected = ws.run(&["approve", run, "gate", "--reject", "--comment", "not now", "--json"]);
    assert_eq!(rejected.status.code(), Some(0), "{}", text(&rejected));
    let ev = events(&rejected);
    assert_eq!(finished(&ev)["outputs"]["restart"], "skipped");
    let told = ev.iter().find(|e| e["type"] == "step_finished" && e["step"] == "tell-rejected").unwrap();
    assert_eq!(told["output"]["text"], "restart of app rejected: not now");
}

#[test]
fn gates_enforce_approvers_self_approval_and_expiry() {
    let ws = Ws::new();
    ws.write(
        "workflows/guarded.yaml",
        r#"name: guarded
steps:
  - id: gate
    approval: { message: "ship?", approvers: [oncall, tester], self_approval: false }
  - id: ship
    needs: [gate]
    tool: core.echo
"#,
    );
    ws.write(
        "workflows/hurry.yaml",
        "name: hurry\nsteps:\n  - id: gate\n    approval: { message: quick, timeout: 300ms }\n  - id: go\n    needs: [gate]\n    tool: core.echo\noutputs:\n  go: \"{{ steps.go.status }}\"\n  approved: \"{{ steps.gate.approved }}\"\n",
    );
    let out = ws.run(&["run", "workflows/guarded.yaml", "--json"]);
    assert_eq!(out.status.code(), Some(3));
    let run = finished(&events(&out))["run"].as_str().unwrap().to_string();
    let stranger = ws.run(&["approve", &run, "gate", "--as", "mallory"]);
    assert_eq!(stranger.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&stranger.stderr).contains("may not decide"), "{}", text(&stranger));
    // `tester` started the run (USER=tester) and is an approver, but self-approval is off.
    let me = ws.run(&["approve", &run, "gate"]);
    assert_eq!(me.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&me.stderr).contains("self-approval"), "{}", text(&me));
    let detail: Value = serde_json::from_slice(&ws.run(&["runs", "show", &run, "--json"]).stdout).unwrap();
    assert_eq!(detail["details"]["status"], "waiting", "refused decisions change nothing");
    let oncall = ws.run(&["approve", &run, "gate", "--as", "oncall", "--json"]);
    assert_eq!(oncall.status.code(), Some(0), "{}", text(&oncall));

    // An expired gate rejects, even when someone approves too late.
    let out = ws.run(&["run", "workflows/hurry.yaml", "--json"]);
    assert_eq!(out.status.code(), Some(3));
    let run = finished(&events(&out))["run"].as_str().unwrap().to_string();
    std::thread::sleep(std::time::Duration::from_millis(500));
    let late = ws.run(&["approve", &run, "gate", "--json"]);
    assert_eq!(late.status.code(), Some(0), "{}", text(&late));
    let ev = events(&late);
    assert_eq!(finished(&ev)["outputs"], json!({ "go": "skipped", "approved": false }));
}

#[test]
fn the_same_runs_work_on_postgresql() {
    let Some(url) = postgres_database() else { return };
    let ws = Ws::example("hello");
    let out = ws.run(&["run", "workflows/hello.yaml", "--db", &url, "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(finished(&events(&out))["outputs"]["greeting"], "Hello, world!");
    assert!(!ws.path().join(".monstrum/monstrum.db").exists(), "nothing went to SQLite");

    // A gate and a SIGKILL on PostgreSQL, decided and resumed by other processes.
    let ws = worker_workspace("- text: the plan\n");
    ws.write("workflows/killable.yaml", KILLABLE);
    let run = run_and_kill_at(&ws, "workflows/killable.yaml", "slow", &["--db", &url]);
    let resumed = ws.run(&["resume", &run, "--db", &url, "--json"]);
    assert_eq!(resumed.status.code(), Some(0), "{}", text(&resumed));
    let started: Vec<String> =
        of_type(&events(&resumed), "step_started").iter().map(|e| e["step"].as_str().unwrap().to_string()).collect();
    assert_eq!(started, ["slow", "last"]);

    let ws = Ws::example("approval");
    let out = ws.run(&["run", "workflows/restart.yaml", "--db", &url, "--json"]);
    assert_eq!(out.status.code(), Some(3));
    let run = finished(&events(&out))["run"].as_str().unwrap().to_string();
    let approved = ws.run(&["approve", &run, "gate", "--db", &url, "--as", "bob", "--json"]);
    assert_eq!(approved.status.code(), Some(0), "{}", text(&approved));
    assert_eq!(finished(&events(&approved))["outputs"]["decided_by"], "bob");
    let listed = events(&ws.run(&["runs", "list", "--db", &url, "--json"]));
    assert_eq!(listed.len(), 3, "{listed:#?}");
}

#[test]
fn a_decision_made_while_the_run_is_still_busy_is_picked_up_by_the_process_driving_it() {
    let ws = Ws::new();
    ws.write(
        "workflows/busy.yaml",
        r#"name: busy
steps:
  - id: gate
    approval: { message: "go?" }
  - id: slow
    tool: core.wait
    with: { seconds: 2 }
  - id: done
    needs: [gate, slow]
    tool: core.echo
    with: { by: "{{ steps.gate.by }}" }
outputs:
  by: "{{ steps.done.output.by }}"
"#,
    );
    let mut child = ws
        .cmd()
        .args(["run", "workflows/busy.yaml", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut run = String::new();
    for line in lines.by_ref() {
        let event: Value = serde_json::from_str(&line.unwrap()).unwrap();
        if event["type"] == "approval_requested" {
            run = event["run"].as_str().unwrap().to_string();
            break;
        }
    }
    // While `slow` runs, nobody else may drive the run, but a decision is recorded.
    let resume = ws.run(&["resume", &run]);
    assert_eq!(resume.status.code(), Some(1), "{}", text(&resume));
    assert!(String::from_utf8_lossy(&resume.stderr).contains("being driven by"), "{}", text(&resume));
    let approve = ws.run(&["approve", &run, "gate", "--as", "carol"]);
    assert_eq!(approve.status.code(), Some(0), "{}", text(&approve));
    assert!(String::from_utf8_lossy(&approve.stdout).contains("decision recorded"), "{}", text(&approve));
    let rest: Vec<Value> = lines.map(|l| serde_json::from_str(&l.unwrap()).unwrap()).collect();
    assert!(child.wait().unwrap().success());
    assert_eq!(finished(&rest)["status"], "succeeded", "{rest:#?}");
    assert_eq!(finished(&rest)["outputs"]["by"], "carol");
}

/// Two processes run workflows on one store at the same time: each seals audit records onto the
/// head it knows, so their appends clash on `seq`. The writer that loses reads the head again and
/// reseals its batch: every record is kept once, in one intact chain, on SQLite and PostgreSQL.
#[test]
fn two_processes_appending_to_one_trail_keep_one_intact_chain() {
    let steps = 150;
    let mut wide = String::from("name: wide\nmax_parallel: 16\nsteps:\n");
    for i in 0..steps {
        wide.push_str(&format!("  - id: s{i}\n    tool: core.echo\n    with: {{ i: {i} }}\n"));
    }
    let ws = Ws::new();
    ws.write("workflows/wide.yaml", &wide);
    let mut stores = vec![None];
    stores.extend(postgres_database().map(Some));
    for db in stores {
        let db_args: Vec<&str> = db.as_deref().map_or(vec![], |url| vec!["--db", url]);
        // One record first, so both processes start from a head they read from the store.
        let first = ws.run(&[&["run", "workflows/wide.yaml", "--json"][..], &db_args].concat());
        assert_eq!(first.status.code(), Some(0), "{}", text(&first));
        let children: Vec<_> = (0..2)
            .map(|_| {
                ws.cmd()
                    .args(["run", "workflows/wide.yaml", "--json"])
                    .args(&db_args)
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .expect("start monstrum")
            })
            .collect();
        for child in children {
            let out = child.wait_with_output().expect("monstrum ends");
            assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        }
        let verified = events(&ws.run(&[&["audit", "verify", "--json"][..], &db_args].concat()));
        let v = verified.iter().find(|e| e["type"] == "audit_verify").expect("a verdict");
        assert_eq!(v["intact"], true, "{v:#}");
        // Two records per call (the decision and the result), three runs.
        assert_eq!(v["records"], 2 * 3 * steps, "{v:#}");
    }
}
