//! A run's inputs: what was given, converted to the declared types, with defaults filled in.

use monstrum_model::{InputType, Workflow};
use serde_json::{Map, Value};

/// Checks and completes the inputs given to a run. `given` holds JSON values (from a parent
/// workflow) or strings (from `--input k=v`), which are converted to the declared type.
pub fn resolve_inputs(workflow: &Workflow, given: Map<String, Value>) -> Result<Value, String> {
    let mut out = Map::new();
    for name in given.keys() {
        if !workflow.inputs.contains_key(name) {
            let known: Vec<&str> = workflow.inputs.keys().map(String::as_str).collect();
            return Err(format!("unknown input `{name}` (the workflow declares: {})", known.join(", ")));
        }
    }
    for (name, spec) in &workflow.inputs {
        let value = match given.get(name) {
            Some(v) => convert(name, v.clone(), spec.kind)?,
            None => match &spec.default {
                Some(d) => d.clone(),
                None => return Err(format!("missing input `{name}`: give it with --input {name}=VALUE")),
            },
        };
        out.insert(name.clone(), value);
    }
    Ok(Value::Object(out))
}

fn convert(name: &str, value: Value, kind: Option<InputType>) -> Result<Value, String> {
    let bad = |want: &str, v: &Value| format!("input `{name}` must be {want}, got {v}");
    let Some(kind) = kind else { return Ok(value) };
    match (kind, value) {
        (InputType::String, Value::String(s)) => Ok(Value::String(s)),
        (InputType::String, v @ (Value::Number(_) | Value::Bool(_))) => Ok(Value::String(v.to_string())),
        (_, Value::String(s)) => {
            let parsed: Value = serde_json::from_str(&s).map_err(|_| bad(want(kind), &Value::String(s.clone())))?;
            convert(name, parsed, Some(kind)).map_err(|_| bad(want(kind), &Value::String(s)))
        }
        (InputType::Integer, v) if v.is_i64() || v.is_u64() => Ok(v),
        (InputType::Number, v) if v.is_number() => Ok(v),
        (InputType::Boolean, v) if v.is_boolean() => Ok(v),
        (InputType::Array, v) if v.is_array() => Ok(v),
        (InputType::Object, v) if v.is_object() => Ok(v),
        (kind, v) => Err(bad(want(kind), &v)),
    }
}

fn want(kind: InputType) -> &'static str {
    match kind {
        InputType::String => "a string",
        InputType::Integer => "an integer",
        InputType::Number => "a number",
        InputType::Boolean => "true or false",
        InputType::Array => "a list (JSON)",
        InputType::Object => "a mapping (JSON)",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn workflow() -> Workflow {
        monstrum_model::load_workflow(
            "name: w\ninputs:\n  n: { type: integer }\n  ok: { type: boolean, default: false }\n  tags: { type: array, default: [] }\n  name: { type: string, default: x }\nsteps: []\n",
        )
        .ok()
        .unwrap()
    }

    fn given(pairs: &[(&str, Value)]) -> Map<String, Value> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
    }

    #[test]
    fn command_line_strings_become_the_declared_types() {
        let got = resolve_inputs(
            &workflow(),
            given(&[("n", json!("42")), ("ok", json!("true")), ("tags", json!("[1, 2]")), ("name", json!("7"))]),
        )
        .unwrap();
        assert_eq!(got, json!({ "n": 42, "ok": true, "tags": [1, 2], "name": "7" }));
    }

    #[test]
    fn missing_unknown_and_mistyped_inputs_are_refused() {
        assert!(resolve_inputs(&workflow(), Map::new()).unwrap_err().contains("missing input `n`"));
        assert!(
            resolve_inputs(&workflow(), given(&[("n", json!(1)), ("x", json!(1))]))
                .unwrap_err()
                .contains("unknown input `x`")
        );
        assert!(resolve_inputs(&workflow(), given(&[("n", json!("1.5"))])).unwrap_err().contains("must be an integer"));
        assert!(
            resolve_inputs(&workflow(), given(&[("n", json!(1)), ("ok", json!("yes"))]))
                .unwrap_err()
                .contains("true or false")
        );
    }
}
