//! `monstrum plugin test [DIR] TOOL --args JSON [--scope DIM=VALUE]... [--config KEY=VALUE]...
//! [--credential FIELD=VAULT]...`: one call of a plugin being written, through the real gate and
//! host with a scratch binding ([`monstrum_core::trial`]). It prints the gate's decision, the
//! output or the tool error, the fuel and memory used and the HTTP requests the guest made.

use crate::plugin::read_manifest;
use crate::{EXIT_DONE, EXIT_FAILED, Global};
use anyhow::{Context, bail};
use monstrum_core::events::Decision;
use monstrum_core::plugin::trace::CallTrace;
use monstrum_core::trial::{Trial, TrialOutcome, trial};
use monstrum_core::workspace::Workspace;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::SystemTime;

/// What `plugin test` was given.
pub struct TestArgs<'a> {
    pub dir: &'a Path,
    pub tool: &'a str,
    pub args: &'a str,
    pub scope: &'a [String],
    pub config: &'a [String],
    pub credentials: &'a [String],
}

/// `plugin test`.
pub async fn test(global: &Global, a: TestArgs<'_>) -> anyhow::Result<u8> {
    let (_, manifest) = read_manifest(a.dir)?;
    let component = a.dir.join(&manifest.component);
    if !component.is_file() {
        bail!("{} is not built yet: run `monstrum plugin build {}` first", component.display(), a.dir.display());
    }
    if let Some(newer) = newer_source(a.dir, &component) {
        eprintln!(
            "note: {} changed after {} was built; `monstrum plugin build` to test the change",
            newer.display(),
            component.display()
        );
    }
    let arguments: Value = serde_json::from_str(a.args).with_context(|| format!("--args is not JSON: {}", a.args))?;
    let mut scope: BTreeMap<String, Value> = BTreeMap::new();
    for (dim, value) in pairs("--scope", a.scope)? {
        match scope.remove(&dim) {
            None => scope.insert(dim, value),
            // Repeated: a list of every value given.
            Some(Value::Array(mut list)) => {
                list.push(value);
                scope.insert(dim, Value::Array(list))
            }
            Some(first) => scope.insert(dim, Value::Array(vec![first, value])),
        };
    }
    let config: Map<String, Value> = pairs("--config", a.config)?.into_iter().collect();
    let credentials: BTreeMap<String, String> = pairs("--credential", a.credentials)?
        .into_iter()
        .map(|(field, entry)| (field, entry.as_str().map(str::to_string).unwrap_or_else(|| entry.to_string())))
        .collect();
    let workspace = Workspace::discover(global.workspace.as_deref(), Path::new("."))?;
    let trial_spec = Trial { manifest, component, tool: a.tool.to_string(), arguments, scope, credentials, config };
    let outcome = trial(workspace, global.db.as_deref(), trial_spec).await?;
    if global.json {
        println!("{}", json_of(&outcome));
    } else {
        print!("{}", describe(&outcome));
    }
    Ok(if outcome.result.is_ok() { EXIT_DONE } else { EXIT_FAILED })
}

/// `KEY=VALUE` arguments; a value that is JSON (`["a","b"]`, `3`, `true`) is taken as such, any
/// other as a string.
fn pairs(flag: &str, given: &[String]) -> anyhow::Result<Vec<(String, Value)>> {
    given
        .iter()
        .map(|pair| {
            let (key, value) = pair.split_once('=').with_context(|| format!("{flag} {pair}: expected KEY=VALUE"))?;
            if key.is_empty() {
                bail!("{flag} {pair}: the name before `=` is empty");
            }
            let value = serde_json::from_str(value).unwrap_or_else(|_| Value::String(value.to_string()));
            Ok((key.to_string(), value))
        })
        .collect()
}

/// A source file of the crate changed after `built` was written, if any.
fn newer_source(dir: &Path, built: &Path) -> Option<std::path::PathBuf> {
    let built_at = std::fs::metadata(built).and_then(|m| m.modified()).ok()?;
    let changed = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).is_ok_and(|t: SystemTime| t > built_at);
    if changed(&dir.join("Cargo.toml")) {
        return Some(dir.join("Cargo.toml"));
    }
    let mut stack = vec![dir.join("src")];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).ok()?.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if changed(&path) {
                return Some(path);
            }
        }
    }
    None
}

fn decision_name(d: Decision) -> &'static str {
    match d {
        Decision::Allowed => "allowed",
        Decision::Denied => "denied",
    }
}

fn json_of(o: &TrialOutcome) -> Value {
    let (output, error) = match &o.result {
        Ok(v) => (v.clone(), None),
        Err(e) => (Value::Null, Some(e.to_string())),
    };
    json!({ "type": "plugin_test", "decision": decision_name(o.decision), "rule": o.rule,
            "output": output, "error": error, "calls": o.traces })
}

/// The text `plugin test` prints.
fn describe(o: &TrialOutcome) -> String {
    let mut out = format!("{:<9} {}\n", decision_name(o.decision), o.rule);
    match &o.result {
        Ok(v) => {
            let pretty = serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string());
            out.push_str(&format!("{:<9} {}\n", "output", pretty.replace('\n', "\n          ")));
        }
        Err(e) if o.decision == Decision::Denied => out.push_str(&format!("{:<9} {e}\n", "reason")),
        Err(e) => out.push_str(&format!("{:<9} {e}\n", "error")),
    }
    for t in &o.traces {
        out.push_str(&trace_text(t));
    }
    let unbound = o
        .traces
        .iter()
        .flat_map(|t| &t.http)
        .any(|h| h.error.as_deref().is_some_and(|e| e.contains("no secret is bound")));
    if unbound {
        out.push_str("hint      give the credential with --credential FIELD=ENTRY (a vault entry of the workspace)\n");
    }
    out
}

fn trace_text(t: &CallTrace) -> String {
    let mut out = format!(
        "{:<9} {} of {} units\n{:<9} {} peak of {} allowed\n{:<9} {:.1} ms\n",
        "fuel",
        thousands(t.fuel_used),
        thousands(t.fuel_limit),
        "memory",
        bytes(t.memory_peak_bytes),
        bytes(t.memory_limit_bytes),
        "time",
        t.duration_ms
    );
    if t.http.is_empty() {
        out.push_str(&format!("{:<9} no requests\n", "http"));
    }
    for h in &t.http {
        let answer = match (&h.status, &h.error) {
            (Some(status), _) => format!("{status}, {} bytes", thousands(h.response_bytes as u64)),
            (None, Some(e)) => e.clone(),
            (None, None) => "no answer".into(),
        };
        out.push_str(&format!("{:<9} {} {} -> {answer} ({:.1} ms)\n", "http", h.method, h.url, h.duration_ms));
        for (name, value) in &h.headers {
            out.push_str(&format!("{:<9}   {name}: {value}\n", ""));
        }
    }
    out
}

fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn bytes(n: usize) -> String {
    match n {
        n if n >= 1 << 20 => format!("{:.1} MiB", n as f64 / f64::from(1 << 20)),
        n if n >= 1 << 10 => format!("{:.1} KiB", n as f64 / f64::from(1 << 10)),
        n => format!("{n} B"),
    }
}
