//! Semantic checks of a workflow: ids, kinds, `needs`, cycles, templates and their references.

use crate::diagnostic::{Diagnostic, PathSeg};
use crate::path;
use crate::template::{expression_env, template_references};
use crate::workflow::{CORE_TOOLS, InputType, Step, StepKind, Workflow};
use petgraph::graph::DiGraph;
use serde_json::Value;
use std::collections::{HashMap, HashSet};

/// Checks `workflow` whose steps are `steps` (with their index in the file); `unreadable` holds
/// the ids of steps that failed to deserialize, so references to them are not reported twice.
pub(crate) fn validate_workflow(
    workflow: &Workflow,
    steps: &[(usize, Step)],
    unreadable: &HashSet<String>,
) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let mut ids: HashMap<&str, usize> = HashMap::new();
    for (i, step) in steps {
        if !valid_id(&step.id) {
            out.push(
                Diagnostic::new("E009", path!["steps", *i, "id"], format!("invalid step id `{}`", step.id))
                    .with_help("ids use letters, digits, `_` and `-`"),
            );
        }
        if ids.insert(&step.id, *i).is_some() {
            out.push(Diagnostic::new("E003", path!["steps", *i, "id"], format!("duplicate step id `{}`", step.id)));
        }
    }
    for (name, spec) in &workflow.inputs {
        if let (Some(kind), Some(default)) = (spec.kind, &spec.default)
            && !type_matches(kind, default)
        {
            out.push(Diagnostic::new(
                "E009",
                path!["inputs", name, "default"],
                format!("default of input `{name}` is not of type {}", type_name(kind)),
            ));
        }
    }
    if let Some(0) = workflow.max_parallel {
        out.push(Diagnostic::new("E009", path!["max_parallel"], "max_parallel must be at least 1"));
    }

    let known = |id: &str| ids.contains_key(id) || unreadable.contains(id);
    for (i, step) in steps {
        check_kind(*i, step, &mut out);
        for (n, need) in step.needs.iter().enumerate() {
            if !known(need) {
                let mut names: Vec<&str> = ids.keys().copied().filter(|k| *k != step.id).collect();
                names.sort();
                out.push(
                    Diagnostic::new(
                        "E004",
                        path!["steps", *i, "needs", n],
                        format!("step `{}` needs unknown step `{need}`", step.id),
                    )
                    .with_help(format!("known steps: {}", names.join(", "))),
                );
            }
        }
        if step.retry.as_ref().is_some_and(|r| r.attempts == 0) {
            out.push(Diagnostic::new(
                "E009",
                path!["steps", *i, "retry", "attempts"],
                "retry attempts must be at least 1",
            ));
        }
        if step.for_each.is_some() && step.approval.is_some() {
            out.push(Diagnostic::new("E009", path!["steps", *i, "for_each"], "an approval step cannot use for_each"));
        }
        if let Some(0) = step.max_parallel {
            out.push(Diagnostic::new("E009", path!["steps", *i, "max_parallel"], "max_parallel must be at least 1"));
        }
    }

    let cyclic = check_cycles(steps, &ids, &mut out);
    let by_id: HashMap<&str, &Step> = steps.iter().map(|(_, s)| (s.id.as_str(), s)).collect();
    let env = expression_env();
    for (i, step) in steps {
        let scope = Scope {
            workflow,
            steps: &ids,
            unreadable,
            order: (!cyclic).then_some((&by_id, step.id.as_str())),
            for_each: step.for_each.is_some(),
        };
        for (rel, text, expression) in step.templates() {
            let mut path = path!["steps", *i];
            path.extend(rel);
            check_text(&env, &scope, path, text, expression, &mut out);
        }
    }
    let scope = Scope { workflow, steps: &ids, unreadable, order: None, for_each: false };
    for (name, text) in &workflow.outputs {
        check_text(&env, &scope, path!["outputs", name], text, false, &mut out);
    }
    out
}

fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn check_kind(i: usize, step: &Step, out: &mut Vec<Diagnostic>) {
    let kinds = step.kind_names();
    match kinds.len() {
        0 => out.push(
            Diagnostic::new("E007", path!["steps", i], format!("step `{}` has no kind", step.id))
                .with_help("give exactly one of tool, llm, approval, delegate, workflow"),
        ),
        1 => {}
        _ => out.push(
            Diagnostic::new(
                "E007",
                path!["steps", i, kinds[1]],
                format!("step `{}` has {} kinds: {}", step.id, kinds.len(), kinds.join(", ")),
            )
            .with_help("a step does exactly one thing; split it into several steps"),
        ),
    }
    match step.kind() {
        Some(StepKind::Tool(tool)) => {
            if !tool.contains('.') || tool.starts_with('.') || tool.ends_with('.') {
                out.push(
                    Diagnostic::new(
                        "E010",
                        path!["steps", i, "tool"],
                        format!("tool `{tool}` is not of the form <instance>.<tool>"),
                    )
                    .with_help(format!("built-in tools: {}", CORE_TOOLS.join(", "))),
                );
            } else if tool.starts_with("core.") && !CORE_TOOLS.contains(&tool) {
                out.push(
                    Diagnostic::new("E010", path!["steps", i, "tool"], format!("unknown built-in tool `{tool}`"))
                        .with_help(format!("built-in tools: {}", CORE_TOOLS.join(", "))),
                );
            }
        }
        Some(StepKind::Workflow(file)) if file.trim().is_empty() => {
            out.push(Diagnostic::new("E010", path!["steps", i, "workflow"], "empty sub-workflow path"));
        }
        _ => {}
    }
    if step.with.is_some() && !matches!(step.kind(), Some(StepKind::Tool(_) | StepKind::Workflow(_)) | None) {
        out.push(Diagnostic::new("E009", path!["steps", i, "with"], "`with` belongs to tool and workflow steps"));
    }
}

/// Reports every cycle (naming its steps in order); returns whether there was one.
fn check_cycles(steps: &[(usize, Step)], ids: &HashMap<&str, usize>, out: &mut Vec<Diagnostic>) -> bool {
    let mut graph = DiGraph::<usize, ()>::new();
    let nodes: HashMap<&str, _> = steps.iter().map(|(i, s)| (s.id.as_str(), graph.add_node(*i))).collect();
    for (_, step) in steps {
        for need in &step.needs {
            if let (Some(&from), Some(&to)) = (nodes.get(need.as_str()), nodes.get(step.id.as_str())) {
                graph.add_edge(from, to, ());
            }
        }
    }
    let mut cyclic = false;
    // Kosaraju's walk is iterative: a 100,000-step chain must not overflow the stack.
    for scc in petgraph::algo::kosaraju_scc(&graph) {
        let self_loop = scc.len() == 1 && graph.contains_edge(scc[0], scc[0]);
        if scc.len() < 2 && !self_loop {
            continue;
        }
        cyclic = true;
        let in_cycle: HashSet<usize> = scc.iter().map(|n| graph[*n]).collect();
        // Walk the cycle from its first step in the file, following `needs` inside it.
        let first = *in_cycle.iter().min().expect("non-empty");
        let step_at = |i: usize| &steps.iter().find(|(j, _)| *j == i).expect("indexed").1;
        let mut order = vec![first];
        let mut current = first;
        loop {
            let next = step_at(current)
                .needs
                .iter()
                .filter_map(|n| ids.get(n.as_str()).copied())
                .find(|n| in_cycle.contains(n) && (!order.contains(n) || *n == first));
            match next {
                Some(n) if n == first => break,
                Some(n) => {
                    order.push(n);
                    current = n;
                }
                None => break,
            }
        }
        let mut names: Vec<&str> = order.iter().map(|i| step_at(*i).id.as_str()).collect();
        names.push(names[0]);
        out.push(
            Diagnostic::new("E005", path!["steps", first, "needs"], format!("cycle in needs: {}", names.join(" -> ")))
                .with_help("a workflow is a DAG: remove one of these needs"),
        );
    }
    cyclic
}

/// Whether `step` depends on `target` through `needs`, directly or not. Computed per
/// reference, so a 10,000-step chain without templates costs nothing here.
fn depends_on(steps_by_id: &HashMap<&str, &Step>, step: &str, target: &str) -> bool {
    let mut seen: HashSet<&str> = HashSet::new();
    let mut stack: Vec<&str> = vec![step];
    while let Some(current) = stack.pop() {
        let Some(s) = steps_by_id.get(current) else { continue };
        for need in &s.needs {
            if need == target {
                return true;
            }
            if seen.insert(need.as_str()) {
                stack.push(need.as_str());
            }
        }
    }
    false
}

/// What a template may read where it stands.
struct Scope<'a> {
    workflow: &'a Workflow,
    steps: &'a HashMap<&'a str, usize>,
    unreadable: &'a HashSet<String>,
    /// The steps and this step's id, to check that what it reads surely finished before it;
    /// `None` outside a step (outputs) or when the graph has a cycle.
    order: Option<(&'a HashMap<&'a str, &'a Step>, &'a str)>,
    for_each: bool,
}

fn check_text(
    env: &minijinja::Environment<'_>,
    scope: &Scope<'_>,
    path: Vec<PathSeg>,
    text: &str,
    expression: bool,
    out: &mut Vec<Diagnostic>,
) {
    let what = if expression { "expression" } else { "template" };
    let refs = match template_references(env, text, expression) {
        Ok(refs) => refs,
        Err(e) => {
            out.push(Diagnostic::new("E006", path, format!("bad {what}: {e}")));
            return;
        }
    };
    let mut refs: Vec<String> = refs.into_iter().collect();
    refs.sort();
    for r in refs {
        let mut parts = r.split('.');
        let root = parts.next().unwrap_or_default();
        let second = parts.next();
        let problem = match (root, second) {
            ("inputs", Some(name)) if !scope.workflow.inputs.contains_key(name) => {
                Some(format!("unknown input `{name}`"))
            }
            ("inputs", _) => None,
            ("steps", Some(id)) if !scope.steps.contains_key(id) && !scope.unreadable.contains(id) => {
                Some(format!("unknown step `{id}`"))
            }
            ("steps", Some(id)) => match scope.order {
                Some((by_id, me)) if scope.steps.contains_key(id) && !depends_on(by_id, me, id) => {
                    Some(format!("reads steps.{id} but does not need `{id}`, so it may not have run yet"))
                }
                _ => None,
            },
            ("steps", None) => None,
            ("item" | "index", _) if scope.for_each => None,
            ("item" | "index", _) => Some(format!("`{root}` exists only in a step with for_each")),
            (other, _) if env.globals().any(|(name, _)| name == other) => None,
            (other, _) => Some(format!("unknown variable `{other}`")),
        };
        if let Some(problem) = problem {
            out.push(
                Diagnostic::new("E008", path.clone(), format!("{what} {problem}"))
                    .with_help("templates read inputs.<name>, steps.<id>.output (and .status), item and index"),
            );
        }
    }
}

fn type_matches(kind: InputType, v: &Value) -> bool {
    match kind {
        InputType::String => v.is_string(),
        InputType::Integer => v.is_i64() || v.is_u64(),
        InputType::Number => v.is_number(),
        InputType::Boolean => v.is_boolean(),
        InputType::Array => v.is_array(),
        InputType::Object => v.is_object(),
    }
}

/// The name of a type as written in the file.
pub(crate) fn type_name(kind: InputType) -> &'static str {
    match kind {
        InputType::String => "string",
        InputType::Integer => "integer",
        InputType::Number => "number",
        InputType::Boolean => "boolean",
        InputType::Array => "array",
        InputType::Object => "object",
    }
}
