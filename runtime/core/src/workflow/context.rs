//! Rendering `{{ }}` templates and evaluating `if` / `for_each` expressions with MiniJinja.
//!
//! A template sees `inputs`, `steps` (only the steps it reads, found when the run is planned, so
//! rendering does not grow with the size of the run), and `item` / `index` inside `for_each`.

use minijinja::Environment;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::LazyLock;

static ENV: LazyLock<Environment<'static>> = LazyLock::new(monstrum_model::expression_env);

/// The values a template can read.
pub struct Scope<'a> {
    pub inputs: &'a Value,
    /// `steps.<id>` for the steps the template reads.
    pub steps: Map<String, Value>,
    pub item: Option<(&'a Value, usize)>,
}

impl Scope<'_> {
    fn context(&self) -> minijinja::Value {
        let mut ctx: HashMap<&str, minijinja::Value> = HashMap::with_capacity(4);
        ctx.insert("inputs", minijinja::Value::from_serialize(self.inputs));
        ctx.insert("steps", minijinja::Value::from_serialize(&self.steps));
        if let Some((item, index)) = self.item {
            ctx.insert("item", minijinja::Value::from_serialize(item));
            ctx.insert("index", minijinja::Value::from(index));
        }
        minijinja::Value::from(ctx)
    }
}

/// A template or expression failed at run time.
#[derive(Debug, thiserror::Error)]
#[error("{what} `{text}`: {message}")]
pub struct TemplateError {
    what: &'static str,
    text: String,
    message: String,
}

fn fail(what: &'static str, text: &str, e: minijinja::Error) -> TemplateError {
    let message = match e.detail() {
        Some(d) => format!("{} ({d})", e.kind()),
        None => e.kind().to_string(),
    };
    TemplateError { what, text: text.to_string(), message }
}

/// Renders every template string inside `value`. A string that is exactly one `{{ expr }}`
/// keeps the type of the expression's value (a list stays a list, a number a number).
pub fn render_value(value: &Value, scope: &Scope<'_>) -> Result<Value, TemplateError> {
    if !contains_template(value) {
        return Ok(value.clone());
    }
    let ctx = scope.context();
    render_in(value, &ctx)
}

fn contains_template(value: &Value) -> bool {
    match value {
        Value::String(s) => monstrum_model::is_template(s),
        Value::Array(items) => items.iter().any(contains_template),
        Value::Object(map) => map.values().any(contains_template),
        _ => false,
    }
}

fn render_in(value: &Value, ctx: &minijinja::Value) -> Result<Value, TemplateError> {
    Ok(match value {
        Value::String(s) if monstrum_model::is_template(s) => {
            if let Some(expr) = sole_expression(s) {
                let v = ENV.compile_expression(expr).and_then(|e| e.eval(ctx)).map_err(|e| fail("template", s, e))?;
                if v.is_undefined() {
                    return Err(TemplateError { what: "template", text: s.clone(), message: "undefined value".into() });
                }
                serde_json::to_value(&v).map_err(|e| TemplateError {
                    what: "template",
                    text: s.clone(),
                    message: e.to_string(),
                })?
            } else {
                Value::String(render_string_in(s, ctx)?)
            }
        }
        Value::Array(items) => Value::Array(items.iter().map(|v| render_in(v, ctx)).collect::<Result<_, _>>()?),
        Value::Object(map) => Value::Object(
            map.iter().map(|(k, v)| Ok((k.clone(), render_in(v, ctx)?))).collect::<Result<_, TemplateError>>()?,
        ),
        other => other.clone(),
    })
}

/// `{{ expr }}` and nothing else around it.
fn sole_expression(s: &str) -> Option<&str> {
    let inner = s.trim().strip_prefix("{{")?.strip_suffix("}}")?;
    (!inner.contains("{{") && !inner.contains("}}") && !inner.contains("{%")).then_some(inner.trim())
}

/// Renders a template to text.
pub fn render_string(text: &str, scope: &Scope<'_>) -> Result<String, TemplateError> {
    if !monstrum_model::is_template(text) {
        return Ok(text.to_string());
    }
    render_string_in(text, &scope.context())
}

fn render_string_in(text: &str, ctx: &minijinja::Value) -> Result<String, TemplateError> {
    ENV.render_str(text, ctx).map_err(|e| fail("template", text, e))
}

/// Evaluates an `if` expression.
pub fn eval_condition(expr: &str, scope: &Scope<'_>) -> Result<bool, TemplateError> {
    let v = ENV.compile_expression(expr).and_then(|e| e.eval(scope.context())).map_err(|e| fail("if", expr, e))?;
    Ok(v.is_true())
}

/// Evaluates a `for_each` expression, which must give a list.
pub fn eval_items(expr: &str, scope: &Scope<'_>) -> Result<Vec<Value>, TemplateError> {
    let v =
        ENV.compile_expression(expr).and_then(|e| e.eval(scope.context())).map_err(|e| fail("for_each", expr, e))?;
    match serde_json::to_value(&v) {
        Ok(Value::Array(items)) => Ok(items),
        Ok(other) => Err(TemplateError {
            what: "for_each",
            text: expr.to_string(),
            message: format!("gives {}, not a list", kind_of(&other)),
        }),
        Err(e) => Err(TemplateError { what: "for_each", text: expr.to_string(), message: e.to_string() }),
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn scope(inputs: &Value) -> Scope<'_> {
        let mut steps = Map::new();
        steps.insert("a".into(), json!({ "status": "succeeded", "output": { "n": 2, "tags": ["x", "y"] } }));
        Scope { inputs, steps, item: None }
    }

    #[test]
    fn a_sole_expression_keeps_its_type_and_text_stays_text() {
        let inputs = json!({ "who": "Ada" });
        let s = scope(&inputs);
        let value = json!({
            "n": "{{ steps.a.output.n + 1 }}",
            "tags": "{{ steps.a.output.tags }}",
            "text": "Hi {{ inputs.who }}, n={{ steps.a.output.n }}",
            "plain": "no template",
            "nested": ["{{ inputs.who | upper }}"],
        });
        assert_eq!(
            render_value(&value, &s).unwrap(),
            json!({ "n": 3, "tags": ["x", "y"], "text": "Hi Ada, n=2", "plain": "no template", "nested": ["ADA"] })
        );
    }

    #[test]
    fn undefined_values_and_non_lists_are_errors() {
        let inputs = json!({});
        let s = scope(&inputs);
        assert!(render_value(&json!("{{ steps.a.output.missing }}"), &s).is_err());
        assert!(render_string("{{ inputs.nope }}", &s).is_err());
        let e = eval_items("steps.a.output.n", &s).unwrap_err();
        assert!(e.to_string().contains("not a list"), "{e}");
        assert_eq!(eval_items("steps.a.output.tags", &s).unwrap(), vec![json!("x"), json!("y")]);
        assert!(eval_condition("steps.a.status == 'succeeded'", &s).unwrap());
        assert!(!eval_condition("steps.a.output.n > 5", &s).unwrap());
    }
}
