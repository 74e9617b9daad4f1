//! The bodies of the fuzz targets: one plain function per target, each checking properties that
//! must hold for any input (a failed property panics). `fuzz_targets/*.rs` hand them libFuzzer's
//! inputs; `runtime/core/tests/core/fuzz_corpus.rs` includes this file as a module and replays
//! the committed corpus (`fuzz/corpus/<target>/`) through them on stable, so it uses only what
//! that test binary has (monstrum-core and its dependencies) and refers to its own modules
//! relatively.
//!
//! - [`model`]: a workflow, bot, manifest or SKILL.md (chosen by the first byte) loads and
//!   validates without panicking, and its diagnostics print.
//! - [`scope`]: random bindings and calls decided by `ToolScope` and by a plain reference
//!   written from docs/governance.md (`reference.rs`): both refuse the same bindings and decide
//!   every call alike.
//! - [`command`]: the `command` match kind on arbitrary patterns and values: a value with a
//!   shell metacharacter is allowed only by a pattern that names it.
//! - [`package`]: `.mst` unpacking on arbitrary bytes and on archives built from parts: whatever
//!   is accepted packs again to a package that is accepted and equal.

mod generate;
mod input;
mod reference;

use input::Input;
use monstrum_core::governance::scope::{Source, ToolScope};
use monstrum_core::plugin::Package;
use monstrum_model::ToolDef;
use reference::Verdict;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// The first byte picks the format (`w`orkflow, `b`ot, `m`anifest, `s`kill; any other byte by
/// its value), the rest is the file's text.
pub fn model(data: &[u8]) {
    let Some((&format, rest)) = data.split_first() else { return };
    let text = String::from_utf8_lossy(rest);
    let format = match format {
        b'w' | b'b' | b'm' | b's' => format,
        n => b"wbms"[usize::from(n) % 4],
    };
    let diagnostics = match format {
        b'w' => monstrum_model::load_workflow(&text).diagnostics,
        b'b' => monstrum_model::load_bot(&text).diagnostics,
        b'm' => monstrum_model::load_manifest(&text).diagnostics,
        _ => monstrum_model::load_skill(&text).diagnostics,
    };
    for d in &diagnostics {
        let _ = d.to_string();
    }
}

/// The value a rule's parameter points at, walking objects only (the generated parameters are
/// object keys).
fn pointed<'v>(call: &'v Value, tokens: &[String]) -> Option<&'v Value> {
    tokens.iter().try_fold(call, |v, t| v.as_object()?.get(t))
}

/// A random binding (1 to 4 dimensions of any match kind, values of the right and wrong types)
/// and up to 6 calls: the engine and the reference must agree on the binding's validity and on
/// every decision.
pub fn scope(data: &[u8]) {
    let mut input = Input::new(data);
    let binding = generate::binding(&mut input);
    let tool_json = binding.tool();
    let tool: ToolDef = serde_json::from_value(tool_json.clone()).expect("a valid tool definition");
    let values = binding.values();
    let engine = ToolScope::compile(&tool, &values, Source::Binding);
    let reference: Result<Vec<reference::Allowed>, String> =
        binding.dims.iter().map(|d| reference::compile(d.kind.name(), &d.values())).collect();
    let describe = || format!("rules: {tool_json}\nvalues: {}", json!(values));
    let (engine, reference) = match (engine, reference) {
        (Ok(e), Ok(r)) => (e, r),
        (Err(_), Err(_)) => return,
        (Err(_), Ok(r)) if r.iter().any(|a| matches!(a, reference::Allowed::Undecided)) => return,
        (Ok(_), Err(why)) => panic!("the engine compiles a binding the reference refuses ({why})\n{}", describe()),
        (Err(e), Ok(_)) => panic!("the engine refuses a binding the reference compiles: {e}\n{}", describe()),
    };
    for _ in 0..1 + input.below(6) {
        let call = generate::call(&binding, &mut input);
        let expected =
            reference::all(binding.dims.iter().zip(&reference).map(|(d, allowed)| match pointed(&call, &d.param) {
                Some(v) => reference::decide(allowed, v),
                None => Verdict::Deny,
            }));
        let got = engine.check(&call);
        if let Err(denial) = &got {
            let _ = denial.to_string();
        }
        let agree = match expected {
            Verdict::Unknown => true,
            Verdict::Allow => got.is_ok(),
            Verdict::Deny => got.is_err(),
        };
        if !agree {
            let got = got.map_err(|d| d.to_string());
            panic!(
                "the scope engine and the reference disagree\ncall: {call}\nreference: {expected:?}\nengine: {got:?}\n{}",
                describe()
            );
        }
    }
}

/// The first byte: how many patterns (1 to 4) and, with its high bit, whether the value is the
/// first pattern with every `*` replaced by the last piece. The rest, as text split at NUL
/// characters: the patterns, then the value.
pub fn command(data: &[u8]) {
    let Some((&head, rest)) = data.split_first() else { return };
    let text = String::from_utf8_lossy(rest);
    let mut pieces = text.split('\0');
    let patterns: Vec<&str> = pieces.by_ref().take(1 + usize::from(head & 3)).collect();
    let last = pieces.collect::<Vec<_>>().join("\0");
    let value = if head & 0x80 != 0 { patterns[0].replace('*', &last) } else { last };
    let tool: ToolDef = serde_json::from_value(json!({
        "name": "exec",
        "parameters": {"type": "object"},
        "scope": [{"dimension": "commands", "param": "/command", "match": "command"}],
    }))
    .expect("a valid tool definition");
    let values: BTreeMap<String, Value> = [("commands".to_string(), json!(patterns))].into_iter().collect();
    let Ok(scope) = ToolScope::compile(&tool, &values, Source::Binding) else { return };
    let call = json!({ "command": value });
    let decision = scope.check(&call);
    if let Err(denial) = &decision {
        let _ = denial.to_string();
        return;
    }
    let named = reference::meta(&value);
    assert!(
        patterns.iter().any(|p| named.is_subset(&reference::meta(p))),
        "{value:?} is allowed, but no pattern names all of its metacharacters {named:?}: {patterns:?}"
    );
}

/// The noop plugin, built in: a real manifest and component to build packages from.
fn noop() -> &'static monstrum_core::plugin::BuiltinPlugin {
    static NOOP: std::sync::OnceLock<monstrum_core::plugin::BuiltinPlugin> = std::sync::OnceLock::new();
    NOOP.get_or_init(|| monstrum_core::plugin::builtin::find("noop").expect("noop is built in"))
}

/// A gzip stream is unpacked as it is. Anything else builds a package from parts the input
/// chooses (the noop plugin's manifest and component, or the input's own text and bytes):
/// with `Package::new`, or as an archive whose entries, names, kinds and checksums the input
/// may spoil. Whatever is accepted must round-trip.
pub fn package(data: &[u8]) {
    if data.starts_with(&[0x1f, 0x8b]) {
        if let Ok(p) = Package::from_bytes(data) {
            round_trip(&p);
        }
        return;
    }
    let mut input = Input::new(data);
    let noop = noop();
    let manifest = match input.below(4) {
        0 => String::from_utf8_lossy(input.chunk(4096)).into_owned(),
        1 => {
            let mut text = noop.manifest_text.to_string();
            let at = input.below(text.len() + 1);
            let at = (0..=at).rev().find(|i| text.is_char_boundary(*i)).unwrap_or(0);
            text.insert_str(at, &String::from_utf8_lossy(input.chunk(256)));
            text
        }
        _ => noop.manifest_text.to_string(),
    };
    let readme = String::from_utf8_lossy(input.chunk(1024)).into_owned();
    let component = if input.one_in(4) { input.chunk(4096).to_vec() } else { noop.component.to_vec() };
    if input.one_in(2) {
        if let Ok(p) = Package::new(manifest, readme, component) {
            round_trip(&p);
        }
        return;
    }
    let component_name = match input.below(8) {
        0 => String::from_utf8_lossy(input.chunk(120)).into_owned(),
        1 => "x.wasm".to_string(),
        _ => noop.manifest.component.clone(),
    };
    let mut entries: Vec<(Vec<u8>, u8, Vec<u8>)> = vec![
        (b"manifest.yaml".to_vec(), b'0', manifest.into_bytes()),
        (component_name.into_bytes(), b'0', component),
        (b"README.md".to_vec(), b'0', readme.into_bytes()),
    ];
    let sums: String = entries
        .iter()
        .filter(|_| !input.one_in(16))
        .map(|(name, _, bytes)| {
            use sha2::Digest as _;
            format!("{}  {}\n", hex::encode(sha2::Sha256::digest(bytes)), String::from_utf8_lossy(name))
        })
        .collect();
    entries.push((b"SHA256SUMS".to_vec(), b'0', sums.into_bytes()));
    while !input.is_empty() && input.one_in(3) {
        let i = input.below(entries.len());
        match input.below(5) {
            0 => entries.push(entries[i].clone()),
            1 => entries[i].1 = *input.pick(b"0125LKgx"),
            2 => entries[i].0 = input.chunk(120).to_vec(),
            3 => {
                let cut = input.below(entries[i].2.len() + 1);
                entries[i].2.truncate(cut);
            }
            _ => entries.rotate_left(1),
        }
    }
    if let Ok(p) = Package::from_bytes(&archive(&entries)) {
        round_trip(&p);
    }
}

/// A gzip-compressed tar of `(name, type flag, data)`, the name written into the header as is.
fn archive(entries: &[(Vec<u8>, u8, Vec<u8>)]) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut tar = tar::Builder::new(gz);
    for (name, kind, data) in entries {
        let mut header = tar::Header::new_gnu();
        let field = &mut header.as_gnu_mut().expect("a GNU header").name;
        let n = name.len().min(field.len());
        field[..n].copy_from_slice(&name[..n]);
        header.set_size(data.len() as u64);
        header.set_entry_type(tar::EntryType::new(*kind));
        header.set_mode(0o644);
        header.set_cksum();
        tar.append(&header, data.as_slice()).expect("writing to memory");
    }
    tar.into_inner().and_then(|gz| gz.finish()).expect("writing to memory")
}

/// An accepted package packs, the packed bytes are accepted as the same package, and packing
/// is reproducible.
fn round_trip(p: &Package) {
    let bytes = p.to_bytes().unwrap_or_else(|e| panic!("an accepted package does not pack: {e}"));
    let back = Package::from_bytes(&bytes).unwrap_or_else(|e| panic!("a packed package is refused: {e}"));
    assert_eq!(back.manifest, p.manifest);
    assert_eq!(back.manifest_text, p.manifest_text);
    assert_eq!(back.readme, p.readme);
    assert_eq!(back.component, p.component);
    assert_eq!(back.to_bytes().expect("packs again"), bytes, "packing is not reproducible");
}
