//! Edits of a workflow's text, as the visual editor makes them: add, remove, connect, disconnect,
//! rename, set a field, copy and paste steps.
//!
//! The text is the document: each edit reads it, changes the one thing asked, and writes back only
//! the steps it changed (`edit_keep`): every other line keeps its text, comments and style, and a
//! text that was not edited is never rewritten. An edit of a text that is not a workflow-shaped
//! mapping is refused with the reason, and the text is left as it was.

use crate::edit_keep::write_over;
use serde_yaml::{Mapping, Value};
use std::collections::HashSet;

/// Why an edit was not made.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct EditError(pub String);

fn refuse<T>(why: impl Into<String>) -> Result<T, EditError> {
    Err(EditError(why.into()))
}

/// The step kinds the editor's palette adds, each with the fields a new step starts with.
pub const STEP_KINDS: &[&str] = &["tool", "llm", "approval", "delegate", "workflow"];

/// The text of a new, empty workflow called `name`.
pub fn new_workflow(name: &str) -> String {
    let mut root = Mapping::new();
    root.insert("name".into(), name.into());
    root.insert("steps".into(), Value::Sequence(Vec::new()));
    write(&root)
}

fn read(text: &str) -> Result<Mapping, EditError> {
    match serde_yaml::from_str::<Value>(text) {
        Ok(Value::Mapping(m)) => Ok(m),
        Ok(Value::Null) => Ok(Mapping::new()),
        Ok(_) => refuse("the workflow is not a mapping of fields: fix the YAML first"),
        Err(e) => refuse(format!("the YAML does not parse ({e}): fix it first")),
    }
}

fn write(root: &Mapping) -> String {
    serde_yaml::to_string(root).expect("a YAML value always serializes")
}

fn steps(root: &mut Mapping) -> Result<&mut Vec<Value>, EditError> {
    let steps = root.entry("steps".into()).or_insert_with(|| Value::Sequence(Vec::new()));
    if steps.is_null() {
        *steps = Value::Sequence(Vec::new());
    }
    match steps {
        Value::Sequence(s) => Ok(s),
        _ => refuse("`steps` is not a list: fix the YAML first"),
    }
}

fn id_of(step: &Value) -> Option<&str> {
    step.get("id")?.as_str()
}

fn ids(root: &mut Mapping) -> Result<HashSet<String>, EditError> {
    Ok(steps(root)?.iter().filter_map(id_of).map(str::to_string).collect())
}

fn find<'a>(steps: &'a mut [Value], id: &str) -> Result<&'a mut Mapping, EditError> {
    match steps.iter_mut().find(|s| id_of(s) == Some(id)) {
        Some(Value::Mapping(m)) => Ok(m),
        _ => refuse(format!("there is no step `{id}`")),
    }
}

/// `base` if no step has that id, else `base_2`, `base_3`, ….
fn fresh_id(taken: &HashSet<String>, base: &str) -> String {
    if !taken.contains(base) {
        return base.to_string();
    }
    (2..).map(|n| format!("{base}_{n}")).find(|id| !taken.contains(id)).expect("an unbounded range has a free id")
}

/// The `needs` of a step as ids (a single string is read as one).
fn needs_of(step: &Mapping) -> Vec<String> {
    match step.get("needs") {
        Some(Value::Sequence(s)) => s.iter().filter_map(Value::as_str).map(str::to_string).collect(),
        Some(Value::String(s)) => vec![s.clone()],
        _ => Vec::new(),
    }
}

fn set_needs(step: &mut Mapping, needs: Vec<String>) {
    if needs.is_empty() {
        step.remove("needs");
    } else {
        step.insert("needs".into(), Value::Sequence(needs.into_iter().map(Value::from).collect()));
    }
}

fn template(kind: &str) -> Result<Vec<(&'static str, Value)>, EditError> {
    let map = |pairs: &[(&str, &str)]| {
        Value::Mapping(pairs.iter().map(|(k, v)| (Value::from(*k), Value::from(*v))).collect())
    };
    Ok(match kind {
        "tool" => vec![("tool", "core.echo".into()), ("with", Value::Mapping(Mapping::new()))],
        "llm" => vec![("llm", map(&[("prompt", "")]))],
        "approval" => vec![("approval", map(&[("message", "Go ahead?")]))],
        "delegate" => vec![("delegate", map(&[("bot", ""), ("task", "")]))],
        "workflow" => vec![("workflow", "".into())],
        other => return refuse(format!("`{other}` is not a step kind (one of {})", STEP_KINDS.join(", "))),
    })
}

/// Adds a step of `kind` at the end, with a fresh id named after its kind; the text and the id.
pub fn add_step(text: &str, kind: &str) -> Result<(String, String), EditError> {
    let mut root = read(text)?;
    let fields = template(kind)?;
    let id = fresh_id(&ids(&mut root)?, kind);
    let mut step = Mapping::new();
    step.insert("id".into(), id.clone().into());
    for (k, v) in fields {
        step.insert(k.into(), v);
    }
    steps(&mut root)?.push(Value::Mapping(step));
    Ok((write_over(text, &root), id))
}

/// Removes the steps `ids`, and their ids from the other steps' `needs`.
pub fn remove_steps(text: &str, ids: &[String]) -> Result<String, EditError> {
    let mut root = read(text)?;
    let gone: HashSet<&str> = ids.iter().map(String::as_str).collect();
    let list = steps(&mut root)?;
    list.retain(|s| !id_of(s).is_some_and(|id| gone.contains(id)));
    for step in list.iter_mut() {
        if let Value::Mapping(m) = step
            && m.contains_key("needs")
        {
            let needs = needs_of(m).into_iter().filter(|n| !gone.contains(n.as_str())).collect();
            set_needs(m, needs);
        }
    }
    Ok(write_over(text, &root))
}

/// Whether `to` is reached from `from` by following `needs` backwards (dependants).
fn depends_on(list: &[Value], step: &str, on: &str) -> bool {
    let mut seen = HashSet::new();
    let mut todo = vec![step.to_string()];
    while let Some(id) = todo.pop() {
        if id == on {
            return true;
        }
        if !seen.insert(id.clone()) {
            continue;
        }
        if let Some(Value::Mapping(m)) = list.iter().find(|s| id_of(s) == Some(id.as_str())) {
            todo.extend(needs_of(m));
        }
    }
    false
}

/// Makes `to` need `from` (an edge from → to). A step cannot need itself, and an edge that would
/// close a cycle is refused.
pub fn connect(text: &str, from: &str, to: &str) -> Result<String, EditError> {
    if from == to {
        return refuse(format!("`{from}` cannot need itself"));
    }
    let mut root = read(text)?;
    let list = steps(&mut root)?;
    find(list, from)?;
    if depends_on(list, from, to) {
        return refuse(format!("`{from}` already runs after `{to}`: `{to}` needing it would make a cycle"));
    }
    let step = find(list, to)?;
    let mut needs = needs_of(step);
    if !needs.iter().any(|n| n == from) {
        needs.push(from.to_string());
    }
    set_needs(step, needs);
    Ok(write_over(text, &root))
}

/// Removes `from` from `to`'s `needs`.
pub fn disconnect(text: &str, from: &str, to: &str) -> Result<String, EditError> {
    let mut root = read(text)?;
    let step = find(steps(&mut root)?, to)?;
    let needs = needs_of(step).into_iter().filter(|n| n != from).collect();
    set_needs(step, needs);
    Ok(write_over(text, &root))
}

/// Gives step `from` the id `to`, in its own `id` and in every `needs` naming it. (Templates
/// that read `steps.<from>` are the user's text: validation points at them.)
pub fn rename_step(text: &str, from: &str, to: &str) -> Result<String, EditError> {
    if from == to {
        return Ok(text.to_string());
    }
    if to.is_empty() || !to.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        return refuse(format!("`{to}` is not a step id (letters, digits, - and _)"));
    }
    let mut root = read(text)?;
    if ids(&mut root)?.contains(to) {
        return refuse(format!("there is a step `{to}` already"));
    }
    let list = steps(&mut root)?;
    find(list, from)?.insert("id".into(), to.into());
    for step in list.iter_mut() {
        if let Value::Mapping(m) = step
            && m.contains_key("needs")
        {
            let needs = needs_of(m).into_iter().map(|n| if n == from { to.to_string() } else { n }).collect();
            set_needs(m, needs);
        }
    }
    Ok(write_over(text, &root))
}

/// Sets (or, with `None`, removes) the field at `path` inside step `id`, e.g. `["with", "url"]`
/// or `["approval", "message"]`; mappings on the way are made as needed. `value` is YAML text,
/// read as YAML (so `3` is a number and `[a, b]` a list).
pub fn set_field(text: &str, id: &str, path: &[&str], value: Option<&str>) -> Result<String, EditError> {
    let Some((last, parents)) = path.split_last() else { return refuse("no field named") };
    if *last == "id" {
        return match value {
            Some(v) => rename_step(text, id, v.trim()),
            None => refuse("a step keeps its id"),
        };
    }
    let value = match value {
        Some(v) => Some(serde_yaml::from_str::<Value>(v).map_err(|e| EditError(format!("`{v}` is not YAML: {e}")))?),
        None => None,
    };
    let mut root = read(text)?;
    let mut at = find(steps(&mut root)?, id)?;
    for key in parents {
        let next = at.entry((*key).into()).or_insert_with(|| Value::Mapping(Mapping::new()));
        if next.is_null() {
            *next = Value::Mapping(Mapping::new());
        }
        at = match next {
            Value::Mapping(m) => m,
            _ => return refuse(format!("`{key}` of step `{id}` is not a mapping")),
        };
    }
    match value {
        Some(v) => {
            at.insert((*last).into(), v);
        }
        None => {
            at.remove(*last);
        }
    }
    Ok(write_over(text, &root))
}

/// The field at `path` inside step `id` as the property panel shows it: a string as it is, any
/// other value as YAML; `None` when it is not set.
pub fn field_text(text: &str, id: &str, path: &[&str]) -> Option<String> {
    let mut root = read(text).ok()?;
    let step = find(steps(&mut root).ok()?, id).ok()?;
    let whole;
    let mut at = match path.split_first() {
        Some((first, _)) => step.get(*first)?,
        None => {
            whole = Value::Mapping(step.clone());
            &whole
        }
    };
    for key in path.iter().skip(1) {
        at = at.get(*key)?;
    }
    match at {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(serde_yaml::to_string(other).ok()?.trim_end().to_string()),
    }
}

/// A top-level string field of the workflow (`bot`, `name`), if set.
pub fn workflow_field(text: &str, key: &str) -> Option<String> {
    read(text).ok()?.get(key)?.as_str().map(str::to_string)
}

/// The steps `ids` as YAML (a list), for the clipboard.
pub fn copy_steps(text: &str, ids: &[String]) -> Result<String, EditError> {
    let mut root = read(text)?;
    let chosen: Vec<Value> =
        steps(&mut root)?.iter().filter(|s| id_of(s).is_some_and(|id| ids.iter().any(|i| i == id))).cloned().collect();
    if chosen.is_empty() {
        return refuse("no step is selected");
    }
    Ok(serde_yaml::to_string(&chosen).expect("a YAML value always serializes"))
}

/// Adds the steps of `clip` (as [`copy_steps`] wrote them) with fresh ids; a need on a pasted step
/// follows it to its copy, a need on a step of this workflow is kept, any other is dropped. The
/// text and the new ids.
pub fn paste_steps(text: &str, clip: &str) -> Result<(String, Vec<String>), EditError> {
    let pasted = match serde_yaml::from_str::<Value>(clip) {
        Ok(Value::Sequence(s)) if !s.is_empty() => s,
        _ => return refuse("the clipboard holds no steps"),
    };
    let mut root = read(text)?;
    let mut taken = ids(&mut root)?;
    let existing = taken.clone();
    let mut renamed = std::collections::HashMap::new();
    for step in &pasted {
        let Some(id) = id_of(step) else { return refuse("a pasted step has no id") };
        let new = fresh_id(&taken, id);
        taken.insert(new.clone());
        renamed.insert(id.to_string(), new);
    }
    let mut added = Vec::new();
    let list = steps(&mut root)?;
    for step in pasted {
        let Value::Mapping(mut m) = step else { return refuse("a pasted step is not a mapping") };
        let new = renamed[m.get("id").and_then(Value::as_str).unwrap_or_default()].clone();
        m.insert("id".into(), new.clone().into());
        let needs = needs_of(&m)
            .into_iter()
            .filter_map(|n| renamed.get(&n).cloned().or_else(|| existing.contains(&n).then_some(n)))
            .collect();
        set_needs(&mut m, needs);
        list.push(Value::Mapping(m));
        added.push(new);
    }
    Ok((write_over(text, &root), added))
}

/// A step as the canvas draws it, read from the text even when the step does not validate (so a
/// broken step still has its node, where its problems show).
#[derive(Clone, Debug, PartialEq)]
pub struct Outline {
    pub id: String,
    /// Its kind (`tool`, `llm`, …), or `step` when none or several kind fields are set.
    pub kind: &'static str,
    /// What it calls: the tool, the bot, the sub-workflow, or the gate's message.
    pub detail: String,
    pub needs: Vec<String>,
    /// `if`, `for_each`, `retry`, `on_error` when set.
    pub badges: Vec<&'static str>,
}

/// The steps of `text` in file order (index `i` is `steps[i]` of a diagnostic's path).
pub fn outline(text: &str) -> Result<Vec<Outline>, EditError> {
    let mut root = read(text)?;
    let list = steps(&mut root)?;
    let str_at = |v: &Value, path: &[&str]| {
        let mut at = v;
        for key in path {
            at = at.get(*key)?;
        }
        at.as_str().map(str::to_string)
    };
    Ok(list
        .iter()
        .enumerate()
        .map(|(i, step)| {
            let kinds: Vec<&'static str> =
                STEP_KINDS.iter().copied().filter(|k| step.get(*k).is_some_and(|v| !v.is_null())).collect();
            let kind = if kinds.len() == 1 { kinds[0] } else { "step" };
            let detail = match kind {
                "tool" => str_at(step, &["tool"]),
                "llm" => str_at(step, &["bot"]).map(|b| format!("bot {b}")).or(Some("model".into())),
                "approval" => str_at(step, &["approval", "message"]),
                "delegate" => str_at(step, &["delegate", "bot"]).map(|b| format!("to {b}")),
                "workflow" => str_at(step, &["workflow"]),
                _ => Some(if kinds.is_empty() { "no kind".into() } else { format!("kinds: {}", kinds.join(", ")) }),
            };
            let badges = ["if", "for_each", "retry", "on_error"]
                .into_iter()
                .filter(|b| step.get(*b).is_some_and(|v| !v.is_null() && v.as_str() != Some("fail")))
                .collect();
            Outline {
                id: id_of(step).map(str::to_string).unwrap_or_else(|| format!("steps[{i}]")),
                kind,
                detail: detail.unwrap_or_default(),
                needs: match step {
                    Value::Mapping(m) => needs_of(m),
                    _ => Vec::new(),
                },
                badges,
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load_workflow;

    const TWO: &str =
        "name: t\nsteps:\n  - id: a\n    tool: core.echo\n  - id: b\n    needs: [a]\n    tool: core.echo\n";

    fn needs(text: &str, id: &str) -> Vec<String> {
        let w = load_workflow(text).value.expect("a workflow");
        w.steps.iter().find(|s| s.id == id).expect("the step").needs.clone()
    }

    #[test]
    fn an_empty_canvas_becomes_two_branches_joined_by_a_gate_that_validates() {
        let text = new_workflow("built");
        let (text, a) = add_step(&text, "tool").unwrap();
        let (text, b) = add_step(&text, "tool").unwrap();
        let (text, gate) = add_step(&text, "approval").unwrap();
        assert_eq!((a.as_str(), b.as_str(), gate.as_str()), ("tool", "tool_2", "approval"));
        let text = connect(&text, &a, &gate).unwrap();
        let text = connect(&text, &b, &gate).unwrap();
        let loaded = load_workflow(&text);
        assert!(loaded.diagnostics.is_empty(), "{:?}\n{text}", loaded.diagnostics);
        assert_eq!(needs(&text, "approval"), ["tool", "tool_2"]);
    }

    #[test]
    fn a_cycle_or_a_self_need_is_refused_and_the_text_is_kept() {
        let err = connect(TWO, "b", "a").unwrap_err();
        assert!(err.0.contains("cycle"), "{err}");
        assert!(connect(TWO, "a", "a").is_err());
        assert!(connect(TWO, "a", "ghost").unwrap_err().0.contains("no step `ghost`"));
        // Connecting twice is one need.
        assert_eq!(needs(&connect(TWO, "a", "b").unwrap(), "b"), ["a"]);
    }

    #[test]
    fn removing_a_step_drops_it_from_the_needs_of_others() {
        let text = remove_steps(TWO, &["a".into()]).unwrap();
        let w = load_workflow(&text).value.unwrap();
        assert_eq!(w.steps.len(), 1);
        assert!(w.steps[0].needs.is_empty());
        assert!(!text.contains("needs"), "an empty needs is not written: {text}");
        assert_eq!(needs(&disconnect(TWO, "a", "b").unwrap(), "b"), Vec::<String>::new());
    }

    #[test]
    fn a_rename_follows_into_needs_and_refuses_a_taken_or_bad_id() {
        let text = rename_step(TWO, "a", "fetch").unwrap();
        assert_eq!(needs(&text, "b"), ["fetch"]);
        assert!(rename_step(TWO, "a", "b").unwrap_err().0.contains("already"));
        assert!(rename_step(TWO, "a", "x y").is_err());
        assert_eq!(needs(&set_field(TWO, "a", &["id"], Some("first")).unwrap(), "b"), ["first"]);
    }

    #[test]
    fn fields_are_set_as_yaml_and_removed_and_the_rest_keeps_its_meaning() {
        let text = "name: t\ndescription: keep me\nsteps:\n  - id: a\n    tool: core.echo\n    with: { n: 1, s: \"{{ inputs.x }}\" }\n    retry: { attempts: 3 }\n";
        let set = set_field(text, "a", &["with", "list"], Some("[1, two]")).unwrap();
        let w = load_workflow(&set).value.unwrap();
        let with = w.steps[0].with.clone().unwrap();
        assert_eq!(with["list"], serde_json::json!([1, "two"]));
        assert_eq!(with["n"], serde_json::json!(1));
        assert_eq!(with["s"], serde_json::json!("{{ inputs.x }}"));
        assert_eq!(w.description.as_deref(), Some("keep me"));
        assert_eq!(w.steps[0].retry.as_ref().unwrap().attempts, 3);
        let unset = set_field(&set, "a", &["retry"], None).unwrap();
        assert!(load_workflow(&unset).value.unwrap().steps[0].retry.is_none());
        let made = set_field(TWO, "a", &["approval", "message"], Some("ok?")).unwrap();
        assert!(made.contains("message: ok?"), "{made}");
        assert!(set_field(TWO, "a", &["tool", "x"], Some("1")).unwrap_err().0.contains("not a mapping"));
    }

    #[test]
    fn a_field_reads_back_as_the_panel_shows_it() {
        let text = "name: t\nsteps:\n  - id: a\n    tool: core.echo\n    with: { n: 1 }\n    timeout: 5s\n";
        assert_eq!(field_text(text, "a", &["tool"]).as_deref(), Some("core.echo"));
        assert_eq!(field_text(text, "a", &["with"]).as_deref(), Some("n: 1"));
        assert_eq!(field_text(text, "a", &["with", "n"]).as_deref(), Some("1"));
        assert_eq!(field_text(text, "a", &["retry"]), None);
        assert_eq!(field_text(text, "ghost", &["tool"]), None);
        assert_eq!(workflow_field(text, "name").as_deref(), Some("t"));
        assert_eq!(workflow_field(text, "bot"), None);
        // A string typed in the panel is sent quoted, so it stays a string.
        let set = set_field(text, "a", &["approval", "message"], Some("\"true\"")).unwrap();
        assert_eq!(field_text(&set, "a", &["approval", "message"]).as_deref(), Some("true"));
    }

    #[test]
    fn pasted_steps_get_fresh_ids_and_keep_needs_among_themselves() {
        let clip = copy_steps(TWO, &["a".into(), "b".into()]).unwrap();
        let (text, added) = paste_steps(TWO, &clip).unwrap();
        assert_eq!(added, ["a_2", "b_2"]);
        assert_eq!(needs(&text, "b_2"), ["a_2"]);
        let clip = copy_steps(TWO, &["b".into()]).unwrap();
        let (text, added) = paste_steps(TWO, &clip).unwrap();
        assert_eq!(needs(&text, &added[0]), ["a"], "a need on a step of the workflow is kept");
        let (text, _) = paste_steps(&new_workflow("other"), &clip).unwrap();
        assert!(needs(&text, "b").is_empty(), "a need on a step not here is dropped");
        assert!(paste_steps(TWO, "hello").is_err());
    }

    #[test]
    fn the_outline_has_every_step_even_one_that_does_not_validate() {
        let text = "name: t\nsteps:\n  - id: a\n    tool: core.echo\n    retry: { attempts: 2 }\n  - id: b\n    needs: [a]\n    tool: 3\n    approval: { message: hi }\n  - { id: c, needs: b, approval: { message: go? }, if: 'true' }\n";
        let steps = outline(text).unwrap();
        assert_eq!(steps.len(), 3);
        assert_eq!(
            (steps[0].kind, steps[0].detail.as_str(), steps[0].badges.clone()),
            ("tool", "core.echo", vec!["retry"])
        );
        assert_eq!((steps[1].kind, steps[1].needs.clone()), ("step", vec!["a".to_string()]));
        assert_eq!(
            (steps[2].kind, steps[2].detail.as_str(), steps[2].needs.clone()),
            ("approval", "go?", vec!["b".to_string()])
        );
        assert_eq!(steps[2].badges, ["if"]);
    }

    const COMMENTED: &str = "# ops: restart when unhealthy\nname: t\ndescription: keep me # as written\nsteps:\n  # look first\n  - { id: a, tool: core.echo, with: { n: 1 } }   # flow style\n\n  - id: b\n    needs: [a]\n    tool: core.echo\n    # the end\noutputs:\n  x: \"{{ steps.a.output }}\"\n";

    #[test]
    fn an_edit_keeps_every_line_it_did_not_change_comments_and_style_included() {
        // b's tool changes: only b's lines are written again; a, the comments and outputs stay.
        let set = set_field(COMMENTED, "b", &["tool"], Some("core.wait")).unwrap();
        assert!(set.starts_with("# ops: restart when unhealthy\nname: t\ndescription: keep me # as written\nsteps:\n  # look first\n  - { id: a, tool: core.echo, with: { n: 1 } }   # flow style\n\n"), "{set}");
        assert!(set.contains("  - id: b\n    needs:\n    - a\n    tool: core.wait\n"), "{set}");
        assert!(set.ends_with("    # the end\noutputs:\n  x: \"{{ steps.a.output }}\"\n"), "{set}");
        assert!(load_workflow(&set).diagnostics.is_empty(), "{set}");
        // A new step goes after the last one, before the file's next key.
        let (added, id) = add_step(COMMENTED, "approval").unwrap();
        let at = added.find(&format!("  - id: {id}")).expect("the new step");
        assert!(at > added.find("id: b").unwrap(), "{added}");
        assert!(at < added.find("outputs:").unwrap(), "{added}");
        assert!(added.contains("# look first") && added.contains("# flow style"), "{added}");
        assert!(load_workflow(&added).diagnostics.is_empty(), "{added}");
        // Removing a takes its line (and b's need on it); the rest stays.
        let removed = remove_steps(COMMENTED, &["a".into()]).unwrap();
        assert!(!removed.contains("id: a"), "{removed}");
        assert!(removed.contains("# ops: restart when unhealthy") && removed.contains("outputs:"), "{removed}");
        // Connecting writes only the step that needs.
        let joined = connect(COMMENTED, "a", "b").unwrap();
        assert_eq!(joined, COMMENTED, "b needs a already: nothing changes");
    }

    #[test]
    fn a_text_that_is_not_a_workflow_is_refused_and_never_rewritten() {
        for bad in ["steps: [", "- a\n- b\n", "name: t\nsteps: 3\n"] {
            assert!(add_step(bad, "tool").is_err(), "{bad}");
            assert!(remove_steps(bad, &[]).is_err(), "{bad}");
        }
        assert!(add_step(TWO, "teleport").unwrap_err().0.contains("not a step kind"));
    }
}
