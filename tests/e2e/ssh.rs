//! The `ssh` plugin through the real binary against a real OpenSSH server (started by
//! tests/e2e/common/sshd.rs on a loopback port with throwaway keys): a whitelisted command runs and
//! returns the file's last lines; a wrong host key is refused by the client; the private key
//! appears nowhere in the output, the audit trail or the workspace's files. Commands smuggled past
//! the whitelist are attack 6 of tests/e2e/attacks.rs.

use crate::common::sshd;

use crate::common::{Ws, assert_not_in_files, events, finished, of_type, skip, text};
use serde_json::Value;
use sshd::Sshd;

fn server() -> Option<Sshd> {
    let server = Sshd::start();
    if server.is_none() {
        skip("/usr/sbin/sshd is not installed (apt-get install openssh-server)");
    }
    server
}

/// A workspace whose bot `ops` may run `tail -n * <dir>/*.log` on the server only, with the
/// user key in the vault as `ops-key`.
fn workspace(server: &Sshd, host_key: &str) -> Ws {
    let ws = Ws::new();
    let dir = server.dir.path().display();
    ws.write(
        "bots/ops.yaml",
        &format!(
            r#"name: ops
model: {{ provider: scripted, script: scripts/ops.yaml }}
resources:
  - plugin: ssh
    instance: prod
    credential: ops-key
    tools: [exec]
    scope: {{ hosts: ["{addr}"], commands: ["tail -n * {dir}/*.log"] }}
    config: {{ user: "{user}", host_key: "{host_key}" }}
"#,
            addr = server.addr,
            user = server.user,
        ),
    );
    ws.write("scripts/ops.yaml", "- text: nothing to do\n");
    ws.vault_set("ops-key", &server.user_key);
    ws
}

fn calls(evs: &[Value]) -> Vec<(String, String)> {
    of_type(evs, "tool_call")
        .iter()
        .map(|e| (e["decision"].as_str().unwrap_or_default().into(), e["reason"].as_str().unwrap_or_default().into()))
        .collect()
}

/// The key's base64 body (its first line after the armor), which must appear nowhere.
fn key_body(server: &Sshd) -> String {
    server.user_key.lines().nth(1).expect("key body").to_string()
}

#[test]
fn allowed_commands_run_and_the_rest_never_reach_the_server() {
    let Some(server) = server() else { return };
    let ws = workspace(&server, &server.host_key);
    let log = server.path("app.log");
    std::fs::write(&log, "one\ntwo\nthree\n").unwrap();
    let (addr, log_s) = (&server.addr, log.display());
    ws.write(
        "workflows/tail.yaml",
        &format!("name: tail\nbot: ops\nsteps:\n  - id: tail\n    tool: prod.exec\n    with: {{ host: \"{addr}\", command: \"tail -n 2 {log_s}\" }}\n  - id: attack\n    needs: [tail]\n    llm: {{ prompt: Look at the logs }}\n"),
    );
    ws.write(
        "scripts/ops.yaml",
        &format!(
            r#"
- tool_calls:
    - {{ name: prod.exec, arguments: {{ host: "{addr}", command: "tail -n 1 {log_s}" }} }}
- text: done
"#
        ),
    );
    let out = ws.run(&["run", "--json", "workflows/tail.yaml"]);
    let evs = events(&out);
    assert_eq!(finished(&evs)["status"], "succeeded", "{}\n{}", text(&out), server.log());
    let tail = evs.iter().find(|e| e["type"] == "step_finished" && e["step"] == "tail").expect("tail finished");
    assert_eq!(tail["output"]["stdout"], "two\nthree\n", "{tail}");
    assert_eq!(tail["output"]["exit_code"], 0);
    let calls = calls(&evs);
    assert_eq!(calls.iter().map(|c| c.0.as_str()).collect::<Vec<_>>(), ["allowed", "allowed"], "{calls:?}");
    assert_eq!(server.log().matches("Accepted publickey").count(), 2, "{}", server.log());

    let body = key_body(&server);
    assert!(!text(&out).contains(&body), "the key is in the run's output");
    let audit = ws.run(&["--json", "audit", "list"]);
    assert!(audit.status.success(), "{}", text(&audit));
    assert!(!text(&audit).contains(&body), "the key is in the audit trail");
    assert_not_in_files(&ws.path().join(".monstrum"), body.as_bytes());
}

#[test]
fn a_wrong_host_key_is_refused_by_the_client() {
    let Some(server) = server() else { return };
    let ws = workspace(&server, &server.other_host_key());
    let log = server.path("app.log");
    std::fs::write(&log, "one\n").unwrap();
    ws.write(
        "workflows/tail.yaml",
        &format!(
            "name: tail\nbot: ops\nsteps:\n  - id: tail\n    tool: prod.exec\n    with: {{ host: \"{}\", command: \"tail -n 2 {}\" }}\n",
            server.addr,
            log.display()
        ),
    );
    let out = ws.run(&["run", "--json", "workflows/tail.yaml"]);
    let evs = events(&out);
    assert_eq!(finished(&evs)["status"], "failed", "{}", text(&out));
    assert!(text(&out).contains("host key is not the one the binding accepts"), "{}", text(&out));
    assert_eq!(server.log().matches("Accepted publickey").count(), 0, "{}", server.log());
}
