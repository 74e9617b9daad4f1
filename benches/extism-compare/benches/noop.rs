//! A no-op plugin call through Monstrum's host and through Extism, in one run.
//!
//! - `monstrum/noop`: the built-in `noop` component; every call gets a fresh store and instance
//!   from the pre-instance, arguments and output go through JSON on both sides.
//! - `extism/fresh_instance`: a new Extism `Plugin` from a `CompiledPlugin` per call, then the
//!   call: the same isolation as Monstrum's calls.
//! - `extism/reused_instance`: one Extism `Plugin` called again and again (Extism's usual way;
//!   state leaks from call to call).
//!
//! The Extism guest is a core module whose `noop` export returns 0 without reading its input, so
//! it does strictly less work than Monstrum's guest (no JSON).

use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use extism::{CompiledPlugin, Plugin, PluginBuilder};
use monstrum_core::plugin::builtin;
use monstrum_core::plugin::internals::{PluginCall, PluginHost};
use serde_json::{Value, json};

/// `(module (func (export "noop") (result i32) i32.const 0))`
const EXTISM_NOOP: &[u8] = &[
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version
    0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7f, // types: () -> i32
    0x03, 0x02, 0x01, 0x00, // functions: one of type 0
    0x07, 0x08, 0x01, 0x04, b'n', b'o', b'o', b'p', 0x00, 0x00, // export "noop"
    0x0a, 0x06, 0x01, 0x04, 0x00, 0x41, 0x00, 0x0b, // body: i32.const 0
];

fn compare(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let host = PluginHost::new(None).unwrap();
    let plugin = builtin::find("noop").unwrap();
    let noop = host.load(Arc::new(plugin.manifest), plugin.component).unwrap();
    assert_eq!(rt.block_on(host.call(&noop, PluginCall::new("n", "noop", json!({})))), Ok(Value::Null));

    let compiled: CompiledPlugin = PluginBuilder::new(EXTISM_NOOP).with_wasi(false).compile().unwrap();
    let mut reused = Plugin::new_from_compiled(&compiled).unwrap();
    let _: &[u8] = reused.call("noop", &b""[..]).unwrap();

    let mut group = c.benchmark_group("noop_call");
    group.bench_function("monstrum/fresh_instance", |b| {
        b.to_async(&rt).iter(|| async { host.call(&noop, PluginCall::new("n", "noop", json!({}))).await.unwrap() })
    });
    group.bench_function("extism/fresh_instance", |b| {
        b.iter(|| {
            let mut plugin = Plugin::new_from_compiled(&compiled).unwrap();
            let out: &[u8] = plugin.call("noop", &b""[..]).unwrap();
            out.len()
        })
    });
    group.bench_function("extism/reused_instance", |b| {
        b.iter(|| {
            let out: &[u8] = reused.call("noop", &b""[..]).unwrap();
            out.len()
        })
    });
    group.finish();
}

criterion_group!(benches, compare);
criterion_main!(benches);
