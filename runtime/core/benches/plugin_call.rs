//! The plugin host's overhead: a no-op tool call (fresh store and instance from the
//! pre-instance, call, return, drop) and the first call of a plugin with a cold and a warm disk
//! compile cache. Run: `cargo bench -j2 -p monstrum-core --bench plugin_call`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group};
use monstrum_core::plugin::builtin;
use monstrum_core::plugin::internals::{HostConfig, PluginCall, PluginHost};
use serde_json::{Value, json};

fn noop_call(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let host = PluginHost::new(None).unwrap();
    let plugin = builtin::find("noop").unwrap();
    let noop = host.load(Arc::new(plugin.manifest), plugin.component).unwrap();
    assert_eq!(rt.block_on(host.call(&noop, PluginCall::new("n", "noop", json!({})))), Ok(Value::Null));

    let mut group = c.benchmark_group("plugin_call");
    group.bench_function("noop", |b| {
        b.to_async(&rt).iter(|| async { host.call(&noop, PluginCall::new("n", "noop", json!({}))).await.unwrap() })
    });
    group.bench_function("echo_small", |b| {
        b.to_async(&rt).iter(|| async {
            host.call(&noop, PluginCall::new("n", "echo", json!({"repo": "acme/site", "number": 7}))).await.unwrap()
        })
    });
    group.finish();
}

/// Load (compile or read the cache) + first call, on a host created beforehand.
fn first_call(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let plugin = builtin::find("noop").unwrap();
    let manifest = Arc::new(plugin.manifest);
    let warm_dir = tempfile::tempdir().unwrap();
    PluginHost::new(Some(warm_dir.path())).unwrap().load(manifest.clone(), plugin.component).unwrap();

    let mut group = c.benchmark_group("first_call");
    group.sample_size(10).measurement_time(Duration::from_secs(10));
    for (name, warm) in [("cold_cache", false), ("warm_cache", true)] {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let cold_dir = tempfile::tempdir().unwrap();
                    let dir = if warm { warm_dir.path() } else { cold_dir.path() };
                    let host = PluginHost::new(Some(dir)).unwrap();
                    let started = Instant::now();
                    let noop = host.load(manifest.clone(), plugin.component).unwrap();
                    rt.block_on(host.call(&noop, PluginCall::new("n", "noop", json!({})))).unwrap();
                    total += started.elapsed();
                    let stats = host.cache_stats();
                    assert_eq!(stats.disk_hits, usize::from(warm), "{stats:?}");
                }
                total
            })
        });
    }
    group.finish();
}

/// `--repeat N`: loads the no-op plugin and calls it N times, for counting instructions
/// (`benches/instructions.sh` subtracts two values of N). The pool is sized for one call at a
/// time: valgrind cannot reserve the address space of the default pool (64 calls).
fn repeat(n: usize) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let host = PluginHost::with_config(HostConfig { max_concurrent_calls: 1, ..HostConfig::default() }).unwrap();
    let plugin = builtin::find("noop").unwrap();
    let noop = host.load(Arc::new(plugin.manifest), plugin.component).unwrap();
    for _ in 0..n {
        assert_eq!(rt.block_on(host.call(&noop, PluginCall::new("n", "noop", json!({})))), Ok(Value::Null));
    }
}

criterion_group!(benches, noop_call, first_call);

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--repeat") {
        return repeat(args.get(i + 1).and_then(|n| n.parse().ok()).expect("--repeat N"));
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
