//! The Python SDK (`sdk/python`, package `monstrum-sdk`) against the real `monstrum serve`: its
//! pytest suite makes a workspace and tokens with this binary, starts the server on a free
//! loopback port, and drives runs, events, gates, roles and the vault through the client, and
//! `@tool` functions through the agent link.

use std::process::Command;

#[test]
fn the_python_sdk_passes_its_tests_against_the_real_server() {
    let repo = crate::common::repo();
    let probe = Command::new("python3").args(["-c", "import httpx, pytest, mcp.server.mcpserver, websockets"]).output();
    match probe {
        Ok(out) if out.status.success() => {}
        Ok(out) => {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let why = stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").trim();
            crate::common::skip(&format!(
                "python3 lacks httpx, pytest, mcp or websockets (python3 -m pip install httpx pytest 'mcp>=2.3,<3' websockets): {why}"
            ));
            return;
        }
        Err(e) => {
            crate::common::skip(&format!("python3 cannot be run: {e}"));
            return;
        }
    }
    let out = Command::new("python3")
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider", "sdk/python/tests"])
        .current_dir(&repo)
        .env("MONSTRUM_BIN", env!("CARGO_BIN_EXE_monstrum"))
        .env("PYTHONPATH", repo.join("sdk/python"))
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env_remove("MONSTRUM_DB")
        .output()
        .expect("run pytest");
    assert!(out.status.success(), "pytest sdk/python/tests failed ({}):\n{}", out.status, crate::common::text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains(" passed"), "pytest ran no test:\n{stdout}");
    assert!(!stdout.contains(" skipped"), "a test of the SDK was skipped:\n{stdout}");
}
