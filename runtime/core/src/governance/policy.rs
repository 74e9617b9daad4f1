//! A bot compiled against the catalog: every bound tool with its schema validator and its
//! compiled scope. Compiling is where a binding's mistakes are found; a bot that does not compile
//! gets no tools at all (fail closed).

use super::catalog::Catalog;
use super::scope::{Source, ToolScope, dimension_values};
use crate::llm::ToolSpec;
use jsonschema::Validator;
use monstrum_model::{Binding, Bot, Manifest, PathSeg, ScopeRule, Skill, valid_name};
use serde_json::Value;
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

/// One tool a bot is bound to.
pub struct BoundTool {
    /// `<instance>.<tool>`.
    pub name: String,
    /// The tool's name inside its plugin.
    pub tool: String,
    /// The plugin's manifest.
    pub manifest: Arc<Manifest>,
    /// The binding that grants it.
    pub binding: Arc<Binding>,
    /// What a model is shown.
    pub spec: Arc<ToolSpec>,
    pub(crate) validator: Validator,
    /// The binding's rules for it.
    pub scope: ToolScope,
    /// Narrower rules from enabled skills, by skill name.
    pub narrowing: Vec<(String, ToolScope)>,
    /// Pointers of secret arguments.
    pub redact: Vec<String>,
}

/// A bot's compiled permissions.
pub struct BotPolicy {
    /// The bot as its file says.
    pub bot: Arc<Bot>,
    /// Its enabled skills.
    pub skills: Vec<Skill>,
    /// Bound tools by `<instance>.<tool>`.
    pub tools: BTreeMap<String, Arc<BoundTool>>,
    /// Everything it may be offered when nothing narrows, sorted (filled by the gate once).
    pub(crate) offered: std::sync::OnceLock<Vec<Arc<ToolSpec>>>,
}

/// A mistake in a bot's bindings, at a path in the bot file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindingProblem {
    pub path: Vec<PathSeg>,
    pub message: String,
}

impl std::fmt::Display for BindingProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let path = monstrum_model::Diagnostic::new("E015", self.path.clone(), "").path_string();
        write!(f, "{path}: {}", self.message)
    }
}

/// Instance names no binding may take: the built-in tool families.
pub const RESERVED_INSTANCES: &[&str] = &["core", "memory"];

/// Compiles `bot` against `catalog` with its enabled `skills`; every problem is reported.
///
/// Enabled skills narrow: when any of them lists `tools`, the bot's plugin tools are limited to
/// those the skills list, and a skill's `scope` narrows the binding's like a delegation would.
pub fn compile_bot(bot: &Bot, catalog: &Catalog, skills: &[Skill]) -> Result<BotPolicy, Vec<BindingProblem>> {
    let mut problems = Vec::new();
    let mut tools = BTreeMap::new();
    let mut instances = HashSet::new();
    for (i, binding) in bot.resources.iter().enumerate() {
        let at = |rest: &[PathSeg]| {
            let mut p = vec![PathSeg::Key("resources".into()), PathSeg::Index(i)];
            p.extend_from_slice(rest);
            p
        };
        let key = |k: &str| PathSeg::Key(k.to_string());
        let mut problem = |path: Vec<PathSeg>, message: String| problems.push(BindingProblem { path, message });
        let server = binding.tool_server();
        let manifest = if let Some(channel) = &binding.channel {
            if server.is_some() || !binding.plugin.is_empty() {
                let why = "a binding names `plugin:`, `mcp:`, `agent:` or `channel:`, one of them";
                problem(at(&[key("channel")]), why.into());
                continue;
            }
            match catalog.channel(channel) {
                Some(m) => m,
                None => {
                    problem(at(&[key("channel")]), format!("unknown channel `{channel}` (no channels/{channel}.yaml)"));
                    continue;
                }
            }
        } else {
            match (&server, binding.plugin.is_empty()) {
                (Some(_), true) if binding.mcp.is_some() && binding.agent.is_some() => {
                    problem(at(&[key("agent")]), "a binding names `mcp:` or `agent:`, not both".into());
                    continue;
                }
                (Some(server), true) => match catalog.mcp_server(server) {
                    None => {
                        let (what, hint) = match &binding.agent {
                            Some(agent) => (
                                format!("agent `{agent}`"),
                                "create its key with `monstrum agent-key create` and connect it",
                            ),
                            None => (format!("MCP server `{server}`"), "register it with `monstrum mcp add`"),
                        };
                        let field = if binding.agent.is_some() { "agent" } else { "mcp" };
                        problem(at(&[key(field)]), format!("unknown {what} ({hint})"));
                        continue;
                    }
                    Some(m) => match with_rules(&m, binding) {
                        Ok(m) => Arc::new(m),
                        Err((j, message)) => {
                            problem(at(&[key("rules"), PathSeg::Index(j)]), message);
                            continue;
                        }
                    },
                },
                (None, false) => {
                    if !binding.rules.is_empty() {
                        let why = "`rules:` are for MCP and agent bindings; a plugin's manifest declares its own";
                        problem(at(&[key("rules")]), why.into());
                    }
                    let Some(manifest) = catalog.manifest(&binding.plugin) else {
                        problem(at(&[key("plugin")]), format!("unknown plugin `{}`", binding.plugin));
                        continue;
                    };
                    manifest.clone()
                }
                (Some(_), false) => {
                    problem(at(&[key("plugin")]), "a binding names `plugin:`, `mcp:` or `agent:`, one of them".into());
                    continue;
                }
                (None, true) => {
                    problem(
                        at(&[]),
                        "a binding names a `plugin:`, an `mcp:` server, an `agent:` or a `channel:`".into(),
                    );
                    continue;
                }
            }
        };
        let manifest = &manifest;
        let source = match (&binding.mcp, &binding.agent, &binding.channel) {
            (Some(server), _, _) => format!("MCP server `{server}`"),
            (None, Some(agent), _) => format!("agent `{agent}`"),
            (None, None, Some(channel)) => format!("channel `{channel}`"),
            (None, None, None) => format!("plugin `{}`", manifest.name),
        };
        let instance = binding.instance_name();
        if !valid_name(instance) || RESERVED_INSTANCES.contains(&instance) {
            problem(at(&[key("instance")]), format!("`{instance}` cannot be an instance name"));
        }
        if !instances.insert(instance.to_string()) {
            problem(at(&[key("instance")]), format!("two bindings use the instance name `{instance}`"));
        }
        for (dimension, values) in &binding.scope {
            match manifest.dimensions.get(dimension) {
                None => {
                    problem(at(&[key("scope"), key(dimension)]), format!("{source} has no dimension `{dimension}`"))
                }
                Some(spec) => {
                    for (j, bad) in misspelled(spec, values) {
                        problem(at(&[key("scope"), key(dimension), PathSeg::Index(j)]), bad);
                    }
                }
            }
        }
        for field in binding.config.keys() {
            if !manifest.config.contains_key(field) {
                problem(
                    at(&[key("config"), key(field)]),
                    format!("plugin `{}` has no config `{field}`", manifest.name),
                );
            }
        }
        for (field, spec) in &manifest.config {
            if spec.default.is_none() && !binding.config.contains_key(field) {
                problem(at(&[key("config")]), format!("config `{field}` is required by plugin `{}`", manifest.name));
            }
        }
        check_credentials(binding, manifest, &mut |path, m| problem(at(&path), m));
        let binding_arc = Arc::new(binding.clone());
        for (j, tool_name) in binding.tools.iter().enumerate() {
            let tool_at = at(&[key("tools"), PathSeg::Index(j)]);
            let Some(def) = manifest.tool(tool_name) else {
                let approved = if server.is_some() { "approved " } else { "" };
                problem(tool_at, format!("{source} has no {approved}tool `{tool_name}`"));
                continue;
            };
            let values_ok = def.scope.iter().all(|rule| {
                let values = dimension_values(binding.scope.get(&rule.dimension));
                match ToolScope::check_values(rule.kind, values) {
                    Ok(()) => true,
                    Err(e) => {
                        let path = at(&[key("scope"), key(&rule.dimension)]);
                        problem(path, format!("for {tool_name} ({}): {e}", rule.kind.name()));
                        false
                    }
                }
            });
            if !values_ok {
                continue;
            }
            let scope = match ToolScope::compile(def, &binding.scope, Source::Binding) {
                Ok(s) => s,
                Err(e) => {
                    problem(tool_at, e);
                    continue;
                }
            };
            let mut narrowing = Vec::new();
            for skill in skills.iter().filter(|s| !s.scope.is_empty()) {
                match ToolScope::compile(def, &skill.scope, Source::Constraint) {
                    Ok(s) if !s.is_empty() => narrowing.push((skill.name.clone(), s)),
                    Ok(_) => {}
                    Err(e) => problem(at(&[]), format!("skill `{}`: {e}", skill.name)),
                }
            }
            let validator = match jsonschema::validator_for(&def.parameters) {
                Ok(v) => v,
                Err(e) => {
                    problem(tool_at, format!("the manifest's schema for `{tool_name}` is invalid: {e}"));
                    continue;
                }
            };
            let name = format!("{instance}.{tool_name}");
            let spec = Arc::new(ToolSpec {
                name: name.clone(),
                description: def.description.clone(),
                parameters: def.parameters.clone(),
            });
            tools.insert(
                name.clone(),
                Arc::new(BoundTool {
                    name,
                    tool: tool_name.clone(),
                    manifest: manifest.clone(),
                    binding: binding_arc.clone(),
                    spec,
                    validator,
                    scope,
                    narrowing,
                    redact: def.redact.clone(),
                }),
            );
        }
    }
    let listed: Vec<&String> = skills.iter().flat_map(|s| s.needed_tools()).collect();
    if !listed.is_empty() {
        tools.retain(|name, _| listed.contains(&name));
    }
    if problems.is_empty() {
        Ok(BotPolicy { bot: Arc::new(bot.clone()), skills: skills.to_vec(), tools, offered: Default::default() })
    } else {
        Err(problems)
    }
}

/// An MCP server's approved tools with the rules `binding` declares for them: each rule's
/// dimension becomes one of the manifest's, and the rule one of its tool's. A rule for a tool the
/// server does not have (approved) or the binding does not list is a mistake, at its index.
fn with_rules(server: &Manifest, binding: &Binding) -> Result<Manifest, (usize, String)> {
    let mut manifest = server.clone();
    for (j, rule) in binding.rules.iter().enumerate() {
        if !binding.tools.contains(&rule.tool) {
            return Err((j, format!("a rule for `{}`, which `tools:` does not list", rule.tool)));
        }
        let Some(tool) = manifest.tools.iter_mut().find(|t| t.name == rule.tool) else {
            return Err((j, format!("MCP server `{}` has no approved tool `{}`", server.name, rule.tool)));
        };
        if !rule.param.starts_with('/') {
            return Err((j, format!("`param` is a JSON pointer such as `/{}`", rule.param)));
        }
        tool.scope.push(ScopeRule { dimension: rule.dimension.clone(), param: rule.param.clone(), kind: rule.kind });
        manifest.dimensions.entry(rule.dimension.clone()).or_default();
    }
    Ok(manifest)
}

/// The values of a dimension that do not match its manifest `pattern`, with why (a checksummed
/// address where lowercase hex is asked for would otherwise match nothing, silently).
fn misspelled(spec: &monstrum_model::DimensionSpec, values: &Value) -> Vec<(usize, String)> {
    let Some(pattern) = &spec.pattern else { return Vec::new() };
    let Ok(re) = regex::Regex::new(&format!("^(?:{pattern})$")) else {
        return vec![(0, format!("the manifest's pattern `{pattern}` is not a valid regular expression"))];
    };
    let list = match values {
        Value::Array(items) => items.iter().collect(),
        one => vec![one],
    };
    list.into_iter()
        .enumerate()
        .filter_map(|(j, v)| {
            let text = v.as_str()?;
            (!re.is_match(text)).then(|| {
                let meaning = spec.description.as_deref().map(|d| format!(" ({d})")).unwrap_or_default();
                (j, format!("`{text}` does not match `{pattern}`{meaning}"))
            })
        })
        .collect()
}

fn check_credentials(binding: &Binding, manifest: &Manifest, problem: &mut dyn FnMut(Vec<PathSeg>, String)) {
    let key = |k: &str| PathSeg::Key(k.to_string());
    if binding.credential.is_some() && manifest.credentials.len() != 1 {
        problem(
            vec![key("credential")],
            format!(
                "plugin `{}` has {} credential fields; name each under `credentials:`",
                manifest.name,
                manifest.credentials.len()
            ),
        );
    }
    for field in binding.credentials.keys() {
        if !manifest.credentials.contains_key(field) {
            problem(
                vec![key("credentials"), key(field)],
                format!("plugin `{}` has no credential `{field}`", manifest.name),
            );
        }
    }
}

impl BoundTool {
    /// Checks arguments against the tool's JSON Schema.
    pub fn validate(&self, arguments: &Value) -> Result<(), String> {
        schema_problems(&self.validator, arguments)
    }

    /// The vault entry for each credential field of this binding.
    pub fn credentials(&self) -> BTreeMap<String, String> {
        let mut out = self.binding.credentials.clone();
        if let (Some(entry), Some(field)) = (&self.binding.credential, self.manifest.credentials.keys().next()) {
            out.entry(field.clone()).or_insert_with(|| entry.clone());
        }
        out
    }
}

/// Every schema problem of `value`, joined; `Ok` when there is none.
pub(crate) fn schema_problems(validator: &Validator, value: &Value) -> Result<(), String> {
    let problems: Vec<String> = validator
        .iter_errors(value)
        .map(|e| {
            let at = e.instance_path().to_string();
            if at.is_empty() { e.to_string() } else { format!("{at}: {e}") }
        })
        .collect();
    if problems.is_empty() { Ok(()) } else { Err(problems.join("; ")) }
}
