//! The scope engine: generic, declarative checks of a tool call's parameters.
//!
//! It knows no integration. A manifest says, per tool, which parameter (a JSON pointer) is
//! compared with which dimension and how (a [`MatchKind`]); a binding gives each dimension's
//! allowed values; a delegation may add narrower values. Everything is compiled once when the
//! binding loads, and a decision walks the compiled rules. Anything unexpected denies: a missing
//! parameter, a value of the wrong type, a dimension without values.

mod command;
mod glob;
mod matcher;
mod values;

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

/// String equality for short keys: lengths first, then the bytes in line (no call to `memcmp`).
#[inline]
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).all(|(x, y)| x == y)
}

#[derive(Debug)]
struct Rule {
    dimension: String,
    param: String,
    pointer: Pointer,
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
                matcher,
            });
        }
        Ok(ToolScope { rules })
    }

    /// Checks that `kind` accepts `values`, for validating a binding before it is used.
    pub fn check_values(kind: MatchKind, values: &[Value]) -> Result<(), String> {
        Matcher::compile(kind, values).map(drop)
    }

    /// Decides a call: every rule must allow its parameter.
    pub fn check<'a>(&'a self, arguments: &'a Value) -> Result<(), Denial<'a>> {
        for rule in &self.rules {
            let Some(value) = rule.pointer.get(arguments) else {
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

    #[test]
    fn pointers_reach_nested_values() {
        let p = Pointer::parse("/a/0/b~1c").unwrap();
        assert_eq!(p.get(&json!({"a": [{"b/c": 7}]})), Some(&json!(7)));
        assert_eq!(p.get(&json!({"a": {"0": {"b/c": 7}}})), Some(&json!(7)));
        assert_eq!(p.get(&json!({"a": []})), None);
        assert!(Pointer::parse("repo").is_err());
    }
}
