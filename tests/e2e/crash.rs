//! Side effects across SIGKILL: a workflow that comments on a local GitHub (a write) and reads an
//! issue (a read) is killed at many random moments, in its first run and in its resumes. After
//! every kill the run is resumed until it ends; a write left in doubt (sent, its result never
//! recorded) is not sent again by itself: the step waits at a gate, and the test decides as a
//! person would, from what the server shows (mark it done with the comment it finds, or send it
//! again). At the end every run has finished, every comment exists exactly once, and a comment
//! sent again after a gate carried the same idempotency key as the first try.

use crate::common::{Ws, events, text};
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Comments the server received: (body, idempotency key).
type Comments = Arc<Mutex<Vec<(String, Option<String>)>>>;

/// GitHub's comment and issue routes. A comment is made after a delay and answered after another,
/// so that a kill lands before the comment is made (a call sent that had no effect) or after it
/// (a write that happened without a recorded result).
async fn github(
    State(seen): State<Comments>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: String,
) -> (StatusCode, String) {
    let parts: Vec<String> = uri.path().trim_start_matches('/').split('/').map(str::to_string).collect();
    let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
    match (method.as_str(), parts.as_slice()) {
        ("POST", ["repos", _, _, "issues", _, "comments"]) => {
            let text = serde_json::from_str::<Value>(&body).ok().and_then(|v| v["body"].as_str().map(str::to_string));
            let key = headers.get("idempotency-key").and_then(|v| v.to_str().ok()).map(str::to_string);
            // A client killed now drops the connection, and this handler with it: the comment is
            // never made, though the call was sent.
            tokio::time::sleep(Duration::from_millis(100)).await;
            let id = {
                let mut seen = seen.lock().unwrap();
                seen.push((text.unwrap_or_default(), key));
                seen.len()
            };
            tokio::time::sleep(Duration::from_millis(100)).await;
            (StatusCode::CREATED, json!({ "id": id, "html_url": format!("https://github.example/c/{id}"), "user": { "login": "me" } }).to_string())
        }
        ("GET", ["repos", _, _, "issues", n]) => (
            StatusCode::OK,
            json!({ "number": n.parse::<u64>().unwrap_or(0), "title": "Disk full", "state": "open", "body": "",
                    "user": { "login": "octocat" }, "labels": [], "comments": 0, "html_url": "https://github.example/i" })
            .to_string(),
        ),
        _ => (StatusCode::NOT_FOUND, json!({ "message": "Not Found" }).to_string()),
    }
}

/// Six comments (two of them in parallel, three from a for_each) between reads and core steps.
fn workflow(run: usize) -> String {
    format!(
        r#"name: notify
bot: ops
steps:
  - {{ id: read, tool: gh.get_issue, with: {{ repo: acme/site, number: 7 }} }}
  - {{ id: first, needs: [read], tool: gh.create_comment, with: {{ repo: acme/site, number: 7, body: "r{run} first" }} }}
  - {{ id: pause, needs: [first], tool: core.wait, with: {{ seconds: 0.1 }} }}
  - {{ id: left, needs: [pause], tool: gh.create_comment, with: {{ repo: acme/site, number: 7, body: "r{run} left" }} }}
  - {{ id: right, needs: [pause], tool: gh.create_comment, with: {{ repo: acme/site, number: 7, body: "r{run} right" }} }}
  - id: each
    needs: [left, right]
    for_each: '["a", "b", "c"]'
    tool: gh.create_comment
    with: {{ repo: acme/site, number: 7, body: "r{run} each {{{{ item }}}}" }}
  - {{ id: again, needs: [each], tool: gh.get_issue, with: {{ repo: acme/site, number: 7 }} }}
outputs:
  ids: "{{{{ steps.each.output | map(attribute='id') | join(',') }}}}"
"#
    )
}

/// A small deterministic generator (xorshift), so a failure can be replayed from its seed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// Runs `args` and SIGKILLs it after `after` unless it ends first; returns its output and
/// whether it was killed.
fn run_killed_after(ws: &Ws, args: &[&str], after: Duration) -> (std::process::Output, bool) {
    let mut child: Child =
        ws.cmd().args(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("start monstrum");
    let started = Instant::now();
    let killed = loop {
        if child.try_wait().expect("wait").is_some() {
            break false;
        }
        if started.elapsed() >= after {
            child.kill().expect("SIGKILL");
            break true;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    (child.wait_with_output().expect("output"), killed)
}

/// The id of the newest run (a run killed before it printed anything still exists if it began).
fn newest_run(ws: &Ws) -> Option<String> {
    let out = ws.run(&["runs", "list", "--json", "--limit", "1"]);
    events(&out).first().and_then(|r| r["run"].as_str()).map(str::to_string)
}

/// A workspace whose bot `ops` may read issues of and comment on `acme/site` at `api`.
fn ops_workspace(api: &str) -> Ws {
    let ws = Ws::new();
    ws.write(
        "bots/ops.yaml",
        &format!(
            "name: ops\nresources:\n  - {{ plugin: github, instance: gh, credential: gh-token, tools: [get_issue, create_comment], scope: {{ repos: [acme/site] }}, config: {{ api_url: \"{api}\" }} }}\n"
        ),
    );
    ws.vault_set("gh-token", "ghp_test");
    ws
}

/// A workspace whose bot `treasurer` may pay `alice` from the node's funded account.
fn treasurer_workspace(node: &crate::common::ganache::Ganache, alice: &str) -> Ws {
    let ws = Ws::new();
    ws.write(
        "bots/treasurer.yaml",
        &format!(
            "name: treasurer\nresources:\n  - {{ plugin: evm, instance: wallet, credential: wallet-key, tools: [address, transfer], \
             scope: {{ recipients: [\"{alice}\"], max_value: 1000000 }}, config: {{ rpc_url: \"{}\" }} }}\n",
            node.url
        ),
    );
    ws.vault_set("wallet-key", &format!("0x{}\n", node.key));
    ws
}

#[test]
fn killed_at_random_moments_no_write_is_lost_or_sent_twice() {
    let seen: Comments = Arc::default();
    let api = crate::common::serve(Router::new().fallback(github).with_state(seen.clone()));
    let ws = ops_workspace(&api);
    // Warm the plugin cache so that kills land in the run, not in the first compilation.
    ws.write(
        "workflows/warm.yaml",
        "name: warm\nbot: ops\nsteps:\n  - { id: read, tool: gh.get_issue, with: { repo: acme/site, number: 1 } }\n",
    );
    let warm = ws.run(&["run", "workflows/warm.yaml"]);
    assert!(warm.status.success(), "{}", text(&warm));

    let seed = std::env::var("MONSTRUM_CRASH_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x5eed_u64);
    let mut rng = Rng(seed);
    let runs = 16;
    let (mut kills, mut gates, mut resent, mut marked) = (0, 0, 0, 0);
    for r in 0..runs {
        let file = format!("workflows/notify{r}.yaml");
        ws.write(&file, &workflow(r));
        let before = newest_run(&ws);
        let (out, killed) = run_killed_after(&ws, &["run", "--json", &file], Duration::from_millis(rng.below(1200)));
        let Some(run) = newest_run(&ws).filter(|id| Some(id) != before.as_ref()) else {
            assert!(killed, "run {r} did not start: {}", text(&out));
            kills += 1;
            continue; // killed before the run was recorded: nothing happened
        };
        kills += usize::from(killed);
        let mut last = (out, killed);
        for round in 0.. {
            assert!(round < 40, "run {r} ({run}) does not end: {}", text(&last.0));
            let code = last.0.status.code();
            if !last.1 && code == Some(0) {
                break;
            }
            if !last.1 && code == Some(3) {
                // Waiting at gates over writes in doubt: decide as a person looking at GitHub.
                let evs = events(&last.0);
                let waiting: Vec<String> = evs
                    .iter()
                    .filter(|e| e["type"] == "approval_requested")
                    .filter_map(|e| e["step"].as_str().map(str::to_string))
                    .collect();
                assert!(!waiting.is_empty(), "run {r} waits without a gate: {}", text(&last.0));
                for step in waiting {
                    gates += 1;
                    let body = expected_body(r, &step);
                    let found = seen.lock().unwrap().iter().position(|(b, _)| *b == body);
                    let mut args = vec!["approve".to_string(), run.clone(), step.clone(), "--json".into()];
                    match found {
                        Some(i) => {
                            marked += 1;
                            args.push("--output".into());
                            args.push(json!({ "id": i + 1, "html_url": "found by a person" }).to_string());
                        }
                        None => resent += 1,
                    }
                    let args: Vec<&str> = args.iter().map(String::as_str).collect();
                    let decided = ws.run(&args);
                    assert!(matches!(decided.status.code(), Some(0 | 3)), "{}", text(&decided));
                }
            } else if !last.1 {
                panic!("run {r} ({run}) ended with {code:?}: {}", text(&last.0));
            }
            let kill_after = if rng.below(3) == 0 { rng.below(600) } else { 60_000 };
            last = run_killed_after(&ws, &["resume", &run, "--json"], Duration::from_millis(kill_after));
            kills += usize::from(last.1);
        }
        let shown = ws.run(&["runs", "show", &run, "--json"]);
        let details = events(&shown);
        assert_eq!(details[0]["details"]["status"], "succeeded", "{}", text(&shown));
    }

    // Every comment of every run that began exists once, and nothing else was posted.
    let seen = seen.lock().unwrap().clone();
    let mut count: HashMap<&str, usize> = HashMap::new();
    for (body, _) in &seen {
        *count.entry(body.as_str()).or_default() += 1;
    }
    let duplicates: Vec<_> = count.iter().filter(|(_, n)| **n > 1).collect();
    assert!(duplicates.is_empty(), "comments sent twice: {duplicates:?}");
    // Each comment carried its call's idempotency key, run/step/attempt: the same key whether it
    // went out in the first process or was sent again after a gate in a later one.
    for (body, key) in &seen {
        let key = key.as_deref().unwrap_or_else(|| panic!("{body} came without an idempotency key"));
        let (run_part, rest) = key.split_once('/').expect("run/step/attempt");
        let step = rest.rsplit_once('/').map(|(s, _)| s).expect("step/attempt");
        let r: usize = body[1..].split(' ').next().and_then(|n| n.parse().ok()).expect("r<N> …");
        assert_eq!(expected_body(r, step), *body, "the key {key} belongs to another comment");
        assert!(key.ends_with("/1") && !run_part.is_empty(), "first attempt, same key across processes: {key}");
    }
    eprintln!(
        "crash test (seed {seed:#x}): {runs} runs, {kills} kills, {gates} writes in doubt gated \
         ({marked} marked done, {resent} sent again), {} comments, 0 duplicates",
        seen.len()
    );
}

/// The comment body of `step` (`first`, `each[1]`, ...) in run `r`.
fn expected_body(r: usize, step: &str) -> String {
    match step.split_once('[') {
        Some((_, index)) => {
            let i: usize = index.trim_end_matches(']').parse().expect("an item index");
            format!("r{r} each {}", ["a", "b", "c"][i])
        }
        None => format!("r{r} {step}"),
    }
}

/// Three transfers (two in parallel) from the bound account to `alice`, of amounts unique to
/// run `r`.
fn transfers(r: u64, alice: &str) -> String {
    let amount = |i: u64| 1000 * (r + 1) + i;
    format!(
        r#"name: pay
bot: treasurer
steps:
  - {{ id: one, tool: wallet.transfer, with: {{ to: "{alice}", value: "{}" }} }}
  - {{ id: two, needs: [one], tool: wallet.transfer, with: {{ to: "{alice}", value: "{}" }} }}
  - {{ id: three, needs: [one], tool: wallet.transfer, with: {{ to: "{alice}", value: "{}" }} }}
"#,
        amount(1),
        amount(2),
        amount(3)
    )
}

/// Resumes `run` (killing some resumes at random) until it ends; returns the kills. Transfers
/// resolve their own doubt (the host asks the node about the transaction it recorded), so no
/// run may stop at a gate.
fn resume_until_done(ws: &Ws, run: &str, mut last: (std::process::Output, bool), rng: &mut Rng) -> usize {
    let mut kills = 0;
    for round in 0.. {
        assert!(round < 40, "run {run} does not end: {}", text(&last.0));
        if !last.1 {
            assert_eq!(last.0.status.code(), Some(0), "run {run}: {}", text(&last.0));
            return kills;
        }
        let after = if rng.below(2) == 0 { rng.below(600) } else { 60_000 };
        last = run_killed_after(ws, &["resume", run, "--json"], Duration::from_millis(after));
        kills += usize::from(last.1);
    }
    unreachable!()
}

#[test]
fn transfers_killed_at_random_moments_land_exactly_once() {
    let Some(node) = crate::common::ganache::Ganache::start() else {
        crate::common::skip(
            "ganache is not installed (npm install --no-save --prefix target/npm ganache@7 solc@0.8.19)",
        );
        return;
    };
    let alice = alloy_primitives::Address::repeat_byte(0xa1);
    let alice_hex = alloy_primitives::hex::encode_prefixed(alice);
    let ws = treasurer_workspace(&node, &alice_hex);
    ws.write("workflows/warm.yaml", "name: warm\nbot: treasurer\nsteps:\n  - { id: me, tool: wallet.address }\n");
    let warm = ws.run(&["run", "workflows/warm.yaml"]);
    assert!(warm.status.success(), "{}", text(&warm));

    let seed = std::env::var("MONSTRUM_CRASH_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0xe7e7_u64);
    let mut rng = Rng(seed);
    let nonce = node.nonce(node.account);
    let (runs, mut kills, mut expected, mut sent) = (10u64, 0, 0u64, 0u64);
    for r in 0..runs {
        let file = format!("workflows/pay{r}.yaml");
        ws.write(&file, &transfers(r, &alice_hex));
        let before = newest_run(&ws);
        let first = run_killed_after(&ws, &["run", "--json", &file], Duration::from_millis(rng.below(700)));
        kills += usize::from(first.1);
        let Some(run) = newest_run(&ws).filter(|id| Some(id) != before.as_ref()) else {
            assert!(first.1, "run {r} did not start: {}", text(&first.0));
            continue;
        };
        kills += resume_until_done(&ws, &run, first, &mut rng);
        expected += (1..=3).map(|i| 1000 * (r + 1) + i).sum::<u64>();
        sent += 3;
    }
    // Read on the node by the harness: each transfer landed once, and no other transaction went out.
    assert_eq!(node.balance(alice), alloy_primitives::U256::from(expected), "{}", node.log());
    assert_eq!(node.nonce(node.account), nonce + sent, "one transaction per transfer");
    eprintln!("evm crash test (seed {seed:#x}): {runs} runs, {kills} kills, {sent} transfers, 0 duplicates, 0 gates");
}

/// Makes `step` of `run` look as a stopped process left it: its call sent, no result, the step
/// unfinished (what a SIGKILL between sending and recording leaves, made on purpose).
fn leave_in_doubt(ws: &Ws, run: &str, step: &str) {
    let url = format!("sqlite://{}", ws.path().join(".monstrum/monstrum.db").display());
    let statements = [
        format!(
            "UPDATE tool_calls SET state = 'sent', output = NULL, done_at = NULL WHERE run_id = '{run}' AND step_key = '{step}'"
        ),
        format!("DELETE FROM steps WHERE run_id = '{run}' AND step_key = '{step}'"),
        format!("UPDATE runs SET status = 'running' WHERE id = '{run}'"),
    ];
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        use sqlx::Connection;
        let mut conn = sqlx::SqliteConnection::connect(&url).await.expect("open the database");
        for sql in statements {
            let done = sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut conn).await.expect("update");
            assert_eq!(done.rows_affected(), 1);
        }
    });
}

#[test]
fn a_transfer_in_doubt_is_found_on_the_node_not_signed_again() {
    let Some(node) = crate::common::ganache::Ganache::start() else {
        crate::common::skip(
            "ganache is not installed (npm install --no-save --prefix target/npm ganache@7 solc@0.8.19)",
        );
        return;
    };
    let alice = alloy_primitives::Address::repeat_byte(0xa1);
    let alice_hex = alloy_primitives::hex::encode_prefixed(alice);
    let ws = treasurer_workspace(&node, &alice_hex);
    ws.write("workflows/pay.yaml", &transfers(0, &alice_hex));
    let out = ws.run(&["run", "--json", "workflows/pay.yaml"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let run = events(&out)[0]["run"].as_str().expect("run id").to_string();
    let hash = |evs: &[Value]| {
        evs.iter().find(|e| e["type"] == "step_finished" && e["step"] == "two").map(|e| e["output"]["hash"].clone())
    };
    let first_hash = hash(&events(&out)).expect("step two's transaction");
    let (nonce, balance) = (node.nonce(node.account), node.balance(alice));

    leave_in_doubt(&ws, &run, "two");
    let again = ws.run(&["resume", &run, "--json"]);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));
    // The step ran again under the same key; the host found its transaction on the node.
    assert_eq!(hash(&events(&again)), Some(first_hash));
    assert_eq!(node.nonce(node.account), nonce, "no transaction was signed again");
    assert_eq!(node.balance(alice), balance);
}

#[test]
fn a_comment_in_doubt_waits_for_a_person() {
    let seen: Comments = Arc::default();
    let api = crate::common::serve(Router::new().fallback(github).with_state(seen.clone()));
    let ws = ops_workspace(&api);
    ws.write("workflows/notify.yaml", &workflow(0));
    let out = ws.run(&["run", "--json", "workflows/notify.yaml"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let run = events(&out)[0]["run"].as_str().expect("run id").to_string();
    assert_eq!(seen.lock().unwrap().len(), 6);

    leave_in_doubt(&ws, &run, "left");
    let waits = ws.run(&["resume", &run, "--json"]);
    assert_eq!(waits.status.code(), Some(3), "{}", text(&waits));
    let evs = events(&waits);
    let asked = evs.iter().find(|e| e["type"] == "approval_requested").expect("a gate");
    assert_eq!(asked["step"], "left");
    assert!(asked["message"].as_str().is_some_and(|m| m.contains("A write may have happened")), "{asked}");
    assert_eq!(seen.lock().unwrap().len(), 6, "nothing was sent again by itself");
    let shown = ws.run(&["runs", "show", &run]);
    assert!(text(&shown).contains("A write may have happened"), "{}", text(&shown));

    // An output goes with an approval only.
    let bad = ws.run(&["approve", &run, "left", "--reject", "--output", "{}"]);
    assert_eq!(bad.status.code(), Some(2), "{}", text(&bad));
    let bad = ws.run(&["approve", &run, "left", "--output", "not json"]);
    assert_eq!(bad.status.code(), Some(2), "{}", text(&bad));

    let done = ws.run(&["approve", &run, "left", "--json", "--output", r#"{"id": 2, "html_url": "seen"}"#]);
    assert_eq!(done.status.code(), Some(0), "{}", text(&done));
    let evs = events(&done);
    let left = evs.iter().find(|e| e["type"] == "step_finished" && e["step"] == "left").expect("left finished");
    assert_eq!(left["output"]["html_url"], "seen");
    assert_eq!(seen.lock().unwrap().len(), 6, "marked done: not sent again");
}
