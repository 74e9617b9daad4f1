//! The visual editor as a user sees it: the real `monstrum serve`, headless Chromium driven
//! through chromedriver (WebDriver, `fantoccini`). Sign in with a token, open a workflow, run it,
//! approve its gate in the page and watch every step (and node of its canvas) succeed; a wrong
//! token is told so; a step that does not validate is marked on its node. Each stage leaves a
//! screenshot in `target/ui-screenshots/`.

use crate::common::{Ws, repo};
use crate::serve::{start, token};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Two parallel branches joined by an approval gate.
const GATED: &str = r#"name: gated
steps:
  - { id: check, tool: core.echo, with: { healthy: false } }
  - { id: logs, tool: core.echo, with: { lines: 3 } }
  - id: gate
    needs: [check, logs]
    approval: { message: "restart the service?" }
  - { id: restart, needs: [gate], tool: core.echo, with: { by: "{{ steps.gate.by }}" } }
"#;

/// chromedriver on a free port, and a headless Chromium session through it.
struct Browser {
    driver: Child,
    client: Client,
    _profile: tempfile::TempDir,
}

impl Browser {
    async fn open() -> Option<Browser> {
        let (Some(driver_bin), Some(chromium)) = (which("chromedriver"), which("chromium")) else {
            crate::common::skip(
                "chromium and chromedriver are not installed (apt-get install chromium chromium-driver)",
            );
            return None;
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let driver = Command::new(driver_bin)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let profile = tempfile::tempdir().unwrap();
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1200,800",
        ];
        let mut args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        args.push(format!("--user-data-dir={}", profile.path().display()));
        let mut caps = serde_json::Map::new();
        caps.insert("goog:chromeOptions".into(), json!({ "binary": chromium, "args": args }));
        let url = format!("http://127.0.0.1:{port}");
        let mut last = None;
        for _ in 0..100 {
            match ClientBuilder::rustls().expect("tls").capabilities(caps.clone()).connect(&url).await {
                Ok(client) => return Some(Browser { driver, client, _profile: profile }),
                Err(e) => last = Some(e),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("chromedriver did not take a session: {last:?}");
    }

    async fn shot(&self, name: &str) {
        let dir = repo().join("target/ui-screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        let png = self.client.screenshot().await.expect("screenshot");
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }

    /// The text of the first element `css` matches, once there is one.
    async fn text_of(&self, css: &str) -> String {
        let found = self.client.wait().at_most(Duration::from_secs(20)).for_element(Locator::Css(css)).await;
        found.unwrap_or_else(|e| panic!("no {css} on the page: {e}")).text().await.unwrap()
    }

    /// Waits until the element `css` says `want`.
    async fn until_text(&self, css: &str, want: &str) {
        for _ in 0..200 {
            if let Ok(e) = self.client.find(Locator::Css(css)).await
                && e.text().await.is_ok_and(|t| t.contains(want))
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{css} never said {want:?}: {:?}", self.text_of(css).await);
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// A run's detail as the API tells it, and its step `key`.
async fn step_of_run(http: &reqwest::Client, base: &str, token: &str, run: &str, key: &str) -> (Value, Value) {
    let detail: Value =
        http.get(format!("{base}/api/runs/{run}")).bearer_auth(token).send().await.unwrap().json().await.unwrap();
    let step = detail["steps"].as_array().unwrap().iter().find(|s| s["step_key"] == key).cloned();
    let step = step.unwrap_or_else(|| panic!("run {run} has no step {key}: {detail}"));
    (detail, step)
}

fn which(name: &str) -> Option<String> {
    let out = Command::new("which").arg(name).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_user_signs_in_runs_a_workflow_and_approves_its_gate_in_the_page() {
    let Some(browser) = Browser::open().await else { return };
    let ws = Ws::new();
    ws.write("workflows/gated.yaml", GATED);
    ws.write(
        "workflows/broken.yaml",
        "name: broken\nsteps:\n  - { id: a, tool: core.echo, with: { x: 1 } }\n  - { id: b, needs: [ghost], tool: core.echo }\n",
    );
    let editor = token(&ws, "editor", "erin");
    let (mut server, base) = start(&ws);
    let page = &browser.client;

    page.goto(&format!("{base}/")).await.unwrap();
    browser.text_of("#sign-in").await;
    browser.shot("1-sign-in").await;

    // A token the server does not know is refused, and the page says so.
    page.find(Locator::Css("#token")).await.unwrap().send_keys("mst_not-a-token").await.unwrap();
    page.find(Locator::Css("#sign-in")).await.unwrap().click().await.unwrap();
    browser.until_text(".login .error", "not valid").await;

    let field = page.find(Locator::Css("#token")).await.unwrap();
    field.clear().await.unwrap();
    field.send_keys(&editor).await.unwrap();
    page.find(Locator::Css("#sign-in")).await.unwrap().click().await.unwrap();
    browser.until_text("#workflows", "gated").await;
    browser.shot("2-workflows").await;

    page.find(Locator::LinkText("gated")).await.unwrap().click().await.unwrap();
    browser.until_text("#yaml", "restart the service?").await;
    assert_eq!(browser.text_of(".status").await, "valid", "the workflow validates, and the page says so");
    // The canvas: a node per step, an edge per need, the two branches before the gate.
    for step in ["check", "logs", "gate", "restart"] {
        browser.text_of(&format!("#canvas g.node[data-step={step}]")).await;
    }
    let edges = page.find_all(Locator::Css("#canvas path.edge")).await.unwrap();
    assert_eq!(edges.len(), 3, "check→gate, logs→gate, gate→restart");
    let x_of = async |step: &str| {
        let node = page.find(Locator::Css(&format!("#canvas g.node[data-step={step}]"))).await.unwrap();
        let t = node.attr("transform").await.unwrap().unwrap_or_default();
        t.trim_start_matches("translate(").split(',').next().unwrap().parse::<f64>().unwrap()
    };
    let (check, logs, gate, restart) =
        (x_of("check").await, x_of("logs").await, x_of("gate").await, x_of("restart").await);
    assert!(check == logs && logs < gate && gate < restart, "layers left to right: {check} {logs} {gate} {restart}");
    browser.shot("3-workflow").await;

    page.find(Locator::Css("#run")).await.unwrap().click().await.unwrap();
    browser.until_text("#run-status", "waiting").await;
    browser.until_text(".gate", "restart the service?").await;
    browser.shot("4-run-waiting").await;
    let url = page.current_url().await.unwrap();
    let run = url.fragment().and_then(|f| f.strip_prefix("/runs/")).expect("the run's page").to_string();

    page.find(Locator::Css("button.approve")).await.unwrap().click().await.unwrap();
    browser.until_text("#run-status", "succeeded").await;
    browser.shot("5-run-succeeded").await;
    let steps = browser.text_of("#steps").await;
    assert_eq!(steps.matches("succeeded").count(), 4, "every step succeeded: {steps}");
    for step in ["check", "logs", "gate", "restart"] {
        browser.text_of(&format!("#canvas g.node.succeeded[data-step={step}]")).await;
    }

    // What the page showed is what the server recorded: approved by the token's name.
    let http = reqwest::Client::new();
    let (detail, restart) = step_of_run(&http, &base, &editor, &run, "restart").await;
    assert_eq!(detail["run"]["status"], "succeeded", "{detail}");
    assert_eq!(restart["output"]["by"], "erin");

    // The approvals inbox: a second run's gate, rejected there; the inbox is then empty.
    let second: Value = http
        .post(format!("{base}/api/runs"))
        .bearer_auth(&editor)
        .json(&json!({ "workflow": "gated" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let second = second["run"].as_str().unwrap().to_string();
    page.goto(&format!("{base}/#/approvals")).await.unwrap();
    browser.until_text("#approvals", "restart the service?").await;
    browser.shot("6-approvals").await;
    page.find(Locator::Css("#approvals button.reject")).await.unwrap().click().await.unwrap();
    browser.until_text("#no-approvals", "Nothing waits").await;
    let (detail, gate) = step_of_run(&http, &base, &editor, &second, "gate").await;
    assert_eq!(gate["status"], "rejected", "{detail}");

    // A step that does not validate is marked on its node, with the checks' words.
    page.goto(&format!("{base}/#/workflows/broken")).await.unwrap();
    browser.until_text(".diagnostics", "ghost").await;
    let bad = page.find(Locator::Css("#canvas g.node.invalid[data-step=b] title")).await.unwrap();
    assert!(bad.html(true).await.unwrap().contains("ghost"), "the problem is on node b");
    assert!(page.find(Locator::Css("#canvas g.node.invalid[data-step=a]")).await.is_err(), "a is fine");
    browser.shot("7-invalid-node").await;

    browser.client.clone().close().await.unwrap();
    let _ = server.kill();
    let _ = server.wait();
}
