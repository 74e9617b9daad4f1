//! The API against its own OpenAPI document, by schemathesis (from PyPI) on a live `monstrum
//! serve`: requests generated from the document, valid and invalid, on every operation, with
//! every check schemathesis has: no 5xx, every status and body the document's, invalid input
//! refused, valid input accepted, authentication never ignored. Its settings (the statuses a
//! valid request may also get, and why) are in `tests/e2e/schemathesis.toml`.

use crate::common::{Ws, text};
use crate::serve::{start, token};
use std::process::Command;

const HELLO: &str = r#"name: hello
inputs:
  who: { type: string, default: world }
steps:
  - { id: greet, tool: core.echo, with: { text: "hello {{ inputs.who }}" } }
  - { id: gate, needs: [greet], approval: { message: "go on?" } }
outputs:
  text: "{{ steps.greet.output.text }}"
"#;

const BOT: &str = "name: helper\ndescription: reads issues\nmodel: { provider: scripted, script: scripts/none.yaml }\n";

/// schemathesis's command line (`st`), through the Python that has it, whether or not pip put
/// its script on the PATH.
fn st() -> Command {
    let mut cmd = Command::new("python3");
    cmd.args([
        "-c",
        "import sys; from schemathesis.cli import schemathesis; sys.argv[0] = 'st'; sys.exit(schemathesis())",
    ]);
    cmd
}

#[test]
fn every_answer_of_the_api_matches_its_openapi_document() {
    match st().arg("--version").output() {
        Ok(out) if out.status.success() => {}
        _ => {
            crate::common::skip("schemathesis is not installed (python3 -m pip install schemathesis)");
            return;
        }
    }
    let ws = Ws::new();
    ws.write("workflows/hello.yaml", HELLO);
    ws.write("bots/helper.yaml", BOT);
    let admin = token(&ws, "admin", "ada");
    let (mut server, base) = start(&ws);
    // A run waiting at its gate, so runs, approvals and audit records exist to be read.
    let client = reqwest::blocking::Client::new();
    let started = client
        .post(format!("{base}/api/runs"))
        .bearer_auth(&admin)
        .json(&serde_json::json!({"workflow": "hello"}))
        .send();
    let started: serde_json::Value = started.expect("start a run").json().expect("the started run");
    let run = started["run"].as_str().expect("a run id").to_string();

    let repo = crate::common::repo();
    let report = ws.path().join("junit.xml");
    let out = st()
        .arg("--config-file")
        .arg(repo.join("tests/e2e/schemathesis.toml"))
        .args(["--no-color", "run"])
        .arg(format!("{base}/api/openapi.json"))
        .args(["--header", &format!("Authorization: Bearer {admin}")])
        .args(["--checks", "all", "--max-examples", "10", "--seed", "7", "--workers", "1"])
        .args(["--generation-database", "none", "--report", "junit", "--report-junit-path"])
        .arg(&report)
        .current_dir(ws.path())
        .env("MONSTRUM_RUN", &run)
        .output()
        .expect("run schemathesis");
    let _ = server.kill();
    let _ = server.wait();
    let output = text(&out);
    assert!(out.status.success(), "schemathesis found answers that are not the document's:\n{output}");
    let junit = std::fs::read_to_string(&report).expect("schemathesis wrote its report");
    let cases = junit.matches("<testcase").count();
    assert!(cases >= 25, "schemathesis tested {cases} operations, fewer than the API has:\n{output}");
}
