//! The scope engine beside Cedar: one binding written both ways, and random bindings and calls.
//!
//! Shared by `tests/core/scope_cedar.rs` (the differential test) and `benches/scope.rs` (the figures
//! and the million-case differential run). A [`Binding`] is a list of dimensions (match kind,
//! parameter, allowed values); it compiles to a [`ToolScope`] and translates to one Cedar policy
//! `permit(principal, action, resource) when { <dimension 1> && ... };` where the call's
//! arguments are the request's context.
//!
//! The translation covers the kinds Cedar can express with the same meaning:
//! - `exact`: `e == v1 || e == v2 || ([v1, v2].containsAll(e) && !e.isEmpty())` (the last part is
//!   "every element of a non-empty list is allowed"; on a scalar it is a type error, which denies);
//! - `prefix`: `e like "p*"` with the `*`s of `p` escaped;
//! - `glob`: `e like "pattern"`, for patterns whose only special character is `*` and values
//!   without `/` (Cedar's `*` crosses `/`, ours does not);
//! - `max` / `min` on integers: `e <= n` / `e >= n`;
//! - `cidr` on IPv4: `e.isInRange(ip("net"))`, the parameter becoming an `ip(...)` in the context.
//!
//! A dimension without values is `false`. A missing parameter or a value of the wrong type is an
//! evaluation error in Cedar, and a policy that errors does not permit, so both sides deny.

#![allow(dead_code)] // each of the test and the bench uses part of it

use cedar_policy::{Authorizer, Context, Decision, Entities, EntityUid, PolicySet, Request, RestrictedExpression};
use monstrum_core::governance::scope::{Source, ToolScope};
use monstrum_model::{MatchKind, ToolDef};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::strategy::Union;
use proptest::string::string_regex;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// How values of a dimension are generated (the match kind, with `exact` split by value type).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gen {
    ExactStr,
    ExactInt,
    Prefix,
    Glob,
    Max,
    Min,
    Cidr,
}

impl Gen {
    pub fn kind(self) -> MatchKind {
        match self {
            Gen::ExactStr | Gen::ExactInt => MatchKind::Exact,
            Gen::Prefix => MatchKind::Prefix,
            Gen::Glob => MatchKind::Glob,
            Gen::Max => MatchKind::Max,
            Gen::Min => MatchKind::Min,
            Gen::Cidr => MatchKind::Cidr,
        }
    }

    /// Rules may share a parameter only within a category: text, integers (cidr never shares,
    /// since its parameter becomes an `ip` in the Cedar context).
    fn category(self) -> u8 {
        match self {
            Gen::ExactStr | Gen::Prefix | Gen::Glob => 0,
            Gen::ExactInt | Gen::Max | Gen::Min => 1,
            Gen::Cidr => 2,
        }
    }
}

/// One dimension of a binding.
#[derive(Clone, Debug)]
pub struct Dim {
    pub generator: Gen,
    /// The parameter as JSON pointer tokens (`["o", "p3"]` is `/o/p3`).
    pub param: Vec<String>,
    pub values: Vec<Value>,
}

impl Dim {
    pub fn new(generator: Gen, param: &str, values: Value) -> Dim {
        let param = param.trim_start_matches('/').split('/').map(str::to_string).collect();
        let Value::Array(values) = values else { panic!("dimension values are a list") };
        Dim { generator, param, values }
    }

    fn pointer(&self) -> String {
        self.param.iter().map(|t| format!("/{t}")).collect()
    }
}

/// One tool's scope rules with the values of one binding.
#[derive(Clone, Debug)]
pub struct Binding {
    pub dims: Vec<Dim>,
}

impl Binding {
    /// The tool definition: dimension `d<i>` on the parameter of `dims[i]`.
    pub fn tool(&self) -> ToolDef {
        let scope: Vec<Value> = self
            .dims
            .iter()
            .enumerate()
            .map(|(i, d)| json!({"dimension": format!("d{i}"), "param": d.pointer(), "match": d.generator.kind().name()}))
            .collect();
        serde_json::from_value(json!({"name": "t", "parameters": {"type": "object"}, "scope": scope}))
            .expect("a valid tool definition")
    }

    /// The binding's values. A dimension without values is left out every other time (both mean
    /// "nothing is allowed" in a binding).
    pub fn values(&self) -> BTreeMap<String, Value> {
        self.dims
            .iter()
            .enumerate()
            .filter(|(i, d)| !d.values.is_empty() || i % 2 == 0)
            .map(|(i, d)| (format!("d{i}"), Value::Array(d.values.clone())))
            .collect()
    }

    /// Our engine's compiled scope.
    pub fn scope(&self) -> Result<ToolScope, String> {
        ToolScope::compile(&self.tool(), &self.values(), Source::Binding)
    }

    /// The same rules as one Cedar policy.
    pub fn policy_text(&self) -> String {
        let conditions: Vec<String> = self.dims.iter().map(condition).collect();
        let body = if conditions.is_empty() { "true".to_string() } else { conditions.join("\n  && ") };
        format!("permit(principal, action, resource) when {{\n  {body}\n}};")
    }

    /// The Cedar side, ready to decide.
    pub fn cedar(&self) -> CedarScope {
        let text = self.policy_text();
        let policies: PolicySet = text.parse().unwrap_or_else(|e| panic!("Cedar rejects\n{text}\n{e:?}"));
        let uid = |s: &str| s.parse::<EntityUid>().expect("an entity uid");
        CedarScope {
            policies,
            ip_params: self.dims.iter().filter(|d| d.generator == Gen::Cidr).map(|d| d.param.clone()).collect(),
            principal: uid(r#"Bot::"b""#),
            action: uid(r#"Action::"call""#),
            resource: uid(r#"Tool::"t""#),
            entities: Entities::empty(),
            authorizer: Authorizer::new(),
        }
    }
}

/// A Cedar string literal.
pub fn cedar_str(s: &str) -> String {
    cedar_quoted(s, false)
}

/// A quoted Cedar string; `escape_stars` for the literal part of a `like` pattern.
fn cedar_quoted(s: &str, escape_stars: bool) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '*' if escape_stars => out.push_str("\\*"),
            c if c.is_control() => write!(out, "\\u{{{:x}}}", c as u32).unwrap(),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn cedar_value(v: &Value) -> String {
    match v {
        Value::String(s) => cedar_str(s),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => match n.as_i64() {
            // `-9223372036854775808` is the negation of a literal that does not fit.
            Some(i64::MIN) => "(-9223372036854775807 - 1)".to_string(),
            Some(i) => i.to_string(),
            None => panic!("{n} is not a Cedar integer"),
        },
        other => panic!("{other} has no Cedar literal"),
    }
}

fn condition(d: &Dim) -> String {
    if d.values.is_empty() {
        return "false".into();
    }
    let e: String =
        std::iter::once("context".to_string()).chain(d.param.iter().map(|t| format!("[{}]", cedar_str(t)))).collect();
    let any = |parts: Vec<String>| format!("({})", parts.join(" || "));
    match d.generator {
        Gen::ExactStr | Gen::ExactInt => {
            let literals: Vec<String> = d.values.iter().map(cedar_value).collect();
            let mut parts: Vec<String> = literals.iter().map(|l| format!("{e} == {l}")).collect();
            parts.push(format!("([{}].containsAll({e}) && !{e}.isEmpty())", literals.join(", ")));
            any(parts)
        }
        Gen::Prefix => any(d.values.iter().map(|v| format!("{e} like {}", like_prefix(v.as_str().unwrap()))).collect()),
        Gen::Glob => {
            any(d.values.iter().map(|v| format!("{e} like {}", cedar_quoted(v.as_str().unwrap(), false))).collect())
        }
        Gen::Max => format!("{e} <= {}", cedar_value(&d.values[0])),
        Gen::Min => format!("{e} >= {}", cedar_value(&d.values[0])),
        Gen::Cidr => any(d.values.iter().map(|v| format!("{e}.isInRange(ip({}))", text(v))).collect()),
    }
}

/// The `like` pattern of "starts with `p`": `p` with its `*`s escaped, then a wildcard.
fn like_prefix(p: &str) -> String {
    let quoted = cedar_quoted(p, true);
    format!("{}*\"", &quoted[..quoted.len() - 1])
}

/// A string value as a Cedar string literal.
fn text(v: &Value) -> String {
    cedar_str(v.as_str().expect("a string value"))
}

/// A binding's Cedar policy and what a request needs.
pub struct CedarScope {
    pub policies: PolicySet,
    ip_params: Vec<Vec<String>>,
    principal: EntityUid,
    action: EntityUid,
    resource: EntityUid,
    entities: Entities,
    authorizer: Authorizer,
}

impl CedarScope {
    /// The request for a call: its arguments become the context (a `cidr` parameter an `ip`).
    /// `None` when Cedar cannot represent them (a float, an invalid address), which denies.
    pub fn request(&self, arguments: &Value) -> Option<Request> {
        let Value::Object(map) = arguments else { return None };
        let mut path = Vec::new();
        let pairs = self.fields(map, &mut path)?;
        let context = Context::from_pairs(pairs).ok()?;
        Request::new(self.principal.clone(), self.action.clone(), self.resource.clone(), context, None).ok()
    }

    fn fields(&self, map: &Map<String, Value>, path: &mut Vec<String>) -> Option<Vec<(String, RestrictedExpression)>> {
        let mut out = Vec::with_capacity(map.len());
        for (k, v) in map {
            if v.is_null() {
                continue; // Cedar has no null: an absent attribute reads the same to a rule
            }
            path.push(k.clone());
            let e = self.expression(v, path);
            path.pop();
            out.push((k.clone(), e?));
        }
        Some(out)
    }

    fn expression(&self, v: &Value, path: &mut Vec<String>) -> Option<RestrictedExpression> {
        Some(match v {
            Value::String(s) if self.ip_params.contains(path) => RestrictedExpression::new_ip(s),
            Value::String(s) => RestrictedExpression::new_string(s.clone()),
            Value::Bool(b) => RestrictedExpression::new_bool(*b),
            Value::Number(n) => RestrictedExpression::new_long(n.as_i64()?),
            Value::Array(items) => RestrictedExpression::new_set(
                items.iter().map(|i| self.expression(i, path)).collect::<Option<Vec<_>>>()?,
            ),
            Value::Object(map) => RestrictedExpression::new_record(self.fields(map, path)?).ok()?,
            Value::Null => return None,
        })
    }

    /// Cedar's decision on a request built beforehand.
    pub fn allows(&self, request: &Request) -> bool {
        self.authorizer.is_authorized(request, &self.policies, &self.entities).decision() == Decision::Allow
    }

    /// Cedar's decision on a call, building the request from its arguments.
    pub fn decide(&self, arguments: &Value) -> bool {
        self.request(arguments).is_some_and(|r| self.allows(&r))
    }
}

// ---------------------------------------------------------------- random bindings and calls

/// Characters of random text: no `/`, `%`, `\`, control or non-ASCII characters, which our engine
/// refuses on purpose or where `glob` and Cedar's `like` differ. `*` is a wildcard in glob
/// patterns and an ordinary character everywhere else.
const TEXT: &str = "[a-cA-C0-2._*-]";
/// The same without `*`, to fill a glob pattern's wildcards.
const FILL: &str = "[a-cA-C0-2._-]";

/// Random text of up to `max` characters, never `..` (a `..` path segment is refused by `glob`
/// and `prefix`: see the hand-written cases of the test).
fn text_strategy(max: usize) -> BoxedStrategy<String> {
    string_regex(&format!("{TEXT}{{0,{max}}}")).unwrap().prop_map(|s| if s == ".." { "..a".into() } else { s }).boxed()
}

fn int_strategy() -> BoxedStrategy<i64> {
    prop_oneof![4 => -20i64..20, 2 => any::<i64>(), 1 => Just(i64::MAX), 1 => Just(i64::MIN), 1 => Just(0)].boxed()
}

fn ipv4(addr: u32) -> String {
    std::net::Ipv4Addr::from(addr).to_string()
}

fn dim_values(g: Gen) -> BoxedStrategy<Vec<Value>> {
    let list = |s: BoxedStrategy<Value>| vec(s, 1..4).boxed();
    match g {
        Gen::ExactStr => list(
            prop_oneof![8 => text_strategy(4).prop_map(Value::from), 1 => int_strategy().prop_map(Value::from), 1 => any::<bool>().prop_map(Value::from)]
                .boxed(),
        ),
        // Its text values are never decimal: the parameter may be shared with `max`/`min`, which
        // read decimal strings as numbers where Cedar's `<=` is a type error.
        Gen::ExactInt => list(
            prop_oneof![9 => int_strategy().prop_map(Value::from), 1 => string_regex("[a-d]{1,2}").unwrap().prop_map(Value::from)]
                .boxed(),
        ),
        Gen::Prefix => list(text_strategy(4).prop_map(Value::from).boxed()),
        Gen::Glob => list(text_strategy(6).prop_map(Value::from).boxed()),
        Gen::Max | Gen::Min => vec(int_strategy().prop_map(Value::from), 1..=1).boxed(),
        Gen::Cidr => list(
            prop_oneof![
                3 => (any::<u32>(), 0u8..=32).prop_map(|(a, len)| format!("{}/{len}", ipv4(a))),
                1 => any::<u32>().prop_map(ipv4),
            ]
            .prop_map(Value::from)
            .boxed(),
        ),
    }
}

fn generator() -> impl Strategy<Value = Gen> {
    prop_oneof![
        3 => Just(Gen::ExactStr),
        2 => Just(Gen::ExactInt),
        3 => Just(Gen::Prefix),
        4 => Just(Gen::Glob),
        2 => Just(Gen::Max),
        2 => Just(Gen::Min),
        3 => Just(Gen::Cidr),
    ]
}

/// A random binding of 1 to 5 dimensions; some share a parameter, some parameters are nested.
pub fn binding() -> impl Strategy<Value = Binding> {
    let dim = generator()
        .prop_flat_map(|g| (Just(g), dim_values(g), any::<bool>(), proptest::option::weighted(0.2, any::<Index>())));
    // One empty dimension in ~15 keeps the "nothing allowed" case without
    // making most bindings deny everything.
    let dim = (dim, 0..15u8).prop_map(|((g, values, nested, share), empty)| {
        (g, if empty == 0 { Vec::new() } else { values }, nested, share)
    });
    vec(dim, 1..=5).prop_map(|specs| {
        let mut dims: Vec<Dim> = Vec::with_capacity(specs.len());
        for (i, (g, values, nested, share)) in specs.into_iter().enumerate() {
            let shared = share
                .filter(|_| i > 0)
                .map(|idx| &dims[idx.index(i)])
                .filter(|other| other.generator.category() == g.category() && g.category() != 2);
            let param = match shared {
                Some(other) => other.param.clone(),
                None if nested => vec!["o".to_string(), format!("p{i}")],
                None => vec![format!("p{i}")],
            };
            dims.push(Dim { generator: g, param, values });
        }
        Binding { dims }
    })
}

/// Replaces each `*` of a glob pattern with up to 3 characters.
fn instantiate(pattern: String) -> BoxedStrategy<String> {
    let stars = pattern.matches('*').count();
    vec(string_regex(&format!("{FILL}{{0,3}}")).unwrap(), stars)
        .prop_map(move |fills| {
            let mut fills = fills.into_iter();
            let s: String = pattern
                .split('*')
                .enumerate()
                .flat_map(|(i, part)| [if i == 0 { String::new() } else { fills.next().unwrap() }, part.to_string()])
                .collect();
            if s == ".." { "..a".into() } else { s }
        })
        .boxed()
}

fn pick(values: &[Value]) -> Option<BoxedStrategy<Value>> {
    (!values.is_empty()).then(|| proptest::sample::select(values.to_vec()).boxed())
}

/// A value for a parameter checked by `d`: often one that `d` allows, or is close to.
fn value_for(d: &Dim, lists: bool) -> BoxedStrategy<Value> {
    let random_text = || text_strategy(6).prop_map(Value::from).boxed();
    let wrong = || prop_oneof![int_strategy().prop_map(Value::from), any::<bool>().prop_map(Value::from)].boxed();
    let one: BoxedStrategy<Value> = match d.generator {
        Gen::ExactStr | Gen::ExactInt => {
            let random =
                if d.generator == Gen::ExactStr { random_text() } else { int_strategy().prop_map(Value::from).boxed() };
            match pick(&d.values) {
                Some(p) => prop_oneof![5 => p, 1 => random].boxed(),
                None => random,
            }
        }
        Gen::Prefix => match pick(&d.values) {
            Some(p) => prop_oneof![
                6 => (p, text_strategy(3)).prop_map(|(p, rest)| {
                    let s = format!("{}{rest}", p.as_str().unwrap());
                    Value::from(if s == ".." { "..a".to_string() } else { s })
                }),
                1 => random_text(),
                1 => wrong(),
            ]
            .boxed(),
            None => random_text(),
        },
        Gen::Glob => match pick(&d.values) {
            Some(p) => prop_oneof![
                6 => p.prop_flat_map(|p| instantiate(p.as_str().unwrap().to_string())).prop_map(Value::from),
                1 => random_text(),
                1 => wrong(),
            ]
            .boxed(),
            None => random_text(),
        },
        Gen::Max | Gen::Min => {
            // Mostly on the allowed side of the limit, and often right at it.
            let sign = if d.generator == Gen::Max { -1 } else { 1 };
            let near = match d.values.first().and_then(Value::as_i64) {
                Some(limit) => prop_oneof![3 => 0i64..=2, 1 => -2i64..=-1]
                    .prop_map(move |delta| Value::from(limit.saturating_add(sign * delta)))
                    .boxed(),
                None => int_strategy().prop_map(Value::from).boxed(),
            };
            // Booleans only: our engine reads decimal strings as numbers, Cedar does not.
            prop_oneof![6 => near, 2 => int_strategy().prop_map(Value::from), 1 => any::<bool>().prop_map(Value::from)]
                .boxed()
        }
        Gen::Cidr => {
            let nets: Vec<(u32, u8)> = d
                .values
                .iter()
                .map(|v| {
                    let s = v.as_str().unwrap();
                    let (a, len) = s.split_once('/').unwrap_or((s, "32"));
                    (u32::from(a.parse::<std::net::Ipv4Addr>().unwrap()), len.parse().unwrap())
                })
                .collect();
            let inside = if nets.is_empty() {
                any::<u32>().prop_map(ipv4).boxed()
            } else {
                (proptest::sample::select(nets), any::<u32>(), 0u8..=32, proptest::bool::weighted(0.25))
                    .prop_map(|((a, len), r, sub, as_net)| {
                        let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
                        let addr = ipv4((a & mask) | (r & !mask));
                        // Sometimes a network rather than an address, of any length.
                        if as_net { format!("{addr}/{sub}") } else { addr }
                    })
                    .boxed()
            };
            prop_oneof![
                8 => inside.prop_map(Value::from),
                2 => any::<u32>().prop_map(|a| Value::from(ipv4(a))),
                1 => prop_oneof![Just(Value::from("not-an-ip")), Just(Value::from("10.0.0.256")), Just(Value::from(""))],
                1 => wrong(),
            ]
            .boxed()
        }
    };
    if lists { prop_oneof![3 => one.clone(), 1 => vec(one, 0..4).prop_map(Value::Array)].boxed() } else { one }
}

/// A random call for `b`: each parameter it checks, now and then missing.
pub fn call(b: &Binding) -> BoxedStrategy<Value> {
    let mut params: Vec<(Vec<String>, Vec<&Dim>)> = Vec::new();
    for d in &b.dims {
        match params.iter_mut().find(|(p, _)| *p == d.param) {
            Some((_, dims)) => dims.push(d),
            None => params.push((d.param.clone(), vec![d])),
        }
    }
    let mut paths = Vec::new();
    let mut strategies = Vec::new();
    for (path, dims) in params {
        // Lists only where every rule is `exact` (Cedar has no "every element matches" for `like`).
        let lists = dims.iter().all(|d| d.generator.kind() == MatchKind::Exact);
        let one = Union::new(dims.iter().map(|d| value_for(d, lists)));
        strategies.push(prop_oneof![1 => Just(None), 30 => one.prop_map(Some)].boxed());
        paths.push(path);
    }
    strategies
        .prop_map(move |values| {
            let mut args = Map::new();
            for (path, value) in paths.iter().zip(values) {
                let Some(value) = value else { continue };
                let (last, parents) = path.split_last().unwrap();
                let mut map = &mut args;
                for p in parents {
                    map = map.entry(p.clone()).or_insert_with(|| json!({})).as_object_mut().unwrap();
                }
                map.insert(last.clone(), value);
            }
            Value::Object(args)
        })
        .boxed()
}

/// A binding with `calls` random calls.
pub fn case(calls: std::ops::Range<usize>) -> impl Strategy<Value = (Binding, Vec<Value>)> {
    binding().prop_flat_map(move |b| {
        let calls = vec(call(&b), calls.clone());
        (Just(b), calls)
    })
}

/// What a batch of differential cases found.
#[derive(Debug, Default)]
pub struct Tally {
    pub decisions: u64,
    pub allowed: u64,
    pub disagreements: Vec<String>,
}

impl Tally {
    /// Decides every call of `b` both ways and records where the decisions differ.
    pub fn run(&mut self, b: &Binding, calls: &[Value]) {
        let cedar = b.cedar();
        let ours = match b.scope() {
            Ok(scope) => scope,
            Err(e) => {
                self.disagreements.push(format!("our engine does not compile {b:?}: {e}"));
                return;
            }
        };
        for c in calls {
            let mine = ours.check(c);
            let theirs = cedar.decide(c);
            self.decisions += 1;
            self.allowed += u64::from(theirs);
            if mine.is_ok() != theirs {
                self.disagreements.push(format!(
                    "call {c}\nours: {mine:?}\ncedar allows: {theirs}\npolicy:\n{}\nbinding: {b:?}",
                    b.policy_text()
                ));
            }
        }
    }
}
