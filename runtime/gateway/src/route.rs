//! Routing: the first route whose `if` holds for the message (MiniJinja, over `message`, the
//! unified shape) wins; a route without `if` matches every message.

use minijinja::{Environment, Expression};
use monstrum_model::Route;
use serde_json::Value;
use std::sync::LazyLock;

/// The environment route conditions are compiled in, once per process.
static ENV: LazyLock<Environment<'static>> = LazyLock::new(monstrum_model::expression_env);

/// A channel's routes, their conditions compiled once, when the channel loads.
pub struct Routes {
    routes: Vec<(Route, Option<Expression<'static, 'static>>)>,
}

impl Routes {
    /// Compiles each route's `if`; the first that does not parse is the error.
    pub fn compile(routes: &[Route]) -> Result<Routes, String> {
        let compiled = routes.iter().enumerate().map(|(i, route)| {
            let condition = route.condition.as_ref().map(|c| {
                ENV.compile_expression_owned(c.clone()).map_err(|e| format!("route {i}: `{c}` does not parse: {e}"))
            });
            Ok((route.clone(), condition.transpose()?))
        });
        Ok(Routes { routes: compiled.collect::<Result<_, String>>()? })
    }

    /// The first route that matches `message` (its index and itself). A condition that fails to
    /// evaluate (it reads a field the message lacks) does not match.
    pub fn choose(&self, channel: &str, message: &Value) -> Option<(usize, &Route)> {
        let context = minijinja::context! { message => minijinja::Value::from_serialize(message) };
        let (i, (route, _)) = self.routes.iter().enumerate().find(|(i, (route, condition))| {
            let Some(condition) = condition else { return true };
            match condition.eval(&context) {
                Ok(value) => value.is_true(),
                Err(e) => {
                    let text = route.condition.as_deref().unwrap_or_default();
                    tracing::warn!("channel {channel}, route {i}: `{text}` does not evaluate ({e}); taken as false");
                    false
                }
            }
        })?;
        Some((i, route))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn route(condition: Option<&str>, bot: &str) -> Route {
        Route { condition: condition.map(str::to_string), bot: bot.into(), workflow: None }
    }

    #[test]
    fn the_first_match_wins() {
        let routes = [
            route(Some("message.text is startingwith('/deploy')"), "deployer"),
            route(Some("message.user.id == 'U1'"), "friend"),
            route(None, "ops"),
        ];
        let pick = |text: &str, user: &str| {
            let routes = Routes::compile(&routes).unwrap();
            routes.choose("c", &json!({ "text": text, "user": { "id": user } })).map(|(i, r)| (i, r.bot.clone()))
        };
        assert_eq!(pick("/deploy web", "U1"), Some((0, "deployer".into())));
        assert_eq!(pick("hello", "U1"), Some((1, "friend".into())));
        assert_eq!(pick("hello", "U2"), Some((2, "ops".into())));
        let two = Routes::compile(&routes[..2]).unwrap();
        assert_eq!(two.choose("c", &json!({ "text": "hi", "user": { "id": "U9" } })).map(|r| r.0), None);
    }

    #[test]
    fn a_condition_that_cannot_be_evaluated_does_not_match() {
        let routes = [route(Some("message.missing.field == 1"), "a"), route(None, "b")];
        let routes = Routes::compile(&routes).unwrap();
        assert_eq!(routes.choose("c", &json!({ "text": "x" })).map(|r| r.1.bot.clone()), Some("b".into()));
    }
}
