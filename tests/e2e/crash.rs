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

#[test]
fn killed_at_random_moments_no_write_is_lost_or_sent_twice() {
    let seen: Comments = Arc::default();
    let api = crate::common::serve(Router::new().fallback(github).with_state(seen.clone()));
    let ws = Ws::new();
    ws.write(
        "bots/ops.yaml",
        &format!(
            "name: ops\nresources:\n  - {{ plugin: github, instance: gh, credential: gh-token, tools: [get_issue, create_comment], scope: {{ repos: [acme/site] }}, config: {{ api_url: \"{api}\" }} }}\n"
        ),
    );
    ws.vault_set("gh-token", "ghp_test");
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
