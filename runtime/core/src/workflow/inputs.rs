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
