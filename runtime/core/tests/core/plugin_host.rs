//! The plugin host against real guests (plugins/noop, plugins/testing/sandbox-test): a guest that
//! misbehaves gets a clean tool error and the same host serves the next call; HTTP reaches only
//! allowed origins and carries credentials the guest never sees; the compile cache is used.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::routing::get;
use monstrum_core::plugin::Proxy;
use monstrum_core::plugin::builtin::{self, BuiltinPlugin};
use monstrum_core::plugin::internals::{CallLimits, HostConfig, LoadedPlugin, PluginCall, PluginHost, Secrets};
use serde_json::{Value, json};

fn host() -> PluginHost {
    PluginHost::with_config(HostConfig { max_concurrent_calls: 16, proxy: Proxy::None, ..HostConfig::default() })
        .expect("host starts")
}

fn load(host: &PluginHost, plugin: BuiltinPlugin) -> Arc<LoadedPlugin> {
    host.load(Arc::new(plugin.manifest), plugin.component).expect("plugin loads")
}

fn noop(host: &PluginHost) -> Arc<LoadedPlugin> {
    load(host, builtin::find("noop").expect("noop is built in"))
}

fn sandbox(host: &PluginHost) -> Arc<LoadedPlugin> {
    load(host, builtin::testing("sandbox-test").expect("sandbox-test is embedded for tests"))
}

fn limits() -> CallLimits {
    CallLimits { fuel: 50_000_000, memory_bytes: 32 << 20, timeout: Duration::from_secs(10), max_output_bytes: 1 << 20 }
}

fn call(tool: &str, arguments: Value) -> PluginCall {
    PluginCall { limits: limits(), ..PluginCall::new("test", tool, arguments) }
}

/// The host still serves an ordinary call.
async fn still_serves(host: &PluginHost, noop: &LoadedPlugin) {
    let out = host.call(noop, PluginCall::new("n", "echo", json!({"still": "alive"}))).await;
    assert_eq!(out, Ok(json!({"still": "alive"})));
}

#[tokio::test]
async fn noop_and_echo() {
    let host = host();
    let noop = noop(&host);
    assert_eq!(host.call(&noop, PluginCall::new("n", "noop", json!({}))).await, Ok(Value::Null));
    let args = json!({"a": [1, 2, {"b": "ç"}]});
    assert_eq!(host.call(&noop, PluginCall::new("n", "echo", args.clone())).await, Ok(args));
    let err = host.call(&noop, PluginCall::new("n", "nope", json!({}))).await.unwrap_err();
    assert_eq!(err, "n.nope: no such tool: nope");
}

#[tokio::test]
async fn a_guest_that_loops_forever_runs_out_of_fuel() {
    let host = host();
    let (noop, guest) = (noop(&host), sandbox(&host));
    let started = std::time::Instant::now();
    let err = host.call(&guest, call("spin", json!({}))).await.unwrap_err();
    assert!(err.contains("ran out of fuel"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(5), "fuel stopped it quickly: {:?}", started.elapsed());
    still_serves(&host, &noop).await;
}

#[tokio::test]
async fn a_guest_that_loops_forever_is_stopped_by_the_timeout() {
    let host = host();
    let (noop, guest) = (noop(&host), sandbox(&host));
    let mut c = call("spin", json!({}));
    c.limits.fuel = u64::MAX;
    c.limits.timeout = Duration::from_millis(200);
    let started = std::time::Instant::now();
    let err = host.call(&guest, c).await.unwrap_err();
    assert!(err.contains("did not finish within 200ms"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    still_serves(&host, &noop).await;
}

#[tokio::test]
async fn a_guest_that_allocates_without_bound_hits_the_memory_limit() {
    let host = host();
    let (noop, guest) = (noop(&host), sandbox(&host));
    let err = host.call(&guest, call("alloc", json!({}))).await.unwrap_err();
    assert!(err.contains("exceeded its memory limit of 33554432 bytes"), "{err}");
    still_serves(&host, &noop).await;
}

#[tokio::test]
async fn a_guest_that_recurses_deeply_traps() {
    let host = host();
    let (noop, guest) = (noop(&host), sandbox(&host));
    let ok = host.call(&guest, call("recurse", json!({"depth": 100}))).await;
    assert_eq!(ok, Ok(json!(100)));
    let err = host.call(&guest, call("recurse", json!({}))).await.unwrap_err();
    assert!(err.starts_with("test.recurse: ") && err.contains("stack"), "{err}");
    still_serves(&host, &noop).await;
}

#[tokio::test]
async fn a_guest_that_returns_100_mb_is_refused() {
    let host = host();
    let (noop, guest) = (noop(&host), sandbox(&host));
    let mut c = call("big", json!({"mb": 100}));
    c.limits.memory_bytes = 512 << 20;
    c.limits.fuel = u64::MAX;
    let err = host.call(&guest, c).await.unwrap_err();
    assert!(err.contains("more than the limit of 1048576 bytes"), "{err}");
    // Under the default memory limit the same guest cannot even build it.
    let err = host.call(&guest, call("big", json!({"mb": 100}))).await.unwrap_err();
    assert!(err.contains("exceeded its memory limit"), "{err}");
    still_serves(&host, &noop).await;
}

#[tokio::test]
async fn a_panic_is_a_tool_error_with_the_panic_message() {
    let host = host();
    let (noop, guest) = (noop(&host), sandbox(&host));
    let err = host.call(&guest, call("panic", json!({}))).await.unwrap_err();
    assert!(err.contains("panicked") && err.contains("panics on purpose"), "{err}");
    still_serves(&host, &noop).await;
}

#[tokio::test]
async fn the_guest_has_no_ambient_authority() {
    let host = host();
    let guest = sandbox(&host);
    let mut c = call("ambient", json!({}));
    c.config.insert("region".into(), json!("eu"));
    let out = host.call(&guest, c).await.unwrap();
    assert_eq!(out["env"], json!([]), "{out}");
    assert_eq!(out["instance"], json!("test"));
    assert_eq!(out["config"], json!({"region": "eu", "level": 3}), "the manifest's defaults fill the gaps");
    for key in ["read_dir_root", "read_file", "tcp"] {
        assert!(out[key].as_str().unwrap().starts_with("Err"), "{key}: {out}");
    }
}

/// A local server that records what it received and echoes the Authorization header back.
async fn server() -> (String, Arc<Mutex<Vec<(HeaderMap, Vec<(String, String)>)>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let app =
        Router::new()
            .route(
                "/hello",
                get(
                    |State(seen): State<Arc<Mutex<Vec<_>>>>,
                     headers: HeaderMap,
                     Query(q): Query<Vec<(String, String)>>| async move {
                        let auth =
                            headers.get("authorization").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
                        seen.lock().unwrap().push((headers, q));
                        format!("hello; you sent {auth}")
                    },
                ),
            )
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    "slow"
                }),
            )
            .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://127.0.0.1:{}", addr.port()), seen)
}

#[tokio::test]
async fn http_reaches_allowed_origins_with_credentials_the_guest_never_sees() {
    let (origin, seen) = server().await;
    let host = host();
    let guest = sandbox(&host);
    let mut c = call("fetch", json!({"url": format!("{origin}/hello?q=1"), "credentials": ["token", "key"]}));
    c.allowed_origins = vec![origin.clone()];
    c.secrets = Secrets::new().with("token", "CANARY-T0KEN".to_string()).with("key", "CANARY-KEY".to_string());
    let out = host.call(&guest, c).await.unwrap();
    assert_eq!(out["status"], json!(200), "{out}");
    assert_eq!(out["body"], json!("hello; you sent Bearer [redacted]"), "the echoed secret is scrubbed");
    let text = out.to_string();
    assert!(!text.contains("CANARY"), "the guest saw a secret: {text}");

    let seen = seen.lock().unwrap();
    let (headers, query) = &seen[0];
    assert_eq!(headers.get("authorization").unwrap(), "Bearer CANARY-T0KEN");
    assert_eq!(headers.get("x-guest").unwrap(), "sandbox-test");
    assert!(query.contains(&("api_key".to_string(), "CANARY-KEY".to_string())), "{query:?}");
    assert!(query.contains(&("q".to_string(), "1".to_string())), "{query:?}");
}

#[tokio::test]
async fn http_outside_the_allowed_origins_is_refused() {
    let (origin, seen) = server().await;
    let host = host();
    let (noop, guest) = (noop(&host), sandbox(&host));
    // Nothing allowed.
    let err = host.call(&guest, call("fetch", json!({"url": format!("{origin}/hello")}))).await.unwrap_err();
    assert!(err.contains("request refused by the host") && err.contains("outside the origins"), "{err}");
    // Another port of the same host.
    let mut c = call("fetch", json!({"url": format!("{origin}/hello")}));
    c.allowed_origins = vec!["http://127.0.0.1:1".to_string()];
    let err = host.call(&guest, c).await.unwrap_err();
    assert!(err.contains("outside the origins"), "{err}");
    // A credential the manifest does not declare.
    let mut c = call("fetch", json!({"url": format!("{origin}/hello"), "credentials": ["password"]}));
    c.allowed_origins = vec![origin.clone()];
    let err = host.call(&guest, c).await.unwrap_err();
    assert!(err.contains("no credential field \"password\""), "{err}");
    // A declared credential with no secret bound.
    let mut c = call("fetch", json!({"url": format!("{origin}/hello"), "credentials": ["token"]}));
    c.allowed_origins = vec![origin];
    let err = host.call(&guest, c).await.unwrap_err();
    assert!(err.contains("no secret is bound to credential \"token\""), "{err}");
    assert!(seen.lock().unwrap().is_empty(), "no request reached the server");
    still_serves(&host, &noop).await;
}

#[tokio::test]
async fn kv_is_private_to_the_instance() {
    let host = host();
    let guest = sandbox(&host);
    let out = host.call(&guest, call("kv_roundtrip", json!({"key": "k", "value": "v"}))).await.unwrap();
    assert_eq!(out, json!({"before": null, "during": "v", "after": null}));
    let set = PluginCall { limits: limits(), ..PluginCall::new("a", "kv_set", json!({"key": "k", "value": "A"})) };
    host.call(&guest, set).await.unwrap();
    let get =
        |instance: &str| PluginCall { limits: limits(), ..PluginCall::new(instance, "kv_get", json!({"key": "k"})) };
    assert_eq!(host.call(&guest, get("a")).await, Ok(json!("A")), "persists across calls of one instance");
    assert_eq!(host.call(&guest, get("b")).await, Ok(Value::Null), "invisible to another instance");
}

#[tokio::test]
async fn ssh_runs_only_what_the_policy_allows() {
    let host = host();
    let guest = sandbox(&host);
    let args = json!({"host": "web-1.internal", "argv": ["rm", "-rf", "/"]});
    let err = host.call(&guest, call("ssh", args.clone())).await.unwrap_err();
    assert!(err.contains("may not run SSH commands"), "no policy allows nothing: {err}");
    let mut c = call("ssh", args);
    c.ssh_policy = Some(Arc::new(|host: &str, argv: &[String]| {
        if host == "web-1.internal" && argv[0] == "uptime" {
            Ok(())
        } else {
            Err(format!("{} is not allowed on {host}", argv[0]))
        }
    }));
    let err = host.call(&guest, c.clone()).await.unwrap_err();
    assert!(err.contains("SSH command refused: rm is not allowed on web-1.internal"), "{err}");
    c.arguments = json!({"host": "web-1.internal", "argv": ["uptime"]});
    let err = host.call(&guest, c).await.unwrap_err();
    assert!(err.contains("SSH is not available in this host"), "allowed, but this host has no executor: {err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_calls_are_isolated() {
    let host = Arc::new(host());
    let noop = noop(&host);
    let calls = (0..32).map(|i| {
        let (host, noop) = (host.clone(), noop.clone());
        tokio::spawn(async move { host.call(&noop, PluginCall::new("n", "echo", json!({"i": i}))).await })
    });
    for (i, c) in calls.enumerate() {
        assert_eq!(c.await.unwrap(), Ok(json!({"i": i})));
    }
}

/// A call's memory is reset before the slot serves another call: what one call leaves on its
/// heap or in a static, the next call of the same plugin (in the same pooled slot, which the
/// pool prefers) cannot find anywhere in its linear memory. Calls end by resetting the pages they
/// wrote in place where the kernel can say which (`PAGEMAP_SCAN`), and by handing them back to the
/// kernel elsewhere; both are attacked here.
#[tokio::test]
async fn a_call_finds_nothing_that_an_earlier_call_left_in_memory() {
    for pool in [1, 16] {
        let host = PluginHost::with_config(HostConfig {
            max_concurrent_calls: pool,
            proxy: Proxy::None,
            ..HostConfig::default()
        })
        .expect("host starts");
        let guest = sandbox(&host);
        let scan = |tool: &str, text: &str| {
            let mut c = call(tool, json!({ "text": text }));
            c.limits.fuel = 2_000_000_000;
            c
        };
        for round in 0..8 {
            let text = format!("secret left behind by call {round}");
            let found = host.call(&guest, scan("leave", &text)).await.unwrap();
            assert!(found.as_u64().unwrap() >= 2, "the probe finds the copies in the call that left them: {found}");
            let seen = host.call(&guest, scan("look", &text)).await.unwrap();
            assert_eq!(seen, json!({ "found": 0, "left": 0 }), "pool of {pool}, round {round}");
        }
    }
}

#[test]
fn a_second_process_loads_from_the_disk_cache() {
    let dir = tempfile::tempdir().unwrap();
    let plugin = builtin::find("noop").unwrap();
    let manifest = Arc::new(plugin.manifest.clone());

    let first = PluginHost::new(Some(dir.path())).unwrap();
    let loaded = first.load(manifest.clone(), plugin.component).unwrap();
    assert_eq!(loaded.sha256().len(), 64);
    let stats = first.cache_stats();
    assert_eq!((stats.compiled, stats.disk_hits, stats.memory_hits), (1, 0, 0), "{stats:?}");
    first.load(manifest.clone(), plugin.component).unwrap();
    assert_eq!(first.cache_stats().memory_hits, 1, "the same host compiles once");
    let files = walk(dir.path());
    assert!(!files.is_empty(), "the compiled component is on disk");

    let second = PluginHost::new(Some(dir.path())).unwrap();
    second.load(manifest, plugin.component).unwrap();
    let stats = second.cache_stats();
    assert_eq!((stats.compiled, stats.disk_hits), (0, 1), "{stats:?}");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() { files.extend(walk(&path)) } else { files.push(path) }
    }
    files
}

#[test]
fn a_component_that_is_not_a_plugin_is_refused_at_load() {
    let host = host();
    let manifest = Arc::new(builtin::find("noop").unwrap().manifest);
    let err = host.load(manifest.clone(), b"not wasm").unwrap_err();
    assert!(format!("{err:#}").contains("not a valid WebAssembly component"), "{err:#}");
    // A valid component that exports nothing.
    let empty = b"\0asm\x0d\0\x01\0";
    let err = host.load(manifest, empty).unwrap_err();
    assert!(format!("{err:#}").contains("is not a monstrum:plugin/integration component"), "{err:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_beyond_the_pool_wait_for_a_slot_instead_of_failing() {
    let (origin, _) = server().await;
    let config = HostConfig { max_concurrent_calls: 2, proxy: Proxy::None, ..HostConfig::default() };
    let host = Arc::new(PluginHost::with_config(config).unwrap());
    let guest = sandbox(&host);
    let started = std::time::Instant::now();
    let calls: Vec<_> = (0..8)
        .map(|_| {
            let (host, guest) = (host.clone(), guest.clone());
            let mut c = call("fetch", json!({"url": format!("{origin}/slow")}));
            c.allowed_origins = vec![origin.clone()];
            tokio::spawn(async move { host.call(&guest, c).await })
        })
        .collect();
    for c in calls {
        let out = c.await.unwrap().unwrap();
        assert_eq!(out["body"], json!("slow"));
    }
    // Two at a time, 100 ms each: at least four rounds.
    assert!(started.elapsed() >= Duration::from_millis(400), "{:?}", started.elapsed());
}

#[test]
fn a_guest_imports_only_the_host_capabilities_and_wasi() {
    let host = host();
    for plugin in [noop(&host), sandbox(&host)] {
        let imports = plugin.imports();
        eprintln!("{}: {imports:?}", plugin.manifest().name);
        for import in &imports {
            assert!(import.starts_with("monstrum:plugin/") || import.starts_with("wasi:"), "{import}");
        }
    }
    let imports = sandbox(&host).imports();
    assert!(imports.iter().any(|i| i == "monstrum:plugin/http@0.1.0"), "{imports:?}");
}

#[tokio::test]
async fn http_goes_through_the_configured_proxy() {
    // The "proxy" is the local server: a plain-HTTP request through a proxy is sent to it in
    // absolute form, so it answers for a host that does not exist.
    let (proxy, seen) = server().await;
    let config = HostConfig { max_concurrent_calls: 4, proxy: Proxy::Url(proxy), ..HostConfig::default() };
    let host = PluginHost::with_config(config).unwrap();
    let guest = sandbox(&host);
    let mut c = call("fetch", json!({"url": "http://api.example.invalid/hello", "credentials": ["token"]}));
    c.allowed_origins = vec!["http://api.example.invalid".to_string()];
    c.secrets = Secrets::new().with("token", "PROXIED".to_string());
    let out = host.call(&guest, c).await.unwrap();
    assert_eq!(out["status"], json!(200), "{out}");
    let seen = seen.lock().unwrap();
    assert_eq!(seen[0].0.get("host").unwrap(), "api.example.invalid");
    assert_eq!(seen[0].0.get("authorization").unwrap(), "Bearer PROXIED");
}
