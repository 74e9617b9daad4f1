//! The `ssh` plugin through the real binary against a real OpenSSH server (started by
//! tests/common/sshd.rs on a loopback port with throwaway keys): a whitelisted command runs and
//! returns the file's last lines; chained commands, other commands and other hosts are denied by
//! the gate before any session opens; a wrong host key is refused by the client; the private key
//! appears nowhere in the output, the audit trail or the workspace's files.

mod common;
#[path = "common/sshd.rs"]
mod sshd;

use common::{Ws, events, finished, of_type, skip, text};
use serde_json::Value;
use sshd::Sshd;
use std::io::Write;
use std::path::Path;
use std::process::Stdio;

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
    let mut set = ws.cmd().args(["vault", "set", "ops-key"]).stdin(Stdio::piped()).spawn().unwrap();
    set.stdin.take().unwrap().write_all(server.user_key.as_bytes()).unwrap();
    assert!(set.wait().unwrap().success(), "vault set");
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

fn assert_absent(dir: &Path, needle: &[u8]) {
    for entry in std::fs::read_dir(dir).expect("ls") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            assert_absent(&path, needle);
        } else {
            let bytes = std::fs::read(&path).expect("read");
            assert!(!bytes.windows(needle.len()).any(|w| w == needle), "the key is in {}", path.display());
        }
    }
}

#[test]
fn allowed_commands_run_and_the_rest_never_reach_the_server() {
    let Some(server) = server() else { return };
    let ws = workspace(&server, &server.host_key);
    let log = server.path("app.log");
    std::fs::write(&log, "one\ntwo\nthree\n").unwrap();
    let marker = server.path("pwned");
    let (addr, log_s, marker_s) = (&server.addr, log.display(), marker.display());
    ws.write(
        "workflows/tail.yaml",
        &format!("name: tail\nbot: ops\nsteps:\n  - id: tail\n    tool: prod.exec\n    with: {{ host: \"{addr}\", command: \"tail -n 2 {log_s}\" }}\n  - id: attack\n    needs: [tail]\n    llm: {{ prompt: Look at the logs }}\n"),
    );
    ws.write(
        "scripts/ops.yaml",
        &format!(
            r#"
- tool_calls:
    - {{ name: prod.exec, arguments: {{ host: "{addr}", command: "tail -n 5 {log_s}; touch {marker_s}" }} }}
    - {{ name: prod.exec, arguments: {{ host: "{addr}", command: "tail -n 5 /var/log/app.log; rm -rf /" }} }}
    - {{ name: prod.exec, arguments: {{ host: "{addr}", command: "cat /etc/shadow" }} }}
    - {{ name: prod.exec, arguments: {{ host: "127.0.0.2:22", command: "tail -n 2 {log_s}" }} }}
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
    assert_eq!(calls.len(), 5, "{calls:?}");
    assert_eq!(calls[0].0, "allowed");
    for (decision, reason) in &calls[1..] {
        assert_eq!(decision, "denied");
        assert!(reason.contains("scope"), "{reason}");
    }
    assert!(!marker.exists(), "a denied command ran");
    assert_eq!(server.log().matches("Accepted publickey").count(), 1, "one session only: {}", server.log());

    let body = key_body(&server);
    assert!(!text(&out).contains(&body), "the key is in the run's output");
    let audit = ws.run(&["--json", "audit", "list"]);
    assert!(audit.status.success(), "{}", text(&audit));
    assert!(!text(&audit).contains(&body), "the key is in the audit trail");
    assert_absent(&ws.path().join(".monstrum"), body.as_bytes());
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
