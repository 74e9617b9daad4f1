//! A guest that misbehaves on purpose, one tool per way of misbehaving, for the host's sandbox
//! tests (runtime/core/tests/core/plugin_host.rs).

use std::hint::black_box;

use monstrum_plugin_sdk::http::Request;
use monstrum_plugin_sdk::{Context, Plugin, ToolError, Value, json, kv, log, parse_args, register_plugin, ssh};
use serde::Deserialize;

struct SandboxTest;

impl Plugin for SandboxTest {
    fn new() -> Self {
        SandboxTest
    }

    fn call_tool(&mut self, tool: &str, args: Value, cx: &Context) -> Result<Value, ToolError> {
        match tool {
            "spin" => spin(),
            "alloc" => Ok(json!(alloc())),
            "recurse" => {
                let depth = args.get("depth").and_then(Value::as_u64).unwrap_or(u64::MAX);
                Ok(json!(recurse(depth)))
            }
            "big" => {
                let mb = args.get("mb").and_then(Value::as_u64).unwrap_or(100) as usize;
                Ok(Value::String("x".repeat(mb << 20)))
            }
            "fetch" => fetch(parse_args(args)?),
            "kv_roundtrip" => kv_roundtrip(&args),
            "kv_get" => {
                let key = args["key"].as_str().unwrap_or_default();
                let value = kv::get(key).map_err(ToolError::Failed)?;
                Ok(json!(value.map(|v| String::from_utf8_lossy(&v).into_owned())))
            }
            "kv_set" => {
                let (key, value) =
                    (args["key"].as_str().unwrap_or_default(), args["value"].as_str().unwrap_or_default());
                kv::set(key, value.as_bytes()).map_err(ToolError::Failed)?;
                Ok(Value::Null)
            }
            "ssh" => {
                let host = args["host"].as_str().unwrap_or_default();
                let argv: Vec<&str> = args["argv"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
                let out = ssh::exec(host, &argv).map_err(ToolError::Failed)?;
                Ok(json!({ "exit_code": out.exit_code, "stdout": String::from_utf8_lossy(&out.stdout) }))
            }
            "ambient" => Ok(ambient(cx)),
            "leave" => {
                // Copies on the heap (one leaked) and in a static, each flipped as `look` searches.
                let kept = flipped(&args);
                *LEFT.lock().unwrap() = kept.clone();
                black_box(Vec::leak(kept.clone()));
                Ok(json!(found_in_memory(&kept)))
            }
            "look" => {
                let needle = flipped(&args);
                Ok(json!({ "found": found_in_memory(&needle), "left": LEFT.lock().unwrap().len() }))
            }
            "panic" => panic!("the sandbox-test guest panics on purpose"),
            _ => Err(ToolError::unknown_tool(tool)),
        }
    }
}

fn spin() -> ! {
    let mut n = 0u64;
    loop {
        n = black_box(n.wrapping_add(1));
    }
}

fn alloc() -> usize {
    let mut chunks: Vec<Vec<u8>> = Vec::new();
    loop {
        chunks.push(black_box(vec![1u8; 1 << 20]));
        log::trace(format!("holding {} MiB", chunks.len()));
    }
}

fn recurse(depth: u64) -> u64 {
    if depth == 0 {
        return 0;
    }
    // A frame that must stay on the stack across the recursive call.
    let frame = [depth; 16];
    let below = recurse(black_box(depth - 1));
    black_box(&frame);
    1 + below
}

#[derive(Deserialize)]
struct Fetch {
    url: String,
    #[serde(default)]
    credentials: Vec<String>,
}

fn fetch(args: Fetch) -> Result<Value, ToolError> {
    let mut request = Request::get(&args.url).header("x-guest", "sandbox-test");
    for c in &args.credentials {
        request = request.credential(c);
    }
    let response = request.send()?;
    Ok(json!({ "status": response.status, "body": response.text(), "headers": response.headers }))
}

fn kv_roundtrip(args: &Value) -> Result<Value, ToolError> {
    let key = args.get("key").and_then(Value::as_str).unwrap_or("k");
    let value = args.get("value").and_then(Value::as_str).unwrap_or("v");
    let before = kv::get(key).map_err(ToolError::Failed)?;
    kv::set(key, value.as_bytes()).map_err(ToolError::Failed)?;
    let during = kv::get(key).map_err(ToolError::Failed)?;
    kv::delete(key).map_err(ToolError::Failed)?;
    let after = kv::get(key).map_err(ToolError::Failed)?;
    let text = |v: Option<Vec<u8>>| v.map(|v| String::from_utf8_lossy(&v).into_owned());
    Ok(json!({ "before": text(before), "during": text(during), "after": text(after) }))
}

/// What `leave` keeps in a static, which a fresh instance starts without.
static LEFT: std::sync::Mutex<Vec<u8>> = std::sync::Mutex::new(Vec::new());

/// The argument `text` with every byte flipped, so that the bytes searched for are not the
/// call's own arguments.
fn flipped(args: &Value) -> Vec<u8> {
    args["text"].as_str().unwrap_or_default().bytes().map(|b| b ^ 0x5a).collect()
}

/// How many copies of `needle` the guest's whole linear memory holds, besides `needle` itself.
fn found_in_memory(needle: &[u8]) -> usize {
    let size = core::arch::wasm32::memory_size(0) * 65536;
    // SAFETY: a WebAssembly guest may read any byte of its own linear memory; address 0 is left
    // out only because Rust reserves it.
    let memory = unsafe { core::slice::from_raw_parts(1 as *const u8, size - 1) };
    let own = needle.as_ptr() as usize;
    memory.windows(needle.len()).enumerate().filter(|&(at, bytes)| at + 1 != own && bytes == needle).count()
}

/// What the sandbox leaves the guest: it should be nothing.
fn ambient(cx: &Context) -> Value {
    let env: Vec<String> = std::env::vars().map(|(k, _)| k).collect();
    let args: Vec<String> = std::env::args().collect();
    let root = std::fs::read_dir("/").map(|d| d.count()).map_err(|e| e.to_string());
    let file = std::fs::read_to_string("/etc/passwd").map(|_| ()).map_err(|e| e.to_string());
    let cwd = std::env::current_dir().map(|p| p.display().to_string()).map_err(|e| e.to_string());
    let tcp = std::net::TcpStream::connect("127.0.0.1:1").map(|_| ()).map_err(|e| e.to_string());
    json!({
        "instance": cx.instance,
        "config": cx.config,
        "env": env,
        "args": args,
        "read_dir_root": format!("{root:?}"),
        "read_file": format!("{file:?}"),
        "cwd": format!("{cwd:?}"),
        "tcp": format!("{tcp:?}"),
    })
}

register_plugin!(SandboxTest);
