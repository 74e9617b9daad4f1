//! Property tests of delegation: along any chain of delegations, with any bindings and any
//! constraints, what the last delegate may see and do is within its own binding and within every
//! constraint on the chain. No chain ever widens what any hop allowed.

use monstrum_core::audit::Trail;
use monstrum_core::events::EventSink;
use monstrum_core::governance::budget::Ledger;
use monstrum_core::governance::scope::{Source, ToolScope};
use monstrum_core::governance::{Catalog, DelegationRequest, Gate, GateCall, Principal};
use monstrum_model::{Binding, Bot, Manifest};
use proptest::prelude::*;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

const MANIFEST: &str = r#"
name: res
version: 0.1.0
component: res.wasm
dimensions: { names: {}, sizes: {}, zones: {} }
tools:
  - name: read
    parameters: { type: object }
    scope:
      - { dimension: names, param: /name, match: glob }
      - { dimension: zones, param: /zone, match: exact }
  - name: write
    parameters: { type: object }
    scope:
      - { dimension: names, param: /name, match: glob }
      - { dimension: sizes, param: /size, match: max }
  - name: admin
    parameters: { type: object }
"#;

const TOOLS: [&str; 3] = ["read", "write", "admin"];
const NAMES: [&str; 6] = ["a*", "ab*", "b*", "abc", "*", "c?"];
const ZONES: [&str; 3] = ["eu", "us", "ap"];
const CALL_NAMES: [&str; 6] = ["a", "ab", "abc", "b", "cx", "zz"];

/// Values of the three dimensions, each possibly absent.
fn values() -> impl Strategy<Value = BTreeMap<String, Value>> {
    (
        proptest::option::of(proptest::sample::subsequence(NAMES.to_vec(), 0..=3)),
        proptest::option::of(0u32..100),
        proptest::option::of(proptest::sample::subsequence(ZONES.to_vec(), 0..=3)),
    )
        .prop_map(|(names, size, zones)| {
            let mut m = BTreeMap::new();
            if let Some(n) = names {
                m.insert("names".into(), json!(n));
            }
            if let Some(s) = size {
                m.insert("sizes".into(), json!(s));
            }
            if let Some(z) = zones {
                m.insert("zones".into(), json!(z));
            }
            m
        })
}

fn tools() -> impl Strategy<Value = Vec<&'static str>> {
    proptest::sample::subsequence(TOOLS.to_vec(), 0..=3)
}

#[derive(Debug, Clone)]
struct Hop {
    bound: Vec<&'static str>,
    binding: BTreeMap<String, Value>,
    constraint_tools: Option<Vec<&'static str>>,
    constraint_scope: BTreeMap<String, Value>,
}

fn hop() -> impl Strategy<Value = Hop> {
    (tools(), values(), proptest::option::of(tools()), values()).prop_map(
        |(bound, binding, constraint_tools, constraint_scope)| Hop {
            bound,
            binding,
            constraint_tools,
            constraint_scope,
        },
    )
}

fn call() -> impl Strategy<Value = (&'static str, Value)> {
    (
        proptest::sample::select(TOOLS.to_vec()),
        proptest::sample::select(CALL_NAMES.to_vec()),
        0u32..120,
        proptest::sample::select(ZONES.to_vec()),
    )
        .prop_map(|(tool, name, size, zone)| (tool, json!({ "name": name, "size": size, "zone": zone })))
}

fn bot(i: usize, hop: &Hop, next: bool) -> Bot {
    Bot {
        name: format!("h{i}"),
        description: None,
        model: None,
        personality: None,
        skills: Vec::new(),
        budget: None,
        resources: vec![Binding {
            plugin: "res".into(),
            instance: None,
            credential: None,
            credentials: BTreeMap::new(),
            tools: hop.bound.iter().map(|t| t.to_string()).collect(),
            scope: hop.binding.clone(),
            config: Default::default(),
            ..Default::default()
        }],
        delegates: if next { vec![format!("h{}", i + 1)] } else { Vec::new() },
    }
}

fn gate(hops: &[Hop]) -> Gate {
    let manifest: Manifest = serde_yaml::from_str(MANIFEST).unwrap();
    let bots: HashMap<String, Bot> =
        hops.iter().enumerate().map(|(i, h)| (format!("h{i}"), bot(i, h, i + 1 < hops.len()))).collect();
    let bots = Arc::new(bots);
    Gate::new(
        Catalog::new([manifest]),
        Arc::new(move |name| bots.get(name).cloned().ok_or_else(|| anyhow::anyhow!("no bot {name}"))),
        Trail::in_memory(),
        Ledger::in_memory(),
    )
}

/// Whether the gate allows `call` for `principal` (allowed calls fail later, as no plugin host
/// runs them here; a denial is the gate's).
async fn allowed(gate: &Gate, principal: &Principal, tool: &str, args: &Value) -> bool {
    let call = GateCall {
        run: "r",
        step: "s",
        principal,
        tool,
        arguments: args.clone(),
        offered: None,
        key: None,
        resend: false,
        conversation: None,
    };
    match gate.call(call, &EventSink::none()).await {
        Ok(_) => true,
        Err(e) => !e.is_denial(),
    }
}

fn own_binding_allows(hop: &Hop, tool: &str, args: &Value) -> bool {
    let manifest: Manifest = serde_yaml::from_str(MANIFEST).unwrap();
    hop.bound.contains(&tool)
        && ToolScope::compile(manifest.tool(tool).unwrap(), &hop.binding, Source::Binding)
            .is_ok_and(|s| s.check(args).is_ok())
}

fn constraint_allows(hop: &Hop, tool: &str, args: &Value) -> bool {
    let manifest: Manifest = serde_yaml::from_str(MANIFEST).unwrap();
    hop.constraint_tools.as_ref().is_none_or(|t| t.contains(&tool))
        && ToolScope::compile(manifest.tool(tool).unwrap(), &hop.constraint_scope, Source::Constraint)
            .is_ok_and(|s| s.check(args).is_ok())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn no_chain_widens_what_any_hop_allowed(hops in proptest::collection::vec(hop(), 1..=4), calls in proptest::collection::vec(call(), 1..12)) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let gate = gate(&hops);
            let mut principal = gate.principal(Some("h0"));
            let mut chain: Vec<&Hop> = Vec::new();
            for (i, hop) in hops.iter().enumerate() {
                if i > 0 {
                    // Hop i-1 delegates to hop i with hop i-1's constraint.
                    let giver = &hops[i - 1];
                    let request = DelegationRequest {
                        bot: format!("h{i}"),
                        tools: giver.constraint_tools.as_ref().map(|t| t.iter().map(|n| format!("res.{n}")).collect()),
                        scope: giver.constraint_scope.clone(),
                        budget: None,
                    };
                    match gate.delegate(&principal, &request, "r", "s").await {
                        Ok(p) => principal = p,
                        // A constraint naming a dimension no bound tool has is refused: the chain stops.
                        Err(e) => { prop_assert!(e.is_denial()); break; }
                    }
                    chain.push(giver);
                }
                let visible: Vec<String> = gate.visible_tools(&principal, None).iter().map(|t| t.name.clone()).collect();
                for name in visible.iter().filter(|n| n.starts_with("res.")) {
                    let tool = &name[4..];
                    prop_assert!(hop.bound.contains(&tool), "{name} visible but not bound");
                    for c in &chain {
                        prop_assert!(c.constraint_tools.as_ref().is_none_or(|t| t.contains(&tool)), "{name} visible past a constraint");
                    }
                }
                for (tool, args) in &calls {
                    let name = format!("res.{tool}");
                    if allowed(&gate, &principal, &name, args).await {
                        prop_assert!(own_binding_allows(hop, tool, args), "h{i} allowed {name} {args} beyond its binding");
                        for c in &chain {
                            prop_assert!(constraint_allows(c, tool, args), "h{i} allowed {name} {args} beyond a constraint");
                        }
                    }
                }
            }
            Ok(())
        })?;
    }
}

/// Found by the property above: a constraint given at the first hop binds the delegate of the
/// delegate, even for a tool the first delegate did not have.
#[test]
fn a_constraint_binds_every_delegate_further_down_the_chain() {
    let hop = |bound: Vec<&'static str>, binding: Value, scope: Value| Hop {
        bound,
        binding: serde_json::from_value(binding).unwrap(),
        constraint_tools: None,
        constraint_scope: serde_json::from_value(scope).unwrap(),
    };
    let hops = [
        hop(vec![], json!({}), json!({ "names": [] })),
        hop(vec!["write"], json!({}), json!({})),
        hop(vec!["read"], json!({ "names": ["*"], "zones": ["ap"] }), json!({})),
    ];
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let gate = gate(&hops);
        let mut principal = gate.principal(Some("h0"));
        for i in 1..3 {
            let scope = hops[i - 1].constraint_scope.clone();
            let request = DelegationRequest { bot: format!("h{i}"), tools: None, scope, budget: None };
            principal = gate.delegate(&principal, &request, "r", "s").await.expect("granted");
        }
        let args = json!({ "name": "a", "size": 0, "zone": "ap" });
        assert!(own_binding_allows(&hops[2], "read", &args), "h2's own binding allows it");
        assert!(!allowed(&gate, &principal, "res.read", &args).await, "h0's `names: []` still binds h2");
    });
}
