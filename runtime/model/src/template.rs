//! `{{ }}` templates and `if`/`for_each` expressions: MiniJinja, configured once here so the
//! validator and the engine agree on the language.

use minijinja::{Environment, UndefinedBehavior};
use std::collections::HashSet;

/// The environment templates and expressions are compiled in: strict about undefined values,
/// so a typo in a reference fails the step instead of rendering an empty string.
pub fn expression_env() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    env.set_keep_trailing_newline(true);
    env
}

/// Whether a string holds template syntax and must be rendered.
pub fn is_template(text: &str) -> bool {
    text.contains("{{") || text.contains("{%")
}

/// The variables a template (or, with `expression`, an expression) reads, as dotted paths
/// (`steps.logs.output.stdout`); an error names the syntax problem.
pub fn template_references(env: &Environment<'_>, text: &str, expression: bool) -> Result<HashSet<String>, String> {
    if expression {
        if closes_block(text) {
            return Err("syntax error: unexpected `}}` in an expression".into());
        }
        let expr = env.compile_expression(text).map_err(describe)?;
        Ok(expr.undeclared_variables(true))
    } else {
        let tmpl = env.template_from_str(text).map_err(describe)?;
        Ok(tmpl.undeclared_variables(true))
    }
}

/// Whether `}}` occurs outside a string literal. MiniJinja reads it as the end of a `{{ }}`
/// block, which no expression may hold, and its lexer (2.24) panics ("empty lexer stack") when
/// more text follows it (`a }} b`), so such an expression is refused before it is compiled.
fn closes_block(expression: &str) -> bool {
    let mut quote = None;
    let mut chars = expression.chars().peekable();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(_), '\\') => {
                chars.next();
            }
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '}') if chars.peek() == Some(&'}') => return true,
            (None, _) => {}
        }
    }
    false
}

fn describe(e: minijinja::Error) -> String {
    match e.detail() {
        Some(detail) => detail.to_string(),
        None => e.kind().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the model fuzz target: `if: "a }} b"` made the workflow validator panic.
    #[test]
    fn an_expression_with_a_closing_brace_pair_inside_is_a_syntax_error() {
        let env = expression_env();
        let err = template_references(&env, "a }} b", true).unwrap_err();
        assert!(err.contains("unexpected `}}`"), "{err}");
        assert!(template_references(&env, "a }}", true).is_err());
        assert!(template_references(&env, "x in {'a': {'b': 1}} and y", true).is_err());
        for fine in ["a == '}}'", "a == \"}}\"", "a == 'it\\'s }}'"] {
            assert_eq!(template_references(&env, fine, true).unwrap(), HashSet::from(["a".to_string()]), "{fine}");
        }
    }
}
