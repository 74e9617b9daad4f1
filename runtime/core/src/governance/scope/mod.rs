//! The scope engine: generic, declarative checks of a tool call's parameters.
//!
//! It knows no integration. A manifest says, per tool, which parameter (a JSON pointer) is
//! compared with which dimension and how (a [`MatchKind`]); a binding gives each dimension's
//! allowed values; a delegation may add narrower values. Everything is compiled once when the
//! binding loads, and a decision walks the compiled rules. Anything unexpected denies: a missing
//! parameter, a value of the wrong type, a dimension without values.

mod cidr;
mod command;
mod glob;
mod lookup;
mod matcher;
mod values;

use lookup::{Lookup, same};
use matcher::{Matcher, Why};
use monstrum_model::{MatchKind, ToolDef};
use serde_json::Value;
use std::collections::BTreeMap;

/// A JSON pointer split into its tokens once.
#[derive(Debug, Clone)]
struct Pointer(Vec<String>);

impl Pointer {
    fn parse(text: &str) -> Result<Pointer, String> {
        let rest = text.strip_prefix('/').ok_or_else(|| format!("`{text}` is not a JSON pointer"))?;
        Ok(Pointer(rest.split('/').map(|t| t.replace("~1", "/").replace("~0", "~")).collect()))
    }

    fn get<'v>(&self, mut v: &'v Value) -> Option<&'v Value> {
        for token in &self.0 {
            v = match v {
                // Argument objects are small: a scan beats hashing the key.
                Value::Object(map) if map.len() <= 16 => map.iter().find(|(k, _)| same(k, token)).map(|(_, v)| v)?,
                Value::Object(map) => map.get(token)?,
                Value::Array(items) => items.get(token.parse::<usize>().ok()?)?,
                _ => return None,
            };
        }
        Some(v)
    }
}

#[derive(Debug)]
struct Rule {
    dimension: String,
    param: String,
    pointer: Pointer,
    /// Where [`Lookup::gather`] puts the parameter, for a top-level one.
    slot: Option<usize>,
    matcher: Matcher,
}

/// Why the scope engine denied a call: which rule, which value, why. Cheap to make; its text is
/// made only when it is displayed.
#[derive(Debug)]
pub struct Denial<'a> {
    rule: &'a Rule,
    /// The refused value; `None` when the parameter is missing.
    value: Option<&'a Value>,
    why: Why,
}

impl Denial<'_> {
    /// The dimension whose rule denied.
    pub fn dimension(&self) -> &str {
        &self.rule.dimension
    }

    /// The parameter it checked.
    pub fn param(&self) -> &str {
        &self.rule.param
    }

    /// Why, in words.
    pub fn reason(&self) -> String {
        match self.value {
            None => "the parameter is missing".into(),
            Some(value) => self.rule.matcher.explain(value, &self.why),
        }
    }
}

impl std::fmt::Display for Denial<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "scope `{}` ({}): {}", self.rule.dimension, self.rule.param, self.reason())
    }
}

/// Where values come from, which decides what an absent dimension means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A binding: a dimension it does not list allows nothing.
    Binding,
    /// A delegation constraint: a dimension it does not list is not narrowed further.
    Constraint,
}

/// The compiled rules of one tool under one set of values.
#[derive(Debug, Default)]
pub struct ToolScope {
    rules: Vec<Rule>,
    /// Finds the top-level parameters in one pass; `None` when they are looked up one by one.
    lookup: Option<Lookup>,
}

/// The values of a dimension: a list, one value, or none.
pub fn dimension_values(v: Option<&Value>) -> &[Value] {
    match v {
        Some(Value::Array(items)) => items,
        Some(Value::Null) | None => &[],
        Some(one) => std::slice::from_ref(one),
    }
}

impl ToolScope {
    /// Compiles `tool`'s rules against `values` (dimension → allowed values).
    pub fn compile(tool: &ToolDef, values: &BTreeMap<String, Value>, source: Source) -> Result<ToolScope, String> {
        let mut rules = Vec::with_capacity(tool.scope.len());
        for rule in &tool.scope {
            let given = values.get(&rule.dimension);
            if source == Source::Constraint && given.is_none() {
                continue;
            }
            let matcher = Matcher::compile(rule.kind, dimension_values(given))
                .map_err(|e| format!("dimension `{}` ({}): {e}", rule.dimension, rule.kind.name()))?;
            rules.push(Rule {
                dimension: rule.dimension.clone(),
                param: rule.param.clone(),
                pointer: Pointer::parse(&rule.param)?,
                slot: None,
                matcher,
            });
        }
        let mut keys: Vec<String> = Vec::new();
        for rule in &rules {
            if let [key] = rule.pointer.0.as_slice()
                && !keys.contains(key)
            {
                keys.push(key.clone());
            }
        }
        let lookup = Lookup::new(keys);
        if let Some(lookup) = &lookup {
            for rule in &mut rules {
                if let [key] = rule.pointer.0.as_slice() {
                    rule.slot = lookup.slot(key);
                }
            }
        }
        Ok(ToolScope { rules, lookup })
    }

    /// Checks that `kind` accepts `values`, for validating a binding before it is used.
    pub fn check_values(kind: MatchKind, values: &[Value]) -> Result<(), String> {
        Matcher::compile(kind, values).map(drop)
    }

    /// Decides a call: every rule must allow its parameter.
    pub fn check<'a>(&'a self, arguments: &'a Value) -> Result<(), Denial<'a>> {
        let found = match (&self.lookup, arguments) {
            (Some(lookup), Value::Object(map)) => lookup.gather(map),
            _ => None,
        };
        for rule in &self.rules {
            let value = match (rule.slot, &found) {
                (Some(slot), Some(found)) => found[slot],
                _ => rule.pointer.get(arguments),
            };
            let Some(value) = value else {
                return Err(Denial { rule, value: None, why: Why::NoMatch });
            };
            rule.matcher.check(value).map_err(|(value, why)| Denial { rule, value: Some(value), why })?;
        }
        Ok(())
    }

    /// The dimensions this scope checks, for the audit trail.
    pub fn dimensions(&self) -> impl Iterator<Item = &str> {
        self.rules.iter().map(|r| r.dimension.as_str())
    }

    /// How many rules it has.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// Whether it checks nothing.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The rules as (dimension, param, kind-independent description), for inspection.
    pub fn describe(&self) -> Vec<(String, String, String)> {
        self.rules.iter().map(|r| (r.dimension.clone(), r.param.clone(), r.matcher.describe())).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tool() -> ToolDef {
        serde_yaml::from_str(
            r#"
name: exec
parameters: { type: object }
scope:
  - { dimension: hosts, param: /host, match: glob }
  - { dimension: commands, param: /command, match: command }
"#,
        )
        .unwrap()
    }

    fn values(v: Value) -> BTreeMap<String, Value> {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn every_rule_must_allow() {
        let scope = ToolScope::compile(
            &tool(),
            &values(json!({"hosts": ["web-*.internal"], "commands": ["tail -n * /var/log/*"]})),
            Source::Binding,
        )
        .unwrap();
        assert!(scope.check(&json!({"host": "web-1.internal", "command": "tail -n 5 /var/log/app.log"})).is_ok());
        let call = json!({"host": "db-1.internal", "command": "tail -n 5 /var/log/app.log"});
        let d = scope.check(&call).unwrap_err();
        assert_eq!(d.dimension(), "hosts");
        assert_eq!(d.param(), "/host");
        assert!(d.to_string().contains("\"db-1.internal\" matches none of [\"web-*.internal\"]"), "{d}");
        let call = json!({"host": "web-1.internal", "command": "tail -n 5 /var/log/app.log; rm -rf /"});
        let d = scope.check(&call).unwrap_err();
        assert_eq!(d.dimension(), "commands");
        let call = json!({"host": "web-1.internal"});
        let d = scope.check(&call).unwrap_err();
        assert_eq!(d.reason(), "the parameter is missing");
        assert!(scope.check(&json!({"host": ["web-1.internal"], "command": 5})).is_err(), "wrong type denies");
    }

    #[test]
    fn a_binding_without_a_dimension_allows_nothing_a_constraint_without_one_does_not_narrow() {
        let only_hosts = values(json!({"hosts": ["web-*.internal"]}));
        let binding = ToolScope::compile(&tool(), &only_hosts, Source::Binding).unwrap();
        let call = json!({"host": "web-1.internal", "command": "ls"});
        assert_eq!(binding.check(&call).unwrap_err().dimension(), "commands");
        let constraint = ToolScope::compile(&tool(), &only_hosts, Source::Constraint).unwrap();
        assert!(constraint.check(&call).is_ok());
        assert_eq!(constraint.len(), 1);
    }

    /// The one-pass lookup decides every call as looking each pointer up does: top-level and
    /// nested parameters, two dimensions on one parameter, missing ones, arguments that are not
    /// an object.
    #[test]
    fn the_one_pass_lookup_agrees_with_the_pointers() {
        let tool: ToolDef = serde_yaml::from_str(
            r#"
name: t
parameters: { type: object }
scope:
  - { dimension: repos, param: /repo, match: glob }
  - { dimension: owners, param: /meta/owner, match: exact }
  - { dimension: limit, param: /n, match: max }
  - { dimension: floor, param: /n, match: min }
  - { dimension: first, param: /list/0, match: exact }
"#,
        )
        .unwrap();
        let values = values(json!({"repos": ["acme/*"], "owners": ["ann"], "limit": 10, "floor": 2, "first": ["x"]}));
        let fast = ToolScope::compile(&tool, &values, Source::Binding).unwrap();
        assert!(fast.lookup.is_some(), "the top-level keys get a lookup");
        let mut slow = ToolScope::compile(&tool, &values, Source::Binding).unwrap();
        slow.lookup = None;
        let calls = [
            json!({"repo": "acme/site", "meta": {"owner": "ann"}, "n": 5, "list": ["x"]}),
            json!({"list": ["x"], "n": 5, "meta": {"owner": "ann"}, "repo": "acme/site", "other": 1}),
            json!({"repo": "acme/site", "meta": {"owner": "bob"}, "n": 5, "list": ["x"]}),
            json!({"repo": "acme/site", "meta": {"owner": "ann"}, "n": 11, "list": ["x"]}),
            json!({"repo": "acme/site", "meta": {"owner": "ann"}, "n": 1, "list": ["x"]}),
            json!({"repo": "other/site", "meta": {"owner": "ann"}, "n": 5, "list": ["x"]}),
            json!({"meta": {"owner": "ann"}, "n": 5, "list": ["x"]}),
            json!({"repo": "acme/site", "meta": {"owner": "ann"}, "list": ["x"]}),
            json!({"repo": "acme/site", "meta": {"owner": "ann"}, "n": 5, "list": []}),
            json!({"Repo": "acme/site", "meta": {"owner": "ann"}, "n": 5, "list": ["x"]}),
            json!(["acme/site"]),
            json!("acme/site"),
            json!(null),
        ];
        for call in &calls {
            let (a, b) = (fast.check(call), slow.check(call));
            assert_eq!(a.is_ok(), b.is_ok(), "{call}");
            if let (Err(a), Err(b)) = (a, b) {
                assert_eq!((a.dimension(), a.reason()), (b.dimension(), b.reason()), "{call}");
            }
        }
        assert!(fast.check(&calls[0]).is_ok() && fast.check(&calls[1]).is_ok());
        assert_eq!(fast.check(&calls[6]).unwrap_err().reason(), "the parameter is missing");
    }

    #[test]
    fn pointers_reach_nested_values() {
        let p = Pointer::parse("/a/0/b~1c").unwrap();
        assert_eq!(p.get(&json!({"a": [{"b/c": 7}]})), Some(&json!(7)));
        assert_eq!(p.get(&json!({"a": {"0": {"b/c": 7}}})), Some(&json!(7)));
        assert_eq!(p.get(&json!({"a": []})), None);
        assert!(Pointer::parse("repo").is_err());
    }
}
