//! The built-in `web-search` plugin, end to end: the real binary runs workflows whose steps call
//! `search` and `fetch` through the gate and the plugin host (a WebAssembly component), against
//! a local server that speaks each provider's real response format. Also the host's guarantees
//! the plugin relies on, attacked with a guest that asks for the wrong thing on purpose: a
//! credential goes only to its own origin, a URL outside the binding's scope never leaves the
//! host, limits and proxies apply.

use crate::common::{Ws, events, finished, of_type, text};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::process::Output;
use std::sync::{Arc, Mutex};

const BRAVE_KEY: &str = "BSA-CANARY-brave-5f2c91";
const SERP_KEY: &str = "serp-CANARY-0d8e7b6a";
const TAVILY_KEY: &str = "tvly-CANARY-3c4d5e6f";

/// The HTML page under `/docs/page`.
const PAGE: &str = "<html><head><title>Docs</title><script>var tracking = 1;</script></head>\
    <body><h1>Hello docs</h1><p>Read <a href=\"/docs/next\">the next page</a>.</p></body></html>";

/// One request a local server received.
#[derive(Clone, Debug)]
struct Seen {
    method: String,
    /// The request target as received: `/path?query`, or the absolute URL a proxy gets.
    target: String,
    headers: BTreeMap<String, String>,
    body: String,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }

    /// The query parameters.
    fn query(&self) -> BTreeMap<String, String> {
        let query = self.target.split_once('?').map_or("", |(_, q)| q);
        reqwest::Url::parse(&format!("http://x/?{query}")).unwrap().query_pairs().into_owned().collect()
    }

    fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or_default()
    }
}

#[derive(Clone, Default)]
struct Server {
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Server {
    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

fn json_response(status: StatusCode, content_type: &'static str, value: Value) -> Response {
    (status, [("content-type", content_type)], value.to_string()).into_response()
}

/// DuckDuckGo's Instant Answer API, as `api.duckduckgo.com/?q=rust&format=json` answers
/// (trimmed): an abstract, `Results`, and `RelatedTopics` with a nested group.
fn duckduckgo_answer() -> Value {
    json!({
        "Abstract": "Rust is a general-purpose programming language.",
        "AbstractSource": "Wikipedia",
        "AbstractText": "Rust is a general-purpose programming language.",
        "AbstractURL": "https://en.wikipedia.org/wiki/Rust_(programming_language)",
        "Answer": "", "AnswerType": "", "Definition": "", "Entity": "programming language",
        "Heading": "Rust (programming language)",
        "Image": "/i/e6a5ef2a.png", "Infobox": "", "Redirect": "",
        "Results": [{
            "FirstURL": "https://www.rust-lang.org/",
            "Icon": { "Height": 16, "URL": "/i/rust-lang.org.ico", "Width": 16 },
            "Result": "<a href=\"https://www.rust-lang.org/\"><b>Official site</b></a><a href=\"https://www.rust-lang.org/\"></a>",
            "Text": "Official site"
        }],
        "RelatedTopics": [
            {
                "FirstURL": "https://duckduckgo.com/Rust_(video_game)",
                "Icon": { "Height": "", "URL": "", "Width": "" },
                "Result": "<a href=\"https://duckduckgo.com/Rust_(video_game)\">Rust (video game)</a>A multiplayer survival video game.",
                "Text": "Rust (video game) A multiplayer survival video game."
            },
            {
                "Name": "Biology",
                "Topics": [{
                    "FirstURL": "https://duckduckgo.com/Rust_(fungus)",
                    "Icon": { "Height": "", "URL": "", "Width": "" },
                    "Result": "<a href=\"https://duckduckgo.com/Rust_(fungus)\">Rust (fungus)</a>Plant pathogens of the order Pucciniales.",
                    "Text": "Rust (fungus) Plant pathogens of the order Pucciniales."
                }]
            }
        ],
        "Type": "A"
    })
}

/// Brave Search's `/res/v1/web/search` answer (trimmed): four results under `web.results`.
fn brave_answer(q: &str) -> Value {
    let results: Vec<Value> = (1..=4)
        .map(|i| {
            json!({
                "type": "search_result", "title": format!("Brave result {i}"), "url": format!("https://brave.example/{i}"),
                "description": format!("About <strong>{q}</strong> #{i}"), "is_source_local": false, "language": "en",
                "profile": { "name": "Example", "url": format!("https://brave.example/{i}") }
            })
        })
        .collect();
    json!({
        "type": "search",
        "query": { "original": q, "show_strict_warning": false, "more_results_available": true },
        "mixed": { "type": "mixed", "main": [{ "type": "web", "index": 0, "all": false }] },
        "web": { "type": "search", "results": results, "family_friendly": true }
    })
}

/// SerpAPI's `/search.json?engine=google` answer (trimmed): `organic_results`.
fn serpapi_answer(q: &str) -> Value {
    json!({
        "search_metadata": { "id": "6745f0c1", "status": "Success", "json_endpoint": "https://serpapi.com/searches/6745f0c1.json" },
        "search_parameters": { "engine": "google", "q": q, "google_domain": "google.com" },
        "search_information": { "total_results": 2, "time_taken_displayed": 0.31 },
        "organic_results": [
            { "position": 1, "title": "Serp one", "link": "https://serp.example/1", "displayed_link": "serp.example › 1", "snippet": "First organic result" },
            { "position": 2, "title": "Serp two", "link": "https://serp.example/2", "displayed_link": "serp.example › 2", "snippet": "Second organic result" }
        ]
    })
}

/// Tavily's `POST /search` answer.
fn tavily_answer(q: &str) -> Value {
    json!({
        "query": q, "follow_up_questions": null, "answer": null, "images": [],
        "results": [
            { "title": "Tavily one", "url": "https://tavily.example/1", "content": "Tavily content one", "score": 0.98, "raw_content": null },
            { "title": "Tavily two", "url": "https://tavily.example/2", "content": "Tavily content two", "score": 0.71, "raw_content": null }
        ],
        "response_time": 1.09
    })
}

/// Speaks DuckDuckGo under `/ddg`, Brave under `/brave`, SerpAPI under `/serpapi`, Tavily under
/// `/tavily` (each checking its key where the real one expects it), and serves documents under
/// `/docs` and `/private`. As a proxy it answers any absolute URL the same way.
async fn handle(State(s): State<Server>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let seen = Seen {
        method: method.to_string(),
        target: uri.to_string(),
        headers: headers
            .iter()
            .map(|(n, v)| (n.as_str().to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
            .collect(),
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    s.seen.lock().unwrap().push(seen.clone());
    let query = seen.query();
    let q = query.get("q").cloned().unwrap_or_default();
    let unauthorized =
        |message: &str| json_response(StatusCode::UNAUTHORIZED, "application/json", json!({ "error": message }));
    match (method.as_str(), uri.path()) {
        ("GET", "/ddg/") => json_response(StatusCode::OK, "application/x-javascript", duckduckgo_answer()),
        ("GET", "/brave/res/v1/web/search") => match seen.header("x-subscription-token") {
            Some(BRAVE_KEY) => json_response(StatusCode::OK, "application/json", brave_answer(&q)),
            _ => unauthorized("SUBSCRIPTION_TOKEN_INVALID"),
        },
        ("GET", "/serpapi/search.json") => match query.get("api_key").map(String::as_str) {
            Some(SERP_KEY) => json_response(StatusCode::OK, "application/json", serpapi_answer(&q)),
            _ => unauthorized("Invalid API key. Your API key should be here: https://serpapi.com/manage-api-key"),
        },
        ("POST", "/tavily/search") => {
            if seen.header("authorization") != Some(&format!("Bearer {TAVILY_KEY}")) {
                return unauthorized("Unauthorized: missing or invalid API key.");
            }
            let request: Value = serde_json::from_str(&seen.body).unwrap_or_default();
            json_response(
                StatusCode::OK,
                "application/json",
                tavily_answer(request["query"].as_str().unwrap_or_default()),
            )
        }
        ("GET", "/docs/page" | "/page") => {
            (StatusCode::OK, [("content-type", "text/html; charset=utf-8")], PAGE).into_response()
        }
        ("GET", "/docs/long") => (StatusCode::OK, [("content-type", "text/html")], long_page(12_700)).into_response(),
        ("GET", "/docs/huge") => (StatusCode::OK, [("content-type", "text/html")], long_page(40_000)).into_response(),
        ("GET", "/docs/big") => (StatusCode::OK, [("content-type", "text/plain")], "x".repeat(300_000)).into_response(),
        ("GET", "/docs/slow") => {
            tokio::time::sleep(std::time::Duration::from_secs(60)).await;
            (StatusCode::OK, [("content-type", "text/plain")], "too late").into_response()
        }
        ("GET", "/docs/logo.png") => {
            (StatusCode::OK, [("content-type", "image/png")], b"\x89PNG\r\n\x1a\n".to_vec()).into_response()
        }
        ("GET", "/docs/moved") => (StatusCode::FOUND, [("location", "/private/secret")], "").into_response(),
        ("GET", "/private/secret") => (StatusCode::OK, [("content-type", "text/plain")], "SECRET").into_response(),
        _ => json_response(StatusCode::NOT_FOUND, "application/json", json!({ "error": "not found" })),
    }
}

/// An HTML page of `n` paragraphs (41 bytes each).
fn long_page(n: usize) -> String {
    format!("<html><body>{}</body></html>", "<p>A paragraph of <b>some</b> text.</p>\n".repeat(n))
}

/// Starts a server on a free port of 127.0.0.1; returns its base URL.
fn serve(state: Server) -> String {
    crate::common::serve(Router::new().fallback(handle).with_state(state))
}

/// A workspace whose bot `researcher` is bound to `web-search` as instance `web`, every
/// provider pointed at `base`, `fetch` scoped to `{base}/docs/**`, the three keys in the vault.
fn workspace(base: &str, extra_config: &str) -> Ws {
    let ws = Ws::new();
    ws.write(
        "bots/researcher.yaml",
        &format!(
            r#"name: researcher
model: {{ provider: scripted, script: scripts/researcher.yaml }}
resources:
  - plugin: web-search
    instance: web
    credentials: {{ brave: brave-key, serpapi: serp-key, tavily: tavily-key }}
    tools: [search, fetch]
    scope: {{ urls: ["{base}/docs/**"] }}
    config:
      duckduckgo_url: "{base}/ddg"
      brave_url: "{base}/brave"
      serpapi_url: "{base}/serpapi"
      tavily_url: "{base}/tavily"
      {extra_config}
"#
        ),
    );
    ws.write("scripts/researcher.yaml", "- text: nothing to do\n");
    ws.vault_set("brave-key", BRAVE_KEY);
    ws.vault_set("serp-key", SERP_KEY);
    ws.vault_set("tavily-key", TAVILY_KEY);
    ws
}

/// The proxy settings of the environment, which these tests set themselves.
const PROXY_VARS: [&str; 8] =
    ["NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy", "HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"];

/// The binary in `ws`, with no proxy from the environment.
fn cmd(ws: &Ws) -> std::process::Command {
    let mut cmd = ws.cmd();
    for var in PROXY_VARS {
        cmd.env_remove(var);
    }
    cmd
}

/// Runs `workflows/w.yaml` with `--json`.
fn run(ws: &Ws, workflow: &str) -> (Output, Vec<Value>) {
    ws.write("workflows/w.yaml", workflow);
    let out = cmd(ws).args(["run", "--json", "workflows/w.yaml"]).output().expect("run monstrum");
    let evs = events(&out);
    (out, evs)
}

/// The output of step `id`.
fn output<'a>(evs: &'a [Value], id: &str) -> &'a Value {
    let e = of_type(evs, "step_finished").into_iter().find(|e| e["step"] == id);
    &e.unwrap_or_else(|| panic!("step {id} did not finish: {evs:#?}"))["output"]
}

/// The error of failed step `id`.
fn error(evs: &[Value], id: &str) -> String {
    let e = of_type(evs, "step_failed").into_iter().find(|e| e["step"] == id);
    e.unwrap_or_else(|| panic!("step {id} did not fail: {evs:#?}"))["error"].as_str().unwrap_or_default().to_string()
}

fn assert_no_canary(out: &Output, ws: &Ws) {
    let all = format!("{}{}", text(out), text(&ws.run(&["--json", "audit", "list"])));
    for key in [BRAVE_KEY, SERP_KEY, TAVILY_KEY] {
        assert!(!all.contains(key), "a key is in the output or the audit trail");
    }
}

#[test]
fn every_provider_gets_its_key_where_it_expects_it_and_results_are_normalized() {
    let server = Server::default();
    let base = serve(server.clone());
    let ws = workspace(&base, "");
    let (out, evs) = run(
        &ws,
        r#"name: w
bot: researcher
steps:
  - id: ddg
    tool: web.search
    with: { query: "rust language" }
  - id: brave
    tool: web.search
    with: { query: "rust & wasm", provider: brave, count: 3 }
  - id: serpapi
    tool: web.search
    with: { query: "rust", provider: serpapi }
  - id: tavily
    tool: web.search
    with: { query: "rust", provider: tavily, count: 2 }
"#,
    );
    assert_eq!(finished(&evs)["status"], "succeeded", "{}", text(&out));

    assert_eq!(
        output(&evs, "ddg"),
        &json!({ "provider": "duckduckgo", "results": [
        { "title": "Rust (programming language)", "url": "https://en.wikipedia.org/wiki/Rust_(programming_language)", "snippet": "Rust is a general-purpose programming language." },
        { "title": "Official site", "url": "https://www.rust-lang.org/", "snippet": "Official site" },
        { "title": "Rust (video game)", "url": "https://duckduckgo.com/Rust_(video_game)", "snippet": "Rust (video game) A multiplayer survival video game." },
        { "title": "Rust (fungus)", "url": "https://duckduckgo.com/Rust_(fungus)", "snippet": "Rust (fungus) Plant pathogens of the order Pucciniales." },
        ]})
    );
    assert_eq!(
        output(&evs, "brave"),
        &json!({ "provider": "brave", "results": [
            { "title": "Brave result 1", "url": "https://brave.example/1", "snippet": "About <strong>rust & wasm</strong> #1" },
            { "title": "Brave result 2", "url": "https://brave.example/2", "snippet": "About <strong>rust & wasm</strong> #2" },
            { "title": "Brave result 3", "url": "https://brave.example/3", "snippet": "About <strong>rust & wasm</strong> #3" },
        ]})
    );
    assert_eq!(
        output(&evs, "serpapi"),
        &json!({ "provider": "serpapi", "results": [
            { "title": "Serp one", "url": "https://serp.example/1", "snippet": "First organic result" },
            { "title": "Serp two", "url": "https://serp.example/2", "snippet": "Second organic result" },
        ]})
    );
    assert_eq!(
        output(&evs, "tavily"),
        &json!({ "provider": "tavily", "results": [
            { "title": "Tavily one", "url": "https://tavily.example/1", "snippet": "Tavily content one" },
            { "title": "Tavily two", "url": "https://tavily.example/2", "snippet": "Tavily content two" },
        ]})
    );

    let seen = server.seen();
    assert_eq!(seen.len(), 4, "{seen:#?}");
    let by = |prefix: &str| seen.iter().find(|s| s.path().starts_with(prefix)).unwrap_or_else(|| panic!("{prefix}"));
    let ddg = by("/ddg/");
    assert_eq!(ddg.query().get("q").map(String::as_str), Some("rust language"));
    assert_eq!(ddg.query().get("format").map(String::as_str), Some("json"));

    let brave = by("/brave/res/v1/web/search");
    assert_eq!(brave.header("x-subscription-token"), Some(BRAVE_KEY));
    assert_eq!(brave.query().get("q").map(String::as_str), Some("rust & wasm"), "the query is encoded");
    assert_eq!(brave.query().get("count").map(String::as_str), Some("3"));

    let serp = by("/serpapi/search.json");
    assert_eq!(serp.query().get("api_key").map(String::as_str), Some(SERP_KEY));
    assert_eq!(serp.query().get("engine").map(String::as_str), Some("google"));

    let tavily = by("/tavily/search");
    assert_eq!(tavily.method, "POST");
    assert_eq!(tavily.header("authorization"), Some(format!("Bearer {TAVILY_KEY}").as_str()));
    let body: Value = serde_json::from_str(&tavily.body).unwrap();
    assert_eq!(body, json!({ "query": "rust", "max_results": 2 }));

    // Each key went only to its own provider.
    for s in &seen {
        let all = format!("{s:?}");
        let keys = [BRAVE_KEY, SERP_KEY, TAVILY_KEY].iter().filter(|k| all.contains(*k)).count();
        assert_eq!(keys, usize::from(s.path() != "/ddg/"), "{s:?}");
    }
    assert_no_canary(&out, &ws);
}

#[test]
fn a_missing_or_wrong_key_is_a_clean_tool_error() {
    let server = Server::default();
    let base = serve(server.clone());
    let ws = workspace(&base, "");
    // A binding without the Brave key, and the SerpAPI key replaced by a wrong one.
    let bot = std::fs::read_to_string(ws.path().join("bots/researcher.yaml")).unwrap();
    ws.write("bots/researcher.yaml", &bot.replace("brave: brave-key, ", ""));
    ws.vault_set("serp-key", "wrong");
    let (out, evs) = run(
        &ws,
        r#"name: w
bot: researcher
steps:
  - id: brave
    tool: web.search
    with: { query: rust, provider: brave }
    on_error: continue
  - id: serpapi
    tool: web.search
    with: { query: rust, provider: serpapi }
    on_error: continue
"#,
    );
    assert!(of_type(&evs, "run_finished").len() == 1, "{}", text(&out));
    assert!(error(&evs, "brave").contains("no secret is bound to credential \"brave\""), "{}", error(&evs, "brave"));
    assert!(error(&evs, "serpapi").contains("SerpAPI answered 401: "), "{}", error(&evs, "serpapi"));
    assert!(server.seen().iter().all(|s| !s.path().starts_with("/brave")), "no keyless request left");
}

#[test]
fn fetch_reads_what_the_scope_allows_and_nothing_else() {
    let server = Server::default();
    let base = serve(server.clone());
    let ws = workspace(&base, "");
    let (out, evs) = run(
        &ws,
        &format!(
            r#"name: w
bot: researcher
steps:
  - id: page
    tool: web.fetch
    with: {{ url: "{base}/docs/page" }}
  - id: raw
    tool: web.fetch
    with: {{ url: "{base}/docs/page", raw: true }}
  - id: long
    tool: web.fetch
    with: {{ url: "{base}/docs/long" }}
  - id: huge
    tool: web.fetch
    with: {{ url: "{base}/docs/huge" }}
  - id: outside
    tool: web.fetch
    with: {{ url: "{base}/private/secret" }}
    on_error: continue
  - id: traversal
    tool: web.fetch
    with: {{ url: "{base}/docs/../private/secret" }}
    on_error: continue
  - id: encoded
    tool: web.fetch
    with: {{ url: "{base}/docs/%2e%2e/private/secret" }}
    on_error: continue
  - id: moved
    tool: web.fetch
    with: {{ url: "{base}/docs/moved" }}
  - id: image
    tool: web.fetch
    with: {{ url: "{base}/docs/logo.png" }}
    on_error: continue
"#
        ),
    );
    assert_eq!(of_type(&evs, "run_finished").len(), 1, "{}", text(&out));
    // An HTML page comes back as readable text (no markup, no script), or as it came on request.
    assert_eq!(
        output(&evs, "page"),
        &json!({ "status": 200, "content_type": "text/html; charset=utf-8", "format": "text",
                 "text": "# Hello docs\n\nRead [the next page][1].\n\n[1]: /docs/next\n" })
    );
    assert_eq!(output(&evs, "raw")["format"], "html");
    assert_eq!(output(&evs, "raw")["text"], PAGE);
    assert_eq!(
        output(&evs, "long")["text"],
        "A paragraph of **some** text.\n\n".repeat(12_700).trim_end().to_string() + "\n"
    );
    // A page too large to render within the call's memory is returned as it came, and says so.
    assert_eq!(output(&evs, "huge")["format"], "html");
    assert_eq!(output(&evs, "huge")["text"], long_page(40_000));
    // Out of scope, a `..` segment, percent-encoding: the gate refuses each before anything
    // runs (the scope engine compares no path-like value that could mean something else once
    // decoded), and says so in the trail.
    let denied: Vec<Value> =
        of_type(&evs, "tool_call").into_iter().filter(|e| e["decision"] == "denied").cloned().collect();
    assert_eq!(denied.len(), 3, "{evs:#?}");
    for step in ["outside", "traversal", "encoded"] {
        let e = error(&evs, step);
        assert!(e.starts_with("denied: scope `urls` (/url)"), "{step}: {e}");
    }
    let audit = events(&ws.run(&["--json", "audit", "list", "--decision", "denied"]));
    assert_eq!(audit.len(), 3, "{audit:#?}");
    assert!(audit.iter().all(|r| r["tool"] == "web.fetch"), "{audit:#?}");
    // A redirect is returned, not followed.
    assert_eq!(output(&evs, "moved")["status"], 302);
    assert_eq!(output(&evs, "moved")["location"], "/private/secret");
    assert!(error(&evs, "image").contains("is `image/png`, not text"), "{}", error(&evs, "image"));
    let paths: Vec<String> = server.seen().iter().map(|s| s.path().to_string()).collect();
    assert!(paths.iter().all(|p| p.starts_with("/docs/")), "nothing outside the scope reached the server: {paths:?}");
    assert!(server.seen().iter().all(|s| s.header("x-subscription-token").is_none() && !s.target.contains("api_key")));
}

#[test]
fn an_oversized_body_and_a_slow_server_are_clean_tool_errors() {
    let server = Server::default();
    let base = serve(server.clone());
    let ws = workspace(&base, "max_bytes: 100000\n      timeout_secs: 1");
    let (out, evs) = run(
        &ws,
        &format!(
            r#"name: w
bot: researcher
steps:
  - id: big
    tool: web.fetch
    with: {{ url: "{base}/docs/big" }}
    on_error: continue
  - id: slow
    tool: web.fetch
    with: {{ url: "{base}/docs/slow" }}
    on_error: continue
"#
        ),
    );
    assert_eq!(of_type(&evs, "run_finished").len(), 1, "{}", text(&out));
    let big = error(&evs, "big");
    assert!(big.contains("larger than the limit of 100000 bytes"), "{big}");
    let slow = error(&evs, "slow");
    assert!(slow.contains("web.fetch: request timed out"), "{slow}");
}

/// Fetches `http://docs.example.invalid/docs/page` (a host that does not resolve) with the
/// proxy set by `configure`, and checks the proxy got it.
fn fetch_through_a_proxy(configure: impl FnOnce(&Ws, &str, &mut std::process::Command)) {
    let proxy = Server::default();
    let proxy_url = serve(proxy.clone());
    let ws = workspace("http://docs.example.invalid", "");
    ws.write(
        "workflows/w.yaml",
        "name: w\nbot: researcher\nsteps:\n  - id: page\n    tool: web.fetch\n    with: { url: \"http://docs.example.invalid/docs/page\" }\n",
    );
    let mut cmd = cmd(&ws);
    configure(&ws, &proxy_url, &mut cmd);
    let out = cmd.args(["run", "--json", "workflows/w.yaml"]).output().unwrap();
    let evs = events(&out);
    assert_eq!(finished(&evs)["status"], "succeeded", "{}", text(&out));
    assert_eq!(output(&evs, "page")["text"], "# Hello docs\n\nRead [the next page][1].\n\n[1]: /docs/next\n");
    let seen = proxy.seen();
    assert_eq!(seen.len(), 1, "{seen:#?}");
    assert_eq!(seen[0].target, "http://docs.example.invalid/docs/page", "the proxy got the absolute URL");
}

#[test]
fn fetch_goes_through_the_proxy_in_the_environment() {
    fetch_through_a_proxy(|_, proxy, cmd| {
        cmd.env("HTTP_PROXY", proxy).env("http_proxy", proxy);
    });
}

#[test]
fn fetch_goes_through_the_proxy_of_monstrum_yaml() {
    fetch_through_a_proxy(|ws, proxy, _| {
        ws.write("monstrum.yaml", &format!("proxy: {proxy}\n"));
    });
}

/// A workspace plugin `two-keys` (the host tests' misbehaving guest, which sends a GET with
/// whichever credentials it is told) that may reach `a` and `b`, with a key for each.
fn two_keys(a: &str, b: &str, manifest_extra: &str) -> Ws {
    let ws = Ws::new();
    let guest = monstrum_core::plugin::builtin::testing("sandbox-test").expect("the sandbox-test guest");
    std::fs::create_dir_all(ws.path().join("plugins/two-keys")).unwrap();
    std::fs::write(ws.path().join("plugins/two-keys/two-keys.wasm"), guest.component).unwrap();
    ws.write(
        "plugins/two-keys/manifest.yaml",
        &format!(
            r#"name: two-keys
version: 0.1.0
component: two-keys.wasm
credentials:
  a: {{ inject: {{ header: Authorization, format: "Bearer {{}}", origin: "{{{{ config.a }}}}" }} }}
  b: {{ inject: {{ query: api_key, origin: "{{{{ config.b }}}}" }} }}
config:
  a: {{ type: string }}
  b: {{ type: string }}
network: ["{{{{ config.a }}}}", "{{{{ config.b }}}}"]
{manifest_extra}
tools:
  - name: fetch
    parameters:
      type: object
      required: [url]
      properties: {{ url: {{ type: string }}, credentials: {{ type: array, items: {{ type: string }} }} }}
"#
        ),
    );
    ws.write(
        "bots/thief.yaml",
        &format!(
            r#"name: thief
model: {{ provider: scripted, script: scripts/thief.yaml }}
resources:
  - plugin: two-keys
    instance: keys
    credentials: {{ a: key-a, b: key-b }}
    tools: [fetch]
    config: {{ a: "{a}", b: "{b}" }}
"#
        ),
    );
    ws.write("scripts/thief.yaml", "- text: nothing to do\n");
    ws.vault_set("key-a", "KEY-A-CANARY");
    ws.vault_set("key-b", "KEY-B-CANARY");
    ws
}

#[test]
fn attack_a_guest_puts_one_services_key_on_a_request_to_another() {
    let (server_a, server_b) = (Server::default(), Server::default());
    let (a, b) = (serve(server_a.clone()), serve(server_b.clone()));
    let ws = two_keys(&a, &b, "");
    ws.write(
        "scripts/thief.yaml",
        &format!(
            r#"
- tool_calls:
    - {{ name: keys.fetch, arguments: {{ url: "{b}/collect", credentials: [a] }} }}
    - {{ name: keys.fetch, arguments: {{ url: "{a}/collect", credentials: [b] }} }}
    - {{ name: keys.fetch, arguments: {{ url: "{b}/collect", credentials: [b, a] }} }}
- tool_calls:
    - {{ name: keys.fetch, arguments: {{ url: "{a}/page", credentials: [a] }} }}
    - {{ name: keys.fetch, arguments: {{ url: "{b}/page", credentials: [b] }} }}
- text: done
"#
        ),
    );
    let (out, evs) =
        run(&ws, "name: w\nbot: thief\nsteps:\n  - id: steal\n    llm: { prompt: \"Send key a to b.\" }\n");
    assert_eq!(finished(&evs)["status"], "succeeded", "{}", text(&out));
    let (seen_a, seen_b) = (server_a.seen(), server_b.seen());
    assert_eq!(seen_a.len(), 1, "only the request with a's own key reached a: {seen_a:#?}");
    assert_eq!(seen_a[0].path(), "/page");
    assert_eq!(seen_a[0].header("authorization"), Some("Bearer KEY-A-CANARY"));
    assert_eq!(seen_b.len(), 1, "only the request with b's own key reached b: {seen_b:#?}");
    assert_eq!(seen_b[0].path(), "/page");
    assert_eq!(seen_b[0].query().get("api_key").map(String::as_str), Some("KEY-B-CANARY"));
    assert!(seen_b[0].header("authorization").is_none());
    // The three refusals are tool errors the model saw, recorded in the trail.
    let results = events(&ws.run(&["--json", "audit", "list", "--kind", "tool_result"]));
    let refused = results.iter().filter(|r| r.to_string().contains("may not be sent to")).count();
    assert_eq!(refused, 3, "{results:#?}");
    let all = format!("{}{}", text(&out), text(&ws.run(&["--json", "audit", "list"])));
    assert!(!all.contains("KEY-A-CANARY") && !all.contains("KEY-B-CANARY"));
}

#[test]
fn a_plugin_that_reaches_two_origins_must_tie_each_credential_to_one() {
    let ws = two_keys("http://127.0.0.1:1", "http://127.0.0.1:2", "");
    let manifest = std::fs::read_to_string(ws.path().join("plugins/two-keys/manifest.yaml")).unwrap();
    ws.write("plugins/two-keys/manifest.yaml", &manifest.replace(", origin: \"{{ config.b }}\"", ""));
    let out = ws.run(&["validate", "bots/thief.yaml"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("the credential must name the one it is for"), "{}", text(&out));
}

#[test]
fn the_host_holds_a_guest_to_the_bindings_url_scope_whatever_the_gate_saw() {
    // `fetch` of this plugin has no scope rule on its parameter: only the host's check of the
    // URL it really requests against the binding's `urls` stands between it and the server.
    let server = Server::default();
    let base = serve(server.clone());
    let ws = two_keys(
        "http://127.0.0.1:1",
        "http://127.0.0.1:2",
        "http:\n  url: { dimension: urls, match: glob }\ndimensions:\n  urls: {}",
    );
    let bot = std::fs::read_to_string(ws.path().join("bots/thief.yaml")).unwrap();
    ws.write(
        "bots/thief.yaml",
        &bot.replace("tools: [fetch]", &format!("tools: [fetch]\n    scope: {{ urls: [\"{base}/docs/*\"] }}")),
    );
    let (out, evs) = run(
        &ws,
        &format!(
            r#"name: w
bot: thief
steps:
  - id: inside
    tool: keys.fetch
    with: {{ url: "{base}/docs/page" }}
  - id: outside
    tool: keys.fetch
    with: {{ url: "{base}/private/secret" }}
    on_error: continue
  - id: deeper
    tool: keys.fetch
    with: {{ url: "{base}/docs/a/b" }}
    on_error: continue
  - id: traversal
    tool: keys.fetch
    with: {{ url: "{base}/docs/../private/secret" }}
    on_error: continue
  - id: encoded
    tool: keys.fetch
    with: {{ url: "{base}/docs/%2e%2e/private/secret" }}
    on_error: continue
  - id: with-key
    tool: keys.fetch
    with: {{ url: "{base}/docs/page", credentials: [a] }}
    on_error: continue
"#
        ),
    );
    assert_eq!(of_type(&evs, "run_finished").len(), 1, "{}", text(&out));
    assert_eq!(output(&evs, "inside")["status"], 200);
    // `..` and `%2e%2e` are resolved before the host compares: it checks the URL that would
    // really be sent (`/private/secret`), not the text the guest wrote.
    for step in ["outside", "deeper", "traversal", "encoded"] {
        assert!(
            error(&evs, step).contains("is outside the origins and the scope of instance keys"),
            "{}",
            error(&evs, step)
        );
    }
    assert!(
        error(&evs, "with-key").contains("credential \"a\" of instance keys may not be sent to"),
        "{}",
        error(&evs, "with-key")
    );
    let paths: Vec<String> = server.seen().iter().map(|s| s.path().to_string()).collect();
    assert_eq!(paths, ["/docs/page"], "only the URL in scope, without a key, reached the server");
}
