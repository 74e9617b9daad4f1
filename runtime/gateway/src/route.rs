//! Routing: the first route whose `if` holds for the message (MiniJinja, over `message`, the
//! unified shape) wins; a route without `if` matches every message.

use monstrum_model::Route;
use serde_json::Value;

/// The first route of `routes` that matches `message` (its index and itself). A condition that
/// fails to evaluate (it reads a field the message lacks) does not match.
pub fn choose<'a>(channel: &str, routes: &'a [Route], message: &Value) -> Option<(usize, &'a Route)> {
    let env = monstrum_model::expression_env();
    let context = minijinja::context! { message => minijinja::Value::from_serialize(message) };
    routes.iter().enumerate().find(|(i, route)| {
        let Some(condition) = &route.condition else { return true };
        match env.compile_expression(condition).and_then(|e| e.eval(&context)) {
            Ok(value) => value.is_true(),
            Err(e) => {
                tracing::warn!("channel {channel}, route {i}: `{condition}` does not evaluate ({e}); taken as false");
                false
            }
        }
    })
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
            choose("c", &routes, &json!({ "text": text, "user": { "id": user } })).map(|(i, r)| (i, r.bot.clone()))
        };
        assert_eq!(pick("/deploy web", "U1"), Some((0, "deployer".into())));
        assert_eq!(pick("hello", "U1"), Some((1, "friend".into())));
        assert_eq!(pick("hello", "U2"), Some((2, "ops".into())));
        assert_eq!(choose("c", &routes[..2], &json!({ "text": "hi", "user": { "id": "U9" } })).map(|r| r.0), None);
    }

    #[test]
    fn a_condition_that_cannot_be_evaluated_does_not_match() {
        let routes = [route(Some("message.missing.field == 1"), "a"), route(None, "b")];
        assert_eq!(choose("c", &routes, &json!({ "text": "x" })).map(|r| r.1.bot.clone()), Some("b".into()));
    }
}
