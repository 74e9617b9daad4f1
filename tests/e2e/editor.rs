//! The visual editor as a user sees it: the real `monstrum serve`, headless Chromium driven
//! through chromedriver (WebDriver, `fantoccini`; drags are WebDriver pointer actions). Sign in
//! with a token, open a workflow, run it, approve its gate in the page and watch every step (and
//! node of its canvas) succeed; a wrong token is told so; a step that does not validate is marked
//! on its node. Build a workflow from an empty canvas (palette, connecting ports, the property
//! panel, undo and redo, moving nodes), save it and find it on disk, run it and approve it. A
//! viewer sees no control it may not use, and the API refuses them anyway. Each stage leaves a
//! screenshot in `target/ui-screenshots/`.

use crate::common::{Ws, repo};
use crate::serve::{start, token};
use fantoccini::actions::{InputSource, MOUSE_BUTTON_LEFT, MouseActions, PointerAction};
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
  - { id: settle, needs: [restart], tool: core.wait, with: { seconds: 1.5 } }
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
            "--window-size=1400,1000",
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

    /// The text of the first element `css` matches, once there is one. The page may render the
    /// element again between finding it and reading it (a stale element): then it is found again.
    async fn text_of(&self, css: &str) -> String {
        let mut last = None;
        for _ in 0..200 {
            match self.client.find(Locator::Css(css)).await {
                Ok(e) => match e.text().await {
                    Ok(text) => return text,
                    Err(err) => last = Some(err),
                },
                Err(err) => last = Some(err),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.healthy().await;
        panic!("no {css} on the page: {last:?}");
    }

    /// Fails if the page's code stopped on a panic (the page then says so in `#crashed`).
    async fn healthy(&self) {
        if let Ok(banner) = self.client.find(Locator::Css("#crashed")).await {
            panic!("the page crashed: {}", banner.text().await.unwrap_or_default());
        }
    }

    /// The value of the field `css` (a textarea's text is its value, not its content).
    async fn value_of(&self, css: &str) -> String {
        for _ in 0..200 {
            if let Ok(e) = self.client.find(Locator::Css(css)).await
                && let Ok(Some(v)) = e.prop("value").await
            {
                return v;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("no field {css} on the page");
    }

    /// The text of the YAML view's editor (CodeMirror: its document, as a field's value).
    async fn yaml(&self) -> String {
        for _ in 0..200 {
            let got =
                self.client.execute("return window.MonstrumYaml.textOf(document.getElementById('yaml'))", vec![]).await;
            if let Ok(Value::String(text)) = got {
                return text;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the page has no YAML view");
    }

    /// Waits until the YAML view holds `want`.
    async fn until_yaml(&self, want: &str) -> String {
        for _ in 0..200 {
            let text = self.yaml().await;
            if text.contains(want) {
                return text;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the YAML view never held {want:?}: {:?}", self.yaml().await);
    }

    /// Types `text` over what the field `css` holds (selects it all first, as a person would;
    /// WebDriver's clear would commit an empty field as a change of its own).
    async fn type_over(&self, css: &str, text: &str) {
        let field = self.client.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("no field {css}: {e}"));
        field.send_keys(&format!("{}a", fantoccini::key::Key::Control)).await.unwrap();
        field.send_keys(text).await.unwrap();
    }

    /// Presses `keys` together (held in order, let go in reverse), wherever the focus is.
    async fn press(&self, keys: &[char]) {
        use fantoccini::actions::{KeyAction, KeyActions};
        let mut actions = KeyActions::new("keys".into());
        for k in keys {
            actions = actions.then(KeyAction::Down { value: *k });
        }
        for k in keys.iter().rev() {
            actions = actions.then(KeyAction::Up { value: *k });
        }
        self.client.perform_actions(actions).await.unwrap();
    }

    async fn click(&self, css: &str) {
        let e = self.client.wait().at_most(Duration::from_secs(20)).for_element(Locator::Css(css)).await;
        e.unwrap_or_else(|e| panic!("no {css} to click: {e}")).click().await.unwrap();
    }

    /// Signs in with `token` on the page at `base`.
    async fn sign_in(&self, base: &str, token: &str) {
        self.client.goto(&format!("{base}/")).await.unwrap();
        self.text_of("#sign-in").await;
        self.client.find(Locator::Css("#token")).await.unwrap().send_keys(token).await.unwrap();
        self.click("#sign-in").await;
        self.until_text("#workflows", "").await;
    }

    /// Presses the pointer on `from`, moves it to `to` (offset from its centre) and lets go: a
    /// drag as a person makes it, in pointer events.
    async fn drag(&self, from: &str, to: &str, offset: (f64, f64)) {
        let (a, b) =
            (self.client.find(Locator::Css(from)).await.unwrap(), self.client.find(Locator::Css(to)).await.unwrap());
        let mouse = MouseActions::new("mouse".into())
            .then(PointerAction::MoveToElement { element: a, duration: None, x: 0.0, y: 0.0 })
            .then(PointerAction::Down { button: MOUSE_BUTTON_LEFT })
            .then(PointerAction::MoveBy { duration: Some(Duration::from_millis(50)), x: 5.0, y: 5.0 })
            .then(PointerAction::MoveToElement {
                element: b,
                duration: Some(Duration::from_millis(150)),
                x: offset.0,
                y: offset.1,
            })
            .then(PointerAction::Up { button: MOUSE_BUTTON_LEFT });
        self.client.perform_actions(mouse).await.unwrap();
    }

    /// Where the node of `step` is on the canvas.
    async fn place_of(&self, step: &str) -> (f64, f64) {
        let node = self.client.find(Locator::Css(&format!("#canvas g.node[data-step={step}]"))).await.unwrap();
        let t = node.attr("transform").await.unwrap().unwrap_or_default();
        let inner = t.trim_start_matches("translate(").trim_end_matches(')');
        let (x, y) = inner.split_once(',').unwrap_or_else(|| panic!("not a translation: {t}"));
        (x.parse().unwrap(), y.parse().unwrap())
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

/// Starts `workflow` through the API with `token`; the run's id.
async fn start_run(http: &reqwest::Client, base: &str, token: &str, workflow: &str) -> String {
    let started: Value = http
        .post(format!("{base}/api/runs"))
        .bearer_auth(token)
        .json(&json!({ "workflow": workflow }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    started["run"].as_str().unwrap_or_else(|| panic!("no run started: {started}")).to_string()
}

/// Ends a test: the page must not have crashed; the browser and the server are closed.
async fn finish(browser: Browser, mut server: Child) {
    browser.healthy().await;
    browser.client.clone().close().await.unwrap();
    let _ = server.kill();
    let _ = server.wait();
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
    let (server, base) = start(&ws);
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
    browser.until_yaml("restart the service?").await;
    assert_eq!(browser.text_of(".status").await, "valid", "the workflow validates, and the page says so");
    // The canvas: a node per step, an edge per need, the two branches before the gate.
    for step in ["check", "logs", "gate", "restart"] {
        browser.text_of(&format!("#canvas g.node[data-step={step}]")).await;
    }
    let edges = page.find_all(Locator::Css("#canvas path.edge")).await.unwrap();
    assert_eq!(edges.len(), 4, "check→gate, logs→gate, gate→restart, restart→settle");
    let x_of = async |step: &str| browser.place_of(step).await.0;
    let (check, logs, gate, restart) =
        (x_of("check").await, x_of("logs").await, x_of("gate").await, x_of("restart").await);
    assert!(check == logs && logs < gate && gate < restart, "layers left to right: {check} {logs} {gate} {restart}");
    browser.shot("3-workflow").await;

    page.find(Locator::Css("#run")).await.unwrap().click().await.unwrap();
    browser.click("#start").await;
    browser.until_text("#run-status", "waiting").await;
    browser.until_text(".gate", "restart the service?").await;
    browser.shot("4-run-waiting").await;
    let url = page.current_url().await.unwrap();
    let run = url.fragment().and_then(|f| f.strip_prefix("/runs/")).expect("the run's page").to_string();

    page.find(Locator::Css("button.approve")).await.unwrap().click().await.unwrap();
    // Live from the run's event stream: the slow step is seen running, then done.
    browser.text_of("#canvas g.node.running[data-step=settle]").await;
    browser.shot("4b-run-running").await;
    browser.until_text("#run-status", "succeeded").await;
    browser.shot("5-run-succeeded").await;
    let steps = browser.text_of("#steps").await;
    assert_eq!(steps.matches("succeeded").count(), 5, "every step succeeded: {steps}");
    for step in ["check", "logs", "gate", "restart", "settle"] {
        browser.text_of(&format!("#canvas g.node.succeeded[data-step={step}]")).await;
    }

    // What the page showed is what the server recorded: approved by the token's name.
    let http = reqwest::Client::new();
    let (detail, restart) = step_of_run(&http, &base, &editor, &run, "restart").await;
    assert_eq!(detail["run"]["status"], "succeeded", "{detail}");
    assert_eq!(restart["output"]["by"], "erin");

    // The approvals inbox: a second run's gate, rejected there; the inbox is then empty.
    let second = start_run(&http, &base, &editor, "gated").await;
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
    // ...and in the YAML view, at its line (the lint gutter's marker and the marked range).
    page.execute("document.getElementById('yaml').scrollIntoView()", vec![]).await.unwrap();
    browser.text_of("#yaml .cm-lint-marker-error").await;
    let marked = browser.text_of("#yaml .cm-lintRange-error").await;
    assert!(marked.contains("needs: [ghost]"), "the line of the unknown need is marked: {marked:?}");
    browser.shot("8-invalid-yaml").await;

    finish(browser, server).await;
}

/// The step ids of the workflow file `file` in `ws`, and the needs of each.
fn steps_on_disk(ws: &Ws, file: &str) -> Vec<(String, Vec<String>)> {
    let text = std::fs::read_to_string(ws.path().join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
    let workflow = monstrum_model::load_workflow(&text).value.unwrap_or_else(|| panic!("{file} is no workflow"));
    workflow.steps.into_iter().map(|s| (s.id, s.needs)).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_user_builds_a_workflow_on_an_empty_canvas_saves_it_runs_it_and_approves_it() {
    let Some(browser) = Browser::open().await else { return };
    let ws = Ws::new();
    let editor = token(&ws, "editor", "erin");
    let (server, base) = start(&ws);
    let page = &browser.client;
    browser.sign_in(&base, &editor).await;

    // A new workflow: an empty canvas.
    page.find(Locator::Css("#new-name")).await.unwrap().send_keys("built").await.unwrap();
    browser.click("#new").await;
    browser.until_yaml("name: built").await;
    assert!(page.find(Locator::Css("#canvas g.node")).await.is_err(), "the canvas starts empty");
    browser.shot("10-empty-canvas").await;

    // Two tool steps and a gate from the palette; two edges drawn from the tools' ports.
    browser.click("button.add[data-kind=tool]").await;
    browser.click("button.add[data-kind=tool]").await;
    browser.click("button.add[data-kind=approval]").await;
    for step in ["tool", "tool_2", "approval"] {
        browser.text_of(&format!("#canvas g.node[data-step={step}]")).await;
    }
    browser.drag("#canvas circle.port.out[data-step=tool]", "#canvas g.node[data-step=approval]", (0.0, 0.0)).await;
    browser.drag("#canvas circle.port.out[data-step=tool_2]", "#canvas g.node[data-step=approval]", (0.0, 0.0)).await;
    let yaml = browser.until_yaml("- tool_2").await;
    assert_eq!(page.find_all(Locator::Css("#canvas path.edge")).await.unwrap().len(), 2, "{yaml}");
    // An edge that would close a cycle is refused, and said so; the text is unchanged.
    browser.drag("#canvas circle.port.out[data-step=approval]", "#canvas g.node[data-step=tool]", (0.0, 0.0)).await;
    browser.until_text("#edit-error", "cycle").await;
    assert_eq!(browser.yaml().await, yaml);

    // The property panel: the gate's message, then the first tool's parameters as YAML.
    browser.click("#canvas g.node[data-step=approval] rect").await;
    browser.text_of("#panel[data-step=approval]").await;
    browser.type_over("#panel textarea[name='approval.message']", "ship it?").await;
    browser.click("#panel h2").await; // leaving the field commits it
    browser.until_yaml("message: ship it?").await;
    browser.click("#canvas g.node[data-step=tool] rect").await;
    browser.text_of("#panel[data-step=tool]").await;
    assert_eq!(browser.value_of("#panel textarea[name=with]").await, "{}", "a new tool step's parameters");
    browser.type_over("#panel textarea[name=with]", "{ service: web, lines: 3 }").await;
    browser.click("#panel h2").await;
    browser.until_yaml("service: web").await;
    browser.shot("11-built").await;
    page.execute("document.getElementById('yaml').scrollIntoView()", vec![]).await.unwrap();
    browser.shot("11b-built-yaml").await;
    page.execute("window.scrollTo(0, 0)", vec![]).await.unwrap();

    // Undo takes the parameters back, then the message; redo brings both again.
    browser.click("#undo").await;
    browser.click("#undo").await;
    let undone = browser.until_yaml("message: Go ahead?").await;
    assert!(!undone.contains("service: web"), "{undone}");
    browser.click("#redo").await;
    browser.click("#redo").await;
    let redone = browser.until_yaml("service: web").await;
    assert!(redone.contains("message: ship it?"), "{redone}");

    // A tool step's tool is picked from what its bot sees (no bot: the core tools), and its
    // parameters form is the tool's schema: core.wait asks for `seconds`, a number.
    browser.click("#canvas g.node[data-step=tool_2] rect").await;
    browser.text_of("#panel[data-step=tool_2]").await;
    let offered = browser.text_of("#panel select[name=tool]").await;
    for tool in ["core.echo", "core.wait", "core.fail"] {
        assert!(offered.contains(tool), "{tool} is offered: {offered}");
    }
    page.find(Locator::Css("#panel select[name=tool] option[value='core.wait']")).await.unwrap().click().await.unwrap();
    browser.until_yaml("tool: core.wait").await;
    browser.text_of("#panel input[name='with.seconds']").await;
    assert!(browser.text_of("#panel fieldset.params").await.contains("seconds *"), "seconds is required");
    browser.type_over("#panel input[name='with.seconds']", "0.2").await;
    browser.click("#panel h2").await;
    let waits = browser.until_yaml("seconds: 0.2").await;
    assert!(
        !waits.contains("seconds: '0.2'") && !waits.contains("seconds: \"0.2\""),
        "a number stays a number: {waits}"
    );
    browser.shot("11c-tool-form").await;

    // A node moved by hand stays where it was put.
    let before = browser.place_of("tool_2").await;
    browser.drag("#canvas g.node[data-step=tool_2] rect", "#canvas g.node[data-step=tool_2] rect", (0.0, 120.0)).await;
    let after = browser.place_of("tool_2").await;
    assert!((after.1 - before.1 - 120.0).abs() < 10.0 && (after.0 - before.0).abs() < 10.0, "{before:?} → {after:?}");

    // Save: the file on disk is the YAML of the page, and it validates.
    page.find(Locator::Css("#message")).await.unwrap().send_keys("built in the editor").await.unwrap();
    browser.click("#save").await;
    browser.until_text("#version", "version 1").await;
    assert!(page.find(Locator::Css("#dirty")).await.is_err(), "nothing is left unsaved");
    let on_disk = std::fs::read_to_string(ws.path().join("workflows/built.yaml")).unwrap();
    assert_eq!(on_disk, browser.yaml().await);
    let mut steps = steps_on_disk(&ws, "workflows/built.yaml");
    steps.sort();
    assert_eq!(
        steps,
        [
            ("approval".to_string(), vec!["tool".to_string(), "tool_2".to_string()]),
            ("tool".to_string(), vec![]),
            ("tool_2".to_string(), vec![]),
        ]
    );
    let out = ws.run(&["validate", "workflows/built.yaml"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // The positions are beside the file, not in it.
    assert!(!on_disk.contains("120"), "{on_disk}");
    let layout: Value =
        serde_json::from_str(&std::fs::read_to_string(ws.path().join("workflows/built.layout.json")).unwrap()).unwrap();
    let placed = layout["positions"].as_array().unwrap().iter().find(|p| p["step"] == "tool_2").cloned();
    assert!((placed.unwrap()["y"].as_f64().unwrap() - after.1).abs() < 0.5, "{layout}");
    browser.shot("12-saved").await;

    // Run it, approve in the page, every node turns succeeded.
    browser.click("#run").await;
    browser.click("#start").await;
    browser.until_text("#run-status", "waiting").await;
    browser.until_text(".gate", "ship it?").await;
    browser.click("button.approve").await;
    browser.until_text("#run-status", "succeeded").await;
    for step in ["tool", "tool_2", "approval"] {
        browser.text_of(&format!("#canvas g.node.succeeded[data-step={step}]")).await;
    }
    let steps = browser.text_of("#steps").await;
    assert!(steps.contains("web"), "the tool got the parameters set in the panel: {steps}");
    browser.shot("13-built-run").await;

    // Reopened, the workflow is where it was left: the hand-placed node too; deleting a node
    // takes its edge with it, and undo brings both back.
    page.goto(&format!("{base}/#/workflows/built")).await.unwrap();
    browser.until_yaml("ship it?").await;
    assert_eq!(browser.place_of("tool_2").await, after);
    browser.click("#canvas g.node[data-step=tool] rect").await;
    browser.click("#delete").await;
    let gone = browser.until_yaml("- tool_2").await;
    assert!(!gone.contains("id: tool\n"), "{gone}");
    assert_eq!(page.find_all(Locator::Css("#canvas path.edge")).await.unwrap().len(), 1);
    browser.text_of("#dirty").await;
    browser.click("#undo").await;
    browser.until_yaml("id: tool\n").await;
    assert_eq!(page.find_all(Locator::Css("#canvas path.edge")).await.unwrap().len(), 2);
    assert_eq!(browser.yaml().await, on_disk, "undone to the saved text");

    // Duplicate: a copy with a fresh id that needs what the original needs; the Delete key
    // removes it again, and Ctrl+Z brings it back (keys on the canvas, not in a field).
    browser.click("#canvas g.node[data-step=approval] rect").await;
    browser.click("#duplicate").await;
    browser.text_of("#canvas g.node[data-step=approval_2]").await;
    assert_eq!(page.find_all(Locator::Css("#canvas path.edge")).await.unwrap().len(), 4);
    browser.press(&[fantoccini::key::Key::Delete.into()]).await;
    for _ in 0..100 {
        if page.find(Locator::Css("#canvas g.node[data-step=approval_2]")).await.is_err() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(page.find(Locator::Css("#canvas g.node[data-step=approval_2]")).await.is_err(), "Delete removed it");
    browser.press(&[fantoccini::key::Key::Control.into(), 'z']).await;
    browser.text_of("#canvas g.node[data-step=approval_2]").await;
    browser.click("#undo").await;
    browser.until_yaml("id: tool\n").await;
    assert_eq!(browser.yaml().await, on_disk, "undone to the saved text");

    // The YAML view edits the canvas too: the whole text typed over in the code editor (flow
    // style, one line) is two steps and an edge; one Undo takes the typing back.
    browser.click("#yaml .cm-content").await;
    browser
        .type_over(
            "#yaml .cm-content",
            "{name: built, steps: [{id: a, tool: core.echo}, {id: b, needs: [a], tool: core.echo}]}",
        )
        .await;
    browser.until_yaml("{id: b, needs: [a], tool: core.echo}]}").await;
    browser.text_of("#canvas g.node[data-step=b]").await;
    assert!(page.find(Locator::Css("#canvas g.node[data-step=tool]")).await.is_err(), "the old steps are gone");
    assert_eq!(page.find_all(Locator::Css("#canvas path.edge")).await.unwrap().len(), 1);
    browser.shot("13b-typed-yaml").await;
    browser.click("#undo").await;
    browser.text_of("#canvas g.node[data-step=approval]").await;
    assert_eq!(browser.yaml().await, on_disk, "one undo for the typing");

    finish(browser, server).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_viewer_sees_no_control_it_may_not_use_and_the_api_refuses_them_anyway() {
    let Some(browser) = Browser::open().await else { return };
    let ws = Ws::new();
    ws.write("workflows/gated.yaml", GATED);
    let viewer = token(&ws, "viewer", "vic");
    let editor = token(&ws, "editor", "erin");
    let (server, base) = start(&ws);
    let http = reqwest::Client::new();
    let run = start_run(&http, &base, &editor, "gated").await;
    let page = &browser.client;
    browser.sign_in(&base, &viewer).await;
    browser.until_text("#who", "vic (viewer)").await;
    assert!(page.find(Locator::Css("#new")).await.is_err(), "a viewer makes no workflow");

    page.goto(&format!("{base}/#/workflows/gated")).await.unwrap();
    browser.until_yaml("restart the service?").await;
    browser.text_of("#canvas g.node[data-step=gate]").await;
    for control in ["#save", "#run", "button.add", "#undo", "#delete", "#canvas circle.port"] {
        assert!(page.find(Locator::Css(control)).await.is_err(), "a viewer sees no {control}");
    }
    let yaml = page.find(Locator::Css("#yaml .cm-content")).await.unwrap();
    assert_eq!(yaml.attr("contenteditable").await.unwrap().as_deref(), Some("false"), "the YAML is read only");
    browser.shot("14-viewer-workflow").await;

    page.goto(&format!("{base}/#/runs/{run}")).await.unwrap();
    browser.until_text(".gate", "restart the service?").await;
    assert!(page.find(Locator::Css("button.approve")).await.is_err(), "a viewer decides no gate");
    browser.shot("15-viewer-run").await;

    // The API refuses what the page does not show.
    let text = std::fs::read_to_string(ws.path().join("workflows/gated.yaml")).unwrap();
    let refused = [
        http.put(format!("{base}/api/workflows/gated")).json(&json!({ "text": text })),
        http.put(format!("{base}/api/workflows/gated/layout")).json(&json!({ "positions": [] })),
        http.post(format!("{base}/api/runs")).json(&json!({ "workflow": "gated" })),
        http.post(format!("{base}/api/runs/{run}/approvals/gate")).json(&json!({ "approve": true })),
    ];
    for request in refused {
        let answer = request.bearer_auth(&viewer).send().await.unwrap();
        assert_eq!(answer.status(), 403, "{}", answer.text().await.unwrap());
    }
    finish(browser, server).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_admin_reads_bots_plugins_and_the_audit_trail_and_stores_a_plugin_secret_it_never_sees_again() {
    let Some(browser) = Browser::open().await else { return };
    let ws = Ws::example("governance");
    let admin = token(&ws, "admin", "ada");
    let viewer = token(&ws, "viewer", "vic");
    let (server, base) = start(&ws);
    let http = reqwest::Client::new();
    // A run of the example: model requests (which count on the budget), a plugin call, a
    // delegation, all in the audit trail.
    let run = start_run(&http, &base, &admin, "triage").await;
    let page = &browser.client;
    browser.sign_in(&base, &admin).await;

    // The run's page: model requests, step times, and its audit records.
    page.goto(&format!("{base}/#/runs/{run}")).await.unwrap();
    browser.until_text("#run-status", "succeeded").await;
    browser.text_of("#model-requests").await;
    let trail = browser.text_of("#run-audit").await;
    assert!(trail.contains("model_request") && trail.contains("sandbox.echo"), "{trail}");

    // Bots: the bot's bindings, the tools the gate lets it see, its budget's use this month.
    browser.click("a[href='#/bots']").await;
    browser.until_text("#bots", "ops").await;
    browser.click("#bots a[href='#/bots/ops']").await;
    browser.until_text("#bindings", "sandbox").await;
    let tools = browser.text_of("#tools").await;
    assert!(tools.contains("sandbox.echo"), "the bound tool: {tools}");
    let budget = browser.text_of("#budget").await;
    assert!(budget.contains("per month") && budget.contains("of 1"), "{budget}");
    assert!(!budget.contains("$0.0000 of"), "the run's model requests were counted: {budget}");
    browser.shot("16-bot").await;

    // Plugins: the manifest's tools; for an admin, the secret goes to the vault, and the page
    // keeps nothing of it.
    browser.click("a[href='#/plugins']").await;
    browser.until_text("#plugins", "github").await;
    browser.click("#plugins a[href='#/plugins/github']").await;
    browser.until_text("#tools", "get_issue").await;
    browser.type_over("#binding-form input[name='secret.token']", "ghp_very-secret-value").await;
    browser.click("#store-secrets").await;
    browser.until_text("#stored", "github-token").await;
    assert!(browser.text_of("#binding").await.contains("\"credential\":\"github-token\""));
    assert_eq!(browser.value_of("#binding-form input[name='secret.token']").await, "");
    let source = page.source().await.unwrap();
    assert!(!source.contains("ghp_very-secret-value"), "the page keeps no secret");
    let vault: Value =
        http.get(format!("{base}/api/vault")).bearer_auth(&admin).send().await.unwrap().json().await.unwrap();
    assert!(vault.to_string().contains("github-token") && !vault.to_string().contains("ghp_"), "{vault}");
    browser.shot("17-plugin").await;

    // The audit trail: filtered by run, and its chain verified.
    browser.click("a[href='#/audit']").await;
    browser.text_of("#audit").await;
    browser.type_over("input[name=run]", &run).await;
    browser.click("#filter").await;
    browser.until_text("#audit", "sandbox.echo").await;
    browser.click("#verify").await;
    browser.until_text("#verified", "intact").await;
    browser.shot("18-audit").await;
    browser.healthy().await;

    // A viewer sees the plugin, but no form to store its secrets.
    page.execute("sessionStorage.clear()", vec![]).await.unwrap();
    browser.sign_in(&base, &viewer).await;
    page.goto(&format!("{base}/#/plugins/github")).await.unwrap();
    browser.until_text("#tools", "get_issue").await;
    browser.until_text("#who", "viewer").await;
    assert!(page.find(Locator::Css("#binding-form")).await.is_err(), "a viewer stores no secret");
    finish(browser, server).await;
}

/// Typed inputs, asked for by the run form.
const GREET: &str = r#"name: greet
inputs:
  who: { type: string, description: whom to greet }
  times: { type: integer, default: 1 }
  loud: { type: boolean, default: false }
steps:
  - { id: say, tool: core.echo, with: { who: "{{ inputs.who }}", times: "{{ inputs.times }}", loud: "{{ inputs.loud }}" } }
"#;

#[tokio::test(flavor = "multi_thread")]
async fn a_user_saves_versions_compares_and_rolls_back_and_runs_with_typed_inputs() {
    let Some(browser) = Browser::open().await else { return };
    let ws = Ws::new();
    ws.write("workflows/greet.yaml", GREET);
    let editor = token(&ws, "editor", "erin");
    let (server, base) = start(&ws);
    let page = &browser.client;
    browser.sign_in(&base, &editor).await;
    page.goto(&format!("{base}/#/workflows/greet")).await.unwrap();
    browser.until_yaml("whom to greet").await;

    // Two saves: the file as it is, then with the step's id changed in the panel.
    browser.text_of("#version").await;
    browser.click("#canvas g.node[data-step=say] rect").await;
    browser.type_over("#panel input[name=id]", "hello").await;
    browser.click("#panel h2").await;
    browser.until_yaml("id: hello").await;
    browser.type_over("#message", "renamed the step").await;
    browser.click("#save").await;
    // The hand-written file is kept as version 1, the save is version 2: wait for the save
    // itself (the label said "version" before it, and the file was read too early once).
    browser.until_text("#version", "version 2").await;
    let first = std::fs::read_to_string(ws.path().join("workflows/greet.yaml")).unwrap();
    assert!(first.contains("id: hello"), "{first}");
    assert!(
        first.contains("  who: { type: string, description: whom to greet }\n"),
        "what the edit did not touch keeps its text: {first}"
    );
    browser.until_text("#versions", "renamed the step").await;
    let rows = page.find_all(Locator::Css("#versions tbody tr")).await.unwrap();
    assert_eq!(rows.len(), 2, "the hand-written file was kept as a version of its own, then the save");

    // Compare the two, then roll back to the first: a new version with its text.
    page.find(Locator::Css("#versions tr[data-version='1'] input[name=from]")).await.unwrap().click().await.unwrap();
    page.find(Locator::Css("#versions tr[data-version='2'] input[name=to]")).await.unwrap().click().await.unwrap();
    browser.click("#compare").await;
    let diff = browser.text_of("#diff").await;
    assert!(diff.contains("-") && diff.contains("hello"), "{diff}");
    assert!(browser.text_of(".diff-steps").await.contains("Added: hello"), "the steps added");
    browser.shot("19-versions").await;
    browser.click("#versions tr[data-version='1'] button.rollback").await;
    browser.until_text("#version", "version 3").await;
    browser.until_yaml("id: say").await;
    assert_eq!(std::fs::read_to_string(ws.path().join("workflows/greet.yaml")).unwrap(), GREET);

    // Run it: the form asks for each input by its type.
    browser.click("#run").await;
    browser.text_of("#run-form").await;
    browser.type_over("#run-form input[name=who]", "Ada").await;
    browser.type_over("#run-form input[name=times]", "3").await;
    browser.click("#run-form input[name=loud]").await;
    browser.shot("20-run-form").await;
    browser.click("#start").await;
    browser.until_text("#run-status", "succeeded").await;
    let steps = browser.text_of("#steps").await;
    assert!(
        steps.contains(r#""who":"Ada""#) && steps.contains(r#""times":3"#) && steps.contains(r#""loud":true"#),
        "{steps}"
    );
    finish(browser, server).await;
}
